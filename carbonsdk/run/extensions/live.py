"""The live panel (``measure(live=True)``): power, energy and emissions so far on the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbonsdk.run.extension import RunExtension

if TYPE_CHECKING:
    from carbonsdk.run.run import Run


class LivePanelExtension(RunExtension):
    """Shows :class:`carbonsdk.report.LivePanel` while the run measures; emissions so far are
    summed per sample with the local (never the network) intensity."""

    name = "live panel"

    def __init__(self) -> None:
        self._run: Run | None = None
        self._panel: Any = None
        self._energy_kwh = 0.0
        self._emissions_g = 0.0

    def start(self, run: Run) -> None:
        """Show the panel."""
        from carbonsdk.report import LivePanel

        self._run = run
        self._panel = LivePanel(run.name)
        self._panel.start()

    def after_tick(self, now_s: float) -> None:
        """Update the panel's values (stored only; rich redraws on its own thread)."""
        run, panel = self._run, self._panel
        if run is None or panel is None:
            return
        energy_kwh = run.energy_kwh
        intensity: float | None = None
        series = run.resolver.provisional_series(run.region, run.start_s, now_s)
        i = series.index_at(now_s)
        if i is not None:
            intensity = series.values_g_per_kwh[i]
            delta_kwh = energy_kwh - self._energy_kwh
            self._emissions_g += max(0.0, delta_kwh) * run.options.pue * intensity
        self._energy_kwh = energy_kwh
        panel.update(
            run.elapsed_s,
            run.last_power_w,
            energy_kwh,
            self._emissions_g if intensity is not None else None,
        )

    def before_finish(self, end_s: float) -> None:
        """Remove the panel before the report is printed."""
        panel, self._panel = self._panel, None
        if panel is not None:
            panel.stop()
