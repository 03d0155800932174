"""The background sampler (found by mutation testing, see docs/testing.md): the plausibility
bound and its one-second floor, glitches and non-finite readings that must not cost the other
devices their interval, counters that go back, discovery that reports an open device again,
what a subscription is told, the tick count, the fork reset, and the threads: daemon, started
only when threaded, sampling at the smallest open interval, the first/last reads on the reader
thread, and a slow read that is not yet past its deadline on the sampler's clock.

The threaded tests wait for an outcome with a generous bound (``_until``); none of them asserts
how long anything took."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from carbonsdk.exceptions import SensorError
from carbonsdk.model.device import DeviceInfo
from carbonsdk.sampler import Sampler, get_sampler, set_sampler
from carbonsdk.sensors import Discovery
from carbonsdk.testing import FakeClock, FakeGPU, fake_environment

WAIT_S = 20.0  # the bound of a wait for something that happens at once when the code is right


@pytest.fixture(autouse=True)
def _threads_never_raise(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The sampler's threads never raise (module docstring of carbonsdk.sampler): an exception
    that ends one of them fails the test."""
    raised: list[str] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        if name.startswith("carbonsdk"):
            raised.append(f"{name}: {args.exc_type.__name__}: {args.exc_value}")
        previous(args)

    monkeypatch.setattr(threading, "excepthook", hook)
    yield raised
    assert raised == []


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


class Sensor:
    """A fake device: ``readings`` are the cumulative joules its reads return, in turn (the last
    one repeats); a reading that is an exception is raised. ``gate``: when set (cleared), a read
    blocks until it is set."""

    def __init__(
        self,
        key: str,
        readings: Sequence[float | Exception] = (0.0,),
        *,
        max_power_w: float | None = None,
        name: str | None = None,
    ) -> None:
        component = key.split(":")[0]
        self.info = DeviceInfo(
            component=component,
            key=key,
            name=name or f"fake {key}",
            method="fake",
            estimated=False,
            max_power_w=max_power_w,
        )
        self.readings = list(readings)
        self.reads = 0
        self.gate = threading.Event()
        self.gate.set()
        self.closed = False

    def read_energy_j(self, mono_s: float) -> float:
        self.gate.wait()
        value = self.readings[min(self.reads, len(self.readings) - 1)]
        self.reads += 1
        if isinstance(value, Exception):
            raise value
        return value

    def close(self) -> None:
        self.closed = True


