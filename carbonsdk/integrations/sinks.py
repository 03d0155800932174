"""What every tracker sink and framework callback logs for a run: one set of ``carbon/*`` names.

Framework-neutral (imports no tracker): :func:`summary_metrics` (the run's figures),
:func:`run_tags` (zone, intensity source, basis, flags, what was estimated),
:func:`step_points` (cumulative figures at the run's marks, for step-wise charts) and
:func:`report_html` (the HTML report). The tracker modules
(:mod:`carbonsdk.integrations.mlflow`, :mod:`~carbonsdk.integrations.wandb`,
:mod:`~carbonsdk.integrations.tensorboard`) write these values in their tracker's terms; the
Hugging Face and Lightning callbacks log the same names.

Metric names (kWh, g CO2eq, g CO2eq/kWh, s):

* ``carbon/energy_kwh``: energy of all measured components;
* ``carbon/emissions_g``: emissions, PUE included;
* ``carbon/intensity_g_per_kwh``: energy-weighted mean grid intensity (absent when unknown);
* ``carbon/duration_s``: the run's wall time;
* ``carbon/energy_<component>_kwh``: per component (``gpu``, ``cpu``, ``ram``, ...).
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import attrs

from carbonsdk.model.result import RunResult

log = logging.getLogger("carbonsdk")

#: metric name of the energy, kWh (all measured components)
ENERGY_KEY = "carbon/energy_kwh"
#: metric name of the emissions, g CO2eq (PUE included)
EMISSIONS_KEY = "carbon/emissions_g"
#: metric name of the energy-weighted mean grid intensity, g CO2eq/kWh
INTENSITY_KEY = "carbon/intensity_g_per_kwh"
#: metric name of the run's wall time, s
DURATION_KEY = "carbon/duration_s"
#: the x axis of step-wise values where a tracker needs one of its own (W&B)
STEP_KEY = "carbon/step"
#: prefix of the run's descriptive tags (``carbon.zone``, ``carbon.flags``, ...)
TAG_PREFIX = "carbon."

T = TypeVar("T")


def component_key(component: str) -> str:
    """Metric name of one component's energy, kWh: ``carbon/energy_<component>_kwh``."""
    return f"carbon/energy_{component}_kwh"


def summary_metrics(result: RunResult) -> dict[str, float]:
    """The run's figures under their ``carbon/*`` names (see the module docstring): energy
    (kWh), emissions (g CO2eq), mean intensity (g/kWh, absent when unknown), duration (s) and
    energy per measured component (kWh)."""
    metrics = {ENERGY_KEY: float(result.energy_kwh), EMISSIONS_KEY: float(result.emissions_g)}
    if result.intensity_g_per_kwh is not None:
        metrics[INTENSITY_KEY] = float(result.intensity_g_per_kwh)
    metrics[DURATION_KEY] = float(result.duration_s)
    for component, kwh in sorted(result.energy_by_component_kwh.items()):
        metrics[component_key(component)] = float(kwh)
    return metrics


def intensity_estimated(result: RunResult) -> bool:
    """True when any intensity value the run used was not a measurement."""
    return (
        result.intensity_source.estimated
        or "intensity-estimated" in result.flags
        or any(iv.intensity_estimated for iv in result.timeline)
    )


def estimated_components(result: RunResult) -> list[str]:
    """Components whose energy comes from a model, sorted."""
    names = set(result.estimated_components)
    names.update(d.component for d in result.devices if d.estimated)
    return sorted(names)


def run_tags(result: RunResult) -> dict[str, str]:
    """The run's descriptive values as strings under ``carbon.*`` names: ``run_id``,
    ``name``, ``status``, ``zone`` (``"unknown"`` when not known), ``region`` (its label),
    ``intensity_provider``, ``intensity_signal``, ``intensity_basis``, ``intensity_estimated``
    and ``estimated`` (``"true"``/``"false"``: the latter when the intensity, a component's
    energy or the region was not measured/known), ``estimated_components`` and ``flags``
    (comma-separated, ``""`` for none), ``pue``."""
    source = result.intensity_source
    comps = estimated_components(result)
    est_intensity = intensity_estimated(result)
    estimated = est_intensity or bool(comps) or not result.region.known
    tags = {
        "run_id": result.run_id,
        "name": result.name,
        "status": result.status,
        "zone": result.region.zone or "unknown",
        "region": result.region.label,
        "intensity_provider": source.provider,
        "intensity_signal": source.signal,
        "intensity_basis": source.basis,
        "intensity_estimated": "true" if est_intensity else "false",
        "estimated": "true" if estimated else "false",
        "estimated_components": ",".join(comps),
        "flags": ",".join(result.flags),
        "pue": f"{result.pue:g}",
    }
    if source.fallback_from:
        tags["intensity_fallback_from"] = source.fallback_from
    return {TAG_PREFIX + k: v for k, v in tags.items()}


