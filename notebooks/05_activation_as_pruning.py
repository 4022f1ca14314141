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
# # Chapter 5 — Activation as pruning
#
# *Pruning* removes parts of a trained network: weights, or whole units, that it can do without. A ReLU
# does something that looks similar: for every input it sets part of each hidden layer to zero. This
# chapter takes that resemblance seriously and finds where it holds and where it breaks, on a real
# trained network: the handwritten digits that ship with scikit-learn.
#
# **Learning goals.** After this chapter you can
#
# 1. write a ReLU layer as $h = D(x)\,(W x + b)$ with a 0/1 diagonal $D(x)$ that changes with the input, and
#    say how that differs from weight pruning's one fixed mask;
# 2. tell *per-input* zeros from *dead units*, and measure both;
# 3. state and check GELU's definition $x\,\Phi(x)$, its stochastic-gate reading, its approximations and its dip;
# 4. measure how the learning rate and the optimizer kill ReLU units, and what leaky ReLU and GELU change;
# 5. use every method of `torch.nn.utils.prune` and explain its machinery: `weight_orig`, `weight_mask`,
#    the forward pre-hook, `remove`, and why pruning alone saves no memory;
# 6. read an accuracy-against-sparsity plot for weight pruning and for per-input activation pruning, and say
#    what fine-tuning brings back;
# 7. check claims about the speed of sparse networks and of GELU by measuring them.
#
# Every number quoted in the text is computed in a cell below and checked by an `assert`. Terms from earlier
# chapters are defined again, in a line, where this chapter uses them; the [glossary](../docs/glossary.md) has them all.

# %%
# On Colab only: install the book's library `utils` (Colab keeps its own PyTorch). Elsewhere: nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "git+https://github.com/OWNER/REPO"], check=True)

# %%
# %matplotlib inline
import copy
import inspect

import numpy as np
import torch
import torch.nn.functional as F
import torch.nn.utils.prune as prune
from torch import nn

import trainable_depth  # first: checks that `utils` below is the book's library, not another file of that name
from utils import get_activation, new_figure, precomputed_explorer, probe_network
from utils.activation_masks import activation_masks, active_set_overlap, gelu_facts
from utils.dead_units import SWEEP_LRS, dead_unit_sweep, dead_units_explorer, plot_dead_sweep
from utils.diagnostics import plot_activation_shapes
from utils.digits import accuracy, digits_mlp, digits_split, train_digits
from utils.formatting import varies
from utils.pruning import (AMOUNTS, PRUNING_METHODS, MagnitudeThreshold, plot_sparsity_curves, prune_copy,
                           pruning_explorer, sparsity_curve, state_dict_bytes)
from utils.speed_checks import activation_timings, matmul_timings

# %% [markdown]
# ## 1. Real data and a small network
#
# `sklearn.datasets.load_digits` reads 1,797 grey-scale images of handwritten digits, 8×8 pixels with values
# 0 to 16, from a file installed with scikit-learn (nothing is downloaded). We scale the pixels to [0, 1],
# flatten each image to 64 numbers and hold out a quarter of the images, chosen by a fixed random permutation,
# as the test set.
#
# The network is the plainest one there is: two hidden ReLU layers of 128 units and a linear layer that
# gives one score per class. `digits_mlp` builds it from chapter 4's blocks: `model[0]` is the *body* (its
# `blocks[i].linear` is hidden layer $i+1$, and `linears` lists both) and `model[1]` is the *head*. Below, the
# same network in plain PyTorch, given the same weights, gives the same outputs to the last bit:

# %%
x_train, y_train, x_test, y_test = digits_split()
print(f"{len(x_train)} training and {len(x_test)} test images of {x_train.shape[1]} pixels, "
      f"{len(torch.unique(y_train))} classes")
plain_net = nn.Sequential(
    nn.Linear(64, 128), nn.ReLU(),     # hidden layer 1
    nn.Linear(128, 128), nn.ReLU(),    # hidden layer 2
    nn.Linear(128, 10),                # one score per class
).double()                             # float64, like every network in this chapter
book_net = digits_mlp().double()
with torch.no_grad():
    for mine, theirs in zip(plain_net[::2], [*book_net[0].linears, book_net[1]]):
        mine.weight.copy_(theirs.weight)
        mine.bias.copy_(theirs.bias)
print(f"{sum(p.numel() for p in plain_net.parameters())} parameters in both")
assert torch.equal(plain_net(x_test.double()), book_net(x_test.double()))
assert (len(x_train), len(x_test)) == (1348, 449)

# %% [markdown]
# `train_digits` builds this network with PyTorch's default initialisation and trains it with the loop you
# know, in float64 so that every printed digit is the same on any machine:
#
# ```python
# optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
# for step in range(600):
#     idx = torch.randint(len(x_train), (64,))      # a minibatch of 64 training images
#     loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
#     optimizer.zero_grad()
#     loss.backward()
#     optimizer.step()
# ```

# %%
reference = train_digits()
model = reference.model
settings = reference.settings
passes = settings["steps"] * settings["batch"] / len(x_train)
mistakes = round((1 - reference.accuracy) * len(x_test))
print(f"Adam, learning rate {settings['lr']}, {settings['steps']} steps of {settings['batch']} images "
      f"({passes:.1f} passes over the training set)")
print(f"test accuracy: {reference.accuracy:.1%} ({mistakes} mistakes in {len(x_test)})")
assert (settings["optimizer"], settings["lr"], settings["steps"], settings["batch"]) == ("adam", 0.003, 600, 64)
# Seeds 0-4 (of the split, the initialisation and the minibatches together) reach 94.7% to 97.8% (24 to 10
# mistakes). The run is in float64 on one thread and settles rather than amplifying rounding: every CPU code
# path tried prints the same digits, so they are not marked with ≈.
assert round(passes, 1) == 28.5 and 0.93 < reference.accuracy < 0.99

# %% [markdown]
# 97.6% of the 449 test digits are classified correctly: 11 mistakes (other seeds give 94.7% to 97.8%). This
# trained network is what the rest of the chapter takes apart.
#
# ## 2. ReLU is a mask that depends on the input
#
# Write one hidden layer as $z = W h + b$ (its *pre-activation*, what it feeds to the ReLU) and
# $h' = \mathrm{ReLU}(z)$, where $h$ is the layer's input (the image $x$ itself for the first layer) and $z$,
# through $h$, depends on the image $x$. Since
# $\mathrm{ReLU}(z_i)$ is either $z_i$ or 0,
#
# $$h' = D(x)\,(W h + b), \qquad D(x) = \operatorname{diag}\big(\mathbb 1[z_1 > 0], \dots, \mathbb 1[z_n > 0]\big).$$
#
# For one input the network is therefore a *linear* network with some units removed: a sub-network. A
# different input removes different units. Check it on one test image:

# %%
body, head = model
one = x_test[:1].double()
z1 = body.blocks[0].linear(one)
d1 = (z1 > 0).double()                    # the diagonal of D(x), as a vector
print(f"units of layer 1 switched on by this image: {int(d1.sum())} of {d1.shape[1]}")
assert torch.equal(F.relu(z1), d1 * z1)   # ReLU(z) = D(x) z exactly

