"""Backtest carbon-aware scheduling against real intensity: what a forecaster-driven live policy
would have *realised*, next to what it promised and to the oracle (perfect foresight).

At each of ``n_starts`` start times drawn from the series (seeded), the forecaster sees only the
hours before each decision (plus the zone's embedded profile, built from embedded years that do
not overlap the tested series, so a backtest on embedded data does not peek). The live policy is
simulated hour by hour as carbonsdk runs it:

- **Flexible Start**: every hour until the latest start, re-forecast and plan the best start in
  what is left of the window; start when the plan says *now*, or when its forecast gain is
  below ``min_forecast_saving`` or below ``k`` times the forecaster's own error spread of that
  gain (:func:`fs_choice`); at the latest start at the latest.
- **Pause and Resume**: every hour until the work is done, re-forecast up to the deadline and
  plan the remaining work (order-preserving, energy x intensity, exact on the hourly grid); run
  this hour when the plan runs now, when no slack is left, or when pausing does not clear the
  gate: the plan's gain below ``min_forecast_saving``, or the job's whole expected saving
  against the straight run (the work done so far on the actual intensities, plus the plan)
  below ``k`` times the forecaster's error spread of it (:func:`pr_decision`).

The gate (:func:`carbonsdk.schedule.forecasters.worth_moving`) and ``k`` per strategy
(:data:`~carbonsdk.schedule.forecasters.UNCERTAINTY_K`) are the ones ``wait_for_low_carbon``,
``run.should_pause()`` and ``carbonsdk plan`` use with carbonsdk's day-ahead forecast; the
error spread comes from the forecaster's fit (``DayAhead.err_cov``). Forecasters without an
error model (``"typical"``, ``"seasonal-naive"``) have the ``min_forecast_saving`` floor only.

Work is on the hourly UTC grid: the series is averaged per hour (time-weighted), the job's
duration must be a whole number of hours and the window is rounded down to whole hours.
Savings are ``1 - emissions / baseline`` per start (baseline: start at the start time and run
without pausing), averaged over starts. numpy is imported inside the functions.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

import attrs

from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.schedule.durations import duration_s, extension_s, format_duration, window_s
from carbonsdk.schedule.forecasters import (
    MIN_FORECAST_SAVING,
    UNCERTAINTY_K,
    gain_sigma,
    worth_moving,
)
from carbonsdk.schedule.plans import as_series, make_profile

if TYPE_CHECKING:
    from carbonsdk.schedule.forecasters import FloatArray, Forecaster, History, IntArray

HOUR_S = 3600
BACKTEST_STRATEGIES = ("flexible_start", "pause_and_resume")
#: hours of history wanted before the first start, when the series is long enough
WARMUP_H = 168
#: relative tolerance: a realised emission above baseline * (1 + WORSE_RTOL) is "worse"
WORSE_RTOL = 1e-9


@attrs.frozen
class BacktestRow:
    """One simulated start: ``start`` (aware UTC), energy-weighted mean intensities (g/kWh) of
    the ``baseline`` (start now, no pause), the live policy (``realised``) and the ``oracle``
    (perfect foresight); ``expected_savings_fraction``: what the forecast promised at the
    start; ``realised_`` / ``oracle_savings_fraction``: ``1 - x / baseline``; ``delay_s``:
    seconds from the start time to the job's first run; ``pauses``: interruptions;
    ``worse``: the policy emitted more than starting at once."""

    start: datetime
    baseline_g_per_kwh: float
    realised_g_per_kwh: float
    oracle_g_per_kwh: float
    expected_savings_fraction: float
    realised_savings_fraction: float
    oracle_savings_fraction: float
    delay_s: float
    pauses: int
    worse: bool


@attrs.frozen
class Backtest:
    """The outcome of :func:`backtest`, means over ``n_starts`` starts (fractions 0..1).

    ``oracle_savings_fraction``: perfect foresight; ``realised_savings_fraction``: the live
    policy on the forecasts, measured on the actual series; ``expected_savings_fraction``: the
    saving the forecast promised at each start (what the tool would have shown before
    calibration); ``worse_fraction``: share of starts where the policy emitted more than starting
    at once; ``capture_fraction``: realised / oracle (0 when the oracle saves nothing);
    ``mape_by_horizon``: mean absolute percentage error (fraction) of the forecasts issued at the
    starts, per hour ahead (index 0 = the hour starting at the decision); ``profile_years`` /
    ``notes``: what the forecaster was allowed to know.
    """

    strategy: str
    zone: str | None
    forecaster: str
    duration_s: float
    window_s: float
    n_starts: int
    oracle_savings_fraction: float
    realised_savings_fraction: float
    expected_savings_fraction: float
    worse_fraction: float
    mape_by_horizon: tuple[float, ...]
    rows: tuple[BacktestRow, ...]
    profile_years: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def capture_fraction(self) -> float:
        """Realised saving as a share of the oracle's (0 when the oracle saves nothing)."""
        o = self.oracle_savings_fraction
        return self.realised_savings_fraction / o if o > 0 else 0.0

    def to_dict(self, *, rows: bool = False) -> dict[str, Any]:
        """JSON-ready summary (ISO 8601 times); per-start rows with ``rows=True``."""
        doc: dict[str, Any] = {
            "strategy": self.strategy,
            "zone": self.zone,
            "forecaster": self.forecaster,
            "duration_s": self.duration_s,
            "window_s": self.window_s,
            "n_starts": self.n_starts,
            "oracle_savings_fraction": self.oracle_savings_fraction,
            "realised_savings_fraction": self.realised_savings_fraction,
            "expected_savings_fraction": self.expected_savings_fraction,
            "worse_fraction": self.worse_fraction,
            "capture_fraction": self.capture_fraction,
            "mape_by_horizon": list(self.mape_by_horizon),
            "profile_years": list(self.profile_years),
            "notes": list(self.notes),
        }
        if rows:
            doc["rows"] = [{**attrs.asdict(r), "start": r.start.isoformat()} for r in self.rows]
        return doc


