"""The JSONL ledger: round trip, permissions, torn lines, garbage, concurrent processes,
checkpoint rebuild, and a full disk."""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from carbonsdk.exceptions import LedgerError
from carbonsdk.ledger import (
    Ledger,
    LedgerWriter,
    RecordError,
    append_records,
    append_run,
    checkpoint_record,
    encode_record,
    result_from_record,
    result_to_record,
    top_level,
)
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import DeviceResult, Mark, PauseEvent, RunResult, TimelineInterval

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_result(
    run_id: str = "r1",
    *,
    start: datetime = T0,
    n: int = 3,
    name: str = "job",
    status: str = "completed",
) -> RunResult:
    timeline = tuple(
        TimelineInterval(
            start=start + timedelta(seconds=i),
            end=start + timedelta(seconds=i + 1),
            energy_kwh=0.001 * (i + 1),
            energy_by_component_kwh={"gpu": 0.0008 * (i + 1), "cpu": 0.0002 * (i + 1)},
            intensity_g_per_kwh=300.0 + i,
            emissions_g=0.001 * (i + 1) * (300 + i),
            intensity_estimated=i == 0,
        )
        for i in range(n)
    )
    return RunResult(
        run_id=run_id,
        name=name,
        status=status,
        started_at=start,
        ended_at=start + timedelta(seconds=n),
        duration_s=float(n),
        energy_kwh=sum(iv.energy_kwh for iv in timeline),
        energy_by_component_kwh={
            "gpu": sum(iv.energy_by_component_kwh["gpu"] for iv in timeline),
            "cpu": sum(iv.energy_by_component_kwh["cpu"] for iv in timeline),
        },
        emissions_g=sum(iv.emissions_g for iv in timeline),
        intensity_g_per_kwh=301.0,
        pue=1.0,
        region=Region("aws", "us-west-2", "US-NW-PACW", "explicit", "US"),
        intensity_source=IntensitySource(
            provider="embedded",
            basis="lifecycle",
            zone="US-NW-PACW",
            estimated=True,
            dataset="test",
        ),
        timeline=timeline,
        devices=(
            DeviceResult("gpu", "gpu:0", "Fake H100", "nvml-energy-counter", False, 0.005),
            DeviceResult(
                "cpu",
                "cpu:host",
                "host",
                "model-cpu-utilisation",
                True,
                0.001,
                status="degraded",
                error="boom",
            ),
        ),
        tags={"team": "nlp"},
        not_measured={"ram": "no sensor"},
        estimated_components=("cpu",),
        flags=("intensity-estimated",),
        pauses=(PauseEvent(start, start + timedelta(seconds=1)),),
    )


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    result = make_result()
    assert result_from_record(json.loads(json.dumps(result_to_record(result)))) == result
    path = tmp_path / "sub" / "ledger.jsonl"
    append_run(path, result)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Ledger(path).runs() == [result]
    assert Ledger(path).last() == result
    assert Ledger(path).get("r1") == result


def test_env_var_selects_the_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere.jsonl"
    monkeypatch.setenv("CARBONSDK_LEDGER", str(target))
    append_run(None, make_result())
    assert target.exists() and Ledger().path == target and len(Ledger().runs()) == 1


