"""The one background sampler of a process.

One daemon thread reads every open sensor each ``interval_s`` (the smallest interval of the
open runs) and hands each subscriber (a live run) the energy of every device over the interval
since the previous read. Runs share it: nested runs, runs in several threads. It starts lazily on
the first subscription, reads once more when a run starts or ends (so a run's first and last
intervals are exact; those reads run on one persistent reader thread, so that a hung sensor
cannot block the user's thread), and stops as soon as the last run ends. It is fork-safe: a
forked child (a DataLoader worker, say) starts with a fresh, idle sampler and no subscribers, so
nothing is counted twice. Faults in a sensor degrade that device; faults in a subscriber are
logged; the thread never raises into the host program.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from carbonsdk.clock import SYSTEM_CLOCK, Clock, Timebase
from carbonsdk.model.device import DeviceInfo

if TYPE_CHECKING:
    from carbonsdk.sensors import SensorEnvironment
    from carbonsdk.sensors.base import EnergySensor

log = logging.getLogger("carbonsdk")

#: a sensor read that has not returned after this many seconds is hung: the device is degraded
#: (NVML calls do hang when a GPU falls off the bus) and the run goes on without it
READ_DEADLINE_S = 1.0
#: no single device (a GPU, a CPU package, a host's DRAM) draws more than this; an energy jump
#: implying more is a glitch, dropped from its interval and flagged ``device-glitch:KEY``
DEFAULT_MAX_DEVICE_POWER_W = 10_000.0
#: the plausibility bound allows at least this long a span per delta (counters update in steps)
_MIN_PLAUSIBILITY_SPAN_S = 1.0


class Subscriber(Protocol):
    """A consumer of sampled energy (a live run)."""

    def on_interval(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Energy per device key (J) over ``[start_s, end_s)`` (UTC epoch seconds). Called with
        the sampler's lock held: must be cheap and must not call back into the sampler."""

    def on_device_error(self, key: str, message: str) -> None:
        """Device ``key`` failed; its energy is no longer reported."""

    def after_tick(self) -> None:
        """Called from the sampler thread after each periodic read, without the lock: the place
        for slower work (checkpoints, live display). Must never block for long."""


@attrs.frozen
class Subscription:
    """What a subscriber gets: its start time (UTC epoch s), the devices of its components,
    components with no sensor (component -> reason), and discovery warnings."""

    start_s: float
    devices: tuple[DeviceInfo, ...]
    not_measured: Mapping[str, str]
    warnings: tuple[str, ...]


DiscoverFn = Callable[[Sequence[str], float], "DiscoveryLike"]


class DiscoveryLike(Protocol):
    """The shape of :class:`carbonsdk.sensors.Discovery`."""

    @property
    def sensors(self) -> tuple[EnergySensor, ...]: ...

    @property
    def not_measured(self) -> Mapping[str, str]: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...


class _Doorbell:
    """A wake-up for the sampler thread: :meth:`wait` sleeps up to a timeout unless
    :meth:`ring` was called (since the last wait). A plain lock, cheaper per wait than
    :class:`threading.Event` (which allocates a waiter lock each time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def ring(self) -> None:
        """Wake the waiter (or make its next wait return at once)."""
        with contextlib.suppress(RuntimeError):  # already rung
            self._lock.release()

    def wait(self, timeout_s: float) -> bool:
        """True when rung (the ring is consumed), False after ``timeout_s`` seconds."""
        return self._lock.acquire(timeout=timeout_s)


#: a reader thread with nothing to do for this many seconds exits (the next read starts one)
READER_IDLE_S = 5.0


class _Reader:
    """One persistent thread that runs ``work`` (a sensor read) for the threads that ask with
    :meth:`request`, instead of a new thread per read. Requests that arrive before a read starts
    share it (the read starts after each of them was made). A reader stuck in a hung read is
    :meth:`retire`-d: later requests go to a fresh thread, and the stuck one exits once its read
    returns. The thread exits after :data:`READER_IDLE_S` seconds without requests."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._bell = _Doorbell()
        self._pending: list[threading.Event] = []
        self._thread: threading.Thread | None = None

    def request(self) -> threading.Event:
        """Ask for a read; the returned event is set once a read that started after this call
        has finished (or failed: failures are logged)."""
        done = threading.Event()
        with self._lock:
            self._pending.append(done)
            thread = self._thread
            if thread is None or not thread.is_alive():  # none yet, idle-exited, or forked
                self._start_locked()
            self._bell.ring()
        return done

    def retire(self) -> None:
        """The current thread takes no more requests (it is stuck in a hung read, or the sampler
        is closing); pending and later requests go to a new thread."""
        with self._lock:
            old = self._bell
            self._thread = None
            if self._pending:
                self._start_locked()
        old.ring()  # an idle retired thread exits now

    def _start_locked(self) -> None:
        bell = self._bell = _Doorbell()
        thread = threading.Thread(
            target=self._loop, args=(bell,), name="carbonsdk-read", daemon=True
        )
        self._thread = thread
        thread.start()

    def _loop(self, bell: _Doorbell) -> None:
        me = threading.current_thread()
        while True:
            rung = bell.wait(READER_IDLE_S)
            with self._lock:
                if self._thread is not me:
                    return
                batch, self._pending = self._pending, []
                if not batch:
                    if not rung:  # idle: exit (the next request starts a new thread)
                        self._thread = None
                        return
                    continue
            try:
                self._work()
            except Exception:
                log.exception("carbonsdk: sensor read failed")
            finally:
                for done in batch:
                    done.set()


