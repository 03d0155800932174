"""ENTSO-E Transparency Platform RESTful API: actual generation per production type (data item
16.1.B&C), turned into production-based, life-cycle average carbon intensity with
:mod:`carbonsdk.intensity.factors`.

Request (ENTSO-E Transparency Platform RESTful API user guide, read 2025):
``GET /api?securityToken=T&documentType=A75&processType=A16&in_Domain=EIC
&periodStart=yyyyMMddHHmm&periodEnd=yyyyMMddHHmm`` (UTC; at most one year per request; 400
requests a minute per token, past which HTTP 429). The token is free: register on the
platform and ask for RESTful API access.

Answer: an XML ``GL_MarketDocument`` with one ``TimeSeries`` per production type and
direction. ``MktPSRType/psrType`` is the production type (B01 … B20, B25);
``inBiddingZone_Domain.mRID`` marks generation into the zone, ``outBiddingZone_Domain.mRID``
consumption out of it (pumped-storage pumping, B10, and storage charging). Each ``Period`` has a
``timeInterval`` (``start``, ``end``), a ``resolution`` (``PT15M``, ``PT30M`` or ``PT60M``) and
``Point`` elements (``position`` from 1, ``quantity`` in MW, the mean over that interval). With
``curveType`` A03 a missing position repeats the previous point's quantity; with A01 a missing
position is a gap. A query without data answers an ``Acknowledgement_MarketDocument`` whose
``Reason`` (code 999) says "No matching data found"; bad queries answer HTTP 400 and a wrong
token HTTP 401.

Production types and factor categories (the grouping Electricity Maps uses for ENTSO-E data):
B01 biomass, B17 waste → biomass; B02 lignite, B05 hard coal, B07 oil shale, B08 peat → coal;
B03 coal-derived gas, B04 gas → gas; B06 oil; B09 geothermal; B11 run-of-river, B12 reservoir →
hydro; B14 nuclear; B16 solar; B18 wind offshore; B19 wind onshore; B13 marine, B15 other
renewable, B20 other → unknown; B10 pumped storage and B25 energy storage → storage, left out.

The XML is parsed with :mod:`xml.etree.ElementTree` after refusing any document type
declaration or entity (no DTD, no entity expansion) and any body over :data:`MAX_BODY_CHARS`.
The value is production-based: generation inside the bidding zone, without imports.
"""

from __future__ import annotations

import logging
import math
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal

from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.intensity.cache import HOUR_S, IntensityCache
from carbonsdk.intensity.factors import STORAGE, MixAccumulator
from carbonsdk.intensity.generation import GenerationMixProvider
from carbonsdk.intensity.live import MAX_FILL_S, credential, floor_hour_s, parse_wire_time
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.model.region import Region

_log = logging.getLogger(__name__)

ENV_ENTSOE_API_TOKEN = "ENTSOE_API_TOKEN"
DEFAULT_BASE_URL = "https://web-api.tp.entsoe.eu"
#: Request and cache window: 7 days (the API allows up to a year per request).
WINDOW_S = 7 * 24 * HOUR_S
#: Refuse bodies longer than this many characters (a week at PT15M for 20 types is ~3 MB).
MAX_BODY_CHARS = 20_000_000
DATASET = (
    "ENTSO-E Transparency Platform, actual generation per production type [16.1.B&C] (A75/A16)"
)
PRODUCTION_NOTE = "production-based: generation inside the bidding zone, imports ignored"
RESOLUTIONS_S = {"PT15M": 900.0, "PT30M": 1800.0, "PT60M": 3600.0, "PT1H": 3600.0}
_TOKEN_HINT = " (check ENTSOE_API_TOKEN and that RESTful API access was granted)"
#: HTTP status → what an error of that status adds to its message
HTTP_HINTS = {
    400: " (ENTSO-E rejected the query: no data for this area and period, or an area code it "
    "does not accept)",
    401: _TOKEN_HINT,
    403: _TOKEN_HINT,
    429: " (ENTSO-E allows 400 requests a minute per token)",
}

#: ENTSO-E production type (psrType) → factor category (see the module docstring).
PSR_CATEGORIES: dict[str, str] = {
    "B01": "biomass",
    "B02": "coal",
    "B03": "gas",
    "B04": "gas",
    "B05": "coal",
    "B06": "oil",
    "B07": "coal",
    "B08": "coal",
    "B09": "geothermal",
    "B10": STORAGE,
    "B11": "hydro",
    "B12": "hydro",
    "B13": "unknown",
    "B14": "nuclear",
    "B15": "unknown",
    "B16": "solar",
    "B17": "biomass",
    "B18": "wind_offshore",
    "B19": "wind",
    "B20": "unknown",
    "B25": STORAGE,
}

