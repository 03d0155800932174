"""Serialisation of every value the ledger stores: records from values and back, and the bytes of
a record (non-finite numbers written as ``null`` with a ``non-finite:FIELD`` flag). The only
place that knows the ledger's JSON layout."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from carbonsdk.ledger.decode import (
    _MAX_INT_BITS,
    SCHEMA,
    Repricing,
    _device,
    _interval,
    _job,
    _mark,
    _Obj,
    _region,
    _repricing,
    _result,
    _source,
)
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import (
    DeviceResult,
    JobInfo,
    JobResult,
    Mark,
    PauseEvent,
    RunResult,
    TimelineInterval,
)

log = logging.getLogger("carbonsdk")


# -- serialisation ------------------------------------------------------------------------------


def _iso(when: datetime) -> str:
    return when.isoformat()


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    return value if math.isfinite(value) else None


def region_to_dict(region: Region) -> dict[str, Any]:
    """JSON-ready dict of a :class:`Region`."""
    return {
        "provider": region.provider,
        "code": region.code,
        "zone": region.zone,
        "source": region.source,
        "country": region.country,
    }


def region_from_dict(data: Mapping[str, Any]) -> Region:
    """Inverse of :func:`region_to_dict`; :class:`RecordError` for wrong types."""
    return _region(_Obj(data, "region", []))


def source_to_dict(source: IntensitySource) -> dict[str, Any]:
    """JSON-ready dict of an :class:`IntensitySource`."""
    return {
        "provider": source.provider,
        "signal": source.signal,
        "basis": source.basis,
        "zone": source.zone,
        "estimated": source.estimated,
        "fallback_from": source.fallback_from,
        "note": source.note,
        "dataset": source.dataset,
    }


def source_from_dict(data: Mapping[str, Any]) -> IntensitySource:
    """Inverse of :func:`source_to_dict`; :class:`RecordError` for wrong types."""
    return _source(_Obj(data, "intensity_source", []))


def interval_to_dict(iv: TimelineInterval) -> dict[str, Any]:
    """JSON-ready dict of a :class:`TimelineInterval` (energy kWh, intensity g/kWh,
    emissions g)."""
    return {
        "start": _iso(iv.start),
        "end": _iso(iv.end),
        "energy_kwh": iv.energy_kwh,
        "energy_by_component_kwh": dict(iv.energy_by_component_kwh),
        "intensity_g_per_kwh": iv.intensity_g_per_kwh,
        "emissions_g": iv.emissions_g,
        "intensity_estimated": iv.intensity_estimated,
    }


def interval_from_dict(data: Mapping[str, Any]) -> TimelineInterval:
    """Inverse of :func:`interval_to_dict`; :class:`RecordError` for wrong types."""
    return _interval(_Obj(data, "timeline", []))


def device_to_dict(dev: DeviceResult) -> dict[str, Any]:
    """JSON-ready dict of a :class:`DeviceResult` (energy in kWh)."""
    return {
        "component": dev.component,
        "key": dev.key,
        "name": dev.name,
        "method": dev.method,
        "estimated": dev.estimated,
        "energy_kwh": dev.energy_kwh,
        "status": dev.status,
        "error": dev.error,
        "index": dev.index,
        "uuid": dev.uuid,
        "detail": dev.detail,
    }


def device_from_dict(data: Mapping[str, Any]) -> DeviceResult:
    """Inverse of :func:`device_to_dict`; :class:`RecordError` for wrong types."""
    return _device(_Obj(data, "devices", []))


def _pause_to_dict(p: PauseEvent) -> dict[str, Any]:
    return {"start": _iso(p.start), "end": _iso(p.end) if p.end else None}


def mark_to_dict(mark: Mark) -> dict[str, Any]:
    """JSON-ready dict of a :class:`Mark` (cumulative energy in kWh)."""
    return {
        "at": _iso(mark.at),
        "label": mark.label,
        "energy_kwh": mark.energy_kwh,
        "data": dict(mark.data),
    }


def mark_from_dict(data: Mapping[str, Any]) -> Mark:
    """Inverse of :func:`mark_to_dict`; :class:`RecordError` for wrong types."""
    return _mark(_Obj(data, "marks", []))


def job_to_dict(job: JobInfo) -> dict[str, Any]:
    """JSON-ready dict of a :class:`JobInfo`."""
    return attrs.asdict(job)


def job_from_dict(data: Mapping[str, Any]) -> JobInfo:
    """Inverse of :func:`job_to_dict`; :class:`RecordError` for wrong types."""
    return _job(_Obj(data, "job", []))


def result_to_record(result: RunResult) -> dict[str, Any]:
    """The ``"run"`` ledger record of a finished run (everything in :class:`RunResult`)."""
    from carbonsdk._version import __version__

    return {
        "schema": SCHEMA,
        "type": "run",
        "run_id": result.run_id,
        "parent_run_id": result.parent_run_id,
        "name": result.name,
        "status": result.status,
        "started_at": _iso(result.started_at),
        "ended_at": _iso(result.ended_at),
        "duration_s": result.duration_s,
        "energy_kwh": result.energy_kwh,
        "energy_by_component_kwh": dict(result.energy_by_component_kwh),
        "emissions_g": result.emissions_g,
        "intensity_g_per_kwh": _num(result.intensity_g_per_kwh),
        "pue": result.pue,
        "region": region_to_dict(result.region),
        "intensity_source": source_to_dict(result.intensity_source),
        "devices": [device_to_dict(d) for d in result.devices],
        "not_measured": dict(result.not_measured),
        "estimated_components": list(result.estimated_components),
        "flags": list(result.flags),
        "pauses": [_pause_to_dict(p) for p in result.pauses],
        "interval_s": result.interval_s,
        "tags": dict(result.tags),
        "host": dict(result.host),
        "error": result.error,
        "marks": [mark_to_dict(m) for m in result.marks],
        "job": None if result.job is None else job_to_dict(result.job),
        "attributed_energy_by_component_kwh": dict(result.attributed_energy_by_component_kwh),
        "attributed_emissions_g": _num(result.attributed_emissions_g),
        "attribution": dict(result.attribution),
        "carbonsdk_version": __version__,
        **_repriced_fields(result),
        "timeline": [interval_to_dict(iv) for iv in result.timeline],
    }


def _repriced_fields(result: RunResult) -> dict[str, Any]:
    """``repriced_at``/``repriced_from`` of a repriced result; nothing for one priced at the
    end of its run (so that such records are unchanged)."""
    if result.repriced_at is None and result.repriced_from is None:
        return {}
    return {
        "repriced_at": None if result.repriced_at is None else _iso(result.repriced_at),
        "repriced_from": None
        if result.repriced_from is None
        else source_to_dict(result.repriced_from),
    }


def _compact_timeline(timeline: Sequence[TimelineInterval]) -> list[dict[str, Any]]:
    out = [interval_to_dict(iv) for iv in timeline]
    for iv_dict in out:  # the default, as every reader takes it
        if iv_dict["intensity_estimated"] is False:
            del iv_dict["intensity_estimated"]
    return out


def reprice_record(
    repriced: RunResult, *, estimated_share: float | None, step_s: float | None
) -> dict[str, Any]:
    """The ``"reprice"`` record of ``repriced`` (a run's result priced again by
    :func:`carbonsdk.reprice`, with ``repriced_at`` and ``repriced_from`` set): the re-aligned
    timeline (energy kWh, intensity g/kWh, emissions g per interval), the totals (emissions g
    CO2eq, mean intensity g/kWh, attributed emissions g), the new intensity source, the run's
    flags after repricing, when it was repriced and the source it replaced.
    ``estimated_share``: the fraction (0..1) of the run's energy priced with estimated values;
    ``step_s``: the median step of the new series, seconds (None: no time resolution). The
    run's own ``"run"`` record is never touched: readers apply the newest reprice record."""
    from carbonsdk._version import __version__

    if repriced.repriced_at is None or repriced.repriced_from is None:
        raise ValueError("reprice_record needs a result with repriced_at and repriced_from")
    return {
        "schema": SCHEMA,
        "type": "reprice",
        "run_id": repriced.run_id,
        "repriced_at": _iso(repriced.repriced_at),
        "repriced_from": source_to_dict(repriced.repriced_from),
        "intensity_source": source_to_dict(repriced.intensity_source),
        "emissions_g": repriced.emissions_g,
        "intensity_g_per_kwh": _num(repriced.intensity_g_per_kwh),
        "attributed_emissions_g": _num(repriced.attributed_emissions_g),
        "flags": list(repriced.flags),
        "estimated_share": _num(estimated_share),
        "step_s": None if step_s is None else _num(step_s),
        "carbonsdk_version": __version__,
        "timeline": _compact_timeline(repriced.timeline),
    }


