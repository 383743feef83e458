"""The widgets, built headless and driven from Python as a notebook's kernel would drive them."""

import io

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import vaekit
from vaekit import widgets as vw
from vaekit.latent import encode_means, kl_per_dimension, principal_directions
from vaekit.plotting import digit_png, to_uint8


@pytest.fixture(scope="module")
def trained(small_mnist):
    """A seed VAE after two quick epochs on real digits: codes and decodings look like a VAE's."""
    model = vaekit.build("seed", seed=0)
    vaekit.fit(model, small_mnist.train_images, None, vaekit.TrainConfig(epochs=2, device="cpu"))
    return model.eval()


@pytest.fixture
def sliders(trained, small_mnist):
    return vw.latent_sliders(trained, small_mnist.test_images, small_mnist.test_labels)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(png)))


def test_digit_png_round_trip():
    pixels = torch.linspace(0, 1, 784)
    image = _pixels(digit_png(pixels, scale=3))
    assert image.shape == (84, 84)
    # nearest-neighbour upscaling: each source pixel becomes a 3x3 block of the same value
    assert np.array_equal(image[::3, ::3], to_uint8(pixels).reshape(28, 28))
    assert np.array_equal(image[2::3, 2::3], image[::3, ::3])
    assert to_uint8(np.array([0.0, 0.5, 1.0, 1.7, -0.2])).tolist() == [0, 128, 255, 255, 0]


def test_widgets_carry_the_css_classes_the_browser_tests_use(sliders, trained, small_mnist):
    assert "vaekit-latent-sliders" in sliders._dom_classes
    assert len(sliders.sliders) == 20 and all("vaekit-latent-slider" in s._dom_classes for s in sliders.sliders)
    for part, css in [
        (sliders.decoded, "vaekit-decoded"), (sliders.original, "vaekit-original"), (sliders.random_button, "vaekit-random"),
        (sliders.reset_button, "vaekit-reset"), (sliders.from_digit_button, "vaekit-from-digit"),
        (sliders.index, "vaekit-digit-index"), (sliders.digit_class, "vaekit-digit-class"),
        (sliders.code_label, "vaekit-code"), (sliders.temperature, "vaekit-range"), (sliders.errors, "vaekit-errors"),
    ]:
        assert css in part._dom_classes
    path = vw.interpolator(trained, small_mnist.test_images, small_mnist.test_labels)
    assert "vaekit-interpolator" in path._dom_classes
    for part, css in [
        (path.start_index, "vaekit-start-index"), (path.end_index, "vaekit-end-index"), (path.method, "vaekit-method"),
        (path.strip, "vaekit-strip"), (path.play, "vaekit-play"), (path.frame_slider, "vaekit-frame-slider"),
        (path.frame, "vaekit-frame"), (path.errors, "vaekit-errors"),
    ]:
        assert css in part._dom_classes
    assert "vaekit-live-loss" in vw.LiveLossPlot().widget._dom_classes


def test_sliders_are_ordered_and_labelled_by_test_kl(sliders, trained, small_mnist):
    kl = kl_per_dimension(trained, small_mnist.test_images)
    assert sorted(sliders.dimensions) == list(range(20))
    ordered = kl[sliders.dimensions]
    assert torch.all(ordered[:-1] >= ordered[1:])  # most active first
    first = sliders.sliders[0]
    assert first.description == f"z{sliders.dimensions[0]} · {kl.max():.2f}"


def test_moving_a_slider_changes_the_image_and_the_code(sliders, trained):
    before = sliders.decoded.value
    sliders.sliders[0].value = 1.5
    assert sliders.decoded.value != before
    dimension = sliders.dimensions[0]
    assert sliders.code[dimension] == 1.5 and sliders.code.abs().sum() == 1.5
    assert sliders.code_label.value.startswith("z = [") and "1.50" in sliders.code_label.value
    # the image is the decoding of exactly that code
    expected = torch.sigmoid(trained.decode(sliders.code[None]))[0].detach()
    assert sliders.decoded.value == digit_png(expected)


