"""The embedded carbon-intensity provider: works offline, for every region carbonsdk knows.

Data (``carbonsdk/data/``, built by ``tools/build_dataset.py``; licences in DATA_LICENSES.md):

* hourly series, g/kWh, per grid zone, year and basis: Electricity Maps Data Portal data
  2021–2024 (ODbL 1.0; consumption-based). 48 zones have *life-cycle* values for 2021–2024 (the
  2025-01-27 release; where only OpenDC's parquet conversion has a zone, no estimation flags
  were published and none are set); *direct* values come from the Data Portal CSV files only,
  for some zones from an older release (the dataset label names it), with a flag per
  estimated hour. One series per zone, year and basis: releases are never spliced within a
  series (``tools/build_dataset.py`` picks the newest);
* Ember's annual country averages, every year from 2019 (CC BY 4.0; life-cycle,
  production-based);
* Google Cloud's per-region CFE and grid intensity (Apache-2.0), exposed for reference.

**Basis.** The default is ``"lifecycle"`` (Electricity Maps' LCA column), because Ember's annual
figures, the fallback for zones without hourly data, are life-cycle too. ``"direct"``
(operational emissions only) is selectable and served only where the data has it; series of
different bases are never spliced, so asking for ``direct`` where only life-cycle data exists
raises :class:`ProviderError`.

**Time.** Steps are whole UTC hours, hour-start stamped. A time outside the embedded years takes
the value of the same month, weekday and hour (UTC) from the nearest year with data (the closest
such day in that month), flagged estimated. A zone without hourly data gets its country's annual
average (the year of the time, else the nearest year): a flat series, every step estimated.

Reading needs the standard library only (``zlib``, ``array``, ``json``): no numpy at import or
run time. Loaded zone-years are cached in-process (bounded LRU).
"""

from __future__ import annotations

import array
import bisect
import calendar
import functools
import itertools
import json
import sys
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import attrs

from carbonsdk.clock import to_epoch_s
from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.model.intensity import BASES, IntensitySeries, IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.region.table import country_of_zone

DEFAULT_BASIS = "lifecycle"
HOUR_S = 3600
#: zone-years kept decoded in memory (about 150 kB each: float64 arrays and a flag byte per hour)
CACHE_ZONE_YEARS = 32

#: byte value -> its 8 bits, least significant first, as 0/1 bytes
_BITS = tuple(bytes(b >> k & 1 for k in range(8)) for b in range(256))


# --------------------------------------------------------------------------------------------
# the packaged index


@attrs.frozen
class _Entry:
    index: int
    zone: str
    year: int
    dataset: str
    start_s: int
    hours: int
    bases: tuple[str, ...]
    offset: int
    length: int
    mean_g_per_kwh: Mapping[str, float]
    #: False when the source published no estimation flags (only filled gaps are flagged)
    flags: bool = True

    @property
    def end_s(self) -> int:
        return self.start_s + self.hours * HOUR_S


@attrs.frozen
class _Index:
    scale: int
    entries: tuple[_Entry, ...]
    by_zone: Mapping[str, tuple[_Entry, ...]]
    datasets: Mapping[str, Mapping[str, str]]
    annual: Mapping[str, Mapping[str, Any]]
    annual_dataset: Mapping[str, str]
    gcp: Mapping[str, Mapping[str, Mapping[str, Any]]]
    gcp_dataset: Mapping[str, str]


@functools.cache
def _index() -> _Index:
    ref = resources.files("carbonsdk").joinpath("data/intensity.json")
    with ref.open("rb") as fh:
        doc = json.load(fh)
    if doc.get("format") != 1:
        raise ProviderError(f"embedded dataset format {doc.get('format')!r} is not supported")
    entries = tuple(
        _Entry(
            index=i,
            zone=e["zone"],
            year=int(e["year"]),
            dataset=e["dataset"],
            start_s=int(e["start_s"]),
            hours=int(e["hours"]),
            bases=tuple(e["bases"]),
            offset=int(e["offset"]),
            length=int(e["length"]),
            mean_g_per_kwh=dict(e["mean_g_per_kwh"]),
            flags=bool(e.get("flags", True)),
        )
        for i, e in enumerate(doc["series"])
    )
    by_zone: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_zone.setdefault(entry.zone, []).append(entry)
    return _Index(
        scale=int(doc["scale"]),
        entries=entries,
        by_zone={z: tuple(sorted(es, key=lambda e: e.start_s)) for z, es in by_zone.items()},
        datasets=doc["datasets"],
        annual=doc["annual"],
        annual_dataset=doc["annual_dataset"],
        gcp=doc["gcp"],
        gcp_dataset=doc["gcp_dataset"],
    )


