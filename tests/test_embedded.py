"""The embedded provider: hourly steps and flags from the packaged data, the nearest-year rule,
annual fallbacks, bases, and the helpers the scheduler and CLI use."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.intensity import embedded
from carbonsdk.intensity.base import IntensityProvider
from carbonsdk.intensity.embedded import EmbeddedProvider
from carbonsdk.region import Region, parse_region

DATA_DIR = Path(__file__).resolve().parents[1] / "carbonsdk" / "data"


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _hourly_value(zone: str, when: datetime, basis: str = "lifecycle") -> tuple[float, bool]:
    """Brute-force reference: the stored value of ``zone`` at hour ``when``."""
    t = int(when.timestamp())
    for entry in embedded._index().by_zone[zone]:
        if basis in entry.bases and entry.start_s <= t < entry.end_s:
            decoded = embedded._decode(entry.index)
            k = (t - entry.start_s) // 3600
            return decoded.values[basis][k], bool(decoded.estimated[k])
    raise AssertionError(f"{zone} has no data at {when}")


def test_provider_contract_and_basis_validation() -> None:
    provider = EmbeddedProvider()
    assert isinstance(provider, IntensityProvider)
    assert provider.name == "embedded"
    assert provider.basis == "lifecycle"
    assert EmbeddedProvider("direct").basis == "direct"
    with pytest.raises(ConfigurationError, match="'operational'"):
        EmbeddedProvider("operational")


def test_hourly_steps_values_and_source_inside_the_data() -> None:
    region = parse_region("aws:eu-central-1")  # -> DE
    series = EmbeddedProvider().series(region, _utc(2023, 3, 1, 0, 20), _utc(2023, 3, 1, 3, 30))
    assert series.start == _utc(2023, 3, 1, 0)
    assert series.end == _utc(2023, 3, 1, 4)
    assert len(series) == 4
    for i, step in enumerate(series.steps()):
        assert step.end - step.start == timedelta(hours=1)
        assert (step.g_per_kwh, step.estimated) == _hourly_value("DE", _utc(2023, 3, 1, i))
    src = series.source
    assert (src.provider, src.signal, src.basis, src.zone) == (
        "embedded",
        "average",
        "lifecycle",
        "DE",
    )
    assert "Electricity Maps" in src.dataset and "ODbL" in src.dataset
    assert "green-dcc" in src.dataset
    assert src.note == ""


def test_estimated_hours_are_flagged_per_the_data() -> None:
    provider = EmbeddedProvider()
    fully_estimated = provider.series(parse_region("IN-WE"), _utc(2022, 6, 1), _utc(2022, 6, 2))
    assert all(fully_estimated.estimated) and fully_estimated.source.estimated
    # SG 2021 is 24 % estimated: find a mixed day and check step by step
    entry = next(e for e in embedded._index().by_zone["SG"] if e.year == 2021)
    flags = embedded._decode(entry.index).estimated
    k = next(i for i in range(len(flags) - 24) if 0 < sum(flags[i : i + 24]) < 24)
    day = datetime.fromtimestamp(entry.start_s + k * 3600, tz=UTC)
    series = provider.series(parse_region("SG"), day, day + timedelta(hours=24))
    assert list(series.estimated) == [bool(f) for f in flags[k : k + 24]]
    assert series.source.estimated


def test_range_across_two_years_uses_both_without_substitution() -> None:
    series = EmbeddedProvider().series(
        parse_region("GB"), _utc(2023, 12, 31, 22), _utc(2024, 1, 1, 2)
    )
    assert len(series) == 4
    expected = [_hourly_value("GB", _utc(2023, 12, 31, 22) + timedelta(hours=i)) for i in range(4)]
    assert list(zip(series.values_g_per_kwh, series.estimated, strict=True)) == expected
    assert series.source.note == ""


def _same_month_weekday_hour(when: datetime, year: int) -> datetime:
    """Reference for the nearest-year rule: the day of ``when``'s month in ``year`` with the
    same weekday, closest in day of month."""
    days = [
        date(year, when.month, d)
        for d in range(1, 32)
        if _valid(year, when.month, d) and date(year, when.month, d).weekday() == when.weekday()
    ]
    best = min(days, key=lambda d: (abs(d.day - when.day), d.day))
    return datetime(best.year, best.month, best.day, when.hour, tzinfo=UTC)


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("when", "nearest_year"),
    [(_utc(2026, 5, 13, 14), 2024), (_utc(2019, 2, 28, 23), 2021), (_utc(2030, 12, 31, 5), 2024)],
)
def test_time_outside_the_years_uses_same_month_weekday_hour_of_nearest_year(
    when: datetime, nearest_year: int
) -> None:
    series = EmbeddedProvider().series(parse_region("DE"), when, when + timedelta(hours=2))
    assert len(series) == 2
    for i in range(2):
        t = when + timedelta(hours=i)
        ref = _same_month_weekday_hour(t, nearest_year)
        assert ref.weekday() == t.weekday() and ref.month == t.month and ref.hour == t.hour
        assert series.values_g_per_kwh[i] == _hourly_value("DE", ref)[0]
        assert series.estimated[i] is True
    assert series.source.estimated
    assert "2 of 2 hours" in series.source.note and "nearest year" in series.source.note


def test_parquet_zone_lifecycle_values_release_label_and_direct_from_older_release() -> None:
    region = parse_region("aws:us-west-2")  # -> US-NW-BPAT (reviewed zone)
    provider = EmbeddedProvider()
    series = provider.series(region, _utc(2022, 12, 31, 22), _utc(2023, 1, 1, 2))
    expected = [
        _hourly_value("US-NW-BPAT", _utc(2022, 12, 31, 22) + timedelta(hours=i)) for i in range(4)
    ]
    assert list(zip(series.values_g_per_kwh, series.estimated, strict=True)) == expected
    assert series.estimated == (False,) * 4  # the parquet release publishes no flags
    src = series.source
    assert src.zone == "US-NW-BPAT" and src.note == ""
    assert "2025-01-27 release" in src.dataset and "opendc-traces" in src.dataset
    assert "no estimation flags published" in src.dataset and "ODbL" in src.dataset
    assert "EIA-930" not in src.dataset  # dc-rl's production-based series are superseded
    # direct values exist for 2023 only, from the 2024-01-17 release, labelled so
    direct = EmbeddedProvider("direct").series(region, _utc(2023, 9, 16, 8), _utc(2023, 9, 16, 9))
    assert direct.values_g_per_kwh == (
        _hourly_value("US-NW-BPAT", _utc(2023, 9, 16, 8), "direct")[0],
    )
    assert (
        "2024-01-17 release" in direct.source.dataset and "direct values" in direct.source.dataset
    )
    assert (
        direct.values_g_per_kwh[0]
        < provider.series(region, _utc(2023, 9, 16, 8), _utc(2023, 9, 16, 9)).values_g_per_kwh[0]
    )
    with pytest.raises(ProviderError, match="no direct basis"):
        EmbeddedProvider("direct").series(parse_region("IE"), _utc(2022, 6, 1), _utc(2022, 6, 2))


def test_zone_without_hourly_data_gets_flat_annual_average_flagged() -> None:
    region = parse_region("aws:mx-central-1")  # -> MX, no hourly series
    ie_2023 = embedded.annual_g_per_kwh("MX", 2023)
    ie_2024 = embedded.annual_g_per_kwh("MX", 2024)
    assert ie_2023 is not None and ie_2023[1] == 2023
    assert ie_2024 is not None and ie_2024[1] == 2024
    series = EmbeddedProvider().series(region, _utc(2023, 12, 31, 22), _utc(2024, 1, 1, 2))
    assert series.boundaries_s == (
        _utc(2023, 12, 31, 22).timestamp(),
        _utc(2024, 1, 1).timestamp(),
        _utc(2024, 1, 1, 2).timestamp(),
    )
    assert series.values_g_per_kwh == (ie_2023[0], ie_2024[0])
    assert series.estimated == (True, True)
    src = series.source
    assert src.estimated and src.basis == "lifecycle" and src.zone == "MX"
    assert "Ember" in src.dataset and "2023–2024" in src.dataset and "CC BY 4.0" in src.dataset
    # after the latest Ember year: that year, flat
    later = EmbeddedProvider().series(region, _utc(2027, 1, 1), _utc(2027, 1, 3))
    assert later.values_g_per_kwh == (ie_2024[0],) and "2024" in later.source.dataset
    with pytest.raises(ProviderError, match="direct"):
        EmbeddedProvider("direct").series(region, _utc(2024, 1, 1), _utc(2024, 1, 2))


def test_country_without_own_zone_and_multizone_country_use_annual_average() -> None:
    us = EmbeddedProvider().series(parse_region("US"), _utc(2022, 1, 1), _utc(2022, 1, 2))
    us_2022 = embedded.annual_g_per_kwh("US", 2022)
    assert us_2022 is not None and us.values_g_per_kwh == (us_2022[0],)
    assert all(us.estimated)
    chile = EmbeddedProvider().series(parse_region("CHL"), _utc(2022, 1, 1), _utc(2022, 1, 2))
    assert "Chile" in chile.source.dataset


def test_unknown_zone_and_unknown_region_raise_provider_error() -> None:
    with pytest.raises(ProviderError, match="'XX'"):
        EmbeddedProvider().series(
            Region(provider=None, code="XX", zone="XX", source="explicit"),
            _utc(2023, 1, 1),
            _utc(2023, 1, 2),
        )
    with pytest.raises(ProviderError, match="region unknown"):
        EmbeddedProvider().series(Region.unknown(), _utc(2023, 1, 1), _utc(2023, 1, 2))


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="naive"):
        EmbeddedProvider().series(parse_region("DE"), datetime(2023, 1, 1), datetime(2023, 1, 2))


def test_direct_basis_serves_direct_values() -> None:
    series = EmbeddedProvider("direct").series(
        parse_region("FR"), _utc(2021, 7, 1, 12), _utc(2021, 7, 1, 14)
    )
    assert series.source.basis == "direct"
    expected = [_hourly_value("FR", _utc(2021, 7, 1, 12 + i), "direct")[0] for i in range(2)]
    assert list(series.values_g_per_kwh) == expected
    lifecycle = [_hourly_value("FR", _utc(2021, 7, 1, 12 + i))[0] for i in range(2)]
    assert all(d <= lc for d, lc in zip(expected, lifecycle, strict=True))
    assert "direct values" in series.source.dataset


def test_typical_series_is_the_mean_of_same_month_weekday_hour_over_all_years() -> None:
    when = _utc(2027, 7, 6, 15)  # a Tuesday in July
    series = EmbeddedProvider().typical_series(parse_region("US-CAL-CISO"), when, when)
    assert len(series) == 1 and series.estimated == (True,)
    samples = []
    for year in (2021, 2022, 2023, 2024):
        d = date(year, 7, 1)
        while d.month == 7:
            if d.weekday() == when.weekday():
                samples.append(
                    _hourly_value("US-CAL-CISO", datetime(year, 7, d.day, 15, tzinfo=UTC))[0]
                )
            d += timedelta(days=1)
    assert len(samples) >= 16
    assert series.values_g_per_kwh[0] == pytest.approx(sum(samples) / len(samples), rel=1e-12)
    assert "typical-year" in series.source.note
    flat = embedded.typical_series(parse_region("MX"), when, when + timedelta(hours=3))
    assert len(set(flat.values_g_per_kwh)) == 1 and all(flat.estimated)


def test_helpers() -> None:
    zones = embedded.zones()
    assert zones == tuple(sorted(zones))
    assert {"DE", "BR-CS", "CL-SEN", "US-NW-BPAT", "FR", "DK-DK2", "IE", "SE-SE3"} <= set(zones)
    assert "DE-LU" not in zones and "BR-SP" not in zones
    assert embedded.has_hourly("de") and embedded.has_hourly("IE") and not embedded.has_hourly("MX")
    assert embedded.has_hourly("IE", "lifecycle") and not embedded.has_hourly("IE", "direct")
    assert embedded.has_hourly("US-NW-BPAT", "direct")
    assert embedded.hourly_years("FR") == (2021, 2022, 2023, 2024)
    assert embedded.hourly_years("FR", "direct") == (2021, 2022, 2023)
    assert embedded.hourly_years("US-NW-BPAT", "direct") == (2023,)
    index = json.loads((DATA_DIR / "intensity.json").read_text(encoding="utf-8"))
    de = [e for e in index["series"] if e["zone"] == "DE"]
    expected = sum(e["mean_g_per_kwh"]["direct"] * e["hours"] for e in de) / sum(
        e["hours"] for e in de
    )
    assert embedded.mean_g_per_kwh("DE", "direct") == pytest.approx(expected)
    assert embedded.mean_g_per_kwh("MX") is None
    assert embedded.mean_g_per_kwh("IE", "direct") is None
    latest = embedded.annual_g_per_kwh("de")
    assert latest is not None and latest[1] == max(int(y) for y in index["annual"]["DE"]["years"])
    assert embedded.annual_g_per_kwh("DE", 1990) == (index["annual"]["DE"]["years"]["2019"], 2019)
    assert embedded.annual_g_per_kwh("ZZ") is None
    gcp = embedded.gcp_region_carbon("us-central1")
    assert [g.year for g in gcp] == [2023, 2024]
    assert gcp[1].grid_g_per_kwh == 412.72 and gcp[1].cfe_fraction == 0.87
    assert embedded.gcp_region_carbon("nowhere1") == ()
    with pytest.raises(ConfigurationError):
        embedded.mean_g_per_kwh("DE", "marginal")


def test_decoded_zone_years_are_cached_with_a_bound() -> None:
    info = embedded._decode.cache_info()
    assert info.maxsize == embedded.CACHE_ZONE_YEARS
    embedded._decode(0)
    before = embedded._decode.cache_info().hits
    embedded._decode(0)
    assert embedded._decode.cache_info().hits == before + 1


def test_reading_the_dataset_needs_no_numpy(subprocess_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from datetime import datetime, timezone\n"
        "import carbonsdk\n"
        "from carbonsdk.intensity.embedded import EmbeddedProvider\n"
        "from carbonsdk.region import parse_region\n"
        "utc = timezone.utc\n"
        "s = EmbeddedProvider().series(\n"
        "    parse_region('DE'),\n"
        "    datetime(2022, 1, 1, tzinfo=utc),\n"
        "    datetime(2022, 1, 2, tzinfo=utc),\n"
        ")\n"
        "assert len(s) == 24\n"
        "bad = [m for m in ('numpy', 'requests', 'rich', 'pynvml') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
