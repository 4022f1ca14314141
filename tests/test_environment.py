"""The dependency lists agree: pyproject (ranges), environment.yml (same ranges, conda-forge),
binder/environment.yml (CPU PyTorch, the exact versions of constraints.txt), constraints.txt (pins)."""

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


def test_the_three_lists_name_the_same_packages():
    names = set(_pyproject())
    assert set(_conda("environment.yml")) == names
    assert set(_conda("binder/environment.yml")) == names


def test_environment_yml_uses_the_pyproject_ranges():
    for name, spec in _conda("environment.yml").items():
        assert SpecifierSet(spec) == _pyproject()[name], name


def test_binder_pins_are_the_lock_and_fit_the_ranges():
    pins, ranges = _constraints(), _pyproject()
    for name, spec in _conda("binder/environment.yml").items():
        version = re.match(r"=([^=]+)", spec).group(1)
        assert version == pins[name], f"{name}: binder has {version}, constraints.txt has {pins[name]}"
        assert version in ranges[name], f"{name} {version} is outside pyproject's {ranges[name]}"
    assert "=cpu" in (ROOT / "binder/environment.yml").read_text(), "Binder must get the CPU-only PyTorch"


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
    assert '-e ".[dev,teach]"' in (ROOT / "Makefile").read_text()
