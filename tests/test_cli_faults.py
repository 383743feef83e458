"""`vaekit train` when things go wrong: each ends with exit status 2, one line on stderr, nothing lost."""

import signal
from types import SimpleNamespace

import pytest
import torch

from vaekit import TrainConfig, Trainer, build, checkpoint
from vaekit.cli import TRAINING_FILE, _stop_after_the_step_on_ctrl_c

QUICK = ["--train-limit", "300", "--test-limit", "100", "--batch-size", "100", "--no-progress"]  # 3 steps an epoch


def _one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_resuming_with_another_latent_size_names_the_difference(vaekit, tmp_path):
    run = tmp_path / "run"
    Trainer(
        build("seed", seed=0, latent_size=8), torch.rand(300, 784), config=TrainConfig(epochs=1, batch_size=100),
        checkpoint_path=run / TRAINING_FILE,
    ).fit()
    before = (run / TRAINING_FILE).read_bytes()
    result = vaekit("train", *QUICK, "--epochs", "2", "--out", str(run), "--resume", "--latent-size", "4")
    line = _one_line_error(result)
    assert "cannot resume: the checkpoint's model has latent_size=8 (this run: 4)" in line
    assert "--latent-size" in line
    assert (run / TRAINING_FILE).read_bytes() == before


def test_read_only_output_folder(vaekit, tmp_path, read_only):
    folder = tmp_path / "shared"
    folder.mkdir()
    with read_only(folder):
        line = _one_line_error(vaekit("train", *QUICK, "--epochs", "1", "--out", str(folder)))
    assert f"cannot write to {folder}" in line and "choose another folder with --out" in line


def test_a_full_disk_during_training_stops_and_keeps_the_previous_checkpoint(vaekit, tmp_path, file_size_limit):
    run = tmp_path / "run"
    assert vaekit("train", *QUICK, "--epochs", "1", "--out", str(run), "--figures", str(tmp_path)).returncode == 0
    before = (run / TRAINING_FILE).read_bytes()
    with file_size_limit(1_000_000):  # a training checkpoint of the seed model is 16 MB
        line = _one_line_error(vaekit("train", *QUICK, "--epochs", "2", "--out", str(run), "--resume"))
    assert f"could not write checkpoint {run / TRAINING_FILE}: File too large; the previous checkpoint is kept" in line
    assert (run / TRAINING_FILE).read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == ["model.safetensors", TRAINING_FILE]  # no temporary left


def test_a_non_finite_loss_stops_with_one_line_and_a_loadable_checkpoint(vaekit, tmp_path):
    run = tmp_path / "run"
    # An absurd learning rate on the seed's sigma head: the first update is
    # finite (and saved), the next loss is not.
    result = vaekit("train", *QUICK, "--epochs", "2", "--lr", "1e6", "--checkpoint-every", "1", "--out", str(run))
    line = _one_line_error(result)
    assert "the loss became nan at epoch 0, step 1" in line or "became non-finite" in line, line
    assert f"the last good checkpoint {run / TRAINING_FILE} is kept" in line
    assert "--grad-clip" in line and "--head logvar" in line
    saved = checkpoint.load_checkpoint(run / TRAINING_FILE)  # finite weights, or loading would refuse it
    assert saved.progress["step"] == 1


def _adam_second_moments(path) -> float:
    state = checkpoint.load_checkpoint(path).state
    return sum(t.double().sum().item() for name, t in state.items() if name.endswith(".exp_avg_sq"))


def test_grad_clip_bounds_every_step_gradient_end_to_end(vaekit, tmp_path):
    # Adam keeps v = (1 - b2) sum_i b2^(t - i) g_i^2 per weight; summed over all
    # weights that is (1 - b2) sum_i b2^(t - i) |g_i|^2, so if every step's
    # gradient norm is at most c, the total is at most c^2 (1 - b2^t).
    clip, beta2, steps = 1.0, 0.999, 3
    for name, extra in (("clipped", ["--grad-clip", str(clip)]), ("free", [])):
        out = tmp_path / name
        result = vaekit("train", *QUICK, "--epochs", "1", "--out", str(out), "--figures", str(tmp_path), *extra)
        assert result.returncode == 0, result.stderr
    bound = clip**2 * (1 - beta2**steps)
    assert _adam_second_moments(tmp_path / "clipped" / TRAINING_FILE) <= bound * (1 + 1e-4)
    assert _adam_second_moments(tmp_path / "free" / TRAINING_FILE) > 1000 * bound  # the seed's gradients are large
    assert checkpoint.load_checkpoint(tmp_path / "clipped" / TRAINING_FILE).train_config["grad_clip"] == clip


def test_resuming_from_a_damaged_training_file_is_one_line(vaekit, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / TRAINING_FILE).write_bytes(b"\x00" * 100)  # half-copied, or overwritten by another tool
    line = _one_line_error(vaekit("train", *QUICK, "--epochs", "1", "--out", str(run), "--resume"))
    assert f"{run / TRAINING_FILE} is not a readable safetensors checkpoint" in line


def test_first_ctrl_c_asks_to_stop_after_the_step_and_a_second_stops_at_once():
    trainer = SimpleNamespace(stop_requested=False)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), _stop_after_the_step_on_ctrl_c(trainer):
        signal.raise_signal(signal.SIGINT)
        assert trainer.stop_requested  # the step in progress goes on
        signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
