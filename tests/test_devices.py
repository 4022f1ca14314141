"""Right on every device and machine: float64 only on CPU copies, threads from the CPU allowance,
slider defaults on their grid, explorer images at their natural size."""

import ast
import inspect
import sys
from pathlib import Path

import ipywidgets as widgets
import pytest
import torch

from utils import EXPLORERS
from utils.devices import cgroup_cpu_limit, cpu_allowance, cpu_float64, use_cpu_allowance
from utils.explorer import alternative_value, log_grid

UTILS = Path(__file__).resolve().parents[1] / "utils"

# --- float64 only on CPU copies ------------------------------------------------------------------
# MPS has no float64: ``t.double()`` or ``t.to(torch.float64)`` on an MPS tensor raises. CPU-only CI
# cannot run MPS, and on the CPU every such conversion works, so no run-time test can catch a new
# one. This static check can: in utils/, float64 appears only in ``cpu_float64`` (a CPU copy), as the
# dtype of a tensor created without a device (on the CPU), or in an explicit ``.to("cpu", ...)``.
CPU_ONLY_FLOAT64 = {  # (file, line text): why it is safe
    ("shortcuts.py", 'DTYPES = {"float32": torch.float32, "float64": torch.float64}'):
        "five_layer_gradients builds its tiny network with device='cpu' and has no device argument",
    ("digits.py", 'return torch.float64 if device.type == "cpu" else torch.float32'):
        "a dtype chosen by device: float64 only where the device is the CPU",
    ("normalization.py", "DTYPES = (torch.float32, torch.float64)"):
        "the dtypes a caller may choose; _check_dtype refuses float64 on any device but the CPU",
    ("normalization.py", 'if dtype == torch.float64 and device.type != "cpu":'):
        "the guard itself: float64 only on the CPU",
}


