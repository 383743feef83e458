"""Where the sliders decode, in a real JupyterLab and headless Chromium: a browser slower than the
widget's ``browser_budget_ms`` hands decoding to the kernel; one within it keeps decoding itself; a page
with no kernel (export-html) decodes itself whatever its budget.

The budget is forced (0.001 ms: no browser meets it; 10^6 ms: every browser does), so the outcome does
not depend on this machine's speed. The shipped convolutional model, the slowest to decode in the
browser. Screenshots go to test-artifacts/browser/<test>/. Needs Chromium (see tests/browser.py).
"""

from __future__ import annotations

import re

import nbformat
import pytest
import torch
from browser import CANVAS_HASH_JS, artifact_dir, canvas_hash, open_notebook, start_lab

import vaekit
from vaekit.data import data_root
from vaekit.export import page_html

pytestmark = pytest.mark.browser

CELL = """\
import ipywidgets
import torch
import vaekit
from vaekit.widgets import LatentSliders, ModelData

model = vaekit.load(vaekit.pretrained_path("conv"))
data = ModelData(model, torch.rand(40, 784, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 10)
slow, fast = LatentSliders(data, browser_budget_ms=0.001), LatentSliders(data, browser_budget_ms=1e6)
slow.add_class("slow-browser")
fast.add_class("fast-browser")
ipywidgets.VBox([slow, fast])
"""
NOTICE = re.compile(r"^decoding in the kernel: \d+\.\d ms a code in this browser$")
PRESSES = 5


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("decoding-lab")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "decoding.ipynb")
    server = start_lab(root, tmp_path_factory.mktemp("decoding-server"), VAEKIT_DATA=str(data_root().resolve()))
    yield server
    server.stop()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.screenshot(path=str(artifact_dir(request.node.name) / "final.png"), full_page=True)
    context.close()
    assert errors == []


def _data(page, scope: str, name: str) -> str | None:
    return page.eval_on_selector(scope, f"el => el.dataset.{name} ?? null")


def _press(page, scope: str, presses: int = PRESSES) -> None:
    page.locator(f"{scope} .vaekit-latent-slider input").first.focus()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")


def test_a_browser_over_budget_hands_decoding_to_the_kernel(page, lab):
    shots = artifact_dir("test_a_browser_over_budget_hands_decoding_to_the_kernel")
    open_notebook(page, lab, "decoding.ipynb")
    page.click(".jp-CodeCell .jp-InputArea-editor")
    page.keyboard.press("Shift+Enter")
    slow, fast = ".slow-browser", ".fast-browser"
    for scope in (slow, fast):
        page.wait_for_selector(f"{scope}[data-ready='1']", timeout=240_000)

    # Over budget: the page says so, and the kernel paints the digit, once when it takes over...
    page.wait_for_function("s => Number(document.querySelector(s).dataset.kernelDecodes) >= 1", arg=slow,
                           timeout=60_000)
    assert _data(page, slow, "decoding") == "kernel"
    assert NOTICE.match(page.inner_text(f"{slow} .vaekit-decoding-notice").strip())
    page.locator(slow).screenshot(path=str(shots / "kernel_decodes.png"))
    # ... then after the moves (ipywidgets may send the kernel only the last of quick changes): the count
    # moves, and the digit changes, though the page itself no longer decodes
    decoded = f"{slow} canvas.vaekit-decoded"
    count, before = int(_data(page, slow, "kernelDecodes")), canvas_hash(page, decoded)
    _press(page, slow)
    page.wait_for_function("([s, n]) => Number(document.querySelector(s).dataset.kernelDecodes) > n",
                           arg=[slow, count], timeout=60_000)
    page.wait_for_function(f"s => ({CANVAS_HASH_JS})(document.querySelector(s)) !== {before}", arg=decoded,
                           timeout=30_000)

    # Within budget: the browser decodes, the kernel hears the code but decodes nothing.
    decoded = f"{fast} canvas.vaekit-decoded"
    assert _data(page, fast, "decoding") == "browser" and float(_data(page, fast, "browserMs")) > 0
    assert page.inner_text(f"{fast} .vaekit-decoding-notice").strip() == ""
    before = canvas_hash(page, decoded)
    _press(page, fast)
    assert canvas_hash(page, decoded) != before, "the browser's decoding did not reach the canvas"
    code = page.inner_text(f"{fast} .vaekit-code").strip()
    page.wait_for_function("([s, code]) => document.querySelector(s).dataset.kernelCode === code", arg=[fast, code],
                           timeout=30_000)  # the kernel has heard the last move
    assert _data(page, fast, "kernelDecodes") == "0"
    lab.shut_down_kernels()


def test_a_page_without_a_kernel_decodes_itself_whatever_its_budget(page, tmp_path):
    model = vaekit.load(vaekit.pretrained_path("conv"))
    text = page_html(model, torch.rand(40, 784, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 10)
    assert text.count('"browser_budget_ms": 12.0') == 1
    out = tmp_path / "explorer.html"
    out.write_text(text.replace('"browser_budget_ms": 12.0', '"browser_budget_ms": 0.001'))
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-vaekit-ready='1']", timeout=60_000)
    scope = ".vaekit-latent-sliders"
    assert _data(page, scope, "decoding") == "browser"
    assert re.match(r"^decoding in this page: \d+\.\d ms a code \(no kernel to hand it to\)$",
                    page.inner_text(f"{scope} .vaekit-decoding-notice").strip())
    before = canvas_hash(page, f"{scope} canvas.vaekit-decoded")
    _press(page, scope)
    assert canvas_hash(page, f"{scope} canvas.vaekit-decoded") != before
