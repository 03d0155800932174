"""``carbonsdk runs``: the runs in the ledger as a table (or JSON, or CSV), with filters."""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import math
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from carbonsdk import ConfigurationError, LedgerError, RunResult
from carbonsdk.model.result import STATUSES

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: where a run name may be folded onto the next line (after the character)
_BREAK_AFTER = re.compile(r"[^-_/. :]*[-_/. :]?")
NOT_AVAILABLE = "n/a"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``runs``."""
    parser = subparsers.add_parser(
        "runs",
        help="list the measured runs in the ledger",
        description="List the runs in the ledger, oldest first. Totals count each nested run "
        "once, inside its parent.",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON array instead")
    output.add_argument(
        "--csv",
        action="store_true",
        help="print CSV instead: one row per run, energy per component (kWh), emissions (g), "
        "tags as tag_<key> columns",
    )
    parser.add_argument(
        "--tree", action="store_true", help="list nested runs indented under their parent"
    )
    parser.add_argument(
        "--name",
        metavar="N",
        help="only runs whose name contains N (case-insensitive; * and ? are wildcards)",
    )
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="only runs started at or after DATE: ISO 8601 (2024-05-01, 2024-05-01T12:00, "
        "UTC unless an offset is given) or an age (30m, 12h, 7d, 2w)",
    )
    parser.add_argument("--status", choices=STATUSES, help="only runs with this status")
    parser.add_argument(
        "--job", metavar="JOB_ID", help="only runs of this distributed job (id or prefix)"
    )
    add_ledger_argument(parser)
    parser.set_defaults(func=run)


def add_ledger_argument(parser: argparse.ArgumentParser) -> None:
    """The shared ``--ledger PATH`` option."""
    parser.add_argument(
        "--ledger",
        metavar="PATH",
        help="ledger file (default: CARBONSDK_LEDGER, else the user data directory)",
    )


def open_ledger(path: str | None) -> Any:
    """The :class:`carbonsdk.ledger.Ledger` at ``path`` (None: the default), which must exist;
    :class:`LedgerError` naming the path otherwise."""
    from carbonsdk.ledger import Ledger

    ledger = Ledger(path)
    target = Path(ledger.path)
    if not target.exists():
        raise LedgerError(
            f"no ledger at {target} (nothing measured yet? pass --ledger PATH or set "
            "CARBONSDK_LEDGER)"
        )
    if target.is_dir():
        raise LedgerError(f"ledger path {target} is a directory, not a file")
    return ledger


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``--since``: an ISO 8601 date or time (UTC unless it has an offset) or an age before
    ``now`` (``30m``, ``12h``, ``7d``, ``2w``); :class:`ConfigurationError` otherwise."""
    current = now or datetime.now(UTC)
    age = _AGE.match(text)
    if age:
        try:
            return current - timedelta(seconds=float(age.group(1)) * _AGE_S[age.group(2).lower()])
        except OverflowError:
            raise ConfigurationError(
                f"--since {text!r} is too long ago: expected an age within the calendar "
                "(30m, 12h, 7d, 2w) or an ISO 8601 date"
            ) from None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"--since {text!r} is not a date: expected ISO 8601 (2024-05-01, "
            "2024-05-01T12:00, 2024-05-01T12:00+02:00) or an age (30m, 12h, 7d, 2w)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def name_matches(name: str, pattern: str) -> bool:
    """Case-insensitive: a substring, or a shell-style wildcard pattern when it has * or ?."""
    name, pattern = name.lower(), pattern.lower()
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name


