"""The book's building blocks and the one builder that stacks them.

A block maps a hidden vector h to the next one:

* ``PlainBlock``:     h -> act(W h + b)
* ``ResidualBlock``:  h -> h + g * act(W h + b)       (g: the branch gain)

Both take ``norm``: "none"; "pre" puts a LayerNorm on the block's input
(pre-norm residual: h + g * act(W LN(h) + b)); "post" puts it on the output
(post-norm residual: LN(h + g * act(W h + b))). With ``dropout`` = p > 0, each unit of act(...) is
zeroed with probability p in training mode and the others are scaled by 1/(1 - p) (``nn.Dropout``).
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import get_activation
from .devices import pick_device
from .initializers import INIT_SCHEMES, init_linear
from .validation import check_choice, check_int, check_number

NORMS = ("none", "pre", "post")


class PlainBlock(nn.Module):
    """h -> act(W h + b), with an optional LayerNorm before ("pre") or after ("post") and optional dropout."""

    def __init__(self, d_in: int, d_out: int, activation: str = "relu", norm: str = "none", dropout: float = 0.0):
        super().__init__()
        check_choice("norm", norm, NORMS)
        self.activation = activation
        self.linear = nn.Linear(d_in, d_out)
        self.act = get_activation(activation).make_module()
        self.norm_in = nn.LayerNorm(d_in) if norm == "pre" else nn.Identity()
        self.norm_out = nn.LayerNorm(d_out) if norm == "post" else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def branch(self, h: torch.Tensor) -> torch.Tensor:
        """The transformation F(h) = dropout(act(W norm_in(h) + b))."""
        return self.drop(self.act(self.linear(self.norm_in(h))))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm_out(self.branch(h))


class ResidualBlock(PlainBlock):
    """h -> h + g * F(h): the identity path plus a scaled branch (g fixed, or learned as in ReZero)."""

    def __init__(self, width: int, activation: str = "relu", norm: str = "none",
                 branch_gain: float = 1.0, learn_gain: bool = False, dropout: float = 0.0):
        super().__init__(width, width, activation, norm, dropout)
        gain = torch.tensor(check_number("branch_gain", branch_gain, minimum=0.0))
        if learn_gain:
            self.gain = nn.Parameter(gain)
        else:
            self.register_buffer("gain", gain)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm_out(h + self.gain * self.branch(h))


class Network(nn.Module):
    """A stack of blocks applied in order; ``linears`` lists each block's weight layer."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    @property
    def linears(self) -> list[nn.Linear]:
        return [block.linear for block in self.blocks]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def build_network(depth: int, width: int, *, activation: str = "relu", init: str = "default",
                  sigma_w2: float = 1.0, sigma_b2: float = 0.0, shortcut: bool = False,
                  norm: str = "none", branch_gain: float = 1.0, learn_gain: bool = False,
                  in_dim: int | None = None, out_dim: int | None = None, dropout: float = 0.0,
                  seed: int | None = None, device="cpu") -> Network:
    """Stack ``depth`` blocks of ``width`` units.

    The first block maps ``in_dim`` (default: width) to width; if ``out_dim`` is given the
    last block maps to it. With ``shortcut=True`` every block whose input and output sizes
    agree is a ResidualBlock, the others are plain. If ``seed`` is given, torch's global
    RNG is seeded first. ``dropout`` (a probability in [0, 1)) drops units after each activation in
    training mode. Layers are created with PyTorch's default init (on the CPU, so every
    device gets the same weights); any other ``init`` scheme then overwrites it.
    """
    check_int("depth", depth, minimum=1)
    check_int("width", width, minimum=1)
    in_dim = width if in_dim is None else check_int("in_dim", in_dim, minimum=1)
    out_dim = width if out_dim is None else check_int("out_dim", out_dim, minimum=1)
    check_choice("init scheme", init, INIT_SCHEMES)
    check_choice("norm", norm, NORMS)
    check_number("sigma_w2 (weight variance)", sigma_w2, minimum=0.0)
    check_number("sigma_b2 (bias variance)", sigma_b2, minimum=0.0)
    check_number("branch_gain", branch_gain, minimum=0.0)
    if not 0.0 <= check_number("dropout", dropout, minimum=0.0) < 1.0:
        raise ValueError(f"dropout must be a probability below 1, got {dropout:g}")
    get_activation(activation)
    device = pick_device(device)
    if seed is not None:
        torch.manual_seed(seed)

    sizes = [in_dim] + [width] * (depth - 1) + [out_dim]
    blocks = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        if shortcut and d_in == d_out:
            blocks.append(ResidualBlock(d_in, activation, norm, branch_gain, learn_gain, dropout))
        else:
            blocks.append(PlainBlock(d_in, d_out, activation, norm, dropout))
    net = Network(blocks)
    if init != "default":
        for layer in net.linears:
            init_linear(layer, init, sigma_w2, sigma_b2)
    return net.to(device)
