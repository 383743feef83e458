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
# # 4 · Interpolation and the latent map
#
# Walk from one digit's code to another's and decode every step of the way, then look at the whole
# code space at once, projected to two dimensions.

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
TEST_LIMIT = 2000 if QUICK else None     # test images to choose from and to map
START, END = 0, 1                        # test images 0 (a 7) and 1 (a 2)
STEPS = 10

# %% [markdown]
# ## The model and the test digits

# %%
model = vaekit.load(CHECKPOINT)
data = vaekit.load_dataset(model.data_info.name, DATA, test_limit=TEST_LIMIT)  # the model's own dataset
print(f"{CHECKPOINT}; {len(data.test_images):,} test digits")

# %% [markdown]
# ## From one digit to another
#
# Encode the two digits, walk along the path between their codes in `STEPS` steps and decode each step.
# The first and last images are the two digits' reconstructions. Press play, or choose other digits by
# index or class.
#
# Under the strip, the small classifier shipped for the model's dataset (`vaekit/classifier.py`) reads each
# frame: a stacked bar of its class probabilities, the most probable class beneath, and a red line where
# that class changes. On the way from the 7 to the 2, the shipped seed model passes through frames that read
# as an 8. The kernel reads the path again whenever it changes; `path.probabilities` holds the numbers (one
# row a frame).
#
# **GIF** writes the path shown, there and back, as an animated GIF: `interpolation.gif` in this notebook's
# folder (set `path.gif_path` for another), the frames `python -m vaekit animate interpolation` writes for the
# same path. The line under the frame says where it went. From code: `path.save_gif("walk.gif", fps=12)`.

# %%
path = widgets.interpolator(model, data.test_images, data.test_labels, start=START, end=END, steps=STEPS)
path

# %% [markdown]
# ## Linear or spherical?
#
# A straight line between two typical codes passes closer to the centre of the code space than either
# end: halfway, its length shrinks by about 1/√2. Few real digits' codes lie that close to the centre,
# and decodings there can blur. The spherical path (slerp) keeps the length between the two ends'.
# Compare the code lengths printed below, and the middles of the two rows.

# %%
means = vaekit.latent.encode_means(model, data.test_images[[START, END]])
strips = []
for method in ("linear", "spherical"):
    codes = vaekit.latent.interpolate(means[0], means[1], STEPS, method)
    print(f"{method:>9}: code lengths along the path", " ".join(f"{n:.1f}" for n in codes.norm(dim=1)))
    strips.append(vaekit.latent.decode_images(model, codes))
fig = plot_images(torch.cat(strips), nrow=STEPS, title="linear (top) and spherical (bottom) interpolation")
save_fig(fig, "interpolation_linear_vs_spherical", FIGURES)
display(fig)

# %% [markdown]
# ## The latent map
#
# The codes have 20 dimensions; principal component analysis finds the two directions along which the
# test digits' codes spread most. Left: each test digit's code on those two directions, coloured by its
# label. Right: the decodings of a grid of codes across the dashed box (the other 18 directions held at
# the average). Neighbouring codes decode to similar digits.

# %%
map_view = widgets.latent_map(model, data.test_images, data.test_labels, interpolator=path)
save_fig(map_view.figure, "latent_map", FIGURES, dpi=100)  # a photo-like figure: keep the file small
map_view

# %% [markdown]
# ## Checks: drive the widget from Python

# %%
strip = path.frames()
path.method = "spherical"
assert not torch.equal(path.frames(), strip), "changing the method must change the path"
path.frame = STEPS - 1  # what the play button does
assert torch.allclose(path.frames()[-1], model.reconstruct(data.test_images[END : END + 1])[0], atol=1e-5)
path.choose_class("end", 4)  # choose the end by class
assert data.test_labels[path.end] == 4
print("the interpolator follows its method, frame and class controls")
