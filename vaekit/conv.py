"""A convolutional VAE for 28 x 28 images.

After TensorFlow's "Convolutional Variational Autoencoder" tutorial (the CVAE of
tensorflow.org/tutorials/generative/cvae) and keras.io's "Variational
AutoEncoder" example: two strided convolutions down, two transposed
convolutions up. Everything else -- the heads, the reparameterisation, the
loss, sampling, conditioning on a class -- is ``model.VAE``'s.

    encoder  (B, C, 28, 28) -conv 3x3 /2-> (B, 32, 14, 14) -conv 3x3 /2-> (B, 64, 7, 7) -> flatten (B, 3136)
    heads    (B, 3136) -> mean (B, z), scale (B, z)
    decoder  (B, z) -linear-> (B, 32 * 7 * 7) -> (B, 32, 7, 7)
             -transposed conv 3x3 *2-> (B, 64, 14, 14) -transposed conv 3x3 *2-> (B, 32, 28, 28)
             -transposed conv 3x3-> (B, C, 28, 28) logits, flattened to (B, C * 784)

A conditional model appends the one-hot class to the flattened features before
the heads and to the code before the decoder's first layer.
"""

from __future__ import annotations

import torch
from torch import nn

from .data import to_float
from .errors import ConfigError
from .model import ACTIVATIONS, VAE, VAEConfig

CHANNELS = (32, 64)  # the encoder's two convolutions; the decoder mirrors them
DECODER_START = 32  # channels of the decoder's 7 x 7 starting grid, as in TensorFlow's CVAE
SIDE = 28  # the only image size this architecture is laid out for (two halvings: 28 -> 14 -> 7)


class ConvVAE(VAE):
    """The convolutional VAE: ``model.VAE`` with convolutions for its two networks."""

    def __init__(self, config: VAEConfig):
        nn.Module.__init__(self)  # VAE.__init__ would build the MLP's layers
        channels, height, width = config.image_shape
        if (height, width) != (SIDE, SIDE):
            raise ConfigError(f"the conv architecture is laid out for {SIDE} x {SIDE} images, got {height} x {width}")
        self.config = config
        self.data_info = None
        act = ACTIVATIONS[config.activation]
        small = SIDE // 4  # 7
        c1, c2 = CHANNELS
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, c1, 3, stride=2, padding=1), act(),  # (B, 32, 14, 14)
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), act(),  # (B, 64, 7, 7)
            nn.Flatten(),  # (B, 3136)
        )
        features = c2 * small * small
        self.mean_head = nn.Linear(features + config.num_classes, config.latent_size)
        self.scale_head = nn.Linear(features + config.num_classes, config.latent_size)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_size + config.num_classes, DECODER_START * small * small), act(),
            nn.Unflatten(1, (DECODER_START, small, small)),  # (B, 32, 7, 7)
            nn.ConvTranspose2d(DECODER_START, c2, 3, stride=2, padding=1, output_padding=1), act(),  # (B, 64, 14, 14)
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), act(),  # (B, 32, 28, 28)
            nn.ConvTranspose2d(c1, channels, 3, stride=1, padding=1),  # (B, C, 28, 28) logits
            nn.Flatten(),  # (B, C * 784)
        )

    @property
    def output_layer(self) -> nn.Module:
        return self.decoder[-2]

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C * 784) pixels in [0, 1] -> mean and scale parameter, (B, z) each."""
        h = self.encoder(to_float(x).reshape(-1, *self.config.image_shape))  # (B, 3136)
        h = self.with_class(h, y)
        return self.mean_head(h), self.scale_head(h)
