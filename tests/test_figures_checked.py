"""Figures are checked: a figure's record (utils/figure_records.py) fails against one drawn from other
data or by other code, and passes against one that differs only by rounding; marked artists get their
documented bands; nbval's outputs pair PNGs with records."""

import json
import math

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from utils.dead_units import plot_dead_sweep
from utils.figure_records import (
    FIGURE_MIMETYPE, MAX_SAMPLES, VARIES_FACTOR, VARIES_FRACTION, compare_figure_outputs, compare_records,
    figure_record,
)
from utils.plotting import is_varying, new_figure, varies
from utils.pruning import AMOUNTS, plot_sparsity_curves

STEPS = np.arange(1, 301)
LOSS = 1.4 * np.exp(-STEPS / 120) + 0.3  # a learning curve, on a log axis
SPREAD = np.geomspace(1.0, 1e-18, 30)  # a gradient norm per layer over 18 decades


def drawn(loss=LOSS, spread=SPREAD, label="He init", color="C0", mark=False, extra_line=False, yscale="log"):
    """The record of a two-panel figure: a loss curve (optionally marked varies) and a per-layer spread
    with a shaded band and an image."""
    fig, (ax_loss, ax_spread) = new_figure(2)
    steps = np.arange(1, len(loss) + 1)
    line = ax_loss.plot(steps, loss, color=color, label=f"{label} (acc 69%)")
    if mark:
        varies(line)
    if extra_line:
        ax_loss.plot(steps, loss * 1.1, label="other")
    ax_loss.set(yscale=yscale, xlabel="step", ylabel="training loss", title="learning curve")
    ax_loss.legend()
    ax_spread.plot(np.arange(1, 31), spread, "o-", label="measured")
    ax_spread.fill_between(np.arange(1, 31), spread / 2, spread * 2, alpha=0.2)
    ax_spread.axhspan(1e-3, 1e3, alpha=0.1, label="healthy")
    ax_spread.imshow(np.log10(np.maximum(spread, 1e-30))[None, :], extent=(1, 30, 1e-6, 1e-5), aspect="auto")
    ax_spread.set(yscale="log", xlabel="layer", title="gradient norm")
    record = json.loads(json.dumps(figure_record(fig), allow_nan=False))  # as a notebook stores it
    plt.close(fig)
    return record


def test_a_record_is_small_json_with_every_kind_of_artist():
    record = drawn()
    loss_axes, spread_axes = record["axes"]
    assert [a["kind"] for a in loss_axes["artists"]] == ["line"]
    assert [a["kind"] for a in spread_axes["artists"]] == ["line", "FillBetweenPolyCollection", "image", "Rectangle"]
    assert loss_axes["artists"][0]["y"]["n"] == 300 and len(loss_axes["artists"][0]["y"]["at"]) == MAX_SAMPLES
    assert loss_axes["legend"] == [{"text": "He init (acc 69%)", "varies": False}]
    assert len(json.dumps(record)) < 12_000


def test_the_same_figure_passes():
    assert compare_records(drawn(), drawn()) == []


def test_rounding_passes():
    """float32 rounding (1e-6 relative) on every value, on log and linear axes, and a subnormal that a
    flush-to-zero CPU returns as 0, pass."""
    rng = np.random.default_rng(0)

    def jitter(n):
        return 1 + 1e-6 * rng.standard_normal(n)

    assert compare_records(drawn(), drawn(LOSS * jitter(300), SPREAD * jitter(30))) == []
    assert compare_records(drawn(yscale="linear"), drawn(LOSS * jitter(300), yscale="linear")) == []
    with_subnormal, flushed = SPREAD.copy(), SPREAD.copy()
    with_subnormal[-1], flushed[-1] = 1e-40, 0.0
    assert compare_records(drawn(spread=with_subnormal), drawn(spread=flushed)) == []


@pytest.mark.parametrize("other, expected", [
    (dict(loss=LOSS * 1.01), "axes 1 ('learning curve'), line 1 'He init (acc 69%)', y"),  # other data: 1% off
    (dict(spread=SPREAD[::-1].copy()), "axes 2 ('gradient norm'), line 1 'measured', y"),  # reversed
    (dict(loss=LOSS[:200]), "300 values stored, 200 now"),  # a shorter run
    (dict(spread=np.where(np.arange(30) == 7, np.nan, SPREAD)), "a gap or infinity in one only"),
])
def test_other_data_fails(other, expected):
    problems = compare_records(drawn(), drawn(**other))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("other, expected", [
    (dict(label="Xavier init"), "label 'He init (acc 69%)' stored, 'Xavier init (acc 69%)' now"),
    (dict(extra_line=True), "line 2 'other'"),
    (dict(color="C3"), "color '#1f77b4ff' stored, '#d62728ff' now"),
    (dict(yscale="linear"), "yscale 'log' stored, 'linear' now"),
])
def test_other_code_fails(other, expected):
    problems = compare_records(drawn(), drawn(**other))
    assert any(expected in p for p in problems), problems


def test_a_missing_axes_or_retitled_figure_fails():
    stored, fresh = drawn(), drawn()
    fresh["axes"].pop()
    assert compare_records(stored, fresh) == ["figure: 2 axes stored, 1 now"]
    fresh = drawn()
    fresh["axes"][1]["title"][1] = "activation spread"
    assert compare_records(stored, fresh) == \
        ["axes 2 ('gradient norm'): title ['', 'gradient norm', ''] stored, ['', 'activation spread', ''] now"]


