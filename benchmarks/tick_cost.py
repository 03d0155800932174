"""The CPU cost of one sampler tick, of one sensor read, and where a tick's time goes.

Two sensor setups, both on the real clock (``SYSTEM_CLOCK``) and the real psutil host probe:

* ``host``: the modelled CPU and RAM only (no RAPL, no GPU: what a laptop/VM without counters
  gets);
* ``host+8gpu``: the same plus 8 GPUs of :class:`carbonsdk.testing.FakeNVML` (Volta-style
  energy counters), so the GPU side is carbonsdk's own Python per NVML call, not a driver's.

For each setup:

1. **threaded**: a real threaded :class:`carbonsdk.sampler.Sampler` with one no-op subscriber at
   ``--interval`` seconds, run for a short and a long time; the sampler thread's CPU seconds
   (``Sampler.thread_cpu_s``) and tick counts of the two give the CPU per tick as
   (cpu_long - cpu_short) / (ticks_long - ticks_short): the fixed costs (discovery, thread
   start, the start/end reads) cancel out. Median of ``--repeats`` such pairs.
2. **inline**: ``Sampler(threaded=False).tick()`` called ``--ticks`` times in this thread: process
   CPU per tick, the same work without a thread's wake-ups.
3. **in a run**: the same threaded figure (and the inline one) with a real
   ``carbonsdk.measure()`` run as the subscriber (its timeline, checkpoint bookkeeping), the
   sampler installed with ``set_sampler``;
4. **wake floor**: the thread CPU one timed wait costs an idle thread (``Event.wait``, as the
   sampler does, ``Lock.acquire(timeout=)``, ``time.sleep``): the part of a threaded tick that
   is the OS's and the interpreter's, not carbonsdk's.
5. **per read**: microseconds per ``read_energy_j`` of each sensor, and of the psutil calls
   behind the host models.

Then ``cProfile`` of ``--ticks`` inline ticks of ``host+8gpu``: the top functions by own time.

    python benchmarks/tick_cost.py [--interval 0.01] [--ticks 3000] [--repeats 3] [--json PATH]

The numbers are per tick, so they do not depend on the interval except through cache effects;
on a loaded, shared machine the threaded figures are noisier than the inline ones.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CARBONSDK_OFFLINE", "1")

from carbonsdk.clock import SYSTEM_CLOCK
from carbonsdk.sampler import Sampler, set_sampler
from carbonsdk.sensors import SensorEnvironment, discover
from carbonsdk.testing import NO_POWERCAP_ROOT, FakeGPU, FakeNVML, discover_fn

COMPONENTS = ("gpu", "cpu", "ram")


class _NoOp:
    """A subscriber that does nothing: only the sampler's own work is timed."""

    def on_interval(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Ignore the interval."""

    def on_device_error(self, key: str, message: str) -> None:
        """Ignore the error."""

    def after_tick(self) -> None:
        """Nothing to do after a tick."""


def _env(n_gpus: int) -> SensorEnvironment:
    gpus = [FakeGPU.volta(300.0) for _ in range(n_gpus)]
    return SensorEnvironment(
        nvml=FakeNVML(gpus, SYSTEM_CLOCK),
        powercap_root=NO_POWERCAP_ROOT,
        host=None,  # the real psutil probe
        cuda_visible_devices=None,
    )


def _sampler(env: SensorEnvironment, *, threaded: bool) -> Sampler:
    return Sampler(
        clock=SYSTEM_CLOCK, discover=discover_fn(env), threaded=threaded, environment=env
    )


def _threaded_once(env: SensorEnvironment, interval_s: float, seconds: float) -> tuple[float, int]:
    """(sampler-thread CPU seconds, ticks) of one subscription lasting ``seconds``."""
    s = _sampler(env, threaded=True)
    sub = _NoOp()
    s.subscribe(sub, COMPONENTS, interval_s)
    time.sleep(seconds)
    s.unsubscribe(sub)
    s.close()  # joins the thread, so thread_cpu_s is final
    return s.thread_cpu_s, s.ticks


def _run_once(env: SensorEnvironment, interval_s: float, seconds: float) -> tuple[float, int]:
    """The same with a real ``carbonsdk.measure()`` run as the subscriber."""
    import carbonsdk

    s = _sampler(env, threaded=True)
    previous = set_sampler(s)
    try:
        ledger = Path(tempfile.mkdtemp(prefix="tick-cost-")) / "ledger.jsonl"
        with carbonsdk.measure(
            "tick-cost",
            region="DE",
            intensity="embedded",
            ledger=ledger,
            report=False,
            interval_s=interval_s,
            checkpoint_s=3600.0,
        ):
            time.sleep(seconds)
    finally:
        set_sampler(previous)
        s.close()
    return s.thread_cpu_s, s.ticks


def _per_tick(
    once: Callable[[SensorEnvironment, float, float], tuple[float, int]],
    env: SensorEnvironment,
    interval_s: float,
    short_s: float,
    long_s: float,
    repeats: int,
) -> dict[str, Any]:
    per: list[float] = []
    ticks_long: list[int] = []
    for _ in range(repeats):
        cpu_a, n_a = once(env, interval_s, short_s)
        cpu_b, n_b = once(env, interval_s, long_s)
        if n_b > n_a:
            per.append((cpu_b - cpu_a) / (n_b - n_a))
            ticks_long.append(n_b)
    if not per:
        return {"n": 0}
    return {
        "n": len(per),
        "us_per_tick_median": statistics.median(per) * 1e6,
        "us_per_tick_min": min(per) * 1e6,
        "us_per_tick_max": max(per) * 1e6,
        "ticks_long_run": ticks_long,
        "ticks_per_s_long_run": statistics.median(ticks_long) / long_s,
    }


def _inline(env: SensorEnvironment, ticks: int) -> dict[str, Any]:
    s = _sampler(env, threaded=False)
    s.subscribe(_NoOp(), COMPONENTS, 1.0)
    for _ in range(50):  # warm up
        s.tick()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(ticks):
        s.tick()
    cpu1, wall1 = time.process_time(), time.perf_counter()
    s.close()
    return {
        "ticks": ticks,
        "us_cpu_per_tick": (cpu1 - cpu0) / ticks * 1e6,
        "us_wall_per_tick": (wall1 - wall0) / ticks * 1e6,
    }


def _inline_run(env: SensorEnvironment, ticks: int) -> dict[str, Any]:
    """Inline ticks with a real ``carbonsdk.measure()`` run subscribed (its on_interval and
    after_tick included)."""
    import carbonsdk

    s = _sampler(env, threaded=False)
    previous = set_sampler(s)
    try:
        ledger = Path(tempfile.mkdtemp(prefix="tick-cost-")) / "ledger.jsonl"
        with carbonsdk.measure(
            "tick-cost",
            region="DE",
            intensity="embedded",
            ledger=ledger,
            report=False,
            interval_s=1.0,
            checkpoint_s=3600.0,
        ):
            for _ in range(50):
                s.tick()
            cpu0 = time.process_time()
            for _ in range(ticks):
                s.tick()
            cpu1 = time.process_time()
    finally:
        set_sampler(previous)
        s.close()
    return {"ticks": ticks, "us_cpu_per_tick": (cpu1 - cpu0) / ticks * 1e6}


def _wake_floor(interval_s: float, n: int) -> dict[str, float]:
    """Thread CPU (microseconds) per wake-up of a thread doing nothing but wait ``interval_s``
    (what the OS and the interpreter charge for a timed wait): ``threading.Event.wait`` (the
    sampler's), ``Lock.acquire(timeout=)`` and ``time.sleep``."""
    import threading

    event = threading.Event()
    bell = threading.Lock()
    bell.acquire()
    waits: dict[str, Callable[[], object]] = {
        "Event.wait": lambda: event.wait(interval_s),
        "Lock.acquire(timeout)": lambda: bell.acquire(timeout=interval_s),
        "time.sleep": lambda: time.sleep(interval_s),
    }
    out: dict[str, float] = {}
    for name, wait in waits.items():
        per: list[float] = []
        for _ in range(3):
            box: list[float] = []

            def body(wait: Callable[[], object] = wait, box: list[float] = box) -> None:
                c0 = time.thread_time()
                for _ in range(n):
                    wait()
                box.append((time.thread_time() - c0) / n * 1e6)

            t = threading.Thread(target=body)
            t.start()
            t.join()
            per.append(box[0])
        out[name] = statistics.median(per)
    return out


def _time_call(fn: Callable[[], object], n: int) -> float:
    """Median over 5 batches of the microseconds per call of ``fn``."""
    per: list[float] = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(per)


def _per_read(env: SensorEnvironment, n: int) -> dict[str, float]:
    import psutil

    found = discover(COMPONENTS, env, SYSTEM_CLOCK.monotonic())
    out: dict[str, float] = {}
    seen: set[str] = set()
    for sensor in found.sensors:
        kind = sensor.info.method if sensor.info.component != "gpu" else "gpu (FakeNVML counter)"
        if kind in seen:
            continue
        seen.add(kind)

        def read(s: Any = sensor) -> float:
            return float(s.read_energy_j(SYSTEM_CLOCK.monotonic()))

        out[f"read_energy_j {kind}"] = _time_call(read, n)
    found.close()
    out["psutil.cpu_times()"] = _time_call(psutil.cpu_times, n)
    out["psutil.virtual_memory()"] = _time_call(psutil.virtual_memory, n)
    out["SYSTEM_CLOCK.monotonic()"] = _time_call(SYSTEM_CLOCK.monotonic, n)

    def read_stat() -> bytes:
        with open("/proc/stat", "rb") as fh:
            return fh.read()

    def read_meminfo() -> bytes:
        with open("/proc/meminfo", "rb") as fh:
            return fh.read()

    out["open+read /proc/stat (raw)"] = _time_call(read_stat, n)
    out["open+read /proc/meminfo (raw)"] = _time_call(read_meminfo, n)
    fd = os.open("/proc/stat", os.O_RDONLY)
    out["os.pread /proc/stat (kept fd)"] = _time_call(lambda: os.pread(fd, 8192, 0), n)
    os.close(fd)
    return out


def _profile(env: SensorEnvironment, ticks: int, top: int) -> tuple[str, list[dict[str, Any]]]:
    s = _sampler(env, threaded=False)
    s.subscribe(_NoOp(), COMPONENTS, 1.0)
    for _ in range(50):
        s.tick()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(ticks):
        s.tick()
    prof.disable()
    s.close()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    rows: list[dict[str, Any]] = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in sorted(
        raw.items(), key=lambda kv: kv[1][2], reverse=True
    )[:top]:
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({func})",
                "calls_per_tick": ncalls / ticks,
                "own_us_per_tick": tottime / ticks * 1e6,
                "cum_us_per_tick": cumtime / ticks * 1e6,
                "own_share": tottime / total if total else 0.0,
            }
        )
    return buf.getvalue(), rows


