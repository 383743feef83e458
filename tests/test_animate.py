"""GIFs read back (frame count, size, frames differ) and the traversal figure."""

import itertools

import numpy as np
import pytest
import torch
from PIL import Image, ImageChops

from vaekit import TrainConfig, VaekitError, animate, build, checkpoint, fit, pretrained_path, snapshots
from vaekit import widgets as vw
from vaekit.latent import decode_images


def _frames(path):
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(gif.convert("L"))
        return frames, gif.info.get("duration"), gif.info.get("loop")


def _all_differ(frames):
    return all(ImageChops.difference(a, b).getbbox() is not None for a, b in itertools.pairwise(frames))


@pytest.fixture(scope="module")
def run(small_mnist, tmp_path_factory):
    """A 3-epoch run with snapshots, saved as the CLI saves it."""
    model = build("seed", seed=0, hidden_sizes=(64,), latent_size=6)
    recorder = snapshots.Snapshots()
    history = fit(model, small_mnist.train_images, small_mnist.test_images, TrainConfig(epochs=3, seed=0), [recorder])
    path = tmp_path_factory.mktemp("run") / "model.safetensors"
    return checkpoint.save(path, model, history, state=recorder.state_tensors())


def test_animate_training_has_one_frame_an_epoch(vaekit, run, tmp_path):
    result = vaekit("animate", "training", "--checkpoint", str(run), "--out", str(tmp_path / "t.gif"), "--fps", "5")
    assert result.returncode == 0, result.stderr
    frames, duration, loop = _frames(tmp_path / "t.gif")
    assert len(frames) == 3 and duration == 200 and loop == 0
    width, height = frames[0].size
    assert (width, height) == animate.training_frames(snapshots.read(run), scale=2)[0].size
    assert width == 2 * (2 * (4 * 30 + 2) + 6)  # two 4 x 4 grids of 28-pixel images, scale 2
    assert _all_differ(frames)
    # The top-left prior decoding in the last frame is the snapshot's own pixels.
    timeline = snapshots.read(run)
    tile = frames[-1].crop((2 * 2, 2 * (14 + 2), 2 * (2 + 28), 2 * (14 + 2 + 28))).resize((28, 28), Image.NEAREST)
    assert torch.equal(torch.from_numpy(np.array(tile)).flatten(), timeline.samples[-1][0])


def test_animate_interpolation_and_traversal(vaekit, run, tmp_path):
    result = vaekit("animate", "interpolation", "--checkpoint", str(run), "--out", str(tmp_path / "i.gif"),
                    "--steps", "6", "--scale", "2")
    assert result.returncode == 0, result.stderr
    frames, _, _ = _frames(tmp_path / "i.gif")
    assert len(frames) == 2 * 6 - 2 and frames[0].size == (2 * 32, 2 * 32)
    assert _all_differ(frames)

    result = vaekit("animate", "traversal", "--checkpoint", str(run), "--out", str(tmp_path / "v.gif"), "--steps", "5")
    assert result.returncode == 0, result.stderr
    frames, _, _ = _frames(tmp_path / "v.gif")
    assert len(frames) == 2 * 5 - 2
    assert _all_differ(frames)


def test_traversal_puts_the_most_active_dimension_first(run, small_mnist, vaekit, tmp_path):
    model = checkpoint.load(run)
    dimensions, kl = animate.active_dimensions(model, small_mnist.test_images)
    assert dimensions and kl[dimensions].tolist() == sorted(kl[dimensions].tolist(), reverse=True)
    assert all(kl[d] > animate.ACTIVE_KL for d in dimensions)
    codes = animate.traversal_codes(model, dimensions[:2], torch.tensor([-3.0, 0.0, 3.0]))
    assert codes.shape == (2, 3, 6) and codes[0, 2, dimensions[0]] == 3.0 and codes[1, 0, dimensions[1]] == -3.0
    assert codes[0, :, [d for d in range(6) if d != dimensions[0]]].abs().sum() == 0
    result = vaekit("traverse", "--checkpoint", str(run), "--figures", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "traversal.png").exists()


