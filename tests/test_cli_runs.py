"""``carbonsdk runs`` through a real subprocess: the table, JSON, filters and every error."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from conftest_report import START, make_run

from carbonsdk.cli.runs import name_matches, parse_since, render_table, totals_line
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.ledger import append_run
from carbonsdk.model.result import RunResult
from carbonsdk.report import format_emissions_g, format_energy_kwh

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


# -- fitting the terminal, nested runs, CSV, non-finite values (issues 10, 11, 12) -----------------

LONG_NAMES = ("llama-7b-finetune-lora-r16-long-experiment", "eval_validation_set", "resnet50")


def nested_runs() -> list[RunResult]:
    """A parent (long name) with two children, one of them with a child of its own, and an
    unrelated small run whose energy is not finite."""
    parent = make_run("full", name=LONG_NAMES[0], run_id="p" * 32)
    child0 = attrs.evolve(
        make_run(
            "full", name="epoch-0", run_id="c0" + "x" * 30, start=START + timedelta(minutes=1)
        ),
        parent_run_id=parent.run_id,
    )
    child1 = attrs.evolve(
        make_run(
            "failed", name=LONG_NAMES[1], run_id="c1" + "x" * 30, start=START + timedelta(minutes=2)
        ),
        parent_run_id=parent.run_id,
    )
    grandchild = attrs.evolve(
        make_run("failed", name="inner", run_id="g" * 32, start=START + timedelta(minutes=3)),
        parent_run_id=child1.run_id,
    )
    odd = attrs.evolve(
        make_run("no_gpu", name=LONG_NAMES[2], run_id="t" * 32, start=START + timedelta(days=1)),
        energy_kwh=math.nan,
        duration_s=math.inf,
        status="interrupted",
    )
    return [parent, child0, child1, grandchild, odd]


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("tree", [False, True])
def test_render_table_fits_without_splitting_words(width: int, tree: bool) -> None:
    runs = nested_runs()
    text = render_table(runs, width, tree=tree)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, text
    header = lines[0].split()
    for essential in ("name", "status"):
        assert essential in header
    assert ("kWh" in header) and "gCO2" in header  # one unit per column, named in the header
    body = " ".join(line.strip() for line in lines[2:])
    for status in ("completed", "failed", "interrupted"):
        assert status in body  # never cut
    words = " ".join(lines[2:])
    for word in ("llama-", "7b-", "finetune-", "lora-", "experiment", "validation_", "resnet50"):
        assert word in words, text  # names fold only after - _ / . : or a space
    assert "n/a" in body  # the non-finite energy and duration


def test_columns_are_dropped_by_priority() -> None:
    runs = nested_runs()
    wide = render_table(runs, 140).splitlines()[0]
    assert "start (UTC)" in wide and "region" in wide and "duration" in wide
    narrow = render_table(runs, 60).splitlines()[0]
    assert "start" not in narrow and "run" in narrow.split()
    tiny = render_table(runs, 40).splitlines()[0].split()
    assert tiny[:1] == ["name"] and "status" in tiny


def test_energy_unit_is_one_per_column() -> None:
    small = [
        attrs.evolve(make_run("failed", run_id=f"{i}" * 32), energy_kwh=0.0042 * (i + 1))
        for i in range(3)
    ]
    lines = render_table(small, 100).splitlines()
    header = lines[0].split()
    assert "Wh" in header and "kWh" not in header  # every run is under 1 kWh: the column is Wh
    end = lines[0].index(" Wh ") + 3  # the column is right-aligned under its header
    assert [line[:end].split()[-1] for line in lines[2:5]] == ["4.20", "8.40", "12.6"]
    emissions = format_emissions_g(sum(r.emissions_g for r in small))
    assert totals_line(small) == f"3 runs · 25.2 Wh · {emissions} CO2eq"


def test_tree_lists_children_under_their_parent() -> None:
    lines = render_table(nested_runs(), 100, tree=True).splitlines()[2:]
    firsts = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert firsts == ["pppppppp", "c0xxxxxx", "c1xxxxxx", "gggggggg", "tttttttt"]
    rows = {line.split()[0]: line for line in lines if not line.startswith(" ")}
    assert "└ epoch-0" in rows["c0xxxxxx"] and "  └ inner" in rows["gggggggg"]
    assert "└" not in rows["pppppppp"] and "└" not in rows["tttttttt"]


def test_totals_count_top_level_runs_once() -> None:
    runs = nested_runs()
    parent, odd = runs[0], runs[4]
    line = totals_line(runs)
    assert line.startswith("2 runs (+3 nested) · ")
    assert format_energy_kwh(parent.energy_kwh) in line  # not the children again, not NaN
    assert "(1 n/a, not counted)" in line
    assert math.isnan(odd.energy_kwh)


def test_runs_cli_tree_csv_and_non_finite(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    path = tmp_path / "l.jsonl"
    for run in nested_runs():
        append_run(path, run)
    proc = cli(dict(subprocess_env, COLUMNS="80"), "runs", "--ledger", str(path), "--tree")
    assert proc.returncode == 0, proc.stderr
    assert "└ epoch-0" in proc.stdout and "2 runs (+3 nested)" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    proc = cli(subprocess_env, "runs", "--ledger", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)  # strict JSON: the NaN is null
    assert rows[1]["parent_run_id"] == "p" * 32 and rows[0]["parent_run_id"] is None
    assert rows[-1]["energy_kwh"] is None and rows[-1]["duration_s"] is None
    proc = cli(subprocess_env, "runs", "--ledger", str(path), "--csv", "--name", "epoch")
    assert proc.returncode == 0, proc.stderr
    (row,) = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert row["name"] == "epoch-0" and row["parent_run_id"] == "p" * 32
    assert float(row["energy_gpu_kwh"]) > 0 and row["tag_team"] == "nlp"
    assert row["started_at"] == "2024-03-05T14:01:00+00:00"
    proc = cli(subprocess_env, "runs", "--ledger", str(path), "--csv")
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(table) == 5 and table[-1]["energy_kwh"] == "" and table[-1]["energy_gpu_kwh"] == ""
    proc = cli(subprocess_env, "runs", "--ledger", str(path), "--csv", "--json")
    assert proc.returncode == 2 and "not allowed with" in proc.stderr
