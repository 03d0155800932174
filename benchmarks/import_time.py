"""How long ``import carbonsdk`` takes, and which modules the time goes to.

1. The median (and spread) over ``--runs`` fresh interpreters of the import timed inside the
   interpreter (``time.perf_counter`` around ``import carbonsdk``), and of the wall time of
   ``python -c 'import carbonsdk'`` minus that of ``python -c pass``.
2. The first use (``--first-use``, for carbonsdk ``carbonsdk.measure``: the lazy attribute that
   imports the run machinery), timed in the same fresh interpreters right after the import, so
   the cost a lazy import moves out of ``import carbonsdk`` is reported too, not hidden.
3. ``python -X importtime -c 'import carbonsdk'``, ``--importtime-runs`` times: per module the
   median self and cumulative microseconds; prints the top ``--top`` by cumulative time and by
   self time, and the self time summed per top-level package (what a lazy import would save).
   The same for the import followed by the first use.

    python benchmarks/import_time.py [--runs 15] [--importtime-runs 5] [--top 15] [--json PATH]

``--module NAME`` times another module (``codecarbon``, say) the same way (``--first-use ''``:
none). ``--root DIR --root DIR2`` times the package found in each directory (a copy of an older
tree, say) in the same interleaved runs: a fair before/after comparison on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: children write and use cached bytecode (as an installed package does) in a folder of their
#: own, so the repository gets no ``__pycache__`` and ``PYTHONDONTWRITEBYTECODE`` in the caller's
#: environment does not turn every import into a compile (``--no-bytecode-cache``: it does)
PYCACHE = Path(tempfile.gettempdir()) / "carbonsdk-import-time-pycache"
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "CARBONSDK_OFFLINE": "1",
    "PYTHONPYCACHEPREFIX": str(PYCACHE),
}


def _env(root: Path) -> dict[str, str]:
    """The child's environment: ``root`` first on the path (the child also runs in ``root``)."""
    return {**ENV, "PYTHONPATH": os.pathsep.join([str(root), ENV.get("PYTHONPATH", "")])}


def _inprocess(module: str, first_use: str, root: Path) -> tuple[float, float, str]:
    """(import s, first use s, file of the module imported) in one fresh interpreter."""
    code = (
        "import time; t = time.perf_counter(); import "
        + module
        + "; t1 = time.perf_counter(); "
        + (first_use or "None")
        + "; t2 = time.perf_counter(); print(t1 - t, t2 - t1, "
        + module
        + ".__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(root),
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    imp, use, where = out.stdout.strip().splitlines()[-1].split(" ", 2)
    return float(imp), float(use), where


def _wall(code: str, root: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code], env=_env(root), cwd=root, capture_output=True, check=True
    )
    return time.perf_counter() - t0


