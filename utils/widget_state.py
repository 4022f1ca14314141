"""Keep only the widget state a stored notebook shows.

When a notebook is executed with the widget state stored (``make notebooks``), every widget the kernel
ever made is saved, shown or not: e.g. the explorer a ``precomputed_explorer`` moves through its values.
``prune`` keeps the models that the stored outputs display, everything they refer to (children, layouts,
styles), and the links (``jslink``) between kept models; the rest is dropped.

Run: python -m utils.widget_state notebooks/01_vanishing_gradients.ipynb [...]
"""

from __future__ import annotations

import json
import re
import sys

import nbformat

STATE = "application/vnd.jupyter.widget-state+json"
VIEW = "application/vnd.jupyter.widget-view+json"
REFERENCE = re.compile(r"IPY_MODEL_([\w-]+)")
LINKS = {"LinkModel", "DirectionalLinkModel"}


def shown_models(notebook: dict) -> set[str]:
    """The model ids of the widget views in the notebook's outputs."""
    return {output["data"][VIEW]["model_id"] for cell in notebook["cells"] for output in cell.get("outputs", [])
            if VIEW in output.get("data", {})}


def prune(notebook: dict) -> int:
    """Drop from ``notebook`` (a parsed .ipynb, changed in place) the widget models it does not show;
    returns how many were dropped."""
    state = notebook.get("metadata", {}).get("widgets", {}).get(STATE, {}).get("state")
    if not state:
        return 0
    refers = {model: set(REFERENCE.findall(json.dumps(entry["state"]))) for model, entry in state.items()}
    keep = {model for model in shown_models(notebook) if model in state}
    while True:
        more = {ref for model in keep for ref in refers[model] if ref in state}
        more |= {model for model, entry in state.items()  # a link between kept widgets plays in the browser
                 if entry["model_name"] in LINKS and refers[model] and refers[model] <= keep}
        if more <= keep:
            break
        keep |= more
    for model in set(state) - keep:
        del state[model]
    return len(refers) - len(keep)


def main(paths: list[str]) -> None:
    for path in paths:
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        dropped = prune(notebook)
        nbformat.write(notebook, path)
        print(f"{path}: dropped {dropped} widget models that no output shows")


if __name__ == "__main__":
    main(sys.argv[1:])
