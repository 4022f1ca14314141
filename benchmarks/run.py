"""`make bench`: explorer latency, notebook run time and kernel memory, against the book's targets.

Targets (reported, never asserted in tests): explorer median <= 250 ms from a control change to the
redrawn figure; each notebook <= 60 s; kernel peak RSS <= 1.5 GB; in JupyterLab in the browser, median
<= 500 ms from a control moved to the new image loaded; chapter 3's batched sweep >= 5x faster than a loop
of separate models, and its phase-diagram explorer <= 2 s per redraw.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]

EXPLORER_TARGET_MS, NOTEBOOK_TARGET_S, MEMORY_TARGET_GB, BROWSER_TARGET_MS = 250, 60, 1.5, 500
SWEEP_TARGET_SPEEDUP, PHASE_DIAGRAM_TARGET_S = 5, 2.0
PEAK_RSS = "import resource; print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def _verdict(value, target):
    return "ok" if value <= target else "OVER TARGET"


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_explorers(repeats: int = 15) -> None:
    """Time control change -> redrawn PNG, alternating the first control between two values."""
    import matplotlib

    matplotlib.use("Agg")
    from utils import EXPLORERS
    from utils.explorer import alternative_value

    print(f"\nExplorers: control change -> redrawn figure, {repeats} changes each (target median <= {EXPLORER_TARGET_MS} ms)")
    print(f"  {'explorer':32s} {'control':10s} {'median':>9s} {'p95':>9s}")
    for name, factory in sorted(EXPLORERS.items()):
        explorer = factory()
        key, control = next(iter(explorer.controls.items()))
        values = [control.value, alternative_value(control)]
        times = []
        for i in range(repeats + 1):
            start = time.perf_counter()
            control.value = values[(i + 1) % 2]
            elapsed = 1000 * (time.perf_counter() - start)
            assert explorer.error is None, explorer.error
            if i:  # the first change warms caches
                times.append(elapsed)
        median = statistics.median(times)
        print(f"  {name:32s} {key:10s} {median:7.0f}ms {percentile(times, 95):7.0f}ms  {_verdict(median, EXPLORER_TARGET_MS)}")


def bench_notebooks() -> None:
    """Execute every chapter in a fresh kernel; report wall time and the kernel's peak RSS."""
    print(f"\nNotebooks: execution time (target <= {NOTEBOOK_TARGET_S} s) and kernel peak RSS (target <= {MEMORY_TARGET_GB} GB)")
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(PEAK_RSS))
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
        peak_gb = int(text.split()[-1]) / 1024**2
        print(f"  {path.name:40s} {seconds:6.1f} s {_verdict(seconds, NOTEBOOK_TARGET_S):12s} "
              f"{peak_gb:5.2f} GB {_verdict(peak_gb, MEMORY_TARGET_GB)}")


def bench_browser(changes: int = 10) -> None:
    """In JupyterLab in headless Chromium (the browser test's harness): each explorer's first control other
    than the device, moved back and forth; the page measures from the reader's action to the new image loaded."""
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from harness import CHROMIUM, JupyterLab, NotebookPage, chapters, chromium

    print(f"\nBrowser: control moved -> new image loaded, {changes} changes each (target median <= {BROWSER_TARGET_MS} ms)")
    if CHROMIUM is None:
        print("  skipped: no `chromium` on PATH")
        return
    print(f"  {'explorer':44s} {'control':10s} {'median':>9s} {'p95':>9s} {'in kernel':>10s}")
    with tempfile.TemporaryDirectory() as tmp, JupyterLab(Path(tmp)) as lab, chromium() as browser:
        for notebook in chapters():
            page = NotebookPage(browser, lab, notebook)
            try:
                page.run_all()
                for explorer in page.explorers():
                    control = next(c for c in explorer.controls() if not c.is_device)
                    moves = explorer.back_and_forth(control, changes + 1)
                    assert all(m.latency_ms is not None for m in moves), [m.after.message for m in moves]
                    times = [m.latency_ms for m in moves[1:]]  # the first change warms caches
                    kernel = [m.after.kernel_ms for m in moves[1:]]
                    median = statistics.median(times)
                    name = f"{notebook.stem[:2]} {explorer.title}"[:44]
                    print(f"  {name:44s} {control.name.split()[0]:10s} {median:7.0f}ms {percentile(times, 95):7.0f}ms "
                          f"{statistics.median(kernel):8.0f}ms  {_verdict(median, BROWSER_TARGET_MS)}")
            finally:
                page.close()


