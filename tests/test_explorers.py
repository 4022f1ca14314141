"""Drive every explorer the way a reader does: set control values, read the readout and the message."""

import pytest

from utils import EXPLORERS, Explorer, gradient_flow_explorer
from utils.devices import available_devices
from utils.explorer import alternative_value, int_slider


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_every_control_reruns_the_experiment_and_redraws(name):
    explorer = EXPLORERS[name]()
    assert explorer.error is None and explorer.image.value
    for key, control in explorer.controls.items():
        before_png, before_runs, before_readout = explorer.image.value, len(explorer.timings_ms), explorer.readout.value
        control.value = alternative_value(control)
        assert explorer.error is None, f"{name}: {key} -> {explorer.error}"
        assert len(explorer.timings_ms) == before_runs + 1
        assert explorer.values[key] == control.value
        if key != "device":  # auto and cpu are the same experiment on a CPU-only machine
            assert explorer.readout.value != before_readout, key
            assert explorer.image.value != before_png, key


def test_the_readout_shows_the_new_setting_and_the_new_number():
    explorer = gradient_flow_explorer()
    first = explorer.result.ratio
    explorer.controls["depth"].value = 10
    assert explorer.result.settings["depth"] == 10
    assert "depth 10," in explorer.readout.value and "ms on cpu" in explorer.readout.value
    assert explorer.result.ratio != first


def test_a_missing_device_is_a_message_and_the_next_good_value_works():
    missing = next(d for d in ("mps", "cuda") if d not in available_devices())
    explorer = gradient_flow_explorer()
    explorer.controls["device"].value = missing
    assert "not available on this machine" in explorer.error
    assert "not available" in explorer.message.value and explorer.image.layout.display == "none"
    explorer.controls["device"].value = "cpu"
    assert explorer.error is None and explorer.message.value == ""
    assert explorer.image.layout.display is None and explorer.result.device == "cpu"


def test_overflow_is_shown_as_a_warning_naming_the_layer():
    explorer = gradient_flow_explorer(depth=100, activation="relu")
    explorer.controls["sigma_w2"].value = 30.0
    assert explorer.error is None
    assert "overflowed to inf/NaN at layer" in explorer.message.value
    assert "(overflow)" in explorer.readout.value
    explorer.controls["sigma_w2"].value = 2.0
    assert explorer.message.value == "" and "(healthy)" in explorer.readout.value


def test_any_failure_becomes_a_message_and_the_controls_keep_working():
    def experiment(n):
        if n == 3:
            raise RuntimeError("boom at 3")
        return n

    explorer = Explorer(experiment, lambda result, ax: ax.plot([0, result]),
                        {"n": int_slider("n", 1, 1, 5)}, readout=lambda r: f"n = {r}")
    explorer.controls["n"].value = 3
    assert explorer.error == "RuntimeError: boom at 3" and "boom at 3" in explorer.message.value
    explorer.controls["n"].value = 4
    assert explorer.error is None and "n = 4" in explorer.readout.value


def test_explorer_registry_lists_chapter_one():
    assert {"ch1 gradient flow", "ch1 matrix products"} <= set(EXPLORERS)
