"""Weight pruning with ``torch.nn.utils.prune`` against activation pruning, on the trained digits net.

Weight pruning zeroes entries of W once, for every input (one fixed mask). Activation pruning keeps,
for each input separately, the k largest hidden activations (per-input top-k; ReLU does a version
of this by itself). ``pruning_experiment`` prunes a copy of the chapter's trained network
(``digits.trained_digits_net``) by one method and amount, optionally fine-tunes it with the mask
kept, and measures test accuracy; ``sparsity_curve`` does it over a grid of amounts (cached).
Only the hidden blocks are pruned; the 10-way classifier head is left whole.

Methods (``torch.nn.utils.prune``; Han et al., 2015, "Learning both weights and connections" for
magnitude pruning and fine-tuning; Li et al., 2017, "Pruning filters" for structured L_n pruning):
``l1_unstructured``, ``random_unstructured``, ``ln_structured`` (whole units by the L2 norm of their
weight row), ``random_structured``, ``global_unstructured`` (one L1 threshold over both layers) and
``activation_topk``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.utils.prune as prune
from torch import nn

from .devices import cpu_float64, pick_device
from .digits import accuracy, digits_split, one_thread, train_steps, trained_digits_net, working_dtype
from .explorer import Explorer, device_dropdown, dropdown, float_slider, int_slider, register_explorer
from .figures import register_figure
from .plotting import varies
from .validation import check_choice, check_int, check_number

PRUNING_METHODS = ("l1_unstructured", "random_unstructured", "ln_structured", "random_structured",
                   "global_unstructured", "activation_topk")
AMOUNTS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
FINE_TUNE_LR = 1e-3  # Adam, batch 64, on the training split
METHOD_COLORS = {"l1_unstructured": "#1f77b4", "random_unstructured": "#9467bd", "ln_structured": "#d62728",
                 "random_structured": "#8c564b", "global_unstructured": "#2ca02c", "activation_topk": "#ff7f0e"}


class MagnitudeThreshold(prune.BasePruningMethod):
    """A custom pruning method: remove every weight with |w| below ``threshold`` (an absolute
    value, not a fraction). ``compute_mask`` is all a ``BasePruningMethod`` must supply."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, threshold: float):
        self.threshold = check_number("threshold", threshold, minimum=0.0)

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        return default_mask * (t.abs() >= self.threshold).to(default_mask.dtype)

    @classmethod
    def apply(cls, module: nn.Module, name: str, threshold: float):
        return super().apply(module, name, threshold=threshold)


def check_amount(amount, size: int | None = None) -> float | int:
    """``amount`` as torch's pruning functions take it: a fraction in [0, 1], or a whole count of
    entries in [0, size]. Raises ValueError otherwise (torch's own message is less direct)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ValueError(f"amount must be a fraction in [0, 1] or a whole number of entries, got {amount!r}")
    if isinstance(amount, int):
        return check_int("amount (a count of entries)", amount, minimum=0, maximum=size)
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount as a fraction must lie in [0, 1], got {amount:g}")
    return float(amount)


def state_dict_bytes(module: nn.Module) -> int:
    """Bytes held by the tensors of ``module.state_dict()`` (what ``torch.save`` has to write)."""
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def weight_sparsity(model: nn.Sequential) -> float:
    """Fraction (0..1) of the hidden blocks' weight entries that are exactly zero."""
    weights = [layer.weight for layer in model[0].linears]
    return float(sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights))


LAYER_METHODS = {
    "l1_unstructured": lambda layer, amount: prune.l1_unstructured(layer, "weight", amount),
    "random_unstructured": lambda layer, amount: prune.random_unstructured(layer, "weight", amount),
    "ln_structured": lambda layer, amount: prune.ln_structured(layer, "weight", amount, n=2, dim=0),
    "random_structured": lambda layer, amount: prune.random_structured(layer, "weight", amount, dim=0),
}


def prune_layer(layer: nn.Linear, method: str, amount) -> nn.Linear:
    """Apply one of ``torch.nn.utils.prune``'s per-layer methods to ``layer.weight`` in place.

    ``amount``: a fraction in [0, 1] or a whole count, of entries (unstructured) or of output units,
    i.e. rows of W (structured; L2 norm for ``ln_structured``). Random methods draw from torch's
    global generator. Raises ValueError for an unknown method or an amount that does not fit.
    """
    check_choice("pruning method", method, LAYER_METHODS)
    structured = method in ("ln_structured", "random_structured")
    size = layer.weight.shape[0] if structured else layer.weight.numel()
    LAYER_METHODS[method](layer, check_amount(amount, size))
    return layer


