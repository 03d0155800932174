"""carbonsdk: measure the energy of your code and the CO2 it emitted where and when it ran."""

from __future__ import annotations

from carbonsdk.exceptions import CarbonSDKError, ConfigurationError

__version__ = "0.1.0.dev0"
__all__ = ["CarbonSDKError", "ConfigurationError", "__version__"]
