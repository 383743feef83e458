"""Kernel cost of one live-loss-plot update, at 100 and at 20,000 steps of history.

    python benchmarks/bench_live_plot.py [--reps 200]

The browser-side plot (vaekit.widgets.LiveLossPlot): each update sends only what is new -- here the
10 steps since the last update, as at 0.25 s between updates and ~25 ms a step -- serialised to JSON as
the kernel's session does (outside a kernel the widget's comm sends nothing, so the benchmark does the
json.dumps itself). Beside it, the former way: the whole matplotlib figure (plot_history) rendered
to PNG at 80 dpi, per update. Medians with their spread; alternated inside one run.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from benchlib import machine_info, machine_lines, spread, write_results
from matplotlib.figure import Figure

from vaekit.plotting import figure_png, plot_history
from vaekit.widgets import LiveLossPlot

NEW_STEPS = 10


def history(steps: int) -> dict:
    rng = random.Random(0)
    losses = [200 * 0.999**i + rng.random() for i in range(steps)]
    terms = [f"{s}_{t}" for s in ("train", "test") for t in ("total", "reconstruction", "kl")]
    epochs = [{"epoch": e, **{term: 100.0 + e for term in terms}}
              for e in range(steps // 400)]
    return {"batch_losses": losses, "epochs": epochs}


def time_streamed(steps: int, reps: int) -> list[float]:
    live = LiveLossPlot()
    live.widget.send = lambda content, buffers=None: json.dumps({"method": "custom", "content": content})
    live.history = history(steps)
    live.update()  # the history so far has been sent
    times = []
    for _ in range(reps):
        live.history["batch_losses"].extend([100.0] * NEW_STEPS)
        started = time.perf_counter()
        live.update()
        times.append((time.perf_counter() - started) * 1000)
    return times


def time_matplotlib(steps: int, reps: int) -> list[float]:
    figure, h = Figure(figsize=(10, 3.6)), history(steps)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        figure_png(plot_history(h, figure), dpi=80)
        times.append((time.perf_counter() - started) * 1000)
    return times


def markdown(results: dict) -> str:
    lines = ["# Live loss plot: kernel ms per update", "", *machine_lines(results["machine"]), "",
             f"Streamed: {NEW_STEPS} new steps per update, JSON-serialised. Former: the whole figure as a PNG.", "",
             "| history (steps) | streamed, median ms (min-max) | former matplotlib PNG, median ms (min-max) |",
             "| --- | --- | --- |"]
    for steps, row in results["per_length"].items():
        s, m = row["streamed_ms"], row["matplotlib_ms"]
        lines.append(f"| {int(steps):,} | {s['median']:.3f} ({s['min']:.3f}-{s['max']:.3f}) | "
                     f"{m['median']:.0f} ({m['min']:.0f}-{m['max']:.0f}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    results = {"machine": machine_info(), "per_length": {}}
    for steps in (100, 20_000):
        results["per_length"][steps] = {
            "streamed_ms": spread(time_streamed(steps, args.reps)),
            "matplotlib_ms": spread(time_matplotlib(steps, max(5, args.reps // 20))),
        }
    write_results("live_plot", results, markdown)
    print(markdown(results))


if __name__ == "__main__":
    main()
