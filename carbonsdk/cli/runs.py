"""``carbonsdk runs``: the runs in the ledger as a table (or JSON), with filters."""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from carbonsdk.exceptions import ConfigurationError, LedgerError
from carbonsdk.result import STATUSES, RunResult

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``runs``."""
    parser = subparsers.add_parser(
        "runs",
        help="list the measured runs in the ledger",
        description="List the runs in the ledger, oldest first.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array instead")
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
    parser.add_argument("--job", metavar="JOB_ID",
                        help="only runs of this distributed job (id or prefix)")
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
        return current - timedelta(seconds=float(age.group(1)) * _AGE_S[age.group(2).lower()])
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


def summary(result: RunResult) -> dict[str, Any]:
    """One run as a flat JSON-able summary row (the full record is ``report --json``)."""
    return {
        "run_id": result.run_id,
        "name": result.name,
        "status": result.status,
        "started_at": result.started_at.isoformat(),
        "ended_at": result.ended_at.isoformat(),
        "duration_s": result.duration_s,
        "energy_kwh": result.energy_kwh,
        "emissions_g": result.emissions_g,
        "intensity_g_per_kwh": result.intensity_g_per_kwh,
        "region": result.region.label,
        "zone": result.region.zone,
        "pue": result.pue,
        "tags": dict(result.tags),
        "job": None if result.job is None else {
            "job_id": result.job.job_id,
            "rank": result.job.rank,
            "node": result.job.node,
            "role": result.job.role,
        },
    }


def _table(runs: list[RunResult], width: int) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from carbonsdk.report import format_duration_s, format_sig

    compact = width < 96
    narrow = width < 70  # drop the start column rather than squeeze every column
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)
    table.add_column("run", no_wrap=True, style="dim")
    table.add_column("name", overflow="fold", min_width=10, ratio=3)
    if not narrow:
        table.add_column("start (UTC)", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("kWh", justify="right", no_wrap=True)
    table.add_column("gCO2", justify="right", no_wrap=True)
    table.add_column("region", overflow="fold", min_width=6, ratio=2)
    table.add_column("status", no_wrap=True)
    styles = {"completed": "green", "failed": "red", "interrupted": "yellow"}
    start_format = "%m-%d %H:%M" if compact else "%Y-%m-%d %H:%M"
    for r in runs:
        cells: list[Any] = [r.run_id[:8], Text(r.name)]
        if not narrow:
            cells.append(r.started_at.astimezone(UTC).strftime(start_format))
        cells += [
            format_duration_s(r.duration_s),
            format_sig(r.energy_kwh),
            format_sig(r.emissions_g),
            r.region.zone or "unknown",
            Text(r.status, style=styles.get(r.status, "")),
        ]
        table.add_row(*cells)
    return table


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
    if not runs:
        print(f"no runs match in {ledger.path}", file=sys.stderr)
        return 0
    from rich.console import Console

    from carbonsdk.report import format_emissions_g, format_energy_kwh, make_console

    console: Console = make_console(sys.stdout)
    console.print(_table(runs, console.width))
    total_kwh = sum(r.energy_kwh for r in runs)
    total_g = sum(r.emissions_g for r in runs)

    console.print(
        f"{len(runs)} run{'s' if len(runs) != 1 else ''} · {format_energy_kwh(total_kwh)} · "
        f"{format_emissions_g(total_g)} CO2eq"
    )
    return 0
