"""The batched sweep engine and what is built on it: phase diagram, finite width; plus Jacobian spectra,
init experiments and symmetric init under training (chapter 3)."""

import numpy as np
import pytest
import torch

from utils.finite_width import describe_finite_width, finite_width
from utils.initialization import init_experiment, init_explorer, row_spread
from utils.jacobian_spectrum import jacobian_spectrum
from utils.phase_diagram import describe_phase_diagram, phase_diagram, phase_diagram_explorer
from utils.sweep import sweep, sweep_by_loop, sweep_bytes
from utils.training import train_network

SMALL = dict(depth=25, width=32, seeds=3, batch=16)


# --- the engine computes what separate models compute --------------------------------------------

@pytest.mark.parametrize("activation, sigma_w2, sigma_b2", [
    ("relu", (0.5, 2.0, 4.0), 0.0), ("tanh", (0.5, 1.0, 1.7), 0.05), ("sigmoid", (1.0, 30.0), 0.2), ("gelu", (2.0,), 0.1)])
def test_sweep_gives_the_numbers_of_a_loop_of_separate_models(activation, sigma_w2, sigma_b2):
    batched = sweep(activation, sigma_w2, sigma_b2, **SMALL)
    looped = sweep_by_loop(activation, sigma_w2, sigma_b2, **SMALL)
    for name in ("q", "act_std", "grad_norm"):
        assert getattr(batched, name).shape == (len(sigma_w2), 3, 25)
        np.testing.assert_allclose(getattr(batched, name), getattr(looped, name), rtol=2e-4, err_msg=name)


def test_in_the_chaotic_phase_rounding_differences_grow_but_stay_small():
    """tanh at sigma_w2 = 6 amplifies float32 rounding by about chi^(l/2) per layer: the two
    computations (different summation order) then agree to a fraction of a percent only."""
    batched, looped = sweep("tanh", [6.0], 0.05, **SMALL), sweep_by_loop("tanh", [6.0], 0.05, **SMALL)
    np.testing.assert_allclose(batched.grad_norm, looped.grad_norm, rtol=1e-2)
    np.testing.assert_allclose(batched.q, looped.q, rtol=1e-3)


def test_deep_in_chaos_single_networks_disagree_but_their_average_does_not():
    grid = dict(depth=50, width=64, seeds=4, batch=32)
    batched, looped = sweep("tanh", [10.0], 0.05, **grid), sweep_by_loop("tanh", [10.0], 0.05, **grid)
    assert np.max(np.abs(batched.grad_norm / looped.grad_norm - 1)) > 0.1
    assert np.max(np.abs(batched.log10_ratio.mean(axis=1) - looped.log10_ratio.mean(axis=1))) < 0.3


def test_one_seed_gives_the_same_networks_at_every_sigma_w2():
    """Common random numbers: bias-free ReLU is homogeneous, so the forward signal at sigma_w2 = 4
    is exactly (4/1)^(l/2) times the one at sigma_w2 = 1, network by network."""
    result = sweep("relu", [1.0, 4.0], 0.0, **SMALL)
    layers = np.arange(1, 26)
    np.testing.assert_allclose(result.q[1] / result.q[0], np.broadcast_to(4.0**layers, (3, 25)), rtol=1e-4)
    assert not np.allclose(result.q[0, 0], result.q[0, 1])  # different seeds, different networks


def test_log10_ratio_and_overflow():
    result = sweep("relu", [2.0, 60.0], 0.0, depth=80, width=16, seeds=2, batch=4)
    assert np.all(result.log10_ratio[0, :, 0] == 0)
    assert result.overflowed.tolist() == [[False, False], [True, True]]
    assert np.isnan(result.log10_ratio[1]).any() and np.isfinite(result.log10_ratio[0]).all()


