"""Singular values of the input-output Jacobian dh_L/dx: Gaussian versus orthogonal weights (chapter 3).

J = D_L W_L ... D_1 W_1 with D_l = diag(phi'(z_l)). Mean-field theory fixes only the mean square of
J's singular values (chi per layer); their spread depends on the weights' distribution. A network
whose singular values all sit near 1 ("dynamical isometry", Saxe et al. 2014; Pennington et al. 2017)
passes every direction of the gradient equally well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .blocks import build_network
from .devices import cpu_float64, pick_device
from .plotting import positive
from .validation import check_int

TINY = 1e-6  # below TINY x the largest, a singular value of a float32 Jacobian is rounding noise or 0


@dataclass
class JacobianSpectrum:
    """Sorted singular values (largest first) of J at ``inputs`` random inputs, pooled."""

    settings: dict
    singular_values: np.ndarray
    device: str

    @property
    def resolved(self) -> np.ndarray:
        """The singular values above TINY x the largest."""
        s = self.singular_values
        return s[s > TINY * s.max()]

    @property
    def tiny_fraction(self) -> float:
        return 1.0 - self.resolved.size / self.singular_values.size

    @property
    def log10_spread(self) -> float:
        """Standard deviation of log10 s over the resolved singular values: 0 for a perfect isometry."""
        return float(np.log10(self.resolved).std())

    @property
    def label(self) -> str:
        s = self.settings
        return f"{s['activation']}, {s['init']}, σ_w²={s['sigma_w2']:g}"


def jacobian_spectrum(activation: str = "tanh", init: str = "orthogonal", sigma_w2: float = 1.0,
                      sigma_b2: float = 0.0, depth: int = 32, width: int = 128, inputs: int = 4, seed: int = 0,
                      device="cpu") -> JacobianSpectrum:
    """Build the network (``build_network``, init ``normal`` or ``orthogonal``) and take the singular
    values of dh_L/dx at ``inputs`` Gaussian inputs (torch.func.jacrev, vectorised over inputs)."""
    check_int("inputs", inputs, minimum=1)
    dev = pick_device(device)
    net = build_network(depth, width, activation=activation, init=init, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
                        seed=seed, device=dev)
    x = torch.randn(inputs, width, generator=torch.Generator().manual_seed(seed + 1)).to(dev)
    jacobians = torch.func.vmap(torch.func.jacrev(net))(x)
    singular = torch.linalg.svdvals(cpu_float64(jacobians)).flatten().sort(descending=True).values
    settings = dict(activation=activation, init=init, sigma_w2=sigma_w2, sigma_b2=sigma_b2, depth=depth,
                    width=width, inputs=inputs, seed=seed)
    return JacobianSpectrum(settings, singular.numpy(), dev.type)


def plot_jacobian_spectra(results, ax) -> None:
    """Each spectrum as sorted singular values against their position in that order (as a fraction), on a log axis cut
    below 1e-7 x the largest. Values below ``TINY`` x the largest are rounding noise, whose digits change with the
    CPU: not drawn (the legend gives their share), and the spread is printed to 2 decimals, as in chapter 3's table."""
    for result in results:
        s, tiny = result.singular_values, result.tiny_fraction
        drawn = positive(s)
        drawn[drawn < TINY * s.max()] = np.nan
        ax.plot(np.arange(1, s.size + 1) / s.size, drawn, label=f"{result.settings['init']}: "
                f"spread {result.log10_spread:.2f} decades" + (f", {tiny:.0%} below 1e-6 × max" if tiny else ""))
    first = results[0].settings
    ax.set_yscale("log")
    largest = max(r.singular_values.max() for r in results)
    ax.set_ylim(0.1 * TINY * largest, 3 * largest)
    ax.set(xlabel="position, largest first / number of singular values", ylabel="singular value of $\\partial h_L/\\partial x$",
           title=f"{first['activation']}, depth {first['depth']}, width {first['width']}")
    ax.legend(loc="best")
