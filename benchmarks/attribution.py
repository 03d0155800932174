"""Cost of one ``ProcessAttributor.refresh`` (measure(attribution="process")) on this host.

The host side is real (psutil reads this process tree and the host); the GPU side is
carbonsdk.testing's FakeNVML (per-process samples from 3 processes on each of 2 GPUs), so the
NVML figure is the Python overhead only, not the driver's. Times refreshes with this process
alone and with 4 and 16 sleeping child processes: walking the tree and reading its memory at
every refresh (worst case), then paced as in a run (walks at most 0.5 % and memory reads at most
0.1 % of wall time) at 1 s and 0.1 s sampling intervals. Prints mean / median / p95 / max in ms
and the mean as a fraction of the interval.

Usage: python benchmarks/attribution.py [--refreshes N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbonsdk.attribution import ProcessAttributor
from carbonsdk.clock import SYSTEM_CLOCK
from carbonsdk.sampler import Sampler
from carbonsdk.sensors import SensorEnvironment, discover
from carbonsdk.sensors.host import ProcessTreeMeter, PsutilHostProbe
from carbonsdk.testing import GIB, FakeGPU, FakeNVML


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _time_refreshes(
    att: ProcessAttributor, n: int, interval_s: float, now: list[float], *, force_walk: bool
) -> list[float]:
    """Cost (ms) of ``n`` refreshes ``interval_s`` apart on a virtual timeline ``now[0]`` (UTC
    epoch s, moved on): the pacing of tree walks and memory reads sees the interval, and nothing
    sleeps."""
    costs = []
    meter = att._meter
    for _ in range(n):
        now[0] += interval_s
        if force_walk and meter is not None:
            meter._next_walk_s = float("-inf")
            meter._next_memory_s = float("-inf")
        att.add(
            now[0] - interval_s,
            now[0],
            {"gpu:0": 300.0, "gpu:1": 300.0, "cpu:host": 50.0, "ram:host": 5.0},
        )
        t0 = time.perf_counter()
        att.refresh(now[0])
        costs.append((time.perf_counter() - t0) * 1e3)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=300)
    args = parser.parse_args()
    probe = PsutilHostProbe()
    gpus = [FakeGPU.volta(300.0, sample_period_s=1 / 6), FakeGPU.volta(300.0)]
    nvml = FakeNVML(gpus, SYSTEM_CLOCK)
    env = SensorEnvironment(nvml=nvml, host=probe)
    found = discover(["gpu", "cpu", "ram"], env, time.monotonic())
    devices = tuple(s.info for s in found.sensors)
    import psutil  # the benchmark may: it is not the SDK

    print(f"host processes: {len(psutil.pids())}; devices: {[d.key for d in devices]}")
    ctx = multiprocessing.get_context("fork")
    for n_children in (0, 4, 16):
        children = [ctx.Process(target=_sleep, args=(60.0,)) for _ in range(n_children)]
        for child in children:
            child.start()
        for gpu in gpus:
            gpu.set_processes(
                {probe.self_pid(): 60, 1: 20, 2: 20}, memory={probe.self_pid(): GIB, 1: GIB, 2: GIB}
            )
        sampler = Sampler(clock=SYSTEM_CLOCK, environment=env, threaded=False)
        now = [time.time()]
        att = ProcessAttributor.start(
            sampler, devices=devices, components=("gpu", "cpu", "ram"), start_s=now[0]
        )
        for label, interval_s, force in (
            ("walk + memory every refresh", 1.0, True),
            ("paced, 1 s interval", 1.0, False),
            ("paced, 0.1 s interval", 0.1, False),
        ):
            costs = sorted(_time_refreshes(att, args.refreshes, interval_s, now, force_walk=force))
            mean = statistics.fmean(costs)
            med = statistics.median(costs)
            p95 = costs[int(0.95 * (len(costs) - 1))]
            print(
                f"{n_children:2d} children, {label:27s}: mean {mean:6.3f} ms, median "
                f"{med:6.3f} ms, p95 {p95:6.3f} ms, max {costs[-1]:6.3f} ms; mean = "
                f"{mean / 1000.0 / interval_s:.4%} of the interval"
            )
        meter = ProcessTreeMeter(probe, time.time())
        assert len(meter.pids) == n_children + 1, meter.pids
        out = att.finish(now[0])
        assert set(out.energy.components) == {"gpu", "cpu", "ram"}, out.detail
        for child in children:
            child.terminate()
            child.join()


if __name__ == "__main__":
    main()