# %% [markdown]
# How much does ReLU remove? The fraction of zeros in each hidden layer over the test set, before and after
# training. `activation_masks` runs the test set through a network and reads $D(x)$, one 0/1 row per image,
# with forward hooks (chapter 4, §7); `untrained` is a fresh copy of the network before its 600 steps.

# %%
untrained = digits_mlp().double()
zeros = {name: [1 - float(m.double().mean()) for m in activation_masks(net, x_test)]
         for name, net in (("at initialisation", untrained), ("after training", model))}
for name, per_layer in zeros.items():
    print(f"{name:18s} zeros: layer 1 {per_layer[0]:.1%}, layer 2 {per_layer[1]:.1%}")
# Seeds 0-4: 47-53% and 44-52% zeros at initialisation; 22-30% and 30-39% after training, in every layer
# 8 to 29 points fewer than at initialisation.
assert all(0.4 < z < 0.6 for z in zeros["at initialisation"])
assert all(0.18 < z < 0.43 for z in zeros["after training"])
assert all(after < before - 0.04 for before, after in zip(zeros["at initialisation"], zeros["after training"]))

# %% [markdown]
# At initialisation about half of the units are off for a typical input, as for any layer whose
# pre-activations are roughly symmetric around zero. Training *lowers* the fraction, to 30% in both layers
# here (22% to 39% over five seeds): nothing in the loss asks for sparsity, and this small network uses most
# of its units for most digits.
#
# ### Zeros per input, or units dead for every input?
#
# "30% zeros" can mean two very different things: every unit off for 30% of the inputs, or 30% of the
# units off for *all* inputs. Units of the second kind are **dead** (chapter 1 met them): they pass nothing
# and, for ReLU, receive no gradient, so training cannot bring them back. Chapter 1's probe tells the two
# apart: `frac_inactive` counts off (input, unit) pairs, `unit_active` gives, per unit, the fraction of inputs
# on which it is on, and `frac_dead` the fraction of units on for no input at all. The probe also records
# gradients, so it needs a loss: here the head's cross-entropy. Run it on the whole training set:

# %%
def probe_on_training_set(net):
    body, head = net
    return probe_network(body, x_train.double(), lambda h: F.cross_entropy(head(h), y_train))


probes = {"at initialisation": probe_on_training_set(untrained), "after training": probe_on_training_set(model)}
fig, axes = new_figure(2)
for ax, (name, probe) in zip(axes, probes.items()):
    for layer, active in enumerate(probe.unit_active, start=1):
        ax.hist(100 * active, bins=20, range=(0, 100), histtype="step", lw=1.5, label=f"layer {layer}")
    ax.set(xlabel="% of training images on which the unit is on", ylabel="units", title=name)
    ax.legend(loc="upper center")
for name, probe in probes.items():
    dead = [round(d * 128) for d in probe.frac_dead]
    print(f"{name:18s} zeros (pairs): {', '.join(f'{v:.1%}' for v in probe.frac_inactive)}; "
          f"dead units: {dead[0]} and {dead[1]} of 128 ({', '.join(f'{v:.1%}' for v in probe.frac_dead)})")
live = [a[a > 0] for a in probes["after training"].unit_active]
print("after training, median activity of a live unit: " + ", ".join(f"{np.median(a):.0%}" for a in live))
dead_counts = {name: [round(d * 128) for d in probe.frac_dead] for name, probe in probes.items()}
# Seeds 0-4: 2-8 and 4-11 dead units at initialisation, 12-18 and 10-31 after training (more in every layer);
# the median live unit is on for 80-91% of the training images.
assert all(1 <= d <= 14 for d in dead_counts["at initialisation"])
assert all(8 <= d <= 40 for d in dead_counts["after training"])
assert all(after > before for before, after in zip(*dead_counts.values()))
assert all(0.75 < np.median(a) < 0.95 for a in live)

# %% [markdown]
# Before training, 2 units of layer 1 and 4 of layer 2 are already dead here (2 to 8 and 4 to 11 over five
# seeds). After training the *pairs* are about 30% zeros, but 15 of layer 1's 128 units (11.7%) and 10 of
# layer 2's (7.8%) are dead (12 to 18 and 10 to 31 over five seeds). The rest of the zeros are spread over the
# live units; the median live unit is on for about 80% of the images here (80% to 91% over five seeds).
#
# Dead units are the exact case where a ReLU *is* pruning: they can be cut out of the network. "Dead" was
# measured on the training images; check that the test images do not wake them either:

# %%
test_masks = activation_masks(model, x_test)
for layer, (active, mask) in enumerate(zip(probes["after training"].unit_active, test_masks), start=1):
    dead_units = torch.from_numpy(active == 0)
    print(f"layer {layer}: {int(dead_units.sum())} dead units, switched on by "
          f"{int(mask[:, dead_units].any(dim=1).sum())} of {len(x_test)} test images")
    assert int(mask[:, dead_units].any(dim=1).sum()) <= 2   # seeds 0-4: 0 or 1 of 449 test images

# %% [markdown]
# None here: on these images the dead units output 0 every time, so removing them changes no output. Over
# five seeds, at most one test image (of 449) switches on a unit that was off for every training image:
# "dead" is a statement about the images measured, and a new input can, rarely, wake such a unit. §4 shows
# how fast they multiply at large learning rates.
#
# **Why some units are dead before any training.** The histograms show more. At initialisation the 50% is
# not "every unit on for half of the images": it is U-shaped, with about a third of the units on for almost
# every image or for almost none. The images are far from random: every pixel is non-negative, some are
# blank in every image, and digits resemble each other. So a unit's pre-activation varies around its value
# on the *average* digit; where that value is far from zero, the unit is on (or off) for nearly every image.

# %%
blank_pixels = int((x_train.max(0).values == 0).sum())
extremes = {name: [float(np.mean((a < 0.05) | (a > 0.95))) for a in probe.unit_active] for name, probe in probes.items()}
on_mean_image = untrained[0].blocks[0].linear(x_train.double().mean(0)).detach().numpy()
corr = np.corrcoef(on_mean_image, probes["at initialisation"].unit_active[0])[0, 1]
print(f"pixels that are 0 in every training image: {blank_pixels} of 64")
print("units on for under 5% or over 95% of the images: "
      + "; ".join(f"{name} {', '.join(f'{v:.0%}' for v in e)}" for name, e in extremes.items()))
print(f"at initialisation, layer 1: correlation between a unit's pre-activation on the average image and the "
      f"fraction of images that switch it on: {corr:.2f}")
# Seeds 0-4 (the split's seed decides which images are training images): 3-5 blank pixels; correlation
# 0.94-0.95; 28-39% and 36-44% of the units on for under 5% or over 95% of the images at initialisation.
assert 2 <= blank_pixels <= 6 and corr > 0.9
assert all(0.2 < v < 0.5 for v in extremes["at initialisation"])

# %% [markdown]
# 4 pixels are blank in every training image (3 to 5, depending on which images the split's seed puts in the
# training set). Before training, 28% of layer 1's units and 39% of layer 2's here (28-39% and 36-44% over
# five seeds: about a third) are on for under 5% or over 95% of the images, and a unit's pre-activation on
# the average image predicts how often it is on (correlation 0.95 in layer 1; 0.94 to 0.95 over five seeds). Training moves the live units to the
# middle-upper range and leaves a group of dead ones at 0.
#
# ### Which units are on: same digit, different digit
#
# If the masks $D(x)$ carry information, two images of the same digit should switch on more similar sets of
# units than two images of different digits. The *Jaccard index* of two active sets $A$ and $B$ is
# $|A \cap B| / |A \cup B|$: 1 for the same set, 0 for disjoint sets. `active_set_overlap` computes it for every
# pair of test images and averages it over the pairs with the same label and over the pairs with different
# labels, layer by layer.

