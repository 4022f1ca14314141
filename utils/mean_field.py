"""Mean-field theory of signal propagation through a wide random network (chapter 3).

The book's plain network is h_0 = x, z_l = W_l h_{l-1} + b_l, h_l = phi(z_l) for l = 1..L, with
W_ij ~ N(0, sigma_w2 / n) and b_i ~ N(0, sigma_b2). When the layers are wide, every pre-activation
z_l is Gaussian with mean 0 and a variance q_l that follows a one-dimensional map:

    q_1 = sigma_w2 * m_0 + sigma_b2                          (m_0: the input's mean square, 1 here)
    q_l = V(q_{l-1}) = sigma_w2 * E[phi(sqrt(q_{l-1}) u)^2] + sigma_b2,      u ~ N(0, 1).

Going down, layer l multiplies the mean-square gradient dl/dh by chi(q_l) = sigma_w2 * E[phi'(sqrt(q_l) u)^2].
At the fixed point q* = V(q*), chi = chi(q*) (papers write chi_1: Poole et al. 2016; Schoenholz et al. 2017)
separates the ordered phase (chi < 1: inputs merge, gradients vanish) from the chaotic phase (chi > 1:
inputs decorrelate, gradients explode); chi = 1 is the edge of chaos.

Expectations are computed by quadrature (a weighted sum of the integrand at fixed nodes): Gauss-Legendre panels in u, weighted by the normal
density, with panel edges at u = 0 (ReLU's kink) and at |z| = sqrt(q) |u| in {1/4, ..., 16}, where the
registered activations bend. Plain Gauss-Hermite would miss the narrow slope peak of tanh or sigmoid
when q is large, and a kink between its nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .activations import get_activation
from .validation import check_int, check_number

_LEG_U, _LEG_W = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(16))
_TAIL = 9.0  # |u| > 9 holds 2e-19 of a standard normal's mass
_BENDS = torch.tensor([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], dtype=torch.float64)
_FIXED = torch.tensor([0.0, 1.0, 3.0, _TAIL], dtype=torch.float64)
Q_MAX = 1e30   # a variance map still growing here has no fixed point
Q_MIN = 1e-30  # a variance map still shrinking here has the fixed point 0


def _quadrature(q: torch.Tensor):
    """Nodes u and weights w (shape q.shape + (N,)) with sum(w * f(u)) ~ E[f(u)], u ~ N(0, 1)."""
    cuts = torch.clamp(_BENDS / q.sqrt().unsqueeze(-1), max=_TAIL)  # inf where q = 0, clamped to the tail
    half = torch.sort(torch.cat([_FIXED.expand(*q.shape, -1), cuts], dim=-1), dim=-1).values
    edges = torch.cat([-half[..., 1:].flip(-1), half], dim=-1)
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]
    u = 0.5 * (lo + hi) + 0.5 * (hi - lo) * _LEG_U
    w = 0.5 * (hi - lo) * _LEG_W * torch.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
    return u.flatten(-2), w.flatten(-2)


def gaussian_mean(fn, q) -> np.ndarray:
    """E[fn(z)] for z ~ N(0, q), elementwise over the array ``q`` (fn acts on float64 tensors)."""
    q = torch.as_tensor(np.asarray(q, dtype=np.float64))
    u, w = _quadrature(q)
    return (w * fn(q.sqrt().unsqueeze(-1) * u)).sum(-1).numpy()


def _check(activation: str, sigma_w2, sigma_b2: float):
    act = get_activation(activation)
    for value in np.unique(np.atleast_1d(sigma_w2)):
        check_number("sigma_w2 (weight variance)", float(value), minimum=0.0, strict=True)
    check_number("sigma_b2 (bias variance)", sigma_b2, minimum=0.0)
    return act


def _square(act, q):
    return gaussian_mean(lambda z: act.fn(z) ** 2, q)


def _slope_square(act, q):
    return gaussian_mean(lambda z: act.slope(z) ** 2, q)


def variance_map(q, activation: str, sigma_w2, sigma_b2: float = 0.0) -> np.ndarray:
    """V(q) = sigma_w2 E[phi(sqrt(q) u)^2] + sigma_b2: the next layer's pre-activation variance."""
    act = _check(activation, sigma_w2, sigma_b2)
    return sigma_w2 * _square(act, q) + sigma_b2


def gradient_factor(q, activation: str, sigma_w2) -> np.ndarray:
    """chi(q) = sigma_w2 E[phi'(sqrt(q) u)^2]: what one layer multiplies the mean-square gradient by."""
    act = _check(activation, sigma_w2, 0.0)
    return sigma_w2 * _slope_square(act, q)


