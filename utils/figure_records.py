"""What each figure plots, stored beside its PNG, so that the tests can check the book's figures.

nbval compares text outputs exactly but never a PNG: a figure drawn by changed code, or from other data,
would pass with the old picture stored. So when ``utils`` is imported in IPython, every matplotlib figure
that is displayed (the inline backend displays each figure a cell draws) gets a second representation
beside its ``image/png``: a *figure record* under ``FIGURE_MIMETYPE``, a small JSON object of what the
figure plots. Per axes: titles, axis labels, scales, limits, fixed ticks, legend and texts; per artist
(lines, collections such as scatter, fill_between, pcolormesh or contours, images, patches) its kind,
label, style and data, each array as its length, its finite minimum and maximum and at most
``MAX_SAMPLES`` evenly spaced samples.

The repository's ``conftest.py`` has nbval compare every output but the records exactly, and compare
the records with ``compare_figure_outputs``: structure and texts exactly, numbers within ``ROUNDING`` of
the axis's span (in decades on a log axis), which absorbs another CPU's rounding and nothing a reader
could see.
Values an artist shows that are the outcome of a training run are chaotic: another CPU's rounding
changes them visibly. Plot code marks such artists with ``utils.plotting.varies``; their values are
compared within ``VARIES_FACTOR`` (log axes) or ``VARIES_FRACTION`` of the span (linear axes), and the
numbers in their labels not at all.

Front ends show the PNG and ignore the record (JupyterLab and nbconvert render the richest type they
know); site/build.py drops the records from the website's copies of the notebooks.
"""

from __future__ import annotations

import math
import re

import matplotlib as mpl
import numpy as np
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import FixedFormatter, FixedLocator

from .plotting import is_varying

FIGURE_MIMETYPE = "application/vnd.trainable-depth.figure+json"
RECORD_FORMAT = 1  # raised when the record's layout changes: stored records of another format fail
MAX_SAMPLES = 64  # samples kept per array: a few kB per figure
SIGNIFICANT_DIGITS = 7  # float32's precision; far finer than ROUNDING
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # 1.18e-38; below it flush-to-zero CPUs return 0
# Deterministic values. Measured between the native and an emulated numeric path (ATEN_CPU_CAPABILITY=
# default, MKL_CBWR=COMPATIBLE) over chapters 1, 4 and 5: at most 2e-6 of an axis's span, and 4e-4 where
# a histogram's bin count changes because one sample's rounding moved it across a bin edge. A pixel of a
# 400-pixel axes is 2.5e-3 of it: 1e-3 passes rounding and fails what a reader could see.
ROUNDING = 1e-3
# Values marked with ``varies`` (outcomes of training runs). Measured on the same two paths: loss curves
# and weight changes a factor 1.44 apart, accuracies and dead-unit percentages up to 25% of the axis; on
# the AVX-512 machine of issue 19 a dead-unit percentage moved by 34% of the axis. The bands are about
# twice that: they catch a curve of another quantity, size or place, and not another CPU.
VARIES_FACTOR = 3.0  # on a log axis: each value within a factor 3 of the stored one
VARIES_FRACTION = 0.5  # on a linear axis: each value within half the axis's span of the stored one
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


# ---------------------------------------------------------------------------------------------- record
def _number(value: float):
    """A JSON-able float at ``SIGNIFICANT_DIGITS``; None for NaN, "inf"/"-inf" for infinities (JSON has
    neither); magnitudes below float32's smallest normal number become 0 (flush-to-zero CPUs return 0)."""
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) < FLOAT32_TINY:
        return 0.0
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _array(values, samples=None) -> dict:
    """An array's record: length ``n``, finite ``min`` and ``max`` of all values (None if none is
    finite) and ``at``: ``samples`` if given, else at most ``MAX_SAMPLES`` values evenly spaced over
    the array, first and last included."""
    values = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan).ravel()
    finite = values[np.isfinite(values)]
    if samples is None:
        samples = values[np.linspace(0, values.size - 1, min(values.size, MAX_SAMPLES)).round().astype(int)]
    return {
        "n": int(values.size),
        "min": _number(finite.min()) if finite.size else None,
        "max": _number(finite.max()) if finite.size else None,
        "at": [_number(v) for v in np.ravel(samples)],
    }


