"""Decoding ledger records back into values (carbonsdk/ledger/decode.py), found open by mutation
testing (docs/testing.md): the defaults an older record's missing fields take, numbers too large
for a float, null and non-finite values, the nesting limit of free-form host facts, the exact
RecordError messages a reader sees, and the timeline's fast path, which must decode every
interval exactly as the checked path does (and give up on anything else)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsdk.ledger import (
    Ledger,
    RecordError,
    append_run,
    checkpoint_record,
    rebuild_from_checkpoints,
    result_from_record,
    result_to_record,
)
from carbonsdk.ledger.schema import (
    device_from_dict,
    interval_from_dict,
    job_from_dict,
    mark_from_dict,
    repricing_from_record,
    source_from_dict,
)
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import DeviceResult, JobInfo, Mark, RunResult, TimelineInterval

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ISO0 = T0.isoformat()
ISO1 = (T0 + timedelta(minutes=1)).isoformat()


def make_result(run_id: str = "r1", **changes: Any) -> RunResult:
    """A finished two-interval run with one device and one mark."""
    timeline = tuple(
        TimelineInterval(
            start=T0 + timedelta(minutes=i),
            end=T0 + timedelta(minutes=i + 1),
            energy_kwh=0.25 * (i + 1),
            energy_by_component_kwh={"gpu": 0.2 * (i + 1), "cpu": 0.05 * (i + 1)},
            intensity_g_per_kwh=300.0 + i,
            emissions_g=0.25 * (i + 1) * (300.0 + i),
            intensity_estimated=i == 1,
        )
        for i in range(2)
    )
    fields: dict[str, Any] = {
        "run_id": run_id,
        "name": "train",
        "status": "completed",
        "started_at": T0,
        "ended_at": T0 + timedelta(minutes=2),
        "duration_s": 120.0,
        "energy_kwh": 0.75,
        "energy_by_component_kwh": {"gpu": 0.6, "cpu": 0.15},
        "emissions_g": 226.0,
        "intensity_g_per_kwh": 301.0,
        "pue": 1.2,
        "region": Region("aws", "us-west-2", "US-NW-PACW", "explicit", "US"),
        "intensity_source": IntensitySource(provider="embedded", zone="US-NW-PACW"),
        "timeline": timeline,
        "devices": (DeviceResult("gpu", "gpu:0", "H100", "nvml-energy-counter", False, 0.6),),
        "tags": {"team": "nlp"},
        "interval_s": 5.0,
        "marks": (Mark(T0 + timedelta(minutes=1), "epoch", 0.25, {"epoch": 1}),),
    }
    fields.update(changes)
    return RunResult(**fields)


def record(**changes: Any) -> dict[str, Any]:
    """The JSON ``"run"`` record of :func:`make_result`, with ``changes`` to its fields."""
    rec = json.loads(json.dumps(result_to_record(make_result())))
    rec.update(changes)
    return rec


_RECORD = record()


def interval_dict(**changes: Any) -> dict[str, Any]:
    """One interval as the encoder writes it (all floats), with ``changes``."""
    iv: dict[str, Any] = {
        "start": ISO0,
        "end": ISO1,
        "energy_kwh": 0.5,
        "energy_by_component_kwh": {"gpu": 0.4, "cpu": 0.1},
        "intensity_g_per_kwh": 300.0,
        "emissions_g": 150.0,
        "intensity_estimated": False,
    }
    iv.update(changes)
    return iv


def decode_one_interval(iv: Any) -> tuple[TimelineInterval, tuple[str, ...]]:
    """The interval ``iv`` decoded as the only interval of a run record, and the run's flags."""
    result = result_from_record({**_RECORD, "timeline": [iv], "flags": []})
    (decoded,) = result.timeline
    return decoded, result.flags


