"""Ledger behaviour the existing tests leave open (found by mutation testing, see
docs/testing.md): what a run rebuilt from the checkpoints of a killed process reports (the LAST
metadata and device energies, every interval once, per-component energy and mean intensity
added up from the intervals), that "job" records are not runs, and that a writer honours a lock
another process holds."""

from __future__ import annotations

import fcntl
import json
import math
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from carbonsdk.exceptions import LedgerError
from carbonsdk.ledger import (
    Ledger,
    LedgerLockTimeout,
    LedgerWriter,
    RecordError,
    append_records,
    checkpoint_record,
    rebuild_from_checkpoints,
    result_to_record,
    summary_record,
    top_level,
)
from carbonsdk.ledger.decode import Repricing
from carbonsdk.ledger.frame import run_records
from carbonsdk.ledger.job import aggregate, job_result
from carbonsdk.ledger.reader import apply_repricing
from carbonsdk.ledger.schema import reprice_record, repricing_from_record
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import DeviceResult, JobInfo, RunResult, TimelineInterval

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def interval(i: int, gpu_kwh: float, cpu_kwh: float, intensity: float) -> TimelineInterval:
    """The i-th one-minute interval of a run."""
    kwh = gpu_kwh + cpu_kwh
    return TimelineInterval(
        start=T0 + timedelta(minutes=i),
        end=T0 + timedelta(minutes=i + 1),
        energy_kwh=kwh,
        energy_by_component_kwh={"gpu": gpu_kwh, "cpu": cpu_kwh},
        intensity_g_per_kwh=intensity,
        emissions_g=kwh * intensity,
        intensity_estimated=False,
    )


TIMELINE = (
    interval(0, 0.60, 0.20, 100.0),  # 0.8 kWh at 100 g/kWh
    interval(1, 0.40, 0.40, 200.0),  # 0.8 kWh at 200
    interval(2, 0.30, 0.10, 400.0),  # 0.4 kWh at 400
)  # 2 kWh in all (not 1: a mean divided instead of multiplied by it must show)


def run(
    name: str = "train", *, gpu_kwh: float = 0.5, tags: dict[str, str] | None = None
) -> RunResult:
    return RunResult(
        run_id="r-killed",
        name=name,
        status="running",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=3),
        duration_s=180.0,
        energy_kwh=2.0,
        energy_by_component_kwh={"gpu": 1.3, "cpu": 0.7, "ram": 0.1},
        emissions_g=1.0,
        intensity_g_per_kwh=999.0,
        pue=1.0,
        region=Region("aws", "us-west-2", "US-NW-PACW", "explicit", "US"),
        intensity_source=IntensitySource(provider="embedded", zone="US-NW-PACW"),
        timeline=(),
        devices=(DeviceResult("gpu", "gpu:0", "Fake H100", "nvml-energy-counter", False, gpu_kwh),),
        tags=tags or {},
    )


def rebuilt(*records: dict[str, object]) -> RunResult:
    return rebuild_from_checkpoints(list(records))


def test_rebuild_takes_the_metadata_of_the_last_full_checkpoint() -> None:
    first = run("before-rename", tags={"step": "1"})
    last = run("after-rename", tags={"step": "2"})
    result = rebuilt(
        checkpoint_record(first, 0, TIMELINE[:1]),
        checkpoint_record(last, 1, TIMELINE[1:2]),
        checkpoint_record(last, 2, TIMELINE[2:], full=False),
    )
    assert result.name == "after-rename"
    assert result.tags == {"step": "2"}


def test_rebuild_orders_checkpoints_by_seq_not_file_order() -> None:
    first = run("old")
    last = run("new")
    result = rebuilt(
        checkpoint_record(last, 1, TIMELINE[1:]),
        checkpoint_record(first, 0, TIMELINE[:1]),
    )
    assert result.name == "new"
    assert result.timeline == TIMELINE


def test_rebuild_takes_device_energy_from_the_last_checkpoint() -> None:
    result = rebuilt(
        checkpoint_record(run(gpu_kwh=0.1), 0, TIMELINE[:1]),
        checkpoint_record(run(gpu_kwh=0.4), 1, TIMELINE[1:2], full=False),
        checkpoint_record(run(gpu_kwh=0.65), 2, TIMELINE[2:], full=False),
    )
    (gpu,) = result.devices
    assert gpu.energy_kwh == pytest.approx(0.65)


