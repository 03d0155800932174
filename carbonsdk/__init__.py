"""carbonsdk: measure the energy of your code and the CO2 it emitted where and when it ran.

``with carbonsdk.measure("name") as run: ...`` or ``@carbonsdk.tracked``; results are
:class:`RunResult` objects, kept in a JSONL :class:`Ledger`. Heavy modules (numpy, requests,
rich, pynvml) are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbonsdk._version import __version__
from carbonsdk.exceptions import (
    CarbonSDKError,
    ConfigurationError,
    DataRangeError,
    LedgerError,
    ProviderError,
)
from carbonsdk.run import Run, measure, tracked

if TYPE_CHECKING:
    from carbonsdk import schedule
    from carbonsdk.intensity.query import intensity_series
    from carbonsdk.ledger import Ledger
    from carbonsdk.ledger.job import job_result
    from carbonsdk.model.intensity import IntensitySeries, IntensitySource, IntensityStep
    from carbonsdk.model.region import Region
    from carbonsdk.model.result import (
        DeviceResult,
        JobInfo,
        JobResult,
        Mark,
        NodeResult,
        PauseEvent,
        RunResult,
        TimelineInterval,
    )
    from carbonsdk.repricing import reprice
    from carbonsdk.schedule import wait_for_low_carbon


_LAZY = {
    "IntensitySeries": ("carbonsdk.model.intensity", "IntensitySeries"),
    "IntensitySource": ("carbonsdk.model.intensity", "IntensitySource"),
    "IntensityStep": ("carbonsdk.model.intensity", "IntensityStep"),
    "Region": ("carbonsdk.model.region", "Region"),
    "DeviceResult": ("carbonsdk.model.result", "DeviceResult"),
    "JobInfo": ("carbonsdk.model.result", "JobInfo"),
    "JobResult": ("carbonsdk.model.result", "JobResult"),
    "Mark": ("carbonsdk.model.result", "Mark"),
    "NodeResult": ("carbonsdk.model.result", "NodeResult"),
    "PauseEvent": ("carbonsdk.model.result", "PauseEvent"),
    "RunResult": ("carbonsdk.model.result", "RunResult"),
    "TimelineInterval": ("carbonsdk.model.result", "TimelineInterval"),
    "Ledger": ("carbonsdk.ledger", "Ledger"),
    "job_result": ("carbonsdk.ledger.job", "job_result"),
    "schedule": ("carbonsdk.schedule", None),
    "wait_for_low_carbon": ("carbonsdk.schedule", "wait_for_low_carbon"),
    "intensity_series": ("carbonsdk.intensity.query", "intensity_series"),
    "reprice": ("carbonsdk.repricing", "reprice"),
}


def __getattr__(name: str) -> Any:
    """Lazy attributes (imported on first use, so ``import carbonsdk`` stays cheap): the value
    classes (``RunResult``, ``Region``, ``IntensitySeries``, ...), ``Ledger``, ``job_result``,
    ``schedule``, ``wait_for_low_carbon``, ``intensity_series``, ``reprice``."""
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'carbonsdk' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext carbonsdk``: registers the ``%%measure`` cell magic (needs IPython)."""
    from carbonsdk.integrations.jupyter import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "CarbonSDKError",
    "ConfigurationError",
    "DataRangeError",
    "DeviceResult",
    "IntensitySeries",
    "IntensitySource",
    "IntensityStep",
    "JobInfo",
    "JobResult",
    "Ledger",
    "LedgerError",
    "Mark",
    "NodeResult",
    "PauseEvent",
    "ProviderError",
    "Region",
    "Run",
    "RunResult",
    "TimelineInterval",
    "__version__",
    "intensity_series",
    "job_result",
    "measure",
    "reprice",
    "schedule",
    "tracked",
    "wait_for_low_carbon",
]
