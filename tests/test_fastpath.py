"""The hand-written training step (vaekit/fastpath.py) against autograd on real MNIST batches."""

import pytest
import torch

from vaekit import TrainConfig, Trainer, build
from vaekit.fastpath import FastStep, why_not

BATCH = 150


def autograd_step(model, x, eps, kl_weight=1.0):
    model.zero_grad(set_to_none=True)
    loss = model.loss(x, eps=eps)
    (loss.reconstruction + kl_weight * loss.kl).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    return torch.stack([loss.total, loss.reconstruction, loss.kl]).detach(), grads


def batch_and_noise(images, start=0, seed=0):
    x = images[start : start + BATCH].float()
    x = x / 255 if x.max() > 1 else x  # uint8 pixels or floats in [0, 1]
    return x, torch.randn(BATCH, 20, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("head", ["sigma", "logvar"])
@pytest.mark.parametrize("activation", ["elu", "relu", "tanh"])
def test_losses_and_gradients_match_autograd(small_mnist, head, activation):
    model = build("seed", seed=0, head=head, activation=activation)
    step = FastStep(model, BATCH)
    for start, seed in ((0, 0), (300, 1)):  # two real batches, fresh noise
        x, eps = batch_and_noise(small_mnist.train_images, start, seed)
        expected, grads = autograd_step(model, x, eps)
        model.zero_grad(set_to_none=True)
        got = step.step(x, eps)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)
        for (name, p), g in zip(model.named_parameters(), grads):
            # Same kernels in the same order: equal to float32 rounding (bit for bit on the machines tried).
            torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6 * g.abs().max().item(), msg=name)


def test_other_sizes_match_autograd_too(small_mnist):
    model = build("seed", seed=2, hidden_sizes=(64,), latent_size=2, head="logvar")
    x, _ = batch_and_noise(small_mnist.train_images)
    eps = torch.randn(BATCH, 2, generator=torch.Generator().manual_seed(3))
    expected, grads = autograd_step(model, x, eps)
    torch.testing.assert_close(FastStep(model, BATCH).step(x, eps), expected, rtol=1e-6, atol=0)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6 * g.abs().max().item())


@pytest.mark.parametrize("head", ["sigma", "logvar"])
def test_kl_weight_scales_only_the_kl_gradient(small_mnist, head):
    model = build("seed", seed=1, head=head)
    x, eps = batch_and_noise(small_mnist.train_images)
    expected, grads = autograd_step(model, x, eps, kl_weight=0.25)
    got = FastStep(model, BATCH).step(x, eps, kl_weight=0.25)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)  # the true negative ELBO, not the objective
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5 * g.abs().max().item())
    # Decoder gradients do not see the KL at all: they match the beta = 1 step exactly.
    _, full = autograd_step(model, x, eps)
    assert torch.equal(grads[-1], full[-1])


def test_training_with_it_gives_autograds_history(small_mnist):
    def run(hand_written):
        config = TrainConfig(epochs=2, seed=5)
        trainer = Trainer(build("seed", seed=5), small_mnist.train_images, small_mnist.test_images, config)
        assert trainer.hand_written_step is not None  # the default on the CPU
        if not hand_written:
            trainer.hand_written_step = None
        trainer.fit()
        return trainer.history

    fast, slow = run(True), run(False)
    assert fast["batch_losses"] == pytest.approx(slow["batch_losses"], rel=1e-5)
    for a, b in zip(fast["epochs"], slow["epochs"]):
        assert a["test_total"] == pytest.approx(b["test_total"], rel=1e-5)


def test_it_steps_aside_where_it_does_not_apply(small_mnist):
    cpu = torch.device("cpu")
    model = build("seed", seed=0)
    assert why_not(model, cpu, bfloat16=False, processes=1) is None
    assert "bfloat16" in why_not(model, cpu, bfloat16=True, processes=1)
    assert "processes" in why_not(model, cpu, bfloat16=False, processes=2)
    assert "CPU" in why_not(model, torch.device("cuda"), bfloat16=False, processes=1)
    assert "float32" in why_not(build("seed", seed=0).double(), cpu, bfloat16=False, processes=1)
    with pytest.raises(ValueError, match="batches of 150"):
        FastStep(model, BATCH).step(*batch_and_noise(small_mnist.train_images[:100]))


def test_a_model_changed_after_the_trainer_was_made_goes_back_to_autograd(small_mnist):
    model = build("seed", seed=0)
    trainer = Trainer(model, small_mnist.train_images, config=TrainConfig(epochs=1))
    seen = []
    model.decoder[0].register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    trainer.fit()
    assert trainer.hand_written_step is None and len(seen) == trainer.steps_per_epoch + 1  # + the epoch's report
