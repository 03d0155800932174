"""`carbonsdk plan` (offline: the day-ahead forecaster inside the embedded years, the typical
year past them; backtested savings and the margin), `carbonsdk backtest`, and bad usage."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from carbonsdk.cli import main


def test_plan_prints_best_start_saving_and_calendar(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan",
            "--region",
            "US-CAL-CISO",
            "--duration",
            "30h",
            "--max-delay",
            "24h",
            "--max-extension",
            "1",
            "--start",
            "2031-06-01T00:00Z",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Plan for a 1d 6h job in US-CAL-CISO" in out
    assert "embedded typical year (no forecast)" in out  # says which source
    assert "Flexible start (delay up to 1d): start 2031-06-" in out
    assert "less CO2 expected (backtest US-CAL-CISO" in out or "start now:" in out
    assert "worse than starting at once in" in out or "not expected to help" in out
    assert "Pause and resume calendar" in out and "pause" in out and "run" in out


def test_plan_reports_the_backtested_saving_not_the_forecast(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["plan", "--region", "DE", "--duration", "6h", "--start", "2024-03-05T00:00Z", "--json"]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["intensity"]["kind"] == "day-ahead" and doc["min_saving_fraction"] == 0.03
    for key, strategy in (
        ("flexible_start", "flexible_start"),
        ("pause_and_resume", "pause_and_resume"),
    ):
        part = doc[key]
        bt = part["backtest"]
        assert bt["zone"] == "DE" and bt["job_class"].startswith("6h job")
        assert 0 <= bt["worse_fraction"] <= 1 and bt["n_starts"] >= 100
        assert part["forecast_savings_fraction"] == part["savings_fraction"]
        assert 0 <= part["expected_savings_fraction"] <= bt["oracle_savings_fraction"]
        assert part["recommend"] == (
            part["expected_savings_fraction"] >= 0.03 and bt["realised_savings_fraction"] >= 0.03
        )
        assert strategy == part["strategy"]


def test_plan_says_start_now_where_waiting_does_not_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # IN-WE is modelled and nearly flat: the backtest realises well under 3 %
    code = main(["plan", "--region", "IN-WE", "--duration", "6h", "--start", "2024-03-05T00:00Z"])
    out = capsys.readouterr().out
    assert code == 0
    assert "start now: waiting is not expected to help here (backtest IN-WE" in out
    assert "start now: pausing is not expected to help here" in out


def test_plan_help_shows_single_percent_signs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    out = capsys.readouterr().out
    assert "50%" in out and "%%" not in out and "100%" in out


def test_backtest_command_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "aws:eu-central-1", "--duration", "6h", "--n-starts", "6"]) == 0
    out = capsys.readouterr().out
    assert "Backtest DE 2024: flexible_start, 6h job, max delay 1d" in out
    assert "learned from: 2021, 2022, 2023" in out
    assert "oracle (perfect foresight)" in out and "worse than starting now" in out
    assert (
        main(
            [
                "backtest",
                "GB",
                "--duration",
                "3h",
                "--strategy",
                "pause_and_resume",
                "--window",
                "0.5",
                "--forecaster",
                "typical",
                "--year",
                "2023",
                "--n-starts",
                "5",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["zone"] == "GB" and doc["year"] == 2023 and doc["forecaster"] == "typical"
    assert doc["window_s"] == 5400 // 3600 * 3600 and doc["n_starts"] == 5
    assert doc["learned_from"] == [2021, 2022, 2024]
    assert 0 <= doc["worse_fraction"] <= 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nowhere-land", "--duration", "6h"], "nowhere"),
        (["DE", "--duration", "90m"], "whole number of hours"),
        (["DE", "--duration", "6h", "--year", "1990"], "--year 1990"),
        (["DE", "--duration", "6h", "--n-starts", "0"], "--n-starts 0"),
    ],
)
def test_backtest_bad_usage(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_plan_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan",
            "--region",
            "aws:eu-central-1",
            "--duration",
            "1h30m",
            "--max-extension",
            "50%",
            "--start",
            "2031-01-10T08:00Z",
            "--energy-kwh",
            "2.5",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["region"]["zone"] == "DE"
    assert doc["intensity"]["kind"] == "typical"
    assert doc["duration_s"] == 5400 and doc["max_delay_s"] == 86400
    assert doc["max_extension_s"] == 2700
    fs, pr = doc["flexible_start"], doc["pause_and_resume"]
    assert fs["strategy"] == "flexible_start" and pr["strategy"] == "pause_and_resume"
    assert fs["earliest_start"].startswith("2031-01-10T08:00:00")
    assert fs["energy_kwh"] == 2.5 and "intensity-estimated" in fs["flags"]
    assert 0 <= fs["savings_fraction"] < 1 and pr["emissions_g"] <= pr["baseline_emissions_g"]
    assert sum(iv["duration_s"] for iv in pr["intervals"]) == pytest.approx(5400)
    assert pr["pauses"] == len(pr["intervals"]) - 1


def test_plan_flat_zone_says_scheduling_cannot_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--region", "KE", "--duration", "2h"]) == 0  # annual average only
    out = capsys.readouterr().out
    assert "flat" in out and "start now: waiting is not expected to help here (0.0%" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--region", "DE", "--duration", "6"], "--duration '6'"),
        (["--region", "DE", "--duration", "6h", "--max-delay", "24"], "--max-delay '24'"),
        (["--region", "DE", "--duration", "6h", "--max-extension", "-1"], "--max-extension '-1'"),
        (["--region", "DE", "--duration", "6h", "--start", "2023-01-01"], "--start"),
        (["--region", "nowhere", "--duration", "6h"], "nowhere"),
        (["--duration", "6h"], "no region"),
        (["--region", "DE", "--duration", "6h", "--min-saving", "lots"], "--min-saving 'lots'"),
    ],
)
def test_plan_bad_usage_exits_2_with_one_line(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_plan_missing_duration_is_usage_error(subprocess_env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "carbonsdk", "plan", "--region", "DE"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "--duration" in out.stderr


def test_plan_waits_only_when_the_gain_is_clear_of_the_forecast_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # IE, an evening in October 2024: the forecast promises ~10 % for a 6 h wait, which the
    # day-ahead forecaster's own error spread over 6 h does not clear -> start now, saving 0
    args = ["plan", "--region", "IE", "--duration", "6h", "--start", "2024-10-02T18:00Z"]
    assert main([*args, "--json"]) == 0
    part = json.loads(capsys.readouterr().out)["flexible_start"]
    assert part["delay_s"] > 0 and part["forecast_savings_fraction"] > 0.05
    assert part["clear_of_forecast_error"] is False
    assert part["recommend"] is False and part["expected_savings_fraction"] == 0.0
    assert main(args) == 0
    assert "within the day-ahead forecast's own error" in capsys.readouterr().out
    # DE, a June morning: a 12 % gain 3 h away is clear of it -> wait
    de = ["plan", "--region", "DE", "--duration", "6h", "--start", "2024-06-20T06:00Z", "--json"]
    assert main(de) == 0
    part = json.loads(capsys.readouterr().out)["flexible_start"]
    assert part["clear_of_forecast_error"] is True and part["recommend"] is True
