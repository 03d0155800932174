"""Moved to :mod:`carbonsdk.model.intensity` (kept while imports move)."""

from carbonsdk.model.intensity import (
    BASES,
    SIGNALS,
    IntensitySeries,
    IntensitySource,
    IntensityStep,
)

__all__ = ["BASES", "SIGNALS", "IntensitySeries", "IntensitySource", "IntensityStep"]
