"""Forward growth in residual networks, and five ways to set up the branches (chapter 2).

Every block adds a two-layer branch to the identity path (the stream h_l),

    h_l = h_{l-1} + g * W2 act(W1 N(h_{l-1})),   W1 ~ N(0, sigma_1^2/n),  W2 ~ N(0, sigma_2^2/n),  zero biases,

with N the identity or a LayerNorm and g the branch gain. The schemes differ only in g, sigma_1^2, sigma_2^2
and N:

===========  ===============  ==============  =========  =========  ========================================
scheme       gain g           sigma_1^2       sigma_2^2  N          after
===========  ===============  ==============  =========  =========  ========================================
unscaled     1                sigma_w2        1          identity   He et al. (2016)
1/sqrt(L)    1/sqrt(L)        sigma_w2        1          identity   Hayou et al. (2021); GPT-2's scaled init
rezero       0, learned       sigma_w2        1          identity   Bachlechner et al. (2021); SkipInit
fixup        1, learned       sigma_w2 / L    0          identity   Zhang, Dauphin & Ma (2019), m = 2 layers
pre-norm     1                sigma_w2        1          LayerNorm  pre-LN transformers (Xiong et al., 2020)
===========  ===============  ==============  =========  =========  ========================================

Mean-field prediction (wide layers, averaged over the weights) for v_l, the mean square of the stream h_l
per unit (book notation: q is reserved for a pre-activation's mean square):

    v_l = v_{l-1} + g^2 sigma_2^2 E[act(z)^2],     z ~ N(0, sigma_1^2 r),

with r = v_{l-1}, or r = 1 behind a LayerNorm. Going down, block l multiplies the mean-square
gradient by 1 + g^2 sigma_2^2 sigma_1^2 E[act'(z)^2], divided by v_{l-1} behind a LayerNorm (which divides
by the standard deviation of its input). W2 is zero-mean and independent of everything else, so the
branch adds no cross term. For ReLU without a norm, E[relu(z)^2] = sigma_1^2 v_{l-1} / 2 given h_{l-1},
so v_l = (1 + g^2 sigma_1^2 sigma_2^2 / 2) v_{l-1} holds in expectation at any width.
Expectations over a Gaussian are computed by quadrature (Gauss-Legendre panels weighted by the normal density, ``utils.mean_field``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .activations import ACTIVATIONS, get_activation
from .blocks import Network, ResidualBlock
from .devices import cpu_float64, pick_device
from .explorer import Explorer, device_dropdown, dropdown, int_slider, log_slider, register_explorer
from .initializers import init_linear
from .mean_field import gradient_factor, variance_map
from .plotting import layer_axis, positive
from .probes import probe_network
from .validation import check_choice, check_int, check_number

SCHEMES = ("unscaled", "1/sqrt(L)", "rezero", "fixup", "pre-norm")
LABELS = {"unscaled": "unscaled", "1/sqrt(L)": "branch × 1/√L", "rezero": "ReZero (gain 0)",
          "fixup": "Fixup-style", "pre-norm": "pre-norm"}
SCHEME_COLORS = {"unscaled": "#d62728", "1/sqrt(L)": "#1f77b4", "rezero": "#2ca02c",
                 "fixup": "#9467bd", "pre-norm": "#ff7f0e"}


class TwoLayerResidualBlock(ResidualBlock):
    """h -> h + g * W2 act(W1 norm(h)): the ResNet / transformer-MLP block. ``linear`` is W1, ``linear_out`` W2."""

    def __init__(self, width: int, activation: str = "relu", norm: str = "none",
                 branch_gain: float = 1.0, learn_gain: bool = False):
        super().__init__(width, activation, norm, branch_gain, learn_gain)
        self.linear_out = nn.Linear(width, width)

    def branch(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear_out(super().branch(h))


def scheme_parameters(scheme: str, depth: int, sigma_w2: float = 2.0) -> dict:
    """The gain, the two weight variances (times fan-in) and the norm of ``scheme`` at ``depth`` blocks."""
    check_choice("scheme", scheme, SCHEMES)
    check_int("depth", depth, minimum=1)
    check_number("sigma_w2 (weight variance)", sigma_w2, minimum=0.0, strict=True)
    p = dict(gain=1.0, sigma_in2=sigma_w2, sigma_out2=1.0, norm="none", learn_gain=False)
    if scheme == "1/sqrt(L)":
        p["gain"] = 1 / math.sqrt(depth)
    elif scheme == "rezero":
        p.update(gain=0.0, learn_gain=True)
    elif scheme == "fixup":  # last branch layer zero, the other scaled by L^(-1/(2m-2)) with m = 2
        p.update(sigma_in2=sigma_w2 / depth, sigma_out2=0.0, learn_gain=True)
    elif scheme == "pre-norm":
        p["norm"] = "pre"
    return p


def build_residual_stack(scheme: str, depth: int, width: int, activation: str = "relu", sigma_w2: float = 2.0,
                         seed: int = 0, device="cpu") -> Network:
    """``depth`` two-layer residual blocks set up as ``scheme`` (see the module docstring); seeded."""
    p = scheme_parameters(scheme, depth, sigma_w2)
    check_int("width", width, minimum=1)
    get_activation(activation)
    dev = pick_device(device)
    torch.manual_seed(seed)
    blocks = [TwoLayerResidualBlock(width, activation, p["norm"], p["gain"], p["learn_gain"]) for _ in range(depth)]
    for block in blocks:
        init_linear(block.linear, "normal", p["sigma_in2"])
        init_linear(block.linear_out, "normal", p["sigma_out2"])
    return Network(blocks).to(dev)


@dataclass
class ResidualTheory:
    """Mean-field prediction: ``mean_square`` v_0..v_L, ``grad_ratio`` ||dℓ/dh_l|| / ||dℓ/dh_L|| for l = 1..L."""

    mean_square: np.ndarray
    grad_ratio: np.ndarray


def residual_theory(scheme: str, depth: int, activation: str = "relu", sigma_w2: float = 2.0,
                    input_v: float = 1.0) -> ResidualTheory:
    """Iterate the recursions of the module docstring from v_0 = ``input_v`` (the input's mean square).
    Raises ValueError for an unknown scheme or activation, depth < 1, or sigma_w2 or input_v <= 0."""
    p = scheme_parameters(scheme, depth, sigma_w2)
    check_number("input_v", input_v, minimum=0.0, strict=True)
    g2, s1, s2, pre = p["gain"] ** 2, p["sigma_in2"], p["sigma_out2"], p["norm"] == "pre"
    v, factor = np.full(depth + 1, float(input_v)), np.ones(depth + 1)
    if g2 * s2 > 0:
        if pre:  # the branch always sees a unit-variance input: a constant increment
            v += g2 * float(variance_map(s1, activation, s2)) * np.arange(depth + 1)
            factor[1:] += g2 * s2 * float(gradient_factor(s1, activation, s1)) / v[:-1]
        else:
            for layer in range(1, depth + 1):
                v[layer] = v[layer - 1] + g2 * float(variance_map(s1 * v[layer - 1], activation, s2))
            factor[1:] += g2 * s2 * gradient_factor(s1 * v[:-1], activation, s1)
    # ||dℓ/dh_l||^2 / ||dℓ/dh_L||^2 = factor_{l+1} * ... * factor_L
    above = np.cumsum(np.log(factor[::-1]))[::-1]
    grad_ratio = np.exp(0.5 * (np.append(above[2:], 0.0)))
    return ResidualTheory(v, grad_ratio)


@dataclass
class ResidualScaling:
    """Measured and predicted forward mean square (layers 0..L) and gradient norm (1..L), per scheme."""

    settings: dict
    schemes: tuple[str, ...]
    mean_square: dict[str, np.ndarray]
    grad_norm: dict[str, np.ndarray]
    theory: dict[str, ResidualTheory]
    device: str
    warning: str | None = None

    def growth(self, scheme: str) -> float:
        """v_L / v_0, measured."""
        return float(self.mean_square[scheme][-1] / self.mean_square[scheme][0])

    def predicted_growth(self, scheme: str) -> float:
        """v_L / v_0, mean-field theory started from the measured v_0."""
        v = self.theory[scheme].mean_square
        return float(v[-1] / v[0])


def _batch_and_readout(width: int, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gaussian input batch (batch, width) and the fixed random readout (width,), drawn on the CPU."""
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, width, generator=gen)
    return x, torch.randn(width, generator=gen) / math.sqrt(width)


