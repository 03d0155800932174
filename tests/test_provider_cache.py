"""The on-disk intensity cache and the assembly of fetched steps into a series."""

from __future__ import annotations

import json
import math
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.intensity.cache import CacheKey, IntensityCache
from carbonsdk.intensity.live import (
    cached_fetch,
    ceil_hour_s,
    floor_hour_s,
    hour_windows,
    iso_z,
    parse_wire_time,
    resolve_cache,
    steps_to_series,
)
from carbonsdk.model.intensity import IntensitySource

H = 3600.0
T0 = 1_700_000_000.0 - (1_700_000_000.0 % H)  # an hour boundary (2023-11-14T22:00Z)
KEY = CacheKey("electricitymaps", "DE", "average", "lifecycle", "history")
SOURCE = IntensitySource(provider="electricitymaps", zone="DE", basis="lifecycle")


class Clock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


Step = tuple[float, float, float, bool]


def steps(n: int, start_s: float = T0, value: float = 100.0) -> list[Step]:
    return [(start_s + i * H, start_s + (i + 1) * H, value + i, i % 2 == 1) for i in range(n)]


def test_hour_helpers() -> None:
    assert floor_hour_s(T0 + 10) == T0 and ceil_hour_s(T0 + 10) == T0 + H
    assert ceil_hour_s(T0) == T0
    assert hour_windows(T0 + 10, T0 + 25 * H + 1, 10 * H) == [
        (T0, T0 + 10 * H),
        (T0 + 10 * H, T0 + 20 * H),
        (T0 + 20 * H, T0 + 26 * H),
    ]
    assert hour_windows(T0 + 5, T0 + 5, 10 * H) == [(T0, T0 + H)]


def test_roundtrip_and_covering_lookup(tmp_path: Path) -> None:
    clock = Clock(T0 + 30 * H)
    cache = IntensityCache(tmp_path, now_s=clock)
    data = steps(24)
    cache.put(KEY, T0, T0 + 24 * H, data)
    assert cache.get(KEY, T0, T0 + 24 * H) == data
    assert cache.get(KEY, T0 + 2 * H, T0 + 5 * H) == data  # a window inside the entry
    assert cache.get(KEY, T0 - H, T0 + 5 * H) is None  # not covered
    other = CacheKey("electricitymaps", "DE", "average", "direct", "history")
    assert cache.get(other, T0, T0 + H) is None
    path = cache.path_for(KEY, T0, T0 + 24 * H)
    assert path.exists() and path.parent == tmp_path / "electricitymaps" / "DE"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp")]


def test_recent_history_expires_settled_history_never(tmp_path: Path) -> None:
    clock = Clock(T0 + 2 * H)
    cache = IntensityCache(tmp_path, now_s=clock)
    cache.put(KEY, T0, T0 + 2 * H, steps(2))
    clock.now_s += 14 * 60
    assert cache.get(KEY, T0, T0 + 2 * H) is not None
    clock.now_s += 2 * 60  # 16 minutes after the fetch: recent data is stale
    assert cache.get(KEY, T0, T0 + 2 * H) is None

    old_lo = T0 - 10 * 86400
    cache.put(KEY, old_lo, old_lo + 2 * H, steps(2, old_lo))
    clock.now_s += 365 * 86400
    assert cache.get(KEY, old_lo, old_lo + 2 * H) == steps(2, old_lo)


def test_forecast_ttl(tmp_path: Path) -> None:
    clock = Clock(T0)
    cache = IntensityCache(tmp_path, now_s=clock)
    key = CacheKey("ukgrid", "GB", "average", "direct", "forecast")
    cache.put(key, T0, T0 + 48 * H, steps(48))
    clock.now_s += 29 * 60
    assert cache.get(key, T0 + H, T0 + 3 * H) is not None
    clock.now_s += 2 * 60
    assert cache.get(key, T0 + H, T0 + 3 * H) is None


def test_corrupted_and_foreign_files_are_ignored(tmp_path: Path) -> None:
    clock = Clock(T0 + 100 * 86400)
    cache = IntensityCache(tmp_path, now_s=clock)
    path = cache.path_for(KEY, T0, T0 + 2 * H)
    path.parent.mkdir(parents=True)
    path.write_text('{"schema": 1, "provider": "electricitymaps", "ste')
    assert cache.get(KEY, T0, T0 + H) is None
    doc = {
        "schema": 1,
        "provider": "watttime",
        "zone": "DE",
        "signal": "average",
        "basis": "lifecycle",
        "kind": "history",
        "start_s": T0,
        "end_s": T0 + 2 * H,
        "fetched_at_s": clock.now_s,
        "steps": [[T0, T0 + H, 1.0, False]],
    }
    path.write_text(json.dumps(doc))
    assert cache.get(KEY, T0, T0 + H) is None  # provider mismatch
    doc["provider"] = "electricitymaps"
    doc["steps"] = [[T0, T0 + H, "lots", False]]
    path.write_text(json.dumps(doc))
    assert cache.get(KEY, T0, T0 + H) is None
    (path.parent / "history_average_lifecycle_x_y.json").write_text("{}")
    cache.put(KEY, T0, T0 + 2 * H, steps(2))  # a good write replaces the bad file
    assert cache.get(KEY, T0, T0 + H) == steps(2)