# ------------------------------------------------------------------------------- the grid


def hourly_values(series: IntensitySeries) -> tuple[int, FloatArray]:
    """The series averaged over each whole UTC hour it covers completely (time-weighted):
    (epoch seconds of the first hour, g/kWh per hour). Raises ConfigurationError when it does
    not cover one whole hour."""
    import numpy as np

    b = np.asarray(series.boundaries_s, dtype=float)
    v = np.asarray(series.values_g_per_kwh, dtype=float)
    h0 = math.ceil(b[0] / HOUR_S) * HOUR_S
    h1 = math.floor(b[-1] / HOUR_S) * HOUR_S
    if h1 - h0 < HOUR_S:
        raise ConfigurationError(
            f"the intensity series ({to_datetime(b[0]).isoformat()} to "
            f"{to_datetime(b[-1]).isoformat()}) does not cover one whole UTC hour"
        )
    cum = np.concatenate(([0.0], np.cumsum(v * np.diff(b))))
    t = np.arange(h0, h1 + 1, HOUR_S, dtype=float)
    c = np.interp(t, b, cum)
    return int(h0), np.diff(c) / HOUR_S


def job_weights(energy_profile: object, job_h: int) -> FloatArray:
    """The job's share of energy in each of its ``job_h`` running hours (sums to 1)."""
    import numpy as np

    prof = make_profile(energy_profile, job_h * float(HOUR_S))
    at = [prof.at(k * float(HOUR_S)) for k in range(job_h + 1)]
    return np.diff(np.asarray(at))


def pr_cost(w: FloatArray, f: FloatArray) -> float:
    """Least ``sum_k w[k] * f[t_k]`` over increasing hour indices ``t_0 < t_1 < ...`` (Pause and
    Resume with an energy profile, exact on the hourly grid); inf when ``len(f) < len(w)``."""
    import numpy as np

    m, t = len(w), len(f)
    if m == 0:
        return 0.0
    if t < m:
        return math.inf
    span = t - m + 1  # job hour k may sit at wall hours k .. k + span - 1
    best = w[0] * f[:span]
    for k in range(1, m):
        best = np.minimum.accumulate(best) + w[k] * f[k : k + span]
    return float(best.min())


