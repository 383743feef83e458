"""GIFs read back (frame count, size, frames differ) and the traversal figure."""

import itertools

import numpy as np
import pytest
import torch
from PIL import Image, ImageChops

from vaekit import TrainConfig, animate, build, checkpoint, fit, snapshots


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
