"""``nn.Module`` from the inside (chapter 4): small modules and the experiments that show what it does.

The modules follow the ones in *Dive into Deep Learning* §6.1 "Layers and Modules" (Zhang et al.),
rewritten here; each experiment returns plain numbers that the chapter prints and the tests assert:

* ``MySequential`` keeps an ordered registry of children, as ``nn.Sequential`` does;
* ``ListMLP`` keeps its layers in a plain Python list, so ``parameters()`` cannot see them;
* ``FixedHiddenMLP`` has a fixed random weight, reuses one layer and loops in ``forward``;
  ``trace_disagreement`` shows what ``torch.jit.trace`` records of that loop;
* ``shared_gradient`` checks that a layer used twice gets the sum of two copies' gradients;
* ``tie_after_loading`` measures whether shared weights stay shared through ``load_state_dict``;
* ``DataTrapLinear`` reads ``weight.data`` in ``forward`` and so never gets a gradient;
* ``network_parameter_count`` is the closed-form parameter count of ``build_network``.
"""

from __future__ import annotations

import copy
import io
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import NORMS, Network
from .devices import cpu_float64
from .initializers import INIT_SCHEMES, init_linear, weight_variance
from .validation import check_choice, check_int


def count_parameters(module: nn.Module) -> int:
    """Number of trainable numbers: the sum of ``p.numel()`` over ``module.parameters()`` (each shared
    tensor once)."""
    return sum(p.numel() for p in module.parameters())


class MLP(nn.Module):
    """x (batch, in_dim) -> out(relu(hidden(x))) (batch, out_dim): one hidden layer, as a class."""

    def __init__(self, in_dim: int = 20, hidden: int = 256, out_dim: int = 10):
        super().__init__()
        self.hidden = nn.Linear(in_dim, hidden)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.hidden(x)))


class MySequential(nn.Module):
    """``nn.Sequential`` written out: children registered under "0", "1", ... and applied in that order."""

    def __init__(self, *modules: nn.Module):
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)  # an ordered registry: Module keeps children in a dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():  # in registration order
            x = module(x)
        return x


class ListMLP(nn.Module):
    """``depth`` Linear(width, width) layers with ReLU between them, held in a plain list (``registered=False``,
    invisible to ``parameters()``, ``.to()`` and ``state_dict``) or in an ``nn.ModuleList``."""

    def __init__(self, depth: int = 3, width: int = 16, registered: bool = False):
        super().__init__()
        layers = [nn.Linear(width, width) for _ in range(depth)]
        self.layers = nn.ModuleList(layers) if registered else layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


class FixedHiddenMLP(nn.Module):
    """A block with a fixed random weight, one layer used twice and a data-dependent loop:

    x -> linear -> relu(. @ R + 1) -> linear -> halve until sum |.| <= 1 -> sum,

    R (width x width) uniform in [0, 1), drawn from ``seed``; x is (batch, width), the output a scalar.
    R is a plain tensor attribute: no gradient, not in ``parameters()`` or ``state_dict``.
    """

    def __init__(self, width: int = 20, seed: int = 0):
        super().__init__()
        self.rand_weight = torch.rand(width, width, generator=torch.Generator().manual_seed(seed))
        self.linear = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        x = F.relu(x @ self.rand_weight + 1)
        x = self.linear(x)  # the same layer again: its parameters are shared by both uses
        while x.abs().sum() > 1:  # Python control flow on a value: how often depends on the input
            x = x / 2
        return x.sum()


class BufferDemo(nn.Module):
    """Three kinds of state besides parameters: a plain tensor attribute, a buffer, and a buffer that
    ``state_dict`` leaves out (``persistent=False``); each a vector of ``size`` ones."""

    def __init__(self, size: int = 3):
        super().__init__()
        self.plain = torch.ones(size)
        self.register_buffer("saved", torch.ones(size))
        self.register_buffer("scratch", torch.ones(size), persistent=False)
        self.linear = nn.Linear(size, size)


@dataclass
class TraceResult:
    """Eager and traced outputs of one module on the example input and on other inputs."""

    scales: list[float]       # each input is scale x (the example input)
    eager: list[float]
    traced: list[float]
    halvings: list[int]       # how often the eager loop halved for each input (the trace repeats the example's)
    warnings: list[str]       # "Category: first line" of each distinct warning raised while tracing

    @property
    def disagree(self) -> list[bool]:
        return [abs(e - t) > 1e-6 * max(1.0, abs(e)) for e, t in zip(self.eager, self.traced)]


