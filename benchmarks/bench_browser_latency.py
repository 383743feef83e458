"""Input event -> canvas painted, for the browser-side latent sliders, in JupyterLab, Voilà and the page
written by `vaekit export-html` (opened from file://, every network request blocked), for the seed model
and for the shipped convolutional model (the slowest to decode; an exported page, so always in the browser).

    python benchmarks/bench_browser_latency.py [--moves 60] [--out browser_latency]   # a name in benchmarks/results/

Each move is one ArrowRight/ArrowLeft key press on the most active slider, made once the previous move's
frame was painted; the clock starts at the key event (its timeStamp) and stops just after the next
animation frame (a message posted from inside the requestAnimationFrame callback: handled once the frame
is painted). The slider's handler decodes the code in JavaScript and paints the canvas synchronously, so
that frame shows the new digit -- where the sliders decode in the browser, which the table's last column
says (a row that decodes in the kernel would time the input's frame only, not the kernel's digit).
The "pointer drag" rows (not for the conv page) drag the same slider's thumb instead, 3 px a move, each
move sent once the browser took the last (tests/browser.py's slider_drag); Chromium delivers a pointer
move at the next frame, so the clock also counts the wait for it.
Where the time goes, stage by stage: benchmarks/trace_slider_latency.py.
Also measured: the exported page's size and its time to the first interactive digit, and decoder.js's
time per code in Node for each architecture (with the max pixel difference to PyTorch on the same codes).
Needs Chromium (tests/browser.py says how) and Node.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from benchlib import machine_info, machine_lines, spread, write_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from browser import (  # noqa: E402  (the tests' servers and probes: one way to drive them)
    CHROMIUM_ARGS,
    clear_and_run_all,
    find_chromium,
    open_notebook,
    slider_drag,
    slider_keys,
    start_explorer,
    start_lab,
    wait_until_all_cells_ran,
)

import vaekit  # noqa: E402
from vaekit import models  # noqa: E402
from vaekit.data import data_root  # noqa: E402
from vaekit.latent import decode_images  # noqa: E402
from vaekit.widgets.decoder import FLOAT16_TOLERANCE, decoder_spec, float16_error  # noqa: E402

SCOPE = ".vaekit-latent-sliders"
TARGET_MS = 16.0


def where_decoded(page) -> dict:
    """Where the sliders decode ("browser" or "kernel") and the page's median decode time at open (ms)."""
    found = page.eval_on_selector(SCOPE, "el => [el.dataset.decoding ?? null, el.dataset.browserMs ?? null]")
    return {"decoding": found[0], "browser_ms_at_open": None if found[1] is None else float(found[1])}


def moves(page, n: int) -> list[float]:
    """n key presses on the first slider, in runs of 20 right then 20 left (the slider stays in range)."""
    latencies: list[float] = []
    while len(latencies) < n:
        k = min(20, n - len(latencies))
        latencies += slider_keys(page, SCOPE, 0, "ArrowRight" if len(latencies) % 40 == 0 else "ArrowLeft", k)
    return latencies


def drags(page, n: int) -> list[float]:
    """Drags of the first slider, 20 moves each, first towards 0 then back, until n moves changed its value."""
    latencies: list[float] = []
    value = float(page.eval_on_selector(f"{SCOPE} .vaekit-latent-slider input", "i => i.value"))
    step = -3.0 if value > 0 else 3.0
    while len(latencies) < n:
        latencies += slider_drag(page, SCOPE, 0, 20, step)[: n - len(latencies)]
        step = -step
    return latencies


def open_lab(browser, scratch: Path, env: dict):
    """(server, page): notebook 03 run in a real JupyterLab on a copy of the notebooks, its sliders ready."""
    root = scratch / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    server = start_lab(root, scratch / "lab", **env)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
        open_notebook(page, server, "03_latent_sliders.ipynb")
        clear_and_run_all(page)
        page.wait_for_selector(f"{SCOPE}[data-ready='1']", timeout=240_000)
        wait_until_all_cells_ran(page)
        page.locator(SCOPE).scroll_into_view_if_needed()
    except BaseException:
        server.stop()
        raise
    return server, page


