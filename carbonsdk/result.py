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

from carbonsdk.intensity.series import IntensitySource
from carbonsdk.region.base import Region

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
class RunResult:
    """Everything known about a finished (or rebuilt) run.

    Energy in kWh (``energy_kwh`` = sum of measured components), emissions in g CO2eq
    (Σ interval energy × ``pue`` × intensity), ``intensity_g_per_kwh`` the energy-weighted mean
    intensity. ``timeline`` tiles ``[started_at, ended_at)`` without gaps. Components that were
    asked for but have no sensor are listed in ``not_measured`` (never reported as 0 kWh);
    ``estimated_components`` lists components whose energy comes from a model. ``flags`` holds
    machine-readable warnings (``"region-unknown"``, ``"intensity-fallback"``, ...).
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

    @property
    def emissions_kg(self) -> float:
        """Emissions in kg CO2eq."""
        return self.emissions_g / 1000.0
