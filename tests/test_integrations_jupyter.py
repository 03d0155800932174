"""The ``%%measure`` cell magic, in a real IPython ``InteractiveShell`` (no kernel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_module

import carbonsdk
from carbonsdk.testing import FakeClock, FakeGPU, fake_environment, fake_sampler

pytestmark = pytest.mark.framework

J_PER_KWH = 3.6e6


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    require_module("IPython", "pip install ipython")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh: Any = InteractiveShell.instance(config=config)
    outcome = sh.run_cell("%load_ext carbonsdk.integrations.jupyter")
    assert outcome.success, outcome.error_in_exec
    yield sh
    for name in ("_carbon", "run_result", "x", "clock", "sampler", "total"):
        sh.user_ns.pop(name, None)


@pytest.fixture
def clocked(shell: Any) -> Iterator[Any]:
    """A fake 200 W GPU on a fake clock, reachable from cells as ``clock`` and ``sampler``."""
    clock = FakeClock()
    env = fake_environment(clock, gpus=[FakeGPU.volta(power_w=200.0)])
    with fake_sampler(env, clock) as sampler:
        shell.user_ns.update(clock=clock, sampler=sampler)
        yield shell


def test_cell_runs_measured_in_the_user_namespace(clocked: Any) -> None:
    outcome = clocked.run_cell(
        "%%measure notebook-step --region DE --intensity 250 --components gpu --no-report "
        "--tag stage=explore\n"
        "total = sum(range(10))\n"
        "clock.advance(30.0); sampler.tick()\n"
        "total * 2\n"
    )
    assert outcome.success, outcome.error_in_exec
    assert outcome.result == 90  # the last expression is the cell's value
    assert clocked.user_ns["total"] == 45
    result = clocked.user_ns["_carbon"]
    assert isinstance(result, carbonsdk.RunResult)
    assert result.name == "notebook-step" and result.status == "completed"
    assert result.region.zone == "DE"
    assert dict(result.tags) == {"stage": "explore"}
    assert result.energy_kwh == pytest.approx(200.0 * 30.0 / J_PER_KWH)
    assert result.emissions_g == pytest.approx(200.0 * 30.0 / J_PER_KWH * 250)
    assert carbonsdk.Ledger().get(result.run_id).energy_kwh == result.energy_kwh


def test_ipython_syntax_and_result_variable(shell: Any, tmp_path: Path) -> None:
    ledger = tmp_path / "nb.jsonl"
    outcome = shell.run_cell(
        f"%%measure --region FR --no-report --result run_result --ledger {ledger}\n"
        "x = %time 6 * 7\n"
    )
    assert outcome.success, outcome.error_in_exec
    assert shell.user_ns["x"] == 42
    result = shell.user_ns["run_result"]
    assert result.name.startswith("In[") and result.status == "completed"
    assert [r.run_id for r in carbonsdk.Ledger(ledger).runs()] == [result.run_id]
    assert carbonsdk.Ledger().runs() == []  # --ledger, not the default one


def test_failing_cell_is_recorded_failed_and_the_error_propagates(shell: Any) -> None:
    outcome = shell.run_cell("%%measure broken --region DE --no-report\n1 / 0\n")
    assert isinstance(outcome.error_in_exec, ZeroDivisionError)
    result = shell.user_ns["_carbon"]
    assert result.status == "failed"
    assert result.error == "ZeroDivisionError: division by zero"
    assert carbonsdk.Ledger().get(result.run_id).status == "failed"


def test_report_goes_to_stderr_unless_disabled(
    shell: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    assert shell.run_cell("%%measure shown --region DE --no-ledger\nx = 1\n").success
    err = capfd.readouterr().err
    assert "shown" in err
    assert shell.run_cell("%%measure quiet --region DE --no-ledger --no-report\nx = 2\n").success
    assert "quiet" not in capfd.readouterr().err
    assert carbonsdk.Ledger().runs() == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--region atlantis", "atlantis"),
        ("--pue 0.5", "pue=0.5"),
        ("--tag oops", "KEY=VALUE"),
        ("--result 1st", "not a valid variable name"),
        ("--bogus", "unrecognized arguments: --bogus"),
        ("--ledger a --no-ledger", "not allowed with argument"),
    ],
)
def test_bad_usage_is_a_usage_error_and_runs_nothing(shell: Any, line: str, message: str) -> None:
    from IPython.core.error import UsageError

    from carbonsdk.integrations.jupyter import run_cell_measured

    with pytest.raises(UsageError, match=message):
        run_cell_measured(shell, line, "x = 'ran'\n")
    assert shell.user_ns.get("x") != "ran"
    assert carbonsdk.Ledger().runs() == []


def test_help_lists_the_options(shell: Any) -> None:
    from IPython.core.error import UsageError

    from carbonsdk.integrations.jupyter import run_cell_measured

    with pytest.raises(UsageError, match="--region") as info:
        run_cell_measured(shell, "--help", "")
    assert "--no-report" in str(info.value) and "--result" in str(info.value)
