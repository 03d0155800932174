"""WattTime provider against a local server speaking the v3 wire format."""

from __future__ import annotations

import base64
import json
import logging
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
from carbonsdk.intensity.watttime import G_PER_KWH_PER_LB_PER_MWH, WattTimeProvider
from carbonsdk.model.region import Region

USER, PASSWORD, TOKEN = "wt-user", "wt-PASSWORD-s3cret", "jwt-TOKEN-abc"
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
CAL = Region(provider=None, code="US-CAL-CISO", zone="US-CAL-CISO", source="explicit")
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBONSDK_OFFLINE", raising=False)


def moer_doc(start: datetime, count: int, value: float = 1000.0) -> dict[str, Any]:
    """A /v3/historical or /v3/forecast body as documented: 5-minute points, lbs/MWh."""
    return {
        "data": [
            {"point_time": (start + timedelta(minutes=5 * i)).isoformat(), "value": value + i}
            for i in range(count)
        ],
        "meta": {
            "data_point_period_seconds": 300,
            "region": "CAISO_NORTH",
            "warnings": [],
            "signal_type": "co2_moer",
            "model": {"date": "2023-03-01"},
            "units": "lbs_co2_per_mwh",
        },
    }


def expect_login(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/login", headers={"Authorization": BASIC}).respond_with_json(
        {"token": TOKEN}
    )


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(httpserver: HTTPServer, tmp_path: Path, **kwargs: Any) -> tuple[WattTimeProvider, Sleeps]:
    sleeps = Sleeps()
    options: dict[str, Any] = {
        "wt_region": "CAISO_NORTH",
        "base_url": httpserver.url_for("").rstrip("/"),
        "cache": IntensityCache(tmp_path / "cache", now_s=NOW.timestamp),
        "sleep": sleeps,
        "now_s": NOW.timestamp,
        "timeout_s": 2.0,
        "budget_s": 5.0,
    }
    options.update(kwargs)
    return WattTimeProvider(USER, PASSWORD, **options), sleeps


def calls(httpserver: HTTPServer, path: str) -> list[Request]:
    return [r for r, _ in httpserver.log if r.path == path]


def test_pound_conversion_factor() -> None:
    # 1 lb = 453.59237 g (exact), 1 MWh = 1000 kWh
    expected = 453.59237 / 1000.0
    assert abs(G_PER_KWH_PER_LB_PER_MWH - expected) <= 1e-15 * expected


