"""EIA Open Data API v2 provider (EIA-930 generation by energy source) against a local server
speaking its wire format: paging, errors, partial hours, and the mix-to-intensity derivation."""

from __future__ import annotations

import json
import logging
import socket
import time
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.http import HttpError
from carbonsdk.intensity.base import IntensityProvider
from carbonsdk.intensity.cache import IntensityCache
from carbonsdk.intensity.eia import FUEL_CATEGORIES, ROUTE, EIAProvider
from carbonsdk.intensity.factors import LIFECYCLE_G_PER_KWH, intensity_from_mix
from carbonsdk.model.region import Region

KEY = "eia-secret-key-0123456789"
HOUR = timedelta(hours=1)
T0 = datetime(2022, 1, 1, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=3)
BPAT = Region(provider=None, code="US-NW-BPAT", zone="US-NW-BPAT", source="explicit")

#: EIA-930 net generation (MWh) of BPAT, 2022-01-01 00:00-05:00 UTC, per energy source, as
#: republished in HewlettPackard/dc-rl (MIT licence, ``data/carbon_intensity``).
BPAT_MIX = [
    {"WND": 107, "SUN": 12, "WAT": 11510, "OIL": 0, "NG": 954, "COL": 0, "NUC": 1158, "OTH": 210},
    {"WND": 94, "SUN": 1, "WAT": 12056, "OIL": 0, "NG": 954, "COL": 0, "NUC": 1159, "OTH": 212},
    {"WND": 63, "SUN": 0, "WAT": 12506, "OIL": 0, "NG": 957, "COL": 0, "NUC": 1162, "OTH": 210},
    {"WND": 91, "SUN": 0, "WAT": 12630, "OIL": 0, "NG": 957, "COL": 0, "NUC": 1167, "OTH": 195},
    {"WND": 53, "SUN": 0, "WAT": 12291, "OIL": 0, "NG": 958, "COL": 0, "NUC": 1165, "OTH": 191},
    {"WND": 115, "SUN": 0, "WAT": 11980, "OIL": 0, "NG": 959, "COL": 0, "NUC": 1165, "OTH": 191},
]
NAMES = {
    "WND": "Wind",
    "SUN": "Solar",
    "WAT": "Hydro",
    "OIL": "Petroleum",
    "NG": "Natural Gas",
    "COL": "Coal",
    "NUC": "Nuclear",
    "OTH": "Other",
    "PS": "Pumped storage",
    "BAT": "Battery storage",
    "XYZ": "Something new",
}


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBONSDK_OFFLINE", raising=False)
    monkeypatch.delenv("EIA_API_KEY", raising=False)


def rows_for(
    mixes: Sequence[Mapping[str, float]], start: datetime = T0, respondent: str = "BPAT"
) -> list[dict[str, Any]]:
    """Data rows as EIA v2 returns them (numbers as strings, period = UTC hour start)."""
    out = []
    for i, mix in enumerate(mixes):
        period = (start + i * HOUR).strftime("%Y-%m-%dT%H")
        for code, mwh in mix.items():
            out.append(
                {
                    "period": period,
                    "respondent": respondent,
                    "respondent-name": "Bonneville Power Administration",
                    "fueltype": code,
                    "type-name": NAMES[code],
                    "value": str(mwh),
                    "value-units": "megawatthours",
                }
            )
    return out


