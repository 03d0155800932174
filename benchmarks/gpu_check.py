"""GPU sensor check on a real NVIDIA machine (or ``--dry-run`` on fakes, anywhere).

What it does, in order:

1. NVML driver/NVML versions, and per GPU: name, UUID, whether the total-energy counter works,
   the power limit and the power now.
2. Energy: a bf16 (or fp16) matmul load on every visible GPU for ``--seconds`` while two sampler
   threads read carbonsdk's NVML sensors, one every 0.1 s and one every 1 s, each with both the
   energy-counter sensor and the power-polling sensor. Per GPU it prints counter energy vs
   trapezoid power energy and their relative difference.
3. Overhead: the matmul loop's throughput (iterations/s) without and with a sampler thread
   reading every sensor carbonsdk would open (``discover(("gpu", "cpu", "ram"))``) every 0.1 s,
   in A/B/A/B phases of ``--overhead-seconds``; the sampler thread's CPU seconds and per-sweep
   read latency.

Prints a compact table; ``--json PATH`` writes everything as JSON. Needs only torch,
nvidia-ml-py, psutil and attrs (carbonsdk.config / platformdirs are not imported).

    python benchmarks/gpu_check.py --seconds 60 --json /tmp/gpu_check.json
    python benchmarks/gpu_check.py --dry-run          # FakeNVML + a CPU loop, no GPU needed
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbonsdk.exceptions import SensorError
from carbonsdk.sensors import SensorEnvironment, discover
from carbonsdk.sensors.base import EnergySensor
from carbonsdk.sensors.nvml import (
    describe_nvml_error,
    ensure_initialised,
    load_nvml,
    open_gpu_sensor,
    resolve_visible_gpus,
)

RATES_S = (0.1, 1.0)


# -- sampling thread ---------------------------------------------------------------------------


class SensorThread(threading.Thread):
    """Reads a set of sensors every ``period_s`` until stopped; a final read happens at stop.
    Records the thread's own CPU seconds and the latency of each sweep."""

    def __init__(self, sensors: dict[str, EnergySensor], period_s: float) -> None:
        super().__init__(daemon=True, name=f"sampler-{period_s}s")
        self.sensors = sensors
        self.period_s = period_s
        self.stop_event = threading.Event()
        self.energy_j: dict[str, float] = {k: 0.0 for k in sensors}
        self.errors: dict[str, str] = {}
        self.sweeps = 0
        self.sweep_s: list[float] = []
        self.cpu_s = 0.0
        self.wall_s = 0.0

    def _sweep(self) -> None:
        t0 = time.perf_counter()
        mono = time.monotonic()
        for key, sensor in self.sensors.items():
            if key in self.errors:
                continue
            try:
                self.energy_j[key] = sensor.read_energy_j(mono)
            except SensorError as exc:
                self.errors[key] = str(exc)
        self.sweep_s.append(time.perf_counter() - t0)
        self.sweeps += 1

    def run(self) -> None:
        cpu0, wall0 = time.thread_time(), time.monotonic()
        next_s = time.monotonic() + self.period_s
        while not self.stop_event.wait(max(0.0, next_s - time.monotonic())):
            self._sweep()
            next_s += self.period_s
            if next_s < time.monotonic():  # fell behind: do not burst
                next_s = time.monotonic() + self.period_s
        self._sweep()  # final read at stop
        self.cpu_s = time.thread_time() - cpu0
        self.wall_s = time.monotonic() - wall0

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)


# -- load --------------------------------------------------------------------------------------


class Load:
    """One worker thread per device running a kernel loop; counts completed iterations."""

    def __init__(self, step_factories: Sequence[Callable[[], Callable[[], None]]]) -> None:
        self.step_factories = step_factories
        self.iterations = [0] * len(step_factories)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready = threading.Barrier(len(step_factories) + 1)

    def _worker(self, i: int) -> None:
        try:
            step = self.step_factories[i]()
        except Exception as exc:
            self.errors.append(f"device {i}: setup failed: {exc!r}")
            step = None
        self._ready.wait()
        if step is None:
            return
        try:
            while not self._stop.is_set():
                step()
                self.iterations[i] += 1
        except Exception as exc:
            self.errors.append(f"device {i}: {exc!r}")

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._worker, args=(i,), daemon=True)
            for i in range(len(self.step_factories))
        ]
        for t in self._threads:
            t.start()
        self._ready.wait()  # all set up (tensors allocated) before timing starts
        self._ready.reset()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def run_for(self, seconds: float) -> tuple[float, int]:
        """Run the load ``seconds``; returns (wall seconds, iterations done)."""
        before = sum(self.iterations)
        t0 = time.monotonic()
        time.sleep(seconds)
        return time.monotonic() - t0, sum(self.iterations) - before


