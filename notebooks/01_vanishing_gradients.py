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
# # Chapter 1 — Vanishing and exploding gradients
#
# A deep network learns by following the gradient of its loss. To reach the first layer,
# that gradient has to travel backwards through every layer above it, and each layer
# multiplies it by something. This chapter is about what those multiplications do.
#
# **Learning goals.** After this chapter you can
#
# 1. write the gradient at layer $l$ as a product of layer Jacobians, and say why such a product
#    shrinks or grows geometrically with depth;
# 2. explain why a deep sigmoid network's first layers receive almost no gradient (the sigmoid's slope
#    is at most 1/4, and it saturates), and when that stops being true;
# 3. explain why, for ReLU, the *scale of the weights* — not the activation — decides growth or decay;
# 4. read the per-layer diagnostics: activation mean and spread, fraction of saturated or switched-off
#    units, histograms, gradient norms on a log axis;
# 5. predict what depth, width, activation and weight variance do to the gradient, and check the
#    prediction in the explorer;
# 6. see what this means for learning — down to how float32 rounds a tiny update away — and what gradient
#    clipping fixes and what it does not;
# 7. use two checks practitioners run on every new network: the loss at the first step against $\ln K$ for $K$
#    classes, and each layer's update-to-data ratio during training.
#
# Every number quoted in the text is computed in a cell below and checked by an `assert` to the
# precision it is quoted with, so if the code changes and a number drifts, the notebook fails instead
# of lying.

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
from utils import gradient_flow, gradient_flow_explorer, new_figure, plot_gradient_flow, precomputed_explorer
from utils.activations import get_activation
from utils.check import check_answer
from utils.diagnostics import plot_activation_shapes, plot_layer_histograms, plot_layer_stats
from utils.formatting import above, short, varies
from utils.matrix_products import matrix_products, matrix_products_explorer, plot_matrix_products
from utils.training import FLOAT32_EPS, guessing_baseline, plot_training, plot_update_ratio, train_network

# %% [markdown]
# ## 1. Backpropagation is a product
#
# Take a plain network of $L$ layers, $h_0 = x$ and
#
# $$z_l = W_l h_{l-1} + b_l, \qquad h_l = \phi(z_l), \qquad l = 1, \dots, L,$$
#
# with a loss $\ell(h_L)$. The chain rule gives the gradient with respect to a hidden layer as a
# product of transposed Jacobians $J_l = \partial h_l / \partial h_{l-1} = \operatorname{diag}(\phi'(z_l))\, W_l$:
#
# $$\frac{\partial \ell}{\partial h_l} = J_{l+1}^\top J_{l+2}^\top \cdots J_L^\top \, \frac{\partial \ell}{\partial h_L},
# \qquad
# \frac{\partial \ell}{\partial W_l} = \Big(\phi'(z_l) \odot \frac{\partial \ell}{\partial h_l}\Big)\, h_{l-1}^\top .$$
#
# Here $\phi'$ is the activation's slope (derivative), $\operatorname{diag}(\cdot)$ the diagonal matrix with that
# vector on its diagonal, and $\odot$ the entry-by-entry product. The gradient that reaches layer 1 has been
# multiplied by $L-1$ matrices. If each one, on average,
# multiplies the length of a vector by the same factor, the result scales like that factor to the power
# $L-1$: a little below 1 becomes nothing, a little above 1 becomes enormous.
#
# Before any network, here is that statement alone. Draw matrices $M_l$ with independent
# $\mathcal N(0, s^2/n)$ entries, so that $\mathbb E\,\|M v\|^2 = s^2 \|v\|^2$: in root mean square every factor
# multiplies the length by exactly $s$, and 50 of them by $s^{50}$ ($\mathbb E\,\|M_{50}\cdots M_1 v\|^2 = s^{100}$). Multiply a unit vector by 50 of them, 200 times over (each
# scale with its own random draws).

# %%
products = {scale: matrix_products(depth=50, width=64, scale=scale, trials=200, seed=i)
            for i, scale in enumerate((0.9, 1.0, 1.1))}
typical = {}
for scale, result in products.items():
    typical[scale] = result.theory[-1] * np.exp(-result.depth / (2 * result.width))
    print(f"scale {scale}: median |M_50...M_1 v| = {result.median_final:.3g}   "
          f"s^50 = {result.theory[-1]:.3g}   s^50 e^(-L/2n) = {typical[scale]:.3g}")

fig, axes = new_figure(3)
for ax, result in zip(axes, products.values()):
    plot_matrix_products(result, ax)

# %% [markdown]
# Ten percent too small per factor leaves about a third of a percent of the vector after 50 factors;
# ten percent too large multiplies it by about eighty (83 here; 73 to 83 with other seeds). Only $s = 1$ keeps
# the length near 1.
#
# The median falls below the root-mean-square prediction $s^L$ in every case (half a percent and 117 for the
# two outer scales). That is not noise. Each factor's stretch is random: usually a little less than $s$,
# now and then much more. The rare large stretches keep the *mean* square at $s^{2L}$, but a *typical*
# product — the median — shrinks by an extra factor $e^{-L/(2n)}$ (0.68 here, for $L = 50$ factors of
# width $n = 64$; the aside below says where it comes from). With that factor the prediction meets all
# three medians within 5% here (within 8% with other seeds). Narrow networks pay more of this tax; the explorer below lets you see it (try width 4).
#
# > **Aside — where $e^{-L/(2n)}$ comes from.** For a unit vector $v$ the $n$ entries of $Mv$ are independent
# > Gaussians of variance $s^2/n$, so $n\|Mv\|^2 / s^2$ is a sum of $n$ squared standard Gaussians: it follows
# > the chi-squared distribution with $n$ degrees of freedom. Divide it by $n$ and its mean is 1, but the
# > mean of its *logarithm* is about $-1/n$
# > (the logarithm is concave, so averaging it penalises the small values more than it rewards the large ones).
# > The log of the squared length after $L$ factors is a sum of $L$ such independent terms, each
# > $\log s^2 - 1/n$ on average, so the typical squared length is $s^{2L} e^{-L/n}$ and the typical length
# > $s^L e^{-L/(2n)}$. The spread of that sum grows like $\sqrt{L/n}$, which is why 200 trials scatter
# > around the median in the panels.

# %%
# Seeds 0-4: 0.0033-0.0037 and 73-83; the prediction with the extra factor within 8% of every median
assert 0.003 < products[0.9].median_final < 0.004 and 65 < products[1.1].median_final < 95
assert all(r.median_final < r.theory[-1] for r in products.values())
assert all(abs(r.median_final / typical[s] - 1) < 0.1 for s, r in products.items())
assert abs(0.9**50 - 5.2e-3) < 1e-4 and abs(1.1**50 - 117) < 1 and abs(np.exp(-50 / 128) - 0.68) < 0.005

# %% [markdown]
# **Predict, then check.** With scale 1.0 and depth 200, will the median be above or below 0.5 at
# width 16? At width 256? Move the sliders (each change re-runs the experiment; the readout gives the
# median and the time it took). The explorer multiplies 20 vectors, not 200, so even at the cell's settings
# its median differs from the one printed above by several percent.

# %%
# NBVAL_IGNORE_OUTPUT
matrix_products_explorer()