def test_with_the_shipped_model_inactive_dimensions_barely_change_the_digit(small_mnist):
    model = vaekit.load(vaekit.pretrained_path("seed"))
    explorer = vw.latent_sliders(model, small_mnist.test_images, small_mnist.test_labels)

    def change_when_moved(slider):
        explorer.reset()
        before = _pixels(explorer.decoded.value).astype(int)
        slider.value = 2.0
        return np.abs(_pixels(explorer.decoded.value).astype(int) - before).mean()

    assert explorer.kl[explorer.dimensions[-1]] < vw.INACTIVE_KL
    assert change_when_moved(explorer.sliders[-1]) < 0.1 * change_when_moved(explorer.sliders[0])


def test_start_from_digit_7_sets_the_sliders_to_its_encoded_mean(sliders, trained, small_mnist):
    sliders.temperature.value = 2.0  # room for every value: nothing is clipped
    first_seven = int((small_mnist.test_labels == 7).nonzero()[0])
    sliders.digit_class.value = 7
    assert sliders.index.value == first_seven
    mean = encode_means(trained, small_mnist.test_images[first_seven : first_seven + 1])[0]
    assert torch.allclose(sliders.code, mean, atol=1e-6)
    assert sliders.original.value == digit_png(small_mnist.test_images[first_seven])
    assert sliders.original_caption.value.endswith("a 7")
    assert sliders.digit_class.value is None  # ready for the next 7
    sliders.digit_class.value = 7
    assert sliders.index.value > first_seven and small_mnist.test_labels[sliders.index.value] == 7


def test_random_and_reset_buttons(sliders, trained, small_mnist):
    before = sliders.code_label.value
    sliders.random_button.click()
    assert sliders.code_label.value != before and sliders.code.abs().sum() > 0
    again = vw.latent_sliders(trained, small_mnist.test_images, small_mnist.test_labels)
    again.random_button.click()
    assert torch.equal(again.code, sliders.code)  # the same seed draws the same code
    sliders.reset_button.click()
    assert torch.equal(sliders.code, torch.zeros(20))


def test_temperature_narrows_the_sliders_and_clips_the_code(sliders):
    sliders.sliders[0].value = 2.5
    before = sliders.decoded.value
    sliders.temperature.value = 0.5
    assert all(s.min == -1.5 and s.max == 1.5 for s in sliders.sliders)
    assert sliders.sliders[0].value == 1.5 and sliders.decoded.value != before


def test_bad_index_shows_a_message_and_leaves_the_widget_usable(sliders, small_mnist):
    sliders.sliders[0].value = 1.0
    code, image = sliders.code, sliders.decoded.value
    sliders.index.value = len(small_mnist.test_images)
    sliders.from_digit_button.click()
    assert f"choose an index from 0 to {len(small_mnist.test_images) - 1}" in sliders.message.value
    assert torch.equal(sliders.code, code) and sliders.decoded.value == image
    sliders.index.value = 3
    sliders.from_digit_button.click()  # still works, and the message goes
    assert sliders.message.value == "" and not torch.equal(sliders.code, code)
    with pytest.raises(vaekit.VaekitError, match="a class is a digit from 0 to 9, got 'seven'"):
        sliders.start_from_class("seven")


def test_unexpected_errors_in_callbacks_go_to_the_output_area(sliders):
    def broken(change):
        raise RuntimeError("boom")

    sliders.sliders[1].observe(sliders._guarded(broken), names="value")
    sliders.sliders[1].value = 0.5
    assert "went wrong" in sliders.message.value
    assert any("RuntimeError: boom" in o.get("text", "") for o in sliders.errors.outputs)


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolator_ends_are_the_two_digits_reconstructions(trained, small_mnist, method):
    path = vw.interpolator(trained, small_mnist.test_images, small_mnist.test_labels, start=3, end=8)
    path.method.value = method
    ends = trained.reconstruct(small_mnist.test_images[[3, 8]])
    assert path.frames.shape == (10, 784)
    assert torch.allclose(path.frames[0], ends[0], atol=1e-5) and torch.allclose(path.frames[-1], ends[1], atol=1e-5)
    assert path.frame.value == digit_png(path.frames[0])
    path.frame_slider.value = 9  # what the Play widget does, through its link
    assert path.frame.value == digit_png(path.frames[9])
    strip = _pixels(path.strip.value)
    assert strip.shape == (3 * (28 + 2 * 2), 3 * (10 * (28 + 2) + 2))  # 10 digits, 2 px gaps, upscaled 3x


