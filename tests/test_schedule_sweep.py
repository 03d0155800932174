"""The vectorised sweep against the plain brute-force reference and the per-start Plan API;
chunking, 5-minute data with bounded memory, and the SweepResult API."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsdk.exceptions import ConfigurationError, DataRangeError
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.schedule import (
    SweepJob,
    SweepWindow,
    flexible_start,
    pause_and_resume,
    reference_point,
    sweep,
)
from carbonsdk.schedule.sweep import WaveletMatrix, sweep_values

T0 = datetime(2022, 1, 1, tzinfo=UTC)
SRC = IntensitySource(provider="test", zone="XX")


def regular(
    values: list[float] | np.ndarray, step_s: float = 3600.0, start: datetime = T0
) -> IntensitySeries:
    b0 = start.timestamp()
    vals = [float(v) for v in values]
    return IntensitySeries(
        tuple(b0 + step_s * i for i in range(len(vals) + 1)), tuple(vals), (False,) * len(vals), SRC
    )


def test_wavelet_matrix_k_smallest() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 20, 300).astype(float)  # many ties
    wm = WaveletMatrix(values)
    lo = rng.integers(0, 250, 200)
    hi = lo + rng.integers(1, 50, 200)
    for m in (1, 2, 5, 17):
        ok = (hi - lo) >= m
        total, kth = wm.smallest(lo[ok], hi[ok], m)
        for t, k, a, b in zip(total, kth, lo[ok], hi[ok], strict=True):
            window = np.sort(values[a:b])
            assert t == pytest.approx(window[:m].sum())
            assert k == window[m - 1]


@st.composite
def sweep_cases(draw: st.DrawFn) -> tuple[list[float], float, float, list[SweepWindow], int]:
    n = draw(st.integers(min_value=20, max_value=60))
    ints = draw(st.booleans())
    elem = (
        st.integers(min_value=0, max_value=4).map(float)
        if ints
        else st.floats(min_value=0, max_value=900, allow_nan=False)
    )
    values = draw(st.lists(elem, min_size=n, max_size=n))
    step = draw(st.sampled_from([300.0, 3600.0]))
    job_steps = draw(st.sampled_from([0.3, 0.5, 1.0, 1.25, 2.0, 3.7, 5.0]))
    windows = [
        SweepWindow.parse(timedelta(seconds=step * draw(st.sampled_from([0, 0.5, 1, 2.5, 4])))),
        SweepWindow.parse(draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 1.6]))),
    ]
    chunk = draw(st.sampled_from([1, 3, 7, 1000]))
    return values, step, job_steps * step, windows, chunk


@settings(max_examples=150, deadline=None)
@given(sweep_cases())
def test_sweep_matches_brute_force(
    case: tuple[list[float], float, float, list[SweepWindow], int],
) -> None:
    values, step, job_s, windows, chunk = case
    base, opt = sweep_values(np.asarray(values), step, [job_s], windows, chunk_starts=chunk)
    n_starts = base.shape[1]
    assert n_starts >= 1
    for i in range(n_starts):
        for w, win in enumerate(windows):
            for strategy in ("flexible_start", "pause_and_resume"):
                b, o = reference_point(values, step, i, job_s, win.for_job(job_s), strategy)
                assert base[0, i] == pytest.approx(b, rel=1e-9, abs=1e-9)
                assert opt[strategy][0, w, i] == pytest.approx(o, rel=1e-9, abs=1e-7)
    # savings are never negative: both strategies include running now
    for strategy in opt:
        assert np.all(opt[strategy] <= base[:, None, :] + 1e-9)


@settings(max_examples=40, deadline=None)
@given(sweep_cases())
def test_sweep_matches_plan_api(
    case: tuple[list[float], float, float, list[SweepWindow], int],
) -> None:
    values, step, job_s, windows, _ = case
    s = regular(values, step)
    base, opt = sweep_values(np.asarray(values), step, [job_s], windows)
    for i in sorted({0, base.shape[1] // 2, base.shape[1] - 1}):
        start = T0 + timedelta(seconds=step * i)
        for w, win in enumerate(windows):
            w_s = win.for_job(job_s)
            fs = flexible_start(s, job_s, timedelta(seconds=w_s), start=start)
            pr = pause_and_resume(s, job_s, timedelta(seconds=w_s), start=start)
            assert fs.baseline_emissions_g == pytest.approx(base[0, i], rel=1e-9, abs=1e-9)
            assert fs.emissions_g == pytest.approx(
                opt["flexible_start"][0, w, i], rel=1e-9, abs=1e-7
            )
            assert pr.emissions_g == pytest.approx(
                opt["pause_and_resume"][0, w, i], rel=1e-9, abs=1e-7
            )


def test_chunking_does_not_change_results() -> None:
    rng = np.random.default_rng(1)
    values = rng.uniform(50, 600, 500)
    windows = [SweepWindow.parse(x) for x in ("6h", "24h", 0.5, 1.0)]
    jobs = [1800.0, 6 * 3600.0, 30 * 3600.0]
    ref = sweep_values(values, 3600.0, jobs, windows, chunk_starts=10_000)
    for chunk in (1, 17, 64):
        got = sweep_values(values, 3600.0, jobs, windows, chunk_starts=chunk)
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
        for k in ref[1]:
            np.testing.assert_allclose(got[1][k], ref[1][k], rtol=1e-12, atol=1e-9)


def test_five_minute_data_year_bounded_memory() -> None:
    # a year of 5-minute data plus 16 days, an 8-day job, every 5-minute start of the year
    n_year = 365 * 288
    n = n_year + 16 * 288 + 1
    t = np.arange(n)
    rng = np.random.default_rng(7)
    values = 300 + 120 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 25, n)
    s = regular(np.clip(values, 0, None), 300.0)
    windows = ["6h", "24h", "25%", "100%"]
    tracemalloc.start()
    result = sweep(
        s, [("8 days", "8d")], windows, starts=(T0, T0 + timedelta(days=365)), chunk_starts=8192
    )
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    z = result.zones[0]
    assert z.step_s == 300.0 and len(z.start_s) == n_year
    # memory: chunks of 8192 starts + one window, not a (starts x window) matrix (which
    # would be 105120 x 4608 floats = 3.9 GB); the output arrays are ~8 MB
    assert peak_mb < 150
    job_s = 8 * 86400.0
    for i in (0, 12345, n_year - 1):
        for w, win in enumerate(result.windows):
            for strategy in ("flexible_start", "pause_and_resume"):
                b, o = reference_point(
                    s.values_g_per_kwh, 300.0, i, job_s, win.for_job(job_s), strategy
                )
                assert z.baseline_g_per_kwh[0, i] == pytest.approx(b, rel=1e-9)
                assert z.optimised_g_per_kwh[strategy][0, w, i] == pytest.approx(o, rel=1e-9)


def test_sweep_result_api() -> None:
    rng = np.random.default_rng(5)
    a = regular(rng.uniform(100, 500, 24 * 12))
    b = regular(300 + 200 * np.sin(np.arange(24 * 12) * 2 * np.pi / 24))
    jobs: list[SweepJob | tuple[str, timedelta] | str] = [
        SweepJob("short", 1800.0, 0.1),
        ("long", timedelta(hours=30)),
        "2h",
    ]
    result = sweep(
        {"A": a, "B": b}, jobs, ["6h", "24h", 0.5, "100%"], starts=(T0, T0 + timedelta(days=3))
    )
    assert [j.name for j in result.jobs] == ["short", "long", "2h"]
    assert [w.label for w in result.windows] == ["6h", "24h", "50%", "100%"]
    assert [z.zone for z in result.zones] == ["A", "B"]
    zb = result.zone("B")
    assert zb.start_s[0] == T0.timestamp() and len(zb.start_s) == 72
    for strategy in ("flexible_start", "pause_and_resume"):
        sav = zb.savings(strategy)
        assert sav.shape == (3, 4, 72)
        assert np.all(sav >= -1e-12) and np.all(sav < 1)
        assert result.mean_savings(strategy).shape == (3, 4)
        assert result.zone_mean_savings(strategy).shape == (2, 3, 4)
    # the sinusoidal zone rewards waiting: a short job saves more with 24 h than 6 h
    fs = result.zone_mean_savings("flexible_start")[1]
    assert fs[0, 1] > fs[0, 0] > 0
    # P&R is never worse than FS for the same window
    assert np.all(
        result.mean_savings("pause_and_resume") >= result.mean_savings("flexible_start") - 1e-12
    )
    with pytest.raises(KeyError):
        result.zone("C")


def test_sweep_errors() -> None:
    s = regular([1.0] * 30)
    with pytest.raises(DataRangeError, match="steps"):
        sweep(s, ["8d"], ["24h"])
    with pytest.raises(DataRangeError, match="data covers"):
        sweep(s, ["2h"], ["6h"], starts=(T0, T0 + timedelta(days=2)))
    with pytest.raises(DataRangeError, match="starts at"):
        sweep(s, ["2h"], ["6h"], starts=(T0 - timedelta(hours=2), T0 + timedelta(hours=3)))
    irregular = IntensitySeries((0.0, 3600.0, 5400.0, 9000.0), (1.0, 2.0, 3.0), (False,) * 3, SRC)
    with pytest.raises(ConfigurationError, match="regular series"):
        sweep(irregular, ["1h"], ["1h"])
    with pytest.raises(ConfigurationError, match="strategies"):
        sweep(s, ["1h"], ["1h"], strategies=("cheapest",))
    with pytest.raises(ConfigurationError, match="sweep window"):
        SweepWindow.parse(-0.5)
    with pytest.raises(ConfigurationError, match="sweep window"):
        SweepWindow.parse(object())
    with pytest.raises(ConfigurationError, match="chunk_starts"):
        sweep(s, ["1h"], ["1h"], chunk_starts=0)
    with pytest.raises(ConfigurationError, match="at least one"):
        sweep(s, [], ["1h"])
