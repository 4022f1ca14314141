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
# **Learning goals.** The chapter is two sittings; goals 1–4 belong to the first (§1–§3), goals 5–6 to
# the second (§4–§6). After this chapter you can
#
# 1. build a published five-layer network in plain PyTorch, reproduce its per-layer gradients, and say
#    why "the same numbers" means equal to a relative $10^{-6}$ and not bit for bit;
# 2. explain, for networks of any depth, how shortcuts change the gradient that reaches the first
#    layer, and predict it with the explorer;
# 3. write a residual block's Jacobian as $I + \partial F/\partial h$ and state what the identity term
#    guarantees about the backward product and what it does not;
# 4. derive how the forward signal grows with depth for unscaled ReLU branches, predict it for branches
#    scaled by $1/\sqrt{L}$, zero-initialised branch gains (ReZero, SkipInit), a Fixup-style
#    initialisation and pre-norm blocks, and check each prediction against a measurement;
# 5. compare pre-norm and post-norm transformer stacks layer by layer, and test a published claim
#    (Xiong et al., 2020) against a measurement;
# 6. see what shortcuts do to training a 32-layer network, check its first loss against $\ln 4$, and
#    check common claims about shortcuts.
#
# As in chapter 1, every number quoted in the text is computed in a cell and checked by an `assert` to the
# precision it is quoted with.
#
# **Notation** (the same in every chapter; the book's [glossary](../docs/glossary.md) has the terms).
#
# | symbol | meaning |
# |---|---|
# | $L$, $l$, $n$ | depth (number of layers or blocks), layer index, width |
# | $x$, $h_l$ | the input, and layer $l$'s output; in a residual network $h_l$ is the *stream*: $h_l = h_{l-1} + F_l(h_{l-1})$, $h_0 = x$ |
# | $F_l$, $J_l$ | block $l$'s branch (residual function) and its Jacobian $\partial F_l/\partial h_{l-1}$ |
# | $\phi$, $\phi'$ | the activation function and its slope (PyTorch's convention: $\mathrm{ReLU}'(0) = 0$) |
# | $\ell$ | the loss; $\partial\ell/\partial W_l$ and $\partial\ell/\partial h_l$ are its gradients |
# | $\sigma_w^2$ | weight variance: weights drawn from $\mathcal N(0, \sigma_w^2/n_\text{in})$ |
# | $\sigma_1^2$, $\sigma_2^2$ | the weight variances of a two-layer branch's first and second layer (§3) |
# | $g$, $g_l$ | a branch's gain: $h_l = h_{l-1} + g\,F_l(h_{l-1})$ |
# | $v_l$, $v_0$ | the mean square of the stream $h_l$ per unit (averaged over units and inputs); $v_0$ the input's |
#
# A *gain* is a constant factor that multiplies a scale; here it multiplies a branch's output.

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
from torch import nn

import trainable_depth  # first: checks that `utils` below is the book's library, not another file of that name
from utils import new_figure, precomputed_explorer
from utils.blocks import build_network
from utils.check import check_answer
from utils.formatting import FLOAT32_TINY, above, varies
from utils.norm_placement import (expected_gradients, norm_placement, norm_placement_explorer,
                                   plot_expected_gradients, plot_norm_placement)
from utils.residual_scaling import (LABELS, SCHEMES, plot_residual_scaling, residual_scaling,
                                    residual_scaling_explorer, residual_theory, stream_statistics)
from utils.shortcuts import (RASCHKA_PUBLISHED, first_layer_sweep, five_layer_gradients, gradient_correlation,
                             plot_first_layer_sweep, shortcut_comparison, shortcut_explorer)
from utils.training import guessing_baseline, plot_training, train_network

# %% [markdown]
# ## 1. A five-layer network, with and without shortcuts
#
# Section 4.4 of Sebastian Raschka's *Build a Large Language Model (From Scratch)* (2024) introduces
# shortcut connections with a small network and prints its per-layer gradients; we start by reproducing
# those published numbers. Here is the network, written out in plain PyTorch: five blocks of a linear
# layer followed by GELU (a smooth ReLU, $\phi(z) = z\,\Phi(z)$ with $\Phi$ the standard normal distribution
# function; here its tanh approximation), with layer sizes 3 → 3 → 3 → 3 → 3 → 1. With
# shortcuts on, each block whose input and output have the same size adds its input to its output,
# $h_l = h_{l-1} + \mathrm{GELU}(W_l h_{l-1} + b_l)$; that is blocks 1 to 4, while block 5 (3 → 1) stays
# plain.

# %%
class FiveLayerNet(nn.Module):
    """Raschka's section 4.4 network: Linear + GELU five times, sizes 3-3-3-3-3-1, optional shortcuts."""

    def __init__(self, use_shortcut: bool, sizes=(3, 3, 3, 3, 3, 1)):
        super().__init__()
        self.use_shortcut = use_shortcut
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        self.gelu = nn.GELU(approximate="tanh")

    def forward(self, h):
        for layer in self.layers:
            out = self.gelu(layer(h))
            h = h + out if self.use_shortcut and out.shape == h.shape else out  # the shortcut
        return h

# %% [markdown]
# The measurement: `torch.manual_seed(123)` before building each model (PyTorch's default
# initialisation), one input $x = (1, 0, -1)$, the squared error against the target 0 as the loss $\ell$,
# one backward pass, and for each layer the mean absolute entry of $\partial\ell/\partial W_l$, read from
# the layer's `.grad`:

# %%
def five_layer_measurement(use_shortcut: bool, x=(1.0, 0.0, -1.0)) -> np.ndarray:
    torch.manual_seed(123)
    net = FiveLayerNet(use_shortcut)
    x = torch.tensor([x])
    loss = nn.functional.mse_loss(net(x), torch.zeros(1, 1))
    loss.backward()
    return np.array([layer.weight.grad.abs().mean().item() for layer in net.layers])


by_hand = {shortcut: five_layer_measurement(shortcut) for shortcut in (False, True)}
print("mean |dℓ/dW_l|, layers 1-5, without shortcuts:", " ".join(f"{w:.4g}" for w in by_hand[False]))
print("                             with shortcuts:   ", " ".join(f"{w:.4g}" for w in by_hand[True]))

# %% [markdown]
# From here on the chapter builds its networks with the book's builder, `build_network`: the same
# network is `build_network(5, 3, activation="gelu_tanh", shortcut=..., in_dim=3, out_dim=1, seed=123)`,
# which creates the layers in the same order, so the same `torch.manual_seed(123)` gives the same weights, and
# `five_layer_gradients(shortcut)` takes the measurement above on it. Check that they agree:

# %%
runs = {shortcut: five_layer_gradients(shortcut) for shortcut in (False, True)}
builder_net = build_network(5, 3, activation="gelu_tanh", shortcut=True, in_dim=3, out_dim=1, seed=123)
torch.manual_seed(123)
weight_gap = max((a.weight - b.weight).abs().max().item() for a, b in zip(FiveLayerNet(True).layers, builder_net.linears))
worst = max(np.max(np.abs(runs[s].mean_abs_grad / by_hand[s] - 1)) for s in (False, True))
print(f"largest weight difference: {weight_gap:.1g};  worst relative difference between the two measurements: {worst:.1g}")
assert weight_gap == 0.0 and worst == 0.0

# %% [markdown]
# The two are the same to the last bit, as they should be: the same operations on the same numbers.
# Now compare with the book. In the table, *measured* is our run and *published* the value printed in
# Raschka's §4.4.

# %%
print(f"{'':7s}{'without shortcuts':>26s}{'with shortcuts':>26s}")
print(f"{'layer':7s}{'measured':>13s}{'published':>13s}{'measured':>13s}{'published':>13s}")
for layer in range(5):
    row = "".join(f"{runs[s].mean_abs_grad[layer]:13.4g}{RASCHKA_PUBLISHED[s][layer]:13.4g}" for s in (False, True))
    print(f"{layer + 1:<7d}{row}")
published_gap = max(np.max(np.abs(runs[s].mean_abs_grad / RASCHKA_PUBLISHED[s] - 1)) for s in (False, True))
print(f"worst relative difference from the published values: {'< 1e-6' if published_gap < 1e-6 else published_gap}")
assert published_gap < 1e-6

