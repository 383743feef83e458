"""Write the walkthrough notebooks 01-04 from the cells below, without outputs.

    python notebooks/make_notebooks.py          # rewrite notebooks/*.ipynb
    python notebooks/make_notebooks.py --check  # exit 1 if a notebook differs from this script

The notebooks are generated so that their shared skeleton (title and purpose,
Setup, one parameters cell that reads VAEKIT_QUICK, sections with prose before
each short code cell) stays the same in all four, and so that they are
committed without outputs. Edit the cells here, then run the script.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

FOLDER = Path(__file__).resolve().parent


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str, *tags: str):
    cell = new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


SETUP_PROSE = md("""
## Setup

The package `vaekit` does the work; this notebook only sets a few parameters and calls it. Figures
are drawn with matplotlib and saved by `save_fig` into `../figures/` (in quick mode, into the run
folder instead, so that a test run leaves the committed figures alone).
""")

SETUP = code("""
%matplotlib inline
import os
from pathlib import Path

import vaekit  # before torch: its threads then wait passively, not spin, beside a browser (vaekit/threads.py)
import torch
from IPython.display import display

from vaekit import widgets
from vaekit.plotting import plot_histories, plot_history, plot_images, plot_pairs, save_fig

torch.manual_seed(42)
DATA = os.environ.get("VAEKIT_DATA", "../data")  # MNIST, fetched and verified on first use
""")

PARAMETERS_PROSE = md("""
## Parameters

Everything you may want to change is in the next cell. `VAEKIT_QUICK=1` (set by `make test`) shrinks
the work to seconds; the same code runs either way.
""")


def quick_line() -> str:
    return 'QUICK = os.environ.get("VAEKIT_QUICK") == "1"  # quick mode: seconds instead of minutes'


def trained_model_lines() -> str:
    return (
        "# A model you trained in notebook 01 wins; else the one shipped with vaekit (50 epochs)\n"
        'CHECKPOINT = vaekit.prefer_checkpoint("../runs/notebook/model.safetensors")\n'
        'FIGURES = Path("../runs/notebook-quick/figures" if QUICK else "../figures")'
    )


# -- 01: training ------------------------------------------------------------------

TRAIN = [
    md("""
# 1 · Train the seed VAE and watch its loss

Train the variational autoencoder of Géron's *Hands-On Machine Learning* on real MNIST, watch its
loss fall while it learns, compare its sigma head with a log-variance head, and save the result for
the next notebooks.
"""),
    SETUP_PROSE,
    SETUP,
    PARAMETERS_PROSE,
    code(quick_line() + """
EPOCHS = 2 if QUICK else 10              # the seed's full schedule is 50 (about 25 min on 2 CPU cores)
TRAIN_LIMIT = 3000 if QUICK else None    # None: all 60,000 training images
TEST_LIMIT = 1000 if QUICK else None     # None: all 10,000 test images
RUN = Path("../runs/notebook-quick" if QUICK else "../runs/notebook")
FIGURES = RUN / "figures" if QUICK else Path("../figures")
SEED = 42
""", "parameters"),
    md("""
## The data

MNIST: 70,000 handwritten digits of 28 × 28 grey pixels, 60,000 to train on and 10,000 to test on.
vaekit keeps them in memory as one tensor of pixel intensities in [0, 1], one row of 784 per image.
"""),
    code("""
data = vaekit.load_mnist(DATA, train_limit=TRAIN_LIMIT, test_limit=TEST_LIMIT)
print(f"{len(data.train_images):,} training and {len(data.test_images):,} test images, {data.train_images.shape[1]} pixels each")
display(plot_images(data.test_images[:20], title="the first 20 test digits"))
"""),
    md("""
## The seed VAE and its loss, in plain words

The **encoder** reads an image and answers with a small Gaussian cloud in a 20-dimensional *code*
space: a mean and a spread for each of the 20 dimensions. We draw one code from that cloud, and the
**decoder** turns it back into 784 pixel probabilities.

