"""Numbers that a CPU's rounding decides: printed with ≈ by `varies`, masked by exactly one nbval pattern,
and never printed without an assert of their band next to them. (Strict nbval on other numeric paths is
`make test-paths`; asserts under other seeds, `make test-seeds`.)"""

import re
from pathlib import Path

import jupytext
import pytest
from nbval.plugin import get_sanitize_patterns

from utils.formatting import above, varies

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def sanitize(text: str) -> str:
    """``text`` as nbval sees it after the patterns of tests/nbval_sanitize.cfg (read as nbval reads them)."""
    for regex, replace in get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="ascii")):
        text = re.sub(regex, replace, text)
    return text


def test_varies_marks_the_number_and_keeps_its_format():
    assert varies(0.6453, ".3f") == "≈0.645"
    assert varies(0.694, ".1%") == "≈69.4%"
    assert varies(-2.84, ".1f") == "≈-2.8"
    assert varies(2.5e-10, ".1e") == "≈2.5e-10"
    assert varies(7, "d") == "≈7"


def test_varies_below_its_floor_prints_as_above_does():
    assert varies(0.0, ".1e", floor=1e-5) == above(0.0, 1e-5, ".1e") == "0"
    assert varies(3e-9, ".1e", floor=1e-5) == "< 1e-5"
    assert varies(0.19, ".1e", floor=1e-5) == "≈1.9e-1"


@pytest.mark.parametrize("a, b", [(0.645, 0.7173), (0.694, 0.645), (2.5e-10, 3.1e-9), (-2.84, -2.9), (7, 6), (1.65, 12.3)])
def test_nbval_ignores_the_digits_of_a_marked_number_only(a, b):
    spec = "d" if isinstance(a, int) else ".3g"
    line = "final loss {} (ln 4 = 1.386), table {:>8s}"
    assert sanitize(line.format(varies(a, spec), varies(a, spec))) == sanitize(line.format(varies(b, spec), varies(b, spec)))
    assert sanitize("final loss 0.645") != sanitize("final loss 0.717")  # unmarked digits are compared
    assert "1.386" in sanitize(line.format(varies(a, spec), varies(a, spec)))


def _code_cells(source: Path) -> list[str]:
    return [cell.source for cell in jupytext.read(source).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_every_marked_number_has_its_band_asserted_beside_it(source):
    """A number printed with ≈ escapes strict nbval, so its claim must be an assert in the same cell or
    the next one, with a comment that gives the band measured over seeds and CPU code paths."""
    cells = _code_cells(source)
    for i, cell in enumerate(cells):
        if "varies(" not in cell:
            continue
        nearby = cell + "\n" + (cells[i + 1] if i + 1 < len(cells) else "")
        assert re.search(r"^\s*assert ", nearby, re.M), f"{source.name}: no assert beside\n{cell[:300]}"
        assert re.search(r"seeds", nearby), f"{source.name}: no measured band (a comment naming the seeds) beside\n{cell[:300]}"
