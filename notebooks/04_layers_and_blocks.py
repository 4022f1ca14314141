# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 4 — Layers versus blocks
#
# Chapters 1–3 built every network with one function, `build_network`, and treated it as a black box.
# This chapter opens the box. PyTorch has a single abstraction for a layer, a group of layers and a
# whole model: the class `torch.nn.Module`. We write modules by hand, watch what `nn.Module` does for us
# (and where it quietly does not), and then read, line by line, the library this book runs on.
#
# **Learning goals.** After this chapter you can
#
# 1. write a custom module, and a `Sequential` of your own, and say what registering a child does;
# 2. tell parameters, buffers and plain tensor attributes apart: which get gradients, which `.to()` moves,
#    which `state_dict` saves;
# 3. predict what tracing does to Python control flow in `forward`, and show an input where it is wrong;
# 4. count the parameters of any network built by this book's builder in closed form;
# 5. share one layer between two places, know what its gradient is, and what saving and loading does to
#    the sharing;
# 6. initialise a network with `apply`, avoid the `.data` trap, and read activations and gradients with hooks;
# 7. connect chapters 1–2's results to the structure of the code with the block builder explorer.
#
# Every number the text quotes from a computation is printed by a cell and checked there by an `assert`;
# facts quoted from papers (§9) are cited instead.
#
# Three words first, in the sense this chapter uses them. A **layer** is one transformation with its own
# parameters, such as `nn.Linear` ($h \mapsto Wh + b$) or an activation function (no parameters). A **block** is
# a group of layers that is used as a unit and usually repeated, such as chapter 2's residual block
# $h \mapsto h + \phi(Wh + b)$, $\phi$ the activation function. A **model** is the whole network. In PyTorch all
# three are subclasses of `nn.Module`: a module can contain modules, which can contain modules. Terms from chapters
# 1–3 are defined again, in a line, where this chapter uses them; the [glossary](../docs/glossary.md) has them all.

# %%
# On Colab only: install the book's library `utils` (Colab keeps its own PyTorch). Elsewhere: nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "git+https://github.com/OWNER/REPO"], check=True)

# %%
# %matplotlib inline
import inspect

import numpy as np
import torch
from torch import nn

import trainable_depth  # first: checks that `utils` below is the book's library, not another file of that name
from utils import build_network, new_figure, precomputed_explorer
from utils.block_builder import (BLOCK_TYPES, HEADS, block_builder, block_builder_explorer, plot_block_builder,
                                 plot_block_types)
from utils.blocks import Network, PlainBlock, ResidualBlock
from utils.module_mechanics import (MLP, BufferDemo, DataTrapLinear, FixedHiddenMLP, ListMLP, MySequential,
                                    SharedLayerNet, apply_order, backward_hook_pitfall, count_parameters,
                                    data_trap, init_with_apply, manual_probe, network_parameter_count,
                                    round_trip, shared_gradient, tie_after_loading, trace_disagreement)
from utils.probes import probe_network
from utils.sweep import sweep, sweep_by_loop

print("PyTorch", torch.__version__.split("+")[0])

# %% [markdown]
# Some of what follows changes between PyTorch versions; where it matters the text says which version it
# describes, the one printed above.
#
# ## 1. A module is a class with a `forward`
#
# A module subclasses `nn.Module`, creates its layers in `__init__` (after calling `super().__init__()`,
# which sets up the registries described below) and says in `forward` how an input becomes an output.
# Here is a one-hidden-layer MLP (multilayer perceptron) as a class: 20 inputs, 256 hidden units, 10
# outputs. We print its source from the book's library, `utils/module_mechanics.py`, rather than a copy,
# so what you read is what runs. (There, `F` is `torch.nn.functional`; `count_parameters(m)`, used below, is
# `sum(p.numel() for p in m.parameters())`.)

# %%
print(inspect.getsource(MLP))

# %%
torch.manual_seed(0)
mlp = MLP(20, 256, 10)
x = torch.randn(2, 20)
print(mlp)
print("output shape:", tuple(mlp(x).shape))
for name, p in mlp.named_parameters():
    print(f"{name:12s} {tuple(p.shape)}")
n_mlp = count_parameters(mlp)
print(f"parameters: {n_mlp} = 20*256 + 256 + 256*10 + 10")
assert n_mlp == 20 * 256 + 256 + 256 * 10 + 10 == 7946

# %% [markdown]
# We never told the module where its parameters are, yet `named_parameters()` lists all four tensors.
# That is `nn.Module.__setattr__` at work (the method Python calls for every `self.name = value`): assigning a
# module to an attribute (`self.hidden = nn.Linear(...)`) *registers* it as a **child** in an internal
# dictionary, `self._modules`, and `parameters()`, `.to()`, `state_dict()`,
# `zero_grad()` and printing all walk that tree of children. We call `mlp(x)`, not `mlp.forward(x)`:
# the call runs `forward` plus any hooks (functions attached to the module, §7).
#
# ### A hand-written `Sequential`
#
# `nn.Sequential` is such a module whose children are numbered "0", "1", ... and whose `forward` feeds
# each child's output into the next. Writing it ourselves takes two short methods:

# %%
print(inspect.getsource(MySequential))

# %%
torch.manual_seed(0)
layers = [nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)]
mine, theirs = MySequential(*layers), nn.Sequential(*layers)
x = torch.randn(64, 20)
print("children:", list(mine._modules), "held in a", type(mine._modules).__name__)
print("same output as nn.Sequential, bit for bit:", torch.equal(mine(x), theirs(x)))
assert torch.equal(mine(x), theirs(x)) and list(mine._modules) == ["0", "1", "2"]

# %% [markdown]
# Both modules hold the very same layer objects, and both apply them in registration order, so the outputs are
# equal bit for bit (not merely close): the same floating-point operations in the same order. The registry is a
# plain Python `dict`, which remembers the order in which keys were inserted.
#
# ### A plain list hides its layers
#
# Registration only happens for `nn.Module` (and `nn.Parameter`) attributes. A Python *list* of layers is
# just a list: the module cannot see inside it. `ListMLP` holds three `Linear(16, 16)` layers either in a
# list or in an `nn.ModuleList`, the registered list:

