"""A small CNN per dataset: the judge of samples, with no download and no Inception network.

"How good are the samples?" is usually answered with FID, the Fréchet distance
between Inception-v3 features of real and generated images. Inception downloads
its weights at run time and was trained on 299 x 299 photographs, not 28 x 28
digits. vaekit ships instead one small classifier per dataset, trained here
by ``python -m vaekit classifier --dataset NAME`` in a few minutes on a CPU:

    conv 5x5, stride 2 (32) - batch norm - ReLU   28 -> 14
    conv 3x3, stride 2 (64) - batch norm - ReLU   14 -> 7
    conv 3x3, stride 2 (128) - batch norm - ReLU   7 -> 4
    average over the 4 x 4 positions               128
    linear 128 -> 128 - ReLU                       the features (``features``)
    linear 128 -> classes                          the logits

(Strided convolutions rather than full-resolution ones with max-pooling: a
quarter of the time per step on a CPU. 112k parameters, 450 KB.)

Its 64 features feed the Fréchet distance and its class probabilities the
histogram of what a VAE draws (``vaekit.quality``). The weights are safetensors
files in ``vaekit/pretrained/classifiers/`` with their configuration and test
accuracy in the header.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from .checkpoint import write_atomically
from .data import MNIST_INFO, to_float
from .errors import CheckpointError

FOLDER = Path(__file__).resolve().parent / "pretrained" / "classifiers"
FORMAT = "vaekit-classifier"
# How the shipped classifiers were trained (``python -m vaekit classifier --dataset NAME``): random shifts
# help digits, whose position varies; Fashion-MNIST's items are centred and fill the frame.
TRAINING = {"mnist": {"epochs": 6, "shift": 2}, "fashion-mnist": {"epochs": 6, "shift": 0}}


@dataclass(frozen=True)
class ClassifierConfig:
    dataset: str = "mnist"
    class_names: tuple[str, ...] = tuple(str(d) for d in range(10))
    image_shape: tuple[int, int, int] = (1, 28, 28)
    channels: tuple[int, ...] = (32, 64, 128)  # one conv block each
    features: int = 128

    def __post_init__(self):
        # A config is read from files: judge it before any memory is spent on it.
        ok = (
            isinstance(self.dataset, str)
            and 1 <= len(self.class_names) <= 1000
            and all(isinstance(n, str) for n in self.class_names)
            and len(self.image_shape) == 3
            and all(isinstance(s, int) and 1 <= s <= 4096 for s in self.image_shape)
            and 1 <= len(self.channels) <= 4
            and all(isinstance(c, int) and 1 <= c <= 512 for c in self.channels)
            and isinstance(self.features, int)
            and 1 <= self.features <= 4096
        )
        if not ok:
            raise CheckpointError(f"invalid classifier configuration {self}")

    @classmethod
    def from_dict(cls, data: dict) -> ClassifierConfig:
        known = {"dataset", "class_names", "image_shape", "channels", "features"}
        if not isinstance(data, dict) or set(data) != known:
            raise CheckpointError(f"a classifier configuration needs exactly the keys {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class Classifier(nn.Module):
    """Images (B, C*H*W) in [0, 1] -> class logits (B, classes); ``features`` gives the layer before."""

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or ClassifierConfig()
        layers, channels = [], config.image_shape[0]
        for i, out in enumerate(config.channels):
            kernel = 5 if i == 0 else 3
            layers += [nn.Conv2d(channels, out, kernel, stride=2, padding=kernel // 2, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.convolutions = nn.Sequential(*layers)
        self.features_layer = nn.Linear(channels, config.features)
        self.output = nn.Linear(config.features, len(config.class_names))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C*H*W) -> (B, features): what the Fréchet distance compares."""
        h = self.convolutions(x.reshape(-1, *self.config.image_shape))  # (B, channels)
        return F.relu(self.features_layer(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x))


@torch.no_grad()
def apply(classifier: Classifier, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, F) and class probabilities (N, classes) of ``images`` (uint8 or [0, 1] floats)."""
    classifier.eval()
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
        h = classifier.features(to_float(images[start : start + batch_size]))
        features.append(h)
        probabilities.append(torch.softmax(classifier.output(h), dim=1))
    return torch.cat(features), torch.cat(probabilities)


def accuracy(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of ``images`` whose most probable class is their label."""
    _, probabilities = apply(classifier, images)
    return (probabilities.argmax(dim=1) == labels).float().mean().item()


