"""ENTSO-E Transparency Platform provider (actual generation per production type, A75/A16)
against a local server speaking its XML wire format: resolutions, curve types, consumption
series, acknowledgements, errors and unsafe XML.

The MW figures below are illustrative values written for these tests, in the document layout
of the platform's RESTful API guide; they are not measurements."""

from __future__ import annotations

import logging
import time
import traceback
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
from carbonsdk.intensity.entsoe import PSR_CATEGORIES, ENTSOEProvider, parse_document
from carbonsdk.intensity.factors import LIFECYCLE_G_PER_KWH
from carbonsdk.model.region import Region

TOKEN = "entsoe-secret-token-42"
FR_EIC = "10YFR-RTE------C"
HOUR = timedelta(hours=1)
T0 = datetime(2024, 3, 4, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=2)
FR = Region(provider=None, code="FR", zone="FR", source="explicit", country="FR")
NS = "urn:iec62325.351:tc57wg16:451-6:generationloaddocument:3:0"


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBONSDK_OFFLINE", raising=False)
    monkeypatch.delenv("ENTSOE_API_TOKEN", raising=False)


def z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%MZ")


def timeseries(
    psr: str,
    values_mw: list[float | None],
    *,
    start: datetime = T0,
    resolution: str = "PT15M",
    consumption: bool = False,
    curve: str = "A01",
    eic: str = FR_EIC,
) -> str:
    """One TimeSeries; a None value is a position left out."""
    step = {"PT15M": 15, "PT30M": 30, "PT60M": 60}[resolution]
    end = start + timedelta(minutes=step * len(values_mw))
    domain = "outBiddingZone_Domain.mRID" if consumption else "inBiddingZone_Domain.mRID"
    points = "".join(
        f"<Point><position>{i + 1}</position><quantity>{v:g}</quantity></Point>"
        for i, v in enumerate(values_mw)
        if v is not None
    )
    return (
        f"<TimeSeries><mRID>1</mRID><businessType>A01</businessType>"
        f"<objectAggregation>A08</objectAggregation>"
        f'<{domain} codingScheme="A01">{eic}</{domain}>'
        f"<quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name>"
        f"<curveType>{curve}</curveType><MktPSRType><psrType>{psr}</psrType></MktPSRType>"
        f"<Period><timeInterval><start>{z(start)}</start><end>{z(end)}</end></timeInterval>"
        f"<resolution>{resolution}</resolution>{points}</Period></TimeSeries>"
    )


def document(*series: str, start: datetime = T0, end: datetime = T0 + 2 * HOUR) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<GL_MarketDocument xmlns="{NS}">'
        f"<mRID>4b8b5b0c1f3a4e8e9d2f</mRID><revisionNumber>1</revisionNumber>"
        f"<type>A75</type><process.processType>A16</process.processType>"
        f'<sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        f"</sender_MarketParticipant.mRID><createdDateTime>{z(NOW)}</createdDateTime>"
        f"<time_Period.timeInterval><start>{z(start)}</start><end>{z(end)}</end>"
        f"</time_Period.timeInterval>{''.join(series)}</GL_MarketDocument>"
    )


def acknowledgement(text: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Acknowledgement_MarketDocument '
        'xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0">'
        "<mRID>0f1b4861-0c96-4</mRID><createdDateTime>2024-03-06T00:00:00Z</createdDateTime>"
        f"<Reason><code>999</code><text>{text}</text></Reason>"
        "</Acknowledgement_MarketDocument>"
    )


#: two hours at PT15M: nuclear, gas, run-of-river hydro, onshore wind, solar
MIX_MW = {
    "B14": [41000, 41000, 41200, 41200, 41300, 41300, 41300, 41400],
    "B04": [3200, 3300, 3400, 3400, 3500, 3600, 3600, 3700],
    "B11": [5200, 5100, 5100, 5000, 5000, 4900, 4900, 4800],
    "B19": [6100, 6000, 5800, 5900, 6200, 6400, 6300, 6300],
    "B16": [0, 0, 0, 0, 0, 0, 0, 0],
}


