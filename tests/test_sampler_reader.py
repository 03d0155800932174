"""The threaded sampler's reads from user threads (a run starting, ending or marking) run on one
persistent reader thread, not on a new thread per read; a reader stuck in a hung read is
replaced. No timings are asserted: waits below are bounded polls for a state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from carbonsdk import sampler as sampler_module
from carbonsdk.clock import SYSTEM_CLOCK
from carbonsdk.model.device import DeviceInfo
from carbonsdk.sampler import Sampler
from carbonsdk.sensors import Discovery


class _RecordingSensor:
    """A sensor that records which thread read it; a read blocks while ``gate`` is cleared."""

    def __init__(self) -> None:
        self.info = DeviceInfo(
            component="cpu", key="cpu:test", name="test CPU", method="test", estimated=True
        )
        self.readers: list[threading.Thread] = []
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def read_energy_j(self, mono_s: float) -> float:
        with self._lock:
            self.readers.append(threading.current_thread())
            n = len(self.readers)
        self.gate.wait(30.0)
        return float(n)

    def close(self) -> None:
        """Nothing to release."""


class _Sub:
    def __init__(self) -> None:
        self.intervals: list[tuple[float, float, dict[str, float]]] = []
        self.errors: list[str] = []

    def on_interval(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        self.intervals.append((start_s, end_s, dict(energy_j)))

    def on_device_error(self, key: str, message: str) -> None:
        self.errors.append(key)

    def after_tick(self) -> None:
        """No periodic work."""


def _discover(sensor: _RecordingSensor) -> Callable[[Sequence[str], float], Discovery]:
    def discover(components: Sequence[str], mono_s: float) -> Discovery:
        return Discovery(sensors=(sensor,), not_measured={}, warnings=())

    return discover


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "carbonsdk-read" and t.is_alive()]


def _until(condition: Callable[[], bool], limit_s: float = 20.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def rig() -> Iterator[tuple[Sampler, _RecordingSensor, _Sub]]:
    sensor = _RecordingSensor()
    s = Sampler(clock=SYSTEM_CLOCK, discover=_discover(sensor), threaded=True)
    sub = _Sub()
    s.subscribe(sub, ["cpu"], 3600.0)  # no periodic tick during a test
    yield s, sensor, sub
    sensor.gate.set()
    s.unsubscribe(sub)
    s.close()


def test_reads_from_user_threads_share_one_reader_thread(
    rig: tuple[Sampler, _RecordingSensor, _Sub],
) -> None:
    s, sensor, sub = rig
    before = len(sensor.readers)
    for _ in range(10):
        s.flush()
    readers = sensor.readers[before:]
    assert len(readers) == 10  # one read per flush, each finished before flush returned
    assert len(set(readers)) == 1
    assert readers[0].name == "carbonsdk-read"
    assert readers[0] is not threading.current_thread()
    assert len(sub.intervals) >= 10


def test_concurrent_flushes_all_return_after_a_read_of_their_own(
    rig: tuple[Sampler, _RecordingSensor, _Sub],
) -> None:
    s, sensor, _ = rig
    done: list[int] = []
    before = len(sensor.readers)

    def flush() -> None:
        s.flush()
        done.append(len(sensor.readers))

    threads = [threading.Thread(target=flush) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    assert len(done) == 8
    # requests that arrive before a read starts share it: at most one read per flush
    assert 1 <= len(sensor.readers) - before <= 8
    assert all(n > before for n in done)
    assert {t.name for t in sensor.readers[before:]} == {"carbonsdk-read"}


def test_an_idle_reader_thread_exits_and_the_next_read_starts_one(
    rig: tuple[Sampler, _RecordingSensor, _Sub], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, sensor, _ = rig
    monkeypatch.setattr(sampler_module, "READER_IDLE_S", 0.05)
    s.flush()  # the reader started at subscribe takes the short idle time at its next wait
    first = sensor.readers[-1]
    assert _until(lambda: not first.is_alive())
    s.flush()
    second = sensor.readers[-1]
    assert second is not first and second.name == "carbonsdk-read"
    assert _until(lambda: not second.is_alive())


def test_a_reader_stuck_in_a_hung_read_is_replaced(
    rig: tuple[Sampler, _RecordingSensor, _Sub],
) -> None:
    s, sensor, sub = rig
    s.read_deadline_s = 0.2
    s.flush()
    healthy = sensor.readers[-1]
    sensor.gate.clear()  # the next read hangs
    s.flush()  # bounded by the read deadline: the device is degraded, the caller goes on
    assert "cpu:test" in sub.errors
    stuck = sensor.readers[-1]
    assert stuck is healthy and stuck.is_alive()
    sensor.gate.set()
    # the stuck thread's read returns (discarded); it is no longer the reader and exits
    assert _until(lambda: not stuck.is_alive())
    s.flush()  # the degraded device is not read any more, but the read still runs
    assert sensor.readers[-1] is stuck
    assert all(t is not stuck for t in _reader_threads())


def test_close_retires_the_reader_thread(rig: tuple[Sampler, _RecordingSensor, _Sub]) -> None:
    s, sensor, _ = rig
    s.flush()
    reader = sensor.readers[-1]
    s.close()
    assert _until(lambda: not reader.is_alive())
