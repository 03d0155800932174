"""The Region value: which cloud region / grid zone a run happened in, and how we know."""

from __future__ import annotations

import attrs

REGION_SOURCES = ("explicit", "env", "aws-imds", "gcp-metadata", "azure-imds", "unknown")


@attrs.frozen
class Region:
    """Where a run ran.

    ``provider``: ``"aws"``, ``"gcp"``, ``"azure"`` or None (a grid zone or country was given);
    ``code``: the provider's region code (``"us-west-2"``) or the zone/country as given;
    ``zone``: the Electricity Maps grid zone id (``"US-NW-PACW"``), None when unknown;
    ``source``: how it was found, one of :data:`REGION_SOURCES`; ``country``: ISO 3166-1
    alpha-2 code where known.
    """

    provider: str | None
    code: str | None
    zone: str | None
    source: str
    country: str | None = None

    @property
    def known(self) -> bool:
        """True when a grid zone is known."""
        return self.zone is not None

    @property
    def label(self) -> str:
        """Short human label: ``"aws:us-west-2 (US-NW-PACW)"``, ``"DE"`` or ``"unknown"``."""
        if self.zone is None:
            return "unknown"
        if self.provider:
            return f"{self.provider}:{self.code} ({self.zone})"
        return self.zone

    @classmethod
    def unknown(cls) -> Region:
        """The honest answer when no region could be determined."""
        return cls(provider=None, code=None, zone=None, source="unknown", country=None)
