# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1 · Train the seed VAE and watch its loss
#
# Train the variational autoencoder of Géron's *Hands-On Machine Learning* on real MNIST, watch its
# loss fall while it learns, compare its sigma head with a log-variance head, and save the result for
# the next notebooks.

# %% [markdown]
# ## Setup
#
# The package `vaekit` does the work; this notebook only sets a few parameters and calls it. Figures
# are drawn with matplotlib and saved by `save_fig` into `../figures/` (in quick mode, into the run
# folder instead, so that a test run leaves the committed figures alone).

# %%
# %matplotlib inline
import os
from pathlib import Path

import vaekit  # before torch: its threads then spin only briefly, so a browser beside them costs little (vaekit/threads.py)
import torch
from IPython.display import display

from vaekit import widgets
from vaekit.plotting import plot_histories, plot_history, plot_images, plot_pairs, save_fig

torch.manual_seed(42)
DATA = os.environ.get("VAEKIT_DATA", "../data")  # MNIST, fetched and verified on first use

# %% [markdown]
# ## Parameters
#
# Everything you may want to change is in the next cell. `VAEKIT_QUICK=1` (set by `make test`) shrinks
# the work to seconds; the same code runs either way.

# %% tags=["parameters"]
QUICK = os.environ.get("VAEKIT_QUICK") == "1"  # quick mode: seconds instead of minutes
EPOCHS = 2 if QUICK else 10              # the seed's full schedule is 50 (about 25 min on 2 CPU cores)
TRAIN_LIMIT = 3000 if QUICK else None    # None: all 60,000 training images
TEST_LIMIT = 1000 if QUICK else None     # None: all 10,000 test images
RUN = Path("../runs/notebook-quick" if QUICK else "../runs/notebook")
FIGURES = RUN / "figures" if QUICK else Path("../figures")
SEED = 42

# %% [markdown]
# ## The data
#
# MNIST: 70,000 handwritten digits of 28 × 28 grey pixels, 60,000 to train on and 10,000 to test on.
# vaekit keeps them in memory as one tensor of pixel intensities in [0, 1], one row of 784 per image.

# %%
data = vaekit.load_mnist(DATA, train_limit=TRAIN_LIMIT, test_limit=TEST_LIMIT)
print(f"{len(data.train_images):,} training and {len(data.test_images):,} test images, {data.train_images.shape[1]} pixels each")
display(plot_images(data.test_images[:20], title="the first 20 test digits"))

# %% [markdown]
# ## The seed VAE and its loss, in plain words
#
# The **encoder** reads an image and answers with a small Gaussian cloud in a 20-dimensional *code*
# space: a mean and a spread for each of the 20 dimensions. We draw one code from that cloud, and the
# **decoder** turns it back into 784 pixel probabilities.
#
# The loss has two parts, both in nats per image:
#
# * **reconstruction**: how surprised the decoder is by the real pixels (the cross-entropy). Low when
#   the decoded digit looks like the input.
# * **KL**: how far the encoder's cloud is from the standard normal N(0, I). It keeps the codes of all
#   images packed around 0, so that a code drawn from N(0, I) later decodes into a plausible digit.
#
# Their sum is the negative ELBO (evidence lower bound). Before training, the decoder knows nothing:

# %%
model = vaekit.build("seed", seed=SEED)
print(model.config)
loss = model.loss(data.train_images[:150])
print(f"one batch of 150 before training: reconstruction {loss.reconstruction.item() / 150:.1f}"
      f" + KL {loss.kl.item() / 150:.1f} nats per image")

# %% [markdown]
# ## Train, watching the loss
#
# The left panel is the loss of every training step (grey) and its moving average (blue); the right one
# the loss per epoch on the training and the test images, split into its two parts. The plot is drawn
# in your browser and grows while training runs, also under *Run → Run All Cells*: the kernel only sends
# the new numbers. `Snapshots` keeps, each epoch, what the model draws and the KL of each code
# dimension, for the timeline at the end.

# %%
from vaekit.snapshots import Snapshots

