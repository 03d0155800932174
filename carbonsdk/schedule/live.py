"""Live carbon-aware scheduling: wait for a low-carbon start before a job
(:func:`wait_for_low_carbon`), and pause a running job while the grid is dirty
(:class:`PausePolicy`, behind ``run.should_pause()``).
"""

from __future__ import annotations

import bisect
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from carbonsdk.clock import SYSTEM_CLOCK, Clock, to_datetime, to_epoch_s
from carbonsdk.exceptions import CarbonSDKError, ConfigurationError
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.model.region import Region
from carbonsdk.schedule.durations import duration_s, extension_s, format_duration, window_s
from carbonsdk.schedule.forecasters import UNCERTAINTY_K, worth_moving
from carbonsdk.schedule.plans import EPS_S, Grid, Plan, as_series, flexible_start, pr_runs

if TYPE_CHECKING:
    from carbonsdk.schedule.forecast import ForwardSeries

ON_INTERRUPT = ("raise", "start")
#: job length assumed by wait_for_low_carbon when duration is not given, seconds
DEFAULT_WAIT_JOB_S = 3600.0
#: wait or pause only when the backtested saving for the zone and job class, and the calibrated
#: saving of this decision, are at least this (fraction of the job's emissions)
DEFAULT_MIN_SAVING = 0.03
#: how often a live policy asks for a fresh forecast (new observations), seconds
REFORECAST_S = 3600.0


def _backtested(zone: str | None, strategy: str, job_s: float, win_s: float) -> Any:
    from carbonsdk.schedule.backtest import calibration

    try:
        return calibration(zone, strategy, job_s, win_s)
    except Exception:  # noqa: BLE001 - the table is advisory: a broken one means "not backtested"
        return None


def calibrated_saving(forecast_saving: float, cal: Any) -> float:
    """The saving a forecast promise is expected to realise: the promise scaled by the
    backtested realised / promised ratio of the zone and job class (the promise itself
    without a calibration; never above the backtested oracle)."""
    if cal is None:
        return forecast_saving
    exp = float(cal.expected_savings_fraction)
    ratio = float(cal.realised_savings_fraction) / exp if exp > 0 else 0.0
    return max(0.0, min(forecast_saving * min(ratio, 1.5), float(cal.oracle_savings_fraction)))


def _hourly(fwd: Any, now_s: float) -> tuple[Any, int, Any] | None:
    """(hourly forecast values from the hour holding ``now_s``, that hour's offset from the
    forecast's issue, its error second moment) for carbonsdk's day-ahead forecast; None for
    any other series (no error model: the gate is the saving margin alone)."""
    import math

    import numpy as np

    cov = getattr(fwd, "err_cov", None)
    if fwd is None or cov is None:
        return None
    b = fwd.series.boundaries_s
    off = math.floor((now_s - b[0]) / 3600.0 + 1e-9)
    if off < 0 or off >= len(fwd.series.values_g_per_kwh):
        return None
    return np.asarray(fwd.series.values_g_per_kwh[off:], dtype=float), off, cov


def start_gate(fwd: Any, now_s: float, job_s: float, delay_s: float) -> float | None:
    """The forecaster's error spread (fraction of the job's emissions) of the gain of
    starting a ``job_s``-second job ``delay_s`` seconds after ``now_s`` instead of now, for
    carbonsdk's day-ahead forecast (the spread the backtest's Flexible Start gate uses); None
    without an error model. The wait goes ahead when
    :func:`~carbonsdk.schedule.forecasters.worth_moving` passes on (gain, spread)."""
    import math

    import numpy as np

    from carbonsdk.schedule.backtest import pair_sigma

    got = _hourly(fwd, now_s)
    if got is None:
        return None
    _, off, cov = got
    m = max(1, math.ceil(job_s / 3600.0 - 1e-9))
    w = np.full(m, 1.0 / m)
    d = round(delay_s / 3600.0)
    base = off + np.arange(m, dtype=np.int64)
    return pair_sigma(cov, w, base + d, base)


def start_clear(fwd: Any, now_s: float, job_s: float, plan: Plan) -> bool | None:
    """Whether following the Flexible Start ``plan`` (made at ``now_s`` for a ``job_s``-second
    job) passes the live policies' rule: its forecast gain clear of the forecaster's own error
    (:func:`start_gate`, :func:`~carbonsdk.schedule.forecasters.worth_moving`). None when the
    plan starts now or the forecast has no error model."""
    if plan.delay_s <= 0:
        return None
    spread = start_gate(fwd, now_s, job_s, plan.delay_s)
    return None if spread is None else worth_moving(plan.savings_fraction, spread)


