"""``carbonsdk report``: the end-of-run report of a past run, its paper-ready statement, its
self-contained HTML report, or its full JSON record.

The report is handed its what-if: :func:`whatif_or_none` computes it here (the report module
never runs the scheduler)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from datetime import UTC
from typing import TYPE_CHECKING, Any

from carbonsdk import ConfigurationError, LedgerError, RunResult
from carbonsdk.cli.runs import open_ledger

if TYPE_CHECKING:
    from carbonsdk.schedule import WhatIf

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``report``."""
    parser = subparsers.add_parser(
        "report",
        help="show the report of a past run",
        description="Show the report of a run from the ledger (default: the last one).",
    )
    parser.add_argument(
        "run_id", nargs="?", metavar="RUN_ID", help="a run id, or a unique prefix of one"
    )
    parser.add_argument("--last", action="store_true", help="the most recent run (the default)")
    parser.add_argument(
        "--html", metavar="FILE", help="write a self-contained HTML report with charts to FILE"
    )
    parser.add_argument(
        "--statement", action="store_true", help="print a paper-ready sentence about the run"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the run's full record as JSON instead"
    )
    parser.add_argument(
        "--no-whatif", action="store_true", help="skip the what-if comparison (faster)"
    )
    parser.add_argument(
        "--history",
        action="store_true",
        help="list every pricing of the run, oldest first (see `carbonsdk reprice`)",
    )
    parser.add_argument(
        "--job",
        metavar="JOB_ID",
        help="add up a distributed job's hosts (a job id or unique prefix; see `runs --json`)",
    )
    parser.add_argument(
        "--ledger",
        metavar="PATH",
        action="append",
        help="ledger file (default: CARBONSDK_LEDGER, else the user data directory); with --job "
        "repeat it to add up several ledgers, e.g. one per node",
    )
    parser.set_defaults(func=run)


def whatif_or_none(result: RunResult) -> WhatIf | None:
    """The what-if of ``result`` (:func:`carbonsdk.schedule.whatif_for_run` with its defaults:
    every embedded zone, up to 24 h later, up to twice as long), or None when the run has no
    timeline or no finite, positive energy to replay, or the what-if fails. Never raises (a
    failure is logged at debug level)."""
    energy_kwh = result.energy_kwh
    if not result.timeline or not math.isfinite(energy_kwh) or energy_kwh <= 0:
        return None
    try:
        from carbonsdk.schedule import whatif_for_run

        return whatif_for_run(result)
    except Exception:
        logger.debug("carbonsdk: no what-if for run %s", result.run_id, exc_info=True)
        return None


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf: possible in a hand-edited or foreign
    ledger) replaced by None, so that the CLI prints strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def find_run(args: argparse.Namespace) -> RunResult:
    """The run named by ``RUN_ID`` (or unique prefix) or ``--last``."""
    if args.run_id is not None and args.last:
        raise ConfigurationError(f"give either RUN_ID ({args.run_id!r}) or --last, not both")
    if args.run_id is not None and not args.run_id.strip():
        raise ConfigurationError("RUN_ID is empty: give a run id (see `carbonsdk runs`)")
    ledgers = args.ledger or [None]
    if len(ledgers) > 1:
        raise ConfigurationError(
            f"--ledger was given {len(ledgers)} times: several ledgers only make sense with "
            "--job JOB_ID"
        )
    ledger = open_ledger(ledgers[0])
    if args.run_id is not None:
        result: RunResult = ledger.get(args.run_id.strip())
        return result
    last: RunResult | None = ledger.last()
    if last is None:
        raise LedgerError(f"ledger {ledger.path} has no runs")
    return last


