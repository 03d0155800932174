"""SIGTERM while a run is open, and the status an exit means.

With the default handler, SIGTERM becomes :class:`Terminated` (a ``SystemExit(143)``) in the main
thread, so ``finally`` blocks run and the run is recorded ``"interrupted"``. A program with its
own handler keeps it in charge: the signal is only counted (:func:`sigterm_count`), so that a
handler calling ``sys.exit(0)`` still gives an ``"interrupted"`` run flagged ``signal:SIGTERM``.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM while a run is open (exit code 143). Installed only
    when the process had the default SIGTERM handler."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


_lock = threading.Lock()
_depth = 0
_previous: Any = None
_count = 0


def sigterm_count() -> int:
    """SIGTERMs received while a run was open (compare the value at enter and at exit)."""
    return _count


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _count
    _count += 1
    raise Terminated()


def _on_sigterm_chained(signum: int, frame: FrameType | None) -> None:
    """The program had its own SIGTERM handler: count the signal, then leave it in charge."""
    global _count
    _count += 1
    previous = _previous
    if callable(previous):
        previous(signum, frame)


def install() -> bool:
    """Count (and, with the default handler, raise on) SIGTERM while runs are open; nested
    calls are reference counted. Returns False where nothing was installed (not the main
    thread, an ignored signal)."""
    global _depth, _previous
    if threading.current_thread() is not threading.main_thread():
        return False
    with _lock:
        if _depth == 0:
            try:
                current = signal.getsignal(signal.SIGTERM)
                if current is signal.SIG_IGN or current is None:
                    return False  # an ignored signal interrupts nothing
                handler = _on_sigterm if current is signal.SIG_DFL else _on_sigterm_chained
                _previous = signal.signal(signal.SIGTERM, handler)
            except (ValueError, OSError):
                return False
        _depth += 1
        return True


def uninstall() -> None:
    """Undo one :func:`install`; the last one restores the program's handler."""
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0:
            try:
                if signal.getsignal(signal.SIGTERM) in (_on_sigterm, _on_sigterm_chained):
                    signal.signal(signal.SIGTERM, _previous or signal.SIG_DFL)
            except (ValueError, OSError):
                pass


def status_of(exc_type: type[BaseException] | None, exc: BaseException | None) -> str:
    """The run status an exit with ``exc`` means: completed, failed or interrupted."""
    if exc_type is None:
        return "completed"
    if issubclass(exc_type, (KeyboardInterrupt, Terminated)):
        return "interrupted"
    if exc_type.__name__ == "CancelledError":
        return "interrupted"
    if issubclass(exc_type, SystemExit):
        code = exc.code if isinstance(exc, SystemExit) else None
        return "completed" if code in (None, 0) else "failed"
    return "failed"


def error_text(exc: BaseException) -> str:
    """``"Type: message"`` of the user's exception, whatever its ``__str__`` does (raises,
    returns a non-str): building it must never replace the user's exception."""
    try:
        name = type(exc).__name__
    except Exception:  # noqa: BLE001 - the user's exception comes first
        name = "Exception"
    try:
        text = exc.__str__()
        if not isinstance(text, str):
            text = f"<__str__ returned {type(text).__name__}, not str>"
    except Exception as str_exc:  # noqa: BLE001 - the user's exception comes first
        text = f"<__str__ raised {type(str_exc).__name__}>"
    return f"{name}: {text}"[:500]


class Watch:
    """SIGTERM watched from a run's start to its end: :func:`install` now, :meth:`end` at
    exit (nested runs share the handler, reference counted)."""

    def __init__(self) -> None:
        self._installed = install()
        self._seen = sigterm_count()

    def end(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, flags: list[str]
    ) -> tuple[str, str | None]:
        """Stop watching; the run's status and error text for an exit with ``exc``. A SIGTERM
        since the start makes it ``"interrupted"`` (the program's own handler may have exited
        with code 0) and adds ``signal:SIGTERM`` to ``flags``."""
        if self._installed:
            self._installed = False
            uninstall()
        status = status_of(exc_type, exc)
        if sigterm_count() != self._seen:
            status = "interrupted"
            flags.append("signal:SIGTERM")
        error = error_text(exc) if status == "failed" and exc is not None else None
        return status, error
