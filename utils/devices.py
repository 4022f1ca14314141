"""Where experiments run (cuda, then mps, then cpu), how they are seeded, how many CPU threads torch
uses, and the one way statistics get float64 precision (on a CPU copy: MPS has no float64)."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import torch

from .validation import check_choice

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def available_devices() -> list[str]:
    """The devices this machine can run on, best first (always ends with 'cpu')."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    return found + ["cpu"]


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``device``: 'auto' (or None) takes cuda, then mps, then cpu; a named device must exist."""
    if isinstance(device, torch.device):
        device = device.type
    device = "auto" if device is None else device
    check_choice("device", device, DEVICE_CHOICES)
    if device == "auto":
        return torch.device(available_devices()[0])
    if device not in available_devices():
        raise ValueError(
            f"device {device!r} is not available on this machine; choose one of: "
            f"auto, {', '.join(available_devices())}"
        )
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cpu_float64(t: torch.Tensor) -> torch.Tensor:
    """A detached float64 copy of ``t`` on the CPU, for statistics: squares of float32 values cannot
    overflow there, and it works on every device (MPS has no float64, so converting there raises)."""
    return t.detach().to("cpu", torch.float64)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's container in CPUs (e.g. 2.0), or None if there is none.

    cgroup v2: ``cpu.max`` holds "QUOTA PERIOD" or "max PERIOD"; cgroup v1: ``cpu.cfs_quota_us`` (-1: none)
    over ``cpu.cfs_period_us`` under ``cpu/`` or ``cpu,cpuacct/``. Inside a container these are the
    container's own files (its cgroup namespace makes its cgroup the root)."""
    text = _read(root / "cpu.max")
    if text is not None:
        quota, _, period = text.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    for folder in ("cpu", "cpu,cpuacct"):
        quota, period = _read(root / folder / "cpu.cfs_quota_us"), _read(root / folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return int(quota) / int(period) if int(quota) > 0 and int(period) > 0 else None
    return None


def cpu_allowance(root: Path = Path("/sys/fs/cgroup")) -> int:
    """How many CPUs this process may really use: the CPUs it is pinned to (affinity), capped by its
    container's CPU quota rounded up, at least 1. A container on a 64-core host with a quota of two
    CPUs gets 2, where ``os.cpu_count()`` (and torch's default thread count) says 64."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota = cgroup_cpu_limit(root)
    except ValueError:  # a malformed file: trust the affinity
        quota = None
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(cpus, 1)


def use_cpu_allowance(root: Path = Path("/sys/fs/cgroup")) -> int:
    """Set torch's intra-op threads to ``cpu_allowance()``, never above torch's own default (which
    already follows OMP_NUM_THREADS); return the thread count. Called when ``utils`` is imported."""
    threads = min(torch.get_num_threads(), cpu_allowance(root))
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads
