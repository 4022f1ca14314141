"""Dead units against the learning rate (chapter 5).

A ReLU unit whose pre-activation is negative for every input passes no signal and gets no gradient:
it is dead, and only a change in the layer below can revive it. ``dead_units`` trains the digits MLP
with one optimizer and learning rate for a fixed budget of steps, then probes it on the whole
training set (``probes.probe_network``): a unit is dead when it is active (slope at least 5% of the
activation's peak slope, the probe's convention) on none of the 1,348 training images. For ReLU and
leaky ReLU that means z < 0 on every input; for GELU, z below about -0.63 (where its slope falls
under 5% of its peak, 0.056) on every input. Leaky ReLU and GELU units so counted still receive a
small gradient; ReLU units receive none.

The learning-rate effect is measured here, not taken from a paper: Lu et al. (2020, "Dying ReLU and
initialization") study how depth and initialisation kill ReLU networks, not the learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch.nn.functional as F

from .devices import pick_device
from .digits import accuracy, digits_mlp, digits_split, one_thread, train_steps, working_dtype
from .explorer import Explorer, device_dropdown, dropdown, log_slider, register_explorer
from .plotting import COLORS, layer_colors, varies
from .probes import probe_network
from .training import OPTIMIZERS
from .validation import check_choice, check_int, check_number

DEAD_ACTIVATIONS = ("relu", "leaky_relu", "gelu")
SWEEP_LRS = (1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
BUDGET_STEPS = 100  # steps of batch 64: about 4.7 passes over the training split


@dataclass
class DeadUnits:
    """One training run and its units' activity on the whole training set."""

    settings: dict
    unit_active: list[np.ndarray]  # per hidden layer, (units,): fraction of training images where each unit is on
    frac_dead: np.ndarray          # per hidden layer: fraction of units on for no training image
    accuracy: float                # test accuracy (0..1)
    losses: np.ndarray             # training loss per step (NaN after a divergence)
    device: str

    @property
    def dead_overall(self) -> float:
        """Fraction of all hidden units that are dead."""
        return float(np.mean(np.concatenate(self.unit_active) == 0))

    @property
    def diverged(self) -> bool:
        return bool(np.isnan(self.losses).any())


@one_thread()
def dead_units(activation: str = "relu", optimizer: str = "sgd", lr: float = 0.1, steps: int = BUDGET_STEPS,
               seed: int = 0, device="cpu") -> DeadUnits:
    """Train the 64-128-128-10 digits net (``digits.train_steps``) and count its dead units.

    Raises ValueError for an activation outside ``DEAD_ACTIVATIONS``, an unknown optimizer or device,
    or a learning rate that is not positive.
    """
    check_choice("activation", activation, DEAD_ACTIVATIONS)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_number("lr (learning rate)", lr, minimum=0.0, strict=True)
    check_int("steps", steps, minimum=1)
    dev = pick_device(device)
    x, y, x_test, y_test = digits_split()
    model = digits_mlp(activation=activation, seed=seed).to(dev, working_dtype(dev))
    losses = train_steps(model, x, y, steps, optimizer, lr, seed=seed)
    body, head = model
    x, y = x.to(dev, working_dtype(dev)), y.to(dev)
    probe = probe_network(body, x, lambda h: F.cross_entropy(head(h), y))
    settings = dict(activation=activation, optimizer=optimizer, lr=lr, steps=steps, seed=seed)
    return DeadUnits(settings, probe.unit_active, probe.frac_dead, accuracy(model, x_test, y_test), losses, dev.type)


def dead_unit_sweep(lrs=SWEEP_LRS, optimizers=OPTIMIZERS, activations=DEAD_ACTIVATIONS,
                    steps: int = BUDGET_STEPS, seed: int = 0) -> dict:
    """``dead_units`` on the CPU for every (activation, optimizer, lr); returns
    {(activation, optimizer): (dead fraction per lr, test accuracy per lr)} as arrays."""
    sweep = {}
    for act in activations:
        for opt in optimizers:
            runs = [dead_units(act, opt, lr, steps, seed, "cpu") for lr in lrs]
            sweep[act, opt] = (np.array([r.dead_overall for r in runs]), np.array([r.accuracy for r in runs]))
    return sweep


_LINESTYLES = {"sgd": "-", "adam": "--"}


def plot_dead_sweep(sweep: dict, lrs, axes) -> None:
    """Left: fraction of dead hidden units against the learning rate. Right: test accuracy. Both are
    outcomes of training, marked ``varies``."""
    ax_dead, ax_acc = axes
    for (act, opt), (dead, acc) in sweep.items():
        style = dict(color=COLORS.get(act, "#2ca02c" if act == "gelu" else "#1f77b4"), ls=_LINESTYLES[opt],
                     marker="o", ms=3, label=f"{act}, {opt}")
        varies(ax_dead.plot(lrs, 100 * dead, **style))
        varies(ax_acc.plot(lrs, 100 * acc, **style))
    ax_dead.set(xscale="log", xlabel="learning rate", ylabel="dead hidden units (%)",
                title=f"after {BUDGET_STEPS} steps")
    ax_acc.set(xscale="log", xlabel="learning rate", ylabel="test accuracy (%)", ylim=(0, 100),
               title="what the run learned")
    ax_dead.legend(loc="upper left")


def plot_dead_units(result: DeadUnits, axes) -> None:
    """Left: each unit's active fraction on the training set, sorted, per layer (dead units sit at 0).
    Right: the training loss. Both are outcomes of training, marked ``varies``."""
    ax_units, ax_loss = axes
    for color, (layer, active) in zip(layer_colors(2), enumerate(result.unit_active, start=1)):
        varies(ax_units.plot(np.arange(1, len(active) + 1), 100 * np.sort(active), color=color,
                             label=f"layer {layer}: {np.mean(active == 0):.0%} dead"))
    ax_units.set(xlabel="unit (sorted by activity)", ylabel="% of training images where on", ylim=(-3, 103),
                 title="how often each unit is on")
    ax_units.legend(loc="upper left")
    varies(ax_loss.plot(np.arange(1, len(result.losses) + 1), result.losses, color="#333333"))
    ax_loss.set(xlabel="step", ylabel="training loss (cross-entropy)", title="learning curve")


@register_explorer("ch5 dead units")
def dead_units_explorer(lr: float = 0.3, optimizer: str = "sgd", activation: str = "relu") -> Explorer:
    """Learning rate (log), optimizer, activation, device -> dead units after the fixed budget."""
    controls = {
        "lr": log_slider("learning rate", lr, 1e-4, 3.0),
        "optimizer": dropdown("optimizer", optimizer, OPTIMIZERS),
        "activation": dropdown("activation", activation, DEAD_ACTIVATIONS),
        "device": device_dropdown(),
    }

    def readout(r: DeadUnits) -> str:
        s = r.settings
        end = "diverged" if r.diverged else f"test accuracy {r.accuracy:.1%}"
        return f"{s['activation']}, {s['optimizer']}, lr {s['lr']:.3g}: {r.dead_overall:.0%} of hidden units dead; {end}"

    return Explorer(dead_units, plot_dead_units, controls, readout, ncols=2,
                    title=f"Dead units after {BUDGET_STEPS} training steps")
