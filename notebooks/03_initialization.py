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
# # Chapter 3 — Initialization
#
# Chapter 1 showed that the gradient reaching the first layer is a product of one factor per layer,
# and that for ReLU the weight scale alone decides whether that product vanishes or explodes. This
# chapter asks the constructive question: *how should the weights be drawn before training starts?*
# It derives the classic answers, checks what PyTorch actually does, and then builds a small theory —
# mean-field signal propagation — that predicts, layer by layer, what the measurements show.
#
# **Learning goals.** The chapter is three sittings: goals 1–4 are the first (§1–§4), goals 5–8 the second
# (§5–§9), goal 9 the third (§10–§11). After this chapter you can
#
# 1. derive LeCun's $1/n_{in}$, Xavier's $2/(n_{in}+n_{out})$ with its uniform bound $\sqrt{6/(n_{in}+n_{out})}$,
#    and He's $2/n_{in}$ from one variance calculation;
# 2. say what `nn.Linear`'s default initialisation is and predict what it does to a deep network;
# 3. read per-layer activation and gradient histograms the way Glorot and Bengio (2010) did;
# 4. explain why a 30-layer ReLU network trains with He initialisation and not with Xavier's;
# 5. compute the mean-field variance map, its fixed point $q^*$ and the gradient factor $\chi$, locate the
#    boundary between the ordered and the chaotic phase of a smooth activation (tanh, sigmoid), and the
#    gradient-neutral scale of ReLU, which has no chaotic phase;
# 6. say what `nn.init.calculate_gain`, `mode="fan_in"` and `mode="fan_out"` do, and which initialiser
#    suits which activation;
# 7. read a phase diagram measured on hundreds of networks in one batched computation;
# 8. explain what orthogonal weights add (the spread of the Jacobian's singular values), why constant
#    weights never learn distinct units (and what breaks the symmetry), and how far one finite-width
#    network strays from the theory;
# 9. say what BatchNorm and LayerNorm fix in a deep plain network (the forward signal's scale) and what
#    BatchNorm does not (its gradient grows by about 1.21 per ReLU layer at initialisation), and why
#    deep networks combine normalisation with shortcuts.
#
# Every number quoted in the text is computed in a cell below and checked by an `assert` to the precision
# it is quoted with.

# %% [markdown]
# **Notation.** The same symbols are used throughout the book.
#
# | symbol | meaning |
# |---|---|
# | $L$, $l$, $n$ | depth (number of layers), layer index, width (units per layer) |
# | $n_{in}$, $n_{out}$ | a layer's **fan-in** (its number of inputs) and **fan-out** (its number of outputs) |
# | $x$, $z_l$, $h_l$ | the input; the pre-activation $z_l = W_l h_{l-1} + b_l$; the activation $h_l = \phi(z_l)$, with $h_0 = x$ |
# | $\phi$, $\phi'$ | the activation function and its slope; PyTorch takes ReLU$'(0) = 0$ |
# | $\ell$ | the loss |
# | $\sigma_w^2$, $\sigma_b^2$ | $W_{ij} \sim \mathcal N(0, \sigma_w^2/n_{in})$, $b_i \sim \mathcal N(0, \sigma_b^2)$; "weight variance" means $\sigma_w^2$ |
# | $q_l$, $q^*$ | the mean square of $z_l$ (over units and inputs), as mean-field theory predicts it; its fixed point (§5) |
# | $\hat q_l$ | the same mean square measured in one network of finite width (§1, §9) |
# | $c_l$ | the correlation between two inputs' pre-activations at layer $l$ (§5) |
# | $\chi$ | $\sigma_w^2\,\mathbb E[\phi'(z)^2]$, $z \sim \mathcal N(0, q^*)$: the factor by which one layer multiplies the gradient's mean square (§5) |
#
# Terms that come before the section that explains them, in one line each: **mean field** is the limit of
# very wide layers, where every pre-activation is Gaussian and one number per layer, $q_l$, describes the
# signal (§5). In the **ordered phase** ($\chi < 1$) gradients and the differences between inputs shrink
# with depth, in the **chaotic phase** ($\chi > 1$) they grow, and $\chi = 1$ is the **edge of chaos** (§5).
# A **gain** is a constant factor that multiplies a scale; PyTorch's *init gain* multiplies the standard
# deviation of an init recipe (§2).

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
from utils import build_network, gradient_flow, new_figure, precomputed_explorer, probe_network
from utils.check import check_answer
from utils.diagnostics import plot_layer_histograms
from utils.finite_width import describe_finite_width, finite_width, finite_width_explorer, plot_finite_width
from utils.formatting import varies
from utils.initialization import (init_experiment, init_explorer, plot_critical_lines, plot_init_experiment,
                                  plot_variance_map, row_spread, scheme_variances)
from utils.initializers import init_linear, weight_variance
from utils.jacobian_spectrum import jacobian_spectrum, plot_jacobian_spectra
from utils.mean_field import (chi, critical_sigma_w2, fixed_point, gaussian_mean, gradient_factor, mean_field,
                               variance_map)
from utils.normalization import (normalization, normalization_explorer, plot_norm_training, plot_normalization,
                                 predicted_growth, train_normalized)
from utils.phase_diagram import describe_phase_diagram, phase_diagram, phase_diagram_explorer, plot_phase_diagram
from utils.sweep import sweep, sweep_by_loop
from utils.training import guessing_baseline, plot_training, train_network

# %% [markdown]
# ## 1. One variance calculation, three recipes
#
# Take one layer with $n_{in}$ inputs (its fan-in) and $n_{out}$ outputs (its fan-out),
# $z_i = \sum_{j=1}^{n_{in}} W_{ij} h_j$ (no bias for now), with weights drawn
# independently of each other and of the input, with mean 0 and variance $v$. Each term $W_{ij}h_j$ has
# mean 0 and variance $v\,\mathbb E[h_j^2]$, and the $n_{in}$ terms are uncorrelated, so
#
# $$\operatorname{Var}(z_i) = n_{in}\, v\, \mathbb E[h^2]. \tag{forward}$$
#
# Backwards, $\partial\ell/\partial h_j = \sum_{i=1}^{n_{out}} W_{ij}\, \delta_i$ with $\delta_i = \partial\ell/\partial z_i$, and the same
# argument gives
#
# $$\operatorname{Var}\Big(\frac{\partial \ell}{\partial h_j}\Big) = n_{out}\, v\, \operatorname{Var}(\delta). \tag{backward}$$
#
# * **LeCun (1998).** For an activation that is close to the identity near 0 (tanh, or a linear
#   layer), $\mathbb E[h^2] \approx \operatorname{Var}(z_{\text{previous}})$, so the forward variance is kept when
#   $n_{in} v = 1$: $\;v = 1/n_{in}$.
# * **Xavier / Glorot (2010).** Keeping the backward variance needs $n_{out} v = 1$. Both hold only when
#   $n_{in} = n_{out}$; Glorot and Bengio take the compromise $v = 2/(n_{in}+n_{out})$ (the reciprocal of the
#   mean of the two fan sizes). For a uniform law $U(-a, a)$ the variance is
#   $\int_{-a}^{a} w^2\, \frac{dw}{2a} = a^2/3$, so $a^2/3 = 2/(n_{in}+n_{out})$ gives the bound
#   $$a = \sqrt{\frac{6}{n_{in}+n_{out}}}.$$
# * **He (2015).** For ReLU, $h = \max(0, z)$ with $z$ symmetric: half of the time $h = z$, half of the time
#   $h = 0$, so $\mathbb E[h^2] = \tfrac12 \operatorname{Var}(z)$. The forward condition becomes $n_{in} v \cdot \tfrac12 = 1$:
#   $\;v = 2/n_{in}$.
#
# This book writes every scheme as $v = \sigma_w^2 / n_{in}$: LeCun is $\sigma_w^2 = 1$, He is $\sigma_w^2 = 2$, and
# Xavier on square layers is $\sigma_w^2 = 1$. Checking the recipes on real layers (512 inputs, 256 outputs)
# and the ReLU half by Monte Carlo (an average over a million random draws):

# %%
torch.manual_seed(0)
n_in, n_out = 512, 256
print(f"{'scheme':15s} {'Var(W)':>9s} {'formula':>9s} {'max |W|':>8s}")
formulas = {"lecun": 1 / n_in, "xavier_normal": 2 / (n_in + n_out), "xavier_uniform": 2 / (n_in + n_out),
            "he": 2 / n_in}
measured_var, largest = {}, {}
for scheme, formula in formulas.items():
    layer = nn.Linear(n_in, n_out)
    init_linear(layer, scheme)
    w = layer.weight.detach()
    measured_var[scheme], largest[scheme] = float(w.var()), float(w.abs().max())
    print(f"{scheme:15s} {measured_var[scheme]:9.3e} {formula:9.3e} {largest[scheme]:8.4f}")
bound = math.sqrt(6 / (n_in + n_out))
z = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
relu_half = float(torch.relu(z).pow(2).mean())
print(f"Xavier uniform bound sqrt(6/768) = {bound:.4f};  E[relu(z)^2] / Var(z) = {relu_half:.4f}")

# %%
for scheme, formula in formulas.items():
    assert abs(measured_var[scheme] / formula - 1) < 0.02, scheme
assert abs(bound - 0.0884) < 1e-4 and 0.99 * bound < largest["xavier_uniform"] <= bound
assert abs(relu_half - 0.5) < 0.003

# %% [markdown]
# **Which fan is which.** `nn.Linear(n_in, n_out)` stores its weight as a matrix of shape $(n_{out}, n_{in})$,
# so that $z = W h$: `fan_in` is `weight.shape[1]`, `fan_out` is `weight.shape[0]`. PyTorch's
# `kaiming_normal_` and `kaiming_uniform_` take a `mode`: `mode="fan_in"` (the default) is He's forward
# condition $n_{in} v \cdot \tfrac12 = 1$; `mode="fan_out"` is his *backward* condition $n_{out} v \cdot \tfrac12 = 1$,
# which keeps the variance of $\partial\ell/\partial h$ instead (He et al. (2015) derive both and note that
# either one alone keeps a deep network from vanishing or exploding). torchvision's ResNets initialise
# every convolution with `kaiming_normal_(mode="fan_out", nonlinearity="relu")`; for a convolution the fans
# also count the kernel's positions ($n_{out}$ = output channels × kernel height × width). On the
# non-square layer above (512 inputs, 256 outputs) the two modes differ by a factor of two:

# %%
layer = nn.Linear(512, 256)
print(f"nn.Linear(512, 256).weight.shape = {tuple(layer.weight.shape)}  (out, in)")
mode_var = {}
for mode in ("fan_in", "fan_out"):
    torch.manual_seed(0)
    nn.init.kaiming_normal_(layer.weight, mode=mode, nonlinearity="relu")
    mode_var[mode] = float(layer.weight.detach().var())
    print(f"kaiming_normal_(mode={mode!r}): Var(W) = {mode_var[mode]:.3e}   2/n_in = {2 / 512:.3e}   2/n_out = {2 / 256:.3e}")
assert tuple(layer.weight.shape) == (256, 512)
assert abs(mode_var["fan_in"] * 512 / 2 - 1) < 0.02 and abs(mode_var["fan_out"] * 256 / 2 - 1) < 0.02

# %% [markdown]
# **The deep network, in plain PyTorch.** The rest of the chapter measures one kind of network: $L$
# square layers of width $n$, $z_l = W_l h_{l-1} + b_l$ and $h_l = \phi(z_l)$, fed a batch of Gaussian inputs
# $h_0 = x$, with a fixed random readout of the last layer as the loss $\ell$ (so the gradient entering the
# top is the same whatever the depth). Here it is with nothing but tensors: 30 ReLU layers of width 128
# at He's scale $\sigma_w^2 = 2$, no bias. The forward loop records $\hat q_l$, this network's mean square of
# $z_l$ over units and inputs; `retain_grad()` keeps $\partial\ell/\partial h_l$, which `backward()` fills in.

# %%
torch.manual_seed(0)
depth, width, sigma_w2, sigma_b2 = 30, 128, 2.0, 0.0
weights = [(torch.randn(width, width) * math.sqrt(sigma_w2 / width)).requires_grad_() for _ in range(depth)]
biases = [torch.randn(width) * math.sqrt(sigma_b2) for _ in range(depth)]  # all zero here
x = torch.randn(128, width)                        # 128 inputs, one per row
readout = torch.randn(width) / math.sqrt(width)    # the loss: a fixed random readout of the last layer
h, hidden, q_hat = x, [], []
for W, b in zip(weights, biases):
    z = h @ W.T + b                                # pre-activation z_l; W has shape (n_out, n_in)
    q_hat.append(float(z.detach().double().pow(2).mean()))
    h = torch.relu(z)                              # activation h_l
    h.retain_grad()                                # keep dl/dh_l when backward() runs
    hidden.append(h)
loss = (h @ readout).mean()
loss.backward()
grad_norms = np.array([float(h.grad.double().norm()) for h in hidden])  # ||dl/dh_l||, l = 1..30

# %% [markdown]
# From here on the book's library does this in one call: `build_network` stacks the same `nn.Linear`
# layers, `probe_network` runs the forward and the backward pass and reads every layer with hooks, and
# `gradient_flow` does both on a freshly drawn network. Given the same weights, the library must give the
# same numbers; mean-field theory (`mean_field`, §5) says what $q_l$ should be.

# %%
net = build_network(depth, width, activation="relu", init="normal", sigma_w2=sigma_w2)
with torch.no_grad():
    for layer, W, b in zip(net.linears, weights, biases):
        layer.weight.copy_(W)
        layer.bias.copy_(b)
