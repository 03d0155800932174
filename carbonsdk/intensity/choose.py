"""Turning the ``intensity=`` option into a provider, and getting a run's series with fallbacks.

Order of trust for a run: the chosen provider; if it fails, the embedded dataset (flagged
``fallback_from``); if the zone is unknown, the documented world average (flagged). A provider
failure never raises into user code and is bounded by a deadline.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from datetime import datetime
from numbers import Real
from pathlib import Path
from typing import Any

import attrs

from carbonsdk import config
from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.intensity.base import (
    WORLD_AVERAGE_G_PER_KWH,
    WORLD_AVERAGE_SOURCE,
    IntensityProvider,
)
from carbonsdk.intensity.series import IntensitySeries, IntensitySource
from carbonsdk.region.base import Region

log = logging.getLogger("carbonsdk")

NAMED = ("auto", "embedded", "electricitymaps", "watttime", "ukgrid")


class ConstantProvider:
    """A constant intensity in g/kWh, given by the user (``intensity=350``)."""

    name = "constant"

    def __init__(self, g_per_kwh: float) -> None:
        self.g_per_kwh = float(g_per_kwh)

    def series(self, region: Region, start: datetime, end: datetime) -> IntensitySeries:
        """One step at the constant value over ``[start, end)``."""
        source = IntensitySource(
            provider="constant", signal="average", basis="unknown", zone=region.zone,
            estimated=False, note="constant value given by the user",
            dataset=f"user constant {self.g_per_kwh:g} g/kWh")
        end_s = max(end.timestamp(), start.timestamp() + 1.0)
        return IntensitySeries.constant(self.g_per_kwh, start.timestamp(), end_s, source)

    def __repr__(self) -> str:
        return f"ConstantProvider({self.g_per_kwh:g})"


def _accepted() -> str:
    return ('"auto", "embedded", "electricitymaps", "watttime", "ukgrid", "csv:PATH", '
            "a number of g/kWh >= 0, or a provider object with .name and .series()")


def make_provider(option: Any) -> IntensityProvider | None:
    """Validate the ``intensity=`` option and build its provider (None for ``"auto"``, which is
    decided per run). Raises :class:`ConfigurationError` naming the bad value."""
    if isinstance(option, bool):
        raise ConfigurationError(f"intensity={option!r} is not valid: expected {_accepted()}")
    if isinstance(option, Real):
        value = float(option)
        if not math.isfinite(value) or value < 0:
            raise ConfigurationError(
                f"intensity={option!r} is not valid: a constant must be a finite number of "
                "g/kWh >= 0")
        return ConstantProvider(value)
    if isinstance(option, str):
        text = option.strip()
        low = text.lower()
        if low == "auto":
            return None
        if low.startswith("csv:"):
            path = Path(text[4:]).expanduser()
            from carbonsdk.intensity.csvfile import CsvProvider

            return CsvProvider(path)
        if low == "embedded":
            from carbonsdk.intensity.embedded import EmbeddedProvider

            return EmbeddedProvider()
        if low == "electricitymaps":
            from carbonsdk.intensity.electricitymaps import ElectricityMapsProvider

            return ElectricityMapsProvider()
        if low == "watttime":
            from carbonsdk.intensity.watttime import WattTimeProvider

            return WattTimeProvider()
        if low == "ukgrid":
            from carbonsdk.intensity.ukgrid import UKGridProvider

            return UKGridProvider()
        raise ConfigurationError(f"intensity={option!r} is not valid: expected {_accepted()}")
    if callable(getattr(option, "series", None)):
        return option  # type: ignore[no-any-return]
    raise ConfigurationError(f"intensity={option!r} is not valid: expected {_accepted()}")


def auto_provider() -> IntensityProvider:
    """``"auto"``: Electricity Maps when ``ELECTRICITYMAPS_API_KEY`` is set and the SDK is
    online, else the embedded dataset. WattTime is not chosen automatically: its regions do not
    map one-to-one onto grid zones, so it needs an explicit ``WattTimeProvider(wt_region=...)``
    (or latitude/longitude) passed as ``intensity=``."""
    if not config.offline() and config.secret(config.ENV_ELECTRICITYMAPS_API_KEY):
        from carbonsdk.intensity.electricitymaps import ElectricityMapsProvider

        return ElectricityMapsProvider()
    from carbonsdk.intensity.embedded import EmbeddedProvider

    return EmbeddedProvider()


def is_local(provider: IntensityProvider) -> bool:
    """True for providers that never touch the network (safe to call from the sampler)."""
    return getattr(provider, "name", "") in ("constant", "csv", "embedded")


def world_average_series(start_s: float, end_s: float) -> IntensitySeries:
    """The flagged world-average series over ``[start_s, end_s)``."""
    return IntensitySeries.constant(WORLD_AVERAGE_G_PER_KWH, start_s,
                                    max(end_s, start_s + 1.0), WORLD_AVERAGE_SOURCE)


@attrs.frozen
class SeriesOutcome:
    """A run's intensity series and the flags explaining how it was obtained."""

    series: IntensitySeries
    flags: tuple[str, ...]