def full_document(mix: dict[str, list[float | None]] | None = None, **kwargs: Any) -> str:
    chosen: dict[str, list[float | None]] = dict(MIX_MW) if mix is None else mix  # type: ignore[arg-type]
    return document(*(timeseries(p, v, **kwargs) for p, v in chosen.items()))


def brute_force_hour(mix: dict[str, list[float | None]], hour: int, per_hour: int = 4) -> float:
    """sum(gen_i * factor_i) / sum(gen_i) for one hour, gen_i = mean MW of type i."""
    num = den = 0.0
    for psr, values in mix.items():
        got = [v for v in values[hour * per_hour : (hour + 1) * per_hour] if v is not None]
        category = PSR_CATEGORIES[psr]
        if not got or category == "storage":
            continue
        mean = sum(got) / len(got)
        if mean <= 0:
            continue
        num += mean * LIFECYCLE_G_PER_KWH[category]
        den += mean
    return num / den


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(httpserver: HTTPServer, tmp_path: Path, **kwargs: Any) -> tuple[ENTSOEProvider, Sleeps]:
    sleeps = Sleeps()
    options: dict[str, Any] = {
        "token": TOKEN,
        "base_url": httpserver.url_for("").rstrip("/"),
        "cache": IntensityCache(tmp_path / "cache", now_s=NOW.timestamp),
        "sleep": sleeps,
        "now_s": NOW.timestamp,
        "timeout_s": 2.0,
        "budget_s": 5.0,
    }
    options.update(kwargs)
    return ENTSOEProvider(**options), sleeps


def serve(httpserver: HTTPServer, body: str, status: int = 200) -> list[dict[str, str]]:
    queries: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        queries.append(dict(request.args.items()))
        if request.args.get("securityToken") != TOKEN:
            return Response("<html><body><h1>401 Unauthorized</h1></body></html>", status=401)
        return Response(body, status=status, content_type="text/xml")

    httpserver.expect_request("/api").respond_with_handler(handler)
    return queries


