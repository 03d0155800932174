"""The energy timeline: tiling, gap filling, bounded memory, exact energy under coarsening."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsdk.timeline import COARSEN_LEVELS_S, TimelineBuilder, bucketize

T0 = 1_700_000_003.25  # deliberately not on a grid boundary


def test_add_tiles_and_fills_gaps() -> None:
    tl = TimelineBuilder(["cpu", "gpu"])
    tl.add(T0, T0 + 1, {"cpu": 10.0, "gpu": 100.0})
    tl.add(T0 + 2, T0 + 3, {"cpu": 5.0})  # gap [T0+1, T0+2) becomes a zero interval
    snap = tl.snapshot()
    assert snap.starts_s == (T0, T0 + 1, T0 + 2)
    assert snap.ends_s == (T0 + 1, T0 + 2, T0 + 3)
    assert snap.energy_j["cpu"] == (10.0, 0.0, 5.0)
    assert snap.energy_j["gpu"] == (100.0, 0.0, 0.0)
    assert tl.total_j() == 115.0


def test_overlapping_and_empty_intervals_are_clipped() -> None:
    tl = TimelineBuilder(["cpu"])
    tl.add(T0, T0 + 2, {"cpu": 2.0})
    tl.add(T0 + 1, T0 + 2, {"cpu": 1.0})  # fully before the end: dropped
    tl.add(T0 + 3, T0 + 3, {"cpu": 1.0})  # zero length: dropped
    assert len(tl) == 1


def test_snapshot_since_prorates_first_interval() -> None:
    tl = TimelineBuilder(["cpu"])
    tl.add(T0, T0 + 4, {"cpu": 8.0})
    tl.add(T0 + 4, T0 + 6, {"cpu": 2.0})
    snap = tl.snapshot(since_s=T0 + 3)
    assert snap.starts_s == (T0 + 3, T0 + 4)
    assert snap.energy_j["cpu"] == pytest.approx((2.0, 2.0))


def _array_bytes(tl: TimelineBuilder) -> int:
    arrays = [tl._starts, tl._ends, *tl._energy.values()]
    return sum(a.buffer_info()[1] * a.itemsize for a in arrays)


def test_eight_day_run_at_one_second_is_bounded_and_exact() -> None:
    n = 8 * 86_400
    tl = TimelineBuilder(["gpu", "cpu", "ram"])
    expected = 0.0
    biggest = 0
    for i in range(n):
        gpu = 300.0 + (i % 600) * 0.1
        tl.add(T0 + i, T0 + i + 1, {"gpu": gpu, "cpu": 50.0, "ram": 5.0})
        expected += gpu + 55.0
        if i % 10_000 == 0:
            biggest = max(biggest, len(tl))
    # the timeline itself stays a few hundred kB (peak process memory: benchmarks/long_run.py)
    assert _array_bytes(tl) < 1_000_000
    # at most the 5-minute buckets of the whole run plus max_intervals of finer ones
    bound = n // 300 + 1 + 4096
    assert biggest <= bound and len(tl) <= bound
    snap = tl.snapshot()
    assert math.isclose(snap.total_j(), expected, rel_tol=1e-9)
    assert snap.starts_s[0] == T0 and snap.ends_s[-1] == T0 + n
    for e, s2 in zip(snap.ends_s, snap.starts_s[1:], strict=False):
        assert e == s2  # gap-free
    longest = max(e - s for s, e in zip(snap.starts_s, snap.ends_s, strict=True))
    assert longest <= 300.0
    # coarse buckets are aligned to the UTC 5-minute grid: none straddles a boundary
    for s, e in zip(snap.starts_s, snap.ends_s, strict=True):
        if e - s > 1.0:
            assert math.floor(s / 300.0) == math.floor((e - 1e-6) / 300.0)
    # the newest data keeps full resolution
    assert snap.ends_s[-1] - snap.starts_s[-1] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.floats(0.01, 700.0), min_size=1, max_size=60),
    level=st.sampled_from(COARSEN_LEVELS_S),
)
def test_bucketize_conserves_energy_and_tiles(durations: list[float], level: float) -> None:
    starts, ends, joules = [], [], []
    t = T0
    for i, d in enumerate(durations):
        starts.append(t)
        ends.append(t + d)
        joules.append(float(i + 1) * d)
        t += d
    s, e, j = bucketize(starts, ends, {"cpu": joules}, level)
    assert math.isclose(sum(j["cpu"]), sum(joules), rel_tol=1e-9)
    assert s[0] == starts[0] and e[-1] == pytest.approx(ends[-1])
    for a, b in zip(e, s[1:], strict=False):
        assert a == pytest.approx(b)
    for a, b in zip(s, e, strict=True):
        # merged buckets never exceed the level unless an input interval was already longer
        assert b - a <= max(level, max(durations)) + 1e-6


def test_rejects_tiny_max() -> None:
    with pytest.raises(ValueError, match="max_intervals"):
        TimelineBuilder(["cpu"], max_intervals=3)


def test_small_budget_keeps_the_documented_bound() -> None:
    """A partial 5-minute bucket left at the end of a coarsening pass is merged again later:
    3 h of 1 s samples with max_intervals=64 stay within n // 300 + 1 + max_intervals."""
    from carbonsdk.timeline import TimelineBuilder

    builder = TimelineBuilder(("gpu",), max_intervals=64)
    start = 1_700_000_000.0
    n = 3 * 3600
    for i in range(n):
        builder.add(start + i, start + i + 1, {"gpu": 1.0})
    snap = builder.snapshot()
    assert len(snap) <= n // 300 + 1 + 64
    assert snap.total_j("gpu") == pytest.approx(float(n))
    assert snap.starts_s[0] == start and snap.ends_s[-1] == start + n
