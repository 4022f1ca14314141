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
# # Chapter 2 — Shortcut connections
#
# Chapter 1 ended with a product: the gradient at layer $l$ is the gradient at the top multiplied by
# one Jacobian per layer in between, and a product of many factors shrinks or grows geometrically.
# A *shortcut* (skip, residual) connection changes every factor of that product from $J_l$ to
# $I + J_l$. This chapter is about what the $I$ buys, and what it does not.
#
# **Learning goals.** After this chapter you can
#
# 1. reproduce a published per-layer gradient measurement, and say why "the same numbers" means
#    equal to about $10^{-7}$ and not bit for bit;
# 2. explain, for networks of any depth, how shortcuts change the gradient that reaches the first
#    layer, and predict it with the explorer;
# 3. write a residual block's Jacobian as $I + \partial F/\partial h$ and state what the identity term
#    guarantees about the backward product and what it does not;
# 4. predict how the forward signal grows with depth for unscaled branches, branches scaled by
#    $1/\sqrt{L}$, zero-initialised branch gains (ReZero, SkipInit), a Fixup-style initialisation and
#    pre-norm blocks, and check each prediction against a measurement;
# 5. compare pre-norm and post-norm transformer stacks layer by layer, and test a published claim
#    (Xiong et al., 2020) against a measurement;
# 6. see what shortcuts do to training a 32-layer network, and check common claims about them.
#
# As in chapter 1, every number quoted in the text is computed in a cell and checked by an `assert` to the
# precision it is quoted with.

# %%
# On Colab only: install the book's library `utils` (Colab keeps its own PyTorch). Elsewhere: nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "git+https://github.com/OWNER/REPO"], check=True)

# %%
# %matplotlib inline
import math

import numpy as np
import torch

from utils import new_figure, precomputed_explorer
from utils.check import check_answer
from utils.formatting import FLOAT32_TINY, above
from utils.norm_placement import (expected_gradients, norm_placement, norm_placement_explorer,
                                   plot_expected_gradients, plot_norm_placement)
from utils.residual_scaling import (LABELS, SCHEMES, plot_residual_scaling, residual_scaling,
                                    residual_scaling_explorer)
from utils.shortcuts import (SEED_000, first_layer_sweep, plot_first_layer_sweep, seed_000, shortcut_comparison,
                             shortcut_explorer)
from utils.training import guessing_baseline, plot_training, train_network

# %% [markdown]
# ## 1. A five-layer network, with and without shortcuts
#
# Section 4.4 of Sebastian Raschka's *Build a Large Language Model (From Scratch)* (2024) introduces
# shortcut connections with a small network and prints its per-layer gradients; we start by reproducing
# those published numbers. The network: five blocks of a linear layer followed by GELU (its tanh
# approximation), with layer sizes 3 → 3 → 3 → 3 → 3 → 1. With shortcuts on, each block whose input
# and output have the same size adds its input to its output, $h_l = h_{l-1} + \mathrm{GELU}(W_l h_{l-1} + b_l)$;
# that is blocks 1 to 4, while block 5 (3 → 1) stays plain. The experiment: `torch.manual_seed(123)`
# before building each model (PyTorch's default initialisation), one input $x = (1, 0, -1)$, squared
# error against the target 0, one backward pass, and for each layer the mean absolute entry of
# $\partial L/\partial W_l$.
#
# The book's builder makes exactly this network (`build_network(5, 3, activation="gelu_tanh",
# out_dim=1, seed=123)`), creating the layers in the same order, so the same seed gives the same
# weights. (One difference in the arithmetic: Raschka's code writes the GELU formula out by hand, the builder
# calls PyTorch's `gelu(approximate="tanh")`; the two round differently in the last bit.) In the table,
# *measured* is our run and *published* the value printed in Raschka's §4.4.

# %%
runs = {shortcut: seed_000(shortcut) for shortcut in (False, True)}
print(f"{'':7s}{'without shortcuts':>26s}{'with shortcuts':>26s}")
print(f"{'layer':7s}{'measured':>13s}{'published':>13s}{'measured':>13s}{'published':>13s}")
for layer in range(5):
    row = "".join(f"{runs[s].mean_abs_grad[layer]:13.4g}{SEED_000[s][layer]:13.4g}" for s in (False, True))
    print(f"{layer + 1:<7d}{row}")
for shortcut in (False, True):
    assert np.allclose(runs[shortcut].mean_abs_grad, SEED_000[shortcut], rtol=1e-5, atol=0)
    assert np.max(np.abs(runs[shortcut].mean_abs_grad / SEED_000[shortcut] - 1)) < 1e-6

# %% [markdown]
# All ten values agree with the published ones to a relative tolerance of $10^{-5}$ (the `assert` above).
# Not bit for bit, though, and no one should expect that. The published values have 17 significant digits,
# printed from float32 numbers, which hold only about 7. Every float32 operation rounds its result, so the
# answer depends on the *order* of the operations, and floating-point addition is not associative:

# %%
a, b, c = np.float32(0.1), np.float32(0.1), np.float32(0.5)
left, right = (a + b) + c, a + (b + c)
print(f"(0.1 + 0.1) + 0.5 = {left:.9g}    0.1 + (0.1 + 0.5) = {right:.9g}    (float32)")
assert left != right

double = {shortcut: seed_000(shortcut, dtype="float64") for shortcut in (False, True)}
for shortcut in (False, True):
    assert np.allclose(runs[shortcut].mean_abs_grad, double[shortcut].mean_abs_grad, rtol=1e-6, atol=0)
    assert not np.array_equal(runs[shortcut].mean_abs_grad, double[shortcut].mean_abs_grad)

