"""The training time machine: a run's snapshots, scrubbed or played in the browser.

``training_timeline(path_or_timeline)`` shows, for the epoch picked on the scrubber (or walked through
by Play), the decodings of the run's fixed prior codes, its fixed test images over their
reconstructions, the KL of each code dimension as bars, and the loss curve with a marker at the epoch.
The snapshots (``vaekit.snapshots``, about 19 KB an epoch) are sent to the browser once; scrubbing
and playing need no kernel (``timeline.js``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import anywidget
import torch
import traitlets

from .. import snapshots as snap
from ..animate import training_frames
from ..errors import VaekitError
from ._common import check_index, esm, listen_for_gif, write_gif
from .decoder import HERE

INTERVAL_MS = 300  # between frames while playing
INTERVALS_MS = (20, 10_000)  # the shortest and longest wait between frames that Play takes
GIF_FPS = 4.0  # as `python -m vaekit animate training`


class TrainingTimeline(anywidget.AnyWidget):
    """Scrub or play through a training run's snapshots. Built by ``training_timeline``.

    Synced traits: ``epoch`` (the snapshot shown, 0 to len - 1), ``interval_ms``; the snapshots
    themselves are sent once. In the page: ``.vaekit-play-button``, ``.vaekit-stop-button``,
    ``.vaekit-epoch-slider input``, ``.vaekit-epoch-readout``, ``canvas.vaekit-timeline-samples``,
    ``canvas.vaekit-timeline-reconstructions``, ``canvas.vaekit-timeline-kl``, ``canvas.vaekit-timeline-loss``,
    ``.vaekit-timeline-caption``, ``.vaekit-gif-button`` (writes ``gif_path``), ``.vaekit-message``.
    """

    _esm = esm(HERE / "timeline.js")
    _css = HERE / "widgets.css"
    side = traitlets.Int().tag(sync=True)
    n_samples = traitlets.Int().tag(sync=True)
    n_images = traitlets.Int().tag(sync=True)
    samples = traitlets.Bytes().tag(sync=True)
    reconstructions = traitlets.Bytes().tag(sync=True)
    originals = traitlets.Bytes().tag(sync=True)
    kl = traitlets.List().tag(sync=True)
    losses = traitlets.Dict().tag(sync=True)
    epochs = traitlets.List().tag(sync=True)
    epoch = traitlets.Int(0).tag(sync=True)
    interval_ms = traitlets.Int(INTERVAL_MS).tag(sync=True)
    gif_path = traitlets.Unicode("training.gif").tag(sync=True)  # where the GIF button writes, from the kernel's folder
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, timeline: snap.Timeline, epoch: int | None = None, interval_ms: int = INTERVAL_MS):
        if not isinstance(timeline, snap.Timeline):
            raise VaekitError("the timeline shows a checkpoint's snapshots: pass its path, or a Timeline "
                              f"(vaekit.snapshots.read or from_tensors), not {type(timeline).__name__}")
        if len(timeline) == 0:
            raise VaekitError("this Timeline holds no snapshots: train for an epoch or more with Snapshots")
        pixels = timeline.samples.shape[-1]
        side = math.isqrt(pixels)
        if side * side != pixels:
            raise VaekitError(f"the timeline shows square grey images; these have {pixels} pixels")
        self.timeline = timeline
        epoch = len(timeline) - 1 if epoch is None else check_index(epoch, len(timeline), "snapshot")
        interval_ms = _check_interval(interval_ms)
        super().__init__(
            side=side,
            n_samples=timeline.samples.shape[1],
            n_images=timeline.reconstructions.shape[1],
            samples=timeline.samples.contiguous().numpy().tobytes(),
            reconstructions=timeline.reconstructions.contiguous().numpy().tobytes(),
            originals=timeline.originals.contiguous().numpy().tobytes(),
            kl=timeline.kl.tolist(),
            losses={name: [None if math.isnan(v) else v for v in values.tolist()]
                    for name, values in timeline.losses.items()},
            epochs=timeline.epochs.tolist(),
            epoch=epoch,
            interval_ms=interval_ms,
        )
        self.add_class("vaekit-training-timeline")
        listen_for_gif(self)

    def save_gif(self, path: str | os.PathLike | None = None, fps: float = GIF_FPS) -> Path:
        """The whole run, one frame an epoch, as a GIF at ``fps`` frames a second: what ``python -m vaekit
        animate training`` writes. ``path``: default ``gif_path``; judged before any frame is drawn. The page's
        GIF button calls this; ``message`` says where it wrote, or why it could not. Returns the path written."""
        return write_gif(self, lambda: training_frames(self.timeline), path, fps)

    @traitlets.validate("epoch")
    def _valid_epoch(self, proposal):
        return check_index(proposal["value"], len(self.timeline), "snapshot")

    @traitlets.validate("interval_ms")
    def _valid_interval(self, proposal):
        return _check_interval(proposal["value"])

    def shown(self) -> dict[str, torch.Tensor]:
        """What the widget shows now (uint8 images, KL values): the kernel's view of the same frame."""
        i = self.epoch
        return {"samples": self.timeline.samples[i], "reconstructions": self.timeline.reconstructions[i],
                "kl": self.timeline.kl[i]}


def _check_interval(value) -> int:
    low, high = INTERVALS_MS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise VaekitError(f"interval_ms must be a whole number of milliseconds from {low} to {high}, got {value!r}")
    return value


def training_timeline(source: str | os.PathLike | snap.Timeline, epoch: int | None = None,
                      interval_ms: int = INTERVAL_MS) -> TrainingTimeline:
    """The timeline of a checkpoint's snapshots (CSS class ``vaekit-training-timeline``): a path (a
    ``CheckpointError`` if it holds none), or a ``Timeline`` read already. Opens at ``epoch``, else the last."""
    timeline = snap.read(source) if isinstance(source, (str, os.PathLike)) else source
    return TrainingTimeline(timeline, epoch, interval_ms)
