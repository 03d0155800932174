"""Re-pricing (issue 14): a run's stored energy timeline priced again with better intensity data,
appended as a ``"reprice"`` record; readers show the newest pricing."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import carbonsdk
from carbonsdk.accounting import align, intervals
from carbonsdk.cli import main
from carbonsdk.intensity.cache import IntensityCache
from carbonsdk.intensity.embedded import EmbeddedProvider
from carbonsdk.intensity.ukgrid import UKGridProvider
from carbonsdk.ledger import Ledger, append_records, append_run, result_to_record, summary_record
from carbonsdk.ledger.decode import RecordError
from carbonsdk.ledger.job import job_result
from carbonsdk.ledger.schema import reprice_record, repricing_from_record, result_from_record
from carbonsdk.model.energy import EnergySeries
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import DeviceResult, JobInfo, RunResult, TimelineInterval
from carbonsdk.repricing import Quality, compare, reprice_runs
from carbonsdk.testing import FakeClock, FakeGPU, fake_environment, fake_sampler

#: a day in 2026, after the embedded data (2021-2024): the embedded provider substitutes the
#: same month, weekday and hour of its nearest year, every hour flagged estimated
START = datetime(2026, 3, 10, 10, 10, tzinfo=UTC)
GB = Region(provider=None, code="GB", zone="GB", source="explicit", country="GB")
DE = Region(provider=None, code="DE", zone="DE", source="explicit", country="DE")


# -- helpers -----------------------------------------------------------------------------------


def record_offline_run(
    *,
    name: str = "offline",
    region: str = "GB",
    start: datetime = START,
    ticks: int = 26,
    tick_s: float = 420.0,
    pue: float = 1.25,
) -> RunResult:
    """A run measured offline (fake GPU whose power changes every tick, fake host) with the
    embedded typical-year intensity, recorded in the default ledger; 7-minute intervals that
    straddle both 30-minute and hourly steps."""
    clock = FakeClock(start_epoch_s=start.timestamp())
    gpu = FakeGPU.volta(200.0)
    env = fake_environment(clock, gpus=[gpu])
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure(name, region=region, intensity="embedded", pue=pue, report=False) as run,
    ):
        for i in range(ticks):
            gpu.set_power_w(150.0 + 37.0 * (i % 5))
            clock.advance(tick_s)
            sampler.tick()
    result = run.result
    assert result is not None
    return result


def offline_run(
    run_id: str,
    *,
    start: datetime = START,
    n: int = 4,
    interval_s: float = 900.0,
    region: Region = DE,
    pue: float = 1.1,
) -> RunResult:
    """A small run built by hand and priced with the embedded data exactly as at the end of a
    run (``align`` with the embedded series): ``n`` intervals of ``interval_s`` seconds."""
    s0 = start.timestamp()
    starts = tuple(s0 + i * interval_s for i in range(n))
    ends = tuple(s + interval_s for s in starts)
    energy = EnergySeries(
        components=("gpu", "cpu"),
        starts_s=starts,
        ends_s=ends,
        energy_j={
            "gpu": tuple(300.0 * interval_s * (1 + 0.1 * (i % 3)) for i in range(n)),
            "cpu": tuple(40.0 * interval_s for _ in range(n)),
        },
    )
    series = EmbeddedProvider().series(region, start, datetime.fromtimestamp(ends[-1], UTC))
    aligned = align(energy, series, pue=pue)
    return RunResult(
        run_id=run_id,
        name=f"job-{run_id}",
        status="completed",
        started_at=start,
        ended_at=datetime.fromtimestamp(ends[-1], UTC),
        duration_s=n * interval_s,
        energy_kwh=aligned.total_energy_kwh,
        energy_by_component_kwh={
            c: sum(aligned.energy_by_component_kwh[c]) for c in ("gpu", "cpu")
        },
        emissions_g=aligned.total_emissions_g,
        intensity_g_per_kwh=aligned.mean_intensity_g_per_kwh,
        pue=pue,
        region=region,
        intensity_source=attrs.evolve(series.source, estimated=True),
        timeline=intervals(aligned),
        devices=(DeviceResult("gpu", "gpu:0", "Fake GPU", "nvml-energy-counter", False, 0.0),),
        tags={},
        flags=("intensity-estimated",),
        interval_s=interval_s,
    )


def write_csv(path: Path, rows: Sequence[tuple[datetime, float]]) -> Path:
    """A ``csv:PATH`` intensity file (timestamp, g_per_kwh)."""
    lines = ["timestamp,g_per_kwh"] + [f"{t.isoformat()},{v!r}" for t, v in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def csv_rows(
    first: datetime, step: timedelta, count: int, base: float = 120.0
) -> list[tuple[datetime, float]]:
    """``count`` steps from ``first``, values varying irregularly (g/kWh)."""
    return [(first + i * step, base + (i * 37 % 11) * 9.5) for i in range(count)]


def brute_force_g(
    iv: TimelineInterval, steps: Sequence[tuple[float, float, float]], pue: float
) -> float:
    """Emissions of one stored interval, independently of ``align``: for every step
    ``(start_s, end_s, g_per_kwh)`` of the series, the part of the interval inside the step
    (by time: constant power within an interval) x energy x PUE x the step's value."""
    s, e = iv.start.timestamp(), iv.end.timestamp()
    total = 0.0
    covered = 0.0
    for lo, hi, value in steps:
        overlap = min(e, hi) - max(s, lo)
        if overlap > 0:
            total += iv.energy_kwh * (overlap / (e - s)) * pue * value
            covered += overlap
    assert covered == pytest.approx(e - s)  # the series covers the interval
    return total