def test_rebuilt_totals_add_up_the_intervals() -> None:
    result = rebuilt(
        checkpoint_record(run(), 0, TIMELINE[:2]),
        checkpoint_record(run(), 1, TIMELINE[2:], full=False),
    )
    assert result.status == "interrupted"
    assert result.energy_kwh == pytest.approx(2.0)
    # added up from the intervals; a component of the run that no interval has is 0
    assert result.energy_by_component_kwh == pytest.approx({"gpu": 1.3, "cpu": 0.7, "ram": 0.0})
    assert result.emissions_g == pytest.approx(80.0 + 160.0 + 160.0)
    # energy-weighted: (0.8 * 100 + 0.8 * 200 + 0.4 * 400) / 2.0
    assert result.intensity_g_per_kwh == pytest.approx(200.0)
    assert result.started_at == T0
    assert result.ended_at == T0 + timedelta(minutes=3)
    assert result.duration_s == pytest.approx(180.0)


def test_an_interval_repeated_in_two_checkpoints_counts_once() -> None:
    result = rebuilt(
        checkpoint_record(run(), 0, TIMELINE[:2]),
        checkpoint_record(run(), 1, TIMELINE[1:], full=False),
    )
    assert result.timeline == TIMELINE
    assert result.energy_kwh == pytest.approx(2.0)


def test_rebuild_without_energy_keeps_the_recorded_intensity() -> None:
    zero = tuple(
        attrs.evolve(
            iv, energy_kwh=0.0, emissions_g=0.0, energy_by_component_kwh={"gpu": 0.0, "cpu": 0.0}
        )
        for iv in TIMELINE
    )
    result = rebuilt(checkpoint_record(run(), 0, zero))
    assert result.energy_kwh == 0.0
    assert result.intensity_g_per_kwh == 999.0


