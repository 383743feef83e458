"""Where a slider move's time goes: a Chrome trace of key presses on the latent sliders, in JupyterLab
(notebook 03), Voilà and the exported page, broken down on the page's main thread.

    python benchmarks/trace_slider_latency.py [--presses 30] [--pages lab exported voila] [--random-phase]
                                              [--out-dir /tmp/vaekit-slider-trace]

For each page: the same key presses as bench_browser_latency.py (tests/browser.py's probe: key event ->
canvas painted), recorded with Chromium's tracing (the DevTools timeline categories), then per press, on
the renderer's main thread, wall and CPU ms of
  - input: the tasks that dispatch the key and input events (the sliders' handler decodes and paints here),
  - frame: the rendering tasks, with their stages (style, layout, pre-paint, paint, layerize, commit),
  - kernel: the tasks that handle a message from the kernel (the websocket),
  - other: the rest (timers, idle callbacks, React's scheduler, what the kernel's messages set off);
and the page's DOM changes outside the widget per press (a MutationObserver on the whole document).
`--random-phase` waits 0-17 ms before each press, as a hand would: without it each press follows the
last frame by about the same time (the probe's frame, then a round trip to Playwright), so every press
waits about as long for its frame. Writes the traces (open them in chrome://tracing or Perfetto) and
summary.md into --out-dir; nothing in benchmarks/results/ unless --out-dir says so. Needs Chromium.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import load_average

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from bench_browser_latency import open_lab, open_voila  # noqa: E402  (one way to open each page)
from browser import (  # noqa: E402  (the tests' servers and probes: one way to drive them)
    CHROMIUM_ARGS,
    LATENCY_PROBE_JS,
    find_chromium,
)

from vaekit.data import data_root  # noqa: E402

SCOPE = ".vaekit-latent-sliders"
CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing", "toplevel",
              "v8.execute"]
STAGES = ("UpdateLayoutTree", "Layout", "PrePaint", "Paint", "Layerize", "Commit")
INPUT_EVENTS = {"keydown", "keyup", "keypress", "input", "change", "pointermove", "mousemove", "pointerdown",
                "pointerup"}
# marks in the trace: a press starts, its frame was painted; and every DOM change outside the widget
MARKS_JS = """() => {
    if (window.vaekitTraceMarks) return;
    window.vaekitTraceMarks = true;
    const push = window.vaekitLatency.push.bind(window.vaekitLatency);
    window.vaekitLatency.push = v => { performance.mark('vaekit-painted'); return push(v); };
    document.addEventListener('keydown', () => performance.mark('vaekit-press'), true);
    window.vaekitOutside = 0;
    new MutationObserver(changes => {
        window.vaekitOutside += changes.filter(c => !(c.target.closest ? c.target : c.target.parentElement)
                                                    ?.closest('.vaekit-root')).length;
    }).observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def press(page, key: str, presses: int, random_phase: bool) -> list[float]:
    """Like tests/browser.py's slider_keys, optionally at a random time within the frame."""
    page.evaluate("() => { window.vaekitLatency.length = 0; }")
    page.locator(f"{SCOPE} .vaekit-latent-slider input").first.focus()
    for done in range(1, presses + 1):
        if random_phase:
            time.sleep(random.uniform(0, 1 / 60))
        page.keyboard.press(key)
        page.wait_for_function("n => window.vaekitLatency.length >= n", arg=done, timeout=10_000)
    return page.evaluate("() => [...window.vaekitLatency]")


def traced(browser, page, name: str, presses: int, random_phase: bool, out_dir: Path) -> dict:
    page.evaluate(LATENCY_PROBE_JS)
    page.evaluate(MARKS_JS)
    press(page, "ArrowRight", 10, random_phase)  # warm up: compiled code, caches
    time.sleep(1)  # the warm-up's kernel messages are answered
    page.evaluate("() => { window.vaekitOutside = 0; }")
    browser.start_tracing(page=page, categories=CATEGORIES)
    latencies = press(page, "ArrowLeft", presses, random_phase)
    time.sleep(0.3)
    trace = browser.stop_tracing()
    outside = page.evaluate("() => window.vaekitOutside")
    path = out_dir / f"{name}.trace.json"
    path.write_bytes(trace)
    return {"latencies": latencies, "outside_dom_changes": outside, **breakdown(json.loads(trace), presses)}


def main_thread(events: list[dict]) -> list[dict]:
    """The events of the page's renderer main thread, in order."""
    names = [e for e in events if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"]
    marked = {e["pid"] for e in events if e.get("name") == "vaekit-press"}
    pid, tid = next((e["pid"], e["tid"]) for e in names if e["pid"] in marked)
    return sorted((e for e in events if e.get("pid") == pid and e.get("tid") == tid and "ts" in e),
                  key=lambda e: (e["ts"], -e.get("dur", 0)))


def kind(inside: list[dict]) -> str:
    dispatched = {(e.get("args", {}).get("data") or {}).get("type") for e in inside if e["name"] == "EventDispatch"}
    names = {e["name"] for e in inside}
    functions = {(e.get("args", {}).get("data") or {}).get("functionName") for e in inside
                 if e["name"] == "FunctionCall"}
    if dispatched & INPUT_EVENTS:
        return "input"
    if names & {"Paint", "Commit", "Layout", "UpdateLayoutTree"} and names & {"Paint", "Commit"}:
        return "frame"
    if "WebSocketReceive" in names or "_onWSMessage" in functions:
        return "kernel"
    return "other"


def breakdown(trace: dict, presses: int) -> dict:
    """Main-thread ms per press, wall and CPU, by kind of task and by rendering stage, between the first
    press and the last painted frame."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    marks = [e["ts"] for e in events if e.get("name") in ("vaekit-press", "vaekit-painted")]
    start, end = min(marks), max(marks)
    everything = [e for e in main_thread(events) if start <= e["ts"] <= end]
    thread = [e for e in everything if e.get("ph") == "X" and "dur" in e]  # complete events: they last
    tasks = [e for e in thread if e["name"] == "ThreadControllerImpl::RunTask"]
    wall, cpu, count = collections.Counter(), collections.Counter(), collections.Counter()
    i = 0
    for task in tasks:
        stop = task["ts"] + task["dur"]
        while i < len(thread) and thread[i]["ts"] < task["ts"]:
            i += 1
        j = i
        while j < len(thread) and thread[j]["ts"] < stop:
            j += 1
        k = kind(thread[i:j])
        wall[k] += task["dur"]
        cpu[k] += task.get("tdur", 0)
        count[k] += 1
    for e in thread:
        if e["name"] in STAGES:
            wall[e["name"]] += e["dur"]
            cpu[e["name"]] += e.get("tdur", 0)
    per = lambda c: {k: round(v / presses / 1000, 2) for k, v in c.items()}  # noqa: E731
    return {"wall_ms": per(wall), "cpu_ms": per(cpu), "tasks": {k: round(v / presses, 2) for k, v in count.items()},
            "kernel_messages": round(sum(e["name"] == "WebSocketReceive" for e in everything) / presses, 2)}


def open_exported(browser, scratch: Path, env: dict):
    out = scratch / "explorer.html"
    subprocess.run([sys.executable, "-m", "vaekit", "export-html", str(out)], check=True, capture_output=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-vaekit-ready='1']", timeout=60_000)
    return None, page


PAGES = {"exported": ("exported HTML (file://)", open_exported), "voila": ("Voilà (vaekit explore)", open_voila),
         "lab": ("JupyterLab (notebook 03)", open_lab)}


def markdown(results: dict) -> str:
    lines = ["# Where a slider move's time goes (main thread, per key press)", "",
             f"- Date: {results['date']}; command: `{results['command']}`",
             f"- Load average at start {results['load'][0]}, at end {results['load'][1]} (2 cores: compare within "
             "a run)", f"- {results['presses']} presses a page; " +
             ("each at a random time within the frame" if results["random_phase"] else
              "each right after the last one's frame (as bench_browser_latency.py)"), "",
             "wall / CPU ms per press on the renderer's main thread:", "",
             "| page | latency median (p95) | input | frame | of which " + " / ".join(STAGES) + " | kernel | other "
             "| kernel msgs | DOM changes outside |", "| --- " * 9 + "|"]
    for name, row in results["pages"].items():
        w, c = row["wall_ms"], row["cpu_ms"]
        both = lambda k: f"{w.get(k, 0):.1f} / {c.get(k, 0):.1f}"  # noqa: E731
        lat = row["latencies"]
        lines.append(f"| {name} | {statistics.median(lat):.1f} ({sorted(lat)[int(0.95 * (len(lat) - 1))]:.1f}) "
                     f"| {both('input')} | {both('frame')} | {' / '.join(f'{w.get(s, 0):.1f}' for s in STAGES)} "
                     f"| {both('kernel')} | {both('other')} | {row['kernel_messages']:.1f} "
                     f"| {row['outside_dom_changes'] / results['presses']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--pages", nargs="+", choices=list(PAGES), default=["exported", "lab"])
    parser.add_argument("--random-phase", action="store_true", help="press at a random time within the frame")
    parser.add_argument("--out-dir", type=Path, default=Path(tempfile.gettempdir()) / "vaekit-slider-trace")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out_dir.mkdir(parents=True, exist_ok=True)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(sys.argv),
               "presses": args.presses, "random_phase": args.random_phase, "load": [load_average()], "pages": {}}
    env = {"VAEKIT_QUICK": "1", "VAEKIT_DATA": str(data_root().resolve())}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        scratch = Path(scratch)
        env["VAEKIT_FIGURES"] = str(scratch / "figures")
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        for key in args.pages:
            name, opened = PAGES[key]
            server, page = opened(browser, scratch, env)
            try:
                results["pages"][name] = traced(browser, page, key, args.presses, args.random_phase, args.out_dir)
                page.close()
                if key == "lab":
                    server.shut_down_kernels()
            finally:
                if server:
                    server.stop()
        browser.close()
    results["load"].append(load_average())
    (args.out_dir / "summary.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out_dir / "summary.md").write_text(markdown(results))
    print(markdown(results))
    print(f"traces and summary in {args.out_dir}")


if __name__ == "__main__":
    main()
