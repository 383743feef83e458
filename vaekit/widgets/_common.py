"""What the widgets share: input checks, their ES modules, CSS hooks, one-thread decoding."""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import torch

from ..errors import VaekitError

SLIDER_SPAN = 3.0  # sliders cover +-3 standard deviations of the prior, times the temperature
INACTIVE_KL = 0.05  # nats: below this a dimension carries (almost) no information

_IMPORT = re.compile(r'^import \{[^}]*\} from "\./([\w.]+\.js)";\n', re.MULTILINE)


def esm(path: Path) -> str:
    """A widget's ES module as one string: each ``import {...} from "./x.js";`` line is replaced by x.js.

    anywidget loads a module from a string, where relative imports cannot resolve; the shared math
    (decoder.js) stays one file that Node can import in the tests, and is inlined here. No bundler.
    """
    seen: set[str] = set()

    def inline(text: str) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in seen:
                return ""
            seen.add(name)
            return inline((path.parent / name).read_text()) + "\n"

        return _IMPORT.sub(one, text)

    return inline(path.read_text())


def labelled(widget: widgets.Widget, css_class: str) -> widgets.Widget:
    widget.add_class(css_class)
    return widget


def _as_tensor(values, what: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu()
    try:
        return torch.from_numpy(np.asarray(values))
    except (TypeError, ValueError) as exc:
        raise VaekitError(f"{what} must be a tensor or a NumPy array, got {type(values).__name__}") from exc


def check_images(images, labels, model) -> tuple[torch.Tensor, torch.Tensor]:
    """Judge images and labels before any work: (float32 (N, pixels) in [0, 1], int64 (N,)).

    Accepted: torch tensors or NumPy arrays; uint8 pixels (0..255) or floats in [0, 1]; shape (N, pixels)
    or any (N, ...) holding that many pixels per image.
    """
    pixels = int(np.prod(getattr(model.config, "image_shape", (1, 28, 28))))
    images = _as_tensor(images, "images")
    if images.ndim < 2 or math.prod(images.shape[1:]) != pixels:
        raise VaekitError(f"images must be (N, {pixels}) pixels, one row per image; got shape {tuple(images.shape)}")
    if len(images) == 0:
        raise VaekitError("no images given: pass the test images, e.g. data.test_images")
    images = images.reshape(len(images), pixels)
    if images.dtype == torch.uint8:
        images = images.float() / 255
    elif images.is_floating_point():
        images = images.float()
        if not torch.isfinite(images).all():
            raise VaekitError("the images hold NaN or infinite values; pass pixels in [0, 1] or uint8 0..255")
        if images.min() < 0 or images.max() > 1:
            hint = " (0..255 as floats? pass them as uint8, or divide by 255)" if images.max() <= 255 else ""
            raise VaekitError(f"pixels must lie in [0, 1]; these span {float(images.min()):g} to "
                              f"{float(images.max()):g}{hint}")
    else:
        raise VaekitError(f"images must be uint8 (0..255) or floats in [0, 1], got {images.dtype}")
    labels = _as_tensor(labels, "labels")
    if labels.shape != (len(images),) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise VaekitError(f"labels must be {len(images)} integers, one class per image; got "
                          f"{labels.dtype} of shape {tuple(labels.shape)}")
    return images, labels.long()


def check_code(code, latent: int) -> torch.Tensor:
    """A code from the user: latent finite numbers -> float32 (latent,)."""
    code = _as_tensor(code, "a code").float().flatten()
    if code.shape != (latent,):
        raise VaekitError(f"a code has {latent} values, got {tuple(code.shape)}")
    if not torch.isfinite(code).all():
        raise VaekitError(f"a code must hold finite numbers, got {code.tolist()}")
    return code


def check_index(index, n: int) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n:
        raise VaekitError(f"there is no test image {index!r}: choose an index from 0 to {n - 1}")
    return int(index)


def format_code(values: list[float]) -> str:
    # round, then + 0.0 turns -0.0 into 0.0 so that a reset reads "0.00", not "-0.00"
    return "z = [" + ", ".join(f"{round(v, 2) + 0.0:.2f}" for v in values) + "]"


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block, then restore the thread count.

    A widget's work is tiny (decoding one code, or ten). Split across threads,
    waking the second thread costs more than the work itself, and on a busy
    machine it measured 15-60 ms instead of 0.2 ms (benchmarks/bench_widgets.py).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
