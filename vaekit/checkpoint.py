"""Checkpoints: one safetensors file that rebuilds its own model.

A checkpoint holds the weights (and, for a training checkpoint, the optimizer's
moments and the random number generators' states) as safetensors tensors, and
the configuration, history and progress as JSON strings in the safetensors
header. Loading it parses a JSON header and copies raw tensor bytes: no pickle,
so no code from the file ever runs. ``torch.load`` is never used.

It is written to a temporary file, flushed to disk and renamed over the old
one, so a crash or a full disk at any moment leaves either the old checkpoint
or the new one, never half of one.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from .data import MNIST_INFO, DataInfo
from .errors import CheckpointError, VaekitError
from .model import VAE, VAEConfig
from .models import from_config

FORMAT = "vaekit"
FORMAT_VERSION = 1
MODEL_PREFIX = "model."

# What a pickle-based PyTorch file starts with (checked only once a file is
# known not to be safetensors, whose first 8 bytes are a length and may match): a zip archive (torch.save since
# 1.6) or a raw pickle protocol marker.
PICKLE_SIGNATURES = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")

HISTORY_KEYS = {"epochs", "batch_losses"}
PROGRESS_KEYS = {"epoch", "step", "sums", "train_images"}
SUMS_KEYS = {"total", "reconstruction", "kl", "images"}
OPTIONAL_SUMS_KEYS = {"objective"}  # beta * KL + reconstruction; absent in round 1's checkpoints
# Training-state tensors: Adam's moments per parameter (numbered as in
# ``model.parameters()``) and the reparameterisation noise generator's state.
OPTIMIZER_TENSOR = re.compile(r"optimizer\.(\d+)\.(step|exp_avg|exp_avg_sq)")
NOISE_STATE = "rng.noise"


@dataclass
class Checkpoint:
    """What a checkpoint file holds, validated."""

    model: VAE
    history: dict = field(default_factory=lambda: {"epochs": [], "batch_losses": []})
    train_config: dict = field(default_factory=dict)
    # Only in training checkpoints: where training stands, and the tensors
    # (optimizer moments, generator states) needed to continue exactly.
    progress: dict = field(default_factory=dict)
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    path: Path | None = None  # where it was read from, for error messages


def save(
    path: str | os.PathLike,
    model: VAE,
    history: dict | None = None,
    train_config: dict | None = None,
    progress: dict | None = None,
    state: dict[str, torch.Tensor] | None = None,
    data_info: DataInfo | None = None,
) -> Path:
    """Write a checkpoint atomically; return its path.

    ``data_info`` (default: the model's own ``data_info``) records what the model was trained on.
    """
    data_info = data_info or getattr(model, "data_info", None)
    path = Path(path)
    tensors = {MODEL_PREFIX + name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    for name, tensor in (state or {}).items():
        tensors[name] = tensor.detach().cpu().contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(model.config.to_dict()),
        "history": json.dumps(history or {"epochs": [], "batch_losses": []}),
        "train_config": json.dumps(train_config or {}),
        "progress": json.dumps(progress or {}),
    }
    if data_info is not None:
        metadata["data"] = json.dumps(data_info.to_dict())
    write_atomically(path, safetensors_bytes(tensors, metadata=metadata))
    return path


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files that killed writers left next to ``path``.

    A process killed while writing (SIGKILL, power loss) leaves its
    ``.NAME.PID.tmp`` behind; the checkpoint itself is intact, but each such
    file is as large as a checkpoint. A file whose writer is still alive is
    left alone.
    """
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 : -len(".tmp")]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def write_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` so that readers see the old or the new file, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        kept = "the previous checkpoint is kept" if path.exists() else "nothing was written"
        raise CheckpointError(
            f"could not write checkpoint {path}: {exc.strerror or exc}; {kept}. "
            "Free some disk space or choose a writable folder (--out)."
        ) from exc


def _read_header(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train one with `python -m vaekit train --out ...`")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        with open(path, "rb") as f:
            start = f.read(4)
        if start.startswith(PICKLE_SIGNATURES):
            raise CheckpointError(
                f"{path} is a pickle-based PyTorch file (torch.save). vaekit refuses to unpickle files, "
                "because unpickling can run any code the file contains. Load it yourself only if you trust "
                "its source, then save it with vaekit.checkpoint.save(...)"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint (truncated or corrupt?): {exc}"
        ) from exc
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a vaekit checkpoint (no 'format: vaekit' in its header)")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{path} has checkpoint format version {metadata.get('format_version')!r}; "
            f"this vaekit reads version {FORMAT_VERSION}"
        )
    return tensors, metadata


def _json(metadata: dict[str, str], key: str, path: Path, expected: type):
    try:
        value = json.loads(metadata.get(key, "null"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: the {key!r} entry is not valid JSON ({exc})") from exc
    if not isinstance(value, expected):
        raise CheckpointError(f"{path}: the {key!r} entry must be a JSON {expected.__name__}")
    return value


def _validate_history(history: dict, path: Path) -> dict:
    unknown = set(history) - HISTORY_KEYS
    if unknown:
        raise CheckpointError(f"{path}: unknown history keys {sorted(unknown)}")
    epochs = history.setdefault("epochs", [])
    losses = history.setdefault("batch_losses", [])
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        raise CheckpointError(f"{path}: history 'epochs' must be a list of objects")
    for record in epochs:
        for key, value in record.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise CheckpointError(f"{path}: history value {key!r} must be a number, got {value!r}")
    if not isinstance(losses, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in losses
    ):
        raise CheckpointError(f"{path}: history 'batch_losses' must be a list of numbers")
    return history


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _validate_progress(progress: dict, path: Path) -> dict:
    """Where a training checkpoint stands: empty for a weights-only checkpoint."""
    if not progress:
        return progress
    problems = [f"unknown key {key!r}" for key in sorted(set(progress) - PROGRESS_KEYS)]
    problems += [f"missing key {key!r}" for key in sorted({"epoch", "step", "sums"} - set(progress))]
    for key in ("epoch", "step", "train_images"):
        if key in progress and not _is_count(progress[key]):
            problems.append(f"{key} must be an integer >= 0, got {progress[key]!r}")
    sums = progress.get("sums", {})
    if not isinstance(sums, dict) or not SUMS_KEYS <= set(sums) <= SUMS_KEYS | OPTIONAL_SUMS_KEYS:
        problems.append(f"sums must be an object with the keys {sorted(SUMS_KEYS)}")
    elif not (all(_is_number(sums[k]) for k in set(sums) - {"images"}) and _is_count(sums["images"])):
        problems.append(f"sums must hold finite numbers and an image count, got {sums!r}")
    if problems:
        raise CheckpointError(f"{path}: invalid training progress: " + "; ".join(problems[:5]))
    return progress


def _validate_training_state(state: dict[str, torch.Tensor], model: VAE, path: Path) -> None:
    """Adam's moments must match the parameters one to one; the noise state must be bytes."""
    parameters = list(model.parameters())
    problems, moments = [], {}
    for name, tensor in sorted(state.items()):
        if name == NOISE_STATE:
            if tensor.dtype != torch.uint8 or tensor.dim() != 1:
                got = f"{tensor.dtype} {tuple(tensor.shape)}"
                problems.append(f"{name!r} must be a 1-D uint8 generator state, got {got}")
            continue
        match = OPTIMIZER_TENSOR.fullmatch(name)
        if match is None or int(match[1]) >= len(parameters):
            problems.append(f"unexpected tensor {name!r}")
            continue
        index, key = int(match[1]), match[2]
        moments.setdefault(index, set()).add(key)
        want = () if key == "step" else tuple(parameters[index].shape)
        if tensor.dtype != torch.float32 or tuple(tensor.shape) != want:
            problems.append(f"tensor {name!r} is {tensor.dtype} {tuple(tensor.shape)}, expected torch.float32 {want}")
        elif not torch.isfinite(tensor).all() or (key != "exp_avg" and (tensor < 0).any()):
            problems.append(f"tensor {name!r} holds values Adam never produces (non-finite or negative)")
    for index, keys in sorted(moments.items()):
        lacking = sorted({"step", "exp_avg", "exp_avg_sq"} - keys)
        if lacking:
            problems.append(f"optimizer state of parameter {index} lacks {lacking}")
    if problems:
        raise CheckpointError(f"{path}: invalid training state: " + "; ".join(problems[:5]))


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Read and validate a checkpoint; the model comes back ready, in eval mode."""
    path = Path(path)
    tensors, metadata = _read_header(path)
    try:
        config = VAEConfig.from_dict(_json(metadata, "config", path, dict))
        model = from_config(config)
        data_info = DataInfo.from_dict(_json(metadata, "data", path, dict)) if "data" in metadata else MNIST_INFO
    except VaekitError as exc:
        raise CheckpointError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None
    if math.prod(data_info.image_shape) != config.input_size:
        raise CheckpointError(
            f"{path}: its dataset's images are {data_info.image_shape}, but the model takes {config.input_size} pixels"
        )
    if config.conditional and len(data_info.class_names) != config.num_classes:
        raise CheckpointError(
            f"{path}: the model is conditional on {config.num_classes} classes, its dataset has "
            f"{len(data_info.class_names)}"
        )
    model.data_info = data_info
    expected = model.state_dict()
    weights = {n[len(MODEL_PREFIX):]: t for n, t in tensors.items() if n.startswith(MODEL_PREFIX)}
    problems = []
    for name in sorted(set(expected) - set(weights)):
        problems.append(f"missing tensor {name!r}")
    for name in sorted(set(weights) - set(expected)):
        problems.append(f"unexpected tensor {name!r}")
    for name in sorted(set(weights) & set(expected)):
        want, got = expected[name], weights[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            problems.append(
                f"tensor {name!r} is {got.dtype} {tuple(got.shape)}, the configuration needs "
                f"{want.dtype} {tuple(want.shape)}"
            )
    if problems:
        raise CheckpointError(f"{path} does not fit its own configuration {config}: " + "; ".join(problems[:5]))
    if not all(torch.isfinite(t).all() for t in weights.values()):
        raise CheckpointError(f"{path} holds non-finite weights (NaN or inf); use an earlier checkpoint")
    model.load_state_dict(weights)
    model.to(device).eval()
    history = _validate_history(_json(metadata, "history", path, dict), path)
    train_config = _json(metadata, "train_config", path, dict)
    progress = _validate_progress(_json(metadata, "progress", path, dict), path)
    state = {n: t for n, t in tensors.items() if not n.startswith(MODEL_PREFIX)}
    _validate_training_state(state, model, path)
    return Checkpoint(model, history, train_config, progress, state, path)


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> VAE:
    """The model of a checkpoint, ready to use: ``vaekit.load("runs/seed/model.safetensors")``."""
    return load_checkpoint(path, device).model

