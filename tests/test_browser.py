"""The notebooks and the explorer app as a person uses them: a real JupyterLab (and Voilà) on
127.0.0.1, a real headless Chromium, real clicks, keys and drags; the kernel runs the real model.

Screenshots go to test-artifacts/browser/<test>/; the key-press-to-image latency to
test-artifacts/browser/latency.json. Needs Chromium (see tests/browser.py); under CI=true a missing
browser is a failure, elsewhere a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics

import pytest

from browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    INSTALL_HINT,
    ROOT,
    artifact_dir,
    cell_errors,
    clear_and_run_all,
    find_chromium,
    open_notebook,
    start_explorer,
    start_lab,
    wait_until_all_cells_ran,
)
from vaekit.data import data_root

pytestmark = pytest.mark.browser

NOTEBOOKS = ROOT / "notebooks"
# Generous: a busy 2-core machine, a kernel that decodes and encodes a PNG per change.
LATENCY_BOUND_MS = 5_000
KEY_PRESSES = 10  # latency samples per slider test, one press at a time
WIDGET_TIMEOUT_MS = 240_000


def _missing(what: str):
    message = f"{what}; {INSTALL_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the browser tests must run, but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    executable = find_chromium()
    if executable is None:
        _missing("no Chromium found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


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


def src(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => e.src")


def wait_src_change(page, selector: str, old: str, timeout_ms: int = 30_000) -> str:
    page.wait_for_function("([s, old]) => document.querySelector(s).src !== old", arg=[selector, old],
                           timeout=timeout_ms)
    return src(page, selector)


def slider_values(page, scope: str) -> list[float]:
    """The sliders' values as their readouts show them (aria-valuenow is rounded to one decimal)."""
    return page.eval_on_selector_all(f"{scope} .vaekit-latent-slider .widget-readout", f"es => es.map({READOUT_JS})")


# d3-format writes a minus sign (U+2212), not a hyphen
READOUT_JS = "e => Number(e.textContent.replace('\\u2212', '-'))"


def kernel_code(page, scope: str) -> list[float]:
    """The code the kernel last wrote into the `vaekit-code` label."""
    return [float(v) for v in re.findall(r"-?\d+\.\d+", page.inner_text(f"{scope} .vaekit-code"))]


def slider_dimension(page, scope: str, position: int) -> int:
    """Which code dimension the slider at `position` moves: the number in its description (z7), since
    sliders are ordered most active first, not by dimension."""
    label = page.locator(f"{scope} .vaekit-latent-slider").nth(position).locator(".widget-label").inner_text()
    found = re.search(r"\d+", label)
    return int(found.group()) if found else position


def wait_kernel_agrees_with_sliders(page, scope: str, timeout_ms: int = 30_000) -> None:
    """Wait until the kernel's code label matches every slider's readout."""
    count = len(slider_values(page, scope))
    dimensions = [slider_dimension(page, scope, position) for position in range(count)]
    page.wait_for_function(
        """([scope, dims]) => {
            const numbers = (document.querySelector(scope + ' .vaekit-code').textContent.match(/-?\\d+\\.\\d+/g) || [])
                .map(Number);
            const readouts = [...document.querySelectorAll(scope + ' .vaekit-latent-slider .widget-readout')]
                .map(e => Number(e.textContent.replace('\\u2212', '-')));
            return readouts.every((v, i) => Math.abs(numbers[dims[i]] - v) < 0.006);
        }""",
        arg=[scope, dimensions], timeout=timeout_ms)


def wait_kernel_has(page, scope: str, dimension: int, value: float, timeout_ms: int = 30_000) -> None:
    """Wait until the kernel's label shows `value` in `dimension`: it got the final slider value,
    however ipywidgets merged the moves in between."""
    page.wait_for_function(
        """([sel, d, v]) => {
            const numbers = (document.querySelector(sel).textContent.match(/-?\\d+\\.\\d+/g) || []).map(Number);
            return numbers.length > d && Math.abs(numbers[d] - v) < 0.006;
        }""",
        arg=[f"{scope} .vaekit-code", dimension, value], timeout=timeout_ms)