# %% [markdown]
# All ten values agree with the published ones to a relative $10^{-6}$. Not bit for bit, though, and no
# one should expect that; the aside says why. Skip it on a first reading.
#
# > **Aside — why "the same numbers" means equal to $10^{-6}$, not bit for bit.** The published values
# > have 17 significant digits, printed from float32 numbers, which hold only about 7 (float32's machine
# > epsilon, the gap between 1 and the next float32, is $\varepsilon = 2^{-23} \approx 1.2\times10^{-7}$).
# > Every float32 operation rounds its result, so the answer depends on the *order* of the operations,
# > and floating-point addition is not associative:

# %%
a, b, c = np.float32(0.1), np.float32(0.1), np.float32(0.5)
left, right = (a + b) + c, a + (b + c)
print(f"(0.1 + 0.1) + 0.5 = {left:.9g}    0.1 + (0.1 + 0.5) = {right:.9g}    (float32)")
assert left != right

double = {shortcut: five_layer_gradients(shortcut, dtype="float64") for shortcut in (False, True)}
float64_gap = max(np.max(np.abs(runs[s].mean_abs_grad / double[s].mean_abs_grad - 1)) for s in (False, True))
print(f"float32 against float64 (same weights): worst relative difference "
      f"{'< 1e-6' if float64_gap < 1e-6 else float64_gap}, and not zero")
assert 0 < float64_gap < 1e-6

# %% [markdown]
# > A matrix product sums in whatever order its kernel chooses, and that choice differs between
# > libraries (MKL, OpenBLAS, oneDNN), between CPUs (the width of the vector registers, whether a fused
# > multiply-add rounds once where separate instructions round twice), with the number of threads, and
# > between PyTorch versions; `tanh` may be computed by a different vectorised approximation on another
# > CPU; and the same formula written differently rounds differently (Raschka's code writes the GELU
# > formula out by hand, we call PyTorch's `GELU(approximate="tanh")`). Each choice moves the last bit or
# > two, and after a few layers the results differ by parts in $10^7$. The same network run in float64
# > (same weights) agrees with the float32 run to better than $10^{-6}$ but not exactly: float32 itself
# > cannot say more. Hence the tolerance $10^{-6}$, a few times $\varepsilon$. PyTorch's own
# > reproducibility notes say it plainly: completely reproducible results are not guaranteed across
# > releases or platforms. *(End of aside.)*
#
# Now read the numbers. With shortcuts, layer 1 receives about a thousand times more gradient. How
# much of that is the shortcut protecting the gradient on its way down, and how much is something else?

# %%
for shortcut in (False, True):
    dw, y, dh = runs[shortcut].mean_abs_grad, runs[shortcut].output, runs[shortcut].grad_act_norm
    print(f"{'with' if shortcut else 'without':7s} shortcuts: output {y:.3f}, dℓ/dy = 2y = {2 * y:.3f}, "
          f"|dℓ/dh_1| / |dℓ/dh_5| = {dh[0] / dh[4]:.3g};  weights: layer 1 / layer 4 = {dw[0] / dw[3]:.2f}")
plain_g, short_g = runs[False].mean_abs_grad, runs[True].mean_abs_grad
plain_h, short_h = runs[False].grad_act_norm, runs[True].grad_act_norm
top = runs[True].output / runs[False].output
backward = (short_h[0] / short_h[4]) / (plain_h[0] / plain_h[4])
print(f"with / without: |dℓ/dW_1| x{short_g[0] / plain_g[0]:.0f}, |dℓ/dh_1| x{short_h[0] / plain_h[0]:.0f} "
      f"= dℓ/dy x{top:.1f} times the backward product x{backward:.0f}")
assert 1000 < short_g[0] / plain_g[0] < 1200 and 200 < short_g[4] / plain_g[4] < 300
assert abs(runs[False].output - 0.061) < 1e-3 and abs(runs[True].output - 0.767) < 1e-3
assert 12.55 < top < 12.65 and 93.5 < backward < 94.5 and 1175 < short_h[0] / plain_h[0] < 1185
assert 0.0085 < plain_h[0] / plain_h[4] < 0.0087 and 0.805 < short_h[0] / short_h[4] < 0.815
assert round(plain_g[0] / plain_g[3], 2) == 0.14 and round(short_g[0] / short_g[3], 2) == 0.83
assert round((short_g[0] / short_g[3]) / (plain_g[0] / plain_g[3])) == 6

# %% [markdown]
# Layer 1's weight gradient is $\partial\ell/\partial W_1 = \delta_1 x^\top$ (with $\delta_1 = \partial\ell/\partial z_1$, the
# gradient at its pre-activation $z_1 = W_1 x + b_1$) with the same input $x$ in both networks, so
# its factor of 1100 is all backward signal, and it splits into two parts. At the *top*: with shortcuts
# the input reaches the output, so the output is 0.77 instead of 0.06 and the loss's gradient $2y$ is 12.6
# times larger. On the *way down*, read as chapter 1 reads it, with the gradient reaching each block's
# output: without shortcuts, $\|\partial\ell/\partial h_1\|$ is 0.0086 of $\|\partial\ell/\partial h_5\| = |\partial\ell/\partial y|$
# (it loses more than a factor of a hundred through four blocks); with shortcuts, 0.81. That factor of 94 is the shortcut
# protecting the gradient, and $12.6 \times 94 \approx 1180$ is the gap in $\|\partial\ell/\partial h_1\|$ (the weight
# gradient's 1100 differs a little because each unit's share is weighted by its slope $\phi'(z_1)$). (Comparing the *weight* gradients
# of layers 1 and 4 instead, 0.14 against 0.83, gives only a factor of six: $\partial\ell/\partial W_4$ also
# carries its own input $h_3$, and the two networks' $h_3$ differ, so that ratio is not the backward product
# alone.) Five layers are too few to see vanishing gradients properly; the next section goes deeper.
#
# ## 2. The first layer's gradient against depth
#
# Take chapter 1's experiment (`gradient_flow`: weights $\mathcal N(0, \sigma_w^2/n)$ with $\sigma_w^2 = 1$,
# zero biases, a batch of Gaussian inputs, a fixed random linear readout of the last layer as the loss),
# at width 64 and with a batch of 32 inputs instead of chapter 1's 128 and 128 (this section builds 56
# networks, so each is kept small), and build each network twice, without and with
# shortcuts. Here is $\|\partial\ell/\partial W_1\|$ for depths 1 to 64 and four activations (solid: with
# shortcuts; dashed: without).

# %%
sweep = first_layer_sweep(depths=(1, 2, 4, 8, 16, 32, 64), activations=("sigmoid", "tanh", "relu", "gelu"))
fig, ax = new_figure()
plot_first_layer_sweep(sweep, ax)
for act in sweep.plain:
    print(f"{act:8s} depth 64: |dℓ/dW_1| without {above(sweep.plain[act][-1], FLOAT32_TINY):>9s}, "
          f"with {sweep.residual[act][-1]:9.2g}")
tiny = sweep.plain["sigmoid"][-1]  # below float32's normal range: a subnormal, or 0 where they are flushed
assert tiny < FLOAT32_TINY and (tiny == 0 or 1e-41 < tiny < 1e-39) and 0.2 < sweep.residual["sigmoid"][-1] < 1
assert sweep.residual["sigmoid"].max() < 1.5 * sweep.residual["sigmoid"].min()
# Bands over seeds 0-4, measured: plain ReLU 6.4e-11-3.2e-10, plain GELU 1.0e-19-2.5e-19; with shortcuts ReLU and GELU 1.0e+09-1.1e+10.
assert 1e-11 < sweep.plain["relu"][-1] < 1e-9 and 1e-20 < sweep.plain["gelu"][-1] < 1e-18
assert all(3e8 < sweep.residual[act][-1] < 1e11 for act in ("relu", "gelu"))
assert 0.02 < sweep.plain["tanh"][-1] < 0.5 and 10 < sweep.residual["tanh"][-1] < 300

