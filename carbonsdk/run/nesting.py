"""Runs inside runs: the innermost open run of a thread or task, and what a nested run inherits.

A run started inside another (same thread or asyncio task, same process) inherits its region
(or its region detection still in flight), intensity and PUE unless given explicitly, links to
it (``parent_run_id``) and prints no report of its own unless ``report=True`` was passed.
"""

from __future__ import annotations

import contextvars
import os
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from carbonsdk.region.lookup import RegionLookup
    from carbonsdk.run.run import Run

#: the innermost open run of this thread / task (a new run started inside it is nested)
_current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "carbonsdk_current_run", default=None
)


def enter(run: Run) -> tuple[contextvars.Token[Run | None], RegionLookup | None]:
    """Make ``run`` the current run, adopting the enclosing one (see :func:`adopt_parent`);
    returns the token for :func:`leave` and the enclosing run's region detection to share."""
    inherited = adopt_parent(run, _current_run.get())
    return _current_run.set(run), inherited


def leave(run: Run, token: contextvars.Token[Run | None] | None) -> None:
    """The enclosing run is current again (also when ``run`` exits in another context, e.g.
    a generator resumed elsewhere)."""
    if token is None:
        return
    try:
        _current_run.reset(token)
    except ValueError:  # exited in another context
        if _current_run.get() is run:
            _current_run.set(run.parent)


def adopt_parent(run: Run, parent: Run | None) -> RegionLookup | None:
    """Link ``run`` to ``parent`` when that is open in this process, inheriting its region,
    intensity and PUE where not explicit, and no report unless ``report=True``. Returns the
    parent's region detection when the child shares it (the region is then not yet known)."""
    if parent is None or not parent.running or parent.pid != os.getpid():
        return None
    run.parent = parent
    opts = run.options
    changes: dict[str, Any] = {}
    inherited: RegionLookup | None = None
    if "region" not in opts.explicit:
        if parent.resolver.fixed is not None:
            changes["region"] = parent.resolver.fixed
        else:
            inherited = parent.resolver.lookup
    if "intensity" not in opts.explicit:
        changes["intensity"] = parent.options.intensity
        changes["intensity_option"] = parent.options.intensity_option
    if "pue" not in opts.explicit:
        changes["pue"] = parent.options.pue
    if changes:
        run.options = attrs.evolve(opts, **changes)
    if opts.report is None:
        run.report_enabled = False
    return inherited
