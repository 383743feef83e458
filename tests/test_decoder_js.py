"""The browser's decoder (vaekit/widgets/decoder.js, run in Node) against PyTorch's: every pixel of
1,000 random codes within 1/255, for each architecture vaekit ships, with the weights as they are sent."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.latent import decode_images
from vaekit.widgets.decoder import FLOAT16_TOLERANCE, decoder_spec, float16_error

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
CODES = 1000


def _models():
    yield "seed (shipped, ELU, sigmoid out)", lambda: vaekit.load(vaekit.pretrained_path("seed"))
    yield "MLP with ReLU", lambda: vaekit.build("seed", seed=1, activation="relu")
    yield "MLP with tanh", lambda: vaekit.build("seed", seed=2, activation="tanh", hidden_sizes=(64, 32))


def _issue10_models():
    """The convolutional and the conditional models (vaekit.models, issue 10)."""
    models = pytest.importorskip("vaekit.models", reason="vaekit.models (conv, conditional) not on this branch yet")
    yield "conv (ReLU, transposed convolutions)", lambda: models.build("conv", seed=3)
    yield "conditional MLP", lambda: models.build("seed", seed=4, num_classes=10)
    yield "conditional conv", lambda: models.build("conv", seed=5, num_classes=10)


def run_in_node(spec: dict, weights: bytes, codes: torch.Tensor, labels, folder: Path) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(spec))
    (folder / "weights.bin").write_bytes(weights)
    (folder / "codes.bin").write_bytes(codes.numpy().astype(np.float32).tobytes())
    (folder / "labels.json").write_text(json.dumps(labels))
    subprocess.run([NODE, str(ROOT / "tests" / "js" / "decode.mjs"), str(folder)], check=True, capture_output=True)
    return np.frombuffer((folder / "pixels.bin").read_bytes(), dtype=np.float32).reshape(len(codes), spec["pixels"])


def check_model(model, tmp_path: Path, dtype: str) -> float:
    model.eval()
    spec, weights = decoder_spec(model)
    spec["dtype"] = dtype
    generator = torch.Generator().manual_seed(0)
    codes = 1.5 * torch.randn(CODES, model.config.latent_size, generator=generator)
    classes = getattr(model.config, "num_classes", 0)
    labels = torch.randint(classes, (CODES,), generator=generator) if classes else None
    expected = decode_images(model, codes, labels).numpy()
    got = run_in_node(spec, weights.astype(dtype).tobytes(), codes, labels.tolist() if classes else [None] * CODES,
                      tmp_path / dtype)
    return float(np.abs(got - expected).max())


@pytest.mark.skipif(NODE is None, reason="needs Node (the test runs the browser's JavaScript outside a browser)")
@pytest.mark.parametrize("name, make", [*_models()], ids=lambda v: v if isinstance(v, str) else "")
def test_javascript_decodes_like_pytorch(name, make, tmp_path):
    model = make()
    _, weights = decoder_spec(model)
    assert check_model(model, tmp_path, "float32") <= 1 / 255
    if float16_error(model, weights) <= FLOAT16_TOLERANCE:  # what the widget then sends
        assert check_model(model, tmp_path, "float16") <= 1 / 255


@pytest.mark.skipif(NODE is None, reason="needs Node (the test runs the browser's JavaScript outside a browser)")
def test_javascript_decodes_the_conv_and_conditional_models_like_pytorch(tmp_path):
    for name, make in _issue10_models():
        model = make()
        _, weights = decoder_spec(model)
        dtypes = ["float32"] + (["float16"] if float16_error(model, weights) <= FLOAT16_TOLERANCE else [])
        for dtype in dtypes:
            assert check_model(model, tmp_path / name.replace(" ", "_"), dtype) <= 1 / 255, (name, dtype)


def test_a_layer_without_javascript_is_a_clear_error():
    model = vaekit.build("seed", seed=0)
    model.decoder.append(torch.nn.Sigmoid())
    with pytest.raises(vaekit.VaekitError, match="no JavaScript for Sigmoid layers"):
        decoder_spec(model)
