"""What the widgets share: CSS hooks, input checks, one-thread decoding, the guarded callbacks."""

from __future__ import annotations

import contextlib
import functools
import html
import traceback
from typing import Callable

import ipywidgets as widgets
import numpy as np
import torch

from ..errors import VaekitError
from ..model import VAE

SLIDER_SPAN = 3.0  # sliders cover +-3 standard deviations of the prior, times the temperature
INACTIVE_KL = 0.05  # nats: below this a dimension carries (almost) no information
DIGIT_CLASSES = tuple(range(10))


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


def _labelled(widget: widgets.Widget, css_class: str) -> widgets.Widget:
    widget.add_class(css_class)
    return widget


def _check_images(images: torch.Tensor, labels: torch.Tensor, model: VAE) -> None:
    if images.ndim != 2 or images.shape[1] != model.config.input_size:
        raise VaekitError(
            f"images must be a (N, {model.config.input_size}) tensor of pixels in [0, 1], got shape {tuple(images.shape)}"
        )
    if len(images) == 0:
        raise VaekitError("no images given: pass the test images, e.g. data.test_images")
    if labels.shape != (len(images),):
        raise VaekitError(f"labels must be a ({len(images)},) tensor, one per image; got shape {tuple(labels.shape)}")


class _Explorer(widgets.VBox):
    """A VBox with a message line and an error area, and the digit-choosing logic the explorers share."""

    def __init__(self, model: VAE, images: torch.Tensor, labels: torch.Tensor):
        _check_images(images, labels, model)
        self.model = model
        self.images = images
        self.labels = labels.cpu()
        self.message = _labelled(widgets.HTML(""), "vaekit-message")
        self.errors = _labelled(widgets.Output(), "vaekit-errors")
        super().__init__()

    def show_message(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00020'>{html.escape(text)}</span>" if text else ""

    def _guarded(self, handler: Callable) -> Callable:
        """Wrap a widget callback: fixable mistakes -> message line; anything else -> traceback in ``errors``."""

        @functools.wraps(handler)
        def wrapper(*args, **kwargs):
            try:
                with one_thread():
                    result = handler(*args, **kwargs)
            except VaekitError as exc:
                self.show_message(str(exc))
                return None
            except Exception:
                self.show_message("Something went wrong inside the widget; the details are below.")
                self.errors.append_stderr(traceback.format_exc())
                return None
            return result

        return wrapper

    def check_index(self, index) -> int:
        n = len(self.images)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n:
            raise VaekitError(f"there is no test image {index!r}: choose an index from 0 to {n - 1}")
        return int(index)

    def next_index_of_class(self, digit, after: int = -1) -> int:
        """The first image of class ``digit`` after index ``after`` (wrapping round)."""
        if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or digit not in DIGIT_CLASSES:
            raise VaekitError(f"a class is a digit from 0 to 9, got {digit!r}")
        matches = (self.labels == int(digit)).nonzero().flatten()
        if len(matches) == 0:
            raise VaekitError(f"none of the {len(self.images)} images is a {digit}; pass more images")
        later = matches[matches > after]
        return int(later[0] if len(later) else matches[0])

    def _class_dropdown(self, css_class: str, description: str) -> widgets.Dropdown:
        options = [("…", None)] + [(str(d), d) for d in DIGIT_CLASSES]
        dropdown = widgets.Dropdown(options=options, value=None, description=description, layout=widgets.Layout(width="150px"))
        dropdown.style.description_width = "60px"
        return _labelled(dropdown, css_class)


def _format_code(values: list[float]) -> str:
    # round, then + 0.0 turns -0.0 into 0.0 so that a reset reads "0.00", not "-0.00"
    return "z = [" + ", ".join(f"{round(v, 2) + 0.0:.2f}" for v in values) + "]"

