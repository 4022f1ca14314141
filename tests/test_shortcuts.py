"""Physics of chapter 2: Raschka's five-layer gradients reproduced, shortcuts against depth, five residual schemes against
their mean-field prediction, pre- against post-norm transformer stacks."""

import math

import numpy as np
import pytest
import torch

from utils.norm_placement import build_transformer, expected_gradients, norm_placement, norm_placement_explorer
from utils.residual_scaling import (SCHEMES, TwoLayerResidualBlock, build_residual_stack, residual_scaling,
                                    residual_theory, stream_statistics)
from utils.shortcuts import (RASCHKA_PUBLISHED, five_layer_gradients, gradient_correlation, shortcut_comparison,
                             shortcut_explorer)

# --- Raschka's five-layer network -----------------------------------------------------------------


@pytest.mark.parametrize("shortcut", [False, True])
def test_published_five_layer_values_are_reproduced(shortcut):
    measured = five_layer_gradients(shortcut).mean_abs_grad
    assert np.allclose(measured, RASCHKA_PUBLISHED[shortcut], rtol=1e-6, atol=0)


@pytest.mark.parametrize("shortcut", [False, True])
def test_five_layer_float32_is_within_rounding_of_float64(shortcut):
    single, double = five_layer_gradients(shortcut).mean_abs_grad, five_layer_gradients(shortcut, "float64").mean_abs_grad
    assert np.allclose(single, double, rtol=2e-6, atol=0)


def test_five_layer_shortcuts_flatten_the_first_four_layers():
    plain, residual = five_layer_gradients(False).mean_abs_grad, five_layer_gradients(True).mean_abs_grad
    assert plain[3] / plain[0] > 5  # without shortcuts layer 1 gets far less than layer 4
    assert 0.5 < residual[3] / residual[0] < 2  # with them, about the same


# --- with and without shortcuts -------------------------------------------------------------------


def test_at_depth_50_shortcuts_rescue_the_sigmoid_gradient():
    result = shortcut_comparison(depth=50, activation="sigmoid", sigma_w2=1.0)
    assert result.plain.ratio < 1e-20
    assert 0.1 < result.residual.ratio < 10
    plain, residual = result.first_layer
    assert residual / plain > 1e20


def test_at_depth_50_relu_shortcuts_turn_vanishing_into_exploding():
    result = shortcut_comparison(depth=50, activation="relu", sigma_w2=1.0)
    assert result.plain.ratio < 1e-6  # (1/2)^(49/2) ~ 4e-8
    assert result.residual.ratio > 1e4  # each I + DW multiplies the mean-square gradient by more than 1


def test_deep_plain_relu_gradients_shatter_and_shortcuts_keep_them_alike():
    # Balduzzi et al. (2017): nearby inputs' gradients decorrelate with depth without shortcuts
    r = gradient_correlation(depths=(1, 32), networks=2, points=32)
    assert r.plain.shape == (2, 2) and np.all(np.abs(r.plain) <= 1 + 1e-12)
    assert r.plain[0].min() > 0.9 and r.plain[1].max() < 0.8
    assert r.residual.min() > 0.85


def test_gradient_correlation_is_one_for_a_zero_step_limit():
    r = gradient_correlation(depths=(8,), networks=1, points=8, step=1e-6)
    assert r.plain[0, 0] > 0.999 and r.residual[0, 0] > 0.999  # the same input, the same gradient


def test_shortcut_explorer_readout_names_the_state_and_the_number():
    explorer = shortcut_explorer(depth=10)
    assert "shortcuts on" in explorer.readout.value
    first = explorer.result.focus.probe.grad_weight_norm[0]
    explorer.controls["shortcut"].value = False
    assert "shortcuts off" in explorer.readout.value
    assert explorer.result.focus.probe.grad_weight_norm[0] != first


# --- residual schemes -----------------------------------------------------------------------------


def test_forward_growth_is_ordered_across_the_schemes():
    result = residual_scaling(depth=30, width=64)
    growth = {scheme: result.growth(scheme) for scheme in SCHEMES}
    assert growth["unscaled"] > 1e6 * growth["pre-norm"]
    assert growth["pre-norm"] > 5 * growth["1/sqrt(L)"]
    assert growth["1/sqrt(L)"] > 1.5
    assert growth["rezero"] == pytest.approx(1.0, abs=1e-12)  # both are the identity at initialisation
    assert growth["fixup"] == pytest.approx(1.0, abs=1e-12)