# %% [markdown]
# ## 2. Sigmoid: every layer takes at least a factor of four
#
# For the logistic sigmoid $\sigma(z) = 1/(1+e^{-z})$ the slope is $\sigma'(z) = \sigma(z)\,(1-\sigma(z))$,
# which is largest at $z = 0$, where it equals $\tfrac12 \cdot \tfrac12 = \tfrac14$. So the diagonal factor
# $\operatorname{diag}(\sigma'(z_l))$ in every Jacobian shrinks a vector by at least 4×; only the weights
# can make up for it. Far from zero the sigmoid is flat (*saturated*) and its slope is close to 0.

# %%
fig, axes = new_figure(2)
plot_activation_shapes(["sigmoid", "tanh", "relu"], axes)
peaks = {name: get_activation(name).peak_slope for name in ("sigmoid", "tanh", "relu")}
print("peak slopes: " + ", ".join(f"{name} {peak:.4f}" for name, peak in peaks.items()))
assert abs(peaks["sigmoid"] - 0.25) < 1e-6 and abs(peaks["tanh"] - 1.0) < 1e-6

# %% [markdown]
# Now a real network: 30 sigmoid layers of width $n = 128$, weights drawn as $\mathcal N(0, \sigma_w^2/n)$ with
# $\sigma_w^2 = 1$, biases drawn as
# $\mathcal N(0, \sigma_b^2)$ with $\sigma_b^2 = 0$ (zero biases), a batch of 128 Gaussian inputs. We call $\sigma_w^2$
# the *weight variance*: strictly, it is the variance of one weight times the fan-in $n$ (the explorer's slider
# spells this out), and it plays the role of §1's $s^2$ — with $\sigma_w^2 = 1$ the matrix $W_l$ alone keeps a
# vector's length in root mean square. The loss is a
# fixed random linear readout of the last layer, $\ell = \text{mean over the batch of } h_L \cdot r$, so the
# gradient that enters the top is the same whatever the depth, and everything we see below is the product
# at work. Here is the whole experiment in plain PyTorch. PyTorch keeps gradients only for the leaves of the
# graph (the parameters); `retain_grad()` asks it to keep $\partial\ell/\partial h_l$ for each activation too.

# %%
depth, width, sigma_w2, sigma_b2 = 30, 128, 1.0, 0.0
torch.manual_seed(0)
layers = [nn.Linear(width, width) for _ in range(depth)]
for layer in layers:  # W_ij ~ N(0, sigma_w2 / n), b_i ~ N(0, sigma_b2)
    nn.init.normal_(layer.weight, 0.0, math.sqrt(sigma_w2 / width))
    nn.init.normal_(layer.bias, 0.0, math.sqrt(sigma_b2))
data = torch.Generator().manual_seed(1)
x = torch.randn(128, width, generator=data)  # a batch of 128 Gaussian inputs
readout = torch.randn(width, generator=data) / math.sqrt(width)  # the fixed random readout r

h, activations = x, []
for layer in layers:
    h = torch.sigmoid(layer(h))  # h_l = phi(W_l h_(l-1) + b_l)
    h.retain_grad()  # keep dl/dh_l after backward()
    activations.append(h)
loss = (h @ readout).mean()
loss.backward()
grad_norms = np.array([h.grad.double().norm().item() for h in activations])  # |dl/dh_l|, l = 1..30
print(f"|dl/dh_1| / |dl/dh_30| = {grad_norms[0] / grad_norms[-1]:.3g}")

# %% [markdown]
# From here on one call does this: `gradient_flow` builds the same network from the same random numbers,
# runs the same pass, and records $\|\partial\ell/\partial h_l\|$ — plus the per-layer statistics of §4 — with
# *hooks* (functions PyTorch calls with each layer's output and with its gradient) instead of
# `retain_grad()`. It is the cell above, shortened; the two agree to the last bit:

# %%
sigmoid = gradient_flow(depth=30, width=128, activation="sigmoid", sigma_w2=1.0, sigma_b2=0.0)
worst = np.max(np.abs(sigmoid.probe.grad_act_norm / grad_norms - 1))
print(f"largest relative difference between the two gradient-norm profiles, over 30 layers: {worst:.2g}")
assert worst < 1e-6

# %%
per_layer = sigmoid.ratio ** (1 / 29)
print(f"|dl/dh_1| / |dl/dh_30| = {sigmoid.ratio:.3g}   (per layer: x{per_layer:.3f})")
fig, axes = new_figure(2)
plot_gradient_flow(sigmoid, axes)
# Seeds 0-4: 10^-18.4 to 10^-18.1, 0.232-0.237 per layer; activation spreads from 0.099-0.111 to 0.206-0.209
assert round(math.log10(sigmoid.ratio)) == -18 and abs(per_layer - 0.235) < 0.01
assert 0.09 < sigmoid.probe.act_std.min() < 0.12 and 0.19 < sigmoid.probe.act_std.max() < 0.22

# %% [markdown]
# The gradient reaching layer 1 is about $10^{-18}$ of what entered layer 30: each layer multiplies it
# by roughly 0.24 (0.23 to 0.24 with other seeds). That is close to the $\tfrac14$ of the slope alone, because here the pre-activations
# are small (the sigmoid's inputs sit near its steepest point) and the weights, with $\sigma_w^2 = 1$,
# roughly preserve length. The activations (left) keep a spread of about 0.1 to 0.2 in every layer, so the
# forward pass looks healthy. It is not; §4 shows what that number hides.
#
# Can bigger weights rescue the sigmoid? They make $\|W\|$ larger, but they also push the
# pre-activations out to where the sigmoid is flat. The book counts a unit (for one input) as *saturated*
# when its slope is below 5% of the activation's peak slope — for the sigmoid, $|z|$ above about 4.4.

# %%
sigmoids = [gradient_flow(depth=30, activation="sigmoid", sigma_w2=s2) for s2 in (1.0, 16.0, 100.0)]
for r in sigmoids:
    print(f"sigma_w2 = {r.settings['sigma_w2']:5.0f}: ratio {r.ratio:.2g}, "
          f"saturated units in layer 15: {r.probe.frac_inactive[14]:.0%}")
assert sigmoids[1].ratio < 1e-4 and 0.1 < sigmoids[2].ratio < 10
# Seeds 0-4: 44-55% of layer 15 saturated at sigma_w2 = 100
assert sigmoids[0].probe.frac_inactive[14] < 0.01 and 0.4 < sigmoids[2].probe.frac_inactive[14] < 0.6
p_flat = (1 - math.sqrt(1 - 4 * 0.05 * 0.25)) / 2  # sigma(z) at the slope sigma(1 - sigma) = 5% of 1/4
assert round(-math.log(p_flat / (1 - p_flat)), 1) == 4.4

