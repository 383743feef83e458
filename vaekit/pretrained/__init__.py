"""The checkpoints shipped with vaekit, so that the notebooks open with a trained model.

Each was trained by vaekit's own command line (the commands, epochs and test
scores are in the README's table)::

    python -m vaekit train --preset seed --epochs 50 --out runs/pretrained-seed     # -> seed.safetensors
    python -m vaekit train --preset logvar --epochs 50 --out runs/pretrained-logvar # -> logvar.safetensors
    python -m vaekit train --preset 2d ...                                          # -> 2d.safetensors
    python -m vaekit train --preset conv ...                                        # -> conv.safetensors
    python -m vaekit train --preset logvar --conditional ...                        # -> conditional.safetensors
    python -m vaekit train --preset logvar --dataset fashion-mnist ...              # -> fashion.safetensors

They are ordinary vaekit checkpoints (weights + configuration + dataset + history):
``vaekit.load(vaekit.pretrained_path("conv"))``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CheckpointError

FOLDER = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the shipped checkpoints, e.g. ``["logvar", "seed"]``."""
    return sorted(p.stem for p in FOLDER.glob("*.safetensors"))


def pretrained_path(name: str = "seed") -> Path:
    """The path of the shipped checkpoint ``name`` ("seed": the sigma head; "logvar": the log-variance head)."""
    path = FOLDER / f"{name}.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"no shipped checkpoint named {name!r} in {FOLDER}; the shipped ones are {available()}. "
            "Train your own with `python -m vaekit train --out runs/NAME` and load runs/NAME/model.safetensors"
        )
    return path


def prefer_checkpoint(*candidates: str | os.PathLike, pretrained: str = "seed") -> Path:
    """The first of ``candidates`` that exists (a model file or a run folder), else the shipped ``pretrained``.

    Notebooks call ``prefer_checkpoint("../runs/notebook")``: a model you trained
    in notebook 01 wins over the shipped one.
    """
    for candidate in candidates:
        path = Path(candidate)
        if path.is_dir():
            path = path / "model.safetensors"
        if path.is_file():
            return path
    return pretrained_path(pretrained)
