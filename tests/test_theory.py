"""Mean-field theory (utils/mean_field.py) against closed forms, Monte Carlo and measurement."""

import math

import numpy as np
import pytest
import torch

from utils.activations import get_activation
from utils.initialization import scheme_variances
from utils.mean_field import (chi, critical_line, critical_sigma_w2, fixed_point, gaussian_mean, gradient_factor, mean_field,
                              variance_map)
from utils.sweep import sweep


# --- quadrature ----------------------------------------------------------------------------------

@pytest.mark.parametrize("q", [0.0, 1e-4, 0.5, 3.0, 400.0, 1e6])
def test_quadrature_is_exact_for_moments_and_the_relu_kink(q):
    assert gaussian_mean(lambda z: torch.ones_like(z), q) == pytest.approx(1.0, abs=1e-12)
    assert gaussian_mean(lambda z: z**2, q) == pytest.approx(q, rel=1e-12, abs=1e-300)
    assert gaussian_mean(lambda z: z**4, q) == pytest.approx(3 * q**2, rel=1e-10, abs=1e-300)
    assert gaussian_mean(lambda z: torch.relu(z) ** 2, q) == pytest.approx(q / 2, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("q", [0.01, 1.0, 50.0, 5000.0])
def test_quadrature_resolves_the_narrow_tanh_slope_at_large_q(q):
    """E[tanh'(z)^2] against a fine trapezoid rule: the slope peak is narrow next to sqrt(q)."""
    z = torch.linspace(-12 * math.sqrt(q) - 20, 12 * math.sqrt(q) + 20, 2_000_001, dtype=torch.float64)
    density = torch.exp(-z * z / (2 * q)) / math.sqrt(2 * math.pi * q)
    slope2 = get_activation("tanh").slope(z) ** 2
    assert gaussian_mean(lambda t: get_activation("tanh").slope(t) ** 2, q) == pytest.approx(
        float(torch.trapezoid(slope2 * density, z)), rel=1e-7)


# --- ReLU closed forms ---------------------------------------------------------------------------

@pytest.mark.parametrize("sigma_w2, sigma_b2", [(0.5, 0.0), (1.7, 0.3), (2.0, 0.0), (3.1, 0.05)])
def test_relu_variance_map_is_half_sigma_w2_q_plus_sigma_b2(sigma_w2, sigma_b2):
    theory = mean_field(20, "relu", sigma_w2, sigma_b2, input_q=1.3)
    q = [sigma_w2 * 1.3 + sigma_b2]
    for _ in range(19):
        q.append(sigma_w2 * q[-1] / 2 + sigma_b2)
    assert np.allclose(theory.q, q, rtol=1e-12)
    assert np.allclose(theory.chi, sigma_w2 / 2, rtol=1e-12)
    assert theory.grad_ratio[0] == pytest.approx((sigma_w2 / 2) ** 9.5, rel=1e-10)


@pytest.mark.parametrize("sigma_b2", [0.0, 0.05, 0.5])
def test_relu_critical_sigma_w2_is_two(sigma_b2):
    assert critical_sigma_w2("relu", sigma_b2) == pytest.approx(2.0, rel=1e-8)


def test_relu_fixed_point_closed_form_and_none_at_or_above_two():
    assert fixed_point("relu", 1.5, 0.1) == pytest.approx(0.1 / (1 - 0.75), rel=1e-10)
    assert fixed_point("relu", 1.0, 0.0) == 0.0
    assert chi("relu", 1.5, 0.1) == pytest.approx(0.75, rel=1e-12)
    # without a bias q* = 0; chi is the limit q -> 0+, still sigma_w2 / 2 (not ReLU'(0) = 0)
    assert fixed_point("relu", 1.5, 0.0) == 0 and chi("relu", 1.5, 0.0) == pytest.approx(0.75, rel=1e-12)
    with pytest.raises(ValueError, match=r"no fixed point.*relu.*grows without bound.*below 2"):
        fixed_point("relu", 3.0, 0.0)
    with pytest.raises(ValueError, match=r"no fixed point.*or sigma_b2 = 0"):
        fixed_point("relu", 2.0, 0.2)


# --- fixed points and chi for every activation --------------------------------------------------

@pytest.mark.parametrize("activation, sigma_w2, sigma_b2", [
    ("tanh", 0.8, 0.1), ("tanh", 1.5, 0.05), ("tanh", 4.0, 0.3), ("sigmoid", 0.8, 0.1), ("sigmoid", 150.0, 0.0),
    ("gelu", 1.5, 0.05), ("gelu_tanh", 1.9, 0.3), ("silu", 1.2, 0.1), ("leaky_relu", 1.5, 0.2), ("identity", 0.6, 0.1)])
def test_the_fixed_point_satisfies_its_equation(activation, sigma_w2, sigma_b2):
    q = fixed_point(activation, sigma_w2, sigma_b2)
    assert q > 0
    assert float(variance_map(q, activation, sigma_w2, sigma_b2)) == pytest.approx(q, rel=1e-10)
    # and it is what the layers converge to
    assert mean_field(400, activation, sigma_w2, sigma_b2).q[-1] == pytest.approx(q, rel=1e-6)


@pytest.mark.parametrize("activation, sigma_w2, sigma_b2", [
    ("tanh", 1.5, 0.05), ("tanh", 4.0, 0.3), ("sigmoid", 50.0, 0.1), ("gelu", 1.8, 0.1), ("silu", 2.0, 0.2)])
def test_chi_by_quadrature_agrees_with_monte_carlo(activation, sigma_w2, sigma_b2):
    q = fixed_point(activation, sigma_w2, sigma_b2)
    z = math.sqrt(q) * torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    samples = sigma_w2 * get_activation(activation).slope(z) ** 2
    mc, err = float(samples.mean()), float(samples.std()) / math.sqrt(len(samples))
    assert abs(chi(activation, sigma_w2, sigma_b2) - mc) < 4 * err
    assert err < 2e-3 * mc  # the check is sharp


def test_tanh_boundary_starts_at_one_and_rises_with_the_bias():
    assert critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, abs=1e-5)
    line = [critical_sigma_w2("tanh", b2) for b2 in (0.01, 0.05, 0.1, 0.3)]
    assert all(a < b for a, b in zip(line, line[1:]))
    for b2, s2 in zip((0.01, 0.05, 0.1, 0.3), line):  # on the line, chi = 1
        assert chi("tanh", s2 * (1 - 1e-6), b2) < 1 < chi("tanh", s2 * (1 + 1e-6), b2)
        assert chi("tanh", s2, b2) == pytest.approx(1.0, abs=1e-6)


