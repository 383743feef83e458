"""Where a training step of the seed model goes, part by part, and what each idea for vaekit/fastpath.py saves.

    python benchmarks/bench_step_parts.py            # 1 thread, about a minute

Each part is timed in CPU time (user + system of this process), the best of
several repetitions of many calls: on a shared machine that is far steadier
than wall time, and at one thread it is what the part costs. The parts run in
isolation, with their data warm in the caches, so they add up to less than a
whole step; the whole steps are timed the same way at the end.

Ideas (the same mathematics; "exact" = the same float32 results as autograd):

  ELU derivative from the output (in-place ELU)  elu_backward(is_result=True): out + 1 instead of exp(pre);
                                                 not exact (a different rounding of the same derivative)
  reconstruction sum as softplus - dot           sum(softplus(l)) - <l, x> instead of BCE-with-logits per
                                                 pixel; not exact (the reported loss's last bits)
  one product for both heads                     a 500 -> 40 product instead of two 500 -> 20; not exact
  torch.compile of the autograd step             Inductor fuses the elementwise work into generated C++
                                                 (needs a C++ compiler; the compile time is reported);
                                                 not exact (fused kernels round differently)

Then the limits (issue 14): the seed's TF1 code's step (its child process's CPU
time, alternated with vaekit's step), the machine's fp32 peak at 1 and 2 threads,
and the floor that the parts above set for any step built from the same kernels
(the products as MKL runs them, the element-wise kernels, Adam), against the
issue's targets: 1.3x the TF1 step, and 0.7 of the fp32 peak.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
# A cache of its own, so that the compile time reported is a first compile's (Inductor reads this at import).
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="vaekit-bench-inductor-")
atexit.register(shutil.rmtree, os.environ["TORCHINDUCTOR_CACHE_DIR"], ignore_errors=True)

# vaekit before torch, as under the command line: PyTorch's threads then wait passively.
import vaekit  # noqa: E402, I001
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import benchlib  # noqa: E402
from vaekit.fastpath import FastStep  # noqa: E402

B = 150


def cpu_us(fn, calls: int, repeats: int) -> float:
    """Best CPU microseconds per call over ``repeats`` runs of ``calls`` calls."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - start) / calls)
    return 1e6 * best


