"""Flexible Start and Pause and Resume (found by mutation testing, see docs/testing.md): the
energy-x-intensity optimum against a brute force over every order-preserving choice of steps,
tie rules, per-interval intensities (energy-weighted, time-weighted for a share of 0), replaying
an energy profile through three or more runs, sub-second pieces, the time tolerance at the data's
edges, filling before/after/around the data (which values are flagged estimated, and what the
errors say), and input validation of energies, PUE, profiles and series values."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from carbonsdk.exceptions import ConfigurationError, DataRangeError
from carbonsdk.intensity.embedded import EmbeddedProvider
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.schedule import flexible_start, pause_and_resume, run_now
from carbonsdk.schedule.plans import make_profile, merge_runs, pick_earliest_min

T0 = datetime(2023, 6, 1, tzinfo=UTC)
SRC = IntensitySource(provider="test", zone="DE", basis="lifecycle")
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def series(
    values: Sequence[float],
    start: datetime = T0,
    *,
    lengths_h: Sequence[float] | None = None,
    estimated: bool = False,
    source: IntensitySource = SRC,
) -> IntensitySeries:
    """Steps of ``lengths_h`` hours (default 1 h each) from ``start`` at ``values`` g/kWh."""
    lengths = [1.0] * len(values) if lengths_h is None else list(lengths_h)
    b = [start.timestamp()]
    for length in lengths:
        b.append(b[-1] + 3600.0 * length)
    return IntensitySeries(
        tuple(b), tuple(float(v) for v in values), (estimated,) * len(values), source
    )


def spans(plan_intervals: Sequence[object]) -> list[tuple[datetime, datetime]]:
    """(start, end) of each interval."""
    return [(iv.start, iv.end) for iv in plan_intervals]  # type: ignore[attr-defined]


# -------------------------------------------------------------- energy x intensity optimum


def _brute_force(values: list[float], weights: list[float], start: int) -> float:
    """The lowest energy-weighted mean intensity over every order-preserving choice of
    ``len(weights)`` whole hourly steps among ``values[start:]`` (weights: one per hour of the
    job's running time)."""
    total = sum(weights)
    best = math.inf
    for pos in itertools.combinations(range(start, len(values)), len(weights)):
        best = min(best, sum(w / total * values[p] for w, p in zip(weights, pos, strict=True)))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_pause_and_resume_with_a_profile_finds_the_exact_optimum(seed: int) -> None:
    """On equal steps with a whole number of them, a non-constant profile's plan is the
    lowest-emission order-preserving choice of steps (the dynamic programme is exact), never
    worse than the baseline."""
    rng = random.Random(seed)
    for _ in range(25):
        n = rng.randint(2, 8)
        values = [float(rng.randint(0, 9)) for _ in range(n)]
        offset = rng.randint(0, 2) if n > 3 else 0
        m = rng.randint(1, n - offset)
        weights = [float(rng.randint(0, 4)) for _ in range(m)]
        if sum(weights) == 0:
            weights[-1] = 1.0
        if m == 1:
            weights = [1.0, 2.0]  # two parts of one hour: still one step to choose
        start = T0 + offset * H
        ext = (n - offset - m) * H
        plan = pause_and_resume(
            series(values), m * H, ext, start=start, energy_profile=weights, energy_kwh=1.0
        )
        per_hour = weights if len(weights) == m else [1.0]
        expected = _brute_force(values, per_hour, offset)
        label = f"values={values} start=+{offset}h job={m}h profile={weights}"
        assert plan.emissions_g == pytest.approx(expected, abs=1e-9), label
        assert plan.emissions_g <= plan.baseline_emissions_g + 1e-9, label
        assert sum(iv.duration_s for iv in plan.intervals) == pytest.approx(m * 3600.0)


def test_front_loaded_profile_moves_the_plan_past_a_cheaper_mean() -> None:
    """A 2-segment profile: 3/4 of the energy in the first hour. Running the two cheapest hours
    in order (2 then 1 g/kWh) costs 1.75; starting at the cheapest hour costs 1.375."""
    plan = pause_and_resume(series([2, 1, 2.5, 9]), 2 * H, 1 * H, start=T0, energy_profile=[3, 1])
    assert spans(plan.intervals) == [(T0 + H, T0 + 3 * H)]
    assert plan.emissions_g == pytest.approx(0.75 * 1 + 0.25 * 2.5)
    assert plan.baseline_emissions_g == pytest.approx(0.75 * 2 + 0.25 * 1)


def test_profile_plan_on_a_later_part_of_the_window() -> None:
    """The optimum may need the window's last steps and its first: every step is a choice."""
    plan = pause_and_resume(
        series([1, 9, 9, 9, 9, 2]), 2 * H, 4 * H, start=T0, energy_profile=[1, 1, 2, 2]
    )
    assert plan.emissions_g == pytest.approx(_brute_force([1, 9, 9, 9, 9, 2], [1, 2], 0))
    assert spans(plan.intervals) == [(T0, T0 + H), (T0 + 5 * H, T0 + 6 * H)]


def test_constant_power_ties_go_to_the_earliest_steps() -> None:
    """Equal-cost choices: Pause and Resume takes the earliest of the tied steps (the hour at 3
    g/kWh at 00:00, not the one at 04:00), even where a later choice would pause less."""
    plan = pause_and_resume(series([3, 0, 3, 1, 3, 1, 2]), 5 * H, 2 * H, start=T0)
    assert spans(plan.intervals) == [
        (T0, T0 + 2 * H),
        (T0 + 3 * H, T0 + 4 * H),
        (T0 + 5 * H, T0 + 7 * H),
    ]
    assert plan.pauses == 2


def test_ties_between_strategies_take_the_fewest_pauses() -> None:
    """All energy in the first hour: running h0 then anything costs 1 g/kWh; the cheapest
    steps (h0 and h2, a pause) tie with running straight: no pause."""
    plan = pause_and_resume(series([1, 5, 1, 9]), 2 * H, 2 * H, start=T0, energy_profile=[1, 0])
    assert plan.emissions_g == pytest.approx(1.0)
    assert plan.pauses == 0
    assert spans(plan.intervals) == [(T0, T0 + 2 * H)]


def test_a_constant_profile_in_equal_parts_plans_like_constant_power() -> None:
    """``energy_profile=[2, 2]`` is constant power: the same plan, ties to the earliest step."""
    s = series([3, 2, 2, 1])
    flat = pause_and_resume(s, 2 * H, 2 * H, start=T0)
    parts = pause_and_resume(s, 2 * H, 2 * H, start=T0, energy_profile=[2, 2])
    assert spans(flat.intervals) == [(T0 + H, T0 + 2 * H), (T0 + 3 * H, T0 + 4 * H)]
    assert spans(parts.intervals) == spans(flat.intervals)
    assert parts.emissions_g == pytest.approx(flat.emissions_g) == pytest.approx(1.5)


def test_pause_and_resume_in_a_one_step_window_is_the_baseline() -> None:
    for profile in (None, [1, 2]):
        plan = pause_and_resume(series([4, 1]), H, 0.0, start=T0, energy_profile=profile)
        assert spans(plan.intervals) == [(T0, T0 + H)]
        assert plan.emissions_g == plan.baseline_emissions_g == 4.0


def test_profile_on_irregular_steps_runs_for_the_whole_duration() -> None:
    """Steps of 1 h, 30 min, 30 min, 1 h: no equal-step optimum applies; the plan still runs
    the job's full 2 h and accounts all of its energy."""
    s = series([9, 1, 1, 9], lengths_h=[1, 0.5, 0.5, 1])
    plan = pause_and_resume(s, 2 * H, H, start=T0, energy_profile=[1, 1])
    assert sum(iv.duration_s for iv in plan.intervals) == pytest.approx(7200.0)
    assert sum(iv.energy_fraction for iv in plan.intervals) == pytest.approx(1.0)
    assert plan.emissions_g == pytest.approx(5.0)


def test_profile_with_a_job_that_is_not_a_whole_number_of_steps() -> None:
    """A 90-minute job with all its energy in its first 45 minutes, on hourly steps: the plan
    runs exactly 90 minutes (the cheapest hour, then half of the next cheapest)."""
    s = series([5, 1, 9, 1, 9])
    plan = pause_and_resume(
        s, timedelta(minutes=90), timedelta(hours=3.5), start=T0, energy_profile=[1, 0]
    )
    assert sum(iv.duration_s for iv in plan.intervals) == pytest.approx(5400.0)
    assert spans(plan.intervals) == [
        (T0 + H, T0 + 2 * H),
        (T0 + 3 * H, T0 + timedelta(hours=3.5)),
    ]
    assert plan.emissions_g == pytest.approx(1.0)


def test_step_lengths_jittered_by_a_millisecond_count_as_equal() -> None:
    """Timestamps a millisecond off the hour (within 1 ppm) still get the energy x intensity
    optimum of test_front_loaded_profile_moves_the_plan_past_a_cheaper_mean."""
    b0 = T0.timestamp()
    bounds = (b0, b0 + 3600.001, b0 + 7200.0, b0 + 10800.0, b0 + 14400.0)
    s = IntensitySeries(bounds, (2.0, 1.0, 2.5, 9.0), (False,) * 4, SRC)
    plan = pause_and_resume(s, 2 * H, 1 * H, start=T0, energy_profile=[3, 1])
    assert plan.start == T0 + timedelta(seconds=3600.001)
    assert plan.emissions_g == pytest.approx(0.75 * 1 + 0.25 * 2.5)


# ----------------------------------------------------------------- intervals and replay


def test_interval_intensity_is_energy_weighted() -> None:
    plan = run_now(series([1, 9]), 2 * H, start=T0, energy_profile=[3, 1])
    (iv,) = plan.intervals
    assert iv.intensity_g_per_kwh == pytest.approx(0.75 * 1 + 0.25 * 9)  # not the time mean 5
    assert plan.intensity_g_per_kwh == pytest.approx(3.0)
    pr = pause_and_resume(series([1, 9, 2, 9]), 2 * H, 1.0, start=T0, energy_profile=[3, 1])
    assert [iv.intensity_g_per_kwh for iv in pr.intervals] == pytest.approx([1.0, 2.0])
    assert [iv.emissions_g for iv in pr.intervals] == pytest.approx([0.75, 0.5])


def test_interval_without_energy_reports_its_time_weighted_intensity() -> None:
    """Irregular steps (no dynamic programme): the cheapest steps are 00:00-01:00 (2 then 4
    g/kWh) and 02:00-03:00 (1); with all energy in the second hour of running time the first
    run spends none: its intensity is the time-weighted 3 g/kWh."""
    s = series([2, 4, 9, 9, 1, 9], lengths_h=[0.5, 0.5, 0.5, 0.5, 1, 1])
    plan = pause_and_resume(s, 2 * H, 2 * H, start=T0, energy_profile=[0, 1])
    assert spans(plan.intervals) == [(T0, T0 + H), (T0 + 2 * H, T0 + 3 * H)]
    first, second = plan.intervals
    assert first.energy_fraction == 0.0
    assert first.intensity_g_per_kwh == pytest.approx(3.0)
    assert first.emissions_g == 0.0
    assert second.energy_fraction == pytest.approx(1.0)
    assert second.intensity_g_per_kwh == pytest.approx(1.0)
    assert plan.emissions_g == pytest.approx(1.0)
    assert plan.baseline_emissions_g == pytest.approx(9.0)


def test_profile_replays_through_three_runs() -> None:
    """Each run continues the job's running time where the previous stopped."""
    plan = pause_and_resume(
        series([1, 9, 2, 9, 3, 9]), 3 * H, 3 * H, start=T0, energy_profile=[1, 2, 3]
    )
    assert spans(plan.intervals) == [
        (T0, T0 + H),
        (T0 + 2 * H, T0 + 3 * H),
        (T0 + 4 * H, T0 + 5 * H),
    ]
    assert [iv.energy_fraction for iv in plan.intervals] == pytest.approx([1 / 6, 2 / 6, 3 / 6])
    assert plan.emissions_g == pytest.approx((1 * 1 + 2 * 2 + 3 * 3) / 6)


def test_sub_second_pieces_count() -> None:
    start = T0 + timedelta(seconds=3599.5)  # half a second of the 1 g/kWh hour is left
    base = run_now(series([1, 9]), H, start=start)
    assert base.emissions_g == pytest.approx((0.5 * 1 + 3599.5 * 9) / 3600)
    # Pause and Resume uses that half second too, and the rest at 5 g/kWh
    plan = pause_and_resume(series([1, 9, 5]), H, H, start=start)
    assert spans(plan.intervals) == [(start, T0 + H), (T0 + 2 * H, start + 2 * H)]
    assert plan.emissions_g == pytest.approx((0.5 * 1 + 3599.5 * 5) / 3600)


def test_partial_step_between_two_chosen_steps_joins_the_earlier() -> None:
    plan = pause_and_resume(series([1, 5, 1, 9]), timedelta(hours=2.5), 1.5 * H, start=T0)
    assert spans(plan.intervals) == [(T0, T0 + timedelta(hours=1.5)), (T0 + 2 * H, T0 + 3 * H)]
    assert plan.pauses == 1


def test_measured_plans_are_not_estimated_and_keep_their_fields() -> None:
    s = series([4, 2, 3])
    for plan in (
        flexible_start(s, H, H, start=T0),
        pause_and_resume(s, H, 1.0, start=T0),
        run_now(s, H, start=T0),
    ):
        assert not plan.estimated
        assert plan.flags == ("per-kwh",)
        assert not any(iv.estimated for iv in plan.intervals)
    base = run_now(s, 2 * H, start=T0 + H)
    assert base.window_s == 0.0
    assert base.deadline == T0 + 3 * H == base.end
    assert base.strategy == "baseline"


def test_default_start_is_the_series_start() -> None:
    plan = flexible_start(series([5, 1, 5]), H, 2 * H)
    assert plan.earliest_start == T0
    assert plan.start == T0 + H
    assert run_now(series([5, 1, 5], T0 + H), H).start == T0 + H


def test_savings_below_one_gram() -> None:
    plan = flexible_start(series([0.5, 0.25]), H, H, start=T0)
    assert plan.baseline_emissions_g == 0.5
    assert plan.savings_fraction == pytest.approx(0.5)


def test_unequal_profile_segments_weigh_by_energy_not_length() -> None:
    """A 3 h job spending half its energy in its first hour and half in the next two: from
    00:00 it costs 0.5 * 10 + 0.5 * 1 = 5.5, from 01:00 0.5 * 1 + 0.5 * 5 = 3."""
    profile = [(H, 1.0), (2 * H, 1.0)]
    plan = flexible_start(series([10, 1, 1, 9]), 3 * H, H, start=T0, energy_profile=profile)
    assert plan.start == T0 + H
    assert plan.emissions_g == pytest.approx(3.0)
    assert plan.baseline_emissions_g == pytest.approx(5.5)


# -------------------------------------------------------------- tolerance at the data edges


def test_a_microsecond_past_the_data_is_within_tolerance() -> None:
    s = series([4, 2, 3])
    early = run_now(s, H, start=T0 - US)
    assert early.emissions_g == pytest.approx(4.0)
    assert "typical-fill" not in early.flags
    late = run_now(s, 3 * H, start=T0 + US)  # ends 1 us after the data
    assert late.emissions_g == pytest.approx(3.0)
    assert "typical-fill" not in late.flags


def test_a_start_within_tolerance_before_the_data_does_not_use_the_filler() -> None:
    """The data (5, 1, 5 g/kWh) is filled after its end; a start 1 us before it is the data's
    start: nothing the plan or the baseline uses is estimated."""
    filler = series([9] * 10, T0 - 2 * H, estimated=False)
    plan = pause_and_resume(series([5, 1, 5]), H, 4 * H, start=T0 - US, fill=filler)
    assert "typical-fill" in plan.flags
    assert "intensity-estimated" not in plan.flags
    assert plan.emissions_g == pytest.approx(1.0)


# --------------------------------------------------------------------------------- filling


FILL7 = series([7] * 48, T0 - 12 * H, estimated=False)


def test_fill_after_the_data() -> None:
    """Data 9 g/kWh for 3 h, filler 7 g/kWh: a 2 h job from 02:30 runs 30 min on data."""
    plan = run_now(series([9, 9, 9]), 2 * H, start=T0 + timedelta(hours=2.5), fill=FILL7)
    assert plan.emissions_g == pytest.approx((0.5 * 9 + 1.5 * 7) / 2)
    assert "typical-fill" in plan.flags and "intensity-estimated" in plan.flags


def test_fill_from_the_end_of_the_data_or_later_is_all_filler() -> None:
    for start in (T0 + 3 * H, T0 + 5 * H):
        plan = run_now(series([9, 9, 9]), H, start=start, fill=FILL7)
        assert plan.emissions_g == 7.0
        assert plan.flags == ("typical-fill", "per-kwh", "intensity-estimated")


def test_fill_before_the_data() -> None:
    s = series([9, 9, 9])
    plan = run_now(s, 2 * H, start=T0 - H, fill=FILL7)
    assert plan.emissions_g == pytest.approx(8.0)
    short = run_now(s, timedelta(hours=1.5), start=T0 - H, fill=FILL7)
    assert short.emissions_g == pytest.approx((7 + 0.5 * 9) / 1.5)
    assert "typical-fill" in short.flags and "intensity-estimated" in short.flags
    before = run_now(s, H, start=T0 - 3 * H, fill=FILL7)  # ends where the data begins
    assert before.emissions_g == 7.0 and "typical-fill" in before.flags


def test_a_start_a_microsecond_before_a_filler_step_is_filled() -> None:
    """The filler's part before the data starts with a sub-microsecond sliver of a step."""
    plan = run_now(series([9, 9, 9]), 3 * H, start=T0 - 2 * H - US, fill=FILL7)
    assert plan.emissions_g == pytest.approx((2 * 7 + 9) / 3)
    assert "intensity-estimated" in plan.flags


def test_fill_around_the_data_uses_each_part_of_the_filler() -> None:
    front = series([7, 7], T0 - 2 * H)  # ends where the data begins
    back = series([6, 6], T0 + 3 * H)  # starts where the data ends
    s = series([9, 9, 9])
    plan = run_now(s, 5 * H, start=T0 - 2 * H, fill=front)  # ends where the data ends
    assert plan.emissions_g == pytest.approx((2 * 7 + 3 * 9) / 5)
    after = run_now(s, 5 * H, start=T0, fill=back)
    assert after.emissions_g == pytest.approx((3 * 9 + 2 * 6) / 5)


def test_fill_errors_say_what_the_filler_covers_and_what_is_needed() -> None:
    s = series([9, 9, 9])
    front = series([7, 7], T0 - H, lengths_h=[0.5, 0.5])
    with pytest.raises(DataRangeError) as before:
        run_now(s, 5 * H, start=T0 - 2 * H, fill=front)
    assert (
        f"the fill series covers {(T0 - H).isoformat()} to {T0.isoformat()}, but "
        f"{(T0 - 2 * H).isoformat()} to {T0.isoformat()} is needed"
    ) in str(before.value)
    back = series([6, 6], T0 + 3 * H, lengths_h=[0.5, 0.5])
    with pytest.raises(DataRangeError) as after:
        run_now(s, 5 * H, start=T0, fill=back)
    assert (f"but {(T0 + 3 * H).isoformat()} to {(T0 + 5 * H).isoformat()} is needed") in str(
        after.value
    )


def test_filler_values_are_flagged_estimated_and_data_values_are_not() -> None:
    """A user's filler flagged measured is still estimated in the plan; the data is not."""
    s = series([5, 1, 5])
    plan = pause_and_resume(s, H, 4 * H, start=T0, fill=FILL7)
    assert plan.emissions_g == 1.0
    assert "typical-fill" in plan.flags and "intensity-estimated" not in plan.flags
    front = run_now(s, H, start=T0 - H, fill=FILL7)
    assert front.emissions_g == 7.0 and "intensity-estimated" in front.flags
    assert front.intervals[0].estimated


def test_fill_typical_follows_the_series_basis() -> None:
    region = Region(provider=None, code="DE", zone="DE", source="explicit")
    for basis in ("direct", "lifecycle"):
        source = IntensitySource(provider="test", zone="DE", basis=basis)
        s = series([100.0], T0, source=source)
        plan = run_now(s, 3 * H, start=T0 + H, fill="typical")
        typical = EmbeddedProvider(basis=basis).typical_series(region, T0 + H, T0 + 4 * H)
        assert plan.emissions_g == pytest.approx(sum(typical.values_g_per_kwh) / 3)
    unknown = series([100.0], T0, source=IntensitySource(provider="t", zone="DE"))
    plan = run_now(unknown, 3 * H, start=T0 + H, fill="typical")  # basis "unknown": lifecycle
    typical = EmbeddedProvider(basis="lifecycle").typical_series(region, T0 + H, T0 + 4 * H)
    assert plan.emissions_g == pytest.approx(sum(typical.values_g_per_kwh) / 3)


def test_typical_fill_flag_only_when_filled() -> None:
    s = series([3, 2, 1])
    assert run_now(s, H, start=T0 + 2 * H, fill=FILL7).flags == ("per-kwh",)
    assert flexible_start(s, H, H, start=T0, fill=FILL7).flags == ("per-kwh",)
    assert pause_and_resume(s, H, 1.0, start=T0, fill=FILL7).flags == ("per-kwh",)
    assert "typical-fill" in run_now(s, 2 * H, start=T0 + 2 * H, fill=FILL7).flags


def test_missing_data_message_names_zone_and_range() -> None:
    s = series([1, 2])
    with pytest.raises(DataRangeError) as zoned:
        run_now(s, 3 * H, start=T0)
    assert str(zoned.value).startswith(
        f"the intensity data for DE (test) covers {T0.isoformat()} to {(T0 + 2 * H).isoformat()}"
    )
    bare = series([1, 2], source=IntensitySource(provider="test"))
    with pytest.raises(DataRangeError) as unzoned:
        run_now(bare, 3 * H, start=T0)
    assert str(unzoned.value).startswith("the intensity data (test) covers")


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("energy", [True, math.nan, math.inf, -0.5])
def test_energy_must_be_a_finite_number_of_kwh(energy: object) -> None:
    with pytest.raises(ConfigurationError, match="energy_kwh="):
        run_now(series([1]), H, start=T0, energy_kwh=energy)  # type: ignore[arg-type]


@pytest.mark.parametrize("energy", [0.0, 0.5])
def test_small_energies_are_accepted(energy: float) -> None:
    plan = run_now(series([10]), H, start=T0, energy_kwh=energy)
    assert plan.emissions_g == pytest.approx(10 * energy)
    assert plan.energy_kwh == energy


@pytest.mark.parametrize("pue", [True, "1.5", math.inf, 0.99])
def test_pue_must_be_a_number_of_at_least_one(pue: object) -> None:
    with pytest.raises(ConfigurationError, match="pue="):
        run_now(series([1]), H, start=T0, pue=pue)  # type: ignore[arg-type]


def test_series_values_must_be_numbers() -> None:
    with pytest.raises(ConfigurationError, match="series value True"):
        run_now([(T0, True)], H)


@pytest.mark.parametrize(
    ("profile", "match"),
    [
        (5, "energy_profile=5"),
        ([(0, 1.0), (3600, 1.0)], "segment length 0"),
        ([(-600, 1.0), (4200, 1.0)], "segment length -600"),
        ([(True, 1.0), (3599, 1.0)], "segment length True"),
        ([(math.inf, 1.0)], "segment length inf"),
        ([(1800, True), (1800, 1.0)], "energy True"),
        ([1.0, math.inf], "value inf"),
        ([-1.0, -2.0, 1.0], r"value -1\.0"),
        ([(1800.25, 1.0), (1800.25, 1.0)], "add up to"),
    ],
)
def test_bad_energy_profiles_are_rejected(profile: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        make_profile(profile, 3600.0)


def test_profile_segments_are_rescaled_within_the_tolerance() -> None:
    """Recorded segment lengths may miss the duration by float noise (up to 1 ppm, or 1 ms):
    they are rescaled to add up to it exactly."""
    p = make_profile([(1800.001, 1.0), (1800.001, 3.0)], 3600.0)
    assert p.u_s == pytest.approx((0.0, 1800.0, 3600.0), abs=1e-9)
    assert p.cum == (0.0, 0.25, 1.0)
    tiny = make_profile([(0.5, 1.0), (3599.5, 1.0)], 3600.0)  # segments under a second
    assert tiny.u_s == pytest.approx((0.0, 0.5, 3600.0))


def test_merge_runs_joins_touching_and_contained_runs() -> None:
    assert merge_runs([(5.0, 10.0), (0.0, 1.0), (6.0, 7.0)]) == [(0.0, 1.0), (5.0, 10.0)]
    assert merge_runs([(-1.0, 0.0), (1e-6, 1.0)]) == [(-1.0, 1.0)]  # a gap of EPS_S: joined
    assert merge_runs([(0.0, 1.0), (2.0, 3.0)]) == [(0.0, 1.0), (2.0, 3.0)]


def test_costs_within_the_tie_tolerance_go_to_the_earliest() -> None:
    assert pick_earliest_min([1e-12, 0.0]) == 0
    assert pick_earliest_min([2e-12, 0.0]) == 1
    assert pick_earliest_min([3.0, 1.0, 1.0]) == 1
