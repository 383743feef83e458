"""Checkpoints round-trip exactly and refuse anything that is not a vaekit safetensors file."""

import json
import os
import pickle
import re
import subprocess

import pytest
import torch
from safetensors.torch import save_file

import vaekit
from vaekit import build, checkpoint
from vaekit.errors import CheckpointError

TINY = {"hidden_sizes": (16,), "latent_size": 4}  # the same code paths, a 300th of the bytes to write
RECORD = {"epoch": 0, "train_total": 200.5, "train_reconstruction": 150.25, "train_kl": 50.25}  # one epoch's history


def test_round_trip_is_bit_identical(tmp_path):
    model = build("seed", seed=0, head="logvar")
    history = {"epochs": [RECORD], "batch_losses": [300.0, 250.0]}
    path = checkpoint.save(tmp_path / "m.safetensors", model, history)
    loaded = checkpoint.load_checkpoint(path)
    assert loaded.model.config == model.config
    assert loaded.history == history
    x = torch.rand(8, 784)
    with torch.no_grad():
        assert torch.equal(loaded.model.decode(torch.ones(8, 20)), model.decode(torch.ones(8, 20)))
        assert all(torch.equal(a, b) for a, b in zip(model.encode(x), loaded.model.encode(x)))
    assert [p for p in tmp_path.iterdir()] == [path]  # no temporary file left behind


class RunsCode:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['VAEKIT_PWNED'], 'w').write('ran')",))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_a_pickle_is_refused_and_its_code_never_runs(tmp_path, monkeypatch, how):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("VAEKIT_PWNED", str(marker))
    path = tmp_path / "evil.pt"
    if how == "pickle":
        path.write_bytes(pickle.dumps({"weights": RunsCode()}))
    else:
        torch.save({"weights": RunsCode()}, path)
    with pytest.raises(CheckpointError, match="refuses to unpickle"):
        vaekit.load(path)
    assert not marker.exists()


def test_shapes_that_do_not_fit_are_a_clear_error(tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", latent_size=8))
    header = _header(path)
    header["config"] = json.dumps({**json.loads(header["config"]), "latent_size": 20})
    _rewrite(path, header)
    with pytest.raises(CheckpointError, match=r"tensor 'mean_head.weight' is torch.float32 \(8, 500\).*\(20, 500\)"):
        vaekit.load(path)


def test_wrong_names_and_dtypes(tmp_path):
    model = build("seed")
    tensors = {"model." + k: v for k, v in model.state_dict().items()}
    tensors["model.encoder.0.weight"] = tensors["model.encoder.0.weight"].double()
    tensors["model.extra"] = torch.zeros(1)
    del tensors["model.decoder.0.bias"]
    path = tmp_path / "m.safetensors"
    save_file(tensors, path,
              metadata={"format": "vaekit", "format_version": "1", "config": json.dumps(model.config.to_dict())})
    with pytest.raises(CheckpointError) as error:
        vaekit.load(path)
    message = str(error.value)
    assert "missing tensor 'decoder.0.bias'" in message
    assert "unexpected tensor 'extra'" in message
    assert "torch.float64" in message


def test_truncated_file(tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed"))
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint"):
        vaekit.load(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"config": json.dumps({"hidden_sizes": [500, -3]})}, "hidden_sizes must be one or more positive"),
        ({"config": json.dumps({"head": "gauss"})}, "head must be one of"),
        ({"config": "{not json"}, "not valid JSON"),
        ({"history": json.dumps({"epochs": [{**RECORD, "train_total": "big"}]})}, "must be a finite number"),
        ({"format": "other"}, "not a vaekit checkpoint"),
    ],
)
def test_bad_json_is_a_clear_error(tmp_path, change, message):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed"))
    _rewrite(path, {**_header(path), **change})
    with pytest.raises(CheckpointError, match=message):
        vaekit.load(path)


