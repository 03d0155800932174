"""`carbonsdk demo` and `carbonsdk run` through real subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from carbonsdk import Ledger


def cli(args: list[str], env: dict[str, str], timeout: float = 120) -> \
        subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonsdk", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_measures_reports_and_records(tmp_path: Path,
                                           subprocess_env: dict[str, str]) -> None:
    ledger = tmp_path / "l.jsonl"
    out = cli(["demo", "--seconds", "1.5", "--region", "DE", "--ledger", str(ledger)],
              subprocess_env)
    assert out.returncode == 0, out.stderr
    (run,) = Ledger(ledger).runs()
    assert run.name == "carbonsdk-demo" and run.status == "completed"
    assert run.region.zone == "DE"
    assert 1.4 <= run.duration_s <= 5.0
    assert run.energy_by_component_kwh["cpu"] > 0
    assert "cpu" in run.estimated_components  # no RAPL here: labelled model
    assert run.run_id in out.stderr
    assert "\x1b[" not in out.stderr  # not a TTY: plain text


def test_demo_without_region_says_unknown_loudly(tmp_path: Path,
                                                 subprocess_env: dict[str, str]) -> None:
    out = cli(["demo", "--seconds", "0.3", "--no-ledger"], subprocess_env)
    assert out.returncode == 0, out.stderr
    assert "region unknown" in out.stderr


def test_demo_bad_seconds(subprocess_env: dict[str, str]) -> None:
    out = cli(["demo", "--seconds", "-1"], subprocess_env)
    assert out.returncode == 2
    assert "--seconds -1" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_run_passes_exit_code_and_records(tmp_path: Path,
                                          subprocess_env: dict[str, str]) -> None:
    ledger = tmp_path / "l.jsonl"
    ok = cli(["run", "--name", "ok-job", "--region", "FR", "--intensity", "50", "--ledger",
              str(ledger), "--no-report", "--", sys.executable, "-c", "print('hi')"],
             subprocess_env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "hi"
    bad = cli(["run", "--region", "FR", "--ledger", str(ledger), "--no-report", "--",
               sys.executable, "-c", "import sys; sys.exit(3)"], subprocess_env)
    assert bad.returncode == 3
    runs = Ledger(ledger).runs()
    assert [(r.name, r.status) for r in runs] == [("ok-job", "completed"),
                                                  (Path(sys.executable).name, "failed")]
    assert runs[0].intensity_source.provider == "constant"
    assert runs[0].tags["command"].endswith("print('hi')")


def test_run_errors(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    missing = cli(["run", "--ledger", str(tmp_path / "l.jsonl"), "--no-report", "--",
                   "definitely-not-a-command-xyz"], subprocess_env)
    assert missing.returncode == 1
    assert "command not found: definitely-not-a-command-xyz" in missing.stderr
    empty = cli(["run", "--"], subprocess_env)
    assert empty.returncode == 2 and "no command given" in empty.stderr
    region = cli(["run", "--region", "aws:us-est-1", "--", "true"], subprocess_env)
    assert region.returncode == 2 and "us-east-1" in region.stderr
    unknown = cli(["frobnicate"], subprocess_env)
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
