"""Chapter 3's additions to the foundation: the symmetric init schemes, gradient histograms in the probe."""

import numpy as np
import pytest
import torch

from utils import build_network, probe_network
from utils.diagnostics import plot_layer_histograms
from utils.gradient_flow import gradient_flow
from utils.initialization import row_spread
from utils.plotting import new_figure
from utils.training import train_network


def _readout(width, seed=1):
    r = torch.randn(width, generator=torch.Generator().manual_seed(seed)) / width**0.5
    return lambda h: (h @ r).mean()


def test_constant_and_zero_schemes_set_every_entry():
    net = build_network(3, 8, activation="tanh", init="constant", sigma_w2=4.0, in_dim=5)
    assert torch.all(net.linears[0].weight == 2.0 / 5) and torch.all(net.linears[1].weight == 2.0 / 8)
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in net.linears)
    zeros = build_network(3, 8, init="zeros")
    assert all(torch.count_nonzero(p) == 0 for p in zeros.parameters())


def test_constant_init_gives_every_unit_the_same_gradient():
    net = build_network(4, 16, activation="tanh", init="constant", sigma_w2=1.5, in_dim=6)
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(0))
    head = torch.randn(16, generator=torch.Generator().manual_seed(1))
    probe_network(net, x, lambda h: (h @ head).mean())
    for layer in net.linears[:-1]:  # below the last layer every row of dl/dW is the same
        grad = layer.weight.grad
        assert torch.allclose(grad, grad[:1].expand_as(grad), rtol=1e-5, atol=1e-9)
        assert float(grad.abs().max()) > 0
    top = net.linears[-1].weight.grad  # the random readout tells the top units apart
    assert not torch.allclose(top, top[:1].expand_as(top))


def test_probe_gradient_histograms_cover_every_gradient_entry():
    net = build_network(5, 16, activation="tanh", init="normal", sigma_w2=1.5, seed=0)
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(0))
    probe = probe_network(net, x, _readout(16), bins=20)
    assert probe.grad_hist_counts.shape == (5, 20) and probe.grad_hist_edges.shape == (5, 21)
    assert probe.grad_hist_counts.sum(axis=1) == pytest.approx(np.full(5, 32 * 16))
    hs, h = [], x
    for block in net.blocks:
        h = block(h)
        hs.append(h)
    grads = torch.autograd.grad(_readout(16)(hs[-1]), hs)
    for g, edges in zip(grads, probe.grad_hist_edges):
        assert edges[0] == pytest.approx(float(g.min()), rel=1e-5) and edges[-1] == pytest.approx(float(g.max()), rel=1e-5)


def test_gradient_histograms_are_drawn_and_bad_kinds_rejected():
    result = gradient_flow(depth=8, width=16, activation="tanh")
    fig, ax = new_figure()
    plot_layer_histograms(result, ax, kind="gradients")
    assert len(ax.lines) == 5 and "gradients by layer" in ax.get_title()
    with pytest.raises(ValueError, match="unknown kind 'weights'; choose one of: activations, gradients"):
        plot_layer_histograms(result, ax, kind="weights")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("width", [17, 63])
def test_rows_of_constant_init_stay_exactly_equal_whatever_the_width_and_threads(threads, width):
    """Rounding does not break the symmetry: identical rows go through identical arithmetic."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        run = train_network(depth=4, width=width, activation="tanh", init="constant", steps=20, device="cpu")
    finally:
        torch.set_num_threads(before)
    for layer in run.model[0].linears[:-1]:
        assert row_spread(layer.weight) == 0.0
    assert all(int(torch.linalg.matrix_rank(layer.weight.detach().double())) == 1 for layer in run.model[0].linears)


def test_dropout_breaks_the_symmetry_of_constant_init():
    runs = {p: train_network(depth=3, width=32, activation="tanh", init="constant", steps=50, dropout=p, device="cpu")
            for p in (0.0, 0.5)}
    second = {p: [float(s[1] / s[0]) for s in (torch.linalg.svdvals(layer.weight.detach().double())
                                               for layer in run.model[0].linears)] for p, run in runs.items()}
    assert max(second[0.0]) < 1e-12 and min(second[0.5]) > 1e-4
    assert runs[0.5].settings["dropout"] == 0.5 and "dropout 0.5" in runs[0.5].label


def test_dropout_is_off_in_eval_mode_and_checked():
    net = build_network(2, 8, dropout=0.5, seed=0)
    x = torch.randn(4, 8)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))
    with pytest.raises(ValueError, match="dropout must be a probability below 1, got 1"):
        build_network(2, 8, dropout=1.0)
