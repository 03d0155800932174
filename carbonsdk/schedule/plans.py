"""Flexible Start and Pause and Resume on one carbon-intensity series (Dodge et al., "Measuring
the Carbon Intensity of AI in Cloud Instances", FAccT 2022, §5).

Definitions (as in the paper, made exact):

- **Flexible Start** (``flexible_start``): try every start in ``[start, start + max_delay]`` at
  the series' own step -- ``start`` itself, then every step boundary of the series after it up
  to ``start + max_delay`` (every hour on hourly data, every 5 minutes on 5-minute data) -- run
  the job without interruption, keep the lowest emissions; ties go to the earliest start.
- **Pause and Resume** (``pause_and_resume``): within ``[start, start + duration + extension]``
  run only in the lowest-intensity steps until they add up to ``duration`` (ties: earliest step
  first), in chronological order. Steps cut by the window edges count with their cut length; the
  last step needed is used only for the time still missing, on the side that touches a step
  already chosen (fewer pauses), else at its beginning. ``pauses`` counts the interruptions.
- Both replay the job's energy profile (constant power by default) through the chosen run
  intervals in order, and compare with the **baseline**: start at ``start`` and run without
  pausing. For constant power Pause and Resume's choice of steps looks at intensity only, as in
  the paper (exact). With a non-constant energy profile the chosen work meets the steps in
  order, so a low step can fall on a low-power part of the job: the plan is then the best, by
  the exactly replayed emissions, of the intensity-only choice, the energy x intensity optimum
  (a dynamic programme over equal steps) and the baseline -- it is never worse than the
  baseline.

Units: times are aware UTC datetimes (epoch seconds internally), energy kWh, intensity
g CO2eq/kWh, emissions g CO2eq. Without ``energy_kwh`` a plan is computed **per kWh of job
energy**: ``energy_kwh`` is then None, ``emissions_g`` is the grams for 1 kWh (numerically the
energy-weighted mean intensity times ``pue``) and the plan carries the flag ``"per-kwh"``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from numbers import Real
from typing import Any

import attrs

from carbonsdk.clock import to_datetime, to_epoch_s
from carbonsdk.exceptions import ConfigurationError, DataRangeError
from carbonsdk.model.intensity import IntensitySeries, IntensitySource

# the values live in model/; re-exported here for code that imported them from this module
from carbonsdk.model.plan import Plan as Plan
from carbonsdk.model.plan import PlanInterval as PlanInterval
from carbonsdk.schedule.durations import duration_s, extension_s, format_duration, window_s

STRATEGIES = ("flexible_start", "pause_and_resume", "baseline")
#: candidates whose emissions are within this relative tolerance of the minimum are ties
TIE_RTOL = 1e-9
#: time tolerance, seconds (float rounding of epoch seconds)
EPS_S = 1e-6
#: the ``fill=`` values accepted besides an IntensitySeries
FILL_OPTIONS = (None, "typical")

USER_SOURCE = IntensitySource(
    provider="user", signal="average", basis="unknown", note="series given as (time, g/kWh) pairs"
)


# --------------------------------------------------------------------------------- inputs


def as_series(series: IntensitySeries | Iterable[tuple[datetime, float]]) -> IntensitySeries:
    """An :class:`IntensitySeries` as given (or a ForwardSeries' series), or one built from
    ``(aware datetime, g_per_kwh)`` pairs (each value holds until the next timestamp, the last
    for the series' own step)."""
    if isinstance(series, IntensitySeries):
        return series
    inner = getattr(series, "series", None)
    if isinstance(inner, IntensitySeries):  # a ForwardSeries
        return inner
    if isinstance(series, str | bytes) or not isinstance(series, Iterable):
        raise ConfigurationError(
            f"series={series!r} is not valid: expected an IntensitySeries or an iterable of "
            "(aware datetime, g_per_kwh) pairs"
        )
    pairs: list[tuple[datetime, float]] = []
    for item in series:
        try:
            when, value = item
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"series item {item!r} is not valid: expected a (datetime, g_per_kwh) pair"
            ) from None
        if not isinstance(when, datetime):
            raise ConfigurationError(
                f"series timestamp {when!r} is not valid: expected an aware datetime"
            )
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ConfigurationError(
                f"series value {value!r} at {when.isoformat()} is not valid: expected g/kWh"
            )
        pairs.append((when, float(value)))
    return IntensitySeries.from_pairs(pairs, USER_SOURCE)


def start_epoch_s(start: datetime | None, series: IntensitySeries) -> float:
    """The earliest start in epoch seconds: ``start`` (aware datetime) or the series' start."""
    if start is None:
        return series.boundaries_s[0]
    if not isinstance(start, datetime):
        raise ConfigurationError(f"start={start!r} is not valid: expected an aware datetime")
    return to_epoch_s(start)


def _check_energy(energy_kwh: float | None, pue: float) -> None:
    if energy_kwh is not None and (
        isinstance(energy_kwh, bool)
        or not isinstance(energy_kwh, Real)
        or not math.isfinite(float(energy_kwh))
        or energy_kwh < 0
    ):
        raise ConfigurationError(
            f"energy_kwh={energy_kwh!r} is not valid: expected a finite number of kWh >= 0"
        )
    if isinstance(pue, bool) or not isinstance(pue, Real) or not (1.0 <= float(pue) < math.inf):
        raise ConfigurationError(f"pue={pue!r} is not valid: expected a number >= 1.0")


@attrs.frozen
class Profile:
    """A job's energy over its own running time: breakpoints ``u_s`` from 0 to the duration
    (seconds of running time) and the cumulative share of energy ``cum`` at each (0 to 1),
    linear in between (constant power within a segment)."""

    u_s: tuple[float, ...]
    cum: tuple[float, ...]

    def at(self, u: float) -> float:
        """Share of the job's energy spent in running time ``[0, u]``."""
        us = self.u_s
        if u <= us[0]:
            return 0.0
        if u >= us[-1]:
            return 1.0
        j = bisect.bisect_right(us, u) - 1
        span = us[j + 1] - us[j]
        return self.cum[j] + (self.cum[j + 1] - self.cum[j]) * (u - us[j]) / span

    @property
    def segments(self) -> int:
        """Number of constant-power segments."""
        return len(self.u_s) - 1

    @classmethod
    def constant(cls, job_duration_s: float) -> Profile:
        """Constant power over ``job_duration_s`` seconds."""
        return cls((0.0, job_duration_s), (0.0, 1.0))


def make_profile(energy_profile: object, job_duration_s: float) -> Profile:
    """The job's energy profile from the ``energy_profile=`` option.

    ``None``: constant power. A sequence of numbers: relative energy of consecutive equal parts
    of the duration (one entry per series step of the job gives the "per-step" profile of the
    paper). A sequence of ``(length, relative energy)`` pairs (length a timedelta or seconds):
    consecutive segments of running time whose lengths add up to the duration (as in a recorded
    run's timeline). Entries are relative: they are normalised to sum to 1.
    """
    if energy_profile is None:
        return Profile.constant(job_duration_s)
    if isinstance(energy_profile, str | bytes) or not isinstance(energy_profile, Iterable):
        raise ConfigurationError(
            f"energy_profile={energy_profile!r} is not valid: expected None, a sequence of "
            "relative energies, or (length, relative energy) pairs"
        )
    items = list(energy_profile)
    if not items:
        raise ConfigurationError("energy_profile=[] is not valid: it needs at least one entry")
    lengths: list[float] = []
    weights: list[float] = []
    if all(isinstance(x, Real) and not isinstance(x, bool) for x in items):
        lengths = [job_duration_s / len(items)] * len(items)
        weights = [float(x) for x in items]
    else:
        for item in items:
            try:
                length, weight = item
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"energy_profile entry {item!r} is not valid: expected a number or a "
                    "(length, relative energy) pair"
                ) from None
            seconds = length.total_seconds() if isinstance(length, timedelta) else length
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, Real)
                or not (0 < float(seconds) < math.inf)
            ):
                raise ConfigurationError(
                    f"energy_profile segment length {length!r} is not valid: expected a "
                    "timedelta or seconds > 0"
                )
            if isinstance(weight, bool) or not isinstance(weight, Real):
                raise ConfigurationError(
                    f"energy_profile energy {weight!r} is not valid: expected a number >= 0"
                )
            lengths.append(float(seconds))
            weights.append(float(weight))
        total_len = sum(lengths)
        if abs(total_len - job_duration_s) > max(1e-6 * job_duration_s, 1e-3):
            raise ConfigurationError(
                f"energy_profile segments add up to {format_duration(total_len)} "
                f"({total_len:g} s), not the job's duration {format_duration(job_duration_s)} "
                f"({job_duration_s:g} s)"
            )
        scale = job_duration_s / total_len
        lengths = [x * scale for x in lengths]
    bad = [w for w in weights if not (0.0 <= w < math.inf)]
    if bad:
        raise ConfigurationError(
            f"energy_profile value {bad[0]!r} is not valid: relative energies must be finite "
            "and >= 0"
        )
    total = math.fsum(weights)
    if total <= 0:
        raise ConfigurationError("energy_profile is all zeros: at least one entry must be > 0")
    u = [0.0]
    cum = [0.0]
    acc = 0.0
    for length, weight in zip(lengths, weights, strict=True):
        u.append(u[-1] + length)
        acc += weight
        cum.append(acc / total)
    u[-1] = job_duration_s
    cum[-1] = 1.0
    return Profile(tuple(u), tuple(cum))


