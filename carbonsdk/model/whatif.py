"""The values of a what-if analysis of one recorded run (:func:`carbonsdk.schedule.whatif_for_run`):
the run replayed per zone (:class:`WhatIfRow`) and with Flexible Start / Pause and Resume in its
own zone (:class:`WhatIf`). Emissions g CO2eq (PUE included), intensity g CO2eq/kWh.
"""

from __future__ import annotations

import attrs

from carbonsdk.model.plan import Plan


@attrs.frozen
class WhatIfRow:
    """The run replayed in one zone: ``zone``, ``emissions_g`` (g CO2eq, PUE included),
    ``intensity_g_per_kwh`` (energy-weighted mean), ``estimated`` (some hour came from another
    year or an annual average), ``is_own`` (the run's own zone)."""

    zone: str
    emissions_g: float
    intensity_g_per_kwh: float
    estimated: bool = False
    is_own: bool = False


@attrs.frozen
class WhatIf:
    """What-if analysis of one run.

    ``run_id``; ``energy_kwh`` (measured) and ``pue`` of the run; ``recorded_emissions_g``: what
    the run recorded (its own provider); ``own``: the run's zone replayed with embedded data
    (None when the zone is unknown); ``regions``: one row per zone, lowest emissions first;
    ``flexible_start`` / ``pause_and_resume``: plans in the run's own zone with
    ``max_delay`` / ``max_extension`` (None when they could not be made, see ``notes``).
    """

    run_id: str
    energy_kwh: float
    pue: float
    recorded_emissions_g: float
    own: WhatIfRow | None
    regions: tuple[WhatIfRow, ...]
    flexible_start: Plan | None
    pause_and_resume: Plan | None
    max_delay_s: float
    max_extension_fraction: float
    notes: tuple[str, ...] = ()

    @property
    def best(self) -> WhatIfRow | None:
        """The zone with the lowest emissions, None without rows."""
        return self.regions[0] if self.regions else None
