"""Regions: parse user input, detect the cloud region, map it to a grid zone."""

from carbonsdk.region.base import REGION_SOURCES, Region

__all__ = ["REGION_SOURCES", "Region"]
