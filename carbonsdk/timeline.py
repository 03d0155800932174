"""The energy timeline of a run: ordered, gap-free ``[start, end)`` intervals with joules per
component, kept in flat arrays so that memory stays bounded.

Old intervals are coarsened into buckets aligned to a UTC grid of 10 s, then 60 s, then 300 s, so
a coarsened interval never straddles a 5-minute boundary and is never longer than 5 minutes. A
fine interval that crosses a bucket boundary is split by time (constant power within a sample).
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence

from carbonsdk.model.energy import EnergyInterval, EnergySeries
from carbonsdk.model.units import J_PER_KWH

__all__ = [
    "COARSEN_LEVELS_S",
    "DEFAULT_MAX_INTERVALS",
    "J_PER_KWH",
    "EnergyInterval",
    "EnergySeries",
    "TimelineBuilder",
    "bucketize",
]
COARSEN_LEVELS_S: tuple[float, ...] = (10.0, 60.0, 300.0)
DEFAULT_MAX_INTERVALS = 4096


class TimelineBuilder:
    """Mutable, append-only timeline used while a run is live (not thread-safe: the owner
    locks). ``add`` appends an interval that must start where the previous one ended (a gap is
    filled with a zero-energy interval so that the timeline tiles the run)."""

    def __init__(
        self, components: Sequence[str], *, max_intervals: int = DEFAULT_MAX_INTERVALS
    ) -> None:
        if max_intervals < 16:
            raise ValueError(f"max_intervals must be >= 16, got {max_intervals}")
        self.components: tuple[str, ...] = tuple(components)
        self._starts = array("d")
        self._ends = array("d")
        self._energy = {c: array("d") for c in self.components}
        self._max = max_intervals
        self._threshold = max_intervals
        self._final = 0  # intervals before this index are at the coarsest level

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def end_s(self) -> float | None:
        """End of the last interval (UTC epoch seconds), or None when empty."""
        return self._ends[-1] if self._ends else None

    def add(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Append ``[start_s, end_s)`` with joules per component (unknown keys are ignored,
        missing components count as 0)."""
        if end_s <= start_s:
            return
        last = self.end_s
        if last is not None and start_s > last:
            self._append(last, start_s, {})
        elif last is not None and start_s < last:
            start_s = last
            if end_s <= start_s:
                return
        self._append(start_s, end_s, energy_j)
        if len(self._starts) > self._threshold:
            self._coarsen()

    def _append(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        self._starts.append(start_s)
        self._ends.append(end_s)
        for c in self.components:
            self._energy[c].append(float(energy_j.get(c, 0.0)))

    def total_j(self, component: str | None = None) -> float:
        """Joules so far, for one component or all."""
        if component is not None:
            return float(sum(self._energy[component]))
        return float(sum(sum(self._energy[c]) for c in self.components))

    def snapshot(self, since_s: float | None = None) -> EnergySeries:
        """An immutable copy, optionally of the intervals that end after ``since_s`` only
        (the first one clipped at ``since_s``, its energy pro-rated by time)."""
        starts, ends = list(self._starts), list(self._ends)
        energy = {c: list(self._energy[c]) for c in self.components}
        if since_s is not None:
            keep = [i for i, e in enumerate(ends) if e > since_s]
            starts = [starts[i] for i in keep]
            ends = [ends[i] for i in keep]
            energy = {c: [v[i] for i in keep] for c, v in energy.items()}
            if starts and starts[0] < since_s:
                frac = (ends[0] - since_s) / (ends[0] - starts[0])
                starts[0] = since_s
                for c in self.components:
                    energy[c][0] *= frac
        return EnergySeries(
            components=self.components,
            starts_s=tuple(starts),
            ends_s=tuple(ends),
            energy_j={c: tuple(v) for c, v in energy.items()},
        )

    def _coarsen(self) -> None:
        """Merge old intervals into grid buckets, finest level that fits the budget first.

        The newest ``max_intervals // 4`` intervals keep full resolution; intervals already at
        the coarsest level are never touched again, so each pass costs O(max_intervals) and the
        total work stays linear in the run's length.
        """
        n = len(self._starts)
        keep = self._max // 4
        lo, hi = self._final, n - keep
        if hi - lo >= 2:
            budget = max(self._max // 2 - lo - keep, 0)
            level = COARSEN_LEVELS_S[0]
            merged = None
            for level in COARSEN_LEVELS_S:
                merged = bucketize(
                    self._starts[lo:hi],
                    self._ends[lo:hi],
                    {c: self._energy[c][lo:hi] for c in self.components},
                    level,
                )
                if len(merged[0]) <= budget:
                    break
            assert merged is not None
            m_starts, m_ends, m_energy = merged
            self._starts = self._starts[:lo] + m_starts + self._starts[hi:]
            self._ends = self._ends[:lo] + m_ends + self._ends[hi:]
            self._energy = {
                c: self._energy[c][:lo] + m_energy[c] + self._energy[c][hi:]
                for c in self.components
            }
            if level == COARSEN_LEVELS_S[-1]:
                # a last bucket that does not end on the grid is partial: it stays open, so
                # that the next pass merges it with what follows (else one partial bucket would
                # be frozen per pass and the memory bound would not hold for small budgets)
                frozen = len(m_starts)
                cells = m_ends[-1] / level
                if abs(cells - round(cells)) > 1e-9:
                    frozen -= 1
                self._final = lo + frozen
        self._threshold = max(self._max, len(self._starts) + self._max // 4)


def bucketize(
    starts: Sequence[float],
    ends: Sequence[float],
    energy: Mapping[str, Sequence[float]],
    level_s: float,
) -> tuple[array[float], array[float], dict[str, array[float]]]:
    """Merge intervals shorter than ``level_s`` into buckets aligned to multiples of
    ``level_s`` (UTC epoch), splitting an interval that crosses a bucket boundary by time.
    Intervals already ``>= level_s`` long are kept as they are. Energy is conserved exactly
    (up to floating-point rounding)."""
    comps = list(energy)
    out_s: array[float] = array("d")
    out_e: array[float] = array("d")
    out_j: dict[str, array[float]] = {c: array("d") for c in comps}
    cur_cell: float | None = None

    def emit(start: float, end: float, joules: Mapping[str, float], cell: float | None) -> None:
        nonlocal cur_cell
        if cell is not None and cur_cell == cell and out_e and out_e[-1] == start:
            out_e[-1] = end
            for c in comps:
                out_j[c][-1] += joules[c]
            return
        out_s.append(start)
        out_e.append(end)
        for c in comps:
            out_j[c].append(joules[c])
        cur_cell = cell

    for i in range(len(starts)):
        s, e = starts[i], ends[i]
        dur = e - s
        joules = {c: energy[c][i] for c in comps}
        if dur >= level_s or dur <= 0:
            emit(s, e, joules, None)
            continue
        t = s
        while t < e:
            cell = (t // level_s) * level_s
            cell_end = min(cell + level_s, e)
            frac = (cell_end - t) / dur
            emit(t, cell_end, {c: joules[c] * frac for c in comps}, cell)
            t = cell_end
    return out_s, out_e, out_j
