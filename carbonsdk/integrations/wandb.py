"""Weights & Biases: every carbonsdk run that ends while a ``wandb.run`` is active is logged there.

::

    import wandb  # type: ignore[import-not-found, unused-ignore]
    from carbonsdk.integrations import wandb as carbon_wandb

    carbon_wandb.autolog()
    with wandb.init(project="bert"), carbonsdk.measure("train", region="DE"):
        train()

Logged into the active W&B run (see :mod:`carbonsdk.integrations.sinks` for the names):

* summary: ``carbon/energy_kwh``, ``carbon/emissions_g``, ``carbon/intensity_g_per_kwh``,
  ``carbon/duration_s`` and ``carbon/energy_<component>_kwh``;
* history: one row per step of the run's marks (the framework callbacks mark epochs and
  steps) with ``carbon/step`` and the cumulative ``carbon/energy_kwh``, ``carbon/emissions_g``
  and ``carbon/intensity_g_per_kwh``. ``carbon/*`` is charted against ``carbon/step``
  (``define_metric``), since W&B drops rows logged at a step below its current one. Each row
  advances the run's own step counter: a script that passes ``step=`` to ``wandb.log`` after a
  carbonsdk run ended must pass steps above the ones it used before;
* config: ``carbon.zone``, ``carbon.region``, ``carbon.intensity_provider``,
  ``carbon.intensity_signal``, ``carbon.intensity_basis``, ``carbon.intensity_estimated``,
  ``carbon.estimated``, ``carbon.estimated_components``, ``carbon.flags``, ``carbon.pue``,
  ``carbon.run_id``, ``carbon.name``, ``carbon.status``;
* the HTML report in the summary as ``carbon/report`` (a ``wandb.Html``), unless ``report=False``.

Works offline (``WANDB_MODE=offline``: ``wandb sync`` uploads later). A failure of W&B never
fails the training: the run gets the flag ``sink-failed:wandb`` and it is logged once.

Importing this module imports ``wandb``; without it, it raises :class:`ImportError` saying how
to install it.
"""

from __future__ import annotations

import logging
from typing import Any

from carbonsdk.integrations import framework_missing
from carbonsdk.integrations.sinks import (
    STEP_KEY,
    SentOnce,
    report_html,
    run_tags,
    should_log,
    step_metrics,
    step_points,
    summary_metrics,
    validate_bool,
)
from carbonsdk.model.result import RunResult
from carbonsdk.sinks import SinkHandle, register, unregister

try:
    import wandb  # type: ignore[import-not-found, unused-ignore]
except ImportError as _exc:
    raise framework_missing(
        "wandb", "pip install wandb", "carbonsdk.integrations.wandb", _exc
    ) from _exc

log = logging.getLogger("carbonsdk")

#: the sink's name, in the ``sink-failed:wandb`` flag
SINK_NAME = "wandb"
#: summary key of the HTML report
REPORT_KEY = "carbon/report"

_sent = SentOnce()
_handle: SinkHandle | None = None


def log_result(
    result: RunResult, *, run: Any = None, steps: bool = True, report: bool = True
) -> bool:
    """Log ``result`` into the W&B ``run`` (default: ``wandb.run``): summary, history rows
    (``steps``), config and, with ``report``, the HTML report (see the module docstring).
    Returns False when there is no run or this result was already logged there; raises what
    ``wandb`` raises when it fails."""
    if run is None:
        run = wandb.run
        if run is None:
            return False
    target = f"wandb:{run.id}"
    if not _sent.first(target, result.run_id):
        return False
    try:
        points = step_points(result) if steps else ()
        if points:
            run.define_metric(STEP_KEY)
            run.define_metric("carbon/*", step_metric=STEP_KEY)
            for point in points:
                run.log({STEP_KEY: point.step, **step_metrics(point)})
        run.config.update(run_tags(result), allow_val_change=True)
        summary: dict[str, Any] = dict(summary_metrics(result))
        if report:
            summary[REPORT_KEY] = wandb.Html(report_html(result), inject=False)
        run.summary.update(summary)
    except BaseException:
        _sent.forget(target, result.run_id)
        raise
    return True


class WandbSink:
    """The sink :func:`autolog` registers: logs each finished run (top-level runs, and nested
    ones with ``nested=True``; never an observer rank's record) into ``wandb.run``."""

    name = SINK_NAME

    def __init__(self, *, steps: bool = True, report: bool = True, nested: bool = False) -> None:
        self.steps = validate_bool("steps", steps)
        self.report = validate_bool("report", report)
        self.nested = validate_bool("nested", nested)

    def __call__(self, result: RunResult) -> None:
        """Log ``result`` when a W&B run is active."""
        if should_log(result, nested=self.nested):
            log_result(result, steps=self.steps, report=self.report)


def autolog(
    *, steps: bool = True, report: bool = True, nested: bool = False, disable: bool = False
) -> SinkHandle | None:
    """From now on, log every carbonsdk run that ends while a ``wandb.run`` is active into it
    (see the module docstring): ``steps`` the history rows at the run's marks, ``report`` the
    HTML report in the summary, ``nested`` also runs started inside another carbonsdk run.
    Calling it again replaces the earlier settings; ``disable=True`` stops it. Returns the
    sink's :class:`carbonsdk.sinks.SinkHandle` (None with ``disable``). Raises
    :class:`carbonsdk.ConfigurationError` for a bad option."""
    global _handle
    validate_bool("disable", disable)
    sink = None if disable else WandbSink(steps=steps, report=report, nested=nested)
    if _handle is not None:
        unregister(_handle)
        _handle = None
    if sink is None:
        return None
    _handle = register(sink, name=SINK_NAME)
    return _handle


__all__ = ["REPORT_KEY", "SINK_NAME", "WandbSink", "autolog", "log_result"]