probe = probe_network(net, x, lambda out: (out @ readout).mean())
discrepancy = float(np.abs(probe.grad_act_norm / grad_norms - 1).max())
print("largest relative difference of ||dl/dh_l|| between the loop and probe_network, over 30 layers: "
      + ("< 1e-6" if discrepancy < 1e-6 else f"{discrepancy:.1e}"))
plain_theory = mean_field(depth, "relu", sigma_w2, sigma_b2, input_q=float(x.double().pow(2).mean()))
print("q_hat at layers 1, 10, 20, 30: " + ", ".join(f"{q_hat[l - 1]:.2f}" for l in (1, 10, 20, 30))
      + f"  (mean field: {plain_theory.q[0]:.2f} in every layer)")
print(f"gradient ratio ||dl/dh_1|| / ||dl/dh_30||: {grad_norms[0] / grad_norms[-1]:.2f} (mean field: 1)")
assert discrepancy < 1e-6 and np.ptp(plain_theory.q) < 1e-12
# Seeds 0-4: q_hat_1 within 2% of mean field's q_1 (1.98-2.05, set by the drawn inputs); q_hat_30 0.32 to 5.0
# (1.11 here); the gradient ratio 0.51 to 1.10 (0.99 here)
assert abs(q_hat[0] / plain_theory.q[0] - 1) < 0.03 and 1.9 < plain_theory.q[0] < 2.1 and 0.2 < q_hat[-1] < 8
assert 0.4 < grad_norms[0] / grad_norms[-1] < 1.3

# %% [markdown]
# He's scale keeps the gradient on average: over 29 layers its norm changes by 1% here, but for other seeds by
# up to a factor of two (0.51 to 1.10 over five seeds). The forward signal is kept *on average* too — mean
# field's $q_l$ stays at 1.98 — but this one network's $\hat q_l$ wanders and ends at 1.11 (0.32 to 5.0 over
# five seeds).
# A network of finite width is one draw around the average; §9 measures how far such draws stray.

# %% [markdown]
# ## 2. What PyTorch does by default
#
# `nn.Linear` initialises itself in `reset_parameters` with `kaiming_uniform_(weight, a=math.sqrt(5))`.
# That is He's uniform law with the gain of a *leaky ReLU* (slope 1 for $z > 0$ and $a$ for $z < 0$). A **gain**, in PyTorch's init recipes,
# is the factor that multiplies the recipe's standard deviation (`nn.init.calculate_gain(activation)` returns one
# per activation); for a leaky ReLU it is $\sqrt{2/(1+a^2)}$, here $\sqrt{1/3}$, so the
# bound is $\sqrt{1/3}\cdot\sqrt{3/n_{in}} = 1/\sqrt{n_{in}}$: the weights are $U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})$, whose
# variance is $1/(3 n_{in})$. The bias is drawn from the same interval. (A comment in PyTorch's source code
# says that $a = \sqrt 5$ amounts to exactly that interval, and points to PyTorch issue 57109 for the
# discussion.) In this book's terms the default is $\sigma_w^2 = 1/3$ and $\sigma_b^2 = 1/(3n)$:

# %%
torch.manual_seed(0)
layer = nn.Linear(512, 512)
with torch.no_grad():
    default_w2 = float(layer.weight.var()) * 512
    default_bound = float(layer.weight.abs().max()) * math.sqrt(512)
    default_b2 = float(layer.bias.var()) * 512
print(f"n * Var(W) = {default_w2:.4f} (1/3 = 0.3333);  max |W| * sqrt(n) = {default_bound:.4f};  "
      f"n * Var(b) = {default_b2:.3f}")
print("the book's reading of the default for width 512:", tuple(f"{v:.4g}" for v in scheme_variances("default", 512)))
assert abs(default_w2 - 1 / 3) < 0.01 and 0.99 < default_bound <= 1.0 and abs(default_b2 - 1 / 3) < 0.05

# %% [markdown]
# $\sigma_w^2 = 1/3$ is a third of what the forward pass of a tanh network needs and a sixth of what ReLU
# needs. Chapter 1's rule for ReLU predicts a gradient ratio of $(\sigma_w^2/2)^{(L-1)/2} = 6^{-14.5} \approx 5\times10^{-12}$
# over 30 layers. Below, `init_experiment` builds and probes the network (`gradient_flow`) and draws the
# mean-field prediction (the wide-network average, §5) dashed on the same axes: PyTorch's default against
# He for a 30-layer ReLU network of width 128. Each row has two panels against the layer $l$: the
# **activation spread** (the standard deviation of $h_l$ over units and inputs) and $\|\partial\ell/\partial h_l\|$.

# %%
default_relu = init_experiment("relu", depth=30, width=128, init="default")
he_relu = init_experiment("relu", depth=30, width=128, init="he")
default_tanh = init_experiment("tanh", depth=30, width=128, init="default")
fig, axes = new_figure(2, 2)
plot_init_experiment(default_relu, axes[:2])
plot_init_experiment(he_relu, axes[2:])
for r in (default_relu, he_relu, default_tanh):
    print(f"{r.flow.label:14s}: gradient ratio first/last {r.flow.ratio:.3g}, mean field {r.theory_ratio:.3g}")
w2_default, b2_default = scheme_variances("default", 128)
q_star_default = fixed_point("relu", w2_default, b2_default)
plateau = default_relu.flow.probe.act_std[-10:].mean()
print(f"default, ReLU: sigma_w2 = {w2_default:.4f}, sigma_b2 = {b2_default:.5f}, q* = {q_star_default:.5f}; "
      f"activation spread over layers 21-30 {plateau:.3f} measured, {default_relu.theory.act_std[-1]:.3f} mean field")
print(f"he, ReLU: activation spread layer 1 -> 30: {he_relu.flow.probe.act_std[0]:.2f} -> "
      f"{he_relu.flow.probe.act_std[-1]:.2f} measured, {he_relu.theory.act_std[-1]:.2f} mean field in every layer")
he_default_bias = mean_field(30, "relu", 2.0, b2_default)
print(f"He weights with PyTorch's default bias: q_30 / q_1 = {he_default_bias.q[-1] / he_default_bias.q[0]:.3f}")

# %%
assert abs(math.log10(default_relu.flow.ratio / default_relu.theory_ratio)) < 0.3
assert abs(default_relu.theory_ratio - 6**-14.5) < 1e-14
# Seeds 0-4: default ReLU 2.8e-12 to 5.4e-12, tanh 7.8e-8 to 1.3e-7 (both within a factor of two of mean field);
# He 0.50 to 1.46 (0.66 here); the plateau 0.0316-0.0325, within 3.4% of mean field's 0.0326; He's spread 0.82-0.84 in
# layer 1 and 0.35 to 0.85 in layer 30
assert 2e-12 < default_relu.flow.ratio < 8e-12 and 4.5e-12 < default_relu.theory_ratio < 5.5e-12
assert round(math.log10(default_tanh.flow.ratio)) == -7
assert 0.4 < he_relu.flow.ratio < 1.8
assert abs(q_star_default - 1 / 320) < 1e-12 and abs(plateau - 0.0325) < 0.0015 and abs(default_relu.theory.act_std[-1] / plateau - 1) < 0.05 and round(default_relu.theory.act_std[-1], 3) == 0.033
assert abs(he_relu.flow.probe.act_std[0] - 0.83) < 0.02 and 0.25 < he_relu.flow.probe.act_std[-1] < 1.0
assert round(he_relu.theory.act_std[-1], 2) == 0.83 and np.ptp(he_relu.theory.q) < 1e-12
assert round(he_default_bias.q[-1] / he_default_bias.q[0], 3) == 1.038

# %% [markdown]
# At depth 30 the default loses eleven orders of magnitude of gradient with ReLU (measured
# $5\times10^{-12}$ here, $3$ to $5\times10^{-12}$ over five seeds; predicted $5\times10^{-12}$) and seven with tanh. The default was not derived for any
# architecture: PyTorch's issue threads (57109 and the ones it links) describe it as a carry-over of the
# old Lua Torch library's rule, kept so that results would not change. It is a fine choice for shallow
# networks and a poor one for a deep plain stack. When depth matters, PyTorch leaves it to you to pick the
# initialiser that matches the activation: `nn.init.kaiming_normal_` (He) for ReLU and its relatives
# (§4 shows Xavier failing there), `xavier_normal_` or `xavier_uniform_` for tanh without bias (§5: it
# sits on tanh's edge), and, for anything else, the $\sigma_w^2$ that mean-field theory puts on the edge (§5).
#
# The He row has no bias (the `he` scheme sets it to zero), and at $\sigma_w^2 = 2$ mean field keeps $q_l$
# exactly constant: the flat dashed line at 0.83. The measured He network strays from the line, here below
# it, from 0.82 to 0.35, and its gradient ratio is 0.66 instead of 1 (over five seeds the last layer's spread
# ends anywhere from 0.35 to 0.85 and the ratio from 0.50 to 1.46): like the network of §1, it is one draw of
# finite width, and §9 shows how far such draws typically stray.
#
# > **Aside — why the default's forward signal stops falling.** In the top row the gradient falls by the
# > same factor in every layer, but the activation spread falls for five layers only and then stays flat
# > at about 0.032. Chapter 1 found the forward signal following the gradient's law; that holds for a
# > network without bias, and PyTorch's default draws a bias. For ReLU the variance map of §5 is
# > $q_l = \tfrac{\sigma_w^2}{2}\, q_{l-1} + \sigma_b^2$: the weights multiply $q$ by $\sigma_w^2/2 = 1/6$ per layer and
# > the bias adds $\sigma_b^2 = 1/(3n) = 0.0026$ back, so $q_l$ settles where the two balance, at the fixed point
# > $q^* = \sigma_b^2/(1 - \sigma_w^2/2) = 1/320 \approx 0.0031$. A ReLU of a Gaussian of mean square $q^*$ has
# > standard deviation $\sqrt{q^*\,(1/2 - 1/(2\pi))} = 0.033$: the dashed line, 1% above the measured plateau
# > (at most 3.4% above it over five seeds).
# > The gradient does not notice the plateau. ReLU's slope is 0 or 1 whatever the scale of $z$, so every
# > layer multiplies the gradient's mean square by $\chi = \sigma_w^2/2 = 1/6$ (§5) and the bias cannot stop the
# > decay. A steady forward signal is no proof of a healthy gradient. At $\sigma_w^2 = 2$, on the other hand,
# > a bias leaves no fixed point at all: $q_l$ grows by $\sigma_b^2$ in every layer. He weights with PyTorch's
# > default bias grow it by 1/384 a layer, 4% over 30 layers: too little to see. *End of the aside.*
#
# ## 3. Per-layer histograms, as Glorot and Bengio drew them
#
# Glorot and Bengio (2010) compared the "standard" initialisation $U(-1/\sqrt n, 1/\sqrt n)$ — the same
# law as PyTorch's default — with their "normalised" one (Xavier uniform) on tanh networks, by drawing
# the distribution of activations and of back-propagated gradients in every layer. Here is that
# picture for five tanh layers of width 256, 256 inputs, with the probe's per-layer histograms of
# $h_l$ and of $\partial\ell/\partial h_l$:

# %%
glorot = {init: gradient_flow(depth=5, width=256, activation="tanh", init=init, batch=256)
          for init in ("default", "xavier_uniform")}
fig, axes = new_figure(2, 2)
for row, result in enumerate(glorot.values()):
    plot_layer_histograms(result, axes[2 * row], layers=[1, 2, 3, 4, 5])
    plot_layer_histograms(result, axes[2 * row + 1], layers=[1, 2, 3, 4, 5], kind="gradients")
for init, result in glorot.items():
    p = result.probe
    print(f"{init:15s} activation std, layers 1..5: " + " ".join(f"{v:.3f}" for v in p.act_std)
          + f";  gradient norm layer 1 / layer 5: {p.grad_act_norm[0] / p.grad_act_norm[-1]:.3f}")

# %%
standard, normalised = glorot["default"].probe, glorot["xavier_uniform"].probe
assert abs(standard.act_std[0] - 0.46) < 0.01 and abs(standard.act_std[-1] - 0.064) < 0.005
assert round(glorot["default"].ratio, 1) == 0.1
assert normalised.act_std[-1] / normalised.act_std[0] > 0.45 and glorot["xavier_uniform"].ratio > 0.45

# %% [markdown]
# With the standard law the activations narrow layer after layer (their spread falls from 0.46 to
# 0.06) and the back-propagated gradients narrow the other way, towards the input, to a tenth by layer
# 1. With the normalised law both stay within a factor of about two. Even Xavier does not keep the
# tanh activations exactly constant: at $\sigma_w^2 = 1$ and no bias a tanh network sits *exactly* on the
# boundary between the two phases of §5, where the variance decays like $1/l$ instead of geometrically.
#
# ## 4. Thirty ReLU layers: Xavier against He
#
# He et al. (2015, their Figure 3) trained a 30-layer ReLU network: with Xavier's initialisation it
# did not learn at all, with theirs it did. Xavier on square layers is $\sigma_w^2 = 1$, so each ReLU layer
# halves the variance (the mean square) of the signal: after 29 layers its spread, a root mean square, is
# $2^{-29/2} \approx 4\times10^{-5}$ of the first layer's, and the gradient shrinks the same way. (This network does a little worse, about
# $2\times10^{-5}$; over five seeds 1.8 to $4.4\times10^{-5}$: one finite-width network typically sits below the average,
# §9 says by how much.)

# %%
xavier_relu = init_experiment("relu", depth=30, width=128, init="xavier_normal")
fig, axes = new_figure(2)
plot_init_experiment(xavier_relu, axes)
shrink = xavier_relu.flow.probe.act_std[-1] / xavier_relu.flow.probe.act_std[0]
predicted_shrink = xavier_relu.theory.act_std[-1] / xavier_relu.theory.act_std[0]
print(f"Xavier, ReLU: activation spread layer 30 / layer 1 = {shrink:.2g} (mean field {predicted_shrink:.2g}); "
      f"gradient ratio {xavier_relu.flow.ratio:.2g} (mean field {xavier_relu.theory_ratio:.2g})")
