"""Per-layer diagnostic plots (karpathy-style) and the shapes of the activations themselves."""

from __future__ import annotations

import numpy as np
import torch

from .activations import get_activation
from .plotting import COLORS, layer_axis, layer_colors, positive
from .validation import check_choice

# Below this, the spread of a layer's activations over the batch is float32 rounding noise: its digits
# change with the CPU's numeric path (chapter 1 prints such values as "< 1e-6"), so it is not drawn.
SPREAD_NOISE_FLOOR = 1e-6


def plot_activation_shapes(names, axes) -> None:
    """Left: each activation phi(z). Right: its slope phi'(z)."""
    ax_fn, ax_slope = axes
    z = torch.linspace(-5, 5, 801)
    for name in names:
        act = get_activation(name)
        ax_fn.plot(z, act.fn(z), label=name)
        ax_slope.plot(z, act.slope(z), label=f"{name} (peak {act.peak_slope:.3g})")
    ax_fn.set(xlabel="z", ylabel=r"$\phi(z)$", title="activation")
    ax_slope.set(xlabel="z", ylabel=r"$\phi'(z)$", title="slope: what the backward pass multiplies by")
    ax_fn.legend(loc="best")
    ax_slope.legend(loc="best")


def plot_layer_stats(results, axes) -> None:
    """Per layer: mean of h_l; how much inputs still differ (log; values below ``SPREAD_NOISE_FLOOR``,
    rounding noise, left out and the floor drawn dotted); fraction of inactive units."""
    results = results if isinstance(results, (list, tuple)) else [results]
    ax_mean, ax_spread, ax_inactive = axes
    for result in results:
        layers = np.arange(1, result.probe.depth + 1)
        ax_mean.plot(layers, result.probe.act_mean, label=result.label)
        spread = positive(result.probe.input_spread)
        spread[spread < SPREAD_NOISE_FLOOR] = np.nan
        ax_spread.plot(layers, spread, label=result.label)
        ax_inactive.plot(layers, result.probe.frac_inactive, label=result.label)
    layer_axis(ax_mean, "mean of $h_l$", log=False, title="activation mean")
    ax_spread.axhline(SPREAD_NOISE_FLOOR, color=COLORS["theory"], ls=":", lw=1)
    ax_spread.annotate("float32 rounding noise below (not drawn)", (0.98, SPREAD_NOISE_FLOOR),
                       xycoords=("axes fraction", "data"), xytext=(0, 2), textcoords="offset points", ha="right",
                       va="bottom", fontsize=8)
    layer_axis(ax_spread, "std over the batch, per unit", title="do different inputs still differ?")
    layer_axis(ax_inactive, "fraction of units", log=False, title="flat units (slope < 5% of peak)")
    ax_inactive.set_ylim(-0.02, 1.02)
    ax_mean.legend(loc="best")


def plot_layer_histograms(result, ax, layers=None, kind: str = "activations") -> None:
    """Histogram (as a density line) of h_l, or of dl/dh_l with kind="gradients", for a few layers,
    early dark to late light."""
    check_choice("kind", kind, ("activations", "gradients"))
    probe, depth = result.probe, result.probe.depth
    all_counts, all_edges = ((probe.hist_counts, probe.hist_edges) if kind == "activations"
                             else (probe.grad_hist_counts, probe.grad_hist_edges))
    layers = layers or sorted({1, max(1, depth // 4), max(1, depth // 2), max(1, 3 * depth // 4), depth})
    for color, layer in zip(layer_colors(len(layers)), layers):
        counts, edges = all_counts[layer - 1], all_edges[layer - 1]
        if not np.all(np.isfinite(edges)):
            continue
        centers, width = 0.5 * (edges[1:] + edges[:-1]), edges[1] - edges[0]
        ax.plot(centers, counts / (counts.sum() * width), color=color, label=f"layer {layer}")
    xlabel = "$h_l$" if kind == "activations" else r"$\partial \ell/\partial h_l$"
    if kind == "gradients":  # gradients can be tiny: keep the tick labels short
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    ax.set(xlabel=xlabel, ylabel="density", title=f"{result.label}: {kind} by layer")
    ax.legend(loc="best")
