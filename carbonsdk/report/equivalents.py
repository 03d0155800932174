"""Everyday equivalents of an amount of CO2: what a person can picture.

Sources (every figure used here):

- U.S. EPA, *Greenhouse Gas Equivalencies Calculator — Calculations and References*,
  https://www.epa.gov/energy/greenhouse-gases-equivalencies-calculator-calculations-and-references
  (the figures below as that page lists them; its current revision uses IPCC AR5 GWPs):

  * "Number of smartphones charged": **8.22 × 10⁻⁶ metric tons CO2 per smartphone charged**
    (0.012 kWh per charge × 1,562.4 lb CO2/MWh delivered electricity).
  * "Miles driven by the average gasoline-powered passenger vehicle": **3.98 × 10⁻⁴ metric
    tons CO2E per mile**.
  * "Home energy use": **8.30 metric tons CO2 per home per year** (electricity, natural gas,
    fuel oil and LPG of an average U.S. home).

- Kilometres: the EPA per-mile figure divided by the exact length of the international mile,
  1 mile = 1.609344 km (international yard and pound agreement, 1959; NIST Handbook 44,
  Appendix C), i.e. 2.47 × 10⁻⁴ t CO2E per km (247 g/km) for the same average U.S. car. We
  convert the EPA figure rather than mixing in another agency's car fleet, so that miles and
  kilometres always describe the same car.

- "Days of a U.S. home's energy use": the EPA home-year figure divided by 365.25 days.

These are U.S. averages; they are meant to give a sense of scale, not to be added to an
inventory.
"""

from __future__ import annotations

import math

import attrs

from carbonsdk.model.units import G_PER_T

#: t CO2 per smartphone charge (EPA equivalencies, see module docstring).
SMARTPHONE_CHARGE_T = 8.22e-6
#: t CO2E per mile driven by the average U.S. gasoline passenger vehicle (EPA).
MILE_DRIVEN_T = 3.98e-4
#: km per international mile (exact, 1959 international yard and pound agreement).
KM_PER_MILE = 1.609344
#: t CO2E per km driven by the same average U.S. passenger vehicle (EPA figure / km per mile).
KM_DRIVEN_T = MILE_DRIVEN_T / KM_PER_MILE
#: t CO2 per U.S. home per year of energy use (EPA).
HOME_YEAR_T = 8.30
#: t CO2 per U.S. home per day of energy use (EPA home-year figure / 365.25 days).
HOME_DAY_T = HOME_YEAR_T / 365.25

#: Where the figures come from (a link for reports' attribution).
EPA_SOURCE_URL = "https://www.epa.gov/energy/greenhouse-gases-equivalencies-calculator-calculations-and-references"
EPA_SOURCE_LABEL = "U.S. EPA Greenhouse Gas Equivalencies Calculator"


@attrs.frozen
class Equivalent:
    """``quantity`` units of something everyday that emit the same CO2: ``key`` (stable id),
    ``unit`` (human label, plural), ``t_per_unit`` (t CO2 per unit) and ``source`` (citation)."""

    key: str
    unit: str
    quantity: float
    t_per_unit: float
    source: str = EPA_SOURCE_LABEL


def smartphone_charges(emissions_g: float) -> float:
    """Number of smartphone charges emitting ``emissions_g`` grams of CO2."""
    return emissions_g / G_PER_T / SMARTPHONE_CHARGE_T


def km_driven(emissions_g: float) -> float:
    """Kilometres driven by an average U.S. gasoline car emitting ``emissions_g`` grams."""
    return emissions_g / G_PER_T / KM_DRIVEN_T


def miles_driven(emissions_g: float) -> float:
    """Miles driven by an average U.S. gasoline car emitting ``emissions_g`` grams."""
    return emissions_g / G_PER_T / MILE_DRIVEN_T


def home_days(emissions_g: float) -> float:
    """Days of an average U.S. home's energy use emitting ``emissions_g`` grams."""
    return emissions_g / G_PER_T / HOME_DAY_T


