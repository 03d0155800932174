"""MLflow, the real package (mlflow-skinny) on a local file store: autolog() logs finished runs
into the active MLflow run; a tracking server that is down flags the run and never raises."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_module
from test_sinks_values import STEP_KWH, measured_result

import carbonsdk
from carbonsdk import sinks
from carbonsdk.model.result import RunResult

pytestmark = pytest.mark.framework

INSTALL = "pip install mlflow-skinny"


@pytest.fixture
def mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The real ``mlflow`` on a file store in ``tmp_path`` (MLflow 3 keeps the file store
    behind ``MLFLOW_ALLOW_FILE_STORE``; a database store needs the full ``mlflow``)."""
    module = require_module("mlflow", INSTALL)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.chdir(tmp_path)
    module.set_tracking_uri((tmp_path / "mlruns").as_uri())
    sinks._reset_for_tests()
    yield module
    while module.active_run() is not None:
        module.end_run()
    from carbonsdk.integrations import mlflow as carbon_mlflow

    carbon_mlflow.autolog(disable=True)
    sinks._reset_for_tests()


def client(mlflow: Any) -> Any:
    return mlflow.tracking.MlflowClient()


def carbon_tags(run: Any) -> dict[str, str]:
    return {k: v for k, v in run.data.tags.items() if k.startswith("carbon.")}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_down(mlflow: Any) -> Iterator[None]:
    """The MLflow run started on the file store goes on against a tracking server that is
    down (nothing listens on the port); the file store is back for ending the run."""
    store = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"http://127.0.0.1:{closed_port()}")
    try:
        yield
    finally:
        mlflow.set_tracking_uri(store)


def test_autolog_logs_metrics_steps_tags_and_the_report(mlflow: Any) -> None:
    from carbonsdk.integrations import mlflow as carbon_mlflow

    result = measured_result("bert-tiny")
    handle = carbon_mlflow.autolog()
    assert handle is not None and handle.name == "mlflow"
    with mlflow.start_run() as active:
        assert sinks.emit(result) == ()
    run = client(mlflow).get_run(active.info.run_id)

    assert run.data.metrics == {
        "carbon/energy_kwh": pytest.approx(4 * STEP_KWH),
        "carbon/emissions_g": pytest.approx(4 * STEP_KWH * 100),
        "carbon/intensity_g_per_kwh": pytest.approx(100.0),
        "carbon/duration_s": pytest.approx(40.0),
        "carbon/energy_gpu_kwh": pytest.approx(4 * STEP_KWH),
    }
    history = client(mlflow).get_metric_history(active.info.run_id, "carbon/energy_kwh")
    assert [(m.step, m.value) for m in history] == [
        (k, pytest.approx(k * STEP_KWH)) for k in (1, 2, 3, 4)
    ]
    assert [m.timestamp for m in history] == [
        *(int(mark.at.timestamp() * 1000) for mark in result.marks[:3]),
        int(result.ended_at.timestamp() * 1000),
    ]  # the final figures, at the last step
    emissions = client(mlflow).get_metric_history(active.info.run_id, "carbon/emissions_g")
    assert [m.value for m in emissions] == pytest.approx([k * STEP_KWH * 100 for k in (1, 2, 3, 4)])

    tags = carbon_tags(run)
    assert tags["carbon.zone"] == "DE"
    assert tags["carbon.intensity_provider"] == "constant"
    assert tags["carbon.intensity_basis"] == "unknown"
    assert tags["carbon.estimated"] == "false" and tags["carbon.flags"] == ""
    assert tags["carbon.run_id"] == result.run_id

    (artifact,) = client(mlflow).list_artifacts(active.info.run_id, "carbon")
    assert artifact.path == f"carbon/report_{result.run_id}.html"
    html = (Path(run.info.artifact_uri.removeprefix("file://")) / artifact.path).read_text()
    assert html.startswith("<!DOCTYPE html>") and "bert-tiny" in html


def test_estimated_values_and_flags_are_tagged(mlflow: Any) -> None:
    from carbonsdk.integrations import mlflow as carbon_mlflow

    result = measured_result(region=None, intensity="auto")  # unknown region: world average
    with mlflow.start_run() as active:
        assert carbon_mlflow.log_result(result, report=False, steps=False)
        assert not carbon_mlflow.log_result(result)  # once per MLflow run
    run = client(mlflow).get_run(active.info.run_id)
    tags = carbon_tags(run)
    assert tags["carbon.zone"] == "unknown"
    assert tags["carbon.estimated"] == "true"
    assert tags["carbon.flags"] == ",".join(result.flags) and "region-unknown" in result.flags
    assert client(mlflow).list_artifacts(active.info.run_id, "carbon") == []
    assert len(client(mlflow).get_metric_history(active.info.run_id, "carbon/energy_kwh")) == 1


def test_without_an_active_mlflow_run_nothing_is_logged(mlflow: Any) -> None:
    from carbonsdk.integrations import mlflow as carbon_mlflow

    carbon_mlflow.autolog()
    assert sinks.emit(measured_result()) == ()
    experiments = client(mlflow).search_experiments()
    assert all(not client(mlflow).search_runs([e.experiment_id]) for e in experiments)


