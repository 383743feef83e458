"""The MLP VAE's training step by hand: the same mathematics as ``model.py``, fewer passes over memory.

``model.py`` is the reference a reader follows; this file computes the same
loss and the same gradients with the chain rule written out, so that a CPU
spends its time in the matrix products rather than in autograd's bookkeeping:

* every activation and gradient lives in a buffer allocated once, and each
  operation writes into its buffer (``out=``): no allocation in the step;
* each linear layer is one ``addmm`` (bias folded into the product) forward,
  and two ``mm`` plus one column sum backward; the first layer's input needs
  no gradient and gets none;
* the activations' derivatives are ATen's own backward kernels
  (``elu_backward``, ``threshold_backward``, ``tanh_backward``), fed the saved
  pre-activation or output exactly as autograd feeds them;
* the parameters' gradients are written straight into buffers that become
  ``param.grad``, so gradient clipping runs as before, and checkpoints see
  nothing new.

Writing out the backward pass (one batch B, layers h_k = act(h_{k-1} W_k^T + b_k)):

    logits  = h W_out^T + b_out            d logits = sigmoid(logits) - x      (sum of BCE-with-logits)
    W_k.grad = (d pre_k)^T h_{k-1}         b_k.grad = column sums of d pre_k
    d h_{k-1} = (d pre_k) W_k              d pre_k  = act'(pre_k) * d h_k
    z = mean + std * eps                   d mean = d z + beta * mean
    sigma head:  std = s,         KL = 0.5 sum(s^2 + m^2 - 1 - log(1e-10 + s^2))
                 d s = d z * eps + beta * (2 s) * 0.5 * (1 - 1 / (1e-10 + s^2))
    logvar head: std = exp(s / 2), KL = 0.5 sum(exp(s) + m^2 - 1 - s)
                 d s = d z * eps * std / 2 + beta * 0.5 * (exp(s) - 1)

The operations are the ones autograd runs, so the gradients agree with
``model.loss(...).total.backward()`` to float32 rounding (the tests check both
heads on real MNIST batches). ``why_not`` says when this path can be used; the
trainer falls back to autograd everywhere else (other architectures,
conditional models, bfloat16, GPUs, several processes).

Two more things the step does when the trainer hands it its optimizer:

* **Adam.** ``torch.optim.Adam(fused=True)``'s own kernel updates the weights
  as soon as the backward pass is done with them: on two threads, the helper
  updates all layers but the first while this thread computes the first
  layer's gradients. Adam works element by element, so this is the very update
  ``optimizer.step()`` makes, in fewer passes of Python. It is skipped
  when the loss is not finite (the trainer then stops with the weights as they
  were), before Adam has made its first step (the optimizer's state does not
  exist yet), and under gradient clipping, which needs every gradient first.
* **Two threads without OpenMP.** With ``torch.get_num_threads() == 2`` the
  step runs on two threads of its own, each calling single-threaded kernels.
  The forward pass splits the batch by rows, half each (where a BLAS rounds
  the heads' small products differently by rows, as MKL's AVX2 kernels do,
  this thread computes the heads for the whole batch between the encoder's
  halves and the decoder's); in the backward pass
  this thread follows the chain of input gradients, and a helper thread takes
  the work off that chain (the loss values, the weight gradients, Adam). No
  OpenMP barrier is left in the step, and every kernel computes what it
  computes on one thread: a run gives the same numbers, bit for bit, at one
  thread and at two. So the step can also time both ways now and then and take
  the faster: beside a busy program, one thread often is. At three threads or
  more the step runs on one thread and each kernel uses PyTorch's threads.

Who computes what with two threads (main: the critical chain; helper: off it):

    main                                   helper
    forward pass, rows 0-79                forward pass, rows 80-149
    d logits = sigmoid(logits) - x         loss values (BCE, KL)
    d h5 = d logits W6                     W6.grad, b6.grad
    d pre5 = elu'(pre5) d h5
    d h4 = d pre5 W5                       W5.grad, b5.grad
    ... down to the code, the heads, the encoder's second layer ...
    W1.grad, b1.grad, Adam on W1, b1       Adam on every other layer
"""

from __future__ import annotations

import collections
import queue
import statistics
import threading
import time
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from .model import SIGMA_EPS, VAE


