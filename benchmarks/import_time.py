"""How long ``import carbonsdk`` takes, and which modules the time goes to.

1. The median (and spread) over ``--runs`` fresh interpreters of the import timed inside the
   interpreter (``time.perf_counter`` around ``import carbonsdk``), and of the wall time of
   ``python -c 'import carbonsdk'`` minus that of ``python -c pass``.
2. ``python -X importtime -c 'import carbonsdk'``, ``--importtime-runs`` times: per module the
   median self and cumulative microseconds; prints the top ``--top`` by cumulative time and by
   self time, and the self time summed per top-level package (what a lazy import would save).

    python benchmarks/import_time.py [--runs 15] [--importtime-runs 5] [--top 15] [--json PATH]

``--module NAME`` times another module (``codecarbon``, say) the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ENV = {**os.environ, "CARBONSDK_OFFLINE": "1"}


def _inprocess(module: str) -> float:
    code = (
        "import time; t = time.perf_counter(); import "
        + module
        + "; print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _wall(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, check=True)
    return time.perf_counter() - t0


def _importtime(module: str) -> list[tuple[str, int, int, int]]:
    """(module, self_us, cumulative_us, depth) rows of one ``-X importtime`` run."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        self_us, cum_us, raw = parts
        depth = (len(raw) - len(raw.lstrip(" ")) - 1) // 2
        rows.append((raw.strip(), int(self_us), int(cum_us), depth))
    return rows


def _stats(values: list[float]) -> dict[str, float]:
    vals = sorted(values)
    return {"median": statistics.median(vals), "min": vals[0], "max": vals[-1], "n": len(vals)}


def main() -> None:
    """Measure, print and (``--json``) write."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--module", default="carbonsdk")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--importtime-runs", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    load0 = os.getloadavg()

    inproc: list[float] = []
    wall_import: list[float] = []
    wall_bare: list[float] = []
    for _ in range(args.runs):  # interleaved, so that load changes hit all three alike
        wall_bare.append(_wall("pass"))
        inproc.append(_inprocess(args.module))
        wall_import.append(_wall(f"import {args.module}"))
    net = [w - b for w, b in zip(wall_import, wall_bare, strict=True)]

    self_us: dict[str, list[int]] = defaultdict(list)
    cum_us: dict[str, list[int]] = defaultdict(list)
    depth_of: dict[str, int] = {}
    for _ in range(args.importtime_runs):
        for name, s, c, depth in _importtime(args.module):
            self_us[name].append(s)
            cum_us[name].append(c)
            depth_of.setdefault(name, depth)
    med_self: dict[str, float] = {n: statistics.median(v) for n, v in self_us.items()}
    med_cum = {n: statistics.median(v) for n, v in cum_us.items()}
    by_package: dict[str, float] = defaultdict(float)
    for name, own_us in med_self.items():
        top = name.split(".")[0]
        key = ".".join(name.split(".")[:2]) if top == args.module else top
        by_package[key] += own_us
    load1 = os.getloadavg()

    doc: dict[str, Any] = {
        "module": args.module,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load": [load0[0], load1[0]],
        "import_inprocess_s": _stats(inproc),
        "import_wall_minus_bare_s": _stats(net),
        "bare_interpreter_s": _stats(wall_bare),
        "modules_imported": len(med_self),
        "top_cumulative_us": sorted(med_cum.items(), key=lambda kv: -kv[1])[: args.top],
        "top_self_us": sorted(med_self.items(), key=lambda kv: -kv[1])[: args.top],
        "self_us_by_package": sorted(by_package.items(), key=lambda kv: -kv[1]),
    }
    s, n = doc["import_inprocess_s"], doc["import_wall_minus_bare_s"]
    print(
        f"import {args.module}: {s['median'] * 1e3:.0f} ms in-process "
        f"[{s['min'] * 1e3:.0f}-{s['max'] * 1e3:.0f}], {n['median'] * 1e3:.0f} ms wall minus a "
        f"bare interpreter [{n['min'] * 1e3:.0f}-{n['max'] * 1e3:.0f}], n={s['n']}; "
        f"{doc['modules_imported']} modules; load {load0[0]:.1f} -> {load1[0]:.1f} on "
        f"{doc['cpus']} CPUs"
    )
    print(f"-X importtime, median of {args.importtime_runs} runs, top {args.top} by cumulative:")
    for name, c in doc["top_cumulative_us"]:
        print(
            f"  {c / 1e3:8.1f} ms cum  {med_self[name] / 1e3:7.1f} ms self  "
            f"{'  ' * depth_of[name]}{name}"
        )
    print(f"top {args.top} by self time:")
    for name, v in doc["top_self_us"]:
        print(f"  {v / 1e3:8.1f} ms self  {name}")
    print("self time by package (top-level, or the module's subpackage):")
    for name, v in doc["self_us_by_package"][: args.top]:
        print(f"  {v / 1e3:8.1f} ms  {name}")
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
