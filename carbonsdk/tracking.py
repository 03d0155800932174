"""Moved to :mod:`carbonsdk.run` (kept while imports move)."""

from carbonsdk.run import MAX_MARKS, Run, RunOptions, Terminated, measure, tracked, validate_options

__all__ = ["MAX_MARKS", "Run", "RunOptions", "Terminated", "measure", "tracked",
           "validate_options"]