live, snapshots = widgets.LiveLossPlot(), Snapshots()
display(live.widget)
config = vaekit.TrainConfig(epochs=EPOCHS, seed=SEED)
callbacks = [live, snapshots, vaekit.ProgressBar()]
history = vaekit.fit(model, data.train_images, data.test_images, config, callbacks=callbacks)
last = history["epochs"][-1]
print(f"after {EPOCHS} epochs: test negative ELBO {last['test_total']:.1f} nats per image "
      f"(reconstruction {last['test_reconstruction']:.1f}, KL {last['test_kl']:.1f})")

# %% [markdown]
# The same curves as a figure, saved for the README:

# %%
save_fig(plot_history(history), "notebook_loss_curves", FIGURES)

# %% [markdown]
# ## The sigma head against the log-variance head
#
# The seed's encoder outputs the code's standard deviation σ directly, and the loss takes log(σ²). When
# σ gets close to 0 that logarithm is very steep, and now and then one step's loss jumps (the faint
# spikes on the left). Géron's later fix outputs γ = log(σ²) instead and uses σ = exp(γ / 2): always
# positive, and smooth. Same data, same seed, same schedule, only the head differs:

# %%
logvar_model = vaekit.build("seed", seed=SEED, head="logvar")
logvar_history = vaekit.fit(logvar_model, data.train_images, data.test_images, config)
for name, h in (("sigma", history), ("logvar", logvar_history)):
    steps = h["batch_losses"][len(h["batch_losses"]) // 2 :]
    print(f"{name:>6} head: test {h['epochs'][-1]['test_total']:.1f} nats/image, "
          f"largest step loss in the second half {max(steps):.1f}")
fig = plot_histories({"sigma head (the seed)": history, "log-variance head": logvar_history})
save_fig(fig, "notebook_heads_compared", FIGURES)
display(fig)

# %% [markdown]
# The same comparison over the seed's whole schedule: vaekit ships one model trained for 50 epochs with
# each head, and their histories came with them.

# %%
shipped = {name: vaekit.load_checkpoint(vaekit.pretrained_path(name)).history for name in ("seed", "logvar")}
for name, h in shipped.items():
    tests = [r["test_total"] for r in h["epochs"]]
    print(f"{name:>6}: test {tests[-1]:.1f} nats/image after 50 epochs; worst after epoch 5: {max(tests[5:]):.1f}")
fig = plot_histories({"sigma head (seed)": shipped["seed"], "log-variance head (logvar)": shipped["logvar"]})
save_fig(fig, "pretrained_heads_compared", FIGURES)
display(fig)

# %% [markdown]
# ## Save the checkpoint
#
# One safetensors file holds the weights, the configuration, the history and the snapshots; `vaekit.load`
# rebuilds the model from it alone, without running any code from the file. Notebooks 02 to 04 pick it up from
# `../runs/notebook/` (quick runs go to `../runs/notebook-quick/`, which they ignore).

# %%
path = vaekit.save(RUN / "model.safetensors", model, history, state=snapshots.state_tensors())
reloaded = vaekit.load(path)
codes = torch.randn(5, model.config.latent_size)
assert torch.equal(reloaded.decode(codes), model.cpu().decode(codes)), "the checkpoint must give the same model back"
print(f"saved to {path} ({path.stat().st_size / 1e6:.1f} MB)")

# %% [markdown]
# ## Replay the training
#
# The timeline reads the snapshots back from the checkpoint: drag the epoch slider or press ▶ to watch
# the samples sharpen, the reconstructions find their digits and the code dimensions switch on one by one,
# with the loss curve's marker at the epoch. `python -m vaekit animate training --checkpoint
# ../runs/notebook --out training.gif` makes the same as a GIF.

# %%
widgets.training_timeline(path)

# %% [markdown]
# ## Check the live plot from Python
#
# Automatic runs of this notebook (nbval, in `make test`) cannot see widgets, so this cell checks that
# the live plot was sent every step's loss and every epoch during training.

# %%
assert live.updates >= EPOCHS + 2, "one update at the start, one per epoch and one at the end, at least"
assert live.widget.history["steps"] == history["batch_losses"], "the plot has every step's loss"
assert len(live.widget.history["epochs"]) == EPOCHS
print(f"the live plot was updated {live.updates} times and shows the final history")
