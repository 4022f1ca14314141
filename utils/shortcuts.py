"""What a shortcut does to the gradient (chapter 2): Raschka's five-layer GELU network (Build a Large
Language Model (From Scratch), 2024, section 4.4), and plain against residual networks of any depth
(experiment, plot, explorer), plus the chapter's headline figure.

A residual block here is the builder's h -> h + act(W h + b) (``build_network(shortcut=True)``);
the measurements are ``gradient_flow``'s, so chapters 1 and 2 read networks the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.ticker import NullLocator

from .activations import ACTIVATIONS
from .blocks import build_network
from .devices import cpu_float64, pick_device
from .explorer import Explorer, checkbox, device_dropdown, dropdown, int_slider, log_slider, register_explorer
from .figures import register_figure
from .gradient_flow import GradientFlow, gradient_flow
from .plotting import COLORS, layer_axis, positive
from .probes import probe_network
from .validation import check_choice, check_int, check_number

# The mean absolute weight gradient of each of the five layers, as printed in Raschka's section 4.4.
RASCHKA_PUBLISHED = {
    False: (0.00020173587836325169, 0.0001201116101583466, 0.0007152041653171182,
            0.001398873864673078, 0.005049646366387606),
    True: (0.22169792652130127, 0.20694106817245483, 0.32896995544433594,
           0.2665732502937317, 1.3258541822433472),
}
FIVE_LAYER_SIZES = (3, 3, 3, 3, 3, 1)
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class TinyNetGradients:
    """The five-layer measurement: mean |dl/dW_l| per layer (as Raschka prints them), the network's output,
    and ||dl/dh_l|| (the gradient reaching each block's output h_l, as chapter 1 reads it); l is the loss."""

    shortcut: bool
    dtype: str
    mean_abs_grad: np.ndarray
    output: float
    grad_act_norm: np.ndarray


def five_layer_gradients(shortcut: bool, dtype: str = "float32") -> TinyNetGradients:
    """Raschka's section 4.4 experiment: layer sizes 3-3-3-3-3-1, tanh-approximated GELU,
    ``torch.manual_seed(123)`` before building, input [[1, 0, -1]], MSE loss to the target 0. With dtype
    "float64" the same (float32-initialised) weights run in double precision. Raises ValueError for any
    other dtype."""
    check_choice("dtype", dtype, DTYPES)
    net = build_network(len(FIVE_LAYER_SIZES) - 1, FIVE_LAYER_SIZES[1], activation="gelu_tanh", shortcut=shortcut,
                        in_dim=FIVE_LAYER_SIZES[0], out_dim=FIVE_LAYER_SIZES[-1], seed=123, device="cpu")
    net = net.to(DTYPES[dtype])
    x = torch.tensor([[1.0, 0.0, -1.0]], dtype=DTYPES[dtype])
    probe = probe_network(net, x, lambda y: torch.nn.functional.mse_loss(y, torch.zeros_like(y)))
    grads = np.array([layer.weight.grad.abs().mean().item() for layer in net.linears])
    with torch.no_grad():
        output = float(net(x))
    return TinyNetGradients(shortcut, dtype, grads, output, probe.grad_act_norm)


@dataclass
class ShortcutComparison:
    """The same network probed without and with shortcuts; ``shortcut`` says which one is in focus."""

    plain: GradientFlow
    residual: GradientFlow
    shortcut: bool
    device: str

    @property
    def focus(self) -> GradientFlow:
        return self.residual if self.shortcut else self.plain

    @property
    def other(self) -> GradientFlow:
        return self.plain if self.shortcut else self.residual

    @property
    def first_layer(self) -> tuple[float, float]:
        """||dℓ/dW_1|| without and with shortcuts."""
        return float(self.plain.probe.grad_weight_norm[0]), float(self.residual.probe.grad_weight_norm[0])

    @property
    def warning(self) -> str | None:
        notes = [f"{name}: {r.warning}" for name, r in (("without shortcuts", self.plain),
                                                        ("with shortcuts", self.residual)) if r.warning]
        return "; ".join(notes) or None


def shortcut_comparison(depth: int = 30, activation: str = "tanh", sigma_w2: float = 1.0, shortcut: bool = True,
                        width: int = 64, batch: int = 32, seed: int = 0, device="cpu") -> ShortcutComparison:
    """Probe one seeded ``depth``-block network twice, without and with shortcuts (``gradient_flow``)."""
    runs = [gradient_flow(depth=depth, width=width, activation=activation, init="normal", sigma_w2=sigma_w2,
                          shortcut=variant, batch=batch, seed=seed, device=device) for variant in (False, True)]
    return ShortcutComparison(runs[0], runs[1], bool(shortcut), runs[0].device)


def _style(result: GradientFlow) -> dict:
    return dict(color=COLORS["residual" if result.settings["shortcut"] else "plain"])


def plot_shortcut_comparison(result: ShortcutComparison, axes) -> None:
    """Left: ||dℓ/dh_l|| per layer. Right: std of h_l per layer. The network in focus is drawn bold."""
    ax_grad, ax_act = axes
    for run, bold in ((result.other, False), (result.focus, True)):
        layers = np.arange(1, run.probe.depth + 1)
        name = "with shortcuts" if run.settings["shortcut"] else "without shortcuts"
        kw = dict(lw=2.2 if bold else 1.2, ls="-" if bold else "--", label=name, **_style(run))
        ax_grad.plot(layers, positive(run.probe.grad_act_norm), **kw)
        ax_act.plot(layers, positive(run.probe.act_std), **kw)
    plain, residual = result.first_layer
    layer_axis(ax_grad, r"$\|\partial \ell/\partial h_l\|$",
               title=f"backward; |dℓ/dW_1| = {plain:.2g} without, {residual:.2g} with")
    layer_axis(ax_act, "std of activations $h_l$", title="forward signal")
    for ax in axes:  # over tens of decades minor ticks are clutter, and a third of the redraw time
        ax.yaxis.set_minor_locator(NullLocator())
    ax_grad.legend(loc="best")


def describe_shortcut_comparison(result: ShortcutComparison) -> str:
    s = result.focus.settings
    state, other_state = ("on", "off") if result.shortcut else ("off", "on")
    focus, other = result.focus, result.other
    return (f"depth {s['depth']}, {s['activation']}, σ_w²={s['sigma_w2']:.3g}, shortcuts {state}: "
            f"|dℓ/dW_1| = {focus.probe.grad_weight_norm[0]:.3g}, |dℓ/dh_1|/|dℓ/dh_L| = {focus.ratio:.3g}; "
            f"shortcuts {other_state}: {other.probe.grad_weight_norm[0]:.3g}, {other.ratio:.3g}")


@register_explorer("ch2 shortcut gradients")
def shortcut_explorer(depth: int = 20, activation: str = "relu", sigma_w2: float = 1.0, shortcut: bool = True,
                      device: str = "auto") -> Explorer:
    """Depth, activation, σ_w², shortcuts on/off, device: per-layer gradients with and without shortcuts."""
    controls = dict(
        depth=int_slider("depth", depth, 1, 100),
        activation=dropdown("activation", activation, ACTIVATIONS),
        sigma_w2=log_slider("σ_w² (variance × fan-in)", sigma_w2, 0.1, 10),
        shortcut=checkbox("shortcuts", shortcut),
        device=device_dropdown(device),
    )
    return Explorer(shortcut_comparison, plot_shortcut_comparison, controls, describe_shortcut_comparison,
                    ncols=2, title="With and without shortcuts")


@dataclass
class GradientCorrelation:
    """Per depth: the cosine similarity of dℓ/dx at nearby inputs x and x + step * xi, averaged over the
    ``points`` input pairs, for each of ``networks`` networks (shape (depths, networks)); plain and residual."""

    depths: np.ndarray
    plain: np.ndarray
    residual: np.ndarray
    settings: dict
    device: str


def _input_gradient_cosine(depth: int, shortcut: bool, activation: str, sigma_w2: float, width: int, points: int,
                           step: float, seed: int, dev) -> float:
    net = build_network(depth, width, activation=activation, init="normal", sigma_w2=sigma_w2, shortcut=shortcut,
                        seed=seed, device=dev)
    gen = torch.Generator().manual_seed(seed + 1)
    x0, xi = torch.randn(points, width, generator=gen), torch.randn(points, width, generator=gen)
    readout = (torch.randn(width, generator=gen) / width**0.5).to(dev)
    x = torch.cat([x0, x0 + step * xi]).to(dev).requires_grad_(True)
    (net(x) @ readout).sum().backward()  # the loss: a fixed random readout; each row of x.grad is one dℓ/dx
    grad = cpu_float64(x.grad)
    a, b = grad[:points], grad[points:]
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean())


