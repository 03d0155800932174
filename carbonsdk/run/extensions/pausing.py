"""``run.should_pause()``: online Pause and Resume for a training loop, and the pauses it made."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.model.result import PauseEvent
from carbonsdk.run.extension import RunExtension

if TYPE_CHECKING:
    from carbonsdk.run.run import Run


def extension_of(run: Run) -> PausingExtension:
    """``run``'s pausing extension (``run.pausing``), made on the first ``should_pause`` call
    and put first among the run's extensions. Raises ``RuntimeError`` outside a running run."""
    if not run.running or run.sampler is None:
        raise RuntimeError("should_pause() is only meaningful inside a running measure()")
    if run.pausing is None:
        run.pausing = PausingExtension(run)
        run.extensions.insert(0, run.pausing)
    return run.pausing


class PausingExtension(RunExtension):
    """Holds the run's pause policy (created on the first ``should_pause`` call) and its pause
    events; the result's ``pauses`` come from :meth:`pauses`."""

    name = "pausing"

    def __init__(self, run: Run) -> None:
        self._run = run
        self._policy: Any = None
        self._events: list[PauseEvent] = []
        self._paused_since: float | None = None

    def pauses(self, *, open_ok: bool) -> tuple[PauseEvent, ...]:
        """The pauses so far; with ``open_ok`` a pause still in progress is included with
        ``end=None``."""
        if open_ok and self._paused_since is not None:
            return (*self._events, PauseEvent(to_datetime(self._paused_since), None))
        return tuple(self._events)

    def should_pause(
        self,
        duration: Any,
        max_extension: Any,
        forecast: IntensitySeries | None,
        margin_s: float,
        block: bool,
    ) -> bool:
        """See :meth:`carbonsdk.run.run.Run.should_pause`."""
        run = self._run
        assert run.sampler is not None
        if self._policy is None:
            self._policy = self._make_policy(duration, max_extension, forecast, margin_s)
        while True:
            now_s = run.sampler.now_s()
            decision = self._policy.decide(now_s, self._work_done_s(now_s))
            self._record(decision.pause, now_s)
            if not (block and decision.pause):
                return bool(decision.pause)
            time.sleep(max(0.5, min(decision.recheck_s, 60.0)))

    def _make_policy(
        self,
        duration: Any,
        max_extension: Any,
        forecast: IntensitySeries | None,
        margin_s: float,
    ) -> Any:
        if duration is None:
            raise ConfigurationError(
                "should_pause(duration=...) is required on the first call: the expected "
                "running time of the whole run, e.g. duration='6h'"
            )
        from carbonsdk.schedule import PausePolicy
        from carbonsdk.schedule.durations import duration_s, extension_s

        run = self._run
        total_s = duration_s(duration)
        deadline_s = run.start_s + total_s + extension_s(max_extension, total_s)
        ahead: Any = forecast
        if ahead is None:
            from carbonsdk.schedule import forward_series

            region = run.region
            if not region.known:
                raise ConfigurationError(
                    "should_pause() needs the run's region: pass region= to measure() "
                    "(e.g. 'aws:us-east-1' or 'DE') or a forecast= series"
                )
            # the forecast object itself: the policy re-forecasts as observations arrive and
            # applies the backtested margin for the zone
            ahead = forward_series(
                region, run.start_s, deadline_s + 3600.0, provider=run.options.intensity
            )
        return PausePolicy(ahead, total_s, max_extension, start=run.start_s, margin_s=margin_s)

    def _work_done_s(self, now_s: float) -> float:
        paused = sum((p.end - p.start).total_seconds() for p in self._events if p.end)
        if self._paused_since is not None:
            paused += now_s - self._paused_since
        return max(0.0, now_s - self._run.start_s - paused)

    def _record(self, pause: bool, now_s: float) -> None:
        if pause and self._paused_since is None:
            self._paused_since = now_s
        elif not pause and self._paused_since is not None:
            self._events.append(PauseEvent(to_datetime(self._paused_since), to_datetime(now_s)))
            self._paused_since = None
