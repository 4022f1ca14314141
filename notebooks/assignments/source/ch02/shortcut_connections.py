# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 2 — Shortcut connections
#
# This assignment goes with chapter 2. It takes 40–60 minutes. Six tasks, 12 points.
#
# * Write your answer where it says `YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# * The cell after each answer holds tests; run it to check your answer. Passing them is a good sign,
#   not a guarantee: the grader also runs hidden tests on other settings.
# * Keep the names the tasks ask for, do not edit or delete the test cells, and do not print warnings:
#   a test cell whose output holds an error or a warning scores 0.
# * Before you submit: *Kernel → Restart and run all*, and check that every cell runs.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math
import warnings

import numpy as np
import torch
from torch import nn

import utils
from utils.residual_scaling import build_residual_stack, residual_theory

warnings.filterwarnings("ignore")

# %% [markdown]
# ## Task 1 — A residual block with a branch gain (2 points)
#
# Write the module `GainResidualBlock(width, activation, gain)` whose forward pass is
#
# $$h \mapsto h + g\,\phi(W h + b),$$
#
# with one `nn.Linear(width, width)` stored as `self.linear` (PyTorch's default initialisation is fine),
# the activation $\phi$ named by `activation` (`utils.get_activation(activation).fn` is the function) and the
# gain $g$ a plain number stored as `self.gain` (not a trained parameter).

