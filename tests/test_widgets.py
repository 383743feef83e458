"""The widgets, built headless and driven from Python as a notebook's kernel would drive them."""

import io

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import vaekit
from vaekit import classifier as clf
from vaekit import widgets as vw
from vaekit.data import DataInfo, to_float
from vaekit.latent import encode_means, kl_per_dimension, principal_directions
from vaekit.plotting import digit_png, to_uint8


@pytest.fixture(scope="module")
def trained(small_mnist):
    """A seed VAE after two quick epochs on real digits: codes and decodings look like a VAE's."""
    model = vaekit.build("seed", seed=0)
    vaekit.fit(model, small_mnist.train_images, None, vaekit.TrainConfig(epochs=2, device="cpu"))
    return model.eval()


@pytest.fixture(scope="module")
def data(trained, small_mnist):
    return vw.ModelData(trained, small_mnist.test_images, small_mnist.test_labels)


@pytest.fixture
def sliders(data):
    return vw.LatentSliders(data)


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
    path = vw.interpolator(trained, small_mnist.test_images, small_mnist.test_labels, data=sliders.data)
    assert "vaekit-interpolator" in path._dom_classes
    assert path.data is sliders.data  # one ModelData: the weights go to the browser once
    assert "vaekit-live-loss" in vw.LiveLossPlot().widget._dom_classes


def test_model_data_sends_the_decoder_and_the_test_set(data, trained, small_mnist):
    n = len(small_mnist.test_images)
    assert data.spec["latent"] == 20 and data.spec["pixels"] == 784 and data.spec["dtype"] in ("float16", "float32")
    size = 2 if data.spec["dtype"] == "float16" else 4
    payload = data.payload()
    assert len(payload["weights"]) == size * sum(p.numel() for p in trained.decoder.parameters())
    assert np.frombuffer(payload["codes"], np.float32).reshape(n, 20) == pytest.approx(
        encode_means(trained, small_mnist.test_images).numpy(), abs=1e-6)
    assert np.array_equal(np.frombuffer(payload["images"], np.uint8).reshape(n, 784), to_uint8(small_mnist.test_images))
    assert data.labels == small_mnist.test_labels.tolist() and data.class_names == [str(d) for d in range(10)]


def test_images_as_numpy_uint8_are_the_same_images(trained, small_mnist):
    images = to_uint8(small_mnist.test_images[:50])  # NumPy uint8, 0..255
    data = vw.ModelData(trained, images, small_mnist.test_labels[:50].numpy())
    assert torch.allclose(data.image_tensor, to_float(small_mnist.test_images[:50]), atol=0.5 / 255)


@pytest.mark.parametrize("images, labels, message", [
    (torch.full((4, 784), 200.0), torch.zeros(4, dtype=torch.long), "divide by 255"),
    (torch.full((4, 784), float("nan")), torch.zeros(4, dtype=torch.long), "NaN"),
    (torch.zeros(0, 784), torch.zeros(0, dtype=torch.long), "no images given"),
    (torch.zeros(4, 100), torch.zeros(4, dtype=torch.long), r"must be \(N, 784\)"),
    (torch.zeros(4, 784), torch.zeros(3, dtype=torch.long), "4 integers"),
    (torch.zeros(4, 784), torch.zeros(4), "4 integers"),
    ("images.png", torch.zeros(4, dtype=torch.long), "must be"),
])
def test_bad_images_are_one_clear_error(trained, images, labels, message):
    with pytest.raises(vaekit.VaekitError, match=message):
        vw.latent_sliders(trained, images, labels)


def test_sliders_are_ordered_and_labelled_by_test_kl(sliders, trained, small_mnist):
    kl = kl_per_dimension(trained, small_mnist.test_images)
    assert sorted(sliders.dimensions) == list(range(20))
    ordered = kl[sliders.dimensions]
    assert torch.all(ordered[:-1] >= ordered[1:])  # most active first
    assert sliders.kl == pytest.approx(kl.tolist())


def test_setting_the_code_changes_the_decoding(sliders, trained):
    before = sliders.decoded()
    code = torch.zeros(20)
    code[sliders.dimensions[0]] = 1.5
    sliders.z = code.tolist()
    assert not torch.equal(sliders.decoded(), before)
    assert sliders.code[sliders.dimensions[0]] == 1.5 and sliders.code.abs().sum() == 1.5
    assert "1.50" in sliders.code_text
    assert torch.equal(sliders.decoded(), torch.sigmoid(trained.decode(code[None]))[0].detach())


