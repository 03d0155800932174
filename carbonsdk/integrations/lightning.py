"""PyTorch Lightning integration: :class:`CarbonCallback`.

::

    from carbonsdk.integrations.lightning import CarbonCallback

    carbon = CarbonCallback(region="gcp:europe-west4")
    trainer = lightning.pytorch.Trainer(max_epochs=10, callbacks=[carbon])
    trainer.fit(model, datamodule=dm)
    carbon.result.emissions_g

Each ``trainer.fit()`` is one measured run: opened at ``on_fit_start``, closed at ``on_fit_end``
(``"completed"``) or ``on_exception`` (``"failed"``; ``"interrupted"`` for Ctrl-C). Epochs and
steps are marked in the run and ``carbon/energy_kwh`` / ``carbon/emissions_g`` are logged with
``LightningModule.log`` so that they reach every logger of the trainer and
``trainer.callback_metrics``. At the end of the fit, an ``MLFlowLogger``, ``WandbLogger`` or
``TensorBoardLogger`` gets what the tracker sinks log (final figures, ``carbon.*`` tags, the
HTML report; see :mod:`carbonsdk.integrations.mlflow` & co.), any other logger the final
figures.

Built on ``lightning.pytorch`` when it is installed, else on ``pytorch_lightning``; without
either, importing this module raises :class:`ImportError` saying how to install it.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from carbonsdk.integrations import CallbackHandle, framework_missing
from carbonsdk.integrations.sinks import send_to_tracker
from carbonsdk.model.intensity import IntensitySeries

try:
    import lightning.pytorch as pl
except ImportError as _exc:
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError:
        raise framework_missing(
            "lightning", "pip install lightning", "carbonsdk.integrations.lightning", _exc
        ) from _exc

log = logging.getLogger("carbonsdk")

# The carbon/* values are each host's own figures, logged only by the ranks that measure: they
# must not be synced (averaged) across ranks, so Lightning's advice to pass sync_dist=True for
# epoch-level values does not apply to them.
warnings.filterwarnings("ignore", message=r"It is recommended to use `self\.log\('carbon/")

#: the package the callback is built on: ``"lightning"`` or ``"pytorch_lightning"``
FRAMEWORK = "lightning" if pl.__name__.startswith("lightning") else "pytorch_lightning"


def _tracker_of(logger: Any) -> tuple[str | None, Any]:
    """``(tracker, target)`` for :func:`send_to_tracker` when ``logger`` is Lightning's MLflow,
    W&B or TensorBoard logger (by class name: no tracker is imported here), else
    ``(None, None)``. Reaching ``logger.experiment`` may start the tracker's run."""
    kind = type(logger).__name__
    if kind == "MLFlowLogger":
        return "mlflow", (logger.experiment, logger.run_id)
    if kind == "WandbLogger":
        return "wandb", logger.experiment
    if kind == "TensorBoardLogger":
        return "tensorboard", logger.experiment
    return None, None


def _loss_of(outputs: Any) -> Any:
    if isinstance(outputs, dict):
        return outputs.get("loss")
    return outputs