# %% [markdown]
# A matrix product sums in whatever order its kernel chooses, and that choice differs between
# libraries (MKL, OpenBLAS, oneDNN), between CPUs (the width of the vector registers, whether a fused
# multiply-add rounds once where separate instructions round twice), with the number of threads, and
# between PyTorch versions; `tanh` may be computed by a different vectorised approximation on another
# CPU; and the same formula written differently (the GELU above) rounds differently. Each choice moves the last bit or two, and after a few layers the results differ by parts in
# $10^7$ (here: less than $10^{-6}$, asserted in the table's cell). The same network run in float64 (same weights) agrees with the float32 run to better than
# $10^{-6}$ (asserted above) but not exactly: float32 itself cannot say more. Hence the tolerance
# $10^{-5}$. PyTorch's own reproducibility notes say it plainly: completely reproducible results are
# not guaranteed across releases or platforms.
#
# Now read the numbers. With shortcuts, layer 1 receives about a thousand times more gradient. How
# much of that is the shortcut protecting the gradient on its way down, and how much is something else?

# %%
for shortcut in (False, True):
    g, y, dh = runs[shortcut].mean_abs_grad, runs[shortcut].output, runs[shortcut].grad_act_norm
    print(f"{'with' if shortcut else 'without':7s} shortcuts: output {y:.3f}, dL/dy = 2y = {2 * y:.3f}, "
          f"|dL/dh_1| / |dL/dh_5| = {dh[0] / dh[4]:.3g};  weights: layer 1 / layer 4 = {g[0] / g[3]:.2f}")
plain_g, short_g = runs[False].mean_abs_grad, runs[True].mean_abs_grad
plain_h, short_h = runs[False].grad_act_norm, runs[True].grad_act_norm
top = runs[True].output / runs[False].output
backward = (short_h[0] / short_h[4]) / (plain_h[0] / plain_h[4])
print(f"with / without: |dL/dW_1| x{short_g[0] / plain_g[0]:.0f}, |dL/dh_1| x{short_h[0] / plain_h[0]:.0f} "
      f"= dL/dy x{top:.1f} times the backward product x{backward:.0f}")
assert 1000 < short_g[0] / plain_g[0] < 1200 and 200 < short_g[4] / plain_g[4] < 300
assert abs(runs[False].output - 0.061) < 1e-3 and abs(runs[True].output - 0.767) < 1e-3
assert 12.55 < top < 12.65 and 93.5 < backward < 94.5 and 1175 < short_h[0] / plain_h[0] < 1185
assert 0.0085 < plain_h[0] / plain_h[4] < 0.0087 and 0.805 < short_h[0] / short_h[4] < 0.815
assert round(plain_g[0] / plain_g[3], 2) == 0.14 and round(short_g[0] / short_g[3], 2) == 0.83
assert round((short_g[0] / short_g[3]) / (plain_g[0] / plain_g[3])) == 6

# %% [markdown]
# Layer 1's weight gradient is $\partial L/\partial W_1 = \delta_1 x^\top$ with the same input $x$ in both networks, so
# its factor of 1100 is all backward signal, and it splits into two parts. At the *top*: with shortcuts
# the input reaches the output, so the output is 0.77 instead of 0.06 and the loss's gradient $2y$ is 12.6
# times larger. On the *way down*, read as chapter 1 reads it, with the gradient reaching each block's
# output: without shortcuts, $\|\partial L/\partial h_1\|$ is 0.0086 of $\|\partial L/\partial h_5\| = |\partial L/\partial y|$
# (it loses a factor of 116 through four blocks); with shortcuts, 0.81. That factor of 94 is the shortcut
# protecting the gradient, and $12.6 \times 94 \approx 1180$ is the gap in $\|\partial L/\partial h_1\|$ (the weight
# gradient's 1100 differs a little because each unit's share is weighted by its slope $\phi'(z_1)$). (Comparing the *weight* gradients
# of layers 1 and 4 instead, 0.14 against 0.83, gives only a factor of six: $\partial L/\partial W_4$ also
# carries its own input $h_3$, and the two networks' $h_3$ differ, so that ratio is not the backward product
# alone.) Five layers are too few to see vanishing gradients properly; the next section goes deeper.
#
# ## 2. The first layer's gradient against depth
#
# Take chapter 1's experiment (`gradient_flow`: width 64, a batch of 32 Gaussian inputs, weights
# $\mathcal N(0, \sigma_w^2/n)$ with $\sigma_w^2 = 1$, zero biases, a fixed random linear readout of the last
# layer as the loss) and build each network twice, without and with shortcuts. Here is
# $\|\partial L/\partial W_1\|$ for depths 1 to 64 and four activations (solid: with shortcuts; dashed: without).

# %%
sweep = first_layer_sweep(depths=(1, 2, 4, 8, 16, 32, 64), activations=("sigmoid", "tanh", "relu", "gelu"))
fig, ax = new_figure()
plot_first_layer_sweep(sweep, ax)
for act in sweep.plain:
    print(f"{act:8s} depth 64: |dL/dW_1| without {above(sweep.plain[act][-1], FLOAT32_TINY):>9s}, "
          f"with {sweep.residual[act][-1]:9.2g}")
tiny = sweep.plain["sigmoid"][-1]  # below float32's normal range: a subnormal, or 0 where they are flushed
assert tiny < FLOAT32_TINY and (tiny == 0 or 1e-41 < tiny < 1e-39) and 0.2 < sweep.residual["sigmoid"][-1] < 1
assert sweep.residual["sigmoid"].max() < 1.5 * sweep.residual["sigmoid"].min()
assert 1e-11 < sweep.plain["relu"][-1] < 1e-10 and 1e-20 < sweep.plain["gelu"][-1] < 1e-18
assert all(1e9 < sweep.residual[act][-1] < 1e11 for act in ("relu", "gelu"))
assert 0.02 < sweep.plain["tanh"][-1] < 0.5 and 10 < sweep.residual["tanh"][-1] < 300

