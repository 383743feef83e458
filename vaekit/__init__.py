"""vaekit: train, generate with, and explore variational autoencoders on MNIST, Fashion-MNIST or your images.

    import vaekit
    data = vaekit.load_dataset("mnist")             # or "fashion-mnist", "folder:PATH"
    model = vaekit.build("seed")                    # or "logvar", "2d", "conv"; num_classes=10 for a conditional VAE
    history = vaekit.fit(model, data.train_images, data.test_images, vaekit.TrainConfig(epochs=5),
                         callbacks=[vaekit.EpochLog()])
    images = model.sample(60)

The names below are imported on first use, so that ``import vaekit`` (and ``python -m vaekit
--help``) costs nothing until torch is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .threads import bound_spinning

# Before anything imports torch: PyTorch's threads spin only briefly, then sleep,
# while they wait for each other (vaekit/threads.py says why).
BOUNDED_WAITING = bound_spinning()

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "load": "checkpoint", "load_checkpoint": "checkpoint", "save": "checkpoint",
    "DATASETS": "data", "DataInfo": "data", "Dataset": "data", "MNISTData": "data", "load_dataset": "data",
    "load_mnist": "data",
    "CheckpointError": "errors", "ConfigError": "errors", "DataError": "errors", "TrainingError": "errors",
    "VaekitError": "errors",
    "VAE": "model", "VAEConfig": "model", "VAELoss": "model",
    "ARCHITECTURES": "models", "PRESETS": "models", "build": "models",
    "prefer_checkpoint": "pretrained", "pretrained_path": "pretrained",
    "resolve_checkpoint": "runs",
    "HISTORY_KEYS": "train", "Callback": "train", "EpochLog": "train", "ProgressBar": "train",
    "TrainConfig": "train", "Trainer": "train", "evaluate": "train", "fit": "train",
}

__all__ = [
    "ARCHITECTURES",
    "Callback",
    "CheckpointError",
    "ConfigError",
    "DATASETS",
    "DataError",
    "DataInfo",
    "Dataset",
    "EpochLog",
    "HISTORY_KEYS",
    "MNISTData",
    "PRESETS",
    "ProgressBar",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "VAE",
    "VAEConfig",
    "VAELoss",
    "VaekitError",
    "build",
    "evaluate",
    "fit",
    "load",
    "load_checkpoint",
    "load_dataset",
    "load_mnist",
    "prefer_checkpoint",
    "pretrained_path",
    "resolve_checkpoint",
    "save",
]

if TYPE_CHECKING:  # what editors and type checkers see
    from .checkpoint import load, load_checkpoint, save
    from .data import DATASETS, DataInfo, Dataset, MNISTData, load_dataset, load_mnist
    from .errors import CheckpointError, ConfigError, DataError, TrainingError, VaekitError
    from .model import VAE, VAEConfig, VAELoss
    from .models import ARCHITECTURES, PRESETS, build
    from .pretrained import prefer_checkpoint, pretrained_path
    from .runs import resolve_checkpoint
    from .train import HISTORY_KEYS, Callback, EpochLog, ProgressBar, TrainConfig, Trainer, evaluate, fit


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
