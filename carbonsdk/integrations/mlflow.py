"""MLflow: every carbonsdk run that ends while an MLflow run is active is logged there.

::

    import mlflow
    from carbonsdk.integrations import mlflow as carbon_mlflow

    carbon_mlflow.autolog()
    with mlflow.start_run(), carbonsdk.measure("train", region="DE"):
        train()

Logged into the active MLflow run (see :mod:`carbonsdk.integrations.sinks` for the names):

* metrics ``carbon/energy_kwh``, ``carbon/emissions_g``, ``carbon/intensity_g_per_kwh``,
  ``carbon/duration_s`` and ``carbon/energy_<component>_kwh``, at the run's last step;
* step-wise ``carbon/energy_kwh``, ``carbon/emissions_g`` and ``carbon/intensity_g_per_kwh``
  at each step of the run's marks (the framework callbacks mark epochs and steps), with the
  mark's time as timestamp;
* tags ``carbon.zone``, ``carbon.region``, ``carbon.intensity_provider``,
  ``carbon.intensity_signal``, ``carbon.intensity_basis``, ``carbon.intensity_estimated``,
  ``carbon.estimated``, ``carbon.estimated_components``, ``carbon.flags``, ``carbon.pue``,
  ``carbon.run_id``, ``carbon.name``, ``carbon.status``. Tags, not params: MLflow refuses to
  change a param, and two carbonsdk runs in one MLflow run may differ;
* the HTML report as the artifact ``carbon/report_<run_id>.html``.

A tracker that fails (server down, wrong credentials) never fails the training: the run gets
the flag ``sink-failed:mlflow`` and the failure is logged once. MLflow retries a server that is
down for minutes; the sink waits ``timeout_s`` (30 s by default) and leaves it retrying in the
background.

Importing this module imports ``mlflow``; without it, it raises :class:`ImportError` saying how
to install it (``pip install mlflow-skinny`` is enough: no server, no pandas).
"""

from __future__ import annotations

import logging
from typing import Any

from carbonsdk.integrations import framework_missing
from carbonsdk.integrations.sinks import (
    SentOnce,
    bounded,
    history_points,
    last_step,
    report_html,
    report_name,
    run_tags,
    should_log,
    step_metrics,
    summary_metrics,
    validate_bool,
    validate_timeout_s,
)
from carbonsdk.model.result import RunResult
from carbonsdk.sinks import SinkHandle, register, unregister

try:
    import mlflow  # type: ignore[import-not-found, unused-ignore]
    from mlflow.entities import Metric, RunTag  # type: ignore[import-not-found, unused-ignore]
    from mlflow.tracking import MlflowClient  # type: ignore[import-not-found, unused-ignore]
except ImportError as _exc:
    raise framework_missing(
        "mlflow",
        "pip install mlflow-skinny  (or: pip install mlflow)",
        "carbonsdk.integrations.mlflow",
        _exc,
    ) from _exc

log = logging.getLogger("carbonsdk")

#: the sink's name, in the ``sink-failed:mlflow`` flag
SINK_NAME = "mlflow"
#: folder of the run's artifacts where the HTML report goes
ARTIFACT_DIR = "carbon"
#: how long autolog's sink waits for MLflow at the end of a run, s
DEFAULT_TIMEOUT_S = 30.0
#: MLflow's limits for one ``log_batch`` call (REST API: 1000 metrics, 100 tags)
_MAX_METRICS_PER_BATCH = 1000
_MAX_TAGS_PER_BATCH = 100

_sent = SentOnce()
_handle: SinkHandle | None = None


def _ms(dt: Any) -> int:
    return int(dt.timestamp() * 1000)


def _tracking_uri(client: Any) -> str:
    inner = getattr(client, "_tracking_client", None)
    return str(getattr(inner, "tracking_uri", None) or mlflow.get_tracking_uri())


