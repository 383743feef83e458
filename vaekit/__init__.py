"""vaekit: train, generate with, and explore variational autoencoders on MNIST, Fashion-MNIST or your images.

    import vaekit
    data = vaekit.load_dataset("mnist")             # or "fashion-mnist", "folder:PATH"
    model = vaekit.build("seed")                    # or "logvar", "2d", "conv"; num_classes=10 for a conditional VAE
    history = vaekit.fit(model, data.train_images, data.test_images, vaekit.TrainConfig(epochs=5))
    images = model.sample(60)
"""

from .checkpoint import load, load_checkpoint, save
from .data import DATASETS, DataInfo, Dataset, MNISTData, load_dataset, load_mnist
from .errors import CheckpointError, ConfigError, DataError, TrainingError, VaekitError
from .model import VAE, VAEConfig, VAELoss
from .models import ARCHITECTURES, PRESETS, build
from .pretrained import prefer_checkpoint, pretrained_path
from .train import Callback, ProgressBar, TrainConfig, Trainer, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "DATASETS",
    "PRESETS",
    "VAE",
    "Callback",
    "CheckpointError",
    "ConfigError",
    "DataInfo",
    "Dataset",
    "DataError",
    "MNISTData",
    "ProgressBar",
    "TrainConfig",
    "Trainer",
    "TrainingError",
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
    "save",
]