def _illinois(f, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Roots of f between lo and hi (f(lo), f(hi) of opposite signs, elementwise): the Illinois variant of
    regula falsi on log q, which keeps a bracket and converges in about ten steps."""
    a, b = np.log(lo), np.log(hi)
    fa, fb = f(lo), f(hi)
    for _ in range(100):
        c = b - fb * (b - a) / np.where(fb != fa, fb - fa, 1.0)
        fc = f(np.exp(c))
        flip = fc * fb < 0
        a, fa = np.where(flip, b, a), np.where(flip, fb, 0.5 * fa)
        step, b, fb = np.abs(c - b), c, fc
        if np.all((step <= 1e-13 * np.maximum(1.0, np.abs(b))) | (fc == 0)):
            break
    return np.exp(b)


def _fixed_points(act, sigma_w2: np.ndarray, sigma_b2: float, input_q: float) -> np.ndarray:
    """Vectorised ``fixed_point`` over an array of sigma_w2; inf marks "no fixed point"."""
    gap = lambda q, w2=sigma_w2: w2 * _square(act, q) + sigma_b2 - q  # noqa: E731
    start = sigma_w2 * input_q + sigma_b2
    g0 = gap(start)
    result = np.where(np.abs(g0) <= 1e-12 * start, start, np.nan)
    step = np.where(g0 > 0, 16.0, 1 / 16)
    near, far = start.copy(), start * step
    open_ = np.isnan(result)
    while open_.any():  # march away from q_1 until the gap changes sign
        same = open_ & (gap(far) * g0 > 0)
        result[same & (far > Q_MAX)] = np.inf
        result[same & (far < Q_MIN)] = 0.0
        open_ = same & np.isnan(result)
        near[open_], far[open_] = far[open_], far[open_] * step[open_]
    todo = np.flatnonzero(np.isnan(result))
    if todo.size:
        result[todo] = _illinois(lambda q: gap(q, sigma_w2[todo]), near[todo], far[todo])
    return result


def fixed_point(activation: str, sigma_w2: float, sigma_b2: float = 0.0, input_q: float = 1.0) -> float:
    """The fixed point q* = V(q*) that the layers reach from q_1 = sigma_w2 * input_q + sigma_b2.

    V is increasing, so q_l moves monotonically from q_1 to the nearest fixed point in that
    direction; that is the one returned (0 when the signal dies out). Raises ValueError when q_l
    grows without bound, i.e. there is no fixed point to reach.
    """
    act = _check(activation, sigma_w2, sigma_b2)
    check_number("input_q", input_q, minimum=0.0)
    q = float(_fixed_points(act, np.array([float(sigma_w2)]), sigma_b2, input_q)[0])
    if math.isinf(q):
        rate = sigma_w2 * float(_square(act, Q_MAX)) / Q_MAX
        raise ValueError(
            f"no fixed point: with {activation}, sigma_w2 = {sigma_w2:g}, sigma_b2 = {sigma_b2:g} the variance "
            f"q_l grows without bound (at large q each layer multiplies it by {rate:.6g} and adds {sigma_b2:g}); "
            f"a fixed point needs sigma_w2 below {sigma_w2 / rate:.6g}" + (" or sigma_b2 = 0" if abs(rate - 1) < 1e-3 and sigma_b2 > 0 else ""))
    return q


def chi(activation: str, sigma_w2: float, sigma_b2: float = 0.0) -> float:
    """chi = chi(q*) = sigma_w2 E[phi'(z)^2], z ~ N(0, q*) (Poole et al. 2016's chi_1): the factor by which one
    layer deep in the network multiplies the gradient's mean square. Below 1 the network is ordered (gradients
    vanish), above 1 chaotic (they explode). Raises ValueError where there is no fixed point (see ``fixed_point``)."""
    # q* = 0 (the signal dies out): the limit q -> 0+, which for ReLU is sigma_w2/2, not ReLU'(0) = 0
    return float(gradient_factor(max(fixed_point(activation, sigma_w2, sigma_b2), Q_MIN), activation, sigma_w2))


def _beyond_order(act, sigma_w2: np.ndarray, sigma_b2: float) -> np.ndarray:
    """True where chi >= 1 or there is no fixed point (the variance grows without bound)."""
    q = _fixed_points(act, sigma_w2, sigma_b2, 1.0)
    grows = np.isinf(q)
    factor = sigma_w2 * _slope_square(act, np.where(grows, 1.0, np.maximum(q, Q_MIN)))
    return grows | (factor >= 1.0)


@lru_cache(maxsize=256)
def critical_sigma_w2(activation: str, sigma_b2: float = 0.0, lo: float = 0.05, hi: float = 5000.0) -> float:
    """The order-to-chaos boundary: the smallest sigma_w2 in [lo, hi] where chi reaches 1, or where
    the fixed point disappears (the variance then grows without bound).

    For ReLU this is 2 whatever sigma_b2 (chi = sigma_w2/2 at every q); for tanh it is 1 at
    sigma_b2 = 0 and grows with sigma_b2. Found on a log grid, refined until it is known to 1e-9.
    """
    act = _check(activation, [lo, hi], sigma_b2)
    grid = np.geomspace(lo, hi, 41)
    above = _beyond_order(act, grid, sigma_b2)
    if not above.any():
        raise ValueError(f"{activation} with sigma_b2 = {sigma_b2:g} has no order-to-chaos transition for "
                         f"sigma_w2 in [{lo:g}, {hi:g}]: chi stays below 1")
    if above[0]:
        raise ValueError(f"{activation} with sigma_b2 = {sigma_b2:g} is already chaotic at sigma_w2 = {lo:g}; "
                         f"lower lo to find the transition")
    while grid[-1] - grid[0] > 1e-9 * grid[-1]:
        first = int(np.argmax(above))
        grid = np.geomspace(grid[first - 1], grid[first], 33)
        above = _beyond_order(act, grid, sigma_b2)
        above[0], above[-1] = False, True  # the ends are known; this guards against rounding
    return float(np.sqrt(grid[0] * grid[-1]))


def critical_line(activation: str, q_star) -> tuple[np.ndarray, np.ndarray]:
    """The boundary chi = 1 in parametric form: for each q* the (sigma_w2, sigma_b2) whose fixed point is
    q* with chi(q*) = 1, i.e. sigma_w2 = 1 / E[phi'^2], sigma_b2 = q* - sigma_w2 E[phi^2] (Poole et al. 2016).
    For ReLU every q* gives (2, 0): its boundary is the whole vertical line sigma_w2 = 2."""
    act = get_activation(activation)
    sigma_w2 = 1.0 / _slope_square(act, q_star)
    return sigma_w2, np.asarray(q_star, dtype=np.float64) - sigma_w2 * _square(act, q_star)


@dataclass
class MeanField:
    """Per-layer predictions (last axis: layer 1..L; leading axes follow ``sigma_w2`` when it is an array)."""

    activation: str
    sigma_w2: np.ndarray
    sigma_b2: float
    q: np.ndarray         # q_l: mean square (= variance) of the pre-activations z_l
    act_mean: np.ndarray  # E[h_l]
    act_std: np.ndarray   # std of h_l
    chi: np.ndarray       # chi(q_l): the mean-square gradient factor of layer l

    @property
    def grad_ratio(self) -> np.ndarray:
        """||dl/dh_l|| / ||dl/dh_L||: sqrt of chi_{l+1} ... chi_L (1 at the top layer)."""
        log_chi = np.log(self.chi)
        above = np.cumsum(log_chi[..., ::-1], axis=-1)[..., ::-1] - log_chi
        return np.exp(0.5 * above)

    @property
    def log10_ratio_by_depth(self) -> np.ndarray:
        """log10 ||dl/dh_1|| / ||dl/dh_d|| for d = 1..L: the gradient after crossing layers d..2."""
        log_chi = np.log10(self.chi)
        return 0.5 * (np.cumsum(log_chi, axis=-1) - log_chi[..., :1])


def mean_field(depth: int, activation: str, sigma_w2, sigma_b2: float = 0.0, input_q: float = 1.0) -> MeanField:
    """Iterate the variance map through ``depth`` layers; ``sigma_w2`` may be a number or an array."""
    check_int("depth", depth, minimum=1)
    act = _check(activation, sigma_w2, sigma_b2)
    check_number("input_q", input_q, minimum=0.0)
    sigma_w2 = np.asarray(sigma_w2, dtype=np.float64)
    q = np.empty(sigma_w2.shape + (depth,))
    q[..., 0] = sigma_w2 * input_q + sigma_b2
    for layer in range(1, depth):
        q[..., layer] = sigma_w2 * _square(act, q[..., layer - 1]) + sigma_b2
    mean, square = gaussian_mean(act.fn, q), _square(act, q)
    factor = sigma_w2[..., None] * _slope_square(act, q)
    return MeanField(activation, sigma_w2, sigma_b2, q, mean, np.sqrt(np.maximum(square - mean**2, 0.0)), factor)
