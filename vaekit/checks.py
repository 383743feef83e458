"""What a caller hands vaekit, judged in one place: images, labels, codes, a temperature.

NumPy arrays are welcome and become tensors; uint8 pixels (0-255) become intensities in [0, 1];
float64 becomes float32. Anything that would silently give nonsense -- NaN or infinite values,
float pixels on the 0-255 scale, a code of the wrong length -- is a VaekitError that says what
was wrong and what to pass instead. The widgets, ``plot_images`` and the models' ``sample`` and
``reconstruct`` call these; the training loop's hot path does not.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

from .errors import VaekitError


def _tensor(value, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            return torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise VaekitError(f"{what} must be numbers, got {type(value).__name__} that cannot be one: {exc}") from None
    raise VaekitError(f"{what} must be a tensor or a NumPy array, got {type(value).__name__}")


def images(value, input_size: int | None = None, what: str = "images") -> torch.Tensor:
    """(N, C*H*W) float32 intensities in [0, 1] from a tensor or array of uint8 or floats; (N, C, H, W) is flattened."""
    x = _tensor(value, what)
    if x.dtype == torch.bool or not (x.dtype == torch.uint8 or x.is_floating_point()):
        raise VaekitError(f"{what} must hold uint8 pixels (0-255) or floats in [0, 1], got {x.dtype}")
    if x.ndim < 2:
        raise VaekitError(
            f"{what} must be a batch, (N, pixels) or (N, channels, height, width); got shape {tuple(x.shape)}"
        )
    x = x.flatten(1)
    if input_size is not None and x.shape[1] != input_size:
        raise VaekitError(f"{what} must be (N, {input_size}) pixels, one row per image; got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise VaekitError(f"{what} hold {bad} NaN or infinite pixel values; pass intensities in [0, 1]")
    if x.numel() and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        hint = "; they look like 0-255 values: divide by 255, or pass them as uint8" if x.max() > 1.5 else ""
        raise VaekitError(f"{what} must be intensities in [0, 1], got values from {x.min():.3g} to {x.max():.3g}{hint}")
    return x


def labels(value, n: int, what: str = "labels") -> torch.Tensor:
    """(n,) int64 class labels from a tensor or array of integers."""
    y = _tensor(value, what)
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise VaekitError(f"{what} must be {n} integers (class indices), one per image; got {y.dtype}")
    if tuple(y.shape) != (n,):
        raise VaekitError(f"{what} must be {n} integers, one class per image; got shape {tuple(y.shape)}")
    return y.to(torch.int64)


def codes(value, latent_size: int, what: str = "a code") -> torch.Tensor:
    """Finite float32 codes: (latent_size,) or (N, latent_size), as given."""
    z = _tensor(value, what)
    if not (z.is_floating_point() or z.dtype in (torch.int64, torch.int32)):
        raise VaekitError(f"{what} must be numbers, got {z.dtype}")
    z = z.to(torch.float32)
    if z.shape[-1:] != (latent_size,) or z.ndim > 2:
        raise VaekitError(
            f"{what} has {latent_size} values (shape ({latent_size},) or (N, {latent_size})), "
            f"got shape {tuple(z.shape)}"
        )
    if not torch.isfinite(z).all():
        raise VaekitError(f"{what} holds NaN or infinite values; every value must be a finite number")
    return z


def index(value, n: int, what: str = "test image") -> int:
    """An integer from 0 to n - 1 (NumPy integers welcome; a bool is not an index)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < n:
        raise VaekitError(f"there is no {what} {value!r}: choose an index from 0 to {n - 1}")
    return int(value)


def temperature(value, what: str = "the temperature") -> float:
    """A finite positive number (the prior's scale)."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.number)) or not math.isfinite(value) or value <= 0:
        raise VaekitError(f"{what} must be a finite number above 0 (1 is the prior itself), got {value!r}")
    return float(value)
