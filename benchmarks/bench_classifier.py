"""Train the judge classifier with vaekit's own command line and record what it cost and what it scores.

    python benchmarks/bench_classifier.py --dataset mnist [--epochs 5] [--threads 1] [--out FILE]

Runs ``python -m vaekit classifier`` (which writes the classifier, by default into the package's
``pretrained/classifiers/``) and writes ``benchmarks/results/classifier_<dataset>.json`` and ``.md``:
seconds per epoch as the command printed them, total wall time, test accuracy, file size, and the
machine with its load average before and after.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from benchlib import machine_info, machine_lines, write_results

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="classifier file (default: the package's)")
    args = parser.parse_args()
    machine = machine_info()
    command = [sys.executable, "-m", "vaekit", "classifier", "--dataset", args.dataset,
               "--epochs", str(args.epochs), "--threads", str(args.threads)]
    if args.out:
        command += ["--out", args.out]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    print(done.stdout, done.stderr, sep="", end="")
    if done.returncode != 0:
        sys.exit(done.returncode)
    epochs = [float(s) for s in re.findall(r"epoch \d+: ([\d.]+) s", done.stdout)]
    accuracy = float(re.search(r"test accuracy ([\d.]+) %", done.stdout).group(1))
    path = Path(re.search(r"classifier saved to (.+)", done.stdout).group(1).strip())
    results = {
        "machine": machine,
        "dataset": args.dataset,
        "epochs": args.epochs,
        "threads": args.threads,
        "seconds_per_epoch": epochs,
        "training_seconds": sum(epochs),
        "wall_seconds_with_loading": round(wall, 1),
        "test_accuracy_percent": accuracy,
        "file_bytes": path.stat().st_size,
        "command": " ".join(command[1:]),
    }

    def markdown(r):
        return "\n".join([
            f"# The {r['dataset']} judge classifier",
            "",
            (f"`python {r['command']}`: test accuracy **{r['test_accuracy_percent']:.2f} %**, "
             f"{r['training_seconds']:.0f} s of training ({', '.join(f'{s:.0f}' for s in r['seconds_per_epoch'])} "
             f"s an epoch), {r['wall_seconds_with_loading']:.0f} s in all; file {r['file_bytes'] / 1000:.0f} kB."),
            "",
            *machine_lines(r["machine"]),
            "",
        ])

    for written in write_results(f"classifier_{args.dataset}", results, markdown):
        print(f"wrote {written}")


if __name__ == "__main__":
    main()