# %% [markdown]
# Without shortcuts, the first layer of a 64-layer sigmoid network receives less than $1.2\times10^{-38}$,
# float32's smallest *normal* number: what is left is a *subnormal* (one of the tiny, less precise numbers float32 keeps below its normal
# range) near $10^{-40}$ on a CPU, and exactly 0 on
# hardware that flushes subnormals to zero (Apple's MPS, CPUs in flush-to-zero mode). ReLU and GELU
# at this weight scale lose ten and nineteen orders of magnitude (chapter 1: the factor per layer is
# $\sqrt{\sigma_w^2/2}$ for ReLU). With shortcuts, nothing vanishes. But look at ReLU and GELU: their first
# layer now receives $10^9$ to $10^{10}$. The shortcut has traded a vanishing gradient for an exploding one. Only
# the sigmoid, whose branches saturate, stays level.
#
# The gradient ratio first/last layer at depth 50 says the same, one network at a time:

# %%
at_50 = {act: shortcut_comparison(depth=50, activation=act, sigma_w2=1.0) for act in ("sigmoid", "tanh", "relu")}
for act, r in at_50.items():
    print(f"{act:8s} |dℓ/dh_1| / |dℓ/dh_50|: without shortcuts {r.plain.ratio:9.3g}, with {r.residual.ratio:9.3g}")
assert at_50["sigmoid"].plain.ratio < 1e-25 and 0.5 < at_50["sigmoid"].residual.ratio < 2
assert 0.05 < at_50["tanh"].plain.ratio < 0.5 and 10 < at_50["tanh"].residual.ratio < 100
assert at_50["relu"].plain.ratio < 1e-7 and at_50["relu"].residual.ratio > 1e5

# %% [markdown]
# Shortcuts change more than the gradient's size. Balduzzi et al. (2017) noticed that in deep plain
# networks the gradient *shatters*: two nearby inputs get gradients that have little to do with each other,
# as if the gradient were noise, while with shortcuts they stay alike. A cheap check: 64 Gaussian inputs
# $x$, each with a neighbour $x + 0.1\,\xi$ ($\xi$ Gaussian, so the neighbour is a tenth of $\|x\|$ away), the
# same readout loss, and the cosine between $\partial\ell/\partial x$ at the two, averaged over the 64 pairs
# (1: the same direction; 0: unrelated). ReLU with $\sigma_w^2 = 2$, He (Kaiming) initialisation: the
# weight variance that keeps a plain ReLU network's signal level (chapter 3 §1 defines it); three
# networks per depth:

# %%
shatter = gradient_correlation(depths=(1, 4, 16, 64), activation="relu", sigma_w2=2.0, networks=3)
for depth, plain_cos, residual_cos in zip(shatter.depths, shatter.plain, shatter.residual):
    print(f"depth {depth:2d}: cosine of dℓ/dx at neighbours, three networks: without shortcuts "
          + " ".join(f"{c:.2f}" for c in plain_cos) + ";  with " + " ".join(f"{c:.2f}" for c in residual_cos))
# Bands over seeds 0-4 (three networks each): depth 1 0.97 in every network; depth 64 without shortcuts
# 0.07–0.53; with shortcuts at least 0.88 at every depth, at least 0.96 at depth 64.
assert shatter.plain[0].min() > 0.95 and shatter.plain[-1].max() < 0.6 and shatter.plain[-1].min() < 0.2
assert shatter.residual.min() > 0.85 and shatter.residual[-1].min() > 0.93

# %% [markdown]
# One layer: the neighbours' gradients point the same way (0.97). Without shortcuts the agreement decays
# with depth, at depth 64 to between 0.1 and 0.53 here, depending on the network (0.07–0.53 over five seeds'
# networks): the gradient of a deep plain
# ReLU network changes direction over a tenth of an input's length, which makes it a poor guide for a
# step of that size. With shortcuts it stays high: 0.88 or above at every depth here, 0.96 or above at depth 64
# (over five seeds at least 0.88 and 0.96).
#
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
# \frac{\partial \ell}{\partial h_0} = (I + J_1)^\top (I + J_2)^\top \cdots (I + J_L)^\top \frac{\partial \ell}{\partial h_L}.$$
#
# Multiply the product out and it becomes a sum over all $2^L$ subsets of blocks; one term is the
# identity alone, so the top gradient reaches the bottom even if every branch is switched off. Veit et
# al. (2016) read a residual network this way, as an ensemble of paths of many lengths.
#
# **What the $I$ guarantees.** Suppose $J$ is random with mean zero and independent of the vector $u$ it
# acts on. At initialisation this is the usual *mean-field* assumption: for wide layers the branch's
# weights are fresh zero-mean noise, each layer's pre-activations are Gaussian, and one number per layer
# describes the signal (chapter 3 builds its theory on this picture). Then the cross term vanishes on
# average and
#
# $$\mathbb E\,\|(I + J)^\top u\|^2 = \|u\|^2 + \mathbb E\,\|J^\top u\|^2 \;\ge\; \|u\|^2 .$$
#
# In mean square, a residual block can never shrink the gradient. That is the whole of the "+1"
# argument, and it is what we measured above: nothing vanished.
#
# **What it does not guarantee.**
# * *Growth.* If each block adds $\mathbb E\|J_l^\top u\|^2 = g_l^2 \|u\|^2$, the mean square grows by $\prod_l (1 + g_l^2)$.
#   With $g_l^2 = g^2$ fixed this is $(1+g^2)^L$: exponential. It stays bounded only if $\sum_l g_l^2$ does,
#   for example $g_l^2 \propto 1/L$, since $(1 + g^2/L)^L \to e^{g^2}$.
# * *The forward pass.* The signal obeys the same arithmetic: $\mathbb E\|h_l\|^2 = \mathbb E\|h_{l-1}\|^2 + \mathbb E\|F_l\|^2$
#   when the branch's last weight matrix has mean zero (then the cross term $h_{l-1}\cdot F_l$ averages to
#   zero), so each block *adds* mean square and nothing takes it away.
# * *Each network, not the average.* The inequality is about the mean over random weights. A particular
#   $I + J$ can be singular ($J$ with an eigenvalue $-1$), and a product of many random factors
#   scatters widely around its mean (chapter 1, §1).
# * *A normalisation on the identity path.* A *LayerNorm* rescales each vector by its own statistics:
#   $\mathrm{LN}(h)_i = \gamma_i\,(h_i - \mu)/\sigma + \beta_i$, with $\mu$ and $\sigma$ the mean and standard
#   deviation of the $n$ entries of $h$, and a learned scale $\gamma$ and shift $\beta$ (1 and 0 at
#   initialisation). In a *post-norm* block, $h_l = \mathrm{LN}(h_{l-1} + F(h_{l-1}))$, the LayerNorm's
#   Jacobian multiplies the identity term too (§4).
#
# ### 3.1 One case in full: an unscaled ReLU branch
#
# Take the two-layer branch of a ResNet or a transformer's MLP, $F(h) = W_2\, \phi(W_1 h)$, with ReLU
# for $\phi$, $W_1 \sim \mathcal N(0, \sigma_1^2/n)$, $W_2 \sim \mathcal N(0, \sigma_2^2/n)$ and zero biases. Track
# $v_l$, the mean square of the stream $h_l$ per unit. Fix one input's $h_{l-1}$ and average over the
# block's weights:
#
# 1. Each pre-activation $z_j = \sum_k (W_1)_{jk} h_k$ is a sum of independent zero-mean Gaussians, so it
#    is Gaussian with mean 0 and variance $\sigma_1^2 \|h_{l-1}\|^2/n = \sigma_1^2 v_{l-1}$.
# 2. ReLU keeps the positive half of a symmetric distribution and zeroes the rest, so
#    $\mathbb E[\phi(z)^2] = \tfrac12\,\mathbb E[z^2] = \sigma_1^2 v_{l-1}/2$.
# 3. Each branch output $F_i = \sum_j (W_2)_{ij}\, \phi(z_j)$ then has
#    $\mathbb E[F_i^2] = \tfrac{\sigma_2^2}{n} \sum_j \mathbb E[\phi(z_j)^2] = \sigma_2^2 \sigma_1^2 v_{l-1}/2$.
# 4. The cross term $\mathbb E[h_i F_i]$ is zero: $W_2$ has mean zero and is independent of $h_{l-1}$ and $\phi(z)$.
#
# So
#
# $$v_l = v_{l-1} + \sigma_2^2\, \mathbb E[\phi(z)^2] = \Big(1 + \frac{\sigma_1^2 \sigma_2^2}{2}\Big)\, v_{l-1},
# \qquad z \sim \mathcal N(0,\, \sigma_1^2 v_{l-1}),$$
#
# a factor $1 + \sigma_w^2/2$ per block with $\sigma_1^2 = \sigma_w^2$ and $\sigma_2^2 = 1$. He's $\sigma_w^2 = 2$
# (§2), which keeps a *plain* ReLU layer's mean square constant, gives a factor of 2 per block: $v_L = 2^L v_0$. No step needed wide
# layers: given $h_{l-1}$ each step is exact, so this is the average over networks at any width. Going
# down, the same steps give the gradient's factor $1 + \sigma_1^2\sigma_2^2\,\mathbb E[\phi'(z)^2] = 1 + \sigma_1^2\sigma_2^2/2$
# per block ($\phi'(z)^2$ is 1 on the positive half and 0 on the other; $\mathrm{ReLU}'(0) = 0$ does not
# matter, since $z = 0$ has probability zero); that step does assume the mean-field independence above.
#
# What the recursion does not follow is *where* the mean square goes. ReLU outputs are positive, so the
# hidden units $\phi(z_j)$ have a positive mean over inputs. $W_2$ has mean zero, so it sends that common
# part in a random direction, but the *same* direction for every input. Averaged over units and inputs
# the stream's mean stays near zero, while the part of $h_l$ that all inputs share (each unit's mean over
# the batch, squared, as a fraction of $v_l$) grows. `stream_statistics` runs the batch through one stack
# and records both; first the average over 200 networks of 1 and 10 blocks (width 64, 32 inputs):

# %%
ten_blocks = [stream_statistics("unscaled", depth=10, seed=seed) for seed in range(200)]
average = {}
for blocks in (1, 10):
    growth_k = np.array([s.mean_square[blocks] / s.mean_square[0] for s in ten_blocks])
    average[blocks] = (growth_k.mean(), growth_k.std() / math.sqrt(len(growth_k)), np.median(growth_k))
    print(f"v_{blocks}/v_0 over 200 networks: mean {average[blocks][0]:.3g} ± {average[blocks][1]:.2g} "
          f"(standard error), theory 2^{blocks} = {2 ** blocks};  median {average[blocks][2]:.3g}")
    assert abs(average[blocks][0] - 2**blocks) < 2 * average[blocks][1]  # theory within two standard errors
# Bands over seeds 0-4 (each shift changes the first few of the 200 networks): v_1/v_0 1.993-1.997 ± 0.0078-0.0079, v_10/v_0 994-1003 ± 27.5-28.1, theory within 1.1 standard errors.
assert abs(average[1][0] - 2) < 0.01 and abs(average[1][1] - 0.008) < 0.0005
assert 980 < average[10][0] < 1020 and 27 < average[10][1] < 29 and average[10][2] < average[10][0]
one_net = stream_statistics("unscaled", depth=50)
print(f"one 50-block network, layers {[0, 1, 5, 10, 20, 50]}:")
print("  shared fraction of v_l: " + " ".join(f"{one_net.shared[l]:.2f}" for l in (0, 1, 5, 10, 20, 50)))
mean_to_rms = np.abs(one_net.mean) / np.sqrt(one_net.mean_square)
print(f"  overall mean / rms, largest over layers 0-50: {mean_to_rms.max():.2f}  (1/sqrt(64) = 0.125)")
# One network, bands over seeds 0-4: shared fraction 0.031-0.051 at the input, 0.87-0.92 after 50 blocks;
# mean / rms at most 0.29.
assert one_net.shared[0] < 0.08 and one_net.shared[-1] > 0.8 and mean_to_rms.max() < 0.3

# %% [markdown]
# The recursion holds: one block doubles the mean square on average (1.99 ± 0.008), ten blocks multiply it
# by 994 ± 28 here (theory 1024; 994–1003 over five seeds), and the median network falls below the mean, a first sign of the scatter
# discussed below. The stream's overall mean does not grow relative to its size: averaged over units and
# inputs it stays within a quarter of the RMS here (at most 0.29 over five seeds) (root mean square, $\sqrt{v_l}$), which is what the average of 64 random-signed entries gives
# (typically $1/\sqrt{64} = 0.125$ of their RMS). But the shared part does:
# 4% of $v_0$ (32 independent Gaussian inputs share little), 88% of $v_{50}$ here (3%–5% and 87%–92%
# over five seeds). After 50 unscaled ReLU blocks
# every input's stream is mostly one common vector, the sum of the blocks' random "mean" directions.
# The factor $1 + \sigma_w^2/2$ leaves nothing out of the mean square; it just does not say that the
# growth is mostly shared (how two inputs' signals correlate layer by layer is chapter 3's subject). §5
# meets the consequence.
#
# ### 3.2 Five ways to set up the branches
#
# The same branch with a scalar gain $g$ and an optional LayerNorm $N$ in front,
# $F(h) = g\, W_2\, \phi(W_1 N(h))$, covers five published set-ups:
#
# | scheme | $g$ | $\sigma_1^2$ | $\sigma_2^2$ | $N$ | as in |
# |---|---|---|---|---|---|
# | unscaled | 1 | $\sigma_w^2$ | 1 | — | He et al. (2016) without BatchNorm |
# | branch × $1/\sqrt L$ | $1/\sqrt L$ | $\sigma_w^2$ | 1 | — | Hayou et al. (2021); GPT-2's scaled init |
# | ReZero / SkipInit | 0 (learned) | $\sigma_w^2$ | 1 | — | Bachlechner et al. (2021); De & Smith (2020) |
# | Fixup-style | 1 (learned) | $\sigma_w^2 / L$ | 0 | — | Zhang, Dauphin & Ma (2019), $m = 2$ layers per branch |
# | pre-norm | 1 | $\sigma_w^2$ | 1 | LayerNorm | pre-LN transformers |
#
# (Fixup proper also adds scalar biases; here only its initialisation is used: the last layer of each
# branch at zero, the others scaled by $L^{-1/(2m-2)} = L^{-1/2}$.) A real ResNet is *not* the unscaled
# case: each of its branches contains BatchNorm (the same normalisation as LayerNorm, but per feature,
# over the mini-batch), and De & Smith (2020) show that at initialisation this divides each branch by
# the scale of the stream it is added to, which grows along the network, so that the branches are
# down-weighted relative to the skip path by a factor of the order of $\sqrt{\text{depth}}$. That is close
# to the $1/\sqrt L$ row, and the reason SkipInit, a learned gain started at zero, can stand in for BatchNorm.
#
# **The general recursion.** §3.1's steps, with the gain and the optional LayerNorm, give
#
# $$v_l = v_{l-1} + g^2 \sigma_2^2\, \mathbb E\big[\phi(z)^2\big], \qquad z \sim \mathcal N(0,\, \sigma_1^2 r_{l-1}),$$
#
# with $r_{l-1} = v_{l-1}$, or $r_{l-1} = 1$ behind a LayerNorm (it hands the branch a unit-variance input).
# Going down, block $l$ multiplies the mean-square gradient by $1 + g^2 \sigma_2^2 \sigma_1^2\, \mathbb E[\phi'(z)^2]$
# without a LayerNorm, and by $1 + g^2 \sigma_2^2 \sigma_1^2\, \mathbb E[\phi'(z)^2] / v_{l-1}$ behind one: the
# LayerNorm divides its input by the input's standard deviation, $\sqrt{v_{l-1}}$, so the gradient coming back
# through the branch is divided by it too (the 1, the identity path, is untouched).
# For ReLU with $\sigma_1^2 = \sigma_w^2 = 2$ and $\sigma_2^2 = 1$ this gives closed forms: unscaled
# $v_L = 2^L v_0$; scaled $v_L = (1 + 1/L)^L v_0 \to e\, v_0$; ReZero and Fixup $v_L = v_0$ exactly (every branch
# starts at zero); pre-norm $v_L = v_0 + L$ (each block adds $\sigma_2^2\sigma_w^2/2 = 1$; in general
# $v_0 + L\sigma_w^2/2$). For other activations the Gaussian expectations have no closed form and are
# computed by *quadrature*: the integral over the Gaussian is replaced by a weighted sum of the function's
# values at a few fixed points (Gauss–Legendre panels weighted by the normal density, from chapter 3's `utils/mean_field.py`).
# `residual_theory(scheme, depth)` iterates the recursion.
#
# Measured, 50 blocks of width 64, ReLU, $\sigma_w^2 = 2$, the same 32 Gaussian inputs for every scheme;
# dashed lines are the theory, started from the inputs' measured mean square $v_0$:

# %%
schemes = residual_scaling(depth=50, width=64, activation="relu", sigma_w2=2.0)
fig, axes = new_figure(2)
plot_residual_scaling(schemes, axes)
v0 = schemes.mean_square["unscaled"][0]
print(f"v_0 = {v0:.2f} (the 32 x 64 Gaussian inputs' mean square)")
print(f"{'scheme':18s} {'v_50/v_0':>10s} {'theory':>10s}   {'|dℓ/dh_1|/|dℓ/dh_50|':>21s} {'theory':>8s}")
for s in SCHEMES:
    grad = schemes.grad_norm[s]
    print(f"{LABELS[s]:18s} {schemes.growth(s):10.3g} {schemes.predicted_growth(s):10.3g}   "
          f"{grad[0] / grad[-1]:21.3g} {schemes.theory[s].grad_ratio[0]:8.3g}")
growth = {s: schemes.growth(s) for s in SCHEMES}
# Bands over seeds 0-4, measured: v_0 0.936-1.060; unscaled 2.1e+14-5.3e+15 (theory / measured 0.21-5.39);
# 1/sqrt(L) 2.47-3.12 (measured / theory 0.92-1.16); pre-norm 40.7-56.8 (measured / theory 0.80-1.11); pre-norm gradient ratio 5.20-5.89.
assert 0.9 < v0 < 1.15
assert 1e13 < growth["unscaled"] < 1e16 and 1.05e15 < schemes.predicted_growth("unscaled") < 1.15e15
assert growth["unscaled"] > 1e11 * growth["pre-norm"] and growth["pre-norm"] > 10 * growth["1/sqrt(L)"]
assert growth["1/sqrt(L)"] > 2 and abs(growth["rezero"] - 1) < 1e-12 and abs(growth["fixup"] - 1) < 1e-12
assert abs(schemes.predicted_growth("1/sqrt(L)") - (1 + 1 / 50) ** 50) < 0.01
assert 0.8 < growth["1/sqrt(L)"] / schemes.predicted_growth("1/sqrt(L)") < 1.3 and 2.2 < growth["1/sqrt(L)"] < 3.6
assert 0.7 < growth["pre-norm"] / schemes.predicted_growth("pre-norm") < 1.25 and 35 < growth["pre-norm"] < 65
assert abs(schemes.predicted_growth("pre-norm") - (v0 + 50) / v0) < 1e-6
prenorm_grad = schemes.grad_norm["pre-norm"][0] / schemes.grad_norm["pre-norm"][-1]
assert abs(schemes.theory["pre-norm"].grad_ratio[0] - math.sqrt(51 / 2)) < 0.2 and 4.5 < prenorm_grad < 6.5

# %% [markdown]
# The order is the one the theory predicts: unscaled branches multiply the signal's mean square by
# about $10^{14}$ here over 50 blocks ($2\times10^{14}$ to $5\times10^{15}$ over five seeds), pre-norm adds one per block (here the inputs'
# measured mean square is $v_0 = 1.06$, not exactly 1, so the prediction is $v_{50}/v_0 = (1.06 + 50)/1.06 = 48$;
# measured 41 here; over five seeds the measurement lies within 20% of the prediction, either way),
# branches scaled by $1/\sqrt{L}$ end near $e$ (2.7 here, 2.5–3.1 over five seeds), and ReZero and Fixup leave it at exactly 1,
# because at initialisation every block is the identity. The gradient (right) grows going down in the
# same proportions: a pre-norm stack's first block gets $\sqrt{(v_0 + L)/(v_0 + 1)} \approx 5$ times the top's
# gradient in theory, 5.9 measured here (5.2–5.9 over five seeds).
#
# Fixup and ReZero are the same map at initialisation; they differ in what the first updates do.
# ReZero's weights get no gradient at all until its gain $g$ moves away from zero; Fixup's zero
# last layer gets a gradient at once, and the $L^{-1/2}$ on the first layer is what keeps the first
# update's effect on the output from growing with depth (Zhang et al., 2019).
#
# One number does not match as well: the unscaled measurement (here about $2\times10^{14}$) falls a factor of
# five below the predicted $2^{50} \approx 1.1\times10^{15}$ (over five seeds it lands anywhere from a factor of 5 below to 5 above
# the prediction). That is one network's luck, as the aside shows; skip it on a first reading.
#
# > **Aside — one network against the average.** §3.1 showed the recursion is right *on average*; for
# > exponential growth one network scatters around that average a great deal. Over eight networks:

# %%
spread = [residual_scaling(depth=50, width=64, scheme="unscaled", seed=seed) for seed in range(8)]
errors = np.log10([r.growth("unscaled") / r.predicted_growth("unscaled") for r in spread])
print("log10(measured / theory), eight networks: " + " ".join(f"{e:+.2f}" for e in errors))
standard_error = errors.std() / math.sqrt(len(errors))
lognormal_gap = errors.std() ** 2 * math.log(10) / 2  # log10(mean) - mean(log10) for a log-normal
print(f"mean {errors.mean():+.2f}, standard deviation {errors.std():.2f}, standard error {standard_error:.2f}")
print(f"for a log-normal with this scatter, log10 of the mean lies {lognormal_gap:.2f} above the mean of log10")
# Bands over seeds 0-4 (each shift changes some of the eight networks): mean +0.01 to +0.29, standard deviation 0.39-0.67,
# standard error 0.14-0.24, log-normal gap 0.18-0.52, max - min 1.26-2.21.
assert 0 < errors.mean() < 0.5 and 0.3 < errors.std() < 0.85 and abs(errors.mean()) < 2.5 * standard_error
assert 0.1 < lognormal_gap < 0.7 and errors.max() - errors.min() > 1

# %% [markdown]
# > From one network to the next the growth changes by more than a factor of ten. What is averaged above
# > is the *logarithm*: the mean of $\log_{10}$(measured / theory) is +0.2 decades (powers of ten) here, with a
# > standard error of 0.19 (+0.0 to +0.3 and 0.14–0.24 over five seeds), so the typical network (the geometric mean,
# > $10^{\text{mean of the logs}}$) is within one or two standard errors of the theory. The theory, though,
# > predicts the *mean* of $v_L$, and for a log-normal quantity (one whose logarithm is Gaussian) with this
# > scatter the log of the mean sits about 0.3 decades above the mean of the logs (0.2–0.5 over five seeds). Eight networks cannot separate a factor of two either
# > way; width tames the scatter (try width 256 in the explorer). *(End of aside.)*
#
# **Predict, then check.**
# 1. tanh instead of ReLU, $\sigma_w^2 = 1$: is the unscaled growth still exponential? (Hint: $\tanh^2 \le 1$.)
# 2. Pre-norm at depth 200: what will $v_L/v_0$ be? And the gradient ratio?
# 3. By the recursion, unscaled ReLU grows as $(1 + \sigma_w^2/2)^L v_0$ and pre-norm ReLU as
#    $v_0 + L\sigma_w^2/2$: both depend on $\sigma_w^2$. Which two schemes' forward signal does *not* depend on
#    $\sigma_w^2$ at initialisation, and why? Check by moving the $\sigma_w^2$ slider with "all" schemes shown.

# %%
# NBVAL_IGNORE_OUTPUT
residual_scaling_explorer()