def series_for_run(
    provider: IntensityProvider,
    region: Region,
    start_s: float,
    end_s: float,
    *,
    budget_s: float = 5.0,
) -> SeriesOutcome:
    """The intensity series for a run over ``[start_s, end_s)`` (UTC epoch seconds).

    Tries ``provider`` (live providers get at most ``budget_s`` seconds), then the embedded
    dataset, then the world average; never raises. Flags: ``"region-unknown"``,
    ``"intensity-fallback"``, ``"world-average"``, ``"intensity-estimated"``.
    """
    flags: list[str] = []
    start, end = to_datetime(start_s), to_datetime(max(end_s, start_s + 1e-3))
    name = getattr(provider, "name", type(provider).__name__)
    if not region.known:
        flags.append("region-unknown")
        # a user-supplied value or series needs no zone; zone-based providers do
        if name in ("constant", "csv") or _accepts_unknown(provider):
            outcome = _try(provider, region, start, end, budget_s)
            if isinstance(outcome, IntensitySeries):
                return _finish(outcome, flags)
        return _finish(world_average_series(start_s, end_s), [*flags, "world-average"])
    outcome = _try(provider, region, start, end, budget_s)
    if isinstance(outcome, IntensitySeries):
        return _finish(outcome, flags)
    reason = outcome
    flags.append("intensity-fallback")
    log.warning("carbonsdk: intensity provider %s failed (%s); using fallback", name, reason)
    if name != "embedded":
        try:
            from carbonsdk.intensity.embedded import EmbeddedProvider

            fallback = EmbeddedProvider().series(region, start, end)
            src = attrs.evolve(fallback.source, fallback_from=name, note=reason)
            return _finish(attrs.evolve(fallback, source=src), flags)
        except Exception as exc:
            reason = f"{reason}; embedded: {exc}"
    world = world_average_series(start_s, end_s)
    src = attrs.evolve(world.source, fallback_from=name, zone=region.zone,
                       note=f"no intensity data for zone {region.zone}: {reason}")
    return _finish(attrs.evolve(world, source=src), [*flags, "world-average"])


def accepts_deadline(method: Any) -> bool:
    """True when a provider method (``series``, ``forecast``) accepts ``deadline_s`` (a
    :func:`time.monotonic` bound on the whole call, retries included): the built-in live
    providers do."""
    try:
        return "deadline_s" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def _accepts_unknown(provider: IntensityProvider) -> bool:
    return bool(getattr(provider, "accepts_unknown_region", False))


def _try(provider: IntensityProvider, region: Region, start: datetime, end: datetime,
         budget_s: float) -> IntensitySeries | str:
    deadline_s = time.monotonic() + budget_s
    try:
        if accepts_deadline(provider.series):
            series = provider.series(region, start, end, deadline_s=deadline_s)  # type: ignore[call-arg]
        else:
            series = provider.series(region, start, end)
    except (ProviderError, ConfigurationError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        return f"unexpected {type(exc).__name__}: {exc}"
    if not isinstance(series, IntensitySeries):
        return f"provider returned {type(series).__name__}, not an IntensitySeries"
    return series


def _finish(series: IntensitySeries, flags: list[str]) -> SeriesOutcome:
    if any(series.estimated) or series.source.estimated:
        flags.append("intensity-estimated")
    return SeriesOutcome(series, tuple(dict.fromkeys(flags)))
