"""The explorer: controls -> experiment -> plot, in one widget.

An ``Explorer`` owns a dict of controls. Whenever one changes, it calls
``experiment(**values)``, draws the result with ``plot(result, axes)`` on a figure it
keeps, and shows the PNG, a readout of the key number, the time taken and the device.
A ValueError (bad input) or any other failure becomes a message in the widget; the
controls keep working. A result may carry a ``warning`` (e.g. an overflow naming the
layer), shown beside the plot.

Displayed, an explorer offers the widget and two stand-ins for viewers that cannot draw widgets: an
HTML still (title, settings, readout, figure) and a plain-text summary. ``make notebooks`` stores the
widget state, so a notebook opened without a kernel shows the explorer frozen at its defaults.
It displays under ipywidgets 8 (the book's) and 7 (what Colab keeps): see ``widget_view``.
"""

from __future__ import annotations

import base64
import html
import math
import re
import time
from collections.abc import Callable

import ipywidgets as widgets

from .devices import DEVICE_CHOICES
from .plotting import CSS_DPI, detached_figure, figure_png

_STYLE = {"description_width": "initial"}
_LAYOUT = {"width": "430px"}  # two controls a row: room for long labels and the readout

STILL_NOTE = "The controls move once the cell runs: in JupyterLab, on Binder or on Colab."

EXPLORERS: dict[str, Callable[[], "Explorer"]] = {}

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # the MIME type a front end draws a live widget from


def widget_view(widget: widgets.Widget, include=None, exclude=None) -> dict:
    """The display bundle of ``widget``, which a front end draws as the live widget.

    ipywidgets 8 builds it (``_repr_mimebundle_``). ipywidgets 7.x, which Colab keeps, has no
    ``_repr_mimebundle_`` (its widgets display themselves through ``_ipython_display_``); for it this
    builds the bundle that ``_ipython_display_`` sends: the widget's repr and, under ``WIDGET_VIEW``,
    ``{"version_major": 2, "version_minor": 0, "model_id": ...}``.
    """
    if hasattr(widget, "_repr_mimebundle_"):
        return widget._repr_mimebundle_(include=include, exclude=exclude)
    return {"text/plain": repr(widget), WIDGET_VIEW: widget.get_view_spec()}


def register_explorer(name: str):
    """Decorator: list an explorer factory under ``name`` (used by benchmarks and tests)."""
    def decorate(factory):
        EXPLORERS[name] = factory
        return factory
    return decorate


def int_slider(description: str, value: int, min: int, max: int, step: int = 1):
    return widgets.IntSlider(value=value, min=min, max=max, step=step, description=description,
                             continuous_update=False, style=_STYLE, layout=_LAYOUT)


def float_slider(description: str, value: float, min: float, max: float, step: float):
    return widgets.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                               continuous_update=False, style=_STYLE, layout=_LAYOUT, readout_format=".3g")


# A log slider's stops: round numbers, 22 a decade, steps of 4% to 9%. A FloatLogSlider (equal steps in
# log10) cannot hold both 1 and 2: with 20 steps a decade, 2 reads back as 1.995 after a move away and back.
ROUND = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.2, 2.5, 2.8, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0, 9.0)


def log_grid(min: float, max: float) -> list[float]:
    """The ``ROUND`` values in [min, max] (0 < min < max), e.g. 0.1, 0.11, 0.12, ..., 1, 1.1, ..., 90, 100."""
    decades = range(math.floor(math.log10(min)), math.ceil(math.log10(max)) + 1)
    return [v for k in decades for m in ROUND if min <= (v := float(f"{m}e{k}")) <= max]


def log_slider(description: str, value: float, min: float, max: float):
    """A slider over ``log_grid(min, max)``, plus ``value`` itself if it is not one of them, so the
    starting value is always one the slider can return to."""
    stops = sorted(set(log_grid(min, max)) | {float(value)})
    return widgets.SelectionSlider(value=float(value), options=[(f"{v:.3g}", v) for v in stops],
                                   description=description, continuous_update=False, style=_STYLE, layout=_LAYOUT)


def dropdown(description: str, value, options):
    return widgets.Dropdown(value=value, options=list(options), description=description,
                            style=_STYLE, layout=_LAYOUT)


def checkbox(description: str, value: bool):
    return widgets.Checkbox(value=value, description=description, indent=False, layout={"width": "160px"})


def device_dropdown(value: str = "auto"):
    """All device names, so choosing one this machine lacks shows what is available."""
    return dropdown("device", value, DEVICE_CHOICES)


