"""The latent sliders: one slider per code dimension, most informative first, decoded in the browser.

The browser decodes the code on every input event (``sliders.js``) and tells the kernel the new code
(``z``): while a hand moves a slider, at most every 0.2 s (each message costs JupyterLab's page ~10 ms),
and always the last code. Python reads and sets ``z`` (and everything else below), and the page follows.

Where a browser decodes too slowly to keep up with a hand, the kernel decodes instead: when the widget
opens, the page times a few decodes of its own, and if their median exceeds ``browser_budget_ms`` it
hands decoding to the kernel (``decoding`` becomes "kernel"), which then sends the pixels of every new
code, and says so in the widget. A page without a kernel (``export-html``) keeps decoding itself.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import anywidget
import numpy as np
import torch
import traitlets
from ipywidgets import widget_serialization

from .. import animate
from ..errors import VaekitError
from ..latent import decode_images, encode_means, kl_per_dimension
from ._common import (
    INACTIVE_KL,
    SLIDER_SPAN,
    check_code,
    check_images,
    check_index,
    esm,
    format_code,
    listen_for_gif,
    one_thread,
    write_gif,
)
from .decoder import HERE, ModelData

# The time a browser may take to decode one code before the kernel takes over, ms: from an input event
# to the painted canvas must fit one frame at 60 Hz (16 ms), and painting needs the rest.
BROWSER_BUDGET_MS = 12.0
DECODING = ("browser", "kernel")
GIF_STEPS, GIF_FPS = 30, 12.0  # as `python -m vaekit animate traversal`


class LatentSliders(anywidget.AnyWidget):
    """Sliders over the code, a decoded digit, and an original image to start from.

    Built by ``latent_sliders``. Synced traits: ``z`` (the code, dimension order), ``temperature``
    (sliders span ±3·T), ``index`` (the image chooser), ``shown`` (the image shown as the original, -1
    for none), ``label`` (a conditional model's class to decode), ``message``. ``dimensions``: code
    dimensions most active first (the sliders' order); ``kl``: each dimension's average KL (nats).
    In the page: ``.vaekit-latent-slider`` (``input[type=range]``, ``data-dimension``), ``canvas.vaekit-decoded``,
    ``canvas.vaekit-original``, ``.vaekit-random``, ``.vaekit-reset``, ``.vaekit-digit-index input``,
    ``.vaekit-digit-class select``, ``.vaekit-from-digit``, ``.vaekit-range input``, ``.vaekit-code``,
    ``.vaekit-message``, ``.vaekit-band`` (q(z|x)'s mean ± σ on each slider), ``canvas.vaekit-draw`` with
    ``.vaekit-encode-drawing``/``.vaekit-clear-drawing`` and ``.vaekit-nearest`` (draw your own digit);
    ``.vaekit-decoding-notice`` (where decoding happens, when not in the browser). On the widget's
    element: ``data-kernel-code`` (``kernel_code``), ``data-decoding`` (``decoding``), ``data-browser-ms``
    (the page's median decode time) and ``data-kernel-decodes`` (``kernel_decodes``).

    Where to decode (see the module's docstring): ``browser_budget_ms`` (ms a code; the page compares its
    own timing with it), ``decoding`` ("browser" or "kernel"; the page sets it, Python may too),
    ``browser_ms`` (the page's median, -1 until measured), ``kernel_decodes`` (codes the kernel decoded
    for the page).

    ``save_gif()`` (the page's ``.vaekit-gif-button``, hidden in a page with no kernel) writes the traversal
    around the current code as a GIF (to ``gif_path``, "traversal.gif" in the kernel's folder unless set);
    ``message`` says where it wrote, or why it could not.
    """

    _esm = esm(HERE / "sliders.js")
    _css = HERE / "widgets.css"
    data = traitlets.Instance(ModelData).tag(sync=True, **widget_serialization)
    z = traitlets.List(traitlets.Float()).tag(sync=True)
    dimensions = traitlets.List(traitlets.Int()).tag(sync=True)
    kl = traitlets.List(traitlets.Float()).tag(sync=True)
    inactive_kl = traitlets.Float(INACTIVE_KL).tag(sync=True)
    temperature = traitlets.Float(1.0).tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    shown = traitlets.Int(-1).tag(sync=True)
    label = traitlets.Int(0).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    # The code as the kernel last heard it, sent back: the page shows it as the code line's tooltip (and
    # the browser tests compare it with the sliders). No decoding: one short text message per change.
    kernel_code = traitlets.Unicode("").tag(sync=True)
    nearest = traitlets.List(traitlets.Int()).tag(sync=True)  # test images nearest to a drawing's code
    browser_budget_ms = traitlets.Float(BROWSER_BUDGET_MS).tag(sync=True)
    decoding = traitlets.Unicode("browser").tag(sync=True)
    browser_ms = traitlets.Float(-1.0).tag(sync=True)
    kernel_decodes = traitlets.Int(0).tag(sync=True)
    gif_path = traitlets.Unicode("traversal.gif").tag(sync=True)  # the GIF button's file, from the kernel's folder

    def __init__(self, data: ModelData, seed: int = 0, browser_budget_ms: float = BROWSER_BUDGET_MS):
        model = data.model
        kl = kl_per_dimension(model, data.image_tensor, labels=data.label_tensor)  # (latent,) nats per image
        # Most informative first, ties broken by dimension number so the order is reproducible.
        dimensions = sorted(range(len(kl)), key=lambda d: (-float(kl[d]), d))
        super().__init__(data=data, z=[0.0] * len(kl), dimensions=dimensions, kl=[float(k) for k in kl],
                         browser_budget_ms=browser_budget_ms)
        self.add_class("vaekit-latent-sliders")
        self.model = model
        self.generator = torch.Generator().manual_seed(seed)
        self.kernel_code = format_code(self.z)
        self.on_msg(self._on_message)
        listen_for_gif(self)

    @traitlets.validate("z")
    def _valid_z(self, proposal):
        return check_code(proposal["value"], len(self.kl)).tolist()

    @traitlets.observe("z")
    def _acknowledge(self, change):
        self.kernel_code = format_code(change["new"])

    @traitlets.validate("browser_budget_ms")
    def _valid_budget(self, proposal):
        value = proposal["value"]
        if not math.isfinite(value) or value <= 0:
            raise VaekitError(f"browser_budget_ms must be a finite number of milliseconds above 0, got {value}")
        return value

    @traitlets.validate("decoding")
    def _valid_decoding(self, proposal):
        if proposal["value"] not in DECODING:
            raise VaekitError(f"decoding must be 'browser' or 'kernel', got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.observe("z", "label", "decoding")
    def _decode_for_the_page(self, change):
        if self.decoding == "kernel":
            self.send_decoded()

    def send_decoded(self) -> None:
        """Decode the current code here and send its pixels to the page (float32, one buffer); while
        ``decoding`` is "kernel", every change of ``z`` or ``label`` does this."""
        with one_thread():
            pixels = self.decoded()
        self.send({"decoded": True}, buffers=[pixels.numpy().astype(np.float32).tobytes()])
        self.kernel_decodes += 1  # after the pixels: a page that sees the count has them

    @traitlets.validate("temperature")
    def _valid_temperature(self, proposal):
        value = proposal["value"]
        if not 0.25 <= value <= 2.0:
            raise VaekitError(f"the temperature goes from 0.25 to 2, got {value}")
        return value

    @traitlets.observe("temperature")
    def _clip_to_temperature(self, change):
        self.set_code(self.code)  # narrowing clips values beyond the new span

    @property
    def span(self) -> float:
        return SLIDER_SPAN * self.temperature

    @property
    def code(self) -> torch.Tensor:
        """The current code, in dimension order: (latent_size,)."""
        return torch.tensor(self.z, dtype=torch.float32)

    @property
    def code_text(self) -> str:
        return format_code(self.z)

    def decoded(self) -> torch.Tensor:
        """The kernel's decoding of the current code, (pixels,) in [0, 1]: what the canvas shows."""
        labels = torch.tensor([self.label]) if getattr(self.model.config, "num_classes", 0) else None
        return decode_images(self.model, self.code[None], labels)[0]

    def set_code(self, code) -> list[int]:
        """Move every slider at once; return the dimensions clipped to the sliders' range."""
        code = check_code(code, len(self.kl))
        clipped = [d for d in self.dimensions if abs(float(code[d])) > self.span]
        self.z = code.clamp(-self.span, self.span).tolist()
        return clipped

    def randomize(self) -> None:
        """A code drawn from the prior at the current temperature: N(0, T² I)."""
        code = self.temperature * torch.randn(len(self.kl), generator=self.generator)
        clipped = self.set_code(code)
        self.message = (f"{len(clipped)} values beyond ±{self.span:.2f} were clipped to the sliders' range"
                        if clipped else "")

    def reset(self) -> None:
        self.set_code(torch.zeros(len(self.kl)))
        self.message = ""

    def start_from_index(self, index: int) -> None:
        """Set the sliders to test image ``index``'s encoded mean and show the original beside the decoding."""
        index = check_index(index, len(self.data.code_tensor))
        clipped = self.set_code(self.data.code_tensor[index])
        self.index = index
        self.label = int(self.data.label_tensor[index])
        self.shown = index
        self.message = (f"dimensions {clipped} lie beyond ±{self.span:.2f} and were clipped; raise the temperature "
                        "to reach them" if clipped else "")

    def start_from_class(self, label: int) -> int:
        """Start from the next test image of class ``label`` after the one shown; return its index."""
        index = next_index_of_class(self.data, label, after=self.shown)
        self.start_from_index(index)
        return index


    def start_from_drawing(self, pixels, neighbours: int = 5) -> list[int]:
        """Encode a drawn image (pixels in [0, 1], e.g. from the page's drawing canvas), move the sliders to
        its code and return (and show) the ``neighbours`` test images whose codes lie nearest."""
        images, _ = check_images(torch.as_tensor(pixels, dtype=torch.float32)[None], [self.label], self.model)
        mean = encode_means(self.model, images, labels=torch.tensor([self.label]))[0]
        clipped = self.set_code(mean)
        distances = (self.data.code_tensor - mean).norm(dim=1)
        self.nearest = distances.argsort()[:neighbours].tolist()
        self.message = (f"your drawing's code; dimensions {clipped} were clipped to ±{self.span:.2f}" if clipped
                        else "your drawing's code")
        return self.nearest

    def save_gif(self, path: str | os.PathLike | None = None, fps: float = GIF_FPS) -> Path:
        """Every active dimension (most active first, one image each) swept across the sliders' range (±3·T)
        and back, all at once, the others held at the current code; decoded as class ``label`` (a conditional
        model). At the code 0 and T = 1: the GIF ``python -m vaekit animate traversal`` writes. ``path``:
        default ``gif_path``, judged before any frame is drawn. Returns the path written."""
        data, label = self.data, self.label
        return write_gif(self, lambda: animate.traversal_frames(
            self.model, data.image_tensor, GIF_STEPS, self.span, base=self.code, labels=data.label_tensor,
            label=label), path, fps)

    def _on_message(self, widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("request") == "decoded" and self.decoding == "kernel":
            self.send_decoded()  # a new view's first digit
        if isinstance(content, dict) and "drawn" in content:
            try:
                self.start_from_drawing(content["drawn"])
            except VaekitError as exc:
                self.message = str(exc)


def next_index_of_class(data: ModelData, label, after: int = -1) -> int:
    """The first image of class ``label`` after index ``after`` (wrapping round)."""
    names = data.class_names
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(names):
        raise VaekitError(f"a class is a number from 0 to {len(names) - 1}, got {label!r}")
    matches = (data.label_tensor == label).nonzero().flatten()
    if len(matches) == 0:
        raise VaekitError(f"none of the {len(data.label_tensor)} images is {names[label]}; pass more images")
    later = matches[matches > after]
    return int(later[0] if len(later) else matches[0])


def latent_sliders(model, images, labels, seed: int = 0, data: ModelData | None = None,
                   browser_budget_ms: float = BROWSER_BUDGET_MS) -> LatentSliders:
    """The slider explorer for ``model`` (CSS class ``vaekit-latent-sliders``).

    ``images``/``labels``: the test set (or part of it; tensors or NumPy arrays, uint8 or floats in
    [0, 1]): the sliders' KL labels are averaged over these images, and "start from image" chooses among
    them. ``seed`` seeds ``randomize()``. ``data``: a ``ModelData`` to share with other explorers
    (built from model, images and labels when not given). ``browser_budget_ms``: a browser slower than
    this a code hands decoding to the kernel (see the module's docstring).
    """
    data = data if data is not None else ModelData(model, images, labels)
    return LatentSliders(data, seed, browser_budget_ms)