# %% [markdown]
# With $\sigma_w^2 = 100$ the gradient at layer 1 is again within a factor of ten of the top — at the
# price of about half the units (55% in layer 15 here, 44–55% with other seeds) sitting on the flat part of the sigmoid, where they pass almost nothing
# and learn almost nothing. The weight scale is a knob even for the sigmoid; the slope bound makes
# the good setting extreme. (Chapter 3 finds such settings with *mean-field theory*: in a very wide network
# each layer's pre-activations are Gaussian, so one number per layer — their mean square — describes the
# signal, and the good settings can be computed rather than searched for.)
#
# ## 3. ReLU: the weight scale decides
#
# ReLU's slope is 1 for $z > 0$ and 0 otherwise, so $\operatorname{diag}(\phi')$ only *selects* units; it
# does not shrink what passes. With weights $\mathcal N(0, \sigma_w^2/n)$ about half the units are on, and
# one backward step multiplies the squared gradient norm by $\sigma_w^2/2$ on average:
#
# $$\mathbb E\,\Big\|\frac{\partial \ell}{\partial h_{l-1}}\Big\|^2 \approx \frac{\sigma_w^2}{2}\; \mathbb E\,\Big\|\frac{\partial \ell}{\partial h_l}\Big\|^2
# \quad\Rightarrow\quad \frac{\|\partial \ell/\partial h_1\|}{\|\partial \ell/\partial h_L\|} \approx \Big(\frac{\sigma_w^2}{2}\Big)^{(L-1)/2}.$$
#
# So $\sigma_w^2 = 2$ (He et al., 2015) is the neutral scale — drawing ReLU weights this way is called *He*
# (or *Kaiming*) *initialisation*; chapter 3 compares it with other recipes — and the same ReLU network
# vanishes or explodes on either side of it. The verdict printed beside each ratio below calls it
# *healthy* when it lies within a factor of ten of 1 either way (a convention of this book; §5).

# %%
relus = [gradient_flow(depth=30, activation="relu", sigma_w2=s2, seed=i) for i, s2 in enumerate((1.0, 2.0, 4.0))]
measured_over_predicted = [r.ratio / (r.settings["sigma_w2"] / 2) ** (29 / 2) for r in relus]
for r, m in zip(relus, measured_over_predicted):
    print(f"sigma_w2 = {r.settings['sigma_w2']:.0f}: ratio {r.ratio:.3g} ({r.verdict}), "
          f"predicted {(r.settings['sigma_w2'] / 2) ** 14.5:.3g}, measured / predicted {m:.2f}")
fig, axes = new_figure(2)
plot_gradient_flow(relus, axes)
# Seeds 0-4: measured / predicted from 0.47 to 1.16; sigma_w2 = 4 over 1: 10^8.5 to 10^8.9
assert all(1 / 2.3 < m < 2.3 for m in measured_over_predicted)
assert [r.verdict for r in relus] == ["vanishing", "healthy", "exploding"]
assert 8.3 < math.log10(relus[2].ratio / relus[0].ratio) < 9.5

# %% [markdown]
# Three independently drawn networks agree with the one-line prediction within a factor of about two (2.1
# here, 2.2 over five seeds), over nine orders of magnitude. The factor left over is one network's luck: at width 128 the product of 29
# random Jacobians fluctuates around its root-mean-square law, as §1's products did (chapter 3 measures
# it). With zero biases, as here, the forward signal (left) follows the same law, because the forward pass multiplies by
# $W_l$ and the backward pass by $W_l^\top$. With random biases ($\sigma_b^2 > 0$) it does not: every layer
# adds the bias's variance afresh, so a shrinking forward signal settles at a level where shrinking and
# adding balance (a *fixed point*; chapter 3 computes it and shows He's forward spread levelling off there),
# while the gradient, which no bias touches, keeps following the law.
#
# A subtlety worth knowing. A bias-free ReLU network is *positively homogeneous*: multiply every
# weight by $c$ and $h_l$ is multiplied by $c^l$ while $\partial\ell/\partial h_l$ is multiplied by $c^{L-l}$.
# The weight gradient $\partial \ell/\partial W_l = (\phi' \odot \partial\ell/\partial h_l)\, h_{l-1}^\top$ is a product of the two,
# so it scales by $c^{L-1}$ in *every* layer. The ratio of weight gradients between the first and last
# layer therefore does not depend on the scale at all. To see it, take *one* network's draws and scale
# them (`gradient_flow` called with the same `seed` — here its default — draws the same standard Gaussians
# for $\sigma_w^2 = 1, 2, 4$ and multiplies them by $\sqrt{\sigma_w^2/n}$, so those three networks are exactly
# that; the three above had different seeds), and compare with the activation
# gradient, which does depend on the scale:

# %%
scaled = [gradient_flow(depth=30, activation="relu", sigma_w2=s2) for s2 in (1.0, 2.0, 4.0)]
weight_ratios = [r.probe.grad_weight_norm[0] / r.probe.grad_weight_norm[-1] for r in scaled]
print("|dl/dW_1| / |dl/dW_30| for sigma_w2 = 1, 2, 4: " + ", ".join(f"{w:.4g}" for w in weight_ratios))
print("|dl/dh_1| / |dl/dh_30| for sigma_w2 = 1, 2, 4: " + ", ".join(f"{r.ratio:.4g}" for r in scaled))
assert np.allclose(weight_ratios, weight_ratios[0], rtol=1e-3)
assert scaled[2].ratio / scaled[0].ratio > 1e8

# %% [markdown]
# What does blow up or die is the size of *every* weight gradient relative to the weights themselves,
# which is the effective step size of gradient descent. That is why this book reads the gradient
# with respect to the activations, $\|\partial\ell/\partial h_l\|$, when it asks whether a signal survives
# the trip down, and why a learning rate that suits one initialisation is useless for another.
#
# ## 4. Reading the diagnostics
#
# Plots of each layer's activation mean, of how much different inputs still differ (the standard
# deviation of each unit over the batch, averaged over units), of the fraction of units that are
# saturated (sigmoid, tanh) or switched off (ReLU), and histograms of the activations show a sick
# network at a glance. Here the 30-layer sigmoid net from §2, the He-initialised ReLU net and the ReLU
# net with $\sigma_w^2 = 1$. The table prints, for a few layers, the activation `mean`; `std`, the spread of
# all the layer's activations, over inputs and units together; `over batch`, the spread across inputs just
# described; `flat`, the fraction of (input, unit) pairs where the slope is below 5% of its peak (saturated
# or off, as in §2); and $\|\partial\ell/\partial h_l\|$:

# %%
sick_and_well = [sigmoid, relus[1], relus[0]]
fig, axes = new_figure(3)
plot_layer_stats(sick_and_well, axes)
print(f"{'network':16s} {'layer':>5s} {'mean':>9s} {'std':>9s} {'over batch':>10s} {'flat':>5s} {'|dl/dh|':>9s}")
for r in sick_and_well:
    for layer in (1, 5, 15, 30):
        p = r.probe
        print(f"{r.label:16s} {layer:5d} {p.act_mean[layer - 1]:9.3g} {p.act_std[layer - 1]:9.3g} "
              f"{above(p.input_spread[layer - 1], 1e-6, '.3g'):>10s} {p.frac_inactive[layer - 1]:5.2f} "
              f"{p.grad_act_norm[layer - 1]:9.2e}")
print(f"He-initialised ReLU: flat (off) units, averaged over the 30 layers: {relus[1].probe.frac_inactive.mean():.0%}")

# %%
spread = sigmoid.probe.input_spread
assert np.all(np.abs(sigmoid.probe.act_mean - 0.5) < 0.05)
assert 1e-3 * spread[0] < spread[4] < 1e-2 * spread[0] and spread[14] < 1e-6 * spread[0]
# Seeds 0-4: He's flat fraction 49-51% on average, at most 61%; sigma_w2 = 1 shrinks the spread to
# 1.3e-5 to 4.8e-5 of layer 1's; the sigmoid's spread 0.21 in layer 1, 0.099-0.111 to 0.129-0.138 below;
# inputs 329-339 times more alike at layer 5
assert abs(relus[1].probe.frac_inactive.mean() - 0.5) < 0.02 and relus[1].probe.frac_inactive.max() < 0.7
assert 1e-5 < relus[0].probe.act_std[-1] / relus[0].probe.act_std[0] < 1e-4 and abs(0.5**14.5 - 4.3e-5) < 1e-6
sigmoid_std = sigmoid.probe.act_std
assert round(sigmoid_std[0], 2) == 0.21 and 0.09 < sigmoid_std[1:].min() < sigmoid_std[1:].max() < 0.15
assert 300 < spread[0] / spread[4] < 370

