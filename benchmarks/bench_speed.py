"""Training speed of the seed model, contenders alternated inside one run.

    python benchmarks/bench_speed.py            # short: 40-step chunks, 5 rounds (a few minutes)
    python benchmarks/bench_speed.py --full     # 400-step chunks (an epoch) and the two 10-epoch runs

Contenders, all the seed model (784-500-500-20-500-500-784) on batches of 150
real MNIST images, float32 unless said otherwise:

  vaekit          vaekit's Trainer as a user gets it (fused Adam, in-memory batches)
  vaekit --fast   the same with TrainConfig(fast=True): bfloat16 autocast
  dataloader      the pytorch/examples recipe: torchvision MNIST + transforms.ToTensor
                  + DataLoader(shuffle=True) (no workers, the recipe's CPU setting), for-loop Adam
  floor eager     forward + backward + Adam (for-loop) on pre-made batches, nothing else
  floor fused     the same with fused Adam: the floor for vaekit's own settings
  peak fp32/bf16  2048 x 2048 matrix products: the machine's limit

Each round runs every contender once for the same number of steps, starting
with a different one each round; ratios are taken inside a round (so both
sides saw the same load) and the median over rounds is reported.

With ``--fast-elbo EPOCHS`` (10 under ``--full``) it also trains the seed
model twice for that many epochs, float32 and --fast, alternating epoch by
epoch, and reports both test negative ELBOs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import benchlib  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import data_root  # noqa: E402

BATCH = 150
MATMUL_SIZE = 2048


def flops_per_image() -> dict:
    """Count the matrix-product FLOPs of one training step of the seed model.

    ``counted``: what PyTorch's FlopCounterMode sees in forward + backward (the
    first layer needs no gradient for its input). ``three_forward``: the usual
    rule of thumb, 3 x the forward pass. Adam and elementwise ops are not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = vaekit.build("seed", seed=0)
    x = torch.rand(BATCH, model.config.input_size)
    with FlopCounterMode(display=False) as forward:
        with torch.no_grad():
            model.loss(x)
    with FlopCounterMode(display=False) as step:
        model.loss(x).total.backward()
    return {
        "counted": step.get_total_flops() / BATCH,
        "three_forward": 3 * forward.get_total_flops() / BATCH,
    }


# -- contenders: each object's run() trains `steps` steps and returns seconds --


class VaekitTrainer:
    """vaekit's Trainer on in-memory images; one chunk = one epoch of a subset."""

    def __init__(self, images: torch.Tensor, fast: bool):
        config = vaekit.TrainConfig(epochs=0, batch_size=BATCH, seed=0, device="cpu", fast=fast)
        self.trainer = vaekit.Trainer(vaekit.build("seed", seed=0), images, config=config)

    def run(self, steps: int) -> float:
        assert steps == self.trainer.steps_per_epoch
        self.trainer.config.epochs += 1
        history = self.trainer.fit()
        # The trainer's own clock covers the step loop (batching included) and
        # leaves out the epoch's closing report.
        return history["epochs"][-1]["seconds"]


class DataLoaderRecipe:
    """pytorch/examples vae/main.py's training loop, on the same model."""

    def __init__(self, n_images: int):
        from torch.utils.data import DataLoader, Subset
        from torchvision import datasets, transforms

        dataset = datasets.MNIST(str(data_root()), train=True, download=False, transform=transforms.ToTensor())
        self.loader = DataLoader(Subset(dataset, range(n_images)), batch_size=BATCH, shuffle=True)
        self.model = vaekit.build("seed", seed=0)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)

    def run(self, steps: int) -> float:
        self.model.train()
        train_loss = 0.0
        start = time.perf_counter()
        for data, _ in self.loader:
            data = data.view(-1, self.model.config.input_size)
            self.optimizer.zero_grad()
            loss = self.model.loss(data).total
            loss.backward()
            train_loss += loss.item()
            self.optimizer.step()
        return time.perf_counter() - start


class Floor:
    """Nothing but forward, backward and Adam on batches made beforehand."""

    def __init__(self, images: torch.Tensor, fused: bool):
        self.batches = [b.contiguous() for b in images.split(BATCH)]
        self.model = vaekit.build("seed", seed=0)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=fused)

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for batch in self.batches[:steps]:
            self.optimizer.zero_grad(set_to_none=True)
            self.model.loss(batch).total.backward()
            self.optimizer.step()
        return time.perf_counter() - start