def _keep_topk(amount):
    """A forward hook that zeroes, in each row (one input), all but the largest outputs of an
    activation: ``amount`` of them go (a fraction of the units, or a count)."""
    def hook(module, inputs, out):
        units = out.shape[-1]
        k = units - (round(amount * units) if isinstance(amount, float) else amount)
        if k == 0:
            return torch.zeros_like(out)
        cutoff = out.topk(k, dim=-1).values[..., -1:]
        return out * (out >= cutoff)
    return hook


def prune_copy(model: nn.Sequential, method: str, amount, seed: int = 0) -> nn.Sequential:
    """A deep copy of ``model`` (``Sequential(body, head)``) with its hidden blocks pruned by ``method``.

    ``amount`` (a fraction in [0, 1], or a whole count) is taken from each layer's weights
    (unstructured), each layer's units (structured), both layers' weights together (global, one L1
    threshold), or each layer's activations, per input (activation_topk). Random methods draw from
    torch's generator seeded with ``seed``. Raises ValueError for an unknown method or a bad amount.
    """
    check_choice("pruning method", method, PRUNING_METHODS)
    pruned = copy.deepcopy(model)
    layers = pruned[0].linears
    torch.manual_seed(seed)
    if method == "activation_topk":
        amount = check_amount(amount, min(layer.out_features for layer in layers))
        for block in pruned[0].blocks:
            block.act.register_forward_hook(_keep_topk(amount))
    elif method == "global_unstructured":
        amount = check_amount(amount, sum(layer.weight.numel() for layer in layers))
        prune.global_unstructured([(layer, "weight") for layer in layers], prune.L1Unstructured, amount=amount)
    else:
        for layer in layers:
            prune_layer(layer, method, amount)
    return pruned


@lru_cache(maxsize=64)
@one_thread()
def sparsity_curve(method: str, fine_tune_steps: int = 0, seed: int = 0) -> np.ndarray:
    """Test accuracy (0..1) of the reference net pruned by ``method`` at each of ``AMOUNTS``, after
    ``fine_tune_steps`` steps of fine-tuning with the mask kept; on the CPU (float64), cached."""
    check_choice("pruning method", method, PRUNING_METHODS)
    check_int("fine_tune_steps", fine_tune_steps, minimum=0)
    base = trained_digits_net(seed).model
    x, y, x_test, y_test = digits_split()
    accs = []
    for amount in AMOUNTS:
        net = prune_copy(base, method, amount, seed)
        train_steps(net, x, y, fine_tune_steps, "adam", FINE_TUNE_LR, seed=seed)
        accs.append(accuracy(net.eval(), x_test, y_test))
    return np.array(accs)


@dataclass
class PruningResult:
    """One pruned (and maybe fine-tuned) copy of the reference net, and the curve it sits on."""

    settings: dict
    base_accuracy: float     # the unpruned net (0..1)
    accuracy: float          # pruned, before fine-tuning
    tuned_accuracy: float    # after ``fine_tune_steps`` steps (= accuracy when 0)
    weight_sparsity: float   # fraction of hidden weights that are zero (0 for activation_topk)
    active_fraction: float   # fraction of hidden activations nonzero on the test set, after pruning
    amounts: np.ndarray      # AMOUNTS
    curve: np.ndarray        # accuracy over AMOUNTS without fine-tuning (CPU reference)
    device: str


@one_thread()
def pruning_experiment(method: str = "l1_unstructured", amount: float = 0.9, fine_tune_steps: int = 0,
                       seed: int = 0, device="cpu") -> PruningResult:
    """Prune a copy of the reference net by ``method`` and ``amount`` (see ``prune_copy``), fine-tune
    it for ``fine_tune_steps`` Adam steps (lr 1e-3, batch 64) with the mask kept, and measure test
    accuracy on ``device`` (float64 on the CPU, float32 elsewhere). Raises ValueError for an unknown
    method or device, an amount outside [0, 1] or a negative step count."""
    check_choice("pruning method", method, PRUNING_METHODS)
    amount = check_amount(amount)
    check_int("fine_tune_steps", fine_tune_steps, minimum=0)
    dev = pick_device(device)
    reference = trained_digits_net(seed)
    base = copy.deepcopy(reference.model).to(dev, working_dtype(dev))
    x, y, x_test, y_test = digits_split()
    net = prune_copy(base, method, amount, seed)
    before = accuracy(net.eval(), x_test, y_test)
    tuned = before
    if fine_tune_steps:
        train_steps(net, x, y, fine_tune_steps, "adam", FINE_TUNE_LR, seed=seed)
        tuned = accuracy(net.eval(), x_test, y_test)
    hidden = [block.act for block in net[0].blocks]
    outputs: list[torch.Tensor] = []
    handles = [act.register_forward_hook(lambda mod, inp, out: outputs.append(out != 0)) for act in hidden]
    with torch.no_grad():
        net(x_test.to(dev, working_dtype(dev)))
    for handle in handles:
        handle.remove()
    active = float(torch.cat([cpu_float64(o).mean(0) for o in outputs]).mean())
    settings = dict(method=method, amount=amount, fine_tune_steps=fine_tune_steps, seed=seed)
    return PruningResult(settings, reference.accuracy, before, tuned, weight_sparsity(net), active,
                         np.array(AMOUNTS), sparsity_curve(method, 0, seed), dev.type)


