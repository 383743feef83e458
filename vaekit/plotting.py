"""Figures: image grids, loss curves, interpolation strips, and ``save_fig``.

Everything renders with matplotlib's Agg backend objects (``Figure``), so it
works the same in a terminal, a test and a notebook, and never touches pyplot's
global state.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image as PILImage

from . import checks
from .data import to_float
from .errors import VaekitError
from .runs import MAX_IMAGES, MAX_ROW

SIDE = 28  # MNIST images are 28 x 28
DIGIT_SCALE = 8  # 28 px digits are shown 224 px wide, each pixel a crisp square
FIGURES = Path(os.environ.get("VAEKIT_FIGURES", "figures"))


class NotebookFigure(Figure):
    """A matplotlib Figure that shows itself in any notebook as a PNG, with or without ``%matplotlib inline``.

    Figures made without pyplot have no display hook of their own; Jupyter then prints only
    ``<Figure size ...>`` unless the inline backend happened to be set up first.
    """

    def _repr_png_(self) -> bytes:
        return figure_png(self, bbox_inches="tight")


def image_grid(images: torch.Tensor, nrow: int = 10, padding: int = 2) -> np.ndarray:
    """(N, 784) or (N, 28, 28) intensities in [0, 1] (or uint8 0..255) -> one (H, W) float array."""
    from torchvision.utils import make_grid  # here, not at import: torchvision adds seconds to every CLI start

    images = to_float(images.detach().cpu()).reshape(-1, 1, SIDE, SIDE)
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=1.0)  # (3, H, W)
    return grid[0].numpy()


def plot_images(images: torch.Tensor, nrow: int = 10, title: str | None = None, scale: float = 0.6) -> Figure:
    """A grid of digits, ``nrow`` per row, white gaps between them."""
    images = checks.images(images, what="the images to plot")
    if not 1 <= nrow <= MAX_ROW or not 1 <= len(images) <= MAX_IMAGES:
        raise VaekitError(
            f"a figure holds 1 to {MAX_IMAGES} digits, at most {MAX_ROW} a row; got {len(images)} digits, {nrow} a row"
        )
    grid = image_grid(images, nrow)
    height, width = grid.shape
    fig = NotebookFigure(figsize=(scale * width / SIDE, scale * height / SIDE + (0.4 if title else 0)))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="binary_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout(pad=0.2)
    return fig


def plot_pairs(originals: torch.Tensor, reconstructions: torch.Tensor, title: str | None = None) -> Figure:
    """Originals on the top row, their reconstructions underneath."""
    originals = checks.images(originals, what="the originals")  # uint8 and floats alike: both become [0, 1]
    reconstructions = checks.images(reconstructions, what="the reconstructions")
    return plot_images(torch.cat([originals, reconstructions]), nrow=len(originals), title=title)


def smooth(values: list[float], weight: float | None = None) -> np.ndarray:
    """Exponential moving average, bias-corrected like Adam's so the start is not dragged to 0.

    The default weight averages over about the last tenth of the run, and at most
    about 50 steps (weight 0.98): a quick run's curve would otherwise trail far
    behind the few steps it summarises.
    """
    if weight is None:
        weight = max(0.0, 1.0 - max(0.02, 10.0 / max(len(values), 1)))
    out, average = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        average = weight * average + (1 - weight) * v
        out[i] = average / (1 - weight ** (i + 1))
    return out


def plot_history(history: dict, fig: Figure | None = None) -> Figure:
    """Loss per epoch (train and test: total, reconstruction, KL) and the smoothed per-step loss."""
    fig = fig or NotebookFigure(figsize=(10, 3.6))
    fig.clear()
    steps_ax, epochs_ax = fig.subplots(1, 2)
    losses = history.get("batch_losses", [])
    if losses:
        steps_ax.plot(losses, color="0.8", linewidth=0.6, label="each step")
        steps_ax.plot(smooth(losses), color="C0", label="smoothed")
    epochs = history.get("epochs", [])
    x = [r["epoch"] + 1 for r in epochs]
    for i, term in enumerate(("total", "reconstruction", "kl")):
        label = "KL" if term == "kl" else term
        train = [r[f"train_{term}"] for r in epochs]
        epochs_ax.plot(x, train, "o-", color=f"C{i}", label=f"train {label}", markersize=3)
        if epochs and f"test_{term}" in epochs[0]:
            test = [r[f"test_{term}"] for r in epochs]
            epochs_ax.plot(x, test, "s--", color=f"C{i}", label=f"test {label}", markersize=3)
    _finish_loss_axes(fig, steps_ax, epochs_ax, losses)
    return fig


def _finish_loss_axes(fig: Figure, steps_ax, epochs_ax, losses: list[float]) -> None:
    """Labels, grid, legends and a step axis scaled to the bulk of ``losses``."""
    if losses:
        # The first steps' losses are far above the rest: keep them off the scale.
        low, high = np.percentile(losses, [0.5, 99]) if len(losses) > 20 else (min(losses), max(losses))
        steps_ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low) + 1e-6)
    steps_ax.set(xlabel="step", ylabel="negative ELBO (nats / image)", title="Training, step by step")
    epochs_ax.set(xlabel="epoch", ylabel="nats / image", title="Per epoch")
    epochs_ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 1.25" after a short run
    for ax in (steps_ax, epochs_ax):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()


def figure_png(fig: Figure, dpi: int = 100, **savefig_kwargs) -> bytes:
    """Render a figure to PNG bytes (for an ``ipywidgets.Image``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, **savefig_kwargs)
    return buffer.getvalue()


