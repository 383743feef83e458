"""Shared fixtures: real MNIST (fetched and verified once), small real subsets."""

import pytest
import torch

from vaekit.data import load_mnist


@pytest.fixture(scope="session")
def mnist():
    """The whole of real MNIST, in memory."""
    return load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """The first 1,500 training and 500 test images: same code paths, seconds instead of minutes."""
    return type(mnist)(mnist.train_images[:1500], mnist.train_labels[:1500], mnist.test_images[:500], mnist.test_labels[:500])


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Results are compared bit for bit in some tests; keep the thread count fixed.
    torch.set_num_threads(2)
