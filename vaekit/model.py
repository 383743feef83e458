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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import CheckpointError

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}
INITS = ("he_truncated", "he_normal", "pytorch")
HEADS = ("sigma", "logvar")

# The seed adds this inside log(sigma^2) so that sigma = 0 gives a large but
# finite loss rather than -inf.
SIGMA_EPS = 1e-10


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild the network; stored inside each checkpoint."""

    input_size: int = 28 * 28  # one unit per MNIST pixel
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

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        problems = []
        for name in ("input_size", "latent_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in self.hidden_sizes):
            problems.append(f"hidden_sizes must be positive integers, got {self.hidden_sizes!r}")
        if self.activation not in ACTIVATIONS:
            problems.append(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.init not in INITS:
            problems.append(f"init must be one of {list(INITS)}, got {self.init!r}")
        if self.head not in HEADS:
            problems.append(f"head must be one of {list(HEADS)}, got {self.head!r}")
        if problems:
            raise CheckpointError("invalid VAE configuration: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden_sizes": list(self.hidden_sizes)}

    @classmethod
    def from_dict(cls, data: dict) -> VAEConfig:
        """Rebuild from JSON, refusing unknown keys (a typo should not pass silently)."""
        if not isinstance(data, dict):
            raise CheckpointError(f"VAE configuration must be a JSON object, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise CheckpointError(
                f"unknown VAE configuration keys {sorted(unknown)}; known keys are {sorted(known)}"
            )
        if not isinstance(data.get("hidden_sizes", []), (list, tuple)):
            raise CheckpointError("VAE configuration: hidden_sizes must be a list of integers")
        return cls(**data)


# Named configurations, so that scripts and notebooks never copy numbers.
PRESETS = {
    "seed": VAEConfig(),
    "logvar": VAEConfig(head="logvar"),
}


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
        hidden = list(config.hidden_sizes)
        self.encoder = _mlp([config.input_size, *hidden], config.activation, config.init, last_activation=True)
        # Two linear heads on the last hidden layer: the code's mean and its spread.
        self.mean_head = nn.Linear(hidden[-1], config.latent_size)
        self.scale_head = nn.Linear(hidden[-1], config.latent_size)
        for head in (self.mean_head, self.scale_head):
            _init_linear(head, config.init)
        # The decoder mirrors the encoder and ends in logits (no activation):
        # sigmoid(logits) are the pixel intensities, and the loss works on
        # logits directly for numerical stability.
        self.decoder = _mlp(
            [config.latent_size, *reversed(hidden), config.input_size],
            config.activation,
            config.init,
            last_activation=False,
        )

    # -- the three steps of a VAE -------------------------------------------

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 784) pixels in [0, 1] -> mean (B, 20) and scale parameter (B, 20).

        The scale parameter is sigma for the "sigma" head and log(sigma^2) for
        the "logvar" head; ``std`` turns either into a standard deviation.
        """
        h = self.encoder(x)  # (B, 500)
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

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, 20) codes -> (B, 784) logits; ``torch.sigmoid`` gives the image."""
        h = self.decoder[:-1](z)  # (B, 500)
        # Under bfloat16 autocast (--fast) the output layer stays float32: with
        # bfloat16 logits the test loss ended ~1.8 nats worse after 10 epochs.
        with torch.autocast(z.device.type, enabled=False):
            return self.decoder[-1](h.float())

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None, eps: torch.Tensor | None = None):
        """Encode, sample a code, decode: returns (logits, mean, scale)."""
        # Under bfloat16 autocast (--fast) the heads come out in bfloat16; the
        # noise, the KL's exp/log and its sums keep float32's precision.
        mean, scale = (t.float() for t in self.encode(x))
        z = self.reparameterize(mean, scale, generator, eps)
        return self.decode(z), mean, scale

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
        self, x: torch.Tensor, generator: torch.Generator | None = None, eps: torch.Tensor | None = None
    ) -> VAELoss:
        """Negative ELBO of a batch with one sampled code per image (noise ``eps``, if given)."""
        logits, mean, scale = self(x, generator, eps)
        # Bernoulli -log p(x|z): the seed's sigmoid cross-entropy, summed over pixels.
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
        return VAELoss(reconstruction, self.kl_divergence(mean, scale))

    # -- generation ---------------------------------------------------------

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decode n codes drawn from the prior N(0, temperature^2 I): (n, 784) in [0, 1]."""
        device = next(self.parameters()).device
        z = temperature * torch.randn(n, self.config.latent_size, generator=generator, device=device)
        return torch.sigmoid(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode each image's mean code (no sampling): (B, 784) in [0, 1]."""
        mean, _ = self.encode(x)
        return torch.sigmoid(self.decode(mean))


def build(preset_or_config: str | VAEConfig = "seed", seed: int | None = None, **overrides) -> VAE:
    """A fresh VAE from a preset name or a config, optionally seeded and overridden.

    ``build("seed", head="logvar")`` is the seed architecture with the log-variance head.
    """
    if isinstance(preset_or_config, str):
        if preset_or_config not in PRESETS:
            raise CheckpointError(f"unknown preset {preset_or_config!r}; choose one of {sorted(PRESETS)}")
        config = PRESETS[preset_or_config]
    else:
        config = preset_or_config
    if overrides:
        config = VAEConfig.from_dict({**config.to_dict(), **overrides})
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return VAE(config)
    return VAE(config)