def repricing_from_record(data: Mapping[str, Any]) -> Repricing:
    """Decode a ``"reprice"`` record; :class:`RecordError` (a ValueError) naming the first bad
    field, and nothing else, for any JSON value."""
    return _repricing(_Obj(data, "", []))


def result_from_record(data: Mapping[str, Any]) -> RunResult:
    """Rebuild a :class:`RunResult` from a ``"run"`` record: the one place a record's types are
    checked. Raises :class:`RecordError` (a ValueError) naming the first bad field, and nothing
    else, for any JSON value. A null or non-finite number decodes as NaN (or +/-inf) and the
    result gets a ``non-finite:FIELD`` flag."""
    return _result(_Obj(data, "", []))


def summary_record(result: RunResult) -> dict[str, Any]:
    """A run's record without its timeline and marks: what ``gather=True`` sends to rank 0 and
    what a ``"job"`` record keeps per member (a few kB per host, whatever the run's length)."""
    record = result_to_record(result)
    record["timeline"] = []
    record["marks"] = []
    return record


def job_result_to_dict(job: JobResult) -> dict[str, Any]:
    """JSON-ready dict of a :class:`JobResult`: totals, one entry per node, member run ids and
    flags (``carbonsdk report --job ... --json``)."""
    return {
        "job_id": job.job_id,
        "launcher": job.launcher,
        "status": job.status,
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
        "duration_s": job.duration_s,
        "energy_kwh": job.energy_kwh,
        "energy_by_component_kwh": dict(job.energy_by_component_kwh),
        "emissions_g": job.emissions_g,
        "intensity_g_per_kwh": _num(job.intensity_g_per_kwh),
        "expected_nodes": job.expected_nodes,
        "flags": list(job.flags),
        "nodes": [
            {
                "node": n.node,
                "hostname": n.hostname,
                "node_rank": n.node_rank,
                "ranks": list(n.ranks),
                "region": region_to_dict(n.region),
                "energy_kwh": n.energy_kwh,
                "energy_by_component_kwh": dict(n.energy_by_component_kwh),
                "emissions_g": n.emissions_g,
                "intensity_g_per_kwh": _num(n.intensity_g_per_kwh),
                "intensity_estimated": n.intensity_estimated,
                "started_at": _iso(n.started_at),
                "ended_at": _iso(n.ended_at),
                "status": n.status,
                "gpu_count": n.gpu_count,
                "run_ids": list(n.run_ids),
            }
            for n in job.nodes
        ],
    }


