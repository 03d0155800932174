"""What if a recorded run had run elsewhere, or later, or with pauses?

:func:`whatif_for_run` replays a run's own energy timeline (``RunResult.timeline``: the energy
of each interval, at the same wall-clock times) against the embedded intensity of every zone,
and through Flexible Start and Pause and Resume in its own zone. All figures use the embedded
data set (life-cycle basis) so that the rows compare like with like, and the run's PUE.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from carbonsdk.exceptions import CarbonSDKError, ConfigurationError
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.model.region import Region
from carbonsdk.model.result import RunResult

# the values live in model/; re-exported here for code that imported them from this module
from carbonsdk.model.whatif import WhatIf as WhatIf
from carbonsdk.model.whatif import WhatIfRow as WhatIfRow
from carbonsdk.schedule.durations import extension_s, format_duration, window_s
from carbonsdk.schedule.plans import flexible_start, pause_and_resume

#: default Flexible Start window of the what-if: up to a day later (the paper's largest N)
DEFAULT_MAX_DELAY = timedelta(hours=24)
#: default Pause and Resume extension of the what-if: up to twice as long (the paper's 100 %)
DEFAULT_MAX_EXTENSION = 1.0


def _integral(series: IntensitySeries, a: float, b: float) -> tuple[float, bool]:
    """∫ g/kWh dt over ``[a, b)`` (epoch seconds; the series must cover it) and whether any
    estimated value was used."""
    bounds = series.boundaries_s
    vals = series.values_g_per_kwh
    i = max(0, bisect.bisect_right(bounds, a) - 1)
    total = 0.0
    est = False
    t = a
    while t < b and i < len(vals):
        nxt = min(b, bounds[i + 1])
        if nxt > t:
            total += vals[i] * (nxt - t)
            est = est or series.estimated[i]
        t = nxt
        i += 1
    return total, est


def replay_timeline(result: RunResult, series: IntensitySeries) -> tuple[float, bool]:
    """The run's timeline replayed on ``series``: (emissions g CO2eq with the run's PUE, any
    estimated value used). Each interval's energy is spread evenly over its time."""
    grams = 0.0
    est = False
    for iv in result.timeline:
        a, b = iv.start.timestamp(), iv.end.timestamp()
        if b <= a or iv.energy_kwh <= 0:
            continue
        integral, e = _integral(series, a, b)
        grams += iv.energy_kwh * result.pue * integral / (b - a)
        est = est or e
    return grams, est


def energy_profile(result: RunResult) -> list[tuple[float, float]]:
    """The run's energy over its running time ``[started_at, ended_at)`` as ``(seconds, kWh)``
    segments (gaps in the timeline count as zero energy; parts outside the run are clipped,
    their energy pro-rated)."""
    t0, t1 = result.started_at.timestamp(), result.ended_at.timestamp()
    segs: list[tuple[float, float]] = []
    t = t0
    for iv in result.timeline:
        a, b = iv.start.timestamp(), iv.end.timestamp()
        lo, hi = max(a, t), min(b, t1)
        if hi <= lo:
            continue
        if lo > t + 1e-6:
            segs.append((lo - t, 0.0))
        share = (hi - lo) / (b - a) if b > a else 0.0
        segs.append((hi - lo, max(0.0, iv.energy_kwh) * share))
        t = hi
    if t1 > t + 1e-6 or not segs:
        segs.append((max(t1 - t, 1e-9), 0.0))
    return segs


def _zones(regions: Any) -> list[str]:
    from carbonsdk.intensity import embedded

    if regions is None:
        return list(embedded.zones())
    if isinstance(regions, str):
        regions = [regions]
    out = []
    from carbonsdk.region import parse_region

    for r in regions:
        region = r if isinstance(r, Region) else parse_region(str(r))
        if region.zone is None:
            raise ConfigurationError(f"region {r!r} has no grid zone")
        out.append(region.zone)
    return list(dict.fromkeys(out))


