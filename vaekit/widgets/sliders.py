"""The latent sliders: one slider per code dimension, most informative first."""

from __future__ import annotations

import ipywidgets as widgets
import torch

from ..latent import decode_images, encode_means, kl_per_dimension
from ..model import VAE
from ..plotting import BLANK_DIGIT_PNG, DIGIT_SCALE, SIDE, digit_png
from ._common import INACTIVE_KL, SLIDER_SPAN, _Explorer, _format_code, _labelled


class LatentSliders(_Explorer):
    """One slider per code dimension, decoding the code into a digit as the sliders move.

    Built by ``latent_sliders``. Parts (and their CSS classes): ``sliders``
    (``vaekit-latent-slider``, most active dimension first; ``dimensions[i]`` is
    the code dimension of ``sliders[i]``), ``decoded`` (``vaekit-decoded``),
    ``original`` (``vaekit-original``), ``random_button`` / ``reset_button`` /
    ``from_digit_button`` (``vaekit-random`` / ``-reset`` / ``-from-digit``),
    ``index`` (``vaekit-digit-index``), ``digit_class`` (``vaekit-digit-class``),
    ``temperature`` (``vaekit-range``), ``code_label`` (``vaekit-code``: the code
    in dimension order, z0 first), ``message`` and ``errors``.
    """

    def __init__(self, model: VAE, images: torch.Tensor, labels: torch.Tensor, seed: int = 0):
        super().__init__(model, images, labels)
        self.add_class("vaekit-latent-sliders")
        latent = model.config.latent_size
        self.kl = kl_per_dimension(model, images)  # (latent,) nats per image
        # Most informative first, ties broken by dimension number so the order is reproducible.
        self.dimensions = sorted(range(latent), key=lambda d: (-float(self.kl[d]), d))
        self.generator = torch.Generator().manual_seed(seed)
        self._updating = False  # set while many sliders change at once: decode once, at the end
        self.updates = 0  # images rendered so far (for tests and the benchmark)
        self.shown_index: int | None = None  # the test image shown as the original

        self.sliders = []
        for d in self.dimensions:
            kl = float(self.kl[d])
            slider = widgets.FloatSlider(
                value=0.0, min=-SLIDER_SPAN, max=SLIDER_SPAN, step=0.05,
                description=f"z{d} · {kl:.2f}", readout_format=".2f", continuous_update=True,
                tooltip=f"dimension {d}: average KL {kl:.3f} nats" + (" (inactive)" if kl < INACTIVE_KL else ""),
                layout=widgets.Layout(width="330px"),
            )
            slider.style.description_width = "85px"
            slider.observe(self._guarded(self._on_slider), names="value")
            self.sliders.append(_labelled(slider, "vaekit-latent-slider"))

        self.temperature = _labelled(
            widgets.FloatSlider(value=1.0, min=0.25, max=2.0, step=0.05, description="temperature", readout_format=".2f",
                                continuous_update=False, layout=widgets.Layout(width="330px")),
            "vaekit-range",
        )
        self.temperature.style.description_width = "85px"
        self.temperature.observe(self._guarded(self._on_temperature), names="value")

        self.random_button = _labelled(widgets.Button(description="random", tooltip="a code drawn from N(0, T²·I)"), "vaekit-random")
        self.reset_button = _labelled(widgets.Button(description="reset", tooltip="the code 0: the prior's centre"), "vaekit-reset")
        self.from_digit_button = _labelled(
            widgets.Button(description="start from digit", tooltip="the encoded mean of test image #index"), "vaekit-from-digit"
        )
        self.index = _labelled(widgets.IntText(value=0, description="index", layout=widgets.Layout(width="150px")), "vaekit-digit-index")
        self.index.style.description_width = "45px"
        self.digit_class = self._class_dropdown("vaekit-digit-class", "class")
        self.random_button.on_click(self._guarded(lambda _: self.randomize()))
        self.reset_button.on_click(self._guarded(lambda _: self.reset()))
        self.from_digit_button.on_click(self._guarded(lambda _: self.start_from_index(self.index.value)))
        self.digit_class.observe(self._guarded(self._on_class), names="value")

        size = SIDE * DIGIT_SCALE
        self.decoded = _labelled(widgets.Image(format="png", width=size, height=size), "vaekit-decoded")
        self.original = _labelled(widgets.Image(value=BLANK_DIGIT_PNG, format="png", width=size, height=size), "vaekit-original")
        self.original_caption = widgets.Label("original: none yet")
        self.code_label = _labelled(widgets.Label(""), "vaekit-code")

        inactive = sum(float(k) < INACTIVE_KL for k in self.kl)
        intro = widgets.HTML(
            "Each slider sets one dimension of the code <i>z</i>; the number after its name is that dimension's "
            f"average KL on {len(images):,} test images, in nats. The sliders are ordered by it: the first ones "
            f"change the digit most. {inactive} of {latent} dimensions carry almost no information "
            f"(KL &lt; {INACTIVE_KL}): the decoder has learnt to ignore them, so moving them barely changes the digit."
        )
        grid = widgets.GridBox(self.sliders, layout=widgets.Layout(grid_template_columns="repeat(2, 340px)"))
        pictures = widgets.HBox([
            widgets.VBox([widgets.Label("decoded"), self.decoded]),
            widgets.VBox([self.original_caption, self.original]),
        ])
        buttons = widgets.HBox([self.random_button, self.reset_button, self.temperature])
        chooser = widgets.HBox([self.index, self.digit_class, self.from_digit_button])
        self.children = [intro, buttons, chooser, widgets.HBox([grid, pictures]), self.code_label, self.message, self.errors]
        self.render()

    # -- the code ----------------------------------------------------------

    def _values(self) -> list[float]:
        values = [0.0] * len(self.sliders)
        for d, slider in zip(self.dimensions, self.sliders):
            values[d] = slider.value
        return values

    @property
    def code(self) -> torch.Tensor:
        """The current code, in dimension order: (latent_size,)."""
        return torch.tensor(self._values(), dtype=torch.float32)

    def set_code(self, code: torch.Tensor) -> list[int]:
        """Move every slider at once (one decode); return the dimensions clipped to the sliders' range."""
        code = torch.as_tensor(code, dtype=torch.float32).flatten().cpu()
        if code.shape != (self.model.config.latent_size,):
            raise VaekitError(f"a code has {self.model.config.latent_size} values, got {tuple(code.shape)}")
        span = self.sliders[0].max
        clipped = [d for d in self.dimensions if abs(float(code[d])) > span]
        self._updating = True
        try:
            for d, slider in zip(self.dimensions, self.sliders):
                slider.value = float(code[d].clamp(-span, span))
        finally:
            self._updating = False
        self.render()
        return clipped

    def render(self) -> None:
        """Decode the current code and put the digit and the code's text in place."""
        values = self._values()
        self.decoded.value = digit_png(decode_images(self.model, torch.tensor([values]))[0])
        self.code_label.value = _format_code(values)
        self.updates += 1

    # -- actions (the buttons call these; so can Python) ----------------------

    def randomize(self) -> None:
        """A code drawn from the prior at the current temperature: N(0, T² I)."""
        code = self.temperature.value * torch.randn(self.model.config.latent_size, generator=self.generator)
        clipped = self.set_code(code)
        self.show_message(f"{len(clipped)} values beyond ±{self.sliders[0].max:.2f} were clipped to the sliders' range" if clipped else "")

    def reset(self) -> None:
        self.set_code(torch.zeros(self.model.config.latent_size))
        self.show_message("")

    def start_from_index(self, index: int) -> None:
        """Set the sliders to test image ``index``'s encoded mean and show the original beside the decoding."""
        index = self.check_index(index)
        mean = encode_means(self.model, self.images[index : index + 1])[0]
        clipped = self.set_code(mean)
        if self.index.value != index:
            self.index.value = index
        self.shown_index = index
        self.original.value = digit_png(self.images[index])
        self.original_caption.value = f"original: test image {index}, a {int(self.labels[index])}"
        self.show_message(
            f"dimensions {clipped} lie beyond ±{self.sliders[0].max:.2f} and were clipped; raise the temperature to reach them"
            if clipped else ""
        )

    def start_from_class(self, digit: int) -> int:
        """Start from the next test image of class ``digit`` after the one shown; return its index."""
        after = -1 if self.shown_index is None else self.shown_index
        index = self.next_index_of_class(digit, after=after)
        self.start_from_index(index)
        return index

    # -- callbacks ------------------------------------------------------------

    def _on_slider(self, change) -> None:
        if not self._updating:
            self.render()

    def _on_temperature(self, change) -> None:
        span = SLIDER_SPAN * change["new"]
        code = self.code
        self._updating = True
        try:
            for slider in self.sliders:
                # -span < 0 < span: min <= max holds after each assignment
                slider.max, slider.min = span, -span
        finally:
            self._updating = False
        if not torch.equal(code, self.code):  # narrowing clipped some values
            self.render()

    def _on_class(self, change) -> None:
        if change["new"] is not None:
            self.start_from_class(change["new"])
            # back to "…", so that choosing the same class again moves on to its next image
            self.digit_class.value = None


def latent_sliders(model: VAE, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> LatentSliders:
    """The slider explorer (a ``VBox``, CSS class ``vaekit-latent-sliders``) for ``model``.

    ``images``/``labels``: the test set (or part of it): the sliders' KL labels
    are averaged over these images, and "start from digit" chooses among them.
    ``seed`` seeds the random button's draws.
    """
    return LatentSliders(model, images, labels, seed)

