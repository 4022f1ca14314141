"""Initialisation schemes measured against mean-field theory (chapter 3).

``init_experiment`` probes a network built with any random init scheme (``gradient_flow``) and
draws the mean-field prediction for the same weight and bias variances on the same axes. It also
holds the chapter's theory pictures (the variance map and the order-to-chaos boundary) and the
measure of symmetry between units used for constant init.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import torch

from .activations import ACTIVATIONS
from .devices import cpu_float64
from .explorer import (Explorer, device_dropdown, dropdown, float_slider, int_slider, log_slider,
                       register_explorer)
from .gradient_flow import GradientFlow, gradient_flow, plot_gradient_flow
from .initializers import weight_variance
from .mean_field import MeanField, critical_line, fixed_point, mean_field, variance_map
from .plotting import COLORS
from .validation import check_choice, check_int

RANDOM_SCHEMES = ("default", "lecun", "xavier_normal", "xavier_uniform", "he", "orthogonal", "normal")


def scheme_variances(scheme: str, width: int, sigma_w2: float = 1.0, sigma_b2: float = 0.0) -> tuple[float, float]:
    """The mean-field (sigma_w2, sigma_b2) of ``scheme`` for square layers of ``width`` units.

    sigma_w2 = width x (variance of one weight); only "normal" and "orthogonal" use the given
    variances. PyTorch's default draws the bias from U(-1/sqrt(n), 1/sqrt(n)): variance 1/(3n).
    """
    check_choice("init scheme", scheme, RANDOM_SCHEMES)
    check_int("width", width, minimum=1)
    bias = {"default": 1.0 / (3 * width), "normal": sigma_b2, "orthogonal": sigma_b2}.get(scheme, 0.0)
    return width * weight_variance(scheme, width, width, sigma_w2), bias


@dataclass
class InitExperiment:
    """A probed network and the mean-field prediction for its scheme's variances."""

    flow: GradientFlow
    theory: MeanField
    device: str

    @property
    def warning(self) -> str | None:
        return self.flow.warning

    @property
    def theory_ratio(self) -> float:
        return float(self.theory.grad_ratio[0])


def init_experiment(activation: str = "tanh", sigma_w2: float = 1.0, sigma_b2: float = 0.0, depth: int = 30,
                    width: int = 128, init: str = "normal", seed: int = 0, device="cpu") -> InitExperiment:
    """Probe a ``depth``-layer network initialised with ``init`` and predict it with mean-field theory."""
    theory_w2, theory_b2 = scheme_variances(init, width, sigma_w2, sigma_b2)
    flow = gradient_flow(depth=depth, width=width, activation=activation, init=init, sigma_w2=sigma_w2,
                         sigma_b2=sigma_b2, seed=seed, device=device)
    return InitExperiment(flow, mean_field(depth, activation, theory_w2, theory_b2), flow.device)


def plot_init_experiment(result: InitExperiment, axes) -> None:
    """The gradient-flow panels (measured) with the mean-field curves dashed on top; the theory's
    gradient curve is drawn through the measured top layer."""
    plot_gradient_flow(result.flow, axes)
    ax_act, ax_grad = axes
    layers = np.arange(1, result.flow.probe.depth + 1)
    ax_act.plot(layers, result.theory.act_std, "--", color=COLORS["theory"], label="mean field")
    top = result.flow.probe.grad_act_norm[-1]
    if np.isfinite(top):
        ax_grad.plot(layers, top * result.theory.grad_ratio, "--", color=COLORS["theory"], label="mean field")
    ax_act.legend(loc="best")
    ax_grad.legend(loc="best")


def _scheme_label(result: InitExperiment) -> str:
    s = result.flow.settings
    w2, b2 = float(result.theory.sigma_w2), result.theory.sigma_b2
    return f"{s['activation']}, {s['init']} (σ_w²={w2:.3g}, σ_b²={b2:.3g})"


def describe_init_experiment(result: InitExperiment) -> str:
    s = result.flow.settings
    return (f"{_scheme_label(result)}, depth {s['depth']}, width {s['width']}: gradient ratio first/last "
            f"{result.flow.ratio:.3g} measured, {result.theory_ratio:.3g} mean field")


