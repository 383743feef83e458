"""Binarized MNIST and the --fast mode: what each changes, and what it keeps."""

import pytest
import torch

from vaekit import TrainConfig, Trainer, build, fit
from vaekit.cli import build_parser
from vaekit.data import BINARIZED_TEST_SEED, binarize, to_float


def test_binarize_is_deterministic_for_a_seed_and_follows_the_intensities(mnist):
    images = to_float(mnist.test_images[:2000])
    a, b, c = binarize(images, 5), binarize(images, 5), binarize(images, 6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a[images == 0], images[images == 0])  # black stays black
    assert torch.equal(a[images == 1], images[images == 1])  # white stays white
    assert a.mean().item() == pytest.approx(images.mean().item(), abs=0.005)


def test_binarized_training_sees_binary_batches_and_a_fixed_binary_test_set(small_mnist):
    seen = []

    class Spy(torch.nn.Module):  # records what the model is trained on
        def forward(self, x):
            seen.append(x.clone())
            return x

    config = TrainConfig(epochs=1, seed=0, binarize=True)
    model = build("seed", seed=0)
    trainer = Trainer(model, small_mnist.train_images, small_mnist.test_images, config)
    assert torch.equal(trainer.test_images, binarize(small_mnist.test_images, BINARIZED_TEST_SEED))
    model.encoder.insert(0, Spy())
    trainer.fit()
    assert len(seen) >= 10 and all(set(x.unique().tolist()) <= {0.0, 1.0} for x in seen[:10])
    assert trainer.history["epochs"][0]["test_total"] < 400


def test_fast_mode_learns_and_is_reproducible(small_mnist):
    def run():
        return fit(build("seed", seed=1), small_mnist.train_images, config=TrainConfig(epochs=2, seed=1, fast=True))

    a, b = run(), run()
    assert a["batch_losses"] == b["batch_losses"]
    assert a["batch_losses"][-1] < 0.5 * a["batch_losses"][0]


def test_the_cli_passes_the_options():
    args = build_parser().parse_args(["train", "--fast", "--binarize", "--threads", "1"])
    assert args.fast and args.binarize and args.threads == 1
    args = build_parser().parse_args(["train"])
    assert not args.fast and not args.binarize and args.threads is None
