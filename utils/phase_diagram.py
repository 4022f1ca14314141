"""The phase diagram: measured gradient ratio over (sigma_w2, depth), with mean-field theory on top (chapter 3).

One batched ``sweep`` probes a grid of sigma_w2 values around the theoretical critical point
(from a factor 8 below it to a factor 8 above), a few seeds each, every depth at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib as mpl
import numpy as np

from .activations import ACTIVATIONS
from .explorer import Explorer, device_dropdown, dropdown, float_slider, int_slider, register_explorer
from .figures import register_figure
from .gradient_flow import HEALTHY
from .initialization import sigma_axis
from .mean_field import MeanField, critical_sigma_w2, mean_field
from .plotting import COLORS, draw_band, draw_runs, varies
from .sweep import Sweep, sweep
from .validation import check_int

SPAN = 8.0      # the grid runs from critical / SPAN to critical * SPAN
COLOR_LIMIT = 6  # decades: the colour scale saturates beyond 10^-6 and 10^6


@dataclass
class PhaseDiagram:
    """A sweep over sigma_w2 (log grid) x seeds x depth, its mean-field prediction and the critical point."""

    sweep: Sweep
    theory: MeanField   # arrays of shape (len(sigma_w2), depth)
    critical: float     # chi = 1 (mean field, infinitely deep)
    device: str

    @property
    def sigma_w2(self) -> np.ndarray:
        return self.sweep.sigma_w2

    @property
    def measured(self) -> np.ndarray:
        """(len(sigma_w2), depth): log10 of the gradient ratio, averaged over seeds (NaN where one overflowed)."""
        return self.sweep.log10_ratio.mean(axis=1)

    @property
    def warning(self) -> str | None:
        """Grey cells (overflow), and a measured or mean-field ratio that never rises through 1 on the grid;
        None when neither happened."""
        notes = []
        bad = self.sweep.overflowed.any(axis=1)
        if bad.any():
            notes.append(f"float32 overflowed for sigma_w2 >= {self.sigma_w2[bad].min():.3g} (grey cells): "
                         f"the signal there grows past 3.4e38")
        depth = self.sweep.settings["depth"]
        for name, neutral, log10_ratio in (("measured", self.measured_neutral, self.measured[:, -1]),
                                           ("mean-field", self.theory_neutral,
                                            self.theory.log10_ratio_by_depth[:, -1])):
            finite = log10_ratio[np.isfinite(log10_ratio)]
            if np.isnan(neutral) and finite.size:
                notes.append(f"the {name} ratio at depth {depth} never rises through 1 on this grid "
                             f"(σ_w² {self.sigma_w2[0]:.3g} to {self.sigma_w2[-1]:.3g}): it runs from "
                             f"{10.0 ** finite.min():.2g} to {10.0 ** finite.max():.2g}, so it gives no σ_w² for "
                             f"ratio 1")
        return "; ".join(notes) or None

    def crossing(self, log10_ratio: np.ndarray) -> float:
        """The sigma_w2 where ``log10_ratio`` (one value per grid point) crosses 0, interpolated on the
        log grid; NaN if it does not."""
        finite = np.isfinite(log10_ratio)
        sign = np.sign(log10_ratio[finite])
        change = np.flatnonzero(np.diff(sign) > 0)
        if change.size == 0:
            return float("nan")
        i = change[0]
        x, y = np.log(self.sigma_w2[finite][i:i + 2]), log10_ratio[finite][i:i + 2]
        return float(np.exp(x[0] - y[0] * (x[1] - x[0]) / (y[1] - y[0])))

    @property
    def measured_neutral(self) -> float:
        """The sigma_w2 at which the measured ratio at full depth is 1."""
        return self.crossing(self.measured[:, -1])

    @property
    def theory_neutral(self) -> float:
        """The same, predicted by mean field for this depth (q_l still on its way to q*)."""
        return self.crossing(self.theory.log10_ratio_by_depth[:, -1])


def phase_diagram(activation: str = "tanh", sigma_b2: float = 0.05, depth: int = 50, width: int = 64,
                  seeds: int = 4, points: int = 25, batch: int = 32, seed: int = 0, device="cpu") -> PhaseDiagram:
    """Sweep ``points`` sigma_w2 values around the critical one, ``seeds`` networks each, up to ``depth`` layers."""
    check_int("points", points, minimum=3)
    critical = critical_sigma_w2(activation, float(sigma_b2))
    grid = np.geomspace(critical / SPAN, critical * SPAN, points)
    measured = sweep(activation, grid, sigma_b2, depth=depth, width=width, seeds=seeds, batch=batch, seed=seed,
                     device=device)
    return PhaseDiagram(measured, mean_field(depth, activation, grid, sigma_b2), critical, measured.device)


def draw_colorbar(ax, mesh) -> None:
    """The colour bar of the map ``mesh`` on ``ax``: log10 of the gradient ratio, in decades, saturating at
    +-COLOR_LIMIT. The first call takes room from ``ax`` for it; later calls (an explorer's redraws, which
    empty every axes of the figure) draw it again in the same place."""
    label = r"$\log_{10}$ ratio (decades)"
    cax = getattr(ax, "colorbar_axes", None)
    if cax is None:
        ax.colorbar_axes = ax.figure.colorbar(mesh, ax=ax, label=label).ax
    else:
        ax.figure.colorbar(mesh, cax=cax, label=label)


def plot_phase_diagram(result: PhaseDiagram, axes) -> None:
    """Left: the measured log10 gradient ratio over (sigma_w2, depth) with its colour bar, theory contours
    and chi = 1.
    Right: the slice at full depth, every seed, their mean and the mean-field prediction. The measured
    values are marked ``varies``: beyond chi = 1 the network amplifies rounding, so they change with the
    CPU's numeric path (by up to 1.5% of the axis between two paths of one machine)."""
    ax_map, ax_cut = axes
    s2, depth = result.sigma_w2, result.sweep.settings["depth"]
    edges = np.sqrt(s2[1:] * s2[:-1])
    x_edges = np.concatenate([[s2[0] ** 2 / edges[0]], edges, [s2[-1] ** 2 / edges[-1]]])
    y_edges = np.arange(depth + 1) + 0.5
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="#bbbbbb")
    mesh = varies(ax_map.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(result.measured.T), cmap=cmap,
                                    vmin=-COLOR_LIMIT, vmax=COLOR_LIMIT, shading="flat"))
    draw_colorbar(ax_map, mesh)
    layers = np.arange(1, depth + 1)
    ax_map.contour(s2, layers, result.theory.log10_ratio_by_depth.T, levels=[-1, 1],
                   colors=COLORS["theory"], linestyles="--", linewidths=1.2)
    ax_map.plot([], [], "--", color=COLORS["theory"], lw=1.2, label="mean field: 10× down / up")
    ax_map.axvline(result.critical, color=COLORS["theory"], lw=1.8, label=f"χ = 1 at σ_w² = {result.critical:.3g}")
    sigma_axis(ax_map, x_edges[0], x_edges[-1])
    ax_map.set(ylabel="depth d", xlim=(x_edges[0], x_edges[-1]), ylim=(0.5, depth + 0.5),
               title=r"$\log_{10} \|\partial \ell/\partial h_1\| / \|\partial \ell/\partial h_d\|$: blue vanishes, red explodes")
    ax_map.legend(loc="upper left")

    cut = result.sweep.log10_ratio[..., -1]
    varies(draw_runs(ax_cut, s2, cut.T, COLORS["residual"], alpha=0.3))
    varies(ax_cut.plot(s2, result.measured[:, -1], "o-", ms=3, color=COLORS["residual"],
                       label="measured (mean of seeds)"))
    ax_cut.plot(s2, result.theory.log10_ratio_by_depth[:, -1], "--", color=COLORS["theory"], label="mean field")
    ax_cut.axvline(result.critical, color=COLORS["theory"], lw=1.8)
    draw_band(ax_cut, np.log10(HEALTHY[0]), np.log10(HEALTHY[1]), "within 10×")
    sigma_axis(ax_cut, s2[0], s2[-1])
    ax_cut.set(ylabel=r"$\log_{10}$ gradient ratio", title=f"at depth {depth}: every seed, their mean, mean field")
    ax_cut.legend(loc="upper left")


