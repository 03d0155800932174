"""Cloud region detection from instance metadata services (AWS, GCP, Azure).

The three services are queried concurrently, each in a daemon thread, within one total budget
(``timeout_s``, default 1 s): the first that answers with a valid region wins, and nothing ever
waits past the budget (a thread stuck in a DNS lookup is simply abandoned). Each detector returns
None instead of raising, in the manner of OpenTelemetry resource detectors. Wire formats:

* AWS EC2 IMDS: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``
  (IMDSv2) returns a token; ``GET /latest/meta-data/placement/region`` with
  ``X-aws-ec2-metadata-token`` returns the region code as plain text (``us-east-1``). As
  botocore's ``IMDSFetcher._fetch_metadata_token`` does, the GET is sent without a token
  (IMDSv1) when the token request is answered 403, 404 or 405, times out, or fails to connect;
  only a 400 (a malformed request) ends the AWS lookup. The token request gets at most half of
  the time left, so the IMDSv1 GET still fits in the same budget. Region codes of every AWS
  partition are accepted (``us-east-1``, ``cn-north-1``, ``us-gov-west-1``, ``us-isob-east-1``,
  the European Sovereign Cloud's ``eusc-de-east-1``; botocore ``data/partitions.json``
  ``regionRegex`` values); a code the packaged table lacks keeps provider and code with the
  zone unknown, and is logged as a warning.
* GCP metadata server: ``GET /computeMetadata/v1/instance/zone`` with ``Metadata-Flavor:
  Google`` returns ``projects/PROJECT_NUMBER/zones/us-central1-a``; the region is the zone
  without its last ``-x``. Cloud Run and Cloud Functions (``K_CONFIGURATION`` or
  ``FUNCTION_TARGET`` set) have no GCE zone: there ``GET .../instance/region`` returns
  ``projects/PROJECT_NUMBER/regions/us-central1`` (the Cloud Run container contract; the
  OpenTelemetry GCP detector's ``FaaSCloudRegion`` reads the same attribute). It is asked first
  on those platforms, and elsewhere when the zone is missing or not a GCE zone. Every reply must
  carry ``Metadata-Flavor: Google``.
* Azure IMDS: ``GET /metadata/instance/compute/location?api-version=2021-02-01&format=text``
  with ``Metadata: true`` returns the location as plain text (``westus2``).

Results for the default (real) endpoints are cached for the life of the process;
:func:`clear_detection_cache` forgets them. Tests inject local URLs, which are never cached.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable

from carbonsdk import config
from carbonsdk.exceptions import CarbonSDKError
from carbonsdk.http import HttpError, request
from carbonsdk.model.region import Region
from carbonsdk.region.parse import AWS_REGION_RE
from carbonsdk.region.table import cloud_region

log = logging.getLogger(__name__)

DEFAULT_AWS_URL = "http://169.254.169.254"
DEFAULT_GCP_URL = "http://metadata.google.internal"
DEFAULT_AZURE_URL = "http://169.254.169.254"
#: Azure IMDS API version used for the location query (a GA version listed by Microsoft's
#: "Azure Instance Metadata Service" documentation).
AZURE_API_VERSION = "2021-02-01"
#: Lifetime requested for an IMDSv2 session token, seconds (AWS allows 1 to 21600).
AWS_TOKEN_TTL_S = 60

_GCP_ZONE_RE = re.compile(r"^projects/[^/\s]+/zones/([a-z]+-[a-z]+\d+)-[a-z]$")
_GCP_REGION_RE = re.compile(r"^projects/[^/\s]+/regions/([a-z]+-[a-z]+\d+)$")
#: Environment variables set on Cloud Run (``K_CONFIGURATION``) and Cloud Functions
#: (``FUNCTION_TARGET``), as the OpenTelemetry GCP detector checks them.
GCP_FAAS_ENV = ("K_CONFIGURATION", "FUNCTION_TARGET")
_AZURE_LOCATION_RE = re.compile(r"^[a-z][a-z0-9]*$")
_MAX_ANSWER_CHARS = 200

_cache_lock = threading.Lock()
_cache: dict[tuple[str, str, str], Region | None] = {}
_warned: set[tuple[str, str]] = set()


def clear_detection_cache() -> None:
    """Forget the cached detection result, so the next call queries the services again."""
    with _cache_lock:
        _cache.clear()


def _region(provider: str, code: str, source: str) -> Region:
    entry = cloud_region(provider, code)
    if entry is None:
        # a real region our table does not know yet: keep provider and code, zone unknown
        if (provider, code) not in _warned:
            _warned.add((provider, code))
            log.warning(
                "carbonsdk: detected %s region %s is not in the packaged region table: its "
                "grid zone is unknown (pass region='<zone>' to set it)",
                provider,
                code,
            )
        return Region(provider=provider, code=code, zone=None, source=source, country=None)
    return Region(
        provider=provider, code=code, zone=entry.zone, source=source, country=entry.country
    )


def _answer(text: str) -> str | None:
    value = text.strip()
    if not value or len(value) > _MAX_ANSWER_CHARS:
        return None
    return value


def detect_aws(base_url: str, deadline_s: float) -> Region | None:
    """Region from the AWS EC2 instance metadata service at ``base_url`` (IMDSv2, IMDSv1
    fallback as botocore does), or None. ``deadline_s`` is a :func:`time.monotonic` value."""
    base = base_url.rstrip("/")
    headers: dict[str, str] = {}
    # the token request may use half the time left: an IMDSv1 GET must still fit
    token_deadline_s = time.monotonic() + max(0.0, deadline_s - time.monotonic()) / 2.0
    try:
        token = request(
            "PUT",
            f"{base}/latest/api/token",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(AWS_TOKEN_TTL_S)},
            retries=0,
            deadline_s=token_deadline_s,
            trust_env=False,
        ).text.strip()
        if token:
            headers["X-aws-ec2-metadata-token"] = token
    except HttpError as exc:
        if exc.status == 400:
            return None  # botocore raises BadIMDSRequestError: the request itself is wrong
        # refused (403/404/405), another status, timed out or unreachable: botocore's token
        # fetch returns None in all these cases and the metadata GET goes without a token
    try:
        text = request(
            "GET",
            f"{base}/latest/meta-data/placement/region",
            headers=headers,
            retries=0,
            deadline_s=deadline_s,
            trust_env=False,
        ).text
    except CarbonSDKError:
        return None
    code = _answer(text)
    if code is None or not AWS_REGION_RE.match(code):
        return None
    return _region("aws", code, "aws-imds")


def _gcp_get(base_url: str, attribute: str, deadline_s: float) -> str | None:
    """One metadata attribute (``instance/zone``), or None; the reply must come from Google's
    metadata server (``Metadata-Flavor: Google``)."""
    try:
        resp = request(
            "GET",
            f"{base_url.rstrip('/')}/computeMetadata/v1/{attribute}",
            headers={"Metadata-Flavor": "Google"},
            retries=0,
            deadline_s=deadline_s,
            trust_env=False,
        )
    except CarbonSDKError:
        return None
    if resp.headers.get("metadata-flavor", "").strip() != "Google":
        return None  # not Google's metadata server (a proxy or captive portal answered)
    return _answer(resp.text)


def _gcp_from_zone(base_url: str, deadline_s: float) -> str | None:
    zone = _gcp_get(base_url, "instance/zone", deadline_s)
    match = _GCP_ZONE_RE.match(zone) if zone else None
    return match.group(1) if match else None


def _gcp_from_region(base_url: str, deadline_s: float) -> str | None:
    region = _gcp_get(base_url, "instance/region", deadline_s)
    match = _GCP_REGION_RE.match(region) if region else None
    return match.group(1) if match else None


def detect_gcp(base_url: str, deadline_s: float) -> Region | None:
    """Region from the GCP metadata server at ``base_url``: the instance zone without its last
    ``-x``, or ``instance/region`` on Cloud Run / Cloud Functions (asked first there, and
    elsewhere when there is no GCE zone), or None. ``deadline_s`` is a :func:`time.monotonic`
    value."""
    order = [_gcp_from_zone, _gcp_from_region]
    if any(os.environ.get(name) for name in GCP_FAAS_ENV):
        order.reverse()
    for lookup in order:
        if time.monotonic() >= deadline_s:
            return None
        code = lookup(base_url, deadline_s)
        if code is not None:
            return _region("gcp", code, "gcp-metadata")
    return None


def detect_azure(base_url: str, deadline_s: float) -> Region | None:
    """Location from the Azure instance metadata service at ``base_url``, or None.
    ``deadline_s`` is a :func:`time.monotonic` value."""
    try:
        text = request(
            "GET",
            f"{base_url.rstrip('/')}/metadata/instance/compute/location",
            headers={"Metadata": "true"},
            params={"api-version": AZURE_API_VERSION, "format": "text"},
            retries=0,
            deadline_s=deadline_s,
            trust_env=False,
        ).text
    except CarbonSDKError:
        return None
    location = _answer(text)
    if location is None:
        return None
    location = location.lower().replace(" ", "")
    if not _AZURE_LOCATION_RE.match(location):
        return None
    return _region("azure", location, "azure-imds")


def _run(
    detectors: list[tuple[str, Callable[[str, float], Region | None], str]],
    deadline_s: float,
) -> Region | None:
    results: queue.Queue[tuple[int, Region | None]] = queue.Queue()

    def worker(rank: int, detect: Callable[[str, float], Region | None], url: str) -> None:
        try:
            found = detect(url, deadline_s)
        except Exception:  # a detector must never raise into the caller
            log.debug("carbonsdk: region detector failed", exc_info=True)
            found = None
        results.put((rank, found))

    for rank, (name, detect, url) in enumerate(detectors):
        threading.Thread(
            target=worker, args=(rank, detect, url), name=f"carbonsdk-detect-{name}", daemon=True
        ).start()
    found: dict[int, Region] = {}
    pending = len(detectors)
    while pending:
        remaining = deadline_s - time.monotonic()
        if remaining <= 0:
            break
        try:
            rank, region = results.get(timeout=remaining)
        except queue.Empty:
            break
        pending -= 1
        if region is not None:
            found[rank] = region
            # drain whatever else has already arrived, then prefer aws, gcp, azure in order
            while True:
                try:
                    rank, region = results.get_nowait()
                except queue.Empty:
                    break
                if region is not None:
                    found[rank] = region
            break
    return found[min(found)] if found else None


def detect_cloud_region(
    *,
    timeout_s: float = 1.0,
    aws_url: str = DEFAULT_AWS_URL,
    gcp_url: str = DEFAULT_GCP_URL,
    azure_url: str = DEFAULT_AZURE_URL,
    offline: bool | None = None,
) -> Region | None:
    """The cloud region this process runs in, from instance metadata, or None.

    Queries AWS, GCP and Azure concurrently; returns within ``timeout_s`` seconds (total, not
    per service). ``offline`` None means :func:`carbonsdk.config.offline`
    (``CARBONSDK_OFFLINE``): when offline no request is made and None is returned. Never
    raises for network faults. The result for the default URLs is cached per process.
    """
    if offline is None:
        offline = config.offline()
    if offline or timeout_s <= 0:
        return None
    key = (aws_url, gcp_url, azure_url)
    cacheable = key == (DEFAULT_AWS_URL, DEFAULT_GCP_URL, DEFAULT_AZURE_URL)
    with _cache_lock:
        if cacheable and key in _cache:
            return _cache[key]
        deadline_s = time.monotonic() + timeout_s
        region = _run(
            [
                ("aws", detect_aws, aws_url),
                ("gcp", detect_gcp, gcp_url),
                ("azure", detect_azure, azure_url),
            ],
            deadline_s,
        )
        if cacheable:
            _cache[key] = region
    return region