def _importtime(code: str, root: Path) -> list[tuple[str, int, int, int]]:
    """(module, self_us, cumulative_us, depth) rows of one ``-X importtime`` run of ``code``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=_env(root),
        cwd=root,
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


def _breakdown(module: str, code: str, root: Path, runs: int, top: int) -> dict[str, Any]:
    """Median ``-X importtime`` rows of ``runs`` runs of ``code``."""
    self_us: dict[str, list[int]] = defaultdict(list)
    cum_us: dict[str, list[int]] = defaultdict(list)
    depth_of: dict[str, int] = {}
    for _ in range(runs):
        for name, s, c, depth in _importtime(code, root):
            self_us[name].append(s)
            cum_us[name].append(c)
            depth_of.setdefault(name, depth)
    med_self: dict[str, float] = {n: statistics.median(v) for n, v in self_us.items()}
    med_cum = {n: statistics.median(v) for n, v in cum_us.items()}
    by_package: dict[str, float] = defaultdict(float)
    for name, own_us in med_self.items():
        top_level = name.split(".")[0]
        key = ".".join(name.split(".")[:2]) if top_level == module else top_level
        by_package[key] += own_us
    return {
        "code": code,
        "modules_imported": len(med_self),
        "top_cumulative_us": sorted(med_cum.items(), key=lambda kv: -kv[1])[:top],
        "top_self_us": sorted(med_self.items(), key=lambda kv: -kv[1])[:top],
        "self_us_by_package": sorted(by_package.items(), key=lambda kv: -kv[1]),
        "_self": med_self,
        "_depth": depth_of,
    }


def _print_breakdown(b: dict[str, Any], runs: int, top: int) -> None:
    print(f"-X importtime of {b['code']!r}, median of {runs} runs, top {top} by cumulative:")
    for name, c in b["top_cumulative_us"]:
        print(
            f"  {c / 1e3:8.1f} ms cum  {b['_self'][name] / 1e3:7.1f} ms self  "
            f"{'  ' * b['_depth'][name]}{name}"
        )
    print(f"top {top} by self time:")
    for name, v in b["top_self_us"]:
        print(f"  {v / 1e3:8.1f} ms self  {name}")
    print("self time by package (top-level, or the module's subpackage):")
    for name, v in b["self_us_by_package"][:top]:
        print(f"  {v / 1e3:8.1f} ms  {name}")


def main() -> None:
    """Measure, print and (``--json``) write."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--module", default="carbonsdk")
    ap.add_argument(
        "--first-use",
        default=None,
        help="statement timed after the import (default for carbonsdk: carbonsdk.measure)",
    )
    ap.add_argument(
        "--root",
        type=Path,
        action="append",
        default=None,
        help="directory holding the package to time (repeatable; default: this repository)",
    )
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--importtime-runs", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every module from source in each child (PYTHONDONTWRITEBYTECODE=1)",
    )
    args = ap.parse_args()
    if args.no_bytecode_cache:
        ENV.pop("PYTHONPYCACHEPREFIX", None)
        ENV["PYTHONDONTWRITEBYTECODE"] = "1"
    first_use = args.first_use
    if first_use is None:
        first_use = "carbonsdk.measure" if args.module == "carbonsdk" else ""
    roots: list[Path] = [r.resolve() for r in (args.root or [ROOT])]
    for root in roots:  # warm-up: writes the bytecode cache, reads the files into the page cache
        _inprocess(args.module, first_use, root)
    load0 = os.getloadavg()

    inproc: dict[Path, list[float]] = defaultdict(list)
    use: dict[Path, list[float]] = defaultdict(list)
    wall_import: dict[Path, list[float]] = defaultdict(list)
    wall_bare: list[float] = []
    where: dict[Path, str] = {}
    for i in range(args.runs):  # interleaved (rotating order), so load changes hit all alike
        wall_bare.append(_wall("pass", roots[0]))
        for root in roots[i % len(roots) :] + roots[: i % len(roots)]:
            imp, first, where[root] = _inprocess(args.module, first_use, root)
            inproc[root].append(imp)
            use[root].append(first)
            wall_import[root].append(_wall(f"import {args.module}", root))
    results: list[dict[str, Any]] = []
    for root in roots:
        net = [w - b for w, b in zip(wall_import[root], wall_bare, strict=True)]
        entry: dict[str, Any] = {
            "root": str(root),
            "module_file": where[root],
            "import_inprocess_s": _stats(inproc[root]),
            "first_use": first_use,
            "first_use_s": _stats(use[root]) if first_use else None,
            "import_plus_first_use_s": (
                _stats([a + b for a, b in zip(inproc[root], use[root], strict=True)])
                if first_use
                else None
            ),
            "import_wall_minus_bare_s": _stats(net),
            "importtime": _breakdown(
                args.module, f"import {args.module}", root, args.importtime_runs, args.top
            ),
        }
        if first_use:
            entry["importtime_first_use"] = _breakdown(
                args.module,
                f"import {args.module}; {first_use}",
                root,
                args.importtime_runs,
                args.top,
            )
        results.append(entry)
    load1 = os.getloadavg()

    def ms(s: dict[str, float]) -> str:
        return f"{s['median'] * 1e3:.1f} ms [{s['min'] * 1e3:.1f}-{s['max'] * 1e3:.1f}]"

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load0[0]:.1f} -> "
        f"{load1[0]:.1f}; bare interpreter {ms(_stats(wall_bare))}; n={args.runs} per root; "
        + ("no bytecode cache" if args.no_bytecode_cache else f"bytecode cached in {PYCACHE}")
    )
    for e in results:
        print(f"{e['root']} ({e['module_file']}):")
        print(
            f"  import {args.module}: {ms(e['import_inprocess_s'])} in-process, "
            f"{ms(e['import_wall_minus_bare_s'])} wall minus a bare interpreter; "
            f"{e['importtime']['modules_imported']} modules in -X importtime"
        )
        if first_use:
            print(
                f"  then {first_use}: {ms(e['first_use_s'])}; import + first use "
                f"{ms(e['import_plus_first_use_s'])}; "
                f"{e['importtime_first_use']['modules_imported']} modules"
            )
    for e in results:
        print(f"--- {e['root']}")
        _print_breakdown(e["importtime"], args.importtime_runs, args.top)
        if first_use:
            _print_breakdown(e["importtime_first_use"], args.importtime_runs, args.top)

    def public(b: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in b.items() if not k.startswith("_")}

    if args.json is not None:
        doc = {
            "module": args.module,
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "load": [load0[0], load1[0]],
            "bytecode_cache": not args.no_bytecode_cache,
            "bare_interpreter_s": _stats(wall_bare),
            "roots": [
                {
                    **{k: v for k, v in e.items() if not k.startswith("importtime")},
                    "importtime": public(e["importtime"]),
                    **(
                        {"importtime_first_use": public(e["importtime_first_use"])}
                        if first_use
                        else {}
                    ),
                }
                for e in results
            ],
        }
        args.json.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
