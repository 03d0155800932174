"""The intensity ahead of now for a region: a provider's forecast where one is available
(Electricity Maps, WattTime, UK Carbon Intensity); else carbonsdk's day-ahead forecaster
(:mod:`carbonsdk.schedule.forecasters`) on the hours observed in the last week (from the live
provider's history, or from the embedded data when now lies inside its years) and the zone's
embedded profile; else, with nothing observed, the embedded typical year. Used by ``carbonsdk
plan``, :func:`carbonsdk.wait_for_low_carbon` and ``run.should_pause()``; both live functions
call :meth:`ForwardSeries.refreshed` as time passes, so new observations change the forecast.

Never raises for a provider fault: a failed or short forecast is completed (or replaced) by the
embedded typical year, and the outcome says so in ``kind`` and ``note``.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import CarbonSDKError, ConfigurationError
from carbonsdk.intensity.choose import accepts_deadline
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.model.region import Region
from carbonsdk.schedule.plans import EPS_S, splice

#: seconds a live provider may take to answer a forecast request
FORECAST_BUDGET_S = 10.0


@attrs.frozen(eq=False)
class ForwardSeries:
    """Intensity over a future window. ``kind``: ``"forecast"`` (all from a provider's
    forecast), ``"forecast+typical"`` (forecast, completed by the embedded typical year past
    its horizon), ``"day-ahead"`` (carbonsdk's day-ahead forecaster on recent observations and
    the embedded profile) or ``"typical"`` (embedded typical year only); ``provider``: the
    forecast's provider name (None for ``"typical"``, ``"carbonsdk"`` for ``"day-ahead"``);
    ``note``: why, in words; ``region``, ``end_s`` and ``option``: what was asked, so that
    :meth:`refreshed` can ask again; ``err_cov``: for ``"day-ahead"``, the forecaster's
    relative error second moment between horizons (hour 0 = the series' first hour), which
    the live policies' decision gate uses, and ``observed``: the hourly observations it was
    issued from (``(epoch seconds of the first hour, g/kWh array with NaN where unknown)``;
    None otherwise)."""

    series: IntensitySeries
    kind: str
    provider: str | None
    note: str
    region: Region | None = None
    end_s: float | None = None
    option: Any = None
    err_cov: Any = None
    observed: Any = None

    def refreshed(self, now_epoch_s: float) -> ForwardSeries:
        """The forecast asked again from ``now_epoch_s`` (epoch seconds) to the same end, with
        the observations available now; ``self`` when it cannot be asked again (no region) or
        the window is over. Never raises."""
        if self.region is None or self.end_s is None or now_epoch_s >= self.end_s - 60.0:
            return self
        try:
            return forward_series(self.region, now_epoch_s, self.end_s, provider=self.option)
        except Exception:  # noqa: BLE001 - a refresh must never break a running job
            return self

    @property
    def description(self) -> str:
        """One line saying where the values come from."""
        if self.kind == "forecast":
            return f"{self.provider} forecast"
        if self.kind == "forecast+typical":
            return f"{self.provider} forecast, then the embedded typical year"
        if self.kind == "day-ahead":
            return "carbonsdk day-ahead forecast (recent observations + embedded profile)"
        return "embedded typical year (no forecast)"


def _typical(region: Region, start_s: float, end_s: float) -> IntensitySeries:
    from carbonsdk.intensity.embedded import EmbeddedProvider

    series: IntensitySeries = EmbeddedProvider().typical_series(
        region, to_datetime(start_s), to_datetime(end_s)
    )
    return series


#: hours of observations the day-ahead forecaster looks back at
LOOKBACK_H = 8 * 24


def _observed(
    provider: Any, region: Region, start_s: float, budget_s: float
) -> tuple[int, Any] | None:
    """Hourly observations over the ``LOOKBACK_H`` hours before ``start_s`` (hour-aligned
    grid start, numpy array with NaN for unknown hours), or None when nothing was observed.
    Embedded data counts only inside its years (substituted hours are not observations);
    a live provider counts when it gives the average signal."""
    import math

    import numpy as np

    from carbonsdk.intensity import embedded

    zone = region.zone
    if zone is None or not embedded.has_hourly(zone):
        return None
    h_end = math.floor(start_s / 3600.0) * 3600
    h_start = h_end - LOOKBACK_H * 3600
    if h_end <= h_start:
        return None
    name = str(getattr(provider, "name", ""))
    try:
        if name == "embedded" or provider is None:
            years = set(embedded.hourly_years(zone))
            first = to_datetime(h_start).year
            last = to_datetime(h_end - 1).year
            if not any(first <= y <= last for y in years):
                return None
            from carbonsdk.intensity.embedded import EmbeddedProvider

            series = EmbeddedProvider().series(region, to_datetime(h_start), to_datetime(h_end))
        else:
            fetch = getattr(provider, "series", None)
            if not callable(fetch):
                return None
            if accepts_deadline(fetch):
                series = fetch(
                    region,
                    to_datetime(h_start),
                    to_datetime(h_end),
                    deadline_s=time.monotonic() + budget_s,
                )
            else:
                series = fetch(region, to_datetime(h_start), to_datetime(h_end))
            if not isinstance(series, IntensitySeries) or series.source.signal != "average":
                return None
    except Exception:  # noqa: BLE001 - observations are optional: any fault means "none"
        return None
    from carbonsdk.schedule.backtest import hourly_values

    try:
        s0, values = hourly_values(series)
    except CarbonSDKError:
        return None
    if name == "embedded" or provider is None:
        years = set(embedded.hourly_years(zone))
        t = s0 + 3600 * np.arange(len(values))
        yrs = t.astype("datetime64[s]").astype("datetime64[Y]").astype(int) + 1970
        values = np.where(np.isin(yrs, list(years)), values, np.nan)
    out = np.full(LOOKBACK_H, np.nan)
    k0 = (s0 - h_start) // 3600
    for k, v in enumerate(values):
        if 0 <= k0 + k < LOOKBACK_H:
            out[k0 + k] = v
    if not np.isfinite(out[-24:]).any():
        return None
    return h_start, out


def _day_ahead(
    region: Region, start_s: float, end_s: float, observed: tuple[int, Any]
) -> tuple[IntensitySeries, Any]:
    """The day-ahead forecast over whole hours covering ``[start_s, end_s)``: hour 0 is the hour
    holding ``start_s``; every step is flagged estimated. Returns it with the model's error
    second moment (``DayAhead.err_cov``)."""
    import math

    import numpy as np

    from carbonsdk.intensity import embedded
    from carbonsdk.schedule.forecasters import History, fit_day_ahead, zone_profile

    zone = str(region.zone).upper()
    years = embedded.hourly_years(zone)
    model = fit_day_ahead(zone, tuple(years))
    h_start, values = observed
    hist = History(h_start, values, zone_profile(zone, tuple(years)), zone)
    issue = (math.floor(start_s / 3600.0) * 3600 - h_start) // 3600
    n = max(1, math.ceil((end_s - math.floor(start_s / 3600.0) * 3600) / 3600.0))
    f = model.predict(hist, np.asarray([issue], dtype=np.int64), n)[0]
    b0 = math.floor(start_s / 3600.0) * 3600.0
    typical = _typical(region, start_s, end_s)
    src = attrs.evolve(
        typical.source,
        note=(
            f"carbonsdk day-ahead forecast: {int(np.isfinite(values).sum())} h observed in the "
            "last "
            f"{len(values) // 24} days + the typical profile of {', '.join(map(str, years))}, "
            "estimated"
        ),
    )
    series = IntensitySeries(
        tuple(b0 + 3600.0 * k for k in range(n + 1)), tuple(float(x) for x in f), (True,) * n, src
    )
    return series, model.err_cov


def _provider(option: Any) -> Any:
    from carbonsdk.intensity import choose

    if option is None or option == "auto":
        return choose.auto_provider()
    return choose.make_provider(option)


def forward_series(
    region: Region,
    start_s: float,
    end_s: float,
    *,
    provider: Any = None,
    budget_s: float = FORECAST_BUDGET_S,
) -> ForwardSeries:
    """Intensity for ``region`` over ``[start_s, end_s)`` (epoch seconds) for planning.

    ``provider``: None / ``"auto"`` (a live provider when credentials are configured and the SDK
    is online, else embedded), a provider name or object as for ``measure(intensity=...)``. A
    provider with a ``forecast(region, start, end, deadline_s=...)`` method is asked for its
    forecast; otherwise, or when it fails, the embedded typical year is used. Raises
    :class:`ConfigurationError` for a bad ``provider`` option or an unknown region only.
    """
    if not region.known:
        raise ConfigurationError(
            "cannot plan for an unknown region: pass region= (e.g. 'aws:us-east-1', 'DE')"
        )
    chosen = _provider(provider)
    ask = {"region": region, "end_s": end_s, "option": provider}
    name = str(getattr(chosen, "name", type(chosen).__name__))
    forecast = getattr(chosen, "forecast", None)
    note = ""
    if callable(forecast):
        try:
            if accepts_deadline(forecast):
                series = forecast(
                    region,
                    to_datetime(start_s),
                    to_datetime(end_s),
                    deadline_s=time.monotonic() + budget_s,
                )
            else:
                series = forecast(region, to_datetime(start_s), to_datetime(end_s))
        except (CarbonSDKError, OSError, ValueError) as exc:
            note = f"{name} forecast failed ({type(exc).__name__}: {exc})"
        except Exception as exc:  # noqa: BLE001 - a provider bug must not break planning
            note = f"{name} forecast failed (unexpected {type(exc).__name__}: {exc})"
        else:
            if isinstance(series, IntensitySeries):
                b0, b1 = series.boundaries_s[0], series.boundaries_s[-1]
                if b0 <= start_s + EPS_S and end_s <= b1 + EPS_S:
                    return ForwardSeries(
                        series, "forecast", name, f"{name} forecast covers the whole window", **ask
                    )
                if b0 <= start_s + EPS_S and b1 > start_s:
                    filler = _typical(region, start_s, end_s)
                    return ForwardSeries(
                        splice(series.slice(start_s, b1), filler, start_s, end_s),
                        "forecast+typical",
                        name,
                        f"{name} forecast until {to_datetime(b1).isoformat()}, then the embedded "
                        "typical year",
                        **ask,
                    )
                note = f"{name} forecast does not start at the requested time"
            else:
                note = f"{name} forecast returned {type(series).__name__}"
    else:
        note = f"{name} has no forecast"
    observed = _observed(chosen, region, start_s, budget_s)
    if observed is not None:
        try:
            series, err_cov = _day_ahead(region, start_s, end_s, observed)
        except Exception as exc:  # noqa: BLE001 - the forecaster must never break planning
            note += f"; day-ahead forecast failed ({type(exc).__name__}: {exc})"
        else:
            return ForwardSeries(
                series,
                "day-ahead",
                "carbonsdk",
                f"{note}: carbonsdk day-ahead forecast used",
                **ask,
                err_cov=err_cov,
                observed=observed,
            )
    return ForwardSeries(
        _typical(region, start_s, end_s),
        "typical",
        None,
        f"{note}: embedded typical year used",
        **ask,
    )
