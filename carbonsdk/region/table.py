"""The packaged cloud-region table: every public AWS, GCP and Azure region mapped to its city,
country and Electricity Maps grid zone, plus the grid zone ids and country codes carbonsdk knows.

Read from ``carbonsdk/data/regions.json`` (built by ``tools/build_dataset.py`` from
``shared/data/cloud_regions.csv``; provenance per row in :attr:`CloudRegion.source`, attribution
in DATA_LICENSES.md). Standard library only; loaded once, on first use.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs

CLOUD_PROVIDERS = ("aws", "gcp", "azure")


@attrs.frozen
class CloudRegion:
    """One cloud region.

    ``provider``: ``"aws"``, ``"gcp"`` or ``"azure"``; ``code``: the provider's region code
    (``"us-east-1"``); ``display_name``: the provider's name for it; ``city``: the most specific
    public location (may be a state or country, empty when unpublished); ``country``: ISO 3166-1
    alpha-2; ``zone``: Electricity Maps grid zone id; ``source``: ``;``-separated provenance
    tokens (which public files establish the region, its location and its zone);
    ``zone_source``: where the zone assignment comes from, in words (for the few regions whose
    zone was changed after review, e.g. ``aws:us-west-2`` -> ``US-NW-BPAT``, the reason and its
    sources).
    """

    provider: str
    code: str
    display_name: str
    city: str
    country: str
    zone: str
    source: str
    zone_source: str = ""

    @property
    def key(self) -> str:
        """``"provider:code"``, the form :func:`carbonsdk.region.parse_region` accepts."""
        return f"{self.provider}:{self.code}"

    @property
    def location(self) -> str:
        """Human-readable location: ``"Ashburn, US"`` (or the display name when no city)."""
        place = self.city or self.display_name
        return f"{place}, {self.country}" if self.country else place


@functools.cache
def _document() -> Mapping[str, Any]:
    ref = resources.files("carbonsdk").joinpath("data/regions.json")
    with ref.open("rb") as fh:
        doc: Mapping[str, Any] = json.load(fh)
    return doc


@functools.cache
def cloud_regions() -> tuple[CloudRegion, ...]:
    """Every packaged cloud region, ordered by provider (aws, gcp, azure) then code."""
    return tuple(CloudRegion(**row) for row in _document()["cloud_regions"])


@functools.cache
def _by_key() -> Mapping[tuple[str, str], CloudRegion]:
    return {(r.provider, r.code): r for r in cloud_regions()}


def cloud_region(provider: str, code: str) -> CloudRegion | None:
    """The region ``code`` of ``provider`` (exact, lower-case codes), or None if not packaged."""
    return _by_key().get((provider, code))


def regions_in_zone(zone: str) -> tuple[CloudRegion, ...]:
    """Every cloud region mapped to grid ``zone``."""
    return tuple(r for r in cloud_regions() if r.zone == zone)


@functools.cache
def known_zones() -> frozenset[str]:
    """Grid zone ids carbonsdk accepts: Electricity Maps' zone keys, plus every zone in the
    embedded data and the region table (upper case, e.g. ``"US-CAL-CISO"``)."""
    return frozenset(_document()["zones"])


@functools.cache
def _countries() -> Mapping[str, Mapping[str, str]]:
    countries: Mapping[str, Mapping[str, str]] = _document()["countries"]
    return countries


def known_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes with an annual intensity in the embedded data."""
    return frozenset(_countries())


def country_name(iso2: str) -> str | None:
    """The country's name (as Ember spells it), or None if unknown."""
    entry = _countries().get(iso2.upper())
    return None if entry is None else entry["name"]


@functools.cache
def _alpha3() -> Mapping[str, str]:
    return {entry["iso3"]: iso2 for iso2, entry in _countries().items()}


def alpha2_for_alpha3(iso3: str) -> str | None:
    """ISO alpha-2 for an alpha-3 code (``"FRA"`` -> ``"FR"``), or None if unknown."""
    return _alpha3().get(iso3.upper())


def country_of_zone(zone: str) -> str | None:
    """ISO alpha-2 country of a grid zone id: its prefix (``"US-CAL-CISO"`` -> ``"US"``) when
    that is a known country, else None (``"XX"``, Northern Cyprus, has no ISO code)."""
    prefix = zone.upper().split("-", 1)[0]
    return prefix if prefix in _countries() else None
