"""The decoder, sent to the browser once: its layers as a spec, its parameters as one typed buffer.

``decoder_spec(model)`` describes the decoder (an ``nn.Sequential`` of Linear, ELU/ReLU/Tanh,
Unflatten, ConvTranspose2d and Flatten layers: every architecture vaekit ships) for ``decoder.js``,
which decodes a code in plain JavaScript on every input event. ``ModelData`` is the widget that carries
it, with the test images, their mean codes and their labels; every explorer of the same model points at
one ``ModelData``, so a notebook sends the weights once however many explorers it shows.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import numpy as np
import torch
import traitlets
from torch import nn

from ..errors import VaekitError
from ..latent import decode_images, encode_posteriors
from ._common import check_images, esm

HERE = Path(__file__).parent
# float16 weights are sent when they move no pixel by more than this (of 1): half the 1/255 step of the
# canvas, leaving the other half for JavaScript's float rounding against PyTorch's
FLOAT16_TOLERANCE = 0.5 / 255
_ACTIVATIONS = {nn.ELU: "elu", nn.ReLU: "relu", nn.Tanh: "tanh"}


def decoder_spec(model) -> tuple[dict, np.ndarray]:
    """(spec, parameters as one float32 array) for decoder.js; VaekitError for a layer it cannot run."""
    config = model.config
    parameters: list[np.ndarray] = []
    offset = 0

    def add(tensor: torch.Tensor) -> int:
        nonlocal offset
        start = offset
        array = tensor.detach().cpu().float().numpy().ravel()
        parameters.append(array)
        offset += array.size
        return start

    layers = []
    for layer in model.decoder:
        if isinstance(layer, nn.Linear):
            layers.append({"type": "linear", "in": layer.in_features, "out": layer.out_features,
                           "weight": add(layer.weight), "bias": add(layer.bias)})
        elif type(layer) in _ACTIVATIONS:
            if isinstance(layer, nn.ELU) and layer.alpha != 1.0:
                raise VaekitError(f"the browser decoder runs ELU with alpha 1 only, not {layer.alpha}")
            layers.append({"type": _ACTIVATIONS[type(layer)]})
        elif isinstance(layer, nn.Unflatten):
            layers.append({"type": "unflatten", "shape": list(layer.unflattened_size)})
        elif isinstance(layer, nn.ConvTranspose2d):
            k, stride, padding, extra = layer.kernel_size, layer.stride, layer.padding, layer.output_padding
            if len(set(k)) > 1 or len(set(stride)) > 1 or len(set(padding)) > 1 or len(set(extra)) > 1 \
                    or layer.groups != 1 or layer.dilation != (1, 1) or layer.bias is None:
                raise VaekitError("the browser decoder runs square, ungrouped, undilated transposed convolutions "
                                  f"with a bias only; got {layer}")
            layers.append({"type": "conv_transpose", "cin": layer.in_channels, "cout": layer.out_channels,
                           "k": k[0], "stride": stride[0], "padding": padding[0], "output_padding": extra[0],
                           "weight": add(layer.weight), "bias": add(layer.bias)})
        elif isinstance(layer, nn.Flatten):
            layers.append({"type": "flatten"})
        else:
            raise VaekitError(f"the browser decoder has no JavaScript for {type(layer).__name__} layers; "
                              "decode in the kernel instead")
    image_shape = list(getattr(config, "image_shape", (1, 28, 28)))
    spec = {
        "latent": config.latent_size,
        "classes": getattr(config, "num_classes", 0),
        "image_shape": image_shape,
        "pixels": int(np.prod(image_shape)),
        "layers": layers,
    }
    return spec, np.concatenate(parameters).astype(np.float32)


def _with_weights(model, weights: np.ndarray):
    """A copy of ``model`` whose decoder holds ``weights`` (laid out as decoder_spec lays them out)."""
    import copy

    clone = copy.deepcopy(model).cpu().float()
    offset = 0
    with torch.no_grad():
        for layer in clone.decoder:
            for parameter in (getattr(layer, "weight", None), getattr(layer, "bias", None)):
                if isinstance(parameter, torch.Tensor):
                    n = parameter.numel()
                    parameter.copy_(torch.from_numpy(weights[offset:offset + n].copy()).reshape(parameter.shape))
                    offset += n
    return clone


def float16_error(model, weights: np.ndarray, codes: int = 256, seed: int = 0) -> float:
    """The largest change of any pixel (of 1) when the decoder's weights are rounded to float16,
    over ``codes`` codes drawn from the prior (and random classes, for a conditional model)."""
    rounded = _with_weights(model, weights.astype(np.float16).astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(codes, model.config.latent_size, generator=generator)
    classes = getattr(model.config, "num_classes", 0)
    labels = torch.randint(classes, (codes,), generator=generator) if classes else None
    exact, half = (decode_images(m, z, labels) for m in (model, rounded))
    return float((exact - half).abs().max())


class ModelData(anywidget.AnyWidget):
    """What every explorer of one model reads in the browser: the decoder and the test set.

    Synced traits (small): ``spec`` (the decoder's layers, and ``dtype``: float16 where that moves no
    pixel by more than ``FLOAT16_TOLERANCE``, else float32), ``labels`` (the class of each image),
    ``class_names``. The rest is ``payload()``, sent once as binary buffers when a page first asks for it
    (data.js): the decoder's ``weights``; ``codes`` and ``stds``, each image's q(z|x) (its mean and standard
    deviation, float32 (N, latent)); ``images``, uint8 (N, pixels). Sent as traits, megabytes of state made
    Voilà's first load of the widgets miss ipywidgets' 4 s deadline on a busy machine, and the page showed
    "model not found". The page keeps what it received in the model's browser-side state, so a notebook saved
    with its widget state (JupyterLab) carries it, and nbconvert's page of it decodes with no kernel. Only the
    first ``max_images`` images are kept. It shows nothing itself.
    """

    _esm = esm(HERE / "model_data.js")
    spec = traitlets.Dict().tag(sync=True)
    labels = traitlets.List(traitlets.Int()).tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, model, images, labels, weights_dtype: str = "auto", max_images: int | None = None):
        images, labels = check_images(images, labels, model)
        if max_images is not None:
            images, labels = images[:max_images], labels[:max_images]  # the first ones: the page's index is theirs
        spec, weights = decoder_spec(model)
        if weights_dtype == "auto":
            weights_dtype = "float16" if float16_error(model, weights) <= FLOAT16_TOLERANCE else "float32"
        if weights_dtype not in ("float16", "float32"):
            raise VaekitError(f"weights_dtype must be 'auto', 'float16' or 'float32', got {weights_dtype!r}")
        spec["dtype"] = weights_dtype
        self.model = model
        self.image_tensor = images  # float32 (N, pixels) in [0, 1]
        self.label_tensor = labels
        self.code_tensor, self.std_tensor = encode_posteriors(model, images, labels)  # (N, latent) each
        self._payload = {
            "weights": weights.astype(weights_dtype).tobytes(),
            "codes": self.code_tensor.numpy().astype(np.float32).tobytes(),
            "stds": self.std_tensor.numpy().astype(np.float32).tobytes(),
            "images": (images * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy().tobytes(),
        }
        super().__init__(spec=spec, labels=[int(v) for v in labels], class_names=_class_names(model))
        self.payloads_sent = 0
        self.on_msg(self._on_message)

    def payload(self) -> dict[str, bytes]:
        """The binary part: {"weights", "codes", "stds", "images"} (see the class's docstring)."""
        return dict(self._payload)

    def _on_message(self, widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("request") == "payload":
            self.send({"payload": list(PAYLOAD_ORDER)}, buffers=[self._payload[k] for k in PAYLOAD_ORDER])
            self.payloads_sent += 1


PAYLOAD_ORDER = ("weights", "codes", "stds", "images")


def _class_names(model) -> list[str]:
    info = getattr(model, "data_info", None)
    return list(info.class_names) if info is not None else [str(d) for d in range(10)]
