"""The sink registry (carbonsdk.sinks): register, unregister, emit, failures flagged and logged
once, never raised; and the end of every measured run handing its result to the sinks."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sinks_values import STEP_KWH, measured_result

import carbonsdk
from carbonsdk import sinks
from carbonsdk.model.result import RunResult


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    sinks._reset_for_tests()
    yield
    sinks._reset_for_tests()


class Recorder:
    """A sink that keeps what it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.results: list[RunResult] = []

    def __call__(self, result: RunResult) -> None:
        self.results.append(result)


def failing(result: RunResult) -> None:
    raise ConnectionError("tracker at 127.0.0.1:9 refused the connection")


def test_emit_hands_the_result_to_each_sink_in_registration_order() -> None:
    result = measured_result()
    order: list[str] = []
    first = sinks.register(lambda r: order.append("first"), name="first")
    recorder = Recorder()
    handle = sinks.register(recorder)
    assert handle.name == "recorder" and handle.registered
    assert sinks.registered() == (first, handle)
    assert sinks.emit(result) == ()
    assert order == ["first"] and recorder.results == [result]

    assert sinks.register(recorder) is handle  # registering again: the same handle
    assert sinks.unregister(handle) and not handle.registered
    assert not sinks.unregister(handle)
    sinks.emit(result)
    assert len(recorder.results) == 1 and order == ["first", "first"]


def test_a_failing_sink_is_flagged_logged_once_and_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = measured_result()
    recorder = Recorder()
    sinks.register(failing, name="mlflow")
    sinks.register(recorder)
    with caplog.at_level(logging.DEBUG, logger="carbonsdk"):
        assert sinks.emit(result) == ("sink-failed:mlflow",)
        assert sinks.emit(result) == ("sink-failed:mlflow",)
    assert len(recorder.results) == 2  # the sinks after it still ran
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "mlflow sink failed" in warnings[0].getMessage()
    assert "refused the connection" in warnings[0].getMessage()
    assert sum("failed again" in r.getMessage() for r in caplog.records) == 1


def test_sinks_may_add_flags_and_handles_unregister_as_context_managers() -> None:
    result = measured_result()
    with sinks.register(lambda r: ("tracker-offline", "tracker-offline"), name="a"):
        with sinks.register(lambda r: "single-flag", name="b") as inner:
            assert sinks.emit(result) == ("tracker-offline", "single-flag")
        assert not inner.registered
        assert sinks.emit(result) == ("tracker-offline",)
    assert sinks.registered() == ()
    assert sinks.emit(result) == ()


def test_a_run_measured_inside_a_sink_emits_nothing() -> None:
    seen: list[str] = []

    def measuring(result: RunResult) -> None:
        seen.append(result.name)
        measured_result("inside-the-sink", steps=1)

    outer = measured_result("outer")
    sinks.register(measuring, name="measuring")
    assert sinks.emit(outer) == ()
    assert seen == ["outer"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sink": 42}, "sink=42 is not valid: expected a callable"),
        ({"sink": print, "name": ""}, "name='' is not valid"),
        ({"sink": print, "name": "has space"}, "name='has space' is not valid"),
    ],
)
def test_bad_registrations_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(carbonsdk.ConfigurationError, match=match):
        sinks.register(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(carbonsdk.ConfigurationError, match="handle='x' is not valid"):
        sinks.unregister("x")  # type: ignore[arg-type]


def test_failure_flag_logs_once_per_name(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="carbonsdk"):
        assert sinks.failure_flag("wandb", OSError("disk full")) == "sink-failed:wandb"
        assert sinks.failure_flag("wandb", OSError("disk full")) == "sink-failed:wandb"
        assert sinks.failure_flag("tensorboard", OSError("read-only")) == (
            "sink-failed:tensorboard"
        )
    assert [r.getMessage().split(" sink failed")[0] for r in caplog.records] == [
        "carbonsdk: the wandb",
        "carbonsdk: the tensorboard",
    ]


def test_the_registry_imports_nothing_third_party() -> None:
    tree = ast.parse(Path(sinks.__file__).read_text(encoding="utf-8"))
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    third_party = {
        m
        for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "__future__"
    }
    # carbonsdk.model.result (attrs) only under TYPE_CHECKING
    assert third_party == {"carbonsdk.exceptions", "carbonsdk.model.result"}
    type_checking = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    ]
    assert any(
        isinstance(n, ast.ImportFrom) and n.module == "carbonsdk.model.result"
        for block in type_checking
        for n in ast.walk(block)
    )


def test_import_carbonsdk_imports_no_tracker(subprocess_env: dict[str, str]) -> None:
    code = (
        "import sys, carbonsdk, carbonsdk.sinks, carbonsdk.integrations, "
        "carbonsdk.integrations.sinks; print(sorted(m for m in ('mlflow', 'wandb', "
        "'tensorboard', 'pandas', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]"
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in out.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not imported & {"mlflow", "wandb", "tensorboard", "pandas", "torch"}


# -- end to end: the end of every run calls carbonsdk.sinks.emit(result) ------------------------


def test_measure_hands_each_finished_run_to_the_sinks_and_flags_failures() -> None:
    recorder = Recorder()
    sinks.register(recorder)
    sinks.register(failing, name="mlflow")
    result = measured_result("e2e")
    assert [r.run_id for r in recorder.results] == [result.run_id]
    seen = recorder.results[0]
    assert seen.energy_kwh == pytest.approx(4 * STEP_KWH)
    assert seen.status == "completed" and len(seen.marks) == 4
    assert "sink-failed:mlflow" in result.flags
    assert carbonsdk.Ledger().get(result.run_id).energy_kwh == pytest.approx(4 * STEP_KWH)