def shifted(images: torch.Tensor, shape: tuple[int, int, int], most: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own random whole-pixel shift of up to ``most`` pixels each way.

    The one augmentation here: the test digits are not all centred alike. (A
    shift wraps around, which moves only the empty border in MNIST.)
    """
    images = images.reshape(-1, *shape)
    shifts = torch.randint(-most, most + 1, (len(images), 2), generator=generator)
    out = torch.empty_like(images)
    for dy in range(-most, most + 1):
        for dx in range(-most, most + 1):
            rows = ((shifts[:, 0] == dy) & (shifts[:, 1] == dx)).nonzero()[:, 0]
            if len(rows):
                out[rows] = images[rows].roll((dy, dx), dims=(2, 3))
    return out.flatten(1)


def train(
    config: ClassifierConfig,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    epochs: int = 3,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    seed: int = 0,
    shift: int = 2,
    on_epoch_end=None,
) -> Classifier:
    """Adam with a learning rate falling to 0 along a cosine, on images shifted at random by up to ``shift``
    pixels; ``on_epoch_end(epoch, seconds)`` reports."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = Classifier(config)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=learning_rate)
    steps = epochs * (len(train_images) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    classifier.train()
    for epoch in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(train_images), generator=generator)
        for i in range(0, len(order) - batch_size + 1, batch_size):
            index = order[i : i + batch_size]
            batch = to_float(train_images[index])
            if shift:
                batch = shifted(batch, config.image_shape, shift, generator)
            loss = F.cross_entropy(classifier(batch), train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch, time.perf_counter() - start)
    return classifier.eval()


# -- files --------------------------------------------------------------------


def save(path: str | os.PathLike, classifier: Classifier, test_accuracy: float) -> Path:
    """Write the weights with the configuration and test accuracy in the header, atomically."""
    path = Path(path)
    tensors = {name: t.detach().cpu().contiguous() for name, t in classifier.state_dict().items()}
    metadata = {"format": FORMAT, "config": json.dumps(asdict(classifier.config)), "test_accuracy": repr(test_accuracy)}
    write_atomically(path, safetensors_bytes(tensors, metadata=metadata))
    return path


def load(path: str | os.PathLike) -> tuple[Classifier, float]:
    """A classifier and its recorded test accuracy; every tensor is checked against the configuration."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"classifier {path} does not exist; train one with `python -m vaekit classifier`")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not a vaekit classifier (no 'format: {FORMAT}' in its header)")
            config = ClassifierConfig.from_dict(json.loads(metadata.get("config", "null")))
            classifier = Classifier(config)
            expected = classifier.state_dict()
            if set(f.keys()) != set(expected):
                raise CheckpointError(f"{path}: tensors {sorted(f.keys())} do not fit the configuration {config}")
            tensors = {name: f.get_tensor(name) for name in expected}
        test_accuracy = float(metadata.get("test_accuracy", "nan"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable classifier file: {exc}") from exc
    for name, tensor in tensors.items():
        want = expected[name]
        if tensor.shape != want.shape or tensor.dtype != want.dtype or not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: tensor {name!r} is not finite {want.dtype} {tuple(want.shape)}")
    classifier.load_state_dict(tensors)
    return classifier.eval(), test_accuracy


def available() -> list[str]:
    """Datasets with a shipped classifier."""
    return sorted(p.stem for p in FOLDER.glob("*.safetensors"))


def pretrained(dataset: str = "mnist") -> Classifier:
    """The shipped classifier for ``dataset`` ("mnist", "fashion-mnist")."""
    path = FOLDER / f"{dataset}.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"no classifier is shipped for {dataset!r} (shipped: {available()}); "
            f"train one with `python -m vaekit classifier --dataset {dataset}`"
        )
    return load(path)[0]


def for_model(model) -> tuple[Classifier | None, str]:
    """The shipped classifier of the dataset ``model`` was trained on (MNIST if it names none) and one line
    that names it and its test accuracy; or None and a line that says why there is none (a folder dataset)."""
    info = getattr(model, "data_info", None) or MNIST_INFO
    if info.name not in available():
        return None, f"no classifier is shipped for {info.name} (only for {', '.join(available())})"
    classifier, test_accuracy = load(FOLDER / f"{info.name}.safetensors")
    config = classifier.config
    if config.class_names != tuple(info.class_names) or config.image_shape != tuple(info.image_shape):
        return None, f"the {info.name} classifier's classes or image size are not this model's"
    return classifier, f"the {info.name} classifier ({100 * test_accuracy:.1f} % right on its test set)"
