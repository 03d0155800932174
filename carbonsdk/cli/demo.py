"""``carbonsdk demo``: measure a short CPU workload on this machine and show the report."""

from __future__ import annotations

import argparse
import sys
import time


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``demo`` command."""
    p = sub.add_parser(
        "demo",
        help="measure a ~10 s CPU workload and print the report",
        description="Measure a short CPU-bound workload on this machine, print "
        "the end-of-run report and append the run to the ledger.",
    )
    p.add_argument(
        "--seconds", type=float, default=10.0, help="length of the workload in seconds (default 10)"
    )
    p.add_argument(
        "--region",
        default=None,
        help="where this machine runs, e.g. aws:us-east-1, gcp:europe-west4, DE "
        "(default: CARBONSDK_REGION, else unknown)",
    )
    p.add_argument(
        "--detect",
        action="store_true",
        help="look the cloud region up in the instance metadata service",
    )
    p.add_argument("--interval", type=float, default=0.5, help="sampling period, s")
    p.add_argument("--ledger", default=None, help="ledger file (default: the user ledger)")
    p.add_argument("--no-ledger", action="store_true", help="do not record the run")
    p.set_defaults(func=run)


def _workload(seconds: float) -> int:
    """Pure-Python integer work until ``seconds`` have passed; returns a checksum."""
    deadline = time.monotonic() + seconds
    acc = 0
    n = 0
    while time.monotonic() < deadline:
        for i in range(20_000):
            acc = (acc * 31 + i * i) % 1_000_000_007
        n += 1
    return acc + n


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    import carbonsdk
    from carbonsdk import ConfigurationError, Region
    from carbonsdk.region import resolve_region

    if not args.seconds > 0 or args.seconds > 3600:
        raise ConfigurationError(
            f"--seconds {args.seconds:g} is not valid: expected a number in (0, 3600]"
        )
    region: str | Region | None = args.region
    # resolve_region offline reads CARBONSDK_REGION only (a bad value raises, naming it)
    if region is None and not args.detect and resolve_region(None, offline=True).source != "env":
        # No silent network probing from a demo: say how to give the region instead.
        region = Region.unknown()
        print(
            "carbonsdk demo: region unknown (pass --region aws:us-east-1 or a zone such as DE, "
            "set CARBONSDK_REGION, or use --detect on a cloud VM); using the flagged world "
            "average.",
            file=sys.stderr,
        )
    ledger: str | bool | None = False if args.no_ledger else args.ledger
    print(f"carbonsdk demo: measuring {args.seconds:g} s of CPU work...", file=sys.stderr)
    # the report is printed here, with the what-if this command computes (the report module
    # is handed its data and never runs the scheduler itself)
    with carbonsdk.measure(
        "carbonsdk-demo",
        region=region,
        interval_s=args.interval,
        ledger=ledger,
        report=False,
        tags={"source": "carbonsdk demo"},
    ) as measured:
        _workload(args.seconds)
    result = measured.result
    if result is None:
        print("carbonsdk demo: error: the run could not be recorded", file=sys.stderr)
        return 1
    from carbonsdk.cli.report import whatif_or_none
    from carbonsdk.report import print_report

    print_report(result, whatif=whatif_or_none(result))
    if not args.no_ledger:
        where = args.ledger or str(carbonsdk.Ledger().path)  # CARBONSDK_LEDGER or the default
        print(f"carbonsdk demo: run {result.run_id} appended to {where}", file=sys.stderr)
    return 0
