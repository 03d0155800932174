"""Benchmark: ``intensity="csv:PATH"`` on a large user file.

Generates a CSV of hourly rows (default about 20 MB), then, in a fresh child process per
measurement, times what a run does with it: create the provider and get the series of a one-hour
run, three times (three ``measure()`` calls in one process), and reports the peak RSS growth.

``--baseline FILE`` also measures another implementation of ``carbonsdk/intensity/csvfile.py``
(e.g. the previous one, ``git show HEAD~1:carbonsdk/intensity/csvfile.py > /tmp/old.py``),
loaded in place of the current one, for a before/after comparison.

Run: ``PYTHONPATH=. python benchmarks/csv_intensity.py [--mb 20] [--calls 3] [--baseline F]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

_CHILD = r"""
import importlib.util, json, resource, sys, time
from datetime import datetime, timedelta
path, calls, impl = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from carbonsdk.model.region import Region
if impl == "current":
    from carbonsdk.intensity.csvfile import CsvProvider
else:
    spec = importlib.util.spec_from_file_location("csvfile_baseline", impl)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    CsvProvider = mod.CsvProvider
region = Region(provider=None, code="DE", zone="DE", source="explicit")
rss0_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for i in range(calls):
    t0 = time.perf_counter()
    provider = CsvProvider(path)
    start = provider.start + timedelta(days=30 + i)
    series = provider.series(region, start, start + timedelta(hours=1))
    times.append(time.perf_counter() - t0)
    assert len(series) >= 1
rss1_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"times_s": times, "rss_growth_mib": (rss1_kib - rss0_kib) / 1024}))
"""


def make_csv(path: Path, target_mb: float) -> int:
    """Write hourly rows until the file reaches ``target_mb`` MB; returns the row count."""
    t0 = datetime(2000, 1, 1, tzinfo=UTC)
    rows = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("timestamp,g_per_kwh\n")
        size = 0
        target = int(target_mb * 1e6)
        while size < target:
            line = f"{(t0 + timedelta(hours=rows)).strftime('%Y-%m-%dT%H:%M:%SZ')},{rows % 997}.5\n"
            fh.write(line)
            size += len(line)
            rows += 1
    return rows


def measure(path: Path, calls: int, impl: str) -> dict[str, object]:
    """One child-process measurement of ``impl`` ("current" or a path to a csvfile module)."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(calls), impl],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Generate the file, measure, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="file size, MB (default 20)")
    parser.add_argument("--calls", type=int, default=3, help="measure() calls (default 3)")
    parser.add_argument("--baseline", help="another csvfile.py to compare against")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "intensity.csv"
        rows = make_csv(path, args.mb)
        print(f"file: {path.stat().st_size / 1e6:.1f} MB, {rows} rows; {args.calls} calls")
        impls = [("current", "current")]
        if args.baseline:
            impls.insert(0, ("baseline", str(Path(args.baseline).resolve())))
        print(f"{'impl':<10} {'per call (s)':<32} {'peak RSS growth (MiB)':>22}")
        for label, impl in impls:
            res = measure(path, args.calls, impl)
            times = res["times_s"]
            assert isinstance(times, list)
            per_call = ", ".join(f"{t:.3f}" for t in times)
            print(f"{label:<10} {per_call:<32} {res['rss_growth_mib']:>22.1f}")


if __name__ == "__main__":
    main()