def test_where_the_browser_is_too_slow_the_kernel_decodes_each_code(sliders, trained):
    sent = []
    sliders.send = lambda content, buffers=None: sent.append((content, buffers))  # what would go to the page
    code = torch.zeros(20)
    code[sliders.dimensions[0]] = 1.5
    sliders.z = code.tolist()
    assert sent == [] and sliders.kernel_decodes == 0  # the browser decodes: the kernel sends no pixels
    sliders.decoding = "kernel"  # what the page sets when its decodes take longer than browser_budget_ms
    code[sliders.dimensions[1]] = -2.0
    sliders.z = code.tolist()
    sliders._on_message(sliders, {"request": "decoded"}, [])  # a new view asks for its first digit
    assert [content for content, _ in sent] == [{"decoded": True}] * 3 and sliders.kernel_decodes == 3
    pixels = [torch.from_numpy(np.frombuffer(buffers[0], dtype=np.float32).copy()) for _, buffers in sent]
    expected = torch.sigmoid(trained.decode(code[None]))[0].detach()
    assert torch.allclose(pixels[1], expected, atol=1e-6) and torch.equal(pixels[2], pixels[1])
    assert (pixels[0] - pixels[1]).abs().max() > 0.05  # the digit the page showed before the move, and after


def test_bad_decoding_settings_are_refused(data, sliders):
    for budget in (0.0, -3.0, float("nan"), float("inf")):
        with pytest.raises(vaekit.VaekitError, match="browser_budget_ms must be a finite number of milliseconds"):
            vw.LatentSliders(data, browser_budget_ms=budget)
    with pytest.raises(vaekit.VaekitError, match="decoding must be 'browser' or 'kernel', got 'gpu'"):
        sliders.decoding = "gpu"
    assert sliders.decoding == "browser" and sliders.browser_budget_ms == 12.0


@pytest.mark.parametrize("code, message", [([0.0] * 19, "a code has 20 values"), ([float("nan")] * 20, "finite")])
def test_a_bad_code_is_refused(sliders, code, message):
    with pytest.raises(vaekit.VaekitError, match=message):
        sliders.z = code
    assert sliders.z == [0.0] * 20


def test_with_the_shipped_model_inactive_dimensions_barely_change_the_digit(small_mnist):
    model = vaekit.load(vaekit.pretrained_path("seed"))
    explorer = vw.latent_sliders(model, small_mnist.test_images, small_mnist.test_labels)

    def change_when_moved(dimension):
        explorer.reset()
        before = explorer.decoded()
        code = torch.zeros(20)
        code[dimension] = 2.0
        explorer.set_code(code)
        return (explorer.decoded() - before).abs().mean()

    assert explorer.kl[explorer.dimensions[-1]] < vw.INACTIVE_KL
    assert change_when_moved(explorer.dimensions[-1]) < 0.1 * change_when_moved(explorer.dimensions[0])


def test_start_from_class_7_sets_the_sliders_to_its_encoded_mean(sliders, trained, small_mnist):
    sliders.temperature = 2.0  # room for every value: nothing is clipped
    first_seven = int((small_mnist.test_labels == 7).nonzero()[0])
    assert sliders.start_from_class(7) == first_seven
    assert sliders.index == first_seven and sliders.shown == first_seven and sliders.label == 7
    mean = encode_means(trained, small_mnist.test_images[first_seven : first_seven + 1])[0]
    assert torch.allclose(sliders.code, mean, atol=1e-6)
    second = sliders.start_from_class(7)
    assert second > first_seven and small_mnist.test_labels[second] == 7
    with pytest.raises(vaekit.VaekitError, match="a class is a number from 0 to 9, got 'seven'"):
        sliders.start_from_class("seven")
    with pytest.raises(vaekit.VaekitError, match="choose an index from 0 to 499"):
        sliders.start_from_index(500)


def test_a_drawing_is_encoded_and_its_nearest_test_images_found(sliders, trained, small_mnist):
    sliders.temperature = 2.0
    drawn = to_float(small_mnist.test_images[42]).tolist()  # a "drawing" that is test image 42
    sliders._on_message(sliders, {"drawn": drawn}, [])  # what the page sends
    assert sliders.nearest[0] == 42 and len(sliders.nearest) == 5
    mean = encode_means(trained, small_mnist.test_images[42:43])[0]
    assert torch.allclose(sliders.code, mean, atol=1e-6)
    sliders._on_message(sliders, {"drawn": [2.0] * 784}, [])
    assert "must be intensities in [0, 1]" in sliders.message