# %% [markdown]
# — **Break here: the second sitting starts with §4** —
#
# ## 4. Pre-norm versus post-norm transformer layers
#
# **Three terms first.** *Self-attention* lets each token (one vector of a sequence) look at the others:
# every token $x_t$ forms a *query* $W^Q x_t$, a *key* $W^K x_t$ and a *value* $W^V x_t$; token $t$'s output
# is the average of all tokens' values, weighted by $\mathrm{softmax}_s\big((W^Q x_t)\cdot(W^K x_s)/\sqrt{d}\big)$,
# so the tokens whose keys match its query count most ($d$ is the width, the book's $n$, in Xiong et
# al.'s notation). *Heads*: the width $d$ is split into a few parts and attention is
# run on each part separately (four heads of 16 features for $d = 64$ here), so different heads can
# attend to different tokens. *Learning-rate warm-up*: for the first steps of training the learning rate
# rises from about 0 to its target value, instead of starting there. LayerNorm was defined in §3.
# *Xavier (Glorot) initialisation* draws weights with variance $2/(n_\text{in} + n_\text{out})$, which keeps
# the variance roughly constant both forwards and backwards for a linear layer (chapter 3 §1 defines it with He's).
#
# A transformer layer has two sublayers $\mathrm{Sub}$, self-attention and an MLP $W^2 \phi(W^1 x)$ (superscripts
# number its two matrices, so that a subscript can name the layer: $W^2_l$ is layer $l$'s), each wrapped in a
# shortcut; $x$ is the stream of token vectors, $x_l$ its value after layer $l$. The original transformer (Vaswani et al., 2017) normalises *after* each addition; GPT-2 and
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
# weights and zero biases, 16 random token vectors per sequence, and a loss that reads each token out
# with its own fixed random vector (like a per-token classifier); an aside at the end of this section
# lists how this differs from Xiong et al.'s setup. The figure shows the 24-layer stacks layer by layer
# (left: $\|\partial\ell/\partial W^2_l\|$; right: $\|\partial\ell/\partial x_l\|$). In the table,
# $|dW^2_L|$ is $\|\partial\ell/\partial W^2_L\|$, the gradient of the *last* layer's MLP output matrix (the one
# Xiong et al. bound), and *last/first* is $\|\partial\ell/\partial W^2_L\| / \|\partial\ell/\partial W^2_1\|$, the
# same for layer $L$ over layer 1: above 1, the layers near the output get more.

# %%
by_depth = {depth: norm_placement(depth=depth) for depth in (3, 6, 12, 24, 48)}
fig, axes = new_figure(2)
plot_norm_placement(by_depth[24], axes)
print(f"{'L':>3s} {'post: |dW²_L|':>14s} {'last/first':>11s} {'pre: |dW²_L|':>13s} {'x sqrt(L)':>10s} {'last/first':>11s}")
for depth, r in by_depth.items():
    print(f"{depth:3d} {r.last_layer('post'):14.3f} {r.spread('post'):11.2f} {r.last_layer('pre'):13.3f} "
          f"{r.last_layer('pre') * math.sqrt(depth):10.3f} {r.spread('pre'):11.2f}")

# %%
pre_scaled = [r.last_layer("pre") * math.sqrt(d) for d, r in by_depth.items() if d >= 6]
post_last = [r.last_layer("post") for r in by_depth.values()]
# Bands over seeds 0-4, measured: pre-norm x sqrt(L) max/min 1.04-1.18; post-norm last layer max/min 1.19-1.58;
# pre-norm L=48 / L=6 0.33-0.42; last/first per mini-batch from L = 12 on, post-norm 0.56-3.21; pre-norm 1/(last/first)
# at L = 6 1.46-1.96, at L = 48 3.88-7.37.
assert max(pre_scaled) / min(pre_scaled) < 1.3
assert max(post_last) / min(post_last) < 2
assert by_depth[48].last_layer("pre") < 0.5 * by_depth[6].last_layer("pre")
assert all(r.spread("pre") < 0.8 for d, r in by_depth.items() if d >= 6)
assert 1.3 < 1 / by_depth[6].spread("pre") < 2.3 and 3.3 < 1 / by_depth[48].spread("pre") < 9
late = [r.spread("post") for d, r in by_depth.items() if d >= 12]
assert 0.4 < min(late) and max(late) < 4

# %% [markdown]
# The right panel has a shape the table cannot show: post-norm's gradient reaching each layer's output,
# $\|\partial\ell/\partial x_l\|$, is U-shaped.

# %%
post24 = by_depth[24].probes["post"]
low = int(post24.grad_act_norm.argmin())
print(f"post-norm, L = 24, |dℓ/dx_l|: layer 24 {post24.grad_act_norm[-1]:.3f}, lowest at layer {low + 1} "
      f"{post24.grad_act_norm[low]:.3f}, layer 1 {post24.grad_act_norm[0]:.3f}")
print(f"post-norm, L = 24, |dℓ/dW²_l|: from {post24.grad_weight_norm.min():.2f} to {post24.grad_weight_norm.max():.2f}, "
      f"last/first {by_depth[24].spread('post'):.2f}")
# Bands over seeds 0-4, measured: lowest at layer 11-13; top / lowest 2.27-5.17; layer 1 / top 0.52-1.21;
# weight gradients' max / min 1.76-2.27.
assert 8 <= low + 1 <= 18 and 2 < post24.grad_act_norm[-1] / post24.grad_act_norm[low] < 7
assert 0.4 < post24.grad_act_norm[0] / post24.grad_act_norm[-1] < 1.4
assert post24.grad_weight_norm.max() / post24.grad_weight_norm.min() < 3

# %% [markdown]
# Going down, the post-norm gradient falls by a factor of three to layer 13, then climbs back almost to its
# top value at layer 1 (over five seeds: a factor of 2.3–5.2 to a layer near the middle, layer 11–13, then back to
# 0.52–1.21 of the top value), while pre-norm's grows smoothly going down (§3's pre-norm recursion). So a
# last/first ratio near 1 does not mean a level profile: it compares the two ends of a U whose middle gets
# a fifth to a third of the gradient. The MLP weight gradient (left), the gradient at the MLP's output times its
# hidden activations, wanders between 0.88 and 1.55 here with no trend. We have not taken the U apart; it is
# one network and one mini-batch, and the next step shows how much per-batch structure survives averaging.
#
# So far every number is one mini-batch's gradient. Xiong et al. plot the *expected* gradient instead:
# average $\partial\ell/\partial W^2_l$ over many mini-batches first, then take the norm. Whatever changes sign from
# one batch to the next cancels in the average; what the batches agree on stays. `expected_gradients` does
# that over 64 mini-batches of random tokens (same networks, same readout); dashed lines are the mean of
# single mini-batches' norms (over the first eight):

# %%
expected = {depth: expected_gradients(depth=depth, batches=64) for depth in (6, 48)}
fig, axes = new_figure(2)
for ax, r in zip(axes, expected.values()):
    plot_expected_gradients(r, ax)
for depth, r in expected.items():
    print(f"L = {depth:2d}, last/first |dℓ/dW2|: post-norm {r.spread('post'):.2f} expected, "
          f"{r.spread('post', expected=False):.2f} per mini-batch;  pre-norm {r.spread('pre'):.2f} expected, "
          f"{r.spread('pre', expected=False):.2f} per mini-batch")
deep = expected[48]
kept = {layer: deep.of_mean["post"][layer] / deep.per_batch["post"][layer] for layer in (0, -1)}
print(f"post-norm, L = 48: the average over batches keeps {kept[0]:.2f} of layer 1's per-batch norm, "
      f"{kept[-1]:.2f} of layer 48's")

# %%
# Bands over seeds 0-4, measured: L = 6 expected post-norm 0.64-1.10, pre-norm 0.47-0.70; L = 48 expected post-norm
# 0.77-4.00 (per mini-batch 0.48-2.41), pre-norm 0.17-0.33; kept at layer 1 0.21-0.58, at layer 48 0.89-0.97.
assert 0.5 < expected[6].spread("post") < 1.3 and 0.35 < expected[6].spread("pre") < 0.85
# The expected post-norm profile at L = 48 grows towards the output for seeds 0-3 (3.0-4.0) but not for seed 4
# (0.77): what holds for all five is that it is far less tilted towards the input than pre-norm's.
assert 0.5 < deep.spread("post") < 5.5 and deep.spread("post") > 2 * deep.spread("pre")
assert 0.3 < deep.spread("post", expected=False) < 3.2
assert 0.12 < deep.spread("pre") < 0.4 and kept[0] < 0.75 and kept[-1] > 0.8

