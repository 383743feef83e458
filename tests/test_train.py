"""The trainer on real MNIST: it learns, it is reproducible, it stops cleanly on a bad loss."""

import pytest
import torch

from vaekit import Callback, TrainConfig, Trainer, build, fit
from vaekit.data import to_float
from vaekit.errors import ConfigError, TrainingError


def test_reconstruction_falls_within_a_few_dozen_steps(small_mnist):
    model = build("seed", seed=0)
    batch = to_float(small_mnist.train_images[:150])
    noise = torch.Generator().manual_seed(0)
    before = model.loss(batch, generator=noise).reconstruction.item() / 150
    fit(model, small_mnist.train_images, config=TrainConfig(epochs=4, seed=0))  # 40 steps
    after = model.loss(batch, generator=noise).reconstruction.item() / 150
    assert before > 500  # untrained: about 784 * log 2 plus noise
    assert after < 0.5 * before


def test_same_seed_same_losses_other_seed_differs(small_mnist):
    def run(seed):
        return fit(build("seed", seed=seed), small_mnist.train_images, small_mnist.test_images,
                   TrainConfig(epochs=1, seed=seed))

    a, b, c = run(3), run(3), run(4)
    assert a["batch_losses"] == b["batch_losses"]
    assert a["epochs"] == [{**r, "seconds": a["epochs"][0]["seconds"]} for r in b["epochs"]]
    assert a["batch_losses"] != c["batch_losses"]


def test_history_and_callbacks(small_mnist):
    seen = {"batches": 0, "epochs": []}

    class Count(Callback):
        def on_batch_end(self, trainer, batch_loss):
            seen["batches"] += 1

        def on_epoch_end(self, trainer, record):
            seen["epochs"].append(record["epoch"])

    history = fit(build("seed", seed=0), small_mnist.train_images, small_mnist.test_images, TrainConfig(epochs=2),
                  [Count()])
    assert seen == {"batches": 20, "epochs": [0, 1]}
    assert len(history["batch_losses"]) == 20
    first = history["epochs"][0]
    assert first["train_total"] == pytest.approx(first["train_reconstruction"] + first["train_kl"])
    assert first["test_total"] == pytest.approx(first["test_reconstruction"] + first["test_kl"])
    assert history["epochs"][1]["train_total"] < first["train_total"]


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(small_mnist, tmp_path):
    path = tmp_path / "training.safetensors"
    model = build("seed", seed=0)
    fit(model, small_mnist.train_images, config=TrainConfig(epochs=1), checkpoint_path=path)
    good = path.read_bytes()
    with pytest.raises(TrainingError) as error:
        fit(model, small_mnist.train_images, config=TrainConfig(epochs=3, learning_rate=1e6), checkpoint_path=path)
    message = str(error.value)
    assert "epoch 0, step" in message and "--head logvar" in message and "is kept" in message
    assert path.read_bytes() == good


def test_bad_settings_are_refused():
    for bad in ({"epochs": -1}, {"batch_size": 0}, {"learning_rate": 0.0}, {"device": "tpu"}, {"grad_clip": -1.0}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad)
    with pytest.raises(TrainingError, match="larger than the 100 training images"):
        Trainer(build("seed"), torch.rand(100, 784), config=TrainConfig(batch_size=150))


def test_checkpoint_every_without_a_path_just_trains(small_mnist):
    history = fit(build("seed", seed=0), small_mnist.train_images, config=TrainConfig(epochs=1, checkpoint_every=3))
    assert len(history["batch_losses"]) == 10