def main() -> None:
    """Measure and print; ``--json`` writes everything."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--interval", type=float, default=0.01, help="sampling period, s")
    ap.add_argument("--short", type=float, default=0.5, help="short run, s")
    ap.add_argument("--long", type=float, default=2.5, help="long run, s")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ticks", type=int, default=3000, help="inline ticks (and profiled ticks)")
    ap.add_argument("--reads", type=int, default=2000, help="calls per per-read timing batch")
    ap.add_argument("--top", type=int, default=20, help="profile rows")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    doc: dict[str, Any] = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    setups = {"host": _env(0), "host+8gpu": _env(8)}
    for name, env in setups.items():
        d: dict[str, Any] = {}
        d["threaded"] = _per_tick(
            _threaded_once, env, args.interval, args.short, args.long, args.repeats
        )
        d["inline"] = _inline(env, args.ticks)
        d["in_run"] = _per_tick(_run_once, env, args.interval, args.short, args.long, args.repeats)
        d["inline_run"] = _inline_run(env, args.ticks)
        d["per_read_us"] = _per_read(env, args.reads)
        doc[name] = d
    g, h = doc["host+8gpu"], doc["host"]
    doc["us_per_gpu_read_from_ticks"] = {
        "inline": (g["inline"]["us_cpu_per_tick"] - h["inline"]["us_cpu_per_tick"]) / 8,
        "threaded": (
            g["threaded"].get("us_per_tick_median", float("nan"))
            - h["threaded"].get("us_per_tick_median", float("nan"))
        )
        / 8,
    }
    doc["wake_floor_us"] = _wake_floor(args.interval, 200)
    text, rows = _profile(setups["host+8gpu"], args.ticks, args.top)
    doc["profile_host+8gpu"] = rows
    doc["load_after"] = os.getloadavg()

    print(
        f"interval {args.interval:g} s, short {args.short:g} s, long {args.long:g} s, "
        f"{args.repeats} repeats; load {doc['load_before'][0]:.1f} -> "
        f"{doc['load_after'][0]:.1f} on {doc['cpus']} CPUs"
    )
    print(
        f"{'setup':<10} {'threaded us/tick':>24} {'inline us/tick (cpu)':>21} "
        f"{'in a run us/tick':>24} {'inline in a run':>16}"
    )
    for name in setups:
        d = doc[name]
        t, r = d["threaded"], d["in_run"]

        def cell(x: dict[str, Any]) -> str:
            if not x.get("n"):
                return "-"
            return (
                f"{x['us_per_tick_median']:.0f} [{x['us_per_tick_min']:.0f}-"
                f"{x['us_per_tick_max']:.0f}]"
            )

        print(
            f"{name:<10} {cell(t):>24} {d['inline']['us_cpu_per_tick']:>21.0f} {cell(r):>24} "
            f"{d['inline_run']['us_cpu_per_tick']:>16.0f}"
        )
    print(
        "thread CPU per wake-up of an idle thread (us):",
        {k: round(v) for k, v in doc["wake_floor_us"].items()},
    )
    print(
        "ticks/s reached in the long threaded run:",
        {n: round(doc[n]["threaded"].get("ticks_per_s_long_run", 0.0)) for n in setups},
    )
    gpu = doc["us_per_gpu_read_from_ticks"]
    print(
        f"per GPU read from the tick difference: inline {gpu['inline']:.1f} us, "
        f"threaded {gpu['threaded']:.1f} us"
    )
    print("per call (us, median of 5 batches):")
    for k, v in doc["host+8gpu"]["per_read_us"].items():
        print(f"  {k:<48} {v:8.2f}")
    print(
        f"cProfile of {args.ticks} inline ticks, host+8gpu (profiler overhead inflates "
        "small calls):"
    )
    for row in rows:
        print(
            f"  {row['own_us_per_tick']:7.1f} us own  {row['cum_us_per_tick']:7.1f} us cum  "
            f"{row['calls_per_tick']:5.1f}/tick  {row['function']}"
        )
    if args.json is not None:
        doc["profile_text"] = text
        args.json.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
