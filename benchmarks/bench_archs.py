"""Training time of each architecture in the zoo: ms a step and seconds an epoch, alternating.

Every contender trains on the same real MNIST images with the seed's batches of
150 through vaekit's own Trainer; the rounds alternate the contenders, so that
the load of a shared machine falls on all of them alike. An epoch is 400 steps.

    python benchmarks/bench_archs.py --steps 40 --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import time

# vaekit before torch, as under the command line: PyTorch's threads then spin only briefly (vaekit/threads.py)
import vaekit

# isort: split
import torch
from benchlib import machine_info, machine_lines, spread, write_results

CONTENDERS = {
    "mlp (seed)": {"preset": "seed"},
    "mlp, log-variance head": {"preset": "logvar"},
    "mlp, 2-D code": {"preset": "2d"},
    "mlp, conditional": {"preset": "logvar", "num_classes": 10},
    "conv": {"preset": "conv"},
    "conv, conditional": {"preset": "conv", "num_classes": 10},
    # An idea, not what vaekit does: the conv weights in channels-last layout, which oneDNN's convolutions
    # prefer on the CPU. It rounds differently, so the shipped conv model would no longer be repeatable
    # bit for bit from its README command.
    "conv, channels-last weights (idea)": {"preset": "conv", "channels_last": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps timed per round (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="archs_epoch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = vaekit.load_mnist(train_limit=150 * args.steps)
    results = {"machine": machine_info(), "steps": args.steps, "ms_per_step": {}}
    trainers = {}
    for name, spec in CONTENDERS.items():
        spec = dict(spec)
        channels_last = spec.pop("channels_last", False)
        model = vaekit.build(spec.pop("preset"), seed=0, **spec)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        config = vaekit.TrainConfig(epochs=0, seed=0, device="cpu")
        trainers[name] = vaekit.Trainer(model, data.train_images, config=config, train_labels=data.train_labels)
    for r in range(args.rounds):
        names = list(trainers)[r % len(trainers):] + list(trainers)[: r % len(trainers)]
        for name in names:
            trainer = trainers[name]
            trainer.config.epochs += 1
            start = time.perf_counter()
            trainer.fit()
            ms = 1000 * (time.perf_counter() - start) / args.steps
            results["ms_per_step"].setdefault(name, []).append(round(ms, 2))
            print(f"round {r}: {name}: {ms:.1f} ms a step", flush=True)

    def markdown(results: dict) -> str:
        lines = ["# Training time of each architecture (batch 150, real MNIST)", "", *machine_lines(results["machine"]),
                 "", "| model | ms a step (median, min-max) | s an epoch of 60,000 images (400 steps) |",
                 "| --- | --- | --- |"]
        for name, values in results["ms_per_step"].items():
            s = spread(values)
            lines.append(f"| {name} | {s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f}) | {s['median'] * 0.4:.0f} |")
        return "\n".join(lines) + "\n"

    for path in write_results(args.name, results, markdown):
        print(path)


if __name__ == "__main__":
    main()
