"""`make gpu-check`: every experiment, and every explorer's experiment, on CUDA and MPS against the CPU.

For each experiment it runs the same seeded call on the CPU and on every accelerator this machine has,
compares the key numbers within the stated tolerance, and times both (median of a few runs after one
warm-up). Accelerators compute in float32 with other kernels and another order of summation, so the
numbers agree to rounding, amplified where the physics amplifies it (chaotic networks, long training):
the tolerances below say how far each may go.

On a machine without CUDA or MPS it says so and exits 0. ``--devices cpu`` runs the whole check CPU
against CPU (every number must then agree exactly), to check the script itself on any machine.
Exit status 1 if any experiment fails or strays beyond its tolerance.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from dataclasses import dataclass

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")

from utils import EXPLORERS, available_devices, gradient_flow  # noqa: E402
from utils.jacobian_spectrum import jacobian_spectrum  # noqa: E402
from utils.shortcuts import first_layer_sweep  # noqa: E402
from utils.sweep import sweep, sweep_by_loop  # noqa: E402
from utils.training import train_network  # noqa: E402

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Case:
    """One experiment call; ``numbers(result)`` gives its key numbers, compared within ``rel`` (relative)
    or ``abs`` (absolute), whichever is looser, per number."""

    name: str
    run: object            # device -> result
    numbers: object        # result -> list[float]
    rel: float
    abs: float = 0.0
    why: str = ""


def readout_numbers(describe):
    """The numbers in an explorer's readout (settings and key numbers alike), without its timing."""
    return lambda result: [float(x) for x in NUMBER.findall(describe(result))]


def explorer_cases() -> list[Case]:
    """Every registered explorer's experiment at its default settings, compared by its readout's numbers."""
    cases = []
    for name, factory in sorted(EXPLORERS.items()):
        explorer = factory()
        values = explorer.values

        def run(device, explorer=explorer, values=values):
            return explorer.experiment(**{**values, **({"device": device} if "device" in values else {})})

        cases.append(Case(f"explorer: {name}", run, readout_numbers(explorer.describe), rel=0.02,
                          why="readout numbers (3 significant digits): float32 rounding, amplified over depth"))
    return cases


def experiment_cases() -> list[Case]:
    """The experiments the chapters call that no explorer runs (or runs differently)."""
    tiny = lambda values: [float(np.log10(max(v, 1e-300))) for v in values]  # noqa: E731
    return [
        Case("gradient_flow sigmoid depth 30", lambda d: gradient_flow(depth=30, device=d),
             lambda r: [np.log10(r.ratio)], rel=0, abs=0.01, why="log10 of the ratio (~1e-18)"),
        Case("first_layer_sweep (tanh, relu; depths 1-32)",
             lambda d: first_layer_sweep(depths=(1, 4, 16, 32), activations=("tanh", "relu"), device=d),
             lambda r: tiny(np.concatenate([*r.plain.values(), *r.residual.values()])), rel=0, abs=0.01,
             why="log10 |dl/dW_1|"),
        Case("train_network relu depth 20, 100 steps",
             lambda d: train_network(depth=20, activation="relu", sigma_w2=2.0, steps=100, device=d),
             lambda r: [r.losses[-1], r.accuracy], rel=0.05, abs=0.03,
             why="100 SGD steps let float32 rounding grow: final loss 5%, accuracy 3 points"),
        Case("jacobian_spectrum orthogonal vs normal",
             lambda d: [jacobian_spectrum(init=i, device=d) for i in ("orthogonal", "normal")],
             lambda rs: [r.log10_spread for r in rs], rel=0, abs=0.02, why="spread of log10 singular values"),
        Case("sweep relu 3 x 4 seeds x 50 layers", lambda d: sweep(device=d),
             lambda r: list(np.nanmean(r.log10_ratio, axis=1).ravel()), rel=0, abs=0.01,
             why="seed-mean log10 gradient ratio per depth"),
        Case("sweep_by_loop (autograd) tanh", lambda d: sweep_by_loop("tanh", (1.0, 1.5), depth=20, seeds=2, device=d),
             lambda r: list(r.log10_ratio.ravel()), rel=0, abs=0.01, why="log10 gradient ratio per depth"),
    ]


def timed(run, device, repeats):
    result = run(device)  # warm-up: kernels, caches
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = run(device)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - start))
    return result, statistics.median(times)


def worst_excess(case: Case, reference, other) -> tuple[float, float]:
    """(largest deviation, largest deviation / allowed) over the case's numbers; inf if they differ in count."""
    a, b = np.asarray(case.numbers(reference), float), np.asarray(case.numbers(other), float)
    if a.shape != b.shape:
        return float("inf"), float("inf")
    both_nan = np.isnan(a) & np.isnan(b)
    gap = np.where(both_nan, 0.0, np.abs(a - b))
    allowed = np.maximum(case.rel * np.abs(a), case.abs)
    ratio = np.where(gap == 0, 0.0, gap / np.where(allowed > 0, allowed, np.nan))
    ratio = np.where(np.isnan(ratio), np.inf, ratio)  # a nonzero gap where nothing is allowed
    return float(gap.max(initial=0.0)), float(ratio.max(initial=0.0))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", nargs="+", default=None,
                        help="devices to check against the CPU (default: every accelerator present)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    devices = args.devices or [d for d in available_devices() if d != "cpu"]
    print(f"gpu-check: torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"devices here: {', '.join(available_devices())}")
    if not devices:
        print("No CUDA or MPS device on this machine, so there is nothing to compare the CPU with.\n"
              "Run `make gpu-check` on a machine with a GPU (or `python benchmarks/gpu_check.py --devices cpu` "
              "to check this script CPU against CPU).")
        return 0
    failures, explorers, experiments = 0, explorer_cases(), experiment_cases()
    print(f"\n{'experiment':48s} {'device':6s} {'cpu ms':>8s} {'dev ms':>8s} {'speed-up':>8s} "
          f"{'deviation':>10s} {'of allowed':>10s}  verdict")
    for case in explorers + experiments:
        try:
            reference, cpu_ms = timed(case.run, "cpu", args.repeats)
        except Exception as exc:  # report and go on: one failure must not hide the others
            print(f"{case.name:48s} {'cpu':6s} FAILED: {type(exc).__name__}: {exc}")
            failures += 1
            continue
        for device in devices:
            try:
                result, dev_ms = timed(case.run, device, args.repeats)
            except Exception as exc:
                print(f"{case.name:48s} {device:6s} {cpu_ms:8.0f} FAILED: {type(exc).__name__}: {exc}")
                failures += 1
                continue
            gap, excess = worst_excess(case, reference, result)
            ok = excess <= 1.0
            failures += not ok
            print(f"{case.name[:48]:48s} {device:6s} {cpu_ms:8.0f} {dev_ms:8.0f} {cpu_ms / dev_ms:7.1f}x "
                  f"{gap:10.2g} {excess:9.0%}  {'ok' if ok else 'OVER TOLERANCE'}")
    print("\nTolerances (each number within rel x |cpu value| or abs, whichever is looser):")
    for case in explorers[:1] + experiments:
        name = "every explorer" if case is explorers[0] else case.name[:48]
        print(f"  {name:48s} rel {case.rel:g}, abs {case.abs:g}: {case.why}")
    print(f"\n{'all within tolerance' if not failures else f'{failures} FAILED or over tolerance'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
