"""The kernel-free explorer: one real experiment per value, linked in the browser, and the stand-ins that
viewers without widgets show instead of an explorer."""

import ipywidgets
import pytest
from ipywidgets.widgets.widget_link import Link

from utils import Explorer, gradient_flow_explorer, precomputed_explorer
from utils.devices import available_devices
from utils.explorer import WIDGET_VIEW, int_slider


def small_explorer():
    return gradient_flow_explorer(depth=6, width=16, device="cpu")


def test_each_value_is_a_real_run_with_its_own_picture_and_readout():
    player = precomputed_explorer(small_explorer(), "depth", [3, 6, 12])
    assert len({picture.value for picture in player.pictures}) == 3
    for depth, readout in zip([3, 6, 12], player.readouts):
        assert f"depth {depth}," in readout.value and " ms " not in readout.value
    assert [label for label, _ in player.slider.options] == ["3", "6", "12"]


def test_the_slider_drives_both_stacks_in_the_browser():
    player = precomputed_explorer(small_explorer(), "width", [8, 32])
    linked = {(link.source[0], link.source[1], link.target[0], link.target[1]) for link in player.links}
    assert linked == {(player.slider, "index", player.picture, "selected_index"),
                      (player.slider, "index", player.readout, "selected_index")}
    assert all(isinstance(link, Link) for link in player.links)  # jslink: no kernel round trip


def test_bad_requests_are_clear_value_errors():
    with pytest.raises(ValueError, match="control must be one of"):
        precomputed_explorer(small_explorer(), "height", [1, 2])
    with pytest.raises(ValueError, match="at least two values"):
        precomputed_explorer(small_explorer(), "depth", [3])

    def experiment(n):
        if n == 3:
            raise RuntimeError("boom at 3")
        return n

    explorer = Explorer(experiment, lambda result, ax: ax.plot([0, result]), {"n": int_slider("n", 1, 0, 5)},
                        lambda result: f"n={result}")
    with pytest.raises(ValueError, match="n = 3: RuntimeError: boom at 3"):
        precomputed_explorer(explorer, "n", [2, 3])


def test_viewers_without_widgets_get_a_still_or_a_note_never_a_widget_repr():
    explorer = small_explorer()
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("Explorer: Gradient flow through depth\ndepth = 6 · width = 16")
    still = bundle["text/html"]
    assert 'class="td-explorer td-still"' in still and 'src="data:image/png;base64,' in still
    assert "depth = 6 · width = 16" in still and "gradient ratio first/last" in still
    player_bundle = precomputed_explorer(explorer, "depth", [3, 6])._repr_mimebundle_()
    assert "<img" not in player_bundle["text/html"], "the explorer's still already shows the figure"
    assert "needs a running notebook" in player_bundle["text/plain"]


def test_a_failed_explorer_still_shows_the_message_and_no_picture():
    explorer = small_explorer()
    explorer.controls["device"].value = next(d for d in ("mps", "cuda") if d not in available_devices())
    still = explorer._repr_mimebundle_()["text/html"]
    assert "<img" not in still and "not available" in still


def test_under_ipywidgets_8_the_bundle_is_the_widgets_own():
    """Only the ipywidgets 7 path builds a view itself; under 8 the stored notebooks keep their bytes."""
    explorer = small_explorer()
    assert explorer._repr_mimebundle_()[WIDGET_VIEW] == explorer.widget._repr_mimebundle_()[WIDGET_VIEW]
    player = precomputed_explorer(explorer, "depth", [3, 6])
    assert player._repr_mimebundle_()[WIDGET_VIEW] == player.widget._repr_mimebundle_()[WIDGET_VIEW]


def test_widgets_without_a_mimebundle_as_in_ipywidgets_7_still_display_as_a_view(monkeypatch):
    """ipywidgets 7 widgets display through ``_ipython_display_``; the real kernel test is in test_colab.py."""
    monkeypatch.delattr(ipywidgets.Widget, "_repr_mimebundle_")
    explorer = small_explorer()
    bundle = explorer._repr_mimebundle_()
    assert bundle[WIDGET_VIEW] == {"version_major": 2, "version_minor": 0, "model_id": explorer.widget.model_id}
    assert bundle["text/plain"].startswith("Explorer: ") and "td-still" in bundle["text/html"]


def test_without_stack_as_in_ipywidgets_7_the_player_is_the_first_still_and_says_why(monkeypatch):
    monkeypatch.delattr(ipywidgets, "Stack")
    player = precomputed_explorer(small_explorer(), "depth", [3, 6])
    assert player.widget is None
    bundle = player._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle
    assert "<img" in bundle["text/html"] and "depth = 3 · width = 16" in bundle["text/html"]
    assert "has no Stack widget" in bundle["text/plain"] and "picture for depth = 3 only" in bundle["text/plain"]
    assert "The explorer above plays every value of depth" in bundle["text/html"]
