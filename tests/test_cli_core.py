"""`carbonsdk demo` and `carbonsdk run` through real subprocesses; `carbonsdk regions` fitting
the terminal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from carbonsdk import Ledger


def cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonsdk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_measures_reports_and_records(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    ledger = tmp_path / "l.jsonl"
    out = cli(
        ["demo", "--seconds", "1.5", "--region", "DE", "--ledger", str(ledger)], subprocess_env
    )
    assert out.returncode == 0, out.stderr
    (run,) = Ledger(ledger).runs()
    assert run.name == "carbonsdk-demo" and run.status == "completed"
    assert run.region.zone == "DE"
    assert 1.4 <= run.duration_s <= 5.0
    assert run.energy_by_component_kwh["cpu"] > 0
    assert "cpu" in run.estimated_components  # no RAPL here: labelled model
    assert run.run_id in out.stderr
    assert "\x1b[" not in out.stderr  # not a TTY: plain text


def test_demo_without_region_says_unknown_loudly(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    out = cli(["demo", "--seconds", "0.3", "--no-ledger"], subprocess_env)
    assert out.returncode == 0, out.stderr
    assert "region unknown" in out.stderr


def test_demo_bad_seconds(subprocess_env: dict[str, str]) -> None:
    out = cli(["demo", "--seconds", "-1"], subprocess_env)
    assert out.returncode == 2
    assert "--seconds -1" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_run_passes_exit_code_and_records(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    ledger = tmp_path / "l.jsonl"
    ok = cli(
        [
            "run",
            "--name",
            "ok-job",
            "--region",
            "FR",
            "--intensity",
            "50",
            "--ledger",
            str(ledger),
            "--no-report",
            "--",
            sys.executable,
            "-c",
            "print('hi')",
        ],
        subprocess_env,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "hi"
    bad = cli(
        [
            "run",
            "--region",
            "FR",
            "--ledger",
            str(ledger),
            "--no-report",
            "--",
            sys.executable,
            "-c",
            "import sys; sys.exit(3)",
        ],
        subprocess_env,
    )
    assert bad.returncode == 3
    runs = Ledger(ledger).runs()
    assert [(r.name, r.status) for r in runs] == [
        ("ok-job", "completed"),
        (Path(sys.executable).name, "failed"),
    ]
    assert runs[0].intensity_source.provider == "constant"
    assert runs[0].tags["command"].endswith("print('hi')")


def test_run_errors(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    missing = cli(
        [
            "run",
            "--ledger",
            str(tmp_path / "l.jsonl"),
            "--no-report",
            "--",
            "definitely-not-a-command-xyz",
        ],
        subprocess_env,
    )
    assert missing.returncode == 1
    assert "command not found: definitely-not-a-command-xyz" in missing.stderr
    empty = cli(["run", "--"], subprocess_env)
    assert empty.returncode == 2 and "no command given" in empty.stderr
    region = cli(["run", "--region", "aws:us-est-1", "--", "true"], subprocess_env)
    assert region.returncode == 2 and "us-east-1" in region.stderr
    unknown = cli(["frobnicate"], subprocess_env)
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


# --------------------------------------------------------------------------- regions


def _region_lines(width: int | None) -> list[str]:
    from carbonsdk.cli.regions import render, rows

    return render(rows(), width).splitlines()


@pytest.mark.parametrize("width", [80, 60])
def test_regions_table_fits_the_terminal(width: int) -> None:
    from carbonsdk.cli.regions import rows

    lines = _region_lines(width)
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    header = next(line for line in lines if line.startswith("region"))
    assert header.split()[:2] == ["region", "zone"] or header.split()[:3] == [
        "region",
        "location",
        "zone",
    ]
    assert "g/kWh" in header
    data = rows()
    # every region is still listed, in the form --region takes, with its zone
    text = "\n".join(lines)
    for row in data:
        assert f"{row['provider']}:{row['code']}" in text
    westus2 = next(line for line in lines if line.startswith("azure:westus2 "))
    assert "US-NW-BPAT" in westus2


def test_regions_table_drops_columns_by_priority() -> None:
    full = _region_lines(None)
    assert full[1].split() == [
        "provider",
        "region",
        "location",
        "zone",
        "hourly",
        "g/kWh",
        "(LCA)",
        "data",
        "years",
    ]
    at_80 = _region_lines(80)
    head_80 = next(line for line in at_80 if line.startswith("region"))
    assert head_80.split() == ["region", "location", "zone", "g/kWh", "(LCA)"]
    at_60 = _region_lines(60)
    head_60 = next(line for line in at_60 if line.startswith("region"))
    assert head_60.split() == ["region", "zone", "g/kWh", "(LCA)"]
    narrow = _region_lines(36)  # last resort: the three columns fold
    assert all(len(line) <= 36 for line in narrow)


def test_regions_on_a_terminal_use_its_width(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from carbonsdk.cli import main

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["regions", "--provider", "aws"]) == 0
    lines = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()).splitlines()
    assert re.match(r"\d+ cloud regions", lines[0])
    assert all(len(line) <= 60 for line in lines)
    assert any(line.startswith("aws:us-east-1 ") for line in lines)
