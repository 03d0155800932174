"""The one place a fault inside the SDK is caught while a run is live or ending.

``with guard("checkpoint", flags=run_flags, flag="checkpoint-failed"):`` logs the fault once per
process and name (a warning with the traceback), adds ``flag`` to ``flags``, and goes on: the
user's training never sees it. With ``CARBONSDK_STRICT=1`` it re-raises instead, so the test
suite catches bugs that would otherwise be swallowed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, MutableSequence
from contextlib import contextmanager

log = logging.getLogger("carbonsdk")

#: the environment variable that makes guarded faults re-raise
ENV_STRICT = "CARBONSDK_STRICT"

_logged: set[str] = set()
_lock = threading.Lock()


def strict() -> bool:
    """True when ``CARBONSDK_STRICT`` is 1/true/yes/on (tests)."""
    return os.environ.get(ENV_STRICT, "").strip().lower() in {"1", "true", "yes", "on"}


@contextmanager
def guard(
    name: str,
    *,
    flags: MutableSequence[str] | None = None,
    flag: str | None = None,
    level: int = logging.WARNING,
) -> Iterator[None]:
    """Run the block; on an ``Exception``, log it once per process for ``name`` (at ``level``,
    later ones at DEBUG), append ``flag`` to ``flags`` and carry on, or re-raise in strict
    mode."""
    try:
        yield
    except Exception:
        if strict():
            raise
        with _lock:
            first = name not in _logged
            _logged.add(name)
        log.log(level if first else logging.DEBUG, "carbonsdk: %s failed", name, exc_info=True)
        if flags is not None and flag is not None and flag not in flags:
            flags.append(flag)
