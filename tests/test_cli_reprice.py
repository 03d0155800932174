"""``carbonsdk reprice``: selection, output, --dry-run, --force, usage errors, and an interrupted
``--all`` (a real subprocess killed mid-way) that a rerun completes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_reprice import START, csv_rows, lines, offline_run, write_csv

from carbonsdk.cli import main
from carbonsdk.ledger import Ledger, append_records, result_to_record


def _ledger(path: Path, n: int, *, spacing: timedelta = timedelta(hours=2)) -> list[str]:
    runs = [offline_run(f"r{i:05d}", start=START + i * spacing, n=2) for i in range(n)]
    append_records(path, [result_to_record(r) for r in runs])
    return [r.run_id for r in runs]


def _csv(tmp_path: Path, *, days: float = 2.0, step: timedelta = timedelta(minutes=15)) -> Path:
    count = int(days * 86400 / step.total_seconds()) + 8
    return write_csv(tmp_path / "actual.csv", csv_rows(START - timedelta(hours=1), step, count))


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(argv) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"  # the default ledger of every test (conftest)
    _ledger(path, 4)
    return path


def test_default_is_the_last_run(
    tmp_path: Path, ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _csv(tmp_path)
    data = _json(capsys, ["reprice", "--intensity", f"csv:{csv}", "--json"])
    assert [r["run_id"] for r in data["runs"]] == ["r00003"]
    (run,) = data["runs"]
    assert run["action"] == "repriced" and data["repriced"] == 1
    assert run["before"]["provider"] == "embedded" and run["before"]["estimated"] is True
    assert run["after"]["provider"] == "csv" and run["after"]["estimated"] is False
    assert run["old_quality"] == {"estimated_share": 1.0, "step_s": 3600.0}
    assert run["new_quality"] == {"estimated_share": 0.0, "step_s": 900.0}
    assert Ledger(ledger).get("r00003").repriced_at is not None
    assert Ledger(ledger).get("r00002").repriced_at is None


def test_run_id_since_and_all(
    tmp_path: Path, ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = f"csv:{_csv(tmp_path)}"
    data = _json(capsys, ["reprice", "r00001", "--intensity", csv, "--json"])
    assert [r["run_id"] for r in data["runs"]] == ["r00001"]
    since = (START + timedelta(hours=3)).isoformat()
    data = _json(capsys, ["reprice", "--since", since, "--intensity", csv, "--json"])
    assert [r["run_id"] for r in data["runs"]] == ["r00002", "r00003"]
    data = _json(capsys, ["reprice", "--all", "--intensity", csv, "--json"])
    assert [(r["run_id"], r["action"]) for r in data["runs"]] == [
        ("r00000", "repriced"),
        ("r00001", "skipped"),
        ("r00002", "skipped"),
        ("r00003", "skipped"),
    ]
    assert all(r["reason"].startswith("not better") for r in data["runs"][1:])
    assert sum(1 for r in lines(ledger) if r["type"] == "reprice") == 4


def test_text_output_says_what_and_why(
    tmp_path: Path, ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = f"csv:{_csv(tmp_path)}"
    assert main(["reprice", "r00000", "--intensity", csv]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("repriced      r00000  job-r00000  embedded (estimated) -> csv")
    assert "CO2eq (" in out[0] and "less of the energy estimated" in out[0]
    assert out[-1] == "1 repriced, 0 skipped"
    assert main(["reprice", "--all", "--intensity", csv]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("skipped       r00000  job-r00000  not better: same share")
    assert out[-1] == "3 repriced, 1 skipped (not better: 1)"


def test_dry_run_writes_nothing(
    tmp_path: Path, ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger.read_bytes()
    csv = f"csv:{_csv(tmp_path)}"
    assert main(["reprice", "--all", "--intensity", csv, "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith("would-reprice") for line in out[:-1]) and len(out) == 5
    assert out[-1] == "would reprice 4, 0 skipped; dry run: nothing written"
    data = _json(capsys, ["reprice", "--all", "--intensity", csv, "--dry-run", "--json"])
    assert data["would_reprice"] == 4 and data["repriced"] == 0 and data["dry_run"] is True
    assert ledger.read_bytes() == before


def test_force_reprices_data_that_is_not_better(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _json(capsys, ["reprice", "r00000", "--intensity", "embedded", "--json"])
    assert data["runs"][0]["action"] == "skipped"
    data = _json(capsys, ["reprice", "r00000", "--intensity", "embedded", "--force", "--json"])
    (run,) = data["runs"]
    assert run["action"] == "repriced" and run["reason"].startswith("forced (not better")
    assert run["after"]["emissions_g"] == pytest.approx(run["before"]["emissions_g"], rel=1e-12)
    data = _json(capsys, ["reprice", "r00001", "--intensity", "350", "--force", "--json"])
    assert data["runs"][0]["after"]["provider"] == "constant"
    assert data["runs"][0]["after"]["intensity_g_per_kwh"] == 350.0


def test_usage_errors(tmp_path: Path, ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["reprice", "r00000", "--all"])
    assert exc.value.code == 2
    capsys.readouterr()
    assert main(["reprice", "--all", "--intensity", "nope"]) == 2
    assert "intensity='nope' is not valid" in capsys.readouterr().err
    assert main(["reprice", "--all", "--intensity", "-5"]) == 2
    assert "g/kWh >= 0" in capsys.readouterr().err
    assert main(["reprice", "--since", "yesterday"]) == 2
    assert "--since 'yesterday' is not a date" in capsys.readouterr().err
    assert main(["reprice", "zzz", "--intensity", "embedded"]) == 1
    assert "no run 'zzz'" in capsys.readouterr().err
    assert main(["reprice", "--all", "--ledger", str(tmp_path / "none.jsonl")]) == 1
    assert "no ledger at" in capsys.readouterr().err
    assert main(["reprice", "--all", "--intensity", f"csv:{tmp_path / 'missing.csv'}"]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_history_after_cli_reprices(
    tmp_path: Path, ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reprice", "r00002", "--intensity", f"csv:{_csv(tmp_path)}"]) == 0
    assert main(["reprice", "r00002", "--intensity", "400", "--force"]) == 0
    capsys.readouterr()
    assert main(["report", "r00002", "--history"]) == 0
    out = capsys.readouterr().out
    assert "3 pricing(s)" in out and "(run end)" in out and "constant" in out
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r.split()[0] for r in rows] == ["0", "1", "2*"]


# -- an interrupted --all ------------------------------------------------------------------------

#: the real CLI, with a pause after each batch of 25 records is on disk (it prints "batch N"),
#: so that the test can signal it mid-way, between two writes
_PACED = """
import sys, time
import carbonsdk.repricing as rp
rp.BATCH_RECORDS = 25
_write = rp.append_records
def paced(path, records, **kw):
    _write(path, records, **kw)
    print("batch", len(records), flush=True)
    time.sleep(0.3)
