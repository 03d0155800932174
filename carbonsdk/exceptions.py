"""The SDK's exceptions: one leaf module, imported by everything, importing nothing of ours."""

from __future__ import annotations


class CarbonSDKError(Exception):
    """Base class of every error carbonsdk raises on purpose."""


class ConfigurationError(CarbonSDKError, ValueError):
    """Bad user input at the call (an option, a region, a file): the message names the value
    and what is accepted."""


class SensorError(CarbonSDKError):
    """A sensor could not be read (NVML, RAPL, psutil). Raised inside the SDK only: the sampler
    degrades the device and never lets it reach user code."""


class ProviderError(CarbonSDKError):
    """A carbon-intensity provider failed (network, HTTP status, bad payload, no data). Caught by
    the caller, which falls back to embedded data and flags the result. Messages never contain
    credentials."""


class DataRangeError(CarbonSDKError, ValueError):
    """A requested time range lies outside the data available (the message says how far the
    data goes)."""


class LedgerError(CarbonSDKError):
    """The ledger file could not be read or written (a reader error for a missing file, for
    example). Writes inside a measured run never raise it into user code."""