@attrs.frozen(eq=False)
class _Decoded:
    """One zone-year: g/kWh per hour per basis, and one byte per hour (1 = estimated)."""

    values: Mapping[str, array.array[float]]
    estimated: bytes


@functools.lru_cache(maxsize=CACHE_ZONE_YEARS)
def _decode(entry_index: int) -> _Decoded:
    """Read and decode one zone-year from ``hourly.bin`` (see tools/build_dataset.py)."""
    idx = _index()
    entry = idx.entries[entry_index]
    ref = resources.files("carbonsdk").joinpath("data/hourly.bin")
    with ref.open("rb") as fh:
        fh.seek(entry.offset)
        raw = fh.read(entry.length)
    try:
        payload = zlib.decompress(raw)
    except zlib.error as exc:
        raise ProviderError(
            f"embedded data for {entry.zone} {entry.year} is corrupt: {exc}"
        ) from None
    n = entry.hours
    expected = 4 * n * len(entry.bases) + (n + 7) // 8
    if len(payload) != expected:
        raise ProviderError(f"embedded data for {entry.zone} {entry.year} has the wrong size")
    scale = float(idx.scale)
    values: dict[str, array.array[float]] = {}
    pos = 0
    for basis in entry.bases:
        block = payload[pos : pos + 4 * n]
        pos += 4 * n
        unshuffled = bytearray(4 * n)
        for k in range(4):
            unshuffled[k::4] = block[k * n : (k + 1) * n]
        deltas = array.array("i")
        deltas.frombytes(bytes(unshuffled))
        if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
            deltas.byteswap()
        values[basis] = array.array("d", [v / scale for v in itertools.accumulate(deltas)])
    flags = b"".join([_BITS[b] for b in payload[pos:]])[:n]
    return _Decoded(values=values, estimated=flags)


def _check_basis(basis: str) -> str:
    if basis not in BASES:
        raise ConfigurationError(
            f"emission-factor basis {basis!r} is invalid: expected one of {', '.join(BASES)}"
        )
    return basis


def _entries(zone: str, basis: str) -> tuple[_Entry, ...]:
    return tuple(e for e in _index().by_zone.get(zone.upper(), ()) if basis in e.bases)


# --------------------------------------------------------------------------------------------
# public helpers


def zones() -> tuple[str, ...]:
    """Grid zones with hourly data in the embedded dataset, sorted."""
    return tuple(sorted(_index().by_zone))


def has_hourly(zone: str, basis: str | None = None) -> bool:
    """True when ``zone`` has hourly data (in ``basis``, when given)."""
    if basis is None:
        return zone.upper() in _index().by_zone
    return bool(_entries(zone, _check_basis(basis)))


def hourly_years(zone: str, basis: str = DEFAULT_BASIS) -> tuple[int, ...]:
    """Years with hourly data for ``zone`` in ``basis`` (empty when none)."""
    return tuple(sorted({e.year for e in _entries(zone, _check_basis(basis))}))


def mean_g_per_kwh(zone: str, basis: str = DEFAULT_BASIS) -> float | None:
    """Mean hourly intensity of ``zone`` over all its embedded hours, g/kWh, in ``basis``
    (default life-cycle); None when the zone has no hourly data in that basis."""
    entries = _entries(zone, _check_basis(basis))
    hours = sum(e.hours for e in entries)
    if not hours:
        return None
    return sum(e.mean_g_per_kwh[basis] * e.hours for e in entries) / hours


def _annual_years(country_iso2: str) -> Mapping[str, float] | None:
    entry = _index().annual.get(country_iso2.upper())
    if entry is None:
        return None
    years: Mapping[str, float] = entry["years"]
    return years


def _nearest(years: Iterable[int], year: int) -> int:
    # closest year; on a tie the later (more recent) one
    return min(years, key=lambda y: (abs(y - year), -y))


def annual_g_per_kwh(country_iso2: str, year: int | None = None) -> tuple[float, int] | None:
    """Ember's annual carbon intensity of ``country_iso2``'s electricity generation, g/kWh
    (life-cycle, production-based), with the year it is for: ``year`` when available, else the
    nearest year with data; the latest year when ``year`` is None. None for an unknown country.
    """
    years = _annual_years(country_iso2)
    if not years:
        return None
    available = [int(y) for y in years]
    chosen = max(available) if year is None else _nearest(available, year)
    return float(years[str(chosen)]), chosen


