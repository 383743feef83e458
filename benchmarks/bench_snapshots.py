"""What training snapshots cost: bytes per epoch in the checkpoint, and seconds per epoch to take.

    python benchmarks/bench_snapshots.py [--epochs 2] [--train-limit 6000]

Trains the seed model (real MNIST, first --train-limit training images, the whole test set) with the
``Snapshots`` callback, saves the model file with and without the snapshots, and writes
``benchmarks/results/snapshots.json`` and ``.md``: the bytes the per-epoch series add per epoch (from the
tensors and from the two file sizes), the fixed part, and the median time of one snapshot.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import machine_info, machine_lines, spread, write_results

import vaekit
from vaekit import checkpoint, snapshots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=6000)
    args = parser.parse_args()
    machine = machine_info()
    data = vaekit.load_mnist(train_limit=args.train_limit)
    model = vaekit.build("seed", seed=42)
    recorder = snapshots.Snapshots()
    history = vaekit.fit(model, data.train_images, data.test_images, vaekit.TrainConfig(epochs=args.epochs), [recorder])
    tensors = recorder.state_tensors()
    with tempfile.TemporaryDirectory() as folder:
        bare = checkpoint.save(Path(folder) / "bare.safetensors", model, history).stat().st_size
        kept = checkpoint.save(Path(folder) / "kept.safetensors", model, history, state=tensors).stat().st_size
    per_epoch = snapshots.bytes_per_epoch(tensors)
    fixed = sum(t.numel() * t.element_size() for t in tensors.values()) - per_epoch * args.epochs
    times = []
    for _ in range(20):
        start = time.perf_counter()
        recorder.probe.take(model)
        times.append(time.perf_counter() - start)
    results = {
        "machine": machine,
        "epochs": args.epochs,
        "bytes_per_epoch": per_epoch,
        "fixed_bytes": fixed,
        "file_bytes_without": bare,
        "file_bytes_with": kept,
        # the file's growth less the fixed part, per epoch (what the header's names add is in it too)
        "file_bytes_added_per_epoch": (kept - bare - fixed) / args.epochs,
        "seconds_per_snapshot": spread(times),
        "epoch_seconds": statistics.median(r["seconds"] for r in history["epochs"]),
        "shapes": {name: list(t.shape) for name, t in tensors.items()},
    }

    def markdown(r):
        return "\n".join([
            "# Training snapshots: size and time",
            "",
            (f"- Per epoch: **{r['bytes_per_epoch'] / 1000:.1f} kB** of tensors (16 + 8 uint8 images of 784 pixels, "
             f"20 KL values, 6 losses, the epoch); the model file grew by {r['file_bytes_added_per_epoch'] / 1000:.1f} "
             f"kB an epoch, header included, beside a fixed {r['fixed_bytes'] / 1000:.1f} kB of prior codes "
             f"and test images."),
            f"- 50 epochs: {(50 * r['bytes_per_epoch'] + r['fixed_bytes']) / 1e6:.2f} MB beside the 5.6 MB of weights.",
            (f"- Taking one snapshot of the seed model (KL on 1,000 test images, 24 decodings): median "
             f"{1000 * r['seconds_per_snapshot']['median']:.1f} ms ({1000 * r['seconds_per_snapshot']['min']:.1f} to "
             f"{1000 * r['seconds_per_snapshot']['max']:.1f}), against {r['epoch_seconds']:.1f} s for an epoch of "
             f"{args.train_limit:,} images here."),
            "",
            *machine_lines(r["machine"]),
            "",
        ])

    for written in write_results("snapshots", results, markdown):
        print(f"wrote {written}")


if __name__ == "__main__":
    main()
