"""Epoch time on a quiet machine and beside one busy process, alternated in one run.

    python benchmarks/bench_contention.py            # 400-step epochs (all of MNIST), 3 rounds: ~5 min
    python benchmarks/bench_contention.py --quick    # 150-step epochs, 3 rounds: ~2 min

A learner's laptop runs a browser and JupyterLab beside the training: more busy
threads than cores. This script trains the seed model (batch 150, real MNIST)
one epoch at a time in long-lived child processes, each round once with the
machine as it is and once with one extra CPU-bound process beside it
(``python -c 'while True: pass'``, the issue's test), and reports each
contender's contended / quiet epoch-time ratio within the round.

Contenders (each its own process, so that OpenMP reads its environment once):

  vaekit                the default: the hand-written step on two threads of its own, or on one
                        where that has lately been faster (vaekit/fastpath.py); no OpenMP in the step
  autograd's step       what the models without a hand-written step get (conv, conditional): each
                        kernel on PyTorch's OpenMP threads, which ``import vaekit`` first lets spin
                        at most 1,000 times before they sleep (GOMP_SPINCOUNT, vaekit/threads.py)
  ..., spin-waiting     autograd's step with PyTorch imported before vaekit: libgomp's default,
                        300,000 spins, then sleep (what a notebook importing torch first gets);
                        a part of an epoch scaled up, since its contended epochs can take minutes
  vaekit 1 thread       ``--threads 1``
  GOMP_SPINCOUNT=N      with ``--spin-counts N ...``: autograd's step, torch first, libgomp spinning
                        N times before it sleeps (0 is passive; the default is 300,000)
  seed TF1              benchmarks/seed_tf1.py in its own venv (if ``--tf-python`` exists)

All at ``--threads`` (default 2) except the 1-thread one. The machine this runs
on may be shared: the load average is recorded before every epoch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

BATCH = 150
SPINNER = "while True: pass"


def serve(threads: int, spin_waiting: bool, images: int, autograd: bool) -> None:
    """Child: answer each stdin line N with the seconds of one N-step epoch of the Trainer."""
    if spin_waiting:
        import torch  # before vaekit: OpenMP keeps its default (spinning) wait policy
    import vaekit  # noqa: I001  # before torch otherwise: vaekit asks for passive waiting
    import torch

    torch.set_num_threads(threads)
    data = vaekit.load_mnist(train_limit=images, test_limit=1)
    policy = os.environ.get("OMP_WAIT_POLICY") or f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'default')}"
    print(f"ready {policy}", flush=True)
    trainers = {}
    for line in sys.stdin:
        steps = int(line)
        if steps not in trainers:
            config = vaekit.TrainConfig(epochs=0, batch_size=BATCH, seed=0, device="cpu")
            trainers[steps] = vaekit.Trainer(
                vaekit.build("seed", seed=0), data.train_images[: steps * BATCH], config=config
            )
            if autograd:
                trainers[steps].hand_written_step = None
        trainer = trainers[steps]
        trainer.config.epochs += 1
        seconds = trainer.fit()["epochs"][-1]["seconds"]
        print(f"{seconds} {trainer.history['batch_losses'][-1]}", flush=True)


class Child:
    """A long-lived training process that runs an N-step epoch when asked; run() returns seconds.

    With ``fraction`` < 1 it trains that fraction of the steps and scales the time up to the
    epoch (for the spin-waiting contender, whose contended epochs can take minutes).
    """

    def __init__(self, command: list[str], env: dict, fraction: float = 1.0):
        self.fraction = fraction
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        ready = self.process.stdout.readline().split(maxsplit=1)
        if ready[:1] != ["ready"]:
            raise SystemExit(f"{' '.join(command)} did not start; run it by hand to see why")
        self.description = ready[1].strip() if len(ready) > 1 else ""

    def run(self, steps: int) -> float:
        part = max(1, round(steps * self.fraction))
        self.process.stdin.write(f"{part}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline().split()[0]) * steps / part

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def contenders(args) -> dict[str, Child]:
    # each child chooses its own wait settings
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    me = [sys.executable, str(Path(__file__).resolve()), "--serve", "--images", str(args.steps * BATCH)]
    autograd = [*me, "--threads", str(args.threads), "--autograd"]
    out = {
        f"vaekit, {args.threads} threads": Child([*me, "--threads", str(args.threads)], env),
        f"vaekit, {args.threads} threads, autograd's step (OpenMP, 1,000 spins)": Child(autograd, env),
        **{
            # libgomp spins this many times before it sleeps (OMP_WAIT_POLICY unset; PASSIVE is 0)
            f"vaekit, {args.threads} threads, autograd's step, GOMP_SPINCOUNT={count}": Child(
                [*autograd, "--spin-waiting"],
                {k: v for k, v in env.items() if k != "GOMP_SPINCOUNT"} | {"GOMP_SPINCOUNT": str(count)},
            )
            for count in args.spin_counts
        },
        f"vaekit, {args.threads} threads, autograd's step, spin-waiting ({args.before_fraction:g} of an epoch, "
        "scaled)": Child([*autograd, "--spin-waiting"], env, fraction=args.before_fraction),
        "vaekit, 1 thread": Child([*me, "--threads", "1"], env),
    }
    if Path(args.tf_python).exists():
        from bench_tf1 import SeedTF1

        out[f"seed TF1, {args.threads} threads"] = SeedTF1(args.tf_python, args.threads)
    else:
        print(f"no {args.tf_python}: the TF1 contender is left out (make bench-tf1 builds it)", flush=True)
    return out


def markdown(results: dict) -> str:
    import benchlib

    lines = [
        "# Epoch time, quiet vs beside one busy process (`python -c 'while True: pass'`), alternated in one run",
        "",
        *benchlib.machine_lines(results["machine"]),
        (
            f"- {results['rounds']} rounds; each round runs every contender once on the machine as it is and once "
            f"beside one extra spinning process; epochs of {results['steps']} steps "
            f"(batch {BATCH}, real MNIST, seed model)"
        ),
        (
            f"- Load average before the epochs: as-is {results['load_quiet']}, with the spinner "
            f"{results['load_contended']} (median of the 1-minute figure; the spinner adds 1)"
        ),
        "",
        "| contender | epoch as is (s) | beside a spinner (s) | ratio (within a round) |",
        "|---|---|---|---|",
    ]
    for name, row in results["contenders"].items():
        q, c, r = row["quiet_s"], row["contended_s"], row["ratio"]
        lines.append(
            f"| {name} | {q['median']:.1f} [{q['min']:.1f}, {q['max']:.1f}] | {c['median']:.1f} [{c['min']:.1f}, "
            f"{c['max']:.1f}] | **{r['median']:.2f}** [{r['min']:.2f}, {r['max']:.2f}] |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="150-step epochs (default: 400, all of MNIST)")
    parser.add_argument("--steps", type=int, help="steps per epoch (default 400, 150 with --quick)")
    parser.add_argument("--rounds", type=int, default=3, help="default: %(default)s")
    parser.add_argument("--before-fraction", type=float, help="part of an epoch the spin-waiting contender trains, "
                        "its time scaled up (default 0.25, 0.1 with --quick)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of the multi-threaded contenders (default: %(default)s)")
    parser.add_argument("--tf-python", default=os.environ.get("TF_PYTHON", ".tfvenv/bin/python"),
                        help="the TF venv's python")
    parser.add_argument("--spin-counts", type=int, nargs="*", default=[], metavar="N",
                        help="also run 2-thread contenders that spin N times before sleeping (GOMP_SPINCOUNT=N), "
                        "e.g. 1000 10000: the trade-off between quiet speed and contention")
    parser.add_argument("--name", default="contention", help="results file name (default: %(default)s)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spin-waiting", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--autograd", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=60_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.threads, args.spin_waiting, args.images, args.autograd)
    args.steps = args.steps or (150 if args.quick else 400)
    args.before_fraction = args.before_fraction or (0.1 if args.quick else 0.25)

    import benchlib

    machine = benchlib.machine_info()
    children = contenders(args)
    seen = {name: {"quiet": [], "contended": []} for name in children}
    loads = {"quiet": [], "contended": []}
    try:
        for child in children.values():
            child.run(args.steps)  # warm-up epoch, not recorded
        for r in range(args.rounds):
            # Alternate which condition comes first, and the contenders' order.
            for condition in (("quiet", "contended") if r % 2 == 0 else ("contended", "quiet")):
                spinner = subprocess.Popen([sys.executable, "-c", SPINNER]) if condition == "contended" else None
                try:
                    if spinner:
                        time.sleep(1.0)  # let the scheduler see it
                    names = list(children)
                    names = names[r % len(names):] + names[: r % len(names)]
                    for name in names:
                        loads[condition].append(os.getloadavg()[0])
                        seen[name][condition].append(children[name].run(args.steps))
                finally:
                    if spinner:
                        spinner.kill()
                        spinner.wait()
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{n} {s['quiet'][-1]:.1f}/{s['contended'][-1]:.1f} s" for n, s in seen.items()), flush=True)
    finally:
        for child in children.values():
            child.close()
    results = {
        "machine": machine,
        "steps": args.steps,
        "rounds": args.rounds,
        "load_quiet": round(statistics.median(loads["quiet"]), 2),
        "load_contended": round(statistics.median(loads["contended"]), 2),
        "contenders": {
            name: {
                "quiet_s": benchlib.spread(s["quiet"]),
                "contended_s": benchlib.spread(s["contended"]),
                "ratio": benchlib.spread([c / q for q, c in zip(s["quiet"], s["contended"])]),
                "wait_policy": getattr(children[name], "description", ""),
            }
            for name, s in seen.items()
        },
        "raw": seen,
        "load_averages": loads,
    }
    json_path, md_path = benchlib.write_results(args.name, results, markdown)
    print(md_path.read_text())
    print(f"written {json_path} and {md_path}")


if __name__ == "__main__":
    main()
