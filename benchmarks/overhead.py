"""How much does measuring cost the code being measured?

Prints, measured in one run on this machine:
- slowdown of a CPU-bound workload under ``measure()`` at 1 s and 0.1 s sampling (ratio of wall
  times, median of alternating repetitions) and the sampler thread's own CPU seconds;
- ``measure()`` enter+exit latency (explicit region, default embedded intensity, ledger on), cold
  (first run of a process) and warm (median of many);
- ``import carbonsdk`` time, and ``import carbonsdk; carbonsdk.measure`` (the first use of the
  lazy ``measure`` imports the run machinery), in fresh interpreters minus a bare interpreter
  start, with cached bytecode as an installed package has (``benchmarks/import_time.py`` has
  the detail).

Targets (issue 2): slowdown < 1 % at 1 s, enter+exit < 20 ms, import < 150 ms.
Usage: python benchmarks/overhead.py [--seconds 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CARBONSDK_OFFLINE", "1")
_tmp = tempfile.mkdtemp(prefix="carbonsdk-bench-")
os.environ["CARBONSDK_LEDGER"] = str(Path(_tmp) / "ledger.jsonl")

import carbonsdk  # noqa: E402
from carbonsdk.sampler import get_sampler  # noqa: E402


def workload(iterations: int) -> int:
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i * i) % 1_000_000_007
    return acc


def calibrate(seconds: float) -> int:
    n = 200_000
    while True:
        t0 = time.perf_counter()
        workload(n)
        dt = time.perf_counter() - t0
        if dt > 0.2:
            return int(n * seconds / dt)
        n *= 2


def sampler_cpu_s() -> float:
    """CPU seconds used so far by the sampler thread (its own ``time.thread_time()``)."""
    return get_sampler().thread_cpu_s


def timed(iterations: int, interval_s: float | None) -> tuple[float, float]:
    if interval_s is None:
        t0 = time.perf_counter()
        workload(iterations)
        return time.perf_counter() - t0, 0.0
    sampler = get_sampler()
    cpu0 = sampler.thread_cpu_s
    with carbonsdk.measure("bench", region="DE", interval_s=interval_s, report=False, ledger=False):
        t0 = time.perf_counter()
        workload(iterations)
        wall = time.perf_counter() - t0
    deadline = time.monotonic() + 2.0
    while sampler.running and time.monotonic() < deadline:
        time.sleep(0.01)  # the thread stops after the last run and books its CPU time
    return wall, sampler.thread_cpu_s - cpu0


def enter_exit_ms(n: int) -> tuple[float, float]:
    def once() -> float:
        t0 = time.perf_counter()
        with carbonsdk.measure("latency", region="aws:eu-central-1", report=False):
            pass
        return (time.perf_counter() - t0) * 1000

    cold = once()
    warm = statistics.median(once() for _ in range(n))
    return cold, warm


def import_ms(repeats: int) -> tuple[float, float]:
    """(``import carbonsdk``, ``import carbonsdk; carbonsdk.measure``) in ms, each the median of
    ``repeats`` fresh interpreters minus a bare one (interleaved), bytecode cached."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "carbonsdk-overhead-pycache")

    def run(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        return (time.perf_counter() - t0) * 1000

    codes = ("pass", "import carbonsdk", "import carbonsdk; carbonsdk.measure")
    run(codes[2])  # writes the bytecode cache
    times: dict[str, list[float]] = {c: [] for c in codes}
    for _ in range(repeats):
        for code in codes:
            times[code].append(run(code))
    base = statistics.median(times["pass"])
    return statistics.median(times[codes[1]]) - base, statistics.median(times[codes[2]]) - base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="workload length per repetition")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    iterations = calibrate(args.seconds)
    rows: dict[str, list[tuple[float, float]]] = {"none": [], "1 s": [], "0.1 s": []}
    order: list[tuple[str, float | None]] = [("none", None), ("1 s", 1.0), ("0.1 s", 0.1)]
    for r in range(args.repeats):  # alternate (rotating the order) to spread machine noise
        for label, interval in order[r % 3 :] + order[: r % 3]:
            rows[label].append(timed(iterations, interval))
    base = statistics.median(w for w, _ in rows["none"])
    base_min = min(w for w, _ in rows["none"])
    spread = (max(w for w, _ in rows["none"]) - base_min) / base_min * 100
    print(
        f"carbonsdk overhead benchmark (python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, workload {base:.2f} s, {args.repeats} alternating repeats; "
        f"unmeasured runs vary by {spread:.1f} %)"
    )
    print(
        f"{'sampling':<10}{'median s':>10}{'slowdown':>10}{'min s':>9}{'slowdown':>10}"
        f"{'sampler CPU s':>15}{'CPU %':>8}"
    )
    for label, vals in rows.items():
        wall = statistics.median(w for w, _ in vals)
        low = min(w for w, _ in vals)
        cpu = statistics.median(c for _, c in vals)
        print(
            f"{label:<10}{wall:>10.3f}{(wall / base - 1) * 100:>9.2f}%{low:>9.3f}"
            f"{(low / base_min - 1) * 100:>9.2f}%{cpu:>15.4f}{cpu / wall * 100:>7.2f}%"
        )
    cold, warm = enter_exit_ms(50)
    print(
        f"measure() enter+exit: cold {cold:.1f} ms, warm median {warm:.2f} ms "
        "(explicit region, embedded intensity, ledger write)"
    )
    plain, first_use = import_ms(7)
    print(
        f"import carbonsdk: {plain:.1f} ms; import carbonsdk + first use of carbonsdk.measure: "
        f"{first_use:.1f} ms (median of 7, minus bare interpreter)"
    )


if __name__ == "__main__":
    main()