def test_sweep_rejects_a_grid_too_large_for_memory_with_its_size():
    needed = sweep_bytes(40, 16, 100, 512, 256)
    assert 3.6e10 < needed < 3.8e10  # mostly the 40 x 16 x 100 x 256 x 512 slopes kept for the backward pass
    with pytest.raises(ValueError, match=r"would need about 37 GB \(40 sigma_w2 values x 16 seeds x 100 layers "
                                         r"x 256 inputs x 512 units, float32\), more than the limit of 1\.1 GB"):
        sweep("tanh", np.linspace(0.5, 4, 40), 0.0, depth=100, width=512, seeds=16, batch=256)
    with pytest.raises(ValueError, match="limit of 0.001 GB"):
        sweep("tanh", [1.0], max_bytes=10**6, depth=50, width=64, seeds=8)


@pytest.mark.parametrize("kwargs, message", [
    (dict(activation="swish"), "unknown activation 'swish'"),
    (dict(sigma_w2=[]), "sigma_w2 must be a number or a non-empty list"),
    (dict(sigma_w2=[1.0, -2.0]), r"sigma_w2 \(weight variance\) must be greater than 0"),
    (dict(sigma_b2=-0.1), "sigma_b2 .* at least 0"),
    (dict(seeds=0), "seeds must be at least 1"),
    (dict(depth=2.5), "depth must be a whole number"),
    (dict(device="tpu"), "unknown device 'tpu'"),
])
def test_sweep_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sweep(**{**dict(depth=5, width=8, seeds=1, batch=2), **kwargs})


# --- phase diagram ---------------------------------------------------------------------------------

@pytest.mark.parametrize("activation, sigma_b2", [("tanh", 0.05), ("relu", 0.0), ("sigmoid", 0.0)])
def test_the_measured_neutral_point_sits_on_the_mean_field_one(activation, sigma_b2):
    result = phase_diagram(activation, sigma_b2, depth=40, width=128, seeds=4, points=17)
    assert result.measured.shape == (17, 40)
    assert result.measured_neutral == pytest.approx(result.theory_neutral, rel=0.1)
    assert result.theory_neutral == pytest.approx(result.critical, rel=0.1)
    # deep in the ordered phase the gradient vanishes, deep in the chaotic phase it explodes
    assert result.measured[0, -1] < -3 and result.measured[-1, -1] > 3


def test_phase_diagram_names_the_overflow():
    result = phase_diagram("relu", 0.0, depth=100, width=16, seeds=1, points=5)
    assert "float32 overflowed for sigma_w2 >= 16" in result.warning


def test_a_ratio_that_never_reaches_one_on_the_grid_is_a_warning_not_nan():
    narrow = phase_diagram("tanh", 0.05, depth=50, width=4, seeds=4)  # narrow tanh nets vanish at every sigma_w2
    assert np.isnan(narrow.measured_neutral) and np.nanmax(narrow.measured[:, -1]) < 0
    assert "the measured ratio at depth 50 never rises through 1 on this grid" in narrow.warning
    text = describe_phase_diagram(narrow)
    assert "σ_w² = none on the grid measured" in text and "nan" not in text.lower()
    assert phase_diagram("tanh", 0.05, depth=10, width=64, seeds=2, points=9).warning is None


# --- finite width --------------------------------------------------------------------------------

def test_relu_networks_spread_as_the_five_over_n_law_says():
    result = finite_width("relu", 2.0, 0.0, depth=40, width=64, seeds=256)
    mean, std = result.law
    assert result.spread[[9, 19, 39]] == pytest.approx(std[[9, 19, 39]], rel=0.15)
    assert result.log_q_deviation.mean(axis=0)[-1] == pytest.approx(mean[-1], abs=0.3)
    narrow = finite_width("relu", 2.0, 0.0, depth=40, width=16, seeds=256)
    assert 1.6 < narrow.spread[-1] / result.spread[-1] < 2.6  # about sqrt(64/16) = 2


