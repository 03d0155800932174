"""``measure()`` and ``@tracked``: the only module that wires sensors, sampler, region,
intensity, accounting, ledger and report together.

A :class:`Run` is mutable while it runs and hands out a frozen :class:`RunResult` when it ends.
Nothing the SDK does at the end of a run (intensity lookup, ledger write, report) can replace
the user's own exception or crash their program: SDK faults are logged and flagged.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import platform
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from numbers import Real
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ParamSpec, TypeVar, overload

import contextvars

import attrs

from carbonsdk import config
from carbonsdk.accounting import AlignedSeries, align, extend_to_cover
from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.intensity.base import IntensityProvider
from carbonsdk.intensity.series import IntensitySeries, IntensitySource
from carbonsdk.region.base import Region
from carbonsdk.result import (
    DeviceResult,
    JobInfo,
    Mark,
    PauseEvent,
    RunResult,
    TimelineInterval,
)
from carbonsdk.sampler import Sampler, get_sampler
from carbonsdk.sensors.base import COMPONENTS, DeviceInfo
from carbonsdk.timeline import J_PER_KWH, EnergySeries, TimelineBuilder, bucketize

log = logging.getLogger("carbonsdk")

P = ParamSpec("P")
R = TypeVar("R")

#: how long the end of a run may wait for a live intensity provider, seconds
PROVIDER_BUDGET_S = 5.0
#: how long the end of a run may wait for cloud-region detection still in flight, seconds
DETECTION_BUDGET_S = 1.0
#: checkpoint intervals are merged into UTC-aligned buckets of this many seconds
CHECKPOINT_BUCKET_S = 60.0
#: every this many checkpoints, one carries the run's full metadata again
CHECKPOINT_FULL_EVERY = 60
#: how long ``gather=True`` waits for the other ranks at the end of a run, seconds
GATHER_TIMEOUT_S = 60.0


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM while a run is open (exit code 143), so that
    ``finally`` blocks run and the run is recorded as ``"interrupted"``. Installed only when the
    process had the default SIGTERM handler."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


# -- options ------------------------------------------------------------------------------------


@attrs.frozen
class RunOptions:
    """Validated options of :func:`measure` (see its docstring for units)."""

    name: str | None
    region: Region | None
    components: tuple[str, ...]
    gpus: tuple[int, ...] | None
    interval_s: float
    intensity: IntensityProvider | None
    intensity_option: str
    ledger: Path | None
    report: bool | None
    pue: float
    tags: Mapping[str, str]
    checkpoint_s: float
    live: bool
    per_rank: bool = False
    gather: bool = False
    attribution: str | None = None
    #: the options the caller gave explicitly (the rest may be inherited from an enclosing run)
    explicit: frozenset[str] = frozenset()


#: options a nested run inherits from the run it is started in, unless given explicitly
INHERITED_OPTIONS = ("region", "intensity", "pue")


#: the accepted values of ``measure(attribution=...)``
ATTRIBUTIONS = (None, "process")
#: a run keeps at most this many marks; later ones are counted in a ``marks-dropped:N`` flag
MAX_MARKS = 10_000


#: upper bounds of numeric options: beyond them a value is a typo, not a configuration
MAX_INTERVAL_S = 3600.0
MAX_CHECKPOINT_S = 7 * 86_400.0
#: no data centre runs above this PUE (the worst reported are ~2.5-3)
MAX_PUE = 10.0
#: no grid exceeds this (lignite is ~1,100-1,200 g/kWh life-cycle)
MAX_CONSTANT_INTENSITY_G_PER_KWH = 5000.0


def _shown(value: Any) -> str:
    """``repr`` of an option's value, short even for a huge integer."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<an integer of about 10**{int(value.bit_length() * 0.30103)}>"
    return repr(value)


def _option_text(option: str, value: Any) -> str:
    return f"{option}={_shown(value)}"


