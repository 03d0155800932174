"""Aligning an 8-day, 1 s-resolution energy timeline with a 5-minute intensity series.

Target (issue 3): under 0.5 s. Also times the same alignment on the bounded timeline a real
run keeps (after coarsening) and a pure-Python reference on a slice, and prints the ratio.
Usage: python benchmarks/align.py
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbonsdk import accounting
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.timeline import EnergySeries, TimelineBuilder

T0 = 1_700_000_000.5
N = 8 * 86_400


def main() -> None:
    starts = tuple(T0 + i for i in range(N))
    ends = tuple(T0 + i + 1 for i in range(N))
    gpu = tuple(300.0 + 50.0 * math.sin(i / 600.0) for i in range(N))
    cpu = tuple(40.0 for _ in range(N))
    energy = EnergySeries(("gpu", "cpu"), starts, ends, {"gpu": gpu, "cpu": cpu})
    step = 300.0
    first = math.floor(T0 / step) * step
    n_steps = int((T0 + N - first) // step) + 2
    bounds = tuple(first + k * step for k in range(n_steps + 1))
    values = tuple(200.0 + 150.0 * math.sin(k / 40.0) for k in range(n_steps))
    series = IntensitySeries(bounds, values, (False,) * n_steps, IntensitySource("bench"))

    t0 = time.perf_counter()
    aligned = accounting.align(energy, series, pue=1.1)
    full_s = time.perf_counter() - t0

    n_py = 100_000
    sub = EnergySeries(
        ("gpu", "cpu"), starts[:n_py], ends[:n_py], {"gpu": gpu[:n_py], "cpu": cpu[:n_py]}
    )
    t0 = time.perf_counter()
    accounting._align_python(sub, series, 1.1)
    py_s = (time.perf_counter() - t0) * N / n_py

    tl = TimelineBuilder(("gpu", "cpu"))
    for i in range(N):
        tl.add(starts[i], ends[i], {"gpu": gpu[i], "cpu": cpu[i]})
    bounded = tl.snapshot()
    t0 = time.perf_counter()
    accounting.align(bounded, series, pue=1.1)
    bounded_s = time.perf_counter() - t0

    print(
        f"8-day timeline at 1 s: {N:,} energy intervals x {n_steps:,} 5-min steps "
        f"-> {len(aligned):,} aligned intervals"
    )
    print(f"{'path':<40}{'seconds':>10}")
    print(f"{'numpy (used above 20k intervals)':<40}{full_s:>10.3f}")
    print(f"{'pure Python (extrapolated from 100k)':<40}{py_s:>10.3f}")
    print(f"{f'bounded timeline ({len(bounded):,} intervals)':<40}{bounded_s:>10.4f}")
    print(
        f"numpy speed-up over pure Python: {py_s / full_s:.1f}x; target < 0.5 s: "
        f"{'met' if full_s < 0.5 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