def test_random_and_reset(sliders, trained, small_mnist):
    sliders.randomize()
    assert sliders.code.abs().sum() > 0
    again = vw.latent_sliders(trained, small_mnist.test_images, small_mnist.test_labels)
    again.randomize()
    assert torch.equal(again.code, sliders.code)  # the same seed draws the same code
    sliders.reset()
    assert torch.equal(sliders.code, torch.zeros(20))


def test_temperature_narrows_the_sliders_and_clips_the_code(sliders):
    code = torch.zeros(20)
    code[3] = 2.5
    sliders.set_code(code)
    sliders.temperature = 0.5
    assert sliders.span == 1.5 and sliders.code[3] == 1.5
    with pytest.raises(vaekit.VaekitError, match="temperature goes from 0.25 to 2"):
        sliders.temperature = 5.0


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolator_ends_are_the_two_images_reconstructions(data, trained, small_mnist, method):
    path = vw.Interpolator(data, start=3, end=8, method=method)
    ends = trained.reconstruct(to_float(small_mnist.test_images[[3, 8]]))
    frames = path.frames()
    assert frames.shape == (10, 784)
    assert torch.allclose(frames[0], ends[0], atol=1e-5) and torch.allclose(frames[-1], ends[1], atol=1e-5)


def test_interpolator_refuses_bad_controls(data, small_mnist):
    path = vw.Interpolator(data)
    for name, value, message in [("steps", 1, "2 to 20 steps"), ("end", 10_000, "no test image 10000"),
                                 ("method", "cubic", "'linear' or 'spherical'"), ("frame", 10, "frame must be")]:
        with pytest.raises(vaekit.VaekitError, match=message):
            setattr(path, name, value)
    path.frame = 9
    path.steps = 5  # the frame follows
    assert path.frame == 4 and path.frames().shape == (5, 784)
    assert small_mnist.test_labels[path.choose_class("end", 7)] == 7


def test_interpolator_holds_the_classifiers_reading_of_its_frames(data):
    path = vw.Interpolator(data, start=3, end=8, steps=7)
    _, expected = clf.apply(clf.pretrained("mnist"), path.frames())
    assert torch.tensor(path.probabilities) == pytest.approx(expected, abs=1e-6)
    assert path.probabilities_path == "3 8 linear 7" and path.classifier_note.startswith("the mnist classifier (99.1 %")
    path.steps, path.method = 12, "spherical"  # a new path: read again, each row a distribution
    probabilities = torch.tensor(path.probabilities)
    assert probabilities.shape == (12, 10) and path.probabilities_path == "3 8 spherical 12"
    assert probabilities.sum(dim=1) == pytest.approx(torch.ones(12), abs=1e-5)
    assert probabilities == pytest.approx(clf.apply(clf.pretrained("mnist"), path.frames())[1], abs=1e-6)


def test_interpolator_reads_where_the_4_becomes_a_9(mnist):
    # the shipped log-variance model, test images 4 (a 4) and 7 (a 9): the README's figure
    model = vaekit.load(vaekit.pretrained_path("logvar"))
    path = vw.interpolator(model, mnist.test_images[:50], mnist.test_labels[:50], start=4, end=7, steps=12)
    assert mnist.test_labels[[4, 7, 1]].tolist() == [4, 9, 2]
    tops = torch.tensor(path.probabilities).argmax(dim=1).tolist()
    assert tops[0] == 4 and tops[-1] == 9 and tops == sorted(tops) and set(tops) == {4, 9}  # 4s, then 9s
    path.end = 1  # a 2 at the end instead
    after = torch.tensor(path.probabilities)
    assert path.probabilities_path == "4 1 linear 12" and after.argmax(dim=1)[[0, -1]].tolist() == [4, 2]