# Seeds 0-4: the spread's ratio 1.8e-5 to 4.4e-5 (mean field over measured 0.98 to 2.4), the gradient's 2.1e-5 to 6.3e-5
assert abs(predicted_shrink - 2**-14.5) < 1e-6 and 1e-5 < shrink < 6e-5 and 1e-5 < xavier_relu.flow.ratio < 1e-4
assert 0.8 < predicted_shrink / shrink < 3  # one network's finite-width luck (§9), mostly below the mean-field law

# %% [markdown]
# Now the consequence: the same two initialisations, a 30-layer ReLU network of width 64 trained for
# 300 steps of SGD (learning rate 0.1) on chapter 1's synthetic 4-class problem.

# %%
runs = {init: train_network(depth=30, width=64, activation="relu", init=init, steps=300)
        for init in ("xavier_normal", "he")}
fig, axes = new_figure(2)
plot_training(list(runs.values()), axes)
for init, run in runs.items():  # ≈: a training run's digits depend on the CPU (chapter 1, section 6)
    print(f"{init:14s} loss {run.losses[0]:.3f} -> {varies(run.losses[-1], '.3f')}, "
          f"test accuracy {varies(run.accuracy, '.1%')}, layer 1 moved {varies(run.rel_change[0], '.1e')}")

# %%
xavier_run, he_run = runs["xavier_normal"], runs["he"]
guess_loss, commonest = guessing_baseline()  # the loss and accuracy of a model that ignores its input
# Bands over seeds 0-4 and CPU code paths (chapter 1, section 6); the measured range follows each claim.
assert abs(xavier_run.losses[-1] - guess_loss) < 0.02 and abs(xavier_run.accuracy - commonest) < 0.01  # 0.014; 0
assert abs(guess_loss - math.log(4)) < 0.02 and 0.25 < commonest < 0.35  # 1.371-1.381; 27.6-31.6%
assert 5e-6 < xavier_run.rel_change[0] < 1e-4 and he_run.rel_change[0] > 0.05  # 1.1e-5 to 6.1e-5; 0.11-0.15
assert he_run.losses[-1] < guess_loss - 0.03  # 0.93-1.15 in four seeds; 1.33 in one, which barely learns

# %% [markdown]
# Xavier's network stays at the loss of guessing (`guessing_baseline`: 1.371, the entropy of the class
# frequencies, and the 29.6% of always answering the commonest class) and its first layer moves by one to
# six parts in a hundred thousand; He's network learns (its loss falls to about 0.93–1.15 in 300 steps, over
# four of five seeds; in the fifth, 300 steps at this learning rate are not enough to leave the plateau:
# a correct start is necessary, not sufficient). You will often
# read that Xavier initialisation "has proved effective in practice" even though its linearity assumption
# is violated (§11 checks the claim); for a deep ReLU stack it is not, and the factor of two is the whole
# difference.
#
# ---
#
# **End of the first sitting.** You have the recipes, PyTorch's default and what it does to a deep
# network, and Glorot's and He's experiments. The second sitting builds the theory that predicted every
# dashed line so far, and uses it.
#
# ---
#
# ## 5. Mean-field theory: the variance map, its fixed point and $\chi$
#
# The recipes above keep one layer's variance; a deep network composes many layers, and the
# activations are not linear. Mean-field theory (Poole et al. 2016; Schoenholz et al. 2017) follows the
# variance through all of them. This book's network is $h_0 = x$, $z_l = W_l h_{l-1} + b_l$, $h_l = \phi(z_l)$,
# with $W_{ij} \sim \mathcal N(0, \sigma_w^2/n)$ and $b_i \sim \mathcal N(0, \sigma_b^2)$. *Mean field* is the limit of very wide
# layers: $z_{l,i}$ is a sum of many independent terms, hence Gaussian with mean 0, and one number per layer
# describes it, its mean square $q_l$ (here also its variance), which the forward equation gives:
#
# $$q_1 = \sigma_w^2\, \tfrac1n\|x\|^2 + \sigma_b^2, \qquad
#   q_l = V(q_{l-1}) = \sigma_w^2\, \mathbb E_{u\sim\mathcal N(0,1)}\big[\phi(\sqrt{q_{l-1}}\,u)^2\big] + \sigma_b^2 .$$
#
# $V$ is increasing, so $q_l$ moves monotonically towards a **fixed point** $q^* = V(q^*)$ (or grows without
# bound, if there is none). On the way back, layer $l$ multiplies the mean-square gradient by
#
# $$\chi(q_l) = \sigma_w^2\, \mathbb E\big[\phi'(\sqrt{q_l}\,u)^2\big], \qquad
#   \frac{\|\partial\ell/\partial h_1\|}{\|\partial\ell/\partial h_L\|} \approx \prod_{l=2}^{L} \chi(q_l)^{1/2},$$
#
# (the backward equation with $\operatorname{Var}(\delta) = \mathbb E[\phi'^2]\,\operatorname{Var}(\partial\ell/\partial h)$). Deep in the network
# every layer contributes $\chi = \chi(q^*)$ (papers call it $\chi_1$: Poole et al. 2016; Schoenholz et al. 2017):
# below 1 the gradient vanishes geometrically (the **ordered phase**), above 1 it explodes (the **chaotic
# phase**), and $\chi = 1$ is the **edge of chaos**. The names come from what happens to two inputs. Let $c_l$
# be the correlation between their pre-activations at layer $l$ (1: the same direction, 0: unrelated);
# mean field also gives a **correlation map** $c_{l-1} \mapsto c_l$, and Poole et al. show that its slope at
# $c = 1$ is $\chi$ again. So in the ordered phase two nearby inputs are pulled together, layer after layer,
# until the network cannot tell them apart; in the chaotic phase they are pushed apart, and the output
# depends on every small change of the input.
#
# For ReLU every expectation is elementary: $\mathbb E[\mathrm{relu}(\sqrt q\,u)^2] = q/2$ and, since $\phi'$ is the step
# function (1 for $z > 0$, 0 for $z < 0$; its value at exactly 0 has probability 0), $\mathbb E[\phi'(\sqrt q\,u)^2] = 1/2$, so
#
# $$q_l = \tfrac{\sigma_w^2}{2}\, q_{l-1} + \sigma_b^2, \qquad \chi = \tfrac{\sigma_w^2}{2}\ \text{at every } q .$$
#
# So $\sigma_w^2 = 2$ is **gradient-neutral** for ReLU whatever the bias: the backward product neither shrinks nor
# grows. It is *not* an edge between two phases in the sense above. Below it the fixed point is
# $q^* = \sigma_b^2/(1 - \sigma_w^2/2)$ and the network is ordered; at $\sigma_w^2 = 2$ with a bias, $q_l$ grows by
# $\sigma_b^2$ per layer, and above it geometrically, so there is no fixed point at all and hence no chaotic
# phase with a stable $q^*$. In the correlation sense ReLU's edge of chaos is the single point
# $(\sigma_w^2, \sigma_b^2) = (2, 0)$ (Hayou, Doucet & Rousseau, 2019). This book therefore keeps the words
# *ordered*, *chaotic* and *edge of chaos* for smooth activations such as tanh and the sigmoid, and calls
# $\sigma_w^2 = 2$ ReLU's gradient-neutral scale.
# For other activations `utils/mean_field.py` computes the expectations numerically, by **quadrature**: an
# integral computed as a weighted sum of the integrand's values at fixed points (nodes).
#
# > **Aside — which quadrature.** The usual rule for an average over a Gaussian is Gauss–Hermite: one set
# > of nodes spread over the whole line. Its nodes can straddle a kink (ReLU's at 0) and, when $q$ is large,
# > miss the narrow peak of tanh's or the sigmoid's slope. So `utils/mean_field.py` cuts the line into
# > panels, with edges at $u = 0$ and where the activations bend ($|z| = \sqrt q\,|u|$ from 1/4 to 16), and
# > applies Gauss–Legendre nodes on each panel to the integrand times the normal density. *End of the aside.*
#
# The left panel shows $V$ for tanh with $\sigma_b^2 = 0.05$, its fixed points
# (dots) and the first layers as a staircase; the right one the line $\chi = 1$ in the $(\sigma_w^2, \sigma_b^2)$
# plane (for ReLU, the gradient-neutral line).

# %%
fig, axes = new_figure(2)
plot_variance_map("tanh", (0.5, 1.0, 2.0, 4.0), 0.05, axes[0])
plot_critical_lines(("tanh", "relu"), axes[1])
print(f"{'tanh, sigma_b2=0.05':20s} {'q*':>7s} {'chi':>7s}")
tanh_points = {s2: (fixed_point("tanh", s2, 0.05), chi("tanh", s2, 0.05)) for s2 in (0.5, 1.0, 2.0, 4.0)}
for s2, (q_star, c1) in tanh_points.items():
    print(f"sigma_w2 = {s2:<10g} {q_star:7.4f} {c1:7.4f}")
critical = {("tanh", 0.0): critical_sigma_w2("tanh", 0.0), ("tanh", 0.05): critical_sigma_w2("tanh", 0.05),
            ("relu", 0.05): critical_sigma_w2("relu", 0.05), ("sigmoid", 0.0): critical_sigma_w2("sigmoid", 0.0)}
print("chi = 1: " + ", ".join(f"{a} (sigma_b2={b}) at sigma_w2 = {v:.4g}" for (a, b), v in critical.items()))

# %%
assert tanh_points[1.0][1] < 1 < tanh_points[2.0][1]
assert abs(critical[("tanh", 0.0)] - 1) < 1e-5 and abs(critical[("tanh", 0.05)] - 1.761) < 1e-3
assert abs(critical[("relu", 0.05)] - 2) < 1e-6 and abs(critical[("sigmoid", 0.0)] - 103) < 0.5
assert abs(fixed_point("relu", 1.5, 0.1) - 0.4) < 1e-9

# %% [markdown]
# With a bias of 0.05, tanh is ordered up to $\sigma_w^2 = 1.761$ and chaotic beyond; with no bias the edge is
# at exactly 1, which is Xavier's value — the reason for §3's slow decay. (ReLU's line at 2 is the
# gradient-neutral scale, not a border between two phases.) The sigmoid's edge is at
# $\sigma_w^2 \approx 103$: chapter 1 found by trial that $\sigma_w^2 = 100$ was the first of its settings to keep a
# 30-layer sigmoid net within a factor of ten. The theory puts the answer there without a single
# network.
#
# Now the theory against measurement: tanh networks of depth 30 and width 128 with $\sigma_b^2 = 0.05$, in the
# ordered phase, on the edge and in the chaotic phase. Dashed: mean field.

# %%
tanh_runs = {s2: init_experiment("tanh", sigma_w2=s2, sigma_b2=0.05, depth=30, width=128) for s2 in (1.0, 1.76, 4.0)}
fig, axes = new_figure(2, 3)
for row, result in enumerate(tanh_runs.values()):
    plot_init_experiment(result, axes[2 * row:2 * row + 2])
for s2, r in tanh_runs.items():
    spread_error = np.abs(r.flow.probe.act_std / r.theory.act_std - 1).max()
    print(f"sigma_w2 = {s2:<5g}: gradient ratio {r.flow.ratio:.3g} measured, {r.theory_ratio:.3g} mean field; "
          f"activation spread within {spread_error:.0%} of mean field in every layer")

# %%
# Seeds 0-4: measured over mean-field gradient ratio 0.37-1.14 in the ordered phase, 0.86-1.06 on the edge, 0.84-1.09
# in the chaotic phase; the largest activation-spread error 7-18%, 5-8%, 1-2%
ratio_errors = [r.flow.ratio / r.theory_ratio - 1 for r in tanh_runs.values()]
assert abs(math.log10(ratio_errors[0] + 1)) < 0.6 and max(abs(e) for e in ratio_errors[1:]) < 0.25
spread_errors = [np.abs(r.flow.probe.act_std / r.theory.act_std - 1).max() for r in tanh_runs.values()]
assert spread_errors[0] < 0.25 and spread_errors[1] < 0.12 and spread_errors[2] < 0.04
assert tanh_runs[1.0].flow.ratio < 0.02 and 0.5 < tanh_runs[1.76].flow.ratio < 2 and tanh_runs[4.0].flow.ratio > 50

# %% [markdown]
# Over nearly four orders of magnitude (0.015 to 69) the gradient ratio agrees with the product of $\chi$'s, here to
# within 10% (6% on the edge); over five seeds within 16% on the edge and in the chaotic phase, while in the ordered
# phase, where the gradient is small, one network's ratio strays by up to a factor of three (0.0054 to 0.017,
# against 0.015). The activation spread agrees to 1% in the chaotic phase and 6% on the edge (2% and 8% over five
# seeds); in the ordered phase the signal is small, and one network's spread strays further, up to 17% here
# (18% over five seeds; §9 explains why single networks stray).
#
# **PyTorch's gains against the edge of chaos.** `nn.init.calculate_gain(activation)` returns a factor $g$
# for `xavier_normal_`, `xavier_uniform_` or `orthogonal_`. Xavier with gain $g$ has variance $g^2 \cdot 2/(n_{in}+n_{out})$,
# so on a square layer $\sigma_w^2 = g^2$. PyTorch recommends $g = 5/3$ for tanh and $g = 1$ for the sigmoid. Where
# do these come from? The documentation gives no derivation, and a PyTorch issue asking how the values were
# calculated (issue 24991) got none. For tanh, $5/3$ is close to $1/\mathrm{std}(\tanh u) = 1.59$ for
# $u \sim \mathcal N(0, 1)$: the gain that gives a unit-variance input its spread back after *one* tanh.
# That is a one-layer, forward argument. At depth 30 with no bias, against mean-field theory:

# %%
gains = {act: nn.init.calculate_gain(act) for act in ("tanh", "sigmoid")}
w = torch.empty(128, 128)
torch.manual_seed(0)
nn.init.xavier_normal_(w, gain=gains["tanh"])
print(f"xavier_normal_(gain=5/3) on a 128 x 128 layer: n Var(W) = {float(w.var()) * 128:.2f}  (g^2 = {gains['tanh']**2:.2f})")
one_tanh = 1 / math.sqrt(float(gaussian_mean(lambda z: torch.tanh(z) ** 2, 1.0)))
print(f"1 / std(tanh(u)), u ~ N(0, 1): {one_tanh:.3f}")
by_gain = {act: init_experiment(act, sigma_w2=g**2, depth=30, width=128) for act, g in gains.items()}
for act, r in by_gain.items():
    factor = chi(act, gains[act] ** 2)
    print(f"{act:7s} gain {gains[act]:.4g}: sigma_w2 = {gains[act]**2:.3g}, chi = {factor:.3g} "
          f"({'chaotic' if factor > 1 else 'ordered'}); gradient ratio over 30 layers {r.flow.ratio:.3g} measured, "
          f"{r.theory_ratio:.3g} mean field")

# %%
assert abs(float(w.var()) * 128 - 2.78) < 0.05 and round(one_tanh, 2) == 1.59
# Seeds 0-4: tanh's ratio 12.7 to 14.3, within 11% of mean field's 14.2; the sigmoid's 4.1e-19 to 7.7e-19
assert round(chi("tanh", gains["tanh"] ** 2), 2) == 1.21 and 12 < by_gain["tanh"].flow.ratio < 16
assert abs(by_gain["tanh"].flow.ratio / by_gain["tanh"].theory_ratio - 1) < 0.15
assert round(chi("sigmoid", 1.0), 3) == 0.056 and round(math.log10(by_gain["sigmoid"].flow.ratio)) == -18

# %% [markdown]
# With $g = 5/3$ a tanh network at $\sigma_b^2 = 0$ is in the **chaotic** phase: $\sigma_w^2 = 2.78$ is well past the edge
# at 1, $\chi = 1.21$, and over 30 layers the gradient grows by a factor of 14 (13 to 14 over five seeds; mean
# field's 14.2 agrees within 2% here, within 11% over five seeds).
# The sigmoid's gain of 1 is deep in the ordered phase ($\chi = 0.056$): the $10^{-18}$ of chapter 1, and a
# hundred times below the sigmoid's edge at $\sigma_w^2 \approx 103$. So the gains are good for what they
# were meant to do, keeping the activations of the first few layers from shrinking, and are no guide for a
# deep network: there the edge is what matters (tanh without bias: $g = 1$).
#
# **The explorer.** Every control re-runs a real network and redraws it with the mean-field curves on
# top. $\sigma_w^2$ and $\sigma_b^2$ apply to the `normal` and `orthogonal` schemes (`orthogonal`: a random orthogonal
# matrix, scaled; §7 says what that adds); the other schemes fix their own variances (the readout names them).
#
# **Predict, then check.** (1) ReLU with `lecun`: how many decades does the gradient lose over 30
# layers? (2) tanh, $\sigma_b^2 = 0.3$: where is the edge now? (3) sigmoid with $\sigma_w^2 = 100$: is the theory still
# right where half of the units are saturated (on the sigmoid's flat parts, slope near 0)?

# %%
# NBVAL_IGNORE_OUTPUT
init_explorer()

# %% [markdown]
# Without a kernel (on the book's website, say) the explorer above cannot re-run; the one below
# plays anyway, over pictures computed when this notebook ran.

# %%
# NBVAL_IGNORE_OUTPUT
precomputed_explorer(init_explorer(device="cpu"), "sigma_w2", [0.5, 1.0, 2.0, 4.0])

# %% [markdown]
# ## 6. The phase diagram, from one batched sweep
#
# One network answers one question. A phase diagram — the gradient ratio over a grid of $\sigma_w^2$ and
# depths, for several seeds (independent random draws of the weights) — needs hundreds of networks. `sweep` (in `utils/sweep.py`) runs them as *one*
# computation instead of a Python loop of models, and gives the numbers of separate models; the aside
# below shows how, and checks it.
#
# > **Aside — how one sweep runs hundreds of networks.** The hidden vectors of all networks are stacked
# > into one tensor of shape (seeds, $\sigma_w^2$ values, batch, width), every layer is one batched matrix
# > product (`torch.bmm`) and the backward pass is the chain rule written out,
# > $\partial\ell/\partial h_{l-1} = \sigma_w\,(\phi'(z_l) \odot \partial\ell/\partial h_l)\, W^0_l$. Two tricks make it cheap:
# >
# > * *common random numbers*: a seed draws $W^0 \sim \mathcal N(0, 1/n)$ once, and the network at $\sigma_w^2$ uses
# >   $W = \sigma_w W^0$, so neighbouring columns of the diagram differ only in scale;
# > * *every depth at once*: one network of depth $L$ gives, for each $d \le L$, the ratio
# >   $\|\partial\ell/\partial h_1\| / \|\partial\ell/\partial h_d\|$ — the product of the layer Jacobians $J_l = \partial h_l/\partial h_{l-1}$ (the matrices of partial derivatives, §7) of layers $2..d$. (For a separate
# >   network of depth $d$ the vector entering layer $d$ would be the readout instead; mean-field theory
# >   predicts the same for both.)
# >
# > It must give the numbers of separate models. `sweep_by_loop` builds each network with
# > `build_network`, copies the same weights in and runs autograd; the cell prints the largest relative
# > difference over every layer's $\hat q_l$, activation spread and gradient norm:

# %%
grid = dict(activation="tanh", sigma_w2=[0.5, 1.0, 1.76], sigma_b2=0.05, depth=30, width=32, seeds=2, batch=16)
batched, looped = sweep(**grid), sweep_by_loop(**grid)
worst = max(float(np.max(np.abs(getattr(batched, k) / getattr(looped, k) - 1))) for k in ("q", "act_std", "grad_norm"))
print(f"{batched.grad_norm.size} networks x layers; largest relative difference between batched and looped: "
      + ("< 1e-5" if worst < 1e-5 else f"{worst:.1e}"))
assert worst < 1e-5

# %% [markdown]
# > The two agree to within $10^{-5}$: float32 rounding (its machine epsilon $\varepsilon = 2^{-23} \approx 1.2\times10^{-7}$
# > is the gap between 1 and the next float32), accumulated over 30 layers and two different summation
# > orders. In the chaotic phase they agree less closely: chaos amplifies those rounding differences by
# > about $\chi^{1/2}$ per layer, until, deep enough, single networks' gradient norms no longer agree at all
# > while their averages over seeds still do — a small demonstration of what chaotic means.
# >
# > *End of the aside.*
#
# The phase diagram of tanh with $\sigma_b^2 = 0.05$: 25 values of $\sigma_w^2$ from a factor 8 below the theoretical edge
# to a factor 8 above it, 4 seeds each, depth up to 50, width 64 — 100 networks in one sweep.
# Left: measured $\log_{10}$ of the gradient ratio $\|\partial\ell/\partial h_1\| / \|\partial\ell/\partial h_d\|$; the colour bar is in
# decades (blue: vanishing, red: exploding; beyond $\pm6$ decades the colour no longer changes); dashed: where
# mean field says the ratio reaches $10^{\pm1}$; solid: $\chi = 1$. Right: the slice at depth 50.

# %%
diagram = phase_diagram("tanh", 0.05, depth=50, width=64, seeds=4)
fig, axes = new_figure(2)
plot_phase_diagram(diagram, axes)
print(describe_phase_diagram(diagram))
gap = np.abs(diagram.measured - diagram.theory.log10_ratio_by_depth).max()
print(f"largest gap between measured and mean-field log10 ratio over the whole grid: {gap:.1f} decades")
fine = np.geomspace(1.0, 3.0, 201)
healthy = fine[np.abs(np.log10(mean_field(50, "tanh", fine, 0.05).grad_ratio[:, 0])) < 1]
print(f"mean field, depth 50: ratio within 10x of 1 for sigma_w2 from {healthy.min():.2f} to {healthy.max():.2f} "
      f"({healthy.min() / diagram.theory_neutral - 1:+.0%} / {healthy.max() / diagram.theory_neutral - 1:+.0%})")

# %%
# Seeds 0-4: the measured neutral sigma_w2 1.81 to 1.89 (1.89 here), the largest gap 0.3-0.5 decades
assert 1.77 < diagram.measured_neutral < 1.93 and abs(diagram.theory_neutral - 1.79) < 0.01
assert abs(diagram.critical - 1.76) < 0.005
assert gap < 0.5 and np.ptp(diagram.measured) > 20 and diagram.measured[0, -1] < -10 and diagram.measured[-1, -1] > 5
assert 8 < diagram.measured.max() < 9  # the largest ratio in the chapter, 10^8 ("What we saw")
assert round(healthy.min() / diagram.theory_neutral, 1) == 0.8 and round(healthy.max() / diagram.theory_neutral, 1) == 1.3

# %% [markdown]
# At depth 50 the measured ratio is 1 at $\sigma_w^2 \approx 1.89$ here (1.81 to 1.89 over five seeds); mean field says
# 1.79 for this depth (the first layers have not yet reached $q^*$) and 1.76 for an infinitely deep network. Across the whole grid,
# which spans more than twenty decades, the measurement never strays from the theory by more than half
# a decade. The boundary is sharp: the healthy band ($10^{\pm1}$) narrows as the network deepens; at
# depth 50 it runs from about 20% below the neutral $\sigma_w^2$ to 30% above it, and a deeper network
# leaves even less room.
#
# **Predict, then check.** (1) Switch to ReLU: where is the gradient-neutral line, and does $\sigma_b^2$ move it? (2) Sigmoid: the
# grid is centred on its edge near 103; how wide is the healthy band at depth 50? (3) Width 8: what
# happens to the agreement with theory?

# %%
# NBVAL_IGNORE_OUTPUT
phase_diagram_explorer()

# %% [markdown]
# ## 7. Orthogonal weights and dynamical isometry
#
# The **singular values** of a matrix $M$ are its stretch factors: for a vector $v$, $\|Mv\|/\|v\|$ lies
# between the smallest and the largest of them, and each is reached along its own direction. An
# **orthogonal** matrix has all of them equal to 1: it rotates (or reflects) and keeps every length.
# The input–output Jacobian $J = \partial h_L/\partial x = D_L W_L \cdots D_1 W_1$, with $D_l = \operatorname{diag}(\phi'(z_l))$,
# is the matrix through which a gradient travels from the top of the network to its input.
# Mean-field theory fixes only the *mean square* of its singular values: the factor by which $J$
# multiplies the squared length of a random direction, the product of the $\chi(q_l)$. At the edge that
# mean square is 1 (a *mean-square isometry*). It says nothing about their *spread*, and a Jacobian with
# a few huge and many tiny singular values passes some directions of the gradient and kills the others.
# Saxe et al. (2014) called a network whose Jacobian has *all* its singular values near 1
# **dynamical isometry** and showed that orthogonal weight matrices give it exactly in a deep *linear*
# network; Pennington et al. (2017) showed that it is reachable with orthogonal weights and sigmoidal
# activations such as tanh near the edge of chaos, but not with ReLU. Here are the sorted singular
# values at four inputs, for 32 layers of width 128, at each activation's critical scale: the identity
# ($\phi(z) = z$, a linear network) at $\sigma_w^2 = 1$, which keeps every length on average; tanh at 1, its
# edge of chaos; ReLU at 2, its gradient-neutral scale.
# "Spread" below is the standard deviation of $\log_{10} s$ over the singular values float32 resolves
# (those above $10^{-6}$ of the largest); the fraction below that is counted separately, and for
# Gaussian weights it is large, so their true spread is wider still. The last column is the mean square
# and, beside it, mean field's prediction for it, the product of $\chi(q_l)$ over the 32 layers.

# %%
spectra = {(act, init): jacobian_spectrum(act, init, s2, depth=32, width=128)
           for act, s2 in (("identity", 1.0), ("tanh", 1.0), ("relu", 2.0)) for init in ("normal", "orthogonal")}
fig, axes = new_figure(3)
for ax, act in zip(axes, ("identity", "tanh", "relu")):
    plot_jacobian_spectra([spectra[(act, "normal")], spectra[(act, "orthogonal")]], ax)
predicted = {act: float(np.prod(mean_field(32, act, s2).chi)) for act, s2 in (("identity", 1.0), ("tanh", 1.0), ("relu", 2.0))}
for (act, init), s in spectra.items():
    print(f"{act:8s} {init:10s}: largest {s.singular_values.max():.3g}, spread {s.log10_spread:.2f} decades, "
          f"{s.tiny_fraction:.0%} below 1e-6 x largest, mean square {np.mean(s.singular_values**2):.3g} "
          f"(mean field {predicted[act]:.3g})")
relu_draws = {init: np.array([np.mean(jacobian_spectrum("relu", init, 2.0, depth=32, width=128, seed=seed).singular_values**2)
                              for seed in range(8)]) for init in ("normal", "orthogonal")}
for init, ms in relu_draws.items():
    print(f"relu {init:10s}, 8 networks: mean square of the singular values from {ms.min():.2f} to {ms.max():.2f}, "
          f"typical (geometric mean) {np.exp(np.log(ms).mean()):.2f}")