def test_nested_and_observer_runs_are_skipped_and_autolog_replaces_itself(mlflow: Any) -> None:
    import attrs

    from carbonsdk.integrations import mlflow as carbon_mlflow

    carbon_mlflow.autolog(report=False)
    carbon_mlflow.autolog(report=False, nested=False)
    assert [h.name for h in sinks.registered()] == ["mlflow"]
    result = measured_result()
    with mlflow.start_run() as active:
        sinks.emit(attrs.evolve(result, parent_run_id="0" * 32))
        sinks.emit(attrs.evolve(result, flags=("observer-rank",)))
    assert client(mlflow).get_run(active.info.run_id).data.metrics == {}
    assert carbon_mlflow.autolog(disable=True) is None
    assert sinks.registered() == ()


def test_a_tracking_server_that_is_down_flags_the_run_and_is_logged_once(
    mlflow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from carbonsdk.integrations import mlflow as carbon_mlflow

    carbon_mlflow.autolog()
    first, second = measured_result("a"), measured_result("b")
    with (
        mlflow.start_run(),
        server_down(mlflow),
        caplog.at_level(logging.WARNING, logger="carbonsdk"),
    ):
        assert sinks.emit(first) == ("sink-failed:mlflow",)
        assert sinks.emit(second) == ("sink-failed:mlflow",)
    (warning,) = [r for r in caplog.records if r.name == "carbonsdk"]
    assert "mlflow sink failed" in warning.getMessage()


def test_a_server_mlflow_keeps_retrying_is_given_up_after_timeout_s(
    mlflow: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from carbonsdk.integrations import mlflow as carbon_mlflow

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")  # MLflow backs off 2 s, 4 s...
    carbon_mlflow.autolog(timeout_s=0.5)
    result = measured_result()
    with (
        mlflow.start_run(),
        server_down(mlflow),
        caplog.at_level(logging.WARNING, logger="carbonsdk"),
    ):
        assert sinks.emit(result) == ("sink-failed:mlflow",)
    assert "did not finish within 0.5 s" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout_s": 0}, "timeout_s=0 is not valid"),
        ({"report": "yes"}, "report='yes' is not valid"),
        ({"nested": None}, "nested=None is not valid"),
    ],
)
def test_bad_options_are_refused(mlflow: Any, kwargs: dict[str, Any], match: str) -> None:
    from carbonsdk.integrations import mlflow as carbon_mlflow

    with pytest.raises(carbonsdk.ConfigurationError, match=match):
        carbon_mlflow.autolog(**kwargs)
    assert sinks.registered() == ()


def test_lightning_mlflow_logger_gets_the_same_tags_and_report(mlflow: Any, tmp_path: Path) -> None:
    torch = require_module("torch", "pip install torch==2.13.0 (CPU build)")
    torch.set_num_threads(1)
    pl = require_module("lightning.pytorch", "pip install lightning")
    from test_integrations_lightning import make_loader, make_module

    from carbonsdk.integrations.lightning import CarbonCallback

    logger = pl.loggers.MLFlowLogger(
        experiment_name="lit", tracking_uri=(tmp_path / "lit").as_uri()
    )
    carbon = CarbonCallback(region="FR", intensity=50, report=False, interval_s=0.05)
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=2,
        callbacks=[carbon],
    )
    trainer.fit(make_module(pl), make_loader())
    result = carbon.result
    assert result is not None and result.status == "completed"
    assert not [f for f in result.flags if f.startswith("sink-failed")]
    run = logger.experiment.get_run(logger.run_id)
    assert run.data.metrics["carbon/energy_kwh"] == pytest.approx(result.energy_kwh)
    assert run.data.metrics["carbon/emissions_g"] == pytest.approx(result.emissions_g)
    assert run.data.metrics["carbon/intensity_g_per_kwh"] == pytest.approx(50.0)
    assert carbon_tags(run)["carbon.zone"] == "FR"
    assert carbon_tags(run)["carbon.run_id"] == result.run_id
    (artifact,) = logger.experiment.list_artifacts(logger.run_id, "carbon")
    assert artifact.path == f"carbon/report_{result.run_id}.html"


def test_missing_mlflow_raises_an_import_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.mlflow", raising=False)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match="pip install mlflow-skinny"):
        import carbonsdk.integrations.mlflow  # noqa: F401
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.mlflow", raising=False)


# -- end to end: the end of every run calls carbonsdk.sinks.emit(result) ------------------------


def test_a_run_measured_inside_an_mlflow_run_is_logged_there(mlflow: Any) -> None:
    from carbonsdk.integrations import mlflow as carbon_mlflow

    carbon_mlflow.autolog()
    with mlflow.start_run() as active:
        result: RunResult = measured_result("e2e")
    assert not [f for f in result.flags if f.startswith("sink-failed")]
    run = client(mlflow).get_run(active.info.run_id)
    assert run.data.metrics["carbon/energy_kwh"] == pytest.approx(4 * STEP_KWH)
    assert carbon_tags(run)["carbon.run_id"] == result.run_id
