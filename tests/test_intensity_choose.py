"""How a run gets its intensity: provider choice, fallbacks to embedded data and the world
average, bounded waits, and no secret in the ledger."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

import carbonsdk
from carbonsdk.intensity.choose import auto_provider, make_provider, series_for_run
from carbonsdk.intensity.electricitymaps import ElectricityMapsProvider
from carbonsdk.region import parse_region
from carbonsdk.region.base import Region
from carbonsdk.sampler import Sampler
from carbonsdk.testing import FakeClock, FakeGPU, fake_environment, fake_sampler

KEY = "em-secret-key-123"


@pytest.fixture
def rig() -> Iterator[tuple[FakeClock, Sampler]]:
    clock = FakeClock(start_epoch_s=datetime(2026, 11, 26, 6, 0, tzinfo=UTC).timestamp())
    with fake_sampler(fake_environment(clock, gpus=[FakeGPU.volta(power_w=200.0)]), clock) as s:
        yield clock, s


def test_auto_is_embedded_offline_even_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", KEY)
    assert auto_provider().name == "embedded"
    monkeypatch.setenv("CARBONSDK_OFFLINE", "0")
    assert auto_provider().name == "electricitymaps"
    monkeypatch.delenv("ELECTRICITYMAPS_API_KEY")
    assert auto_provider().name == "embedded"


def test_named_providers() -> None:
    assert make_provider("auto") is None
    assert make_provider("Embedded").name == "embedded"  # type: ignore[union-attr]
    assert make_provider(0).name == "constant"  # type: ignore[union-attr]


def test_live_failure_falls_back_to_embedded_within_budget(
        rig: tuple[FakeClock, Sampler], httpserver: HTTPServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "0")
    httpserver.expect_request("/v3/carbon-intensity/history").respond_with_response(
        Response("upstream down", status=503))
    httpserver.expect_request("/v3/carbon-intensity/past-range").respond_with_response(
        Response("upstream down", status=503))
    provider = ElectricityMapsProvider(api_key=KEY, base_url=httpserver.url_for("").rstrip("/"),
                                       cache=False, sleep=lambda s: None)
    clock, sampler = rig
    ledger = tmp_path / "l.jsonl"
    with carbonsdk.measure("fb", region="DE", intensity=provider, ledger=ledger,
                           report=False) as run:
        clock.advance(30.0)
        sampler.tick()
    result = run.result
    assert result is not None
    src = result.intensity_source
    assert src.provider == "embedded" and src.fallback_from == "electricitymaps"
    assert "503" in src.note
    assert "intensity-fallback" in result.flags
    assert result.emissions_g > 0
    text = ledger.read_text()
    assert KEY not in text and "fallback_from" in text


def test_slow_provider_is_bounded(httpserver: HTTPServer,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "0")

    def slow(request: object) -> Response:
        time.sleep(3.0)
        return Response("{}", status=200)

    httpserver.expect_request("/v3/carbon-intensity/history").respond_with_handler(slow)
    provider = ElectricityMapsProvider(api_key=KEY, base_url=httpserver.url_for("").rstrip("/"),
                                       cache=False, timeout_s=5.0)
    now = time.time()
    t0 = time.monotonic()
    outcome = series_for_run(provider, parse_region("DE"), now - 60, now, budget_s=0.5)
    waited = time.monotonic() - t0
    assert waited < 2.5  # the budget, not the server, decides
    assert outcome.series.source.fallback_from == "electricitymaps"


def test_zone_without_data_uses_flagged_world_average() -> None:
    region = Region(provider=None, code="XX-NOWHERE", zone="XX-NOWHERE", source="explicit")
    now = time.time()
    outcome = series_for_run(make_provider("embedded"), region, now - 60, now)  # type: ignore[arg-type]
    assert outcome.series.source.provider == "world-average"
    assert outcome.series.source.fallback_from == "embedded"
    assert "world-average" in outcome.flags and "intensity-fallback" in outcome.flags


def test_provider_bug_never_reaches_the_user(rig: tuple[FakeClock, Sampler]) -> None:
    class Broken:
        name = "broken"

        def series(self, region: Region, start: datetime, end: datetime) -> object:
            raise RuntimeError("provider bug")

    clock, sampler = rig
    with carbonsdk.measure("b", region="FR", intensity=Broken(), ledger=False,
                           report=False) as run:
        clock.advance(5.0)
        sampler.tick()
    assert run.result is not None
    assert run.result.intensity_source.fallback_from == "broken"
    assert "provider bug" in run.result.intensity_source.note
