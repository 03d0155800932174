"""Ledger size of an 8-day run at 1 s with checkpoints every 60 s, with and without marks,
checkpoints carrying every mark so far ("before") or only the marks since the previous one
("after"), and how much energy a kill -9 just before the end still rebuilds.

Default ``--mode direct``: a short real run on fake hardware (carbonsdk.testing) gives the
run's metadata; then the 8 days of checkpoints are produced by the same functions the run
uses (``checkpoint_record``, ``encode_record``: one 60 s interval per checkpoint, a full one
every 60), in a few seconds. ``--mode real`` runs the whole 8 days through ``measure()`` with
the fake sampler and a fake clock (minutes of CPU; use ``--days 1`` for a quick look).

Usage: python benchmarks/ledger_size.py [--days 8] [--checkpoint-s 60] [--mode direct|real]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CARBONSDK_OFFLINE", "1")

import attrs

import carbonsdk
import carbonsdk.ledger as ledger_mod
from carbonsdk.ledger import Ledger, checkpoint_record, encode_record
from carbonsdk.model.result import Mark, RunResult, TimelineInterval
from carbonsdk.testing import FakeClock, FakeGPU, FakeHost, fake_environment, fake_sampler

START_EPOCH_S = 1_717_200_000.0  # 2024-06-01, inside the embedded data's years
FULL_EVERY = 60  # every 60th checkpoint carries the run's metadata (the run's own constant)
MAX_MARKS = 10_000  # a run keeps at most this many marks (carbonsdk.run.options.MAX_MARKS)
J_PER_KWH = 3.6e6


def _hardware(clock: FakeClock) -> tuple[list[FakeGPU], Any]:
    gpus = [FakeGPU.volta(power_w=300.0), FakeGPU.volta(power_w=280.0)]
    return gpus, fake_environment(clock, gpus=gpus, host=FakeHost(cpu_count=8, clock=clock))


def template_run() -> RunResult:
    """A real (short) run on fake hardware: the metadata every full checkpoint repeats."""
    clock = FakeClock(start_epoch_s=START_EPOCH_S)
    _, env = _hardware(clock)
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure(
            "long", region="DE", ledger=False, report=False, tags={"team": "nlp"}
        ) as run,
    ):
        for _ in range(120):
            clock.advance(1.0)
            sampler.tick()
    assert run.result is not None
    return run.result


@contextmanager
def legacy_marks(enabled: bool) -> Iterator[None]:
    """ "before": every full checkpoint carries all the marks so far, small ones none."""
    original: Callable[..., dict[str, Any]] = ledger_mod.checkpoint_record
    if enabled:

        def before(*args: Any, **kwargs: Any) -> dict[str, Any]:
            kwargs["marks_from"] = None
            return original(*args, **kwargs)

        ledger_mod.checkpoint_record = before
    try:
        yield
    finally:
        ledger_mod.checkpoint_record = original


def direct(
    days: float,
    checkpoint_s: float,
    mark_every_s: float | None,
    legacy: bool,
    template: RunResult,
    out: Path,
) -> tuple[int, int | None, float, float]:
    """Checkpoints of a ``days``-long run written to ``out`` (no final record: the kill -9 just
    before the end). Returns (checkpoint bytes, None: the final record is not simulated here,
    true kWh, rebuilt kWh)."""
    duration_s = days * 86_400.0
    n = int(duration_s // checkpoint_s)
    t0 = template.started_at
    power_w = {
        c: v * J_PER_KWH / template.duration_s for c, v in template.energy_by_component_kwh.items()
    }
    total_w = sum(power_w.values())
    marks: list[Mark] = []
    next_mark_s = mark_every_s if mark_every_s else None
    timeline: list[TimelineInterval] = []
    size = previous_marks = 0
    with open(out, "wb") as fh:
        for seq in range(n):
            start_s, end_s = seq * checkpoint_s, (seq + 1) * checkpoint_s
            while next_mark_s is not None and next_mark_s <= end_s:
                if len(marks) < MAX_MARKS:
                    marks.append(
                        Mark(
                            at=t0 + timedelta(seconds=next_mark_s),
                            label="eval",
                            energy_kwh=total_w * next_mark_s / J_PER_KWH,
                            data={"step": len(marks) * 100, "loss": 0.5},
                        )
                    )
                assert mark_every_s is not None
                next_mark_s += mark_every_s
            # the run's buckets are UTC-aligned minutes and its checkpoints are not (they
            # fall 1 s past the minute): each checkpoint carries two pieces of buckets
            pieces: list[TimelineInterval] = []
            for a_s, b_s in ((start_s, end_s - 1.0), (end_s - 1.0, end_s)):
                energy = {c: w * (b_s - a_s) / J_PER_KWH for c, w in power_w.items()}
                pieces.append(
                    TimelineInterval(
                        start=t0 + timedelta(seconds=a_s),
                        end=t0 + timedelta(seconds=b_s),
                        energy_kwh=sum(energy.values()),
                        energy_by_component_kwh=energy,
                        intensity_g_per_kwh=380.0,
                        emissions_g=sum(energy.values()) * 380.0,
                    )
                )
            iv = pieces[-1]
            timeline.extend(pieces)
            partial = attrs.evolve(
                template,
                ended_at=iv.end,
                duration_s=end_s,
                status="interrupted",
                timeline=(),
                marks=tuple(marks),
                devices=tuple(
                    attrs.evolve(d, energy_kwh=d.energy_kwh * end_s / 120.0)
                    for d in template.devices
                ),
            )
            record = checkpoint_record(
                partial,
                seq,
                tuple(pieces),
                full=seq % FULL_EVERY == 0,
                marks_from=None if legacy else previous_marks,
            )
            previous_marks = len(marks)
            line = encode_record(record)
            size += len(line)
            fh.write(line)
    # killed 1 s before the next checkpoint was due: the worst case, a period less 1 s lost
    true_kwh = total_w * ((n + 1) * checkpoint_s - 1.0) / J_PER_KWH
    (rebuilt,) = Ledger(out).runs()
    return size, None, true_kwh, rebuilt.energy_kwh


def real(
    days: float,
    checkpoint_s: float,
    mark_every_s: float | None,
    legacy: bool,
    interval_s: float,
    out: Path,
) -> tuple[int, int | None, float, float]:
    """The whole run through measure() on fake hardware; the ledger is copied right before the
    run ends (what a kill -9 there would leave)."""
    clock = FakeClock(start_epoch_s=START_EPOCH_S)
    gpus, env = _hardware(clock)
    ticks = int(days * 86_400 / interval_s)
    every = int(mark_every_s / interval_s) if mark_every_s else 0
    snapshot = out.with_suffix(".killed.jsonl")
    with (
        legacy_marks(legacy),
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure(
            "long",
            region="DE",
            interval_s=interval_s,
            ledger=out,
            report=False,
            checkpoint_s=checkpoint_s,
            tags={"team": "nlp"},
        ) as run,
    ):
        for i in range(1, ticks + 1):
            if i % 3600 == 0:
                gpus[0].set_power_w(200.0 + (i // 3600) % 7 * 20.0)
            clock.advance(interval_s)
            sampler.tick()
            if every and i % every == 0:
                run.mark("eval", step=i)
        shutil.copyfile(out, snapshot)
    assert run.result is not None
    (rebuilt,) = Ledger(snapshot).runs()
    lines = out.read_bytes().splitlines(keepends=True)
    cps = sum(len(x) for x in lines if b'"type":"checkpoint"' in x)
    record = sum(len(x) for x in lines if b'"type":"run"' in x)
    return cps, record, run.result.energy_kwh, rebuilt.energy_kwh


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=float, default=8.0)
    ap.add_argument("--checkpoint-s", type=float, default=60.0)
    ap.add_argument("--mode", choices=("direct", "real"), default="direct")
    ap.add_argument("--interval", type=float, default=1.0, help="sampling period (real), s")
    ap.add_argument(
        "--cases",
        default="none,5min,cap",
        help="comma list of: none (no marks), 5min (a mark every 5 min), cap "
        f"({MAX_MARKS:,} marks)",
    )
    ap.add_argument("--schemes", default="before,after", help="comma list of: before, after")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="carbonsdk-ledger-size-"))
    template = template_run() if args.mode == "direct" else None
    cap_every_s = args.days * 86_400.0 / MAX_MARKS
    known = {
        "none": ("no marks", None),
        "5min": ("a mark every 5 min", 300.0),
        "cap": (f"{MAX_MARKS:,} marks (cap)", cap_every_s),
    }
    cases = [known[c.strip()] for c in args.cases.split(",")]
    schemes = [s.strip() == "before" for s in args.schemes.split(",")]
    print(
        f"{args.days:g}-day run at 1 s, checkpoint_s={args.checkpoint_s:g} "
        f"({args.mode} mode); MB = 1e6 bytes"
    )
    print(
        f"{'marks':24} {'checkpoints':>20} {'run record':>11} {'ledger':>8} "
        f"{'kill -9 rebuilds':>17} {'wall':>6}"
    )
    for label, every in cases:
        for legacy in schemes:
            if every is None and legacy and len(schemes) > 1:
                continue  # without marks both schemes write the same bytes
            out = tmp / f"l-{label[:2]}-{legacy}.jsonl"
            out.unlink(missing_ok=True)
            began = time.perf_counter()
            if args.mode == "direct":
                assert template is not None
                cps, record, true_kwh, rebuilt_kwh = direct(
                    args.days, args.checkpoint_s, every, legacy, template, out
                )
            else:
                cps, record, true_kwh, rebuilt_kwh = real(
                    args.days, args.checkpoint_s, every, legacy, args.interval, out
                )
            wall = time.perf_counter() - began
            scheme = "" if every is None else (" before" if legacy else " after")
            scheme += "" if args.mode == "direct" else " (real)"
            record_text = "    -   " if record is None else f"{record / 1e6:5.2f} MB"
            total = cps + (record or 0)
            print(
                f"{label + scheme:24} {cps / 1e6:17.2f} MB {record_text:>11} "
                f"{total / 1e6:5.1f} MB {100 * rebuilt_kwh / true_kwh:15.4f} % {wall:5.1f}s"
            )
    if args.mode == "direct":
        print(
            "direct mode does not simulate the final run record (one per run, written at the "
            "end): --mode real measures it"
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