def test_marked_artists_get_their_bands():
    """A varying line may move by up to VARIES_FACTOR on a log axis and VARIES_FRACTION of the span on a
    linear one, and its label's numbers may change; its x values, length and words may not."""
    stored = drawn(mark=True)
    assert stored["axes"][0]["artists"][0]["varies"] is True
    inside = 0.9 * VARIES_FACTOR
    assert compare_records(stored, drawn(LOSS * inside, mark=True)) == []
    assert compare_records(drawn(mark=True), drawn(LOSS * 1.18, mark=True, label="He init")) == []
    beyond = compare_records(stored, drawn(LOSS * 1.1 * VARIES_FACTOR, mark=True))
    assert any(f"allowed a factor {VARIES_FACTOR:g} (marked varies)" in p for p in beyond), beyond
    assert compare_records(stored, drawn(LOSS[:299], mark=True)) != []
    assert any("label" in p for p in compare_records(stored, drawn(mark=True, label="Xavier init")))
    assert compare_records(stored, drawn()) != []  # the mark itself is part of the code

    linear = drawn(mark=True, yscale="linear")
    span = np.subtract(*linear["axes"][0]["ylim"][::-1])
    assert compare_records(linear, drawn(LOSS + 0.9 * VARIES_FRACTION * span, mark=True, yscale="linear")) == []
    assert compare_records(linear, drawn(LOSS + 1.1 * VARIES_FRACTION * span, mark=True, yscale="linear")) != []


def test_marks_cover_only_what_was_marked():
    """A marked loss curve loosens neither the other panel nor its own x values."""
    stored = drawn(mark=True)
    assert compare_records(stored, drawn(spread=SPREAD * 1.1, mark=True)) != []
    shifted = drawn(mark=True)
    shifted["axes"][0]["artists"][0]["x"]["at"][5] += 1
    assert any(", x, sample 5" in p for p in compare_records(stored, shifted))


def test_varies_rejects_what_is_not_an_artist():
    with pytest.raises(TypeError, match="marks matplotlib artists"):
        varies([0.5, 0.7])


def test_training_outcome_plots_are_marked():
    """The library's plots of training results mark their data (one example each of a line plot)."""
    fig, axes = new_figure(2)
    plot_dead_sweep({("relu", "sgd"): (np.array([0.1, 0.5]), np.array([0.9, 0.4]))}, [0.01, 1.0], axes)
    assert all(is_varying(line) for ax in axes for line in ax.lines)
    fig, ax = new_figure()
    plot_sparsity_curves({"l1_unstructured": np.linspace(0.95, 0.1, len(AMOUNTS))}, ax)
    assert all(is_varying(line) for line in ax.lines)
    plt.close("all")


def test_a_figure_record_must_come_with_its_png_and_back():
    record = drawn()
    figure = {"output_type": "display_data", "data": {"image/png": "iVBOR", FIGURE_MIMETYPE: record}}
    png_only = {"output_type": "display_data", "data": {"image/png": "iVBOR"}}
    record_only = {"output_type": "display_data", "data": {FIGURE_MIMETYPE: record}}
    text = {"output_type": "stream", "name": "stdout", "text": "ok\n"}
    assert compare_figure_outputs([text, figure], [text, figure]) == []
    assert "stored output 1 is a PNG without a figure record" in compare_figure_outputs([png_only], [figure])[0]
    assert "fresh output 1 is a figure record without its PNG" in compare_figure_outputs([figure], [record_only])[0]
    assert compare_figure_outputs([figure], [figure, figure]) == ["1 figures stored, 2 now"]
    other = {"output_type": "display_data", "data": {"image/png": "iVBOR", FIGURE_MIMETYPE: drawn(color="C3")}}
    assert compare_figure_outputs([figure], [other])[0].startswith("figure 1, axes 1 ('learning curve'), line 1")


def test_a_kernel_stores_the_record_beside_the_png():
    """In a real kernel, after the inline backend is set up (which drops other formatters' Figure
    printers), a cell's figure is displayed with its record."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import utils\nfrom utils.plotting import new_figure\nfig, ax = new_figure()\n"
                                  "ax.plot([1, 2, 3], [1.0, float('nan'), 9.0], label='squares')"),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    shown = [o for o in nb.cells[0].outputs if o.output_type == "display_data"]
    assert len(shown) == 1 and {"image/png", FIGURE_MIMETYPE} <= set(shown[0].data)
    line = shown[0].data[FIGURE_MIMETYPE]["axes"][0]["artists"][0]
    assert line["label"] == "squares" and line["y"]["at"] == [1.0, None, 9.0]
    assert not math.isnan(line["y"]["max"])


def test_rounding_noise_is_not_drawn():
    """Chapter 1's spread over the batch of a deep sigmoid net falls to float32 rounding noise, whose
    digits depend on the CPU: the plot leaves out what lies below the noise floor and draws the floor."""
    from utils import gradient_flow
    from utils.diagnostics import SPREAD_NOISE_FLOOR, plot_layer_stats

    sigmoid = gradient_flow(depth=30, activation="sigmoid", sigma_w2=1.0)
    assert sigmoid.probe.input_spread[-1] < SPREAD_NOISE_FLOOR  # the noise is there
    fig, axes = new_figure(3)
    plot_layer_stats([sigmoid], axes)
    drawn_spread = axes[1].lines[0].get_ydata()
    assert np.isnan(drawn_spread[-1]) and np.nanmin(drawn_spread) >= SPREAD_NOISE_FLOOR
    assert axes[1].lines[1].get_ydata()[0] == SPREAD_NOISE_FLOOR
    plt.close(fig)
