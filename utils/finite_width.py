"""Finite width: how much networks drawn from the same init differ, layer by layer (chapter 3).

Mean-field theory describes the average network; any one network of finite width n deviates from
it. One batched ``sweep`` draws many networks (seeds) at one sigma_w2, each fed one input, and
records ln q^_l = ln(||z_l||^2 / n) per layer (q^_l: this one network's mean square of z_l, where mean field
predicts q_l) and the gradient ratio ||dl/dh_1|| / ||dl/dh_d||.

For bias-free ReLU the deviation has a closed form. Given its input, each layer's pre-activations
are independent Gaussians whose variance is sigma_w2 / n times the squared norm of the layer's
input; that squared norm is chi-squared with n degrees of freedom for the input, and for a ReLU layer
(a scale times) chi-squared with k degrees of freedom, a sum over the k ~ Binomial(n, 1/2) active units.
Since Var ln(X_k / k) ~ 2/k for X_k chi-squared with k degrees of freedom, and Var ln(2k/n) ~ 1/n,
each ReLU layer adds 5/n to the variance of ln q^ and -2.5/n to its mean; the input and the measured
layer's own X_n / n add 2/n and -1/n each. So ln q^_d - ln q_d is approximately
Gaussian with mean -(2 + 2.5 (d - 1)) / n and variance (4 + 5 (d - 1)) / n (to first order in 1/n):
fluctuations grow like sqrt(depth / width).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS
from .explorer import Explorer, device_dropdown, dropdown, int_slider, log_slider, register_explorer
from .mean_field import MeanField, mean_field
from .plotting import COLORS, draw_runs, layer_axis, positive
from .sweep import Sweep, sweep


def relu_log_q_law(depth: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Bias-free ReLU: mean and standard deviation of ln q^_d - ln q_d (one network minus mean field), d = 1..depth."""
    d = np.arange(1, depth + 1)
    return -(2 + 2.5 * (d - 1)) / width, np.sqrt((4 + 5 * (d - 1)) / width)


