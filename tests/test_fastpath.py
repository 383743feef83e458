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


def _train(images, test_images, threads, hand_written=True, epochs=2, **options):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        trainer = Trainer(build("seed", seed=5), images, test_images, TrainConfig(epochs=epochs, seed=5, **options))
        assert trainer.hand_written_step is not None  # the default on the CPU
        if not hand_written:
            trainer.hand_written_step = None
        trainer.fit()
    finally:
        torch.set_num_threads(previous)
    return trainer


def test_training_with_it_gives_autograds_history(small_mnist):
    # One thread each: autograd's products then round as the hand-written step's do on any thread count.
    fast = _train(small_mnist.train_images, small_mnist.test_images, threads=1).history
    slow = _train(small_mnist.train_images, small_mnist.test_images, threads=1, hand_written=False).history
    assert fast["batch_losses"] == pytest.approx(slow["batch_losses"], rel=1e-5)
    for a, b in zip(fast["epochs"], slow["epochs"]):
        assert a["test_total"] == pytest.approx(b["test_total"], rel=1e-5)


def test_two_threads_train_bit_for_bit_as_one(small_mnist):
    one = _train(small_mnist.train_images, small_mnist.test_images, threads=1)
    two = _train(small_mnist.train_images, small_mnist.test_images, threads=2)
    assert two.hand_written_step._helper is not None and one.hand_written_step._helper is None
    assert two.hand_written_step.updated  # Adam ran inside the step
    assert two.history["batch_losses"] == one.history["batch_losses"]
    for p, q in zip(one.model.parameters(), two.model.parameters()):
        assert torch.equal(p, q)
    # Autograd's step on two OpenMP threads rounds differently, and the sigma head makes that visible.
    omp = _train(small_mnist.train_images, small_mnist.test_images, threads=2, hand_written=False)
    assert omp.history["batch_losses"] != one.history["batch_losses"]