@attrs.frozen
class GcpRegionCarbon:
    """Google Cloud's published figures for one region and year: ``cfe_fraction`` (0–1, hourly
    carbon-free energy share including Google's purchases) and ``grid_g_per_kwh`` (location-based
    grid intensity, operational emissions), from GoogleCloudPlatform/region-carbon-info
    (Apache-2.0)."""

    region: str
    year: int
    location: str
    cfe_fraction: float
    grid_g_per_kwh: float


def gcp_region_carbon(region_code: str) -> tuple[GcpRegionCarbon, ...]:
    """Google's per-region figures for GCP region ``region_code``, oldest year first (empty
    when Google publishes none for it)."""
    by_year = _index().gcp.get(region_code.lower(), {})
    return tuple(
        GcpRegionCarbon(
            region=region_code.lower(),
            year=int(y),
            location=str(v["location"]),
            cfe_fraction=float(v["cfe_fraction"]),
            grid_g_per_kwh=float(v["grid_g_per_kwh"]),
        )
        for y, v in sorted(by_year.items())
    )


def dataset_label(zone: str, basis: str = DEFAULT_BASIS) -> str:
    """Human-readable provenance of ``zone``'s embedded data in ``basis``: data set, years,
    accounting basis, licence (empty when the zone has no hourly data)."""
    return _hourly_label(zone.upper(), _check_basis(basis), None)


def _year_span(years: Sequence[int]) -> str:
    ys = sorted(set(years))
    if not ys:
        return ""
    if ys == list(range(ys[0], ys[-1] + 1)) and len(ys) > 1:
        return f"{ys[0]}–{ys[-1]}"
    return ", ".join(str(y) for y in ys)


def _hourly_label(zone: str, basis: str, used: set[int] | None) -> str:
    idx = _index()
    parts = []
    entries = [e for e in _entries(zone, basis) if used is None or e.index in used]
    for dataset_id in sorted({e.dataset for e in entries}):
        meta = idx.datasets[dataset_id]
        years = _year_span([e.year for e in entries if e.dataset == dataset_id])
        accounting = meta["accounting"].split(" (")[0]
        if dataset_id.startswith("em-"):
            column = "LCA" if basis == "lifecycle" else "direct"
            release = meta.get("vintage", "")
            release = f" ({release})" if release.endswith("release") else ""
            unflagged = any(not e.flags for e in entries if e.dataset == dataset_id)
            flags = ", no estimation flags published" if unflagged else ""
            parts.append(
                f"Electricity Maps hourly {zone} {years}{release}, {column} values, "
                f"{accounting}{flags}, ODbL 1.0, via {meta['host']}"
            )
        else:
            parts.append(
                f"EIA-930 hourly {zone} {years} via {meta['host']}, life-cycle, {accounting} "
                f"(balancing-authority generation only, no imports), {meta['licence']}"
            )
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# series construction


