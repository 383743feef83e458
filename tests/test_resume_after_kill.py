"""`python -m vaekit train` killed with SIGKILL at random moments resumes and ends bit-identical.

Each round starts the CLI in a subprocess (with ``--resume`` once a checkpoint exists) and stops it: with
SIGKILL (no handler, no cleanup) at a random moment of training, with SIGKILL
while a checkpoint is being written (on a simulated slow disk, so that the
moment is wide enough to hit), or with Ctrl-C (SIGINT) at a random moment.
After every round the checkpoint on disk must load, must hold every epoch the
stopped process reported as done, and must lie exactly on the trajectory of an
uninterrupted run. The last round runs to the end; its weights, Adam moments
and history must equal the uninterrupted run's bit for bit.

A longer soak is the same test with more rounds and epochs:
``VAEKIT_FAULT_ROUNDS=35 VAEKIT_KILL_EPOCHS=25 pytest tests/test_resume_after_kill.py -s``.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaekit import checkpoint
from vaekit.cli import MODEL_FILE, TRAINING_FILE, main

ROOT = Path(__file__).resolve().parent.parent
# One cycle: 6 kills (3 of them mid-write) and 1 Ctrl-C.
SCHEDULE = ["kill", "kill mid-write", "kill", "interrupt", "kill mid-write", "kill", "kill mid-write"]
ROUNDS = int(os.environ.get("VAEKIT_FAULT_ROUNDS", len(SCHEDULE)))
EPOCHS = int(os.environ.get("VAEKIT_KILL_EPOCHS", "8"))
SEED = int(os.environ.get("VAEKIT_KILL_SEED", random.randrange(10**6)))
# 10 steps an epoch on 1,500 images; a training checkpoint every 2 steps.
TRAIN_ARGS = [
    "train", "--train-limit", "1500", "--test-limit", "300", "--epochs", str(EPOCHS),
    "--checkpoint-every", "2", "--seed", "0", "--no-progress",
]  # fmt: skip
THREADS = 1  # the same in every process: a different split of the work may round differently
SLOW_FSYNC_S = 0.2
# The longest a round trains before its kill, at most: scaled down to the
# uninterrupted run's duration on a fast machine, so that the run does not end
# before every round has been played.
ANYTIME_DELAY_S = 1.0
STARTUP_TIMEOUT_S = 120

# The child: the real CLI, with torch's thread count pinned and, for the
# mid-write rounds, a disk whose fsync takes SLOW_FSYNC_S.
LAUNCHER = """
import os, runpy, sys, time
import torch
torch.set_num_threads(int(os.environ["VAEKIT_THREADS"]))
slow = float(os.environ.get("VAEKIT_SLOW_FSYNC_S", "0"))
if slow:
    real_fsync = os.fsync
    def slow_fsync(fd):
        time.sleep(slow)
        real_fsync(fd)
    os.fsync = slow_fsync
