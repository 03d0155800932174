"""Which devices a run measures, and what each of them measured: the sampler subscription.

:func:`subscribe` asks the sampler for the run's components and keeps the devices that are the
run's own (``gpus=``, or under a launcher in per-rank mode the rank's own GPU; CPU and RAM then
measured by local rank 0 only). :func:`observe` is the rank of a host that another rank
measures: it records nothing that could be counted twice. Either returns a :class:`Metering`,
the run's tallies, mutated under the run's lock by the sampler callbacks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.units import J_PER_KWH
from carbonsdk.run._guard import guard
from carbonsdk.timeline import TimelineBuilder

if TYPE_CHECKING:
    from carbonsdk.model.device import DeviceInfo
    from carbonsdk.model.energy import EnergySeries
    from carbonsdk.model.result import Mark, PauseEvent
    from carbonsdk.run.result_builder import Measured
    from carbonsdk.run.run import Run
    from carbonsdk.sampler import Sampler

#: why a non-zero local rank in per-rank mode has no CPU / RAM figures
DELEGATED_PER_RANK = "measured by local rank 0 of this host (per-rank mode)"
#: why an observer rank (host mode) has no figures at all
DELEGATED_HOST = "measured by local rank 0 of this host (host mode)"


class Metering:
    """A run's devices and what they measured: the timeline of the measured components (J per
    interval), each device's energy (J), degraded devices (key -> error), glitch counts (key ->
    dropped readings), components with no figures (component -> reason), the start (UTC epoch
    s) and the power of the last interval (W). Not thread-safe: the run's lock guards it.

    The sampler's discovery warnings (``Subscription.warnings``) are not kept: they are the
    sampler's, not the run's (every component's), and the sampler logs each one on the
    ``carbonsdk`` logger when its discovery finds it; a component left unmeasured says why in
    ``not_measured``."""

    def __init__(
        self,
        devices: Sequence[DeviceInfo],
        components: Sequence[str],
        not_measured: Mapping[str, str],
        start_s: float,
    ) -> None:
        self.devices = tuple(devices)
        self.keys = {d.key: d.component for d in self.devices}
        self.device_j = dict.fromkeys(self.keys, 0.0)
        self.errors: dict[str, str] = {}
        self.glitches: dict[str, int] = {}
        self.not_measured = dict(not_measured)
        self.timeline = TimelineBuilder(tuple(components))
        self.start_s = start_s
        #: power over the last measured interval, W (all measured components)
        self.last_power_w = 0.0

    def add(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Add the energy per device key (J) over ``[start_s, end_s)``; keys of other runs are
        skipped (the sampler's hot path)."""
        per_comp: dict[str, float] = {}
        keys = self.keys
        device_j = self.device_j
        for key, joules in energy_j.items():
            comp = keys.get(key)
            if comp is None:
                continue
            device_j[key] += joules
            per_comp[comp] = per_comp.get(comp, 0.0) + joules
        self.timeline.add(start_s, end_s, per_comp)
        if end_s > start_s:
            self.last_power_w = sum(per_comp.values()) / (end_s - start_s)

    def error(self, key: str, message: str) -> None:
        """Device ``key`` is degraded (ignored when it is not one of the run's)."""
        if key in self.keys:
            self.errors[key] = message

    def glitch(self, key: str) -> None:
        """An implausible reading of device ``key`` was dropped (counted)."""
        if key in self.keys:
            self.glitches[key] = self.glitches.get(key, 0) + 1

    def energy_kwh(self) -> float:
        """Energy measured so far, kWh (all measured components)."""
        return self.timeline.total_j() / J_PER_KWH

    def so_far(self) -> EnergySeries | None:
        """The energy measured so far; None before an interval has ended after the start, or
        with no measured component."""
        end_s = self.timeline.end_s or self.start_s
        if not self.timeline.components or end_s <= self.start_s:
            return None
        return self.timeline.snapshot()

    def measured(
        self, marks: tuple[Mark, ...] = (), pauses: tuple[PauseEvent, ...] = ()
    ) -> Measured:
        """A copy of what was measured so far, for the result, with the run's ``marks`` and
        ``pauses``."""
        from carbonsdk.run.result_builder import Measured

        comps = self.timeline.components
        return Measured(
            components=comps,
            component_j={c: self.timeline.total_j(c) for c in comps},
            device_j=dict(self.device_j),
            device_errors=dict(self.errors),
            glitched=tuple(self.glitches),
            not_measured=dict(self.not_measured),
            marks=marks,
            pauses=pauses,
        )


def start(run: Run, sampler: Sampler) -> Metering:
    """What ``run`` measures from now: :func:`observe` for an observer rank, else
    :func:`subscribe`."""
    return (observe if run.role == "observer" else subscribe)(run, sampler)


def subscribe(run: Run, sampler: Sampler) -> Metering:
    """Subscribe ``run`` to ``sampler`` for its components and keep its own devices. Raises
    :class:`ConfigurationError` (unsubscribed again) when a GPU of ``gpus=`` is not visible."""
    comps = run.options.components
    delegated: dict[str, str] = {}
    if run.role == "rank" and run.launch.local_rank not in (None, 0):
        delegated = {c: DELEGATED_PER_RANK for c in comps if c != "gpu"}
        comps = tuple(c for c in comps if c not in delegated)
    sub = sampler.subscribe(run, comps, run.options.interval_s)
    try:
        devices = select_devices(run, list(sub.devices))
    except ConfigurationError:
        sampler.unsubscribe(run)
        raise
    measured = tuple(c for c in comps if any(d.component == c for d in devices))
    not_measured = {
        c: sub.not_measured.get(c, f"no {c} sensor on this host")
        for c in comps
        if c not in measured
    }
    not_measured.update(delegated)
    return Metering(devices, measured, not_measured, sub.start_s)


def select_devices(run: Run, devices: list[DeviceInfo]) -> list[DeviceInfo]:
    """The devices of ``devices`` that are ``run``'s: in per-rank mode without ``gpus=`` the
    rank's own GPUs, with ``gpus=`` those indices (all of which must be visible)."""
    gpus = [d for d in devices if d.component == "gpu"]
    wanted = run.options.gpus
    if run.role == "rank" and wanted is None and gpus:
        from carbonsdk.distributed import own_gpu_indices

        mine = own_gpu_indices(run.launch, [d.index for d in gpus if d.index is not None])
        devices = [d for d in devices if d.component != "gpu" or d.index in mine]
    if wanted is not None and gpus:
        known = {d.index for d in gpus}
        missing = [g for g in wanted if g not in known]
        if missing:
            raise ConfigurationError(
                f"gpus={list(wanted)!r} is not valid: GPU index {missing[0]} is not visible to "
                f"this process (visible: {sorted(i for i in known if i is not None)})"
            )
        devices = [d for d in devices if d.component != "gpu" or d.index in wanted]
    return devices


def observe(run: Run, sampler: Sampler) -> Metering:
    """Another rank of this host measures it: no devices, every component delegated."""
    return Metering((), (), dict.fromkeys(run.options.components, DELEGATED_HOST), sampler.now_s())


def stop(run: Run, sampler: Sampler) -> float:
    """Unsubscribe ``run`` (an observer only reads the time); the end (UTC epoch s). A failing
    sampler is logged and the end taken from its clock."""
    end_s: float | None = None
    with guard("stopping the sampler", level=logging.ERROR):
        end_s = sampler.now_s() if run.role == "observer" else sampler.unsubscribe(run)
    return sampler.clock.time() if end_s is None else end_s
