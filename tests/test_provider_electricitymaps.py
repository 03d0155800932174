"""Electricity Maps provider against a local server speaking the API's wire format (v4 paths by
default, v3 selectable; the response shapes are the same)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
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
from carbonsdk.intensity.electricitymaps import ElectricityMapsProvider
from carbonsdk.model.region import Region

KEY = "em-SECRET-key-4711"
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
DE = Region(provider=None, code="DE", zone="DE", source="explicit", country="DE")
HISTORY = "/v4/carbon-intensity/history"
PAST_RANGE = "/v4/carbon-intensity/past-range"
FORECAST = "/v4/carbon-intensity/forecast"


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests talk to the loopback server only; every URL is injected
    monkeypatch.delenv("CARBONSDK_OFFLINE", raising=False)


def point(when: datetime, value: float, *, estimated: bool = False) -> dict[str, Any]:
    """One data point as the API documents it."""
    return {
        "zone": "DE",
        "carbonIntensity": value,
        "datetime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "updatedAt": "2024-03-10T11:32:21.002Z",
        "createdAt": "2024-03-07T06:20:31.772Z",
        "emissionFactorType": "lifecycle",
        "isEstimated": estimated,
        "estimationMethod": "TIME_SLICER_AVERAGE" if estimated else None,
    }


def history_doc() -> dict[str, Any]:
    """24 hourly points ending with the current hour, the last two estimated."""
    first = NOW - timedelta(hours=23)
    pts = [point(first + timedelta(hours=i), 300.0 + i, estimated=i >= 22) for i in range(24)]
    return {"zone": "DE", "history": pts}


class Sleeps:
    """A fake sleep that records the waits the HTTP helper asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(
    httpserver: HTTPServer, tmp_path: Path, **kwargs: Any
) -> tuple[ElectricityMapsProvider, Sleeps]:
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
    return ElectricityMapsProvider(KEY, **options), sleeps


def test_history_success_matches_wire_format(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(HISTORY, headers={"auth-token": KEY}).respond_with_json(history_doc())
    provider, _ = make(httpserver, tmp_path)
    assert isinstance(provider, IntensityProvider)
    start, end = NOW - timedelta(hours=3, minutes=30), NOW + timedelta(minutes=30)
    series = provider.series(DE, start, end)

    assert series.start == start and series.end == end
    assert series.value_at(NOW - timedelta(hours=3, minutes=10)) == 319.0  # 08:00 point
    assert series.value_at(NOW - timedelta(minutes=1)) == 322.0
    assert series.value_at(NOW + timedelta(minutes=10)) == 323.0  # current hour, estimated
    flags = dict(zip(series.values_g_per_kwh, series.estimated, strict=True))
    assert flags[319.0] is False and flags[322.0] is True and flags[323.0] is True
    src = series.source
    assert (src.provider, src.signal, src.basis, src.zone) == (
        "electricitymaps",
        "average",
        "lifecycle",
        "DE",
    )
    assert src.estimated is True and "Electricity Maps" in src.dataset
    request, _ = httpserver.log[0]
    assert request.args["zone"] == "DE" and request.args["emissionFactorType"] == "lifecycle"
    assert KEY not in request.url


def test_direct_basis_is_requested_and_checked(httpserver: HTTPServer, tmp_path: Path) -> None:
    doc = history_doc()
    httpserver.expect_request(HISTORY).respond_with_json(doc)
    provider, _ = make(httpserver, tmp_path, basis="direct", cache=False)
    with pytest.raises(ProviderError, match="'lifecycle' emission factors"):
        provider.series(DE, NOW - timedelta(hours=2), NOW)
    for p in doc["history"]:
        p["emissionFactorType"] = "direct"
    httpserver.clear()
    httpserver.expect_request(HISTORY).respond_with_json(doc)
    series = provider.series(DE, NOW - timedelta(hours=2), NOW)
    assert series.source.basis == "direct"
    assert httpserver.log[-1][0].args["emissionFactorType"] == "direct"


def test_past_range_is_chunked_in_ten_day_windows(httpserver: HTTPServer, tmp_path: Path) -> None:
    def reply(request: Request) -> Response:
        lo = datetime.fromisoformat(request.args["start"])
        hi = datetime.fromisoformat(request.args["end"])
        hours = int((hi - lo) / timedelta(hours=1))
        # the API's end is inclusive: one point more than the window
        data = [point(lo + timedelta(hours=i), float(i % 50)) for i in range(hours + 1)]
        return Response(json.dumps({"zone": "DE", "data": data}), content_type="application/json")

    httpserver.expect_request(PAST_RANGE).respond_with_handler(reply)
    provider, _ = make(httpserver, tmp_path)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=25)
    series = provider.series(DE, start, end)

    windows = [(r.args["start"], r.args["end"]) for r, _ in httpserver.log]
    assert windows == [
        ("2024-01-01T00:00:00Z", "2024-01-11T00:00:00Z"),
        ("2024-01-11T00:00:00Z", "2024-01-21T00:00:00Z"),
        ("2024-01-21T00:00:00Z", "2024-01-26T00:00:00Z"),
    ]
    assert len(series) == 25 * 24 and not any(series.estimated)
    assert series.start == start and series.end == end
    assert series.value_at(start + timedelta(days=10, hours=3)) == 3.0