def pause_gate(
    fwd: Any,
    now_s: float,
    remaining_s: float,
    deadline_s: float,
    *,
    job_s: float | None = None,
    banked: tuple[float, float, Any] | None = None,
) -> tuple[bool, float] | None:
    """For carbonsdk's day-ahead forecast: the backtested Pause and Resume decision
    (:func:`carbonsdk.schedule.backtest.pr_decision`, the same rule and error model) for the
    hour holding ``now_s`` with ``remaining_s`` seconds of a ``job_s``-second job (default:
    all of it remains) left before ``deadline_s``: ``(run this hour, promised gain)`` -- gain
    0 when the plan is not worth following; None without an error model. ``banked``: what
    the job has behind it, as for ``pr_decision`` (shares of the job)."""
    import math

    import numpy as np

    from carbonsdk.schedule.backtest import pr_decision
    from carbonsdk.schedule.forecasters import MIN_FORECAST_SAVING

    got = _hourly(fwd, now_s)
    if got is None:
        return None
    values, off, cov = got
    m = max(1, math.ceil(remaining_s / 3600.0 - 1e-9))
    n = max(m, math.floor((deadline_s - math.floor(now_s / 3600.0) * 3600.0) / 3600.0 + 1e-9))
    f = values[:n]
    if len(f) <= m:
        return True, 0.0
    share = min(1.0, remaining_s / job_s) if job_s else 1.0
    return pr_decision(
        np.full(m, share / m),
        f,
        MIN_FORECAST_SAVING,
        cov,
        UNCERTAINTY_K["pause_and_resume"],
        offset=off,
        banked=banked,
    )


def _hour_shares(a_s: float, e_s: float, h0_s: float, job_s: float) -> dict[int, float]:
    """Share of a ``job_s``-second job per whole hour (index from ``h0_s``) for work done
    over ``[a_s, e_s)`` (epoch seconds)."""
    import math

    out: dict[int, float] = {}
    t = a_s
    while t < e_s - EPS_S:
        k = math.floor((t - h0_s) / 3600.0 + 1e-9)
        end = min(e_s, h0_s + 3600.0 * (k + 1))
        out[k] = out.get(k, 0.0) + (end - t) / job_s
        t = end
    return out


def backtest_text(cal: Any) -> str:
    """``"backtest DE 2024, 6h job, 24h delay: waiting realised 12% less CO2 on average, worse
    than starting at once in 8% of starts"``."""
    verb = "waiting" if cal.strategy == "flexible_start" else "pausing"
    return (
        f"backtest {cal.zone} {cal.year}, {cal.job_class}: {verb} realised "
        f"{cal.realised_savings_fraction:.0%} less CO2 on average, worse than starting at "
        f"once in {cal.worse_fraction:.0%} of starts"
    )


# ------------------------------------------------------------------------------ PausePolicy


@attrs.frozen
class PauseDecision:
    """One answer of :class:`PausePolicy`: ``pause`` or not, why (``reason``), the intensity
    now and the threshold (g/kWh, None when unknown), the slack (seconds the job can still
    afford to pause) and ``recheck_s`` (seconds until the answer may change)."""

    pause: bool
    reason: str
    intensity_g_per_kwh: float | None
    threshold_g_per_kwh: float | None
    slack_s: float
    recheck_s: float


