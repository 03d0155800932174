"""whatif_for_run: a recorded run's own timeline replayed in every embedded zone and with
Flexible Start / Pause and Resume in its own zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.intensity.embedded import EmbeddedProvider
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import RunResult, TimelineInterval
from carbonsdk.schedule import whatif_for_run
from carbonsdk.schedule.whatif import describe, energy_profile, replay_timeline

T0 = datetime(2023, 6, 1, 6, 30, tzinfo=UTC)


def make_run(
    *,
    zone: str | None = "DE",
    energies_kwh: tuple[float, ...] = (0.5, 1.5, 0.25, 0.75),
    step: timedelta = timedelta(minutes=45),
    pue: float = 1.2,
    provider: str = "embedded",
    start: datetime = T0,
) -> RunResult:
    timeline = []
    t = start
    for e in energies_kwh:
        timeline.append(
            TimelineInterval(
                start=t,
                end=t + step,
                energy_kwh=e,
                energy_by_component_kwh={"gpu": e},
                intensity_g_per_kwh=300.0,
                emissions_g=e * pue * 300.0,
            )
        )
        t += step
    region = Region(None, zone, zone, "explicit") if zone else Region.unknown()
    energy = sum(energies_kwh)
    return RunResult(
        run_id="run-abc123",
        name="train",
        status="completed",
        started_at=start,
        ended_at=t,
        duration_s=(t - start).total_seconds(),
        energy_kwh=energy,
        energy_by_component_kwh={"gpu": energy},
        emissions_g=energy * pue * 300.0,
        intensity_g_per_kwh=300.0,
        pue=pue,
        region=region,
        intensity_source=IntensitySource(provider=provider, zone=zone),
        timeline=tuple(timeline),
        devices=(),
        tags={},
    )


def test_rows_replay_the_timeline_in_every_zone() -> None:
    run = make_run()
    w = whatif_for_run(run)
    zones = [r.zone for r in w.regions]
    from carbonsdk.intensity import embedded

    assert set(zones) == set(embedded.zones())
    assert [r.emissions_g for r in w.regions] == sorted(r.emissions_g for r in w.regions)
    assert w.own is not None and w.own.zone == "DE" and w.own.is_own
    assert w.best is w.regions[0]
    # the own row by hand: interval energy x pue x the time-mean of DE's hourly values in it
    series = EmbeddedProvider().series(
        Region(None, "DE", "DE", "explicit"), run.started_at, run.ended_at
    )
    expected = 0.0
    for iv in run.timeline:
        a, b = iv.start.timestamp(), iv.end.timestamp()
        total = 0.0
        t = a
        while t < b:
            step = series.index_at(t)
            assert step is not None
            nxt = min(b, series.boundaries_s[step + 1])
            total += series.values_g_per_kwh[step] * (nxt - t)
            t = nxt
        expected += iv.energy_kwh * run.pue * total / (b - a)
    assert w.own.emissions_g == pytest.approx(expected, rel=1e-12)
    assert w.own.intensity_g_per_kwh == pytest.approx(expected / (run.energy_kwh * run.pue))
    assert replay_timeline(run, series)[0] == pytest.approx(expected)
    assert w.energy_kwh == 3.0 and w.pue == 1.2 and w.run_id == "run-abc123"


def test_scheduling_plans_use_the_runs_profile() -> None:
    run = make_run()
    w = whatif_for_run(run)
    fs, pr = w.flexible_start, w.pause_and_resume
    assert fs is not None and pr is not None
    assert fs.energy_kwh == pytest.approx(3.0) and fs.pue == 1.2
    # the baseline of both plans is the run as it happened (embedded data)
    assert w.own is not None
    assert fs.baseline_emissions_g == pytest.approx(w.own.emissions_g, rel=1e-9)
    assert pr.baseline_emissions_g == pytest.approx(w.own.emissions_g, rel=1e-9)
    assert fs.savings_fraction >= 0 and pr.savings_fraction >= 0
    assert len(fs.intervals) == 1 and sum(iv.duration_s for iv in pr.intervals) == pytest.approx(
        run.duration_s
    )
    assert fs.delay_s <= 24 * 3600
    assert pr.end <= run.ended_at + timedelta(seconds=run.duration_s) + timedelta(seconds=1)
    assert w.max_delay_s == 86400 and w.max_extension_fraction == 1.0
    assert "less" in describe(w)


def test_profile_covers_the_run_with_gaps_as_zero() -> None:
    run = make_run(energies_kwh=(1.0, 2.0, 4.0))
    gappy = attrs.evolve(run, timeline=(run.timeline[0], run.timeline[2]))
    segs = energy_profile(gappy)
    assert [s for s, _ in segs] == pytest.approx([2700, 2700, 2700])
    assert [e for _, e in segs] == pytest.approx([1.0, 0.0, 4.0])
    # a timeline running past ended_at is clipped, its energy pro-rated
    short = attrs.evolve(run, ended_at=run.started_at + timedelta(minutes=90))
    segs = energy_profile(short)
    assert sum(s for s, _ in segs) == pytest.approx(5400)
    assert sum(e for _, e in segs) == pytest.approx(3.0)
    w = whatif_for_run(gappy)
    assert w.pause_and_resume is not None
    assert w.pause_and_resume.intervals[0].energy_fraction <= 1.0


def test_explicit_regions_and_options() -> None:
    run = make_run()
    w = whatif_for_run(run, regions=["FR", "aws:mx-central-1"], max_delay="6h", max_extension="50%")
    assert {r.zone for r in w.regions} == {"FR", "MX", "DE"}
    flat = next(r for r in w.regions if r.zone == "MX")
    assert flat.estimated  # annual average: flagged
    assert w.max_delay_s == 6 * 3600 and w.max_extension_fraction == 0.5
    with pytest.raises(ConfigurationError, match="max_delay"):
        whatif_for_run(run, max_delay=6)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="RunResult"):
        whatif_for_run("run-abc")  # type: ignore[arg-type]


def test_unknown_region_and_no_energy() -> None:
    w = whatif_for_run(make_run(zone=None))
    assert w.own is None and w.flexible_start is None and w.pause_and_resume is None
    assert any("unknown" in n for n in w.notes) and w.regions
    w = whatif_for_run(make_run(energies_kwh=(0.0, 0.0)))
    assert w.flexible_start is None and any("no energy" in n for n in w.notes)
    assert all(r.emissions_g == 0 for r in w.regions)


def test_other_provider_is_noted_and_outside_years_flagged() -> None:
    w = whatif_for_run(
        make_run(provider="electricitymaps", start=datetime(2030, 3, 3, 12, tzinfo=UTC))
    )
    assert any("electricitymaps" in n for n in w.notes)
    assert all(r.estimated for r in w.regions)
    assert w.flexible_start is not None  # the embedded data substitutes the nearest year