def test_cache_serves_repeat_and_offline_and_never_stores_the_key(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request(HISTORY).respond_with_json(history_doc())
    provider, _ = make(httpserver, tmp_path)
    start, end = NOW - timedelta(hours=5), NOW - timedelta(hours=1)
    first = provider.series(DE, start, end)
    second = provider.series(DE, start + timedelta(minutes=30), end)
    assert len(httpserver.log) == 1
    assert second.value_at(start + timedelta(hours=1)) == first.value_at(start + timedelta(hours=1))

    monkeypatch.setenv("CARBONSDK_OFFLINE", "1")
    offline = provider.series(DE, start, end)
    assert offline.values_g_per_kwh == first.values_g_per_kwh and len(httpserver.log) == 1
    with pytest.raises(ProviderError, match="CARBONSDK_OFFLINE"):
        provider.series(DE, NOW - timedelta(days=40), NOW - timedelta(days=39))

    files = list((tmp_path / "cache").rglob("*.json"))
    assert files and all(KEY not in f.read_text() for f in files)


def test_unauthorised_key_never_leaks(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(HISTORY).respond_with_json({"message": "Unauthorized"}, status=401)
    provider, sleeps = make(httpserver, tmp_path)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HttpError) as info:
        provider.series(DE, NOW - timedelta(hours=2), NOW)
    exc = info.value
    assert exc.status == 401 and "ELECTRICITYMAPS_API_KEY" in str(exc)
    assert len(httpserver.log) == 1 and sleeps.calls == []  # a 401 is not retried
    for text in (str(exc), repr(exc), repr(provider), caplog.text):
        assert KEY not in text
    assert "api_key=<set>" in repr(provider)


def test_forbidden_plan_is_a_provider_error(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(PAST_RANGE).respond_with_data("Forbidden", status=403)
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="HTTP 403"):
        provider.series(DE, datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 1, 2, tzinfo=UTC))


def test_rate_limit_honours_retry_after(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_oneshot_request(HISTORY).respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "2"})
    )
    httpserver.expect_request(HISTORY).respond_with_json(history_doc())
    provider, sleeps = make(httpserver, tmp_path)
    series = provider.series(DE, NOW - timedelta(hours=2), NOW)
    assert sleeps.calls == [2.0]
    assert len(httpserver.log) == 2 and len(series) == 2


