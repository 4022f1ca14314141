# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 5 — Activation as pruning
#
# This assignment goes with chapter 5. It takes 40–60 minutes. Seven tasks, 14 points.
#
# * Write your answer where it says `YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# * The cell after each answer holds tests; run it to check your answer. Passing them is a good sign,
#   not a guarantee: the grader also runs hidden tests on other settings.
# * Keep the names the tasks ask for, do not edit or delete the test cells, and do not print warnings:
#   a test cell whose output holds an error or a warning scores 0.
# * Before you submit: *Kernel → Restart and run all*, and check that every cell runs.
#
# No task trains a network: the networks here are the chapter's digits MLP (64 pixels → 128 → 128 → 10
# class scores, ReLU) at its seeded initialisation, `digits_mlp(seed=...)`. It is `Sequential(body, head)`;
# `body.blocks` holds the hidden blocks, and block `l` computes `block.act(block.linear(h))`.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math
import warnings

import numpy as np
import torch
import torch.nn.utils.prune as prune
from torch import nn

import utils
from utils.digits import digits_mlp, digits_split

warnings.filterwarnings("ignore")
x_train, y_train, x_test, y_test = digits_split()  # (1348, 64) and (449, 64) images, pixels in [0, 1]

# %% [markdown]
# ## Task 1 — ReLU's mask D(x) (2 points)
#
# A ReLU layer computes $h' = D(x)\,(W h + b)$ with $D(x) = \operatorname{diag}(\mathbb 1[z > 0])$, where
# $z = W h + b$ is the pre-activation: each input switches on its own set of units. Write
# `relu_masks(model, x)`: for every hidden block of `model` (a `digits_mlp`), the diagonal of $D(x)$ for every
# row of `x`, as a bool tensor of shape `(len(x), units)` that is `True` where $z > 0$. Return the list, first
# block first. Remember that block 2's input is block 1's *output*.

# %% nbgrader={"grade": false, "grade_id": "relu_masks", "locked": false, "schema_version": 3, "solution": true}
def relu_masks(model, x):
    """[D(x) of block 1, D(x) of block 2, ...], each a bool tensor (len(x), units)."""
    ### BEGIN SOLUTION
    masks, h = [], x
    with torch.no_grad():
        for block in model[0].blocks:
            z = block.linear(h)
            masks.append(z > 0)
            h = block.act(z)
    return masks
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "relu_masks_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from utils.activation_masks import activation_masks


def check_masks(model, x):
    expected = activation_masks(model, x)
    got = relu_masks(model, x)
    assert len(got) == len(expected), f"one mask per hidden block: {len(expected)}, got {len(got)}"
    for layer, (g, e) in enumerate(zip(got, expected), start=1):
        assert g.dtype == torch.bool and g.shape == e.shape, f"layer {layer}: a bool tensor of shape {tuple(e.shape)}"
        assert torch.equal(g.cpu(), e), f"layer {layer}: {int((g.cpu() != e).sum())} entries differ"


check_masks(digits_mlp(seed=0).double(), x_test[:50].double())
### BEGIN HIDDEN TESTS
check_masks(digits_mlp(seed=3).double(), x_train.double())
check_masks(digits_mlp(hidden=32, depth=4, seed=1).double(), x_test.double())
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 — The overlap of two active sets (2 points)
#
# The *Jaccard index* of two sets $A$ and $B$ is $|A \cap B| / |A \cup B|$: 1 for the same set, 0 for disjoint
# sets. Write `jaccard(a, b)` for two bool vectors of the same length (the active units of two inputs in one
# layer): return it as a Python float. When both sets are empty, return 1.0 (they are the same set).

# %% nbgrader={"grade": false, "grade_id": "jaccard", "locked": false, "schema_version": 3, "solution": true}
def jaccard(a, b):
    """|a ∩ b| / |a ∪ b| of two bool vectors; 1.0 when both are empty."""
    ### BEGIN SOLUTION
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "jaccard_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from utils.activation_masks import activation_masks, jaccard_matrix


def check_jaccard(a, b):
    expected = float(jaccard_matrix(torch.stack([a, b]))[0, 1])
    got = jaccard(a, b)
    assert isinstance(got, float), f"return a Python float, got {type(got).__name__}"
    assert math.isclose(got, expected, rel_tol=1e-12), (got, expected)


check_jaccard(torch.tensor([True, True, False, False]), torch.tensor([True, False, True, False]))
### BEGIN HIDDEN TESTS
check_jaccard(torch.zeros(5, dtype=torch.bool), torch.zeros(5, dtype=torch.bool))
check_jaccard(torch.tensor([True, False]), torch.tensor([False, True]))
images = x_test[:2].double()
first_layer = activation_masks(digits_mlp(seed=0).double(), images)[0]
check_jaccard(first_layer[0], first_layer[1])
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 — Two unrelated inputs (1 point)
#
# *Predict, then check:* take a wide layer with random symmetric weights and a small bias, and two independent
# random inputs. Each unit is then on for each input with probability about $\tfrac12$, independently of the
# other input. What Jaccard index do you expect between the two inputs' active sets? Work it out (what fraction
# of units is on for both? for at least one?), store the number in `random_overlap`, and check it by measuring
# it on `nn.Linear(512, 2048)` with a few pairs of `torch.randn(512)` inputs. (A trained network's same-digit
# images score far above this number: their active sets are not independent.)

