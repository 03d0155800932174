"""Turning the ``intensity=`` option into a provider, and getting a run's series with fallbacks.

Order of trust for a run: the chosen provider; if it fails, the embedded dataset (flagged
``fallback_from``); if the zone is unknown, the documented world average (flagged). A provider
failure never raises into user code and is bounded by a deadline.

``intensity="auto"`` (:class:`AutoProvider`) picks, per zone, the first live source in
:data:`AUTO_ORDER` whose credentials are configured and which covers the zone:

1. ``electricitymaps`` (``ELECTRICITYMAPS_API_KEY``): consumption-based, flow-traced values
   that count imports, for every zone Electricity Maps knows;
2. ``entsoe`` (``ENTSOE_API_TOKEN``): European bidding zones, production-based;
3. ``eia`` (``EIA_API_KEY``): US balancing authorities, production-based.

If the first fails, the next covering one is tried, all within one deadline (the run's 5 s
budget in total, never per source). Not chosen automatically: ``watttime`` (a marginal signal
whose regions do not map onto grid zones) and ``ukgrid`` (it needs no credentials, so choosing
it would make network calls nobody configured; pass ``intensity="ukgrid"``). With no
configured source covering the zone, or when every one fails, the embedded dataset is used,
flagged ``intensity-no-live-source`` or ``intensity-fallback``. Values from a
production-based source (EIA, ENTSO-E: imports ignored) are flagged
``intensity-production-based``.
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
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region

log = logging.getLogger("carbonsdk")

#: The provider names ``intensity=`` takes (besides ``"csv:PATH"``, a number and a provider
#: object), as :func:`make_provider` accepts them (case-insensitive).
NAMED = ("auto", "embedded", "electricitymaps", "watttime", "ukgrid", "eia", "entsoe")
#: Live sources ``"auto"`` considers, best first (see the module docstring).
AUTO_ORDER = ("electricitymaps", "entsoe", "eia")
#: Providers whose values describe generation inside the zone only (imports ignored).
PRODUCTION_BASED = ("eia", "entsoe")


class ConstantProvider:
    """A constant intensity in g/kWh, given by the user (``intensity=350``)."""

    name = "constant"

    def __init__(self, g_per_kwh: float) -> None:
        self.g_per_kwh = float(g_per_kwh)

    def series(self, region: Region, start: datetime, end: datetime) -> IntensitySeries:
        """One step at the constant value over ``[start, end)``."""
        source = IntensitySource(
            provider="constant",
            signal="average",
            basis="unknown",
            zone=region.zone,
            estimated=False,
            note="constant value given by the user",
            dataset=f"user constant {self.g_per_kwh:g} g/kWh",
        )
        end_s = max(end.timestamp(), start.timestamp() + 1.0)
        return IntensitySeries.constant(self.g_per_kwh, start.timestamp(), end_s, source)

    def __repr__(self) -> str:
        return f"ConstantProvider({self.g_per_kwh:g})"


def _accepted() -> str:
    return (
        '"auto", "embedded", "electricitymaps", "watttime", "ukgrid", "eia", "entsoe", '
        '"csv:PATH", a number of g/kWh >= 0, or a provider object with .name and .series()'
    )


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
                "g/kWh >= 0"
            )
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
        if low == "eia":
            from carbonsdk.intensity.eia import EIAProvider

            return EIAProvider()
        if low == "entsoe":
            from carbonsdk.intensity.entsoe import ENTSOEProvider

            return ENTSOEProvider()
        raise ConfigurationError(f"intensity={option!r} is not valid: expected {_accepted()}")
    if callable(getattr(option, "series", None)):
        return option  # type: ignore[no-any-return]
    raise ConfigurationError(f"intensity={option!r} is not valid: expected {_accepted()}")


def configured_live_providers() -> list[IntensityProvider]:
    """The live providers of :data:`AUTO_ORDER` whose credentials are set in the
    environment, in that order (empty when ``CARBONSDK_OFFLINE`` is set)."""
    if config.offline():
        return []
    out: list[IntensityProvider] = []
    for name in AUTO_ORDER:
        if name == "electricitymaps":
            from carbonsdk.intensity.electricitymaps import ElectricityMapsProvider as cls
        elif name == "entsoe":
            from carbonsdk.intensity.entsoe import ENTSOEProvider as cls  # type: ignore[assignment]
        else:
            from carbonsdk.intensity.eia import EIAProvider as cls  # type: ignore[assignment]
        if cls.credentials_available():
            out.append(cls())
    return out


def _covers(provider: IntensityProvider, zone: str | None) -> bool:
    covers = getattr(provider, "covers", None)
    if zone is None:
        return False
    if callable(covers):
        return bool(covers(zone))
    return True  # no coverage list (Electricity Maps): any known zone


class NoLiveSourceError(ProviderError):
    """``"auto"`` has no configured live source covering the zone."""


class AutoFailedError(ProviderError):
    """Every live source ``"auto"`` tried failed; ``first`` is the name of the first (best)."""

    def __init__(self, message: str, first: str) -> None:
        super().__init__(message)
        self.first = first


class AutoProvider:
    """``intensity="auto"`` with live sources: per zone, the first of ``providers`` (default:
    :func:`configured_live_providers`) that covers the zone, then the next on failure, all
    within one deadline (``deadline_s``, a :func:`time.monotonic` value, or ``budget_s``
    seconds, default 5). Raises :class:`NoLiveSourceError` when none covers the zone and
    :class:`AutoFailedError` when all that do fail (:func:`series_for_run` then uses the
    embedded dataset, flagged)."""

    name = "auto"

    def __init__(
        self, providers: list[IntensityProvider] | None = None, *, budget_s: float = 5.0
    ) -> None:
        if not budget_s > 0:
            raise ConfigurationError(f"budget_s={budget_s!r} must be positive seconds")
        self.providers = list(providers) if providers is not None else configured_live_providers()
        self.budget_s = float(budget_s)

    def __repr__(self) -> str:
        names = ", ".join(getattr(p, "name", type(p).__name__) for p in self.providers)
        return f"AutoProvider([{names}])"

    def candidates(self, region: Region) -> list[IntensityProvider]:
        """The providers covering ``region.zone``, best first."""
        return [p for p in self.providers if _covers(p, region.zone)]

    def _run(
        self, method: str, region: Region, start: datetime, end: datetime, deadline_s: float | None
    ) -> IntensitySeries:
        deadline = deadline_s if deadline_s is not None else time.monotonic() + self.budget_s
        found = [p for p in self.candidates(region) if callable(getattr(p, method, None))]
        if not found:
            raise NoLiveSourceError(
                f"no configured live source has a {method} for zone {region.zone!r} "
                f"(configured: {', '.join(getattr(p, 'name', '?') for p in self.providers)})"
            )
        reasons: list[str] = []
        for provider in found:
            pname = getattr(provider, "name", type(provider).__name__)
            if time.monotonic() >= deadline:
                reasons.append(f"{pname}: not tried, no time left")
                continue
            outcome = _try(
                provider,
                region,
                start,
                end,
                deadline - time.monotonic(),
                method=method,
                deadline_s=deadline,
            )
            if isinstance(outcome, IntensitySeries):
                return outcome
            reasons.append(f"{pname}: {outcome}")
        first = getattr(found[0], "name", type(found[0]).__name__)
        raise AutoFailedError("; ".join(reasons), first)

    def series(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """The best configured live source's series for ``[start, end)`` (g/kWh). Raises
        :class:`ProviderError`."""
        return self._run("series", region, start, end, deadline_s)

    def forecast(
        self, region: Region, start: datetime, end: datetime, *, deadline_s: float | None = None
    ) -> IntensitySeries:
        """The forecast of the best configured live source that has one (Electricity Maps);
        EIA and ENTSO-E publish no carbon forecast. Raises :class:`ProviderError`."""
        return self._run("forecast", region, start, end, deadline_s)


def auto_provider() -> IntensityProvider:
    """``"auto"``: an :class:`AutoProvider` over the live sources whose credentials are set
    (``ELECTRICITYMAPS_API_KEY``, ``ENTSOE_API_TOKEN``, ``EIA_API_KEY``) when the SDK is
    online, else the embedded dataset. WattTime and the UK Carbon Intensity API are not
    chosen automatically (see the module docstring); pass them as ``intensity=``."""
    live = configured_live_providers()
    if live:
        return AutoProvider(live)
    from carbonsdk.intensity.embedded import EmbeddedProvider

    return EmbeddedProvider()


def is_local(provider: IntensityProvider) -> bool:
    """True for providers that never touch the network (safe to call from the sampler)."""
    return getattr(provider, "name", "") in ("constant", "csv", "embedded")


def world_average_series(start_s: float, end_s: float) -> IntensitySeries:
    """The flagged world-average series over ``[start_s, end_s)``."""
    return IntensitySeries.constant(
        WORLD_AVERAGE_G_PER_KWH, start_s, max(end_s, start_s + 1.0), WORLD_AVERAGE_SOURCE
    )


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
    ``"intensity-fallback"``, ``"world-average"``, ``"intensity-estimated"``,
    ``"intensity-no-live-source"`` (``"auto"`` had no configured source for the zone) and
    ``"intensity-production-based"`` (imports ignored).
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
    failure: list[Exception] = []
    outcome = _try(provider, region, start, end, budget_s, failure=failure)
    if isinstance(outcome, IntensitySeries):
        return _finish(outcome, flags)
    reason = outcome
    error = failure[0] if failure else None
    no_live = isinstance(error, NoLiveSourceError)
    if no_live:
        flags.append("intensity-no-live-source")
    else:
        if isinstance(error, AutoFailedError):
            name = error.first
        flags.append("intensity-fallback")
        log.warning("carbonsdk: intensity provider %s failed (%s); using fallback", name, reason)
    if no_live or name != "embedded":
        try:
            from carbonsdk.intensity.embedded import EmbeddedProvider

            fallback = EmbeddedProvider().series(region, start, end)
            src = attrs.evolve(
                fallback.source, fallback_from=None if no_live else name, note=reason
            )
            return _finish(attrs.evolve(fallback, source=src), flags)
        except Exception as exc:  # noqa: BLE001 - a provider bug must not break the run
            reason = f"{reason}; embedded: {exc}"
            if no_live:
                name = "embedded"
                flags.append("intensity-fallback")
    world = world_average_series(start_s, end_s)
    src = attrs.evolve(
        world.source,
        fallback_from=name,
        zone=region.zone,
        note=f"no intensity data for zone {region.zone}: {reason}",
    )
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


def _try(
    provider: IntensityProvider,
    region: Region,
    start: datetime,
    end: datetime,
    budget_s: float,
    *,
    method: str = "series",
    deadline_s: float | None = None,
    failure: list[Exception] | None = None,
) -> IntensitySeries | str:
    """``provider.<method>(region, start, end)`` within ``budget_s`` seconds (or until
    ``deadline_s``), or the reason it failed (the exception is appended to ``failure``)."""
    deadline = deadline_s if deadline_s is not None else time.monotonic() + budget_s
    call = getattr(provider, method)
    try:
        if accepts_deadline(call):
            series = call(region, start, end, deadline_s=deadline)
        else:
            series = call(region, start, end)
    except (ProviderError, ConfigurationError, OSError, ValueError) as exc:
        if failure is not None:
            failure.append(exc)
        if isinstance(exc, (NoLiveSourceError, AutoFailedError)):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a provider bug must not break the run
        if failure is not None:
            failure.append(exc)
        return f"unexpected {type(exc).__name__}: {exc}"
    if not isinstance(series, IntensitySeries):
        return f"provider returned {type(series).__name__}, not an IntensitySeries"
    return series


def _finish(series: IntensitySeries, flags: list[str]) -> SeriesOutcome:
    if any(series.estimated) or series.source.estimated:
        flags.append("intensity-estimated")
    if series.source.provider in PRODUCTION_BASED:
        flags.append("intensity-production-based")
    return SeriesOutcome(series, tuple(dict.fromkeys(flags)))
