"""The model zoo: architectures by name, named presets, and ``build``.

``model.py`` is the seed's multilayer perceptron and ``conv.py`` the
convolutional VAE; a configuration's ``arch`` says which class rebuilds it, so
that ``vaekit.load`` needs nothing but the checkpoint.
"""

from __future__ import annotations

import torch

from .conv import ConvVAE
from .errors import ConfigError
from .model import VAE, VAEConfig

ARCHITECTURES: dict[str, type[VAE]] = {"mlp": VAE, "conv": ConvVAE}
# What goes with each architecture when a preset is switched to it (``train --arch``).
ARCH_DEFAULTS = {
    "mlp": {"activation": "elu", "init": "he_truncated"},
    "conv": {"activation": "relu", "init": "pytorch"},
}

# Named configurations, so that scripts and notebooks never copy numbers.
PRESETS = {
    "seed": VAEConfig(),  # Géron's VAE, exactly
    "logvar": VAEConfig(head="logvar"),  # the same with a log-variance head (Géron's own fix)
    "2d": VAEConfig(head="logvar", latent_size=2),  # a code you can plot: the learnt manifold itself
    "conv": VAEConfig(arch="conv", head="logvar", **ARCH_DEFAULTS["conv"]),  # after TensorFlow's CVAE
}


def from_config(config: VAEConfig) -> VAE:
    """A freshly initialised model of ``config``'s architecture."""
    return ARCHITECTURES[config.arch](config)


def build(preset_or_config: str | VAEConfig = "seed", seed: int | None = None, **overrides) -> VAE:
    """A fresh VAE from a preset name or a config, optionally seeded and overridden.

    ``build("seed", head="logvar")`` is the seed architecture with the log-variance head;
    ``build("conv", num_classes=10)`` a conditional convolutional VAE.
    """
    if isinstance(preset_or_config, str):
        if preset_or_config not in PRESETS:
            raise ConfigError(f"unknown preset {preset_or_config!r}; choose one of {sorted(PRESETS)}")
        config = PRESETS[preset_or_config]
    else:
        config = preset_or_config
    if overrides:
        config = VAEConfig.from_dict({**config.to_dict(), **overrides})
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return from_config(config)
    return from_config(config)