def test_quarter_hours_become_hourly_weighted_intensity(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    queries = serve(httpserver, full_document())
    provider, _ = make(httpserver, tmp_path)
    assert isinstance(provider, IntensityProvider)
    series = provider.series(FR, T0, T0 + 2 * HOUR)
    assert len(series) == 2 and not any(series.estimated)
    mix: dict[str, list[float | None]] = dict(MIX_MW)  # type: ignore[arg-type]
    for hour in range(2):
        assert series.value_at(T0 + hour * HOUR) == pytest.approx(
            brute_force_hour(mix, hour), rel=1e-12
        )
    src = series.source
    assert (src.provider, src.signal, src.basis, src.zone) == (
        "entsoe",
        "average",
        "lifecycle",
        "FR",
    )
    assert "production-based" in src.note and FR_EIC in src.note
    q = queries[0]
    assert (q["documentType"], q["processType"], q["in_Domain"]) == ("A75", "A16", FR_EIC)
    assert (q["periodStart"], q["periodEnd"]) == ("202403040000", "202403040200")
    assert TOKEN not in repr(provider)


def test_hourly_resolution_and_consumption_series(httpserver: HTTPServer, tmp_path: Path) -> None:
    body = document(
        timeseries("B14", [40000, 40500], resolution="PT60M"),
        timeseries("B05", [2000, 2500], resolution="PT60M"),
        timeseries("B10", [1500, 0], resolution="PT60M"),  # pumped storage turbining
        timeseries("B10", [0, 1800], resolution="PT60M", consumption=True),  # pumping
    )
    serve(httpserver, body)
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(FR, T0, T0 + 2 * HOUR)
    expected = [(40000 * 12 + 2000 * 820) / 42000, (40500 * 12 + 2500 * 820) / 43000]
    assert list(series.values_g_per_kwh) == pytest.approx(expected, rel=1e-12)


def test_a03_curve_repeats_left_out_positions(httpserver: HTTPServer, tmp_path: Path) -> None:
    compressed: dict[str, list[float | None]] = {
        "B14": [41000, None, None, None, 41300, None, None, None],
        "B04": [3200, 3300, None, 3400, 3500, None, None, 3700],
    }
    expanded: dict[str, list[float | None]] = {
        "B14": [41000] * 4 + [41300] * 4,
        "B04": [3200, 3300, 3300, 3400, 3500, 3500, 3500, 3700],
    }
    serve(httpserver, full_document(compressed, curve="A03"))
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(FR, T0, T0 + 2 * HOUR)
    assert not any(series.estimated)
    for hour in range(2):
        assert series.values_g_per_kwh[hour] == pytest.approx(brute_force_hour(expanded, hour))


def test_partial_hour_is_flagged_estimated(httpserver: HTTPServer, tmp_path: Path) -> None:
    partial: dict[str, list[float | None]] = dict(MIX_MW)  # type: ignore[arg-type]
    partial["B14"] = [41000, 41000, 41200, 41200, 41300, 41300, None, None]  # last half hour
    serve(httpserver, full_document(partial))
    provider, _ = make(httpserver, tmp_path)
    series = provider.series(FR, T0, T0 + 2 * HOUR)
    assert series.estimated == (False, True)
    assert series.values_g_per_kwh[1] == pytest.approx(brute_force_hour(partial, 1))


def test_no_matching_data_acknowledgement(httpserver: HTTPServer, tmp_path: Path) -> None:
    text = (
        "No matching data found for Data item ACTUAL_GENERATION_PER_PRODUCTION_TYPE "
        "[16.1.B&amp;C] (10YFR-RTE------C) and interval 2024-03-04T00:00:00.000Z/"
        "2024-03-04T02:00:00.000Z."
    )
    serve(httpserver, acknowledgement(text))
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError, match="No matching data found") as info:
        provider.series(FR, T0, T0 + 2 * HOUR)
    assert "999" in str(info.value) and TOKEN not in str(info.value)


def test_bad_token_is_a_401_with_a_hint(httpserver: HTTPServer, tmp_path: Path) -> None:
    serve(httpserver, full_document())
    provider, _ = make(httpserver, tmp_path, token="wrong")
    with pytest.raises(HttpError) as info:
        provider.series(FR, T0, T0 + 2 * HOUR)
    assert info.value.status == 401 and "ENTSOE_API_TOKEN" in str(info.value)


def test_bad_request_is_a_400_with_a_hint(httpserver: HTTPServer, tmp_path: Path) -> None:
    serve(httpserver, acknowledgement("Delivered Area EIC is not valid."), status=400)
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(HttpError, match="rejected the query") as info:
        provider.series(FR, T0, T0 + 2 * HOUR)
    assert info.value.status == 400


