"""Carbon intensity: series, providers, and the choice of provider for a run.

The package's face:

- the values: :class:`IntensitySeries`, :class:`IntensitySource`, :class:`IntensityStep`;
- the provider registry (from :mod:`~carbonsdk.intensity.choose`): :data:`NAMED` (the provider
  names ``intensity=`` takes), :func:`make_provider` (an ``intensity=`` option to its provider;
  None for ``"auto"``) and :func:`auto_provider` (what ``"auto"`` is here and now);
- the embedded dataset's queries (from :mod:`~carbonsdk.intensity.embedded`):
  :func:`has_hourly`, :func:`hourly_years`, :func:`mean_g_per_kwh` (g/kWh),
  :func:`annual_g_per_kwh` (g/kWh, with its year) and :func:`dataset_label`.

The registry and the dataset queries are lazy attributes (PEP 562), imported on first use, so
importing this package loads the value classes only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbonsdk.model.intensity import IntensitySeries, IntensitySource, IntensityStep

if TYPE_CHECKING:
    from carbonsdk.intensity.choose import NAMED as NAMED
    from carbonsdk.intensity.choose import auto_provider as auto_provider
    from carbonsdk.intensity.choose import make_provider as make_provider
    from carbonsdk.intensity.embedded import annual_g_per_kwh as annual_g_per_kwh
    from carbonsdk.intensity.embedded import dataset_label as dataset_label
    from carbonsdk.intensity.embedded import has_hourly as has_hourly
    from carbonsdk.intensity.embedded import hourly_years as hourly_years
    from carbonsdk.intensity.embedded import mean_g_per_kwh as mean_g_per_kwh

#: lazy public name -> the module that defines it
_LAZY: dict[str, str] = {
    "NAMED": "carbonsdk.intensity.choose",
    "auto_provider": "carbonsdk.intensity.choose",
    "make_provider": "carbonsdk.intensity.choose",
    "annual_g_per_kwh": "carbonsdk.intensity.embedded",
    "dataset_label": "carbonsdk.intensity.embedded",
    "has_hourly": "carbonsdk.intensity.embedded",
    "hourly_years": "carbonsdk.intensity.embedded",
    "mean_g_per_kwh": "carbonsdk.intensity.embedded",
}


def __getattr__(name: str) -> Any:
    """The registry and the embedded dataset's queries, imported on first use (then plain
    module globals). Any other name: ``AttributeError`` (so ``from carbonsdk.intensity import
    embedded`` still imports the submodule)."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'carbonsdk.intensity' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included."""
    return sorted({*globals(), *_LAZY})


__all__ = [
    "NAMED",
    "IntensitySeries",
    "IntensitySource",
    "IntensityStep",
    "annual_g_per_kwh",
    "auto_provider",
    "dataset_label",
    "has_hourly",
    "hourly_years",
    "make_provider",
    "mean_g_per_kwh",
]
