"""Timeline contracts the existing tests leave open (found by mutation testing, see
docs/testing.md): the smallest accepted budget, ``snapshot(since_s)`` at exact boundaries and
past the end, and what coarsening keeps: the newest ``max_intervals // 4`` samples at full
resolution, older ones at the finest grid that fits, and the oldest at the 5-minute grid."""

from __future__ import annotations

import math

import pytest

from carbonsdk.timeline import TimelineBuilder, bucketize

T0 = 1_700_000_100.0  # a multiple of 300 s: on the UTC 5-minute grid
assert T0 % 300.0 == 0.0


def one_second_samples(tl: TimelineBuilder, seconds: int, start: float = T0) -> None:
    for i in range(seconds):
        tl.add(start + i, start + i + 1, {"cpu": 2.0})


def test_smallest_documented_budget_is_accepted() -> None:
    tl = TimelineBuilder(["cpu"], max_intervals=16)
    one_second_samples(tl, 100)
    assert tl.total_j() == 200.0


def test_snapshot_since_an_exact_boundary_starts_there() -> None:
    tl = TimelineBuilder(["cpu"])
    one_second_samples(tl, 4)
    snap = tl.snapshot(since_s=T0 + 2)
    assert snap.starts_s == (T0 + 2, T0 + 3)
    assert snap.energy_j["cpu"] == (2.0, 2.0)


def test_snapshot_since_after_the_end_is_empty() -> None:
    tl = TimelineBuilder(["cpu"])
    one_second_samples(tl, 4)
    snap = tl.snapshot(since_s=T0 + 10)
    assert len(snap) == 0
    assert snap.total_j() == 0.0


def test_newest_quarter_of_the_budget_keeps_full_resolution() -> None:
    tl = TimelineBuilder(["cpu"], max_intervals=64)
    for i in range(400):
        tl.add(T0 + i, T0 + i + 1, {"cpu": 2.0})
        if i >= 16:
            snap = tl.snapshot()
            newest = [e - s for s, e in zip(snap.starts_s[-16:], snap.ends_s[-16:], strict=True)]
            assert newest == [1.0] * 16, i


def test_older_samples_use_the_finest_grid_that_fits() -> None:
    # budget for the coarsened part: max_intervals // 2 - newest quarter = 32 - 16 = 16 buckets
    tl = TimelineBuilder(["cpu"], max_intervals=64)
    one_second_samples(tl, 150)  # <= 134 s to coarsen: 14 ten-second buckets fit
    snap = tl.snapshot()
    lengths = [e - s for s, e in zip(snap.starts_s, snap.ends_s, strict=True)]
    assert max(lengths) == 10.0
    one_second_samples(tl, 150, start=T0 + 150)  # 284 s: 29 ten-second buckets do not fit
    snap = tl.snapshot()
    lengths = [e - s for s, e in zip(snap.starts_s, snap.ends_s, strict=True)]
    assert max(lengths) == 60.0
    assert math.isclose(snap.total_j(), 600.0)


def test_a_long_run_ends_up_on_the_five_minute_grid() -> None:
    tl = TimelineBuilder(["cpu"])  # the default budget, 4096 intervals
    n = 86_400
    one_second_samples(tl, n)
    snap = tl.snapshot()
    assert math.isclose(snap.total_j(), 2.0 * n)
    assert len(snap) <= n // 300 + 1 + 4096
    # the first 12 hours: whole, grid-aligned 5-minute buckets (the coarsest level)
    old = [(s, e) for s, e in zip(snap.starts_s, snap.ends_s, strict=True) if e <= T0 + 12 * 3600]
    assert len(old) == 12 * 3600 // 300
    assert all(e - s == 300.0 and s % 300.0 == 0.0 for s, e in old)


def test_bucketize_puts_each_samples_energy_in_its_own_bucket() -> None:
    starts = [T0 + i for i in range(20)]
    ends = [T0 + i + 1 for i in range(20)]
    joules = [1.0] * 10 + [3.0] * 10
    s, e, j = bucketize(starts, ends, {"cpu": joules}, 10.0)
    assert list(s) == [T0, T0 + 10]
    assert list(e) == [T0 + 10, T0 + 20]
    assert list(j["cpu"]) == [10.0, 30.0]


@pytest.mark.parametrize("offset_s", [0.0, 3.0])
def test_bucketize_keeps_intervals_already_as_long_as_the_level(offset_s: float) -> None:
    # a 10 s and a 15 s interval at level 10 are kept as they are, even off the grid
    start = T0 + offset_s
    starts = [start, start + 10.0]
    ends = [start + 10.0, start + 25.0]
    s, e, j = bucketize(starts, ends, {"cpu": [5.0, 7.0]}, 10.0)
    assert list(s) == starts and list(e) == ends
    assert list(j["cpu"]) == [5.0, 7.0]
