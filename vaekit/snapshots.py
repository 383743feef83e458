"""Snapshots while training: what the model makes, epoch by epoch, kept in its checkpoint.

A learner sees the final model only. ``Snapshots`` records, at the end of every
epoch, what it takes to replay the training afterwards:

- the KL of each latent dimension on a fixed set of test images (which
  dimensions the model uses, and when each one switches on);
- the decodings of 16 fixed codes drawn once from the prior (the sample grid);
- the reconstructions of 8 fixed test images;
- the epoch's losses.

Images are stored as uint8 (0-255), so an epoch of the seed model costs about
19 KB (``bytes_per_epoch``). The series travel in the checkpoint as safetensors
tensors named ``snapshots.*`` (validated on load like every other tensor, in
``checkpoint.py``); ``read(path)`` gives them back as a ``Timeline``.

    snapshots = Snapshots()
    history = fit(model, train, test, config, callbacks=[snapshots])
    save("model.safetensors", model, history, state=snapshots.state_tensors())
    timeline = read("model.safetensors")   # timeline.samples[e]: the grid after epoch e
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from . import checkpoint as ckpt
from .checkpoint import SNAPSHOT_LOSS_COLUMNS as LOSS_COLUMNS
from .checkpoint import SNAPSHOT_PREFIX as PREFIX
from .data import to_float
from .errors import CheckpointError
from .latent import kl_per_dimension
from .train import Callback

PRIOR_CODES = 16  # the sample grid: 4 x 4 digits
FIXED_IMAGES = 8  # test images shown next to their reconstructions
KL_IMAGES = 1000  # test images the per-dimension KL is averaged over
SEED = 0  # draws the fixed prior codes; independent of the training's generators


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Intensities in [0, 1] -> uint8 0-255 (rounded), on the CPU."""
    return images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()