# %% [markdown]
# How to read it:
#
# * The sigmoid's activations sit around 0.5 in every layer (its outputs are never centred on zero)
#   and their overall spread stays between 0.10 and 0.13 from layer 2 on (0.21 in layer 1; 0.10 to 0.14 with
#   other seeds). But that spread is
#   *across units*: the middle panel shows that by layer 5 the 128 inputs have become about 340 times more
#   alike than at layer 1 (330 to 340 with other seeds), and by layer 15 they differ only by float32 rounding (printed as "< 1e-6": the
#   digits of rounding noise change with the CPU and its thread count). Every input produces the same vector; the network has
#   forgotten its input. This contraction of the forward pass is the mirror image of the vanishing
#   gradient (chapter 3 calls this regime, where every layer shrinks both the gradient and the differences
#   between inputs, the *ordered phase*), and the gradient column falls by a factor of about
#   four per layer.
# * In the He-initialised ReLU net about half of the units are off in every layer (51% on average; 49–51% with other seeds), as
#   they should be; the gradient stays within a small factor from top to bottom. Inputs do become more
#   alike with depth here too, but slowly.
# * With $\sigma_w^2 = 1$ the ReLU net's activations shrink by $\sqrt{1/2}$ per layer: by layer 30 their
#   spread is about $2\times10^{-5}$ of layer 1's ($1$ to $5\times10^{-5}$ with other seeds; the root-mean-square prediction is $(1/2)^{14.5} = 4.3\times10^{-5}$).
#
# **One number, two stories.** A flat fraction of one half can mean every unit off for half of the inputs,
# or half of the units off for *every* input. Units of the second kind are *dead*: they pass nothing and get
# no gradient. The probe also records each unit's active fraction over the batch (`unit_active`) and the
# fraction of units active on no input (`frac_dead`). Compare the He net with the same net given large random
# biases, $\sigma_b^2 = 50$, so that many units get a bias too negative for any input to overcome:

# %%
biased = gradient_flow(depth=30, activation="relu", sigma_w2=2.0, sigma_b2=50.0, seed=1)
for r in (relus[1], biased):
    print(f"sigma_b2 = {r.settings['sigma_b2']:2.0f}, layers 1, 15, 30: flat "
          + ", ".join(f"{r.probe.frac_inactive[i]:.2f}" for i in (0, 14, 29))
          + "; dead " + ", ".join(f"{r.probe.frac_dead[i]:.2f}" for i in (0, 14, 29)))
# Seeds 0-4: flat fractions in layer 1 within 0.055 of each other; the biased net's layer 1 27-35% dead;
# the He net's layer 30 29-42% dead
assert abs(biased.probe.frac_inactive[0] - relus[1].probe.frac_inactive[0]) < 0.08
assert relus[1].probe.frac_dead[0] == 0 and 0.2 < biased.probe.frac_dead[0] < 0.4
assert 0.2 < relus[1].probe.frac_dead[-1] < 0.5

# %% [markdown]
# In layer 1 both nets have about half of their (input, unit) pairs flat, but in the biased net about 30% of
# the units are dead (27–35% with other seeds), against none in the He net. Deeper down even the He net has
# dead units: by layer 30 some 40% are off for all 128 inputs (29–42% with other seeds), because the inputs have become alike (the middle panel above), so a unit is
# on for all of them or for none. Chapter 5 uses this measure on a trained network.
#
# Histograms show *where* the activations sit. Compare the sigmoid net with tanh nets at $\sigma_w^2 = 1$
# and $\sigma_w^2 = 4$:

# %%
tanhs = [gradient_flow(depth=30, activation="tanh", sigma_w2=s2) for s2 in (1.0, 4.0)]
fig, axes = new_figure(3)
for ax, r in zip(axes, [sigmoid] + tanhs):
    plot_layer_histograms(r, ax)
for r in tanhs:
    print(f"{r.label}: flat units in layers 10-30: {r.probe.frac_inactive[9:].mean():.0%}, ratio {r.ratio:.3g}")
# Seeds 0-4: none flat at sigma_w2 = 1; 13.1-13.5% at sigma_w2 = 4
assert tanhs[0].probe.frac_inactive[9:].mean() < 0.01 and 0.12 < tanhs[1].probe.frac_inactive[9:].mean() < 0.14
assert 0.1 < tanhs[0].ratio < 1 and tanhs[1].ratio > 10

# %% [markdown]
# * The sigmoid histograms beyond layer 1 are jagged because they are histograms of one vector
#   repeated 128 times — the collapse above, seen from another side.
# * tanh with $\sigma_w^2 = 1$ stays centred and narrows slowly with depth; no unit is saturated.
# * tanh with $\sigma_w^2 = 4$ pushes its mass out towards $\pm 1$: one unit in eight sits where the slope is
#   below 5% of its peak (13% of the units in layers 10–30), passing almost no gradient. Yet the gradient ratio is now far *above* 1: the
#   large weights more than make up for the flat units. Chapter 3 draws the line between the two
#   regimes: the *ordered phase*, where a layer shrinks gradients and input differences on average, and the
#   *chaotic phase*, where it stretches them; the boundary, where one layer leaves them unchanged on
#   average, is the *edge of chaos*.
#
# ## 5. The explorer
#
# Every control re-runs the real experiment (a fresh seeded network, one forward and one backward
# pass) and redraws both panels. The readout gives the ratio $\|\partial\ell/\partial h_1\| / \|\partial\ell/\partial h_L\|$ and
# calls it *healthy* when it lies within a factor of ten either way (the green band: a convention of
# this book, not a law). The device menu runs the same experiment on a GPU if you have one.
#
# **Predict, then check.**
# 1. Sigmoid, $\sigma_w^2 = 1$: how many layers until the ratio drops below $10^{-6}$?
# 2. ReLU at depth 100: what happens between $\sigma_w^2 = 1.8$ and $2.2$ (the slider's neighbours of 2)?
#    Why is the change so large?
# 3. ReLU, $\sigma_w^2 = 2$, depth 100: make the width 8, then 512. Which one is closer to 1, and why?
#    (Section 1 has the answer.)
# 4. tanh has slope 1 at zero. Which $\sigma_w^2$ keeps it healthy at depth 100?
#
# Push it too far — ReLU, depth 100, $\sigma_w^2 = 31.6$ (on the slider, 30 or 35 does the same) — and the
# forward signal exceeds what float32 can hold. The explorer then says where it happened instead of drawing a blank plot:

# %%
overflow = gradient_flow(depth=100, activation="relu", sigma_w2=31.6)
print(overflow.warning)
assert "layer 64 of 100" in overflow.warning

# %%
# NBVAL_IGNORE_OUTPUT
gradient_flow_explorer()

# %% [markdown]
# Without a kernel (on the book's website, say) the explorer above cannot re-run; the one below
# plays anyway, over pictures computed when this notebook ran.

# %%
# NBVAL_IGNORE_OUTPUT
precomputed_explorer(gradient_flow_explorer(device="cpu"), "depth", [5, 10, 20, 30, 50])