def open_voila(browser, scratch: Path, env: dict):
    """(server, page): `vaekit explore` served by Voilà, its sliders ready."""
    server = start_explorer(scratch / "voila", **env)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
        page.goto(server.url("/"), wait_until="domcontentloaded", timeout=240_000)
        page.wait_for_selector(f"{SCOPE}[data-ready='1']", timeout=240_000)
    except BaseException:
        server.stop()
        raise
    return server, page


def in_lab(browser, scratch: Path, env: dict, n: int) -> dict:
    server, page = open_lab(browser, scratch, env)
    try:
        result = {"latencies": moves(page, n), "drags": drags(page, n), **where_decoded(page)}
        page.close()
        server.shut_down_kernels()
        return result
    finally:
        server.stop()


def in_voila(browser, scratch: Path, env: dict, n: int) -> dict:
    server, page = open_voila(browser, scratch, env)
    try:
        result = {"latencies": moves(page, n), "drags": drags(page, n), **where_decoded(page)}
        page.close()
        return result
    finally:
        server.stop()


def in_exported_page(browser, scratch: Path, n: int, checkpoint: str | None = None, drag: bool = True) -> dict:
    out = scratch / f"explorer-{checkpoint or 'default'}.html"
    chosen = ["--checkpoint", checkpoint] if checkpoint else []
    made = subprocess.run([sys.executable, "-m", "vaekit", "export-html", str(out), *chosen], capture_output=True,
                          text=True)
    if made.returncode != 0:
        raise RuntimeError(f"export-html failed:\n{made.stderr[-2000:]}")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []

    def only_the_file(route):
        requests.append(route.request.url)
        route.continue_() if route.request.url == out.as_uri() else route.abort()

    context.route("**/*", only_the_file)
    page = context.new_page()
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-vaekit-ready='1']", timeout=60_000)
    ready_ms = page.evaluate("() => performance.now()")  # navigation start -> first digit painted
    result = moves(page, n)
    dragged = drags(page, n) if drag else None
    where = where_decoded(page)
    context.close()
    return {"latencies": result, "drags": dragged, **where, "bytes": out.stat().st_size,
            "first_interactive_ms": ready_ms, "requests": requests}


def decoding_in_node(scratch: Path, codes: int = 200) -> dict:
    """decoder.js in Node: ms per code and max |pixel - PyTorch's| for each architecture (weights as sent)."""
    made = {
        "seed (shipped)": vaekit.load(vaekit.pretrained_path("seed")),
        "conv (shipped)": vaekit.load(vaekit.pretrained_path("conv")),
        "conv": models.build("conv", seed=3),
        "conditional conv": models.build("conv", seed=5, num_classes=10),
    }
    report = {}
    for name, model in made.items():
        model.eval()
        spec, weights = decoder_spec(model)
        error16 = float16_error(model, weights)
        spec["dtype"] = "float16" if error16 <= FLOAT16_TOLERANCE else "float32"
        folder = scratch / re.sub(r"\W+", "_", name)
        folder.mkdir()
        z = torch.randn(codes, model.config.latent_size, generator=torch.Generator().manual_seed(0))
        labels = torch.arange(codes) % 10 if model.config.num_classes else None
        (folder / "spec.json").write_text(json.dumps(spec))
        (folder / "weights.bin").write_bytes(weights.astype(spec["dtype"]).tobytes())
        (folder / "codes.bin").write_bytes(z.numpy().astype(np.float32).tobytes())
        (folder / "labels.json").write_text(json.dumps(labels.tolist() if labels is not None else [None] * codes))
        printed = subprocess.run(["node", str(ROOT / "tests" / "js" / "decode.mjs"), str(folder)], check=True,
                                 capture_output=True, text=True).stdout
        pixels = np.frombuffer((folder / "pixels.bin").read_bytes(), np.float32).reshape(codes, -1)
        report[name] = {
            "dtype_sent": spec["dtype"],
            "weights_bytes": len(weights.astype(spec["dtype"]).tobytes()),
            "float16_max_pixel_change": error16,
            "max_abs_pixel_diff_vs_pytorch": float(np.abs(pixels - decode_images(model, z, labels).numpy()).max()),
            "node_ms_per_code": json.loads(printed)["ms_per_code"],
        }
    return report


