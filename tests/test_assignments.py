"""The classroom assignments (notebooks/assignments/, nbgrader), released and autograded headless.

The course folder is copied to a temporary directory; `nbgrader generate_assignment` makes the student
versions once per session; a class of made-up students is put in submitted/<student>/chNN/ and graded by
one `nbgrader autograde` call per assignment. Scores are read from nbgrader's gradebook, never from an exit
code (`nbgrader validate` exits 0 even when tests fail). The autograde wall time of each assignment is
written to test-artifacts/assignments/autograde_times.txt (speed is not asserted: see docs/teaching.md).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "notebooks" / "assignments"
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").glob("ch[0-9][0-9]"))
BIN = Path(sys.executable).parent  # nbgrader runs `alembic` from PATH
GENERATED = ("release", "submitted", "autograded", "feedback", "downloaded", "gradebook.db", "*.log")
ARTIFACTS = ROOT / "test-artifacts" / "assignments"


# ---- reading the source notebooks ----------------------------------------------------------------------

def source_notebook(assignment: str) -> Path:
    (notebook,) = (COURSE / "source" / assignment).glob("*.ipynb")
    return notebook


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def tasks(notebook) -> dict[str, float]:
    """{solution cell id: points of its test cell '<id>_test'}; each task is one answer cell and one test cell."""
    points = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in notebook.cells if nbgrader_meta(c).get("grade")}
    return {nbgrader_meta(c)["grade_id"]: points[nbgrader_meta(c)["grade_id"] + "_test"]
            for c in notebook.cells if nbgrader_meta(c).get("solution")}


def marked_lines(source: str, begin: str, end: str) -> list[str]:
    """The stripped, non-empty lines between the ``begin`` and ``end`` marker lines of a cell."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def solved(source: str) -> str:
    """A solution cell as a student who solved it would hand it in: the solution without its markers."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


# ---- the course, generated once ------------------------------------------------------------------------

def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True,
                          timeout=900)


def needed(request) -> list[str]:
    """The assignments that the selected tests grade: all of them in a full run, only ch04 under `-k ch04`
    (a test that is not parametrised by assignment uses the first one)."""
    wanted = set()
    for item in request.session.items:
        if "course" in getattr(item, "fixturenames", ()):  # nbval's notebook cells have no fixtures
            params = getattr(item, "callspec", None)
            wanted.add(params.params["assignment"] if params and "assignment" in params.params else ASSIGNMENTS[0])
    return [a for a in ASSIGNMENTS if a in wanted]


@pytest.fixture(scope="module")
def course(request, tmp_path_factory):
    """A temporary copy of the course folder with the needed assignments generated (release/, gradebook)."""
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(COURSE, course, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*GENERATED))
    for assignment in needed(request):
        run = nbgrader(course, "generate_assignment", assignment)
        assert run.returncode == 0, run.stderr[-3000:]
    return course


def release_notebook(course: Path, assignment: str):
    return nbformat.read(course / "release" / assignment / source_notebook(assignment).name, as_version=4)


def fill(course: Path, assignment: str, answers, *, edit_tests=(), delete_tests=(), break_task=None):
    """The released notebook with the solutions of ``answers`` (task ids) filled in, the test cells of
    ``edit_tests`` replaced by `pass`, those of ``delete_tests`` deleted, and the answer of ``break_task``
    replaced by code that raises."""
    notebook = release_notebook(course, assignment)
    source = {nbgrader_meta(c).get("grade_id"): c.source for c in nbformat.read(source_notebook(assignment), 4).cells}
    cells = []
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answers:
            cell.source = solved(source[grade_id])
        if grade_id == break_task:
            cell.source = "1 / 0  # a student's bug"
        if grade_id and grade_id.removesuffix("_test") in edit_tests and grade_id.endswith("_test"):
            cell.source = "pass"
        if grade_id and grade_id.removesuffix("_test") in delete_tests and grade_id.endswith("_test"):
            continue
        cells.append(cell)
    notebook.cells = cells
    return notebook


def submit(course: Path, student: str, assignment: str, notebook=None, text: str | None = None) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / source_notebook(assignment).name
    if notebook is not None:
        nbformat.write(notebook, path)
    elif text is not None:
        path.write_text(text)
    else:
        (folder / "notes.txt").write_text("I forgot to upload my notebook\n")


def grades(course: Path, assignment: str, student: str) -> dict[str, float] | None:
    """{test cell id: score} of ``student``'s submission, from the gradebook; None if it was never graded."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "trainable-depth") as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        return {grade.name: float(grade.score) for notebook in submission.notebooks for grade in notebook.grades}


