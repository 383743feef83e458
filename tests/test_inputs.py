"""Library calls and widgets given what people really pass: NumPy arrays, uint8 or 0-255 images, float64,
NaN pixels or codes, a NaN temperature. Each gives one clear VaekitError, or works; the widget works after."""

import numpy as np
import pytest
import torch

import vaekit
from vaekit import widgets as vw
from vaekit.data import to_float
from vaekit.plotting import plot_images


@pytest.fixture(scope="module")
def model():
    return vaekit.load("seed")


@pytest.fixture(scope="module")
def digits(small_mnist):
    """100 test digits as a person might hold them: a NumPy array of uint8, and labels in NumPy."""
    images = small_mnist.test_images[:100]
    return np.asarray(images), np.asarray(small_mnist.test_labels[:100]), to_float(images)


def test_numpy_uint8_and_float64_images_give_the_same_reconstructions(model, digits):
    array, _, floats = digits
    expected = model.reconstruct(floats[:5])
    assert torch.allclose(model.reconstruct(array[:5]), expected)
    assert torch.allclose(model.reconstruct(floats[:5].numpy().astype(np.float64)), expected, atol=1e-6)


@pytest.mark.parametrize(
    "images, message",
    [
        (lambda f: f * 255, "must be intensities in \\[0, 1\\], got values from 0 to 255; they look like 0-255 values"),
        (lambda f: torch.where(torch.arange(784) == 3, float("nan"), f), "hold 5 NaN or infinite pixel values"),
        (
            lambda f: f.numpy().astype(np.int16),
            "must hold uint8 pixels \\(0-255\\) or floats in \\[0, 1\\], got torch.int16",
        ),
        (lambda f: f[:, :100], "must be \\(N, 784\\) pixels, one row per image; got shape \\(5, 100\\)"),
        (lambda f: "digits", "must be a tensor or a NumPy array, got str"),
    ],
)
def test_images_that_would_give_nonsense_are_refused(model, digits, images, message):
    with pytest.raises(vaekit.VaekitError, match=message):
        model.reconstruct(images(digits[2][:5]))


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), 0.0, -1.0, "1"])
def test_a_temperature_must_be_a_finite_positive_number(model, temperature):
    with pytest.raises(vaekit.VaekitError, match="the temperature must be a finite number above 0"):
        model.sample(4, temperature=temperature)


def test_plots_take_numpy_and_refuse_nan(digits):
    array, _, floats = digits
    assert plot_images(array[:10]) is not None
    with pytest.raises(vaekit.VaekitError, match="the images to plot hold 784 NaN"):
        plot_images(torch.full((1, 784), float("nan")))


def test_widgets_take_numpy_uint8_and_keep_working_after_bad_values(model, digits):
    array, labels, floats = digits
    sliders = vw.latent_sliders(model, array, labels)
    assert torch.equal(sliders.data.image_tensor, floats)
    sliders.start_from_index(3)
    before = sliders.decoded()
    with pytest.raises(vaekit.VaekitError, match="NaN or infinite values"):
        sliders.set_code(torch.full((20,), float("nan")))
    assert torch.equal(sliders.decoded(), before)  # nothing half-applied
    # A NaN temperature (from the browser or Python) is refused; the last good value stays.
    with pytest.raises(vaekit.VaekitError, match="temperature goes from 0.25 to 2, got nan"):
        sliders.temperature = float("nan")
    assert sliders.temperature == 1.0 and sliders.span == pytest.approx(3.0)
    sliders.reset()
    assert torch.equal(sliders.code, torch.zeros(20)) and sliders.message == ""
    sliders.set_code(torch.full((20,), 1.5))  # still moves
    assert not torch.equal(sliders.decoded(), before)
    interp = vw.interpolator(model, array, labels)
    assert len(interp.data.image_tensor) == 100
    with pytest.raises(vaekit.VaekitError, match="hold 100 NaN"):
        vw.latent_sliders(model, np.where(np.arange(784) == 0, np.nan, floats.numpy()), labels)
    with pytest.raises(vaekit.VaekitError, match="labels must be 100 integers"):
        vw.latent_sliders(model, array, labels.astype(np.float32))


def test_pairs_of_uint8_originals_and_float_reconstructions_plot_alike(model, digits):
    from vaekit.plotting import plot_pairs

    array, _, floats = digits
    assert plot_pairs(array[:4], model.reconstruct(array[:4])) is not None
    assert plot_pairs(floats[:4], model.reconstruct(floats[:4])) is not None
