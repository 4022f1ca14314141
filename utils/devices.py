"""Where experiments run (cuda, then mps, then cpu) and how they are seeded."""

from __future__ import annotations

import random

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
