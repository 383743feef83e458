"""The live loss plot: a trainer callback that streams new loss values to a plot drawn in the browser.

The kernel sends only what is new since its last update (a few numbers: microseconds, whatever the
history's length); the browser keeps the history and redraws its canvas (``live_loss.js``). The old
way, a matplotlib figure re-rendered per update, cost 0.1-0.4 s and grew with the history.
"""

from __future__ import annotations

import time
from typing import Callable

import anywidget
import traitlets

from ..train import Callback, Trainer
from ._common import esm
from .decoder import HERE

EPOCH_TERMS = ("total", "reconstruction", "kl")


def _epoch_point(record: dict) -> dict:
    """The numbers a plotted epoch needs, from one history record."""
    point = {"epoch": record["epoch"] + 1}
    for split in ("train", "test"):
        for term in EPOCH_TERMS:
            if f"{split}_{term}" in record:
                point[f"{split}_{term}"] = float(record[f"{split}_{term}"])
    return point


class LossPlot(anywidget.AnyWidget):
    """The browser-side plot (CSS class ``vaekit-live-loss``): per-step loss (raw and smoothed) and the
    per-epoch losses. Points arrive as messages (``append``); ``history`` holds them all, synced once
    training ends, so that a view drawn later (a reopened notebook) shows the whole run."""

    _esm = esm(HERE / "live_loss.js")
    history = traitlets.Dict({"steps": [], "epochs": []}).tag(sync=True)

    def __init__(self):
        super().__init__()
        self.add_class("vaekit-live-loss")
        self.steps: list[float] = []
        self.epochs: list[dict] = []

    def append(self, steps: list[float], epochs: list[dict]) -> None:
        """Send new points: per-step losses and per-epoch records (``_epoch_point`` form)."""
        self.steps += steps
        self.epochs += epochs
        self.send({"steps": steps, "epochs": epochs})

    def reset(self) -> None:
        self.steps, self.epochs = [], []
        self.send({"reset": True})

    def settle(self) -> None:
        """Sync the whole history as state (once, at the end of training)."""
        self.history = {"steps": list(self.steps), "epochs": list(self.epochs)}


class LiveLossPlot(Callback):
    """A trainer callback that keeps the browser's loss plot up to date while training runs.

    ``widget`` is a ``LossPlot`` (CSS class ``vaekit-live-loss``): show it, then train with this callback::

        live = LiveLossPlot()
        display(live.widget)
        vaekit.fit(model, train, test, config, callbacks=[live, vaekit.ProgressBar()])

    It sends the new points at each epoch's end and, during an epoch, at most every ``min_interval_s``
    seconds; each update costs the kernel only the new points (``benchmarks/bench_live_plot.py``).
    """

    def __init__(self, min_interval_s: float = 0.25, clock: Callable[[], float] = time.monotonic):
        self.min_interval_s = min_interval_s
        self.clock = clock  # injectable so the throttle can be tested without waiting
        self.widget = LossPlot()
        self.history: dict = {"epochs": [], "batch_losses": []}
        self.updates = 0
        self._sent_steps = 0
        self._sent_epochs = 0
        self._last_update = -float("inf")

    def update(self) -> None:
        """Send the steps and epochs the browser has not seen yet."""
        steps = self.history.get("batch_losses", [])
        epochs = self.history.get("epochs", [])
        self.widget.append([float(v) for v in steps[self._sent_steps:]],
                           [_epoch_point(r) for r in epochs[self._sent_epochs:]])
        self._sent_steps, self._sent_epochs = len(steps), len(epochs)
        self._last_update = self.clock()
        self.updates += 1

    def on_train_begin(self, trainer: Trainer) -> None:
        self.history = trainer.history  # the trainer appends to it; we only read
        self._sent_steps = self._sent_epochs = 0
        self.widget.reset()
        self.update()

    def on_batch_end(self, trainer: Trainer, batch_loss: float) -> None:
        if self.clock() - self._last_update >= self.min_interval_s:
            self.update()

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self.update()

    def on_train_end(self, trainer: Trainer) -> None:
        self.update()
        self.widget.settle()