# %%
assert np.allclose(spectra[("identity", "orthogonal")].singular_values, 1.0, atol=1e-4)
gaussian_linear = spectra[("identity", "normal")]
assert gaussian_linear.log10_spread > 1.2 and 0.4 < gaussian_linear.tiny_fraction < 0.5
# Seeds 0-4: the linear Gaussian mean square 0.78-1.07 (0.99 here); tanh's spreads 1.59-1.64 and 0.52-0.55 decades,
# its orthogonal largest 0.31-0.36, its mean squares 0.014-0.025 (within 36% of mean field's 0.0225); ReLU's mean
# squares 0.29-1.1 (Gaussian) and 0.61-1.78 (orthogonal). The eight draws start at seeds 0-4: typical 0.42-0.53
# (Gaussian) and 0.74-0.86 (orthogonal), the Gaussian ones from 0.29 to 1.1-1.2, the orthogonal ones at most 1.78
assert 0.7 < np.mean(gaussian_linear.singular_values**2) < 1.15
assert round(spectra[("tanh", "normal")].log10_spread, 1) == 1.6 and round(spectra[("tanh", "orthogonal")].log10_spread, 1) == 0.5
assert 0.25 < spectra[("tanh", "orthogonal")].singular_values.max() < 0.45
assert spectra[("tanh", "orthogonal")].tiny_fraction == 0
assert min(spectra[("relu", init)].tiny_fraction for init in ("normal", "orthogonal")) > 0.5
assert predicted["identity"] == predicted["relu"] == 1.0 and round(predicted["tanh"], 4) == 0.0225
assert all(abs(np.mean(spectra[("tanh", i)].singular_values**2) / predicted["tanh"] - 1) < 0.45 for i in ("normal", "orthogonal"))
assert all(0.2 < np.mean(spectra[("relu", i)].singular_values**2) < 2.5 for i in ("normal", "orthogonal"))
typical = {init: float(np.exp(np.log(ms).mean())) for init, ms in relu_draws.items()}
assert 0.35 < typical["normal"] < 0.6 and 0.65 < typical["orthogonal"] < 0.95 and typical["normal"] < typical["orthogonal"]
assert 0.2 < relu_draws["normal"].min() < 0.4 and 1.0 < relu_draws["normal"].max() < 1.4 and relu_draws["orthogonal"].max() < 2

# %% [markdown]
# * Linear: orthogonal weights give 128 × 4 singular values equal to 1 to float32 precision. Gaussian
#   weights with about the same mean square (0.99 here, 0.78 to 1.07 over five seeds) spread them over many
#   decades; almost half are below
#   a millionth of the largest, where a float32 Jacobian can no longer resolve them.
# * tanh at $\sigma_w^2 = 1$: orthogonal weights compress the spread from about 1.6 decades to about half a
#   decade and leave no tiny singular values; the overall level has dropped to about 0.3 because the
#   signal's variance is still decaying like $1/l$ on the edge.
# * ReLU: orthogonality does not help the spread. Every $D_l$ switches off about half of the units, so many
#   singular values are exactly zero (the last layer alone removes half the directions) whatever $W$ is.
# * The mean squares: for the linear network they sit near mean field's prediction of 1, and for tanh within
#   25% of its 0.0225 here (within 36% over five seeds; small because tanh's $q_l$ is still decaying on the edge).
#   For ReLU at $\sigma_w^2 = 2$ mean field predicts 1 ($\chi = 1$ in every layer); the two networks here show 0.43
#   (Gaussian) and 1.78 (orthogonal): the Gaussian network shrinks a gradient's norm, top to bottom, to
#   $\sqrt{0.43} \approx 0.66$ — like §2's He network — and the orthogonal one grows it by $\sqrt{1.78} \approx 1.33$.
#   Both are single draws (over five seeds 0.29 to 1.1 and 0.61 to 1.78).
#   Over eight networks, the Gaussian ones range from 0.29 to 1.1 and are typically 0.43 (0.42 to 0.53 for
#   other sets of eight), below mean field's 1; the orthogonal ones are typically 0.86 (0.74 to 0.86), and
#   1.78 was the largest. Single finite networks scatter,
#   mostly below the mean-field value (§9 measures it); orthogonal weights keep every length and so remove
#   the weights' share of the scatter, but not ReLU's random choice of which units are on.
#
# ## 8. Symmetry: why the weights must be random
#
# Suppose every weight of a layer is the same number (zero is the special case). Then every unit of
# the layer computes the same function of its input, so every unit of the next layer sees identical
# inputs. Backwards, $\partial\ell/\partial W_{l,ij} = \delta_{l,i}\, h_{l-1,j}$, and the $\delta_{l,i}$ are equal because the units are
# identical *and* the weights leaving them, a column of $W_{l+1}$, are equal. So every row of the weight
# gradient is the same, an SGD step keeps the rows equal, and by induction they stay equal for ever:
# a layer of 64 units behaves as one unit copied 64 times: its weight matrix has **rank** 1 (the rank of a
# matrix is the number of independent directions it can map to, the number of its nonzero singular values).
# Only the top layer escapes, because the classifier head above it is random; but its inputs are all
# alike, so the columns of its weight matrix stay equal and it has rank 1 too. With zero weights it is worse. Every hidden vector is
# $h_l = \phi(0) = 0$ (tanh and ReLU, zero biases), and the backward signal $\delta_l = \phi'(z_l) \odot W_{l+1}^\top \delta_{l+1}$
# is zero below the top because $W_{l+1} = 0$. So $\partial\ell/\partial W_l = \delta_l h_{l-1}^\top$ vanishes in every layer: in
# layer 1 because $\delta_1 = 0$ (its input $h_0 = x$ is not zero), in the top layer because its input
# $h_{L-1} = 0$ (its $\delta_L$ is not zero), in between for both reasons. No weight ever moves.
#
# First the gradient at initialisation: a 5-layer tanh network with every weight equal
# (`init="constant"`), a random readout on top.

# %%
net = build_network(5, 16, activation="tanh", init="constant", sigma_w2=1.0, in_dim=8)
x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
readout = torch.randn(16, generator=torch.Generator().manual_seed(1))
probe_network(net, x, lambda h: (h @ readout).mean())
grad_spreads = [row_spread(layer.weight.grad) for layer in net.linears]
print("rows of dl/dW_l that differ from the first (relative), layers 1..5: "
      + " ".join(f"{s:.2g}" for s in grad_spreads))
assert all(s == 0 for s in grad_spreads[:-1]) and grad_spreads[-1] > 0.1

# %% [markdown]
# Below the top layer the rows of every weight gradient are identical — exactly, not approximately.
# Now training: chapter 1's problem, 6 tanh layers of width 64, 200 steps, from constant weights, zero
# weights and random ($\mathcal N(0, 1/n)$) weights. After training we count the rank of each weight
# matrix (`torch.linalg.matrix_rank`).

# %%
symmetry = {init: train_network(depth=6, width=64, activation="tanh", init=init, steps=200)
            for init in ("constant", "zeros", "normal")}
print(f"guessing the commonest class scores {commonest:.1%}")
ranks = {}
for init, run in symmetry.items():
    weights = [layer.weight.detach().double() for layer in run.model[0].linears]
    ranks[init] = [int(torch.linalg.matrix_rank(w)) for w in weights]
    print(f"{init:8s}: test accuracy {varies(run.accuracy, '.1%')}, final loss {varies(run.losses[-1], '.3f')}, "
          f"rank of W_1..W_6: {ranks[init]}")

# %%
assert ranks["constant"] == [1] * 6 and ranks["zeros"] == [0] * 6 and ranks["normal"] == [32] + [64] * 5
# Bands over seeds 0-4 and CPU code paths: random weights 81-86%, constant weights 44-54%
assert 0.75 < symmetry["normal"].accuracy < 0.92 and 0.38 < symmetry["constant"].accuracy < 0.6
# The zero-initialised net answers one class for every input: the commonest for four seeds, for seed 2 one that
# scores 0.8 points more on the test set; the guessing loss is 1.371-1.381
assert abs(symmetry["zeros"].accuracy - commonest) < 0.02 and abs(guess_loss - math.log(4)) < 0.02

# %% [markdown]
# The constant-initialised network ends with every weight matrix of rank 1 (the first has rank at
# most 32, its input size, when random): 64 units per layer, one degree of freedom. It still learns
# something (50%; 44–54% over five seeds, against the 29.6% of always guessing the commonest class), as a width-1 network would.
# The zero-initialised one never moves a weight. Below the top layer the backward signal
# $W_{l+1}^\top \delta_{l+1}$ is zero, so the biases there stay put too; only the top layer's bias and the
# classifier head learn, the output never depends on the input, and the network ends up answering one class
# for every input (here the commonest). Random weights reach 81% (81–86% over five seeds).
#
# **What else breaks the symmetry?** *Dropout* does (Dive into Deep Learning makes the point): it zeroes a
# random subset of units in every step, a different subset for each unit, so identical units receive
# different gradients. *Floating-point rounding* does not: identical rows go through identical arithmetic
# and round identically, so the rows above stay *exactly* equal, at any width (odd ones included) and any
# number of threads (try it: re-run the training cell above with `width=17`, or after
# `torch.set_num_threads(1)`). The same constant-initialised network, trained with dropout 0.5 after every
# activation; we compare the second-largest singular value of each weight matrix with the largest (0 for
# rank 1):

# %%
dropped = train_network(depth=6, width=64, activation="tanh", init="constant", steps=200, dropout=0.5)
second = {}
for init, run in (("constant", symmetry["constant"]), ("constant, dropout 0.5", dropped)):
    values = [torch.linalg.svdvals(layer.weight.detach().double()) for layer in run.model[0].linears]
    second[init] = np.array([float(v[1] / v[0]) for v in values])
    smallest, largest = ("< 1e-12" if v < 1e-12 else f"{v:.2g}" for v in (second[init].min(), second[init].max()))
    print(f"{init:22s}: second / largest singular value, W_1..W_6: smallest {smallest}, "
          f"largest {largest}; test accuracy {run.accuracy:.1%}")

# %%
with_dropout = second["constant, dropout 0.5"]
# Seeds 0-4: with dropout the second singular value is 0.0069-0.0086 to 0.044-0.068 of the largest; accuracy 43-54%
assert second["constant"].max() < 1e-12 and 0.005 < with_dropout.min() < 0.012 and 0.03 < with_dropout.max() < 0.1
assert 0.38 < dropped.accuracy < 0.6

# %% [markdown]
# With dropout every weight matrix has left rank 1: its second singular value is now between 0.007 and
# 0.05 of the largest (0.007 to 0.009 and 0.04 to 0.07 over five seeds). But the symmetry breaks *slowly*: after
# 200 steps the units are still nearly copies of each other, and the test accuracy, 50% here (43–54% over five
# seeds), is no better than the constant network's. Random weights break the
# symmetry at once, and their *scale* is what the rest of this chapter is about.
#
# ## 9. Finite width: one network is not the average
#
# Mean field describes the average over random networks, exactly so only as the width goes to
# infinity. How far does *one* network stray? Write $\hat q_d$ for one network's mean square of $z_d$ (one
# input, averaged over the $n$ units) and $q_d$ for mean field's. For bias-free ReLU there is a short answer:
# to first order in $1/n$,
#
# $$\ln \hat q_d - \ln q_d \;\approx\; \mathcal N\!\Big(-\frac{2 + 2.5\,(d-1)}{n},\; \frac{4 + 5\,(d-1)}{n}\Big)$$
#
# (a Gaussian with that mean and variance): the fluctuations grow like $\sqrt{d/n}$, and the typical network
# sits *below* the average. (Hanin and Nica (2020) study this log-normal picture rigorously, with depth
# and width growing together.)
#
# > **Aside — where the law comes from.** Given the layer below, the pre-activations of a layer are
# > independent Gaussians, so each squared norm is a chi-squared variable. The input's $\|x\|^2$ is
# > chi-squared with $n$ degrees of freedom; each ReLU layer keeps $k \sim \mathrm{Binomial}(n, 1/2)$ units, and their
# > squared norm is (a scale times) chi-squared with $k$ degrees of freedom. Write $X_k$ for a chi-squared
# > variable with $k$ degrees of freedom. Since $\operatorname{Var}\ln(X_k/k) \approx 2/k \approx 4/n$ and
# > $\operatorname{Var}\ln(2k/n) \approx 1/n$, each layer adds $5/n$ to the variance of $\ln \hat q$, and, from
# > $\mathbb E\ln(X_k/k) \approx -1/k$ and $\mathbb E \ln(2k/n) \approx -1/(2n)$, $-2.5/n$ to its mean. The input's and the
# > last layer's own $X_n/n$ factors add $2/n$ to the variance and $-1/n$ to the mean each, which gives the
# > law above. *End of the aside.*
#
# One batched sweep draws many networks at once, one input each:

# %%
widths = {n: finite_width("relu", 2.0, 0.0, depth=40, width=n, seeds=128) for n in (16, 32, 64, 128)}
fig, axes = new_figure(2)
plot_finite_width(widths[32], axes)
print(f"{'width':>5s} {'std ln q_hat, d=40':>19s} {'5/n law':>8s} {'mean shift':>11s} {'law':>7s}")
for n, r in widths.items():
    shift, std = r.law
    print(f"{n:5d} {r.spread[-1]:19.3f} {std[-1]:8.3f} {r.log_q_deviation.mean(axis=0)[-1]:11.3f} {shift[-1]:7.3f}")

# %%
# Seeds 0-4: the spread within 6% of the law at widths 64 and 128; the mean shift above the law's by 0.19-0.21 at
# width 64 and 0.21-0.26 at width 128, about two standard errors (spread / sqrt(128): 0.29 and 0.22); at width 32
# the shift -3.22 to -3.32 and the spread 2.52-2.61; at width 16 the spread 4.35-4.41; 32 over 128: 1.96-2.07
for n in (64, 128):
    assert abs(widths[n].spread[-1] / widths[n].law[1][-1] - 1) < 0.1
    assert 0 < widths[n].log_q_deviation.mean(axis=0)[-1] - widths[n].law[0][-1] < 0.35
