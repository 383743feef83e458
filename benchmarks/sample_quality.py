"""The README's sample-quality table: ``evaluate --samples N`` on every shipped model.

    python benchmarks/sample_quality.py [--samples 5000]

Runs ``python -m vaekit evaluate --checkpoint vaekit/pretrained/NAME.safetensors --samples N`` for each
shipped VAE and writes its printout, with the machine, to ``benchmarks/results/sample_quality.json``/``.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from benchlib import machine_info, machine_lines, write_results

from vaekit.pretrained import available, pretrained_path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args()
    machine = machine_info()
    outputs = {}
    for name in available():
        command = [sys.executable, "-m", "vaekit", "evaluate", "--checkpoint", str(pretrained_path(name)),
                   "--samples", str(args.samples)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        print(done.stdout, done.stderr, sep="", end="")
        if done.returncode != 0:
            sys.exit(done.returncode)
        outputs[name] = done.stdout
    results = {"machine": machine, "samples": args.samples, "outputs": outputs}

    def markdown(r):
        lines = [f"# Sample quality of the shipped models ({r['samples']:,} prior samples)", ""]
        for name, text in r["outputs"].items():
            lines += [f"## {name}", "", f"`python -m vaekit evaluate --checkpoint vaekit/pretrained/{name}.safetensors "
                      f"--samples {r['samples']}`", "", "```", text.rstrip(), "```", ""]
        return "\n".join([*lines, *machine_lines(r["machine"]), ""])

    for written in write_results("sample_quality", results, markdown):
        print(f"wrote {written}")


if __name__ == "__main__":
    main()
