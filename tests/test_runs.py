"""Run folders and the newcomer's path: which checkpoint a name means, one training run per folder,
resume that refuses a changed setup, bounded figures, figure paths judged before training, and a
`--help` that needs no torch."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import vaekit
from vaekit import build, checkpoint
from vaekit.cli import (
    ARCH_NAMES,
    DATASET_NAMES,
    FOLDER_PREFIX,
    HEAD_NAMES,
    MATH_OPTIONS,
    PRESET_NAMES,
    TRAIN_DEFAULTS,
    _interpolation_ends,
    build_parser,
)
from vaekit.runs import MODEL_FILE, TRAINING_FILE, RunLock, resolve_checkpoint

QUICK = ["--train-limit", "300", "--test-limit", "100", "--batch-size", "100", "--no-progress"]  # 3 steps an epoch
TINY = {"hidden_sizes": (16,), "latent_size": 4}


def _one_line_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit"), result.stderr
    return lines[0]


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch):
    """A working folder without runs/ or figures/, as after `git clone`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- which checkpoint ------------------------------------------------------------------


def test_names_resolve_to_files(fresh_clone):
    shipped = vaekit.pretrained_path("seed")
    assert resolve_checkpoint(None) == shipped  # no run yet: the shipped model
    assert resolve_checkpoint("logvar") == vaekit.pretrained_path("logvar")
    older = checkpoint.save(fresh_clone / "runs" / "older" / MODEL_FILE, build("seed", **TINY))
    newer = checkpoint.save(fresh_clone / "runs" / "mine" / MODEL_FILE, build("seed", **TINY))
    os.utime(older, (time.time() - 60, time.time() - 60))
    assert resolve_checkpoint(None) == Path("runs") / "mine" / MODEL_FILE  # the newest run
    assert resolve_checkpoint("older") == Path("runs") / "older" / MODEL_FILE
    assert resolve_checkpoint("runs/older") == Path("runs/older") / MODEL_FILE
    assert resolve_checkpoint(str(newer)) == newer
    with pytest.raises(
        vaekit.CheckpointError,
        match=r"checkpoint nonesuch does not exist; .*shipped model \(2d, conditional, conv, fashion, logvar, seed\)",
    ):
        resolve_checkpoint("nonesuch")
    assert vaekit.load().config.hidden_sizes == (16,)  # the same names in the library
    assert vaekit.load("seed").config.hidden_sizes == (500, 500)


def test_a_run_stopped_before_its_end_is_found_by_its_folder(fresh_clone):
    trainer = vaekit.Trainer(
        build("seed", **TINY), __import__("torch").rand(200, 784), config=vaekit.TrainConfig(epochs=1, batch_size=100)
    )
    trainer.save_checkpoint(fresh_clone / "run" / TRAINING_FILE)
    assert resolve_checkpoint("run") == Path("run") / TRAINING_FILE
    assert vaekit.load("run").config.latent_size == 4


def test_on_a_fresh_clone_every_command_works_and_writes_next_to_the_model(vaekit, fresh_clone):
    result = vaekit("sample", "--n", "4")
    assert result.returncode == 0, result.stderr
    assert f"model: {vaekit_pretrained('seed')}" in result.stdout
    assert (fresh_clone / "figures" / "samples.png").is_file()  # a shipped model's figures: figures/
    checkpoint.save(fresh_clone / "runs" / "mine" / MODEL_FILE, build("seed", seed=0, **TINY))
    for command in (["sample", "--n", "4"], ["reconstruct", "--n", "3"], ["interpolate", "--steps", "3"]):
        result = vaekit(*command)
        assert result.returncode == 0, result.stderr
        assert "model: runs/mine/model.safetensors" in result.stdout
    assert sorted(p.name for p in (fresh_clone / "runs" / "mine").glob("*.png")) == [
        "interpolation.png",
        "reconstructions.png",
        "samples.png",
    ]
    result = vaekit("sample", "--n", "4", "--checkpoint", "logvar", "--figures", "elsewhere", "--name", "lv")
    assert result.returncode == 0 and (fresh_clone / "elsewhere" / "lv.png").is_file()


def vaekit_pretrained(name):
    return vaekit.pretrained_path(name)