def markdown(results: dict) -> str:
    lines = ["# Browser-side sliders: input event -> canvas painted", "", *machine_lines(results["machine"]),
             f"- Browser: {results['versions']}", "",
             f"{results['moves']} key presses (or pointer moves) on the most active slider in each; target "
             f"{TARGET_MS:g} ms "
             "(one frame at 60 Hz). Decodes in: where the sliders chose to decode, from the page's median decode "
             "time when they opened (ms a code, against their budget of 12 ms).", "",
             "| where | median ms | p95 ms | min | max | decodes in |", "| --- | --- | --- | --- | --- | --- |"]
    for where, row in results["latency_ms"].items():
        at_open = row["browser_ms_at_open"]
        decodes = f"{row['decoding']} ({at_open:.1f} ms a code at open)" if at_open is not None else row["decoding"]
        lines.append(f"| {where} | {row['median']:.1f} | {row['p95']:.1f} | {row['min']:.1f} | {row['max']:.1f} "
                     f"| {decodes} |")
    page = results["exported_page"]
    lines += ["", f"Exported page: {page['bytes'] / 1e6:.2f} MB, first interactive digit after "
              f"{page['first_interactive_ms']:.0f} ms from navigation (file://, network blocked; requests made: "
              f"{page['requests']}).", "", "decoder.js in Node (weights as sent):", "",
              "| model | dtype sent | weights | ms / code | max pixel diff vs PyTorch | float16 max change |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, row in results["decoding"].items():
        lines.append(f"| {name} | {row['dtype_sent']} | {row['weights_bytes'] / 1e6:.2f} MB "
                     f"| {row['node_ms_per_code']:.2f} "
                     f"| {row['max_abs_pixel_diff_vs_pytorch']:.2e} | {row['float16_max_pixel_change']:.2e} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--out", default="browser_latency", help="results name in benchmarks/results/")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    machine = machine_info()
    env = {"VAEKIT_QUICK": "1", "VAEKIT_DATA": str(data_root().resolve())}
    results: dict = {"machine": machine, "moves": args.moves, "latency_ms": {}}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        scratch = Path(scratch)
        env["VAEKIT_FIGURES"] = str(scratch / "figures")
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        import anywidget
        import jupyterlab
        import voila

        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        results["versions"] = (f"Chromium {browser.version}, JupyterLab {jupyterlab.__version__}, Voilà "
                               f"{voila.__version__}, anywidget {anywidget.__version__}, Node {node}")
        page = in_exported_page(browser, scratch, args.moves)
        rows = {"exported HTML (file://)": page,
                "exported HTML, conv model (file://, --checkpoint conv)":
                    in_exported_page(browser, scratch, args.moves, checkpoint="conv", drag=False),
                "Voilà (vaekit explore)": in_voila(browser, scratch, env, args.moves),
                "JupyterLab (notebook 03)": in_lab(browser, scratch, env, args.moves)}
        browser.close()
        results["exported_page"] = {k: v for k, v in page.items() if k not in ("latencies", "drags", "decoding",
                                                                                "browser_ms_at_open")}
        results["decoding"] = decoding_in_node(scratch)
    for where, row in rows.items():
        for name, values in ((where, row["latencies"]), (f"{where}, pointer drag", row["drags"])):
            if values:
                results["latency_ms"][name] = {**spread(values), "p95": float(np.percentile(values, 95)),
                                               "decoding": row["decoding"],
                                               "browser_ms_at_open": row["browser_ms_at_open"],
                                               "samples": [round(v, 2) for v in values]}
    json_path, md_path = write_results(args.out, results, markdown)
    print(markdown(results))
    print(f"results: {json_path}, {md_path}")


if __name__ == "__main__":
    main()