LATENCY_PROBE_JS = """img => {
    window.vaekitLatency = {pressed: null, shown: null};
    document.addEventListener('keydown', () => { window.vaekitLatency = {pressed: performance.now(), shown: null}; },
                              true);
    img.addEventListener('load', () => {
        if (window.vaekitLatency.pressed !== null && window.vaekitLatency.shown === null)
            window.vaekitLatency.shown = performance.now();
    });
}"""


def move_slider_with_keys(page, scope: str, position: int, presses: int) -> list[float]:
    """Focus a latent slider's handle and press ArrowRight; returns each press's latency to the new image (ms)."""
    image = f"{scope} img.vaekit-decoded"
    page.eval_on_selector(image, LATENCY_PROBE_JS)
    handle = page.locator(f"{scope} .vaekit-latent-slider .noUi-handle").nth(position)
    handle.focus()
    dimension = slider_dimension(page, scope, position)
    latencies = []
    for _ in range(presses):
        before = src(page, image)
        page.keyboard.press("ArrowRight")
        wait_or_fail(page, "() => window.vaekitLatency.shown !== null",
                     "the decoded image did not change after a key press on a latent slider")
        latency = page.evaluate("() => window.vaekitLatency.shown - window.vaekitLatency.pressed")
        latencies.append(latency)
        assert src(page, image) != before, "the decoded image did not change after a key press on a latent slider"
        # one press at a time: wait for the kernel to catch up before the next
        wait_kernel_has(page, scope, dimension, slider_values(page, scope)[position])
    return latencies


def drag_slider(page, scope: str, position: int, pixels: float) -> None:
    handle = page.locator(f"{scope} .vaekit-latent-slider .noUi-handle").nth(position)
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
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


def check_latent_sliders(page, scope: str, shots) -> list[float]:
    """Keys, a drag, "random" and "from a real digit" on one latent-sliders widget; returns key latencies."""
    image = f"{scope} img.vaekit-decoded"
    page.wait_for_function("s => document.querySelector(s)?.src.startsWith('blob:')", arg=image, timeout=60_000)
    page.locator(scope).scroll_into_view_if_needed()
    page.locator(scope).screenshot(path=str(shots / "sliders_before.png"))
    assert len(slider_values(page, scope)) >= 2

    # the keyboard: three presses on the most active slider
    start = src(page, image)
    value_before = slider_values(page, scope)[0]
    latencies = move_slider_with_keys(page, scope, 0, presses=KEY_PRESSES)
    value_after = slider_values(page, scope)[0]
    assert value_after > value_before
    wait_kernel_has(page, scope, slider_dimension(page, scope, 0), value_after)
    assert src(page, image) != start

    # the mouse: drag the second slider to the right
    after_keys = src(page, image)
    second_before = slider_values(page, scope)[1]
    drag_slider(page, scope, 1, pixels=40)
    wait_or_fail(page, "([s, old]) => document.querySelector(s).src !== old",
                 "the decoded image did not change after dragging a latent slider", arg=[image, after_keys])
    page.wait_for_timeout(300)  # let the drag's last move land
    second_after = slider_values(page, scope)[1]
    assert second_after > second_before
    wait_kernel_has(page, scope, slider_dimension(page, scope, 1), second_after)
    page.locator(scope).screenshot(path=str(shots / "sliders_after_moves.png"))

    # "random": every slider moves, and the image with them
    values, before = slider_values(page, scope), src(page, image)
    page.click(f"{scope} button.vaekit-random")
    wait_src_change(page, image, before)
    page.wait_for_function("([s, old]) => JSON.stringify([...document.querySelectorAll(s)].map("
                           f"{READOUT_JS})) !== JSON.stringify(old)",
                           arg=[f"{scope} .vaekit-latent-slider .widget-readout", values], timeout=30_000)
    wait_kernel_agrees_with_sliders(page, scope)
    page.locator(scope).screenshot(path=str(shots / "sliders_after_random.png"))

    # "from a real digit": the original shows, the sliders jump to its code
    values, before = slider_values(page, scope), src(page, image)
    original_before = src(page, f"{scope} img.vaekit-original") if page.query_selector(
        f"{scope} img.vaekit-original") else None
    index = page.locator(f"{scope} .vaekit-digit-index input")
    index.fill("3")
    index.press("Enter")
    page.click(f"{scope} button.vaekit-from-digit")
    wait_src_change(page, image, before)
    page.wait_for_function("([s, old]) => { const img = document.querySelector(s);"
                           " return img && img.src.startsWith('blob:') && img.src !== old; }",
                           arg=[f"{scope} img.vaekit-original", original_before], timeout=30_000)
    wait_kernel_agrees_with_sliders(page, scope)
    assert slider_values(page, scope) != values
    page.locator(scope).screenshot(path=str(shots / "sliders_after_from_digit.png"))
    return latencies


