"""The :class:`Run` coordinator: state, the sampler subscription, the timeline and marks.

Everything else a run does (checkpoints and the ledger record, the live panel, attribution,
pausing, gather, sinks, the report) is a :class:`~carbonsdk.run.extension.RunExtension`, called
through :func:`~carbonsdk.run._guard.guard`. Nothing the SDK does at the end of a run can
replace the user's own exception or crash their program: SDK faults are logged and flagged.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import math
import os
import threading
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.region import Region
from carbonsdk.model.units import J_PER_KWH
from carbonsdk.run import signals
from carbonsdk.run._guard import guard
from carbonsdk.run.options import MAX_MARKS, RunOptions

# what only a started or ending run needs is imported then, so `import carbonsdk` stays cheap
if TYPE_CHECKING:
    from carbonsdk.accounting import AlignedSeries
    from carbonsdk.distributed import Launch
    from carbonsdk.intensity.base import IntensityProvider
    from carbonsdk.ledger import LedgerWriter
    from carbonsdk.model.device import DeviceInfo
    from carbonsdk.model.intensity import IntensitySeries, IntensitySource
    from carbonsdk.model.result import JobInfo, Mark, RunResult
    from carbonsdk.region.lookup import RegionLookup
    from carbonsdk.run.extension import RunExtension
    from carbonsdk.run.extensions.pausing import PausingExtension
    from carbonsdk.run.result_builder import Identity, Measured
    from carbonsdk.sampler import Sampler
    from carbonsdk.timeline import TimelineBuilder

log = logging.getLogger("carbonsdk")

#: how long the end of a run may wait for a live intensity provider, seconds (a deadline for
#: the whole lookup)
PROVIDER_BUDGET_S = 5.0
#: how long the end of a run may wait for cloud-region detection still in flight, seconds
DETECTION_BUDGET_S = 1.0

#: the innermost open run of this thread / task (a new run started inside it is nested)
_current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "carbonsdk_current_run", default=None
)
#: launch warnings already logged by this process
_launch_warned: set[str] = set()


class RunState(enum.Enum):
    """A run is entered once, measures while running, and is done after exit."""

    NEW = "new"
    RUNNING = "running"
    DONE = "done"


def _script_name() -> str:
    import sys
    from pathlib import Path

    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return "python" if argv0 in ("", "-c", "-") else Path(argv0).name


class Run:
    """A measured block, returned by :func:`carbonsdk.measure`. Live while inside:
    :attr:`energy_kwh`, :attr:`elapsed_s`, :attr:`emissions_g`; after exit: :attr:`result` (a
    frozen :class:`RunResult`, also :meth:`require_result`)."""

    def __init__(self, options: RunOptions, *, sampler: Sampler | None = None) -> None:
        from carbonsdk.distributed import detect_launch, role_for

        self.options = options
        self.name = options.name or _script_name()
        self.run_id = uuid.uuid4().hex
        self.result: RunResult | None = None
        #: the run this one was started in (same thread or task), None for a top-level run
        self.parent: Run | None = None
        self.launch: Launch = detect_launch()
        self.role: str = role_for(self.launch, per_rank=options.per_rank)
        #: with ``gather=True``, the job-level result on global rank 0 after exit
        self.job_result: Any = None
        #: the run's own flags (signals, failed extensions, dropped marks, ...)
        self.flags: list[str] = []
        #: the ledger writer of this run (set by the ledger extension), None without a ledger
        self.ledger_writer: LedgerWriter | None = None
        #: True when ``gather=True`` could not build the job result here (set by gather)
        self.gather_failed = False
        self.extensions: list[RunExtension] = []
        self.sampler: Sampler | None = None
        self.start_s = 0.0
        self.lock = threading.Lock()
        self.devices: tuple[DeviceInfo, ...] = ()
        self.timeline: TimelineBuilder | None = None
        self.report_enabled = bool(options.report) if options.report is not None else True
        self._sampler_override = sampler
        self._state = RunState.NEW
        self._pid = os.getpid()
        self._device_j: dict[str, float] = {}
        self._device_errors: dict[str, str] = {}
        self._glitches: dict[str, int] = {}
        self._not_measured: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._region_fixed: Region | None = None
        self._region_lookup: RegionLookup | None = None
        self._provisional: IntensitySeries | None = None
        #: the intensity series the final result was aligned with (for the extensions)
        self.final_series: IntensitySeries | None = None
        self._interval_exts: tuple[RunExtension, ...] = ()
        self._pausing: PausingExtension | None = None
        self._marks: list[Mark] = []
        self._marks_dropped = 0
        self._sigterm = False
        self._sigterm_seen = 0
        self._context_token: contextvars.Token[Run | None] | None = None
        self._last_power_w = 0.0
        self._warnings: tuple[str, ...] = ()

    # -- live properties ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between enter and exit."""
        return self._state is RunState.RUNNING

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started (final duration after it ended)."""
        if self.result is not None:
            return self.result.duration_s
        if self.sampler is None:
            return 0.0
        return max(0.0, self.sampler.now_s() - self.start_s)

    @property
    def energy_kwh(self) -> float:
        """Energy measured so far, kWh (all measured components; up to the last sample)."""
        if self.result is not None:
            return self.result.energy_kwh
        with self.lock:
            return 0.0 if self.timeline is None else self.timeline.total_j() / J_PER_KWH

    @property
    def last_power_w(self) -> float:
        """Power over the last measured interval, W (all measured components)."""
        return self._last_power_w

    @property
    def emissions_g(self) -> float:
        """Emissions so far, g CO2eq (PUE included): the energy measured so far aligned interval
        by interval with the grid intensity, from the run's provider when it is local (embedded
        data, a CSV, a constant) and else from the embedded data, so it never waits on the
        network; an unknown region uses the flagged world average. The final figure (with a
        live provider's values) is ``result.emissions_g``, which this returns after exit."""
        if self.result is not None:
            return self.result.emissions_g
        with self.lock:
            if self.timeline is None or not self.timeline.components:
                return 0.0
            energy = self.timeline.snapshot()
            end_s = self.timeline.end_s or self.start_s
        if end_s <= self.start_s:
            return 0.0
        from carbonsdk.accounting import align, extend_to_cover

        aligned: AlignedSeries | None = None
        with guard("live emissions", level=logging.DEBUG):
            series = self.provisional_series(self.region, end_s)
            aligned = align(
                energy, extend_to_cover(series, self.start_s, end_s), pue=self.options.pue
            )
        return 0.0 if aligned is None else aligned.total_emissions_g

    @property
    def region(self) -> Region:
        """The run's region as known now (detection may still be in flight)."""
        if self.result is not None:
            return self.result.region
        if self._region_fixed is not None:
            return self._region_fixed
        if self._region_lookup is not None:
            return self._region_lookup.region
        return Region.unknown()

    # -- pausing and marks ---------------------------------------------------------------------

    def should_pause(
        self,
        *,
        duration: Any = None,
        max_extension: Any = 1.0,
        forecast: IntensitySeries | None = None,
        margin_s: float = 60.0,
        block: bool = False,
    ) -> bool:
        """Online Pause and Resume (Dodge et al. 2022) for a training loop: True while the grid
        is dirtier than the run can afford to wait out.

        The first call configures the policy: ``duration`` is the expected running time of the
        whole run (timedelta, ``"6h"`` or seconds; required), ``max_extension`` how much longer
        it may take (timedelta, ``"3h"``, or a fraction of ``duration``: ``1.0`` = up to twice
        as long), ``forecast`` the intensity ahead (default: the run's provider forecast where
        it has one, else the embedded data for the run's region). It never pauses once the
        remaining work could no longer finish by ``start + duration + extension`` (with
        ``margin_s`` seconds to spare). Pauses are recorded in ``result.pauses`` and the ledger.
        With ``block=True`` it sleeps until the policy says run, then returns False.
        """
        if self._state is not RunState.RUNNING or self.sampler is None:
            raise RuntimeError("should_pause() is only meaningful inside a running measure()")
        if self._pausing is None:
            from carbonsdk.run.extensions.pausing import PausingExtension

            self._pausing = PausingExtension(self)
            self.extensions.insert(0, self._pausing)
        return self._pausing.should_pause(
            duration=duration,
            max_extension=max_extension,
            forecast=forecast,
            margin_s=margin_s,
            block=block,
        )

    def mark(self, label: str, **data: Any) -> Mark | None:
        """Mark a point of the run (an epoch, a step, an evaluation): stored in ``result.marks``
        and the ledger with the time and the energy measured so far (kWh, read from the sensors
        at the mark's own time). ``data``: JSON scalars (str, int, float, bool, None), e.g.
        ``run.mark("epoch", epoch=3, loss=0.41)``. A run keeps at most
        :data:`~carbonsdk.run.options.MAX_MARKS` marks; later ones are counted in a
        ``marks-dropped:N`` flag and return None."""
        if not isinstance(label, str) or not label.strip():
            raise ConfigurationError(
                f"mark label {label!r} is not valid: expected a non-empty string"
            )
        for key, value in data.items():
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise ConfigurationError(
                    f"mark data {key}={value!r} is not valid: expected str, int, float, bool or "
                    "None"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigurationError(
                    f"mark data {key}={value!r} is not valid: expected a finite number"
                )
        if self._state is not RunState.RUNNING or self.sampler is None:
            raise RuntimeError("mark() is only meaningful inside a running measure()")
        if len(self._marks) >= MAX_MARKS:
            self._marks_dropped += 1
            return None
        if self.role != "observer":
            with guard("sensor read for a mark", level=logging.DEBUG):
                self.sampler.flush()  # the energy up to this very moment
        from carbonsdk.model.result import Mark

        mark = Mark(
            at=to_datetime(self.sampler.now_s()), label=label, energy_kwh=self.energy_kwh, data=data
        )
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

    # -- context manager -----------------------------------------------------------------------

    def __enter__(self) -> Run:
        if self._state is not RunState.NEW:
            raise RuntimeError(
                "a measure() block can be entered only once; call carbonsdk.measure() again"
            )
        self._state = RunState.RUNNING
        self._adopt_parent(_current_run.get())
        self._context_token = _current_run.set(self)
        self._resolve_region_start()
        from carbonsdk.sampler import get_sampler

        sampler = self.sampler = self._sampler_override or get_sampler()
        for warning in self.launch.warnings:
            if warning not in _launch_warned:  # once per process, not per @tracked call
                _launch_warned.add(warning)
                log.warning("carbonsdk: %s", warning)
        if self.role == "observer":
            self._enter_observer(sampler)
        else:
            self._subscribe(sampler)
        from carbonsdk.run.extensions import extensions_for

        self.extensions = [*self.extensions, *extensions_for(self)]
        self._interval_exts = tuple(e for e in self.extensions if e.wants_intervals)
        for ext in self.extensions:
            with guard(f"{ext.name} start"):  # unavailable: logged, the run goes on without it
                ext.start(self)
        self._sigterm = signals.install()
        self._sigterm_seen = signals.sigterm_count()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state is not RunState.RUNNING:
            return
        self._state = RunState.DONE
        self._leave_context()
        if os.getpid() != self._pid:
            return  # a forked child leaving an inherited block: the parent records the run
        end_s = self._stop_measuring()
        if self._sigterm:
            signals.uninstall()
        status = signals.status_of(exc_type, exc)
        if signals.sigterm_count() != self._sigterm_seen:
            status = "interrupted"  # the program's own handler may have exited with code 0
            self.flags.append("signal:SIGTERM")
        error = signals.error_text(exc) if status == "failed" and exc is not None else None
        for ext in self.extensions:
            with guard(f"{ext.name} before finish", flags=self.flags, flag=ext.flag):
                ext.before_finish(end_s)
        result: RunResult | None = None
        with guard("building the run record", level=logging.ERROR):
            result = self._finish(status, end_s, error)
        if result is not None:
            for ext in self.extensions:
                result = self._finish_extension(ext, result)
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

    # -- sampler callbacks ---------------------------------------------------------------------

    def on_interval(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Sampler callback: energy per device key (J) over ``[start_s, end_s)``."""
        with self.lock:
            if self.timeline is None:
                return
            per_comp: dict[str, float] = {}
            keys = self._keys
            device_j = self._device_j
            for key, joules in energy_j.items():
                comp = keys.get(key)
                if comp is None:
                    continue
                device_j[key] += joules
                per_comp[comp] = per_comp.get(comp, 0.0) + joules
            self.timeline.add(start_s, end_s, per_comp)
            if end_s > start_s:
                self._last_power_w = sum(per_comp.values()) / (end_s - start_s)
            for ext in self._interval_exts:
                ext.on_interval(start_s, end_s, energy_j)

    def on_device_error(self, key: str, message: str) -> None:
        """Sampler callback: device ``key`` is degraded."""
        with self.lock:
            if key in self._keys:
                self._device_errors[key] = message

    def on_device_glitch(self, key: str, message: str) -> None:
        """Sampler callback: an implausible reading of device ``key`` (a counter jump beyond
        what the device can draw, a non-finite value) was dropped from its interval."""
        with self.lock:
            if key in self._keys:
                self._glitches[key] = self._glitches.get(key, 0) + 1

    def after_tick(self) -> None:
        """Sampler callback, outside its lock: the extensions' periodic work."""
        if os.getpid() != self._pid or self._state is not RunState.RUNNING:
            return
        now_s = self.sampler.now_s() if self.sampler else 0.0
        for ext in self.extensions:
            with guard(f"{ext.name} tick", level=logging.DEBUG):
                ext.after_tick(now_s)

    # -- what extensions read ------------------------------------------------------------------

    def provider(self) -> IntensityProvider:
        """The run's intensity provider (``"auto"`` resolved now)."""
        if self.options.intensity is not None:
            return self.options.intensity
        from carbonsdk.intensity.choose import auto_provider

        return auto_provider()

    def provisional_series(self, region: Region, end_s: float) -> IntensitySeries:
        """Intensity used while the run is live (checkpoints, live panel): the run's provider
        when it is local, else the embedded data; never the network from the sampler thread."""
        from carbonsdk.intensity.choose import is_local, series_for_run

        series = self._provisional
        if (
            series is None
            or not series.covers(self.start_s, end_s)
            or series.source.zone != region.zone
        ):  # detection may have finished since
            provider = self.provider()
            if not is_local(provider):
                from carbonsdk.intensity.embedded import EmbeddedProvider

                provider = EmbeddedProvider()
            outcome = series_for_run(provider, region, self.start_s, end_s + 86_400.0)
            series = self._provisional = outcome.series
        return series

    def measured(self) -> Measured:
        """A consistent copy of what was measured so far."""
        from carbonsdk.run.result_builder import Measured

        with self.lock:
            assert self.timeline is not None
            comps = self.timeline.components
            return Measured(
                components=comps,
                component_j={c: self.timeline.total_j(c) for c in comps},
                device_j=dict(self._device_j),
                device_errors=dict(self._device_errors),
                glitched=tuple(self._glitches),
                not_measured=dict(self._not_measured),
            )

    def build(
        self,
        status: str,
        end_s: float,
        *,
        aligned: AlignedSeries | None,
        source: IntensitySource,
        region: Region,
        flags: tuple[str, ...],
        error: str | None,
    ) -> RunResult:
        """The run's result as of ``end_s`` (a checkpoint's partial one with ``aligned`` None)."""
        extra = list(self.flags)
        if self._marks_dropped:
            extra.append(f"marks-dropped:{self._marks_dropped}")
        if self.launch.distributed and not self.launch.job_id_unique:
            extra.append("job-id-not-unique")
        from carbonsdk.run.result_builder import build_result

        result = build_result(
            self._identity(),
            self.measured(),
            status=status,
            end_s=end_s,
            aligned=aligned,
            source=source,
            region=region,
            flags=flags,
            error=error,
            marks=tuple(self._marks),
            extra_flags=extra,
        )
        if self._pausing is not None:
            result = attrs.evolve(result, pauses=self._pausing.pauses(open_ok=True))
        return result

    # -- internals -----------------------------------------------------------------------------

    def _identity(self) -> Identity:
        from carbonsdk.run.result_builder import Identity

        return Identity(
            run_id=self.run_id,
            name=self.name,
            start_s=self.start_s,
            pue=self.options.pue,
            interval_s=self.options.interval_s,
            tags=self.options.tags,
            devices=self.devices,
            job=self._job_info(),
            parent_run_id=self.parent.run_id if self.parent is not None else None,
        )

    def _adopt_parent(self, parent: Run | None) -> None:
        """A run started inside another inherits its region, intensity and PUE (unless given
        explicitly), links to it (``parent_run_id``) and prints no report of its own unless
        ``report=True`` was passed."""
        if parent is None or parent._state is not RunState.RUNNING or parent._pid != os.getpid():
            return
        self.parent = parent
        opts = self.options
        changes: dict[str, Any] = {}
        if "region" not in opts.explicit:
            if parent._region_fixed is not None:
                changes["region"] = parent._region_fixed
            else:
                self._region_lookup = parent._region_lookup
        if "intensity" not in opts.explicit:
            changes["intensity"] = parent.options.intensity
            changes["intensity_option"] = parent.options.intensity_option
        if "pue" not in opts.explicit:
            changes["pue"] = parent.options.pue
        if changes:
            self.options = attrs.evolve(opts, **changes)
        if opts.report is None:
            self.report_enabled = False

    def _leave_context(self) -> None:
        token, self._context_token = self._context_token, None
        if token is None:
            return
        try:
            _current_run.reset(token)
        except ValueError:  # exited in another context (a generator resumed elsewhere)
            if _current_run.get() is self:
                _current_run.set(self.parent)

    def _resolve_region_start(self) -> None:
        if self.options.region is not None:
            self._region_fixed = self.options.region
            return
        if self._region_lookup is not None:
            return  # inherited from the enclosing run, still in flight
        from carbonsdk import config
        from carbonsdk.region import resolve_region

        quick = resolve_region(None, offline=True)  # env var only: no network
        if quick.known or config.offline():
            self._region_fixed = quick
        else:
            from carbonsdk.region.lookup import RegionLookup

            self._region_lookup = RegionLookup()

    def final_region(self) -> Region:
        """The region at the end (waits up to :data:`DETECTION_BUDGET_S` for detection)."""
        if self._region_fixed is not None:
            return self._region_fixed
        if self._region_lookup is not None:
            return self._region_lookup.result(DETECTION_BUDGET_S)
        return Region.unknown()

    def _subscribe(self, sampler: Sampler) -> None:
        comps = self.options.components
        delegated: dict[str, str] = {}
        if self.role == "rank" and self.launch.local_rank not in (None, 0):
            delegated = {
                c: "measured by local rank 0 of this host (per-rank mode)"
                for c in comps
                if c != "gpu"
            }
            comps = tuple(c for c in comps if c not in delegated)
        sub = sampler.subscribe(self, comps, self.options.interval_s)
        devices = self._select_devices(sampler, list(sub.devices))
        measured = tuple(c for c in comps if any(d.component == c for d in devices))
        from carbonsdk.timeline import TimelineBuilder

        with self.lock:
            self.devices = tuple(devices)
            self._keys = {d.key: d.component for d in devices}
            self._device_j = dict.fromkeys(self._keys, 0.0)
            self._not_measured = {
                c: sub.not_measured.get(c, f"no {c} sensor on this host")
                for c in comps
                if c not in measured
            }
            self._not_measured.update(delegated)
            self.timeline = TimelineBuilder(measured)
            self.start_s = sub.start_s
            self._warnings = sub.warnings

    def _select_devices(self, sampler: Sampler, devices: list[DeviceInfo]) -> list[DeviceInfo]:
        gpus = [d for d in devices if d.component == "gpu"]
        if self.role == "rank" and self.options.gpus is None and gpus:
            from carbonsdk.distributed import own_gpu_indices

            mine = own_gpu_indices(self.launch, [d.index for d in gpus if d.index is not None])
            devices = [d for d in devices if d.component != "gpu" or d.index in mine]
        if self.options.gpus is not None and gpus:
            known = {d.index for d in gpus}
            missing = [g for g in self.options.gpus if g not in known]
            if missing:
                sampler.unsubscribe(self)
                self._state = RunState.DONE
                self._leave_context()
                raise ConfigurationError(
                    f"gpus={list(self.options.gpus)!r} is not valid: GPU index {missing[0]} is "
                    "not visible to this process (visible: "
                    f"{sorted(i for i in known if i is not None)})"
                )
            devices = [d for d in devices if d.component != "gpu" or d.index in self.options.gpus]
        return devices

    def _enter_observer(self, sampler: Sampler) -> None:
        """Another rank of this host measures it: record nothing that could be counted twice."""
        from carbonsdk.timeline import TimelineBuilder

        with self.lock:
            self.devices = ()
            self._keys = {}
            self._device_j = {}
            self._not_measured = {
                c: "measured by local rank 0 of this host (host mode)"
                for c in self.options.components
            }
            self.timeline = TimelineBuilder(())
            self.start_s = sampler.now_s()

    def _stop_measuring(self) -> float:
        assert self.sampler is not None
        end_s: float | None = None
        with guard("stopping the sampler", level=logging.ERROR):
            end_s = (
                self.sampler.now_s() if self.role == "observer" else self.sampler.unsubscribe(self)
            )
        if end_s is None:
            end_s = self.sampler.clock.time()
        return end_s

    def _finish(self, status: str, end_s: float, error: str | None) -> RunResult:
        from carbonsdk.accounting import align, extend_to_cover
        from carbonsdk.model.intensity import IntensitySource

        if self.role == "observer":  # never written, no intensity lookup
            return self.build(
                status,
                end_s,
                aligned=None,
                source=IntensitySource(
                    provider="none", signal="average", basis="unknown", zone=None
                ),
                region=self.final_region(),
                flags=("observer-rank",),
                error=error,
            )
        from carbonsdk.intensity.choose import series_for_run

        region = self.final_region()
        with self.lock:
            assert self.timeline is not None
            energy = self.timeline.snapshot()
        outcome = series_for_run(
            self.provider(), region, self.start_s, end_s, budget_s=PROVIDER_BUDGET_S
        )
        series = extend_to_cover(outcome.series, self.start_s, end_s)
        flags = list(outcome.flags)
        if series is not outcome.series and "intensity-estimated" not in flags:
            flags.append("intensity-estimated")
        self.final_series = series
        aligned = align(energy, series, pue=self.options.pue)
        return self.build(
            status,
            end_s,
            aligned=aligned,
            source=outcome.series.source,
            region=region,
            flags=tuple(flags),
            error=error,
        )

    def _finish_extension(self, ext: RunExtension, result: RunResult) -> RunResult:
        if self.role == "observer" and not ext.observer:
            return result
        failed: list[str] = []
        out = result
        with guard(f"{ext.name} finish", flags=failed, flag=ext.flag):
            out = ext.finish(result)
        if failed:
            out = attrs.evolve(result, flags=tuple(dict.fromkeys((*result.flags, *failed))))
        return out

    def _job_info(self) -> JobInfo | None:
        launch = self.launch
        if not launch.distributed:
            return None
        from carbonsdk.model.result import JobInfo

        return JobInfo(
            launcher=launch.launcher,
            job_id=launch.job_id,
            job_id_source=launch.job_id_source,
            rank=launch.rank,
            local_rank=launch.local_rank,
            world_size=launch.world_size,
            local_world_size=launch.local_world_size,
            node_rank=launch.node_rank,
            node=launch.node,
            role=self.role,
            restart_count=launch.restart_count,
        )

    def __repr__(self) -> str:
        return f"<carbonsdk.Run {self.name!r} {self._state.value} id={self.run_id[:8]}>"