class EIAServer:
    """Serves ``rows`` like the fuel-type-data route: filtered by respondent and the inclusive
    start/end hours, paged with offset/length, ``total`` as a string."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        args = {k: v for k, v in request.args.items()}
        self.queries.append(args)
        if args.get("api_key") != KEY:
            body = {
                "error": {"code": "API_KEY_INVALID", "message": "An invalid api_key was supplied."}
            }
            return Response(json.dumps(body), status=403, content_type="application/json")
        assert args["frequency"] == "hourly" and args["data[0]"] == "value"
        lo, hi = args["start"], args["end"]
        match = [
            r
            for r in self.rows
            if r["respondent"] == args["facets[respondent][]"] and lo <= r["period"] <= hi
        ]
        offset, length = int(args.get("offset", "0")), int(args.get("length", "5000"))
        page = match[offset : offset + min(length, 5000)]
        body = {
            "response": {
                "total": str(len(match)),
                "dateFormat": 'YYYY-MM-DD"T"HH24',
                "frequency": "hourly",
                "data": page,
                "description": "Hourly net generation by balancing authority and energy source.",
            },
            "request": {"command": "/v2/electricity/rto/fuel-type-data/data/"},
            "apiVersion": "2.1.8",
        }
        return Response(json.dumps(body), content_type="application/json")


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(httpserver: HTTPServer, tmp_path: Path, **kwargs: Any) -> tuple[EIAProvider, Sleeps]:
    sleeps = Sleeps()
    options: dict[str, Any] = {
        "api_key": KEY,
        "base_url": httpserver.url_for("").rstrip("/"),
        "cache": IntensityCache(tmp_path / "cache", now_s=NOW.timestamp),
        "sleep": sleeps,
        "now_s": NOW.timestamp,
        "timeout_s": 2.0,
        "budget_s": 5.0,
    }
    options.update(kwargs)
    return EIAProvider(**options), sleeps


def brute_force(mix: Mapping[str, float]) -> float:
    """sum(gen_i * factor_i) / sum(gen_i) over generating, non-storage sources, by hand."""
    num = den = 0.0
    for code, mwh in mix.items():
        category = FUEL_CATEGORIES[code]
        if category == "storage" or mwh <= 0:
            continue
        num += mwh * LIFECYCLE_G_PER_KWH[category]
        den += mwh
    return num / den


def test_hourly_intensity_is_the_generation_weighted_factor(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    server = EIAServer(rows_for(BPAT_MIX))
    httpserver.expect_request(ROUTE).respond_with_handler(server)
    provider, _ = make(httpserver, tmp_path)
    assert isinstance(provider, IntensityProvider)
    series = provider.series(BPAT, T0, T0 + 6 * HOUR)

    assert len(series) == 6 and not any(series.estimated)
    for i, mix in enumerate(BPAT_MIX):
        assert series.value_at(T0 + i * HOUR) == pytest.approx(brute_force(mix), rel=1e-12)
    # a hydro-dominated hour is far below the gas factor and above the hydro one
    assert 24.0 < series.values_g_per_kwh[0] < 100.0
    src = series.source
    assert (src.provider, src.signal, src.basis, src.zone) == (
        "eia",
        "average",
        "lifecycle",
        "US-NW-BPAT",
    )
    assert "production-based" in src.note and "BPAT" in src.note
    assert "EIA-930" in src.dataset and "IPCC AR5" in src.dataset
    query = server.queries[0]
    assert (query["start"], query["end"]) == ("2022-01-01T00", "2022-01-01T05")
    assert query["facets[respondent][]"] == "BPAT" and query["sort[0][column]"] == "period"
    assert KEY not in repr(provider)


def test_pages_are_followed_until_total(httpserver: HTTPServer, tmp_path: Path) -> None:
    server = EIAServer(rows_for(BPAT_MIX))
    httpserver.expect_request(ROUTE).respond_with_handler(server)
    provider, _ = make(httpserver, tmp_path, page_length=10, cache=False)
    series = provider.series(BPAT, T0, T0 + 6 * HOUR)
    assert [q["offset"] for q in server.queries] == ["0", "10", "20", "30", "40"]  # 48 rows
    assert series.value_at(T0 + 5 * HOUR) == pytest.approx(brute_force(BPAT_MIX[5]))


def test_cache_serves_a_second_call(httpserver: HTTPServer, tmp_path: Path) -> None:
    server = EIAServer(rows_for(BPAT_MIX))
    httpserver.expect_request(ROUTE).respond_with_handler(server)
    provider, _ = make(httpserver, tmp_path)
    first = provider.series(BPAT, T0, T0 + 6 * HOUR)
    second = provider.series(BPAT, T0 + HOUR, T0 + 3 * HOUR)
    assert len(server.queries) == 1
    assert second.value_at(T0 + 2 * HOUR) == first.value_at(T0 + 2 * HOUR)


def test_storage_is_left_out_and_unknown_codes_are_named(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    mixes = [dict(m, PS=-120, BAT=40, XYZ=5) for m in BPAT_MIX[:2]]
    httpserver.expect_request(ROUTE).respond_with_handler(EIAServer(rows_for(mixes)))
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(BPAT, T0, T0 + 2 * HOUR)
    assert series.values_g_per_kwh[0] == pytest.approx(brute_force(BPAT_MIX[0]))
    assert "XYZ" in series.source.note


def test_partial_latest_hour_is_flagged_estimated(httpserver: HTTPServer, tmp_path: Path) -> None:
    mixes = [dict(m) for m in BPAT_MIX]
    del mixes[5]["WAT"]  # the last hour's hydro not reported yet
    httpserver.expect_request(ROUTE).respond_with_handler(EIAServer(rows_for(mixes)))
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(BPAT, T0, T0 + 6 * HOUR)
    assert series.estimated == (False,) * 5 + (True,)
    assert series.values_g_per_kwh[5] == pytest.approx(brute_force(mixes[5]))


def test_missing_hours_are_filled_and_flagged(httpserver: HTTPServer, tmp_path: Path) -> None:
    rows = [r for r in rows_for(BPAT_MIX) if r["period"] != "2022-01-01T03"]
    httpserver.expect_request(ROUTE).respond_with_handler(EIAServer(rows))
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(BPAT, T0, T0 + 6 * HOUR)
    i = series.index_at((T0 + 3 * HOUR).timestamp())
    assert i is not None and series.estimated[i]
    assert series.values_g_per_kwh[i] == series.value_at(T0 + 2 * HOUR)


def test_invalid_key_is_a_403_with_a_hint(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(ROUTE).respond_with_handler(EIAServer([]))
    provider, _ = make(httpserver, tmp_path, api_key="wrong-key")
    with pytest.raises(HttpError) as info:
        provider.series(BPAT, T0, T0 + HOUR)
    assert info.value.status == 403 and "EIA_API_KEY" in str(info.value)
    assert "wrong-key" not in str(info.value)


def test_rate_limit_honours_retry_after(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_ordered_request(ROUTE).respond_with_response(
        Response(
            json.dumps({"error": {"code": "OVER_RATE_LIMIT", "message": "rate limit exceeded"}}),
            status=429,
            headers={"Retry-After": "2"},
            content_type="application/json",
        )
    )
    httpserver.expect_ordered_request(ROUTE).respond_with_handler(EIAServer(rows_for(BPAT_MIX)))
    provider, sleeps = make(httpserver, tmp_path)
    series = provider.series(BPAT, T0, T0 + 6 * HOUR)
    assert sleeps.calls == [2.0] and len(series) == 6


def test_server_errors_exhaust_retries(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(ROUTE).respond_with_response(Response("busy", status=503))
    provider, sleeps = make(httpserver, tmp_path, retries=2)
    with pytest.raises(HttpError) as info:
        provider.series(BPAT, T0, T0 + HOUR)
    assert info.value.status == 503 and len(sleeps.calls) == 2


@pytest.mark.parametrize(
    "body",
    [
        "<html>gateway</html>",
        json.dumps({"response": {"total": "1"}}),
        json.dumps({"response": {"total": "x", "data": []}}),
        json.dumps(
            {
                "response": {
                    "total": "1",
                    "data": [
                        {
                            "period": "2022-01-01 00:00",
                            "respondent": "BPAT",
                            "fueltype": "NG",
                            "value": "1",
                        }
                    ],
                }
            }
        ),
    ],
)
def test_malformed_answers_are_provider_errors(
    httpserver: HTTPServer, tmp_path: Path, body: str
) -> None:
    httpserver.expect_request(ROUTE).respond_with_data(body, content_type="application/json")
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError):
        provider.series(BPAT, T0, T0 + HOUR)


def test_error_document_is_reported(httpserver: HTTPServer, tmp_path: Path) -> None:
    body = {"error": f"Invalid facet 'respondent' value (api_key={KEY})", "code": 400}
    httpserver.expect_request(ROUTE).respond_with_json(body)
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError) as info:
        provider.series(BPAT, T0, T0 + HOUR)
    assert "Invalid facet" in str(info.value) and KEY not in str(info.value)


def test_no_rows_is_a_provider_error(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(ROUTE).respond_with_handler(EIAServer([]))
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="no eia data"):
        provider.series(BPAT, T0, T0 + HOUR)


def test_slow_reply_is_bounded_by_the_deadline(httpserver: HTTPServer, tmp_path: Path) -> None:
    calls: list[float] = []

    def slow(request: Request) -> Response:
        calls.append(time.monotonic())
        time.sleep(1.5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request(ROUTE).respond_with_handler(slow)
    provider, _ = make(httpserver, tmp_path, timeout_s=5.0, retries=3)
    with pytest.raises(HttpError, match=r"ReadTimeout|no time left"):
        provider.series(BPAT, T0, T0 + HOUR, deadline_s=time.monotonic() + 0.3)
    assert len(calls) == 1  # no retry started after the deadline


def test_zone_mapping_and_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="EIA_API_KEY"):
        EIAProvider()
    monkeypatch.setenv("EIA_API_KEY", KEY)
    assert EIAProvider.credentials_available()
    provider = EIAProvider(cache=False)
    assert EIAProvider.covers("US-CAL-CISO") and EIAProvider.covers("US")
    assert not EIAProvider.covers("FR") and not EIAProvider.covers(None)
    with pytest.raises(ProviderError, match="US balancing authorities"):
        provider.series(Region(None, "FR", "FR", "explicit"), T0, T0 + HOUR)
    with pytest.raises(ConfigurationError, match="respondent"):
        EIAProvider(respondent="not a code!", cache=False)
    with pytest.raises(ConfigurationError, match="page_length"):
        EIAProvider(page_length=6000, cache=False)


def test_offline_switch_stops_the_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, httpserver: HTTPServer
) -> None:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "1")
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="CARBONSDK_OFFLINE"):
        provider.series(BPAT, T0, T0 + HOUR)
    assert len(httpserver.log) == 0


def test_intensity_from_mix_matches_brute_force_on_many_mixes() -> None:
    categories = sorted(LIFECYCLE_G_PER_KWH)
    for n in range(60):  # deterministic pseudo-mixes, bounded loop
        mix = {c: float((n * 37 + i * 101) % 997 - 50) for i, c in enumerate(categories)}
        mix["storage"] = 500.0
        expected_num = sum(
            v * LIFECYCLE_G_PER_KWH[c] for c, v in mix.items() if c != "storage" and v > 0
        )
        expected_den = sum(v for c, v in mix.items() if c != "storage" and v > 0)
        assert intensity_from_mix(mix) == pytest.approx(expected_num / expected_den, rel=1e-12)
    assert intensity_from_mix({"storage": 10.0, "coal": 0.0}) is None


def test_the_key_in_the_query_never_reaches_errors_tracebacks_or_logs(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """EIA takes its key as a query parameter, so it is in every request URL: it must not
    reach an error's message, its formatted traceback (chained exceptions included) or a
    DEBUG log line, whether the service refuses the request (echoing the key) or nothing
    answers at all."""
    echo = {"error": {"code": "API_KEY_INVALID", "message": f"api_key {KEY} is not valid"}}
    httpserver.expect_request(ROUTE).respond_with_json(echo, status=403)
    with socket.socket() as probe:  # a port with no server behind it
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    caplog.set_level(logging.DEBUG)
    errors = []
    for base_url in (httpserver.url_for("").rstrip("/"), closed):
        provider, _ = make(httpserver, tmp_path, base_url=base_url, cache=False, retries=1)
        with pytest.raises(HttpError) as info:
            provider.series(BPAT, T0, T0 + HOUR)
        errors.append(info.value)
    assert errors[0].status == 403 and "EIA_API_KEY" in str(errors[0])
    assert errors[1].status is None and "ConnectionError" in str(errors[1])
    assert httpserver.log and all(r.args["api_key"] == KEY for r, _ in httpserver.log)
    sdk_logs = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any("api_key=<redacted>" in line for line in sdk_logs)  # urllib3 did log the URL
    for error in errors:
        shown = "".join(traceback.format_exception(error))
        for text in (str(error), repr(error), shown, error.service_message or ""):
            assert KEY not in text
    assert all(KEY not in line for line in sdk_logs)