def _sigma_w2_text(value: float) -> str:
    """A crossing's sigma_w2, or what stands in for one the grid does not have."""
    return f"{value:.3g}" if np.isfinite(value) else "none on the grid"


def describe_phase_diagram(result: PhaseDiagram) -> str:
    s = result.sweep.settings
    return (f"{s['activation']}, σ_b²={s['sigma_b2']:.3g}, depth {s['depth']}, width {s['width']}, {s['seeds']} seeds: "
            f"ratio 1 at depth {s['depth']} for σ_w² = {_sigma_w2_text(result.measured_neutral)} measured, "
            f"{_sigma_w2_text(result.theory_neutral)} mean field; χ = 1 at σ_w² = {result.critical:.3g}")


@register_explorer("ch3 phase diagram")
def phase_diagram_explorer(activation: str = "tanh", sigma_b2: float = 0.05, depth: int = 50, width: int = 64,
                           seeds: int = 4, device: str = "auto") -> Explorer:
    controls = dict(
        activation=dropdown("activation", activation, ACTIVATIONS),
        sigma_b2=float_slider("σ_b² (bias variance)", sigma_b2, 0.0, 1.0, 0.01),
        depth=int_slider("depth", depth, 2, 100),
        width=int_slider("width", width, 4, 256),
        seeds=int_slider("seeds", seeds, 1, 16),
        device=device_dropdown(device),
    )
    return Explorer(phase_diagram, plot_phase_diagram, controls, describe_phase_diagram, ncols=2,
                    title="Phase diagram: gradient ratio over σ_w² and depth")


@register_figure("03_initialization.png")
def headline_figure():
    """Chapter 3: measured phase diagrams of ReLU and tanh networks, with mean-field theory on top."""
    from .plotting import new_figure

    fig, axes = new_figure(2, 2)
    for row, (activation, sigma_b2) in enumerate((("relu", 0.0), ("tanh", 0.05))):
        plot_phase_diagram(phase_diagram(activation, sigma_b2, depth=50, width=128, seeds=8, points=33, device="cpu"),
                           axes[2 * row:2 * row + 2])
        axes[2 * row].set_title(f"{activation}, σ_b² = {sigma_b2:g}: gradient ratio (blue vanishes, red explodes)")
    fig.suptitle("Measured: 264 networks per row, one batched sweep. Dashed and black: mean-field theory")
    return fig