def test_server_error_then_success(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_oneshot_request(HISTORY).respond_with_data("boom", status=500)
    httpserver.expect_request(HISTORY).respond_with_json(history_doc())
    provider, sleeps = make(httpserver, tmp_path)
    series = provider.series(DE, NOW - timedelta(hours=2), NOW)
    assert sleeps.calls == [0.5] and series.value_at(NOW - timedelta(hours=2)) == 321.0


def test_persistent_server_error_gives_up(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(HISTORY).respond_with_data("boom", status=503)
    provider, sleeps = make(httpserver, tmp_path, retries=2)
    with pytest.raises(HttpError, match="HTTP 503"):
        provider.series(DE, NOW - timedelta(hours=2), NOW)
    assert len(httpserver.log) == 3 and sleeps.calls == [0.5, 1.0]


def test_malformed_json(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(HISTORY).respond_with_data(
        '{"zone": "DE", "history": [', content_type="application/json"
    )
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="malformed JSON"):
        provider.series(DE, NOW - timedelta(hours=2), NOW)


def test_unexpected_shape(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(HISTORY).respond_with_json({"zone": "DE", "data": "nope"})
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="no 'history' list"):
        provider.series(DE, NOW - timedelta(hours=2), NOW)


def test_empty_data(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(HISTORY).respond_with_json({"zone": "DE", "history": []})
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="no electricitymaps data for zone DE"):
        provider.series(DE, NOW - timedelta(hours=2), NOW)
    assert not list((tmp_path / "cache").rglob("*.json"))  # nothing cached


def test_slow_reply_is_bounded_by_the_budget(httpserver: HTTPServer, tmp_path: Path) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(json.dumps(history_doc()), content_type="application/json")

    httpserver.expect_request(HISTORY).respond_with_handler(slow)
    provider, _ = make(
        httpserver, tmp_path, timeout_s=0.3, budget_s=0.6, retries=5, sleep=time.sleep
    )
    t0 = time.monotonic()
    with pytest.raises(HttpError):
        provider.series(DE, NOW - timedelta(hours=2), NOW)
    # unbounded, six 0.3 s attempts plus backoff would take several seconds
    assert time.monotonic() - t0 < 1.5


def test_deadline_already_passed_sends_nothing(httpserver: HTTPServer, tmp_path: Path) -> None:
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(HttpError, match="no time left"):
        provider.series(DE, NOW - timedelta(hours=2), NOW, deadline_s=time.monotonic() - 1)
    assert httpserver.log == []


def test_future_range_uses_the_forecast(httpserver: HTTPServer, tmp_path: Path) -> None:
    future = [
        {"carbonIntensity": 250.0 + i, "datetime": (NOW + timedelta(hours=i)).isoformat()}
        for i in range(24)
    ]
    httpserver.expect_request(HISTORY).respond_with_json(history_doc())
    httpserver.expect_request(FORECAST).respond_with_json(
        {"zone": "DE", "forecast": future, "updatedAt": "2024-03-10T11:55:00.000Z"}
    )
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(DE, NOW - timedelta(hours=1), NOW + timedelta(hours=5))
    assert series.value_at(NOW - timedelta(minutes=30)) == 322.0  # history, measured
    assert series.value_at(NOW + timedelta(minutes=30)) == 323.0  # history wins this hour
    assert series.value_at(NOW + timedelta(hours=3, minutes=5)) == 253.0  # forecast
    i = series.index_at((NOW + timedelta(hours=3)).timestamp())
    assert i is not None and series.estimated[i]

    fc = provider.forecast(DE, NOW + timedelta(hours=1), NOW + timedelta(hours=4))
    assert all(fc.estimated) and fc.values_g_per_kwh == (251.0, 252.0, 253.0)
    assert fc.source.estimated and fc.source.note == "forecast"


def test_long_forecast_asks_for_a_longer_horizon(httpserver: HTTPServer, tmp_path: Path) -> None:
    future = [
        {"carbonIntensity": 100.0, "datetime": (NOW + timedelta(hours=i)).isoformat()}
        for i in range(48)
    ]
    httpserver.expect_request(FORECAST).respond_with_json({"zone": "DE", "forecast": future})
    provider, _ = make(httpserver, tmp_path)
    provider.forecast(DE, NOW, NOW + timedelta(hours=40))
    # 40 h is not a documented horizon: rounded up to the next one (6, 24, 48, 72)
    assert httpserver.log[0][0].args["horizonHours"] == "48"


def test_gap_longer_than_fill_limit_fails(httpserver: HTTPServer, tmp_path: Path) -> None:
    doc = history_doc()
    del doc["history"][5:20]  # a 15-hour hole
    httpserver.expect_request(HISTORY).respond_with_json(doc)
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match=r"gap of 15\.0 h"):
        provider.series(DE, NOW - timedelta(hours=23), NOW)
    short = history_doc()
    del short["history"][10:12]
    httpserver.clear()
    httpserver.expect_request(HISTORY).respond_with_json(short)
    provider, _ = make(httpserver, tmp_path, cache=False)
    series = provider.series(DE, NOW - timedelta(hours=23), NOW)
    held = series.value_at(NOW - timedelta(hours=12, minutes=30))
    assert held == 309.0  # the value before the hole, flagged estimated
    i = series.index_at((NOW - timedelta(hours=12, minutes=30)).timestamp())
    assert i is not None and series.estimated[i]


def test_latest(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/v4/carbon-intensity/latest").respond_with_json(
        point(NOW, 280.0, estimated=True)
    )
    provider, _ = make(httpserver, tmp_path)
    step = provider.latest(DE)
    assert (step.start, step.end, step.g_per_kwh, step.estimated) == (
        NOW,
        NOW + timedelta(hours=1),
        280.0,
        True,
    )


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="ELECTRICITYMAPS_API_KEY"):
        ElectricityMapsProvider()
    assert ElectricityMapsProvider.credentials_available() is False
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", KEY)
    assert ElectricityMapsProvider.credentials_available() is True
    assert KEY not in repr(ElectricityMapsProvider(cache=False))
    with pytest.raises(ConfigurationError, match="basis 'marginal'"):
        ElectricityMapsProvider(basis="marginal")


