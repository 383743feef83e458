"""Checkpoints round-trip exactly and refuse anything that is not a vaekit safetensors file."""

import json
import pickle
import resource
import signal

import pytest
import torch
from safetensors.torch import save_file

import vaekit
from vaekit import build, checkpoint
from vaekit.errors import CheckpointError


def test_round_trip_is_bit_identical(tmp_path):
    model = build("seed", seed=0, head="logvar")
    history = {"epochs": [{"epoch": 0, "train_total": 200.5}], "batch_losses": [300.0, 250.0]}
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
    save_file(tensors, path, metadata={"format": "vaekit", "format_version": "1", "config": json.dumps(model.config.to_dict())})
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
        ({"config": json.dumps({"hidden_sizes": [500, -3]})}, "hidden_sizes must be positive"),
        ({"config": json.dumps({"head": "gauss"})}, "head must be one of"),
        ({"config": "{not json"}, "not valid JSON"),
        ({"history": json.dumps({"epochs": [{"train_total": "big"}]})}, "must be a number"),
        ({"format": "other"}, "not a vaekit checkpoint"),
    ],
)
def test_bad_json_is_a_clear_error(tmp_path, change, message):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed"))
    _rewrite(path, {**_header(path), **change})
    with pytest.raises(CheckpointError, match=message):
        vaekit.load(path)


def test_missing_file():
    with pytest.raises(CheckpointError, match="does not exist; train one"):
        vaekit.load("no/such/model.safetensors")


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", seed=1))
    before = path.read_bytes()
    # A file-size limit makes the write fail part-way with EFBIG, as a full disk
    # would with ENOSPC, and works for root too (unlike a read-only folder).
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, old_limit[1]))
    try:
        with pytest.raises(CheckpointError, match="previous checkpoint is kept"):
            checkpoint.save(path, build("seed", seed=2))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def _header(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return dict(f.metadata())


def _rewrite(path, metadata):
    from safetensors.torch import load_file

    save_file(load_file(path), path, metadata=metadata)
