"""What the ledger's encoder writes (found by mutation testing of carbonsdk/ledger/schema.py and
frame.py, see docs/testing.md): the JSONL line a user finds (UTF-8 text, repriced fields only on
repriced runs, the compact timeline of a reprice record), how a record with a non-finite number
is cleaned (null plus a ``non-finite:FIELD`` flag, the run's own flags kept, over-long integers
dropped, nesting deeper than 64 levels written as text) and the table rows of ``run_records``."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

from carbonsdk.ledger import (
    Ledger,
    append_records,
    checkpoint_record,
    encode_record,
    result_from_record,
    result_to_record,
    run_records,
)
from carbonsdk.ledger.schema import reprice_record, repricing_from_record
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import JobInfo, PauseEvent, RunResult, TimelineInterval

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OLD_SOURCE = IntensitySource(
    provider="embedded", basis="lifecycle", zone="DE", estimated=True, dataset="test"
)
NEW_SOURCE = IntensitySource(provider="electricitymaps", basis="lifecycle", zone="DE")


def _interval(i: int, estimated: bool) -> TimelineInterval:
    return TimelineInterval(
        start=T0 + timedelta(minutes=i),
        end=T0 + timedelta(minutes=i + 1),
        energy_kwh=0.5,
        energy_by_component_kwh={"gpu": 0.4, "cpu": 0.1},
        intensity_g_per_kwh=200.0,
        emissions_g=100.0,
        intensity_estimated=estimated,
    )


def _run(run_id: str = "r1", **changes: Any) -> RunResult:
    timeline = (_interval(0, True), _interval(1, False), _interval(2, True))
    base = RunResult(
        run_id=run_id,
        name="train",
        status="completed",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=3),
        duration_s=180.0,
        energy_kwh=1.5,
        energy_by_component_kwh={"gpu": 1.2, "cpu": 0.3},
        emissions_g=300.0,
        intensity_g_per_kwh=200.0,
        pue=1.0,
        region=Region("manual", "DE", "DE", "explicit", "DE"),
        intensity_source=OLD_SOURCE,
        timeline=timeline,
        devices=(),
        tags={"team": "nlp"},
        flags=("intensity-estimated",),
    )
    return attrs.evolve(base, **changes)


def _line(record: dict[str, Any]) -> dict[str, Any]:
    """The record as a reader of the JSONL file finds it."""
    raw = encode_record(record)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    parsed: dict[str, Any] = json.loads(raw)
    return parsed


# -- the line a user finds ---------------------------------------------------------------------


def test_non_ascii_text_is_written_as_plain_utf8() -> None:
    raw = encode_record(result_to_record(_run(name="café 東京", tags={"owner": "Zoë"})))
    assert "café 東京".encode() in raw and "Zoë".encode() in raw
    assert b"\\u" not in raw  # readable with grep, not \\u escapes
    assert result_from_record(json.loads(raw)).name == "café 東京"


def test_a_run_never_repriced_has_no_repriced_fields(tmp_path: Path) -> None:
    line = _line(result_to_record(_run()))
    assert "repriced_at" not in line and "repriced_from" not in line
    path = tmp_path / "l.jsonl"
    append_records(path, [result_to_record(_run())])
    (back,) = Ledger(path).runs()
    assert back.repriced_at is None and back.repriced_from is None


@pytest.mark.parametrize(
    ("at", "source"),
    [
        (T0 + timedelta(days=1), OLD_SOURCE),  # a repriced run
        (T0 + timedelta(days=1), None),  # only one of the two known: each is kept alone
        (None, OLD_SOURCE),
    ],
)
def test_repriced_fields_of_a_run_record_round_trip(
    tmp_path: Path, at: datetime | None, source: IntensitySource | None
) -> None:
    repriced = _run(repriced_at=at, repriced_from=source, intensity_source=NEW_SOURCE)
    line = _line(result_to_record(repriced))
    assert line["repriced_at"] == (None if at is None else at.isoformat())
    assert (line["repriced_from"] is None) is (source is None)
    if source is not None:
        assert line["repriced_from"]["provider"] == "embedded"
        assert line["repriced_from"]["estimated"] is True
    path = tmp_path / "l.jsonl"
    append_records(path, [result_to_record(repriced)])
    (back,) = Ledger(path).runs()
    assert back.repriced_at == at
    assert back.repriced_from == source
    assert back.intensity_source == NEW_SOURCE


def test_an_open_pause_is_written_without_an_end(tmp_path: Path) -> None:
    pauses = (
        PauseEvent(T0, T0 + timedelta(seconds=30)),
        PauseEvent(T0 + timedelta(minutes=2), None),  # still paused when the run ended
    )
    line = _line(result_to_record(_run(pauses=pauses)))
    assert line["pauses"] == [
        {"start": T0.isoformat(), "end": (T0 + timedelta(seconds=30)).isoformat()},
        {"start": (T0 + timedelta(minutes=2)).isoformat(), "end": None},
    ]
    path = tmp_path / "l.jsonl"
    append_records(path, [result_to_record(_run(pauses=pauses))])
    (back,) = Ledger(path).runs()
    assert back.pauses == pauses


def test_an_undefined_mean_intensity_is_null_in_a_json_ready_record() -> None:
    """A run with no energy has no mean intensity (NaN): the record (documented as JSON-ready)
    holds null, and that is not flagged as a non-finite value (nothing went wrong)."""
    empty = _run(intensity_g_per_kwh=math.nan, attributed_emissions_g=math.inf)
    record = result_to_record(empty)
    assert record["intensity_g_per_kwh"] is None
    assert record["attributed_emissions_g"] is None
    json.dumps(record, allow_nan=False)
    line = _line(record)
    assert line["flags"] == ["intensity-estimated"]
    assert result_from_record(line).intensity_g_per_kwh is None  # "no mean intensity"


# -- reprice records ---------------------------------------------------------------------------


def _repriced() -> RunResult:
    return _run(
        repriced_at=T0 + timedelta(days=1),
        repriced_from=OLD_SOURCE,
        intensity_source=NEW_SOURCE,
    )


def test_a_reprice_record_drops_only_the_default_estimated_flag() -> None:
    line = _line(reprice_record(_repriced(), estimated_share=2 / 3, step_s=60.0))
    assert [iv.get("intensity_estimated", "absent") for iv in line["timeline"]] == [
        True,
        "absent",
        True,
    ]
    back = repricing_from_record(line)
    assert [iv.intensity_estimated for iv in back.timeline] == [True, False, True]
    assert back.timeline == _repriced().timeline


@pytest.mark.parametrize("step_s", [60.0, 3600.0])
def test_a_reprice_record_keeps_the_step_of_the_new_series(step_s: float) -> None:
    line = _line(reprice_record(_repriced(), estimated_share=0.0, step_s=step_s))
    assert line["step_s"] == step_s
    assert repricing_from_record(line).step_s == step_s
    none = _line(reprice_record(_repriced(), estimated_share=None, step_s=None))
    assert none["step_s"] is None and repricing_from_record(none).step_s is None


# -- a record with a non-finite number ---------------------------------------------------------


def test_cleaning_a_non_finite_record_keeps_the_runs_own_flags() -> None:
    line = _line(result_to_record(_run(energy_kwh=math.nan)))
    assert line["energy_kwh"] is None
    assert line["flags"] == ["intensity-estimated", "non-finite:energy_kwh"]


def test_a_small_checkpoint_without_flags_gets_the_non_finite_flag() -> None:
    bad = attrs.evolve(_interval(0, False), energy_kwh=math.inf)
    record = checkpoint_record(_run(), 3, (bad, _interval(1, True)), full=False)
    assert "flags" not in record
    line = _line(record)
    assert line["flags"] == ["non-finite:timeline.energy_kwh"]
    assert line["timeline"][0]["energy_kwh"] is None
    assert line["timeline"][1]["energy_kwh"] == 0.5 and line["seq"] == 3


def test_integers_of_over_1024_bits_are_dropped_when_a_record_is_cleaned() -> None:
    record = {
        "schema": 1,
        "type": "run",
        "flags": [],
        "energy_kwh": math.nan,
        "host": {"ok": 2**1023, "huge": 2**1024, "neg": -(2**1024), "small": 7, "on": True},
    }
    line = _line(record)
    assert line["host"] == {"ok": 2**1023, "huge": None, "neg": None, "small": 7, "on": True}
    assert line["flags"] == ["non-finite:energy_kwh", "non-finite:host.huge", "non-finite:host.neg"]


def _nested_lists(levels: int) -> list[Any]:
    inner: list[Any] = []
    for _ in range(levels):
        inner = [inner]
    return inner


def _nested_dicts(levels: int) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    for _ in range(levels):
        inner = {"a": inner}
    return inner


def _innermost(value: Any, levels: int, key: str | int) -> Any:
    for _ in range(levels):
        value = value[key]
    return value


@pytest.mark.parametrize(("make", "key"), [(_nested_lists, 0), (_nested_dicts, "a")])
def test_nesting_deeper_than_64_levels_is_written_as_text(make: Any, key: str | int) -> None:
    """A record being cleaned (it holds a NaN) keeps 64 levels of nesting below the record; a
    value deeper than that is written as its text."""
    # the record is level 0, "deep" level 1, its innermost container level 1 + levels
    for levels, innermost in [(63, make(0)), (64, str(make(0))), (65, str(make(1)))]:
        line = _line({"flags": [], "x": math.nan, "deep": make(levels)})
        assert _innermost(line["deep"], min(levels, 64), key) == innermost, levels
        assert line["flags"] == ["non-finite:x"]


def test_a_deep_value_is_still_flagged_when_non_finite() -> None:
    line = _line({"flags": [], "deep": {"a": [[{"b": math.inf}]]}})
    assert line["deep"] == {"a": [[{"b": None}]]}
    assert line["flags"] == ["non-finite:deep.a.b"]


# -- table rows --------------------------------------------------------------------------------


def test_table_rows_carry_job_id_and_repriced_at_in_utc() -> None:
    cest = timezone(timedelta(hours=2))
    job = JobInfo(
        launcher="torchrun",
        job_id="job-7",
        job_id_source="env",
        rank=0,
        local_rank=0,
        world_size=2,
        local_world_size=2,
        node_rank=0,
        node="host#0",
        role="host",
    )
    repriced = _run(
        "a", job=job, repriced_at=datetime(2024, 5, 2, 14, 0, tzinfo=cest), repriced_from=OLD_SOURCE
    )
    rows = run_records([repriced, _run("b")])
    assert rows[0]["job_id"] == "job-7" and rows[1]["job_id"] is None
    assert rows[0]["repriced_at"] == datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    assert rows[0]["repriced_at"].utcoffset() == timedelta(0)
    assert rows[1]["repriced_at"] is None
