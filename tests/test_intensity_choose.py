"""How a run gets its intensity: provider choice, fallbacks to embedded data and the world
average, bounded waits, and no secret in the ledger."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

import carbonsdk
from carbonsdk.intensity.choose import (
    AUTO_ORDER,
    AutoProvider,
    auto_provider,
    make_provider,
    series_for_run,
)
from carbonsdk.intensity.electricitymaps import ElectricityMapsProvider
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.region import parse_region
from carbonsdk.sampler import Sampler
from carbonsdk.testing import FakeClock, FakeGPU, fake_environment, fake_sampler

KEY = "em-secret-key-123"
#: any Electricity Maps carbon-intensity route, whatever the API version
EM_PATH = re.compile(r"/v\d+/carbon-intensity/.*")


@pytest.fixture
def rig() -> Iterator[tuple[FakeClock, Sampler]]:
    clock = FakeClock(start_epoch_s=datetime(2026, 11, 26, 6, 0, tzinfo=UTC).timestamp())
    with fake_sampler(fake_environment(clock, gpus=[FakeGPU.volta(power_w=200.0)]), clock) as s:
        yield clock, s


def test_auto_is_embedded_offline_even_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", KEY)
    assert auto_provider().name == "embedded"
    monkeypatch.setenv("CARBONSDK_OFFLINE", "0")
    auto = auto_provider()
    assert isinstance(auto, AutoProvider)
    assert [p.name for p in auto.providers] == ["electricitymaps"]
    monkeypatch.delenv("ELECTRICITYMAPS_API_KEY")
    assert auto_provider().name == "embedded"


def test_named_providers() -> None:
    assert make_provider("auto") is None
    assert make_provider("Embedded").name == "embedded"  # type: ignore[union-attr]
    assert make_provider(0).name == "constant"  # type: ignore[union-attr]
    with pytest.raises(carbonsdk.ConfigurationError, match="EIA_API_KEY"):
        make_provider("eia")
    with pytest.raises(carbonsdk.ConfigurationError, match="ENTSOE_API_TOKEN"):
        make_provider("entsoe")


def test_live_failure_falls_back_to_embedded_within_budget(
    rig: tuple[FakeClock, Sampler],
    httpserver: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "0")
    httpserver.expect_request(EM_PATH).respond_with_response(Response("upstream down", status=503))
    httpserver.expect_request(EM_PATH).respond_with_response(Response("upstream down", status=503))
    provider = ElectricityMapsProvider(
        api_key=KEY, base_url=httpserver.url_for("").rstrip("/"), cache=False, sleep=lambda s: None
    )
    clock, sampler = rig
    ledger = tmp_path / "l.jsonl"
    with carbonsdk.measure(
        "fb", region="DE", intensity=provider, ledger=ledger, report=False
    ) as run:
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


def test_slow_provider_is_bounded(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "0")

    def slow(request: object) -> Response:
        time.sleep(3.0)
        return Response("{}", status=200)

    httpserver.expect_request(EM_PATH).respond_with_handler(slow)
    provider = ElectricityMapsProvider(
        api_key=KEY, base_url=httpserver.url_for("").rstrip("/"), cache=False, timeout_s=5.0
    )
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
    with carbonsdk.measure("b", region="FR", intensity=Broken(), ledger=False, report=False) as run:
        clock.advance(5.0)
        sampler.tick()
    assert run.result is not None
    assert run.result.intensity_source.fallback_from == "broken"
    assert "provider bug" in run.result.intensity_source.note


# -- "auto": per-zone choice among the configured live sources ------------------------------

EIA_KEY = "eia-secret-key-0123456789"
ENTSOE_TOKEN = "entsoe-secret-token-42"
CISO = Region(provider="aws", code="us-west-1", zone="US-CAL-CISO", source="explicit")
FR = Region(provider=None, code="FR", zone="FR", source="explicit")


@pytest.fixture
def live_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "0")
    for name in ("ELECTRICITYMAPS_API_KEY", "EIA_API_KEY", "ENTSOE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_auto_order_and_coverage(live_env: pytest.MonkeyPatch) -> None:
    assert AUTO_ORDER == ("electricitymaps", "entsoe", "eia")
    live_env.setenv("EIA_API_KEY", EIA_KEY)
    live_env.setenv("ENTSOE_API_TOKEN", ENTSOE_TOKEN)
    auto = auto_provider()
    assert isinstance(auto, AutoProvider)
    assert [p.name for p in auto.candidates(CISO)] == ["eia"]
    assert [p.name for p in auto.candidates(FR)] == ["entsoe"]
    assert auto.candidates(parse_region("JP-TK")) == []
    live_env.setenv("ELECTRICITYMAPS_API_KEY", KEY)
    both = auto_provider()
    assert isinstance(both, AutoProvider)
    assert [p.name for p in both.candidates(FR)] == ["electricitymaps", "entsoe"]
    assert EIA_KEY not in repr(both) and ENTSOE_TOKEN not in repr(both)


class Recorder:
    """A live-provider stand-in at the provider boundary: records the deadline it was given,
    then fails or returns a constant series."""

    def __init__(self, name: str, value: float | None, zones: tuple[str, ...]) -> None:
        self.name = name
        self.value = value
        self.zones = zones
        self.deadlines: list[float] = []

    def covers(self, zone: str | None) -> bool:
        return zone in self.zones

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        assert deadline_s is not None
        self.deadlines.append(deadline_s)
        if self.value is None:
            raise carbonsdk.exceptions.ProviderError(f"{self.name} is down")
        src = IntensitySource(
            provider=self.name, signal="average", basis="lifecycle", zone=region.zone
        )
        return IntensitySeries.constant(self.value, start.timestamp(), end.timestamp(), src)


def test_auto_tries_the_next_source_within_one_deadline() -> None:
    first = Recorder("electricitymaps", None, ("FR",))
    second = Recorder("entsoe", 55.0, ("FR",))
    now = time.time()
    t0 = time.monotonic()
    outcome = series_for_run(AutoProvider([first, second]), FR, now - 60, now, budget_s=5.0)
    assert outcome.series.source.provider == "entsoe"
    assert outcome.series.values_g_per_kwh == (55.0,)
    assert "intensity-production-based" in outcome.flags
    assert "intensity-fallback" not in outcome.flags
    # both sources shared the one deadline of the run's budget: never 5 s each
    assert first.deadlines == second.deadlines
    assert t0 < first.deadlines[0] <= t0 + 5.0 + 0.5


def test_auto_all_failing_falls_back_to_embedded(rig: tuple[FakeClock, Sampler]) -> None:
    first = Recorder("electricitymaps", None, ("FR",))
    second = Recorder("entsoe", None, ("FR",))
    clock, sampler = rig
    with carbonsdk.measure(
        "a", region="FR", intensity=AutoProvider([first, second]), ledger=False, report=False
    ) as run:
        clock.advance(30.0)
        sampler.tick()
    result = run.result
    assert result is not None
    src = result.intensity_source
    assert src.provider == "embedded" and src.fallback_from == "electricitymaps"
    assert "electricitymaps is down" in src.note and "entsoe is down" in src.note
    assert "intensity-fallback" in result.flags


def test_auto_without_a_covering_source_uses_embedded_with_a_flag() -> None:
    only_us = Recorder("eia", 300.0, ("US-CAL-CISO",))
    now = time.time()
    outcome = series_for_run(AutoProvider([only_us]), FR, now - 60, now)
    assert outcome.series.source.provider == "embedded"
    assert outcome.series.source.fallback_from is None
    assert "intensity-no-live-source" in outcome.flags
    assert "intensity-fallback" not in outcome.flags
    assert only_us.deadlines == []


def test_auto_forecast_needs_a_source_with_one() -> None:
    auto = AutoProvider([Recorder("entsoe", 55.0, ("FR",))])
    now = datetime.now(UTC)
    with pytest.raises(carbonsdk.exceptions.ProviderError, match="no configured live source"):
        auto.forecast(FR, now, now)


def test_auto_slow_sources_share_the_budget(
    httpserver: HTTPServer, live_env: pytest.MonkeyPatch
) -> None:
    """Two configured live sources that both hang: the second is not given a fresh budget."""
    from carbonsdk.intensity.entsoe import ENTSOEProvider

    hits: list[str] = []

    def slow(request: object) -> Response:
        hits.append(getattr(request, "path", ""))
        time.sleep(1.5)
        return Response("{}", status=200)

    httpserver.expect_request(EM_PATH).respond_with_handler(slow)
    httpserver.expect_request(EM_PATH).respond_with_handler(slow)
    httpserver.expect_request("/api").respond_with_handler(slow)
    base = httpserver.url_for("").rstrip("/")
    em = ElectricityMapsProvider(api_key=KEY, base_url=base, cache=False, timeout_s=5.0)
    entsoe = ENTSOEProvider(token=ENTSOE_TOKEN, base_url=base, cache=False, timeout_s=5.0)
    now = time.time()
    outcome = series_for_run(AutoProvider([em, entsoe]), FR, now - 60, now, budget_s=0.5)
    assert outcome.series.source.provider == "embedded"
    assert outcome.series.source.fallback_from == "electricitymaps"
    assert "entsoe: not tried, no time left" in outcome.series.source.note
    assert "intensity-fallback" in outcome.flags and len(hits) <= 1


@pytest.mark.parametrize("service", ["eia", "entsoe"])
def test_a_key_sent_in_the_query_stays_out_of_the_ledger_and_the_logs(
    service: str,
    rig: tuple[FakeClock, Sampler],
    httpserver: HTTPServer,
    tmp_path: Path,
    live_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """EIA and ENTSO-E take their key in the query string; a run whose provider is refused,
    by a service that echoes the key, falls back flagged and records neither the key nor a
    log line with it."""
    from carbonsdk.intensity.eia import ROUTE, EIAProvider
    from carbonsdk.intensity.entsoe import ENTSOEProvider

    base = httpserver.url_for("").rstrip("/")
    provider: EIAProvider | ENTSOEProvider
    if service == "eia":
        secret, region, param = EIA_KEY, "US-CAL-CISO", "api_key"
        refusal = {"error": {"code": "API_KEY_INVALID", "message": f"api_key {secret} is bad"}}
        httpserver.expect_request(ROUTE).respond_with_json(refusal, status=403)
        provider = EIAProvider(secret, base_url=base, cache=False, sleep=lambda s: None)
    else:
        secret, region, param = ENTSOE_TOKEN, "FR", "securityToken"
        refusal_text = f"securityToken {secret} is not authorised"
        httpserver.expect_request("/api").respond_with_data(refusal_text, status=401)
        provider = ENTSOEProvider(secret, base_url=base, cache=False, sleep=lambda s: None)
    caplog.set_level(logging.DEBUG)
    clock, sampler = rig
    ledger = tmp_path / "l.jsonl"
    with carbonsdk.measure(
        "q", region=region, intensity=provider, ledger=ledger, report=False
    ) as run:
        clock.advance(30.0)
        sampler.tick()
    assert run.result is not None
    src = run.result.intensity_source
    assert src.provider == "embedded" and src.fallback_from == service
    assert "<redacted>" in src.note  # the service's own message, its echo of the key redacted
    assert [r.args[param] for r, _ in httpserver.log] == [secret]  # it was sent, once
    text = ledger.read_text()
    assert secret not in text and "fallback_from" in text
    sdk_logs = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert sdk_logs and all(secret not in line for line in sdk_logs)


def test_provider_keys_in_a_recorded_command_line_are_redacted() -> None:
    """``carbonsdk run`` records its command line (``tags.command``): the live providers'
    credentials are redacted there in each form a command line may carry them, the key of a
    query string (EIA's ``api_key``, ENTSO-E's ``securityToken``) included."""
    from carbonsdk.redaction import redact_argv

    argv = [
        f"EIA_API_KEY={EIA_KEY}",
        f"ENTSOE_API_TOKEN={ENTSOE_TOKEN}",
        f"--api-key={KEY}",
        f"https://api.eia.gov/v2/electricity/rto/fuel-type-data/data/?api_key={EIA_KEY}&length=5",
        f"--url=https://web-api.tp.entsoe.eu/api?securityToken={ENTSOE_TOKEN}&in_Domain=10Y",
        "https://example.invalid/x?monkey=banana&zone=DE",
    ]
    assert redact_argv(argv) == [
        "EIA_API_KEY=***",
        "ENTSOE_API_TOKEN=***",
        "--api-key=***",
        "https://api.eia.gov/v2/electricity/rto/fuel-type-data/data/?api_key=***&length=5",
        "--url=https://web-api.tp.entsoe.eu/api?securityToken=***&in_Domain=10Y",
        "https://example.invalid/x?monkey=banana&zone=DE",
    ]


def test_the_intensity_face_exports_the_registry_and_the_dataset_queries_lazily(
    subprocess_env: dict[str, str],
) -> None:
    import subprocess
    import sys

    import carbonsdk.intensity as face
    from carbonsdk.intensity import choose, embedded

    assert face.NAMED is choose.NAMED and "auto" in face.NAMED
    assert face.make_provider is make_provider and face.auto_provider is auto_provider
    assert face.make_provider("embedded").name == "embedded"  # type: ignore[union-attr]
    for name in ("has_hourly", "hourly_years", "mean_g_per_kwh", "annual_g_per_kwh"):
        assert getattr(face, name) is getattr(embedded, name)
    assert face.dataset_label is embedded.dataset_label
    assert face.has_hourly("DE", "lifecycle") and face.hourly_years("DE")
    assert set(face.__all__) <= set(dir(face))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        face.nope  # noqa: B018
    # importing the package loads the values only; the registry and the data set on first use
    code = (
        "import sys, carbonsdk.intensity as f; "
        "print(sorted(m for m in sys.modules if m.startswith('carbonsdk.intensity'))); "
        "f.has_hourly; print('carbonsdk.intensity.embedded' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\n")
    assert out[0] == "['carbonsdk.intensity']" and out[1] == "True"