def _positive(
    option: str, value: Any, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigurationError(f"{_option_text(option, value)} is not valid: expected a number")
    try:
        v = float(value)
    except (OverflowError, ValueError):
        v = math.inf
    shown = _shown(value)
    if not math.isfinite(v):
        raise ConfigurationError(f"{option}={shown} is not valid: expected a finite number"
                                 + (f" <= {maximum:g}" if maximum is not None else ""))
    if minimum is not None:
        if v < minimum:
            raise ConfigurationError(f"{option}={shown} is not valid: expected >= {minimum}")
    elif v <= 0:
        raise ConfigurationError(f"{option}={shown} is not valid: expected a number > 0")
    if maximum is not None and v > maximum:
        raise ConfigurationError(f"{option}={shown} is not valid: expected <= {maximum:g}")
    return v


def validate_options(
    name: Any = None,
    *,
    region: Any = None,
    components: Any = COMPONENTS,
    gpus: Any = None,
    interval_s: Any = 1.0,
    intensity: Any = "auto",
    ledger: Any = None,
    report: Any = None,
    pue: Any = 1.0,
    tags: Any = None,
    checkpoint_s: Any = 60.0,
    live: Any = False,
    per_rank: Any = False,
    gather: Any = False,
    attribution: Any = None,
    explicit: Iterable[str] | None = None,
) -> RunOptions:
    """Check every option of :func:`measure`; raises :class:`ConfigurationError` naming the bad
    value and what is accepted."""
    if name is not None and not isinstance(name, str):
        raise ConfigurationError(f"name={name!r} is not valid: expected a string or None")
    parsed_region: Region | None
    if region is None or isinstance(region, Region):
        parsed_region = region
    elif isinstance(region, str):
        from carbonsdk.region import parse_region

        parsed_region = parse_region(region, source="explicit")
    else:
        raise ConfigurationError(
            f"region={region!r} is not valid: expected a string such as 'aws:us-east-1', "
            "'gcp:europe-west4', 'azure:westus2', a grid zone ('DE') or a country code ('FR')")
    comps_in = (components,) if isinstance(components, str) else components
    try:
        comps = tuple(comps_in)
    except TypeError:
        raise ConfigurationError(
            f"components={components!r} is not valid: expected some of {COMPONENTS}") from None
    bad = [c for c in comps if c not in COMPONENTS]
    if bad or not comps or len(set(comps)) != len(comps):
        raise ConfigurationError(
            f"components={components!r} is not valid: expected a non-empty selection without "
            f"repeats from {COMPONENTS}" + (f"; unknown: {bad!r}" if bad else ""))
    gpu_list: tuple[int, ...] | None = None
    if gpus is not None:
        if isinstance(gpus, (str, bytes)) or not isinstance(gpus, Iterable):
            raise ConfigurationError(
                f"gpus={gpus!r} is not valid: expected None or a list of GPU indices (ints >= 0)")
        gpu_list = tuple(gpus)
        if not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in gpu_list):
            raise ConfigurationError(
                f"gpus={gpus!r} is not valid: expected None or a list of GPU indices (ints >= 0)")
    interval = _positive("interval_s", interval_s, maximum=MAX_INTERVAL_S)
    if isinstance(intensity, Real) and not isinstance(intensity, bool):
        _positive("intensity", intensity, minimum=0.0, maximum=MAX_CONSTANT_INTENSITY_G_PER_KWH)
    from carbonsdk.intensity.choose import make_provider

    provider = make_provider(intensity)
    ledger_path: Path | None
    if ledger is False:
        ledger_path = None
    elif ledger is None or ledger is True:
        ledger_path = config.default_ledger_path()
    elif isinstance(ledger, (str, os.PathLike)):
        if not str(ledger).strip():
            raise ConfigurationError("ledger='' is not valid: expected a file path, None or False")
        ledger_path = Path(ledger).expanduser()
        if ledger_path.is_dir():
            raise ConfigurationError(
                f"ledger={str(ledger)!r} is a directory: expected a file path such as "
                f"{str(ledger_path / 'ledger.jsonl')!r}, None or False")
    else:
        raise ConfigurationError(
            f"ledger={ledger!r} is not valid: expected None (default path), a path, or False")
    if report is not None and not isinstance(report, bool):
        raise ConfigurationError(
            f"report={report!r} is not valid: expected True, False or None (the default: a "
            "report for a top-level run, none for a run nested in another)")
    if not isinstance(live, bool):
        raise ConfigurationError(f"live={live!r} is not valid: expected True or False")
    if not isinstance(per_rank, bool):
        raise ConfigurationError(f"per_rank={per_rank!r} is not valid: expected True or False")
    if not isinstance(gather, bool):
        raise ConfigurationError(f"gather={gather!r} is not valid: expected True or False")
    if attribution not in ATTRIBUTIONS or isinstance(attribution, bool):
        raise ConfigurationError(
            f"attribution={attribution!r} is not valid: expected None (whole devices only) or "
            "'process' (also the share of this process tree)")
    pue_v = _positive("pue", pue, minimum=1.0, maximum=MAX_PUE)
    if tags is None:
        tag_map: dict[str, str] = {}
    elif isinstance(tags, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        tag_map = dict(tags)
    else:
        raise ConfigurationError(f"tags={tags!r} is not valid: expected a dict of str to str")
    checkpoint = _positive("checkpoint_s", checkpoint_s, maximum=MAX_CHECKPOINT_S)
    return RunOptions(
        name=name, region=parsed_region, components=comps, gpus=gpu_list, interval_s=interval,
        intensity=provider, intensity_option=repr(intensity) if not isinstance(intensity, str)
        else intensity, ledger=ledger_path, report=report, pue=pue_v, tags=tag_map,
        checkpoint_s=checkpoint, live=live, per_rank=per_rank, gather=gather,
        attribution=attribution,
        explicit=frozenset(explicit) if explicit is not None else _explicit_by_value(
            region=region, intensity=intensity, pue=pue))


def _explicit_by_value(*, region: Any, intensity: Any, pue: Any) -> frozenset[str]:
    """The inheritable options that differ from their defaults (what :func:`measure` was given)."""
    given = set()
    if region is not None:
        given.add("region")
    if not (isinstance(intensity, str) and intensity == "auto"):
        given.add("intensity")
    if not (isinstance(pue, (int, float)) and pue == 1.0):
        given.add("pue")
    return frozenset(given)


def _script_name() -> str:
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if argv0 in ("", "-c", "-"):
        return "python"
    return Path(argv0).name


# -- SIGTERM --------------------------------------------------------------------------------------

_sig_lock = threading.Lock()
_sig_depth = 0
_sig_previous: Any = None
#: SIGTERMs received while a run was open (a run compares it at enter and exit)
_sigterm_count = 0


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _sigterm_count
    _sigterm_count += 1
    raise Terminated()


def _on_sigterm_chained(signum: int, frame: FrameType | None) -> None:
    """The program had its own SIGTERM handler: note the signal, then leave it in charge."""
    global _sigterm_count
    _sigterm_count += 1
    previous = _sig_previous
    if callable(previous):
        previous(signum, frame)


def _install_sigterm() -> bool:
    global _sig_depth, _sig_previous
    if threading.current_thread() is not threading.main_thread():
        return False
    with _sig_lock:
        if _sig_depth == 0:
            try:
                current = signal.getsignal(signal.SIGTERM)
                if current is signal.SIG_IGN or current is None:
                    return False  # an ignored signal interrupts nothing
                handler = _on_sigterm if current is signal.SIG_DFL else _on_sigterm_chained
                _sig_previous = signal.signal(signal.SIGTERM, handler)
            except (ValueError, OSError):
                return False
        _sig_depth += 1
        return True


def _uninstall_sigterm() -> None:
    global _sig_depth
    with _sig_lock:
        _sig_depth -= 1
        if _sig_depth == 0:
            try:
                if signal.getsignal(signal.SIGTERM) in (_on_sigterm, _on_sigterm_chained):
                    signal.signal(signal.SIGTERM, _sig_previous or signal.SIG_DFL)
            except (ValueError, OSError):
                pass


def _error_text(exc: BaseException) -> str:
    """``"Type: message"`` of the user's exception, whatever its ``__str__`` does (raises,
    returns a non-str): building it must never replace the user's exception."""
    try:
        name = type(exc).__name__
    except Exception:
        name = "Exception"
    try:
        text = exc.__str__()
        if not isinstance(text, str):
            text = f"<__str__ returned {type(text).__name__}, not str>"
    except Exception as str_exc:
        text = f"<__str__ raised {type(str_exc).__name__}>"
    return f"{name}: {text}"[:500]


# -- the run ------------------------------------------------------------------------------------

#: launch warnings already logged by this process
_launch_warned: set[str] = set()


#: the innermost open run of this thread / task (a new run started inside it is nested)
_current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "carbonsdk_current_run", default=None)


