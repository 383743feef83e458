"""Animations as GIFs (Pillow): training replayed from its snapshots, interpolation, latent traversal.

Each ``*_frames`` function returns a list of Pillow images (mode "L", grey),
``save_gif`` writes them; ``python -m vaekit animate training|interpolation|traversal``
does both. Frames are drawn with Pillow alone, not matplotlib: a 50-epoch GIF
takes a fraction of a second.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from .data import to_float
from .errors import VaekitError
from .latent import decode_images, encode_means, interpolate, kl_per_dimension
from .runs import writable_folder
from .snapshots import Timeline, to_uint8

GAP = 2  # pixels between images in a grid
WHITE, INK, FAINT = 255, 40, 190
ACTIVE_KL = 0.05  # nats: a dimension with less average KL carries (almost) no information


def _side(pixels: int) -> int:
    side = math.isqrt(pixels)
    if side * side != pixels:
        raise ValueError(f"images of {pixels} pixels are not square")
    return side


def grid(images: torch.Tensor, ncol: int) -> Image.Image:
    """uint8 (N, side*side) -> one grey image, ``ncol`` per row, white gaps."""
    side = _side(images.shape[1])
    rows = math.ceil(len(images) / ncol)
    canvas = Image.new("L", (ncol * (side + GAP) + GAP, rows * (side + GAP) + GAP), WHITE)
    for i, image in enumerate(images):
        tile = Image.fromarray(image.reshape(side, side).numpy(), "L")
        canvas.paste(tile, (GAP + (i % ncol) * (side + GAP), GAP + (i // ncol) * (side + GAP)))
    return canvas


def _scaled(frames: list[Image.Image], scale: int) -> list[Image.Image]:
    if scale == 1:
        return frames
    return [f.resize((f.width * scale, f.height * scale), Image.NEAREST) for f in frames]


def gif_target(path: str | os.PathLike, option: str = "another path") -> Path:
    """Judge where a GIF is to go before any frame is drawn: a name ending in .gif, not a folder, in a
    folder that exists (or can be made) and can be written. One line (``VaekitError``) if not; ``option``
    names what to change in it (the widgets: "gif_path")."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".gif":
        raise VaekitError(f"cannot write {path}: name a .gif file")
    if path.is_dir():
        raise VaekitError(f"cannot write {path}: it is a folder; name a .gif file")
    nearest = next((folder for folder in path.parents if folder.exists()), None)  # the first that is there
    if nearest is not None and not nearest.is_dir():
        raise VaekitError(f"cannot write {path}: {nearest} is a file, not a folder")
    writable_folder(path.parent, option)
    return path


