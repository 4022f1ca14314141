"""ReLU as an input-dependent mask, and GELU as its smooth, stochastic cousin (chapter 5).

A ReLU layer computes h = D(x) (W x + b) with D(x) = diag(1[W x + b > 0]): a 0/1 diagonal that
depends on the input, so every input runs through its own sub-network. ``activation_masks`` reads
those diagonals off a trained network with hooks; ``active_set_overlap`` compares them between
inputs (Jaccard index). ``gelu_facts`` checks the GELU identities of Hendrycks & Gimpel (2016,
"Gaussian Error Linear Units") numerically, in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .devices import cpu_float64
from .validation import check_int


@torch.no_grad()
def activation_masks(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The masks D(x): for each hidden block of ``model`` (``Sequential(body, head)``), a bool tensor
    (n_inputs, units) that is True where the pre-activation W h + b is positive (the unit is on)."""
    body = model[0]
    masks: list[torch.Tensor] = []
    handles = [block.act.register_forward_hook(lambda mod, inp, out: masks.append(inp[0] > 0))
               for block in body.blocks]
    try:
        w = next(model.parameters())
        model(x.to(w.device, w.dtype))
    finally:
        for handle in handles:
            handle.remove()
    return [m.cpu() for m in masks]


@dataclass
class Overlap:
    """Mean Jaccard index |A ∩ B| / |A ∪ B| of two inputs' active sets, over pairs of one class and
    over pairs of different classes, per hidden layer (0..1)."""

    same_class: np.ndarray
    different_class: np.ndarray


def jaccard_matrix(mask: torch.Tensor) -> torch.Tensor:
    """(n, n) float64 Jaccard indices between the rows of a bool (n, units) mask; 1 where both are empty."""
    m = cpu_float64(mask)
    inter = m @ m.T
    sizes = m.sum(1)
    union = sizes[:, None] + sizes[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))


def active_set_overlap(masks: list[torch.Tensor], labels: torch.Tensor) -> Overlap:
    """Average the Jaccard index of every pair of distinct inputs, split by whether their labels agree."""
    labels = labels.cpu()
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)
    same_means, diff_means = [], []
    for mask in masks:
        jac = jaccard_matrix(mask)
        same_means.append(float(jac[same & off_diagonal].mean()))
        diff_means.append(float(jac[~same].mean()))
    return Overlap(np.array(same_means), np.array(diff_means))


def _phi(x: torch.Tensor) -> torch.Tensor:
    """The standard normal CDF Φ(x)."""
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


@dataclass
class GeluFacts:
    """Numbers behind GELU(x) = x Φ(x), each computed in float64 on the CPU."""

    mc_points: np.ndarray       # x values of the Monte Carlo check
    mc_estimate: np.ndarray     # mean of x·m over the draws, m ~ Bernoulli(Φ(x))
    mc_exact: np.ndarray        # x Φ(x)
    mc_stderr: np.ndarray       # standard error of each estimate, |x| sqrt(Φ(1-Φ)/n)
    tanh_max_error: float       # max |GELU - tanh approximation| over [-10, 10]
    tanh_error_at: float        # where it occurs (x > 0 of the symmetric pair)
    sigmoid_max_error: float    # max |GELU - x σ(1.702 x)|
    sigmoid_error_at: float
    dip_at: float               # argmin of GELU
    dip_value: float            # min of GELU


def gelu_facts(draws: int = 1_000_000, seed: int = 0) -> GeluFacts:
    """Check GELU's identities numerically (Hendrycks & Gimpel, 2016).

    * Stochastic gate: with m ~ Bernoulli(Φ(x)), E[x·m] = x Φ(x); estimated from ``draws`` draws per point.
    * tanh approximation 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))) and sigmoid approximation
      x σ(1.702 x): largest absolute error on a 10⁻⁵ grid over [-10, 10] and where it occurs.
    * The negative dip: GELU'(x) = Φ(x) + x φ(x) = 0, solved by Newton's method from the grid minimum
      (GELU''(x) = φ(x)(2 - x²)).
    """
    check_int("draws", draws, minimum=2)
    gen = torch.Generator().manual_seed(seed)
    points = torch.tensor([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0], dtype=torch.float64)
    gate = _phi(points)
    ones = torch.zeros(len(points), dtype=torch.float64)
    done = 0
    while done < draws:  # in chunks: a million draws per point at once would hold 48 MB
        n = min(draws - done, 250_000)
        ones += (torch.rand(n, len(points), generator=gen, dtype=torch.float64) < gate).sum(0)
        done += n
    estimate = points * ones / draws
    stderr = points.abs() * torch.sqrt(gate * (1 - gate) / draws)

    x = torch.linspace(-10, 10, 2_000_001, dtype=torch.float64)
    exact = x * _phi(x)
    err_tanh = (exact - F.gelu(x, approximate="tanh")).abs()
    err_sig = (exact - x * torch.sigmoid(1.702 * x)).abs()

    z = x[int(torch.argmin(exact))]
    for _ in range(20):
        density = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        z = z - (_phi(z) + z * density) / (density * (2 - z * z))
    return GeluFacts(
        mc_points=points.numpy(), mc_estimate=estimate.numpy(), mc_exact=(points * gate).numpy(),
        mc_stderr=stderr.numpy(),
        tanh_max_error=float(err_tanh.max()), tanh_error_at=abs(float(x[int(err_tanh.argmax())])),
        sigmoid_max_error=float(err_sig.max()), sigmoid_error_at=abs(float(x[int(err_sig.argmax())])),
        dip_at=float(z), dip_value=float(z * _phi(z)),
    )
