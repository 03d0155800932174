"""carbonsdk: measure the energy of your code and the CO2 it emitted where and when it ran.

``with carbonsdk.measure("name") as run: ...`` or ``@carbonsdk.tracked``; results are
:class:`RunResult` objects, kept in a JSONL :class:`Ledger`.

``import carbonsdk`` imports only the version and the exceptions: every other public name is a
lazy attribute (PEP 562), imported on first use, so that a program that imports carbonsdk but
does not measure pays ~1 ms. The first use of ``measure`` (or ``tracked``, ``Run``, a value
class) imports the run machinery; heavy modules (numpy, requests, rich, pynvml) only when a run
needs them.
"""

from __future__ import annotations

from carbonsdk._version import __version__
from carbonsdk.exceptions import (
    CarbonSDKError,
    ConfigurationError,
    DataRangeError,
    LedgerError,
    ProviderError,
)

# ``typing`` is not imported at run time (it is not needed, and costs ~2 ms): type checkers treat
# a name ``TYPE_CHECKING`` as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
    from carbonsdk.run import Run, measure, tracked
    from carbonsdk.schedule import wait_for_low_carbon


#: public name -> (module, attribute of it; None: the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "Run": ("carbonsdk.run", "Run"),
    "measure": ("carbonsdk.run", "measure"),
    "tracked": ("carbonsdk.run", "tracked"),
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
    """Lazy attributes (imported on first use, so ``import carbonsdk`` stays cheap): ``measure``,
    ``tracked``, ``Run``, the value classes (``RunResult``, ``Region``, ``IntensitySeries``,
    ...), ``Ledger``, ``job_result``, ``schedule``, ``wait_for_low_carbon``,
    ``intensity_series``, ``reprice``. Each is imported once, then is a plain module global."""
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'carbonsdk' has no attribute {name!r}")
    import importlib

    module_name, attr = target
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included (so completion and ``dir()`` see them)."""
    return sorted({*globals(), *_LAZY})


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
