"""The run in the ledger: crash-safe checkpoints while it runs, the record when it ends.

Checkpoints (every ``checkpoint_s``) carry the intervals since the previous one, merged into
UTC-aligned buckets, and the marks since the previous one; every
:data:`CHECKPOINT_FULL_EVERY`-th carries the run's metadata again. Before the end of a run
waits on the network (a live provider), a last checkpoint makes the whole measurement durable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from carbonsdk.accounting import align, extend_to_cover, intervals
from carbonsdk.model.energy import EnergySeries
from carbonsdk.model.result import RunResult
from carbonsdk.run.extension import RunExtension
from carbonsdk.timeline import bucketize

if TYPE_CHECKING:
    from carbonsdk.ledger import LedgerWriter
    from carbonsdk.run.run import Run

log = logging.getLogger("carbonsdk")

#: checkpoint intervals are merged into UTC-aligned buckets of this many seconds
CHECKPOINT_BUCKET_S = 60.0
#: every this many checkpoints, one carries the run's full metadata again
CHECKPOINT_FULL_EVERY = 60


class LedgerExtension(RunExtension):
    """Owns the run's :class:`~carbonsdk.ledger.LedgerWriter` (also used by gather for the job
    record, as ``run.ledger_writer``)."""

    name = "ledger"
    flag = "ledger-write-failed"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._run: Run | None = None
        self._writer: LedgerWriter | None = None
        self._seq = 0
        self._until_s: float | None = None
        self._marks_written = 0

    def start(self, run: Run) -> None:
        """Open the writer (nothing is written yet)."""
        from carbonsdk.ledger import LedgerWriter

        self._run = run
        self._writer = LedgerWriter(self.path)
        run.ledger_writer = self._writer

    def after_tick(self, now_s: float) -> None:
        """A checkpoint when ``checkpoint_s`` has passed since the last one."""
        run = self._run
        if run is None or self._writer is None:
            return
        if self._until_s is None or now_s - self._until_s >= run.options.checkpoint_s:
            self.checkpoint()

    def before_finish(self, end_s: float) -> None:
        """With a live provider, make everything durable before the end-of-run network wait: a
        Ctrl-C or SIGTERM during the lookup then loses nothing (rebuilt from checkpoints)."""
        from carbonsdk.intensity.choose import is_local

        run = self._run
        if run is not None and self._writer is not None and not is_local(run.resolver.provider()):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Write the intervals and marks since the previous checkpoint."""
        from carbonsdk.ledger import checkpoint_record
        from carbonsdk.run.resolve import unpriced

        run, writer = self._run, self._writer
        assert run is not None and writer is not None and run.timeline is not None
        with run.lock:
            end_s = run.timeline.end_s or run.start_s
            energy = run.timeline.snapshot(since_s=self._until_s)
        region = run.region
        series = run.resolver.provisional_series(region, run.start_s, end_s)
        b_starts, b_ends, b_energy = bucketize(
            energy.starts_s, energy.ends_s, energy.energy_j, CHECKPOINT_BUCKET_S
        )
        coarse = EnergySeries(
            energy.components,
            tuple(b_starts),
            tuple(b_ends),
            {c: tuple(v) for c, v in b_energy.items()},
        )
        aligned = align(coarse, extend_to_cover(series, run.start_s, end_s), pue=run.options.pue)
        partial = run.build("interrupted", end_s, unpriced(region, series.source), None)
        full = self._seq % CHECKPOINT_FULL_EVERY == 0
        record = checkpoint_record(
            partial, self._seq, intervals(aligned), full=full, marks_from=self._marks_written
        )
        self._marks_written = len(partial.marks)
        writer.write(record)
        self._seq += 1
        self._until_s = end_s

    def finish(self, result: RunResult) -> RunResult:
        """Write the run's record; flag it when it is not on disk (yet)."""
        from carbonsdk.ledger import result_to_record

        writer = self._writer
        if writer is None:
            return result
        if writer.write(result_to_record(result)):
            return result
        log.warning(
            "carbonsdk: run %s could not be written to %s: %s",
            result.run_id,
            writer.path,
            writer.last_error,
        )
        flags = writer.failure_flags() or ("ledger-write-failed",)
        return attrs.evolve(result, flags=tuple(dict.fromkeys((*result.flags, *flags))))
