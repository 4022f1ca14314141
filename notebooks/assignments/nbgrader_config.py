"""nbgrader's configuration for the book's course folder (nbgrader reads it from the current directory:
run every nbgrader command from notebooks/assignments/). See docs/teaching.md."""

c = get_config()  # noqa: F821  (nbgrader provides get_config when it loads this file)

c.CourseDirectory.course_id = "trainable-depth"
# source/chNN/ holds the notebook and its py:percent twin; the twin carries the solutions, so it must never
# be copied into release/ (or into autograded/). Jupytext's config stays behind too.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", "jupytext.toml"]

# Autograding: a cell may run for at most 60 s (every cell here takes well under 5 s); a student cell that
# raises only costs the tests that depend on it, because nbgrader runs on with allow_errors.
c.Execute.timeout = 60
# A test cell the student deleted is put back from the gradebook, so it is graded with the original tests
# (an edited test cell is overwritten by the original in any case).
c.OverwriteCells.add_missing_cells = True
