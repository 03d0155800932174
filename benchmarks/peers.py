"""carbonsdk against its peers (CodeCarbon, Zeus) on the same workloads, in one run.

Every measurement runs in a fresh child interpreter (this file with ``--child``), and the tools
take turns (rounds of carbonsdk, CodeCarbon, Zeus, in a rotating order) so that the load of a
shared machine falls on all of them alike; the figures are medians with their spread.

Workloads (lower is better everywhere):

* ``import``: ``import carbonsdk; carbonsdk.measure`` (the package root imports nothing heavy:
  ``measure`` is a lazy attribute, so its first use is where the run machinery is imported) /
  ``import codecarbon`` / ``from zeus.monitor import ZeusMonitor`` timed inside a fresh
  interpreter (seconds), median of ``--import-reps``; every child runs with cached bytecode, as
  an installed package does (``PYTHONDONTWRITEBYTECODE`` is dropped, caches go to a folder of
  their own: an editable checkout would otherwise compile carbonsdk from source in every child
  while the peers' wheels come compiled);
* ``cold``: a fresh script's import + tracker construction + start + stop of an empty block
  (seconds); ``warm``: a second empty block in the same process;
* ``sampler CPU``: process CPU seconds per second of measurement while the body sleeps (so every
  CPU second is the tool's), at 1 s and 0.1 s sampling intervals, ``--cpu-seconds`` each;
  the tools run at the same time (one child each), so they share the same load;
* ``slowdown``: a CPU-bound pure-Python loop timed bare and with the tool running (started 1.2 s
  before, so the steady state is timed, not the start), in alternating pairs; the ratio
  measured / bare per pair, median and spread;
* ``memory``: RSS growth over ``--memory-seconds`` of measurement at 0.1 s (after a 2 s warm-up),
  the tools at the same time;
* ``kill -9``: a 30 s job killed with SIGKILL after 5 s: what is left on disk (carbonsdk: the
  ledger rebuilds the run from its checkpoints, ``checkpoint_s=1``; CodeCarbon: its
  emissions.csv; Zeus: its ``log_file``).

Everything is offline: ``CARBONSDK_OFFLINE=1``, carbonsdk with ``region="DE",
intensity="embedded"``, CodeCarbon's ``OfflineEmissionsTracker(country_iso_code="DEU")``. The
peers are optional (``pip install -r benchmarks/requirements-peers.txt``); a peer that does not
import is reported as missing. Zeus measures only GPUs (NVML), RAPL CPUs and Apple SoCs: on a
host with none of them it measures nothing at all, which the output says.

    python benchmarks/peers.py [--quick] [--json PATH] [--no-zeus]

The default run takes about 5-6 minutes, ``--quick`` about 1-2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("carbonsdk", "codecarbon", "zeus")
IMPORTS = {
    "carbonsdk": "import carbonsdk; carbonsdk.measure",
    "codecarbon": "import codecarbon",
    "zeus": "from zeus.monitor import ZeusMonitor",
}
#: the pure-Python CPU-bound body of the slowdown workload
_LOOP_MOD = 1_000_000_007


# -- child side ------------------------------------------------------------------------------


def _rss_bytes() -> int:
    """Resident set size of this process in bytes (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _loop(iterations: int) -> int:
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i * i) % _LOOP_MOD
    return acc


class _Tracker:
    """One tool's tracker behind a start/stop interface (built in the child only)."""

    def __init__(
        self, tool: str, workdir: Path, interval_s: float, checkpoint_s: float = 60.0
    ) -> None:
        self.tool = tool
        self.workdir = workdir
        self.interval_s = interval_s
        self.checkpoint_s = checkpoint_s
        self._obj: Any = None
        self.zeus_log: Path | None = None

    def start(self) -> None:
        """Construct the tracker and start measuring."""
        if self.tool == "carbonsdk":
            import carbonsdk

            self._obj = carbonsdk.measure(
                "peers",
                region="DE",
                intensity="embedded",
                ledger=self.workdir / "ledger.jsonl",
                report=False,
                interval_s=self.interval_s,
                checkpoint_s=self.checkpoint_s,
            )
            self._obj.__enter__()
        elif self.tool == "codecarbon":
            from codecarbon import OfflineEmissionsTracker

            self._obj = OfflineEmissionsTracker(
                project_name="peers",
                country_iso_code="DEU",
                measure_power_secs=self.interval_s,
                output_dir=str(self.workdir),
                log_level="error",
            )
            self._obj.start()
        elif self.tool == "zeus":
            from zeus.monitor import ZeusMonitor  # type: ignore[import-untyped]

            if self._obj is None:
                self._obj = ZeusMonitor(
                    log_file=str(self.zeus_log) if self.zeus_log is not None else None
                )
            self._obj.begin_window("peers")
        else:
            raise ValueError(f"unknown tool {self.tool!r}: use one of {', '.join(TOOLS)}")

    def stop(self) -> None:
        """Stop measuring (the tool writes its outputs)."""
        if self.tool == "carbonsdk":
            self._obj.__exit__(None, None, None)
        elif self.tool == "codecarbon":
            self._obj.stop()
        else:
            self._obj.end_window("peers")


