"""Training in several processes under ``torchrun``, with the mathematics of one.

``torchrun --nproc_per_node=N -m vaekit train ...`` starts N copies of the
command line; each reads its place from torchrun's environment variables
(RANK, WORLD_SIZE, LOCAL_RANK) and joins the others: ``gloo`` on CPUs, ``nccl``
on CUDA GPUs (process k on ``cuda:k`` of its machine). Every process then runs
the same ``Trainer`` on the same seed; at each step it takes its own rows of the
step's batch of 150 and DistributedDataParallel averages the gradients.

Three choices keep N processes equal to one, up to the order of float sums:

- every process draws the *whole* batch's noise from the shared, seeded
  generator and keeps its own rows, so the codes sampled are those one process
  would sample (and the generators stay in step, for checkpoints and resuming);
- the seed's loss is a sum over the batch while DDP averages gradients, so each
  process's loss is multiplied by N: the average of N scaled parts is the sum;
- the losses reported in the history are summed over processes.

Outside torchrun every function here is the one-process identity, so the
trainer calls them unconditionally.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .device import pick_device
from .errors import TrainingError
from .model import VAE, VAELoss


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main_process() -> bool:
    """Process 0 alone writes checkpoints, figures, the progress bar and the log."""
    return rank() == 0


def my_rows(batch_size: int) -> slice:
    """This process's contiguous rows of a batch; all of it in one process."""
    n, k = world_size(), rank()
    return slice(batch_size * k // n, batch_size * (k + 1) // n)


def sum_over_processes(values: torch.Tensor) -> torch.Tensor:
    """The sum of ``values`` over all processes (the tensor itself in one process)."""
    if dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


class _Loss(nn.Module):
    # DistributedDataParallel synchronises the gradients of what runs through
    # its forward, so the loss (not only VAE.forward) has to be a forward.
    def __init__(self, model: VAE):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, eps: torch.Tensor) -> VAELoss:
        return self.model.loss(x, y, eps=eps)


def loss_function(model: VAE) -> Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor], VAELoss]:
    """``(images, labels, eps) -> VAELoss`` for training: through DDP under torchrun, else ``model.loss``."""
    if not dist.is_initialized():
        return lambda x, y, eps: model.loss(x, y, eps=eps)
    # Construction broadcasts process 0's weights, so all processes start equal.
    return DistributedDataParallel(_Loss(model))


def start_from_environment(device: str) -> None:
    """Join the other processes when started by torchrun; do nothing otherwise.

    ``device`` is ``--device``: CUDA GPUs talk through ``nccl``, CPUs through
    ``gloo``; process k of a machine takes its k-th GPU.
    """
    if "RANK" not in os.environ or dist.is_initialized():
        return
    kind = pick_device(device).type
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if kind == "mps":
        raise TrainingError("several processes train on CPUs (gloo) or CUDA GPUs (nccl), not MPS; use --device cpu")
    if kind == "cuda":
        gpus = torch.cuda.device_count()
        if local_rank >= gpus:
            raise TrainingError(
                f"torchrun started process {local_rank} on this machine but PyTorch sees only {gpus} CUDA GPU(s); "
                f"use --nproc_per_node={gpus} or --device cpu"
            )
        torch.cuda.set_device(local_rank)  # so that "cuda" means this process's own GPU
    dist.init_process_group("nccl" if kind == "cuda" else "gloo")


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Process 0 goes first (to fetch MNIST once), the others after it."""
    if not is_main_process():
        dist.barrier()
    yield
    if is_main_process() and dist.is_initialized():
        dist.barrier()