def select(
    runs: list[RunResult],
    *,
    name: str | None = None,
    since: datetime | None = None,
    status: str | None = None,
    job: str | None = None,
) -> list[RunResult]:
    """The runs passing every given filter, order kept (``job``: a job id prefix)."""
    out = []
    for r in runs:
        if job is not None and (r.job is None or not (r.job.job_id or "").startswith(job)):
            continue
        if name is not None and not name_matches(r.name, name):
            continue
        if since is not None and r.started_at < since:
            continue
        if status is not None and r.status != status:
            continue
        out.append(r)
    return out


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def summary(result: RunResult) -> dict[str, Any]:
    """One run as a flat JSON-able summary row (the full record is ``report --json``), with
    its newest pricing (``repriced_at`` set when :func:`carbonsdk.reprice` made it); a
    non-finite number is null."""
    return {
        "run_id": result.run_id,
        "parent_run_id": result.parent_run_id,
        "name": result.name,
        "status": result.status,
        "started_at": result.started_at.isoformat(),
        "ended_at": result.ended_at.isoformat(),
        "duration_s": _finite(result.duration_s),
        "energy_kwh": _finite(result.energy_kwh),
        "emissions_g": _finite(result.emissions_g),
        "intensity_g_per_kwh": _finite(result.intensity_g_per_kwh),
        "region": result.region.label,
        "zone": result.region.zone,
        "pue": _finite(result.pue),
        "intensity_source": result.intensity_source.provider,
        "repriced_at": None if result.repriced_at is None else result.repriced_at.isoformat(),
        "tags": dict(result.tags),
        "job": None
        if result.job is None
        else {
            "job_id": result.job.job_id,
            "rank": result.job.rank,
            "node": result.job.node,
            "role": result.job.role,
        },
    }


# -- the table ----------------------------------------------------------------------------------


