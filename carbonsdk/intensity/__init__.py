"""Carbon intensity: series, providers, and the choice of provider for a run."""

from carbonsdk.model.intensity import IntensitySeries, IntensitySource, IntensityStep

__all__ = ["IntensitySeries", "IntensitySource", "IntensityStep"]