def test_interpolation_between_classes_says_which(vaekit, fresh_clone, mnist):
    model = checkpoint.load("seed")
    args = build_parser().parse_args(["interpolate", "--from-class", "3", "--to-class", "9"])
    (start, start_name), (end, end_name) = _interpolation_ends(args, model, mnist.test_labels)
    assert int(mnist.test_labels[start]) == 3 and int(mnist.test_labels[end]) == 9
    assert (mnist.test_labels[:start] != 3).all() and (mnist.test_labels[:end] != 9).all()  # the first of each
    assert start_name == f"a 3 (test image {start})" and end_name == f"a 9 (test image {end})"
    args = build_parser().parse_args(["interpolate"])
    assert _interpolation_ends(args, model, mnist.test_labels) == ((0, "test image 0 (a 7)"), (1, "test image 1 (a 2)"))
    line = _one_line_error(vaekit("interpolate", "--from-class", "3", "--start", "5"))
    assert "give --start (a test image) or --from-class (a class), not both" in line
    line = _one_line_error(vaekit("interpolate", "--to-class", "10"))
    assert "--to-class '10' is not a class of this model; choose one of ['0', '1'," in line
    assert vaekit("interpolate", "--from-class", "3", "--to-class", "9", "--steps", "3").returncode == 0


# -- bounded outputs, figure paths -------------------------------------------------------


@pytest.mark.parametrize(
    "args, reason",
    [
        (
            ["sample", "--n", "401"],
            "argument --n: '401' is not an integer from 1 to 400 (a figure holds at most 400 digits)",
        ),
        (["sample", "--n", "10" * 3000], "argument --n: "),
        (["sample", "--nrow", "41"], "argument --nrow: '41' is not an integer from 1 to 40 (a row holds at most 40"),
        (["sample", "--temperature", "nan"], "argument --temperature: 'nan' is not a number above 0 and at most 10"),
        (["sample", "--seed", str(2**64)], "argument --seed: '18446744073709551616' is not an integer from 0 to"),
        (["reconstruct", "--n", "41"], "argument --n: '41' is not an integer from 1 to 40 (one row holds at most 40"),
        (["interpolate", "--steps", "41"], "argument --steps: '41' is not an integer from 2 to 40"),
        (["train", "--seed", "-1"], "argument --seed: '-1' is not an integer from 0 to"),
        (["train", "--threads", "100000"], "argument --threads: '100000' is not an integer from 1 to 1,024"),
        (["explore", "--port", "70000"], "argument --port: '70000' is not an integer from 1 to 65,535"),
        (["sample", "--name", "../escape"], "figure name '../escape' is not a plain file name"),
        (["sample", "--name", "a/b"], "figure name 'a/b' is not a plain file name"),
        (["sample", "--name", ""], "figure name '' is not a plain file name"),
    ],
)
def test_outputs_are_bounded_and_figure_names_stay_in_their_folder(vaekit, fresh_clone, args, reason):
    line = _one_line_error(vaekit(*args))
    assert reason in line
    assert not (fresh_clone / "figures").exists() or not list((fresh_clone / "figures").iterdir())


def test_the_library_bounds_figures_too():
    import torch

    from vaekit.plotting import plot_images

    with pytest.raises(vaekit.VaekitError, match="a figure holds 1 to 400 digits, at most 40 a row; got 401 digits"):
        plot_images(torch.rand(401, 784))


