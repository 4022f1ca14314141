"""Pruning stored widget state: what the outputs show stays, with all it refers to and its browser links."""

from utils.widget_state import STATE, VIEW, prune


def model(name, **state):
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}


def notebook(state, shown):
    outputs = [{"output_type": "display_data", "data": {VIEW: {"model_id": m}, "text/plain": "x"}} for m in shown]
    return {"cells": [{"cell_type": "code", "outputs": outputs}],
            "metadata": {"widgets": {STATE: {"state": state, "version_major": 2, "version_minor": 0}}}}


def test_only_the_shown_widgets_their_parts_and_their_links_are_kept():
    state = {
        "box": model("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_stack"], layout="IPY_MODEL_layout"),
        "slider": model("SelectionSliderModel"), "stack": model("StackModel"), "layout": model("LayoutModel"),
        "link": model("LinkModel", source=["IPY_MODEL_slider", "index"], target=["IPY_MODEL_stack", "selected_index"]),
        "hidden": model("ImageModel"),  # made by the kernel, never shown
        "half-link": model("LinkModel", source=["IPY_MODEL_slider", "index"], target=["IPY_MODEL_hidden", "x"]),
    }
    nb = notebook(state, ["box"])
    assert prune(nb) == 2
    assert set(nb["metadata"]["widgets"][STATE]["state"]) == {"box", "slider", "stack", "layout", "link"}


def test_a_notebook_without_widget_state_is_left_alone():
    nb = {"cells": [], "metadata": {}}
    assert prune(nb) == 0 and nb == {"cells": [], "metadata": {}}
