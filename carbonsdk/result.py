"""Moved to :mod:`carbonsdk.model.result` (kept while imports move)."""

from carbonsdk.model.result import (
    STATUSES,
    DeviceResult,
    JobInfo,
    JobResult,
    Mark,
    NodeResult,
    PauseEvent,
    RunResult,
    TimelineInterval,
)

__all__ = ["STATUSES", "DeviceResult", "JobInfo", "JobResult", "Mark", "NodeResult",
           "PauseEvent", "RunResult", "TimelineInterval"]
