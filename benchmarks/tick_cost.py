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
4. **wake floor**: the thread CPU one timed wait costs an idle thread, at each of
   ``--wake-intervals`` (``threading.Event.wait``; ``Lock.acquire(timeout=)``, the sampler's
   doorbell; ``time.sleep``, which cannot be woken early; ``select.poll`` on a pipe, the
   file-descriptor alternative): the part of a threaded tick that is the OS's and the
   interpreter's, not carbonsdk's. The waits run side by side, one thread each.
5. **per read**: microseconds per ``read_energy_j`` of each sensor, of the psutil calls and
   ``/proc`` reads behind the host models, and of a FakeNVML counter call alone (so a GPU read
   splits into the fake driver's part and carbonsdk's).
6. **flush**: wall and CPU microseconds of ``Sampler.flush()`` from the user's thread on a
   threaded sampler (what a run's start, end and each mark pay: the read runs on the sampler's
   reader thread, so a hung sensor cannot block the caller).

Then ``cProfile`` of ``--ticks`` inline ticks of ``host+8gpu``: the top functions by own time.

    python benchmarks/tick_cost.py [--interval 0.01] [--ticks 3000] [--repeats 3] [--json PATH]
    python benchmarks/tick_cost.py --sections threaded,inline --repeats 7    # a subset

Sections: ``threaded``, ``inline``, ``run`` (both "in a run" figures), ``reads``, ``flush``,
``wake``, ``profile`` (the default: all of these), and ``callgrind`` (only when asked; needs
``valgrind``): instructions per inline tick counted by ``valgrind --tool=callgrind`` (only the
ticks are collected), and the last-level cache misses of a *cold* tick (caches evicted before
each tick by a 4 MiB copy, simulated 32 KiB L1s and a 1 MiB last level): a repeatable figure
for before/after comparisons on a loaded machine, where the threaded CPU times vary by
+-20 %. A tick after a sleep on a busy machine is close to the cold one: each last-level miss
costs a memory access (~50-100 ns), and ~2000 of them are most of a threaded tick's excess over
the inline one.

    python benchmarks/tick_cost.py --sections callgrind     # ~1 min

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


def _wake_floor(interval_s: float, n: int, repeats: int = 3) -> dict[str, float]:
    """Thread CPU (microseconds) per wake-up of a thread doing nothing but wait ``interval_s``
    (what the OS and the interpreter charge for a timed wait), median of ``repeats`` runs of
    ``n`` waits: ``threading.Event.wait``, ``Lock.acquire(timeout=)`` (the sampler's doorbell),
    ``time.sleep`` and ``select.poll`` on a pipe, each in its own thread, side by side."""
    import select
    import threading

    event = threading.Event()
    bell = threading.Lock()
    bell.acquire()
    r_fd, w_fd = os.pipe()
    poller = select.poll()
    poller.register(r_fd, select.POLLIN)
    waits: dict[str, Callable[[], object]] = {
        "Event.wait": lambda: event.wait(interval_s),
        "Lock.acquire(timeout)": lambda: bell.acquire(timeout=interval_s),
        "time.sleep": lambda: time.sleep(interval_s),
        "select.poll(pipe)": lambda: poller.poll(interval_s * 1000.0),
    }
    per: dict[str, list[float]] = {name: [] for name in waits}

    def body(name: str, wait: Callable[[], object]) -> None:
        c0 = time.thread_time()
        for _ in range(n):
            wait()
        per[name].append((time.thread_time() - c0) / n * 1e6)

    for _ in range(repeats):
        threads = [threading.Thread(target=body, args=item) for item in waits.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    os.close(r_fd)
    os.close(w_fd)
    return {name: statistics.median(v) for name, v in per.items()}


def _flush_cost(env: SensorEnvironment, n: int) -> dict[str, float]:
    """Median wall and CPU (this process, all threads) microseconds of ``Sampler.flush()`` from
    this thread on a threaded sampler with one subscriber at a long interval (no periodic tick
    in between)."""
    s = _sampler(env, threaded=True)
    s.subscribe(_NoOp(), COMPONENTS, 3600.0)
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        s.flush()
        wall.append((time.perf_counter() - t0) * 1e6)
        cpu.append((time.process_time() - c0) * 1e6)
    s.close()
    return {"wall_us": statistics.median(wall[5:]), "cpu_us": statistics.median(cpu[5:])}


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
    fd = os.open("/proc/meminfo", os.O_RDONLY)
    out["os.pread /proc/meminfo (kept fd)"] = _time_call(lambda: os.pread(fd, 512, 0), n)
    os.close(fd)
    nvml = env.nvml
    if nvml is not None and getattr(nvml, "gpus", None):
        handle = nvml.nvmlDeviceGetHandleByIndex(0)
        out["FakeNVML nvmlDeviceGetTotalEnergyConsumption (the fake driver alone)"] = _time_call(
            lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle), n
        )
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