def parts(images: torch.Tensor) -> dict:
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    layers = [(784, 500), (500, 500), (500, 20), (500, 20), (20, 500), (500, 500), (500, 784)]
    out: dict[str, tuple] = {}

    def layer(n_in: int, n_out: int) -> float:
        """Forward, weight-gradient and (but for the first layer) input-gradient products of one layer."""
        x, w, b, d = rand(B, n_in), rand(n_out, n_in), rand(n_out), rand(B, n_out)
        y, dw, dx = torch.empty(B, n_out), torch.empty(n_out, n_in), torch.empty(B, n_in)
        forward = cpu_us(lambda: torch.addmm(b, x, w.t(), out=y), 50, 5)
        weight = cpu_us(lambda: torch.mm(d.t(), x, out=dw), 50, 5)
        inputs = cpu_us(lambda: torch.mm(d, w, out=dx), 50, 5) if n_in != 784 else 0.0
        return forward + weight + inputs

    gemm = sum(layer(n_in, n_out) for n_in, n_out in layers)
    out["matrix products (6 layers + 2 heads, forward and backward)"] = (gemm, f"{7.10e6 * B / gemm / 1e3:.0f} GFLOP/s")
    pre, o, d, r = rand(B, 500), torch.empty(B, 500), rand(B, 500), torch.empty(B, 500)
    torch.ops.aten.elu.out(pre, 1.0, 1, 1, out=o)
    out["ELU forward, x 4"] = (4 * cpu_us(lambda: torch.ops.aten.elu.out(pre, 1.0, 1, 1, out=o), 200, 5), "")
    from_input = 4 * cpu_us(
        lambda: torch.ops.aten.elu_backward.grad_input(d, 1.0, 1, 1, False, pre, grad_input=r), 200, 5
    )
    from_output = 4 * cpu_us(
        lambda: torch.ops.aten.elu_backward.grad_input(d, 1.0, 1, 1, True, o, grad_input=r), 200, 5
    )
    out["ELU derivative from the pre-activation (autograd's), x 4"] = (from_input, "kept (exact)")
    out["idea: ELU derivative from the output (in-place ELU), x 4"] = (
        from_output, f"saves {from_input - from_output:.0f} µs; not exact"
    )
    logits, x = 3 * rand(B, 784), images[:B].float()
    x = x / 255 if x.max() > 1 else x
    bce = cpu_us(lambda: F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1).sum(), 100, 5)
    softplus = cpu_us(lambda: F.softplus(logits).sum() - torch.dot(logits.view(-1), x.reshape(-1)), 100, 5)
    out["reconstruction loss: BCE-with-logits per pixel, summed (model.py's)"] = (bce, "kept (exact)")
    out["idea: reconstruction sum as softplus - dot"] = (softplus, f"saves {bce - softplus:.0f} µs; not exact")
    s = torch.empty(B, 784)
    out["d logits = sigmoid(logits) - x"] = (
        cpu_us(lambda: torch.sub(torch.sigmoid(logits, out=s), x, out=s), 200, 5), ""
    )
    h, wm, ws, bm, bs = rand(B, 500), rand(20, 500), rand(20, 500), rand(20), rand(20)
    wcat, bcat, m, sc, both = rand(40, 500), rand(40), torch.empty(B, 20), torch.empty(B, 20), torch.empty(B, 40)
    two = cpu_us(lambda: (torch.addmm(bm, h, wm.t(), out=m), torch.addmm(bs, h, ws.t(), out=sc)), 200, 5)
    one = cpu_us(lambda: torch.addmm(bcat, h, wcat.t(), out=both), 200, 5)
    out["heads: two 500 -> 20 products (forward)"] = (two, "kept (exact)")
    out["idea: one 500 -> 40 product for both heads (forward)"] = (one, f"saves {two - one:.0f} µs; not exact")

    model = vaekit.build("seed", seed=0)
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    out["fused Adam over 1.32 M parameters"] = (cpu_us(optimizer.step, 20, 5), "")

    pixels = list(images.split(B))  # uint8, as the trainer hands them to the hand-written step
    batches = [b.float() / 255 if b.dtype == torch.uint8 else b for b in pixels]
    eps = torch.randn(B, 20, generator=g)
    hand_model = vaekit.build("seed", seed=0)
    hand_opt = torch.optim.Adam(hand_model.parameters(), fused=True)
    hand = FastStep(hand_model, B, hand_opt)  # applies Adam itself once Adam has made its first step
    auto_model = vaekit.build("seed", seed=0)
    auto_opt = torch.optim.Adam(auto_model.parameters(), fused=True)
    it = {"hand": 0, "auto": 0}

    def hand_step():
        batch = pixels[it["hand"] % len(pixels)]
        it["hand"] += 1
        hand.step(batch, eps).tolist()
        if not hand.updated:
            hand_opt.step()

    def auto_step():
        batch = batches[it["auto"] % len(batches)]
        it["auto"] += 1
        auto_opt.zero_grad(set_to_none=True)
        loss = auto_model.loss(batch, eps=eps)
        torch.stack([loss.total, loss.reconstruction, loss.kl]).tolist()
        loss.total.backward()
        auto_opt.step()

    compiled_model = vaekit.build("seed", seed=0)
    compiled_opt = torch.optim.Adam(compiled_model.parameters(), fused=True)
    compiled_losses = torch.compile(lambda x, e: compiled_model.loss(x, eps=e))
    it["compiled"] = 0

    def compiled_step():
        batch = batches[it["compiled"] % len(batches)]
        it["compiled"] += 1
        compiled_opt.zero_grad(set_to_none=True)
        loss = compiled_losses(batch, eps)
        torch.stack([loss.total, loss.reconstruction, loss.kl]).tolist()
        loss.total.backward()
        compiled_opt.step()

    start = time.perf_counter()
    try:
        compiled_step()
        compiled_note = f"idea; compiling took {time.perf_counter() - start:.0f} s; not exact"
    except Exception as error:  # no C++ compiler, or Inductor refuses this platform
        compiled_step, compiled_note = None, f"could not compile here: {type(error).__name__}"

    steps = {
        "whole step: hand-written (fastpath.py) + fused Adam": hand_step,
        "whole step: autograd + fused Adam": auto_step,
        "whole step: torch.compile'd autograd + fused Adam": compiled_step,
    }
    for _ in range(3):  # alternate the whole steps
        for name, step in steps.items():
            if step is not None:
                out.setdefault(name, []).append(cpu_us(step, 20, 1))
    for name, step in steps.items():
        note = compiled_note if name.startswith("whole step: torch.compile") else ""
        out[name] = (min(out[name]) if step is not None else float("nan"), note)
    return out, hand_step


# The parts that every exact step computes: the products, the rows marked "kept", and Adam.
FLOOR_PARTS = (
    "matrix products (6 layers + 2 heads, forward and backward)",
    "ELU forward, x 4",
    "ELU derivative from the pre-activation (autograd's), x 4",
    "reconstruction loss: BCE-with-logits per pixel, summed (model.py's)",
    "d logits = sigmoid(logits) - x",
    "fused Adam over 1.32 M parameters",
)
FLOPS_PER_STEP = 7.10e6 * B  # FlopCounterMode's count, as bench_speed.py reports it