def run(args: argparse.Namespace) -> int:
    """Print the report (or statement / JSON) and write the HTML file; exit 0, 1 for a missing
    ledger, unknown run id or unwritable file, 2 for bad usage."""
    from carbonsdk.report import make_console, statement

    if args.job is not None:
        return _job_report(args)
    if args.history:
        return _history(args)
    result = find_run(args)
    whatif = None if args.no_whatif else whatif_or_none(result)
    html_path = None
    if args.html:
        from carbonsdk.report.html import write_html

        try:
            html_path = write_html(result, args.html, whatif=whatif)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            print(f"carbonsdk report: error: cannot write {args.html}: {reason}", file=sys.stderr)
            return 1
    if args.json:
        from carbonsdk.ledger import result_to_record

        record: dict[str, Any] = result_to_record(result)
        if args.statement:
            record["statement"] = statement(result)
        if html_path is not None:
            record["html"] = str(html_path)
        json.dump(json_safe(record), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if args.statement:
        print(statement(result))
    elif html_path is None:
        from carbonsdk.report import RunReport

        make_console(sys.stdout).print(RunReport(result, whatif=whatif))
    if html_path is not None:
        print(f"wrote {html_path}", file=sys.stderr)
    return 0


def pricing_to_dict(result: RunResult) -> dict[str, Any]:
    """One pricing of a run as JSON-able data: when (``repriced_at``, null for the pricing at
    the end of the run), the intensity source, emissions (g CO2eq), mean intensity (g/kWh),
    the share of energy priced with estimated values (0..1), the source it replaced and the
    flags."""
    from carbonsdk.ledger import source_to_dict
    from carbonsdk.repricing import estimated_share

    data: dict[str, Any] = json_safe(
        {
            "run_id": result.run_id,
            "repriced_at": None if result.repriced_at is None else result.repriced_at.isoformat(),
            "intensity_source": source_to_dict(result.intensity_source),
            "repriced_from": None
            if result.repriced_from is None
            else source_to_dict(result.repriced_from),
            "emissions_g": result.emissions_g,
            "intensity_g_per_kwh": result.intensity_g_per_kwh,
            "estimated_share": estimated_share(result.timeline),
            "flags": list(result.flags),
        }
    )
    return data


def history_table(history: list[RunResult], width: int) -> str:
    """The pricings of one run as a plain-text table at ``width`` columns (newest last, marked
    ``*``: what the ledger's readers show)."""
    import io

    from rich import box
    from rich.table import Table

    from carbonsdk.report import format_emissions_g, format_sig, make_console
    from carbonsdk.repricing import estimated_share

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    for header, right in (
        ("#", True),
        ("priced (UTC)", False),
        ("source", False),
        ("estimated", True),
        ("g/kWh", True),
        ("CO2eq", True),
        ("replaced", False),
    ):
        table.add_column(header, justify="right" if right else "left", overflow="fold")
    for i, r in enumerate(history):
        when = r.repriced_at if r.repriced_at is not None else r.ended_at
        src = r.intensity_source
        mean = r.intensity_g_per_kwh
        table.add_row(
            f"{i}{'*' if i == len(history) - 1 else ''}",
            when.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
            + ("" if r.repriced_at is not None else " (run end)"),
            src.provider + (f" {src.zone}" if src.zone else ""),
            f"{estimated_share(r.timeline) * 100:.3g}%",
            "n/a" if mean is None else format_sig(mean),
            format_emissions_g(r.emissions_g),
            "" if r.repriced_from is None else r.repriced_from.provider,
        )
    buffer = io.StringIO()
    make_console(buffer, width=width).print(table)
    return buffer.getvalue()


def _history(args: argparse.Namespace) -> int:
    """``report --history``: every pricing of one run."""
    clashes = [
        name
        for name, given in (("--html", bool(args.html)), ("--statement", args.statement))
        if given
    ]
    if clashes:
        raise ConfigurationError(f"--history cannot be combined with {', '.join(clashes)}")
    run_id = find_run(args).run_id
    ledger = open_ledger((args.ledger or [None])[0])
    history: list[RunResult] = ledger.history(run_id)
    if args.json:
        json.dump([pricing_to_dict(r) for r in history], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    from carbonsdk.report import make_console

    console = make_console(sys.stdout)
    first = history[0]
    print(
        f"run {first.run_id} {first.name}: {len(history)} pricing(s), the newest (*) is shown "
        "by runs and report"
    )
    print(history_table(history, console.width), end="")
    return 0


def _job_report(args: argparse.Namespace) -> int:
    """``report --job``: the job-level report added up over every ledger given."""
    from carbonsdk import job_result
    from carbonsdk.report import JobReport, make_console

    clashes = [
        name
        for name, given in (
            ("RUN_ID", args.run_id is not None),
            ("--last", args.last),
            ("--html", bool(args.html)),
            ("--statement", args.statement),
            ("--history", args.history),
        )
        if given
    ]
    if clashes:
        raise ConfigurationError(f"--job cannot be combined with {', '.join(clashes)}")
    ledgers = [open_ledger(p).path for p in (args.ledger or [None])]
    job = job_result(args.job, ledgers)
    if args.json:
        from carbonsdk.ledger import job_result_to_dict

        json.dump(json_safe(job_result_to_dict(job)), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    make_console(sys.stdout).print(JobReport(job))
    return 0