def write_lines(path: Path, *records: dict[str, Any]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    return path


# -- older records: every optional field missing -----------------------------------------------

OLD_RUN: dict[str, Any] = {
    "schema": 1,
    "type": "run",
    "run_id": "old",
    "started_at": ISO0,
    "ended_at": ISO1,
    "duration_s": 60.0,
    "energy_kwh": 0.5,
    "emissions_g": 150.0,
}


def test_an_older_run_record_takes_the_documented_defaults(tmp_path: Path) -> None:
    expected = RunResult(
        run_id="old",
        name="",
        status="completed",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=1),
        duration_s=60.0,
        energy_kwh=0.5,
        energy_by_component_kwh={},
        emissions_g=150.0,
        intensity_g_per_kwh=None,
        pue=1.0,
        region=Region(None, None, None, "unknown", None),
        intensity_source=IntensitySource(provider="unknown"),
        timeline=(),
        devices=(),
        tags={},
        interval_s=1.0,
    )
    assert result_from_record(OLD_RUN) == expected
    ledger = Ledger(write_lines(tmp_path / "old.jsonl", OLD_RUN))
    assert ledger.runs() == [expected] and ledger.skipped_lines == 0
    # defaults hold for missing fields only: written values are read back as written
    assert result_from_record({**OLD_RUN, "pue": 1.5, "interval_s": 10.0}).pue == 1.5


def test_an_older_run_record_without_a_required_number_is_rejected() -> None:
    for field in ("duration_s", "energy_kwh", "emissions_g"):
        rec = {k: v for k, v in OLD_RUN.items() if k != field}
        with pytest.raises(RecordError) as err:
            result_from_record(rec)
        assert str(err.value) == f"{field}: missing"
    rec = {k: v for k, v in OLD_RUN.items() if k != "started_at"}
    with pytest.raises(RecordError, match=r"^started_at: missing$"):
        result_from_record(rec)


def test_older_nested_records_take_their_defaults() -> None:
    assert device_from_dict({"component": "gpu", "key": "gpu:0"}) == DeviceResult(
        "gpu", "gpu:0", "gpu:0", "unknown", False, 0.0
    )
    assert mark_from_dict({"at": ISO0}) == Mark(T0, "", 0.0, {})
    assert job_from_dict({"launcher": "torchrun", "job_id": "j1"}) == JobInfo(
        "torchrun", "j1", "unknown", None, None, None, None, None, "", "host", 0
    )
    assert source_from_dict({"provider": "embedded"}) == IntensitySource(provider="embedded")
    assert source_from_dict({"provider": "embedded"}).estimated is False
    # the same through a whole run record
    result = result_from_record(
        {
            **OLD_RUN,
            "devices": [{"component": "gpu", "key": "gpu:0"}],
            "marks": [{"at": ISO0}],
            "job": {"launcher": "slurm", "job_id": "42"},
            "intensity_source": {"provider": "embedded"},
        }
    )
    assert result.devices[0].energy_kwh == 0.0
    assert result.marks[0].energy_kwh == 0.0
    assert result.job is not None and result.job.restart_count == 0
    assert result.intensity_source.estimated is False


def test_an_older_interval_without_components_or_estimate_flag() -> None:
    old = interval_dict()
    del old["energy_by_component_kwh"], old["intensity_estimated"]
    decoded, flags = decode_one_interval(old)
    assert decoded == TimelineInterval(T0, T0 + timedelta(minutes=1), 0.5, {}, 300.0, 150.0)
    assert decoded.intensity_estimated is False and flags == ()


# -- round trips ------------------------------------------------------------------------------


def test_a_repriced_run_round_trips_with_the_source_it_replaced(tmp_path: Path) -> None:
    old_source = IntensitySource(provider="world-average", estimated=True, note="no zone")
    repriced = make_result(
        "rp",
        repriced_at=T0 + timedelta(days=1),
        repriced_from=old_source,
        flags=("repriced",),
    )
    assert result_from_record(json.loads(json.dumps(result_to_record(repriced)))) == repriced
    append_run(tmp_path / "l.jsonl", repriced)
    (read,) = Ledger(tmp_path / "l.jsonl").runs()
    assert read.repriced_from == old_source and read == repriced
    never = result_from_record(record())
    assert never.repriced_from is None and never.repriced_at is None


