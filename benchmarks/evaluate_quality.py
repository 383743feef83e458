"""Quality of trained checkpoints: test negative ELBO and importance-weighted NLL bounds.

    python benchmarks/evaluate_quality.py runs/pretrained-seed runs/pretrained-logvar
    python benchmarks/evaluate_quality.py RUN --k 100 1000 --test-limit 2000

For each checkpoint (a model file, a training checkpoint, or a run folder):
the test set's negative ELBO in nats per image (reconstruction + KL, one code
per image, seeded) and the importance-weighted bound on -log p(x) for each k
(Burda et al. 2015; vaekit.likelihood), with its standard error over images.

Grey-level MNIST (the seed's data) gives Bernoulli "likelihoods" that are not
probabilities of the data: they compare with the seed's own numbers only, never
with published tables. Models trained with ``binarize=True`` are scored on the
test set binarized once with data.BINARIZED_TEST_SEED, and only those
numbers are comparable with the literature.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import benchlib  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import BINARIZED_TEST_SEED, binarize  # noqa: E402
from vaekit.likelihood import importance_weighted_bound  # noqa: E402

# Measured on this kind of machine with a plain port of the seed (issue 4):
# test negative ELBO / IW bound with k = 100, grey-level MNIST, 50 epochs.
REFERENCE = {"sigma": (104.8, 99.0), "logvar": (99.2, 94.3)}
# Dynamically binarized MNIST, IW bound with k = 5000, one stochastic layer.
LITERATURE = {"Burda et al. 2015 (VAE, 1 layer)": 86.76, "pythae's VAE reproduction": 89.78}


def checkpoint_file(path: Path) -> Path:
    if path.is_dir():
        for name in ("model.safetensors", "training.safetensors"):
            if (path / name).exists():
                return path / name
        raise SystemExit(f"{path} holds neither model.safetensors nor training.safetensors")
    return path


def score(path: Path, test_limit: int | None, ks: list[int], seed: int, log) -> dict:
    """Score one checkpoint on the test split of the dataset it was trained on."""
    checkpoint = vaekit.load_checkpoint(checkpoint_file(path))
    model = checkpoint.model
    data = vaekit.load_dataset(model.data_info.name, test_limit=test_limit)
    labels = data.test_labels if model.config.conditional else None
    binarized = bool(checkpoint.train_config.get("binarize", False))
    images = binarize(data.test_images, BINARIZED_TEST_SEED) if binarized else data.test_images
    start = time.perf_counter()
    elbo = vaekit.evaluate(model, images, seed=seed, labels=labels)
    row = {
        "checkpoint": str(path),
        "dataset": model.data_info.name,
        "model": model.config.arch + (", conditional" if model.config.conditional else "")
        + f", {model.config.latent_size}-D code",
        "head": model.config.head,
        "epochs_trained": len(checkpoint.history.get("epochs", [])),
        "binarized": binarized,
        "test_images": len(images),
        "negative_elbo": elbo,
        "iw_bounds": {},
    }
    log(f"{path}: {row['epochs_trained']} epochs, -ELBO {elbo['total']:.2f} ({time.perf_counter() - start:.0f} s)")
    for k in ks:
        start = time.perf_counter()
        bound = importance_weighted_bound(model, images, k=k, seed=seed, labels=labels)
        bound.pop("per_image")
        bound["seconds"] = time.perf_counter() - start
        row["iw_bounds"][str(k)] = bound
        log(f"  k={k}: {bound['nll']:.2f} ± {bound['stderr']:.2f} ({bound['seconds']:.0f} s)")
    return row


def markdown(results: dict) -> str:
    ks = results["k"]
    lines = [
        "# Quality: test negative ELBO and importance-weighted NLL bounds (nats per image)",
        "",
        *benchlib.machine_lines(results["machine"]),
        "- ± is the standard error over test images; the bound is an upper bound on −log p(x): lower is better",
        "",
        "| checkpoint | dataset | model | head | epochs | data | test images | −ELBO | reconstruction | KL | "
        + " | ".join(f"IW bound k={k}" for k in ks)
        + " | reference (−ELBO / IW bound) |",
        "|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(ks) + "---|",
    ]
    for row in results["models"]:
        e = row["negative_elbo"]
        bounds = " | ".join(
            f"{row['iw_bounds'][str(k)]['nll']:.2f} ± {row['iw_bounds'][str(k)]['stderr']:.2f}" for k in ks
        )
        if row["binarized"]:
            reference = " / ".join(f"{v} ({name}, k=5000)" for name, v in LITERATURE.items())
        elif row.get("dataset", "mnist") == "mnist" and row.get("model", "mlp, 20-D code") == "mlp, 20-D code":
            reference = "{} / {} (plain port, 50 epochs)".format(*REFERENCE.get(row["head"], ("–", "–")))
        else:
            reference = "–"
        data = "binarized" if row["binarized"] else "grey levels"
        lines.append(
            f"| {row['checkpoint']} | {row.get('dataset', 'mnist')} | {row.get('model', 'mlp')} | {row['head']} "
            f"| {row['epochs_trained']} | {data} | {row['test_images']:,} "
            f"| {e['total']:.2f} | {e['reconstruction']:.2f} | {e['kl']:.2f} | {bounds} | {reference} |"
        )
    lines += [
        "",
        "Grey-level numbers are Bernoulli cross-entropies on grey pixels: compare them with the seed's",
        "port only. Only binarized rows are comparable with published likelihoods.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="*", type=Path,
                        default=[Path("runs/pretrained-seed"), Path("runs/pretrained-logvar")])
    parser.add_argument("--k", type=int, nargs="+", default=[100, 1000],
                        help="importance samples (default: %(default)s)")
    parser.add_argument("--test-limit", type=int, help="score only the first N test images (default: all 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: %(default)s)")
    parser.add_argument("--name", default="quality", help="results file name (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = benchlib.machine_info()
    rows = []
    for path in args.checkpoints:
        if not path.exists():
            print(f"skipping {path}: not found (train it first, see benchmarks/README.md)", flush=True)
            continue
        rows.append(score(path, args.test_limit, args.k, args.seed, lambda m: print(m, flush=True)))
    results = {"machine": machine, "k": args.k, "seed": args.seed, "models": rows}
    json_path, md_path = benchlib.write_results(args.name, results, markdown)
    print(md_path.read_text())
    print(f"written {json_path} and {md_path}")


if __name__ == "__main__":
    main()
