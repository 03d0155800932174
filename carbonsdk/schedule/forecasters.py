"""Hourly carbon-intensity forecasters for carbon-aware scheduling (numpy only).

Three forecasters, all issued at a decision time ``t`` (a UTC hour boundary) from the values
observed *before* ``t`` and the zone's seasonal profile:

- :class:`TypicalYear` (``"typical"``): the embedded typical year -- the mean of the same month,
  weekday and hour (UTC) over the profile years. Ignores observations (what carbonsdk used before).
- :class:`SeasonalNaive` (``"seasonal-naive"``): the value at the same hour of the most recent
  observed day (24 h seasonality); the profile where that hour was not observed.
- :class:`DayAhead` (``"default"``, ``"day-ahead"``): per forecast horizon ``h`` (0 = the hour
  starting at ``t``) a least-squares blend of the last observed value (persistence), the same hour
  yesterday, the same hour last week, the typical profile at the target, the profile at those three
  reference hours, and the mean anomaly (observed minus profile) of the last 24 h and 168 h.
  Coefficients are fitted per zone and horizon on the embedded hourly years; while fitting, each
  year's profile is built from the *other* years only (leave one year out), so that the weight on
  the profile is what it earns on a year it has not seen. Missing observations count as the
  profile (anomaly 0). Past the fitted horizons (:data:`HORIZON_H`) the last horizon's
  coefficients are used.

Profiles are indexed by *slot* = ``((month - 1) * 7 + weekday) * 24 + hour`` (UTC), as in
:mod:`carbonsdk.intensity.embedded`. Arrays are float64 g/kWh on a whole-hour UTC grid; NaN marks
an hour that was not observed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import attrs

from carbonsdk.exceptions import ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]
    IntArray = NDArray[np.int64]

HOUR_S = 3600
#: horizons (hours ahead, 0-based) with their own fitted coefficients
HORIZON_H = 96
SLOTS = 12 * 7 * 24
#: names of the DayAhead features, in coefficient order
FEATURES = (
    "1",
    "profile",
    "last",
    "day",
    "week",
    "profile_last",
    "profile_day",
    "profile_week",
    "anomaly_24h",
    "anomaly_168h",
)
#: fit on every FIT_STRIDE_H-th issue hour (a 3x faster fit; the coefficients barely move)
FIT_STRIDE_H = 3
#: ridge penalty (relative to the mean diagonal of X'X) keeping the fit well conditioned
RIDGE = 1e-6
FORECASTER_NAMES = ("default", "day-ahead", "seasonal-naive", "typical")

# ------------------------------------------------------------------ the shared decision gate
#: a decision moves the job (waits or pauses) only when the forecast gain is at least this
#: fraction of the job's emissions (the floor of :func:`worth_moving`)
MIN_FORECAST_SAVING = 0.01
#: ... and at least UNCERTAINTY_K[strategy] times the forecaster's own error spread for that
#: decision (:func:`gain_sigma`); per strategy, each the smallest on the grid 0, 0.1, 0.2, ...
#: whose share of worse starts is <= 5 % on the 2023 validation year (learning from 2021-2022)
UNCERTAINTY_K = {"flexible_start": 0.6, "pause_and_resume": 0.8}


def gain_sigma(err_cov: FloatArray | None, weights: FloatArray, positions: IntArray) -> float:
    """Standard deviation (fraction of the job's emissions) of the forecast error of the gain
    of running the job's hour ``k`` (energy share ``weights[k]``, summing to 1) at
    ``positions[k]`` hours after the forecast's issue instead of at hour ``k``; 0 without an
    error model. ``err_cov``: covariance (second moment) of the forecaster's relative errors
    ``(actual - forecast) / level`` between horizons, from its fit (``DayAhead.err_cov``;
    horizons past the matrix use its last row/column)."""
    import numpy as np

    if err_cov is None:
        return 0.0
    w = np.asarray(weights, dtype=float)
    pos = np.asarray(positions, dtype=np.int64)
    m = len(w)
    n = int(max(int(pos.max()) + 1 if m else 0, m))
    a = np.zeros(n)
    np.add.at(a, pos, w)
    a[:m] -= w
    nz = np.flatnonzero(np.abs(a) > 1e-15)
    if not nz.size:
        return 0.0
    idx = np.minimum(nz, len(err_cov) - 1)
    c = err_cov[np.ix_(idx, idx)]
    v = float(a[nz] @ c @ a[nz])
    return float(np.sqrt(max(v, 0.0)))


def worth_moving(
    gain: float,
    sigma: float,
    *,
    floor: float = MIN_FORECAST_SAVING,
    k: float = UNCERTAINTY_K["flexible_start"],
) -> bool:
    """The decision rule carbonsdk's live policies and its backtest share: move the job (wait,
    or pause) only when the forecast ``gain`` (fraction of the job's emissions) is at least
    ``floor`` and at least ``k`` times ``sigma``, the forecaster's error spread for that gain
    (:func:`gain_sigma`)."""
    return gain >= floor and gain >= k * sigma - 1e-12


# ------------------------------------------------------------------------------ embedded data


@functools.lru_cache(maxsize=64)
def embedded_year(zone: str, year: int, basis: str = "lifecycle") -> tuple[int, FloatArray]:
    """One embedded zone-year: (epoch seconds of its first hour, hourly g/kWh array)."""
    import numpy as np

    from carbonsdk.intensity.embedded import EmbeddedProvider
    from carbonsdk.model.region import Region

    region = Region(provider=None, code=zone, zone=zone, source="explicit")
    start = datetime(year, 1, 1, tzinfo=UTC)
    series = EmbeddedProvider(basis).series(region, start, datetime(year + 1, 1, 1, tzinfo=UTC))
    values = np.asarray(series.values_g_per_kwh, dtype=float)
    values.setflags(write=False)
    return int(start.timestamp()), values


def slots(start_s: int, n: int) -> IntArray:
    """The profile slot of each of ``n`` hours from ``start_s`` (epoch seconds, hour-aligned)."""
    import numpy as np

    t = start_s + HOUR_S * np.arange(n, dtype=np.int64)
    hour = (t // HOUR_S) % 24
    weekday = (t // 86400 + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
    month = t.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12
    out: IntArray = (month * 7 + weekday) * 24 + hour
    return out


def profile_from(parts: Sequence[tuple[int, FloatArray]]) -> FloatArray:
    """Mean g/kWh per slot over the given hourly arrays ((start_s, values) pairs; NaN ignored);
    slots without data get the overall mean."""
    import numpy as np

    sums = np.zeros(SLOTS)
    counts = np.zeros(SLOTS)
    for start_s, values in parts:
        s = slots(start_s, len(values))
        ok = np.isfinite(values)
        sums += np.bincount(s[ok], weights=values[ok], minlength=SLOTS)
        counts += np.bincount(s[ok], minlength=SLOTS)
    overall = sums.sum() / max(1.0, counts.sum())
    out: FloatArray = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
    return out


@functools.lru_cache(maxsize=64)
def zone_profile(zone: str, years: tuple[int, ...], basis: str = "lifecycle") -> FloatArray:
    """The typical-year profile of ``zone`` (g/kWh per slot) over the embedded ``years``."""
    out = profile_from([embedded_year(zone, y, basis) for y in years])
    out.setflags(write=False)
    return out


# ------------------------------------------------------------------------------- the context


@attrs.frozen(eq=False)
class History:
    """Hourly observations on a whole-hour grid: ``values[k]`` holds for the hour starting at
    ``start_s + 3600 k`` (epoch seconds), NaN where not observed; ``profile``: the zone's
    typical-year profile per slot (None when the zone is unknown)."""

    start_s: int
    values: FloatArray
    profile: FloatArray | None
    zone: str | None = None


def _take(values: FloatArray, idx: IntArray, limit: IntArray | int) -> FloatArray:
    """``values[idx]`` where ``0 <= idx < limit`` (observed before the issue time), else NaN."""
    import numpy as np

    ok = (idx >= 0) & (idx < limit) & (idx < len(values))
    out = np.full(idx.shape, np.nan)
    out[ok] = values[idx[ok]]
    return out


def _profile_at(profile: FloatArray, start_s: int, idx: IntArray) -> FloatArray:
    """The profile value (g/kWh) at hour indices ``idx`` counted from ``start_s``."""
    import numpy as np

    t = start_s + HOUR_S * idx.astype(np.int64)
    hour = (t // HOUR_S) % 24
    weekday = (t // 86400 + 3) % 7
    month = t.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12
    out: FloatArray = profile[(month * 7 + weekday) * 24 + hour]
    return out


def _anomaly_means(h: History, profile_hist: FloatArray, issue: IntArray, width: int) -> FloatArray:
    """Mean of (observed - profile) over the ``width`` hours before each issue index."""
    import numpy as np

    a = h.values - profile_hist
    ok = np.isfinite(a)
    cs = np.concatenate(([0.0], np.cumsum(np.where(ok, a, 0.0))))
    cn = np.concatenate(([0.0], np.cumsum(ok.astype(float))))
    hi = np.clip(issue, 0, len(a))
    lo = np.clip(issue - width, 0, len(a))
    n = cn[hi] - cn[lo]
    out: FloatArray = np.where(n > 0, (cs[hi] - cs[lo]) / np.maximum(n, 1.0), 0.0)
    return out


def design(h: History, issue: IntArray, horizon: IntArray) -> FloatArray:
    """DayAhead features, shape ``issue.shape + horizon.shape + (len(FEATURES),)``, for
    forecasts issued at hour indices ``issue`` (observations ``< issue`` only) for targets
    ``issue + horizon``."""
    import numpy as np

    i = issue[:, None]
    j = horizon[None, :]
    target = i + j
    k_last = np.broadcast_to(i - 1, target.shape)
    k_day = target - 24 * (j // 24 + 1)
    k_week = target - 168 * (j // 168 + 1)
    n_hist = len(h.values)
    if h.profile is not None:
        n_ext = max(n_hist, int(target.max()) + 1 if target.size else 0)
        p_ext = h.profile[slots(h.start_s, n_ext)]
        p_hist = p_ext[:n_hist]
        p_t = p_ext[target]
    else:
        p_hist = _rolling_profile(h.values)
        p_t = _rolling_at(h, p_hist, i, target)
    ref = []
    for k in (k_last, k_day, k_week):
        y = _take(h.values, k, i)
        if h.profile is not None:
            p = p_ext[np.clip(k, 0, None)]
        else:
            p = _take(p_hist, k, n_hist)
            p = np.where(np.isfinite(p), p, p_t)
        y = np.where(np.isfinite(y), y, p)
        ref.append((y, p))
    a24 = np.broadcast_to(_anomaly_means(h, p_hist, issue, 24)[:, None], target.shape)
    a168 = np.broadcast_to(_anomaly_means(h, p_hist, issue, 168)[:, None], target.shape)
    cols = [
        np.ones(target.shape),
        p_t,
        ref[0][0],
        ref[1][0],
        ref[2][0],
        ref[0][1],
        ref[1][1],
        ref[2][1],
        a24,
        a168,
    ]
    out: FloatArray = np.stack(cols, axis=-1)
    return out


def _rolling_profile(values: FloatArray) -> FloatArray:
    """Without a zone profile: at each hour, the mean of the same hour on the 7 days before
    (NaN-aware), a causal stand-in for the typical profile."""
    import numpy as np

    n = len(values)
    acc = np.zeros(n)
    cnt = np.zeros(n)
    for d in range(1, 8):
        lag = 24 * d
        if lag >= n:
            break
        v = values[:-lag]
        ok = np.isfinite(v)
        acc[lag:] += np.where(ok, v, 0.0)
        cnt[lag:] += ok
    out: FloatArray = np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)
    return out


def _rolling_at(h: History, p_hist: FloatArray, i: IntArray, target: IntArray) -> FloatArray:
    """The rolling profile at each target, taken from the last observed day with that hour."""
    import numpy as np

    k = target - 24 * ((target - i) // 24 + 1)
    out = _take(p_hist, k, np.full(i.shape, len(p_hist)))
    y = _take(h.values, k, i)
    out = np.where(np.isfinite(out), out, y)
    finite = h.values[np.isfinite(h.values)]
    fill = float(finite.mean()) if finite.size else 0.0
    res: FloatArray = np.where(np.isfinite(out), out, fill)
    return res


# ------------------------------------------------------------------------------- forecasters


class Forecaster(Protocol):
    """Anything that forecasts hourly intensity from a :class:`History`."""

    @property
    def name(self) -> str:
        """Short name (``"day-ahead"``, ...)."""
        ...

    def predict(self, h: History, issue: IntArray, horizon_h: int) -> FloatArray:
        """Forecasts issued at hour indices ``issue`` for targets ``issue + 0 ..
        issue + horizon_h - 1``: array ``(len(issue), horizon_h)`` of g/kWh."""
        ...


class TypicalYear:
    """The embedded typical year (mean of the same month, weekday and hour): ignores every
    observation."""

    name = "typical"

    def predict(self, h: History, issue: IntArray, horizon_h: int) -> FloatArray:
        """See :class:`Forecaster` (g/kWh)."""
        import numpy as np

        x = design(h, issue, np.arange(horizon_h, dtype=np.int64))
        out: FloatArray = x[..., 1]
        return out


class SeasonalNaive:
    """The same hour of the most recent observed day (24 h seasonal naive), the profile
    where that hour was not observed."""

    name = "seasonal-naive"

    def predict(self, h: History, issue: IntArray, horizon_h: int) -> FloatArray:
        """See :class:`Forecaster` (g/kWh)."""
        import numpy as np

        x = design(h, issue, np.arange(horizon_h, dtype=np.int64))
        out: FloatArray = x[..., 3]
        return out


@attrs.frozen(eq=False)
class DayAhead:
    """Per-horizon least-squares blend of persistence, yesterday, last week and the typical
    profile (see the module docstring). ``coef``: array ``(HORIZON_H, len(FEATURES))``;
    ``err_cov``: the second moment of its relative errors ``(actual - forecast) / level``
    (``level``: the mean forecast over the day after the issue) between horizons over the
    fitted years (the uncertainty behind :func:`worth_moving`)."""

    coef: FloatArray
    zone: str | None = None
    fitted_on: tuple[int, ...] = ()
    name: str = "day-ahead"
    #: second moment of the relative forecast errors between horizons, (HORIZON_H, HORIZON_H)
    err_cov: FloatArray | None = None

    def predict(self, h: History, issue: IntArray, horizon_h: int) -> FloatArray:
        """See :class:`Forecaster` (g/kWh, clipped at 0)."""
        import numpy as np

        j = np.arange(horizon_h, dtype=np.int64)
        x = design(h, issue, j)
        c = self.coef[np.minimum(j, len(self.coef) - 1)]
        out: FloatArray = np.maximum(np.einsum("ijk,jk->ij", x, c, optimize=True), 0.0)
        return out


def _fit(histories: Sequence[History], horizon_h: int = HORIZON_H) -> FloatArray:
    """Least-squares coefficients per horizon over every issue hour of ``histories``."""
    import numpy as np

    nf = len(FEATURES)
    coef = np.zeros((horizon_h, nf))
    xtx = np.zeros((horizon_h, nf, nf))
    xty = np.zeros((horizon_h, nf))
    j_all = np.arange(horizon_h, dtype=np.int64)
    for h in histories:
        n = len(h.values)
        # issue hours with a target inside the year, in chunks to bound memory
        for lo in range(24, n - 1, 2048 * FIT_STRIDE_H):
            issue = np.arange(
                lo, min(n - 1, lo + 2048 * FIT_STRIDE_H), FIT_STRIDE_H, dtype=np.int64
            )
            x = design(h, issue, j_all)  # (i, j, f)
            target = issue[:, None] + j_all[None, :]
            y = _take(h.values, target, np.full((len(issue), 1), n))
            ok = np.isfinite(y) & np.all(np.isfinite(x), axis=-1)
            xm = np.where(ok[..., None], x, 0.0)
            ym = np.where(ok, y, 0.0)
            xj = np.ascontiguousarray(xm.transpose(1, 0, 2))  # (j, i, f)
            xtx += np.matmul(xj.transpose(0, 2, 1), xj)
            xty += np.einsum("jif,ji->jf", xj, ym.T, optimize=True)
    for j in range(horizon_h):
        a = xtx[j]
        lam = RIDGE * float(np.trace(a)) / nf
        coef[j] = np.linalg.solve(a + lam * np.eye(nf), xty[j])
    return coef


def _error_cov(histories: Sequence[History], coef: FloatArray) -> FloatArray:
    """Second moment of the relative errors ``(y - f) / level`` between horizons of the fitted
    blend over every FIT_STRIDE_H-th issue hour of ``histories`` (``level``: the mean forecast
    over the 24 h after the issue): (horizons, horizons)."""
    import numpy as np

    nh = len(coef)
    acc = np.zeros((nh, nh))
    cnt = np.zeros((nh, nh))
    j_all = np.arange(nh, dtype=np.int64)
    model = DayAhead(coef)
    for h in histories:
        n = len(h.values)
        for lo in range(24, n - 1, 2048 * FIT_STRIDE_H):
            issue = np.arange(
                lo, min(n - 1, lo + 2048 * FIT_STRIDE_H), FIT_STRIDE_H, dtype=np.int64
            )
            f = model.predict(h, issue, nh)
            target = issue[:, None] + j_all[None, :]
            y = _take(h.values, target, np.full((len(issue), 1), n))
            # errors relative to the level of the forecast over the next day (not hour by
            # hour: near-zero hours would blow the ratio up), the scale a gain is measured in
            level = f[:, :24].mean(axis=1, keepdims=True)
            ok = np.isfinite(y) & (level > 0)
            r = np.where(ok, (y - f) / np.where(level > 0, level, 1.0), 0.0)
            acc += r.T @ r
            okf = ok.astype(float)
            cnt += okf.T @ okf
    out: FloatArray = acc / np.maximum(cnt, 1.0)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=64)
def fit_day_ahead(zone: str, years: tuple[int, ...], basis: str = "lifecycle") -> DayAhead:
    """Fit :class:`DayAhead` for ``zone`` on its embedded ``years`` (each year's profile from
    the other years; a single year uses its own profile). Raises ConfigurationError when the
    zone has no embedded hourly data for those years."""
    from carbonsdk.intensity import embedded

    have = set(embedded.hourly_years(zone, basis))
    use = tuple(sorted(y for y in years if y in have))
    if not use:
        raise ConfigurationError(
            f"zone {zone!r} has no embedded hourly data in {list(years)} (it has "
            f"{sorted(have)}): the day-ahead forecaster cannot be fitted"
        )
    histories = []
    for y in use:
        others = tuple(o for o in use if o != y) or (y,)
        start_s, values = embedded_year(zone, y, basis)
        histories.append(History(start_s, values, zone_profile(zone, others, basis), zone))
    coef = _fit(histories)
    return DayAhead(coef, zone=zone, fitted_on=use, err_cov=_error_cov(histories, coef))


def make_forecaster(
    name: object, zone: str | None, years: tuple[int, ...] | None = None, basis: str = "lifecycle"
) -> Forecaster:
    """The forecaster called ``name`` (:data:`FORECASTER_NAMES`) for ``zone``, fitted on the
    embedded ``years`` (default all), or ``name`` itself when it is a forecaster object."""
    if not isinstance(name, str):
        if callable(getattr(name, "predict", None)):
            return name  # type: ignore[return-value]
        raise ConfigurationError(
            f"forecaster={name!r} is not valid: expected one of {', '.join(FORECASTER_NAMES)} "
            "or an object with predict(history, issue, horizon_h)"
        )
    key = name.strip().lower()
    if key == "typical":
        return TypicalYear()
    if key == "seasonal-naive":
        return SeasonalNaive()
    if key in ("default", "day-ahead"):
        from carbonsdk.intensity import embedded

        if zone is None or not embedded.has_hourly(zone, basis):
            return SeasonalNaive()
        fit_years = years if years is not None else embedded.hourly_years(zone, basis)
        return fit_day_ahead(zone.upper(), tuple(fit_years), basis)
    raise ConfigurationError(
        f"forecaster={name!r} is not valid: expected one of {', '.join(FORECASTER_NAMES)}"
    )
