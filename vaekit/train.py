"""The training loop: small, deterministic, and silent.

The trainer owns the loop and nothing else. It reports through callbacks
(``on_batch_end``, ``on_epoch_end``) and a history; the progress bar, the live
loss plot and the command line's log are all callbacks. With the same seed it
gives the same numbers on the CPU, and a run resumed from a training
checkpoint continues exactly where it stopped.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from . import checkpoint as ckpt
from . import distributed, fastpath, precision
from .data import BINARIZED_TEST_SEED, binarize, shuffled_batches, to_float
from .device import pick_device
from .errors import CheckpointError, ConfigError, TrainingError
from .model import VAE

EVAL_BATCH_SIZE = 1000


@dataclass
class TrainConfig:
    """The seed's schedule by default: Adam at 1e-3, batches of 150, 50 epochs."""

    epochs: int = 50
    batch_size: int = 150
    learning_rate: float = 1e-3
    seed: int = 42  # shuffling and the reparameterisation noise
    device: str = "auto"  # "auto" takes CUDA, then Apple's MPS, then the CPU
    grad_clip: float | None = None  # max gradient norm; None = no clipping (the seed)
    checkpoint_every: int | None = None  # steps between training checkpoints; None = every epoch
    # bfloat16 autocast for the networks' matrix products (the decoder's output
    # layer, the loss, the optimizer and evaluation stay float32): faster on CPUs
    # with AVX-512 BF16 or AMX and on recent GPUs; see benchmarks/README.md.
    fast: bool = False
    # Dynamically binarized MNIST, as in the published likelihood tables: every
    # batch's pixels are re-drawn as 0/1 with probability = intensity, and the
    # test set is binarized once with a fixed seed (data.BINARIZED_TEST_SEED).
    binarize: bool = False
    # The KL's weight in the objective: 1 is the ELBO; beta > 1 is Higgins et
    # al.'s beta-VAE (2017), trading reconstruction for a simpler code.
    beta: float = 1.0
    # KL warm-up (Bowman et al. 2016; Sønderby et al. 2016): the KL's weight
    # rises linearly from 0 to beta over this many epochs; 0 = no warm-up.
    kl_warmup: int = 0

    def __post_init__(self):
        checks = [
            ("epochs", self.epochs, 0),
            ("batch_size", self.batch_size, 1),
            ("kl_warmup", self.kl_warmup, 0),
        ]
        for name, value, least in checks:
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")
        for name in ("learning_rate", "beta") + (("grad_clip",) if self.grad_clip is not None else ()):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        if self.checkpoint_every is not None and (
            not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 1
        ):
            raise ConfigError(f"checkpoint_every must be a positive number of steps, got {self.checkpoint_every!r}")
        if not isinstance(self.device, str) or (
            self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:")
        ):
            raise ConfigError(f"device must be auto, cpu, cuda or mps, got {self.device!r}")

    def kl_weight(self, epochs_done: float) -> float:
        """The KL's weight after ``epochs_done`` epochs (fractional): beta, ramped up during the warm-up."""
        if self.kl_warmup == 0:
            return self.beta
        return self.beta * min(1.0, epochs_done / self.kl_warmup)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Callback:
    """Override what you need; the trainer calls these hooks in this order."""

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def on_batch_end(self, trainer: Trainer, batch_loss: float) -> None:
        """``batch_loss``: the step's negative ELBO per image, before the update."""

    def on_epoch_record(self, trainer: Trainer, record: dict) -> None:
        """An epoch is done and ``record`` is its line of the history; the checkpoint is written next.

        For callbacks that keep something of each epoch in the checkpoint (``state_tensors``).
        """

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        """``record``: the epoch's line of the history (see ``Trainer._end_epoch``), already checkpointed."""

    def on_train_end(self, trainer: Trainer) -> None: ...

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors this callback keeps in the training checkpoint, so that a resumed run continues them.

        Names carry the callback's own prefix, and ``checkpoint.py`` must know how to validate them.
        """
        return {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Called by ``Trainer.restore`` with every non-weight tensor of the checkpoint resumed from."""


