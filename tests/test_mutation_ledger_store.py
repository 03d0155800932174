"""The ledger writer (carbonsdk/ledger/store.py) where the other tests leave it open (found by
mutation testing, see docs/testing.md): the lock budget (0 = one try, a lock freed during the
wait is taken, a spent budget only tries the lock, a one-try retry does not spend it), pending
records (written once, in order, only by writes to the same ledger; counted by
``flush_pending``; written or reported once at interpreter exit), the failure flags and error
messages, torn last lines, and file systems without locks.

Locks are real ``flock`` locks on real files, held through a second open file description (as
another process would hold them; flock locks belong to the open file, so this process's writer
is refused like any other) or, for the at-exit tests, by this process against a child. Where a
test needs the holder to let go *while* the writer waits, the writer's ``fcntl`` is wrapped: the
real ``flock`` is called and, the first time it reports the lock busy, the test's holder
releases it (or, just before a given lock attempt, takes it), so "freed during the wait"
happens at a known point instead of after a sleep. Only a file system without locks
(``ENOLCK``, ...) and a platform without ``fcntl`` are simulated, at that OS boundary."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from carbonsdk.ledger import (
    LedgerLockTimeout,
    LedgerWriter,
    append_records,
    flush_pending,
    store,
)


def rec(name: str) -> dict[str, object]:
    """A small ledger record (the writer does not interpret what it writes)."""
    return {"schema": 1, "type": "test", "id": name}


def ids(path: Path) -> list[str]:
    """The ids of the records on disk, in file order (each line once)."""
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


class Holder:
    """Another open file description of the ledger that holds its exclusive flock."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.held = False
        self.hold()

    def hold(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.held = True

    def release(self) -> None:
        if self.held:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            self.held = False

    def close(self) -> None:
        self.release()
        os.close(self.fd)


class Flock:
    """The writer's ``fcntl``: the real ``flock``, plus test actions run just before the n-th lock
    attempt (``before_attempt[n]``, n from 1) and when a lock attempt finds the lock busy
    (``on_busy``, each action once, in order)."""

    LOCK_EX = fcntl.LOCK_EX
    LOCK_NB = fcntl.LOCK_NB
    LOCK_UN = fcntl.LOCK_UN

    def __init__(self) -> None:
        self.attempts = 0
        self.busy = 0
        self.before_attempt: dict[int, Callable[[], None]] = {}
        self.on_busy: list[Callable[[], None]] = []

    def flock(self, fd: int, op: int) -> None:
        if op & fcntl.LOCK_EX:
            self.attempts += 1
            action = self.before_attempt.pop(self.attempts, None)
            if action is not None:
                action()
        try:
            fcntl.flock(fd, op)
        except BlockingIOError:
            self.busy += 1
            if self.on_busy:
                self.on_busy.pop(0)()
            raise


def no_locks(code: int) -> SimpleNamespace:
    """An ``fcntl`` whose every ``flock`` fails with ``code`` (e.g. ENOLCK on a file system
    without locks, the OS boundary)."""

    def flock(fd: int, op: int) -> None:
        raise OSError(code, os.strerror(code))

    return SimpleNamespace(
        LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB, LOCK_UN=fcntl.LOCK_UN, flock=flock
    )


@pytest.fixture(autouse=True)
def _own_pending_writers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers left pending by other tests are not this test's business."""
    monkeypatch.setattr(store, "_pending_writers", set())


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def holder(ledger: Path) -> Iterator[Holder]:
    h = Holder(ledger)
    yield h
    h.close()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Flock:
    f = Flock()
    monkeypatch.setattr(store, "fcntl", f)
    return f


# -- files ------------------------------------------------------------------------------------


def test_a_missing_ledger_directory_is_created_with_its_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "ledger.jsonl"
    append_records(path, [rec("a")])
    assert ids(path) == ["a"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_one_byte_torn_line_is_sealed_before_the_next_record(ledger: Path) -> None:
    ledger.write_bytes(b"{")  # a write cut after its first byte (power loss)
    append_records(ledger, [rec("a")])
    first, second = ledger.read_bytes().splitlines()
    assert first == b"{" and json.loads(second)["id"] == "a"


# -- the lock budget --------------------------------------------------------------------------


def test_a_lock_timeout_says_how_long_it_waited_and_for_which_ledger(
    ledger: Path, holder: Holder
) -> None:
    with pytest.raises(LedgerLockTimeout) as info:
        append_records(ledger, [rec("a")], lock_timeout_s=0.1)
    assert "busy for 0.1 s" in str(info.value)
    assert info.value.filename == str(ledger)
    assert info.value.errno == errno.EAGAIN
    assert ledger.read_bytes() == b""


def test_a_zero_timeout_tries_the_lock_once(ledger: Path, holder: Holder, spy: Flock) -> None:
    spy.on_busy.append(holder.release)  # free after the first try: a second try would get it
    with pytest.raises(LedgerLockTimeout, match=r"busy for 0\.0 s"):
        append_records(ledger, [rec("a")], lock_timeout_s=0)
    assert spy.busy == 1
    assert ledger.read_bytes() == b""


def test_a_lock_freed_during_a_short_wait_is_taken(
    ledger: Path, holder: Holder, spy: Flock
) -> None:
    spy.on_busy.append(holder.release)
    append_records(ledger, [rec("a")], lock_timeout_s=0.9)  # a budget under one second
    assert spy.busy == 1
    assert ids(ledger) == ["a"]


def test_a_writer_waits_for_a_lock_freed_within_its_budget(
    ledger: Path, holder: Holder, spy: Flock
) -> None:
    writer = LedgerWriter(ledger, lock_budget_s=30.0)
    spy.on_busy.append(holder.release)
    assert writer.write(rec("a")) is True
    assert writer.pending == 0 and writer.failure_flags() == ()
    assert ids(ledger) == ["a"]


def test_a_spent_budget_only_tries_the_lock_until_a_write_succeeds(
    ledger: Path, holder: Holder, spy: Flock
) -> None:
    writer = LedgerWriter(ledger, lock_budget_s=0.05)
    assert writer.write(rec("a")) is False  # waits the whole budget
    assert writer.lock_timed_out
    busy = spy.busy
    spy.on_busy.append(holder.release)
    assert writer.write(rec("b")) is False  # one try only, though a second would have got it
    assert spy.busy == busy + 1
    assert writer.pending == 2
    assert writer.failure_flags() == ("ledger-pending", "ledger-lock-timeout")
    assert ledger.read_bytes() == b""
    assert writer.write(rec("c")) is True
    assert writer.pending == 0 and not writer.lock_timed_out and writer.failure_flags() == ()
    assert ids(ledger) == ["a", "b", "c"]
    # a success gives the whole budget back: a lock freed during the next wait is taken
    holder.hold()
    spy.on_busy.append(holder.release)
    assert writer.write(rec("d")) is True
    assert ids(ledger) == ["a", "b", "c", "d"]


def test_a_retry_without_waiting_tries_once_and_keeps_the_budget(ledger: Path, spy: Flock) -> None:
    ledger.mkdir()  # the first write fails for another reason than the lock
    writer = LedgerWriter(ledger, lock_budget_s=30.0)
    assert writer.write(rec("a")) is False
    assert writer.failure_flags() == ("ledger-pending", "ledger-write-failed")
    assert not writer.lock_timed_out
    assert (writer.last_error or "").startswith("IsADirectoryError")
    ledger.rmdir()
    holder = Holder(ledger)
    try:
        spy.on_busy.append(holder.release)
        assert writer.flush(wait=False) is False  # one try, though a second would have got it
        assert writer.pending == 1 and writer.lock_timed_out
        assert writer.failure_flags() == ("ledger-pending", "ledger-lock-timeout")
        holder.hold()
        spy.on_busy.append(holder.release)
        assert writer.flush() is True  # the budget was not spent by the one try
        assert writer.pending == 0 and not writer.lock_timed_out
    finally:
        holder.close()
    assert ids(ledger) == ["a"]


def test_flush_with_nothing_pending_is_true_and_writes_nothing(ledger: Path) -> None:
    writer = LedgerWriter(ledger)
    assert writer.flush() is True
    assert writer.flush(wait=False) is True
    assert not ledger.exists()


# -- pending records --------------------------------------------------------------------------


def test_a_write_to_another_ledger_leaves_this_ones_pending_records(
    tmp_path: Path, ledger: Path, holder: Holder
) -> None:
    first = LedgerWriter(ledger, lock_budget_s=0.05)
    assert first.write(rec("a")) is False
    holder.release()
    other = tmp_path / "other.jsonl"
    assert LedgerWriter(other).write(rec("x")) is True
    assert first.pending == 1 and ledger.read_bytes() == b""
    assert ids(other) == ["x"]
    assert LedgerWriter(ledger).write(rec("b")) is True  # the same ledger: retried after it
    assert first.pending == 0
    assert ids(ledger) == ["b", "a"]


def test_another_writer_gives_pending_records_one_try_without_waiting(
    ledger: Path, spy: Flock
) -> None:
    ledger.mkdir()
    first = LedgerWriter(ledger, lock_budget_s=30.0)  # pending with its whole budget left
    assert first.write(rec("a")) is False
    ledger.rmdir()
    holder = Holder(ledger)
    holder.release()
    try:
        # another process takes the lock between the second writer's own write (attempt 1) and
        # its retry of the first writer's record (attempt 2), and lets go as soon as that retry
        # finds it busy: a retry that waited would get it, a single try does not
        spy.before_attempt[2] = holder.hold
        spy.on_busy.append(holder.release)
        assert LedgerWriter(ledger, lock_budget_s=30.0).write(rec("b")) is True
        assert first.pending == 1
        assert ids(ledger) == ["b"]
        assert first.flush() is True
    finally:
        holder.close()
    assert ids(ledger) == ["b", "a"]


def test_flush_pending_counts_the_records_still_not_written(
    ledger: Path, holder: Holder, caplog: pytest.LogCaptureFixture
) -> None:
    two = LedgerWriter(ledger, lock_budget_s=0.05)
    one = LedgerWriter(ledger, lock_budget_s=0.05)
    assert two.write(rec("a1")) is False and two.write(rec("a2")) is False
    assert one.write(rec("b1")) is False
    with caplog.at_level(logging.WARNING, logger="carbonsdk"):
        assert flush_pending() == 3
    lost = [r.getMessage() for r in caplog.records if "could not be written" in r.getMessage()]
    assert sorted(m.split(" record(s)")[0][-1] for m in lost) == ["1", "2"]
    assert ledger.read_bytes() == b""
    holder.release()
    assert flush_pending() == 0
    assert two.pending == 0 and one.pending == 0
    assert sorted(ids(ledger)) == ["a1", "a2", "b1"]
    assert flush_pending() == 0
    assert sorted(ids(ledger)) == ["a1", "a2", "b1"]


# -- failures ---------------------------------------------------------------------------------


def test_a_record_that_cannot_be_encoded_is_reported_and_not_kept(ledger: Path) -> None:
    writer = LedgerWriter(ledger)
    assert writer.write(cast("dict[str, object]", {(1, 2): "a tuple is no JSON key"})) is False
    assert writer.pending == 0
    assert writer.failure_flags() == ("ledger-write-failed",)
    assert (writer.last_error or "").startswith("TypeError")
    assert not ledger.exists()
    assert writer.write(rec("a")) is True
    assert writer.failure_flags() == ()
    assert ids(ledger) == ["a"]


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP])
@pytest.mark.parametrize("timeout_s", [None, 0.05])
def test_a_file_system_without_locks_is_written_unlocked(
    ledger: Path, monkeypatch: pytest.MonkeyPatch, code: int, timeout_s: float | None
) -> None:
    monkeypatch.setattr(store, "fcntl", no_locks(code))
    append_records(ledger, [rec("a")], lock_timeout_s=timeout_s)
    writer = LedgerWriter(ledger)
    assert writer.write(rec("b")) is True
    assert writer.pending == 0 and writer.failure_flags() == ()
    assert ids(ledger) == ["a", "b"]


