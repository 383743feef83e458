"""--fast only where bfloat16 is native and faster; PyTorch's threads spin only briefly while they wait."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vaekit import TrainConfig, Trainer, build, precision
from vaekit.data import to_float
from vaekit.precision import PrecisionWarning, decide, missing_bfloat16
from vaekit.threads import bound_spinning

CPU = torch.device("cpu")
AVX2 = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
AMX = AVX2 | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
ROOT = Path(__file__).resolve().parent.parent


def test_not_asked_means_float32_and_nothing_said():
    assert decide(CPU, requested=False) == precision.Decision(False)


def test_a_cpu_without_native_bfloat16_trains_in_float32_and_says_so():
    decision = decide(CPU, True, probe=lambda: pytest.fail("no probe without native bfloat16"), flags=AVX2)
    assert not decision.bfloat16
    assert decision.note.startswith("--fast: ") and "no native bfloat16" in decision.note
    assert "\n" not in decision.note  # one line
    assert missing_bfloat16(CPU, flags=AMX) is None
    assert missing_bfloat16(CPU, flags=frozenset({"fp", "asimd", "bf16"})) is None  # Arm's BF16 extension


def test_oneDNN_held_below_bfloat16_counts_as_no_native_bfloat16(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in missing_bfloat16(CPU, flags=AMX)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core_amx")
    assert missing_bfloat16(CPU, flags=AMX) is None


def test_native_bfloat16_is_used_only_when_the_probe_finds_it_faster():
    faster = decide(CPU, True, probe=lambda: {"float32": 10.0, "bfloat16": 6.0}, flags=AMX)
    assert faster.bfloat16 and faster.note is None and faster.ms_per_step["bfloat16"] == 6.0
    tie = decide(CPU, True, probe=lambda: {"float32": 10.0, "bfloat16": 9.9}, flags=AMX)
    assert not tie.bfloat16 and "9.9 ms" in tie.note and "10.0 ms" in tie.note and "float32" in tie.note
    assert decide(CPU, True, probe=None, flags=AMX).bfloat16  # several processes: no probe, the flags decide


def test_the_probe_times_real_steps_and_leaves_the_model_alone(small_mnist):
    model = build("seed", seed=0)
    before = [p.clone() for p in model.parameters()]
    ms = precision.probe(model, to_float(small_mnist.train_images[:150]), CPU)
    assert set(ms) == {"float32", "bfloat16"} and all(v > 0 for v in ms.values())
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_the_trainer_warns_once_and_trains_float32_with_the_hand_written_step(small_mnist, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # this machine as if it had no bfloat16 instructions
    with pytest.warns(PrecisionWarning, match="no native bfloat16|ONEDNN_MAX_CPU_ISA") as caught:
        trainer = Trainer(build("seed", seed=0), small_mnist.train_images, config=TrainConfig(epochs=1, fast=True))
    assert len(caught) == 1
    assert not trainer.precision.bfloat16 and trainer.hand_written_step is not None


def test_the_cli_says_it_in_one_line(vaekit, tmp_path, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    result = vaekit("train", "--fast", "--epochs", "1", "--train-limit", "300", "--test-limit", "100",
                    "--out", str(tmp_path / "run"), "--figures", str(tmp_path / "figures"), "--no-progress")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: --fast")]
    assert len(notes) == 1 and "training in float32" in notes[0]
    assert "PrecisionWarning" not in result.stderr


def test_importing_vaekit_before_torch_bounds_openmp_spinning():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = str(ROOT)
    code = ("import os, vaekit, torch; print(os.environ['GOMP_SPINCOUNT'], os.environ.get('OMP_WAIT_POLICY'), "
            "vaekit.BOUNDED_WAITING)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1000", "None", "True"]


def test_a_users_wait_settings_are_kept_and_too_late_is_said(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch")  # as before torch's first import
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user wants long spins: kept, nothing added
    assert bound_spinning() is False and "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert bound_spinning() is True and "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("GOMP_SPINCOUNT", "50")
    assert bound_spinning() is True and os.environ["GOMP_SPINCOUNT"] == "50"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    assert bound_spinning() is True and os.environ["GOMP_SPINCOUNT"] == "1000"
    monkeypatch.undo()
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert bound_spinning() is False and "GOMP_SPINCOUNT" not in os.environ  # torch is loaded: too late
