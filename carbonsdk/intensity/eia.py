"""US Energy Information Administration (EIA) Open Data API v2: hourly net generation by
energy source per balancing authority (Form EIA-930), turned into production-based,
life-cycle average carbon intensity with :mod:`carbonsdk.intensity.factors`.

Endpoint (https://www.eia.gov/opendata/, API v2 documentation, read 2025):
``GET /v2/electricity/rto/fuel-type-data/data/?api_key=K&frequency=hourly&data[0]=value
&facets[respondent][]=BA&start=YYYY-MM-DDTHH&end=YYYY-MM-DDTHH&sort[0][column]=period
&sort[0][direction]=asc&offset=N&length=5000``. ``start`` and ``end`` are UTC hours, both
included. The answer is ``{"response": {"total": "2688", "data": [{"period": "2024-01-01T05",
"respondent": "CISO", "fueltype": "NG", "type-name": "Natural Gas", "value": "3071",
"value-units": "megawatthours"}, ...]}}``: ``period`` is the UTC hour's start, ``total`` (a
string or a number) counts every matching row, and one request returns at most 5000 rows, so
the rest is fetched with ``offset``. Numbers may come as strings, and ``value`` may be null.

Errors: EIA's API gateway answers a missing or invalid key with HTTP 403 and
``{"error": {"code": "API_KEY_INVALID", "message": ...}}`` and a rate limit with HTTP 429
(both retried or reported by :func:`carbonsdk.http.request`); a bad query may come back as
``{"error": "...", "code": 400}``.

EIA-930 energy-source codes and the factor category each is priced with (the codes since the
2025 expansion of EIA-930 included): ``COL`` coal; ``NG`` gas; ``OIL`` petroleum → oil;
``NUC`` nuclear; ``WAT`` hydro; ``SUN`` and ``SNB`` (solar with integrated battery) → solar;
``WND`` and ``WNB`` (wind with integrated battery) → wind (onshore); ``GEO`` geothermal;
``OTH`` (other) and ``UNK`` (unknown) → unknown; ``BAT``, ``PS`` (pumped storage), ``OES``
(other energy storage) and ``UES`` (unknown energy storage) → storage, left out. A code not in
this list is left out and named in the source note.

The value is production-based: EIA-930 net generation inside the balancing authority, without
imports. Zones: the Electricity Maps-style US zone ids of the cloud-region table
(:data:`ZONE_TO_RESPONDENT`, e.g. ``US-CAL-CISO`` → ``CISO``); ``"US"`` maps to ``US48``, the
Lower 48 total.
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
from carbonsdk.http import HttpError, request
from carbonsdk.intensity.cache import HOUR_S, CacheKey, IntensityCache, RawStep
from carbonsdk.intensity.factors import FACTORS_DATASET, STORAGE, MixAccumulator
from carbonsdk.intensity.live import (
    MAX_FILL_S,
    cached_fetch,
    hour_windows,
    resolve_cache,
    steps_to_series,
)
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region

_log = logging.getLogger(__name__)

ENV_EIA_API_KEY = "EIA_API_KEY"
DEFAULT_BASE_URL = "https://api.eia.gov"
ROUTE = "/v2/electricity/rto/fuel-type-data/data/"
#: EIA returns at most 5000 rows per request.
PAGE_LENGTH = 5000
#: Pages fetched per window at most (a window of 7 days has about 2700 rows).
MAX_PAGES = 20
#: Request and cache window: 7 days of hours.
WINDOW_S = 7 * 24 * HOUR_S
DATASET = "EIA Open Data API v2, EIA-930 hourly net generation by energy source (US public data)"
PRODUCTION_NOTE = "production-based: generation inside the balancing authority, imports ignored"

#: EIA-930 energy-source code → factor category (see the module docstring).
FUEL_CATEGORIES: dict[str, str] = {
    "COL": "coal",
    "NG": "gas",
    "OIL": "oil",
    "NUC": "nuclear",
    "WAT": "hydro",
    "SUN": "solar",
    "SNB": "solar",
    "WND": "wind",
    "WNB": "wind",
    "GEO": "geothermal",
    "OTH": "unknown",
    "UNK": "unknown",
    "BAT": STORAGE,
    "PS": STORAGE,
    "OES": STORAGE,
    "UES": STORAGE,
}

#: Electricity Maps-style US zone id → EIA-930 balancing-authority (respondent) code. The last
#: part of each zone id is the balancing authority's EIA code.
ZONE_TO_RESPONDENT: dict[str, str] = {
    "US": "US48",
    "US-CAL-BANC": "BANC",
    "US-CAL-CISO": "CISO",
    "US-CAL-IID": "IID",
    "US-CAL-LDWP": "LDWP",
    "US-CAL-TIDC": "TIDC",
    "US-CAR-CPLE": "CPLE",
    "US-CAR-CPLW": "CPLW",
    "US-CAR-DUK": "DUK",
    "US-CAR-SC": "SC",
    "US-CAR-SCEG": "SCEG",
    "US-CENT-SPA": "SPA",
    "US-CENT-SWPP": "SWPP",
    "US-FLA-FMPP": "FMPP",
    "US-FLA-FPC": "FPC",
    "US-FLA-FPL": "FPL",
    "US-FLA-GVL": "GVL",
    "US-FLA-JEA": "JEA",
    "US-FLA-SEC": "SEC",
    "US-FLA-TAL": "TAL",
    "US-FLA-TEC": "TEC",
    "US-MIDA-PJM": "PJM",
    "US-MIDW-AECI": "AECI",
    "US-MIDW-LGEE": "LGEE",
    "US-MIDW-MISO": "MISO",
    "US-NE-ISNE": "ISNE",
    "US-NW-AVA": "AVA",
    "US-NW-BPAT": "BPAT",
    "US-NW-CHPD": "CHPD",
    "US-NW-DOPD": "DOPD",
    "US-NW-GCPD": "GCPD",
    "US-NW-IPCO": "IPCO",
    "US-NW-NEVP": "NEVP",
    "US-NW-NWMT": "NWMT",
    "US-NW-PACE": "PACE",
    "US-NW-PACW": "PACW",
    "US-NW-PGE": "PGE",
    "US-NW-PSCO": "PSCO",
    "US-NW-PSEI": "PSEI",
    "US-NW-SCL": "SCL",
    "US-NW-TPWR": "TPWR",
    "US-NW-WACM": "WACM",
    "US-NW-WAUW": "WAUW",
    "US-NY-NYIS": "NYIS",
    "US-SE-SOCO": "SOCO",
    "US-SW-AZPS": "AZPS",
    "US-SW-EPE": "EPE",
    "US-SW-PNM": "PNM",
    "US-SW-SRP": "SRP",
    "US-SW-TEPC": "TEPC",
    "US-SW-WALC": "WALC",
    "US-TEN-TVA": "TVA",
    "US-TEX-ERCO": "ERCO",
}


def _period_s(text: Any) -> float:
    """UTC epoch seconds of an hourly ``period`` (``"2024-01-01T05"``, UTC hour start)."""
    if not isinstance(text, str) or len(text) != 13 or text[10] != "T":
        raise ValueError(f"unexpected period {text!r}")
    return datetime.fromisoformat(text + ":00+00:00").timestamp()


def _hour_text(epoch_s: float) -> str:
    return to_datetime(epoch_s).strftime("%Y-%m-%dT%H")


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"unreadable number {value!r}") from None
    return number if math.isfinite(number) else None


class EIAProvider:
    """Hourly production-based, life-cycle average carbon intensity for a US balancing
    authority, derived from EIA-930 generation by energy source.

    ``api_key`` defaults to ``EIA_API_KEY`` (free at https://www.eia.gov/opendata/); without
    one the constructor raises :class:`ConfigurationError`. ``respondent`` overrides the
    balancing authority (an EIA-930 code such as ``"CISO"``); by default it is looked up from
    ``Region.zone`` in :data:`ZONE_TO_RESPONDENT`. ``timeout_s`` bounds each HTTP attempt and
    ``budget_s`` a whole :meth:`series` call (or pass ``deadline_s``, a :func:`time.monotonic`
    value), retries included. ``cache``: None for the default on-disk cache, an instance, or
    False for none. Gaps up to ``max_fill_s`` seconds are filled with the neighbouring value,
    flagged estimated. ``sleep`` and ``now_s`` (UTC epoch seconds) are injectable for tests.
    """

    name = "eia"
    signal = "average"
    basis = "lifecycle"
    #: the values ignore imports (see :data:`PRODUCTION_NOTE`)
    production_based = True

    def __init__(
        self,
        api_key: str | None = None,
        *,
        respondent: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 5.0,
        budget_s: float = 8.0,
        retries: int = 2,
        cache: IntensityCache | Literal[False] | None = None,
        max_fill_s: float = MAX_FILL_S,
        page_length: int = PAGE_LENGTH,
        sleep: Callable[[float], None] = time.sleep,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        key = api_key if api_key is not None else config.secret(ENV_EIA_API_KEY)
        if not key or not key.strip():
            raise ConfigurationError(
                "EIA needs an API key: set EIA_API_KEY or pass api_key=... (free at "
                "https://www.eia.gov/opendata/register.php)"
            )
        if respondent is not None and not (respondent.strip().isalnum()):
            raise ConfigurationError(
                f"respondent={respondent!r} is invalid: expected an EIA-930 balancing "
                "authority code such as 'CISO' or 'PJM'"
            )
        if not (timeout_s > 0 and budget_s > 0):
            raise ConfigurationError(
                f"timeout_s={timeout_s!r} and budget_s={budget_s!r} must be positive seconds"
            )
        if isinstance(page_length, bool) or not 1 <= page_length <= PAGE_LENGTH:
            raise ConfigurationError(
                f"page_length={page_length!r} is invalid: expected 1..{PAGE_LENGTH} rows"
            )
        self._api_key = key.strip()
        self.respondent = respondent.strip().upper() if respondent else None
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.budget_s = float(budget_s)
        self.retries = int(retries)
        self.cache = resolve_cache(cache)
        self.max_fill_s = float(max_fill_s)
        self.page_length = int(page_length)
        self._sleep = sleep
        self._now_s = now_s

    @staticmethod
    def credentials_available() -> bool:
        """True when ``EIA_API_KEY`` is set (for ``intensity="auto"``)."""
        return config.secret(ENV_EIA_API_KEY) is not None

    @staticmethod
    def covers(zone: str | None) -> bool:
        """True when ``zone`` maps to an EIA-930 balancing authority."""
        return zone is not None and zone.upper() in ZONE_TO_RESPONDENT

    def __repr__(self) -> str:
        return (
            f"EIAProvider(base_url={self.base_url!r}, respondent={self.respondent!r}, "
            "api_key=<set>)"
        )

    def _respondent(self, region: Region) -> str:
        if self.respondent is not None:
            return self.respondent
        zone = (region.zone or "").upper()
        found = ZONE_TO_RESPONDENT.get(zone)
        if found is None:
            raise ProviderError(
                f"EIA covers US balancing authorities only; zone {region.zone!r} has no "
                "EIA-930 respondent (pass EIAProvider(respondent='CISO') to choose one)"
            )
        return found

    # -- HTTP -------------------------------------------------------------------------------

    def _get(self, params: dict[str, str], deadline_s: float) -> Any:
        if config.offline():
            raise ProviderError("eia: CARBONSDK_OFFLINE is set: no network")
        _log.debug(
            "EIA request respondent=%s offset=%s",
            params.get("facets[respondent][]"),
            params.get("offset"),
        )
        try:
            resp = request(
                "GET",
                f"{self.base_url}{ROUTE}",
                headers={"Accept": "application/json"},
                params={**params, "api_key": self._api_key},
                timeout_s=self.timeout_s,
                retries=self.retries,
                max_wait_s=self.budget_s,
                deadline_s=deadline_s,
                sleep=self._sleep,
            )
            doc = resp.json()
        except HttpError as exc:
            hint = ""
            if exc.status in (401, 403):
                hint = " (check EIA_API_KEY; keys are free at https://www.eia.gov/opendata/)"
            elif exc.status == 429:
                hint = " (EIA rate limit: try again later)"
            raise HttpError(f"EIA: {exc}{hint}", exc.status) from None
        if isinstance(doc, dict) and "error" in doc:
            raise ProviderError(f"EIA: the API answered with an error: {self._error_text(doc)}")
        return doc

    def _error_text(self, doc: dict[str, Any]) -> str:
        error = doc.get("error")
        if isinstance(error, dict):
            text = f"{error.get('code', '')} {error.get('message', '')}".strip()
        else:
            text = str(error)
        return text.replace(self._api_key, "<key>")[:300]

    # -- parsing ----------------------------------------------------------------------------

    @staticmethod
    def _rows(doc: Any) -> tuple[list[Any], int]:
        response = doc.get("response") if isinstance(doc, dict) else None
        if not isinstance(response, dict) or not isinstance(response.get("data"), list):
            raise ProviderError("EIA: unexpected response (no response.data list)")
        try:
            total = int(float(response.get("total", len(response["data"]))))
        except (TypeError, ValueError):
            raise ProviderError(
                f"EIA: unexpected response.total {response.get('total')!r}"
            ) from None
        return list(response["data"]), total

    def _fetch_window(
        self, respondent: str, lo: float, hi: float, deadline_s: float
    ) -> tuple[list[RawStep], set[str]]:
        base = {
            "frequency": "hourly",
            "data[0]": "value",
            "facets[respondent][]": respondent,
            "start": _hour_text(lo),
            "end": _hour_text(hi - HOUR_S),  # EIA's end hour is included
            "sort[0][column]": "period",
            "sort[0][direction]": "asc",
            "length": str(self.page_length),
        }
        mix = MixAccumulator(FUEL_CATEGORIES.get)
        offset = 0
        for _ in range(MAX_PAGES):
            rows, total = self._rows(self._get({**base, "offset": str(offset)}, deadline_s))
            for row in rows:
                self._add_row(mix, row, respondent, lo, hi)
            offset += len(rows)
            if not rows or offset >= total:
                break
        else:
            raise ProviderError(
                f"EIA: more than {MAX_PAGES} pages of {self.page_length} rows for one window"
            )
        return mix.steps(), mix.unknown_codes

    @staticmethod
    def _add_row(mix: MixAccumulator, row: Any, respondent: str, lo: float, hi: float) -> None:
        if not isinstance(row, dict):
            raise ProviderError("EIA: unexpected data row (not an object)")
        if row.get("respondent") not in (None, respondent):
            return
        units = row.get("value-units")
        if units is not None and units != "megawatthours":
            raise ProviderError(f"EIA: unexpected value-units {units!r} (megawatthours expected)")
        code = row.get("fueltype", row.get("fueltypeid"))
        try:
            start_s = _period_s(row.get("period"))
            mwh = _number(row.get("value"))
        except ValueError as exc:
            raise ProviderError(f"EIA: unreadable data row ({exc})") from None
        if not isinstance(code, str) or mwh is None or not lo <= start_s < hi:
            return
        mix.add(start_s, code, mwh, HOUR_S)

    def _source(self, zone: str | None, respondent: str, unknown: set[str]) -> IntensitySource:
        note = f"balancing authority {respondent}; {PRODUCTION_NOTE}"
        if unknown:
            note += f"; energy-source codes without a factor left out: {', '.join(sorted(unknown))}"
        return IntensitySource(
            provider=self.name,
            signal=self.signal,
            basis=self.basis,
            zone=zone or respondent,
            estimated=False,
            note=note,
            dataset=f"{DATASET}; {FACTORS_DATASET}",
        )

    # -- public API -------------------------------------------------------------------------

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """Hourly intensity (g/kWh) for the region's balancing authority covering
        ``[start, end)``, fetched in 7-day windows. EIA-930 data lag by an hour or more, so the
        last hours of a recent run are usually filled from the last reported hour (flagged
        estimated). Raises :class:`ProviderError`."""
        respondent = self._respondent(region)
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        deadline = deadline_s if deadline_s is not None else time.monotonic() + self.budget_s
        unknown: set[str] = set()

        def fetch(lo: float, hi: float) -> list[RawStep]:
            steps, codes = self._fetch_window(respondent, lo, hi, deadline)
            unknown.update(codes)
            return steps

        key = CacheKey(self.name, respondent, self.signal, self.basis, "history", self.base_url)
        past_end_s = max(start_s + 1.0, min(end_s, self._now_s()))
        steps = cached_fetch(
            self.cache,
            key,
            hour_windows(start_s, past_end_s, WINDOW_S),
            fetch,
            offline=config.offline(),
        )
        return steps_to_series(
            steps,
            start_s,
            end_s,
            self._source(region.zone, respondent, unknown),
            max_fill_s=self.max_fill_s,
        )