rp.append_records = paced
from carbonsdk.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_all_leaves_whole_records_and_a_rerun_completes(
    tmp_path: Path,
    subprocess_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    sig: signal.Signals,
) -> None:
    path = tmp_path / "big.jsonl"
    ids = _ledger(path, 600, spacing=timedelta(minutes=40))
    csv = _csv(tmp_path, days=18.0)
    script = tmp_path / "paced.py"
    script.write_text(_PACED, encoding="utf-8")
    argv = [
        sys.executable,
        str(script),
        "reprice",
        "--all",
        "--ledger",
        str(path),
        "--intensity",
        f"csv:{csv}",
    ]
    child = subprocess.Popen(
        argv, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    batches = 0
    for line in child.stdout:  # the child prints its per-run lines, then "batch 25"
        if line.startswith("batch "):
            batches += 1
            if batches == 3:
                child.send_signal(sig)
                break
    _, err = child.communicate(timeout=60)
    assert batches == 3
    if sig == signal.SIGINT:
        assert child.returncode == 130 and "interrupted" in err
    else:
        assert child.returncode == -signal.SIGKILL

    raw = path.read_bytes()
    assert raw.endswith(b"\n")  # no torn record
    records = [json.loads(x) for x in raw.decode("utf-8").splitlines()]
    done = [r["run_id"] for r in records if r["type"] == "reprice"]
    assert len(done) == len(set(done))  # each written once
    assert 75 <= len(done) < len(ids) and len(done) % 25 == 0
    ledger = Ledger(path)
    assert sum(r.repriced_at is not None for r in ledger.runs()) == len(done)
    assert ledger.skipped_lines == 0

    data = _json(
        capsys, ["reprice", "--all", "--ledger", str(path), "--intensity", f"csv:{csv}", "--json"]
    )
    actions = {r["run_id"]: r for r in data["runs"]}
    assert all(actions[rid]["action"] == "skipped" for rid in done)
    assert all(actions[rid]["reason"].startswith("not better") for rid in done)
    assert data["repriced"] == len(ids) - len(done)
    final = [r["run_id"] for r in lines(path) if r["type"] == "reprice"]
    assert sorted(final) == sorted(ids)  # every run repriced exactly once
    assert all(r.intensity_source.provider == "csv" for r in Ledger(path).runs())


def test_reprice_records_parse_as_plain_json_lines(ledger: Path, tmp_path: Path) -> None:
    assert main(["reprice", "--all", "--intensity", f"csv:{_csv(tmp_path)}"]) == 0
    for rec in lines(ledger):
        if rec["type"] == "reprice":
            assert set(rec) >= {
                "schema",
                "run_id",
                "repriced_at",
                "repriced_from",
                "intensity_source",
                "emissions_g",
                "timeline",
                "flags",
            }
            assert isinstance(datetime.fromisoformat(rec["repriced_at"]), datetime)
