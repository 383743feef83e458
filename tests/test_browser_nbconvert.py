"""A notebook saved from JupyterLab with its widget state, then turned into HTML by nbconvert, keeps its
explorers working: the page decodes in the browser from the weights that the saved state carries.

Real parts throughout: JupyterLab with "Save Widget State Automatically" on runs and saves a small
notebook showing the latent sliders; ``jupyter nbconvert --to html`` converts it; headless Chromium opens
the page from disk. The page loads require.js, the widget HTML manager and anywidget's frontend from
CDNs: here they are answered from local copies fetched with npm (tests/widget_cdn.py), and every other
request is refused. A page whose saved state lacks the weights says so, and what to do. Needs Chromium
(see tests/browser.py; skipped without it, failed under CI=true) and those packages (failed without them).
"""

from __future__ import annotations

import base64
import re
import subprocess
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest
import widget_cdn
from browser import (
    VENV_BIN,
    artifact_dir,
    canvas_hash,
    cell_errors,
    isolated_env,
    menu,
    open_notebook,
    start_lab,
    wait_until_all_cells_ran,
)
from nbconvert import HTMLExporter

import vaekit
from vaekit.data import data_root
from vaekit.widgets import ModelData

pytestmark = pytest.mark.browser

IMAGES = 200  # test images the notebook's explorer carries: a small saved state
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
SAVE_STATE = {"@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True}}
SCOPE, PATH, TIMELINE = ".vaekit-latent-sliders", ".vaekit-interpolator", ".vaekit-training-timeline"
BARS = f"{PATH} canvas.vaekit-class-bars"
CELL = f"""\
import vaekit
from IPython.display import display
from vaekit import widgets

model = vaekit.load(vaekit.pretrained_path("seed"))
data = vaekit.load_dataset("mnist", train_limit=0, test_limit={IMAGES})
sliders = widgets.latent_sliders(model, data.test_images, data.test_labels)
display(sliders, widgets.interpolator(model, data.test_images, data.test_labels, end=5, data=sliders.data))
display(widgets.training_timeline(vaekit.pretrained_path("seed")))
"""
TOP_CLASSES_JS = "b => document.querySelector(b)?.dataset.top"


@pytest.fixture(scope="module")
def cdn():
    try:
        return widget_cdn.fetch()
    except widget_cdn.CdnCacheError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def saved_notebook(browser, tmp_path_factory):
    """A one-cell notebook showing the latent sliders, the interpolator and the seed's training timeline, run
    in JupyterLab with "Save Widget State Automatically" on, and saved there: ``.path``; ``.top_classes``,
    the classifier's reading."""
    notebook = tmp_path_factory.mktemp("notebook") / "share.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)], metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), notebook)
    lab = start_lab(notebook.parent, tmp_path_factory.mktemp("lab"), settings=SAVE_STATE,
                    VAEKIT_DATA=str(data_root().resolve()))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    try:
        page = context.new_page()
        open_notebook(page, lab, notebook.name)
        menu(page, "Run", "runmenu:run-all")
        page.wait_for_selector(f"{SCOPE}[data-ready='1'] canvas.vaekit-decoded", timeout=120_000)
        wait_until_all_cells_ran(page)
        assert cell_errors(page) == [], "the notebook's cell raised"
        top_classes = page.wait_for_function(TOP_CLASSES_JS, arg=BARS, timeout=60_000).json_value()
        page.wait_for_selector(f"{TIMELINE} .vaekit-gif-button", state="visible", timeout=30_000)  # a kernel answered
        menu(page, "File", "docmanager:save")
        page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel .jp-mod-dirty')", timeout=30_000)
        page.screenshot(path=str(artifact_dir("nbconvert-lab") / "saved.png"))
    finally:
        context.close()
        lab.shut_down_kernels()
        lab.stop()
    return SimpleNamespace(path=notebook, top_classes=top_classes)


def widget_state(notebook) -> dict:
    metadata = nbformat.read(notebook, as_version=4).metadata
    assert WIDGET_STATE in metadata.get("widgets", {}), "JupyterLab saved no widget state into the notebook"
    return metadata["widgets"][WIDGET_STATE]


def to_html(notebook, scratch):
    """``jupyter nbconvert --to html NOTEBOOK``, as the README says; returns the page's path."""
    subprocess.run([str(VENV_BIN / "jupyter"), "nbconvert", "--to", "html", str(notebook)], check=True,
                   capture_output=True, timeout=120, env=isolated_env(scratch))
    return notebook.with_suffix(".html")


@pytest.fixture
def offline_page(browser, cdn, request):
    """A page that reaches nothing but files and the local copies of the CDN packages (widget_cdn.py);
    ``page.served``, ``page.refused``: the URLs answered from them, and refused; ``page.errors``: uncaught."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.served, page.refused, page.errors = [], [], []

    def answer(route):
        url = route.request.url
        if url.startswith("file:"):
            return route.continue_()
        local = widget_cdn.local_file(url)
        if local is None:
            page.refused.append(url)
            return route.abort()
        page.served.append(url)
        return route.fulfill(path=str(local), content_type="text/javascript")

    context.route("**/*", answer)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    page.screenshot(path=str(artifact_dir(request.node.name) / "final.png"), full_page=True)
    context.close()


def test_the_saved_widget_state_holds_the_explorers_weights(saved_notebook):
    """The payload the page asked the kernel for is in the notebook, byte for byte (the codes are float32
    sums: the kernel's thread count may move their last bits)."""
    saved = {tuple(buffer["path"]): base64.b64decode(buffer["data"])
             for model in widget_state(saved_notebook.path)["state"].values() for buffer in model.get("buffers", [])}
    model = vaekit.load(vaekit.pretrained_path("seed"))
    data = vaekit.load_dataset("mnist", data_root(), train_limit=0, test_limit=IMAGES)
    sent = ModelData(model, data.test_images, data.test_labels).payload()
    assert {("weights",), ("codes",), ("stds",), ("images",)} <= saved.keys(), f"saved buffers: {list(saved)}"
    assert saved[("weights",)] == sent["weights"] and saved[("images",)] == sent["images"]
    for name in ("codes", "stds"):
        np.testing.assert_allclose(np.frombuffer(saved[(name,)], np.float32), np.frombuffer(sent[name], np.float32),
                                   rtol=1e-5, atol=1e-6)


def test_its_html_page_works_with_no_kernel(saved_notebook, offline_page, tmp_path):
    page = offline_page
    page.goto(to_html(saved_notebook.path, tmp_path).as_uri())
    decoded = f"{SCOPE}[data-ready='1'] canvas.vaekit-decoded"
    try:
        page.wait_for_selector(decoded, timeout=30_000)
    except Exception:
        pytest.fail(f"the page never showed the sliders' digit; served {page.served}, refused {page.refused}, "
                    f"uncaught {page.errors}")
    assert any("/html-manager@" in url for url in page.served) and any("/anywidget@" in url for url in page.served)
    before = canvas_hash(page, decoded)
    page.locator(f"{SCOPE} .vaekit-latent-slider input").first.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert canvas_hash(page, decoded) != before, "moving a slider did not change the decoded digit"
    assert not page.is_visible(f"{SCOPE} canvas.vaekit-draw"), "no kernel here to encode a drawing"

    # The interpolator decodes too; the classifier's reading is the saved path's, and no other path is read.
    page.wait_for_selector(f"{PATH}[data-ready='1'] canvas.vaekit-strip", timeout=30_000)
    assert page.wait_for_function(TOP_CLASSES_JS, arg=BARS).json_value() == saved_notebook.top_classes
    end = page.locator(f"{PATH} .vaekit-end-index input")
    end.fill("9")
    end.dispatch_event("change")
    assert not page.is_visible(BARS) and "no kernel" in page.inner_text(f"{PATH} .vaekit-class-caption")

    # The training timeline plays from the saved state; its GIF button, which needs a kernel, stays hidden.
    scrub = page.wait_for_selector(f"{TIMELINE} .vaekit-epoch-slider input", timeout=30_000)
    samples = f"{TIMELINE} canvas.vaekit-timeline-samples"
    before = canvas_hash(page, samples)
    scrub.fill("0")
    assert canvas_hash(page, samples) != before, "scrubbing to the first epoch did not change the samples"
    assert not page.is_visible(f"{TIMELINE} .vaekit-gif-button"), "no kernel here to write a GIF"
    assert page.errors == [], f"the page raised: {page.errors}"


def test_a_page_whose_saved_state_lacks_the_weights_says_so(saved_notebook, offline_page, tmp_path):
    """As after ``nbconvert --execute``, which saves only the kernel's side of the widget state."""
    notebook = nbformat.read(saved_notebook.path, as_version=4)
    for model in notebook.metadata["widgets"][WIDGET_STATE]["state"].values():
        model.pop("buffers", None)
    body, _ = HTMLExporter().from_notebook_node(notebook)  # as the command does, without starting Python again
    stripped = tmp_path / "stripped.html"
    stripped.write_text(body, encoding="utf-8")
    page = offline_page
    page.goto(stripped.as_uri())
    message = page.wait_for_selector(f"{SCOPE} .vaekit-unavailable", timeout=30_000).text_content()
    assert "Save Widget State Automatically" in message and "export-html" in message