class Recorder:
    """A subscriber that keeps what it is told."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float, dict[str, float]]] = []
        self.errors: list[tuple[str, str]] = []
        self.glitches: list[tuple[str, str]] = []
        self.after_ticks = 0

    def on_interval(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        self.intervals.append((start_s, end_s, dict(energy_j)))

    def on_device_error(self, key: str, message: str) -> None:
        self.errors.append((key, message))

    def on_device_glitch(self, key: str, message: str) -> None:
        self.glitches.append((key, message))

    def after_tick(self) -> None:
        self.after_ticks += 1

    def energy(self) -> list[dict[str, float]]:
        return [e for _, _, e in self.intervals]


def _discover(
    *sensors: Sensor,
    not_measured: Mapping[str, str] | None = None,
    warnings: Sequence[str] = (),
) -> Callable[[Sequence[str], float], Discovery]:
    def discover(components: Sequence[str], mono_s: float) -> Discovery:
        return Discovery(
            sensors=tuple(s for s in sensors if s.info.component in components),
            not_measured={c: r for c, r in (not_measured or {}).items() if c in components},
            warnings=tuple(warnings),
        )

    return discover


def _sampler(clock: FakeClock, *sensors: Sensor, **kwargs: object) -> Sampler:
    return Sampler(clock=clock, discover=_discover(*sensors), threaded=False, **kwargs)  # type: ignore[arg-type]


# -- what an interval carries ----------------------------------------------------------------------


def test_plausibility_bound_is_inclusive_with_a_one_second_floor() -> None:
    clock = FakeClock()
    gpu = Sensor("gpu:0", [200.0, 300.0, 450.0, 500.0], max_power_w=100.0)
    s = _sampler(clock, gpu)
    rec = Recorder()
    s.subscribe(rec, ["gpu"], 60.0)
    clock.advance(2.0)
    s.tick()  # 200 J in 2 s: exactly 100 W, kept
    clock.advance(0.5)
    s.tick()  # 100 J in 0.5 s: the bound counts at least 1 s, so 100 J is allowed
    clock.advance(1.0)
    s.tick()  # 150 J in 1 s: more than 100 W, dropped and flagged
    clock.advance(1.0)
    s.tick()  # counted from the glitching reading on
    assert rec.energy() == [{"gpu:0": 200.0}, {"gpu:0": 100.0}, {}, {"gpu:0": 50.0}]
    ((key, message),) = rec.glitches
    assert key == "gpu:0"
    assert "150 J in 1 s" in message and "100 W" in message
    assert [end - start for start, end, _ in rec.intervals] == [2.0, 0.5, 1.0, 1.0]


def test_a_glitch_or_a_non_finite_reading_drops_only_that_device() -> None:
    clock = FakeClock()
    bad = Sensor("gpu:0", [10.0, 1e9, float("nan"), 40.0], max_power_w=100.0)
    good = Sensor("gpu:1", [5.0, 10.0, 15.0, 20.0], max_power_w=100.0)
    s = _sampler(clock, bad, good)
    rec = Recorder()
    s.subscribe(rec, ["gpu"], 60.0)
    for _ in range(4):
        clock.advance(1.0)
        s.tick()
    assert rec.energy() == [
        {"gpu:0": 10.0, "gpu:1": 5.0},
        {"gpu:1": 5.0},  # the jump to 1e9 J is dropped
        {"gpu:1": 5.0},  # nan: dropped, the baseline stays at 1e9
        {"gpu:0": 0.0, "gpu:1": 5.0},  # 40 J is below the last good reading: nothing
    ]
    assert [k for k, _ in rec.glitches] == ["gpu:0", "gpu:0"]
    assert "non-finite" in rec.glitches[1][1]


def test_unchanged_or_lower_readings_give_zero_energy() -> None:
    clock = FakeClock()
    cpu = Sensor("cpu:0", [30.0, 30.0, 12.0, 20.0])
    s = _sampler(clock, cpu)
    rec = Recorder()
    s.subscribe(rec, ["cpu"], 60.0)
    for _ in range(4):
        clock.advance(1.0)
        s.tick()
    assert rec.energy() == [{"cpu:0": 30.0}, {"cpu:0": 0.0}, {"cpu:0": 0.0}, {"cpu:0": 8.0}]


def test_ticks_count_the_delivered_intervals() -> None:
    clock = FakeClock()
    s = _sampler(clock, Sensor("cpu:0", [1.0, 2.0, 3.0]))
    assert s.ticks == 0 and s.thread_cpu_s == 0.0
    rec = Recorder()
    s.subscribe(rec, ["cpu"], 60.0)
    s.tick()  # no time passed: nothing delivered
    for _ in range(3):
        clock.advance(1.0)
        s.tick()
    assert s.ticks == 3 == len(rec.intervals)
    assert s.thread_cpu_s == 0.0  # no background thread ran
    assert rec.after_ticks == 4


# -- discovery and subscriptions -------------------------------------------------------------------


def test_discovery_reporting_an_open_device_again_keeps_it_and_adds_the_rest() -> None:
    clock = FakeClock()
    gpu = Sensor("gpu:0", [100.0])
    again = Sensor("gpu:0", [999.0])
    cpu = Sensor("cpu:0", [7.0])
    calls: list[Sequence[str]] = []

    def discover(components: Sequence[str], mono_s: float) -> Discovery:
        calls.append(list(components))
        found = (gpu,) if len(calls) == 1 else (again, cpu)
        return Discovery(sensors=found, not_measured={}, warnings=())

    s = Sampler(clock=clock, discover=discover, threaded=False)
    first = s.subscribe(Recorder(), ["gpu"], 60.0)
    rec = Recorder()
    second = s.subscribe(rec, ["gpu", "cpu"], 60.0)
    assert [d.key for d in first.devices] == ["gpu:0"]
    assert [d.key for d in second.devices] == ["gpu:0", "cpu:0"]
    clock.advance(1.0)
    s.tick()
    assert rec.energy() == [{"gpu:0": 100.0, "cpu:0": 7.0}]
    assert again.reads == 0


def test_subscription_gets_its_components_reasons_and_warnings_once() -> None:
    clock = FakeClock()
    discover = _discover(
        Sensor("ram:host", [1.0]),
        not_measured={"gpu": "no NVIDIA GPU", "cpu": "no RAPL"},
        warnings=["check your cgroup"],
    )
    s = Sampler(clock=clock, discover=discover, threaded=False)
    both = s.subscribe(Recorder(), ["gpu", "cpu", "ram"], 60.0)
    assert both.not_measured == {"gpu": "no NVIDIA GPU", "cpu": "no RAPL"}
    cpu_only = s.subscribe(Recorder(), ["cpu"], 60.0)
    assert cpu_only.not_measured == {"cpu": "no RAPL"}
    assert cpu_only.devices == ()
    assert both.warnings == cpu_only.warnings == ("check your cgroup",)


def test_failed_devices_are_told_to_later_subscribers_of_their_component_only() -> None:
    clock = FakeClock()
    gpu = Sensor("gpu:0", [SensorError("GPU is lost")], name="Tesla V100")
    cpu = Sensor("cpu:0", [1.0, 2.0])
    s = _sampler(clock, gpu, cpu)
    first = Recorder()
    s.subscribe(first, ["gpu", "cpu"], 60.0)
    clock.advance(1.0)
    s.tick()
    ((key, message),) = first.errors
    assert key == "gpu:0"
    assert message.startswith("Tesla V100: ") and "GPU is lost" in message
    assert first.energy() == [{"cpu:0": 1.0}]
    cpu_sub, gpu_sub = Recorder(), Recorder()
    s.subscribe(cpu_sub, ["cpu"], 60.0)
    s.subscribe(gpu_sub, ["gpu"], 60.0)
    assert cpu_sub.errors == []
    assert gpu_sub.errors == [("gpu:0", message)]


def test_sampler_without_discover_reads_its_environment() -> None:
    clock = FakeClock()
    env = fake_environment(clock, gpus=[FakeGPU.volta(power_w=100.0)])
    s = Sampler(clock=clock, environment=env, threaded=False)
    rec = Recorder()
    sub = s.subscribe(rec, ["gpu"], 60.0)
    assert [d.key for d in sub.devices] == ["gpu:0"]
    clock.advance(2.0)
    s.tick()
    assert rec.energy() == [{"gpu:0": 200.0}]
    s.close()


# -- fork -----------------------------------------------------------------------------------------


def test_forked_child_starts_with_an_idle_sampler() -> None:
    """Nothing is counted twice: the child's copy of the sampler has no subscribers."""
    clock = FakeClock()
    s = _sampler(clock, Sensor("cpu:0", [1.0, 2.0, 3.0]))
    rec = Recorder()
    s.subscribe(rec, ["cpu"], 60.0)
    clock.advance(1.0)
    s.tick()
    assert s.ticks == 1 and len(rec.intervals) == 1
    previous = set_sampler(s)
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                child = get_sampler()
                clock.advance(1.0)
                child.tick()
                state = (
                    f"{child is s} {len(rec.intervals)} {child.running} {child.ticks} "
                    f"{child.thread_cpu_s}"
                )
                os.write(write_fd, state.encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        _, status = os.waitpid(pid, 0)
        payload = os.read(read_fd, 100).decode()
        os.close(read_fd)
    finally:
        set_sampler(previous)
    assert os.WEXITSTATUS(status) == 0
    assert (
        payload == "True 1 False 1 0.0"
    )  # the parent's run saw no new interval; one tick of its own
    clock.advance(1.0)
    s.tick()
    assert len(rec.intervals) == 2 and s.ticks == 2  # the parent goes on as before


# -- threads --------------------------------------------------------------------------------------


def test_threads_are_daemons_and_only_a_threaded_sampler_starts_them() -> None:
    clock = FakeClock()
    before = set(threading.enumerate())
    quiet = _sampler(clock, Sensor("cpu:0"))
    quiet.subscribe(Recorder(), ["cpu"], 0.01)
    assert not quiet.running
    assert set(threading.enumerate()) <= before
    s = Sampler(clock=clock, discover=_discover(Sensor("cpu:0")))  # threaded by default
    rec = Recorder()
    s.subscribe(rec, ["cpu"], 3600.0)
    assert s.running
    started = [t for t in threading.enumerate() if t not in before]
    assert started and all(t.daemon for t in started)
    s.unsubscribe(rec)
    _until(lambda: not s.running, "the sampler thread stops after the last run")
    s.close()


def test_thread_cpu_time_is_counted() -> None:
    """``thread_cpu_s`` (overhead reports) adds the CPU time of each thread lifetime."""
    clock = FakeClock()
    s = Sampler(clock=clock, discover=_discover(Sensor("cpu:0")))
    rec = Recorder()
    s.subscribe(rec, ["cpu"], 0.001)
    _until(lambda: rec.after_ticks >= 3, "a few ticks")
    s.unsubscribe(rec)
    _until(lambda: not s.running, "the sampler thread stops after the last run")
    assert s.thread_cpu_s > 0.0
    s.close()


def test_first_and_last_reads_are_made_for_a_threaded_sampler() -> None:
    clock = FakeClock()
    s = Sampler(clock=clock, discover=_discover(Sensor("cpu:0", [50.0])), read_deadline_s=0.2)
    rec = Recorder()
    start = s.subscribe(rec, ["cpu"], 3600.0)
    clock.advance(5.0)
    end_s = s.unsubscribe(rec)
    assert rec.intervals == [(start.start_s, end_s, {"cpu:0": 50.0})]
    assert end_s - start.start_s == 5.0
    _until(lambda: not s.running, "the sampler thread stops after the last run")
    s.close()


def test_sampling_follows_the_smallest_open_interval() -> None:
    """A run with a 1 h interval, then a nested one with 10 ms: the thread now wakes every
    10 ms (each wake is one ``after_tick``), also after another 1 h run joins."""
    clock = FakeClock()
    s = Sampler(clock=clock, discover=_discover(Sensor("cpu:0")))
    slow, fast, late = Recorder(), Recorder(), Recorder()
    s.subscribe(slow, ["cpu"], 3600.0)
    s.subscribe(fast, ["cpu"], 0.01)
    _until(lambda: fast.after_ticks >= 3, "ticks at the 10 ms interval")
    seen = fast.after_ticks
    s.subscribe(late, ["cpu"], 3600.0)
    _until(lambda: fast.after_ticks >= seen + 3, "ticks go on after another run joins")
    assert slow.after_ticks >= 3  # every subscriber is ticked
    for sub in (fast, late, slow):
        s.unsubscribe(sub)
    _until(lambda: not s.running, "the sampler thread stops after the last run")
    s.close()


def test_a_slow_read_within_the_deadline_does_not_degrade_the_device() -> None:
    """The read deadline is measured on the sampler's clock: a read that is slow in wall time
    while the (fake) clock stands still is not hung, and its interval is delivered when it
    returns."""
    clock = FakeClock()
    cpu = Sensor("cpu:0", [25.0])
    s = Sampler(clock=clock, discover=_discover(cpu), read_deadline_s=0.05)
    rec = Recorder()
    s.subscribe(rec, ["cpu"], 3600.0)
    clock.advance(1.0)
    cpu.gate.clear()
    s.flush()  # gives up waiting (bounded), but the read goes on
    assert rec.errors == []
    cpu.gate.set()
    _until(lambda: len(rec.intervals) == 1, "the slow read delivers its interval")
    assert rec.energy() == [{"cpu:0": 25.0}]
    assert rec.errors == []
    s.unsubscribe(rec)
    _until(lambda: not s.running, "the sampler thread stops after the last run")
    s.close()


# -- hung and contended reads ----------------------------------------------------------------------
#
# A hang is made on the sampler's clock, not in wall time: the sensor moves the (fake) clock past
# the read deadline and then blocks until the test opens its gate, so the outcome never depends
# on how fast this machine is. Waits below are bounded polls for a state.


class HangingSensor(Sensor):
    """A :class:`Sensor` whose reads, once :meth:`hang` was called, move ``clock`` on by
    ``jump_s`` (past any read deadline of the test) and then block until ``gate`` is set.
    ``blocked`` is set while a read is blocked; ``threads`` are the threads that read it."""

    def __init__(self, key: str, readings: Sequence[float | Exception] = (0.0,)) -> None:
        super().__init__(key, readings)
        self.clock: FakeClock | None = None
        self.jump_s = 0.0
        self.blocked = threading.Event()
        self.threads: list[threading.Thread] = []

    def hang(self, clock: FakeClock | None, jump_s: float = 10.0) -> None:
        self.clock, self.jump_s = clock, jump_s
        self.gate.clear()

    def read_energy_j(self, mono_s: float) -> float:
        self.threads.append(threading.current_thread())
        if not self.gate.is_set():
            if self.clock is not None:
                self.clock.advance(self.jump_s)
            self.blocked.set()
        try:
            return super().read_energy_j(mono_s)
        finally:
            self.blocked.clear()


def _waiting_in(name: str, function: str) -> bool:
    """True when a live thread called ``name`` is inside a function whose name contains
    ``function`` (its stack, now)."""
    frames = sys._current_frames()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if thread.name != name or frame is None:
            continue
        while frame is not None:
            if function in frame.f_code.co_name:  # (mutmut renames: x_name__mutmut_orig)
                return True
            frame = frame.f_back
    return False


def test_a_hung_read_degrades_its_device_and_the_others_are_delivered() -> None:
    """A flush whose read hangs in one device returns (bounded), that device is degraded with
    a message naming the deadline, and the interval of the others is delivered by the same
    flush; the hung read's late result is discarded and the device is not read again."""
    clock = FakeClock()
    gpu = HangingSensor("gpu:0", [10.0, 20.0, 999.0])
    cpu = Sensor("cpu:0", [1.0, 3.0, 6.0])
    s = Sampler(clock=clock, discover=_discover(gpu, cpu), read_deadline_s=0.05)
    rec = Recorder()
    s.subscribe(rec, ["gpu", "cpu"], 3600.0)
    try:
        clock.advance(1.0)
        s.flush()  # gpu 10 J, cpu 1 J
        clock.advance(1.0)
        gpu.hang(clock)
        s.flush()
        assert rec.errors == [("gpu:0", "fake gpu:0: a read did not return within 0.05 s (hung)")]
        assert rec.energy() == [{"gpu:0": 10.0, "cpu:0": 1.0}, {"cpu:0": 2.0}]
        stuck = gpu.threads[-1]
        assert stuck.is_alive()
    finally:
        gpu.gate.set()
    _until(lambda: not stuck.is_alive(), "the stuck reader exits once its read returns")
    clock.advance(1.0)
    s.flush()
    # the late 20 J are never counted
    assert rec.energy() == [{"gpu:0": 10.0, "cpu:0": 1.0}, {"cpu:0": 2.0}, {"cpu:0": 3.0}]
    assert gpu.reads == 2  # baseline and the hung read: never read again
    s.unsubscribe(rec)
    s.close()


def test_a_flush_gives_up_after_two_hung_reads_and_loses_nothing() -> None:
    """Bounded: with two devices hanging one after the other, a flush drops each (two
    attempts, about twice the deadline each) and returns without an interval; the next read
    delivers the healthy device's energy since the last interval, none of it lost."""
    clock = FakeClock()
    gpu0 = HangingSensor("gpu:0", [0.0])
    gpu1 = HangingSensor("gpu:1", [0.0])
    cpu = Sensor("cpu:0", [4.0])
    s = Sampler(clock=clock, discover=_discover(gpu0, gpu1, cpu), read_deadline_s=0.25)
    rec = Recorder()
    sub = s.subscribe(rec, ["gpu", "cpu"], 3600.0)
    try:
        clock.advance(1.0)
        gpu0.hang(clock)
        gpu1.hang(clock)
        s.flush()
        assert [k for k, _ in rec.errors] == ["gpu:0", "gpu:1"]
        assert rec.intervals == []
        assert cpu.reads == 0
    finally:
        gpu0.gate.set()
        gpu1.gate.set()
    stuck = [gpu0.threads[-1], gpu1.threads[-1]]
    _until(lambda: not any(t.is_alive() for t in stuck), "the stuck readers exit")
    assert rec.intervals == []  # neither late batch was delivered
    s.flush()
    assert rec.energy() == [{"cpu:0": 4.0}]
    assert rec.intervals[0][0] == sub.start_s  # from the run's start: nothing lost
    s.unsubscribe(rec)
    s.close()


def test_a_sampler_thread_stuck_in_a_hung_read_is_replaced() -> None:
    """When the sampler's own thread hangs in a read, the next read from a user thread finds
    the read lock held past the deadline: the device is degraded, the other devices are read
    under a fresh lock, and periodic sampling goes on on a new thread."""
    clock = FakeClock()
    gpu = HangingSensor("gpu:0", [0.0])
    cpu = Sensor("cpu:0", [0.0])
    s = Sampler(clock=clock, discover=_discover(gpu, cpu), read_deadline_s=0.05)
    rec, slow = Recorder(), Recorder()
    s.subscribe(slow, ["cpu"], 3600.0)
    s.subscribe(rec, ["gpu", "cpu"], 0.005)
    try:
        _until(lambda: rec.after_ticks >= 2, "periodic ticks")
        gpu.hang(clock)
        clock.advance(1.0)  # the next tick reads
        _until(gpu.blocked.is_set, "the sampler thread blocked in the gpu read")
        stuck = gpu.threads[-1]
        assert stuck.name == "carbonsdk-sampler"
        reads = cpu.reads
        s.flush()
        assert [k for k, _ in rec.errors] == ["gpu:0"]
        assert cpu.reads > reads  # the flush read the healthy device
        ticks = rec.after_ticks
        _until(lambda: rec.after_ticks >= ticks + 3, "periodic ticks on a new thread")
        assert stuck.is_alive() and s.running
        ours = [t for t in threading.enumerate() if t.name.startswith("carbonsdk")]
        assert all(t.daemon for t in ours)
        s.unsubscribe(rec)  # the slow run alone is left: the next wake is an hour away
    finally:
        gpu.gate.set()
    # its read returned (discarded): the replaced thread exits at once, not after an hour,
    # and leaves the thread that replaced it in charge
    _until(lambda: not stuck.is_alive(), "the replaced sampler thread exits")
    assert s.running
    s.unsubscribe(slow)
    _until(lambda: not s.running, "the sampler thread stops after the last run")
    s.close()


def test_a_tick_while_another_threads_read_hangs_is_bounded() -> None:
    """Without a sampler thread too: a tick that finds another thread's read hung past the
    deadline degrades that device and delivers the others instead of waiting for it."""
    clock = FakeClock()
    gpu = HangingSensor("gpu:0", [0.0])
    cpu = Sensor("cpu:0", [2.0])
    s = _sampler(clock, gpu, cpu, read_deadline_s=0.05)
    rec = Recorder()
    s.subscribe(rec, ["gpu", "cpu"], 60.0)
    first = threading.Thread(target=s.tick)
    second = threading.Thread(target=s.tick)
    try:
        clock.advance(1.0)
        gpu.hang(clock)
        first.start()
        _until(gpu.blocked.is_set, "the first tick blocked in the gpu read")
        second.start()
        second.join(WAIT_S)
        assert not second.is_alive()
        assert [k for k, _ in rec.errors] == ["gpu:0"]
        assert rec.energy() == [{"cpu:0": 2.0}]
    finally:
        gpu.gate.set()
    first.join(WAIT_S)
    assert rec.energy() == [{"cpu:0": 2.0}]  # the hung tick's late batch is discarded
    s.close()


def test_no_time_passed_no_read() -> None:
    """A read at the same instant as the previous one reads no sensor and delivers nothing
    (a zero-length interval)."""
    clock = FakeClock()
    cpu = Sensor("cpu:0", [1.0, 2.0])
    s = _sampler(clock, cpu)
    rec = Recorder()
    s.subscribe(rec, ["cpu"], 60.0)
    clock.advance(1.0)
    s.tick()
    reads = cpu.reads
    s.tick()
    s.flush()
    assert cpu.reads == reads
    assert rec.energy() == [{"cpu:0": 1.0}]
    assert rec.after_ticks == 2  # the periodic work still runs
    s.close()


def test_a_second_run_joins_the_running_sampler_thread() -> None:
    clock = FakeClock()
    s = Sampler(clock=clock, discover=_discover(Sensor("cpu:0")))
    a, b = Recorder(), Recorder()

    def samplers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "carbonsdk-sampler"]

    before = set(samplers())
    s.subscribe(a, ["cpu"], 3600.0)
    first = [t for t in samplers() if t not in before]
    s.subscribe(b, ["cpu"], 3600.0)
    assert [t for t in samplers() if t not in before] == first and len(first) == 1
    s.unsubscribe(a)
    s.unsubscribe(b)
    _until(lambda: not s.running, "the sampler thread stops after the last run")
    s.close()