@torch.no_grad()
def evaluate(
    model: VAE,
    images: torch.Tensor,
    seed: int = 0,
    batch_size: int = EVAL_BATCH_SIZE,
    labels: torch.Tensor | None = None,
) -> dict:
    """Negative ELBO on ``images`` in nats per image, with one code sampled per image.

    The noise is seeded, so the same model and images give the same number.
    A conditional model needs the images' ``labels``.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    reconstruction = kl = 0.0
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size].to(device))
        y = None if labels is None else labels[start : start + batch_size].to(device)
        loss = model.loss(x, y, generator)
        reconstruction += loss.reconstruction.item()
        kl += loss.kl.item()
    model.train(was_training)
    n = len(images)
    return {"total": (reconstruction + kl) / n, "reconstruction": reconstruction / n, "kl": kl / n}


# The history that ``fit`` returns (and every checkpoint holds):
#   history["batch_losses"]: the negative ELBO per image of every training step, before its update;
#   history["epochs"]: one record per epoch with the keys below (losses in nats per image).
HISTORY_KEYS = {
    "epoch": "the epoch's number, from 0",
    "train_total": "mean negative ELBO per image over the epoch's training batches",
    "train_reconstruction": "its reconstruction term, -log p(x|z)",
    "train_kl": "its KL term, KL(q(z|x) || N(0, I))",
    "train_objective": "what was minimised: reconstruction + beta * KL (train_total when beta is 1)",
    "beta": "the KL's weight at the epoch's end (TrainConfig.beta, ramped up during kl_warmup)",
    "last_batch_total": "the epoch's last batch after the update, summed over its images (the seed's printout)",
    "last_batch_reconstruction": "that batch's reconstruction term, summed",
    "last_batch_kl": "that batch's KL term, summed",
    "test_total": "negative ELBO per image on the test images (only when test images were given)",
    "test_reconstruction": "its reconstruction term",
    "test_kl": "its KL term",
    "seconds": "the epoch's training time",
}


# The TrainConfig fields a resumed run may change: they do not change the mathematics of a step.
RESUMABLE_CHANGES = {"epochs", "device", "checkpoint_every"}


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # One generator per epoch, derived from the seed, so that a run resumed in
    # the middle of an epoch sees the same permutation without storing it.
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


class Trainer:
    """Trains a VAE on in-memory images; ``fit`` is the usual way in."""

    def __init__(
        self,
        model: VAE,
        train_images: torch.Tensor,
        test_images: torch.Tensor | None = None,
        config: TrainConfig | None = None,
        callbacks: list[Callback] | tuple = (),
        checkpoint_path: str | Path | None = None,
        train_labels: torch.Tensor | None = None,
        test_labels: torch.Tensor | None = None,
    ):
        self.config = config = config or TrainConfig()
        if len(train_images) < config.batch_size:
            raise TrainingError(
                f"batch size {config.batch_size} is larger than the {len(train_images)} training images"
            )
        if model.config.conditional and (train_labels is None or (test_images is not None and test_labels is None)):
            raise TrainingError("a conditional model trains on labelled images: pass train_labels (and test_labels)")
        self.device = pick_device(config.device)
        self.model = model.to(self.device)
        # Images stay as they come (uint8 in 0..255 from vaekit.data: a quarter of float32's
        # memory); each batch is turned into floats in [0, 1] when it is used.
        self.train_images = train_images.to(self.device)
        self.test_images = None if test_images is None else test_images.to(self.device)
        if config.binarize and self.test_images is not None:
            self.test_images = binarize(to_float(self.test_images), BINARIZED_TEST_SEED)
        conditional = model.config.conditional
        self.train_labels = train_labels.to(self.device) if conditional else None
        self.test_labels = test_labels.to(self.device) if conditional and test_labels is not None else None
        self.callbacks = list(callbacks)
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        # The fused kernel updates all parameters in one pass over memory; the
        # default for-loop Adam makes a dozen passes and costs a fifth of a step on a CPU.
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=fused)
        self.noise = torch.Generator(device=self.device).manual_seed(config.seed)
        self._loss = distributed.loss_function(self.model)  # DDP under torchrun
        # --fast: bfloat16 only where it is native and (one process) measured faster; else float32 and a warning.
        probe = None if distributed.world_size() > 1 else (
            lambda: precision.probe(self.model, to_float(self.train_images[: config.batch_size]), self.device))
        key = (repr(model.config), config.batch_size, torch.get_num_threads())
        self.precision = precision.decide(self.device, config.fast, probe, cache_key=key)
        if self.precision.note:
            warnings.warn(self.precision.note, precision.PrecisionWarning, stacklevel=2)
        # The MLP's step written out by hand (fastpath.py: same numbers, less overhead); None = autograd.
        # It applies Adam too, unless gradients are clipped (that needs all of them first).
        self.hand_written_step = fastpath.for_training(
            self.model, self.device, config.batch_size, self.precision.bfloat16, distributed.world_size(),
            optimizer=self.optimizer if config.grad_clip is None else None,
        )
        self.history: dict = {"epochs": [], "batch_losses": []}
        self.epoch = 0  # the epoch in progress (or the next one)
        self.step = 0  # steps done in that epoch
        self._sums = self._zero_sums()
        self.stop_requested = False

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train_images) // self.config.batch_size

    @staticmethod
    def _zero_sums() -> dict:
        return {"total": 0.0, "reconstruction": 0.0, "kl": 0.0, "objective": 0.0, "images": 0}

    # -- the loop -----------------------------------------------------------

    def fit(self) -> dict:
        """Train until ``config.epochs`` are done; return the history."""
        self.model.train()
        for cb in self.callbacks:
            cb.on_train_begin(self)
        while self.epoch < self.config.epochs and not self.stop_requested:
            batches = shuffled_batches(
                len(self.train_images), self.config.batch_size, _epoch_generator(self.config.seed, self.epoch)
            )
            start = time.perf_counter()
            while self.step < len(batches) and not self.stop_requested:
                rows = batches[self.step].to(self.device)
                batch = self.train_images.index_select(0, rows)  # = [rows], in a sixth of the time
                if self.hand_written_step is None or self.config.binarize:  # else the step makes the floats
                    batch = to_float(batch)
                labels = None if self.train_labels is None else self.train_labels[rows]
                if self.config.binarize:
                    # The noise generator draws the pixels too, so a resumed run
                    # sees the same binary images.
                    batch = binarize(batch, self.noise)
                self._train_step(batch, labels)
                every = self.config.checkpoint_every
                if every and self.checkpoint_path and self.step % every == 0 and self.step < len(batches):
                    self.save_checkpoint()
            if self.step == len(batches):
                self._end_epoch(batch, labels, time.perf_counter() - start)
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def _train_step(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        # Under torchrun each process takes its rows of the batch and of the
        # batch's noise, drawn whole so that N processes compute what one does.
        eps = torch.randn(len(batch), self.model.config.latent_size, generator=self.noise, device=self.device)
        rows = distributed.my_rows(len(batch))
        # The objective weighs the KL by beta (ramped up during a warm-up); the
        # history also keeps the true negative ELBO, comparable between runs.
        weight = self.config.kl_weight(self.epoch + self.step / self.steps_per_epoch)
        if self.hand_written_step is not None and not self.hand_written_step.fits():
            self.hand_written_step = None  # the model changed (a hook, a layer): autograd from now on
        if self.hand_written_step is not None:  # loss and gradients in one pass, no autograd graph
            losses = self.hand_written_step.step(batch, eps, weight)
        else:
            with precision.autocast(self.model, self.device, self.precision.bfloat16):
                loss = self._loss(batch[rows], None if labels is None else labels[rows], eps[rows])
            objective = loss.total if weight == 1.0 else loss.reconstruction + weight * loss.kl
            losses = torch.stack([loss.total, loss.reconstruction, loss.kl]).detach()
        # One read of the device per step, summed over the processes under torchrun.
        sums = distributed.sum_over_processes(losses)
        value, reconstruction, kl = sums.tolist()
        if not math.isfinite(value):
            raise TrainingError(
                f"the loss became {value} at epoch {self.epoch}, step {self.step}; {self._kept()}. "
                "The seed's sigma head is prone to this: try the log-variance head (--head logvar), "
                "a lower learning rate, or gradient clipping (--grad-clip 100)"
            )
        if self.hand_written_step is None:
            self.optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over the processes; the loss is a sum over the batch.
            (objective * distributed.world_size()).backward()
        if self.hand_written_step is None or not self.hand_written_step.updated:
            if self.config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
        n = len(batch)
        self._sums["total"] += value
        self._sums["reconstruction"] += reconstruction
        self._sums["kl"] += kl
        self._sums["objective"] += reconstruction + weight * kl
        self._sums["images"] += n
        self.step += 1
        self.history["batch_losses"].append(value / n)
        for cb in self.callbacks:
            cb.on_batch_end(self, value / n)

    def _kept(self) -> str:
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            return f"the last good checkpoint {self.checkpoint_path} is kept"
        return "no checkpoint was written"

    def _end_epoch(self, last_batch: torch.Tensor, last_labels: torch.Tensor | None, seconds: float) -> None:
        # The seed's printed line: the loss of the epoch's last batch, summed
        # over its images, computed after the last update with fresh noise.
        with torch.no_grad():
            last = self.model.loss(last_batch, last_labels, self.noise)
        n = self._sums["images"]
        record = {
            "epoch": self.epoch,
            "train_total": self._sums["total"] / n,
            "train_reconstruction": self._sums["reconstruction"] / n,
            "train_kl": self._sums["kl"] / n,
            # What was minimised: reconstruction + beta * KL (= train_total when beta is 1).
            "train_objective": self._sums["objective"] / n,
            "beta": self.config.kl_weight(self.epoch + 1),
            "last_batch_total": last.total.item(),
            "last_batch_reconstruction": last.reconstruction.item(),
            "last_batch_kl": last.kl.item(),
            "seconds": seconds,
        }
        if self.test_images is not None:
            test = evaluate(self.model, self.test_images, labels=self.test_labels)
            self.model.train()
            record.update({f"test_{k}": v for k, v in test.items()})
        self.history["epochs"].append(record)
        self.epoch += 1
        self.step = 0
        self._sums = self._zero_sums()
        for cb in self.callbacks:
            cb.on_epoch_record(self, record)  # what callbacks keep of this epoch goes into the checkpoint
        if self.checkpoint_path is not None:
            self.save_checkpoint()
        # After the checkpoint: an epoch reported (printed, plotted) is an epoch saved.
        for cb in self.callbacks:
            cb.on_epoch_end(self, record)

    # -- checkpoints --------------------------------------------------------

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Write everything needed to continue exactly: weights, Adam, generators, progress."""
        path = Path(path) if path is not None else self.checkpoint_path
        if not distributed.is_main_process():
            return path  # under torchrun, process 0 writes for all
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            # A finite loss can still be followed by an update to inf or NaN;
            # never replace a good checkpoint with weights that cannot be loaded.
            raise TrainingError(
                f"the weights became non-finite at epoch {self.epoch}, step {self.step}; {self._kept()}. "
                "Try a lower learning rate or gradient clipping (--grad-clip 100)"
            )
        state = {"rng.noise": self.noise.get_state()}
        optimizer_state = self.optimizer.state_dict()
        for index, moments in optimizer_state["state"].items():
            for key, tensor in moments.items():
                state[f"optimizer.{index}.{key}"] = torch.as_tensor(tensor)
        state.update(self.callback_tensors())
        progress = {"epoch": self.epoch, "step": self.step, "sums": self._sums, "train_images": len(self.train_images),
                    "test_images": 0 if self.test_images is None else len(self.test_images)}
        return ckpt.save(path, self.model, self.history, asdict(self.config), progress, state, self.model.data_info)

    def callback_tensors(self) -> dict[str, torch.Tensor]:
        """What the callbacks keep in checkpoints (training snapshots); the CLI adds them to the model file too."""
        tensors = {}
        for cb in self.callbacks:
            tensors.update(cb.state_tensors())
        return tensors

    def restore(self, checkpoint: ckpt.Checkpoint) -> None:
        """Continue from a training checkpoint written by ``save_checkpoint``."""
        # load_checkpoint has validated the progress and the tensors' names,
        # shapes and dtypes; what is checked here depends on this run.
        progress, where = checkpoint.progress, checkpoint.path or "the checkpoint"
        if not progress or "rng.noise" not in checkpoint.state:
            raise CheckpointError(f"{where} holds weights only, not the training state needed to resume")
        unknown = set(checkpoint.train_config) - {f.name for f in fields(TrainConfig)}
        if unknown:
            # A setting this version does not know would be silently dropped, and the run would differ.
            raise CheckpointError(f"{where}: unknown train_config keys {sorted(unknown)} (written by a newer vaekit?)")
        try:
            saved = TrainConfig.from_dict(checkpoint.train_config)
        except ConfigError as exc:
            raise CheckpointError(f"{where}: invalid train_config: {exc}") from None
        for name in sorted({f.name for f in fields(TrainConfig)} - RESUMABLE_CHANGES):
            if getattr(saved, name) != getattr(self.config, name):
                raise CheckpointError(
                    f"cannot resume: the checkpoint was trained with {name}={getattr(saved, name)!r}, "
                    f"this run asks for {getattr(self.config, name)!r}"
                )
        if checkpoint.model.config != self.model.config:
            ours, theirs = self.model.config.to_dict(), checkpoint.model.config.to_dict()
            differences = ", ".join(f"{k}={theirs[k]!r} (this run: {ours[k]!r})" for k in ours if ours[k] != theirs[k])
            raise CheckpointError(
                f"cannot resume: the checkpoint's model has {differences}; "
                "resume with the same --preset, --head and --latent-size as the run that wrote it"
            )
        if progress.get("train_images", len(self.train_images)) != len(self.train_images):
            raise CheckpointError(
                f"cannot resume: the checkpoint was trained on {progress['train_images']:,} images, "
                f"this run has {len(self.train_images):,} (use the same --train-limit)"
            )
        test_images = 0 if self.test_images is None else len(self.test_images)
        if progress.get("test_images", test_images) != test_images:
            raise CheckpointError(
                f"cannot resume: the checkpoint was tested on {progress['test_images']:,} images, "
                f"this run has {test_images:,} (use the same --test-limit)"
            )
        if progress["step"] >= self.steps_per_epoch:
            raise CheckpointError(
                f"{where}: step {progress['step']} is past the end of an epoch ({self.steps_per_epoch} steps)"
            )
        noise = checkpoint.state["rng.noise"]
        if noise.shape != self.noise.get_state().shape:
            raise CheckpointError(
                f"cannot resume: {where} holds a random generator state for another kind of device than "
                f"{self.device.type}; resume on the device it was trained on (--device)"
            )
        self.model.load_state_dict(checkpoint.model.state_dict())
        self.model.train()
        optimizer_state = self.optimizer.state_dict()
        for index in range(len(optimizer_state["param_groups"][0]["params"])):
            prefix = f"optimizer.{index}."
            moments = {k[len(prefix):]: t for k, t in checkpoint.state.items() if k.startswith(prefix)}
            if moments:
                optimizer_state["state"][index] = moments
        self.optimizer.load_state_dict(optimizer_state)
        self.noise.set_state(checkpoint.state["rng.noise"])
        for cb in self.callbacks:
            cb.load_state_tensors(checkpoint.state)
        self.history = checkpoint.history
        self.epoch, self.step = int(progress["epoch"]), int(progress["step"])
        self._sums = {**self._zero_sums(), "objective": progress["sums"]["total"], **progress["sums"]}