def _floor_hour(epoch_s: float) -> int:
    return int(epoch_s // HOUR_S) * HOUR_S


def _ceil_hour(epoch_s: float) -> int:
    return -int(-epoch_s // HOUR_S) * HOUR_S


def _hour_range(start: datetime, end: datetime) -> tuple[int, int]:
    start_s = to_epoch_s(start)
    end_s = to_epoch_s(end)
    h0 = _floor_hour(start_s)
    h1 = max(_ceil_hour(end_s), h0 + HOUR_S)
    return h0, h1


def _candidate_days(day: date, year: int) -> tuple[date, ...]:
    """Days of ``day``'s month in ``year`` with ``day``'s weekday, closest first."""
    month = day.month
    anchor = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    first_of_month = date(year, month, 1)
    d = first_of_month + timedelta(days=(day.weekday() - first_of_month.weekday()) % 7)
    days = []
    while d.month == month:
        days.append(d)
        d += timedelta(days=7)
    return tuple(sorted(days, key=lambda c: (abs((c - anchor).days), c)))


class _Lookup:
    """Hour -> (value, estimated) for one zone and basis, with the nearest-year rule."""

    def __init__(self, entries: Sequence[_Entry], basis: str) -> None:
        self.entries = entries
        self.basis = basis
        self.starts = [e.start_s for e in entries]
        self.years = sorted({e.year for e in entries})
        self.used: set[int] = set()
        self.substituted = 0
        self._day_cache: dict[tuple[date, int], tuple[date, ...]] = {}

    def _find(self, t: int) -> tuple[float, bool] | None:
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0:
            return None
        entry = self.entries[i]
        if t >= entry.end_s:
            return None
        decoded = _decode(entry.index)
        k = (t - entry.start_s) // HOUR_S
        self.used.add(entry.index)
        return decoded.values[self.basis][k], bool(decoded.estimated[k])

    def value(self, t: int) -> tuple[float, bool]:
        found = self._find(t)
        if found is not None:
            return found
        when = datetime.fromtimestamp(t, tz=UTC)
        day = when.date()
        hour_s = when.hour * HOUR_S
        for year in sorted(self.years, key=lambda y: (abs(y - day.year), -y)):
            key = (day, year)
            days = self._day_cache.get(key)
            if days is None:
                days = self._day_cache[key] = _candidate_days(day, year)
            for candidate in days:
                t2 = calendar.timegm(candidate.timetuple()) + hour_s
                found = self._find(t2)
                if found is not None:
                    self.substituted += 1
                    return found[0], True
        raise ProviderError("embedded data has no hour to substitute")  # pragma: no cover


def _source(zone: str, basis: str, estimated: bool, note: str, dataset: str) -> IntensitySource:
    return IntensitySource(
        provider="embedded",
        signal="average",
        basis=basis,
        zone=zone,
        estimated=estimated,
        note=note,
        dataset=dataset,
    )


class EmbeddedProvider:
    """Carbon intensity from the data packaged with carbonsdk; needs no network.

    ``basis``: ``"lifecycle"`` (default; Electricity Maps LCA hourly values, Ember annual
    values) or ``"direct"`` (operational emissions; Electricity Maps zones only). See the module
    docstring for the rules on years outside the data and zones without hourly data.
    """

    name = "embedded"

    def __init__(self, basis: str = DEFAULT_BASIS) -> None:
        self.basis = _check_basis(basis)

    def __repr__(self) -> str:
        return f"EmbeddedProvider(basis={self.basis!r})"

    def _zone(self, region: Region) -> str:
        if not isinstance(region, Region):
            raise ConfigurationError(f"region {region!r} is invalid: expected a carbonsdk Region")
        if region.zone is None:
            raise ProviderError(
                "region unknown: the embedded provider needs a grid zone "
                "(pass region=..., set CARBONSDK_REGION, or run on a detectable cloud)"
            )
        return region.zone.upper()

    def _annual(self, region: Region, zone: str, h0: int, h1: int) -> IntensitySeries:
        country = region.country or country_of_zone(zone) or zone
        years = _annual_years(country)
        if not years:
            raise ProviderError(
                f"the embedded dataset has no data for zone {zone!r} "
                "(no hourly series and no annual country average)"
            )
        if self.basis != "lifecycle":
            raise ProviderError(
                f"the embedded dataset has no {self.basis}-basis data for zone {zone!r}: "
                "only Ember's life-cycle annual average (use basis='lifecycle')"
            )
        available = [int(y) for y in years]
        bounds: list[float] = [float(h0)]
        values: list[float] = []
        used: list[int] = []
        t = h0
        while t < h1:
            year = datetime.fromtimestamp(t, tz=UTC).year
            next_year_s = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
            chosen = _nearest(available, year)
            value = float(years[str(chosen)])
            t = min(next_year_s, h1)
            if values and values[-1] == value:
                bounds[-1] = float(t)
            else:
                values.append(value)
                bounds.append(float(t))
            used.append(chosen)
        meta = _index().annual_dataset
        name = _index().annual[country.upper()]["name"]
        dataset = (
            f"{meta['publisher']}, {meta['title']}: {name} annual average "
            f"{_year_span(used)}, life-cycle, production-based, CC BY 4.0"
        )
        note = (
            f"no hourly data for zone {zone}: flat {name} annual average "
            f"({_year_span(used)}), estimated"
        )
        return IntensitySeries(
            boundaries_s=tuple(bounds),
            values_g_per_kwh=tuple(values),
            estimated=(True,) * len(values),
            source=_source(zone, self.basis, True, note, dataset),
        )

    def series(self, region: Region, start: datetime, end: datetime) -> IntensitySeries:
        """Hourly g/kWh for ``region``'s zone covering ``[start, end)`` (aware datetimes),
        each step flagged estimated per the data (or when substituted from another year).
        The steps are whole UTC hours, from the hour holding ``start`` to the end of the hour
        holding ``end``. Raises :class:`ProviderError` when the region is unknown or the
        dataset has nothing for its zone in this basis."""
        zone = self._zone(region)
        h0, h1 = _hour_range(start, end)
        entries = _entries(zone, self.basis)
        if not entries:
            if has_hourly(zone):
                raise ProviderError(
                    f"the embedded hourly data for zone {zone!r} has no {self.basis} basis "
                    f"(it has {', '.join(_index().by_zone[zone][0].bases)}); "
                    "bases are never mixed"
                )
            return self._annual(region, zone, h0, h1)
        lookup = _Lookup(entries, self.basis)
        n = (h1 - h0) // HOUR_S
        values: list[float] = []
        flags: list[bool] = []
        # fast path: one zone-year covers the whole range
        i = bisect.bisect_right(lookup.starts, h0) - 1
        if i >= 0 and h1 <= entries[i].end_s:
            decoded = _decode(entries[i].index)
            k0 = (h0 - entries[i].start_s) // HOUR_S
            values = list(decoded.values[self.basis][k0 : k0 + n])
            flags = [bool(f) for f in decoded.estimated[k0 : k0 + n]]
            lookup.used.add(entries[i].index)
        else:
            for t in range(h0, h1, HOUR_S):
                v, est = lookup.value(t)
                values.append(v)
                flags.append(est)
        note = ""
        if lookup.substituted:
            note = (
                f"{lookup.substituted} of {n} hours outside the embedded data "
                f"({_year_span(lookup.years)}): same month, weekday and hour (UTC) of the "
                "nearest year, flagged estimated"
            )
        return IntensitySeries(
            boundaries_s=tuple(float(t) for t in range(h0, h1 + HOUR_S, HOUR_S)),
            values_g_per_kwh=tuple(values),
            estimated=tuple(flags),
            source=_source(
                zone, self.basis, any(flags), note, _hourly_label(zone, self.basis, lookup.used)
            ),
        )

    def typical_series(self, region: Region, start: datetime, end: datetime) -> IntensitySeries:
        """A typical-year profile over ``[start, end)`` for forecasts and plans: each UTC hour
        gets the mean of every embedded hour of the zone with the same month, weekday and hour
        (UTC) over all embedded years, in g/kWh; every step is flagged estimated. A zone without
        hourly data gets its flat annual average (see :meth:`series`)."""
        zone = self._zone(region)
        h0, h1 = _hour_range(start, end)
        if not _entries(zone, self.basis):
            return self.series(region, start, end)
        profile = _profile(zone, self.basis)
        values = []
        for t in range(h0, h1, HOUR_S):
            when = datetime.fromtimestamp(t, tz=UTC)
            values.append(profile[_slot(when.month, when.weekday(), when.hour)])
        years = hourly_years(zone, self.basis)
        note = (
            "typical-year profile: mean of the same month, weekday and hour (UTC) over "
            f"{_year_span(years)}, estimated"
        )
        return IntensitySeries(
            boundaries_s=tuple(float(t) for t in range(h0, h1 + HOUR_S, HOUR_S)),
            values_g_per_kwh=tuple(values),
            estimated=(True,) * len(values),
            source=_source(zone, self.basis, True, note, _hourly_label(zone, self.basis, None)),
        )


def _slot(month: int, weekday: int, hour: int) -> int:
    return ((month - 1) * 7 + weekday) * 24 + hour


@functools.lru_cache(maxsize=16)
def _profile(zone: str, basis: str) -> tuple[float, ...]:
    """Mean g/kWh per (month, weekday, hour) slot, UTC, over every embedded hour of ``zone``."""
    sums = [0.0] * (12 * 7 * 24)
    counts = [0] * (12 * 7 * 24)
    for entry in _entries(zone, basis):
        vals = _decode(entry.index).values[basis]
        first = datetime.fromtimestamp(entry.start_s, tz=UTC)
        k = 0
        # walk day by day: the slot base changes once per day
        day = first.replace(minute=0, second=0)
        while k < entry.hours:
            base = _slot(day.month, day.weekday(), 0)
            for hour in range(day.hour, 24):
                if k >= entry.hours:
                    break
                sums[base + hour] += vals[k]
                counts[base + hour] += 1
                k += 1
            day = (day + timedelta(days=1)).replace(hour=0)
    overall = sum(sums) / max(1, sum(counts))
    return tuple(s / c if c else overall for s, c in zip(sums, counts, strict=True))


def typical_series(
    region: Region, start: datetime, end: datetime, *, basis: str = DEFAULT_BASIS
) -> IntensitySeries:
    """Module-level shortcut for :meth:`EmbeddedProvider.typical_series` (g/kWh, hourly,
    every step estimated)."""
    return EmbeddedProvider(basis).typical_series(region, start, end)
