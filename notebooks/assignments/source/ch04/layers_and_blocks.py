# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 4 — Layers versus blocks
#
# This assignment goes with chapter 4. It takes 40–60 minutes. Six tasks, 14 points.
#
# * Write your answer where it says `YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# * The cell after each answer holds tests; run it to check your answer. Passing them is a good sign,
#   not a guarantee: the grader also runs hidden tests on other settings.
# * Keep the names the tasks ask for, do not edit or delete the test cells, and do not print warnings:
#   a test cell whose output holds an error or a warning scores 0.
# * Before you submit: *Kernel → Restart and run all*, and check that every cell runs.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import warnings

import numpy as np
import torch
from torch import nn

import utils
from utils.module_mechanics import BufferDemo, DataTrapLinear, FixedLinear, SharedLayerNet, count_parameters

warnings.filterwarnings("ignore")

# %% [markdown]
# ## Task 1 — A hand-written `Sequential` (2 points)
#
# Write the module `MySequential(*modules)`: it registers its children under the names `"0"`, `"1"`, ... in the
# order given, and its `forward` feeds the input through them in that order, each child's output into the next.
# Register each child with `self.add_module(name, module)`: an `nn.Module` keeps its children in an ordered
# registry (`self._modules`, a dict), which is what `parameters()`, `state_dict()` and `.to()` walk through.
# Do not use `nn.Sequential` or `nn.ModuleList`.

# %% nbgrader={"grade": false, "grade_id": "my_sequential", "locked": false, "schema_version": 3, "solution": true}
class MySequential(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        ### BEGIN SOLUTION
        for index, module in enumerate(modules):
            self.add_module(str(index), module)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        for module in self.children():
            x = module(x)
        return x
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "my_sequential_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_sequential(*layers):
    mine, theirs = MySequential(*layers), nn.Sequential(*layers)
    assert not isinstance(mine, (nn.Sequential, nn.ModuleList)), "write the registry yourself"
    x = torch.randn(5, layers[0].in_features, generator=torch.Generator().manual_seed(1))
    assert torch.equal(mine(x), theirs(x)), "the children must run in the order they were given"
    assert list(mine.state_dict()) == list(theirs.state_dict()), "children are named '0', '1', ..."
    assert count_parameters(mine) == count_parameters(theirs)


torch.manual_seed(0)
check_sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10))
### BEGIN HIDDEN TESTS
torch.manual_seed(1)
check_sequential(*[layer for _ in range(6) for layer in (nn.Linear(8, 8), nn.Tanh())])  # 12 children: "10" after "9"
torch.manual_seed(2)
deep = MySequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(torch.float64)
assert all(p.dtype == torch.float64 for p in deep.parameters()), ".to() must reach every child"
assert deep(torch.randn(2, 3, dtype=torch.float64)).shape == (2, 2)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 — The parameter count of `build_network`, in closed form (3 points)
#
# `utils.build_network(depth, width, shortcut=..., norm=..., learn_gain=..., in_dim=..., out_dim=...)` stacks
# `depth` blocks. Block $l$ maps $d_{l-1} \to d_l$ units, with $d_0$ = `in_dim`, $d_L$ = `out_dim` (both default
# to `width`) and `width` in between. Every block has one `nn.Linear(d_{l-1}, d_l)` (a weight and a bias).
# With `norm="pre"` it also has an `nn.LayerNorm` on its *input* ($d_{l-1}$ units), with `norm="post"` one on its
# *output* ($d_l$ units); a LayerNorm on $n$ units learns a scale and a shift per unit. With `shortcut=True`,
# every block whose input and output sizes agree is a residual block $h + g\,\phi(\dots)$; its gain $g$ is a
# trained parameter (one number) if `learn_gain=True`, otherwise a buffer.
#
# *Predict, then check:* write `network_parameters(depth, width, shortcut, norm, learn_gain, in_dim, out_dim)`,
# the number of trained numbers (`sum(p.numel() for p in net.parameters())`) without building the network
# (and without calling `utils.module_mechanics.network_parameter_count`, which the tests use to check you).

# %% nbgrader={"grade": false, "grade_id": "parameter_count", "locked": false, "schema_version": 3, "solution": true}
def network_parameters(depth, width, shortcut=False, norm="none", learn_gain=False, in_dim=None, out_dim=None):
    """The number of trained parameters of ``utils.build_network`` with these settings."""
    ### BEGIN SOLUTION
    sizes = [in_dim or width] + [width] * (depth - 1) + [out_dim or width]
    total = 0
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        total += d_in * d_out + d_out
        total += {"none": 0, "pre": 2 * d_in, "post": 2 * d_out}[norm]
        total += int(shortcut and learn_gain and d_in == d_out)
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "parameter_count_test", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_count(depth, width, **settings):
    net = utils.build_network(depth, width, **settings)
    expected = sum(p.numel() for p in net.parameters())
    assert expected == utils.module_mechanics.network_parameter_count(depth, width, **settings)
    got = network_parameters(depth, width, **settings)
    assert got == expected, f"depth {depth}, width {width}, {settings}: expected {expected}, got {got}"


