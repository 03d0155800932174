"""What the generation-mix providers share (EIA, :mod:`carbonsdk.intensity.eia`, and ENTSO-E,
:mod:`carbonsdk.intensity.entsoe`): both fetch generation by energy source for one area and
turn it into production-based, life-cycle average carbon intensity with
:class:`carbonsdk.intensity.factors.MixAccumulator`.

:class:`GenerationMixProvider` holds the part that is the same for both: the history is
requested in consecutive windows of :attr:`~GenerationMixProvider.window_s` seconds (hour
aligned, up to now), each window read from the on-disk cache when it holds a fresh entry,
else fetched and stored, and the steps of every window stitched into one gap-free series
whose source names the area and every source code that had no emission factor.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from carbonsdk import config
from carbonsdk.clock import to_epoch_s
from carbonsdk.exceptions import ProviderError
from carbonsdk.intensity.cache import CacheKey, RawStep
from carbonsdk.intensity.factors import FACTORS_DATASET, MixAccumulator
from carbonsdk.intensity.live import LiveProvider, cached_fetch, hour_windows, steps_to_series
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region


class GenerationMixProvider(LiveProvider, abc.ABC):
    """Base of a live provider that derives hourly production-based, life-cycle average
    intensity (g/kWh) from an area's generation by energy source.

    A subclass names its credential variable (:attr:`credential_env`), the zones it covers
    (:attr:`zones`, grid zone → the service's area code), its request and cache window
    (:attr:`window_s`, seconds) and the words of its provenance, and implements
    :meth:`_fetch_mix` (one window's generation); :meth:`_mix_series` does the rest.
    """

    signal = "average"
    basis = "lifecycle"
    #: the values ignore imports (see :attr:`production_note`)
    production_based = True

    #: the environment variable holding the service's credential
    credential_env: ClassVar[str]
    #: grid zone (upper case) → the service's area code
    zones: ClassVar[Mapping[str, str]]
    #: request and cache window, seconds (a whole number of hours)
    window_s: ClassVar[float]
    #: the service's dataset, cited in every series' source
    dataset: ClassVar[str]
    #: what the values leave out (imports), in every series' source note
    production_note: ClassVar[str]
    #: what the area code is called in the note (``"balancing authority"``)
    area_kind: ClassVar[str]
    #: what the source codes are called in the note (``"energy-source codes"``)
    code_kind: ClassVar[str]
    #: the error for a zone that is not in :attr:`zones` (``{zone!r}`` is the region's zone)
    not_covered: ClassVar[str]

    @classmethod
    def credentials_available(cls) -> bool:
        """True when the credential variable (:attr:`credential_env`) is set (for
        ``intensity="auto"``)."""
        return config.secret(cls.credential_env) is not None

    @classmethod
    def covers(cls, zone: str | None) -> bool:
        """True when grid ``zone`` maps to one of the service's areas (:attr:`zones`)."""
        return zone is not None and zone.upper() in cls.zones

    @abc.abstractmethod
    def _fetch_mix(self, area: str, lo: float, hi: float, deadline_s: float) -> MixAccumulator:
        """The generation of ``area`` over ``[lo, hi)`` (UTC epoch seconds), fetched by
        ``deadline_s`` (a :func:`time.monotonic` value). Raises :class:`ProviderError`."""

    def _area(self, region: Region, chosen: str | None) -> str:
        """The area to ask for: ``chosen`` (the code the provider was built with), else the
        area of ``region.zone`` in :attr:`zones`. Raises :class:`ProviderError`."""
        if chosen is not None:
            return chosen
        found = self.zones.get((region.zone or "").upper())
        if found is None:
            raise ProviderError(self.not_covered.format(zone=region.zone))
        return found

    def _source(self, zone: str | None, area: str, unknown: set[str]) -> IntensitySource:
        note = f"{self.area_kind} {area}; {self.production_note}"
        if unknown:
            note += f"; {self.code_kind} without a factor left out: {', '.join(sorted(unknown))}"
        return IntensitySource(
            provider=self.name,
            signal=self.signal,
            basis=self.basis,
            zone=zone or area,
            estimated=False,
            note=note,
            dataset=f"{self.dataset}; {FACTORS_DATASET}",
        )

    def _mix_series(
        self,
        region: Region,
        chosen: str | None,
        start: datetime,
        end: datetime,
        deadline_s: float | None,
    ) -> IntensitySeries:
        """Hourly intensity (g/kWh) covering ``[start, end)`` of the area :meth:`_area` picks:
        the history up to now in cached windows of :attr:`window_s`, later hours filled from
        the last one (flagged estimated) within ``max_fill_s``. Raises
        :class:`ProviderError`."""
        area = self._area(region, chosen)
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        deadline = self._deadline(deadline_s)
        unknown: set[str] = set()  # codes without a factor, in the windows fetched now

        def fetch(lo: float, hi: float) -> list[RawStep]:
            mix = self._fetch_mix(area, lo, hi, deadline)
            steps = mix.steps()
            unknown.update(mix.unknown_codes)
            return steps

        key = CacheKey(self.name, area, self.signal, self.basis, "history", self.base_url)
        past_end_s = max(start_s + 1.0, min(end_s, self._now_s()))
        steps = cached_fetch(
            self.cache,
            key,
            hour_windows(start_s, past_end_s, self.window_s),
            fetch,
            offline=config.offline(),
        )
        return steps_to_series(
            steps,
            start_s,
            end_s,
            self._source(region.zone, area, unknown),
            max_fill_s=self.max_fill_s,
        )