def save_fig(fig: Figure, name: str, folder: str | os.PathLike | None = None, dpi: int = 150) -> Path:
    """Save ``fig`` as ``<folder>/<name>.png`` (default folder: ``figures/`` or $VAEKIT_FIGURES)."""
    folder = Path(folder) if folder is not None else FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def plot_histories(histories: dict[str, dict]) -> Figure:
    """Runs side by side: each one's per-step loss (faint) and its smoothed curve, and its loss per epoch
    (test if it was measured, else train). Made to compare the sigma head with the log-variance head."""
    fig = NotebookFigure(figsize=(10, 3.6))
    steps_ax, epochs_ax = fig.subplots(1, 2)
    every_loss = []
    for i, (name, history) in enumerate(histories.items()):
        losses = history.get("batch_losses", [])
        every_loss += losses
        if losses:
            steps_ax.plot(losses, color=f"C{i}", alpha=0.3, linewidth=0.5)
            steps_ax.plot(smooth(losses), color=f"C{i}", label=name)
        epochs = history.get("epochs", [])
        split = "test" if epochs and "test_total" in epochs[0] else "train"
        x = [r["epoch"] + 1 for r in epochs]
        totals = [r[f"{split}_total"] for r in epochs]
        epochs_ax.plot(x, totals, "o-", color=f"C{i}", markersize=3, label=f"{name}, {split}")
    _finish_loss_axes(fig, steps_ax, epochs_ax, every_loss)
    return fig


