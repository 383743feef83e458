"""The interpolator: the decoded path between two test images' codes, with Play."""

from __future__ import annotations

import ipywidgets as widgets
import torch

from ..errors import VaekitError
from ..latent import decode_images, encode_means, interpolate
from ..model import VAE
from ..plotting import DIGIT_SCALE, SIDE, digit_png, strip_png
from ._common import _Explorer, _labelled


class Interpolator(_Explorer):
    """Decode the path between two test digits' codes: a strip, and a Play-able frame.

    Built by ``interpolator``. Parts: ``start_index`` / ``end_index``
    (``vaekit-start-index`` / ``vaekit-end-index``), ``start_class`` /
    ``end_class`` (``vaekit-start-class`` / ``vaekit-end-class``), ``method``
    (``vaekit-method``), ``steps`` (``vaekit-steps``), ``strip``
    (``vaekit-strip``), ``play`` (``vaekit-play``) linked in the browser to
    ``frame_slider`` (``vaekit-frame-slider``), ``frame`` (``vaekit-frame``),
    ``message`` and ``errors``. ``frames`` holds the decoded path (steps, 784).
    """

    def __init__(self, model: VAE, images: torch.Tensor, labels: torch.Tensor, start: int = 0, end: int = 1, steps: int = 10):
        super().__init__(model, images, labels)
        self.add_class("vaekit-interpolator")
        self.check_index(start)
        self.check_index(end)
        self.start_index = _labelled(widgets.IntText(value=start, description="from", layout=widgets.Layout(width="140px")), "vaekit-start-index")
        self.end_index = _labelled(widgets.IntText(value=end, description="to", layout=widgets.Layout(width="140px")), "vaekit-end-index")
        for box in (self.start_index, self.end_index):
            box.style.description_width = "40px"
        self.start_class = self._class_dropdown("vaekit-start-class", "class")
        self.end_class = self._class_dropdown("vaekit-end-class", "class")
        self.method = _labelled(widgets.ToggleButtons(options=["linear", "spherical"], value="linear", style={"button_width": "80px"}), "vaekit-method")
        self.steps = _labelled(widgets.IntSlider(value=steps, min=2, max=20, description="steps", continuous_update=False), "vaekit-steps")
        self.strip = _labelled(widgets.Image(format="png"), "vaekit-strip")
        self.play = _labelled(widgets.Play(value=0, min=0, max=steps - 1, interval=150, description="play"), "vaekit-play")
        self.frame_slider = _labelled(widgets.IntSlider(value=0, min=0, max=steps - 1, description="frame"), "vaekit-frame-slider")
        # Linked in the browser, so the animation runs without a round trip per
        # frame; the kernel hears the slider and swaps the frame image.
        self.play_link = widgets.jslink((self.play, "value"), (self.frame_slider, "value"))
        size = SIDE * DIGIT_SCALE
        self.frame = _labelled(widgets.Image(format="png", width=size, height=size), "vaekit-frame")
        self.caption = widgets.Label("")
        self.frames = torch.empty(0)
        self._shown = (start, end)  # the endpoints of the path on show: a bad index falls back to them

        for box in (self.start_index, self.end_index, self.method, self.steps):
            box.observe(self._guarded(lambda _: self.update()), names="value")
        self.start_class.observe(self._guarded(lambda c: self._on_class(c, self.start_index, self.start_class)), names="value")
        self.end_class.observe(self._guarded(lambda c: self._on_class(c, self.end_index, self.end_class)), names="value")
        self.frame_slider.observe(self._guarded(lambda _: self.show_frame()), names="value")

        chooser = widgets.HBox([self.start_index, self.start_class, self.end_index, self.end_class])
        player = widgets.HBox([self.play, self.frame_slider])
        self.children = [
            chooser, widgets.HBox([self.method, self.steps]), self.caption, self.strip, player, self.frame, self.message, self.errors,
        ]
        self.update()

    def update(self) -> None:
        """Recompute the path for the current endpoints, method and number of steps."""
        for box, shown in zip((self.start_index, self.end_index), self._shown):
            try:
                self.check_index(box.value)
            except VaekitError:
                box.value = shown  # back to the path on show (which redraws it), then say why
                raise
        start, end = self.start_index.value, self.end_index.value
        steps = self.steps.value
        means = encode_means(self.model, self.images[[start, end]])
        codes = interpolate(means[0], means[1], steps, self.method.value)
        self.frames = decode_images(self.model, codes)  # (steps, 784)
        self.strip.value = strip_png(self.frames)
        self.caption.value = (
            f"{self.method.value} path from test image {start} (a {int(self.labels[start])}) "
            f"to {end} (a {int(self.labels[end])}), {steps} steps; the ends are the two digits' reconstructions"
        )
        for control in (self.play, self.frame_slider):
            control.max = steps - 1
        self._shown = (start, end)
        self.show_message("")
        self.show_frame()

    def show_frame(self) -> None:
        self.frame.value = digit_png(self.frames[min(self.frame_slider.value, len(self.frames) - 1)])

    def _on_class(self, change, box: widgets.IntText, dropdown: widgets.Dropdown) -> None:
        if change["new"] is not None:
            box.value = self.next_index_of_class(change["new"], after=box.value)
            dropdown.value = None  # so that the same class again moves on to its next image


def interpolator(
    model: VAE, images: torch.Tensor, labels: torch.Tensor, start: int = 0, end: int = 1, steps: int = 10
) -> Interpolator:
    """The interpolation explorer (a ``VBox``, CSS class ``vaekit-interpolator``) between test images."""
    return Interpolator(model, images, labels, start, end, steps)