def _color(color) -> str | None:
    """The (first) colour as #rrggbbaa; None where there is none (e.g. no face colour)."""
    rgba = mpl.colors.to_rgba_array(color)
    return mpl.colors.to_hex(rgba[0], keep_alpha=True) if len(rgba) else None


def _base(artist, kind: str) -> dict:
    label = artist.get_label()
    return {"kind": kind, "label": "" if label.startswith("_") else label, "varies": is_varying(artist)}


def _line(line) -> dict:
    record = _base(line, "line")
    record.update(color=_color(line.get_color()), linestyle=line.get_linestyle(), marker=str(line.get_marker()),
                  x=_array(line.get_xdata(orig=False)), y=_array(line.get_ydata(orig=False)))
    return record


def _collection(collection) -> dict:
    """Scatter points by their offsets, a mesh by its cell corners, any other collection (lines,
    fill_between, contours) by its paths' vertices; a colour-mapped one also by its value array."""
    record = _base(collection, type(collection).__name__)
    if isinstance(collection, QuadMesh):
        points = collection.get_coordinates().reshape(-1, 2)
    elif isinstance(collection, PathCollection):
        points = np.asarray(collection.get_offsets(), dtype=float).reshape(-1, 2)
    else:
        paths = collection.get_paths()
        record["paths"] = len(paths)
        points = np.concatenate([p.vertices for p in paths]) if paths else np.empty((0, 2))
    record.update(facecolor=_color(collection.get_facecolor()), edgecolor=_color(collection.get_edgecolor()),
                  x=_array(points[:, 0]), y=_array(points[:, 1]))
    if collection.get_array() is not None:
        record.update(cmap=collection.get_cmap().name, norm=_norm(collection), array=_array(collection.get_array()),
                      clim=[_number(v) for v in collection.get_clim()])
    return record


def _norm(mappable) -> str:
    return "log" if isinstance(mappable.norm, LogNorm) else "linear"


def _image(image) -> dict:
    """An image by its extent, colour map and values: a strided grid of at most ``MAX_SAMPLES`` of them."""
    record = _base(image, "image")
    values = np.ma.filled(np.ma.asarray(image.get_array(), dtype=float), np.nan)
    if values.ndim == 3:  # an RGB(A) image: its brightness
        values = values[..., :3].mean(axis=-1)
    rows, cols = values.shape
    side = math.isqrt(MAX_SAMPLES)
    grid = values[np.linspace(0, rows - 1, min(rows, side)).round().astype(int)][
        :, np.linspace(0, cols - 1, min(cols, side)).round().astype(int)]
    record.update(shape=[rows, cols], extent=[_number(v) for v in image.get_extent()], cmap=image.get_cmap().name,
                  norm=_norm(image), clim=[_number(v) for v in image.get_clim()], array=_array(values, grid))
    return record


def _patch(patch) -> dict:
    """A patch (bar, histogram outline, span) by its vertices in its own coordinates."""
    record = _base(patch, type(patch).__name__)
    points = patch.get_patch_transform().transform(patch.get_path().vertices)
    record.update(facecolor=_color(patch.get_facecolor()), x=_array(points[:, 0]), y=_array(points[:, 1]))
    return record


def _ticks(axis) -> dict | None:
    """Ticks the code fixed (``set_xticks``), with their labels; None for automatic ticks."""
    locator = axis.get_major_locator()
    if not isinstance(locator, FixedLocator):
        return None
    formatter = axis.get_major_formatter()
    labels = list(formatter.seq) if isinstance(formatter, FixedFormatter) else None
    return {"at": [_number(v) for v in locator.locs], "labels": labels}


def _legend(legend, varying_labels: set) -> list:
    if legend is None:
        return []
    return [{"text": t.get_text(), "varies": t.get_text() in varying_labels} for t in legend.get_texts()]


