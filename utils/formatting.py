"""Printing numbers that reproduce on every machine: no digits of rounding noise, no subnormals.

A printed digit must not depend on the CPU, its BLAS or its thread count (strict nbval re-checks every
stored output). Below some floor a value is rounding noise (e.g. the spread of float32 activations
that differ only in their last bit), or it lies below float32's smallest normal number (1.2e-38),
where hardware that flushes subnormals (Apple's MPS, CPUs in flush-to-zero mode) returns 0. Such a
value is printed as "< floor".
"""

from __future__ import annotations

import re

import torch

FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)  # 1.18e-38: float32's smallest normal number


def short(value: float, spec: str = ".2g") -> str:
    """``value`` formatted with ``spec``, exponents without padding: 1e-06 -> 1e-6, 1.2e+10 -> 1.2e10."""
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + m.group(1).replace("+", "") + m.group(2), format(value, spec))


def above(value: float, floor: float, spec: str = ".2g") -> str:
    """``value`` formatted with ``spec`` if abs(value) >= ``floor``; "0" if it is exactly 0; else "< floor".

    E.g. above(3.2e-9, 1e-6) == "< 1e-6", above(0.0, 1e-6) == "0", above(4.5e-3, 1e-6) == "0.0045"."""
    if value == 0:
        return "0"
    return short(value, spec) if abs(value) >= floor else f"< {short(floor)}"