def residual_scaling(depth: int = 50, width: int = 64, activation: str = "relu", sigma_w2: float = 2.0,
                     scheme: str = "all", batch: int = 32, seed: int = 0, device="cpu") -> ResidualScaling:
    """Probe one stack per scheme (``scheme``: one name, or "all" five) on the same Gaussian batch, with a
    fixed random linear readout as the loss."""
    check_choice("scheme", scheme, ("all",) + SCHEMES)
    schemes = SCHEMES if scheme == "all" else (scheme,)
    check_int("depth", depth, minimum=1)
    check_int("width", width, minimum=1)
    check_int("batch", batch, minimum=2)
    scheme_parameters(SCHEMES[0], depth, sigma_w2)
    get_activation(activation)
    dev = pick_device(device)
    x, readout = _batch_and_readout(width, batch, seed)
    readout = readout.to(dev)
    q0, n = float(cpu_float64(x).pow(2).mean()), x.numel()
    mean_square, grad_norm, theory, warnings = {}, {}, {}, []
    for name in schemes:
        net = build_residual_stack(name, depth, width, activation, sigma_w2, seed, dev)
        probe = probe_network(net, x.to(dev), lambda h: (h @ readout).mean())
        mean_square[name] = np.concatenate([[q0], probe.act_std**2 * (n - 1) / n + probe.act_mean**2])
        grad_norm[name] = probe.grad_act_norm
        theory[name] = residual_theory(name, depth, activation, sigma_w2, q0)
        if probe.overflow:
            warnings.append(f"{LABELS[name]}: {probe.overflow}")
    settings = dict(depth=depth, width=width, activation=activation, sigma_w2=sigma_w2, batch=batch, seed=seed)
    return ResidualScaling(settings, schemes, mean_square, grad_norm, theory, dev.type, "; ".join(warnings) or None)


