"""Widgets for exploring a VAE in JupyterLab: a live loss plot, latent sliders, an interpolator, a latent map.

Each function (or class) returns an ipywidgets object and never calls ``display``,
so it can be built and driven headless, in a test, as well as in a notebook::

    ui = latent_sliders(model, data.test_images, data.test_labels)
    ui                      # the last line of a cell shows it
    ui.sliders[0].value = 1.5
    ui.random_button.click()

Images are rendered kernel-side and set in place as PNG bytes on an
``ipywidgets.Image``: no figure is re-plotted per slider tick, nothing flickers,
and -- unlike an ipympl figure -- the image updates while a cell is still running
(Run All Cells during training). Every widget carries CSS classes
(``vaekit-...``) that the browser tests look for; see the docstrings.

Mistakes a user can fix (an index out of range) are shown in the widget's
message line and leave the widget as it was; anything unexpected inside a
callback goes, with its traceback, into the widget's ``Output`` area.
"""

from ._common import INACTIVE_KL, one_thread
from .decoder import ModelData, decoder_spec
from .interpolation import Interpolator, interpolator
from .latentmap import LatentMap, latent_map, plot_latent_map
from .live_loss import LiveLossPlot
from .sliders import LatentSliders, latent_sliders

__all__ = [
    "INACTIVE_KL",
    "Interpolator",
    "LatentMap",
    "LatentSliders",
    "LiveLossPlot",
    "ModelData",
    "decoder_spec",
    "interpolator",
    "latent_map",
    "latent_sliders",
    "one_thread",
    "plot_latent_map",
]