@pytest.fixture(scope="module")
def graded(request, course):
    """The needed assignments autograded for a class of made-up students, one autograde call per assignment.

    Per assignment: solution (every answer), blank (the release as handed out), partial (every other task).
    For the first assignment also: tampered (the partial answers, with the test cells of solved tasks deleted
    and those of unsolved tasks replaced by `pass`), a student cell that raises, a file that is not JSON, and
    a submission without the notebook.
    """
    plan, assignments = {}, needed(request)
    for assignment in assignments:
        first = assignment == ASSIGNMENTS[0]
        ids = list(tasks(nbformat.read(source_notebook(assignment), 4)))
        half = ids[::2]
        students = {
            "solution": (ids, {}),
            "blank": ([], {}),
            "partial": (half, {}),
        }
        if first:
            students["tampered"] = (half, dict(delete_tests=half, edit_tests=[t for t in ids if t not in half]))
            students["raises"] = (ids, dict(break_task=ids[0]))
        for student, (answers, changes) in students.items():
            submit(course, student, assignment, fill(course, assignment, answers, **changes))
        if first:
            submit(course, "not_json", assignment, text="{ this is not a notebook")
            submit(course, "missing", assignment)
        plan[assignment] = students

    logs, times = {}, {}
    for assignment in assignments:
        start = time.perf_counter()
        run = nbgrader(course, "autograde", assignment)
        times[assignment] = time.perf_counter() - start
        logs[assignment] = run.stdout + run.stderr
        feedback = nbgrader(course, "generate_feedback", assignment)
        logs[assignment] += feedback.stdout + feedback.stderr
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "autograde_times.txt").write_text("".join(
        f"{a}: {len(list((course / 'submitted').glob('*/' + a)))} submissions autograded in {times[a]:.0f} s\n"
        for a in assignments))
    return dict(course=course, plan=plan, logs=logs)


def full_marks(assignment: str) -> dict[str, float]:
    return {task + "_test": points for task, points in tasks(nbformat.read(source_notebook(assignment), 4)).items()}


# ---- the sources ---------------------------------------------------------------------------------------

def test_there_are_assignments():
    assert ASSIGNMENTS, "no notebooks/assignments/source/chNN/ folders"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_task_has_an_answer_cell_and_a_test_cell_with_visible_and_hidden_tests(assignment):
    notebook = nbformat.read(source_notebook(assignment), 4)
    points = tasks(notebook)
    assert 4 <= len(points) <= 8, f"{len(points)} tasks: an assignment has 4 to 8"
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            assert not meta["grade"] and not meta["locked"] and "### BEGIN SOLUTION" in cell.source
        if meta.get("grade"):
            assert meta["locked"] and not meta["solution"] and meta["points"] > 0
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            assert "assert" in visible or "check_" in visible, f"{meta['grade_id']} has no visible test"
            assert marked_lines(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"), (
                f"{meta['grade_id']} has no hidden test")
    setup = [c for c in notebook.cells if nbgrader_meta(c).get("grade_id") == "setup"]
    assert setup and nbgrader_meta(setup[0])["locked"] and "import torch" in setup[0].source, (
        "imports and heavy setup belong in the locked, ungraded setup cell")


# ---- releasing -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_and_no_hidden_test(course, assignment):
    notebook = nbformat.read(source_notebook(assignment), 4)
    secrets = [line for cell in notebook.cells for markers in (("### BEGIN SOLUTION", "### END SOLUTION"),
                                                              ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
               for line in marked_lines(cell.source, *markers)]
    released = list((course / "release" / assignment).rglob("*"))
    assert [p.name for p in released] == [source_notebook(assignment).name], "only the notebook is released"
    text = "\n".join(c.source for c in release_notebook(course, assignment).cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    released_lines = {line.strip() for line in text.splitlines()}
    leaked = [line for line in secrets if len(line) > 5 and line in released_lines]
    assert not leaked, f"released: {leaked[:3]}"
    assert "raise NotImplementedError()" in text


# ---- autograding ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solution_scores_full_marks(graded, assignment):
    assert grades(graded["course"], assignment, "solution") == full_marks(assignment), graded["logs"][assignment][-3000:]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_released_notebook_scores_zero(graded, assignment):
    assert set(grades(graded["course"], assignment, "blank").values()) == {0.0}


def expect_partial(graded, assignment: str, student: str) -> None:
    answered = graded["plan"][assignment][student][0]
    expected = {cell: points if cell.removesuffix("_test") in answered else 0.0
                for cell, points in full_marks(assignment).items()}
    got = grades(graded["course"], assignment, student)
    assert got == expected
    assert 0 < sum(got.values()) < sum(full_marks(assignment).values())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_partial_answer_scores_what_its_passing_tests_are_worth(graded, assignment):
    expect_partial(graded, assignment, "partial")


def test_deleted_or_edited_test_cells_are_graded_with_the_original_tests(graded):
    """'tampered' deleted the test cells of its solved tasks and replaced the others by `pass`: nbgrader puts
    the original tests back, so it scores exactly what its answers are worth, as 'partial' does."""
    expect_partial(graded, ASSIGNMENTS[0], "tampered")


def test_a_cell_that_raises_costs_only_its_own_task(graded):
    assignment = ASSIGNMENTS[0]
    broken = graded["plan"][assignment]["raises"][1]["break_task"] + "_test"
    expected = dict(full_marks(assignment), **{broken: 0.0})
    assert grades(graded["course"], assignment, "raises") == expected
    feedback = graded["course"] / "feedback" / "raises" / assignment / source_notebook(assignment).with_suffix(".html").name
    assert "ZeroDivisionError" in feedback.read_text(), "the feedback shows the student what went wrong"


def test_unreadable_and_missing_submissions_score_zero_and_are_named_in_the_log(graded):
    assignment = ASSIGNMENTS[0]
    log = graded["logs"][assignment]
    for student in ("not_json", "missing"):
        scores = grades(graded["course"], assignment, student)
        assert scores is None or set(scores.values()) == {0.0}, (student, scores)
    assert f"There was an error processing assignment '{assignment}' for student 'not_json'" in log
    assert f"No notebooks were matched by '{graded['course'] / 'submitted' / 'missing' / assignment}" in log
    # the rest of the class is still graded
    assert grades(graded["course"], assignment, "solution") == full_marks(assignment)
