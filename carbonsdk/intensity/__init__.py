"""Carbon intensity: series, providers, and the choice of provider for a run."""

from carbonsdk.intensity.series import IntensitySeries, IntensitySource, IntensityStep

__all__ = ["IntensitySeries", "IntensitySource", "IntensityStep"]
