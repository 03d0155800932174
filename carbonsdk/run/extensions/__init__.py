"""The extensions a run gets from its options (:func:`extensions_for`), one module each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carbonsdk.run.extension import RunExtension

if TYPE_CHECKING:
    from carbonsdk.run.run import Run


def extensions_for(run: Run) -> list[RunExtension]:
    """The extensions of ``run``, in the order their ``finish`` runs: attribution (adds the
    process tree's share), the ledger (writes the record), tracker sinks, gather, the report.
    The live panel is stopped before any of them finishes."""
    from carbonsdk.run.extensions.sinks import SinksExtension

    options = run.options
    found: list[RunExtension] = []
    measuring = run.role != "observer"
    if measuring and options.attribution == "process" and run.devices:
        from carbonsdk.run.extensions.attribution import AttributionExtension

        found.append(AttributionExtension())
    if measuring and options.live:
        from carbonsdk.run.extensions.live import LivePanelExtension

        found.append(LivePanelExtension())
    if measuring and options.ledger is not None:
        from carbonsdk.run.extensions.ledger import LedgerExtension

        found.append(LedgerExtension(options.ledger))
    found.append(SinksExtension())
    if options.gather:
        from carbonsdk.run.extensions.gather import GatherExtension

        found.append(GatherExtension())
    if run.report_enabled:
        from carbonsdk.run.extensions.report import ReportExtension

        found.append(ReportExtension())
    return found
