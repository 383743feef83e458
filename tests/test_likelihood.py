"""The importance-weighted bound: exact on hand-built models, tighter with k on a trained one."""

import math

import pytest
import torch

from vaekit import TrainConfig, build, evaluate, fit
from vaekit.errors import VaekitError
from vaekit.likelihood import importance_weighted_bound


def prior_posterior_model(decoder_bias: float | None):
    """A seed-sized model whose q(z|x) is exactly the prior N(0, I).

    With ``decoder_bias`` the decoder also ignores z and outputs that logit
    for every pixel, so p(x|z) is a constant we can write down by hand.
    """
    model = build("seed", seed=0)
    with torch.no_grad():
        for head in (model.mean_head, model.scale_head):
            head.weight.zero_()
            head.bias.zero_()
        model.scale_head.bias.fill_(1.0)  # the seed's sigma head: sigma = 1
        if decoder_bias is not None:
            last = model.decoder[-1]
            last.weight.zero_()
            last.bias.fill_(decoder_bias)
    return model


def test_a_constant_decoder_with_q_equal_to_the_prior_gives_the_exact_likelihood():
    # Every weight w = p(x|z) p(z) / q(z|x) = p(x|z): the bound is exact for any k.
    # Logit log 3 -> pixel probability 3/4; half the pixels on, half off.
    x = torch.zeros(2, 784)
    x[:, :392] = 1.0
    expected = -(392 * math.log(0.75) + 392 * math.log(0.25))  # 656.20 nats
    model = prior_posterior_model(decoder_bias=math.log(3))
    for k in (1, 7, 100):
        result = importance_weighted_bound(model, x, k=k)
        assert result["nll"] == pytest.approx(expected, rel=1e-5)
        assert result["per_image"].tolist() == pytest.approx([expected] * 2, rel=1e-5)
    assert evaluate(model, x)["total"] == pytest.approx(expected, abs=1e-3)  # KL = 0 here


def test_k_equal_1_uses_the_same_code_as_the_loss():
    # With q = p(z), log q - log p = 0, so the k = 1 bound is exactly the loss's
    # reconstruction term, drawn with the same noise.
    model = prior_posterior_model(decoder_bias=None)
    x = torch.rand(5, 784)
    loss = model.loss(x, generator=torch.Generator().manual_seed(3))
    bound = importance_weighted_bound(model, x, k=1, seed=3)
    assert bound["per_image"].tolist() == pytest.approx(loss.reconstruction_per_image.tolist(), rel=1e-5)


def test_the_bound_tightens_with_k_and_stays_below_the_negative_elbo(small_mnist):
    model = build("logvar", seed=0)
    fit(model, small_mnist.train_images, config=TrainConfig(epochs=3, seed=0))
    images = small_mnist.test_images[:200]
    elbo = evaluate(model, images)["total"]
    bounds = [importance_weighted_bound(model, images, k=k)["nll"] for k in (1, 10, 100)]
    assert bounds[0] == pytest.approx(elbo, abs=2.0)  # k = 1 estimates the negative ELBO
    assert bounds[0] > bounds[1] > bounds[2]
    assert bounds[2] < elbo - 1.0  # a real gain, not noise


def test_bad_k_is_refused():
    with pytest.raises(VaekitError, match="positive integer"):
        importance_weighted_bound(build("seed"), torch.rand(2, 784), k=0)


@pytest.mark.parametrize("decodes", [1, 7, 20_000])
def test_the_conv_decoder_chunk_changes_speed_not_the_bound(small_mnist, monkeypatch, decodes):
    # The conv decoder runs in small chunks (likelihood.DECODES_PER_CHUNK); the
    # noise is drawn in the same order whatever the chunk, so the bound must not move.
    import vaekit.likelihood as likelihood

    model = build("conv", seed=0)
    images = small_mnist.test_images[:6]
    reference = importance_weighted_bound(model, images, k=40, seed=5)["per_image"]
    other_noise = importance_weighted_bound(model, images, k=40, seed=6)["per_image"]
    assert other_noise.tolist() != pytest.approx(reference.tolist(), rel=1e-6)  # the comparison can fail
    monkeypatch.setitem(likelihood.DECODES_PER_CHUNK, "conv", decodes)
    chunked = importance_weighted_bound(model, images, k=40, seed=5)["per_image"]
    assert chunked.tolist() == pytest.approx(reference.tolist(), rel=1e-6)