def record_latencies(name: str, latencies: list[float]) -> None:
    """Append to test-artifacts/browser/latency.json: the numbers for the closing note, not a pass mark."""
    path = ARTIFACTS / "latency.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[name] = {"key_press_to_new_image_ms": [round(v, 1) for v in latencies],
                      "median_ms": round(statistics.median(latencies), 1)}
    path.write_text(json.dumps(recorded, indent=1))


# -- the tests ------------------------------------------------------------------------------


def test_lab_and_explorer_refuse_requests_without_the_token(lab, explorer):
    assert lab.refuses("/api/contents") and lab.refuses("/lab") and lab.refuses("/api/contents?token=wrong")
    assert lab.status_of("/api/contents") == 200
    # Voilà: no page (whose GET would start a kernel) without the token, nor with a wrong one
    assert explorer.refuses("/") and explorer.refuses("/?token=wrong")


def test_latent_sliders_notebook(lab_page, lab, request):
    page, shots, scope = lab_page, artifact_dir(request.node.name), ".vaekit-latent-sliders"
    run_notebook(page, lab, "03_latent_sliders.ipynb", f"{scope} img.vaekit-decoded")
    page.screenshot(path=str(shots / "notebook_before.png"))
    latencies = check_latent_sliders(page, scope, shots)
    record_latencies("03_latent_sliders", latencies)
    assert statistics.median(latencies) < LATENCY_BOUND_MS

    # failure is visible. A mistake the user can fix (a test image that does not exist) is explained on
    # the widget's message line ...
    index = page.locator(f"{scope} .vaekit-digit-index input")
    index.fill("99999")
    index.press("Enter")
    page.click(f"{scope} button.vaekit-from-digit")
    page.wait_for_function("s => /99999/.test(document.querySelector(s).textContent)", arg=f"{scope} .vaekit-message",
                           timeout=30_000)
    # ... and an unexpected exception inside a callback shows its traceback in the widget's error area.
    # Provoke one as a user might: a new cell turns the model to float64, then a slider moves.
    run_new_cell(page, "model.double();")
    before = src(page, f"{scope} img.vaekit-decoded")
    move_slider_by_keys_without_waiting(page, scope, 2)
    errors = f"{scope} .vaekit-errors"
    page.wait_for_function("s => /Traceback|Error/.test(document.querySelector(s).textContent)", arg=errors,
                           timeout=30_000)
    assert src(page, f"{scope} img.vaekit-decoded") == before  # no new image: the failure is not silent either
    page.locator(errors).scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "notebook_after.png"))
    assert "dtype" in page.inner_text(errors)
    assert page.uncaught_errors == []


