"""Life-cycle emission factors per generation technology, and the derivation of hourly carbon
intensity from a generation mix (used by the EIA and ENTSO-E providers).

Factors (gCO2eq per kWh generated, life-cycle: construction, fuel supply, operation,
decommissioning), :data:`LIFECYCLE_G_PER_KWH`:

======================  =====  =============================================================
category                g/kWh  source
======================  =====  =============================================================
``coal``                820    IPCC AR5 WG3 Annex III, Table A.III.2, coal (pulverised), median
``gas``                 490    same table, gas (combined cycle), median
``oil``                 650    UK POST (2006), *Carbon footprint of electricity generation*
                               (POSTnote 268); AR5 Table A.III.2 has no oil row. Electricity
                               Maps' default life-cycle factor for oil uses the same figure.
``biomass``             230    AR5 Table A.III.2, biomass (dedicated), median
``geothermal``          38     AR5 Table A.III.2, geothermal, median
``hydro``               24     AR5 Table A.III.2, hydropower, median
``nuclear``             12     AR5 Table A.III.2, nuclear, median
``solar``               48     AR5 Table A.III.2, solar PV (utility), median (rooftop PV: 41)
``wind``                11     AR5 Table A.III.2, wind onshore, median
``wind_offshore``       12     AR5 Table A.III.2, wind offshore, median
``unknown``             700    Electricity Maps' default for unknown/other generation
                               ("assume conventional": thermal), electricitymaps-contrib
                               ``config/defaults.yaml``
======================  =====  =============================================================

AR5 citation: Schlömer S. et al., 2014: Annex III: Technology-specific cost and performance
parameters. In: *Climate Change 2014: Mitigation of Climate Change. Contribution of Working
Group III to the Fifth Assessment Report of the IPCC*, Cambridge University Press.

Storage (pumped hydro, batteries) is excluded from both the numerator and the denominator: the
energy it releases was generated earlier by the rest of the mix, which is already counted when
it was generated, and its charging is consumption, not generation.

The derived intensity is **production-based**: it describes the electricity generated inside
the area and ignores imports and exports (unlike Electricity Maps' flow-traced,
consumption-based values).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from carbonsdk.intensity.cache import HOUR_S, RawStep

#: gCO2eq/kWh per generation category (life-cycle); sources in the module docstring.
LIFECYCLE_G_PER_KWH: dict[str, float] = {
    "coal": 820.0,
    "gas": 490.0,
    "oil": 650.0,
    "biomass": 230.0,
    "geothermal": 38.0,
    "hydro": 24.0,
    "nuclear": 12.0,
    "solar": 48.0,
    "wind": 11.0,
    "wind_offshore": 12.0,
    "unknown": 700.0,
}
#: The category of storage, left out of the derivation (see the module docstring).
STORAGE = "storage"
#: Where each factor comes from (one line each, for reports and notes).
FACTOR_SOURCES: dict[str, str] = {
    "coal": "IPCC AR5 WG3 Annex III Table A.III.2, coal PC median",
    "gas": "IPCC AR5 WG3 Annex III Table A.III.2, gas combined cycle median",
    "oil": "UK POST 2006 POSTnote 268 (AR5 has no oil row)",
    "biomass": "IPCC AR5 WG3 Annex III Table A.III.2, biomass dedicated median",
    "geothermal": "IPCC AR5 WG3 Annex III Table A.III.2, geothermal median",
    "hydro": "IPCC AR5 WG3 Annex III Table A.III.2, hydropower median",
    "nuclear": "IPCC AR5 WG3 Annex III Table A.III.2, nuclear median",
    "solar": "IPCC AR5 WG3 Annex III Table A.III.2, solar PV utility median",
    "wind": "IPCC AR5 WG3 Annex III Table A.III.2, wind onshore median",
    "wind_offshore": "IPCC AR5 WG3 Annex III Table A.III.2, wind offshore median",
    "unknown": "Electricity Maps default for unknown generation (thermal assumption)",
}
FACTORS_DATASET = (
    "life-cycle factors: IPCC AR5 WG3 Annex III Table A.III.2 medians (oil: UK POST 2006; "
    "unknown: Electricity Maps default 700 g/kWh)"
)
#: Share of an hour's expected generation (MWh) that may be missing before the hour is
#: flagged estimated (a fuel type not yet reported, or a part of the hour without data).
MISSING_SHARE_LIMIT = 0.01


def intensity_from_mix(
    generation_mwh: Mapping[str, float],
    factors_g_per_kwh: Mapping[str, float] = LIFECYCLE_G_PER_KWH,
) -> float | None:
    """The generation-weighted mean factor, g/kWh: ``sum(gen_i * f_i) / sum(gen_i)`` over the
    categories of ``generation_mwh`` (MWh or any energy unit, per category). Storage and
    categories without a factor are left out; negative values (net consumption) count as
    zero. None when nothing was generated."""
    weighted = 0.0
    total = 0.0
    for category, energy in generation_mwh.items():
        factor = factors_g_per_kwh.get(category)
        if factor is None or category == STORAGE or not math.isfinite(energy) or energy <= 0:
            continue
        weighted += energy * factor
        total += energy
    if total <= 0.0:
        return None
    return weighted / total


class MixAccumulator:
    """Generation reported per source code, gathered into UTC hours, then turned into hourly
    intensity steps.

    :meth:`add` takes one reported value: the hour it falls in (epoch seconds of the hour's
    start), the provider's source code (``"NG"``, ``"B04"``), the energy in MWh and the number
    of seconds of the hour it covers. ``category_of`` maps a source code to a category of
    :data:`LIFECYCLE_G_PER_KWH`, :data:`STORAGE`, or None for a code it does not know (left
    out, and listed in :attr:`unknown_codes`).
    """

    def __init__(self, category_of: Callable[[str], str | None]) -> None:
        self._category_of = category_of
        #: hour start (s) -> code -> [energy_mwh, covered_s]
        self._hours: dict[float, dict[str, list[float]]] = {}
        self.unknown_codes: set[str] = set()

    def add(self, hour_start_s: float, code: str, energy_mwh: float, covered_s: float) -> None:
        """Add ``energy_mwh`` generated by ``code`` over ``covered_s`` seconds of the hour
        starting at ``hour_start_s``."""
        category = self._category_of(code)
        if category is None:
            self.unknown_codes.add(code)
            return
        if category == STORAGE:
            return
        slot = self._hours.setdefault(hour_start_s, {}).setdefault(code, [0.0, 0.0])
        slot[0] += energy_mwh
        slot[1] += covered_s

    def steps(self) -> list[RawStep]:
        """One ``(start_s, end_s, g_per_kwh, estimated)`` step per hour with generation.

        Each code's mean power over the part of the hour it covers stands for the whole hour;
        an hour is flagged estimated when the codes it lacks (or the parts of the hour they
        lack) would have carried more than :data:`MISSING_SHARE_LIMIT` of its generation,
        judged from each code's mean over the hours that have it."""
        typical: dict[str, float] = {}
        counts: dict[str, int] = {}
        for codes in self._hours.values():
            for code, (energy, covered) in codes.items():
                if covered > 0:
                    mean_mw = max(0.0, energy * HOUR_S / covered)
                    typical[code] = typical.get(code, 0.0) + mean_mw
                    counts[code] = counts.get(code, 0) + 1
        for code in typical:
            typical[code] /= counts[code]
        expected_total = sum(typical.values())
        out: list[RawStep] = []
        for hour in sorted(self._hours):
            codes = self._hours[hour]
            by_category: dict[str, float] = {}
            for code, (energy, covered) in codes.items():
                if covered <= 0:
                    continue
                category = self._category_of(code)
                assert category is not None
                mean_mw = energy * HOUR_S / covered
                by_category[category] = by_category.get(category, 0.0) + mean_mw
            value = intensity_from_mix(by_category)
            if value is None:
                continue
            missing = 0.0
            for code, mean_mw in typical.items():
                covered = codes[code][1] if code in codes else 0.0
                missing += mean_mw * max(0.0, 1.0 - covered / HOUR_S)
            estimated = expected_total > 0 and missing / expected_total > MISSING_SHARE_LIMIT
            out.append((hour, hour + HOUR_S, value, estimated))
        return out
