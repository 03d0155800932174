"""``carbonsdk plan --region R --duration D [--max-delay D] [--max-extension D|F] [--json]``:
when to run a job for the least CO2.

Uses a provider's forecast where one is configured (Electricity Maps, WattTime; ``--provider``
to choose, e.g. ``ukgrid`` for Great Britain), else carbonsdk's day-ahead forecaster on recent
observations, else the embedded typical year, and says which. Prints the best Flexible Start and
the Pause and Resume run/pause calendar with the saving they are expected to *realise*: for
carbonsdk's own forecasts, the backtest of this zone and job class (``carbonsdk/data/
backtest.json``) with the share of starts where waiting was worse. Waiting or pausing is
recommended only when that saving clears ``--min-saving`` (default 3 %). Defaults:
``--max-delay 24h``, ``--max-extension 100%``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from carbonsdk.intensity import NAMED as PROVIDERS

if TYPE_CHECKING:
    from carbonsdk.schedule import Plan, PlanInterval

DEFAULT_MAX_DELAY = "24h"
DEFAULT_MAX_EXTENSION = "100%"
DEFAULT_MIN_SAVING = "3%"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``plan`` command."""
    p = sub.add_parser(
        "plan",
        help="when to run a job for the least CO2 (flexible start, pause and resume)",
        description="Plan a job of DURATION in REGION: the lowest-carbon start within "
        "--max-delay (Flexible Start) and the lowest-carbon run/pause calendar within "
        "--max-extension (Pause and Resume), compared with starting now. Durations: 90m, "
        "6h, 1h30m, 2d.",
    )
    p.add_argument(
        "--region",
        default=None,
        help="aws:us-east-1, gcp:europe-west4, azure:westus2, a grid zone (DE) or "
        "an ISO country code (default: CARBONSDK_REGION, then cloud metadata)",
    )
    p.add_argument("--duration", required=True, help="the job's running time, e.g. 6h")
    p.add_argument(
        "--max-delay",
        default=DEFAULT_MAX_DELAY,
        help=f"latest start after now (default {DEFAULT_MAX_DELAY}; or e.g. 50%%)",
    )
    p.add_argument(
        "--max-extension",
        default=DEFAULT_MAX_EXTENSION,
        help="how much longer pausing may make the job: a duration (12h) or a "
        "fraction (0.5, 50%%); default " + DEFAULT_MAX_EXTENSION.replace("%", "%%"),
    )
    p.add_argument(
        "--min-saving",
        default=DEFAULT_MIN_SAVING,
        metavar="F",
        help="recommend waiting or pausing only when the saving expected to be "
        "realised is at least this (0.03 or 3%%; default "
        + DEFAULT_MIN_SAVING.replace("%", "%%")
        + ")",
    )
    p.add_argument(
        "--start",
        default=None,
        metavar="TIME",
        help="earliest start, ISO 8601 with offset (default: now)",
    )
    p.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="auto",
        help="forecast source (default auto: a configured live provider covering the zone, "
        "else carbonsdk's day-ahead forecaster on the embedded data)",
    )
    p.add_argument(
        "--energy-kwh",
        type=float,
        default=None,
        help="the job's energy, kWh, for grams of CO2 (default: per kWh)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _time(text: str | None) -> datetime:
    from carbonsdk import ConfigurationError

    if text is None or text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"--start {text!r} is not a valid time: expected ISO 8601 with a UTC offset, e.g. "
            "2025-06-01T12:00Z"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigurationError(f"--start {text!r} has no UTC offset: write e.g. {text}Z")
    return when.astimezone(UTC)


def _fraction(text: str) -> float:
    from carbonsdk import ConfigurationError

    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        value = float("nan")
    if not (0.0 <= value < 1.0):
        raise ConfigurationError(
            f"--min-saving {text!r} is not valid: expected a fraction 0 <= x < 1 (0.03) or a "
            "percentage (3%)"
        )
    return value


def advice(plan: Plan, cal: Any, margin: float, gate: bool | None = None) -> dict[str, Any]:
    """What to tell the user about one plan: the forecast's promise, the saving expected to be
    realised (calibrated by the backtest ``cal`` when there is one), the backtest, and whether
    to follow the plan (``recommend``) given the ``margin`` (fraction). ``gate``: for
    carbonsdk's day-ahead forecast, whether the plan passes the live policies' decision rule
    (forecast gain clear of the forecaster's own error, as in ``wait_for_low_carbon`` and
    ``should_pause()``); when it fails, the expected saving is 0 and the plan is not
    recommended."""
    from carbonsdk.schedule.live import calibrated_saving

    moves = plan.delay_s > 0 or plan.pauses > 0
    clear = gate is not False  # True, or no error model
    expected = calibrated_saving(plan.savings_fraction, cal) if moves and clear else 0.0
    backtested = None
    if cal is not None:
        backtested = {
            "zone": cal.zone,
            "year": cal.year,
            "job_class": cal.job_class,
            "n_starts": cal.n_starts,
            "realised_savings_fraction": cal.realised_savings_fraction,
            "oracle_savings_fraction": cal.oracle_savings_fraction,
            "expected_savings_fraction": cal.expected_savings_fraction,
            "worse_fraction": cal.worse_fraction,
        }
    worth = cal is None or cal.realised_savings_fraction >= margin
    return {
        "forecast_savings_fraction": plan.savings_fraction,
        "expected_savings_fraction": expected,
        "backtest": backtested,
        "recommend": bool(moves and worth and clear and expected >= margin),
        "clear_of_forecast_error": gate,
    }


def interval_to_dict(iv: PlanInterval) -> dict[str, Any]:
    """A plan interval as JSON-ready data (ISO 8601 times)."""
    return {
        "start": iv.start.isoformat(),
        "end": iv.end.isoformat(),
        "duration_s": iv.duration_s,
        "energy_fraction": iv.energy_fraction,
        "intensity_g_per_kwh": iv.intensity_g_per_kwh,
        "emissions_g": iv.emissions_g,
        "estimated": iv.estimated,
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """A plan as JSON-ready data (CLI output; the ledger has its own serialisation)."""
    return {
        "strategy": plan.strategy,
        "earliest_start": plan.earliest_start.isoformat(),
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
        "deadline": plan.deadline.isoformat(),
        "delay_s": plan.delay_s,
        "duration_s": plan.duration_s,
        "window_s": plan.window_s,
        "emissions_g": plan.emissions_g,
        "baseline_emissions_g": plan.baseline_emissions_g,
        "savings_fraction": plan.savings_fraction,
        "intensity_g_per_kwh": plan.intensity_g_per_kwh,
        "baseline_intensity_g_per_kwh": plan.baseline_intensity_g_per_kwh,
        "pauses": plan.pauses,
        "energy_kwh": plan.energy_kwh,
        "pue": plan.pue,
        "flags": list(plan.flags),
        "intervals": [interval_to_dict(iv) for iv in plan.intervals],
    }


def _when(dt: datetime, ref: datetime) -> str:
    fmt = "%H:%M" if dt.date() == ref.date() else "%a %d %b %H:%M"
    return dt.astimezone(UTC).strftime(fmt)


def run(args: argparse.Namespace) -> int:
    """Plan and print; returns the exit code (bad input raises ConfigurationError -> 2)."""
    from carbonsdk import ConfigurationError
    from carbonsdk.region import resolve_region
    from carbonsdk.schedule import (
        flexible_start,
        format_duration,
        forward_series,
        parse_duration,
        pause_and_resume,
    )
    from carbonsdk.schedule.durations import extension_s, window_s

    job_s = parse_duration(args.duration, name="--duration").total_seconds()
    if job_s <= 0:
        raise ConfigurationError(f"--duration {args.duration!r} must be longer than 0")
    delay_s = window_s(args.max_delay, job_s, name="--max-delay")
    ext_s = extension_s(args.max_extension, job_s, name="--max-extension")
    if args.energy_kwh is not None and not (0 <= args.energy_kwh < float("inf")):
        raise ConfigurationError(f"--energy-kwh {args.energy_kwh!r} must be a number >= 0")
    start = _time(args.start)
    region = resolve_region(args.region)
    if not region.known:
        raise ConfigurationError(
            "no region: pass --region (e.g. aws:us-east-1, DE) or set CARBONSDK_REGION"
        )
    margin = _fraction(args.min_saving)
    t0 = start.timestamp()
    horizon = t0 + job_s + max(delay_s, ext_s)
    fwd = forward_series(region, t0, horizon, provider=args.provider)
    common: dict[str, Any] = {"start": start, "energy_kwh": args.energy_kwh, "fill": "typical"}
    fs = flexible_start(fwd.series, job_s, timedelta(seconds=delay_s), **common)
    pr = pause_and_resume(fwd.series, job_s, timedelta(seconds=ext_s), **common)
    from carbonsdk.schedule import calibration

    own = fwd.kind in ("day-ahead", "typical")
    zone = fwd.series.source.zone or region.zone
    cal_fs = calibration(zone, "flexible_start", job_s, delay_s) if own else None
    cal_pr = calibration(zone, "pause_and_resume", job_s, ext_s) if own else None
    from carbonsdk.schedule.live import pause_gate, start_clear

    gate_fs = start_clear(fwd, t0, job_s, fs)
    pr_now = pause_gate(fwd, t0, job_s, t0 + job_s + ext_s)
    pr_moves = pr.delay_s > 0 or pr.pauses > 0
    gate_pr = None if pr_now is None or not pr_moves else pr_now[1] > 0
    adv_fs = advice(fs, cal_fs, margin, gate_fs)
    adv_pr = advice(pr, cal_pr, margin, gate_pr)
    if args.json:
        doc = {
            "region": {
                "provider": region.provider,
                "code": region.code,
                "zone": region.zone,
                "label": region.label,
            },
            "intensity": {
                "kind": fwd.kind,
                "provider": fwd.provider,
                "description": fwd.description,
                "note": fwd.note,
                "dataset": fwd.series.source.dataset,
            },
            "duration_s": job_s,
            "max_delay_s": delay_s,
            "max_extension_s": ext_s,
            "min_saving_fraction": margin,
            "flexible_start": {**plan_to_dict(fs), **adv_fs},
            "pause_and_resume": {**plan_to_dict(pr), **adv_pr},
        }
        print(json.dumps(doc, indent=2))
        return 0
    source_note = fwd.series.source.note or fwd.note
    flat = len(set(fwd.series.values_g_per_kwh)) == 1
    _print(
        region.label,
        fwd.description,
        source_note,
        fs,
        pr,
        job_s,
        delay_s,
        ext_s,
        args.energy_kwh,
        format_duration,
        flat,
        (adv_fs, adv_pr),
        margin,
    )
    return 0


def _verdict(adv: dict[str, Any], margin: float, verb: str) -> str:
    bt = adv["backtest"]
    told = f"[bold]{adv['expected_savings_fraction']:.0%}[/bold] less CO2 expected"
    if bt is not None:
        told += (
            f" (backtest {bt['zone']} {bt['year']}, {bt['job_class']}: realised "
            f"{bt['realised_savings_fraction']:.0%} on average, worse than starting at once "
            f"in {bt['worse_fraction']:.0%} of starts; the forecast promises "
            f"{adv['forecast_savings_fraction']:.0%})"
        )
    if adv["recommend"]:
        return told
    if bt is not None and bt["realised_savings_fraction"] < margin:
        return (
            f"start now: {verb} is not expected to help here (backtest {bt['zone']} "
            f"{bt['year']}, {bt['job_class']}: {bt['realised_savings_fraction']:.1%} "
            f"realised, worse in {bt['worse_fraction']:.0%} of starts; margin "
            f"{margin:.0%})"
        )
    if adv.get("clear_of_forecast_error") is False:
        return (
            f"start now: {verb} is not expected to help here (the forecast promises "
            f"{adv['forecast_savings_fraction']:.1%}, within the day-ahead forecast's own error)"
        )
    return (
        f"start now: {verb} is not expected to help here "
        f"({adv['expected_savings_fraction']:.1%} expected, margin {margin:.0%})"
    )


def _print(
    label: str,
    description: str,
    note: str,
    fs: Plan,
    pr: Plan,
    job_s: float,
    delay_s: float,
    ext_s: float,
    energy_kwh: float | None,
    fmt: Any,
    flat: bool,
    advices: tuple[dict[str, Any], dict[str, Any]] | None = None,
    margin: float = 0.03,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    ref = fs.earliest_start

    def grams(value: float) -> str:
        return f"{value:,.0f} g CO2eq" if energy_kwh is not None else f"{value:,.0f} g/kWh"

    console.print(
        f"[bold]Plan for a {fmt(job_s)} job in {label}[/bold], earliest start "
        f"{ref.strftime('%Y-%m-%d %H:%M UTC')}"
    )
    estimated = " (estimated)" if fs.estimated or pr.estimated else ""
    console.print(f"Intensity: {description}{estimated}")
    if note:
        console.print(f"[dim]{note}[/dim]")
    if flat:
        console.print(
            "[yellow]The intensity is flat over the window (no hourly data for this "
            "zone): scheduling cannot reduce emissions here.[/yellow]"
        )
    per = f"  ({fs.baseline_intensity_g_per_kwh:.0f} g/kWh)" if energy_kwh is not None else ""
    console.print(f"Start now: {grams(fs.baseline_emissions_g)}{per}")
    wait = "now" if fs.delay_s <= 0 else f"in {fmt(fs.delay_s)}"
    if advices is None:
        from carbonsdk.cli.plan import advice as _adv

        advices = (_adv(fs, None, margin), _adv(pr, None, margin))
    a_fs, a_pr = advices
    console.print(
        f"Flexible start (delay up to {fmt(delay_s)}): start "
        f"[bold]{fs.start.strftime('%Y-%m-%d %H:%M UTC')}[/bold] ({wait}), "
        f"{grams(fs.emissions_g)}: {_verdict(a_fs, margin, 'waiting')}"
    )
    console.print(
        f"Pause and resume (up to {fmt(ext_s)} longer): {len(pr.intervals)} run(s), "
        f"{pr.pauses} pause(s), done by {pr.end.strftime('%Y-%m-%d %H:%M UTC')}, "
        f"{grams(pr.emissions_g)}: {_verdict(a_pr, margin, 'pausing')}"
    )
    table = Table(title="Pause and resume calendar (UTC)", title_justify="left")
    table.add_column("")
    table.add_column("from")
    table.add_column("to")
    table.add_column("for", justify="right")
    table.add_column("g/kWh", justify="right")
    prev_end = None
    for iv in pr.intervals:
        if prev_end is not None:
            gap = (iv.start - prev_end).total_seconds()
            table.add_row(
                "[dim]pause[/dim]", _when(prev_end, ref), _when(iv.start, ref), fmt(gap), ""
            )
        table.add_row(
            "run",
            _when(iv.start, ref),
            _when(iv.end, ref),
            fmt(iv.duration_s),
            f"{iv.intensity_g_per_kwh:.0f}",
        )
        prev_end = iv.end
    console.print(table)
