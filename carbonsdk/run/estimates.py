"""Saying out loud, once per process, when a run's figures are estimates or fallbacks (also with
``report=False``, through :mod:`logging`)."""

from __future__ import annotations

import logging
import threading

from carbonsdk.model.result import RunResult

log = logging.getLogger("carbonsdk")

#: flag -> what the warning says
WARNINGS = {
    "region-unknown": "the region is unknown: emissions use the world-average intensity; pass "
    "region= (e.g. 'aws:us-east-1' or 'DE') or set CARBONSDK_REGION",
    "intensity-fallback": "the intensity provider failed: emissions use a fallback series "
    "(see result.flags)",
    "intensity-estimated": "the grid intensity of this run is an estimate (no measured value "
    "for its time; e.g. the embedded typical year)",
}

_warned: set[str] = set()
_lock = threading.Lock()


def reset() -> None:
    """Forget what was already said (tests)."""
    with _lock:
        _warned.clear()


def warn_estimates(result: RunResult) -> None:
    """Log a WARNING, once per process and kind, when ``result`` has estimated figures or used a
    fallback."""
    notes = [flag for flag in WARNINGS if flag in result.flags]
    if result.estimated_components:
        notes.append("estimated-components")
    for note in notes:
        with _lock:
            if note in _warned:
                continue
            _warned.add(note)
        if note == "estimated-components":
            text = (
                f"the energy of {', '.join(result.estimated_components)} is estimated from a "
                "model (no hardware counter readable)"
            )
        else:
            text = WARNINGS[note]
        log.warning("carbonsdk: %s", text)
