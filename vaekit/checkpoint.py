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

import contextlib
import glob
import json
import math
import os
import re
import stat
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_bytes

from .data import MNIST_INFO, DataInfo
from .errors import CheckpointError, VaekitError
from .model import VAE, VAEConfig
from .models import from_config
from .runs import resolve_checkpoint

FORMAT = "vaekit"
FORMAT_VERSION = 1
MODEL_PREFIX = "model."

# What a pickle-based PyTorch file starts with (checked only once a file is
# known not to be safetensors, whose first 8 bytes are a length and may match): a zip archive (torch.save since
# 1.6) or a raw pickle protocol marker.
PICKLE_SIGNATURES = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")

HISTORY_KEYS = {"epochs", "batch_losses"}
PROGRESS_KEYS = {"epoch", "step", "sums", "train_images", "test_images"}
SUMS_KEYS = {"total", "reconstruction", "kl", "images"}
OPTIONAL_SUMS_KEYS = {"objective"}  # beta * KL + reconstruction; absent in round 1's checkpoints
# Training-state tensors: Adam's moments per parameter (numbered as in
# ``model.parameters()``) and the reparameterisation noise generator's state.
OPTIMIZER_TENSOR = re.compile(r"optimizer\.(\d+)\.(step|exp_avg|exp_avg_sq)")
NOISE_STATE = "rng.noise"
# Training snapshots (vaekit.snapshots): per-epoch series, and the fixed inputs they were taken on.
# E epochs, N prior codes, M fixed test images, L latent dimensions, P pixels.
SNAPSHOT_PREFIX = "snapshots."
SNAPSHOT_LOSS_COLUMNS = (
    "train_total", "train_reconstruction", "train_kl", "test_total", "test_reconstruction", "test_kl"
)
SNAPSHOT_SERIES = ("epoch", "kl", "samples", "reconstructions", "losses")  # one row per epoch
MAX_SNAPSHOT_EPOCHS = 100_000
MAX_SNAPSHOT_IMAGES = 256
MAX_SNAPSHOT_ELEMENTS = 1 << 28  # 256 MB of uint8 images: about 13,000 epochs of the default snapshots