def test_mark_data_keeps_every_json_scalar(tmp_path: Path) -> None:
    data = {"epoch": 3, "loss": 0.25, "phase": "eval", "best": True, "last": False, "note": None}
    result = make_result("m", marks=(Mark(T0, "eval", 0.5, data),))
    append_run(tmp_path / "l.jsonl", result)
    (read,) = Ledger(tmp_path / "l.jsonl").runs()
    assert dict(read.marks[0].data) == data
    assert type(read.marks[0].data["best"]) is bool
    assert type(read.marks[0].data["epoch"]) is int


def test_mark_data_too_large_for_a_float_becomes_null(tmp_path: Path) -> None:
    rec = record()
    rec["marks"] = [{"at": ISO0, "label": "x", "energy_kwh": 0.1, "data": {"step": 7}}]
    line = json.dumps(rec).replace(
        '"step": 7', '"step": 7, "big": 1' + "0" * 400 + ', "neg": -1e999'
    )
    assert "-Infinity" not in line and "1" + "0" * 400 in line
    (tmp_path / "l.jsonl").write_text(line + "\n", encoding="utf-8")
    (read,) = Ledger(tmp_path / "l.jsonl").runs()
    assert dict(read.marks[0].data) == {"step": 7, "big": None, "neg": None}
    inf = result_from_record({**rec, "marks": [{"at": ISO0, "data": {"x": math.inf}}]})
    assert dict(inf.marks[0].data) == {"x": None}


def test_mark_data_rejects_arrays_and_objects() -> None:
    for value, kind in (([1], "an array"), ({"a": 1}, "an object")):
        with pytest.raises(RecordError) as err:
            result_from_record(record(marks=[{"at": ISO0, "data": {"xs": value}}]))
        assert str(err.value) == (
            f"marks.data.xs: expected a string, number, boolean or null, got {kind}"
        )


# -- numbers -----------------------------------------------------------------------------------


def test_integer_literals_too_large_for_a_float_keep_their_sign(tmp_path: Path) -> None:
    huge = "1" + "0" * 400
    line = (
        json.dumps(record(run_id="big", flags=[]))
        .replace('"duration_s": 120.0', f'"duration_s": {huge}')
        .replace('"emissions_g": 226.0', f'"emissions_g": -{huge}')
    )
    assert huge in line and f"-{huge}" in line
    (tmp_path / "l.jsonl").write_text(line + "\n", encoding="utf-8")
    (read,) = Ledger(tmp_path / "l.jsonl").runs()
    assert read.duration_s == math.inf
    assert read.emissions_g == -math.inf
    assert read.flags == ("non-finite:duration_s", "non-finite:emissions_g")


def test_a_non_finite_optional_number_is_none() -> None:
    for value in (math.inf, -math.inf, math.nan, 10**400, -(10**400)):
        result = result_from_record(
            record(intensity_g_per_kwh=value, attributed_emissions_g=value, flags=[])
        )
        assert result.intensity_g_per_kwh is None
        assert result.attributed_emissions_g is None
        assert result.flags == ()
    assert result_from_record(record(intensity_g_per_kwh=250)).intensity_g_per_kwh == 250.0


# -- host facts: at most 16 levels deep -----------------------------------------------------------


def nested_objects(levels: int) -> dict[str, Any]:
    """An object ``levels`` objects deep (itself included)."""
    value: dict[str, Any] = {"leaf": 1}
    for i in range(levels - 1):
        value = {f"level{levels - 1 - i}": value}
    return value


def nested_arrays(levels: int) -> dict[str, Any]:
    """An object holding arrays ``levels`` deep (the object itself is the first level)."""
    value: Any = [1]
    for _ in range(levels - 2):
        value = [value]
    return {"a": value}


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("nested", [nested_objects, nested_arrays])
def test_host_facts_up_to_16_levels_deep_are_read_back(tmp_path: Path, nested: Any) -> None:
    host = nested(16)
    assert _depth(host) == 16
    result = make_result("deep", host=host)
    append_run(tmp_path / "l.jsonl", result)
    ledger = Ledger(tmp_path / "l.jsonl")
    assert ledger.runs() == [result] and ledger.skipped_lines == 0
    assert dict(ledger.runs()[0].host) == host