def whatif_for_run(
    result: RunResult,
    *,
    regions: Sequence[str | Region] | str | None = None,
    max_delay: timedelta | str = DEFAULT_MAX_DELAY,
    max_extension: timedelta | str | float = DEFAULT_MAX_EXTENSION,
) -> WhatIf:
    """Replay ``result``'s energy timeline in other zones and with scheduling.

    ``regions``: zones/regions to compare (default: every zone with embedded hourly data).
    ``max_delay`` (default 24 h) and ``max_extension`` (default 1.0 = up to twice as long)
    configure the Flexible Start and Pause and Resume plans in the run's own zone, which replay
    the run's own energy profile from its recorded start. Embedded life-cycle data throughout.
    """
    if not isinstance(result, RunResult):
        raise ConfigurationError(f"result={result!r} is not valid: expected a RunResult")
    from carbonsdk.intensity.embedded import EmbeddedProvider

    job_s = (result.ended_at - result.started_at).total_seconds()
    delay_s = window_s(max_delay, max(job_s, 1e-9), name="max_delay")
    ext_s = extension_s(max_extension, max(job_s, 1e-9))
    provider = EmbeddedProvider()
    start, end = result.started_at, result.ended_at
    if end <= start:
        end = start + timedelta(seconds=1)
    notes: list[str] = []
    energy = float(result.energy_kwh)
    own_zone = result.region.zone.upper() if result.region.zone else None
    zones = _zones(regions)
    if own_zone and own_zone not in zones:
        zones.append(own_zone)
    rows: list[WhatIfRow] = []
    for zone in zones:
        region = Region(provider=None, code=zone, zone=zone, source="explicit")
        try:
            series = provider.series(region, start, end)
        except CarbonSDKError as exc:
            notes.append(f"{zone}: {exc}")
            continue
        grams, est = replay_timeline(result, series)
        denom = energy * result.pue
        intensity = grams / denom if denom > 0 else series.values_g_per_kwh[0]
        rows.append(
            WhatIfRow(zone, grams, intensity, est or series.source.estimated, zone == own_zone)
        )
    rows.sort(key=lambda r: (r.emissions_g, r.intensity_g_per_kwh, r.zone))
    own = next((r for r in rows if r.is_own), None)
    if any(r.estimated for r in rows):
        notes.append(
            "some values are estimated: flagged so by Electricity Maps, or hours "
            "outside the embedded years (same month, weekday and hour of the nearest "
            "year), or zones without hourly data (annual average)"
        )
    fs_plan = pr_plan = None
    if own_zone is None:
        notes.append("the run's region is unknown: no Flexible Start / Pause and Resume what-if")
    elif energy <= 0 or job_s <= 0:
        notes.append("the run recorded no energy: no Flexible Start / Pause and Resume what-if")
    else:
        region = Region(provider=None, code=own_zone, zone=own_zone, source="explicit")
        profile = energy_profile(result)
        try:
            fs_plan = flexible_start(
                provider.series(region, start, end + timedelta(seconds=delay_s)),
                job_s,
                timedelta(seconds=delay_s),
                start=start,
                energy_profile=profile,
                energy_kwh=energy,
                pue=result.pue,
            )
            pr_plan = pause_and_resume(
                provider.series(region, start, end + timedelta(seconds=ext_s)),
                job_s,
                timedelta(seconds=ext_s),
                start=start,
                energy_profile=profile,
                energy_kwh=energy,
                pue=result.pue,
            )
        except CarbonSDKError as exc:
            notes.append(f"scheduling what-if not available: {exc}")
    if result.intensity_source.provider != "embedded":
        notes.append(
            f"the run recorded {result.emissions_g:.1f} g with "
            f"{result.intensity_source.provider} ({result.intensity_source.signal}); "
            "the what-if uses embedded life-cycle averages for every row"
        )
    return WhatIf(
        run_id=result.run_id,
        energy_kwh=energy,
        pue=result.pue,
        recorded_emissions_g=result.emissions_g,
        own=own,
        regions=tuple(rows),
        flexible_start=fs_plan,
        pause_and_resume=pr_plan,
        max_delay_s=delay_s,
        max_extension_fraction=ext_s / job_s if job_s > 0 else 0.0,
        notes=tuple(notes),
    )


def describe(whatif: WhatIf) -> str:
    """One line for a report: the best zone and the scheduling savings."""
    parts = []
    if whatif.own is not None and whatif.best is not None and whatif.best.zone != whatif.own.zone:
        best = whatif.best
        ratio = 1 - best.emissions_g / whatif.own.emissions_g if whatif.own.emissions_g else 0.0
        parts.append(f"in {best.zone}: {best.emissions_g:.1f} g ({ratio:.0%} less)")
    if whatif.flexible_start is not None:
        p = whatif.flexible_start
        parts.append(f"starting {format_duration(p.delay_s)} later: {p.savings_fraction:.0%} less")
    if whatif.pause_and_resume is not None:
        p = whatif.pause_and_resume
        parts.append(f"pause and resume ({p.pauses} pauses): {p.savings_fraction:.0%} less")
    return "; ".join(parts) if parts else "no what-if available"
