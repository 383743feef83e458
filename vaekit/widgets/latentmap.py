"""The latent map: the test images' codes on their two principal directions, beside decodings across them."""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..latent import decode_images, encode_means, principal_directions
from ..model import VAE
from ..plotting import figure_png, image_grid
from ._common import check_images, labelled

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
                   extent=(float(low[0]), float(high[0]), float(low[1]), float(high[1])), aspect="auto", interpolation="nearest")
    box = Rectangle((float(low[0]), float(low[1])), float(high[0] - low[0]), float(high[1] - low[1]),
                    fill=False, linestyle="--", color="0.3")
    scatter_ax.add_patch(box)
    grid_ax.set(xlabel="1st principal direction", ylabel="2nd principal direction",
                title="decodings across the dashed box (other directions at the mean)")
    fig.tight_layout()
    return fig


class LatentMap(widgets.VBox):
    """The latent map as a widget (CSS class ``vaekit-latent-map``); ``figure`` is the matplotlib Figure."""

    def __init__(self, model: VAE, images: torch.Tensor, labels: torch.Tensor, grid: int = 15):
        images, labels = check_images(images, labels, model)
        self.figure = plot_latent_map(model, images, labels, grid)
        self.image = labelled(widgets.Image(value=figure_png(self.figure, dpi=80), format="png"), "vaekit-latent-map-image")
        intro = widgets.HTML(
            "The code is 20-dimensional; PCA finds the two directions along which the test digits' codes spread "
            "most. Neighbouring codes decode to similar digits, and each class takes its own region."
        )
        super().__init__([intro, self.image])
        self.add_class("vaekit-latent-map")


def latent_map(model: VAE, images: torch.Tensor, labels: torch.Tensor, grid: int = 15) -> LatentMap:
    """PCA scatter of the images' codes, coloured by label, beside a grid of decodings (a ``VBox``)."""
    return LatentMap(model, images, labels, grid)