def bench_sweep(repeats: int = 5) -> None:
    """Chapter 3: the batched sweep against a loop of separate models on the phase diagram's default grid
    (same numbers), and the phase-diagram explorer's redraw (target <= 2 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from utils.mean_field import critical_sigma_w2
    from utils.phase_diagram import SPAN, phase_diagram_explorer
    from utils.sweep import sweep, sweep_by_loop

    critical = critical_sigma_w2("tanh", 0.05)
    grid = dict(activation="tanh", sigma_w2=np.geomspace(critical / SPAN, critical * SPAN, 25), sigma_b2=0.05,
                depth=50, width=64, seeds=4, batch=32, device="cpu")
    batched_s, looped_s = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        batched = sweep(**grid)
        batched_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        looped = sweep_by_loop(**grid)
        looped_s.append(time.perf_counter() - start)
    ordered = grid["sigma_w2"] <= critical  # beyond it chaos amplifies float32 rounding as chi^(l/2)
    worst = max(float(np.max(np.abs(getattr(batched, k)[ordered] / getattr(looped, k)[ordered] - 1)))
                for k in ("q", "act_std", "grad_norm"))
    mean_gap = float(np.max(np.abs(batched.log10_ratio.mean(axis=1) - looped.log10_ratio.mean(axis=1))))
    speedup = statistics.median(looped_s) / statistics.median(batched_s)
    print(f"\nSweep (chapter 3): 25 sigma_w2 x 4 seeds x 50 layers, width 64, batch 32, on the CPU, {repeats} runs each")
    print(f"  batched sweep {statistics.median(batched_s):6.2f} s   loop of 100 build_network models "
          f"{statistics.median(looped_s):6.2f} s   speed-up {speedup:5.1f}x  {'ok' if speedup >= SWEEP_TARGET_SPEEDUP else 'UNDER TARGET'}"
          f" (target >= {SWEEP_TARGET_SPEEDUP}x)")
    print(f"  same numbers: up to the edge of chaos every value agrees to {worst:.1e} (relative); beyond it, where "
          f"rounding grows, the seed-averaged log10 gradient ratios agree to {mean_gap:.2f} decades")

    explorer = phase_diagram_explorer(device="cpu")
    control, times = explorer.controls["sigma_b2"], []
    for i in range(repeats + 1):  # 0.05 <-> 0.06: the first change also finds the new critical point
        start = time.perf_counter()
        control.value = (0.06, 0.05)[i % 2]
        elapsed = time.perf_counter() - start
        assert explorer.error is None, explorer.error
        times.append(elapsed)
    median = statistics.median(times[1:])
    print(f"  phase-diagram explorer redraw at its default grid: median {median:5.2f} s, first change to a new "
          f"sigma_b2 {times[0]:5.2f} s  {_verdict(median, PHASE_DIAGRAM_TARGET_S)} (target <= {PHASE_DIAGRAM_TARGET_S} s)")


def main() -> None:
    from utils.devices import cpu_allowance

    import utils  # noqa: F401  (sets torch's threads from the CPU allowance, as in every notebook)

    print(f"make bench on {platform.node()}: {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads "
          f"(this process may use {cpu_allowance()} CPUs; the host has {os.cpu_count()})")
    bench_explorers()
    bench_sweep()
    bench_notebooks()
    bench_browser()


if __name__ == "__main__":
    main()