# ----------------------------------------------------------------------- coverage and fill


def _covers(series: IntensitySeries, lo: float, hi: float) -> bool:
    return series.boundaries_s[0] <= lo + EPS_S and hi - EPS_S <= series.boundaries_s[-1]


def _typical_filler(series: IntensitySeries, lo: float, hi: float) -> IntensitySeries:
    zone = series.source.zone
    if not zone:
        raise ConfigurationError(
            "fill='typical' needs the series' zone, but its source names none: pass "
            "fill=<an IntensitySeries> instead"
        )
    from carbonsdk.intensity.embedded import EmbeddedProvider
    from carbonsdk.model.region import Region

    basis = series.source.basis if series.source.basis in ("lifecycle", "direct") else "lifecycle"
    provider = EmbeddedProvider(basis=basis)
    region = Region(provider=None, code=zone, zone=zone, source="explicit")
    filler: IntensitySeries = provider.typical_series(region, to_datetime(lo), to_datetime(hi))
    return filler


def splice(base: IntensitySeries, filler: IntensitySeries, lo: float, hi: float) -> IntensitySeries:
    """``base`` where it has data, ``filler`` (flagged estimated) before and after it, over
    ``[lo, hi)`` (epoch seconds). The result keeps ``base``'s source."""
    bounds: list[float] = []
    values: list[float] = []
    flags: list[bool] = []

    def add(part: IntensitySeries, force_estimated: bool) -> None:
        b = part.boundaries_s
        for i, v in enumerate(part.values_g_per_kwh):
            if b[i + 1] - b[i] <= EPS_S:
                continue
            if bounds and abs(bounds[-1] - b[i]) > EPS_S:
                raise DataRangeError(
                    f"the fill series leaves a gap at {to_datetime(bounds[-1]).isoformat()}"
                )
            if not bounds:
                bounds.append(b[i])
            bounds.append(b[i + 1])
            values.append(v)
            flags.append(True if force_estimated else part.estimated[i])

    b0, b1 = base.boundaries_s[0], base.boundaries_s[-1]
    if lo < b0:
        if not _covers(filler, lo, min(b0, hi)):
            raise DataRangeError(_range_text(filler, lo, min(b0, hi), "the fill series"))
        add(filler.slice(lo, b0), True)
    add(base, False)
    if hi > b1:
        if not _covers(filler, max(b1, lo), hi):
            raise DataRangeError(_range_text(filler, max(b1, lo), hi, "the fill series"))
        add(filler.slice(b1, hi), True)
    return IntensitySeries(tuple(bounds), tuple(values), tuple(flags), base.source)