class _RegionLookup:
    """Cloud-region detection running in a short-lived thread, joined at the end of the run."""

    def __init__(self) -> None:
        self.region = Region.unknown()
        self._done = threading.Event()
        threading.Thread(target=self._work, name="carbonsdk-region", daemon=True).start()

    def _work(self) -> None:
        try:
            from carbonsdk.region import resolve_region

            self.region = resolve_region(None)
        except Exception as exc:
            log.debug("carbonsdk: region detection failed: %s", exc)
        finally:
            self._done.set()

    def result(self, timeout_s: float) -> Region:
        self._done.wait(timeout_s)
        return self.region


#: estimate warnings already logged by this process (once each, whatever ``report`` says)
_estimate_warned: set[str] = set()

_ESTIMATE_WARNINGS = {
    "region-unknown": "the region is unknown: emissions use the world-average intensity; pass "
    "region= (e.g. 'aws:us-east-1' or 'DE') or set CARBONSDK_REGION",
    "intensity-fallback": "the intensity provider failed: emissions use a fallback series "
    "(see result.flags)",
    "intensity-estimated": "the grid intensity of this run is an estimate (no measured value "
    "for its time; e.g. the embedded typical year)",
}


def _warn_estimates(result: RunResult) -> None:
    """Say out loud, once per process and kind, when a figure is estimated or a fallback was
    used (also with ``report=False``)."""
    notes = [flag for flag in _ESTIMATE_WARNINGS if flag in result.flags]
    if result.estimated_components:
        notes.append("estimated-components")
    for note in notes:
        if note in _estimate_warned:
            continue
        _estimate_warned.add(note)
        if note == "estimated-components":
            text = (f"the energy of {', '.join(result.estimated_components)} is estimated from a "
                    "model (no hardware counter readable)")
        else:
            text = _ESTIMATE_WARNINGS[note]
        log.warning("carbonsdk: %s", text)


def _status_of(exc_type: type[BaseException] | None, exc: BaseException | None) -> str:
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


