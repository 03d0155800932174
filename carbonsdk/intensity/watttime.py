"""WattTime API v3: the marginal operating emissions rate (MOER, ``signal_type=co2_moer``).

Endpoints (https://docs.watttime.org, and WattTime's own Python client, read 2025):

- ``GET /login`` with HTTP basic auth → ``{"token": "..."}``, a bearer token valid for
  30 minutes (kept in memory for 25, and renewed once on a 401);
- ``GET /v3/historical?region=R&signal_type=co2_moer&start=..&end=..`` (WattTime's client
  requests at most 30 days at a time) and ``GET /v3/forecast?region=R&signal_type=co2_moer``;
  both return ``{"data": [{"point_time", "value"}], "meta": {"data_point_period_seconds",
  "units": "lbs_co2_per_mwh", ...}}``;
- ``GET /v3/region-from-loc?latitude=..&longitude=..&signal_type=co2_moer`` → ``{"region"}``.

Units: MOER is in pounds of CO2 per MWh. One pound is exactly 0.45359237 kg (international
avoirdupois pound, 1959), so 1 lb/MWh = 453.59237 g / 1000 kWh = 0.45359237 g/kWh.

Regions: WattTime regions (``CAISO_NORTH``, ``PJM_NJ``, ...) are not the grid zones used
elsewhere in carbonsdk and do not map one-to-one onto them, so no mapping is guessed: pass
``wt_region=`` or ``latitude=``/``longitude=`` (resolved with ``/v3/region-from-loc``).
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
from carbonsdk.http import HttpError
from carbonsdk.intensity.cache import HOUR_S, CacheKey, IntensityCache, RawStep
from carbonsdk.intensity.live import (
    MAX_FILL_S,
    LiveProvider,
    cached_fetch,
    ceil_hour_s,
    floor_hour_s,
    hour_windows,
    iso_z,
    parse_wire_time,
    steps_to_series,
)
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region

_log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.watttime.org"
SIGNAL_TYPE = "co2_moer"
#: g/kWh per lb/MWh: 1 lb = 0.45359237 kg exactly, 1 MWh = 1000 kWh.
G_PER_KWH_PER_LB_PER_MWH = 0.45359237
#: g/kWh per unit of each ``meta.units`` value WattTime may report.
UNIT_FACTORS = {
    "lbs_co2_per_mwh": G_PER_KWH_PER_LB_PER_MWH,
    "kg_co2_per_mwh": 1.0,
    "g_co2_per_kwh": 1.0,
}
#: WattTime's client requests historical data 30 days at a time.
HISTORICAL_MAX_S = 30 * 24 * HOUR_S
#: /v3/forecast covers 24 h by default; ``horizon_hours`` extends it up to 72 h.
FORECAST_MAX_HORIZON_H = 72
#: Tokens are valid for 30 minutes; renew after 25.
TOKEN_LIFETIME_S = 25 * 60.0
DATASET = "WattTime API v3 (live; co2_moer marginal operating emissions rate)"


class WattTimeProvider(LiveProvider):
    """Live marginal emissions (``co2_moer``, converted to g/kWh) from WattTime.

    ``username``/``password`` default to ``WATTTIME_USERNAME``/``WATTTIME_PASSWORD``;
    without them the constructor raises :class:`ConfigurationError`. The WattTime region is
    ``wt_region`` when given, else looked up from ``latitude``/``longitude``; with neither,
    :meth:`series` raises :class:`ProviderError` (grid zones do not map one-to-one onto
    WattTime regions). ``timeout_s`` bounds each HTTP attempt and ``budget_s`` a whole call
    (or pass ``deadline_s``, a :func:`time.monotonic` value). ``cache``: None for the default
    on-disk :class:`IntensityCache`, an instance, or False for none. Gaps up to
    ``max_fill_s`` seconds are filled with the neighbouring value, flagged estimated.
    """

    name = "watttime"
    signal = "marginal"
    #: MOER counts the operating (smoke-stack) CO2 of the marginal generators.
    basis = "direct"
    #: errors carry WattTime's own explanation (e.g. which region or signal the account may
    #: not use), as WattTime's Python client shows the response text
    label = "WattTime"

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        wt_region: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 5.0,
        budget_s: float = 8.0,
        retries: int = 2,
        cache: IntensityCache | Literal[False] | None = None,
        max_fill_s: float = MAX_FILL_S,
        sleep: Callable[[float], None] = time.sleep,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        user = username if username is not None else config.secret(config.ENV_WATTTIME_USERNAME)
        pw = password if password is not None else config.secret(config.ENV_WATTTIME_PASSWORD)
        if not user or not pw:
            raise ConfigurationError(
                "WattTime needs a username and password: set WATTTIME_USERNAME and "
                "WATTTIME_PASSWORD or pass username=..., password=..."
            )
        if (latitude is None) != (longitude is None):
            raise ConfigurationError("pass both latitude and longitude (degrees), or neither")
        if (
            latitude is not None
            and longitude is not None
            and not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0)
        ):
            raise ConfigurationError(
                f"latitude={latitude!r}, longitude={longitude!r} are invalid: expected "
                "-90..90 and -180..180 degrees"
            )
        if wt_region is not None and not wt_region.strip():
            raise ConfigurationError(
                "wt_region is empty: expected a WattTime region like 'CAISO_NORTH'"
            )
        self._configure(base_url, timeout_s, budget_s, retries, cache, max_fill_s, sleep, now_s)
        self._auth = (user, pw)
        self.wt_region = wt_region.strip().upper() if wt_region else None
        self.latitude = latitude
        self.longitude = longitude
        self._token: str | None = None
        self._token_expires_mono = 0.0

    @staticmethod
    def credentials_available() -> bool:
        """True when ``WATTTIME_USERNAME`` and ``WATTTIME_PASSWORD`` are both set."""
        return bool(
            config.secret(config.ENV_WATTTIME_USERNAME)
            and config.secret(config.ENV_WATTTIME_PASSWORD)
        )

    def __repr__(self) -> str:
        where = f"wt_region={self.wt_region!r}"
        if self.wt_region is None and self.latitude is not None:
            where = f"latitude={self.latitude!r}, longitude={self.longitude!r}"
        return (
            f"WattTimeProvider({where}, base_url={self.base_url!r}, username=<set>, password=<set>)"
        )

    # -- HTTP -------------------------------------------------------------------------------

    def _login(self, deadline_s: float) -> str:
        _log.debug("WattTime login")
        try:
            doc = self._http_get("/login", deadline_s, auth=self._auth)
        except HttpError as exc:
            if exc.status in (401, 403):
                said = f": {exc.service_message}" if exc.service_message else ""
                raise HttpError(
                    f"WattTime login rejected (HTTP {exc.status}{said}): check "
                    "WATTTIME_USERNAME and WATTTIME_PASSWORD",
                    exc.status,
                    service_message=exc.service_message,
                ) from None
            raise
        token = doc.get("token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderError("WattTime login: unexpected response (no token)")
        self._token = token
        self._token_expires_mono = time.monotonic() + TOKEN_LIFETIME_S
        return token

    def _get(self, path: str, params: dict[str, str], deadline_s: float) -> Any:
        """GET with the bearer token, logging in first when needed and once more on a 401."""
        self._require_online()
        token = self._token
        if token is None or time.monotonic() >= self._token_expires_mono:
            token = self._login(deadline_s)
        _log.debug("WattTime request %s region=%s", path, params.get("region"))
        for attempt in range(2):
            try:
                return self._http_get(
                    path,
                    deadline_s,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    params=params,
                )
            except HttpError as exc:
                if exc.status != 401 or attempt == 1:
                    raise
                self._token = None
                token = self._login(deadline_s)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- region and parsing -----------------------------------------------------------------

    def _region(self, deadline_s: float) -> str:
        if self.wt_region is not None:
            return self.wt_region
        if self.latitude is None or self.longitude is None:
            raise ProviderError(
                "WattTime needs a WattTime region: pass WattTimeProvider(wt_region="
                "'CAISO_NORTH') or latitude=/longitude= (grid zones do not map one-to-one "
                "onto WattTime regions)"
            )
        doc = self._get(
            "/v3/region-from-loc",
            {
                "latitude": repr(self.latitude),
                "longitude": repr(self.longitude),
                "signal_type": SIGNAL_TYPE,
            },
            deadline_s,
        )
        found = doc.get("region") if isinstance(doc, dict) else None
        if not isinstance(found, str) or not found:
            raise ProviderError("WattTime region-from-loc: unexpected response (no region)")
        self.wt_region = found
        return found

    @staticmethod
    def _parse(doc: Any, *, forecast: bool) -> list[RawStep]:
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise ProviderError("WattTime: unexpected response (no 'data' list)")
        meta_obj = doc.get("meta")
        meta: dict[str, Any] = meta_obj if isinstance(meta_obj, dict) else {}
        units = meta.get("units", "lbs_co2_per_mwh")
        factor = UNIT_FACTORS.get(str(units))
        if factor is None:
            raise ProviderError(
                f"WattTime: unknown units {units!r} (expected one of {sorted(UNIT_FACTORS)})"
            )
        signal = meta.get("signal_type", SIGNAL_TYPE)
        if signal != SIGNAL_TYPE:
            raise ProviderError(f"WattTime returned signal {signal!r}, not {SIGNAL_TYPE!r}")
        try:
            period_s = float(meta.get("data_point_period_seconds", 300))
        except (TypeError, ValueError):
            period_s = 300.0
        if not period_s > 0:
            period_s = 300.0
        out: list[RawStep] = []
        for item in doc["data"]:
            if not isinstance(item, dict):
                raise ProviderError("WattTime: unexpected data point (not an object)")
            value = item.get("value")
            if value is None:
                continue
            try:
                start_s = parse_wire_time(item.get("point_time"))
                g_per_kwh = float(value) * factor
            except (TypeError, ValueError):
                raise ProviderError(
                    f"WattTime: unreadable data point (point_time {item.get('point_time')!r}, "
                    f"value {value!r})"
                ) from None
            if not math.isfinite(g_per_kwh) or g_per_kwh < 0:
                raise ProviderError(f"WattTime: invalid MOER value {value!r}")
            out.append((start_s, start_s + period_s, g_per_kwh, forecast))
        return out

    def _source(self, region: Region, wt_region: str, note: str = "") -> IntensitySource:
        return IntensitySource(
            provider=self.name,
            signal=self.signal,
            basis=self.basis,
            zone=region.zone or wt_region,
            estimated=False,
            note=" ".join(p for p in (f"WattTime region {wt_region}", note) if p),
            dataset=f"{DATASET}, region {wt_region}, lbs/MWh × 0.45359237 = g/kWh",
        )

    # -- fetching ---------------------------------------------------------------------------

    def _history_steps(
        self, wt_region: str, start_s: float, end_s: float, deadline_s: float
    ) -> list[RawStep]:
        def fetch(lo: float, hi: float) -> list[RawStep]:
            params = {
                "region": wt_region,
                "signal_type": SIGNAL_TYPE,
                "start": iso_z(lo),
                "end": iso_z(hi),
            }
            return self._parse(self._get("/v3/historical", params, deadline_s), forecast=False)

        key = CacheKey(self.name, wt_region, self.signal, self.basis, "history", self.base_url)
        return cached_fetch(
            self.cache,
            key,
            hour_windows(start_s, end_s, HISTORICAL_MAX_S),
            fetch,
            offline=config.offline(),
        )

    def _forecast_steps(
        self, wt_region: str, start_s: float, end_s: float, deadline_s: float
    ) -> list[RawStep]:
        def fetch(lo: float, hi: float) -> list[RawStep]:
            params = {"region": wt_region, "signal_type": SIGNAL_TYPE}
            horizon_h = math.ceil((hi - self._now_s()) / HOUR_S)
            if horizon_h > 24:
                params["horizon_hours"] = str(min(horizon_h, FORECAST_MAX_HORIZON_H))
            return self._parse(self._get("/v3/forecast", params, deadline_s), forecast=True)

        key = CacheKey(self.name, wt_region, self.signal, self.basis, "forecast", self.base_url)
        return cached_fetch(
            self.cache,
            key,
            [(floor_hour_s(start_s), ceil_hour_s(end_s))],
            fetch,
            offline=config.offline(),
        )

    # -- public API -------------------------------------------------------------------------

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """Marginal intensity (g/kWh, usually 5-minute steps) covering ``[start, end)``:
        ``/v3/historical`` for the past, ``/v3/forecast`` for any part more than an hour
        ahead (flagged estimated). Raises :class:`ProviderError`."""
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        deadline = self._deadline(deadline_s)
        wt_region = self._region(deadline)
        steps = self._past_and_ahead(
            start_s,
            end_s,
            lambda lo, hi: self._history_steps(wt_region, lo, hi, deadline),
            lambda lo, hi: self._forecast_steps(wt_region, lo, hi, deadline),
        )
        return steps_to_series(
            steps, start_s, end_s, self._source(region, wt_region), max_fill_s=self.max_fill_s
        )

    def forecast(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """The latest MOER forecast (g/kWh, every step flagged estimated) covering
        ``[start, end)``, at most 72 h ahead. Raises :class:`ProviderError`."""
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        deadline = self._deadline(deadline_s)
        wt_region = self._region(deadline)
        steps = self._forecast_steps(wt_region, start_s, end_s, deadline)
        return steps_to_series(
            steps,
            start_s,
            end_s,
            self._source(region, wt_region, "forecast"),
            max_fill_s=self.max_fill_s,
        )
