"""Chapter 4: every mechanical claim about nn.Module, the closed-form count, and the block builder."""

import itertools
import math

import matplotlib
import pytest
import torch
from torch import nn

from utils import EXPLORERS, build_network
from utils.block_builder import BLOCK_TYPES, block_builder, block_builder_explorer, build_blocks, plot_block_builder
from utils.devices import available_devices
from utils.plotting import detached_figure
from utils.module_mechanics import (BufferDemo, FixedHiddenMLP, ListMLP, MySequential, SharedLayerNet,
                                    apply_order, backward_hook_pitfall, count_parameters, data_trap,
                                    init_with_apply, manual_probe, network_parameter_count, round_trip,
                                    shared_gradient, tie_after_loading, trace_disagreement)
from utils.probes import probe_network

matplotlib.use("Agg")


def test_my_sequential_equals_nn_sequential_bit_for_bit():
    torch.manual_seed(0)
    layers = [nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10)]
    x = torch.randn(32, 20)
    mine, theirs = MySequential(*layers), nn.Sequential(*layers)
    assert torch.equal(mine(x), theirs(x))
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_a_plain_list_hides_parameters_and_module_list_shows_them():
    assert count_parameters(ListMLP(depth=3, width=16)) == 0
    assert count_parameters(ListMLP(depth=3, width=16, registered=True)) == 3 * (16 * 16 + 16)


def test_the_fixed_weight_gets_no_gradient_and_is_not_a_parameter():
    net = FixedHiddenMLP(width=20)
    net(torch.randn(2, 20)).backward()
    assert net.rand_weight.grad is None and not net.rand_weight.requires_grad
    assert all(p is not net.rand_weight for p in net.parameters())
    assert "rand_weight" not in net.state_dict() and net.linear.weight.grad is not None


def test_buffers_move_with_to_and_only_persistent_ones_are_saved():
    demo = BufferDemo().to(torch.float64)
    assert demo.plain.dtype == torch.float32  # a plain attribute is not moved
    assert demo.saved.dtype == demo.scratch.dtype == demo.linear.weight.dtype == torch.float64
    assert set(demo.state_dict()) == {"saved", "linear.weight", "linear.bias"}
    assert {n for n, _ in demo.named_buffers()} == {"saved", "scratch"}


def test_tracing_records_one_path_and_disagrees_elsewhere():
    result = trace_disagreement(scales=(1.0, 100.0))
    assert result.disagree == [False, True]
    assert abs(result.eager[1]) <= 20  # eager: halved until sum |x| <= 1, over 20 units
    assert abs(result.traced[1]) > abs(result.eager[1])
    # the trace repeats the example's halvings: traced = eager * 2**(halvings here - halvings of the example)
    for eager, traced, k in zip(result.eager, result.traced, result.halvings):
        assert math.isclose(traced, eager * 2.0 ** (k - result.halvings[0]), rel_tol=1e-5)
    assert result.halvings[1] > result.halvings[0]
    categories = {line.split(":")[0] for line in result.warnings}
    assert "TracerWarning" in categories
    if torch.__version__ >= "2.9":
        assert any("deprecated" in line for line in result.warnings)


def test_torch_export_refuses_the_data_dependent_loop():
    with pytest.raises(RuntimeError, match="data-dependent"):
        torch.export.export(FixedHiddenMLP(), (torch.randn(2, 20),))


def test_shared_layer_gradient_is_the_sum_of_two_copies():
    result = shared_gradient(width=8, batch=16)
    assert result.max_rel_error < 1e-6
    assert (result.first - result.second).abs().max() > 1e-3  # the two uses really contribute differently


def test_shared_parameters_count_once_and_are_listed_under_every_name():
    net = nn.Sequential()
    net.add_module("a", SharedLayerNet(4).shared)
    net.add_module("b", net.a)
    assert count_parameters(net) == 4 * 4 + 4
    assert len(list(net.named_parameters())) == 2
    assert len(list(net.named_parameters(remove_duplicate=False))) == 4
    assert set(net.state_dict()) == {"a.weight", "a.bias", "b.weight", "b.bias"}


def test_ties_after_loading_as_measured():
    rows = {(r.sharing, r.source, r.method): r for r in tie_after_loading()}
    for source in ("saved from the model", "entries differ"):
        for method in ("load_state_dict", "assign=True"):
            assert rows[("one module, two names", source, method)].tied
        assert rows[("one weight, two modules", source, "load_state_dict")].tied
        broken = rows[("one weight, two modules", source, "assign=True")]
        assert not broken.tied and broken.n_parameters == 24  # 15 tied: the weight is counted twice
    assert rows[("one weight, two modules", "entries differ", "load_state_dict")].value == "b.weight"
    assert rows[("one weight, two modules", "entries differ", "assign=True")].value == "each its own"


def test_state_dict_round_trip_restores_identical_outputs():
    net = build_network(4, 8, shortcut=True, norm="post", learn_gain=True, seed=0)
    assert round_trip(net, torch.randn(5, 8))


def test_state_dict_entries_are_the_live_tensors():
    net = nn.Linear(3, 3)
    state, snapshot = net.state_dict(), {k: v.clone() for k, v in net.state_dict().items()}
    state["weight"].zero_()
    assert torch.all(net.weight == 0) and not torch.all(snapshot["weight"] == 0)


