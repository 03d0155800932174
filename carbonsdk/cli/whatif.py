"""``carbonsdk whatif [RUN_ID|--last] [--ledger PATH] [--json]``: a recorded run replayed in
every embedded zone (same wall-clock times, its own energy timeline and PUE), and with Flexible
Start (up to ``--max-delay``, default 24 h later) and Pause and Resume (up to
``--max-extension``, default 100 % longer) in its own zone.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbonsdk.result import RunResult
    from carbonsdk.schedule.whatif import WhatIf


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``whatif`` command."""
    p = sub.add_parser(
        "whatif",
        help="a recorded run in other regions, later, or with pauses",
        description="Replay a recorded run's energy timeline in every embedded grid zone and "
        "with Flexible Start / Pause and Resume in its own zone (embedded life-cycle data).",
    )
    p.add_argument("run_id", nargs="?", default=None, metavar="RUN_ID",
                   help="run id or unique prefix (default: the last run)")
    p.add_argument("--last", action="store_true", help="the most recent run (the default)")
    p.add_argument("--ledger", default=None, metavar="PATH",
                   help="ledger file (default: CARBONSDK_LEDGER or the user data dir)")
    p.add_argument("--max-delay", default="24h", help="Flexible Start window (default 24h)")
    p.add_argument("--max-extension", default="100%",
                   help="Pause and Resume extension: 12h, 0.5 or 50%% (default 100%%)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> RunResult:
    from carbonsdk.exceptions import ConfigurationError, LedgerError
    from carbonsdk.ledger import Ledger

    if args.run_id and args.last:
        raise ConfigurationError("give either RUN_ID or --last, not both")
    ledger = Ledger(args.ledger)
    if args.run_id:
        return ledger.get(args.run_id)
    result = ledger.last()
    if result is None:
        raise LedgerError(f"no runs in {ledger.path}")
    return result


def whatif_to_dict(w: WhatIf) -> dict[str, Any]:
    """A what-if as JSON-ready data."""
    from carbonsdk.cli.plan import plan_to_dict

    return {
        "run_id": w.run_id,
        "energy_kwh": w.energy_kwh,
        "pue": w.pue,
        "recorded_emissions_g": w.recorded_emissions_g,
        "own_zone": w.own.zone if w.own else None,
        "regions": [
            {"zone": r.zone, "emissions_g": r.emissions_g,
             "intensity_g_per_kwh": r.intensity_g_per_kwh, "estimated": r.estimated,
             "is_own": r.is_own}
            for r in w.regions
        ],
        "max_delay_s": w.max_delay_s,
        "max_extension_fraction": w.max_extension_fraction,
        "flexible_start": plan_to_dict(w.flexible_start) if w.flexible_start else None,
        "pause_and_resume": plan_to_dict(w.pause_and_resume) if w.pause_and_resume else None,
        "notes": list(w.notes),
    }


def run(args: argparse.Namespace) -> int:
    """Compute and print the what-if; returns the exit code."""
    from carbonsdk.schedule.durations import extension_s, window_s
    from carbonsdk.schedule.whatif import whatif_for_run

    result = _load(args)
    job_s = max(result.duration_s, 1e-9)
    extension = _extension(args.max_extension)
    window_s(args.max_delay, job_s, name="--max-delay")  # usage errors name the option
    extension_s(extension, job_s, name="--max-extension")
    w = whatif_for_run(result, max_delay=args.max_delay, max_extension=extension)
    if args.json:
        print(json.dumps(whatif_to_dict(w), indent=2))
        return 0
    _print(result, w)
    return 0


def _extension(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def _g(grams: float) -> str:
    """Grams with 3 significant digits (tiny runs stay readable)."""
    from carbonsdk.report import format_sig

    return format_sig(grams)


def _print(result: RunResult, w: WhatIf) -> None:
    from rich.console import Console
    from rich.table import Table

    from carbonsdk.schedule.durations import format_duration

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    own = w.own
    console.print(f"[bold]What if run {result.run_id}[/bold] ({result.name}) had run "
                  f"elsewhere or later: {result.energy_kwh:.4g} kWh, PUE {result.pue:g}, "
                  f"{format_duration(result.duration_s)} from "
                  f"{result.started_at.strftime('%Y-%m-%d %H:%M UTC')}")
    console.print(f"Recorded: {_g(result.emissions_g)} g CO2eq "
                  f"({result.intensity_source.provider}, {result.region.label})")
    table = Table(title="Same run, same times, other grids (embedded life-cycle data)",
                  title_justify="left")
    table.add_column("zone")
    table.add_column("g CO2eq", justify="right")
    table.add_column("g/kWh", justify="right")
    table.add_column("vs own", justify="right")
    for row in w.regions:
        vs = ""
        if own is not None and own.emissions_g > 0:
            vs = f"{(row.emissions_g / own.emissions_g - 1):+.0%}"
        zone = f"[bold]{row.zone} (own)[/bold]" if row.is_own else row.zone
        est = "*" if row.estimated else ""
        table.add_row(zone + est, f"{_g(row.emissions_g)}", f"{row.intensity_g_per_kwh:.0f}",
                      vs)
    console.print(table)
    if w.flexible_start is not None:
        p = w.flexible_start
        console.print(f"Flexible start (up to {format_duration(w.max_delay_s)} later): start "
                      f"{format_duration(p.delay_s)} later, {_g(p.emissions_g)} g instead of "
                      f"{_g(p.baseline_emissions_g)} g ([bold]{p.savings_fraction:.0%}[/bold] "
                      "less)")
    if w.pause_and_resume is not None:
        p = w.pause_and_resume
        console.print(f"Pause and resume (up to {w.max_extension_fraction:.0%} longer): "
                      f"{p.pauses} pause(s), done {format_duration(p.paused_s)} later, "
                      f"{_g(p.emissions_g)} g ([bold]{p.savings_fraction:.0%}[/bold] less)")
    for note in w.notes:
        console.print(f"[dim]note: {note}[/dim]")
    if any(r.estimated for r in w.regions):
        console.print("[dim]* some values estimated (by Electricity Maps, from the nearest "
                      "embedded year, or an annual average)[/dim]")
