"""End to end, as a reader: open each chapter in JupyterLab in headless Chromium, run all cells, then move
every control of every explorer and check that the experiment re-runs, the plot redraws and the readout
shows the new setting. Screenshots go to test-artifacts/browser/<chapter>/."""

import math
import re
import shutil

import pytest
from harness import ARTIFACTS, CHROMIUM, Move, NotebookPage, chapters, sha256

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="browser test: no `chromium` on PATH (apt-get install chromium)"),
]

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def settings(readout: str) -> str:
    """The readout without its trailing '·  NN ms on DEVICE'."""
    return readout.rsplit("·", 1)[0]


def number_for(readout: str, name: str) -> float | None:
    """The number the readout gives for ``name`` (as in 'depth 31' or 'σ_w²=1.12'), or None."""
    match = re.search(rf"(?<!\w){re.escape(name)}\s*[=:]?\s*({NUMBER})", settings(readout))
    return float(match.group(1)) if match else None


def names(readout: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", settings(readout)) is not None


@pytest.fixture
def chapter_page(request, lab, browser):
    """The chapter open in JupyterLab; afterwards the page is closed and its kernel shut down."""
    page = NotebookPage(browser, lab, request.param)
    yield page
    page.close()


@pytest.mark.parametrize("chapter_page", chapters(), ids=lambda path: path.stem, indirect=True)
def test_a_reader_runs_the_chapter_and_moves_every_explorer(chapter_page, lab):
    notebook = chapter_page.notebook
    folder = ARTIFACTS / notebook.stem
    shutil.rmtree(folder, ignore_errors=True)

    chapter_page.run_all()
    problems = chapter_page.problems()
    assert not problems, "cells show errors or warnings:\n" + "\n".join(problems)
    assert chapter_page.executed == chapter_page.expected, "not every code cell ran"

    explorers = chapter_page.explorers()
    assert explorers, "no explorer was displayed"
    for number, explorer in enumerate(explorers, 1):
        start = explorer.state()
        assert start.shown and start.run is not None, f"explorer {number} shows no plot: {start.message}"
        natural = min(start.pixels / 2, start.room)  # PNGs have twice the pixels of their natural CSS size
        assert abs(start.width - natural) <= 1, f"explorer {number}: image {start.width} css px wide, not {natural}"
        explorer.screenshot(folder / f"explorer{number}-before.png")
        controls = explorer.controls()
        assert controls, f"explorer {number} has no controls"
        for control in controls:
            check_move(explorer.move(control), f"explorer {number}")
        explorer.screenshot(folder / f"explorer{number}-after.png")

    assert sha256(notebook) == lab.hashes[notebook], f"{notebook.name} changed on disk during the test"
    assert sha256(lab.served(notebook)) == lab.hashes[notebook], "JupyterLab saved the notebook (autosave?)"


def check_move(move: Move, where: str) -> None:
    """The experiment re-ran without failing, the plot redrew, the readout shows the new setting."""
    control, before, after = move.control, move.before, move.after
    what = f"{where}, {control.kind} {control.name!r} moved from {move.showed!r} to {move.shows!r}"
    assert move.shows != move.showed, f"{what}: the control did not move"
    assert not after.message.startswith("✖"), f"{what}: {after.message}"
    assert after.run != before.run and after.shown, f"{what}: no new run shown"
    if control.is_device:  # on a CPU-only machine auto and cpu draw the same plot
        assert after.readout.endswith(f"on {move.shows}"), f"{what}: readout {after.readout!r}"
        return
    assert after.src != before.src, f"{what}: the plot was not redrawn"
    if control.kind != "checkbox":  # a checkbox may change only what is drawn
        assert settings(after.readout) != settings(before.readout), f"{what}: the readout did not change"
    setting = control.name.split()[0]  # 'depth' of 'depth L', 'σ_w²' of 'σ_w² (variance × fan-in)'
    if control.kind == "slider" and number_for(before.readout, setting) is not None:
        shown = number_for(after.readout, setting)
        named = shown is not None and math.isclose(shown, float(move.shows), rel_tol=1e-3)
        assert named, f"{what}: readout {after.readout!r}"
    if control.kind == "dropdown" and names(before.readout, move.showed):
        assert names(after.readout, move.shows), f"{what}: readout {after.readout!r}"
