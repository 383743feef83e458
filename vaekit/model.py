"""The variational autoencoder, read top to bottom.

A VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", 2013,
https://arxiv.org/abs/1312.6114) learns two networks at once:

* an **encoder** q(z|x) that maps an image x to a Gaussian over a small code z
  (its mean and its spread), and
* a **decoder** p(x|z) that maps a code back to pixel probabilities.

Training maximises the evidence lower bound (ELBO), i.e. minimises

    loss = reconstruction + KL
         = -E_q[log p(x|z)]  +  KL(q(z|x) || N(0, I))

The first term asks the decoder to reproduce the input; the second keeps the
codes close to the prior N(0, I), so that decoding a *random* code from the
prior gives a plausible new image -- which is what makes a VAE generative.

The default configuration is the seed of this project: Aurélien Géron's VAE
from *Hands-On Machine Learning* (1st ed., ch. 15): 784-500-500-20-500-500-784,
ELU, He initialisation, a "sigma" head, Adam at 1e-3 on batches of 150.

A *conditional* VAE (Sohn et al. 2015) also sees the image's class: the one-hot
class is appended to the encoder's input and to the code before decoding, so
that ``sample(n, labels=3)`` draws 3s. Other architectures (``conv.py``) reuse
everything here but the two networks; ``models.py`` names them and the presets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import checks
from .data import to_float
from .errors import ConfigError

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}
INITS = ("he_truncated", "he_normal", "pytorch")
HEADS = ("sigma", "logvar")

# The seed adds this inside log(sigma^2) so that sigma = 0 gives a large but
# finite loss rather than -inf.
SIGMA_EPS = 1e-10


ARCHS = ("mlp", "conv")  # this file's multilayer perceptron, and conv.py's convolutional VAE


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild the network; stored inside each checkpoint."""

    arch: str = "mlp"
    image_shape: tuple[int, int, int] = (1, 28, 28)  # channels, height, width
    input_size: int = 28 * 28  # pixels per image: channels * height * width
    hidden_sizes: tuple[int, ...] = (500, 500)  # encoder layers; the decoder mirrors them
    latent_size: int = 20  # the code z
    activation: str = "elu"
    # "he_truncated" is TF1's variance_scaling_initializer() that the seed used:
    # a normal truncated at 2 std, with std = sqrt(1.3 * 2 / fan_in) so that the
    # truncated distribution keeps He's variance 2 / fan_in. Biases start at 0.
    init: str = "he_truncated"
    # How the encoder describes the code's spread:
    #   "sigma":  the seed's head, a linear output used directly as the standard
    #             deviation. Simple, but sigma^2 near 0 makes log(sigma^2) steep
    #             and training spikes now and then.
    #   "logvar": Géron's own later fix, a linear output gamma = log(sigma^2);
    #             exp keeps sigma positive and the loss smooth.
    head: str = "sigma"
    # 0: an ordinary VAE. k > 0: conditional on one of k classes (a one-hot vector
    # joins the encoder's input and the code).
    num_classes: int = 0

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        if isinstance(self.image_shape, (list, tuple)):
            object.__setattr__(self, "image_shape", tuple(self.image_shape))
        problems = []
        if self.arch not in ARCHS:
            problems.append(f"arch must be one of {list(ARCHS)}, got {self.arch!r}")
        shape = self.image_shape
        if not (isinstance(shape, tuple) and len(shape) == 3 and all(_is_positive_int(v) for v in shape)):
            problems.append(f"image_shape must be three positive integers (channels, height, width), got {shape!r}")
        elif _is_positive_int(self.input_size) and math.prod(shape) != self.input_size:
            problems.append(f"input_size {self.input_size} is not channels * height * width of {shape}")
        if not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool) or self.num_classes < 0:
            problems.append(f"num_classes must be an integer >= 0, got {self.num_classes!r}")
        elif self.num_classes == 1:
            problems.append("num_classes must be 0 (unconditional) or at least 2")
        for name in ("input_size", "latent_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not self.hidden_sizes or not all(_is_positive_int(h) for h in self.hidden_sizes):
            problems.append(f"hidden_sizes must be one or more positive integers, got {self.hidden_sizes!r}")
        if self.activation not in ACTIVATIONS:
            problems.append(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.init not in INITS:
            problems.append(f"init must be one of {list(INITS)}, got {self.init!r}")
        if self.head not in HEADS:
            problems.append(f"head must be one of {list(HEADS)}, got {self.head!r}")
        if problems:
            raise ConfigError("invalid VAE configuration: " + "; ".join(problems))

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden_sizes": list(self.hidden_sizes), "image_shape": list(self.image_shape)}

    @classmethod
    def from_dict(cls, data: dict) -> VAEConfig:
        """Rebuild from JSON, refusing unknown keys (a typo should not pass silently)."""
        if not isinstance(data, dict):
            raise ConfigError(f"VAE configuration must be a JSON object, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown VAE configuration keys {sorted(unknown)}; known keys are {sorted(known)}")
        for key in ("hidden_sizes", "image_shape"):
            if not isinstance(data.get(key, []), (list, tuple)):
                raise ConfigError(f"VAE configuration: {key} must be a list of integers")
        return cls(**data)


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass
class VAELoss:
    """The negative ELBO of a batch, split into its two terms, in nats.

    Per-image tensors have shape (B,). The seed printed *sums* over the batch;
    divide by the batch size (or use the ``*_per_image`` means) to compare
    batches of different sizes.
    """

    reconstruction_per_image: torch.Tensor  # (B,)  -log p(x|z), Bernoulli
    kl_per_image: torch.Tensor  # (B,)  KL(q(z|x) || N(0, I))

    @property
    def total_per_image(self) -> torch.Tensor:
        return self.reconstruction_per_image + self.kl_per_image

    @property
    def reconstruction(self) -> torch.Tensor:
        return self.reconstruction_per_image.sum()

    @property
    def kl(self) -> torch.Tensor:
        return self.kl_per_image.sum()

    @property
    def total(self) -> torch.Tensor:
        """The seed's ``loss``: reconstruction + KL summed over the batch."""
        return self.reconstruction + self.kl


def _init_linear(layer: nn.Linear, init: str) -> None:
    fan_in = layer.in_features
    if init == "he_truncated":
        std = math.sqrt(1.3 * 2.0 / fan_in)
        nn.init.trunc_normal_(layer.weight, mean=0.0, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(layer.bias)
    elif init == "he_normal":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    # "pytorch": keep nn.Linear's own default (Kaiming-uniform with a=sqrt(5)).


def _mlp(sizes: list[int], activation: str, init: str, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)
        _init_linear(linear, init)
        layers.append(linear)
        if i < len(sizes) - 2 or last_activation:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Gaussian encoder, Bernoulli decoder, standard normal prior."""

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config or VAEConfig()
        self.data_info = None  # what it was trained on (data.DataInfo), kept by checkpoints
        hidden, classes = list(config.hidden_sizes), config.num_classes
        self.encoder = _mlp([config.input_size + classes, *hidden], config.activation, config.init,
                            last_activation=True)
        # Two linear heads on the last hidden layer: the code's mean and its spread.
        self.mean_head = nn.Linear(hidden[-1], config.latent_size)
        self.scale_head = nn.Linear(hidden[-1], config.latent_size)
        for head in (self.mean_head, self.scale_head):
            _init_linear(head, config.init)
        # The decoder mirrors the encoder and ends in logits (no activation):
        # sigmoid(logits) are the pixel intensities, and the loss works on
        # logits directly for numerical stability.
        self.decoder = _mlp(
            [config.latent_size + classes, *reversed(hidden), config.input_size],
            config.activation,
            config.init,
            last_activation=False,
        )

    @property
    def output_layer(self) -> nn.Module:
        """The layer that produces the logits."""
        return self.decoder[-1]

    def with_class(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """(B, n) features -> (B, n + classes) with the one-hot class appended; ``h`` itself if unconditional."""
        if not self.config.conditional:
            return h
        if y is None:
            raise ConfigError(
                f"this model is conditional on {self.config.num_classes} classes: pass the class labels (y=...)"
            )
        return torch.cat([h, F.one_hot(y.long(), self.config.num_classes).to(h.dtype)], dim=1)

    # -- the three steps of a VAE -------------------------------------------

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 784) pixels in [0, 1] (or uint8 0..255) -> mean (B, 20) and scale parameter (B, 20).

        The scale parameter is sigma for the "sigma" head and log(sigma^2) for
        the "logvar" head; ``std`` turns either into a standard deviation.
        A conditional model also takes the classes ``y`` (B,).
        """
        h = self.encoder(self.with_class(to_float(x), y))  # (B, 500)
        return self.mean_head(h), self.scale_head(h)

    def std(self, scale: torch.Tensor) -> torch.Tensor:
        """Standard deviation of q(z|x) from the head's raw output."""
        if self.config.head == "logvar":
            return torch.exp(0.5 * scale)
        # The seed uses sigma as it comes, sign included: sigma * noise has the
        # same distribution for sigma and -sigma, and the KL only sees sigma^2.
        return scale

    def reparameterize(
        self,
        mean: torch.Tensor,
        scale: torch.Tensor,
        generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z = mean + std * eps with eps ~ N(0, I): a sample that gradients flow through.

        ``eps`` (B, 20) supplies the noise instead of drawing it, as each process
        does under torchrun with its rows of the whole batch's noise.
        """
        if eps is None:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + self.std(scale) * eps

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 20) codes -> (B, 784) logits; ``torch.sigmoid`` gives the image."""
        return self.decoder(self.with_class(z, y))

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ):
        """Encode, sample a code, decode: returns (logits, mean, scale)."""
        mean, scale = self.encode(x, y)
        z = self.reparameterize(mean, scale, generator, eps)
        return self.decode(z, y), mean, scale

    # -- the objective ------------------------------------------------------

    def kl_divergence(self, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """KL(N(mean, std^2) || N(0, I)) in closed form, per image: (B,).

        Appendix B of Kingma & Welling: -KL = 0.5 * sum(1 + log s^2 - m^2 - s^2).
        """
        if self.config.head == "logvar":
            per_dim = torch.exp(scale) + mean.square() - 1.0 - scale
        else:  # the seed's formula, eps included
            sigma_sq = scale.square()
            per_dim = sigma_sq + mean.square() - 1.0 - torch.log(SIGMA_EPS + sigma_sq)
        return 0.5 * per_dim.sum(dim=1)

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ) -> VAELoss:
        """Negative ELBO of a batch with one sampled code per image (noise ``eps``, if given)."""
        x = to_float(x)
        logits, mean, scale = self(x, y, generator, eps)
        # Bernoulli -log p(x|z): the seed's sigmoid cross-entropy, summed over pixels.
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
        return VAELoss(reconstruction, self.kl_divergence(mean, scale))

    # -- generation ---------------------------------------------------------

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | int | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode n codes drawn from the prior N(0, temperature^2 I): (n, 784) in [0, 1].

        A conditional model draws the class ``labels`` (one class for all, or (n,) of them).
        """
        temperature = checks.temperature(temperature)
        device = next(self.parameters()).device
        z = temperature * torch.randn(n, self.config.latent_size, generator=generator, device=device)
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long, device=device).expand(n)
        return torch.sigmoid(self.decode(z, labels))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decode each image's mean code (no sampling): (B, 784) in [0, 1]."""
        x = checks.images(x, self.config.input_size)  # NumPy, uint8 or float64 welcome; NaN or 0-255 floats refused
        mean, _ = self.encode(x, y)
        return torch.sigmoid(self.decode(mean, y))