def why_not(model: nn.Module, device: torch.device, bfloat16: bool, processes: int) -> str | None:
    """None if the hand-written step computes this model's training step; else the reason it does not."""
    if type(model) is not VAE:
        return f"{type(model).__name__} is not the MLP VAE"
    config = model.config
    if getattr(config, "arch", "mlp") != "mlp" or getattr(config, "num_classes", 0):
        return "only the unconditional MLP VAE has a hand-written step"
    if device.type != "cpu":
        return "the hand-written step is for the CPU"
    if bfloat16:
        return "bfloat16 autocast runs through autograd"
    if processes > 1:
        return "several processes synchronise gradients through DDP"
    if any(p.dtype != torch.float32 for p in model.parameters()):
        return "the hand-written step is float32"
    return None


def _structure(model: nn.Module) -> tuple:
    """What the hand-written step relies on: the same modules, parameters, and no hooks."""
    from torch.nn.modules import module as torch_module

    hooked = bool(torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks
                  or torch_module._global_backward_hooks)
    modules = tuple(
        (id(m), bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks))
        for m in model.modules()
    )
    return hooked, modules, tuple(id(p) for p in model.parameters())


def for_training(
    model: nn.Module, device: torch.device, batch_size: int, bfloat16: bool, processes: int,
    optimizer: torch.optim.Optimizer | None = None,
):
    """A ``FastStep`` for this run, or None where autograd must do the step (see ``why_not``).

    With ``optimizer`` the step also applies it, where ``adam_why_not`` allows.
    """
    if why_not(model, device, bfloat16, processes) is not None:
        return None
    return FastStep(model, batch_size, optimizer)


def adam_why_not(optimizer: torch.optim.Optimizer, parameters: list[torch.Tensor]) -> str | None:
    """None if the step can apply ``optimizer`` itself, exactly as ``optimizer.step()`` would."""
    from torch.optim import optimizer as torch_optimizer

    if type(optimizer) is not torch.optim.Adam:
        return f"{type(optimizer).__name__} is not torch.optim.Adam"
    if len(optimizer.param_groups) != 1 or [id(p) for p in optimizer.param_groups[0]["params"]] != [
        id(p) for p in parameters
    ]:
        return "the optimizer's parameters are not the model's, in one group"
    group = optimizer.param_groups[0]
    if not group["fused"] or any(group[k] for k in ("amsgrad", "maximize", "capturable", "differentiable")):
        return "only fused Adam without amsgrad, maximize, capturable or differentiable"
    if group.get("decoupled_weight_decay") or isinstance(group["lr"], torch.Tensor):
        return "only Adam's coupled weight decay and a float learning rate"
    if (optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
            or torch_optimizer._global_optimizer_pre_hooks or torch_optimizer._global_optimizer_post_hooks):
        return "the optimizer has step hooks"
    return None


