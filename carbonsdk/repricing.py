"""Re-pricing: the emissions of a recorded run computed again from its stored energy timeline
when better intensity data is available (a run recorded offline with the embedded typical-year
estimate, or before the provider published final values).

The ledger keeps each run's energy interval by interval and component by component, so the
emissions can be recomputed exactly as at the end of the run: the same
:func:`carbonsdk.accounting.align` (intervals split at the new series' steps, energy shared in
proportion to time), the same PUE, the same fallbacks refused. The result is appended as a
``"reprice"`` record (the run's own record is never touched); readers show the newest pricing
and :meth:`carbonsdk.Ledger.history` lists them all.

**Only better data.** A run is repriced only when the new pricing is better than its current
one, unless ``force``: a smaller share of the run's energy priced with estimated values (actual
beats estimated), at the same or a finer time resolution (the median step of the series), or
the same share at a finer resolution. Equal data (the same source again, a rerun after an
interruption) is skipped as "not better". A source that is not available (a provider failure
that the end of a run would answer with the embedded fallback, ``"auto"`` without a live
source) is never used, even with ``force``.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from carbonsdk.accounting import AlignedSeries, align, extend_to_cover
from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import CarbonSDKError, ConfigurationError, DataRangeError, LedgerError
from carbonsdk.intensity.base import IntensityProvider
from carbonsdk.ledger.decode import Repricing
from carbonsdk.ledger.reader import Ledger, apply_repricing, top_level
from carbonsdk.ledger.schema import reprice_record
from carbonsdk.ledger.store import append_records
from carbonsdk.model.energy import EnergySeries
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import RunResult, TimelineInterval
from carbonsdk.model.units import J_PER_KWH

log = logging.getLogger("carbonsdk")

#: seconds one provider call may take (retries included): re-pricing is an offline chore, so
#: it waits longer than the end of a run (5 s)
REPRICE_BUDGET_S = 30.0
#: live providers are asked once per zone for runs closer than this (seconds) to each other...
CHUNK_GAP_S = 6 * 3600.0
#: ...over at most this span (seconds; the UK API's longest range, 14 days)
CHUNK_SPAN_S = 14 * 86400.0
#: reprice records written in one ``write()``: at most this many, or after this many seconds
BATCH_RECORDS = 256
BATCH_S = 1.0
#: how long a reprice waits for the ledger's lock (seconds) per write
LOCK_WAIT_S = 10.0
#: a year, seconds: the step of an annual average
YEAR_S = 365.25 * 86400.0
#: flags a pricing sets (recomputed by a repricing)
PRICING_FLAGS = frozenset(
    {
        "intensity-fallback",
        "world-average",
        "intensity-estimated",
        "intensity-no-live-source",
        "intensity-production-based",
        "repriced",
        "attributed-emissions-rescaled",
    }
)
#: non-finite flags of values a repricing recomputes
_PRICED_NONFINITE = frozenset(
    f"non-finite:{f}"
    for f in (
        "emissions_g",
        "intensity_g_per_kwh",
        "attributed_emissions_g",
        "timeline.emissions_g",
        "timeline.intensity_g_per_kwh",
    )
)
#: outcome flags meaning the asked-for source was not available
_UNAVAILABLE = ("intensity-fallback", "intensity-no-live-source", "world-average")
#: relative tolerance within which two step lengths are the same resolution
_STEP_REL_TOL = 0.01
_SHARE_TOL = 1e-9

ACTIONS = ("repriced", "would-reprice", "skipped")


@attrs.frozen
class Quality:
    """How good a pricing's data is: ``estimated_share`` (0..1) of the run's energy priced with
    estimated values, and ``step_s`` the median step of the series in seconds (``math.inf``:
    no time resolution, a constant; None: unknown)."""

    estimated_share: float
    step_s: float | None


@attrs.frozen
class RepriceOutcome:
    """What :func:`reprice_runs` did with one run: ``action`` is ``"repriced"`` (a reprice
    record was written), ``"would-reprice"`` (``dry_run``) or ``"skipped"``; ``reason`` says
    why in words. ``before``: the run's pricing until now; ``after``: the new pricing (None
    when it could not be computed); ``old``/``new``: the qualities compared."""

    run_id: str
    name: str
    action: str
    reason: str
    before: RunResult
    after: RunResult | None = None
    old: Quality | None = None
    new: Quality | None = None


class _Skip(Exception):
    """A run that cannot be repriced, with the reason."""


# -- quality -------------------------------------------------------------------------------------


def estimated_share(timeline: Sequence[TimelineInterval]) -> float:
    """The fraction (0..1) of a timeline's energy priced with estimated intensity (by time
    when it holds no energy; 0 for an empty timeline)."""
    total = math.fsum(iv.energy_kwh for iv in timeline)
    if total > 0:
        return min(
            1.0, math.fsum(iv.energy_kwh for iv in timeline if iv.intensity_estimated) / total
        )
    dur = math.fsum(iv.duration_s for iv in timeline)
    if dur > 0:
        return min(1.0, math.fsum(iv.duration_s for iv in timeline if iv.intensity_estimated) / dur)
    return 0.0


def _aligned_share(aligned: AlignedSeries) -> float:
    total = math.fsum(aligned.energy_kwh)
    if total > 0:
        part = math.fsum(
            e for e, est in zip(aligned.energy_kwh, aligned.intensity_estimated, strict=True) if est
        )
        return min(1.0, part / total)
    durs = [e - s for s, e in zip(aligned.starts_s, aligned.ends_s, strict=True)]
    dur = math.fsum(durs)
    if dur > 0:
        part = math.fsum(d for d, est in zip(durs, aligned.intensity_estimated, strict=True) if est)
        return min(1.0, part / dur)
    return 0.0


def series_step_s(series: IntensitySeries) -> float:
    """The median step of ``series`` in seconds, its first and last step left out when it has
    three or more (they may be clipped to the requested range); with one or two steps, the
    longest."""
    b = series.boundaries_s
    lengths = [b[i + 1] - b[i] for i in range(len(b) - 1)]
    if len(lengths) >= 3:
        return float(statistics.median(lengths[1:-1]))
    return float(max(lengths))


def timeline_step_s(timeline: Sequence[TimelineInterval]) -> float | None:
    """The median time (seconds) between the points where a timeline's intensity changes:
    its series' step when values change every step; None with fewer than two changes."""
    changes: list[float] = []
    for prev, cur in itertools.pairwise(timeline):
        if (
            cur.intensity_g_per_kwh != prev.intensity_g_per_kwh
            or cur.intensity_estimated != prev.intensity_estimated
        ):
            changes.append(cur.start.timestamp())
    if len(changes) < 2:
        return None
    return float(statistics.median(b - a for a, b in itertools.pairwise(changes)))