#: Electricity Maps-style zone id → ENTSO-E area EIC code (bidding zone, or control area where
#: the zone is one). ``DE`` uses the DE-LU bidding zone (Germany and Luxembourg together);
#: ``IE`` the EirGrid control area (Ireland without Northern Ireland).
ZONE_TO_EIC: dict[str, str] = {
    "AT": "10YAT-APG------L",
    "BE": "10YBE----------2",
    "BG": "10YCA-BULGARIA-R",
    "CH": "10YCH-SWISSGRIDZ",
    "CZ": "10YCZ-CEPS-----N",
    "DE": "10Y1001A1001A82H",
    "DE-LU": "10Y1001A1001A82H",
    "DK-DK1": "10YDK-1--------W",
    "DK-DK2": "10YDK-2--------M",
    "EE": "10Y1001A1001A39I",
    "ES": "10YES-REE------0",
    "FI": "10YFI-1--------U",
    "FR": "10YFR-RTE------C",
    "GR": "10YGR-HTSO-----Y",
    "HR": "10YHR-HEP------M",
    "HU": "10YHU-MAVIR----U",
    "IE": "10YIE-1001A00010",
    "IT-CNO": "10Y1001A1001A70O",
    "IT-CSO": "10Y1001A1001A71M",
    "IT-NO": "10Y1001A1001A73I",
    "IT-SAR": "10Y1001A1001A74G",
    "IT-SIC": "10Y1001A1001A75E",
    "IT-SO": "10Y1001A1001A788",
    "LT": "10YLT-1001A0008Q",
    "LV": "10YLV-1001A00074",
    "NL": "10YNL----------L",
    "NO-NO1": "10YNO-1--------2",
    "NO-NO2": "10YNO-2--------T",
    "NO-NO3": "10YNO-3--------J",
    "NO-NO4": "10YNO-4--------9",
    "NO-NO5": "10Y1001A1001A48H",
    "PL": "10YPL-AREA-----S",
    "PT": "10YPT-REN------W",
    "RO": "10YRO-TEL------P",
    "RS": "10YCS-SERBIATSOV",
    "SE-SE1": "10Y1001A1001A44P",
    "SE-SE2": "10Y1001A1001A45N",
    "SE-SE3": "10Y1001A1001A46L",
    "SE-SE4": "10Y1001A1001A47J",
    "SI": "10YSI-ELES-----O",
    "SK": "10YSK-SEPS-----K",
}

_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    for child in element:
        if _local(child.tag) == name:
            yield child


def _text(element: ET.Element | None, name: str) -> str | None:
    found = None if element is None else _child(element, name)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _stamp(epoch_s: float) -> str:
    return to_datetime(epoch_s).strftime("%Y%m%d%H%M")


def parse_document(text: str) -> ET.Element:
    """The root element of an ENTSO-E XML answer. Raises :class:`ProviderError` for a body with
    a document type declaration or entity, one over :data:`MAX_BODY_CHARS`, or malformed XML."""
    if len(text) > MAX_BODY_CHARS:
        raise ProviderError(f"ENTSO-E: answer too large ({len(text)} characters)")
    if _FORBIDDEN.search(text):
        raise ProviderError("ENTSO-E: refusing an XML answer with a DTD or entity declaration")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ProviderError(f"ENTSO-E: malformed XML in response ({exc})") from None