def run_new_cell(page, code: str) -> None:
    """Add a cell at the end of the notebook, type `code` and run it (Shift+Enter), as a person would."""
    page.locator(".jp-Notebook .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below, in command mode
    page.keyboard.press("Enter")
    page.keyboard.type(code)
    page.keyboard.press("Control+Enter")  # run it and stay (Shift+Enter would add yet another cell)
    wait_until_all_cells_ran(page, timeout_s=60)


def move_slider_by_keys_without_waiting(page, scope: str, position: int) -> None:
    handle = page.locator(f"{scope} .vaekit-latent-slider .noUi-handle").nth(position)
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowRight")


FRAME_RECORDER_JS = """([image, handle]) => {
    window.vaekitFrames = [];
    new MutationObserver(() => window.vaekitFrames.push(
        {index: Number(document.querySelector(handle).getAttribute('aria-valuenow')),
         src: document.querySelector(image).src}
    )).observe(document.querySelector(image), {attributes: true, attributeFilter: ['src']});
}"""


def test_interpolation_notebook_plays(lab_page, lab, request):
    page, shots, scope = lab_page, artifact_dir(request.node.name), ".vaekit-interpolator"
    frame, handle = f"{scope} img.vaekit-frame", f"{scope} .vaekit-frame-slider .noUi-handle"
    run_notebook(page, lab, "04_interpolation.ipynb", frame)
    page.locator(scope).scroll_into_view_if_needed()
    # The notebook leaves the walk at its last frame: ■ first (back to the start), then ▶.
    page.click(f"{scope} .vaekit-play button:has(i.fa-stop)")
    page.wait_for_function("s => Number(document.querySelector(s).getAttribute('aria-valuenow')) === 0", arg=handle,
                           timeout=30_000)
    page.wait_for_timeout(500)  # the kernel swaps in frame 0
    page.locator(scope).screenshot(path=str(shots / "interpolator_before.png"))
    page.evaluate(FRAME_RECORDER_JS, [frame, handle])
    page.click(f"{scope} .vaekit-play button:has(i.fa-play)")
    wait_or_fail(page, "() => new Set(window.vaekitFrames.map(f => f.src)).size >= 3",
                 "after ▶ the shown frame did not advance through the walk")
    page.locator(scope).screenshot(path=str(shots / "interpolator_playing.png"))
    shown = page.evaluate("() => window.vaekitFrames")
    assert max(f["index"] for f in shown) >= 2, f"the frame slider did not advance: {shown}"
    assert page.uncaught_errors == []


LIVE_LOSS_RECORDER_JS = """() => {
    window.vaekitLiveLoss = [];
    new MutationObserver(records => {
        for (const r of records) {
            const img = r.target;
            if (r.type !== 'attributes' || !img.matches || !img.matches('img.vaekit-live-loss')) continue;
            const prompt = img.closest('.jp-CodeCell')?.querySelector('.jp-InputArea-prompt');
            window.vaekitLiveLoss.push({src: img.src, running: !!prompt && prompt.textContent.includes('*')});
        }
    }).observe(document.body, {attributes: true, attributeFilter: ['src'], subtree: true});
}"""


def test_training_notebook_shows_the_loss_while_it_trains(lab_page, lab, request):
    page, shots = lab_page, artifact_dir(request.node.name)
    live = "img.vaekit-live-loss"
    running = (f"() => document.querySelector('{live}')?.closest('.jp-CodeCell')"
               ".querySelector('.jp-InputArea-prompt').textContent.includes('*')")
    open_notebook(page, lab, "01_train.ipynb")
    page.evaluate(LIVE_LOSS_RECORDER_JS)
    clear_and_run_all(page)
    page.wait_for_function("s => document.querySelector(s)?.src.startsWith('blob:')", arg=live,
                           timeout=WIDGET_TIMEOUT_MS, polling=100)
    page.locator(live).scroll_into_view_if_needed()
    # what a person watching would have seen, for the artifacts
    seen = []
    while page.evaluate(running) and len(seen) < 8:
        if page.eval_on_selector(live, "img => img.complete && img.naturalWidth > 0"):  # not mid-load
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
    states_while_running = {update["src"] for update in page.evaluate("() => window.vaekitLiveLoss")
                            if update["running"]}
    (shots / "live_loss_states.json").write_text(json.dumps({"states_while_cell_ran": len(states_while_running)}))
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
    image = f"{scope} img.vaekit-decoded"
    page.wait_for_function("s => document.querySelector(s)?.src.startsWith('blob:')", arg=image,
                           timeout=WIDGET_TIMEOUT_MS)
    assert page.query_selector(".jp-CodeCell .jp-InputArea") is None or not page.is_visible(
        ".jp-InputArea-editor"), "the explorer shows code"
    page.screenshot(path=str(shots / "explorer_before.png"), full_page=True)
    latencies = move_slider_with_keys(page, scope, 0, presses=KEY_PRESSES)
    record_latencies("explorer", latencies)
    assert statistics.median(latencies) < LATENCY_BOUND_MS
    before = src(page, image)
    drag_slider(page, scope, 1, pixels=-40)
    wait_src_change(page, image, before)
    wait_kernel_agrees_with_sliders(page, scope)
    page.screenshot(path=str(shots / "explorer_after.png"), full_page=True)
    assert page.uncaught_errors == []
