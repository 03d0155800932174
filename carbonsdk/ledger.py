"""The run ledger: append-only JSON Lines, crash-safe, shared by concurrent processes.

Every record is one line ``{"schema": 1, "type": ..., ...}`` written with a single ``write()``
under an exclusive advisory lock (``flock``), after making sure the file ends with a newline, so
a torn last line (power loss) is skipped by readers and never corrupts the next record. The file
is created with mode 0600. A finished run is one ``"run"`` record; a running run appends
``"checkpoint"`` records holding the aligned intervals and the marks since its previous
checkpoint plus (now and then) its metadata, so a killed process loses at most one checkpoint
period. Serialisation of the value classes lives here and nowhere else.

Writing never blocks for long: a writer waits at most :data:`LOCK_BUDGET_S` seconds in total for
the lock (another process holding it, a stuck NFS lock) until one of its writes succeeds; past
that its records stay pending in memory and are retried on its next write, on any later write to
the same ledger in this process, and at interpreter exit. A non-finite number is written as
``null`` with a ``non-finite:FIELD`` flag, so one bad value never blocks the records after it.

Reading is total: every record is decoded and type-checked at one boundary
(:func:`result_from_record` and the checkpoint decoder); a line that is not JSON, too deeply
nested, of an unknown schema, or whose fields have the wrong JSON types is skipped and counted in
:attr:`Ledger.skipped_lines`, never raised.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import attrs

from carbonsdk import config
from carbonsdk.exceptions import LedgerError
from carbonsdk.intensity.series import IntensitySource
from carbonsdk.region.base import Region
from carbonsdk.result import (
    DeviceResult,
    JobInfo,
    JobResult,
    Mark,
    PauseEvent,
    RunResult,
    TimelineInterval,
)

try:  # POSIX advisory locks; on platforms without fcntl appends are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SCHEMA = 1
#: the longest a :class:`LedgerWriter` waits for the ledger's lock, in seconds, summed over its
#: attempts until one succeeds (then it has the whole budget again); past it, records stay
#: pending in memory and later attempts only try the lock without waiting
LOCK_BUDGET_S = 2.0
#: the deepest nesting a reader accepts in free-form values (a record's ``host``)
MAX_FREE_DEPTH = 16
#: integers longer than this (bits) are not numbers a run could have measured: written as null
_MAX_INT_BITS = 1024
log = logging.getLogger("carbonsdk")


class RecordError(ValueError):
    """A ledger record that does not decode: a missing field, a value of the wrong JSON type, a
    naive or impossible timestamp. Readers skip such a record and count it like a torn line."""


class LedgerLockTimeout(TimeoutError):
    """The ledger's lock was not free within the wait allowed (another process holds it, or a
    stuck network-file-system lock). A subclass of :class:`OSError`."""


# -- decoding: one boundary, typed ----------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _as_float(value: Any) -> float | None:
    """A JSON number as a float (an integer literal too large for a float is +/-inf); None when
    ``value`` is not a number (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _timestamp(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise RecordError(f"{where}: expected an ISO 8601 string, got {_kind(value)}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{where}: {value[:40]!r} is not an ISO 8601 timestamp") from None
    if when.tzinfo is None:
        raise RecordError(f"{where}: naive timestamp {value[:40]!r}")
    try:
        when.astimezone(UTC)
    except (OverflowError, ValueError):
        raise RecordError(f"{where}: {value[:40]!r} is out of range in UTC") from None
    return when


def _depth_ok(value: Any, depth: int) -> bool:
    if isinstance(value, dict):
        return depth < MAX_FREE_DEPTH and all(_depth_ok(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return depth < MAX_FREE_DEPTH and all(_depth_ok(v, depth + 1) for v in value)
    return True


class _Obj:
    """One JSON object of a record being decoded, with typed accessors that raise
    :class:`RecordError` naming the field. A missing or null optional field takes its default;
    a null (or non-finite) number decodes as NaN and is noted in ``nonfinite``."""

    __slots__ = ("data", "nonfinite", "path")

    def __init__(self, value: Any, path: str, nonfinite: list[str]) -> None:
        if not isinstance(value, Mapping):
            raise RecordError(f"{path or 'record'}: expected an object, got {_kind(value)}")
        self.data: Mapping[str, Any] = value
        self.path = path
        self.nonfinite = nonfinite

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _bad(self, key: str, expected: str) -> NoReturn:
        raise RecordError(
            f"{self._where(key)}: expected {expected}, got {_kind(self.data.get(key))}"
        )

    def has(self, key: str) -> bool:
        """True when ``key`` is present and not null."""
        return self.data.get(key) is not None

    def obj(self, key: str) -> _Obj:
        """A nested object (missing or null: an empty one)."""
        value = self.data.get(key)
        if value is not None and not isinstance(value, Mapping):
            self._bad(key, "an object")
        return _Obj({} if value is None else value, self._where(key), self.nonfinite)

    def objs(self, key: str) -> list[_Obj]:
        """An array of objects (missing or null: empty)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self._bad(key, "an array")
        where = self._where(key)
        return [_Obj(v, where, self.nonfinite) for v in value]

    def text(self, key: str, default: str) -> str:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self._bad(key, "a string")
        return value

    def required_text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            self._bad(key, "a non-empty string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            self._bad(key, "a string or null")
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self._bad(key, "a boolean")
        return value

    def opt_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(key, "an integer or null")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.opt_int(key)
        return default if value is None else value

    def _number(self, value: Any, key: str) -> float:
        if value is None:
            number = math.nan
        else:
            converted = _as_float(value)
            if converted is None:
                self._bad(key, "a number")
            number = converted
        if not math.isfinite(number):
            self.nonfinite.append(self._where(key))
        return number

    def number(self, key: str, default: float | None = None) -> float:
        """A number: required when ``default`` is None; null or non-finite decodes as NaN or
        +/-inf and is noted."""
        if key not in self.data:
            if default is None:
                raise RecordError(f"{self._where(key)}: missing")
            return default
        return self._number(self.data[key], key)

    def opt_number(self, key: str) -> float | None:
        """An optional number: null, missing or non-finite is None."""
        value = self.data.get(key)
        if value is None:
            return None
        converted = _as_float(value)
        if converted is None:
            self._bad(key, "a number or null")
        return converted if math.isfinite(converted) else None

    def numbers(self, key: str) -> dict[str, float]:
        """An object of numbers (per component, per device)."""
        inner = self.obj(key)
        return {k: inner._number(v, k) for k, v in inner.data.items()}

    def texts(self, key: str) -> dict[str, str]:
        """An object of strings (tags, reasons)."""
        inner = self.obj(key)
        for k, v in inner.data.items():
            if not isinstance(v, str):
                inner._bad(k, "a string")
        return dict(inner.data)

    def opt_texts(self, key: str) -> dict[str, str | None]:
        inner = self.obj(key)
        for k, v in inner.data.items():
            if v is not None and not isinstance(v, str):
                inner._bad(k, "a string or null")
        return dict(inner.data)

    def text_list(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._bad(key, "an array of strings")
        return tuple(value)

    def scalars(self, key: str) -> dict[str, Any]:
        """An object of JSON scalars (mark data); a non-finite number becomes null."""
        inner = self.obj(key)
        out: dict[str, Any] = {}
        for k, v in inner.data.items():
            if v is not None and not isinstance(v, (str, int, float)):  # bool is an int
                inner._bad(k, "a string, number, boolean or null")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                number = _as_float(v)
                v = v if number is not None and math.isfinite(number) else None
            out[k] = v
        return out

    def free(self, key: str) -> dict[str, Any]:
        """A free-form object (host facts), at most :data:`MAX_FREE_DEPTH` deep."""
        inner = self.obj(key)
        if not _depth_ok(inner.data, 0):
            self._bad(key, f"an object at most {MAX_FREE_DEPTH} levels deep")
        return dict(inner.data)

    def when(self, key: str) -> datetime:
        if key not in self.data:
            raise RecordError(f"{self._where(key)}: missing")
        return _timestamp(self.data[key], self._where(key))

    def opt_when(self, key: str) -> datetime | None:
        value = self.data.get(key)
        return None if value is None else _timestamp(value, self._where(key))


def _region(o: _Obj) -> Region:
    return Region(
        provider=o.opt_text("provider"),
        code=o.opt_text("code"),
        zone=o.opt_text("zone"),
        source=o.text("source", "unknown"),
        country=o.opt_text("country"),
    )


def _source(o: _Obj) -> IntensitySource:
    return IntensitySource(
        provider=o.text("provider", "unknown"),
        signal=o.text("signal", "average"),
        basis=o.text("basis", "unknown"),
        zone=o.opt_text("zone"),
        estimated=o.flag("estimated"),
        fallback_from=o.opt_text("fallback_from"),
        note=o.text("note", ""),
        dataset=o.text("dataset", ""),
    )


def _interval(o: _Obj) -> TimelineInterval:
    return TimelineInterval(
        start=o.when("start"),
        end=o.when("end"),
        energy_kwh=o.number("energy_kwh"),
        energy_by_component_kwh=o.numbers("energy_by_component_kwh"),
        intensity_g_per_kwh=o.number("intensity_g_per_kwh"),
        emissions_g=o.number("emissions_g"),
        intensity_estimated=o.flag("intensity_estimated"),
    )


def _device(o: _Obj) -> DeviceResult:
    key = o.required_text("key")
    return DeviceResult(
        component=o.required_text("component"),
        key=key,
        name=o.text("name", key),
        method=o.text("method", "unknown"),
        estimated=o.flag("estimated"),
        energy_kwh=o.number("energy_kwh", 0.0),
        status=o.text("status", "ok"),
        error=o.opt_text("error"),
        index=o.opt_int("index"),
        uuid=o.opt_text("uuid"),
        detail=o.text("detail", ""),
    )


def _pause(o: _Obj) -> PauseEvent:
    return PauseEvent(start=o.when("start"), end=o.opt_when("end"))


def _mark(o: _Obj) -> Mark:
    return Mark(
        at=o.when("at"),
        label=o.text("label", ""),
        energy_kwh=o.number("energy_kwh", 0.0),
        data=o.scalars("data"),
    )


def _job(o: _Obj) -> JobInfo:
    return JobInfo(
        launcher=o.text("launcher", "unknown"),
        job_id=o.opt_text("job_id"),
        job_id_source=o.text("job_id_source", "unknown"),
        rank=o.opt_int("rank"),
        local_rank=o.opt_int("local_rank"),
        world_size=o.opt_int("world_size"),
        local_world_size=o.opt_int("local_world_size"),
        node_rank=o.opt_int("node_rank"),
        node=o.text("node", ""),
        role=o.text("role", "host"),
        restart_count=o.integer("restart_count", 0),
    )


def _nonfinite_flags(flags: Iterable[str], nonfinite: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*flags, *(f"non-finite:{p}" for p in nonfinite))))


def _result(o: _Obj) -> RunResult:
    job = o.obj("job")
    result = RunResult(
        run_id=o.required_text("run_id"),
        name=o.text("name", ""),
        status=o.text("status", "completed"),
        started_at=o.when("started_at"),
        ended_at=o.when("ended_at"),
        duration_s=o.number("duration_s"),
        energy_kwh=o.number("energy_kwh"),
        energy_by_component_kwh=o.numbers("energy_by_component_kwh"),
        emissions_g=o.number("emissions_g"),
        intensity_g_per_kwh=o.opt_number("intensity_g_per_kwh"),
        pue=o.number("pue", 1.0),
        region=_region(o.obj("region")),
        intensity_source=_source(o.obj("intensity_source")),
        timeline=tuple(_interval(iv) for iv in o.objs("timeline")),
        devices=tuple(_device(d) for d in o.objs("devices")),
        tags=o.texts("tags"),
        not_measured=o.texts("not_measured"),
        estimated_components=o.text_list("estimated_components"),
        flags=o.text_list("flags"),
        pauses=tuple(_pause(p) for p in o.objs("pauses")),
        interval_s=o.number("interval_s", 1.0),
        host=o.free("host"),
        error=o.opt_text("error"),
        marks=tuple(_mark(m) for m in o.objs("marks")),
        job=_job(job) if job.data else None,
        attributed_energy_by_component_kwh=o.numbers("attributed_energy_by_component_kwh"),
        attributed_emissions_g=o.opt_number("attributed_emissions_g"),
        attribution=o.texts("attribution"),
        parent_run_id=o.opt_text("parent_run_id"),
    )
    if o.nonfinite:
        result = attrs.evolve(result, flags=_nonfinite_flags(result.flags, o.nonfinite))
    return result


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
    from carbonsdk import __version__

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
        "timeline": [interval_to_dict(iv) for iv in result.timeline],
    }


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


@attrs.frozen
class _Checkpoint:
    """A decoded ``"checkpoint"`` record (``meta``: the run's metadata, full checkpoints only)."""

    seq: int
    timeline: tuple[TimelineInterval, ...]
    device_energy_kwh: Mapping[str, float]
    device_errors: Mapping[str, str | None]
    marks_from: int
    marks: tuple[Mark, ...]
    meta: RunResult | None
    nonfinite: tuple[str, ...]


def _decode_checkpoint(data: Mapping[str, Any]) -> _Checkpoint:
    """Type-check one checkpoint record; :class:`RecordError` when it does not decode."""
    o = _Obj(data, "", [])
    o.required_text("run_id")
    seq = o.integer("seq", 0)
    marks_from = o.integer("marks_from", 0)
    if marks_from < 0:
        raise RecordError(f"marks_from: expected an integer >= 0, got {marks_from}")
    timeline = tuple(_interval(iv) for iv in o.objs("timeline"))
    marks = tuple(_mark(m) for m in o.objs("marks"))
    energies = o.numbers("device_energy_kwh")
    errors = o.opt_texts("device_errors")
    meta = None
    if "started_at" in o.data:
        meta_obj = _Obj({**o.data, "timeline": [], "marks": [], "status": "interrupted"}, "", [])
        meta = _result(meta_obj)
    return _Checkpoint(
        seq=seq,
        timeline=timeline,
        device_energy_kwh=energies,
        device_errors=errors,
        marks_from=marks_from,
        marks=marks,
        meta=meta,
        nonfinite=tuple(o.nonfinite),
    )


def _rebuild(checkpoints: Sequence[_Checkpoint], unreadable: int = 0) -> RunResult:
    """The interrupted run from its decoded checkpoints; :class:`RecordError` when none of them
    carries the run's metadata."""
    ordered = sorted(checkpoints, key=lambda c: c.seq)
    metas = [c.meta for c in ordered if c.meta is not None]
    if not metas:
        raise RecordError("no checkpoint of this run carries its metadata")
    base = metas[-1]
    timeline: list[TimelineInterval] = []
    marks: dict[int, Mark] = {}
    nonfinite: list[str] = []
    for cp in ordered:
        for interval in cp.timeline:
            if timeline and interval.start < timeline[-1].end:
                continue  # duplicate of an interval already seen
            timeline.append(interval)
        for i, mark in enumerate(cp.marks):
            marks[cp.marks_from + i] = mark
        nonfinite.extend(cp.nonfinite)
    last = ordered[-1]
    energies = last.device_energy_kwh
    errors = last.device_errors
    devices = tuple(
        attrs.evolve(
            d,
            energy_kwh=energies.get(d.key, d.energy_kwh),
            status="degraded" if errors.get(d.key) else d.status,
            error=errors.get(d.key, d.error),
        )
        for d in base.devices
    )
    started = base.started_at
    ended = timeline[-1].end if timeline else started
    energy = sum(iv.energy_kwh for iv in timeline)
    emissions = sum(iv.emissions_g for iv in timeline)
    comps: dict[str, float] = {}
    for iv in timeline:
        for c, v in iv.energy_by_component_kwh.items():
            comps[c] = comps.get(c, 0.0) + v
    mean = (
        sum(iv.energy_kwh * iv.intensity_g_per_kwh for iv in timeline) / energy
        if energy > 0
        else base.intensity_g_per_kwh
    )
    extra = ["rebuilt-from-checkpoints"]
    if unreadable:
        extra.append(f"checkpoints-unreadable:{unreadable}")
    return attrs.evolve(
        base,
        devices=devices,
        status="interrupted",
        ended_at=ended,
        duration_s=(ended - started).total_seconds(),
        energy_kwh=energy,
        energy_by_component_kwh={c: comps.get(c, 0.0) for c in base.energy_by_component_kwh}
        or comps,
        emissions_g=emissions,
        intensity_g_per_kwh=mean if mean is None or math.isfinite(mean) else None,
        timeline=tuple(timeline),
        marks=tuple(marks[i] for i in sorted(marks)),
        flags=tuple(dict.fromkeys((*_nonfinite_flags(base.flags, nonfinite), *extra))),
    )


def rebuild_from_checkpoints(records: Sequence[Mapping[str, Any]]) -> RunResult:
    """An ``"interrupted"`` :class:`RunResult` from the checkpoints of a run that never wrote
    its ``"run"`` record (ordered by ``seq``; the last full one's metadata wins, marks are put
    back together from every checkpoint). Checkpoints that do not decode are skipped (the result
    is flagged ``checkpoints-unreadable:N``); :class:`RecordError` when no readable checkpoint
    carries the run's metadata."""
    decoded: list[_Checkpoint] = []
    unreadable = 0
    for rec in records:
        try:
            decoded.append(_decode_checkpoint(rec))
        except RecordError:
            unreadable += 1
    return _rebuild(decoded, unreadable)


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
    """One ledger line (UTF-8, ending in a newline). A non-finite number (or an integer of over
    1024 bits) is written as null and the record gets a ``non-finite:FIELD`` flag (FIELD the
    dotted path, e.g. ``energy_kwh`` or ``timeline.emissions_g``), so that the record can always
    be written; values JSON has no type for are written as text."""
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


_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


def _lock(fd: int, path: Path, timeout_s: float | None) -> bool:
    """Take the exclusive lock on ``fd``, waiting at most ``timeout_s`` (None: as long as it
    takes, 0: one try). True when locked, False when this file system has no locks (the write
    goes ahead unlocked: one ``O_APPEND`` write). Raises :class:`LedgerLockTimeout`."""
    if fcntl is None:  # pragma: no cover - Windows
        return False
    if timeout_s is None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno in _NO_LOCKS:
                return False
            raise
        return True
    deadline = time.monotonic() + max(0.0, timeout_s)
    delay_s = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in _NO_LOCKS:
                return False
            if exc.errno not in _BUSY:
                raise
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            raise LedgerLockTimeout(
                errno.EAGAIN,
                f"the ledger's lock was busy for {max(0.0, timeout_s):.1f} s",
                str(path),
            )
        time.sleep(min(delay_s, left_s))
        delay_s = min(delay_s * 2, 0.05)


def _append_payload(path: Path, payload: bytes, lock_timeout_s: float | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        locked = _lock(fd, path, lock_timeout_s)
        try:
            size = os.fstat(fd).st_size
            if size > 0:
                with open(path, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        payload = b"\n" + payload  # seal a torn last line
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def append_records(
    path: Path, records: list[Mapping[str, Any]], *, lock_timeout_s: float | None = LOCK_BUDGET_S
) -> None:
    """Append records to the ledger at ``path`` in ONE ``write()`` under an exclusive lock,
    creating the file (mode 0600) and its directory. Waits at most ``lock_timeout_s`` seconds
    for the lock (None: without limit). Raises :class:`OSError` on failure
    (:class:`LedgerLockTimeout` when the lock stayed busy)."""
    payload = b"".join(encode_record(r) for r in records)
    _append_payload(path, payload, lock_timeout_s)


def append_run(path: str | os.PathLike[str] | None, result: RunResult) -> None:
    """Append a finished run's ``"run"`` record (``path`` None = default ledger); raises
    :class:`OSError` on failure (:class:`LedgerLockTimeout` after :data:`LOCK_BUDGET_S`)."""
    append_records(_resolve(path), [result_to_record(result)])


_pending_lock = threading.Lock()
_pending_writers: set[LedgerWriter] = set()  # strong refs: a pending record outlives its run
_atexit_registered = False


def _note_pending(writer: LedgerWriter) -> None:
    global _atexit_registered
    with _pending_lock:
        _pending_writers.add(writer)
        if not _atexit_registered:
            atexit.register(flush_pending)
            _atexit_registered = True


def _pending_for(path: Path, exclude: LedgerWriter | None = None) -> list[LedgerWriter]:
    with _pending_lock:
        return [w for w in _pending_writers if w is not exclude and w.path == path]


def flush_pending() -> int:
    """Retry every record still pending in this process (run at interpreter exit); each writer
    waits for the lock at most what is left of its :data:`LOCK_BUDGET_S`. Returns the number of
    records still not written (each writer that lost some logs a warning)."""
    with _pending_lock:
        writers = [w for w in _pending_writers if w.pid == os.getpid()]
    lost = 0
    for writer in writers:
        if not writer.flush():
            lost += writer.pending
            log.warning(
                "carbonsdk: %d record(s) could not be written to the ledger %s (%s)",
                writer.pending,
                writer.path,
                writer.last_error,
            )
    return lost


class LedgerWriter:
    """Writes one run's records; never raises, never waits for the lock more than
    :data:`LOCK_BUDGET_S` seconds in total until a write succeeds. A failed write (full disk,
    read-only file, a lock another process holds) is logged once and kept in memory, then retried
    with the next write, after any later successful write to the same ledger in this process, and
    at interpreter exit, so a transient fault loses nothing."""

    def __init__(self, path: Path, *, lock_budget_s: float = LOCK_BUDGET_S) -> None:
        self.path = path
        self.pid = os.getpid()
        self.last_error: str | None = None
        #: True while records are pending because the lock was not free in time
        self.lock_timed_out = False
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self._warned = False
        self._budget_full_s = lock_budget_s
        self._budget_s = lock_budget_s

    def write(self, record: Mapping[str, Any]) -> bool:
        """Append ``record`` (and any pending ones); True when everything is on disk."""
        try:
            payload = encode_record(record)
        except (TypeError, ValueError, RecursionError) as exc:  # cannot happen for our records
            self._failed(exc)
            return False
        with self._lock:
            self._pending.append(payload)
        if not self.flush():
            return False
        for other in _pending_for(self.path, exclude=self):
            other.flush(wait=False)
        return True

    def flush(self, *, wait: bool = True) -> bool:
        """Write the pending records; True when none is left. ``wait``: wait for a busy lock (at
        most what is left of the budget), else try it once."""
        with self._lock:
            if not self._pending:
                return True
            timeout_s = self._budget_s if wait else 0.0
            began = time.monotonic()
            try:
                _append_payload(self.path, b"".join(self._pending), timeout_s)
            except LedgerLockTimeout as exc:
                self._budget_s = max(0.0, self._budget_s - (time.monotonic() - began))
                self.lock_timed_out = True
                self._failed(exc)
                return False
            except (OSError, ValueError) as exc:
                self._failed(exc)
                return False
            self._pending.clear()
            self.last_error = None
            self.lock_timed_out = False
            self._budget_s = self._budget_full_s
        with _pending_lock:
            _pending_writers.discard(self)
        return True

    def _failed(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self._pending:
            _note_pending(self)
        if not self._warned:
            log.warning(
                "carbonsdk: could not write the ledger %s (%s); keeping the record in memory and "
                "retrying (next write, exit)",
                self.path,
                self.last_error,
            )
            self._warned = True

    @property
    def pending(self) -> int:
        """Records not yet written."""
        return len(self._pending)

    def failure_flags(self) -> tuple[str, ...]:
        """Flags for a run whose records are not all on disk: ``"ledger-pending"`` (kept in
        memory, retried on a later write and at exit) with ``"ledger-lock-timeout"`` (the lock
        was busy past :data:`LOCK_BUDGET_S`) or ``"ledger-write-failed"`` (any other error);
        ``()`` when nothing is pending."""
        if not self._pending:
            return ("ledger-write-failed",) if self.last_error else ()
        cause = "ledger-lock-timeout" if self.lock_timed_out else "ledger-write-failed"
        return ("ledger-pending", cause)


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    return config.default_ledger_path() if path is None else Path(path).expanduser()


# -- reading ------------------------------------------------------------------------------------


def top_level(runs: Iterable[RunResult]) -> list[RunResult]:
    """The runs of ``runs`` that are not nested in another of them (no ``parent_run_id``, or a
    parent that is not among ``runs``), order kept: what totals add up without counting a
    nested run's energy twice."""
    runs = list(runs)
    ids = {r.run_id for r in runs}
    return [
        r
        for r in runs
        if r.parent_run_id is None or r.parent_run_id not in ids or r.parent_run_id == r.run_id
    ]


#: the components first in the columns of :func:`run_records`, in this order
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
    ``job_id``, ``flags`` (joined with ``;``) and ``tag_<key>`` per tag key in any of the runs
    (None where absent)."""
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
)


class Ledger:
    """Reads a ledger (``path`` None = ``CARBONSDK_LEDGER`` or the platformdirs default).

    Reading is total: unreadable lines (garbage, torn writes, unknown schema, nesting too deep,
    records whose fields have the wrong JSON types) are skipped and counted in
    :attr:`skipped_lines`, with one warning per read; only a file that exists but cannot be
    opened raises :class:`LedgerError`. Runs that never finished are rebuilt from their readable
    checkpoints with status ``"interrupted"``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = _resolve(path)
        self.skipped_lines = 0

    def _records(self) -> Iterator[dict[str, Any]]:
        self.skipped_lines = 0
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        except OSError as exc:
            raise LedgerError(f"cannot read ledger {self.path}: {exc.strerror}") from None
        with fh:
            for raw in fh:
                line = raw.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line.decode("utf-8"))
                    schema = rec.get("schema") if isinstance(rec, dict) else None
                    if (
                        not isinstance(schema, int)
                        or isinstance(schema, bool)
                        or not 1 <= schema <= SCHEMA
                        or ("run_id" not in rec and rec.get("type") != "job")
                    ):
                        raise ValueError("not a carbonsdk record")
                except (ValueError, RecursionError):  # RecursionError: nested too deep
                    self.skipped_lines += 1
                    continue
                yield rec

    def _decoded(self, decode: Any, rec: Mapping[str, Any]) -> Any:
        """``decode(rec)``, or None (counted as a skipped line) when it does not decode."""
        try:
            return decode(rec)
        except RecordError as exc:
            log.debug("carbonsdk: skipping a ledger record: %s", exc)
        except Exception:  # a hole in the decoder must not make the reader fatal
            log.debug("carbonsdk: skipping a ledger record", exc_info=True)
        self.skipped_lines += 1
        return None

    def runs(self) -> list[RunResult]:
        """All runs, nested ones included, oldest first (by start time)."""
        finished: dict[str, RunResult] = {}
        checkpoints: dict[str, list[_Checkpoint]] = {}
        unreadable: dict[str, int] = {}
        for rec in self._records():
            kind = rec.get("type")
            if kind == "run":
                result = self._decoded(result_from_record, rec)
                if result is not None:
                    finished[result.run_id] = result
            elif kind == "checkpoint":
                run_id = rec.get("run_id")
                checkpoint = self._decoded(_decode_checkpoint, rec)
                if checkpoint is not None and isinstance(run_id, str):
                    checkpoints.setdefault(run_id, []).append(checkpoint)
                elif isinstance(run_id, str):
                    unreadable[run_id] = unreadable.get(run_id, 0) + 1
        for run_id, cps in checkpoints.items():
            if run_id in finished:
                continue
            try:
                finished[run_id] = _rebuild(cps, unreadable.get(run_id, 0))
            except Exception:  # no full checkpoint readable: nothing to rebuild from
                log.debug("carbonsdk: cannot rebuild run %s", run_id, exc_info=True)
                self.skipped_lines += len(cps)
        if self.skipped_lines:
            log.warning(
                "carbonsdk: skipped %d unreadable line(s) in %s", self.skipped_lines, self.path
            )
        return sorted(finished.values(), key=lambda r: (r.started_at, r.run_id))

    def gathered_runs(self) -> list[RunResult]:
        """The member runs (summaries, without timelines) of the ``"job"`` records written by
        ``measure(gather=True)`` on rank 0; unreadable members are skipped and counted."""
        members: list[RunResult] = []
        for rec in self._records():
            if rec.get("type") != "job":
                continue
            listed = rec.get("members")
            if not isinstance(listed, list):
                self.skipped_lines += listed is not None
                continue
            for member in listed:
                result = self._decoded(result_from_record, member)
                if result is not None:
                    members.append(result)
        return members

    def get(self, run_id: str) -> RunResult:
        """The run with this id (or a unique prefix of it), nested or not; :class:`LedgerError`
        if none."""
        runs = self.runs()
        exact = [r for r in runs if r.run_id == run_id]
        if exact:
            return exact[0]
        matches = [r for r in runs if run_id and r.run_id.startswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise LedgerError(f"no run {run_id!r} in {self.path}")
        raise LedgerError(f"run id prefix {run_id!r} is ambiguous ({len(matches)} runs match)")

    def last(self) -> RunResult | None:
        """The most recently started top-level run (see :func:`top_level`), or None for an
        empty ledger."""
        runs = top_level(self.runs())
        return runs[-1] if runs else None

    def children(self, run_id: str) -> list[RunResult]:
        """The runs started directly inside run ``run_id`` (its exact id), oldest first."""
        return [r for r in self.runs() if r.parent_run_id == run_id and r.run_id != run_id]

    def to_records(self) -> list[dict[str, Any]]:
        """Every run as a flat dict (one table row each, see :func:`run_records`), oldest
        first, nested runs included (``parent_run_id`` says which)."""
        return run_records(self.runs())

    def to_pandas(self) -> Any:
        """The runs as a ``pandas.DataFrame``, one row per run, the columns of
        :meth:`to_records` (``started_at``/``ended_at`` as UTC datetimes, energy in kWh,
        emissions in g CO2eq). Needs pandas: :class:`ImportError` naming
        ``pip install 'carbonsdk[pandas]'`` without it."""
        import importlib

        try:
            pd = importlib.import_module("pandas")
        except ImportError as exc:
            raise ImportError(
                "Ledger.to_pandas() needs pandas: pip install 'carbonsdk[pandas]'"
            ) from exc
        records = self.to_records()
        columns = list(records[0]) if records else list(RECORD_COLUMNS)
        frame = pd.DataFrame.from_records(records, columns=columns)
        for column in ("started_at", "ended_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"


__all__ = [
    "LOCK_BUDGET_S",
    "RECORD_COLUMNS",
    "SCHEMA",
    "Ledger",
    "LedgerLockTimeout",
    "LedgerWriter",
    "RecordError",
    "append_records",
    "append_run",
    "checkpoint_record",
    "encode_record",
    "flush_pending",
    "job_record",
    "job_result_to_dict",
    "rebuild_from_checkpoints",
    "result_from_record",
    "result_to_record",
    "run_records",
    "summary_record",
    "top_level",
]
