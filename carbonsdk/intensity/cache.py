"""On-disk cache of carbon intensity fetched from live providers (the providers' shared
plumbing, which uses it, is in :mod:`carbonsdk.intensity.live`).

Each cache entry holds the steps one provider returned for one zone, signal, emission-factor
basis and kind (``"history"`` or ``"forecast"``) over an hour-aligned window ``[start, end)``.
Entries are JSON files written atomically (a temporary file, then :func:`os.replace`), so a
reader never sees half a file; a file that cannot be parsed is ignored. Freshness:

- data that was already ``settled_after_s`` (3 days) old when fetched never expires (the
  providers' history is final by then);
- recent history expires ``recent_ttl_s`` (15 min) after it was fetched, forecasts after
  ``forecast_ttl_s`` (30 min): providers revise estimates of the last hours and re-issue
  forecasts continually.

The cache stores values and timestamps only: never credentials, tokens, URLs or headers.
Every fault (unwritable directory, full disk, corrupted file) degrades to a cache miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from carbonsdk.exceptions import ConfigurationError

_log = logging.getLogger(__name__)

#: One fetched step: ``(start_s, end_s, g_per_kwh, estimated)``, UTC epoch seconds.
RawStep = tuple[float, float, float, bool]

HOUR_S = 3600.0
SCHEMA = 1
KINDS = ("history", "forecast")
#: Data this old (seconds) when fetched is final and never expires.
SETTLED_AFTER_S = 3 * 86400.0
#: Lifetime (seconds) of recent history: providers revise the last hours' estimates.
RECENT_TTL_S = 15 * 60.0
#: Lifetime (seconds) of a forecast: they are re-issued at least every half hour.
FORECAST_TTL_S = 30 * 60.0


@attrs.frozen
class CacheKey:
    """What a cache entry holds: ``provider`` name, grid ``zone`` (or the provider's own region
    id), ``signal`` (average/marginal), ``basis`` (lifecycle/direct), ``kind`` (``"history"``
    or ``"forecast"``) and ``endpoint``: where the data came from (the provider's base URL and
    API version), so two providers of the same name pointed at different services never share
    entries. Only a hash of ``endpoint`` is written to disk, never the URL itself."""

    provider: str
    zone: str
    signal: str
    basis: str
    kind: str = "history"
    endpoint: str = ""

    @property
    def endpoint_id(self) -> str:
        """A short hash of :attr:`endpoint` ("" when there is none)."""
        if not self.endpoint:
            return ""
        return hashlib.sha256(self.endpoint.encode("utf-8")).hexdigest()[:16]

    def __attrs_post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigurationError(f"cache kind {self.kind!r} is invalid: expected {KINDS}")


def _slug(text: str) -> str:
    """A file-name-safe, collision-free version of ``text``."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", text) or "_"
    if safe != text:
        safe += "-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return safe


class IntensityCache:
    """Fetched intensity steps on disk, under ``directory`` (default
    :func:`carbonsdk.config.cache_dir`), one JSON file per key and hour-aligned window.

    ``now_s`` returns UTC epoch seconds (injectable for tests); the TTLs are in seconds.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        recent_ttl_s: float = RECENT_TTL_S,
        forecast_ttl_s: float = FORECAST_TTL_S,
        settled_after_s: float = SETTLED_AFTER_S,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        if directory is None:
            from carbonsdk.config import cache_dir

            directory = cache_dir()
        self.directory = Path(directory)
        self.recent_ttl_s = float(recent_ttl_s)
        self.forecast_ttl_s = float(forecast_ttl_s)
        self.settled_after_s = float(settled_after_s)
        self._now_s = now_s

    def __repr__(self) -> str:
        return f"IntensityCache(directory={str(self.directory)!r})"

    def _dir(self, key: CacheKey) -> Path:
        provider = _slug(key.provider)
        if key.endpoint:
            provider += "@" + key.endpoint_id
        return self.directory / provider / _slug(key.zone)

    @staticmethod
    def _prefix(key: CacheKey) -> str:
        return f"{key.kind}_{_slug(key.signal)}_{_slug(key.basis)}_"

    def path_for(self, key: CacheKey, start_s: float, end_s: float) -> Path:
        """The file holding ``key`` over the window ``[start_s, end_s)`` (epoch seconds)."""
        return self._dir(key) / f"{self._prefix(key)}{int(start_s)}_{int(end_s)}.json"

    def _fresh(self, kind: str, window_end_s: float, fetched_at_s: float, now_s: float) -> bool:
        if kind == "history" and fetched_at_s - window_end_s >= self.settled_after_s:
            return True
        ttl_s = self.forecast_ttl_s if kind == "forecast" else self.recent_ttl_s
        return 0.0 <= now_s - fetched_at_s < ttl_s

    def get(self, key: CacheKey, start_s: float, end_s: float) -> list[RawStep] | None:
        """The cached steps of a fresh entry whose window covers ``[start_s, end_s)``, or None.
        Unreadable or corrupted files are ignored."""
        directory = self._dir(key)
        prefix = self._prefix(key)
        try:
            names = os.listdir(directory)
        except OSError:
            return None
        candidates: list[tuple[float, float, str]] = []
        for name in names:
            if not (name.startswith(prefix) and name.endswith(".json")):
                continue
            parts = name[len(prefix) : -len(".json")].split("_")
            if len(parts) != 2:
                continue
            try:
                lo, hi = float(parts[0]), float(parts[1])
            except ValueError:
                continue
            if lo <= start_s and end_s <= hi:
                candidates.append((hi - lo, -hi, name))
        now_s = self._now_s()
        for _, _, name in sorted(candidates):
            entry = self._load(directory / name, key)
            if entry is None:
                continue
            lo, hi, fetched_at_s, steps = entry
            if self._fresh(key.kind, hi, fetched_at_s, now_s):
                return steps
        return None

    def _load(self, path: Path, key: CacheKey) -> tuple[float, float, float, list[RawStep]] | None:
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
                raise ValueError("unknown schema")
            for field in ("provider", "zone", "signal", "basis", "kind", "endpoint_id"):
                if doc.get(field, "") != getattr(key, field):
                    raise ValueError(f"{field} mismatch")
            lo, hi = float(doc["start_s"]), float(doc["end_s"])
            fetched_at_s = float(doc["fetched_at_s"])
            steps: list[RawStep] = []
            for item in doc["steps"]:
                s, e, v, est = item
                if not isinstance(est, bool):
                    raise ValueError("bad estimated flag")
                steps.append((float(s), float(e), float(v), est))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            _log.debug("ignoring unreadable cache file %s (%s)", path.name, type(exc).__name__)
            return None
        return lo, hi, fetched_at_s, steps

    def put(self, key: CacheKey, start_s: float, end_s: float, steps: Iterable[RawStep]) -> None:
        """Store ``steps`` fetched for ``key`` over ``[start_s, end_s)``; an empty fetch is not
        stored. Never raises: a write failure only means a later cache miss."""
        items = [[float(s), float(e), float(v), bool(est)] for s, e, v, est in steps]
        if not items:
            return
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "provider": key.provider,
            "zone": key.zone,
            "signal": key.signal,
            "basis": key.basis,
            "kind": key.kind,
            "endpoint_id": key.endpoint_id,
            "start_s": float(start_s),
            "end_s": float(end_s),
            "fetched_at_s": self._now_s(),
            "steps": items,
        }
        path = self.path_for(key, start_s, end_s)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, separators=(",", ":"))
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            _log.debug("intensity cache not written (%s)", type(exc).__name__)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
