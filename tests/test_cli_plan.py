"""`carbonsdk plan`: offline with the embedded typical year, JSON output, and bad usage."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from carbonsdk.cli import main


def test_plan_prints_best_start_saving_and_calendar(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--region", "US-CAL-CISO", "--duration", "30h", "--max-delay", "24h",
                 "--max-extension", "1", "--start", "2023-06-01T00:00Z"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Plan for a 1d 6h job in US-CAL-CISO" in out
    assert "embedded typical year (no forecast)" in out  # says which source
    assert "Flexible start (delay up to 1d): start 2023-06-" in out
    assert "less CO2" in out
    assert "Pause and resume calendar" in out and "pause" in out and "run" in out


def test_plan_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--region", "aws:eu-central-1", "--duration", "1h30m",
                 "--max-extension", "50%", "--start", "2023-01-10T08:00Z", "--energy-kwh",
                 "2.5", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["region"]["zone"] == "DE"
    assert doc["intensity"]["kind"] == "typical"
    assert doc["duration_s"] == 5400 and doc["max_delay_s"] == 86400
    assert doc["max_extension_s"] == 2700
    fs, pr = doc["flexible_start"], doc["pause_and_resume"]
    assert fs["strategy"] == "flexible_start" and pr["strategy"] == "pause_and_resume"
    assert fs["earliest_start"].startswith("2023-01-10T08:00:00")
    assert fs["energy_kwh"] == 2.5 and "estimated-intensity" in fs["flags"]
    assert 0 <= fs["savings_fraction"] < 1 and pr["emissions_g"] <= pr["baseline_emissions_g"]
    assert sum(iv["duration_s"] for iv in pr["intervals"]) == pytest.approx(5400)
    assert pr["pauses"] == len(pr["intervals"]) - 1


def test_plan_flat_zone_says_scheduling_cannot_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--region", "aws:us-west-2", "--duration", "2h"]) == 0
    out = capsys.readouterr().out
    assert "flat" in out and "0% less CO2" in out


@pytest.mark.parametrize(("args", "needle"), [
    (["--region", "DE", "--duration", "6"], "--duration '6'"),
    (["--region", "DE", "--duration", "6h", "--max-delay", "24"], "--max-delay '24'"),
    (["--region", "DE", "--duration", "6h", "--max-extension", "-1"], "--max-extension '-1'"),
    (["--region", "DE", "--duration", "6h", "--start", "2023-01-01"], "--start"),
    (["--region", "nowhere", "--duration", "6h"], "nowhere"),
    (["--duration", "6h"], "no region"),
])
def test_plan_bad_usage_exits_2_with_one_line(args: list[str], needle: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_plan_missing_duration_is_usage_error(subprocess_env: dict[str, str]) -> None:
    out = subprocess.run([sys.executable, "-m", "carbonsdk", "plan", "--region", "DE"],
                         env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--duration" in out.stderr
