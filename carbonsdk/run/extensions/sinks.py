"""Tracker sinks: every finished run goes to what :mod:`carbonsdk.sinks` has registered
(MLflow, W&B, TensorBoard ``autolog()``); a failing sink flags the result, never raises."""

from __future__ import annotations

import attrs

from carbonsdk.model.result import RunResult
from carbonsdk.run.extension import RunExtension


class SinksExtension(RunExtension):
    """Hands the final result to the registered sinks (after the ledger write)."""

    name = "tracker sinks"
    flag = "sinks-failed"

    def finish(self, result: RunResult) -> RunResult:
        """Emit ``result``; the sinks' failure flags (``sink-failed:NAME``) are added to it."""
        from carbonsdk import sinks

        if not sinks.registered():
            return result
        flags = sinks.emit(result)
        if not flags:
            return result
        return attrs.evolve(result, flags=tuple(dict.fromkeys((*result.flags, *flags))))
