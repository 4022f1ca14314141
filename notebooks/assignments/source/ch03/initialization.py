# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 3 — Initialization
#
# This assignment goes with chapter 3. It takes 40–60 minutes. Six tasks, 13 points.
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
from utils.mean_field import critical_sigma_w2, fixed_point, variance_map as book_variance_map

warnings.filterwarnings("ignore")

# %% [markdown]
# ## Task 1 — He initialisation of a non-square layer (3 points)
#
# `nn.Linear(n_in, n_out)` stores its weight as a tensor of shape `(n_out, n_in)`: one row per output unit.
# He et al. (2015) draw $W_{ij} \sim \mathcal N(0, 2/n_{\text{in}})$ so that a ReLU layer keeps the mean square of
# its input, and set the bias to zero. Write `he_init_(layer)` that does this in place (inside
# `torch.no_grad()`, with `tensor.normal_(mean, std)` and `tensor.zero_()`), without calling `nn.init`.
# Careful: for a layer that is not square, swapping the two fans gives a visibly wrong variance.

# %% nbgrader={"grade": false, "grade_id": "he_init", "locked": false, "schema_version": 3, "solution": true}
def he_init_(layer):
    """He-normal initialisation of the nn.Linear ``layer``, in place."""
    ### BEGIN SOLUTION
    n_in = layer.weight.shape[1]
    with torch.no_grad():
        layer.weight.normal_(0.0, math.sqrt(2.0 / n_in))
        layer.bias.zero_()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "he_init_test", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_he(n_in, n_out):
    torch.manual_seed(0)
    layer = nn.Linear(n_in, n_out)
    weight = layer.weight
    he_init_(layer)
    assert layer.weight is weight and weight.shape == (n_out, n_in), "initialise the layer's own weight in place"
    expected = utils.weight_variance("he", n_in, n_out)
    measured = float(weight.detach().double().var())
    assert abs(measured / expected - 1) < 0.1, f"weight variance {measured:.3g}, expected {expected:.3g}"
    assert abs(float(weight.detach().double().mean())) < 0.1 * math.sqrt(expected), "the mean must be 0"
    assert torch.all(layer.bias == 0), "the bias must be 0"


check_he(400, 100)
### BEGIN HIDDEN TESTS
check_he(50, 2000)
check_he(3000, 10)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 2 — Xavier's uniform bound (2 points)
#
# Glorot & Bengio (2010) compromise between the forward pass (variance $1/n_{\text{in}}$) and the backward
# pass ($1/n_{\text{out}}$) with variance $2/(n_{\text{in}} + n_{\text{out}})$, and draw the weights uniformly from
# $[-a, a]$. Write `xavier_uniform_bound(n_in, n_out)`: the $a$ that gives this variance
# (the variance of $U(-a, a)$ is $a^2/3$).

# %% nbgrader={"grade": false, "grade_id": "xavier_bound", "locked": false, "schema_version": 3, "solution": true}
def xavier_uniform_bound(n_in, n_out):
    """The bound a of Xavier's uniform initialisation U(-a, a)."""
    ### BEGIN SOLUTION
    return math.sqrt(6.0 / (n_in + n_out))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "xavier_bound_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_xavier(n_in, n_out):
    bound = xavier_uniform_bound(n_in, n_out)
    assert math.isclose(bound**2 / 3, utils.weight_variance("xavier_uniform", n_in, n_out), rel_tol=1e-9), (n_in, n_out)


check_xavier(300, 100)
### BEGIN HIDDEN TESTS
check_xavier(10, 1000)
check_xavier(1, 1)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 3 — PyTorch's default, as a weight scale (1 point)
#
# *Predict, then check:* `nn.Linear` draws its weights from $U(-1/\sqrt{n_{\text{in}}}, 1/\sqrt{n_{\text{in}}})$.
# What is $\sigma_w^2$, the weight variance times $n_{\text{in}}$? Store the number in `default_sigma_w2`, then
# measure it on `nn.Linear(1000, 1000)`.

# %% nbgrader={"grade": false, "grade_id": "default_scale", "locked": false, "schema_version": 3, "solution": true}
# default_sigma_w2 = ...
### BEGIN SOLUTION
default_sigma_w2 = 1 / 3
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "default_scale_test", "locked": true, "points": 1, "schema_version": 3, "solution": false}
assert 0 < default_sigma_w2 < 10, "sigma_w2 is a positive number of order 1"
### BEGIN HIDDEN TESTS
assert math.isclose(default_sigma_w2, utils.weight_variance("default", 1000, 1000) * 1000, rel_tol=1e-3)
torch.manual_seed(1)
measured = float(nn.Linear(1000, 1000).weight.detach().double().var()) * 1000
assert abs(default_sigma_w2 / measured - 1) < 0.02
### END HIDDEN TESTS