# %%
print(inspect.getsource(ListMLP))

# %%
in_list, in_module_list = ListMLP(depth=3, width=16), ListMLP(depth=3, width=16, registered=True)
print(f"plain list: {count_parameters(in_list)} parameters   "
      f"ModuleList: {count_parameters(in_module_list)} parameters")
in_list(torch.randn(4, 16)).sum().backward()
print("yet the listed layers did get gradients:", in_list.layers[0].weight.grad is not None)
try:
    torch.optim.SGD(in_list.parameters(), lr=0.1)
    refused = None
except ValueError as exc:
    refused = str(exc)
print("torch.optim.SGD(in_list.parameters()) ->", refused)
assert refused == "optimizer got an empty parameter list"
assert count_parameters(in_list) == 0 and count_parameters(in_module_list) == 3 * (16 * 16 + 16) == 816
assert in_list.layers[0].weight.grad is not None

# %% [markdown]
# The forward and backward passes work either way: gradients are computed by *autograd* (PyTorch's automatic
# differentiation, which records operations on tensors), not by `nn.Module`. What the list breaks is everything
# that walks the registry: the optimiser gets no parameters (here it refuses an empty list; in a model with other,
# registered layers it would silently never update these), `.to("cuda")` would leave them behind, and
# `state_dict` would not save them.
#
# ## 2. A block with a fixed weight and a loop in `forward`
#
# A module can hold numbers that are not trained and can run any Python in `forward`. The next block multiplies by
# a fixed random matrix $R$, uses its one `Linear` layer *twice*, and then halves its output until the sum of
# absolute values is at most 1:

# %%
print(inspect.getsource(FixedHiddenMLP))

# %%
block = FixedHiddenMLP(width=20, seed=0)
out = block(torch.randn(2, 20))
out.backward()
print("output:", f"{out.item():.4f}")
print("R.requires_grad:", block.rand_weight.requires_grad, "  R.grad:", block.rand_weight.grad)
print("parameters:", [name for name, _ in block.named_parameters()], "  state_dict:", list(block.state_dict()))
assert block.rand_weight.grad is None and "rand_weight" not in block.state_dict()
assert all(p is not block.rand_weight for p in block.parameters())

# %% [markdown]
# $R$ gets no gradient (it was created without `requires_grad`) and is not in `parameters()`, so no optimiser
# will ever touch it. It is also not in `state_dict()`: save this block and load it elsewhere, and the new copy
# draws its own $R$. For a fixed tensor that belongs to the module's state there is a third kind of attribute.
#
# ### Parameters, buffers and plain attributes
#
# A **buffer** is a tensor registered with `register_buffer`: not trained, but part of the module. The running
# mean that a BatchNorm layer (`nn.BatchNorm1d`, a normalisation layer that rescales each feature by its mean and
# standard deviation over the mini-batch) keeps of its inputs is one; so is
# `ResidualBlock`'s branch gain when it is fixed (§7). `BufferDemo` has one of each kind next to a `Linear`;
# converting the module to float64 shows which ones `.to()` moves (moving to a GPU works the same way), and
# `state_dict` shows which ones are saved:

# %%
print(inspect.getsource(BufferDemo))

# %%
demo = BufferDemo().to(torch.float64)
for name in ("plain", "saved", "scratch"):
    print(f"{name:8s} dtype after .to(float64): {str(getattr(demo, name).dtype):14s} in state_dict: "
          f"{name in demo.state_dict()}")
print("state_dict keys:", list(demo.state_dict()))
assert demo.plain.dtype == torch.float32 and demo.saved.dtype == demo.scratch.dtype == torch.float64
assert list(demo.state_dict()) == ["saved", "linear.weight", "linear.bias"]

# %% [markdown]
# | kind | gets a gradient | in `parameters()` | moved by `.to()` | saved in `state_dict` |
# |---|---|---|---|---|
# | `nn.Parameter` | yes | yes | yes | yes |
# | buffer (`register_buffer`) | no | no | yes | yes |
# | buffer, `persistent=False` | no | no | yes | no |
# | plain tensor attribute | no | no | **no** | no |
#
# A plain tensor attribute is the bug. Move `FixedHiddenMLP` to float64 (or to a GPU) and its `Linear` goes along,
# but $R$ stays behind, so `forward` multiplies two tensors that do not match:

# %%
moved = FixedHiddenMLP(width=20, seed=0).to(torch.float64)
try:
    moved(torch.randn(2, 20, dtype=torch.float64))
    failure = None
except RuntimeError as exc:
    failure = str(exc)
print("forward after .to(float64) ->", failure)
assert failure is not None and "same dtype" in failure

# %% [markdown]
# On a GPU the message names two devices instead of two dtypes. `FixedHiddenMLP`'s $R$ should have been a buffer.
#
# ### What tracing does with the loop
#
# *Tracing* turns a module into a graph of tensor operations by running it once on an example input and recording
# what happens (`torch.jit.trace`; deployment tools use such graphs). Python control flow is not a tensor
# operation: the trace records whatever path the example took. Our block's loop halved its output some number
# of times for the example input; the trace halves exactly that many times for every input. `trace_disagreement`
# traces the block on one example input, then runs the ordinary module and the trace on the example and on the
# example scaled by 100, and counts how often the ordinary module's loop halves for each. The warnings raised
# while tracing are caught and listed (category and first line):

# %%
traced = trace_disagreement(scales=(1.0, 100.0))
for line in traced.warnings:
    print(line)
for scale, k, eager, trace, differ in zip(traced.scales, traced.halvings, traced.eager, traced.traced,
                                         traced.disagree):
    print(f"input x {scale:g}: eager {eager:+.4f} after {k} halvings   traced {trace:+.4f}   "
          f"{'DISAGREE' if differ else 'agree'}")