# %% [markdown]
# ## 6. What it does to learning
#
# A gradient of $10^{-18}$ is not a slow gradient; it is no gradient. Train three 20-layer networks of
# width 64 for 300 steps of SGD (learning rate 0.1, batch 128) on a synthetic 4-class problem (Gaussian
# inputs labelled by a fixed random network, the *teacher*; `utils/training.py`), and record how far each layer's
# weights moved, $\|W_l^{end} - W_l^{start}\| / \|W_l^{start}\|$.
#
# One check comes before any training: the *expected initial loss*. A fresh classifier with $K$ classes knows
# nothing yet, so it should spread its bets about evenly, and the cross-entropy of a uniform guess is
# $\ln K$ — here $\ln 4 \approx 1.386$. A first loss far above that means the network starts out confidently
# wrong (its outputs are too large), and its first steps go into undoing that instead of learning.
#
# **Numbers marked ≈.** A training run amplifies rounding: two CPUs that round one sum differently
# (another vector unit, another math library, another thread count) start from the same weights and
# drift apart step by step. So the digits of a run's outcome differ between machines, while what the run
# shows does not. The book prints such numbers with a leading ≈; on your machine they may differ. The text
# quotes them as bands, measured over 5 seeds and several CPU code paths, and the cell after each run
# checks that it falls inside them.

# %%
runs = [train_network(depth=20, activation=act, sigma_w2=s2, track_update_ratio=True) for act, s2 in
        (("sigmoid", 1.0), ("relu", 2.0), ("tanh", 1.0))]
fig, axes = new_figure(2)
plot_training(runs, axes)
for run in runs:
    moved = ", ".join(varies(run.rel_change[layer - 1], ".1e", floor=1e-5) for layer in (1, 5, 10, 15, 20))
    print(f"{run.label:18s} loss at step 1 {run.losses[0]:.3f} (ln 4 = {math.log(4):.3f}), final loss "
          f"{varies(run.losses[-1], '.3f')}, test accuracy {varies(run.accuracy, '.1%')}; "
          f"moved (layers 1, 5, 10, 15, 20): {moved}")
sigmoid_run, relu_run, tanh_run = runs
guess_loss, guess_accuracy = guessing_baseline()
print(f"ignoring the input: loss {guess_loss:.3f} (entropy of the class frequencies), accuracy {guess_accuracy:.1%}")
first_step = 0.1 * sigmoid_run.grad_to_weight  # learning rate x |dl/dW_l| / |W_l| at step 1
print(f"sigmoid, first SGD step relative to the weights: layer 1 {first_step[0]:.1e}, layer 20 {first_step[-1]:.1e}")
frozen = np.flatnonzero(sigmoid_run.frac_changed == 0) + 1
print(f"sigmoid: layers in which not one weight changed in 300 steps: {frozen.min()} to {varies(frozen.max(), 'd')}")

# %%
# Bands measured over seeds 0-4 and four CPU code paths (AVX-512, AVX2 with MKL's AVX2 path, no vector
# unit with MKL COMPATIBLE, 1 and 2 threads); the measured range follows each claim.
assert all(abs(run.losses[0] - math.log(4)) < 0.2 for run in runs)  # first losses 1.38-1.53
assert frozen.min() == 1 and 5 <= frozen.max() <= 7 and list(frozen) == list(range(1, frozen.max() + 1))  # 5-7 layers
assert 0.004 < sigmoid_run.rel_change[-1] < 0.008  # 0.0054-0.0065
assert 1e-13 < per_layer**19 < 1e-11 and 1e-13 < first_step[0] / first_step[-1] < 1e-11  # 1.8e-12 to 4.2e-12
assert round(math.log10(first_step[0])) == -15 and round(math.log10(first_step[-1])) == -3
assert abs(guess_loss - math.log(4)) < 0.02 and 0.25 < guess_accuracy < 0.35  # 1.371-1.380; 27.6-31.6%
assert abs(sigmoid_run.losses[-1] - guess_loss) < 0.02  # within 0.01
assert abs(sigmoid_run.accuracy - guess_accuracy) < 0.1  # the commonest class (4 seeds), another one (1 seed)
moved = np.concatenate([relu_run.rel_change, tanh_run.rel_change])
assert 0.015 < moved.min() < 0.06 and 0.15 < moved.max() < 0.35  # smallest 0.022-0.047, largest 0.18-0.29
assert relu_run.accuracy > 0.55 and tanh_run.accuracy > 0.7  # ReLU 64-75%, tanh 75-83%

# %% [markdown]
# All three networks start close to $\ln 4$ (within 0.03 here; within 0.14 over five seeds), as fresh
# classifiers should. The sigmoid network then stays at the loss of guessing: 1.371, the entropy of the four
# classes' frequencies (a little below $\ln 4$, as the classes are not quite balanced), and it answers the
# commonest class (29.6% of the test set). Its top layer moves a little (about 0.5%), and its first *seven*
# layers do not move at all: not one of their weights changed (five to seven layers, over five seeds).
# At about 0.24 per layer, layer 1's gradient is some $10^{-12}$ of layer 20's:
# its first step would change its weights by about $10^{-15}$ of their size (layer 20's by $10^{-3}$), far
# below float32's resolution, $\varepsilon = 2^{-23} \approx 1.2\times10^{-7}$ (the gap between 1 and the next
# float32 number). The ReLU (He) and tanh networks, same depth and width, move every layer by a few percent
# (layer 1 by about 18–29%) and learn the task: 64–75% test accuracy for ReLU and 75–83% for tanh over five
# seeds and several CPUs, against 30% for guessing.
#
# Between the frozen layers and the moving ones lie layers 8 to 12: the right panel shows them moving, by
# about $10^{-11}$ (layer 8) to a few times $10^{-8}$ (layer 12) of their size — *less* than $\varepsilon$. If every update below the resolution
# rounded away, they could not move at all. The resolution is not one number for the whole layer; it is
# one number per entry.
#
# ### float32 resolution, entry by entry
#
# A float32 number carries 24 significant bits, so the float32 numbers nearest to a weight $w$ lie about
# $\varepsilon|w|$ away. The optimiser computes $w + u$ and stores the float32 number nearest to it: unless
# the update $u$ exceeds about $\varepsilon|w|/2$ — half a step — that number is $w$ again and the update is
# lost. So the bar is *relative to each entry*: an entry near zero moves on an update that a typical entry
# would lose. Count, per layer of the sigmoid run, the entries that changed at all, and look at which of
# layer 8's did:

# %%
print("sigmoid run, fraction of W_l's entries that changed at all in 300 steps:")
print("  " + ", ".join(f"layer {l}: {varies(sigmoid_run.frac_changed[l - 1], '.2g', floor=1e-6)}"
                      for l in (7, 8, 10, 11, 12, 14, 17, 20)))
w_start = sigmoid_run.start_weights[7]  # layer 8, before and after training
changed = w_start != sigmoid_run.model[0].linears[7].weight.detach()
typical = float(w_start.abs().median())
print(f"layer 8: {varies(int(changed.sum()), 'd')} of {changed.numel()} entries changed, all with |w| <= "
      f"{varies(float(w_start.abs()[changed].max()), '.1e')}; a typical entry has |w| = {typical:.2g}")
print(f"half a float32 step: {short(FLOAT32_EPS * typical / 2, '.1e')} at |w| = {typical:.2g}, "
      f"{short(FLOAT32_EPS * 1e-4 / 2, '.1e')} at |w| = 1e-4")