class CarbonCallback(CallbackHandle, pl.Callback):  # type: ignore[misc]  # Any without lightning
    """Measures each ``Trainer.fit()`` with :func:`carbonsdk.measure` and logs its energy and
    emissions.

    ``name``: the run's name (default: the LightningModule's class name).
    ``mark_every_n_steps``: None marks a ``"step"`` every ``trainer.log_every_n_steps``
    optimizer steps (with the loss), N >= 1 every N steps, 0 never; epochs are always marked
    (``"epoch_start"``/``"epoch_end"``, 0-based ``epoch`` as ``trainer.current_epoch``).
    ``pause_duration`` (the expected running time of the whole fit: ``"6h"``, a timedelta or
    seconds), ``pause_max_extension`` (timedelta, ``"3h"`` or a fraction of the duration),
    ``pause_forecast`` (an :class:`IntensitySeries`, default the region's forecast or typical
    year) and ``pause_margin_s`` (seconds) configure :meth:`should_pause`; ``block_on_pause=True``
    also waits after each training batch while the policy pauses (off by default). Every other
    keyword is a :func:`carbonsdk.measure` option (``region``, ``ledger``, ``report``,
    ``interval_s``, ``gather``, ``per_rank``, ...), checked here.

    Logged (kWh and g CO2eq so far, PUE included; emissions from
    :attr:`carbonsdk.Run.emissions_g`):
    ``carbon/energy_kwh`` and ``carbon/emissions_g`` after each training batch (``on_step``,
    written at the trainer's ``log_every_n_steps``) and at each epoch end (``on_epoch``); after
    the fit, the run's exact figures go to every logger at the last step.
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
        super().__init__()
        self._training = self._training_run(
            name,
            FRAMEWORK,
            mark_every_n_steps=mark_every_n_steps,
            pause_duration=pause_duration,
            pause_max_extension=pause_max_extension,
            pause_forecast=pause_forecast,
            pause_margin_s=pause_margin_s,
            block_on_pause=block_on_pause,
            measure_options=measure_options,
        )

    # -- hooks --------------------------------------------------------------------------------

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *, on_step: bool) -> None:
        metrics = self._training.live_metrics()
        to_logger = trainer.logger is not None  # else Lightning warns on every call
        for key, value in metrics.items():
            try:
                pl_module.log(
                    key,
                    value,
                    on_step=on_step,
                    on_epoch=not on_step,
                    prog_bar=False,
                    logger=to_logger,
                    batch_size=1,
                )
            except Exception:  # a logging quirk must never fail the training
                log.debug("carbonsdk: could not log %s", key, exc_info=True)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Open the run (every process of a distributed launch opens one)."""
        self._training.begin(type(pl_module).__name__)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Mark ``"epoch_start"``."""
        self._training.mark("epoch_start", epoch=trainer.current_epoch, step=trainer.global_step)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Mark steps, log ``carbon/*`` (on step), wait with ``block_on_pause``."""
        step = trainer.global_step
        every = self._training.mark_every_n_steps
        if every is None:
            every = max(1, int(getattr(trainer, "log_every_n_steps", 50) or 50))
        if step > 0 and every > 0 and step % every == 0:
            self._training.mark_step(step, epoch=trainer.current_epoch, loss=_loss_of(outputs))
        self._log(trainer, pl_module, on_step=True)
        self._training.pause_if_needed()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Mark ``"epoch_end"``; log ``carbon/*`` (on epoch)."""
        self._training.mark("epoch_end", epoch=trainer.current_epoch, step=trainer.global_step)
        self._log(trainer, pl_module, on_step=False)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Close the run (``"completed"``) and send it to every logger (still open here:
        Lightning finalizes them after this hook): an ``MLFlowLogger``, ``WandbLogger`` or
        ``TensorBoardLogger`` gets what the tracker sinks log (final figures, tags, the
        report: :mod:`carbonsdk.integrations.mlflow` & co.), any other logger the final
        figures (:func:`carbonsdk.integrations.sinks.summary_metrics`). A tracker that fails
        adds ``sink-failed:<tracker>`` to the result's flags."""
        self._training.end()
        final = self._training.final_metrics()
        result = self._training.result
        if not final or result is None:
            return
        flags: list[str] = []
        for logger in trainer.loggers:
            tracker, target = _tracker_of(logger)
            if tracker is not None:
                try:
                    flag = send_to_tracker(tracker, result, target)
                    if flag is not None:
                        flags.append(flag)
                    continue
                except ImportError:  # the tracker's package is missing: plain metrics
                    pass
                except Exception:
                    log.debug("carbonsdk: could not reach %r", logger, exc_info=True)
            try:
                logger.log_metrics(final, step=trainer.global_step)
                logger.save()
            except Exception:
                log.debug("carbonsdk: could not log the final figures to %r", logger, exc_info=True)
        self._training.add_flags(tuple(flags))

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Close the run: ``"failed"`` (``"interrupted"`` for Ctrl-C / SIGTERM)."""
        self._training.end(type(exception), exception, exception.__traceback__)


__all__ = ["FRAMEWORK", "CarbonCallback"]