@pytest.mark.parametrize("threads", [1, 2])
def test_adam_inside_the_step_is_optimizer_step_bit_for_bit(small_mnist, threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        models = [build("seed", seed=3), build("seed", seed=3)]
        optimizers = [torch.optim.Adam(m.parameters(), lr=2e-3, fused=True) for m in models]
        inside = FastStep(models[0], BATCH, optimizers[0])
        outside = FastStep(models[1], BATCH)
        applied = []
        for start in range(0, 900, BATCH):
            x, eps = batch_and_noise(small_mnist.train_images, start, seed=start)
            inside.step(x, eps, kl_weight=0.5)
            applied.append(inside.updated)
            if not inside.updated:
                optimizers[0].step()  # the first step: Adam's state does not exist yet
            outside.step(x, eps, kl_weight=0.5)
            optimizers[1].step()
    finally:
        torch.set_num_threads(previous)
    assert applied == [False] + [True] * 5
    for p, q in zip(*(m.parameters() for m in models)):
        assert torch.equal(p, q)
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(optimizers[0].state[p][key], optimizers[1].state[q][key])


@pytest.mark.parametrize("threads", [1, 2])
def test_a_non_finite_loss_leaves_the_weights_as_they_were(small_mnist, threads):
    model = build("seed", seed=0)
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    step = FastStep(model, BATCH, optimizer)
    x, eps = batch_and_noise(small_mnist.train_images)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        step.step(x, eps)
        optimizer.step()
        step.step(x, eps)
        assert step.updated
        before = [p.clone() for p in model.parameters()]
        x[7, 300] = float("nan")
        losses = step.step(x, eps)
    finally:
        torch.set_num_threads(previous)
    assert not torch.isfinite(losses).all() and not step.updated
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert all(optimizer.state[p]["step"].item() == 2 for p in model.parameters())


def test_an_error_on_the_helper_thread_reaches_the_caller(small_mnist, monkeypatch):
    model = build("seed", seed=0)
    step = FastStep(model, BATCH)
    x, eps = batch_and_noise(small_mnist.train_images)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected = step.step(x, eps).clone()
        monkeypatch.setattr(step, "_weight_grads", lambda *args: 1 / 0)  # the helper's work
        with pytest.raises(ZeroDivisionError):
            step.step(x, eps)
        assert torch.get_num_threads() == 2  # restored
        monkeypatch.undo()
        assert torch.equal(step.step(x, eps), expected)  # the next step is whole again
    finally:
        torch.set_num_threads(previous)


def test_the_helper_thread_ends_with_its_step(small_mnist):
    import gc
    import threading
    import time

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        step = FastStep(build("seed", seed=0), BATCH)
        step.step(*batch_and_noise(small_mnist.train_images))
        assert "vaekit-fastpath" in [t.name for t in threading.enumerate()]
        del step
        gc.collect()
        deadline = time.monotonic() + 5
        while "vaekit-fastpath" in [t.name for t in threading.enumerate()] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "vaekit-fastpath" not in [t.name for t in threading.enumerate()]
    finally:
        torch.set_num_threads(previous)


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


def test_it_takes_the_faster_way_and_retimes_the_other():
    from vaekit import fastpath

    step = FastStep(build("seed", seed=0), BATCH)
    assert [step._two_threads() for _ in range(3)] == [True] * 3  # two threads until they have been timed
    step._seconds[True].extend([0.012, 0.011, 0.013])  # two threads beside a busy program
    step._seconds[False].extend([0.010, 0.009, 0.011])
    step._steps = 0
    ways = [step._two_threads() for _ in range(2 * fastpath.RETIME_EVERY)]
    assert ways.count(True) == 2 and ways[fastpath.RETIME_EVERY - 1] and ways[-1]  # one thread, retiming two
    step._seconds[True].extend([0.007, 0.006, 0.007])  # the machine is quiet again
    assert step._two_threads()


def test_switching_between_one_thread_and_two_changes_no_bit(small_mnist, monkeypatch):
    one = _train(small_mnist.train_images, None, threads=1, epochs=1)
    turns = iter(range(10**6))
    monkeypatch.setattr(FastStep, "_two_threads", lambda self: next(turns) % 3 != 1)
    mixed = _train(small_mnist.train_images, None, threads=2, epochs=1)
    assert mixed.history["batch_losses"] == one.history["batch_losses"]
    assert all(torch.equal(p, q) for p, q in zip(one.model.parameters(), mixed.model.parameters()))


def test_the_heads_can_take_the_whole_batch_between_split_halves(small_mnist, monkeypatch):
    # Where the BLAS rounds the heads' small products differently by rows (MKL's AVX2 kernels), the
    # heads and the code take the whole batch on one thread between the halves: still bit for bit.
    one = _train(small_mnist.train_images, None, threads=1, epochs=1)
    checks = []

    def heads_whole(self):
        if not checks:  # inside a step, on one thread, as _split's own check runs
            checks.append(self._rows_split_exactly(80, code_whole=True))
        return 80, True

    monkeypatch.setattr(FastStep, "_split", heads_whole)
    whole = _train(small_mnist.train_images, None, threads=2, epochs=1)
    assert checks == [True]
    assert whole.history["batch_losses"] == one.history["batch_losses"]
    assert all(torch.equal(p, q) for p, q in zip(one.model.parameters(), whole.model.parameters()))


@pytest.mark.parametrize("code_whole", [False, True])
def test_a_split_that_leaves_rows_unwritten_fails_the_check(monkeypatch, code_whole):
    step = FastStep(build("seed", seed=0), BATCH)
    decode = FastStep._decode
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            assert step._rows_split_exactly(80, code_whole)
            monkeypatch.setattr(FastStep, "_decode", lambda self, start, stop: decode(self, start, stop - 1))
            assert not step._rows_split_exactly(80, code_whole)
    finally:
        torch.set_num_threads(previous)
