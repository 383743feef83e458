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
  ``param.grad``, so the trainer's fused Adam and gradient clipping run as
  before, and checkpoints see nothing new.

Writing out the backward pass (one batch B, layers h_k = act(h_{k-1} W_k^T + b_k)):

    logits  = h W_out^T + b_out            d logits = sigmoid(logits) - x      (sum of BCE-with-logits)
    W_k.grad = (d pre_k)^T h_{k-1}         b_k.grad = column sums of d pre_k
    d h_{k-1} = (d pre_k) W_k              d pre_k  = act'(pre_k) * d h_k
    z = mean + std * eps                   d mean = d z + beta * mean
    sigma head:  std = s,         KL = 0.5 sum(s^2 + m^2 - 1 - log(1e-10 + s^2))
                 d s = d z * eps + beta * (2 s) * 0.5 * (1 - 1 / (1e-10 + s^2))
    logvar head: std = exp(s / 2), KL = 0.5 sum(exp(s) + m^2 - 1 - s)
                 d s = d z * eps * std / 2 + beta * 0.5 * (exp(s) - 1)

The operations are the ones autograd runs, in its order, so the gradients
agree with ``model.loss(...).total.backward()`` to float32 rounding (the tests
check both heads on real MNIST batches). ``FastStep.applies`` says when this
path can be used; the trainer falls back to autograd everywhere else (other
architectures, conditional models, bfloat16, GPUs, several processes).
"""

from __future__ import annotations

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


def for_training(model: nn.Module, device: torch.device, batch_size: int, bfloat16: bool, processes: int):
    """A ``FastStep`` for this run, or None where autograd must do the step (see ``why_not``)."""
    return FastStep(model, batch_size) if why_not(model, device, bfloat16, processes) is None else None


class FastStep:
    """Loss and gradients of one batch for an MLP ``VAE``, into preallocated buffers.

    ``step(x, eps, kl_weight)`` returns a float32 tensor ``[total, reconstruction, kl]``
    (sums over the batch; total = the negative ELBO) and leaves every parameter's
    gradient of the objective ``reconstruction + kl_weight * kl`` in ``param.grad``.
    """

    def __init__(self, model: VAE, batch_size: int):
        self.model = model
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
        # Backward: one gradient buffer per layer width, reused from layer to layer.
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

    def _act(self, layer: nn.Linear) -> torch.Tensor:
        pre, out = self.pre[layer], self.out[layer]
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

    def _linear_backward(self, layer: nn.Linear, d: torch.Tensor, h: torch.Tensor, d_h: torch.Tensor | None) -> None:
        """Weight and bias gradients of ``layer`` from its output gradient ``d``; its input's into ``d_h``."""
        torch.mm(d.t(), h, out=self.grad_of[id(layer.weight)])
        torch.sum(d, dim=0, out=self.grad_of[id(layer.bias)])
        if d_h is not None:
            torch.mm(d, layer.weight, out=d_h)

    # -- the step -------------------------------------------------------------

    @torch.no_grad()
    def step(self, x: torch.Tensor, eps: torch.Tensor, kl_weight: float = 1.0) -> torch.Tensor:
        if x.shape[0] != self.batch_size:
            raise ValueError(f"FastStep was built for batches of {self.batch_size}, got {x.shape[0]}")
        x = x.contiguous()
        # Encoder.
        h = x
        for layer in self.encoder:
            self._linear(layer, h, self.pre[layer])
            h = self._act(layer)
        h_enc = h
        self._linear(self.model.mean_head, h_enc, self.mean)
        self._linear(self.model.scale_head, h_enc, self.scale)
        mean, scale = self.mean, self.scale
        # Code: z = mean + std * eps.
        std = scale if self.head == "sigma" else torch.exp(torch.mul(scale, 0.5, out=self.std), out=self.std)
        torch.add(mean, torch.mul(std, eps, out=self.z), out=self.z)
        # Decoder.
        h = self.z
        for layer in self.decoder[:-1]:
            self._linear(layer, h, self.pre[layer])
            h = self._act(layer)
        last = self.decoder[-1]
        self._linear(last, h, self.logits)
        # The loss, as model.loss computes it.
        reconstruction = F.binary_cross_entropy_with_logits(self.logits, x, reduction="none").sum(dim=1).sum()
        if self.head == "logvar":
            per_dim = torch.exp(scale) + mean.square() - 1.0 - scale
        else:
            sigma_sq = scale.square()
            per_dim = sigma_sq + mean.square() - 1.0 - torch.log(SIGMA_EPS + sigma_sq)
        kl = (0.5 * per_dim.sum(dim=1)).sum()

        # Backward. Reconstruction: d logits = sigmoid(logits) - x.
        d = torch.sub(torch.sigmoid(self.logits, out=self.d_logits), x, out=self.d_logits)
        previous = self.decoder[-2] if len(self.decoder) > 1 else None
        self._linear_backward(last, d, h, self.d_out[previous] if previous is not None else self.d_z)
        layers = self.decoder[:-1]
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            d = self._act_backward(layer)
            below = layers[i - 1] if i > 0 else None
            self._linear_backward(layer, d, self.out[below] if below is not None else self.z,
                                  self.d_out[below] if below is not None else self.d_z)
        # Through the reparameterisation to the heads, plus the KL's own gradient.
        d_z = self.d_z
        torch.add(d_z, mean, alpha=kl_weight, out=self.d_mean) if kl_weight != 1.0 else torch.add(d_z, mean, out=self.d_mean)
        d_scale = torch.mul(d_z, eps, out=self.d_scale)
        if self.head == "logvar":
            # z path: d std = d z * eps; std = exp(s / 2) -> d s = d std * std * 0.5
            d_scale.mul_(std).mul_(0.5)
            kl_grad = torch.mul(torch.exp(scale, out=self.tmp).sub_(1.0), 0.5 * kl_weight, out=self.tmp)
        else:
            # d KL / d sigma^2 = 0.5 - 0.5 / (1e-10 + sigma^2); d sigma^2 / d sigma = 2 sigma
            inv = torch.reciprocal(sigma_sq.add(SIGMA_EPS))
            kl_grad = (0.5 - 0.5 * inv) * (2 * scale)
            if kl_weight != 1.0:
                kl_grad = kl_grad * kl_weight
        d_scale.add_(kl_grad)
        top = self.encoder[-1]
        self._linear_backward(self.model.mean_head, self.d_mean, h_enc, self.d_out[top])
        torch.addmm(self.d_out[top], d_scale, self.model.scale_head.weight, out=self.d_out[top])
        torch.mm(d_scale.t(), h_enc, out=self.grad_of[id(self.model.scale_head.weight)])
        torch.sum(d_scale, dim=0, out=self.grad_of[id(self.model.scale_head.bias)])
        for i in range(len(self.encoder) - 1, -1, -1):
            layer = self.encoder[i]
            d = self._act_backward(layer)
            below = self.encoder[i - 1] if i > 0 else None
            self._linear_backward(layer, d, self.out[below] if below is not None else x,
                                  self.d_out[below] if below is not None else None)
        for p, g in zip(self.parameters, self.grads):
            p.grad = g
        return torch.stack([reconstruction + kl, reconstruction, kl])
