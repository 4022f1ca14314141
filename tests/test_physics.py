"""Physics of chapter 1: probes, gradient flow, products of random matrices, training.

These assert what the book claims, e.g. the gradient ratio across 30 sigmoid layers.
"""

import numpy as np
import pytest
import torch

from utils import build_network, gradient_flow, probe_network
from utils.matrix_products import matrix_products
from utils.training import guessing_baseline, plot_update_ratio, teacher_data, train_network


def _readout(width, seed=1):
    r = torch.randn(width, generator=torch.Generator().manual_seed(seed)) / width**0.5
    return lambda h: (h @ r).mean()


# --- the probe reads what autograd computes ------------------------------------------------------

def test_probe_matches_a_hand_written_backward_pass():
    torch.manual_seed(0)
    net = build_network(6, 16, activation="tanh", init="normal", sigma_w2=1.5, seed=0)
    x = torch.randn(32, 16)
    loss_fn = _readout(16)
    probe = probe_network(net, x, loss_fn)

    hs, h = [], x
    for block in net.blocks:
        h = block(h)
        hs.append(h)
    grads = torch.autograd.grad(loss_fn(hs[-1]), hs)
    assert np.allclose(probe.grad_act_norm, [float(g.norm()) for g in grads], rtol=1e-5)
    assert np.allclose(probe.act_std, [float(h.detach().std()) for h in hs], rtol=1e-5)
    assert np.allclose(probe.input_spread, [float(h.detach().std(0).mean()) for h in hs], rtol=1e-5)
    assert probe.hist_counts.sum(axis=1) == pytest.approx(np.full(6, 32 * 16))


def test_probe_histograms_are_torch_histc_over_the_finite_values():
    net = build_network(4, 16, activation="relu", init="normal", sigma_w2=2.0, seed=3)
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(3))
    probe = probe_network(net, x, _readout(16), bins=25)
    h = x
    for block, counts, edges in zip(net.blocks, probe.hist_counts, probe.hist_edges):
        h = block(h).detach()
        h64 = h.double()
        assert np.array_equal(counts, torch.histc(h64, 25, float(h64.min()), float(h64.max())).numpy())
        assert edges[0] == float(h64.min()) and edges[-1] == float(h64.max())

    with torch.no_grad():
        net.linears[2].weight[0, 0] = float("inf")  # row 0 of layer 3 becomes inf or NaN
    probe = probe_network(net, x, _readout(16), bins=25)
    assert "layer 3 of 4" in probe.overflow
    assert 0 < probe.hist_counts[2].sum() < 32 * 16 and np.isfinite(probe.act_std[2])


def test_a_single_value_per_layer_has_zero_spread_and_no_warning(recwarn):
    net = build_network(3, 1, activation="tanh", seed=0)
    probe = probe_network(net, torch.ones(1, 1), lambda y: y.pow(2).mean())
    assert np.all(probe.act_std == 0) and np.all(np.isnan(probe.input_spread))
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_relu_inactive_fraction_is_the_fraction_of_zeros():
    net = build_network(5, 64, activation="relu", init="he", seed=0)
    x = torch.randn(64, 64)
    probe = probe_network(net, x, _readout(64))
    zeros, h = [], x
    for block in net.blocks:
        h = block(h)
        zeros.append(float((h == 0).float().mean()))
    assert np.allclose(probe.frac_inactive, zeros)


# --- vanishing and exploding ---------------------------------------------------------------------

def test_thirty_sigmoid_layers_lose_the_gradient_but_he_relu_keeps_it():
    sigmoid = gradient_flow(depth=30, width=128, activation="sigmoid", sigma_w2=1.0)
    relu = gradient_flow(depth=30, width=128, activation="relu", init="he")
    assert sigmoid.ratio < 1e-15 and sigmoid.verdict == "vanishing"
    assert 0.3 < relu.ratio < 3 and relu.verdict == "healthy"


