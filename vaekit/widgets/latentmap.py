"""The latent map: the test images' codes on their two principal directions, beside decodings across them."""

from __future__ import annotations

import anywidget
import torch
import traitlets
from ipywidgets import widget_serialization
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..latent import decode_images, encode_means, principal_directions
from ..model import VAE
from ..plotting import image_grid
from ._common import esm
from .decoder import HERE, ModelData
from .interpolation import Interpolator
from .sliders import LatentSliders

DIGIT_CLASSES = tuple(range(10))


def plot_latent_map(model: VAE, images: torch.Tensor, labels: torch.Tensor, grid: int = 15) -> Figure:
    """Left: each image's mean code projected on the two leading principal directions, coloured by
    label. Right: the decodings of a ``grid`` x ``grid`` lattice across the same two directions."""
    codes = encode_means(model, images)
    centre, directions, ratios = principal_directions(codes)
    scores = (codes - centre) @ directions.T  # (N, 2)
    fig = Figure(figsize=(12, 5.6))
    scatter_ax, grid_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    labels = labels.cpu()
    for digit in DIGIT_CLASSES:
        chosen = labels == digit
        if chosen.any():
            scatter_ax.scatter(*scores[chosen].T, s=4, alpha=0.6, color=f"C{digit}", label=str(digit), rasterized=True)
    scatter_ax.legend(markerscale=3, fontsize=8, title="label", loc="best")
    scatter_ax.set(
        xlabel=f"1st principal direction ({ratios[0]:.0%} of the variance)",
        ylabel=f"2nd principal direction ({ratios[1]:.0%})",
        title=f"{len(codes):,} test digits' mean codes",
    )
    # The lattice spans where most of the codes lie (2nd to 98th percentile on each axis).
    low, high = torch.quantile(scores, 0.02, dim=0), torch.quantile(scores, 0.98, dim=0)
    a = torch.linspace(float(low[0]), float(high[0]), grid)
    b = torch.linspace(float(high[1]), float(low[1]), grid)  # top row = high values, as on the scatter
    bb, aa = torch.meshgrid(b, a, indexing="ij")
    lattice = centre + aa.reshape(-1, 1) * directions[0] + bb.reshape(-1, 1) * directions[1]
    grid_ax.imshow(image_grid(decode_images(model, lattice), nrow=grid, padding=0), cmap="gray", vmin=0, vmax=1,
                   extent=(float(low[0]), float(high[0]), float(low[1]), float(high[1])), aspect="auto",
                   interpolation="nearest")
    box = Rectangle((float(low[0]), float(low[1])), float(high[0] - low[0]), float(high[1] - low[1]),
                    fill=False, linestyle="--", color="0.3")
    scatter_ax.add_patch(box)
    grid_ax.set(xlabel="1st principal direction", ylabel="2nd principal direction",
                title="decodings across the dashed box (other directions at the mean)")
    fig.tight_layout()
    return fig


class LatentMap(anywidget.AnyWidget):
    """The interactive latent map (CSS class ``vaekit-latent-map``), drawn in the browser.

    Each test image's mean code is a dot on ``projection``'s two directions (the code itself for a 2-D
    model, else its two principal directions), coloured by class. Hover shows the image; click loads its
    code into ``sliders`` (a ``LatentSliders``, optional); shift-click sets ``interpolator``'s ends in
    turn; the sliders' code is drawn as a marker that follows them. ``clicked``: the last image clicked.
    ``figure``: the same projection as a matplotlib figure, with a grid of decodings (for papers).
    In the page: ``canvas.vaekit-map-canvas`` (``data-marker``, ``data-hovered``), ``canvas.vaekit-map-hover``.
    """

    _esm = esm(HERE / "latentmap.js")
    _css = HERE / "widgets.css"
    data = traitlets.Instance(ModelData).tag(sync=True, **widget_serialization)
    sliders = traitlets.Instance(LatentSliders, allow_none=True).tag(sync=True, **widget_serialization)
    interpolator = traitlets.Instance(Interpolator, allow_none=True).tag(sync=True, **widget_serialization)
    projection = traitlets.Dict().tag(sync=True)
    intro = traitlets.Unicode("").tag(sync=True)
    clicked = traitlets.Int(-1).tag(sync=True)

    def __init__(self, data: ModelData, sliders: LatentSliders | None = None, interpolator: Interpolator | None = None):
        codes = data.code_tensor
        latent = codes.shape[1]
        if latent == 2:
            centre, directions = torch.zeros(2), torch.eye(2)
            intro = "Each dot is a test image's code; the code has 2 dimensions, shown as they are."
        else:
            centre, directions, ratios = principal_directions(codes)
            intro = (f"The code has {latent} dimensions; these are the two directions along which the test images' "
                     f"codes spread most ({float(ratios[0]):.0%} and {float(ratios[1]):.0%} of the variance).")
        intro += " Point at a dot to see its image; click it to load its code into the sliders" + (
            "; shift-click to set the interpolation's ends." if interpolator is not None else ".")
        super().__init__(data=data, sliders=sliders, interpolator=interpolator, intro=intro,
                         projection={"centre": centre.tolist(), "directions": directions.tolist()})
        self.add_class("vaekit-latent-map")

    def points(self) -> torch.Tensor:
        """Each image's position on the map: (N, 2)."""
        centre = torch.tensor(self.projection["centre"])
        return (self.data.code_tensor - centre) @ torch.tensor(self.projection["directions"]).T

    @property
    def figure(self) -> Figure:
        return plot_latent_map(self.data.model, self.data.image_tensor, self.data.label_tensor)


def latent_map(model, images, labels, sliders: LatentSliders | None = None, interpolator: Interpolator | None = None,
               data: ModelData | None = None) -> LatentMap:
    """The interactive latent map of ``images``' codes; linked to ``sliders`` and ``interpolator`` if given
    (then it shares their ``ModelData``)."""
    for other in (sliders, interpolator):
        if data is None and other is not None:
            data = other.data
    data = data if data is not None else ModelData(model, images, labels)
    return LatentMap(data, sliders, interpolator)
