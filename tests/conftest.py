"""Shared fixtures: every test runs offline, with its own ledger and cache, and never touches
the real cloud metadata services or provider APIs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_CLEARED = (
    "CARBONSDK_REGION",
    "ELECTRICITYMAPS_API_KEY",
    "WATTTIME_USERNAME",
    "WATTTIME_PASSWORD",
    "CUDA_VISIBLE_DEVICES",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "1")
    monkeypatch.setenv("CARBONSDK_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("CARBONSDK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def repo_root() -> Path:
    """The repository root (for subprocess tests)."""
    return Path(__file__).resolve().parents[1]


@pytest.fixture
def subprocess_env(repo_root: Path) -> dict[str, str]:
    """Environment for child Python processes: the package importable, offline, no colour."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo_root) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env
