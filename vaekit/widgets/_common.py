"""What the widgets share: input checks, their ES modules, CSS hooks, one-thread decoding, the GIF button."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import ipywidgets as widgets
import torch

from .. import animate, checks
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


def check_images(images, labels, model) -> tuple[torch.Tensor, torch.Tensor]:
    """Judge images and labels before any work: (float32 (N, pixels) in [0, 1], int64 (N,)) (see vaekit.checks)."""
    images = checks.images(images, model.config.input_size)
    if len(images) == 0:
        raise VaekitError("no images given: pass the test images, e.g. data.test_images")
    return images.cpu(), checks.labels(labels, len(images)).cpu()


def check_code(code, latent: int) -> torch.Tensor:
    """A code from the user: latent finite numbers -> float32 (latent,)."""
    code = torch.as_tensor(code).flatten() if isinstance(code, (list, tuple)) else code
    return checks.codes(code, latent).flatten().cpu()


def check_index(index, n: int, what: str = "test image") -> int:
    """An index into n things (test images, a run's snapshots): an integer from 0 to n - 1."""
    return checks.index(index, n, what)


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


# -- the GIF button: the page sends {"event": "gif"}, the kernel writes the widget's ``gif_path`` ----------


def write_gif(widget, make_frames: Callable[[], list], path: str | os.PathLike | None, fps: float) -> Path:
    """Judge ``path`` (default ``widget.gif_path``), then draw ``make_frames()`` and write them as a GIF;
    ``widget.message`` says where (an absolute path: the kernel's folder is not always the notebook's)."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0.1 <= fps <= 50:
        raise VaekitError(f"fps must be a number from 0.1 to 50, got {fps!r}")
    target = animate.gif_target(widget.gif_path if path is None else path, "gif_path")  # before any work
    with one_thread():
        frames = make_frames()
    written = animate.save_gif(frames, target, fps)
    widget.message = f"wrote {written.resolve()} ({len(frames)} frames)"
    return written


def listen_for_gif(widget) -> None:
    """Answer the page's GIF button (``{"event": "gif"}``) with ``widget.save_gif()``; a path that cannot be
    written becomes the one line on ``widget.message``, not a traceback in the kernel's log. A page that
    asks whether a kernel is there (``{"event": "hello"}``) hears ``{"kernel": true}``."""

    def on_message(_widget, content, _buffers) -> None:
        event = content.get("event") if isinstance(content, dict) else None
        if event == "hello":
            widget.send({"kernel": True})
            return
        if event != "gif":
            return
        widget.message = ""  # a fresh line: the page hears the answer even when it is the same as the last
        try:
            widget.save_gif()
        except VaekitError as exc:
            widget.message = str(exc)
        except OSError as exc:
            widget.message = f"could not write {widget.gif_path}: {exc.strerror or exc}"

    widget.on_msg(on_message)
