"""Carbon-intensity time series: piecewise-constant steps of g/kWh for one zone."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import attrs

from carbonsdk.clock import to_datetime, to_epoch_s
from carbonsdk.exceptions import ConfigurationError

SIGNALS = ("average", "marginal")
BASES = ("lifecycle", "direct")


@attrs.frozen
class IntensityStep:
    """One step ``[start, end)`` (aware UTC datetimes) at ``g_per_kwh``; ``estimated`` is True
    when the value is not a measurement for that time (forecast, filled gap, typical-year
    substitute, annual average)."""

    start: datetime
    end: datetime
    g_per_kwh: float
    estimated: bool


@attrs.frozen
class IntensitySource:
    """Where a run's intensity came from.

    ``provider``: ``"embedded"``, ``"electricitymaps"``, ``"watttime"``, ``"ukgrid"``,
    ``"csv"``, ``"constant"`` or ``"world-average"``; ``signal``: ``"average"`` or
    ``"marginal"``; ``basis``: ``"lifecycle"``, ``"direct"`` or ``"unknown"``; ``zone``: the grid
    zone (None when unknown); ``estimated``: True if any value used was estimated;
    ``fallback_from``: the provider that failed when this is a fallback (its reason in ``note``);
    ``dataset``: human-readable provenance (data set, years, licence).
    """

    provider: str
    signal: str = "average"
    basis: str = "unknown"
    zone: str | None = None
    estimated: bool = False
    fallback_from: str | None = None
    note: str = ""
    dataset: str = ""


@attrs.frozen(eq=False)
class IntensitySeries:
    """Piecewise-constant carbon intensity.

    ``boundaries_s`` has one more entry than ``values_g_per_kwh``: step ``i`` covers
    ``[boundaries_s[i], boundaries_s[i+1])`` (UTC epoch seconds) at ``values_g_per_kwh[i]``,
    flagged ``estimated[i]``. ``source`` says where the values came from.
    """

    boundaries_s: tuple[float, ...]
    values_g_per_kwh: tuple[float, ...]
    estimated: tuple[bool, ...]
    source: IntensitySource

    def __attrs_post_init__(self) -> None:
        n = len(self.values_g_per_kwh)
        if n == 0:
            raise ConfigurationError("an intensity series needs at least one step")
        if len(self.boundaries_s) != n + 1 or len(self.estimated) != n:
            raise ConfigurationError(
                f"inconsistent intensity series: {len(self.boundaries_s)} boundaries, "
                f"{n} values, {len(self.estimated)} flags (boundaries must be values + 1)"
            )
        for i in range(n):
            if not self.boundaries_s[i] < self.boundaries_s[i + 1]:
                raise ConfigurationError(
                    "intensity series timestamps must be strictly increasing; step "
                    f"{i} starts at {to_datetime(self.boundaries_s[i]).isoformat()}"
                )
        for v in self.values_g_per_kwh:
            if not (v >= 0.0) or v == float("inf"):
                raise ConfigurationError(
                    f"carbon intensity {v!r} g/kWh is invalid: expected a finite number >= 0"
                )

    def __len__(self) -> int:
        return len(self.values_g_per_kwh)

    @property
    def start(self) -> datetime:
        """Start of the first step."""
        return to_datetime(self.boundaries_s[0])

    @property
    def end(self) -> datetime:
        """End of the last step."""
        return to_datetime(self.boundaries_s[-1])

    def steps(self) -> Iterator[IntensityStep]:
        """The steps, in time order."""
        b = self.boundaries_s
        for i, v in enumerate(self.values_g_per_kwh):
            yield IntensityStep(to_datetime(b[i]), to_datetime(b[i + 1]), v, self.estimated[i])

    def index_at(self, epoch_s: float) -> int | None:
        """Index of the step holding ``epoch_s``, or None outside the series."""
        if epoch_s < self.boundaries_s[0] or epoch_s >= self.boundaries_s[-1]:
            return None
        return bisect.bisect_right(self.boundaries_s, epoch_s) - 1

    def value_at(self, when: datetime) -> float | None:
        """g/kWh at ``when`` (aware datetime), or None outside the series."""
        i = self.index_at(to_epoch_s(when))
        return None if i is None else self.values_g_per_kwh[i]

    def covers(self, start_s: float, end_s: float) -> bool:
        """True when ``[start_s, end_s]`` (epoch seconds) lies inside the series."""
        return self.boundaries_s[0] <= start_s and end_s <= self.boundaries_s[-1]

    def slice(self, start_s: float, end_s: float) -> IntensitySeries:
        """The steps overlapping ``[start_s, end_s)``, edges clipped (epoch seconds)."""
        b = self.boundaries_s
        lo = max(0, bisect.bisect_right(b, start_s) - 1)
        hi = min(len(self.values_g_per_kwh), max(lo + 1, bisect.bisect_left(b, end_s)))
        bounds = list(b[lo : hi + 1])
        bounds[0] = max(bounds[0], start_s)
        bounds[-1] = min(bounds[-1], end_s) if end_s > bounds[0] else bounds[-1]
        return IntensitySeries(
            boundaries_s=tuple(bounds),
            values_g_per_kwh=self.values_g_per_kwh[lo:hi],
            estimated=self.estimated[lo:hi],
            source=self.source,
        )

    @classmethod
    def constant(
        cls, g_per_kwh: float, start_s: float, end_s: float, source: IntensitySource
    ) -> IntensitySeries:
        """One step at ``g_per_kwh`` over ``[start_s, end_s)`` (epoch seconds)."""
        return cls((start_s, end_s), (float(g_per_kwh),), (source.estimated,), source)

    @classmethod
    def from_pairs(
        cls,
        pairs: Iterable[tuple[datetime, float]],
        source: IntensitySource,
        *,
        end: datetime | None = None,
        estimated: Sequence[bool] | None = None,
    ) -> IntensitySeries:
        """From ``(aware datetime, g_per_kwh)`` pairs, each value holding until the next
        timestamp. The last holds until ``end`` or, by default, for the series' own step (the
        smallest gap between timestamps; one hour for a single pair)."""
        items = [(to_epoch_s(t), float(v)) for t, v in pairs]
        if not items:
            raise ConfigurationError("an intensity series needs at least one (time, value) pair")
        times = [t for t, _ in items]
        if end is not None:
            last_end = to_epoch_s(end)
        else:
            gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
            last_end = times[-1] + (min(gaps) if gaps else 3600.0)
        flags = tuple(estimated) if estimated is not None else (source.estimated,) * len(items)
        return cls(tuple([*times, last_end]), tuple(v for _, v in items), flags, source)