@dataclass
class FiniteWidth:
    """``seeds`` networks at one setting, one input each, and the mean-field prediction."""

    sweep: Sweep
    theory: MeanField
    device: str

    @property
    def log_q_deviation(self) -> np.ndarray:
        """(seeds, depth): ln q^_l of each network minus the mean-field ln q_l; -inf from the layer where a
        network went silent (q^_l = 0), inf or NaN where it overflowed."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(self.sweep.q[0]) - np.log(self.theory.q)

    @property
    def silent(self) -> np.ndarray:
        """(seeds,): True for a network with q^_l = 0 at some layer: every unit of the layer below output
        exactly 0 (all its ReLU units inactive, as often happens at small width), or the signal fell below
        float32's smallest number. From there on every layer is 0 too."""
        return np.any(self.sweep.q[0] == 0, axis=-1)

    @property
    def spread(self) -> np.ndarray:
        """(depth,): standard deviation of ln q^_l over the networks whose ln q^_l is finite at that layer
        (NaN where fewer than two are)."""
        return np.ma.masked_invalid(self.log_q_deviation).std(axis=0, ddof=1).filled(np.nan)

    @property
    def law(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Bias-free ReLU's (mean, std) of the deviation; None for other settings."""
        s = self.sweep.settings
        return relu_log_q_law(s["depth"], s["width"]) if (s["activation"], s["sigma_b2"]) == ("relu", 0) else None

    @property
    def warning(self) -> str | None:
        """Which networks' curves stop early and why, or None when every network stays finite."""
        seeds, notes = self.sweep.settings["seeds"], []
        if self.silent.any():
            notes.append(f"{self.silent.sum()} of {seeds} networks went silent: at some layer all "
                         f"{self.sweep.settings['width']} units output exactly 0 (every ReLU inactive, or the signal "
                         f"below float32's smallest number), so q̂ = 0 and ln q̂ = −∞ from there on")
        if self.sweep.overflowed.any():
            notes.append(f"float32 overflowed (the signal grew past 3.4e38) in {self.sweep.overflowed.sum()} of "
                         f"{seeds} networks")
        if not notes:
            return None
        kept = np.isfinite(self.log_q_deviation[:, -1]).sum()
        return "; ".join(notes) + ("; their curves stop there, and the spread at the last layer is over the "
                                   f"{kept} networks still finite" if kept >= 2 else
                                   "; their curves stop there, so there is no spread at the last layer to measure")


def finite_width(activation: str = "relu", sigma_w2: float = 2.0, sigma_b2: float = 0.0, depth: int = 50,
                 width: int = 32, seeds: int = 64, seed: int = 0, device="cpu") -> FiniteWidth:
    """Draw ``seeds`` networks of ``width`` units (one input each) in one batched sweep."""
    measured = sweep(activation, [sigma_w2], sigma_b2, depth=depth, width=width, seeds=seeds, batch=1, seed=seed,
                     device=device)
    return FiniteWidth(measured, mean_field(depth, activation, sigma_w2, sigma_b2), measured.device)


def plot_finite_width(result: FiniteWidth, axes) -> None:
    """Left: q^_l / q_l (one network over mean field) for every network, with ReLU's law. Right: every
    network's gradient ratio."""
    ax_q, ax_g = axes
    layers = np.arange(1, result.sweep.settings["depth"] + 1)
    draw_runs(ax_q, layers, positive(np.exp(result.log_q_deviation)), COLORS["residual"], alpha=0.2, lw=0.7)
    ax_q.axhline(1.0, color=COLORS["theory"], ls="--", label="mean field")
    ax_q.plot(layers, np.exp(np.median(result.log_q_deviation, axis=0)), color=COLORS["residual"], lw=2,
              label="median network")
    if result.law is not None:
        shift, std = result.law
        ax_q.plot(layers, np.exp(shift), color=COLORS["relu"], lw=1.5, label="ReLU law: typical")
        ax_q.fill_between(layers, np.exp(shift - std), np.exp(shift + std), color=COLORS["relu"], alpha=0.15,
                          label="ReLU law: ±1 std")
    layer_axis(ax_q, r"$\hat q_l\,/\,q_l$ (one network / mean field)", title=f"forward: {result.sweep.settings['seeds']} networks")
    ax_q.legend(loc="lower left")

    draw_runs(ax_g, layers, positive(10.0 ** result.sweep.log10_ratio[0]), COLORS["residual"], alpha=0.2, lw=0.7)
    ax_g.plot(layers, 10.0**result.theory.log10_ratio_by_depth, "--", color=COLORS["theory"], label="mean field")
    layer_axis(ax_g, r"$\|\partial \ell/\partial h_1\| / \|\partial \ell/\partial h_d\|$", title="backward: gradient ratio")
    ax_g.set_xlabel("depth d")
    ax_g.legend(loc="best")


def describe_finite_width(result: FiniteWidth) -> str:
    s, spread = result.sweep.settings, result.spread[-1]
    text = (f"{s['activation']}, σ_w²={float(result.sweep.sigma_w2[0]):.3g}, width {s['width']}, depth {s['depth']}, "
            f"{s['seeds']} networks: std of ln q̂ at the last layer ")
    text += (f"{spread:.3g} (a factor ×÷{np.exp(spread):.3g})" if np.isfinite(spread) else
             "undefined (fewer than 2 networks finite there: see the warning)")
    if result.law is not None:
        text += f"; ReLU law {result.law[1][-1]:.3g}"
    return text


@register_explorer("ch3 finite width")
def finite_width_explorer(activation: str = "relu", sigma_w2: float = 2.0, depth: int = 50, width: int = 32,
                          seeds: int = 64, device: str = "auto") -> Explorer:
    controls = dict(
        width=int_slider("width", width, 2, 256),
        depth=int_slider("depth", depth, 2, 100),
        seeds=int_slider("networks (seeds)", seeds, 4, 256),
        activation=dropdown("activation", activation, ACTIVATIONS),
        sigma_w2=log_slider("σ_w² (variance × fan-in)", sigma_w2, 0.1, 100),
        device=device_dropdown(device),
    )
    return Explorer(finite_width, plot_finite_width, controls, describe_finite_width, ncols=2,
                    title="Finite width: networks drawn from the same init differ")