# %%
overlaps = {name: active_set_overlap(activation_masks(net, x_test), y_test)
            for name, net in (("at initialisation", untrained), ("after training", model))}
for name, ov in overlaps.items():
    print(f"{name:18s} Jaccard, same digit: {ov.same_class[0]:.2f} (layer 1), {ov.same_class[1]:.2f} (layer 2); "
          f"different digits: {ov.different_class[0]:.2f}, {ov.different_class[1]:.2f}")
trained_overlap = overlaps["after training"]
gap = trained_overlap.same_class - trained_overlap.different_class
init_gap = overlaps["at initialisation"].same_class - overlaps["at initialisation"].different_class
# Seeds 0-4 after training: same digit 0.80-0.85 in both layers; different digits 0.69-0.78 (layer 1) and
# 0.64-0.71 (layer 2); gap 0.07-0.11 (layer 1) and 0.12-0.17 (layer 2). At initialisation the gap is
# 0.09-0.11 (layer 1, as large as after training for three of five seeds) and 0.07-0.09 (layer 2).
assert all(0.76 < v < 0.89 for v in trained_overlap.same_class)
assert 0.65 < trained_overlap.different_class[0] < 0.82 and 0.6 < trained_overlap.different_class[1] < 0.75
assert gap[1] > gap[0] + 0.03 and np.all(init_gap > 0.04) and init_gap[1] < gap[1] - 0.02

# %% [markdown]
# After training, two images of the same digit share about 80% of their active units (80-85% over five
# seeds); images of different digits share 69% (layer 1) and 64% (layer 2) here (69-78% and 64-71% over five
# seeds). The gap widens from the first hidden layer to the second: deeper masks are more about the class.
# Even at initialisation there is a gap, because similar images give similar pre-activations whatever the
# weights. In layer 2 training widens it (to 1.4 to 2.2 times its size at initialisation over five seeds); in
# layer 1 it stays about the same (a little wider after training here, a little narrower for three of five
# seeds).
#
# Contrast this with **weight pruning**, which zeroes entries of $W$ once. Its mask $M$ is the same for
# every input: $h' = \mathrm{ReLU}((M \odot W) h + b)$. The Jaccard index between the *weight* masks
# of any two inputs is exactly 1. ReLU's mask is cheap and adaptive (it costs a comparison per unit, per
# input, and is never stored); weight pruning's mask is fixed, stored once and can be exploited by storage
# formats and hardware (§5 and §8 look at when that pays).
#
# ## 3. GELU and friends
#
# The Gaussian Error Linear Unit (Hendrycks & Gimpel, 2016) replaces ReLU's hard gate $\mathbb 1[x > 0]$ by a
# soft one, $\Phi(x)$, the probability that a draw from the standard normal distribution (mean 0, variance 1)
# is below $x$. $\Phi$ rises smoothly from 0 to 1, through $\tfrac12$ at $x = 0$; its slope is the normal
# density $\Phi'(x) = e^{-x^2/2}/\sqrt{2\pi}$.
#
# $$\mathrm{GELU}(x) = x\,\Phi(x).$$
#
# Its authors motivate it as the *expectation of a random gate*: keep $x$ with probability $\Phi(x)$, so that
# larger inputs are more likely to pass. Let $m$ be 1 with probability $\Phi(x)$ and 0 otherwise (a
# *Bernoulli* variable); then the average of $x m$ is $\mathbb E[x m] = x\,\Phi(x)$. The network itself never
# draws $m$; it uses the average. Here is the gate at $x = 1$, a million times:

# %%
x_gate = torch.tensor(1.0, dtype=torch.float64)
gate = 0.5 * (1 + torch.erf(x_gate / 2**0.5))                  # Phi(1)
m = torch.rand(10**6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) < gate
print(f"Phi(1) = {float(gate):.4f}; mean of x*m over 10^6 draws: {float((x_gate * m).mean()):.4f}; "
      f"GELU(1) = {float(F.gelu(x_gate)):.4f}")
assert abs(float((x_gate * m).mean()) - float(F.gelu(x_gate))) < 0.002

# %% [markdown]
# The cell below does the same at six points (`gelu_facts`), and reports how far each average lies from
# $x\,\Phi(x)$ in *standard errors* (the typical size of the random error of an average of $10^6$ draws).
# It also measures two cheaper formulas that stand in for $\Phi$ in practice, a tanh form and
# $x\,\sigma(1.702x)$ (with $\sigma$ the logistic sigmoid), and the lowest point of GELU. The plots add
# SiLU (also called swish), $x\,\sigma(x)$, and leaky ReLU, $\max(0.01x, x)$, which lets a little through on
# the negative side.

# %%
fig, axes = new_figure(2)
plot_activation_shapes(["relu", "leaky_relu", "gelu", "gelu_tanh", "silu"], axes)
for ax in axes:
    ax.set_xlim(-4, 3)
axes[0].set_ylim(-0.5, 3)
facts = gelu_facts()
for x, est, exact, se in zip(facts.mc_points, facts.mc_estimate, facts.mc_exact, facts.mc_stderr):
    print(f"x = {x:4.1f}: mean of x*m over 10^6 draws {est:8.4f}, x*Phi(x) {exact:8.4f} "
          f"(difference {abs(est - exact) / se:.1f} standard errors)")
print(f"tanh approximation: largest error {facts.tanh_max_error:.2e} at x = ±{facts.tanh_error_at:.2f}")
print(f"x*sigmoid(1.702 x): largest error {facts.sigmoid_max_error:.4f} at x = ±{facts.sigmoid_error_at:.2f}")
print(f"the dip: minimum {facts.dip_value:.4f} at x = {facts.dip_at:.4f}")
grid = torch.linspace(-5, 0, 500_001, dtype=torch.float64)
silu_min = int(F.silu(grid).argmin())
print(f"SiLU's dip: minimum {float(F.silu(grid[silu_min])):.4f} at x = {float(grid[silu_min]):.3f}")

# %%
assert np.all(np.abs(facts.mc_estimate - facts.mc_exact) < 4 * facts.mc_stderr)
assert round(facts.tanh_max_error, 5) == 0.00047 and round(facts.tanh_error_at, 2) == 2.70
assert round(facts.sigmoid_max_error, 3) == 0.020 and round(facts.sigmoid_error_at, 2) == 2.27
assert round(facts.dip_value, 4) == -0.1700 and round(facts.dip_at, 4) == -0.7518
assert round(float(F.silu(grid[silu_min])), 4) == -0.2785 and round(float(grid[silu_min]), 3) == -1.278

