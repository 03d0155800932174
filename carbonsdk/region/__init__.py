"""Regions: parse user input, detect the cloud region, map it to a grid zone.

:func:`resolve_region` is the one entry point the rest of the SDK uses: an explicit region wins,
then ``CARBONSDK_REGION``, then cloud instance metadata (skipped when offline), else the honest
:meth:`Region.unknown`. Nothing is ever guessed.
"""

from __future__ import annotations

from carbonsdk import config
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.region import REGION_SOURCES, Region
from carbonsdk.region.detect import clear_detection_cache, detect_cloud_region
from carbonsdk.region.parse import parse_region
from carbonsdk.region.table import CLOUD_PROVIDERS, CloudRegion, cloud_regions

__all__ = [
    "CLOUD_PROVIDERS",
    "REGION_SOURCES",
    "CloudRegion",
    "Region",
    "clear_detection_cache",
    "cloud_regions",
    "detect_cloud_region",
    "parse_region",
    "resolve_region",
]


def resolve_region(
    option: str | Region | None, *, offline: bool | None = None, timeout_s: float = 1.0
) -> Region:
    """The region a run happens in.

    ``option``: a :class:`Region` is returned as is; a string is parsed with
    :func:`parse_region` (source ``"explicit"``); None looks at ``CARBONSDK_REGION`` (source
    ``"env"``; a bad value raises :class:`ConfigurationError` naming the variable), then at
    cloud instance metadata within ``timeout_s`` seconds unless ``offline`` (None means
    ``CARBONSDK_OFFLINE``), and otherwise returns :meth:`Region.unknown`.
    """
    if isinstance(option, Region):
        return option
    if isinstance(option, str):
        return parse_region(option, source="explicit")
    if option is not None:
        raise ConfigurationError(
            f"region {option!r} is invalid: expected a string such as 'aws:us-east-1', "
            "a carbonsdk Region, or None to detect it"
        )
    env_value = config.env_region()
    if env_value is not None:
        try:
            return parse_region(env_value, source="env")
        except ConfigurationError as exc:
            raise ConfigurationError(f"{config.ENV_REGION}={env_value!r}: {exc}") from None
    if offline is None:
        offline = config.offline()
    if not offline:
        detected = detect_cloud_region(timeout_s=timeout_s, offline=False)
        if detected is not None:
            return detected
    return Region.unknown()
