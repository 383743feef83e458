"""Training snapshots: recorded each epoch, kept in checkpoints, continued on resume, validated on load."""

import re

import pytest
import torch
from safetensors.torch import load_file, save_file

from vaekit import Callback, TrainConfig, build, checkpoint, fit, snapshots
from vaekit.data import to_float
from vaekit.errors import CheckpointError, VaekitError
from vaekit.latent import kl_per_dimension

TINY = {"hidden_sizes": (32,), "latent_size": 4}


@pytest.fixture(scope="module")
def recorded(small_mnist):
    model = build("seed", seed=0, **TINY)
    recorder = snapshots.Snapshots()
    history = fit(model, small_mnist.train_images, small_mnist.test_images, TrainConfig(epochs=3, seed=0), [recorder])
    return model, recorder, history


def test_each_epoch_records_what_the_model_makes(recorded, small_mnist):
    model, recorder, history = recorded
    tensors = recorder.state_tensors()
    assert tensors["snapshots.epoch"].tolist() == [0, 1, 2]
    assert tensors["snapshots.samples"].shape == (3, 16, 784) and tensors["snapshots.samples"].dtype == torch.uint8
    assert tensors["snapshots.reconstructions"].shape == (3, 8, 784)
    # The last frame is the final model: recompute each part by hand.
    test = to_float(small_mnist.test_images)
    assert torch.allclose(tensors["snapshots.kl"][-1], kl_per_dimension(model, test[:1000]))
    with torch.no_grad():
        samples = torch.sigmoid(model.decode(tensors["snapshots.prior_codes"]))
        reconstructions = model.reconstruct(test[:8])
    assert (tensors["snapshots.samples"][-1].int() - (samples * 255).round().int()).abs().max() <= 1
    assert (tensors["snapshots.reconstructions"][-1].int() - (reconstructions * 255).round().int()).abs().max() <= 1
    assert torch.equal(tensors["snapshots.originals"], small_mnist.test_images[:8])  # uint8 as loaded
    # The pictures change as the model learns, and the losses are the history's.
    assert not torch.equal(tensors["snapshots.samples"][0], tensors["snapshots.samples"][-1])
    losses = tensors["snapshots.losses"]
    assert losses[:, 0].tolist() == pytest.approx([r["train_total"] for r in history["epochs"]])
    assert losses[:, 3].tolist() == pytest.approx([r["test_total"] for r in history["epochs"]])


def test_an_epoch_costs_under_60_kb_for_the_seed_model():
    pixels, codes, images, latent, columns = 784, 16, 8, 20, 6
    tensors = {"snapshots.epoch": torch.zeros(5, dtype=torch.int64),
               "snapshots.kl": torch.zeros(5, latent), "snapshots.losses": torch.zeros(5, columns),
               "snapshots.samples": torch.zeros(5, codes, pixels, dtype=torch.uint8),
               "snapshots.reconstructions": torch.zeros(5, images, pixels, dtype=torch.uint8),
               "snapshots.prior_codes": torch.zeros(codes, latent)}
    assert snapshots.bytes_per_epoch(tensors) == 8 + 4 * latent + 4 * columns + (codes + images) * pixels  # 18,928
    assert snapshots.bytes_per_epoch(tensors) < 60_000


def test_snapshots_round_trip_through_a_checkpoint(recorded, tmp_path):
    model, recorder, history = recorded
    path = checkpoint.save(tmp_path / "m.safetensors", model, history, state=recorder.state_tensors())
    timeline = snapshots.read(path)
    assert len(timeline) == 3 and timeline.history == history
    assert torch.equal(timeline.samples, recorder.state_tensors()["snapshots.samples"])
    assert timeline.losses["test_kl"].tolist() == pytest.approx([r["test_kl"] for r in history["epochs"]])
    assert timeline.float_images("originals", 0).max() <= 1.0


