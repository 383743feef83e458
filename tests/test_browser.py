"""The notebooks and the explorer app as a person uses them: a real JupyterLab (and Voilà) on
127.0.0.1, a real headless Chromium, real clicks, keys and drags; the kernel runs the real model.

Screenshots go to test-artifacts/browser/<test>/; each key press's latency to the
painted canvas to test-artifacts/browser/latency.json. Needs Chromium (see tests/browser.py); under CI=true a missing
browser is a failure, elsewhere a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import pytest
from browser import (
    ARTIFACTS,
    ROOT,
    artifact_dir,
    canvas_hash,
    cell_errors,
    clear_and_run_all,
    open_notebook,
    slider_keys,
    start_explorer,
    start_lab,
    wait_until_all_cells_ran,
)
from PIL import Image

from vaekit.data import data_root

pytestmark = pytest.mark.browser

NOTEBOOKS = ROOT / "notebooks"
# Generous: a busy 2-core machine. The numbers to compare come from benchmarks/bench_browser_latency.py.
LATENCY_BOUND_MS = 1_000
KEY_PRESSES = 10  # latency samples per slider test, one press at a time
# While a hand moves a slider, the page tells the kernel at most one code in this many ms, and the last.
KERNEL_EVERY_MS = int(re.search(r"const KERNEL_EVERY_MS = (\d+);", (ROOT / "vaekit/widgets/sliders.js").read_text())[1])
WIDGET_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def server_env(tmp_path_factory):
    """What the kernels see: quick mode, an absolute data folder, figures written out of the repo."""
    return {
        "VAEKIT_QUICK": "1",
        "VAEKIT_DATA": str(data_root().resolve()),
        "VAEKIT_FIGURES": str(tmp_path_factory.mktemp("figures")),
    }


@pytest.fixture(scope="module")
def lab(tmp_path_factory, server_env):
    # A copy of the notebooks: whatever they write next to themselves (runs, checkpoints) stays in tmp.
    root = tmp_path_factory.mktemp("lab") / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    server = start_lab(root, tmp_path_factory.mktemp("lab-server"), **server_env)
    server.notebook_root = root  # the kernels' folder: what a GIF button writes lands here
    yield server
    leftover = server.stop()
    assert leftover == [], f"kernels outlived the server: {leftover}"


@pytest.fixture
def page(browser, request):
    """A fresh browser page that can reach 127.0.0.1 only; its last state is saved as final.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # Offline machine: fail other hosts at once rather than wait on DNS (Voilà asks a CDN for fonts).
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = context.new_page()
    page.uncaught_errors = []
    page.on("pageerror", lambda error: page.uncaught_errors.append(str(error)))
    yield page
    page.screenshot(path=str(artifact_dir(request.node.name) / "final.png"), full_page=True)
    context.close()


@pytest.fixture
def lab_page(page, lab):
    yield page
    lab.shut_down_kernels()


# -- what a person sees ---------------------------------------------------------------------


def wait_or_fail(page, expression: str, message: str, arg=None, timeout_ms: int = 30_000) -> None:
    """wait_for_function, failing with a sentence that says what the user would have missed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(expression, arg=arg, timeout=timeout_ms)
    except PlaywrightTimeout:
        pytest.fail(f"{message} (waited {timeout_ms / 1000:.0f} s)")


def slider_values(page, scope: str) -> dict[int, float]:
    """{code dimension: value} as the range inputs hold them."""
    return page.eval_on_selector_all(
        f"{scope} .vaekit-latent-slider",
        "rows => Object.fromEntries(rows.map(r => [r.dataset.dimension, Number(r.querySelector('input').value)]))")


def wait_kernel_agrees(page, scope: str, timeout_ms: int = 30_000) -> None:
    """Wait until the code the kernel sent back (data-kernel-code) is the code the page decodes (the code
    line; a range input's own value snaps to its 0.05 step, the code does not)."""
    wait_or_fail(page, """scope => {
        const root = document.querySelector(scope);
        const numbers = text => (text || '').match(/-?\\d+\\.\\d+/g) || [];
        const kernel = numbers(root.dataset.kernelCode), page = numbers(root.querySelector('.vaekit-code').textContent);
        return kernel.length === page.length && kernel.every((v, i) => Math.abs(Number(v) - Number(page[i])) < 0.011);
    }""", "the kernel's code never caught up with the page's", arg=scope, timeout_ms=timeout_ms)


def drag_slider(page, scope: str, position: int, pixels: float) -> None:
    track = page.locator(f"{scope} .vaekit-latent-slider input").nth(position)
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the thumb sits mid-track at 0
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + pixels, y, steps=10)
    page.mouse.up()


