"""Short, seeded training runs that show what gradient flow means for learning (chapters 1-3).

The data are synthetic: Gaussian inputs labelled by a fixed random "teacher" network,
so nothing is downloaded and every run is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator
from torch import nn

from .blocks import build_network
from .devices import cpu_float64, pick_device
from .plotting import finite, layer_axis, positive, varies
from .validation import check_choice, check_int, check_number

OPTIMIZERS = ("sgd", "adam")


def teacher_data(n_train: int = 4096, n_test: int = 1024, dim: int = 32, classes: int = 4, seed: int = 0):
    """Inputs x ~ N(0, I_dim) labelled argmax(V tanh(U x)) by one random two-layer teacher.

    Returns (x_train, y_train, x_test, y_test).
    """
    check_int("n_train", n_train, minimum=1)
    check_int("n_test", n_test, minimum=1)
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(dim, 64, generator=gen) / math.sqrt(dim)
    v = torch.randn(64, classes, generator=gen)
    x = torch.randn(n_train + n_test, dim, generator=gen)
    y = (torch.tanh(x @ u) @ v).argmax(dim=1)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def guessing_baseline(seed: int = 0) -> tuple[float, float]:
    """What a model that ignores its input reaches on ``teacher_data(seed=seed)``: the best training loss
    (the entropy of the class frequencies) and the test accuracy of always answering the commonest class."""
    _, y, _, y_test = teacher_data(seed=seed)
    freq = cpu_float64(torch.bincount(y)) / len(y)
    return float(-(freq * freq.log()).sum()), float(cpu_float64(y_test == freq.argmax()).mean())


@dataclass
class TrainingRun:
    """Loss per step, final accuracy, per-layer relative weight change ||W_T - W_0|| / ||W_0||, and
    per-layer ||dl/dW|| / ||W|| at the first step (times the SGD learning rate: the relative size of
    the step each layer was asked to take).

    ``frac_changed`` (one entry per hidden block): the fraction of W_l's entries whose float32 value
    differs from its start at all. ``update_ratio`` (only with ``track_update_ratio=True``): an array of
    shape (steps, depth), the update-to-data ratio ||W_l after step t - W_l before|| / ||W_l before|| of
    every block at every step (NaN after a divergence); Karpathy's "Building makemore part 3" watches its
    log10, about -3 being healthy."""

    settings: dict
    losses: np.ndarray        # training loss per step (NaN after a divergence)
    rel_change: np.ndarray    # one entry per hidden block
    accuracy: float           # on held-out data, after training
    diverged_at: int | None   # the step where the loss became inf/NaN, if it did
    grad_to_weight: np.ndarray  # one entry per hidden block, at the first step, before any clipping
    device: str
    model: nn.Module | None = field(default=None, repr=False)  # the trained body + head
    grad_norm: float = math.nan  # the global gradient norm over all parameters at the first step, before clipping
    frac_changed: np.ndarray | None = None  # per hidden block: fraction of weight entries that changed at all
    update_ratio: np.ndarray | None = None  # (steps, depth) with track_update_ratio=True, else None
    start_weights: list[torch.Tensor] | None = field(default=None, repr=False)  # each block's W_l before training

    @property
    def label(self) -> str:
        s = self.settings
        init = f"σ_w²={s['sigma_w2']:.3g}" if s["init"] == "normal" else s["init"]
        clip = f", clip {s['clip']:g}" if s["clip"] else ""
        norm = f", {s['norm']}-norm" if s["norm"] != "none" else ""
        drop = f", dropout {s['dropout']:g}" if s["dropout"] else ""
        return f"{s['activation']}, {init}" + (", shortcut" if s["shortcut"] else "") + norm + drop + clip


def train_network(depth: int = 20, width: int = 64, activation: str = "sigmoid", init: str = "normal",
                  sigma_w2: float = 1.0, shortcut: bool = False, norm: str = "none", dropout: float = 0.0,
                  optimizer: str = "sgd", lr: float = 0.1, steps: int = 300, batch: int = 128,
                  clip: float | None = None, seed: int = 0, device="cpu",
                  track_update_ratio: bool = False) -> TrainingRun:
    """Train a ``depth``-block network plus a linear classifier head on teacher data (``dropout``: the
    probability of dropping each hidden unit during training; the test accuracy is measured without).

    ``track_update_ratio=True`` also records every block's update-to-data ratio at every step
    (``TrainingRun.update_ratio``, shape (steps, depth), in float64 from the float32 weights the
    optimiser actually wrote: an update below a weight's float32 resolution counts as 0)."""
    x, y, x_test, y_test = teacher_data(seed=seed)
    body = build_network(depth, width, activation=activation, init=init, sigma_w2=sigma_w2, shortcut=shortcut,
                         norm=norm, in_dim=x.shape[1], dropout=dropout, seed=seed, device="cpu")
    head = nn.Linear(width, int(y.max()) + 1)
    settings = dict(depth=depth, width=width, activation=activation, init=init, sigma_w2=sigma_w2,
                    shortcut=shortcut, norm=norm, dropout=dropout, optimizer=optimizer, lr=lr, steps=steps, clip=clip, seed=seed)
    return train_model(body, head, (x, y, x_test, y_test), settings, optimizer=optimizer, lr=lr, steps=steps,
                       batch=batch, clip=clip, seed=seed, device=device, track_update_ratio=track_update_ratio)


def train_model(body: nn.Module, head: nn.Module, data, settings: dict, optimizer: str = "sgd", lr: float = 0.1,
                steps: int = 300, batch: int = 128, clip: float | None = None, seed: int = 0, device="cpu",
                track_update_ratio: bool = False) -> TrainingRun:
    """The training loop of ``train_network``, for any ``body`` with a ``linears`` list (one weight layer per
    block, as ``blocks.Network`` has) and a classifier ``head``: cross-entropy, mini-batches of ``batch``
    drawn with ``seed + 1``, stopped at the first non-finite loss, the test accuracy in eval mode.
    ``data`` is (x_train, y_train, x_test, y_test) as ``teacher_data`` returns it, in the model's dtype;
    ``settings`` is stored in the run as given. Raises ValueError for a bad optimizer, lr, steps, batch or clip."""
    check_int("steps", steps, minimum=1)
    check_int("batch", batch, minimum=1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_number("lr", lr, minimum=0.0, strict=True)
    if clip is not None:
        check_number("clip", clip, minimum=0.0, strict=True)
    dev = pick_device(device)
    x, y, x_test, y_test = data
    model, depth = nn.Sequential(body, head).to(dev), len(body.linears)
    start = [layer.weight.detach().clone() for layer in body.linears]
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed + 1)
    losses, diverged_at, grad_to_weight = np.full(steps, np.nan), None, np.full(depth, np.nan)
    grad_norm, update_ratio = math.nan, np.full((steps, depth), np.nan) if track_update_ratio else None
    x, y = x.to(dev), y.to(dev)
    for step in range(steps):
        idx = torch.randint(len(x), (batch,), generator=gen).to(dev)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        if not torch.isfinite(loss):
            diverged_at = step
            break
        losses[step] = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:  # in float64: a gradient of 1e-20 squared would underflow float32
            grad_to_weight = np.array([float(cpu_float64(layer.weight.grad).norm() / cpu_float64(layer.weight).norm())
                                       for layer in body.linears])
            grad_norm = math.sqrt(sum(float(cpu_float64(p.grad).norm()) ** 2 for p in model.parameters()))
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        before = [cpu_float64(layer.weight.detach()) for layer in body.linears] if track_update_ratio else None
        opt.step()
        if track_update_ratio:
            update_ratio[step] = [float((cpu_float64(layer.weight.detach()) - w).norm() / w.norm())
                                  for layer, w in zip(body.linears, before)]
    model.eval()
    with torch.no_grad():
        rel = [float((layer.weight - w0).norm() / w0.norm()) for layer, w0 in zip(body.linears, start)]
        changed = [float((layer.weight != w0).float().mean()) for layer, w0 in zip(body.linears, start)]
        accuracy = float((model(x_test.to(dev)).argmax(1) == y_test.to(dev)).float().mean())
    return TrainingRun(settings, losses, np.array(rel), accuracy, diverged_at, grad_to_weight, dev.type, model,
                       grad_norm, np.array(changed), update_ratio, [w0.cpu() for w0 in start])


def plot_training(runs, axes) -> None:
    """Left: training loss per step (log). Right: relative weight change per layer (log). Both are
    outcomes of training, marked ``varies``."""
    runs = [runs] if isinstance(runs, TrainingRun) else list(runs)
    ax_loss, ax_change = axes
    for run in runs:
        varies(ax_loss.plot(np.arange(1, len(run.losses) + 1), run.losses,
                            label=f"{run.label} (acc {run.accuracy:.0%})"))
        varies(ax_change.plot(np.arange(1, len(run.rel_change) + 1), positive(run.rel_change), "o-", ms=3,
                              label=run.label))
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss (cross-entropy)")
    ax_loss.set_yscale("log")
    ax_loss.set_title("learning curve")
    ax_loss.legend(loc="best")
    layer_axis(ax_change, r"$\|W_l^{end} - W_l^{start}\| / \|W_l^{start}\|$", title="how far each layer moved")


FLOAT32_EPS = float(torch.finfo(torch.float32).eps)  # 2^-23: the gap between 1 and the next float32


def plot_update_ratio(run: TrainingRun, ax, vmin: float = -16.0, vmax: float = 0.0):
    """Heatmap of log10 of ``run.update_ratio`` (needs ``track_update_ratio=True``): x = step, y = layer.

    Steps where no entry of W_l changed at all (ratio exactly 0) are grey; the colour bar marks
    log10 of float32's epsilon (-6.9) and the -3 of Karpathy's heuristic. The image, an outcome of
    training, is marked ``varies``. Returns the colour bar."""
    if run.update_ratio is None:
        raise ValueError("this run has no update_ratio: train it with track_update_ratio=True")
    import matplotlib as mpl

    ratio = finite(run.update_ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        logged = np.where(ratio > 0, np.log10(np.where(ratio > 0, ratio, 1.0)), np.nan)
    cmap = mpl.colormaps["viridis"].copy()
    cmap.set_bad("0.8")  # grey: not a single entry changed (or the run had diverged)
    steps, depth = ratio.shape
    image = varies(ax.imshow(np.ma.masked_invalid(logged.T), aspect="auto", origin="lower", cmap=cmap, vmin=vmin,
                      vmax=vmax, extent=(0.5, steps + 0.5, 0.5, depth + 0.5), interpolation="nearest"))
    ax.set_xlabel("step")
    ax.set_ylabel("layer")
    ax.grid(False)
    ax.set_title(f"{run.label}: update-to-data ratio")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    bar = ax.figure.colorbar(image, ax=ax)
    bar.set_label(r"$\log_{10}\, \|\Delta W_l\| / \|W_l\|$  (lines: $\varepsilon$ and $-3$)")
    for level in (math.log10(FLOAT32_EPS), -3.0):
        bar.ax.axhline(level, color="white", lw=1.5)
    return bar