def _float64_uses(tree):
    """(node, parent) for every ``torch.float64``/``torch.double`` and every ``.double()`` call."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in ("float64", "double")):
            continue
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner in ("np", "numpy"):
            continue  # np.float64, np.double: NumPy's, not a tensor conversion
        if node.attr == "float64" and owner != "torch":
            continue  # e.g. an attribute that merely has that name
        yield node, parents.get(node), parents


def _allowed(node, parents) -> bool:
    parent = parents.get(node)
    if isinstance(parent, ast.keyword) and parent.arg == "dtype":
        call = parents[parent]
        device = next((k.value for k in call.keywords if k.arg == "device"), None)
        if device is not None:
            return isinstance(device, ast.Constant) and device.value == "cpu"
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        follows_a_tensor = name in ("to", "type", "as_tensor") or name.endswith("_like") or name.startswith("new_")
        return not follows_a_tensor  # a new tensor, on the CPU (torch's default device)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.attr == "to":
        first = parent.args[0] if parent.args else None
        return isinstance(first, ast.Constant) and first.value == "cpu"
    return False


def test_float64_only_on_cpu_copies():
    offenders = []
    for path in sorted(UTILS.glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for node, _, parents in _float64_uses(ast.parse(source)):
            line = lines[node.lineno - 1].strip()
            if _allowed(node, parents) or (path.name, line) in CPU_ONLY_FLOAT64:
                continue
            offenders.append(f"utils/{path.name}:{node.lineno}: {line}")
    assert not offenders, "float64 on a device tensor (MPS has no float64); use cpu_float64(t):\n" + "\n".join(offenders)


@pytest.mark.parametrize("source, ok", [
    ("t.double()", False),
    ("[o.double().mean(0) for o in outputs]", False),
    ("self.shared.double()", False),
    ("t.to(torch.float64)", False),
    ("t.to(dev, torch.float64)", False),
    ("torch.zeros(3, dtype=torch.float64, device=dev)", False),
    ("t.to(dtype=torch.float64)", False),
    ("torch.zeros_like(t, dtype=torch.float64)", False),
    ("t.new_zeros(3, dtype=torch.float64)", False),
    ("torch.as_tensor(t, dtype=torch.float64)", False),
    ('t.to("cpu", torch.float64)', True),
    ("torch.zeros(3, dtype=torch.float64)", True),
    ('torch.zeros(3, dtype=torch.float64, device="cpu")', True),
])
def test_the_float64_check_catches_conversions_on_a_device(source, ok):
    tree = ast.parse(source)
    uses = list(_float64_uses(tree))
    assert uses and all(_allowed(node, parents) for node, _, parents in uses) == ok


def test_cpu_float64_is_a_detached_cpu_copy():
    t = torch.ones(3, requires_grad=True)
    copy = cpu_float64(t * 2)
    assert copy.dtype == torch.float64 and copy.device.type == "cpu" and not copy.requires_grad


# --- threads from the CPU allowance ----------------------------------------------------------------

def _cgroup(tmp_path, files: dict) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    return tmp_path


@pytest.mark.parametrize("files, limit", [
    ({"cpu.max": "200000 100000"}, 2.0),            # cgroup v2, two CPUs
    ({"cpu.max": "150000 100000"}, 1.5),
    ({"cpu.max": "max 100000"}, None),               # v2, no quota
    ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1.0),  # v1
    ({"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 0.5),
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),  # v1, no quota
    ({}, None),                                      # no cgroup files at all
])
def test_cgroup_cpu_limit_reads_v1_and_v2(tmp_path, files, limit):
    assert cgroup_cpu_limit(_cgroup(tmp_path, files)) == limit


def test_the_allowance_is_the_quota_rounded_up_and_never_above_the_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
    assert cpu_allowance(_cgroup(tmp_path / "a", {"cpu.max": "150000 100000"})) == 2
    assert cpu_allowance(_cgroup(tmp_path / "b", {"cpu.max": "max 100000"})) == 64
    assert cpu_allowance(_cgroup(tmp_path / "c", {"cpu.max": "10000 100000"})) == 1
    assert cpu_allowance(_cgroup(tmp_path / "d", {"cpu.max": "not a number"})) == 64
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2})
    assert cpu_allowance(_cgroup(tmp_path / "e", {"cpu.max": "800000 100000"})) == 3


def test_torch_threads_follow_the_allowance_but_never_exceed_torch_default(tmp_path, monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
        torch.set_num_threads(2)
        assert use_cpu_allowance(_cgroup(tmp_path / "none", {})) == 2  # never above torch's own count
        assert use_cpu_allowance(_cgroup(tmp_path / "one", {"cpu.max": "100000 100000"})) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# --- slider values stay on the grid ---------------------------------------------------------------

def test_the_log_grid_holds_round_values():
    grid = log_grid(0.1, 100)
    assert {0.1, 0.25, 0.5, 1.0, 1.8, 2.0, 2.2, 3.0, 4.0, 10.0, 30.0, 100.0} <= set(grid) and len(grid) == 3 * 22 + 1
    assert 1.995 not in grid and grid == sorted(grid)


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_every_slider_default_is_on_the_grid_and_survives_a_move_away_and_back(name):
    """The front end can only return to values on the slider's grid: a log slider's listed stops, a
    linear slider's min + k * step."""
    explorer = EXPLORERS[name]()
    for key, control in explorer.controls.items():
        if isinstance(control, widgets.SelectionSlider):
            stops = [v for _, v in control.options]
            on_grid = control.value in stops
        elif isinstance(control, (widgets.FloatSlider, widgets.IntSlider)):
            steps = (control.value - control.min) / control.step
            on_grid = abs(steps - round(steps)) < 1e-9
        else:
            continue
        assert on_grid, f"{name}: {key} = {control.value} is not on the slider's grid"
        default = control.value
        control.value = alternative_value(control)
        control.value = default
        assert explorer.error is None and control.value == default and explorer.values[key] == default


def test_the_values_the_chapters_use_are_on_the_sliders():
    """σ_w² = 1 and 2 (and the neighbours 1.8, 2.2 that chapter 1 names), 10 and 100 on the σ_w² sliders."""
    for name in ("ch1 gradient flow", "ch2 shortcut gradients", "ch3 initialization", "ch3 finite width"):
        stops = [v for _, v in EXPLORERS[name]().controls["sigma_w2"].options]
        assert {1.0, 1.8, 2.0, 2.2, 10.0} <= set(stops), name
    assert 1.0 in [v for _, v in EXPLORERS["ch2 residual scaling"]().controls["sigma_w2"].options]


# --- narrative cells on the CPU, explorers on the best device --------------------------------------

def test_experiments_default_to_the_cpu_and_explorers_to_auto():
    """A reader with a GPU gets the stored, nbval-checked numbers from the narrative cells (which call
    experiments without a device); explorers take the best device and show it."""
    factories = set(EXPLORERS.values())
    checked = 0
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("utils.") or module_name in ("utils.devices", "utils.explorer"):
            continue  # pick_device resolves "auto"; device_dropdown is the explorers' control
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            parameter = inspect.signature(fn).parameters.get("device")
            if fn.__module__ != module.__name__ or parameter is None or parameter.default is parameter.empty:
                continue  # a function that must be given its device cannot pick one by itself
            expected = "auto" if fn in factories else "cpu"
            assert parameter.default == expected, f"{module.__name__}.{name}: device={parameter.default!r}"
            checked += 1
    assert checked >= 15
    for factory in EXPLORERS.values():
        assert factory().controls["device"].value == "auto"