def log_result(
    result: RunResult,
    *,
    run_id: str | None = None,
    client: Any = None,
    report: bool = True,
    steps: bool = True,
) -> bool:
    """Log ``result`` into the MLflow run ``run_id`` (default: the active run) through
    ``client`` (an ``MlflowClient``; default: one for the current tracking URI): metrics,
    step-wise metrics (``steps``), tags and the HTML report (``report``), as described in the
    module docstring. Returns False when there is no run to log into or this result was
    already logged there; raises what MLflow raises when the tracker fails."""
    if run_id is None:
        active = mlflow.active_run()
        if active is None:
            return False
        run_id = active.info.run_id
    if client is None:
        client = MlflowClient()
    target = f"{_tracking_uri(client)}#{run_id}"
    if not _sent.first(target, result.run_id):
        return False
    try:
        metrics: list[Any] = []
        if steps:
            for point in history_points(result):
                ts = _ms(point.at)
                metrics.extend(
                    Metric(key, value, ts, point.step) for key, value in step_metrics(point).items()
                )
        end_ms, step = _ms(result.ended_at), last_step(result)
        metrics.extend(
            Metric(key, value, end_ms, step) for key, value in summary_metrics(result).items()
        )
        tags = [RunTag(key, value) for key, value in run_tags(result).items()]
        for i in range(0, len(metrics), _MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=metrics[i : i + _MAX_METRICS_PER_BATCH])
        for i in range(0, len(tags), _MAX_TAGS_PER_BATCH):
            client.log_batch(run_id, tags=tags[i : i + _MAX_TAGS_PER_BATCH])
        if report:
            client.log_text(run_id, report_html(result), f"{ARTIFACT_DIR}/{report_name(result)}")
    except BaseException:
        _sent.forget(target, result.run_id)
        raise
    return True


def active_target() -> tuple[Any, str] | None:
    """``(client, run_id)`` of the MLflow run active in this thread (MLflow's active run is
    thread-local), the client for the current tracking URI; None when no run is active."""
    active = mlflow.active_run()
    if active is None:
        return None
    return MlflowClient(mlflow.get_tracking_uri()), str(active.info.run_id)


class MlflowSink:
    """The sink :func:`autolog` registers: logs each finished run (top-level runs, and nested
    ones with ``nested=True``; never an observer rank's record) into the MLflow run active in
    the thread that ends it, waiting at most ``timeout_s`` seconds (None: no limit)."""

    name = SINK_NAME

    def __init__(
        self,
        *,
        report: bool = True,
        steps: bool = True,
        nested: bool = False,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.report = validate_bool("report", report)
        self.steps = validate_bool("steps", steps)
        self.nested = validate_bool("nested", nested)
        self.timeout_s = validate_timeout_s(timeout_s)

    def __call__(self, result: RunResult) -> None:
        """Log ``result`` when an MLflow run is active (the active run is thread-local: it is
        looked up here, in the thread that ends the carbonsdk run)."""
        if not should_log(result, nested=self.nested):
            return
        target = active_target()
        if target is None:
            return
        client, run_id = target
        bounded(
            lambda: log_result(
                result, run_id=run_id, client=client, report=self.report, steps=self.steps
            ),
            self.timeout_s,
            "MLflow logging",
        )


def autolog(
    *,
    report: bool = True,
    steps: bool = True,
    nested: bool = False,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    disable: bool = False,
) -> SinkHandle | None:
    """From now on, log every carbonsdk run that ends while an MLflow run is active into that
    MLflow run (see the module docstring): ``report`` the HTML report artifact, ``steps`` the
    step-wise values at the run's marks, ``nested`` also runs started inside another carbonsdk
    run, ``timeout_s`` how long to wait for MLflow at the end of a run (seconds, None: no
    limit). Calling it again replaces the earlier settings; ``disable=True`` stops it.
    Returns the sink's :class:`carbonsdk.sinks.SinkHandle` (None with ``disable``). Raises
    :class:`carbonsdk.ConfigurationError` for a bad option."""
    global _handle
    validate_bool("disable", disable)
    sink = (
        None
        if disable
        else MlflowSink(report=report, steps=steps, nested=nested, timeout_s=timeout_s)
    )
    if _handle is not None:
        unregister(_handle)
        _handle = None
    if sink is None:
        return None
    _handle = register(sink, name=SINK_NAME)
    return _handle


__all__ = [
    "ARTIFACT_DIR",
    "DEFAULT_TIMEOUT_S",
    "SINK_NAME",
    "MlflowSink",
    "active_target",
    "autolog",
    "log_result",
]
