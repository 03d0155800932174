"""Framework and tracker integrations.

* :mod:`carbonsdk.integrations.huggingface`: ``CarbonCallback`` for ``transformers.Trainer``;
* :mod:`carbonsdk.integrations.lightning`: ``CarbonCallback`` for ``lightning.pytorch.Trainer``
  (or ``pytorch_lightning``);
* :mod:`carbonsdk.integrations.jupyter`: the ``%%measure`` cell magic
  (``%load_ext carbonsdk.integrations.jupyter``);
* :mod:`carbonsdk.integrations.mlflow`, :mod:`carbonsdk.integrations.wandb`,
  :mod:`carbonsdk.integrations.tensorboard`: ``autolog()`` sends every finished run to the
  tracker (the :mod:`carbonsdk.sinks` registry); the callbacks above use the same code for
  the trackers they find;
* :mod:`carbonsdk.integrations.sinks`: the ``carbon/*`` names and values they all log.

Importing this package imports no framework or tracker (nor torch): each submodule imports
its framework when it is imported, and raises :class:`ImportError` naming the package to
install when it is missing. :class:`TrainingRun` is the framework-neutral part the callbacks
share: one measured training run with epoch and step marks, live ``carbon/*`` metrics and the
pause policy.
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import logging
import math
import sys
from collections.abc import Mapping
from types import ModuleType, TracebackType
from typing import Any

import attrs

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.integrations.sinks import EMISSIONS_KEY, ENERGY_KEY, summary_metrics
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.model.result import RunResult
from carbonsdk.run import MAX_MARKS, Run, RunOptions, Terminated, validate_options
from carbonsdk.run._guard import guard

log = logging.getLogger("carbonsdk")

#: step marks stop at this many marks in a run, keeping room for epoch marks (a run keeps at
#: most :data:`carbonsdk.run.options.MAX_MARKS`)
STEP_MARK_BUDGET = MAX_MARKS - 1_000

_MEASURE_OPTIONS = frozenset(inspect.signature(validate_options).parameters) - {"name"}


def framework_missing(module: str, install: str, feature: str, exc: ImportError) -> ImportError:
    """The :class:`ImportError` to raise when ``feature`` cannot import ``module``: it says
    how to install it (``install``, e.g. ``"pip install transformers"``)."""
    return ImportError(
        f"{feature} needs the {module!r} package, which could not be imported "
        f"({exc}); install it with: {install}"
    )


def require_framework(module: str, install: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``; when it is missing, raise :class:`ImportError` saying
    how to install it (see :func:`framework_missing`)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise framework_missing(module, install, feature, exc) from exc


def _scalar(value: Any) -> str | int | float | bool | None:
    """``value`` as a JSON scalar for mark data, or None when it is not one (a tensor's
    ``.item()`` is taken; non-finite floats are dropped)."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, int, float, bool)):
        try:
            value = item()
        except Exception:  # noqa: BLE001 - a framework raises anything
            return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return None


@attrs.frozen
class PauseConfig:
    """How :meth:`TrainingRun.should_pause` configures the run's pause policy (see
    :meth:`carbonsdk.Run.should_pause`): ``duration`` the expected running time of the whole
    training (timedelta, ``"6h"`` or seconds), ``max_extension`` how much longer it may take
    (timedelta, ``"3h"`` or a fraction of ``duration``), ``forecast`` the intensity ahead
    (None: the provider's forecast or the embedded typical year of the run's region),
    ``margin_s`` seconds kept to spare before the deadline."""

    duration: Any
    max_extension: Any = 1.0
    forecast: IntensitySeries | None = None
    margin_s: float = 60.0

    @classmethod
    def checked(
        cls, duration: Any, max_extension: Any, forecast: IntensitySeries | None, margin_s: float
    ) -> PauseConfig:
        """A configuration whose values were checked now (the run checks them again on its
        first :meth:`~carbonsdk.Run.should_pause`); :class:`ConfigurationError` names the bad
        value."""
        from carbonsdk.schedule.durations import duration_s, extension_s

        total_s = duration_s(duration, name="pause_duration")
        extension_s(max_extension, total_s, name="pause_max_extension")
        if (
            isinstance(margin_s, bool)
            or not isinstance(margin_s, (int, float))
            or not (math.isfinite(margin_s) and margin_s >= 0)
        ):
            raise ConfigurationError(
                f"pause_margin_s={margin_s!r} is not valid: expected a number of seconds >= 0"
            )
        if forecast is not None and not isinstance(forecast, IntensitySeries):
            raise ConfigurationError(
                f"pause_forecast={forecast!r} is not valid: expected None or an IntensitySeries"
            )
        return cls(duration, max_extension, forecast, float(margin_s))