extra = traced.halvings[1] - traced.halvings[0]
print(f"traced / eager on the scaled input: {traced.traced[1] / traced.eager[1]:.1f} = 2^{extra}")
# Seeds 0-4: the example takes 3-5 halvings, the scaled input 4-6 more (7-11); the traced output on it is
# 0.63 to 14.6 in size (-2.8 here), 16 to 64 times the eager one
assert traced.disagree == [False, True] and 2 <= traced.halvings[0] <= 6 and 3 <= extra <= 7
assert abs(traced.traced[1] / traced.eager[1] - 2**extra) < 1e-3
assert any(line.startswith("TracerWarning") for line in traced.warnings)
assert any("deprecated" in line for line in traced.warnings)
assert all(abs(e) <= 1 for e in traced.eager) and 0.4 < abs(traced.traced[1]) < 20

# %% [markdown]
# On the example the two agree. The scaled input needs 11 halvings here, but the trace stops after the example's 5,
# so it returns $2^6 = 64$ times the right answer: about $-2.8$, a value the *eager* module (the ordinary one,
# running its Python line by line) can never return: it halves until the absolute values sum to at most 1, so its
# output, their sum, is at most 1 in size. The `TracerWarning` says so at trace time, and is easy to miss. (Over
# five seeds the example takes 3 to 5 halvings and the scaled input 4 to 6 more, so the trace is off by a factor
# of 16 to 64; for one seed its wrong answer, $-0.63$, even lies within the eager module's range, and nothing
# about the value gives it away.)
# In PyTorch 2.13 `torch.jit.trace` itself is deprecated (the `DeprecationWarning` above; the `trace_method`
# one comes from inside `trace`) in favour of `torch.export` and `torch.compile`. Try
# `torch.export.export(block, (torch.randn(2, 20),))` yourself: it refuses this module outright instead of
# recording one path, with a long error that ends at the loop's condition, a Python `bool` that depends on a
# tensor's value. Either way, a loop whose length depends on the data cannot be captured by recording one run.
#
# ## 3. Nesting, and counting parameters
#
# Modules nest. Here is a model made of an MLP, a `Linear` layer and the block above, and its module tree as
# `print` shows it:

# %%
torch.manual_seed(0)
chimera = nn.Sequential(MLP(20, 64, 32), nn.Linear(32, 20), FixedHiddenMLP(20))
print(chimera)
print("output:", f"{chimera(torch.randn(2, 20)).item():.4f}")
print("named_parameters:", [name for name, _ in chimera.named_parameters()])
assert [n for n, _ in chimera.named_parameters()][0] == "0.hidden.weight"

# %% [markdown]
# Parameter names are paths through the tree: `0.hidden.weight` is the weight of child `hidden` of child `0`.
#
# The networks of chapters 1–3 are built by `build_network(depth, width, ...)`. Its blocks (§7) are a `Linear`
# layer, an activation, and optionally a LayerNorm — a normalisation that rescales each input vector to mean 0 and
# variance 1 and then applies a learned scale and shift, $2n$ parameters on $n$ units. Block $l$ maps $d_{l-1}$ to
# $d_l$ units ($d_0$ is the input size, $d_L$ the output size, `width` in between), so its `Linear` has
# $d_l d_{l-1} + d_l$ parameters; the LayerNorm adds $2d_{l-1}$ ("pre", on the block's input) or $2d_l$ ("post",
# on its output); a residual block's gain $g$ (the constant factor on its *branch*, the part added to $h$; §7)
# adds 1 only if it is learned. With input and output `width` $= n$:
#
# $$P = L\,\big(n^2 + n + 2n\,[\text{norm}] + [\text{residual, gain learned}]\big),$$
#
# where a bracket $[\cdot]$ is 1 if its condition holds and 0 otherwise.
#
# `network_parameter_count` is this count for any setting, including input and output sizes other than `width`
# (then it adds up the blocks one by one). We check it against `count_parameters` on real networks over a grid
# of $3 \cdot 3 \cdot 2 \cdot 3 \cdot 2 \cdot 2 \cdot 2 = 432$ settings:

# %%
grid = [(depth, width, shortcut, norm, learn_gain, in_dim, out_dim)
        for depth in (1, 2, 7) for width in (1, 3, 16) for shortcut in (False, True)
        for norm in ("none", "pre", "post") for learn_gain in (False, True)
        for in_dim in (None, 5) for out_dim in (None, 2)]
mismatches = 0
for depth, width, shortcut, norm, learn_gain, in_dim, out_dim in grid:
    net = build_network(depth, width, shortcut=shortcut, norm=norm, learn_gain=learn_gain,
                        in_dim=in_dim, out_dim=out_dim)
    mismatches += count_parameters(net) != network_parameter_count(
        depth, width, shortcut=shortcut, norm=norm, learn_gain=learn_gain, in_dim=in_dim, out_dim=out_dim)
print(f"{len(grid)} settings, {mismatches} mismatches")
print(f"depth 30, width 128, pre-norm residual: {network_parameter_count(30, 128, shortcut=True, norm='pre'):,}"
      f" = 30 * (128^2 + 3*128)")
assert len(grid) == 432 and mismatches == 0
assert network_parameter_count(30, 128, shortcut=True, norm="pre") == 30 * (128**2 + 3 * 128) == 503040

# %% [markdown]
# ## 4. Sharing a layer
#
# `FixedHiddenMLP` used its `linear` layer twice. A simpler case, `SharedLayerNet`, computes
# $\tanh(W\tanh(Wx + b) + b)$ with one `Linear` layer:

# %%
print(inspect.getsource(SharedLayerNet))

# %% [markdown]
# What is the gradient of a weight used twice? Think of the two uses as two separate copies $W^{(1)}, W^{(2)}$
# that happen to hold the same values. The loss $\ell$ depends on $W$ through both, so by the chain rule
#
# $$\frac{\partial \ell}{\partial W} = \frac{\partial \ell}{\partial W^{(1)}} + \frac{\partial \ell}{\partial W^{(2)}}
# \quad\text{at } W^{(1)} = W^{(2)} = W.$$
#
# Autograd does exactly this: every use adds its contribution into the one `.grad`. `shared_gradient` builds the
# shared network and a two-copy network with the same values, backpropagates the same loss (the sum of the squared
# outputs on 16 random inputs) through both, and compares:

