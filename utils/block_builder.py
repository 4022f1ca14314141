"""The block builder (chapter 4): pick a block, stack it, see the module tree, the parameter count and
the gradient flow of exactly that network.

Block types (all keep the width n, PyTorch's default initialisation unless noted):

=========================  ======================================  =====================
type                       one block                               parameters per block
=========================  ======================================  =====================
plain                      h -> act(W h + b)                       n^2 + n
residual                   h -> h + act(W h + b)                   n^2 + n (gain: buffer)
pre-norm residual          h -> h + act(W LN(h) + b)               n^2 + 3n
post-norm residual         h -> LN(h + act(W h + b))               n^2 + 3n
transformer (pre-norm)     h -> h + Attn(LN h); h + MLP(LN h)      12 n^2 + 13 n
=========================  ======================================  =====================

The first four are ``utils/blocks.py``'s blocks stacked by ``build_network``; the transformer layer is
``utils/norm_placement.py``'s (4 heads, MLP 4n wide, Xavier-uniform weights), fed the batch as one
sequence of tokens. The measurement is chapter 1's (``probe_with_readout``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .activations import ACTIVATIONS
from .blocks import Network, build_network
from .devices import pick_device
from .explorer import Explorer, device_dropdown, dropdown, int_slider, register_explorer
from .figures import register_figure
from .gradient_flow import GradientFlow, plot_gradient_flow, probe_with_readout
from .module_mechanics import count_parameters, network_parameter_count
from .norm_placement import build_transformer
from .validation import check_choice, check_int

HEADS = 4  # attention heads of the transformer block: its width must be a multiple of this
BLOCK_TYPES = {  # name -> (shortcut, norm) for build_network; None: the transformer layer
    "plain": (False, "none"),
    "residual": (True, "none"),
    "pre-norm residual": (True, "pre"),
    "post-norm residual": (True, "post"),
    "transformer (pre-norm)": None,
}


def block_formula(block: str, blocks: int, width: int) -> str:
    """The parameter count of ``blocks`` blocks of ``block`` at ``width`` as a formula with its value
    (the value from ``network_parameter_count``, or 12 n^2 + 13 n per transformer layer)."""
    check_choice("block type", block, BLOCK_TYPES)
    if BLOCK_TYPES[block] is None:
        total, per_block = blocks * (12 * width * width + 13 * width), "12n² + 13n"
    else:
        shortcut, norm = BLOCK_TYPES[block]
        total = network_parameter_count(blocks, width, shortcut=shortcut, norm=norm)
        per_block = "n² + n" if norm == "none" else "n² + 3n"
    return f"L·({per_block}) = {blocks}·{total // blocks:,} = {total:,}"


def build_blocks(block: str = "residual", blocks: int = 30, width: int = 64, activation: str = "relu",
                 seed: int = 0, device="cpu") -> Network:
    """``blocks`` blocks of type ``block`` (see the module docstring), each ``width`` wide.

    Raises ValueError for an unknown block type or activation, blocks < 1, width < 1, or (transformer)
    a width that is not a multiple of the 4 attention heads.
    """
    check_choice("block type", block, BLOCK_TYPES)
    check_int("number of blocks", blocks, minimum=1)
    check_int("width", width, minimum=1)
    check_choice("activation", activation, ACTIVATIONS)
    if BLOCK_TYPES[block] is None:
        if width % HEADS:
            below, above = max(HEADS, width - width % HEADS), width - width % HEADS + HEADS
            raise ValueError(f"the transformer block splits its width over {HEADS} attention heads, so the width "
                             f"must be a multiple of {HEADS} (e.g. {below} or {above}), got {width}")
        return build_transformer(blocks, width, HEADS, "pre", activation, seed, device)[0]
    shortcut, norm = BLOCK_TYPES[block]
    return build_network(blocks, width, activation=activation, shortcut=shortcut, norm=norm, seed=seed,
                         device=device)


def module_tree(net: Network) -> str:
    """``print(net)`` text, PyTorch's own folding of identical blocks ("(0-29): 30 x ...") kept; long
    constructor arguments are shortened to fit a panel."""
    text = repr(net)
    text = re.sub(r", eps=1e-05, elementwise_affine=True(, bias=True)?", "", text)
    text = text.replace("NonDynamicallyQuantizableLinear", "Linear")
    return re.sub(r"in_features=(\d+), out_features=(\d+), bias=True", r"\1 → \2", text)


@dataclass
class BlockBuild:
    """One built and probed network: its settings, module tree, parameter count and gradient flow."""

    settings: dict
    tree: str
    n_parameters: int   # measured: sum of p.numel() over parameters()
    formula: str        # the closed form, with its value
    flow: GradientFlow
    device: str

    @property
    def warning(self) -> str | None:
        return self.flow.warning


def block_builder(block: str = "residual", blocks: int = 30, width: int = 64, activation: str = "relu",
                  batch: int = 128, seed: int = 0, device="cpu") -> BlockBuild:
    """Build the network (``build_blocks``), count its parameters, and probe it as chapter 1 does:
    a (batch, width) Gaussian batch and a fixed random linear readout as the loss."""
    check_int("batch", batch, minimum=2)
    dev = pick_device(device)
    net = build_blocks(block, blocks, width, activation, seed, dev)
    probe = probe_with_readout(net, width, batch, seed, dev)
    shortcut, norm = BLOCK_TYPES[block] or (True, "pre")
    label_settings = dict(activation=activation, init="default", sigma_w2=1 / 3, shortcut=shortcut, norm=norm)
    settings = dict(block=block, blocks=blocks, width=width, activation=activation, batch=batch, seed=seed)
    return BlockBuild(settings, module_tree(net), count_parameters(net), block_formula(block, blocks, width),
                      GradientFlow(label_settings, probe, dev.type), dev.type)


def plot_block_builder(result: BlockBuild, axes) -> None:
    """Left: the module tree as text. Middle and right: chapter 1's gradient-flow plot of that network."""
    ax_tree = axes[0]
    ax_tree.set_axis_off()
    ax_tree.text(0.0, 1.0, result.tree, family="monospace", fontsize=7.5, va="top", ha="left",
                 transform=ax_tree.transAxes)
    ax_tree.set_title("print(net)", loc="left")
    plot_gradient_flow(result.flow, axes[1:])
    axes[2].set_title(f"{result.settings['block']}: first/last = {result.flow.ratio:.2g}")


