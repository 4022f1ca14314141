"""Timings for two claims about speed (chapter 5): does sparsity make a matmul faster, and does GELU
cost more than ReLU? Measured with ``torch.utils.benchmark`` on this machine's CPU (the fastest of
several repeated blocks, after warm-up) on one thread, so that other programs on the machine disturb them
less; the numbers still depend on the machine and its load, so the chapter prints them but asserts
nothing about them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from .validation import check_int, check_number

SPARSITIES = (0.0, 0.5, 0.9, 0.95)
TIMED_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
                     "silu": F.silu}


def _fastest_us(stmt: str, env: dict, min_run_time: float, repeats: int = 3) -> float:
    """Microseconds per run of ``stmt``: the fastest of ``repeats`` blocks of about ``min_run_time``
    seconds each (on a shared machine the fastest block is the one least disturbed by others)."""
    timer = benchmark.Timer(stmt=stmt, globals=env, num_threads=1)
    per_run = timer.timeit(1).mean  # also warms up
    number = max(1, round(min_run_time / max(per_run, 1e-7)))
    return min(timer.timeit(number).mean for _ in range(repeats)) * 1e6


@dataclass
class MatmulTimings:
    """Microseconds per product W @ X, W of shape (n, n) with a fraction of zeros, X of shape (n, batch)."""

    sparsities: tuple
    dense_us: list   # W stored dense, zeros and all
    csr_us: list     # W as a torch sparse CSR tensor
    coo_us: list     # W as a torch sparse COO tensor
    n: int
    batch: int


def matmul_timings(sparsities=SPARSITIES, n: int = 1024, batch: int = 64, min_run_time: float = 0.05,
                   seed: int = 0) -> MatmulTimings:
    """Time a dense float32 matmul whose weight matrix has ``sparsities`` of its entries zeroed at random
    against the same product in torch's sparse CSR and COO formats."""
    check_int("n", n, minimum=1)
    check_int("batch", batch, minimum=1)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, batch, generator=gen)
    dense, csr, coo = [], [], []
    for s in sparsities:
        check_number("sparsity", s, minimum=0.0)
        w = torch.randn(n, n, generator=gen) * (torch.rand(n, n, generator=gen) >= s)
        with warnings.catch_warnings():  # torch calls its CSR support "beta" on every conversion
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            env = {"w": w, "x": x, "w_csr": w.to_sparse_csr(), "w_coo": w.to_sparse()}
        dense.append(_fastest_us("w @ x", env, min_run_time))
        csr.append(_fastest_us("w_csr @ x", env, min_run_time))
        coo.append(_fastest_us("torch.sparse.mm(w_coo, x)", env | {"torch": torch}, min_run_time))
    return MatmulTimings(tuple(sparsities), dense, csr, coo, n, batch)


@dataclass
class ActivationTimings:
    """Microseconds per call: each activation alone on a (batch, width) tensor, and a whole layer
    act(x W^T + b) from ``width // 4`` inputs to ``width`` units."""

    alone_us: dict
    layer_us: dict
    batch: int
    width: int


def activation_timings(batch: int = 128, width: int = 2048, min_run_time: float = 0.05,
                       seed: int = 0) -> ActivationTimings:
    """Time relu, gelu (exact, erf), gelu (tanh approximation) and silu in float32 on the CPU."""
    check_int("batch", batch, minimum=1)
    check_int("width", width, minimum=4)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, width, generator=gen)
    x = torch.randn(batch, width // 4, generator=gen)
    layer = torch.nn.Linear(width // 4, width)
    alone, whole = {}, {}
    with torch.no_grad():
        for name, fn in TIMED_ACTIVATIONS.items():
            env = {"fn": fn, "z": z, "x": x, "layer": layer}
            alone[name] = _fastest_us("fn(z)", env, min_run_time)
            whole[name] = _fastest_us("fn(layer(x))", env, min_run_time)
    return ActivationTimings(alone, whole, batch, width)
