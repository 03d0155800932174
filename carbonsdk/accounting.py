"""Time-aligned emissions: an energy timeline multiplied, interval by interval, with a
piecewise-constant carbon-intensity series.

An energy interval that straddles intensity steps is split by time, its energy shared in
proportion to the time spent in each step (constant power within a sample interval). So
``emissions_g = Σ energy_kwh × pue × intensity_g_per_kwh`` is exact for the series given.
Small timelines use a pure-Python two-pointer sweep (no numpy import at the end of a short run);
large ones a vectorised numpy path, both checked against a brute-force reference in the tests.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

import attrs

from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import DataRangeError
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.model.result import TimelineInterval
from carbonsdk.timeline import J_PER_KWH, EnergySeries

#: above this many energy intervals the numpy path is used
NUMPY_THRESHOLD = 20_000


@attrs.frozen(eq=False)
class AlignedSeries:
    """The result of :func:`align`: parallel tuples over the split intervals. Times are UTC epoch
    seconds, energy in kWh (per component, and total), intensity in g/kWh, emissions in g
    (PUE applied)."""

    components: tuple[str, ...]
    starts_s: tuple[float, ...]
    ends_s: tuple[float, ...]
    energy_kwh: tuple[float, ...]
    energy_by_component_kwh: Mapping[str, tuple[float, ...]]
    intensity_g_per_kwh: tuple[float, ...]
    intensity_estimated: tuple[bool, ...]
    emissions_g: tuple[float, ...]
    pue: float

    def __len__(self) -> int:
        return len(self.starts_s)

    @property
    def total_energy_kwh(self) -> float:
        """Sum of energy over all intervals, kWh."""
        return float(sum(self.energy_kwh))

    @property
    def total_emissions_g(self) -> float:
        """Sum of emissions over all intervals, g CO2eq (PUE included)."""
        return float(sum(self.emissions_g))

    @property
    def mean_intensity_g_per_kwh(self) -> float | None:
        """Energy-weighted mean intensity (g/kWh, PUE excluded), None without energy (then the
        time-weighted mean)."""
        total = self.total_energy_kwh
        if total > 0:
            return (
                float(
                    sum(
                        e * i
                        for e, i in zip(self.energy_kwh, self.intensity_g_per_kwh, strict=True)
                    )
                )
                / total
            )
        dur = sum(e - s for s, e in zip(self.starts_s, self.ends_s, strict=True))
        if dur <= 0 or not self.intensity_g_per_kwh:
            return self.intensity_g_per_kwh[0] if self.intensity_g_per_kwh else None
        return (
            float(
                sum(
                    (e - s) * i
                    for s, e, i in zip(
                        self.starts_s, self.ends_s, self.intensity_g_per_kwh, strict=True
                    )
                )
            )
            / dur
        )

    @property
    def any_estimated(self) -> bool:
        """True when any interval used an estimated intensity."""
        return any(self.intensity_estimated)


def extend_to_cover(series: IntensitySeries, start_s: float, end_s: float) -> IntensitySeries:
    """``series`` extended (first/last value held, flagged estimated) so that it covers
    ``[start_s, end_s]``; unchanged when it already does."""
    b = list(series.boundaries_s)
    v = list(series.values_g_per_kwh)
    f = list(series.estimated)
    if start_s < b[0]:
        b.insert(0, start_s)
        v.insert(0, v[0])
        f.insert(0, True)
    if end_s > b[-1]:
        b.append(end_s)
        v.append(v[-1])
        f.append(True)
    if len(b) == len(series.boundaries_s):
        return series
    return IntensitySeries(tuple(b), tuple(v), tuple(f), series.source)


def align(energy: EnergySeries, series: IntensitySeries, *, pue: float = 1.0) -> AlignedSeries:
    """Split ``energy`` intervals at the steps of ``series`` and compute emissions.

    ``series`` must cover the energy's time span (see :func:`extend_to_cover`), else
    :class:`DataRangeError` says how far it goes. ``pue`` (>= 1) multiplies emissions, not
    energy. Zero-length intervals are dropped.
    """
    if len(energy) == 0:
        return AlignedSeries(
            energy.components, (), (), (), {c: () for c in energy.components}, (), (), (), pue
        )
    if not series.covers(energy.starts_s[0], energy.ends_s[-1]):
        raise DataRangeError(
            f"intensity series covers {series.start.isoformat()} to {series.end.isoformat()}, "
            "which does not cover the energy timeline"
        )
    if len(energy) > NUMPY_THRESHOLD:
        return _align_numpy(energy, series, pue)
    return _align_python(energy, series, pue)


def _align_python(energy: EnergySeries, series: IntensitySeries, pue: float) -> AlignedSeries:
    comps = energy.components
    b = series.boundaries_s
    vals = series.values_g_per_kwh
    flags = series.estimated
    out_s: list[float] = []
    out_e: list[float] = []
    out_kwh: list[float] = []
    out_comp: dict[str, list[float]] = {c: [] for c in comps}
    out_i: list[float] = []
    out_f: list[bool] = []
    out_g: list[float] = []
    j = max(0, bisect.bisect_right(b, energy.starts_s[0]) - 1)
    ej = [energy.energy_j[c] for c in comps]
    for k in range(len(energy)):
        s = energy.starts_s[k]
        e = energy.ends_s[k]
        dur = e - s
        if dur <= 0:
            continue
        while b[j + 1] <= s:
            j += 1
        t = s
        while t < e:
            seg_end = min(e, b[j + 1])
            frac = (seg_end - t) / dur
            kwh_parts = [ej[ci][k] * frac / J_PER_KWH for ci in range(len(comps))]
            kwh = sum(kwh_parts)
            out_s.append(t)
            out_e.append(seg_end)
            out_kwh.append(kwh)
            for ci, c in enumerate(comps):
                out_comp[c].append(kwh_parts[ci])
            out_i.append(vals[j])
            out_f.append(flags[j])
            out_g.append(kwh * pue * vals[j])
            t = seg_end
            if t < e:
                j += 1
    return AlignedSeries(
        comps,
        tuple(out_s),
        tuple(out_e),
        tuple(out_kwh),
        {c: tuple(v) for c, v in out_comp.items()},
        tuple(out_i),
        tuple(out_f),
        tuple(out_g),
        pue,
    )


def _align_numpy(energy: EnergySeries, series: IntensitySeries, pue: float) -> AlignedSeries:
    import numpy as np

    comps = energy.components
    starts = np.asarray(energy.starts_s, dtype=np.float64)
    ends = np.asarray(energy.ends_s, dtype=np.float64)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    joules = (
        np.vstack([np.asarray(energy.energy_j[c], dtype=np.float64)[keep] for c in comps])
        if comps
        else np.zeros((0, len(starts)))
    )
    b = np.asarray(series.boundaries_s, dtype=np.float64)
    # Cut points: every energy boundary plus every intensity boundary inside the span.
    inner = b[(b > starts[0]) & (b < ends[-1])]
    cuts = np.union1d(np.concatenate([starts, ends[-1:]]), inner)
    seg_s, seg_e = cuts[:-1], cuts[1:]
    owner = np.searchsorted(starts, seg_s, side="right") - 1  # energy interval of each segment
    step = np.searchsorted(b, seg_s, side="right") - 1  # intensity step of each segment
    frac = (seg_e - seg_s) / (ends[owner] - starts[owner])
    part_kwh = joules[:, owner] * frac / J_PER_KWH
    kwh = part_kwh.sum(axis=0)
    vals = np.asarray(series.values_g_per_kwh, dtype=np.float64)[step]
    flags = np.asarray(series.estimated, dtype=bool)[step]
    grams = kwh * pue * vals
    return AlignedSeries(
        comps,
        tuple(seg_s.tolist()),
        tuple(seg_e.tolist()),
        tuple(kwh.tolist()),
        {c: tuple(part_kwh[i].tolist()) for i, c in enumerate(comps)},
        tuple(vals.tolist()),
        tuple(flags.tolist()),
        tuple(grams.tolist()),
        pue,
    )


def intervals(aligned: AlignedSeries) -> tuple[TimelineInterval, ...]:
    """A result's timeline from an aligned series: one :class:`TimelineInterval` per interval
    (aware UTC bounds; kWh, g/kWh and g CO2eq per interval)."""
    comps = aligned.components
    return tuple(
        TimelineInterval(
            start=to_datetime(aligned.starts_s[i]),
            end=to_datetime(aligned.ends_s[i]),
            energy_kwh=aligned.energy_kwh[i],
            energy_by_component_kwh={c: aligned.energy_by_component_kwh[c][i] for c in comps},
            intensity_g_per_kwh=aligned.intensity_g_per_kwh[i],
            emissions_g=aligned.emissions_g[i],
            intensity_estimated=aligned.intensity_estimated[i],
        )
        for i in range(len(aligned))
    )
