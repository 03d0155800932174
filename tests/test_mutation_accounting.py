"""Alignment behaviour that the brute-force property test does not pin (found by mutation
testing, see docs/testing.md): exact step boundaries, first/last boundary handling, zero-length
samples, partial coverage, the component-less numpy path and the time-weighted mean."""

from __future__ import annotations

import pytest

from carbonsdk import accounting
from carbonsdk.accounting import align, extend_to_cover
from carbonsdk.exceptions import DataRangeError
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.timeline import J_PER_KWH, EnergySeries

SRC = IntensitySource(provider="test", zone="XX")
H = 1_700_002_800.0 - (1_700_002_800.0 % 3600.0)  # an exact UTC hour
HOUR = 3600.0


def hourly_series(values: list[float], start: float = H) -> IntensitySeries:
    """One step per hour from ``start``."""
    bounds = tuple(start + i * HOUR for i in range(len(values) + 1))
    return IntensitySeries(bounds, tuple(values), (False,) * len(values), SRC)


@pytest.fixture(params=["python", "numpy"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test on both code paths: ``align`` picks numpy above NUMPY_THRESHOLD."""
    if request.param == "numpy":
        monkeypatch.setattr(accounting, "NUMPY_THRESHOLD", 0)
    return str(request.param)


def test_samples_on_exact_hour_boundaries_get_their_own_hours_intensity(path: str) -> None:
    # three one-hour samples, each starting exactly where an intensity step starts
    starts = (H, H + HOUR, H + 2 * HOUR)
    ends = (H + HOUR, H + 2 * HOUR, H + 3 * HOUR)
    energy = EnergySeries(("gpu",), starts, ends, {"gpu": (J_PER_KWH, J_PER_KWH, J_PER_KWH)})
    aligned = align(energy, hourly_series([100.0, 200.0, 300.0, 400.0]))
    assert aligned.intensity_g_per_kwh == (100.0, 200.0, 300.0)
    assert aligned.emissions_g == pytest.approx((100.0, 200.0, 300.0))
    assert aligned.total_emissions_g == pytest.approx(600.0)


def test_sample_spanning_three_steps_is_split_into_three(path: str) -> None:
    energy = EnergySeries(
        ("cpu",), (H + 1800.0,), (H + 2 * HOUR + 1800.0,), {"cpu": (4 * J_PER_KWH,)}
    )
    aligned = align(energy, hourly_series([100.0, 200.0, 300.0]))
    assert aligned.intensity_g_per_kwh == (100.0, 200.0, 300.0)
    assert aligned.energy_kwh == pytest.approx((1.0, 2.0, 1.0))
    assert aligned.total_emissions_g == pytest.approx(100.0 + 400.0 + 300.0)


def test_zero_length_sample_does_not_drop_the_rest_of_the_run(path: str) -> None:
    starts = (H, H + 600.0, H + 600.0)
    ends = (H + 600.0, H + 600.0, H + 1200.0)
    energy = EnergySeries(("gpu",), starts, ends, {"gpu": (J_PER_KWH, 0.0, 2 * J_PER_KWH)})
    aligned = align(energy, hourly_series([50.0]))
    assert aligned.total_energy_kwh == pytest.approx(3.0)
    assert aligned.total_emissions_g == pytest.approx(150.0)
    assert aligned.ends_s[-1] == H + 1200.0


@pytest.mark.parametrize("covered", ["first", "last"])
def test_series_covering_only_part_of_the_run_is_an_error(path: str, covered: str) -> None:
    energy = EnergySeries(
        ("cpu",), (H, H + HOUR), (H + HOUR, H + 2 * HOUR), {"cpu": (J_PER_KWH, J_PER_KWH)}
    )
    start = H if covered == "first" else H + HOUR
    with pytest.raises(DataRangeError, match="does not cover"):
        align(energy, hourly_series([100.0], start=start))


def test_component_less_timeline_aligns_to_zero_energy(path: str) -> None:
    energy = EnergySeries((), (H, H + 60.0), (H + 60.0, H + 120.0), {})
    aligned = align(energy, hourly_series([100.0]))
    assert aligned.total_energy_kwh == 0.0
    assert aligned.total_emissions_g == 0.0
    assert aligned.ends_s[-1] == H + 120.0


def test_extend_to_cover_returns_a_series_that_already_covers_unchanged() -> None:
    series = hourly_series([100.0, 200.0, 300.0])
    # exactly the series' own span, and a span strictly inside it
    assert extend_to_cover(series, H, H + 3 * HOUR) is series
    assert extend_to_cover(series, H + 1800.0, H + 2 * HOUR + 1800.0) is series


def test_extend_to_cover_holds_the_first_and_last_values() -> None:
    series = hourly_series([100.0, 200.0, 300.0])
    wide = extend_to_cover(series, H - 600.0, H + 3 * HOUR + 600.0)
    assert wide.boundaries_s == (
        H - 600.0,
        H,
        H + HOUR,
        H + 2 * HOUR,
        H + 3 * HOUR,
        H + 3 * HOUR + 600.0,
    )
    assert wide.values_g_per_kwh == (100.0, 100.0, 200.0, 300.0, 300.0)
    assert wide.estimated == (True, False, False, False, True)
    later = extend_to_cover(series, H, H + 3 * HOUR + 600.0)
    assert later.values_g_per_kwh == (100.0, 200.0, 300.0, 300.0)
    earlier = extend_to_cover(series, H - 600.0, H + 3 * HOUR)
    assert earlier.values_g_per_kwh == (100.0, 100.0, 200.0, 300.0)


def test_mean_intensity_without_energy_is_time_weighted(path: str) -> None:
    # no joules at all: the mean falls back to time weighting (45 min at 100, 15 min at 500)
    energy = EnergySeries(("gpu",), (H + 900.0,), (H + HOUR + 900.0,), {"gpu": (0.0,)})
    aligned = align(energy, hourly_series([100.0, 500.0]))
    assert aligned.mean_intensity_g_per_kwh == pytest.approx((2700 * 100 + 900 * 500) / 3600)


def test_mean_intensity_with_energy_is_energy_weighted(path: str) -> None:
    # 1 kWh in the first hour at 100 g/kWh, 3 kWh in the second at 500 g/kWh
    energy = EnergySeries(
        ("gpu",), (H, H + HOUR), (H + HOUR, H + 2 * HOUR), {"gpu": (J_PER_KWH, 3 * J_PER_KWH)}
    )
    aligned = align(energy, hourly_series([100.0, 500.0]))
    assert aligned.mean_intensity_g_per_kwh == pytest.approx((100.0 + 1500.0) / 4)
