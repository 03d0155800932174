"""Time-aligned emissions against a brute-force reference (both code paths)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsdk import accounting
from carbonsdk.accounting import align, extend_to_cover
from carbonsdk.exceptions import DataRangeError
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.timeline import J_PER_KWH, EnergySeries

SRC = IntensitySource(provider="test", zone="XX")
T0 = 1_700_000_000.0


def brute_force(energy: EnergySeries, series: IntensitySeries, pue: float) -> float:
    total = 0.0
    b = series.boundaries_s
    for k in range(len(energy)):
        s, e = energy.starts_s[k], energy.ends_s[k]
        joules = sum(energy.energy_j[c][k] for c in energy.components)
        for j, v in enumerate(series.values_g_per_kwh):
            overlap = max(0.0, min(e, b[j + 1]) - max(s, b[j]))
            total += joules / J_PER_KWH * overlap / (e - s) * v * pue
    return total


def make_energy(durations: list[float], joules: list[float], start: float = T0) -> EnergySeries:
    starts, ends = [], []
    t = start
    for d in durations:
        starts.append(t)
        ends.append(t + d)
        t += d
    return EnergySeries(
        ("gpu", "cpu"),
        tuple(starts),
        tuple(ends),
        {"gpu": tuple(joules), "cpu": tuple(j / 3 for j in joules)},
    )


def make_series(steps: list[float], values: list[float], start: float) -> IntensitySeries:
    b = [start]
    for d in steps:
        b.append(b[-1] + d)
    return IntensitySeries(
        tuple(b), tuple(values), tuple(i % 3 == 0 for i in range(len(values))), SRC
    )


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 40),
    m=st.integers(1, 15),
    pue=st.floats(1.0, 2.0),
    use_numpy=st.booleans(),
)
def test_align_matches_brute_force(
    data: st.DataObject, n: int, m: int, pue: float, use_numpy: bool
) -> None:
    durations = data.draw(st.lists(st.floats(0.001, 5000.0), min_size=n, max_size=n))
    joules = data.draw(st.lists(st.floats(0.0, 1e7), min_size=n, max_size=n))
    energy = make_energy(durations, joules)
    span = sum(durations)
    cuts = sorted(data.draw(st.lists(st.floats(0.0, 1.0), min_size=m - 1, max_size=m - 1)))
    lead = data.draw(st.floats(0.0, 1000.0))
    points = [T0 - lead] + [T0 + c * span for c in cuts] + [T0 + span + 1.0]
    points = sorted(set(points))
    steps = [b - a for a, b in itertools.pairwise(points) if b - a > 1e-6]
    values = data.draw(st.lists(st.floats(0.0, 1500.0), min_size=len(steps), max_size=len(steps)))
    series = make_series(steps, values, points[0])
    assert series.covers(energy.starts_s[0], energy.ends_s[-1])
    path = accounting._align_numpy if use_numpy else accounting._align_python
    aligned = path(energy, series, pue)
    expected = brute_force(energy, series, pue)
    assert math.isclose(aligned.total_emissions_g, expected, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(
        aligned.total_energy_kwh, sum(joules) * (4 / 3) / J_PER_KWH, rel_tol=1e-9, abs_tol=1e-12
    )
    # the aligned intervals tile the run exactly and never straddle an intensity step
    assert aligned.starts_s[0] == energy.starts_s[0]
    assert aligned.ends_s[-1] == pytest.approx(energy.ends_s[-1])
    for a, b in zip(aligned.ends_s, aligned.starts_s[1:], strict=False):
        assert a == pytest.approx(b)
    for s, e, v in zip(aligned.starts_s, aligned.ends_s, aligned.intensity_g_per_kwh, strict=True):
        mid = (s + e) / 2
        i = series.index_at(mid)
        assert i is not None and series.values_g_per_kwh[i] == v


def test_interval_straddling_an_hour_is_split_by_time() -> None:
    hour = 3600.0
    start = 1_700_002_800.0  # 00:00 + 45 min of some hour... choose an hour boundary inside
    h = (start // hour + 1) * hour
    energy = EnergySeries(("gpu",), (h - 900.0,), (h + 2700.0,), {"gpu": (3.6e6,)})  # 1 kWh
    series = IntensitySeries((h - hour, h, h + hour), (100.0, 500.0), (False, False), SRC)
    aligned = align(energy, series, pue=1.5)
    assert len(aligned) == 2
    assert aligned.energy_kwh == pytest.approx((0.25, 0.75))
    assert aligned.emissions_g == pytest.approx((0.25 * 100 * 1.5, 0.75 * 500 * 1.5))
    assert aligned.mean_intensity_g_per_kwh == pytest.approx(400.0)


def test_uncovered_range_is_an_error_and_extend_flags_estimated() -> None:
    energy = EnergySeries(("cpu",), (T0,), (T0 + 100,), {"cpu": (3.6e6,)})
    series = IntensitySeries((T0 + 10, T0 + 50), (200.0,), (False,), SRC)
    with pytest.raises(DataRangeError, match="does not cover"):
        align(energy, series)
    wide = extend_to_cover(series, T0, T0 + 100)
    assert wide.boundaries_s == (T0, T0 + 10, T0 + 50, T0 + 100)
    assert wide.estimated == (True, False, True)
    assert align(energy, wide).total_emissions_g == pytest.approx(200.0)


def test_empty_energy() -> None:
    energy = EnergySeries(("cpu",), (), (), {"cpu": ()})
    series = IntensitySeries((T0, T0 + 1), (1.0,), (False,), SRC)
    aligned = align(energy, series)
    assert len(aligned) == 0 and aligned.total_emissions_g == 0.0