def test_figure_paths_are_refused_before_training_starts(vaekit, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = vaekit("train", *QUICK, "--epochs", "1", "--out", str(tmp_path / "run"), "--figures", str(blocker))
    line = _one_line_error(result)
    assert f"--figures {blocker} is a file, not a folder" in line
    assert "training" not in result.stdout and not (tmp_path / "run" / TRAINING_FILE).exists()


# -- one run per folder ----------------------------------------------------------------


def test_a_second_run_on_a_folder_in_use_is_refused(vaekit, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with RunLock(run):  # a live run holds the folder
        line = _one_line_error(vaekit("train", *QUICK, "--epochs", "1", "--out", str(run)))
    assert f"another training run (process {os.getpid()}) is using {run}; wait for it to finish" in line
    assert not (run / TRAINING_FILE).exists()
    result = vaekit("train", *QUICK, "--epochs", "1", "--out", str(run), "--figures", str(tmp_path))
    assert result.returncode == 0, result.stderr  # free again
    assert sorted(p.name for p in run.iterdir()) == [MODEL_FILE, TRAINING_FILE]  # and the lock file is gone


def test_a_killed_run_never_leaves_its_folder_locked(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from vaekit.runs import RunLock
            with RunLock({str(run)!r}):
                print("locked", flush=True)
                time.sleep(600)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(vaekit.VaekitError, match=f"another training run \\(process {holder.pid}\\)"):
            RunLock(run).__enter__()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(60)
    with RunLock(run) as lock:  # the kernel released the killed process's lock
        assert lock.fd is not None


# -- resume ------------------------------------------------------------------------------


@pytest.fixture
def trained_run(vaekit, tmp_path):
    run = tmp_path / "run"
    result = vaekit(
        "train",
        *QUICK,
        "--epochs",
        "1",
        "--head",
        "logvar",
        "--latent-size",
        "4",
        "--out",
        str(run),
        "--figures",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    return run


def test_resume_takes_the_model_from_the_checkpoint(vaekit, trained_run, tmp_path):
    result = vaekit("train", *QUICK, "--epochs", "2", "--out", str(trained_run), "--resume", "--figures", str(tmp_path))
    assert result.returncode == 0, result.stderr  # no need to repeat --head and --latent-size
    assert "resuming" in result.stdout and "head='logvar'" in result.stdout and "latent_size=4" in result.stdout
    result = vaekit("train", *QUICK, "--epochs", "2", "--out", str(trained_run), "--resume", "--figures", str(tmp_path))
    assert result.returncode == 0 and "nothing to do: " in result.stdout and "raise --epochs" in result.stdout


@pytest.mark.parametrize(
    "change, named",
    [
        (["--grad-clip", "100"], "--grad-clip None (this run: 100.0)"),
        (["--binarize"], "--binarize False (this run: True)"),
        (["--fast"], "--fast False (this run: True)"),
        (["--lr", "0.01"], "--lr 0.001 (this run: 0.01)"),
        (["--head", "sigma"], "head='logvar' (this run: 'sigma')"),
        (["--test-limit", "200"], "tested on 100 images, this run has 200 (use the same --test-limit)"),
    ],
)
def test_resume_refuses_a_changed_setup_and_names_it(vaekit, trained_run, change, named):
    before = (trained_run / TRAINING_FILE).read_bytes()
    args = [*QUICK, *change]  # argparse keeps the last of a repeated option
    line = _one_line_error(vaekit("train", *args, "--epochs", "2", "--out", str(trained_run), "--resume"))
    assert "cannot resume" in line and named in line
    assert (trained_run / TRAINING_FILE).read_bytes() == before


def test_resume_without_a_checkpoint_is_an_error(vaekit, tmp_path):
    line = _one_line_error(vaekit("train", *QUICK, "--epochs", "1", "--out", str(tmp_path / "new"), "--resume"))
    assert f"nothing to resume: {tmp_path / 'new'} holds no training.safetensors; leave out --resume" in line


def test_every_option_that_changes_the_mathematics_is_checked_on_resume():
    from vaekit.train import RESUMABLE_CHANGES, TrainConfig

    assert set(MATH_OPTIONS) == {f.name for f in dataclasses.fields(TrainConfig)} - RESUMABLE_CHANGES


# -- the parser without torch ----------------------------------------------------------------


def test_the_parser_s_names_and_defaults_are_the_library_s():
    from vaekit.data import DATASETS
    from vaekit.data import FOLDER_PREFIX as DATA_FOLDER_PREFIX
    from vaekit.model import ARCHS, HEADS
    from vaekit.train import TrainConfig

    assert set(PRESET_NAMES) == set(vaekit.PRESETS) and set(HEAD_NAMES) == set(HEADS) and set(ARCH_NAMES) == set(ARCHS)
    assert set(DATASET_NAMES) == set(DATASETS) and FOLDER_PREFIX == DATA_FOLDER_PREFIX
    assert all(getattr(TrainConfig, name) == value for name, value in TRAIN_DEFAULTS.items())


@pytest.mark.parametrize("command", [[], ["train"], ["sample"], ["explore"], ["lab"], ["data"]])
def test_help_imports_no_torch(command):
    """`--help` answers at once: it never imports torch, numpy or matplotlib (benchmarks/bench_cli_help.py times it)."""
    script = textwrap.dedent("""
        import runpy, sys
        sys.argv = ['vaekit', *%r, '--help']
        try:
            runpy.run_module('vaekit', run_name='__main__')
        except SystemExit:
            pass
        print(sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script % (command,)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr
    assert "usage: vaekit" in result.stdout and result.stdout.strip().splitlines()[-1] == "[]"


# -- the library's epoch log and history ------------------------------------------------------


def test_epoch_log_is_a_public_callback_and_the_history_keys_are_documented(small_mnist, capsys):
    history = vaekit.fit(
        build("seed", seed=0, **TINY),
        small_mnist.train_images,
        small_mnist.test_images,
        vaekit.TrainConfig(epochs=2, seed=0),
        callbacks=[vaekit.EpochLog()],
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "last batch: total" in lines[0] and "test/image" in lines[0]
    assert set(history["epochs"][0]) == set(vaekit.HISTORY_KEYS)
    assert json.loads(json.dumps(history)) == history  # plain JSON, as in the checkpoints
