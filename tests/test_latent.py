"""Paths through the code space."""

import pytest
import torch

from vaekit import build
from vaekit.latent import encode_means, interpolate, kl_per_dimension


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_starts_and_ends_at_the_endpoints(method):
    z0 = torch.randn(20, generator=torch.Generator().manual_seed(0))
    z1 = torch.randn(20, generator=torch.Generator().manual_seed(1))
    path = interpolate(z0, z1, 7, method)
    assert path.shape == (7, 20)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)


def test_linear_midpoint_and_spherical_norms():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    assert interpolate(z0, z1, 3, "linear")[1].tolist() == pytest.approx([1.5, 1.5])
    # slerp between two codes of norm 3 stays on the circle of radius 3
    norms = interpolate(z0, z1, 5, "spherical").norm(dim=1)
    assert norms.tolist() == pytest.approx([3.0] * 5, rel=1e-5)
    assert interpolate(z0, z1, 3, "spherical")[1].tolist() == pytest.approx([3 / 2**0.5] * 2, rel=1e-5)


def test_bad_interpolation_arguments():
    with pytest.raises(ValueError, match="at least 2 steps"):
        interpolate(torch.zeros(2), torch.ones(2), 1)
    with pytest.raises(ValueError, match="'linear' or 'spherical'"):
        interpolate(torch.zeros(2), torch.ones(2), 3, "cubic")


def test_kl_per_dimension_adds_up_to_the_kl():
    model = build("seed", seed=0)
    x = torch.rand(50, 784)
    per_dim = kl_per_dimension(model, x, batch_size=16)
    mean, scale = model.encode(x)
    assert per_dim.shape == (20,)
    assert per_dim.sum().item() == pytest.approx(model.kl_divergence(mean, scale).mean().item(), rel=1e-4)
    # Batches of 16 and one of 50 round differently in the matrix products (float32): 1e-5, not 1e-6.
    assert torch.allclose(encode_means(model, x, batch_size=16), mean.detach(), atol=1e-5)
