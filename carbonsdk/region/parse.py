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
:class:`ConfigurationError` naming it, the accepted forms and the closest known values (codes,
and countries whose name starts like the value: ``"GER"`` -> ``'DE'``, Germany).

AWS regions outside the commercial partition (GovCloud ``us-gov-*``, the ISO partitions
``us-iso*-*``/``eu-isoe-*``, China ``cn-*``, the European Sovereign Cloud ``eusc-de-*``) that the
packaged table does not list are accepted with the grid zone unknown (logged as a warning): the
code is real, the SDK just cannot map it. Commercial-partition codes must be in the table (a
typo there gets suggestions instead).
"""

from __future__ import annotations

import difflib
import functools
import logging
import re

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.region import REGION_SOURCES, Region
from carbonsdk.region.table import (
    CLOUD_PROVIDERS,
    alpha2_for_alpha3,
    cloud_region,
    cloud_regions,
    country_name,
    country_of_zone,
    known_countries,
    known_zones,
)

log = logging.getLogger(__name__)

#: Any AWS region code, every partition: the union of the ``regionRegex`` values in botocore's
#: ``data/partitions.json`` (``^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$``, ``^cn\-\w+\-\d+$``,
#: ``^eusc\-(de)\-\w+\-\d+$``, ``^us\-gov\-\w+\-\d+$``, ``^us\-iso[bf]?\-\w+\-\d+$``,
#: ``^eu\-isoe\-\w+\-\d+$``), generalised to any 2-4 letter prefix for partitions to come.
AWS_REGION_RE = re.compile(r"^[a-z]{2,4}(?:-[a-z]+)+-\d+$")
#: AWS partitions other than the commercial one (``aws``), from the same file.
_AWS_OTHER_PARTITION_RE = re.compile(r"^(?:cn|eusc-[a-z]+|us-gov|us-iso[a-z]?|eu-isoe)-[a-z]+-\d+$")
#: Codes people write for a country that are not its ISO 3166-1 code: the EU's own
#: abbreviations (EU Interinstitutional Style Guide, section 7.1: ``EL`` Greece, ``UK`` United
#: Kingdom).
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
_warned: set[str] = set()

ACCEPTED_FORMS = (
    "'aws:REGION', 'gcp:REGION' or 'azure:REGION' (e.g. 'aws:us-east-1'), "
    "an Electricity Maps grid zone id (e.g. 'US-CAL-CISO', 'DE') "
    "or an ISO 3166 country code (e.g. 'FR'); `carbonsdk regions` lists the cloud regions"
)


@functools.cache
def _candidates() -> tuple[str, ...]:
    keys = [r.key for r in cloud_regions()]
    # a code that is both a zone and a country appears once
    return tuple(dict.fromkeys((*keys, *sorted(known_zones()), *sorted(known_countries()))))


def _country_matches(text: str) -> list[str]:
    """ISO alpha-2 codes of countries named like ``text``: an alias (``UK`` -> ``GB``), a name
    that starts with it (3 letters or more: ``GER`` -> ``DE``, Germany) or a name close to it
    (``Germny``)."""
    upper = text.strip().upper()
    if upper in _COUNTRY_ALIASES:
        return [_COUNTRY_ALIASES[upper]]
    low = text.strip().lower()
    if len(low) < 3 or not all(c.isalpha() or c == " " for c in low):
        return []
    names = {iso2: (country_name(iso2) or "").lower() for iso2 in sorted(known_countries())}
    starts = [iso2 for iso2, name in names.items() if name.startswith(low)]
    if starts:
        return starts
    close = difflib.get_close_matches(low, list(names.values()), n=3, cutoff=0.8)
    return [iso2 for name in close for iso2, n in names.items() if n == name]


def _suggest(text: str, pool: tuple[str, ...] | None = None) -> list[str]:
    """Up to three known values closest to ``text``, without duplicates: for a bare value
    that names a country (``GER`` -> ``DE``, see :func:`_country_matches`) those countries,
    else codes with a difflib ratio >= 0.75 (ties in alphabetical order)."""
    found: list[str] = [] if pool is not None else _country_matches(text)
    if found:
        return list(dict.fromkeys(found))[:3]
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
    found += [candidate for _, candidate in sorted(scored)]
    return list(dict.fromkeys(found))[:3]


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
        if entry is None and provider == "aws" and _AWS_OTHER_PARTITION_RE.match(code):
            if code not in _warned:
                _warned.add(code)
                log.warning(
                    "carbonsdk: aws region %s is not in the packaged region table: its grid "
                    "zone is unknown (pass a grid zone such as region='DE' to set it)",
                    code,
                )
            return Region(provider="aws", code=code, zone=None, source=source, country=None)
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
