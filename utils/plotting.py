"""One plotting style for the whole book, and the small drawing helpers every chapter shares."""

from __future__ import annotations

import io

import matplotlib as mpl
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

BOOK_STYLE = {
    "figure.dpi": 90,
    "savefig.dpi": 90,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.titley": 1.0,  # nothing sits above the axes, so skip the per-draw search for a title position
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "figure.constrained_layout.use": True,
}
# Named colours, so one idea has one colour across chapters.
COLORS = {
    "plain": "#d62728",
    "residual": "#1f77b4",
    "theory": "#333333",
    "band": "#2ca02c",
    "sigmoid": "#9467bd",
    "tanh": "#8c564b",
    "relu": "#ff7f0e",
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (called when ``utils`` is imported)."""
    mpl.rcParams.update(BOOK_STYLE)


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.6, height: float = 3.4):
    """A pyplot figure of ``nrows x ncols`` panels, each ``width x height`` inches; returns (fig, axes)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes.ravel() if axes.size > 1 else axes[0, 0]


# Explorer images: drawn at twice the book's pixel density and shown at the natural size (figure inches
# x CSS_DPI css px), so they stay sharp on high-density screens and are never blown up to the cell width.
CSS_DPI = BOOK_STYLE["figure.dpi"]
EXPLORER_DPI = 2 * CSS_DPI


def detached_figure(ncols: int = 1, width: float = 4.6, height: float = 3.4):
    """Like ``new_figure`` but outside pyplot, for explorers: never auto-displayed, fixed margins
    (no layout engine), ``EXPLORER_DPI`` pixels an inch and its own Agg canvas, so redraws reuse the
    renderer and its text cache."""
    fig = Figure(figsize=(width * ncols, height), dpi=EXPLORER_DPI, layout="none")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False).ravel()
    fig.subplots_adjust(left=1.05 / (width * ncols), right=1 - 0.15 / (width * ncols),
                        bottom=0.55 / height, top=1 - 0.4 / height, wspace=0.35)
    for ax in axes:  # axis labels at fixed places in the margins: no per-draw measuring of tick labels
        box = ax.get_position()
        ax.yaxis.set_label_coords(-0.85 / (box.width * width * ncols), 0.5)  # 0.85 inch left of the axes
        ax.yaxis.label.set_verticalalignment("top")  # (rotated: the label reads rightwards from there)
        ax.xaxis.set_label_coords(0.5, -0.52 / (box.height * height))
        ax.xaxis.label.set_verticalalignment("bottom")
    return fig, axes if ncols > 1 else axes[0]


def figure_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes, compressed fast (zlib level 1: a third of the encoding time of the
    default level, for files a few percent larger)."""
    buffer = io.BytesIO()
    fast = {"compress_level": 1}
    if isinstance(fig.canvas, FigureCanvasAgg):
        fig.canvas.print_png(buffer, pil_kwargs=fast)
    else:
        fig.savefig(buffer, format="png", pil_kwargs=fast)
    return buffer.getvalue()


def layer_axis(ax, ylabel: str, log: bool = True, title: str | None = None) -> None:
    """Label ``ax`` as a per-layer plot: x = layer, y = ``ylabel`` (log scale unless log=False)."""
    ax.set_xlabel("layer")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)


def finite(values) -> np.ndarray:
    """``values`` as floats with inf replaced by NaN, so matplotlib leaves a gap instead of failing."""
    values = np.asarray(values, dtype=float).copy()
    values[~np.isfinite(values)] = np.nan
    return values


def positive(values) -> np.ndarray:
    """Like ``finite`` but also gaps out values <= 0 (they have no place on a log axis)."""
    values = finite(values)
    values[values <= 0] = np.nan
    return values


def draw_runs(ax, x, rows, color: str, alpha: float = 0.25, lw: float = 0.8) -> LineCollection:
    """One thin line per row of ``rows`` against ``x`` (e.g. one per seed), as a single collection:
    drawing hundreds of lines costs what one costs. NaN values leave gaps. Returns the collection."""
    x = np.asarray(x, dtype=float)
    segments = [np.column_stack([x, row]) for row in np.asarray(rows, dtype=float)]
    runs = ax.add_collection(LineCollection(segments, colors=color, alpha=alpha, linewidths=lw), autolim=False)
    points = np.concatenate(segments) if segments else np.empty((0, 2))
    points = points[np.isfinite(points).all(axis=1)]
    if len(points):
        ax.update_datalim(points)
        ax.autoscale_view()
    return runs


def draw_band(ax, low: float, high: float, label: str) -> None:
    """Shade the horizontal band [low, high] (e.g. the 'healthy' range of gradient norms)."""
    ax.axhspan(low, high, color=COLORS["band"], alpha=0.12, label=label, zorder=0)


_VARIES = "_trainable_depth_varies"  # the attribute ``varies`` sets on an artist


def varies(artists):
    """Mark an artist, or each of a list of them (what ``ax.plot`` returns), as showing the outcome of a
    training run: values that another CPU's rounding changes visibly. The tests then compare the values
    it shows (y of a line, collection or patch; the colours of an image or mesh) and the numbers in its
    label only within wide bands, x positions and everything else exactly (``utils/figure_records.py``).
    Returns ``artists``. Raises TypeError for anything but matplotlib artists."""
    for artist in [artists] if isinstance(artists, Artist) else list(artists):
        if not isinstance(artist, Artist):
            raise TypeError(f"varies marks matplotlib artists (lines, collections, images, patches), "
                            f"not {type(artist).__name__}")
        setattr(artist, _VARIES, True)
    return artists


def is_varying(artist: Artist) -> bool:
    """Whether ``artist`` was marked with ``varies``."""
    return getattr(artist, _VARIES, False)


def layer_colors(n: int):
    """``n`` colours from early (dark) to late (light) layers."""
    return mpl.colormaps["viridis"](np.linspace(0.0, 0.9, max(n, 1)))
