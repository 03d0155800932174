"""Environment and file locations: the only module that reads carbonsdk's environment variables
and the only importer of :mod:`platformdirs`."""

from __future__ import annotations

import os
from pathlib import Path

ENV_REGION = "CARBONSDK_REGION"
ENV_LEDGER = "CARBONSDK_LEDGER"
ENV_OFFLINE = "CARBONSDK_OFFLINE"
ENV_CACHE = "CARBONSDK_CACHE_DIR"
ENV_ELECTRICITYMAPS_API_KEY = "ELECTRICITYMAPS_API_KEY"
ENV_WATTTIME_USERNAME = "WATTTIME_USERNAME"
ENV_WATTTIME_PASSWORD = "WATTTIME_PASSWORD"
ENV_EIA_API_KEY = "EIA_API_KEY"
ENV_ENTSOE_API_TOKEN = "ENTSOE_API_TOKEN"

_TRUE = {"1", "true", "yes", "on"}


def offline() -> bool:
    """True when ``CARBONSDK_OFFLINE`` is set to 1/true/yes/on: no network at all."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def env_region() -> str | None:
    """The ``CARBONSDK_REGION`` override, or None when unset or blank."""
    value = os.environ.get(ENV_REGION, "").strip()
    return value or None


def default_ledger_path() -> Path:
    """``CARBONSDK_LEDGER`` if set, else
    ``platformdirs.user_data_path("carbonsdk") / "ledger.jsonl"``."""
    override = os.environ.get(ENV_LEDGER, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_path("carbonsdk")) / "ledger.jsonl"


def cache_dir() -> Path:
    """Directory for the providers' on-disk cache: ``CARBONSDK_CACHE_DIR`` or the platformdirs
    user cache dir."""
    override = os.environ.get(ENV_CACHE, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_path("carbonsdk"))


def secret(name: str) -> str | None:
    """A credential from the environment (never logged), or None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None
