"""Notebook hygiene: every .py has its .ipynb twin with the same cells (and the same kept metadata: tags, the
collapsed answer keys' jupyter.source_hidden/outputs_hidden, nbgrader's), also through a real `jupytext --sync`;
the chapters' stored outputs hold no errors and no machine paths, the assignments' sources hold no outputs.
(Strict re-execution of the chapters is nbval's job: see pyproject; the assignments are run by
tests/test_assignments.py.)"""

import json
import os
import re
import tomllib
from pathlib import Path

import jupytext
import jupytext.cli
import pytest

from utils.widget_state import STATE, shown_models

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# nbgrader's sources, stored unexecuted; the course folder's generated folders (release/, ...) are not pairs
ASSIGNMENTS = NOTEBOOKS / "assignments" / "source"
ASSIGNMENT_SOURCES = sorted(ASSIGNMENTS.glob("*/*.py"))
ASSIGNMENT_TWINS = sorted(ASSIGNMENTS.glob("*/*.ipynb"))
SOURCES = sorted(NOTEBOOKS.glob("*.py")) + ASSIGNMENT_SOURCES
TWINS = sorted(NOTEBOOKS.glob("*.ipynb"))
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
# Every chapter's first code cell, word for word (copy it into a new chapter; the README shows it too).
COLAB_CELL = f"""# On Colab only: install the book's library `utils` (Colab keeps its own PyTorch). Elsewhere: nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "git+{REPOSITORY}"], check=True)"""
MACHINE_PATH = re.compile(r"(/root/|/home/\w+/|/tmp/|/work/|/Users/\w+/|[A-Z]:\\\\Users|site-packages)")


def notebook_id(path: Path) -> str:
    """A test id: the path under notebooks/, so that `-k ch04` selects assignments/source/ch04/."""
    return path.relative_to(NOTEBOOKS).as_posix()


def collapsed(cell) -> dict:
    """Whether JupyterLab shows ``cell``'s source and outputs collapsed (``jupyter.source_hidden``/``outputs_hidden``;
    the answer keys have them): the set flags, as a dict."""
    return {key: True for key in ("source_hidden", "outputs_hidden") if cell.metadata.get("jupyter", {}).get(key)}


def _cells(notebook):
    """What a .py and its .ipynb must agree on, cell by cell: type, source, and the metadata that tools and readers
    use: tags (the website hides cells by them), the collapsed flags, and nbgrader's (the assignments)."""
    return [(cell.cell_type, cell.source.strip(), cell.metadata.get("tags"), collapsed(cell),
             cell.metadata.get("nbgrader")) for cell in notebook.cells]


def collapsed_cells(notebook) -> list[int]:
    """The indices of the cells that open collapsed in JupyterLab."""
    return [index for index, cell in enumerate(notebook.cells) if collapsed(cell)]


def pair_problem(source: Path) -> str | None:
    """Why ``source`` and its .ipynb twin are not a pair, or None if they are."""
    twin = source.with_suffix(".ipynb")
    if not twin.exists():
        return f"{twin.name} is missing: run `make notebooks`"
    if _cells(jupytext.read(source)) != _cells(jupytext.read(twin)):
        return f"{source.name} and {twin.name} differ: the .py was edited; run `make notebooks`"
    return None


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks found"


@pytest.mark.parametrize("source", SOURCES, ids=notebook_id)
def test_each_source_has_an_identical_executed_twin(source):
    assert pair_problem(source) is None, pair_problem(source)


def test_the_pair_check_catches_a_stale_or_missing_twin(tmp_path):
    source = tmp_path / "99_example.py"
    source.write_text("# %% [markdown]\n# Text\n\n# %%\nx = 1\n")
    jupytext.write(jupytext.read(source), source.with_suffix(".ipynb"))
    assert pair_problem(source) is None
    source.write_text("# %% [markdown]\n# Text\n\n# %%\nx = 2\n")
    assert "differ" in pair_problem(source)
    source.with_suffix(".ipynb").unlink()
    assert "missing" in pair_problem(source)


@pytest.mark.parametrize("before, after", [
    ('# %% nbgrader={"grade": true, "grade_id": "t_test", "points": 1}\nassert True\n',
     '# %% nbgrader={"grade": true, "grade_id": "t_test", "points": 2}\nassert True\n'),
    ('# %% jupyter={"source_hidden": true} tags=["hide-input"]\ncheck_answer("x", None)\n',
     '# %% tags=["hide-input"]\ncheck_answer("x", None)\n'),
], ids=["changed nbgrader metadata", "answer key no longer collapsed"])
def test_the_pair_check_catches_changed_cell_metadata(tmp_path, before, after):
    source = tmp_path / "99_example.py"
    source.write_text(before)
    jupytext.write(jupytext.read(source), source.with_suffix(".ipynb"))
    assert pair_problem(source) is None
    source.write_text(after)
    assert "differ" in pair_problem(source)


def _first_with_collapsed_cells(sources):
    return next((source for source in sources if collapsed_cells(jupytext.read(source))), None)


@pytest.mark.parametrize("edited", [".py", ".ipynb"])
@pytest.mark.parametrize("source", [_first_with_collapsed_cells(CHAPTERS) or CHAPTERS[0], ASSIGNMENT_SOURCES[0]],
                         ids=notebook_id)
