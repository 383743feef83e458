"""The checkpoints shipped in the package, and how notebooks choose between them and a fresher one."""

import pytest
import torch

import vaekit
from vaekit import snapshots
from vaekit.pretrained import available


def test_both_shipped_models_load_with_their_50_epoch_histories():
    assert {"seed", "logvar"} <= set(available())
    for name, head in (("seed", "sigma"), ("logvar", "logvar")):
        checkpoint = vaekit.load_checkpoint(vaekit.pretrained_path(name))
        assert checkpoint.model.config.head == head and checkpoint.model.config.latent_size == 20
        assert len(checkpoint.history["epochs"]) == 50 and checkpoint.train_config["epochs"] == 50


def test_every_shipped_model_holds_a_snapshot_of_each_epoch():
    for name in available():
        checkpoint = vaekit.load_checkpoint(vaekit.pretrained_path(name))
        timeline = snapshots.read(checkpoint)
        epochs = len(checkpoint.history["epochs"])
        assert timeline.epochs.tolist() == list(range(epochs)), name
        # the snapshot's losses are the history's, epoch by epoch
        tests = [record["test_total"] for record in checkpoint.history["epochs"]]
        assert torch.allclose(timeline.losses["test_total"].double(), torch.tensor(tests, dtype=torch.float64)), name
        assert not torch.equal(timeline.samples[0], timeline.samples[-1]), name


def test_the_shipped_seed_run_shows_its_sigma_head_blow_up():
    # The sigma head's test loss jumps well above where it had already been, then recovers (README):
    # the timeline and `animate training` show that epoch.
    timeline = snapshots.read(vaekit.pretrained_path("seed"))
    test = timeline.losses["test_total"]
    best_before = torch.cummin(test, dim=0).values
    jumps = (test[1:] / best_before[:-1]).tolist()
    worst = max(range(len(jumps)), key=jumps.__getitem__) + 1
    assert worst >= 10 and jumps[worst - 1] > 1.25 and test[-1] < test[worst]
    # and the samples of that epoch differ from the epoch before's more than usual
    change = (timeline.samples[1:].float() - timeline.samples[:-1].float()).abs().mean(dim=(1, 2))
    assert change[worst - 1] > change[worst // 2 :].median()


def test_the_shipped_seed_model_is_trained(small_mnist):
    # 104.5 nats/image on the whole test set (README); an untrained VAE is above 500
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