@dataclass
class StreamStatistics:
    """One stack's stream h_l, layers l = 0..L: ``mean_square`` v_l (per unit, over units and inputs), ``mean``
    the mean of h_l over units and inputs, and ``shared`` the fraction of v_l that every input of the batch has in common: sum_i m_i^2 / sum_i E[h_i^2]
    with m_i unit i's mean over the batch (0: the inputs are spread around the origin; 1: all the same)."""

    settings: dict
    mean_square: np.ndarray
    mean: np.ndarray
    shared: np.ndarray
    device: str


def stream_statistics(scheme: str = "unscaled", depth: int = 50, width: int = 64, activation: str = "relu",
                      sigma_w2: float = 2.0, batch: int = 32, seed: int = 0, device="cpu") -> StreamStatistics:
    """Run ``residual_scaling``'s input batch forward through one ``scheme`` stack and record the stream's
    mean square and its shared fraction after every block (statistics in float64 on CPU copies).
    Raises ValueError as ``residual_scaling`` does."""
    check_choice("scheme", scheme, SCHEMES)
    check_int("batch", batch, minimum=2)
    net = build_residual_stack(scheme, depth, width, activation, sigma_w2, seed, device)
    dev = next(net.parameters()).device
    h = _batch_and_readout(width, batch, seed)[0].to(dev)
    mean_square, mean, shared = [], [], []
    with torch.no_grad():
        for block in [None, *net.blocks]:
            h = h if block is None else block(h)
            h64 = cpu_float64(h)
            v = float(h64.pow(2).mean())
            mean_square.append(v)
            mean.append(float(h64.mean()))
            shared.append(float(h64.mean(0).pow(2).mean()) / v)
    settings = dict(scheme=scheme, depth=depth, width=width, activation=activation, sigma_w2=sigma_w2,
                    batch=batch, seed=seed)
    return StreamStatistics(settings, np.array(mean_square), np.array(mean), np.array(shared), dev.type)


def plot_residual_scaling(result: ResidualScaling, axes) -> None:
    """First axis: mean square of h_l per layer; second (if given): ||dℓ/dh_l||. Dashed: mean-field theory."""
    ax_fwd = axes[0]
    for scheme in result.schemes:
        color, label = SCHEME_COLORS[scheme], LABELS[scheme]
        marker = dict(marker="o", ms=3, markevery=max(1, result.settings["depth"] // 10)) if scheme == "fixup" else {}
        layers = np.arange(result.settings["depth"] + 1)
        ax_fwd.plot(layers, positive(result.mean_square[scheme]), color=color, label=label, **marker)
        ax_fwd.plot(layers, positive(result.theory[scheme].mean_square), "--", color="black", lw=0.9, alpha=0.7)
        if len(axes) > 1:
            top = result.grad_norm[scheme][-1]
            axes[1].plot(layers[1:], positive(result.grad_norm[scheme]), color=color, label=label, **marker)
            axes[1].plot(layers[1:], positive(top * result.theory[scheme].grad_ratio), "--", color="black",
                         lw=0.9, alpha=0.7)
    ax_fwd.plot([], [], "--", color="black", lw=0.9, label="mean-field theory")
    s = result.settings
    layer_axis(ax_fwd, r"mean square of $h_l$", title=f"forward: {s['activation']}, σ_w² = {s['sigma_w2']:.3g}")
    ax_fwd.legend(loc="upper left")
    if len(axes) > 1:
        layer_axis(axes[1], r"$\|\partial \ell/\partial h_l\|$", title="backward: gradient norm")


def describe_residual_scaling(result: ResidualScaling) -> str:
    s = result.settings
    parts = ", ".join(f"{LABELS[k]} {result.growth(k):.3g} ({result.predicted_growth(k):.3g})"
                      for k in result.schemes)
    return (f"depth {s['depth']}, width {s['width']}, {s['activation']}, σ_w²={s['sigma_w2']:.3g}: "
            f"v_L/v_0 measured (theory): {parts}")


@register_explorer("ch2 residual scaling")
def residual_scaling_explorer(scheme: str = "pre-norm", depth: int = 30, width: int = 64, activation: str = "relu",
                              sigma_w2: float = 2.0, device: str = "auto") -> Explorer:
    """Scheme (or all five), depth, width, activation, σ_w², device: forward and backward growth, with theory."""
    controls = dict(
        scheme=dropdown("scheme", scheme, SCHEMES + ("all",)),
        depth=int_slider("depth", depth, 1, 200),
        width=int_slider("width", width, 8, 256),
        activation=dropdown("activation", activation, ACTIVATIONS),
        sigma_w2=log_slider("σ_w² of the branch's first layer", sigma_w2, 0.1, 10),
        device=device_dropdown(device),
    )
    return Explorer(residual_scaling, plot_residual_scaling, controls, describe_residual_scaling, ncols=2,
                    title="Residual branches: unscaled, scaled, gated, Fixup, pre-norm")
