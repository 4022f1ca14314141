"""Pre-norm against post-norm transformer stacks: per-layer gradients at initialisation (chapter 2).

One transformer layer has two sublayers, self-attention and an MLP W2 act(W1 x), each inside a
residual connection. Where the LayerNorm sits is the whole difference:

    post-norm (Vaswani et al., 2017):  x <- LN(x + Attn(x));    x <- LN(x + MLP(x))
    pre-norm  (GPT-2 and after):       x <- x + Attn(LN(x));    x <- x + MLP(LN(x));   one LN at the very end

Weights are Xavier-uniform, biases zero. Xiong et al. (2020) draw Xavier-Gaussian weights of the same
variance; their Theorem 1 (with W^Q = W^K = 0) bounds the gradient of the last layer's W2 by
O(d sqrt(ln d)) for post-norm and O(d sqrt(ln d / L)) for pre-norm, and their Figure 3 plots the norm of
the *expected* gradient: the gradient averaged over mini-batches first, then its norm
(``expected_gradients``), where ``norm_placement`` measures one mini-batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .activations import ACTIVATIONS, get_activation
from .blocks import Network
from .devices import pick_device
from .explorer import Explorer, device_dropdown, dropdown, int_slider, register_explorer
from .initializers import init_linear
from .plotting import COLORS, layer_axis, positive
from .probes import Probe, probe_network
from .validation import check_choice, check_int

PLACEMENTS = ("post", "pre")
PLACEMENT_COLORS = {"post": COLORS["plain"], "pre": COLORS["residual"]}


class TransformerBlock(nn.Module):
    """Self-attention and an MLP, each with a shortcut; LayerNorm before each sublayer ("pre") or after
    each addition ("post"). ``linear`` is the MLP's output layer W2 (the one Xiong et al. analyse)."""

    def __init__(self, width: int, heads: int = 4, activation: str = "gelu", norm: str = "pre", mlp_ratio: int = 4):
        super().__init__()
        check_choice("norm placement", norm, PLACEMENTS)
        self.activation, self.placement = activation, norm
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm_attention = nn.LayerNorm(width)
        self.norm_mlp = nn.LayerNorm(width)
        self.linear_in = nn.Linear(width, mlp_ratio * width)
        self.act = get_activation(activation).make_module()
        self.linear = nn.Linear(mlp_ratio * width, width)
        # in_proj is Xavier-uniform already, drawn as one packed (3d x d) matrix: variance 1/(2d) each for Q, K, V
        for layer in (self.attention.out_proj, self.linear_in, self.linear):
            init_linear(layer, "xavier_uniform")

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x, need_weights=False)[0]

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.act(self.linear_in(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.placement == "pre":
            x = x + self.attend(self.norm_attention(x))
            return x + self.mlp(self.norm_mlp(x))
        x = self.norm_attention(x + self.attend(x))
        return self.norm_mlp(x + self.mlp(x))


def build_transformer(depth: int, width: int = 64, heads: int = 4, norm: str = "pre", activation: str = "gelu",
                      seed: int = 0, device="cpu") -> tuple[Network, nn.Module]:
    """``depth`` transformer layers and the norm that follows them (a LayerNorm for pre-norm, else identity)."""
    check_int("depth", depth, minimum=1)
    check_int("heads", heads, minimum=1)
    check_int("width", width, minimum=heads)
    if width % heads:
        raise ValueError(f"width must be a multiple of heads ({heads}), got {width}")
    check_choice("norm placement", norm, PLACEMENTS)
    get_activation(activation)
    dev = pick_device(device)
    torch.manual_seed(seed)
    net = Network([TransformerBlock(width, heads, activation, norm) for _ in range(depth)])
    final = nn.LayerNorm(width) if norm == "pre" else nn.Identity()
    return net.to(dev), final.to(dev)


@dataclass
class NormPlacement:
    """One probe per placement: per-layer ||dℓ/dW2_l|| (``grad_weight_norm``) and ||dℓ/dx_l|| (``grad_act_norm``)."""

    settings: dict
    probes: dict[str, Probe]
    device: str

    def last_layer(self, norm: str) -> float:
        """||dℓ/dW2|| of the top layer."""
        return float(self.probes[norm].grad_weight_norm[-1])

    def spread(self, norm: str) -> float:
        """Top layer's ||dℓ/dW2|| over the first layer's: above 1, the layers near the output get more."""
        g = self.probes[norm].grad_weight_norm
        return float(g[-1] / g[0])

    @property
    def warning(self) -> str | None:
        notes = [f"{norm}-norm: {p.overflow}" for norm, p in self.probes.items() if p.overflow]
        return "; ".join(notes) or None


def _readout_loss(final: nn.Module, readout: torch.Tensor):
    """The loss of a stack's output h (batch, tokens, width): token t read out by its own fixed vector
    readout[t], averaged over tokens and batch."""
    return lambda h: (final(h) * readout).sum(-1).mean()


def norm_placement(depth: int = 12, width: int = 64, heads: int = 4, tokens: int = 16, batch: int = 4,
                   activation: str = "gelu", seed: int = 0, device="cpu") -> NormPlacement:
    """Probe a post-norm and a pre-norm stack on the same random token vectors. The loss is a fixed
    random linear readout of the (finally normalised) output, a different one for each token position
    (like a per-token classifier with its own targets), averaged over tokens and batch."""
    check_int("tokens", tokens, minimum=1)
    check_int("batch", batch, minimum=2)
    dev = pick_device(device)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, tokens, width, generator=gen).to(dev)
    readout = (torch.randn(tokens, width, generator=gen) / math.sqrt(width)).to(dev)
    probes = {}
    for norm in PLACEMENTS:
        net, final = build_transformer(depth, width, heads, norm, activation, seed, dev)
        probes[norm] = probe_network(net, x, _readout_loss(final, readout))
    settings = dict(depth=depth, width=width, heads=heads, tokens=tokens, batch=batch, activation=activation, seed=seed)
    return NormPlacement(settings, probes, dev.type)


@dataclass
class ExpectedGradients:
    """Per-layer ||dℓ/dW2_l|| of one stack per placement, two ways: ``of_mean`` is the norm of the gradient
    averaged over ``batches`` mini-batches (Xiong et al.'s expected gradient), ``per_batch`` the mean of the
    single mini-batches' norms (what ``norm_placement`` shows) over the first ``norm_batches`` of them.
    Arrays of shape (depth,)."""

    settings: dict
    of_mean: dict[str, np.ndarray]
    per_batch: dict[str, np.ndarray]

    def spread(self, norm: str, expected: bool = True) -> float:
        """Top layer's ||dℓ/dW2|| over the first layer's (expected gradient, or per mini-batch)."""
        g = (self.of_mean if expected else self.per_batch)[norm]
        return float(g[-1] / g[0])


def _weight_grads(net: Network, loss_fn, x: torch.Tensor) -> list[torch.Tensor]:
    """dℓ/dW2_l for every layer, as float64 CPU tensors."""
    net.zero_grad(set_to_none=True)
    loss_fn(net(x)).backward()
    return [layer.weight.grad.detach().to("cpu", torch.float64) for layer in net.linears]


def expected_gradients(depth: int = 6, batches: int = 64, norm_batches: int = 8, width: int = 64, heads: int = 4,
                       tokens: int = 16, batch: int = 4, activation: str = "gelu", seed: int = 0,
                       device="cpu") -> ExpectedGradients:
    """Average dℓ/dW2_l over ``batches`` independent mini-batches of random tokens (same network, same
    readout as ``norm_placement`` with this seed, whose mini-batch comes first), then take the norm, as
    Xiong et al. (2020, Fig. 3) do; and the mean of the single mini-batches' norms over the first
    ``norm_batches``.

    The loss is a mean over the batch, so the average of equal-sized mini-batches' gradients is the
    gradient of the mean loss over all of them: it is computed on 16 mini-batches at a time. The mean
    keeps what the batches agree on; noise that changes sign from batch to batch cancels (by about
    1/sqrt(batches)). Raises ValueError for batches < 2 or norm_batches outside 1..batches."""
    check_int("batches", batches, minimum=2)
    check_int("norm_batches", norm_batches, minimum=1, maximum=batches)
    check_int("tokens", tokens, minimum=1)
    check_int("batch", batch, minimum=2)
    dev = pick_device(device)
    gen = torch.Generator().manual_seed(seed + 1)
    first = torch.randn(batch, tokens, width, generator=gen)  # norm_placement's mini-batch
    readout = (torch.randn(tokens, width, generator=gen) / math.sqrt(width)).to(dev)
    xs = torch.cat([first, torch.randn((batches - 1) * batch, tokens, width, generator=gen)]).to(dev)
    of_mean, per_batch = {}, {}
    for norm in PLACEMENTS:
        net, final = build_transformer(depth, width, heads, norm, activation, seed, dev)
        loss_fn = _readout_loss(final, readout)
        chunk = 16 * batch
        total = [torch.zeros(layer.weight.shape, dtype=torch.float64) for layer in net.linears]
        for start in range(0, len(xs), chunk):
            part = xs[start:start + chunk]
            for layer_total, g in zip(total, _weight_grads(net, loss_fn, part)):
                layer_total += g * (len(part) / len(xs))
        of_mean[norm] = np.array([float(t.norm()) for t in total])
        norms = [[float(g.norm()) for g in _weight_grads(net, loss_fn, xs[i * batch:(i + 1) * batch])]
                 for i in range(norm_batches)]
        per_batch[norm] = np.mean(norms, axis=0)
    settings = dict(depth=depth, batches=batches, norm_batches=norm_batches, width=width, heads=heads,
                    tokens=tokens, batch=batch, activation=activation, seed=seed)
    return ExpectedGradients(settings, of_mean, per_batch)


def plot_norm_placement(result: NormPlacement, axes) -> None:
    """First axis: ||dℓ/dW2_l|| per layer; second (if given): ||dℓ/dx_l|| per layer."""
    for norm in PLACEMENTS:
        probe = result.probes[norm]
        layers = np.arange(1, probe.depth + 1)
        kw = dict(color=PLACEMENT_COLORS[norm], marker="o", ms=3, label=f"{norm}-norm")
        axes[0].plot(layers, positive(probe.grad_weight_norm), **kw)
        if len(axes) > 1:
            axes[1].plot(layers, positive(probe.grad_act_norm), **kw)
    layer_axis(axes[0], r"$\|\partial \ell/\partial W^{2}_l\|$ (MLP output layer)",
               title=f"{result.settings['depth']}-layer transformer at initialisation")
    axes[0].legend(loc="best")
    if len(axes) > 1:
        layer_axis(axes[1], r"$\|\partial \ell/\partial x_l\|$", title="gradient reaching each layer's output")


def plot_expected_gradients(result: ExpectedGradients, ax) -> None:
    """Per-layer ||dℓ/dW2_l||: the expected gradient (solid) and the mean per-mini-batch norm (dashed)."""
    for norm in PLACEMENTS:
        layers = np.arange(1, len(result.of_mean[norm]) + 1)
        color = PLACEMENT_COLORS[norm]
        ax.plot(layers, positive(result.of_mean[norm]), "o-", ms=3, color=color, label=f"{norm}-norm, expected")
        ax.plot(layers, positive(result.per_batch[norm]), "--", color=color, label=f"{norm}-norm, per mini-batch")
    layer_axis(ax, r"$\|\partial \ell/\partial W^{2}_l\|$",
               title=f"{result.settings['depth']} layers, {result.settings['batches']} mini-batches")
    ax.legend(loc="best")


def describe_norm_placement(result: NormPlacement) -> str:
    s = result.settings
    return (f"depth {s['depth']}, {s['activation']}: last/first-layer ||dℓ/dW2|| = "
            f"{result.spread('post'):.3g} post-norm, {result.spread('pre'):.3g} pre-norm; "
            f"last layer {result.last_layer('post'):.3g} vs {result.last_layer('pre'):.3g}")


@register_explorer("ch2 pre- vs post-norm")
def norm_placement_explorer(depth: int = 6, activation: str = "gelu", device: str = "auto") -> Explorer:
    """Depth (default 6, the original transformer's), activation, device: per-layer gradients of a
    post-norm and a pre-norm transformer."""
    controls = dict(
        depth=int_slider("layers", depth, 1, 48),
        activation=dropdown("MLP activation", activation, ACTIVATIONS),
        device=device_dropdown(device),
    )
    return Explorer(norm_placement, plot_norm_placement, controls, describe_norm_placement, ncols=2,
                    title="Pre-norm versus post-norm transformer layers")
