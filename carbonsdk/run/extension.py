"""What a run does besides measuring: the extension protocol.

A :class:`~carbonsdk.run.run.Run` measures (sampler subscription, timeline, marks) and hands the
rest to its extensions: checkpoints and the final ledger record, the live panel, process
attribution, gathering a distributed job, tracker sinks, the report. Each hook is called through
:func:`carbonsdk.run._guard.guard`, so a failing extension logs once, flags the run and never
reaches the user's code.

Order of calls: ``start`` after the run subscribed to the sampler; ``on_interval`` under the
sampler's lock for every measured interval (only for extensions with ``wants_intervals``: it is
the hot path); ``after_tick`` from the sampler thread after each periodic read; at the end
``before_finish`` once the measurement has stopped (before any network wait: the place to make
things durable), then ``finish`` in order, each handed the result the previous one returned (through
:func:`finish_guarded`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import attrs

from carbonsdk.run._guard import guard

if TYPE_CHECKING:
    from carbonsdk.model.result import RunResult
    from carbonsdk.run.run import Run


class RunExtension:
    """Base of the extensions: every hook does nothing. ``name`` names the extension in logs;
    ``flag`` is added to the result when one of its hooks fails; ``wants_intervals`` asks for
    :meth:`on_interval` calls; ``observer`` says it also runs for an observer rank (a rank that
    measures nothing because another rank of its host does)."""

    name: ClassVar[str] = "extension"
    flag: ClassVar[str | None] = None
    wants_intervals: ClassVar[bool] = False
    observer: ClassVar[bool] = False

    def start(self, run: Run) -> None:
        """The run has started measuring (its devices, start time and timeline exist)."""

    def on_interval(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Energy per device key (J) over ``[start_s, end_s)`` (UTC epoch s); must be cheap."""

    def after_tick(self, now_s: float) -> None:
        """Periodic work on the sampler thread after a read (``now_s``: UTC epoch s)."""

    def before_finish(self, end_s: float) -> None:
        """The measurement ended at ``end_s`` (UTC epoch s); nothing has waited on the network."""

    def finish(self, result: RunResult) -> RunResult:
        """The run's result so far; return it, or an evolved copy."""
        return result


def finish_guarded(ext: RunExtension, result: RunResult) -> RunResult:
    """``ext.finish(result)`` through the guard: when it fails, the result it was handed, with
    ``ext.flag`` added to its flags (when the extension has one)."""
    failed: list[str] = []
    out = result
    with guard(f"{ext.name} finish", flags=failed, flag=ext.flag):
        out = ext.finish(result)
    if failed:
        out = attrs.evolve(result, flags=tuple(dict.fromkeys((*result.flags, *failed))))
    return out
