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
# # 2 · Generate digits
#
# Decode codes drawn from the prior into new digits — the seed's own figure — and compare
# reconstructions with their originals, with a trained VAE that opens instantly.

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
# A shipped model by name: seed, logvar, 2d, conv, conditional, fashion; or None for the model you
# trained in notebook 01 (../runs/notebook), else the shipped seed model
MODEL = None
CHECKPOINT = vaekit.prefer_checkpoint("../runs/notebook") if MODEL is None else vaekit.pretrained_path(MODEL)
FIGURES = Path("../runs/notebook-quick/figures" if QUICK else "../figures")
N_SAMPLES = 60                           # the seed's figure: 60 digits
SEED = 42                                # the same seed draws the same digits

# %% [markdown]
# ## The model
#
# The shipped checkpoint was trained by `python -m vaekit train --preset seed --epochs 50`; its history
# came with it.

# %%
checkpoint = vaekit.load_checkpoint(CHECKPOINT)
model, history = checkpoint.model, checkpoint.history
print(f"{CHECKPOINT}: {model.config}")
if history["epochs"]:
    last = history["epochs"][-1]
    print(f"trained {last['epoch'] + 1} epochs; test negative ELBO {last.get('test_total', float('nan')):.1f} nats per image")

# %% [markdown]
# ## New digits from N(0, I)
#
# A VAE is generative because its training kept the codes of real digits packed like samples of the
# standard normal N(0, I). So we draw 60 codes from N(0, I) and decode them: none of these digits is in
# MNIST.

# %%
generator = torch.Generator().manual_seed(SEED)
samples = model.sample(N_SAMPLES, generator=generator)  # (60, 784) pixel intensities
fig = plot_images(samples, nrow=10, title=f"{N_SAMPLES} digits decoded from codes drawn from N(0, I)")
save_fig(fig, "pretrained_samples", FIGURES)
display(fig)

# %% [markdown]
# ## Reconstructions next to originals
#
# Encode each test digit to the mean of its code and decode that mean. What survives the 20-number
# bottleneck is the digit's shape; fine details blur. (vaekit keeps images as bytes, 0 to 255; the model
# works on intensities in [0, 1], hence the division.)

# %%
data = vaekit.load_dataset(checkpoint.model.data_info.name, DATA, test_limit=1000 if QUICK else None)
originals = data.test_images[:12] / 255
fig = plot_pairs(originals, model.reconstruct(originals), title="test digits (top) and their reconstructions")
save_fig(fig, "pretrained_reconstructions", FIGURES)
display(fig)

# %% [markdown]
# ## What the prior's scale does
#
# Multiply the codes by a *temperature* before decoding. Below 1 they crowd towards the centre of the
# code space, where the decoder hedges between several digits: the shapes blur. Above 1 they reach
# regions where few training digits' codes lie: strokes get bolder and shapes stranger. Each column
# keeps the same direction in the code space and only changes its length.

# %%
temperatures = [0.5, 1.0, 1.5, 2.5]
directions = torch.randn(10, model.config.latent_size, generator=torch.Generator().manual_seed(SEED))
with torch.no_grad():
    rows = [torch.sigmoid(model.decode(t * directions)) for t in temperatures]
fig = plot_images(torch.cat(rows), nrow=10, title="temperature " + ", ".join(map(str, temperatures)) + " (top to bottom)")
save_fig(fig, "pretrained_temperature", FIGURES)
display(fig)

# %% [markdown]
# ## Checks
#
# Sampling with the same seed gives the same digits, and the reconstructions are closer to their
# originals than random samples are:

# %%
again = model.sample(N_SAMPLES, generator=torch.Generator().manual_seed(SEED))
assert torch.equal(again, samples), "a seeded generator must give the same digits"
rec_error = (model.reconstruct(originals) - originals).abs().mean()
random_error = (samples[: len(originals)] - originals).abs().mean()
assert rec_error < random_error
print(f"mean pixel error: reconstructions {rec_error:.3f}, random samples {random_error:.3f}")
