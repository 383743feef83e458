"""The interpolator: the decoded path between two test images' codes, with Play, decoded in the browser,
and the dataset classifier's reading of each frame, computed in the kernel."""

from __future__ import annotations

import os
from pathlib import Path

import anywidget
import torch
import traitlets
from ipywidgets import widget_serialization

from .. import animate
from .. import classifier as clf
from ..errors import VaekitError
from ..latent import decode_images, interpolate
from ._common import check_index, esm, listen_for_gif, one_thread, write_gif
from .decoder import HERE, ModelData
from .sliders import next_index_of_class

METHODS = ("linear", "spherical")
MAX_STEPS = 20
GIF_FPS = 12.0  # as `python -m vaekit animate interpolation`


class Interpolator(anywidget.AnyWidget):
    """Decode the path between two test images' codes: a strip, and a Play-able frame.

    Built by ``interpolator``. Synced traits: ``start``, ``end`` (test image indices), ``method``
    ("linear" or "spherical"), ``steps`` (2 to 20), ``frame`` (the frame shown), ``message``. The browser
    computes and decodes the path; ``frames()`` is the kernel's decoding of the same path.
    With ``classes`` (the default), the kernel also has the shipped classifier of the model's dataset read
    ``frames()`` whenever the path changes: ``probabilities`` (steps x classes, each row summing to 1),
    ``probabilities_path`` (the path they belong to, "start end method steps"), ``classifier_note`` (one line:
    which classifier, or why there is none). The page draws them under the strip (a stacked bar a frame),
    and the current frame's reading under the frame.
    ``save_gif()`` writes the path shown as a GIF (to ``gif_path``, "interpolation.gif" in the kernel's folder
    unless set); the page's GIF button calls it, and ``message`` says where it wrote, or why it could not.
    In the page: ``.vaekit-start-index input``, ``.vaekit-end-index input``, ``.vaekit-start-class select``,
    ``.vaekit-end-class select``, ``.vaekit-method button[data-method]``, ``.vaekit-steps input``,
    ``canvas.vaekit-strip``, ``.vaekit-play-button``, ``.vaekit-stop-button``, ``.vaekit-frame-slider input``,
    ``canvas.vaekit-class-bars``, ``.vaekit-class-caption``, ``.vaekit-class-legend``, ``canvas.vaekit-frame``,
    ``.vaekit-frame-reading``, ``.vaekit-gif-button`` (hidden in a page with no kernel), ``.vaekit-message``.
    """

    _esm = esm(HERE / "interpolation.js")
    _css = HERE / "widgets.css"
    data = traitlets.Instance(ModelData).tag(sync=True, **widget_serialization)
    start = traitlets.Int(0).tag(sync=True)
    end = traitlets.Int(1).tag(sync=True)
    method = traitlets.Unicode("linear").tag(sync=True)
    steps = traitlets.Int(10).tag(sync=True)
    frame = traitlets.Int(0).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    probabilities = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    probabilities_path = traitlets.Unicode("").tag(sync=True)
    classifier_note = traitlets.Unicode("").tag(sync=True)
    gif_path = traitlets.Unicode("interpolation.gif").tag(sync=True)  # the GIF button's file, from the kernel's folder

    def __init__(self, data: ModelData, start: int = 0, end: int = 1, steps: int = 10, method: str = "linear",
                 classes: bool = True):
        self._count = len(data.code_tensor)
        self.classifier = None  # until the traits are set: the observer below has nothing to do before
        super().__init__(data=data, start=start, end=end, steps=steps, method=method)
        self.add_class("vaekit-interpolator")
        self.model = data.model
        if classes:
            self.classifier, self.classifier_note = clf.for_model(self.model)
            self._read_frames()
        listen_for_gif(self)

    @traitlets.validate("start", "end")
    def _valid_index(self, proposal):
        return check_index(proposal["value"], self._count)

    @traitlets.validate("steps")
    def _valid_steps(self, proposal):
        steps = proposal["value"]
        if not 2 <= steps <= MAX_STEPS:
            raise VaekitError(f"an interpolation has 2 to {MAX_STEPS} steps, got {steps}")
        return steps

    @traitlets.validate("method")
    def _valid_method(self, proposal):
        if proposal["value"] not in METHODS:
            raise VaekitError(f"method must be 'linear' or 'spherical', got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("frame")
    def _valid_frame(self, proposal):
        frame = proposal["value"]
        if not 0 <= frame < self.steps:
            raise VaekitError(f"frame must be from 0 to {self.steps - 1}, got {frame}")
        return frame

    @traitlets.observe("steps")
    def _keep_frame(self, change):
        self.frame = min(self.frame, self.steps - 1)

    @traitlets.observe("start", "end", "method", "steps")
    def _path_changed(self, change):
        self._read_frames()

    def path_key(self) -> str:
        """The path as "start end method steps": the page compares it with ``probabilities_path``."""
        return f"{self.start} {self.end} {self.method} {self.steps}"

    def _read_frames(self) -> None:
        # 20 frames through a 112k-parameter CNN: a few milliseconds, on one thread (see one_thread)
        if self.classifier is None:
            return
        with one_thread(), torch.no_grad():
            _, probabilities = clf.apply(self.classifier, self.frames())
        with self.hold_sync():  # one message: the page never pairs new numbers with an old path
            self.probabilities = probabilities.tolist()
            self.probabilities_path = self.path_key()

    def codes(self) -> torch.Tensor:
        """The path's codes: (steps, latent)."""
        means = self.data.code_tensor
        return interpolate(means[self.start], means[self.end], self.steps, self.method)

    def frames(self) -> torch.Tensor:
        """The kernel's decoding of the path, (steps, pixels): what the strip shows."""
        labels = None
        if getattr(self.model.config, "num_classes", 0):
            ends = self.data.label_tensor[[self.start, self.end]]
            labels = torch.where(torch.arange(self.steps) < self.steps / 2, ends[0], ends[1])
        return decode_images(self.model, self.codes(), labels)

    def save_gif(self, path: str | os.PathLike | None = None, fps: float = GIF_FPS) -> Path:
        """The path shown (start, end, method, steps), there and back, as a GIF at ``fps`` frames a second:
        the frames ``python -m vaekit animate interpolation`` writes for the same path. ``path``: default
        ``gif_path``; judged before any frame is drawn. Returns the path written."""
        ends = [self.start, self.end]
        images, labels = self.data.image_tensor[ends], self.data.label_tensor[ends]
        return write_gif(self, lambda: animate.interpolation_frames(
            self.model, images[0], images[1], self.steps, self.method, labels=labels), path, fps)

    def choose_class(self, which: str, label: int) -> int:
        """Move the start or the end ("start"/"end") to the next test image of class ``label``."""
        if which not in ("start", "end"):
            raise VaekitError(f"which must be 'start' or 'end', got {which!r}")
        index = next_index_of_class(self.data, label, after=getattr(self, which))
        setattr(self, which, index)
        return index


def interpolator(model, images, labels, start: int = 0, end: int = 1, steps: int = 10, method: str = "linear",
                 data: ModelData | None = None, classes: bool = True) -> Interpolator:
    """The interpolation explorer (CSS class ``vaekit-interpolator``) between test images ``start`` and
    ``end``; ``data``: a ``ModelData`` shared with other explorers (built when not given); ``classes``: show
    the dataset classifier's reading of each frame."""
    data = data if data is not None else ModelData(model, images, labels)
    return Interpolator(data, start, end, steps, method, classes)