def _halvings(module: FixedHiddenMLP, x: torch.Tensor) -> int:
    """How many times ``module``'s loop halves on input ``x`` (its forward up to the loop, then the loop)."""
    y = module.linear(F.relu(module.linear(x) @ module.rand_weight + 1))
    count = 0
    while y.abs().sum() > 1:
        y, count = y / 2, count + 1
    return count


def trace_disagreement(scales=(1.0, 100.0), width: int = 20, seed: int = 0) -> TraceResult:
    """Trace ``FixedHiddenMLP`` with ``torch.jit.trace`` on one input x (2, width), then run the eager and
    the traced module on ``scale * x`` for each scale (scale 1 is the example). Tracing records the number
    of loop turns the example took, so other inputs can disagree. Warnings are captured, not printed."""
    torch.manual_seed(seed)
    module = FixedHiddenMLP(width, seed)
    x = torch.randn(2, width, generator=torch.Generator().manual_seed(seed + 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(module, x)
    seen = []
    for w in caught:
        line = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        if line not in seen:
            seen.append(line)
    with torch.no_grad():
        eager = [float(module(s * x)) for s in scales]
        traced_out = [float(traced(s * x)) for s in scales]
        halvings = [_halvings(module, s * x) for s in scales]
    return TraceResult(list(scales), eager, traced_out, halvings, seen)


class SharedLayerNet(nn.Module):
    """x -> tanh(W x + b) -> tanh(W . + b): one Linear(width, width) used twice."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.shared = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.shared(torch.tanh(self.shared(x))))


@dataclass
class SharedGradient:
    """The shared layer's weight gradient against the two copies' gradients and their sum."""

    shared: torch.Tensor      # dl/dW of the layer used twice (width, width)
    first: torch.Tensor       # dl/dW of the first copy
    second: torch.Tensor      # dl/dW of the second copy

    @property
    def max_rel_error(self) -> float:
        """max |shared - (first + second)| / max |shared| (float64 on the CPU)."""
        shared, total = cpu_float64(self.shared), cpu_float64(self.first) + cpu_float64(self.second)
        return float((shared - total).abs().max() / shared.abs().max())


def shared_gradient(width: int = 8, batch: int = 16, seed: int = 0) -> SharedGradient:
    """Backpropagate sum(net(x)^2) through ``SharedLayerNet`` and through two separate layers that hold the
    same values; x ~ N(0, 1) of shape (batch, width). The chain rule predicts dl/dW = sum of both uses."""
    check_int("width", width, minimum=1)
    check_int("batch", batch, minimum=1)
    torch.manual_seed(seed)
    net = SharedLayerNet(width)
    first, second = nn.Linear(width, width), nn.Linear(width, width)
    first.load_state_dict(net.shared.state_dict())
    second.load_state_dict(net.shared.state_dict())
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(seed + 1))
    net(x).square().sum().backward()
    torch.tanh(second(torch.tanh(first(x)))).square().sum().backward()
    return SharedGradient(net.shared.weight.grad, first.weight.grad, second.weight.grad)


class _ReusedModule(nn.Module):
    """One Linear(3, 3) registered under two names, ``a`` and ``b``."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = self.a


class _TiedWeight(nn.Module):
    """Two Linear(3, 3) layers ``a`` and ``b`` whose weights are one Parameter (their biases differ)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)
        self.b.weight = self.a.weight


@dataclass
class TieCheck:
    """One loading experiment: is the weight still one Parameter afterwards, and whose value does it hold?"""

    sharing: str       # "one module, two names" or "one weight, two modules"
    source: str        # "saved from the model" or "entries differ"
    method: str        # "load_state_dict" or "assign=True"
    tied: bool         # a.weight is b.weight after loading
    n_parameters: int  # count_parameters afterwards (a broken tie counts the weight twice)
    value: str         # which entry the weights now hold: "a.weight", "b.weight", "each its own", "both" (equal)


def _saved(model: nn.Module) -> dict:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _value(model: nn.Module, state: dict) -> str:
    a, b = model.a.weight.detach(), model.b.weight.detach()
    if torch.equal(state["a.weight"], state["b.weight"]):
        return "both" if torch.equal(a, state["a.weight"]) and torch.equal(b, state["a.weight"]) else "neither"
    if torch.equal(a, state["a.weight"]) and torch.equal(b, state["b.weight"]):
        return "each its own"
    return next((k for k in ("a.weight", "b.weight") if torch.equal(a, state[k]) and torch.equal(b, state[k])),
                "neither")


def tie_after_loading(seed: int = 0) -> list[TieCheck]:
    """Load a state_dict into a freshly built tied model, with and without ``assign=True``. The state_dict
    is either the tied model's own, saved and loaded through an in-memory file (its two weight entries
    share storage), or one whose two weight entries differ (as from an untied model, or edited by hand)."""
    rows = []
    for sharing, make in (("one module, two names", _ReusedModule), ("one weight, two modules", _TiedWeight)):
        torch.manual_seed(seed)
        saved = _saved(make())
        gen = torch.Generator().manual_seed(seed + 1)
        differ = {k: torch.randn(v.shape, generator=gen) for k, v in saved.items()}
        for source, state in (("saved from the model", saved), ("entries differ", differ)):
            for assign in (False, True):
                torch.manual_seed(seed + 2)
                model = make()
                model.load_state_dict(state, assign=assign)
                rows.append(TieCheck(sharing, source, "assign=True" if assign else "load_state_dict",
                                     model.a.weight is model.b.weight, count_parameters(model), _value(model, state)))
    return rows


def round_trip(net: nn.Module, x: torch.Tensor) -> bool:
    """Save ``net.state_dict()`` to an in-memory file, load it into a deep copy whose parameters were
    re-drawn, and say whether the two now give bit-identical outputs on ``x``."""
    state = _saved(net)
    other = copy.deepcopy(net)
    with torch.no_grad():
        for p in other.parameters():
            p.normal_()
    other.load_state_dict(state)
    with torch.no_grad():
        return torch.equal(net(x), other(x))


def apply_order(net: nn.Module) -> list[str]:
    """The qualified names of ``net``'s modules in the order ``net.apply`` visits them ("" is ``net``)."""
    names = {id(m): name for name, m in net.named_modules()}
    order = []
    net.apply(lambda m: order.append(names[id(m)]))
    return order


@dataclass
class InitCheck:
    """Measured against predicted weight variance for every Linear of one ``nn.Sequential``."""

    scheme: str
    shapes: list[tuple[int, int]]   # (n_out, n_in) per layer
    measured: list[float]
    predicted: list[float]

    @property
    def max_rel_error(self) -> float:
        return max(abs(m / p - 1) for m, p in zip(self.measured, self.predicted))


def init_with_apply(scheme: str, sizes=(512, 256, 256, 10), seed: int = 0) -> InitCheck:
    """Build ``nn.Sequential(Linear, ReLU, Linear, ...)`` through ``sizes``, initialise every Linear with
    ``scheme`` (see ``utils/initializers.py``) via ``net.apply`` and measure each weight's variance in float64."""
    check_choice("init scheme", scheme, [s for s in INIT_SCHEMES if s not in ("constant", "zeros")])
    torch.manual_seed(seed)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    net = nn.Sequential(*layers[:-1])
    net.apply(lambda m: init_linear(m, scheme, sigma_w2=2.0) if isinstance(m, nn.Linear) else None)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    shapes = [tuple(m.weight.shape) for m in linears]
    measured = [float(m.weight.detach().to("cpu", torch.float64).var()) for m in linears]
    predicted = [weight_variance(scheme, n_in, n_out, sigma_w2=2.0) for n_out, n_in in shapes]
    return InitCheck(scheme, shapes, measured, predicted)


class DataTrapLinear(nn.Linear):
    """``nn.Linear`` whose forward reads ``weight.data`` and ``bias.data``: the values without the autograd
    record, so the output does not depend on the parameters as far as autograd knows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.data, self.bias.data)


class FixedLinear(nn.Linear):
    """The fix: read the parameters themselves (here simply what ``nn.Linear`` does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


@dataclass
class DataTrap:
    """Gradients after one backward pass through Sequential(Linear(width, width), last), last a
    Linear(width, 1) that reads ``weight.data`` (the trap) or ``weight`` (the fix)."""

    trap_last: torch.Tensor | None    # dl/dW of the trap layer: None, autograd never saw W
    fix_last: torch.Tensor            # dl/dW of the fixed layer
    trap_first: torch.Tensor          # dl/dW of the layer below the trap ...
    fix_first: torch.Tensor           # ... equal to the one below the fix: the bug is silent


def data_trap(width: int = 4, batch: int = 8, seed: int = 0) -> DataTrap:
    """Build both networks from the same seed, backpropagate sum(net(x)^2), x ~ N(0, 1) (batch, width)."""
    check_int("width", width, minimum=1)
    grads = {}
    for name, cls in (("trap", DataTrapLinear), ("fix", FixedLinear)):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(width, width), cls(width, 1))
        x = torch.randn(batch, width, generator=torch.Generator().manual_seed(seed + 1))
        net(x).square().sum().backward()
        grads[name] = (net[1].weight.grad, net[0].weight.grad)
    return DataTrap(grads["trap"][0], grads["fix"][0], grads["trap"][1], grads["fix"][1])


def network_parameter_count(depth: int, width: int, *, shortcut: bool = False, norm: str = "none",
                            learn_gain: bool = False, in_dim: int | None = None,
                            out_dim: int | None = None) -> int:
    """The number of parameters of ``build_network`` with these settings, in closed form.

    Block l maps d_{l-1} -> d_l (d_0 = in_dim, d_L = out_dim, width between): a Linear has
    d_l d_{l-1} + d_l numbers, a LayerNorm on n units 2n (its scale and shift): on the input ("pre")
    or the output ("post"); a residual block (shortcut and d_{l-1} = d_l) adds 1 if its gain is
    learned (otherwise the gain is a buffer). With in_dim = out_dim = width n this is
    L (n^2 + n + 2n [norm] + [shortcut and learn_gain]).
    """
    check_int("depth", depth, minimum=1)
    check_int("width", width, minimum=1)
    in_dim = width if in_dim is None else check_int("in_dim", in_dim, minimum=1)
    out_dim = width if out_dim is None else check_int("out_dim", out_dim, minimum=1)
    check_choice("norm", norm, NORMS)
    sizes = [in_dim] + [width] * (depth - 1) + [out_dim]
    total = 0
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        total += d_in * d_out + d_out
        total += 2 * d_in if norm == "pre" else 2 * d_out if norm == "post" else 0
        total += int(shortcut and learn_gain and d_in == d_out)
    return total


def manual_probe(net: Network, x: torch.Tensor, loss_fn) -> tuple[list[float], list[float]]:
    """Per block: std of its output h_l and ||dl/dh_l||, read without hooks (keep every h_l, call
    ``retain_grad``, backward); float64 on the CPU, to compare with ``probe_network``."""
    outputs, h = [], x
    for block in net.blocks:
        h = block(h)
        h.retain_grad()
        outputs.append(h)
    net.zero_grad(set_to_none=True)
    loss_fn(h).backward()
    stds = [float(o.detach().to("cpu", torch.float64).std()) for o in outputs]
    grads = [float(o.grad.to("cpu", torch.float64).norm()) for o in outputs]
    return stds, grads


def backward_hook_pitfall(width: int = 4, seed: int = 0) -> dict:
    """Read dl/dz of a Linear followed by ``ReLU(inplace=True)`` two ways: a full backward hook on the
    Linear (fails: the in-place ReLU modifies the hooked output), and a forward hook that registers a
    tensor hook on the output (works; the tensor hook sees the gradient of the value before the in-place
    change). Returns the error's first line and whether the tensor hook's reading equals the manual
    gradient (dl/dz = relu'(z) for l = sum relu(z))."""
    torch.manual_seed(seed)
    x = torch.randn(3, width, generator=torch.Generator().manual_seed(seed + 1))
    linear = nn.Linear(width, width)
    net = nn.Sequential(linear, nn.ReLU(inplace=True))
    handle = linear.register_full_backward_hook(lambda module, grad_in, grad_out: None)
    try:
        net(x).sum().backward()
        error = None
    except RuntimeError as exc:
        error = str(exc).split(". ")[0]
    handle.remove()
    seen = []

    def forward_hook(module, inputs, z):
        z.register_hook(seen.append)  # returns a handle; the hook itself must return None

    handle = linear.register_forward_hook(forward_hook)
    net.zero_grad()
    net(x).sum().backward()
    handle.remove()
    with torch.no_grad():
        expected = (linear(x) > 0).to(x.dtype)
    return {"full backward hook error": error, "tensor hook correct": bool(torch.equal(seen[0], expected))}
