"""Training speed of the seed model, contenders alternated inside one run, at 1 and 2 threads.

    python benchmarks/bench_speed.py --quick    # 40-step chunks, 5 rounds, 1 and 2 threads: a few minutes
    python benchmarks/bench_speed.py --full     # 400-step chunks (an epoch) and the two 10-epoch runs

Contenders, all the seed model (784-500-500-20-500-500-784) on batches of 150
real MNIST images, float32 unless said otherwise:

  vaekit                  vaekit's Trainer as a user gets it: the hand-written step
                          (vaekit/fastpath.py) with fused Adam inside it, at
                          2 threads on two threads of its own; in-memory batches
  vaekit, autograd step   the same Trainer with the hand-written step switched off (vaekit before
                          issue 14, and what the models without a hand-written step get)
  vaekit --fast           TrainConfig(fast=True) as a user gets it: bfloat16 autocast only where
                          vaekit/precision.py finds it native and measured faster, else float32
  bf16 autocast, forced   bfloat16 autocast whatever the machine (what --fast did before)
  dataloader              the pytorch/examples recipe: torchvision MNIST + transforms.ToTensor
                          + DataLoader(shuffle=True) (no workers, the recipe's CPU setting), for-loop Adam
  autograd floor          forward + backward + fused Adam on pre-made batches, nothing else
  seed TF1                benchmarks/seed_tf1.py (tf.compat.v1) in its own venv, if --tf-python exists
  peak fp32/bf16          1024² and 2048² matrix products, the fastest of a few: the machine's limit

Each round runs every contender once for the same number of steps, starting
with a different one each round; ratios are taken inside a round (so both
sides saw the same load) and the median over rounds is reported. The fraction
of peak divides a contender's median speed by the highest peak measured in
the run at that thread count.

With ``--fast-elbo EPOCHS`` (10 under ``--full``) it also trains the seed
model twice for that many epochs, float32 and bfloat16 autocast, alternating
epoch by epoch, and reports both test negative ELBOs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

# vaekit before torch, as under the command line: PyTorch's threads then spin only briefly (vaekit/threads.py).
import vaekit  # noqa: E402, I001
import torch  # noqa: E402

import benchlib  # noqa: E402
from vaekit.data import data_root, to_float  # noqa: E402
from vaekit.precision import missing_bfloat16  # noqa: E402

BATCH = 150
MATMUL_SIZES = (1024, 2048)


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
    """vaekit's Trainer on in-memory images; one chunk = one epoch of a subset.

    ``mode``: "default" (as a user gets it), "autograd" (hand-written step off),
    "bf16" (bfloat16 autocast forced, whatever --fast would decide).
    """

    def __init__(self, images: torch.Tensor, fast: bool, mode: str = "default"):
        config = vaekit.TrainConfig(epochs=0, batch_size=BATCH, seed=0, device="cpu", fast=fast)
        self.trainer = vaekit.Trainer(vaekit.build("seed", seed=0), images, config=config)
        decision = getattr(self.trainer, "precision", None)
        self.note = getattr(decision, "note", None)
        self.ran = "bfloat16" if getattr(decision, "bfloat16", False) else "float32"
        if mode in ("autograd", "bf16"):
            self.trainer.hand_written_step = None
        if mode == "bf16":
            self.trainer.precision = type(decision)(True)
            self.ran = "bfloat16"
        if self.trainer.hand_written_step is not None:
            self.ran += ", hand-written step"

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
        self.batches = [to_float(b).contiguous() for b in images.split(BATCH)]
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
        # Emulated bfloat16 is so slow (~0.3 GFLOP/s) that a 1024² product takes seconds: 512² there.
        emulated = dtype == torch.bfloat16 and missing_bfloat16(torch.device("cpu")) is not None
        self.pairs = [
            (torch.randn(n, n, generator=generator).to(dtype), torch.randn(n, n, generator=generator).to(dtype))
            for n in ((512,) if emulated else MATMUL_SIZES)
        ]
        self.repeats = repeats
        for a, b in self.pairs:
            torch.mm(a, b)  # warm-up: oneDNN picks its kernel on the first call

    def run(self, steps: int) -> float:
        best = 0.0
        for a, b in self.pairs:
            for _ in range(self.repeats):
                start = time.perf_counter()
                torch.mm(a, b)
                best = max(best, 2 * len(a) ** 3 / (time.perf_counter() - start) / 1e9)
        # The fastest product: the limit, not the load, is what we want here (a
        # shared machine interrupts the long 2048² products more often).
        return best


def cpu_seconds(contender) -> float:
    """CPU time (user + system) of the process that runs ``contender``: ours, or its child's."""
    process = getattr(contender, "process", None)
    if process is None:
        return time.process_time()
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def alternate(contenders: dict, steps: int, rounds: int, log, cpu: dict | None = None) -> dict[str, list[float]]:
    """Wall seconds of each contender's ``steps`` steps, per round; CPU seconds into ``cpu`` if given.

    On a shared machine CPU time moves much less than wall time: at one thread it is
    the cleanest figure of what a step costs (it counts a waiting thread's spinning, too).
    """
    names = list(contenders)
    seen: dict[str, list[float]] = {name: [] for name in names}
    for name, contender in contenders.items():
        contender.run(steps)  # warm-up round, not recorded: first-call allocations, kernel choice
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            before = cpu_seconds(contenders[name])
            seen[name].append(contenders[name].run(steps))
            if cpu is not None:
                cpu.setdefault(name, []).append(cpu_seconds(contenders[name]) - before)
        log(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {seen[n][-1]:.3g}" for n in names))
    return seen


def fast_elbo(epochs: int, data, log, seed: int = 42) -> dict:
    """Train float32 and --fast side by side, alternating epochs; return both histories' ends."""
    trainers = {}
    for name, fast in (("float32", False), ("fast", True)):
        config = vaekit.TrainConfig(epochs=0, batch_size=BATCH, seed=seed, device="cpu", fast=fast)
        trainers[name] = vaekit.Trainer(vaekit.build("seed", seed=seed), data.train_images, data.test_images, config)
        if fast:  # bfloat16 autocast whatever --fast decides on this machine: this compares the numbers
            trainers[name].precision = type(trainers[name].precision)(True)
            trainers[name].hand_written_step = None
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


def summarize(seen: dict, steps: int, flops: float, cpu: dict | None = None) -> dict:
    rounds = len(seen["peak fp32"])
    peaks = {"fp32": max(seen["peak fp32"]), "bf16": max(seen["peak bf16"])}
    rows = {}
    for name, seconds in seen.items():
        if name.startswith("peak"):
            rows[name] = {"gflops": benchlib.spread(seconds), "highest": max(seconds)}
            continue
        ms = [1e3 * s / steps for s in seconds]
        which = "bf16" if name in BF16_CONTENDERS else "fp32"
        gflops = flops * BATCH / (benchlib.spread(ms)["median"] / 1e3) / 1e9
        rows[name] = {
            "ms_per_step": benchlib.spread(ms),
            "images_per_s": benchlib.spread([BATCH / (m / 1e3) for m in ms]),
            "gflops_at_median": gflops,
            "fraction_of_peak": gflops / peaks[which],
            "of_which_peak": which,
        }
        if cpu and name in cpu:
            rows[name]["cpu_ms_per_step"] = benchlib.spread([1e3 * c / steps for c in cpu[name]])

    def ratio(slow, fast):  # > 1: `fast` is quicker; taken within each round
        if slow not in seen or fast not in seen:
            return None
        return benchlib.spread([seen[slow][i] / seen[fast][i] for i in range(rounds)])

    ratios = {
        "vaekit vs its autograd step": ratio("vaekit, autograd step", "vaekit"),
        "vaekit vs the DataLoader recipe": ratio("dataloader", "vaekit"),
        "vaekit vs the autograd floor": ratio("autograd floor", "vaekit"),
        "vaekit vs the seed's TF1 code": ratio("seed TF1", "vaekit"),
        "vaekit's autograd step vs the seed's TF1 code": ratio("seed TF1", "vaekit, autograd step"),
        "vaekit --fast vs vaekit": ratio("vaekit", "vaekit --fast"),
        "bf16 autocast, forced vs vaekit": ratio("vaekit", "bf16 autocast, forced"),
    }
    return {"contenders": rows, "ratios": {k: v for k, v in ratios.items() if v is not None}}


BF16_CONTENDERS = ("bf16 autocast, forced",)


def markdown(results: dict) -> str:
    flops = results["flops_per_image_per_step"]
    lines = [
        "# Training speed: the seed model, batch 150, alternated in one run",
        "",
        *benchlib.machine_lines(results["machine"]),
        f"- {results['rounds']} rounds of {results['steps']} steps per contender; median [min, max] over rounds",
        f"- FLOPs per image per training step: {flops['counted'] / 1e6:.2f} M counted by FlopCounterMode "
        f"({flops['three_forward'] / 1e6:.2f} M by the 3 x forward rule); fraction of peak = the median step's "
        "GFLOP/s (counted figure) over the highest peak measured at that thread count in this run",
    ]
    if results.get("tensorflow"):
        lines.append(f"- seed TF1: TensorFlow {results['tensorflow']} in its own venv, same batch, same threads")
    for threads, part in results["by_threads"].items():
        s = part["summary"]
        lines += [
            "",
            f"## {threads} thread{'s' if threads != '1' else ''}",
            "",
            f"`--fast` here: {part['fast_ran']}" + (f" — {part['fast_note']}" if part.get("fast_note") else ""),
            "",
            "| contender | ms / step | CPU ms / step | images / s | fraction of peak |",
            "|---|---|---|---|---|",
        ]
        for name, row in s["contenders"].items():
            if "gflops" in row:
                g = row["gflops"]
                lines.append(
                    f"| {name} (square products, GFLOP/s) | | | {g['median']:.0f} [{g['min']:.0f}, {g['max']:.0f}] "
                    f"GFLOP/s | highest {row['highest']:.0f} |"
                )
                continue
            ms, ips, c = row["ms_per_step"], row["images_per_s"], row.get("cpu_ms_per_step")
            cpu_text = f"{c['median']:.1f} [{c['min']:.1f}, {c['max']:.1f}]" if c else ""
            lines.append(
                f"| {name} | {ms['median']:.1f} [{ms['min']:.1f}, {ms['max']:.1f}] | {cpu_text} | {ips['median']:,.0f} "
                f"| {row['fraction_of_peak']:.2f} of {row['of_which_peak']} |"
            )
        lines += ["", "| ratio (within each round; > 1: the first is faster) | median [min, max] |", "|---|---|"]
        for name, r in s["ratios"].items():
            lines.append(f"| {name} | {r['median']:.2f} [{r['min']:.2f}, {r['max']:.2f}] |")
    if "fast_elbo" in results:
        f = results["fast_elbo"]
        lines += [
            "",
            f"## bfloat16 vs float32: test negative ELBO after {f['epochs']} epochs "
            f"(full MNIST, seed {f.get('seed', 42)}, alternating epochs)",
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
        lines.append(f"\nbfloat16 − float32: {f['fast_minus_float32']:+.2f} nats")
    return "\n".join(lines) + "\n"


def run_at(threads: int, images: torch.Tensor, steps: int, rounds: int, tf_python: str | None, log) -> dict:
    """Every contender at ``threads`` threads, alternated; returns raw seconds, summary and what --fast did."""
    torch.set_num_threads(threads)
    log(f"-- {threads} thread(s), load average {benchlib.load_average()}")
    fast = VaekitTrainer(images, fast=True)
    contenders = {
        "vaekit": VaekitTrainer(images, fast=False),
        "vaekit, autograd step": VaekitTrainer(images, fast=False, mode="autograd"),
        "vaekit --fast": fast,
        "bf16 autocast, forced": VaekitTrainer(images, fast=True, mode="bf16"),
        "dataloader": DataLoaderRecipe(len(images)),
        "autograd floor": Floor(images, fused=True),
        "peak fp32": PeakMatmul(torch.float32, repeats=3),
        "peak bf16": PeakMatmul(torch.bfloat16, repeats=3),
    }
    tf1 = None
    if tf_python:
        from bench_tf1 import SeedTF1

        tf1 = contenders["seed TF1"] = SeedTF1(tf_python, threads)
    cpu: dict = {}
    try:
        seen = alternate(contenders, steps, rounds, log, cpu)
    finally:
        if tf1 is not None:
            tf1.close()
    return {
        "raw": seen,
        "raw_cpu_seconds": cpu,
        "summary": summarize(seen, steps, FLOPS["counted"], cpu),
        "fast_ran": fast.ran,
        "fast_note": fast.note,
        "tensorflow": tf1.version if tf1 else None,
        "load_average_after": benchlib.load_average(),
    }


FLOPS: dict = {}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40-step chunks, 5 rounds (the default)")
    parser.add_argument("--full", action="store_true",
                        help="400-step chunks (one epoch) and the 10-epoch bfloat16 check")
    parser.add_argument("--steps", type=int, help="steps per chunk (default 40, 400 with --full)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of alternation (default: %(default)s)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts, each its own table (default: 1 2)")
    parser.add_argument("--tf-python", default=os.environ.get("TF_PYTHON", ".tfvenv/bin/python"),
                        help="the TF venv's python; the seed TF1 contender is left out if it does not exist")
    parser.add_argument("--fast-elbo", type=int,
                        help="epochs of the float32 vs bfloat16 check (default 0, 10 with --full)")
    parser.add_argument("--elbo-seed", type=int, default=42, help="seed of the --fast-elbo runs (default: %(default)s)")
    parser.add_argument("--name", default="speed", help="results file name (default: %(default)s)")
    args = parser.parse_args(argv)
    steps = args.steps or (400 if args.full else 40)
    fast_epochs = args.fast_elbo if args.fast_elbo is not None else (10 if args.full else 0)
    tf_python = args.tf_python if Path(args.tf_python).exists() else None

    def log(message):
        print(message, flush=True)

    if tf_python is None:
        log(f"no {args.tf_python}: the seed TF1 contender is left out (make bench-tf1 builds its venv)")
    machine = benchlib.machine_info()
    machine["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    data = vaekit.load_mnist()
    images = data.train_images[: steps * BATCH]
    FLOPS.update(flops_per_image())
    log(f"FLOPs per image per step: {FLOPS['counted'] / 1e6:.2f} M counted, "
        f"{FLOPS['three_forward'] / 1e6:.2f} M (3 x forward)")
    by_threads = {str(t): run_at(t, images, steps, args.rounds, tf_python, log) for t in args.threads}
    results = {
        "machine": machine,
        "steps": steps,
        "rounds": args.rounds,
        "batch_size": BATCH,
        "flops_per_image_per_step": FLOPS,
        "tensorflow": next((p["tensorflow"] for p in by_threads.values() if p["tensorflow"]), None),
        "by_threads": by_threads,
    }
    if fast_epochs:
        results["fast_elbo"] = fast_elbo(fast_epochs, data, log, args.elbo_seed)
    json_path, md_path = benchlib.write_results(args.name, results, markdown)
    print(md_path.read_text())
    log(f"written {json_path} and {md_path}")


if __name__ == "__main__":
    main()
