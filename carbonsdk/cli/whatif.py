"""``carbonsdk whatif [RUN_ID|--last] [--ledger PATH] [--json]``: a recorded run replayed in
every embedded zone (same wall-clock times, its own energy timeline and PUE), and with Flexible
Start (up to ``--max-delay``, default 24 h later) and Pause and Resume (up to
``--max-extension``, default 100 % longer) in its own zone.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbonsdk import RunResult
    from carbonsdk.schedule import Plan, WhatIf


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``whatif`` command."""
    p = sub.add_parser(
        "whatif",
        help="a recorded run in other regions, later, or with pauses",
        description="Replay a recorded run's energy timeline in every embedded grid zone and "
        "with Flexible Start / Pause and Resume in its own zone (embedded life-cycle data).",
    )
    p.add_argument(
        "run_id",
        nargs="?",
        default=None,
        metavar="RUN_ID",
        help="run id or unique prefix (default: the last run)",
    )
    p.add_argument("--last", action="store_true", help="the most recent run (the default)")
    p.add_argument(
        "--ledger",
        default=None,
        metavar="PATH",
        help="ledger file (default: CARBONSDK_LEDGER or the user data dir)",
    )
    p.add_argument("--max-delay", default="24h", help="Flexible Start window (default 24h)")
    p.add_argument(
        "--max-extension",
        default="100%",
        help="Pause and Resume extension: 12h, 0.5 or 50%% (default 100%%)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> RunResult:
    from carbonsdk import ConfigurationError, LedgerError
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
            {
                "zone": r.zone,
                "emissions_g": r.emissions_g,
                "intensity_g_per_kwh": r.intensity_g_per_kwh,
                "estimated": r.estimated,
                "is_own": r.is_own,
            }
            for r in w.regions
        ],
        "max_delay_s": w.max_delay_s,
        "max_extension_fraction": w.max_extension_fraction,
        "flexible_start": plan_to_dict(w.flexible_start) if w.flexible_start else None,
        "pause_and_resume": plan_to_dict(w.pause_and_resume) if w.pause_and_resume else None,
        "notes": list(w.notes),
    }


def run(args: argparse.Namespace) -> int:
    """Compute and print the what-if; returns the exit code (1 when the recorded run has no
    finite, positive energy to replay)."""
    from carbonsdk import CarbonSDKError
    from carbonsdk.cli.report import json_safe
    from carbonsdk.report import format_energy_kwh, is_finite
    from carbonsdk.schedule import whatif_for_run
    from carbonsdk.schedule.durations import extension_s, window_s

    result = _load(args)
    # the what-if replays the run's wall-clock span (as whatif_for_run does), which a ledger
    # always holds as timestamps even when duration_s was recorded as NaN
    job_s = max((result.ended_at - result.started_at).total_seconds(), 1e-9)
    extension = _extension(args.max_extension)
    window_s(args.max_delay, job_s, name="--max-delay")  # usage errors name the option
    extension_s(extension, job_s, name="--max-extension")
    if not is_finite(result.energy_kwh) or any(
        not is_finite(iv.energy_kwh) for iv in result.timeline
    ):
        raise CarbonSDKError(
            f"run {result.run_id} recorded energy {format_energy_kwh(result.energy_kwh)} (not a "
            "finite number): there is nothing to replay"
        )
    w = whatif_for_run(result, max_delay=args.max_delay, max_extension=extension)
    if args.json:
        print(json.dumps(json_safe(whatif_to_dict(w)), indent=2))
        return 0
    _print(result, w)
    return 0