# %% [markdown]
# **Does this agree with Xiong et al.?**
# * *The depth dependence of the last layer: yes.* Pre-norm's last-layer gradient falls like $1/\sqrt L$:
#   times $\sqrt L$ it stays within 10% here from $L = 6$ to 48 (within 18% over five seeds), while the gradient itself drops by more than
#   half. Post-norm's does not shrink with depth. The mechanism is §3's: a pre-norm stream's variance
#   grows about linearly with depth, and the final LayerNorm divides by its standard deviation.
# * *Post-norm's profile: at depth 48, mostly, once the gradient is averaged over batches.* One mini-batch's
#   gradient has no consistent lean: here it leans slightly the wrong way (from $L = 12$ on the last layer
#   gets 0.56–0.79 of the first's), but over five seeds that ratio ranges over 0.56–3.2.
#   The expected gradient of the 48-layer stack grows towards the output, the last layer getting 3.0 times
#   the first's here. It does so for four of five seeds (3.0–4.0), not for the fifth (0.77), so one network
#   per seed supports their finding without settling it (single mini-batches: 0.56 for the one above, 1.1 for the mean
#   of eight batches' norms, 0.5–2.4 over five seeds): the early layers' per-batch gradients are mostly noise that cancels (the average
#   over 64 batches keeps 0.34 of layer 1's typical per-batch norm, 0.93 of layer 48's; 0.21–0.58 and 0.89–0.97 over
#   five seeds). At $L = 6$, their model's depth, the expected profile does not grow towards the output:
#   1.1 here, 0.64–1.10 over five seeds.
# * *Pre-norm's profile: no, not in this setup, either way.* Its gradient is not level: the first layer
#   gets more than the last, 1.5 times at $L = 6$ and 4 times at $L = 48$ per mini-batch here (1.5–2.0 and 3.9–7.4
#   over five seeds; expected: 1/0.7 and 1/0.33 here), because every block's LayerNorm divides by the standard deviation of a stream that grows with
#   the layer index. Shleifer et al. (2021, NormFormer) report the same mismatch, early layers getting
#   larger gradients than late ones, while pre-training pre-norm language models.
#
# > **Aside — what still differs from their setup.** A stack of one kind of layer instead of a 6-layer
# > encoder and a 6-layer decoder; GELU instead of ReLU in the MLP; random tokens and a random linear readout instead of
# > IWSLT14 sentences and a translation loss; width 64 instead of 512; query and key projections drawn
# > at random instead of the theorem's $W^Q = W^K = 0$; Xavier-uniform instead of Xavier-Gaussian weights
# > (same variance); the attention's query, key and value matrices drawn as one packed $3d \times d$ matrix
# > (PyTorch's way), which gives each of them variance $1/(2d)$, half of Xavier for a single $d \times d$
# > matrix. The expected gradient explains the post-norm profile at depth 48; we have not found
# > which of the remaining differences matters at depth 6 or for pre-norm, and say so rather than guess.
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
# Three networks: plain, with shortcuts, and with pre-norm shortcuts (`norm="pre"`). Left: the training
# loss (cross-entropy) per step; right: how far each layer's weights moved over training,
# $\|W_l^\text{end} - W_l^\text{start}\| / \|W_l^\text{start}\|$ (printed below as "layer 1 moved").

# %%
trained = [train_network(depth=32, width=64, activation="gelu_tanh", init="default", optimizer="adam", lr=1e-3,
                         steps=200, shortcut=shortcut, norm=norm)
           for shortcut, norm in ((False, "none"), (True, "none"), (True, "pre"))]
fig, axes = new_figure(2)
plot_training(trained, axes)
for run in trained:  # ≈: a training run's digits depend on the CPU (chapter 1, section 6)
    print(f"{run.label:42s} loss {run.losses[0]:6.3g} -> {varies(run.losses[-1], '.3f')}, "
          f"accuracy {varies(run.accuracy, '.1%')}, layer 1 moved {varies(run.rel_change[0], '.2g', floor=1e-12)}")

# %%
plain_run, short_run, prenorm_run = trained
guess_loss, guess_accuracy = guessing_baseline()
adam_step = 1e-3 / 1e-8 * plain_run.grad_to_weight[0]  # lr x |dℓ/dW_1| / eps, relative to |W_1|
print(f"a fresh 4-class classifier (a uniform guess) starts at ln 4 = {math.log(4):.3f}; first losses: "
      + ", ".join(f"{run.label} {run.losses[0]:.3g}" for run in trained))
print(f"ignoring the input: loss {guess_loss:.3f}, accuracy {guess_accuracy:.1%}")
print(f"plain network, layer 1 at step 1: |dℓ/dW_1| / |W_1| = {plain_run.grad_to_weight[0]:.2g}, "
      f"so Adam's first step is about {adam_step:.1g} of |W_1|")
assert plain_run.grad_to_weight[0] < 1e-16 and -14 < math.log10(adam_step) < -12  # seeds 0-4: -13.14 to -12.77
# First losses, bands over seeds 0-4: plain 1.379-1.390, shortcuts 8.2-38.8 (5.9-28.0 x ln 4), pre-norm 1.92-4.68.
assert abs(plain_run.losses[0] - math.log(4)) < 0.01 and 3 < short_run.losses[0] / math.log(4) < 40
# The training outcomes below as bands over seeds 0-4 and CPU code paths; the measured range follows each claim.
assert plain_run.rel_change[0] == 0.0 and abs(plain_run.losses[-1] - guess_loss) < 0.02  # within 0.015
assert abs(plain_run.accuracy - guess_accuracy) < 0.005  # the commonest class, in every run
assert 4 < short_run.losses[0] < 55 and short_run.losses[-1] < 0.6 and 0.74 < short_run.accuracy < 0.86  # 0.24-0.48; 78-81%
assert 1.5 < prenorm_run.losses[0] < 6 and prenorm_run.losses[-1] < 0.4 and prenorm_run.accuracy > 0.7  # 0.13-0.30; 74-78%
assert (short_run.rel_change > 0.01).all() and (prenorm_run.rel_change > 0.01).all()  # at least 0.12