# %%
shared = shared_gradient(width=8, batch=16)
print(f"|dl/dW1| = {float(shared.first.norm()):.4f}, |dl/dW2| = {float(shared.second.norm()):.4f}, "
      f"|dl/dW shared| = {float(shared.shared.norm()):.4f}")
error = shared.max_rel_error
print("max |shared - (copy 1 + copy 2)| / max |shared|:", "< 1e-6" if error < 1e-6 else f"{error:.2g}")
assert error < 1e-6 and float((shared.first - shared.second).abs().max()) > 1e-3

# %% [markdown]
# The two uses contribute different gradients, and the shared layer's gradient is their sum. This is why a
# shared layer learns from every place it is used; it is also why its updates can be larger than a single layer's.
#
# How does the rest of `nn.Module` see a layer registered under two names?

# %%
torch.manual_seed(0)
layer = nn.Linear(4, 4)
twice = nn.Sequential(layer, nn.Tanh(), layer)
print("parameters():", count_parameters(twice), "numbers in", len(list(twice.parameters())), "tensors")
print("named_parameters():", [n for n, _ in twice.named_parameters()])
print("named_parameters(remove_duplicate=False):", [n for n, _ in twice.named_parameters(remove_duplicate=False)])
print("state_dict():", list(twice.state_dict()))
assert count_parameters(twice) == 20 and len(list(twice.named_parameters(remove_duplicate=False))) == 4
assert list(twice.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]

# %% [markdown]
# `parameters()` counts the shared tensors once (so an optimiser updates them once); `state_dict()` lists them
# under both names. That raises a question worth measuring rather than guessing: when a saved `state_dict` is
# loaded back, does the sharing (the *tie*) survive? `tie_after_loading` tries two kinds of sharing between two
# `Linear(3, 3)` attributes `a` and `b` — one module under two names (`b` *is* `a`, as above: 12 numbers), and one
# weight `Parameter` assigned to two different modules (`b.weight = a.weight`, biases separate: 9 + 3 + 3 = 15
# numbers; language models tie their input embedding to their output layer this way) — with two kinds of
# `state_dict`: the model's own, saved and loaded through an in-memory file, and one whose two weight entries
# differ (from an untied model, or edited). Each is loaded with `load_state_dict`, which copies values into the
# existing tensors, and with `load_state_dict(..., assign=True)`, which replaces the module's tensors by the loaded
# ones (used to load into a model whose tensors were never allocated, to save memory). The column `numbers` is
# `count_parameters` afterwards; `weights hold` says which saved entry `a.weight` and `b.weight` hold: `both`
# (the entries were equal), `b.weight` (both hold that one), or `each its own`.

# %%
ties = tie_after_loading()
print(f"{'sharing':25s} {'state_dict':21s} {'method':16s} {'tied':6s} {'numbers':8s} weights hold")
for row in ties:
    print(f"{row.sharing:25s} {row.source:21s} {row.method:16s} {str(row.tied):6s} {row.n_parameters:<8d} {row.value}")
by_key = {(r.sharing, r.source, r.method): r for r in ties}
assert all(r.tied for r in ties if r.sharing == "one module, two names")
assert all(r.tied == (r.method == "load_state_dict") for r in ties if r.sharing == "one weight, two modules")
assert all(r.n_parameters == 24 for r in ties if not r.tied)
assert all(r.n_parameters == (12 if r.sharing == "one module, two names" else 15) for r in ties if r.tied)
assert by_key[("one weight, two modules", "entries differ", "load_state_dict")].value == "b.weight"
assert by_key[("one weight, two modules", "entries differ", "assign=True")].value == "each its own"

# %% [markdown]
# What we found, in PyTorch 2.13 (the first cell printed the version):
#
# * Plain `load_state_dict` keeps every tie: it copies values *into* the existing tensors. If the two entries
#   differ, both copies land in the same tensor and the **last one wins, silently** (`b.weight` here).
# * `assign=True` keeps a tie made by reusing a *module* (the module object is shared, so there is only one
#   `weight` attribute to assign), but **breaks a tie made by sharing a `Parameter` between two modules** — even
#   when loading the model's own saved state. Afterwards `parameters()` counts the weight twice (24 numbers instead
#   of 15) and each copy gets its own gradient. Re-tie after loading (`model.b.weight = model.a.weight`), as
#   libraries with tied embeddings do.
#
# ## 5. `state_dict`: what is saved, and what it is
#
# A **`state_dict`** is an ordered dictionary from names to tensors: every parameter and every persistent buffer.
# Here it is for a two-block pre-norm residual network from the book's builder:

# %%
small = build_network(2, 4, shortcut=True, norm="pre", seed=0)
for name, tensor in small.state_dict().items():
    print(f"{name:25s} {tuple(tensor.shape)}")
assert "blocks.0.gain" in small.state_dict() and "blocks.0.gain" not in dict(small.named_parameters())

# %% [markdown]
# `blocks.0.gain` is the residual branch gain $g$: a buffer (saved, not trained). Saving a network means saving
# this dictionary (`torch.save(net.state_dict(), file)`) and loading means building the same architecture and
# calling `load_state_dict`. `round_trip` does this through an in-memory file (its helper `_saved` is
# `torch.save` into a `BytesIO` buffer, then `torch.load` back), into a copy whose parameters were first overwritten
# with fresh random numbers:

# %%
print(inspect.getsource(round_trip))
net = build_network(6, 32, shortcut=True, norm="post", learn_gain=True, seed=0)
restored = round_trip(net, torch.randn(16, 32))
print("identical outputs after save and load:", restored)
assert restored

# %% [markdown]
# One more property surprises people: the tensors in a `state_dict` are not copies. They are the live
# parameters (detached from autograd, but sharing memory). Editing one edits the model; to keep a snapshot,
# copy:

# %%
torch.manual_seed(0)
lin = nn.Linear(3, 3)
state = lin.state_dict()
snapshot = {name: t.clone() for name, t in lin.state_dict().items()}
state["weight"].zero_()
print("model weight after zeroing the state_dict entry:", lin.weight.abs().sum().item())
print("snapshot weight still intact:", bool(snapshot["weight"].abs().sum() > 0))
assert lin.weight.abs().sum().item() == 0 and snapshot["weight"].abs().sum() > 0

# %% [markdown]
# ## 6. Initialisation with `apply`, and the `.data` trap
#
# `net.apply(fn)` calls `fn` on every module in the tree. In which order?

# %%
nested = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Linear(2, 1))
order = apply_order(nested)
print("apply visits:", [name or "(the whole net)" for name in order])
assert order == ["0.0", "0.1", "0", "1", ""]

# %% [markdown]
# Children first, then their parent, the whole network last (a *post-order* walk). For initialisation the order
# rarely matters, as long as `fn` only touches the module it is given. Chapter 3's schemes live in
# `utils/initializers.py` as `init_linear(layer, scheme, sigma_w2)`. `init_with_apply` applies one to an ordinary
# `nn.Sequential(Linear(512, 256), ReLU, Linear(256, 256), ReLU, Linear(256, 64))` with
# `net.apply(lambda m: init_linear(m, scheme, sigma_w2=2.0) if isinstance(m, nn.Linear) else None)` (the `if`
# skips the ReLUs and the containers) and measures each weight matrix's variance against its law from chapter 3
# ($n_{in}$ and $n_{out}$ are the layer's fan-in and fan-out, its numbers of inputs and outputs; chapter 3 writes
# a variance as $\sigma_w^2/n_{in}$, so the *weight variance* $\sigma_w^2$ is the variance times the fan-in):
# `default` (PyTorch's own) $1/(3n_{in})$, `lecun` $1/n_{in}$, `xavier_uniform` (Xavier or Glorot)
# $2/(n_{in} + n_{out})$, and `he` (He or Kaiming, made for ReLU) and `orthogonal` (a random orthogonal matrix,
# one whose singular values are all 1, scaled) $\sigma_w^2/n_{in} = 2/n_{in}$:

# %%
checks = [init_with_apply(scheme, sizes=(512, 256, 256, 64))
          for scheme in ("default", "lecun", "xavier_uniform", "he", "orthogonal")]
for check in checks:
    cells = "  ".join(f"{m:.3g} ({p:.3g})" for m, p in zip(check.measured, check.predicted))
    print(f"{check.scheme:15s} measured (law): {cells}   worst {check.max_rel_error:.1%}")
sampling = np.sqrt(2 / (256 * 64))  # relative spread of a variance estimated from N Gaussian numbers: sqrt(2/N)
print(f"sampling error of a variance over 256*64 = 16,384 Gaussian numbers: {sampling:.1%}")
# Seeds 0-4: the worst error over all schemes is 0.75% to 1.36% (0.90% here); orthogonal's at most 6e-5
assert all(check.max_rel_error < 0.05 for check in checks) and round(sampling, 2) == 0.01
assert max(check.max_rel_error for check in checks) < 0.02 and checks[-1].max_rel_error < 5e-4

# %% [markdown]
# Every measured variance is within 5% of its law; in fact within about 1% (0.9% here, at most 1.4% over five
# seeds), the sampling error of a variance estimated from the $n_{in} n_{out} \ge 16{,}384$ numbers of one matrix.
# The `orthogonal` line shows 0.0%: all rows of a (scaled) orthogonal matrix have the same fixed length, so the
# sum of its squared entries is set, not sampled.
#
# ### The `.data` trap
#
# Old tutorials read or write `weight.data` to get at a parameter's values without autograd noticing. Inside
# `forward` that is a trap: the result no longer depends on the parameter as far as autograd knows. `data_trap`
# builds `nn.Sequential(Linear(4, 4), last)` twice from the same random numbers, once with `last` a
# `DataTrapLinear(4, 1)` and once with an ordinary `Linear(4, 1)`, and backpropagates the same loss through both:

# %%
print(inspect.getsource(DataTrapLinear))
trap = data_trap()
print("trap: last layer's weight.grad =", trap.trap_last)
print("fix:  last layer's weight.grad =", trap.fix_last)
print("layer below gets the same gradient in both:", torch.equal(trap.trap_first, trap.fix_first))
assert trap.trap_last is None and trap.fix_last is not None and torch.equal(trap.trap_first, trap.fix_first)

# %% [markdown]
# The trap layer gets no gradient at all (`None`), and nothing fails: the gradient still flows *through* it to the
# layer below, which trains normally, so the loss still falls and the bug can go unnoticed. The fix is to use the
# parameter itself (`self.weight`). To change parameter values outside `forward` (initialisation, a manual update),
# use a `with torch.no_grad():` block, as `init_linear` does.
#
# ## 7. The book's library, opened
#
# Everything in chapters 1–3 ran on three short classes in `utils/blocks.py`. Here they are, read from the
# installed module (`check_choice` and `check_number` only reject bad arguments with a clear message;
# `get_activation(name).make_module()` returns the activation as a module, such as `nn.ReLU()`).

# %%
for obj in (PlainBlock, ResidualBlock, Network):
    print(inspect.getsource(obj))

# %% [markdown]
# `PlainBlock` is $h \mapsto \phi(W\,\mathrm{norm_{in}}(h) + b)$ followed by $\mathrm{norm_{out}}$; both norms are
# `nn.Identity` unless asked for. `ResidualBlock` *inherits* from it, reuses `branch` as $F(h)$, and only changes
# `forward` to $h + g\,F(h)$: so a **pre-norm residual** block is $h + g\,\phi(W\,\mathrm{LN}(h) + b)$ and a **post-norm
# residual** block is $\mathrm{LN}(h + g\,\phi(Wh + b))$. The gain $g$ is a buffer unless `learn_gain=True`, which
# makes it a `Parameter` (chapter 2's ReZero: a learned gain that starts at 0). `Network` keeps the blocks in an
# `nn.ModuleList` (§1 showed why not a list). The builder:

# %%
print(inspect.getsource(build_network))