# %% [markdown]
# Without shortcuts, the first layer of a 64-layer sigmoid network receives less than $1.2\times10^{-38}$,
# float32's smallest *normal* number: what is left is a subnormal near $10^{-40}$ on a CPU, and exactly 0 on
# hardware that flushes subnormals to zero (Apple's MPS, CPUs in flush-to-zero mode). ReLU and GELU
# at this weight scale lose ten and nineteen orders of magnitude (chapter 1: the factor per layer is
# $\sqrt{\sigma_w^2/2}$ for ReLU). With shortcuts, nothing vanishes. But look at ReLU and GELU: their first
# layer now receives $10^{10}$. The shortcut has traded a vanishing gradient for an exploding one. Only
# the sigmoid, whose branches saturate, stays level.
#
# The gradient ratio first/last layer at depth 50 says the same, one network at a time:

# %%
at_50 = {act: shortcut_comparison(depth=50, activation=act, sigma_w2=1.0) for act in ("sigmoid", "tanh", "relu")}
for act, r in at_50.items():
    print(f"{act:8s} |dL/dh_1| / |dL/dh_50|: without shortcuts {r.plain.ratio:9.3g}, with {r.residual.ratio:9.3g}")
assert at_50["sigmoid"].plain.ratio < 1e-25 and 0.5 < at_50["sigmoid"].residual.ratio < 2
assert 0.05 < at_50["tanh"].plain.ratio < 0.5 and 10 < at_50["tanh"].residual.ratio < 100
assert at_50["relu"].plain.ratio < 1e-7 and at_50["relu"].residual.ratio > 1e5

# %% [markdown]
# **Predict, then check.** In the explorer below (bold: the network the *shortcuts* box selects;
# dashed: the other one):
# 1. ReLU, depth 30: which $\sigma_w^2$ makes the plain network healthy? What does the residual network do there?
# 2. With shortcuts, which $\sigma_w^2$ keeps a depth-100 ReLU network's gradient ratio below 100? Is that a
#    good network? (Look at what its branches add.)
# 3. Why does the sigmoid's residual network stay level even at $\sigma_w^2 = 10$?

# %%
# NBVAL_IGNORE_OUTPUT
shortcut_explorer()

# %% [markdown]
# Without a kernel (on the book's website, say) the explorer above cannot re-run; the one below
# plays anyway, over pictures computed when this notebook ran.

# %%
# NBVAL_IGNORE_OUTPUT
precomputed_explorer(shortcut_explorer(device="cpu"), "depth", [5, 10, 20, 40])

# %% [markdown]
# ## 3. The maths: $I + \partial F/\partial h$, and what it does not guarantee
#
# A residual block computes $h_l = h_{l-1} + F_l(h_{l-1})$, so its Jacobian is
#
# $$\frac{\partial h_l}{\partial h_{l-1}} = I + J_l, \qquad J_l = \frac{\partial F_l}{\partial h_{l-1}},
# \qquad\text{and}\qquad
# \frac{\partial L}{\partial h_0} = (I + J_1)^\top (I + J_2)^\top \cdots (I + J_L)^\top \frac{\partial L}{\partial h_L}.$$
#
# Multiply the product out and it becomes a sum over all $2^L$ subsets of blocks; one term is the
# identity alone, so the top gradient reaches the bottom even if every branch is switched off. Veit et
# al. (2016) read a residual network this way, as an ensemble of paths of many lengths.
#
# **What the $I$ guarantees.** Suppose $J$ is random with mean zero and independent of the vector $v$ it
# acts on (at initialisation, for wide layers, this is the usual mean-field assumption: the branch's
# weights are fresh zero-mean noise). Then the cross term vanishes on average and
#
# $$\mathbb E\,\|(I + J)^\top v\|^2 = \|v\|^2 + \mathbb E\,\|J^\top v\|^2 \;\ge\; \|v\|^2 .$$
#
# In mean square, a residual block can never shrink the gradient. That is the whole of the "+1"
# argument, and it is what we measured above: nothing vanished.
#
# **What it does not guarantee.**
# * *Growth.* If each block adds $\mathbb E\|J_l^\top v\|^2 = s_l^2 \|v\|^2$, the mean square grows by $\prod_l (1 + s_l^2)$.
#   With $s_l^2 = s^2$ fixed this is $(1+s^2)^L$: exponential. It stays bounded only if $\sum_l s_l^2$ does,
#   for example $s_l^2 \propto 1/L$, since $(1 + s^2/L)^L \to e^{s^2}$.
# * *The forward pass.* The signal obeys the same arithmetic: $\mathbb E\|h_l\|^2 = \mathbb E\|h_{l-1}\|^2 + \mathbb E\|F_l\|^2$
#   when the branch output has mean zero, so each block *adds* variance and nothing takes it away.
# * *Each network, not the average.* The inequality is about the mean over random weights. A particular
#   $I + J$ can be singular ($J$ with an eigenvalue $-1$), and a product of many random factors
#   scatters widely around its mean (chapter 1, §1).
# * *A normalisation on the identity path.* In a post-norm block, $h_l = \mathrm{LN}(h_{l-1} + F(h_{l-1}))$,
#   the LayerNorm's Jacobian multiplies the identity term too (§4).
#
# To see the growth cleanly, this section uses the two-layer branch of a ResNet or a transformer's
# MLP: $F(h) = g\, W_2\, \phi(W_1 N(h))$ with $W_1 \sim \mathcal N(0, s_1/n)$, $W_2 \sim \mathcal N(0, s_2/n)$,
# zero biases, a scalar gain $g$ and $N$ either nothing or a LayerNorm. Because $W_2$ has mean zero, the
# branch output has mean zero and adds no cross term. Five ways to set the branches up:
#
# | scheme | $g$ | $s_1$ | $s_2$ | $N$ | after |
# |---|---|---|---|---|---|
# | unscaled | 1 | $\sigma_w^2$ | 1 | — | He et al. (2016) without BatchNorm |
# | branch × $1/\sqrt L$ | $1/\sqrt L$ | $\sigma_w^2$ | 1 | — | Hayou et al. (2021); GPT-2's scaled init |
# | ReZero / SkipInit | 0 (learned) | $\sigma_w^2$ | 1 | — | Bachlechner et al. (2021); De & Smith (2020) |
# | Fixup-style | 1 (learned) | $\sigma_w^2 / L$ | 0 | — | Zhang, Dauphin & Ma (2019), $m = 2$ layers per branch |
# | pre-norm | 1 | $\sigma_w^2$ | 1 | LayerNorm | pre-LN transformers |
#
# (Fixup proper also adds scalar biases; here only its initialisation is used: the last layer of each
# branch at zero, the others scaled by $L^{-1/(2m-2)} = L^{-1/2}$.) A real ResNet is *not* the unscaled
# case: each of its branches contains BatchNorm, and De & Smith (2020) show that at initialisation this
# divides each branch by the scale of the stream it is added to, which grows along the network, so that
# the branches are down-weighted relative to the skip path by a factor of the order of $\sqrt{\text{depth}}$.
# That is close to the $1/\sqrt L$ row, and the reason SkipInit, a learned gain started at zero, can stand
# in for BatchNorm.
#
# **Theory.** For wide layers, the mean square $q_l$ of $h_l$ follows
#
# $$q_l = q_{l-1} + g^2 s_2\, \mathbb E\big[\phi(z)^2\big], \qquad z \sim \mathcal N(0,\, s_1 r_{l-1}),$$
#
# with $r_{l-1} = q_{l-1}$, or $r_{l-1} = 1$ behind a LayerNorm (it hands the branch a unit-variance input).
# Going down, block $l$ multiplies the mean-square gradient by $1 + g^2 s_2 s_1 \mathbb E[\phi'(z)^2]/c$ with
# $c = 1$, or $c = q_{l-1}$ behind a LayerNorm (which divides by its input's standard deviation). For ReLU
# with $s_1 = \sigma_w^2 = 2$ (He) and $s_2 = 1$ this gives closed forms: unscaled $q_L = 2^L q_0$; scaled
# $q_L = (1 + 1/L)^L q_0 \to e\, q_0$; ReZero and Fixup $q_L = q_0$ exactly; pre-norm $q_L = q_0 + L$.
# (The Gaussian expectations are computed by quadrature in `utils/mean_field.py`, chapter 3's module.)
#
# Measured, 50 blocks of width 64, ReLU, $\sigma_w^2 = 2$; dashed lines are the theory:

# %%
schemes = residual_scaling(depth=50, width=64, activation="relu", sigma_w2=2.0)
fig, axes = new_figure(2)
plot_residual_scaling(schemes, axes)
print(f"{'scheme':18s} {'q_50/q_0':>10s} {'theory':>10s}   {'|g_1|/|g_50|':>12s} {'theory':>10s}")
for s in SCHEMES:
    g = schemes.grad_norm[s]
    print(f"{LABELS[s]:18s} {schemes.growth(s):10.3g} {schemes.predicted_growth(s):10.3g}   "
          f"{g[0] / g[-1]:12.3g} {schemes.theory[s].grad_ratio[0]:10.3g}")
growth = {s: schemes.growth(s) for s in SCHEMES}
assert 1.5e14 < growth["unscaled"] < 2.5e14 and round(schemes.predicted_growth("unscaled") / growth["unscaled"]) == 5
assert 1.05e15 < schemes.predicted_growth("unscaled") < 1.15e15
assert growth["unscaled"] > 1e12 * growth["pre-norm"] > 1e12 * 10 * growth["1/sqrt(L)"]
assert growth["1/sqrt(L)"] > 2 and abs(growth["rezero"] - 1) < 1e-12 and abs(growth["fixup"] - 1) < 1e-12
assert abs(schemes.predicted_growth("1/sqrt(L)") - (1 + 1 / 50) ** 50) < 0.01
for s in ("1/sqrt(L)", "pre-norm"):
    assert abs(growth[s] / schemes.predicted_growth(s) - 1) < 0.2
assert round(growth["pre-norm"]) == 41 and round(schemes.predicted_growth("pre-norm")) == 48
assert round(growth["1/sqrt(L)"], 1) == 2.7
prenorm_grad = schemes.grad_norm["pre-norm"][0] / schemes.grad_norm["pre-norm"][-1]
assert abs(schemes.theory["pre-norm"].grad_ratio[0] - math.sqrt(51 / 2)) < 0.2 and round(prenorm_grad, 1) == 5.9

# %% [markdown]
# The order is the one the theory predicts: unscaled branches multiply the signal's mean square by
# about $10^{14}$ over 50 blocks, pre-norm adds one per block (41 here against the predicted 48),
# branches scaled by $1/\sqrt{L}$ end near $e$ (2.7), and ReZero and Fixup leave it at exactly 1,
# because at initialisation every block is the identity. The gradient (right) grows going down in the
# same proportions: a pre-norm stack's first block gets $\sqrt{(L+1)/2} \approx 5$ times the top's
# gradient in theory, 5.9 measured.
#
# Fixup and ReZero are the same map at initialisation; they differ in what the first updates do.
# ReZero's weights get no gradient at all until its gain $g$ moves away from zero; Fixup's zero
# last layer gets a gradient at once, and the $L^{-1/2}$ on the first layer is what keeps the first
# update's effect on the output from growing with depth (Zhang et al., 2019).
#
# One number does not match as well: the unscaled measurement (about $2\times10^{14}$) falls a factor of
# five below the predicted $2^{50} \approx 1.1\times10^{15}$. The theory is an average over networks,
# and for exponential growth one network scatters around it a great deal. Over eight networks:

# %%
spread = [residual_scaling(depth=50, width=64, scheme="unscaled", seed=seed) for seed in range(8)]
errors = np.log10([r.growth("unscaled") / r.predicted_growth("unscaled") for r in spread])
print("log10(measured / theory), eight seeds: " + " ".join(f"{e:+.2f}" for e in errors))
standard_error = errors.std() / math.sqrt(len(errors))
lognormal_gap = errors.std() ** 2 * math.log(10) / 2  # log10(mean) - mean(log10) for a log-normal
print(f"mean {errors.mean():+.2f}, standard deviation {errors.std():.2f}, standard error {standard_error:.2f}")
print(f"for a log-normal with this scatter, log10 of the mean lies {lognormal_gap:.2f} above the mean of log10")
assert round(errors.mean(), 1) == 0.2 and round(errors.std(), 2) == 0.53 and round(standard_error, 2) == 0.19
assert round(lognormal_gap, 1) == 0.3 and errors.max() - errors.min() > 1

# %% [markdown]
# From one network to the next the growth changes by more than a factor of ten. What is averaged above is
# the *logarithm*: the mean of $\log_{10}$(measured / theory) is +0.2 decades, with a standard error of 0.19,
# so the typical (geometric-mean) network is within about one standard error of the theory. The theory,
# though, predicts the *mean* of $q_L$, and for a log-normal quantity with this scatter the log of the mean
# sits about 0.3 decades above the mean of the logs. Eight networks cannot separate a factor of two either
# way; width tames the scatter (try width 256 in the explorer).
#
# **Predict, then check.**
# 1. tanh instead of ReLU, $\sigma_w^2 = 1$: is the unscaled growth still exponential? (Hint: $\tanh^2 \le 1$.)
# 2. Pre-norm at depth 200: what will $q_L/q_0$ be? And the gradient ratio?
# 3. Which scheme's measurement depends on $\sigma_w^2$ and which does not? Why does pre-norm's not?

# %%
# NBVAL_IGNORE_OUTPUT
residual_scaling_explorer()

# %% [markdown]
# ## 4. Pre-norm versus post-norm transformer layers
#
# A transformer layer has two sublayers, self-attention and an MLP $W^2 \phi(W^1 x)$, each wrapped in a
# shortcut. The original transformer (Vaswani et al., 2017) normalises *after* each addition; GPT-2 and
# most models since normalise the sublayer's *input* and leave the identity path alone, with one final
# LayerNorm at the top:
#
# $$\text{post-norm: } x \leftarrow \mathrm{LN}\big(x + \mathrm{Sub}(x)\big), \qquad
# \text{pre-norm: } x \leftarrow x + \mathrm{Sub}\big(\mathrm{LN}(x)\big).$$
#
# Xiong et al. (2020) analysed both at initialisation with mean-field arguments. Their Theorem 1 (which
# simplifies attention by setting $W^Q = W^K = 0$, so that every token attends to all tokens equally): the
# gradient of the last layer's $W^2$ is bounded by $O(d\sqrt{\ln d})$ for post-norm, independent of the depth
# $L$, and by $O(d\sqrt{\ln d / L})$ for pre-norm, so large gradients near the output make post-norm need a
# learning-rate warm-up while pre-norm does not. They support it with per-layer norms of the *expected*
# gradient (the gradient averaged over mini-batches, then its norm), measured on a 6-layer encoder and
# 6-layer decoder translation model with ReLU MLPs (IWSLT14 German–English): they grow towards the output
# for post-norm and stay about level for pre-norm.
#
# Our measurement: stacks of width 64 with four heads and an MLP of width 256 (GELU), Xavier-uniform
# weights (Xiong et al. draw Xavier-Gaussian ones, of the same variance) and zero biases (for attention, PyTorch draws the query, key and value
# matrices as one packed $3d \times d$ matrix, which gives each of them variance $1/(2d)$, half of Xavier
# for a single $d \times d$ matrix), 16 random token vectors per sequence, and a loss that reads
# each token out with its own fixed random vector (like a per-token classifier).

# %%
by_depth = {depth: norm_placement(depth=depth) for depth in (3, 6, 12, 24, 48)}
fig, axes = new_figure(2)
plot_norm_placement(by_depth[24], axes)
print(f"{'L':>3s} {'post: |dW2_L|':>14s} {'last/first':>11s} {'pre: |dW2_L|':>13s} {'x sqrt(L)':>10s} {'last/first':>11s}")
for depth, r in by_depth.items():
    print(f"{depth:3d} {r.last_layer('post'):14.3f} {r.spread('post'):11.2f} {r.last_layer('pre'):13.3f} "
          f"{r.last_layer('pre') * math.sqrt(depth):10.3f} {r.spread('pre'):11.2f}")

# %%
pre_scaled = [r.last_layer("pre") * math.sqrt(d) for d, r in by_depth.items() if d >= 6]
post_last = [r.last_layer("post") for r in by_depth.values()]
assert max(pre_scaled) / min(pre_scaled) < 1.1
assert max(post_last) / min(post_last) < 1.6
assert by_depth[48].last_layer("pre") < 0.5 * by_depth[6].last_layer("pre")
assert all(0.5 < r.spread("post") < 1.1 for r in by_depth.values())
assert all(r.spread("post") < 0.8 for d, r in by_depth.items() if d >= 12)
assert all(r.spread("pre") < 0.8 for d, r in by_depth.items() if d >= 6)
assert round(1 / by_depth[6].spread("pre"), 1) == 1.5 and round(1 / by_depth[48].spread("pre")) == 4
late = [r.spread("post") for d, r in by_depth.items() if d >= 12]
assert round(min(late), 2) == 0.56 and round(max(late), 2) == 0.79

