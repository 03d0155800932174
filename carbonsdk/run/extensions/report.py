"""The end-of-run report on stderr: the run's own, or the job's on rank 0 after a gather. The
what-if it shows is computed here and handed to the report, which never runs the scheduler."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from carbonsdk.model.result import RunResult
from carbonsdk.run._guard import guard
from carbonsdk.run.extension import RunExtension

if TYPE_CHECKING:
    from carbonsdk.run.run import Run


class ReportExtension(RunExtension):
    """Prints :func:`carbonsdk.report.print_report` last, after ledger, sinks and gather."""

    name = "report"
    observer = True

    def __init__(self) -> None:
        self._run: Run | None = None

    def start(self, run: Run) -> None:
        """Remember the run."""
        self._run = run

    def finish(self, result: RunResult) -> RunResult:
        """Print the report (the job's on the rank that gathered it; none on an observer or a
        rank whose report the job report replaces)."""
        from carbonsdk.report import print_report

        run = self._run
        if run is None:
            return result
        if run.job_result is not None:
            print_report(run.job_result)
        elif run.role != "observer" and (not run.options.gather or run.gather_failed):
            whatif: Any = None
            with guard("what-if for the report", level=logging.DEBUG):
                from carbonsdk.schedule import whatif_for_run

                whatif = whatif_for_run(result)
            print_report(result, whatif=whatif)
        return result