class PausePolicy:
    """Online Pause and Resume for a running job (Dodge et al. 2022's P&R, made causal).

    Built from the intensity ``series`` known ahead (a forecast or the embedded typical year),
    the expected running time of the work (``duration``), the allowed ``max_extension``
    (timedelta / ``"12h"``, or a fraction of ``duration``: ``1.0`` = up to twice as long) and the
    job's ``start`` (aware datetime or epoch seconds). The deadline is
    ``start + duration + extension``.

    With ``work_done_s`` seconds of work done (running time, pauses excluded) and ``R`` seconds
    of work remaining, it plans Pause and Resume over ``[now, deadline]`` exactly as
    :func:`~carbonsdk.schedule.pause_and_resume` does (the lowest-intensity steps that add up to
    ``R``; the threshold is the highest intensity among them), and runs while ``now`` lies in a
    planned run. It re-plans at the end of each planned run or pause, so it follows the work
    actually done. It never pauses once the slack ``deadline - now - R - margin_s`` is used up,
    so the remaining work can always finish by the deadline (at the expected speed). Outside
    the series, or once the work exceeds ``duration``, it never pauses.

    Between re-plans an answer costs a comparison, so :meth:`should_pause` can be called on
    every training step.

    ``series`` may be a :class:`~carbonsdk.schedule.ForwardSeries` (what ``forward_series``
    returns): the policy then asks it again (:meth:`ForwardSeries.refreshed`) at a re-plan at
    most every ``reforecast_s`` seconds, so new observations change the plan; and, for
    carbonsdk's own forecasts (day-ahead or typical year), it never pauses when the backtest of
    the zone and job class (``carbonsdk/data/backtest.json``) realised less than
    ``min_saving_fraction``. Any re-plan whose calibrated forecast saving is below
    ``min_saving_fraction`` runs instead of pausing (``min_saving_fraction=0`` disables both).
    With carbonsdk's day-ahead forecast it also decides every ``reforecast_s`` exactly as
    :func:`carbonsdk.schedule.backtest` simulates (:func:`~carbonsdk.schedule.backtest.
    pr_decision`): it pauses only when the job's whole expected saving against starting at
    once and never pausing -- what the work done so far cost on the observed intensities, plus
    the plan for the rest -- clears ``UNCERTAINTY_K["pause_and_resume"]`` times the
    forecaster's own error spread of that saving (see ``docs/forecast.md``).
    """

    def __init__(
        self,
        series: IntensitySeries | Any,
        duration: timedelta | str | float,
        max_extension: timedelta | str | float,
        *,
        start: datetime | float,
        margin_s: float = 0.0,
        min_saving_fraction: float = DEFAULT_MIN_SAVING,
        reforecast_s: float = REFORECAST_S,
    ) -> None:
        self._forward: ForwardSeries | None = _as_forward(series)
        self.series = as_series(self._forward.series if self._forward is not None else series)
        self.duration_s = duration_s(duration)
        self.extension_s = extension_s(max_extension, self.duration_s)
        if isinstance(start, datetime):
            self.start_s = to_epoch_s(start)
        elif isinstance(start, int | float) and not isinstance(start, bool):
            self.start_s = float(start)
        else:
            raise ConfigurationError(
                f"start={start!r} is not valid: expected an aware datetime or epoch seconds"
            )
        if not (0 <= margin_s < float("inf")):
            raise ConfigurationError(f"margin_s={margin_s!r} is not valid: expected >= 0")
        self.margin_s = float(margin_s)
        if not (0.0 <= min_saving_fraction < 1.0):
            raise ConfigurationError(
                f"min_saving_fraction={min_saving_fraction!r} is not valid: expected 0 <= x < 1"
            )
        if not (0 < reforecast_s < float("inf")):
            raise ConfigurationError(f"reforecast_s={reforecast_s!r} is not valid: expected > 0")
        self.min_saving_fraction = float(min_saving_fraction)
        self.reforecast_s = float(reforecast_s)
        self.deadline_s = self.start_s + self.duration_s + self.extension_s
        own = self._forward is not None and self._forward.kind in ("day-ahead", "typical")
        self.calibration = (
            _backtested(
                self.series.source.zone, "pause_and_resume", self.duration_s, self.extension_s
            )
            if own
            else None
        )
        #: True when the backtest says pausing does not pay here: the policy never pauses
        self.not_worth_it = (
            self.calibration is not None
            and self.min_saving_fraction > 0
            and self.calibration.realised_savings_fraction < self.min_saving_fraction
        )
        self._forecast_at = self.start_s
        self.forecast_saving_fraction: float | None = None
        # the current plan: valid over [_from_s, _until_s), run or pause, its threshold
        self._from_s = float("inf")
        self._until_s = float("-inf")
        self._running = True
        self._threshold: float | None = None
        self.replans = 0
        # when work was done (epoch-second intervals), from the work_done_s of each call
        self._work: list[tuple[float, float]] = []
        self._last_call: tuple[float, float] | None = None

    def __repr__(self) -> str:
        return (
            f"PausePolicy(duration={format_duration(self.duration_s)}, extension="
            f"{format_duration(self.extension_s)}, deadline="
            f"{to_datetime(self.deadline_s).isoformat()})"
        )

    def plan_runs(self, now_epoch_s: float, work_done_s: float) -> list[tuple[float, float]]:
        """Pause and Resume's run intervals (epoch seconds) for the remaining work over
        ``[now, deadline]`` on the known series (empty when nothing remains)."""
        remaining = self.duration_s - work_done_s
        hi = min(self.deadline_s, self.series.boundaries_s[-1])
        lo = max(now_epoch_s, self.series.boundaries_s[0])
        if remaining <= 0 or hi <= lo:
            return []
        grid = Grid(self.series.slice(lo, hi))
        return pr_runs(grid, lo, hi, remaining)

    def threshold_g_per_kwh(self, now_epoch_s: float, work_done_s: float) -> float | None:
        """The highest intensity (g/kWh) among the steps Pause and Resume would run in over
        ``[now, deadline]``; None when nothing remains."""
        runs = self.plan_runs(now_epoch_s, work_done_s)
        return self._max_in(runs)

    def _max_in(self, runs: list[tuple[float, float]]) -> float | None:
        best: float | None = None
        b = self.series.boundaries_s
        v = self.series.values_g_per_kwh
        for a, e in runs:
            i = max(0, bisect.bisect_right(b, a) - 1)
            while i < len(v) and b[i] < e - EPS_S:
                best = v[i] if best is None else max(best, v[i])
                i += 1
        return best

    def _mean_over(self, runs: list[tuple[float, float]]) -> float | None:
        """Time-weighted mean intensity (g/kWh) of the series over ``runs``."""
        grid = Grid(self.series)
        total = acc = 0.0
        for a, e in runs:
            lo = max(a, grid.bounds[0])
            hi = min(e, grid.bounds[-1])
            if hi <= lo:
                continue
            ia, ie = grid.index(lo), grid.index(hi - EPS_S)
            acc += (
                grid.prefix[ie + 1]
                - grid.prefix[ia]
                - grid.values[ia] * (lo - grid.bounds[ia])
                - grid.values[ie] * (grid.bounds[ie + 1] - hi)
            )
            total += hi - lo
        return acc / total if total > 0 else None

    def _refresh(self, now: float) -> None:
        if self._forward is None or now - self._forecast_at < self.reforecast_s - EPS_S:
            return
        self._forecast_at = now
        fresh = self._forward.refreshed(now)
        if fresh is not self._forward:
            self._forward = fresh
            self.series = fresh.series

    def _note_work(self, now: float, work_done_s: float) -> None:
        """Record when the work reported since the last call was done (the latest seconds
        before ``now``)."""
        last = self._last_call
        self._last_call = (now, work_done_s)
        if last is None or now <= last[0]:
            return
        delta = min(work_done_s - last[1], now - last[0])
        if delta > EPS_S:
            a = now - delta
            if self._work and a <= self._work[-1][1] + EPS_S:
                self._work[-1] = (self._work[-1][0], now)  # ran on: one interval, not one per step
            else:
                self._work.append((a, now))

    def _banked(self, now: float) -> tuple[float, float, Any] | None:
        """What the job has behind it at ``now``, for the backtested Pause and Resume rule:
        (cost of the work done, on the observed intensities -- the forecast for the current
        hour; cost of the straight run's hours before this one, observed; the straight run's
        shares of this hour and the next ones), all per unit of the job's energy. None when an
        hour it needs was not observed."""
        import math

        import numpy as np

        fwd = self._forward
        obs = getattr(fwd, "observed", None)
        if fwd is None or obs is None:
            return None
        o0, ov = obs
        h_now = math.floor(now / 3600.0) * 3600.0
        i_now = self.series.index_at(now)
        if i_now is None:
            return None
        f0 = self.series.values_g_per_kwh[i_now]

        def at(k_abs: float) -> float | None:
            if k_abs >= h_now - EPS_S:
                return float(f0)
            i = math.floor((k_abs - o0) / 3600.0 + 1e-9)
            if 0 <= i < len(ov) and math.isfinite(float(ov[i])):
                return float(ov[i])
            return None

        spent = 0.0
        for a, e in self._work:
            for k, share in _hour_shares(a, e, h_now, self.duration_s).items():
                v = at(h_now + 3600.0 * k)
                if v is None:
                    return None
                spent += share * v
        straight = _hour_shares(
            self.start_s, self.start_s + self.duration_s, h_now, self.duration_s
        )
        known = 0.0
        ahead = np.zeros(max([k + 1 for k in straight if k >= 0] or [0]))
        for k, share in straight.items():
            if k < 0:
                v = at(h_now + 3600.0 * k)
                if v is None:
                    return None
                known += share * v
            else:
                ahead[k] += share
        return spent, known, ahead

    def _replan(self, now: float, work_done_s: float) -> None:
        self.replans += 1
        self._refresh(now)
        runs = self.plan_runs(now, work_done_s)
        self._threshold = self._max_in(runs)
        self._from_s = now
        remaining = self.duration_s - work_done_s
        planned = self._mean_over(runs)
        straight = self._mean_over([(now, now + remaining)])
        pauses_now = bool(runs) and runs[0][0] > now + EPS_S
        if planned is not None and straight:
            promise = 1.0 - planned / straight
            self.forecast_saving_fraction = promise
            gate = (
                pause_gate(
                    self._forward,
                    now,
                    remaining,
                    self.deadline_s,
                    job_s=self.duration_s,
                    banked=self._banked(now),
                )
                if pauses_now
                else None
            )
            # carbonsdk's day-ahead forecast: also the backtested decision rule (gain floor and
            # the forecaster's error spread), so the backtest describes what runs here
            hold = pauses_now and (
                calibrated_saving(promise, self.calibration) < self.min_saving_fraction
                or (gate is not None and gate[0])
            )
            if hold:
                # not worth pausing on this forecast: run until the next re-forecast
                self._running = True
                self._until_s = now + min(self.reforecast_s, max(remaining, EPS_S))
                return
        # with carbonsdk's day-ahead forecast, decide again every re-forecast, as the backtest
        cap = (
            now + self.reforecast_s
            if getattr(self._forward, "err_cov", None) is not None
            else float("inf")
        )
        for a, e in runs:
            if a <= now + EPS_S and now < e - EPS_S:
                self._running, self._until_s = True, min(e, cap)
                return
            if a > now:
                self._running, self._until_s = False, min(a, cap)
                return
        # nothing planned after now (the series ends): run
        self._running, self._until_s = True, float("inf")

    def decide(self, now_epoch_s: float, work_done_s: float) -> PauseDecision:
        """The full decision at ``now_epoch_s`` with ``work_done_s`` seconds of work done."""
        self._note_work(now_epoch_s, work_done_s)
        remaining = self.duration_s - work_done_s
        slack = self.deadline_s - now_epoch_s - max(0.0, remaining) - self.margin_s
        idx = self.series.index_at(now_epoch_s)
        value = None if idx is None else self.series.values_g_per_kwh[idx]
        if remaining <= 0:
            return PauseDecision(
                False,
                "the expected work is done: never pause now",
                value,
                None,
                slack,
                float("inf"),
            )
        if idx is None:
            return PauseDecision(
                False, "no intensity known for now: not pausing", None, None, slack, float("inf")
            )
        current = self.series.values_g_per_kwh[idx]
        if slack <= EPS_S:
            return PauseDecision(
                False,
                "no slack left: the remaining work needs all the time until the deadline",
                current,
                None,
                slack,
                float("inf"),
            )
        if self.not_worth_it and self.calibration is not None:
            return PauseDecision(
                False,
                "never pausing: pausing is not expected to help here ("
                f"{backtest_text(self.calibration)})",
                current,
                None,
                slack,
                float("inf"),
            )
        if not (self._from_s <= now_epoch_s < self._until_s):
            self._replan(now_epoch_s, work_done_s)
        threshold = self._threshold
        shown = "" if threshold is None else f" (threshold {threshold:.0f} g/kWh)"
        until = self._until_s - now_epoch_s
        if not self._running:
            return PauseDecision(
                True,
                f"intensity {current:.0f} g/kWh: paused until the next "
                f"low-carbon run in {format_duration(until)}{shown}",
                current,
                threshold,
                slack,
                min(until, slack),
            )
        return PauseDecision(
            False,
            f"intensity {current:.0f} g/kWh: in a low-carbon run{shown}",
            current,
            threshold,
            slack,
            until,
        )

    def should_pause(self, now_epoch_s: float, work_done_s: float) -> bool:
        """True when the job should be paused now (``now_epoch_s``: UTC epoch seconds;
        ``work_done_s``: running time so far, pauses excluded)."""
        return self.decide(now_epoch_s, work_done_s).pause

    def recheck_s(self, now_epoch_s: float, work_done_s: float) -> float:
        """Seconds until the answer may change (the end of the current step, or the moment the
        slack runs out while paused); a paused caller should check again by then."""
        return self.decide(now_epoch_s, work_done_s).recheck_s