class ENTSOEProvider(GenerationMixProvider):
    """Hourly production-based, life-cycle average carbon intensity for a European bidding
    zone, derived from ENTSO-E actual generation per production type.

    ``token`` defaults to ``ENTSOE_API_TOKEN``; without one the constructor raises
    :class:`ConfigurationError`. ``eic`` overrides the area (an EIC code such as
    ``"10YFR-RTE------C"``); by default it is looked up from ``Region.zone`` in
    :data:`ZONE_TO_EIC`. ``timeout_s`` bounds each HTTP attempt and ``budget_s`` a whole
    :meth:`series` call (or pass ``deadline_s``, a :func:`time.monotonic` value), retries
    included. ``cache``: None for the default on-disk cache, an instance, or False for none.
    Gaps up to ``max_fill_s`` seconds are filled with the neighbouring value, flagged
    estimated. ``sleep`` and ``now_s`` (UTC epoch seconds) are injectable for tests.
    """

    name = "entsoe"
    label = "ENTSO-E"
    hints = HTTP_HINTS
    credential_env = ENV_ENTSOE_API_TOKEN
    zones = ZONE_TO_EIC
    window_s = WINDOW_S
    dataset = DATASET
    production_note = PRODUCTION_NOTE
    area_kind = "area"
    code_kind = "production types"
    not_covered = (
        "ENTSO-E covers European bidding zones only; zone {zone!r} has no EIC code here "
        "(pass ENTSOEProvider(eic='10Y...') to choose one)"
    )

    def __init__(
        self,
        token: str | None = None,
        *,
        eic: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 5.0,
        budget_s: float = 8.0,
        retries: int = 2,
        cache: IntensityCache | Literal[False] | None = None,
        max_fill_s: float = MAX_FILL_S,
        sleep: Callable[[float], None] = time.sleep,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        secret = credential(
            token,
            ENV_ENTSOE_API_TOKEN,
            "ENTSO-E needs a security token: set ENTSOE_API_TOKEN or pass token=... "
            "(register at https://transparency.entsoe.eu and ask for RESTful API access)",
        )
        if eic is not None and not re.fullmatch(r"[0-9A-Z][0-9A-Z-]{15}", eic.strip()):
            raise ConfigurationError(
                f"eic={eic!r} is invalid: expected a 16-character EIC area code such as "
                "'10YFR-RTE------C'"
            )
        self._configure(base_url, timeout_s, budget_s, retries, cache, max_fill_s, sleep, now_s)
        self._token = secret
        self.eic = eic.strip() if eic else None

    def __repr__(self) -> str:
        return f"ENTSOEProvider(base_url={self.base_url!r}, eic={self.eic!r}, token=<set>)"

    # -- HTTP -------------------------------------------------------------------------------

    def _get(self, eic: str, lo: float, hi: float, deadline_s: float) -> ET.Element:
        self._require_online()
        _log.debug("ENTSO-E request A75 in_Domain=%s", eic)
        params = {
            "securityToken": self._token,
            "documentType": "A75",
            "processType": "A16",
            "in_Domain": eic,
            "periodStart": _stamp(lo),
            "periodEnd": _stamp(hi),
        }
        text = self._http_get(
            "/api", deadline_s, as_json=False, headers={"Accept": "application/xml"}, params=params
        )
        return parse_document(text)

    # -- parsing ----------------------------------------------------------------------------

    def _acknowledgement(self, root: ET.Element, eic: str, lo: float, hi: float) -> str:
        reason = _child(root, "Reason")
        code, text = _text(reason, "code") or "?", _text(reason, "text") or ""
        span = f"{to_datetime(lo).isoformat()} to {to_datetime(hi).isoformat()}"
        said = text.replace(self._token, "<token>")[:300]  # a reply may echo the query
        return f"ENTSO-E answered reason {code} for area {eic}, {span}: {said}"

    def _mix(self, root: ET.Element, eic: str, lo: float, hi: float) -> MixAccumulator:
        name = _local(root.tag)
        if name == "Acknowledgement_MarketDocument":
            raise ProviderError(self._acknowledgement(root, eic, lo, hi))
        if name != "GL_MarketDocument":
            raise ProviderError(f"ENTSO-E: unexpected document {name!r}")
        mix = MixAccumulator(PSR_CATEGORIES.get)
        for series in _children(root, "TimeSeries"):
            if _child(series, "inBiddingZone_Domain.mRID") is None:
                continue  # consumption (outBiddingZone): pumping or charging, not generation
            psr = _text(_child(series, "MktPSRType"), "psrType")
            if psr is None:
                raise ProviderError("ENTSO-E: a TimeSeries has no MktPSRType/psrType")
            repeat = (_text(series, "curveType") or "A01") == "A03"
            for period in _children(series, "Period"):
                self._add_period(mix, psr, period, repeat, lo, hi)
        return mix

    @staticmethod
    def _add_period(
        mix: MixAccumulator, psr: str, period: ET.Element, repeat: bool, lo: float, hi: float
    ) -> None:
        interval = _child(period, "timeInterval")
        resolution = _text(period, "resolution") or ""
        step_s = RESOLUTIONS_S.get(resolution)
        if step_s is None:
            raise ProviderError(f"ENTSO-E: unsupported resolution {resolution!r}")
        try:
            p_start = parse_wire_time((_text(interval, "start") or "").replace("Z", "+00:00"))
            p_end = parse_wire_time((_text(interval, "end") or "").replace("Z", "+00:00"))
            points: dict[int, float] = {}
            for point in _children(period, "Point"):
                position = int(_text(point, "position") or "")
                quantity = float(_text(point, "quantity") or "")
                if math.isfinite(quantity):
                    points[position] = quantity
        except ValueError as exc:
            raise ProviderError(f"ENTSO-E: unreadable Period ({exc})") from None
        count = round((p_end - p_start) / step_s)
        last: float | None = None
        for position in range(1, count + 1):
            found = points.get(position)
            value_mw = last if found is None and repeat else found
            if value_mw is None:
                continue
            last = value_mw
            t = p_start + (position - 1) * step_s
            if lo <= t < hi:
                mix.add(floor_hour_s(t), psr, value_mw * step_s / HOUR_S, step_s)

    def _fetch_mix(self, eic: str, lo: float, hi: float, deadline_s: float) -> MixAccumulator:
        return self._mix(self._get(eic, lo, hi, deadline_s), eic, lo, hi)

    # -- public API -------------------------------------------------------------------------

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """Hourly intensity (g/kWh) for the region's bidding zone covering ``[start, end)``,
        fetched in 7-day windows; 15- and 30-minute data are gathered into UTC hours (an hour
        with some of its intervals missing is flagged estimated). ENTSO-E data lag by about an
        hour, so the last hours of a recent run are usually filled from the last reported hour
        (flagged estimated). Raises :class:`ProviderError`."""
        return self._mix_series(region, self.eic, start, end, deadline_s)