def gradient_correlation(depths=(1, 4, 16, 64), activation: str = "relu", sigma_w2: float = 2.0, width: int = 64,
                         points: int = 64, step: float = 0.1, networks: int = 3, seed: int = 0,
                         device="cpu") -> GradientCorrelation:
    """Shattered gradients (Balduzzi et al., 2017): for ``points`` Gaussian inputs x (batch of shape
    (points, width)) and neighbours x + ``step`` * xi (xi Gaussian, so |step * xi| is ``step`` times |x| on
    average), the cosine between dℓ/dx and dℓ/dx at the neighbour, with ℓ a fixed random readout of the last
    layer; networks as ``gradient_flow`` builds them (weights N(0, sigma_w2/n), zero biases), without and
    with shortcuts, ``networks`` seeded networks per depth. Near 1: nearby inputs get the same gradient;
    near 0: the gradient is as different as for unrelated inputs. Raises ValueError for bad sizes."""
    depths = np.array([check_int("depth", d, minimum=1) for d in depths])
    check_int("points", points, minimum=1)
    check_int("networks", networks, minimum=1)
    check_number("step", step, minimum=0.0, strict=True)
    dev = pick_device(device)
    cos = {variant: np.array([[_input_gradient_cosine(int(d), variant, activation, sigma_w2, width, points, step,
                                                      seed + k, dev) for k in range(networks)] for d in depths])
           for variant in (False, True)}
    settings = dict(activation=activation, sigma_w2=sigma_w2, width=width, points=points, step=step,
                    networks=networks, seed=seed)
    return GradientCorrelation(depths, cos[False], cos[True], settings, dev.type)