def test_a_checkpoint_without_snapshots_says_how_to_get_them(tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", seed=0, **TINY))
    with pytest.raises(CheckpointError, match="holds no training snapshots.*--no-snapshots"):
        snapshots.read(path)


class StopAfter(Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, trainer, record):
        if trainer.epoch == self.epochs:
            trainer.stop_requested = True


def test_a_resumed_run_continues_the_series_exactly(small_mnist, tmp_path):
    def run(path, callbacks, resume=False):
        recorder = snapshots.Snapshots()
        config = TrainConfig(epochs=3, seed=1)
        fit(build("seed", seed=1, **TINY), small_mnist.train_images, small_mnist.test_images, config,
            [recorder, *callbacks], checkpoint_path=path, resume=resume)
        return recorder.state_tensors()

    whole = run(tmp_path / "whole.safetensors", [])
    run(tmp_path / "parts.safetensors", [StopAfter(2)])
    assert snapshots.read(tmp_path / "parts.safetensors").epochs.tolist() == [0, 1]  # epoch 1's snapshot was saved
    resumed = run(tmp_path / "parts.safetensors", [], resume=True)
    assert resumed.keys() == whole.keys()
    for name in whole:
        assert torch.equal(resumed[name], whole[name]), name


@pytest.fixture(scope="module")
def with_snapshots(recorded, tmp_path_factory):
    model, recorder, history = recorded
    return checkpoint.save(tmp_path_factory.mktemp("s") / "m.safetensors", model, history,
                           state=recorder.state_tensors())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.update({"snapshots.samples": t["snapshots.samples"].float()}),
         "'snapshots.samples' is torch.float32 (3, 16, 784), expected torch.uint8 (3, 16, 784)"),
        (lambda t: t.update({"snapshots.kl": torch.zeros(2, 4)}), "'snapshots.kl' is torch.float32 (2, 4)"),
        (lambda t: t.update({"snapshots.reconstructions": torch.zeros(3, 8, 100, dtype=torch.uint8)}),
         "expected torch.uint8 (3, 8, 784)"),
        (lambda t: t.pop("snapshots.losses"), "missing tensor 'snapshots.losses'"),
        (lambda t: t.update({"snapshots.extra": torch.zeros(1)}), "unexpected tensor 'snapshots.extra'"),
        (lambda t: t.update({"snapshots.epoch": torch.tensor([0, 2, 1])}), "increasing epoch numbers"),
        (lambda t: t.update({"snapshots.kl": torch.full((3, 4), float("nan"))}), "'snapshots.kl' holds non-finite"),
        (lambda t: t.update({"snapshots.prior_codes": torch.zeros(1000, 4)}), "1000 prior codes"),
    ],
)
def test_bad_snapshot_tensors_are_a_clear_error(with_snapshots, tmp_path, change, message):
    from safetensors import safe_open

    tensors = load_file(with_snapshots)
    change(tensors)
    with safe_open(str(with_snapshots), "pt") as f:
        metadata = f.metadata()
    save_file(tensors, tmp_path / "bad.safetensors", metadata=metadata)
    with pytest.raises(CheckpointError, match=f"invalid training state: .*{re.escape(message)}"):
        snapshots.read(tmp_path / "bad.safetensors")


def test_train_keeps_snapshots_in_both_checkpoints_unless_told_not_to(vaekit, tmp_path):
    common = ["--epochs", "2", "--train-limit", "300", "--test-limit", "100", "--batch-size", "100",
              "--latent-size", "4", "--figures", str(tmp_path), "--no-progress"]
    assert vaekit("train", *common, "--out", str(tmp_path / "on")).returncode == 0
    for name in ("model.safetensors", "training.safetensors"):
        assert snapshots.read(tmp_path / "on" / name).epochs.tolist() == [0, 1]
    assert vaekit("train", *common, "--out", str(tmp_path / "off"), "--no-snapshots").returncode == 0
    with pytest.raises(CheckpointError, match="no training snapshots"):
        snapshots.read(tmp_path / "off" / "model.safetensors")


def test_the_timeline_widget_scrubs_through_the_snapshots(recorded):
    from vaekit.widgets import training_timeline

    _, recorder, history = recorded
    widget = training_timeline(snapshots.from_tensors(recorder.state_tensors(), history))
    assert widget.epoch == 2 and widget.epochs == [0, 1, 2]  # opens at the end of training
    assert len(widget.samples) == 3 * 16 * 784 and widget.n_samples == 16 and widget.side == 28
    widget.epoch = 0
    assert torch.equal(widget.shown()["samples"], recorder.state_tensors()["snapshots.samples"][0])
    assert widget.losses["test_total"][0] == pytest.approx(history["epochs"][0]["test_total"])
    with pytest.raises(VaekitError, match="no snapshot 3: choose an index from 0 to 2"):
        widget.epoch = 3
    assert widget.epoch == 0


def test_the_timeline_judges_its_inputs_as_the_other_widgets_do(recorded, tmp_path):
    from vaekit.widgets import training_timeline

    model, recorder, history = recorded
    timeline = snapshots.from_tensors(recorder.state_tensors(), history)
    assert training_timeline(timeline, epoch=1).epoch == 1
    for epoch in (3, -1, True, 1.0):
        with pytest.raises(VaekitError, match="no snapshot .*: choose an index from 0 to 2"):
            training_timeline(timeline, epoch=epoch)
    for interval in (5, 20_000, 150.5):
        with pytest.raises(VaekitError, match="interval_ms must be a whole number of milliseconds from 20 to 10000"):
            training_timeline(timeline, interval_ms=interval)
    # A run without snapshots: from a checkpoint, and from a recorder that saw no epoch (from_tensors gives None).
    bare = checkpoint.save(tmp_path / "bare.safetensors", model, history)
    with pytest.raises(CheckpointError, match="holds no training snapshots"):
        training_timeline(bare)
    with pytest.raises(VaekitError, match="pass its path, or a Timeline .*not NoneType"):
        training_timeline(snapshots.from_tensors(snapshots.Snapshots().state_tensors(), history))


def test_the_timeline_gif_button_writes_the_run(recorded, tmp_path):
    from PIL import Image

    from vaekit.widgets import training_timeline

    _, recorder, history = recorded
    widget = training_timeline(snapshots.from_tensors(recorder.state_tensors(), history))
    widget.gif_path = str(tmp_path / "run.gif")
    widget._handle_custom_msg({"event": "gif"}, [])  # what the button's click sends
    with Image.open(tmp_path / "run.gif") as gif:
        assert gif.n_frames == 3
    assert widget.message == f"wrote {tmp_path / 'run.gif'} (3 frames)"  # where, in full: the kernel's folder