def _as_forward(obj: object) -> ForwardSeries | None:
    from carbonsdk.schedule.forecast import ForwardSeries

    return obj if isinstance(obj, ForwardSeries) else None


# ------------------------------------------------------------------------ wait_for_low_carbon


@attrs.frozen
class WaitDecision:
    """What :func:`wait_for_low_carbon` decided and did.

    ``region``: where; ``decided_at``: when it planned; ``planned_start``: the start chosen;
    ``started_at``: when it returned; ``waited_s``: seconds it blocked; ``plan``: the Flexible
    Start plan (None when it could not plan); ``forecast``: where the intensity came from
    (``"electricitymaps forecast"``, ``"embedded typical year (no forecast)"``, ...);
    ``reason``: why, in words; ``interrupted``: Ctrl-C ended the wait early.
    ``backtest``: the :class:`~carbonsdk.schedule.backtest.Calibration` of this zone and job
    class when carbonsdk forecast the intensity itself (None otherwise); ``calibrated_savings_
    fraction``: the saving the wait is expected to *realise* (the forecast's promise scaled by
    the backtest; None when nothing was calibrated); ``replans``: re-forecasts while waiting.
    """

    region: Region
    decided_at: datetime
    planned_start: datetime
    started_at: datetime
    waited_s: float
    plan: Plan | None
    forecast: str
    reason: str
    interrupted: bool = False
    backtest: Any = None
    calibrated_savings_fraction: float | None = None
    replans: int = 0

    @property
    def expected_savings_fraction(self) -> float:
        """The saving expected vs starting immediately: the calibrated one where there is a
        backtest, else the plan's own (0 without a plan or when starting at once)."""
        if self.planned_start <= self.decided_at:
            return 0.0
        if self.calibrated_savings_fraction is not None:
            return self.calibrated_savings_fraction
        return self.plan.savings_fraction if self.plan is not None else 0.0

    @property
    def forecast_savings_fraction(self) -> float:
        """The saving the forecast itself promised (0 without a plan)."""
        return self.plan.savings_fraction if self.plan is not None else 0.0


