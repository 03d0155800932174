"""How fast is the vectorised Flexible Start / Pause and Resume sweep?

Prints, measured in one run on this machine:
- the full sweep of issue 4: an 8-day job on hourly data in every embedded zone, windows of
  6, 12, 18, 24 h and 25, 50, 75, 100 % (each as FS max delay and P&R max extension), a start at
  every hour of one year (2022) -- wall time (best of ``--repeats``);
- the plain brute-force reference (:func:`carbonsdk.schedule.reference_point`, pure Python)
  timed on a random subsample of starts in the same run and extrapolated linearly to the full
  sweep (stated as such), the speed ratio, and the largest difference between the two;
- the per-start Plan API (``flexible_start`` / ``pause_and_resume``) on a smaller subsample,
  extrapolated the same way;
- a 5-minute series (synthetic: DE 2022 hourly values interpolated linearly to 5 minutes --
  there is no embedded 5-minute data) swept for the same job and windows over every 5-minute
  start of the year, with its wall time and peak traced memory (chunked).

Target (issue 4): full hourly sweep < 30 s on the 2-core machine.
Usage: python benchmarks/sweep.py [--repeats 3] [--sample 15] [--year 2022]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CARBONSDK_OFFLINE", "1")

from carbonsdk.intensity import embedded  # noqa: E402
from carbonsdk.intensity.embedded import EmbeddedProvider  # noqa: E402
from carbonsdk.model.intensity import IntensitySeries  # noqa: E402
from carbonsdk.model.region import Region  # noqa: E402
from carbonsdk.schedule import (  # noqa: E402
    SweepWindow,
    flexible_start,
    pause_and_resume,
    reference_point,
    sweep,
)

JOB_S = 8 * 86400.0
WINDOWS = ("6h", "12h", "18h", "24h", "25%", "50%", "75%", "100%")
STRATEGIES = ("flexible_start", "pause_and_resume")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sample", type=int, default=15, help="brute-force starts per zone")
    ap.add_argument("--year", type=int, default=2022)
    args = ap.parse_args()
    rng = random.Random(0)

    first = datetime(args.year, 1, 1, tzinfo=UTC)
    end = datetime(args.year + 1, 1, 1, tzinfo=UTC)
    data_end = end + timedelta(seconds=2 * JOB_S + 3600)
    provider = EmbeddedProvider()
    t0 = time.perf_counter()
    series = {
        z: provider.series(Region(None, z, z, "explicit"), first, data_end)
        for z in embedded.zones()
    }
    load_s = time.perf_counter() - t0
    windows = [SweepWindow.parse(w) for w in WINDOWS]

    times = []
    result = None
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        result = sweep(
            series, [("8-day job", timedelta(seconds=JOB_S))], WINDOWS, starts=(first, end)
        )
        times.append(time.perf_counter() - t0)
    assert result is not None
    sweep_s = min(times)
    n_starts = len(result.zones[0].start_s)
    n_points = len(series) * n_starts * len(windows) * len(STRATEGIES)

    # brute force on a subsample, same run
    max_diff = 0.0
    n_ref = 0
    t0 = time.perf_counter()
    for zs in result.zones:
        values = series[zs.zone].values_g_per_kwh
        for i in rng.sample(range(n_starts), min(args.sample, n_starts)):
            for w, win in enumerate(windows):
                for strategy in STRATEGIES:
                    base, opt = reference_point(
                        values, 3600.0, i, JOB_S, win.for_job(JOB_S), strategy
                    )
                    n_ref += 1
                    max_diff = max(
                        max_diff,
                        abs(base - zs.baseline_g_per_kwh[0, i]),
                        abs(opt - zs.optimised_g_per_kwh[strategy][0, w, i]),
                    )
    ref_s = time.perf_counter() - t0
    ref_full_s = ref_s / n_ref * n_points

    # the per-start Plan API on a smaller subsample
    n_api = 0
    t0 = time.perf_counter()
    for zs in result.zones[:4]:
        s: IntensitySeries = series[zs.zone]
        for i in rng.sample(range(n_starts), 5):
            start = first + timedelta(hours=i)
            for win in windows:
                w_s = win.for_job(JOB_S)
                flexible_start(s, JOB_S, timedelta(seconds=w_s), start=start)
                pause_and_resume(s, JOB_S, timedelta(seconds=w_s), start=start)
                n_api += 2
    api_s = time.perf_counter() - t0
    api_full_s = api_s / n_api * n_points

    # 5-minute data: DE hourly interpolated linearly (synthetic), every 5-minute start
    import numpy as np

    de = np.asarray(series["DE"].values_g_per_kwh)
    fine = np.interp(np.arange(len(de) * 12) / 12.0, np.arange(len(de)), de)
    b0 = series["DE"].boundaries_s[0]
    s5 = IntensitySeries(
        tuple(b0 + 300.0 * k for k in range(len(fine) + 1)),
        tuple(float(v) for v in fine),
        (True,) * len(fine),
        series["DE"].source,
    )
    tracemalloc.start()
    t0 = time.perf_counter()
    r5 = sweep(
        {"DE-5min": s5}, [("8-day job", timedelta(seconds=JOB_S))], WINDOWS, starts=(first, end)
    )
    five_s = time.perf_counter() - t0
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()

    print(
        f"zones: {len(series)} (embedded hourly), starts: {n_starts} hourly in {args.year}, "
        f"job: 8 days, windows: {', '.join(WINDOWS)}, strategies: FS and P&R "
        f"-> {n_points:,} (zone, start, window, strategy) points"
    )
    print(f"data load (embedded, all zones): {load_s:.2f} s")
    print(
        f"vectorised sweep: {sweep_s:.2f} s (best of {len(times)}; runs: "
        f"{', '.join(f'{t:.2f}' for t in times)})  target < 30 s: "
        f"{'met' if sweep_s < 30 else 'NOT met'}"
    )
    print(
        f"brute-force reference: {ref_s:.2f} s for {n_ref:,} points (random subsample) "
        f"-> extrapolated {ref_full_s:,.0f} s for the full sweep "
        f"({ref_full_s / 3600:.1f} h); ratio {ref_full_s / sweep_s:,.0f}x"
    )
    print(
        f"per-start Plan API: {api_s:.2f} s for {n_api} plans -> extrapolated "
        f"{api_full_s:,.0f} s; ratio {api_full_s / sweep_s:,.0f}x"
    )
    print(f"largest |sweep - reference| on the subsample: {max_diff:.2e} g/kWh")
    n5 = len(r5.zones[0].start_s)
    print(
        f"5-minute series (synthetic, DE interpolated): {n5:,} starts x {len(windows)} windows "
        f"x 2 strategies in {five_s:.2f} s, peak traced memory {peak_mb:.0f} MB"
    )
    fs = result.mean_savings("flexible_start")[0]
    pr = result.mean_savings("pause_and_resume")[0]
    print(
        "mean savings of the 8-day job over zones and starts (FS / P&R, %): "
        + ", ".join(
            f"{w} {100 * a:.1f}/{100 * b:.1f}" for w, a, b in zip(WINDOWS, fs, pr, strict=True)
        )
    )
    return 0 if sweep_s < 30 and math.isfinite(max_diff) and max_diff < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