# %%
# Bands over seeds 0-4 and CPU code paths, as above.
assert 0 < sigmoid_run.frac_changed[7] < 3e-3 and np.all(0 < sigmoid_run.rel_change[7:12])  # 1 to 7 of 4096
assert np.all(sigmoid_run.rel_change[7:12] < FLOAT32_EPS) and 1e-12 < sigmoid_run.rel_change[7] < 1e-10  # 5e-12 to 1.4e-11
assert 1e-8 < sigmoid_run.rel_change[11] < 1e-7  # 3.5e-8 to 5.9e-8
assert w_start.abs()[changed].max() < 1e-2 * typical and np.all(sigmoid_run.frac_changed[16:] > 0.999)
assert 0.01 < sigmoid_run.frac_changed[9] < 0.025 and 0.2 < sigmoid_run.frac_changed[11] < 0.32  # 1.2-1.9%; 24-28%
assert 0.93 < sigmoid_run.frac_changed[13] < 0.98 and 0.04 < sigmoid_run.frac_changed[10] < 0.09  # 94-96%; 5.3-7.4%
largest_changed = w_start.abs()[changed].max()
assert int((w_start.abs() <= largest_changed).sum()) <= 20  # the changed ones are among the 2 to 15 nearest 0
assert round(FLOAT32_EPS * typical / 2 * 1e9) == 5 and 1e-12 < FLOAT32_EPS * largest_changed / 2 < 1e-10

# %% [markdown]
# Layer 8's updates are far too small for a typical entry, which would need one above $5\times10^{-9}$, but
# the entries nearest zero need only some $10^{-12}$ to $10^{-11}$: its few changed entries (1 to 7 over five
# seeds) are all among the 20 of its 4096 that lie closest to zero. And when such an entry does
# move, it moves by a whole rounding step of its own size. A layer's relative change
# $\|\Delta W_l\|/\|W_l\|$ can therefore be far below $\varepsilon$: it is a few tiny entries stepping,
# while the rest stand still. Going up, the updates grow about fourfold per layer and clear the bar for
# more and more entries: 1–2% of layer 10's, about a quarter of layer 12's, about 95% of layer 14's, and
# practically all (over 99.9%) from layer 17 on. Below layer 8 not even the entries nearest zero clear it (with
# other seeds the line falls between layers 6 and 8).
#
# ### The update-to-data ratio
#
# The same question asked at every step and every layer is one of the practitioner's standard
# diagnostics: the *update-to-data ratio* $\|\Delta W_l\| / \|W_l\|$, the size of one optimiser step
# relative to the weights it changes. Karpathy (*Building makemore part 3*) plots its $\log_{10}$ during
# training and takes about $-3$ as healthy: far below, a layer learns too slowly to matter; far above, its
# weights are churned at every step. `train_network(..., track_update_ratio=True)` records it as an array of
# shape (steps, layers), from the float32 weights the optimiser actually wrote. Grey marks steps in which
# not one entry of the layer changed; the white lines on the colour bars mark $\log_{10}\varepsilon = -6.9$
# and $-3$.

# %%
fig, axes = new_figure(2, width=5.0)
for ax, run in zip(axes, (sigmoid_run, relu_run)):
    plot_update_ratio(run, ax)
median_log = {}
for run in (sigmoid_run, relu_run):
    median = np.median(run.update_ratio, axis=0)  # over the 300 steps, per layer
    median_log[run.label] = np.log10(np.where(median > 0, median, np.nan))
    steps_moved = (run.update_ratio > 0).mean(axis=0)
    print(f"{run.label}: median log10 update ratio, layers 1, 11, 14, 20: "
          + ", ".join("never changes" if np.isnan(median_log[run.label][l - 1]) else varies(median_log[run.label][l - 1], ".1f")
                      for l in (1, 11, 14, 20))
          + f"; layers from {varies(np.nanmin(median_log[run.label]), '.1f')} to {varies(np.nanmax(median_log[run.label]), '.1f')}"
          + f"; layer 8 changes in {varies(steps_moved[7], '.0%')} of the steps")
sigmoid_log, relu_log = median_log.values()

# %%
# Bands over seeds 0-4 and CPU code paths, as above.
assert np.all(sigmoid_run.update_ratio[:, :frozen.max()] == 0)
assert 0.1 < (sigmoid_run.update_ratio[:, 7] > 0).mean() < 0.9  # layer 8 changes in 17-77% of the steps
assert -10 < sigmoid_log[10] < -9 and abs(sigmoid_log[19] + 3.3) < 0.1  # -9.7 to -9.4; -3.30 to -3.26
assert abs(sigmoid_log[13] - math.log10(FLOAT32_EPS)) < 0.3 and 0.55 < (sigmoid_log[19] - sigmoid_log[13]) / 6 < 0.7
assert -3.0 < relu_log.min() and relu_log.max() < -2.2 and np.all(relu_run.update_ratio > 0)  # -2.9 to -2.3

# %% [markdown]
# The He-initialised ReLU net sits in one band: every layer's typical step is about $10^{-2.9}$ to $10^{-2.3}$ of
# its weights, less than a decade above Karpathy's $-3$ (a learning rate of 0.1 is on the bold side), and
# every layer changes at every step. The sigmoid net is a staircase: $10^{-3.3}$ at the top, falling by
# about 0.6 of a decade per layer (the factor of about 4 per layer of §2) down to $\varepsilon$ at layer 14,
# and faster below it. Below that line the ratio stops measuring a step of the whole layer and starts
# counting the few entries that cleared their own bar: layer 11's $10^{-9.5}$ or so comes from the 5–7% of its
# entries that ever change, layer 8 changes in only some of the steps, and layers 1 to 7 are grey
# throughout. A ratio near $\log_{10}\varepsilon \approx -7$ or below says that a layer is, in float32, not
# being trained.
#
# ## 7. Gradient clipping on an exploding network
#
# When gradients explode, one large step can throw the weights so far that the loss becomes
# infinite. *Gradient clipping* (Pascanu, Mikolov & Bengio, 2013) rescales the whole gradient whenever
# its norm exceeds a threshold $c$:
#
# $$\nabla \leftarrow \nabla \cdot \min\!\Big(1, \frac{c}{\|\nabla\|}\Big),$$
#
# where $\nabla$ is the gradient of the loss with respect to all parameters, stacked into one vector. So no
# single SGD step can be longer than $\eta c$ ($\eta$ the learning rate). Here is a 20-layer ReLU network with
# $\sigma_w^2 = 3$ — a *gain per layer* (the factor by which one layer multiplies the root mean square of
# the signal) of $\sqrt{3/2}$ — trained as above with and without `torch.nn.utils.clip_grad_norm_` at $c = 1$,
# next to the He-initialised network. The runs also record $\|\nabla\|$ at step 1, before any clipping.

# %%
exploding = train_network(depth=20, activation="relu", sigma_w2=3.0)
clipped = train_network(depth=20, activation="relu", sigma_w2=3.0, clip=1.0)
fig, axes = new_figure(2)
plot_training([exploding, clipped, relu_run], axes)
print(f"unclipped: loss {exploding.losses[0]:.1f} at step 1 (ln 4 = {math.log(4):.2f}), "
      f"inf/NaN at step {exploding.diverged_at + 1}")
