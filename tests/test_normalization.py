"""Normalisation in a deep plain network (chapter 3 §10): the physics at initialisation, a training run,
bad input, and the explorer driven as a reader drives it."""

import math

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from utils.explorer import alternative_value
from utils.normalization import (NormalizedBlock, describe_normalization, normalization, normalization_explorer,
                                 plot_normalization, predicted_growth, train_normalized)

matplotlib.use("Agg")


def test_the_large_batch_theory_gives_pi_over_pi_minus_one_for_relu_and_one_for_layernorm():
    assert abs(predicted_growth("relu", "batchnorm") ** 2 - math.pi / (math.pi - 1)) < 1e-9
    assert abs(predicted_growth("relu", "layernorm") - 1) < 1e-9
    # tanh is odd: centring over the batch changes nothing, so both norms predict the same, above 1
    tanh_bn, tanh_ln = predicted_growth("tanh", "batchnorm"), predicted_growth("tanh", "layernorm")
    assert abs(tanh_bn - tanh_ln) < 1e-9 and 1.08 < tanh_bn < 1.09
    assert math.isnan(predicted_growth("relu", "none"))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_batchnorm_gradients_grow_per_layer_as_the_large_batch_theory_says(activation):
    result = normalization(depth=50, activation=activation, norm="batchnorm", batch=64)
    assert abs(result.growth / result.predicted_growth - 1) < 0.02, (result.growth, result.predicted_growth)


def test_batchnorm_gradient_growth_rises_as_the_batch_shrinks():
    growth = [normalization(depth=30, width=128, norm="batchnorm", batch=b).growth for b in (4, 16, 128)]
    assert growth[0] > growth[1] > growth[2] > 1.15
    assert growth[0] > 1.5


def test_the_batchnorm_gradient_ratio_grows_geometrically_with_depth_whatever_the_weight_scale():
    ratios = [normalization(depth=d, width=128, norm="batchnorm", batch=64).ratio for d in (10, 20, 40)]
    assert ratios[0] < ratios[1] < ratios[2] and ratios[2] > 500
    small = normalization(depth=40, width=128, norm="batchnorm", batch=64, sigma_w2=0.5)
    assert abs(math.log10(small.ratio / ratios[2])) < 0.3  # BatchNorm removes the weight scale


def test_layernorm_keeps_the_signal_scale_and_the_relu_gradient_flat_even_at_a_wrong_weight_scale():
    for sigma_w2 in (0.5, 2.0, 8.0):
        result = normalization(depth=50, activation="relu", norm="layernorm", sigma_w2=sigma_w2)
        later = result.q[1:] / sigma_w2  # from layer 2 on: sigma_w2 times the mean square of relu(unit Gaussian)
        assert np.abs(later - 0.5).max() < 0.15 and abs(later.mean() - 0.5) < 0.05, sigma_w2
        assert 0.3 < result.ratio < 3 and abs(result.growth - 1) < 0.01


def test_without_a_norm_he_keeps_relu_healthy_and_a_wrong_scale_does_not():
    he = normalization(depth=50, activation="relu", norm="none")
    assert 0.3 < he.ratio < 3 and 1 < he.q[-1] < 5
    xavier = normalization(depth=50, activation="relu", norm="none", sigma_w2=1.0)
    assert xavier.q[-1] < 1e-12 and xavier.ratio < 1e-6


def test_batchnorm_keeps_inputs_distinct_where_relu_without_it_merges_them():
    plain = normalization(depth=50, norm="none")
    batchnorm = normalization(depth=50, norm="batchnorm")
    assert plain.correlation[-1] > 0.95 and batchnorm.correlation[-1] < 0.4
    assert abs(plain.correlation[0]) < 0.02  # independent Gaussian inputs start uncorrelated


def test_the_block_is_linear_then_norm_then_activation_in_training_mode():
    torch.manual_seed(0)
    block = NormalizedBlock(8, 16, "relu", "batchnorm")
    x = torch.randn(32, 8)
    expected = torch.relu(nn.functional.batch_norm(block.linear(x), None, None, training=True, eps=block.norm.eps))
    assert torch.allclose(block(x), expected, atol=1e-6)


def test_layernorm_makes_a_wrongly_scaled_deep_relu_net_train_and_batchnorm_does_not():
    runs = {norm: train_normalized(depth=32, norm=norm, sigma_w2=1.0, lr=0.02, steps=200, batch=128)
            for norm in ("none", "batchnorm", "layernorm")}
    assert runs["layernorm"].losses[-10:].mean() < runs["none"].losses[-10:].mean() - 0.1
    assert runs["layernorm"].accuracy > 0.4
    assert runs["batchnorm"].losses[-10:].mean() > 1.3 and runs["none"].accuracy < 0.31


@pytest.mark.parametrize("kwargs, message", [
    (dict(norm="groupnorm"), "unknown normalisation 'groupnorm'; choose one of: none, batchnorm, layernorm"),
    (dict(depth=0), "depth must be at least 1, got 0"),
    (dict(norm="batchnorm", batch=1), "batch size must be at least 2 with batchnorm"),
    (dict(activation="sigmoid"), "unknown activation 'sigmoid'; choose one of: relu, tanh"),
    (dict(sigma_w2=0.0), "sigma_w2 .* greater than 0"),
])
def test_bad_input_is_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        normalization(**kwargs)


def test_one_input_is_fine_without_batchnorm():
    result = normalization(depth=5, norm="layernorm", batch=1)
    assert math.isnan(result.correlation[-1]) and np.all(np.isfinite(result.q))


def test_one_layer_has_no_growth_to_fit_and_says_so_instead_of_nan():
    one = normalization(depth=1)
    assert math.isnan(one.growth)
    text = describe_normalization(one)
    assert "growth per layer: none to fit at depth 1" in text and "nan" not in text.lower()
    fig = matplotlib.figure.Figure()
    plot_normalization(one, fig.subplots(1, 3))
    assert "nan" not in fig.axes[2].get_title().lower()
    assert "growth 0.53 per layer going down" in describe_normalization(normalization(depth=2))


def test_plot_draws_three_panels():
    fig = matplotlib.figure.Figure()
    axes = fig.subplots(1, 3)
    plot_normalization([normalization(depth=5, norm=n) for n in ("none", "batchnorm")], axes)
    assert all(len(ax.lines) == 2 for ax in axes)


def test_the_explorer_moves_and_shows_bad_input_as_a_message():
    explorer = normalization_explorer(depth=10, device="cpu")
    for key, control in explorer.controls.items():
        before = explorer.readout.value
        control.value = alternative_value(control)
        assert explorer.error is None, (key, explorer.error)
        if key != "device":
            assert explorer.readout.value != before, key
    explorer.controls["norm"].value = "batchnorm"
    explorer.controls["batch"].value = 1
    assert "at least 2 with batchnorm" in explorer.message.value and explorer.image.layout.display == "none"
    explorer.controls["batch"].value = 8
    assert explorer.error is None and "batch 8" in explorer.readout.value


@pytest.mark.parametrize("device", ["mps", "cuda"])
def test_float64_is_refused_off_the_cpu(device):
    from utils.normalization import _check_dtype  # the guard itself: no MPS or CUDA device on the test machine
    assert _check_dtype(torch.float64, torch.device("cpu")) == torch.float64
    with pytest.raises(ValueError, match=f"float64 runs on the CPU only .* got device {device}"):
        _check_dtype(torch.float64, torch.device(device))