def _range_text(series: IntensitySeries, lo: float, hi: float, what: str) -> str:
    return (
        f"{what} covers {to_datetime(series.boundaries_s[0]).isoformat()} to "
        f"{to_datetime(series.boundaries_s[-1]).isoformat()}, but "
        f"{to_datetime(lo).isoformat()} to {to_datetime(hi).isoformat()} is needed"
    )


def cover(
    series: IntensitySeries, lo: float, hi: float, fill: object, why: str
) -> tuple[IntensitySeries, bool]:
    """``series`` restricted to ``[lo, hi)``, filled where it lacks data when ``fill`` allows
    (``"typical"`` or an IntensitySeries); returns it and whether filling happened. Raises
    :class:`DataRangeError` saying how far the data goes otherwise."""
    if fill is not None and fill != "typical" and not isinstance(fill, IntensitySeries):
        raise ConfigurationError(
            f"fill={fill!r} is not valid: expected None (no filling), 'typical' (the embedded "
            "typical year for the series' zone) or an IntensitySeries"
        )
    if _covers(series, lo, hi):
        return series.slice(lo, hi), False
    if fill is None:
        zone = f" for {series.source.zone}" if series.source.zone else ""
        raise DataRangeError(
            f"the intensity data{zone} ({series.source.provider}) covers "
            f"{to_datetime(series.boundaries_s[0]).isoformat()} to "
            f"{to_datetime(series.boundaries_s[-1]).isoformat()}, but {why} needs "
            f"{to_datetime(lo).isoformat()} to {to_datetime(hi).isoformat()}; pass "
            "fill='typical' to fill the rest with the embedded typical year (flagged)"
        )
    if series.boundaries_s[-1] <= lo or series.boundaries_s[0] >= hi:
        base = None
    else:
        base = series.slice(max(lo, series.boundaries_s[0]), min(hi, series.boundaries_s[-1]))
    filler = fill if isinstance(fill, IntensitySeries) else _typical_filler(series, lo, hi)
    if base is None:
        if not _covers(filler, lo, hi):
            raise DataRangeError(_range_text(filler, lo, hi, "the fill series"))
        part = filler.slice(lo, hi)
        spliced = IntensitySeries(
            part.boundaries_s, part.values_g_per_kwh, (True,) * len(part), series.source
        )
        return spliced, True
    return splice(base, filler, lo, hi), True


