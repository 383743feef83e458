"""Damaged data files, fuzzed: every case is a DataError naming the file, never a numpy or torch crash."""

import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vaekit.data import IDX_TYPES, MNIST_FILES, ensure_mnist, raw_folder, read_idx, verify_file
from vaekit.errors import DataError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def idx_bytes(code: int, dims: tuple[int, ...], values: np.ndarray | None = None) -> bytes:
    """An IDX file, written the way LeCun's format says: magic, type, dimensions, big-endian data."""
    dtype = np.dtype(IDX_TYPES[code])
    values = np.zeros(dims, dtype) if values is None else values
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + values.astype(dtype).tobytes()


@st.composite
def idx_files(draw):
    code = draw(st.sampled_from(sorted(IDX_TYPES)))
    dims = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=3)))
    dtype = np.dtype(IDX_TYPES[code])
    n = int(np.prod(dims))
    if dtype.kind == "f":
        values = draw(st.lists(st.floats(width=8 * dtype.itemsize, allow_nan=False), min_size=n, max_size=n))
    else:
        info = np.iinfo(dtype)
        values = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n, max_size=n))
    array = np.array(values, dtype=dtype).reshape(dims)
    return idx_bytes(code, dims, array), array


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _expect_data_error(path: Path, match: str = ""):
    with pytest.raises(DataError, match=match) as error:
        read_idx(path)
    assert str(path) in str(error.value)


@FUZZ
@given(idx_files())
def test_idx_round_trip(folder, file_and_values):
    content, values = file_and_values
    path = folder / "f.idx"
    path.write_bytes(content)
    tensor = read_idx(path)
    assert tuple(tensor.shape) == values.shape
    assert np.array_equal(tensor.numpy(), values.astype(values.dtype.newbyteorder("=")))


@FUZZ
@given(idx_files(), st.data())
def test_truncated_idx_is_a_data_error(folder, file_and_values, data):
    content, _ = file_and_values
    cut = data.draw(st.integers(0, len(content) - 1))
    path = folder / "f.idx"
    path.write_bytes(content[:cut])
    _expect_data_error(path, "truncated")


@FUZZ
@given(idx_files(), st.binary(min_size=1, max_size=64))
def test_extra_bytes_disagree_with_the_counts(folder, file_and_values, extra):
    content, _ = file_and_values
    path = folder / "f.idx"
    path.write_bytes(content + extra)
    _expect_data_error(path, "counts that do not match")


@FUZZ
@given(idx_files(), st.integers(0, 1), st.integers(1, 255))
def test_wrong_magic_number(folder, file_and_values, position, value):
    content = bytearray(file_and_values[0])
    content[position] = value
    path = folder / "f.idx"
    path.write_bytes(bytes(content))
    _expect_data_error(path, "wrong magic number")


@FUZZ
@given(idx_files(), st.integers(0, 255))
def test_unknown_type_code(folder, file_and_values, code):
    assume(code not in IDX_TYPES)
    content = bytearray(file_and_values[0])
    content[2] = code
    path = folder / "f.idx"
    path.write_bytes(bytes(content))
    _expect_data_error(path, "unknown type code")


@FUZZ
@given(idx_files(), st.data())
def test_a_count_that_disagrees_with_the_size(folder, file_and_values, data):
    content, values = file_and_values
    dims = list(values.shape)
    axis = data.draw(st.integers(0, len(dims) - 1))
    dims[axis] = data.draw(st.integers(0, 2**32 - 1))  # up to 4 billion: must not be allocated
    assume(np.prod(dims, dtype=object) != values.size)
    content = bytearray(content)
    content[4 + 4 * axis : 8 + 4 * axis] = struct.pack(">I", dims[axis])
    path = folder / "f.idx"
    path.write_bytes(bytes(content))
    _expect_data_error(path, "counts that do not match")


@FUZZ
@given(st.binary(max_size=80))
def test_any_bytes_give_a_tensor_or_a_data_error(folder, content):
    path = folder / "f.idx"
    path.write_bytes(content)
    try:
        tensor = read_idx(path)
    except DataError as error:
        assert str(path) in str(error)
    else:
        assert isinstance(tensor, torch.Tensor)


def test_read_idx_reads_mnist_as_torchvision_does(mnist):
    from torchvision.datasets import MNIST

    images = read_idx(raw_folder() / "t10k-images-idx3-ubyte")
    labels = read_idx(raw_folder() / "t10k-labels-idx1-ubyte")
    theirs = MNIST(str(raw_folder().parent.parent), train=False, download=False)
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert torch.equal(images, theirs.data) and torch.equal(labels.long(), theirs.targets)
    assert torch.equal(images.reshape(-1, 784), mnist.test_images) and torch.equal(labels.long(), mnist.test_labels)


def test_a_missing_or_unreadable_idx_file(tmp_path):
    _expect_data_error(tmp_path / "nothing-idx1-ubyte", "cannot read IDX file")
    (tmp_path / "folder-idx1-ubyte").mkdir()
    _expect_data_error(tmp_path / "folder-idx1-ubyte", "cannot read IDX file")


# -- the MNIST files themselves: size and SHA-256 before anything reads them ----

LABELS = "t10k-labels-idx1-ubyte"  # 10,008 bytes: cheap to damage 150 times


@pytest.fixture(scope="module")
def original_labels():
    return (raw_folder() / LABELS).read_bytes()


@FUZZ
@given(st.data())
def test_damaged_mnist_file_is_refused_by_size_or_checksum(folder, original_labels, data):
    damage = data.draw(st.sampled_from(["truncate", "flip", "append", "replace"]))
    content = bytearray(original_labels)
    if damage == "truncate":
        content = content[: data.draw(st.integers(0, len(content) - 1))]
    elif damage == "flip":
        position = data.draw(st.integers(0, len(content) - 1))
        content[position] ^= data.draw(st.integers(1, 255))
    elif damage == "append":
        content += data.draw(st.binary(min_size=1, max_size=32))
    else:  # another file of the same size: right length, wrong bytes
        content = bytearray(data.draw(st.binary(min_size=len(content), max_size=len(content))))
        assume(content != original_labels)
    path = folder / LABELS
    path.write_bytes(bytes(content))
    with pytest.raises(DataError, match="bytes, expected 10,008|SHA-256 .* expected ff7bcfd4") as error:
        verify_file(path)
    assert str(path) in str(error.value) and "vaekit data" in str(error.value)


def test_a_data_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "data").write_text("a file where the folder should be")
    with pytest.raises(DataError, match=f"cannot create the data folder {tmp_path / 'data'}"):
        ensure_mnist(tmp_path / "data")


def test_every_damaged_file_is_named_by_ensure_mnist(tmp_path):
    raw = raw_folder(tmp_path)
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        (raw / name).symlink_to(raw_folder().resolve() / name)
    (raw / LABELS).unlink()
    (raw / LABELS).write_bytes(idx_bytes(0x08, (10_000,)))  # a valid IDX file of the right size, all zeros
    with pytest.raises(DataError, match=f"{raw / LABELS} has SHA-256"):
        ensure_mnist(tmp_path)
    shutil.rmtree(raw)