The loss has two parts, both in nats per image:

* **reconstruction**: how surprised the decoder is by the real pixels (the cross-entropy). Low when
  the decoded digit looks like the input.
* **KL**: how far the encoder's cloud is from the standard normal N(0, I). It keeps the codes of all
  images packed around 0, so that a code drawn from N(0, I) later decodes into a plausible digit.

Their sum is the negative ELBO (evidence lower bound). Before training, the decoder knows nothing:
"""),
    code("""
model = vaekit.build("seed", seed=SEED)
print(model.config)
loss = model.loss(data.train_images[:150])
print(f"one batch of 150 before training: reconstruction {loss.reconstruction.item() / 150:.1f}"
      f" + KL {loss.kl.item() / 150:.1f} nats per image")
"""),
    md("""
## Train, watching the loss

The left panel is the loss of every training step (grey) and its moving average (blue); the right one
the loss per epoch on the training and the test images, split into its two parts. The picture is
redrawn while training runs, also under *Run → Run All Cells*.
"""),
    code("""
live = widgets.LiveLossPlot()
display(live.widget)
config = vaekit.TrainConfig(epochs=EPOCHS, seed=SEED)
history = vaekit.fit(model, data.train_images, data.test_images, config, callbacks=[live, vaekit.ProgressBar()])
last = history["epochs"][-1]
print(f"after {EPOCHS} epochs: test negative ELBO {last['test_total']:.1f} nats per image "
      f"(reconstruction {last['test_reconstruction']:.1f}, KL {last['test_kl']:.1f})")
"""),
    md("""
The same curves as a figure, saved for the README:
"""),
    code("""
save_fig(plot_history(history), "notebook_loss_curves", FIGURES)
"""),
    md("""
## The sigma head against the log-variance head

The seed's encoder outputs the code's standard deviation σ directly, and the loss takes log(σ²). When
σ gets close to 0 that logarithm is very steep, and now and then one step's loss jumps (the faint
spikes on the left). Géron's later fix outputs γ = log(σ²) instead and uses σ = exp(γ / 2): always
positive, and smooth. Same data, same seed, same schedule, only the head differs:
"""),
    code("""