# ----------------------------------------------------------------------------- evaluation


class Grid:
    """A series' steps as flat lists with the running integral of intensity over time
    (``prefix[i]`` = ∫ g/kWh dt from the first boundary to boundary ``i``, g·s/kWh)."""

    __slots__ = ("bounds", "estimated", "prefix", "values")

    def __init__(self, series: IntensitySeries) -> None:
        self.bounds = list(series.boundaries_s)
        self.values = list(series.values_g_per_kwh)
        self.estimated = list(series.estimated)
        prefix = [0.0]
        for i, v in enumerate(self.values):
            prefix.append(prefix[-1] + v * (self.bounds[i + 1] - self.bounds[i]))
        self.prefix = prefix

    def index(self, t: float) -> int:
        """Index of the step holding ``t`` (clamped to the series)."""
        i = bisect.bisect_right(self.bounds, t) - 1
        return min(max(i, 0), len(self.values) - 1)


def fs_costs(grid: Grid, starts_s: Sequence[float], profile: Profile) -> list[float]:
    """For each start, the job's energy-weighted mean intensity (g/kWh) when run without
    interruption from there, replaying ``profile`` (vectorised with numpy, in chunks)."""
    import numpy as np

    b = np.asarray(grid.bounds)
    v = np.asarray(grid.values)
    p = np.asarray(grid.prefix)
    u = np.asarray(profile.u_s)
    cum = np.asarray(profile.cum)
    share = np.diff(cum)
    seg = np.diff(u)
    starts = np.asarray(starts_s, dtype=float)
    out = np.empty(len(starts))
    chunk = max(1, (1 << 21) // len(u))
    last = len(v) - 1
    for lo in range(0, len(starts), chunk):
        t = starts[lo : lo + chunk, None] + u[None, :]
        idx = np.clip(np.searchsorted(b, t, side="right") - 1, 0, last)
        c = p[idx] + v[idx] * (t - b[idx])
        out[lo : lo + chunk] = (np.diff(c, axis=1) / seg[None, :]) @ share
    return [float(x) for x in out]


def replay(
    grid: Grid, runs: Sequence[tuple[float, float]], profile: Profile
) -> list[tuple[float, float, float, bool]]:
    """Run the job through ``runs`` (chronological wall intervals, epoch seconds, adding up to
    its duration) and return, per run, ``(energy share, share-weighted intensity sum g/kWh,
    time-weighted mean intensity g/kWh, estimated)``; the second item summed over runs is the
    job's energy-weighted mean intensity."""
    out: list[tuple[float, float, float, bool]] = []
    u0 = 0.0
    for a, b in runs:
        cuts = {a, b}
        lo = bisect.bisect_right(grid.bounds, a)
        hi = bisect.bisect_left(grid.bounds, b)
        cuts.update(grid.bounds[lo:hi])
        j_lo = bisect.bisect_right(profile.u_s, u0)
        j_hi = bisect.bisect_left(profile.u_s, u0 + (b - a))
        cuts.update(a + (uj - u0) for uj in profile.u_s[j_lo:j_hi])
        points = sorted(x for x in cuts if a <= x <= b)
        share = weighted = timed = 0.0
        est = False
        for x, y in itertools.pairwise(points):
            if y - x <= 0:
                continue
            i = grid.index(0.5 * (x + y))
            f = profile.at(u0 + (y - a)) - profile.at(u0 + (x - a))
            v = grid.values[i]
            share += f
            weighted += f * v
            timed += (y - x) * v
            est = est or grid.estimated[i]
        out.append((share, weighted, timed / (b - a) if b > a else 0.0, est))
        u0 += b - a
    return out


def _intervals(
    grid: Grid, runs: Sequence[tuple[float, float]], profile: Profile, energy: float, pue: float
) -> tuple[tuple[PlanInterval, ...], float, bool]:
    rows = replay(grid, runs, profile)
    out = []
    mean = 0.0
    est = False
    for (a, b), (share, weighted, timed, e) in zip(runs, rows, strict=True):
        mean += weighted
        est = est or e
        out.append(
            PlanInterval(
                start=to_datetime(a),
                end=to_datetime(b),
                energy_fraction=share,
                intensity_g_per_kwh=weighted / share if share > 0 else timed,
                emissions_g=energy * pue * weighted,
                estimated=e,
            )
        )
    return tuple(out), mean, est


def merge_runs(runs: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Chronological runs with touching ones joined (epoch seconds)."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted(runs):
        if merged and a - merged[-1][1] <= EPS_S:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def build_plan(
    strategy: str,
    grid: Grid,
    source: IntensitySource,
    t0: float,
    job_s: float,
    win_s: float,
    deadline_s: float,
    runs: Sequence[tuple[float, float]],
    profile: Profile,
    energy_kwh: float | None,
    pue: float,
    extra_flags: Sequence[str] = (),
) -> Plan:
    """Assemble a :class:`Plan` from chosen ``runs`` (epoch seconds) and the baseline run."""
    energy = 1.0 if energy_kwh is None else float(energy_kwh)
    pue = float(pue)
    ivs, mean, est = _intervals(grid, runs, profile, energy, pue)
    base_ivs, base_mean, base_est = _intervals(grid, [(t0, t0 + job_s)], profile, energy, pue)
    emissions = energy * pue * mean
    baseline = energy * pue * base_mean
    savings = 1.0 - emissions / baseline if baseline > 0 else 0.0
    flags = list(extra_flags)
    if energy_kwh is None:
        flags.append("per-kwh")
    if est or base_est:
        flags.append("intensity-estimated")
    return Plan(
        strategy=strategy,
        earliest_start=to_datetime(t0),
        intervals=ivs,
        start=ivs[0].start,
        end=ivs[-1].end,
        deadline=to_datetime(deadline_s),
        duration_s=job_s,
        window_s=win_s,
        emissions_g=emissions,
        baseline_emissions_g=baseline,
        savings_fraction=savings,
        intensity_g_per_kwh=mean,
        baseline_intensity_g_per_kwh=base_mean,
        pauses=len(ivs) - 1,
        energy_kwh=None if energy_kwh is None else float(energy_kwh),
        pue=pue,
        source=source,
        baseline_intervals=base_ivs,
        flags=tuple(dict.fromkeys(flags)),
    )


# ------------------------------------------------------------------------------ strategies


def pick_earliest_min(costs: Sequence[float]) -> int:
    """Index of the smallest cost, ties (within :data:`TIE_RTOL`) to the earliest."""
    best = min(costs)
    limit = best + TIE_RTOL * abs(best) + 1e-12
    for i, c in enumerate(costs):
        if c <= limit:
            return i
    return 0  # pragma: no cover - min is always within the limit


def flexible_start(
    series: IntensitySeries | Iterable[tuple[datetime, float]],
    duration: timedelta | str | float,
    max_delay: timedelta | str,
    *,
    start: datetime | None = None,
    energy_profile: Any = None,
    energy_kwh: float | None = None,
    pue: float = 1.0,
    fill: str | IntensitySeries | None = None,
) -> Plan:
    """Flexible Start: the uninterrupted run with the lowest emissions among the starts in
    ``[start, start + max_delay]`` at the series' own step (ties to the earliest).

    ``series``: an :class:`IntensitySeries` or ``(aware datetime, g_per_kwh)`` pairs.
    ``duration``: the job's running time (timedelta, ``"6h"`` or seconds). ``max_delay``: a
    timedelta, ``"24h"``, or ``"50%"`` of the duration. ``start``: earliest start (aware
    datetime; default the series' start). ``energy_profile``: see :func:`make_profile`.
    ``energy_kwh``: the job's energy (kWh) for absolute grams; None gives grams per kWh.
    ``pue``: overhead factor >= 1 applied to emissions. ``fill``: None (a window past the data
    raises :class:`DataRangeError`), ``"typical"`` (embedded typical year for the series'
    zone) or an IntensitySeries to fill the gaps with (flagged ``"typical-fill"``).
    """
    s = as_series(series)
    job_s = duration_s(duration)
    win_s = window_s(max_delay, job_s, name="max_delay")
    profile = make_profile(energy_profile, job_s)
    _check_energy(energy_kwh, pue)
    t0 = start_epoch_s(start, s)
    hi = t0 + win_s + job_s
    why = (
        f"flexible start of a {format_duration(job_s)} job with up to "
        f"{format_duration(win_s)} delay"
    )
    covered, filled = cover(s, t0, hi, fill, why)
    grid = Grid(covered)
    # the series' own step: every step boundary after t0 up to t0 + max_delay
    candidates = [t0] + [b for b in grid.bounds if t0 + EPS_S < b <= t0 + win_s + EPS_S]
    best = candidates[pick_earliest_min(fs_costs(grid, candidates, profile))]
    return build_plan(
        "flexible_start",
        grid,
        s.source,
        t0,
        job_s,
        win_s,
        hi,
        [(best, best + job_s)],
        profile,
        energy_kwh,
        pue,
        ("typical-fill",) if filled else (),
    )


def pr_runs(grid: Grid, t0: float, hi: float, job_s: float) -> list[tuple[float, float]]:
    """Pause and Resume's chosen run intervals (epoch seconds, chronological, merged) for a job
    of ``job_s`` seconds within ``[t0, hi)`` on ``grid`` (already restricted to the window)."""
    b = grid.bounds
    v = grid.values
    n = len(v)
    order = sorted(range(n), key=lambda i: (v[i], i))
    chosen: dict[int, tuple[float, float]] = {}
    remaining = job_s
    for i in order:
        if remaining <= EPS_S:
            break
        a, e = max(b[i], t0), min(b[i + 1], hi)
        length = e - a
        if length <= 0:
            continue
        if length <= remaining + EPS_S:
            chosen[i] = (a, e)
            remaining -= length
            continue
        if (i - 1) in chosen and chosen[i - 1][1] >= a - EPS_S:
            chosen[i] = (a, a + remaining)
        elif (i + 1) in chosen and chosen[i + 1][0] <= e + EPS_S:
            chosen[i] = (e - remaining, e)
        else:
            chosen[i] = (a, a + remaining)
        remaining = 0.0
        break
    return merge_runs(chosen.values())


def pause_and_resume(
    series: IntensitySeries | Iterable[tuple[datetime, float]],
    duration: timedelta | str | float,
    max_extension: timedelta | str | float,
    *,
    start: datetime | None = None,
    energy_profile: Any = None,
    energy_kwh: float | None = None,
    pue: float = 1.0,
    fill: str | IntensitySeries | None = None,
) -> Plan:
    """Pause and Resume: within ``[start, start + duration + extension]`` run only in the
    lowest-intensity steps until they add up to ``duration``, in chronological order.

    ``max_extension``: a timedelta or ``"12h"`` (absolute), or a fraction of the duration (a
    number, ``1.0`` = up to twice as long, or ``"100%"``). Other arguments as for
    :func:`flexible_start`. ``pauses`` in the plan counts the interruptions.
    """
    s = as_series(series)
    job_s = duration_s(duration)
    ext_s = extension_s(max_extension, job_s)
    profile = make_profile(energy_profile, job_s)
    _check_energy(energy_kwh, pue)
    t0 = start_epoch_s(start, s)
    hi = t0 + job_s + ext_s
    why = (
        f"pause and resume of a {format_duration(job_s)} job with up to "
        f"{format_duration(ext_s)} extension"
    )
    covered, filled = cover(s, t0, hi, fill, why)
    grid = Grid(covered)
    runs = best_pr_runs(grid, t0, hi, job_s, profile)
    return build_plan(
        "pause_and_resume",
        grid,
        s.source,
        t0,
        job_s,
        ext_s,
        hi,
        runs,
        profile,
        energy_kwh,
        pue,
        ("typical-fill",) if filled else (),
    )


def _mean_of(grid: Grid, runs: Sequence[tuple[float, float]], profile: Profile) -> float:
    """The job's energy-weighted mean intensity (g/kWh) when run through ``runs``."""
    return math.fsum(w for _, w, _, _ in replay(grid, runs, profile))


def _dp_runs(
    grid: Grid, t0: float, hi: float, job_s: float, profile: Profile
) -> list[tuple[float, float]] | None:
    """Pause and Resume by energy x intensity: when the window's steps all have one length
    ``L`` and the job is a whole number ``m`` of them, the order-preserving choice of ``m``
    steps that minimises ``sum_k energy_k * intensity(step_k)`` (exact dynamic programme;
    ``energy_k`` = the job's energy in its ``k``-th ``L`` of running time). None otherwise."""
    import numpy as np

    b = np.asarray(grid.bounds)
    lo_i = max(0, bisect.bisect_right(grid.bounds, t0 + EPS_S) - 1)
    hi_i = bisect.bisect_left(grid.bounds, hi - EPS_S)
    edges = np.clip(b[lo_i : hi_i + 1], t0, hi)
    lengths = np.diff(edges)
    if len(lengths) == 0:
        return None
    step = float(lengths[0])
    if step <= EPS_S or np.any(np.abs(lengths - step) > 1e-6 * step + EPS_S):
        return None
    m = round(job_s / step)
    if m < 1 or abs(m * step - job_s) > 1e-6 * job_s + EPS_S or m > len(lengths):
        return None
    e = np.asarray([profile.at((k + 1) * step) - profile.at(k * step) for k in range(m)])
    v = np.asarray(grid.values[lo_i : lo_i + len(lengths)])
    t = len(v)
    span = t - m + 1
    cost = np.empty((m, span))
    arg = np.zeros((m, span), dtype=np.int64)
    cost[0] = e[0] * v[:span]
    for k in range(1, m):
        # best previous position <= current position (previous index j, current j + 1 offset)
        run_min = np.minimum.accumulate(cost[k - 1])
        run_arg = np.zeros(span, dtype=np.int64)
        for j in range(1, span):
            run_arg[j] = j if cost[k - 1][j] < run_min[j - 1] else run_arg[j - 1]
        cost[k] = run_min + e[k] * v[k : k + span]
        arg[k] = run_arg
    pos = [0] * m
    j = int(np.argmin(cost[m - 1]))
    for k in range(m - 1, -1, -1):
        pos[k] = j + k
        if k:
            j = int(arg[k][j])
    return merge_runs((float(edges[p]), float(edges[p + 1])) for p in pos)


def best_pr_runs(
    grid: Grid, t0: float, hi: float, job_s: float, profile: Profile
) -> list[tuple[float, float]]:
    """Pause and Resume's runs: the lowest-intensity steps (:func:`pr_runs`, exact for constant
    power); with a non-constant energy profile also the energy x intensity optimum
    (:func:`_dp_runs`, where the steps allow it); never worse than running straight from
    ``t0`` (the baseline is returned when every other choice emits more)."""
    runs = pr_runs(grid, t0, hi, job_s)
    candidates = [runs]
    if profile.segments > 1:
        dp = _dp_runs(grid, t0, hi, job_s, profile)
        if dp is not None:
            candidates.append(dp)
    baseline = [(t0, t0 + job_s)]
    candidates.append(baseline)
    costs = [_mean_of(grid, c, profile) for c in candidates]
    best = min(costs)
    limit = best + TIE_RTOL * abs(best) + 1e-12
    tied = [c for c, x in zip(candidates, costs, strict=True) if x <= limit]
    return min(tied, key=len)  # ties: the fewest pauses, then the intensity-only choice


def run_now(
    series: IntensitySeries | Iterable[tuple[datetime, float]],
    duration: timedelta | str | float,
    *,
    start: datetime | None = None,
    energy_profile: Any = None,
    energy_kwh: float | None = None,
    pue: float = 1.0,
    fill: str | IntensitySeries | None = None,
) -> Plan:
    """The baseline as a plan (strategy ``"baseline"``): start at ``start`` and run without
    pausing. Arguments as for :func:`flexible_start`."""
    s = as_series(series)
    job_s = duration_s(duration)
    profile = make_profile(energy_profile, job_s)
    _check_energy(energy_kwh, pue)
    t0 = start_epoch_s(start, s)
    covered, filled = cover(s, t0, t0 + job_s, fill, f"a {format_duration(job_s)} job")
    grid = Grid(covered)
    return build_plan(
        "baseline",
        grid,
        s.source,
        t0,
        job_s,
        0.0,
        t0 + job_s,
        [(t0, t0 + job_s)],
        profile,
        energy_kwh,
        pue,
        ("typical-fill",) if filled else (),
    )