def test_sigmoid_gradient_obeys_the_quarter_slope_bound_layer_by_layer():
    """||dl/dh_{l-1}|| <= ||W_l||_2 * max sigma' * ||dl/dh_l|| with max sigma' = 1/4: a rigorous bound."""
    result = gradient_flow(depth=20, width=64, activation="sigmoid", sigma_w2=4.0)
    net = build_network(20, 64, activation="sigmoid", init="normal", sigma_w2=4.0, seed=0)
    spectral = np.array([float(torch.linalg.matrix_norm(layer.weight.detach(), ord=2)) for layer in net.linears])
    g = result.probe.grad_act_norm
    assert np.all(g[:-1] <= spectral[1:] * 0.25 * g[1:] * (1 + 1e-5))


@pytest.mark.parametrize("sigma_w2", [1.0, 2.0, 4.0])
def test_relu_gradient_ratio_follows_the_weight_scale(sigma_w2):
    result = gradient_flow(depth=30, width=256, activation="relu", sigma_w2=sigma_w2)
    predicted = (sigma_w2 / 2) ** (29 / 2)
    assert 0.5 < result.ratio / predicted < 2


def test_bias_free_relu_weight_gradients_scale_together():
    ratios = []
    for sigma_w2 in (0.5, 2.0, 8.0):
        probe = gradient_flow(depth=12, width=32, activation="relu", sigma_w2=sigma_w2).probe
        ratios.append(probe.grad_weight_norm[0] / probe.grad_weight_norm[-1])
    assert np.allclose(ratios, ratios[0], rtol=1e-4)


def test_he_init_keeps_the_relu_signal_within_a_band_and_sigma_one_does_not():
    def second_moments(sigma_w2):
        probe = gradient_flow(depth=30, width=512, activation="relu", sigma_w2=sigma_w2).probe
        return probe.act_std**2 + probe.act_mean**2

    he, small = second_moments(2.0), second_moments(1.0)
    assert np.all((he / he[0] > 0.5) & (he / he[0] < 2.0))
    assert small[-1] / small[0] < 1e-7  # (1/2)^29 = 1.9e-9 predicted


def test_orthogonal_linear_network_preserves_lengths_exactly():
    result = gradient_flow(depth=40, width=64, activation="identity", init="orthogonal")
    n = 128 * 64  # batch x width entries
    mean_square = result.probe.act_std**2 * (n - 1) / n + result.probe.act_mean**2
    assert np.allclose(mean_square, mean_square[0], rtol=1e-4)
    assert result.ratio == pytest.approx(1.0, rel=1e-4)


def test_overflow_names_the_first_layer_that_is_not_finite():
    result = gradient_flow(depth=100, activation="relu", sigma_w2=30.0)
    net = build_network(100, 128, activation="relu", init="normal", sigma_w2=30.0, seed=0)
    h = torch.randn(128, 128, generator=torch.Generator().manual_seed(1))
    first_bad = None
    with torch.no_grad():
        for i, block in enumerate(net.blocks):
            h = block(h)
            if not torch.isfinite(h).all():
                first_bad = i + 1
                break
    assert first_bad is not None
    assert f"overflowed to inf/NaN at layer {first_bad} of 100" in result.warning
    assert result.verdict == "overflow"


def test_a_healthy_network_has_no_warning():
    assert gradient_flow(depth=10).warning is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(activation="swish"), "unknown activation 'swish'; choose one of: sigmoid, tanh, relu"),
    (dict(depth=0), "depth must be at least 1"),
    (dict(sigma_w2=-1.0), "sigma_w2 .* at least 0"),
    (dict(batch=1), "batch must be at least 2"),
    (dict(device="gpu"), "unknown device 'gpu'"),
])
def test_gradient_flow_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradient_flow(**kwargs)


# --- products of random matrices ------------------------------------------------------------------

def test_mean_square_norm_grows_as_scale_to_the_depth_but_the_median_lags():
    result = matrix_products(depth=10, width=32, scale=1.2, trials=2000)
    mean_square = np.mean(result.norms[:, -1] ** 2)
    assert mean_square == pytest.approx(1.2 ** 20, rel=0.1)
    typical = 1.2**10 * np.exp(-10 / (2 * 32))
    assert np.median(result.norms[:, -1]) == pytest.approx(typical, rel=0.1)


def test_matrix_products_reject_a_zero_scale():
    with pytest.raises(ValueError, match="scale must be greater than 0"):
        matrix_products(scale=0.0)


# --- learning ------------------------------------------------------------------------------------