@pytest.mark.parametrize("timeout_s", [None, 0.05])
def test_a_lock_error_other_than_busy_or_no_locks_is_raised(
    ledger: Path, monkeypatch: pytest.MonkeyPatch, timeout_s: float | None
) -> None:
    monkeypatch.setattr(store, "fcntl", no_locks(errno.EIO))
    with pytest.raises(OSError) as info:
        append_records(ledger, [rec("a")], lock_timeout_s=timeout_s)
    assert info.value.errno == errno.EIO and not isinstance(info.value, LedgerLockTimeout)
    writer = LedgerWriter(ledger)
    assert writer.write(rec("b")) is False
    assert writer.failure_flags() == ("ledger-pending", "ledger-write-failed")
    assert ledger.read_bytes() == b""


def test_without_fcntl_appends_go_ahead_unlocked(
    ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "fcntl", None)  # a platform without fcntl (Windows)
    append_records(ledger, [rec("a")])
    assert LedgerWriter(ledger).write(rec("b")) is True
    assert ids(ledger) == ["a", "b"]


# -- at interpreter exit (a child process) ----------------------------------------------------

CHILD = """
import sys
from pathlib import Path
from carbonsdk.ledger import LedgerWriter
w = LedgerWriter(Path(sys.argv[1]), lock_budget_s=0.05)
a = w.write({"schema": 1, "type": "test", "id": "a"})
b = w.write({"schema": 1, "type": "test", "id": "b"})
print(a, b, w.pending, flush=True)
sys.stdin.readline()  # the test frees the lock (or not), then lets this process exit
"""