def test_missing_file():
    with pytest.raises(CheckpointError, match="does not exist; give a model file, a run folder"):
        vaekit.load("no/such/model.safetensors")


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, file_size_limit):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", seed=1))
    before = path.read_bytes()
    with file_size_limit(1_000_000), pytest.raises(CheckpointError, match="previous checkpoint is kept"):
        checkpoint.save(path, build("seed", seed=2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_a_read_only_folder_keeps_the_previous_checkpoint(tmp_path, read_only):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", seed=1, **TINY))
    before = path.read_bytes()
    with read_only(tmp_path), pytest.raises(
        CheckpointError, match="Permission denied|Operation not permitted"
    ) as error:
        checkpoint.save(path, build("seed", seed=2, **TINY))
    assert f"could not write checkpoint {path}" in str(error.value)
    assert "previous checkpoint is kept" in str(error.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def _header(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return dict(f.metadata())


def _rewrite(path, metadata):
    from safetensors.torch import load_file

    save_file(load_file(path), path, metadata=metadata)


@pytest.fixture(scope="module")
def training_checkpoint(tmp_path_factory):
    """A real training checkpoint after 2 steps: weights, Adam's moments, the noise generator, progress."""
    from vaekit import TrainConfig, Trainer

    path = tmp_path_factory.mktemp("training") / "training.safetensors"
    images = torch.rand(300, 784, generator=torch.Generator().manual_seed(0))
    trainer = Trainer(build("seed", seed=0, **TINY), images, config=TrainConfig(epochs=1, batch_size=100, seed=0))
    trainer.fit()
    trainer.step = 1  # as if saved mid-epoch
    trainer.save_checkpoint(path)
    return path


def _change_training_checkpoint(source, target, metadata=None, tensors=None):
    from safetensors.torch import load_file

    save_file({**load_file(source), **(tensors or {})}, target, metadata={**_header(source), **(metadata or {})})
    return target


@pytest.mark.parametrize(
    "progress, message",
    [
        ({"epoch": -1}, "epoch must be an integer >= 0, got -1"),
        ({"step": "3"}, "step must be an integer >= 0, got '3'"),
        ({"sums": {"total": 1.0}}, "sums must be an object with the keys"),
        ({"sums": {"total": 10**100, "reconstruction": 0.0, "kl": 0.0, "images": 0}}, "finite numbers"),
        ({"learning_rate_now": 0.1}, "unknown key 'learning_rate_now'"),
    ],
)
def test_bad_training_progress_is_a_clear_error(training_checkpoint, tmp_path, progress, message):
    good = json.loads(_header(training_checkpoint)["progress"])
    changed = {"progress": json.dumps({**good, **progress})}
    path = _change_training_checkpoint(training_checkpoint, tmp_path / "t.safetensors", changed)
    with pytest.raises(CheckpointError, match=f"{path}: invalid training progress: .*{re.escape(message)}"):
        checkpoint.load_checkpoint(path)


@pytest.mark.parametrize(
    "tensors, message",
    [
        ({"optimizer.0.exp_avg": torch.zeros(3, 3)},
         "'optimizer.0.exp_avg' is torch.float32 (3, 3), expected torch.float32 (16, 784)"),
        ({"optimizer.1.exp_avg_sq": torch.zeros(16, dtype=torch.float64)}, "'optimizer.1.exp_avg_sq' is torch.float64"),
        ({"optimizer.2.exp_avg_sq": -torch.ones(4, 16)}, "values Adam never produces"),
        ({"optimizer.0.step": torch.tensor(float("inf"))}, "values Adam never produces"),
        ({"optimizer.99.exp_avg": torch.zeros(1)}, "unexpected tensor 'optimizer.99.exp_avg'"),
        ({"optimizer.0.momentum_buffer": torch.zeros(16, 784)}, "unexpected tensor 'optimizer.0.momentum_buffer'"),
        ({"rng.noise": torch.zeros(5056)}, "'rng.noise' must be a 1-D uint8 generator state"),
        ({"hook": torch.zeros(1)}, "unexpected tensor 'hook'"),
    ],
)
def test_bad_training_tensors_are_a_clear_error(training_checkpoint, tmp_path, tensors, message):
    path = _change_training_checkpoint(training_checkpoint, tmp_path / "t.safetensors", tensors=tensors)
    with pytest.raises(CheckpointError, match=f"{path}: invalid training state: .*{re.escape(message)}"):
        checkpoint.load_checkpoint(path)


def test_a_parameter_without_all_its_adam_moments_is_refused(training_checkpoint, tmp_path):
    from safetensors.torch import load_file

    tensors = load_file(training_checkpoint)
    del tensors["optimizer.3.exp_avg_sq"]
    save_file(tensors, tmp_path / "t.safetensors", metadata=_header(training_checkpoint))
    with pytest.raises(CheckpointError, match=r"optimizer state of parameter 3 lacks \['exp_avg_sq'\]"):
        checkpoint.load_checkpoint(tmp_path / "t.safetensors")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"metadata": {"train_config": json.dumps({"batch_size": 0})}},
         "invalid train_config: batch_size must be an integer >= 1"),
        ({"metadata": {"train_config": json.dumps({"batch_size": 100, "seed": 0, "learning_rate": 0.01})}},
         "trained with learning_rate=0.01, this run asks for 0.001"),
        ({"tensors": {"rng.noise": torch.zeros(16, dtype=torch.uint8)}},
         "random generator state for another kind of device than cpu"),
        ({"progress": {"step": 3}}, "step 3 is past the end of an epoch (3 steps)"),
        ({"progress": {"train_images": 60_000}},
         "trained on 60,000 images, this run has 300 (use the same --train-limit)"),
        ({"metadata": {"progress": "{}"}}, "holds weights only"),
        ({"metadata": {"train_config": json.dumps({"batch_size": 100, "warmup": 5})}},
         "unknown train_config keys ['warmup']"),
    ],
)
def test_resuming_from_a_checkpoint_that_does_not_fit_the_run(training_checkpoint, tmp_path, change, message):
    from vaekit import TrainConfig, Trainer

    metadata = dict(change.get("metadata", {}))
    if "progress" in change:
        good = json.loads(_header(training_checkpoint)["progress"])
        metadata["progress"] = json.dumps({**good, **change["progress"]})
    path = _change_training_checkpoint(training_checkpoint, tmp_path / "t.safetensors", metadata, change.get("tensors"))
    trainer = Trainer(build("seed", **TINY), torch.rand(300, 784), config=TrainConfig(epochs=2, batch_size=100, seed=0))
    with pytest.raises(CheckpointError, match=re.escape(message)):
        trainer.restore(checkpoint.load_checkpoint(path))


def test_a_kill_leaves_a_temporary_file_that_the_next_write_removes(tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", **TINY))
    dead = _a_dead_pid()
    stale = tmp_path / f".m.safetensors.{dead}.tmp"
    stale.write_bytes(b"half a checkpoint")
    alive = tmp_path / f".m.safetensors.{os.getppid()}.tmp"  # a writer still at work: left alone
    alive.write_bytes(b"being written")
    checkpoint.save(path, build("seed", **TINY))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, "m.safetensors"])


def _a_dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
