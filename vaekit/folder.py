"""Your own images as a dataset: ``--dataset folder:PATH``.

The folder holds one subfolder per class, as torchvision's ``ImageFolder``::

    PATH/cat/001.png  PATH/cat/002.jpg  ...  PATH/dog/001.png  ...

Each PNG or JPEG, of any size and colour, is converted to grayscale (Pillow's
"L": 0.299 R + 0.587 G + 0.114 B) and resized to 28 x 28 with Pillow's
bilinear filter, without keeping its aspect ratio. MNIST's digits are white on
black: draw your images the same way round for the models shipped with vaekit.
Within each class, sorted by file name, every tenth image (the 1st, 11th, ...)
is held out as the test set, so the split is the same on every machine.

The converted images are cached in ``<data root>/folders/`` (written through a
temporary file, so an interrupted run leaves nothing half-written) and
re-converted only when a file in the folder changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .data import DataInfo, Dataset, data_root
from .errors import DataError

SIDE = 28
EXTENSIONS = (".png", ".jpg", ".jpeg")
TEST_EVERY = 10  # every tenth image of a class is a test image
MAX_IMAGES = 1_000_000
MAX_PIXELS = 50_000_000  # per image: larger ones are refused before they are decoded
CACHE_VERSION = 1


def _classes(folder: Path) -> list[tuple[str, list[Path]]]:
    if not folder.exists():
        raise DataError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; --dataset folder:PATH wants a folder with one subfolder per class")
    classes = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
        if not files:
            raise DataError(f"class folder {sub} holds no PNG or JPEG image; add some or remove the folder")
        if len(files) < 2:
            raise DataError(f"class folder {sub} holds one image; each class needs at least 2 (one for the test set)")
        classes.append((sub.name, files))
    if len(classes) < 2:
        found = f"only the class folder {classes[0][0]!r}" if classes else "no class folders"
        raise DataError(
            f"{folder} has {found}; a dataset needs one subfolder per class and at least two classes "
            "(PATH/cats/*.png, PATH/dogs/*.png, ...)"
        )
    total = sum(len(files) for _, files in classes)
    if total > MAX_IMAGES:
        raise DataError(f"{folder} holds {total:,} images; vaekit keeps datasets in memory, at most {MAX_IMAGES:,}")
    return classes


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise DataError(f"image {path} is {image.width} x {image.height} pixels; at most {MAX_PIXELS:,}")
                gray = image.convert("L").resize((SIDE, SIDE), Image.BILINEAR)
                return np.asarray(gray, dtype=np.uint8).reshape(-1)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path}: {exc}; remove it or replace it with a PNG or JPEG") from None


def _fingerprint(classes: list[tuple[str, list[Path]]]) -> str:
    digest = hashlib.sha256()
    for name, files in classes:
        for path in files:
            stat = path.stat()
            digest.update(f"{name}/{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_folder(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Dataset:
    """The images under ``path`` (one subfolder per class) as a Dataset (see the module's docstring)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    folder = Path(path).expanduser().resolve()
    classes = _classes(folder)
    info = DataInfo(f"folder:{folder}", tuple(name for name, _ in classes), (1, SIDE, SIDE))
    fingerprint = _fingerprint(classes)
    cache = data_root(root) / "folders" / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:16]}.safetensors"
    try:
        from safetensors import safe_open

        with safe_open(str(cache), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("fingerprint") == fingerprint and meta.get("version") == str(CACHE_VERSION):
            t = load_file(str(cache))
            return Dataset(t["train_images"], t["train_labels"], t["test_images"], t["test_labels"], info)
    except (OSError, SafetensorError, KeyError, ValueError):
        pass  # no cache, or a stale or damaged one: convert again
    splits = {True: ([], []), False: ([], [])}
    for label, (_, files) in enumerate(classes):
        for i, file in enumerate(files):
            images, labels = splits[i % TEST_EVERY != 0]  # the 1st, 11th, ... are test images
            images.append(_read_image(file))
            labels.append(label)
    tensors = {}
    for train, key in ((True, "train"), (False, "test")):
        images, labels = splits[train]
        tensors[f"{key}_images"] = torch.from_numpy(np.stack(images))
        tensors[f"{key}_labels"] = torch.tensor(labels, dtype=torch.int64)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{cache.name}.{os.getpid()}.partial")
        save_file(tensors, str(partial), metadata={"fingerprint": fingerprint, "version": str(CACHE_VERSION),
                                                   "classes": json.dumps(info.class_names)})
        partial.replace(cache)
    except OSError:
        pass  # a read-only data folder: the dataset still loads, only the cache is missing
    finally:
        if "partial" in locals():
            partial.unlink(missing_ok=True)
    return Dataset(tensors["train_images"], tensors["train_labels"], tensors["test_images"], tensors["test_labels"],
                   info)