def _embedded_step_s(source: IntensitySource) -> float | None:
    """The embedded dataset's step for the source's zone: whole hours where it has hourly
    data, else a year (annual country averages); see :mod:`carbonsdk.intensity.embedded`."""
    if not source.zone:
        return None
    from carbonsdk.intensity import embedded

    basis = source.basis if source.basis in ("lifecycle", "direct") else None
    try:
        hourly = embedded.has_hourly(source.zone, basis)
    except (CarbonSDKError, OSError, ValueError, LookupError):  # a bad basis, unreadable data
        return None
    return float(embedded.HOUR_S) if hourly else YEAR_S


def _nominal_step_s(source: IntensitySource) -> float | None:
    """The step known from the source alone: a constant has none (``inf``), the embedded
    dataset has its own; None when the source does not say."""
    if source.provider in ("constant", "world-average"):
        return math.inf
    if source.provider == "embedded":
        return _embedded_step_s(source)
    return None


def _all_actual(series: IntensitySeries, start_s: float, end_s: float) -> bool:
    """True when ``series`` covers ``[start_s, end_s)`` with no estimated step there (the run
    priced with it has no estimated share, whatever its energy)."""
    if not series.covers(start_s, end_s):
        return False
    b = series.boundaries_s
    lo = max(0, bisect.bisect_right(b, start_s) - 1)
    hi = bisect.bisect_left(b, end_s)
    return not any(series.estimated[lo:hi])


def _current_quality(current: RunResult, repricing: Repricing | None) -> Quality:
    share = (
        repricing.estimated_share
        if repricing is not None and repricing.estimated_share is not None
        else estimated_share(current.timeline)
    )
    step: float | None
    if repricing is not None:
        step = math.inf if repricing.step_s is None else repricing.step_s
    else:
        step = _nominal_step_s(current.intensity_source)
        if step is None:
            step = timeline_step_s(current.timeline)
    return Quality(share, step)


