"""Kernel-side cost of the widgets' updates: what a user waits for after moving a slider.

    python benchmarks/bench_widgets.py [--reps 2000] [--checkpoint PATH] [--out benchmarks/results/bench_widgets.txt]

Measures, on the shipped model (or --checkpoint), the median and 95th percentile of:
  * one slider update, end to end (the slider's observer: decode the code, PNG-encode the digit,
    set the Image and the code label), and its two parts side by side;
  * one interpolation strip (encode two digits, interpolate, decode 10 codes, PNG strip + frame);
  * one redraw of the live loss plot (matplotlib Agg, two panels).
Excludes sending the bytes to the browser (there is no kernel here). Target: slider update < 1 ms median.
Not a test: the numbers depend on the machine and its load, which the output records.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import vaekit
from vaekit import widgets as vw
from vaekit.latent import decode_images
from vaekit.plotting import digit_png, to_uint8


def measure(function, reps: int, warmup: int = 20) -> tuple[float, float]:
    """(median, p95) in milliseconds over ``reps`` calls of ``function(i)``."""
    for i in range(warmup):
        function(i)
    times = []
    for i in range(reps):
        start = time.perf_counter_ns()
        function(i)
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return statistics.median(times) / 1e6, times[min(len(times) - 1, int(0.95 * len(times)))] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--checkpoint", default=None, help="default: the shipped seed model")
    parser.add_argument("--out", default="benchmarks/results/bench_widgets.txt")
    args = parser.parse_args()

    checkpoint = args.checkpoint or vaekit.pretrained_path("seed")
    model = vaekit.load(checkpoint)
    data = vaekit.load_mnist(test_limit=2000)
    explorer = vw.latent_sliders(model, data.test_images, data.test_labels)
    path = vw.interpolator(model, data.test_images, data.test_labels)
    codes = torch.randn(args.reps + 100, model.config.latent_size, generator=torch.Generator().manual_seed(0))
    digit = decode_images(model, codes[:1])[0]

    lines = [
        f"vaekit widget benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"Python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"model {checkpoint}; {args.reps} repetitions",
        "",
        f"{'what':<66} {'median ms':>10} {'p95 ms':>10}",
    ]

    def report(name, function, reps=args.reps):
        median, p95 = measure(function, reps)
        lines.append(f"{name:<66} {median:10.3f} {p95:10.3f}")
        print(lines[-1], flush=True)
        return median

    print("\n".join(lines), flush=True)
    # The page decodes and paints (benchmarks/bench_browser_latency.py); the kernel only takes the new code.
    total = report("slider update, kernel side (the page's new code: validate, store, echo)",
                   lambda i: setattr(explorer, "z", codes[i].tolist()))
    with vw.one_thread():
        report("  decode one code (20 -> 784, torch on 1 thread, no grad)",
               lambda i: decode_images(model, codes[i : i + 1]))
    report(f"  for comparison: the same decode on {torch.get_num_threads()} threads",
           lambda i: decode_images(model, codes[i : i + 1]))
    report("  PNG of one digit, 28 -> 224 px nearest, compress_level=1", lambda i: digit_png(digit))
    report("  for comparison: the same PNG at Pillow's default level 6", lambda i: _png_level(digit, 6))
    report("  for comparison: a 28 px PNG (the browser would upscale)", lambda i: digit_png(digit, scale=1))
    methods = ("spherical", "linear")
    report("interpolation method change, kernel side (the page draws the strip)",
           lambda i: setattr(path, "method", methods[i % 2]), reps=max(50, args.reps // 10))
    report("  for comparison: the same strip decoded in the kernel (10 steps)", lambda i: path.frames(),
           reps=max(50, args.reps // 10))
    verdict = "meets" if total < 1.0 else "misses"
    lines += ["", f"slider update median {total:.3f} ms: {verdict} the < 1 ms target"]
    print(lines[-1])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}")


def _png_level(pixels: torch.Tensor, level: int) -> bytes:
    import io

    from PIL import Image

    image = Image.fromarray(to_uint8(pixels).reshape(28, 28), mode="L").resize((224, 224), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
