"""Region parsing (every SPEC §1 form), typo suggestions, the packaged region table, and the
resolution order explicit > CARBONSDK_REGION > detection > unknown."""

from __future__ import annotations

import json
import socket

import pytest

import carbonsdk.region as region_pkg
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.intensity import embedded
from carbonsdk.region import (
    REGION_SOURCES,
    Region,
    cloud_regions,
    parse_region,
    resolve_region,
)
from carbonsdk.region import table as region_table


@pytest.mark.parametrize(
    ("text", "provider", "code", "zone", "country"),
    [
        ("aws:us-east-1", "aws", "us-east-1", "US-MIDA-PJM", "US"),
        ("AWS:US-WEST-2", "aws", "us-west-2", "US-NW-PACW", "US"),
        ("aws:eu-central-1", "aws", "eu-central-1", "DE", "DE"),
        ("gcp:europe-west4", "gcp", "europe-west4", "NL", "NL"),
        (" Gcp:Southamerica-East1 ", "gcp", "southamerica-east1", "BR-CS", "BR"),
        ("azure:westus2", "azure", "westus2", "US-NW-BPAT", "US"),
        ("azure:West US 2", "azure", "westus2", "US-NW-BPAT", "US"),
        ("US-CAL-CISO", None, "US-CAL-CISO", "US-CAL-CISO", "US"),
        ("us-cal-ciso", None, "US-CAL-CISO", "US-CAL-CISO", "US"),
        ("DE", None, "DE", "DE", "DE"),
        ("dk-dk2", None, "DK-DK2", "DK-DK2", "DK"),
        ("FR", None, "FR", "FR", "FR"),
        ("fra", None, "FRA", "FR", "FR"),
        ("US", None, "US", "US", "US"),
        ("CL", None, "CL", "CL", "CL"),  # no country-level zone: the country's annual average
        ("XX", None, "XX", "XX", None),  # Northern Cyprus: a zone without an ISO country
    ],
)
def test_every_spec_form_parses_case_insensitively(
    text: str, provider: str | None, code: str, zone: str, country: str | None
) -> None:
    region = parse_region(text)
    if provider is not None:
        # the zone mapping is the packaged table's (tested with the data); parsing must use it
        entry = region_table.cloud_region(provider, code)
        assert entry is not None
        zone, country = entry.zone, entry.country
    assert region == Region(
        provider=provider, code=code, zone=zone, source="explicit", country=country
    )
    assert region.known


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("aws:us-est-1", "'aws:us-east-1'"),
        ("gcp:europe-west44", "'gcp:europe-west4'"),
        ("azure:westus22", "'azure:westus2'"),
        ("us-east-1", "'aws:us-east-1'"),  # a bare region code: the provider is never guessed
        ("westeurope", "'azure:westeurope'"),
        ("google:us-central1", "'gcp:us-central1'"),
        ("US-CAL-CISOO", "'US-CAL-CISO'"),
    ],
)
def test_typos_raise_with_the_value_accepted_forms_and_close_matches(
    text: str, suggestion: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_region(text)
    message = str(info.value)
    assert repr(text.strip()) in message
    assert "did you mean" in message and suggestion in message
    assert "aws:REGION" in message and "grid zone" in message and "country code" in message
    assert isinstance(info.value, ValueError)


def test_first_suggestion_for_aws_typo_is_us_east_1() -> None:
    with pytest.raises(ConfigurationError, match=r"did you mean 'aws:us-east-1'"):
        parse_region("aws:us-est-1")


@pytest.mark.parametrize("text", ["", "   ", "narnia", "ZZZ", "aws:", ":us-east-1"])
def test_nonsense_raises_configuration_error(text: str) -> None:
    with pytest.raises(ConfigurationError, match="expected"):
        parse_region(text)


def test_bad_types_and_sources_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="expected a string"):
        parse_region(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="region source"):
        parse_region("DE", source="guess")
    assert parse_region("DE", source="env").source == "env"
    assert set(REGION_SOURCES) >= {"explicit", "env", "aws-imds", "gcp-metadata", "azure-imds"}