def _step_text(step_s: float | None) -> str:
    if step_s is None:
        return "unknown resolution"
    if math.isinf(step_s):
        return "no time resolution"
    if step_s >= YEAR_S * 0.99:
        return "annual values"
    if step_s >= 3600 and step_s % 3600 == 0:
        return f"{step_s / 3600:g} h steps"
    if step_s >= 60:
        return f"{step_s / 60:.3g} min steps"
    return f"{step_s:.3g} s steps"


def _pct(share: float) -> str:
    return f"{share * 100:.3g}% estimated"


def compare(old: Quality, new: Quality) -> tuple[bool, str]:
    """Whether ``new`` is better than ``old``, and why in words: a smaller estimated share at
    the same or a finer resolution, or the same share at a finer one. An unknown resolution
    counts as neither finer nor coarser."""
    resolution = "unknown"
    if old.step_s is not None and new.step_s is not None:
        if math.isinf(old.step_s) and math.isinf(new.step_s):
            resolution = "same"
        elif new.step_s < old.step_s * (1 - _STEP_REL_TOL):
            resolution = "finer"
        elif new.step_s > old.step_s * (1 + _STEP_REL_TOL):
            resolution = "coarser"
        else:
            resolution = "same"
    steps = f"{_step_text(old.step_s)} -> {_step_text(new.step_s)}"
    shares = f"{_pct(old.estimated_share)} -> {_pct(new.estimated_share)}"
    if new.estimated_share > old.estimated_share + _SHARE_TOL:
        return False, f"not better: more of the energy estimated ({shares})"
    if resolution == "coarser":
        return False, f"not better: coarser time resolution ({steps})"
    if new.estimated_share < old.estimated_share - _SHARE_TOL:
        extra = f", {steps}" if resolution == "finer" else ""
        return True, f"less of the energy estimated ({shares}{extra})"
    if resolution == "finer":
        return True, f"finer time resolution ({steps})"
    return False, (
        f"not better: same share estimated ({_pct(new.estimated_share)}), "
        f"{'same' if resolution == 'same' else 'unknown old'} resolution ({steps})"
    )


# -- pricing -------------------------------------------------------------------------------------


def energy_series(result: RunResult) -> EnergySeries:
    """The run's stored timeline as an energy series (J per component per interval, UTC epoch
    seconds); :class:`_Skip` when it cannot be priced again."""
    timeline = result.timeline
    if not timeline:
        raise _Skip(
            "no energy timeline in the record (a gathered summary or an observer: "
            "reprice it in its host's ledger)"
        )
    comps = list(result.energy_by_component_kwh)
    for iv in timeline:
        for c in iv.energy_by_component_kwh:
            if c not in comps:
                comps.append(c)
        if iv.energy_kwh > 0 and not iv.energy_by_component_kwh:
            raise _Skip("the stored timeline has no per-component energy")
        if not math.isfinite(iv.energy_kwh) or not all(
            math.isfinite(v) for v in iv.energy_by_component_kwh.values()
        ):
            raise _Skip("the stored timeline has a non-finite energy (a damaged record)")
    return EnergySeries(
        components=tuple(comps),
        starts_s=tuple(iv.start.timestamp() for iv in timeline),
        ends_s=tuple(iv.end.timestamp() for iv in timeline),
        energy_j={
            c: tuple(iv.energy_by_component_kwh.get(c, 0.0) * J_PER_KWH for iv in timeline)
            for c in comps
        },
    )


def _attributed_g(base: RunResult, aligned: AlignedSeries) -> float | None:
    """Attributed emissions (g) under the new pricing: each component's attributed share of
    its energy times that component's new emissions (exact when the share was constant over
    the run; the per-interval shares are not stored)."""
    if base.attributed_emissions_g is None or not base.attributed_energy_by_component_kwh:
        return None
    total = 0.0
    for comp, att_kwh in base.attributed_energy_by_component_kwh.items():
        parts = aligned.energy_by_component_kwh.get(comp)
        if not parts:
            continue
        comp_kwh = math.fsum(parts)
        if comp_kwh <= 0:
            continue
        comp_g = math.fsum(
            k * aligned.pue * i for k, i in zip(parts, aligned.intensity_g_per_kwh, strict=True)
        )
        total += att_kwh / comp_kwh * comp_g
    return total


