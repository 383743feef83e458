"""Which device to compute on."""

from __future__ import annotations

import torch

from .errors import TrainingError


def pick_device(name: str = "auto") -> torch.device:
    """CUDA if present, then Apple's MPS, else the CPU; or exactly the device asked for."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for, but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise TrainingError("--device mps was asked for, but this PyTorch has no MPS backend; use --device cpu or auto")
    return torch.device(name)
