"""An explorer that plays without a kernel: its pictures for a few values of one control, computed when
the notebook runs and switched in the browser.

``precomputed_explorer(explorer, "depth", [5, 10, 20])`` moves the explorer's control through the values
(each move re-runs the real experiment and redraws, as a reader's would), keeps every picture and readout,
and shows them behind a slider. The slider and the pictures are linked in the browser (``jslink`` to a
``Stack``), so the stored notebook plays on a static web page, on nbviewer and in JupyterLab with no
kernel; the full explorer needs one.

ipywidgets 7 (what Colab keeps) has no ``Stack``: there the player falls back to a still of the first value,
with a note saying why and pointing to the live explorer.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets

from .explorer import Explorer, widget_view

_NOTE = ("Pictures precomputed for these {count} values of {name}, the other settings at their defaults. "
         "The full explorer, with every control, needs a running notebook: JupyterLab, Binder or Colab.")
_NO_STACK = ("ipywidgets {version} has no Stack widget, which this player needs (ipywidgets 8 has it): this is "
             "the picture for {name} = {value} only. The explorer above plays every value of {name}, and its "
             "other controls.")


class PrecomputedExplorer:
    """The pictures and readouts of ``explorer`` for each of ``values`` of its control ``control``.

    Raises ValueError when ``control`` is not one of the explorer's controls, when ``values`` has fewer
    than two entries, or when the experiment fails for one of them.

    ``still`` is the explorer's still at the first value with ``no_stack_note``: what ipywidgets 7, which
    has no ``Stack``, shows instead of the player (``widget`` is None there).
    """

    def __init__(self, explorer: Explorer, control: str, values: Sequence):
        if control not in explorer.controls:
            raise ValueError(f"control must be one of {sorted(explorer.controls)}, got {control!r}")
        if len(values) < 2:
            raise ValueError(f"give at least two values of {control!r}, got {list(values)!r}")
        source = explorer.controls[control]
        self.title, self.values = explorer.title, list(values)
        self.pictures, self.readouts = [], []
        self.no_stack_note = _NO_STACK.format(version=widgets.__version__, name=source.description,
                                              value=self.values[0])
        for i, value in enumerate(self.values):
            source.value = value  # re-runs the experiment and redraws, as a reader's move would
            if explorer.error is not None:
                raise ValueError(f"{control} = {value!r}: {explorer.error}")
            if i == 0:
                self.still = explorer.still_html(self.no_stack_note)
            self.pictures.append(widgets.Image(value=explorer.image.value, format="png"))
            self.readouts.append(widgets.HTML(f"<span>{html.escape(explorer.describe(explorer.result))}</span>")
                                 .add_class("td-readout"))
        self.note = _NOTE.format(count=len(self.values), name=source.description)
        self.widget = self._player(source.description) if hasattr(widgets, "Stack") else None

    def _player(self, name: str) -> widgets.VBox:
        """The slider over the values, linked in the browser to a Stack of pictures and one of readouts."""
        self.slider = widgets.SelectionSlider(options=[(str(v), i) for i, v in enumerate(self.values)],
                                              description=name, continuous_update=True,
                                              style={"description_width": "initial"}, layout={"width": "430px"})
        self.picture = widgets.Stack(self.pictures, selected_index=0)
        self.readout = widgets.Stack(self.readouts, selected_index=0)
        # Links that live in the browser: moving the slider needs no kernel.
        self.links = [widgets.jslink((self.slider, "index"), (stack, "selected_index"))
                      for stack in (self.picture, self.readout)]
        player = widgets.VBox([widgets.HTML(f"<b>{html.escape(self.title)}</b> (precomputed)"), self.slider,
                               self.readout, self.picture, widgets.HTML(f"<i>{html.escape(self.note)}</i>")])
        return player.add_class("td-precomputed")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """The widget; where no widget can be drawn, only the note (the explorer's still shows the figure).
        Under ipywidgets 7 (no widget), the still of the first value and a note saying why."""
        if self.widget is None:
            return {"text/plain": f"Precomputed explorer: {self.title}\n{self.no_stack_note}",
                    "text/html": self.still}
        bundle = widget_view(self.widget, include=include, exclude=exclude)
        bundle["text/plain"] = f"Precomputed explorer: {self.title}\n{self.note}"
        bundle["text/html"] = f'<div class="td-precomputed td-still"><i>{html.escape(self.note)}</i></div>'
        return bundle


def precomputed_explorer(explorer: Explorer, control: str, values: Sequence) -> PrecomputedExplorer:
    """``explorer``'s pictures over ``values`` of ``control``, playable without a kernel (see the module)."""
    return PrecomputedExplorer(explorer, control, values)