def steps_of(
    rows: Sequence[tuple[datetime, float]], last_step: timedelta
) -> list[tuple[float, float, float]]:
    times = [t.timestamp() for t, _ in rows]
    ends = [*times[1:], times[-1] + last_step.total_seconds()]
    return [(lo, hi, v) for lo, hi, (_, v) in zip(times, ends, rows, strict=True)]


def ledger_path() -> Path:
    return Ledger().path


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[RunResult, Path, list[tuple[datetime, float]]]]:
    """An offline 2026 run in GB and a CSV of actual half-hourly values around it (steps at
    :05 and :35, so that the 7-minute intervals straddle them)."""
    run = record_offline_run()
    rows = csv_rows(START - timedelta(minutes=65), timedelta(minutes=30), 12)
    yield run, write_csv(tmp_path / "actual.csv", rows), rows


# -- exactness ---------------------------------------------------------------------------------


def test_offline_run_is_estimated_typical_year(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, _, _ = recorded
    assert run.intensity_source.provider == "embedded" and run.intensity_source.estimated
    assert "intensity-estimated" in run.flags and run.repriced_at is None
    assert all(iv.intensity_estimated for iv in run.timeline)


def test_reprice_is_exact_against_brute_force(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, csv, rows = recorded
    new = carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    steps = steps_of(rows, timedelta(minutes=30))

    straddling = 0
    for iv in run.timeline:  # the stored intervals, as recorded at the end of the run
        inside = [n for n in new.timeline if iv.start <= n.start and n.end <= iv.end]
        assert sum(n.energy_kwh for n in inside) == pytest.approx(iv.energy_kwh, rel=1e-12)
        for comp, kwh in iv.energy_by_component_kwh.items():
            assert sum(n.energy_by_component_kwh[comp] for n in inside) == pytest.approx(
                kwh, rel=1e-12, abs=1e-18
            )
        want = brute_force_g(iv, steps, run.pue)
        assert sum(n.emissions_g for n in inside) == pytest.approx(want, rel=1e-12)
        straddling += len(inside) > 1
    assert straddling >= 5  # intervals split at step boundaries were exercised

    for n in new.timeline:  # every new interval carries the step value at its time
        mid = (n.start.timestamp() + n.end.timestamp()) / 2
        (value,) = [v for lo, hi, v in steps if lo <= mid < hi]
        assert n.intensity_g_per_kwh == value and not n.intensity_estimated
        assert n.emissions_g == pytest.approx(n.energy_kwh * run.pue * value, rel=1e-12)

    total = sum(brute_force_g(iv, steps, run.pue) for iv in run.timeline)
    assert new.emissions_g == pytest.approx(total, rel=1e-12)
    assert new.energy_kwh == run.energy_kwh and new.pue == run.pue
    assert new.intensity_g_per_kwh == pytest.approx(
        sum(n.energy_kwh * n.intensity_g_per_kwh for n in new.timeline) / run.energy_kwh
    )
    assert new.timeline[0].start == run.timeline[0].start
    assert new.timeline[-1].end == run.timeline[-1].end


# -- the record --------------------------------------------------------------------------------


def test_append_only_original_bytes_untouched(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, csv, _ = recorded
    path = ledger_path()
    before = path.read_bytes()
    carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    after = path.read_bytes()
    assert after.startswith(before)  # nothing before the new record changed, byte for byte
    added = after[len(before) :].decode("utf-8").splitlines()
    assert len(added) == 1
    rec = json.loads(added[0])
    assert rec["type"] == "reprice" and rec["run_id"] == run.run_id and rec["schema"] == 1
    assert rec["repriced_from"]["provider"] == "embedded"
    assert rec["intensity_source"]["provider"] == "csv"
    assert rec["estimated_share"] == 0.0 and rec["step_s"] == 1800.0
    assert datetime.fromisoformat(rec["repriced_at"]).tzinfo is not None
    originals = [r for r in lines(path) if r["type"] == "run"]
    assert len(originals) == 1 and originals[0]["intensity_source"]["provider"] == "embedded"


def test_repriced_result_round_trips_through_a_run_record(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, csv, _ = recorded
    new = carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    assert result_from_record(json.loads(json.dumps(result_to_record(new)))) == new
    # a run never repriced keeps its record exactly as before (no new keys)
    assert "repriced_at" not in result_to_record(run)


def test_repriced_result_says_where_from(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, csv, _ = recorded
    new = carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    assert new.repriced_at is not None and new.repriced_at.tzinfo is not None
    assert new.repriced_from == run.intensity_source
    assert new.intensity_source.provider == "csv" and not new.intensity_source.estimated
    assert new.intensity_source.note.startswith("repriced ")
    assert "from embedded (estimated)" in new.intensity_source.note
    assert "repriced" in new.flags and "intensity-estimated" not in new.flags
    assert new.run_id == run.run_id and new.devices == run.devices and new.marks == run.marks


# -- readers -----------------------------------------------------------------------------------


def test_readers_show_the_newest_pricing(
    tmp_path: Path,
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, csv, _ = recorded
    new = carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    ledger = Ledger()
    assert ledger.get(run.run_id[:8]) == new
    assert ledger.runs() == [new] and ledger.last() == new
    assert ledger.skipped_lines == 0
    (row,) = ledger.to_records()
    assert row["emissions_g"] == new.emissions_g and row["intensity_source"] == "csv"
    assert row["repriced_at"] == new.repriced_at

    assert main(["runs", "--json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["emissions_g"] == pytest.approx(new.emissions_g)
    assert summary["intensity_source"] == "csv" and summary["repriced_at"] is not None

    assert main(["report", run.run_id[:8], "--json", "--no-whatif"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["emissions_g"] == pytest.approx(new.emissions_g)
    assert record["repriced_from"]["provider"] == "embedded"

    assert main(["report", "--last", "--no-whatif"]) == 0
    text = capsys.readouterr().out
    assert "csv" in text and "repriced" in text and "from embedded" in text

    html = tmp_path / "r.html"
    assert main(["report", run.run_id, "--html", str(html), "--no-whatif"]) == 0
    page = html.read_text(encoding="utf-8")
    assert "provider csv" in page and "repriced" in page


def test_nested_runs_children_show_newest(tmp_path: Path) -> None:
    clock = FakeClock(start_epoch_s=START.timestamp())
    env = fake_environment(clock, gpus=[FakeGPU.volta(250.0)])
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure("outer", region="DE", intensity="embedded", report=False) as outer,
    ):
        clock.advance(600.0)
        sampler.tick()
        with carbonsdk.measure("inner", report=False) as inner:
            clock.advance(1800.0)
            sampler.tick()
        clock.advance(600.0)
        sampler.tick()
    assert outer.result is not None and inner.result is not None
    csv = write_csv(
        tmp_path / "de.csv", csv_rows(START - timedelta(hours=1), timedelta(minutes=15), 16)
    )
    new_inner = carbonsdk.reprice(inner.result.run_id, intensity=f"csv:{csv}")
    (child,) = Ledger().children(outer.result.run_id)
    assert child == new_inner and child.parent_run_id == outer.result.run_id
    assert Ledger().get(outer.result.run_id).repriced_at is None  # only the inner was repriced


def test_history_lists_every_pricing_in_order(
    tmp_path: Path,
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, csv, _ = recorded
    first = carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    finer = write_csv(
        tmp_path / "finer.csv",
        csv_rows(START - timedelta(minutes=65), timedelta(minutes=10), 36, base=90.0),
    )
    second = carbonsdk.reprice(run.run_id, intensity=f"csv:{finer}")
    assert second.repriced_at is not None and first.repriced_at is not None
    assert second.repriced_at >= first.repriced_at
    history = Ledger().history(run.run_id[:6])
    assert history == [run, first, second]
    assert second.repriced_from == first.intensity_source  # what it replaced: the first reprice
    assert history[-1] == Ledger().get(run.run_id)

    assert main(["report", run.run_id[:8], "--history"]) == 0
    out = capsys.readouterr().out
    assert "3 pricing(s)" in out
    body = out.splitlines()
    assert sum("embedded" in line for line in body) >= 1
    assert sum(" csv " in f"{line} " for line in body) >= 2
    assert main(["report", run.run_id[:8], "--history", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["intensity_source"]["provider"] for d in data] == ["embedded", "csv", "csv"]
    assert data[0]["repriced_at"] is None and data[0]["estimated_share"] == 1.0
    assert [d["emissions_g"] for d in data] == pytest.approx(
        [run.emissions_g, first.emissions_g, second.emissions_g]
    )
    assert data[2]["repriced_from"]["dataset"].endswith("actual.csv")


# -- the "better data" rule --------------------------------------------------------------------


def test_only_better_data_unless_forced(
    tmp_path: Path,
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run, csv, _ = recorded
    path = ledger_path()
    # a constant has no time resolution: less estimated, but coarser than hourly data
    (o,) = reprice_runs([run.run_id], 300.0)
    assert o.action == "skipped" and "coarser time resolution" in o.reason
    assert o.old == Quality(1.0, 3600.0) and o.new == Quality(0.0, math.inf)
    (o,) = reprice_runs([run.run_id], 300.0, force=True, dry_run=True)
    assert o.after is not None and o.after.emissions_g == pytest.approx(run.energy_kwh * 1.25 * 300)
    # the embedded data again: no better
    (o,) = reprice_runs([run.run_id], "embedded")
    assert o.action == "skipped" and o.reason.startswith("not better: same share estimated")
    assert not any(r["type"] == "reprice" for r in lines(path))

    new = carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")  # actual beats estimated
    assert new.repriced_at is not None
    size = path.stat().st_size
    with caplog.at_level("WARNING", logger="carbonsdk"):
        same = carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    assert same == new and path.stat().st_size == size  # nothing written
    assert "not repriced: not better" in caplog.text
    back = carbonsdk.reprice(run.run_id, intensity="embedded")
    assert back == new  # estimated does not replace actual

    forced = carbonsdk.reprice(run.run_id, intensity="embedded", force=True)
    assert forced.intensity_source.provider == "embedded" and forced.repriced_from is not None
    assert forced.repriced_from.provider == "csv"
    assert forced.emissions_g == pytest.approx(run.emissions_g, rel=1e-12)  # same data as at end
    assert "intensity-estimated" in forced.flags and "repriced" in forced.flags
    (o,) = reprice_runs([run.run_id], 300.0, force=True, dry_run=True)
    assert o.action == "would-reprice" and o.reason.startswith("forced (")


def test_finer_resolution_with_equal_share_is_better(
    tmp_path: Path, recorded: tuple[RunResult, Path, list[tuple[datetime, float]]]
) -> None:
    run, csv, _ = recorded
    carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    finer = write_csv(
        tmp_path / "f.csv", csv_rows(START - timedelta(minutes=65), timedelta(minutes=5), 72)
    )
    (o,) = reprice_runs([run.run_id], f"csv:{finer}")
    assert o.action == "repriced" and o.reason.startswith("finer time resolution")
    assert o.old == Quality(0.0, 1800.0) and o.new == Quality(0.0, 300.0)
    (o,) = reprice_runs([run.run_id], f"csv:{csv}")  # back to 30 minutes: coarser
    assert o.action == "skipped" and "coarser" in o.reason


def test_compare_rules() -> None:
    hourly_est = Quality(1.0, 3600.0)
    assert compare(hourly_est, Quality(0.0, 1800.0))[0]
    assert compare(hourly_est, Quality(0.0, 3600.0))[0]
    assert compare(hourly_est, Quality(0.5, 3600.0))[0]
    assert not compare(hourly_est, Quality(0.0, 7200.0))[0]  # coarser
    assert not compare(hourly_est, Quality(0.0, math.inf))[0]  # a constant
    assert not compare(Quality(0.0, 3600.0), Quality(0.2, 900.0))[0]  # more estimated
    assert not compare(Quality(0.0, None), Quality(0.0, 900.0))[0]  # old resolution unknown
    assert compare(Quality(0.3, None), Quality(0.0, 900.0))[0]  # unknown: not coarser
    assert compare(Quality(1.0, math.inf), Quality(0.0, math.inf))[0]  # world avg -> constant
    assert not compare(Quality(0.0, 3600.0), Quality(0.0, 3610.0))[0]  # within 1 %: same


# -- what cannot be repriced -------------------------------------------------------------------


def test_unknown_zone_is_skipped_but_a_constant_needs_none(tmp_path: Path) -> None:
    path = ledger_path()
    unknown = attrs.evolve(
        offline_run("u1"),
        region=Region.unknown(),
        intensity_source=IntensitySource("world-average", estimated=True),
        flags=("region-unknown", "world-average", "intensity-estimated"),
    )
    append_run(path, unknown)
    (o,) = reprice_runs(["u1"], "embedded")
    assert o.action == "skipped" and o.reason.startswith("region unknown")
    (o,) = reprice_runs(["u1"], 420.0)
    assert o.action == "repriced" and o.after is not None
    assert o.after.emissions_g == pytest.approx(unknown.energy_kwh * unknown.pue * 420.0)
    assert "region-unknown" in o.after.flags and "world-average" not in o.after.flags


def test_a_gathered_summary_without_timeline_is_skipped(tmp_path: Path) -> None:
    path = ledger_path()
    append_records(path, [summary_record(offline_run("s1"))])
    (o,) = reprice_runs(["s1"], 300.0, force=True)
    assert o.action == "skipped" and "no energy timeline" in o.reason


def test_a_failing_provider_is_a_reason_never_a_fallback(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, _, _ = recorded
    (o,) = reprice_runs([run.run_id], "ukgrid", force=True)  # offline: no data
    assert o.action == "skipped" and o.reason.startswith("ukgrid data not available")
    assert "CARBONSDK_OFFLINE" in o.reason
    assert not any(r["type"] == "reprice" for r in lines(ledger_path()))


def test_bad_input_is_a_configuration_error(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, _, _ = recorded
    with pytest.raises(carbonsdk.ConfigurationError, match="intensity='nope'"):
        carbonsdk.reprice(run.run_id, intensity="nope")
    with pytest.raises(carbonsdk.ConfigurationError, match="run_id"):
        carbonsdk.reprice("  ")
    with pytest.raises(carbonsdk.LedgerError, match="no run 'zzz'"):
        carbonsdk.reprice("zzz", intensity="embedded")
    with pytest.raises(carbonsdk.LedgerError, match="no ledger"):
        carbonsdk.reprice(run.run_id, intensity="embedded", ledger=Path("/nonexistent/l.jsonl"))


# -- corrupt records -----------------------------------------------------------------------------


def test_a_corrupt_reprice_record_is_skipped_and_counted(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, csv, _ = recorded
    path = ledger_path()
    good = carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    rec = next(r for r in lines(path) if r["type"] == "reprice")
    bad_types = {**rec, "emissions_g": "lots"}
    no_timeline = {**rec, "timeline": []}
    bad_share = {**rec, "estimated_share": 3.0}
    with path.open("a", encoding="utf-8") as fh:
        for bad in (bad_types, no_timeline, bad_share):
            fh.write(json.dumps(bad) + "\n")
        fh.write('{"schema": 1, "type": "reprice", "run_id": "x", "timeline": 7}\n')
    ledger = Ledger()
    assert ledger.get(run.run_id) == good  # the newest readable one
    assert ledger.skipped_lines == 4
    assert len(ledger.history(run.run_id)) == 2


def test_a_reprice_record_that_does_not_match_its_run_is_ignored(
    recorded: tuple[RunResult, Path, list[tuple[datetime, float]]],
) -> None:
    run, csv, _ = recorded
    path = ledger_path()
    carbonsdk.reprice(run.run_id, intensity=f"csv:{csv}")
    rec = next(r for r in lines(path) if r["type"] == "reprice")
    rec["timeline"] = rec["timeline"][:-1]  # e.g. made from an older checkpoint
    path.write_text(
        "\n".join(json.dumps(r) for r in [*lines(path)[:-1], rec]) + "\n", encoding="utf-8"
    )
    ledger = Ledger()
    assert ledger.get(run.run_id).repriced_at is None
    assert ledger.get(run.run_id).emissions_g == run.emissions_g
    assert len(ledger.history(run.run_id)) == 1


# -- a live provider -----------------------------------------------------------------------------


def _ukgrid_actuals(request: Request) -> Response:
    """``/intensity/{from}/{to}``, the API's wire format: every half hour from the period ending
    at ``from``, with final (actual) values."""
    _, _, lo_text, hi_text = request.path.split("/")
    half = timedelta(minutes=30)
    t = datetime.fromisoformat(lo_text) - half
    hi = datetime.fromisoformat(hi_text)
    data = []
    while t < hi:
        data.append(
            {
                "from": t.strftime("%Y-%m-%dT%H:%MZ"),
                "to": (t + half).strftime("%Y-%m-%dT%H:%MZ"),
                "intensity": {"forecast": 999.0, "actual": _actual(t), "index": "moderate"},
            }
        )
        t += half
    return Response(json.dumps({"data": data}), content_type="application/json")


def _actual(t: datetime) -> float:
    return 80.0 + (t.hour * 2 + t.minute // 30) % 7 * 11.0


def test_live_provider_reprices_an_offline_2026_run_with_actual_values(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = record_offline_run(name="offline-gb", ticks=26)
    assert "intensity-estimated" in run.flags and run.intensity_source.provider == "embedded"
    monkeypatch.delenv("CARBONSDK_OFFLINE")  # the network is back
    httpserver.expect_request(
        "/intensity/2026-03-10T10:00Z/2026-03-10T14:00Z"
    ).respond_with_handler(_ukgrid_actuals)
    provider = UKGridProvider(
        base_url=httpserver.url_for("").rstrip("/"),
        cache=IntensityCache(tmp_path / "c"),
        timeout_s=2.0,
        budget_s=5.0,
    )
    new = carbonsdk.reprice(run.run_id, intensity=provider)
    assert len(httpserver.log) == 1

    assert new.repriced_at is not None and new.intensity_source.provider == "ukgrid"
    assert not new.intensity_source.estimated and new.intensity_source.zone == "GB"
    assert "intensity-estimated" not in new.flags and "repriced" in new.flags
    assert new.repriced_from is not None and new.repriced_from.provider == "embedded"
    assert all(not iv.intensity_estimated for iv in new.timeline)
    first = START.replace(minute=0)
    steps = [
        (
            (first + timedelta(minutes=30 * k)).timestamp(),
            (first + timedelta(minutes=30 * (k + 1))).timestamp(),
            _actual(first + timedelta(minutes=30 * k)),
        )
        for k in range(8)
    ]
    want = sum(brute_force_g(iv, steps, run.pue) for iv in run.timeline)
    assert new.emissions_g == pytest.approx(want, rel=1e-12)
    assert new.emissions_g != pytest.approx(run.emissions_g)
    assert Ledger().get(run.run_id) == new
    # asked again: the same actual data is no better
    (o,) = reprice_runs([run.run_id], provider)
    assert o.action == "skipped" and o.reason.startswith("not better")


def test_live_runs_close_in_time_share_one_request(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ledger_path()
    runs = [
        offline_run(f"g{i}", start=START + timedelta(minutes=70 * i), region=GB, n=3)
        for i in range(4)
    ]
    append_records(path, [result_to_record(r) for r in runs])
    monkeypatch.delenv("CARBONSDK_OFFLINE")
    httpserver.expect_request(
        "/intensity/2026-03-10T10:00Z/2026-03-10T15:00Z"
    ).respond_with_handler(_ukgrid_actuals)
    provider = UKGridProvider(base_url=httpserver.url_for("").rstrip("/"), cache=False)
    outcomes = reprice_runs(None, provider)
    assert [o.action for o in outcomes] == ["repriced"] * 4
    assert len(httpserver.log) == 1
    for r, o in zip(runs, outcomes, strict=True):
        assert o.after is not None and o.run_id == r.run_id
        s0 = START.replace(minute=0)
        steps = [
            (
                (s0 + timedelta(minutes=30 * k)).timestamp(),
                (s0 + timedelta(minutes=30 * (k + 1))).timestamp(),
                _actual(s0 + timedelta(minutes=30 * k)),
            )
            for k in range(10)
        ]
        want = sum(brute_force_g(iv, steps, r.pue) for iv in r.timeline)
        assert o.after.emissions_g == pytest.approx(want, rel=1e-12)
        assert not o.after.intensity_source.estimated


# -- jobs ------------------------------------------------------------------------------------------


def _host_run(run_id: str, node_rank: int) -> RunResult:
    base = offline_run(run_id, region=DE)
    return attrs.evolve(
        base,
        job=JobInfo(
            launcher="torchrun",
            job_id="job-7",
            job_id_source="TORCHELASTIC_RUN_ID",
            rank=node_rank,
            local_rank=0,
            world_size=2,
            local_world_size=1,
            node_rank=node_rank,
            node=f"host{node_rank}#{node_rank}",
            role="host",
        ),
    )


def test_job_aggregates_use_the_newest_pricing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ledger_path()
    a, b = _host_run("ha", 0), _host_run("hb", 1)
    append_records(path, [result_to_record(a), result_to_record(b)])
    before = job_result("job-7")
    assert before.emissions_g == pytest.approx(a.emissions_g + b.emissions_g)
    assert "intensity-estimated" in before.flags
    csv = write_csv(
        tmp_path / "de.csv", csv_rows(START - timedelta(hours=1), timedelta(minutes=15), 12)
    )
    new_a = carbonsdk.reprice("ha", intensity=f"csv:{csv}")
    after = job_result("job-7")
    assert after.emissions_g == pytest.approx(new_a.emissions_g + b.emissions_g)
    node0 = next(n for n in after.nodes if n.node_rank == 0)
    assert not node0.intensity_estimated
    # a copy of the ledger without the reprice record given too: the newest pricing still wins
    copy = tmp_path / "copy.jsonl"
    copy.write_text(
        "\n".join(json.dumps(r) for r in lines(path) if r["type"] == "run") + "\n", encoding="utf-8"
    )
    assert job_result("job-7", [copy, path]).emissions_g == pytest.approx(after.emissions_g)
    assert main(["report", "--job", "job-7", "--json", "--ledger", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["emissions_g"] == pytest.approx(after.emissions_g)


# -- the decoder is total ------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(
        [
            "run_id",
            "repriced_at",
            "repriced_from",
            "intensity_source",
            "emissions_g",
            "intensity_g_per_kwh",
            "flags",
            "timeline",
            "estimated_share",
            "step_s",
            "attributed_emissions_g",
        ]
    ),
    value=_json_values,
)
def test_a_reprice_record_decodes_or_raises_record_error(field: str, value: Any) -> None:
    good = reprice_record(
        attrs.evolve(
            offline_run("d1", n=2),
            repriced_at=START,
            repriced_from=IntensitySource("embedded", estimated=True),
        ),
        estimated_share=0.0,
        step_s=900.0,
    )
    try:
        decoded = repricing_from_record(json.loads(json.dumps({**good, field: value})))
    except RecordError:
        return
    assert decoded.run_id and decoded.timeline


def test_carbonsdk_reprice_is_the_function_whichever_was_imported_first(
    subprocess_env: dict[str, str], repo_root: Path
) -> None:
    import subprocess
    import sys

    code = (
        "import carbonsdk, carbonsdk.repricing as m; "
        "assert carbonsdk.reprice is m.reprice; "
        "import inspect; assert 'force' in inspect.signature(carbonsdk.reprice).parameters; "
        "print('ok')"
    )
    lazy = "import carbonsdk; f = carbonsdk.reprice; import carbonsdk.repricing; print(f.__name__)"
    for src, want in ((code, "ok"), (lazy, "reprice")):
        out = subprocess.run(
            [sys.executable, "-c", src],
            env=subprocess_env,
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == want