def run_notebook(page, lab, name: str, ready_selector: str) -> None:
    open_notebook(page, lab, name)
    clear_and_run_all(page)
    page.wait_for_selector(ready_selector, timeout=WIDGET_TIMEOUT_MS)
    wait_until_all_cells_ran(page)
    assert cell_errors(page) == [], f"{name}: a cell raised"


def check_latent_sliders(page, scope: str, shots, kernel: bool = True) -> list[float]:
    """Keys, a drag, "random" and "start from image" on one latent-sliders widget: the canvas changes at
    each, and (with a kernel) the kernel's code agrees. Returns the key presses' latencies."""
    decoded = f"{scope} canvas.vaekit-decoded"
    page.wait_for_selector(f"{scope}[data-ready='1'] {'canvas.vaekit-decoded'}", timeout=WIDGET_TIMEOUT_MS)
    page.locator(scope).scroll_into_view_if_needed()
    page.locator(scope).screenshot(path=str(shots / "sliders_before.png"))

    # the keyboard: presses on the most active slider, each repainting the digit
    first = page.locator(f"{scope} .vaekit-latent-slider").first.get_attribute("data-dimension")
    before, value = canvas_hash(page, decoded), slider_values(page, scope)[first]
    latencies = slider_keys(page, scope, 0, "ArrowRight", KEY_PRESSES)
    assert slider_values(page, scope)[first] == pytest.approx(value + 0.05 * KEY_PRESSES, abs=1e-6)
    assert canvas_hash(page, decoded) != before, "the decoded digit did not change after key presses"
    if kernel:
        wait_kernel_agrees(page, scope)

    # the mouse: drag the second slider to the right
    before, values = canvas_hash(page, decoded), slider_values(page, scope)
    drag_slider(page, scope, 1, pixels=40)
    second = page.locator(f"{scope} .vaekit-latent-slider").nth(1).get_attribute("data-dimension")
    assert slider_values(page, scope)[second] > values[second]
    assert canvas_hash(page, decoded) != before, "the decoded digit did not change while dragging a slider"
    if kernel:
        wait_kernel_agrees(page, scope)
    page.locator(scope).screenshot(path=str(shots / "sliders_after_moves.png"))

    # "random": every slider moves, and the digit with them
    before, values = canvas_hash(page, decoded), slider_values(page, scope)
    page.click(f"{scope} button.vaekit-random")
    assert slider_values(page, scope) != values and canvas_hash(page, decoded) != before
    if kernel:
        wait_kernel_agrees(page, scope)

    # "start from image": the original shows, the sliders jump to its code, each with its q(z|x) band
    before, original = canvas_hash(page, decoded), canvas_hash(page, f"{scope} canvas.vaekit-original")
    index = page.locator(f"{scope} .vaekit-digit-index input")
    index.fill("3")
    page.click(f"{scope} button.vaekit-from-digit")
    assert canvas_hash(page, decoded) != before
    assert canvas_hash(page, f"{scope} canvas.vaekit-original") != original
    assert "test image 3" in page.inner_text(f"{scope} .vaekit-caption >> nth=1")
    bands = page.eval_on_selector_all(f"{scope} .vaekit-band", "bs => bs.map(b => b.style.display)")
    assert bands == ["block"] * len(bands), "each slider shows q(z|x)'s band after starting from an image"
    if kernel:
        wait_kernel_agrees(page, scope)
    page.locator(scope).screenshot(path=str(shots / "sliders_after_from_image.png"))

    # samples from q(z|x) of that image, decoded in the page, and how much they vary
    page.click(f"{scope} button.vaekit-posterior-samples")
    assert "vary by" in page.inner_text(f"{scope} .vaekit-posterior-spread")

    # a mistake the user can fix is explained on the message line
    index.fill("99999")
    page.click(f"{scope} button.vaekit-from-digit")
    assert "99999" in page.inner_text(f"{scope} .vaekit-message")
    return latencies


