"""The run ledger: append-only JSON Lines, crash-safe, shared by concurrent processes.

Every record is one line ``{"schema": 1, "type": ..., ...}`` written with a single ``write()``
under an exclusive advisory lock (``flock``), after making sure the file ends with a newline, so
a torn last line (power loss) is skipped by readers and never corrupts the next record. The file
is created with mode 0600. A finished run is one ``"run"`` record; a running run appends
``"checkpoint"`` records holding the aligned intervals since its previous checkpoint plus its
metadata, so a killed process loses at most one checkpoint period. Serialisation of the value
classes lives here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

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
log = logging.getLogger("carbonsdk")


# -- serialisation ------------------------------------------------------------------------------


def _iso(when: datetime) -> str:
    return when.isoformat()


def _dt(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"naive timestamp {text!r}")
    return when


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
    """Inverse of :func:`region_to_dict`."""
    return Region(
        provider=data.get("provider"),
        code=data.get("code"),
        zone=data.get("zone"),
        source=data.get("source", "unknown"),
        country=data.get("country"),
    )


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
    """Inverse of :func:`source_to_dict`."""
    return IntensitySource(
        provider=data.get("provider", "unknown"),
        signal=data.get("signal", "average"),
        basis=data.get("basis", "unknown"),
        zone=data.get("zone"),
        estimated=bool(data.get("estimated", False)),
        fallback_from=data.get("fallback_from"),
        note=data.get("note", ""),
        dataset=data.get("dataset", ""),
    )


def interval_to_dict(iv: TimelineInterval) -> dict[str, Any]:
    """JSON-ready dict of a :class:`TimelineInterval`."""
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
    """Inverse of :func:`interval_to_dict`."""
    return TimelineInterval(
        start=_dt(data["start"]),
        end=_dt(data["end"]),
        energy_kwh=float(data["energy_kwh"]),
        energy_by_component_kwh={
            k: float(v) for k, v in data.get("energy_by_component_kwh", {}).items()
        },
        intensity_g_per_kwh=float(data["intensity_g_per_kwh"]),
        emissions_g=float(data["emissions_g"]),
        intensity_estimated=bool(data.get("intensity_estimated", False)),
    )


def device_to_dict(dev: DeviceResult) -> dict[str, Any]:
    """JSON-ready dict of a :class:`DeviceResult`."""
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
    """Inverse of :func:`device_to_dict`."""
    return DeviceResult(
        component=data["component"],
        key=data["key"],
        name=data.get("name", data["key"]),
        method=data.get("method", "unknown"),
        estimated=bool(data.get("estimated", False)),
        energy_kwh=float(data.get("energy_kwh", 0.0)),
        status=data.get("status", "ok"),
        error=data.get("error"),
        index=data.get("index"),
        uuid=data.get("uuid"),
        detail=data.get("detail", ""),
    )


def _pause_to_dict(p: PauseEvent) -> dict[str, Any]:
    return {"start": _iso(p.start), "end": _iso(p.end) if p.end else None}


def _pause_from_dict(d: Mapping[str, Any]) -> PauseEvent:
    return PauseEvent(start=_dt(d["start"]), end=_dt(d["end"]) if d.get("end") else None)


def mark_to_dict(mark: Mark) -> dict[str, Any]:
    """JSON-ready dict of a :class:`Mark`."""
    return {"at": _iso(mark.at), "label": mark.label, "energy_kwh": mark.energy_kwh,
            "data": dict(mark.data)}


def mark_from_dict(data: Mapping[str, Any]) -> Mark:
    """Inverse of :func:`mark_to_dict`."""
    return Mark(at=_dt(data["at"]), label=str(data.get("label", "")),
                energy_kwh=float(data.get("energy_kwh", 0.0)), data=dict(data.get("data", {})))


def job_to_dict(job: JobInfo) -> dict[str, Any]:
    """JSON-ready dict of a :class:`JobInfo`."""
    return attrs.asdict(job)


def job_from_dict(data: Mapping[str, Any]) -> JobInfo:
    """Inverse of :func:`job_to_dict`."""

    def _int(key: str) -> int | None:
        value = data.get(key)
        return None if value is None else int(value)

    return JobInfo(
        launcher=str(data.get("launcher", "unknown")),
        job_id=None if data.get("job_id") is None else str(data["job_id"]),
        job_id_source=str(data.get("job_id_source", "unknown")),
        rank=_int("rank"),
        local_rank=_int("local_rank"),
        world_size=_int("world_size"),
        local_world_size=_int("local_world_size"),
        node_rank=_int("node_rank"),
        node=str(data.get("node", "")),
        role=str(data.get("role", "host")),
        restart_count=int(data.get("restart_count", 0) or 0),
    )


def result_to_record(result: RunResult) -> dict[str, Any]:
    """The ``"run"`` ledger record of a finished run (everything in :class:`RunResult`)."""
    from carbonsdk import __version__

    return {
        "schema": SCHEMA,
        "type": "run",
        "run_id": result.run_id,
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
    """Rebuild a :class:`RunResult` from a ``"run"`` record."""
    return RunResult(
        run_id=str(data["run_id"]),
        name=str(data.get("name", "")),
        status=str(data.get("status", "completed")),
        started_at=_dt(data["started_at"]),
        ended_at=_dt(data["ended_at"]),
        duration_s=float(data["duration_s"]),
        energy_kwh=float(data["energy_kwh"]),
        energy_by_component_kwh={
            k: float(v) for k, v in data.get("energy_by_component_kwh", {}).items()
        },
        emissions_g=float(data["emissions_g"]),
        intensity_g_per_kwh=(
            None if data.get("intensity_g_per_kwh") is None else float(data["intensity_g_per_kwh"])
        ),
        pue=float(data.get("pue", 1.0)),
        region=region_from_dict(data.get("region", {})),
        intensity_source=source_from_dict(data.get("intensity_source", {})),
        timeline=tuple(interval_from_dict(iv) for iv in data.get("timeline", [])),
        devices=tuple(device_from_dict(d) for d in data.get("devices", [])),
        tags={str(k): str(v) for k, v in data.get("tags", {}).items()},
        not_measured=dict(data.get("not_measured", {})),
        estimated_components=tuple(data.get("estimated_components", ())),
        flags=tuple(data.get("flags", ())),
        pauses=tuple(_pause_from_dict(p) for p in data.get("pauses", [])),
        interval_s=float(data.get("interval_s", 1.0)),
        host=dict(data.get("host", {})),
        error=data.get("error"),
        marks=tuple(mark_from_dict(m) for m in data.get("marks", [])),
        job=None if not data.get("job") else job_from_dict(data["job"]),
        attributed_energy_by_component_kwh={
            k: float(v) for k, v in data.get("attributed_energy_by_component_kwh", {}).items()
        },
        attributed_emissions_g=(
            None if data.get("attributed_emissions_g") is None
            else float(data["attributed_emissions_g"])
        ),
        attribution={str(k): str(v) for k, v in data.get("attribution", {}).items()},
    )


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
    return {"schema": SCHEMA, "type": "job", **job_result_to_dict(job),
            "members": [dict(m) for m in members]}


def checkpoint_record(
    partial: RunResult, seq: int, intervals: tuple[TimelineInterval, ...], *, full: bool = True
) -> dict[str, Any]:
    """A ``"checkpoint"`` record: the aligned ``intervals`` since the previous checkpoint and the
    energy of each device so far. With ``full`` it also carries all the run's metadata
    (``partial``, whose timeline is ignored); a run writes full checkpoints now and then and small
    ones in between, so that an 8-day run's checkpoints stay a few MB."""
    if full:
        record = result_to_record(partial)
        record["type"] = "checkpoint"
        record["status"] = "running"
    else:
        record = {"schema": SCHEMA, "type": "checkpoint", "run_id": partial.run_id}
    record["seq"] = seq
    record["device_energy_kwh"] = {d.key: d.energy_kwh for d in partial.devices}
    record["device_errors"] = {d.key: d.error for d in partial.devices if d.error}
    record["timeline"] = [interval_to_dict(iv) for iv in intervals]
    return record


