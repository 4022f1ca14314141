"""Many networks as one batched computation: a grid of sigma_w2 values x seeds, every depth at once.

Each network is the builder's plain network with the "normal" scheme: W_l = sqrt(sigma_w2) W0_l with
W0_l ~ N(0, 1/n), b_l = sqrt(sigma_b2) b0_l with b0_l ~ N(0, 1). A seed fixes W0, b0, the input batch
x ~ N(0, I) and the readout r, the same for every sigma_w2, so neighbouring sigma_w2 values differ
only in scale (common random numbers). The loss is mean_b(h_L . r), as in ``gradient_flow``.

Layout: (seeds, sigma_w2 values, batch, width). Layer l is one batched matmul over the seeds
(each seed's S x B inputs against its own W0_l); the backward pass is the chain rule written out,
dl/dh_{l-1} = sqrt(sigma_w2) (phi'(z_l) * dl/dh_l) W0_l.

Every depth at once: a network of depth L gives, for each d <= L, the gradient ratio across its
first d layers, ||dl/dh_1|| / ||dl/dh_d||, i.e. the product of the Jacobians of layers 2..d.
``sweep_by_loop`` computes the same numbers one ``build_network`` model at a time, with autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .activations import get_activation
from .blocks import build_network
from .devices import cpu_float64, pick_device
from .validation import check_int, check_number

MEMORY_LIMIT = 1 << 30  # bytes; Binder gives a reader about 2 GB in all


@dataclass
class Sweep:
    """Per-layer measurements, each of shape (len(sigma_w2), seeds, depth)."""

    settings: dict
    sigma_w2: np.ndarray
    q: np.ndarray          # mean square of the pre-activations z_l (over inputs and units)
    act_std: np.ndarray    # std of h_l over inputs and units (as Probe.act_std)
    grad_norm: np.ndarray  # ||dl/dh_l|| over the batch (as Probe.grad_act_norm)
    device: str

    @property
    def log10_ratio(self) -> np.ndarray:
        """log10 ||dl/dh_1|| / ||dl/dh_d|| for d = 1..L (NaN where a value overflowed)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.log10(self.grad_norm[..., :1]) - np.log10(self.grad_norm)
        ratio[~np.isfinite(ratio)] = np.nan
        return ratio

    @property
    def overflowed(self) -> np.ndarray:
        """(len(sigma_w2), seeds) True where a forward or backward value became inf or NaN."""
        return ~np.all(np.isfinite(self.act_std) & np.isfinite(self.grad_norm), axis=-1)


def sweep_bytes(n_sigma: int, seeds: int, depth: int, width: int, batch: int) -> int:
    """Estimated peak memory of ``sweep``: float32 weights, and every layer's slopes phi'(z_l) kept for
    the backward pass, plus a few working copies of one layer."""
    signal = seeds * n_sigma * batch * width
    return 4 * (seeds * depth * width * (width + 1) + signal * (depth + 6))


