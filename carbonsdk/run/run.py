"""The :class:`Run` coordinator: its state, the sampler subscription, marks, the timeline and the
extension loop.

What it delegates, one file each: the region and intensity (:mod:`~carbonsdk.run.resolve`), the
devices and their tallies behind the live read-outs (:mod:`~carbonsdk.run.devices`), nested runs
(:mod:`~carbonsdk.run.nesting`), who the run is and its own flags
(:mod:`~carbonsdk.run.identity`), the result (:mod:`~carbonsdk.run.result_builder`), SIGTERM
(:mod:`~carbonsdk.run.signals`), and everything else (checkpoints and the ledger record, the
live panel, attribution, pausing, gather, sinks, the report) to its extensions
(:class:`~carbonsdk.run.extension.RunExtension`), each hook called through
:func:`~carbonsdk.run._guard.guard`. Nothing the SDK does at the end of a run can replace the
user's own exception or crash their program: SDK faults are logged and flagged.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.run import signals
from carbonsdk.run._guard import guard
from carbonsdk.run.options import MAX_MARKS, RunOptions, validate_mark

# what only a started or ending run needs is imported then, so `import carbonsdk` stays cheap
if TYPE_CHECKING:
    from carbonsdk.distributed import Launch
    from carbonsdk.ledger import LedgerWriter
    from carbonsdk.model.device import DeviceInfo
    from carbonsdk.model.intensity import IntensitySeries
    from carbonsdk.model.region import Region
    from carbonsdk.model.result import Mark, RunResult
    from carbonsdk.run.extension import RunExtension
    from carbonsdk.run.extensions.pausing import PausingExtension
    from carbonsdk.run.resolve import Pricing
    from carbonsdk.sampler import Sampler
    from carbonsdk.timeline import TimelineBuilder

#: launch warnings already logged by this process
_launch_warned: set[str] = set()


class RunState(enum.Enum):
    """A run is entered once, measures while running, and is done after exit."""

    NEW = "new"
    RUNNING = "running"
    DONE = "done"


class Run:
    """A measured block, returned by :func:`carbonsdk.measure`. Live while inside:
    :attr:`energy_kwh`, :attr:`elapsed_s`, :attr:`emissions_g`; after exit: :attr:`result` (a
    frozen :class:`RunResult`, also :meth:`require_result`)."""

    def __init__(self, options: RunOptions, *, sampler: Sampler | None = None) -> None:
        from carbonsdk.distributed import detect_launch, role_for
        from carbonsdk.run.devices import Metering
        from carbonsdk.run.identity import script_name
        from carbonsdk.run.resolve import Resolver

        self.options = options
        self.name = options.name or script_name()
        self.run_id = uuid.uuid4().hex
        self.result: RunResult | None = None
        self.parent: Run | None = None  #: the enclosing run (same thread or task), or None
        self.launch: Launch = detect_launch()
        self.role: str = role_for(self.launch, per_rank=options.per_rank)
        self.job_result: Any = None  #: ``gather=True``: the job's result on global rank 0
        self.flags: list[str] = []  #: the run's own flags (signals, failed extensions, ...)
        self.ledger_writer: LedgerWriter | None = None  #: set by the ledger extension
        self.gather_failed = False  #: ``gather=True`` could not build the job result here
        self.resolver = Resolver()  #: the run's region and intensity provider
        self.extensions: list[RunExtension] = []
        self.sampler: Sampler | None = None
        self.start_s = 0.0
        self.lock = threading.Lock()
        self.devices: tuple[DeviceInfo, ...] = ()
        self.timeline: TimelineBuilder | None = None
        self.report_enabled = bool(options.report) if options.report is not None else True
        self.pid = os.getpid()  #: the creating process (a forked child never records the run)
        self.pausing: PausingExtension | None = None  #: made by the first :meth:`should_pause`
        self.marks_dropped = 0  #: marks beyond :data:`~carbonsdk.run.options.MAX_MARKS`
        self._sampler_override = sampler
        self._state = RunState.NEW
        self._meter = Metering((), (), {}, 0.0)  # empty until enter: counts nothing
        self._interval_exts: tuple[RunExtension, ...] = ()
        self._marks: list[Mark] = []
        self._signals: signals.Watch | None = None
        self._context_token: contextvars.Token[Run | None] | None = None

    @property
    def running(self) -> bool:
        """True between enter and exit."""
        return self._state is RunState.RUNNING

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started (final duration after it ended)."""
        if self.result is not None:
            return self.result.duration_s
        return 0.0 if self.sampler is None else max(0.0, self.sampler.now_s() - self.start_s)

    @property
    def energy_kwh(self) -> float:
        """Energy measured so far, kWh (all measured components; up to the last sample)."""
        if self.result is not None:
            return self.result.energy_kwh
        with self.lock:
            return self._meter.energy_kwh()

    @property
    def last_power_w(self) -> float:
        """Power over the last measured interval, W (all measured components)."""
        return self._meter.last_power_w

    @property
    def emissions_g(self) -> float:
        """Emissions so far, g CO2eq (PUE included), with the local intensity (the run's provider
        when it never touches the network, else the embedded data; an unknown region: the
        flagged world average). After exit: ``result.emissions_g``, the final figure."""
        if self.result is not None:
            return self.result.emissions_g
        with self.lock:
            energy = self._meter.so_far()
        return self.resolver.live_emissions_g(energy, self.start_s, pue=self.options.pue)

    @property
    def region(self) -> Region:
        """The run's region as known now (detection may still be in flight)."""
        return self.result.region if self.result is not None else self.resolver.region

    def should_pause(
        self,
        *,
        duration: Any = None,
        max_extension: Any = 1.0,
        forecast: IntensitySeries | None = None,
        margin_s: float = 60.0,
        block: bool = False,
    ) -> bool:
        """True while the grid is dirtier than the run can afford to wait out (online Pause and
        Resume). The first call sets the policy: ``duration``, the expected running time of the
        whole run (timedelta, ``"6h"`` or seconds; required); ``max_extension``, how much longer
        it may take (timedelta, ``"3h"``, or a fraction of ``duration``); ``forecast``, the
        intensity ahead (default: the provider's forecast where it has one, else the embedded
        data). It never pauses once the remaining work could no longer finish by ``start +
        duration + extension`` with ``margin_s`` seconds to spare. Pauses are in
        ``result.pauses``; ``block=True`` sleeps until the policy says run, then returns False."""
        from carbonsdk.run.extensions.pausing import extension_of

        return extension_of(self).should_pause(duration, max_extension, forecast, margin_s, block)

    def mark(self, label: str, **data: Any) -> Mark | None:
        """Mark a point of the run (an epoch, a step): its time, the energy measured so far (kWh,
        read at the mark's own time) and ``data``, JSON scalars (str, int, float, bool, None).
        Beyond :data:`~carbonsdk.run.options.MAX_MARKS` marks, a mark is only counted (flag
        ``marks-dropped:N``) and None is returned."""
        validate_mark(label, data)
        if self._state is not RunState.RUNNING or self.sampler is None:
            raise RuntimeError("mark() is only meaningful inside a running measure()")
        if len(self._marks) >= MAX_MARKS:
            self.marks_dropped += 1
            return None
        if self.role != "observer":
            with guard("sensor read for a mark", level=logging.DEBUG):
                self.sampler.flush()  # the energy up to this very moment
        from carbonsdk.model.result import Mark

        at = to_datetime(self.sampler.now_s())
        mark = Mark(at=at, label=label, energy_kwh=self.energy_kwh, data=data)
        self._marks.append(mark)
        return mark

    @property
    def marks(self) -> tuple[Mark, ...]:
        """The marks so far (the final ones after exit)."""
        return self.result.marks if self.result is not None else tuple(self._marks)

    def require_result(self) -> RunResult:
        """The frozen :class:`RunResult`, typed without ``None``: raises ``RuntimeError`` when
        called before the block has exited (or if the SDK could not build the record)."""
        if self.result is None:
            raise RuntimeError(
                "run.require_result() is only available after the measure() block has exited"
                if self._state is not RunState.DONE
                else "the run's result could not be built (see the carbonsdk log)"
            )
        return self.result

    def __enter__(self) -> Run:
        if self._state is not RunState.NEW:
            raise RuntimeError(
                "a measure() block can be entered only once; call carbonsdk.measure() again"
            )
        from carbonsdk.run import devices, nesting
        from carbonsdk.run.extensions import extensions_for
        from carbonsdk.run.identity import warn_launch
        from carbonsdk.sampler import get_sampler

        self._state = RunState.RUNNING
        self._context_token, inherited = nesting.enter(self)
        self.resolver.start(self.options.region, self.options.intensity, inherited=inherited)
        sampler = self.sampler = self._sampler_override or get_sampler()
        warn_launch(self.launch, _launch_warned)
        try:
            meter = devices.start(self, sampler)
        except ConfigurationError:  # gpus= names a GPU this process cannot see
            self._state = RunState.DONE
            nesting.leave(self, self._context_token)
            raise
        with self.lock:
            self._meter, self.devices = meter, meter.devices
            self.timeline, self.start_s = meter.timeline, meter.start_s
        self.extensions = [*self.extensions, *extensions_for(self)]
        self._interval_exts = tuple(e for e in self.extensions if e.wants_intervals)
        for ext in self.extensions:
            with guard(f"{ext.name} start"):  # unavailable: logged, the run goes on without it
                ext.start(self)
        self._signals = signals.Watch()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state is not RunState.RUNNING:
            return
        from carbonsdk.run import devices, nesting
        from carbonsdk.run.extension import finish_guarded

        self._state = RunState.DONE
        nesting.leave(self, self._context_token)
        if os.getpid() != self.pid:
            return  # a forked child leaving an inherited block: the parent records the run
        assert self.sampler is not None and self._signals is not None
        end_s = devices.stop(self, self.sampler)
        status, error = self._signals.end(exc_type, exc, self.flags)
        for ext in self.extensions:
            with guard(f"{ext.name} before finish", flags=self.flags, flag=ext.flag):
                ext.before_finish(end_s)
        result: RunResult | None = None
        with guard("building the run record", level=logging.ERROR):
            with self.lock:  # an observer measured nothing: unpriced, no intensity lookup
                energy = None if self.role == "observer" else self._meter.timeline.snapshot()
            pricing = self.resolver.final(energy, self.start_s, end_s, pue=self.options.pue)
            result = self.build(status, end_s, pricing, error)
        if result is not None:
            for ext in self.extensions:  # an observer's result is only the observer's hooks'
                if ext.observer or self.role != "observer":
                    result = finish_guarded(ext, result)
            from carbonsdk.run.estimates import warn_estimates

            warn_estimates(result)
        self.result = result

    async def __aenter__(self) -> Run:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def on_interval(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Sampler callback: energy per device key (J) over ``[start_s, end_s)``."""
        with self.lock:
            self._meter.add(start_s, end_s, energy_j)
            for ext in self._interval_exts:
                ext.on_interval(start_s, end_s, energy_j)

    def on_device_error(self, key: str, message: str) -> None:
        """Sampler callback: device ``key`` is degraded."""
        with self.lock:
            self._meter.error(key, message)

    def on_device_glitch(self, key: str, message: str) -> None:
        """Sampler callback: an implausible reading of device ``key`` was dropped (counted)."""
        with self.lock:
            self._meter.glitch(key)

    def after_tick(self) -> None:
        """Sampler callback, outside its lock: the extensions' periodic work."""
        if os.getpid() != self.pid or self._state is not RunState.RUNNING:
            return
        now_s = self.sampler.now_s() if self.sampler else 0.0
        for ext in self.extensions:
            with guard(f"{ext.name} tick", level=logging.DEBUG):
                ext.after_tick(now_s)

    def build(self, status: str, end_s: float, pricing: Pricing, error: str | None) -> RunResult:
        """The run's result as of ``end_s`` (UTC epoch s), priced with ``pricing`` (a
        checkpoint's partial result: unpriced)."""
        from carbonsdk.run.identity import identity_of
        from carbonsdk.run.result_builder import build_result

        pauses = () if self.pausing is None else self.pausing.pauses(open_ok=True)
        with self.lock:
            measured = self._meter.measured(tuple(self._marks), pauses)
        return build_result(
            identity_of(self), measured, status=status, end_s=end_s, pricing=pricing, error=error
        )

    def __repr__(self) -> str:
        return f"<carbonsdk.Run {self.name!r} {self._state.value} id={self.run_id[:8]}>"
