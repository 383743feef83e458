"""How long `python -m vaekit [COMMAND] --help` takes: a fresh interpreter each time, as a user runs it.

    python benchmarks/bench_cli_help.py [--repeats 5]

Writes benchmarks/results/cli_help.json (median, min and max per command, with the machine and load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402

COMMANDS = [[], ["data"], ["train"], ["sample"], ["reconstruct"], ["interpolate"], ["evaluate"], ["explore"], ["lab"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    info = benchlib.machine_info()
    times: dict[str, list[float]] = {" ".join(c) or "(none)": [] for c in COMMANDS}
    for _ in range(args.repeats):  # commands alternate inside each round
        for command in COMMANDS:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "vaekit", *command, "--help"], env=env, check=True, stdout=subprocess.DEVNULL
            )
            times[" ".join(command) or "(none)"].append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(args.repeats):
        subprocess.run([sys.executable, "-c", "import torch"], env=env, check=True)
    torch_import = (time.perf_counter() - start) / args.repeats
    results = {
        **info,
        "seconds": {k: benchlib.spread(v) for k, v in times.items()},
        "import_torch_seconds_mean": torch_import,
        "load_average_at_end": benchlib.load_average(),
    }
    out = benchlib.RESULTS / "cli_help.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for name, spread in results["seconds"].items():
        print(
            f"vaekit {name} --help: median {spread['median']:.3f} s (min {spread['min']:.3f}, max {spread['max']:.3f})"
        )
    print(f"for comparison, `import torch` alone: {torch_import:.2f} s; load average {results['load_average_at_end']}")


if __name__ == "__main__":
    main()