def test_relu_theory_has_closed_forms():
    depth = 40
    assert residual_theory("unscaled", depth).mean_square[-1] == pytest.approx(2.0**depth, rel=1e-6)
    assert residual_theory("1/sqrt(L)", depth).mean_square[-1] == pytest.approx((1 + 1 / depth) ** depth, rel=1e-6)
    pre = residual_theory("pre-norm", depth)
    assert np.allclose(pre.mean_square, 1 + np.arange(depth + 1), rtol=1e-6)
    layers = np.arange(1, depth + 1)  # going down, block k multiplies ||g||^2 by (k + 1)/k
    assert np.allclose(pre.grad_ratio, np.sqrt((depth + 1) / (layers + 1)), rtol=1e-6)
    assert np.allclose(residual_theory("unscaled", depth).grad_ratio, 2.0 ** ((depth - layers) / 2), rtol=1e-6)


@pytest.mark.parametrize("activation, sigma_w2", [("relu", 2.0), ("tanh", 1.0)])
def test_measured_growth_follows_the_theory(activation, sigma_w2):
    result = residual_scaling(depth=30, width=256, activation=activation, sigma_w2=sigma_w2)
    for scheme in ("1/sqrt(L)", "pre-norm"):
        assert result.growth(scheme) == pytest.approx(result.predicted_growth(scheme), rel=0.15), scheme
        measured = result.grad_norm[scheme][0] / result.grad_norm[scheme][-1]
        assert measured == pytest.approx(result.theory[scheme].grad_ratio[0], rel=0.25), scheme
    # exponential growth: one network scatters around the prediction (over seeds, log10 std ~0.2 here)
    assert abs(math.log10(result.growth("unscaled") / result.predicted_growth("unscaled"))) < 0.6


def test_one_unscaled_relu_block_doubles_the_mean_square_on_average():
    # given h, z ~ N(0, sigma_1^2 v) exactly, E[relu(z)^2] = sigma_1^2 v / 2, and W2 adds no cross term:
    # E[v_1 / v_0] = 1 + sigma_1^2 sigma_2^2 / 2 = 2 at any width
    factors = [stream_statistics("unscaled", depth=1, width=32, seed=seed).mean_square for seed in range(200)]
    ratio = np.array([v[1] / v[0] for v in factors])
    assert abs(ratio.mean() - 2) < 3 * ratio.std() / math.sqrt(len(ratio))
    assert ratio.std() > 0.05  # one network is not the average


def test_stream_statistics_agree_with_residual_scaling():
    stats = stream_statistics("pre-norm", depth=8, width=32, seed=3)
    probed = residual_scaling(depth=8, width=32, scheme="pre-norm", seed=3)
    assert np.allclose(stats.mean_square, probed.mean_square["pre-norm"], rtol=1e-5)


def test_relu_streams_become_shared_and_tanh_streams_do_not():
    relu = stream_statistics("unscaled", depth=40, activation="relu", sigma_w2=2.0)
    tanh = stream_statistics("unscaled", depth=40, activation="tanh", sigma_w2=1.0)
    assert relu.shared[0] < 0.1 and relu.shared[-1] > 0.7  # ReLU's positive mean piles up in one direction
    assert tanh.shared[-1] < 0.15  # an odd activation has no common part to pile up
    assert np.all(np.abs(relu.mean) < 0.3 * np.sqrt(relu.mean_square))  # the overall mean stays small


def test_zero_gain_and_zero_last_layer_give_the_identity():
    x = torch.randn(8, 16)
    assert torch.equal(TwoLayerResidualBlock(16, "relu", branch_gain=0.0)(x), x)
    fixup = build_residual_stack("fixup", 5, 16)
    assert all(torch.count_nonzero(block.linear_out.weight) == 0 for block in fixup.blocks)
    assert torch.equal(fixup(x), x)
    rezero = build_residual_stack("rezero", 5, 16)
    assert all(isinstance(block.gain, torch.nn.Parameter) for block in rezero.blocks)


# --- pre- and post-norm ---------------------------------------------------------------------------


