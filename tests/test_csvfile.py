"""``csv:PATH``: the user's own intensity series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.intensity.base import IntensityProvider
from carbonsdk.intensity.csvfile import CsvProvider
from carbonsdk.model.region import Region

DE = Region(provider=None, code="DE", zone="DE", source="explicit")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def write(tmp_path: Path, text: str, name: str = "mine.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_each_value_holds_until_the_next_timestamp(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,g_per_kwh\n"
        "2024-03-01T12:00:00Z,300\n"
        "2024-03-01T12:30:00+00:00,250.5\n"
        "2024-03-01T14:00:00+01:00,200\n",  # 13:00 UTC
    )
    provider = CsvProvider(path)
    assert isinstance(provider, IntensityProvider) and provider.name == "csv"
    series = provider.series(DE, T0, T0 + timedelta(hours=1, minutes=30))
    assert series.values_g_per_kwh == (300.0, 250.5, 200.0)
    # the last value holds for the smallest step (30 min)
    assert series.boundaries_s[-1] - series.boundaries_s[-2] == 1800.0
    assert provider.end == T0 + timedelta(hours=1, minutes=30)
    assert not any(series.estimated) and not series.source.estimated
    src = series.source
    assert (src.provider, src.signal, src.basis, src.zone) == ("csv", "average", "unknown", "DE")
    assert str(path) in src.dataset


def test_clipping_to_the_requested_range(tmp_path: Path) -> None:
    rows = "".join(f"{(T0 + timedelta(hours=i)).isoformat()},{100 + i}\n" for i in range(6))
    provider = CsvProvider(write(tmp_path, "timestamp,g_per_kwh\n" + rows))
    series = provider.series(DE, T0 + timedelta(minutes=90), T0 + timedelta(hours=3))
    assert series.values_g_per_kwh == (101.0, 102.0)
    assert series.start == T0 + timedelta(minutes=90)
    assert series.end == T0 + timedelta(hours=3)


def test_range_beyond_the_file_holds_the_nearest_value_flagged(tmp_path: Path) -> None:
    provider = CsvProvider(
        write(tmp_path, "timestamp,g_per_kwh\n2024-03-01T12:00Z,300\n2024-03-01T13:00Z,200\n")
    )
    series = provider.series(DE, T0 - timedelta(hours=1), T0 + timedelta(hours=4))
    assert series.values_g_per_kwh == (300.0, 300.0, 200.0, 200.0)
    assert series.estimated == (True, False, False, True)
    assert series.source.estimated and "nearest value is held" in series.source.note
    after = provider.series(DE, T0 + timedelta(days=2), T0 + timedelta(days=2, hours=1))
    assert after.values_g_per_kwh == (200.0,) and after.estimated == (True,)


def test_single_row_holds_one_hour(tmp_path: Path) -> None:
    provider = CsvProvider(write(tmp_path, "timestamp,g_per_kwh\n2024-03-01T12:00:00Z,42\n"))
    assert provider.end - provider.start == timedelta(hours=1)


def test_extra_columns_comments_blank_lines_and_bom(tmp_path: Path) -> None:
    text = (
        "\ufeff# my grid, measured\n"
        "g_per_kwh, note ,Timestamp\n"
        "\n"
        "120,a,2024-03-01T12:00:00Z\n"
        "# a comment\n"
        "130,b,2024-03-01T13:00:00Z\n"
    )
    provider = CsvProvider(write(tmp_path, text), signal="marginal", basis="direct")
    series = provider.series(DE, T0, T0 + timedelta(hours=2))
    assert series.values_g_per_kwh == (120.0, 130.0)
    assert (series.source.signal, series.source.basis) == ("marginal", "direct")


def test_naive_timestamp_is_rejected_naming_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "timestamp,g_per_kwh\n2024-03-01T12:00:00Z,300\n2024-03-01T13:00:00,250\n"
    )
    with pytest.raises(ConfigurationError) as info:
        CsvProvider(path)
    message = str(info.value)
    assert str(path) in message and "line 3" in message
    assert "'2024-03-01T13:00:00'" in message and "no UTC offset" in message


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("2024-03-01T12:00Z,-5\n", 2, "g_per_kwh '-5' is invalid"),
        ("2024-03-01T12:00Z,abc\n", 2, "g_per_kwh 'abc' is invalid"),
        ("2024-03-01T12:00Z,nan\n", 2, "g_per_kwh 'nan' is invalid"),
        ("2024-03-01T12:00Z,inf\n", 2, "g_per_kwh 'inf' is invalid"),
        ("yesterday,100\n", 2, "timestamp 'yesterday' is not ISO 8601"),
        ("2024-03-01T12:00Z\n", 2, "1 column(s)"),
        ("2024-03-01T12:00Z,1\n2024-03-01T12:00Z,2\n", 3, "is not after the previous one"),
        ("2024-03-01T12:00Z,1\n2024-03-01T11:00Z,2\n", 3, "timestamps must increase"),
    ],
)
def test_bad_rows_name_file_line_and_value(
    tmp_path: Path, body: str, line: int, fragment: str
) -> None:
    path = write(tmp_path, "timestamp,g_per_kwh\n" + body)
    with pytest.raises(ConfigurationError) as info:
        CsvProvider(path)
    message = str(info.value)
    assert str(path) in message and f"line {line}" in message and fragment in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the file is empty"),
        ("timestamp,g_per_kwh\n", "no data rows"),
        ("time,value\n2024-03-01T12:00Z,1\n", "lacks timestamp, g_per_kwh"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        CsvProvider(write(tmp_path, text))


def test_missing_file_and_bad_options(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(ConfigurationError, match=r"nope\.csv cannot be read"):
        CsvProvider(missing)
    path = write(tmp_path, "timestamp,g_per_kwh\n2024-03-01T12:00Z,1\n")
    with pytest.raises(ConfigurationError, match="signal 'hourly'"):
        CsvProvider(path, signal="hourly")
    with pytest.raises(ConfigurationError, match="basis 'gross'"):
        CsvProvider(path, basis="gross")
    with pytest.raises(ConfigurationError, match="empty time range"):
        CsvProvider(path).series(DE, T0, T0)


def test_unknown_region_still_gets_the_users_values(tmp_path: Path) -> None:
    provider = CsvProvider(write(tmp_path, "timestamp,g_per_kwh\n2024-03-01T12:00Z,77\n"))
    series = provider.series(Region.unknown(), T0, T0 + timedelta(minutes=10))
    assert series.values_g_per_kwh == (77.0,) and series.source.zone is None


@pytest.mark.parametrize(
    ("naive", "expected_hint"),
    [
        ("2024-01-01", "2024-01-01T00:00:00Z"),
        ("2024-01-01T13:30", "2024-01-01T13:30:00Z"),
        ("2024-01-01 13:30:15", "2024-01-01T13:30:15Z"),
    ],
)
def test_no_offset_hint_suggests_a_form_that_parses(
    tmp_path: Path, naive: str, expected_hint: str
) -> None:
    path = write(tmp_path, f"timestamp,g_per_kwh\n{naive},300\n")
    with pytest.raises(ConfigurationError) as info:
        CsvProvider(path)
    message = str(info.value)
    assert f"write it as {expected_hint} (UTC)" in message
    assert f"{naive}Z" not in message.replace(expected_hint, "")  # never the invalid '...Z'
    fixed = CsvProvider(write(tmp_path, f"timestamp,g_per_kwh\n{expected_hint},300\n", "ok.csv"))
    assert fixed.start == datetime.fromisoformat(expected_hint)


def test_file_is_parsed_once_per_process_and_again_when_changed(tmp_path: Path) -> None:
    from carbonsdk.intensity import csvfile

    csvfile.clear_parsed_cache()
    path = write(tmp_path, "timestamp,g_per_kwh\n2024-03-01T12:00Z,1\n2024-03-01T13:00Z,2\n")
    first = CsvProvider(path)
    second = CsvProvider(path)
    assert first._data is second._data  # the same parsed arrays, not a re-read
    assert first._data.times_s.typecode == "d" and len(first) == 2
    # an edited file (new size and mtime) is parsed again
    path.write_text(
        "timestamp,g_per_kwh\n2024-03-01T12:00Z,1\n2024-03-01T13:00Z,2\n2024-03-01T14:00Z,3\n",
        encoding="utf-8",
    )
    third = CsvProvider(path)
    assert third._data is not first._data and len(third) == 3
    assert third.series(DE, T0, T0 + timedelta(hours=3)).values_g_per_kwh == (1.0, 2.0, 3.0)


def test_only_the_requested_range_is_materialised(tmp_path: Path) -> None:
    rows = "".join(f"{(T0 + timedelta(hours=i)).isoformat()},{i % 500}\n" for i in range(5000))
    provider = CsvProvider(write(tmp_path, "timestamp,g_per_kwh\n" + rows))
    series = provider.series(DE, T0 + timedelta(hours=2000, minutes=30), T0 + timedelta(hours=2003))
    assert len(series) == 3 and series.values_g_per_kwh == (2000 % 500, 2001 % 500, 2002 % 500)
    assert series.start == T0 + timedelta(hours=2000, minutes=30)
    assert not any(series.estimated)


@given(
    when=st.datetimes(
        min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    offset_min=st.integers(min_value=-14 * 60, max_value=14 * 60),
    form=st.sampled_from(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]),
    zulu=st.booleans(),
)
def test_fast_timestamp_path_agrees_with_fromisoformat(
    when: datetime, offset_min: int, form: str, zulu: bool
) -> None:
    from datetime import timezone

    from carbonsdk.intensity.csvfile import _fast_epoch_s

    tz = UTC if zulu else timezone(timedelta(minutes=offset_min))
    local = when.astimezone(tz)
    text = local.strftime(form) + (
        "Z" if zulu else local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    )
    assert _fast_epoch_s(text, {}) == datetime.fromisoformat(text).timestamp()