def pr_positions(w: FloatArray, f: FloatArray) -> IntArray:
    """The hour indices ``t_0 < t_1 < ...`` (one per job hour) that attain :func:`pr_cost`
    (the earliest such schedule); requires ``len(f) >= len(w)``."""
    import numpy as np

    m, t = len(w), len(f)
    span = t - m + 1
    out = np.zeros(m, dtype=np.int64)
    if m == 0:
        return out
    # best[k][j]: least cost of job hours 0..k with hour k at wall hour k + j
    rows = [w[0] * f[:span]]
    for k in range(1, m):
        rows.append(np.minimum.accumulate(rows[-1]) + w[k] * f[k : k + span])
    j = _first_min(rows[-1])
    out[m - 1] = m - 1 + j
    for k in range(m - 2, -1, -1):
        j = _first_min(rows[k][: j + 1])
        out[k] = k + j
    return out


def fs_costs(w: FloatArray, f: FloatArray, n_starts: int) -> FloatArray:
    """``sum_k w[k] * f[s + k]`` for the starts ``s = 0 .. n_starts - 1``."""
    import numpy as np

    m = len(w)
    idx = np.arange(n_starts)[:, None] + np.arange(m)[None, :]
    out: FloatArray = f[idx] @ w
    return out


def _first_min(costs: FloatArray) -> int:
    import numpy as np

    best = float(costs.min())
    return int(np.flatnonzero(costs <= best + 1e-9 * abs(best) + 1e-12)[0])


# ------------------------------------------------------------------------------ simulations


def _saving(x: float, base: float) -> float:
    return 1.0 - x / base if base > 0 else 0.0


def _simulate_fs(
    a: FloatArray,
    fmat: FloatArray,
    i0: int,
    w: FloatArray,
    win_h: int,
    min_gain: float,
    sig: FloatArray,
    k: float,
) -> tuple[float, float, float, int]:
    """(realised cost, oracle cost, expected saving, delay hours) for one start; ``sig[s]``:
    the forecaster's error spread of the gain of starting ``s`` hours after a decision."""
    m = len(w)
    actual = fs_costs(w, a[i0 : i0 + win_h + m], win_h + 1)
    expected = 0.0
    delay = win_h
    for h in range(win_h + 1):
        left = win_h - h
        if left == 0:
            delay = h
            break
        f = fmat[h, : left + m]
        c = fs_costs(w, f, left + 1)
        best, gain = fs_choice(c, sig, min_gain, k)
        move = best > 0
        if h == 0:
            expected = gain if move else 0.0
        if not move:
            delay = h
            break
    return float(actual[delay]), float(actual.min()), expected, delay


def fs_choice(
    costs: FloatArray,
    sig: FloatArray,
    min_gain: float = MIN_FORECAST_SAVING,
    k: float = UNCERTAINTY_K["flexible_start"],
) -> tuple[int, float]:
    """One Flexible Start decision on the hourly grid: ``(start offset in hours, promised
    gain)`` from the forecast cost of each start offset (``costs[0]``: start now) and the
    forecaster's error spread of each offset's gain (``sig``, fractions). The best start on the
    forecast is taken only when its gain passes
    :func:`~carbonsdk.schedule.forecasters.worth_moving`; otherwise ``(0, 0.0)``: start now."""
    best = _first_min(costs)
    gain = _saving(float(costs[best]), float(costs[0]))
    if best == 0 or not worth_moving(gain, float(sig[best]), floor=min_gain, k=k):
        return 0, 0.0
    return best, gain


def _simulate_pr(
    a: FloatArray,
    fmat: FloatArray,
    i0: int,
    w: FloatArray,
    ext_h: int,
    min_gain: float,
    err_cov: FloatArray | None,
    k: float,
) -> tuple[float, float, float, int, int]:
    """(realised cost, oracle cost, expected saving, first-run delay hours, pauses)."""
    m = len(w)
    total = m + ext_h
    done = 0
    cost = 0.0
    expected = 0.0
    first = -1
    pauses = 0
    last_ran = False
    for h in range(total):
        if done == m:
            break
        rem_w = w[done:]
        run = True
        if total - h > m - done:
            f = fmat[h, : total - h]
            known = float(w[: min(h, m)] @ a[i0 : i0 + min(h, m)])
            run, gain = pr_decision(rem_w, f, min_gain, err_cov, k, banked=(cost, known, w[h:]))
            if h == 0:
                expected = gain
        if run:
            cost += float(w[done] * a[i0 + h])
            done += 1
            if first < 0:
                first = h
            elif not last_ran:
                pauses += 1
        last_ran = run
    oracle = pr_cost(w, a[i0 : i0 + total])
    return cost, oracle, expected, max(first, 0), pauses


