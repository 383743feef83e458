"""TensorBoard event files from a training run: ``train --tensorboard DIR`` or ``TensorBoardLog(DIR)``.

Written with PyTorch's own ``SummaryWriter``; view them with ``tensorboard --logdir DIR``.

- Scalars, per epoch (x = epochs done): ``train/total``, ``train/reconstruction``,
  ``train/kl`` and the same under ``test/``; ``kl_per_dimension/z00``... (nats,
  on a fixed set of test images); per step: ``step/loss``.
- Images, per epoch: ``samples`` (the decodings of 16 fixed prior codes) and
  ``reconstructions`` (8 fixed test images above their reconstructions), the
  same fixed inputs as the training snapshots (``vaekit.snapshots.Probe``).
- The embedding projector, at the end: the mean codes of test images with their
  class as metadata and the images as sprites.
"""

from __future__ import annotations

import os

import torch

from .data import class_names, to_float
from .snapshots import Probe
from .train import Callback

EMBEDDING_IMAGES = 1000  # test images in the projector (sprites grow with the square root)


def _image_shape(model) -> tuple[int, int, int]:
    return tuple(model.config.image_shape)


class TensorBoardLog(Callback):
    """Writes a run's losses, per-dimension KL, image grids and code embedding for TensorBoard.

    ``labels``: the classes of the trainer's test images, shown in the projector
    (default: the trainer's ``test_labels`` if it has them, else none).
    """

    def __init__(self, log_dir: str | os.PathLike, labels: torch.Tensor | None = None,
                 embedding_images: int = EMBEDDING_IMAGES):
        self.log_dir = str(log_dir)
        self.labels = labels
        self.embedding_images = embedding_images
        self.writer = None
        self.probe: Probe | None = None

    def on_train_begin(self, trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter  # here: importing tensorboard costs a second

        self.writer = SummaryWriter(self.log_dir)
        self.images = trainer.test_images if trainer.test_images is not None else trainer.train_images
        if self.labels is None:
            self.labels = getattr(trainer, "test_labels", None) if trainer.test_images is not None else None
        self.probe = Probe(trainer.model, self.images.cpu(), None if self.labels is None else self.labels.cpu())

    def on_batch_end(self, trainer, batch_loss: float) -> None:
        step = trainer.epoch * trainer.steps_per_epoch + trainer.step
        self.writer.add_scalar("step/loss", batch_loss, step)

    def on_epoch_end(self, trainer, record: dict) -> None:
        epoch = int(record["epoch"]) + 1  # epochs done
        for split in ("train", "test"):
            for term in ("total", "reconstruction", "kl"):
                if f"{split}_{term}" in record:
                    self.writer.add_scalar(f"{split}/{term}", record[f"{split}_{term}"], epoch)
        frame = self.probe.take(trainer.model)
        for d, value in enumerate(frame.kl.tolist()):
            self.writer.add_scalar(f"kl_per_dimension/z{d:02d}", value, epoch)
        shape = _image_shape(trainer.model)
        self.writer.add_image("samples", _grid(frame.samples, shape, nrow=4), epoch)
        pairs = torch.cat([self.probe.originals_uint8(), frame.reconstructions])
        self.writer.add_image("reconstructions", _grid(pairs, shape, nrow=len(frame.reconstructions)), epoch)
        self.writer.flush()

    def on_train_end(self, trainer) -> None:
        model, n = trainer.model, self.embedding_images
        images = to_float(self.images[:n]).cpu()
        labels = None if self.labels is None else self.labels[:n].cpu()
        with torch.no_grad():
            condition = None if labels is None or not model.config.conditional else labels.to(trainer.device)
            codes = model.encode(images.to(trainer.device), condition)[0].cpu()
        metadata = None
        if labels is not None:
            names = class_names(model)
            metadata = [names[i] if 0 <= i < len(names) else str(i) for i in labels.tolist()]
        self.writer.add_embedding(codes, metadata=metadata, label_img=images.reshape(-1, *_image_shape(model)),
                                  global_step=trainer.epoch, tag="test_codes")
        self.writer.close()


def _grid(images: torch.Tensor, shape: tuple[int, int, int], nrow: int) -> torch.Tensor:
    """uint8 (N, pixels) -> one (C, H, W) uint8 grid with white gaps."""
    from torchvision.utils import make_grid

    grid = make_grid(images.reshape(-1, *shape), nrow=nrow, padding=2, pad_value=255)
    return grid[: shape[0]] if shape[0] in (1, 3) else grid