# %% [markdown]
# ### How the probes read every layer: hooks
#
# A **forward hook** is a function that `nn.Module.__call__` runs right after a module's `forward`, with the
# module, its inputs and its output; `register_forward_hook` returns a handle that removes it. A **tensor hook**
# (`tensor.register_hook(fn)`) runs during the backward pass with the gradient of the loss with respect to that
# tensor. `utils/probes.py` combines the two: a forward hook on every block records $h_l$ and registers a tensor
# hook on it, which records $\partial \ell/\partial h_l$, with $\ell$ the loss. Here are the lines of `probe_network`
# that do this: the two hooks, and the loop that attaches them, runs the network forward and backward once, and
# removes them again.
# (The rest of the function, left out, is bookkeeping: `_float64` copies a tensor to float64 on the CPU,
# `_finite_stats` turns it into its mean, standard deviation and histogram, and a third hook, `on_activation`,
# records the fraction of inactive units.)

# %%
source = inspect.getsource(probe_network)
hooks = source[source.index("    def on_block"):source.index("    def on_activation")]
attach = source[source.index("    for i, block"):source.index("    grad_w")]
print(hooks + "    ...\n\n" + attach)

# %% [markdown]
# Do the hooks read the right numbers? Without any hooks, we can keep every block's output, ask autograd to keep
# its gradient (`retain_grad()`) and read both after `backward()` (`manual_probe`). On a 6-block pre-norm tanh network:

# %%
probe_net = build_network(6, 16, activation="tanh", shortcut=True, norm="pre", seed=0)
gen = torch.Generator().manual_seed(1)
xs, readout = torch.randn(32, 16, generator=gen), torch.randn(16, generator=gen)
probe = probe_network(probe_net, xs, lambda h: (h @ readout).mean())
stds, grads = manual_probe(probe_net, xs, lambda h: (h @ readout).mean())
err_std = np.max(np.abs(probe.act_std / np.array(stds) - 1))
err_grad = np.max(np.abs(probe.grad_act_norm / np.array(grads) - 1))
print("hooks vs manual, max relative difference below 1e-6:",
      f"activation std {err_std < 1e-6}, gradient norm {err_grad < 1e-6}")
assert err_std < 1e-6 and err_grad < 1e-6

# %% [markdown]
# Why a tensor hook rather than PyTorch's **full backward hook** (`register_full_backward_hook`), which hands over a
# module's output gradient directly? Because a full backward hook wraps the module's output, and a following
# in-place operation (such as `nn.ReLU(inplace=True)`, which overwrites its input to save memory) then fails.
# `backward_hook_pitfall` reads the gradient $\partial \ell/\partial z$ at the output $z$ of a `Linear` followed by an
# in-place ReLU, with the loss $\ell$ the sum of the ReLU's outputs, both ways, and compares the reading with the
# answer worked out by hand ($\partial \ell/\partial z = 1$ where $z > 0$, else 0):

# %%
pitfall = backward_hook_pitfall()
print("full backward hook:", pitfall["full backward hook error"])
print("forward hook + tensor hook reads the hand-worked gradient:", pitfall["tensor hook correct"])
assert "modified inplace" in pitfall["full backward hook error"] and pitfall["tensor hook correct"]

# %% [markdown]
# (One more pitfall: a forward hook that *returns* something replaces the module's output with it.
# `z.register_hook(...)` returns a handle, so `lambda m, i, z: z.register_hook(f)` would silently make the
# handle the output. Hooks should return `None`.)
#
# ### Many networks as one computation
#
# Chapter 3's phase diagrams probe hundreds of networks. `utils/sweep.py` does not build them as modules at all: it
# stacks the random weight matrices of every network (one per random seed) into one tensor of shape
# (seeds, depth, width, width) and runs each layer for all networks as one batched matrix product (`torch.bmm`).
# Layer $l$'s weights are $\sigma_w W^0_l$: one random matrix $W^0_l$ per seed, scaled by each weight scale
# $\sigma_w$ (chapter 3). Without modules there is nothing for hooks to attach to, so the backward pass is written
# out by the chain rule,
# $\partial \ell/\partial h_{l-1} = \sigma_w\,W_l^{0\top}(\phi'(z_l) \odot \partial \ell/\partial h_l)$, where $z_l$ is
# layer $l$'s *pre-activation*, the value it feeds to its activation $\phi$, and $\odot$ multiplies entry by entry.
# `sweep_by_loop` measures the same networks the slow way, one `build_network` model at a time with autograd. Both
# on 3 weight variances x 2 seeds, 20 ReLU layers:

# %%
settings = dict(activation="relu", sigma_w2=(1.0, 2.0, 4.0), depth=20, width=32, seeds=2, batch=16, device="cpu")
batched, looped = sweep(**settings), sweep_by_loop(**settings)
err = float(np.max(np.abs(batched.grad_norm / looped.grad_norm - 1)))
print("gradient norms, batched vs looped, max relative difference:", "< 1e-5" if err < 1e-5 else f"{err:.2g}")
print("log10 first/last gradient ratio, seed 0, σ_w² = 1, 2, 4:",
      ", ".join(f"{v:.2f}" for v in looped.log10_ratio[:, 0, -1]))
assert err < 1e-5
assert looped.log10_ratio[0, 0, -1] < -2 and abs(looped.log10_ratio[1, 0, -1]) < 1 and looped.log10_ratio[2, 0, -1] > 2