logvar_model = vaekit.build("seed", seed=SEED, head="logvar")
logvar_history = vaekit.fit(logvar_model, data.train_images, data.test_images, config)
for name, h in (("sigma", history), ("logvar", logvar_history)):
    steps = h["batch_losses"][len(h["batch_losses"]) // 2 :]
    print(f"{name:>6} head: test {h['epochs'][-1]['test_total']:.1f} nats/image, "
          f"largest step loss in the second half {max(steps):.1f}")
fig = plot_histories({"sigma head (the seed)": history, "log-variance head": logvar_history})
save_fig(fig, "notebook_heads_compared", FIGURES)
display(fig)
"""),
    md("""
The same comparison over the seed's whole schedule: vaekit ships one model trained for 50 epochs with
each head, and their histories came with them.
"""),
    code("""
shipped = {name: vaekit.load_checkpoint(vaekit.pretrained_path(name)).history for name in ("seed", "logvar")}
for name, h in shipped.items():
    tests = [r["test_total"] for r in h["epochs"]]
    print(f"{name:>6}: test {tests[-1]:.1f} nats/image after 50 epochs; worst after epoch 5: {max(tests[5:]):.1f}")
fig = plot_histories({"sigma head (seed)": shipped["seed"], "log-variance head (logvar)": shipped["logvar"]})
save_fig(fig, "pretrained_heads_compared", FIGURES)
display(fig)
"""),
    md("""
## Save the checkpoint

One safetensors file holds the weights, the configuration and the history; `vaekit.load` rebuilds the
model from it alone, without running any code from the file. Notebooks 02 to 04 pick it up from
`../runs/notebook/` (quick runs go to `../runs/notebook-quick/`, which they ignore).
"""),
    code("""
path = vaekit.save(RUN / "model.safetensors", model, history)
reloaded = vaekit.load(path)
codes = torch.randn(5, model.config.latent_size)
assert torch.equal(reloaded.decode(codes), model.cpu().decode(codes)), "the checkpoint must give the same model back"
print(f"saved to {path} ({path.stat().st_size / 1e6:.1f} MB)")
"""),
    md("""
## Check the live plot from Python

Automatic runs of this notebook (nbval, in `make test`) cannot see widgets, so this cell checks that
the live plot redrew during training and that it shows the final history.
"""),
    code("""
from vaekit.plotting import figure_png

assert live.redraws >= EPOCHS + 2, "one redraw at the start, one per epoch and one at the end, at least"
assert bytes(live.widget.value) == figure_png(plot_history(history, live.figure), dpi=live.dpi)
print(f"the live plot was redrawn {live.redraws} times and shows the final history")
"""),
]


# -- 02: generation ----------------------------------------------------------------

GENERATE = [
    md("""
# 2 · Generate digits

Decode codes drawn from the prior into new digits — the seed's own figure — and compare
reconstructions with their originals, with a trained VAE that opens instantly.
"""),
    SETUP_PROSE,
    SETUP,
    PARAMETERS_PROSE,
    code(quick_line() + "\n" + trained_model_lines() + """
N_SAMPLES = 60                           # the seed's figure: 60 digits
SEED = 42                                # the same seed draws the same digits
""", "parameters"),
    md("""
## The model

The shipped checkpoint was trained by `python -m vaekit train --preset seed --epochs 50`; its history
came with it.
"""),
    code("""
checkpoint = vaekit.load_checkpoint(CHECKPOINT)
model, history = checkpoint.model, checkpoint.history
print(f"{CHECKPOINT}: {model.config}")
if history["epochs"]:
    last = history["epochs"][-1]
    print(f"trained {last['epoch'] + 1} epochs; test negative ELBO {last.get('test_total', float('nan')):.1f} nats per image")
"""),
    md("""
## New digits from N(0, I)

A VAE is generative because its training kept the codes of real digits packed like samples of the
standard normal N(0, I). So we draw 60 codes from N(0, I) and decode them: none of these digits is in
MNIST.
"""),
    code("""
generator = torch.Generator().manual_seed(SEED)
samples = model.sample(N_SAMPLES, generator=generator)  # (60, 784) pixel intensities
fig = plot_images(samples, nrow=10, title=f"{N_SAMPLES} digits decoded from codes drawn from N(0, I)")
save_fig(fig, "pretrained_samples", FIGURES)
display(fig)
"""),
    md("""
## Reconstructions next to originals

Encode each test digit to the mean of its code and decode that mean. What survives the 20-number
bottleneck is the digit's shape; fine details blur. (vaekit keeps images as bytes, 0 to 255; the model
works on intensities in [0, 1], hence the division.)
"""),
    code("""
data = vaekit.load_mnist(DATA, test_limit=1000 if QUICK else None)
originals = data.test_images[:12] / 255
fig = plot_pairs(originals, model.reconstruct(originals), title="test digits (top) and their reconstructions")
save_fig(fig, "pretrained_reconstructions", FIGURES)
display(fig)
"""),
    md("""
## What the prior's scale does

Multiply the codes by a *temperature* before decoding. Below 1 they crowd towards the centre of the
code space, where the decoder hedges between several digits: the shapes blur. Above 1 they reach
regions where few training digits' codes lie: strokes get bolder and shapes stranger. Each column
keeps the same direction in the code space and only changes its length.
"""),
    code("""
temperatures = [0.5, 1.0, 1.5, 2.5]
directions = torch.randn(10, model.config.latent_size, generator=torch.Generator().manual_seed(SEED))
with torch.no_grad():
    rows = [torch.sigmoid(model.decode(t * directions)) for t in temperatures]