def test_every_packaged_cloud_region_parses_to_itself() -> None:
    regions = cloud_regions()
    assert len(regions) == 146
    assert [r.provider for r in regions] == sorted(
        (r.provider for r in regions), key=("aws", "gcp", "azure").index
    )
    for entry in regions:
        parsed = parse_region(entry.key)
        assert (parsed.provider, parsed.code, parsed.zone, parsed.country) == (
            entry.provider,
            entry.code,
            entry.zone,
            entry.country,
        )
        assert entry.source.startswith("regions:")


def test_region_table_lookups() -> None:
    entry = region_table.cloud_region("aws", "us-east-1")
    assert entry is not None
    assert (entry.display_name, entry.city, entry.country, entry.zone) == (
        "US East (N. Virginia)",
        "Ashburn",
        "US",
        "US-MIDA-PJM",
    )
    assert entry.location == "Ashburn, US"
    assert region_table.cloud_region("aws", "us-east-9") is None
    assert {r.key for r in region_table.regions_in_zone("NL")} == {
        "gcp:europe-west4",
        "azure:westeurope",
    }
    assert region_table.country_of_zone("US-NW-PACW") == "US"
    assert region_table.country_of_zone("XX") is None
    assert region_table.alpha2_for_alpha3("deu") == "DE"
    assert region_table.country_name("de") == "Germany"
    with pytest.raises(AttributeError):
        entry.zone = "FR"  # type: ignore[misc]


def test_resolve_explicit_and_region_passthrough() -> None:
    given = Region(provider=None, code="FR", zone="FR", source="explicit", country="FR")
    assert resolve_region(given) is given
    assert resolve_region("gcp:europe-west9").zone == "FR"
    with pytest.raises(ConfigurationError, match="aws:us-east-1"):
        resolve_region("aws:us-est-1")
    with pytest.raises(ConfigurationError, match="expected a string"):
        resolve_region(3.5)  # type: ignore[arg-type]


def test_resolve_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONSDK_REGION", "azure:uksouth")
    region = resolve_region(None)
    assert (region.provider, region.code, region.zone, region.source) == (
        "azure",
        "uksouth",
        "GB",
        "env",
    )
    assert resolve_region("DE").source == "explicit"  # explicit wins over the environment


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONSDK_REGION", "aws:us-est-1")
    with pytest.raises(ConfigurationError) as info:
        resolve_region(None)
    assert "CARBONSDK_REGION='aws:us-est-1'" in str(info.value)
    assert "aws:us-east-1" in str(info.value)


def _no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise AssertionError(f"network access to {address!r} while offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)

    def no_lookup(*args: object, **_kwargs: object) -> list[object]:
        attempts.append(args)
        raise AssertionError(f"name lookup {args!r} while offline")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)

    def no_detection(**_kwargs: object) -> Region | None:
        attempts.append("detect")
        raise AssertionError("detection attempted while offline")

    monkeypatch.setattr(region_pkg, "detect_cloud_region", no_detection)
    return attempts


def test_resolve_none_offline_is_unknown_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = _no_network(monkeypatch)
    assert resolve_region(None, offline=True) == Region.unknown()
    monkeypatch.setenv("CARBONSDK_OFFLINE", "1")
    assert resolve_region(None) == Region.unknown()
    assert attempts == []


def test_resolve_none_online_uses_detection_else_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    detected = Region(provider="aws", code="eu-west-3", zone="FR", source="aws-imds", country="FR")
    seen: list[float] = []

    def fake_detect(*, timeout_s: float, offline: bool) -> Region | None:
        assert offline is False
        seen.append(timeout_s)
        return detected if len(seen) == 1 else None

    monkeypatch.setattr(region_pkg, "detect_cloud_region", fake_detect)
    assert resolve_region(None, offline=False, timeout_s=0.5) is detected
    assert resolve_region(None, offline=False) == Region.unknown()
    assert seen == [0.5, 1.0]


