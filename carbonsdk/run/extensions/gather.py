"""``measure(gather=True)``: every rank's result goes to global rank 0 over torch.distributed,
which builds the job-level result (``run.job_result``) and writes a ``"job"`` ledger record."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from carbonsdk.model.result import RunResult
from carbonsdk.run._guard import guard
from carbonsdk.run.extension import RunExtension

if TYPE_CHECKING:
    from carbonsdk.run.run import Run

log = logging.getLogger("carbonsdk")

#: how long ``gather=True`` waits for the other ranks at the end of a run, seconds
GATHER_TIMEOUT_S = 60.0


class GatherExtension(RunExtension):
    """Runs after the ledger record is written (so a rank that never arrives loses nothing).
    Sets ``run.gather_failed`` when the job result could not be built here; any failure is
    logged and leaves the run's own result as it was."""

    name = "gather"
    observer = True

    def __init__(self) -> None:
        self._run: Run | None = None

    def start(self, run: Run) -> None:
        """Remember the run."""
        self._run = run
        run.gather_failed = False

    def finish(self, result: RunResult) -> RunResult:
        """Gather on a completed run; skip (and say so) on a failed or interrupted one, whose
        peers may never get here."""
        run = self._run
        if run is None:
            return result
        if result.status != "completed":
            log.warning(
                "carbonsdk: gather skipped on a %s run; each host's record is in its own ledger",
                result.status,
            )
            run.gather_failed = True
            return result
        self._gather(run, result)
        return result

    def _gather(self, run: Run, result: RunResult) -> None:
        from carbonsdk.distributed import gather_records, torch_distributed_ready

        if not torch_distributed_ready():
            log.warning(
                "carbonsdk: gather=True but torch.distributed is not initialised at the "
                "end of the run; each host's record is in its own ledger"
            )
            run.gather_failed = True
            return
        from carbonsdk.ledger import job_record, result_from_record, summary_record
        from carbonsdk.ledger.job import aggregate

        mine = summary_record(result) if run.role != "observer" else None
        try:
            records = gather_records(mine, timeout_s=GATHER_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - torch.distributed raises anything
            log.warning(
                "carbonsdk: gathering the job's results failed (%s); each host's record "
                "is in its own ledger",
                exc,
            )
            run.gather_failed = True
            return
        if records is None:
            return  # not rank 0
        built = False
        with guard("building the job result", level=logging.ERROR):
            runs = [result_from_record(r) for r in records]
            job_id = run.launch.job_id or f"run-{run.run_id}"
            run.job_result = aggregate(job_id, runs, gathered=True)
            if run.ledger_writer is not None:
                run.ledger_writer.write(job_record(run.job_result, records))
            built = True
        if not built:  # logged by the guard; the run's own result stays as it was
            run.gather_failed = True