# %% [markdown]
# * **The gate.** A million Bernoulli draws per point reproduce $x\,\Phi(x)$ within a few standard errors at
#   every point: the stochastic reading is an exact identity for the mean.
# * **Two approximations.** The tanh form $\tfrac12 x\,(1 + \tanh(\sqrt{2/\pi}\,(x + 0.044715 x^3)))$, used by BERT
#   and GPT-2 and offered by PyTorch as `approximate="tanh"`, is never more than $4.7\times10^{-4}$ off, the worst at
#   $x = \pm 2.70$. The cruder $x\,\sigma(1.702x)$ is off by up to 0.020 (at $\pm 2.27$).
# * **The dip.** GELU is not monotone: it falls to $-0.1700$ at $x = -0.7518$ (where $\Phi(x) + x\,\Phi'(x) = 0$) and
#   rises back towards 0. For $x < -0.75$ its slope is *negative*, a small reversed gradient. And since
#   $\Phi(x) > 0$ everywhere, GELU is never exactly zero except at $x = 0$: none of its outputs is pruned,
#   only shrunk. SiLU dips deeper, to $-0.2785$ at $x = -1.278$.
#
# ## 4. Dead ReLUs and the learning rate
#
# A ReLU unit dies when its pre-activation becomes negative for every input; then its gradient is zero on
# every input and nothing in its own weights can move it back. A large step can do exactly that: one update
# pushes a unit's bias or weights so far that no input reaches the positive side. The experiment: train the
# same network (same initial weights, same minibatches) for a fixed budget of 100 steps of 64 images, at
# learning rates from 0.001 to 1, with SGD and with Adam, for ReLU, leaky ReLU and GELU; then count the units
# that are on for no training image.
#
# "On" is the probe's convention from chapter 1: the activation's slope is at least 5% of its largest slope.
# For ReLU and leaky ReLU that is $z > 0$. For GELU it is $z > -0.63$ (computed below); a GELU unit "dead" in
# this sense still passes a small gradient, as does a leaky unit.
#
# **Predict, before the sweep runs.** With SGD at learning rate 1, will more units be dead after 100 steps
# with GELU or with ReLU? With Adam at 0.03, which of the three activations will have the most dead units?
#
# A large step is chaotic: the same run on another CPU, whose rounding differs in the last bit, can end
# with other units dead. The table prints such numbers with ≈ (chapter 1 §6), and the text quotes the
# ranges over five seeds and several CPU code paths.

# %%
gelu = get_activation("gelu")
grid = torch.linspace(-3, 0, 300_001, dtype=torch.float64)
on_from = float(grid[gelu.slope(grid) >= 0.05 * gelu.peak_slope].min())
print(f"GELU's slope is at least 5% of its peak ({gelu.peak_slope:.3f}) for z > {on_from:.2f}")
assert round(on_from, 2) == -0.63

# %%
sweep = dead_unit_sweep()
fig, axes = new_figure(2)
plot_dead_sweep(sweep, SWEEP_LRS, axes)
print("dead hidden units (%) after 100 steps, learning rate " + " ".join(f"{lr:>6g}" for lr in SWEEP_LRS))
for (act, opt), (dead, acc) in sweep.items():
    print(f"  {act:10s} {opt:4s}" + " " * 22 + " ".join(f"{varies(100 * d, '.1f'):>6s}" for d in dead))
print("test accuracy (%)")
for (act, opt), (dead, acc) in sweep.items():
    print(f"  {act:10s} {opt:4s}" + " " * 22 + " ".join(f"{varies(100 * a, '.1f'):>6s}" for a in acc))

# %%
relu_sgd, relu_adam = sweep["relu", "sgd"][0], sweep["relu", "adam"][0]
gelu_sgd, gelu_adam = sweep["gelu", "sgd"][0], sweep["gelu", "adam"][0]
leaky_adam = sweep["leaky_relu", "adam"][0]
# Bands over seeds 0-4 (the network's seed alone, and all seeds shifted together, which reseeds the split too)
# and CPU code paths; the measured range follows each claim (learning rates 0.001 ... 1).
assert relu_sgd[:5].max() < 0.1 and relu_sgd[-1] > 0.15  # 1-8% up to 0.3; 22-64% at 1
assert 0.15 < relu_adam[1] < 0.3 and 0.3 < relu_adam[2] < 0.56 and relu_adam[3] > 0.78  # 18-27%, 34-50%, 83-95%
assert np.all(np.diff(relu_adam[:5]) > 0) and relu_adam[4:].min() > 0.95  # rising to 98-100% at 0.3 and 1
assert gelu_sgd[:5].max() == 0 and gelu_adam[-1] > 0.9 and 0.75 < gelu_adam[4] < 0.98  # 0 up to 0.3; 95-100%; 82-94%
assert 0.4 < gelu_adam[3] < 0.9 and leaky_adam[3] < relu_adam[3] and 0.55 < leaky_adam[3] < 0.85  # 43-89%; 60-81%
assert sweep["relu", "adam"][1][:3].min() > 0.86 and sweep["relu", "adam"][1][-1] < 0.15  # 89-97%; 7-12%
assert sweep["relu", "sgd"][1][0] < 0.15 and sweep["relu", "adam"][1][4] < 0.3  # 4-11%; 9-23%

# %% [markdown]
# What the sweep shows:
#
# * **SGD** barely kills units until the learning rate reaches 1 (22% to 64% dead then, over five seeds and
#   several CPUs); at small rates it is simply slow (100 steps at 0.001 learn almost nothing: 4–11% test
#   accuracy). The few units dead at small rates (2.7%, 7 of 256, in the table) are about what was dead from
#   the start (6 of 256, §2).
# * **Adam** kills far more, and at rates 30 to 100 times smaller: 18–27% of the ReLU units are dead at 0.01,
#   34–50% at 0.03 (SGD needs a rate of 1 for as many), 83–95% at 0.1, and the accuracy falls with them (to
#   9–23% at 0.3). Adam divides each step by a running estimate of the
#   gradient's size, so every parameter, including every bias, moves by about the learning rate per step
#   whatever its gradient. A few steps of 0.1 in the same direction are enough to push a bias below every
#   input's reach.
# * **GELU** under SGD has no "dead" units at any rate up to 0.3 (at 1, where SGD itself goes wild, from 0 to
#   60% depending on the seed); under Adam at large rates its units are pushed just as far into the flat
#   region (82–94% at 0.3). At 0.1 leaky ReLU always loses fewer units than ReLU (60–81% against 83–95%);
#   GELU's share there depends on the seed (43–89%). Smoothness helps gradients flow
#   through units that are *nearly* off; it does not stop a large step from throwing units far off.
#
# This is a measurement on one small network with one budget, not a law. In particular, the best-known
# analysis of dying ReLUs, Lu et al. (2020), is about *depth and initialisation* (a deep, narrow ReLU
# network is likely to be born dead); it says nothing about the learning rate.
#
# **Explore.** The sweep tried six learning rates. Between two of its columns, for example Adam at 0.05, guess
# the dead fraction for each activation, then move the sliders to see the units' activity after training.

# %%
# NBVAL_IGNORE_OUTPUT
dead_units_explorer()

# %% [markdown]
# ## 5. `torch.nn.utils.prune`, by running it
#
# Weight pruning zeroes chosen entries of a weight tensor. PyTorch's `torch.nn.utils.prune` does it without
# touching the weights themselves: it keeps the original as a new parameter `weight_orig`, stores a 0/1
# buffer `weight_mask`, and recomputes `weight = weight_orig * weight_mask` in a *forward pre-hook* before
# every forward pass. Take a small layer and prune 50% of its weights by magnitude (L1: the smallest
# $|w|$ go first):

