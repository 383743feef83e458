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
# # 5 · The β lab: rate against distortion
#
# Weigh the KL by β, train a sweep, and see where each model lands between a code that says little
# (low rate) and reconstructions that miss much (high distortion); then ask whether a KL warm-up
# calms the seed's sigma head.

# %% [markdown]
# ## Setup
#
# The package does the work; this notebook sets a few parameters and plots.

# %%
# %matplotlib inline
import itertools
import os
from pathlib import Path

from IPython.display import display

import vaekit
from vaekit import betalab
from vaekit.plotting import plot_histories, plot_rate_distortion, plot_rows, save_fig

DATA = os.environ.get("VAEKIT_DATA", "../data")  # MNIST, fetched and verified on first use

# %% [markdown]
# ## Parameters
#
# Everything you may want to change is in the next cell. `VAEKIT_QUICK=1` (set by `make test`) trains a
# tiny sweep in seconds; otherwise the notebook reads the results that `python -m vaekit beta-lab`
# wrote (the command is in the file), or trains them itself with `TRAIN = True`.

# %% tags=["parameters"]
QUICK = os.environ.get("VAEKIT_QUICK") == "1"  # quick mode: seconds instead of minutes
TRAIN = QUICK                            # False: read RESULTS instead of training
BETAS = [0.5, 1.0, 4.0] if QUICK else list(betalab.BETAS)
EPOCHS = 1 if QUICK else 10
WARMUP = 1 if QUICK else 5               # epochs of KL warm-up for the sigma-head comparison
TRAIN_LIMIT = 1500 if QUICK else None    # None: all 60,000 training images
TEST_LIMIT = 500 if QUICK else None
RESULTS = Path("results/beta_lab.json")  # shipped with vaekit, made by `python -m vaekit beta-lab`
FIGURES = Path("../runs/notebook-quick/figures" if QUICK else "../figures")

# %% [markdown]
# ## The sweep
#
# Training minimises distortion + β · rate: β = 1 is the ordinary ELBO, β > 1 (Higgins et al. 2017)
# pays more for every nat the code carries, β < 1 less. Each β trains one log-variance VAE; the
# sigma-head pair trains the seed with and without a KL warm-up (the KL's weight rising from 0 to 1).

# %%
if TRAIN:
    data = vaekit.load_dataset("mnist", DATA, train_limit=TRAIN_LIMIT, test_limit=TEST_LIMIT)
    results = betalab.run(data, BETAS, EPOCHS, WARMUP, on_run=lambda name, r: print(
        f"{name}: rate {r['rate']:.1f}, distortion {r['distortion']:.1f} nats"))
else:
    results = betalab.load(RESULTS)
    print(results.get("command", ""), f"\n{results['train_images']:,} training images, {results['epochs']} epochs a run")

# %% [markdown]
# ## Rate against distortion
#
# Each point is one β's test rate (the KL: nats the code carries per image) and distortion (the
# reconstruction term). The −ELBO is their sum, so the grey diagonals join models of equal −ELBO:
# moving along one trades code for reconstruction at no cost in likelihood. Raising β walks up and
# to the left: a cheaper code, blurrier reconstructions.

# %%
fig = plot_rate_distortion(results["sweep"])
save_fig(fig, "beta_rate_distortion", FIGURES)
display(fig)

# %% [markdown]
# ## What each β draws
#
# Sixteen codes from the prior N(0, I), decoded by each β's model (the same seed for all). A large β
# keeps the codes close to the prior, so what the decoder learnt to draw from them is smooth but vague.

# %%
rows = {f"β = {run['beta']:g}": betalab.decode_samples(run["samples"]) for run in results["sweep"]}
fig = plot_rows(rows, title="prior samples of each β's model")
save_fig(fig, "beta_samples", FIGURES)
display(fig)

# %% [markdown]
# ## The sigma head, with and without KL warm-up
#
# The seed's sigma head divides by sigma in the KL's gradient; its loss jumps now and then (the shipped
# model's test loss hit 239.6 in its 33rd epoch). A warm-up starts the KL's weight at 0, letting the encoder
# learn useful codes first. Compare the per-step losses: does warm-up remove the spikes?

# %%
pair = results["warmup"]
histories = {f"{name} warm-up": {"batch_losses": run["batch_losses"], "epochs": run["epochs"]}
             for name, run in pair.items()}
fig = plot_histories(histories)
save_fig(fig, "beta_warmup", FIGURES)
display(fig)
for name, run in pair.items():
    losses = run["batch_losses"][len(run["batch_losses"]) // 10:]  # past the first tenth of training
    jumps = sum(b > 1.5 * a for a, b in itertools.pairwise(losses))
    print(f"{name} warm-up: final test -ELBO {run['negative_elbo']:.2f}; steps 1.5x above the one before: {jumps}")

# %% [markdown]
# ## What to take away
#
# - The −ELBO alone hides a choice: models on one diagonal are equally likely, yet one keeps a rich code
#   and the other a poor one. β moves a model along the rate-distortion curve.
# - A warm-up changes the early objective, and with it where the sigma head ends up; the final −ELBO and
#   the spikes above say whether it paid off on this run.