# %% nbgrader={"grade": false, "grade_id": "gain_block", "locked": false, "schema_version": 3, "solution": true}
class GainResidualBlock(nn.Module):
    def __init__(self, width, activation="relu", gain=1.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.linear = nn.Linear(width, width)
        self.phi = utils.get_activation(activation).fn
        self.gain = gain
        ### END SOLUTION

    def forward(self, h):
        ### BEGIN SOLUTION
        return h + self.gain * self.phi(self.linear(h))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gain_block_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_block(width, activation, gain):
    torch.manual_seed(0)
    block = GainResidualBlock(width, activation, gain)
    reference = utils.ResidualBlock(width, activation, branch_gain=gain)
    reference.linear.load_state_dict(block.linear.state_dict())
    h = torch.randn(8, width, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(block(h), reference(h), atol=1e-6), f"{activation}, gain {gain}"
    assert sum(p.numel() for p in block.parameters()) == width * width + width, "only W and b are parameters"


check_block(16, "relu", 0.5)
### BEGIN HIDDEN TESTS
check_block(8, "tanh", 2.0)
check_block(8, "sigmoid", 0.0)
h = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
assert torch.equal(GainResidualBlock(8, "sigmoid", 0.0)(h), h), "with gain 0 the block is the identity"
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 — The block's Jacobian is $I + J$ (2 points)
#
# For one input vector $h$ (shape `(width,)`), the Jacobian of the block is
# $\partial h_{\text{out}} / \partial h = I + g\,\operatorname{diag}\big(\phi'(W h + b)\big)\, W$.
# Write `residual_jacobian(block, h, activation)` that returns this `width × width` matrix from the formula,
# for one of your `GainResidualBlock`s built with the activation named `activation`
# (`utils.get_activation(activation).slope` is $\phi'$). Do not call `torch.autograd`: the test uses it to check you.

# %% nbgrader={"grade": false, "grade_id": "jacobian", "locked": false, "schema_version": 3, "solution": true}
def residual_jacobian(block, h, activation):
    """d block(h) / d h for one input vector ``h`` (shape (width,)): a (width, width) tensor."""
    ### BEGIN SOLUTION
    slope = utils.get_activation(activation).slope(block.linear(h))
    return torch.eye(len(h)) + block.gain * slope[:, None] * block.linear.weight
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "jacobian_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_jacobian(width, activation, gain):
    torch.manual_seed(2)
    block = GainResidualBlock(width, activation, gain)
    h = torch.randn(width, generator=torch.Generator().manual_seed(3))
    expected = torch.autograd.functional.jacobian(block, h)
    got = residual_jacobian(block, h, activation).detach()
    assert got.shape == (width, width), got.shape
    assert torch.allclose(got, expected, atol=1e-5), f"{activation}, gain {gain}"


check_jacobian(6, "relu", 1.0)
### BEGIN HIDDEN TESTS
check_jacobian(5, "tanh", 0.5)
check_jacobian(4, "gelu", 3.0)
check_jacobian(4, "sigmoid", 0.0)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 — Does the "+1" stop the gradient from growing? (1 point)
#
# *Predict, then check:* every factor of the backward product is now $I + J$ instead of $J$. Does that
# guarantee that the gradient cannot *grow* on its way down a deep ReLU network with shortcuts
# ($\sigma_w^2 = 2$, 64 blocks)? Store `True` (it cannot grow) or `False` in `plus_one_prevents_growth`.
# Then check with `utils.gradient_flow(depth=64, activation="relu", sigma_w2=2.0, shortcut=True)`.

# %% nbgrader={"grade": false, "grade_id": "growth", "locked": false, "schema_version": 3, "solution": true}
# plus_one_prevents_growth = True or False
### BEGIN SOLUTION
plus_one_prevents_growth = False
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "growth_test", "locked": true, "points": 1, "schema_version": 3, "solution": false}
assert plus_one_prevents_growth in (True, False)
### BEGIN HIDDEN TESTS
flow = utils.gradient_flow(depth=64, width=128, activation="relu", sigma_w2=2.0, shortcut=True, device="cpu")
assert plus_one_prevents_growth == (flow.ratio <= 1.0)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 — Forward variance of five residual stacks (3 points)
#
# Chapter 2's residual stack has two-layer ReLU branches, $h_l = h_{l-1} + g\,W_2\,\mathrm{relu}(W_1 N(h_{l-1}))$
# with $W_1 \sim \mathcal N(0, 2/n)$ (He), $W_2 \sim \mathcal N(0, 1/n)$, zero biases, and $N$ the identity or a
# LayerNorm. For wide layers the mean square $v_l$ of the stream $h_l$ follows $v_l = v_{l-1} + g^2\, \mathbb E[\mathrm{relu}(z)^2]$
# with $z \sim \mathcal N(0, 2 r)$, where $r = v_{l-1}$ (no norm) or $r = 1$ (behind a LayerNorm).
#
# Write `predicted_mean_square(scheme, depth)`: $v_L$ after `depth` blocks, starting from $v_0 = 1$, for
#
# * `"unscaled"`: $g = 1$, no norm;
# * `"1/sqrt(L)"`: $g = 1/\sqrt{L}$ with $L$ = `depth`, no norm;
# * `"rezero"`: $g = 0$ (the branch's gain starts at zero), no norm;
# * `"pre-norm"`: $g = 1$ behind a LayerNorm.
#
# A closed form for each case is the goal (hint: $\mathbb E[\mathrm{relu}(z)^2] = \tfrac12 \mathbb E[z^2]$).

# %% nbgrader={"grade": false, "grade_id": "mean_square", "locked": false, "schema_version": 3, "solution": true}
def predicted_mean_square(scheme, depth):
    """v_L, the forward mean square after ``depth`` two-layer ReLU residual blocks set up as ``scheme``."""
    ### BEGIN SOLUTION
    return {
        "unscaled": 2.0**depth,
        "1/sqrt(L)": (1 + 1 / depth) ** depth,
        "rezero": 1.0,
        "pre-norm": 1.0 + depth,
    }[scheme]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mean_square_test", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_scheme(scheme, depth):
    expected = residual_theory(scheme, depth).mean_square[-1]
    assert math.isclose(predicted_mean_square(scheme, depth), expected, rel_tol=1e-6), (scheme, depth, expected)


check_scheme("unscaled", 10)
check_scheme("rezero", 10)
### BEGIN HIDDEN TESTS
for depth in (10, 50):
    for scheme in ("unscaled", "1/sqrt(L)", "rezero", "pre-norm"):
        check_scheme(scheme, depth)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 — Which shortcut nets are healthy? (2 points)
#
# *Predict, then check:* 64 blocks of width 128 with shortcuts (`utils.gradient_flow(..., shortcut=True)`).
# For a sigmoid net with $\sigma_w^2 = 1$ and a ReLU net with $\sigma_w^2 = 2$, is the first layer's gradient
# `"vanishing"` (below 0.1 of the last layer's), `"healthy"` (within 10×) or `"exploding"` (above 10×)?
# Store your predictions in the dictionary `shortcut_verdicts`, then run the explorer or `gradient_flow` to check.

# %% nbgrader={"grade": false, "grade_id": "verdicts", "locked": false, "schema_version": 3, "solution": true}
# shortcut_verdicts = {"sigmoid": ..., "relu": ...}
### BEGIN SOLUTION
shortcut_verdicts = {"sigmoid": "healthy", "relu": "exploding"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "verdicts_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
assert set(shortcut_verdicts) == {"sigmoid", "relu"}
assert set(shortcut_verdicts.values()) <= {"vanishing", "healthy", "exploding"}
### BEGIN HIDDEN TESTS
for activation, sigma_w2 in (("sigmoid", 1.0), ("relu", 2.0)):
    flow = utils.gradient_flow(depth=64, width=128, activation=activation, sigma_w2=sigma_w2, shortcut=True,
                               device="cpu")
    assert shortcut_verdicts[activation] == flow.verdict, activation
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 — What each scheme adds to the parameter count (2 points)
#
# `utils.residual_scaling.build_residual_stack(scheme, depth, width)` builds Task 4's stacks: `depth` blocks,
# each with two `nn.Linear(width, width)` layers ($W_1, b_1, W_2, b_2$). Schemes whose gain is *learned*
# (`"rezero"` and `"fixup"`) give every block one more parameter, the gain; `"pre-norm"` puts an
# `nn.LayerNorm(width)` in front of every branch (a learned scale and shift per unit); a fixed gain
# (`"unscaled"`, `"1/sqrt(L)"`) is a buffer, not a parameter. Write `stack_parameters(scheme, depth, width)`:
# the number of trained numbers (`sum(p.numel() for p in net.parameters())`) without building the network.

# %% nbgrader={"grade": false, "grade_id": "parameter_count", "locked": false, "schema_version": 3, "solution": true}
def stack_parameters(scheme, depth, width):
    """The number of trained parameters of ``build_residual_stack(scheme, depth, width)``."""
    ### BEGIN SOLUTION
    per_block = 2 * (width * width + width)
    if scheme in ("rezero", "fixup"):
        per_block += 1
    elif scheme == "pre-norm":
        per_block += 2 * width
    return depth * per_block
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "parameter_count_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_count(scheme, depth, width):
    net = build_residual_stack(scheme, depth, width)
    expected = sum(p.numel() for p in net.parameters())
    assert stack_parameters(scheme, depth, width) == expected, (scheme, depth, width, expected)


check_count("unscaled", 4, 16)
check_count("1/sqrt(L)", 3, 8)
### BEGIN HIDDEN TESTS
for scheme in ("rezero", "fixup", "pre-norm"):
    check_count(scheme, 5, 12)
check_count("pre-norm", 1, 1)
### END HIDDEN TESTS