def home_years(emissions_g: float) -> float:
    """Years of an average U.S. home's energy use emitting ``emissions_g`` grams."""
    return emissions_g / G_PER_T / HOME_YEAR_T


def equivalents(emissions_g: float) -> tuple[Equivalent, ...]:
    """The everyday equivalents of ``emissions_g`` grams of CO2, in display order: smartphone
    charges, km driven, miles driven, and U.S. home energy use (days below a year, else
    years). Negative or non-finite input counts as 0 g."""
    g = float(emissions_g)
    if not math.isfinite(g) or g < 0:
        g = 0.0
    home = (
        Equivalent("home_years", "years of a U.S. home's energy", home_years(g), HOME_YEAR_T)
        if home_years(g) >= 1.0
        else Equivalent("home_days", "days of a U.S. home's energy", home_days(g), HOME_DAY_T)
    )
    return (
        Equivalent(
            "smartphone_charges", "smartphone charges", smartphone_charges(g), SMARTPHONE_CHARGE_T
        ),
        Equivalent("km_driven", "km by car", km_driven(g), KM_DRIVEN_T),
        Equivalent("miles_driven", "miles by car", miles_driven(g), MILE_DRIVEN_T),
        home,
    )


#: The smallest number an equivalent phrase shows: below it (in the smallest unit) a phrase
#: says nothing a reader can picture ("0.08 seconds of a home's energy") and is left out.
MIN_SHOWN = 0.1
#: The largest count of a one-unit equivalent (smartphone charges) a phrase shows: above it
#: the number is too big to picture and the other, scalable, phrases say it better.
MAX_SHOWN = 1000.0


def _count(value: float) -> str:
    """2 significant digits, thousands separated, no needless decimals."""
    if value >= 100:
        return f"{value:,.0f}"
    if value <= 0:
        return "0"
    decimals = max(0, 1 - math.floor(math.log10(value)))
    return f"{value:.{decimals}f}"


def _distance(g: float) -> str | None:
    km = km_driven(g)
    if km >= 1:
        return f"{_count(km)} km by car ({_count(miles_driven(g))} mi)"
    if km * 1000 >= 1:
        return f"{_count(km * 1000)} m by car"
    if km * 100_000 >= MIN_SHOWN:
        return f"{_count(km * 100_000)} cm by car"
    return None


def _home(g: float) -> str | None:
    days = home_days(g)
    if home_years(g) >= 1:
        amount = f"{_count(home_years(g))} years"
    elif days >= 1:
        amount = f"{_count(days)} days"
    elif days * 24 >= 1:
        amount = f"{_count(days * 24)} hours"
    elif days * 1440 >= 1:
        amount = f"{_count(days * 1440)} minutes"
    elif days * 86400 >= MIN_SHOWN:
        amount = f"{_count(days * 86400)} seconds"
    else:
        return None
    return f"{amount} of a U.S. home's energy use"


def phrases(emissions_g: float) -> tuple[str, ...]:
    """Short human phrases for ``emissions_g`` grams, each in the unit that keeps its number
    readable (the largest unit giving at least 1, so between 0.1 and 1000 except in the
    largest unit): ``"46 smartphone charges"`` (only between :data:`MIN_SHOWN` and
    :data:`MAX_SHOWN`), ``"1.5 km by car (0.96 mi)"`` (or m / cm), ``"24 minutes of a U.S.
    home's energy use"`` (or years / days / hours / seconds). A phrase whose number would be
    below :data:`MIN_SHOWN` even in its smallest unit is left out, so the tuple holds 0 to 3
    phrases (none for zero, negative or non-finite input). Pure unit conversions of the EPA
    figures above."""
    g = float(emissions_g)
    if not math.isfinite(g) or g <= 0:
        return ()
    charges = smartphone_charges(g)
    out = [f"{_count(charges)} smartphone charges"] if MIN_SHOWN <= charges <= MAX_SHOWN else []
    out.extend(p for p in (_distance(g), _home(g)) if p is not None)
    return tuple(out)
