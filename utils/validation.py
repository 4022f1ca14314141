"""Argument checks shared by every public function: clear ValueErrors that say what is allowed."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable


def check_choice(name: str, value, allowed: Iterable) -> None:
    """Raise ValueError unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, allowed))}")


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as int, or raise ValueError if it is not an integer in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be at least {minimum}{upper}, got {value}")
    return int(value)


def check_number(name: str, value, minimum: float = 0.0, strict: bool = False) -> float:
    """Return ``value`` as float, or raise ValueError if it is not finite and >= minimum (> if strict)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        relation = "greater than" if strict else "at least"
        raise ValueError(f"{name} must be {relation} {minimum:g}, got {value:g}")
    return float(value)