@pytest.mark.parametrize("which", ["run", "conditional"])
def test_the_interpolators_gif_is_the_cli_s_for_the_same_path(which, run, small_mnist, vaekit, tmp_path, monkeypatch):
    # the shipped conditional model too: its class switches halfway, in the CLI and in the widget alike
    source = run if which == "run" else pretrained_path("conditional")
    model = checkpoint.load(source)
    path = vw.interpolator(model, small_mnist.test_images, small_mnist.test_labels, start=3, end=8, steps=6,
                           classes=False)
    path.method = "spherical"
    monkeypatch.chdir(tmp_path)  # gif_path is relative to the kernel's folder
    written = path.save_gif()
    assert written == animate.Path("interpolation.gif") and (tmp_path / "interpolation.gif").is_file()
    assert path.message == f"wrote {tmp_path / 'interpolation.gif'} (10 frames)"
    result = vaekit("animate", "interpolation", "--checkpoint", str(source), "--out", str(tmp_path / "cli.gif"),
                    "--start", "3", "--end", "8", "--steps", "6", "--method", "spherical")
    assert result.returncode == 0, result.stderr
    ours, duration, loop = _frames(written)
    theirs, cli_duration, _ = _frames(tmp_path / "cli.gif")
    assert len(ours) == len(theirs) == 2 * 6 - 2 and ours[0].size == theirs[0].size == (4 * 32, 4 * 32)
    assert duration == cli_duration == 80 and loop == 0  # 12 fps: 83 ms, kept in hundredths by GIF
    assert _all_differ(ours)
    # the same pictures: the widget's encoder ran on the same images (a grey level for float rounding)
    assert max(np.asarray(ImageChops.difference(a, b)).max() for a, b in zip(ours, theirs)) <= 1
    # there and back: frame k and frame 2 * steps - 2 - k are the same code
    assert ImageChops.difference(ours[1], ours[-1]).getbbox() is None


@pytest.mark.parametrize("which", ["run", "conditional"])
def test_the_sliders_gif_at_the_prior_is_the_cli_s_traversal(which, run, mnist, vaekit, tmp_path, monkeypatch):
    source = run if which == "run" else pretrained_path("conditional")  # a conditional model decodes class 0
    model = checkpoint.load(source)
    sliders = vw.latent_sliders(model, mnist.test_images[:1000], mnist.test_labels[:1000])  # the CLI's images
    monkeypatch.chdir(tmp_path)  # gif_path is relative to the kernel's folder
    written = sliders.save_gif()  # the sliders at 0, temperature 1: the prior's centre, ±3
    assert written == animate.Path("traversal.gif") and (tmp_path / "traversal.gif").is_file()
    assert sliders.message == f"wrote {tmp_path / 'traversal.gif'} ({2 * 30 - 2} frames)"
    result = vaekit("animate", "traversal", "--checkpoint", str(source), "--out", str(tmp_path / "cli.gif"))
    assert result.returncode == 0, result.stderr
    ours, duration, loop = _frames(written)
    theirs, cli_duration, _ = _frames(tmp_path / "cli.gif")
    assert len(ours) == len(theirs) == 2 * 30 - 2 and ours[0].size == theirs[0].size
    assert duration == cli_duration == 80 and loop == 0
    assert _all_differ(ours)
    assert max(np.asarray(ImageChops.difference(a, b)).max() for a, b in zip(ours, theirs)) <= 1


