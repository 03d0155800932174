"""Runs as plain table rows (``Ledger.to_records()``, ``runs --csv``, ``Ledger.to_pandas()``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from carbonsdk.model.result import (
    RunResult,
)

log = logging.getLogger("carbonsdk")


_COMPONENT_ORDER = ("gpu", "cpu", "ram")


def _components(runs: Sequence[RunResult]) -> list[str]:
    seen = {c for r in runs for c in r.energy_by_component_kwh}
    return [c for c in _COMPONENT_ORDER if c in seen] + sorted(seen - set(_COMPONENT_ORDER))


def run_records(runs: Iterable[RunResult]) -> list[dict[str, Any]]:
    """One flat dict per run, every dict with the same keys (a table row): ``run_id``,
    ``parent_run_id``, ``name``, ``status``, ``started_at``/``ended_at`` (aware UTC datetimes),
    ``duration_s``, ``energy_kwh``, ``energy_<component>_kwh`` per component measured in any of
    the runs (None where that run did not measure it), ``emissions_g``,
    ``intensity_g_per_kwh``, ``pue``, ``zone``, ``region_provider``, ``region_code``,
    ``intensity_source`` (the provider), ``intensity_signal``, ``intensity_estimated``,
    ``job_id``, ``flags`` (joined with ``;``), ``repriced_at`` (aware UTC datetime of the
    newest pricing by :func:`carbonsdk.reprice`, None when never repriced) and ``tag_<key>``
    per tag key in any of the runs (None where absent)."""
    runs = list(runs)
    comps = _components(runs)
    tag_keys = sorted({k for r in runs for k in r.tags})
    out: list[dict[str, Any]] = []
    for r in runs:
        row: dict[str, Any] = {
            "run_id": r.run_id,
            "parent_run_id": r.parent_run_id,
            "name": r.name,
            "status": r.status,
            "started_at": r.started_at.astimezone(UTC),
            "ended_at": r.ended_at.astimezone(UTC),
            "duration_s": r.duration_s,
            "energy_kwh": r.energy_kwh,
        }
        for c in comps:
            row[f"energy_{c}_kwh"] = r.energy_by_component_kwh.get(c)
        row.update(
            {
                "emissions_g": r.emissions_g,
                "intensity_g_per_kwh": r.intensity_g_per_kwh,
                "pue": r.pue,
                "zone": r.region.zone,
                "region_provider": r.region.provider,
                "region_code": r.region.code,
                "intensity_source": r.intensity_source.provider,
                "intensity_signal": r.intensity_source.signal,
                "intensity_estimated": r.intensity_source.estimated,
                "job_id": None if r.job is None else r.job.job_id,
                "flags": ";".join(r.flags),
                "repriced_at": None if r.repriced_at is None else r.repriced_at.astimezone(UTC),
            }
        )
        for k in tag_keys:
            row[f"tag_{k}"] = r.tags.get(k)
        out.append(row)
    return out


#: the columns of :func:`run_records` every table has, even an empty one
RECORD_COLUMNS = (
    "run_id",
    "parent_run_id",
    "name",
    "status",
    "started_at",
    "ended_at",
    "duration_s",
    "energy_kwh",
    "emissions_g",
    "intensity_g_per_kwh",
    "pue",
    "zone",
    "region_provider",
    "region_code",
    "intensity_source",
    "intensity_signal",
    "intensity_estimated",
    "job_id",
    "flags",
    "repriced_at",
)