print(f"clipped:   loss {clipped.losses[0]:.1f} -> {varies(clipped.losses[-1], '.3f')}, accuracy {varies(clipped.accuracy, '.1%')}")
print(f"He init:   loss {relu_run.losses[0]:.2f} -> {varies(relu_run.losses[-1], '.3f')}, accuracy {varies(relu_run.accuracy, '.1%')}")
print(f"gradient norm at step 1, before clipping: sigma_w2 = 3: {exploding.grad_norm:.0f}; He: {relu_run.grad_norm:.2f}")

# %%
# Bands over seeds 0-4 and CPU code paths, as in section 6.
assert exploding.diverged_at is not None and exploding.diverged_at + 1 <= 3  # step 3 in every run
assert clipped.diverged_at is None and clipped.losses[-1] < 0.2 * clipped.losses[0]
assert clipped.losses[-1] < guess_loss - 0.1 and clipped.accuracy > guess_accuracy + 0.1  # 1.06-1.22; 42-44%
assert clipped.accuracy < relu_run.accuracy - 0.1
assert exploding.losses[0] > 8 * math.log(4) and 100 < exploding.grad_norm / relu_run.grad_norm < 400  # 12-32; 140-340
assert abs(1.5**10 - 58) < 0.5

# %% [markdown]
# The expected-initial-loss check flags this network before it takes a step: its first loss is about ten
# times $\ln 4$ (8 to 25 times over five seeds), because a gain of $\sqrt{3/2}$ over 20 layers makes its outputs
# some $(3/2)^{10} \approx 58$ times larger than the He net's, and its first gradient is some 140 to 340 times the
# He net's. Without clipping the run is dead by step 3. With clipping it survives and the loss falls, but it
# ends well behind the network that was initialised at the right scale. Clipping is a guard rail: it
# bounds the step, it does not repair the product of Jacobians. The repairs are the subject of the
# next two chapters — shortcut connections and initialisation.
#
# ## 8. Common claims, checked
#
# Two statements about vanishing and exploding gradients come up again and again in courses, blog posts
# and forum answers. Here is each one as you are likely to meet it, how far it holds, and where this
# chapter shows it.
#
# > **A common explanation says: "ReLU causes exploding gradients; sigmoid causes vanishing gradients."**
# > It is too simple: the activation alone does not decide. §3 shows the *same* ReLU network vanishing at
# > $\sigma_w^2 = 1$, healthy at 2 and exploding at 4. ReLU's slope is 0 or 1; it is the weight scale
# > that decides. And §2 shows a 30-layer sigmoid network whose gradient arrives within a factor of ten
# > when $\sigma_w^2 = 100$ (with 55% of the units in layer 15 saturated). The accurate statement: the sigmoid's slope
# > bound $\tfrac14$ makes vanishing the default unless the weights are very large; ReLU makes the
# > outcome depend entirely on $\sigma_w^2$ (and biases).
#
# > **A common rule of thumb says: "Keep gradient values in a reasonable range, e.g. $[10^{-6}, 10^{3}]$."**
# > This range appears, for example, in Mu Li's lecture slides for *Dive into Deep Learning*. It is a rule of
# > thumb, not a result from a paper, and it puts the problem in the wrong place. The hard limits are the
# > number format's:

# %%
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    info = torch.finfo(dtype)
    print(f"{str(dtype):15s} smallest normal {info.tiny:.3g}, largest {info.max:.3g}, eps {info.eps:.3g}")
assert torch.finfo(torch.float16).max == 65504

# %% [markdown]
# > In float32 a gradient of $10^{-6}$ or $10^{3}$ is perfectly representable; what goes wrong in §6 is
# > the size of the update *relative to the weight* it changes ($10^{-15}$ against float32's $10^{-7}$
# > resolution), and what goes wrong in §7 is the length of the step. The range matters more in float16
# > (largest value 65504, smallest normal $6\times10^{-5}$ — the *smallest normal* number is the smallest one
# > stored with full precision; below it a float keeps fewer and fewer digits, then rounds to 0). That is
# > why *mixed-precision training*, which does most of its arithmetic in float16, multiplies the loss by a
# > large constant before the backward pass, so that small gradients stay above that floor, and divides the
# > gradients by it again before the step (Micikevicius et al., 2018). A better rule: watch the ratio between
# > layers and the size of updates relative to weights — the update-to-data ratio, about $10^{-3}$ and well above $\varepsilon$ —
# > as this chapter's plots do (§4 and §6).
#
# ## What we saw
#
# * The gradient at layer $l$ is a product of $L - l$ Jacobians; products of random factors shrink or
#   grow geometrically, and even at the neutral scale a typical product drifts down by $e^{-L/(2n)}$.
# * A sigmoid's slope is at most $\tfrac14$: with ordinary weights, 30 layers cut the gradient by about
#   $10^{18}$, and the first layers of such a network do not train at all in float32.
# * For ReLU the slope only selects units; the factor per layer is $\sqrt{\sigma_w^2/2}$. $\sigma_w^2 = 2$ (He) is
#   neutral, smaller vanishes, larger explodes — the same activation either way.
# * Read networks layer by layer: activation mean, spread, histograms, the fraction of flat units, and
#   gradient norms on a log axis.
# * float32 resolves a change to a weight $w$ only if it exceeds about $\varepsilon|w|/2$: below that the update is
#   lost entry by entry, so a layer whose updates are far below $\varepsilon$ of its weights does not train,
#   except through its few entries nearest zero.
# * Two cheap checks for any new network: the loss at step 1 should be near $\ln K$ for $K$ classes, and each
#   layer's update-to-data ratio $\|\Delta W_l\|/\|W_l\|$ should sit near $10^{-3}$, far above $\varepsilon$.
# * Clipping keeps an exploding network from diverging, but does not make it train like a well-scaled one.
#
# ## Exercises
#
# Everything an exercise needs is imported at the top of the chapter (`gradient_flow`, `train_network`,
# `new_figure`,
# `plot_update_ratio`, the explorer).
#
# 1. *(predict, then check)* §4 printed the gradient ratio of the tanh network with $\sigma_w^2 = 1$ at depth
#    30. Assume every layer takes the same factor and predict the ratio at depth 100. Then measure it with
#    `gradient_flow(depth=100, activation="tanh", sigma_w2=1.0).ratio`. Is the measurement above or below
#    your prediction, and by how much? Explain it with §4's tanh histograms and §2's slopes plot.
# 2. Derive the ReLU factor $\sigma_w^2/2$: show $\mathbb E[\phi'(z)^2] = \tfrac12$ for $z$ symmetric about 0
#    (with PyTorch's convention ReLU$'(0) = 0$; for a continuous $z$ the point 0 has probability 0) and
#    $\mathbb E\|W^\top u\|^2 = \sigma_w^2 \|u\|^2$ when $W_{ij} \sim \mathcal N(0, \sigma_w^2/n)$.
# 3. *(predict, then check)* GELU, $\phi(z) = z\,\Phi(z)$ with $\Phi$ the standard normal cumulative distribution function,
#    is a smoothed ReLU (transformers use it): close to ReLU for large $|z|$, with slope $\tfrac12$ at $z = 0$.
#    Predict whether it needs the same $\sigma_w^2 = 2$ as ReLU to stay healthy at depth 60; then find the range
#    of $\sigma_w^2$ that keeps it healthy, first roughly with the explorer (activation "gelu"), then, since the
#    slider's steps are too coarse for it, with `gradient_flow(depth=60, activation="gelu", sigma_w2=...).verdict`
#    in steps of 0.02. Why is the range so narrow?
# 4. *(predict, then check)* Change §6's sigmoid run to 5 layers:
#    `train_network(depth=5, activation="sigmoid", sigma_w2=1.0)`. Layer 1's gradient is now about $0.24^4$ of
#    the top layer's instead of $0.24^{19}$. Predict: is its first step (`0.1 * run.grad_to_weight[0]`) above
#    or below $\varepsilon$? How far does layer 1 move in 300 steps (`run.rel_change[0]`)?
# 5. *(predict, then check)* In §7, try `clip=0.1` and `clip=10`. §7 printed the gradient norm at step 1:
#    does either threshold leave the first step unclipped? Which run stays alive, and which learns faster?
# 6. *(predict, then check)* Train §6's He network with a learning rate ten times smaller,
#    `train_network(depth=20, activation="relu", sigma_w2=2.0, lr=0.01, track_update_ratio=True)`. Predict
#    where its median update-to-data ratios land relative to $-3$, then plot them with `plot_update_ratio`
#    (`fig, ax = new_figure()`, then `plot_update_ratio(run, ax)`).
#
# **Check your answers.** Open the hidden cell below (click the bar or "show code"), replace `None` by your
# number and run it: it computes the book's answer and says right or wrong, with a hint.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
check_answer("ch1_tanh_ratio", None)  # exercise 1: |dl/dh_1| / |dl/dh_100| for tanh, sigma_w2 = 1
check_answer("ch1_sigmoid_5_layers_moved", None)  # exercise 4: how far layer 1 moved (relative)