def pr_decision(
    w: FloatArray,
    f: FloatArray,
    min_gain: float = MIN_FORECAST_SAVING,
    err_cov: FloatArray | None = None,
    k: float = UNCERTAINTY_K["pause_and_resume"],
    offset: int = 0,
    banked: tuple[float, float, FloatArray] | None = None,
) -> tuple[bool, float]:
    """One Pause and Resume decision on the hourly grid: ``(run this hour, promised gain)``.

    ``w``: energy shares of the remaining job hours (of the whole job: they sum to the share
    left); ``f``: the forecast (g/kWh) from this hour to the deadline, ``f[0]`` lying
    ``offset`` hours after the forecast's issue; ``banked``: what the job has behind it --
    ``(cost of the work done, on the observed intensities; cost of the hours the straight run
    would have had before now, observed; shares of the straight run's hours from now on)``
    (None at the start: nothing done, the straight run is ``w`` from now). It pauses only
    when the best plan for the remaining work pauses now, its gain over running the rest
    straight is at least ``min_gain``, and the job's whole expected saving against starting at
    once and never pausing -- the banked part plus the plan -- passes
    :func:`~carbonsdk.schedule.forecasters.worth_moving` against ``k`` times the forecaster's
    error spread of that saving (``err_cov``). The promised gain is 0 when the plan is not
    followed."""
    import numpy as np

    m = len(w)
    if len(f) <= m:
        return True, 0.0
    pos = pr_positions(w, f)
    gain = _saving(float(w @ f[pos]), float(w @ f[:m]))
    if gain < min_gain:
        return True, 0.0
    if pos[0] == 0:
        return True, gain  # the plan runs this hour
    spent, known, bw = banked if banked is not None else (0.0, 0.0, w)
    nb = len(bw)
    total = _saving(spent + float(w @ f[pos]), known + float(bw @ f[:nb]))
    sd = pair_sigma(err_cov, w, pos + offset, np.arange(nb, dtype=np.int64) + offset, bw)
    if not worth_moving(total, sd, floor=0.0, k=k):
        return True, 0.0
    return False, gain


def pair_sigma(
    err_cov: FloatArray | None,
    w: FloatArray,
    pos: IntArray,
    other: IntArray,
    other_w: FloatArray | None = None,
) -> float:
    """Error spread (fraction of the job's emissions) of the forecast difference between two
    placements of the job's hours (``pos`` and ``other``, hours after the issue)."""
    import numpy as np

    if err_cov is None:
        return 0.0
    ow = w if other_w is None else other_w
    n = int(max(int(pos.max()) if len(pos) else 0, int(other.max()) if len(other) else 0)) + 1
    a = np.zeros(n)
    np.add.at(a, pos, w)
    np.add.at(a, other, -ow)
    nz = np.flatnonzero(np.abs(a) > 1e-15)
    if not nz.size:
        return 0.0
    idx = np.minimum(nz, len(err_cov) - 1)
    v = float(a[nz] @ err_cov[np.ix_(idx, idx)] @ a[nz])
    return math.sqrt(max(v, 0.0))


def _forecasts(fc: Forecaster, hist: History, issues: Sequence[int], horizon_h: int) -> FloatArray:
    import numpy as np

    return fc.predict(hist, np.asarray(issues, dtype=np.int64), horizon_h)


