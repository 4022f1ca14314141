# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 1 — Vanishing and exploding gradients
#
# This assignment goes with chapter 1. It takes 30–45 minutes. Six tasks, 11 points.
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

import utils
from utils.mean_field import mean_field

warnings.filterwarnings("ignore")

# %% [markdown]
# ## Task 1 — The steepest slope (1 point)
#
# Backpropagation multiplies the gradient by the activation's slope $\phi'(z)$ at every layer.
# *Predict, then check:* what is the largest value of the slope $\phi'(z)$ over all $z$, for the
# sigmoid $\sigma(z) = 1/(1 + e^{-z})$ and for $\tanh$? Derive it by hand (hint: $\sigma' = \sigma(1 - \sigma)$),
# then store both numbers in the dictionary `peak_slope`.

# %% nbgrader={"grade": false, "grade_id": "peak_slope", "locked": false, "schema_version": 3, "solution": true}
# peak_slope = {"sigmoid": ..., "tanh": ...}
### BEGIN SOLUTION
peak_slope = {"sigmoid": 0.25, "tanh": 1.0}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "peak_slope_test", "locked": true, "points": 1, "schema_version": 3, "solution": false}
assert set(peak_slope) == {"sigmoid", "tanh"}, "give a number for 'sigmoid' and one for 'tanh'"
assert abs(peak_slope["sigmoid"] - utils.get_activation("sigmoid").peak_slope) < 1e-3
### BEGIN HIDDEN TESTS
assert abs(peak_slope["tanh"] - utils.get_activation("tanh").peak_slope) < 1e-3
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 — Predict the sigmoid's gradient ratio (2 points)
#
# A sigmoid network with $\sigma_w^2 = 1$ (weights $W_{ij} \sim \mathcal N(0, 1/n)$) keeps its
# pre-activations near $z = 0$, where the slope is close to its peak. Crossing one layer then multiplies
# the gradient's norm by about the peak slope (the weights, on average, neither grow nor shrink it).
#
# Write `predicted_log10_ratio(depth)`: your prediction of
# $\log_{10}\big(\|\partial L/\partial h_1\| / \|\partial L/\partial h_L\|\big)$ for a sigmoid network of
# `depth` layers (the gradient crosses `depth - 1` layers on its way from the top block to the first).
# The test compares it with a measurement by `utils.gradient_flow`; it must agree within one decade.

# %% nbgrader={"grade": false, "grade_id": "sigmoid_ratio", "locked": false, "schema_version": 3, "solution": true}
def predicted_log10_ratio(depth):
    """log10 of the first/last-layer gradient ratio of a ``depth``-layer sigmoid net with sigma_w2 = 1."""
    ### BEGIN SOLUTION
    return (depth - 1) * math.log10(0.25)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sigmoid_ratio_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def measured_log10_ratio(depth):
    flow = utils.gradient_flow(depth=depth, width=128, activation="sigmoid", sigma_w2=1.0, device="cpu")
    return math.log10(flow.ratio)


assert abs(predicted_log10_ratio(30) - measured_log10_ratio(30)) < 1.0
### BEGIN HIDDEN TESTS
for depth in (5, 20):
    assert abs(predicted_log10_ratio(depth) - measured_log10_ratio(depth)) < 1.0, depth
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 — ReLU: the weight scale decides (2 points)
#
# ReLU's slope is 0 or 1, and for a symmetric pre-activation it is 1 half of the time, so one layer
# multiplies the *mean square* of the gradient by $\sigma_w^2 \cdot \tfrac12$. Write
# `relu_ratio(sigma_w2, depth)`: the predicted ratio $\|\partial L/\partial h_1\| / \|\partial L/\partial h_L\|$
# of a `depth`-layer ReLU network (a ratio of norms, not of mean squares). The tests compare it with
# the mean-field theory of chapter 3 (`utils.mean_field`).

