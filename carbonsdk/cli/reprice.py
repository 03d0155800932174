"""``carbonsdk reprice``: price recorded runs again from their stored energy timelines when
better intensity data is available (see :mod:`carbonsdk.repricing`)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from typing import Any

from carbonsdk import ConfigurationError, RunResult
from carbonsdk.cli.runs import add_ledger_argument, open_ledger, parse_since


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``reprice``."""
    parser = subparsers.add_parser(
        "reprice",
        help="price recorded runs again with better intensity data",
        description="Recompute the emissions of recorded runs from their stored energy "
        "timelines with another intensity source, and append a reprice record (the run's own "
        "record stays). A run is repriced only when the new data is better: less of its "
        "energy priced with estimated values, at the same or a finer time resolution (or the "
        "same share at a finer one); --force reprices anyway. Default: the last run.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "run_id", nargs="?", metavar="RUN_ID", help="a run id, or a unique prefix of one"
    )
    which.add_argument("--last", action="store_true", help="the most recent run (the default)")
    which.add_argument(
        "--since",
        metavar="DATE",
        help="every run started at or after DATE: ISO 8601 (UTC unless an offset is given) or "
        "an age (30m, 12h, 7d, 2w)",
    )
    which.add_argument("--all", action="store_true", help="every run in the ledger")
    parser.add_argument(
        "--intensity",
        default="auto",
        metavar="SPEC",
        help="the new intensity data: auto (default), embedded, electricitymaps, eia, entsoe, "
        "ukgrid, watttime, csv:PATH, or a constant in g/kWh",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be repriced; write nothing"
    )
    parser.add_argument(
        "--force", action="store_true", help="reprice even when the new data is not better"
    )
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    add_ledger_argument(parser)
    parser.set_defaults(func=run)


def _spec(text: str) -> object:
    """``--intensity``: a number is a constant in g/kWh, anything else a provider spec."""
    try:
        return float(text)
    except ValueError:
        return text


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _pricing(result: RunResult) -> dict[str, Any]:
    src = result.intensity_source
    return {
        "provider": src.provider,
        "zone": src.zone,
        "estimated": src.estimated,
        "dataset": src.dataset,
        "emissions_g": _finite(result.emissions_g),
        "intensity_g_per_kwh": _finite(result.intensity_g_per_kwh),
        "repriced_at": None if result.repriced_at is None else result.repriced_at.isoformat(),
    }


def outcome_to_dict(outcome: Any) -> dict[str, Any]:
    """One :class:`carbonsdk.repricing.RepriceOutcome` as JSON-able data (emissions in g CO2eq,
    intensity in g/kWh, the compared qualities: estimated share 0..1, median step in seconds,
    null when unknown or none)."""

    def quality(q: Any) -> dict[str, Any] | None:
        if q is None:
            return None
        step = q.step_s
        return {
            "estimated_share": q.estimated_share,
            "step_s": None if step is None or math.isinf(step) else step,
        }

    return {
        "run_id": outcome.run_id,
        "name": outcome.name,
        "action": outcome.action,
        "reason": outcome.reason,
        "before": _pricing(outcome.before),
        "after": None if outcome.after is None else _pricing(outcome.after),
        "old_quality": quality(outcome.old),
        "new_quality": quality(outcome.new),
    }


def _grams(value: float) -> str:
    from carbonsdk.report import format_emissions_g

    return str(format_emissions_g(value)) if math.isfinite(value) else "n/a"


def outcome_line(outcome: Any) -> str:
    """``repriced  1a2b3c4d  train  embedded (estimated) -> ukgrid · 12.3 g -> 10.1 g CO2eq ·
    why`` (or ``skipped ... why``)."""
    head = f"{outcome.action:<13} {outcome.run_id[:8]}  {outcome.name or '-'}"
    before = outcome.before
    if outcome.after is None or outcome.action == "skipped":
        return f"{head}  {outcome.reason}"
    after = outcome.after
    old = before.intensity_source
    was = old.provider + (" (estimated)" if old.estimated else "")
    now = after.intensity_source.provider + (
        " (estimated)" if after.intensity_source.estimated else ""
    )
    change = ""
    if math.isfinite(before.emissions_g) and before.emissions_g > 0:
        pct = (after.emissions_g - before.emissions_g) / before.emissions_g * 100
        change = f" ({pct:+.1f}%)"
    return (
        f"{head}  {was} -> {now} · {_grams(before.emissions_g)} -> "
        f"{_grams(after.emissions_g)} CO2eq{change} · {outcome.reason}"
    )


def _kind(reason: str) -> str:
    return reason.split(":", 1)[0].split("(", 1)[0].strip()


def summary_line(outcomes: list[Any], *, dry_run: bool) -> str:
    """``"2 repriced, 1 skipped (not better: 1)"`` (``would reprice`` for a dry run)."""
    done = sum(1 for o in outcomes if o.action in ("repriced", "would-reprice"))
    skipped = Counter(_kind(o.reason) for o in outcomes if o.action == "skipped")
    head = f"would reprice {done}" if dry_run else f"{done} repriced"
    line = f"{head}, {sum(skipped.values())} skipped"
    if skipped:
        line += " (" + ", ".join(f"{k}: {n}" for k, n in skipped.most_common()) + ")"
    if dry_run:
        line += "; dry run: nothing written"
    return line


def run(args: argparse.Namespace) -> int:
    """Reprice the chosen runs; exit 0 (also when every run was skipped), 1 for a missing
    ledger, unknown run or failed write, 2 for bad usage."""
    from carbonsdk.repricing import reprice_runs

    if args.run_id is not None and not args.run_id.strip():
        raise ConfigurationError("RUN_ID is empty: give a run id (see `carbonsdk runs`)")
    since = parse_since(args.since) if args.since is not None else None
    ledger = open_ledger(args.ledger)
    last = not (args.run_id is not None or since is not None or args.all)

    def show(outcome: Any) -> None:
        if not args.json:
            print(outcome_line(outcome), flush=False)

    outcomes = reprice_runs(
        None if args.run_id is None else [args.run_id],
        _spec(args.intensity),
        ledger,
        since=since,
        last=last,
        force=args.force,
        dry_run=args.dry_run,
        on_outcome=show,
    )
    if args.json:
        doc = {
            "ledger": str(ledger.path),
            "intensity": args.intensity,
            "dry_run": args.dry_run,
            "force": args.force,
            "repriced": sum(1 for o in outcomes if o.action == "repriced"),
            "would_reprice": sum(1 for o in outcomes if o.action == "would-reprice"),
            "skipped": sum(1 for o in outcomes if o.action == "skipped"),
            "runs": [outcome_to_dict(o) for o in outcomes],
        }
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not outcomes:
        print(f"no runs match in {ledger.path}", file=sys.stderr)
        return 0
    print(summary_line(outcomes, dry_run=args.dry_run))
    return 0
