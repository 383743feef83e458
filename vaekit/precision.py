"""Numeric precision for training: bfloat16 autocast (``--fast``) and the layers kept in float32.

The model computes in whatever precision it is given; the trainer decides. Under
``--fast`` the networks' matrix products run in bfloat16, but three layers keep
float32 because their outputs feed sums over many terms: the two heads (the KL's
exp and log) and the decoder's output layer (with bfloat16 logits the test loss
ended about 1.8 nats worse after 10 epochs; benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


def float32_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose outputs stay float32 under autocast."""
    return [model.mean_head, model.scale_head, model.output_layer]


def _float32_forward(forward):
    @functools.wraps(forward)
    def run(x, *args, **kwargs):
        with torch.autocast(x.device.type, enabled=False):
            return forward(x.float(), *args, **kwargs)

    run.vaekit_float32 = True
    return run


def keep_float32(model: nn.Module) -> None:
    """Make ``float32_layers(model)`` compute in float32 even inside an autocast region (idempotent)."""
    for layer in float32_layers(model):
        if not getattr(layer.forward, "vaekit_float32", False):
            layer.forward = _float32_forward(layer.forward)


def autocast(model: nn.Module, device: torch.device, enabled: bool):
    """The context the trainer runs each step's forward pass in: bfloat16 autocast when ``enabled``."""
    if not enabled:
        return contextlib.nullcontext()
    keep_float32(model)
    return torch.autocast(device.type, dtype=torch.bfloat16)


# -- whether bfloat16 pays on this machine ------------------------------------
#
# Without native bfloat16 instructions oneDNN emulates bfloat16 products, and
# --fast was 7x slower than float32 on a 2-core AVX2 machine (benchmarks/README.md).
# So --fast asks two questions before it switches autocast on: does the device
# multiply bfloat16 natively, and (one process only) is a bfloat16 step measurably
# faster than a float32 step here? Any "no" trains in float32 and says why.

# /proc/cpuinfo flags of native bfloat16: x86's AVX-512 BF16 and AMX; Arm's BF16 extension.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
# oneDNN's ISA levels (ONEDNN_MAX_CPU_ISA) at which it has bfloat16 instructions.
_ONEDNN_BF16_ISAS = ("ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX",
                     "AVX512_CORE_AMX_FP16", "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16",
                     "AVX10_2_512", "AVX10_2_512_AMX_2")
# bfloat16 must win by this margin: a tie is not worth the precision.
MIN_SPEEDUP = 1.05


class PrecisionWarning(UserWarning):
    """--fast was asked for and float32 is used instead (the message says why)."""


@dataclass(frozen=True)
class Decision:
    """What ``--fast`` does on this machine: ``bfloat16`` autocast or not, and the one line saying why not."""

    bfloat16: bool
    note: str | None = None  # set when --fast was asked for and float32 is used instead
    ms_per_step: dict | None = None  # the probe's medians, {"float32": ..., "bfloat16": ...}, if it ran


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (x86 ``flags``, Arm ``Features``); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def missing_bfloat16(device: torch.device, flags: frozenset[str] | None = None) -> str | None:
    """None if ``device`` multiplies bfloat16 natively, else the reason it does not."""
    if device.type == "cuda":
        return None if torch.cuda.is_bf16_supported(including_emulation=False) else "this GPU has no native bfloat16"
    if device.type != "cpu":
        return None  # MPS: no flag to read; the probe decides
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if isa and isa not in _ONEDNN_BF16_ISAS:
        return f"ONEDNN_MAX_CPU_ISA={isa} keeps oneDNN from bfloat16 instructions"
    flags = cpu_flags() if flags is None else flags
    if not flags & NATIVE_BF16_FLAGS:
        return ("this CPU has no native bfloat16 (no AVX-512 BF16 or AMX), "
                "so bfloat16 is emulated and several times slower")
    return None


# The probe's answers, by device and the caller's key: one process decides once per
# kind of run, so two runs with the same settings in one session train alike.
_probed: dict[tuple, dict] = {}


def decide(device: torch.device, requested: bool, probe: Callable[[], dict] | None = None,
           flags: frozenset[str] | None = None, cache_key: object = None) -> Decision:
    """bfloat16 only where it is native and, if ``probe`` is given, measured faster than float32.

    ``probe()`` returns ms per step, ``{"float32": ..., "bfloat16": ...}`` (``time_steps`` measures them);
    with a ``cache_key`` its answer is remembered for this process.
    """
    if not requested:
        return Decision(False)
    missing = missing_bfloat16(device, flags)
    if missing:
        return Decision(False, f"--fast: {missing}; training in float32")
    if probe is None:
        return Decision(True)
    key = (str(device), cache_key)
    ms = _probed[key] if cache_key is not None and key in _probed else probe()
    if cache_key is not None:
        _probed[key] = ms
    if ms["bfloat16"] * MIN_SPEEDUP <= ms["float32"]:
        return Decision(True, None, ms)
    return Decision(
        False,
        f"--fast: a bfloat16 step took {ms['bfloat16']:.1f} ms here against float32's {ms['float32']:.1f} ms; "
        "training in float32",
        ms,
    )


def time_steps(steps: dict[str, Callable[[], None]], device: torch.device, rounds: int = 3, repeats: int = 3) -> dict:
    """Median ms per call of each of ``steps``, called in turn (after one warm-up call each) for ``rounds`` rounds."""
    sync = {
        "cuda": torch.cuda.synchronize, "mps": getattr(torch, "mps", None) and torch.mps.synchronize
    }.get(device.type)
    seen = {name: [] for name in steps}
    for r in range(rounds + 1):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(repeats):
                step()
            if sync:
                sync()
            if r:  # round 0 warms up: first calls choose kernels and allocate
                seen[name].append(1e3 * (time.perf_counter() - start) / repeats)
    return {name: statistics.median(times) for name, times in seen.items()}


def probe(model: nn.Module, batch: torch.Tensor, device: torch.device) -> dict:
    """ms per training step of copies of ``model`` on ``batch``: float32 as the trainer runs it, and bfloat16 autocast.

    The copies have their own Adam; ``model`` and the caller's random generators are left alone.
    """
    from . import fastpath

    eps = torch.randn(len(batch), model.config.latent_size,
                      generator=torch.Generator(device=device).manual_seed(0), device=device)
    # A conditional model needs labels; any class will do for timing.
    labels = torch.zeros(len(batch), dtype=torch.long, device=device) if model.config.conditional else None

    def step_of(bfloat16: bool) -> Callable[[], None]:
        twin = copy.deepcopy(model)
        optimizer = torch.optim.Adam(twin.parameters(), fused=device.type in ("cpu", "cuda"))
        hand = None if bfloat16 else fastpath.for_training(
            twin, device, len(batch), bfloat16=False, processes=1, optimizer=optimizer)

        def step() -> None:
            if hand is not None:
                hand.step(batch, eps)
            else:
                optimizer.zero_grad(set_to_none=True)
                with autocast(twin, device, bfloat16):
                    loss = twin.loss(batch, labels, eps=eps)
                loss.total.backward()
            if hand is None or not hand.updated:
                optimizer.step()

        return step

    return time_steps({"float32": step_of(False), "bfloat16": step_of(True)}, device)
