"""The checkpoints shipped in the package, and how notebooks choose between them and a fresher one."""

import pytest
import torch

import vaekit
from vaekit.pretrained import available


def test_both_shipped_models_load_with_their_50_epoch_histories():
    assert {"seed", "logvar"} <= set(available())
    for name, head in (("seed", "sigma"), ("logvar", "logvar")):
        checkpoint = vaekit.load_checkpoint(vaekit.pretrained_path(name))
        assert checkpoint.model.config.head == head and checkpoint.model.config.latent_size == 20
        assert len(checkpoint.history["epochs"]) == 50 and checkpoint.train_config["epochs"] == 50


def test_the_shipped_seed_model_is_trained(small_mnist):
    # 105.8 nats/image on the whole test set (README); an untrained VAE is above 500
    result = vaekit.evaluate(vaekit.load(vaekit.pretrained_path()), small_mnist.test_images)
    assert result["total"] < 120


def test_unknown_shipped_name_says_which_exist():
    shipped = r"\['2d', 'conditional', 'conv', 'fashion', 'logvar', 'seed'\]"
    with pytest.raises(vaekit.CheckpointError, match=r"no shipped checkpoint named 'nope'.*" + shipped):
        vaekit.pretrained_path("nope")


def test_prefer_checkpoint_takes_the_first_that_exists(tmp_path):
    assert vaekit.prefer_checkpoint(tmp_path / "missing.safetensors") == vaekit.pretrained_path("seed")
    assert vaekit.prefer_checkpoint(tmp_path / "missing", pretrained="logvar") == vaekit.pretrained_path("logvar")
    run = tmp_path / "run"
    mine = vaekit.save(run / "model.safetensors", vaekit.build("seed", seed=0))
    assert vaekit.prefer_checkpoint(tmp_path / "missing", run) == mine  # a run folder works too
    assert vaekit.prefer_checkpoint(mine) == mine
    assert torch.equal(vaekit.load(mine).decode(torch.zeros(1, 20)),
                       vaekit.build("seed", seed=0).decode(torch.zeros(1, 20)))
