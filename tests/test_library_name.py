"""The name `utils`: `import trainable_depth` (each chapter's first import of the book) says which file hides the
book's library and what to do; nothing named utils may sit in notebooks/, where the chapters run."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import trainable_depth

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def import_guard(cwd: Path, code: str = "import trainable_depth", pythonpath: Path | None = None):
    """Run ``code`` in a fresh interpreter whose first import path entry is ``cwd``, as a kernel started in a
    notebook's folder has it; the finished process."""
    env = {"PATH": "/usr/bin:/bin"} | ({"PYTHONPATH": str(pythonpath)} if pythonpath else {})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_book_library_passes(tmp_path):
    assert trainable_depth.library_problem() is None
    assert trainable_depth.BOOK_LIBRARY.parent == ROOT / "utils"
    run = import_guard(tmp_path, "import trainable_depth; from utils import gradient_flow")
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("shadow", ["utils.py", "utils/__init__.py"])
def test_a_utils_in_the_notebook_folder_is_named(tmp_path, shadow):
    (tmp_path / shadow).parent.mkdir(exist_ok=True)
    (tmp_path / shadow).write_text("HELPER = 1\n")
    run = import_guard(tmp_path)
    assert run.returncode != 0
    message = run.stderr.strip().splitlines()[-1]
    shown = tmp_path / shadow.removesuffix("/__init__.py")
    assert message.startswith("ImportError: `import utils` would load") and f"{shown}," in message, message
    assert "Rename or move it" in message and "run this cell again" in message


def test_a_utils_already_imported_asks_for_a_restart(tmp_path):
    (tmp_path / "utils.py").write_text("HELPER = 1\n")
    run = import_guard(tmp_path, "import utils; import trainable_depth")
    assert f"{tmp_path / 'utils.py'}," in run.stderr and "restart the kernel" in run.stderr, run.stderr


def test_another_package_named_utils_is_named_whether_first_on_the_path_or_installed_over_the_book(tmp_path):
    """The book and another package with a top-level `utils`, built and installed as wheels. The other one first on
    the path hides the book's; installed into the same folder after the book's (pip does it file by file), its
    utils/__init__.py replaces the book's in the shared utils/ folder, which the import system cannot tell apart.
    A regular install of the book alone passes."""
    book = tmp_path / "book"
    book.mkdir()
    for name in ("pyproject.toml", "README.md", "trainable_depth.py"):
        shutil.copy(ROOT / name, book / name)
    shutil.copytree(ROOT / "utils", book / "utils", ignore=shutil.ignore_patterns("__pycache__"))
    other = tmp_path / "other"
    (other / "utils").mkdir(parents=True)
    (other / "pyproject.toml").write_text('[project]\nname = "other-helpers"\nversion = "1.0"\n'
                                          '[tool.setuptools]\npackages = ["utils"]\n')
    (other / "utils" / "__init__.py").write_text("HELPER = 1\n")
    site, elsewhere = tmp_path / "site-packages", tmp_path / "cwd"
    elsewhere.mkdir()
    for project in (book, other):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(tmp_path / project.name / "installed"), str(project)],
                       check=True, capture_output=True, timeout=300)
    run = import_guard(elsewhere, pythonpath=other / "installed")  # the other package first on the path
    assert f"would load {other / 'installed' / 'utils'}," in run.stderr, run.stderr
    assert "It belongs to the installed package other-helpers" in run.stderr, run.stderr
    shutil.copytree(book / "installed", site)
    run = import_guard(elsewhere, "import trainable_depth; print(trainable_depth.BOOK_LIBRARY)", pythonpath=site)
    assert run.returncode == 0 and run.stdout.strip() == str(site / "utils" / "__init__.py"), run.stderr
    shutil.copytree(other / "installed", site, dirs_exist_ok=True)  # pip into one site-packages: file by file
    run = import_guard(elsewhere, pythonpath=site)
    assert run.returncode != 0
    message = run.stderr.strip().splitlines()[-1]
    assert f"{site / 'utils' / '__init__.py'} is not the file the book installed" in message, message
    assert "(other-helpers)" in message and "Uninstall that package" in message


def test_nothing_named_utils_in_the_notebooks_folder():
    """The chapters run with notebooks/ as their folder: a utils.py or utils/ there would hide the book's library."""
    found = [path.relative_to(ROOT).as_posix() for path in NOTEBOOKS.rglob("utils*")
             if path.name == "utils.py" or (path.name == "utils" and path.is_dir())]
    assert not found, f"rename these, they hide the book's library `utils` from the chapters: {found}"
