"""The Carbon Intensity API for Great Britain (NESO, https://api.carbonintensity.org.uk; no key;
CC BY 4.0; docs https://carbon-intensity.github.io/api-definitions/, read 2025).

Endpoints, half-hour settlement periods, times ``YYYY-MM-DDThh:mmZ``:

- national: ``GET /intensity/{from}/{to}`` (at most 14 days per request, so longer ranges are
  requested in 14-day windows) and ``GET /intensity/{from}/fw48h``; each period is
  ``{"from", "to", "intensity": {"forecast", "actual", "index"}}``;
- regional, by region id: ``GET /regional/intensity/{from}/{to}/regionid/{id}`` and
  ``GET /regional/intensity/{from}/fw48h/regionid/{id}``; by outward postcode (``RG10``):
  ``GET /regional/intensity/{from}/{to}/postcode/{postcode}`` and
  ``GET /regional/intensity/{from}/fw48h/postcode/{postcode}``; both answer
  ``{"data": {"regionid", "dnoregion", "shortname", ["postcode",] "data": [periods]}}`` with
  forecast values only.

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
:data:`REGION_IDS`) or ``postcode`` (the outward part of a GB postcode) selects one of the API's
regions instead of the national series.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from carbonsdk import config
from carbonsdk.clock import to_epoch_s
from carbonsdk.exceptions import ConfigurationError, ProviderError
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

DEFAULT_BASE_URL = "https://api.carbonintensity.org.uk"
#: /intensity/{from}/{to} accepts at most 14 days per request (API documentation).
RANGE_MAX_S = 14 * 24 * HOUR_S
#: The API's region ids and names, as the "Region List" table of the API documentation
#: (https://carbon-intensity.github.io/api-definitions/, read 2025) names them. The API's own
#: replies abbreviate some (``shortname`` "Yorkshire" for 5, "North Wales & Merseyside" for 6):
#: a reply's ``shortname`` is shown as well when it differs.
REGION_IDS: dict[int, str] = {
    1: "North Scotland",
    2: "South Scotland",
    3: "North West England",
    4: "North East England",
    5: "South Yorkshire",
    6: "North Wales, Merseyside and Cheshire",
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
#: The outward part of a GB postcode (``RG10``, ``SW1A``, ``M1``), as the API's postcode
#: endpoints take it.
_OUTWARD_POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
DATASET = "NESO Carbon Intensity API (live, Great Britain; CC BY 4.0)"


class UKGridProvider(LiveProvider):
    """Live average carbon intensity for Great Britain (zone ``"GB"``), national, for one
    ``region_id`` (1-17, see :data:`REGION_IDS`) or for the region of one ``postcode`` (its
    outward part, e.g. ``"RG10"``; a full postcode such as ``"RG10 9XX"`` is cut to it).

    ``timeout_s`` bounds each HTTP attempt and ``budget_s`` a whole call (or pass
    ``deadline_s``, a :func:`time.monotonic` value). ``cache``: None for the default on-disk
    :class:`IntensityCache`, an instance, or False for none. Gaps up to ``max_fill_s`` seconds
    are filled with the neighbouring value, flagged estimated.
    """

    name = "ukgrid"
    signal = "average"
    basis = "direct"
    label = "Carbon Intensity API"

    def __init__(
        self,
        *,
        region_id: int | None = None,
        postcode: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 5.0,
        budget_s: float = 8.0,
        retries: int = 2,
        cache: IntensityCache | Literal[False] | None = None,
        max_fill_s: float = MAX_FILL_S,
        sleep: Callable[[float], None] = time.sleep,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        if region_id is not None and (isinstance(region_id, bool) or region_id not in REGION_IDS):
            choices = ", ".join(f"{k} {v}" for k, v in REGION_IDS.items())
            raise ConfigurationError(f"region_id={region_id!r} is invalid: expected {choices}")
        outward: str | None = None
        if postcode is not None:
            outward = str(postcode).strip().upper().split(" ")[0] if str(postcode).strip() else ""
            if not _OUTWARD_POSTCODE_RE.match(outward):
                raise ConfigurationError(
                    f"postcode={postcode!r} is invalid: expected a GB postcode or its outward "
                    "part, such as 'RG10' or 'SW1A 1AA'"
                )
            if region_id is not None:
                raise ConfigurationError(
                    f"pass region_id={region_id!r} or postcode={postcode!r}, not both"
                )
        self._configure(base_url, timeout_s, budget_s, retries, cache, max_fill_s, sleep, now_s)
        self.region_id = region_id
        self.postcode = outward
        self._shortname: str | None = None
        self._postcode_region: int | None = None

    def __repr__(self) -> str:
        where = f"postcode={self.postcode!r}" if self.postcode else f"region_id={self.region_id!r}"
        return f"UKGridProvider({where}, base_url={self.base_url!r})"

    @property
    def regional(self) -> bool:
        """True when a region id or a postcode selects a regional series."""
        return self.region_id is not None or self.postcode is not None

    @property
    def _area(self) -> str:
        if self.postcode is not None:
            return f"GB-postcode-{self.postcode}"
        return "GB" if self.region_id is None else f"GB-region-{self.region_id}"

    def _paths(self) -> tuple[str, str]:
        """The (prefix, suffix) around ``/{from}/{to}`` or ``/{from}/fw48h``."""
        if self.postcode is not None:
            return "/regional/intensity", f"/postcode/{self.postcode}"
        if self.region_id is not None:
            return "/regional/intensity", f"/regionid/{self.region_id}"
        return "/intensity", ""

    def _key(self, kind: str) -> CacheKey:
        return CacheKey(self.name, self._area, self.signal, self.basis, kind, self.base_url)

    def _check_zone(self, region: Region) -> None:
        if (region.zone or "").upper() != "GB":
            raise ProviderError(
                f"the UK Carbon Intensity API covers Great Britain only (zone 'GB'); "
                f"got zone {region.zone!r}"
            )

    def _get(self, path: str, deadline_s: float) -> Any:
        self._require_online()
        _log.debug("Carbon Intensity API request %s", path)
        return self._http_get(path, deadline_s, headers={"Accept": "application/json"})

    def _periods(self, doc: Any) -> list[Any]:
        if not isinstance(doc, dict):
            raise ProviderError("Carbon Intensity API: unexpected response (not an object)")
        data = doc.get("data")
        if self.regional:
            # {"data": {"regionid": .., "data": [...]}}; some deployments wrap it in a list
            if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
                data = data[0]
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise ProviderError(
                    "Carbon Intensity API: unexpected regional response (no data.data list)"
                )
            self._note_region(data)
            return list(data["data"])
        if not isinstance(data, list):
            raise ProviderError("Carbon Intensity API: unexpected response (no 'data' list)")
        return data

    def _note_region(self, data: dict[str, Any]) -> None:
        """Remember which region a regional reply is for (a postcode's region id, the API's
        short name)."""
        regionid = data.get("regionid")
        if self.postcode is not None and isinstance(regionid, int) and regionid in REGION_IDS:
            self._postcode_region = regionid
        shortname = data.get("shortname")
        if isinstance(shortname, str) and shortname.strip():
            self._shortname = shortname.strip()

    def _parse(self, doc: Any, *, forecast: bool) -> list[RawStep]:
        out: list[RawStep] = []
        for item in self._periods(doc):
            intensity = item.get("intensity") if isinstance(item, dict) else None
            if not isinstance(intensity, dict):
                raise ProviderError("Carbon Intensity API: unexpected period (no intensity)")
            actual = None if forecast else intensity.get("actual")
            value, estimated = (
                (actual, False)
                if actual is not None
                else (
                    intensity.get("forecast"),
                    True,
                )
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
            out.append((lo, hi, g_per_kwh, estimated or self.regional))
        return out

    def _area_label(self) -> str:
        region_id = self.region_id
        if self.postcode is not None:
            region_id = self._postcode_region
        if region_id is None:
            return f"postcode {self.postcode}" if self.postcode else "national"
        label = f"region {region_id} {REGION_IDS[region_id]}"
        if self._shortname and self._shortname != REGION_IDS[region_id]:
            label += f" ({self._shortname})"
        if self.postcode:
            label = f"postcode {self.postcode}, {label}"
        return label

    def _source(self, note: str = "") -> IntensitySource:
        area = self._area_label()
        return IntensitySource(
            provider=self.name,
            signal=self.signal,
            basis=self.basis,
            zone="GB",
            estimated=False,
            note=" ".join(p for p in (area, note) if p),
            dataset=f"{DATASET}, {area}",
        )

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """Half-hourly intensity (g/kWh) for zone ``"GB"`` covering ``[start, end)`` from the
        range endpoint in 14-day windows (future periods carry the forecast, flagged
        estimated). Raises :class:`ProviderError`."""
        self._check_zone(region)
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        deadline = self._deadline(deadline_s)
        prefix, suffix = self._paths()

        def fetch(lo: float, hi: float) -> list[RawStep]:
            path = f"{prefix}/{iso_z(lo, seconds=False)}/{iso_z(hi, seconds=False)}{suffix}"
            return self._parse(self._get(path, deadline), forecast=False)

        key = self._key("history")
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
        prefix, suffix = self._paths()

        def fetch(lo: float, _hi: float) -> list[RawStep]:
            path = f"{prefix}/{iso_z(lo, seconds=False)}/fw48h{suffix}"
            return self._parse(self._get(path, deadline), forecast=True)

        key = self._key("forecast")
        window = (floor_hour_s(start_s), ceil_hour_s(end_s))
        steps = cached_fetch(self.cache, key, [window], fetch, offline=config.offline())
        return steps_to_series(
            steps, start_s, end_s, self._source("forecast"), max_fill_s=self.max_fill_s
        )
