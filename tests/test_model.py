"""The VAE's arithmetic, checked against values computed by hand."""

import math

import pytest
import torch

from vaekit import VAE, VAEConfig, build
from vaekit.errors import ConfigError
from vaekit.model import SIGMA_EPS


def tiny_vae(head: str) -> VAE:
    """2 pixels -> 1 hidden unit -> 1 latent -> 1 hidden -> 2 logits, with weights set by hand.

    Encoder: h = ELU(x1 + x2 - 1); mean = 0.5 h; the spread head is constant with
    sigma^2 = 4 (sigma = 2, or log sigma^2 = ln 4). The decoder's last layer has
    zero weights, so its logits are its bias (ln 3, 0) whatever the code.
    """
    model = VAE(VAEConfig(image_shape=(1, 1, 2), input_size=2, hidden_sizes=(1,), latent_size=1, head=head))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.encoder[0].weight.fill_(1.0)
        model.encoder[0].bias.fill_(-1.0)
        model.mean_head.weight.fill_(0.5)
        model.scale_head.bias.fill_(2.0 if head == "sigma" else math.log(4.0))
        model.decoder[-1].bias.copy_(torch.tensor([math.log(3.0), 0.0]))
    return model


def softplus(v):
    return math.log1p(math.exp(v))


def bce(x, logit):  # -[x log s(l) + (1 - x) log(1 - s(l))]
    return softplus(logit) - x * logit


@pytest.mark.parametrize("head", ["sigma", "logvar"])
def test_loss_matches_hand_computation(head):
    x = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    loss = tiny_vae(head).loss(x, torch.Generator().manual_seed(0))

    hidden = [1.0, math.exp(-1.0) - 1.0, 0.0]  # ELU(1), ELU(-1), ELU(0)
    means = [0.5 * h for h in hidden]
    eps = SIGMA_EPS if head == "sigma" else 0.0
    kl = [0.5 * (4.0 + m * m - 1.0 - math.log(eps + 4.0)) for m in means]
    rec = [bce(a, math.log(3.0)) + bce(b, 0.0) for a, b in x.tolist()]

    assert loss.kl_per_image.tolist() == pytest.approx(kl, rel=1e-6)
    assert loss.reconstruction_per_image.tolist() == pytest.approx(rec, rel=1e-6)
    assert loss.total.item() == pytest.approx(sum(kl) + sum(rec), rel=1e-6)
    assert loss.kl.item() == pytest.approx(sum(kl), rel=1e-6)
    assert loss.reconstruction.item() == pytest.approx(sum(rec), rel=1e-6)


def test_kl_is_zero_at_the_prior():
    mean = torch.zeros(4, 20)
    for head, scale in (("sigma", torch.ones(4, 20)), ("logvar", torch.zeros(4, 20))):
        kl = build("seed", head=head).kl_divergence(mean, scale)
        assert kl.shape == (4,)
        assert torch.allclose(kl, torch.zeros(4), atol=1e-6), head


def test_kl_grows_away_from_the_prior():
    model = build("seed")
    at_prior = model.kl_divergence(torch.zeros(1, 20), torch.ones(1, 20))
    shifted = model.kl_divergence(torch.full((1, 20), 0.5), torch.ones(1, 20))
    assert shifted.item() == pytest.approx(20 * 0.5 * 0.25, rel=1e-5)
    assert shifted.item() > at_prior.item()


def test_seed_architecture_shapes():
    model = build("seed", seed=0)
    x = torch.rand(5, 784)
    mean, scale = model.encode(x)
    logits, _, _ = model(x)
    assert mean.shape == scale.shape == (5, 20)
    assert logits.shape == (5, 784)
    sizes = [tuple(p.shape) for p in model.parameters()]
    assert sizes == [
        (500, 784), (500,), (500, 500), (500,),  # encoder
        (20, 500), (20,), (20, 500), (20,),  # mean and sigma heads
        (500, 20), (500,), (500, 500), (500,), (784, 500), (784,),  # decoder
    ]
    # 392,500 + 250,500 + 2 x 10,020 + 10,500 + 250,500 + 392,784
    assert sum(p.numel() for p in model.parameters()) == 1_316_824


def test_he_truncated_init_keeps_hes_variance():
    model = build("seed", seed=0)
    weight = model.encoder[0].weight  # fan_in 784
    assert weight.var().item() == pytest.approx(2.0 / 784, rel=0.03)
    assert weight.abs().max().item() <= 2 * math.sqrt(2.6 / 784) + 1e-6
    assert torch.count_nonzero(model.encoder[0].bias) == 0


def test_same_seed_same_weights_and_other_seed_differs():
    a, b, c = build("seed", seed=1), build("seed", seed=1), build("seed", seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.encoder[0].weight, c.encoder[0].weight)


def test_sample_and_reconstruct_give_images():
    model = build("seed", seed=0)
    images = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert images.shape == (7, 784)
    assert images.min() >= 0 and images.max() <= 1
    assert model.reconstruct(torch.rand(3, 784)).shape == (3, 784)


@pytest.mark.parametrize(
    "bad",
    [{"latent_size": 0}, {"hidden_sizes": (500, -1)}, {"head": "gauss"}, {"activation": "swish"}, {"input_size": 1.5}],
)
def test_bad_config_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="invalid VAE configuration"):
        VAEConfig(**bad)


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown VAE configuration keys"):
        VAEConfig.from_dict({**VAEConfig().to_dict(), "dropout": 0.1})
    assert VAEConfig.from_dict(VAEConfig(head="logvar").to_dict()) == VAEConfig(head="logvar")


def test_given_noise_is_used_as_drawn_noise_would_be():
    model, x = build("seed", seed=0), torch.rand(6, 784)
    drawn = model.loss(x, generator=torch.Generator().manual_seed(3))
    eps = torch.randn(6, model.config.latent_size, generator=torch.Generator().manual_seed(3))
    given = model.loss(x, eps=eps)
    assert torch.equal(given.reconstruction_per_image, drawn.reconstruction_per_image)
    # Rows of the noise go with rows of the batch: how torchrun's processes share a batch
    # (equal up to rounding: a matrix product of 2 rows is not computed as rows of one of 6).
    part = model.loss(x[4:], eps=eps[4:]).reconstruction_per_image
    torch.testing.assert_close(part, drawn.reconstruction_per_image[4:])