def test_unwritable_directory_is_a_miss_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    cache = IntensityCache(blocker / "cache", now_s=Clock(T0))
    cache.put(KEY, T0, T0 + H, steps(1))
    assert cache.get(KEY, T0, T0 + H) is None


def test_empty_fetch_is_not_stored(tmp_path: Path) -> None:
    cache = IntensityCache(tmp_path, now_s=Clock(T0))
    cache.put(KEY, T0, T0 + H, [])
    assert not any(tmp_path.rglob("*.json"))


def test_zone_names_are_made_safe(tmp_path: Path) -> None:
    cache = IntensityCache(tmp_path, now_s=Clock(T0 + H))
    key = CacheKey("electricitymaps", "../../etc", "average", "lifecycle")
    cache.put(key, T0, T0 + H, steps(1))
    (written,) = list(tmp_path.rglob("*.json"))
    assert tmp_path in written.parents and ".." not in written.relative_to(tmp_path).parts
    assert cache.get(key, T0, T0 + H) == steps(1)


def test_default_directory_follows_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONSDK_CACHE_DIR", str(tmp_path / "here"))
    assert IntensityCache().directory == tmp_path / "here"
    default = resolve_cache(None)
    assert default is not None and default.directory == tmp_path / "here"
    assert resolve_cache(False) is None
    mine = IntensityCache(tmp_path)
    assert resolve_cache(mine) is mine


def test_cached_fetch_fetches_misses_only(tmp_path: Path) -> None:
    cache = IntensityCache(tmp_path, now_s=Clock(T0 + 200 * 86400))
    fetched: list[tuple[float, float]] = []

    def fetch(lo: float, hi: float) -> list[Step]:
        fetched.append((lo, hi))
        return steps(int((hi - lo) / H), lo)

    windows = [(T0, T0 + 10 * H), (T0 + 10 * H, T0 + 12 * H)]
    first = cached_fetch(cache, KEY, windows, fetch)
    again = cached_fetch(cache, KEY, windows, fetch)
    assert first == again and fetched == windows
    offline = cached_fetch(cache, KEY, windows, fetch, offline=True)
    assert offline == first
    with pytest.raises(ProviderError, match="CARBONSDK_OFFLINE"):
        cached_fetch(cache, KEY, [(T0 - H, T0)], fetch, offline=True)
    assert cached_fetch(None, KEY, windows[:1], fetch) == first[:10]
    assert len(fetched) == 3


def test_steps_to_series_clips_and_flags() -> None:
    raw = steps(4)
    series = steps_to_series(raw, T0 + 0.5 * H, T0 + 3.5 * H, SOURCE)
    assert series.boundaries_s == (T0 + 0.5 * H, T0 + H, T0 + 2 * H, T0 + 3 * H, T0 + 3.5 * H)
    assert series.values_g_per_kwh == (100.0, 101.0, 102.0, 103.0)
    assert series.estimated == (False, True, False, True)
    assert series.source.estimated is True
    clean = steps_to_series([(T0, T0 + H, 5.0, False)], T0, T0 + H, SOURCE)
    assert clean.source.estimated is False


def test_steps_to_series_fills_short_gaps_and_edges() -> None:
    raw = [(T0 + H, T0 + 2 * H, 10.0, False), (T0 + 3 * H, T0 + 4 * H, 30.0, False)]
    series = steps_to_series(raw, T0, T0 + 6 * H, SOURCE, max_fill_s=2 * H)
    assert series.boundaries_s == (T0, T0 + H, T0 + 2 * H, T0 + 3 * H, T0 + 4 * H, T0 + 6 * H)
    assert series.values_g_per_kwh == (10.0, 10.0, 10.0, 30.0, 30.0)
    assert series.estimated == (True, False, True, False, True)
    with pytest.raises(ProviderError, match=r"gap of 3\.0 h"):
        steps_to_series(raw, T0, T0 + 7 * H, SOURCE, max_fill_s=2 * H)


def test_steps_to_series_overlaps_duplicates_and_bad_values() -> None:
    raw = [
        (T0 + H, T0 + 3 * H, 20.0, False),  # overlaps the next step: cut at its start
        (T0, T0 + H, 1.0, False),
        (T0, T0 + H, 2.0, True),  # same start, later wins
        (T0 + 2 * H, T0 + 3 * H, math.nan, False),  # dropped
        (T0 + 2 * H, T0 + 3 * H, 30.0, False),
        (T0 + 3 * H, T0 + 4 * H, -1.0, False),  # dropped: filled by holding 30
    ]
    series = steps_to_series(raw, T0, T0 + 4 * H, SOURCE)
    assert series.values_g_per_kwh == (2.0, 20.0, 30.0, 30.0)
    assert series.estimated == (True, False, False, True)