class FastStep:
    """Loss and gradients of one batch for an MLP ``VAE``, into preallocated buffers.

    ``step(x, eps, kl_weight)`` (``x``: uint8 pixels or floats in [0, 1]) returns a float32
    tensor ``[total, reconstruction, kl]`` (sums over the batch; total = the negative ELBO)
    and leaves every parameter's gradient of the objective ``reconstruction + kl_weight * kl``
    in ``param.grad``.
    With an ``optimizer`` it also applies it, and sets ``updated``;
    where it could not (see the module's docstring) ``updated`` is False and the
    caller steps the optimizer itself.
    """

    def __init__(self, model: VAE, batch_size: int, optimizer: torch.optim.Optimizer | None = None):
        self.model = model
        self.optimizer = optimizer
        self.updated = False  # whether the last step applied the optimizer
        self._helper: _Helper | None = None
        self._judged = threading.Event()  # set once the step's loss values are known
        self._split_plan: tuple[int, bool] | None = None  # see _split
        # Recent step times with two threads (True) and one (False), and steps taken: see _two_threads.
        self._seconds = {True: collections.deque(maxlen=3), False: collections.deque(maxlen=3)}
        self._steps = 0
        self.batch_size = batch_size
        self.encoder = [m for m in model.encoder if isinstance(m, nn.Linear)]
        self.decoder = [m for m in model.decoder if isinstance(m, nn.Linear)]
        self.activation = model.config.activation
        self.head = model.config.head
        self.parameters = list(model.parameters())

        def buffer(*shape):
            return torch.empty(*shape, dtype=torch.float32)

        b, latent = batch_size, model.config.latent_size
        # Forward: each hidden layer's pre-activation and output; the heads; the code; the logits.
        self.pre = {layer: buffer(b, layer.out_features) for layer in self.encoder + self.decoder[:-1]}
        self.out = {layer: buffer(b, layer.out_features) for layer in self.encoder + self.decoder[:-1]}
        self.mean, self.scale, self.std, self.z = (buffer(b, latent) for _ in range(4))
        self.logits = buffer(b, model.config.input_size)
        self.x = buffer(b, model.config.input_size)  # uint8 pixels as floats in [0, 1]
        # Backward: each hidden layer's output and pre-activation gradients; the logits', the code's.
        self.d_out = {layer: buffer(b, layer.out_features) for layer in self.encoder + self.decoder[:-1]}
        self.d_pre = {layer: buffer(b, layer.out_features) for layer in self.encoder + self.decoder[:-1]}
        self.d_logits = buffer(b, model.config.input_size)
        self.d_mean, self.d_scale, self.d_z, self.tmp = (buffer(b, latent) for _ in range(4))
        self.grads = [torch.empty_like(p) for p in self.parameters]
        self.grad_of = dict(zip((id(p) for p in self.parameters), self.grads))
        self.structure = _structure(model)

    def fits(self) -> bool:
        """False once the model has changed since (a layer inserted, a hook registered): use autograd then."""
        return _structure(self.model) == self.structure

    # -- pieces ---------------------------------------------------------------

    def _act(self, layer: nn.Linear, start: int, stop: int) -> torch.Tensor:
        pre, out = self.pre[layer][start:stop], self.out[layer][start:stop]
        if self.activation == "elu":
            return torch.ops.aten.elu.out(pre, 1.0, 1, 1, out=out)
        if self.activation == "relu":
            return torch.clamp_min(pre, 0, out=out)
        return torch.tanh(pre, out=out)

    def _act_backward(self, layer: nn.Linear) -> torch.Tensor:
        """d pre = act'(pre) * d out, with the kernel and the saved tensor autograd uses."""
        grad, result = self.d_out[layer], self.d_pre[layer]
        if self.activation == "elu":
            return torch.ops.aten.elu_backward.grad_input(grad, 1.0, 1, 1, False, self.pre[layer], grad_input=result)
        if self.activation == "relu":
            return torch.ops.aten.threshold_backward.grad_input(grad, self.out[layer], 0, grad_input=result)
        return torch.ops.aten.tanh_backward.grad_input(grad, self.out[layer], grad_input=result)

    def _linear(self, layer: nn.Linear, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return torch.addmm(layer.bias, h, layer.weight.t(), out=out)

    def _weight_grads(self, layer: nn.Linear, d: torch.Tensor, h: torch.Tensor) -> None:
        """Weight and bias gradients of ``layer`` from its output gradient ``d`` and its input ``h``."""
        torch.mm(d.t(), h, out=self.grad_of[id(layer.weight)])
        torch.sum(d, dim=0, out=self.grad_of[id(layer.bias)])

    # -- the step -------------------------------------------------------------

    def _loss_values(self, x: torch.Tensor, kl_weight: float) -> None:
        """The batch's loss sums, as model.loss computes them; they decide whether Adam may run."""
        self._finite = False
        try:
            reconstruction = F.binary_cross_entropy_with_logits(self.logits, x, reduction="none").sum(dim=1).sum()
            kl = self.model.kl_divergence(self.mean, self.scale).sum()
            self._losses = torch.stack([reconstruction + kl, reconstruction, kl])
            self._finite = bool(torch.isfinite(self._losses).all())
        finally:
            self._judged.set()  # Adam waits for this, even when the values could not be computed

    def _adam(self, *params: torch.Tensor) -> None:
        """``optimizer.step()`` for these parameters only: fused Adam's own kernel, the same update."""
        self._judged.wait()  # only once the loss is known to be finite
        if not self._finite:
            return  # the trainer stops on a non-finite loss; the weights stay as they were
        group, state = self.optimizer.param_groups[0], self.optimizer.state
        steps = [state[p]["step"] for p in params]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            list(params), [self.grad_of[id(p)] for p in params], [state[p]["exp_avg"] for p in params],
            [state[p]["exp_avg_sq"] for p in params], [], steps, amsgrad=False, lr=group["lr"], beta1=beta1,
            beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
        )

    def _forward(self, x: torch.Tensor, eps: torch.Tensor, start: int, stop: int, pixels=None) -> None:
        """The forward pass of the batch's rows ``start:stop``, into those rows of the buffers."""
        self._encode(x, start, stop, pixels)
        self._code(eps, start, stop)
        self._decode(start, stop)

    def _encode(self, x: torch.Tensor, start: int, stop: int, pixels=None) -> None:
        """The encoder's hidden layers, rows ``start:stop``.

        With uint8 ``pixels`` it first turns those rows into floats in ``x``, as ``data.to_float`` does.
        """
        if pixels is not None:
            x[start:stop].copy_(pixels[start:stop]).div_(255.0)
        h = x[start:stop]
        for layer in self.encoder:
            self._linear(layer, h, self.pre[layer][start:stop])
            h = self._act(layer, start, stop)

    def _code(self, eps: torch.Tensor, start: int, stop: int) -> None:
        """The two heads and the code z = mean + std * eps, rows ``start:stop``."""

        def rows(t):
            return t[start:stop]

        h = rows(self.out[self.encoder[-1]])
        self._linear(self.model.mean_head, h, rows(self.mean))
        self._linear(self.model.scale_head, h, rows(self.scale))
        mean, scale, z = rows(self.mean), rows(self.scale), rows(self.z)
        if self.head == "logvar":
            scale = torch.exp(torch.mul(scale, 0.5, out=rows(self.std)), out=rows(self.std))  # std = exp(s / 2)
        torch.add(mean, torch.mul(scale, rows(eps), out=z), out=z)

    def _decode(self, start: int, stop: int) -> None:
        """The decoder, from the code to the logits, rows ``start:stop``."""
        h = self.z[start:stop]
        for layer in self.decoder[:-1]:
            self._linear(layer, h, self.pre[layer][start:stop])
            h = self._act(layer, start, stop)
        self._linear(self.decoder[-1], h, self.logits[start:stop])

    def _split(self) -> tuple[int, bool]:
        """How the two threads share the forward pass: the first row of the helper's part, and whether
        the heads and the code are computed for the whole batch at once (by this thread, between the
        encoder and the decoder) rather than by rows. ``batch_size`` rows: the helper has no part.

        Whether a product of fewer rows rounds each row as the whole product does is up to the
        BLAS: measured once, on random numbers, with this model's weights and buffers. With
        MKL's AVX-512 kernels every product splits exactly; with its AVX2 kernels all but the
        two heads' (500 -> 20) do, so there the heads take the whole batch.
        """
        if self._split_plan is None:
            split = SPLIT_ROWS * round(self.batch_size / (2 * SPLIT_ROWS))
            self._split_plan = (self.batch_size, False)
            if 0 < split < self.batch_size:
                for code_whole in (False, True):
                    if self._rows_split_exactly(split, code_whole):
                        self._split_plan = (split, code_whole)
                        break
        return self._split_plan

    def _rows_split_exactly(self, split: int, code_whole: bool) -> bool:
        generator = torch.Generator().manual_seed(0)
        pixels = torch.randint(0, 256, self.x.shape, generator=generator, dtype=torch.uint8)
        eps = torch.randn(self.z.shape, generator=generator)
        outputs = [self.x, *self.pre.values(), *self.out.values(), self.mean, self.scale, self.z, self.logits]
        self._forward(self.x, eps, 0, self.batch_size, pixels)
        whole = [t.clone() for t in outputs]
        for t in outputs:
            t.fill_(float("nan"))  # a row that the split leaves unwritten cannot pass
        self._split_forward(self.x, eps, split, code_whole, _INLINE, pixels)
        return all(torch.equal(a, b) for a, b in zip(whole, outputs))

    def _split_forward(self, x: torch.Tensor, eps: torch.Tensor, split: int, code_whole: bool, side,
                       pixels=None) -> None:
        """The forward pass with rows ``split:`` handed to ``side`` (see ``_split``)."""
        b = self.batch_size
        if code_whole:
            side.run(self._encode, x, split, b, pixels)
            self._encode(x, 0, split, pixels)
            side.wait()
            self._code(eps, 0, b)
            side.run(self._decode, split, b)
            self._decode(0, split)
        else:
            side.run(self._forward, x, eps, split, b, pixels)
            self._forward(x, eps, 0, split, pixels)
        side.wait()

    def _can_update(self) -> bool:
        if self.optimizer is None or adam_why_not(self.optimizer, self.parameters) is not None:
            return False
        state = self.optimizer.state  # Adam's first step creates it: until then the caller steps
        return all(p in state and "step" in state[p] for p in self.parameters)

    @torch.no_grad()
    def step(self, x: torch.Tensor, eps: torch.Tensor, kl_weight: float = 1.0) -> torch.Tensor:
        if x.shape[0] != self.batch_size:
            raise ValueError(f"FastStep was built for batches of {self.batch_size}, got {x.shape[0]}")
        if self._helper is not None:
            self._helper.wait()  # at once, unless a step interrupted (Ctrl-C) left it work
        threads = torch.get_num_threads()
        two = threads == 2 and self._two_threads()
        if two and self._helper is None:
            self._helper = _Helper()
        side = self._helper if two else _INLINE
        update = self._can_update()
        start = time.perf_counter()
        if threads == 2:
            torch.set_num_threads(1)  # each thread's kernels run on that thread alone
        try:
            try:
                if x.dtype == torch.uint8:  # each thread turns its rows into floats
                    self._step(self.x, eps, kl_weight, side, update, pixels=x.contiguous())
                else:
                    self._step(x.contiguous(), eps, kl_weight, side, update)
            finally:
                side.wait()
        finally:
            if threads == 2:
                torch.set_num_threads(2)
                self._seconds[two].append(time.perf_counter() - start)
        for p, g in zip(self.parameters, self.grads):
            p.grad = g
        self.updated = update and self._finite
        return self._losses

    def _two_threads(self) -> bool:
        """Whether this step takes two threads: the faster way lately, and now and then the other.

        Both ways give the same numbers, bit for bit, so the choice only changes the time.
        On a quiet machine two threads are faster; beside a busy program, one thread often is.
        """
        self._steps += 1
        two, one = self._seconds[True], self._seconds[False]
        if len(two) < two.maxlen:
            return True
        faster = not one or statistics.median(two) <= statistics.median(one)
        return faster if self._steps % RETIME_EVERY else not faster

    def _step(self, x: torch.Tensor, eps: torch.Tensor, kl_weight: float, side, update: bool, pixels=None) -> None:
        """The step's operations; ``side.run`` hands what is off the backward chain to the helper."""
        # The forward pass: rows are independent, so each thread takes about half of the batch.
        split, code_whole = (self.batch_size, False) if side is _INLINE else self._split()
        if split < self.batch_size:
            self._split_forward(x, eps, split, code_whole, side, pixels)
        else:
            self._forward(x, eps, 0, self.batch_size, pixels)
        mean, scale = self.mean, self.scale
        std = scale if self.head == "sigma" else self.std
        # The loss values, on the helper; Adam's updates wait for their verdict.
        self._judged.clear()
        side.run(self._loss_values, x, kl_weight)

        # Backward, from the top: d logits = sigmoid(logits) - x. For each layer the helper
        # takes the weight gradients and this thread the input's gradient.
        d = torch.sub(torch.sigmoid(self.logits, out=self.d_logits), x, out=self.d_logits)
        layers = self.decoder
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            if i < len(layers) - 1:
                d = self._act_backward(layer)
            below = layers[i - 1] if i > 0 else None
            side.run(self._weight_grads, layer, d, self.out[below] if below is not None else self.z)
            torch.mm(d, layer.weight, out=self.d_out[below] if below is not None else self.d_z)
        # Through the reparameterisation to the heads, plus the KL's own gradient.
        d_z = self.d_z
        if kl_weight == 1.0:  # d KL / d mean = mean
            torch.add(d_z, mean, out=self.d_mean)
        else:
            torch.add(d_z, mean, alpha=kl_weight, out=self.d_mean)
        d_scale = torch.mul(d_z, eps, out=self.d_scale)
        if self.head == "logvar":
            # z path: d std = d z * eps; std = exp(s / 2) -> d s = d std * std * 0.5
            d_scale.mul_(std).mul_(0.5)
            kl_grad = torch.mul(torch.exp(scale, out=self.tmp).sub_(1.0), 0.5 * kl_weight, out=self.tmp)
        else:
            # d KL / d sigma^2 = 0.5 - 0.5 / (1e-10 + sigma^2); d sigma^2 / d sigma = 2 sigma
            inv = torch.reciprocal(scale.square().add(SIGMA_EPS))
            kl_grad = (0.5 - 0.5 * inv) * (2 * scale)
            if kl_weight != 1.0:
                kl_grad = kl_grad * kl_weight
        d_scale.add_(kl_grad)
        top, h_enc = self.encoder[-1], self.out[self.encoder[-1]]
        side.run(self._weight_grads, self.model.mean_head, self.d_mean, h_enc)
        side.run(self._weight_grads, self.model.scale_head, d_scale, h_enc)
        torch.mm(self.d_mean, self.model.mean_head.weight, out=self.d_out[top])
        torch.addmm(self.d_out[top], d_scale, self.model.scale_head.weight, out=self.d_out[top])
        for i in range(len(self.encoder) - 1, 0, -1):
            layer = self.encoder[i]
            d = self._act_backward(layer)
            side.run(self._weight_grads, layer, d, self.out[self.encoder[i - 1]])
            torch.mm(d, layer.weight, out=self.d_out[self.encoder[i - 1]])
        # This thread has read every weight but the first layer's for the last time. Adam runs
        # in one call per thread: between the products, layer by layer, it cost more (3-9 %).
        first = self.encoder[0]
        if update and side is not _INLINE:
            side.run(self._adam, *(p for p in self.parameters if p is not first.weight and p is not first.bias))
        # The first layer: no input gradient; this thread, free now, takes its gradients and Adam.
        self._weight_grads(first, self._act_backward(first), x)
        if update:
            self._adam(*((first.weight, first.bias) if side is not _INLINE else self.parameters))