def plot_traversal(decoded: torch.Tensor, dimensions: list[int], kl: torch.Tensor, values: torch.Tensor) -> Figure:
    """Latent traversal: one row per dimension (most active first), one column per value it is set to.

    ``decoded``: (rows, columns, pixels) intensities; ``kl``: every dimension's average KL (nats).
    Built by ``animate.traversal_codes`` + the model's decoder (``python -m vaekit traverse``).
    """
    rows, columns = decoded.shape[:2]
    fig = Figure(figsize=(0.6 * columns + 1.4, 0.6 * rows + 0.7))
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, images, d in zip(axes, decoded, dimensions):
        ax.imshow(image_grid(images, nrow=columns), cmap="binary_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"z{d} ({kl[d]:.1f})", rotation=0, ha="right", va="center", fontsize=8)
        for spine in ax.spines.values():
            spine.set_visible(False)
    step = SIDE + 2  # image_grid's padding
    axes[-1].set_xticks([2 + step * i + SIDE / 2 for i in range(columns)], [f"{v:+.1f}" for v in values.tolist()],
                        fontsize=8)
    low, high = float(values[0]), float(values[-1])
    axes[0].set_title(f"each active dimension from {low:+.0f} to {high:+.0f} (KL in nats), the others at 0", fontsize=9)
    fig.subplots_adjust(left=1.3 / (0.6 * columns + 1.4), right=0.98, top=1 - 0.35 / fig.get_figheight(),
                        bottom=0.3 / fig.get_figheight(), hspace=0.05)
    return fig


# -- PNG bytes (for widgets and web pages) -------------------------------------


def to_uint8(pixels: np.ndarray | torch.Tensor) -> np.ndarray:
    """Intensities in [0, 1] -> uint8 in 0..255, rounded (uint8 images pass as they are)."""
    if isinstance(pixels, torch.Tensor):
        pixels = pixels.detach().cpu().numpy()
    if pixels.dtype == np.uint8:
        return pixels
    return (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def png_bytes(gray: np.ndarray, scale: int = 1) -> bytes:
    """A 2-D uint8 array -> PNG bytes, upscaled ``scale`` times with nearest neighbours.

    compress_level=1: these PNGs go over a local socket, where encoding time
    matters more than a few hundred bytes (level 6 is about twice as slow).
    """
    image = PILImage.fromarray(gray, mode="L")
    if scale != 1:
        image = image.resize((gray.shape[1] * scale, gray.shape[0] * scale), PILImage.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def digit_png(pixels: np.ndarray | torch.Tensor, scale: int = DIGIT_SCALE) -> bytes:
    """One digit, (784,) or (28, 28) intensities in [0, 1] -> PNG bytes, white on black like MNIST."""
    return png_bytes(to_uint8(pixels).reshape(SIDE, SIDE), scale)


def strip_png(images: torch.Tensor, scale: int = 3) -> bytes:
    """Digits side by side (N, 784), white gaps between them -> PNG bytes."""
    return png_bytes(to_uint8(image_grid(images, nrow=len(images))), scale)


BLANK_DIGIT_PNG = digit_png(np.zeros(SIDE * SIDE))
def plot_rate_distortion(runs: list[dict]) -> Figure:
    """Each run's test rate (KL) against its distortion (reconstruction), labelled by beta, over lines of
    equal negative ELBO (rate + distortion = constant: the diagonals)."""
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    rates = np.array([r["rate"] for r in runs])
    distortions = np.array([r["distortion"] for r in runs])
    totals = rates + distortions
    span = max(np.ptp(rates), np.ptp(distortions), 1.0)
    low_r, high_r = rates.min() - 0.15 * span, rates.max() + 0.15 * span
    for level in np.linspace(totals.min(), totals.max(), 5):
        ax.plot([low_r, high_r], [level - low_r, level - high_r], color="0.8", linewidth=0.8, zorder=0)
        ax.annotate(f"−ELBO {level:.0f}", (high_r, level - high_r), fontsize=7, color="0.5", ha="right", va="bottom")
    ax.plot(rates, distortions, "o-", color="C0", zorder=2)
    for r, d, run in zip(rates, distortions, runs):
        ax.annotate(f"β = {run['beta']:g}", (r, d), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlim(low_r, high_r)
    ax.set_ylim(distortions.min() - 0.15 * span, distortions.max() + 0.15 * span)
    ax.set(xlabel="rate: KL (nats / image)", ylabel="distortion: reconstruction (nats / image)",
           title="Rate against distortion; grey: lines of equal −ELBO")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_rows(rows: dict[str, torch.Tensor], title: str | None = None) -> Figure:
    """One labelled row of images per entry of ``rows`` ({"β = 1": (n, pixels)}), for side-by-side samples."""
    names = list(rows)
    n = max(len(images) for images in rows.values())
    fig = Figure(figsize=(0.45 * n + 1.0, 0.5 * len(names) + (0.4 if title else 0.1)))
    axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        ax.imshow(image_grid(rows[name], nrow=n), cmap="binary_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        axes[0].set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.9 / fig.get_figwidth(), right=0.99,
                        top=1 - (0.35 if title else 0.05) / fig.get_figheight(),
                        bottom=0.05 / fig.get_figheight(), hspace=0.05)
    return fig


def plot_path_classes(images: torch.Tensor, probabilities: torch.Tensor, class_names: tuple[str, ...],
                      title: str | None = None) -> Figure:
    """An interpolation strip over the classifier's probability of each class along it (the classes that
    ever pass 5 %), so that one reads at which frame the 4 becomes a 9."""
    steps = len(images)
    fig = Figure(figsize=(max(6.0, 0.6 * steps), 4.2))
    strip_ax, curve_ax = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 2]})
    strip_ax.imshow(image_grid(images, nrow=steps), cmap="binary_r", vmin=0, vmax=1, interpolation="nearest")
    strip_ax.set_axis_off()
    if title:
        strip_ax.set_title(title, fontsize=9)
    shown = [k for k in range(probabilities.shape[1]) if probabilities[:, k].max() > 0.05]
    for k in shown:
        curve_ax.plot(range(steps), probabilities[:, k].numpy(), "o-", markersize=3, label=class_names[k])
    curve_ax.set(xlim=(-0.5, steps - 0.5), ylim=(0, 1.02), xlabel="frame", ylabel="classifier's probability")
    curve_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    curve_ax.grid(alpha=0.3)
    curve_ax.legend(fontsize=8, ncol=min(len(shown), 5))
    fig.tight_layout()
    return fig