def test_apply_visits_children_before_their_parent():
    net = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Linear(2, 1))
    assert apply_order(net) == ["0.0", "0.1", "0", "1", ""]


@pytest.mark.parametrize("scheme", ["default", "lecun", "xavier_uniform", "he", "orthogonal"])
def test_init_with_apply_gives_the_predicted_variance(scheme):
    assert init_with_apply(scheme, sizes=(512, 256, 256, 64)).max_rel_error < 0.05


def test_reading_weight_data_loses_the_gradient_silently():
    result = data_trap()
    assert result.trap_last is None and result.fix_last is not None and result.fix_last.abs().sum() > 0
    assert torch.equal(result.trap_first, result.fix_first)


def test_closed_form_count_matches_numel_over_a_grid():
    grid = itertools.product([1, 2, 7], [1, 3, 16], [False, True], ["none", "pre", "post"], [False, True],
                             [None, 5], [None, 2])
    for depth, width, shortcut, norm, learn_gain, in_dim, out_dim in grid:
        net = build_network(depth, width, shortcut=shortcut, norm=norm, learn_gain=learn_gain,
                            in_dim=in_dim, out_dim=out_dim)
        assert count_parameters(net) == network_parameter_count(
            depth, width, shortcut=shortcut, norm=norm, learn_gain=learn_gain, in_dim=in_dim, out_dim=out_dim)


def test_probe_hooks_equal_a_manual_forward_and_backward():
    net = build_network(6, 16, activation="tanh", shortcut=True, norm="pre", seed=0)
    x, r = torch.randn(32, 16), torch.randn(16)
    probe = probe_network(net, x, lambda h: (h @ r).mean())
    stds, grads = manual_probe(net, x, lambda h: (h @ r).mean())
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(probe.act_std, stds))
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(probe.grad_act_norm, grads))


def test_full_backward_hook_fails_with_inplace_relu_and_tensor_hook_works():
    result = backward_hook_pitfall()
    assert "modified inplace" in result["full backward hook error"]
    assert result["tensor hook correct"]


@pytest.mark.parametrize("block", list(BLOCK_TYPES))
def test_block_builder_counts_and_probes_every_block_type(block):
    result = block_builder(block, blocks=3, width=8, device="cpu")
    assert result.n_parameters == int(result.formula.split("= ")[-1].replace(",", ""))
    assert result.flow.probe.depth == 3 and math.isfinite(result.flow.ratio)
    fig, axes = detached_figure(3, 4.2, 3.4)
    plot_block_builder(result, axes)
    assert fig.axes[0].texts and fig.axes[2].lines


def test_plain_stack_vanishes_where_residual_blocks_do_not():
    plain = block_builder("plain", blocks=30, width=64, device="cpu")
    pre = block_builder("pre-norm residual", blocks=30, width=64, device="cpu")
    assert plain.flow.verdict == "vanishing" and pre.flow.verdict == "healthy"


def test_long_stacks_are_folded_in_the_tree():
    assert "(0-29): 30 x ResidualBlock" in block_builder("residual", blocks=30, width=8, device="cpu").tree


@pytest.mark.parametrize("kwargs, allowed", [
    (dict(block="dense"), "plain, residual, pre-norm residual"),
    (dict(activation="swish"), "sigmoid, tanh, relu"),
    (dict(blocks=0), "number of blocks must be at least 1"),
    (dict(width=0), "width must be at least 1"),
    (dict(block="transformer (pre-norm)", width=30), "multiple of 4 (e.g. 28 or 32)"),
])
def test_bad_input_is_a_value_error_naming_what_is_allowed(kwargs, allowed):
    with pytest.raises(ValueError, match=allowed.replace("(", r"\(").replace(")", r"\)")):
        build_blocks(**kwargs)
    with pytest.raises(ValueError):
        block_builder(**kwargs, device="cpu")


def test_explorer_is_registered_and_driven_by_its_controls():
    assert EXPLORERS["ch4 block builder"] is block_builder_explorer
    explorer = block_builder_explorer(blocks=10, width=16)
    assert explorer.error is None and "10 × residual, width 16" in explorer.readout.value
    explorer.controls["block"].value = "plain"
    assert "10 × plain" in explorer.readout.value and "2,720 parameters" in explorer.readout.value
    explorer.controls["blocks"].value = 20
    assert explorer.result.n_parameters == 20 * (16 * 16 + 16)


def test_explorer_shows_a_message_for_a_bad_width_and_the_next_good_value_works():
    explorer = block_builder_explorer(blocks=4, width=16)
    explorer.controls["block"].value = "transformer (pre-norm)"
    explorer.controls["width"].value = 30
    assert "multiple of 4" in explorer.error and explorer.image.layout.display == "none"
    explorer.controls["width"].value = 32
    assert explorer.error is None and explorer.result.n_parameters == 4 * (12 * 32 * 32 + 13 * 32)
    missing = [d for d in ("cuda", "mps") if d not in available_devices()]
    if missing:
        explorer.controls["device"].value = missing[0]
        assert "not available" in explorer.error
        explorer.controls["device"].value = "cpu"
        assert explorer.error is None