def _axes(ax) -> dict:
    artists = ([_line(a) for a in ax.lines if a.get_visible()]
               + [_collection(a) for a in ax.collections if a.get_visible()]
               + [_image(a) for a in ax.images if isinstance(a, AxesImage) and a.get_visible()]
               + [_patch(a) for a in ax.patches if a.get_visible()])
    varying_labels = {a["label"] for a in artists if a["varies"] and a["label"]}
    return {
        "title": [ax.get_title(loc) for loc in ("left", "center", "right")],
        "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
        "xscale": ax.get_xscale(), "yscale": ax.get_yscale(),
        "xlim": [_number(v) for v in ax.get_xlim()], "ylim": [_number(v) for v in ax.get_ylim()],
        "xlim_fixed": not ax.get_autoscalex_on(), "ylim_fixed": not ax.get_autoscaley_on(),
        "xticks": _ticks(ax.xaxis), "yticks": _ticks(ax.yaxis),
        "legend": _legend(ax.get_legend(), varying_labels),
        "texts": [t.get_text() for t in ax.texts if t.get_visible()],
        "artists": artists,
    }


def figure_record(fig: Figure) -> dict:
    """The JSON-able record of what ``fig`` plots (see the module's docstring); a few kB.

    Keys: ``format`` (``RECORD_FORMAT``), ``size`` (inches), ``texts`` (figure texts, the suptitle among
    them), ``legends`` (figure legends' texts) and ``axes``, one dict per axes in ``fig.axes`` order
    (colour bars included)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"figure_record needs a matplotlib Figure, not {type(fig).__name__}")
    return {
        "format": RECORD_FORMAT,
        "size": [_number(v) for v in fig.get_size_inches()],
        "texts": [t.get_text() for t in fig.texts if t.get_visible()],
        "legends": [_legend(legend, set()) for legend in fig.legends],
        "axes": [_axes(ax) for ax in fig.axes if ax.get_visible()],
    }


# --------------------------------------------------------------------------------- display in IPython
def register_figure_records() -> bool:
    """Make IPython add ``figure_record(fig)`` under ``FIGURE_MIMETYPE`` to every Figure it displays.

    Called when ``utils`` is imported; does nothing outside IPython. Returns whether it registered.
    The formatter recognises Figures itself rather than by ``for_type``: matplotlib's inline backend
    removes every formatter's Figure printer when it is set up (``select_figure_formats``)."""
    try:
        from IPython import get_ipython
        from IPython.core.formatters import BaseFormatter, catch_format_error
        from traitlets import Unicode
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False

    class FigureRecordFormatter(BaseFormatter):
        """IPython's formatter for ``FIGURE_MIMETYPE``: the record of a matplotlib Figure, None for
        anything else. An error while recording shows its traceback in the cell."""

        format_type = Unicode(FIGURE_MIMETYPE)
        _return_type = dict

        @catch_format_error
        def __call__(self, obj):
            return figure_record(obj) if self.enabled and isinstance(obj, Figure) else None

    shell.display_formatter.formatters[FIGURE_MIMETYPE] = FigureRecordFormatter(parent=shell.display_formatter)
    return True


# ------------------------------------------------------------------------------------------- compare
class _Scale:
    """How the numbers of one coordinate compare: on a log axis in decades, gaps (<= 0, NaN) alike;
    within ``ROUNDING`` of the span of ``limits``, or within the bands for values marked ``varies``."""

    def __init__(self, log: bool, limits, varies: bool = False):
        self.log, self.limits, self.varies = log, limits, varies
        low, high = (self.transform(v) for v in limits)
        span = abs(high - low) if low is not None and high is not None else math.inf
        self.span = span if 0 < span < math.inf else 1.0

    def marked(self, varies: bool) -> _Scale:
        """This scale for values that are (or are not) marked ``varies``."""
        return _Scale(self.log, self.limits, varies)

    def transform(self, value) -> float | None:
        """``value`` as plotted: a float, or None for a gap (NaN, or <= 0 on a log axis)."""
        if value is None:
            return None
        value = float(value)  # "inf" and "-inf" too
        if self.log:
            return None if value <= 0 else (math.log10(value) if math.isfinite(value) else value)
        return value

    @property
    def allowed(self) -> float:
        if self.varies:
            return math.log10(VARIES_FACTOR) if self.log else VARIES_FRACTION * self.span
        return ROUNDING * self.span

    def describe(self) -> str:
        unit = " decades" if self.log else ""
        if self.varies:
            band = f"a factor {VARIES_FACTOR:g}" if self.log else f"{VARIES_FRACTION:g} of the span {self.span:.4g}"
            return band + " (marked varies)"
        return f"{ROUNDING:g} of the span {self.span:.4g}{unit}"