class _Progress:
    """A one-line progress display on a text stream (redrawn in place on a terminal)."""

    def __init__(self, stream: TextIO | None, enabled: bool) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self._drawn = False

    def line(self, text: str) -> None:
        if self.enabled:
            self._write(text + "\n")

    def update(self, text: str) -> None:
        if self.enabled and self.tty:
            self._write("\r" + text[:120].ljust(min(120, len(text) + 2)))
            self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self._write("\r" + " " * 120 + "\r")
            self._drawn = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False


def _bar(done: float, total: float, width: int = 24) -> str:
    frac = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
    full = round(frac * width)
    return "[" + "#" * full + "." * (width - full) + "]"


def wait_for_low_carbon(
    *,
    region: str | Region | None = None,
    max_delay: timedelta | str,
    duration: timedelta | str | float | None = None,
    provider: Any = None,
    series: IntensitySeries | Any = None,
    clock: Clock | None = None,
    sleep: Callable[[float], None] | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
    on_interrupt: str = "raise",
    tick_s: float = 1.0,
    min_saving_fraction: float = DEFAULT_MIN_SAVING,
    reforecast_s: float = REFORECAST_S,
) -> WaitDecision:
    """Block until the lowest-carbon start within ``max_delay`` (Flexible Start on the forecast
    ahead), then return what was decided and why.

    ``region``: as for ``measure`` (None: ``CARBONSDK_REGION``, then cloud metadata).
    ``max_delay``: timedelta or ``"6h"`` (or ``"50%"`` of ``duration``). ``duration``: the job's
    expected running time (default: its first hour). ``provider``: where the forecast comes from
    (None: a live provider's forecast when configured, else carbonsdk's day-ahead forecaster on
    recent observations, else the embedded typical year). ``series``: use this intensity series
    (or pairs, or a ForwardSeries) instead of asking a provider. ``min_saving_fraction``: wait
    only when the saving expected to be *realised* is at least this -- for carbonsdk's own
    forecasts, the backtest of the zone and job class (``carbonsdk/data/backtest.json``) must
    clear it and the forecast's promise is scaled by that backtest; for other forecasts the
    promise itself must clear it. With carbonsdk's day-ahead forecast, the forecast gain must
    also clear ``UNCERTAINTY_K["flexible_start"]`` times the forecaster's own error spread of
    that gain (the rule :func:`carbonsdk.schedule.backtest` simulates, so the backtested
    numbers describe this function). ``reforecast_s``: while waiting on a forecast it can ask
    again, it re-forecasts this often and starts early when the new plan says now (or no
    longer clears the rules).
    ``clock``/``sleep``: injectable (tests). ``progress``: a one-line countdown on ``stream``
    (default stderr). ``on_interrupt``: ``"raise"`` re-raises Ctrl-C after clearing the
    display; ``"start"`` returns at once with ``interrupted=True`` so the job starts now.
    Provider faults never raise: the wait falls back to the embedded typical year, or to
    starting now, and says so in ``reason``.
    """
    if on_interrupt not in ON_INTERRUPT:
        raise ConfigurationError(
            f"on_interrupt={on_interrupt!r} is not valid: expected one of {ON_INTERRUPT}"
        )
    if not (0 < tick_s < float("inf")):
        raise ConfigurationError(f"tick_s={tick_s!r} is not valid: expected seconds > 0")
    if not (0.0 <= min_saving_fraction < 1.0):
        raise ConfigurationError(
            f"min_saving_fraction={min_saving_fraction!r} is not valid: expected 0 <= x < 1"
        )
    if not (0 < reforecast_s < float("inf")):
        raise ConfigurationError(f"reforecast_s={reforecast_s!r} is not valid: expected > 0")
    clk = clock if clock is not None else SYSTEM_CLOCK
    do_sleep = sleep if sleep is not None else time.sleep
    job_s = DEFAULT_WAIT_JOB_S if duration is None else duration_s(duration)
    delay_s = window_s(max_delay, job_s, name="max_delay")
    from carbonsdk.region import resolve_region

    where = region if isinstance(region, Region) else resolve_region(region)
    now_s = clk.time()
    now = to_datetime(now_s)
    latest_s = now_s + delay_s
    out = _Progress(stream, progress)

    def immediate(
        reason: str, forecast: str = "none", plan: Plan | None = None, cal: Any = None
    ) -> WaitDecision:
        out.line(f"carbonsdk: starting now: {reason}")
        return WaitDecision(
            where, now, now, to_datetime(clk.time()), 0.0, plan, forecast, reason, backtest=cal
        )

    from carbonsdk.schedule.forecast import ForwardSeries, forward_series

    fwd: ForwardSeries | None = None
    if series is not None:
        if isinstance(series, ForwardSeries):
            fwd, fwd_series, forecast_text = series, series.series, series.description
        else:
            fwd_series, forecast_text = as_series(series), "given series"
    else:
        if not where.known:
            return immediate(
                "region unknown, so there is no intensity to plan with (pass region=...)"
            )
        try:
            fwd = forward_series(where, now_s, now_s + delay_s + job_s, provider=provider)
        except ConfigurationError:
            raise
        except (CarbonSDKError, OSError, ValueError, KeyError) as exc:
            return immediate(f"no intensity available ({type(exc).__name__}: {exc})")
        fwd_series, forecast_text = fwd.series, fwd.description
    own = fwd is not None and fwd.kind in ("day-ahead", "typical")
    cal = (
        _backtested(fwd_series.source.zone or where.zone, "flexible_start", job_s, delay_s)
        if own
        else None
    )
    if (
        cal is not None
        and min_saving_fraction > 0
        and (cal.realised_savings_fraction < min_saving_fraction)
    ):
        return immediate(
            f"waiting is not expected to help here ({backtest_text(cal)}; "
            f"the margin is {min_saving_fraction:.0%})",
            forecast_text,
            None,
            cal,
        )

    def make_plan(at_s: float, series_now: IntensitySeries) -> Plan:
        return flexible_start(
            series_now,
            job_s,
            timedelta(seconds=max(0.0, latest_s - at_s)),
            start=to_datetime(at_s),
            fill="typical" if series_now.source.zone else None,
        )

    try:
        plan = make_plan(now_s, fwd_series)
    except CarbonSDKError as exc:
        return immediate(f"could not plan ({exc})", forecast_text, cal=cal)
    target_s = plan.start.timestamp()
    wait_s = target_s - now_s
    promise = plan.savings_fraction
    shown = calibrated_saving(promise, cal)
    if wait_s <= EPS_S:
        return immediate(
            f"now is already the lowest-carbon start within {format_duration(delay_s)} "
            f"({plan.baseline_intensity_g_per_kwh:.0f} g/kWh, {forecast_text})",
            forecast_text,
            plan,
            cal,
        )
    spread = start_gate(fwd, now_s, job_s, wait_s)
    if spread is not None and not worth_moving(promise, spread):
        return immediate(
            f"waiting is not expected to help here: the best start within "
            f"{format_duration(delay_s)} saves {promise:.1%} on the forecast, not clear of "
            f"the forecast's own error ({UNCERTAINTY_K['flexible_start']:g} x {spread:.1%}; "
            f"{forecast_text})",
            forecast_text,
            plan,
            cal,
        )
    if shown < min_saving_fraction:
        what = (
            f"is expected to save {shown:.1%} (backtested)"
            if cal is not None
            else f"saves {promise:.1%} on the forecast"
        )
        return immediate(
            f"waiting is not expected to help here: the best start within "
            f"{format_duration(delay_s)} {what}, below the {min_saving_fraction:.0%} "
            f"margin ({forecast_text})",
            forecast_text,
            plan,
            cal,
        )
    told = (
        f"{shown:.0%} less CO2 expected ({backtest_text(cal)}; the forecast promises {promise:.0%})"
        if cal is not None
        else f"{promise:.0%} less CO2"
    )
    reason = (
        f"waiting {format_duration(wait_s)} for {plan.intensity_g_per_kwh:.0f} instead of "
        f"{plan.baseline_intensity_g_per_kwh:.0f} g/kWh ({told} for a "
        f"{format_duration(job_s)} job, {forecast_text})"
    )
    label = where.label
    out.line(
        f"carbonsdk: {label}: {reason}; starting at "
        f"{plan.start.strftime('%Y-%m-%d %H:%M UTC')} (Ctrl-C to "
        f"{'stop' if on_interrupt == 'raise' else 'start now'})"
    )
    mono0 = clk.monotonic()
    last_forecast = mono0
    replans = 0
    try:
        while True:
            elapsed = clk.monotonic() - mono0
            left = wait_s - elapsed
            if left <= 0:
                break
            if fwd is not None and clk.monotonic() - last_forecast >= reforecast_s - EPS_S:
                last_forecast = clk.monotonic()
                at_s = clk.time()
                fresh = fwd.refreshed(at_s)
                if fresh is not fwd:
                    fwd = fresh
                    replans += 1
                    try:
                        again = make_plan(at_s, fresh.series)
                    except CarbonSDKError:
                        again = None
                    if again is not None:
                        new_shown = calibrated_saving(again.savings_fraction, cal)
                        new_wait = again.start.timestamp() - at_s
                        spread = start_gate(fresh, at_s, job_s, new_wait)
                        weak = new_shown < min_saving_fraction or (
                            spread is not None and not worth_moving(again.savings_fraction, spread)
                        )
                        if again.start.timestamp() <= at_s + EPS_S or weak:
                            out.clear()
                            out.line("carbonsdk: re-forecast: starting now")
                            plan = again
                            break
                        plan, shown = again, new_shown
                        wait_s = again.start.timestamp() - now_s
                        continue
            out.update(
                f"carbonsdk: {_bar(elapsed, wait_s)} starting in "
                f"{format_duration(left)} ({shown:.0%} less CO2)"
            )
            do_sleep(min(left, tick_s, reforecast_s))
    except KeyboardInterrupt:
        out.clear()
        waited = clk.monotonic() - mono0
        if on_interrupt == "raise":
            out.line(f"carbonsdk: wait interrupted after {format_duration(waited)}")
            raise
        out.line(f"carbonsdk: wait interrupted after {format_duration(waited)}: starting now")
        return WaitDecision(
            where,
            now,
            plan.start,
            to_datetime(clk.time()),
            waited,
            plan,
            forecast_text,
            f"interrupted after {format_duration(waited)}; planned: {reason}",
            interrupted=True,
            backtest=cal,
            calibrated_savings_fraction=shown if cal is not None else None,
            replans=replans,
        )
    out.clear()
    waited = clk.monotonic() - mono0
    out.line(f"carbonsdk: starting now ({plan.intensity_g_per_kwh:.0f} g/kWh expected)")
    return WaitDecision(
        where,
        now,
        plan.start,
        to_datetime(clk.time()),
        waited,
        plan,
        forecast_text,
        reason,
        backtest=cal,
        calibrated_savings_fraction=shown if cal is not None else None,
        replans=replans,
    )