fig = plot_images(torch.cat(rows), nrow=10, title="temperature " + ", ".join(map(str, temperatures)) + " (top to bottom)")
save_fig(fig, "pretrained_temperature", FIGURES)
display(fig)
"""),
    md("""
## Checks

Sampling with the same seed gives the same digits, and the reconstructions are closer to their
originals than random samples are:
"""),
    code("""
again = model.sample(N_SAMPLES, generator=torch.Generator().manual_seed(SEED))
assert torch.equal(again, samples), "a seeded generator must give the same digits"
rec_error = (model.reconstruct(originals) - originals).abs().mean()
random_error = (samples[: len(originals)] - originals).abs().mean()
assert rec_error < random_error
print(f"mean pixel error: reconstructions {rec_error:.3f}, random samples {random_error:.3f}")
"""),
]


# -- 03: sliders ---------------------------------------------------------------------

SLIDERS = [
    md("""
# 3 · The latent sliders

Move the 20 numbers of a code one by one and watch the decoded digit change: start from zero, from a
random code, or from a real digit's code.
"""),
    SETUP_PROSE,
    SETUP,
    PARAMETERS_PROSE,
    code(quick_line() + "\n" + trained_model_lines() + """
TEST_LIMIT = 2000 if QUICK else None     # test images for the KL labels and the digit chooser
START_DIGIT = 7                          # the class of the real digit to start from
""", "parameters"),
    md("""
## The model and the test digits
"""),
    code("""
model = vaekit.load(CHECKPOINT)
data = vaekit.load_mnist(DATA, test_limit=TEST_LIMIT)
print(f"{CHECKPOINT}: {model.config.latent_size}-dimensional codes; {len(data.test_images):,} test digits")
"""),
    md("""
## Which dimensions does the model use?

The KL term of the loss is a sum over the 20 code dimensions. A dimension whose average KL on the test
set is near 0 gives every image the same code — the prior — so it carries no information, and the
decoder has learnt to ignore it. A VAE typically switches several dimensions off like this.
"""),
    code("""
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
"""),
    md("""
## The slider explorer

Each slider sets one dimension, in the order above; the number after its name is that dimension's KL.
*random* draws a code from N(0, T² I) at the temperature T; *reset* goes back to the code 0; *start
from digit* puts the sliders at the code of test image *index* and shows the original beside the
decoding (or pick a class). Move the first sliders, then the last ones: the last barely matter.
"""),
    code("""
explorer = widgets.latent_sliders(model, data.test_images, data.test_labels)
explorer
"""),
    md("""
## Start from a real digit

The same can be done from Python; the widget above follows. Here the sliders jump to the code of the
first test digit of class `START_DIGIT`:
"""),
    code("""
index = explorer.start_from_class(START_DIGIT)
mean = vaekit.latent.encode_means(model, data.test_images[index : index + 1])[0]
print(f"test image {index}; its code, most active dimensions first:")
print(", ".join(f"z{d} = {mean[d]:.2f}" for d in explorer.dimensions[:6]), "...")
decoded = torch.sigmoid(model.decode(explorer.code[None])).detach()
save_fig(plot_pairs(data.test_images[index : index + 1], decoded, title="original / decoded"), "sliders_start_digit", FIGURES)
"""),
    md("""
## Drive the widget from Python (what the automatic test checks)

Automatic runs of this notebook cannot move a slider or press a button in a browser, so this cell does
it from Python and checks what a user would see change.
"""),
    code("""
before = explorer.decoded.value
explorer.sliders[0].value = 2.0
assert explorer.decoded.value != before, "moving a slider must change the decoded digit"
code = explorer.code_label.value
explorer.random_button.click()
assert explorer.code_label.value != code, "the random button must draw a new code"
explorer.index.value = 10**6  # a bad index: the widget says so and stays usable
explorer.from_digit_button.click()
assert "choose an index" in explorer.message.value
explorer.reset_button.click()
assert explorer.code.abs().sum() == 0
print("sliders, random, reset and the digit chooser respond")
"""),
]


# -- 04: interpolation and the latent map -------------------------------------------------

INTERPOLATION = [
    md("""