def test_records_have_schema_and_type(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    append_run(path, make_result())
    (rec,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert rec["schema"] == 1 and rec["type"] == "run"
    assert rec["started_at"].endswith("+00:00")


def test_torn_last_line_is_skipped_and_sealed(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    append_run(path, make_result("a"))
    full = json.dumps(result_to_record(make_result("b")))
    with open(path, "a") as fh:
        fh.write(full[: len(full) // 2])  # power loss mid-write: no newline
    ledger = Ledger(path)
    assert [r.run_id for r in ledger.runs()] == ["a"] and ledger.skipped_lines == 1
    append_run(path, make_result("c", start=T0 + timedelta(hours=1)))
    ledger = Ledger(path)
    assert [r.run_id for r in ledger.runs()] == ["a", "c"]
    assert ledger.skipped_lines == 1


def test_garbage_lines_are_counted_and_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(
        'not json\n{"schema": 99, "type": "run", "run_id": "x"}\n[1,2]\n\n'
        '{"schema": 1, "type": "run", "run_id": "bad"}\n'
    )
    append_run(path, make_result("ok"))
    ledger = Ledger(path)
    with caplog.at_level("WARNING", logger="carbonsdk"):
        runs = ledger.runs()
    assert [r.run_id for r in runs] == ["ok"]
    assert ledger.skipped_lines == 4
    assert len([r for r in caplog.records if "skipped 4" in r.getMessage()]) == 1


def test_get_by_prefix_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    append_run(path, make_result("abc123"))
    append_run(path, make_result("abd456", start=T0 + timedelta(hours=1)))
    ledger = Ledger(path)
    assert ledger.get("abc").run_id == "abc123"
    with pytest.raises(LedgerError, match="ambiguous"):
        ledger.get("ab")
    with pytest.raises(LedgerError, match="no run 'zzz'"):
        ledger.get("zzz")
    assert Ledger(tmp_path / "missing.jsonl").runs() == []
    assert Ledger(tmp_path / "missing.jsonl").last() is None


def test_checkpoints_rebuild_an_interrupted_run(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    full = make_result("k", n=6)
    writer = LedgerWriter(path)
    writer.write(checkpoint_record(full, 0, full.timeline[:2]))
    writer.write(checkpoint_record(full, 1, full.timeline[2:4]))
    (rebuilt,) = Ledger(path).runs()
    assert rebuilt.status == "interrupted"
    assert rebuilt.timeline == full.timeline[:4]
    assert rebuilt.ended_at == full.timeline[3].end
    assert rebuilt.energy_kwh == pytest.approx(sum(iv.energy_kwh for iv in full.timeline[:4]))
    assert rebuilt.emissions_g == pytest.approx(sum(iv.emissions_g for iv in full.timeline[:4]))
    assert "rebuilt-from-checkpoints" in rebuilt.flags
    # once the run record lands it wins over the checkpoints
    writer.write(result_to_record(full))
    (final,) = Ledger(path).runs()
    assert final == full


def test_full_disk_keeps_records_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    if not Path("/dev/full").exists():
        pytest.fail("/dev/full is needed for the full-disk test")
    writer = LedgerWriter(Path("/dev/full"))
    with caplog.at_level("WARNING", logger="carbonsdk"):
        assert writer.write(result_to_record(make_result("a"))) is False
        assert writer.write(result_to_record(make_result("b"))) is False
    assert writer.pending == 2
    assert "No space left" in (writer.last_error or "")
    assert len([r for r in caplog.records if "could not write" in r.getMessage()]) == 1


def test_pending_records_are_written_when_the_disk_recovers(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    writer = LedgerWriter(Path("/dev/full"))
    writer.write(result_to_record(make_result("a")))
    writer.path = path  # the disk has space again
    assert writer.write(result_to_record(make_result("b", start=T0 + timedelta(hours=1))))
    assert [r.run_id for r in Ledger(path).runs()] == ["a", "b"]
    assert writer.pending == 0


WRITER = """
import sys
from datetime import timedelta
sys.path.insert(0, {tests!r})
from test_ledger import make_result, T0
from carbonsdk.ledger import append_run
worker = int(sys.argv[1])
for i in range(int(sys.argv[2])):
    r = make_result(f"w{{worker}}-{{i}}", start=T0 + timedelta(seconds=worker * 1000 + i), n=40)
    append_run(sys.argv[3], r)
"""


def test_concurrent_processes_never_interleave(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    path = tmp_path / "shared.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent)))
    workers, per = 6, 40
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(w), str(per), str(path)], env=subprocess_env
        )
        for w in range(workers)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert all(json.loads(line)["type"] == "run" for line in lines[:-1])
    ledger = Ledger(path)
    runs = ledger.runs()
    assert ledger.skipped_lines == 0
    assert len(runs) == workers * per
    assert {r.run_id for r in runs} == {f"w{w}-{i}" for w in range(workers) for i in range(per)}
    assert all(len(r.timeline) == 40 for r in runs)


def test_result_is_frozen() -> None:
    result = make_result()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.tags["x"] = "y"  # type: ignore[index]
    assert os.environ["CARBONSDK_OFFLINE"] == "1"


# -- the reader is total (issue 10) ---------------------------------------------------------------


def _line(record: dict[str, object]) -> str:
    return json.dumps(record) + "\n"


def _ledger_with(tmp_path: Path, *bad_lines: str) -> Path:
    """A ledger with a good run "good" before and "after" after the bad lines."""
    path = tmp_path / "l.jsonl"
    append_run(path, make_result("good"))
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(bad_lines)
    append_run(path, make_result("after", start=T0 + timedelta(hours=2)))
    return path


def _good_record(run_id: str = "bad") -> dict[str, object]:
    return result_to_record(make_result(run_id, start=T0 + timedelta(hours=1)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", ["DE"]),
        ("tags", ["a", "b"]),
        ("timeline", {"start": "x"}),
        ("devices", "gpu"),
        ("marks", [1, 2]),
        ("job", [1]),
        ("flags", "oops"),
        ("started_at", 5),
        ("started_at", "2024-05-01T12:00:00"),
        ("run_id", 7),
        ("energy_by_component_kwh", {"gpu": "1"}),
        ("pauses", [{"start": None}]),
        ("host", {"a": json.loads("[" * 20 + "1" + "]" * 20)}),
        ("intensity_source", {"estimated": "yes"}),
        ("parent_run_id", 3),
    ],
)
def test_a_wrong_typed_field_skips_only_that_record(
    tmp_path: Path, field: str, value: object
) -> None:
    path = _ledger_with(tmp_path, _line({**_good_record(), field: value}))
    ledger = Ledger(path)
    assert [r.run_id for r in ledger.runs()] == ["good", "after"]
    assert ledger.skipped_lines == 1
    assert ledger.last() is not None and ledger.last().run_id == "after"  # type: ignore[union-attr]
    assert ledger.get("good").run_id == "good"
    with pytest.raises(LedgerError, match="no run 'bad'"):
        ledger.get("bad")


def test_deep_nesting_and_huge_numbers_are_not_fatal(tmp_path: Path) -> None:
    huge = json.dumps(_good_record("huge")).replace(
        '"energy_kwh": 0.006', '"energy_kwh": 1' + "0" * 400, 1
    )
    assert '"energy_kwh": 1000' in huge
    long_int = json.dumps(_good_record("long")).replace(
        '"duration_s": 3.0', '"duration_s": 1' + "0" * 5000, 1
    )  # past int()'s digit limit
    path = _ledger_with(
        tmp_path,
        "[" * 50_000 + "]" * 50_000 + "\n",
        '{"a":' * 50_000 + "1" + "}" * 50_000 + "\n",
        huge + "\n",
        long_int + "\n",
    )
    ledger = Ledger(path)
    runs = {r.run_id: r for r in ledger.runs()}
    assert set(runs) == {"good", "after", "huge"} and ledger.skipped_lines == 3
    # an integer literal too large for a float is infinite, flagged, never an OverflowError
    assert runs["huge"].energy_kwh == math.inf
    assert "non-finite:energy_kwh" in runs["huge"].flags


def test_non_finite_numbers_are_kept_and_flagged(tmp_path: Path) -> None:
    nan = json.dumps({**_good_record("nan"), "duration_s": float("nan"), "emissions_g": None})
    path = _ledger_with(tmp_path, nan + "\n")
    (run,) = [r for r in Ledger(path).runs() if r.run_id == "nan"]
    assert math.isnan(run.duration_s) and math.isnan(run.emissions_g)
    assert {"non-finite:duration_s", "non-finite:emissions_g"} <= set(run.flags)


def test_unreadable_checkpoints_are_skipped_in_a_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    full = make_result("k", n=6)
    writer = LedgerWriter(path)
    writer.write(checkpoint_record(full, 0, full.timeline[:2]))
    bad = checkpoint_record(full, 1, full.timeline[2:4], full=False)
    bad["timeline"] = {"start": 1}
    writer.write(bad)
    writer.write(checkpoint_record(full, 2, full.timeline[4:], full=False))
    writer.write({"schema": 1, "type": "checkpoint", "run_id": "orphan", "seq": "x"})
    ledger = Ledger(path)
    (rebuilt,) = ledger.runs()
    assert ledger.skipped_lines == 2
    assert rebuilt.timeline == full.timeline[:2] + full.timeline[4:]
    assert "checkpoints-unreadable:1" in rebuilt.flags
    # a run whose only checkpoints carry no metadata cannot be rebuilt: skipped, counted
    path2 = tmp_path / "l2.jsonl"
    LedgerWriter(path2).write(checkpoint_record(full, 1, full.timeline[:1], full=False))
    ledger2 = Ledger(path2)
    assert ledger2.runs() == [] and ledger2.skipped_lines == 1


def test_decoders_raise_only_record_error() -> None:
    for bad in (
        {},
        {"run_id": "x"},
        {
            "run_id": "x",
            "started_at": "2024-05-01T12:00:00+00:00",
            "ended_at": "0001-01-01T00:00:00+01:00",
        },
    ):
        with pytest.raises(RecordError):
            result_from_record(bad)
    with pytest.raises(RecordError, match="region: expected an object, got an array"):
        result_from_record({**_good_record(), "region": ["DE"]})
    with pytest.raises(RecordError, match=r"tags\.team: expected a string"):
        result_from_record({**_good_record(), "tags": {"team": 1}})


# -- writing never blocks on a bad value (issue 10) ------------------------------------------------


def test_a_non_finite_record_is_written_as_null_and_never_blocks_the_next(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    writer = LedgerWriter(path)
    broken = attrs.evolve(
        make_result("nan"),
        energy_kwh=math.nan,
        energy_by_component_kwh={"gpu": math.inf, "cpu": 0.1},
    )
    assert writer.write(result_to_record(broken)) is True
    assert writer.write(result_to_record(make_result("next", start=T0 + timedelta(hours=1))))
    assert writer.pending == 0
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert raw[0]["energy_kwh"] is None and raw[0]["energy_by_component_kwh"]["gpu"] is None
    assert "non-finite:energy_kwh" in raw[0]["flags"]
    assert "non-finite:energy_by_component_kwh.gpu" in raw[0]["flags"]
    nan_run, next_run = Ledger(path).runs()
    assert next_run.run_id == "next" and math.isnan(nan_run.energy_kwh)
    assert "non-finite:energy_kwh" in nan_run.flags
    assert encode_record({"x": 2**5000})  # an absurd integer is written too (as null)


# -- nested runs (issue 11) ------------------------------------------------------------------------


def test_parent_run_id_round_trips_and_last_is_top_level(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    parent = make_result("parent")
    child = attrs.evolve(
        make_result("child", start=T0 + timedelta(seconds=1)), parent_run_id="parent"
    )
    grandchild = attrs.evolve(
        make_result("grandchild", start=T0 + timedelta(seconds=2)), parent_run_id="child"
    )
    for run in (parent, child, grandchild):
        append_run(path, run)
    record = json.loads(path.read_text().splitlines()[1])
    assert record["parent_run_id"] == "parent"
    ledger = Ledger(path)
    assert ledger.runs() == [parent, child, grandchild]
    assert ledger.last() == parent  # the newest run is nested: last() is its top-level run
    assert ledger.children("parent") == [child] and ledger.children("child") == [grandchild]
    assert ledger.children("grandchild") == []
    assert [r.run_id for r in top_level(ledger.runs())] == ["parent"]
    # a record from before nested runs (no parent_run_id) is a top-level run
    old = result_to_record(make_result("old", start=T0 + timedelta(hours=1)))
    del old["parent_run_id"]
    append_records(path, [old])
    assert Ledger(path).last().run_id == "old"  # type: ignore[union-attr]


def test_checkpoints_carry_parent_run_id(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    child = attrs.evolve(make_result("c", n=4), parent_run_id="p")
    LedgerWriter(path).write(checkpoint_record(child, 0, child.timeline[:2]))
    (rebuilt,) = Ledger(path).runs()
    assert rebuilt.parent_run_id == "p"


# -- incremental marks in checkpoints (issue 10) ---------------------------------------------------


def _marks(n: int) -> tuple[Mark, ...]:
    return tuple(
        Mark(at=T0 + timedelta(seconds=i), label="epoch", energy_kwh=0.001 * i, data={"epoch": i})
        for i in range(n)
    )


def test_checkpoints_write_each_mark_once_and_rebuild_them_all(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    run = make_result("m", n=6)
    marks = _marks(5)
    writer = LedgerWriter(path)
    plan = [(0, 2, True), (1, 2, False), (2, 4, False), (3, 5, True)]  # (seq, marks so far, full)
    written = 0
    for seq, upto, full in plan:
        partial = attrs.evolve(run, marks=marks[:upto])
        record = checkpoint_record(
            partial, seq, run.timeline[seq : seq + 1], full=full, marks_from=written
        )
        written = upto
        writer.write(record)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [len(rec.get("marks", [])) for rec in lines] == [2, 0, 2, 1]
    assert "marks" not in lines[1]  # a small checkpoint without new marks carries none
    (rebuilt,) = Ledger(path).runs()
    assert rebuilt.marks == marks
    assert rebuilt.timeline == run.timeline[:4]


def test_old_checkpoints_with_every_mark_still_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    run = make_result("m", n=6)
    marks = _marks(4)
    writer = LedgerWriter(path)  # the old scheme: full checkpoints repeat all marks so far
    writer.write(checkpoint_record(attrs.evolve(run, marks=marks[:2]), 0, run.timeline[:1]))
    writer.write(
        checkpoint_record(attrs.evolve(run, marks=marks[:3]), 1, run.timeline[1:2], full=False)
    )
    writer.write(checkpoint_record(attrs.evolve(run, marks=marks), 2, run.timeline[2:3]))
    (rebuilt,) = Ledger(path).runs()
    assert rebuilt.marks == marks


# -- tables: to_records, to_pandas (issue 12) ------------------------------------------------------


def _table_ledger(tmp_path: Path) -> Path:
    path = tmp_path / "l.jsonl"
    append_run(path, make_result("a"))
    append_run(
        path,
        attrs.evolve(
            make_result("b", start=T0 + timedelta(hours=1)),
            parent_run_id="a",
            tags={"lr": "0.1"},
            energy_by_component_kwh={"gpu": 0.004},
            energy_kwh=0.004,
        ),
    )
    return path


def test_to_records_one_flat_row_per_run(tmp_path: Path) -> None:
    rows = Ledger(_table_ledger(tmp_path)).to_records()
    assert [r["run_id"] for r in rows] == ["a", "b"]
    assert all(list(r) == list(rows[0]) for r in rows)  # same columns in every row
    a, b = rows
    assert a["parent_run_id"] is None and b["parent_run_id"] == "a"
    assert a["energy_gpu_kwh"] == pytest.approx(0.0048) and a["energy_cpu_kwh"] > 0
    assert b["energy_cpu_kwh"] is None  # not measured: no figure, never 0
    assert a["started_at"] == T0 and a["started_at"].tzinfo is not None
    assert a["zone"] == "US-NW-PACW" and a["region_provider"] == "aws"
    assert a["region_code"] == "us-west-2" and a["intensity_source"] == "embedded"
    assert a["intensity_signal"] == "average" and a["intensity_estimated"] is True
    assert a["flags"] == "intensity-estimated"
    assert a["tag_team"] == "nlp" and a["tag_lr"] is None and b["tag_lr"] == "0.1"


def test_to_pandas(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is the optional carbonsdk[pandas] extra")
    frame = Ledger(_table_ledger(tmp_path)).to_pandas()
    assert list(frame["run_id"]) == ["a", "b"] and len(frame) == 2
    assert str(frame["started_at"].dt.tz) == "UTC"
    assert frame["started_at"].iloc[0] == pd.Timestamp(T0)
    assert frame["energy_kwh"].sum() == pytest.approx(0.006 + 0.004)
    assert pd.isna(frame["energy_cpu_kwh"].iloc[1])
    empty = Ledger(tmp_path / "none.jsonl").to_pandas()
    assert len(empty) == 0 and "energy_kwh" in empty.columns


def test_to_pandas_without_pandas_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'carbonsdk\[pandas\]'"):
        Ledger(_table_ledger(tmp_path)).to_pandas()
