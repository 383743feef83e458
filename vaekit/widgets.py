"""Widgets for exploring a VAE in JupyterLab: a live loss plot, latent sliders, an interpolator, a latent map.

Each function (or class) returns an ipywidgets object and never calls ``display``,
so it can be built and driven headless, in a test, as well as in a notebook::

    ui = latent_sliders(model, data.test_images, data.test_labels)
    ui                      # the last line of a cell shows it
    ui.sliders[0].value = 1.5
    ui.random_button.click()

Images are rendered kernel-side and set in place as PNG bytes on an
``ipywidgets.Image``: no figure is re-plotted per slider tick, nothing flickers,
and -- unlike an ipympl figure -- the image updates while a cell is still running
(Run All Cells during training). Every widget carries CSS classes
(``vaekit-...``) that the browser tests look for; see the docstrings.

Mistakes a user can fix (an index out of range) are shown in the widget's
message line and leave the widget as it was; anything unexpected inside a
callback goes, with its traceback, into the widget's ``Output`` area.
"""

from __future__ import annotations

import contextlib
import functools
import html
import io
import time
import traceback
from typing import Callable

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image as PILImage

from . import checks
from .errors import VaekitError
from .latent import encode_means, interpolate, kl_per_dimension
from .model import VAE
from .plotting import SIDE, figure_png, image_grid, plot_history
from .train import Callback, Trainer

DIGIT_SCALE = 8  # 28 px digits are shown 224 px wide, each pixel a crisp square
SLIDER_SPAN = 3.0  # sliders cover +-3 standard deviations of the prior, times the temperature
INACTIVE_KL = 0.05  # nats: below this a dimension carries (almost) no information
DIGIT_CLASSES = tuple(range(10))


# -- images -------------------------------------------------------------------