def alternative_value(control):
    """A valid value different from ``control``'s current one (for tests and benchmarks)."""
    if isinstance(control, widgets.SelectionSlider):  # log slider: about a decade away, inside the range
        stops, i, decade = [v for _, v in control.options], control.index, len(ROUND)
        up, down = i + decade, i - decade
        return stops[up] if up < len(stops) else stops[down] if down >= 0 else stops[-1 if i == 0 else 0]
    if hasattr(control, "options"):
        options = [o for o in control.options if o != control.value]
        return "cpu" if "cpu" in options else options[0]
    if isinstance(control.value, bool):
        return not control.value
    if isinstance(control.value, int):
        step = max((control.max - control.min) // 4, 1)
        return control.value + step if control.value + step <= control.max else control.value - step
    middle = (control.min + control.max) / 2
    return middle if middle != control.value else control.min


def _remove_data(ax) -> None:
    """Remove what a plot drew on ``ax`` but keep the axes and their ticks: much cheaper than
    ``ax.clear()``, which rebuilds every tick (the largest cost of a redraw)."""
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.set_prop_cycle(None)
    ax.relim()
    ax.autoscale()


def _html(text: str, color: str | None = None, run: int | None = None) -> str:
    """``text`` in a span; ``run`` (the count of successful runs) becomes ``data-run``, which the
    browser test watches to see an experiment re-run even when the plot comes out the same."""
    style = f' style="color:{color}"' if color else ""
    data = f' data-run="{run}"' if run is not None else ""
    return f"<span{style}{data}>{html.escape(text)}</span>"


class Explorer:
    """Wire ``controls`` to ``experiment`` and ``plot``; ``readout(result)`` gives the key number."""

    def __init__(self, experiment: Callable, plot: Callable, controls: dict, readout: Callable,
                 *, ncols: int = 1, panel_size: tuple[float, float] = (4.6, 3.4), title: str = ""):
        self.experiment, self.plot, self.describe = experiment, plot, readout
        self.controls = controls
        self.figure, self.axes = detached_figure(ncols, *panel_size)
        natural = f"{self.figure.get_figwidth() * CSS_DPI:.0f}px"  # the PNG has twice as many pixels
        self.image = widgets.Image(format="png", layout={"width": natural, "max_width": "100%"})
        self.readout = widgets.HTML().add_class("td-readout")
        self.message = widgets.HTML().add_class("td-message")
        self.title = title
        self.result = None
        self.error: str | None = None
        self.timings_ms: list[float] = []
        rows = [widgets.HBox(list(controls.values())[i:i + 2]) for i in range(0, len(controls), 2)]
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        self.widget = widgets.VBox(header + rows + [self.readout, self.message, self.image])
        self.widget.add_class("td-explorer")
        for control in controls.values():
            control.observe(self.update, names="value")
        self.update()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def update(self, change=None) -> None:
        """Re-run the experiment with the current control values and redraw."""
        start = time.perf_counter()
        try:
            result = self.experiment(**self.values)
            for ax in self.figure.axes:
                _remove_data(ax)
            self.plot(result, self.axes)
            png = figure_png(self.figure)
            described, warning = self.describe(result), getattr(result, "warning", None)
        except ValueError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # any failure becomes a message; the controls must keep working
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        elapsed = 1000 * (time.perf_counter() - start)
        self.timings_ms.append(elapsed)
        self.result, self.error = result, None
        self.image.value = png
        self.image.layout.display = None
        device = getattr(result, "device", "?")
        self.readout.value = _html(f"{described}  ·  {elapsed:.0f} ms on {device}",
                                   run=len(self.timings_ms))
        self.message.value = _html(f"⚠ {warning}", "#b35900") if warning else ""

    def _fail(self, text: str) -> None:
        self.result, self.error = None, text
        self.readout.value = _html("not run: see the message below")
        self.message.value = _html(f"✖ {text}", "#c00000")
        self.image.layout.display = "none"

    def settings(self) -> str:
        """The controls' values as a reader would say them: 'depth = 30 · width = 128 · …'."""
        return " · ".join(f"{control.description} = {control.value}" for control in self.controls.values())

    def _shown(self) -> str:
        """The readout's HTML, or the failure message's when the last run failed."""
        return self.message.value if self.error else self.readout.value

    def still_html(self, note: str = STILL_NOTE) -> str:
        """The explorer as a still picture in plain HTML: title, settings, readout (or the failure), figure
        and ``note`` (plain text, shown in italics under the figure)."""
        picture = ("" if self.error else
                   f'<img alt="{html.escape(self.title)}" src="data:image/png;base64,'
                   f'{base64.b64encode(self.image.value).decode("ascii")}">')
        return (f'<div class="td-explorer td-still"><b>{html.escape(self.title)}</b>'
                f'<div class="td-settings">{html.escape(self.settings())}</div>'
                f'<div class="td-readout">{self._shown()}</div>{picture}<div><i>{html.escape(note)}</i></div></div>')

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """The widget, and two stand-ins for viewers that cannot draw it (an untrusted notebook in
        JupyterLab, GitHub, a terminal): ``still_html()`` and a plain-text summary. A viewer shows
        one entry of the bundle, so a reader never sees the figure twice."""
        bundle = widget_view(self.widget, include=include, exclude=exclude)
        text = html.unescape(re.sub(r"<[^>]+>", "", self._shown()))
        bundle["text/plain"] = f"Explorer: {self.title}\n{self.settings()}\n{text}\n{STILL_NOTE}"
        bundle["text/html"] = self.still_html()
        return bundle
