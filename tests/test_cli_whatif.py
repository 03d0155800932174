"""`carbonsdk whatif`: a run from a real ledger file, by id, --last, --json; errors; when a
plan is done; non-finite values."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carbonsdk.cli import main
from carbonsdk.ledger import append_run
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import RunResult, TimelineInterval

T0 = datetime(2023, 6, 1, 9, tzinfo=UTC)


def make_run(run_id: str, start: datetime = T0) -> RunResult:
    step = timedelta(minutes=30)
    timeline = tuple(
        TimelineInterval(
            start=start + k * step,
            end=start + (k + 1) * step,
            energy_kwh=0.4,
            energy_by_component_kwh={"gpu": 0.4},
            intensity_g_per_kwh=250.0,
            emissions_g=100.0,
        )
        for k in range(6)
    )
    return RunResult(
        run_id=run_id,
        name="finetune",
        status="completed",
        started_at=start,
        ended_at=start + 6 * step,
        duration_s=3 * 3600.0,
        energy_kwh=2.4,
        energy_by_component_kwh={"gpu": 2.4},
        emissions_g=600.0,
        intensity_g_per_kwh=250.0,
        pue=1.1,
        region=Region("gcp", "us-west2", "US-CAL-CISO", "explicit"),
        intensity_source=IntensitySource(provider="embedded", zone="US-CAL-CISO"),
        timeline=timeline,
        devices=(),
        tags={},
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    append_run(path, make_run("aaaa1111"))
    append_run(path, make_run("bbbb2222", T0 + timedelta(days=1)))
    return path


def test_whatif_last_prints_table(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["whatif", "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert "What if run bbbb2222" in out
    assert "US-CAL-CISO (own)" in out and "FR" in out and "vs own" in out
    assert "Flexible start (up to 1d later)" in out
    assert "Pause and resume (up to 100% longer)" in out


def test_whatif_by_prefix_json(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "whatif",
                "aaaa",
                "--ledger",
                str(ledger),
                "--json",
                "--max-delay",
                "6h",
                "--max-extension",
                "0.5",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["run_id"] == "aaaa1111" and doc["own_zone"] == "US-CAL-CISO"
    assert doc["max_delay_s"] == 21600 and doc["max_extension_fraction"] == 0.5
    rows = doc["regions"]
    assert [r["emissions_g"] for r in rows] == sorted(r["emissions_g"] for r in rows)
    assert sum(r["is_own"] for r in rows) == 1
    fs = doc["flexible_start"]
    assert fs["energy_kwh"] == pytest.approx(2.4) and fs["pue"] == 1.1
    assert doc["pause_and_resume"]["savings_fraction"] >= 0


def test_whatif_default_ledger_from_env(
    ledger: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARBONSDK_LEDGER", str(ledger))
    assert main(["whatif", "--last", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "bbbb2222"


def test_whatif_errors(ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["whatif", "zzzz", "--ledger", str(ledger)]) == 1
    assert "zzzz" in capsys.readouterr().err
    assert main(["whatif", "--ledger", str(tmp_path / "empty.jsonl")]) == 1
    assert "no runs" in capsys.readouterr().err
    assert main(["whatif", "aaaa", "--last", "--ledger", str(ledger)]) == 2
    err = capsys.readouterr().err
    assert "either RUN_ID or --last" in err and len(err.strip().splitlines()) == 1
    assert main(["whatif", "--ledger", str(ledger), "--max-delay", "6"]) == 2
    assert "--max-delay '6'" in capsys.readouterr().err
    assert main(["whatif", "--ledger", str(ledger), "--max-extension", "x"]) == 2
    assert "--max-extension 'x'" in capsys.readouterr().err


def test_pause_and_resume_says_when_it_is_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan that waits 3 h and never pauses is done 3 h later, not "0s later" (as the
    JSON's delay_s says)."""
    path = tmp_path / "ledger.jsonl"
    append_run(path, make_run("cccc3333", T0 + timedelta(hours=6)))
    assert main(["whatif", "--ledger", str(path), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["pause_and_resume"]
    assert plan["delay_s"] == 3 * 3600 and plan["pauses"] == 0
    assert main(["whatif", "--ledger", str(path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Pause"))
    assert "start 3h later, no pauses, done 3h later" in line
    assert "0s later" not in line


def test_pause_and_resume_text_counts_delay_and_pauses() -> None:
    from carbonsdk.cli.whatif import pause_and_resume_text
    from carbonsdk.schedule.whatif import whatif_for_run

    w = whatif_for_run(make_run("dddd4444"))  # T0: no start delay, one 3 h pause
    plan = w.pause_and_resume
    assert plan is not None and plan.delay_s == 0 and plan.pauses == 1
    text = pause_and_resume_text(plan, w.max_extension_fraction)
    assert "1 pause(s), done 3h later" in text and "start" not in text


def test_non_finite_values_from_a_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """NaN duration: the what-if replays the recorded timestamps and prints n/a; NaN energy:
    nothing to replay, one error line, exit 1. Never a traceback."""
    from carbonsdk.ledger import result_to_record

    record = result_to_record(make_run("eeee5555"))
    record["duration_s"] = math.nan
    path = tmp_path / "nan.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert main(["whatif", "--ledger", str(path)]) == 0
    out = capsys.readouterr().out
    assert "n/a from 2023-06-01" in out and "Flexible start" in out
    assert main(["whatif", "--ledger", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "eeee5555"
    record["energy_kwh"] = math.inf
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert main(["whatif", "--ledger", str(path)]) == 1
    err = capsys.readouterr().err
    assert "nothing to replay" in err and "n/a" in err and len(err.strip().splitlines()) == 1
