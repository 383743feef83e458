"""Numeric precision for training: bfloat16 autocast (``--fast``) and the layers kept in float32.

The model computes in whatever precision it is given; the trainer decides. Under
``--fast`` the networks' matrix products run in bfloat16, but three layers keep
float32 because their outputs feed sums over many terms: the two heads (the KL's
exp and log) and the decoder's output layer (with bfloat16 logits the test loss
ended about 1.8 nats worse after 10 epochs; benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch import nn


def float32_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose outputs stay float32 under autocast."""
    return [model.mean_head, model.scale_head, model.output_layer]


def _float32_forward(forward):
    @functools.wraps(forward)
    def run(x, *args, **kwargs):
        with torch.autocast(x.device.type, enabled=False):
            return forward(x.float(), *args, **kwargs)

    run.vaekit_float32 = True
    return run


def keep_float32(model: nn.Module) -> None:
    """Make ``float32_layers(model)`` compute in float32 even inside an autocast region (idempotent)."""
    for layer in float32_layers(model):
        if not getattr(layer.forward, "vaekit_float32", False):
            layer.forward = _float32_forward(layer.forward)


def autocast(model: nn.Module, device: torch.device, enabled: bool):
    """The context the trainer runs each step's forward pass in: bfloat16 autocast when ``enabled``."""
    if not enabled:
        return contextlib.nullcontext()
    keep_float32(model)
    return torch.autocast(device.type, dtype=torch.bfloat16)