# %% [markdown]
# ## References
#
# * S. Hochreiter (1991), *Untersuchungen zu dynamischen neuronalen Netzen*, diploma thesis, TU München.
# * Y. Bengio, P. Simard, P. Frasconi (1994), Learning long-term dependencies with gradient descent is
#   difficult, *IEEE Trans. Neural Networks* 5(2).
# * X. Glorot, Y. Bengio (2010), Understanding the difficulty of training deep feedforward neural networks, *AISTATS*.
# * K. He, X. Zhang, S. Ren, J. Sun (2015), Delving deep into rectifiers, *ICCV*.
# * R. Pascanu, T. Mikolov, Y. Bengio (2013), On the difficulty of training recurrent neural networks, *ICML*.
# * P. Micikevicius et al. (2018), Mixed precision training, *ICLR*.
# * A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, §5.4 "Numerical stability and initialization".
# * A. Karpathy, *Neural Networks: Zero to Hero*, "Building makemore part 3" (activation and gradient statistics).

# %% [markdown]
# ## Answer key (for teachers)
#
# The cell below is collapsed; open it after trying the exercises. It computes every exercise's answer with
# the chapter's own calls and checks each number it prints.

# %% tags=["hide-cell"] jupyter={"outputs_hidden": true, "source_hidden": true}
tanh_100 = gradient_flow(depth=100, activation="tanh", sigma_w2=1.0).ratio
same_factor = tanhs[0].ratio ** (99 / 29)
print(f"Ex. 1: depth 30 gives {tanhs[0].ratio:.2g}, so the same factor per layer predicts {same_factor:.2g} at depth "
      f"100; measured {tanh_100:.2g}, {tanh_100 / same_factor:.0f} times more. The activations narrow with depth, so "
      f"tanh's inputs move towards 0, where its slope is 1: deep layers lose less than the first 30 did.")
# Seeds 0-4: depth 100 is 9 to 150 times the same-factor prediction
assert tanh_100 / same_factor > 3

z = torch.randn(100_000, generator=torch.Generator().manual_seed(0))
relu_slope_sq = float(get_activation("relu").slope(z).pow(2).mean())
print(f"Ex. 2: phi'(z)^2 is 1 for z > 0 and 0 otherwise, so E[phi'^2] = P(z > 0) = 1/2 (sampled: {relu_slope_sq:.2f}); "
      f"E|W^T u|^2 = sum_j sum_i E[W_ij^2] u_i^2 = n (sigma_w2 / n) |u|^2 = sigma_w2 |u|^2.")
assert abs(relu_slope_sq - 0.5) < 0.01

grid = np.round(np.arange(1.90, 2.21, 0.02), 2)
healthy = [s2 for s2 in grid if gradient_flow(depth=60, activation="gelu", sigma_w2=s2).verdict == "healthy"]
print(f"Ex. 3: GELU is healthy at depth 60 only for sigma_w2 from about {min(healthy):.2f} to {max(healthy):.2f} "
      f"(grid step 0.02): ReLU's sigma_w2 = 2 sits at the lower edge, healthy or just too small depending on the network. Just below, the signal shrinks into the region where GELU's slope is about 1/2, each "
      f"layer then multiplies the squared gradient by about sigma_w2/4, and the collapse accelerates; above, "
      f"GELU acts like ReLU and the ratio grows like (sigma_w2/2)^(59/2).")
# Seeds 0-4: healthy from 2.00-2.08 to 2.12-2.20 (at exactly 2 in one seed of five)
assert 2.0 <= min(healthy) <= 2.1 and max(healthy) <= 2.2 and max(healthy) - min(healthy) <= 0.16

five = train_network(depth=5, activation="sigmoid", sigma_w2=1.0)
print(f"Ex. 4: layer 1's first step is {short(0.1 * five.grad_to_weight[0], '.1e')} of its weights, above "
      f"epsilon = {short(FLOAT32_EPS, '.1e')}; in 300 steps it moves by {varies(five.rel_change[0], '.1e')} "
      f"(the top layer by {varies(five.rel_change[-1], '.1e')}; 0.24^4 = {short(0.24**4, '.1e')}).")
# Bands over seeds 0-4 and CPU code paths: layer 1 moves by 6.9e-4 to 9.0e-4
assert 0.1 * five.grad_to_weight[0] > 10 * FLOAT32_EPS and 3e-4 < five.rel_change[0] < 2e-3

clip_runs = [train_network(depth=20, activation="relu", sigma_w2=3.0, clip=c) for c in (0.1, 10.0)]
print(f"Ex. 5: the first gradient norm is {exploding.grad_norm:.0f}, so both thresholds clip the first step. "
      + "; ".join(f"clip {r.settings['clip']:g}: alive, loss {varies(r.losses[-1], '.2f')}, accuracy {varies(r.accuracy, '.0%')}"
                  for r in clip_runs)
      + ". Both survive; clip 10 learns faster, clip 0.1 takes steps too short to get far in 300 steps.")
# Bands over seeds 0-4 and CPU code paths: clip 0.1 reaches 26-31%, clip 10 51-59%, at least 21 points more
assert all(r.diverged_at is None for r in clip_runs) and clip_runs[1].accuracy > clip_runs[0].accuracy + 0.15

slow = train_network(depth=20, activation="relu", sigma_w2=2.0, lr=0.01, track_update_ratio=True)
slow_log = np.log10(np.median(slow.update_ratio, axis=0))
print(f"Ex. 6: median log10 update ratios from {varies(slow_log.min(), '.1f')} to {varies(slow_log.max(), '.1f')} (lr 0.1: "
      f"{varies(relu_log.min(), '.1f')} to {varies(relu_log.max(), '.1f')}): an SGD step is proportional to the learning "
      f"rate, so the ratios drop by roughly a decade, below -3; accuracy {varies(slow.accuracy, '.0%')} after 300 steps.")
# Bands over seeds 0-4 and CPU code paths: the drop is 0.57 to 1.41 decades, the largest ratio -3.9 to -3.2
assert 0.4 < np.median(relu_log - slow_log) < 1.6 and slow_log.max() < -3