def test_rate_limit_honours_retry_after(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_ordered_request("/api").respond_with_response(
        Response(
            "Max allowed requests per minute from each unique IP is max up to 400 only.",
            status=429,
            headers={"Retry-After": "3"},
        )
    )
    httpserver.expect_ordered_request("/api").respond_with_data(
        full_document(), content_type="text/xml"
    )
    provider, sleeps = make(httpserver, tmp_path)
    series = provider.series(FR, T0, T0 + 2 * HOUR)
    assert sleeps.calls == [3.0] and len(series) == 2


def test_server_errors_exhaust_retries(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/api").respond_with_response(Response("down", status=502))
    provider, sleeps = make(httpserver, tmp_path, retries=1)
    with pytest.raises(HttpError) as info:
        provider.series(FR, T0, T0 + 2 * HOUR)
    assert info.value.status == 502 and len(sleeps.calls) == 1


@pytest.mark.parametrize(
    "body",
    [
        "<GL_MarketDocument><TimeSeries>",  # truncated
        "not xml at all",
        document(timeseries("B14", [1.0]).replace("PT15M", "P1D")),
        '<?xml version="1.0"?><Publication_MarketDocument/>',
        document(
            timeseries("B14", [1.0]).replace("<MktPSRType><psrType>B14</psrType></MktPSRType>", "")
        ),
    ],
)
def test_malformed_documents_are_provider_errors(
    httpserver: HTTPServer, tmp_path: Path, body: str
) -> None:
    serve(httpserver, body)
    provider, _ = make(httpserver, tmp_path)
    with pytest.raises(ProviderError):
        provider.series(FR, T0, T0 + 2 * HOUR)


def test_dtd_and_entities_are_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><GL_MarketDocument>&lol2;</GL_MarketDocument>'
    )
    with pytest.raises(ProviderError, match="DTD or entity"):
        parse_document(bomb)
    external = '<?xml version="1.0"?><!doctype x SYSTEM "file:///etc/passwd"><GL_MarketDocument/>'
    with pytest.raises(ProviderError, match="DTD or entity"):
        parse_document(external)


def test_slow_reply_is_bounded_by_the_deadline(httpserver: HTTPServer, tmp_path: Path) -> None:
    calls: list[float] = []

    def slow(request: Request) -> Response:
        calls.append(time.monotonic())
        time.sleep(1.5)
        return Response(full_document(), content_type="text/xml")

    httpserver.expect_request("/api").respond_with_handler(slow)
    provider, _ = make(httpserver, tmp_path, timeout_s=5.0, retries=3)
    with pytest.raises(HttpError, match=r"ReadTimeout|no time left"):
        provider.series(FR, T0, T0 + 2 * HOUR, deadline_s=time.monotonic() + 0.3)
    assert len(calls) == 1


def test_zone_mapping_and_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="ENTSOE_API_TOKEN"):
        ENTSOEProvider()
    monkeypatch.setenv("ENTSOE_API_TOKEN", TOKEN)
    assert ENTSOEProvider.credentials_available()
    provider = ENTSOEProvider(cache=False)
    for zone in (
        "DE",
        "FR",
        "NL",
        "BE",
        "IE",
        "SE-SE3",
        "FI",
        "PL",
        "IT-NO",
        "ES",
        "AT",
        "CH",
        "DK-DK2",
        "NO-NO1",
        "NO-NO2",
    ):
        assert ENTSOEProvider.covers(zone), zone
    assert not ENTSOEProvider.covers("GB") and not ENTSOEProvider.covers("US-CAL-CISO")
    with pytest.raises(ProviderError, match="European bidding zones"):
        provider.series(Region(None, "JP-TK", "JP-TK", "explicit"), T0, T0 + HOUR)
    with pytest.raises(ConfigurationError, match="eic"):
        ENTSOEProvider(eic="FR", cache=False)
    assert ENTSOEProvider(eic=FR_EIC, cache=False).eic == FR_EIC


def test_the_token_in_the_query_never_reaches_errors_or_logs(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ENTSO-E takes its token as the ``securityToken`` query parameter: an acknowledgement
    that echoes the query shows ``<token>`` in its place, and urllib3's DEBUG line of the
    request names no token."""
    serve(httpserver, acknowledgement(f"Query securityToken={TOKEN}&amp;in_Domain=X refused."))
    provider, _ = make(httpserver, tmp_path)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as info:
        provider.series(FR, T0, T0 + 2 * HOUR)
    message = str(info.value)
    assert "Query securityToken=<token>&in_Domain=X refused." in message
    sdk_logs = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any("securityToken=<redacted>" in line for line in sdk_logs)
    for text in (message, repr(info.value), "".join(traceback.format_exception(info.value))):
        assert TOKEN not in text
    assert all(TOKEN not in line for line in sdk_logs)