def price(
    base: RunResult,
    current: RunResult,
    series: IntensitySeries,
    outcome_flags: Sequence[str],
    *,
    at: datetime,
    clipped_source: bool = False,
    energy: EnergySeries | None = None,
) -> tuple[RunResult, AlignedSeries]:
    """``base`` (as priced at its end) priced with ``series``: its timeline re-aligned with the
    same PUE (:func:`carbonsdk.accounting.align`, the series extended to cover the run as at
    the end of a run), totals, source, flags (``outcome_flags`` for the intensity, the run's
    own kept, ``"repriced"`` added), ``repriced_at=at`` and ``repriced_from`` the source of
    ``current`` (its pricing until now). ``clipped_source``: the series covers more than the
    run (one request for several runs), so the source's estimated flag is the run's own.
    ``energy``: :func:`energy_series` of ``base`` when already made."""
    if energy is None:
        energy = energy_series(base)
    lo, hi = energy.starts_s[0], energy.ends_s[-1]
    covering = extend_to_cover(
        series, min(lo, base.started_at.timestamp()), max(hi, base.ended_at.timestamp())
    )
    try:
        aligned = align(energy, covering, pue=base.pue)
    except DataRangeError as exc:  # cannot happen after extend_to_cover
        raise _Skip(str(exc)) from None
    from carbonsdk.accounting import intervals

    estimated = aligned.any_estimated or (series.source.estimated and not clipped_source)
    old = current.intensity_source
    note = f"repriced {at.astimezone(UTC):%Y-%m-%d} from {old.provider}"
    if old.estimated:
        note += " (estimated)"
    if series.source.note:
        note += f"; {series.source.note}"
    source = attrs.evolve(series.source, estimated=estimated, note=note)
    intensity_flags = [f for f in outcome_flags if f != "intensity-estimated"]
    if aligned.any_estimated or covering is not series:
        intensity_flags.append("intensity-estimated")
    kept = [f for f in base.flags if f not in PRICING_FLAGS and f not in _PRICED_NONFINITE]
    attributed = _attributed_g(base, aligned)
    flags = [*intensity_flags, *kept, "repriced"]
    if attributed is not None:
        flags.append("attributed-emissions-rescaled")
    mean = aligned.mean_intensity_g_per_kwh
    repriced = attrs.evolve(
        base,
        timeline=intervals(aligned),
        emissions_g=aligned.total_emissions_g,
        intensity_g_per_kwh=mean if mean is None or math.isfinite(mean) else None,
        attributed_emissions_g=attributed,
        intensity_source=source,
        flags=tuple(dict.fromkeys(flags)),
        repriced_at=at,
        repriced_from=old,
    )
    return repriced, aligned


# -- the provider ----------------------------------------------------------------------------------


def resolve_provider(intensity: Any) -> IntensityProvider:
    """The provider of an ``intensity=`` spec (``"auto"``, ``"embedded"``, a live provider's
    name, ``"csv:PATH"``, a number of g/kWh, or a provider object);
    :class:`ConfigurationError` naming a bad one."""
    from carbonsdk.intensity.choose import auto_provider, make_provider

    provider = make_provider(intensity)
    return auto_provider() if provider is None else provider


def _needs_zone(provider: IntensityProvider) -> bool:
    name = getattr(provider, "name", type(provider).__name__)
    return name not in ("constant", "csv") and not getattr(
        provider, "accepts_unknown_region", False
    )


def _unavailable(flags: Sequence[str]) -> bool:
    return any(f in flags for f in _UNAVAILABLE)


@attrs.frozen
class _Fetched:
    """A series for one run or a group of runs, or why there is none."""

    series: IntensitySeries | None
    flags: tuple[str, ...]
    reason: str
    shared: bool


