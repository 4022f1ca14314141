"""The dependency lists agree: pyproject (ranges), environment.yml (same ranges, conda-forge),
binder/requirements.txt (the same names, every version pinned by constraints.txt, PyTorch's CPU index
searched too), constraints.txt (pins)."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _pyproject():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {Requirement(r).name.lower(): Requirement(r).specifier for r in data["project"]["dependencies"]}


def _conda(path):
    deps = yaml.safe_load((ROOT / path).read_text())["dependencies"]
    found = {}
    for dep in deps:
        if not isinstance(dep, str):
            continue
        name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", dep.replace(" ", "")).groups()
        name = CONDA_NAMES.get(name.lower(), name.lower())
        if name not in ("python", "pip"):
            found[name] = spec
    return found


def _constraints():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _binder():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "binder/requirements.txt").read_text().splitlines()]
    options = [line for line in lines if line.startswith("-")]
    names = {Requirement(line).name.lower(): Requirement(line).specifier for line in lines
             if line and not line.startswith("-")}
    return options, names


def test_the_three_lists_name_the_same_packages():
    names = set(_pyproject())
    assert set(_conda("environment.yml")) == names
    assert set(_binder()[1]) == names


def test_environment_yml_uses_the_pyproject_ranges():
    for name, spec in _conda("environment.yml").items():
        assert SpecifierSet(spec) == _pyproject()[name], name


def test_binder_installs_the_lock_with_cpu_pytorch_preferred():
    options, names = _binder()
    assert "-c ../constraints.txt" in options, "Binder must install the versions of constraints.txt"
    assert all(not spec for spec in names.values()), "versions belong in constraints.txt, not here"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in options, "CPU-only PyTorch"
    assert (ROOT / "binder/runtime.txt").read_text().strip() == "python-3.11"
    assert "3.11" in SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert not (ROOT / "binder/environment.yml").exists(), "repo2docker would build environment.yml instead"


def test_every_dependency_is_pinned_and_torch_is_the_cpu_release():
    pins = _constraints()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = data["project"]["optional-dependencies"]
    for req in data["project"]["dependencies"] + [r for reqs in extras.values() for r in reqs]:
        name = Requirement(req).name.lower()
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert pins[name] in Requirement(req).specifier, f"{name}=={pins[name]} is outside {req}"
    assert pins["torch"] == "2.13.0"


def test_make_installs_the_teach_extra_so_that_make_test_autogrades():
    """`teach` (nbgrader) is what tests/test_assignments.py needs; pip-only, so not in the conda files."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert [Requirement(r).name for r in extras["teach"]] == ["nbgrader"]
    assert _constraints()["nbgrader"] == "0.9.6", "0.9.4's lab extension breaks on JupyterLab >= 4.3"
    assert '-e ".[dev,teach,site]"' in (ROOT / "Makefile").read_text()


def test_the_readme_binder_link_opens_chapter_1_of_the_repository():
    repository = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    slug = repository.removeprefix("https://github.com/")
    link = f"https://mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/notebooks/01_vanishing_gradients.ipynb"
    readme = (ROOT / "README.md").read_text()
    assert f"[![launch on Binder](figures/launch-binder.svg)]({link})" in readme, "the Binder badge"
