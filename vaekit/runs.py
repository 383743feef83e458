"""Run folders: what a checkpoint argument names, the lock a training run holds, and where figures go.

A run folder (``runs/NAME/``, written by ``python -m vaekit train --out runs/NAME``) holds
``model.safetensors`` (weights, configuration, history) and ``training.safetensors`` (also the
optimizer and the random generators, to resume). Every command that uses a model, and
``vaekit.load``, accept the same names for it (``resolve_checkpoint``):

* a model file or a run folder, as a path;
* the name of a shipped model: ``seed`` or ``logvar`` (``vaekit/pretrained/``);
* the name of a run under ``runs/`` (``--checkpoint NAME`` is ``runs/NAME``);
* nothing: the newest finished run under ``runs/``, else the shipped seed model.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from .errors import CheckpointError, VaekitError
from .pretrained import FOLDER as PRETRAINED_FOLDER
from .pretrained import available, pretrained_path

MODEL_FILE = "model.safetensors"  # weights, configuration and history
TRAINING_FILE = "training.safetensors"  # + Adam's moments and the generators, to resume
LOCK_FILE = ".vaekit-train.lock"  # held (flock) by the training run that writes the folder
RUNS = Path(os.environ.get("VAEKIT_RUNS", "runs"))
# What one figure holds: a grid of at most MAX_IMAGES digits, at most MAX_ROW a row
# (at the default scale a row of 40 is 26 inches wide; 400 digits in rows of 10 are 40 rows).
MAX_IMAGES = 400
MAX_ROW = 40


def newest_run(runs: str | os.PathLike | None = None) -> Path | None:
    """The model file of the most recently finished run under ``runs/`` (None if there is none)."""
    folder = Path(runs) if runs is not None else RUNS
    with contextlib.suppress(OSError):
        models = [p for p in folder.glob(f"*/{MODEL_FILE}") if p.is_file()]
        if models:
            return max(models, key=lambda p: p.stat().st_mtime)
    return None


def resolve_checkpoint(name: str | os.PathLike | None = None, runs: str | os.PathLike | None = None) -> Path:
    """The checkpoint file that ``name`` means (see the module's docstring); a CheckpointError if none.

    A path that exists wins; then a shipped model's name; then a run's name under ``runs/``.
    """
    if name is None or str(name) == "":
        return newest_run(runs) or pretrained_path("seed")
    path = Path(name)
    if path.is_dir():
        for file in (MODEL_FILE, TRAINING_FILE):  # a run stopped before its end: its training state holds the model
            if (path / file).exists() or (path / file).is_symlink():
                return path / file
        raise CheckpointError(
            f"checkpoint {path} is a folder without {MODEL_FILE} or {TRAINING_FILE}, not a run folder; "
            "give a model file or the folder of a run (`python -m vaekit train --out FOLDER`)"
        )
    if path.exists() or path.is_symlink():
        return path  # a file (or a special file: load_checkpoint names what it is)
    text = str(name)
    if os.sep not in text and "/" not in text and text not in (".", ".."):
        if text in available():
            return pretrained_path(text)
        run = (Path(runs) if runs is not None else RUNS) / text
        if (run / MODEL_FILE).is_file():
            return run / MODEL_FILE
    shipped = ", ".join(available())
    raise CheckpointError(
        f"checkpoint {name} does not exist; give a model file, a run folder, the name of a run under "
        f"{runs if runs is not None else RUNS}/, or a shipped model ({shipped}); "
        "train one with `python -m vaekit train --out runs/NAME`"
    )


def figures_folder(checkpoint: Path, figures: str | os.PathLike | None) -> Path:
    """Where a command's figures go: ``--figures`` if given, else next to the checkpoint it used
    (its run folder); figures of a shipped model go to ``figures/``, never into the installed package."""
    if figures is not None:
        return Path(figures)
    folder = checkpoint.resolve().parent
    if folder == PRETRAINED_FOLDER:
        from .plotting import FIGURES

        return FIGURES
    return checkpoint.parent


def check_figure_target(folder: Path, name: str) -> Path:
    """Refuse, before any work, a figure name that is not a plain file name or a folder that cannot hold it.

    Returns the path the figure will have (``folder/name.png``).
    """
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name or name.startswith("-"):
        raise VaekitError(
            f"figure name {name!r} is not a plain file name (no folders, no '..'); "
            "choose the folder with --figures and the file's name with --name"
        )
    if len(name.encode()) > 200:
        raise VaekitError(f"figure name {name[:20]!r}... is {len(name.encode())} bytes long; keep it under 200")
    if folder.exists() and not folder.is_dir():
        raise VaekitError(f"--figures {folder} is a file, not a folder; choose a folder for the figures")
    target = folder / f"{name}.png"
    if target.exists() and not target.is_file():
        raise VaekitError(f"{target} exists and is not a file; choose another --name")
    writable_folder(folder, "--figures")
    return target


def writable_folder(folder: Path, option: str = "--out") -> Path:
    """Create ``folder`` if needed and make sure files can be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".vaekit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise VaekitError(
            f"cannot write to {folder}: {exc.strerror or exc}; choose another folder with {option}"
        ) from exc
    return folder


class RunLock:
    """An exclusive lock on a run folder, held while one training run writes it.

    It is an ``flock`` on a file in the folder: the kernel releases it when the
    process ends, however it ends (SIGKILL included), so a killed run never leaves
    the folder locked. A second run on the same folder is refused at once.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    who = f" (process {holder})" if holder.isdigit() else ""
                    raise VaekitError(
                        f"another training run{who} is using {self.path.parent}; wait for it to finish, "
                        "or choose another folder with --out"
                    ) from None
                raise VaekitError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
            # The holder before us may have removed the file after we opened it: then our lock
            # is on a file nobody else will open. Lock the file that is there now instead.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc_info) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()  # while still holding it: see the loop in __enter__
            os.close(self.fd)
            self.fd = None