# %% [markdown]
# So far every number is one mini-batch's gradient. Xiong et al. plot the *expected* gradient instead:
# average $\partial L/\partial W^2_l$ over many mini-batches first, then take the norm. Whatever changes sign from
# one batch to the next cancels in the average; what the batches agree on stays. `expected_gradients` does
# that over 64 mini-batches of random tokens (same networks, same readout); dashed lines are the mean of
# single mini-batches' norms (over the first eight):

# %%
expected = {depth: expected_gradients(depth=depth, batches=64) for depth in (6, 48)}
fig, axes = new_figure(2)
for ax, r in zip(axes, expected.values()):
    plot_expected_gradients(r, ax)
for depth, r in expected.items():
    print(f"L = {depth:2d}, last/first |dL/dW2|: post-norm {r.spread('post'):.2f} expected, "
          f"{r.spread('post', expected=False):.2f} per mini-batch;  pre-norm {r.spread('pre'):.2f} expected, "
          f"{r.spread('pre', expected=False):.2f} per mini-batch")
deep = expected[48]
kept = {layer: deep.of_mean["post"][layer] / deep.per_batch["post"][layer] for layer in (0, -1)}
print(f"post-norm, L = 48: the average over batches keeps {kept[0]:.2f} of layer 1's per-batch norm, "
      f"{kept[-1]:.2f} of layer 48's")

# %%
assert round(expected[6].spread("post"), 1) == 1.1 and round(expected[6].spread("pre"), 1) == 0.7
assert round(deep.spread("post"), 1) == 3.0 and round(deep.spread("post", expected=False), 1) == 1.1
assert round(deep.spread("pre"), 2) == 0.33 and round(kept[0], 2) == 0.34 and round(kept[-1], 2) == 0.93

# %% [markdown]
# **Does this agree with Xiong et al.?**
# * *The depth dependence of the last layer: yes.* Pre-norm's last-layer gradient falls like $1/\sqrt L$:
#   times $\sqrt L$ it stays within 10% from $L = 6$ to 48, while the gradient itself drops by more than
#   half. Post-norm's does not shrink with depth. The mechanism is §3's: a pre-norm stream's variance
#   grows about linearly with depth, and the final LayerNorm divides by its standard deviation.
# * *Post-norm's profile: at depth 48, yes, once the gradient is averaged over batches.* One mini-batch's
#   gradient leans slightly the wrong way (from $L = 12$ on the last layer gets 0.56–0.79 of the first's).
#   The expected gradient of the 48-layer stack grows towards the output, the last layer getting 3.0 times
#   the first's (single mini-batches: 0.56 for the one above, 1.1 for the mean of eight batches' norms):
#   the early layers' per-batch gradients are mostly noise that cancels (the average over 64 batches keeps
#   0.34 of layer 1's typical per-batch norm, 0.93 of layer 48's). At $L = 6$, their model's depth, the expected
#   profile is level here (1.1).
# * *Pre-norm's profile: no, not in this setup, either way.* Its gradient is not level: the first layer
#   gets more than the last, 1.5 times at $L = 6$ and 4 times at $L = 48$ per mini-batch (expected: 1/0.7 and
#   1/0.33), because every block's LayerNorm divides by the standard deviation of a stream that grows with
#   the layer index. Shleifer et al. (2021, NormFormer) report the same mismatch, early layers getting
#   larger gradients than late ones, while pre-training pre-norm language models.
#
# What still differs from their setup: a stack of one kind of layer instead of a 6-layer encoder and a
# 6-layer decoder; GELU instead of ReLU in the MLP; random tokens and a random linear readout instead of
# IWSLT14 sentences and a translation loss; width 64 instead of 512; query and key projections drawn
# at random instead of the theorem's $W^Q = W^K = 0$; Xavier-uniform instead of Xavier-Gaussian weights
# (same variance). The expected gradient explains the post-norm profile at depth 48; we have not found
# which of the remaining differences matters at depth 6 or for pre-norm, and say so rather than guess.
#
# **Predict, then check.** Move the depth to 48: which curve tilts, and which way? Switch the MLP's
# activation to ReLU: does the picture change?

# %%
# NBVAL_IGNORE_OUTPUT
norm_placement_explorer()

# %% [markdown]
# ## 5. Training a 32-layer network with and without shortcuts
#
# §1's kind of network, deeper: 32 blocks of width 64, tanh-approximated GELU, PyTorch's default
# initialisation, a linear classifier on top, trained on chapter 1's synthetic 4-class problem (Gaussian
# inputs labelled by a fixed random teacher network) with Adam (learning rate $10^{-3}$, 200 steps of batch 128).
# Three networks: plain, with shortcuts, and with pre-norm shortcuts (`norm="pre"`).

# %%
trained = [train_network(depth=32, width=64, activation="gelu_tanh", init="default", optimizer="adam", lr=1e-3,
                         steps=200, shortcut=shortcut, norm=norm)
           for shortcut, norm in ((False, "none"), (True, "none"), (True, "pre"))]
fig, axes = new_figure(2)
plot_training(trained, axes)
for run in trained:
    print(f"{run.label:42s} loss {run.losses[0]:6.3g} -> {run.losses[-1]:.3f}, accuracy {run.accuracy:.1%}, "
          f"layer 1 moved {run.rel_change[0]:.2g}")

# %%
plain_run, short_run, prenorm_run = trained
guess_loss, guess_accuracy = guessing_baseline()
adam_step = 1e-3 / 1e-8 * plain_run.grad_to_weight[0]  # lr x |g| / eps, relative to |W_1|
print(f"ignoring the input: loss {guess_loss:.3f}, accuracy {guess_accuracy:.1%}")
print(f"plain network, layer 1 at step 1: |dL/dW_1| / |W_1| = {plain_run.grad_to_weight[0]:.2g}, "
      f"so Adam's first step is about {adam_step:.1g} of |W_1|")