@pytest.mark.parametrize("nested", [nested_objects, nested_arrays])
def test_host_facts_17_levels_deep_are_rejected(tmp_path: Path, nested: Any) -> None:
    host = nested(17)
    assert _depth(host) == 17
    with pytest.raises(RecordError) as err:
        result_from_record(record(host=host))
    assert str(err.value) == "host: expected an object at most 16 levels deep, got an object"
    ledger = Ledger(write_lines(tmp_path / "l.jsonl", record(host=host), record(run_id="ok")))
    assert [r.run_id for r in ledger.runs()] == ["ok"] and ledger.skipped_lines == 1


# -- what a reader is told about a bad record ---------------------------------------------------


def test_a_record_that_is_not_an_object_is_named_record() -> None:
    for bad, kind in (([1], "an array"), ("run", "a string"), (None, "null"), (3, "a number")):
        with pytest.raises(RecordError) as err:
            result_from_record(bad)  # type: ignore[arg-type]
        assert str(err.value) == f"record: expected an object, got {kind}"
        with pytest.raises(RecordError) as err:
            repricing_from_record(bad)  # type: ignore[arg-type]
        assert str(err.value) == f"record: expected an object, got {kind}"


def test_an_array_item_that_is_not_an_object_is_named_by_its_array() -> None:
    for field in ("timeline", "devices", "marks", "pauses"):
        with pytest.raises(RecordError) as err:
            result_from_record(record(**{field: [7]}))
        assert str(err.value) == f"{field}: expected an object, got a number"


LONG_NOT_ISO = "not a timestamp at all, and rather longer than forty characters"
LONG_NAIVE = "2024-05-01T12:00:00.123456789012345678901234567890"
LONG_OUT_OF_RANGE = "0001-01-01T00:00:00.000000+01:00:00.000000"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (LONG_NOT_ISO, f"started_at: {LONG_NOT_ISO[:40]!r} is not an ISO 8601 timestamp"),
        (LONG_NAIVE, f"started_at: naive timestamp {LONG_NAIVE[:40]!r}"),
        (LONG_OUT_OF_RANGE, f"started_at: {LONG_OUT_OF_RANGE[:40]!r} is out of range in UTC"),
        (5, "started_at: expected an ISO 8601 string, got a number"),
    ],
)
def test_a_bad_timestamp_is_quoted_to_40_characters(value: Any, message: str) -> None:
    assert len(LONG_NOT_ISO) > 41 and len(LONG_NAIVE) > 41 and len(LONG_OUT_OF_RANGE) > 41
    with pytest.raises(RecordError) as err:
        result_from_record(record(started_at=value))
    assert str(err.value) == message


def test_checkpoint_device_errors_are_strings_or_null() -> None:
    full = make_result("k")
    first = checkpoint_record(full, 0, full.timeline[:1])
    first["device_errors"] = {"gpu:0": "lost"}
    cleared = checkpoint_record(full, 1, full.timeline[1:], full=False)
    cleared["device_errors"] = {"gpu:0": None}  # no error (any more)
    rebuilt = rebuild_from_checkpoints([first, cleared])
    assert not any(f.startswith("checkpoints-unreadable") for f in rebuilt.flags)
    assert rebuilt.timeline == full.timeline
    assert rebuilt.devices[0].error is None
    bad = checkpoint_record(full, 1, full.timeline[1:], full=False)
    bad["device_errors"] = {"gpu:0": 3}
    rebuilt = rebuild_from_checkpoints([first, bad])
    assert "checkpoints-unreadable:1" in rebuilt.flags
    assert rebuilt.timeline == full.timeline[:1]


# -- timeline intervals: the fast path decodes exactly as the checked path ---------------------