def check_interpolator_plays(page, scope: str, shots) -> str:
    """Stop, Play, then the other method; returns the method chosen."""
    strip = f"{scope} canvas.vaekit-strip"
    page.wait_for_selector(f"{scope}[data-ready='1'] canvas.vaekit-frame", timeout=WIDGET_TIMEOUT_MS)
    page.locator(scope).scroll_into_view_if_needed()
    page.click(f"{scope} .vaekit-stop-button")  # back to the first frame
    page.locator(scope).screenshot(path=str(shots / "interpolator_before.png"))
    page.evaluate("""s => {
        window.vaekitFrames = [];
        const canvas = document.querySelector(s + ' canvas.vaekit-frame');
        const input = document.querySelector(s + ' .vaekit-frame-slider input');
        const look = () => { window.vaekitFrames.push([Number(input.value), canvas.toDataURL()]);
                             if (window.vaekitFrames.length < 200) requestAnimationFrame(look); };
        look();
    }""", scope)
    page.click(f"{scope} .vaekit-play-button")
    wait_or_fail(page, "() => new Set(window.vaekitFrames.map(f => f[1])).size >= 3",
                 "after ▶ the shown frame did not advance through the walk")
    page.locator(scope).screenshot(path=str(shots / "interpolator_playing.png"))
    assert max(f[0] for f in page.evaluate("() => window.vaekitFrames")) >= 2
    # the other method redraws the strip
    before = canvas_hash(page, strip)
    other = "linear" if page.get_attribute(f"{scope} .vaekit-method button.vaekit-on", "data-method") == "spherical" \
        else "spherical"
    page.click(f"{scope} .vaekit-method button[data-method='{other}']")
    assert canvas_hash(page, strip) != before
    return other


def check_interpolator_classes(page, scope: str, shots, new_end: int, kernel: bool = True) -> str:
    """The classifier's bars under the strip: drawn, read aloud for the current frame, and (with a kernel)
    read again for a new end; without one, hidden with a sentence that says why, and back for the first path.
    Returns the bars' top classes, as data-top holds them."""
    bars, caption = f"{scope} canvas.vaekit-class-bars", f"{scope} .vaekit-class-caption"
    wait_or_fail(page, "s => document.querySelector(s)?.dataset.top", "the classifier's bars were never drawn",
                 arg=bars, timeout_ms=60_000)
    page.click(f"{scope} .vaekit-stop-button")
    assert page.inner_text(f"{scope} .vaekit-frame-reading").startswith("frame 0: the classifier reads ")
    tops, drawn, said = page.get_attribute(bars, "data-top"), canvas_hash(page, bars), page.inner_text(caption)
    assert len(tops.split()) == int(page.get_attribute(f"{scope} .vaekit-frame-slider input", "max")) + 1
    assert " reads " in said and tops.split()[0] in said
    old_end = page.input_value(f"{scope} .vaekit-end-index input")
    assert old_end != str(new_end), "choose an end the path does not have already"
    end = page.locator(f"{scope} .vaekit-end-index input")
    end.fill(str(new_end))
    end.dispatch_event("change")
    if kernel:
        wait_or_fail(page, "([b, old]) => !['', old].includes(document.querySelector(b).dataset.top)",
                     "the bars were not read again for the new end", arg=[bars, tops])
        assert canvas_hash(page, bars) != drawn and page.inner_text(caption) != said
        page.locator(scope).screenshot(path=str(shots / "interpolator_classes_new_end.png"))
        return page.get_attribute(bars, "data-top")
    assert not page.is_visible(bars) and "no kernel" in page.inner_text(caption)
    end.fill(old_end)
    end.dispatch_event("change")
    assert page.is_visible(bars) and page.get_attribute(bars, "data-top") == tops
    return tops