check_count(4, 16)
check_count(3, 8, shortcut=True, norm="pre")
### BEGIN HIDDEN TESTS
check_count(5, 12, shortcut=True, norm="post", learn_gain=True)
check_count(3, 8, shortcut=False, norm="none", learn_gain=True)  # no residual block: no gain
check_count(4, 10, shortcut=True, learn_gain=True, in_dim=3, out_dim=2)  # first and last blocks are plain
check_count(1, 6, norm="pre", in_dim=5, out_dim=7)
check_count(2, 6, norm="post", in_dim=5, out_dim=7)
check_count(1, 1, shortcut=True, norm="pre", learn_gain=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 — One layer used twice (2 points)
#
# `SharedLayerNet(width)` computes $x \mapsto \tanh(W \tanh(W x + b) + b)$: it holds one
# `nn.Linear(width, width)` as `self.shared` and calls it twice in `forward`.
#
# *Predict, then check:*
#
# 1. How many parameters does `SharedLayerNet(8)` have? Store the number in `shared_layer_parameters`.
# 2. Compare the shared layer's gradient $\partial \ell/\partial W$ ($\ell$ the loss) with that of a network built
#    from two *separate* layers `first` and `second` that hold the same values as $W, b$ (so both networks compute
#    the same function). Is the shared gradient equal to `"first"`'s gradient, to `"second"`'s, to their `"sum"` or to
#    their `"mean"`? Store the word in `shared_gradient_rule`.

# %% nbgrader={"grade": false, "grade_id": "shared_layer", "locked": false, "schema_version": 3, "solution": true}
# shared_layer_parameters = ...
# shared_gradient_rule = "first" or "second" or "sum" or "mean"
### BEGIN SOLUTION
shared_layer_parameters = 8 * 8 + 8
shared_gradient_rule = "sum"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "shared_layer_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
assert shared_gradient_rule in ("first", "second", "sum", "mean")
assert int(shared_layer_parameters) == shared_layer_parameters > 0
### BEGIN HIDDEN TESTS
assert shared_layer_parameters == count_parameters(SharedLayerNet(8))
for width, batch, seed in ((8, 16, 0), (5, 3, 1), (12, 7, 2)):
    g = utils.module_mechanics.shared_gradient(width=width, batch=batch, seed=seed)
    rule = {"first": g.first, "second": g.second, "sum": g.first + g.second, "mean": (g.first + g.second) / 2}
    assert torch.allclose(rule[shared_gradient_rule], g.shared, rtol=1e-4, atol=1e-6), (width, batch, seed)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 — Parameters, buffers and plain tensors (2 points)
#
# `utils.module_mechanics.BufferDemo` holds three tensors besides its `nn.Linear(3, 3)` (as `self.linear`):
#
# ```python
# self.plain = torch.ones(size)                                          # a plain tensor attribute
# self.register_buffer("saved", torch.ones(size))                        # a buffer
# self.register_buffer("scratch", torch.ones(size), persistent=False)    # a buffer state_dict leaves out
# ```
#
# *Predict, then check:* of the five tensors `"plain"`, `"saved"`, `"scratch"`, `"linear.weight"` and
# `"linear.bias"`,
#
# 1. which are saved in `BufferDemo().state_dict()`? Store their names as a set in `in_state_dict`;
# 2. which does `BufferDemo().to(torch.float64)` convert to float64 (as it would move them to a GPU)?
#    Store their names as a set in `converted_by_to`.

# %% nbgrader={"grade": false, "grade_id": "buffers", "locked": false, "schema_version": 3, "solution": true}
# in_state_dict = {...}
# converted_by_to = {...}
### BEGIN SOLUTION
in_state_dict = {"saved", "linear.weight", "linear.bias"}
converted_by_to = {"saved", "scratch", "linear.weight", "linear.bias"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "buffers_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
TENSORS = {"plain", "saved", "scratch", "linear.weight", "linear.bias"}
assert set(in_state_dict) <= TENSORS and set(converted_by_to) <= TENSORS, f"use the names {sorted(TENSORS)}"
### BEGIN HIDDEN TESTS
demo = BufferDemo().to(torch.float64)
assert set(in_state_dict) == set(demo.state_dict())
tensors = {"plain": demo.plain, "saved": demo.saved, "scratch": demo.scratch,
           "linear.weight": demo.linear.weight, "linear.bias": demo.linear.bias}
assert set(converted_by_to) == {name for name, t in tensors.items() if t.dtype == torch.float64}
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 — A forward-hook probe of every block's activations (3 points)
#
# Write `activation_stds(net, x)`. `net` is a network built by `utils.build_network`: it applies the blocks in
# `net.blocks` in order, and block $l$ outputs $h_l$. Run `net(x)` once and return a NumPy array with the
# standard deviation of every $h_l$ (over the batch and the units together, as `h.std()` computes it, in
# float64), first block first.
#
# Use forward hooks, as the book's probes do: `block.register_forward_hook(hook)` calls
# `hook(module, inputs, output)` after the block's forward pass, and returns a handle. Remove your hooks when
# you are done (`handle.remove()`), so that the network is left as you found it. No gradient is needed.

# %% nbgrader={"grade": false, "grade_id": "activation_probe", "locked": false, "schema_version": 3, "solution": true}
def activation_stds(net, x):
    """The std of every block's output h_l on the batch ``x`` (an array of length len(net.blocks))."""
    ### BEGIN SOLUTION
    stds = np.zeros(len(net.blocks))

    def on_block(i):
        def hook(module, inputs, h):
            stds[i] = float(h.detach().double().std())
        return hook

    handles = [block.register_forward_hook(on_block(i)) for i, block in enumerate(net.blocks)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for handle in handles:
            handle.remove()
    return stds
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "activation_probe_test", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_stds(net):
    x = torch.randn(32, net.linears[0].in_features, generator=torch.Generator().manual_seed(1))
    expected = utils.probe_network(net, x, lambda h: h.square().mean()).act_std
    got = np.asarray(activation_stds(net, x), dtype=float)
    assert got.shape == expected.shape, f"one std per block: expected shape {expected.shape}, got {got.shape}"
    assert np.allclose(got, expected, rtol=1e-4), (got, expected)
    assert all(not block._forward_hooks for block in net.blocks), "remove the hooks when you are done"


check_stds(utils.build_network(depth=6, width=32, activation="tanh", seed=0))
### BEGIN HIDDEN TESTS
check_stds(utils.build_network(depth=10, width=16, activation="relu", shortcut=True, seed=0))
check_stds(utils.build_network(depth=4, width=8, activation="sigmoid", shortcut=True, norm="post", seed=1))
check_stds(utils.build_network(depth=3, width=12, activation="relu", init="he", in_dim=5, out_dim=2, seed=2))
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 — The `.data` trap (2 points)
#
# `DataTrapLinear` is an `nn.Linear` whose `forward` computes `F.linear(x, self.weight.data, self.bias.data)`:
# `.data` is the parameter's value *without* autograd's record of where it came from.
#
# 1. *Predict:* in `net = nn.Sequential(nn.Linear(4, 4), DataTrapLinear(4, 1))`, after
#    `net(x).square().sum().backward()`, what is `net[1].weight.grad`? Store `"None"`, `"zeros"` or
#    `"correct"` (the same gradient as a plain `nn.Linear` would get) in `trap_weight_grad` (at the end of the
#    answer cell).
# 2. Write a detector for such bugs: `parameters_without_gradient(net, x)` runs
#    `net(x).square().sum().backward()` once and returns the sorted list of the names (as
#    `net.named_parameters()` gives them) of the parameters that are trained (`requires_grad` is true) but
#    got no gradient (`.grad` is `None`). Frozen parameters (`requires_grad=False`) are not bugs: leave them out.

# %% nbgrader={"grade": false, "grade_id": "data_trap", "locked": false, "schema_version": 3, "solution": true}
def parameters_without_gradient(net, x):
    """Sorted names of ``net``'s trainable parameters that get no gradient from sum(net(x)^2)."""
    ### BEGIN SOLUTION
    net(x).square().sum().backward()
    return sorted(name for name, p in net.named_parameters() if p.requires_grad and p.grad is None)
    ### END SOLUTION


# trap_weight_grad = "None" or "zeros" or "correct"
### BEGIN SOLUTION
trap_weight_grad = "None"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "data_trap_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
class WithSpare(nn.Module):
    """Two registered layers, only one of them used in forward."""

    def __init__(self):
        super().__init__()
        self.used, self.spare = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.used(x)


def check_detector(net, expected):
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    got = list(parameters_without_gradient(net, x))
    assert got == sorted(expected), f"expected {sorted(expected)}, got {got}"


assert trap_weight_grad in ("None", "zeros", "correct")
torch.manual_seed(0)
spare = WithSpare()
check_detector(spare, [f"spare.{name}" for name, _ in spare.spare.named_parameters()])
frozen = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
frozen[0].requires_grad_(False)
check_detector(frozen, [])
### BEGIN HIDDEN TESTS
trap = utils.module_mechanics.data_trap(width=4)
measured = ("None" if trap.trap_last is None else "zeros" if not trap.trap_last.any()
            else "correct" if torch.allclose(trap.trap_last, trap.fix_last) else "other")
assert trap_weight_grad == measured
for width, last in ((4, DataTrapLinear), (4, FixedLinear)):
    net = nn.Sequential(nn.Linear(width, width), last(width, 1))
    check_detector(net, [f"1.{name}" for name, _ in net[1].named_parameters() if isinstance(net[1], DataTrapLinear)])
check_detector(SharedLayerNet(4), [])
### END HIDDEN TESTS