def test_intervals_round_trip_through_a_ledger_file(tmp_path: Path) -> None:
    result = make_result("t")
    append_run(tmp_path / "l.jsonl", result)
    (read,) = Ledger(tmp_path / "l.jsonl").runs()
    assert read.timeline == result.timeline
    assert [iv.intensity_estimated for iv in read.timeline] == [False, True]


def test_integer_numbers_in_an_interval_decode_as_floats() -> None:
    decoded, flags = decode_one_interval(
        interval_dict(
            energy_kwh=1,
            energy_by_component_kwh={"gpu": 1},
            intensity_g_per_kwh=300,
            emissions_g=300,
        )
    )
    assert decoded == TimelineInterval(
        T0, T0 + timedelta(minutes=1), 1.0, {"gpu": 1.0}, 300.0, 300.0
    )
    values = [decoded.energy_kwh, decoded.intensity_g_per_kwh, decoded.emissions_g]
    assert all(type(v) is float for v in [*values, *decoded.energy_by_component_kwh.values()])
    assert flags == ()


@pytest.mark.parametrize(
    "field", ["energy_kwh", "intensity_g_per_kwh", "emissions_g", "energy_by_component_kwh.gpu"]
)
@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
def test_a_null_or_non_finite_interval_number_is_kept_and_flagged(field: str, value: Any) -> None:
    iv = interval_dict()
    if field.startswith("energy_by_component_kwh."):
        iv["energy_by_component_kwh"] = {"gpu": value, "cpu": 0.1}
        got = lambda d: d.energy_by_component_kwh["gpu"]  # noqa: E731
    else:
        iv[field] = value
        got = lambda d: getattr(d, field)  # noqa: E731
    decoded, flags = decode_one_interval(iv)
    expected = math.nan if value is None else value
    assert math.isnan(got(decoded)) if math.isnan(expected) else got(decoded) == expected
    assert flags == (f"non-finite:timeline.{field}",)


def test_an_interval_of_only_non_finite_numbers_is_flagged_field_by_field() -> None:
    iv = interval_dict(
        energy_kwh=math.nan,
        energy_by_component_kwh={},
        intensity_g_per_kwh=math.inf,
        emissions_g=math.nan,
    )
    decoded, flags = decode_one_interval(iv)
    assert math.isnan(decoded.energy_kwh) and decoded.intensity_g_per_kwh == math.inf
    assert flags == (
        "non-finite:timeline.energy_kwh",
        "non-finite:timeline.intensity_g_per_kwh",
        "non-finite:timeline.emissions_g",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start": 5}, "timeline.start: expected an ISO 8601 string, got a number"),
        ({"end": 5}, "timeline.end: expected an ISO 8601 string, got a number"),
        ({"start": None}, "timeline.start: expected an ISO 8601 string, got null"),
        ({"end": ["x"]}, "timeline.end: expected an ISO 8601 string, got an array"),
        ({"start": 5, "end": 5}, "timeline.start: expected an ISO 8601 string, got a number"),
        (
            {"energy_by_component_kwh": [0.4]},
            "timeline.energy_by_component_kwh: expected an object, got an array",
        ),
        (
            {"energy_by_component_kwh": 0.5},
            "timeline.energy_by_component_kwh: expected an object, got a number",
        ),
        (
            {"energy_by_component_kwh": {"gpu": "0.4"}},
            "timeline.energy_by_component_kwh.gpu: expected a number, got a string",
        ),
        (
            {"intensity_estimated": "yes"},
            "timeline.intensity_estimated: expected a boolean, got a string",
        ),
        (
            {"intensity_estimated": 1},
            "timeline.intensity_estimated: expected a boolean, got a number",
        ),
        (
            {"intensity_estimated": 0},
            "timeline.intensity_estimated: expected a boolean, got a number",
        ),
        ({"energy_kwh": True}, "timeline.energy_kwh: expected a number, got a boolean"),
        ({"emissions_g": "150"}, "timeline.emissions_g: expected a number, got a string"),
        ({"start": "2024-05-01T12:00:00"}, "timeline.start: naive timestamp '2024-05-01T12:00:00'"),
        ({"end": "2024-05-01T12:01:00"}, "timeline.end: naive timestamp '2024-05-01T12:01:00'"),
        (
            {"end": "0001-01-01T00:00:00+01:00"},
            "timeline.end: '0001-01-01T00:00:00+01:00' is out of range in UTC",
        ),
        ({"start": "yesterday"}, "timeline.start: 'yesterday' is not an ISO 8601 timestamp"),
    ],
)
def test_a_bad_interval_is_rejected_naming_its_field(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    bad = interval_dict(**changes)
    with pytest.raises(RecordError) as err:
        interval_from_dict(bad)
    assert str(err.value) == message
    with pytest.raises(RecordError) as err:
        result_from_record(record(timeline=[interval_dict(), bad]))
    assert str(err.value) == message
    # a reader skips that record and counts it
    ledger = Ledger(
        write_lines(tmp_path / "l.jsonl", record(run_id="bad", timeline=[bad]), record(run_id="ok"))
    )
    assert [r.run_id for r in ledger.runs()] == ["ok"] and ledger.skipped_lines == 1


@pytest.mark.parametrize("missing", ["energy_kwh", "intensity_g_per_kwh", "emissions_g", "start"])
def test_an_interval_without_a_required_field_is_rejected(missing: str) -> None:
    iv = interval_dict()
    del iv[missing]
    with pytest.raises(RecordError) as err:
        interval_from_dict(iv)
    assert str(err.value) == f"timeline.{missing}: missing"


def test_a_null_estimate_flag_is_false() -> None:
    decoded, _ = decode_one_interval(interval_dict(intensity_estimated=None))
    assert decoded.intensity_estimated is False
    decoded, _ = decode_one_interval(interval_dict(intensity_estimated=True))
    assert decoded.intensity_estimated is True


# A model of the documented decoding of one interval, and a property check against it: every
# dict the reader may meet (right types, ints, bools, null, non-finite, strings, missing keys,
# naive and out-of-range times) decodes as the model says, whichever path the decoder takes.

_MISSING = object()
_TIMES = [ISO0, ISO1, "2024-05-01T12:00:00", "0001-01-01T00:00:00+01:00", "soon", 5, None]
_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([None, True, False, "1.0", [1.0]]),
)