def check_latent_map(page, shots, kernel: bool = True) -> None:
    """Hover a dot: its image shows. Click it: the sliders take its code (the digit and the marker move).
    Move a slider: the marker follows."""
    scope, canvas = ".vaekit-latent-map", ".vaekit-latent-map canvas.vaekit-map-canvas"
    page.wait_for_selector(f"{scope}[data-ready='1']", timeout=WIDGET_TIMEOUT_MS)
    page.locator(scope).scroll_into_view_if_needed()
    box = page.locator(canvas).bounding_box()
    hovered = None
    for fx, fy in [(0.5, 0.5), (0.45, 0.55), (0.55, 0.45), (0.4, 0.4), (0.6, 0.6), (0.5, 0.3), (0.3, 0.5)]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        hovered = page.get_attribute(canvas, "data-hovered")
        if hovered is not None:
            break
    assert hovered is not None, "no dot near the middle of the map"
    assert f"test image {hovered}" in page.inner_text(f"{scope} .vaekit-caption")
    sliders = ".vaekit-latent-sliders"
    decoded, marker = canvas_hash(page, f"{sliders} canvas.vaekit-decoded"), page.get_attribute(canvas, "data-marker")
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    assert canvas_hash(page, f"{sliders} canvas.vaekit-decoded") != decoded, "clicking a dot must load its code"
    assert page.get_attribute(canvas, "data-marker") != marker, "the marker must move to the clicked code"
    assert f"test image {hovered}," in page.inner_text(f"{sliders} .vaekit-caption >> nth=1")
    if kernel:
        wait_kernel_agrees(page, sliders)
    marker = page.get_attribute(canvas, "data-marker")
    slider_keys(page, sliders, 0, "ArrowRight", 3)
    assert page.get_attribute(canvas, "data-marker") != marker, "the marker must follow the sliders"
    page.locator(scope).screenshot(path=str(shots / "latent_map.png"))


def record_latencies(name: str, latencies: list[float]) -> None:
    """Append to test-artifacts/browser/latency.json: the numbers for the closing note, not a pass mark."""
    path = ARTIFACTS / "latency.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[name] = {"key_press_to_painted_canvas_ms": [round(v, 1) for v in latencies],
                      "median_ms": round(statistics.median(latencies), 1)}
    path.write_text(json.dumps(recorded, indent=1))


