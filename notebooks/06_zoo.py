# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # 6 · The zoo: more data, more models
#
# The seed is one multilayer perceptron on MNIST. Here the same kit runs on Fashion-MNIST, with a
# convolutional VAE, with a conditional VAE that draws the class you ask for, with a 2-D code you can
# look at directly, and with β, the weight of the KL term.

# %% [markdown]
# ## Setup
#
# The package `vaekit` does the work; this notebook only sets a few parameters and calls it. Every
# model below is shipped with vaekit (trained by `python -m vaekit train ...`, the commands are in the
# README), so the notebook opens instantly; only the β section trains.

# %%
# %matplotlib inline
import os
from pathlib import Path

import torch
from IPython.display import display
from matplotlib.figure import Figure

import vaekit
from vaekit.latent import encode_means, grid_codes
from vaekit.plotting import plot_histories, plot_images, plot_pairs, save_fig

torch.manual_seed(42)
DATA = os.environ.get("VAEKIT_DATA", "../data")  # the datasets, fetched and verified on first use

# %% [markdown]
# ## Parameters
#
# `VAEKIT_QUICK=1` (set by `make test`) shrinks the β section's training to seconds.

# %% tags=["parameters"]
QUICK = os.environ.get("VAEKIT_QUICK") == "1"  # quick mode: seconds instead of minutes
FIGURES = Path("../runs/notebook-quick/figures" if QUICK else "../figures")
BETAS = [1.0, 4.0]                       # KL weights to compare
BETA_EPOCHS = 1 if QUICK else 5          # epochs of each β run
TRAIN_LIMIT = 3000 if QUICK else None    # training images for the β runs (None: all 60,000)
SEED = 42

# %% [markdown]
# ## Fashion-MNIST
#
# Zalando's 70,000 pictures of clothes have MNIST's format: 28 × 28 grey levels, ten classes. The
# checkpoint knows what it was trained on, class names included, so the test set comes from it.

# %%
fashion = vaekit.load(vaekit.pretrained_path("fashion"))
clothes = vaekit.load_dataset(fashion.data_info.name, DATA, test_limit=1000)
print(fashion.data_info.class_names)
originals = clothes.test_images[:10]
fig = plot_pairs(originals, fashion.reconstruct(originals), title="Fashion-MNIST test images and reconstructions")
save_fig(fig, "zoo_fashion_reconstructions", FIGURES)
display(fig)

# %% [markdown]
# Codes drawn from N(0, I) decode into new clothes. Blurry ones: a Bernoulli decoder averages the
# textures it cannot place.

# %%
fig = plot_images(fashion.sample(30, generator=torch.Generator().manual_seed(SEED)), title="Fashion-MNIST samples")
display(fig)

# %% [markdown]
# ## A convolutional VAE against the MLP
#
# TensorFlow's and Keras's VAE tutorials use convolutions: filters that slide over the image share
# their weights across positions. Compare the shipped conv model with the MLP of the same head, both on
# MNIST: the test loss each reached, and their samples. The two were trained for different numbers of
# epochs, so compare them after the same number too: each file keeps its run's history.

# %%
models = {name: vaekit.load_checkpoint(vaekit.pretrained_path(name)) for name in ("logvar", "conv")}
for name, checkpoint in models.items():
    last = checkpoint.history["epochs"][-1]
    parameters = sum(p.numel() for p in checkpoint.model.parameters())
    print(f"{name:>6}: {parameters:,} parameters, {last['epoch'] + 1} epochs, test -ELBO {last['test_total']:.1f}")
same = min(len(c.history["epochs"]) for c in models.values())
print(f"after {same} epochs each: " + ", ".join(
    f"{name} {c.history['epochs'][same - 1]['test_total']:.1f}" for name, c in models.items()))
samples = torch.cat([c.model.sample(10, generator=torch.Generator().manual_seed(SEED)) for c in models.values()])
display(plot_images(samples, title="MLP (top) and conv (bottom), the same codes"))

# %% [markdown]
# ## "Draw me a 3": a conditional VAE
#
# A conditional VAE is given the class as well as the image: the one-hot class joins the encoder's input
# and the code. The code is then free to hold what the class does not say: slant, thickness, style.
# Ask for a class, and every code becomes that class.

# %%
conditional = vaekit.load(vaekit.pretrained_path("conditional"))
threes = conditional.sample(10, labels=3, generator=torch.Generator().manual_seed(SEED))
display(plot_images(threes, title="ten codes from N(0, I), decoded as 3s"))

