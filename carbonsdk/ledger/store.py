"""Writing the ledger: one ``write()`` per record under an exclusive advisory lock (``flock``)
with a bounded wait (:data:`LOCK_BUDGET_S`); records that could not be written stay pending in
memory and are retried (next write, a later write to the same ledger, interpreter exit)."""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from carbonsdk import config
from carbonsdk.ledger.schema import encode_record, result_to_record
from carbonsdk.model.result import (
    RunResult,
)

try:  # POSIX advisory locks; on platforms without fcntl appends are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("carbonsdk")


#: the longest a :class:`LedgerWriter` waits for the ledger's lock, in seconds, summed over its
#: attempts until a write succeeds: past it (another process holds the lock) records stay
#: pending in memory and later attempts only try the lock without waiting
LOCK_BUDGET_S = 2.0


class LedgerLockTimeout(TimeoutError):
    """The ledger's lock was not free within the wait allowed (another process holds it, or a
    stuck network-file-system lock). A subclass of :class:`OSError`."""


_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


def _lock(fd: int, path: Path, timeout_s: float | None) -> bool:
    """Take the exclusive lock on ``fd``, waiting at most ``timeout_s`` (None: as long as it
    takes, 0: one try). True when locked, False when this file system has no locks (the write
    goes ahead unlocked: one ``O_APPEND`` write). Raises :class:`LedgerLockTimeout`."""
    if fcntl is None:  # pragma: no cover - Windows
        return False
    if timeout_s is None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno in _NO_LOCKS:
                return False
            raise
        return True
    deadline = time.monotonic() + max(0.0, timeout_s)
    delay_s = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in _NO_LOCKS:
                return False
            if exc.errno not in _BUSY:
                raise
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            raise LedgerLockTimeout(
                errno.EAGAIN,
                f"the ledger's lock was busy for {max(0.0, timeout_s):.1f} s",
                str(path),
            )
        time.sleep(min(delay_s, left_s))
        delay_s = min(delay_s * 2, 0.05)