@attrs.frozen
class StepPoint:
    """The run's cumulative figures at one mark: ``step`` (the mark's ``step`` datum, else its
    1-based position), ``at`` (aware UTC datetime), ``energy_kwh`` (kWh so far),
    ``emissions_g`` (g CO2eq so far, PUE included) and ``intensity_g_per_kwh`` (the intensity
    that held while that energy was used; None when the run has no timeline)."""

    step: int
    at: datetime
    energy_kwh: float
    emissions_g: float
    intensity_g_per_kwh: float | None


def _step_of(data: object) -> int | None:
    step = data.get("step") if isinstance(data, dict) else None
    if isinstance(step, bool) or not isinstance(step, int):
        return None
    return step


def step_points(result: RunResult) -> tuple[StepPoint, ...]:
    """One :class:`StepPoint` per step of the run's marks, in mark order: marks carrying an
    integer ``step`` (what the framework callbacks record) give their step, the last mark of a
    step wins; when no mark has one, every mark counts with its 1-based position. Emissions
    at a mark are those of the timeline up to the mark's energy (the interval it falls in
    counted pro rata), so they agree with the mark's ``energy_kwh``. Empty without marks."""
    marks = result.marks
    if not marks:
        return ()
    steps = [_step_of(dict(m.data)) for m in marks]
    if all(s is None for s in steps):
        numbered = [(i + 1, m) for i, m in enumerate(marks)]
    else:
        numbered = [(s, m) for s, m in zip(steps, marks, strict=True) if s is not None]
    ends_kwh: list[float] = []
    ends_g: list[float] = []
    total_kwh = total_g = 0.0
    for iv in result.timeline:
        total_kwh += iv.energy_kwh
        total_g += iv.emissions_g
        ends_kwh.append(total_kwh)
        ends_g.append(total_g)
    by_step: dict[int, StepPoint] = {}
    for step, mark in numbered:
        energy = max(0.0, float(mark.energy_kwh))
        if not ends_kwh:
            emissions = energy * (result.intensity_g_per_kwh or 0.0) * result.pue
            intensity = result.intensity_g_per_kwh
        else:
            i = min(bisect.bisect_left(ends_kwh, energy), len(ends_kwh) - 1)
            iv = result.timeline[i]
            before_kwh = ends_kwh[i - 1] if i else 0.0
            before_g = ends_g[i - 1] if i else 0.0
            share = (
                (min(energy, ends_kwh[i]) - before_kwh) / iv.energy_kwh
                if iv.energy_kwh > 0
                else 0.0
            )
            emissions = before_g + max(0.0, share) * iv.emissions_g
            intensity = iv.intensity_g_per_kwh
        by_step.pop(step, None)  # the last mark of a step wins, at its place in the order
        by_step[step] = StepPoint(step, mark.at, energy, emissions, intensity)
    return tuple(by_step.values())


def step_metrics(point: StepPoint) -> dict[str, float]:
    """``carbon/energy_kwh``, ``carbon/emissions_g`` and (when known)
    ``carbon/intensity_g_per_kwh`` of one :class:`StepPoint`."""
    metrics = {ENERGY_KEY: point.energy_kwh, EMISSIONS_KEY: point.emissions_g}
    if point.intensity_g_per_kwh is not None:
        metrics[INTENSITY_KEY] = point.intensity_g_per_kwh
    return metrics


def history_points(result: RunResult) -> tuple[StepPoint, ...]:
    """The :func:`step_points` before the run's last step: at that step a tracker logs the
    run's final figures (:func:`summary_metrics`), which must be its latest value of each
    metric (the mark's intensity there is the interval's, the final one the run's mean)."""
    points = step_points(result)
    last = max((p.step for p in points), default=0)
    return tuple(p for p in points if p.step != last)


def last_step(result: RunResult) -> int:
    """The step the run's final figures are logged at: that of its last :class:`StepPoint`
    (0 without marks)."""
    points = step_points(result)
    return max((p.step for p in points), default=0)


def is_observer(result: RunResult) -> bool:
    """True for the record of an observer rank (it counts nothing: another rank measured)."""
    return (result.job is not None and result.job.role == "observer") or (
        "observer-rank" in result.flags
    )


def should_log(result: RunResult, *, nested: bool) -> bool:
    """Whether a tracker logs ``result``: never an observer rank's record; a nested run (one
    started inside another, ``parent_run_id`` set) only with ``nested=True``, since the
    enclosing run's figures already contain its energy."""
    if is_observer(result):
        return False
    return nested or result.parent_run_id is None


def report_html(result: RunResult) -> str:
    """The run's self-contained HTML report (:func:`carbonsdk.report.html.render_html`)."""
    from carbonsdk.report.html import render_html

    return render_html(result)


def report_name(result: RunResult) -> str:
    """File name of a run's report in a tracker: ``report_<run_id>.html``."""
    return f"report_{result.run_id}.html"