# %% nbgrader={"grade": false, "grade_id": "random_overlap", "locked": false, "schema_version": 3, "solution": true}
# random_overlap = ...
### BEGIN SOLUTION
random_overlap = 1 / 3
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "random_overlap_test", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from utils.activation_masks import jaccard_matrix

assert 0 <= random_overlap <= 1, "a Jaccard index lies between 0 and 1"
### BEGIN HIDDEN TESTS
torch.manual_seed(5)
wide = nn.Linear(512, 2048)
with torch.no_grad():
    active = wide(torch.randn(20, 512)) > 0
jac = jaccard_matrix(active)
measured_overlap = float(jac[~torch.eye(20, dtype=torch.bool)].mean())
assert abs(random_overlap - measured_overlap) < 0.03, (random_overlap, measured_overlap)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 — GELU from the error function (2 points)
#
# GELU (Hendrycks & Gimpel, 2016) gates its input by the probability that a standard normal variable lies
# below it: $\mathrm{GELU}(x) = x\,\Phi(x)$, where $\Phi(x) = \tfrac12\big(1 + \operatorname{erf}(x/\sqrt2)\big)$ is
# the standard normal CDF. Write `gelu(x)` for a tensor `x` of any shape and floating dtype with `torch.erf`
# (not with `torch.nn.functional.gelu` or `nn.GELU`, which the grader switches off), returning a tensor of
# the same shape and dtype.

# %% nbgrader={"grade": false, "grade_id": "gelu", "locked": false, "schema_version": 3, "solution": true}
def gelu(x):
    """x Φ(x), elementwise, with Φ written with torch.erf."""
    ### BEGIN SOLUTION
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gelu_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_gelu(x):
    reference = torch.nn.functional.gelu(x)
    builtin, torch.nn.functional.gelu = torch.nn.functional.gelu, None  # the grader switches it off
    try:
        got = gelu(x)
    finally:
        torch.nn.functional.gelu = builtin
    assert got.shape == x.shape and got.dtype == x.dtype, (got.shape, got.dtype)
    tol = 1e-12 if x.dtype == torch.float64 else 1e-6
    assert torch.allclose(got, reference, rtol=tol, atol=tol), float((got - reference).abs().max())


check_gelu(torch.linspace(-5, 5, 101, dtype=torch.float64))
### BEGIN HIDDEN TESTS
check_gelu(torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(0)) * 4)
facts = utils.activation_masks.gelu_facts(draws=2)  # the dip, found by Newton's method in the book
dip = gelu(torch.tensor([facts.dip_at], dtype=torch.float64))
assert abs(float(dip[0]) - facts.dip_value) < 1e-12
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 — A pruning method of your own (3 points)
#
# `torch.nn.utils.prune` lets you define a pruning method by subclassing `prune.BasePruningMethod` and
# writing `compute_mask(self, t, default_mask)`: given the weight tensor `t` (for a linear layer, shape
# `(out_features, in_features)`: one row per unit) and the mask already in place, return the new 0/1 mask
# (same shape and dtype as `default_mask`). Chapter 5 shows `MagnitudeThreshold`, which needs an `apply`
# class method too, so that `Method.apply(module, "weight", ...)` works like `prune.l1_unstructured`.
#
# Write `RowSmallest`: it removes, **in each row** of the weight, the `k` weights of smallest magnitude, so that
# every unit keeps the same number of inputs (`prune.l1_unstructured` instead picks the smallest over the
# whole tensor). Set `PRUNING_TYPE = "unstructured"`, take `k` in `__init__`, keep what `default_mask` already
# removed removed (multiply by it), and give it an `apply(cls, module, name, k)` class method. Ties do not
# matter (the weights are random). `torch.topk` or `torch.argsort` will help.