def test_teacher_data_is_balanced_enough_to_learn():
    _, y, _, y_test = teacher_data()
    counts = np.bincount(y.numpy(), minlength=4) / len(y)
    assert counts.min() > 0.1 and len(y_test) == 1024


def test_deep_sigmoid_first_layer_does_not_move_but_he_relu_learns():
    sigmoid = train_network(depth=20, activation="sigmoid", steps=100)
    relu = train_network(depth=20, activation="relu", sigma_w2=2.0, steps=100)
    assert sigmoid.rel_change[0] == 0.0 and sigmoid.rel_change[-1] > 1e-3
    assert relu.rel_change[0] > 0.05 and relu.losses[-1] < sigmoid.losses[-1]


def test_one_sgd_step_moves_each_layer_by_lr_times_its_gradient_to_weight_ratio():
    run = train_network(depth=4, activation="relu", sigma_w2=2.0, lr=0.05, steps=1)
    assert np.allclose(run.rel_change, 0.05 * run.grad_to_weight, rtol=1e-4)
    deep = train_network(depth=20, activation="sigmoid", steps=1)
    assert deep.grad_to_weight[0] < 1e-10 * deep.grad_to_weight[-1]  # chapter 1's vanishing, per step


def test_update_to_data_ratio_vanishes_down_a_deep_sigmoid_and_not_down_a_he_relu_net():
    sigmoid = train_network(depth=20, activation="sigmoid", steps=30, track_update_ratio=True)
    relu = train_network(depth=20, activation="relu", sigma_w2=2.0, steps=30, track_update_ratio=True)
    untracked = train_network(depth=2, steps=2)
    assert sigmoid.update_ratio.shape == (30, 20) and untracked.update_ratio is None
    with pytest.raises(ValueError, match="track_update_ratio=True"):
        plot_update_ratio(untracked, None)
    # below float32's resolution the first layer's updates are lost entirely; the top layer's are near 1e-3
    assert np.all(sigmoid.update_ratio[:, 0] < 1e-6) and np.all(sigmoid.update_ratio[:, -1] > 1e-4)
    assert sigmoid.frac_changed[0] == 0.0 and sigmoid.frac_changed[-1] == 1.0
    assert np.all(relu.update_ratio > 1e-4) and np.all(relu.update_ratio < 1e-1)
    # one SGD step: the recorded ratio is the step the gradient asked for (lr x |dl/dW| / |W|)
    assert np.allclose(relu.update_ratio[0], 0.1 * relu.grad_to_weight, rtol=1e-3)


def test_a_fresh_classifier_starts_near_ln_k_and_an_exploding_one_far_above():
    he = train_network(depth=20, activation="relu", sigma_w2=2.0, steps=1)
    exploding = train_network(depth=20, activation="relu", sigma_w2=3.0, steps=1)
    assert abs(he.losses[0] - np.log(4)) < 0.05 and exploding.losses[0] > 5 * np.log(4)
    assert exploding.grad_norm > 100 * he.grad_norm


def test_guessing_baseline_is_the_best_constant_prediction():
    loss, accuracy = guessing_baseline()
    _, y, _, y_test = teacher_data()
    freq = torch.bincount(y).double() / len(y)
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(freq.log().expand(len(y), -1), y)))
    for other in (torch.full((4,), 0.25, dtype=torch.float64), torch.tensor([0.4, 0.1, 0.2, 0.3], dtype=torch.float64)):
        assert float(torch.nn.functional.cross_entropy(other.log().expand(len(y), -1), y)) > loss
    assert accuracy == max(float((y_test == c).double().mean()) for c in range(4))


def test_clipping_keeps_an_exploding_network_from_diverging():
    exploding = train_network(depth=20, activation="relu", sigma_w2=3.0, steps=30)
    clipped = train_network(depth=20, activation="relu", sigma_w2=3.0, steps=30, clip=1.0)
    assert exploding.diverged_at is not None
    assert clipped.diverged_at is None and clipped.losses[-1] < clipped.losses[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(optimizer="lbfgs"), "unknown optimizer 'lbfgs'; choose one of: sgd, adam"),
    (dict(lr=0.0), "lr must be greater than 0"),
    (dict(clip=-1.0), "clip must be greater than 0"),
    (dict(steps=0), "steps must be at least 1"),
])
def test_training_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_network(**kwargs)