class SentOnce:
    """Remembers which (tracker run, carbonsdk run) pairs were logged, so that a run reaching
    a tracker through two paths (``autolog()`` and a framework callback) is logged once.
    Keeps the latest ``capacity`` pairs."""

    def __init__(self, capacity: int = 4096) -> None:
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def first(self, target: str, run_id: str) -> bool:
        """True the first time ``(target, run_id)`` is seen (and remembers it)."""
        key = (target, run_id)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True

    def forget(self, target: str, run_id: str) -> None:
        """Forget ``(target, run_id)`` (its logging failed: another path may retry)."""
        with self._lock:
            self._seen.pop((target, run_id), None)


def bounded(fn: Callable[[], T], timeout_s: float | None, what: str) -> T:
    """``fn()``, waiting at most ``timeout_s`` seconds for it (None: no limit). Past the limit
    it raises :class:`TimeoutError` naming ``what``; ``fn`` goes on in a daemon thread (a
    tracker retrying a server that is down must not hold the end of the training)."""
    if timeout_s is None:
        return fn()
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - a tracker raises anything
            box["error"] = exc

    thread = threading.Thread(target=work, name=f"carbonsdk-{what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(
            f"{what} did not finish within {timeout_s:g} s (left running in the background)"
        )
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def send_to_tracker(
    tracker: str, result: RunResult, target: Any, *, steps: bool = False
) -> str | None:
    """Log ``result`` into a tracker run a framework callback found: ``tracker`` ``"mlflow"``
    (``target``: ``(client, run_id)``, or None for the active run), ``"wandb"`` (``target``:
    the W&B run) or ``"tensorboard"`` (``target``: a ``SummaryWriter``-like writer), with the
    code of :mod:`carbonsdk.integrations.mlflow` & co. ``steps`` False: the callback's live
    values already give the step-wise curve. A result already logged there (by ``autolog()``)
    is not logged twice. Returns None, or the ``sink-failed:<tracker>`` flag when the tracker
    failed (logged once, never raised). Raises :class:`ImportError` when the tracker's package
    is missing (the caller falls back to plain metrics)."""
    from carbonsdk.sinks import failure_flag

    if tracker == "mlflow":
        from carbonsdk.integrations import mlflow as sink_mlflow

        if target is None:  # the active run is thread-local: look it up here
            target = sink_mlflow.active_target()
            if target is None:
                return None
        client, run_id = target
        send: Callable[[], object] = lambda: sink_mlflow.log_result(  # noqa: E731
            result, run_id=run_id, client=client, steps=steps
        )
        timeout_s: float | None = sink_mlflow.DEFAULT_TIMEOUT_S
    elif tracker == "wandb":
        from carbonsdk.integrations import wandb as sink_wandb

        send = lambda: sink_wandb.log_result(result, run=target, steps=steps)  # noqa: E731
        timeout_s = None
    elif tracker == "tensorboard":
        from carbonsdk.integrations import tensorboard as sink_tb

        send = lambda: sink_tb.log_result(result, target, steps=steps)  # noqa: E731
        timeout_s = None
    else:
        raise ValueError(f"unknown tracker {tracker!r}")
    try:
        bounded(send, timeout_s, f"{tracker} logging")
    except Exception as exc:  # noqa: BLE001 - a tracker raises anything
        return failure_flag(tracker, exc)
    return None


def validate_timeout_s(timeout_s: object) -> float | None:
    """``timeout_s`` as seconds (> 0) or None; :class:`carbonsdk.ConfigurationError`
    otherwise."""
    import math

    from carbonsdk.exceptions import ConfigurationError

    if timeout_s is None:
        return None
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, (int, float))
        or not (math.isfinite(timeout_s) and timeout_s > 0)
    ):
        raise ConfigurationError(
            f"timeout_s={timeout_s!r} is not valid: expected a number of seconds > 0 or None"
        )
    return float(timeout_s)


def validate_bool(name: str, value: object) -> bool:
    """``value`` when it is a bool; :class:`carbonsdk.ConfigurationError` naming ``name``
    otherwise."""
    from carbonsdk.exceptions import ConfigurationError

    if not isinstance(value, bool):
        raise ConfigurationError(f"{name}={value!r} is not valid: expected True or False")
    return value


__all__ = [
    "DURATION_KEY",
    "EMISSIONS_KEY",
    "ENERGY_KEY",
    "INTENSITY_KEY",
    "STEP_KEY",
    "TAG_PREFIX",
    "SentOnce",
    "StepPoint",
    "bounded",
    "component_key",
    "estimated_components",
    "history_points",
    "intensity_estimated",
    "is_observer",
    "last_step",
    "report_html",
    "report_name",
    "run_tags",
    "send_to_tracker",
    "should_log",
    "step_metrics",
    "step_points",
    "summary_metrics",
]