def rebuild_from_checkpoints(records: Sequence[Mapping[str, Any]]) -> RunResult:
    """An ``"interrupted"`` :class:`RunResult` from the checkpoints of a run that never wrote
    its ``"run"`` record (sorted by ``seq``; the last one's metadata wins)."""
    ordered = sorted(records, key=lambda r: int(r.get("seq", 0)))
    timeline: list[TimelineInterval] = []
    for rec in ordered:
        for iv in rec.get("timeline", []):
            interval = interval_from_dict(iv)
            if timeline and interval.start < timeline[-1].end:
                continue  # duplicate of an interval already seen
            timeline.append(interval)
    last = ordered[-1]
    meta = next(r for r in reversed(ordered) if "started_at" in r)
    base = result_from_record({**meta, "timeline": [], "status": "interrupted"})
    energies = last.get("device_energy_kwh", {})
    errors = last.get("device_errors", {})
    devices = tuple(
        attrs.evolve(d, energy_kwh=float(energies.get(d.key, d.energy_kwh)),
                     status="degraded" if errors.get(d.key) else d.status,
                     error=errors.get(d.key, d.error))
        for d in base.devices)
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
        intensity_g_per_kwh=mean,
        timeline=tuple(timeline),
        flags=(*base.flags, "rebuilt-from-checkpoints"),
    )


