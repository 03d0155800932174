"""The JSONL ledger: round trip, permissions, torn lines, garbage, concurrent processes,
checkpoint rebuild, and a full disk."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from carbonsdk.exceptions import LedgerError
from carbonsdk.intensity.series import IntensitySource
from carbonsdk.ledger import (
    Ledger,
    LedgerWriter,
    append_run,
    checkpoint_record,
    result_from_record,
    result_to_record,
)
from carbonsdk.region.base import Region
from carbonsdk.result import DeviceResult, PauseEvent, RunResult, TimelineInterval

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_result(run_id: str = "r1", *, start: datetime = T0, n: int = 3, name: str = "job",
                status: str = "completed") -> RunResult:
    timeline = tuple(
        TimelineInterval(start=start + timedelta(seconds=i), end=start + timedelta(seconds=i + 1),
                         energy_kwh=0.001 * (i + 1),
                         energy_by_component_kwh={"gpu": 0.0008 * (i + 1),
                                                  "cpu": 0.0002 * (i + 1)},
                         intensity_g_per_kwh=300.0 + i, emissions_g=0.001 * (i + 1) * (300 + i),
                         intensity_estimated=i == 0)
        for i in range(n))
    return RunResult(
        run_id=run_id, name=name, status=status, started_at=start,
        ended_at=start + timedelta(seconds=n), duration_s=float(n),
        energy_kwh=sum(iv.energy_kwh for iv in timeline),
        energy_by_component_kwh={"gpu": sum(iv.energy_by_component_kwh["gpu"] for iv in timeline),
                                 "cpu": sum(iv.energy_by_component_kwh["cpu"] for iv in timeline)},
        emissions_g=sum(iv.emissions_g for iv in timeline), intensity_g_per_kwh=301.0, pue=1.0,
        region=Region("aws", "us-west-2", "US-NW-PACW", "explicit", "US"),
        intensity_source=IntensitySource(provider="embedded", basis="lifecycle",
                                         zone="US-NW-PACW", estimated=True, dataset="test"),
        timeline=timeline,
        devices=(DeviceResult("gpu", "gpu:0", "Fake H100", "nvml-energy-counter", False, 0.005),
                 DeviceResult("cpu", "cpu:host", "host", "model-cpu-utilisation", True, 0.001,
                              status="degraded", error="boom")),
        tags={"team": "nlp"}, not_measured={"ram": "no sensor"}, estimated_components=("cpu",),
        flags=("intensity-estimated",), pauses=(PauseEvent(start, start + timedelta(seconds=1)),),
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


def test_env_var_selects_the_default_path(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_garbage_lines_are_counted_and_warned_once(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text('not json\n{"schema": 99, "type": "run", "run_id": "x"}\n[1,2]\n\n'
                    '{"schema": 1, "type": "run", "run_id": "bad"}\n')
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


def test_concurrent_processes_never_interleave(tmp_path: Path,
                                               subprocess_env: dict[str, str]) -> None:
    path = tmp_path / "shared.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent)))
    workers, per = 6, 40
    procs = [subprocess.Popen([sys.executable, str(script), str(w), str(per), str(path)],
                              env=subprocess_env) for w in range(workers)]
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
