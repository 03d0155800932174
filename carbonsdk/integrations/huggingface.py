"""Hugging Face ``transformers.Trainer`` integration: :class:`CarbonCallback`.

::

    from carbonsdk.integrations.huggingface import CarbonCallback

    carbon = CarbonCallback(region="aws:us-west-2")
    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[carbon])
    trainer.train()
    carbon.result.emissions_g

Each ``trainer.train()`` is one measured run: opened at ``on_train_begin``, closed at
``on_train_end``. Epochs and steps are marked in the run, and every log event carries
``carbon/energy_kwh`` and ``carbon/emissions_g`` to the trainer's reporting integrations
(TensorBoard, W&B, MLflow, ...) and ``trainer.state.log_history``. When training ends, the
trackers in ``report_to`` (MLflow, W&B, TensorBoard) also get what their ``autolog()`` sinks
log: final figures, ``carbon.*`` tags and the HTML report.

Importing this module imports ``transformers``; without it, it raises :class:`ImportError`
saying how to install it.
"""

from __future__ import annotations

import inspect
import logging
import math
import sys
import weakref
from typing import Any

from carbonsdk.integrations import ENERGY_KEY, CallbackHandle, framework_missing
from carbonsdk.integrations.sinks import send_to_tracker
from carbonsdk.model.intensity import IntensitySeries

try:
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
    from transformers.trainer_callback import CallbackHandler
except ImportError as _exc:
    raise framework_missing(
        "transformers",
        "pip install transformers accelerate",
        "carbonsdk.integrations.huggingface",
        _exc,
    ) from _exc

log = logging.getLogger("carbonsdk")

#: how many frames up ``CallbackHandler.call_event`` may be from a hook of the callback
_HANDLER_SEARCH_DEPTH = 4


