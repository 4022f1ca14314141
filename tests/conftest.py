"""Shared test setup: a non-interactive matplotlib backend, and a guard that nbval really ran."""

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def pytest_collection_modifyitems(config, items):
    """Fail, rather than pass quietly, if nbval was asked for but collected nothing from a chapter."""
    if not config.getoption("nbval", default=False):
        return
    roots = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    expected = {nb for nb in CHAPTERS if any(root == nb or root in nb.parents for root in roots)}
    collected = {Path(str(item.fspath)).resolve() for item in items}
    missing = sorted(str(nb.relative_to(ROOT)) for nb in expected - collected)
    if missing:
        raise pytest.UsageError(f"nbval collected no cells from: {', '.join(missing)}")
