"""``carbonsdk runs`` through a real subprocess: the table, JSON, filters and every error."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest_report import START, make_run

from carbonsdk.cli.runs import name_matches, parse_since
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.ledger import append_run

NAMES = ("bert-finetune", "resnet50", "gpt-small", "bert-eval")
VARIANT_OF = ("full", "no_gpu", "failed", "unknown_region")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonsdk", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def write_ledger(path: Path) -> Path:
    for i, (name, variant) in enumerate(zip(NAMES, VARIANT_OF, strict=True)):
        run = make_run(
            variant,
            name=name,
            run_id=f"{i:02d}ab{i}" + "c" * 27,
            start=START + timedelta(days=i),
        )
        append_run(path, run)
    return path


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return write_ledger(tmp_path / "runs.jsonl")


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_table(ledger: Path, subprocess_env: dict[str, str]) -> None:
    env = dict(subprocess_env, COLUMNS="100")
    proc = cli(env, "runs", "--ledger", str(ledger))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b[" not in out
    header = out.splitlines()[0].split()
    assert header == [
        "run",
        "name",
        "start",
        "(UTC)",
        "duration",
        "kWh",
        "gCO2",
        "region",
        "status",
    ]
    rows = [line.split() for line in out.splitlines()[2:6]]
    assert [r[1] for r in rows] == list(NAMES)  # oldest first
    assert rows[0] == [
        "00ab0ccc",
        "bert-finetune",
        "2024-03-05",
        "14:00",
        "2h",
        "00m",
        "1.18",
        "382",
        "US-NW-PACW",
        "completed",
    ]
    assert rows[2][-1] == "failed" and rows[3][-2] == "unknown"
    assert "4 runs · 2.64 kWh · 1.10 kg CO2eq" in out


@pytest.mark.parametrize("columns", ["80", "60"])
def test_table_fits_narrow_terminals(
    ledger: Path, subprocess_env: dict[str, str], columns: str
) -> None:
    proc = cli(dict(subprocess_env, COLUMNS=columns), "runs", "--ledger", str(ledger))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= int(columns)
    assert sum("completed" in line for line in lines) == 3  # status never truncated


def test_json_and_filters(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "runs", "--ledger", str(ledger), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == list(NAMES)
    first = rows[0]
    assert first["run_id"] == "00ab0" + "c" * 27
    assert first["started_at"] == "2024-03-05T14:00:00+00:00"
    assert first["energy_kwh"] == pytest.approx(1.1786, rel=1e-3)
    assert first["region"] == "aws:us-west-2 (US-NW-PACW)" and first["zone"] == "US-NW-PACW"
    assert rows[3]["zone"] is None

    def names(*filters: str) -> list[str]:
        p = cli(subprocess_env, "runs", "--ledger", str(ledger), "--json", *filters)
        assert p.returncode == 0, p.stderr
        return [r["name"] for r in json.loads(p.stdout)]

    assert names("--name", "BERT") == ["bert-finetune", "bert-eval"]
    assert names("--name", "*-small") == ["gpt-small"]
    assert names("--since", "2024-03-07") == ["gpt-small", "bert-eval"]
    assert names("--since", "2024-03-07T15:00+02:00") == ["gpt-small", "bert-eval"]
    assert names("--status", "failed") == ["gpt-small"]
    assert names("--name", "bert", "--since", "2024-03-06") == ["bert-eval"]
    assert names("--since", "7d") == []  # the fixture runs are from 2024
    assert names("--name", "nothing-like-this") == []


def test_default_ledger_from_environment(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    path = write_ledger(tmp_path / "env-ledger.jsonl")
    proc = cli(dict(subprocess_env, CARBONSDK_LEDGER=str(path)), "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 4


def test_no_match_is_not_an_error(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "runs", "--ledger", str(ledger), "--name", "zzz")
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert "no runs match" in proc.stderr


def test_unreadable_lines_are_skipped(ledger: Path, subprocess_env: dict[str, str]) -> None:
    with ledger.open("a", encoding="utf-8") as fh:
        fh.write('this is not json\n{"schema": 1, "type": "run", "run_id": "x"}\n')
    proc = cli(subprocess_env, "runs", "--ledger", str(ledger), "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 4
    assert "skipped 2 unreadable line" in proc.stderr


def test_missing_ledger(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    missing = tmp_path / "nope.jsonl"
    proc = cli(subprocess_env, "runs", "--ledger", str(missing))
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith("carbonsdk runs: error: no ledger at") and str(missing) in line
    assert proc.stdout == ""


def test_ledger_is_a_directory(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "runs", "--ledger", str(tmp_path))
    assert proc.returncode == 1
    assert "is a directory" in one_line(proc.stderr)


def test_bad_date(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "runs", "--ledger", str(ledger), "--since", "last tuesday")
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert "--since 'last tuesday' is not a date" in line and "ISO 8601" in line


def test_bad_status_and_unknown_option(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "runs", "--ledger", str(ledger), "--status", "done")
    assert proc.returncode == 2
    assert "invalid choice: 'done'" in one_line(proc.stderr)
    proc = cli(subprocess_env, "runs", "--bogus")
    assert proc.returncode == 2
    assert "--bogus" in one_line(proc.stderr)


def test_parse_since_and_name_matches() -> None:
    now = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    assert parse_since("2024-05-01", now=now) == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_since("2024-05-01T12:00Z", now=now) == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_since("36h", now=now) == now - timedelta(hours=36)
    assert parse_since("2w", now=now) == now - timedelta(weeks=2)
    assert parse_since("1.5d", now=now) == now - timedelta(hours=36)
    for bad in ("", "yesterday", "2024-13-01", "7 days"):
        with pytest.raises(ConfigurationError, match="is not a date"):
            parse_since(bad, now=now)
    assert name_matches("BERT-finetune", "bert")
    assert name_matches("bert-finetune", "b?rt-*")
    assert not name_matches("bert-finetune", "gpt*")
