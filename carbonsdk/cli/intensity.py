"""``carbonsdk intensity REGION [--at TIME] [--provider P] [--json]``: the carbon intensity of
a region's grid at one time (default now), and where the value came from.

``--provider auto`` (the default) picks, per zone, the first configured live source that covers it
(Electricity Maps, then ENTSO-E, then EIA; each needs its key) when the SDK is online, else the
embedded dataset. A live provider that fails falls back to the
embedded dataset, and the output says so (``fallback_from``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from carbonsdk.intensity import NAMED as PROVIDERS

_WINDOW = timedelta(hours=1)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``intensity`` command."""
    p = sub.add_parser(
        "intensity",
        help="grid carbon intensity of a region at a time",
        description="Print the carbon intensity (gCO2eq/kWh) of REGION's grid at TIME, with the "
        "zone, provider, signal, emission-factor basis, whether it is estimated and the data "
        "set it comes from.",
    )
    p.add_argument(
        "region",
        metavar="REGION",
        help="aws:us-east-1, gcp:europe-west4, azure:westus2, a grid zone (DE, US-CAL-CISO) or "
        "an ISO country code",
    )
    p.add_argument(
        "--at",
        metavar="TIME",
        default=None,
        help="ISO 8601 time with a UTC offset, e.g. 2023-06-01T12:00Z (default: now)",
    )
    p.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="auto",
        help="where to get the value (default auto: the first configured live source covering "
        "the zone: Electricity Maps, ENTSO-E, EIA; else the embedded dataset)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def parse_time(text: str | None) -> datetime:
    """``--at``: an ISO 8601 time with a UTC offset (``Z`` allowed), or None/``now`` for now;
    returned in UTC. Raises :class:`ConfigurationError` naming the bad value."""
    from carbonsdk import ConfigurationError

    if text is None or text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"--at {text!r} is not a valid time: expected ISO 8601 with a UTC offset, e.g. "
            "2023-06-01T12:00Z or 2023-06-01T14:00+02:00"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigurationError(
            f"--at {text!r} has no UTC offset: write it as {text.strip()}Z (UTC) or with an "
            "offset such as +02:00"
        )
    return when.astimezone(UTC)


def _provider(name: str) -> Any:
    from carbonsdk.intensity import auto_provider, make_provider

    return make_provider(name) or auto_provider()


def run(args: argparse.Namespace) -> int:
    """Look the value up and print it; returns the exit code (errors raise
    :class:`carbonsdk.exceptions.CarbonSDKError`, turned into a one-line message)."""
    import attrs

    import carbonsdk
    from carbonsdk import ProviderError
    from carbonsdk.region import resolve_region

    at = parse_time(args.at)
    region = resolve_region(args.region)
    if region.zone is None:
        raise ProviderError(f"region {args.region!r} has no known grid zone")
    provider = _provider(args.provider)
    start, end = at - _WINDOW / 2, at + _WINDOW / 2
    fallback_from: str | None = None
    reason = ""
    try:
        series = provider.series(region, start, end)
    except ProviderError as exc:
        if provider.name == "embedded":
            raise
        fallback_from, reason = provider.name, str(exc)
        series = carbonsdk.intensity_series(region, start, end)  # the embedded data
    source = series.source
    if fallback_from is not None:
        source = attrs.evolve(source, fallback_from=fallback_from, note=reason)
    index = series.index_at(at.timestamp())
    if index is None:
        raise ProviderError(f"{source.provider} returned no value at {at.isoformat()}")
    value = series.values_g_per_kwh[index]
    estimated = series.estimated[index]
    step_start = datetime.fromtimestamp(series.boundaries_s[index], UTC)
    step_end = datetime.fromtimestamp(series.boundaries_s[index + 1], UTC)
    out: dict[str, Any] = {
        "region": args.region,
        "region_label": region.label,
        "zone": region.zone,
        "at": at.isoformat(),
        "g_per_kwh": value,
        "step_start": step_start.isoformat(),
        "step_end": step_end.isoformat(),
        "provider": source.provider,
        "signal": source.signal,
        "basis": source.basis,
        "estimated": estimated,
        "dataset": source.dataset,
        "note": source.note,
        "fallback_from": source.fallback_from,
    }
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0
    flag = "estimated" if estimated else "measured"
    print(f"{region.label} at {at.isoformat(timespec='minutes')}: {value:.1f} gCO2eq/kWh")
    print(
        f"  zone {region.zone} | provider {source.provider} | signal {source.signal} | "
        f"basis {source.basis} | {flag}"
    )
    print(f"  step {step_start.isoformat()} to {step_end.isoformat()}")
    if source.dataset:
        print(f"  dataset: {source.dataset}")
    if fallback_from is not None:
        print(f"  fallback: {fallback_from} failed ({reason}); embedded data used")
    elif source.note:
        print(f"  note: {source.note}")
    if fallback_from is not None:
        print(f"carbonsdk intensity: {fallback_from} failed; used embedded data", file=sys.stderr)
    return 0
