"""Unit tests of the utils core: devices, activations, init schemes, blocks and the builder."""

import math

import pytest
import torch
from torch import nn

from utils import ACTIVATIONS, INIT_SCHEMES, build_network, get_activation, pick_device, seed_everything
from utils.blocks import PlainBlock, ResidualBlock
from utils.devices import available_devices
from utils.initializers import init_linear, weight_variance


# --- devices and seeding -------------------------------------------------------------------------

def test_auto_device_is_the_best_available():
    assert pick_device("auto").type == available_devices()[0]
    assert pick_device(None).type == available_devices()[0]
    assert pick_device("cpu").type == "cpu"


def test_unknown_or_missing_device_names_the_choices():
    with pytest.raises(ValueError, match="choose one of: auto, cpu, cuda, mps"):
        pick_device("tpu")
    missing = next(d for d in ("mps", "cuda") if d not in available_devices())
    with pytest.raises(ValueError, match=f"{missing}.*not available.*auto, .*cpu"):
        pick_device(missing)


def test_seed_everything_reproduces_torch_draws():
    seed_everything(7)
    a = torch.randn(5)
    seed_everything(7)
    assert torch.equal(a, torch.randn(5))


# --- activations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ACTIVATIONS)
def test_slope_is_the_derivative(name):
    act = get_activation(name)
    z = torch.linspace(-6, 6, 1201, dtype=torch.float64).requires_grad_()
    (grad,) = torch.autograd.grad(act.fn(z).sum(), z)
    keep = z.detach().abs() > 1e-6  # ReLU-type kinks at 0
    assert torch.allclose(act.slope(z.detach())[keep], grad[keep], atol=1e-9)
    module_out = act.make_module()(z.detach())
    assert torch.allclose(module_out, act.fn(z.detach()))


def test_sigmoid_slope_never_exceeds_a_quarter():
    z = torch.linspace(-50, 50, 200001, dtype=torch.float64)
    slope = get_activation("sigmoid").slope(z)
    assert slope.max() <= 0.25 and abs(float(slope.max()) - 0.25) < 1e-9
    assert abs(get_activation("sigmoid").peak_slope - 0.25) < 1e-9


def test_tanh_approximation_of_gelu_is_close_but_not_exact():
    z = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    err = (get_activation("gelu").fn(z) - get_activation("gelu_tanh").fn(z)).abs().max()
    assert 1e-5 < err < 1e-3


def test_unknown_activation_lists_the_choices():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*sigmoid.*relu"):
        get_activation("swish")


# --- init schemes --------------------------------------------------------------------------------

@pytest.mark.parametrize("n_in, n_out", [(400, 300), (300, 400)])
@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_empirical_weight_variance_matches_the_scheme(scheme, n_in, n_out):
    torch.manual_seed(0)
    layer = nn.Linear(n_in, n_out)
    init_linear(layer, scheme, sigma_w2=1.7)
    expected = weight_variance(scheme, n_in, n_out, sigma_w2=1.7)
    assert float(layer.weight.detach().var()) == pytest.approx(expected, rel=0.03)


def test_xavier_uniform_bound_and_orthogonal_rows():
    torch.manual_seed(0)
    layer = nn.Linear(200, 100)
    init_linear(layer, "xavier_uniform")
    bound, largest = math.sqrt(6 / 300), float(layer.weight.detach().abs().max())
    assert 0.99 * bound < largest <= bound
    square = nn.Linear(64, 64)
    init_linear(square, "orthogonal", sigma_w2=2.0)
    assert torch.allclose(square.weight @ square.weight.T, 2.0 * torch.eye(64), atol=1e-5)
    wide = nn.Linear(32, 64)  # orthonormal columns, scaled so that every entry has variance sigma_w2 / n_in
    init_linear(wide, "orthogonal", sigma_w2=2.0)
    assert torch.allclose(wide.weight.T @ wide.weight, 2.0 * 64 / 32 * torch.eye(32), atol=1e-5)


def test_bias_variance_only_where_the_scheme_says():
    torch.manual_seed(0)
    layer = nn.Linear(10, 5000)
    init_linear(layer, "normal", sigma_w2=1.0, sigma_b2=0.25)
    assert float(layer.bias.detach().var()) == pytest.approx(0.25, rel=0.06)
    init_linear(layer, "he")
    assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(scheme="glorot"), "unknown init scheme 'glorot'; choose one of: default, lecun"),
    (dict(scheme="normal", sigma_w2=-1.0), "sigma_w2 .* at least 0"),
    (dict(scheme="normal", sigma_b2=float("nan")), "sigma_b2 .* finite"),
])
def test_bad_init_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        init_linear(nn.Linear(3, 3), **kwargs)


# --- blocks and builder --------------------------------------------------------------------------

def test_builder_shapes_and_shortcuts():
    net = build_network(4, 8, in_dim=3, out_dim=2, shortcut=True, seed=0)
    kinds = [type(b) for b in net.blocks]
    assert kinds == [PlainBlock, ResidualBlock, ResidualBlock, PlainBlock]  # shortcuts only where shapes agree
    assert net(torch.randn(5, 3)).shape == (5, 2)


def test_residual_block_with_zero_gain_is_the_identity():
    block = ResidualBlock(6, "tanh", branch_gain=0.0, learn_gain=True)
    x = torch.randn(4, 6)
    assert torch.equal(block(x), x)
    assert any(name == "gain" for name, _ in block.named_parameters())


def test_post_norm_normalises_the_output_and_pre_norm_the_branch_input():
    x = 5 + 3 * torch.randn(16, 32)
    post = ResidualBlock(32, "relu", norm="post")(x)
    assert torch.allclose(post.mean(1), torch.zeros(16), atol=1e-5)
    pre = ResidualBlock(32, "relu", norm="pre")
    assert torch.allclose(pre(x) - x, pre.branch(x), atol=1e-5)
    assert isinstance(pre.norm_in, nn.LayerNorm) and isinstance(pre.norm_out, nn.Identity)


def test_same_seed_same_weights_on_every_device():
    a = build_network(3, 5, init="he", seed=3)
    b = build_network(3, 5, init="he", seed=3, device="auto")
    for la, lb in zip(a.linears, b.linears):
        assert torch.equal(la.weight, lb.weight.cpu())


@pytest.mark.parametrize("kwargs, message", [
    (dict(depth=0, width=4), "depth must be at least 1, got 0"),
    (dict(depth=3, width=0), "width must be at least 1, got 0"),
    (dict(depth=2.5, width=4), "depth must be a whole number"),
    (dict(depth=3, width=4, activation="softsign"), "unknown activation 'softsign'"),
    (dict(depth=3, width=4, norm="batch"), "unknown norm 'batch'; choose one of: none, pre, post"),
    (dict(depth=3, width=4, init="normal", sigma_w2=-0.5), "sigma_w2 .* at least 0"),
    (dict(depth=3, width=4, sigma_b2=-1.0), "sigma_b2 .* at least 0"),
    (dict(depth=3, width=4, shortcut=True, branch_gain=-1.0), "branch_gain must be at least 0"),
    (dict(depth=3, width=4, device="tpu"), "unknown device 'tpu'"),
])
def test_builder_rejects_bad_input_with_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_network(**kwargs)
