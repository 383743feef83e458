"""Walking the code space: interpolation between codes, and encoding many images."""

from __future__ import annotations

import torch

from .data import to_float
from .model import VAE


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """``steps`` codes from z0 to z1 (both included): (steps, latent_size).

    "linear" follows the straight line. "spherical" (slerp, Shoemake 1985) keeps
    the norm between the two endpoints' norms: halfway along a straight line
    between two typical codes the norm shrinks by about 1/sqrt(2), towards the
    prior's low-density centre, and the decodings there look washed out.
    """
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    t = torch.linspace(0, 1, steps, device=z0.device, dtype=z0.dtype)[:, None]  # (steps, 1)
    if method == "linear":
        return (1 - t) * z0 + t * z1
    if method != "spherical":
        raise ValueError(f"method must be 'linear' or 'spherical', got {method!r}")
    n0, n1 = z0.norm(), z1.norm()
    cos = torch.clamp(torch.dot(z0 / n0, z1 / n1), -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:  # nearly parallel: slerp tends to lerp
        return (1 - t) * z0 + t * z1
    directions = (torch.sin((1 - t) * omega) * (z0 / n0) + torch.sin(t * omega) * (z1 / n1)) / torch.sin(omega)
    return directions * ((1 - t) * n0 + t * n1)


@torch.no_grad()
def encode_means(
    model: VAE, images: torch.Tensor, batch_size: int = 1000, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """The mean code of each image: (N, latent_size), on the CPU (a conditional model takes ``labels``)."""
    means = [mean.cpu() for mean, _ in _encoded(model, images, labels, batch_size)]
    return torch.cat(means)


def _encoded(model: VAE, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int):
    """(mean, scale) of each batch of ``images``, encoded on the model's device."""
    device = next(model.parameters()).device
    for i in range(0, len(images), batch_size):
        y = None if labels is None else labels[i : i + batch_size].to(device)
        yield model.encode(to_float(images[i : i + batch_size].to(device)), y)


@torch.no_grad()
def encode_posteriors(model: VAE, images: torch.Tensor, labels: torch.Tensor | None = None,
                      batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """q(z|x) of each image: its mean and standard deviation, (N, latent_size) each, on the CPU."""
    pairs = [(mean.cpu(), model.std(scale).cpu()) for mean, scale in _encoded(model, images, labels, batch_size)]
    return torch.cat([m for m, _ in pairs]), torch.cat([s for _, s in pairs])


@torch.no_grad()
def kl_per_dimension(
    model: VAE, images: torch.Tensor, batch_size: int = 1000, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Average KL of each code dimension over ``images``: (latent_size,), in nats.

    A dimension whose KL is near 0 carries no information about the input (its
    code is the prior whatever the image): the decoder learns to ignore it, so
    moving it barely changes the picture.
    """
    total = torch.zeros(model.config.latent_size)
    for mean, scale in _encoded(model, images, labels, batch_size):
        single = [
            model.kl_divergence(mean[:, d : d + 1], scale[:, d : d + 1]).sum().cpu() for d in range(mean.shape[1])
        ]
        total += torch.stack(single)
    return total / len(images)


def _device(model: VAE) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def decode_images(model: VAE, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """(N, latent) codes -> (N, pixels) intensities in [0, 1], on the CPU. ``labels``: for a conditional model."""
    device = _device(model)
    return torch.sigmoid(model.decode(codes.to(device), None if labels is None else labels.to(device))).cpu()


def principal_directions(codes: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of codes (N, latent): (centre (latent,), directions (k, latent), explained variance ratios (k,))."""
    centre = codes.mean(dim=0)
    _, singular, vh = torch.linalg.svd(codes - centre, full_matrices=False)
    variance = singular.square()
    return centre, vh[:k], variance[:k] / variance.sum()


def grid_codes(n: int = 15, span: float = 3.0) -> torch.Tensor:
    """An n x n grid of 2-D codes over [-span, span]^2, row by row from the top left: (n * n, 2).

    Decoded, it is the learnt manifold of a model with a 2-D code (Kingma & Welling's figure 4);
    the top row has the largest second coordinate, as on a plot's y axis.
    """
    values = torch.linspace(-span, span, n)
    y, x = torch.meshgrid(values.flip(0), values, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)