# %% [markdown]
# The same ten codes, decoded as every class in turn: each column keeps its style.

# %%
codes = torch.randn(10, conditional.config.latent_size, generator=torch.Generator().manual_seed(SEED))
with torch.no_grad():
    rows = [torch.sigmoid(conditional.decode(codes, torch.full((10,), digit))) for digit in range(10)]
fig = plot_images(torch.cat(rows), title="one row per class, one column per code")
save_fig(fig, "zoo_conditional", FIGURES)
display(fig)

# %% [markdown]
# ## A 2-D code: the manifold itself
#
# With only two numbers per image, no projection is needed: the test images' codes are the map, and
# decoding a grid of codes shows what the decoder draws everywhere on it (Kingma & Welling's figure 4).

# %%
flat = vaekit.load(vaekit.pretrained_path("2d"))
digits = vaekit.load_dataset("mnist", DATA, test_limit=2000 if QUICK else None)
codes = encode_means(flat, digits.test_images)
print(f"codes of {len(codes):,} test digits, mean {codes.mean(0).tolist()}, spread {codes.std(0).tolist()}")
with torch.no_grad():
    manifold = torch.sigmoid(flat.decode(grid_codes(15, 3.0)))
fig = plot_images(manifold, nrow=15, title="decoded codes on a grid over [-3, 3] x [-3, 3]")
save_fig(fig, "zoo_2d_manifold", FIGURES)
display(fig)

# %% [markdown]
# Where the test digits' codes lie, by class (each point is one digit's mean code):

# %%
fig = Figure(figsize=(5, 5))
ax = fig.subplots()
points = ax.scatter(codes[:, 0], codes[:, 1], c=digits.test_labels, cmap="tab10", s=2)
ax.legend(*points.legend_elements(), title="digit", fontsize=7, loc="upper right")
ax.set(xlim=(-3, 3), ylim=(-3, 3), xlabel="z[0]", ylabel="z[1]", title="test digits in the 2-D code")
display(fig)

# %% [markdown]
# ## β: how much the KL weighs
#
# The loss is reconstruction + β · KL. β = 1 is the ELBO; a larger β (Higgins et al. 2017) pays more
# for every nat of information in the code, so the code holds less and the images blur. The history
# keeps the true negative ELBO (β = 1) beside what was minimised, so the runs compare fairly.

# %%
train = vaekit.load_mnist(DATA, train_limit=TRAIN_LIMIT, test_limit=1000)
runs = {}
for beta in BETAS:
    model = vaekit.build("logvar", seed=SEED)
    config = vaekit.TrainConfig(epochs=BETA_EPOCHS, beta=beta, seed=SEED)
    history = vaekit.fit(model, train.train_images, train.test_images, config)
    last = history["epochs"][-1]
    print(f"β = {beta}: test -ELBO {last['test_total']:.1f}, KL {last['test_kl']:.1f}, reconstruction "
          f"{last['test_reconstruction']:.1f}")
    runs[f"β = {beta}"] = model
samples = torch.cat([m.sample(10, generator=torch.Generator().manual_seed(SEED)) for m in runs.values()])
display(plot_images(samples, title=" / ".join(runs) + ", top to bottom"))

# %% [markdown]
# ## KL warm-up and the sigma head's spikes
#
# The seed's sigma head divides by σ in the KL's gradient, and the shipped seed model's loss jumped
# now and then over its 50 epochs. KL warm-up (`--kl-warmup`, Bowman et al. 2016) starts with β = 0
# and raises it linearly, so the code is learnt before the KL pulls on it. Compare the shipped run with
# the log-variance head's.

# %%
shipped = {name: vaekit.load_checkpoint(vaekit.pretrained_path(name)).history for name in ("seed", "logvar")}
display(plot_histories(shipped))

# %% [markdown]
# Now the sigma head itself, trained without and with a warm-up over the first epoch (in quick mode, a
# few hundred steps: too few to see a spike; run the notebook in full for the real comparison).

# %%
histories = {}
for warmup in (0, 1):
    config = vaekit.TrainConfig(epochs=BETA_EPOCHS + 1, kl_warmup=warmup, seed=SEED)
    histories[f"sigma head, warm-up {warmup} epoch(s)"] = vaekit.fit(
        vaekit.build("seed", seed=SEED), train.train_images, train.test_images, config)
fig = plot_histories(histories)
save_fig(fig, "zoo_warmup", FIGURES)
display(fig)