sys.argv = ["vaekit", *sys.argv[1:]]
runpy.run_module("vaekit", run_name="__main__", alter_sys=True)
"""


class Child:
    """One `vaekit train --resume` process, its output read by a thread."""

    def __init__(self, out: Path, figures: Path, slow_fsync_s: float = 0.0):
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "VAEKIT_THREADS": str(THREADS),
            "VAEKIT_SLOW_FSYNC_S": str(slow_fsync_s),
        }
        # --resume once a training checkpoint exists (before it, --resume is an error: nothing to resume).
        resume = ["--resume"] if (out / TRAINING_FILE).exists() else []
        args = [*TRAIN_ARGS, *resume, "--out", str(out), "--figures", str(figures)]
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self.lines: list[str] = []
        self.training = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("training "):
                self.training.set()
        self.training.set()  # ended without training: stop waiting

    def stop(self, how: signal.Signals) -> int | None:
        """Send ``how``; the exit status, or None if the process had already ended by itself."""
        if self.process.poll() is not None:
            self.wait()
            return None
        os.kill(self.process.pid, how)
        return self.wait()

    def wait(self, timeout: float = 300) -> int:
        code = self.process.wait(timeout)
        self.reader.join(timeout)
        return code

    def writing(self, folder: Path) -> bool:
        """Whether this process has a temporary checkpoint file open (see checkpoint.write_atomically:
        ``.NAME.PID.RANDOM.tmp``, an unpredictable name)."""
        return any(folder.glob(f".{TRAINING_FILE}.{self.process.pid}.*.tmp"))

    @property
    def epochs_reported(self) -> list[int]:
        # EpochLog prints an epoch's line after its checkpoint is on disk.
        return [int(line.split()[1]) for line in self.lines if line.startswith("epoch ")]


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".{TRAINING_FILE}.*.tmp"))


def _without_seconds(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "seconds"} for record in records]


def _assert_same_tensors(a: Path, b: Path) -> None:
    left, right = load_file(a), load_file(b)
    assert sorted(left) == sorted(right)
    different = [name for name in left if not torch.equal(left[name], right[name])]
    assert different == [], f"{a} and {b} differ in {different}"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The same command run once without interruption, in this process with the same thread count."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    try:
        assert main([*TRAIN_ARGS, "--out", str(folder / "run"), "--figures", str(folder / "figures")]) == 0
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start
    return folder / "run", checkpoint.load_checkpoint(folder / "run" / TRAINING_FILE).history, seconds


def test_sigkill_at_random_moments_then_resume_ends_bit_identical(uninterrupted, tmp_path):
    reference_run, reference, reference_seconds = uninterrupted
    # The random waits add up to about ROUNDS * delay / 2: a quarter of the whole run at most.
    anytime_delay = min(ANYTIME_DELAY_S, reference_seconds / (2 * ROUNDS))
    run, figures = tmp_path / "run", tmp_path / "figures"
    steps_per_epoch = len(reference["batch_losses"]) // EPOCHS
    rng = random.Random(SEED)
    context = f"(VAEKIT_KILL_SEED={SEED})"
    kills = kills_mid_write = interrupts = 0
    done_before = -1  # steps the checkpoint on disk had reached before this round
    for index in range(ROUNDS):
        mode = SCHEDULE[index % len(SCHEDULE)]
        mid_write = mode == "kill mid-write"
        child = Child(run, figures, SLOW_FSYNC_S if mid_write else 0.0)
        assert child.training.wait(STARTUP_TIMEOUT_S), f"no training started {context}"
        if mid_write:
            # Kill within SLOW_FSYNC_S or so of a temporary file appearing: mostly
            # while it is written and synced, sometimes just after the rename.
            deadline = time.monotonic() + 30
            while not child.writing(run) and child.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 1.5 * SLOW_FSYNC_S))
        else:
            time.sleep(rng.uniform(0, anytime_delay))
        code = child.stop(signal.SIGINT if mode == "interrupt" else signal.SIGKILL)
        if code is None or code == 0:
            break  # training ended first: nothing left to interrupt
        if mode == "interrupt":
            assert code == 2 and "interrupted; progress saved in" in child.lines[-1], child.lines[-3:]
            interrupts += 1
        else:
            assert code == -signal.SIGKILL
            kills += 1
            kills_mid_write += child.writing(run)

        path = run / TRAINING_FILE
        if not path.exists():
            assert child.epochs_reported == [], context
            continue
        saved = checkpoint.load_checkpoint(path)  # always loadable
        done = saved.progress["epoch"] * steps_per_epoch + saved.progress["step"]
        assert done >= done_before, f"the checkpoint went back from step {done_before} to {done} {context}"
        done_before = done
        epochs = saved.history["epochs"]
        assert set(child.epochs_reported) <= {r["epoch"] for r in epochs}, f"a reported epoch was lost {context}"
        assert len(epochs) == saved.progress["epoch"]
        # On the uninterrupted run's trajectory, step for step:
        assert saved.history["batch_losses"] == reference["batch_losses"][:done], context
        assert _without_seconds(epochs) == _without_seconds(reference["epochs"][: len(epochs)]), context

    final = Child(run, figures)
    assert final.wait() == 0, "\n".join(final.lines[-5:])
    assert _temporaries(run) == []  # the killed writers' leftovers were cleaned up

    _assert_same_tensors(run / MODEL_FILE, reference_run / MODEL_FILE)
    _assert_same_tensors(run / TRAINING_FILE, reference_run / TRAINING_FILE)
    history = checkpoint.load_checkpoint(run / MODEL_FILE).history
    assert history["batch_losses"] == reference["batch_losses"]
    assert _without_seconds(history["epochs"]) == _without_seconds(reference["epochs"])
    assert kills + interrupts == ROUNDS, f"training ended after {kills + interrupts} of {ROUNDS} rounds {context}"
    assert kills_mid_write >= 1, f"no kill landed during a checkpoint write {context}"
    print(
        f"\nkills: {kills} ({kills_mid_write} during a checkpoint write), Ctrl-C: {interrupts}, all resumed, "
        f"0 epochs lost, final weights bit-identical {context}"
    )
