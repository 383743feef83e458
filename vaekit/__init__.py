"""vaekit: train, generate with, and explore a variational autoencoder on MNIST.

    import vaekit
    data = vaekit.load_mnist()
    model = vaekit.build("seed")
    history = vaekit.fit(model, data.train_images, data.test_images, vaekit.TrainConfig(epochs=5))
    images = model.sample(60)
"""

# Before anything imports torch: PyTorch's threads sleep rather than spin while
# they wait for each other (vaekit/threads.py says why).
from .threads import prefer_passive_waiting

PASSIVE_WAITING = prefer_passive_waiting()

from .checkpoint import load, load_checkpoint, save
from .data import MNISTData, load_mnist
from .errors import CheckpointError, DataError, TrainingError, VaekitError
from .model import PRESETS, VAE, VAEConfig, VAELoss, build
from .pretrained import prefer_checkpoint, pretrained_path
from .train import Callback, ProgressBar, TrainConfig, Trainer, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "VAE",
    "Callback",
    "CheckpointError",
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
    "load_mnist",
    "prefer_checkpoint",
    "pretrained_path",
    "save",
]