# %%
torch.manual_seed(0)
layer = nn.Linear(6, 4)
optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)   # made BEFORE pruning
original = layer.weight
prune.l1_unstructured(layer, name="weight", amount=0.5)
print("parameters:", [name for name, _ in layer.named_parameters()])
print("buffers:   ", [name for name, _ in layer.named_buffers()])
print("forward pre-hooks:", [type(h).__name__ for h in layer._forward_pre_hooks.values()])
print("weight is a Parameter:", isinstance(layer.weight, nn.Parameter), "| weight_orig is the old Parameter object:",
      layer.weight_orig is original)
print(layer.weight_mask)
assert layer.weight_orig is original and int(layer.weight_mask.sum()) == 12
assert torch.equal(layer.weight, layer.weight_orig * layer.weight_mask)

# %% [markdown]
# Because `weight_orig` *is* the old parameter object, an optimizer created before pruning still trains it.
# One SGD step changes `weight_orig` everywhere, including under the mask, while `weight`, recomputed by the
# hook, stays zero where the mask is 0:

# %%
x_small = torch.randn(8, 6)
before = layer.weight_orig.detach().clone()
layer(x_small).pow(2).mean().backward()
optimizer.step()
moved_under_mask = (layer.weight_orig != before)[layer.weight_mask == 0]
layer(x_small)                                            # the pre-hook recomputes weight
print(f"weight_orig entries under the mask that moved: {int(moved_under_mask.sum())} of {moved_under_mask.numel()}; "
      f"pruned entries of weight still zero: {bool((layer.weight[layer.weight_mask == 0] == 0).all())}")
assert int(moved_under_mask.sum()) == 0  # their gradient is weight_mask * dl/dweight = 0

# %% [markdown]
# None moved: the gradient that reaches `weight_orig` is `weight_mask` times the gradient of `weight`, zero
# under the mask. (With weight decay or momentum left over from before pruning they *would* move, but the
# hook would still zero them in `weight`.)
#
# **Memory.** The mask is stored beside the full original: pruning alone makes nothing smaller.

# %%
plain, pruned = nn.Linear(128, 128), nn.Linear(128, 128)
prune.l1_unstructured(pruned, "weight", amount=0.9)
print("plain  state_dict:", list(plain.state_dict()), state_dict_bytes(plain), "bytes")
print("pruned state_dict:", list(pruned.state_dict()), state_dict_bytes(pruned), "bytes")
try:
    nn.Linear(128, 128).load_state_dict(pruned.state_dict())
except RuntimeError as err:
    print("loading it into an unpruned layer:", " ".join(line.strip() for line in str(err).splitlines()[1:]))
receiver = nn.Linear(128, 128)
prune.l1_unstructured(receiver, "weight", amount=0.1)      # pruned by a different amount
receiver.load_state_dict(pruned.state_dict())
print("into a layer pruned by 10% first: loads, and its mask is now the loaded one:",
      torch.equal(receiver.weight_mask, pruned.weight_mask))
assert state_dict_bytes(pruned) == 2 * state_dict_bytes(plain) - 128 * 4
assert (state_dict_bytes(plain), state_dict_bytes(pruned)) == (66_048, 131_584)
assert torch.equal(receiver.weight_mask, pruned.weight_mask)

# %% [markdown]
# The pruned layer's `state_dict` holds `weight_orig` and `weight_mask` (the mask in float32, like the
# weight): 131,584 bytes against 66,048, *twice* the size with 90% of the weights zero. It does not load into
# a plain `nn.Linear`, which expects a key `weight`. To load it you either prune the receiving layer first
# (any amount: the mask is overwritten by the loaded one) or make the pruning permanent before saving:
#
# **`prune.remove`** folds the mask into the weight: `weight` becomes an ordinary parameter again with its zeros
# baked in, and `weight_orig`, `weight_mask` and the hook are gone. From then on nothing keeps the zeros at
# zero: one training step regrows them.

# %%
prune.remove(pruned, "weight")
zeros_after_remove = int((pruned.weight == 0).sum())
print("after remove:", list(pruned.state_dict()), f"{zeros_after_remove} zeros,",
      f"hooks left: {len(pruned._forward_pre_hooks)}")
nn.Linear(128, 128).load_state_dict(pruned.state_dict())   # loads now
opt = torch.optim.SGD(pruned.parameters(), lr=0.1)
pruned(torch.randn(32, 128)).pow(2).mean().backward()
opt.step()
print(f"after one SGD step: {int((pruned.weight == 0).sum())} zeros")
assert zeros_after_remove == round(0.9 * 128 * 128) and int((pruned.weight == 0).sum()) == 0

# %% [markdown]
# **Iterative pruning compounds.** Apply `amount=0.5` three times: each call takes half of what is *left*,
# not half of the original, so the layer keeps $(1/2)^3 = 1/8$ of its weights, not none.

# %%
layer = nn.Linear(128, 128)
for round_ in range(1, 4):
    prune.l1_unstructured(layer, "weight", amount=0.5)
    print(f"after round {round_}: {int(layer.weight_mask.sum())} of {layer.weight.numel()} weights kept")
print("hook now:", type(next(iter(layer._forward_pre_hooks.values()))).__name__)
assert int(layer.weight_mask.sum()) == 128 * 128 // 8

# %% [markdown]
# The three masks are combined in one `PruningContainer` hook, each new method applied only to the entries
# still alive.
#
# **Every method**, on the trained digits network's first hidden layer (a copy each time): unstructured
# (single weights) at random or by magnitude; structured (whole rows of $W$, that is whole output units) at
# random or by the $L_2$ norm of the row; a mask of your own (`custom_from_mask`); and a pruning method of
# your own, a subclass of `BasePruningMethod` that only has to say how to compute the mask:

# %%
print(inspect.getsource(MagnitudeThreshold))

# %%
def fresh_layer():
    return copy.deepcopy(model[0].blocks[0].linear)   # 128 units x 64 inputs, trained


checkerboard = (torch.arange(128 * 64).reshape(128, 64) % 2).double()
methods = {
    "random_unstructured": lambda l: prune.random_unstructured(l, "weight", amount=0.3),
    "l1_unstructured": lambda l: prune.l1_unstructured(l, "weight", amount=0.3),
    "random_structured": lambda l: prune.random_structured(l, "weight", amount=0.3, dim=0),
    "ln_structured": lambda l: prune.ln_structured(l, "weight", amount=0.3, n=2, dim=0),
    "custom_from_mask": lambda l: prune.custom_from_mask(l, "weight", mask=checkerboard),
    "MagnitudeThreshold": lambda l: MagnitudeThreshold.apply(l, "weight", threshold=0.05),
}
torch.manual_seed(0)
kept = {}
for name, apply in methods.items():
    lay = fresh_layer()
    apply(lay)
    rows_gone = int((lay.weight == 0).all(dim=1).sum())
    kept[name] = (float((lay.weight == 0).double().mean()), rows_gone)
    print(f"{name:20s} weights zero {kept[name][0]:6.1%}   whole units removed {rows_gone:3d} of 128")
