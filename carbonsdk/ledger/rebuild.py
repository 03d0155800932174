"""Rebuilding a run that never finished (``kill -9``, power loss) from its checkpoints: the last
metadata, every interval once, every mark once; unreadable checkpoints are skipped and counted."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from carbonsdk.ledger.decode import RecordError, _interval, _mark, _nonfinite_flags, _Obj, _result
from carbonsdk.model.result import (
    Mark,
    RunResult,
    TimelineInterval,
)

log = logging.getLogger("carbonsdk")


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