def test_silent_networks_are_named_and_left_out_of_the_spread():
    """At width 6 about half the ReLU networks go silent (every unit of some layer inactive): the spread
    is over the others, and the warning says how many and why."""
    result = finite_width("relu", 2.0, 0.0, depth=50, width=6, seeds=64)
    silent = result.silent
    assert 0 < silent.sum() < 64 and np.all(np.isneginf(result.log_q_deviation[silent, -1]))
    assert result.spread[-1] == pytest.approx(result.log_q_deviation[~silent, -1].std(ddof=1))
    assert f"{silent.sum()} of 64 networks went silent" in result.warning
    assert f"over the {64 - silent.sum()} networks still finite" in result.warning
    assert "nan" not in describe_finite_width(result).lower()


@pytest.mark.parametrize("kwargs, cause", [(dict(width=2), "64 of 64 networks went silent"),
                                           (dict(sigma_w2=100.0), "float32 overflowed (the signal grew past 3.4e38)")])
def test_no_network_left_at_the_last_layer_reads_undefined_and_the_warning_says_why(kwargs, cause):
    result = finite_width(**kwargs)
    assert np.isnan(result.spread[-1])
    assert cause in result.warning and "no spread at the last layer to measure" in result.warning
    text = describe_finite_width(result)
    assert "at the last layer undefined" in text and "nan" not in text.lower()


def test_at_the_book_settings_no_network_is_silent_and_there_is_no_warning():
    result = finite_width()
    assert not result.silent.any() and result.warning is None
    assert result.spread[-1] == pytest.approx(result.log_q_deviation[:, -1].std(ddof=1))


# --- Jacobian spectra ------------------------------------------------------------------------------

def test_orthogonal_linear_network_is_an_exact_isometry_and_gaussian_is_not():
    orthogonal = jacobian_spectrum("identity", "orthogonal", 1.0, depth=20, width=64, inputs=2)
    gaussian = jacobian_spectrum("identity", "normal", 1.0, depth=20, width=64, inputs=2)
    assert np.allclose(orthogonal.singular_values, 1.0, atol=1e-4)
    assert gaussian.singular_values.max() > 3 and gaussian.log10_spread > 1
    assert np.mean(gaussian.singular_values**2) == pytest.approx(1.0, rel=0.5)  # the mean square is kept


def test_orthogonal_tanh_is_better_conditioned_than_gaussian_but_relu_is_not_helped():
    tanh = [jacobian_spectrum("tanh", init, 1.0, depth=20, width=64) for init in ("normal", "orthogonal")]
    relu = [jacobian_spectrum("relu", init, 2.0, depth=20, width=64) for init in ("normal", "orthogonal")]
    assert tanh[1].log10_spread < 0.5 * tanh[0].log10_spread and tanh[1].tiny_fraction == 0
    assert relu[1].tiny_fraction > 0.4  # the last layer's switched-off units give exact zeros


# --- init experiment and symmetry ----------------------------------------------------------------

def test_init_experiment_predicts_pytorch_default_and_he():
    default = init_experiment("relu", depth=20, width=256, init="default")
    assert float(default.theory.sigma_w2) == pytest.approx(1 / 3)
    assert default.flow.ratio == pytest.approx(default.theory_ratio, rel=0.5)
    assert default.theory_ratio == pytest.approx((1 / 6) ** 9.5, rel=1e-9)
    he = init_experiment("relu", depth=20, width=256, init="he")
    assert 0.5 < he.flow.ratio < 2 and he.theory_ratio == pytest.approx(1.0)


def test_init_explorer_readout_gives_measured_and_theory():
    explorer = init_explorer()
    assert "measured" in explorer.readout.value and "mean field" in explorer.readout.value
    explorer.controls["init"].value = "he"
    assert "he (σ_w²=2" in explorer.readout.value


def test_constant_init_stays_symmetric_through_training():
    run = train_network(depth=4, width=16, activation="tanh", init="constant", steps=30)
    body = run.model[0]
    assert all(row_spread(layer.weight) == 0 for layer in body.linears[:-1])
    assert row_spread(body.linears[-1].weight) > 0.01  # only the top layer's rows differ...
    top = body.linears[-1].weight.detach()
    assert torch.allclose(top, top[:, :1].expand_as(top))  # ...and its columns are all alike


def test_explorers_are_registered():
    assert phase_diagram_explorer().error is None
