"""Flexible Start and Pause and Resume on one series: hand-checked cases, the paper's
definitions against a plain per-minute brute force (hypothesis), and input errors."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsdk.exceptions import ConfigurationError, DataRangeError
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.schedule import (
    Plan,
    flexible_start,
    format_duration,
    parse_duration,
    pause_and_resume,
    run_now,
)
from carbonsdk.schedule.durations import duration_s, extension_s, window_s
from carbonsdk.schedule.plans import make_profile

T0 = datetime(2023, 6, 1, tzinfo=UTC)
SRC = IntensitySource(provider="test", zone="DE", basis="lifecycle")
H = timedelta(hours=1)


def hourly(
    values: Sequence[float],
    start: datetime = T0,
    step_s: float = 3600.0,
    source: IntensitySource = SRC,
) -> IntensitySeries:
    b0 = start.timestamp()
    return IntensitySeries(
        tuple(b0 + step_s * i for i in range(len(values) + 1)),
        tuple(float(v) for v in values),
        (False,) * len(values),
        source,
    )


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6h", 21600),
        ("90m", 5400),
        ("1h30m", 5400),
        ("30m1h", 5400),
        ("2d", 172800),
        ("1.5h", 5400),
        ("45s", 45),
        (" 1w ", 604800),
        ("1d 2h", 93600),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "6", "6x", "h", "1h1h", "-1h", "6 hours"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigurationError, match="duration"):
        parse_duration(text)


def test_parse_duration_hint_for_bare_number() -> None:
    with pytest.raises(ConfigurationError, match=r"add a unit, e.g. '24h'"):
        parse_duration("24", name="--max-delay")


def test_window_and_extension_forms() -> None:
    assert duration_s(timedelta(hours=2)) == 7200
    assert duration_s(90.0) == 90.0
    assert duration_s("2h") == 7200
    assert window_s("24h", 7200) == 86400
    assert window_s("50%", 7200) == 3600
    assert window_s(timedelta(0), 7200) == 0
    assert extension_s(1.0, 7200) == 7200
    assert extension_s("25%", 7200) == 1800
    assert extension_s("0.5", 7200) == 3600
    assert extension_s(timedelta(hours=3), 7200) == 10800
    with pytest.raises(ConfigurationError, match=r"max_delay=24 is ambiguous"):
        window_s(24, 7200)
    with pytest.raises(ConfigurationError, match=r"duration=-5"):
        duration_s(-5)
    with pytest.raises(ConfigurationError, match=r"duration=True"):
        duration_s(True)
    with pytest.raises(ConfigurationError, match=r"max_extension=-0.5"):
        extension_s(-0.5, 100)
    with pytest.raises(ConfigurationError, match=r"max_extension=nan"):
        extension_s(float("nan"), 100)


def test_format_duration() -> None:
    assert format_duration(5400) == "1h 30m"
    assert format_duration(86400 + 7200 + 60) == "1d 2h"
    assert format_duration(0) == "0s"
    assert format_duration(45) == "45s"


# ------------------------------------------------------------------------ hand-checked


def test_flexible_start_picks_lowest_window() -> None:
    s = hourly([5, 4, 1, 1, 9, 1, 1, 7, 7, 7])
    plan = flexible_start(s, timedelta(hours=2), timedelta(hours=4), start=T0)
    assert plan.strategy == "flexible_start"
    assert plan.start == T0 + 2 * H  # 1,1 -- the tie at hour 5 goes to the earliest
    assert plan.end == T0 + 4 * H
    assert plan.emissions_g == pytest.approx(1.0)  # per kWh: mean intensity
    assert plan.baseline_emissions_g == pytest.approx(4.5)
    assert plan.savings_fraction == pytest.approx(1 - 1 / 4.5)
    assert plan.pauses == 0 and len(plan.intervals) == 1
    assert plan.delay_s == 7200
    assert plan.energy_kwh is None and "per-kwh" in plan.flags
    assert plan.deadline == T0 + 6 * H


def test_flexible_start_ties_go_to_earliest() -> None:
    s = hourly([3, 3, 3, 3, 3, 3])
    plan = flexible_start(s, H, timedelta(hours=4), start=T0)
    assert plan.start == T0
    assert plan.savings_fraction == 0.0


def test_flexible_start_zero_delay_is_baseline() -> None:
    s = hourly([9, 1, 1])
    plan = flexible_start(s, H, timedelta(0), start=T0)
    assert plan.start == T0 and plan.emissions_g == plan.baseline_emissions_g == 9


def test_partial_steps_are_exact() -> None:
    # a 90-minute job on hourly data is not 2 hours
    s = hourly([10, 20, 30, 40])
    base = run_now(s, timedelta(minutes=90), start=T0)
    assert base.emissions_g == pytest.approx((10 * 60 + 20 * 30) / 90)
    # starting mid-step: the first step counts for the 30 minutes left in it
    plan = flexible_start(
        s, timedelta(minutes=90), timedelta(hours=1), start=T0 + timedelta(minutes=30)
    )
    assert plan.baseline_emissions_g == pytest.approx((10 * 30 + 20 * 60) / 90)
    # candidates: 00:30 and the step boundary 01:00 (the series' own step)
    assert plan.start == T0 + timedelta(minutes=30)
    assert plan.intervals[0].start == T0 + timedelta(minutes=30)


def test_flexible_start_candidates_are_step_boundaries() -> None:
    s = hourly([50, 50, 1, 1, 1, 50])
    plan = flexible_start(s, H, timedelta(minutes=100), start=T0 + timedelta(minutes=20))
    # window [00:20, 02:00]: 02:00 is the only clean boundary in reach
    assert plan.start == T0 + 2 * H
    plan = flexible_start(s, H, timedelta(minutes=99), start=T0 + timedelta(minutes=20))
    assert plan.start == T0 + timedelta(minutes=20) or plan.start == T0 + H
    assert plan.start < T0 + 2 * H


def test_pause_and_resume_hand_example() -> None:
    s = hourly([5, 1, 6, 2, 7, 1, 8, 9])
    plan = pause_and_resume(s, timedelta(hours=3), 1.0, start=T0)  # window 6 h
    assert plan.strategy == "pause_and_resume"
    assert [(iv.start, iv.end) for iv in plan.intervals] == [
        (T0 + H, T0 + 2 * H),
        (T0 + 3 * H, T0 + 4 * H),
        (T0 + 5 * H, T0 + 6 * H),
    ]
    assert plan.pauses == 2
    assert plan.emissions_g == pytest.approx((1 + 2 + 1) / 3)
    assert plan.baseline_emissions_g == pytest.approx((5 + 1 + 6) / 3)
    assert sum(iv.energy_fraction for iv in plan.intervals) == pytest.approx(1.0)
    assert all(iv.energy_fraction == pytest.approx(1 / 3) for iv in plan.intervals)
    assert plan.paused_s == 2 * 3600
    assert plan.deadline == T0 + 6 * H


def test_pause_and_resume_partial_step_joins_neighbour() -> None:
    # 2.5 h of work, cheapest steps 1 (h1) and 2 (h2); the half step needed next is h3 (3):
    # it is taken on the side touching h2, so the run is one block without a pause
    s = hourly([9, 1, 2, 3, 9, 9])
    plan = pause_and_resume(s, timedelta(hours=2.5), timedelta(hours=3), start=T0)
    assert plan.pauses == 0
    assert plan.start == T0 + H and plan.end == T0 + timedelta(hours=3.5)
    assert plan.emissions_g == pytest.approx((1 + 2 + 0.5 * 3) / 2.5)


def test_pause_and_resume_partial_step_before_a_chosen_one() -> None:
    s = hourly([9, 3, 1, 9, 9])
    plan = pause_and_resume(s, timedelta(hours=1.5), timedelta(hours=3), start=T0)
    # h2 (1) whole, then half of h1 (3) -- its second half, next to h2
    assert (plan.start, plan.end) == (T0 + timedelta(hours=1.5), T0 + 3 * H)
    assert plan.pauses == 0


def test_pause_and_resume_window_edge_is_cut() -> None:
    # extension 25 % of 2 h = 30 min: the window ends half-way through hour 2
    s = hourly([5, 6, 1, 9])
    plan = pause_and_resume(s, timedelta(hours=2), 0.25, start=T0)
    assert plan.deadline == T0 + timedelta(hours=2.5)
    assert plan.end <= plan.deadline
    # 30 min at 1, then 60 min at 5, 30 min at 6
    assert plan.emissions_g == pytest.approx((0.5 * 1 + 1 * 5 + 0.5 * 6) / 2)


def test_energy_kwh_and_pue_scale_grams() -> None:
    s = hourly([100, 200, 50, 400])
    plan = flexible_start(s, H, timedelta(hours=3), start=T0, energy_kwh=2.0, pue=1.5)
    assert plan.energy_kwh == 2.0 and plan.pue == 1.5
    assert plan.emissions_g == pytest.approx(2.0 * 1.5 * 50)
    assert plan.baseline_emissions_g == pytest.approx(2.0 * 1.5 * 100)
    assert plan.intensity_g_per_kwh == pytest.approx(50)
    assert plan.savings_g == pytest.approx(300 - 150)
    assert "per-kwh" not in plan.flags
    assert plan.intervals[0].emissions_g == pytest.approx(plan.emissions_g)


def test_energy_profile_changes_the_choice() -> None:
    # dirty first hour after a clean one: a job burning all its energy in its 2nd hour
    s = hourly([1, 100, 1, 100, 100, 100])
    flat = flexible_start(s, timedelta(hours=2), timedelta(hours=2), start=T0)
    back = flexible_start(
        s, timedelta(hours=2), timedelta(hours=2), start=T0, energy_profile=[0.0, 1.0]
    )
    assert flat.start == T0  # 1 + 100 == 100 + 1: tie -> earliest
    assert back.start == T0 + H  # energy lands in hour 2 (value 1)
    assert back.emissions_g == pytest.approx(1.0)
    assert back.intervals[0].energy_fraction == pytest.approx(1.0)


def test_energy_profile_pairs_and_errors() -> None:
    p = make_profile([(timedelta(minutes=30), 1.0), (1800.0, 3.0)], 3600)
    assert p.at(1800) == pytest.approx(0.25) and p.at(3600) == 1.0 and p.at(2700) == 0.625
    with pytest.raises(ConfigurationError, match="add up to"):
        make_profile([(600, 1.0)], 3600)
    with pytest.raises(ConfigurationError, match="all zeros"):
        make_profile([0, 0], 3600)
    with pytest.raises(ConfigurationError, match=r"value -1\.0"):
        make_profile([1, -1], 3600)
    with pytest.raises(ConfigurationError, match="energy_profile"):
        make_profile("abc", 3600)


def test_pause_and_resume_replays_profile() -> None:
    s = hourly([1, 9, 2, 9])
    plan = pause_and_resume(s, timedelta(hours=2), 1.0, start=T0, energy_profile=[3.0, 1.0])
    # runs h0 then h2; 3/4 of the energy in h0 (1 g/kWh), 1/4 in h2 (2 g/kWh)
    assert plan.emissions_g == pytest.approx(0.75 * 1 + 0.25 * 2)
    assert plan.baseline_emissions_g == pytest.approx(0.75 * 1 + 0.25 * 9)
    assert [iv.energy_fraction for iv in plan.intervals] == pytest.approx([0.75, 0.25])


def test_pairs_input_equals_series() -> None:
    values = [5, 3, 8, 1, 2, 7]
    pairs = [(T0 + i * H, v) for i, v in enumerate(values)]
    a = pause_and_resume(pairs, 2 * H, 1.0)
    b = pause_and_resume(hourly(values), 2 * H, 1.0)
    assert a.emissions_g == b.emissions_g and a.intervals == b.intervals
    assert a.source.provider == "user"


def test_baseline_zero_intensity() -> None:
    plan = flexible_start(hourly([0, 0, 0]), H, 2 * H, start=T0)
    assert plan.savings_fraction == 0.0 and plan.emissions_g == 0.0


def test_estimated_values_flag_the_plan() -> None:
    s = IntensitySeries(
        (T0.timestamp(), T0.timestamp() + 3600, T0.timestamp() + 7200),
        (5.0, 1.0),
        (False, True),
        SRC,
    )
    plan = flexible_start(s, H, H, start=T0)
    assert plan.estimated and plan.intervals[0].estimated


# ------------------------------------------------------------------------ range and fill


def test_window_past_data_says_how_far_data_goes() -> None:
    s = hourly([1, 2, 3, 4])
    with pytest.raises(DataRangeError) as info:
        flexible_start(s, 2 * H, timedelta(hours=6), start=T0)
    msg = str(info.value)
    assert "2023-06-01T04:00:00+00:00" in msg and "fill='typical'" in msg
    with pytest.raises(DataRangeError, match="covers"):
        pause_and_resume(s, H, 1.0, start=T0 - 2 * H)


def test_fill_with_a_series_is_flagged() -> None:
    s = hourly([9, 9])
    filler = hourly([7] * 48)
    plan = flexible_start(s, H, timedelta(hours=5), start=T0, fill=filler)
    assert "typical-fill" in plan.flags and "intensity-estimated" in plan.flags
    assert plan.start == T0 + 2 * H and plan.emissions_g == 7
    pr = pause_and_resume(s, 2 * H, 2.0, start=T0, fill=filler)
    assert pr.emissions_g == 7 and "typical-fill" in pr.flags


def test_fill_typical_uses_embedded_profile() -> None:
    s = hourly([300.0] * 3)  # zone DE in SRC
    plan = pause_and_resume(s, timedelta(hours=6), 1.0, start=T0, fill="typical")
    assert "typical-fill" in plan.flags
    assert plan.deadline == T0 + timedelta(hours=12)
    assert sum(iv.duration_s for iv in plan.intervals) == pytest.approx(6 * 3600)


def test_fill_typical_needs_a_zone() -> None:
    s = hourly([1, 2], source=IntensitySource(provider="test"))
    with pytest.raises(ConfigurationError, match="zone"):
        flexible_start(s, H, 5 * H, start=T0, fill="typical")
    with pytest.raises(ConfigurationError, match=r"fill='sometimes'"):
        flexible_start(s, H, 5 * H, start=T0, fill="sometimes")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ errors


def test_bad_inputs_name_the_value() -> None:
    s = hourly([1, 2, 3])
    with pytest.raises(ConfigurationError, match=r"duration=0"):
        flexible_start(s, 0, H)
    with pytest.raises(ConfigurationError, match=r"max_delay=3 is ambiguous"):
        flexible_start(s, H, 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="naive datetime"):
        flexible_start(s, H, H, start=datetime(2023, 6, 1))
    with pytest.raises(ConfigurationError, match=r"series=42"):
        flexible_start(42, H, H)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="series item"):
        flexible_start([(T0, 1.0, 3)], H, H)  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match=r"energy_kwh=-1"):
        flexible_start(s, H, H, start=T0, energy_kwh=-1)
    with pytest.raises(ConfigurationError, match=r"pue=0.5"):
        pause_and_resume(s, H, 1.0, start=T0, pue=0.5)
    with pytest.raises(ConfigurationError, match=r"start='now'"):
        flexible_start(s, H, H, start="now")  # type: ignore[arg-type]


# ------------------------------------------------------------- property tests (hypothesis)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[int], list[int], int, int, int, int]:
    """Steps with lengths in minutes (irregular allowed), integer intensities, a start offset,
    a job and a window in minutes."""
    n = draw(st.integers(min_value=2, max_value=12))
    lengths = draw(st.lists(st.sampled_from([15, 30, 60, 60, 60, 90]), min_size=n, max_size=n))
    values = draw(st.lists(st.integers(min_value=0, max_value=6), min_size=n, max_size=n))
    total = sum(lengths)
    offset = draw(st.integers(min_value=0, max_value=total // 3))
    job = draw(st.integers(min_value=1, max_value=max(1, (total - offset) // 2)))
    window = draw(st.integers(min_value=0, max_value=total - offset - job))
    return lengths, values, offset, job, window, total


def _minutes(lengths: list[int], values: list[int]) -> list[int]:
    out: list[int] = []
    for length, v in zip(lengths, values, strict=True):
        out.extend([v] * length)
    return out


def _series(lengths: list[int], values: list[int]) -> IntensitySeries:
    b = [T0.timestamp()]
    for length in lengths:
        b.append(b[-1] + 60 * length)
    return IntensitySeries(tuple(b), tuple(float(v) for v in values), (False,) * len(values), SRC)


def _check_plan_shape(plan: Plan, job: int, lo: datetime, hi: datetime) -> None:
    ivs = plan.intervals
    assert sum(iv.duration_s for iv in ivs) == pytest.approx(job * 60, abs=1e-3)
    assert ivs[0].start >= lo - timedelta(microseconds=10)
    assert ivs[-1].end <= hi + timedelta(microseconds=10)
    for a, b in itertools.pairwise(ivs):
        assert a.end < b.start  # chronological, merged: a gap is a pause
    assert plan.pauses == len(ivs) - 1
    assert sum(iv.energy_fraction for iv in ivs) == pytest.approx(1.0)
    assert plan.emissions_g <= plan.baseline_emissions_g + 1e-9


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_flexible_start_matches_minute_brute_force(
    case: tuple[list[int], list[int], int, int, int, int],
) -> None:
    lengths, values, offset, job, window, _ = case
    per_min = _minutes(lengths, values)
    bounds = [0]
    for length in lengths:
        bounds.append(bounds[-1] + length)
    candidates = [offset] + [b for b in bounds if offset < b <= offset + window]
    costs = [sum(per_min[c : c + job]) for c in candidates]
    best = candidates[costs.index(min(costs))]  # first minimum: earliest
    start = T0 + timedelta(minutes=offset)
    plan = flexible_start(
        _series(lengths, values), timedelta(minutes=job), timedelta(minutes=window), start=start
    )
    assert plan.start == T0 + timedelta(minutes=best)
    assert plan.emissions_g == pytest.approx(min(costs) / job, abs=1e-9)
    assert plan.baseline_emissions_g == pytest.approx(costs[0] / job, abs=1e-9)
    _check_plan_shape(plan, job, start, start + timedelta(minutes=window + job))


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_pause_and_resume_matches_minute_brute_force(
    case: tuple[list[int], list[int], int, int, int, int],
) -> None:
    lengths, values, offset, job, window, _ = case
    per_min = _minutes(lengths, values)
    in_window = per_min[offset : offset + job + window]
    best = sum(sorted(in_window)[:job])
    start = T0 + timedelta(minutes=offset)
    plan = pause_and_resume(
        _series(lengths, values), timedelta(minutes=job), timedelta(minutes=window), start=start
    )
    assert plan.emissions_g == pytest.approx(best / job, abs=1e-9)
    _check_plan_shape(plan, job, start, start + timedelta(minutes=job + window))
    # the chosen minutes, recounted by brute force, give the same emissions
    recount = 0.0
    for iv in plan.intervals:
        a = round((iv.start - T0).total_seconds() / 60)
        b = round((iv.end - T0).total_seconds() / 60)
        recount += sum(per_min[a:b])
    assert recount / job == pytest.approx(plan.emissions_g, abs=1e-9)
    # never more pauses than chosen steps allow: at most one run per step of the window
    assert plan.pauses <= len(lengths)


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=6))
def test_profile_replay_matches_minute_brute_force(
    case: tuple[list[int], list[int], int, int, int, int], weights: list[int]
) -> None:
    lengths, values, offset, job, window, _ = case
    if sum(weights) == 0:
        weights = [1, *weights[1:]]
    per_min = _minutes(lengths, values)
    start = T0 + timedelta(minutes=offset)
    plan = pause_and_resume(
        _series(lengths, values),
        timedelta(minutes=job),
        timedelta(minutes=window),
        start=start,
        energy_profile=weights,
    )
    # exact, with fractions: running minute u of the job holds the share of each equal part
    # it overlaps; runs start and end on whole minutes (integer steps, integer job)
    m = len(weights)
    total = Fraction(sum(weights))
    expected = Fraction(0)
    u = 0
    for iv in plan.intervals:
        a = round((iv.start - T0).total_seconds() / 60)
        b = round((iv.end - T0).total_seconds() / 60)
        for wall in range(a, b):
            for i, w in enumerate(weights):
                lo, hi = Fraction(job * i, m), Fraction(job * (i + 1), m)
                overlap = max(Fraction(0), min(hi, Fraction(u + 1)) - max(lo, Fraction(u)))
                expected += per_min[wall] * w / total * overlap / (hi - lo)
            u += 1
    assert plan.emissions_g == pytest.approx(float(expected), rel=1e-9, abs=1e-9)
    assert math.isfinite(plan.baseline_emissions_g)