def _compare_array(where: str, stored: dict, fresh: dict, scale: _Scale) -> list[str]:
    """The length, then min, max and samples: a gap or infinity must match, the largest difference of
    the others must be within ``scale.allowed``."""
    if stored["n"] != fresh["n"]:
        return [f"{where}: {stored['n']} values stored, {fresh['n']} now"]
    pairs = [("min", stored["min"], fresh["min"]), ("max", stored["max"], fresh["max"])]
    pairs += [(f"sample {i}", a, b) for i, (a, b) in enumerate(zip(stored["at"], fresh["at"]))]
    worst, worst_at = 0.0, None
    for name, a, b in pairs:
        ta, tb = scale.transform(a), scale.transform(b)
        if ta is None or tb is None or math.isinf(ta) or math.isinf(tb):
            if ta != tb:
                return [f"{where}, {name}: stored {a}, now {b} (a gap or infinity in one only)"]
        elif abs(ta - tb) > worst:
            worst, worst_at = abs(ta - tb), (name, a, b)
    if worst > scale.allowed:
        name, a, b = worst_at
        unit = " decades" if scale.log else ""
        return [f"{where}, {name}: stored {a}, now {b}; differs by {worst:.3g}{unit}, allowed {scale.describe()}"]
    return []


def _masked(text: str) -> str:
    """``text`` with every number replaced by #: what stays of a varying artist's label."""
    return _NUMBER.sub("#", text)


def _compare_artist(where: str, stored: dict, fresh: dict, x: _Scale, y: _Scale) -> list[str]:
    """Every key exactly but the numbers (x and extents to rounding; y, colour values and limits within
    the bands if marked varies) and a varying artist's label (numbers aside)."""
    varies = stored["varies"] and fresh["varies"]
    colors = _Scale(stored.get("norm") == "log", stored.get("clim", [0, 1]), varies)
    problems = []
    for key in sorted(set(stored) | set(fresh)):
        a, b = stored.get(key), fresh.get(key)
        if a is None or b is None:
            if a != b:
                problems.append(f"{where}: {key} {a!r} stored, {b!r} now")
        elif key in ("x", "y", "array"):
            problems += _compare_array(f"{where}, {key}", a, b, {"x": x, "y": y.marked(varies), "array": colors}[key])
        elif key == "clim":  # colour limits follow the values unless the code fixed them
            problems += _compare_array(f"{where}, colour limits", _as_array(a), _as_array(b), colors)
        elif key == "extent":  # an image's (left, right, bottom, top)
            problems += _compare_array(f"{where}, extent x", _as_array(a[:2]), _as_array(b[:2]), x)
            problems += _compare_array(f"{where}, extent y", _as_array(a[2:]), _as_array(b[2:]), y)
        elif key == "label" and varies:
            if _masked(a) != _masked(b):
                problems.append(f"{where}: label {a!r} stored, {b!r} now (numbers aside: marked varies)")
        elif a != b:
            problems.append(f"{where}: {key} {a!r} stored, {b!r} now")
    return problems


def _artist_name(index: int, record: dict) -> str:
    label = f" {record['label']!r}" if record["label"] else ""
    return f"{record['kind']} {index + 1}{label}"


def _legend_texts(legend: list) -> list[str]:
    return [_masked(entry["text"]) if entry["varies"] else entry["text"] for entry in legend]