def limits(parts: dict, hand_step, tf_python: str | None, rounds: int, steps: int) -> dict:
    """The issue's targets against TF1's step, the fp32 peak and the floor the parts set, in CPU ms a step."""
    from bench_speed import PeakMatmul, cpu_seconds

    threads = torch.get_num_threads()
    peaks = {}
    for n in (1, 2):
        torch.set_num_threads(n)
        peaks[n] = max(PeakMatmul(torch.float32, repeats=3).run(0) for _ in range(3))
    torch.set_num_threads(threads)

    class Hand:  # SeedTF1's interface: run(steps) -> seconds; CPU time is this process's
        process = None

        def run(self, steps: int) -> float:
            start = time.perf_counter()
            for _ in range(steps):
                hand_step()
            return time.perf_counter() - start

    contenders = {"vaekit": Hand()}
    if tf_python:
        from bench_tf1 import SeedTF1

        contenders["seed TF1"] = SeedTF1(tf_python, threads)
    cpu_ms: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        for contender in contenders.values():
            contender.run(steps)  # warm-up
        for _ in range(rounds):  # alternated: both see the machine as it is
            for name, contender in contenders.items():
                before = cpu_seconds(contender)
                contender.run(steps)
                cpu_ms[name].append(1e3 * (cpu_seconds(contender) - before) / steps)
    finally:
        if tf_python:
            contenders["seed TF1"].close()

    products = parts[FLOOR_PARTS[0]][0] / 1e3
    floor = sum(parts[name][0] for name in FLOOR_PARTS) / 1e3
    result = {
        "threads": threads,
        "tensorflow": contenders["seed TF1"].version if tf_python else None,
        "peak_gflops": {str(n): v for n, v in peaks.items()},
        "cpu_ms": {name: benchlib.spread(v) for name, v in cpu_ms.items()},
        "floor_ms": floor,
        "floor_with_products_at_peak_ms": floor - products + 1e3 * FLOPS_PER_STEP / (peaks[1] * 1e9),
        "seventy_percent_of_peak_ms": {str(n): 1e3 * FLOPS_PER_STEP / (0.7 * v * 1e9) for n, v in peaks.items()},
    }
    if tf_python:
        result["tf1_over_1_3_ms"] = min(cpu_ms["seed TF1"]) / 1.3
    return result


def markdown(results: dict) -> str:
    lines = [
        "# Where a training step goes (seed model, batch 150), CPU time, best of several repetitions",
        "",
        *benchlib.machine_lines(results["machine"]),
        "",
        "| part | CPU µs | note |",
        "|---|---|---|",
    ]
    for name, (us, note) in results["parts"].items():
        lines.append(f"| {name} | {us:,.0f} | {note} |")
    if "limits" in results:
        lines += limits_markdown(results["limits"])
    return "\n".join(lines) + "\n"


def limits_markdown(limit: dict) -> list[str]:
    peaks, seventy = limit["peak_gflops"], limit["seventy_percent_of_peak_ms"]
    tf1 = f"; seed TF1: TensorFlow {limit['tensorflow']} in its own process" if limit["tensorflow"] else ""
    lines = [
        "",
        f"## Issue 14's targets against what these kernels allow ({limit['threads']} PyTorch thread(s))",
        "",
        f"Whole steps: CPU ms a step, best [median] of rounds alternated in one run{tf1}. fp32 peak "
        f"(square products): {peaks['1']:.0f} GFLOP/s on 1 thread, {peaks['2']:.0f} on 2. The floor adds up "
        "the parts above that every exact step computes; on 2 threads it is half that, as if split perfectly.",
        "",
        "| | ms a step |",
        "|---|---|",
    ]
    for name, row in limit["cpu_ms"].items():
        lines.append(f"| {name}, whole step (CPU) | {row['min']:.2f} [{row['median']:.2f}] |")
    if "tf1_over_1_3_ms" in limit:
        lines.append(f"| target: 1.3x the seed TF1 step (CPU) | {limit['tf1_over_1_3_ms']:.2f} |")
    lines += [
        f"| target: 0.7 of the fp32 peak, 1 thread | {seventy['1']:.2f} |",
        f"| target: 0.7 of the fp32 peak, 2 threads (wall) | {seventy['2']:.2f} |",
        f"| floor: products as MKL runs them + element-wise kernels + Adam (CPU) | {limit['floor_ms']:.2f} |",
        f"| floor on 2 threads (wall) | {limit['floor_ms'] / 2:.2f} |",
        f"| the floor with every product at the fp32 peak (CPU) | {limit['floor_with_products_at_peak_ms']:.2f} |",
    ]
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="default: %(default)s")
    parser.add_argument("--name", default="step_parts", help="results file name (default: %(default)s)")
    parser.add_argument("--tf-python", default=os.environ.get("TF_PYTHON", ".tfvenv/bin/python"),
                        help="the TF venv's python; the seed TF1 step is left out if it does not exist")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of whole steps (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=100, help="steps a round (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = benchlib.machine_info()
    images = vaekit.load_mnist(train_limit=3000, test_limit=1).train_images
    found, hand_step = parts(images)
    tf_python = args.tf_python if Path(args.tf_python).exists() else None
    if tf_python is None:
        print(f"no {args.tf_python}: the seed TF1 step is left out (make bench-tf1 builds its venv)")
    results = {"machine": machine, "parts": found,
               "limits": limits(found, hand_step, tf_python, args.rounds, args.steps)}
    json_path, md_path = benchlib.write_results(args.name, results, markdown)
    print(md_path.read_text())
    print(f"written {json_path} and {md_path}")


if __name__ == "__main__":
    main()