@dataclass
class DepthSweep:
    """||dℓ/dW_1|| of freshly built networks of each depth, without and with shortcuts, per activation."""

    depths: np.ndarray
    sigma_w2: float
    plain: dict[str, np.ndarray]
    residual: dict[str, np.ndarray]
    device: str


def first_layer_sweep(depths=(1, 2, 4, 8, 16, 32, 64), activations=("sigmoid", "tanh", "relu", "gelu"),
                      sigma_w2: float = 1.0, width: int = 64, batch: int = 32, seed: int = 0,
                      device="cpu") -> DepthSweep:
    """The first layer's weight gradient against depth: one ``shortcut_comparison`` per depth and activation."""
    depths = np.array([check_int("depth", d, minimum=1) for d in depths])
    plain, residual, dev = {}, {}, None
    for act in activations:
        runs = [shortcut_comparison(int(d), act, sigma_w2, width=width, batch=batch, seed=seed, device=device)
                for d in depths]
        plain[act] = np.array([run.first_layer[0] for run in runs])
        residual[act] = np.array([run.first_layer[1] for run in runs])
        dev = runs[0].device
    return DepthSweep(depths, sigma_w2, plain, residual, dev)


def plot_first_layer_sweep(sweep: DepthSweep, ax) -> None:
    """Dashed: without shortcuts; solid: with. One colour per activation."""
    for i, act in enumerate(sweep.plain):
        color = COLORS.get(act, f"C{i}")
        ax.plot(sweep.depths, positive(sweep.residual[act]), "o-", ms=3, color=color, label=f"{act}, shortcuts")
        ax.plot(sweep.depths, positive(sweep.plain[act]), "s--", ms=3, color=color, alpha=0.7, label=f"{act}, plain")
    ax.set(xscale="log", yscale="log", xlabel="depth L", ylabel=r"$\|\partial \ell/\partial W_1\|$",
           title=f"first-layer gradient, σ_w² = {sweep.sigma_w2:.3g}")
    ax.set_xticks(sweep.depths, [str(d) for d in sweep.depths], minor=False)
    ax.set_xticks([], minor=True)
    ax.legend(loc="best", ncol=2)


@register_figure("02_shortcut_connections.png")
def headline_figure():
    """Chapter 2: first-layer gradient against depth; forward growth of five residual schemes; pre/post-norm."""
    from .norm_placement import norm_placement, plot_norm_placement
    from .plotting import new_figure
    from .residual_scaling import plot_residual_scaling, residual_scaling

    fig, axes = new_figure(3, width=5.0, height=3.8)
    plot_first_layer_sweep(first_layer_sweep(activations=("tanh", "relu")), axes[0])
    plot_residual_scaling(residual_scaling(depth=50), [axes[1]])
    plot_norm_placement(norm_placement(depth=24), [axes[2]])
    fig.suptitle("Shortcuts stop the gradient from vanishing; scaling or normalisation keeps them from exploding")
    return fig