class Run:
    """A measured block, returned by :func:`measure`. Live while inside: :attr:`energy_kwh`,
    :attr:`elapsed_s`; after exit: :attr:`result` (a frozen :class:`RunResult`)."""

    def __init__(self, options: RunOptions, *, sampler: Sampler | None = None) -> None:
        self.options = options
        self.name = options.name or _script_name()
        self.run_id = uuid.uuid4().hex
        self.result: RunResult | None = None
        self._sampler_override = sampler
        self._sampler: Sampler | None = None
        self._lock = threading.Lock()
        self._state = "new"
        self._pid = os.getpid()
        self._start_s = 0.0
        self._timeline: TimelineBuilder | None = None
        self._devices: tuple[DeviceInfo, ...] = ()
        self._device_j: dict[str, float] = {}
        self._device_errors: dict[str, str] = {}
        self._glitches: dict[str, int] = {}
        self._not_measured: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._region_fixed: Region | None = None
        self._region_lookup: _RegionLookup | None = None
        self._writer: Any = None
        self._checkpoint_seq = 0
        self._checkpointed_until_s: float | None = None
        self._provisional: IntensitySeries | None = None
        self._sigterm = False
        self._sigterm_seen = 0
        self._extra_flags: list[str] = []
        self._live: Any = None
        self._live_energy_kwh = 0.0
        self._live_emissions_g = 0.0
        self._last_power_w = 0.0
        self._pauses: list[PauseEvent] = []
        self._pause_policy: Any = None
        self._paused_since: float | None = None
        self._warnings: tuple[str, ...] = ()
        self._marks: list[Mark] = []
        self._marks_dropped = 0
        self._attributor: Any = None
        #: the run this one was started in (same thread or task), None for a top-level run
        self.parent: Run | None = None
        self._context_token: contextvars.Token[Run | None] | None = None
        self._report = bool(options.report) if options.report is not None else True
        from carbonsdk.distributed import detect_launch, role_for

        self.launch = detect_launch()
        self.role = role_for(self.launch, per_rank=options.per_rank)
        #: with ``gather=True``, the job-level result on global rank 0 after exit
        self.job_result: Any = None
        self._gather_failed = False

    # -- live properties ---------------------------------------------------------------------

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started (final duration after it ended)."""
        if self.result is not None:
            return self.result.duration_s
        if self._sampler is None:
            return 0.0
        return max(0.0, self._sampler.now_s() - self._start_s)

    @property
    def energy_kwh(self) -> float:
        """Energy measured so far, kWh (all measured components; up to the last sample)."""
        if self.result is not None:
            return self.result.energy_kwh
        with self._lock:
            return 0.0 if self._timeline is None else self._timeline.total_j() / J_PER_KWH

    @property
    def emissions_g(self) -> float:
        """Emissions so far, g CO2eq (PUE included): the energy measured so far aligned interval
        by interval with the grid intensity, from the run's provider when it is local (embedded
        data, a CSV, a constant) and else from the embedded data, so it never waits on the
        network; an unknown region uses the flagged world average. The final figure (with a
        live provider's values) is ``result.emissions_g``, which this returns after exit."""
        if self.result is not None:
            return self.result.emissions_g
        with self._lock:
            if self._timeline is None or not self._timeline.components:
                return 0.0
            energy = self._timeline.snapshot()
            end_s = self._timeline.end_s or self._start_s
        if end_s <= self._start_s:
            return 0.0
        try:
            series = self._provisional_series(self.region, end_s)
            aligned = align(energy, extend_to_cover(series, self._start_s, end_s),
                            pue=self.options.pue)
        except Exception:  # a live figure must never fail the user's program
            log.debug("carbonsdk: live emissions unavailable", exc_info=True)
            return 0.0
        return aligned.total_emissions_g

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

    # -- carbon-aware pausing --------------------------------------------------------------------

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
        it has one, else the embedded typical year for the run's region). It never pauses once
        the remaining work could no longer finish by ``start + duration + extension`` (with
        ``margin_s`` seconds to spare). Pauses are recorded in ``result.pauses`` and the ledger.
        With ``block=True`` it sleeps until the policy says run, then returns False.
        """
        if self._state != "running" or self._sampler is None:
            raise RuntimeError("should_pause() is only meaningful inside a running measure()")
        if self._pause_policy is None:
            if duration is None:
                raise ConfigurationError(
                    "should_pause(duration=...) is required on the first call: the expected "
                    "running time of the whole run, e.g. duration='6h'")
            from carbonsdk.schedule import PausePolicy
            from carbonsdk.schedule.durations import duration_s, extension_s

            total_s = duration_s(duration)
            deadline_s = self._start_s + total_s + extension_s(max_extension, total_s)
            series = forecast
            if series is None:
                from carbonsdk.schedule import forward_series

                region = self.region
                if not region.known:
                    raise ConfigurationError(
                        "should_pause() needs the run's region: pass region= to measure() "
                        "(e.g. 'aws:us-east-1' or 'DE') or a forecast= series")
                series = forward_series(region, self._start_s, deadline_s + 3600.0,
                                        provider=self.options.intensity).series
            self._pause_policy = PausePolicy(series, total_s, max_extension,
                                             start=self._start_s, margin_s=margin_s)
        while True:
            now_s = self._sampler.now_s()
            decision = self._pause_policy.decide(now_s, self._work_done_s(now_s))
            self._record_pause_state(decision.pause, now_s)
            if not (block and decision.pause):
                return bool(decision.pause)
            time.sleep(max(0.5, min(decision.recheck_s, 60.0)))

    def _work_done_s(self, now_s: float) -> float:
        paused = sum((p.end - p.start).total_seconds() for p in self._pauses if p.end)
        if self._paused_since is not None:
            paused += now_s - self._paused_since
        return max(0.0, now_s - self._start_s - paused)

    def _record_pause_state(self, pause: bool, now_s: float) -> None:
        if pause and self._paused_since is None:
            self._paused_since = now_s
        elif not pause and self._paused_since is not None:
            self._pauses.append(PauseEvent(to_datetime(self._paused_since), to_datetime(now_s)))
            self._paused_since = None

    # -- marks -------------------------------------------------------------------------------

    def mark(self, label: str, **data: Any) -> Mark | None:
        """Mark a point of the run (an epoch, a step, an evaluation): stored in ``result.marks``
        and the ledger with the time and the energy measured so far (kWh, read from the sensors
        at the mark's own time). ``data``: JSON scalars (str, int, float, bool,
        None), e.g. ``run.mark("epoch", epoch=3, loss=0.41)``. A run keeps at most
        :data:`MAX_MARKS` marks; later ones are counted in a ``marks-dropped:N`` flag and
        return None."""
        if not isinstance(label, str) or not label.strip():
            raise ConfigurationError(f"mark label {label!r} is not valid: expected a non-empty "
                                     "string")
        for key, value in data.items():
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise ConfigurationError(
                    f"mark data {key}={value!r} is not valid: expected str, int, float, bool or "
                    "None")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigurationError(
                    f"mark data {key}={value!r} is not valid: expected a finite number")
        if self._state != "running" or self._sampler is None:
            raise RuntimeError("mark() is only meaningful inside a running measure()")
        if len(self._marks) >= MAX_MARKS:
            self._marks_dropped += 1
            return None
        if self.role != "observer":
            try:  # the energy up to this very moment, not up to the last periodic sample
                self._sampler.flush()
            except Exception:
                log.debug("carbonsdk: sensor read for a mark failed", exc_info=True)
        mark = Mark(at=to_datetime(self._sampler.now_s()), label=label,
                    energy_kwh=self.energy_kwh, data=data)
        self._marks.append(mark)
        return mark

    def require_result(self) -> RunResult:
        """The frozen :class:`RunResult`, typed without ``None``: raises ``RuntimeError`` when
        called before the block has exited (or if the SDK could not build the record)."""
        if self.result is None:
            raise RuntimeError(
                "run.require_result() is only available after the measure() block has exited"
                if self._state != "done" else
                "the run's result could not be built (see the carbonsdk log)")
        return self.result

    @property
    def marks(self) -> tuple[Mark, ...]:
        """The marks so far (the final ones after exit)."""
        return self.result.marks if self.result is not None else tuple(self._marks)

    # -- context manager -----------------------------------------------------------------------

    def __enter__(self) -> Run:
        if self._state != "new":
            raise RuntimeError(
                "a measure() block can be entered only once; call carbonsdk.measure() again")
        self._state = "running"
        self._adopt_parent(_current_run.get())
        self._context_token = _current_run.set(self)
        self._resolve_region_start()
        sampler = self._sampler_override or get_sampler()
        self._sampler = sampler
        for warning in self.launch.warnings:
            if warning not in _launch_warned:  # once per process, not per @tracked call
                _launch_warned.add(warning)
                log.warning("carbonsdk: %s", warning)
        if self.role == "observer":
            self._enter_observer(sampler)
            return self
        comps = self.options.components
        delegated: dict[str, str] = {}
        if self.role == "rank" and self.launch.local_rank not in (None, 0):
            delegated = {c: "measured by local rank 0 of this host (per-rank mode)"
                         for c in comps if c != "gpu"}
            comps = tuple(c for c in comps if c not in delegated)
        sub = sampler.subscribe(self, comps, self.options.interval_s)
        devices = list(sub.devices)
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
                self._state = "done"
                self._leave_context()
                raise ConfigurationError(
                    f"gpus={list(self.options.gpus)!r} is not valid: GPU index {missing[0]} is "
                    "not visible to this process (visible: "
                    f"{sorted(i for i in known if i is not None)})")
            devices = [d for d in devices
                       if d.component != "gpu" or d.index in self.options.gpus]
        measured = tuple(c for c in comps if any(d.component == c for d in devices))
        with self._lock:
            self._devices = tuple(devices)
            self._keys = {d.key: d.component for d in devices}
            self._device_j = dict.fromkeys(self._keys, 0.0)
            self._not_measured = {
                c: sub.not_measured.get(c, f"no {c} sensor on this host")
                for c in comps if c not in measured}
            self._not_measured.update(delegated)
            self._timeline = TimelineBuilder(measured)
            self._start_s = sub.start_s
            self._warnings = sub.warnings
        if self.options.attribution == "process" and measured:
            try:
                from carbonsdk.attribution import ProcessAttributor

                self._attributor = ProcessAttributor.start(
                    sampler, devices=tuple(devices), components=measured,
                    start_s=self._start_s)
            except Exception:
                log.warning("carbonsdk: process attribution unavailable", exc_info=True)
                self._attributor = None
        if self.options.ledger is not None:
            from carbonsdk.ledger import LedgerWriter

            self._writer = LedgerWriter(self.options.ledger)
        self._sigterm = _install_sigterm()
        self._sigterm_seen = _sigterm_count
        if self.options.live:
            self._start_live()
        return self

    def _adopt_parent(self, parent: Run | None) -> None:
        """A run started inside another inherits its region, intensity and PUE (unless given
        explicitly), links to it (``parent_run_id``) and prints no report of its own unless
        ``report=True`` was passed."""
        if parent is None or parent._state != "running" or parent._pid != os.getpid():
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
            self._report = False

    def _leave_context(self) -> None:
        token, self._context_token = self._context_token, None
        if token is None:
            return
        try:
            _current_run.reset(token)
        except ValueError:  # exited in another context (a generator resumed elsewhere)
            if _current_run.get() is self:
                _current_run.set(self.parent)

    def _enter_observer(self, sampler: Sampler) -> None:
        """Another rank of this host measures it: record nothing that could be counted twice."""
        comps = self.options.components
        with self._lock:
            self._devices = ()
            self._keys = {}
            self._device_j = {}
            self._not_measured = {
                c: "measured by local rank 0 of this host (host mode)" for c in comps}
            self._timeline = TimelineBuilder(())
            self._start_s = sampler.now_s()
        self._sigterm = _install_sigterm()
        self._sigterm_seen = _sigterm_count

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state != "running":
            return
        self._state = "done"
        self._leave_context()
        if os.getpid() != self._pid:
            return  # a forked child leaving an inherited block: the parent records the run
        try:
            assert self._sampler is not None
            if self.role == "observer":
                end_s = self._sampler.now_s()
            else:
                end_s = self._sampler.unsubscribe(self)
        except Exception:
            log.exception("carbonsdk: sampler failed at the end of the run")
            end_s = time.time()
        if self._sigterm:
            _uninstall_sigterm()
        self._stop_live()
        status = _status_of(exc_type, exc)
        signalled = _sigterm_count != self._sigterm_seen
        if signalled:  # the program's own handler may have exited with code 0
            status = "interrupted"
            self._extra_flags.append("signal:SIGTERM")
        error = None
        if status == "failed" and exc is not None:
            error = _error_text(exc)
        try:
            if self.role == "observer":
                self.result = self._finish_observer(status, end_s, error)
            else:
                self.result = self._finish(status, end_s, error)
        except Exception:
            log.exception("carbonsdk: could not complete the run record")
            self.result = None
        if self.result is not None:
            _warn_estimates(self.result)
        if self.options.gather:
            if status == "completed":
                self._gather()
            else:  # the other ranks may never get here: do not hold the user's error up
                log.warning("carbonsdk: gather skipped on a %s run; each host's record is in "
                            "its own ledger", status)
                self._gather_failed = True
        if self._report and self.result is not None:
            try:
                from carbonsdk.report import print_report

                if self.job_result is not None:
                    print_report(self.job_result)
                elif self.role != "observer" and (not self.options.gather
                                                  or self._gather_failed):
                    print_report(self.result)
            except Exception:
                log.exception("carbonsdk: could not print the report")

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
        with self._lock:
            if self._timeline is None:
                return
            per_comp: dict[str, float] = {}
            for key, joules in energy_j.items():
                comp = self._keys.get(key)
                if comp is None:
                    continue
                self._device_j[key] += joules
                per_comp[comp] = per_comp.get(comp, 0.0) + joules
            self._timeline.add(start_s, end_s, per_comp)
            if end_s > start_s:
                self._last_power_w = sum(per_comp.values()) / (end_s - start_s)
            if self._attributor is not None:
                self._attributor.add(start_s, end_s, energy_j)

    def on_device_error(self, key: str, message: str) -> None:
        """Sampler callback: device ``key`` is degraded."""
        with self._lock:
            if key in self._keys:
                self._device_errors[key] = message

    def on_device_glitch(self, key: str, message: str) -> None:
        """Sampler callback: an implausible reading of device ``key`` (a counter jump beyond
        what the device can draw, a non-finite value) was dropped from its interval."""
        with self._lock:
            if key in self._keys:
                self._glitches[key] = self._glitches.get(key, 0) + 1

    def after_tick(self) -> None:
        """Sampler callback, outside its lock: checkpoints and the live panel."""
        if os.getpid() != self._pid or self._state != "running":
            return
        now_s = self._sampler.now_s() if self._sampler else time.time()
        if self._attributor is not None:
            try:
                self._attributor.refresh(now_s)
            except Exception:
                log.debug("process attribution refresh failed", exc_info=True)
        if self._writer is not None:
            last = self._checkpointed_until_s
            if last is None or now_s - last >= self.options.checkpoint_s:
                self._write_checkpoint()
        if self._live is not None:
            try:
                self._update_live(now_s)
            except Exception:
                log.debug("live panel update failed", exc_info=True)

    # -- internals -----------------------------------------------------------------------------

    def _resolve_region_start(self) -> None:
        if self.options.region is not None:
            self._region_fixed = self.options.region
            return
        if self._region_lookup is not None:
            return  # inherited from the enclosing run, still in flight
        from carbonsdk.region import resolve_region

        quick = resolve_region(None, offline=True)  # env var only: no network
        if quick.known or config.offline():
            self._region_fixed = quick
        else:
            self._region_lookup = _RegionLookup()

    def _final_region(self) -> Region:
        if self._region_fixed is not None:
            return self._region_fixed
        if self._region_lookup is not None:
            return self._region_lookup.result(DETECTION_BUDGET_S)
        return Region.unknown()

    def _provider(self) -> IntensityProvider:
        if self.options.intensity is not None:
            return self.options.intensity
        from carbonsdk.intensity.choose import auto_provider

        return auto_provider()

    def _provisional_series(self, region: Region, end_s: float) -> IntensitySeries:
        """Intensity used while the run is live (checkpoints, live panel): the run's provider
        when it is local, else the embedded data; never the network from the sampler thread."""
        from carbonsdk.intensity.choose import is_local, series_for_run

        series = self._provisional
        if (series is None or not series.covers(self._start_s, end_s)
                or series.source.zone != region.zone):  # detection may have finished since
            provider = self._provider()
            if not is_local(provider):
                from carbonsdk.intensity.embedded import EmbeddedProvider

                provider = EmbeddedProvider()
            outcome = series_for_run(provider, region, self._start_s, end_s + 86_400.0)
            series = self._provisional = outcome.series
        return series

    def _update_live(self, now_s: float) -> None:
        energy_kwh = self.energy_kwh
        try:
            series = self._provisional_series(self.region, now_s)
            i = series.index_at(now_s)
            intensity = series.values_g_per_kwh[i] if i is not None else None
        except Exception:  # the display must never fail the run
            intensity = None
        if intensity is not None:
            delta_kwh = energy_kwh - self._live_energy_kwh
            self._live_emissions_g += max(0.0, delta_kwh) * self.options.pue * intensity
        self._live_energy_kwh = energy_kwh
        self._live.update(self.elapsed_s, self._last_power_w, energy_kwh,
                          self._live_emissions_g if intensity is not None else None)

    def _write_checkpoint(self) -> None:
        from carbonsdk.ledger import checkpoint_record

        with self._lock:
            assert self._timeline is not None
            end_s = self._timeline.end_s or self._start_s
            since = self._checkpointed_until_s
            energy = self._timeline.snapshot(since_s=since)
        region = self.region
        series = self._provisional_series(region, end_s)
        b_starts, b_ends, b_energy = bucketize(
            energy.starts_s, energy.ends_s, energy.energy_j, CHECKPOINT_BUCKET_S)
        coarse = EnergySeries(energy.components, tuple(b_starts), tuple(b_ends),
                              {c: tuple(v) for c, v in b_energy.items()})
        aligned = align(coarse, extend_to_cover(series, self._start_s, end_s),
                        pue=self.options.pue)
        partial = self._build(
            "interrupted", end_s, aligned=None, source=series.source, region=region, flags=(),
            error=None)
        full = self._checkpoint_seq % CHECKPOINT_FULL_EVERY == 0
        # marks are incremental: each checkpoint carries only the marks since the previous one
        marks_from: int = getattr(self, "_marks_checkpointed", 0)
        record = checkpoint_record(partial, self._checkpoint_seq, _intervals(aligned), full=full,
                                   marks_from=marks_from)
        self._marks_checkpointed = len(partial.marks)
        self._writer.write(record)
        self._checkpoint_seq += 1
        self._checkpointed_until_s = end_s

    def _finish(self, status: str, end_s: float, error: str | None) -> RunResult:
        from carbonsdk.intensity.choose import is_local, series_for_run

        region = self._final_region()
        with self._lock:
            assert self._timeline is not None
            energy = self._timeline.snapshot()
        provider = self._provider()
        if self._writer is not None and not is_local(provider):
            # make the whole measurement durable before any network wait: a Ctrl-C or SIGTERM
            # during the lookup then loses nothing (the run is rebuilt from the checkpoints)
            try:
                self._write_checkpoint()
            except Exception:
                log.warning("carbonsdk: final checkpoint failed", exc_info=True)
        outcome = series_for_run(provider, region, self._start_s, end_s,
                                 budget_s=PROVIDER_BUDGET_S)
        series = extend_to_cover(outcome.series, self._start_s, end_s)
        flags = list(outcome.flags)
        if series is not outcome.series and "intensity-estimated" not in flags:
            flags.append("intensity-estimated")
        aligned = align(energy, series, pue=self.options.pue)
        result = self._build(status, end_s, aligned=aligned, source=outcome.series.source,
                             region=region, flags=tuple(flags), error=error)
        if self._attributor is not None:
            try:
                attributed = self._attributor.finish(end_s)
                if attributed.energy.components:
                    shares = align(attributed.energy, series, pue=self.options.pue)
                    by_comp = {c: sum(v) for c, v in shares.energy_by_component_kwh.items()}
                    att_g: float | None = shares.total_emissions_g
                else:  # no component had a known share: nothing attributed, not a zero
                    by_comp, att_g = {}, None
                result = attrs.evolve(
                    result, attributed_energy_by_component_kwh=by_comp,
                    attributed_emissions_g=att_g, attribution=attributed.detail)
            except Exception:
                log.warning("carbonsdk: process attribution failed", exc_info=True)
                result = attrs.evolve(result, flags=(*result.flags, "attribution-failed"))
        if self._writer is not None:
            from carbonsdk.ledger import result_to_record

            if not self._writer.write(result_to_record(result)):
                log.warning("carbonsdk: run %s could not be written to %s: %s", result.run_id,
                            self._writer.path, self._writer.last_error)
                result = attrs.evolve(result, flags=(*result.flags, "ledger-write-failed"))
        return result

    def _finish_observer(self, status: str, end_s: float, error: str | None) -> RunResult:
        """The record of a rank that measured nothing (host mode, local rank != 0): never written
        to the ledger, no intensity lookup."""
        return self._build(status, end_s, aligned=None,
                           source=IntensitySource(provider="none", signal="average",
                                                  basis="unknown", zone=None),
                           region=self._final_region(), flags=("observer-rank",), error=error)

    def _gather(self) -> None:
        """``gather=True``: send this rank's record to global rank 0 over torch.distributed;
        rank 0 builds :attr:`job_result`. Any failure is logged and leaves the run as it was."""
        from carbonsdk.distributed import gather_records, torch_distributed_ready

        if not torch_distributed_ready():
            log.warning("carbonsdk: gather=True but torch.distributed is not initialised at the "
                        "end of the run; each host's record is in its own ledger")
            self._gather_failed = True
            return
        try:
            from carbonsdk.job import aggregate
            from carbonsdk.ledger import summary_record

            mine = None
            if self.result is not None and self.role != "observer":
                mine = summary_record(self.result)
            records = gather_records(mine, timeout_s=GATHER_TIMEOUT_S)
        except Exception as exc:
            log.warning("carbonsdk: gathering the job's results failed (%s); each host's record "
                        "is in its own ledger", exc)
            self._gather_failed = True
            return
        if records is None:
            return  # not rank 0
        try:
            from carbonsdk.ledger import job_record, result_from_record

            runs = [result_from_record(r) for r in records]
            job_id = self.launch.job_id or f"run-{self.run_id}"
            self.job_result = aggregate(job_id, runs, gathered=True)
            if self._writer is not None:
                self._writer.write(job_record(self.job_result, records))
        except Exception:
            log.exception("carbonsdk: could not build the job result")
            self._gather_failed = True

    def _job_info(self) -> JobInfo | None:
        launch = self.launch
        if not launch.distributed:
            return None
        return JobInfo(
            launcher=launch.launcher, job_id=launch.job_id, job_id_source=launch.job_id_source,
            rank=launch.rank, local_rank=launch.local_rank, world_size=launch.world_size,
            local_world_size=launch.local_world_size, node_rank=launch.node_rank,
            node=launch.node, role=self.role, restart_count=launch.restart_count)

    def _build(
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
        with self._lock:
            assert self._timeline is not None
            measured = self._timeline.components
            device_j = dict(self._device_j)
            errors = dict(self._device_errors)
            glitched = tuple(f"device-glitch:{k}" for k in self._glitches)
            comp_j = {c: self._timeline.total_j(c) for c in measured}
        devices = tuple(
            DeviceResult(
                component=d.component, key=d.key, name=d.name, method=d.method,
                estimated=d.estimated, energy_kwh=device_j.get(d.key, 0.0) / J_PER_KWH,
                status="degraded" if d.key in errors else "ok", error=errors.get(d.key),
                index=d.index, uuid=d.uuid, detail=d.detail)
            for d in self._devices)
        degraded = tuple(f"device-degraded:{k}" for k in errors)
        if aligned is not None:
            timeline = _intervals(aligned)
            emissions = aligned.total_emissions_g
            mean = aligned.mean_intensity_g_per_kwh
            estimated_src = attrs.evolve(source, estimated=source.estimated
                                         or aligned.any_estimated)
        else:
            timeline, emissions, mean, estimated_src = (), 0.0, None, source
        if self._paused_since is not None:
            pauses = [*self._pauses, PauseEvent(to_datetime(self._paused_since), None)]
        else:
            pauses = list(self._pauses)
        extra_flags: list[str] = list(self._extra_flags)
        if self._marks_dropped:
            extra_flags.append(f"marks-dropped:{self._marks_dropped}")
        if self.launch.distributed and not self.launch.job_id_unique:
            extra_flags.append("job-id-not-unique")
        return RunResult(
            run_id=self.run_id,
            name=self.name,
            status=status,
            started_at=to_datetime(self._start_s),
            ended_at=to_datetime(end_s),
            duration_s=max(0.0, end_s - self._start_s),
            energy_kwh=sum(comp_j.values()) / J_PER_KWH,
            energy_by_component_kwh={c: v / J_PER_KWH for c, v in comp_j.items()},
            emissions_g=emissions,
            intensity_g_per_kwh=mean,
            pue=self.options.pue,
            region=region,
            intensity_source=estimated_src,
            timeline=timeline,
            devices=devices,
            tags=self.options.tags,
            not_measured=self._not_measured,
            estimated_components=tuple(
                c for c in measured if any(d.estimated for d in self._devices if d.component == c)),
            flags=tuple(dict.fromkeys((*flags, *degraded, *glitched, *extra_flags))),
            pauses=tuple(pauses),
            interval_s=self.options.interval_s,
            host=_host_info(),
            error=error,
            marks=tuple(self._marks),
            job=self._job_info(),
            parent_run_id=self.parent.run_id if self.parent is not None else None,
        )

    def _start_live(self) -> None:
        try:
            from carbonsdk.report import LivePanel

            self._live = LivePanel(self.name)
            self._live.start()
        except Exception:
            log.warning("carbonsdk: live panel unavailable", exc_info=True)
            self._live = None

    def _stop_live(self) -> None:
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:
                log.debug("live panel stop failed", exc_info=True)
            self._live = None

    def __repr__(self) -> str:
        return f"<carbonsdk.Run {self.name!r} {self._state} id={self.run_id[:8]}>"


def _intervals(aligned: AlignedSeries) -> tuple[TimelineInterval, ...]:
    comps = aligned.components
    return tuple(
        TimelineInterval(
            start=to_datetime(aligned.starts_s[i]),
            end=to_datetime(aligned.ends_s[i]),
            energy_kwh=aligned.energy_kwh[i],
            energy_by_component_kwh={c: aligned.energy_by_component_kwh[c][i] for c in comps},
            intensity_g_per_kwh=aligned.intensity_g_per_kwh[i],
            emissions_g=aligned.emissions_g[i],
            intensity_estimated=aligned.intensity_estimated[i],
        )
        for i in range(len(aligned))
    )


@functools.cache
def _host_info() -> Mapping[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


# -- public API ---------------------------------------------------------------------------------


def measure(
    name: str | None = None,
    *,
    region: str | Region | None = None,
    components: Iterable[str] = COMPONENTS,
    gpus: Iterable[int] | None = None,
    interval_s: float = 1.0,
    intensity: Any = "auto",
    ledger: str | os.PathLike[str] | bool | None = None,
    report: bool | None = None,
    pue: float = 1.0,
    tags: Mapping[str, str] | None = None,
    checkpoint_s: float = 60.0,
    live: bool = False,
    per_rank: bool = False,
    gather: bool = False,
    attribution: str | None = None,
) -> Run:
    """Measure the energy (kWh) and emissions (g CO2eq) of a ``with`` block.

    ``interval_s``: sampling period in seconds (> 0); ``pue``: data-centre overhead factor
    (>= 1) applied to emissions; ``checkpoint_s``: seconds between crash-safe ledger checkpoints;
    ``intensity``: ``"auto"``, ``"embedded"``, ``"electricitymaps"``, ``"watttime"``,
    ``"ukgrid"``, ``"csv:PATH"``, a constant in g/kWh, or a provider object. See SPEC §1 for
    every option. Invalid options raise :class:`ConfigurationError` here, at the call.

    Beyond SPEC: ``live`` shows a live panel; under torchrun / SLURM / MPI, local rank 0 measures
    the whole host and the other ranks record nothing (``per_rank=True``: every rank measures its
    own GPU, local rank 0 also CPU and RAM); ``gather=True`` sends every rank's result to global
    rank 0 over ``torch.distributed`` at exit, which prints the job-level report and sets
    ``run.job_result``; ``attribution="process"`` also reports this process tree's share of the
    measured energy and emissions.
    """
    options = validate_options(
        name, region=region, components=components, gpus=gpus, interval_s=interval_s,
        intensity=intensity, ledger=ledger, report=report, pue=pue, tags=tags,
        checkpoint_s=checkpoint_s, live=live, per_rank=per_rank, gather=gather,
        attribution=attribution)
    return Run(options)


@overload
def tracked(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def tracked(
    name: str | None = None, /, **options: Any
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def tracked(name_or_func: Any = None, /, **options: Any) -> Any:
    """Decorator measuring every call of a function, method or ``async def`` (a generator
    function is measured over its whole iteration; async generators are refused).

    ``@tracked``, ``@tracked()``, ``@tracked("name")`` or ``@tracked("name", **measure options)``;
    the default name is the function's qualified name. The function's return value and
    exceptions pass through unchanged; each call's result is on
    ``wrapper.last_result`` (a :class:`RunResult`).
    """
    if name_or_func is None and "name" in options:
        name_or_func = options.pop("name")
        if name_or_func is not None and not isinstance(name_or_func, str):
            raise ConfigurationError(
                f"name={name_or_func!r} is not valid: expected a string or None")
    if callable(name_or_func) and not isinstance(name_or_func, str):
        return _decorate(name_or_func, None,
                         validate_options(None, explicit=options.keys(), **options))
    if name_or_func is not None and not isinstance(name_or_func, str):
        raise ConfigurationError(
            f"tracked({name_or_func!r}) is not valid: expected a function, a name string or "
            "nothing")
    opts = validate_options(name_or_func, explicit=options.keys(), **options)

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        return _decorate(func, name_or_func, opts)

    return decorator


def _decorate(func: Callable[P, R], name: str | None, opts: RunOptions) -> Callable[P, R]:
    if not callable(func):
        raise ConfigurationError(f"tracked: {func!r} is not callable")
    run_name = name or getattr(func, "__qualname__", None) or repr(func)
    opts = attrs.evolve(opts, name=run_name)

    if inspect.isasyncgenfunction(func):
        raise ConfigurationError(
            f"tracked: {run_name} is an async generator function, which is not supported: "
            "use `async with carbonsdk.measure(...)` around the iteration instead")

    if inspect.isgeneratorfunction(func):
        gen_func: Callable[P, Generator[Any, Any, Any]] = func  # type: ignore[assignment]

        @functools.wraps(func)
        def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
            run = Run(opts)  # measures the whole iteration, not just the call
            try:
                with run:
                    return (yield from gen_func(*args, **kwargs))
            finally:
                gen_wrapper.last_result = run.result  # type: ignore[attr-defined]

        gen_wrapper.last_result = None  # type: ignore[attr-defined]
        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):
        async_func: Callable[P, Awaitable[Any]] = func  # type: ignore[assignment]

        @functools.wraps(func)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            run = Run(opts)
            try:
                with run:
                    return await async_func(*args, **kwargs)
            finally:
                async_wrapper.last_result = run.result  # type: ignore[attr-defined]

        async_wrapper.last_result = None  # type: ignore[attr-defined]
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        run = Run(opts)
        try:
            with run:
                return func(*args, **kwargs)
        finally:
            wrapper.last_result = run.result  # type: ignore[attr-defined]

    wrapper.last_result = None  # type: ignore[attr-defined]
    return wrapper
