"""The intensity ahead of now for a region: a provider's forecast where one is available
(Electricity Maps, WattTime, UK Carbon Intensity), else the embedded typical year. Used by
``carbonsdk plan``, :func:`carbonsdk.wait_for_low_carbon` and ``run.should_pause()``.

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
from carbonsdk.intensity.series import IntensitySeries
from carbonsdk.region.base import Region
from carbonsdk.schedule.plans import EPS_S, splice

#: seconds a live provider may take to answer a forecast request
FORECAST_BUDGET_S = 10.0


@attrs.frozen(eq=False)
class ForwardSeries:
    """Intensity over a future window. ``kind``: ``"forecast"`` (all from a provider's
    forecast), ``"forecast+typical"`` (forecast, completed by the embedded typical year past
    its horizon) or ``"typical"`` (embedded typical year only); ``provider``: the forecast's
    provider name (None for ``"typical"``); ``note``: why, in words."""

    series: IntensitySeries
    kind: str
    provider: str | None
    note: str

    @property
    def description(self) -> str:
        """One line saying where the values come from."""
        if self.kind == "forecast":
            return f"{self.provider} forecast"
        if self.kind == "forecast+typical":
            return f"{self.provider} forecast, then the embedded typical year"
        return "embedded typical year (no forecast)"


def _typical(region: Region, start_s: float, end_s: float) -> IntensitySeries:
    from carbonsdk.intensity.embedded import EmbeddedProvider

    series: IntensitySeries = EmbeddedProvider().typical_series(
        region, to_datetime(start_s), to_datetime(end_s))
    return series


def _provider(option: Any) -> Any:
    from carbonsdk.intensity import choose

    if option is None or option == "auto":
        return choose.auto_provider()
    return choose.make_provider(option)


def forward_series(region: Region, start_s: float, end_s: float, *, provider: Any = None,
                   budget_s: float = FORECAST_BUDGET_S) -> ForwardSeries:
    """Intensity for ``region`` over ``[start_s, end_s)`` (epoch seconds) for planning.

    ``provider``: None / ``"auto"`` (a live provider when credentials are configured and the SDK
    is online, else embedded), a provider name or object as for ``measure(intensity=...)``. A
    provider with a ``forecast(region, start, end, deadline_s=...)`` method is asked for its
    forecast; otherwise, or when it fails, the embedded typical year is used. Raises
    :class:`ConfigurationError` for a bad ``provider`` option or an unknown region only.
    """
    if not region.known:
        raise ConfigurationError(
            "cannot plan for an unknown region: pass region= (e.g. 'aws:us-east-1', 'DE')")
    chosen = _provider(provider)
    name = str(getattr(chosen, "name", type(chosen).__name__))
    forecast = getattr(chosen, "forecast", None)
    note = ""
    if callable(forecast):
        try:
            if accepts_deadline(forecast):
                series = forecast(region, to_datetime(start_s), to_datetime(end_s),
                                  deadline_s=time.monotonic() + budget_s)
            else:
                series = forecast(region, to_datetime(start_s), to_datetime(end_s))
        except (CarbonSDKError, OSError, ValueError) as exc:
            note = f"{name} forecast failed ({type(exc).__name__}: {exc})"
        except Exception as exc:  # a provider bug must not break planning
            note = f"{name} forecast failed (unexpected {type(exc).__name__}: {exc})"
        else:
            if isinstance(series, IntensitySeries):
                b0, b1 = series.boundaries_s[0], series.boundaries_s[-1]
                if b0 <= start_s + EPS_S and end_s <= b1 + EPS_S:
                    return ForwardSeries(series, "forecast", name,
                                         f"{name} forecast covers the whole window")
                if b0 <= start_s + EPS_S and b1 > start_s:
                    filler = _typical(region, start_s, end_s)
                    return ForwardSeries(
                        splice(series.slice(start_s, b1), filler, start_s, end_s),
                        "forecast+typical", name,
                        f"{name} forecast until {to_datetime(b1).isoformat()}, then the embedded "
                        "typical year")
                note = f"{name} forecast does not start at the requested time"
            else:
                note = f"{name} forecast returned {type(series).__name__}"
    else:
        note = f"{name} has no forecast"
    return ForwardSeries(_typical(region, start_s, end_s), "typical", None,
                         f"{note}: embedded typical year used")
