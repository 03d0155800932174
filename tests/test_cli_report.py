"""``carbonsdk report`` through a real subprocess: the report, --statement, --html, --json,
every error path, a ledger holding NaN / Infinity, and the what-if the CLI hands in."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest_report import START, make_run

from carbonsdk.cli.report import json_safe
from carbonsdk.ledger import append_run, result_to_record

IDS = ("3f2a9c1e" + "0" * 24, "3f2b0000" + "1" * 24, "a7c1d2e3" + "2" * 24)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonsdk", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "runs.jsonl"
    for i, (run_id, variant, name) in enumerate(
        zip(
            IDS,
            ("full", "fallback", "unknown_region"),
            ("bert-finetune", "resnet50", "eval"),
            strict=True,
        )
    ):
        append_run(
            path, make_run(variant, run_id=run_id, name=name, start=START + timedelta(hours=3 * i))
        )
    return path


def test_last_run_by_default(ledger: Path, subprocess_env: dict[str, str]) -> None:
    env = dict(subprocess_env, COLUMNS="80")
    for extra in ((), ("--last",)):
        proc = cli(env, "report", "--ledger", str(ledger), *extra)
        assert proc.returncode == 0, proc.stderr
        assert "carbonsdk · eval" in proc.stdout
        assert "unknown — world-average intensity" in proc.stdout
        assert "\x1b[" not in proc.stdout
        assert max(len(line) for line in proc.stdout.splitlines()) == 80


def test_run_id_and_unique_prefix(ledger: Path, subprocess_env: dict[str, str]) -> None:
    full = cli(subprocess_env, "report", IDS[0], "--ledger", str(ledger))
    assert full.returncode == 0, full.stderr
    assert "carbonsdk · bert-finetune" in full.stdout
    prefix = cli(subprocess_env, "report", "3f2b", "--ledger", str(ledger))
    assert prefix.returncode == 0, prefix.stderr
    assert "carbonsdk · resnet50" in prefix.stdout
    assert "fallback from electricitymaps" in prefix.stdout


def test_narrow_terminal(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(dict(subprocess_env, COLUMNS="60"), "report", "--ledger", str(ledger))
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) == 60


def test_statement(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "report", IDS[0], "--statement", "--ledger", str(ledger))
    assert proc.returncode == 0, proc.stderr
    text = one_line(proc.stdout)
    assert text.startswith("“bert-finetune” consumed 1.18 kWh of electricity over 2.0 hours")
    assert "294 g CO2eq/kWh" in text and "0.382 kg CO2eq" in text


def test_html(ledger: Path, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    proc = cli(subprocess_env, "report", "--html", str(target), "--ledger", str(ledger))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert one_line(proc.stderr) == f"wrote {target}"
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="chart-power"' in page
    assert "<script" not in page


def test_html_and_statement_together(
    ledger: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    target = tmp_path / "r.html"
    proc = cli(
        subprocess_env,
        "report",
        "3f2a",
        "--html",
        str(target),
        "--statement",
        "--ledger",
        str(ledger),
    )
    assert proc.returncode == 0, proc.stderr
    assert one_line(proc.stdout).startswith("“bert-finetune”")
    assert target.exists()


def test_json(ledger: Path, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    target = tmp_path / "r.html"
    proc = cli(
        subprocess_env,
        "report",
        IDS[1],
        "--json",
        "--statement",
        "--html",
        str(target),
        "--ledger",
        str(ledger),
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["run_id"] == IDS[1] and record["type"] == "run"
    assert len(record["timeline"]) == 24
    assert record["intensity_source"]["fallback_from"] == "electricitymaps"
    assert record["statement"].startswith("“resnet50”")
    assert record["html"] == str(target) and target.exists()


def test_unknown_run_id(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "report", "deadbeef", "--ledger", str(ledger))
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith("carbonsdk report: error:") and "'deadbeef'" in line
    assert proc.stdout == ""


def test_ambiguous_prefix(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "report", "3f2", "--ledger", str(ledger))
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert "'3f2'" in line and "ambiguous" in line


def test_missing_ledger(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    missing = tmp_path / "none.jsonl"
    proc = cli(subprocess_env, "report", "--ledger", str(missing))
    assert proc.returncode == 1
    assert str(missing) in one_line(proc.stderr)
    # and through CARBONSDK_LEDGER
    proc = cli(dict(subprocess_env, CARBONSDK_LEDGER=str(missing)), "report", "--last")
    assert proc.returncode == 1
    assert "no ledger at" in one_line(proc.stderr)


def test_empty_ledger(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    proc = cli(subprocess_env, "report", "--ledger", str(empty))
    assert proc.returncode == 1
    assert "has no runs" in one_line(proc.stderr)


def test_run_id_and_last_together(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "report", IDS[0], "--last", "--ledger", str(ledger))
    assert proc.returncode == 2
    assert "either RUN_ID" in one_line(proc.stderr)


def test_blank_run_id(ledger: Path, subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "report", " ", "--ledger", str(ledger))
    assert proc.returncode == 2
    assert "RUN_ID is empty" in one_line(proc.stderr)


def test_unwritable_html(ledger: Path, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    target = tmp_path / "no-such-dir" / "r.html"
    proc = cli(subprocess_env, "report", "--html", str(target), "--ledger", str(ledger))
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith(f"carbonsdk report: error: cannot write {target}")


def test_unknown_option(subprocess_env: dict[str, str]) -> None:
    proc = cli(subprocess_env, "report", "--pdf", "x.pdf")
    assert proc.returncode == 2
    assert "--pdf" in one_line(proc.stderr)


def _nan_ledger(tmp_path: Path) -> Path:
    """A ledger whose record holds NaN and Infinity (hand-edited, or written by another tool:
    carbonsdk's own writer refuses them, Python's json reader accepts them)."""
    record = result_to_record(make_run("full", run_id=IDS[0]))
    record["duration_s"] = math.nan
    record["energy_kwh"] = math.inf
    record["emissions_g"] = math.nan
    record["timeline"][2]["energy_kwh"] = math.nan
    path = tmp_path / "nan.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert "NaN" in path.read_text(encoding="utf-8")
    return path


@pytest.mark.parametrize("columns", ["80", "60"])
def test_non_finite_values_from_a_ledger_print_na(
    tmp_path: Path, subprocess_env: dict[str, str], columns: str
) -> None:
    path = _nan_ledger(tmp_path)
    proc = cli(dict(subprocess_env, COLUMNS=columns), "report", "--ledger", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "n/a" in proc.stdout and "Traceback" not in proc.stderr
    assert not re.search(r"\b(nan|inf)\b", proc.stdout, re.IGNORECASE)
    assert max(len(line) for line in proc.stdout.splitlines()) == int(columns)
    statement = cli(subprocess_env, "report", "--statement", "--ledger", str(path))
    assert statement.returncode == 0 and "n/a" in one_line(statement.stdout)
    as_json = cli(subprocess_env, "report", "--json", "--ledger", str(path))
    assert as_json.returncode == 0, as_json.stderr
    assert "NaN" not in as_json.stdout and "Infinity" not in as_json.stdout
    record = json.loads(as_json.stdout)  # strict JSON: non-finite numbers are null
    assert record["duration_s"] is None and record["energy_kwh"] is None
    page = tmp_path / "nan.html"
    html = cli(subprocess_env, "report", "--html", str(page), "--ledger", str(path))
    assert html.returncode == 0, html.stderr
    assert "n/a" in page.read_text(encoding="utf-8")


def test_the_cli_hands_the_whatif_to_the_report(
    ledger: Path, subprocess_env: dict[str, str]
) -> None:
    """`report` computes the what-if itself (the report module does not); --no-whatif skips."""
    env = dict(subprocess_env, COLUMNS="100")
    proc = cli(env, "report", IDS[0], "--ledger", str(ledger))
    assert proc.returncode == 0, proc.stderr
    assert "what-if" in proc.stdout and "cleanest" in proc.stdout
    assert "· as you gave it" in proc.stdout and "via explicit" not in proc.stdout
    skipped = cli(env, "report", IDS[0], "--no-whatif", "--ledger", str(ledger))
    assert skipped.returncode == 0 and "what-if" not in skipped.stdout


def test_json_safe() -> None:
    assert json_safe({"a": [1.0, math.nan, {"b": math.inf}], "c": "x", "d": 2}) == {
        "a": [1.0, None, {"b": None}],
        "c": "x",
        "d": 2,
    }