SECTIONS = ("threaded", "inline", "run", "reads", "flush", "wake", "profile")
#: sections run only when named in ``--sections``
EXTRA_SECTIONS = ("callgrind",)
_CALLGRIND_TICKS = 100


def _child_ticks(n_gpus: int, ticks: int, evict: bool) -> None:
    """The process valgrind runs (``--child-ticks``): ``ticks`` inline ticks, each inside its
    own ``functools.reduce`` call, the only function callgrind collects (``--toggle-collect``);
    with ``evict``, a 4 MiB copy before each tick (not collected) empties the caches."""
    import functools

    s = _sampler(_env(n_gpus), threaded=False)
    s.subscribe(_NoOp(), COMPONENTS, 1.0)
    for _ in range(20):
        s.tick()
    src, dst = bytearray(4 << 20), bytearray(4 << 20)
    one = (0,)

    def tick(_acc: object, _item: object) -> None:
        s.tick()

    for _ in range(ticks):
        if evict:
            dst[:] = src
        functools.reduce(tick, one, None)
    s.close()


def _callgrind(n_gpus: int, evict: bool) -> dict[str, float]:
    """Per tick: instructions (``Ir``), and with ``evict`` the simulated misses (``I1mr``,
    ``D1mr``, ``D1mw``: first level; ``ILmr``, ``DLmr``, ``DLmw``: last level)."""
    import shutil
    import subprocess

    if shutil.which("valgrind") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
        ]
        if evict:
            cmd += ["--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64", "--LL=1048576,16,64"]
        cmd += [sys.executable, str(Path(__file__).resolve()), "--child-ticks"]
        cmd += [str(_CALLGRIND_TICKS), "--child-gpus", str(n_gpus)]
        cmd += ["--child-evict"] if evict else []
        subprocess.run(cmd, capture_output=True, check=True)
        events: list[str] = []
        totals: list[int] = []
        for line in out.read_text().splitlines():
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:") or line.startswith("totals:"):
                totals = [int(v) for v in line.split()[1:]]
        return {e: v / _CALLGRIND_TICKS for e, v in zip(events, totals, strict=False)}


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
    ap.add_argument(
        "--wake-intervals", default="0.01,0.1,1", help="comma-separated wait lengths, s"
    )
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child-ticks", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-gpus", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--child-evict", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_ticks is not None:
        _child_ticks(args.child_gpus, args.child_ticks, args.child_evict)
        return
    sections = {x.strip() for x in args.sections.split(",") if x.strip()}
    unknown = sections - set(SECTIONS) - set(EXTRA_SECTIONS)
    if unknown:
        ap.error(
            f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS + EXTRA_SECTIONS)}"
        )

    import carbonsdk

    doc: dict[str, Any] = {
        "load_before": os.getloadavg(),
        "cpus": os.cpu_count(),
        "carbonsdk": str(Path(carbonsdk.__file__).parent),
        "python": sys.version.split()[0],
    }
    setups = {"host": _env(0), "host+8gpu": _env(8)}
    for name, env in setups.items():
        d: dict[str, Any] = {}
        if "threaded" in sections:
            d["threaded"] = _per_tick(
                _threaded_once, env, args.interval, args.short, args.long, args.repeats
            )
        if "inline" in sections:
            d["inline"] = _inline(env, args.ticks)
        if "run" in sections:
            d["in_run"] = _per_tick(
                _run_once, env, args.interval, args.short, args.long, args.repeats
            )
            d["inline_run"] = _inline_run(env, args.ticks)
        if "reads" in sections:
            d["per_read_us"] = _per_read(env, args.reads)
        if "flush" in sections:
            d["flush"] = _flush_cost(env, 200)
        doc[name] = d
    g, h = doc["host+8gpu"], doc["host"]
    per_gpu: dict[str, float] = {}
    if "inline" in sections:
        per_gpu["inline"] = (g["inline"]["us_cpu_per_tick"] - h["inline"]["us_cpu_per_tick"]) / 8
    if "threaded" in sections:
        per_gpu["threaded"] = (
            g["threaded"].get("us_per_tick_median", float("nan"))
            - h["threaded"].get("us_per_tick_median", float("nan"))
        ) / 8
    doc["us_per_gpu_read_from_ticks"] = per_gpu
    if "wake" in sections:
        doc["wake_floor_us"] = {}
        for raw in args.wake_intervals.split(","):
            interval = float(raw)
            n = max(5, min(200, int(2.0 / interval)))
            doc["wake_floor_us"][f"{interval:g}"] = _wake_floor(interval, n)
    rows: list[dict[str, Any]] = []
    text = ""
    if "profile" in sections:
        text, rows = _profile(setups["host+8gpu"], args.ticks, args.top)
        doc["profile_host+8gpu"] = rows
    if "callgrind" in sections:
        doc["callgrind_per_tick"] = {
            f"{name} {kind}": _callgrind(n, kind == "cold")
            for name, n in (("host", 0), ("host+8gpu", 8))
            for kind in ("hot", "cold")
        }
    doc["load_after"] = os.getloadavg()

    print(
        f"carbonsdk at {doc['carbonsdk']}, python {doc['python']}; interval {args.interval:g} s, "
        f"short {args.short:g} s, long {args.long:g} s, {args.repeats} repeats; load "
        f"{doc['load_before'][0]:.1f} -> {doc['load_after'][0]:.1f} on {doc['cpus']} CPUs"
    )

    def cell(x: dict[str, Any] | None) -> str:
        if not x or not x.get("n"):
            return "-"
        return (
            f"{x['us_per_tick_median']:.0f} [{x['us_per_tick_min']:.0f}-{x['us_per_tick_max']:.0f}]"
        )

    def num(x: dict[str, Any] | None) -> str:
        return "-" if not x else f"{x['us_cpu_per_tick']:.0f}"

    print(
        f"{'setup':<10} {'threaded us/tick':>24} {'inline us/tick (cpu)':>21} "
        f"{'in a run us/tick':>24} {'inline in a run':>16}"
    )
    for name in setups:
        d = doc[name]
        print(
            f"{name:<10} {cell(d.get('threaded')):>24} {num(d.get('inline')):>21} "
            f"{cell(d.get('in_run')):>24} {num(d.get('inline_run')):>16}"
        )
    if "threaded" in sections:
        print(
            "ticks/s reached in the long threaded run:",
            {n: round(doc[n]["threaded"].get("ticks_per_s_long_run", 0.0)) for n in setups},
        )
    if per_gpu:
        print(
            "per GPU read from the tick difference (us):",
            {k: round(v, 1) for k, v in per_gpu.items()},
        )
    if "flush" in sections:
        for name in setups:
            f = doc[name]["flush"]
            print(
                f"flush() from the user's thread, {name}: {f['wall_us']:.0f} us wall, "
                f"{f['cpu_us']:.0f} us CPU (median of 195)"
            )
    if "wake" in sections:
        print("thread CPU per wake-up of an idle thread (us), by wait length:")
        for interval, v in doc["wake_floor_us"].items():
            print(f"  {interval:>5} s: " + ", ".join(f"{k} {x:.0f}" for k, x in v.items()))
    if "reads" in sections:
        print("per call (us, median of 5 batches):")
        for k, v in doc["host+8gpu"]["per_read_us"].items():
            print(f"  {k:<70} {v:8.2f}")
    if "callgrind" in sections:
        print(f"callgrind, per inline tick (mean of {_CALLGRIND_TICKS}; cold: caches evicted):")
        for key, ev in doc["callgrind_per_tick"].items():
            if not ev:
                print(f"  {key}: valgrind not found")
                continue
            line = f"  {key:<16} {ev.get('Ir', 0.0):>9.0f} instructions"
            if "ILmr" in ev:
                ll = ev["ILmr"] + ev["DLmr"] + ev["DLmw"]
                line += (
                    f", last-level misses {ll:.0f} (instruction {ev['ILmr']:.0f}, data read "
                    f"{ev['DLmr']:.0f}, data write {ev['DLmw']:.0f})"
                )
            print(line)
    if rows:
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