shift32 = widths[32].log_q_deviation.mean(axis=0)[-1]
assert abs(shift32 + 3.3) < 0.15 and abs(widths[32].spread[-1] - 2.55) < 0.15
assert abs(widths[16].spread[-1] - 4.4) < 0.15 and abs(widths[16].law[1][-1] - 3.5) < 0.05
assert 1.8 < widths[32].spread[-1] / widths[128].spread[-1] < 2.2 and 2.3 < widths[32].spread[-1] < 2.8

# %% [markdown]
# From width 64 up, the $5/n$ law matches the measured spread within 10%. Its mean shift is a little too
# negative: the measured one lies 0.2 to 0.26 above it over five seeds, about two standard errors of 128
# networks (at width 128: $-0.57$ here against the law's $-0.78$). At width 16 it underestimates it (4.4 against 3.5), as a first-order expansion in $1/n$ may
# when $d/n > 2$. Going from width 32 to width 128 halves the spread, as $\sqrt{d/n}$ says. At width 32 and
# depth 40 a single network's $\hat q$ sits at $e^{-3.3 \pm 2.5}$ of mean field ($-3.2$ to $-3.3$, $\pm 2.5$ to $2.6$ over
# five seeds), typically 2 to 300 times below it — the reason
# §2's He network ended at 0.66 rather than 1, and the reason the phase diagram averages over seeds.
#
# **Predict, then check.** Width 128, depth 100: bigger or smaller spread than width 32, depth 10? Then
# switch to tanh at its edge ($\sigma_w^2 = 1$): a tanh layer keeps every unit on, so the aside's Binomial
# share is gone and all $n$ units count. Is the spread larger or smaller than ReLU's?

# %%
# NBVAL_IGNORE_OUTPUT
finite_width_explorer()

# %% [markdown]
# ---
#
# **End of the second sitting.** You have the mean-field theory, the phase diagram it explains, and how
# far one network strays from it. The third sitting adds the fix most networks use on top of a good
# initialisation, and the common claims.
#
# ---
#
# ## 10. Normalisation, the third fix
#
# Two fixes for a deep network's gradient have appeared so far: chapter 2's shortcuts, which give every
# layer an identity path, and this chapter's initialisation, which picks $\sigma_w^2$ so that each layer keeps
# the gradient's mean square ($\chi = 1$, §5). Both are decided once, before training. The third fix, the one most
# networks use, acts *inside* the network on every forward pass: **normalisation** rescales each layer's
# pre-activation so that its scale cannot drift, whatever the weights are.
#
# * **BatchNorm** (Ioffe & Szegedy, 2015) takes each unit separately. Over the $B$ inputs of the mini-batch
#   it subtracts the unit's mean and divides by its standard deviation (after adding a small
#   constant, `eps` $= 10^{-5}$ in PyTorch, to the variance, against division by zero); then it multiplies by a learned scale $\gamma$ (initially 1) and adds
#   a learned shift $\beta$ (initially 0). The mean and variance over the mini-batch are the **batch
#   statistics**: one input's output depends on the other inputs in its batch, and a batch of one input
#   has no spread to divide by.
# * **Training mode and eval mode.** A module in *training mode* (`model.train()`, the default of a new
#   module) uses the batch statistics and keeps running averages of them; in *eval mode* (`model.eval()`)
#   BatchNorm uses the running averages instead, so that a prediction does not depend on the batch. This
#   section measures networks at initialisation in training mode, as in the first training step.
# * **LayerNorm** (Ba, Kiros & Hinton, 2016) does the same for each input separately, over its $n$ units:
#   no batch statistics, and the same in both modes. (Chapter 2's pre-norm and post-norm are about where a
#   LayerNorm sits relative to a shortcut; the networks here have none.)
#
# Each layer is Linear → Norm → activation: $z_l = W_l h_{l-1} + b_l$, $h_l = \phi(\mathrm{Norm}(z_l))$. This is where
# Ioffe and Szegedy put BatchNorm (on the pre-activation, just before the nonlinearity), and the order of
# torchvision's ResNets (convolution → BatchNorm → ReLU). Here is the network in plain PyTorch, 50 ReLU
# layers of width 256 at He's scale $\sigma_w^2 = 2$, and the measurement: keep the gradient of every activation (`retain_grad`) and take
# §1's loss, a fixed random readout of the last layer averaged over a batch of 64 Gaussian inputs.
# `utils.normalization.normalization` does the same with hooks, and reads $q_l$ and the correlation between
# inputs on the way:

# %%
def plain_normalized_net(depth, width, norm, sigma_w2=2.0, seed=0):
    torch.manual_seed(seed)
    linears = [nn.Linear(width, width) for _ in range(depth)]
    layers = []
    for linear in linears:
        nn.init.normal_(linear.weight, 0.0, math.sqrt(sigma_w2 / width))  # N(0, sigma_w2 / n_in); He: sigma_w2 = 2
        nn.init.zeros_(linear.bias)
        normalise = {"none": nn.Identity(), "batchnorm": nn.BatchNorm1d(width), "layernorm": nn.LayerNorm(width)}[norm]
        layers += [linear, normalise, nn.ReLU()]
    return nn.Sequential(*layers)  # a new module is in training mode: BatchNorm uses the batch statistics


worst = 0.0
for norm in ("none", "batchnorm", "layernorm"):
    gen = torch.Generator().manual_seed(1)
    h, readout = torch.randn(64, 256, generator=gen), torch.randn(256, generator=gen) / math.sqrt(256)
    activations = []
    for module in plain_normalized_net(50, 256, norm):
        h = module(h)
        if isinstance(module, nn.ReLU):
            h.retain_grad()
            activations.append(h)
    (h @ readout).mean().backward()
    by_hand = np.array([float(a.grad.double().norm()) for a in activations])
    worst = max(worst, float(np.max(np.abs(by_hand / normalization(50, 256, "relu", norm, batch=64).grad_norm - 1))))
shown = "< 1e-6" if worst < 1e-6 else f"{worst:.2g}"  # the two compute the same float32 operations
print(f"||dl/dh_l|| by hand against normalization(), 3 norms x 50 layers: worst relative discrepancy {shown}")
assert worst < 1e-6

# %% [markdown]
# Now the three networks at a weight scale that §4 showed to fail without a norm: $\sigma_w^2 = 1$ (Xavier),
# a factor of two below He's. Left: $q_l$, the mean square of the pre-activation $z_l$ (before the norm).
# Middle: $c_l$, the correlation between two different inputs' $z_l$, averaged over all pairs in the batch
# (1: the network has mapped them to the same direction). Right: $\|\partial\ell/\partial h_l\|$. The printed
# **growth per layer going down** is the factor by which $\|\partial\ell/\partial h_l\|$ grows from one layer to
# the one below, read off a straight line fitted to $\ln\|\partial\ell/\partial h_l\|$ against $l$ over all but the
# top five layers (where the readout enters and the rate is not yet steady). From here on the
# cells compute in float64 (`dtype=torch.float64`): a BatchNorm network amplifies float32's rounding so
# strongly that the second digit of its gradient ratio would depend on how many CPU threads add up the
# sums. Even in float64 the last digits of a BatchNorm network's numbers depend on the CPU's code path,
# so they are printed with ≈ (as a training run's are, chapter 1 §6) and quoted as bands over five seeds.
# (The explorer computes in float32.)

# %%
at_xavier = {norm: normalization(norm=norm, sigma_w2=1.0, dtype=torch.float64) for norm in ("none", "batchnorm", "layernorm")}
fig, axes = new_figure(3, width=3.8)
plot_normalization(list(at_xavier.values()), axes)
for norm, r in at_xavier.items():
    digits = varies if norm == "batchnorm" else format  # BatchNorm amplifies rounding (see above)
    print(f"{norm:9s}: q_1 = {r.q[0]:.2g}, q_50 = {digits(r.q[-1], '.2g')}, c_50 = {digits(r.correlation[-1], '.2f')}; "
          f"gradient ratio first/last {digits(r.ratio, '.2g')}, {digits(r.growth, '.3f')} per layer going down")

# %%
no_norm, batch_norm, layer_norm = at_xavier.values()
# Bands over seeds 0-4 and CPU code paths; the measured range follows each claim.
assert no_norm.q[-1] < 1e-14 and 2e-8 < no_norm.ratio < 1.5e-7 and 0.97 < no_norm.correlation[-1] < 1  # 3.2e-8 to 8.4e-8
assert 0.69 < no_norm.growth < 0.73  # 0.704-0.720
assert abs(batch_norm.q[-1] - 0.5) < 0.03 and abs(layer_norm.q[-1] - 0.5) < 0.1  # 0.48-0.51; 0.41-0.51
assert 5000 < batch_norm.ratio < 10000 and abs(batch_norm.growth - 1.22) < 0.01  # 6300-8000; 1.216-1.221
assert 0.25 < batch_norm.correlation[-1] < 0.35 and 0.97 < layer_norm.correlation[-1] < 1  # 0.28-0.32; 0.98-0.99
assert 0.9 < layer_norm.ratio < 1.4  # 0.93-1.32

# %% [markdown]
# * **The forward signal: both norms fix it.** Without a norm, each ReLU layer at $\sigma_w^2 = 1$ halves
#   $q_l$, and after 50 layers it is $3\times10^{-15}$. With either norm, $q_l$ stays at $\sigma_w^2\,\mathbb E[\mathrm{relu}(u)^2] = 1/2$
#   ($u$ a standard Gaussian) in every layer: 0.49 and 0.51 at layer 50 (0.41 to 0.51 over five seeds). The weight scale no longer decides
#   the signal's scale.
# * **The gradient: LayerNorm fixes it, BatchNorm does not.** Without a norm the gradient vanishes
#   ($8.4\times10^{-8}$ over 50 layers: 0.720 per layer, near §4's $\sqrt{1/2} \approx 0.707$). With LayerNorm it stays flat (ratio 1,
#   0.93 to 1.32 over five seeds). With BatchNorm it *explodes*: a factor of 1.22 per layer, 6,300 to 8,000 over
#   50 layers, although the forward signal
#   is perfectly steady.
# * **Distinct inputs: BatchNorm keeps them apart.** Deep ReLU layers without a norm map all inputs to
#   nearly the same direction ($c_{50} = 0.99$), and LayerNorm does not change that: it rescales each input
#   on its own. BatchNorm subtracts each unit's mean over the batch, the part all inputs share, and
#   $c_{50}$ stays at 0.28.
#
# The exploding gradient is not an accident of this network. Yang et al. (2019) develop a mean-field theory
# of BatchNorm and show that, in a network without shortcuts, the gradient at initialisation grows
# exponentially with depth, and that no choice of weight variance or nonlinearity removes it (it is
# smaller the closer the network is to linear). A short calculation, in the aside below, predicts the
# rate for a wide network and a large batch: $\sqrt{\pi/(\pi-1)} = 1.211$ per layer for ReLU. The
# measurement, for ReLU and tanh over batch sizes from 4 to 256:

# %%
batches = (4, 8, 16, 64, 256)
growth = {(act, b): normalization(activation=act, norm="batchnorm", batch=b, dtype=torch.float64).growth
          for act in ("relu", "tanh") for b in batches}
print(f"{'BatchNorm':9s} {'theory':>7s}  " + "  ".join(f"B = {b:<4d}" for b in batches) + "   growth of ||dl/dh_l|| per layer")
for act in ("relu", "tanh"):
    print(f"{act:9s} {predicted_growth(act, 'batchnorm'):7.3f}  " + "  ".join(f"{varies(growth[(act, b)], '.2f'):>8s}" for b in batches))
layer_growth = {act: normalization(activation=act, norm="layernorm", dtype=torch.float64).growth for act in ("relu", "tanh")}
print("LayerNorm, B = 64: " + ", ".join(f"{act} {g:.3f} (theory {predicted_growth(act, 'layernorm'):.3f})" for act, g in layer_growth.items()))

# %%
assert abs(predicted_growth("relu", "batchnorm") ** 2 - math.pi / (math.pi - 1)) < 1e-9
assert round(predicted_growth("relu", "batchnorm"), 3) == 1.211 and round(predicted_growth("tanh", "batchnorm"), 3) == 1.085
for act in ("relu", "tanh"):  # from batch 64 on, within 1.5% of the large-batch theory; growing as the batch shrinks
    assert all(abs(growth[(act, b)] / predicted_growth(act, "batchnorm") - 1) < 0.015 for b in (64, 256))
    assert growth[(act, 4)] > growth[(act, 8)] > growth[(act, 16)] > growth[(act, 64)]
# Bands over seeds 0-4 and CPU code paths: ReLU 1.65-1.75 and tanh 1.37-1.47 at batch 4; LayerNorm 0.998-1.007, 1.086-1.089
assert 1.6 < growth[("relu", 4)] < 1.8 and 1.33 < growth[("tanh", 4)] < 1.5
assert abs(layer_growth["relu"] - 1) < 0.01 and abs(layer_growth["tanh"] / predicted_growth("tanh", "layernorm") - 1) < 0.005