def _extension(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def _g(grams: float) -> str:
    """Grams with 3 significant digits (tiny runs stay readable; ``"n/a"`` when not finite)."""
    from carbonsdk.report import format_sig

    return format_sig(grams)


def _duration(seconds: float) -> str:
    """``"1d 2h"``, ``"45s"``...; ``"n/a"`` when not finite."""
    from carbonsdk.report import NOT_AVAILABLE, is_finite
    from carbonsdk.schedule import format_duration

    return format_duration(seconds) if is_finite(seconds) else NOT_AVAILABLE


def _share(fraction: float) -> str:
    """``"12%"``; ``"n/a"`` when not finite."""
    from carbonsdk.report import NOT_AVAILABLE, is_finite

    return f"{fraction:.0%}" if is_finite(fraction) else NOT_AVAILABLE


def pause_and_resume_text(plan: Plan, max_extension_fraction: float) -> str:
    """The Pause and Resume line: when it starts, its pauses and how much later it is done
    (start delay plus pauses: a plan that waits 5 h and never pauses is done 5 h later)."""
    from carbonsdk.report import finish_delay_s

    done_s = finish_delay_s(plan)
    start = f"start {_duration(plan.delay_s)} later, " if plan.delay_s > 0 else ""
    pauses = "no pauses" if plan.pauses == 0 else f"{plan.pauses} pause(s)"
    done = "done on time" if not done_s else f"done {_duration(done_s)} later"
    return (
        f"Pause and resume (up to {_share(max_extension_fraction)} longer): {start}{pauses}, "
        f"{done}, {_g(plan.emissions_g)} g instead of {_g(plan.baseline_emissions_g)} g "
        f"([bold]{_share(plan.savings_fraction)}[/bold] less)"
    )


def _print(result: RunResult, w: WhatIf) -> None:
    from rich.console import Console
    from rich.table import Table

    from carbonsdk.report import format_energy_kwh, format_sig

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    own = w.own
    console.print(
        f"[bold]What if run {result.run_id}[/bold] ({result.name}) had run "
        f"elsewhere or later: {format_energy_kwh(result.energy_kwh)}, PUE "
        f"{format_sig(result.pue)}, {_duration(result.duration_s)} from "
        f"{result.started_at.strftime('%Y-%m-%d %H:%M UTC')}"
    )
    console.print(
        f"Recorded: {_g(result.emissions_g)} g CO2eq "
        f"({result.intensity_source.provider}, {result.region.label})"
    )
    table = Table(
        title="Same run, same times, other grids (embedded life-cycle data)", title_justify="left"
    )
    table.add_column("zone")
    table.add_column("g CO2eq", justify="right")
    table.add_column("g/kWh", justify="right")
    table.add_column("vs own", justify="right")
    for row in w.regions:
        vs = ""
        if own is not None and own.emissions_g > 0:
            ratio = row.emissions_g / own.emissions_g - 1
            vs = f"{ratio:+.0%}" if math.isfinite(ratio) else "n/a"
        zone = f"[bold]{row.zone} (own)[/bold]" if row.is_own else row.zone
        est = "*" if row.estimated else ""
        intensity = row.intensity_g_per_kwh
        table.add_row(
            zone + est,
            _g(row.emissions_g),
            f"{intensity:.0f}" if math.isfinite(intensity) else "n/a",
            vs,
        )
    console.print(table)
    if w.flexible_start is not None:
        p = w.flexible_start
        start = f"start {_duration(p.delay_s)} later" if p.delay_s > 0 else "start now"
        console.print(
            f"Flexible start (up to {_duration(w.max_delay_s)} later): {start}, "
            f"{_g(p.emissions_g)} g instead of {_g(p.baseline_emissions_g)} g "
            f"([bold]{_share(p.savings_fraction)}[/bold] less)"
        )
    if w.pause_and_resume is not None:
        console.print(pause_and_resume_text(w.pause_and_resume, w.max_extension_fraction))
    for note in w.notes:
        console.print(f"[dim]note: {note}[/dim]")
    if any(r.estimated for r in w.regions):
        console.print(
            "[dim]* some values estimated (by Electricity Maps, from the nearest "
            "embedded year, or an annual average)[/dim]"
        )