# %% [markdown]
# ## Task 4 — The mean-field variance map (3 points)
#
# In a wide random network with $W_{ij} \sim \mathcal N(0, \sigma_w^2/n)$ and $b_i \sim \mathcal N(0, \sigma_b^2)$, the
# pre-activation variance moves from layer to layer by the map
#
# $$q_{l} = V(q_{l-1}) = \sigma_w^2\, \mathbb E\big[\phi(\sqrt{q_{l-1}}\, u)^2\big] + \sigma_b^2, \qquad u \sim \mathcal N(0, 1).$$
#
# Write `variance_map(q, activation, sigma_w2, sigma_b2)` for a number `q` > 0 and `activation` `"relu"`
# (use the closed form of $\mathbb E[\mathrm{relu}(z)^2]$) or `"tanh"` (no closed form: compute the Gaussian
# expectation numerically, e.g. with `np.polynomial.hermite_e.hermegauss`, whose weights sum to $\sqrt{2\pi}$).
# The tests compare it with the book's `utils.mean_field.variance_map` (to 1e-6 for ReLU and 1e-3 for tanh,
# for $q \le 4$).

# %% nbgrader={"grade": false, "grade_id": "variance_map", "locked": false, "schema_version": 3, "solution": true}
def variance_map(q, activation, sigma_w2, sigma_b2):
    """V(q) for activation "relu" or "tanh"."""
    ### BEGIN SOLUTION
    if activation == "relu":
        return sigma_w2 * q / 2 + sigma_b2
    u, w = np.polynomial.hermite_e.hermegauss(101)
    return sigma_w2 * float(np.sum(w * np.tanh(math.sqrt(q) * u) ** 2) / w.sum()) + sigma_b2
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "variance_map_test", "locked": true, "points": 3, "schema_version": 3, "solution": false}
def check_map(q, activation, sigma_w2, sigma_b2, rel_tol):
    expected = float(book_variance_map(q, activation, sigma_w2, sigma_b2))
    got = float(variance_map(q, activation, sigma_w2, sigma_b2))
    assert math.isclose(got, expected, rel_tol=rel_tol), (q, activation, sigma_w2, sigma_b2, got, expected)


check_map(1.5, "relu", 2.0, 0.1, 1e-6)
check_map(1.0, "tanh", 1.5, 0.05, 1e-3)
### BEGIN HIDDEN TESTS
check_map(0.3, "relu", 1.2, 0.0, 1e-6)
check_map(4.0, "tanh", 3.0, 0.0, 1e-3)
check_map(0.01, "tanh", 1.0, 0.2, 1e-3)
check_map(2.0, "tanh", 0.5, 0.5, 1e-3)
### END HIDDEN TESTS

# %% [markdown]
# ## Task 5 — The edge of chaos (2 points)
#
# *Predict, then check:* without biases ($\sigma_b^2 = 0$), at which $\sigma_w^2$ does a deep network sit on the
# boundary between the ordered phase (gradients vanish) and the chaotic phase, for ReLU and for tanh? (Hint:
# at $\sigma_b^2 = 0$ the tanh network's fixed point is $q^* = 0$ below the boundary; what is $\tanh'(0)$?)
# Store both numbers in the dictionary `critical`; the hidden test compares them with
# `utils.mean_field.critical_sigma_w2`.

# %% nbgrader={"grade": false, "grade_id": "critical", "locked": false, "schema_version": 3, "solution": true}
# critical = {"relu": ..., "tanh": ...}
### BEGIN SOLUTION
critical = {"relu": 2.0, "tanh": 1.0}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "critical_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
assert set(critical) == {"relu", "tanh"}
assert all(0 < value < 10 for value in critical.values())
### BEGIN HIDDEN TESTS
for activation in ("relu", "tanh"):
    assert abs(critical[activation] - critical_sigma_w2(activation, 0.0)) < 0.02, activation
### END HIDDEN TESTS

# %% [markdown]
# ## Task 6 — The fixed point of a ReLU network with biases (2 points)
#
# With ReLU and $\sigma_w^2 < 2$ the variance map $V(q) = \sigma_w^2 q/2 + \sigma_b^2$ is a line of slope below 1,
# so $q_l$ converges to a fixed point $q^* = V(q^*)$ whatever the input. Write `relu_fixed_point(sigma_w2, sigma_b2)`,
# the closed form of $q^*$. The tests compare it with `utils.mean_field.fixed_point`, which iterates the map.

# %% nbgrader={"grade": false, "grade_id": "fixed_point", "locked": false, "schema_version": 3, "solution": true}
def relu_fixed_point(sigma_w2, sigma_b2):
    """q* of the ReLU variance map, for sigma_w2 < 2."""
    ### BEGIN SOLUTION
    return sigma_b2 / (1 - sigma_w2 / 2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fixed_point_test", "locked": true, "points": 2, "schema_version": 3, "solution": false}
def check_fixed_point(sigma_w2, sigma_b2):
    expected = fixed_point("relu", sigma_w2, sigma_b2)
    assert math.isclose(relu_fixed_point(sigma_w2, sigma_b2), expected, rel_tol=1e-6), (sigma_w2, sigma_b2, expected)


check_fixed_point(1.5, 0.1)
### BEGIN HIDDEN TESTS
check_fixed_point(1.0, 0.3)
check_fixed_point(0.2, 2.0)
check_fixed_point(1.9, 0.05)
### END HIDDEN TESTS