class Sampler:
    """Reads sensors on one thread (or, with ``threaded=False``, only when :meth:`tick` is
    called: tests drive it with a fake clock).

    ``environment``: where sensors come from (:class:`carbonsdk.sensors.SensorEnvironment`;
    None: the real hardware, built on first use). ``discover``: how sensors are found (default:
    :func:`carbonsdk.sensors.discover` over ``environment``). Process attribution reads the
    per-process side of the same environment (:attr:`environment`).
    """

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        discover: DiscoverFn | None = None,
        threaded: bool = True,
        environment: SensorEnvironment | None = None,
        read_deadline_s: float = READ_DEADLINE_S,
    ) -> None:
        self.clock = clock
        self.threaded = threaded
        self.read_deadline_s = read_deadline_s
        #: serialises batches of sensor reads; replaced (not released) when a read hangs
        self._read_lock = threading.Lock()
        self._read_gen = 0
        #: the read in progress: (generation, device key, monotonic start, reading thread)
        self._reading: tuple[int, str, float, threading.Thread] | None = None
        self._environment = environment
        self._discover: DiscoverFn = discover if discover is not None else self._default_discover
        self._lock = threading.RLock()
        self._doorbell = _Doorbell()
        self._timebase = Timebase(clock)
        self._sensors: dict[str, EnergySensor] = {}
        self._last_j: dict[str, float] = {}
        self._failed: dict[str, str] = {}
        self._discovered: set[str] = set()
        self._not_measured: dict[str, str] = {}
        self._warnings: list[str] = []
        self._subs: dict[int, tuple[Subscriber, frozenset[str], float]] = {}
        # what the hot path reads, rebuilt (under the lock) when the subscribers or sensors change
        #: the subscribers, in subscription order
        self._sub_list: tuple[Subscriber, ...] = ()
        #: the smallest interval of the subscribers, s (None: none)
        self._interval_s: float | None = None
        #: (device key, sensor) of the sensors not failed, in opening order
        self._todo: tuple[tuple[str, EnergySensor], ...] = ()
        #: device key -> plausibility bound, W
        self._max_power_w: dict[str, float] = {}
        self._last_mono = clock.monotonic()
        self._thread: threading.Thread | None = None
        self._reader = _Reader(self._read_batch)
        #: intervals delivered by this process's sampler
        self.ticks = 0
        #: CPU seconds the background thread has used (all its lifetimes, in this process), for
        #: overhead reports
        self.thread_cpu_s = 0.0

    # -- public -----------------------------------------------------------------------------

    @property
    def environment(self) -> SensorEnvironment:
        """The sensor environment (the real hardware unless one was given; built on first use,
        so that importing carbonsdk reads no hardware)."""
        env = self._environment
        if env is None:
            from carbonsdk.sensors import SensorEnvironment

            env = self._environment = SensorEnvironment()
        return env

    def _default_discover(self, components: Sequence[str], mono_s: float) -> DiscoveryLike:
        from carbonsdk.sensors import discover

        return discover(components, self.environment, mono_s)

    def now_s(self) -> float:
        """UTC epoch seconds now on the sampler's timebase."""
        return self._timebase.now_epoch_s()

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        t = self._thread
        return t is not None and t.is_alive()

    def subscribe(
        self, sub: Subscriber, components: Sequence[str], interval_s: float
    ) -> Subscription:
        """Start delivering energy of ``components`` to ``sub`` every ``interval_s`` seconds."""
        self._read_now()  # close the interval of runs already open
        with self._lock:
            self._ensure(components)
            self._subs[id(sub)] = (sub, frozenset(components), interval_s)
            self._subs_changed_locked()
            devices = tuple(
                s.info for k, s in self._sensors.items() if s.info.component in components
            )
            sub_state = Subscription(
                start_s=self._timebase.epoch_s(self._last_mono),
                devices=devices,
                not_measured={c: r for c, r in self._not_measured.items() if c in components},
                warnings=tuple(self._warnings),
            )
            for key, msg in self._failed.items():
                if self._sensors[key].info.component in components:
                    sub.on_device_error(key, msg)
            if self.threaded and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._loop, name="carbonsdk-sampler", daemon=True
                )
                self._thread.start()
            else:
                self._doorbell.ring()  # a shorter interval takes effect now
        return sub_state

    def unsubscribe(self, sub: Subscriber) -> float:
        """Stop delivering to ``sub`` after a last read; returns the end time (UTC epoch s).
        Bounded: a hung sensor read delays it by at most about twice the read deadline."""
        self._read_now()
        with self._lock:
            self._subs.pop(id(sub), None)
            self._subs_changed_locked()
            end_s = self._timebase.epoch_s(self._last_mono)
            self._doorbell.ring()
        return end_s

    def tick(self) -> None:
        """Read every sensor now, deliver the interval since the previous read, then let each
        subscriber do its periodic work (checkpoints, live display) outside the lock."""
        self._read_batch()
        for sub in self._sub_list:  # a snapshot: replaced, never changed in place
            try:
                sub.after_tick()
            except Exception:
                log.exception("carbonsdk: periodic run work failed")

    def flush(self) -> None:
        """Read every sensor now and deliver the interval since the previous read (no periodic
        work): a mark then sees the energy up to its own time. Bounded like :meth:`unsubscribe`."""
        self._read_now()

    def close(self) -> None:
        """Stop the thread (bounded: at most ~1 s wait) and close all sensors."""
        with self._lock:
            self._subs.clear()
            self._subs_changed_locked()
            self._doorbell.ring()
            thread = self._thread
        self._reader.retire()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with self._lock:
            for sensor in self._sensors.values():
                try:
                    sensor.close()
                except Exception:
                    log.debug("closing sensor failed", exc_info=True)
            self._sensors.clear()
            self._sensors_changed_locked()
            self._max_power_w.clear()
            self._last_j.clear()
            self._discovered.clear()

    # -- internals --------------------------------------------------------------------------

    def _subs_changed_locked(self) -> None:
        subs = self._subs.values()
        self._sub_list = tuple(s for s, _, _ in subs)
        self._interval_s = min(i for _, _, i in subs) if subs else None

    def _sensors_changed_locked(self) -> None:
        failed = self._failed
        self._todo = tuple((k, s) for k, s in self._sensors.items() if k not in failed)

    def _ensure(self, components: Sequence[str]) -> None:
        missing = [c for c in components if c not in self._discovered]
        if not missing:
            return
        mono = self.clock.monotonic()
        try:
            found = self._discover(missing, mono)
        except Exception as exc:  # noqa: BLE001 - a sensor or subscriber fault degrades, never crashes
            log.warning("carbonsdk: sensor discovery failed: %s", exc)
            for c in missing:
                self._not_measured[c] = f"sensor discovery failed: {exc}"
                self._discovered.add(c)
            return
        for sensor in found.sensors:
            key = sensor.info.key
            if key in self._sensors:
                continue
            self._sensors[key] = sensor
            self._last_j[key] = 0.0
            self._max_power_w[key] = sensor.info.max_power_w or DEFAULT_MAX_DEVICE_POWER_W
        self._sensors_changed_locked()
        for c, reason in found.not_measured.items():
            self._not_measured[c] = reason
        for w in found.warnings:
            if w not in self._warnings:
                self._warnings.append(w)
                log.warning("carbonsdk: %s", w)
        self._discovered.update(missing)

    def _read_now(self) -> None:
        """A read from the user's thread (a run starting, ending or marking): on a threaded
        sampler it runs on the reader thread, so a hung sensor cannot block the caller for
        more than the read deadline (twice, if the first batch had to drop a hung device)."""
        if not self.threaded:
            self._read_batch()
            return
        for _attempt in range(2):
            if self._reader.request().wait(self.read_deadline_s * 2):
                return
            self._declare_hung()
            self._reader.retire()  # it may be the one stuck: the next attempt gets a new one

    def _acquire_read(self) -> tuple[threading.Lock, int] | None:
        """The read lock and its generation, waiting at most the read deadline per holder; a
        holder stuck in a read past the deadline is declared hung."""
        for _attempt in range(3):
            lock = self._read_lock
            if lock.acquire(timeout=self.read_deadline_s):
                if lock is self._read_lock:
                    return lock, self._read_gen
                lock.release()  # replaced while we waited: take the new one
                continue
            self._declare_hung()
        return None

    def _declare_hung(self) -> None:
        """The read in progress has not returned within the deadline: degrade its device, and
        give the other devices a fresh read lock (the hung thread's results are discarded)."""
        with self._lock:
            reading = self._reading
            if reading is None:
                return
            gen, key, since, reader = reading
            if gen != self._read_gen or self.clock.monotonic() - since < self.read_deadline_s:
                return
            self._read_gen += 1
            self._read_lock = threading.Lock()
            self._reading = None
            sensor = self._sensors.get(key)
            name = sensor.info.name if sensor is not None else key
            self._degrade_locked(
                key, f"{name}: a read did not return within {self.read_deadline_s:g} s (hung)"
            )
            if reader is self._thread:
                # the sampler thread is the one stuck in the read: a new one takes over
                self._thread = None
                if self._subs:
                    self._thread = threading.Thread(
                        target=self._loop, name="carbonsdk-sampler", daemon=True
                    )
                    self._thread.start()

    def _degrade_locked(self, key: str, message: str) -> None:
        if key in self._failed:
            return
        self._failed[key] = message
        self._sensors_changed_locked()
        log.warning("carbonsdk: %s stopped reporting, degraded: %s", key, message)
        sensor = self._sensors.get(key)
        component = sensor.info.component if sensor is not None else None
        for sub, comps, _ in list(self._subs.values()):
            if component in comps:
                try:
                    sub.on_device_error(key, message)
                except Exception:
                    log.exception("carbonsdk: subscriber failed")

    def _read_batch(self) -> None:
        """Read every sensor (serialised; sensor calls outside the state lock, with the read in
        progress recorded so a hang can be detected), then deliver the interval."""
        lock = self._read_lock
        held: tuple[threading.Lock, int] | None
        if not lock.acquire(False):  # held: wait for it (bounded)
            held = self._acquire_read()
        elif lock is not self._read_lock:  # replaced (a hang) just now: take the new one
            lock.release()
            held = self._acquire_read()
        else:  # uncontended: the common case
            held = lock, self._read_gen
        if held is None:
            log.warning("carbonsdk: sensors unreadable (reads keep hanging); interval skipped")
            return
        lock, gen = held
        try:
            # no state lock needed here: the sensor tuple is replaced (under it), never changed
            # in place, and the interval is checked again under it before delivery. The time
            # first, then the sensors: every read of this batch is taken at or after ``mono``
            todo = self._todo
            mono = self.clock.monotonic()
            if mono <= self._last_mono:
                return
            values: dict[str, float] = {}
            errors: dict[str, BaseException] | None = None  # made on the first failure only
            me = threading.current_thread()
            monotonic = self.clock.monotonic
            for key, sensor in todo:
                self._reading = (gen, key, monotonic(), me)
                try:
                    values[key] = sensor.read_energy_j(mono)
                except Exception as exc:  # noqa: BLE001 - a sensor or subscriber fault degrades, never crashes
                    if errors is None:
                        errors = {}
                    errors[key] = exc
                finally:
                    self._reading = None
                if gen != self._read_gen:
                    return  # declared hung while we were stuck: discard everything
            with self._lock:
                # a batch of the current generation holds the read lock throughout, so no other
                # batch delivered since the time check above; a hang declared meanwhile has not
                if gen != self._read_gen:
                    return
                self._deliver_locked(mono, values, errors)
        finally:
            lock.release()

    def _deliver_locked(
        self,
        mono: float,
        values: Mapping[str, float],
        errors: Mapping[str, BaseException] | None,
    ) -> None:
        last_mono = self._last_mono
        span_s = mono - last_mono
        if span_s < _MIN_PLAUSIBILITY_SPAN_S:
            span_s = _MIN_PLAUSIBILITY_SPAN_S
        deltas: dict[str, float] = {}
        glitches: dict[str, str] | None = None
        if errors:
            self._degrade_errors_locked(errors)
        # ``values`` holds only devices that were not failed when the batch began and that read
        # without an error; a device degraded since then was degraded by a hang, which changed
        # the generation and discarded this batch before delivery
        last_j, max_w_of = self._last_j, self._max_power_w
        isfinite = math.isfinite
        for key, value in values.items():
            if not isfinite(value):
                if glitches is None:
                    glitches = {}
                glitches[key] = f"non-finite energy reading {value!r}"
                continue  # keep the last good baseline
            delta = value - last_j[key]
            last_j[key] = value
            max_w = max_w_of.get(key, DEFAULT_MAX_DEVICE_POWER_W)
            if delta > max_w * span_s:
                if glitches is None:
                    glitches = {}
                glitches[key] = (
                    f"energy jump of {delta:.3g} J in {mono - last_mono:.3g} s "
                    f"implies more than {max_w:g} W: dropped"
                )
                continue
            deltas[key] = delta if delta > 0 else 0.0
        timebase = self._timebase  # Timebase.epoch_s, inlined (the same arithmetic)
        start_s = timebase.anchor_epoch_s + (last_mono - timebase.anchor_mono_s)
        end_s = timebase.anchor_epoch_s + (mono - timebase.anchor_mono_s)
        self._last_mono = mono
        self.ticks += 1
        if glitches:
            self._deliver_glitched_locked(start_s, end_s, deltas, glitches)
            return
        for sub in self._sub_list:
            try:
                sub.on_interval(start_s, end_s, deltas)
            except Exception:
                log.exception("carbonsdk: subscriber failed")

    def _degrade_errors_locked(self, errors: Mapping[str, BaseException]) -> None:
        for key, exc in errors.items():
            sensor = self._sensors.get(key)
            name = sensor.info.name if sensor is not None else key
            self._degrade_locked(key, f"{name}: {exc}")

    def _deliver_glitched_locked(
        self, start_s: float, end_s: float, deltas: Mapping[str, float], glitches: dict[str, str]
    ) -> None:
        """Delivery of an interval in which some devices glitched: logged, and told to each
        subscriber that listens (``on_device_glitch``) after its interval."""
        for key, message in glitches.items():
            log.warning("carbonsdk: %s: %s", key, message)
        for sub in self._sub_list:
            try:
                sub.on_interval(start_s, end_s, deltas)
                on_glitch = getattr(sub, "on_device_glitch", None)
                if on_glitch is not None:
                    for key, message in glitches.items():
                        on_glitch(key, message)
            except Exception:
                log.exception("carbonsdk: subscriber failed")

    def _loop(self) -> None:
        me = threading.current_thread()
        cpu0 = time.thread_time()
        try:
            self._loop_body(me)
        finally:
            self.thread_cpu_s += time.thread_time() - cpu0

    def _loop_body(self, me: threading.Thread) -> None:
        while True:
            interval = self._interval_s
            if interval is None or self._thread is not me:
                # maybe the end: decide under the lock (a subscribe either sees this thread
                # gone and starts another, or is seen here)
                with self._lock:
                    interval = self._interval_s
                    if interval is None or self._thread is not me:
                        if self._thread is me:
                            self._thread = None
                        return
            if self._doorbell.wait(interval):
                continue  # subscriptions changed: recompute the interval (or exit)
            if self._thread is not me:
                return
            try:
                self.tick()
            except Exception:
                log.exception("carbonsdk: sampler tick failed")

    def _reset_after_fork(self) -> None:
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._read_gen = 0
        self._reading = None
        self._doorbell = _Doorbell()
        self._reader = _Reader(self._read_batch)
        self._subs = {}
        self._sub_list = ()
        self._interval_s = None
        self._thread = None
        self._sensors = {}
        self._todo = ()
        self._max_power_w = {}
        self._last_j = {}
        self._failed = {}
        self._discovered = set()
        self._not_measured = {}
        self._warnings = []
        self._last_mono = self.clock.monotonic()
        self.ticks = 0  # the child's own: the parent's intervals and thread CPU are not its
        self.thread_cpu_s = 0.0


_global: Sampler | None = None
_global_lock = threading.Lock()


def get_sampler() -> Sampler:
    """The process-wide sampler (created lazily)."""
    global _global
    with _global_lock:
        if _global is None:
            _global = Sampler()
        return _global


def set_sampler(sampler: Sampler | None) -> Sampler | None:
    """Replace the process-wide sampler (for tests and :mod:`carbonsdk.testing`); returns the
    previous one. The previous one is not closed."""
    global _global
    with _global_lock:
        previous, _global = _global, sampler
        return previous


def _after_fork_in_child() -> None:
    global _global, _global_lock
    _global_lock = threading.Lock()
    if _global is not None:
        _global._reset_after_fork()
    nvml = sys.modules.get("carbonsdk.sensors.nvml")  # only if this process ever used NVML
    reset = getattr(nvml, "reset_after_fork", None)
    if reset is not None:
        with contextlib.suppress(Exception):
            reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
