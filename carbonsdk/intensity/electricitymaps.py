"""Electricity Maps API (v4 by default, v3 selectable): hourly average (consumption-based,
flow-traced) carbon intensity.

Endpoints (https://portal.electricitymaps.com/developer-hub/api/reference, read 2025; v4 is
the version the developer hub now documents, with the same carbon-intensity endpoint names,
parameters and response fields as v3, which stays selectable), under ``/{api_version}``:

- ``GET /v4/carbon-intensity/history?zone=Z`` — the last 24 hours (free personal tokens);
- ``GET /v4/carbon-intensity/past-range?zone=Z&start=..&end=..`` — any past range, at most
  10 days (240 hours) per request at hourly granularity (commercial plans), so longer ranges
  are requested in 10-day windows;
- ``GET /v4/carbon-intensity/latest?zone=Z`` and ``GET /v4/carbon-intensity/forecast?zone=Z``.
  The forecast covers 24 h by default; ``horizonHours`` takes one of the documented values
  :data:`FORECAST_HORIZONS_H` (6, 24, 48, 72), so a longer need is rounded up to the next one.
  If the API rejects a horizon (HTTP 400/422), the forecast is asked again with the default
  horizon, and a range the shorter forecast does not reach fails with a message saying so.

Authentication is the ``auth-token`` header. Each data point carries ``datetime`` (the start of
its hour), ``carbonIntensity`` (gCO2eq/kWh), ``isEstimated`` and ``emissionFactorType``
(``lifecycle``, the API's default, or ``direct``, selected with ``emissionFactorType=``).
Points with ``isEstimated: true`` and every forecast point are flagged estimated.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from carbonsdk import config
from carbonsdk.clock import to_datetime, to_epoch_s
from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.http import HttpError
from carbonsdk.intensity.cache import HOUR_S, CacheKey, IntensityCache, RawStep
from carbonsdk.intensity.live import (
    MAX_FILL_S,
    LiveProvider,
    cached_fetch,
    ceil_hour_s,
    credential,
    floor_hour_s,
    hour_windows,
    iso_z,
    parse_wire_time,
    steps_to_series,
)
from carbonsdk.model.intensity import BASES, IntensitySeries, IntensitySource, IntensityStep
from carbonsdk.model.region import Region

_log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.electricitymaps.com"
#: API versions this provider speaks (path prefix); the first is the default.
API_VERSIONS = ("v4", "v3")
DEFAULT_API_VERSION = API_VERSIONS[0]
#: past-range accepts at most 10 days (240 h) per request at hourly granularity (API reference).
PAST_RANGE_MAX_S = 240 * HOUR_S
#: /history covers the last 24 hours; ranges starting later than this use it.
HISTORY_SPAN_S = 24 * HOUR_S
#: /forecast returns 24 h by default; ``horizonHours`` takes one of these values (hours; API
#: reference, forecast endpoint: 6, 24, 48 or 72).
FORECAST_HORIZONS_H = (6, 24, 48, 72)
FORECAST_DEFAULT_HORIZON_H = 24
FORECAST_MAX_HORIZON_H = FORECAST_HORIZONS_H[-1]
_GRANULARITY_S = {"5_minutes": 300.0, "15_minutes": 900.0, "hourly": HOUR_S}
DATASET = "Electricity Maps API {version} (live; consumption-based, flow-traced carbon intensity)"


def forecast_horizon_h(needed_h: float) -> int | None:
    """The ``horizonHours`` to send for a forecast that must reach ``needed_h`` hours ahead:
    the smallest documented value (:data:`FORECAST_HORIZONS_H`) that covers it, capped at 72;
    None (send nothing, the API's 24 h default) when 24 h suffice."""
    if needed_h <= FORECAST_DEFAULT_HORIZON_H:
        return None
    for horizon_h in FORECAST_HORIZONS_H:
        if horizon_h >= needed_h:
            return horizon_h
    return FORECAST_MAX_HORIZON_H


class ElectricityMapsProvider(LiveProvider):
    """Live average carbon intensity from Electricity Maps for ``Region.zone`` (an Electricity
    Maps zone id such as ``"DE"`` or ``"US-CAL-CISO"``).

    ``api_version``: ``"v4"`` (default, the current documented version) or ``"v3"``; the
    version used is named in every series' ``source.dataset``.

    ``api_key`` defaults to ``ELECTRICITYMAPS_API_KEY``; without one the constructor raises
    :class:`ConfigurationError`. ``basis``: ``"lifecycle"`` (the API's default) or
    ``"direct"``. ``timeout_s`` bounds each HTTP attempt and ``budget_s`` a whole
    :meth:`series` call (or pass ``deadline_s``, a :func:`time.monotonic` value), retries
    included. ``cache``: None for the default on-disk :class:`IntensityCache`, an instance, or
    False for none. Gaps up to
    ``max_fill_s`` seconds are filled with the neighbouring value, flagged estimated.
    ``sleep`` and ``now_s`` (UTC epoch seconds) are injectable for tests.
    """

    name = "electricitymaps"
    signal = "average"
    label = "Electricity Maps"
    hints = dict.fromkeys(
        (401, 403),
        " (check ELECTRICITYMAPS_API_KEY and that your plan includes this endpoint and zone)",
    )

    def __init__(
        self,
        api_key: str | None = None,
        *,
        basis: str = "lifecycle",
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        timeout_s: float = 5.0,
        budget_s: float = 8.0,
        retries: int = 2,
        cache: IntensityCache | Literal[False] | None = None,
        max_fill_s: float = MAX_FILL_S,
        sleep: Callable[[float], None] = time.sleep,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        key = credential(
            api_key,
            config.ENV_ELECTRICITYMAPS_API_KEY,
            "Electricity Maps needs an API key: set ELECTRICITYMAPS_API_KEY or pass "
            "api_key=... (get one at https://portal.electricitymaps.com)",
        )
        if basis not in BASES:
            raise ConfigurationError(f"basis {basis!r} is invalid: expected one of {BASES}")
        version = str(api_version).strip().lower()
        if version not in API_VERSIONS:
            raise ConfigurationError(
                f"api_version {api_version!r} is invalid: expected one of {API_VERSIONS}"
            )
        self._configure(base_url, timeout_s, budget_s, retries, cache, max_fill_s, sleep, now_s)
        self._api_key = key
        self.basis = basis
        self.api_version = version

    @staticmethod
    def credentials_available() -> bool:
        """True when ``ELECTRICITYMAPS_API_KEY`` is set (for ``intensity="auto"``)."""
        return config.secret(config.ENV_ELECTRICITYMAPS_API_KEY) is not None

    def __repr__(self) -> str:
        return (
            f"ElectricityMapsProvider(base_url={self.base_url!r}, "
            f"api_version={self.api_version!r}, basis={self.basis!r}, api_key=<set>)"
        )

    # -- HTTP -------------------------------------------------------------------------------

    def _path(self, endpoint: str) -> str:
        """``/v4/carbon-intensity/<endpoint>`` for the configured API version."""
        return f"/{self.api_version}/carbon-intensity/{endpoint}"

    def _key(self, zone: str, kind: str) -> CacheKey:
        endpoint = f"{self.base_url}/{self.api_version}"
        return CacheKey(self.name, zone, self.signal, self.basis, kind, endpoint)

    def _get(self, path: str, params: dict[str, str], deadline_s: float) -> Any:
        _log.debug("Electricity Maps request %s zone=%s", path, params.get("zone"))
        return self._http_get(
            path,
            deadline_s,
            headers={"auth-token": self._api_key, "Accept": "application/json"},
            params=params,
        )

    def _zone(self, region: Region) -> str:
        if region.zone is None:
            raise ProviderError("Electricity Maps needs a grid zone; the region is unknown")
        return region.zone

    def _source(self, zone: str, note: str = "") -> IntensitySource:
        return IntensitySource(
            provider=self.name,
            signal=self.signal,
            basis=self.basis,
            zone=zone,
            estimated=False,
            note=note,
            dataset=f"{DATASET.format(version=self.api_version)}, {self.basis} emission factors",
        )

    # -- parsing ----------------------------------------------------------------------------

    def _parse_points(self, doc: Any, field: str, *, forecast: bool) -> list[RawStep]:
        if not isinstance(doc, dict) or not isinstance(doc.get(field), list):
            raise ProviderError(f"Electricity Maps: unexpected response (no {field!r} list)")
        step_s = _GRANULARITY_S.get(str(doc.get("temporalGranularity", "hourly")), HOUR_S)
        return self._points(doc[field], step_s, forecast=forecast)

    def _points(self, items: list[Any], step_s: float, *, forecast: bool) -> list[RawStep]:
        out: list[RawStep] = []
        for item in items:
            if not isinstance(item, dict):
                raise ProviderError("Electricity Maps: unexpected data point (not an object)")
            value = item.get("carbonIntensity")
            if value is None:
                continue  # no data for that hour: a gap
            factor = item.get("emissionFactorType")
            if factor is not None and factor != self.basis:
                raise ProviderError(
                    f"Electricity Maps returned {factor!r} emission factors; {self.basis!r} "
                    "were requested"
                )
            try:
                start_s = parse_wire_time(item.get("datetime"))
                g_per_kwh = float(value)
            except (TypeError, ValueError):
                raise ProviderError(
                    f"Electricity Maps: unreadable data point (datetime "
                    f"{item.get('datetime')!r}, carbonIntensity {value!r})"
                ) from None
            if not math.isfinite(g_per_kwh) or g_per_kwh < 0:
                raise ProviderError(f"Electricity Maps: invalid carbonIntensity {value!r}")
            estimated = forecast or bool(item.get("isEstimated", False))
            out.append((start_s, start_s + step_s, g_per_kwh, estimated))
        return out

    # -- fetching ---------------------------------------------------------------------------

    def _history_boundary_s(self) -> float:
        """Hours from here on are served by ``/history`` (the last 24 h, less an hour's margin)."""
        return floor_hour_s(self._now_s() - HISTORY_SPAN_S + HOUR_S)

    def _fetch_history(self, zone: str, lo: float, hi: float, deadline_s: float) -> list[RawStep]:
        params = {"zone": zone, "emissionFactorType": self.basis}
        if lo >= self._history_boundary_s():
            doc = self._get(self._path("history"), params, deadline_s)
            return self._parse_points(doc, "history", forecast=False)
        params.update(start=iso_z(lo), end=iso_z(hi))
        doc = self._get(self._path("past-range"), params, deadline_s)
        return self._parse_points(doc, "data", forecast=False)

    def _fetch_forecast(self, zone: str, hi: float, deadline_s: float) -> list[RawStep]:
        params = {"zone": zone, "emissionFactorType": self.basis}
        horizon_h = forecast_horizon_h(math.ceil((hi - self._now_s()) / HOUR_S))
        if horizon_h is not None:
            params["horizonHours"] = str(horizon_h)
        try:
            doc = self._get(self._path("forecast"), params, deadline_s)
        except HttpError as exc:
            if horizon_h is None or exc.status not in (400, 422):
                raise
            # this plan or zone refuses the horizon: the default (24 h) forecast instead
            _log.debug("Electricity Maps rejected horizonHours=%s (%s)", horizon_h, exc)
            del params["horizonHours"]
            doc = self._get(self._path("forecast"), params, deadline_s)
            steps = self._parse_points(doc, "forecast", forecast=True)
            reach_s = max((e for _, e, _, _ in steps), default=-math.inf)
            if reach_s + self.max_fill_s < hi:
                said = f" ({exc.service_message})" if exc.service_message else ""
                raise ProviderError(
                    f"Electricity Maps rejected horizonHours={horizon_h}{said}; its default "
                    f"forecast reaches {to_datetime(reach_s).isoformat() if steps else 'nothing'}"
                    f", short of {to_datetime(hi).isoformat()}"
                ) from None
            return steps
        return self._parse_points(doc, "forecast", forecast=True)

    def _history_steps(
        self, zone: str, start_s: float, end_s: float, deadline_s: float
    ) -> list[RawStep]:
        key = self._key(zone, "history")
        boundary_s = self._history_boundary_s()
        windows = []  # /past-range windows, then one /history window for the last hours
        if start_s < boundary_s:
            windows += hour_windows(start_s, min(end_s, boundary_s), PAST_RANGE_MAX_S)
        if end_s > boundary_s:
            windows += hour_windows(max(start_s, boundary_s), end_s, HISTORY_SPAN_S)
        return cached_fetch(
            self.cache,
            key,
            windows,
            lambda lo, hi: self._fetch_history(zone, lo, hi, deadline_s),
            offline=config.offline(),
        )

    def _forecast_steps(
        self, zone: str, start_s: float, end_s: float, deadline_s: float
    ) -> list[RawStep]:
        key = self._key(zone, "forecast")
        window = (floor_hour_s(start_s), ceil_hour_s(end_s))
        return cached_fetch(
            self.cache,
            key,
            [window],
            lambda lo, hi: self._fetch_forecast(zone, hi, deadline_s),
            offline=config.offline(),
        )

    # -- public API -------------------------------------------------------------------------

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """Hourly intensity (g/kWh) for ``region.zone`` covering ``[start, end)``: history for
        the past (``/history`` for the last 23 hours, ``/past-range`` in 10-day windows before
        that), the forecast for any part more than an hour ahead. Raises
        :class:`ProviderError`."""
        zone = self._zone(region)
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        deadline = self._deadline(deadline_s)
        steps = self._past_and_ahead(
            start_s,
            end_s,
            lambda lo, hi: self._history_steps(zone, lo, hi, deadline),
            lambda lo, hi: self._forecast_steps(zone, lo, hi, deadline),
        )
        return steps_to_series(
            steps, start_s, end_s, self._source(zone), max_fill_s=self.max_fill_s
        )

    def forecast(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """The latest forecast (g/kWh, every step flagged estimated) covering
        ``[start, end)``, at most 72 h ahead. Raises :class:`ProviderError`."""
        zone = self._zone(region)
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        steps = self._forecast_steps(zone, start_s, end_s, self._deadline(deadline_s))
        return steps_to_series(
            steps, start_s, end_s, self._source(zone, "forecast"), max_fill_s=self.max_fill_s
        )

    def latest(self, region: Region, *, deadline_s: float | None = None) -> IntensityStep:
        """The most recent value (``/latest``, not cached) as one hourly step."""
        zone = self._zone(region)
        self._require_online()
        doc = self._get(
            self._path("latest"),
            {"zone": zone, "emissionFactorType": self.basis},
            self._deadline(deadline_s),
        )
        if not isinstance(doc, dict):
            raise ProviderError("Electricity Maps: unexpected response (not an object)")
        points = self._points([doc], HOUR_S, forecast=False)
        if not points:
            raise ProviderError(f"no Electricity Maps data for zone {zone} (latest)")
        s, e, v, est = points[0]
        return IntensityStep(to_datetime(s), to_datetime(e), v, est)
