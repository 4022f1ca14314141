"""Gradient flow through depth: the experiment, its plot and its explorer (chapters 1-3).

``gradient_flow`` builds a network, feeds a batch of Gaussian inputs, takes a fixed random
linear readout of the last layer as the loss (so the gradient that enters the top is the
same whatever the depth) and probes every layer on the way down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .activations import ACTIVATIONS
from .blocks import Network, build_network
from .devices import pick_device
from .explorer import Explorer, checkbox, device_dropdown, dropdown, int_slider, log_slider, register_explorer
from .figures import register_figure
from .plotting import draw_band, finite, layer_axis, positive
from .probes import Probe, probe_network
from .validation import check_int

HEALTHY = (0.1, 10.0)  # the book's "healthy" band for the first/last-layer gradient ratio


@dataclass
class GradientFlow:
    """One probed network: its settings, the per-layer ``probe`` and where it ran."""

    settings: dict
    probe: Probe
    device: str

    @property
    def ratio(self) -> float:
        return self.probe.grad_ratio

    @property
    def warning(self) -> str | None:
        return self.probe.overflow

    @property
    def verdict(self) -> str:
        """'overflow', 'vanishing' (ratio < 0.1), 'exploding' (ratio > 10) or 'healthy'."""
        if self.warning or not math.isfinite(self.ratio):
            return "overflow"
        if self.ratio < HEALTHY[0]:
            return "vanishing"
        return "exploding" if self.ratio > HEALTHY[1] else "healthy"

    @property
    def label(self) -> str:
        s = self.settings
        text = f"{s['activation']}, σ_w²={s['sigma_w2']:.3g}" if s["init"] == "normal" else f"{s['activation']}, {s['init']}"
        return text + (", shortcut" if s["shortcut"] else "") + (f", {s['norm']}-norm" if s["norm"] != "none" else "")


def probe_with_readout(net: Network, width: int, batch: int = 128, seed: int = 0, device="cpu") -> Probe:
    """Probe ``net`` (input and output ``width`` units) on a (batch, width) Gaussian batch with the loss
    mean_b(h_L . r), r a fixed random readout of norm about 1; x and r come from a generator seeded seed + 1."""
    dev = pick_device(device)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, width, generator=gen).to(dev)
    readout = (torch.randn(width, generator=gen) / math.sqrt(width)).to(dev)
    return probe_network(net, x, lambda h: (h @ readout).mean())


def gradient_flow(depth: int = 30, width: int = 128, activation: str = "sigmoid", init: str = "normal",
                  sigma_w2: float = 1.0, sigma_b2: float = 0.0, shortcut: bool = False, norm: str = "none",
                  batch: int = 128, seed: int = 0, device="cpu") -> GradientFlow:
    """Probe a ``depth``-block network (see ``build_network``) on one batch; seeded and device-aware."""
    check_int("batch", batch, minimum=2)
    dev = pick_device(device)
    net = build_network(depth, width, activation=activation, init=init, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
                        shortcut=shortcut, norm=norm, seed=seed, device=dev)
    probe = probe_with_readout(net, width, batch, seed, dev)
    settings = dict(depth=depth, width=width, activation=activation, init=init, sigma_w2=sigma_w2,
                    sigma_b2=sigma_b2, shortcut=shortcut, norm=norm, batch=batch, seed=seed)
    return GradientFlow(settings, probe, dev.type)


def plot_gradient_flow(results, axes) -> None:
    """Left: activation std per layer. Right: |dl/dh_l| per layer (the activation gradient), with the healthy band.

    ``results`` is one GradientFlow or a list of them (drawn on the same two axes).
    """
    results = [results] if isinstance(results, GradientFlow) else list(results)
    ax_act, ax_grad = axes
    for result in results:
        layers = np.arange(1, result.probe.depth + 1)
        label = result.label if len(results) > 1 else None
        ax_act.plot(layers, positive(result.probe.act_std), label=label)
        ax_grad.plot(layers, positive(result.probe.grad_act_norm), label=label)
    layer_axis(ax_act, "std of activations $h_l$", title="forward: activation spread")
    layer_axis(ax_grad, r"$\|\partial \ell/\partial h_l\|$", title="backward: gradient norm")
    if len(results) == 1:
        top = finite(results[0].probe.grad_act_norm)[-1]
        if math.isfinite(top) and top > 0:
            draw_band(ax_grad, top * HEALTHY[0], top * HEALTHY[1], "within 10× of the last layer")
        ax_grad.set_title(f"{results[0].label}: ratio first/last = {results[0].ratio:.2g}")
    ax_grad.legend(loc="best")
    if len(results) > 1:
        ax_act.legend(loc="best")


def describe_gradient_flow(result: GradientFlow) -> str:
    s = result.settings
    return (f"depth {s['depth']}, width {s['width']}, {result.label}: "
            f"gradient ratio first/last = {result.ratio:.3g} ({result.verdict})")


def gradient_flow_explorer(depth: int = 30, width: int = 128, activation: str = "sigmoid", sigma_w2: float = 1.0,
                           shortcut: bool | None = None, device: str = "auto") -> Explorer:
    """Depth, width, activation, σ_w² (log) and device; ``shortcut`` adds a checkbox when not None."""
    controls = dict(
        depth=int_slider("depth", depth, 1, 100),
        width=int_slider("width", width, 2, 512),
        activation=dropdown("activation", activation, ACTIVATIONS),
        sigma_w2=log_slider("σ_w² (variance × fan-in)", sigma_w2, 0.1, 100),
        device=device_dropdown(device),
    )
    if shortcut is not None:
        controls["shortcut"] = checkbox("shortcut", shortcut)
    return Explorer(gradient_flow, plot_gradient_flow, controls, describe_gradient_flow, ncols=2,
                    title="Gradient flow through depth")


register_explorer("ch1 gradient flow")(gradient_flow_explorer)


@register_figure("01_vanishing_gradients.png")
def headline_figure():
    """Chapter 1: a 30-layer sigmoid net against ReLU nets at three weight scales."""
    from .plotting import new_figure

    results = [gradient_flow(activation="sigmoid")] + [
        gradient_flow(activation="relu", sigma_w2=s2) for s2 in (1.0, 2.0, 4.0)
    ]
    fig, axes = new_figure(2)
    plot_gradient_flow(results, axes)
    fig.suptitle("30 layers, width 128: the gradient on its way down")
    return fig