# %% [markdown]
# The claim holds, with the numbers. For ReLU the gradient grows by 1.22 per layer at batch 64 and 1.20 at
# batch 256, within 1.5% of the theory's 1.211; for tanh by 1.10 and 1.09 against 1.085. The smaller the
# batch, the faster it grows: 1.65–1.75 per layer for ReLU at batch 4 (over five seeds), 1.37–1.47 for tanh. And LayerNorm is not
# immune either: with ReLU it is neutral (1.003, theory exactly 1), but with tanh it grows by 1.086 per
# layer, the theory's 1.085, BatchNorm's large-batch value: tanh is odd ($\tanh(-z) = -\tanh z$), so its
# mean over the batch is already about 0 and centring changes nothing.
#
# > **Aside — where 1.211 comes from.** In a wide layer, after the norm each unit's input to $\phi$ is close
# > to a standard Gaussian $u$. Going down, the gradient's mean square is multiplied by $\mathbb E[\phi'(u)^2]$ at
# > $\phi$, by $\sigma_w^2$ at $W^\top$ (§1's backward rule), and divided at the norm by the variance the norm
# > divided by. BatchNorm divides unit $i$ of $z_{l+1} = W h_l$ by its variance over the batch,
# > $\sigma_w^2 \operatorname{Var}\phi(u)$; LayerNorm divides by the mean square over units, whose mean is about 0, so
# > by $\sigma_w^2\,\mathbb E[\phi(u)^2]$. $\sigma_w^2$ cancels, and one layer multiplies the mean-square gradient by
# > $$\frac{\mathbb E[\phi'(u)^2]}{\operatorname{Var}\phi(u)}\ \text{(BatchNorm)}, \qquad \frac{\mathbb E[\phi'(u)^2]}{\mathbb E[\phi(u)^2]}\ \text{(LayerNorm)}.$$
# > For ReLU, $\mathbb E[\phi'^2] = \mathbb E[\phi^2] = 1/2$ and $\mathbb E[\phi] = 1/\sqrt{2\pi}$, so $\operatorname{Var}\phi = (\pi-1)/(2\pi)$: BatchNorm
# > gives $\pi/(\pi-1) = 1.467$ in mean square, $1.211$ in norm, and LayerNorm exactly 1. For tanh, which is
# > odd, both give $1.085^2$ (computed by quadrature, as in §5). For BatchNorm the factor exceeds 1 for every
# > nonlinear $\phi$: the Gaussian Poincaré inequality says $\operatorname{Var}\phi(u) \le \mathbb E[\phi'(u)^2]$, with equality
# > only for a linear $\phi$. That is why no weight scale and no activation removes the explosion, and why a
# > nearly linear network explodes least. The calculation ignores two things a small batch brings in: the
# > part of BatchNorm's backward pass that comes from the batch mean and variance depending on every
# > input, and the noise of a variance estimated from $B$ numbers. Yang et al. treat the batch size exactly.
# > *End of the aside.*
#
# **Training.** The same plain ReLU network, 32 layers of width 64 at $\sigma_w^2 = 1$, with a linear
# classifier on top, trained for 300 steps of SGD (learning rate 0.02, batches of 128) on chapter 1's
# 4-class problem; the test accuracy is measured in eval mode. (Training amplifies rounding differences
# step by step, so `train_normalized` runs on one CPU thread, here in float64.)

# %%
trained = {norm: train_normalized(depth=32, width=64, norm=norm, sigma_w2=1.0, lr=0.02, steps=300, batch=128,
                                  dtype=torch.float64) for norm in ("none", "batchnorm", "layernorm")}
fig, ax = new_figure()
plot_norm_training(trained.values(), ax)
for norm, run in trained.items():
    print(f"{norm:9s}: loss {run.losses[0]:.3f} at step 1, {varies(run.losses[-10:].mean(), '.3f')} over the last 10 "
          f"steps; test accuracy {varies(run.accuracy, '.1%')}")
print(f"ln 4 = {math.log(4):.3f} (a fresh 4-class classifier)")
at_start = normalization(depth=32, width=64, norm="batchnorm", batch=128, sigma_w2=1.0, dtype=torch.float64)
print(f"the BatchNorm network at initialisation (Gaussian inputs): gradient ratio first/last {varies(at_start.ratio, '.0f')}")

# %%
final = {norm: run.losses[-10:].mean() for norm, run in trained.items()}
# Bands over seeds 0-4 and CPU code paths; the measured range follows each claim.
assert all(abs(run.losses[0] - math.log(4)) < 0.12 for run in trained.values())  # 1.37-1.49
assert abs(final["none"] - guess_loss) < 0.02 and abs(final["batchnorm"] - guess_loss) < 0.02  # within 0.01 of it
assert 1.0 < final["layernorm"] < 1.25 and final["layernorm"] < guess_loss - 0.15  # 1.05-1.17
assert abs(trained["none"].accuracy - commonest) < 0.01 and trained["batchnorm"].accuracy < 0.37  # 28-34%
assert 0.38 < trained["layernorm"].accuracy < 0.6 and 150 < at_start.ratio < 300  # 41-55%; 195-242

# %% [markdown]
# All three start near $\ln 4 = 1.386$, the loss of a uniform guess over 4 classes. Without a norm the
# network stays at the loss of guessing, as in §4 (29.6% accuracy: always the commonest class). With
# LayerNorm the same badly scaled network learns (over five seeds, loss 1.05–1.17 and 41–55% accuracy). With
# BatchNorm it barely moves (loss within 0.01 of guessing, 28–34%): at initialisation its first layer's
# gradient is about 200 times its last one's (195–242), so one learning rate
# cannot suit both ends of the network.
#
# So normalisation fixes the **forward** signal's scale, and with it the network's sensitivity to the
# weight scale; it does not by itself fix the **gradient**. BatchNorm, the norm of most convolutional
# networks, makes the gradient explode in a deep plain stack. In practice it is never used alone at depth:
# a ResNet puts BatchNorm *inside* each residual branch, and the shortcut of chapter 2 carries the gradient
# around it, so the per-layer factor no longer compounds over the whole depth (Yang et al. find
# BatchNorm networks without shortcuts untrainable at large depth). Transformers use LayerNorm, with
# shortcuts too (chapter 2 §4). The three fixes work together: initialisation sets the starting scale,
# normalisation holds the forward scale during training, and shortcuts keep the backward path short.
#
# **Predict, then check.** (1) BatchNorm, ReLU, batch size 2: how fast does the gradient grow? (2) LayerNorm with
# ReLU at $\sigma_w^2 = 0.1$ and at 10: does anything change? (3) tanh with LayerNorm at $\sigma_w^2 = 0.1$: how fast does
# the gradient grow, and why does $\sigma_w^2$ not matter?

# %%
# NBVAL_IGNORE_OUTPUT
normalization_explorer()

# %% [markdown]
# ## 11. Common claims, checked
#
# Three statements about initialisation turn up in textbooks, courses and forum answers. Here is each one
# as you are likely to meet it, how far it holds, and where this chapter shows it.
#
# > **A common piece of advice says: "Initialising with $\mathcal N(0, 0.01)$ may be fine for small
# > networks but is not guaranteed for deep ones."** True, and quantifiable. With standard deviation 0.01
# > and width $n$, $\sigma_w^2 = 10^{-4} n$. He et al. (2015, §2.2) note that with fixed standard
# > deviations such as 0.01, very deep models (more than 8 convolutional layers) have difficulty
# > converging. For width 256 and ReLU the theory gives the gradient ratio over 30 layers directly, and
# > the cell below measures it next to the theory. (Written as $\mathcal N(0, 0.01)$, the advice does not
# > say whether 0.01 is the standard deviation or the variance; read as a variance, $\sigma_w^2 = 2.56$
# > and the gradient grows instead. Either way a fixed scale is right for one width and depth only.)

# %%
small_w2 = 0.01**2 * 256
small_theory = mean_field(30, "relu", small_w2)
small_measured = gradient_flow(depth=30, width=256, activation="relu", sigma_w2=small_w2)
print(f"sigma_w2 = {small_w2:.4f}: gradient ratio over 30 layers {small_measured.ratio:.2g} measured, "
      f"{small_theory.grad_ratio[0]:.2g} mean field")
as_variance = mean_field(30, "relu", 0.01 * 256).grad_ratio[0]
print(f"read as a variance, sigma_w2 = {0.01 * 256:.2f}: mean-field gradient ratio {as_variance:.2g}")
assert abs(math.log10(small_measured.ratio / small_theory.grad_ratio[0])) < 0.5 and small_measured.ratio < 1e-25
assert round(as_variance) == 36

# %% [markdown]
# > **Xavier initialisation is often described this way: "it makes the variance of each layer's output
# > independent of the number of inputs, and the variance of each gradient independent of the number of
# > outputs."** That holds only when $n_{in} = n_{out}$; otherwise it satisfies neither condition of §1
# > exactly but splits the difference. And "variance kept" assumes a linear layer: §4 shows Xavier keeping
# > only $2\times10^{-5}$ of the signal's spread over 30 ReLU layers (mean field: $4\times10^{-5}$; 2 to $4\times10^{-5}$
# > over five seeds).
#
# > **And it often comes with a reassurance: "Xavier initialisation has proved effective in practice even
# > though the no-nonlinearity assumption is easily violated."** For tanh near the origin, yes (§3, and it
# > sits on tanh's edge of chaos, §5). For ReLU it is off by exactly the factor of two that He et al.
# > derived, and a 30-layer ReLU network initialised with it does not train (§4).
#
# ## What we saw
#
# * One variance calculation gives LeCun ($1/n_{in}$), Xavier ($2/(n_{in}+n_{out})$, uniform bound
#   $\sqrt{6/(n_{in}+n_{out})}$) and He ($2/n_{in}$). Between LeCun and He the difference is the activation's
#   $\mathbb E[\phi^2]$; Xavier also averages the forward condition (fan-in) with the backward one (fan-out).
#   `nn.Linear` stores $(n_{out}, n_{in})$; `kaiming_normal_(mode="fan_out")` is He's backward condition, which
#   torchvision's ResNets use.
# * PyTorch's `nn.Linear` default is $U(\pm 1/\sqrt{n_{in}})$, i.e. $\sigma_w^2 = 1/3$: at depth 30 it loses about eleven
#   decades of gradient with ReLU.
# * A bias can stop the forward signal's decay without stopping the gradient's: with PyTorch's default
#   the ReLU signal settles at the fixed point $q^* = \sigma_b^2/(1 - \sigma_w^2/2) = 1/320$ while every layer still
#   multiplies the gradient's mean square by $\chi = 1/6$. At $\sigma_w^2 = 2$ a bias leaves no fixed point: $q_l$
#   grows by $\sigma_b^2$ a layer.
# * Mean-field theory follows the variance through every layer ($q_l = V(q_{l-1})$) and multiplies the
#   mean-square gradient by $\chi(q_l)$ per layer. For smooth activations $\chi = 1$ separates order from chaos
#   (tanh: 1 without bias, 1.76 at $\sigma_b^2 = 0.05$; sigmoid: about 103). ReLU has no chaotic phase:
#   $\sigma_w^2 = 2$ is its gradient-neutral scale, whatever the bias. PyTorch's `calculate_gain` puts tanh
#   ($g = 5/3$) in the chaotic phase and the sigmoid ($g = 1$) deep in the ordered one. Mean field predicted the gradient
#   ratios of this chapter, from $10^{-28}$ (§11) to $10^{8}$ (§6's phase diagram), to within half a decade, for
#   networks of width 64 and more.
# * A phase diagram of hundreds of networks is one batched computation; it agrees with a loop of separate
#   models to float32 rounding.
# * Orthogonal weights control the spread of the Jacobian's singular values, not just their mean
#   square: exact (dynamical) isometry for linear networks, much better conditioning for tanh, no help
#   for ReLU, where single networks' mean squares (0.43 and 1.78 here) scatter around mean field's 1.
# * Constant or zero weights never produce distinct units (rounding does not help; dropout does, slowly);
#   a finite-width ReLU network sits at $\exp\big(-2.5\,d/n \pm \sqrt{5d/n}\big)$ of the average, and the downward
#   shift dominates the spread once $d/n > 0.8$.
# * Normalisation (Linear → Norm → activation) holds $q_l$ at $\sigma_w^2\,\mathbb E[\phi(u)^2]$ whatever the weight scale, so
#   LayerNorm rescues a 50-layer ReLU network at $\sigma_w^2 = 1$ (gradient ratio 1, against $8\times10^{-8}$
#   without). BatchNorm keeps distinct inputs apart but makes the gradient explode at initialisation, as
#   Yang et al. (2019) prove: 1.22 per ReLU layer at batch 64 against the large-batch theory's
#   $\sqrt{\pi/(\pi-1)} = 1.211$, faster for small batches (1.65–1.75 at batch 4); a 32-layer BatchNorm network
#   without shortcuts barely moved from guessing. Deep networks combine normalisation with shortcuts.
#
# ## Exercises
#
# 1. *(predict, then check)* Before running it: a 30-layer network with `activation="leaky_relu"` (slope
#    0.01) and He initialisation — is the gradient ratio above or below 1? By how much? Compute
#    $\chi$ by hand (PyTorch's `leaky_relu` has slope 1 for $z > 0$ and 0.01 for $z < 0$), then with
#    `gradient_factor(q, "leaky_relu", 2.0)` for two values of $q$ (why do they agree? and why does `chi`,
#    which looks for a fixed point $q^*$, find none here?), then in the initialisation explorer; check the
#    mean-field ratio below.
# 2. *(derivation)* Show that $U(-a, a)$ has variance $a^2/3$, and derive the bound of `kaiming_uniform_` with
#    gain $g$: $a = g\sqrt{3/n_{in}}$. Check that $a = \sqrt 5$ in the leaky-ReLU gain gives PyTorch's default.
# 3. *(derivation)* For ReLU with $\sigma_w^2 < 2$ and $\sigma_b^2 > 0$, solve $q = \sigma_w^2 q/2 + \sigma_b^2$ and show that
#    $q_l \to q^*$ geometrically with rate $\sigma_w^2/2$. What happens at $\sigma_w^2 = 2$? What is $q^*$ for
#    $\sigma_w^2 = 1.5$, $\sigma_b^2 = 0.1$?
# 4. *(small implementation)* Write `he_uniform_(layer)` that draws from $U(-a, a)$ with the bound that
#    gives variance $2/n_{in}$, apply it to `nn.Linear(256, 1024)` and check the variance against
#    `weight_variance("he", 256, 1024)`. Which of `layer.weight.shape` is $n_{in}$? What variance do you get
#    if you swap the fans, and what does that do to a deep stack of such layers?
# 5. *(predict, then check)* In the phase-diagram explorer, choose GELU with $\sigma_b^2 = 0$: the edge is near
#    2.16, not where $\chi = 1$ at small $q$ ($\sigma_w^2 = 4$, since GELU's slope at 0 is 1/2). Run
#    `fixed_point("gelu", s2, 0.0)` for $\sigma_w^2 = 2.1$ and $2.2$ — one returns 0, the other raises. Plot
#    `variance_map(q, "gelu", 2.1)` against $q$ to find a second, unstable fixed point, and explain why
#    GELU's edge depends on the scale of the input.
# 6. *(small implementation)* Re-run §8 with `init="constant"` for ReLU instead of tanh. Does the rank
#    argument still hold? What is special about ReLU's slope at exactly zero for `init="zeros"`? (PyTorch
#    takes ReLU$'(0) = 0$.)
# 7. *(predict, then check)* §10's aside gives the growth of $\|\partial\ell/\partial h_l\|$ per BatchNorm layer as
#    $\sqrt{\mathbb E[\phi'(u)^2] / \operatorname{Var}\phi(u)}$. Compute it by hand for the identity ($\phi(u) = u$) and explain why a
#    BatchNorm network that is nearly linear explodes least. Then predict, for a 30-layer BatchNorm ReLU
#    network at batch 256, the gradient ratio $\|\partial\ell/\partial h_1\| / \|\partial\ell/\partial h_{25}\|$ (below the
#    top five layers, which §10's fit leaves out), and check it with the `grad_norm` of
#    `normalization(depth=30, norm="batchnorm", batch=256, dtype=torch.float64)`. Is the full ratio first/last (`.ratio`) larger
#    or smaller than your rate predicts, and which layer makes the difference?
# 8. *(predict, then check)* BatchNorm's output for one input depends on the other inputs of its batch.
#    Build `plain_normalized_net(5, 256, "batchnorm")` from §10, feed it a batch of 64 inputs and the
#    first 8 of them alone, and compare the first 8 outputs. Then call `.eval()` on the network and
#    repeat: what changes, and why?
#
# **Check your answers.** Open the hidden cell below, replace `None` by your numbers and run it: it
# computes the book's answers and says right or wrong, with a hint.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
check_answer("ch3_leaky_relu_ratio", None)  # exercise 1: mean-field gradient ratio over 30 leaky-ReLU layers
check_answer("ch3_relu_fixed_point", None)  # exercise 3: q* for sigma_w2 = 1.5, sigma_b2 = 0.1
check_answer("ch3_he_uniform_bound", None)  # exercise 4: your bound a for nn.Linear(256, 1024)

