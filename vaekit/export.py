"""``python -m vaekit export-html OUT.html``: the explorers as one self-contained web page.

The page holds the decoder's weights, the test images' codes and pixels, the widgets' ES modules and
a small stand-in for Jupyter's widget manager (``widgets/standalone.js``): opened from disk, with no
kernel and no network, its sliders, interpolator and Play work, decoding in the browser.
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from pathlib import Path

from .errors import VaekitError
from .widgets import ModelData
from .widgets.decoder import HERE as WIDGETS
from .widgets.interpolation import Interpolator
from .widgets.latentmap import LatentMap
from .widgets.sliders import LatentSliders

DEFAULT_IMAGES = 1000  # test images carried by the page: about 1 MB of pixels and codes


def _jsonable(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def page_html(model, images, labels, title: str = "What a VAE has learnt") -> str:
    """The page's text: the sliders, the interpolator and the map over ``images`` (the test images)."""
    data = ModelData(model, images, labels)
    sliders, path = LatentSliders(data), Interpolator(data)
    codes_map = LatentMap(data, sliders, path)
    models = {}
    for widget in (data, sliders, path, codes_map):
        state = widget.get_state()
        models[widget.model_id] = {k: _jsonable(v) for k, v in state.items() if not k.startswith("_") or k in (
            "_esm", "_dom_classes")}
    models[data.model_id].update({k: _jsonable(v) for k, v in data.payload().items()})  # no kernel to ask
    payload = json.dumps({"models": models}).replace("</", "<\\/")  # no "</script>" inside the script
    css = (WIDGETS / "widgets.css").read_text()
    script = (WIDGETS / "standalone.js").read_text().replace("</", "<\\/")
    n = len(data.label_tensor)
    reading = ("\nUnder it, the classifier's reading of each frame, for the path shown first: this page has no "
               "Python behind it to read other paths.") if path.classifier is not None else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
{css}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>A variational autoencoder turns each image into a code of {model.config.latent_size} numbers, and its decoder
turns any code back into an image. Move a slider to change one number of the code; <b>random</b> draws a code
from the prior; <b>start from image</b> starts from the code of one of the {n:,} test images in this page.
The decoder runs in this page: no server, no network.</p>
<div data-vaekit-model="{sliders.model_id}"></div>
<h2>From one image to another</h2>
<p>The strip decodes the codes on the way from one test image's code to another's; ▶ plays the walk.{reading}</p>
<div data-vaekit-model="{path.model_id}"></div>
<h2>The map of the codes</h2>
<div data-vaekit-model="{codes_map.model_id}"></div>
<script type="application/json" id="vaekit-state">{payload}</script>
<script type="module">
{script}
</script>
</body>
</html>
"""


def export_html(out: str | os.PathLike, model, images, labels, max_images: int = DEFAULT_IMAGES) -> Path:
    """Write the page to ``out`` (atomically) with the first ``max_images`` images; returns its path."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise VaekitError(f"the page is HTML: name it something.html, not {out.name}")
    if not out.parent.is_dir():
        raise VaekitError(f"folder {out.parent} does not exist; create it or choose another place for the page")
    if max_images < 1:
        raise VaekitError(f"the page needs at least 1 test image, got --images {max_images}")
    text = page_html(model, images[:max_images], labels[:max_images])
    part = None
    try:
        with tempfile.NamedTemporaryFile("w", dir=out.parent, prefix=f".{out.name}.", delete=False,
                                         encoding="utf-8") as part:
            part.write(text)
        os.replace(part.name, out)
    except OSError as exc:
        if part is not None:
            Path(part.name).unlink(missing_ok=True)
        raise VaekitError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out