def test_the_parametric_critical_line_is_where_the_boundary_search_lands():
    sigma_w2, sigma_b2 = critical_line("tanh", np.array([0.01, 0.3, 1.0, 2.0]))
    for s2, b2 in zip(sigma_w2, sigma_b2):
        assert critical_sigma_w2("tanh", float(b2)) == pytest.approx(s2, rel=1e-6)
    relu_w2, relu_b2 = critical_line("relu", np.array([0.1, 10.0]))
    assert np.allclose(relu_w2, 2.0) and np.allclose(relu_b2, 0.0, atol=1e-12)


# --- theory against measurement ------------------------------------------------------------------

SETTINGS = [("tanh", 1.5, 0.05), ("relu", 2.0, 0.1), ("sigmoid", 4.0, 0.0), ("gelu", 1.8, 0.05)]


@pytest.mark.parametrize("activation, sigma_w2, sigma_b2", SETTINGS)
def test_each_layer_maps_its_measured_variance_as_the_theory_says(activation, sigma_w2, sigma_b2):
    """One step at a time: q_{l+1} = V(q_l) with each network's own measured q_l. A single step
    scatters by several percent (inputs grow alike with depth, so a batch is not many independent
    samples); the mean over 16 networks x 11 steps agrees within four standard errors (plus 0.5%)."""
    measured = sweep(activation, [sigma_w2], sigma_b2, depth=12, width=256, seeds=16, batch=64)
    q = measured.q[0]
    ratio = (q[:, 1:] / variance_map(q[:, :-1], activation, sigma_w2, sigma_b2)).ravel()
    standard_error = ratio.std(ddof=1) / np.sqrt(ratio.size)
    assert abs(ratio.mean() - 1) < 4 * standard_error + 0.005 and standard_error < 0.01