# %% [markdown]
# ## References
#
# * Y. LeCun, L. Bottou, G. B. Orr, K.-R. Müller (1998), Efficient BackProp, in *Neural Networks: Tricks of the Trade*.
# * X. Glorot, Y. Bengio (2010), Understanding the difficulty of training deep feedforward neural networks, *AISTATS*.
# * K. He, X. Zhang, S. Ren, J. Sun (2015), Delving deep into rectifiers, *ICCV*.
# * A. M. Saxe, J. L. McClelland, S. Ganguli (2014), Exact solutions to the nonlinear dynamics of learning in
#   deep linear neural networks, *ICLR*.
# * B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein, S. Ganguli (2016), Exponential expressivity in deep neural
#   networks through transient chaos, *NeurIPS*.
# * S. S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein (2017), Deep information propagation, *ICLR*.
# * J. Pennington, S. S. Schoenholz, S. Ganguli (2017), Resurrecting the sigmoid in deep learning through
#   dynamical isometry: theory and practice, *NeurIPS*.
# * B. Hanin, M. Nica (2020), Products of many large random matrices and gradients in deep neural networks,
#   *Communications in Mathematical Physics* 376.
# * S. Hayou, A. Doucet, J. Rousseau (2019), On the impact of the activation function on deep neural
#   networks training, *ICML*.
# * PyTorch, `torch/nn/modules/linear.py` (`Linear.reset_parameters`) and issue 57109; `torch/nn/init.py`
#   (`calculate_gain`, `kaiming_normal_`) and issue 24991.
# * torchvision, `torchvision/models/resnet.py` (`kaiming_normal_(mode="fan_out", nonlinearity="relu")`).
# * A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, §5.4 "Numerical stability and
#   initialization" (and §5.6 "Dropout").
# * S. Ioffe, C. Szegedy (2015), Batch normalization: accelerating deep network training by reducing internal
#   covariate shift, *ICML*.
# * J. L. Ba, J. R. Kiros, G. E. Hinton (2016), Layer normalization, arXiv:1607.06450.
# * G. Yang, J. Pennington, V. Rao, J. Sohl-Dickstein, S. S. Schoenholz (2019), A mean field theory of batch
#   normalization, *ICLR*.
# * K. He, X. Zhang, S. Ren, J. Sun (2016), Deep residual learning for image recognition, *CVPR*.

# %% [markdown]
# ## Answer key (for teachers)
#
# The cell below computes every exercise's answer with the chapter's own functions and checks it. It is
# collapsed; open it after trying the exercises.

# %% tags=["hide-cell"] jupyter={"outputs_hidden": true, "source_hidden": true}
# Ex. 1: leaky ReLU (slope 0.01) at He's sigma_w2 = 2: chi = 2 (1 + 0.01^2) / 2 at every q (the slope does not depend
# on the scale of z); q itself grows by that factor a layer, so there is no fixed point for `chi` to find
leaky_chi = [float(gradient_factor(q, "leaky_relu", 2.0)) for q in (0.1, 10.0)]
leaky_ratio = float(mean_field(30, "leaky_relu", 2.0).grad_ratio[0])
print(f"Ex. 1: chi = {leaky_chi[0]:.6f} at q = 0.1 and at q = 10 (= 1 + 0.01^2); ratio over 30 layers "
      f"chi^(29/2) = {leaky_ratio:.5f}: above 1, by 0.15%")
assert max(abs(c - (1 + 0.01**2)) for c in leaky_chi) < 1e-9 and abs(leaky_ratio - (1 + 0.01**2) ** 14.5) < 1e-9
# Ex. 2: Var U(-a, a) = a^2/3; kaiming_uniform_ wants Var = g^2/n_in, so a = g sqrt(3/n_in); g(a = sqrt 5) = sqrt(1/3)
gain = nn.init.calculate_gain("leaky_relu", math.sqrt(5))
print(f"Ex. 2: gain for slope sqrt(5): {gain:.4f} = sqrt(1/3), so the bound is {gain * math.sqrt(3):.4f} / sqrt(n_in)")
assert abs(gain * math.sqrt(3) - 1) < 1e-12
# Ex. 3: q* = sigma_b2 / (1 - sigma_w2/2); q_l - q* = (sigma_w2/2)(q_{l-1} - q*); at sigma_w2 = 2, q_l = q_{l-1} + sigma_b2
q_star, q_path = fixed_point("relu", 1.5, 0.1), mean_field(6, "relu", 1.5, 0.1).q
rates = (q_path[1:] - q_star) / (q_path[:-1] - q_star)
steps = np.diff(mean_field(5, "relu", 2.0, 0.1).q)
print(f"Ex. 3: q* = 0.1 / (1 - 0.75) = {q_star:.3f}; q_l - q* shrinks by {rates.mean():.2f} a layer; "
      f"at sigma_w2 = 2 there is no fixed point: q grows by {steps.mean():.2f} (= sigma_b2) a layer")
assert abs(q_star - 0.4) < 1e-9 and np.allclose(rates, 0.75) and np.allclose(steps, 0.1)
# Ex. 4: U(-a, a) with a^2/3 = 2/n_in; swapping the fans gives 2/1024, a quarter: sigma_w2 = 0.5, chi = 1/4 per ReLU layer
layer = nn.Linear(256, 1024)
he_bound = math.sqrt(3 * weight_variance("he", 256, 1024))
torch.manual_seed(0)
with torch.no_grad():
    layer.weight.uniform_(-he_bound, he_bound)
he_var, swapped = float(layer.weight.detach().var()), weight_variance("he", 1024, 256)
print(f"Ex. 4: n_in = weight.shape[1] = {layer.weight.shape[1]}; a = sqrt(6/256) = {he_bound:.4f}; Var(W) = {he_var:.3e} "
      f"(he: {weight_variance('he', 256, 1024):.3e}). Swapped fans: {swapped:.3e}, i.e. sigma_w2 = {swapped * 256:.2f}: "
      f"each ReLU layer multiplies q and the gradient's mean square by {chi('relu', swapped * 256):.2f}")
assert abs(he_bound - 0.1531) < 1e-4 and abs(he_var / weight_variance("he", 256, 1024) - 1) < 0.02
assert abs(swapped * 256 - 0.5) < 1e-12 and abs(chi("relu", 0.5) - 0.25) < 1e-12
# Ex. 5: GELU's slope is 1/2 at 0 and 1 for large z: V(q) ~ sigma_w2 q/4 near 0 but ~ sigma_w2 q/2 for large q, so for
# 2 < sigma_w2 < 4 an unstable fixed point separates inputs whose signal dies out from inputs whose signal grows
gelu_edge = critical_sigma_w2("gelu", 0.0)
q_grid = np.geomspace(1e-3, 1e3, 2001)
crossings = q_grid[np.flatnonzero(np.diff(np.sign(variance_map(q_grid, "gelu", 2.1) - q_grid)))]
try:
    fixed_point("gelu", 2.2, 0.0)
    gelu_grows = False
except ValueError:
    gelu_grows = True
print(f"Ex. 5: edge at sigma_w2 = {gelu_edge:.3f}; fixed_point('gelu', 2.1) = {fixed_point('gelu', 2.1, 0.0):.3g}, "
      f"at 2.2 it raises (q grows); at 2.1 the unstable fixed point is at q = {crossings[0]:.2g}: "
      f"q_1 = 2.1 starts below it and dies out, a larger input would grow")
assert fixed_point("gelu", 2.1, 0.0) == 0 and gelu_grows and crossings.size == 1 and 2.1 < gelu_edge < 2.2
# Ex. 6: constant ReLU weights: identical rows below the top, as for tanh, so rank 1 stays; zero weights: z = 0
# everywhere and ReLU'(0) = 0, so not even the top block's bias gets a gradient (with tanh, tanh'(0) = 1 let it learn)
x_key = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
head = torch.randn(16, generator=torch.Generator().manual_seed(1))
relu_grads = {}
for init in ("constant", "zeros"):
    relu_net = build_network(5, 16, activation="relu", init=init, sigma_w2=2.0, in_dim=8)
    probe_network(relu_net, x_key, lambda h: (h @ head).mean())
    relu_grads[init] = relu_net
spreads = [row_spread(block.weight.grad) for block in relu_grads["constant"].linears]
largest = max(float(p.grad.abs().max()) for block in relu_grads["zeros"].linears for p in (block.weight, block.bias))
print("Ex. 6: ReLU, constant: rows of dl/dW_l that differ, layers 1..5: " + " ".join(f"{v:.2g}" for v in spreads)
      + f"; zeros: largest gradient of any weight or bias {largest:.0f} (ReLU'(0) = 0 blocks even the top layer)")
assert all(v == 0 for v in spreads[:-1]) and spreads[-1] > 0 and largest == 0
# Ex. 7: identity: E[phi'^2] = 1 = Var(u), so the factor is 1; the nearer linear, the nearer 1. Over 30 layers: 1.211^29
bn_30 = normalization(depth=30, norm="batchnorm", batch=256, dtype=torch.float64)
bn_prediction = predicted_growth("relu", "batchnorm") ** 24
bn_low = bn_30.grad_norm[0] / bn_30.grad_norm[24]
bn_top = bn_30.grad_norm[-2] / bn_30.grad_norm[-1]
print(f"Ex. 7: identity: sqrt(1/1) = 1, no growth. ReLU, 30 layers, batch 256, layers 1 to 25: predicted "
      f"1.211^24 = {bn_prediction:.0f}, measured {varies(bn_low, '.0f')}. The full ratio first/last, {varies(bn_30.ratio, '.0f')}, is smaller than "
      f"1.211^29 = {predicted_growth('relu', 'batchnorm') ** 29:.0f}: from layer 30 to 29 the gradient is multiplied by "
      f"{varies(bn_top, '.2f')}, not 1.21 (layer 30's gradient is the readout vector, the same for every input, and BatchNorm's backward pass subtracts the part a gradient shares across the batch)")
# Bands over seeds 0-4 and CPU code paths: layers 1 to 25 give 91-95, the full ratio 108-113, the top step 0.56-0.58
assert abs(bn_low / bn_prediction - 1) < 0.25 and bn_top < 1 and bn_30.ratio < predicted_growth("relu", "batchnorm") ** 29
# Ex. 8: in training mode BatchNorm normalises with the batch's own statistics, so the first 8 inputs' outputs depend
# on whether the other 56 are there; in eval mode it uses the running averages, the same for both batches
from utils.formatting import above
bn_net = plain_normalized_net(5, 256, "batchnorm")
batch_64 = torch.randn(64, 256, generator=torch.Generator().manual_seed(2))
with torch.no_grad():
    train_gap = float((bn_net(batch_64)[:8] - bn_net(batch_64[:8])).abs().max())
    bn_net.eval()
    eval_gap = float((bn_net(batch_64)[:8] - bn_net(batch_64[:8])).abs().max())
print(f"Ex. 8: largest difference in the first 8 outputs, training mode {train_gap:.2g}; eval mode {above(eval_gap, 1e-6)}")
assert train_gap > 0.01 and eval_gap < 1e-6
