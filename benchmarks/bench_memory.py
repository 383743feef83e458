"""Peak resident memory of one training epoch: vaekit's seed against PyTorch's own VAE example.

Each contender runs as a fresh process (so that its peak is its own), alternating
over rounds; the peak is the kernel's ru_maxrss of that process (os.wait4). Also
measured: a bare ``import torch``, the floor under any PyTorch program here.

    python benchmarks/bench_memory.py --rounds 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import machine_info, machine_lines, spread, write_results

ROOT = Path(__file__).resolve().parent.parent


def contenders(out: str) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "import torch": [py, "-c", "import torch"],
        "vaekit train --preset seed --epochs 1": [
            py, "-m", "vaekit", "train", "--preset", "seed", "--epochs", "1", "--out", out, "--figures", out,
            "--no-progress",
        ],
        "pytorch/examples vae/main.py, 1 epoch": [
            py, str(ROOT / "benchmarks" / "pytorch_vae_example.py"), "--epochs", "1"
        ],
    }


def peak_mb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one run of ``command``."""
    import time

    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command} failed: {process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--name", default="memory_epoch")
    args = parser.parse_args()
    results = {"machine": machine_info(), "peak_rss_mb": {}, "seconds": {}}
    with tempfile.TemporaryDirectory() as out:
        runs = contenders(out)
        for r in range(args.rounds):
            names = list(runs)[r % len(runs):] + list(runs)[: r % len(runs)]
            for name in names:
                mb, seconds = peak_mb(runs[name])
                results["peak_rss_mb"].setdefault(name, []).append(round(mb, 1))
                results["seconds"].setdefault(name, []).append(round(seconds, 1))
                print(f"round {r}: {name}: {mb:.0f} MB, {seconds:.1f} s", flush=True)

    def markdown(results: dict) -> str:
        lines = ["# Peak resident memory of one training epoch", "", *machine_lines(results["machine"]), "",
                 "| process | peak RSS, MB (median, min-max) | wall s (median) |", "| --- | --- | --- |"]
        for name, values in results["peak_rss_mb"].items():
            s = spread(values)
            lines.append(f"| {name} | {s['median']:.0f} ({s['min']:.0f}-{s['max']:.0f}) | "
                         f"{spread(results['seconds'][name])['median']:.1f} |")
        return "\n".join(lines) + "\n"

    paths = write_results(args.name, results, markdown)
    print("\n".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