# 4 · Interpolation and the latent map

Walk from one digit's code to another's and decode every step of the way, then look at the whole
code space at once, projected to two dimensions.
"""),
    SETUP_PROSE,
    SETUP,
    PARAMETERS_PROSE,
    code(quick_line() + "\n" + trained_model_lines() + """
TEST_LIMIT = 2000 if QUICK else None     # test images to choose from and to map
START, END = 0, 1                        # test images 0 (a 7) and 1 (a 2)
STEPS = 10
""", "parameters"),
    md("""
## The model and the test digits
"""),
    code("""
model = vaekit.load(CHECKPOINT)
data = vaekit.load_mnist(DATA, test_limit=TEST_LIMIT)
print(f"{CHECKPOINT}; {len(data.test_images):,} test digits")
"""),
    md("""
## From one digit to another

Encode the two digits, walk along the path between their codes in `STEPS` steps and decode each step.
The first and last images are the two digits' reconstructions. Press play, or choose other digits by
index or class.
"""),
    code("""
path = widgets.interpolator(model, data.test_images, data.test_labels, start=START, end=END, steps=STEPS)
path
"""),
    md("""
## Linear or spherical?

A straight line between two typical codes passes closer to the centre of the code space than either
end: halfway, its length shrinks by about 1/√2. Few real digits' codes lie that close to the centre,
and decodings there can blur. The spherical path (slerp) keeps the length between the two ends'.
Compare the code lengths printed below, and the middles of the two rows.
"""),
    code("""
means = vaekit.latent.encode_means(model, data.test_images[[START, END]])
strips = []
for method in ("linear", "spherical"):
    codes = vaekit.latent.interpolate(means[0], means[1], STEPS, method)
    print(f"{method:>9}: code lengths along the path", " ".join(f"{n:.1f}" for n in codes.norm(dim=1)))
    strips.append(widgets.decode_images(model, codes))
fig = plot_images(torch.cat(strips), nrow=STEPS, title="linear (top) and spherical (bottom) interpolation")
save_fig(fig, "interpolation_linear_vs_spherical", FIGURES)
display(fig)
"""),
    md("""
## The latent map

The codes have 20 dimensions; principal component analysis finds the two directions along which the
test digits' codes spread most. Left: each test digit's code on those two directions, coloured by its
label. Right: the decodings of a grid of codes across the dashed box (the other 18 directions held at
the average). Neighbouring codes decode to similar digits.
"""),
    code("""
map_view = widgets.latent_map(model, data.test_images, data.test_labels)
save_fig(map_view.figure, "latent_map", FIGURES, dpi=100)  # a photo-like figure: keep the file small
map_view
"""),
    md("""
## Drive the widget from Python (what the automatic test checks)
"""),
    code("""
strip = path.strip.value
path.method.value = "spherical"
assert path.strip.value != strip, "changing the method must redraw the strip"
frame = path.frame.value
path.frame_slider.value = STEPS - 1  # what the play button does
assert path.frame.value != frame, "moving along the path must change the frame"
assert torch.allclose(path.frames[-1], model.reconstruct(data.test_images[END : END + 1])[0], atol=1e-5)
path.end_class.value = 4  # choose the end by class
assert data.test_labels[path.end_index.value] == 4 and path.message.value == ""
print("the interpolator follows its method, frame and class controls")
"""),
]

NOTEBOOKS = {
    "01_train.ipynb": TRAIN,
    "02_generate.ipynb": GENERATE,
    "03_latent_sliders.ipynb": SLIDERS,
    "04_interpolation.ipynb": INTERPOLATION,
}


def build(cells) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    # Stable ids, so that regenerating an unchanged notebook leaves the file unchanged.
    for i, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{i:02d}"
    return notebook


def render(cells) -> str:
    return nbformat.writes(build(cells)) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = FOLDER / name
        text = render(cells)
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {stale}; run python notebooks/make_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