def test_a_killed_run_is_rebuilt_from_the_ledger_and_its_run_record_wins(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    writer = LedgerWriter(path)
    writer.write(checkpoint_record(run("first"), 0, TIMELINE[:1]))
    writer.write(checkpoint_record(run("second"), 1, TIMELINE[1:]))
    (result,) = Ledger(path).runs()
    assert result.name == "second" and result.status == "interrupted"
    assert result.energy_kwh == pytest.approx(2.0)
    finished = attrs.evolve(run("final"), status="completed", timeline=TIMELINE)
    writer.write(result_to_record(finished))
    (result,) = Ledger(path).runs()
    assert result.name == "final" and result.status == "completed"


def test_a_full_checkpoint_without_intervals_rebuilds_an_empty_run() -> None:
    result = rebuilt(checkpoint_record(run(), 0, ()))
    assert result.timeline == ()
    assert result.ended_at == T0 and result.duration_s == 0.0
    assert result.energy_kwh == 0.0


def test_an_unknown_intensity_stays_unknown_after_a_rebuild() -> None:
    no_intensity = attrs.evolve(run(), intensity_g_per_kwh=None)
    zero = tuple(attrs.evolve(iv, energy_kwh=0.0, emissions_g=0.0) for iv in TIMELINE)
    assert rebuilt(checkpoint_record(no_intensity, 0, zero)).intensity_g_per_kwh is None
    # a non-finite intensity (written as null, flagged) gives no mean rather than NaN
    bad = (attrs.evolve(TIMELINE[0], intensity_g_per_kwh=math.inf), *TIMELINE[1:])
    result = rebuilt(checkpoint_record(run(), 0, bad))
    assert result.intensity_g_per_kwh is None
    assert any(f.startswith("non-finite:") for f in result.flags)


def test_a_device_error_in_the_last_checkpoint_degrades_only_that_device() -> None:
    two = attrs.evolve(
        run(),
        devices=(
            DeviceResult("gpu", "gpu:0", "Fake H100", "nvml-energy-counter", False, 0.5),
            DeviceResult("gpu", "gpu:1", "Fake H100", "nvml-energy-counter", False, 0.5),
        ),
    )
    failing = attrs.evolve(
        two,
        devices=(
            two.devices[0],
            attrs.evolve(two.devices[1], error="NVML: GPU is lost"),
        ),
    )
    result = rebuilt(
        checkpoint_record(two, 0, TIMELINE[:1]),
        checkpoint_record(failing, 1, TIMELINE[1:], full=False),
    )
    ok, lost = result.devices
    assert ok.status == two.devices[0].status and ok.error is None
    assert lost.status == "degraded" and lost.error == "NVML: GPU is lost"


@pytest.mark.parametrize("bad", [0, 1, 2])
def test_unreadable_checkpoints_are_counted_in_a_flag(bad: int) -> None:
    records: list[dict[str, object]] = [checkpoint_record(run(), 0, TIMELINE)]
    records += [{"schema": 1, "type": "checkpoint", "run_id": "r-killed", "seq": "x"}] * bad
    result = rebuild_from_checkpoints(records)
    unreadable = [f for f in result.flags if f.startswith("checkpoints-unreadable")]
    assert unreadable == ([f"checkpoints-unreadable:{bad}"] if bad else [])
    assert result.energy_kwh == pytest.approx(2.0)


def test_job_records_are_not_runs(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    finished = attrs.evolve(run(), status="completed", timeline=TIMELINE)
    job = {"schema": 1, "type": "job", "job_id": "j1", "run_id": "r-job", "members": []}
    append_records(path, [result_to_record(finished), job])
    runs = Ledger(path).runs()
    assert [r.run_id for r in runs] == ["r-killed"]


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[Path]:
    """A ledger whose lock another open file (as another process would) holds."""
    path = tmp_path / "ledger.jsonl"
    path.touch(mode=0o600)
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield path
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def test_append_waits_for_a_held_lock_and_writes_nothing(held_lock: Path) -> None:
    finished = attrs.evolve(run(), status="completed", timeline=TIMELINE)
    with pytest.raises(LedgerLockTimeout):
        append_records(held_lock, [result_to_record(finished)], lock_timeout_s=0.05)
    assert held_lock.read_bytes() == b""


def test_a_writer_keeps_the_record_pending_while_the_lock_is_held(held_lock: Path) -> None:
    writer = LedgerWriter(held_lock, lock_budget_s=0.05)
    finished = attrs.evolve(run(), status="completed", timeline=TIMELINE)
    assert writer.write(result_to_record(finished)) is False
    assert writer.pending == 1
    assert writer.lock_timed_out
    assert writer.failure_flags() == ("ledger-pending", "ledger-lock-timeout")
    assert held_lock.read_bytes() == b""


# -- repricing -----------------------------------------------------------------------------


def finished_run() -> RunResult:
    return attrs.evolve(
        run(), status="completed", timeline=TIMELINE, emissions_g=400.0, intensity_g_per_kwh=200.0
    )


def repricing_of(base: RunResult, timeline: tuple[TimelineInterval, ...]) -> Repricing:
    return Repricing(
        run_id=base.run_id,
        repriced_at=T0 + timedelta(days=30),
        repriced_from=base.intensity_source,
        source=IntensitySource(provider="electricitymaps", zone="US-NW-PACW"),
        emissions_g=sum(iv.emissions_g for iv in timeline),
        intensity_g_per_kwh=123.0,
        attributed_emissions_g=None,
        flags=("repriced",),
        timeline=timeline,
        estimated_share=0.0,
        step_s=3600.0,
    )


def repriced(timeline: tuple[TimelineInterval, ...]) -> tuple[TimelineInterval, ...]:
    """The same energy priced at 50 g/kWh."""
    return tuple(
        attrs.evolve(iv, intensity_g_per_kwh=50.0, emissions_g=iv.energy_kwh * 50.0)
        for iv in timeline
    )


def test_a_repricing_of_the_same_timeline_is_applied() -> None:
    base = finished_run()
    priced = apply_repricing(base, repricing_of(base, repriced(TIMELINE)))
    assert priced is not None
    assert priced.emissions_g == pytest.approx(100.0)
    assert priced.intensity_g_per_kwh == 123.0
    assert priced.intensity_source.provider == "electricitymaps"
    assert priced.energy_kwh == base.energy_kwh


def test_a_repricing_within_a_millisecond_of_the_span_is_applied() -> None:
    base = finished_run()
    ms = timedelta(milliseconds=1)
    shifted = repriced(TIMELINE)
    shifted = (
        attrs.evolve(shifted[0], start=shifted[0].start + ms),
        *shifted[1:-1],
        attrs.evolve(shifted[-1], end=shifted[-1].end - ms),
    )
    assert apply_repricing(base, repricing_of(base, shifted)) is not None


@pytest.mark.parametrize("change", ["energy", "start", "end", "fewer-intervals"])
def test_a_repricing_of_another_timeline_is_ignored(change: str) -> None:
    base = finished_run()
    other = repriced(TIMELINE)
    if change == "energy":  # 0.5 kWh more in all
        other = (attrs.evolve(other[0], energy_kwh=other[0].energy_kwh + 0.5), *other[1:])
    elif change == "start":
        other = (attrs.evolve(other[0], start=other[0].start - timedelta(seconds=1)), *other[1:])
    elif change == "end":
        other = (*other[:-1], attrs.evolve(other[-1], end=other[-1].end + timedelta(seconds=1)))
    else:  # the first two minutes only, as made from a checkpoint of a run still going
        other = other[:2]
    assert apply_repricing(base, repricing_of(base, other)) is None


def test_a_run_without_a_timeline_is_never_repriced() -> None:
    base = attrs.evolve(finished_run(), timeline=())
    assert apply_repricing(base, repricing_of(base, repriced(TIMELINE))) is None


def test_history_lists_only_the_pricings_that_apply(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    base = finished_run()
    good = attrs.evolve(
        base,
        timeline=repriced(TIMELINE),
        emissions_g=100.0,
        intensity_g_per_kwh=50.0,
        repriced_at=T0 + timedelta(days=1),
        repriced_from=base.intensity_source,
        intensity_source=IntensitySource(provider="electricitymaps", zone="US-NW-PACW"),
    )
    stale = attrs.evolve(
        good, timeline=repriced(TIMELINE)[:2], emissions_g=1.0, repriced_at=T0 + timedelta(days=2)
    )
    append_records(
        path,
        [
            result_to_record(base),
            reprice_record(good, estimated_share=0.0, step_s=3600.0),
            reprice_record(stale, estimated_share=0.0, step_s=3600.0),
        ],
    )
    history = Ledger(path).history("r-killed")
    assert [h.emissions_g for h in history] == pytest.approx([400.0, 100.0])
    assert Ledger(path).get("r-kill").emissions_g == pytest.approx(100.0)


# -- nested runs -----------------------------------------------------------------------------


def test_top_level_keeps_orphans_and_self_parents_but_not_children() -> None:
    parent = attrs.evolve(finished_run(), run_id="p")
    child = attrs.evolve(finished_run(), run_id="c", parent_run_id="p")
    orphan = attrs.evolve(finished_run(), run_id="o", parent_run_id="gone")
    selfish = attrs.evolve(finished_run(), run_id="s", parent_run_id="s")
    assert [r.run_id for r in top_level([parent, child, orphan, selfish])] == ["p", "o", "s"]


# -- lock ------------------------------------------------------------------------------------


def test_append_waits_for_a_lock_that_is_released(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.touch(mode=0o600)
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    release = threading.Timer(0.2, lambda: (fcntl.flock(fd, fcntl.LOCK_UN), os.close(fd)))
    release.start()
    try:
        append_records(path, [result_to_record(finished_run())], lock_timeout_s=30.0)
    finally:
        release.join()
    (written,) = Ledger(path).runs()
    assert written.run_id == "r-killed"


# -- distributed jobs ------------------------------------------------------------------------


def job_run(
    run_id: str,
    node: str,
    node_rank: int | None,
    *,
    start_min: int,
    end_min: int,
    energy_kwh: float,
    emissions_g: float,
    pue: float = 1.0,
    rank: int = 0,
    source: str = "env",
) -> RunResult:
    return attrs.evolve(
        finished_run(),
        run_id=run_id,
        started_at=T0 + timedelta(minutes=start_min),
        ended_at=T0 + timedelta(minutes=end_min),
        energy_kwh=energy_kwh,
        emissions_g=emissions_g,
        pue=pue,
        host={},
        job=JobInfo(
            launcher="torchrun",
            job_id="j1",
            job_id_source=source,
            rank=rank,
            local_rank=0,
            world_size=8,
            local_world_size=4,
            node_rank=node_rank,
            node=node,
            role="host",
        ),
    )


def test_a_job_spans_its_earliest_start_to_its_latest_end() -> None:
    runs = [
        job_run(
            "b", "host-b#1", 1, start_min=2, end_min=20, energy_kwh=1.0, emissions_g=100.0, rank=4
        ),
        job_run("a", "host-a#0", 0, start_min=0, end_min=10, energy_kwh=1.0, emissions_g=300.0),
        job_run(
            "a2", "host-a#0", 0, start_min=11, end_min=15, energy_kwh=1.0, emissions_g=300.0, rank=0
        ),
    ]
    job = aggregate("j1", runs)
    assert job.started_at == T0 and job.ended_at == T0 + timedelta(minutes=20)
    assert job.duration_s == 20 * 60
    assert [n.node for n in job.nodes] == ["host-a#0", "host-b#1"]
    node_a = job.nodes[0]
    assert node_a.started_at == T0 and node_a.ended_at == T0 + timedelta(minutes=15)
    assert node_a.hostname == "host-a"
    assert job.expected_nodes == 2 and not any(f.startswith("missing-nodes") for f in job.flags)


def test_a_job_mean_intensity_is_weighted_by_energy_without_pue() -> None:
    runs = [
        job_run(
            "a", "host-a#0", 0, start_min=0, end_min=10, energy_kwh=1.0, emissions_g=150.0, pue=1.5
        ),  # 100 g/kWh before PUE
        job_run(
            "b", "host-b#1", 1, start_min=0, end_min=10, energy_kwh=3.0, emissions_g=900.0, rank=4
        ),  # 300 g/kWh
    ]
    job = aggregate("j1", runs)
    assert job.intensity_g_per_kwh == pytest.approx((100.0 + 900.0) / 4.0)
    assert job.emissions_g == pytest.approx(1050.0)


def test_a_job_missing_a_node_is_flagged_and_a_port_based_id_is_not_unique() -> None:
    runs = [
        job_run(
            "a",
            "host-a#0",
            0,
            start_min=0,
            end_min=10,
            energy_kwh=1.0,
            emissions_g=1.0,
            source="MASTER_ADDR:MASTER_PORT",
        )
    ]
    job = aggregate("j1", runs)
    assert "missing-nodes:1" in job.flags
    assert "job-id-not-unique" in job.flags


def test_a_small_rebuilt_run_still_gets_its_energy_weighted_intensity() -> None:
    small = tuple(
        attrs.evolve(iv, energy_kwh=iv.energy_kwh / 10, emissions_g=iv.emissions_g / 10)
        for iv in TIMELINE
    )
    result = rebuilt(checkpoint_record(run(), 0, small))  # 0.2 kWh in all
    assert result.energy_kwh == pytest.approx(0.2)
    assert result.intensity_g_per_kwh == pytest.approx(200.0)


def reprice_dict(**changes: object) -> dict[str, object]:
    base = finished_run()
    good = attrs.evolve(
        base,
        timeline=repriced(TIMELINE),
        repriced_at=T0 + timedelta(days=1),
        repriced_from=base.intensity_source,
    )
    record = reprice_record(good, estimated_share=0.25, step_s=3600.0)
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("changes", "ok"),
    [
        ({}, True),
        ({"estimated_share": 1.0}, True),
        ({"estimated_share": 0.0}, True),
        ({"estimated_share": None}, True),
        ({"estimated_share": 1.5}, False),
        ({"estimated_share": -0.1}, False),
        ({"step_s": 0.5}, True),
        ({"step_s": None}, True),
        ({"step_s": 0.0}, False),
        ({"step_s": -60.0}, False),
    ],
)
def test_reprice_records_are_range_checked(changes: dict[str, object], ok: bool) -> None:
    record = reprice_dict(**changes)
    if ok:
        decoded = repricing_from_record(record)
        assert decoded.estimated_share == record["estimated_share"]
        assert decoded.step_s == record["step_s"]
    else:
        with pytest.raises(RecordError):
            repricing_from_record(record)


@pytest.mark.parametrize("missing", ["intensity_source", "repriced_from"])
def test_a_reprice_record_without_its_sources_does_not_decode(missing: str) -> None:
    record = reprice_dict()
    del record[missing]
    with pytest.raises(RecordError):
        repricing_from_record(record)


def test_reprice_record_needs_a_repriced_run() -> None:
    base = finished_run()
    half = attrs.evolve(base, repriced_at=T0 + timedelta(days=1))  # repriced_from missing
    with pytest.raises(ValueError):
        reprice_record(half, estimated_share=None, step_s=None)
    record = reprice_record(
        attrs.evolve(half, repriced_from=base.intensity_source), estimated_share=None, step_s=None
    )
    assert record["step_s"] is None


def test_job_nodes_are_ordered_by_node_rank_then_name_unranked_last() -> None:
    runs = [
        job_run("u2", "bbb", None, start_min=0, end_min=5, energy_kwh=1.0, emissions_g=1.0),
        job_run("u1", "aaa", None, start_min=0, end_min=5, energy_kwh=1.0, emissions_g=1.0),
        job_run("r1", "zzz#1", 1, start_min=0, end_min=5, energy_kwh=1.0, emissions_g=1.0),
        job_run("r0", "yyy#0", 0, start_min=0, end_min=5, energy_kwh=1.0, emissions_g=1.0),
    ]
    job = aggregate("j1", runs)
    assert [n.node for n in job.nodes] == ["yyy#0", "zzz#1", "aaa", "bbb"]
    assert job.gathered is False


@pytest.mark.parametrize(("second_start", "overlaps"), [(10, False), (9, True)])
def test_only_truly_overlapping_host_runs_of_a_node_are_flagged(
    second_start: int, overlaps: bool
) -> None:
    runs = [
        job_run("a", "host-a#0", 0, start_min=0, end_min=10, energy_kwh=1.0, emissions_g=1.0),
        job_run(
            "a2", "host-a#0", 0, start_min=second_start, end_min=15, energy_kwh=1.0, emissions_g=1.0
        ),  # a restart: touching is not overlapping
    ]
    flags = aggregate("j1", runs).flags
    assert ("overlapping-host-runs:host-a#0" in flags) is overlaps


def test_a_small_or_empty_job_gets_the_right_mean_intensity() -> None:
    small = [
        job_run("a", "host-a#0", 0, start_min=0, end_min=10, energy_kwh=0.5, emissions_g=100.0)
    ]
    assert aggregate("j1", small).intensity_g_per_kwh == pytest.approx(200.0)
    empty = [job_run("a", "host-a#0", 0, start_min=0, end_min=10, energy_kwh=0.0, emissions_g=0.0)]
    assert aggregate("j1", empty).intensity_g_per_kwh is None


def test_a_cleanly_rebuilt_run_is_not_flagged_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    writer = LedgerWriter(path)
    writer.write(checkpoint_record(run(), 0, TIMELINE[:1]))
    writer.write(checkpoint_record(run(), 1, TIMELINE[1:], full=False))
    (result,) = Ledger(path).runs()
    assert "rebuilt-from-checkpoints" in result.flags
    assert not any(f.startswith("checkpoints-unreadable") for f in result.flags)


def test_a_clean_ledger_skips_nothing_and_unknown_schemas_are_skipped(tmp_path: Path) -> None:
    """Records of a future schema (or a boolean one) are not carbonsdk records this reader
    knows: skipped and counted, never read as runs."""
    path = tmp_path / "ledger.jsonl"
    finished = attrs.evolve(run(), status="completed", timeline=TIMELINE)
    append_records(path, [result_to_record(finished)])
    ledger = Ledger(path)
    assert ledger.skipped_lines == 0
    assert [r.run_id for r in ledger.runs()] == ["r-killed"]
    assert ledger.skipped_lines == 0
    future = dict(result_to_record(attrs.evolve(finished, run_id="r-future")), schema=99)
    boolean = dict(result_to_record(attrs.evolve(finished, run_id="r-bool")), schema=True)
    append_records(path, [future, boolean])
    assert [r.run_id for r in ledger.runs()] == ["r-killed"]
    assert ledger.skipped_lines == 2


def test_to_pandas_of_one_run_has_utc_datetimes(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    path = tmp_path / "ledger.jsonl"
    finished = attrs.evolve(run(), status="completed", timeline=TIMELINE)
    append_records(path, [result_to_record(finished)])
    frame = Ledger(path).to_pandas()
    assert len(frame) == 1
    assert str(frame["started_at"].dt.tz) == "UTC"
    assert frame.loc[0, "started_at"] == pd.Timestamp(T0)
    assert frame.loc[0, "ended_at"] == pd.Timestamp(T0 + timedelta(minutes=3))


# -- jobs: expected nodes, node facts, duplicates, lookups (mutation survivors of job.py) ------


def with_job(r: RunResult, **changes: object) -> RunResult:
    """``r`` with its job info changed."""
    assert r.job is not None
    return attrs.evolve(r, job=attrs.evolve(r.job, **changes))


def one_node_run(run_id: str = "a", **job: object) -> RunResult:
    return with_job(
        job_run(run_id, "host-a#0", 0, start_min=0, end_min=10, energy_kwh=1.0, emissions_g=1.0),
        **job,
    )


@pytest.mark.parametrize(
    ("world_size", "local_world_size"),
    [(None, 4), (8, None), (None, None), (0, 4), (10, 4)],  # unknown, or no whole node count
)
def test_no_expected_node_count_without_a_whole_number_of_nodes(
    world_size: int | None, local_world_size: int | None
) -> None:
    job = aggregate("j1", [one_node_run(world_size=world_size, local_world_size=local_world_size)])
    assert job.expected_nodes is None
    assert not any(f.startswith("missing-nodes") for f in job.flags)


def test_runs_that_disagree_on_the_world_expect_the_largest() -> None:
    """An elastic restart changed the world size: the job expects the larger node count."""
    runs = [
        one_node_run("a", world_size=4, local_world_size=4),  # 1 node
        with_job(one_node_run("b", world_size=12, local_world_size=4), rank=1),  # 3 nodes
    ]
    job = aggregate("j1", runs)
    assert job.expected_nodes == 3
    assert "missing-nodes:2" in job.flags


def test_a_node_without_ranks_has_none_and_one_in_two_zones_has_an_unknown_region() -> None:
    a = one_node_run("a", rank=None)
    b = attrs.evolve(
        one_node_run("b", rank=None),
        started_at=T0 + timedelta(minutes=20),
        ended_at=T0 + timedelta(minutes=30),
        region=Region("aws", "eu-central-1", "DE", "imds", "DE"),
    )
    job = aggregate("j1", [a, b])
    (node,) = job.nodes
    assert node.ranks == ()
    assert not node.region.known
    assert "region-unknown" in job.flags


def test_a_nodes_region_is_that_of_its_earliest_run() -> None:
    """Two runs of one node in one zone, the zone detected two ways: the node reports the
    region as its first run found it (NodeResult docstring)."""
    first = attrs.evolve(one_node_run("b"), region=Region("aws", "us-west-2", "US-NW-PACW", "imds"))
    later = attrs.evolve(
        one_node_run("a"),
        started_at=T0 + timedelta(minutes=20),
        ended_at=T0 + timedelta(minutes=30),
        region=Region(None, None, "US-NW-PACW", "explicit"),
    )
    (node,) = aggregate("j1", [later, first]).nodes
    assert node.region == first.region


def test_host_runs_that_only_touch_do_not_overlap() -> None:
    """A zero-length host run at the instant another starts shares no time with it."""
    long = one_node_run("a")
    instant = attrs.evolve(one_node_run("b"), ended_at=T0)  # starts and ends at T0
    job = aggregate("j1", [long, instant])
    assert not any(f.startswith("overlapping-host-runs") for f in job.flags)


def test_a_newer_pricing_of_the_same_run_counts_whatever_the_order() -> None:
    old = attrs.evolve(
        one_node_run("a"),
        emissions_g=10.0,
        repriced_at=T0 + timedelta(days=1),
    )
    new = attrs.evolve(old, emissions_g=20.0, repriced_at=T0 + timedelta(days=2))
    never = attrs.evolve(old, emissions_g=5.0, repriced_at=None)
    for order in ([old, new, never], [never, new, old], [new, old, never]):
        assert aggregate("j1", order).emissions_g == 20.0


def test_a_runs_end_record_counts_over_a_rebuild_from_an_older_copy() -> None:
    """A per-node copy of the ledger taken while the run was going holds only checkpoints: the
    run rebuilt from them (a part of the run) never replaces the run's own end record."""
    full = attrs.evolve(one_node_run("a"), energy_kwh=2.0, timeline=TIMELINE)
    partial = attrs.evolve(
        full, energy_kwh=0.5, status="interrupted", flags=("rebuilt-from-checkpoints",)
    )
    for order in ([full, partial], [partial, full]):
        job = aggregate("j1", order)
        assert job.energy_kwh == 2.0 and job.status == "completed"
        assert "rebuilt-from-checkpoints" not in job.flags


def test_the_same_ledger_given_twice_counts_each_run_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    runs = [
        attrs.evolve(one_node_run("a"), timeline=TIMELINE),
        attrs.evolve(
            with_job(one_node_run("b"), node="host-b#1", node_rank=1, rank=4), timeline=TIMELINE
        ),
    ]
    append_records(path, [result_to_record(r) for r in runs])
    once = job_result("j1", path)
    twice = job_result("j1", [path, path])
    assert twice.energy_kwh == once.energy_kwh == 2.0
    assert [r.run_id for r in twice.runs] == ["a", "b"]


def test_an_unknown_job_lists_the_last_ten_job_ids_or_none(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    append_records(empty, [result_to_record(attrs.evolve(one_node_run("x"), job=None))])
    with pytest.raises(LedgerError, match=r"jobs found: none$"):
        job_result("nope", empty)
    path = tmp_path / "ledger.jsonl"
    records = [result_to_record(one_node_run(f"r{i}", job_id=f"job-{i:02d}")) for i in range(12)]
    records.append(result_to_record(one_node_run("anon", job_id=None)))  # a job without an id
    append_records(path, records)
    with pytest.raises(LedgerError) as err:
        job_result("nope", path)
    known = str(err.value).split("jobs found: ")[1]
    assert known == ", ".join(f"job-{i:02d}" for i in range(2, 12))


# -- the reader: rebuilding after a finished run, skipped-line counts, gathered records ---------


def test_every_killed_run_is_rebuilt_even_after_a_finished_one(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    done = attrs.evolve(run(), run_id="r-done", status="completed")
    killed = attrs.evolve(run(), run_id="r-killed2")
    append_records(
        path,
        [
            checkpoint_record(done, 0, TIMELINE),
            result_to_record(done),
            checkpoint_record(killed, 0, TIMELINE),
        ],
    )
    runs = {r.run_id: r for r in Ledger(path).runs()}
    assert set(runs) == {"r-done", "r-killed2"}
    assert "rebuilt-from-checkpoints" in runs["r-killed2"].flags


def test_skipped_lines_add_up_over_every_cause(tmp_path: Path) -> None:
    """A broken line, checkpoints of two runs that cannot be rebuilt (no full checkpoint: one
    and two lines), "job" records whose members are not a list: each line counts once."""
    path = tmp_path / "ledger.jsonl"

    def small(run_id: str, seq: int) -> str:
        r = attrs.evolve(run(), run_id=run_id)
        return json.dumps(checkpoint_record(r, seq, TIMELINE, full=False))

    lines = ["{not json", small("r-1", 1), small("r-2", 1), small("r-2", 2)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ledger = Ledger(path)
    assert ledger.runs() == []
    assert ledger.skipped_lines == 4
    member = summary_record(attrs.evolve(one_node_run("m"), timeline=()))
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"schema": 1, "type": "job", "job_id": "j1", "members": "oops"}) + "\n")
        for _ in range(2):  # no members at all: nothing to skip
            f.write(json.dumps({"schema": 1, "type": "job", "job_id": "j1"}) + "\n")
        f.write(
            json.dumps({"schema": 1, "type": "job", "job_id": "j1", "members": [member]}) + "\n"
        )
    ledger = Ledger(path)
    assert [r.run_id for r in ledger.gathered_runs()] == ["m"]
    assert ledger.skipped_lines == 1 + 1  # the broken line, read once more, and "oops"


def test_to_pandas_repriced_at_is_utc_even_when_no_run_was_repriced(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    path = tmp_path / "ledger.jsonl"
    append_records(path, [result_to_record(attrs.evolve(run(), status="completed"))])
    frame = Ledger(path).to_pandas()
    assert frame["repriced_at"].isna().all()
    assert isinstance(frame["repriced_at"].dtype, pd.DatetimeTZDtype)
    assert str(frame["repriced_at"].dt.tz) == "UTC"


def test_table_rows_carry_the_job_id_and_the_pricing_time() -> None:
    repriced = attrs.evolve(one_node_run("a"), repriced_at=T0 + timedelta(days=1))
    (row,) = run_records([repriced])
    assert row["job_id"] == "j1"
    assert row["repriced_at"] == T0 + timedelta(days=1)
    assert row["repriced_at"].tzinfo is not None
