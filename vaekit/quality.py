"""How good are the samples? Judged by the dataset's small classifier, offline.

- The class histogram of N prior samples and its entropy: does the model draw
  every class, and about equally (entropy near log 10 = 2.303 nats), or mostly
  1s and 8s?
- The Fréchet distance (Heusel et al. 2017, the "F" of FID) between the
  classifier's features of real test images and of samples: the two feature
  clouds, each summarised by its mean and covariance, compared as Gaussians,

      d^2 = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2).

  Like FID it is biased upwards for small N and only comparable at the same N
  and with the same features, so two reference rows come with it: the second
  half of the test set against the first (the floor: real against real), and
  the reconstructions of the second half (how far the decoder alone is off).
"""

from __future__ import annotations

import math

import torch

from . import classifier as clf
from .data import to_float

MAX_SAMPLES = 100_000


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` (N, F) and ``b`` (M, F)."""
    a, b = a.double(), b.double()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    # tr((S_a S_b)^1/2) = tr((S_a^1/2 S_b S_a^1/2)^1/2): a symmetric matrix, so eigenvalues do it stably.
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_root
    return max(distance.item(), 0.0)


def entropy(fractions: torch.Tensor) -> float:
    """Entropy in nats of a histogram given as fractions summing to 1 (0 log 0 = 0)."""
    p = fractions[fractions > 0].double()
    return float(-(p * p.log()).sum())


def _conditional(model) -> int:
    return model.config.num_classes


@torch.no_grad()
def _samples(model, n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    classes = _conditional(model)
    if classes:  # a conditional model draws each class in turn
        return model.sample(n, labels=torch.arange(n) % classes, generator=generator)
    return model.sample(n, generator=generator)


@torch.no_grad()
def _reconstructions(model, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    parts = []
    for start in range(0, len(images), 1000):
        batch = to_float(images[start : start + 1000])
        parts.append(model.reconstruct(batch, labels[start : start + 1000] if _conditional(model) else None))
    return torch.cat(parts)


def sample_quality(
    model,
    classifier: clf.Classifier,
    test_images: torch.Tensor,
    n_samples: int,
    test_labels: torch.Tensor | None = None,
    seed: int = 0,
) -> dict:
    """The class histogram of ``n_samples`` prior samples and Fréchet distances with their reference rows.

    Returns ``{"histogram": (classes,) fractions, "entropy": nats, "max_entropy": log(classes),
    "frechet": {"samples": d, "reconstructions": d, "test, second half": d}, "n_reference": N}``;
    every distance is to the classifier's features of the first half of ``test_images``.
    """
    if not 2 <= n_samples <= MAX_SAMPLES:
        raise ValueError(f"n_samples must be from 2 to {MAX_SAMPLES:,}, got {n_samples}")
    model = model.cpu().eval()
    half = len(test_images) // 2
    reference, _ = clf.apply(classifier, test_images[:half])
    floor, _ = clf.apply(classifier, test_images[half:])
    labels = None if test_labels is None else test_labels[half:]
    rebuilt, _ = clf.apply(classifier, _reconstructions(model, test_images[half:], labels))
    sampled, probabilities = clf.apply(classifier, _samples(model, n_samples, seed))
    classes = len(classifier.config.class_names)
    histogram = torch.bincount(probabilities.argmax(1), minlength=classes).double() / n_samples
    return {
        "histogram": histogram,
        "entropy": entropy(histogram),
        "max_entropy": math.log(classes),
        "frechet": {
            "samples": frechet_distance(reference, sampled),
            "reconstructions": frechet_distance(reference, rebuilt),
            "test, second half": frechet_distance(reference, floor),
        },
        "n_reference": half,
    }
