"""Printing numbers that reproduce on every machine: no digits of rounding noise, no subnormals.

A printed digit must not depend on the CPU, its BLAS or its thread count (strict nbval re-checks every
stored output). Below some floor a value is rounding noise (e.g. the spread of float32 activations
that differ only in their last bit), or it lies below float32's smallest normal number (1.2e-38),
where hardware that flushes subnormals (Apple's MPS, CPUs in flush-to-zero mode) returns 0. Such a
value is printed as "< floor".

Some numbers cannot be made portable at any precision: the outcome of a training run (and of anything
else that amplifies rounding, such as a deep BatchNorm network) depends on the CPU's numeric path,
because the first differing bit is amplified step by step. ``varies`` prints such a number with a
leading "≈"; strict nbval masks the digits after "≈" (tests/nbval_sanitize.cfg), and an assert beside it
checks the band that the number stays in across seeds and numeric paths.
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


VARIES = "≈"


def varies(value: float, spec: str = ".3g", floor: float | None = None) -> str:
    """``value`` as ``short(value, spec)`` after a "≈": a number whose digits depend on the CPU's numeric
    path (a training run's outcome), e.g. varies(0.6453, ".3f") == "≈0.645", varies(0.694, ".1%") == "≈69.4%".
    With ``floor``, a value below it is printed as ``above`` prints it ("0" or "< floor"), without "≈".

    Strict nbval ignores the digits after "≈" (see the module docstring), so every use needs an assert of
    the band, measured across seeds and numeric paths, in the same cell or the next."""
    if floor is not None and abs(value) < floor:
        return above(value, floor, spec)
    return VARIES + short(value, spec)