# Steps between timings of the way not taken (one thread or two; see FastStep._two_threads).
RETIME_EVERY = 100


# Where the forward pass splits a batch between two threads: a multiple of this many rows.
# Element-wise kernels run in blocks of up to 64 floats and finish a tensor's last few
# elements one by one, and ELU's exp is computed differently in the two: each thread's
# part then starts on a block boundary of the whole batch, and both compute what one
# thread computes, bit for bit (16 rows of 20, 500 or 784 floats are whole blocks).
# The products must agree too: FastStep._split checks that they do.
SPLIT_ROWS = 16


class _Inline:
    """Runs the step's side work at once, on this thread."""

    @staticmethod
    def run(fn, *args) -> None:
        fn(*args)

    @staticmethod
    def wait() -> None:
        pass


_INLINE = _Inline()


class _Helper:
    """A second thread for the step's side work, done in the order handed over; ``wait`` waits for all of it."""

    def __init__(self):
        self._work = _Work()
        thread = threading.Thread(target=self._work.serve, name="vaekit-fastpath", daemon=True)
        thread.start()
        # The thread ends with its FastStep; at exit it is left asleep, as daemon threads are.
        weakref.finalize(self, self._work.tasks.put, None).atexit = False

    def run(self, fn, *args) -> None:
        self._work.submit(fn, args)

    def wait(self) -> None:
        """Until everything handed over is done; re-raises the first error met."""
        self._work.finish()


