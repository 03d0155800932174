"""Energy values: one interval of a run's measured energy, and an immutable series of them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs


@attrs.frozen
class EnergyInterval:
    """``[start_s, end_s)`` in UTC epoch seconds with the energy of each component in joules."""

    start_s: float
    end_s: float
    energy_j: Mapping[str, float]

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.end_s - self.start_s


@attrs.frozen(eq=False)
class EnergySeries:
    """An immutable snapshot of a timeline: parallel tuples ``starts_s``, ``ends_s`` (UTC epoch
    seconds) and ``energy_j[component]`` (joules per interval)."""

    components: tuple[str, ...]
    starts_s: tuple[float, ...]
    ends_s: tuple[float, ...]
    energy_j: Mapping[str, tuple[float, ...]]

    def __len__(self) -> int:
        return len(self.starts_s)

    def __iter__(self) -> Iterator[EnergyInterval]:
        for i, (start, end) in enumerate(zip(self.starts_s, self.ends_s, strict=True)):
            yield EnergyInterval(start, end, {c: self.energy_j[c][i] for c in self.components})

    def total_j(self, component: str | None = None) -> float:
        """Total joules of one component, or of all components when ``component`` is None."""
        if component is not None:
            return float(sum(self.energy_j[component]))
        return float(sum(sum(self.energy_j[c]) for c in self.components))
