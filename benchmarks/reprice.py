"""How long ``carbonsdk reprice --all`` takes on a 10,000-run ledger.

Builds a ledger of ``--runs`` small runs (``--intervals`` intervals of 10 minutes each, GPU and
CPU, one every 40 minutes in zone DE, in 2026: priced with the embedded typical-year estimate
exactly as at the end of a run, every hour flagged estimated), and a CSV of actual 15-minute
values covering them. Then times the real CLI in a fresh interpreter (import included, output
to /dev/null):

1. ``reprice --all --intensity csv:PATH --dry-run`` (everything computed, nothing written);
2. ``reprice --all --intensity csv:PATH`` (every run repriced: one record each, appended in
   batches of whole records);
3. the same again (every run skipped: the data is no better);

and reports the wall time of each, the ledger's size before and after, and a check that every
run now shows the CSV pricing.

Usage: python benchmarks/reprice.py [--runs 10000] [--intervals 6] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CARBONSDK_OFFLINE", "1")

from carbonsdk.accounting import align  # noqa: E402
from carbonsdk.intensity.embedded import EmbeddedProvider  # noqa: E402
from carbonsdk.ledger import Ledger, append_records, result_to_record  # noqa: E402
from carbonsdk.model.energy import EnergySeries  # noqa: E402
from carbonsdk.model.region import Region  # noqa: E402
from carbonsdk.model.result import DeviceResult, RunResult  # noqa: E402
from carbonsdk.run.result_builder import intervals  # noqa: E402

START = datetime(2026, 1, 5, 0, 5, tzinfo=UTC)
SPACING_S = 2400.0
INTERVAL_S = 600.0
DE = Region(provider=None, code="DE", zone="DE", source="explicit", country="DE")


def build(path: Path, n_runs: int, n_intervals: int) -> None:
    """``n_runs`` runs priced with the embedded data (one series for the whole span)."""
    end = START + timedelta(seconds=n_runs * SPACING_S + n_intervals * INTERVAL_S + 3600)
    series = EmbeddedProvider().series(DE, START, end)
    records = []
    for i in range(n_runs):
        s0 = START.timestamp() + i * SPACING_S
        starts = tuple(s0 + k * INTERVAL_S for k in range(n_intervals))
        energy = EnergySeries(
            ("gpu", "cpu"),
            starts,
            tuple(s + INTERVAL_S for s in starts),
            {
                "gpu": tuple(300.0 * INTERVAL_S * (1 + 0.05 * (k % 4)) for k in range(n_intervals)),
                "cpu": (40.0 * INTERVAL_S,) * n_intervals,
            },
        )
        aligned = align(energy, series, pue=1.1)
        t0 = datetime.fromtimestamp(s0, UTC)
        t1 = datetime.fromtimestamp(starts[-1] + INTERVAL_S, UTC)
        run = RunResult(
            run_id=f"bench{i:06d}",
            name=f"job-{i}",
            status="completed",
            started_at=t0,
            ended_at=t1,
            duration_s=(t1 - t0).total_seconds(),
            energy_kwh=aligned.total_energy_kwh,
            energy_by_component_kwh={
                c: sum(aligned.energy_by_component_kwh[c]) for c in ("gpu", "cpu")
            },
            emissions_g=aligned.total_emissions_g,
            intensity_g_per_kwh=aligned.mean_intensity_g_per_kwh,
            pue=1.1,
            region=DE,
            intensity_source=series.source,
            timeline=intervals(aligned),
            devices=(DeviceResult("gpu", "gpu:0", "Fake", "nvml-energy-counter", False, 0.0),),
            tags={},
            flags=("intensity-estimated",),
            interval_s=INTERVAL_S,
        )
        records.append(result_to_record(run))
        if len(records) == 1000:
            append_records(path, records)
            records = []
    if records:
        append_records(path, records)


def write_csv(path: Path, n_runs: int) -> None:
    steps = int((n_runs * SPACING_S + 7200) / 900) + 8
    t = START - timedelta(hours=1)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("timestamp,g_per_kwh\n")
        for k in range(steps):
            fh.write(f"{(t + timedelta(minutes=15 * k)).isoformat()},{150 + (k * 37 % 23) * 7}\n")


def cli(args: list[str]) -> float:
    """Wall seconds of ``carbonsdk ARGS`` in a fresh interpreter (stdout to /dev/null)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "carbonsdk", *args], check=True, env=env, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--intervals", type=int, default=6)
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep the files")
    opts = parser.parse_args()
    tmp = Path(opts.keep) if opts.keep else Path(tempfile.mkdtemp(prefix="reprice-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    ledger, csv = tmp / "ledger.jsonl", tmp / "actual.csv"
    ledger.unlink(missing_ok=True)
    began = time.perf_counter()
    build(ledger, opts.runs, opts.intervals)
    write_csv(csv, opts.runs)
    print(
        f"built {opts.runs} runs x {opts.intervals} intervals in "
        f"{time.perf_counter() - began:.1f} s; ledger {ledger.stat().st_size / 1e6:.1f} MB"
    )
    base = ["reprice", "--all", "--ledger", str(ledger), "--intensity", f"csv:{csv}"]
    read_s = cli(["runs", "--json", "--ledger", str(ledger)])
    print(f"runs --json (read the ledger, for scale): {read_s:.2f} s")
    dry_s = cli([*base, "--dry-run"])
    print(f"reprice --all --dry-run:  {dry_s:.2f} s")
    size = ledger.stat().st_size
    first_s = cli(base)
    print(
        f"reprice --all (all repriced): {first_s:.2f} s; ledger "
        f"{size / 1e6:.1f} -> {ledger.stat().st_size / 1e6:.1f} MB"
    )
    again_s = cli(base)
    print(f"reprice --all again (all skipped, not better): {again_s:.2f} s")
    runs = Ledger(ledger).runs()
    repriced = sum(r.intensity_source.provider == "csv" for r in runs)
    print(f"check: {repriced} of {len(runs)} runs show the CSV pricing")
    try:
        load = os.getloadavg()[0]
        print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} CPUs")
    except OSError:
        pass
    return 0 if repriced == len(runs) == opts.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