def test_interpolator_follows_its_controls_and_refuses_bad_indices(trained, small_mnist):
    path = vw.interpolator(trained, small_mnist.test_images, small_mnist.test_labels)
    strip = path.strip.value
    path.steps.value = 5
    assert path.frames.shape == (5, 784) and path.play.max == 4 and path.frame_slider.max == 4
    strip = path.strip.value
    path.end_index.value = 10_000
    assert "no test image 10000" in path.message.value
    assert path.end_index.value == 1 and path.strip.value == strip  # back to the path on show
    path.end_class.value = 7
    assert small_mnist.test_labels[path.end_index.value] == 7 and path.strip.value != strip
    assert path.message.value == ""


def test_principal_directions_of_points_on_a_line():
    direction = torch.tensor([3.0, 4.0, 0.0]) / 5
    codes = torch.linspace(-2, 2, 9)[:, None] * direction + torch.tensor([1.0, 1.0, 1.0])
    centre, directions, ratios = principal_directions(codes, k=2)
    assert torch.allclose(centre, torch.ones(3), atol=1e-6)
    assert torch.allclose(directions[0].abs(), direction, atol=1e-5)
    assert ratios[0] == pytest.approx(1.0, abs=1e-6)


def test_latent_map_scatters_each_class_and_decodes_a_grid(trained, small_mnist):
    view = vw.latent_map(trained, small_mnist.test_images, small_mnist.test_labels, grid=6)
    assert "vaekit-latent-map" in view._dom_classes
    scatter_ax, grid_ax = view.figure.axes[:2]
    assert sorted(t.get_text() for t in scatter_ax.get_legend().get_texts()) == [str(d) for d in range(10)]
    assert sum(len(c.get_offsets()) for c in scatter_ax.collections) == len(small_mnist.test_images)
    assert grid_ax.images[0].get_array().shape == (6 * 28, 6 * 28)
    assert _pixels(view.image.value).ndim == 3


def test_live_loss_plot_redraws_after_each_epoch(small_mnist):
    live = vw.LiveLossPlot(min_interval_s=1e9)  # only the epoch ends and the start/end redraw

    class Spy(vaekit.Callback):
        seen = []

        def on_train_begin(self, trainer):
            self.seen.append(live.widget.value)

        def on_epoch_end(self, trainer, record):
            self.seen.append(live.widget.value)

    model = vaekit.build("seed", seed=0)
    vaekit.fit(model, small_mnist.train_images[:600], small_mnist.test_images[:300],
               vaekit.TrainConfig(epochs=2, device="cpu"), callbacks=[live, Spy()])
    assert len(Spy.seen) == 3 and len(set(Spy.seen)) == 3  # a new picture after each epoch
    assert all(bytes(png).startswith(b"\x89PNG") for png in Spy.seen)
    assert live.redraws == 4  # begin, two epochs, end


def test_live_loss_plot_throttles_redraws_within_an_epoch():
    now = [0.0]
    live = vw.LiveLossPlot(min_interval_s=1.0, clock=lambda: now[0])
    live.history = {"epochs": [], "batch_losses": [200.0]}
    live.redraw()
    for step in range(50):  # 50 steps, 0.1 s apart: 5 s of training
        now[0] += 0.1
        live.history["batch_losses"].append(200.0 - step)
        live.on_batch_end(None, 200.0 - step)
    assert 1 + 4 <= live.redraws <= 1 + 5
