"""Chapter 5: ReLU masks, per-unit death, GELU identities, torch.nn.utils.prune mechanics, pruning
experiments on the digits net, the dead-unit experiment and both explorers."""

import copy
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torch.nn.utils.prune as prune
from torch import nn

from utils import build_network, probe_network
from utils.activation_masks import activation_masks, active_set_overlap, gelu_facts, jaccard_matrix
from utils.dead_units import dead_units, dead_units_explorer
from utils.digits import digits_mlp, digits_split, train_digits, train_steps
from utils.pruning import (AMOUNTS, PRUNING_METHODS, MagnitudeThreshold, check_amount, prune_copy, prune_layer,
                           pruning_experiment, pruning_explorer, sparsity_curve, state_dict_bytes, weight_sparsity)
from utils.speed_checks import activation_timings, matmul_timings


@pytest.fixture(scope="module")
def small_run():
    """A quickly trained digits net (fewer steps than the chapter's, same code)."""
    return train_digits(steps=150, lr=3e-3)


# --- data and training -------------------------------------------------------------------------

def test_the_split_is_seeded_disjoint_and_complete():
    x, y, x_test, y_test = digits_split()
    assert (len(x), len(x_test)) == (1348, 449) and x.shape[1] == 64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    again = digits_split(seed=0)
    assert torch.equal(again[1], y)
    other = digits_split(seed=1)
    assert not torch.equal(other[1], y)
    rows = {tuple(r.tolist()) for r in torch.cat([x, x_test])}
    assert len(rows) > 1700  # the split holds (almost) every distinct image once


def test_training_learns_and_is_reproducible(small_run):
    assert small_run.accuracy > 0.9
    again = train_digits(steps=150, lr=3e-3)
    assert again.accuracy == small_run.accuracy and np.array_equal(again.losses, small_run.losses)


def test_bad_training_input_names_what_is_allowed():
    with pytest.raises(ValueError, match="greater than 0"):
        train_digits(lr=0.0, steps=1)
    with pytest.raises(ValueError, match="choose one of: sgd, adam"):
        train_digits(optimizer="rmsprop", steps=1)
    with pytest.raises(ValueError, match="activation"):
        train_digits(activation="swish", steps=1)
    with pytest.raises(ValueError, match="test_fraction"):
        digits_split(test_fraction=1.0)


# --- ReLU masks ----------------------------------------------------------------------------------

def test_relu_is_its_mask_times_the_preactivation(small_run):
    body, _ = small_run.model
    x = digits_split()[2][:50].double()
    z = body.blocks[0].linear(x)
    mask = activation_masks(small_run.model, x)[0]
    assert torch.equal(F.relu(z), mask.double() * z)


def test_jaccard_matrix_by_hand():
    m = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    jac = jaccard_matrix(m)
    assert jac[0, 1] == pytest.approx(1 / 3) and jac[0, 0] == 1 and jac[2, 2] == 1 and jac[0, 2] == 0


def test_same_digit_masks_overlap_more_than_different_digits(small_run):
    _, _, x_test, y_test = digits_split()
    overlap = active_set_overlap(activation_masks(small_run.model, x_test), y_test)
    assert np.all(overlap.same_class > overlap.different_class + 0.05)


# --- per-unit death in the probe --------------------------------------------------------------

def _probe(net, seed=0):
    x = torch.randn(256, 32, generator=torch.Generator().manual_seed(seed))
    return probe_network(net, x, lambda h: h.sum())


def test_per_unit_measure_tells_a_healthy_net_from_one_with_dead_units():
    healthy = build_network(3, 64, activation="relu", init="he", in_dim=32, seed=0)
    sick = build_network(3, 64, activation="relu", init="he", in_dim=32, seed=0)
    with torch.no_grad():
        sick.linears[0].bias[:32] = -50.0  # half of layer 1's units can never switch on
    good, bad = _probe(healthy), _probe(sick)
    assert good.frac_dead[0] == 0 and bad.frac_dead[0] == 0.5
    assert np.all(bad.unit_active[0][:32] == 0) and np.all(bad.unit_active[0][32:] > 0)
    # the pair count cannot tell a unit off for half of the inputs from half of the units off for all
    assert abs(good.frac_inactive[0] - 0.5) < 0.05 and bad.frac_inactive[0] > 0.5
    assert len(good.unit_active) == 3 and good.unit_active[1].shape == (64,)
    assert np.allclose([1 - a.mean() for a in good.unit_active], good.frac_inactive)


def test_every_input_off_means_every_unit_dead():
    net = build_network(2, 16, activation="relu", init="he", in_dim=32, seed=0)
    with torch.no_grad():
        net.linears[0].bias.fill_(-100.0)
    probe = _probe(net)
    assert probe.frac_dead[0] == 1.0 and probe.frac_inactive[0] == 1.0


# --- GELU identities -----------------------------------------------------------------------------