def test_interpolator_without_a_shipped_classifier_says_so(small_mnist):
    model = vaekit.build("seed", seed=0).eval()
    model.data_info = DataInfo("folder:/photos/digits", tuple(str(d) for d in range(10)), (1, 28, 28))
    data = vw.ModelData(model, small_mnist.test_images[:20], small_mnist.test_labels[:20])
    path = vw.Interpolator(data)
    assert path.classifier is None and path.probabilities == [] and path.probabilities_path == ""
    assert path.classifier_note == "no classifier is shipped for folder:/photos/digits (only for fashion-mnist, mnist)"
    path.end = 5  # nothing to read, nothing raised
    assert path.probabilities == []
    quiet = vw.Interpolator(vw.ModelData(vaekit.build("seed", seed=0), small_mnist.test_images[:20],
                                         small_mnist.test_labels[:20]), classes=False)
    assert quiet.classifier is None and quiet.classifier_note == "" and quiet.probabilities == []


def test_principal_directions_of_points_on_a_line():
    direction = torch.tensor([3.0, 4.0, 0.0]) / 5
    codes = torch.linspace(-2, 2, 9)[:, None] * direction + torch.tensor([1.0, 1.0, 1.0])
    centre, directions, ratios = principal_directions(codes, k=2)
    assert torch.allclose(centre, torch.ones(3), atol=1e-6)
    assert torch.allclose(directions[0].abs(), direction, atol=1e-5)
    assert ratios[0] == pytest.approx(1.0, abs=1e-6)


def test_latent_map_projects_every_code_and_links_the_explorers(data, trained, small_mnist):
    sliders = vw.LatentSliders(data)
    path = vw.Interpolator(data)
    view = vw.latent_map(trained, None, None, sliders=sliders, interpolator=path)
    assert "vaekit-latent-map" in view._dom_classes and view.data is data
    assert view.sliders is sliders and view.interpolator is path
    codes = data.code_tensor
    centre, directions, _ = principal_directions(codes)
    assert torch.allclose(view.points(), (codes - centre) @ directions.T, atol=1e-5)
    assert view.points().shape == (len(small_mnist.test_images), 2)


def test_a_2d_model_is_mapped_as_it_is(small_mnist):
    model = vaekit.build("2d", seed=0)
    view = vw.latent_map(model, small_mnist.test_images[:100], small_mnist.test_labels[:100])
    assert torch.equal(view.points(), view.data.code_tensor)


def test_latent_map_figure_scatters_each_class_and_decodes_a_grid(trained, small_mnist):
    figure = vw.plot_latent_map(trained, to_float(small_mnist.test_images), small_mnist.test_labels, grid=6)
    scatter_ax, grid_ax = figure.axes[:2]
    assert sorted(t.get_text() for t in scatter_ax.get_legend().get_texts()) == [str(d) for d in range(10)]
    assert sum(len(c.get_offsets()) for c in scatter_ax.collections) == len(small_mnist.test_images)
    assert grid_ax.images[0].get_array().shape == (6 * 28, 6 * 28)


def test_live_loss_plot_streams_each_point_once(small_mnist):
    live = vw.LiveLossPlot(min_interval_s=1e9)  # only the start, the epoch ends and the end send
    sent = []
    live.widget.send = lambda content, buffers=None: sent.append(content)  # what would go to the browser
    model = vaekit.build("seed", seed=0)
    history = vaekit.fit(model, small_mnist.train_images[:600], small_mnist.test_images[:300],
                         vaekit.TrainConfig(epochs=2, device="cpu"), callbacks=[live])
    assert live.updates == 4  # begin, two epochs, end
    steps = [v for message in sent for v in message.get("steps", [])]
    epochs = [e for message in sent for e in message.get("epochs", [])]
    assert steps == history["batch_losses"]  # every step once, in order
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[-1]["test_total"] == history["epochs"][-1]["test_total"]
    assert live.widget.history == {"steps": steps, "epochs": epochs}  # synced once, at the end


def test_live_loss_plot_sends_only_what_is_new_within_an_epoch():
    now = [0.0]
    live = vw.LiveLossPlot(min_interval_s=1.0, clock=lambda: now[0])
    sent = []
    live.widget.send = lambda content, buffers=None: sent.append(content)
    live.history = {"epochs": [], "batch_losses": [200.0]}
    live.update()
    for step in range(50):  # 50 steps, 0.1 s apart: 5 s of training
        now[0] += 0.1
        live.history["batch_losses"].append(200.0 - step)
        live.on_batch_end(None, 200.0 - step)
    assert 1 + 4 <= live.updates <= 1 + 5
    live.update()  # the rest, as the epoch's end sends it
    assert sum(len(m["steps"]) for m in sent) == 51 and max(len(m["steps"]) for m in sent) <= 11
