"""The book on Colab, as far as a machine without Colab can check it.

Colab keeps its own Python (3.12 or newer), its own ipywidgets (7.7.1) and installs the book's library with
every chapter's first code cell (``COLAB_CELL``). So: every explorer is displayed in a real kernel whose
path starts with Colab's widget packages, and the first cell's install is run against a clone of this
repository in a fresh virtual environment. Both use what make's .venv step put in ``.venv/colab/``
(pinned in ``tests/colab/``), so nothing is downloaded here.
"""

import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel
from packaging.specifiers import SpecifierSet
from test_notebooks import COLAB_CELL, REPOSITORY

from utils import EXPLORERS
from utils.explorer import WIDGET_VIEW

ROOT = Path(__file__).resolve().parents[1]
FETCHED = ROOT / ".venv" / "colab"  # filled by the Makefile's .venv step from tests/colab/*.txt
IPYWIDGETS7 = FETCHED / "ipywidgets7"
WHEELS = FETCHED / "wheels"
COLAB_PYTHONS = ("3.12", "3.13")  # what Colab has run lately; pip refuses a package whose requires-python excludes it


def fetched(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.fail(f"{folder.relative_to(ROOT)} is missing: run `make .venv/.installed` (it fetches it)")
    return folder


def run_in_kernel(code: str, env: dict, timeout: float = 120) -> list[dict]:
    """Every iopub message that executing ``code`` in a fresh kernel of this Python (with ``env``) produces."""
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT / "notebooks"))
    try:
        messages = []
        reply = kc.execute_interactive(code, output_hook=messages.append, timeout=timeout)
        assert reply["content"]["status"] == "ok", reply["content"]
        return messages
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_requires_python_admits_colab_and_the_locked_version():
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    for version in ("3.11", *COLAB_PYTHONS):
        assert version in requires, f"pip on Python {version} would refuse the book: requires-python {requires}"


def test_every_explorer_displays_under_colabs_ipywidgets_7():
    """Colab's ipywidgets 7.7.1 has no ``_repr_mimebundle_`` and no ``Stack``: every explorer must still show
    as a live widget (a view of a model the kernel opened), the precomputed one as its still, and no error."""
    env = {**os.environ, "PYTHONPATH": str(fetched(IPYWIDGETS7))}
    code = "\n".join([
        "import ipywidgets, utils",
        "from IPython.display import display",
        "print(ipywidgets.__version__, ipywidgets.__file__)",
        "for make in utils.EXPLORERS.values():",
        "    display(make())",
        'display(utils.precomputed_explorer(utils.gradient_flow_explorer(depth=6, width=16, device="cpu"),'
        ' "depth", [3, 6]))',
    ])
    messages = run_in_kernel(code, env)

    def content(kind):
        return [m["content"] for m in messages if m["msg_type"] == kind]

    assert content("error") == []
    assert [s["text"] for s in content("stream") if s["name"] == "stderr"] == []
    version, path = "".join(s["text"] for s in content("stream") if s["name"] == "stdout").split()
    assert version == "7.7.1" and Path(path).is_relative_to(IPYWIDGETS7)
    models = {c["comm_id"]: c["data"]["state"] for c in content("comm_open") if c["target_name"] == "jupyter.widget"}
    *explorers, precomputed = [d["data"] for d in content("display_data")]
    assert len(explorers) == len(EXPLORERS)
    for data in explorers:
        view = data[WIDGET_VIEW]
        assert view["version_major"] == 2 and view["version_minor"] == 0, view
        assert models[view["model_id"]]["_model_name"] == "VBoxModel", data["text/plain"]
        assert data["text/plain"].startswith("Explorer: ") and 'class="td-explorer td-still"' in data["text/html"]
    assert WIDGET_VIEW not in precomputed
    assert "<img" in precomputed["text/html"] and "depth = 3 · width = 16" in precomputed["text/html"]
    assert "ipywidgets 7.7.1 has no Stack widget" in precomputed["text/plain"]
    assert "The explorer above plays every value of depth" in precomputed["text/plain"]


def test_the_colab_cell_installs_the_library_from_a_clone_into_a_fresh_venv(tmp_path):
    """Every chapter's first cell, word for word but pointed at a clone of this repository's HEAD, run as on
    Colab in a fresh virtual environment. Its `utils` must be the installed copy, hold every module of the
    repository's, and import (with this venv's torch etc., offered through a .pth file)."""
    clone, fresh = tmp_path / "clone", tmp_path / "fresh"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    site_packages = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    cell = COLAB_CELL.replace(f"git+{REPOSITORY}", f"git+{clone.as_uri()}")
    assert cell != COLAB_CELL and clone.as_uri() in cell
    colab = 'import sys, types; sys.modules["google.colab"] = types.ModuleType("google.colab")\n'
    # Offline: pip builds the wheel with the build backend fetched by make, and reads no pip configuration.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "PYTHON"))}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(fetched(WHEELS))}
    subprocess.run([python, "-c", colab + cell], env=env, cwd=tmp_path, check=True)

    installed = subprocess.run([python, "-m", "pip", "show", "--files", "trainable-depth"], env=env,
                               capture_output=True, text=True, check=True).stdout
    files = {line.strip() for line in installed.split("Files:", 1)[1].splitlines() if line.strip()}
    shipped = {f for f in files if f.startswith("utils/") and "__pycache__" not in f}
    tracked = set(subprocess.run(["git", "ls-files", "utils"], cwd=clone, capture_output=True, text=True,
                                 check=True).stdout.split())
    assert shipped == tracked, f"the wheel lacks {sorted(tracked - shipped)}, adds {sorted(shipped - tracked)}"
    top_level = {f.split("/")[0] for f in files if not f.startswith("__pycache__/")}
    assert top_level == {"utils", "trainable_depth.py", "trainable_depth-0.1.0.dist-info"}, sorted(files)
    metadata = (site_packages / "trainable_depth-0.1.0.dist-info" / "METADATA").read_text()
    requires = SpecifierSet(next(line.split(":", 1)[1] for line in metadata.splitlines()
                                 if line.startswith("Requires-Python:")))
    assert all(version in requires for version in COLAB_PYTHONS), requires

    # The book's dependencies from this venv, after the fresh venv's own site-packages. (Its editable `utils` is
    # a finder that only this venv's .pth files install, and a .pth file's lines are not read as .pth files.)
    (site_packages / "book-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    script = "import trainable_depth, utils; print(utils.__file__); print(len(utils.EXPLORERS))"
    imported = subprocess.run([python, "-I", "-c", script],
                              cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert imported == [str(site_packages / "utils" / "__init__.py"), str(len(EXPLORERS))]
