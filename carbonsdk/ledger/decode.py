"""The one boundary where ledger lines become values: every record is decoded and type-checked
here; a record whose fields have the wrong JSON types raises :class:`RecordError`, which readers
count as an unreadable line (never raised to the user)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

import attrs

from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import (
    DeviceResult,
    JobInfo,
    Mark,
    PauseEvent,
    RunResult,
    TimelineInterval,
)

log = logging.getLogger("carbonsdk")


SCHEMA = 1
#: the deepest nesting (objects and arrays) a record's free-form values (tags, host facts, mark
#: data) may have; a deeper value makes the record unreadable (RecordError)
MAX_FREE_DEPTH = 16
#: integers longer than this (bits) are not numbers a run could have measured: written as null
_MAX_INT_BITS = 1024


class RecordError(ValueError):
    """A ledger record that does not decode: a missing field, a value of the wrong JSON type, a
    naive or impossible timestamp. Readers skip such a record and count it like a torn line."""


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


def _fast_interval(d: Mapping[str, Any]) -> TimelineInterval | None:
    """The common interval decoded without per-field dispatch: every field present with its
    exact JSON type (numbers as finite floats, an aware in-range timestamp); None sends it to
    the checked path of :func:`_interval`, which decodes the rest and names what is wrong. A
    ledger read is mostly intervals (``carbonsdk reprice --all`` reads them all)."""
    start: Any = d.get("start")
    end: Any = d.get("end")
    comps: Any = d.get("energy_by_component_kwh")
    kwh: Any = d.get("energy_kwh")
    g_per_kwh: Any = d.get("intensity_g_per_kwh")
    grams: Any = d.get("emissions_g")
    est: Any = d.get("intensity_estimated", False)
    if type(start) is not str or type(end) is not str or type(comps) is not dict:
        return None
    if est is not True and est is not False:
        return None
    for v in (kwh, g_per_kwh, grams, *comps.values()):
        if type(v) is not float or not math.isfinite(v):  # ints, null: the checked path
            return None
    try:
        when_start = datetime.fromisoformat(start)
        when_end = datetime.fromisoformat(end)
        if when_start.tzinfo is None or when_end.tzinfo is None:
            return None
        when_start.astimezone(UTC)
        when_end.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return TimelineInterval(when_start, when_end, kwh, comps, g_per_kwh, grams, est)


def _interval(o: _Obj) -> TimelineInterval:
    fast = _fast_interval(o.data)
    if fast is not None:
        return fast
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
        repriced_at=o.opt_when("repriced_at"),
        repriced_from=_source(o.obj("repriced_from")) if o.has("repriced_from") else None,
    )
    if o.nonfinite:
        result = attrs.evolve(result, flags=_nonfinite_flags(result.flags, o.nonfinite))
    return result


@attrs.frozen
class Repricing:
    """A decoded ``"reprice"`` record: a later pricing of run ``run_id``'s stored energy
    timeline (:func:`carbonsdk.reprice`). ``timeline``: the re-aligned intervals (kWh, g/kWh,
    g); ``emissions_g`` (g CO2eq, PUE included) and ``intensity_g_per_kwh`` (energy-weighted
    mean) their totals; ``source`` the new intensity data, ``repriced_from`` the source it
    replaced; ``flags`` the run's full flags after the repricing; ``estimated_share`` the
    fraction of the run's energy priced with estimated values (0..1); ``step_s`` the median
    step of the new series in seconds (None: no time resolution, a constant)."""

    run_id: str
    repriced_at: datetime
    repriced_from: IntensitySource
    source: IntensitySource
    emissions_g: float
    intensity_g_per_kwh: float | None
    attributed_emissions_g: float | None
    flags: tuple[str, ...]
    timeline: tuple[TimelineInterval, ...]
    estimated_share: float | None
    step_s: float | None


def _repricing(o: _Obj) -> Repricing:
    """Type-check one ``"reprice"`` record; :class:`RecordError` when it does not decode (a
    missing time, source or timeline, or a field of the wrong JSON type)."""
    run_id = o.required_text("run_id")
    if not o.has("intensity_source") or not o.has("repriced_from"):
        raise RecordError("reprice: intensity_source and repriced_from are required")
    timeline = tuple(_interval(iv) for iv in o.objs("timeline"))
    if not timeline:
        raise RecordError("timeline: expected a non-empty array of intervals")
    share = o.opt_number("estimated_share")
    if share is not None and not 0.0 <= share <= 1.0:
        raise RecordError(f"estimated_share: expected a number in [0, 1], got {share!r}")
    step = o.opt_number("step_s")
    if step is not None and step <= 0:
        raise RecordError(f"step_s: expected a positive number of seconds, got {step!r}")
    rp = Repricing(
        run_id=run_id,
        repriced_at=o.when("repriced_at"),
        repriced_from=_source(o.obj("repriced_from")),
        source=_source(o.obj("intensity_source")),
        emissions_g=o.number("emissions_g"),
        intensity_g_per_kwh=o.opt_number("intensity_g_per_kwh"),
        attributed_emissions_g=o.opt_number("attributed_emissions_g"),
        flags=o.text_list("flags"),
        timeline=timeline,
        estimated_share=share,
        step_s=step,
    )
    if o.nonfinite:
        rp = attrs.evolve(rp, flags=_nonfinite_flags(rp.flags, o.nonfinite))
    return rp
