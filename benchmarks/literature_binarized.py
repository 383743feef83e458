"""A budgeted run on dynamically binarized MNIST, scored like the published tables.

    python benchmarks/literature_binarized.py                       # short: 2 epochs, k=500 on 500 images
    python benchmarks/literature_binarized.py --epochs 20 --k 5000 --test-limit 1000

Trains the seed architecture with the log-variance head (and, by default, 50
latent dimensions like Burda et al.'s one-layer VAE) with
``TrainConfig(binarize=True)``: every batch's pixels are re-drawn as 0/1 with
probability = intensity, and the test set is binarized once with a fixed seed.
Then it reports the importance-weighted bound with k = 5000 (the tables'
setting), beside Burda et al. 2015 (86.76 nats) and pythae's VAE (89.78).
Those runs trained for thousands of epochs; this one has a budget, and says so.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import benchlib  # noqa: E402
from evaluate_quality import markdown as quality_markdown  # noqa: E402
from evaluate_quality import score  # noqa: E402

import vaekit  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="training budget in epochs (default: %(default)s)")
    parser.add_argument("--latent-size", type=int, default=50,
                        help="default: %(default)s (Burda et al.'s one-layer VAE)")
    parser.add_argument("--fast", action="store_true", help="train with bfloat16 autocast")
    parser.add_argument("--k", type=int, nargs="+", default=[500],
                        help="importance samples (default: %(default)s; the tables use 5000)")
    parser.add_argument("--test-limit", type=int, default=500,
                        help="score the first N binarized test images (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("runs/binarized"),
                        help="where the model is saved (default: %(default)s)")
    parser.add_argument("--name", default="binarized", help="results file name (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = benchlib.machine_info()
    data = vaekit.load_mnist()
    config = vaekit.TrainConfig(epochs=args.epochs, seed=42, binarize=True, fast=args.fast)
    model = vaekit.build("logvar", seed=42, latent_size=args.latent_size)
    start = time.perf_counter()
    history = vaekit.fit(model, data.train_images, data.test_images[: args.test_limit], config)
    train_seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    path = vaekit.save(args.out / "model.safetensors", model, history, asdict(config))
    print(f"trained {args.epochs} epochs in {train_seconds:.0f} s; saved {path}", flush=True)
    row = score(path, data.test_images[: args.test_limit], args.k, seed=0, log=lambda m: print(m, flush=True))
    results = {
        "machine": machine,
        "k": args.k,
        "seed": 0,
        "models": [row],
        "training": {
            "epochs": args.epochs, "seconds": train_seconds, "config": asdict(config), "model": model.config.to_dict()
        },
    }

    def markdown(results):
        budget = (
            f"\nBudget: {args.epochs} epochs ({train_seconds / 60:.1f} min on this machine), "
            f"latent size {args.latent_size}, batch {config.batch_size}, Adam {config.learning_rate}"
            f"{', --fast' if args.fast else ''}. The published figures trained for thousands of epochs.\n"
        )
        return quality_markdown(results) + budget

    json_path, md_path = benchlib.write_results(args.name, results, markdown)
    print(md_path.read_text())
    print(f"written {json_path} and {md_path}")


if __name__ == "__main__":
    main()