assert plain_run.grad_to_weight[0] < 1e-16 and round(math.log10(adam_step)) == -13
assert plain_run.rel_change[0] == 0.0 and abs(plain_run.losses[-1] - guess_loss) < 0.02
assert abs(plain_run.accuracy - guess_accuracy) < 0.005
assert round(short_run.losses[0]) == 39 and short_run.losses[-1] < 0.5 and round(short_run.accuracy, 2) == 0.78
assert round(prenorm_run.losses[0], 1) == 2.5 and prenorm_run.losses[-1] < short_run.losses[-1] and prenorm_run.accuracy > 0.7
assert (short_run.rel_change > 0.01).all() and (prenorm_run.rel_change > 0.01).all()

# %% [markdown]
# The plain network never leaves the loss of guessing (the entropy of the class frequencies, and the
# 29.6% of always answering the commonest class): its first layer does not move at all. Even Adam, which
# divides each step by the gradient's running magnitude, cannot help. Its step is
# $\eta\, m/(\sqrt v + \varepsilon)$ with $\varepsilon = 10^{-8}$, so a gradient far below $\varepsilon$ moves
# the weights by about $\eta\, g/\varepsilon$: here some $10^{-13}$ of their size, a million times below
# float32's resolution. The step rounds away. With shortcuts, every layer moves and the network learns
# the task (78%). But it starts from a loss near 39: the forward signal has grown through 31 unscaled
# branches, so the first logits are huge (§3). With pre-norm shortcuts the start is tame (loss 2.5) and
# the loss ends lowest.
#
# ## 6. Common claims, checked
#
# Shortcut connections come with a set of claims that are repeated in courses, blog posts and forum
# answers, often without a source. Here is each one as you are likely to meet it, how far it holds, and
# where the evidence is: in this chapter, or in the paper that measured it.
#
# > **The usual explanation, the one that comes with §1's five-layer example, says: "shortcut connections
# > keep the gradient from vanishing in the early layers."** True for that network, though only part of
# > the printed thousand-fold difference is the gradient kept from vanishing: a factor of 12.6 is the
# > larger output of the shortcut network and a factor of 94 the shortcut's protection of the backward
# > product (§1; comparing the weight gradients of layers 1 and 4 suggests only six, because a weight
# > gradient also carries the layer's input). At depth 64 (§2) the effect is real and enormous, and comes
# > with the opposite risk: exploding gradients.
#
# Posts on residual connections in transformers add more:
#
# > **"Ablations: removing residual connections costs 30–50% of performance."** There is no such general
# > number (and usually no source is given for it): the cost depends on depth, task and initialisation. In
# > He et al. (2016, Table 2), removing shortcuts from a 34-layer ImageNet network raised top-1 error from
# > 25.0% to 28.5%; at 18 layers the difference was 0.1 points. That is not a vanishing-gradient result:
# > both networks use BatchNorm, He et al. checked that the plain network's backward gradients have
# > healthy norms, and they argue that its degradation (a higher *training* error too) is unlikely to be
# > caused by vanishing gradients. In §5 here, without BatchNorm, the plain 32-layer network learns
# > nothing at all. How much shortcuts are worth depends on what else keeps the network trainable.
#
# > **"With residual connections, networks can reach 1000+ layers."** True, and documented: He et al.
# > (2016) trained a 1202-layer ResNet on CIFAR-10 (worse than their 110-layer one), and He, Zhang, Ren &
# > Sun (2016, "Identity mappings") a 1001-layer pre-activation ResNet on CIFAR-10 with 4.92% error at
# > their usual mini-batch size of 128, and 4.62% (the median of five runs) with mini-batches of 64. So
# > this has been done in practice, not only in theory; §2 shows the mechanism: with shortcuts, the
# > gradient reaching the first layer no longer vanishes with depth.
#
# > **"GPT-3 has 96 layers and could not be trained at all without residual connections."** The 96 layers
# > are right (Brown et al., 2020, Table 2.1). That it could not be trained without shortcuts is not
# > something anyone has reported testing; Dong, Cordonnier & Loukas (2021) show that stacked
# > self-attention without shortcuts loses rank doubly exponentially with depth, which makes trouble
# > likely but is not a GPT-3 experiment. As stated, the claim goes beyond the evidence.
#
# > **"Without residual connections, networks rarely exceed 10 layers."** False. VGG-19 (Simonyan &
# > Zisserman, 2015) has 19 weight layers and no shortcuts; Xiao et al. (2018) trained 10,000-layer plain
# > convolutional networks with orthogonal initialisation; chapter 1's 30-layer He-initialised ReLU
# > network has a healthy gradient.
#
# > **"Thanks to the +1 the gradient can never vanish completely."** True on average over random
# > weights (§3), but not for every network, and the same +1 lets gradients explode (§2).
#
# > The smaller facts that usually come with these claims are right: the original transformer had 6 layers
# > per stack (Vaswani et al., 2017), BERT-base has 12 (Devlin et al., 2019), and ResNets won the ILSVRC
# > 2015 classification task (He et al., 2016). Layer counts quoted for other models are not always easy
# > to trace to the paper or model card that states them; check them there before you repeat them.
#
# ## What we saw
#
# * Raschka's five-layer measurement reproduces to $10^{-5}$ (about $10^{-7}$ is float32's resolution;
#   bit-for-bit equality across machines is not to be expected). Its thousand-fold gap is the shortcut
#   network's larger output (×12.6) times the shortcut's protection of the gradient on its way down (×94):
#   read $\|\partial L/\partial h_l\|$, not a weight gradient, which also carries the layer's input.
# * A residual block's Jacobian is $I + J$. For random branches, $\mathbb E\|(I+J)^\top v\|^2 \ge \|v\|^2$: in
#   mean square the gradient cannot vanish. It can explode: at depth 64, unscaled ReLU and GELU shortcut
#   networks deliver $10^{10}$ to their first layer.
# * The forward signal grows the same way. Over 50 blocks, unscaled branches multiply its mean square by
#   about $2^{50}$, pre-norm adds one per block, $1/\sqrt L$ branches end near $e$, ReZero and Fixup start as
#   the identity. Mean-field theory predicts each, and one network scatters around the prediction.
# * In transformer stacks, pre-norm's last-layer gradient falls like $1/\sqrt L$ and post-norm's does not,
#   as Xiong et al. (2020) predict. Their post-norm profile (growing towards the output) appears at depth 48
#   once the gradient is averaged over mini-batches, as they measure it; their level pre-norm profile does
#   not appear here.
# * A 32-layer plain GELU network with PyTorch's default initialisation does not train; the same network
#   with shortcuts does, and with pre-norm shortcuts starts from a sane loss.
#
# ## Exercises
#
# 1. *(predict, then check)* In §1, change the input to $(2, 0, -2)$. Which of the ten numbers do you expect
#    to change by exactly a factor of two or four? Copy the function that §1's table calls (`??` after its
#    name shows its source), change its input, run it and check.
# 2. Derive $\mathbb E\|(I + J)^\top v\|^2 = \|v\|^2 + \mathbb E\|J^\top v\|^2$ for $J = W_2 D W_1$ with $W_2$ zero-mean and
#    independent of $v$, and show that for ReLU with $s_1 = 2$, $s_2 = 1$ the second term is $\|v\|^2$.
# 3. Find a $2\times2$ matrix $J$ with $\|J\| \le 1$ for which $I + J$ maps some vector to zero. What does that do
#    to the gradient passing through such a block? Why is this rare for random $J$?
# 4. Derive the pre-norm closed forms $q_l = q_0 + l$ and $\|\partial L/\partial h_l\| / \|\partial L/\partial h_L\| = \sqrt{(L+1)/(l+1)}$
#    (ReLU, $s_1 = 2$, $s_2 = 1$, $q_0 = 1$), then check them with `residual_theory("pre-norm", 40)` and in the
#    hidden cell below: what is $\|\partial L/\partial h_1\| / \|\partial L/\partial h_{40}\|$?
# 5. *(predict, then check)* In §5, train the shortcut network with SGD at learning rate 0.1
#    (`optimizer="sgd", lr=0.1`). Predict what happens in the first steps, given its first loss of 39.
# 6. *(optional, shattered gradients)* Balduzzi et al. (2017) showed that in deep plain networks the
#    gradients for nearby inputs become uncorrelated, much less so with shortcuts. Using `gradient_flow`'s
#    set-up, compute the correlation between $\partial L/\partial x$ for $x$ and $x + 0.01\,\xi$ at depths 2 to 50,
#    with and without shortcuts.
#
# **Check your answer.** Open the hidden cell below, replace `None` by your number and run it: it computes
# the book's answer and says right or wrong, with a hint.

