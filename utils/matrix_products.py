"""Backprop as a product of matrices: how ||M_L ... M_1 v|| grows or shrinks with depth (chapter 1).

Each M_l has independent N(0, scale^2 / width) entries, so E||M v||^2 = scale^2 ||v||^2: on
average (in mean square) every factor multiplies the norm by ``scale``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .devices import cpu_float64, pick_device
from .explorer import Explorer, device_dropdown, float_slider, int_slider, register_explorer
from .plotting import COLORS, draw_runs, layer_axis, positive
from .validation import check_int, check_number


@dataclass
class MatrixProducts:
    """``norms[t, l]`` = ||M_l ... M_1 v|| for trial t (column 0 is ||v|| = 1)."""

    depth: int
    width: int
    scale: float
    norms: np.ndarray
    device: str

    @property
    def median_final(self) -> float:
        return float(np.median(self.norms[:, -1]))

    @property
    def theory(self) -> np.ndarray:
        """The mean-square prediction scale^l."""
        return self.scale ** np.arange(self.depth + 1, dtype=float)


def matrix_products(depth: int = 50, width: int = 64, scale: float = 1.0, trials: int = 20,
                    seed: int = 0, device="cpu") -> MatrixProducts:
    """Multiply ``trials`` random unit vectors by ``depth`` random matrices, recording the norm after each."""
    check_int("depth", depth, minimum=1)
    check_int("width", width, minimum=1)
    check_int("trials", trials, minimum=1)
    check_number("scale", scale, minimum=0.0, strict=True)
    dev = pick_device(device)
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(trials, width, 1, generator=gen)
    v = (v / v.norm(dim=1, keepdim=True)).to(dev)
    log_norms = torch.zeros(trials, depth + 1, dtype=torch.float64)
    for layer in range(1, depth + 1):
        m = torch.randn(trials, width, width, generator=gen) * (scale / math.sqrt(width))
        v = m.to(dev) @ v
        norm = v.norm(dim=1, keepdim=True)
        v = v / norm  # keep unit length and add up log-norms, so float32 never overflows
        log_norms[:, layer] = log_norms[:, layer - 1] + cpu_float64(norm.squeeze(-1).squeeze(-1)).log()
    norms = log_norms.exp()
    return MatrixProducts(depth, width, scale, norms.numpy(), dev.type)


def plot_matrix_products(result: MatrixProducts, ax) -> None:
    """Every trial (thin), their median (thick) and the mean-square prediction scale^l (dashed)."""
    layers = np.arange(result.depth + 1)
    draw_runs(ax, layers, positive(result.norms), COLORS["residual"])
    ax.plot(layers, positive(np.median(result.norms, axis=0)), color=COLORS["residual"], lw=2.2, label="median of trials")
    ax.plot(layers, positive(result.theory), "--", color=COLORS["theory"], label=f"scale$^l$ = {result.scale:.3g}$^l$")
    layer_axis(ax, r"$\|M_l \cdots M_1 v\|$", title=f"width {result.width}, scale {result.scale:.3g}")
    ax.legend(loc="best")


def describe_matrix_products(result: MatrixProducts) -> str:
    return (f"depth {result.depth}, width {result.width}, scale {result.scale:.3g}: median norm "
            f"{result.median_final:.3g} (scale^L = {result.theory[-1]:.3g})")


@register_explorer("ch1 matrix products")
def matrix_products_explorer(depth: int = 50, width: int = 64, scale: float = 1.0) -> Explorer:
    controls = dict(
        depth=int_slider("depth L", depth, 1, 200),
        width=int_slider("width", width, 2, 256),
        scale=float_slider("scale", scale, 0.5, 2.0, 0.01),
        device=device_dropdown(),
    )
    return Explorer(matrix_products, plot_matrix_products, controls, describe_matrix_products,
                    title="A product of random matrices")
