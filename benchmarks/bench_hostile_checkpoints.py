"""The worst a hostile checkpoint file can cost the loader: seconds and peak resident memory.

Loads, one after another in this process, the files that tests/test_hostile_checkpoints.py's
hypothesis strategy generates (``--examples`` of them) and a set of hand-made worst cases (a
16 MB header at the size limit: deep nesting, a history of a million numbers, a thousand
tensors; configurations asking for 10^12 parameters; integers of thousands of digits). Each
must end in a model or one CheckpointError. Prints and writes the slowest case's seconds and
the process's peak resident memory against its peak right after ``import vaekit`` (a load
that allocated what a configuration asks for would show gigabytes).

    python benchmarks/bench_hostile_checkpoints.py [--examples 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import benchlib  # noqa: E402
from hostile_checkpoints import TINY, hostile_files, raw_checkpoint, tiny_file  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

import vaekit  # noqa: E402
from vaekit import checkpoint  # noqa: E402

LIMIT = checkpoint.MAX_HEADER_BYTES


def hand_made(folder: Path):
    """(name, path) of files built to be as costly as the format allows."""
    room = int(LIMIT * 0.95)  # under the limit, with the JSON around the entry
    cases = {
        "config asking for 2e12 parameters": dict(config={**TINY, "hidden_sizes": [10**6, 10**6]}),
        "config with 1,000 layers of 2^20": dict(config={**TINY, "hidden_sizes": [2**20] * 1000}),
        "config integer of 4,000 digits": dict(extra_metadata={"config": '{"latent_size": ' + "9" * 4000 + "}"}),
        "16 MB config nested 8 M deep": dict(extra_metadata={"config": "[" * (room // 2) + "]" * (room // 2)}),
        "16 MB history of numbers": dict(history={"epochs": [], "batch_losses": [123456.789] * (room // 12)}),
        "16 MB history of epoch records": dict(
            history={
                "epochs": [
                    {"epoch": i, "train_total": 1.5, "train_reconstruction": 1.0, "train_kl": 0.5}
                    for i in range(room // 130)
                ]
            }
        ),
    }
    for i, (name, kwargs) in enumerate(cases.items()):
        path = folder / f"hand{i}.safetensors"
        tiny_file(path, **kwargs)
        yield name, path
    path = folder / "tensors.safetensors"
    tensors = {
        f"model.t{i}": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 2**82]} for i in range(1024)
    }
    raw_checkpoint(path, {"format": "vaekit", "format_version": "1", "config": json.dumps(TINY)}, tensors)
    yield "1,024 tensors of 2^80 elements declared", path
    path = folder / "header_length.safetensors"
    path.write_bytes((2**64 - 1).to_bytes(8, "little") + b"{}")
    yield "header length 2^64 - 1", path


def load_one(path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        vaekit.load(path)
        outcome = "model"
    except vaekit.CheckpointError as error:
        outcome = "CheckpointError: " + str(error).replace(str(path), "FILE")[:100]
    return time.perf_counter() - start, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--out", default=str(benchlib.RESULTS / "hostile_checkpoints.json"))
    args = parser.parse_args()
    info = benchlib.machine_info()
    folder = Path(tempfile.mkdtemp(prefix="vaekit-hostile-"))
    tiny_file(folder / "warm.safetensors")
    load_one(folder / "warm.safetensors")  # first-call costs (lazy imports) are not the file's
    baseline = benchlib.peak_rss_mb()
    results = []

    for name, path in hand_made(folder):
        seconds, outcome = load_one(path)
        results.append(
            {
                "case": name,
                "bytes": path.stat().st_size,
                "seconds": seconds,
                "outcome": outcome,
                "peak_rss_mb_after": benchlib.peak_rss_mb(),
            }
        )
        path.unlink()

    @settings(max_examples=args.examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(hostile_files())
    def fuzz(case):
        path = folder / "fuzz.safetensors"
        raw_checkpoint(path, *case)
        seconds, outcome = load_one(path)
        results.append(
            {
                "case": "hypothesis",
                "bytes": path.stat().st_size,
                "seconds": seconds,
                "outcome": outcome,
                "peak_rss_mb_after": benchlib.peak_rss_mb(),
            }
        )

    fuzz()
    worst = max(results, key=lambda r: r["seconds"])
    summary = {
        **info,
        "files": len(results),
        "hypothesis_examples": sum(r["case"] == "hypothesis" for r in results),
        "models_loaded": sum(r["outcome"] == "model" for r in results),
        "slowest": worst,
        "slowest_hand_made": max((r for r in results if r["case"] != "hypothesis"), key=lambda r: r["seconds"]),
        "slowest_hypothesis": max((r for r in results if r["case"] == "hypothesis"), key=lambda r: r["seconds"]),
        "peak_rss_mb_after_import_and_one_load": baseline,
        "peak_rss_mb_at_end": benchlib.peak_rss_mb(),
        "hand_made": [r for r in results if r["case"] != "hypothesis"],
        "load_average_at_end": benchlib.load_average(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    for r in summary["hand_made"]:
        print(
            f"{r['seconds']:7.3f} s  {r['bytes']:>11,} B  peak {r['peak_rss_mb_after']:6.1f} MB  {r['case']}: "
            f"{r['outcome'][:80]}"
        )
    print(
        f"{summary['files']} files ({summary['models_loaded']} loaded as models); slowest {worst['seconds']:.3f} s "
        f"({worst['case']}); peak RSS {summary['peak_rss_mb_at_end']} MB vs {baseline} MB after import and one load; "
        f"load average {summary['load_average_at_end']} -> {args.out}"
    )


if __name__ == "__main__":
    main()