def _append_payload(path: Path, payload: bytes, lock_timeout_s: float | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        locked = _lock(fd, path, lock_timeout_s)
        try:
            size = os.fstat(fd).st_size
            if size > 0:
                with open(path, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        payload = b"\n" + payload  # seal a torn last line
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def append_records(
    path: Path, records: list[Mapping[str, Any]], *, lock_timeout_s: float | None = LOCK_BUDGET_S
) -> None:
    """Append records to the ledger at ``path`` in ONE ``write()`` under an exclusive lock,
    creating the file (mode 0600) and its directory. Waits at most ``lock_timeout_s`` seconds
    for the lock (None: without limit). Raises :class:`OSError` on failure
    (:class:`LedgerLockTimeout` when the lock stayed busy)."""
    payload = b"".join(encode_record(r) for r in records)
    _append_payload(path, payload, lock_timeout_s)


def append_run(path: str | os.PathLike[str] | None, result: RunResult) -> None:
    """Append a finished run's ``"run"`` record (``path`` None = default ledger); raises
    :class:`OSError` on failure (:class:`LedgerLockTimeout` after :data:`LOCK_BUDGET_S`)."""
    append_records(_resolve(path), [result_to_record(result)])


_pending_lock = threading.Lock()
_pending_writers: set[LedgerWriter] = set()  # strong refs: a pending record outlives its run
_atexit_registered = False


def _note_pending(writer: LedgerWriter) -> None:
    global _atexit_registered
    with _pending_lock:
        _pending_writers.add(writer)
        if not _atexit_registered:
            atexit.register(flush_pending)
            _atexit_registered = True


def _pending_for(path: Path, exclude: LedgerWriter | None = None) -> list[LedgerWriter]:
    with _pending_lock:
        return [w for w in _pending_writers if w is not exclude and w.path == path]


def _forget_parents_pending() -> None:
    """In a forked child: the parent's pending records are the parent's to write (else both
    would write them), and a parent thread holding the registry's lock at the fork does not
    exist here to release it."""
    global _pending_lock, _pending_writers
    _pending_lock = threading.Lock()
    _pending_writers = set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_pending)


def flush_pending() -> int:
    """Retry every record still pending in this process (run at interpreter exit); each writer
    waits for the lock at most what is left of its :data:`LOCK_BUDGET_S`. Returns the number of
    records still not written (each writer that lost some logs a warning)."""
    with _pending_lock:
        writers = list(_pending_writers)
    lost = 0
    for writer in writers:
        if not writer.flush():
            lost += writer.pending
            log.warning(
                "carbonsdk: %d record(s) could not be written to the ledger %s (%s)",
                writer.pending,
                writer.path,
                writer.last_error,
            )
    return lost


class LedgerWriter:
    """Writes one run's records; never raises, never waits for the lock more than
    :data:`LOCK_BUDGET_S` seconds in total until a write succeeds. A failed write (full disk,
    read-only file, a lock another process holds) is logged once and kept in memory, then retried
    with the next write, after any later successful write to the same ledger in this process, and
    at interpreter exit, so a transient fault loses nothing."""

    def __init__(self, path: Path, *, lock_budget_s: float = LOCK_BUDGET_S) -> None:
        self.path = path
        self.last_error: str | None = None
        #: True while records are pending because the lock was not free in time
        self.lock_timed_out = False
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self._warned = False
        self._budget_full_s = lock_budget_s
        self._budget_s = lock_budget_s

    def write(self, record: Mapping[str, Any]) -> bool:
        """Append ``record`` (and any pending ones); True when everything is on disk."""
        try:
            payload = encode_record(record)
        except (TypeError, ValueError, RecursionError) as exc:  # cannot happen for our records
            self._failed(exc)
            return False
        with self._lock:
            self._pending.append(payload)
        if not self.flush():
            return False
        for other in _pending_for(self.path, exclude=self):
            other.flush(wait=False)
        return True

    def flush(self, *, wait: bool = True) -> bool:
        """Write the pending records; True when none is left. ``wait``: wait for a busy lock (at
        most what is left of the budget), else try it once."""
        with self._lock:
            if not self._pending:
                return True
            timeout_s = self._budget_s if wait else 0.0
            began = time.monotonic()
            try:
                _append_payload(self.path, b"".join(self._pending), timeout_s)
            except LedgerLockTimeout as exc:
                self._budget_s = max(0.0, self._budget_s - (time.monotonic() - began))
                self.lock_timed_out = True
                self._failed(exc)
                return False
            except (OSError, ValueError) as exc:
                self._failed(exc)
                return False
            self._pending.clear()
            self.last_error = None
            self.lock_timed_out = False
            self._budget_s = self._budget_full_s
        with _pending_lock:
            _pending_writers.discard(self)
        return True

    def _failed(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self._pending:
            _note_pending(self)
        if not self._warned:
            log.warning(
                "carbonsdk: could not write the ledger %s (%s); keeping the record in memory and "
                "retrying (next write, exit)",
                self.path,
                self.last_error,
            )
            self._warned = True

    @property
    def pending(self) -> int:
        """Records not yet written."""
        return len(self._pending)

    def failure_flags(self) -> tuple[str, ...]:
        """Flags for a run whose records are not all on disk: ``"ledger-pending"`` (kept in
        memory, retried on a later write and at exit) with ``"ledger-lock-timeout"`` (the lock
        was busy past :data:`LOCK_BUDGET_S`) or ``"ledger-write-failed"`` (any other error);
        ``()`` when nothing is pending."""
        if not self._pending:
            return ("ledger-write-failed",) if self.last_error else ()
        cause = "ledger-lock-timeout" if self.lock_timed_out else "ledger-write-failed"
        return ("ledger-pending", cause)


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    return config.default_ledger_path() if path is None else Path(path).expanduser()
