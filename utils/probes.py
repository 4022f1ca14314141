"""Per-layer measurement with hooks: forward statistics and backward gradient norms.

``probe_network`` runs one forward and one backward pass through a ``Network`` and reads,
for every block l = 1..L, what came out of it (h_l) and what flowed back into it
(dl/dh_l), plus the gradient of the block's weight matrix. Everything is returned as
plain NumPy arrays in a ``Probe``.

Two readings of "switched off" are kept apart. ``frac_inactive`` counts (input, unit) pairs on a
flat part of the activation: a unit off for half the inputs and a unit off for all of them both
add 50% to it. ``unit_active`` keeps, per unit, the fraction of inputs on which it is active, and
``frac_dead`` the fraction of units active on *no* input of the batch (dead units: Lu et al., 2020,
"Dying ReLU and initialization"). Pass a whole data set as the batch to call a unit dead on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .activations import get_activation
from .blocks import Network
from .devices import cpu_float64
from .validation import check_int

FLAT_SLOPE = 0.05  # a unit is "inactive" where the slope is below 5% of the activation's peak slope
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


@dataclass
class Probe:
    """Per-layer statistics of one forward/backward pass (index 0 is the first block)."""

    act_mean: np.ndarray          # mean of h_l
    act_std: np.ndarray           # standard deviation of h_l (over inputs and units together)
    input_spread: np.ndarray      # std of each unit over the batch, averaged over units: do inputs still differ?
    frac_inactive: np.ndarray     # fraction of units on a flat part of the activation (saturated or off)
    grad_act_norm: np.ndarray     # ||dl/dh_l|| over the batch
    grad_weight_norm: np.ndarray  # ||dl/dW_l||
    hist_counts: np.ndarray       # (L, bins) histogram of h_l, each layer over its own range
    hist_edges: np.ndarray        # (L, bins + 1)
    loss: float
    overflow: str | None = None   # names the first layer where a value became inf or NaN
    extra: dict = field(default_factory=dict)
    grad_hist_counts: np.ndarray | None = None  # (L, bins) histogram of dl/dh_l, each layer over its own range
    grad_hist_edges: np.ndarray | None = None   # (L, bins + 1)
    unit_active: list[np.ndarray] | None = None  # per layer, (units,): fraction of inputs where each unit is active

    @property
    def depth(self) -> int:
        return len(self.act_std)

    @property
    def grad_ratio(self) -> float:
        """||dl/dh_1|| / ||dl/dh_L||: below 1 the gradient shrank on its way down, above 1 it grew."""
        return float(self.grad_act_norm[0] / self.grad_act_norm[-1])

    @property
    def frac_dead(self) -> np.ndarray:
        """Per layer: the fraction of units active on no input of the batch (slope below 5% of peak
        on every one)."""
        return np.array([float(np.mean(active == 0)) for active in self.unit_active])


def _finite_stats(h: torch.Tensor, bins: int):
    """Mean, std and a ``bins``-bin histogram (counts, edges) of the finite values of ``h``."""
    if not bool(torch.isfinite(h).all()):  # the masked copy is the slow part: only when needed
        h = h[torch.isfinite(h)]
    if h.numel() == 0:
        return float("nan"), float("nan"), np.zeros(bins), np.full(bins + 1, np.nan)
    lo, hi = (float(v) for v in torch.aminmax(h))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    # the bins of torch.histc, counted with bincount (three times faster on the CPU)
    index = ((h.reshape(-1) - lo) * bins / (hi - lo)).floor_().clamp_(0, bins - 1).long()
    counts = torch.bincount(index, minlength=bins)
    std = float(h.std()) if h.numel() > 1 else 0.0  # one value (width 1, batch 1) has no spread
    return float(h.mean()), std, counts.numpy(), np.linspace(lo, hi, bins + 1)


def probe_network(net: Network, x: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor],
                  bins: int = 40) -> Probe:
    """Run ``loss_fn(net(x))`` forward and backward and read every block with hooks."""
    check_int("bins", bins, minimum=1)
    depth = len(net.blocks)
    stats = {k: np.full(depth, np.nan) for k in ("mean", "std", "spread", "inactive", "grad_act")}
    unit_active: list[np.ndarray] = [None] * depth
    counts, edges = np.zeros((depth, bins)), np.full((depth, bins + 1), np.nan)
    grad_counts, grad_edges = np.zeros((depth, bins)), np.full((depth, bins + 1), np.nan)
    outputs: list[torch.Tensor] = [None] * depth
    handles = []

    def on_block(i):
        def hook(module, inputs, h):
            outputs[i] = h
            h.register_hook(on_grad(i))
            h64 = cpu_float64(h)
            stats["mean"][i], stats["std"][i], counts[i], edges[i] = _finite_stats(h64, bins)
            stats["spread"][i] = float(h64.std(dim=0).mean()) if len(h) > 1 else np.nan
        return hook

    def on_grad(i):
        def hook(g):
            g64 = cpu_float64(g)
            stats["grad_act"][i] = float(g64.norm())
            _, _, grad_counts[i], grad_edges[i] = _finite_stats(g64, bins)
        return hook

    def on_activation(i, slope, peak):
        def hook(module, inputs, out):
            with torch.no_grad():
                flat = slope(inputs[0]) < FLAT_SLOPE * peak
                stats["inactive"][i] = float(flat.float().mean())
                unit_active[i] = (~flat).reshape(-1, flat.shape[-1]).to("cpu", torch.float64).mean(0).numpy()
        return hook

    for i, block in enumerate(net.blocks):
        handles.append(block.register_forward_hook(on_block(i)))
        act = get_activation(block.activation)
        handles.append(block.act.register_forward_hook(on_activation(i, act.slope, act.peak_slope)))
    try:
        net.zero_grad(set_to_none=True)
        loss = loss_fn(net(x))
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()

    grad_w = np.array([float(cpu_float64(layer.weight.grad).norm()) for layer in net.linears])
    return Probe(
        act_mean=stats["mean"], act_std=stats["std"], input_spread=stats["spread"], frac_inactive=stats["inactive"],
        grad_act_norm=stats["grad_act"], grad_weight_norm=grad_w,
        hist_counts=counts, hist_edges=edges, loss=float(loss.detach()),
        overflow=_overflow_message(outputs, stats["grad_act"], grad_w),
        grad_hist_counts=grad_counts, grad_hist_edges=grad_edges, unit_active=unit_active,
    )


def _overflow_message(outputs: list[torch.Tensor], grad_act: np.ndarray, grad_w: np.ndarray) -> str | None:
    depth, limit = len(outputs), f"float32 holds at most {FLOAT32_MAX:.3g}"
    for i, h in enumerate(outputs):
        if not bool(torch.isfinite(h).all()):
            return (f"the forward signal overflowed to inf/NaN at layer {i + 1} of {depth} ({limit}); "
                    f"nothing after it, and no gradient, can be drawn")
    bad = np.flatnonzero(~np.isfinite(grad_act))
    if bad.size:  # the backward pass runs from layer L down to 1: the first overflow is the highest index
        return (f"the backward gradient overflowed to inf/NaN at layer {int(bad.max()) + 1} of {depth} "
                f"on its way down ({limit}); layers below it are not drawn")
    bad = np.flatnonzero(~np.isfinite(grad_w))
    if bad.size:
        return (f"the weight gradients dl/dW = (backward gradient) x (forward signal) overflowed to inf "
                f"in {bad.size} of {depth} layers ({limit})")
    return None