def _series_or_reason(
    provider: IntensityProvider,
    region: Region,
    start: datetime,
    end: datetime,
    takes_deadline: bool,
) -> IntensitySeries | str:
    """``provider.series(region, start, end)`` within :data:`REPRICE_BUDGET_S`, or why it
    failed (the errors :func:`carbonsdk.intensity.choose.series_for_run` answers with a
    fallback)."""
    from carbonsdk.exceptions import ProviderError

    try:
        if takes_deadline:
            got: Any = provider.series(  # type: ignore[call-arg]
                region, start, end, deadline_s=time.monotonic() + REPRICE_BUDGET_S
            )
        else:
            got = provider.series(region, start, end)
    except (ProviderError, ConfigurationError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a provider's bug: a reason, never a crash
        return f"unexpected {type(exc).__name__}: {exc}"
    if not isinstance(got, IntensitySeries):
        return f"provider returned {type(got).__name__}, not an IntensitySeries"
    return got


def _fetch(
    provider: IntensityProvider,
    region: Region,
    start_s: float,
    end_s: float,
    *,
    shared: bool,
    takes_deadline: bool,
) -> _Fetched:
    """The provider's series over ``[start_s, end_s)`` with the flags the end of a run would
    give it (:func:`carbonsdk.intensity.choose.series_for_run` without its fallbacks: a
    failure is a reason to skip, not an embedded or world-average stand-in)."""
    from carbonsdk.intensity.choose import _finish

    name = getattr(provider, "name", type(provider).__name__)
    flags = [] if region.known else ["region-unknown"]
    start = to_datetime(start_s)
    end = to_datetime(max(end_s, start_s + 1e-3))
    outcome = _series_or_reason(provider, region, start, end, takes_deadline)
    if not isinstance(outcome, IntensitySeries):
        return _Fetched(None, (), f"{name} data not available: {outcome}", shared)
    finished = _finish(outcome, flags)
    if _unavailable(finished.flags):  # a provider object standing in for another
        return _Fetched(None, finished.flags, f"{name} data not available", shared)
    return _Fetched(finished.series, finished.flags, "", shared)


def _span_s(result: RunResult) -> tuple[float, float]:
    lo = result.started_at.timestamp()
    hi = result.ended_at.timestamp()
    if result.timeline:
        lo = min(lo, result.timeline[0].start.timestamp())
        hi = max(hi, result.timeline[-1].end.timestamp())
    return lo, max(hi, lo + 1e-3)


def _fetch_all(
    provider: IntensityProvider, bases: Sequence[RunResult]
) -> Callable[[RunResult], _Fetched]:
    """Per run, its series: local providers are asked per run, exactly as at the end of a
    run; live ones once per zone for runs close in time (:data:`CHUNK_GAP_S`,
    :data:`CHUNK_SPAN_S`), lazily, in start order."""
    from carbonsdk.intensity.choose import accepts_deadline, is_local

    takes = accepts_deadline(provider.series)
    if is_local(provider):

        def per_run(base: RunResult) -> _Fetched:
            lo, hi = _span_s(base)
            return _fetch(provider, base.region, lo, hi, shared=False, takes_deadline=takes)

        return per_run
    groups: dict[tuple[str | None, str | None], list[RunResult]] = {}
    for b in bases:
        groups.setdefault((b.region.zone, b.region.country), []).append(b)
    chunk_of: dict[str, int] = {}
    chunks: list[tuple[Region, float, float]] = []
    for members in groups.values():
        members.sort(key=_span_s)
        cur: list[Any] | None = None
        for b in members:
            lo, hi = _span_s(b)
            if cur is not None and lo - cur[2] <= CHUNK_GAP_S and hi - cur[1] <= CHUNK_SPAN_S:
                cur[2] = max(cur[2], hi)
                chunks[-1] = (cur[0], cur[1], cur[2])
            else:
                cur = [b.region, lo, hi]
                chunks.append((b.region, lo, hi))
            chunk_of[b.run_id] = len(chunks) - 1
    fetched: dict[int, _Fetched] = {}

    def chunked(base: RunResult) -> _Fetched:
        k = chunk_of[base.run_id]
        if k not in fetched:
            region, lo, hi = chunks[k]
            fetched[k] = _fetch(provider, region, lo, hi, shared=True, takes_deadline=takes)
        return fetched[k]

    return chunked


# -- the ledger ------------------------------------------------------------------------------------


def _ledger(ledger: Ledger | str | os.PathLike[str] | None) -> Ledger:
    if isinstance(ledger, Ledger):
        return ledger
    if ledger is not None and not isinstance(ledger, (str, os.PathLike)):
        raise ConfigurationError(
            f"ledger={ledger!r} is not valid: expected None, a path or a carbonsdk.Ledger"
        )
    found = Ledger(ledger)
    if not Path(found.path).exists():
        raise LedgerError(f"no ledger at {found.path}")
    return found


def _newest(base: RunResult, repricings: Sequence[Repricing]) -> tuple[RunResult, Repricing | None]:
    for rp in reversed(repricings):
        priced = apply_repricing(base, rp)
        if priced is not None:
            return priced, rp
    return base, None


class _Batch:
    """Reprice records waiting to be appended in one ``write()`` (whole records only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[Mapping[str, Any]] = []
        self.outcomes: list[RepriceOutcome] = []
        self.since = time.monotonic()

    def add(self, record: Mapping[str, Any], outcome: RepriceOutcome) -> None:
        self.records.append(record)
        self.outcomes.append(outcome)

    def due(self) -> bool:
        return len(self.records) >= BATCH_RECORDS or (
            bool(self.records) and time.monotonic() - self.since >= BATCH_S
        )

    def flush(self) -> list[RepriceOutcome]:
        """Append the pending records; the outcomes now on disk. :class:`LedgerError` when
        they could not be written."""
        if not self.records:
            return []
        # taken out first: whatever interrupts the write, no record is written twice
        records, done = self.records, self.outcomes
        self.records, self.outcomes = [], []
        self.since = time.monotonic()
        try:
            append_records(self.path, records, lock_timeout_s=LOCK_WAIT_S)
        except OSError as exc:
            raise LedgerError(
                f"could not write {len(records)} reprice record(s) to {self.path}: "
                f"{exc.strerror or exc}"
            ) from None
        return done


def _select(
    bases: Mapping[str, RunResult],
    current: Mapping[str, RunResult],
    run_ids: Iterable[str] | None,
    since: datetime | None,
    last: bool,
    path: Path,
) -> list[str]:
    from carbonsdk.ledger.reader import _lookup

    runs = sorted(current.values(), key=lambda r: (r.started_at, r.run_id))
    if last:
        tops = top_level(runs)
        if not tops:
            raise LedgerError(f"ledger {path} has no runs")
        runs = [tops[-1]]
    if run_ids is not None:
        ids = list(run_ids)
        for rid in ids:
            if not isinstance(rid, str) or not rid.strip():
                raise ConfigurationError(
                    f"run id {rid!r} is not valid: expected a run id or a unique prefix of one "
                    "(see `carbonsdk runs`)"
                )
        chosen = {_lookup(list(bases.values()), rid.strip(), path).run_id for rid in ids}
        runs = [r for r in runs if r.run_id in chosen]
    if since is not None:
        if since.tzinfo is None:
            raise ConfigurationError(f"since={since!r} is naive: give an aware datetime")
        runs = [r for r in runs if r.started_at >= since]
    return [r.run_id for r in runs]


def reprice_runs(
    run_ids: Iterable[str] | None = None,
    intensity: Any = "auto",
    ledger: Ledger | str | os.PathLike[str] | None = None,
    *,
    since: datetime | None = None,
    last: bool = False,
    force: bool = False,
    dry_run: bool = False,
    on_outcome: Callable[[RepriceOutcome], None] | None = None,
) -> list[RepriceOutcome]:
    """Price runs of the ledger again with ``intensity`` (the specs of
    ``measure(intensity=...)`` or a provider object) and append one ``"reprice"`` record per
    run whose new pricing is better (see the module docstring; ``force``: whatever it is).

    Runs: those of ``run_ids`` (ids or unique prefixes), else all; with ``last`` the most
    recent top-level run; with ``since`` (an aware datetime) only runs started then or later.
    Each run's zone comes from its record (a zone-based provider skips a run without one).
    ``dry_run``: compute, write nothing. Records are written whole, several in one
    ``write()`` (at most :data:`BATCH_RECORDS`, or every :data:`BATCH_S` seconds), so an
    interrupted call leaves whole records and a second call skips what was done ("not
    better"). ``on_outcome`` is called for each run once its outcome is final (written, for a
    repriced one). Returns the outcomes in start order. Raises :class:`ConfigurationError`
    for a bad spec, :class:`LedgerError` for a missing ledger, an unknown run id or a failed
    write."""
    provider = resolve_provider(intensity)
    book = _ledger(ledger)
    bases, repricings = book.pricing_records()
    current: dict[str, tuple[RunResult, Repricing | None]] = {
        rid: _newest(b, repricings.get(rid, ())) for rid, b in bases.items()
    }
    chosen = _select(bases, {k: v[0] for k, v in current.items()}, run_ids, since, last, book.path)
    fetch = _fetch_all(provider, [bases[rid] for rid in chosen])
    at = datetime.now(UTC)
    batch = _Batch(book.path)
    outcomes: list[RepriceOutcome] = []

    def final(outcome: RepriceOutcome) -> None:
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        for rid in chosen:
            base = bases[rid]
            now, repricing = current[rid]
            outcome, record = _one(base, now, repricing, provider, fetch, at, force, dry_run)
            outcomes.append(outcome)
            if record is None:
                final(outcome)
                continue
            batch.add(record, outcome)
            if batch.due():
                for done in batch.flush():
                    final(done)
    finally:
        for done in batch.flush():
            final(done)
    return outcomes


def _one(
    base: RunResult,
    current: RunResult,
    repricing: Repricing | None,
    provider: IntensityProvider,
    fetch: Callable[[RunResult], _Fetched],
    at: datetime,
    force: bool,
    dry_run: bool,
) -> tuple[RepriceOutcome, dict[str, Any] | None]:
    """One run: its outcome and the record to write (None: nothing to write)."""

    def skipped(reason: str, **more: Any) -> tuple[RepriceOutcome, None]:
        return RepriceOutcome(base.run_id, base.name, "skipped", reason, current, **more), None

    if not base.timeline:
        return skipped(
            "no energy timeline in the record (a gathered summary or an observer: "
            "reprice it in its host's ledger)"
        )
    if base.region.zone is None and _needs_zone(provider):
        name = getattr(provider, "name", type(provider).__name__)
        return skipped(
            f"region unknown: the record has no grid zone for {name} (reprice it "
            "with --intensity NUMBER or csv:PATH)"
        )
    try:
        energy = energy_series(base)  # checked before any provider call
        fetched = fetch(base)
        series = fetched.series
        if series is None:
            return skipped(fetched.reason)
        step = _nominal_step_s(series.source)
        if step is None:
            step = series_step_s(series)
        old = _current_quality(current, repricing)
        if not force and _all_actual(series, energy.starts_s[0], energy.ends_s[-1]):
            better, why = compare(old, Quality(0.0, step))
            if not better:  # known without aligning (a rerun of the same data)
                return skipped(why, old=old, new=Quality(0.0, step))
        repriced, aligned = price(
            base,
            current,
            series,
            fetched.flags,
            at=at,
            clipped_source=fetched.shared,
            energy=energy,
        )
    except _Skip as exc:
        return skipped(str(exc))
    new = Quality(_aligned_share(aligned), step)
    better, why = compare(old, new)
    if not better and not force:
        return skipped(why, after=repriced, old=old, new=new)
    reason = why if better else f"forced ({why})"
    action = "would-reprice" if dry_run else "repriced"
    outcome = RepriceOutcome(base.run_id, base.name, action, reason, current, repriced, old, new)
    if dry_run:
        return outcome, None
    record = reprice_record(
        repriced,
        estimated_share=new.estimated_share,
        step_s=None if new.step_s is None or math.isinf(new.step_s) else new.step_s,
    )
    return outcome, record


def reprice(
    run_id: str,
    intensity: Any = "auto",
    ledger: Ledger | str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
) -> RunResult:
    """Price run ``run_id`` (an id or unique prefix) again with ``intensity`` (``"auto"``,
    ``"embedded"``, ``"electricitymaps"``, ``"eia"``, ``"entsoe"``, ``"ukgrid"``,
    ``"watttime"``, ``"csv:PATH"``, a number of g/kWh, or a provider object) from its stored
    energy timeline, exactly as at the end of a run (same PUE, interval by interval), and
    append a ``"reprice"`` record to the ledger (``ledger``: a path, a :class:`Ledger`, None
    for the default; the run's own record stays as it is).

    Returns the run's newest pricing: the new one (``repriced_at`` set, ``repriced_from`` the
    source it replaced, ``"repriced"`` in ``flags``, emissions in g CO2eq), or, when the new
    data is not better (see :mod:`carbonsdk.reprice`; ``force=True`` reprices anyway) or not
    available, the unchanged current pricing with a warning logged saying why. Raises
    :class:`ConfigurationError` for a bad ``intensity``, :class:`LedgerError` for an unknown
    run, a missing ledger or a failed write."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise ConfigurationError(f"run_id={run_id!r} is not valid: expected a run id string")
    (outcome,) = reprice_runs([run_id], intensity, ledger, force=force)
    if outcome.action == "repriced" and outcome.after is not None:
        return outcome.after
    log.warning("carbonsdk: run %s not repriced: %s", outcome.run_id[:8], outcome.reason)
    return outcome.before