def job_record(job: JobResult, members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``"job"`` record rank 0 writes after ``gather=True``: the job's totals and every
    measuring rank's :func:`summary_record`, so that ``carbonsdk report --job`` works from rank
    0's ledger alone (members are keyed by run id: a host's own full record wins)."""
    return {
        "schema": SCHEMA,
        "type": "job",
        **job_result_to_dict(job),
        "members": [dict(m) for m in members],
    }


def checkpoint_record(
    partial: RunResult,
    seq: int,
    intervals: tuple[TimelineInterval, ...],
    *,
    full: bool = True,
    marks_from: int | None = None,
) -> dict[str, Any]:
    """A ``"checkpoint"`` record: the aligned ``intervals`` since the previous checkpoint and the
    energy of each device so far (kWh). With ``full`` it also carries the run's metadata
    (``partial``, whose timeline is ignored); a run writes full checkpoints now and then and small
    ones in between. ``marks_from``: the index of the first of ``partial.marks`` not yet in an
    earlier checkpoint; the record carries only the marks from there (``"marks_from"`` says
    where they go; a small record without new marks has neither key), so that every mark is
    written once. None (older writers): a full checkpoint
    carries all the marks, a small one none."""
    if full:
        record = result_to_record(partial)
        record["type"] = "checkpoint"
        record["status"] = "running"
    else:
        record = {"schema": SCHEMA, "type": "checkpoint", "run_id": partial.run_id}
    if marks_from is not None:
        start = max(0, min(marks_from, len(partial.marks)))
        if full or start < len(partial.marks):
            record["marks_from"] = start
            record["marks"] = [mark_to_dict(m) for m in partial.marks[start:]]
    record["seq"] = seq
    record["device_energy_kwh"] = {d.key: d.energy_kwh for d in partial.devices}
    errors = {d.key: d.error for d in partial.devices if d.error}
    if errors or full:
        record["device_errors"] = errors
    timeline = [interval_to_dict(iv) for iv in intervals]
    for iv_dict in timeline:  # the default, as every reader takes it: ~4 % of an 8-day ledger
        if iv_dict["intensity_estimated"] is False:
            del iv_dict["intensity_estimated"]
    record["timeline"] = timeline
    return record


# -- writing ------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback: mappings (read-only views) as objects, anything else as text."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)


def _sanitised(value: Any, path: str, found: list[str], depth: int = 0) -> Any:
    """``value`` with every non-finite float (and absurdly long integer) replaced by None, the
    dotted path of each replaced field (array indices left out) appended to ``found``."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        found.append(path)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > _MAX_INT_BITS:
            found.append(path)
            return None
        return value
    if depth > 64:
        return str(value)
    if isinstance(value, Mapping):
        return {
            k: _sanitised(v, f"{path}.{k}" if path else str(k), found, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_sanitised(v, path, found, depth + 1) for v in value]
    return value


def _dumps(record: Mapping[str, Any]) -> str:
    return json.dumps(
        record, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_jsonable
    )


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One ledger line (UTF-8, ending in a newline). A non-finite number (or an integer too long
    for ``str()``) is written as null and the record gets a ``non-finite:FIELD`` flag (FIELD the
    dotted path, e.g. ``energy_kwh`` or ``timeline.emissions_g``), so that the record can always
    be written; in a record cleaned that way, integers of over 1024 bits are written as null too
    and values nested more than 64 levels deep as text. (Otherwise a long integer is written as
    it is; the reader decodes any integer of over 1024 bits as non-finite, with the flag.)
    Values JSON has no type for: mappings as objects, sets as lists, anything else as text."""
    try:
        text = _dumps(record)
    except ValueError:  # NaN/inf, or an int too long for str()
        found: list[str] = []
        clean = _sanitised(record, "", found)
        old = clean.get("flags")
        flags = [f for f in old if isinstance(f, str)] if isinstance(old, list) else []
        clean["flags"] = list(dict.fromkeys([*flags, *(f"non-finite:{p}" for p in found)]))
        text = _dumps(clean)
    # a lone surrogate (a file name decoded with surrogateescape) becomes a JSON \\u escape
    return (text + "\n").encode("utf-8", "backslashreplace")