def describe_block_builder(result: BlockBuild) -> str:
    s = result.settings
    return (f"{s['blocks']} × {s['block']}, width {s['width']}, {s['activation']}: {result.n_parameters:,} "
            f"parameters [{result.formula}, n = {s['width']}]; gradient ratio first/last = "
            f"{result.flow.ratio:.3g} ({result.flow.verdict})")


@register_explorer("ch4 block builder")
def block_builder_explorer(block: str = "residual", blocks: int = 30, width: int = 64, activation: str = "relu",
                           device: str = "auto") -> Explorer:
    """Block type, number of blocks, width, activation and device -> tree, count and gradient flow."""
    controls = dict(
        block=dropdown("block type", block, BLOCK_TYPES),
        blocks=int_slider("number of blocks L", blocks, 1, 100),
        width=int_slider("width n", width, 1, 256),
        activation=dropdown("activation", activation, ACTIVATIONS),
        device=device_dropdown(device),
    )
    return Explorer(block_builder, plot_block_builder, controls, describe_block_builder, ncols=3,
                    panel_size=(4.2, 3.4), title="Block builder: the code, its size, its gradient flow")


def plot_block_types(results: list[BlockBuild], axes) -> None:
    """Several builds on chapter 1's two gradient-flow axes, each line labelled by its block type."""
    plot_gradient_flow([r.flow for r in results], axes)
    for ax in axes:
        for line, result in zip(ax.get_lines(), results):
            line.set_label(result.settings["block"])
        ax.legend(loc="best")


@register_figure("04_layers_and_blocks.png")
def headline_figure():
    """Chapter 4: 30 blocks of width 64, ReLU, PyTorch's default init: the four block types of the library."""
    from .plotting import new_figure

    results = [block_builder(block, device="cpu") for block in list(BLOCK_TYPES)[:4]]
    fig, axes = new_figure(2)
    plot_block_types(results, axes)
    fig.suptitle("Same layers, different blocks: 30 blocks of width 64, ReLU, PyTorch's default init")
    return fig
