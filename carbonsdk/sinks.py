"""Where finished runs go besides the ledger: a registry of *sinks* (experiment trackers).

A sink is a callable taking the finished :class:`carbonsdk.RunResult`. It may return None or an
iterable of extra flag strings for the result; raising is its way to say it failed.
:func:`register` adds one and returns a :class:`SinkHandle`; :func:`unregister` (or
``handle.unregister()``, or leaving ``with handle:``) removes it. At the end of every run the
SDK calls :func:`emit`, which hands the result to each registered sink in registration order
and returns the flags to add to the result: ``sink-failed:<name>`` for each sink that raised.
A sink's failure is logged as a warning the first time per sink name in the process (later
ones at debug level) and is never raised into the user's program.

The trackers' ``autolog()`` functions (:mod:`carbonsdk.integrations.mlflow`,
:mod:`carbonsdk.integrations.wandb`, :mod:`carbonsdk.integrations.tensorboard`) register their
sinks here. This module imports nothing outside the standard library (and, for type checking
only, :mod:`carbonsdk.model.result`), so the run's end can always call it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from carbonsdk.exceptions import ConfigurationError

if TYPE_CHECKING:
    from carbonsdk.model.result import RunResult

log = logging.getLogger("carbonsdk")

#: what a sink is: called with the finished run, returns None or extra flags
Sink = Callable[["RunResult"], "Iterable[str] | None"]

#: the flag :func:`emit` returns for a sink that raised: ``sink-failed:<name>``
FAILED_FLAG_PREFIX = "sink-failed:"

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class SinkHandle:
    """A registered sink: its ``name`` (used in the ``sink-failed:<name>`` flag) and the
    ``sink`` callable. :meth:`unregister` removes it; ``with handle:`` removes it on exit."""

    __slots__ = ("name", "sink")

    def __init__(self, name: str, sink: Sink) -> None:
        self.name = name
        self.sink = sink

    @property
    def registered(self) -> bool:
        """True while the sink is in the registry."""
        with _lock:
            return any(h is self for h in _handles)

    def unregister(self) -> bool:
        """Remove the sink (see :func:`unregister`); False when it was not registered."""
        return unregister(self)

    def __enter__(self) -> SinkHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unregister()

    def __repr__(self) -> str:
        state = "registered" if self.registered else "unregistered"
        return f"<SinkHandle {self.name!r} {state}>"


_lock = threading.Lock()
_handles: list[SinkHandle] = []
_warned: set[str] = set()
_emitting = threading.local()


def _default_name(sink: Sink) -> str:
    name = getattr(sink, "name", None)
    if not isinstance(name, str):
        name = getattr(sink, "__name__", None) or type(sink).__name__
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(name))[:64]
    return cleaned or "sink"


def register(sink: Sink, *, name: str | None = None) -> SinkHandle:
    """Add ``sink`` (a callable taking a :class:`carbonsdk.RunResult`) to the registry; it is
    called at the end of every run from now on. ``name`` (default: the sink's ``name``
    attribute, else its ``__name__``) appears in the ``sink-failed:<name>`` flag: 1-64 letters,
    digits, ``_``, ``.`` or ``-``. Registering a sink that is already registered returns its
    existing handle. Raises :class:`carbonsdk.ConfigurationError` when ``sink`` is not
    callable or ``name`` is not valid."""
    if not callable(sink):
        raise ConfigurationError(
            f"sink={sink!r} is not valid: expected a callable taking a carbonsdk.RunResult"
        )
    if name is None:
        name = _default_name(sink)
    elif not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigurationError(
            f"name={name!r} is not valid: expected 1-64 letters, digits, '_', '.' or '-'"
        )
    with _lock:
        for handle in _handles:
            if handle.sink is sink:
                return handle
        handle = SinkHandle(name, sink)
        _handles.append(handle)
        return handle


def unregister(handle: SinkHandle) -> bool:
    """Remove the sink of ``handle`` from the registry; returns False when it was not
    registered (already removed). Raises :class:`carbonsdk.ConfigurationError` when
    ``handle`` is not a :class:`SinkHandle`."""
    if not isinstance(handle, SinkHandle):
        raise ConfigurationError(
            f"handle={handle!r} is not valid: expected the SinkHandle that register() returned"
        )
    with _lock:
        for i, h in enumerate(_handles):
            if h is handle:
                del _handles[i]
                return True
    return False


def registered() -> tuple[SinkHandle, ...]:
    """The registered sinks, in the order :func:`emit` calls them."""
    with _lock:
        return tuple(_handles)


def failure_flag(name: str, exc: BaseException) -> str:
    """Record that the sink (or tracker) ``name`` failed with ``exc``: logged as a warning the
    first time per ``name`` in the process, at debug level after that; returns the flag for the
    run, ``sink-failed:<name>``. For code that sends a run to a tracker outside :func:`emit`
    (the framework callbacks)."""
    with _lock:
        first = name not in _warned
        _warned.add(name)
    if first:
        log.warning(
            "carbonsdk: the %s sink failed (%s: %s); the run is flagged "
            "sink-failed:%s, later failures of this sink are logged at debug level",
            name,
            type(exc).__name__,
            exc,
            name,
        )
    else:
        log.debug("carbonsdk: the %s sink failed again", name, exc_info=exc)
    return FAILED_FLAG_PREFIX + name


def emit(result: RunResult) -> tuple[str, ...]:
    """Hand the finished ``result`` to every registered sink, in registration order; returns
    the flags to add to the result (``sink-failed:<name>`` for each sink that raised, plus the
    flags sinks returned), without duplicates. Never raises (a sink's ``KeyboardInterrupt``
    or ``SystemExit`` is let through). A run ending inside a sink (a sink that measures)
    emits nothing, so that sinks never call themselves."""
    if getattr(_emitting, "active", False):
        return ()
    with _lock:
        handles = tuple(_handles)
    if not handles:
        return ()
    flags: list[str] = []
    _emitting.active = True
    try:
        for handle in handles:
            try:
                extra = handle.sink(result)
                if isinstance(extra, str):
                    extra = (extra,)
                if extra is not None:
                    flags.extend(f for f in extra if isinstance(f, str) and f)
            except Exception as exc:  # noqa: BLE001 - a tracker raises anything
                flags.append(failure_flag(handle.name, exc))
    finally:
        _emitting.active = False
    return tuple(dict.fromkeys(flags))


def _reset_for_tests() -> None:
    """Forget every registered sink and every logged failure (tests only)."""
    with _lock:
        _handles.clear()
        _warned.clear()


__all__ = [
    "FAILED_FLAG_PREFIX",
    "Sink",
    "SinkHandle",
    "emit",
    "failure_flag",
    "register",
    "registered",
    "unregister",
]
