"""Where a run is and which grid intensity it is priced with, at its start, while live and at
its end.

At the start the region is fixed (``region=``, ``CARBONSDK_REGION``, offline mode, or the
enclosing run's) or a cloud-detection lookup runs in the background. While the run is live,
figures use a *provisional* series: the run's provider when it is local (embedded data, a CSV,
a constant), else the embedded data, so the sampler thread never waits on the network. At the
end the region waits up to :data:`DETECTION_BUDGET_S` for detection and the provider up to
:data:`PROVIDER_BUDGET_S`; a series that does not cover the run is extended and flagged
``intensity-estimated``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

from carbonsdk.model.region import Region
from carbonsdk.run._guard import guard

if TYPE_CHECKING:
    from carbonsdk.accounting import AlignedSeries
    from carbonsdk.intensity.base import IntensityProvider
    from carbonsdk.model.energy import EnergySeries
    from carbonsdk.model.intensity import IntensitySeries, IntensitySource
    from carbonsdk.region.lookup import RegionLookup

#: how long the end of a run may wait for a live intensity provider, seconds (a deadline for
#: the whole lookup)
PROVIDER_BUDGET_S = 5.0
#: how long the end of a run may wait for cloud-region detection still in flight, seconds
DETECTION_BUDGET_S = 1.0
#: a series is fetched this far past the live end, seconds, so a tick rarely refetches it
PROVISIONAL_AHEAD_S = 86_400.0


@attrs.frozen
class Pricing:
    """How a result is priced: the energy ``aligned`` with the intensity (None: a checkpoint's
    partial result or an observer's, with no timeline and no emissions), the provider's
    ``source``, the ``region`` and the intensity's ``flags``."""

    aligned: AlignedSeries | None
    source: IntensitySource
    region: Region
    flags: tuple[str, ...] = ()


def unpriced(
    region: Region, source: IntensitySource | None = None, *, flags: tuple[str, ...] = ()
) -> Pricing:
    """A :class:`Pricing` without emissions, in ``region``; ``source`` None: no provider (an
    observer rank's result)."""
    if source is None:
        from carbonsdk.model.intensity import IntensitySource

        source = IntensitySource(provider="none", signal="average", basis="unknown", zone=None)
    return Pricing(aligned=None, source=source, region=region, flags=flags)


class Resolver:
    """A run's region and intensity provider (``intensity`` None: ``"auto"``, resolved when
    asked). :meth:`start` settles the region or starts its detection; :meth:`region` is the
    region as known now, :meth:`final_region` the one at the end."""

    def __init__(self) -> None:
        #: the run's provider (None: ``"auto"``), set by :meth:`start`
        self.intensity: IntensityProvider | None = None
        #: the region known for certain (None while detection runs or before start)
        self.fixed: Region | None = None
        #: the detection in flight (shared with the runs nested in this one)
        self.lookup: RegionLookup | None = None
        #: the series the final result was aligned with (None before the end)
        self.final_series: IntensitySeries | None = None
        self._provisional: IntensitySeries | None = None

    def start(
        self,
        region: Region | None,
        intensity: IntensityProvider | None,
        *,
        inherited: RegionLookup | None = None,
    ) -> None:
        """Settle the region at the start of the run: ``region`` when given, else the
        enclosing run's detection still in flight (``inherited``), else ``CARBONSDK_REGION``;
        when that is unset (and not offline), cloud detection starts in the background.
        ``intensity``: the run's provider (None: ``"auto"``)."""
        self.intensity = intensity
        if region is not None:
            self.fixed = region
            return
        if inherited is not None:
            self.lookup = inherited
            return
        from carbonsdk import config
        from carbonsdk.region import resolve_region

        quick = resolve_region(None, offline=True)  # env var only: no network
        if quick.known or config.offline():
            self.fixed = quick
        else:
            from carbonsdk.region.lookup import RegionLookup

            self.lookup = RegionLookup()

    @property
    def region(self) -> Region:
        """The region as known now (detection may still be in flight: its region so far)."""
        if self.fixed is not None:
            return self.fixed
        if self.lookup is not None:
            return self.lookup.region
        return Region.unknown()

    def final_region(self) -> Region:
        """The region at the end (waits up to :data:`DETECTION_BUDGET_S` for detection)."""
        if self.fixed is not None:
            return self.fixed
        if self.lookup is not None:
            return self.lookup.result(DETECTION_BUDGET_S)
        return Region.unknown()

    def provider(self) -> IntensityProvider:
        """The run's intensity provider (``"auto"`` resolved now)."""
        if self.intensity is not None:
            return self.intensity
        from carbonsdk.intensity.choose import auto_provider

        return auto_provider()

    def provisional_series(self, region: Region, start_s: float, end_s: float) -> IntensitySeries:
        """Intensity over ``[start_s, end_s]`` (UTC epoch s) while the run is live (checkpoints,
        live panel, ``run.emissions_g``): the provider when it is local, else the embedded data;
        never the network. Cached until it no longer covers the run or the region changed."""
        from carbonsdk.intensity.choose import is_local, series_for_run

        series = self._provisional
        if (
            series is None or not series.covers(start_s, end_s) or series.source.zone != region.zone
        ):  # detection may have finished since
            provider = self.provider()
            if not is_local(provider):
                from carbonsdk.intensity.embedded import EmbeddedProvider

                provider = EmbeddedProvider()
            outcome = series_for_run(provider, region, start_s, end_s + PROVISIONAL_AHEAD_S)
            series = self._provisional = outcome.series
        return series

    def live_emissions_g(self, energy: EnergySeries | None, start_s: float, *, pue: float) -> float:
        """Emissions of ``energy``, measured since ``start_s`` (UTC epoch s), g CO2eq with
        ``pue``, with the provisional series; 0.0 for None (nothing measured yet) and when that
        fails (logged at DEBUG: it is asked for on every read of ``run.emissions_g``)."""
        if energy is None:
            return 0.0
        from carbonsdk.accounting import align, extend_to_cover

        end_s = energy.ends_s[-1]
        aligned: AlignedSeries | None = None
        with guard("live emissions", level=logging.DEBUG):
            series = self.provisional_series(self.region, start_s, end_s)
            aligned = align(energy, extend_to_cover(series, start_s, end_s), pue=pue)
        return 0.0 if aligned is None else aligned.total_emissions_g

    def final(
        self, energy: EnergySeries | None, start_s: float, end_s: float, *, pue: float
    ) -> Pricing:
        """Price ``energy`` over ``[start_s, end_s]`` with the provider (waiting at most
        :data:`PROVIDER_BUDGET_S`) in the final region; remembers the series as
        :attr:`final_series`. ``energy`` None (an observer rank, which measured nothing):
        unpriced, flagged ``observer-rank``, no intensity lookup."""
        region = self.final_region()
        if energy is None:
            return unpriced(region, flags=("observer-rank",))
        from carbonsdk.accounting import align, extend_to_cover
        from carbonsdk.intensity.choose import series_for_run

        outcome = series_for_run(
            self.provider(), region, start_s, end_s, budget_s=PROVIDER_BUDGET_S
        )
        series = extend_to_cover(outcome.series, start_s, end_s)
        flags = list(outcome.flags)
        if series is not outcome.series and "intensity-estimated" not in flags:
            flags.append("intensity-estimated")
        self.final_series = series
        return Pricing(
            aligned=align(energy, series, pue=pue),
            source=outcome.series.source,
            region=region,
            flags=tuple(flags),
        )
