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
# # 3 · The latent sliders
#
# Move the 20 numbers of a code one by one and watch the decoded digit change: start from zero, from a
# random code, or from a real digit's code.

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
TEST_LIMIT = 2000 if QUICK else None     # test images for the KL labels and the digit chooser
START_DIGIT = 7                          # the class of the real digit to start from

# %% [markdown]
# ## The model and the test digits

# %%
model = vaekit.load(CHECKPOINT)
data = vaekit.load_dataset(model.data_info.name, DATA, test_limit=TEST_LIMIT)  # the model's own dataset
print(f"{CHECKPOINT}: {model.config.latent_size}-dimensional codes; {len(data.test_images):,} test digits")

# %% [markdown]
# ## Which dimensions does the model use?
#
# The KL term of the loss is a sum over the 20 code dimensions. A dimension whose average KL on the test
# set is near 0 gives every image the same code — the prior — so it carries no information, and the
# decoder has learnt to ignore it. A VAE typically switches several dimensions off like this.

# %%
from matplotlib.figure import Figure

kl = vaekit.latent.kl_per_dimension(model, data.test_images)
order = kl.argsort(descending=True)
fig = Figure(figsize=(9, 2.8))
ax = fig.subplots()
ax.bar(range(len(kl)), kl[order], tick_label=[f"z{int(d)}" for d in order])
ax.set(ylabel="average KL (nats)", title="KL per code dimension on the test set, most active first")
fig.tight_layout()
save_fig(fig, "kl_per_dimension", FIGURES)
display(fig)

# %% [markdown]
# ## The slider explorer
#
# Each slider sets one dimension, in the order above; the number after its name is that dimension's KL.
# *random* draws a code from N(0, T² I) at the temperature T; *reset* goes back to the code 0; *start
# from image* puts the sliders at the code of test image *index* and shows the original beside the
# decoding (or pick a class); the orange band on each slider is then that image's q(z|x), mean ± σ.
# Move the first sliders, then the last ones: the last barely matter. The decoder runs in your
# browser, so the digit follows the slider at once; the kernel is told the code (`explorer.z`).
# *GIF* writes `traversal.gif` beside this notebook: every active slider swept across its range at once
# (one image each, most active first), the others held where you left them (`explorer.save_gif(path)`
# from code; at the code 0 and temperature 1 it is `python -m vaekit animate traversal`'s GIF).

# %%
explorer = widgets.latent_sliders(model, data.test_images, data.test_labels)
explorer

# %% [markdown]
# ## The map of the codes
#
# Every test digit's code as a dot, on the two directions along which the codes spread most, coloured
# by class. Point at a dot to see its digit; click it and the sliders above jump to its code. The cross
# is the sliders' code: move a slider and watch it travel.

# %%
widgets.latent_map(model, data.test_images, data.test_labels, sliders=explorer)

# %% [markdown]
# ## Start from a real digit
#
# The same can be done from Python; the widget above follows. Here the sliders jump to the code of the
# first test digit of class `START_DIGIT`:

# %%
index = explorer.start_from_class(START_DIGIT)
mean = vaekit.latent.encode_means(model, data.test_images[index : index + 1])[0]
print(f"test image {index}; its code, most active dimensions first:")
print(", ".join(f"z{d} = {mean[d]:.2f}" for d in explorer.dimensions[:6]), "...")
decoded = torch.sigmoid(model.decode(explorer.code[None])).detach()
save_fig(plot_pairs(data.test_images[index : index + 1], decoded, title="original / decoded"), "sliders_start_digit", FIGURES)

# %% [markdown]
# ## Checks: drive the widget from Python
#
# Automatic runs of this notebook (nbval) have no browser to move a slider in, so this cell does it from
# Python, through the code `z` that the page and the kernel share, and checks the decoding follows.

# %%
before = explorer.decoded()
explorer.set_code(torch.eye(model.config.latent_size)[explorer.dimensions[0]] * 2.0)
assert not torch.equal(explorer.decoded(), before), "moving a slider must change the decoded digit"
code = explorer.code
explorer.randomize()
assert not torch.equal(explorer.code, code), "random must draw a new code"
try:
    explorer.start_from_index(10**6)  # a bad index: one clear error, and the widget stays as it was
except vaekit.VaekitError as error:
    assert "choose an index" in str(error)
explorer.reset()
assert explorer.code.abs().sum() == 0
print("the code, random, reset and the image chooser respond")
