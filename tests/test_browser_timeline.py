"""The training timeline in a real JupyterLab and headless Chromium: it scrubs and plays.

The notebook is written here, next to a 3-epoch run with snapshots; a kernel-side label follows the
widget's ``epoch``, so the test sees the kernel receive what the browser did. Screenshots go to
test-artifacts/browser/<test>/. Needs Chromium (see tests/browser.py): skipped without, failed under CI=true.
"""

from __future__ import annotations

import nbformat
import pytest
from browser import artifact_dir, open_notebook, start_lab

from vaekit import TrainConfig, build, checkpoint, fit, snapshots
from vaekit.data import data_root

pytestmark = pytest.mark.browser

CELL = """\
import ipywidgets
from vaekit.widgets import training_timeline

timeline = training_timeline("run.safetensors", interval_ms=150)
seen = ipywidgets.Label(str(timeline.epoch))
seen.add_class("kernel-epoch")
timeline.observe(lambda change: setattr(seen, "value", str(change["new"])), names="epoch")
ipywidgets.VBox([timeline, seen])
"""


@pytest.fixture(scope="module")
def lab(small_mnist, tmp_path_factory):
    root = tmp_path_factory.mktemp("timeline-lab")
    model = build("seed", seed=0, hidden_sizes=(64,), latent_size=6)
    recorder = snapshots.Snapshots()
    history = fit(model, small_mnist.train_images, small_mnist.test_images, TrainConfig(epochs=3, seed=0), [recorder])
    checkpoint.save(root / "run.safetensors", model, history, state=recorder.state_tensors())
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "timeline.ipynb")
    server = start_lab(root, tmp_path_factory.mktemp("timeline-server"), VAEKIT_DATA=str(data_root().resolve()))
    server.notebook_root = root
    yield server
    server.stop()


@pytest.fixture
def page(browser, lab, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    page.screenshot(path=str(artifact_dir(request.node.name) / "final.png"), full_page=True)
    lab.shut_down_kernels()
    context.close()


def _pixels(page, selector):
    return page.eval_on_selector(selector, "c => c.toDataURL()")


def test_the_timeline_scrubs_and_plays(page, lab):
    shots = artifact_dir("test_the_timeline_scrubs_and_plays")
    open_notebook(page, lab, "timeline.ipynb")
    page.click(".jp-CodeCell .jp-InputArea-editor")
    page.keyboard.press("Shift+Enter")
    samples, readout, kernel = "canvas.vaekit-timeline-samples", ".vaekit-epoch-readout", ".kernel-epoch"
    page.wait_for_selector(samples, timeout=120_000)
    page.wait_for_function("s => document.querySelector(s).textContent.trim() === '2'", arg=kernel, timeout=60_000)
    assert page.inner_text(readout).strip() == "3 / 3"  # opens at the end of training
    page.locator(".vaekit-root").screenshot(path=str(shots / "last_epoch.png"))
    last = {
        name: _pixels(page, f"canvas.vaekit-timeline-{name}") for name in ("samples", "reconstructions", "kl", "loss")
    }

    # Scrub with the keyboard to the first epoch: every picture changes together, and the kernel hears of it.
    page.focus(".vaekit-epoch-slider input")
    page.keyboard.press("Home")
    page.wait_for_function("s => document.querySelector(s).textContent.trim() === '0'", arg=kernel, timeout=30_000)
    assert page.inner_text(readout).strip() == "1 / 3"
    first = {name: _pixels(page, f"canvas.vaekit-timeline-{name}") for name in last}
    assert all(first[name] != last[name] for name in last), "a picture did not change with the epoch"
    page.locator(".vaekit-root").screenshot(path=str(shots / "first_epoch.png"))

    # Play walks to the last epoch on its own and stops there.
    page.click(".vaekit-play-button")
    page.wait_for_function("s => document.querySelector(s).textContent.trim() === '2'", arg=kernel, timeout=30_000)
    page.wait_for_function("s => document.querySelector(s).textContent.trim() === '3 / 3'", arg=readout)
    assert _pixels(page, "canvas.vaekit-timeline-samples") == last["samples"]
    # ... and stops there: the button lets go on the tick after the last frame
    page.wait_for_function("() => !document.querySelector('.vaekit-play-button').classList.contains('vaekit-on')",
                           timeout=10_000)
    page.wait_for_timeout(500)
    assert page.inner_text(readout).strip() == "3 / 3"

    # The GIF button: the kernel writes the whole run next to the notebook and says so.
    page.click(".vaekit-gif-button")
    page.wait_for_function("() => document.querySelector('.vaekit-message').textContent.startsWith('wrote ')",
                           timeout=30_000)
    gif = lab.notebook_root / "training.gif"
    assert page.inner_text(".vaekit-message") == f"wrote {gif.resolve()} (3 frames)"  # where, in full
    assert gif.stat().st_size > 0
