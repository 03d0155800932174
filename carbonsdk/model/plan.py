"""The values of a carbon-aware schedule: a :class:`Plan` for one job and its run intervals
(:class:`PlanInterval`), made by :mod:`carbonsdk.schedule` (Flexible Start, Pause and Resume, the
baseline). Times are aware UTC datetimes, energy kWh, intensity g CO2eq/kWh, emissions g CO2eq.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from carbonsdk.model.intensity import IntensitySource


@attrs.frozen
class PlanInterval:
    """One uninterrupted run ``[start, end)`` (aware UTC datetimes) of a plan: the share of the
    job's energy spent in it (``energy_fraction``, 0..1), the energy-weighted mean intensity that
    held (g/kWh; time-weighted when the share is 0), the emissions (g CO2eq, PUE included) and
    whether any intensity used was estimated."""

    start: datetime
    end: datetime
    energy_fraction: float
    intensity_g_per_kwh: float
    emissions_g: float
    estimated: bool = False

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return (self.end - self.start).total_seconds()


@attrs.frozen
class Plan:
    """A schedule for one job.

    ``strategy``: ``"flexible_start"``, ``"pause_and_resume"`` or ``"baseline"``;
    ``earliest_start``: the start asked for (the baseline starts there); ``intervals``: the run
    intervals in time order; ``start``/``end``: first start and last end; ``deadline``: the
    latest end the window allowed; ``duration_s``: the job's running time; ``window_s``: the
    max delay (Flexible Start) or max extension (Pause and Resume) in seconds.
    ``emissions_g`` / ``baseline_emissions_g``: g CO2eq for ``energy_kwh`` (for 1 kWh when
    ``energy_kwh`` is None, flag ``"per-kwh"``), PUE included; ``intensity_g_per_kwh`` /
    ``baseline_intensity_g_per_kwh``: energy-weighted mean intensities (PUE excluded);
    ``savings_fraction``: ``1 - emissions / baseline`` (0 when the baseline is 0);
    ``pauses``: number of interruptions; ``baseline_intervals``: the baseline's run.
    ``flags``: ``"per-kwh"``, ``"intensity-estimated"`` (some value used was estimated, e.g. a
    forecast), ``"typical-fill"`` (part of the window came from the embedded typical year).
    """

    strategy: str
    earliest_start: datetime
    intervals: tuple[PlanInterval, ...]
    start: datetime
    end: datetime
    deadline: datetime
    duration_s: float
    window_s: float
    emissions_g: float
    baseline_emissions_g: float
    savings_fraction: float
    intensity_g_per_kwh: float
    baseline_intensity_g_per_kwh: float
    pauses: int
    energy_kwh: float | None
    pue: float
    source: IntensitySource
    baseline_intervals: tuple[PlanInterval, ...] = ()
    flags: tuple[str, ...] = ()

    @property
    def delay_s(self) -> float:
        """Seconds between the earliest start and the planned start."""
        return (self.start - self.earliest_start).total_seconds()

    @property
    def savings_g(self) -> float:
        """``baseline_emissions_g - emissions_g`` (g CO2eq; per kWh with ``"per-kwh"``)."""
        return self.baseline_emissions_g - self.emissions_g

    @property
    def paused_s(self) -> float:
        """Total time paused between the first start and the last end, seconds."""
        return (self.end - self.start).total_seconds() - self.duration_s

    @property
    def estimated(self) -> bool:
        """True when the plan used an estimated intensity (forecast, typical year...)."""
        return "intensity-estimated" in self.flags
