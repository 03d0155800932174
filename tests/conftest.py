"""Shared fixtures: every test runs offline, with its own ledger and cache, and never touches
the real cloud metadata services or provider APIs."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pytest_httpserver import HTTPServer

_CLEARED = (
    "CARBONSDK_REGION",
    "ELECTRICITYMAPS_API_KEY",
    "WATTTIME_USERNAME",
    "WATTTIME_PASSWORD",
    "CUDA_VISIBLE_DEVICES",
    "CARBONSDK_JOB_ID",
    "EIA_API_KEY",
    "ENTSOE_API_TOKEN",
)
#: launcher variables: a test run inside torchrun / SLURM / MPI must not look distributed
_LAUNCH_PREFIXES = ("SLURM_", "OMPI_", "PMI_", "PMIX_", "TORCHELASTIC_", "MPI_LOCAL")
_LAUNCH_NAMES = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def require_module(name: str, install: str) -> ModuleType:
    """Import ``name`` for a test that needs an optional engine (torch, transformers, lightning,
    IPython). Missing: the test is skipped on a developer's machine but FAILS in CI (``CI`` set),
    where ``.ci/run`` installs it (``install`` says how)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        message = f"{name} is not installed ({exc}); install it with: {install}"
        if os.environ.get("CI"):
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CARBONSDK_OFFLINE", "1")
    monkeypatch.setenv("CARBONSDK_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("CARBONSDK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    # a fault the SDK's guard would swallow re-raises in tests (a test of graceful degradation
    # that goes through the guard unsets it)
    monkeypatch.setenv("CARBONSDK_STRICT", "1")
    for name in _CLEARED + _LAUNCH_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith(_LAUNCH_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def httpserver() -> Iterator[HTTPServer]:
    """A local HTTP server of this test's own (pytest-httpserver's is shared by the session): a
    request that an earlier test abandoned at its deadline can never land in this test's log."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


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
