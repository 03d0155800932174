"""``measure(attribution="process")``: this process tree's share of the measured energy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from carbonsdk.accounting import align
from carbonsdk.model.result import RunResult
from carbonsdk.run.extension import RunExtension

if TYPE_CHECKING:
    from carbonsdk.run.run import Run


class AttributionExtension(RunExtension):
    """Feeds every interval to a :class:`carbonsdk.attribution.ProcessAttributor` and adds the
    attributed energy and emissions (aligned with the run's own intensity) to the result."""

    name = "process attribution"
    flag = "attribution-failed"
    wants_intervals = True

    def __init__(self) -> None:
        self._run: Run | None = None
        self._attributor: Any = None
        self._end_s: float | None = None

    def start(self, run: Run) -> None:
        """Start attributing the run's measured components."""
        from carbonsdk.attribution import ProcessAttributor

        assert run.sampler is not None and run.timeline is not None
        self._run = run
        self._attributor = ProcessAttributor.start(
            run.sampler,
            devices=run.devices,
            components=run.timeline.components,
            start_s=run.start_s,
        )

    def on_interval(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Energy per device key (J) over the interval, for the shares."""
        if self._attributor is not None:
            self._attributor.add(start_s, end_s, energy_j)

    def after_tick(self, now_s: float) -> None:
        """Refresh the process tree (paced by the attributor itself)."""
        if self._attributor is not None:
            self._attributor.refresh(now_s)

    def before_finish(self, end_s: float) -> None:
        """Remember where the measurement ended (UTC epoch s)."""
        self._end_s = end_s

    def finish(self, result: RunResult) -> RunResult:
        """Add ``attributed_energy_by_component_kwh``, ``attributed_emissions_g`` (None when no
        component had a known share) and ``attribution``."""
        run, attributor = self._run, self._attributor
        if (
            run is None
            or attributor is None
            or run.resolver.final_series is None
            or self._end_s is None
        ):
            return result
        attributed = attributor.finish(self._end_s)
        if attributed.energy.components:
            shares = align(attributed.energy, run.resolver.final_series, pue=run.options.pue)
            by_comp = {c: sum(v) for c, v in shares.energy_by_component_kwh.items()}
            att_g: float | None = shares.total_emissions_g
        else:  # no component had a known share: nothing attributed, not a zero
            by_comp, att_g = {}, None
        return attrs.evolve(
            result,
            attributed_energy_by_component_kwh=by_comp,
            attributed_emissions_g=att_g,
            attribution=attributed.detail,
        )