# %% [markdown]
# The two agree to float32 rounding (they add the same numbers in a different order), and reproduce chapter 1:
# $\sigma_w^2 = 1$ vanishes, 2 (He) stays within a factor of ten, 4 explodes.
#
# ## 8. Explorer: the block builder
#
# Now the pieces together. Pick a block type, stack $L$ of them at width $n$, and see the module tree
# (`print(net)`; PyTorch itself folds identical blocks into one line, "(0-29): 30 x ..."), the parameter count with
# its formula, and chapter 1's gradient-flow plot of exactly that network, built with PyTorch's default
# initialisation (as you get it from `nn.Linear`) and measured as in chapter 1: a batch of 128 Gaussian inputs,
# a fixed random linear readout as the loss. Its key number is chapter 1's gradient ratio
# $\|\partial \ell/\partial h_1\| / \|\partial \ell/\partial h_L\|$ between the first and the last block
# ($\ell$ the loss, $L$ the number of blocks), called healthy between 0.1 and 10 (chapter 1's green band); below
# that band the gradient *vanishes* on its way down, above it it *explodes*. The fifth type is the transformer
# layer of chapter 2 (`utils/norm_placement.py`: self-attention and an MLP, each in a pre-norm residual branch).
# Self-attention mixes the tokens of a sequence: each token's output is a weighted average of all tokens' vectors,
# with weights computed from the tokens themselves (chapter 2, §4). Ours splits the width over `HEADS` = 4
# attention *heads*, independent attentions on a quarter of the features each, so the width must be a multiple of 4.
# First the four block types of `utils/blocks.py` at the explorer's defaults, 30 blocks of width 64 with ReLU:

# %%
builds = {block: block_builder(block, blocks=30, width=64, activation="relu", batch=128, device="cpu")
          for block in list(BLOCK_TYPES)[:4]}
for block, build in builds.items():
    print(f"{block:20s} {build.n_parameters:>9,} parameters = {build.formula:28s} "
          f"first/last gradient {build.flow.ratio:.3g} ({build.flow.verdict})")
fig, axes = new_figure(2)
plot_block_types(list(builds.values()), axes)
ratios = {block: build.flow.ratio for block, build in builds.items()}
per_layer = np.sqrt(1 / 6)  # ReLU with weight variance 1/(3n): sigma_w^2 / 2 = 1/6 in mean square
spread = builds["residual"].flow.probe.act_std
print(f"per layer sqrt(1/6) = {per_layer:.2f}; 29 layers: {per_layer**29:.0e}; "
      f"residual activation spread, block 30 / block 1: {spread[-1] / spread[0]:.0f}")
# Seeds 0-4: plain 1.3e-12 to 7.5e-12 (11.1 to 11.9 decades, within 0.6 decades of 0.41^29); residual 13 to 52,
# its activation spread 182- to 251-fold; pre-norm 2.7 to 3.2, post-norm 1.6 to 2.2
assert round(per_layer, 2) == 0.41 and f"{per_layer**29:.0e}" == "5e-12" and 1e-12 < ratios["plain"] < 1e-11
assert 10.8 < -np.log10(ratios["plain"]) < 12.2 and abs(np.log10(ratios["plain"]) - 29 * np.log10(per_layer)) < 0.8
growth = spread[-1] / spread[0]
assert 10 < ratios["residual"] < 80 and 100 < growth < 400 and ratios["residual"] < growth
assert 1 < ratios["pre-norm residual"] < 10 and 1 < ratios["post-norm residual"] < 10
assert builds["plain"].n_parameters == builds["residual"].n_parameters == 30 * (64**2 + 64) and HEADS == 4

# %% [markdown]
# The same layers, arranged differently. The plain stack loses eleven to twelve decades (powers of ten) of gradient
# over 30 layers: chapter 3's finding that PyTorch's default, weight variance $\sigma_w^2 = 1/3$ (weights of variance
# $1/(3n)$), is far below ReLU's neutral $\sigma_w^2 = 2$. Each layer multiplies the gradient's length by about
# $\sqrt{(1/3)/2} = \sqrt{1/6} \approx 0.41$, and $0.41^{29} \approx 5\times10^{-12}$, close to the measured
# $3.6\times10^{-12}$ here ($1.3$ to $7.5\times10^{-12}$ over five seeds, within a factor of four). (Its forward
# spread, left, levels off instead of vanishing: PyTorch's default biases add fresh signal in every layer,
# chapter 3 §2. Nothing adds to the gradient on the way back.)
#
# Adding the identity path (one line in `forward`, no extra parameters) turns each layer's factor from $J$ into
# $I + J$ (chapter 2), with $J$ the layer's *Jacobian*, the matrix of derivatives of its output with respect to its
# input. Now nothing vanishes: in mean square a residual block can never shrink the gradient, so it
# *grows* towards the input instead, about 13× here (13× to 52× over five seeds). That is outside the band, so
# the verdict reads "exploding", though it is mild next to the forward signal, whose spread grows more than a
# hundredfold (180- to 250-fold over five seeds). A LayerNorm inside the block (pre-norm: $2n$ more numbers per
# block) or after the addition (post-norm) keeps the signal's scale in check, and the ratio stays within the
# healthy band. With the initialisation fixed, the way the code arranges the same layers decides which of
# chapters 1–2's regimes you are in.
#
# The explorer below shows one network at a time: its tree, its count and its gradient flow. At its defaults
# (30 residual blocks of width 64, ReLU) it draws this:

# %%
fig, axes = new_figure(3)
plot_block_builder(builds["residual"], axes)

# %%
# NBVAL_IGNORE_OUTPUT
block_builder_explorer()

# %% [markdown]
# Without a kernel (on the book's website, say) the explorer above cannot re-run; the one below
# plays anyway, over pictures computed when this notebook ran.

# %%
# NBVAL_IGNORE_OUTPUT
block_types = ["plain", "residual", "pre-norm residual", "post-norm residual"]
precomputed_explorer(block_builder_explorer(device="cpu"), "block", block_types)