def _compare_axes(where: str, stored: dict, fresh: dict) -> list[str]:
    """Texts, scales and fixed ticks exactly; limits that the code fixed to rounding (autoscaled ones
    follow the data, which is compared); then the artists, which must be of the same kinds in the same
    order. Tolerances are fractions of the stored limits' span."""
    keys = ("title", "xlabel", "ylabel", "xscale", "yscale", "xlim_fixed", "ylim_fixed", "xticks", "yticks", "texts")
    problems = [f"{where}: {key} {stored[key]!r} stored, {fresh[key]!r} now"
                for key in keys if stored[key] != fresh[key]]
    if _legend_texts(stored["legend"]) != _legend_texts(fresh["legend"]):
        problems.append(f"{where}: legend {[e['text'] for e in stored['legend']]} stored, "
                        f"{[e['text'] for e in fresh['legend']]} now")
    x = _Scale(stored["xscale"] == "log", stored["xlim"])
    y = _Scale(stored["yscale"] == "log", stored["ylim"])
    for name, scale in (("xlim", x), ("ylim", y)):
        if stored[f"{name}_fixed"] and fresh[f"{name}_fixed"]:
            problems += _compare_array(f"{where}, {name}", _as_array(stored[name]), _as_array(fresh[name]), scale)
    if [a["kind"] for a in stored["artists"]] != [a["kind"] for a in fresh["artists"]]:
        names = [[_artist_name(i, a) for i, a in enumerate(r["artists"])] for r in (stored, fresh)]
        return problems + [f"{where}: artists {names[0]} stored, {names[1]} now"]
    for i, (a, b) in enumerate(zip(stored["artists"], fresh["artists"])):
        problems += _compare_artist(f"{where}, {_artist_name(i, a)}", a, b, x, y)
    return problems


def _as_array(values: list) -> dict:
    return {"n": len(values), "min": None, "max": None, "at": values}


def compare_records(stored: dict, fresh: dict) -> list[str]:
    """What differs between two figure records beyond the tolerances of the module's docstring, one
    line per difference naming the axes and artist (the largest difference per array); [] if none."""
    if stored.get("format") != RECORD_FORMAT or fresh.get("format") != RECORD_FORMAT:
        return [f"figure record format {stored.get('format')} stored, {fresh.get('format')} now "
                f"(this code writes {RECORD_FORMAT}): re-execute the notebook"]
    problems = []
    for key in ("size", "texts", "legends"):
        if stored[key] != fresh[key]:
            problems.append(f"figure {key}: {stored[key]!r} stored, {fresh[key]!r} now")
    if len(stored["axes"]) != len(fresh["axes"]):
        return problems + [f"figure: {len(stored['axes'])} axes stored, {len(fresh['axes'])} now"]
    for i, (a, b) in enumerate(zip(stored["axes"], fresh["axes"])):
        title = next((t for t in a["title"] if t), "") or a["ylabel"]
        problems += _compare_axes(f"axes {i + 1}" + (f" ({title!r})" if title else ""), a, b)
    return problems


def compare_figure_outputs(stored_outputs: list, fresh_outputs: list) -> list[str]:
    """Compare the figures among a cell's stored and freshly computed outputs (nbformat output dicts).

    Every output that holds a PNG must hold a figure record and vice versa (a PNG without one is
    unchecked: stored before records existed, or not drawn by matplotlib). Figures pair up in order;
    their records are compared with ``compare_records``. Returns the problems, [] if none."""
    def figures(outputs, which):
        found, problems = [], []
        for output in outputs:
            data = output.get("data", {})
            if "image/png" in data and FIGURE_MIMETYPE not in data:
                problems.append(f"{which} output {len(found) + 1} is a PNG without a figure record "
                                f"(re-execute the notebook with `make notebooks`; nbval does not compare PNGs)")
            elif FIGURE_MIMETYPE in data and "image/png" not in data:
                problems.append(f"{which} output {len(found) + 1} is a figure record without its PNG")
            if FIGURE_MIMETYPE in data:
                found.append(data[FIGURE_MIMETYPE])
        return found, problems

    stored, problems = figures(stored_outputs, "stored")
    fresh, fresh_problems = figures(fresh_outputs, "fresh")
    problems += fresh_problems
    if problems:
        return problems
    if len(stored) != len(fresh):
        return [f"{len(stored)} figures stored, {len(fresh)} now"]
    for i, (a, b) in enumerate(zip(stored, fresh)):
        problems += [f"figure {i + 1}, {p}" for p in compare_records(a, b)]
    return problems