def test_the_sliders_gif_sweeps_each_slider_across_its_range_around_the_current_code(run, small_mnist, tmp_path):
    model = checkpoint.load(run)
    images, labels = small_mnist.test_images, small_mnist.test_labels
    sliders = vw.latent_sliders(model, images, labels)
    sliders.temperature = 0.5  # the sliders span ±1.5
    sliders.start_from_index(3)
    code = sliders.code
    frames, _, _ = _frames(sliders.save_gif(tmp_path / "walk.gif"))
    assert len(frames) == 2 * 30 - 2 and _all_differ(frames)
    dimensions, _ = animate.active_dimensions(model, images, labels)
    columns, side, scale = min(len(dimensions), 10), 28, 3
    # the first frame: each active dimension at the sliders' left end (one tile each, most active first),
    # every other dimension at test image 3's code; the 30th, at the right end
    for frame, value in [(frames[0], -1.5), (frames[29], 1.5)]:
        for tile, d in enumerate(dimensions):
            expected = code.clone()
            expected[d] = value
            pixels = snapshots.to_uint8(decode_images(model, expected[None]))[0]
            x, y = (animate.GAP + (tile % columns) * (side + animate.GAP),
                    animate.GAP + (tile // columns) * (side + animate.GAP))
            shown = frame.crop((scale * x, scale * y, scale * (x + side), scale * (y + side)))
            shown = torch.from_numpy(np.array(shown.resize((side, side), Image.NEAREST))).flatten()
            assert (shown.int() - pixels.int()).abs().max() <= 1, f"dimension {d} at {value}"


def _interpolator(model, images, labels, run):
    return vw.interpolator(model, images, labels, steps=4, classes=False)


GIF_BUTTONS = {  # a widget with a GIF button, built from a model, its test images and a run; its GIF's frames
    "interpolator": (_interpolator, 2 * 4 - 2),
    "sliders": (lambda model, images, labels, run: vw.latent_sliders(model, images, labels), 2 * 30 - 2),
    "timeline": (lambda model, images, labels, run: vw.training_timeline(run), 3),
}


@pytest.mark.parametrize("which", GIF_BUTTONS)
def test_each_gif_button_says_where_it_wrote_or_why_not(which, run, small_mnist, tmp_path, monkeypatch):
    build_widget, count = GIF_BUTTONS[which]
    widget = build_widget(checkpoint.load(run), small_mnist.test_images, small_mnist.test_labels, run)
    sent = []
    monkeypatch.setattr(widget, "send", lambda content, buffers=None: sent.append(content))
    widget._handle_custom_msg({"event": "hello"}, [])  # a page asking whether a kernel is there
    assert sent == [{"kernel": True}] and widget.message == ""  # it answers, and writes nothing
    click = {"event": "gif"}  # what the page's button sends
    widget.gif_path = str(tmp_path / "gifs" / "walk.gif")  # a folder that is not there yet is made
    widget._handle_custom_msg(click, [])
    assert widget.message == f"wrote {tmp_path / 'gifs' / 'walk.gif'} ({count} frames)"
    assert len(_frames(tmp_path / "gifs" / "walk.gif")[0]) == count
    (tmp_path / "a-file").write_text("")
    (tmp_path / "folder.gif").mkdir()
    # the same one line from every widget, as from `animate --out`, and no frame drawn before it
    for gif_path, reason in [(tmp_path / "walk.png", "name a .gif file"),
                             (tmp_path / "folder.gif", "it is a folder; name a .gif file"),
                             (tmp_path / "a-file" / "walk.gif", f"{tmp_path / 'a-file'} is a file, not a folder")]:
        widget.gif_path = str(gif_path)
        widget._handle_custom_msg(click, [])
        assert widget.message == f"cannot write {gif_path}: {reason}"
    with pytest.raises(VaekitError, match="fps must be a number from 0.1 to 50"):
        widget.save_gif(tmp_path / "fast.gif", fps=0)
    assert not (tmp_path / "fast.gif").exists()
    # from a notebook: a path of its own, the Path written back
    assert widget.save_gif(tmp_path / "mine.gif", fps=2) == tmp_path / "mine.gif"
    assert _frames(tmp_path / "mine.gif")[1] == 500


@pytest.mark.parametrize(
    "args, reason",
    [
        (["animate", "training", "--out", "x.png"], "name a .gif file"),
        (["animate", "sparkles", "--out", "x.gif"], "invalid choice: 'sparkles'"),
        (["animate", "interpolation", "--out", "x.gif", "--end", "500000"], "test image 500000 does not exist"),
        (["animate", "interpolation", "--out", "x.gif", "--fps", "0"], "not a number from 0.1 to 50"),
        (["animate", "interpolation", "--out", "x.gif", "--scale", "100"], "not an integer from 1 to 16"),
    ],
)
def test_bad_animate_arguments(vaekit, run, tmp_path, args, reason):
    args = [a.replace("x.", str(tmp_path / "x.")) for a in args]
    result = vaekit(*args, "--checkpoint", str(run))
    assert result.returncode == 2 and reason in result.stderr


def test_animate_training_without_snapshots_says_how_to_get_them(vaekit, tmp_path):
    path = checkpoint.save(tmp_path / "m.safetensors", build("seed", seed=0, hidden_sizes=(8,), latent_size=2))
    result = vaekit("animate", "training", "--checkpoint", str(path), "--out", str(tmp_path / "t.gif"))
    assert result.returncode == 2 and "holds no training snapshots" in result.stderr
