"""The ledger's lock, held by a real second process: a writer gives up after its bounded wait
(LOCK_BUDGET_S in total), keeps the record pending in memory with a flag, and writes it on a
later write or at interpreter exit once the lock is free."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_ledger import T0, make_result

from carbonsdk.ledger import (
    LOCK_BUDGET_S,
    Ledger,
    LedgerLockTimeout,
    LedgerWriter,
    append_records,
    result_to_record,
)

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()  # hold the lock until told (or until stdin closes)
"""


class Holder:
    """A second process holding the ledger's flock until :meth:`release`."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.communicate("\n", timeout=30)
        assert self.proc.returncode == 0


Held = tuple[Path, Holder]


@pytest.fixture
def held(tmp_path: Path, subprocess_env: dict[str, str]) -> Iterator[Held]:
    path = tmp_path / "l.jsonl"
    holder = Holder(path, subprocess_env)
    yield path, holder
    holder.release()


def test_budget_is_about_two_seconds() -> None:
    assert LOCK_BUDGET_S == 2.0


def test_a_held_lock_leaves_records_pending_then_a_later_write_lands_them(held: Held) -> None:
    path, holder = held
    writer = LedgerWriter(path)
    assert writer.write(result_to_record(make_result("a"))) is False
    assert writer.pending == 1 and writer.lock_timed_out
    assert writer.failure_flags() == ("ledger-pending", "ledger-lock-timeout")
    assert "LedgerLockTimeout" in (writer.last_error or "")
    # the budget is spent: later attempts only try the lock, and keep everything in order
    assert writer.write(result_to_record(make_result("b", start=T0 + timedelta(hours=1)))) is False
    assert writer.pending == 2
    assert Ledger(path).runs() == []
    holder.release()
    assert writer.write(result_to_record(make_result("c", start=T0 + timedelta(hours=2))))
    assert writer.pending == 0 and writer.failure_flags() == ()
    assert [r.run_id for r in Ledger(path).runs()] == ["a", "b", "c"]


def test_append_records_raises_lock_timeout(held: Held) -> None:
    path, _ = held
    with pytest.raises(LedgerLockTimeout) as info:
        append_records(path, [result_to_record(make_result("a"))], lock_timeout_s=0.1)
    assert isinstance(info.value, OSError)


def test_another_writer_of_the_same_ledger_flushes_pending_records(held: Held) -> None:
    path, holder = held
    first = LedgerWriter(path)
    assert first.write(result_to_record(make_result("a"))) is False
    holder.release()
    second = LedgerWriter(path)
    assert second.write(result_to_record(make_result("b", start=T0 + timedelta(hours=1))))
    assert first.pending == 0
    assert [r.run_id for r in Ledger(path).runs()] == ["a", "b"]


MEASURED = """
import sys
import carbonsdk
with carbonsdk.measure("held", region="FR", intensity=50, interval_s=0.05, report=False,
                       ledger=sys.argv[1]) as run:
    sum(i * i for i in range(100000))
print(json.dumps(list(run.result.flags)), flush=True)
sys.stdin.readline()  # the test frees the lock, then lets this process exit
"""


def test_a_run_ending_while_the_lock_is_held_is_written_at_exit(
    held: Held, subprocess_env: dict[str, str]
) -> None:
    path, holder = held
    proc = subprocess.Popen(
        [sys.executable, "-c", "import json\n" + MEASURED, str(path)],
        env=subprocess_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    flags = json.loads(proc.stdout.readline())  # the run ended without waiting on the holder
    assert {"ledger-pending", "ledger-lock-timeout"} <= set(flags), flags
    assert Ledger(path).runs() == []
    holder.release()
    _, err = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0, err
    (run,) = Ledger(path).runs()
    assert run.name == "held" and run.status == "completed"  # the run record, not a rebuild
    types = [json.loads(line)["type"] for line in path.read_text().splitlines()]
    assert types.count("run") == 1 and set(types) <= {"run", "checkpoint"}


def test_a_lock_still_held_at_exit_is_given_up_with_a_warning(
    held: Held, subprocess_env: dict[str, str]
) -> None:
    path, _ = held
    script = (
        "import sys\nfrom pathlib import Path\nsys.path.insert(0, sys.argv[2])\n"
        "from test_ledger import make_result\n"
        "from carbonsdk.ledger import LedgerWriter, result_to_record\n"
        "w = LedgerWriter(Path(sys.argv[1]))\n"
        "print(w.write(result_to_record(make_result('a'))), flush=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(Path(__file__).parent)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert "1 record(s) could not be written" in out.stderr
