"""Weight initialisation schemes for the book's linear layers.

Each scheme sets a layer's weight W (shape out x in) and bias b:

=================  ==================================================  ===========
scheme             weight                                              bias
=================  ==================================================  ===========
default            PyTorch's nn.Linear: U(-1/sqrt(n_in), 1/sqrt(n_in))  same law
lecun              N(0, 1/n_in)                                         0
xavier_normal      N(0, 2/(n_in + n_out))                               0
xavier_uniform     U(-a, a), a = sqrt(6/(n_in + n_out))                 0
he                 N(0, 2/n_in)                                         0
orthogonal         g * (random orthogonal rows or columns), variance    N(0, sigma_b2)
                   sigma_w2/n_in: g = sqrt(sigma_w2 * max(1, n_out/n_in))
normal             N(0, sigma_w2/n_in)                                  N(0, sigma_b2)
constant           every entry sqrt(sigma_w2)/n_in (no randomness)      0
zeros              0                                                    0
=================  ==================================================  ===========

``constant`` and ``zeros`` exist to show why weights must be random: all units of a layer
then compute the same thing and receive the same gradient (chapter 3).

PyTorch's default is kaiming_uniform with a = sqrt(5), whose variance is 1/(3 n_in).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .validation import check_choice, check_number

INIT_SCHEMES = ("default", "lecun", "xavier_normal", "xavier_uniform", "he", "orthogonal", "normal", "constant", "zeros")


def weight_variance(scheme: str, n_in: int, n_out: int, sigma_w2: float = 1.0) -> float:
    """The variance of one weight entry under ``scheme`` (for orthogonal: on average over the entries)."""
    check_choice("init scheme", scheme, INIT_SCHEMES)
    return {
        "default": 1.0 / (3 * n_in),
        "lecun": 1.0 / n_in,
        "xavier_normal": 2.0 / (n_in + n_out),
        "xavier_uniform": 2.0 / (n_in + n_out),
        "he": 2.0 / n_in,
        "orthogonal": sigma_w2 / n_in,
        "normal": sigma_w2 / n_in,
        "constant": 0.0,
        "zeros": 0.0,
    }[scheme]


@torch.no_grad()
def init_linear(layer: nn.Linear, scheme: str = "default", sigma_w2: float = 1.0, sigma_b2: float = 0.0) -> None:
    """Initialise ``layer`` in place with ``scheme`` (see the module docstring for the laws)."""
    check_choice("init scheme", scheme, INIT_SCHEMES)
    check_number("sigma_w2 (weight variance)", sigma_w2, minimum=0.0)
    check_number("sigma_b2 (bias variance)", sigma_b2, minimum=0.0)
    n_out, n_in = layer.weight.shape
    if scheme == "default":
        layer.reset_parameters()
        return
    if scheme == "xavier_uniform":
        bound = math.sqrt(6.0 / (n_in + n_out))
        layer.weight.uniform_(-bound, bound)
    elif scheme == "orthogonal":
        # a wide layer (n_out > n_in) gets orthonormal columns, entries of variance 1/n_out: scale them up
        # to sigma_w2/n_in, so that mean-field theory applies to every shape, as for ``normal``
        nn.init.orthogonal_(layer.weight, gain=math.sqrt(sigma_w2 * max(1.0, n_out / n_in)))
    elif scheme in ("constant", "zeros"):
        layer.weight.fill_(math.sqrt(sigma_w2) / n_in if scheme == "constant" else 0.0)
    else:
        layer.weight.normal_(0.0, math.sqrt(weight_variance(scheme, n_in, n_out, sigma_w2)))
    if layer.bias is not None:
        if scheme in ("normal", "orthogonal"):
            layer.bias.normal_(0.0, math.sqrt(sigma_b2))
        else:
            layer.bias.zero_()