class _Work:
    """The helper's tasks, done in the order handed over, and how many are not done yet."""

    def __init__(self):
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self.pending = 0
        self.error: BaseException | None = None

    def submit(self, fn, args) -> None:
        with self.lock:
            self.pending += 1
        self.tasks.put((fn, args))

    def _do(self, task) -> None:  # on the helper thread
        try:
            if self.error is None:  # after an error, the rest of the step is skipped
                task[0](*task[1])
        except BaseException as exc:  # handed to the step's thread by finish()
            self.error = exc
        finally:
            with self.lock:
                self.pending -= 1
                if not self.pending:
                    self.idle.notify_all()

    @torch.no_grad()  # autograd's mode belongs to each thread: this one never records
    def serve(self) -> None:
        # This thread's kernels run on it alone (OpenMP's and MKL's thread counts are per thread).
        # The step's thread has set one thread too, and sets its own count back only after the
        # step, so this does not change the count the user chose.
        torch.set_num_threads(1)
        while (task := self.tasks.get()) is not None:
            self._do(task)
            del task  # holds the FastStep (a bound method) until the next task comes

    def finish(self) -> None:
        with self.lock:
            self.idle.wait_for(lambda: not self.pending)
        if self.error is not None:
            error, self.error = self.error, None
            raise error
