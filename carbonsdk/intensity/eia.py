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

from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.intensity.cache import HOUR_S, IntensityCache
from carbonsdk.intensity.factors import STORAGE, MixAccumulator
from carbonsdk.intensity.generation import GenerationMixProvider
from carbonsdk.intensity.live import MAX_FILL_S, credential
from carbonsdk.model.intensity import IntensitySeries
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
_KEY_HINT = " (check EIA_API_KEY; keys are free at https://www.eia.gov/opendata/)"
#: HTTP status → what an error of that status adds to its message
HTTP_HINTS = {401: _KEY_HINT, 403: _KEY_HINT, 429: " (EIA rate limit: try again later)"}

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


class EIAProvider(GenerationMixProvider):
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
    label = "EIA"
    hints = HTTP_HINTS
    credential_env = ENV_EIA_API_KEY
    zones = ZONE_TO_RESPONDENT
    window_s = WINDOW_S
    dataset = DATASET
    production_note = PRODUCTION_NOTE
    area_kind = "balancing authority"
    code_kind = "energy-source codes"
    not_covered = (
        "EIA covers US balancing authorities only; zone {zone!r} has no EIA-930 respondent "
        "(pass EIAProvider(respondent='CISO') to choose one)"
    )

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
        key = credential(
            api_key,
            ENV_EIA_API_KEY,
            "EIA needs an API key: set EIA_API_KEY or pass api_key=... (free at "
            "https://www.eia.gov/opendata/register.php)",
        )
        if respondent is not None and not (respondent.strip().isalnum()):
            raise ConfigurationError(
                f"respondent={respondent!r} is invalid: expected an EIA-930 balancing "
                "authority code such as 'CISO' or 'PJM'"
            )
        self._configure(base_url, timeout_s, budget_s, retries, cache, max_fill_s, sleep, now_s)
        if isinstance(page_length, bool) or not 1 <= page_length <= PAGE_LENGTH:
            raise ConfigurationError(
                f"page_length={page_length!r} is invalid: expected 1..{PAGE_LENGTH} rows"
            )
        self._api_key = key
        self.respondent = respondent.strip().upper() if respondent else None
        self.page_length = int(page_length)

    def __repr__(self) -> str:
        return (
            f"EIAProvider(base_url={self.base_url!r}, respondent={self.respondent!r}, "
            "api_key=<set>)"
        )

    # -- HTTP -------------------------------------------------------------------------------

    def _get(self, params: dict[str, str], deadline_s: float) -> Any:
        self._require_online()
        _log.debug(
            "EIA request respondent=%s offset=%s",
            params.get("facets[respondent][]"),
            params.get("offset"),
        )
        doc = self._http_get(
            ROUTE,
            deadline_s,
            headers={"Accept": "application/json"},
            params={**params, "api_key": self._api_key},
        )
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

    def _fetch_mix(
        self, respondent: str, lo: float, hi: float, deadline_s: float
    ) -> MixAccumulator:
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
        return mix

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

    # -- public API -------------------------------------------------------------------------

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """Hourly intensity (g/kWh) for the region's balancing authority covering
        ``[start, end)``, fetched in 7-day windows. EIA-930 data lag by an hour or more, so the
        last hours of a recent run are usually filled from the last reported hour (flagged
        estimated). Raises :class:`ProviderError`."""
        return self._mix_series(region, self.respondent, start, end, deadline_s)
