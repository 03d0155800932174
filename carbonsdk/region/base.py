"""Moved to :mod:`carbonsdk.model.region` (kept while imports move)."""

from carbonsdk.model.region import REGION_SOURCES, Region

__all__ = ["REGION_SOURCES", "Region"]
