"""Normalisation as the third fix: BatchNorm and LayerNorm in a deep plain network (chapter 3 §10).

Each block is Linear -> Norm -> activation, without a shortcut:

    z_l = W_l h_{l-1} + b_l,      h_l = phi(N(z_l)),      N in {identity, BatchNorm, LayerNorm}

the order of Ioffe & Szegedy (2015), who put BatchNorm on the pre-activation just before the
nonlinearity, and of torchvision's ResNets (conv -> BatchNorm -> ReLU). BatchNorm (``nn.BatchNorm1d``)
subtracts each unit's mean over the mini-batch and divides by its standard deviation over the
mini-batch (the *batch statistics*, used in training mode; in eval mode running averages stand in for
them); LayerNorm (``nn.LayerNorm``) does the same for each input over its units. Both then apply a
learned scale (initially 1) and shift (initially 0). Weights are N(0, sigma_w2 / n_in), biases 0;
by default sigma_w2 is He's 2 for ReLU and Xavier's 1 (square layers) for tanh.

``normalization`` probes one such network at initialisation, in training mode, with the loss of
``gradient_flow.probe_with_readout`` (a fixed random readout of the last layer), and reads per layer:

* q_l, the mean square of the pre-activation z_l (before the norm), over units and inputs;
* c_l, the mean correlation (cosine) between two different inputs' pre-activations z_l;
* ||dl/dh_l|| from the probe, and its growth per layer going down.

Theory (wide network, large batch), ``predicted_growth``: a norm sets the scale of phi's input to 1,
so one layer multiplies the mean-square gradient by E[phi'(u)^2] / E[(phi(u) - m)^2], u ~ N(0, 1),
with m = E[phi(u)] for BatchNorm (it centres each unit over the batch) and m = 0 for LayerNorm (the
pre-activation's mean over units is already about 0). For BatchNorm this exceeds 1 for every
nonlinear phi (the Gaussian Poincare inequality: Var phi(u) <= E[phi'(u)^2], equal only for linear
phi): ReLU gives pi / (pi - 1) = 1.467. Yang et al. (2019, "A mean field theory of batch
normalization", ICLR) show that such a network's gradients explode with depth whatever the weight
variance and the nonlinearity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .activations import get_activation
from .blocks import Network
from .devices import cpu_float64, pick_device
from .explorer import Explorer, device_dropdown, dropdown, int_slider, log_slider, register_explorer
from .mean_field import gaussian_mean
from .plotting import COLORS, layer_axis, positive, varies
from .probes import Probe, probe_network
from .training import TrainingRun, guessing_baseline, teacher_data, train_model
from .validation import check_choice, check_int, check_number

NORMALIZATIONS = ("none", "batchnorm", "layernorm")
NORM_ACTIVATIONS = ("relu", "tanh")
DTYPES = (torch.float32, torch.float64)
STANDARD_SIGMA_W2 = {"relu": 2.0, "tanh": 1.0}  # He for ReLU, Xavier (square layers) for tanh
NORM_COLORS = {"none": COLORS["plain"], "batchnorm": COLORS["residual"], "layernorm": COLORS["band"]}
TOP_LAYERS_SKIPPED = 5  # the growth rate is fitted below the last few layers, where the readout enters


class NormalizedBlock(nn.Module):
    """h -> act(norm(W h + b)): Linear, then BatchNorm, LayerNorm or nothing, then the activation."""

    def __init__(self, d_in: int, d_out: int, activation: str = "relu", norm: str = "batchnorm"):
        super().__init__()
        check_choice("normalisation", norm, NORMALIZATIONS)
        self.activation = activation
        self.linear = nn.Linear(d_in, d_out)
        self.norm = {"none": nn.Identity(), "batchnorm": nn.BatchNorm1d(d_out), "layernorm": nn.LayerNorm(d_out)}[norm]
        self.act = get_activation(activation).make_module()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.linear(h)))


def _check(depth, width, activation, norm, sigma_w2) -> float:
    """Validate the network's settings; return sigma_w2 (the activation's standard one if None)."""
    check_int("depth", depth, minimum=1)
    check_int("width", width, minimum=2)
    check_choice("activation", activation, NORM_ACTIVATIONS)
    check_choice("normalisation", norm, NORMALIZATIONS)
    if sigma_w2 is None:
        return STANDARD_SIGMA_W2[activation]
    return check_number("sigma_w2 (weight variance)", sigma_w2, minimum=0.0, strict=True)


def _check_dtype(dtype, device: torch.device) -> torch.dtype:
    check_choice("dtype", dtype, DTYPES)
    if dtype == torch.float64 and device.type != "cpu":
        raise ValueError(f"dtype torch.float64 runs on the CPU only (the book's rule: MPS has no float64); "
                         f"got device {device.type}: choose device='cpu' or torch.float32")
    return dtype


def _check_batch(batch, norm: str) -> int:
    batch = check_int("batch size", batch, minimum=1)
    if norm == "batchnorm" and batch < 2:
        raise ValueError(f"batch size must be at least 2 with batchnorm (BatchNorm divides each unit by its "
                         f"spread over the batch, and one input has none), got {batch}")
    return batch


def build_normalized_network(depth: int, width: int, activation: str = "relu", norm: str = "batchnorm",
                             sigma_w2: float | None = None, in_dim: int | None = None, seed: int = 0,
                             device="cpu", dtype: torch.dtype = torch.float32) -> Network:
    """``depth`` NormalizedBlocks of ``width`` units (the first takes ``in_dim`` inputs, default width),
    weights N(0, sigma_w2 / n_in) (default: He for ReLU, Xavier for tanh), biases 0; in training mode.
    The weights are drawn in float32 on the CPU, so every device and dtype starts from the same numbers."""
    sigma_w2 = _check(depth, width, activation, norm, sigma_w2)
    dev = pick_device(device)
    dtype = _check_dtype(dtype, dev)
    in_dim = width if in_dim is None else check_int("in_dim", in_dim, minimum=1)
    torch.manual_seed(seed)
    net = Network([NormalizedBlock(d, width, activation, norm) for d in [in_dim] + [width] * (depth - 1)])
    with torch.no_grad():
        for layer in net.linears:
            layer.weight.normal_(0.0, math.sqrt(sigma_w2 / layer.in_features))
            layer.bias.zero_()
    return net.to(dev, dtype).train()


def predicted_growth(activation: str, norm: str) -> float:
    """Wide-network, large-batch factor by which one layer multiplies ||dl/dh|| going down (the square
    root of the mean-square factor in the module docstring); NaN for ``norm="none"`` (chapter 3 §5's chi)."""
    check_choice("activation", activation, NORM_ACTIVATIONS)
    check_choice("normalisation", norm, NORMALIZATIONS)
    if norm == "none":
        return float("nan")
    act = get_activation(activation)
    slope2 = float(gaussian_mean(lambda z: act.slope(z) ** 2, 1.0))
    mean = float(gaussian_mean(act.fn, 1.0)) if norm == "batchnorm" else 0.0
    spread2 = float(gaussian_mean(lambda z: (act.fn(z) - mean) ** 2, 1.0))
    return math.sqrt(slope2 / spread2)


@dataclass
class NormResult:
    """One probed network: settings, per-layer q_l and c_l (index 0 is layer 1), the probe, the device."""

    settings: dict
    q: np.ndarray            # mean square of z_l, per layer
    correlation: np.ndarray  # mean correlation between two inputs' z_l, per layer (NaN for one input)
    probe: Probe
    device: str

    @property
    def grad_norm(self) -> np.ndarray:
        """||dl/dh_l|| per layer."""
        return self.probe.grad_act_norm

    @property
    def ratio(self) -> float:
        """||dl/dh_1|| / ||dl/dh_L||."""
        return self.probe.grad_ratio

    @property
    def growth(self) -> float:
        """Measured factor per layer by which ||dl/dh_l|| grows going down: exp(-slope) of a least-squares
        line through log ||dl/dh_l|| over layers 1 .. L - 5 (all layers when L <= 8); NaN at depth 1, where
        there is no line to fit."""
        depth = len(self.grad_norm)
        top = depth - TOP_LAYERS_SKIPPED if depth > 8 else depth
        if top < 2:
            return float("nan")
        layers = np.arange(1, top + 1)
        slope = np.polyfit(layers, np.log(self.grad_norm[:top]), 1)[0]
        return float(math.exp(-slope))

    @property
    def predicted_growth(self) -> float:
        return predicted_growth(self.settings["activation"], self.settings["norm"])

    @property
    def warning(self) -> str | None:
        return self.probe.overflow

    @property
    def label(self) -> str:
        s = self.settings
        named = {1.0: "Xavier", 2.0: "He" if s["activation"] == "relu" else None}.get(s["sigma_w2"])
        init = named or f"σ_w²={s['sigma_w2']:.3g}"
        return f"{s['activation']}, {init}, {s['norm']}"


def normalization(depth: int = 50, width: int = 256, activation: str = "relu", norm: str = "batchnorm",
                  batch: int = 64, sigma_w2: float | None = None, seed: int = 0, device="cpu",
                  dtype: torch.dtype = torch.float32) -> NormResult:
    """Probe a ``depth``-block plain network with ``norm`` (see the module docstring) on one Gaussian batch
    of shape (batch, width), at initialisation and in training mode, with the input and the loss of
    ``gradient_flow.probe_with_readout``. Seeded, device-aware; statistics in float64 on CPU copies.
    ``dtype=torch.float64`` computes the network itself in float64 (CPU only; a ValueError elsewhere): a BatchNorm network
    amplifies float32 rounding enough that its digits change with the number of CPU threads.
    Raises ValueError for an unknown norm, activation or dtype, depth < 1, or batch < 2 with batchnorm."""
    sigma_w2 = _check(depth, width, activation, norm, sigma_w2)
    _check_batch(batch, norm)
    dev = pick_device(device)
    dtype = _check_dtype(dtype, dev)
    net = build_normalized_network(depth, width, activation, norm, sigma_w2, seed=seed, device=dev, dtype=dtype)
    q, corr = np.full(depth, np.nan), np.full(depth, np.nan)

    def read(i):
        def hook(module, inputs, z):
            z64 = cpu_float64(z)
            q[i] = float(z64.pow(2).mean())
            if len(z64) > 1:
                unit = z64 / z64.norm(dim=1, keepdim=True).clamp_min(1e-300)
                cos = unit @ unit.T
                corr[i] = float((cos.sum() - cos.diagonal().sum()) / (len(z64) * (len(z64) - 1)))
        return hook

    handles = [layer.register_forward_hook(read(i)) for i, layer in enumerate(net.linears)]
    try:
        gen = torch.Generator().manual_seed(seed + 1)  # as probe_with_readout: the same x and r in every dtype
        x = torch.randn(batch, width, generator=gen).to(dev, dtype)
        readout = (torch.randn(width, generator=gen) / math.sqrt(width)).to(dev, dtype)
        probe = probe_network(net, x, lambda h: (h @ readout).mean())
    finally:
        for handle in handles:
            handle.remove()
    settings = dict(depth=depth, width=width, activation=activation, norm=norm, batch=batch,
                    sigma_w2=sigma_w2, seed=seed, dtype=str(dtype).removeprefix("torch."))
    return NormResult(settings, q, corr, probe, dev.type)


def plot_normalization(results, axes) -> None:
    """Three panels per layer: q_l (log), the correlation c_l between inputs, ||dl/dh_l|| (log).
    ``results``: one NormResult or a list (one line each)."""
    results = [results] if isinstance(results, NormResult) else list(results)
    ax_q, ax_c, ax_g = axes
    for r in results:
        layers = np.arange(1, len(r.q) + 1)
        style = dict(color=NORM_COLORS[r.settings["norm"]], label=r.label)
        ax_q.plot(layers, positive(r.q), **style)
        ax_c.plot(layers, r.correlation, **style)
        ax_g.plot(layers, positive(r.grad_norm), **style)
    layer_axis(ax_q, r"$q_l$ (mean square of $z_l$)", title="forward: signal scale")
    layer_axis(ax_c, r"$c_l$ (correlation of two inputs)", log=False, title="forward: do inputs stay distinct?")
    ax_c.set_ylim(-0.05, 1.05)
    layer_axis(ax_g, r"$\|\partial\ell/\partial h_l\|$", title="backward: gradient at initialisation")
    if len(results) == 1:
        r = results[0]
        per_layer = f"{r.growth:.3g}× per layer" if math.isfinite(r.growth) else "one layer: no growth per layer"
        ax_g.set_title(f"ratio first/last {r.ratio:.2g}, {per_layer}")
    ax_g.legend(loc="best")


def describe_normalization(result: NormResult) -> str:
    s = result.settings
    predicted = result.predicted_growth
    theory = f" (wide, large-batch theory {predicted:.3g})" if math.isfinite(predicted) else ""
    corr = result.correlation[-1]
    growth = (f"growth {result.growth:.3g} per layer going down" if math.isfinite(result.growth) else
              "growth per layer: none to fit at depth 1")
    return (f"depth {s['depth']}, batch {s['batch']}, {result.label}: gradient ratio first/last {result.ratio:.3g}, "
            f"{growth}{theory}; q_L = {result.q[-1]:.3g}, "
            + (f"c_L = {corr:.2f}" if math.isfinite(corr) else "c_L undefined (one input)"))


@register_explorer("ch3 normalisation")
def normalization_explorer(depth: int = 50, norm: str = "batchnorm", activation: str = "relu", batch: int = 64,
                           sigma_w2: float = 2.0, device: str = "auto") -> Explorer:
    """Depth, normalisation, activation, batch size, σ_w² (log) and device, for a plain network of width 256."""
    controls = dict(
        depth=int_slider("depth", depth, 1, 100),
        norm=dropdown("normalisation", norm, NORMALIZATIONS),
        activation=dropdown("activation", activation, NORM_ACTIVATIONS),
        batch=int_slider("batch size", batch, 1, 256),
        sigma_w2=log_slider("σ_w² (variance × fan-in)", sigma_w2, 0.1, 10),
        device=device_dropdown(device),
    )
    return Explorer(normalization, plot_normalization, controls, describe_normalization, ncols=3,
                    panel_size=(3.6, 3.2), title="Normalisation in a deep plain network")


def train_normalized(depth: int = 32, width: int = 64, activation: str = "relu", norm: str = "batchnorm",
                     sigma_w2: float | None = None, lr: float = 0.05, steps: int = 150, batch: int = 64,
                     seed: int = 0, dtype: torch.dtype = torch.float32) -> TrainingRun:
    """SGD on chapter 1's teacher data (``training.teacher_data``) for a ``depth``-block plain network with
    ``norm`` and a linear classifier head, on the CPU. The test accuracy is measured in eval mode
    (BatchNorm then uses its running averages). Training amplifies rounding differences step by step, so the
    run uses one CPU thread (the sums then add up in the same order on every machine, whatever its thread
    count) and ``dtype`` (as for ``normalization``) can make it float64. The loop is ``training.train_model``;
    the run's ``settings`` hold ``norm``. Raises ValueError as ``normalization`` and ``train_model`` do."""
    _check(depth, width, activation, norm, sigma_w2)
    _check_batch(batch, norm)
    dtype = _check_dtype(dtype, torch.device("cpu"))
    x, y, x_test, y_test = teacher_data(seed=seed)
    body = build_normalized_network(depth, width, activation, norm, sigma_w2, in_dim=x.shape[1], seed=seed)
    head = nn.Linear(width, int(y.max()) + 1)
    settings = dict(depth=depth, width=width, activation=activation, norm=norm, sigma_w2=sigma_w2, lr=lr,
                    steps=steps, batch=batch, seed=seed, dtype=str(dtype).removeprefix("torch."))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_model(body.to(dtype), head.to(dtype), (x.to(dtype), y, x_test.to(dtype), y_test), settings,
                           lr=lr, steps=steps, batch=batch, seed=seed)
    finally:
        torch.set_num_threads(threads)


def plot_norm_training(runs, ax) -> None:
    """Training loss per step, one line per run (marked ``varies``: outcomes of training), with the loss
    of guessing from the class frequencies."""
    for run in runs:
        varies(ax.plot(np.arange(1, len(run.losses) + 1), run.losses, color=NORM_COLORS[run.settings["norm"]],
                       label=f"{run.settings['norm']} (test accuracy {run.accuracy:.0%})"))
    ax.axhline(guessing_baseline()[0], color=COLORS["theory"], ls="--", lw=1, label="guessing")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title("training a deep plain network")
    ax.legend(loc="best")