def test_steps_to_series_errors() -> None:
    with pytest.raises(ProviderError, match="no electricitymaps data for zone DE"):
        steps_to_series(steps(2), T0 + 5 * H, T0 + 6 * H, SOURCE)
    with pytest.raises(ConfigurationError, match="empty time range"):
        steps_to_series(steps(2), T0 + H, T0 + H, SOURCE)


def test_cache_files_hold_values_only(tmp_path: Path) -> None:
    cache = IntensityCache(tmp_path, now_s=Clock(T0 + H))
    cache.put(KEY, T0, T0 + H, steps(1))
    (path,) = list(tmp_path.rglob("*.json"))
    doc = json.loads(path.read_text())
    assert set(doc) == {
        "schema",
        "provider",
        "zone",
        "signal",
        "basis",
        "kind",
        "endpoint_id",
        "start_s",
        "end_s",
        "fetched_at_s",
        "steps",
    }


def test_endpoint_is_part_of_the_key_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    """Two providers of the same name at different base URLs never share entries."""
    cache = IntensityCache(tmp_path, now_s=Clock(T0 + H))
    a = CacheKey("electricitymaps", "DE", "average", "lifecycle", "history", "https://a.example/v4")
    b = attrs.evolve(a, endpoint="https://b.example/v4")
    cache.put(a, T0, T0 + H, [(T0, T0 + H, 111.0, False)])
    assert cache.get(a, T0, T0 + H) == [(T0, T0 + H, 111.0, False)]
    assert cache.get(b, T0, T0 + H) is None
    assert cache.get(attrs.evolve(a, endpoint=""), T0, T0 + H) is None
    cache.put(b, T0, T0 + H, [(T0, T0 + H, 222.0, False)])
    assert cache.get(a, T0, T0 + H) == [(T0, T0 + H, 111.0, False)]
    assert cache.get(b, T0, T0 + H) == [(T0, T0 + H, 222.0, False)]
    for path in tmp_path.rglob("*"):
        text = path.name + (path.read_text() if path.is_file() else "")
        assert "example" not in text  # the URL itself is never written


raw_steps = st.lists(
    st.tuples(
        st.integers(0, 40),  # start, in quarter hours
        st.integers(1, 12),  # length, in quarter hours
        st.floats(0, 2000, allow_nan=False),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(raw=raw_steps, a=st.integers(0, 50), span=st.integers(1, 30))
def test_steps_to_series_matches_a_brute_force_reference(
    raw: list[tuple[int, int, float, bool]], a: int, span: int
) -> None:
    q = 900.0
    items = [(T0 + s * q, T0 + (s + n) * q, v, est) for s, n, v, est in raw]
    start_s, end_s = T0 + a * q, T0 + (a + span) * q
    # reference: later duplicates win, each step cut at the next start, then the steps that
    # overlap the range; a gap holds the previous value (the first one before any), estimated
    by_start = {s: (s, e, v, est) for s, e, v, est in items}
    ordered = sorted(by_start.values())
    cut = [
        (s, min(e, ordered[i + 1][0]) if i + 1 < len(ordered) else e, v, est)
        for i, (s, e, v, est) in enumerate(ordered)
    ]
    relevant = [c for c in cut if c[1] > start_s and c[0] < end_s]
    if not relevant:
        with pytest.raises(ProviderError):
            steps_to_series(items, start_s, end_s, SOURCE, max_fill_s=math.inf)
        return
    series = steps_to_series(items, start_s, end_s, SOURCE, max_fill_s=math.inf)
    assert series.boundaries_s[0] == start_s and series.boundaries_s[-1] == end_s

    def expected(t: float) -> tuple[float, bool]:
        for s, e, v, est in relevant:
            if s <= t < e:
                return v, est
        earlier = [c for c in relevant if c[1] <= t]
        return (earlier[-1][2] if earlier else relevant[0][2]), True

    for k in range(span * 3):
        t = start_s + (k + 0.5) * q / 3
        i = series.index_at(t)
        assert i is not None
        assert (series.values_g_per_kwh[i], series.estimated[i]) == expected(t)
    assert series.source.estimated == any(series.estimated)


def test_wire_time_helpers() -> None:
    assert iso_z(1_714_564_800.0) == "2024-05-01T12:00:00Z"
    assert iso_z(1_714_564_800.0, seconds=False) == "2024-05-01T12:00Z"
    assert parse_wire_time("2024-05-01T12:00:00.000Z") == 1_714_564_800.0
    assert parse_wire_time("2024-05-01T13:00:00+01:00") == 1_714_564_800.0
    with pytest.raises(ValueError, match="offset"):
        parse_wire_time("2024-05-01T12:00:00")
    with pytest.raises(ValueError, match="string"):
        parse_wire_time(12)
