"""The Carbon Intensity API for Great Britain (NESO, https://api.carbonintensity.org.uk; no key;
CC BY 4.0; docs https://carbon-intensity.github.io/api-definitions/, read 2025).

Endpoints, half-hour settlement periods, times ``YYYY-MM-DDThh:mmZ``:

- national: ``GET /intensity/{from}/{to}`` (at most 14 days per request, so longer ranges are
  requested in 14-day windows) and ``GET /intensity/{from}/fw48h``; each period is
  ``{"from", "to", "intensity": {"forecast", "actual", "index"}}``;
- regional: ``GET /regional/intensity/{from}/{to}/regionid/{id}`` and
  ``GET /regional/intensity/{from}/fw48h/regionid/{id}``, answering
  ``{"data": {"regionid", "shortname", "data": [periods]}}`` with forecast values only.

``actual`` is NESO's estimate of the outturn, published after each half hour; where it is
null (future periods, or not yet published) the ``forecast`` is used and flagged estimated.
Regional values are forecasts and always flagged estimated.

Basis: the API's intensity counts "CO2 emissions related to electricity generation only" from
large metered power stations, interconnector imports and transmission and distribution losses
(Bruce et al., NESO, *Carbon Intensity Forecast Methodology*), with zero for nuclear, wind,
solar and hydro and 120 g/kWh for biomass: operational emissions at the point of generation,
not life-cycle, so ``basis="direct"``. Signal: ``"average"``.

Zones: the API covers Great Britain only, so only the grid zone ``"GB"`` is accepted
(Northern Ireland is part of the all-island Irish grid and not covered). ``region_id`` (1-17,
:data:`REGION_IDS`) selects one of the API's regions instead of the national series.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from carbonsdk import config
from carbonsdk.clock import to_epoch_s
from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.http import HttpError, request
from carbonsdk.intensity.cache import (
    HOUR_S,
    CacheKey,
    IntensityCache,
    RawStep,
)
from carbonsdk.intensity.live import (
    MAX_FILL_S,
    cached_fetch,
    ceil_hour_s,
    floor_hour_s,
    hour_windows,
    iso_z,
    parse_wire_time,
    resolve_cache,
    steps_to_series,
)
from carbonsdk.intensity.series import IntensitySeries, IntensitySource
from carbonsdk.region.base import Region

_log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.carbonintensity.org.uk"
#: /intensity/{from}/{to} accepts at most 14 days per request (API documentation).
RANGE_MAX_S = 14 * 24 * HOUR_S
#: The API's region ids (its "Region ID" table) and names.
REGION_IDS: dict[int, str] = {
    1: "North Scotland",
    2: "South Scotland",
    3: "North West England",
    4: "North East England",
    5: "Yorkshire",
    6: "North Wales & Merseyside",
    7: "South Wales",
    8: "West Midlands",
    9: "East Midlands",
    10: "East England",
    11: "South West England",
    12: "South England",
    13: "London",
    14: "South East England",
    15: "England",
    16: "Scotland",
    17: "Wales",
}
DATASET = "NESO Carbon Intensity API (live, Great Britain; CC BY 4.0)"






class UKGridProvider:
    """Live average carbon intensity for Great Britain (zone ``"GB"``), national or for one
    ``region_id`` (1-17, see :data:`REGION_IDS`).

    ``timeout_s`` bounds each HTTP attempt and ``budget_s`` a whole call (or pass
    ``deadline_s``, a :func:`time.monotonic` value). ``cache``: None for the default on-disk
    :class:`IntensityCache`, an instance, or False for none. Gaps up to ``max_fill_s`` seconds
    are filled with the neighbouring value, flagged estimated.
    """

    name = "ukgrid"
    signal = "average"
    basis = "direct"

    def __init__(
        self,
        *,
        region_id: int | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 5.0,
        budget_s: float = 8.0,
        retries: int = 2,
        cache: IntensityCache | Literal[False] | None = None,
        max_fill_s: float = MAX_FILL_S,
        sleep: Callable[[float], None] = time.sleep,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        if region_id is not None and (
            isinstance(region_id, bool) or region_id not in REGION_IDS
        ):
            choices = ", ".join(f"{k} {v}" for k, v in REGION_IDS.items())
            raise ConfigurationError(f"region_id={region_id!r} is invalid: expected {choices}")
        if not (timeout_s > 0 and budget_s > 0):
            raise ConfigurationError(
                f"timeout_s={timeout_s!r} and budget_s={budget_s!r} must be positive seconds"
            )
        self.region_id = region_id
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.budget_s = float(budget_s)
        self.retries = int(retries)
        self.cache = resolve_cache(cache)
        self.max_fill_s = float(max_fill_s)
        self._sleep = sleep
        self._now_s = now_s

    def __repr__(self) -> str:
        return f"UKGridProvider(region_id={self.region_id!r}, base_url={self.base_url!r})"

    @property
    def _area(self) -> str:
        return "GB" if self.region_id is None else f"GB-region-{self.region_id}"

    def _check_zone(self, region: Region) -> None:
        if (region.zone or "").upper() != "GB":
            raise ProviderError(
                f"the UK Carbon Intensity API covers Great Britain only (zone 'GB'); "
                f"got zone {region.zone!r}"
            )

    def _get(self, path: str, deadline_s: float) -> Any:
        if config.offline():
            raise ProviderError("ukgrid: CARBONSDK_OFFLINE is set: no network")
        _log.debug("Carbon Intensity API request %s", path)
        try:
            resp = request(
                "GET",
                f"{self.base_url}{path}",
                headers={"Accept": "application/json"},
                timeout_s=self.timeout_s,
                retries=self.retries,
                max_wait_s=self.budget_s,
                deadline_s=deadline_s,
                sleep=self._sleep,
            )
            return resp.json()
        except HttpError as exc:
            raise HttpError(f"Carbon Intensity API: {exc}", exc.status) from None

    def _periods(self, doc: Any) -> list[Any]:
        if not isinstance(doc, dict):
            raise ProviderError("Carbon Intensity API: unexpected response (not an object)")
        data = doc.get("data")
        if self.region_id is not None:
            # {"data": {"regionid": .., "data": [...]}}; some deployments wrap it in a list
            if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
                data = data[0]
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise ProviderError(
                    "Carbon Intensity API: unexpected regional response (no data.data list)"
                )
            return list(data["data"])
        if not isinstance(data, list):
            raise ProviderError("Carbon Intensity API: unexpected response (no 'data' list)")
        return data

    def _parse(self, doc: Any, *, forecast: bool) -> list[RawStep]:
        out: list[RawStep] = []
        for item in self._periods(doc):
            intensity = item.get("intensity") if isinstance(item, dict) else None
            if not isinstance(intensity, dict):
                raise ProviderError("Carbon Intensity API: unexpected period (no intensity)")
            actual = None if forecast else intensity.get("actual")
            value, estimated = (actual, False) if actual is not None else (
                intensity.get("forecast"),
                True,
            )
            if value is None:
                continue
            try:
                lo, hi = parse_wire_time(item.get("from")), parse_wire_time(item.get("to"))
                g_per_kwh = float(value)
            except (TypeError, ValueError):
                raise ProviderError(
                    f"Carbon Intensity API: unreadable period (from {item.get('from')!r}, "
                    f"to {item.get('to')!r}, intensity {value!r})"
                ) from None
            if not math.isfinite(g_per_kwh) or g_per_kwh < 0:
                raise ProviderError(f"Carbon Intensity API: invalid intensity {value!r}")
            out.append((lo, hi, g_per_kwh, estimated or self.region_id is not None))
        return out

    def _source(self, note: str = "") -> IntensitySource:
        area = "national" if self.region_id is None else (
            f"region {self.region_id} {REGION_IDS[self.region_id]}"
        )
        return IntensitySource(
            provider=self.name,
            signal=self.signal,
            basis=self.basis,
            zone="GB",
            estimated=False,
            note=" ".join(p for p in (area, note) if p),
            dataset=f"{DATASET}, {area}",
        )

    def _deadline(self, deadline_s: float | None) -> float:
        return deadline_s if deadline_s is not None else time.monotonic() + self.budget_s

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """Half-hourly intensity (g/kWh) for zone ``"GB"`` covering ``[start, end)`` from the
        range endpoint in 14-day windows (future periods carry the forecast, flagged
        estimated). Raises :class:`ProviderError`."""
        self._check_zone(region)
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        deadline = self._deadline(deadline_s)
        suffix = "" if self.region_id is None else f"/regionid/{self.region_id}"
        prefix = "/intensity" if self.region_id is None else "/regional/intensity"

        def fetch(lo: float, hi: float) -> list[RawStep]:
            path = f"{prefix}/{iso_z(lo, seconds=False)}/{iso_z(hi, seconds=False)}{suffix}"
            return self._parse(self._get(path, deadline), forecast=False)

        key = CacheKey(self.name, self._area, self.signal, self.basis, "history")
        steps = cached_fetch(
            self.cache,
            key,
            hour_windows(start_s, end_s, RANGE_MAX_S),
            fetch,
            offline=config.offline(),
        )
        return steps_to_series(steps, start_s, end_s, self._source(), max_fill_s=self.max_fill_s)

    def forecast(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """The 48-hour forecast (``fw48h``, g/kWh, every step flagged estimated) from the hour
        holding ``start``, covering ``[start, end)``. Raises :class:`ProviderError`."""
        self._check_zone(region)
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        deadline = self._deadline(deadline_s)
        suffix = "" if self.region_id is None else f"/regionid/{self.region_id}"
        prefix = "/intensity" if self.region_id is None else "/regional/intensity"

        def fetch(lo: float, _hi: float) -> list[RawStep]:
            path = f"{prefix}/{iso_z(lo, seconds=False)}/fw48h{suffix}"
            return self._parse(self._get(path, deadline), forecast=True)

        key = CacheKey(self.name, self._area, self.signal, self.basis, "forecast")
        window = (floor_hour_s(start_s), ceil_hour_s(end_s))
        steps = cached_fetch(self.cache, key, [window], fetch, offline=config.offline())
        return steps_to_series(
            steps, start_s, end_s, self._source("forecast"), max_fill_s=self.max_fill_s
        )