def torch_steps(n_devices: int, size: int, dtype_name: str, sync_every: int) -> list[Any]:
    import torch  # type: ignore[import-not-found, unused-ignore]

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]

    def factory(i: int) -> Callable[[], Callable[[], None]]:
        def make() -> Callable[[], None]:
            device = torch.device("cuda", i)
            torch.cuda.set_device(device)
            a = torch.randn(size, size, device=device, dtype=dtype)
            b = torch.randn(size, size, device=device, dtype=dtype)
            out = torch.empty(size, size, device=device, dtype=dtype)
            torch.cuda.synchronize(device)

            def step() -> None:  # one "iteration" = sync_every matmuls, completed
                for _ in range(sync_every):
                    torch.matmul(a, b, out=out)
                torch.cuda.synchronize(device)

            return step

        return make

    return [factory(i) for i in range(n_devices)]


def cpu_steps(n_devices: int, fake_gpus: Sequence[Any]) -> list[Any]:
    """Dry run: a pure-Python loop per fake GPU; the fake's power follows the loop."""

    def factory(i: int) -> Callable[[], Callable[[], None]]:
        def make() -> Callable[[], None]:
            gpu = fake_gpus[i] if i < len(fake_gpus) else None
            count = [0]

            def step() -> None:
                x = 0
                for k in range(2000):
                    x += k * k
                count[0] += 1
                if gpu is not None and count[0] % 50 == 0:  # a wobbling fake power draw
                    gpu.set_power_w(200.0 + 100.0 * math.sin(count[0] / 500.0))

            return step

        return make

    return [factory(i) for i in range(n_devices)]


# -- NVML inventory --------------------------------------------------------------------------


def _call(fn: Callable[[], Any], lib: Any) -> tuple[Any, str | None]:
    try:
        return fn(), None
    except Exception as exc:
        return None, describe_nvml_error(lib, exc)