def backtest(
    actual: IntensitySeries | Iterable[tuple[datetime, float]] | Any,
    *,
    zone: str | None = None,
    duration: timedelta | str | float,
    window: timedelta | str | float,
    strategy: str = "flexible_start",
    forecaster: object = "default",
    n_starts: int = 48,
    seed: int = 0,
    energy_profile: Any = None,
    min_forecast_saving: float = MIN_FORECAST_SAVING,
    uncertainty_k: float | None = None,
    profile_years: Sequence[int] | None = None,
    profile: Sequence[float] | None = None,
) -> Backtest:
    """Backtest the live carbon-aware policy on the ``actual`` intensity series.

    ``actual``: an :class:`IntensitySeries` (e.g. from :func:`carbonsdk.intensity_series` or a
    provider), a :class:`~carbonsdk.schedule.ForwardSeries`, or ``(aware datetime, g_per_kwh)``
    pairs. ``zone``: the grid zone whose embedded profile the forecaster may use (default: the
    series' own zone; None/unknown: no profile). ``duration``: the job's running time, a whole
    number of hours (timedelta, ``"6h"`` or seconds). ``window``: the max delay for
    ``"flexible_start"`` or the max extension for ``"pause_and_resume"``: a timedelta, ``"24h"``,
    ``"100%"`` of the duration, or (Pause and Resume) a fraction of it (``1.0``); rounded down
    to whole hours. ``forecaster``: ``"default"`` (the day-ahead blend), ``"seasonal-naive"``,
    ``"typical"`` or a forecaster object (see :mod:`carbonsdk.schedule.forecasters`).
    ``n_starts`` start times are drawn without replacement (``seed``) from the hours where the
    whole window fits. ``energy_profile``: as for :func:`~carbonsdk.schedule.pause_and_resume`.
    ``min_forecast_saving`` and ``uncertainty_k`` (default: the strategy's
    :data:`~carbonsdk.schedule.forecasters.UNCERTAINTY_K`): a decision moves the job only when
    its forecast gain is at least this and at least ``uncertainty_k`` times the forecaster's own
    error spread for that gain (the rule the live policies use,
    :func:`~carbonsdk.schedule.forecasters.worth_moving`; forecasters without an error model,
    such as ``"typical"``, have the floor only).
    ``profile_years``: embedded years the forecaster may learn from (default: those not
    overlapping ``actual``). ``profile``: a typical-year profile to use instead of the embedded
    one (12 x 7 x 24 g/kWh values by month, weekday, hour UTC; for zones carbonsdk does not
    embed). Raises :class:`ConfigurationError` for bad input or a series too
    short for one start.
    """
    import numpy as np

    from carbonsdk.intensity import embedded
    from carbonsdk.schedule.forecasters import History, make_forecaster, zone_profile

    if hasattr(actual, "series") and isinstance(actual.series, IntensitySeries):
        actual = actual.series  # a ForwardSeries
    s = as_series(actual)
    if strategy not in BACKTEST_STRATEGIES:
        raise ConfigurationError(
            f"strategy={strategy!r} is not valid: expected one of {', '.join(BACKTEST_STRATEGIES)}"
        )
    if isinstance(n_starts, bool) or not isinstance(n_starts, int) or n_starts < 1:
        raise ConfigurationError(f"n_starts={n_starts!r} is not valid: expected an int >= 1")
    if not (0.0 <= min_forecast_saving < 1.0):
        raise ConfigurationError(
            f"min_forecast_saving={min_forecast_saving!r} is not valid: expected 0 <= x < 1"
        )
    if uncertainty_k is None:
        uncertainty_k = UNCERTAINTY_K.get(strategy, 0.0)
    if not (0.0 <= uncertainty_k < math.inf):
        raise ConfigurationError(
            f"uncertainty_k={uncertainty_k!r} is not valid: expected a number >= 0"
        )
    job_s = duration_s(duration)
    job_h = round(job_s / HOUR_S)
    if job_h < 1 or abs(job_h * HOUR_S - job_s) > 1e-6:
        raise ConfigurationError(
            f"duration={duration!r} is not valid for a backtest: expected a whole number of "
            f"hours >= 1 (the backtest runs on the hourly grid), got {format_duration(job_s)}"
        )
    if strategy == "flexible_start":
        if isinstance(window, int | float) and not isinstance(window, bool):
            raise ConfigurationError(
                f"window={window!r} is not valid for flexible_start: expected a timedelta, "
                "'24h' or '50%' of the duration"
            )
        win_s = window_s(window, job_s, name="window")
    else:
        win_s = extension_s(window, job_s, name="window")
    win_h = int(win_s // HOUR_S + 1e-9)
    h0, a = hourly_values(s)
    notes: list[str] = []
    zone_id = zone or s.source.zone or None
    zone_id = zone_id.upper() if zone_id else None
    basis = s.source.basis if s.source.basis in ("lifecycle", "direct") else "lifecycle"
    years_used: tuple[int, ...] = ()
    prof = None
    if profile is not None:
        prof = np.asarray(profile, dtype=float)
        if prof.shape != (12 * 7 * 24,) or not np.all(np.isfinite(prof)):
            raise ConfigurationError(
                "profile= is not valid: expected 2016 finite g/kWh values (12 x 7 x 24)"
            )
        notes.append("profile given by the caller")
    elif zone_id is not None and embedded.has_hourly(zone_id, basis):
        have = embedded.hourly_years(zone_id, basis)
        first_year = to_datetime(h0).year
        last_year = to_datetime(h0 + HOUR_S * (len(a) - 1)).year
        if profile_years is None:
            years_used = tuple(y for y in have if not first_year <= y <= last_year)
            if not years_used:
                years_used = tuple(have)
                notes.append(
                    f"every embedded year of {zone_id} ({', '.join(map(str, have))}) overlaps "
                    "the tested series: the profile includes the tested period (optimistic)"
                )
        else:
            years_used = tuple(sorted(int(y) for y in profile_years if int(y) in have))
            if not years_used:
                raise ConfigurationError(
                    f"profile_years={list(profile_years)!r} is not valid: {zone_id} has embedded "
                    f"hourly data for {list(have)}"
                )
        prof = zone_profile(zone_id, years_used, basis)
    else:
        notes.append(
            "no embedded profile for this zone: the forecaster uses recent observations only"
        )
        if forecaster in ("default", "day-ahead"):
            notes.append("day-ahead needs a zone profile: seasonal-naive used")
    fc = make_forecaster(
        forecaster,
        zone_id if prof is not None and profile is None else None,
        years_used or None,
        basis,
    )
    need = job_h + win_h
    hi = len(a) - need
    if hi < 0:
        raise ConfigurationError(
            f"the series has {len(a)} whole hours, but one start needs {need} "
            f"({format_duration(job_s)} job + {format_duration(win_h * HOUR_S)} window)"
        )
    lo = min(WARMUP_H, hi)
    rng = np.random.default_rng(seed)
    pool = np.arange(lo, hi + 1)
    picks = np.sort(rng.choice(pool, size=min(n_starts, len(pool)), replace=False))
    w = job_weights(energy_profile, job_h)
    hist = History(h0, np.where(np.isfinite(a), a, np.nan), prof, zone_id)
    horizon = need
    decisions = win_h + 1 if strategy == "flexible_start" else need
    issues = [int(i0) + h for i0 in picks for h in range(decisions)]
    fall = _forecasts(fc, hist, issues, horizon).reshape(len(picks), decisions, horizon)
    err_cov = getattr(fc, "err_cov", None)
    sig_fs = np.asarray([gain_sigma(err_cov, w, s0 + np.arange(job_h)) for s0 in range(win_h + 1)])
    rows = []
    ape = np.zeros(horizon)
    ape_n = np.zeros(horizon)
    for n, i0 in enumerate(int(x) for x in picks):
        fmat = fall[n]
        base = float(w @ a[i0 : i0 + job_h])
        if strategy == "flexible_start":
            real, orc, exp, delay = _simulate_fs(
                a, fmat, i0, w, win_h, min_forecast_saving, sig_fs, uncertainty_k
            )
            pauses = 0
        else:
            real, orc, exp, delay, pauses = _simulate_pr(
                a, fmat, i0, w, win_h, min_forecast_saving, err_cov, uncertainty_k
            )
        truth = a[i0 : i0 + horizon]
        ok = truth > 0
        ape[ok] += np.abs(fmat[0][ok] - truth[ok]) / truth[ok]
        ape_n[ok] += 1
        rows.append(
            BacktestRow(
                start=to_datetime(h0 + HOUR_S * i0),
                baseline_g_per_kwh=base,
                realised_g_per_kwh=real,
                oracle_g_per_kwh=orc,
                expected_savings_fraction=exp,
                realised_savings_fraction=_saving(real, base),
                oracle_savings_fraction=_saving(orc, base),
                delay_s=delay * float(HOUR_S),
                pauses=pauses,
                worse=real > base * (1 + WORSE_RTOL) + 1e-12,
            )
        )
    k = len(rows)
    mape = tuple(float(x) for x in np.where(ape_n > 0, ape / np.maximum(ape_n, 1), np.nan))
    return Backtest(
        strategy=strategy,
        zone=zone_id,
        forecaster=str(getattr(fc, "name", forecaster)),
        duration_s=job_s,
        window_s=win_h * float(HOUR_S),
        n_starts=k,
        oracle_savings_fraction=math.fsum(r.oracle_savings_fraction for r in rows) / k,
        realised_savings_fraction=math.fsum(r.realised_savings_fraction for r in rows) / k,
        expected_savings_fraction=math.fsum(r.expected_savings_fraction for r in rows) / k,
        worse_fraction=sum(r.worse for r in rows) / k,
        mape_by_horizon=mape,
        rows=tuple(rows),
        profile_years=years_used,
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------- calibration table


@attrs.frozen
class Calibration:
    """The backtested outcome of carbonsdk's default forecaster and live policy for one zone,
    strategy and job class (from ``carbonsdk/data/backtest.json``, built by
    ``benchmarks/backtest_holdout.py``): mean ``realised_savings_fraction``,
    ``oracle_savings_fraction``, ``expected_savings_fraction`` (the forecast's promise),
    ``worse_fraction``, over ``n_starts`` starts of the test ``year``, for a job of
    ``duration_s`` with ``window_s`` (max delay or max extension)."""

    zone: str
    strategy: str
    duration_s: float
    window_s: float
    realised_savings_fraction: float
    oracle_savings_fraction: float
    expected_savings_fraction: float
    worse_fraction: float
    n_starts: int
    year: int

    @property
    def job_class(self) -> str:
        """``"6h job, 24h window"`` style label."""
        what = "delay" if self.strategy == "flexible_start" else "extension"
        return f"{format_duration(self.duration_s)} job, {format_duration(self.window_s)} {what}"


@functools.cache
def _table() -> dict[str, Any]:
    try:
        ref = resources.files("carbonsdk").joinpath("data/backtest.json")
        with ref.open("rb") as fh:
            doc: dict[str, Any] = json.load(fh)
    except (OSError, ValueError):
        return {"rows": []}
    return doc


def calibration(
    zone: str | None, strategy: str, job_duration_s: float, job_window_s: float
) -> Calibration | None:
    """The calibration row for ``zone`` and ``strategy`` whose job class is nearest to a job of
    ``job_duration_s`` with ``job_window_s`` (distance in log hours); None when the table has
    nothing for the zone."""
    if not zone:
        return None
    rows = [
        r
        for r in _table().get("rows", [])
        if r["zone"] == zone.upper() and r["strategy"] == strategy
    ]
    if not rows:
        return None

    def dist(r: dict[str, Any]) -> float:
        d = math.log(max(job_duration_s, 60.0) / r["duration_s"])
        wv = math.log((max(job_window_s, 0.0) + 3600.0) / (r["window_s"] + 3600.0))
        return d * d + wv * wv

    best = min(rows, key=dist)
    return Calibration(
        zone=best["zone"],
        strategy=best["strategy"],
        duration_s=float(best["duration_s"]),
        window_s=float(best["window_s"]),
        realised_savings_fraction=float(best["realised_savings_fraction"]),
        oracle_savings_fraction=float(best["oracle_savings_fraction"]),
        expected_savings_fraction=float(best["expected_savings_fraction"]),
        worse_fraction=float(best["worse_fraction"]),
        n_starts=int(best["n_starts"]),
        year=int(best["year"]),
    )