@pytest.mark.parametrize("activation, sigma_w2, sigma_b2", SETTINGS)
def test_measured_per_layer_variance_follows_the_variance_map(activation, sigma_w2, sigma_b2):
    """Over many layers single networks drift (finite width, see test_finite_width); their average does
    not: the mean over seeds agrees with mean field within four standard errors (plus 1%)."""
    measured = sweep(activation, [sigma_w2], sigma_b2, depth=20, width=256, seeds=32, batch=64)
    theory = mean_field(20, activation, sigma_w2, sigma_b2)
    for values, predicted in ((measured.q[0], theory.q), (measured.act_std[0], theory.act_std)):
        ratio = values / predicted
        standard_error = ratio.std(axis=0, ddof=1) / np.sqrt(len(ratio))
        assert np.all(np.abs(ratio.mean(axis=0) - 1) < 4 * standard_error + 0.01)
        assert standard_error.max() < 0.1  # sharp enough to mean something


@pytest.mark.parametrize("activation, sigma_w2", [("tanh", 1.0), ("tanh", 3.0), ("relu", 1.5), ("sigmoid", 8.0)])
def test_measured_gradient_ratio_follows_the_product_of_chis(activation, sigma_w2):
    measured = sweep(activation, [sigma_w2], 0.05, depth=30, width=256, seeds=8, batch=64)
    theory = mean_field(30, activation, sigma_w2, 0.05)
    gap = measured.log10_ratio[0].mean(axis=0) - theory.log10_ratio_by_depth
    assert np.all(np.abs(gap) < 0.15), gap  # within 40% over up to ~8 decades


def test_scheme_variances_of_pytorch_default_and_the_named_schemes():
    assert scheme_variances("default", 100) == pytest.approx((1 / 3, 1 / 300))
    assert scheme_variances("xavier_normal", 64)[0] == pytest.approx(1.0)
    assert scheme_variances("he", 64) == (2.0, 0.0)
    assert scheme_variances("normal", 64, 1.7, 0.2) == pytest.approx((1.7, 0.2))


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: fixed_point("tanh", 0.0, 0.1), r"sigma_w2 \(weight variance\) must be greater than 0"),
    (lambda: fixed_point("tanh", -1.0), r"sigma_w2 .* greater than 0"),
    (lambda: chi("swish", 1.0), "unknown activation 'swish'; choose one of: sigmoid, tanh, relu"),
    (lambda: variance_map(1.0, "tanh", 1.0, -0.1), r"sigma_b2 .* at least 0"),
    (lambda: mean_field(0, "tanh", 1.0), "depth must be at least 1"),
    (lambda: mean_field(5, "tanh", [1.0, float("nan")]), r"sigma_w2 .* finite"),
    (lambda: gradient_factor(1.0, "relu", 0.0), r"sigma_w2 .* greater than 0"),
    (lambda: critical_sigma_w2("tanh", 0.05, lo=2.0), r"already chaotic at sigma_w2 = 2"),
    (lambda: critical_sigma_w2("sigmoid", 0.0, hi=50.0), r"no order-to-chaos transition .* chi stays below 1"),
])
def test_theory_rejects_bad_settings_with_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()