def _s(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _device_call(lib: Any, function: str, handle: Any) -> tuple[Any, str | None]:
    return _call(lambda: getattr(lib, function)(handle), lib)


def inventory(lib: Any) -> dict[str, Any]:
    driver, driver_err = _call(lib.nvmlSystemGetDriverVersion, lib)
    nvml_v, nvml_err = _call(lib.nvmlSystemGetNVMLVersion, lib)
    count, count_err = _call(lib.nvmlDeviceGetCount, lib)
    gpus: list[dict[str, Any]] = []
    for i in range(count or 0):
        handle, herr = _device_call(lib, "nvmlDeviceGetHandleByIndex", i)
        if handle is None:
            gpus.append({"nvml_index": i, "error": herr})
            continue
        name, _ = _device_call(lib, "nvmlDeviceGetName", handle)
        uuid, _ = _device_call(lib, "nvmlDeviceGetUUID", handle)
        energy_mj, energy_err = _device_call(lib, "nvmlDeviceGetTotalEnergyConsumption", handle)
        limit_mw, limit_err = _device_call(lib, "nvmlDeviceGetPowerManagementLimit", handle)
        power_mw, power_err = _device_call(lib, "nvmlDeviceGetPowerUsage", handle)
        gpus.append(
            {
                "nvml_index": i,
                "name": _s(name),
                "uuid": _s(uuid),
                "energy_counter_supported": energy_mj is not None,
                "energy_counter_error": energy_err,
                "power_limit_w": None if limit_mw is None else limit_mw / 1000.0,
                "power_limit_error": limit_err,
                "power_now_w": None if power_mw is None else power_mw / 1000.0,
                "power_error": power_err,
            }
        )
    return {
        "driver_version": _s(driver) if driver is not None else driver_err,
        "nvml_version": _s(nvml_v) if nvml_v is not None else nvml_err,
        "gpu_count": count if count is not None else count_err,
        "gpus": gpus,
    }


# -- phases ----------------------------------------------------------------------------------


def energy_phase(
    lib: Any, visible: Sequence[int], load: Load, seconds: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    samplers: list[SensorThread] = []
    open_errors: dict[str, str] = {}
    mono = time.monotonic()
    for period in RATES_S:
        sensors: dict[str, EnergySensor] = {}
        for ordinal, nvml_index in enumerate(visible):
            for method in ("counter", "polling"):
                key = f"{ordinal}/{method}"
                try:
                    sensors[key] = open_gpu_sensor(lib, nvml_index, ordinal, mono, method=method)
                except SensorError as exc:
                    open_errors[key] = str(exc)
        samplers.append(SensorThread(sensors, period))
    for s in samplers:
        s.start()
    wall_s, iterations = load.run_for(seconds)
    for s in samplers:  # signal all first, so that their final reads are as close as possible
        s.stop_event.set()
    for s in samplers:
        s.stop()
    rows: list[dict[str, Any]] = []
    for ordinal, nvml_index in enumerate(visible):
        row: dict[str, Any] = {"gpu": ordinal, "nvml_index": nvml_index}
        for period, sampler in zip(RATES_S, samplers, strict=True):
            tag = f"{period:g}s"
            for method in ("counter", "polling"):
                key = f"{ordinal}/{method}"
                err = open_errors.get(key) or sampler.errors.get(key)
                row[f"{method}_j_{tag}"] = None if err else sampler.energy_j[key]
                if err:
                    row[f"{method}_error_{tag}"] = err
            c, p = row[f"counter_j_{tag}"], row[f"polling_j_{tag}"]
            row[f"rel_diff_{tag}"] = (p - c) / c if c and p is not None else None
        c1 = row.get("counter_j_0.1s")
        row["mean_power_w"] = c1 / wall_s if c1 else None
        rows.append(row)
    meta = {
        "seconds": wall_s,
        "iterations_per_s": iterations / wall_s if wall_s > 0 else None,
        "sampler_sweeps": {f"{s.period_s:g}s": s.sweeps for s in samplers},
        "sampler_cpu_s": {f"{s.period_s:g}s": s.cpu_s for s in samplers},
    }
    return rows, meta


def measure_phase(
    env: SensorEnvironment, load: Load, seconds: float
) -> tuple[list[float], float, float]:
    """The load under the real ``carbonsdk.measure()`` (its process-wide sampler at 0.1 s over
    ``env``): iterations/s of two phases, and the sampler thread's CPU and wall seconds."""
    import carbonsdk
    from carbonsdk.clock import SYSTEM_CLOCK
    from carbonsdk.sampler import Sampler, set_sampler
    from carbonsdk.testing import discover_fn

    sampler = Sampler(clock=SYSTEM_CLOCK, discover=discover_fn(env), threaded=True)
    previous = set_sampler(sampler)
    rates: list[float] = []
    wall_total = 0.0
    try:
        for _ in range(2):
            with carbonsdk.measure(
                "gpu-check", region="DE", intensity=0.0, ledger=False, report=False, interval_s=0.1
            ):
                w, it = load.run_for(seconds)
            rates.append(it / w)
            wall_total += w
        deadline = time.monotonic() + 2.0
        while sampler.running and time.monotonic() < deadline:
            time.sleep(0.01)  # the thread books its CPU time when it stops
    finally:
        set_sampler(previous)
        sampler.close()
    return rates, sampler.thread_cpu_s, wall_total


def overhead_phase(env: SensorEnvironment, load: Load, seconds: float) -> dict[str, Any]:
    without: list[float] = []
    with_sampler: list[float] = []
    cpu_s = 0.0
    wall_s = 0.0
    sweeps: list[float] = []
    keys: list[str] = []
    warnings: tuple[str, ...] = ()
    for phase in ("A", "B", "A", "B"):
        if phase == "A":
            w, it = load.run_for(seconds)
            without.append(it / w)
            continue
        found = discover(("gpu", "cpu", "ram"), env, time.monotonic())
        warnings = found.warnings
        sensors = {s.info.key: s for s in found.sensors}
        keys = list(sensors)
        sampler = SensorThread(sensors, 0.1)
        sampler.start()
        w, it = load.run_for(seconds)
        sampler.stop()
        found.close()
        with_sampler.append(it / w)
        cpu_s += sampler.cpu_s
        wall_s += sampler.wall_s
        sweeps.extend(sampler.sweep_s)
    measured, measure_cpu_s, measure_wall_s = measure_phase(env, load, seconds)
    base = statistics.fmean(without)
    sampled = statistics.fmean(with_sampler)
    sweeps_ms = sorted(x * 1000.0 for x in sweeps)
    return {
        "iterations_per_s_with_measure_0.1s": measured,
        "measure_throughput_ratio": statistics.fmean(measured) / base if base else None,
        "measure_sampler_cpu_fraction_of_one_core": measure_cpu_s / measure_wall_s
        if measure_wall_s
        else None,
        "sensors": keys,
        "discover_warnings": list(warnings),
        "iterations_per_s_without": without,
        "iterations_per_s_with_sampler_0.1s": with_sampler,
        "throughput_ratio_with_over_without": sampled / base if base else None,
        "sampler_cpu_s": cpu_s,
        "sampler_wall_s": wall_s,
        "sampler_cpu_fraction_of_one_core": cpu_s / wall_s if wall_s else None,
        "sweep_ms_mean": statistics.fmean(sweeps_ms) if sweeps_ms else None,
        "sweep_ms_p99": sweeps_ms[min(len(sweeps_ms) - 1, int(0.99 * len(sweeps_ms)))]
        if sweeps_ms
        else None,
    }


# -- output ----------------------------------------------------------------------------------


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def print_report(result: dict[str, Any]) -> None:
    inv = result["inventory"]
    print(f"device: {result['device']}")
    print(
        f"NVML driver {inv['driver_version']}, NVML {inv['nvml_version']}, "
        f"{inv['gpu_count']} GPU(s); CUDA_VISIBLE_DEVICES={result['cuda_visible_devices']!r}"
    )
    for g in inv["gpus"]:
        if "error" in g:
            print(f"  nvml {g['nvml_index']}: {g['error']}")
            continue
        print(
            f"  nvml {g['nvml_index']}: {g['name']}  {g['uuid']}  counter="
            f"{'yes' if g['energy_counter_supported'] else 'no'}  limit={_fmt(g['power_limit_w'])}"
            f" W  now={_fmt(g['power_now_w'])} W"
        )
    meta = result["energy_meta"]
    print(
        f"\nenergy under load ({_fmt(meta['seconds'])} s, {_fmt(meta['iterations_per_s'])} it/s):"
    )
    header = (
        f"{'gpu':>3} {'mean W':>8} {'counter J':>11} {'poll J':>11} {'diff':>8}"
        f" {'counter J':>11} {'poll J':>11} {'diff':>8}"
    )
    print(
        f"{'':>3} {'':>8} {'---------- every 0.1 s ----------':>32}"
        f" {'----------- every 1 s -----------':>32}"
    )
    print(header)
    for r in result["energy"]:
        print(
            f"{r['gpu']:>3} {_fmt(r['mean_power_w']):>8}"
            f" {_fmt(r['counter_j_0.1s']):>11} {_fmt(r['polling_j_0.1s']):>11}"
            f" {_fmt(r['rel_diff_0.1s'], '+.2%'):>8}"
            f" {_fmt(r['counter_j_1s']):>11} {_fmt(r['polling_j_1s']):>11}"
            f" {_fmt(r['rel_diff_1s'], '+.2%'):>8}"
        )
        for k, v in r.items():
            if "error" in k:
                print(f"    {k}: {v}")
    o = result["overhead"]
    print(f"\nsampler overhead (0.1 s, sensors: {', '.join(o['sensors']) or 'none'}):")
    print(f"  it/s without: {', '.join(_fmt(x) for x in o['iterations_per_s_without'])}")
    print(f"  it/s with:    {', '.join(_fmt(x) for x in o['iterations_per_s_with_sampler_0.1s'])}")
    print(
        f"  it/s under carbonsdk.measure(interval_s=0.1): "
        f"{', '.join(_fmt(x) for x in o['iterations_per_s_with_measure_0.1s'])} "
        f"(ratio {_fmt(o['measure_throughput_ratio'], '.4f')}, sampler thread "
        f"{_fmt(o['measure_sampler_cpu_fraction_of_one_core'], '.3%')} of one core)"
    )
    print(f"  throughput with/without: {_fmt(o['throughput_ratio_with_over_without'], '.4f')}")
    print(
        f"  sampler thread CPU: {_fmt(o['sampler_cpu_s'], '.3f')} s over "
        f"{_fmt(o['sampler_wall_s'], '.1f')} s = "
        f"{_fmt(o['sampler_cpu_fraction_of_one_core'], '.3%')} of one core; sweep "
        f"mean {_fmt(o['sweep_ms_mean'], '.3f')} ms, p99 {_fmt(o['sweep_ms_p99'], '.3f')} ms"
    )
    for w in o["discover_warnings"]:
        print(f"  discover warning: {w}")
    for e in result["load_errors"]:
        print(f"  load error: {e}")


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check carbonsdk's NVML sensors on a real GPU machine (or on fakes with "
        "--dry-run): counter vs power-polling energy under a matmul load, and sampler overhead.",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="energy phase length under load (default 60, dry run 3)",
    )
    parser.add_argument(
        "--overhead-seconds",
        type=float,
        default=None,
        help="each of the 4 A/B overhead phases (default 10, dry run 1)",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=None,
        help="load before measuring, to reach steady clocks (default 5, dry 0.2)",
    )
    parser.add_argument("--size", type=int, default=8192, help="matmul size N (N x N)")
    parser.add_argument("--dtype", choices=("bf16", "fp16"), default="bf16")
    parser.add_argument(
        "--sync-every",
        type=int,
        default=10,
        help="matmuls per counted iteration (one synchronize each)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="no GPU: FakeNVML (carbonsdk.testing) on the real clock, CPU load",
    )
    args = parser.parse_args(argv)
    dry = args.dry_run
    seconds = args.seconds if args.seconds is not None else (3.0 if dry else 60.0)
    overhead_s = (
        args.overhead_seconds if args.overhead_seconds is not None else (1.0 if dry else 10.0)
    )
    warmup_s = args.warmup_seconds if args.warmup_seconds is not None else (0.2 if dry else 5.0)

    fake_gpus: list[Any] = []
    if dry:
        from carbonsdk.clock import SYSTEM_CLOCK
        from carbonsdk.testing import FakeGPU, FakeNVML

        fake_gpus = [
            FakeGPU.volta(power_w=250.0, name="Fake V100 (counter)"),
            FakeGPU.pre_volta(power_w=150.0, name="Fake P100 (power only)"),
        ]
        lib: Any = FakeNVML(fake_gpus, SYSTEM_CLOCK)
        cvd: str | None = None
    else:
        try:
            lib = load_nvml()
        except ImportError as exc:
            print(f"error: nvidia-ml-py is not installed ({exc})", file=sys.stderr)
            return 1
        cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        ensure_initialised(lib)
    except Exception as exc:
        print(f"error: NVML init failed: {describe_nvml_error(lib, exc)}", file=sys.stderr)
        return 1

    inv = inventory(lib)
    uuids = [g.get("uuid") for g in inv["gpus"]]
    visible = list(resolve_visible_gpus(cvd, uuids).nvml_indices)
    if not visible:
        print("error: no GPU visible to this process", file=sys.stderr)
        return 1

    if dry:
        steps = cpu_steps(len(visible), [fake_gpus[i] for i in visible])
        device = f"dry run on {platform.machine()} ({os.cpu_count()} CPUs), FakeNVML"
    else:
        try:
            import torch  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            print(f"error: torch is needed for the load ({exc})", file=sys.stderr)
            return 1
        if not torch.cuda.is_available() or torch.cuda.device_count() < len(visible):
            print(
                f"error: torch sees {torch.cuda.device_count()} CUDA device(s), NVML "
                f"{len(visible)}",
                file=sys.stderr,
            )
            return 1
        steps = torch_steps(len(visible), args.size, args.dtype, args.sync_every)
        device = ", ".join(torch.cuda.get_device_name(i) for i in range(len(visible)))

    load = Load(steps)
    load.start()
    try:
        load.run_for(warmup_s)
        energy_rows, energy_meta = energy_phase(lib, visible, load, seconds)
        env = SensorEnvironment(nvml=lib, cuda_visible_devices=cvd)
        overhead = overhead_phase(env, load, overhead_s)
    finally:
        load.stop()

    result = {
        "dry_run": dry,
        "device": device,
        "python": platform.python_version(),
        "cuda_visible_devices": cvd,
        "matmul": {"size": args.size, "dtype": args.dtype, "sync_every": args.sync_every},
        "inventory": inv,
        "energy": energy_rows,
        "energy_meta": energy_meta,
        "overhead": overhead,
        "load_errors": load.errors,
    }
    print_report(result)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if not load.errors else 1


if __name__ == "__main__":
    sys.exit(main())