def test_login_then_historical_in_g_per_kwh(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    start = NOW - timedelta(hours=2)
    httpserver.expect_request(
        "/v3/historical", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json(moer_doc(start, 24))
    provider, _ = make(httpserver, tmp_path)
    assert isinstance(provider, IntensityProvider)
    series = provider.series(CAL, start, start + timedelta(hours=2))

    assert len(series) == 24 and not any(series.estimated)
    assert series.values_g_per_kwh[0] == pytest.approx(1000.0 * 0.45359237)
    assert series.values_g_per_kwh[5] == pytest.approx(1005.0 * 453.59237 / 1000.0)
    assert series.boundaries_s[1] - series.boundaries_s[0] == 300.0
    src = series.source
    assert (src.provider, src.signal, src.basis, src.zone) == (
        "watttime",
        "marginal",
        "direct",
        "US-CAL-CISO",
    )
    assert "CAISO_NORTH" in src.note and "0.45359237" in src.dataset
    (req,) = calls(httpserver, "/v3/historical")
    assert req.args["region"] == "CAISO_NORTH" and req.args["signal_type"] == "co2_moer"
    assert req.args["start"] == "2024-03-10T10:00:00Z" and req.args["end"] == "2024-03-10T12:00:00Z"


def test_token_is_reused(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    httpserver.expect_request("/v3/historical").respond_with_json(
        moer_doc(NOW - timedelta(hours=6), 72)
    )
    provider, _ = make(httpserver, tmp_path, cache=False)
    provider.series(CAL, NOW - timedelta(hours=6), NOW - timedelta(hours=5))
    provider.series(CAL, NOW - timedelta(hours=4), NOW - timedelta(hours=3))
    assert len(calls(httpserver, "/login")) == 1
    assert len(calls(httpserver, "/v3/historical")) == 2


def test_expired_token_relogs_in_once(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    httpserver.expect_oneshot_request("/v3/historical").respond_with_data("expired", status=401)
    httpserver.expect_request("/v3/historical").respond_with_json(
        moer_doc(NOW - timedelta(hours=1), 12)
    )
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(CAL, NOW - timedelta(hours=1), NOW)
    assert len(series) == 12
    assert len(calls(httpserver, "/login")) == 2


def test_persistent_401_gives_up_after_one_relogin(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    httpserver.expect_request("/v3/historical").respond_with_data("no", status=401)
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(HttpError) as info:
        provider.series(CAL, NOW - timedelta(hours=1), NOW)
    assert info.value.status == 401
    assert len(calls(httpserver, "/login")) == 2 and len(calls(httpserver, "/v3/historical")) == 2


def test_rejected_login_never_leaks_credentials(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/login").respond_with_data("Forbidden", status=403)
    provider, _ = make(httpserver, tmp_path)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HttpError) as info:
        provider.series(CAL, NOW - timedelta(hours=1), NOW)
    exc = info.value
    assert exc.status == 403 and "WATTTIME_PASSWORD" in str(exc)
    secrets = (PASSWORD, BASIC.split()[1], TOKEN)
    for text in (str(exc), repr(exc), repr(provider), caplog.text):
        for secret in secrets:
            assert secret not in text
    assert "password=<set>" in repr(provider)


def test_token_and_password_stay_out_of_data_errors(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expect_login(httpserver)
    httpserver.expect_request("/v3/historical").respond_with_data("nope", status=500)
    provider, _ = make(httpserver, tmp_path)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HttpError) as info:
        provider.series(CAL, NOW - timedelta(hours=1), NOW)
    for text in (str(info.value), repr(provider), caplog.text):
        assert TOKEN not in text and PASSWORD not in text
    files = list((tmp_path / "cache").rglob("*"))
    assert all(TOKEN not in f.read_text() for f in files if f.is_file())


def test_rate_limit_honours_retry_after(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    httpserver.expect_oneshot_request("/v3/historical").respond_with_response(
        Response("too many", status=429, headers={"Retry-After": "3"})
    )
    httpserver.expect_request("/v3/historical").respond_with_json(
        moer_doc(NOW - timedelta(hours=1), 12)
    )
    provider, sleeps = make(httpserver, tmp_path)
    provider.series(CAL, NOW - timedelta(hours=1), NOW)
    assert sleeps.calls == [3.0] and len(calls(httpserver, "/v3/historical")) == 2


def test_historical_is_chunked_in_30_day_windows(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)

    def reply(request: Request) -> Response:
        lo = datetime.fromisoformat(request.args["start"])
        hi = datetime.fromisoformat(request.args["end"])
        n = int((hi - lo) / timedelta(minutes=5)) + 1  # inclusive end
        doc = moer_doc(lo, n, value=500.0)
        doc["data"] = [dict(p, value=500.0) for p in doc["data"]]
        return Response(json.dumps(doc), content_type="application/json")

    httpserver.expect_request("/v3/historical").respond_with_handler(reply)
    provider, _ = make(httpserver, tmp_path)
    start = datetime(2023, 11, 1, tzinfo=UTC)
    series = provider.series(CAL, start, start + timedelta(days=65))
    windows = [(r.args["start"], r.args["end"]) for r in calls(httpserver, "/v3/historical")]
    assert windows == [
        ("2023-11-01T00:00:00Z", "2023-12-01T00:00:00Z"),
        ("2023-12-01T00:00:00Z", "2023-12-31T00:00:00Z"),
        ("2023-12-31T00:00:00Z", "2024-01-05T00:00:00Z"),
    ]
    assert len(series) == 65 * 24 * 12
    assert max(series.values_g_per_kwh) == min(series.values_g_per_kwh)
    assert series.values_g_per_kwh[0] == pytest.approx(500.0 * 0.45359237)


def test_region_is_required_and_never_guessed(httpserver: HTTPServer, tmp_path: Path) -> None:
    provider, _ = make(httpserver, tmp_path, wt_region=None)
    with pytest.raises(ProviderError, match="wt_region="):
        provider.series(CAL, NOW - timedelta(hours=1), NOW)
    assert httpserver.log == []


def test_region_from_location(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    httpserver.expect_request(
        "/v3/region-from-loc",
        query_string={"latitude": "37.77", "longitude": "-122.42", "signal_type": "co2_moer"},
    ).respond_with_json(
        {
            "region": "CAISO_NORTH",
            "region_full_name": "California ISO Northern",
            "signal_type": "co2_moer",
        }
    )
    httpserver.expect_request("/v3/historical").respond_with_json(
        moer_doc(NOW - timedelta(hours=1), 12)
    )
    provider, _ = make(httpserver, tmp_path, wt_region=None, latitude=37.77, longitude=-122.42)
    series = provider.series(CAL, NOW - timedelta(hours=1), NOW)
    assert provider.wt_region == "CAISO_NORTH" and len(series) == 12
    assert calls(httpserver, "/v3/historical")[0].args["region"] == "CAISO_NORTH"


def test_forecast_is_flagged_estimated(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    httpserver.expect_request("/v3/forecast").respond_with_json(moer_doc(NOW, 24 * 12, 800.0))
    provider, _ = make(httpserver, tmp_path)
    fc = provider.forecast(CAL, NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    assert len(fc) == 12 and all(fc.estimated) and fc.source.estimated
    assert fc.values_g_per_kwh[0] == pytest.approx((800.0 + 12) * 0.45359237)
    assert "horizon_hours" not in calls(httpserver, "/v3/forecast")[0].args


def test_series_into_the_future_merges_history_and_forecast(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    expect_login(httpserver)
    httpserver.expect_request("/v3/historical").respond_with_json(
        moer_doc(NOW - timedelta(hours=1), 12, 900.0)
    )
    httpserver.expect_request("/v3/forecast").respond_with_json(moer_doc(NOW, 72 * 12, 700.0))
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(CAL, NOW - timedelta(hours=1), NOW + timedelta(hours=30))
    past = series.index_at((NOW - timedelta(minutes=30)).timestamp())
    ahead = series.index_at((NOW + timedelta(hours=20)).timestamp())
    assert past is not None and ahead is not None
    assert not series.estimated[past] and series.estimated[ahead]
    assert calls(httpserver, "/v3/forecast")[0].args["horizon_hours"] == "30"


def test_malformed_json_and_units(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    httpserver.expect_oneshot_request("/v3/historical").respond_with_data(
        "<html>oops", content_type="text/html"
    )
    doc = moer_doc(NOW - timedelta(hours=1), 12)
    doc["meta"]["units"] = "stones_per_fortnight"
    httpserver.expect_request("/v3/historical").respond_with_json(doc)
    provider, _ = make(httpserver, tmp_path, cache=False)
    with pytest.raises(ProviderError, match="malformed JSON"):
        provider.series(CAL, NOW - timedelta(hours=1), NOW)
    with pytest.raises(ProviderError, match="unknown units 'stones_per_fortnight'"):
        provider.series(CAL, NOW - timedelta(hours=1), NOW)


def test_empty_data(httpserver: HTTPServer, tmp_path: Path) -> None:
    expect_login(httpserver)
    httpserver.expect_request("/v3/historical").respond_with_json(
        {"data": [], "meta": {"units": "lbs_co2_per_mwh", "warnings": []}}
    )
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="no watttime data"):
        provider.series(CAL, NOW - timedelta(hours=1), NOW)


def test_slow_login_is_bounded_by_the_deadline(httpserver: HTTPServer, tmp_path: Path) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(json.dumps({"token": TOKEN}), content_type="application/json")

    httpserver.expect_request("/login").respond_with_handler(slow)
    provider, _ = make(httpserver, tmp_path, timeout_s=5.0, retries=3, sleep=time.sleep)
    t0 = time.monotonic()
    with pytest.raises(HttpError):
        provider.series(CAL, NOW - timedelta(hours=1), NOW, deadline_s=time.monotonic() + 0.4)
    assert time.monotonic() - t0 < 1.5


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="WATTTIME_USERNAME"):
        WattTimeProvider()
    assert WattTimeProvider.credentials_available() is False
    monkeypatch.setenv("WATTTIME_USERNAME", USER)
    monkeypatch.setenv("WATTTIME_PASSWORD", PASSWORD)
    assert WattTimeProvider.credentials_available() is True
    provider = WattTimeProvider(cache=False)
    assert PASSWORD not in repr(provider) and USER not in repr(provider)
    with pytest.raises(ConfigurationError, match="latitude and longitude"):
        WattTimeProvider(latitude=10.0)
    with pytest.raises(ConfigurationError, match=r"latitude=123\.0"):
        WattTimeProvider(latitude=123.0, longitude=0.0)


def test_service_error_message_is_shown(httpserver: HTTPServer, tmp_path: Path) -> None:
    """WattTime explains a refusal in the body; its own Python client shows it (``API Response
    Error: {status_code}, {rsp.text}`` in ``watttime/api.py``): so does this provider, instead of
    a bare "HTTP 403"."""
    expect_login(httpserver)
    httpserver.expect_request("/v3/historical").respond_with_json(
        {"error": "Forbidden", "message": "Your account does not have access to MISO_INDIANAPOLIS"},
        status=403,
    )
    provider, _ = make(httpserver, tmp_path, wt_region="MISO_INDIANAPOLIS")
    with pytest.raises(HttpError) as info:
        provider.series(CAL, NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    message = str(info.value)
    assert "HTTP 403" in message
    assert "Your account does not have access to MISO_INDIANAPOLIS" in message
    assert TOKEN not in message and PASSWORD not in message


def test_rejected_login_shows_the_service_message(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/login").respond_with_json(
        {"error": "invalid username or password"}, status=403
    )
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(HttpError) as info:
        provider.series(CAL, NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    message = str(info.value)
    assert "WattTime login rejected (HTTP 403: invalid username or password)" in message
    assert PASSWORD not in message and USER not in message
