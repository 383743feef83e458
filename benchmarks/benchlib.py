"""What every benchmark script shares: the machine's description, statistics, results files.

The machines these run on are shared and noisy, so each script alternates its
contenders inside one run and reports medians with their spread; the load
average at the start and the end goes into every results file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The CPU features that decide bfloat16 speed (empty where /proc/cpuinfo is missing)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    flags = set(next((line for line in text.splitlines() if line.startswith("flags")), "").split())
    return [flag for flag in wanted if flag in flags]


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def peak_rss_mb() -> float | None:
    """The largest resident memory this process has had (Linux reports KiB, macOS bytes)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


# Environment variables that hold a library to fewer instructions than the CPU has (a run made
# "as an AVX2 machine"): the results record them, since the command line does not show them.
ISA_SETTINGS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY")


def machine_info() -> dict:
    import torchvision

    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cpu_features": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "isa_settings": {name: os.environ[name] for name in ISA_SETTINGS if name in os.environ},
    }


def spread(values: list[float]) -> dict:
    """Median with the smallest and largest value and the count: what the tables print."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def machine_lines(machine: dict) -> list[str]:
    return [
        f"- Date: {machine['date_utc']}; command: `{machine['command']}`",
        f"- Machine: {machine['cpu']} ({', '.join(machine['cpu_features']) or 'no AVX-512'}), "
        f"{machine['logical_cpus']} logical CPUs, {machine['torch_threads']} PyTorch threads",
        *([f"- Held to fewer instructions: {', '.join(f'{k}={v}' for k, v in machine['isa_settings'].items())}"]
          if machine.get("isa_settings") else []),
        f"- Versions: Python {machine['python']}, torch {machine['torch']}, torchvision {machine['torchvision']}",
        f"- Load average (1, 5, 15 min) at start {machine['load_average_at_start']}, "
        f"at end {machine.get('load_average_at_end')}: the machine is shared, so compare within a run",
        f"- Peak resident memory of this benchmark process: {machine.get('peak_rss_mb')} MB",
    ]


def write_results(name: str, results: dict, markdown: str, folder: Path = RESULTS) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    results["machine"]["load_average_at_end"] = load_average()
    results["machine"]["peak_rss_mb"] = peak_rss_mb()
    json_path, md_path = folder / f"{name}.json", folder / f"{name}.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(markdown(results) if callable(markdown) else markdown)
    return json_path, md_path