def test_jupytext_sync_keeps_the_cell_metadata_that_matters(tmp_path, source, edited):
    """Saving a paired notebook in JupyterLab, or `jupytext --sync`, rewrites the pair from the file that was edited,
    through the folder's jupytext.toml filters. Either way, both files must keep the edited file's tags, collapsed
    answer keys and nbgrader metadata, and JupyterLab's per-cell state (scroll, execution times, ...) stays out."""
    config = next(folder / "jupytext.toml" for folder in source.parents if (folder / "jupytext.toml").exists())
    for path in (source, source.with_suffix(".ipynb"), config):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    copy = tmp_path / source.name
    notebook = json.loads(copy.with_suffix(".ipynb").read_text())
    notebook["cells"][0]["metadata"].update(scrolled=True, editable=False, execution={"iopub.status.idle": "2025"},
                                            jupyter={"x": 1})
    copy.with_suffix(".ipynb").write_text(json.dumps(notebook))
    other = ".ipynb" if edited == ".py" else ".py"
    os.utime(copy.with_suffix(other), (1_000_000_000, 1_000_000_000))  # `--sync` reads the newer file of the two
    jupytext.cli.jupytext(["--sync", "--quiet", str(copy.with_suffix(edited))])
    expected = _cells(jupytext.read(source.with_suffix(edited)))
    assert _cells(jupytext.read(copy)) == expected, "the .py lost tags, collapsed flags or nbgrader metadata"
    assert _cells(jupytext.read(copy.with_suffix(".ipynb"))) == expected, "the .ipynb lost some"
    headers = [line for line in copy.read_text().splitlines() if line.startswith("# %%")]
    noise = [line for line in headers if re.search(r'scrolled|editable|execution|"x"', line)]
    assert not noise, f"JupyterLab's per-cell state reached the .py: {noise}"


def test_the_sync_check_has_an_answer_key_to_check():
    assert _first_with_collapsed_cells(CHAPTERS), "no chapter has a collapsed answer key"


@pytest.mark.parametrize("twin", TWINS + ASSIGNMENT_TWINS, ids=notebook_id)
def test_each_ipynb_has_a_source(twin):
    assert twin.with_suffix(".py").exists(), f"{twin.name} has no .py source"


@pytest.mark.parametrize("twin", TWINS, ids=notebook_id)
def test_stored_outputs_are_executed_clean_and_portable(twin):
    text = twin.read_text()
    cells = json.loads(text)["cells"]
    code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert all(c["execution_count"] is not None for c in code), "some code cells were never executed"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"stored error output: {errors[0]['ename']}: {errors[0]['evalue']}"
    stderr = [o for c in code for o in c["outputs"] if o.get("name") == "stderr"]
    assert not stderr, f"stored stderr output (a warning?): {''.join(stderr[0]['text'])[:200]}"
    match = MACHINE_PATH.search(text)
    assert not match, f"machine-specific path in stored outputs: {match.group(0)!r}"


@pytest.mark.parametrize("twin", ASSIGNMENT_TWINS, ids=notebook_id)
def test_assignment_sources_are_stored_without_outputs(twin):
    """nbgrader clears outputs when it releases; stored ones would only be a second copy of the solution's."""
    cells = json.loads(twin.read_text())["cells"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("source", CHAPTERS, ids=notebook_id)
def test_only_live_widgets_and_timings_are_exempt_from_nbval(source):
    for cell in jupytext.read(source).cells:
        if "NBVAL_IGNORE_OUTPUT" in cell.source or "NBVAL_SKIP" in cell.source:
            code = cell.source.replace("# NBVAL_IGNORE_OUTPUT", "").strip()
            assert "NBVAL_SKIP" not in cell.source, "cells must run under nbval"
            shows_explorer = code.endswith(")") and "explorer(" in code.splitlines()[-1]
            shows_timings = "_timings(" in code  # utils/speed_checks.py: measured times differ on every run
            assert shows_explorer or shows_timings, (
                f"only cells that display an explorer or timings may ignore their output:\n{cell.source}")


@pytest.mark.parametrize("source", CHAPTERS, ids=notebook_id)
def test_chapter_has_the_parts_every_chapter_needs(source):
    text = source.read_text()
    for heading in ("Learning goals", "## What we saw", "## Exercises", "## References"):
        assert heading in text, f"{source.name} lacks '{heading}'"
    assert "explorer()" in text or "_explorer(" in text, "no explorer"
    assert text.count("assert ") >= 5, "numbers in the prose must be asserted in cells"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_the_first_code_cell_installs_the_library_on_colab_only(source):
    first = next(cell for cell in jupytext.read(source).cells if cell.cell_type == "code")
    assert first.source.strip() == COLAB_CELL, f"{source.name}: the first code cell must be COLAB_CELL"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_the_library_is_imported_after_its_name_check(source):
    """`import trainable_depth` comes right before the chapter's first import of `utils`, in the same cell: where
    another module named utils hides the book's, that cell then says which file and what to do
    (trainable_depth.py; a test in tests/test_library_name.py)."""
    imports_utils = re.compile(r"^(from utils[ .]|import utils\b)", re.MULTILINE)
    cell = next(cell for cell in jupytext.read(source).cells
                if cell.cell_type == "code" and imports_utils.search(cell.source))
    before = cell.source[:imports_utils.search(cell.source).start()].splitlines()
    assert before and before[-1].startswith("import trainable_depth  #"), (
        f"{source.name}: put `import trainable_depth` (with its comment) on the line before the first `from utils`")


@pytest.mark.parametrize("twin", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_every_stored_widget_view_has_its_state(twin):
    """A view without its model shows "Error displaying widget: model not found" to a reader with no kernel."""
    notebook = json.loads(twin.read_text())
    state = notebook["metadata"].get("widgets", {}).get(STATE, {}).get("state", {})
    missing = shown_models(notebook) - set(state)
    assert not missing, f"{len(missing)} widget views have no stored state: run `make notebooks`"