assert kept["l1_unstructured"][0] == kept["random_unstructured"][0] == round(0.3 * 8192) / 8192
assert kept["ln_structured"][1] == kept["random_structured"][1] == round(0.3 * 128)
assert kept["custom_from_mask"][0] == 0.5 and kept["l1_unstructured"][1] == 0

# %% [markdown]
# Unstructured methods zero 30% of the entries and, here, not one whole unit; structured ones remove 38 of the
# 128 units (30%, rounded) with all their weights. Only structured pruning yields a smaller dense layer you
# could actually cut out (drop the rows, and the matching columns of the next layer).
#
# **Global pruning** sorts the weights of several layers together by magnitude and removes the smallest overall:
# the layers end up unevenly sparse.

# %%
global_copy = prune_copy(model, "global_unstructured", 0.8)
per_layer = [float((lin.weight == 0).double().mean()) for lin in global_copy[0].linears]
print("80% global L1 pruning leaves per-layer sparsity: " + ", ".join(f"layer {i}: {s:.1%}" for i, s in enumerate(per_layer, 1)))
total = sum(lin.weight.numel() for lin in global_copy[0].linears)
assert abs(sum(s * lin.weight.numel() for s, lin in zip(per_layer, global_copy[0].linears)) / total - 0.8) < 1e-4
assert 0.7 < per_layer[0] < 0.77 and 0.81 < per_layer[1] < 0.86   # seeds 0-4: 72.6-74.7% and 82.6-83.7%

# %% [markdown]
# The first layer keeps more of its weights (74.7% pruned) than the second (82.6%); over five seeds,
# 73-75% against 83-84%. Its weights are larger:
# PyTorch's default initialisation draws them uniformly between $\pm 1/\sqrt{n_{in}}$ (chapter 3), where the
# *fan-in* $n_{in}$, the layer's number of inputs, is 64 for the first layer against 128 for the second. Global
# pruning lets layers that can afford it give up more.

# %% [markdown]
# ## 6. Accuracy against sparsity
#
# Now the experiment the chapter is built around. Prune the trained network's two hidden layers by each
# method, at amounts (the *sparsity*: the fraction of weights set to zero) from 0 to 98%, and measure test
# accuracy (`sparsity_curve`; the 10-way head is left whole). Beside the weight-pruning methods, **per-input
# activation top-k** (`activation_topk`): for every input, keep only the $k$ largest activations in each hidden
# layer and zero the rest. That is pruning done the ReLU way, a different mask for every input, but with a fixed
# budget $k$.
#
# Each point of a curve is one pruned copy of the network (`prune_copy`, which applies the §5 calls to both
# hidden layers) and its test accuracy. One point by hand:

# %%
l1_70 = prune_copy(model, "l1_unstructured", 0.7)
zero_fraction = [float((lin.weight == 0).double().mean()) for lin in l1_70[0].linears]
print(f"L1, amount 0.7: zero weights {', '.join(f'{z:.1%}' for z in zero_fraction)}; "
      f"test accuracy {accuracy(l1_70, x_test, y_test):.1%}")
assert all(round(z, 3) == 0.7 for z in zero_fraction)

# %% [markdown]
# **Predict, before the curves.** Which will keep more accuracy at 60%: `ln_structured` (whole units, by
# norm) or `random_unstructured` (single weights, at random)? And will `activation_topk` at 20% change the
# accuracy at all? (§2 measured how many zeros ReLU already makes.)

# %%
curves = {method: sparsity_curve(method) for method in PRUNING_METHODS}
tuned = {"l1_unstructured": sparsity_curve("l1_unstructured", fine_tune_steps=100)}
fig, ax = new_figure(1, width=7.0, height=4.2)
plot_sparsity_curves(curves, ax, tuned)
short = {"l1_unstructured": "L1", "random_unstructured": "random", "ln_structured": "L2 units",
         "random_structured": "rand. units", "global_unstructured": "global L1", "activation_topk": "act. top-k"}
print("test accuracy (%)\n amount " + " ".join(f"{short[m]:>11s}" for m in PRUNING_METHODS) + "  L1 + tuning")
for i, amount in enumerate(AMOUNTS):
    print(f"{amount:7.2f} " + " ".join(f"{100 * curves[m][i]:11.1f}" for m in PRUNING_METHODS)
          + f" {100 * tuned['l1_unstructured'][i]:12.1f}")

# %%
acc = {m: dict(zip(AMOUNTS, c)) for m, c in curves.items()}
l1, glob, ln, rand = (acc[m] for m in ("l1_unstructured", "global_unstructured", "ln_structured", "random_unstructured"))
assert acc["l1_unstructured"][0.7] == accuracy(l1_70, x_test, y_test)
# Bands over seeds 0-4 (points of test accuracy). L1 loses 0.2-4.2 by 70%, random unstructured 2.6-15.4 by
# 50%, and is behind L1 from 50% to 95% for every seed.
high = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
assert l1[0.0] - l1[0.7] < 0.07 and l1[0.0] - rand[0.5] > 0.01 and all(l1[a] > rand[a] for a in high)
# Global L1 is ahead of per-layer L1 at 85% for every seed (by 1.8-6.2), at 2 to 4 of 80/85/90/95%.
assert glob[0.85] > l1[0.85] and sum(glob[a] > l1[a] for a in (0.8, 0.85, 0.9, 0.95)) >= 2
# L2-structured is behind L1 from 40% to 90% for every seed: by 1.6-19.8 at 50%, by 16.5-28.1 at 70%.
# (Whether it beats random unstructured depends on the seed, so nothing is asserted about that.)
assert all(l1[a] > ln[a] for a in (0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9)) and l1[0.7] - ln[0.7] > 0.1
# Activation top-k: at 20% the accuracy of the unpruned network or 1 test digit off it; 84.0-87.8% at 90%,
# never below L1 there (47.9-84.6%).
topk = acc["activation_topk"]
assert round(abs(topk[0.2] - l1[0.0]) * len(x_test)) <= 2 and 0.8 < topk[0.9] < 0.93 and topk[0.9] >= l1[0.9]
kept_at_20, kept_at_90 = 128 - round(0.2 * 128), 128 - round(0.9 * 128)
few_zeros = [int(((~mask).sum(dim=1) < 128 - kept_at_20).sum()) for mask in test_masks]
print(f"activation top-k keeps {kept_at_20} of 128 units per layer at amount 0.2, {kept_at_90} at 0.9; "
      f"test images with fewer than {128 - kept_at_20} ReLU zeros: {few_zeros[0]} (layer 1), {few_zeros[1]} (layer 2)")
gained = round((l1[0.4] - l1[0.0]) * len(x_test))
print(f"L1 at 40%: {l1[0.4]:.1%}, {gained} more test digits right than unpruned")
# Seeds 0-4: 0-149 (layer 1) and 0-34 (layer 2) such images; L1 at 20-50% within 0.9 points of the unpruned
# network, 3 fewer to 4 more test digits right at 40%.
assert (kept_at_20, kept_at_90) == (102, 13) and all(f < len(x_test) / 2 for f in few_zeros)
assert all(abs(l1[a] - l1[0.0]) < 0.015 for a in (0.2, 0.4, 0.5)) and abs(gained) <= 6

