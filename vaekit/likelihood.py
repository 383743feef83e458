"""How well a trained VAE explains data: the importance-weighted bound on -log p(x).

The ELBO is a lower bound on log p(x) that is loose by KL(q(z|x) || p(z|x)).
Burda, Grosse & Salakhutdinov ("Importance Weighted Autoencoders", 2015,
https://arxiv.org/abs/1509.00519) tighten it by drawing k codes from q(z|x):

    log p(x) >= E[ log (1/k) sum_i w_i ],   w_i = p(x|z_i) p(z_i) / q(z_i|x)

For k = 1 this is the ELBO (estimated by sampling instead of the closed-form
KL); it grows with k and reaches log p(x) as k -> infinity. Published MNIST
likelihoods (e.g. 86.76 nats for a one-layer VAE in that paper) are this bound
with k = 5000 on *binarized* images: on grey levels the Bernoulli "likelihood"
is not a probability of the data and must not be compared with them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .data import to_float
from .errors import VaekitError
from .model import VAE

LOG_2PI = math.log(2 * math.pi)
# Decoded samples per chunk: about 16 M floats of logits, ~60 MB, whatever k is.
# It also sets how many images share one draw of noise (``batch_size``), so it
# must not change: the bound of a model and seed would move.
SAMPLES_PER_CHUNK = 20_000
# The conv decoder keeps ~40,000 floats of activations a sample (64 x 14 x 14 +
# 32 x 28 x 28 + ...), 25 times the MLP's: 20,000 samples at once are ~3.5 GB,
# far out of the caches, and ran slower than chunks of 100 here. Chunks draw the
# same noise in the same order, so the bound is the same up to float rounding
# (tests/test_likelihood.py).
DECODES_PER_CHUNK = {"conv": 100}


def _standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.square() + LOG_2PI).sum(dim=-1)


@torch.no_grad()
def log_importance_weights(
    model: VAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None
) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) - log q(z|x) for k codes per image: (k, B).

    The codes are drawn exactly as the model's ``reparameterize`` draws them,
    one (B, latent) block of noise per sample, so k = 1 with the same generator
    uses the same code as ``model.loss``. A conditional model takes the classes ``y``.
    """
    mean, scale = model.encode(x, y)  # (B, L)
    std = model.std(scale)
    # The seed's sigma head may output a negative sigma: sigma * eps has the
    # same law as |sigma| * eps, so q's density uses |sigma|.
    log_std = std.abs().log()
    rows = []
    per_chunk = max(1, DECODES_PER_CHUNK.get(model.config.arch, SAMPLES_PER_CHUNK) // len(x))
    for start in range(0, k, per_chunk):
        n = min(per_chunk, k - start)
        # (n, B, L)
        eps = torch.stack([torch.randn(mean.shape, generator=generator, device=mean.device) for _ in range(n)])
        z = mean + std * eps
        labels = None if y is None else y.repeat(n)
        logits = model.decode(z.reshape(-1, z.shape[-1]), labels).reshape(n, len(x), -1)  # (n, B, 784)
        # Bernoulli log p(x|z) = sum_d x_d * l_d - softplus(l_d): the same as the
        # loss's cross-entropy, without materialising x for every sample.
        log_px_given_z = torch.einsum("nbd,bd->nb", logits, x) - F.softplus(logits).sum(dim=-1)
        log_qz = (-0.5 * (eps.square() + LOG_2PI) - log_std).sum(dim=-1)  # (z - mean) / std = eps
        rows.append(log_px_given_z + _standard_normal_log_density(z) - log_qz)
    return torch.cat(rows)


@torch.no_grad()
def importance_weighted_bound(
    model: VAE,
    images: torch.Tensor,
    k: int = 1000,
    seed: int = 0,
    batch_size: int | None = None,
    labels: torch.Tensor | None = None,
) -> dict:
    """The importance-weighted upper bound on -log p(x), in nats per image.

    Returns ``{"nll": mean bound, "stderr": its standard error over images,
    "k": k, "images": n, "per_image": (n,) tensor}``. The noise is seeded, so
    the same model and images give the same number. ``k = 1`` estimates the
    negative ELBO; larger k gives a tighter (smaller) bound.
    """
    if not isinstance(k, int) or k < 1:
        raise VaekitError(f"k must be a positive integer, got {k!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    batch_size = batch_size or max(1, min(len(images), SAMPLES_PER_CHUNK // min(k, SAMPLES_PER_CHUNK)))
    bounds = []
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size].to(device))
        y = None if labels is None else labels[start : start + batch_size].to(device)
        log_w = log_importance_weights(model, x, k, generator, y)  # (k, B)
        bounds.append(math.log(k) - torch.logsumexp(log_w, dim=0))
    model.train(was_training)
    per_image = torch.cat(bounds).cpu()
    n = len(per_image)
    stderr = per_image.std().item() / math.sqrt(n) if n > 1 else float("nan")
    return {"nll": per_image.mean().item(), "stderr": stderr, "k": k, "images": n, "per_image": per_image}