def to_uint8(pixels: np.ndarray | torch.Tensor) -> np.ndarray:
    """Intensities in [0, 1] -> uint8 in 0..255, rounded (uint8 images pass as they are)."""
    if isinstance(pixels, torch.Tensor):
        pixels = pixels.detach().cpu().numpy()
    if pixels.dtype == np.uint8:
        return pixels
    return (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def png_bytes(gray: np.ndarray, scale: int = 1) -> bytes:
    """A 2-D uint8 array -> PNG bytes, upscaled ``scale`` times with nearest neighbours.

    compress_level=1: these PNGs go over a local socket, where encoding time
    matters more than a few hundred bytes (level 6 is about twice as slow).
    """
    image = PILImage.fromarray(gray, mode="L")
    if scale != 1:
        image = image.resize((gray.shape[1] * scale, gray.shape[0] * scale), PILImage.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def digit_png(pixels: np.ndarray | torch.Tensor, scale: int = DIGIT_SCALE) -> bytes:
    """One digit, (784,) or (28, 28) intensities in [0, 1] -> PNG bytes, white on black like MNIST."""
    return png_bytes(to_uint8(pixels).reshape(SIDE, SIDE), scale)


def strip_png(images: torch.Tensor, scale: int = 3) -> bytes:
    """Digits side by side (N, 784), white gaps between them -> PNG bytes."""
    return png_bytes(to_uint8(image_grid(images, nrow=len(images))), scale)


BLANK_DIGIT_PNG = digit_png(np.zeros(SIDE * SIDE))


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block, then restore the thread count.

    A widget's work is tiny (decoding one code, or ten). Split across threads,
    waking the second thread costs more than the work itself, and on a busy
    machine it measured 15-60 ms instead of 0.2 ms (benchmarks/bench_widgets.py).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _device(model: VAE) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def decode_images(model: VAE, codes: torch.Tensor) -> torch.Tensor:
    """(N, latent) codes -> (N, 784) intensities in [0, 1], on the CPU."""
    return torch.sigmoid(model.decode(codes.to(_device(model)))).cpu()


# -- shared parts of the explorer widgets --------------------------------------


def _labelled(widget: widgets.Widget, css_class: str) -> widgets.Widget:
    widget.add_class(css_class)
    return widget


def _check_images(images, labels, model: VAE) -> tuple[torch.Tensor, torch.Tensor]:
    """The images as float32 intensities and the labels as int64 (NumPy and uint8 welcome), or a VaekitError."""
    images = checks.images(images, what="images")
    if images.ndim != 2 or images.shape[1] != model.config.input_size:
        raise VaekitError(
            f"images must be a (N, {model.config.input_size}) tensor of pixels in [0, 1], got shape {tuple(images.shape)}"
        )
    if len(images) == 0:
        raise VaekitError("no images given: pass the test images, e.g. data.test_images")
    return images, checks.labels(labels, len(images))


class _Explorer(widgets.VBox):
    """A VBox with a message line and an error area, and the digit-choosing logic the explorers share."""

    def __init__(self, model: VAE, images: torch.Tensor, labels: torch.Tensor):
        images, labels = _check_images(images, labels, model)
        self.model = model
        self.images = images.cpu()
        self.labels = labels.cpu()
        self.message = _labelled(widgets.HTML(""), "vaekit-message")
        self.errors = _labelled(widgets.Output(), "vaekit-errors")
        super().__init__()

    def show_message(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00020'>{html.escape(text)}</span>" if text else ""

    def _guarded(self, handler: Callable) -> Callable:
        """Wrap a widget callback: fixable mistakes -> message line; anything else -> traceback in ``errors``."""

        @functools.wraps(handler)
        def wrapper(*args, **kwargs):
            try:
                with one_thread():
                    result = handler(*args, **kwargs)
            except VaekitError as exc:
                self.show_message(str(exc))
                return None
            except Exception:
                self.show_message("Something went wrong inside the widget; the details are below.")
                self.errors.append_stderr(traceback.format_exc())
                return None
            return result

        return wrapper

    def check_index(self, index) -> int:
        n = len(self.images)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n:
            raise VaekitError(f"there is no test image {index!r}: choose an index from 0 to {n - 1}")
        return int(index)

    def next_index_of_class(self, digit, after: int = -1) -> int:
        """The first image of class ``digit`` after index ``after`` (wrapping round)."""
        if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or digit not in DIGIT_CLASSES:
            raise VaekitError(f"a class is a digit from 0 to 9, got {digit!r}")
        matches = (self.labels == int(digit)).nonzero().flatten()
        if len(matches) == 0:
            raise VaekitError(f"none of the {len(self.images)} images is a {digit}; pass more images")
        later = matches[matches > after]
        return int(later[0] if len(later) else matches[0])

    def _class_dropdown(self, css_class: str, description: str) -> widgets.Dropdown:
        options = [("…", None)] + [(str(d), d) for d in DIGIT_CLASSES]
        dropdown = widgets.Dropdown(options=options, value=None, description=description, layout=widgets.Layout(width="150px"))
        dropdown.style.description_width = "60px"
        return _labelled(dropdown, css_class)


def _format_code(values: list[float]) -> str:
    # round, then + 0.0 turns -0.0 into 0.0 so that a reset reads "0.00", not "-0.00"
    return "z = [" + ", ".join(f"{round(v, 2) + 0.0:.2f}" for v in values) + "]"


# -- latent sliders ------------------------------------------------------------


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
        self.kl = kl_per_dimension(model, self.images)  # (latent,) nats per image
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
        code = checks.codes(code, self.model.config.latent_size).flatten().cpu()
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
        try:
            checks.temperature(change["new"])
        except VaekitError:
            self.temperature.value = change["old"]  # the slider goes back to the last good value, and works on
            raise
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


# -- interpolator ----------------------------------------------------------------


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


# -- latent map ------------------------------------------------------------------


def principal_directions(codes: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of codes (N, latent): (centre (latent,), directions (k, latent), explained variance ratios (k,))."""
    centre = codes.mean(dim=0)
    _, singular, vh = torch.linalg.svd(codes - centre, full_matrices=False)
    variance = singular.square()
    return centre, vh[:k], variance[:k] / variance.sum()


def plot_latent_map(model: VAE, images: torch.Tensor, labels: torch.Tensor, grid: int = 15) -> Figure:
    """Left: each image's mean code projected on the two leading principal directions, coloured by
    label. Right: the decodings of a ``grid`` x ``grid`` lattice across the same two directions."""
    codes = encode_means(model, images)
    centre, directions, ratios = principal_directions(codes)
    scores = (codes - centre) @ directions.T  # (N, 2)
    fig = Figure(figsize=(12, 5.6))
    scatter_ax, grid_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    labels = labels.cpu()
    for digit in DIGIT_CLASSES:
        chosen = labels == digit
        if chosen.any():
            scatter_ax.scatter(*scores[chosen].T, s=4, alpha=0.6, color=f"C{digit}", label=str(digit), rasterized=True)
    scatter_ax.legend(markerscale=3, fontsize=8, title="label", loc="best")
    scatter_ax.set(
        xlabel=f"1st principal direction ({ratios[0]:.0%} of the variance)",
        ylabel=f"2nd principal direction ({ratios[1]:.0%})",
        title=f"{len(codes):,} test digits' mean codes",
    )
    # The lattice spans where most of the codes lie (2nd to 98th percentile on each axis).
    low, high = torch.quantile(scores, 0.02, dim=0), torch.quantile(scores, 0.98, dim=0)
    a = torch.linspace(float(low[0]), float(high[0]), grid)
    b = torch.linspace(float(high[1]), float(low[1]), grid)  # top row = high values, as on the scatter
    bb, aa = torch.meshgrid(b, a, indexing="ij")
    lattice = centre + aa.reshape(-1, 1) * directions[0] + bb.reshape(-1, 1) * directions[1]
    grid_ax.imshow(image_grid(decode_images(model, lattice), nrow=grid, padding=0), cmap="gray", vmin=0, vmax=1,
                   extent=(float(low[0]), float(high[0]), float(low[1]), float(high[1])), aspect="auto", interpolation="nearest")
    box = Rectangle((float(low[0]), float(low[1])), float(high[0] - low[0]), float(high[1] - low[1]),
                    fill=False, linestyle="--", color="0.3")
    scatter_ax.add_patch(box)
    grid_ax.set(xlabel="1st principal direction", ylabel="2nd principal direction",
                title="decodings across the dashed box (other directions at the mean)")
    fig.tight_layout()
    return fig


class LatentMap(widgets.VBox):
    """The latent map as a widget (CSS class ``vaekit-latent-map``); ``figure`` is the matplotlib Figure."""

    def __init__(self, model: VAE, images: torch.Tensor, labels: torch.Tensor, grid: int = 15):
        images, labels = _check_images(images, labels, model)
        self.figure = plot_latent_map(model, images, labels, grid)
        self.image = _labelled(widgets.Image(value=figure_png(self.figure, dpi=80), format="png"), "vaekit-latent-map-image")
        intro = widgets.HTML(
            "The code is 20-dimensional; PCA finds the two directions along which the test digits' codes spread "
            "most. Neighbouring codes decode to similar digits, and each class takes its own region."
        )
        super().__init__([intro, self.image])
        self.add_class("vaekit-latent-map")


def latent_map(model: VAE, images: torch.Tensor, labels: torch.Tensor, grid: int = 15) -> LatentMap:
    """PCA scatter of the images' codes, coloured by label, beside a grid of decodings (a ``VBox``)."""
    return LatentMap(model, images, labels, grid)


# -- live loss plot ----------------------------------------------------------------


class LiveLossPlot(Callback):
    """A trainer callback that redraws the loss curves in place while training runs.

    ``widget`` is an ``ipywidgets.Image`` (CSS class ``vaekit-live-loss``): show
    it, then train with this callback::

        live = LiveLossPlot()
        display(live.widget)
        vaekit.fit(model, train, test, config, callbacks=[live, vaekit.ProgressBar()])

    It redraws at each epoch's end and, during an epoch, at most every
    ``min_interval_s`` seconds -- and never spends more than about a tenth of the
    training time drawing (a redraw of the two panels takes ~0.1 s).
    """

    def __init__(self, min_interval_s: float = 1.0, figsize: tuple[float, float] = (10, 3.6), dpi: int = 80,
                 clock: Callable[[], float] = time.monotonic):
        self.min_interval_s = min_interval_s
        self.dpi = dpi
        self.clock = clock  # injectable so the throttle can be tested without waiting
        self.figure = Figure(figsize=figsize)
        self.widget = _labelled(widgets.Image(format="png"), "vaekit-live-loss")
        self.history: dict = {"epochs": [], "batch_losses": []}
        self.redraws = 0
        self._last_draw = -float("inf")
        self._draw_cost = 0.0

    def redraw(self) -> None:
        started = self.clock()
        self.widget.value = figure_png(plot_history(self.history, self.figure), dpi=self.dpi)
        self._last_draw = self.clock()
        self._draw_cost = self._last_draw - started
        self.redraws += 1

    def on_train_begin(self, trainer: Trainer) -> None:
        self.history = trainer.history  # the trainer appends to it; we only read
        self.redraw()

    def on_batch_end(self, trainer: Trainer, batch_loss: float) -> None:
        if self.clock() - self._last_draw >= max(self.min_interval_s, 10 * self._draw_cost):
            self.redraw()

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self.redraw()

    def on_train_end(self, trainer: Trainer) -> None:
        self.redraw()
