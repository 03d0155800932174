"""An 8-day run sampled every second, on fake hardware with a fake clock (runs in seconds).

Reports the peak Python memory of the run (tracemalloc), the size of its ledger "run" record,
the number of timeline intervals kept, the checkpoint records' total size, and the wall time.
Targets (issue 2): memory well under 50 MB, ledger record under 5 MB, never coarser than 5 min.
Usage: python benchmarks/long_run.py [--days 8] [--interval 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CARBONSDK_OFFLINE", "1")

import carbonsdk
from carbonsdk.ledger import result_to_record
from carbonsdk.testing import (
    FakeClock,
    FakeGPU,
    FakeHost,
    fake_environment,
    fake_sampler,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=float, default=8.0)
    ap.add_argument("--interval", type=float, default=1.0, help="sampling period, s")
    args = ap.parse_args()
    ticks = int(args.days * 86_400 / args.interval)
    ledger = Path(tempfile.mkdtemp(prefix="carbonsdk-long-")) / "ledger.jsonl"
    clock = FakeClock(start_epoch_s=1_717_200_000.0)  # 2024-06-01, inside the embedded years
    gpus = [FakeGPU.volta(power_w=300.0), FakeGPU.volta(power_w=280.0)]
    env = fake_environment(clock, gpus=gpus, host=FakeHost(cpu_count=8, clock=clock))
    t0 = time.perf_counter()
    tracemalloc.start()
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure(
            "long",
            region="DE",
            interval_s=args.interval,
            ledger=ledger,
            report=False,
            checkpoint_s=3600.0,
        ) as run,
    ):
        for i in range(ticks):
            if i % 3600 == 0:
                gpus[0].set_power_w(200.0 + (i // 3600) % 7 * 20.0)
            clock.advance(args.interval)
            sampler.tick()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    wall = time.perf_counter() - t0
    result = run.result
    assert result is not None
    record = json.dumps(result_to_record(result), separators=(",", ":")).encode()
    lines = ledger.read_bytes().splitlines()
    checkpoints = [x for x in lines if b'"type":"checkpoint"' in x]
    longest = max(iv.duration_s for iv in result.timeline)
    print(
        f"{args.days:g}-day run at {args.interval:g} s: {ticks:,} samples in {wall:.1f} s wall "
        "(fake clock, tracemalloc on)"
    )
    print(f"peak Python memory during the run: {peak / 1e6:.1f} MB (target well under 50 MB)")
    print(
        f"timeline kept: {len(result.timeline):,} aligned intervals, longest {longest:.0f} s "
        "(never above 300 s)"
    )
    print(
        f"ledger run record: {len(record) / 1e6:.2f} MB (target < 5 MB); "
        f"{len(checkpoints)} checkpoints, {sum(len(c) for c in checkpoints) / 1e6:.2f} MB"
    )
    print(
        f"energy {result.energy_kwh:.2f} kWh, emissions {result.emissions_g / 1000:.2f} kg, "
        f"intensity {result.intensity_g_per_kwh:.0f} g/kWh ({result.intensity_source.provider})"
    )


if __name__ == "__main__":
    main()
