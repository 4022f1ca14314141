"""What a reader sees on first opening a chapter in JupyterLab, before running anything.

A notebook fresh from git (or on Binder) is *untrusted*: JupyterLab then draws no widget and shows each
explorer's HTML still instead (title, settings, readout, figure). Once trusted (`jupyter trust`, or after the
reader saved it), JupyterLab draws each explorer as a frozen widget from the state stored in the notebook:
controls at their defaults, readout and figure, and the precomputed explorer plays. Neither view may show
a broken widget. Screenshots go to
test-artifacts/browser/first-open/.
"""

import json

import pytest
from harness import (ARTIFACTS, CHROMIUM, PICTURE, UI_TIMEOUT_MS, WIDGETS_RENDERED, NotebookPage, chapters,
                     check_the_player_plays)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="browser test: no `chromium` on PATH (apt-get install chromium)"),
]

BROKEN = ("Error displaying widget", "model not found", "Loading widget")


def stored_explorers(notebook) -> int:
    """How many explorer views the notebook stores (outputs whose text fallback starts 'Explorer:')."""
    cells = json.loads(notebook.read_text())["cells"]
    return sum(1 for cell in cells if cell["cell_type"] == "code" for output in cell.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
               and "".join(output["data"].get("text/plain", "")).startswith("Explorer:"))


def check_first_view(notebook, lab, browser, trusted: bool) -> None:
    if trusted:
        lab.trust(notebook)
    page = NotebookPage(browser, lab, notebook)
    view = "trusted" if trusted else "untrusted"
    try:
        page.wait(WIDGETS_RENDERED, "the stored widgets to render", UI_TIMEOUT_MS)
        assert page.executed == page.expected, "the stored notebook should show every cell as executed"
        text = page.page.evaluate("() => document.querySelector('.jp-Notebook').innerText")
        broken = [phrase for phrase in BROKEN if phrase in text]
        assert not broken, f"{notebook.name} ({view}) shows {broken} before anything ran"

        expected = stored_explorers(notebook)
        assert expected > 0, f"{notebook.name} stores no explorer: was it executed with `make notebooks`?"
        explorers = page.page.locator(".td-explorer" + (":not(.td-still)" if trusted else ".td-still"))
        assert explorers.count() == expected, f"{view}: {explorers.count()} explorers shown, {expected} stored"
        for i in range(expected):
            root = explorers.nth(i)
            root.scroll_into_view_if_needed()
            where = f"{notebook.name} ({view}), explorer {i + 1}"
            picture = root.locator("img").first.evaluate(PICTURE)
            assert picture["shown"] and picture["width"] > 0, f"{where}: no figure shown ({picture})"
            assert picture["colours"] > 1, f"{where}: the figure is one flat colour"
            assert "·" in root.locator(".td-readout").inner_text(), f"{where}: no readout"
            if trusted:
                assert root.locator(".widget-slider, .widget-dropdown").count() > 0, f"{where}: no controls"
            else:
                assert " = " in root.locator(".td-settings").inner_text(), f"{where}: no settings"
            if i == 0:
                folder = ARTIFACTS / "first-open"
                folder.mkdir(parents=True, exist_ok=True)
                page.page.screenshot(path=folder / f"{notebook.stem}-{view}.png")

        players = page.page.locator(".td-precomputed" + (":not(.td-still)" if trusted else ".td-still"))
        assert players.count() > 0, f"{notebook.name} ({view}): no precomputed explorer"
        for i in range(players.count() if trusted else 0):  # it plays in the browser, with no cell run
            check_the_player_plays(page.page, players.nth(i), f"{notebook.name}, precomputed explorer {i + 1}")
    finally:
        page.close()


@pytest.mark.parametrize("notebook", chapters(), ids=lambda path: path.stem)
def test_an_untrusted_chapter_shows_every_explorer_as_a_still(notebook, lab, browser):
    check_first_view(notebook, lab, browser, trusted=False)


@pytest.mark.parametrize("notebook", chapters(), ids=lambda path: path.stem)
def test_a_trusted_chapter_shows_every_explorer_frozen_from_its_stored_state(notebook, lab, browser):
    check_first_view(notebook, lab, browser, trusted=True)
