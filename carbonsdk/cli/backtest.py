"""``carbonsdk backtest ZONE --duration D --window W [--strategy S] [--forecaster F]
[--year Y] [--n-starts N] [--seed N] [--json]``: how much carbon-aware scheduling would really
have saved in ZONE, on the embedded hourly data of one year, with the forecaster learning from
the other embedded years only (see :func:`carbonsdk.schedule.backtest`)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

STRATEGIES = ("flexible_start", "pause_and_resume")
FORECASTERS = ("default", "seasonal-naive", "typical")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``backtest`` command."""
    p = sub.add_parser(
        "backtest",
        help="what waiting or pausing really saved in a zone (forecast vs oracle)",
        description="Simulate carbonsdk's live policy (re-forecasting every hour) at N start "
        "times of one embedded year of ZONE and compare the saving it realised with what its "
        "forecast promised and with perfect foresight.",
    )
    p.add_argument(
        "zone", metavar="ZONE", help="a grid zone (DE) or a cloud region (aws:eu-central-1)"
    )
    p.add_argument("--duration", required=True, help="the job's running time, whole hours (6h)")
    p.add_argument(
        "--window",
        default=None,
        help="max delay (flexible_start; default 24h) or max extension "
        "(pause_and_resume; default 100%%): a duration (12h), a percentage of the "
        "duration (50%%) or, for pause_and_resume, a fraction (1.0)",
    )
    p.add_argument("--strategy", choices=STRATEGIES, default="flexible_start")
    p.add_argument("--forecaster", choices=FORECASTERS, default="default")
    p.add_argument(
        "--year",
        type=int,
        default=None,
        help="the year to test (default: the zone's last embedded year)",
    )
    p.add_argument("--n-starts", type=int, default=48, help="start times (default 48)")
    p.add_argument("--seed", type=int, default=0, help="seed of the start times (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _window(text: str | None, strategy: str) -> Any:
    if text is None:
        return "24h" if strategy == "flexible_start" else "100%"
    raw = text.strip()
    if strategy == "pause_and_resume":
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def run(args: argparse.Namespace) -> int:
    """Backtest and print; returns the exit code (bad input raises ConfigurationError -> 2)."""
    from carbonsdk import ConfigurationError, intensity_series, schedule
    from carbonsdk.intensity import hourly_years
    from carbonsdk.region import parse_region
    from carbonsdk.schedule import format_duration

    region = parse_region(args.zone)
    zone = region.zone
    years = hourly_years(zone) if zone else ()
    if not zone or not years:
        raise ConfigurationError(
            f"ZONE {args.zone!r} has no embedded hourly data to backtest on (zones with data: "
            "carbonsdk regions)"
        )
    year = args.year if args.year is not None else years[-1]
    if year not in years:
        raise ConfigurationError(
            f"--year {year} is not valid for {zone}: embedded hourly years are "
            f"{', '.join(map(str, years))}"
        )
    if args.n_starts < 1:
        raise ConfigurationError(f"--n-starts {args.n_starts} must be >= 1")
    learn = tuple(y for y in years if y != year)
    start = (
        datetime(year - 1, 12, 25, tzinfo=UTC)
        if year - 1 in years
        else datetime(year, 1, 1, tzinfo=UTC)
    )
    series = intensity_series(region, start, datetime(year + 1, 1, 1, tzinfo=UTC))
    result = schedule.backtest(  # the function (its module has the same name)
        series,
        zone=zone,
        duration=args.duration,
        window=_window(args.window, args.strategy),
        strategy=args.strategy,
        forecaster=args.forecaster,
        n_starts=args.n_starts,
        seed=args.seed,
        profile_years=learn or None,
    )
    if args.json:
        doc = {"zone": zone, "year": year, "learned_from": list(learn), **result.to_dict()}
        print(json.dumps(doc, indent=2))
        return 0
    what = "max delay" if args.strategy == "flexible_start" else "max extension"
    out = sys.stdout
    out.write(
        f"Backtest {zone} {year}: {args.strategy}, {format_duration(result.duration_s)} job, "
        f"{what} {format_duration(result.window_s)}, forecaster {result.forecaster}, "
        f"{result.n_starts} starts (seed {args.seed})\n"
    )
    out.write(f"  learned from: {', '.join(map(str, learn)) or 'nothing (no other year)'}\n")
    out.write(f"  oracle (perfect foresight): {result.oracle_savings_fraction:6.1%} less CO2\n")
    out.write(
        f"  realised (live policy):     {result.realised_savings_fraction:6.1%} "
        f"({result.capture_fraction:.0%} of the oracle)\n"
    )
    out.write(f"  promised by the forecast:   {result.expected_savings_fraction:6.1%}\n")
    out.write(f"  worse than starting now:    {result.worse_fraction:6.1%} of starts\n")
    m = result.mape_by_horizon
    picks = [h for h in (0, 5, 11, 23) if h < len(m)]
    out.write("  forecast error (MAPE): " + ", ".join(f"{m[h]:.0%} at +{h}h" for h in picks) + "\n")
    for note in result.notes:
        out.write(f"  note: {note}\n")
    return 0