class PeakMatmul:
    """GFLOP/s of square matrix products; run() returns GFLOP/s, not seconds."""

    def __init__(self, dtype: torch.dtype, repeats: int):
        generator = torch.Generator().manual_seed(0)
        self.a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator).to(dtype)
        self.b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator).to(dtype)
        self.repeats = repeats
        torch.mm(self.a, self.b)  # warm-up: oneDNN picks its kernel on the first call

    def run(self, steps: int) -> float:
        best = float("inf")
        for _ in range(self.repeats):
            start = time.perf_counter()
            torch.mm(self.a, self.b)
            best = min(best, time.perf_counter() - start)
        # The fastest of a few products: the limit, not the load, is what we want here.
        return 2 * MATMUL_SIZE**3 / best / 1e9


def alternate(contenders: dict, steps: int, rounds: int, log) -> dict[str, list[float]]:
    names = list(contenders)
    seen: dict[str, list[float]] = {name: [] for name in names}
    for name, contender in contenders.items():
        contender.run(steps)  # warm-up round, not recorded: first-call allocations, kernel choice
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            seen[name].append(contenders[name].run(steps))
        log(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {seen[n][-1]:.3g}" for n in names))
    return seen


def fast_elbo(epochs: int, data, log, seed: int = 42) -> dict:
    """Train float32 and --fast side by side, alternating epochs; return both histories' ends."""
    trainers = {}
    for name, fast in (("float32", False), ("fast", True)):
        config = vaekit.TrainConfig(epochs=0, batch_size=BATCH, seed=seed, device="cpu", fast=fast)
        trainers[name] = vaekit.Trainer(vaekit.build("seed", seed=seed), data.train_images, data.test_images, config)
    for epoch in range(epochs):
        for name, trainer in trainers.items():
            trainer.config.epochs += 1
            record = trainer.fit()["epochs"][-1]
            log(f"{name} epoch {epoch}: test {record['test_total']:.2f} nats, {record['seconds']:.1f} s")
    out = {}
    for name, trainer in trainers.items():
        last = trainer.history["epochs"][-1]
        out[name] = {
            "test_total": last["test_total"],
            "test_reconstruction": last["test_reconstruction"],
            "test_kl": last["test_kl"],
            "epoch_seconds": benchlib.spread([r["seconds"] for r in trainer.history["epochs"]]),
            "test_total_by_epoch": [r["test_total"] for r in trainer.history["epochs"]],
        }
    out["fast_minus_float32"] = out["fast"]["test_total"] - out["float32"]["test_total"]
    out["epochs"] = epochs
    out["seed"] = seed
    return out


def summarize(seen: dict, steps: int, flops: float) -> dict:
    rounds = len(seen["peak fp32"])
    rows = {}
    for name, seconds in seen.items():
        if name.startswith("peak"):
            rows[name] = {"gflops": benchlib.spread(seconds)}
            continue
        ms = [1e3 * s / steps for s in seconds]
        peak = seen["peak bf16" if name == "vaekit --fast" else "peak fp32"]
        fraction = [flops * BATCH / (m / 1e3) / (p * 1e9) for m, p in zip(ms, peak)]
        rows[name] = {
            "ms_per_step": benchlib.spread(ms),
            "images_per_s": benchlib.spread([BATCH / (m / 1e3) for m in ms]),
            "fraction_of_peak": benchlib.spread(fraction),
            "of_which_peak": "bf16" if name == "vaekit --fast" else "fp32",
        }

    def ratio(slow, fast):  # > 1: `fast` is quicker; taken within each round
        return benchlib.spread([seen[slow][i] / seen[fast][i] for i in range(rounds)])

    ratios = {
        "vaekit_speedup_over_dataloader (a/b)": ratio("dataloader", "vaekit"),
        "vaekit_speed_relative_to_floor_fused (a/c)": ratio("floor fused", "vaekit"),
        "vaekit_speedup_over_floor_eager": ratio("floor eager", "vaekit"),
        "fast_speedup_over_floor_eager": ratio("floor eager", "vaekit --fast"),
        "fast_speedup_over_vaekit_float32": ratio("vaekit", "vaekit --fast"),
    }
    return {"contenders": rows, "ratios": ratios}


def markdown(results: dict) -> str:
    s = results["summary"]
    flops = results["flops_per_image_per_step"]
    lines = [
        "# Training speed: the seed model, batch 150, alternated in one run",
        "",
        *benchlib.machine_lines(results["machine"]),
        f"- {results['rounds']} rounds of {results['steps']} steps per contender; median [min, max] over rounds",
        f"- FLOPs per image per training step: {flops['counted'] / 1e6:.2f} M counted by FlopCounterMode "
        f"({flops['three_forward'] / 1e6:.2f} M by the 3 x forward rule); fraction of peak uses the counted figure",
        "",
        "| contender | ms / step | images / s | fraction of peak |",
        "|---|---|---|---|",
    ]
    for name, row in s["contenders"].items():
        if "gflops" in row:
            g = row["gflops"]
            lines.append(f"| {name} (2048², GFLOP/s) | | {g['median']:.0f} [{g['min']:.0f}, {g['max']:.0f}] GFLOP/s | 1 |")
            continue
        ms, ips, frac = row["ms_per_step"], row["images_per_s"], row["fraction_of_peak"]
        lines.append(
            f"| {name} | {ms['median']:.1f} [{ms['min']:.1f}, {ms['max']:.1f}] | {ips['median']:,.0f} "
            f"| {frac['median']:.2f} [{frac['min']:.2f}, {frac['max']:.2f}] of {row['of_which_peak']} |"
        )
    lines += ["", "| ratio (within each round) | median [min, max] |", "|---|---|"]
    for name, r in s["ratios"].items():
        lines.append(f"| {name} | {r['median']:.2f} [{r['min']:.2f}, {r['max']:.2f}] |")
    if "fast_elbo" in results:
        f = results["fast_elbo"]
        lines += [
            "",
            f"## --fast vs float32: test negative ELBO after {f['epochs']} epochs (full MNIST, seed {f.get('seed', 42)}, alternating epochs)",
            "",
            "| run | test −ELBO (nats) | reconstruction | KL | s / epoch, median [min, max] |",
            "|---|---|---|---|---|",
        ]
        for name in ("float32", "fast"):
            r = f[name]
            e = r["epoch_seconds"]
            lines.append(
                f"| {name} | {r['test_total']:.2f} | {r['test_reconstruction']:.2f} | {r['test_kl']:.2f} "
                f"| {e['median']:.1f} [{e['min']:.1f}, {e['max']:.1f}] |"
            )
        lines.append(f"\nfast − float32: {f['fast_minus_float32']:+.2f} nats")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="400-step chunks (one epoch) and the 10-epoch --fast check")
    parser.add_argument("--steps", type=int, help="steps per chunk (default 40, 400 with --full)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of alternation (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: %(default)s)")
    parser.add_argument("--fast-elbo", type=int, help="epochs of the float32 vs --fast check (default 0, 10 with --full)")
    parser.add_argument("--elbo-seed", type=int, default=42, help="seed of the --fast-elbo runs (default: %(default)s)")
    parser.add_argument("--name", default="speed", help="results file name (default: %(default)s)")
    args = parser.parse_args(argv)
    steps = args.steps or (400 if args.full else 40)
    fast_epochs = args.fast_elbo if args.fast_elbo is not None else (10 if args.full else 0)
    torch.set_num_threads(args.threads)

    def log(message):
        print(message, flush=True)

    machine = benchlib.machine_info()
    data = vaekit.load_mnist()
    images = data.train_images[: steps * BATCH]
    flops = flops_per_image()
    log(f"FLOPs per image per step: {flops['counted'] / 1e6:.2f} M counted, {flops['three_forward'] / 1e6:.2f} M (3 x forward)")
    contenders = {
        "vaekit": VaekitTrainer(images, fast=False),
        "vaekit --fast": VaekitTrainer(images, fast=True),
        "dataloader": DataLoaderRecipe(len(images)),
        "floor eager": Floor(images, fused=False),
        "floor fused": Floor(images, fused=True),
        "peak fp32": PeakMatmul(torch.float32, repeats=5),
        "peak bf16": PeakMatmul(torch.bfloat16, repeats=5),
    }
    seen = alternate(contenders, steps, args.rounds, log)
    results = {
        "machine": machine,
        "steps": steps,
        "rounds": args.rounds,
        "batch_size": BATCH,
        "flops_per_image_per_step": flops,
        "raw": seen,
        "summary": summarize(seen, steps, flops["counted"]),
    }
    if fast_epochs:
        results["fast_elbo"] = fast_elbo(fast_epochs, data, log, args.elbo_seed)
    json_path, md_path = benchlib.write_results(args.name, results, markdown)
    print(md_path.read_text())
    log(f"written {json_path} and {md_path}")


if __name__ == "__main__":
    main()
