"""The β lab: rate against distortion over a sweep of β, and the sigma head with and without KL warm-up.

A VAE's negative ELBO is distortion D (the reconstruction term) plus rate R (the KL, the nats the code
carries about the image). Training with ``beta`` minimises D + beta * R (Higgins et al. 2017): beta > 1
buys a simpler code with blurrier reconstructions, beta < 1 the reverse. Every run lands somewhere on
the (R, D) plane; lines R + D = const are lines of equal −ELBO (Alemi et al. 2018, "Fixing a Broken
ELBO"). ``run`` trains the sweep and the warm-up pair; ``python -m vaekit beta-lab --out FILE.json``
writes the results that notebook 05 plots.
"""

from __future__ import annotations

import base64
import json
import math
import os
from dataclasses import asdict
from pathlib import Path

import torch

from .errors import VaekitError
from .models import build
from .train import TrainConfig, fit

BETAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
SAMPLES = 16  # decoded prior codes kept per beta
FORMAT = "vaekit-beta-lab"


def _samples(model, seed: int) -> str:
    """16 prior samples as base64 of their uint8 pixels (JSON-friendly, 17 KB for MNIST)."""
    images = model.sample(SAMPLES, generator=torch.Generator().manual_seed(seed))
    return base64.b64encode(images.mul(255).round().to(torch.uint8).numpy().tobytes()).decode()


def decode_samples(text: str, pixels: int = 784) -> torch.Tensor:
    """The inverse of the JSON's ``samples`` field: (16, pixels) floats in [0, 1]."""
    raw = base64.b64decode(text.encode(), validate=True)
    if len(raw) % pixels:
        raise VaekitError(f"samples of {len(raw)} bytes are not whole images of {pixels} pixels")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, pixels).float() / 255


def _one(data, preset: str, config: TrainConfig, seed: int) -> dict:
    model = build(preset, seed=seed)
    model.data_info = data.info
    history = fit(model, data.train_images, data.test_images, config,
                  train_labels=data.train_labels, test_labels=data.test_labels)
    last = history["epochs"][-1]
    return {
        "beta": config.beta,
        "kl_warmup": config.kl_warmup,
        "preset": preset,
        "rate": last["test_kl"],  # nats per test image
        "distortion": last["test_reconstruction"],
        "negative_elbo": last["test_total"],
        "epochs": [{k: r[k] for k in ("epoch", "train_total", "test_total", "test_reconstruction", "test_kl")}
                   for r in history["epochs"]],
        "batch_losses": history["batch_losses"],
        "samples": _samples(model, seed),
    }


def run(data, betas=BETAS, epochs: int = 10, warmup: int = 5, preset: str = "logvar", seed: int = 42,
        on_run=None) -> dict:
    """Train one ``preset`` model per beta, and the seed (sigma head) with and without ``warmup`` epochs of
    KL warm-up; ``on_run(name, result)`` reports each run as it ends."""
    results = {"format": FORMAT, "dataset": data.info.name, "train_images": len(data.train_images),
               "test_images": len(data.test_images), "epochs": epochs, "sweep": [], "warmup": {}}
    for beta in betas:
        result = _one(data, preset, TrainConfig(epochs=epochs, beta=float(beta), seed=seed), seed)
        results["sweep"].append(result)
        if on_run:
            on_run(f"{preset}, beta {beta:g}", result)
    for name, kl_warmup in (("without", 0), ("with", warmup)):
        result = _one(data, "seed", TrainConfig(epochs=epochs, kl_warmup=kl_warmup, seed=seed), seed)
        results["warmup"][name] = result
        if on_run:
            on_run(f"seed, KL warm-up {kl_warmup} epochs", result)
    results["train_config"] = asdict(TrainConfig(epochs=epochs, seed=seed))
    return results


def save(results: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results) + "\n")
    return path


def load(path: str | os.PathLike) -> dict:
    """Results written by ``beta-lab``, checked before use."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise VaekitError(f"cannot read beta-lab results {path}: {exc}") from exc
    ok = isinstance(results, dict) and results.get("format") == FORMAT and isinstance(results.get("sweep"), list)
    if ok:
        runs = results["sweep"] + list(results.get("warmup", {}).values())
        ok = all(isinstance(r, dict) and all(isinstance(r.get(k), (int, float)) and math.isfinite(r[k])
                                             for k in ("beta", "rate", "distortion")) for r in runs)
    if not ok:
        raise VaekitError(f"{path} is not a beta-lab results file (python -m vaekit beta-lab --out FILE.json)")
    return results