# %% jupyter={"source_hidden": true} tags=["hide-input"]
check_answer("ch2_prenorm_first_block", None)  # exercise 4: |dL/dh_1| / |dL/dh_40|, pre-norm, mean field

# %% [markdown]
# ## References
#
# * K. He, X. Zhang, S. Ren, J. Sun (2016), Deep residual learning for image recognition, *CVPR*.
# * K. He, X. Zhang, S. Ren, J. Sun (2016), Identity mappings in deep residual networks, *ECCV*.
# * A. Veit, M. Wilber, S. Belongie (2016), Residual networks behave like ensembles of relatively shallow networks, *NeurIPS*.
# * D. Balduzzi, M. Frean, L. Leary, J. P. Lewis, K. W.-D. Ma, B. McWilliams (2017), The shattered gradients
#   problem: if resnets are the answer, then what is the question?, *ICML*.
# * H. Zhang, Y. N. Dauphin, T. Ma (2019), Fixup initialization: residual learning without normalization, *ICLR*.
# * S. De, S. L. Smith (2020), Batch normalization biases residual blocks towards the identity function in
#   deep networks, *NeurIPS* (SkipInit).
# * T. Bachlechner, B. P. Majumder, H. H. Mao, G. W. Cottrell, J. McAuley (2021), ReZero is all you need: fast
#   convergence at large depth, *UAI*.
# * S. Hayou, E. Clerico, B. He, G. Deligiannidis, A. Doucet, J. Rousseau (2021), Stable ResNet, *AISTATS*.
# * A. Radford, J. Wu, R. Child, D. Luan, D. Amodei, I. Sutskever (2019), Language models are unsupervised
#   multitask learners (GPT-2), OpenAI report.
# * A. Vaswani et al. (2017), Attention is all you need, *NeurIPS*.
# * R. Xiong et al. (2020), On layer normalization in the transformer architecture, *ICML*.
# * S. Shleifer, J. Weston, M. Ott (2021), NormFormer: improved transformer pretraining with extra
#   normalization, arXiv:2110.09456.
# * Y. Dong, J.-B. Cordonnier, A. Loukas (2021), Attention is not all you need: pure attention loses rank
#   doubly exponentially with depth, *ICML*.
# * T. Brown et al. (2020), Language models are few-shot learners, *NeurIPS*.
# * J. Devlin, M.-W. Chang, K. Lee, K. Toutanova (2019), BERT, *NAACL*.
# * K. Simonyan, A. Zisserman (2015), Very deep convolutional networks for large-scale image recognition, *ICLR*.
# * L. Xiao, Y. Bahri, J. Sohl-Dickstein, S. Schoenholz, J. Pennington (2018), Dynamical isometry and a mean
#   field theory of CNNs: how to train 10,000-layer vanilla convolutional neural networks, *ICML*.
# * S. Raschka (2024), *Build a Large Language Model (From Scratch)*, §4.4 "Adding shortcut connections".
# * PyTorch documentation, "Reproducibility" (notes/randomness).
