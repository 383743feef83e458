"""`python -m vaekit export-html`: one self-contained page (driven in a browser in tests/test_browser.py)."""

import json
import re

import pytest

import vaekit
from vaekit.export import export_html


@pytest.fixture(scope="module")
def seed_model():
    return vaekit.load(vaekit.pretrained_path("seed"))


def test_the_page_holds_everything_it_needs(seed_model, small_mnist, tmp_path):
    page = export_html(tmp_path / "explorer.html", seed_model, small_mnist.test_images, small_mnist.test_labels,
                       max_images=100)
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the page must load nothing from elsewhere"
    state = json.loads(re.search(r'<script type="application/json" id="vaekit-state">(.*?)</script>', text,
                                 re.S).group(1).replace("<\\/", "</"))
    data = next(m for m in state["models"].values() if "spec" in m)
    assert len(data["labels"]) == 100 and all("$bytes" in data[k] for k in ("weights", "codes", "stds", "images"))
    views = re.findall(r'data-vaekit-model="([^"]+)"', text)
    assert len(views) == 3 and all(state["models"][v]["data"] == "IPY_MODEL_" + next(
        k for k, m in state["models"].items() if "spec" in m) for v in views)


def test_bad_destinations_are_one_clear_error(seed_model, small_mnist, tmp_path):
    with pytest.raises(vaekit.VaekitError, match="name it something.html"):
        export_html(tmp_path / "explorer.txt", seed_model, small_mnist.test_images, small_mnist.test_labels)
    with pytest.raises(vaekit.VaekitError, match="does not exist"):
        export_html(tmp_path / "nowhere" / "e.html", seed_model, small_mnist.test_images, small_mnist.test_labels)


def test_cli_names_the_shipped_models_when_a_checkpoint_is_missing(vaekit, tmp_path):
    result = vaekit("export-html", str(tmp_path / "e.html"), "--checkpoint", "nope")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("vaekit: error: checkpoint nope does not exist")
    assert "(2d, conditional, conv, fashion, logvar, seed)" in line