def test_unknown_region_is_a_provider_error(tmp_path: Path) -> None:
    provider = ElectricityMapsProvider(KEY, cache=False, base_url="http://127.0.0.1:9")
    with pytest.raises(ProviderError, match="region is unknown"):
        provider.series(Region.unknown(), NOW - timedelta(hours=1), NOW)


# -- `carbonsdk intensity` (the command built on the providers) ------------------------------


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonsdk", "intensity", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def test_cli_embedded_value_as_json(subprocess_env: dict[str, str], repo_root: Path) -> None:
    proc = run_cli(
        ["DE", "--at", "2023-06-01T14:00+02:00", "--provider", "embedded", "--json"],
        subprocess_env,
        repo_root,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["at"] == "2023-06-01T12:00:00+00:00" and out["zone"] == "DE"
    assert (out["provider"], out["signal"], out["basis"]) == ("embedded", "average", "lifecycle")
    assert out["estimated"] is False and out["fallback_from"] is None
    assert out["g_per_kwh"] > 0 and out["step_start"] <= out["at"] < out["step_end"]
    assert out["dataset"]


def test_cli_live_failure_falls_back_flagged_without_leaking_the_key(
    subprocess_env: dict[str, str], repo_root: Path
) -> None:
    env = dict(subprocess_env, ELECTRICITYMAPS_API_KEY=KEY, CARBONSDK_OFFLINE="1")
    auto = run_cli(["DE", "--at", "2023-06-01T12:00Z", "--json"], env, repo_root)
    assert json.loads(auto.stdout)["fallback_from"] is None  # auto stays offline: embedded
    live = ["--provider", "electricitymaps"]
    proc = run_cli(["DE", "--at", "2023-06-01T12:00Z", "--json", *live], env, repo_root)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["provider"] == "embedded" and out["fallback_from"] == "electricitymaps"
    assert "CARBONSDK_OFFLINE" in out["note"]
    assert KEY not in proc.stdout + proc.stderr
    text = run_cli(["DE", "--at", "2023-06-01T12:00Z", *live], env, repo_root)
    assert text.returncode == 0 and "fallback: electricitymaps failed" in text.stdout
    assert "zone DE | provider embedded | signal average | basis lifecycle" in text.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["DE", "--at", "2023-06-01T12:00"], "no UTC offset"),
        (["DE", "--at", "noonish"], "not a valid time"),
        (["aws:us-est-1"], "did you mean 'aws:us-east-1'"),
        (["DE", "--provider", "electricitymaps"], "ELECTRICITYMAPS_API_KEY"),
        (["DE", "--provider", "nope"], "invalid choice"),
    ],
)
def test_cli_bad_usage_exits_2_with_one_line(
    subprocess_env: dict[str, str], repo_root: Path, args: list[str], fragment: str
) -> None:
    proc = run_cli(args, subprocess_env, repo_root)
    assert proc.returncode == 2 and proc.stdout == ""
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_range_across_the_history_boundary_uses_both_endpoints(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    old = [point(NOW - timedelta(hours=30) + timedelta(hours=i), 500.0) for i in range(8)]
    httpserver.expect_request(PAST_RANGE).respond_with_json({"zone": "DE", "data": old})
    httpserver.expect_request(HISTORY).respond_with_json(history_doc())
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(DE, NOW - timedelta(hours=30), NOW - timedelta(hours=1))
    (past_req,) = [r for r, _ in httpserver.log if r.path == PAST_RANGE]
    assert (past_req.args["start"], past_req.args["end"]) == (
        "2024-03-09T06:00:00Z",
        "2024-03-09T13:00:00Z",
    )
    assert [r.path for r, _ in httpserver.log].count(HISTORY) == 1
    assert series.value_at(NOW - timedelta(hours=25)) == 500.0
    assert series.value_at(NOW - timedelta(hours=2)) == 321.0
    assert not any(series.estimated)


def test_retry_after_beyond_the_budget_fails_at_once(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request(HISTORY).respond_with_response(
        Response("quota", status=429, headers={"Retry-After": "3600"})
    )
    provider, sleeps = make(httpserver, tmp_path, budget_s=2.0)
    with pytest.raises(HttpError) as info:
        provider.series(DE, NOW - timedelta(hours=2), NOW)
    assert info.value.status == 429 and sleeps.calls == [] and len(httpserver.log) == 1


# -- issue 17: behaving like the service ----------------------------------------------------


def test_horizon_is_rounded_up_to_a_documented_value() -> None:
    """The forecast endpoint's ``horizonHours`` takes 6, 24, 48 or 72 (Electricity Maps API
    reference, forecast endpoint; the same set is listed by Composio's Electricity Maps toolkit
    reference): any other need is rounded up, 24 h (the default) is not sent."""
    from carbonsdk.intensity.electricitymaps import FORECAST_HORIZONS_H, forecast_horizon_h

    assert FORECAST_HORIZONS_H == (6, 24, 48, 72)
    assert [forecast_horizon_h(h) for h in (1, 24, 25, 47, 48, 49, 72, 100)] == [
        None,
        None,
        48,
        48,
        48,
        72,
        72,
        72,
    ]


def rejecting_forecast(request: Request) -> Response:
    """A plan that refuses any explicit horizon, answering 400 with a message as the API does,
    and serving the default 24 h forecast otherwise."""
    if "horizonHours" in request.args:
        return Response(
            json.dumps({"message": "horizonHours is not available on your plan"}),
            status=400,
            content_type="application/json",
        )
    future = [
        {"carbonIntensity": 200.0 + i, "datetime": (NOW + timedelta(hours=i)).isoformat()}
        for i in range(24)
    ]
    return Response(json.dumps({"zone": "DE", "forecast": future}), content_type="application/json")


def test_rejected_horizon_falls_back_to_the_default_forecast(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request(HISTORY).respond_with_json(history_doc())
    httpserver.expect_request(FORECAST).respond_with_handler(rejecting_forecast)
    provider, _ = make(httpserver, tmp_path)
    # 28 h ahead: horizonHours=48 is refused; the 24 h forecast plus a 4 h hold covers it
    series = provider.series(DE, NOW - timedelta(hours=2), NOW + timedelta(hours=28))
    forecasts = [r for r, _ in httpserver.log if r.path == FORECAST]
    assert [r.args.get("horizonHours") for r in forecasts] == ["48", None]
    assert series.end == NOW + timedelta(hours=28)
    assert series.value_at(NOW + timedelta(hours=5, minutes=1)) == 205.0
    assert series.value_at(NOW + timedelta(hours=27)) == 223.0  # last value held, estimated

    # 40 h ahead cannot be covered: a clear error, not "gap of N h"
    provider, _ = make(httpserver, tmp_path, cache=False)
    with pytest.raises(ProviderError) as info:
        provider.forecast(DE, NOW, NOW + timedelta(hours=40))
    message = str(info.value)
    assert "rejected horizonHours=48" in message and "not available on your plan" in message
    assert "gap of" not in message


def test_api_version_v4_by_default_and_v3_selectable(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    v3_doc = history_doc()
    httpserver.expect_request(HISTORY).respond_with_json(history_doc())
    httpserver.expect_request("/v3/carbon-intensity/history").respond_with_json(v3_doc)
    v4, _ = make(httpserver, tmp_path)
    assert v4.api_version == "v4" and "api_version='v4'" in repr(v4)
    series = v4.series(DE, NOW - timedelta(hours=2), NOW)
    assert "Electricity Maps API v4" in series.source.dataset
    v3, _ = make(httpserver, tmp_path, api_version="v3")
    series = v3.series(DE, NOW - timedelta(hours=2), NOW)
    assert "Electricity Maps API v3" in series.source.dataset
    assert [r.path for r, _ in httpserver.log] == [HISTORY, "/v3/carbon-intensity/history"]
    with pytest.raises(ConfigurationError, match="api_version 'v2' is invalid"):
        ElectricityMapsProvider(KEY, api_version="v2", cache=False)


def test_cache_is_not_shared_between_base_urls(tmp_path: Path) -> None:
    """Two providers at different URLs (a proxy, a staging server) with one cache directory."""
    servers = [HTTPServer(host="127.0.0.1", port=0) for _ in range(2)]
    try:
        for value, srv in zip((100.0, 900.0), servers, strict=True):
            srv.start()
            doc = history_doc()
            for p in doc["history"]:
                p["carbonIntensity"] = value
            srv.expect_request(HISTORY).respond_with_json(doc)
        cache = IntensityCache(tmp_path / "shared", now_s=NOW.timestamp)
        got = []
        for srv in servers:
            provider = ElectricityMapsProvider(
                KEY, base_url=srv.url_for("").rstrip("/"), cache=cache, now_s=NOW.timestamp
            )
            got.append(provider.series(DE, NOW - timedelta(hours=2), NOW).values_g_per_kwh)
        assert got == [(100.0, 100.0), (900.0, 900.0)]
        assert all(len(srv.log) == 1 for srv in servers)
    finally:
        for srv in servers:
            if srv.is_running():
                srv.stop()


def test_redirect_is_reported_as_a_redirect(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(HISTORY).respond_with_response(
        Response("", status=301, headers={"Location": "https://api.example.org/v4/history"})
    )
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(HttpError) as info:
        provider.series(DE, NOW - timedelta(hours=2), NOW)
    message = str(info.value)
    assert "HTTP 301 redirect to https://api.example.org/v4/history" in message
    assert "malformed JSON" not in message and info.value.status == 301