def run_new_cell(page, code: str) -> str:
    """Add a cell at the end of the notebook, type `code`, run it as a person would; returns its output."""
    page.locator(".jp-Notebook .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below, in command mode
    page.keyboard.press("Enter")
    page.keyboard.type(code)
    page.keyboard.press("Control+Enter")  # run it and stay (Shift+Enter would add yet another cell)
    wait_until_all_cells_ran(page, timeout_s=60)
    return "".join(page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-OutputArea-output").all_inner_texts())


# -- the tests ------------------------------------------------------------------------------


def test_lab_and_explorer_refuse_requests_without_the_token(lab, explorer):
    assert lab.refuses("/api/contents") and lab.refuses("/lab") and lab.refuses("/api/contents?token=wrong")
    assert lab.status_of("/api/contents") == 200
    # Voilà: no page (whose GET would start a kernel) without the token, nor with a wrong one
    assert explorer.refuses("/") and explorer.refuses("/?token=wrong")


def test_latent_sliders_notebook(lab_page, lab, request):
    page, shots, scope = lab_page, artifact_dir(request.node.name), ".vaekit-latent-sliders"
    run_notebook(page, lab, "03_latent_sliders.ipynb", f"{scope}[data-ready='1']")
    page.screenshot(path=str(shots / "notebook_before.png"))
    latencies = check_latent_sliders(page, scope, shots)
    record_latencies("03_latent_sliders", latencies)
    assert statistics.median(latencies) < LATENCY_BOUND_MS
    check_latent_map(page, shots)
    # draw a digit: the kernel encodes it, the sliders take its code, its nearest test images show
    drawing = page.locator(f"{scope} canvas.vaekit-draw")
    drawing.scroll_into_view_if_needed()
    box = drawing.bounding_box()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.8 * box["height"], steps=15)  # a "1"
    page.mouse.up()
    before = canvas_hash(page, f"{scope} canvas.vaekit-decoded")
    page.click(f"{scope} button.vaekit-encode-drawing")
    wait_or_fail(page, "s => document.querySelectorAll(s + ' .vaekit-nearest canvas').length === 5",
                 "no nearest test images after encoding a drawing", arg=scope)
    assert canvas_hash(page, f"{scope} canvas.vaekit-decoded") != before
    wait_kernel_agrees(page, scope)
    page.locator(scope).screenshot(path=str(shots / "drawn_digit.png"))
    # the kernel's own variable holds the code the page shows
    shown = [float(v) for v in re.findall(r"-?\d+\.\d+", page.inner_text(f"{scope} .vaekit-code"))]
    printed = json.loads(run_new_cell(page, "import json; print(json.dumps(explorer.z))"))
    assert printed == pytest.approx(shown, abs=0.006)
    # quick moves: the kernel hears a code at most every KERNEL_EVERY_MS (each message costs Lab's page ~10 ms
    # of work), and always the last one, exactly
    run_new_cell(page, "heard = []; explorer.observe(lambda change: heard.append(change['new']), names='z')")
    first = page.locator(f"{scope} .vaekit-latent-slider").first.get_attribute("data-dimension")
    towards_zero = "ArrowLeft" if slider_values(page, scope)[first] > 0 else "ArrowRight"
    started = time.monotonic()
    slider_keys(page, scope, 0, towards_zero, 20)  # 1.0 in all: the slider stays in its +-3 range
    seconds = time.monotonic() - started
    wait_kernel_agrees(page, scope)
    heard = json.loads(run_new_cell(page, "print(json.dumps(heard))"))
    assert 1 <= len(heard) <= 2 + seconds * 1000 / KERNEL_EVERY_MS, f"{len(heard)} codes heard in {seconds:.2f} s"
    shown = [float(v) for v in re.findall(r"-?\d+\.\d+", page.inner_text(f"{scope} .vaekit-code"))]
    assert heard[-1] == pytest.approx(shown, abs=0.006)
    assert heard[-1][int(first)] == pytest.approx(slider_values(page, scope)[first], abs=1e-6)  # float32 of it
    # and Python moves the page: reset from the kernel zeroes the sliders and repaints the digit
    before = canvas_hash(page, f"{scope} canvas.vaekit-decoded")
    run_new_cell(page, "explorer.reset()")
    wait_or_fail(page, "s => [...document.querySelectorAll(s + ' .vaekit-latent-slider input')]"
                       ".every(i => Number(i.value) === 0)",
                 "explorer.reset() in the kernel did not move the sliders", arg=scope)
    assert canvas_hash(page, f"{scope} canvas.vaekit-decoded") != before
    # the GIF button: the kernel writes every active dimension swept around the code shown, next to the notebook
    gif, message = lab.notebook_root / "traversal.gif", f"{scope} .vaekit-message"
    assert not gif.exists()
    page.click(f"{scope} .vaekit-gif-button")
    wait_or_fail(page, "s => document.querySelector(s).textContent.startsWith('wrote ')",
                 "the sliders' GIF button got no answer on the message line", arg=message)
    assert page.inner_text(message) == f"wrote {gif.resolve()} ({2 * 30 - 2} frames)"  # 30 steps, there and back
    with Image.open(gif) as written:
        assert written.format == "GIF" and written.n_frames == 2 * 30 - 2
    page.locator(scope).screenshot(path=str(shots / "sliders_gif_written.png"))
    page.screenshot(path=str(shots / "notebook_after.png"))
    assert page.uncaught_errors == []


def test_interpolation_notebook_plays(lab_page, lab, request):
    page, shots, scope = lab_page, artifact_dir(request.node.name), ".vaekit-interpolator"
    run_notebook(page, lab, "04_interpolation.ipynb", f"{scope}[data-ready='1']")
    method = check_interpolator_plays(page, scope, shots)
    assert run_new_cell(page, "print(path.method)").strip() == method  # the kernel heard the click
    tops = check_interpolator_classes(page, scope, shots, new_end=7)  # a 9 (the notebook's checks end on a 4)
    # the page draws what the kernel read
    printed = run_new_cell(page, "print(' '.join(str(max(range(10), key=r.__getitem__)) for r in path.probabilities))")
    assert printed.strip() == tops
    # the GIF button: the kernel writes the path shown, there and back, next to the notebook, and says where
    gif, message = lab.notebook_root / "interpolation.gif", f"{scope} .vaekit-message"
    assert not gif.exists()
    page.click(f"{scope} .vaekit-gif-button")
    wait_or_fail(page, "s => document.querySelector(s).textContent.startsWith('wrote ')",
                 "the GIF button's click got no answer on the message line", arg=message)
    steps = int(page.get_attribute(f"{scope} .vaekit-frame-slider input", "max")) + 1
    assert page.inner_text(message) == f"wrote {gif.resolve()} ({2 * steps - 2} frames)"
    with Image.open(gif) as written:
        assert written.format == "GIF" and written.n_frames == 2 * steps - 2
    page.locator(scope).screenshot(path=str(shots / "interpolator_gif_written.png"))
    assert page.uncaught_errors == []


LIVE_LOSS_RECORDER_JS = """() => {
    window.vaekitLiveLoss = [];
    new MutationObserver(records => {
        for (const r of records) {
            const canvas = r.target;
            if (r.type !== 'attributes' || !canvas.matches?.('canvas.vaekit-live-loss-canvas')) continue;
            const prompt = canvas.closest('.jp-CodeCell')?.querySelector('.jp-InputArea-prompt');
            window.vaekitLiveLoss.push({points: canvas.dataset.points,
                                        running: !!prompt && prompt.textContent.includes('*')});
        }
    }).observe(document.body, {attributes: true, attributeFilter: ['data-points'], subtree: true});
}"""


def test_training_notebook_shows_the_loss_while_it_trains(lab_page, lab, request):
    page, shots = lab_page, artifact_dir(request.node.name)
    live = "canvas.vaekit-live-loss-canvas"
    running = (f"() => document.querySelector('{live}')?.closest('.jp-CodeCell')"
               ".querySelector('.jp-InputArea-prompt').textContent.includes('*')")
    open_notebook(page, lab, "01_train.ipynb")
    page.evaluate(LIVE_LOSS_RECORDER_JS)
    clear_and_run_all(page)
    page.wait_for_selector(live, timeout=WIDGET_TIMEOUT_MS)
    page.locator(live).scroll_into_view_if_needed()
    # what a person watching would have seen, for the artifacts
    seen = []
    while page.evaluate(running) and len(seen) < 8:
        shot = page.locator(live).screenshot()
        if not seen or shot != seen[-1]:
            seen.append(shot)
        page.wait_for_timeout(300)
    for number, shot in enumerate(seen):
        (shots / f"live_loss_while_training_{number}.png").write_bytes(shot)
    wait_until_all_cells_ran(page)
    page.locator(live).screenshot(path=str(shots / "live_loss_final.png"))
    # The first drawing (empty axes) and the last could come from a plot that is only drawn before and
    # after training; a third state while the cell runs means it was redrawn during training.
    states_while_running = {update["points"] for update in page.evaluate("() => window.vaekitLiveLoss")
                            if update["running"]}
    (shots / "live_loss_states.json").write_text(json.dumps({"states_while_cell_ran": sorted(states_while_running)}))
    assert len(states_while_running) >= 3, (
        f"the live loss plot showed {len(states_while_running)} states while the training cell ran; "
        "it must be redrawn during training")
    assert cell_errors(page) == []


@pytest.fixture(scope="module")
def explorer(tmp_path_factory, server_env):
    server = start_explorer(tmp_path_factory.mktemp("explorer"), **server_env)
    yield server
    leftover = server.stop()
    assert leftover == [], f"kernels outlived the explorer: {leftover}"


def test_explorer_app_moves_the_digit(page, explorer, request):
    shots, scope = artifact_dir(request.node.name), ".vaekit-latent-sliders"
    page.goto(explorer.url("/"), wait_until="domcontentloaded", timeout=WIDGET_TIMEOUT_MS)
    page.wait_for_selector(f"{scope}[data-ready='1']", timeout=WIDGET_TIMEOUT_MS)
    assert page.query_selector(".jp-CodeCell .jp-InputArea") is None or not page.is_visible(
        ".jp-InputArea-editor"), "the explorer shows code"
    page.screenshot(path=str(shots / "explorer_before.png"), full_page=True)
    latencies = check_latent_sliders(page, scope, shots)
    record_latencies("explorer", latencies)
    assert statistics.median(latencies) < LATENCY_BOUND_MS
    check_interpolator_plays(page, ".vaekit-interpolator", shots)
    page.screenshot(path=str(shots / "explorer_after.png"), full_page=True)
    assert page.uncaught_errors == []


@pytest.fixture(scope="module")
def exported_page(tmp_path_factory):
    """`python -m vaekit export-html` with the shipped model, as a user runs it."""
    out = tmp_path_factory.mktemp("export") / "explorer.html"
    subprocess.run([sys.executable, "-m", "vaekit", "export-html", str(out), "--images", "300"], check=True,
                   capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return out


def test_exported_page_works_from_disk_without_network(browser, exported_page, request):
    shots = artifact_dir(request.node.name)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests = []

    def only_the_file(route):
        requests.append(route.request.url)
        route.continue_() if route.request.url == exported_page.as_uri() else route.abort()

    context.route("**/*", only_the_file)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(exported_page.as_uri())
        page.wait_for_selector("body[data-vaekit-ready='1']", timeout=60_000)
        latencies = check_latent_sliders(page, ".vaekit-latent-sliders", shots, kernel=False)
        record_latencies("exported_html", latencies)
        # the page's first path first: it holds the classifier's reading of that one only
        check_interpolator_classes(page, ".vaekit-interpolator", shots, new_end=7, kernel=False)
        check_interpolator_plays(page, ".vaekit-interpolator", shots)
        check_latent_map(page, shots, kernel=False)
        assert not page.is_visible(".vaekit-latent-sliders canvas.vaekit-draw"), "no kernel here to encode a drawing"
        for explorer in (".vaekit-interpolator", ".vaekit-latent-sliders"):
            button = page.locator(f"{explorer} .vaekit-gif-button")
            assert button.count() == 1 and not button.is_visible(), "no kernel here to write a GIF"
        page.screenshot(path=str(shots / "final.png"), full_page=True)
    finally:
        context.close()
    assert requests == [exported_page.as_uri()], f"the page asked for more than itself: {requests}"
    assert errors == []
