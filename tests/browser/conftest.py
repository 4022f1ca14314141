"""Fixtures for the browser test: one JupyterLab server and one Chromium for the whole session."""

import pytest
from harness import ARTIFACTS, JupyterLab, chromium


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    with JupyterLab(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    with chromium() as browser:
        yield browser


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """When a chapter fails, save what the browser showed at that moment."""
    report = yield
    chapter = getattr(item, "funcargs", {}).get("chapter_page")
    if report.when == "call" and report.failed and chapter is not None:
        chapter.page.screenshot(path=ARTIFACTS / chapter.notebook.stem / "failure.png")
    return report
