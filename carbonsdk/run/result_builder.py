"""Building a :class:`RunResult` from what a run measured: pure, no I/O, no locks."""

from __future__ import annotations

import functools
import os
import platform
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from carbonsdk.accounting import intervals
from carbonsdk.clock import to_datetime
from carbonsdk.model.device import DeviceInfo
from carbonsdk.model.result import DeviceResult, JobInfo, Mark, PauseEvent, RunResult
from carbonsdk.model.units import J_PER_KWH

if TYPE_CHECKING:
    from carbonsdk.run.resolve import Pricing


@attrs.frozen
class Measured:
    """What a run measured, copied out of it under its lock: the timeline's components with
    their energy (J), each device's energy (J), degraded devices (key -> error), glitching
    devices (keys), the components with no sensor (component -> reason), its marks and its
    pauses."""

    components: tuple[str, ...]
    component_j: Mapping[str, float]
    device_j: Mapping[str, float]
    device_errors: Mapping[str, str]
    glitched: tuple[str, ...]
    not_measured: Mapping[str, str]
    marks: tuple[Mark, ...] = ()
    pauses: tuple[PauseEvent, ...] = ()


@attrs.frozen
class Identity:
    """Who the run is: its id, name, start (UTC epoch s), options that land in the result, its
    place in a job, its parent run and its own flags (signals, failed extensions, dropped
    marks, ...)."""

    run_id: str
    name: str
    start_s: float
    pue: float
    interval_s: float
    tags: Mapping[str, str]
    devices: tuple[DeviceInfo, ...]
    job: JobInfo | None
    parent_run_id: str | None
    flags: tuple[str, ...] = ()


@functools.cache
def host_info() -> Mapping[str, Any]:
    """This machine: hostname, platform, Python version, CPU count."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def build_result(
    who: Identity,
    measured: Measured,
    *,
    status: str,
    end_s: float,
    pricing: Pricing,
    error: str | None,
) -> RunResult:
    """The frozen result. ``pricing.aligned`` None (a checkpoint, an observer): no timeline and
    no emissions. Flags: the intensity's (``pricing.flags``) first, then
    ``device-degraded:KEY``, ``device-glitch:KEY`` and the run's own (``who.flags``), without
    repeats."""
    devices = tuple(
        DeviceResult(
            component=d.component,
            key=d.key,
            name=d.name,
            method=d.method,
            estimated=d.estimated,
            energy_kwh=measured.device_j.get(d.key, 0.0) / J_PER_KWH,
            status="degraded" if d.key in measured.device_errors else "ok",
            error=measured.device_errors.get(d.key),
            index=d.index,
            uuid=d.uuid,
            detail=d.detail,
        )
        for d in who.devices
    )
    degraded = tuple(f"device-degraded:{k}" for k in measured.device_errors)
    glitched = tuple(f"device-glitch:{k}" for k in measured.glitched)
    aligned, source = pricing.aligned, pricing.source
    if aligned is not None:
        timeline = intervals(aligned)
        emissions = aligned.total_emissions_g
        mean: float | None = aligned.mean_intensity_g_per_kwh
        source = attrs.evolve(source, estimated=source.estimated or aligned.any_estimated)
    else:
        timeline, emissions, mean = (), 0.0, None
    comp_j = measured.component_j
    return RunResult(
        run_id=who.run_id,
        name=who.name,
        status=status,
        started_at=to_datetime(who.start_s),
        ended_at=to_datetime(end_s),
        duration_s=max(0.0, end_s - who.start_s),
        energy_kwh=sum(comp_j.values()) / J_PER_KWH,
        energy_by_component_kwh={c: v / J_PER_KWH for c, v in comp_j.items()},
        emissions_g=emissions,
        intensity_g_per_kwh=mean,
        pue=who.pue,
        region=pricing.region,
        intensity_source=source,
        timeline=timeline,
        devices=devices,
        tags=who.tags,
        not_measured=measured.not_measured,
        estimated_components=tuple(
            c
            for c in measured.components
            if any(d.estimated for d in who.devices if d.component == c)
        ),
        flags=tuple(dict.fromkeys((*pricing.flags, *degraded, *glitched, *who.flags))),
        interval_s=who.interval_s,
        host=host_info(),
        error=error,
        marks=measured.marks,
        pauses=measured.pauses,
        job=who.job,
        parent_run_id=who.parent_run_id,
    )