def test_regions_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    from carbonsdk.cli import main

    assert main(["regions", "--json", "--provider", "gcp"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 45 and {r["provider"] for r in rows} == {"gcp"}
    by_code = {r["code"]: r for r in rows}
    dammam = by_code["me-central2"]  # SA: no hourly data, Ember's annual average for Saudi Arabia
    sa = embedded.annual_g_per_kwh("SA")
    assert sa is not None
    assert (dammam["zone"], dammam["hourly"], dammam["intensity_kind"]) == ("SA", False, "annual")
    assert dammam["mean_intensity_g_per_kwh"] == round(sa[0], 1)
    assert dammam["data_years"] == [sa[1]]
    iowa = by_code["us-central1"]  # MidAmerican, a MISO member (see region/table.py sources)
    assert (iowa["zone"], iowa["hourly"]) == ("US-MIDW-MISO", True)
    la = by_code["us-west2"]
    assert (la["zone"], la["hourly"], la["data_years"]) == (
        "US-CAL-CISO",
        True,
        [2021, 2022, 2023, 2024],
    )
    mean = embedded.mean_g_per_kwh("US-CAL-CISO")
    assert mean is not None and la["mean_intensity_g_per_kwh"] == round(mean, 1)
    assert la["basis"] == "lifecycle" and "ODbL" in la["dataset"]


def test_regions_command_plain_table(capsys: pytest.CaptureFixture[str]) -> None:
    from carbonsdk.cli import main

    assert main(["regions"]) == 0  # captured stdout is not a TTY, NO_COLOR is set: plain text
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("146 cloud regions")
    assert lines[1].split()[:4] == ["provider", "region", "location", "zone"]
    assert len(lines) == 2 + 146
    row = next(line for line in lines if " westus2 " in line)
    assert "US-NW-BPAT" in row and "yes" in row and "2021–2024" in row
    assert "\x1b[" not in "\n".join(lines)


def test_regions_command_rejects_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    from carbonsdk.cli import main

    with pytest.raises(SystemExit) as info:
        main(["regions", "--provider", "oracle"])
    assert info.value.code == 2
    assert "oracle" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GER", "did you mean 'DE'?"),  # a country name's start (Germany), not 'ER', 'ER', 'GE'
        ("Germany", "did you mean 'DE'?"),
        ("germny", "did you mean 'DE'?"),
        ("UK", "did you mean 'GB'?"),  # the EU's abbreviation for the United Kingdom
        ("EL", "did you mean 'GR'?"),
    ],
)
def test_country_aware_suggestions(text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_region(text)
    assert str(info.value).endswith(expected)


def test_suggestions_never_repeat() -> None:
    from carbonsdk.region.parse import _suggest

    for text in ("GER", "ERR", "DK-DK3", "aws:us-est-1", "FRX", "USS"):
        found = _suggest(text)
        assert len(found) == len(set(found)) and len(found) <= 3


@pytest.mark.parametrize("code", ["eusc-de-east-1", "us-isob-east-1", "us-isof-south-1"])
def test_other_aws_partitions_parse_with_zone_unknown(
    code: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Partitions from botocore's ``data/partitions.json``: European Sovereign Cloud
    (``aws-eusc``), ISO-B, ISO-F. A code the table lacks is kept, zone unknown, with a warning."""
    from carbonsdk.region import parse as parse_mod

    parse_mod._warned.clear()
    caplog.set_level("WARNING", logger="carbonsdk.region.parse")
    region = parse_region(f"aws:{code.upper()}")
    entry = region_table.cloud_region("aws", code)
    if entry is None:
        assert region == Region(provider="aws", code=code, zone=None, source="explicit")
        assert not region.known and code in caplog.text
    else:
        assert region.zone == entry.zone


def test_commercial_aws_typos_still_get_suggestions() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'aws:us-east-1'"):
        parse_region("aws:us-est-1")