def test_a_read_waiting_for_another_read_delivers_after_it() -> None:
    """Reads are serialised: a flush that arrives while a tick is reading waits for it (within
    the deadline, not hung) and then delivers its own interval after the tick's."""
    clock = FakeClock()
    cpu = HangingSensor("cpu:0", [1.0, 3.0, 6.0])
    s = Sampler(clock=clock, discover=_discover(cpu), read_deadline_s=30.0)
    rec = Recorder()
    s.subscribe(rec, ["cpu"], 3600.0)
    clock.advance(1.0)
    cpu.hang(None)  # blocks, but the clock stands still: slow, not hung
    ticker = threading.Thread(target=s.tick)
    flusher = threading.Thread(target=s.flush)
    try:
        ticker.start()
        _until(cpu.blocked.is_set, "the tick blocked in its read")
        flusher.start()
        _until(
            lambda: _waiting_in("carbonsdk-read", "_acquire_read"),
            "the flush's read waits for the read lock",
        )
        clock.advance(1.0)
    finally:
        cpu.gate.set()
    ticker.join(WAIT_S)
    flusher.join(WAIT_S)
    assert not ticker.is_alive() and not flusher.is_alive()
    assert rec.energy() == [{"cpu:0": 1.0}, {"cpu:0": 2.0}]
    assert rec.errors == []
    ends = [e for _, e, _ in rec.intervals]
    assert ends[1] - ends[0] == 1.0
    s.unsubscribe(rec)
    s.close()


def test_thread_cpu_time_adds_up_over_thread_lifetimes() -> None:
    """``thread_cpu_s`` is the sum over every lifetime of the sampler thread: a second, idle
    lifetime adds to the first, busy one rather than replacing it."""
    clock = FakeClock()
    s = Sampler(clock=clock, discover=_discover(Sensor("cpu:0")))

    class Busy(Recorder):
        def after_tick(self) -> None:
            super().after_tick()
            t0 = time.thread_time()
            while time.thread_time() - t0 < 0.02:  # CPU the thread spends, not wall time
                pass

    busy = Busy()
    s.subscribe(busy, ["cpu"], 0.001)
    _until(lambda: busy.after_ticks >= 3, "a few busy ticks")
    s.unsubscribe(busy)
    _until(lambda: not s.running, "the first thread exits")
    first = s.thread_cpu_s
    assert first >= 0.06
    idle = Recorder()
    s.subscribe(idle, ["cpu"], 3600.0)
    s.unsubscribe(idle)
    _until(lambda: not s.running, "the second thread exits")
    assert first <= s.thread_cpu_s < first + 0.05
    assert s.thread_cpu_s <= time.process_time()
    s.close()
