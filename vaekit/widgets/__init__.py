"""Widgets for exploring a VAE in JupyterLab, Voilà or a static page: latent sliders, an interpolator,
an interactive latent map, a live loss plot, a training run's timeline.

Each function returns a widget and never calls ``display``, so it can be built and driven headless, in a
test, as well as in a notebook::

    ui = latent_sliders(model, data.test_images, data.test_labels)
    ui                      # the last line of a cell shows it
    ui.z = [1.5] + [0.0] * 19
    ui.randomize()

The work that must keep up with a hand runs in the browser: each widget is an anywidget whose ES module
sits beside its Python module (sliders.js, interpolation.js, latentmap.js, live_loss.js, timeline.js);
decoder.js decodes codes in plain JavaScript with the weights that ``ModelData`` sends once per model. The kernel
holds the state (``z``, ``start``/``end``, ...) and is told every change. Every part carries a CSS class
(``vaekit-...``) that the browser tests look for; see the docstrings.
"""

from ._common import INACTIVE_KL, one_thread
from .decoder import ModelData, decoder_spec
from .interpolation import Interpolator, interpolator
from .latentmap import LatentMap, latent_map, plot_latent_map
from .live_loss import LiveLossPlot
from .sliders import LatentSliders, latent_sliders
from .timeline import TrainingTimeline, training_timeline

__all__ = [
    "INACTIVE_KL",
    "Interpolator",
    "LatentMap",
    "LatentSliders",
    "LiveLossPlot",
    "ModelData",
    "TrainingTimeline",
    "decoder_spec",
    "interpolator",
    "latent_map",
    "latent_sliders",
    "one_thread",
    "plot_latent_map",
    "training_timeline",
]