class CarbonCallback(CallbackHandle, TrainerCallback):  # type: ignore[misc]  # Any without transformers
    """Measures each ``Trainer.train()`` with :func:`carbonsdk.measure` and logs its energy and
    emissions.

    ``name``: the run's name (default: ``args.run_name``, else the model's class name).
    ``mark_every_n_steps``: None marks a ``"step"`` at each logging step (``logging_steps``,
    with the loss), N >= 1 every N optimizer steps, 0 never; epochs are always marked
    (``"epoch_start"``/``"epoch_end"``, 0-based ``epoch``), evaluations as ``"evaluate"``.
    ``pause_duration`` (the expected running time of the whole training: ``"6h"``, a timedelta
    or seconds), ``pause_max_extension`` (timedelta, ``"3h"`` or a fraction of the duration),
    ``pause_forecast`` (an :class:`IntensitySeries`, default the region's forecast or typical
    year) and ``pause_margin_s`` (seconds) configure :meth:`should_pause`; ``block_on_pause=True``
    also waits inside the loop at each step while the policy pauses (off by default). Every
    other keyword is a :func:`carbonsdk.measure` option (``region``, ``ledger``, ``report``,
    ``interval_s``, ``gather``, ``per_rank``, ...), checked here.

    Logged at each log event (kWh and g CO2eq so far, PUE included; emissions from
    :attr:`carbonsdk.Run.emissions_g`): ``carbon/energy_kwh``, ``carbon/emissions_g``. When
    training ends, the exact figures of the run replace them in the last ``log_history``
    entry (the training summary). The callback places itself first among the trainer's
    callbacks, so that the reporting integrations (registered before user callbacks) see the
    values.

    The trainer has no exception hook: a training that raises leaves the run open until the
    next ``train()`` (which closes it as ``"failed"``), :meth:`close`, the end of a ``with
    callback:`` block (status from the exception), or the process's exit (status from the
    uncaught exception, else ``"interrupted"``).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        mark_every_n_steps: int | None = None,
        pause_duration: Any = None,
        pause_max_extension: Any = 1.0,
        pause_forecast: IntensitySeries | None = None,
        pause_margin_s: float = 60.0,
        block_on_pause: bool = False,
        **measure_options: Any,
    ) -> None:
        self._training = self._training_run(
            name,
            "transformers",
            mark_every_n_steps=mark_every_n_steps,
            pause_duration=pause_duration,
            pause_max_extension=pause_max_extension,
            pause_forecast=pause_forecast,
            pause_margin_s=pause_margin_s,
            block_on_pause=block_on_pause,
            measure_options=measure_options,
        )
        self._epoch = 0
        self._placed_in: int | None = None
        self._handler: weakref.ref[Any] | None = None
        self._warned_order = False

    # -- ordering -----------------------------------------------------------------------------

    def _lead_callbacks(self) -> None:
        """Move this callback ahead of the others in the trainer's ``CallbackHandler``: the
        reporting integrations are registered before user callbacks, and they must see the
        ``carbon/*`` values this callback adds to ``logs``. Moving the running callback to the
        front of the list being iterated is safe: the entries after it keep their index."""
        frame = inspect.currentframe()
        try:
            for _ in range(_HANDLER_SEARCH_DEPTH):
                frame = frame.f_back if frame is not None else None
                if frame is None:
                    break
                handler = frame.f_locals.get("self")
                if isinstance(handler, CallbackHandler):
                    if self._placed_in == id(handler):
                        return
                    callbacks = handler.callbacks
                    index = next((i for i, cb in enumerate(callbacks) if cb is self), None)
                    if index is None:
                        break
                    if index > 0:
                        del callbacks[index]
                        callbacks.insert(0, self)
                    self._placed_in = id(handler)
                    self._handler = weakref.ref(handler)
                    return
        finally:
            del frame
        if self._placed_in is None and not self._warned_order:
            self._warned_order = True
            log.warning(
                "carbonsdk: CarbonCallback could not reach the trainer's callback list; "
                "reporting callbacks registered before it will not see carbon/* values "
                "(they are still in trainer.state.log_history)"
            )

    # -- hooks --------------------------------------------------------------------------------

    def on_init_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Trainer built: move ahead of the reporting callbacks."""
        self._lead_callbacks()

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Open the run (every process of a distributed launch opens one)."""
        self._lead_callbacks()
        model = kwargs.get("model")
        default = args.run_name or (type(model).__name__ if model is not None else None)
        self._epoch = 0
        self._training.begin(default)

    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Mark ``"epoch_start"`` (0-based ``epoch``, ``step``)."""
        self._epoch = math.floor((state.epoch or 0.0) + 1e-6)
        self._training.mark("epoch_start", epoch=self._epoch, step=state.global_step)

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Mark ``"epoch_end"``."""
        self._training.mark("epoch_end", epoch=self._epoch, step=state.global_step)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Step marks every ``mark_every_n_steps``; wait here with ``block_on_pause``."""
        if self._training.step_due(state.global_step):
            self._training.mark_step(state.global_step, epoch=state.epoch)
        self._training.pause_if_needed()

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Mark ``"evaluate"``."""
        self._training.mark("evaluate", step=state.global_step, epoch=state.epoch)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Add ``carbon/*`` to ``logs`` (seen by the callbacks after this one) and to the
        matching ``state.log_history`` entry (appended before callbacks run); mark the step
        of a training log."""
        if logs is None:
            return
        if self._training.mark_every_n_steps is None and "loss" in logs:
            self._training.mark_step(state.global_step, epoch=state.epoch, loss=logs["loss"])
        metrics = self._training.live_metrics()
        if not metrics:
            return
        entry = state.log_history[-1] if state.log_history else None
        if (
            entry is not None
            and entry.get("step") == state.global_step
            and all(k in entry for k in logs if k not in metrics)
        ):
            entry.update(metrics)
        logs.update(metrics)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Close the run (``"completed"``); write its exact figures into the training
        summary entry of ``state.log_history``; send the run to the trackers the trainer
        reports to (``report_to``: ``"mlflow"``, ``"wandb"``, ``"tensorboard"``), as their
        ``autolog()`` sinks do. A tracker that fails adds ``sink-failed:<tracker>`` to the
        result's flags."""
        self._training.end()
        final = self._training.final_metrics()
        entry = state.log_history[-1] if state.log_history else None
        if final and entry is not None and "train_runtime" in entry and ENERGY_KEY in entry:
            entry.update(final)
        result = self._training.result
        if final and result is not None:
            self._training.add_flags(self._send_to_trackers(args, result))

    def _send_to_trackers(self, args: TrainingArguments, result: Any) -> tuple[str, ...]:
        """The run to each tracker of ``args.report_to`` that has a run open now: the
        active MLflow run, ``wandb.run``, the ``TensorBoardCallback``'s writer (still open:
        this callback runs first). Their own callbacks logged the live values: no steps."""
        report_to = getattr(args, "report_to", None) or []
        if isinstance(report_to, str):
            report_to = [report_to]
        wanted = set(report_to)
        if "all" in wanted:
            wanted = {"mlflow", "wandb", "tensorboard"}
        flags: list[str] = []
        targets: list[tuple[str, Any]] = []
        if "mlflow" in wanted and "mlflow" in sys.modules:
            targets.append(("mlflow", None))  # None: the active run, if any
        if "wandb" in wanted and "wandb" in sys.modules:
            run = getattr(sys.modules["wandb"], "run", None)
            if run is not None:
                targets.append(("wandb", run))
        if "tensorboard" in wanted:
            handler = self._handler() if self._handler is not None else None
            for cb in getattr(handler, "callbacks", ()):
                writer = getattr(cb, "tb_writer", None)
                if type(cb).__name__ == "TensorBoardCallback" and writer is not None:
                    targets.append(("tensorboard", writer))
        for tracker, target in targets:
            try:
                flag = send_to_tracker(tracker, result, target)
            except Exception:  # its package is missing, or something else: never fail
                log.debug("carbonsdk: could not send the run to %s", tracker, exc_info=True)
                continue
            if flag is not None:
                flags.append(flag)
        return tuple(flags)


__all__ = ["CarbonCallback"]