def plot_sparsity_curves(curves: dict, ax, tuned: dict | None = None) -> None:
    """Test accuracy against the amount pruned, one line per method (``curves``: method -> accuracies
    over ``AMOUNTS``); ``tuned`` (same form) is drawn dashed: after fine-tuning. The accuracies are
    outcomes of training, marked ``varies``."""
    for method, accs in curves.items():
        varies(ax.plot(AMOUNTS, 100 * np.asarray(accs), "o-", ms=3, color=METHOD_COLORS[method], label=method))
    for method, accs in (tuned or {}).items():
        varies(ax.plot(AMOUNTS, 100 * np.asarray(accs), "s--", ms=3, color=METHOD_COLORS[method],
                       label=f"{method}, fine-tuned"))
    ax.set(xlabel="fraction pruned (weights, units, or activations per input)", ylabel="test accuracy (%)",
           ylim=(0, 100), xlim=(-0.02, 1.0), title="digits MLP: accuracy against sparsity")
    ax.legend(loc="lower left")


def plot_pruning(result: PruningResult, ax) -> None:
    """The method's curve, the chosen point before (circle) and after fine-tuning (star), and the
    unpruned accuracy: outcomes of training, marked ``varies``."""
    s = result.settings
    plot_sparsity_curves({s["method"]: result.curve}, ax)
    color = METHOD_COLORS[s["method"]]
    varies(ax.plot([s["amount"]], [100 * result.accuracy], "o", ms=9, mfc="none", mec="black", label="this amount"))
    if s["fine_tune_steps"]:
        varies(ax.plot([s["amount"]], [100 * result.tuned_accuracy], "*", ms=13, color=color, mec="black",
                       label=f"after {s['fine_tune_steps']} fine-tuning steps"))
    varies(ax.axhline(100 * result.base_accuracy, color="#333333", lw=0.8, ls=":", label="unpruned"))
    ax.legend(loc="lower left")


@register_explorer("ch5 pruning")
def pruning_explorer(method: str = "l1_unstructured", amount: float = 0.9, fine_tune_steps: int = 0,
                     device: str = "auto") -> Explorer:
    """Method, amount and fine-tuning steps -> the point on the accuracy-vs-sparsity curve."""
    controls = {
        "method": dropdown("method", method, PRUNING_METHODS),
        "amount": float_slider("amount", amount, 0.0, 1.0, 0.01),
        "fine_tune_steps": int_slider("fine-tuning steps", fine_tune_steps, 0, 200, 25),
        "device": device_dropdown(device),
    }

    def readout(r: PruningResult) -> str:
        s = r.settings
        tuned = f" -> {r.tuned_accuracy:.1%} after {s['fine_tune_steps']} steps" if s["fine_tune_steps"] else ""
        return (f"{s['method']}, amount {s['amount']:.2f}: accuracy {r.accuracy:.1%}{tuned} "
                f"(unpruned {r.base_accuracy:.1%}); weights zero {r.weight_sparsity:.0%}, "
                f"activations nonzero {r.active_fraction:.0%}")

    return Explorer(pruning_experiment, plot_pruning, controls, readout, panel_size=(6.0, 3.8),
                    title="Pruning the trained digits network")


@register_figure("05_activation_as_pruning.png")
def headline_figure():
    from .plotting import new_figure

    fig, ax = new_figure(1, width=7.0, height=4.2)
    plot_sparsity_curves({m: sparsity_curve(m) for m in PRUNING_METHODS}, ax,
                         tuned={"l1_unstructured": sparsity_curve("l1_unstructured", 100)})
    return fig
