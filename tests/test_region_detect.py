"""Cloud region detection against local servers speaking the AWS IMDS, GCP metadata server and
Azure IMDS wire formats. No test ever reaches a real metadata address: every call injects
127.0.0.1 URLs, or replaces the network part entirely."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from carbonsdk.region import Region, detect
from carbonsdk.region.detect import clear_detection_cache, detect_cloud_region
from carbonsdk.region.table import cloud_region

TOKEN = "AQAEAKxQ-example-token=="


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.no_handler_status_code = 404  # like the real services for an unknown path
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


@pytest.fixture
def metadata(server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[HTTPServer]:
    """The shared local server, cleared; proxies bypassed for it."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server.clear()
    clear_detection_cache()
    yield server
    server.clear()
    clear_detection_cache()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so slow handlers return and the server stays responsive."""
    event = threading.Event()
    yield event
    event.set()


def _base(server: HTTPServer) -> str:
    return server.url_for("").rstrip("/")


def _detect(server: HTTPServer, timeout_s: float = 1.0) -> Region | None:
    base = _base(server)
    return detect_cloud_region(
        timeout_s=timeout_s, aws_url=base, gcp_url=base, azure_url=base, offline=False
    )


def _aws_v2(server: HTTPServer, region: str = "eu-west-1") -> None:
    server.expect_request(
        "/latest/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": str(detect.AWS_TOKEN_TTL_S)},
    ).respond_with_data(TOKEN, content_type="text/plain")
    server.expect_request(
        "/latest/meta-data/placement/region",
        method="GET",
        headers={"X-aws-ec2-metadata-token": TOKEN},
    ).respond_with_data(region, content_type="text/plain")


def test_aws_imdsv2_token_then_placement_region(metadata: HTTPServer) -> None:
    _aws_v2(metadata)
    region = _detect(metadata)
    assert region == Region(
        provider="aws", code="eu-west-1", zone="IE", source="aws-imds", country="IE"
    )
    methods = [(req.method, req.path) for req, _ in metadata.log]
    assert ("PUT", "/latest/api/token") in methods
    assert ("GET", "/latest/meta-data/placement/region") in methods


@pytest.mark.parametrize("status", [403, 404, 405])
def test_aws_falls_back_to_imdsv1_when_token_request_is_refused(
    metadata: HTTPServer, status: int
) -> None:
    metadata.expect_request("/latest/api/token", method="PUT").respond_with_data("", status=status)
    metadata.expect_request("/latest/meta-data/placement/region", method="GET").respond_with_data(
        "us-west-2"
    )
    region = _detect(metadata)
    assert region is not None and (region.provider, region.code) == ("aws", "us-west-2")
    entry = cloud_region("aws", "us-west-2")
    assert entry is not None and region.zone == entry.zone
    get = next(req for req, _ in metadata.log if req.path.endswith("/placement/region"))
    assert "X-aws-ec2-metadata-token" not in get.headers


def test_aws_bad_token_request_gives_none(metadata: HTTPServer) -> None:
    metadata.expect_request("/latest/api/token", method="PUT").respond_with_data("", status=400)
    metadata.expect_request("/latest/meta-data/placement/region").respond_with_data("us-east-1")
    assert _detect(metadata) is None


def test_gcp_zone_to_region_with_metadata_flavor(metadata: HTTPServer) -> None:
    metadata.expect_request(
        "/computeMetadata/v1/instance/zone",
        method="GET",
        headers={"Metadata-Flavor": "Google"},
    ).respond_with_data(
        "projects/123456789012/zones/europe-west4-b",
        headers={"Metadata-Flavor": "Google"},
        content_type="application/text",
    )
    region = _detect(metadata)
    assert region == Region(
        provider="gcp", code="europe-west4", zone="NL", source="gcp-metadata", country="NL"
    )


def test_gcp_answer_without_metadata_flavor_header_is_ignored(metadata: HTTPServer) -> None:
    metadata.expect_request("/computeMetadata/v1/instance/zone").respond_with_data(
        "projects/1/zones/us-central1-a"
    )
    assert _detect(metadata) is None


def test_azure_location_with_api_version_and_metadata_header(metadata: HTTPServer) -> None:
    metadata.expect_request(
        "/metadata/instance/compute/location",
        method="GET",
        headers={"Metadata": "true"},
        query_string={"api-version": detect.AZURE_API_VERSION, "format": "text"},
    ).respond_with_data("westus2", content_type="text/plain; charset=utf-8")
    region = _detect(metadata)
    assert region == Region(
        provider="azure", code="westus2", zone="US-NW-BPAT", source="azure-imds", country="US"
    )


def test_garbage_answers_give_none(metadata: HTTPServer) -> None:
    metadata.expect_request("/latest/api/token").respond_with_data(TOKEN)
    metadata.expect_request("/latest/meta-data/placement/region").respond_with_data(
        "<html><body>Login to the captive portal</body></html>"
    )
    metadata.expect_request("/computeMetadata/v1/instance/zone").respond_with_data(
        "zone? what zone", headers={"Metadata-Flavor": "Google"}
    )
    metadata.expect_request("/metadata/instance/compute/location").respond_with_json(
        {"error": "Bad request", "detail": "?"}
    )
    assert _detect(metadata) is None


def test_all_404_gives_none_and_unknown_region_keeps_code(metadata: HTTPServer) -> None:
    assert _detect(metadata) is None
    metadata.clear()
    _aws_v2(metadata, region="xx-mars-1")
    region = _detect(metadata)
    assert region == Region(
        provider="aws", code="xx-mars-1", zone=None, source="aws-imds", country=None
    )
    assert not region.known


def _slow(
    release: threading.Event, delay_s: float, body: str, **headers: str
) -> Callable[[Request], Response]:
    def handler(_request: Request) -> Response:
        release.wait(delay_s)
        return Response(body, headers=headers)

    return handler


def test_slow_service_is_abandoned_at_the_budget(
    metadata: HTTPServer, release: threading.Event
) -> None:
    metadata.expect_request("/latest/api/token").respond_with_handler(_slow(release, 10.0, TOKEN))
    metadata.expect_request("/computeMetadata/v1/instance/zone").respond_with_handler(
        _slow(release, 10.0, "projects/1/zones/us-east1-b", **{"Metadata-Flavor": "Google"})
    )
    started = time.monotonic()
    assert _detect(metadata, timeout_s=0.3) is None
    assert time.monotonic() - started < 2.0  # generous: the budget is 0.3 s


def test_fast_answer_wins_over_a_slow_service(
    metadata: HTTPServer, release: threading.Event
) -> None:
    metadata.expect_request("/latest/api/token").respond_with_handler(_slow(release, 10.0, TOKEN))
    metadata.expect_request("/metadata/instance/compute/location").respond_with_data(
        "francecentral"
    )
    started = time.monotonic()
    region = _detect(metadata, timeout_s=1.0)
    assert region is not None and (region.provider, region.zone) == ("azure", "FR")
    assert time.monotonic() - started < 2.0


def test_services_are_queried_concurrently(metadata: HTTPServer) -> None:
    spans: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()

    def timed(name: str, body: str, **headers: str) -> Callable[[Request], Response]:
        def handler(_request: Request) -> Response:
            start = time.monotonic()
            time.sleep(0.2)
            with lock:
                spans[name] = (start, time.monotonic())
            return Response(body, status=404 if name != "azure" else 200, headers=headers)

        return handler

    metadata.expect_request("/latest/api/token").respond_with_handler(timed("aws", ""))
    metadata.expect_request("/computeMetadata/v1/instance/zone").respond_with_handler(
        timed("gcp", "")
    )
    metadata.expect_request("/metadata/instance/compute/location").respond_with_handler(
        timed("azure", "uksouth")
    )
    region = _detect(metadata, timeout_s=1.5)
    assert region is not None and region.zone == "GB"
    # wait for the abandoned-or-finished handlers to record, then check they overlapped
    deadline = time.monotonic() + 2.0
    while len(spans) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(spans) == {"aws", "gcp", "azure"}
    latest_start = max(s for s, _ in spans.values())
    earliest_end = min(e for _, e in spans.values())
    assert latest_start < earliest_end  # all three were in flight at the same time


def test_a_detector_that_raises_is_treated_as_none(
    metadata: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(_url: str, _deadline_s: float) -> Region | None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(detect, "detect_aws", boom)
    metadata.expect_request("/metadata/instance/compute/location").respond_with_data("eastus")
    region = _detect(metadata)
    assert region is not None and region.code == "eastus"


def test_offline_makes_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # a server of its own: a request an earlier test abandoned at its deadline cannot land here
    own = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    own.start()
    try:
        clear_detection_cache()
        _aws_v2(own)
        base = _base(own)
        assert detect_cloud_region(aws_url=base, gcp_url=base, azure_url=base, offline=True) is None
        monkeypatch.setenv("CARBONSDK_OFFLINE", "1")
        assert detect_cloud_region(aws_url=base, gcp_url=base, azure_url=base) is None
        assert own.log == []
    finally:
        own.clear()
        own.stop()


def test_injected_urls_are_not_cached(metadata: HTTPServer) -> None:
    _aws_v2(metadata)
    assert _detect(metadata) is not None
    first = len(metadata.log)
    assert _detect(metadata) is not None
    assert len(metadata.log) > first


def test_default_urls_are_cached_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    found = Region(provider="gcp", code="us-west1", zone="US-NW-PACW", source="gcp-metadata")

    def fake_run(detectors: list[tuple[str, object, str]], deadline_s: float) -> Region | None:
        # stands in for the network: asserts the real endpoints would have been used
        assert [url for _, _, url in detectors] == [
            detect.DEFAULT_AWS_URL,
            detect.DEFAULT_GCP_URL,
            detect.DEFAULT_AZURE_URL,
        ]
        calls.append(deadline_s)
        return found

    monkeypatch.setattr(detect, "_run", fake_run)
    clear_detection_cache()
    try:
        assert detect_cloud_region(offline=False) == found
        assert detect_cloud_region(offline=False) == found
        assert len(calls) == 1
        clear_detection_cache()
        assert detect_cloud_region(offline=False) == found
        assert len(calls) == 2
    finally:
        clear_detection_cache()


# -- behaving like the services' own clients (issue 17) --------------------------------------


def test_aws_token_timeout_falls_back_to_imdsv1_within_the_budget(
    metadata: HTTPServer, release: threading.Event
) -> None:
    """botocore ``IMDSFetcher._fetch_metadata_token`` returns None on a ``ReadTimeoutError``
    (and after retryable connection errors), and the metadata GET is then sent without a token
    (IMDSv1). Here the token PUT never answers within the budget; the region still comes back
    from the IMDSv1 GET inside the same 1 s budget."""
    metadata.expect_request("/latest/api/token", method="PUT").respond_with_handler(
        _slow(release, 10.0, TOKEN)
    )
    metadata.expect_request("/latest/meta-data/placement/region", method="GET").respond_with_data(
        "eu-west-1", content_type="text/plain"
    )
    started = time.monotonic()
    region = _detect(metadata, timeout_s=1.0)
    elapsed_s = time.monotonic() - started
    assert region is not None and (region.provider, region.code, region.source) == (
        "aws",
        "eu-west-1",
        "aws-imds",
    )
    get = next(req for req, _ in metadata.log if req.path.endswith("/placement/region"))
    assert "X-aws-ec2-metadata-token" not in get.headers
    assert elapsed_s < 1.0 + 2.0  # a bound on a hang, not a speed check


def test_aws_token_refused_with_other_status_still_tries_imdsv1(metadata: HTTPServer) -> None:
    """botocore retries a token PUT answered with any status other than 200/400/403/404/405 and
    then returns None: the GET goes without a token."""
    metadata.expect_request("/latest/api/token", method="PUT").respond_with_data("", status=503)
    metadata.expect_request("/latest/meta-data/placement/region").respond_with_data("us-east-1")
    region = _detect(metadata)
    assert region is not None and region.code == "us-east-1"


@pytest.mark.parametrize("code", ["eusc-de-east-1", "us-isob-east-1", "eu-isoe-west-1"])
def test_aws_other_partitions_keep_the_code_with_zone_unknown_and_warn(
    metadata: HTTPServer, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Region codes of every partition in botocore's ``data/partitions.json`` (``aws-eusc``,
    whose ``regionRegex`` is ``^eusc-(de)-...``, ``aws-iso-b``, ``aws-iso-e``) are real
    regions: kept, zone unknown unless the packaged table knows them, and said loudly."""
    _aws_v2(metadata, region=code)
    caplog.set_level("WARNING", logger="carbonsdk.region.detect")
    detect._warned.clear()
    region = _detect(metadata)
    assert region is not None and (region.provider, region.code) == ("aws", code)
    entry = cloud_region("aws", code)
    if entry is None:
        assert region.zone is None and not region.known
        assert code in caplog.text and "not in the packaged region table" in caplog.text
    else:
        assert region.zone == entry.zone


