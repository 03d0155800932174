"""``carbonsdk.intensity_series(region, start, end)``: the embedded intensity series of a region,
offline, as a public one-liner (for backtests, plots and your own scheduling)."""

from __future__ import annotations

from datetime import datetime

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.model.region import Region


def intensity_series(
    region: str | Region, start: datetime, end: datetime, *, basis: str = "lifecycle"
) -> IntensitySeries:
    """Hourly carbon intensity (g CO2eq/kWh) of ``region`` over ``[start, end)`` from the data
    embedded in carbonsdk (no network).

    ``region``: ``"DE"``, ``"aws:eu-central-1"``, ``"gcp:europe-west4"``, an ISO country code,
    or a :class:`~carbonsdk.region.Region`. ``start`` / ``end``: aware datetimes, ``start <
    end``. ``basis``: ``"lifecycle"`` (default) or ``"direct"``. Steps are whole UTC hours from
    the hour holding ``start``; each keeps the data's own *estimated* flag, and hours outside
    the embedded years take the same month, weekday and hour of the nearest year, flagged
    estimated (see :mod:`carbonsdk.intensity.embedded`). A zone without hourly data gets its
    country's flat annual average, every step estimated. Raises
    :class:`~carbonsdk.ConfigurationError` for a bad region or times, and
    :class:`~carbonsdk.exceptions.ProviderError` when nothing is embedded for the region.
    """
    from carbonsdk.intensity.embedded import EmbeddedProvider
    from carbonsdk.region import parse_region

    if isinstance(region, Region):
        where = region
    elif isinstance(region, str):
        where = parse_region(region)
    else:
        raise ConfigurationError(
            f"region={region!r} is not valid: expected a string such as 'DE' or "
            "'aws:eu-central-1', or a carbonsdk Region"
        )
    for name, when in (("start", start), ("end", end)):
        if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
            raise ConfigurationError(
                f"{name}={when!r} is not valid: expected a timezone-aware datetime"
            )
    if not start < end:
        raise ConfigurationError(f"start={start.isoformat()} is not before end={end.isoformat()}")
    if where.zone is None:
        raise ConfigurationError(
            f"region={region!r} has no grid zone carbonsdk knows: pass a zone such as 'DE' "
            "or a cloud region such as 'aws:eu-central-1'"
        )
    series: IntensitySeries = EmbeddedProvider(basis).series(where, start, end)
    return series