def _child_import(tool: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    exec(IMPORTS[tool], {})  # a fixed import statement
    return {"import_s": time.perf_counter() - t0}


def _child_startstop(tool: str, workdir: Path, warm_reps: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    exec(IMPORTS[tool], {})
    t1 = time.perf_counter()
    tr = _Tracker(tool, workdir, 1.0)
    tr.start()
    t2 = time.perf_counter()
    tr.stop()
    t3 = time.perf_counter()
    warm = []
    for _ in range(warm_reps):
        w0 = time.perf_counter()
        tr.start()
        tr.stop()
        warm.append(time.perf_counter() - w0)
    return {
        "import_s": t1 - t0,
        "start_s": t2 - t1,
        "stop_s": t3 - t2,
        "cold_s": t3 - t0,
        "warm_s": statistics.median(warm) if warm else None,
    }


def _child_cpu(tool: str, workdir: Path, interval_s: float, seconds: float) -> dict[str, Any]:
    exec(IMPORTS[tool], {})
    tr = _Tracker(tool, workdir, interval_s)
    tr.start()
    time.sleep(min(1.0, seconds / 5))  # let the sampler settle
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    tr.stop()
    return {"cpu_per_s": (cpu1 - cpu0) / (wall1 - wall0), "wall_s": wall1 - wall0}


def _child_slowdown(
    tool: str, workdir: Path, interval_s: float, pairs: int, loop_s: float, settle_s: float
) -> dict[str, Any]:
    exec(IMPORTS[tool], {})
    tr = _Tracker(tool, workdir, interval_s)
    tr.start()  # a first (cold) block, so that the pairs see the warm tool
    tr.stop()
    n = 100_000
    while True:  # calibrate: a loop of about loop_s seconds
        t0 = time.perf_counter()
        _loop(n)
        took = time.perf_counter() - t0
        if took > 0.05:
            n = max(1, int(n * loop_s / took))
            break
        n *= 4

    def bare() -> float:
        t0 = time.perf_counter()
        _loop(n)
        return time.perf_counter() - t0

    def measured() -> float:
        tr.start()
        time.sleep(settle_s)  # steady state: past the start and the first tick's work
        t0 = time.perf_counter()
        _loop(n)
        took = time.perf_counter() - t0
        tr.stop()
        return took

    ratios = []
    for k in range(pairs):  # alternate which side goes first, to cancel drift
        if k % 2 == 0:
            b = bare()
            m = measured()
        else:
            m = measured()
            b = bare()
        ratios.append(m / b)
    return {"ratios": ratios, "iterations": n}


def _child_memory(tool: str, workdir: Path, interval_s: float, seconds: float) -> dict[str, Any]:
    exec(IMPORTS[tool], {})
    rss_import = _rss_bytes()
    tr = _Tracker(tool, workdir, interval_s)
    tr.start()
    time.sleep(2.0)
    rss_warm = _rss_bytes()
    time.sleep(max(0.0, seconds - 2.0))
    rss_end = _rss_bytes()
    tr.stop()
    ticks = None
    if tool == "carbonsdk":
        from carbonsdk.sampler import get_sampler

        ticks = get_sampler().ticks
    return {
        "rss_import_b": rss_import,
        "rss_warm_b": rss_warm,
        "rss_end_b": rss_end,
        "growth_b": rss_end - rss_warm,
        "sampler_ticks": ticks,
    }


def _child_job(tool: str, workdir: Path, seconds: float) -> dict[str, Any]:
    exec(IMPORTS[tool], {})
    tr = _Tracker(tool, workdir, 1.0, checkpoint_s=1.0)
    tr.zeus_log = workdir / "zeus.csv"
    tr.start()
    print("STARTED", flush=True)
    time.sleep(seconds)
    tr.stop()
    return {"finished": True}


def _child_inspect(tool: str, workdir: Path) -> dict[str, Any]:
    """What a killed job left on disk, read the way each tool's user would read it."""
    if tool == "carbonsdk":
        import carbonsdk

        runs = carbonsdk.Ledger(workdir / "ledger.jsonl").runs()
        if not runs:
            return {"survived": False, "what": "no run in the ledger"}
        r = runs[-1]
        return {
            "survived": True,
            "what": f"run status={r.status!r}, {r.duration_s:.1f} s, "
            f"{r.energy_kwh * 3.6e6:.1f} J, {r.emissions_g:.3g} g, "
            f"{len(r.timeline)} timeline intervals, flags {list(r.flags)}",
            "status": r.status,
            "duration_s": r.duration_s,
            "energy_kwh": r.energy_kwh,
            "emissions_g": r.emissions_g,
        }
    if tool == "codecarbon":
        csv = workdir / "emissions.csv"
        if not csv.exists():
            return {"survived": False, "what": "no emissions.csv"}
        rows = [ln for ln in csv.read_text().splitlines()[1:] if ln.strip()]
        return {"survived": bool(rows), "what": f"emissions.csv with {len(rows)} data rows"}
    log = workdir / "zeus.csv"
    if not log.exists():
        return {"survived": False, "what": "no log_file"}
    rows = [ln for ln in log.read_text().splitlines()[1:] if ln.strip()]
    return {
        "survived": bool(rows),
        "what": f"log_file with {len(rows)} data rows (header only)"
        if not rows
        else f"log_file with {len(rows)} data rows",
    }


def _child_main(spec: dict[str, Any]) -> None:
    task, tool = spec["task"], spec["tool"]
    workdir = Path(spec.get("workdir") or tempfile.mkdtemp(prefix="peers-"))
    if task == "import":
        out = _child_import(tool)
    elif task == "startstop":
        out = _child_startstop(tool, workdir, spec["warm_reps"])
    elif task == "cpu":
        out = _child_cpu(tool, workdir, spec["interval_s"], spec["seconds"])
    elif task == "slowdown":
        out = _child_slowdown(
            tool, workdir, spec["interval_s"], spec["pairs"], spec["loop_s"], spec["settle_s"]
        )
    elif task == "memory":
        out = _child_memory(tool, workdir, spec["interval_s"], spec["seconds"])
    elif task == "job":
        out = _child_job(tool, workdir, spec["seconds"])
    elif task == "inspect":
        out = _child_inspect(tool, workdir)
    else:
        raise SystemExit(f"unknown child task {task!r}")
    print("RESULT " + json.dumps(out), flush=True)


# -- parent side -----------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["CARBONSDK_OFFLINE"] = "1"
    env.pop("CARBONSDK_LEDGER", None)
    # cached bytecode for every tool alike (see the module docstring)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "carbonsdk-peers-pycache")
    return env


def _spawn(spec: dict[str, Any], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _collect(proc: subprocess.Popen[str], timeout_s: float = 300.0) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    tail = (err or out).strip().splitlines()[-3:]
    return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    if "workdir" not in spec:
        spec = {**spec, "workdir": tempfile.mkdtemp(prefix=f"peers-{spec['tool']}-")}
    return _collect(_spawn(spec, Path(spec["workdir"])))


def _run_together(specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run children at the same time (they share the machine's load), results in order."""
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        return list(pool.map(_run_child, specs))


def _available(tools: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    ok: list[str] = []
    missing: dict[str, str] = {}
    for tool in tools:
        proc = subprocess.run(
            [sys.executable, "-c", IMPORTS[tool]],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode == 0:
            ok.append(tool)
        else:
            tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
            missing[tool] = tail[0]
    return ok, missing


def _versions(tools: Iterable[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for tool in tools:
        try:
            out[tool] = version(tool)
        except PackageNotFoundError:
            out[tool] = "?"
    return out


def _stats(values: Sequence[float]) -> dict[str, Any]:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return {"n": 0}
    q = statistics.quantiles(vals, n=4) if len(vals) >= 4 else [vals[0], 0.0, vals[-1]]
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "min": vals[0],
        "max": vals[-1],
        "p25": q[0],
        "p75": q[2],
        "samples": vals,
    }


def _rotations(tools: Sequence[str], rounds: int) -> Iterable[list[str]]:
    for r in range(rounds):
        k = r % len(tools)
        yield list(tools[k:]) + list(tools[:k])


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_import(tools: Sequence[str], reps: int, zeus_reps: int) -> dict[str, Any]:
    """Import time inside fresh interpreters, the tools interleaved; and a bare start."""
    samples: dict[str, list[float]] = {t: [] for t in tools}
    bare: list[float] = []
    for r, order in enumerate(_rotations(tools, reps)):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=_env(), check=True)
        bare.append(time.perf_counter() - t0)
        for tool in order:
            if tool == "zeus" and r >= zeus_reps:
                continue
            res = _run_child({"task": "import", "tool": tool})
            if "import_s" in res:
                samples[tool].append(res["import_s"])
    out = {t: _stats(v) for t, v in samples.items()}
    out["bare_interpreter_s"] = _stats(bare)
    return out


def bench_startstop(tools: Sequence[str], reps: int, zeus_reps: int) -> dict[str, Any]:
    """Cold (fresh script: import + start + stop) and warm (same process) empty blocks."""
    keys = ("import_s", "start_s", "stop_s", "cold_s", "warm_s")
    samples: dict[str, dict[str, list[float]]] = {t: {k: [] for k in keys} for t in tools}
    errors: dict[str, str] = {}
    for r, order in enumerate(_rotations(tools, reps)):
        for tool in order:
            if tool == "zeus" and r >= zeus_reps:
                continue
            res = _run_child({"task": "startstop", "tool": tool, "warm_reps": 5})
            if "error" in res:
                errors[tool] = res["error"]
                continue
            for k in keys:
                samples[tool][k].append(res[k])
    out: dict[str, Any] = {t: {k: _stats(v) for k, v in d.items()} for t, d in samples.items()}
    if errors:
        out["errors"] = errors
    return out


def bench_cpu(
    tools: Sequence[str], intervals: Sequence[float], seconds: float, rounds: int
) -> dict[str, Any]:
    """Process CPU per second of measurement, the tools side by side at each interval."""
    out: dict[str, Any] = {}
    for interval in intervals:
        samples: dict[str, list[float]] = {t: [] for t in tools}
        for _ in range(rounds):
            specs = [
                {"task": "cpu", "tool": t, "interval_s": interval, "seconds": seconds}
                for t in tools
            ]
            for tool, res in zip(tools, _run_together(specs), strict=True):
                if "cpu_per_s" in res:
                    samples[tool].append(res["cpu_per_s"])
                else:
                    out.setdefault("errors", {})[tool] = res.get("error")
        out[f"{interval:g}"] = {t: _stats(v) for t, v in samples.items()}
    return out


def bench_slowdown(
    tools: Sequence[str], intervals: Sequence[float], rounds: int, pairs: int, loop_s: float
) -> dict[str, Any]:
    """Measured / bare time of a CPU-bound loop, interleaved pairs in rotating tool order."""
    out: dict[str, Any] = {}
    for interval in intervals:
        samples: dict[str, list[float]] = {t: [] for t in tools}
        for order in _rotations(tools, rounds):
            for tool in order:
                res = _run_child(
                    {
                        "task": "slowdown",
                        "tool": tool,
                        "interval_s": interval,
                        "pairs": pairs,
                        "loop_s": loop_s,
                        "settle_s": 1.2,
                    }
                )
                if "ratios" in res:
                    samples[tool].extend(res["ratios"])
                else:
                    out.setdefault("errors", {})[tool] = res.get("error")
        out[f"{interval:g}"] = {t: _stats(v) for t, v in samples.items()}
    return out


def bench_memory(tools: Sequence[str], seconds: float) -> dict[str, Any]:
    """RSS after import, after 2 s of measuring at 0.1 s, and at the end (tools side by side)."""
    specs = [{"task": "memory", "tool": t, "interval_s": 0.1, "seconds": seconds} for t in tools]
    return dict(zip(tools, _run_together(specs), strict=True))


def _kill_one(tool: str, after_s: float, job_s: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"peers-kill-{tool}-"))
    proc = _spawn({"task": "job", "tool": tool, "workdir": str(workdir), "seconds": job_s}, workdir)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "STARTED" once the tracker runs
    if not line.startswith("STARTED"):
        proc.kill()
        _, err = proc.communicate()
        return {"error": f"job did not start: {err.strip().splitlines()[-1:]}"}
    time.sleep(after_s)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    res = _run_child({"task": "inspect", "tool": tool, "workdir": str(workdir)})
    res["killed_after_s"] = after_s
    return res


def bench_kill(tools: Sequence[str], after_s: float, job_s: float) -> dict[str, Any]:
    """SIGKILL a job ``after_s`` into ``job_s``: what each tool left on disk."""
    with ThreadPoolExecutor(max_workers=len(tools)) as pool:
        futures = {t: pool.submit(_kill_one, t, after_s, job_s) for t in tools}
        return {t: f.result() for t, f in futures.items()}


def _median(d: dict[str, Any] | None) -> float | None:
    if not d or not d.get("n"):
        return None
    value: float = d["median"]
    return value


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1e3:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "%":
        return f"{value * 100:.2f} %"
    if unit == "x":
        return f"{value:.4f}x"
    if unit == "MB":
        return f"{value / 1e6:+.2f} MB"
    if unit == "MiB":
        return f"{value / 2**20:.1f} MiB"
    return f"{value:g}"


def _spread(d: dict[str, Any] | None, unit: str) -> str:
    if not d or not d.get("n"):
        return ""
    if unit == "ms":
        return f" [{d['min'] * 1e3:.0f}-{d['max'] * 1e3:.0f}]"
    if unit == "s":
        return f" [{d['min']:.2f}-{d['max']:.2f}]"
    if unit == "%":
        return f" [{d['min'] * 100:.2f}-{d['max'] * 100:.2f}]"
    if unit == "x":
        return f" [{d['p25']:.3f}-{d['p75']:.3f}]"
    return ""


#: Zeus starts no sampler on a host without GPUs/RAPL: only these rows compare like with like
_ZEUS_RATIO_ROWS = frozenset(
    {
        "import (in a fresh interpreter)",
        "cold: import + start + stop",
        "  of which first start",
        "warm start + stop (same process)",
        "RSS after 2 s of measuring",
    }
)


def _table(results: dict[str, Any], tools: Sequence[str]) -> tuple[str, dict[str, Any]]:
    peers = [t for t in tools if t != "carbonsdk"]
    rows: list[tuple[str, str, dict[str, dict[str, Any] | None]]] = []
    imp = results.get("import", {})
    rows.append(("import (in a fresh interpreter)", "ms", {t: imp.get(t) for t in tools}))
    ss = results.get("startstop", {})
    for key, label in (
        ("cold_s", "cold: import + start + stop"),
        ("start_s", "  of which first start"),
        ("warm_s", "warm start + stop (same process)"),
    ):
        rows.append((label, "ms", {t: (ss.get(t) or {}).get(key) for t in tools}))
    for interval, d in results.get("cpu", {}).items():
        if interval == "errors":
            continue
        rows.append((f"sampler CPU per s at {interval} s", "%", {t: d.get(t) for t in tools}))
    for interval, d in results.get("slowdown", {}).items():
        if interval == "errors":
            continue
        rows.append((f"CPU loop measured/bare at {interval} s", "x", {t: d.get(t) for t in tools}))
    mem = results.get("memory", {})
    rows.append(
        (
            "RSS growth at 0.1 s (after warm-up)",
            "MB",
            {t: {"n": 1, "median": (mem.get(t) or {}).get("growth_b")} for t in tools},
        )
    )
    rows.append(
        (
            "RSS after 2 s of measuring",
            "MiB",
            {t: {"n": 1, "median": (mem.get(t) or {}).get("rss_warm_b")} for t in tools},
        )
    )
    head = ["workload"] + list(tools) + [f"carbonsdk/{p}" for p in peers]
    lines = [head]
    ratios: dict[str, Any] = {}
    for label, unit, cells in rows:
        line = [label]
        for t in tools:
            cell = cells.get(t)
            v = _median(cell) if cell and cell.get("median") is not None else None
            line.append(_fmt(v, unit) + (_spread(cell, unit) if v is not None else ""))
        mine = _median(cells.get("carbonsdk"))
        for p in peers:
            theirs = _median(cells.get(p))
            no_ratio = unit == "MB" or (p == "zeus" and label not in _ZEUS_RATIO_ROWS)
            if mine is None or theirs is None or theirs == 0 or no_ratio:
                line.append("-")
                continue
            ratio = mine / theirs
            ratios.setdefault(label, {})[p] = ratio
            line.append(f"{ratio:.3g}")
        lines.append(line)
    kill = results.get("kill9", {})
    line = ["kill -9 after 5 s of a 30 s job"]
    for t in tools:
        k = kill.get(t) or {}
        line.append("survives" if k.get("survived") else ("lost" if k else "-"))
    line += ["-" for _ in peers]
    lines.append(line)
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    text = "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in lines
    )
    return text, ratios


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; print the table and (``--json``) write everything."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="about 1-2 minutes instead of 5-6")
    ap.add_argument("--json", type=Path, default=None, help="write all results here")
    ap.add_argument("--no-zeus", action="store_true", help="leave Zeus out (its import is slow)")
    ap.add_argument(
        "--only",
        default="",
        help="comma list of workloads (import,startstop,cpu,slowdown,memory,kill9); default all",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        _child_main(json.loads(args.child))
        return 0

    q = args.quick
    cfg: dict[str, Any] = {
        "import_reps": 5 if q else 11,
        "zeus_import_reps": 2 if q else 3,
        "startstop_reps": 3 if q else 5,
        "zeus_startstop_reps": 1 if q else 2,
        "cpu_seconds": 5.0 if q else 10.0,
        "cpu_rounds": 1 if q else 2,
        "slowdown_rounds": 1 if q else 2,
        "slowdown_pairs": 3 if q else 4,
        "slowdown_loop_s": 0.5 if q else 0.6,
        "memory_seconds": 15.0 if q else 60.0,
        "kill_after_s": 5.0,
        "job_s": 30.0,
    }
    wanted = {w for w in args.only.split(",") if w} or {
        "import",
        "startstop",
        "cpu",
        "slowdown",
        "memory",
        "kill9",
    }
    candidates = [t for t in TOOLS if not (args.no_zeus and t == "zeus")]
    _say("checking which tools import ...")
    tools, missing = _available(candidates)
    if "carbonsdk" not in tools:
        _say(f"carbonsdk does not import: {missing.get('carbonsdk')}")
        return 1
    for t, why in missing.items():
        _say(f"{t}: not installed or does not import ({why}); left out")
    sampling = [t for t in tools if t != "zeus"]  # Zeus has no periodic sampler
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    if "import" in wanted:
        _say("import time ...")
        results["import"] = bench_import(tools, cfg["import_reps"], cfg["zeus_import_reps"])
    if "startstop" in wanted:
        _say("cold / warm start+stop ...")
        results["startstop"] = bench_startstop(
            tools, cfg["startstop_reps"], cfg["zeus_startstop_reps"]
        )
    if "cpu" in wanted:
        _say("sampler CPU per second (tools side by side) ...")
        results["cpu"] = bench_cpu(tools, (1.0, 0.1), cfg["cpu_seconds"], cfg["cpu_rounds"])
    if "slowdown" in wanted:
        _say("slowdown of a CPU-bound loop ...")
        results["slowdown"] = bench_slowdown(
            sampling,
            (1.0, 0.1),
            cfg["slowdown_rounds"],
            cfg["slowdown_pairs"],
            cfg["slowdown_loop_s"],
        )
    if "memory" in wanted:
        _say(f"memory over {cfg['memory_seconds']:g} s at 0.1 s (side by side) ...")
        results["memory"] = bench_memory(tools, cfg["memory_seconds"])
    if "kill9" in wanted:
        _say("kill -9 after 5 s of a 30 s job (side by side) ...")
        results["kill9"] = bench_kill(tools, cfg["kill_after_s"], cfg["job_s"])
    load_after = os.getloadavg()
    table, ratios = _table(results, tools)
    notes = [
        "medians; [min-max] for times and CPU, [p25-p75] for slowdown ratios",
        "cold = import + construct + start + stop in a fresh interpreter; warm = median of 5 "
        "more blocks in that process",
        "sampler CPU: process CPU time while the body sleeps, per wall second",
        "slowdown: CodeCarbon and carbonsdk only (Zeus starts no sampler without GPUs)",
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, on "
        f"{os.cpu_count()} CPUs: shared machine, expect noise",
    ]
    if "zeus" in tools:
        notes.append(
            "Zeus measures only NVML GPUs, RAPL CPUs and Apple SoCs; with none of them it "
            "measures nothing (its figures are those of an empty tracker)"
        )
    print(table)
    for tool, why in missing.items():
        print(f"{tool}: not available ({why})")
    for tool, k in results.get("kill9", {}).items():
        print(f"kill -9, {tool}: {k.get('what') or k.get('error')}")
    for n in notes:
        print(f"note: {n}")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if args.json is not None:
        doc = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "load_before": load_before,
                "load_after": load_after,
                "python": sys.version.split()[0],
            },
            "versions": _versions(tools),
            "missing": missing,
            "config": cfg,
            "results": results,
            "ratios_carbonsdk_over_peer": ratios,
            "notes": notes,
        }
        args.json.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