def test_gelu_facts():
    facts = gelu_facts(draws=200_000)
    assert np.all(np.abs(facts.mc_estimate - facts.mc_exact) < 4 * facts.mc_stderr)
    assert 4.6e-4 < facts.tanh_max_error < 4.8e-4 and abs(facts.tanh_error_at - 2.70) < 0.01
    assert 0.0200 < facts.sigmoid_max_error < 0.0206 and abs(facts.sigmoid_error_at - 2.27) < 0.01
    assert abs(facts.dip_at + 0.7518) < 1e-4 and abs(facts.dip_value + 0.16997) < 1e-5
    # the dip is where GELU' = Phi(x) + x phi(x) vanishes
    z = torch.tensor(facts.dip_at, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(F.gelu(z), z)
    assert abs(float(slope)) < 1e-9


# --- torch.nn.utils.prune mechanics -----------------------------------------------------------

def test_weight_orig_is_the_old_parameter_and_an_earlier_optimizer_trains_it():
    torch.manual_seed(0)
    layer = nn.Linear(6, 4)
    original = layer.weight
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    prune.l1_unstructured(layer, "weight", amount=0.5)
    assert layer.weight_orig is original and not isinstance(layer.weight, nn.Parameter)
    assert "weight_mask" in dict(layer.named_buffers()) and int(layer.weight_mask.sum()) == 12
    assert any(isinstance(h, prune.L1Unstructured) for h in layer._forward_pre_hooks.values())
    before = original.detach().clone()
    layer(torch.randn(8, 6)).pow(2).sum().backward()
    opt.step()
    kept = layer.weight_mask == 1
    assert torch.all(original[kept] != before[kept]) and torch.equal(original[~kept], before[~kept])
    layer(torch.randn(1, 6))  # the pre-hook recomputes weight from weight_orig and the mask
    assert torch.equal(layer.weight, layer.weight_orig * layer.weight_mask)


def test_state_dict_keys_bytes_loading_and_remove():
    plain, pruned = nn.Linear(128, 128), nn.Linear(128, 128)
    prune.l1_unstructured(pruned, "weight", amount=0.9)
    assert set(pruned.state_dict()) == {"bias", "weight_orig", "weight_mask"}
    assert state_dict_bytes(plain) == 128 * 129 * 4 and state_dict_bytes(pruned) == 128 * 257 * 4
    with pytest.raises(RuntimeError, match="Unexpected key"):
        nn.Linear(128, 128).load_state_dict(pruned.state_dict())
    prune.remove(pruned, "weight")
    assert set(pruned.state_dict()) == {"weight", "bias"} and len(pruned._forward_pre_hooks) == 0
    assert int((pruned.weight == 0).sum()) == round(0.9 * 128 * 128) and isinstance(pruned.weight, nn.Parameter)
    nn.Linear(128, 128).load_state_dict(pruned.state_dict())
    opt = torch.optim.SGD(pruned.parameters(), lr=0.1)
    pruned(torch.randn(32, 128)).pow(2).mean().backward()
    opt.step()
    assert int((pruned.weight == 0).sum()) == 0  # nothing keeps the zeros after remove


def test_iterative_pruning_compounds_on_what_remains():
    layer = nn.Linear(128, 128)
    for _ in range(3):
        prune.l1_unstructured(layer, "weight", amount=0.5)
    assert int(layer.weight_mask.sum()) == 128 * 128 // 8
    assert isinstance(next(iter(layer._forward_pre_hooks.values())), prune.PruningContainer)


def test_every_method_prunes_what_it_says(small_run):
    base = small_run.model[0].blocks[0].linear
    for method, amount in (("l1_unstructured", 0.3), ("random_unstructured", 0.3)):
        layer = prune_layer(copy.deepcopy(base), method, amount)
        assert int((layer.weight == 0).sum()) == round(0.3 * 128 * 64)
    for method in ("ln_structured", "random_structured"):
        layer = prune_layer(copy.deepcopy(base), method, 10)  # an integer count of units
        assert int((layer.weight == 0).all(dim=1).sum()) == 10
    layer = copy.deepcopy(base)
    prune.custom_from_mask(layer, "weight", mask=torch.zeros(128, 64).index_fill_(1, torch.tensor([0]), 1))
    assert int((layer.weight != 0).sum()) == 128
    layer = copy.deepcopy(base)
    MagnitudeThreshold.apply(layer, "weight", threshold=0.05)
    assert torch.equal(layer.weight_mask == 0, base.weight.abs() < 0.05)


def test_global_pruning_is_exact_overall_and_uneven_per_layer(small_run):
    pruned = prune_copy(small_run.model, "global_unstructured", 0.8)
    sizes = [lin.weight.numel() for lin in pruned[0].linears]
    zeros = [int((lin.weight == 0).sum()) for lin in pruned[0].linears]
    assert sum(zeros) == round(0.8 * sum(sizes))
    assert abs(zeros[0] / sizes[0] - zeros[1] / sizes[1]) > 0.03


def test_activation_topk_keeps_k_per_input(small_run):
    pruned = prune_copy(small_run.model, "activation_topk", 0.9)
    x = digits_split()[2][:20]
    masks = activation_masks(small_run.model, x)
    outs = []
    handles = [b.act.register_forward_hook(lambda m, i, o: outs.append(o)) for b in pruned[0].blocks]
    with torch.no_grad():
        pruned(x.double())
    for h in handles:
        h.remove()
    assert all(int((o != 0).sum(1).max()) <= 13 for o in outs)
    assert weight_sparsity(pruned) == 0.0 and masks[0].shape == (20, 128)


@pytest.mark.parametrize("bad,match", [(1.5, r"\[0, 1\]"), (-0.1, r"\[0, 1\]"), (10_000, "at most 8192"),
                                       ("half", "fraction in")])
def test_bad_amounts_name_what_is_allowed(bad, match):
    with pytest.raises(ValueError, match=match):
        check_amount(bad, size=8192)


def test_an_unknown_method_names_the_choices(small_run):
    with pytest.raises(ValueError, match="choose one of: l1_unstructured"):
        prune_copy(small_run.model, "magnitude", 0.5)
    with pytest.raises(ValueError, match="at most 128"):
        prune_layer(nn.Linear(64, 128), "ln_structured", 200)


def test_pruning_warns_about_nothing(small_run):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in PRUNING_METHODS:
            prune_copy(small_run.model, method, 0.5)


# --- the chapter's experiments ----------------------------------------------------------------

def test_magnitude_beats_random_and_fine_tuning_recovers():
    l1, random = sparsity_curve("l1_unstructured"), sparsity_curve("random_unstructured")
    assert l1[0] > 0.96 and np.all(l1[1:] > random[1:])
    result = pruning_experiment("l1_unstructured", 0.9, fine_tune_steps=50, device="cpu")
    assert result.tuned_accuracy > result.accuracy + 0.05 and abs(result.weight_sparsity - 0.9) < 1e-3
    assert len(result.curve) == len(AMOUNTS)


def test_fine_tuning_keeps_the_mask():
    reference_model = digits_mlp().double()
    pruned = prune_copy(reference_model, "l1_unstructured", 0.9)
    x, y, _, _ = digits_split()
    train_steps(pruned, x, y, 20, lr=1e-2)
    assert abs(weight_sparsity(pruned) - 0.9) < 1e-3


def test_dead_units_grow_with_the_adam_learning_rate():
    gentle = dead_units("relu", "adam", 1e-3, steps=40)
    harsh = dead_units("relu", "adam", 0.3, steps=40)
    assert harsh.dead_overall > gentle.dead_overall + 0.3
    assert harsh.frac_dead.shape == (2,) and len(harsh.unit_active) == 2


@pytest.mark.parametrize("kwargs,match", [({"lr": 0.0}, "greater than 0"), ({"lr": -1.0}, "greater than 0"),
                                          ({"activation": "tanh"}, "choose one of: relu, leaky_relu, gelu"),
                                          ({"optimizer": "lbfgs"}, "choose one of: sgd, adam")])
def test_dead_units_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dead_units(steps=1, **kwargs)


def test_speed_checks_return_every_entry():
    mm = matmul_timings(sparsities=(0.0, 0.9), n=64, batch=8, min_run_time=0.01)
    assert len(mm.dense_us) == len(mm.csr_us) == len(mm.coo_us) == 2 and min(mm.dense_us) > 0
    act = activation_timings(batch=8, width=64, min_run_time=0.01)
    assert set(act.alone_us) == set(act.layer_us) == {"relu", "gelu", "gelu_tanh", "silu"}


# --- explorers -----------------------------------------------------------------------------------

def test_pruning_explorer_follows_its_controls_and_survives_bad_input():
    explorer = pruning_explorer()
    assert explorer.error is None and "l1_unstructured, amount 0.90" in explorer.readout.value
    explorer.controls["method"].value = "activation_topk"
    assert explorer.error is None and "activation_topk" in explorer.readout.value
    explorer.controls["fine_tune_steps"].value = 25
    assert explorer.result.tuned_accuracy != explorer.result.accuracy and "after 25 steps" in explorer.readout.value
    explorer.controls["amount"].value = 0.5
    assert explorer.result.settings["amount"] == 0.5


def test_pruning_experiment_bad_input_is_a_message_in_the_explorer():
    explorer = pruning_explorer()
    explorer.experiment = lambda **values: pruning_experiment(**{**values, "amount": 1.5})
    explorer.update()
    assert explorer.error and "[0, 1]" in explorer.error and explorer.image.layout.display == "none"
    explorer.experiment = pruning_experiment
    explorer.controls["amount"].value = 0.8
    assert explorer.error is None and explorer.result.settings["amount"] == 0.8


def test_dead_units_explorer_follows_its_controls():
    explorer = dead_units_explorer()
    assert explorer.error is None and "relu, sgd, lr 0.3" in explorer.readout.value
    explorer.controls["optimizer"].value = "adam"
    assert "adam" in explorer.readout.value and explorer.result.dead_overall > 0.5
    explorer.controls["activation"].value = "gelu"
    assert explorer.result.settings["activation"] == "gelu"
    explorer.controls["lr"].value = 1e-3
    assert explorer.result.dead_overall < 0.1 and math.isclose(explorer.result.settings["lr"], 1e-3)