# %% [markdown]
# * **Magnitude beats chance.** L1 pruning removes 70% of the hidden weights for a loss of 1.3 points here
#   (0.2 to 4.2 over five seeds); random unstructured pruning has lost 15 points by 50% (3 to 15 over five
#   seeds), and from 50% to 95% it is behind L1 for every seed. Which weights go matters more than how many.
#   Up to 50%, L1 pruning stays within a point of the unpruned network, here even slightly above it (98.4% at
#   40%), but that is 4 more test digits right out of 449 (from 3 fewer to 4 more over five seeds): too few
#   to call pruning an improvement.
# * **Global and per-layer L1 trade places.** Here global is ahead at 80–85% (93.8% against 90.6% at 85%),
#   behind at 90% (79.7% against 84.6%), ahead again at 95%. Over five seeds it is ahead at 85% every time,
#   but at 80%, 90% and 95% the order changes with the seed. Taking more from the layer that can spare it
#   helps until that layer, too, runs short; on a network this small global is usually, not reliably, better.
# * **Whole units cost more than single weights.** L2-structured pruning falls below L1 unstructured from 40%
#   to 90% for every seed (88.6% against 97.8% at 50% here; 2 to 20 points behind at 50% and 16 to 28 at 70%
#   over five seeds): whole units go, and with them every path through them. Whether units chosen by their
#   norm cost less than single weights chosen at random depends on the seed: here they do from 50% to 90%,
#   for three of the other four seeds they do not over most of that range.
# * **Activation top-k** changes no answer at 20% here (over five seeds, the accuracy moves by at most one
#   test digit): the ReLU has already zeroed a fifth to two-fifths of each layer for a typical input, so
#   keeping the top 80% (102 of 128) keeps every nonzero for most images. For the 3 test images (layer 1) and
#   34 (layer 2) with fewer than 26 zeros (0 to 149 and 0 to 34 over five seeds), it drops only their
#   smallest positive activations, and here no test digit changes its answer. Beyond 20% it holds up at least
#   as well as L1 weight pruning (85.7% at 90% here; 84% to 88% over five seeds, where L1 keeps 48% to 85%)
#   although no weight was touched: a per-input mask with 13 units left per layer keeps most of the accuracy.
#
# **Fine-tuning.** Train the pruned network for 100 more steps (Adam, learning rate 0.001) with the mask kept
# (`weight_orig` trains, the hook keeps the zeros; Han et al., 2015):

# %%
tuned_acc = dict(zip(AMOUNTS, tuned["l1_unstructured"]))
for amount in (0.8, 0.9, 0.95, 0.98):
    print(f"L1, {amount:.0%} pruned: {acc['l1_unstructured'][amount]:.1%} -> {tuned_acc[amount]:.1%} after 100 steps")
# Seeds 0-4: after tuning 93.3-97.8% at 90% (0-2.7 points below the unpruned network), 85.3-91.8% at 95%,
# 49.2-71.0% at 98%, each at least 11 points above the untuned 47.9-84.6%, 18.0-56.3% and 10.9-35.4%.
assert tuned_acc[0.9] > 0.9 and l1[0.0] - tuned_acc[0.9] < 0.05 and 0.8 < tuned_acc[0.95] < 0.95
assert 0.4 < tuned_acc[0.98] < 0.8 and all(tuned_acc[a] > l1[a] + 0.08 for a in (0.9, 0.95, 0.98))
assert 0.4 < l1[0.9] < 0.9 and 0.1 < l1[0.95] < 0.65

# %% [markdown]
# At 90% sparsity, 100 steps bring the accuracy from 84.6% back to 95.8% (over five seeds, from 48–85% to
# 93–98%, within 3 points of the unpruned network). At 95% they bring a large part back (56.3% to 87.5%
# here; to 85–92% over five seeds); at 98%, with 2% of the weights left, it climbs only to 49.2% (49–71% over
# five seeds): 100 steps cannot rebuild what the mask took, and the remaining weights may simply be too few.
#
# **Explore.** The table fine-tuned only L1 pruning. Guess first: with `activation_topk` at 0.9 (85.7% before
# tuning), how many fine-tuning steps does it take to get back to 95%? Then set the explorer's method, amount
# and steps.

# %%
# NBVAL_IGNORE_OUTPUT
pruning_explorer()

# %% [markdown]
# Without a kernel (on the book's website, say) the explorer above cannot re-run; the one below
# plays anyway, over pictures computed when this notebook ran.

# %%
# NBVAL_IGNORE_OUTPUT
methods = ["l1_unstructured", "random_unstructured", "ln_structured", "global_unstructured", "activation_topk"]
precomputed_explorer(pruning_explorer(device="cpu"), "method", methods)

# %% [markdown]
# ## 7. Activation sparsity in large models
#
# Li et al. (2023, "The lazy neuron phenomenon") measured the same quantity in large trained transformers, T5-Base
# (a text model) and ViT-B16 (an image model). Each layer of a transformer contains a small MLP, two linear
# layers with a ReLU between them, much like our network. After that ReLU, only about **3.0%** of T5-Base's
# activations and **6.3%** of ViT-B16's are nonzero, on average over layers and inputs (their numbers, not
# measured here). Here:

# %%
nonzero = [float(m.double().mean()) for m in activation_masks(model, x_test)]
print("nonzero after ReLU on the test set: " + ", ".join(f"layer {i}: {v:.1%}" for i, v in enumerate(nonzero, 1)))
print(f"that is {np.mean(nonzero) / 0.030:.0f} times T5-Base's 3.0%")
# Seeds 0-4: 70-78% (layer 1) and 62-70% (layer 2) nonzero, 22 to 23 times T5-Base's fraction.
assert all(0.55 < v < 0.85 for v in nonzero) and np.mean(nonzero) / 0.030 > 20

# %% [markdown]
# 70% here (62% to 78% over five seeds and both layers): more than twenty times denser than T5-Base. Three differences explain most of it. Their MLP layers are wide
# (3072 units against 128) and see rich inputs (text, images), so most units are specialists that fire for
# few inputs; this network has to share 128 units among all ten digits. They trained for far longer, and Li
# et al. found the sparsity *emerging* during training, while here training lowered the zeros (from 50% to
# 30%). And their MLPs sit behind a LayerNorm (which rescales each vector to mean 0 and variance 1, chapter 4 §3)
# on a *residual stream*, the vector that runs through the network's shortcuts and to which every block adds its
# output (chapter 2). Sparsity of this kind is a property of large trained models, not of ReLU as such.
#
# ## 8. Common claims, checked
#
# > **"An activation function is a kind of pruning: ReLU prunes outputs, weight pruning prunes parameters."**
# > Half true. ReLU's zeros form a mask, but a different one for every input (§2: images of different digits
# > share only two-thirds to three-quarters of their active units), never stored and never a saving in parameters. Only *dead*
# > units (8–12% here, 8–24% over five seeds) behave like pruned ones. The comparison works best the other way round: per-input
# > top-k (§6) is pruning done the way ReLU does it.
#
# > **"ReLU's sparsity speeds up inference."** Not on dense kernels. A matrix multiply does the same work whether
# > the entries are zero or not. Sparse storage formats keep only the nonzero entries and their positions:
# > COO as a list of (row, column, value) triples, CSR row by row (each row's column indices and values, plus
# > where each row starts). They skip the zeros, but pay for reading the indices. Measured here
# > (float32, one thread, $W$ of $1024 \times 1024$ times 64 inputs; the timings vary with the machine and its
# > load, so nothing is asserted):