def fit(
    model: VAE,
    train_images: torch.Tensor,
    test_images: torch.Tensor | None = None,
    config: TrainConfig | None = None,
    callbacks: list[Callback] | tuple = (),
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    train_labels: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
) -> dict:
    """Train ``model`` and return its history.

    With ``checkpoint_path``, a training checkpoint is written after every
    epoch (and every ``config.checkpoint_every`` steps); with ``resume=True``
    and an existing checkpoint there, training continues from it. Images may
    be uint8 (0..255, as ``vaekit.data`` holds them) or floats in [0, 1]; a
    conditional model also needs their labels.
    """
    trainer = Trainer(model, train_images, test_images, config, callbacks, checkpoint_path, train_labels, test_labels)
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        trainer.restore(ckpt.load_checkpoint(checkpoint_path, trainer.device))
    return trainer.fit()


class ProgressBar(Callback):
    """A tqdm bar over all steps (``tqdm.auto``: a widget in notebooks, text in a terminal)."""

    def __init__(self, **tqdm_kwargs):
        self.tqdm_kwargs = tqdm_kwargs
        self.bar = None

    def on_train_begin(self, trainer: Trainer) -> None:
        from tqdm.auto import tqdm

        total = trainer.config.epochs * trainer.steps_per_epoch
        done = trainer.epoch * trainer.steps_per_epoch + trainer.step
        self.bar = tqdm(total=total, initial=done, unit="step", **self.tqdm_kwargs)

    def on_batch_end(self, trainer: Trainer, batch_loss: float) -> None:
        self.bar.set_description(f"epoch {trainer.epoch + 1}/{trainer.config.epochs}", refresh=False)
        self.bar.set_postfix(loss=f"{batch_loss:.1f}", refresh=False)
        self.bar.update(1)

    def on_train_end(self, trainer: Trainer) -> None:
        self.bar.close()


class EpochLog(Callback):
    """Prints one line per epoch, comparable with the seed's printout (what ``python -m vaekit train`` shows).

    ``fit(..., callbacks=[vaekit.EpochLog()])``. Each line: the epoch's last batch (the seed's
    own printout: summed over its images), then the epoch's means per image (see ``HISTORY_KEYS``).
    It writes through ``tqdm.write`` so that a progress bar stays below it.
    """

    def __init__(self, file=None):
        self.file = file  # default: standard output

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        from tqdm.auto import tqdm

        line = (
            f"epoch {record['epoch']:>3}  last batch: total {record['last_batch_total']:9.1f}  "
            f"reconstruction {record['last_batch_reconstruction']:9.1f}  latent {record['last_batch_kl']:8.1f}"
            f"  | train/image {record['train_total']:6.2f} (rec {record['train_reconstruction']:6.2f}, "
            f"KL {record['train_kl']:5.2f})"
        )
        if "test_total" in record:
            line += f"  | test/image {record['test_total']:6.2f}"
        tqdm.write(line + f"  | {record['seconds']:.1f} s", file=self.file)
