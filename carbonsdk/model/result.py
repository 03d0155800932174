"""The frozen outcome of a run, handed to users, the ledger and the report.

Value classes only: serialisation lives in :mod:`carbonsdk.ledger`, rendering in
:mod:`carbonsdk.report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region

STATUSES = ("completed", "failed", "interrupted")


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@attrs.frozen
class TimelineInterval:
    """One aligned interval ``[start, end)`` of a run: energy (kWh, all measured components and
    per component), the grid intensity that held (g/kWh, ``intensity_estimated`` when that value
    was not a measurement) and the emissions (g CO2eq, PUE included)."""

    start: datetime
    end: datetime
    energy_kwh: float
    energy_by_component_kwh: Mapping[str, float] = attrs.field(converter=_frozen_map)
    intensity_g_per_kwh: float
    emissions_g: float
    intensity_estimated: bool = False

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return (self.end - self.start).total_seconds()


@attrs.frozen
class DeviceResult:
    """One measured device: component, key, name, how it was measured (``method``), whether
    the figure is a model (``estimated``), its energy in kWh, and ``status`` (``"ok"`` or
    ``"degraded"``, with ``error`` saying why; energy after a failure is not counted)."""

    component: str
    key: str
    name: str
    method: str
    estimated: bool
    energy_kwh: float
    status: str = "ok"
    error: str | None = None
    index: int | None = None
    uuid: str | None = None
    detail: str = ""


@attrs.frozen
class PauseEvent:
    """A pause of a live run (``run.should_pause()``): ``start``/``end`` aware UTC datetimes,
    ``end`` None while paused when the run ended."""

    start: datetime
    end: datetime | None


@attrs.frozen
class Mark:
    """A point the program marked in a run's timeline (``run.mark()``; the framework callbacks
    mark epochs and steps): ``at`` (aware UTC datetime), ``label``, the run's measured energy so
    far (``energy_kwh``, cumulative, all components) and JSON-scalar ``data`` (epoch, step, ...).
    Energy between two marks is the difference of their ``energy_kwh``."""

    at: datetime
    label: str
    energy_kwh: float
    data: Mapping[str, Any] = attrs.field(converter=_frozen_map, factory=dict)


@attrs.frozen
class JobInfo:
    """Where a run sits in a distributed job (torchrun, SLURM, MPI).

    ``job_id`` groups the records of every rank and host of one job (None when the launcher gave
    nothing to derive it from; ``job_id_source`` says where it came from). ``role``: ``"host"``
    (this process measured the whole host: its GPUs, CPU and RAM), ``"rank"`` (per-rank mode: this
    process measured only its own GPU, plus CPU and RAM on local rank 0) or ``"observer"`` (another
    rank of this host measures; this record counts nothing). ``node`` identifies the host within
    the job (hostname, with the node rank when known).
    """

    launcher: str
    job_id: str | None
    job_id_source: str
    rank: int | None
    local_rank: int | None
    world_size: int | None
    local_world_size: int | None
    node_rank: int | None
    node: str
    role: str
    restart_count: int = 0


@attrs.frozen
class RunResult:
    """Everything known about a finished (or rebuilt) run.

    Energy in kWh (``energy_kwh`` = sum of measured components), emissions in g CO2eq
    (Σ interval energy × ``pue`` × intensity), ``intensity_g_per_kwh`` the energy-weighted mean
    intensity. ``timeline`` tiles ``[started_at, ended_at)`` without gaps. Components that were
    asked for but have no sensor are listed in ``not_measured`` (never reported as 0 kWh);
    ``estimated_components`` lists components whose energy comes from a model. ``flags`` holds
    machine-readable warnings (``"region-unknown"``, ``"intensity-fallback"``, ...).

    ``marks``: points marked in the run (epochs, steps). ``job``: the run's place in a distributed
    job, None for a plain process. With ``attribution="process"``, the share of the measured
    energy attributed to this process tree: ``attributed_energy_by_component_kwh`` (kWh per
    component with a known share, next to the whole-device figures, never instead of them),
    ``attributed_emissions_g`` (g CO2eq over those components, same intensity and PUE; None
    when no component had a known share) and ``attribution`` (per component, how the share was
    computed, or why it could not be). ``parent_run_id``: the ``run_id`` of the enclosing run
    when this run was started inside another one in the same process (nested ``measure()`` /
    ``@tracked``), None for a top-level run.

    ``repriced_at``/``repriced_from``: set when this pricing came from
    :func:`carbonsdk.reprice` (the energy timeline re-aligned later with better intensity
    data; ``intensity_source`` then names the new data, ``repriced_from`` the source of the
    pricing it replaced, and ``flags`` holds ``"repriced"``); None for the pricing made at the
    end of the run.
    """

    run_id: str
    name: str
    status: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    energy_kwh: float
    energy_by_component_kwh: Mapping[str, float] = attrs.field(converter=_frozen_map)
    emissions_g: float
    intensity_g_per_kwh: float | None
    pue: float
    region: Region
    intensity_source: IntensitySource
    timeline: tuple[TimelineInterval, ...]
    devices: tuple[DeviceResult, ...]
    tags: Mapping[str, str] = attrs.field(converter=_frozen_map)
    not_measured: Mapping[str, str] = attrs.field(converter=_frozen_map, factory=dict)
    estimated_components: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    pauses: tuple[PauseEvent, ...] = ()
    interval_s: float = 1.0
    host: Mapping[str, Any] = attrs.field(converter=_frozen_map, factory=dict)
    error: str | None = None
    marks: tuple[Mark, ...] = ()
    job: JobInfo | None = None
    attributed_energy_by_component_kwh: Mapping[str, float] = attrs.field(
        converter=_frozen_map, factory=dict
    )
    attributed_emissions_g: float | None = None
    attribution: Mapping[str, str] = attrs.field(converter=_frozen_map, factory=dict)
    parent_run_id: str | None = None
    #: when this pricing was computed by :func:`carbonsdk.reprice` (aware UTC), None: at the
    #: end of the run
    repriced_at: datetime | None = None
    #: the intensity source of the pricing this one replaced, None when never repriced
    repriced_from: IntensitySource | None = None

    @property
    def emissions_kg(self) -> float:
        """Emissions in kg CO2eq."""
        return self.emissions_g / 1000.0

    @property
    def attributed_energy_kwh(self) -> float | None:
        """Energy attributed to this process tree, kWh (None without ``attribution="process"``)."""
        if not self.attributed_energy_by_component_kwh:
            return None
        return sum(self.attributed_energy_by_component_kwh.values())


@attrs.frozen
class NodeResult:
    """One host (node) of a distributed job: the sum of the runs that measured it.

    ``node``: the host's name in the job (hostname, ``#<node rank>`` when known); ``ranks``: the
    global ranks whose runs measured it; ``region``: the host's own region (each host is
    accounted with its own zone's intensity): that of its earliest run, unknown when its runs
    were in different zones; energy in kWh, emissions in g CO2eq,
    ``intensity_g_per_kwh`` the energy-weighted mean; ``intensity_estimated`` when any of its
    intensity values was not a measurement.
    """

    node: str
    hostname: str
    node_rank: int | None
    ranks: tuple[int, ...]
    region: Region
    energy_kwh: float
    energy_by_component_kwh: Mapping[str, float] = attrs.field(converter=_frozen_map)
    emissions_g: float
    intensity_g_per_kwh: float | None
    intensity_estimated: bool
    started_at: datetime
    ended_at: datetime
    run_ids: tuple[str, ...]
    status: str
    gpu_count: int = 0


@attrs.frozen
class JobResult:
    """A distributed job added up over its hosts (``carbonsdk.job_result()``, ``carbonsdk report
    --job``, or ``measure(gather=True)`` on rank 0).

    Energy in kWh (all hosts, all measured components), emissions in g CO2eq (each host with its
    own zone and intensity), ``intensity_g_per_kwh`` the energy-weighted mean over hosts.
    ``status``: ``"failed"`` if any run failed, else ``"interrupted"`` if any was, else
    ``"completed"``. ``expected_nodes``: nodes the launch said the job has (None if unknown);
    ``flags``: machine-readable warnings (``"missing-nodes:N"``, ``"job-id-not-unique"``,
    ``"overlapping-host-runs:<node>"``, ``"nodes-share-machine:<hostname>"``, ...).
    """

    job_id: str
    launcher: str
    nodes: tuple[NodeResult, ...]
    runs: tuple[RunResult, ...]
    energy_kwh: float
    energy_by_component_kwh: Mapping[str, float] = attrs.field(converter=_frozen_map)
    emissions_g: float
    intensity_g_per_kwh: float | None
    started_at: datetime
    ended_at: datetime
    duration_s: float
    status: str
    expected_nodes: int | None
    flags: tuple[str, ...] = ()
    gathered: bool = False

    @property
    def emissions_kg(self) -> float:
        """Emissions in kg CO2eq."""
        return self.emissions_g / 1000.0
