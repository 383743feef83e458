"""vaekit against the seed's own TF1 code: ms per training step, alternated in one run.

    python benchmarks/bench_tf1.py --tf-python .tfvenv/bin/python

The TF1 code (benchmarks/seed_tf1.py) runs in its own virtual environment as a
child process that trains N steps whenever asked; this script alternates it
with vaekit's Trainer (float32 and --fast) on the same batch size, the same
model and the same threads, and writes results/tf1.json and results/tf1.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

from bench_speed import BATCH, VaekitTrainer, alternate  # noqa: E402, I001  # imports vaekit before torch
import torch  # noqa: E402

import benchlib  # noqa: E402
import vaekit  # noqa: E402
from vaekit.data import data_root  # noqa: E402


class SeedTF1:
    """The TF1 child process; run() asks it for `steps` steps and returns their seconds."""

    def __init__(self, python: str, threads: int):
        command = [python, str(HERE / "seed_tf1.py"), "--serve", "--threads", str(threads), "--data", str(data_root())]
        # TensorFlow as it comes: its own thread pools, no wait policy of vaekit's.
        env = {**{k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}, "OMP_NUM_THREADS": str(threads)}
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        ready = self.process.stdout.readline().split()
        if ready[:1] != ["ready"]:
            raise SystemExit(f"{' '.join(command)} did not start; run it by hand to see why")
        self.version = ready[-1]
        self.last_loss = None

    def run(self, steps: int) -> float:
        self.process.stdin.write(f"{steps}\n")
        self.process.stdin.flush()
        seconds, self.last_loss = (float(v) for v in self.process.stdout.readline().split())
        return seconds

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def markdown(results: dict) -> str:
    lines = [
        "# vaekit vs the seed's TF1 code (tf.compat.v1): ms per training step, alternated in one run",
        "",
        *benchlib.machine_lines(results["machine"]),
        f"- TensorFlow {results['tensorflow']} (own venv); {results['rounds']} rounds of {results['steps']} steps "
        f"per contender, batch {results['batch_size']}; median [min, max] over rounds",
        "",
        "| contender | ms / step |",
        "|---|---|",
    ]
    for name, ms in results["ms_per_step"].items():
        lines.append(f"| {name} | {ms['median']:.1f} [{ms['min']:.1f}, {ms['max']:.1f}] |")
    lines += ["", "| ratio (within each round; > 1: vaekit faster) | median [min, max] |", "|---|---|"]
    for name, r in results["ratios"].items():
        lines.append(f"| {name} | {r['median']:.2f} [{r['min']:.2f}, {r['max']:.2f}] |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tf-python", default=os.environ.get("TF_PYTHON", ".tfvenv/bin/python"),
                        help="the TF venv's python")
    parser.add_argument("--steps", type=int, default=40, help="steps per chunk (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=7, help="default: %(default)s")
    parser.add_argument("--threads", type=int, default=2, help="threads for both frameworks (default: %(default)s)")
    parser.add_argument("--name", default="tf1", help="results file name (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = benchlib.machine_info()
    images = vaekit.load_mnist().train_images[: args.steps * BATCH]
    tf1 = SeedTF1(args.tf_python, args.threads)
    contenders = {
        "seed TF1 (tf.compat.v1)": tf1,
        "vaekit": VaekitTrainer(images, fast=False),
        "vaekit --fast": VaekitTrainer(images, fast=True),
    }
    try:
        seen = alternate(contenders, args.steps, args.rounds, lambda m: print(m, flush=True))
    finally:
        tf1.close()
    ms = {name: [1e3 * s / args.steps for s in values] for name, values in seen.items()}
    tf_name = "seed TF1 (tf.compat.v1)"

    def ratio(name):
        return benchlib.spread([t / v for t, v in zip(ms[tf_name], ms[name])])

    results = {
        "machine": machine,
        "tensorflow": tf1.version,
        "steps": args.steps,
        "rounds": args.rounds,
        "batch_size": BATCH,
        "raw_seconds": seen,
        "ms_per_step": {name: benchlib.spread(values) for name, values in ms.items()},
        "ratios": {"TF1 / vaekit": ratio("vaekit"), "TF1 / vaekit --fast": ratio("vaekit --fast")},
        "tf1_last_batch_loss_per_image": tf1.last_loss,
    }
    json_path, md_path = benchlib.write_results(args.name, results, markdown)
    print(md_path.read_text())
    print(f"written {json_path} and {md_path}")


if __name__ == "__main__":
    main()
