"""Live scheduling: the online PausePolicy (simulated runs on a fake clock), forward series
(forecast / typical year), and wait_for_low_carbon with an injected clock and sleep."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.region import parse_region
from carbonsdk.schedule import (
    PausePolicy,
    forward_series,
    pause_and_resume,
    wait_for_low_carbon,
)

T0 = datetime(2023, 6, 1, tzinfo=UTC)
SRC = IntensitySource(provider="test", zone="DE", basis="lifecycle")
DE = Region(provider=None, code="DE", zone="DE", source="explicit")


def hourly(values: Sequence[float], start: datetime = T0) -> IntensitySeries:
    b0 = start.timestamp()
    return IntensitySeries(
        tuple(b0 + 3600.0 * i for i in range(len(values) + 1)),
        tuple(float(v) for v in values),
        (True,) * len(values),
        SRC,
    )


def simulate(
    policy: PausePolicy, series: IntensitySeries, dt: float = 60.0
) -> tuple[float, float, list[tuple[float, float]]]:
    """Run a constant-power job under ``policy``: returns (finish time, mean intensity of the
    work, run intervals in epoch seconds)."""
    now = policy.start_s
    done = 0.0
    grams = 0.0
    runs: list[tuple[float, float]] = []
    while done < policy.duration_s - 1e-9:
        if policy.should_pause(now, done):
            now += min(dt, max(policy.recheck_s(now, done), 1e-3))
            continue
        step = min(dt, policy.duration_s - done)
        value = series.value_at(datetime.fromtimestamp(now, tz=UTC))
        assert value is not None
        grams += value * step
        if runs and abs(runs[-1][1] - now) < 1e-9:
            runs[-1] = (runs[-1][0], now + step)
        else:
            runs.append((now, now + step))
        now += step
        done += step
    return now, grams / policy.duration_s, runs


def test_policy_matches_offline_pause_and_resume_with_a_perfect_forecast() -> None:
    values = [5, 1, 6, 2, 7, 1, 8, 9, 4, 4]
    s = hourly(values)
    policy = PausePolicy(s, timedelta(hours=3), 1.0, start=T0)
    end, mean, runs = simulate(policy, s)
    offline = pause_and_resume(s, timedelta(hours=3), 1.0, start=T0)
    assert mean == pytest.approx(offline.emissions_g)
    assert [(datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)) for a, b in runs] == [
        (iv.start, iv.end) for iv in offline.intervals
    ]
    assert end <= policy.deadline_s


def test_policy_never_pauses_past_the_slack() -> None:
    # intensity falls all the time: the best is to wait as long as possible, but the work must
    # still finish by the deadline
    values = [float(100 - i) for i in range(20)]
    s = hourly(values)
    policy = PausePolicy(
        s, timedelta(hours=4), timedelta(hours=2, minutes=30), start=T0, min_saving_fraction=0.0
    )
    end, _, runs = simulate(policy, s, dt=60.0)
    assert end == pytest.approx(policy.deadline_s, abs=1e-6)
    assert runs[0][0] == pytest.approx(T0.timestamp() + 2.5 * 3600)


def test_policy_with_a_wrong_forecast_still_finishes_in_time() -> None:
    forecast = hourly([1, 1, 9, 9, 9, 9, 9, 9, 9, 9])  # says: run now
    actual = hourly([9, 9, 1, 1, 1, 1, 9, 9, 9, 9])
    policy = PausePolicy(forecast, timedelta(hours=2), 1.0, start=T0)
    end, _, _ = simulate(policy, actual)
    assert end <= policy.deadline_s + 1e-6


def test_policy_decisions_and_reasons() -> None:
    s = hourly([9, 1, 1, 9, 9, 9])
    policy = PausePolicy(s, timedelta(hours=2), 1.0, start=T0, margin_s=0.0)
    d = policy.decide(T0.timestamp(), 0.0)
    assert d.pause and d.intensity_g_per_kwh == 9 and d.threshold_g_per_kwh == 1
    assert d.recheck_s == pytest.approx(3600) and d.slack_s == pytest.approx(7200)
    assert "paused until the next low-carbon run in 1h" in d.reason
    d = policy.decide(T0.timestamp() + 3600, 0.0)
    assert not d.pause and "in a low-carbon run" in d.reason
    assert d.recheck_s == pytest.approx(7200)
    # work beyond the expected duration: never pause
    assert not policy.should_pause(T0.timestamp(), 3 * 3600)
    # outside the forecast: never pause
    d = policy.decide(T0.timestamp() + 10 * 3600, 0.0)
    assert not d.pause and "no intensity" in d.reason
    # no slack: run
    d = policy.decide(T0.timestamp() + 2 * 3600 + 1, 0.0)
    assert not d.pause and "no slack" in d.reason
    assert "PausePolicy(" in repr(policy)
    assert policy.threshold_g_per_kwh(T0.timestamp(), 2 * 3600) is None
    assert policy.threshold_g_per_kwh(T0.timestamp(), 0.0) == 1


def test_policy_replans_only_at_run_and_pause_boundaries() -> None:
    s = hourly([9, 1, 1, 9, 9, 9])
    policy = PausePolicy(s, timedelta(hours=2), 1.0, start=T0)
    now = T0.timestamp()
    done = 0.0
    for _ in range(3000):  # 3 hours in 3.6 s calls
        if not policy.should_pause(now, done):
            done += 3.6
        now += 3.6
    assert done == pytest.approx(7200, abs=4)
    assert policy.replans <= 3


def test_policy_never_pauses_where_the_backtest_says_it_does_not_help() -> None:
    zone = Region(provider=None, code="IN-WE", zone="IN-WE", source="explicit")
    fwd = forward_series(zone, T0.timestamp(), T0.timestamp() + 14 * 3600, provider="embedded")
    policy = PausePolicy(fwd, timedelta(hours=6), 1.0, start=T0)
    assert policy.calibration is not None and policy.not_worth_it
    d = policy.decide(T0.timestamp(), 0.0)
    assert not d.pause and "not expected to help" in d.reason and "backtest IN-WE" in d.reason
    # margin 0: the policy pauses as the forecast says
    policy = PausePolicy(fwd, timedelta(hours=6), 1.0, start=T0, min_saving_fraction=0.0)
    assert not policy.not_worth_it


def test_policy_re_forecasts_as_observations_arrive() -> None:
    fwd = forward_series(DE, T0.timestamp(), T0.timestamp() + 26 * 3600, provider="embedded")
    assert fwd.kind == "day-ahead"
    policy = PausePolicy(fwd, timedelta(hours=12), 1.0, start=T0, min_saving_fraction=0.0)
    first = policy.series
    now, done = T0.timestamp(), 0.0
    while done < 12 * 3600 and now < policy.deadline_s:
        if not policy.should_pause(now, done):
            done += 600
        now += 600
    assert done >= 12 * 3600 - 600
    assert policy.series is not first  # asked again with the hours observed since
    assert policy.series.boundaries_s[0] > first.boundaries_s[0]


def test_policy_bad_input() -> None:
    s = hourly([1, 2])
    with pytest.raises(ConfigurationError, match=r"start='now'"):
        PausePolicy(s, "1h", 1.0, start="now")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="margin_s"):
        PausePolicy(s, "1h", 1.0, start=T0, margin_s=-1)
    with pytest.raises(ConfigurationError, match="max_extension"):
        PausePolicy(s, "1h", -1.0, start=T0)
    p = PausePolicy(s, "1h", "30m", start=T0.timestamp())
    assert p.deadline_s == T0.timestamp() + 5400


# ------------------------------------------------------------------------ forward series


class FakeForecaster:
    """A provider with a forecast of ``hours`` hours (or failing)."""

    name = "fakecast"

    def __init__(self, hours: int, fail: bool = False) -> None:
        self.hours = hours
        self.fail = fail
        self.calls: list[tuple[datetime, datetime]] = []

    def series(self, region: Region, start: datetime, end: datetime) -> IntensitySeries:
        raise ProviderError("not used")

    def forecast(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        self.calls.append((start, end))
        if self.fail:
            raise ProviderError("HTTP 503 from fakecast")
        return hourly([float(100 + i) for i in range(self.hours)], start)


def test_forward_series_full_forecast() -> None:
    fc = FakeForecaster(48)
    fwd = forward_series(DE, T0.timestamp(), T0.timestamp() + 24 * 3600, provider=fc)
    assert fwd.kind == "forecast" and fwd.provider == "fakecast"
    assert fwd.description == "fakecast forecast"
    assert fc.calls == [(T0, T0 + timedelta(hours=24))]


def test_forward_series_short_forecast_is_completed_by_typical_year() -> None:
    fc = FakeForecaster(6)
    fwd = forward_series(DE, T0.timestamp(), T0.timestamp() + 24 * 3600, provider=fc)
    assert fwd.kind == "forecast+typical"
    assert "then the embedded typical year" in fwd.description
    s = fwd.series
    assert s.boundaries_s[0] == T0.timestamp() and s.boundaries_s[-1] >= T0.timestamp() + 86400
    assert s.values_g_per_kwh[:6] == tuple(float(100 + i) for i in range(6))
    assert all(s.estimated)


def test_forward_series_failing_forecast_falls_back() -> None:
    fwd = forward_series(
        DE, T0.timestamp(), T0.timestamp() + 6 * 3600, provider=FakeForecaster(48, fail=True)
    )
    assert fwd.kind == "typical" and "HTTP 503" in fwd.note
    assert fwd.description == "embedded typical year (no forecast)"
    assert fwd.series.source.provider == "embedded"


def test_forward_series_embedded_and_unknown_region() -> None:
    later = datetime(2031, 6, 1, tzinfo=UTC).timestamp()  # past the embedded years
    fwd = forward_series(DE, later, later + 3600, provider="embedded")
    assert fwd.kind == "typical" and "no forecast" in fwd.note
    fwd = forward_series(DE, later, later + 3600)  # offline: embedded
    assert fwd.kind == "typical"
    with pytest.raises(ConfigurationError, match="unknown region"):
        forward_series(Region.unknown(), T0.timestamp(), T0.timestamp() + 60)


# --------------------------------------------------------------------- wait_for_low_carbon


class FakeTime:
    """Clock and sleep: sleeping advances the clock; optionally interrupts after n sleeps."""

    def __init__(self, start: datetime, interrupt_after: int | None = None) -> None:
        self.now = start.timestamp()
        self.mono = 1000.0
        self.sleeps: list[float] = []
        self.interrupt_after = interrupt_after

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        if self.interrupt_after is not None and len(self.sleeps) >= self.interrupt_after:
            raise KeyboardInterrupt
        self.sleeps.append(seconds)
        self.now += seconds
        self.mono += seconds


def test_wait_blocks_until_the_planned_start() -> None:
    s = hourly([500, 400, 100, 300, 300, 300, 300, 300])
    ft = FakeTime(T0 + timedelta(minutes=20))
    out = io.StringIO()
    d = wait_for_low_carbon(
        region="DE",
        max_delay="4h",
        duration="1h",
        series=s,
        clock=ft,
        sleep=ft.sleep,
        stream=out,
        tick_s=60,
    )
    assert d.planned_start == T0 + timedelta(hours=2)
    assert d.waited_s == pytest.approx(100 * 60)
    assert d.started_at == T0 + timedelta(hours=2)
    assert d.plan is not None and d.expected_savings_fraction > 0.5
    assert d.forecast == "given series" and not d.interrupted
    assert "waiting 1h 40m" in d.reason
    assert max(ft.sleeps) <= 60
    text = out.getvalue()
    assert "Ctrl-C" in text and "starting now" in text
    assert "\r" not in text  # not a terminal: no redrawn progress line


def test_wait_progress_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    s = hourly([500, 100, 300])
    ft = FakeTime(T0)
    out = Tty()
    wait_for_low_carbon(
        region=DE,
        max_delay=timedelta(hours=2),
        series=s,
        clock=ft,
        sleep=ft.sleep,
        stream=out,
        tick_s=600,
    )
    assert "\r" in out.getvalue() and "[" in out.getvalue()


def test_wait_when_now_is_best_returns_at_once() -> None:
    s = hourly([100, 400, 300])
    ft = FakeTime(T0)
    d = wait_for_low_carbon(
        region="DE", max_delay="2h", series=s, clock=ft, sleep=ft.sleep, progress=False
    )
    assert d.waited_s == 0 and ft.sleeps == [] and "already the lowest" in d.reason


def test_wait_ctrl_c() -> None:
    s = hourly([500, 400, 100, 300, 300])
    ft = FakeTime(T0, interrupt_after=3)
    out = io.StringIO()
    d = wait_for_low_carbon(
        region="DE",
        max_delay="3h",
        series=s,
        clock=ft,
        sleep=ft.sleep,
        on_interrupt="start",
        stream=out,
        tick_s=60,
    )
    assert d.interrupted and d.waited_s == pytest.approx(180)
    assert "interrupted" in d.reason and "starting now" in out.getvalue()
    ft = FakeTime(T0, interrupt_after=1)
    with pytest.raises(KeyboardInterrupt):
        wait_for_low_carbon(
            region="DE", max_delay="3h", series=s, clock=ft, sleep=ft.sleep, progress=False
        )


def test_wait_with_the_day_ahead_forecast_and_its_backtest() -> None:
    ft = FakeTime(T0)  # inside the embedded years: the last week is observed
    d = wait_for_low_carbon(
        region="aws:eu-central-1",
        max_delay="12h",
        duration="2h",
        clock=ft,
        sleep=ft.sleep,
        progress=False,
        tick_s=600,
    )
    assert d.region == parse_region("aws:eu-central-1")
    assert d.forecast.startswith("carbonsdk day-ahead forecast")
    assert d.backtest is not None and d.backtest.zone == "DE"
    assert d.backtest.strategy == "flexible_start"
    assert d.started_at <= T0 + timedelta(hours=12)
    if d.waited_s > 0:
        assert d.calibrated_savings_fraction is not None
        assert d.expected_savings_fraction >= 0.03  # the margin
        assert "backtest DE" in d.reason and "worse than starting at once" in d.reason
        assert d.replans >= int(d.waited_s // 3600) - 1  # re-forecast every hour
    else:
        assert d.expected_savings_fraction == 0.0


def test_wait_with_the_embedded_typical_year_past_the_data() -> None:
    later = datetime(2031, 6, 1, tzinfo=UTC)
    ft = FakeTime(later)
    d = wait_for_low_carbon(
        region="aws:eu-central-1",
        max_delay="12h",
        duration="2h",
        clock=ft,
        sleep=ft.sleep,
        progress=False,
        tick_s=3600,
    )
    assert d.forecast == "embedded typical year (no forecast)"
    assert d.planned_start <= later + timedelta(hours=12)
    assert d.plan is None or d.plan.estimated


def test_wait_does_not_wait_hours_for_a_small_saving() -> None:
    # the best start is 12 h away and saves 2 %: below the 3 % margin, start now
    s = hourly([100.0] * 12 + [98.0] * 2 + [100.0] * 4)
    ft = FakeTime(T0)
    d = wait_for_low_carbon(
        region="DE",
        max_delay="12h",
        duration="2h",
        series=s,
        clock=ft,
        sleep=ft.sleep,
        progress=False,
    )
    assert d.waited_s == 0 and ft.sleeps == [] and "not expected to help" in d.reason
    assert d.plan is not None and d.plan.delay_s == 12 * 3600 and d.expected_savings_fraction == 0
    d = wait_for_low_carbon(
        region="DE",
        max_delay="12h",
        duration="2h",
        series=s,
        clock=ft,
        sleep=ft.sleep,
        progress=False,
        min_saving_fraction=0.0,
    )
    assert d.waited_s == pytest.approx(12 * 3600)
    with pytest.raises(ConfigurationError, match="min_saving_fraction"):
        wait_for_low_carbon(region="DE", max_delay="1h", min_saving_fraction=2.0)


def test_wait_re_forecasts_and_starts_when_the_new_plan_says_now() -> None:
    calls: list[float] = []

    class Refreshing:
        kind = "forecast"

    first = hourly([500, 500, 500, 100, 500, 500, 500])
    better = hourly([500, 50, 500, 500, 500, 500, 500])

    from carbonsdk.schedule import ForwardSeries

    class Fwd(ForwardSeries):
        def refreshed(self, now_epoch_s: float) -> ForwardSeries:
            calls.append(now_epoch_s)
            return ForwardSeries(better, "forecast", "test", "fresh")

    ft = FakeTime(T0)
    d = wait_for_low_carbon(
        region="DE",
        max_delay="4h",
        duration="1h",
        series=Fwd(first, "forecast", "test", "first"),
        clock=ft,
        sleep=ft.sleep,
        progress=False,
        tick_s=600,
    )
    assert calls and calls[0] == pytest.approx(T0.timestamp() + 3600)
    assert d.started_at == T0 + timedelta(hours=1) and d.replans == 1
    assert d.planned_start == T0 + timedelta(hours=1)
    del Refreshing


def test_wait_unknown_region_starts_now() -> None:
    ft = FakeTime(T0)
    d = wait_for_low_carbon(max_delay="12h", clock=ft, sleep=ft.sleep, progress=False)
    assert d.plan is None and "region unknown" in d.reason and d.waited_s == 0


def test_wait_bad_options() -> None:
    with pytest.raises(ConfigurationError, match="on_interrupt"):
        wait_for_low_carbon(region="DE", max_delay="1h", on_interrupt="ignore")
    with pytest.raises(ConfigurationError, match=r"max_delay=6"):
        wait_for_low_carbon(region="DE", max_delay=6)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="region"):
        wait_for_low_carbon(region="nowhere-land", max_delay="1h")


def test_wait_provider_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    ft = FakeTime(T0)
    fc: Any = FakeForecaster(48, fail=True)
    d = wait_for_low_carbon(
        region="DE",
        max_delay="3h",
        provider=fc,
        clock=ft,
        sleep=ft.sleep,
        progress=False,
        tick_s=3600,
    )
    assert d.forecast == "embedded typical year (no forecast)" and d.plan is not None


# ------------------------------------------- the live policies are the backtested policies


def _backtest_one(zone: str, start: datetime, strategy: str, hours: int, window: Any) -> Any:
    """The backtest of exactly one start at ``start`` (a week of history before it), with the
    forecaster the live functions use (fitted on every embedded year)."""
    from carbonsdk.intensity import embedded
    from carbonsdk.intensity.query import intensity_series
    from carbonsdk.schedule.backtest import backtest

    win_h = 12 if strategy == "flexible_start" else round(hours * window)
    s = intensity_series(zone, start - timedelta(hours=168), start + timedelta(hours=hours + win_h))
    b = backtest(
        s,
        zone=zone,
        duration=f"{hours}h",
        window=window,
        strategy=strategy,
        n_starts=1,
        profile_years=embedded.hourly_years(zone),
    )
    assert b.rows[0].start == start
    return b.rows[0]


#: starts where the backtested policy waits, pauses mid-run, or both (found on 2023 data)
STARTS = [
    datetime(2023, m, d, h, tzinfo=UTC)
    for m, d, h in ((1, 22, 15), (2, 15, 2), (2, 28, 16), (3, 17, 16), (10, 9, 20))
]


@pytest.mark.parametrize("zone", ["DE", "IE"])
def test_wait_for_low_carbon_is_the_backtested_flexible_start(zone: str) -> None:
    # margin 0: no calibration-table gate, so the decisions are the shared rule alone
    moved = 0
    for start in STARTS:
        row = _backtest_one(zone, start, "flexible_start", 3, "12h")
        moved += row.delay_s > 0
        ft = FakeTime(start)
        d = wait_for_low_carbon(
            region=zone,
            max_delay="12h",
            duration="3h",
            provider="embedded",
            clock=ft,
            sleep=ft.sleep,
            progress=False,
            tick_s=600,
            min_saving_fraction=0.0,
        )
        assert d.forecast.startswith("carbonsdk day-ahead")
        assert (d.started_at - start).total_seconds() == pytest.approx(row.delay_s)
    assert moved >= 2  # the comparison covers waits (re-forecast every hour), not only "now"


@pytest.mark.parametrize("zone", ["DE", "IE"])
def test_should_pause_is_the_backtested_pause_and_resume(zone: str) -> None:
    from carbonsdk.intensity.query import intensity_series

    paused = 0
    for start in STARTS:
        row = _backtest_one(zone, start, "pause_and_resume", 6, 1.0)
        paused += row.pauses > 0
        t0 = start.timestamp()
        fwd = forward_series(
            Region(provider=None, code=zone, zone=zone, source="explicit"),
            t0,
            t0 + 12 * 3600,
            provider="embedded",
        )
        assert fwd.kind == "day-ahead" and fwd.err_cov is not None
        policy = PausePolicy(fwd, "6h", 1.0, start=start, min_saving_fraction=0.0)
        actual = intensity_series(zone, start, start + timedelta(hours=12))
        now, done, grams = t0, 0.0, 0.0
        while done < 6 * 3600:
            if not policy.should_pause(now, done):
                v = actual.value_at(datetime.fromtimestamp(now, tz=UTC))
                assert v is not None
                grams += v
                done += 3600
            now += 3600
        assert now <= policy.deadline_s
        assert grams / 6 == pytest.approx(row.realised_g_per_kwh, rel=1e-9)
    assert paused >= 1  # including pauses in the middle of the run (the banked saving)


def test_policy_keeps_one_work_interval_per_run_not_one_per_step() -> None:
    fwd = forward_series(DE, T0.timestamp(), T0.timestamp() + 12 * 3600, provider="embedded")
    policy = PausePolicy(fwd, "6h", 1.0, start=T0, min_saving_fraction=0.0)
    now, done = T0.timestamp(), 0.0
    while done < 6 * 3600:
        if not policy.should_pause(now, done):
            done += 10.0  # a training step of 10 s
        now += 10.0
    assert policy.should_pause(now, done) is False
    runs = policy._work
    assert 1 <= len(runs) <= 7  # at most one interval per hourly decision
    assert sum(e - a for a, e in runs) == pytest.approx(6 * 3600 - 10.0, abs=20.0)