@register_explorer("ch3 initialization")
def init_explorer(activation: str = "tanh", sigma_w2: float = 1.0, sigma_b2: float = 0.0, depth: int = 30,
                  width: int = 128, init: str = "normal", device: str = "auto") -> Explorer:
    """Activation, σ_w² (log), σ_b², depth, width, init scheme and device; theory dashed on top."""
    controls = dict(
        activation=dropdown("activation", activation, ACTIVATIONS),
        sigma_w2=log_slider("σ_w² (normal, orthogonal)", sigma_w2, 0.1, 100),
        sigma_b2=float_slider("σ_b² (normal, orthogonal)", sigma_b2, 0.0, 1.0, 0.01),
        depth=int_slider("depth", depth, 1, 100),
        width=int_slider("width", width, 2, 512),
        init=dropdown("init scheme", init, RANDOM_SCHEMES),
        device=device_dropdown(device),
    )
    return Explorer(init_experiment, plot_init_experiment, controls, describe_init_experiment, ncols=2,
                    title="Initialisation: measurement and mean-field theory")


# --- the theory pictures -------------------------------------------------------------------------

def sigma_axis(ax, lo: float, hi: float) -> None:
    """A log axis for sigma_w2 with plain labels at powers of two."""
    ax.set_xscale("log")
    ax.set_xticks([t for t in 2.0 ** np.arange(-8, 12) if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)])
    ax.xaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.set_xlabel(r"$\sigma_w^2$")


def plot_variance_map(activation: str, sigma_w2s, sigma_b2: float, ax, q_max: float = 4.0, steps: int = 6) -> None:
    """V(q) against q for each sigma_w2, its fixed point q* (a dot, where it meets the diagonal) and
    the first ``steps`` layers q_1 -> q_2 -> ... as a staircase from q_1 = sigma_w2 + sigma_b2."""
    q = np.linspace(0.0, q_max, 241)
    ax.plot(q, q, color="#999999", lw=1, label="$q_{l+1} = q_l$")
    for color, s2 in zip(("#1f77b4", "#2ca02c", "#d62728", "#9467bd"), sigma_w2s):
        ax.plot(q, variance_map(q, activation, s2, sigma_b2), color=color, label=f"σ_w² = {s2:g}")
        qs = mean_field(steps, activation, s2, sigma_b2).q
        ax.plot(np.repeat(qs, 2)[:-1], np.repeat(qs, 2)[1:], color=color, lw=0.8, alpha=0.7)
        q_star = fixed_point(activation, s2, sigma_b2)
        ax.plot([q_star], [q_star], "o", color=color, ms=5)
    ax.set(xlabel="$q_l$", ylabel="$q_{l+1} = V(q_l)$", xlim=(0, q_max), ylim=(0, q_max),
           title=f"{activation}, σ_b² = {sigma_b2:g}: the variance map")
    ax.legend(loc="upper left")


def plot_critical_lines(activations, ax, sigma_b2_max: float = 0.5) -> None:
    """The order-to-chaos boundary (chi = 1) in the (sigma_w2, sigma_b2) plane for each activation,
    drawn from ``critical_line``; a boundary that does not depend on sigma_b2 is a vertical line."""
    q_star = np.geomspace(1e-4, 1e3, 400)
    for name in activations:
        sigma_w2, sigma_b2 = critical_line(name, q_star)
        keep = (sigma_b2 >= 0) & (sigma_b2 <= sigma_b2_max)
        if np.ptp(sigma_b2) < 1e-9:
            ax.axvline(float(np.median(sigma_w2)), color=COLORS.get(name), label=f"{name}: gradient-neutral, any σ_b²")
        else:
            ax.plot(sigma_w2[keep], sigma_b2[keep], color=COLORS.get(name), label=name)
    sigma_axis(ax, 0.5, 8.0)
    ax.set(ylabel=r"$\sigma_b^2$", ylim=(0, sigma_b2_max),
           title="χ = 1: order (left) | chaos (right) for smooth φ")
    ax.legend(loc="best")


def row_spread(weight: torch.Tensor) -> float:
    """max_i ||w_i - w_1|| / ||w_1|| over the rows w_i of ``weight``: 0 when every unit is the same."""
    weight = cpu_float64(weight)
    return float((weight - weight[:1]).norm(dim=1).max() / weight[0].norm())