class TrainingRun:
    """One measured training at a time, driven by a framework callback.

    Holds the validated :func:`carbonsdk.measure` options; :meth:`begin` opens a fresh
    :class:`carbonsdk.Run` for each training (every process of a distributed launch opens one,
    :func:`measure` decides which of them measure), :meth:`end` closes it. Epochs and steps are
    marked in the run (``run.mark``); :meth:`live_metrics` gives the ``carbon/*`` values a
    callback logs. Faults of the SDK never reach the training loop: they are logged.

    ``mark_every_n_steps``: None marks a step at each of the framework's logging steps, an
    int N >= 1 every N optimizer steps, 0 never. Step marks stop at :data:`STEP_MARK_BUDGET`
    marks so that epoch marks always fit.
    """

    def __init__(
        self,
        name: str | None,
        *,
        framework: str,
        mark_every_n_steps: int | None,
        pause: PauseConfig | None,
        block_on_pause: bool,
        measure_options: Mapping[str, Any],
    ) -> None:
        unknown = sorted(set(measure_options) - _MEASURE_OPTIONS)
        if unknown:
            raise ConfigurationError(
                f"{unknown[0]}={measure_options[unknown[0]]!r} is not a carbonsdk.measure() "
                f"option: expected some of {sorted(_MEASURE_OPTIONS)}"
            )
        if mark_every_n_steps is not None and (
            isinstance(mark_every_n_steps, bool)
            or not isinstance(mark_every_n_steps, int)
            or mark_every_n_steps < 0
        ):
            raise ConfigurationError(
                f"mark_every_n_steps={mark_every_n_steps!r} is not valid: expected None (at "
                "each logging step), 0 (no step marks) or an int >= 1"
            )
        if not isinstance(block_on_pause, bool):
            raise ConfigurationError(
                f"block_on_pause={block_on_pause!r} is not valid: expected True or False"
            )
        if block_on_pause and pause is None:
            raise ConfigurationError(
                "block_on_pause=True needs pause_duration= (the expected running time of the "
                "whole training, e.g. '6h')"
            )
        self.options: RunOptions = validate_options(name, **measure_options)
        self.framework = framework
        self.mark_every_n_steps = mark_every_n_steps
        self.pause = pause
        self.block_on_pause = block_on_pause
        #: the run of the current (or latest) training, None before the first
        self.run: Run | None = None
        self._open = False
        self._marks = 0
        self._steps_dropped = 0
        self._last_step_marked: int | None = None
        self._pausing = False

    # -- life cycle -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True between :meth:`begin` and :meth:`end`."""
        return self._open

    @property
    def result(self) -> RunResult | None:
        """The latest finished run's result (None while it runs, or if it could not be built)."""
        return None if self.run is None or self._open else self.run.result

    @property
    def logs(self) -> bool:
        """True when this process reports carbon values (not an observer rank)."""
        return self.run is not None and self.run.role != "observer"

    def begin(self, default_name: str | None) -> Run:
        """Open a run for a training (named ``default_name`` unless the callback was given a
        name). A run still open from an earlier training that never reached its end hook (an
        exception inside a trainer without an exception hook) is closed first, as failed."""
        if self._open:
            self.end(
                RuntimeError,
                RuntimeError(
                    "the training ended without reaching its end hook (an exception inside the "
                    "trainer?); closed when the next training began"
                ),
                None,
            )
        options = self.options
        if options.name is None and default_name:
            options = attrs.evolve(options, name=default_name)
        if "framework" not in options.tags:
            options = attrs.evolve(options, tags={**options.tags, "framework": self.framework})
        run = Run(options)
        run.__enter__()
        self.run = run
        self._open = True
        self._marks = 0
        self._steps_dropped = 0
        self._last_step_marked = None
        self._pausing = self.block_on_pause
        atexit.register(self._close_at_exit)
        return run

    def end(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> RunResult | None:
        """Close the open run (status from the exception, as in ``measure()``: none is
        ``"completed"``); returns its result. Does nothing when no run is open."""
        if not self._open or self.run is None:
            return self.result
        self._open = False
        atexit.unregister(self._close_at_exit)
        if self._steps_dropped:
            log.info(
                "carbonsdk: %d step mark(s) were not recorded (step marks stop at %d marks "
                "per run)",
                self._steps_dropped,
                STEP_MARK_BUDGET,
            )
        with guard("closing the run", level=logging.ERROR):  # an SDK fault: never the trainer's
            self.run.__exit__(exc_type, exc, tb)
        return self.run.result

    def _close_at_exit(self) -> None:
        """The process is exiting with the run still open (the trainer raised and had no hook
        to tell): close it with the exception Python reported, else as interrupted."""
        exc = getattr(sys, "last_value", None)
        if isinstance(exc, BaseException):
            self.end(type(exc), exc, exc.__traceback__)
        else:
            self.end(Terminated, Terminated(), None)

    # -- marks --------------------------------------------------------------------------------

    def mark(self, label: str, **data: Any) -> None:
        """Mark ``label`` in the open run with JSON-scalar ``data`` (others are dropped)."""
        if not self._open or self.run is None:
            return
        clean = {k: v for k, v in ((k, _scalar(v)) for k, v in data.items()) if v is not None}
        with guard("a framework mark", level=logging.DEBUG):
            if self.run.mark(label, **clean) is not None:
                self._marks += 1

    def mark_step(self, step: int, **data: Any) -> None:
        """Mark optimizer step ``step`` (once per step; dropped past the step-mark budget)."""
        if not self._open or step == self._last_step_marked:
            return
        self._last_step_marked = step
        if self._marks >= STEP_MARK_BUDGET:
            self._steps_dropped += 1
            return
        self.mark("step", step=step, **data)

    def step_due(self, step: int) -> bool:
        """True when ``mark_every_n_steps`` = N >= 1 asks for a mark at optimizer step
        ``step``."""
        n = self.mark_every_n_steps
        return n is not None and n >= 1 and step > 0 and step % n == 0

    # -- metrics ------------------------------------------------------------------------------

    def live_metrics(self) -> dict[str, float]:
        """``carbon/energy_kwh`` (kWh so far) and ``carbon/emissions_g`` (g CO2eq so far, see
        :attr:`carbonsdk.Run.emissions_g`); empty when no run is open or on observer ranks."""
        if not self._open or self.run is None or not self.logs:
            return {}
        metrics: dict[str, float] = {}
        with guard("live metrics", level=logging.DEBUG):
            metrics = {ENERGY_KEY: self.run.energy_kwh, EMISSIONS_KEY: self.run.emissions_g}
        return metrics

    def final_metrics(self) -> dict[str, float]:
        """The finished run's exact figures, as every tracker sink logs them
        (:func:`carbonsdk.integrations.sinks.summary_metrics`: ``carbon/energy_kwh``,
        ``carbon/emissions_g``, ``carbon/intensity_g_per_kwh``, ``carbon/duration_s``,
        ``carbon/energy_<component>_kwh``); empty when there is none or on observer ranks."""
        result = self.result
        if result is None or not self.logs:
            return {}
        return summary_metrics(result)

    def add_flags(self, flags: tuple[str, ...]) -> None:
        """Add ``flags`` to the latest finished run's result (a tracker the callback sent it
        to failed: ``sink-failed:<name>``). The ledger keeps the record it already has."""
        run = self.run
        if not flags or run is None or self._open or run.result is None:
            return
        run.result = attrs.evolve(
            run.result, flags=tuple(dict.fromkeys((*run.result.flags, *flags)))
        )

    # -- pausing ------------------------------------------------------------------------------

    def should_pause(self, *, block: bool = False) -> bool:
        """The open run's carbon-aware pause decision (:meth:`carbonsdk.Run.should_pause`)
        with the configured :class:`PauseConfig`; ``block=True`` sleeps until the policy says
        run and returns False. Raises :class:`ConfigurationError` when no ``pause_duration``
        was configured, :class:`RuntimeError` outside a training."""
        if self.pause is None:
            raise ConfigurationError(
                "should_pause() needs pause_duration= in the callback's constructor: the "
                "expected running time of the whole training, e.g. pause_duration='6h'"
            )
        if not self._open or self.run is None:
            raise RuntimeError("should_pause() is only meaningful while a training runs")
        p = self.pause
        return self.run.should_pause(
            duration=p.duration,
            max_extension=p.max_extension,
            forecast=p.forecast,
            margin_s=p.margin_s,
            block=block,
        )

    def pause_if_needed(self) -> None:
        """With ``block_on_pause``: wait inside the training loop while the policy pauses.
        Faults of the SDK (no forecast for the region, say) are logged once and stop the
        waiting; they never fail the training."""
        if not (self._pausing and self._open):
            return
        try:
            self.should_pause(block=True)
        except Exception as exc:  # noqa: BLE001 - a framework raises anything
            log.warning("carbonsdk: carbon-aware pausing is off for this training: %s", exc)
            self._pausing = False


class CallbackHandle:
    """What both framework callbacks expose around their :class:`TrainingRun` (``_training``):
    the current :attr:`run`, the latest :attr:`result`, :meth:`should_pause`, :meth:`close`, and
    use as a context manager (``with callback:`` closes a run left open by an exception)."""

    _training: TrainingRun

    @staticmethod
    def _training_run(
        name: str | None,
        framework: str,
        *,
        mark_every_n_steps: int | None,
        pause_duration: Any,
        pause_max_extension: Any,
        pause_forecast: IntensitySeries | None,
        pause_margin_s: float,
        block_on_pause: bool,
        measure_options: Mapping[str, Any],
    ) -> TrainingRun:
        """The validated :class:`TrainingRun` of a callback's constructor arguments."""
        pause = (
            None
            if pause_duration is None
            else PauseConfig.checked(
                pause_duration, pause_max_extension, pause_forecast, pause_margin_s
            )
        )
        return TrainingRun(
            name,
            framework=framework,
            mark_every_n_steps=mark_every_n_steps,
            pause=pause,
            block_on_pause=block_on_pause,
            measure_options=measure_options,
        )

    @property
    def run(self) -> Run | None:
        """The :class:`carbonsdk.Run` of the current (or latest) training; None before."""
        return self._training.run

    @property
    def result(self) -> RunResult | None:
        """The latest finished training's :class:`RunResult` (None while one runs)."""
        return self._training.result

    def should_pause(self, *, block: bool = False) -> bool:
        """Carbon-aware pause decision for the running training (see
        :meth:`carbonsdk.Run.should_pause`), with the ``pause_*`` configuration given to the
        callback's constructor. Call it from the training loop (another callback, a hook of
        the model) and act on it; ``block=True`` sleeps until the policy says run."""
        return self._training.should_pause(block=block)

    def close(self, exc: BaseException | None = None) -> RunResult | None:
        """Close a run left open (status ``"failed"`` for an exception, ``"completed"`` for
        None); returns its result. No-op when none is open."""
        if exc is None:
            return self._training.end()
        return self._training.end(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._training.end(exc_type, exc, tb)


__all__ = [
    "EMISSIONS_KEY",
    "ENERGY_KEY",
    "STEP_MARK_BUDGET",
    "CallbackHandle",
    "PauseConfig",
    "TrainingRun",
    "framework_missing",
    "require_framework",
]