def _model_number(value: Any) -> float | None:
    """The decoded value of a JSON number (NaN for null); None: not a number."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _model_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            return None
        when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return when


def _model(d: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """The decoded fields of interval ``d`` and its non-finite fields; None: a RecordError."""
    out: dict[str, Any] = {}
    nonfinite: list[str] = []
    for key in ("start", "end"):
        when = _model_time(d.get(key, _MISSING))
        if when is None:
            return None
        out[key] = when
    for key in ("energy_kwh", "energy_by_component_kwh", "intensity_g_per_kwh", "emissions_g"):
        if key == "energy_by_component_kwh":
            comps = d.get(key)
            if comps is None:
                comps = {}
            if not isinstance(comps, dict):
                return None
            out[key] = {}
            for k, v in comps.items():
                number = _model_number(v)
                if number is None:
                    return None
                if not math.isfinite(number):
                    nonfinite.append(f"timeline.{key}.{k}")
                out[key][k] = number
            continue
        if key not in d:
            return None
        number = _model_number(d[key])
        if number is None:
            return None
        if not math.isfinite(number):
            nonfinite.append(f"timeline.{key}")
        out[key] = number
    est = d.get("intensity_estimated")
    if est is not None and not isinstance(est, bool):
        return None
    out["intensity_estimated"] = bool(est)
    return out, nonfinite


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return type(a) is type(b) and a == b


@st.composite
def interval_dicts(draw: st.DrawFn) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for key in ("start", "end"):
        value = draw(st.sampled_from([*_TIMES, _MISSING]))
        if value is not _MISSING:
            d[key] = value
    for key in ("energy_kwh", "intensity_g_per_kwh", "emissions_g"):
        if draw(st.integers(0, 9)):
            d[key] = draw(_NUMBERS)
    comps = draw(
        st.one_of(
            st.dictionaries(st.sampled_from(["gpu", "cpu", "ram"]), _NUMBERS, max_size=3),
            st.sampled_from([_MISSING, None, [0.1], 0.5]),
        )
    )
    if comps is not _MISSING:
        d["energy_by_component_kwh"] = comps
    est = draw(st.sampled_from([_MISSING, True, False, None, 0, 1, "true"]))
    if est is not _MISSING:
        d["intensity_estimated"] = est
    return d


_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
_ODD_NUMBERS = [None, math.nan, math.inf, -math.inf, 1, 0, 10**400, True, "1.0"]
#: per field, the values other than a finite float (or an aware time) a reader may meet
_ODD: dict[str, list[Any]] = {
    "start": [*_TIMES[2:], ISO1],
    "end": [*_TIMES[2:], ISO0],
    "energy_kwh": _ODD_NUMBERS,
    "intensity_g_per_kwh": _ODD_NUMBERS,
    "emissions_g": _ODD_NUMBERS,
    "energy_by_component_kwh": [None, {}, [0.1], 0.5, *({"gpu": v} for v in _ODD_NUMBERS)],
    "intensity_estimated": [None, 0, 1, "true", True, False],
}

_CHANGES = [(k, v) for k, values in _ODD.items() for v in [*values, _MISSING]]


@st.composite
def near_valid_interval_dicts(draw: st.DrawFn, numbers: st.SearchStrategy[float]) -> dict[str, Any]:
    """A well-formed interval (any ``numbers``) with up to two fields changed or removed."""
    d = interval_dict(
        energy_kwh=draw(numbers),
        energy_by_component_kwh=draw(
            st.dictionaries(st.sampled_from(["gpu", "cpu", "ram"]), numbers, max_size=3)
        ),
        intensity_g_per_kwh=draw(numbers),
        emissions_g=draw(numbers),
        intensity_estimated=draw(st.booleans()),
    )
    for key, value in draw(st.lists(st.sampled_from(_CHANGES), max_size=2)):
        if value is _MISSING:
            d.pop(key, None)
        else:
            d[key] = value
    return d


def check_decodes_as_documented(d: dict[str, Any]) -> None:
    """``d``, the only interval of a run record, decodes as :func:`_model` says."""
    model = _model(d)
    if model is None:
        with pytest.raises(RecordError, match=r"^timeline\."):
            decode_one_interval(d)
        return
    fields, nonfinite = model
    decoded, flags = decode_one_interval(d)
    for key, value in fields.items():
        got = getattr(decoded, key)
        if key == "energy_by_component_kwh":
            assert set(got) == set(value)
            assert all(_same(got[k], v) for k, v in value.items()), (d, got)
        else:
            assert _same(got, value), (d, key, got)
    assert flags == tuple(f"non-finite:{p}" for p in dict.fromkeys(nonfinite)), d


_BASES = [
    interval_dict(),
    interval_dict(intensity_estimated=True),
    interval_dict(
        energy_kwh=math.nan,
        energy_by_component_kwh={"gpu": math.inf},
        intensity_g_per_kwh=-math.inf,
        emissions_g=math.nan,
    ),
]


def test_every_interval_one_or_two_changes_from_a_good_one_decodes_as_documented() -> None:
    """Every pair of changes (a field set to an odd value or removed) to a well-formed
    interval, finite or not: the fast path's give-up checks, one at a time and together."""
    checked = 0
    for base in _BASES:
        for i, first in enumerate(_CHANGES):
            for second in [None, *_CHANGES[i:]]:
                d = dict(base)
                for key, value in (first,) if second is None else (first, second):
                    if value is _MISSING:
                        d.pop(key, None)
                    else:
                        d[key] = value
                check_decodes_as_documented(d)
                checked += 1
    assert checked > 3 * len(_CHANGES) ** 2 // 2


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        interval_dicts(),
        near_valid_interval_dicts(_FINITE),
        near_valid_interval_dicts(_NON_FINITE),
    )
)
def test_every_interval_decodes_as_documented(d: dict[str, Any]) -> None:
    check_decodes_as_documented(d)
