"""The activation registry: each name gives the function, its slope (derivative) and an nn.Module."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial

import torch
import torch.nn.functional as F
from torch import nn

from .validation import check_choice

LEAKY_SLOPE = 0.01
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


@dataclass(frozen=True)
class Activation:
    """One activation: ``fn(z)``, its derivative ``slope(z)``, and a module factory."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    slope: Callable[[torch.Tensor], torch.Tensor]
    make_module: Callable[[], nn.Module]

    @cached_property
    def peak_slope(self) -> float:
        """The largest slope over the real line (found on a fine grid)."""
        return float(self.slope(torch.linspace(-10, 10, 40001, dtype=torch.float64)).max())


def _sigmoid_slope(z):
    s = torch.sigmoid(z)
    return s * (1 - s)


def _gelu_slope(z):
    return 0.5 * (1 + torch.erf(z / math.sqrt(2))) + z * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _gelu_tanh_slope(z):
    t = torch.tanh(_GELU_C * (z + _GELU_A * z**3))
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _GELU_C * (1 + 3 * _GELU_A * z * z)


def _silu_slope(z):
    s = torch.sigmoid(z)
    return s * (1 + z * (1 - s))


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("sigmoid", torch.sigmoid, _sigmoid_slope, nn.Sigmoid),
        Activation("tanh", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2, nn.Tanh),
        Activation("relu", F.relu, lambda z: (z > 0).to(z.dtype), nn.ReLU),
        Activation(
            "leaky_relu",
            partial(F.leaky_relu, negative_slope=LEAKY_SLOPE),
            lambda z: torch.where(z > 0, 1.0, LEAKY_SLOPE).to(z.dtype),
            partial(nn.LeakyReLU, LEAKY_SLOPE),
        ),
        Activation("gelu", F.gelu, _gelu_slope, nn.GELU),
        Activation("gelu_tanh", partial(F.gelu, approximate="tanh"), _gelu_tanh_slope, partial(nn.GELU, "tanh")),
        Activation("silu", F.silu, _silu_slope, nn.SiLU),
        Activation("identity", lambda z: z, torch.ones_like, nn.Identity),
    ]
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name; unknown names raise a ValueError listing the choices."""
    check_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]
