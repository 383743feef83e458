"""Time one epoch of the seed VAE: `torchrun --nproc_per_node=2` against one process.

    python benchmarks/bench_ddp.py --repeats 3 --json benchmarks/results/ddp.json

Runs the real command lines, alternating their order each round so that a
machine busy with other work slows both alike, and prints per mode the median
(and the range) of

- the epoch's training time, as the epoch line reports it (the steps only), and
- the whole command's wall time (start-up, loading MNIST, the test evaluation,
  saving).

Modes: ``one`` = one process with PyTorch's default threads; ``one-1thread`` =
one process with OMP_NUM_THREADS=1; ``two`` = torchrun with 2 processes (torchrun
gives each one thread).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# The epoch line of `vaekit train` (cli.EpochLog): last batch total, train/image, test/image, seconds.
EPOCH_LINE = re.compile(
    r"epoch\s+\d+\s+last batch: total\s+([\d.]+).*train/image\s+([\d.]+)"
    r".*?(?:test/image\s+([\d.]+))?\s+\|\s+([\d.]+) s"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(mode: str, folder: Path, train_args: list[str]) -> tuple[list[str], dict]:
    vaekit = ["-m", "vaekit", "train", *train_args, "--no-progress"]
    vaekit += ["--out", str(folder / "run"), "--figures", str(folder / "figures")]
    env = dict(os.environ)
    if mode == "two":
        launcher = ["-m", "torch.distributed.run", "--nproc_per_node=2"]
        launcher += ["--master_addr=127.0.0.1", f"--master_port={free_port()}"]
        return [sys.executable, *launcher, *vaekit], env
    if mode == "one-1thread":
        env["OMP_NUM_THREADS"] = "1"
    return [sys.executable, *vaekit], env


def run(mode: str, train_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        args, env = command(mode, Path(tmp), train_args)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        result = subprocess.run(args, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{result.stderr[-3000:]}")
    epochs = [m.groups() for m in map(EPOCH_LINE.search, result.stdout.splitlines()) if m]
    last_batch, train, test, seconds = epochs[-1]
    return {
        "mode": mode,
        "epoch_seconds": [float(e[3]) for e in epochs],
        "wall_seconds": wall,
        "train_per_image": float(train),
        "test_per_image": float(test) if test else None,
        "last_batch_total": float(last_batch),
        "load_average_before": load,
    }


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} s  ({min(values):.1f} to {max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="one,one-1thread,two")
    parser.add_argument("--json", type=Path, help="also write every run here, with the machine and the date")
    parser.add_argument("train_args", nargs="*", default=["--preset", "seed", "--epochs", "1"], help="after --")
    args = parser.parse_args()
    modes = args.modes.split(",")
    runs = []
    for round_ in range(args.repeats):
        order = modes if round_ % 2 == 0 else modes[::-1]
        for mode in order:
            runs.append(run(mode, args.train_args))
            r = runs[-1]
            print(
                f"round {round_}  {mode:12} epoch {r['epoch_seconds'][-1]:6.1f} s  wall {r['wall_seconds']:6.1f} s  "
                f"train/image {r['train_per_image']:.2f}  test/image {r['test_per_image']}  "
                f"load {r['load_average_before']:.1f}",
                flush=True,
            )
    print(f"\nvaekit train {' '.join(args.train_args)}; {args.repeats} rounds, median (range)")
    print(f"{'mode':12}  {'epoch (steps only)':30}  whole command")
    for mode in modes:
        mine = [r for r in runs if r["mode"] == mode]
        epoch, wall = summary([r["epoch_seconds"][-1] for r in mine]), summary([r["wall_seconds"] for r in mine])
        print(f"{mode:12}  {epoch:30}  {wall}")
    if args.json:
        machine = {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads_default": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "train_args": args.train_args, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