def test_last_layer_gradient_scales_as_xiong_et_al_predict():
    shallow, deep = norm_placement(depth=6), norm_placement(depth=24)
    pre_scaled = deep.last_layer("pre") * math.sqrt(24) / (shallow.last_layer("pre") * math.sqrt(6))
    assert 0.75 < pre_scaled < 1.33  # pre-norm: O(1/sqrt(L))
    assert 0.75 < deep.last_layer("post") / shallow.last_layer("post") < 1.5  # post-norm: does not shrink with L
    assert deep.spread("pre") < 0.6  # pre-norm: the first layers get more than the last
    assert 0.5 < deep.spread("post") < 2  # post-norm: about level at initialisation


def test_expected_gradient_averages_batches_before_the_norm():
    r = expected_gradients(depth=3, batches=40, norm_batches=40, width=16, heads=2, tokens=4)
    for norm in ("post", "pre"):
        assert np.all(r.of_mean[norm] <= r.per_batch[norm] * (1 + 1e-9))  # the norm of a mean <= mean of norms
        assert np.all(r.of_mean[norm] > 0)
    # norm_batches=1 is norm_placement's mini-batch alone
    one = expected_gradients(depth=3, batches=2, norm_batches=1, width=16, heads=2, tokens=4)
    probe = norm_placement(depth=3, width=16, heads=2, tokens=4, device="cpu").probes["pre"]
    assert np.allclose(one.per_batch["pre"], probe.grad_weight_norm, rtol=1e-6)


def test_expected_gradient_of_a_deep_post_norm_stack_grows_towards_the_output():
    r = expected_gradients(depth=48, batches=64, seed=1)
    assert r.spread("post") > 2.5 and r.spread("post", expected=False) < r.spread("post")  # Xiong et al.'s profile
    assert r.spread("pre") < 0.4  # pre-norm's first layers still get more


def test_transformer_blocks_put_the_norm_where_they_say():
    net, final = build_transformer(2, width=16, heads=2, norm="post")
    out = net(torch.randn(3, 5, 16) * 4 + 2)
    assert torch.allclose(out.mean(-1), torch.zeros(3, 5), atol=1e-5)  # post-norm ends on a LayerNorm
    net, final = build_transformer(2, width=16, heads=2, norm="pre")
    assert isinstance(final, torch.nn.LayerNorm)


def test_norm_placement_explorer_reacts_to_depth():
    explorer = norm_placement_explorer(depth=4)
    before = explorer.readout.value
    explorer.controls["depth"].value = 6
    assert "depth 6," in explorer.readout.value and explorer.readout.value != before


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    (lambda: five_layer_gradients(True, dtype="float16"), "unknown dtype 'float16'; choose one of: float32, float64"),
    (lambda: residual_theory("batchnorm", 10), r"unknown scheme 'batchnorm'; choose one of: unscaled, 1/sqrt\(L\)"),
    (lambda: residual_scaling(sigma_w2=0.0), "sigma_w2 .* greater than 0"),
    (lambda: residual_theory("unscaled", 10, input_v=0.0), "input_v .* greater than 0"),
    (lambda: stream_statistics("all"), "unknown scheme 'all'"),
    (lambda: stream_statistics(batch=1), "batch must be at least 2"),
    (lambda: residual_scaling(depth=0), "depth must be at least 1"),
    (lambda: residual_scaling(activation="swish"), "unknown activation 'swish'"),
    (lambda: build_transformer(3, norm="sandwich"), "unknown norm placement 'sandwich'; choose one of: post, pre"),
    (lambda: build_transformer(3, width=30, heads=4), "width must be a multiple of heads"),
    (lambda: norm_placement(batch=1), "batch must be at least 2"),
    (lambda: expected_gradients(batches=1), "batches must be at least 2"),
    (lambda: expected_gradients(batches=4, norm_batches=5), "norm_batches must be at least 1 and at most 4"),
    (lambda: shortcut_comparison(depth=0), "depth must be at least 1"),
    (lambda: gradient_correlation(step=0.0), "step must be .*greater than 0"),
    (lambda: gradient_correlation(networks=0), "networks must be at least 1"),
    (lambda: shortcut_comparison(device="tpu"), "unknown device 'tpu'"),
])
def test_bad_input_names_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()