@dataclass
class Checkpoint:
    """What a checkpoint file holds, validated."""

    model: VAE
    history: dict = field(default_factory=lambda: {"epochs": [], "batch_losses": []})
    train_config: dict = field(default_factory=dict)
    # Only in training checkpoints: where training stands, and the tensors
    # (optimizer moments, generator states) needed to continue exactly. Any
    # checkpoint may also hold training snapshots (``snapshots.*``, see vaekit.snapshots).
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
    The history is checked as ``load_checkpoint`` will check it: a file is never
    written that could not be read back.
    """
    data_info = data_info or getattr(model, "data_info", None)
    path = Path(path)
    history = _validate_history(json.loads(json.dumps(history or {"epochs": [], "batch_losses": []})), path)
    tensors = {MODEL_PREFIX + name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    for name, tensor in (state or {}).items():
        tensors[name] = tensor.detach().cpu().contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(model.config.to_dict()),
        "history": json.dumps(history),
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
    ``.NAME.PID.RANDOM.tmp`` behind; the checkpoint itself is intact, but each
    such file is as large as a checkpoint. A file whose writer is still alive,
    and anything that is not a plain file (a planted link, a folder), is left alone.
    """
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 : -len(".tmp")].split(".")[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISREG(tmp.lstat().st_mode):
                tmp.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # alive, another user's (or not a pid at all: keep it)
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` so that readers see the old or the new file, never a mix.

    The temporary file is created exclusively (``O_CREAT | O_EXCL``, which never follows a
    symbolic link) under an unpredictable name in the same folder, so that nobody can plant
    a link there in advance and have the write land on another file.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with open(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp's 0600, widened as any new file would be
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
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        kept = "the previous checkpoint is kept" if path.exists() else "nothing was written"
        raise CheckpointError(
            f"could not write checkpoint {path}: {exc.strerror or exc}; {kept}. "
            "Free some disk space or choose a writable folder (--out)."
        ) from exc


# -- reading: every byte judged before anything is built from it ---------------

# Bounds on what a file may ask of the reader. A real checkpoint of the seed has a
# 390 kB header (50 epochs of history) and 1.3 M parameters; these leave ample room.
MAX_HEADER_BYTES = 16 << 20  # safetensors' JSON header, history included (about 2,000 seed epochs)
MAX_JSON_DEPTH = 8  # the deepest real entry (history -> epochs -> record -> number) is 4
MAX_TENSORS = 1024
MAX_CONFIG_INT = 1 << 20  # any integer in the model configuration (layer sizes, counts)
MAX_CONFIG_LIST = 64  # e.g. the number of hidden layers
MAX_PARAMETERS = 100_000_000  # 400 MB of float32 weights
MAX_NUMBER = 2**53  # any integer elsewhere (steps, epochs, image counts)
HISTORY_RECORD_KEYS = {"epoch", "train_total", "train_reconstruction", "train_kl"}

# safetensors' dtype names -> (torch dtype, bytes per element).
DTYPES = {
    "F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8), "I32": (torch.int32, 4), "I16": (torch.int16, 2), "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1), "BOOL": (torch.bool, 1),
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the file's header declares it, checked against the file's size."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


def _what_it_is(mode: int) -> str | None:
    """A name for a file that is not a plain file, or None for a plain file."""
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
    for test, name in kinds:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _open_checkpoint_file(path: Path) -> tuple[int, int]:
    """Open ``path`` for reading without ever blocking; return (fd, size) of a plain, non-empty file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint {path} does not exist; train one with `python -m vaekit train --out ...`"
        ) from None
    except OSError as exc:
        kind = None
        with contextlib.suppress(OSError):
            kind = _what_it_is(os.stat(path).st_mode)
        if kind:
            raise CheckpointError(f"checkpoint {path} is {kind}, not a checkpoint file") from None
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}; check its permissions") from None
    info = os.fstat(fd)  # of what was opened, not of what the name points to now
    kind = _what_it_is(info.st_mode)
    problem = None
    if kind == "a folder":
        problem = f"checkpoint {path} is a folder, not a checkpoint file; give its model.safetensors (or a run folder)"
    elif kind:
        problem = f"checkpoint {path} is {kind}, not a checkpoint file"
    elif info.st_size == 0:
        pseudo = str(path.resolve()).startswith(("/proc/", "/sys/"))
        special = " (a kernel pseudo-file, whose size is unknown)" if pseudo else ""
        problem = f"checkpoint {path} is empty (0 bytes){special}, not a checkpoint file"
    if problem:
        os.close(fd)
        raise CheckpointError(problem)
    return fd, info.st_size


def _read_exactly(fd: int, size: int, path: Path) -> bytes:
    chunks, left = [], size
    while left:
        try:
            chunk = os.read(fd, min(left, 1 << 24))
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
        if not chunk:
            raise CheckpointError(f"{path} ended early: it changed while being read, or is truncated")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _refuse_pickle(start: bytes, path: Path) -> None:
    if start.startswith(PICKLE_SIGNATURES):
        raise CheckpointError(
            f"{path} is a pickle-based PyTorch file (torch.save). vaekit refuses to unpickle files, "
            "because unpickling can run any code the file contains. Load it yourself only if you trust "
            "its source, then save it with vaekit.checkpoint.save(...)"
        )


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(text: str | bytes, what: str):
    """Strict JSON (no NaN/Infinity), at most MAX_JSON_DEPTH deep; any failure is a CheckpointError."""
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON, NaN, integers of thousands of digits
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise CheckpointError(f"{what} is not valid JSON ({reason})") from None
    depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        raise CheckpointError(f"{what} nests lists and objects more than {MAX_JSON_DEPTH} deep; a vaekit "
                              "checkpoint's are at most 4 deep")
    return value


def _depth(value) -> int:
    """How deeply lists and objects nest in ``value`` (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((child, level + 1) for child in item)
    return deepest


def _tensor_entries(header: dict, data_size: int, path: Path) -> dict[str, TensorEntry]:
    """The header's tensor table, each entry's dtype, shape and byte range checked against the file."""
    if len(header) > MAX_TENSORS + 1:
        raise CheckpointError(
            f"{path} declares {len(header) - 1:,} tensors; a vaekit checkpoint has at most {MAX_TENSORS}"
        )
    entries, problems = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
                raise ValueError("an entry needs exactly dtype, shape and data_offsets")
            if entry["dtype"] not in DTYPES:
                raise ValueError(f"unknown dtype {str(entry['dtype'])[:20]!r}")
            dtype, itemsize = DTYPES[entry["dtype"]]
            offsets = entry["data_offsets"]
            if not (isinstance(offsets, list) and len(offsets) == 2):
                raise ValueError(f"data_offsets must be [begin, end], got {str(offsets)[:40]}")
            shape, (begin, end) = entry["shape"], offsets
            if not (isinstance(shape, list) and len(shape) <= 8 and all(_is_count(d) for d in shape)):
                raise ValueError(f"shape {str(shape)[:80]}")
            if not (_is_count(begin) and _is_count(end) and begin <= end <= data_size):
                raise ValueError(f"byte range {str(offsets)[:80]} outside the file's {data_size:,} data bytes")
            if math.prod(shape) * itemsize != end - begin:
                raise ValueError(f"shape {shape} of {entry['dtype']} needs {math.prod(shape) * itemsize:,} bytes, "
                                 f"its range holds {end - begin:,}")
        except (TypeError, ValueError) as exc:
            problems.append(f"tensor {name[:80]!r}: {exc}")
            continue
        entries[name] = TensorEntry(dtype, tuple(shape), begin, end)
    if problems:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint (truncated or corrupt?): "
                              + "; ".join(problems[:2])
                              + (f"; and {len(problems) - 2} more" if len(problems) > 2 else ""))
    return entries


def _read_header(path: Path) -> tuple[int, int, dict[str, TensorEntry], dict[str, str]]:
    """Open ``path``, read and check its safetensors header; return (fd, size, tensors, metadata)."""
    fd, size = _open_checkpoint_file(path)
    try:
        start = _read_exactly(fd, min(8, size), path)
        if len(start) < 8:
            _refuse_pickle(start, path)
            raise CheckpointError(f"{path} is not a readable safetensors checkpoint (truncated or corrupt?): "
                                  f"{size} bytes, fewer than a header's 8")
        (header_size,) = struct.unpack("<Q", start)
        if header_size > MAX_HEADER_BYTES or 8 + header_size > size:
            _refuse_pickle(start, path)
            limit = "larger than the file" if 8 + header_size > size else f"over the {MAX_HEADER_BYTES:,} allowed"
            raise CheckpointError(f"{path} is not a readable safetensors checkpoint (truncated or corrupt?): "
                                  f"its header declares {header_size:,} bytes, {limit}")
        header = _parse_json(_read_exactly(fd, header_size, path),
                             f"{path} is not a readable safetensors checkpoint (truncated or corrupt?): its header")
        if not isinstance(header, dict) or not isinstance(header.get("__metadata__", {}), dict):
            raise CheckpointError(f"{path} is not a readable safetensors checkpoint: its header is not a JSON object")
        metadata = header.get("__metadata__", {})
        if not all(isinstance(v, str) for v in metadata.values()):
            raise CheckpointError(f"{path} is not a readable safetensors checkpoint: its metadata are not all strings")
        entries = _tensor_entries(header, size - 8 - header_size, path)
    except BaseException:
        os.close(fd)
        raise
    if metadata.get("format") != FORMAT:
        os.close(fd)
        raise CheckpointError(
            f"{path} is a safetensors file but not a vaekit checkpoint (no 'format: vaekit' in its header)"
        )
    if metadata.get("format_version") != str(FORMAT_VERSION):
        os.close(fd)
        raise CheckpointError(
            f"{path} has checkpoint format version {str(metadata.get('format_version'))[:40]!r}; "
            f"this vaekit reads version {FORMAT_VERSION}"
        )
    return fd, size, entries, metadata


def _json(metadata: dict[str, str], key: str, path: Path, expected: type):
    value = _parse_json(metadata.get(key, "null"), f"{path}: the {key!r} entry")
    if not isinstance(value, expected):
        raise CheckpointError(f"{path}: the {key!r} entry must be a JSON {expected.__name__}")
    return value


def _is_number(value) -> bool:
    """A finite JSON number of sane size (an integer of 10^100 is none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= MAX_NUMBER if isinstance(value, int) else math.isfinite(value)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_NUMBER


def _validate_history(history: dict, path: Path) -> dict:
    """Every epoch record has the same keys, the trainer's four among them, and only finite numbers."""
    unknown = set(history) - HISTORY_KEYS
    if unknown:
        raise CheckpointError(f"{path}: unknown history keys {sorted(unknown)[:5]}")
    epochs = history.setdefault("epochs", [])
    losses = history.setdefault("batch_losses", [])
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        raise CheckpointError(f"{path}: history 'epochs' must be a list of objects")
    for i, record in enumerate(epochs):
        lacking = sorted(HISTORY_RECORD_KEYS - set(record))
        if lacking:
            raise CheckpointError(f"{path}: history record {i} lacks {lacking}")
        if set(record) != set(epochs[0]):
            raise CheckpointError(f"{path}: history record {i} has the keys {sorted(record)[:12]}, "
                                  f"record 0 has {sorted(epochs[0])[:12]}")
        for key, value in record.items():
            if not _is_number(value):
                raise CheckpointError(f"{path}: history value {key[:40]!r} of record {i} must be a finite number, "
                                      f"got {str(value)[:40]}")
        if not _is_count(record["epoch"]):
            raise CheckpointError(f"{path}: history record {i}: epoch must be an integer >= 0, got {record['epoch']!r}")
    if not isinstance(losses, list) or not all(_is_number(v) for v in losses):
        raise CheckpointError(f"{path}: history 'batch_losses' must be a list of finite numbers")
    return history


def _check_config_values(value, where: str = "configuration", max_list: int = MAX_CONFIG_LIST) -> None:
    """Every integer in the model configuration bounded, every list short and not empty, every number finite."""
    stack = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not -MAX_CONFIG_INT <= item <= MAX_CONFIG_INT:
                shown = f"{item:,}" if abs(item) < 10**15 else f"an integer of {item.bit_length()} bits"
                raise CheckpointError(f"{at} is {shown}; a vaekit model's sizes are at most {MAX_CONFIG_INT:,}")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise CheckpointError(f"{at} is {item}, not a finite number")
        elif isinstance(item, str):
            if len(item) > 100:
                raise CheckpointError(f"{at} is a string of {len(item):,} characters; names are short")
        elif isinstance(item, list):
            if not item or len(item) > max_list:
                raise CheckpointError(f"{at} has {len(item)} entries; it needs from 1 to {max_list}")
            stack.extend((child, f"{at}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, dict):
            stack.extend((child, f"{at}.{key[:40]}" if at != where else key[:40]) for key, child in item.items())


def _plan_model(config_dict: dict, metadata: dict[str, str], path: Path) -> VAE:
    """The model the configuration describes, built on the meta device: its shapes, no memory, no time.

    Its ``data_info`` is the checkpoint's dataset (MNIST's digits if it names none), which must
    fit the model: as many pixels as its input, as many classes as a conditional model's.
    """
    try:
        _check_config_values(config_dict)
        data = _json(metadata, "data", path, dict) if "data" in metadata else None
        if data is not None:
            _check_config_values(data, "data", max_list=10_000)  # class names
        data_info = DataInfo.from_dict(data) if data is not None else MNIST_INFO
        config = VAEConfig.from_dict(config_dict)
        with torch.device("meta"):
            model = from_config(config)
    except VaekitError as exc:
        raise CheckpointError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None
    except (TypeError, ValueError, IndexError, KeyError, RuntimeError) as exc:  # what the classes do not foresee
        raise CheckpointError(f"{path}: its configuration cannot build a model: {type(exc).__name__}: "
                              f"{str(exc)[:200]}") from None
    parameters = sum(p.numel() for p in model.parameters())
    if parameters > MAX_PARAMETERS:
        raise CheckpointError(f"{path}: its configuration {config} asks for {parameters:,} parameters; "
                              f"vaekit loads at most {MAX_PARAMETERS:,}")
    pixels = math.prod(data_info.image_shape)
    if pixels != config.input_size or tuple(config.image_shape) != data_info.image_shape:
        shape = "x".join(map(str, data_info.image_shape))
        raise CheckpointError(f"{path}: its configuration has input_size={config.input_size}, but its data "
                              f"({data_info.name}, {shape}) have {pixels} pixels an image")
    if config.conditional and len(data_info.class_names) != config.num_classes:
        raise CheckpointError(
            f"{path}: the model is conditional on {config.num_classes} classes, its dataset has "
            f"{len(data_info.class_names)}"
        )
    model.data_info = data_info
    return model


def _check_shapes(entries: dict[str, TensorEntry], planned: VAE, path: Path) -> None:
    """The header's tensors against the planned model's, before a byte of weights is read."""
    expected = planned.state_dict()
    weights = {n[len(MODEL_PREFIX):]: e for n, e in entries.items() if n.startswith(MODEL_PREFIX)}
    problems = [f"missing tensor {name!r}" for name in sorted(set(expected) - set(weights))]
    problems += [f"unexpected tensor {name[:80]!r}" for name in sorted(set(weights) - set(expected))]
    for name in sorted(set(weights) & set(expected)):
        want, got = expected[name], weights[name]
        if got.shape != tuple(want.shape) or got.dtype != want.dtype:
            problems.append(
                f"tensor {name!r} is {got.dtype} {got.shape}, the configuration needs {want.dtype} {tuple(want.shape)}"
            )
    if problems:
        raise CheckpointError(f"{path} does not fit its own configuration {planned.config}: " + "; ".join(problems[:5]))
    parameters = list(planned.parameters())
    problems = []
    for name, entry in sorted(entries.items()):
        if name.startswith(MODEL_PREFIX):
            continue
        if name.startswith(SNAPSHOT_PREFIX):  # their shapes are judged against each other once read
            if math.prod(entry.shape) > MAX_SNAPSHOT_ELEMENTS:
                problems.append(f"tensor {name[:80]!r} has {math.prod(entry.shape):,} elements; snapshots hold at most "
                                f"{MAX_SNAPSHOT_ELEMENTS:,}")
            continue
        if name == NOISE_STATE:
            if entry.dtype != torch.uint8 or len(entry.shape) != 1 or entry.shape[0] > 1 << 16:
                problems.append(f"{name!r} must be a 1-D uint8 generator state, got {entry.dtype} {entry.shape}")
            continue
        match = OPTIMIZER_TENSOR.fullmatch(name)
        if match is None or int(match[1]) >= len(parameters):
            problems.append(f"unexpected tensor {name[:80]!r}")
            continue
        want = () if match[2] == "step" else tuple(parameters[int(match[1])].shape)
        if entry.dtype != torch.float32 or entry.shape != want:
            problems.append(f"tensor {name!r} is {entry.dtype} {entry.shape}, expected torch.float32 {want}")
    if problems:
        raise CheckpointError(f"{path}: invalid training state: " + "; ".join(problems[:5]))


def _check_layout(entries: dict[str, TensorEntry], data_size: int, path: Path) -> None:
    """The tensors tile the data section exactly: no overlaps, no gaps, no unclaimed bytes to read."""
    position = 0
    for entry in sorted(entries.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin != position:
            raise CheckpointError(f"{path} is not a readable safetensors checkpoint: its tensors overlap or leave "
                                  f"gaps (byte {entry.begin:,}, expected {position:,})")
        position = entry.end
    if position != data_size:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {data_size - position:,} bytes "
                              "after its last tensor")


_CPU_GENERATOR_STATE = torch.Generator().get_state()


def _validate_progress(progress: dict, path: Path) -> dict:
    """Where a training checkpoint stands: empty for a weights-only checkpoint."""
    if not progress:
        return progress
    problems = [f"unknown key {key!r}" for key in sorted(set(progress) - PROGRESS_KEYS)]
    problems += [f"missing key {key!r}" for key in sorted({"epoch", "step", "sums"} - set(progress))]
    for key in ("epoch", "step", "train_images", "test_images"):
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


def _pixels(model: VAE) -> int:
    config = model.config
    return getattr(config, "input_size", None) or math.prod(config.image_shape)


def _validate_snapshots(state: dict[str, torch.Tensor], model: VAE) -> list[str]:
    """Problems with the ``snapshots.*`` tensors: all or none, shapes that fit the model and each other."""
    found = {name[len(SNAPSHOT_PREFIX):]: t for name, t in state.items() if name.startswith(SNAPSHOT_PREFIX)}
    if not found:
        return []
    expected = {*SNAPSHOT_SERIES, "prior_codes", "originals"}
    problems = [f"unexpected tensor {SNAPSHOT_PREFIX + name!r}" for name in sorted(set(found) - expected)]
    problems += [f"missing tensor {SNAPSHOT_PREFIX + name!r}" for name in sorted(expected - set(found))]
    if problems:
        return problems
    epochs, codes, originals = len(found["epoch"]), len(found["prior_codes"]), len(found["originals"])
    latent, pixels = model.config.latent_size, _pixels(model)
    if not (1 <= epochs <= MAX_SNAPSHOT_EPOCHS and 1 <= codes <= MAX_SNAPSHOT_IMAGES
            and 1 <= originals <= MAX_SNAPSHOT_IMAGES):
        return [(f"snapshots of {epochs} epochs, {codes} prior codes and {originals} images: "
                 f"each must be from 1 to {MAX_SNAPSHOT_EPOCHS} / {MAX_SNAPSHOT_IMAGES} / {MAX_SNAPSHOT_IMAGES}")]
    shapes = {
        "epoch": (torch.int64, (epochs,)),
        "kl": (torch.float32, (epochs, latent)),
        "samples": (torch.uint8, (epochs, codes, pixels)),
        "reconstructions": (torch.uint8, (epochs, originals, pixels)),
        "losses": (torch.float32, (epochs, len(SNAPSHOT_LOSS_COLUMNS))),
        "prior_codes": (torch.float32, (codes, latent)),
        "originals": (torch.uint8, (originals, pixels)),
    }
    for name, (dtype, shape) in shapes.items():
        tensor = found[name]
        if tensor.dtype != dtype or tuple(tensor.shape) != shape:
            problems.append(
                f"tensor {SNAPSHOT_PREFIX + name!r} is {tensor.dtype} {tuple(tensor.shape)}, expected {dtype} {shape}"
            )
    if problems:
        return problems
    steps = found["epoch"][1:] - found["epoch"][:-1]
    if found["epoch"][0] < 0 or (steps <= 0).any():
        problems.append(f"tensor {SNAPSHOT_PREFIX + 'epoch'!r} must hold increasing epoch numbers >= 0")
    for name in ("kl", "prior_codes"):
        if not torch.isfinite(found[name]).all():
            problems.append(f"tensor {SNAPSHOT_PREFIX + name!r} holds non-finite values")
    if torch.isinf(found["losses"]).any():  # NaN marks a loss that was not measured
        problems.append(f"tensor {SNAPSHOT_PREFIX + 'losses'!r} holds infinite values")
    return problems


def _validate_training_state(state: dict[str, torch.Tensor], model: VAE, path: Path) -> None:
    """Adam's moments must match the parameters one to one; the noise state must be bytes; snapshots must fit."""
    parameters = list(model.parameters())
    problems, moments = _validate_snapshots(state, model), {}
    for name, tensor in sorted(state.items()):
        if name.startswith(SNAPSHOT_PREFIX):
            continue
        if name == NOISE_STATE:
            if tensor.dtype != torch.uint8 or tensor.dim() != 1:
                got = f"{tensor.dtype} {tuple(tensor.shape)}"
                problems.append(f"{name!r} must be a 1-D uint8 generator state, got {got}")
            elif len(tensor) == len(_CPU_GENERATOR_STATE):
                try:
                    torch.Generator().set_state(tensor)
                except RuntimeError as exc:  # e.g. "Invalid mt19937 state"
                    problems.append(f"{name!r} is not a state PyTorch accepts ({str(exc).splitlines()[0][:80]})")
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


def load_checkpoint(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Checkpoint:
    """Read and validate a checkpoint; the model comes back ready, in eval mode.

    ``path`` is a model file, a run folder, the name of a run under ``runs/`` or of a shipped
    model (``"seed"``, ``"logvar"``); None means the newest run under ``runs/``, else the shipped
    seed model (see ``vaekit.runs.resolve_checkpoint``).

    Everything the file says is judged before memory or time is spent on it: the
    header's size and JSON depth, every integer of the configuration, the shapes
    the configuration implies (planned on PyTorch's meta device) against the
    shapes in the header, and the byte ranges against the file's size. Only then
    are the tensors read, so a file can never make the reader allocate more than
    it holds. Any problem is one CheckpointError that names the file.
    """
    path = resolve_checkpoint(path)
    fd, size, entries, metadata = _read_header(path)
    try:
        planned = _plan_model(_json(metadata, "config", path, dict), metadata, path)
        _check_shapes(entries, planned, path)
        history = _validate_history(_json(metadata, "history", path, dict), path)
        train_config = _json(metadata, "train_config", path, dict)
        progress = _validate_progress(_json(metadata, "progress", path, dict), path)
        data_size = sum(e.end - e.begin for e in entries.values())
        _check_layout(entries, data_size, path)
        os.lseek(fd, 0, os.SEEK_SET)
        raw = _read_exactly(fd, size, path)
    finally:
        os.close(fd)
    try:
        tensors = safetensors_load(raw)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint (truncated or corrupt?): {exc}"
        ) from None
    del raw
    weights = {n[len(MODEL_PREFIX):]: t for n, t in tensors.items() if n.startswith(MODEL_PREFIX)}
    if not all(torch.isfinite(t).all() for t in weights.values()):
        raise CheckpointError(f"{path} holds non-finite weights (NaN or inf); use an earlier checkpoint")
    model = planned.to_empty(device="cpu")  # memory for exactly the tensors the file has shown to hold
    model.data_info = planned.data_info
    model.load_state_dict(weights, strict=True)
    model.to(device).eval()
    state = {n: t for n, t in tensors.items() if not n.startswith(MODEL_PREFIX)}
    _validate_training_state(state, model, path)
    return Checkpoint(model, history, train_config, progress, state, path)


def load(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> VAE:
    """The model of a checkpoint, ready to use: ``vaekit.load("runs/seed")``, ``vaekit.load("logvar")``.

    Any name that ``load_checkpoint`` takes; ``vaekit.load()`` is the newest run, else the shipped seed model.
    """
    return load_checkpoint(path, device).model
