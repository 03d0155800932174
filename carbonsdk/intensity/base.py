"""The provider contract and the documented world-average fallback."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region

#: World average carbon intensity of electricity generation, 2023, in gCO2eq/kWh, life-cycle
#: basis: Ember, Yearly Electricity Data / Global Electricity Review 2024 ("481 gCO2/kWh",
#: Ember chart of 2024-07-03), CC BY 4.0. Used only when the region is unknown, and always
#: flagged as such.
WORLD_AVERAGE_G_PER_KWH = 481.0
WORLD_AVERAGE_SOURCE = IntensitySource(
    provider="world-average",
    signal="average",
    basis="lifecycle",
    zone=None,
    estimated=True,
    note="region unknown: world average used",
    dataset="Ember, Global Electricity Review 2024: world 2023 average, 481 gCO2eq/kWh (CC BY 4.0)",
)


@runtime_checkable
class IntensityProvider(Protocol):
    """Anything that returns carbon intensity for a region and time range.

    ``series(region, start, end)`` returns piecewise-constant steps covering at least
    ``[start, end)`` (aware UTC datetimes) or raises :class:`carbonsdk.exceptions.ProviderError`.
    ``name`` is the provider's short name (``"embedded"``, ``"electricitymaps"``, ...).
    """

    name: str

    def series(self, region: Region, start: datetime, end: datetime) -> IntensitySeries: ...
