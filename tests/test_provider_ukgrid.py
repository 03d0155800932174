"""UK Carbon Intensity API provider against a local server speaking its wire format."""

from __future__ import annotations

import json
import time
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
from carbonsdk.intensity.ukgrid import UKGridProvider
from carbonsdk.model.region import Region

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
GB = Region(provider=None, code="GB", zone="GB", source="explicit", country="GB")
HALF = timedelta(minutes=30)


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBONSDK_OFFLINE", raising=False)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%MZ")


def period(when: datetime, forecast: float | None, actual: float | None) -> dict[str, Any]:
    """One half-hour period as the API documents it."""
    return {
        "from": stamp(when),
        "to": stamp(when + HALF),
        "intensity": {"forecast": forecast, "actual": actual, "index": "moderate"},
    }


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(httpserver: HTTPServer, tmp_path: Path, **kwargs: Any) -> tuple[UKGridProvider, Sleeps]:
    sleeps = Sleeps()
    options: dict[str, Any] = {
        "base_url": httpserver.url_for("").rstrip("/"),
        "cache": IntensityCache(tmp_path / "cache", now_s=NOW.timestamp),
        "sleep": sleeps,
        "now_s": NOW.timestamp,
        "timeout_s": 2.0,
        "budget_s": 5.0,
    }
    options.update(kwargs)
    return UKGridProvider(**options), sleeps


def national_range(request: Request) -> Response:
    """/intensity/{from}/{to}: every half hour in the range (the API also returns the period
    ending at ``from``); periods from NOW on have no actual yet."""
    _, _, lo_text, hi_text = request.path.split("/")
    lo = datetime.fromisoformat(lo_text) - HALF
    hi = datetime.fromisoformat(hi_text)
    data = []
    t = lo
    while t < hi:
        k = int((t - NOW) / HALF) % 100
        data.append(period(t, 200.0 + k, None if t >= NOW else 100.0 + k))
        t += HALF
    return Response(json.dumps({"data": data}), content_type="application/json")


