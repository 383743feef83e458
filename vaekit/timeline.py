"""The training time machine: a run's snapshots, scrubbed or played in the browser.

``training_timeline(path_or_timeline)`` shows, for the epoch picked on the scrubber (or walked through
by Play), the decodings of the run's fixed prior codes, its fixed test images over their
reconstructions, the KL of each code dimension as bars, and the loss curve with a marker at the epoch.
The snapshots (``vaekit.snapshots``, about 19 KB an epoch) are sent to the browser once; scrubbing
and playing need no kernel.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import anywidget
import torch
import traitlets

from . import snapshots as snap
from .errors import VaekitError

HERE = Path(__file__).parent

INTERVAL_MS = 300  # between frames while playing


class TrainingTimeline(anywidget.AnyWidget):
    """Scrub or play through a training run's snapshots. Built by ``training_timeline``.

    Synced traits: ``epoch`` (the snapshot shown, 0 to len - 1), ``interval_ms``; the snapshots
    themselves are sent once. In the page: ``.vaekit-play-button``, ``.vaekit-stop-button``,
    ``.vaekit-epoch-slider input``, ``.vaekit-epoch-readout``, ``canvas.vaekit-timeline-samples``,
    ``canvas.vaekit-timeline-reconstructions``, ``canvas.vaekit-timeline-kl``, ``canvas.vaekit-timeline-loss``,
    ``.vaekit-timeline-caption``.
    """

    _esm = HERE / "timeline.js"
    _css = """
    .vaekit-root { font-size: 13px; display: flex; flex-direction: column; gap: 6px; }
    .vaekit-row, .vaekit-pictures { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 10px; }
    .vaekit-caption { font-size: 12px; }
    .vaekit-root canvas { image-rendering: pixelated; }
    .vaekit-root button.vaekit-on { font-weight: bold; }
    .vaekit-epoch-readout { font-variant-numeric: tabular-nums; margin-left: 6px; }
    """
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

    def __init__(self, timeline: snap.Timeline, epoch: int | None = None, interval_ms: int = INTERVAL_MS):
        pixels = timeline.samples.shape[-1]
        side = math.isqrt(pixels)
        if side * side != pixels:
            raise VaekitError(f"the timeline shows square grey images; these have {pixels} pixels")
        self.timeline = timeline
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
            epoch=len(timeline) - 1 if epoch is None else epoch,
            interval_ms=interval_ms,
        )
        self.add_class("vaekit-training-timeline")

    @traitlets.validate("epoch")
    def _valid_epoch(self, proposal):
        epoch = proposal["value"]
        if not 0 <= epoch < len(self.timeline):
            raise VaekitError(f"this run has snapshots 0 to {len(self.timeline) - 1}, not {epoch}")
        return epoch

    @traitlets.validate("interval_ms")
    def _valid_interval(self, proposal):
        if not 20 <= proposal["value"] <= 10_000:
            raise VaekitError(f"interval_ms must be from 20 to 10000, got {proposal['value']}")
        return proposal["value"]

    def shown(self) -> dict[str, torch.Tensor]:
        """What the widget shows now (uint8 images, KL values): the kernel's view of the same frame."""
        i = self.epoch
        return {"samples": self.timeline.samples[i], "reconstructions": self.timeline.reconstructions[i],
                "kl": self.timeline.kl[i]}


def training_timeline(source: str | os.PathLike | snap.Timeline, epoch: int | None = None,
                      interval_ms: int = INTERVAL_MS) -> TrainingTimeline:
    """The timeline of a checkpoint's snapshots (a path, or a ``Timeline`` read already); opens at the last epoch."""
    timeline = source if isinstance(source, snap.Timeline) else snap.read(source)
    return TrainingTimeline(timeline, epoch, interval_ms)
