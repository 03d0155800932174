"""TensorBoard: carbonsdk runs as scalars and a text table in a TensorBoard log directory.

::

    from carbonsdk.integrations import tensorboard as carbon_tb

    carbon_tb.autolog("runs/bert")      # or a SummaryWriter you already use
    with carbonsdk.measure("train", region="DE"):
        train()

TensorBoard has no "active run": :func:`autolog` takes the log directory (event files are
written with the ``tensorboard`` package's own ``EventFileWriter``, no torch or TensorFlow
needed) or a ``SummaryWriter``-like object (``torch.utils.tensorboard.SummaryWriter``,
``tensorboardX``, Lightning's ``TensorBoardLogger.experiment``: anything with ``add_scalar``,
``add_text`` and ``flush``). For each run (see :mod:`carbonsdk.integrations.sinks` for the
names):

* scalars ``carbon/energy_kwh``, ``carbon/emissions_g``, ``carbon/intensity_g_per_kwh`` at
  each step of the run's marks (cumulative, with the mark's time as wall time), then the
  run's final ``carbon/energy_kwh``, ``carbon/emissions_g``, ``carbon/intensity_g_per_kwh``,
  ``carbon/duration_s`` and ``carbon/energy_<component>_kwh`` at its last step;
* text ``carbon/run``: a Markdown table of ``carbon.zone``, ``carbon.intensity_basis``,
  ``carbon.flags``, ``carbon.estimated``, ... (the TEXT tab).

A failure (a directory that cannot be written) never fails the training: the run gets the
flag ``sink-failed:tensorboard`` and it is logged once.

Importing this module imports ``tensorboard``; without it, it raises :class:`ImportError`
saying how to install it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.integrations import framework_missing
from carbonsdk.integrations.sinks import (
    SentOnce,
    history_points,
    last_step,
    run_tags,
    should_log,
    step_metrics,
    summary_metrics,
    validate_bool,
)
from carbonsdk.model.result import RunResult
from carbonsdk.sinks import SinkHandle, register, unregister

try:
    from tensorboard.compat.proto import (
        event_pb2,
        summary_pb2,
        tensor_pb2,
        tensor_shape_pb2,
        types_pb2,
    )
    from tensorboard.summary.writer.event_file_writer import (
        EventFileWriter,
    )
except ImportError as _exc:
    raise framework_missing(
        "tensorboard", "pip install tensorboard", "carbonsdk.integrations.tensorboard", _exc
    ) from _exc

log = logging.getLogger("carbonsdk")

#: the sink's name, in the ``sink-failed:tensorboard`` flag
SINK_NAME = "tensorboard"
#: tag of the run's text table
TEXT_TAG = "carbon/run"


class CarbonWriter:
    """A minimal ``SummaryWriter``: one TensorBoard event file in ``log_dir`` (created when
    missing), written with ``tensorboard``'s ``EventFileWriter``. ``add_scalar`` and
    ``add_text`` take TensorBoard's usual ``global_step`` (int) and ``walltime`` (UTC epoch
    seconds, default now); :meth:`flush` writes pending events, :meth:`close` ends the file.
    Raises :class:`OSError` when the directory cannot be created."""

    def __init__(
        self, log_dir: str | os.PathLike[str], *, filename_suffix: str = ".carbonsdk"
    ) -> None:
        self.log_dir = str(Path(log_dir).expanduser())
        self._writer = EventFileWriter(self.log_dir, filename_suffix=filename_suffix)
        self._lock = threading.Lock()
        self._closed = False

    def _add(self, value: Any, global_step: int | None, walltime: float | None) -> None:
        event = event_pb2.Event(
            wall_time=time.time() if walltime is None else float(walltime),
            step=int(global_step or 0),
            summary=summary_pb2.Summary(value=[value]),
        )
        with self._lock:
            if self._closed:
                raise ValueError(f"the TensorBoard writer of {self.log_dir} is closed")
            self._writer.add_event(event)

    def add_scalar(
        self,
        tag: str,
        scalar_value: float,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Add one scalar ``scalar_value`` under ``tag`` at ``global_step``."""
        self._add(
            summary_pb2.Summary.Value(tag=tag, simple_value=float(scalar_value)),
            global_step,
            walltime,
        )

    def add_text(
        self,
        tag: str,
        text_string: str,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Add Markdown text ``text_string`` under ``tag`` (TensorBoard's text plugin)."""
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
        )
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            string_val=[text_string.encode("utf-8")],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]
            ),
        )
        self._add(
            summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor),
            global_step,
            walltime,
        )

    def flush(self) -> None:
        """Write the pending events to the file."""
        with self._lock:
            if not self._closed:
                self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (later writes raise :class:`ValueError`)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()

    def __enter__(self) -> CarbonWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _markdown(tags: dict[str, str]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ") or "-"

    rows = [f"| {cell(k)} | {cell(v)} |" for k, v in tags.items()]
    return "\n".join(["| tag | value |", "|---|---|", *rows])


def _target_of(writer: Any) -> str:
    for attr in ("log_dir", "logdir"):
        value = getattr(writer, attr, None)
        if isinstance(value, (str, os.PathLike)):
            return f"tensorboard:{Path(value).resolve()}"
    get = getattr(writer, "get_logdir", None)
    if callable(get):
        try:
            return f"tensorboard:{Path(get()).resolve()}"
        except Exception:  # noqa: BLE001 - a tracker raises anything
            pass
    return f"tensorboard:{id(writer)}"


_sent = SentOnce()
_handle: SinkHandle | None = None


def log_result(result: RunResult, writer: Any, *, steps: bool = True) -> bool:
    """Write ``result`` with ``writer`` (a :class:`CarbonWriter` or any ``SummaryWriter``-like
    object): the step-wise scalars (``steps``), the final scalars and the ``carbon/run`` text
    table (see the module docstring), then flush. Returns False when this result was
    already written to that log directory; raises what the writer raises."""
    target = _target_of(writer)
    if not _sent.first(target, result.run_id):
        return False
    try:
        if steps:
            for point in history_points(result):
                walltime = point.at.timestamp()
                for key, value in step_metrics(point).items():
                    writer.add_scalar(key, value, global_step=point.step, walltime=walltime)
        step, walltime = last_step(result), result.ended_at.timestamp()
        for key, value in summary_metrics(result).items():
            writer.add_scalar(key, value, global_step=step, walltime=walltime)
        writer.add_text(TEXT_TAG, _markdown(run_tags(result)), global_step=step, walltime=walltime)
        writer.flush()
    except BaseException:
        _sent.forget(target, result.run_id)
        raise
    return True


class TensorBoardSink:
    """The sink :func:`autolog` registers: writes each finished run (top-level runs, and
    nested ones with ``nested=True``; never an observer rank's record) to ``writer``, or to a
    :class:`CarbonWriter` on ``log_dir`` opened at the first run (and closed at exit)."""

    name = SINK_NAME

    def __init__(self, target: Any, *, steps: bool = True, nested: bool = False) -> None:
        self.steps = validate_bool("steps", steps)
        self.nested = validate_bool("nested", nested)
        self.log_dir: str | None = None
        self._writer: Any = None
        if isinstance(target, (str, os.PathLike)):
            if not str(target).strip():
                raise ConfigurationError(
                    "log_dir='' is not valid: expected a directory path or a SummaryWriter"
                )
            self.log_dir = str(Path(target).expanduser())
            if Path(self.log_dir).is_file():
                raise ConfigurationError(
                    f"log_dir={str(target)!r} is a file: expected a directory (created when "
                    "missing) or a SummaryWriter"
                )
        elif all(callable(getattr(target, m, None)) for m in ("add_scalar", "add_text", "flush")):
            self._writer = target
        else:
            raise ConfigurationError(
                f"target={target!r} is not valid: expected a log directory (str or path) or "
                "a SummaryWriter-like object (add_scalar, add_text, flush)"
            )
        self._lock = threading.Lock()

    @property
    def writer(self) -> Any:
        """The writer in use (None until the first run when given a directory)."""
        return self._writer

    def _ensure_writer(self) -> Any:
        with self._lock:
            if self._writer is None:
                assert self.log_dir is not None
                self._writer = CarbonWriter(self.log_dir)
                atexit.register(self._writer.close)
            return self._writer

    def close(self) -> None:
        """Close the :class:`CarbonWriter` this sink opened (a writer it was given is the
        caller's to close)."""
        with self._lock:
            if isinstance(self._writer, CarbonWriter) and self.log_dir is not None:
                atexit.unregister(self._writer.close)
                self._writer.close()
                self._writer = None

    def __call__(self, result: RunResult) -> None:
        """Write ``result``."""
        if should_log(result, nested=self.nested):
            log_result(result, self._ensure_writer(), steps=self.steps)


def autolog(
    target: Any = None, *, steps: bool = True, nested: bool = False, disable: bool = False
) -> SinkHandle | None:
    """From now on, write every carbonsdk run that ends to TensorBoard: ``target`` a log
    directory (str or path; created when missing) or a ``SummaryWriter``-like object (see the
    module docstring); ``steps`` the step-wise scalars at the run's marks, ``nested`` also runs
    started inside another carbonsdk run. Calling it again replaces the earlier target (a
    directory's event file is closed); ``disable=True`` stops it. Returns the sink's
    :class:`carbonsdk.sinks.SinkHandle` (None with ``disable``). Raises
    :class:`carbonsdk.ConfigurationError` for a bad target or option."""
    global _handle
    validate_bool("disable", disable)
    if not disable and target is None:
        raise ConfigurationError(
            "target=None is not valid: expected a log directory (e.g. 'runs/carbon') or a "
            "SummaryWriter-like object (TensorBoard has no active run to log into)"
        )
    sink = None if disable else TensorBoardSink(target, steps=steps, nested=nested)
    if _handle is not None:
        old = _handle.sink
        unregister(_handle)
        _handle = None
        if isinstance(old, TensorBoardSink):
            old.close()
    if sink is None:
        return None
    _handle = register(sink, name=SINK_NAME)
    return _handle


__all__ = ["SINK_NAME", "TEXT_TAG", "CarbonWriter", "TensorBoardSink", "autolog", "log_result"]