def test_national_actual_then_forecast(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(
        "/intensity/2024-03-10T10:00Z/2024-03-10T13:00Z"
    ).respond_with_handler(national_range)
    provider, _ = make(httpserver, tmp_path)
    assert isinstance(provider, IntensityProvider)
    series = provider.series(GB, NOW - timedelta(hours=1, minutes=45), NOW + timedelta(hours=1))

    assert series.boundaries_s[1] - series.boundaries_s[0] == 15 * 60  # clipped first period
    assert series.value_at(NOW - timedelta(minutes=10)) == 199.0  # actual
    assert series.value_at(NOW + timedelta(minutes=40)) == 201.0  # forecast, no actual yet
    past = series.index_at((NOW - timedelta(minutes=10)).timestamp())
    ahead = series.index_at((NOW + timedelta(minutes=40)).timestamp())
    assert past is not None and ahead is not None
    assert series.estimated[past] is False and series.estimated[ahead] is True
    src = series.source
    assert (src.provider, src.signal, src.basis, src.zone) == ("ukgrid", "average", "direct", "GB")
    assert src.estimated and "national" in src.note and "CC BY 4.0" in src.dataset


def test_long_range_is_chunked_in_14_day_windows(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(
        "/intensity/2024-01-01T00:00Z/2024-01-15T00:00Z"
    ).respond_with_handler(national_range)
    httpserver.expect_request(
        "/intensity/2024-01-15T00:00Z/2024-01-21T00:00Z"
    ).respond_with_handler(national_range)
    provider, _ = make(httpserver, tmp_path)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    series = provider.series(GB, start, start + timedelta(days=20))
    assert [r.path for r, _ in httpserver.log] == [
        "/intensity/2024-01-01T00:00Z/2024-01-15T00:00Z",
        "/intensity/2024-01-15T00:00Z/2024-01-21T00:00Z",
    ]
    assert len(series) == 20 * 48 and not any(series.estimated)
    assert series.start == start and series.end == start + timedelta(days=20)


def test_regional_endpoint(httpserver: HTTPServer, tmp_path: Path) -> None:
    start = NOW - timedelta(hours=1)
    body = {
        "data": {
            "regionid": 13,
            "dnoregion": "UKPN London",
            "shortname": "London",
            "data": [
                {
                    "from": stamp(start + i * HALF),
                    "to": stamp(start + (i + 1) * HALF),
                    "intensity": {"forecast": 150 + i, "index": "moderate"},
                    "generationmix": [{"fuel": "gas", "perc": 40.0}],
                }
                for i in range(2)
            ],
        }
    }
    httpserver.expect_request(
        "/regional/intensity/2024-03-10T11:00Z/2024-03-10T12:00Z/regionid/13"
    ).respond_with_json(body)
    provider, _ = make(httpserver, tmp_path, region_id=13)
    series = provider.series(GB, start, NOW)
    assert series.values_g_per_kwh == (150.0, 151.0)
    assert all(series.estimated)  # regional values are forecasts
    assert "13 London" in series.source.note


def test_forecast_fw48h(httpserver: HTTPServer, tmp_path: Path) -> None:
    body = {"data": [period(NOW + i * HALF, 100.0 + i, None) for i in range(96)]}
    httpserver.expect_request("/intensity/2024-03-10T12:00Z/fw48h").respond_with_json(body)
    provider, _ = make(httpserver, tmp_path)
    fc = provider.forecast(GB, NOW + timedelta(minutes=15), NOW + timedelta(hours=2))
    assert all(fc.estimated) and fc.values_g_per_kwh[0] == 100.0 and len(fc) == 4
    assert fc.source.note == "national forecast"
    # served from the cache the second time
    provider.forecast(GB, NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    assert len(httpserver.log) == 1


def test_other_zones_are_refused(httpserver: HTTPServer, tmp_path: Path) -> None:
    provider, _ = make(httpserver, tmp_path)
    for zone in ("DE", "GB-NIR", None):
        region = Region(provider=None, code=zone, zone=zone, source="explicit")
        with pytest.raises(ProviderError, match="Great Britain only"):
            provider.series(region, NOW - timedelta(hours=1), NOW)
    assert httpserver.log == []


def test_bad_region_id() -> None:
    with pytest.raises(ConfigurationError, match=r"region_id=18 is invalid.*13 London"):
        UKGridProvider(region_id=18, cache=False)


def test_server_error_then_success(httpserver: HTTPServer, tmp_path: Path) -> None:
    path = "/intensity/2024-03-10T10:00Z/2024-03-10T12:00Z"
    httpserver.expect_oneshot_request(path).respond_with_data("bad gateway", status=502)
    httpserver.expect_request(path).respond_with_handler(national_range)
    provider, sleeps = make(httpserver, tmp_path)
    series = provider.series(GB, NOW - timedelta(hours=2), NOW)
    assert sleeps.calls == [0.5] and len(series) == 4


def test_rate_limit_honours_retry_after_date(httpserver: HTTPServer, tmp_path: Path) -> None:
    path = "/intensity/2024-03-10T10:00Z/2024-03-10T12:00Z"
    httpserver.expect_oneshot_request(path).respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_request(path).respond_with_handler(national_range)
    provider, sleeps = make(httpserver, tmp_path)
    provider.series(GB, NOW - timedelta(hours=2), NOW)
    assert sleeps.calls == [1.0] and len(httpserver.log) == 2


def test_client_errors_are_not_retried(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/intensity/2024-03-10T10:00Z/2024-03-10T12:00Z").respond_with_json(
        {"error": {"code": "400 Bad Request"}}, status=400
    )
    provider, sleeps = make(httpserver, tmp_path)
    with pytest.raises(HttpError, match="HTTP 400"):
        provider.series(GB, NOW - timedelta(hours=2), NOW)
    assert len(httpserver.log) == 1 and sleeps.calls == []


def test_malformed_and_empty(httpserver: HTTPServer, tmp_path: Path) -> None:
    path = "/intensity/2024-03-10T10:00Z/2024-03-10T12:00Z"
    httpserver.expect_oneshot_request(path).respond_with_data("{'data': ]")
    httpserver.expect_oneshot_request(path).respond_with_json({"data": []})
    httpserver.expect_oneshot_request(path).respond_with_json(
        {"data": [period(NOW - timedelta(hours=2), None, None)]}
    )
    provider, _ = make(httpserver, tmp_path, cache=False)
    with pytest.raises(ProviderError, match="malformed JSON"):
        provider.series(GB, NOW - timedelta(hours=2), NOW)
    with pytest.raises(ProviderError, match="no ukgrid data for zone GB"):
        provider.series(GB, NOW - timedelta(hours=2), NOW)
    with pytest.raises(ProviderError, match="no ukgrid data"):
        provider.series(GB, NOW - timedelta(hours=2), NOW)


def test_slow_reply_is_bounded(httpserver: HTTPServer, tmp_path: Path) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return national_range(request)

    httpserver.expect_request(
        "/intensity/2024-03-10T10:00Z/2024-03-10T12:00Z"
    ).respond_with_handler(slow)
    provider, _ = make(
        httpserver, tmp_path, timeout_s=0.25, budget_s=0.5, retries=4, sleep=time.sleep
    )
    t0 = time.monotonic()
    with pytest.raises(HttpError):
        provider.series(GB, NOW - timedelta(hours=2), NOW)
    assert time.monotonic() - t0 < 1.5


def test_offline_without_cache_makes_no_request(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "1")
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="CARBONSDK_OFFLINE"):
        provider.series(GB, NOW - timedelta(hours=2), NOW)
    with pytest.raises(ProviderError, match="CARBONSDK_OFFLINE"):
        provider.forecast(GB, NOW, NOW + timedelta(hours=2))
    assert httpserver.log == []


def test_cli_prints_a_live_value_and_its_provenance(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import carbonsdk.cli.intensity as command
    from carbonsdk.cli import main

    httpserver.expect_request(
        "/intensity/2024-03-10T11:00Z/2024-03-10T13:00Z"
    ).respond_with_handler(national_range)
    base = httpserver.url_for("").rstrip("/")
    monkeypatch.setattr(
        command, "_provider", lambda name: UKGridProvider(base_url=base, cache=False)
    )
    assert (
        main(["intensity", "GB", "--at", "2024-03-10T12:10Z", "--provider", "ukgrid", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["g_per_kwh"] == 200.0 and out["estimated"] is True  # forecast, no actual yet
    assert (out["provider"], out["signal"], out["basis"], out["zone"]) == (
        "ukgrid",
        "average",
        "direct",
        "GB",
    )
    assert out["step_start"] == "2024-03-10T12:00:00+00:00" and out["fallback_from"] is None
    assert main(["intensity", "GB", "--at", "2024-03-10T11:40Z", "--provider", "ukgrid"]) == 0
    text = capsys.readouterr().out
    assert "199.0 gCO2eq/kWh" in text and "basis direct | measured" in text
    assert "NESO Carbon Intensity API" in text


def test_region_names_follow_the_api_documentation() -> None:
    """The Region List of https://carbon-intensity.github.io/api-definitions/ names region 6
    "North Wales, Merseyside and Cheshire" (not "North Wales"): the table says so."""
    from carbonsdk.intensity.ukgrid import REGION_IDS

    assert REGION_IDS[6] == "North Wales, Merseyside and Cheshire"
    assert REGION_IDS[7] == "South Wales" and REGION_IDS[17] == "Wales"
    assert sorted(REGION_IDS) == list(range(1, 18))


def regional_body(
    start: datetime, count: int, *, regionid: int, shortname: str, postcode: str | None = None
) -> dict[str, Any]:
    """A regional reply as documented: ``data`` holds the region and its periods (forecast
    values only)."""
    data: dict[str, Any] = {
        "regionid": regionid,
        "dnoregion": "SP Manweb",
        "shortname": shortname,
        "data": [
            {
                "from": stamp(start + i * HALF),
                "to": stamp(start + (i + 1) * HALF),
                "intensity": {"forecast": 90 + i, "index": "low"},
                "generationmix": [{"fuel": "wind", "perc": 50.0}],
            }
            for i in range(count)
        ],
    }
    if postcode is not None:
        data["postcode"] = postcode
    return {"data": data}


def test_regional_reply_shows_the_documented_name_and_the_api_shortname(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    start = NOW - timedelta(hours=1)
    httpserver.expect_request(
        "/regional/intensity/2024-03-10T11:00Z/2024-03-10T12:00Z/regionid/6"
    ).respond_with_json(regional_body(start, 2, regionid=6, shortname="North Wales & Merseyside"))
    provider, _ = make(httpserver, tmp_path, region_id=6)
    series = provider.series(GB, start, NOW)
    assert series.values_g_per_kwh == (90.0, 91.0) and all(series.estimated)
    assert (
        "region 6 North Wales, Merseyside and Cheshire (North Wales & Merseyside)"
        in series.source.note
    )


def test_postcode_range_and_forecast_endpoints(httpserver: HTTPServer, tmp_path: Path) -> None:
    """``/regional/intensity/{from}/{to}/postcode/{postcode}`` and
    ``/regional/intensity/{from}/fw48h/postcode/{postcode}`` (API documentation, "Regional")
    take the outward part of a postcode."""
    start = NOW - timedelta(hours=1)
    httpserver.expect_request(
        "/regional/intensity/2024-03-10T11:00Z/2024-03-10T12:00Z/postcode/RG10"
    ).respond_with_json(
        regional_body(start, 2, regionid=12, shortname="South England", postcode="RG10")
    )
    httpserver.expect_request(
        "/regional/intensity/2024-03-10T12:00Z/fw48h/postcode/RG10"
    ).respond_with_json(
        regional_body(NOW, 96, regionid=12, shortname="South England", postcode="RG10")
    )
    provider, _ = make(httpserver, tmp_path, postcode="rg10 9xx")
    assert provider.postcode == "RG10" and "postcode='RG10'" in repr(provider)
    series = provider.series(GB, start, NOW)
    assert series.values_g_per_kwh == (90.0, 91.0) and all(series.estimated)
    assert "postcode RG10, region 12 South England" in series.source.note
    fc = provider.forecast(GB, NOW, NOW + timedelta(hours=2))
    assert len(fc) == 4 and all(fc.estimated) and fc.values_g_per_kwh[0] == 90.0
    # a postcode's data is cached apart from the national series and region ids
    files = [p.parent.name for p in (tmp_path / "cache").rglob("*.json")]
    assert files and all(name.startswith("GB-postcode-RG10") for name in files)


@pytest.mark.parametrize("postcode", ["", "12345", "LONDON", "RG10-9XX"])
def test_bad_postcode_is_a_configuration_error(postcode: str) -> None:
    with pytest.raises(ConfigurationError, match=r"postcode=.* is invalid"):
        UKGridProvider(postcode=postcode, cache=False)
    with pytest.raises(ConfigurationError, match="not both"):
        UKGridProvider(postcode="RG10", region_id=12, cache=False)