# %% nbgrader={"grade": false, "grade_id": "row_smallest", "locked": false, "schema_version": 3, "solution": true}
class RowSmallest(prune.BasePruningMethod):
    """Prune the k smallest-magnitude weights of every row."""

    ### BEGIN SOLUTION
    PRUNING_TYPE = "unstructured"

    def __init__(self, k):
        self.k = k

    def compute_mask(self, t, default_mask):
        mask = default_mask.clone()
        if self.k > 0:
            smallest = t.abs().topk(self.k, dim=-1, largest=False).indices
            mask.scatter_(-1, smallest, 0)
        return mask

    @classmethod
    def apply(cls, module, name, k):
        return super().apply(module, name, k=k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "row_smallest_test", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_row_smallest(n_in, n_out, k, seed):
    torch.manual_seed(seed)
    layer = nn.Linear(n_in, n_out)
    weight = layer.weight.detach().clone()
    RowSmallest.apply(layer, "weight", k=k)
    assert prune.is_pruned(layer) and hasattr(layer, "weight_mask") and hasattr(layer, "weight_orig"), (
        "apply must go through BasePruningMethod.apply (weight_orig, weight_mask and the hook)")
    # the reference: torch's own L1 pruning of each row alone
    expected = torch.stack([prune.L1Unstructured(amount=k).compute_mask(row, torch.ones_like(row)) for row in weight])
    assert layer.weight_mask.shape == weight.shape, layer.weight_mask.shape
    assert torch.equal(layer.weight_mask, expected), f"{int((layer.weight_mask != expected).sum())} mask entries differ"
    assert torch.equal(layer.weight, weight * expected)


check_row_smallest(n_in=8, n_out=4, k=3, seed=0)
### BEGIN HIDDEN TESTS
check_row_smallest(n_in=64, n_out=128, k=40, seed=1)
check_row_smallest(n_in=5, n_out=3, k=0, seed=2)
check_row_smallest(n_in=5, n_out=3, k=5, seed=3)
default = (torch.arange(12).reshape(3, 4) % 3 != 0).float()  # what an earlier pruning removed stays removed
t = torch.randn(3, 4, generator=torch.Generator().manual_seed(4))
mask = RowSmallest(1).compute_mask(t, default)
assert torch.all(mask <= default) and mask.shape == default.shape
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 — Iterative pruning compounds (2 points)
#
# *Predict, then check:* `prune.l1_unstructured(layer, "weight", amount=0.3)` applied to a layer that is already
# pruned takes 30% of the weights that are *left* (torch rounds the count to the nearest whole number each time).
#
# * The first hidden layer of the digits MLP, `nn.Linear(64, 128)`, is pruned this way three times. How many
#   of its weights are kept? Store the whole number in `kept_after_three`.
# * How many such rounds of 30% does it take before at least 90% of the weights are gone? Store it in
#   `rounds_for_90`.
#
# Predict with pencil and paper first, then check with `prune.l1_unstructured` and `layer.weight_mask.sum()`.

# %% nbgrader={"grade": false, "grade_id": "iterative", "locked": false, "schema_version": 3, "solution": true}
# kept_after_three = ...
# rounds_for_90 = ...
### BEGIN SOLUTION
kept_after_three = round(64 * 128 * 0.7**3)
rounds_for_90 = math.ceil(math.log(0.1) / math.log(0.7))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "iterative_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def kept_after(rounds, layer):
    for _ in range(rounds):
        prune.l1_unstructured(layer, "weight", amount=0.3)
    return int(layer.weight_mask.sum())


assert 0 < kept_after_three < 64 * 128, "a count of weights, between 0 and 8192"
assert abs(kept_after_three - kept_after(3, nn.Linear(64, 128))) <= 1
### BEGIN HIDDEN TESTS
layer, rounds = nn.Linear(64, 128), 0
while rounds == 0 or int(layer.weight_mask.sum()) > 0.1 * layer.weight.numel():
    kept_after(1, layer)
    rounds += 1
assert rounds_for_90 == rounds, (rounds_for_90, rounds)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 7 — Dead units (2 points)
#
# A unit that is off for *every* input of a data set is **dead** on it: it passes nothing and, for ReLU, gets
# no gradient. Write `dead_fraction(model, x)`: for every hidden block of `model` (a `digits_mlp`), the fraction
# of its units that are off ($z \le 0$) for every row of `x`, as a NumPy array with one entry per block.
# Write the forward pass here rather than call `relu_masks`: each task is graded on its own.

# %% nbgrader={"grade": false, "grade_id": "dead_fraction", "locked": false, "schema_version": 3, "solution": true}
def dead_fraction(model, x):
    """Per hidden block: the fraction of units with z <= 0 for every row of x (an array, values in [0, 1])."""
    ### BEGIN SOLUTION
    fractions, h = [], x
    with torch.no_grad():
        for block in model[0].blocks:
            z = block.linear(h)
            fractions.append(float((~(z > 0).any(dim=0)).double().mean()))
            h = block.act(z)
    return np.array(fractions)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dead_fraction_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_dead(model, x):
    body = model[0]
    expected = utils.probe_network(body, x, lambda h: h.sum()).frac_dead  # the book's probe
    got = np.asarray(dead_fraction(model, x), dtype=float)
    assert got.shape == expected.shape, f"one fraction per hidden block: shape {expected.shape}, got {got.shape}"
    assert np.allclose(got, expected, rtol=0, atol=1e-12), (got, expected)


check_dead(digits_mlp(seed=0).double(), x_train.double())
### BEGIN HIDDEN TESTS
check_dead(digits_mlp(seed=2).double(), x_test.double())
shifted = digits_mlp(hidden=32, depth=3, seed=1).double()
with torch.no_grad():
    shifted[0].blocks[1].linear.bias -= 0.2  # pushes many units of block 2 below zero for every input
assert utils.probe_network(shifted[0], x_train.double(), lambda h: h.sum()).frac_dead[1] > 0.1
check_dead(shifted, x_train.double())
### END HIDDEN TESTS