def test_gcp_cloud_run_region_from_instance_region(
    metadata: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cloud Run / Cloud Functions: the metadata server's ``instance/region`` is
    ``projects/PROJECT_NUMBER/regions/REGION`` (Cloud Run container contract); the OpenTelemetry
    GCP detector (``detectors/gcp/faas.go``, ``FaaSCloudRegion``) reads it when
    ``K_CONFIGURATION`` or ``FUNCTION_TARGET`` is set and keeps the text after the last ``/``."""
    monkeypatch.setenv("K_CONFIGURATION", "my-service")
    flavor = {"Metadata-Flavor": "Google"}
    metadata.expect_request(
        "/computeMetadata/v1/instance/region", headers={"Metadata-Flavor": "Google"}
    ).respond_with_data("projects/123456789012/regions/europe-west4", headers=flavor)
    region = _detect(metadata)
    assert region is not None and (region.provider, region.code, region.source) == (
        "gcp",
        "europe-west4",
        "gcp-metadata",
    )
    entry = cloud_region("gcp", "europe-west4")
    assert entry is not None and region.zone == entry.zone
    paths = [req.path for req, _ in metadata.log]
    assert "/computeMetadata/v1/instance/zone" not in paths  # asked region first, and it answered


def test_gcp_without_a_gce_zone_falls_back_to_instance_region(metadata: HTTPServer) -> None:
    """Outside the FaaS environment variables, a zone that is not a GCE zone (Cloud Run answers
    e.g. ``projects/N/zones/us-central1-1``) or a missing one leads to ``instance/region``."""
    flavor = {"Metadata-Flavor": "Google"}
    metadata.expect_request("/computeMetadata/v1/instance/zone").respond_with_data(
        "projects/1/zones/us-central1-1", headers=flavor
    )
    metadata.expect_request("/computeMetadata/v1/instance/region").respond_with_data(
        "projects/1/regions/us-central1", headers=flavor
    )
    region = _detect(metadata)
    assert region is not None and (region.provider, region.code) == ("gcp", "us-central1")


def test_gcp_region_without_metadata_flavor_is_ignored(metadata: HTTPServer) -> None:
    metadata.expect_request("/computeMetadata/v1/instance/region").respond_with_data(
        "projects/1/regions/us-central1"
    )
    assert _detect(metadata) is None