# %%
# NBVAL_IGNORE_OUTPUT
mm = matmul_timings()
print(f"W ({mm.n}x{mm.n}) @ X ({mm.n}x{mm.batch}), microseconds (fastest of 3 runs):")
print(f"{'zeros':>6s} {'dense':>9s} {'CSR':>9s} {'COO':>9s}")
for s, d, c, o in zip(mm.sparsities, mm.dense_us, mm.csr_us, mm.coo_us):
    print(f"{s:6.0%} {d:9.0f} {c:9.0f} {o:9.0f}")

# %% [markdown]
# > The dense kernel does the same $1024 \times 1024 \times 64$ multiply-adds at every sparsity, so its time does
# > not depend on the zeros; what differences you see between its rows are the machine's noise (run the cell
# > again and they move; on a shared machine they can be large). The sparse formats start
# > far slower and become competitive only when most entries are zero, around 90% and beyond. ReLU's 20–50%
# > zeros, which moreover change with every input, buy nothing on a dense kernel; getting a speed-up needs
# > very high, fixed sparsity or hardware built for it (for example NVIDIA's 2:4 structured sparsity, in which
# > 2 of every 4 consecutive weights are zero).
#
# > **"GELU costs more to compute than ReLU, but on modern hardware the difference is small."** Both halves,
# > measured: the activation alone on a $128 \times 2048$ tensor, and a whole layer $\phi(x W^\top + b)$ from 512
# > inputs to 2048 units.

# %%
# NBVAL_IGNORE_OUTPUT
act_t = activation_timings()
print(f"{'':10s} {'alone (us)':>11s} {'Linear + act (us)':>18s}")
for name in act_t.alone_us:
    print(f"{name:10s} {act_t.alone_us[name]:11.0f} {act_t.layer_us[name]:18.0f}")
print(f"gelu / relu: alone x{act_t.alone_us['gelu'] / act_t.alone_us['relu']:.1f}, "
      f"whole layer x{act_t.layer_us['gelu'] / act_t.layer_us['relu']:.2f}")

# %% [markdown]
# > Alone, GELU costs several times what ReLU does (an `erf` per element against a comparison). Inside a layer
# > the matrix multiply does 512 multiply-adds per output against one activation, and the difference shrinks
# > to a small fraction of the layer's time, comparable to this machine's run-to-run noise. That is why the
# > cost rarely decides the choice. (Compare the `gelu_tanh` row with `gelu`: the tanh form, written for speed,
# > is not necessarily faster than the exact `erf` on a CPU.)
#
# > **"GELU is like dropout: a random gate."** (Dropout, `nn.Dropout`, zeroes each activation at random with a
# > fixed probability during training.) Its *definition* is the expectation of a random gate (§3, checked
# > by Monte Carlo), but nothing is random when the network runs: GELU is a fixed, smooth function. Dropout
# > draws a new mask on every training step.
#
# > **"GELU avoids dead neurons."** Only for gentle training. With SGD at rates up to 0.3, no GELU unit died; with
# > Adam at learning rate 0.3, 82–94% of GELU units sat in the flat region for every training image (§4).
#
# > **"A pruned model's `state_dict` must be re-pruned before loading."** Correct as far as it goes (§5): the
# > keys are `weight_orig` and `weight_mask`, which a plain layer does not accept. Call `prune.remove` before
# > saving, and the checkpoint loads anywhere (and is no larger than the unpruned one, though no smaller either).
#
# ## What we saw
#
# * A ReLU layer is $D(x)(Wx + b)$: a sub-network chosen per input. Training this network *lowered* its zeros
#   from about 50% to 30%; same-digit images share more active units than different digits.
# * Per-input zeros and dead units are different things; the probe measures both. Dead units are the only
#   ReLU zeros that are pruning in the strict sense.
# * GELU $= x\,\Phi(x)$ is the mean of a random gate; its tanh form is within $5\times10^{-4}$; its dip is $-0.170$ at
#   $-0.752$; it is never exactly zero.
# * Large learning rates kill ReLU units, and Adam kills them at rates 30 to 100 times smaller than SGD.
# * `torch.nn.utils.prune` keeps `weight_orig` and a mask and multiplies them in a pre-hook: no memory saved
#   until `remove`, after which nothing keeps the zeros.
# * Magnitude beats random, structured costs most, global L1 is usually but not reliably ahead of per-layer L1;
#   fine-tuning recovers 90% sparsity almost fully, 98% only to a half or two-thirds. Per-input top-k of the
#   activations holds up at least as well as L1 weight pruning.
# * Zeros make a dense matmul no faster; GELU's extra cost vanishes inside a layer.
#
# ## Exercises
#
# 1. *(predict, then check)* Will `activation_topk` at amount 0.25 change the accuracy at all? Use §2's zero
#    fractions to predict, then check with the explorer.
# 2. Write a `BasePruningMethod` that removes, in each row of $W$, the $k$ smallest weights (so every unit keeps
#    the same number of inputs). Check its mask with `prune.is_pruned` and count the zeros per row.
# 3. Train a network with many dead units, §4's ReLU with Adam at learning rate 0.1:
#    `train_digits(optimizer="adam", lr=0.1, steps=100).model`. Find its dead units with
#    `probe_on_training_set`, then remove those of the first hidden layer with `custom_from_mask`, on the rows of
#    `weight` *and* on `bias` (what could a kept bias do?). Does the test accuracy change? Why not?
# 4. Repeat the dead-unit sweep with 300 steps instead of 100 (`dead_unit_sweep(steps=300)`). Do more units
#    die, or do some come back? Which activation can bring units back, and why?
# 5. In §5, give the optimizer `momentum=0.9`, take one step *before* pruning and two after. Do entries of
#    `weight_orig` under the mask move now? Does `weight` change where the mask is 0?
#
# ## References
#
# * D. Hendrycks, K. Gimpel (2016), Gaussian Error Linear Units (GELUs), arXiv:1606.08415.
# * S. Han, J. Pool, J. Tran, W. Dally (2015), Learning both weights and connections for efficient neural networks, *NeurIPS*.
# * H. Li, A. Kadav, I. Durdanovic, H. Samet, H. P. Graf (2017), Pruning filters for efficient ConvNets, *ICLR*.
# * Z. Li, C. You, S. Bhojanapalli et al. (2023), The lazy neuron phenomenon: on emergence of activation sparsity
#   in transformers, *ICLR* (arXiv:2210.06313, 2022).
# * L. Lu, Y. Shin, Y. Su, G. E. Karniadakis (2020), Dying ReLU and initialization: theory and numerical examples,
#   *Communications in Computational Physics* 28(5).
# * P. Ramachandran, B. Zoph, Q. V. Le (2017), Searching for activation functions (swish/SiLU), arXiv:1710.05941.
# * A. Mishra et al. (2021), Accelerating sparse deep neural networks (2:4 structured sparsity), arXiv:2104.08378.
# * PyTorch tutorial, "Pruning Tutorial" (`torch.nn.utils.prune`).
# * E. Alpaydin, C. Kaynak (1998), Optical Recognition of Handwritten Digits, UCI Machine Learning Repository.