def _check_settings(activation, sigma_w2, sigma_b2, depth, width, seeds, batch, seed):
    get_activation(activation)
    values = np.atleast_1d(np.asarray(sigma_w2, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"sigma_w2 must be a number or a non-empty list of numbers, got {sigma_w2!r}")
    for value in values:
        check_number("sigma_w2 (weight variance)", float(value), minimum=0.0, strict=True)
    check_number("sigma_b2 (bias variance)", sigma_b2, minimum=0.0)
    for name, value, low in (("depth", depth, 1), ("width", width, 1), ("seeds", seeds, 1), ("batch", batch, 1),
                             ("seed", seed, 0)):
        check_int(name, value, minimum=low)
    return values


def _draw(seeds: int, seed: int, depth: int, width: int, batch: int):
    """Per seed s (generator seeded seed + s): W0 (depth, n, n), b0 (depth, n), x (batch, n), r (n)."""
    w0, b0 = torch.empty(seeds, depth, width, width), torch.empty(seeds, depth, width)
    x, r = torch.empty(seeds, batch, width), torch.empty(seeds, width)
    for s in range(seeds):  # drawn in place, seed by seed: no stacked copy of the weights
        gen = torch.Generator().manual_seed(seed + s)
        for out in (w0[s], b0[s], x[s], r[s]):
            torch.randn(out.shape, generator=gen, out=out)
    return w0.mul_(1 / math.sqrt(width)), b0, x, r.mul_(1 / math.sqrt(width))


def _std(t: torch.Tensor) -> torch.Tensor:
    """Standard deviation (n - 1 in the denominator) over the last two axes, by the two-pass formula:
    the same numbers as ``t.std(dim=(-2, -1))`` in float64, eight times faster on the CPU."""
    flat = t.flatten(-2)
    deviation = flat - flat.mean(dim=-1, keepdim=True)
    return (deviation.square().sum(dim=-1) / (flat.shape[-1] - 1)).sqrt()


def _stats(t: torch.Tensor, fn) -> torch.Tensor:
    """``fn`` over the last two axes, in float64 on a CPU copy (squares of large float32 values would
    overflow; MPS has no float64)."""
    return fn(cpu_float64(t))


def sweep(activation: str = "relu", sigma_w2=(1.0, 2.0, 4.0), sigma_b2: float = 0.0, depth: int = 50,
          width: int = 64, seeds: int = 4, batch: int = 32, seed: int = 0, device="cpu",
          max_bytes: int = MEMORY_LIMIT) -> Sweep:
    """Probe len(sigma_w2) x ``seeds`` networks of ``depth`` layers in one batched forward/backward pass."""
    values = _check_settings(activation, sigma_w2, sigma_b2, depth, width, seeds, batch, seed)
    needed = sweep_bytes(len(values), seeds, depth, width, batch)
    if needed > max_bytes:
        raise ValueError(
            f"this sweep would need about {needed / 1e9:.2g} GB ({len(values)} sigma_w2 values x {seeds} seeds x "
            f"{depth} layers x {batch} inputs x {width} units, float32), more than the limit of "
            f"{max_bytes / 1e9:.2g} GB; use fewer values, seeds, layers, inputs or units")
    act, dev = get_activation(activation), pick_device(device)
    w0, b0, x, r = (t.to(dev) for t in _draw(seeds, seed, depth, width, batch))
    n_sigma = len(values)
    scale = torch.tensor(np.sqrt(values), dtype=torch.float32, device=dev).view(1, n_sigma, 1, 1)
    bias_scale = math.sqrt(sigma_b2)

    q, std, grad = (torch.empty(seeds, n_sigma, depth, dtype=torch.float64) for _ in range(3))
    h = x.unsqueeze(1).expand(seeds, n_sigma, batch, width)
    slopes = []
    with torch.no_grad():
        for layer in range(depth):
            flat = h.reshape(seeds, n_sigma * batch, width)
            z = scale * torch.bmm(flat, w0[:, layer].mT).view(seeds, n_sigma, batch, width)
            if bias_scale:
                z = z + bias_scale * b0[:, layer].view(seeds, 1, 1, width)
            h = act.fn(z)
            if layer:  # the first layer's slope is never needed: the backward pass stops at dl/dh_1
                slopes.append(act.slope(z))
            q[..., layer] = _stats(z, lambda t: t.square().mean(dim=(-2, -1)))
            std[..., layer] = _stats(h, _std)
        g = (r / batch).view(seeds, 1, 1, width).expand(seeds, n_sigma, batch, width)
        grad[..., depth - 1] = _stats(g, lambda t: t.norm(dim=(-2, -1)))
        for layer in range(depth - 1, 0, -1):
            delta = (g * slopes.pop()).reshape(seeds, n_sigma * batch, width)
            g = scale * torch.bmm(delta, w0[:, layer]).view(seeds, n_sigma, batch, width)
            grad[..., layer - 1] = _stats(g, lambda t: t.norm(dim=(-2, -1)))
    settings = dict(activation=activation, sigma_b2=sigma_b2, depth=depth, width=width, seeds=seeds,
                    batch=batch, seed=seed)
    return Sweep(settings, values, *(t.transpose(0, 1).numpy() for t in (q, std, grad)), dev.type)


def sweep_by_loop(activation: str = "relu", sigma_w2=(1.0, 2.0, 4.0), sigma_b2: float = 0.0, depth: int = 50,
                  width: int = 64, seeds: int = 4, batch: int = 32, seed: int = 0, device="cpu") -> Sweep:
    """The same measurement as ``sweep``, one separate ``build_network`` model at a time (autograd
    backward pass); for checking the batched engine and timing it."""
    values = _check_settings(activation, sigma_w2, sigma_b2, depth, width, seeds, batch, seed)
    dev = pick_device(device)
    w0, b0, x, r = _draw(seeds, seed, depth, width, batch)
    q, std, grad = (np.empty((len(values), seeds, depth)) for _ in range(3))
    for i, s2 in enumerate(values):
        for s in range(seeds):
            net = build_network(depth, width, activation=activation, init="normal", sigma_w2=float(s2),
                                sigma_b2=sigma_b2, device=dev)
            with torch.no_grad():
                for layer, linear in enumerate(net.linears):
                    linear.weight.copy_(math.sqrt(s2) * w0[s, layer])
                    linear.bias.copy_(math.sqrt(sigma_b2) * b0[s, layer])
            zs = []
            hooks = [linear.register_forward_hook(lambda m, i, z: zs.append(z)) for linear in net.linears]
            hs, h = [], x[s].to(dev)
            for block in net.blocks:
                h = block(h)
                hs.append(h)
            for hook in hooks:
                hook.remove()
            grads = torch.autograd.grad((h @ r[s].to(dev)).mean(), hs)
            with torch.no_grad():
                q[i, s] = [float(cpu_float64(z).square().mean()) for z in zs]
                std[i, s] = [float(cpu_float64(t).std()) for t in hs]
                grad[i, s] = [float(cpu_float64(g).norm()) for g in grads]
    settings = dict(activation=activation, sigma_b2=sigma_b2, depth=depth, width=width, seeds=seeds,
                    batch=batch, seed=seed)
    return Sweep(settings, values, q, std, grad, dev.type)