# %% [markdown]
# **Predict, then check.** (1) With block type *plain* and activation *tanh*, will 30 blocks vanish as fast as ReLU?
# (2) Choose *transformer (pre-norm)* and width 30: what happens, and which widths work? (3) How does the parameter
# count change when you double the width, and when you double the number of blocks?
#
# ## 9. Common claims, checked
#
# > **"The repeated parts of ResNet-152 are called layer groups."** You may meet this phrase in notes on d2l's
# > "Layers and Modules" section. *An informal description, not a term.* d2l says ResNet-152's hundreds of layers
# > "consist of repeating patterns of *groups of layers*" (Zhang et al., *Dive into Deep Learning*, §6.1; the
# > Chinese edition, §5.1 "层和块", renders this as 层组, "layer group") and then introduces the word **block**
# > for such components. The groups themselves have names. The ResNet paper (He et al., 2016, Table 1) calls them
# > **conv2_x** to **conv5_x** (in ResNet-152, stacks of 3, 8, 36 and 3 identical "bottleneck" blocks);
# > torchvision's `torchvision/models/resnet.py` calls them **`layer1`–`layer4`**, each an `nn.Sequential`; RegNet
# > (Radosavovic et al., 2020, §3.2) and d2l's own §8.8 call them **stages**: "each stage consists of a sequence of
# > identical blocks, except the first block which uses stride-two conv". "Stage" is the field-standard word.
#
# > **"Residual modules solved the vanishing/exploding-gradient problem of deep networks."** *Misleading as
# > history.* The ResNet paper says the vanishing/exploding-gradient problem "has been largely addressed by
# > normalized initialization and intermediate normalization layers", and about its deep *plain* baselines (no
# > shortcuts), trained with batch normalisation: "We argue that this optimization difficulty is unlikely to be
# > caused by vanishing gradients" (He et al., 2016, §1 and §4.1). What residual connections fixed was the
# > *degradation* problem: deeper plain networks training worse. Without normalisation, this chapter's explorer
# > shows both sides: shortcuts rescue a vanishing stack, and unnormalised residual ReLU stacks drift towards
# > exploding (§8; chapter 2 measures it).
#
# > **"Blocks take care of parameter initialisation and backpropagation."** *Half true.* `nn.Module` registers
# > parameters, and built-in layers initialise their own in `reset_parameters`. Backpropagation is autograd's: §1
# > showed gradients reaching layers hidden in a plain list, which `nn.Module` does not even know about.
#
# > **"`Sequential` stores its children in an `OrderedDict` (`_modules`)."** *Outdated.* In PyTorch 2.13,
# > `_modules` is a plain `dict` (§1 printed its type); it keeps insertion order because every Python dict does
# > (guaranteed since Python 3.7).
#
# ## What we saw
#
# * `nn.Module` is one abstraction for layers, blocks and models. Assigning a module or `Parameter` to an attribute
#   registers it; everything else (`parameters()`, `.to()`, `state_dict`, printing) walks that registry. A plain list
#   hides layers from all of it, though autograd still backpropagates through them.
# * Parameters are trained, moved and saved; buffers are moved and saved (unless `persistent=False`); plain tensor
#   attributes are neither moved nor saved — a bug waiting for the first GPU (or `.to(float64)`).
# * Python control flow in `forward` runs eagerly; tracing records one path (here: 5 halvings) and disagrees on
#   other inputs with only a warning, and `torch.jit.trace` is deprecated in PyTorch 2.13.
# * A layer used twice gets the sum of both uses' gradients. `parameters()` counts it once, `state_dict` lists it
#   twice; `load_state_dict` keeps ties (the last entry wins), `assign=True` breaks ties between modules that share a
#   `Parameter`.
# * A `state_dict` holds live tensors: copy for a snapshot. `apply` visits children before parents. Reading
#   `weight.data` in `forward` silently cuts that weight out of training.
# * The book's library is three small classes and a builder; its parameter count is
#   $L(n^2 + n + 2n[\text{norm}] + [\text{residual, gain learned}])$; its probes are forward hooks plus tensor hooks,
#   equal to a manual backward pass. The same layers as a plain stack vanish; as residual blocks they grow; with a
#   LayerNorm they stay healthy.
#
# ## Exercises
#
# 1. *(predict, then check)* Register `FixedHiddenMLP`'s $R$ as a buffer instead. Which lines of the table in §2
#    change for it? Check with `.to(torch.float64)` and `state_dict()`.
# 2. Write `ParallelBlock(a, b)` whose `forward` returns `torch.cat([a(x), b(x)], dim=-1)`. Predict its parameter
#    count for two `Linear(16, 8)` layers, then count.
# 3. *(predict, then check)* Which scales between 0.01 and 100 give a traced output equal to the eager one? Pass
#    your own `scales` to `trace_disagreement` (the trace is always recorded on the unscaled example, which takes
#    5 halvings at the default seed) and compare them with its `halvings`.
# 4. The transformer block has $12n^2 + 13n$ parameters per layer. Derive it: its attention holds
#    `nn.MultiheadAttention`'s `in_proj_weight` ($3n \times n$), `in_proj_bias` and `out_proj` (a `Linear(n, n)`);
#    its MLP is `Linear(n, 4n)`, activation, `Linear(4n, n)`; and it has two LayerNorms. Check with
#    `block_builder("transformer (pre-norm)", blocks=1, width=8, device="cpu").n_parameters`.
# 5. Build two `Linear(4, 4)` layers that share one weight `Parameter`, save the model's `state_dict`, load it into a
#    fresh model with `assign=True`, and re-tie the weights. Verify with `count_parameters`.
# 6. *(predict, then check)* In §8 the residual ReLU stack's activation spread grows more than a hundredfold over
#    30 blocks. Every ReLU branch adds a vector with no negative entries. Predict what happens to the *mean* of
#    $h_l$ with depth, then check with `block_builder("residual", device="cpu").flow.probe.act_mean`. Does a tanh
#    branch (which can be negative) grow as fast?
#
# ## References
#
# * A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, §6.1 "Layers and Modules" (Chinese
#   edition §5.1 "层和块"), §8.8 "Designing Convolution Network Architectures".
# * K. He, X. Zhang, S. Ren, J. Sun (2016), Deep residual learning for image recognition, *CVPR* (Table 1, §4.1).
# * I. Radosavovic, R. P. Kosaraju, R. Girshick, K. He, P. Dollár (2020), Designing network design spaces, *CVPR*.
# * torchvision, `torchvision/models/resnet.py` (`ResNet._make_layer`, `layer1`–`layer4`).
# * PyTorch documentation: `torch.nn.Module` (`register_buffer`, `state_dict`, `load_state_dict(assign=...)`,
#   `apply`, `register_forward_hook`, `register_full_backward_hook`), "Autograd mechanics" (tensor hooks and
#   in-place operations), `torch.jit.trace`, `torch.export`.