# -- writing ------------------------------------------------------------------------------------


def _encode(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            + "\n").encode("utf-8")


def append_records(path: Path, records: list[Mapping[str, Any]]) -> None:
    """Append records to the ledger at ``path`` in ONE ``write()`` under an exclusive lock,
    creating the file (mode 0600) and its directory. Raises :class:`OSError` on failure."""
    payload = b"".join(_encode(r) for r in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
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
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def append_run(path: str | os.PathLike[str] | None, result: RunResult) -> None:
    """Append a finished run's ``"run"`` record (``path`` None = default ledger)."""
    append_records(_resolve(path), [result_to_record(result)])


class LedgerWriter:
    """Writes one run's records; never raises. A failed write (full disk, read-only file) is
    logged once and kept in memory, then retried with the next write, so a transient fault
    loses nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: list[Mapping[str, Any]] = []
        self._lock = threading.Lock()
        self._warned = False
        self.last_error: str | None = None

    def write(self, record: Mapping[str, Any]) -> bool:
        """Append ``record`` (and any pending ones); True when everything is on disk."""
        with self._lock:
            self._pending.append(record)
            try:
                append_records(self.path, self._pending)
            except (OSError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if not self._warned:
                    log.warning(
                        "carbonsdk: could not write the ledger %s (%s); keeping the record in "
                        "memory and retrying", self.path, self.last_error)
                    self._warned = True
                return False
            self._pending.clear()
            self.last_error = None
            return True

    @property
    def pending(self) -> int:
        """Records not yet written."""
        return len(self._pending)


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    return config.default_ledger_path() if path is None else Path(path).expanduser()


# -- reading ------------------------------------------------------------------------------------


class Ledger:
    """Reads a ledger (``path`` None = ``CARBONSDK_LEDGER`` or the platformdirs default).

    Unreadable lines (garbage, torn writes, unknown schema) are skipped and counted in
    :attr:`skipped_lines`, with one warning per read. Runs that never finished are rebuilt from
    their checkpoints with status ``"interrupted"``.
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
                    if (not isinstance(rec, dict) or not isinstance(rec.get("schema"), int)
                            or rec["schema"] > SCHEMA
                            or ("run_id" not in rec and rec.get("type") != "job")):
                        raise ValueError("not a carbonsdk record")
                except ValueError:
                    self.skipped_lines += 1
                    continue
                yield rec

    def runs(self) -> list[RunResult]:
        """All runs, oldest first (by start time)."""
        finished: dict[str, RunResult] = {}
        checkpoints: dict[str, list[dict[str, Any]]] = {}
        for rec in self._records():
            try:
                if rec.get("type") == "run":
                    finished[str(rec["run_id"])] = result_from_record(rec)
                elif rec.get("type") == "checkpoint":
                    checkpoints.setdefault(str(rec["run_id"]), []).append(rec)
            except (KeyError, TypeError, ValueError):
                self.skipped_lines += 1
        for run_id, recs in checkpoints.items():
            if run_id in finished:
                continue
            try:
                finished[run_id] = rebuild_from_checkpoints(recs)
            except (KeyError, TypeError, ValueError, StopIteration):
                self.skipped_lines += len(recs)
        if self.skipped_lines:
            log.warning("carbonsdk: skipped %d unreadable line(s) in %s",
                        self.skipped_lines, self.path)
        return sorted(finished.values(), key=lambda r: (r.started_at, r.run_id))

    def gathered_runs(self) -> list[RunResult]:
        """The member runs (summaries, without timelines) of the ``"job"`` records written by
        ``measure(gather=True)`` on rank 0; unreadable members are skipped and counted."""
        members: list[RunResult] = []
        for rec in self._records():
            if rec.get("type") != "job":
                continue
            for member in rec.get("members", []) or []:
                try:
                    members.append(result_from_record(member))
                except (KeyError, TypeError, ValueError, AttributeError):
                    self.skipped_lines += 1
        return members

    def get(self, run_id: str) -> RunResult:
        """The run with this id (or a unique prefix of it); :class:`LedgerError` if none."""
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
        """The most recently started run, or None for an empty ledger."""
        runs = self.runs()
        return runs[-1] if runs else None

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"


__all__ = [
    "SCHEMA",
    "Ledger",
    "LedgerWriter",
    "append_records",
    "append_run",
    "checkpoint_record",
    "job_record",
    "job_result_to_dict",
    "rebuild_from_checkpoints",
    "result_from_record",
    "result_to_record",
    "summary_record",
]