def save_gif(frames: list[Image.Image], path: str | os.PathLike, fps: float = 4.0) -> Path:
    """Write ``frames`` as a looping GIF at ``fps`` frames a second."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = max(20, round(1000 / fps))  # browsers treat < 20 ms as 100 ms
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0,
                   optimize=False, disposal=1)
    return path


# -- training, from its snapshots --------------------------------------------------


def training_frames(timeline: Timeline, scale: int = 2) -> list[Image.Image]:
    """One frame an epoch: the 16 prior decodings, 4 test images over their reconstructions,
    the KL of each dimension (bars), and the test loss with a marker at the epoch."""
    samples = grid(timeline.samples[0], 4)
    width = 2 * samples.width + 6
    losses = timeline.losses["test_total"]
    if torch.isnan(losses).all():
        losses = timeline.losses["train_total"]
    kl_top = max(float(timeline.kl.max()), 1e-6)
    frames = []
    for i in range(len(timeline)):
        frame = Image.new("L", (width, 14 + samples.height + 6 + 40 + 6 + 40), WHITE)
        draw = ImageDraw.Draw(frame)
        draw.text((2, 1), f"epoch {int(timeline.epochs[i]) + 1}", fill=INK)
        frame.paste(grid(timeline.samples[i], 4), (0, 14))
        pairs = torch.cat([timeline.originals[:4], timeline.reconstructions[i][:4],
                           timeline.originals[4:8], timeline.reconstructions[i][4:8]])
        frame.paste(grid(pairs, 4), (samples.width + 6, 14))
        _bars(draw, timeline.kl[i], kl_top, (2, 14 + samples.height + 6, width - 2, 40))
        _curve(draw, losses, i, (2, 14 + samples.height + 6 + 40 + 6, width - 2, 40))
        frames.append(frame)
    return _scaled(frames, scale)


def _bars(draw: ImageDraw.ImageDraw, values: torch.Tensor, top: float, box: tuple[int, int, int, int]) -> None:
    x0, y0, width, height = box
    step = width / len(values)
    draw.line((x0, y0 + height, x0 + width, y0 + height), fill=FAINT)
    for d, value in enumerate(values.tolist()):
        h = round(height * max(value, 0.0) / top)
        left = x0 + d * step
        draw.rectangle((round(left + 1), y0 + height - h, round(left + step - 1), y0 + height), fill=INK)


def _curve(draw: ImageDraw.ImageDraw, values: torch.Tensor, at: int, box: tuple[int, int, int, int]) -> None:
    x0, y0, width, height = box[0] + 4, box[1] + 4, box[2] - 8, box[3] - 8  # room for the marker
    finite = values[torch.isfinite(values)]
    if len(finite) == 0:
        return
    low, high = float(finite.min()), float(finite.max())
    span = max(high - low, 1e-6)
    n = max(len(values) - 1, 1)
    points = [(x0 + width * i / n, y0 + height - height * (float(v) - low) / span) for i, v in enumerate(values)]
    draw.line(points, fill=FAINT, width=1)
    x, y = points[at]
    draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=INK)


# -- interpolation and traversal ------------------------------------------------


@torch.no_grad()
def interpolation_frames(model, start: torch.Tensor, end: torch.Tensor, steps: int = 30,
                         method: str = "spherical", scale: int = 4, labels=None) -> list[Image.Image]:
    """From ``start``'s code to ``end``'s and back: 2 * steps - 2 frames of one decoded image."""
    ends = None if labels is None or not model.config.conditional else torch.as_tensor(labels)
    means = encode_means(model, to_float(torch.stack([start, end])), labels=ends)  # on the model's device
    codes = interpolate(means[0], means[1], steps, method)
    codes = torch.cat([codes, codes.flip(0)[1:-1]])  # there and back, without repeating the ends
    # a conditional model: the class switches halfway along the walk
    path_labels = None if ends is None else torch.where(torch.arange(steps) < steps / 2, ends[0], ends[1])
    if path_labels is not None:
        path_labels = torch.cat([path_labels, path_labels.flip(0)[1:-1]])
    images = to_uint8(decode_images(model, codes, path_labels))
    return _scaled([grid(image[None], 1) for image in images], scale)


def active_dimensions(model, images: torch.Tensor, labels: torch.Tensor | None = None,
                      threshold: float = ACTIVE_KL) -> tuple[list[int], torch.Tensor]:
    """Dimensions whose average KL over ``images`` exceeds ``threshold``, most active first; and all the KLs."""
    labels = labels if model.config.conditional else None
    kl = kl_per_dimension(model, images, labels=labels)
    order = torch.argsort(kl, descending=True).tolist()
    return [d for d in order if kl[d] > threshold], kl


@torch.no_grad()
def traversal_codes(
    model, dimensions: list[int], values: torch.Tensor, base: torch.Tensor | None = None
) -> torch.Tensor:
    """(len(dimensions), len(values), latent): ``base`` (default 0) with one dimension set to each value."""
    base = torch.zeros(model.config.latent_size) if base is None else base
    codes = base.repeat(len(dimensions), len(values), 1)
    for row, d in enumerate(dimensions):
        codes[row, :, d] = values
    return codes


@torch.no_grad()
def traversal_frames(model, images: torch.Tensor, steps: int = 13, span: float = 3.0,
                     base: torch.Tensor | None = None, scale: int = 3, labels: torch.Tensor | None = None,
                     label: int = 0) -> list[Image.Image]:
    """Each active dimension (most active first, one image each) swept from -span to +span and back.

    ``base``: the code the other dimensions keep (default 0, the prior's centre, as ``animate traversal``;
    the sliders' GIF button passes the sliders' code). A conditional model decodes every frame as class ``label``.
    """
    model = model.cpu().eval()
    dimensions, _ = active_dimensions(model, images, labels)
    if not dimensions:
        raise VaekitError("no dimension carries information (every KL is below 0.05 nats): nothing to traverse")
    values = torch.linspace(-span, span, steps)
    codes = traversal_codes(model, dimensions, values, base)  # (D, steps, latent)
    flat = codes.reshape(-1, codes.shape[-1])
    condition = torch.full((len(flat),), label) if model.config.conditional else None
    decoded = to_uint8(torch.sigmoid(model.decode(flat, condition))).reshape(len(dimensions), steps, -1)
    order = list(range(steps)) + list(range(steps - 2, 0, -1))
    columns = min(len(dimensions), 10)
    return _scaled([grid(decoded[:, k], columns) for k in order], scale)
