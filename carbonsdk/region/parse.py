"""Turn the user's region text into a :class:`Region`.

Accepted forms (SPEC §1), all case-insensitive:

* ``"aws:us-east-1"``, ``"gcp:europe-west4"``, ``"azure:westus2"``: a cloud region from the
  packaged table (:mod:`carbonsdk.region.table`); its grid zone and country come from the table.
  Azure codes may also be written as display names (``"azure:West US 2"``).
* A grid zone id, Electricity Maps' key (``"US-CAL-CISO"``, ``"DE"``, ``"DK-DK2"``).
* An ISO 3166-1 country code, alpha-2 (``"FR"``) or alpha-3 (``"FRA"``).

Countries: Electricity Maps has a country-level zone with the country's own code for most
countries (``"FR"``, ``"DE"``, ``"US"``), so a country code *is* that zone id. For a country
that is split into several zones (US, AU, JP, ...) the country code means the whole country:
the embedded provider then uses the country's annual average (Ember), flagged estimated, unless
a zone with that exact id has hourly data. Nothing is ever guessed: an unknown value raises
:class:`ConfigurationError` naming it, the accepted forms and the closest known values.
"""

from __future__ import annotations

import difflib
import functools

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.region.base import REGION_SOURCES, Region
from carbonsdk.region.table import (
    CLOUD_PROVIDERS,
    alpha2_for_alpha3,
    cloud_region,
    cloud_regions,
    country_of_zone,
    known_countries,
    known_zones,
)

ACCEPTED_FORMS = (
    "'aws:REGION', 'gcp:REGION' or 'azure:REGION' (e.g. 'aws:us-east-1'), "
    "an Electricity Maps grid zone id (e.g. 'US-CAL-CISO', 'DE') "
    "or an ISO 3166 country code (e.g. 'FR'); `carbonsdk regions` lists the cloud regions"
)


@functools.cache
def _candidates() -> tuple[str, ...]:
    keys = [r.key for r in cloud_regions()]
    return (*keys, *sorted(known_zones()), *sorted(known_countries()))


def _suggest(text: str, pool: tuple[str, ...] | None = None) -> list[str]:
    """Up to three known values closest to ``text`` (difflib ratio >= 0.75, ties in
    alphabetical order)."""
    pool = _candidates() if pool is None else pool
    target = text.lower()
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(target)
    scored = []
    for candidate in pool:
        matcher.set_seq1(candidate.lower())
        if matcher.real_quick_ratio() >= 0.75 and matcher.quick_ratio() >= 0.75:
            ratio = matcher.ratio()
            if ratio >= 0.75:
                scored.append((-ratio, candidate))
    return [candidate for _, candidate in sorted(scored)[:3]]


def _error(text: str, reason: str, suggestions: list[str]) -> ConfigurationError:
    hint = ""
    if suggestions:
        quoted = [f"'{s}'" for s in suggestions]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        hint = f"; did you mean {listed}?"
    return ConfigurationError(f"{reason} {text!r}: expected {ACCEPTED_FORMS}{hint}")


def _normalise_code(provider: str, code: str) -> str:
    code = code.strip().lower()
    if provider == "azure":
        code = code.replace(" ", "")
    return code


def parse_region(text: str, *, source: str = "explicit") -> Region:
    """Parse a region string into a :class:`Region` (``source`` records how it was given:
    one of :data:`REGION_SOURCES`).

    Raises :class:`ConfigurationError` for anything not in the accepted forms, with close
    matches (``"aws:us-est-1"`` -> did you mean ``'aws:us-east-1'``?).
    """
    if source not in REGION_SOURCES:
        raise ConfigurationError(
            f"region source {source!r} is invalid: expected one of {', '.join(REGION_SOURCES)}"
        )
    if not isinstance(text, str):
        raise ConfigurationError(
            f"region {text!r} is invalid: expected a string, a carbonsdk Region or None"
        )
    value = text.strip()
    if not value:
        raise ConfigurationError(f"region {text!r} is empty: expected {ACCEPTED_FORMS}")

    if ":" in value:
        prefix, _, rest = value.partition(":")
        provider = prefix.strip().lower()
        if provider not in CLOUD_PROVIDERS:
            # maybe a known region with the wrong prefix ("google:us-central1")
            code = rest.strip().lower()
            same_code = [r.key for r in cloud_regions() if r.code == code.replace(" ", "")]
            raise _error(
                value,
                f"unknown cloud provider {prefix.strip()!r} in region",
                same_code or _suggest(value),
            )
        code = _normalise_code(provider, rest)
        entry = cloud_region(provider, code)
        if entry is None:
            pool = tuple(r.key for r in cloud_regions())
            raise _error(value, f"unknown {provider} region", _suggest(f"{provider}:{code}", pool))
        return Region(
            provider=provider,
            code=entry.code,
            zone=entry.zone,
            source=source,
            country=entry.country,
        )

    upper = value.upper()
    if upper in known_zones():
        return Region(
            provider=None, code=upper, zone=upper, source=source, country=country_of_zone(upper)
        )
    if upper in known_countries():
        # a country without a zone of its own (e.g. "CL"): the country code stands for the
        # whole country, served by its annual average
        return Region(provider=None, code=upper, zone=upper, source=source, country=upper)
    if len(upper) == 3 and upper.isalpha():
        iso2 = alpha2_for_alpha3(upper)
        if iso2 is not None:
            return Region(provider=None, code=upper, zone=iso2, source=source, country=iso2)
    # a bare cloud region code ("us-east-1"): never guess the provider, but say which it is
    lowered = value.lower().replace(" ", "")
    bare = [r.key for r in cloud_regions() if r.code == lowered]
    raise _error(value, "unknown region", bare or _suggest(value))
