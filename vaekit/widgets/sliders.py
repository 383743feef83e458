"""The latent sliders: one slider per code dimension, most informative first, decoded in the browser.

The browser decodes the code on every input event (``sliders.js``) and tells the kernel the new code
(``z``); Python reads and sets ``z`` (and everything else below), and the page follows.
"""

from __future__ import annotations

import anywidget
import torch
import traitlets
from ipywidgets import widget_serialization

from ..errors import VaekitError
from ..latent import decode_images, kl_per_dimension
from ._common import INACTIVE_KL, SLIDER_SPAN, check_code, check_index, esm, format_code
from .decoder import HERE, ModelData


class LatentSliders(anywidget.AnyWidget):
    """Sliders over the code, a decoded digit, and an original image to start from.

    Built by ``latent_sliders``. Synced traits: ``z`` (the code, dimension order), ``temperature``
    (sliders span ±3·T), ``index`` (the image chooser), ``shown`` (the image shown as the original, -1
    for none), ``label`` (a conditional model's class to decode), ``message``. ``dimensions``: code
    dimensions most active first (the sliders' order); ``kl``: each dimension's average KL (nats).
    In the page: ``.vaekit-latent-slider`` (``input[type=range]``, ``data-dimension``), ``canvas.vaekit-decoded``,
    ``canvas.vaekit-original``, ``.vaekit-random``, ``.vaekit-reset``, ``.vaekit-digit-index input``,
    ``.vaekit-digit-class select``, ``.vaekit-from-digit``, ``.vaekit-range input``, ``.vaekit-code``,
    ``.vaekit-message``, ``.vaekit-band`` (q(z|x)'s mean ± σ on each slider); ``data-kernel-code`` on the
    widget's element: ``kernel_code``.
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

    def __init__(self, data: ModelData, seed: int = 0):
        model = data.model
        kl = kl_per_dimension(model, data.image_tensor, labels=data.label_tensor)  # (latent,) nats per image
        # Most informative first, ties broken by dimension number so the order is reproducible.
        dimensions = sorted(range(len(kl)), key=lambda d: (-float(kl[d]), d))
        super().__init__(data=data, z=[0.0] * len(kl), dimensions=dimensions, kl=[float(k) for k in kl])
        self.add_class("vaekit-latent-sliders")
        self.model = model
        self.generator = torch.Generator().manual_seed(seed)
        self.kernel_code = format_code(self.z)

    @traitlets.validate("z")
    def _valid_z(self, proposal):
        return check_code(proposal["value"], len(self.kl)).tolist()

    @traitlets.observe("z")
    def _acknowledge(self, change):
        self.kernel_code = format_code(change["new"])

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
        self.message = f"{len(clipped)} values beyond ±{self.span:.2f} were clipped to the sliders' range" if clipped else ""

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


def latent_sliders(model, images, labels, seed: int = 0, data: ModelData | None = None) -> LatentSliders:
    """The slider explorer for ``model`` (CSS class ``vaekit-latent-sliders``).

    ``images``/``labels``: the test set (or part of it; tensors or NumPy arrays, uint8 or floats in
    [0, 1]): the sliders' KL labels are averaged over these images, and "start from image" chooses among
    them. ``seed`` seeds ``randomize()``. ``data``: a ``ModelData`` to share with other explorers
    (built from model, images and labels when not given).
    """
    data = data if data is not None else ModelData(model, images, labels)
    return LatentSliders(data, seed)