# %% [markdown]
# First, the starting losses. A fresh classifier over $K$ classes should start near $\ln K$, the
# cross-entropy of a uniform guess (small logits, so the softmax gives every class about $1/K$). Here
# $\ln 4 = 1.386$, and the plain network starts there (1.39). The shortcut network starts at 39 here, 28 times
# more (8–39 over five seeds, 6–28 times $\ln 4$): the correct class's logit lies on average that far below the largest, because the unnormalised stream has grown
# through 31 unscaled branches (§3) and the classifier multiplies it. If it is like §3.1's ReLU stream
# (GELU, too, is not odd), most of it is one vector shared by all inputs, and the network starts out
# confidently giving nearly the same answer for every input. With pre-norm shortcuts the start is tame
# (2.5 here, 1.9–4.7 over five seeds) and the loss ends as low (0.13–0.30 over five seeds and several CPUs, against 0.24–0.48 with plain
# shortcuts: which of the two ends lower depends on the seed). Checking the first loss against $\ln K$ is cheap and worth making a
# habit: far above it, the initial outputs are too large.
#
# The plain network never leaves the loss of guessing (the entropy of the class frequencies, and the
# 29.6% of always answering the commonest class): its first layer does not move at all. Even Adam, which
# divides each step by the gradient's running magnitude, cannot help. With learning rate $\eta = 10^{-3}$,
# Adam moves each weight by $\eta\, m/(\sqrt{s} + \texttt{eps})$, where $m$ and $s$ are running means of the
# weight's gradient and of its square, and `eps` $= 10^{-8}$ is Adam's safety constant (an argument of
# `torch.optim.Adam`; not float32's $\varepsilon$). A gradient far below `eps` therefore moves the weights by
# about $\eta\,|\partial\ell/\partial w|/\texttt{eps}$: here some $10^{-13}$ of their size, a million times
# below float32's $\varepsilon \approx 1.2\times10^{-7}$, about the smallest relative change a float32
# weight can register. The step rounds away. With shortcuts, every layer moves and the network learns
# the task (78–81% test accuracy over five seeds).
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
# > Sun (2016, "Identity mappings") a 1001-layer pre-activation ResNet (BatchNorm and ReLU moved
# > inside each branch, before its weight layers: the pre-norm idea) on CIFAR-10 with 4.92% error at
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
# > convolutional networks with orthogonal initialisation (weight matrices whose
# > singular values are all 1; chapter 3 §7); chapter 1's 30-layer He-initialised ReLU
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
# * Raschka's five-layer network, written out in plain PyTorch, reproduces his published gradients to a
#   relative $10^{-6}$, a few times float32's $\varepsilon \approx 1.2\times10^{-7}$; bit-for-bit equality across
#   machines is not to be expected. Its thousand-fold gap is the shortcut network's larger output (×12.6)
#   times the shortcut's protection of the gradient on its way down (×94): read $\|\partial\ell/\partial h_l\|$,
#   not a weight gradient, which also carries the layer's input.
# * A residual block's Jacobian is $I + J$. For random branches, $\mathbb E\|(I+J)^\top u\|^2 \ge \|u\|^2$: in
#   mean square the gradient cannot vanish. It can explode: at depth 64, unscaled ReLU and GELU shortcut
#   networks deliver $10^9$ to $10^{10}$ to their first layer.
# * The forward signal grows the same way. An unscaled ReLU branch multiplies the stream's mean square by
#   $1 + \sigma_w^2/2$ per block on average, exactly; over 50 blocks that is $2^{50}$, and most of what grows
#   is one vector shared by all inputs. Pre-norm adds one per block, $1/\sqrt L$ branches end near $e$,
#   ReZero and Fixup start as the identity. Mean-field theory predicts each, and one network scatters around
#   the prediction.
# * In transformer stacks, pre-norm's last-layer gradient falls like $1/\sqrt L$ and post-norm's does not,
#   as Xiong et al. (2020) predict. In a post-norm stack the gradient reaching each layer's output is
#   U-shaped at initialisation; the weight gradients growing towards the output that Xiong et al. measure
#   appear at depth 48 once the gradient is averaged over mini-batches, as they average it (for four networks
#   of five); their level
#   pre-norm profile does not appear here.
# * A 32-layer plain GELU network with PyTorch's default initialisation does not train; the same network
#   with shortcuts does, from a first loss of 8–39 (over five seeds) instead of $\ln 4 \approx 1.39$, and with pre-norm
#   shortcuts it starts from a sane loss.
#
# ## Exercises
#
# 1. *(predict, then check)* In §1, change the input to $(2, 0, -2)$. Which of the ten numbers do you expect
#    to change by exactly a factor of two or four? Check with `five_layer_measurement(shortcut, x=(2.0, 0.0, -2.0))`.
# 2. Derive $\mathbb E\|(I + J)^\top u\|^2 = \|u\|^2 + \mathbb E\|J^\top u\|^2$ for $J = W_2 D W_1$ ($D$ the diagonal
#    matrix of slopes $\phi'(z_j)$) with $W_2$ zero-mean and independent of $u$, and show that for ReLU with
#    $\sigma_1^2 = 2$, $\sigma_2^2 = 1$ the second term is $\|u\|^2$ on average (use $\mathrm{ReLU}'(0) = 0$).
# 3. Find a $2\times2$ matrix $J$ with $\|J\| \le 1$ ($\|J\|$: its largest stretch factor, the maximum of
#    $\|Jv\|/\|v\|$) for which $I + J$ maps some vector to zero. What does that do
#    to the gradient passing through such a block? Why is this rare for random $J$?
# 4. Derive the pre-norm closed forms $v_l = v_0 + l$ and $\|\partial\ell/\partial h_l\| / \|\partial\ell/\partial h_L\| = \sqrt{(L+1)/(l+1)}$
#    (ReLU, $\sigma_1^2 = 2$, $\sigma_2^2 = 1$, $v_0 = 1$), then check them with `residual_theory("pre-norm", 40)`
#    (its `mean_square` and `grad_ratio`) and in the hidden cell below: what is
#    $\|\partial\ell/\partial h_1\| / \|\partial\ell/\partial h_{40}\|$?
# 5. *(predict, then check)* In §5, train the shortcut network with SGD at learning rate 0.1
#    (`train_network(..., optimizer="sgd", lr=0.1, steps=2)`, otherwise §5's settings). Predict what
#    happens in the first steps, given its first loss, far above $\ln 4$ (printed in §5).
# 6. *(predict, then check)* §3.1 found that after 50 unscaled ReLU blocks 87%–92% of the stream's mean square
#    is shared by all inputs. Predict the shared fraction for tanh branches with $\sigma_w^2 = 1$, then check
#    with `stream_statistics("unscaled", depth=50, activation="tanh", sigma_w2=1.0).shared`.
#    (Hint: $\tanh$ is odd, ReLU is not.)
#
# **Check your answer.** Open the hidden cell below, replace `None` by your number and run it: it computes
# the book's answer and says right or wrong, with a hint.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
check_answer("ch2_prenorm_first_block", None)  # exercise 4: |dℓ/dh_1| / |dℓ/dh_40|, pre-norm, mean field

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

# %% [markdown]
# ## Answer key (for teachers)
#
# The cell below is collapsed; open it after trying the exercises. It computes every exercise's answer
# with the chapter's own functions and checks each number it prints.

# %% tags=["hide-cell"] jupyter={"outputs_hidden": true, "source_hidden": true}
doubled = {s: five_layer_measurement(s, x=(2.0, 0.0, -2.0)) / five_layer_measurement(s) for s in (False, True)}
print("Ex. 1: ratios (2, 0, -2) / (1, 0, -1), layers 1-5: without "
      + " ".join(f"{r:.3g}" for r in doubled[False]) + "; with " + " ".join(f"{r:.3g}" for r in doubled[True])
      + ". None is exactly 2 or 4: GELU is not linear and the biases do not scale with x.")
assert all(abs(r - 2) > 0.01 and abs(r - 4) > 0.01 for s in (False, True) for r in doubled[s])
branch_term = residual_theory("unscaled", 2).grad_ratio[0] ** 2 - 1  # one block's factor 1 + E|J^T u|^2/|u|^2
print(f"Ex. 2: E|J^T u|^2 / |u|^2 = sigma_1^2 sigma_2^2 E[relu'(z)^2] = 2 x 1 x 1/2 = {branch_term:.3g} "
      "(W_2 zero-mean kills the cross term; relu' is 1 on half the units, 0 on the rest)")
assert abs(branch_term - 1) < 1e-6
J = np.array([[-1.0, 0.0], [0.0, 0.0]])
rng = np.random.default_rng(0)
random_J = rng.normal(0, math.sqrt(0.5), size=(10_000, 2, 2))
near_singular = np.mean(np.linalg.svd(np.eye(2) + random_J, compute_uv=False)[:, -1] < 0.01)
print(f"Ex. 3: J = [[-1, 0], [0, 0]] has norm {np.linalg.norm(J, 2):.0f}; I + J sends (1, 0) to zero, so that "
      f"component of the gradient is erased. For random J an eigenvalue exactly -1 has probability 0; of 10,000 "
      f"random J (entries N(0, 1/2)), {near_singular:.1%} give I + J a singular value below 0.01.")
assert np.allclose((np.eye(2) + J) @ [1.0, 0.0], 0) and near_singular < 0.02
pre40 = residual_theory("pre-norm", 40)
print(f"Ex. 4: v_l = 1 + l (v_40 = {pre40.mean_square[-1]:.0f}); |dℓ/dh_1| / |dℓ/dh_40| = sqrt(41/2) = "
      f"{pre40.grad_ratio[0]:.3g} (each pre-norm block multiplies the mean-square gradient by (v+1)/v going down)")
assert abs(pre40.grad_ratio[0] - math.sqrt(41 / 2)) < 1e-6 and abs(pre40.mean_square[-1] - 41) < 1e-6
sgd = train_network(depth=32, width=64, activation="gelu_tanh", init="default", optimizer="sgd", lr=0.1,
                    steps=2, shortcut=True, norm="none")
print(f"Ex. 5: SGD at 0.1 blows up at once: loss {sgd.losses[0]:.3g} at step 1, {sgd.losses[1]:.2g} at step 2 "
      f"(a loss of {sgd.losses[0]:.0f} comes with a huge gradient, and SGD's step is proportional to it; Adam's is not)")
# Seeds 0-4: the second loss is 2.8 times the first (27.6 to 77.9) to over 10^4
assert sgd.losses[0] == short_run.losses[0] and sgd.losses[1] > 2 * sgd.losses[0]  # the same network and batch as §5's
tanh_shared = stream_statistics("unscaled", depth=50, activation="tanh", sigma_w2=1.0).shared
print(f"Ex. 6: tanh, shared fraction {tanh_shared[0]:.2f} at the input, {tanh_shared[-1]:.2f} after 50 blocks "
      "(tanh is odd, so its outputs have no common positive part for W_2 to turn into a shared direction)")
assert tanh_shared[-1] < 0.1