def run_child(ledger: Path, holder: Holder, env: dict[str, str], free_at_exit: bool) -> str:
    """Two records left pending in a child while ``holder`` holds the lock; the lock is freed
    (or not) before the child exits. Returns the child's stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ledger)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["False", "False", "2"]
    assert ledger.read_bytes() == b""
    if free_at_exit:
        holder.release()
    _, err = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0, err
    return err


def test_records_pending_at_exit_are_written_once_when_the_lock_is_free(
    ledger: Path, holder: Holder, subprocess_env: dict[str, str]
) -> None:
    err = run_child(ledger, holder, subprocess_env, free_at_exit=True)
    assert ids(ledger) == ["a", "b"]
    assert "could not be written" not in err


def test_records_still_locked_out_at_exit_are_reported_once(
    ledger: Path, holder: Holder, subprocess_env: dict[str, str]
) -> None:
    err = run_child(ledger, holder, subprocess_env, free_at_exit=False)
    assert err.count("could not be written") == 1, err
    assert "2 record(s) could not be written" in err
    assert ledger.read_bytes() == b""


def test_a_forked_childs_write_leaves_the_parents_pending_records_to_the_parent(
    ledger: Path, holder: Holder
) -> None:
    """A child forked while its parent had records pending (a fork-started worker) writes only
    its own records: the parent's copies in the child are the parent's to write, else they
    would be on disk twice."""
    parent = LedgerWriter(ledger, lock_budget_s=0.05)
    assert parent.write(rec("parent")) is False
    holder.release()
    pid = os.fork()
    if pid == 0:  # the child: one record of its own, then out without running at-exit hooks
        code = 1
        try:
            code = 0 if LedgerWriter(ledger).write(rec("child")) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ids(ledger) == ["child"]
    assert parent.pending == 1
    assert parent.flush() is True  # the parent's own retry (its next write, or at exit)
    assert ids(ledger) == ["child", "parent"]
