"""``csv:PATH``: the user's own intensity series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.intensity.base import IntensityProvider
from carbonsdk.intensity.csvfile import CsvProvider
from carbonsdk.region.base import Region

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