# %% nbgrader={"grade": false, "grade_id": "relu_ratio", "locked": false, "schema_version": 3, "solution": true}
def relu_ratio(sigma_w2, depth):
    """The predicted first/last-layer gradient ratio of a ``depth``-layer ReLU net."""
    ### BEGIN SOLUTION
    return (sigma_w2 / 2) ** ((depth - 1) / 2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "relu_ratio_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
assert math.isclose(relu_ratio(1.0, 30), mean_field(30, "relu", 1.0).grad_ratio[0], rel_tol=1e-6)
### BEGIN HIDDEN TESTS
for sigma_w2, depth in ((2.0, 30), (3.0, 10), (0.5, 50)):
    assert math.isclose(relu_ratio(sigma_w2, depth), mean_field(depth, "relu", sigma_w2).grad_ratio[0],
                        rel_tol=1e-6), (sigma_w2, depth)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 — A gradient probe with hooks (3 points)
#
# Write `gradient_norms(net, x, loss_fn)`. `net` is a network built by `utils.build_network`: it applies
# the blocks in `net.blocks` in order, and block $l$ outputs $h_l$. Run `loss_fn(net(x))` forward and
# backward, and return a NumPy array with $\|\partial L/\partial h_l\|$ (the norm over the whole batch)
# for every block, first block first.
#
# Use hooks, as the book's probe does: `block.register_forward_hook(hook)` calls `hook(module, inputs, output)`
# after the block's forward pass, and `output.register_hook(fn)` calls `fn(grad)` with $\partial L/\partial h_l$
# during the backward pass. Remove your hooks when you are done (`handle.remove()`), so that the network is
# left as you found it.

# %% nbgrader={"grade": false, "grade_id": "gradient_probe", "locked": false, "schema_version": 3, "solution": true}
def gradient_norms(net, x, loss_fn):
    """||dL/dh_l|| for every block l of ``net`` (an array of length len(net.blocks))."""
    ### BEGIN SOLUTION
    norms = np.zeros(len(net.blocks))

    def on_block(i):
        def forward_hook(module, inputs, h):
            h.register_hook(lambda grad: norms.__setitem__(i, float(grad.detach().double().norm())))
        return forward_hook

    handles = [block.register_forward_hook(on_block(i)) for i, block in enumerate(net.blocks)]
    try:
        loss_fn(net(x)).backward()
    finally:
        for handle in handles:
            handle.remove()
    return norms
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gradient_probe_test", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_probe(net):
    x = torch.randn(16, net.linears[0].in_features, generator=torch.Generator().manual_seed(1))
    loss_fn = lambda h: h.square().mean()  # noqa: E731
    expected = utils.probe_network(net, x, loss_fn).grad_act_norm
    got = np.asarray(gradient_norms(net, x, loss_fn), dtype=float)
    assert got.shape == expected.shape, f"one norm per block: expected shape {expected.shape}, got {got.shape}"
    assert np.allclose(got, expected, rtol=1e-4), (got, expected)


check_probe(utils.build_network(depth=6, width=32, activation="sigmoid", init="normal", sigma_w2=1.0, seed=0))
### BEGIN HIDDEN TESTS
residual_net = utils.build_network(depth=5, width=16, activation="relu", init="he", shortcut=True, seed=0)
check_probe(residual_net)
assert all(not block._forward_hooks for block in residual_net.blocks), "remove the hooks when you are done"
check_probe(utils.build_network(depth=3, width=8, activation="tanh", init="normal", sigma_w2=4.0, seed=0))
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 — PyTorch's default initialisation (1 point)
#
# *Predict, then check:* `nn.Linear`'s default initialisation draws weights with variance $1/(3 n)$, so
# $\sigma_w^2 = 1/3$. In a 30-layer ReLU network (width 128) with this default, is the gradient at the first
# layer `"vanishing"` (below 0.1 of the last layer's), `"healthy"` (within 10×) or `"exploding"` (above 10×)?
# Use Task 3 to decide, and store the word in `default_init_verdict`.

# %% nbgrader={"grade": false, "grade_id": "default_init", "locked": false, "schema_version": 3, "solution": true}
# default_init_verdict = "vanishing" or "healthy" or "exploding"
### BEGIN SOLUTION
default_init_verdict = "vanishing"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "default_init_test", "locked": true, "points": 1, "schema_version": 3, "solution": false}
assert default_init_verdict in ("vanishing", "healthy", "exploding")
### BEGIN HIDDEN TESTS
flow = utils.gradient_flow(depth=30, width=128, activation="relu", init="default", device="cpu")
assert default_init_verdict == flow.verdict
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 — Gradient clipping by the global norm (2 points)
#
# Clipping rescales *all* gradients together whenever their global norm
# $\|g\| = \big(\sum_{\text{all parameters}} \|\partial L/\partial \theta\|^2\big)^{1/2}$ exceeds `max_norm`,
# so that it becomes exactly `max_norm`; below `max_norm` nothing changes. Write
# `clip_by_global_norm(parameters, max_norm)` that does this in place (multiply each `p.grad`) and returns the
# global norm *before* clipping, as `torch.nn.utils.clip_grad_norm_` does. Do not call that function.

# %% nbgrader={"grade": false, "grade_id": "clipping", "locked": false, "schema_version": 3, "solution": true}
def clip_by_global_norm(parameters, max_norm):
    """Rescale the gradients of ``parameters`` in place so that their global norm is at most ``max_norm``."""
    ### BEGIN SOLUTION
    grads = [p.grad for p in parameters if p.grad is not None]
    total = float(torch.sqrt(sum(g.detach().double().square().sum() for g in grads)))
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / total)
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "clipping_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def gradients_of(sigma_w2):
    net = utils.build_network(depth=8, width=32, activation="relu", init="normal", sigma_w2=sigma_w2, seed=2)
    net(torch.randn(64, 32, generator=torch.Generator().manual_seed(3))).square().mean().backward()
    return net


def check_clipping(sigma_w2, max_norm):
    mine, reference = gradients_of(sigma_w2), gradients_of(sigma_w2)
    total = clip_by_global_norm(list(mine.parameters()), max_norm)
    expected = torch.nn.utils.clip_grad_norm_(reference.parameters(), max_norm)
    assert math.isclose(float(total), float(expected), rel_tol=1e-4), (total, float(expected))
    for p, q in zip(mine.parameters(), reference.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-12)


check_clipping(sigma_w2=4.0, max_norm=1.0)
### BEGIN HIDDEN TESTS
check_clipping(sigma_w2=1.0, max_norm=1e6)  # below the threshold: unchanged
check_clipping(sigma_w2=9.0, max_norm=0.5)
### END HIDDEN TESTS
