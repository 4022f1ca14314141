"""Drive every explorer the way a reader does: set control values, read the readout and the message."""

import html
import re
import warnings

import ipywidgets as widgets
import pytest

from utils import EXPLORERS, Explorer, gradient_flow_explorer
from utils.devices import available_devices
from utils.explorer import alternative_value, int_slider

NOT_FINITE = re.compile(r"(?<![a-z])(nan|inf|∞)(?![a-z])", re.IGNORECASE)  # "nan", "×÷nan", "-inf"; not "infinite"
UNEXPLAINED = re.compile(r"^\w+(Error|Exception): ")  # how Explorer shows a failure that is not a ValueError


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


def test_a_readout_that_fails_is_a_message_too():
    def readout(n):
        raise ZeroDivisionError("no readout")

    explorer = Explorer(lambda n: n, lambda result, ax: ax.plot([0, result]), {"n": int_slider("n", 1, 1, 5)},
                        readout=readout)
    assert explorer.error == "ZeroDivisionError: no readout" and explorer.image.layout.display == "none"


def test_explorer_registry_lists_chapter_one():
    assert {"ch1 gradient flow", "ch1 matrix products"} <= set(EXPLORERS)


def control_ends(control) -> list:
    """Both ends of a control: a slider's min and max, the first and last option of a list (or a log
    slider's stops), a checkbox's two values."""
    if isinstance(control, widgets.Checkbox):
        return [False, True]
    if hasattr(control, "options"):
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]  # a log slider's are (label, value)
        return [values[0], values[-1]]
    return [control.min, control.max]


def shown_text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value)).strip()


def assert_finite_or_explained(explorer, where: str) -> None:
    """The readout holds no nan or inf unless the message says why; a failure is a ValueError's message
    (which names what is allowed), never a bare exception."""
    if explorer.error:
        assert not UNEXPLAINED.match(explorer.error), f"{where}: an exception, not a message: {explorer.error}"
        return
    readout, message = shown_text(explorer.readout.value), shown_text(explorer.message.value)
    assert not NOT_FINITE.search(readout) or message, f"{where}: a non-finite readout, no message: {readout}"


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_every_control_at_both_ends_gives_a_finite_readout_or_says_why(name, capsys):
    """Each control at each end, the others at their defaults; no warning escapes to the log console."""
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        explorer = EXPLORERS[name]()
        assert_finite_or_explained(explorer, f"{name} at its defaults")
        for key, control in explorer.controls.items():
            default = control.value
            for end in control_ends(control):
                if end == default or (key == "device" and end not in ("auto", *available_devices())):
                    continue  # the default is checked above; a missing device is a message (tested below)
                control.value = end
                assert_finite_or_explained(explorer, f"{name}: {key} = {end}")
            # back to the default without re-running: the next control's end runs the experiment anyway
            control.unobserve(explorer.update, names="value")
            control.value = default
            control.observe(explorer.update, names="value")
    assert [str(w.message) for w in escaped] == [], name
    assert capsys.readouterr().err == "", name
