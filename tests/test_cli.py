"""`python -m vaekit` as a user runs it: help, bad arguments, and a short real run."""

import subprocess
import sys

import pytest

COMMANDS = ["data", "train", "sample", "reconstruct", "interpolate", "evaluate"]


def test_python_dash_m_vaekit_runs():
    result = subprocess.run([sys.executable, "-m", "vaekit", "--help"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0
    assert all(command in result.stdout for command in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(vaekit, command):
    result = vaekit(command, "--help")
    assert result.returncode == 0
    assert f"usage: vaekit {command}" in result.stdout


@pytest.mark.parametrize(
    "args, reason",
    [
        (["train", "--epochs", "-1"], "argument --epochs: '-1' is not an integer from 0 to 100,000"),
        (["train", "--batch-size", "0"], "argument --batch-size: '0' is not an integer from 1 to 1,000,000"),
        (["train", "--lr", "fast"], "argument --lr: 'fast' is not a positive number"),
        (["train", "--head", "gauss"], "argument --head: invalid choice: 'gauss'"),
        (["train", "--epochs", "two"], "argument --epochs: 'two' is not an integer from 0 to 100,000"),
        (["train", "--latent-size", "0"], "argument --latent-size: '0' is not an integer from 1 to 1,024"),
        (["train", "--grad-clip", "-1"], "argument --grad-clip: '-1' is not a positive number"),
        (["train", "--grad-clip", "nan"], "argument --grad-clip: 'nan' is not a positive number"),
        (["train", "--checkpoint-every", "0"], "argument --checkpoint-every: '0' is not a positive integer"),
        (["train", "--train-limit", "100"], "batch size 150 is larger than the 100 training images"),
        (["sample", "--checkpoint", "nowhere.safetensors"], "checkpoint nowhere.safetensors does not exist"),
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_bad_arguments_exit_2_with_a_one_line_reason(vaekit, tmp_path, args, reason):
    if args[0] == "train":  # a run that gets as far as its folder makes it here, not in runs/
        args = [*args, "--out", str(tmp_path / "run")]
    result = vaekit(*args)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert reason in last
    assert "Traceback" not in result.stderr


def test_unwritable_output_folder(vaekit, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = vaekit("train", "--out", str(blocker / "run"), "--epochs", "1")
    assert result.returncode == 2
    assert "cannot write to" in result.stderr and "--out" in result.stderr


def test_train_then_use_the_model(vaekit, tmp_path):
    run, figures = tmp_path / "run", tmp_path / "figures"
    result = vaekit(
        "train", "--epochs", "2", "--train-limit", "1500", "--test-limit", "500",
        "--out", str(run), "--figures", str(figures), "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "last batch: total" in lines[0] and "test/image" in lines[0]
    assert (run / "model.safetensors").exists() and (run / "training.safetensors").exists()

    for command in ("sample", "reconstruct", "interpolate"):
        result = vaekit(command, "--checkpoint", str(run), "--figures", str(figures))
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in figures.iterdir()) == [
        "interpolation.png", "loss_curves.png", "reconstructions.png", "samples.png",
    ]
    result = vaekit("evaluate", "--checkpoint", str(run))
    assert result.returncode == 0 and "test negative ELBO:" in result.stdout
    result = vaekit("interpolate", "--checkpoint", str(run), "--start", "10000")
    assert result.returncode == 2 and "test image 10000 does not exist" in result.stderr