def _decode(model, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images in [0, 1] for ``codes``; a conditional model also gets class labels."""
    return torch.sigmoid(model.decode(codes, labels))


@dataclass
class Frame:
    """What the model makes at one moment: uint8 images and the KL of each dimension."""

    kl: torch.Tensor  # (latent,) nats, float32
    samples: torch.Tensor  # (PRIOR_CODES, pixels) uint8
    reconstructions: torch.Tensor  # (FIXED_IMAGES, pixels) uint8


class Probe:
    """The fixed inputs a snapshot is taken on: prior codes, a few test images, the KL's image set.

    Used by ``Snapshots`` and by the TensorBoard callback, so both show the same things.
    """

    def __init__(self, model, images: torch.Tensor, labels: torch.Tensor | None = None,
                 prior_codes: torch.Tensor | None = None, seed: int = SEED):
        latent = model.config.latent_size
        if prior_codes is None:
            prior_codes = torch.randn(PRIOR_CODES, latent, generator=torch.Generator().manual_seed(seed))
        self.prior_codes = prior_codes.float().cpu()  # (16, latent)
        self.kl_images = images[:KL_IMAGES]
        self.originals = images[:FIXED_IMAGES]
        classes = model.config.num_classes
        self.labels = labels[:KL_IMAGES] if classes and labels is not None else None  # only a conditional model's
        # A conditional model decodes each prior code as a class: 0, 1, 2, ... in turn.
        self.prior_labels = torch.arange(PRIOR_CODES) % classes if classes else None

    def originals_uint8(self) -> torch.Tensor:
        return to_uint8(to_float(self.originals))

    @torch.no_grad()
    def take(self, model) -> Frame:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        try:
            originals = to_float(self.originals).to(device)
            labels = None if self.labels is None else self.labels.to(device)
            kl_images = to_float(self.kl_images)
            kl = (kl_per_dimension(model, kl_images) if labels is None
                  else kl_per_dimension(model, kl_images, labels=labels))
            prior_labels = None if self.prior_labels is None else self.prior_labels.to(device)
            samples = _decode(model, self.prior_codes.to(device), prior_labels)
            fixed_labels = None if labels is None else labels[:FIXED_IMAGES]
            means, _ = model.encode(originals, fixed_labels)
            reconstructions = _decode(model, means, fixed_labels)
        finally:
            model.train(was_training)
        return Frame(kl.float().cpu(), to_uint8(samples), to_uint8(reconstructions))


class Snapshots(Callback):
    """Records a ``Frame`` and the losses at the end of every epoch (see the module's docstring).

    The series are kept in the training checkpoint (``state_tensors``), so a
    run resumed after a kill continues them; a resumed run takes the fixed codes
    and images from the checkpoint.
    """

    def __init__(self, seed: int = SEED):
        self.seed = seed
        self.probe: Probe | None = None
        self.epochs: list[int] = []
        self.frames: list[Frame] = []
        self.losses: list[list[float]] = []
        self._restored: dict[str, torch.Tensor] = {}

    def on_train_begin(self, trainer) -> None:
        images = trainer.test_images if trainer.test_images is not None else trainer.train_images
        labels = getattr(trainer, "test_labels" if trainer.test_images is not None else "train_labels", None)
        restored = self._restored
        self.probe = Probe(trainer.model, images.cpu(), None if labels is None else labels.cpu(),
                           restored.get(PREFIX + "prior_codes"), self.seed)
        if PREFIX + "originals" in restored:
            self.probe.originals = restored[PREFIX + "originals"]

    def on_epoch_record(self, trainer, record: dict) -> None:
        self.epochs.append(int(record["epoch"]))
        self.frames.append(self.probe.take(trainer.model))
        self.losses.append([float(record.get(column, math.nan)) for column in LOSS_COLUMNS])

    # -- in and out of checkpoints ------------------------------------------

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The series as ``snapshots.*`` tensors, for ``checkpoint.save(..., state=...)``."""
        if not self.frames:
            return {}
        return {
            PREFIX + "epoch": torch.tensor(self.epochs, dtype=torch.int64),
            PREFIX + "kl": torch.stack([f.kl for f in self.frames]),
            PREFIX + "samples": torch.stack([f.samples for f in self.frames]),
            PREFIX + "reconstructions": torch.stack([f.reconstructions for f in self.frames]),
            PREFIX + "losses": torch.tensor(self.losses, dtype=torch.float32),
            PREFIX + "prior_codes": self.probe.prior_codes,
            PREFIX + "originals": self.probe.originals_uint8(),
        }

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Continue the series of a checkpoint that a run resumes from (validated by ``checkpoint``)."""
        mine = {k: v for k, v in tensors.items() if k.startswith(PREFIX)}
        self._restored = mine
        if PREFIX + "epoch" not in mine:
            return
        self.epochs = mine[PREFIX + "epoch"].tolist()
        self.frames = [Frame(*parts) for parts in zip(mine[PREFIX + "kl"], mine[PREFIX + "samples"],
                                                      mine[PREFIX + "reconstructions"])]
        self.losses = mine[PREFIX + "losses"].tolist()


def bytes_per_epoch(tensors: dict[str, torch.Tensor]) -> float:
    """The bytes one more epoch adds to a checkpoint (the per-epoch series only)."""
    per_epoch = [t for name, t in tensors.items() if name.removeprefix(PREFIX) in ckpt.SNAPSHOT_SERIES]
    epochs = len(tensors[PREFIX + "epoch"])
    return sum(t.numel() * t.element_size() for t in per_epoch) / epochs


@dataclass
class Timeline:
    """A run's snapshots, read back: index ``i`` is the end of epoch ``epochs[i]`` (0-based)."""

    epochs: torch.Tensor  # (E,) int64
    kl: torch.Tensor  # (E, latent) nats
    samples: torch.Tensor  # (E, 16, pixels) uint8
    reconstructions: torch.Tensor  # (E, 8, pixels) uint8
    originals: torch.Tensor  # (8, pixels) uint8
    prior_codes: torch.Tensor  # (16, latent)
    losses: dict[str, torch.Tensor]  # LOSS_COLUMNS -> (E,), NaN where not measured
    history: dict  # the checkpoint's history (per-step losses for the loss curve)

    def __len__(self) -> int:
        return len(self.epochs)

    def float_images(self, name: str, index: int) -> torch.Tensor:
        """``samples``/``reconstructions``/``originals`` of frame ``index`` as floats in [0, 1]."""
        series = getattr(self, name)
        return to_float(series if name == "originals" else series[index])


def from_tensors(tensors: dict[str, torch.Tensor], history: dict | None = None) -> Timeline | None:
    """A ``Timeline`` from a checkpoint's (validated) tensors, or None if it holds no snapshots."""
    if PREFIX + "epoch" not in tensors:
        return None
    losses = tensors[PREFIX + "losses"]
    return Timeline(
        epochs=tensors[PREFIX + "epoch"],
        kl=tensors[PREFIX + "kl"],
        samples=tensors[PREFIX + "samples"],
        reconstructions=tensors[PREFIX + "reconstructions"],
        originals=tensors[PREFIX + "originals"],
        prior_codes=tensors[PREFIX + "prior_codes"],
        losses={column: losses[:, i] for i, column in enumerate(LOSS_COLUMNS)},
        history=history or {"epochs": [], "batch_losses": []},
    )


def read(path: str | os.PathLike | ckpt.Checkpoint) -> Timeline:
    """The snapshots a checkpoint holds: ``read("runs/seed/model.safetensors")``."""
    checkpoint = path if isinstance(path, ckpt.Checkpoint) else ckpt.load_checkpoint(path)
    timeline = from_tensors(checkpoint.state, checkpoint.history)
    if timeline is None:
        raise CheckpointError(
            f"{checkpoint.path or 'the checkpoint'} holds no training snapshots; train with "
            "`python -m vaekit train` (snapshots are on unless --no-snapshots) or the Snapshots callback"
        )
    return timeline
