"""The live loss plot: a trainer callback that redraws the loss curves while training runs."""

from __future__ import annotations

import time
from typing import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..plotting import figure_png, plot_history
from ..train import Callback, Trainer
from ._common import labelled


class LiveLossPlot(Callback):
    """A trainer callback that redraws the loss curves in place while training runs.

    ``widget`` is an ``ipywidgets.Image`` (CSS class ``vaekit-live-loss``): show
    it, then train with this callback::

        live = LiveLossPlot()
        display(live.widget)
        vaekit.fit(model, train, test, config, callbacks=[live, vaekit.ProgressBar()])

    It redraws at each epoch's end and, during an epoch, at most every
    ``min_interval_s`` seconds -- and never spends more than about a tenth of the
    training time drawing (a redraw of the two panels takes ~0.1 s).
    """

    def __init__(self, min_interval_s: float = 1.0, figsize: tuple[float, float] = (10, 3.6), dpi: int = 80,
                 clock: Callable[[], float] = time.monotonic):
        self.min_interval_s = min_interval_s
        self.dpi = dpi
        self.clock = clock  # injectable so the throttle can be tested without waiting
        self.figure = Figure(figsize=figsize)
        self.widget = labelled(widgets.Image(format="png"), "vaekit-live-loss")
        self.history: dict = {"epochs": [], "batch_losses": []}
        self.redraws = 0
        self._last_draw = -float("inf")
        self._draw_cost = 0.0

    def redraw(self) -> None:
        started = self.clock()
        self.widget.value = figure_png(plot_history(self.history, self.figure), dpi=self.dpi)
        self._last_draw = self.clock()
        self._draw_cost = self._last_draw - started
        self.redraws += 1

    def on_train_begin(self, trainer: Trainer) -> None:
        self.history = trainer.history  # the trainer appends to it; we only read
        self.redraw()

    def on_batch_end(self, trainer: Trainer, batch_loss: float) -> None:
        if self.clock() - self._last_draw >= max(self.min_interval_s, 10 * self._draw_cost):
            self.redraw()

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self.redraw()

    def on_train_end(self, trainer: Trainer) -> None:
        self.redraw()
