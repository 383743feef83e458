"""The browser's decoder (vaekit/widgets/decoder.js, run in Node) against PyTorch's: every pixel of
1,000 random codes within 1/255, for each architecture vaekit ships, with the weights as ModelData sends
them (float16 where that keeps every pixel within FLOAT16_TOLERANCE, else float32)."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit import models
from vaekit.latent import decode_images
from vaekit.widgets.decoder import FLOAT16_TOLERANCE, decoder_spec, float16_error

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
CODES = 1000


MODELS = {
    "seed (shipped, ELU)": lambda: vaekit.load(vaekit.pretrained_path("seed")),
    "MLP with ReLU": lambda: models.build("seed", seed=1, activation="relu"),
    "MLP with tanh": lambda: models.build("seed", seed=2, activation="tanh", hidden_sizes=(64, 32)),
    "conv (ReLU, transposed convolutions)": lambda: models.build("conv", seed=3),
    "conditional MLP": lambda: models.build("seed", seed=4, num_classes=10),
    "conditional conv": lambda: models.build("conv", seed=5, num_classes=10),
}


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
@pytest.mark.parametrize("name", MODELS)
def test_javascript_decodes_like_pytorch(name, tmp_path):
    model = MODELS[name]()
    _, weights = decoder_spec(model)
    sent = "float16" if float16_error(model, weights) <= FLOAT16_TOLERANCE else "float32"  # as ModelData does
    assert check_model(model, tmp_path, sent) <= 1 / 255


def test_a_layer_without_javascript_is_a_clear_error():
    model = vaekit.build("seed", seed=0)
    model.decoder.append(torch.nn.Sigmoid())
    with pytest.raises(vaekit.VaekitError, match="no JavaScript for Sigmoid layers"):
        decoder_spec(model)