def tree_order(runs: Sequence[RunResult]) -> list[tuple[RunResult, int]]:
    """``runs`` with each nested run right after its parent (depth 1, 2, ... below it), roots
    and siblings oldest first; a run whose parent is not among ``runs`` is a root (depth 0)."""
    by_id = {r.run_id: r for r in runs}
    children: dict[str, list[RunResult]] = {}
    roots: list[RunResult] = []
    for r in runs:
        parent = r.parent_run_id
        if parent is not None and parent in by_id and parent != r.run_id:
            children.setdefault(parent, []).append(r)
        else:
            roots.append(r)
    out: list[tuple[RunResult, int]] = []
    seen: set[str] = set()

    def visit(r: RunResult, depth: int) -> None:
        stack = [(r, depth)]
        while stack:
            node, d = stack.pop()
            if node.run_id in seen:
                continue
            seen.add(node.run_id)
            out.append((node, d))
            stack.extend((c, d + 1) for c in reversed(children.get(node.run_id, [])))

    for root in roots:
        visit(root, 0)
    for r in runs:  # parent cycles (a corrupt ledger): shown flat at the end
        visit(r, 0)
    return out


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return int(cell_len(text))


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def wrap_name(name: str, width: int, *, depth: int = 0) -> list[str]:
    """``name`` folded onto lines of at most ``width`` cells, breaking after ``- _ / . :`` or
    a space (a piece longer than a line is split); nested runs (``depth`` > 0) get a tree
    prefix and indented continuation lines."""
    width = max(1, width)
    levels = min(max(0, depth - 1), max(0, (width // 2 - 2) // 2))
    indent = "  " * levels
    first = f"{indent}└ " if depth and width > len(indent) + 3 else ""
    cont = indent + ("  " if first else "")
    lines: list[str] = []
    current = first
    for piece in (p for p in _BREAK_AFTER.findall(_printable(name)) if p):
        if _cell_len(current) + _cell_len(piece) <= width:
            current += piece
            continue
        if current.strip() and current not in (first, cont):
            lines.append(current.rstrip())
            current = cont
        for ch in piece:
            if _cell_len(current) + _cell_len(ch) > width and current.strip():
                lines.append(current)
                current = cont
            current += ch
    lines.append(current.rstrip() or current)
    return lines


def _unit(values: Sequence[float], units: Sequence[tuple[float, str]]) -> tuple[float, str]:
    """The (scale, unit) of a column: the largest unit whose threshold the largest finite
    value reaches (``units`` from small to large, each ``(threshold, name)``)."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    top = max(finite, default=0.0)
    chosen = units[0]
    for threshold, unit in units:
        if top >= threshold:
            chosen = (threshold, unit)
    return chosen


_ENERGY_UNITS = ((1e-3, "Wh"), (1.0, "kWh"), (1000.0, "MWh"))  # (1 unit in kWh, name)
_EMISSION_UNITS = ((1.0, "gCO2"), (1e3, "kgCO2"), (1e6, "tCO2"))  # (1 unit in g, name)


def _scaled(value: float, unit_size: float) -> str:
    from carbonsdk.report import format_sig

    if not math.isfinite(value):
        return NOT_AVAILABLE
    return format_sig(value / unit_size)


def _duration(value: float) -> str:
    from carbonsdk.report import format_duration_s

    if not math.isfinite(value) or value < 0:
        return NOT_AVAILABLE
    try:
        return str(format_duration_s(value))
    except (ValueError, OverflowError):
        return NOT_AVAILABLE


def _start(when: datetime, fmt: str) -> str:
    try:
        return when.astimezone(UTC).strftime(fmt)
    except (OverflowError, ValueError):
        return NOT_AVAILABLE


@attrs.frozen
class _Column:
    key: str
    header: str
    cells: tuple[str, ...]
    right: bool = False

    @property
    def width(self) -> int:
        return max((_cell_len(c) for c in (self.header, *self.cells)), default=0)


#: optional columns, the first dropped first when the terminal is too narrow ("start" is first
#: shortened to month-day, then dropped)
DROP_ORDER = ("start", "region", "duration", "run")
_NAME_MIN = 10


def _layout(rows: Sequence[tuple[RunResult, int]], width: int) -> tuple[list[_Column], int]:
    """The columns that fit ``width`` cells (one space between columns) and the name column's
    width: optional columns are dropped in :data:`DROP_ORDER` before the name is folded
    narrower than its longest word."""
    runs = [r for r, _ in rows]
    e_size, e_unit = _unit([r.energy_kwh for r in runs], _ENERGY_UNITS)
    g_size, g_unit = _unit([r.emissions_g for r in runs], _EMISSION_UNITS)

    def columns(start_format: str | None, dropped: set[str]) -> list[_Column]:
        cols = [_Column("run", "run", tuple(r.run_id[:8] for r in runs))]
        cols.append(_Column("name", "name", ()))
        if start_format is not None:
            cols.append(
                _Column(
                    "start", "start (UTC)", tuple(_start(r.started_at, start_format) for r in runs)
                )
            )
        cols += [
            _Column("duration", "duration", tuple(_duration(r.duration_s) for r in runs), True),
            _Column("energy", e_unit, tuple(_scaled(r.energy_kwh, e_size) for r in runs), True),
            _Column("emissions", g_unit, tuple(_scaled(r.emissions_g, g_size) for r in runs), True),
            _Column(
                "region", "region", tuple(_printable(r.region.zone or "unknown") for r in runs)
            ),
            _Column("status", "status", tuple(_printable(r.status) for r in runs)),
        ]
        return [c for c in cols if c.key not in dropped]

    names = [(_printable(r.name), depth) for r, depth in rows]
    natural = max([4, *(len(wrap_name(n, 10_000, depth=d)[0]) for n, d in names)])
    words = max([4, *(_cell_len(p) + 2 * d for n, d in names for p in _BREAK_AFTER.findall(n))])
    name_min = min(natural, max(_NAME_MIN, min(words, 24)))
    full, compact = "%Y-%m-%d %H:%M", "%m-%d %H:%M"
    # (start format, columns dropped, the name's width it needs): the full layout with names
    # unfolded, then shorter dates, then folded names, then fewer columns
    attempts: list[tuple[str | None, set[str], int]] = [
        (full, set(), natural),
        (compact, set(), natural),
        (compact, set(), name_min),
    ]
    dropped: set[str] = {"start"}
    attempts.append((None, set(dropped), name_min))
    for key in DROP_ORDER[1:]:
        dropped.add(key)
        attempts.append((None, set(dropped), name_min))
    cols: list[_Column] = []
    for start_format, drop, needed in attempts:
        cols = columns(start_format, drop)
        fixed = sum(c.width for c in cols if c.key != "name") + len(cols) - 1
        if fixed + needed <= width:
            return cols, min(natural, width - fixed)
    fixed = sum(c.width for c in cols if c.key != "name") + len(cols) - 1
    return cols, max(4, width - fixed)  # nothing fits: the narrowest layout, name squeezed


def _table(runs: list[RunResult], width: int, *, tree: bool = False) -> Any:
    """The rich table of ``runs`` fitting ``width`` cells (see :data:`DROP_ORDER`)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = tree_order(runs) if tree else [(r, 0) for r in runs]
    cols, name_w = _layout(rows, width)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)
    for col in cols:
        w = name_w if col.key == "name" else col.width
        table.add_column(
            col.header,
            justify="right" if col.right else "left",
            no_wrap=True,
            min_width=w,
            max_width=w,
            style="dim" if col.key == "run" else None,
        )
    styles = {"completed": "green", "failed": "red", "interrupted": "yellow"}
    for i, (r, depth) in enumerate(rows):
        cells: list[Any] = []
        for col in cols:
            if col.key == "name":
                cells.append(Text("\n".join(wrap_name(r.name, name_w, depth=depth))))
            elif col.key == "status":
                cells.append(Text(col.cells[i], style=styles.get(r.status, "")))
            else:
                cells.append(col.cells[i])
        table.add_row(*cells)
    return table


def render_table(runs: list[RunResult], width: int, *, tree: bool = False) -> str:
    """The ``runs`` table as plain text at ``width`` columns (what ``carbonsdk runs`` prints
    above its totals line)."""
    from carbonsdk.report import make_console

    buffer = io.StringIO()
    console = make_console(buffer, width=width)
    console.print(_table(runs, width, tree=tree))
    return buffer.getvalue()


def totals_line(runs: list[RunResult]) -> str:
    """``"4 runs · 2.64 kWh · 1.10 kg CO2eq"``: nested runs are counted inside their parent
    (``"3 runs (+2 nested)"``); a run with a non-finite figure is left out of that sum and
    said so (``"(1 n/a, not counted)"``)."""
    from carbonsdk.ledger import top_level
    from carbonsdk.report import format_emissions_g, format_energy_kwh

    tops = top_level(runs)
    nested = len(runs) - len(tops)
    energies = [r.energy_kwh for r in tops]
    emissions = [r.emissions_g for r in tops]
    unknown = sum(
        1
        for e, g in zip(energies, emissions, strict=True)
        if not (math.isfinite(e) and math.isfinite(g))
    )
    total_kwh = math.fsum(e for e in energies if math.isfinite(e))
    total_g = math.fsum(g for g in emissions if math.isfinite(g))
    count = f"{len(tops)} run{'s' if len(tops) != 1 else ''}"
    if nested:
        count += f" (+{nested} nested)"
    line = f"{count} · {format_energy_kwh(total_kwh)} · {format_emissions_g(total_g)} CO2eq"
    if unknown:
        line += f" ({unknown} n/a, not counted)"
    return line


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def write_csv(runs: list[RunResult], out: Any) -> None:
    """``runs`` as CSV (the columns of :func:`carbonsdk.ledger.run_records`, header first) to
    the text stream ``out``; null and non-finite values are empty cells."""
    from carbonsdk.ledger import RECORD_COLUMNS, run_records

    records = run_records(runs)
    columns = list(records[0]) if records else list(RECORD_COLUMNS)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for rec in records:
        writer.writerow([_csv_value(rec[c]) for c in columns])


def run(args: argparse.Namespace) -> int:
    """List runs; exit 0 (also when no run matches), 1 for a missing or unreadable ledger,
    2 for a bad filter."""
    since = parse_since(args.since) if args.since is not None else None
    ledger = open_ledger(args.ledger)
    runs = select(ledger.runs(), name=args.name, since=since, status=args.status, job=args.job)
    if args.json:
        json.dump([summary(r) for r in runs], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if getattr(args, "csv", False):
        write_csv(runs, sys.stdout)
        return 0
    if not runs:
        print(f"no runs match in {ledger.path}", file=sys.stderr)
        return 0
    from rich.console import Console

    from carbonsdk.report import make_console

    console: Console = make_console(sys.stdout)
    console.print(_table(runs, console.width, tree=getattr(args, "tree", False)))
    console.print(totals_line(runs))
    return 0
