"""Plumbing shared by the live providers (Electricity Maps, WattTime, UK Carbon Intensity,
EIA, ENTSO-E): their common options, checks and HTTP call (:class:`LiveProvider`),
hour-aligned request windows, cached fetching, wire timestamps, and the assembly of fetched
steps into a gap-free :class:`IntensitySeries`."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

import attrs

from carbonsdk import config
from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError, ProviderError
from carbonsdk.http import HttpError, request
from carbonsdk.intensity.cache import (
    HOUR_S,
    CacheKey,
    IntensityCache,
    RawStep,
)
from carbonsdk.model.intensity import IntensitySeries, IntensitySource

_log = logging.getLogger(__name__)

#: Longest gap (seconds) between fetched steps that :func:`steps_to_series` fills by holding
#: the neighbouring value (flagged estimated); a longer gap is a provider failure.
MAX_FILL_S = 6 * HOUR_S


def iso_z(epoch_s: float, *, seconds: bool = True) -> str:
    """``2024-05-01T12:00:00Z`` (or without seconds) for UTC epoch seconds, as the providers'
    query parameters expect."""
    return to_datetime(epoch_s).strftime("%Y-%m-%dT%H:%M:%SZ" if seconds else "%Y-%m-%dT%H:%MZ")


def parse_wire_time(text: Any) -> float:
    """UTC epoch seconds of an ISO 8601 timestamp from a provider payload; raises
    :class:`ValueError` for a non-string or a timestamp without a UTC offset."""
    if not isinstance(text, str):
        raise ValueError("timestamp is not a string")
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("timestamp without UTC offset")
    return when.timestamp()


def floor_hour_s(epoch_s: float) -> float:
    """The start of the UTC hour holding ``epoch_s`` (seconds)."""
    return math.floor(epoch_s / HOUR_S) * HOUR_S


def ceil_hour_s(epoch_s: float) -> float:
    """The first UTC hour boundary at or after ``epoch_s`` (seconds)."""
    return math.ceil(epoch_s / HOUR_S) * HOUR_S


def hour_windows(start_s: float, end_s: float, max_span_s: float) -> list[tuple[float, float]]:
    """``[floor_hour(start), ceil_hour(end))`` cut into consecutive windows of at most
    ``max_span_s`` seconds (a whole number of hours): the request and cache-key unit."""
    if max_span_s < HOUR_S:
        raise ValueError("windows must span at least one hour")
    span = math.floor(max_span_s / HOUR_S) * HOUR_S
    lo, hi = floor_hour_s(start_s), ceil_hour_s(end_s)
    if hi <= lo:
        hi = lo + HOUR_S
    out = []
    while lo < hi:
        out.append((lo, min(hi, lo + span)))
        lo += span
    return out


def cached_fetch(
    cache: IntensityCache | None,
    key: CacheKey,
    windows: Iterable[tuple[float, float]],
    fetch: Callable[[float, float], list[RawStep]],
    *,
    offline: bool = False,
) -> list[RawStep]:
    """The steps of every window ``(start_s, end_s)``: from ``cache`` when it holds a fresh
    entry, else from ``fetch(start_s, end_s)`` (then stored). With ``offline`` (the
    ``CARBONSDK_OFFLINE`` switch) a miss raises :class:`ProviderError` instead of fetching."""
    out: list[RawStep] = []
    for lo, hi in windows:
        cached = cache.get(key, lo, hi) if cache is not None else None
        if cached is not None:
            out.extend(cached)
            continue
        if offline:
            raise ProviderError(
                f"{key.provider}: CARBONSDK_OFFLINE is set and no cached {key.kind} covers "
                f"zone {key.zone} from {to_datetime(lo).isoformat()} to "
                f"{to_datetime(hi).isoformat()}"
            )
        fetched = fetch(lo, hi)
        if cache is not None:
            cache.put(key, lo, hi, fetched)
        out.extend(fetched)
    return out


def steps_to_series(
    steps: Iterable[RawStep],
    start_s: float,
    end_s: float,
    source: IntensitySource,
    *,
    max_fill_s: float = MAX_FILL_S,
) -> IntensitySeries:
    """A gap-free series covering exactly ``[start_s, end_s)`` (epoch seconds) from fetched
    steps, in any order, possibly overlapping or with gaps.

    Later steps with the same start win; an overlapping step is cut at the next start; steps
    with a non-finite or negative value are dropped. A gap (before the first step, between
    steps, after the last) of at most ``max_fill_s`` seconds is filled by holding the value
    before it (the first value for a leading gap), flagged estimated. ``source.estimated`` is
    set to whether any step is estimated. Raises :class:`ProviderError` when no step overlaps
    the range or a gap is longer than ``max_fill_s``.
    """
    if not end_s > start_s:
        raise ConfigurationError(
            f"empty time range: end {to_datetime(end_s).isoformat()} is not after "
            f"start {to_datetime(start_s).isoformat()}"
        )
    by_start: dict[float, RawStep] = {}
    for s, e, v, est in steps:
        if e > s and math.isfinite(v) and v >= 0.0:
            by_start[s] = (s, e, v, est)
    ordered = sorted(by_start.values())
    cut = [
        (s, min(e, ordered[i + 1][0]) if i + 1 < len(ordered) else e, v, est)
        for i, (s, e, v, est) in enumerate(ordered)
    ]
    relevant = [st for st in cut if st[1] > start_s and st[0] < end_s]
    where = f"{source.provider} data for zone {source.zone or 'unknown'}"
    span = f"{to_datetime(start_s).isoformat()} to {to_datetime(end_s).isoformat()}"
    if not relevant:
        raise ProviderError(f"no {where} between {span}")

    bounds: list[float] = []
    values: list[float] = []
    flags: list[bool] = []

    def fill(lo: float, hi: float, value: float) -> None:
        if hi - lo > max_fill_s:
            raise ProviderError(
                f"{where} has a gap of {(hi - lo) / HOUR_S:.1f} h from "
                f"{to_datetime(lo).isoformat()} to {to_datetime(hi).isoformat()} (at most "
                f"{max_fill_s / HOUR_S:g} h may be filled) in the range {span}"
            )
        bounds.append(lo)
        values.append(value)
        flags.append(True)

    cursor = start_s
    previous: float | None = None
    for s, e, v, est in relevant:
        s, e = max(s, start_s), min(e, end_s)
        if s > cursor:
            fill(cursor, s, v if previous is None else previous)
        bounds.append(s)
        values.append(v)
        flags.append(est)
        cursor, previous = e, v
    if cursor < end_s and previous is not None:
        fill(cursor, end_s, previous)
    bounds.append(end_s)
    return IntensitySeries(
        boundaries_s=tuple(bounds),
        values_g_per_kwh=tuple(values),
        estimated=tuple(flags),
        source=attrs.evolve(source, estimated=any(flags)),
    )


def resolve_cache(cache: IntensityCache | Literal[False] | None) -> IntensityCache | None:
    """A provider's ``cache=`` option: None → the default on-disk cache
    (:func:`carbonsdk.config.cache_dir`), False → no cache, or the given instance."""
    if cache is None:
        return IntensityCache()
    if cache is False:
        return None
    return cache


def credential(value: str | None, env_name: str, missing: str) -> str:
    """A provider's credential: ``value`` when passed, else the environment variable
    ``env_name`` (read with :func:`carbonsdk.config.secret`), without surrounding white space.
    Raises :class:`ConfigurationError` with the message ``missing`` when it is unset or blank
    (the message names the variable, never a value)."""
    found = value if value is not None else config.secret(env_name)
    if not found or not found.strip():
        raise ConfigurationError(missing)
    return found.strip()


def check_time_limits(timeout_s: float, budget_s: float) -> None:
    """Raise :class:`ConfigurationError` unless ``timeout_s`` (per HTTP attempt) and
    ``budget_s`` (per provider call) are positive numbers of seconds."""
    if not (timeout_s > 0 and budget_s > 0):
        raise ConfigurationError(
            f"timeout_s={timeout_s!r} and budget_s={budget_s!r} must be positive seconds"
        )


class LiveProvider:
    """What every live provider shares: its common options, the ``CARBONSDK_OFFLINE`` switch
    and its one kind of HTTP call.

    Options (set by :meth:`_configure`): ``base_url``; ``timeout_s``, the bound of each HTTP
    attempt, and ``budget_s``, the bound of a whole provider call, retries and waits
    included (seconds; :meth:`_deadline` turns it into a :func:`time.monotonic` deadline);
    ``retries``; ``cache`` (see :func:`resolve_cache`); ``max_fill_s``, the longest gap
    filled (seconds); ``sleep`` and ``now_s`` (UTC epoch seconds), injectable for tests.
    :meth:`_http_get` is a GET through :func:`carbonsdk.http.request` whose errors start with
    :attr:`label` and end with the :attr:`hints` text for their HTTP status.
    """

    #: the provider's short name (``"eia"``): cache keys, offline errors
    name: str
    #: how the provider's HTTP errors begin (``"EIA"``, ``"Carbon Intensity API"``)
    label: ClassVar[str]
    #: text appended to an HTTP error of that status (credential hints, rate limits)
    hints: ClassVar[Mapping[int, str]] = {}

    base_url: str
    timeout_s: float
    budget_s: float
    retries: int
    cache: IntensityCache | None
    max_fill_s: float

    def _configure(
        self,
        base_url: str,
        timeout_s: float,
        budget_s: float,
        retries: int,
        cache: IntensityCache | Literal[False] | None,
        max_fill_s: float,
        sleep: Callable[[float], None],
        now_s: Callable[[], float],
        /,
    ) -> None:
        """Check and keep the common options (see the class docstring), passed in the order
        of the providers' own parameters."""
        check_time_limits(timeout_s, budget_s)
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.budget_s = float(budget_s)
        self.retries = int(retries)
        self.cache = resolve_cache(cache)
        self.max_fill_s = float(max_fill_s)
        self._sleep = sleep
        self._now_s = now_s

    def _deadline(self, deadline_s: float | None) -> float:
        """``deadline_s`` (a :func:`time.monotonic` value), or ``budget_s`` from now."""
        return deadline_s if deadline_s is not None else time.monotonic() + self.budget_s

    def _require_online(self) -> None:
        """Raise :class:`ProviderError` when ``CARBONSDK_OFFLINE`` is set."""
        if config.offline():
            raise ProviderError(f"{self.name}: CARBONSDK_OFFLINE is set: no network")

    def _past_and_ahead(
        self,
        start_s: float,
        end_s: float,
        history: Callable[[float, float], list[RawStep]],
        forecast: Callable[[float, float], list[RawStep]],
    ) -> list[RawStep]:
        """The steps for ``[start_s, end_s)`` (epoch seconds): ``history(lo, hi)`` for the part
        up to now, then, when the range ends more than an hour ahead, ``forecast(lo, hi)`` for
        the rest, of which only the steps after the last history step are kept (history
        wins). A failed forecast is an error only when there is no history: otherwise the
        last value is held (within ``max_fill_s``)."""
        now_s = self._now_s()
        steps: list[RawStep] = []
        past_end_s = min(end_s, now_s)
        if start_s < past_end_s:
            steps += history(start_s, past_end_s)
        if end_s > now_s + HOUR_S:
            try:
                ahead = forecast(max(start_s, now_s), end_s)
                last_known_s = max((s for s, _, _, _ in steps), default=-math.inf)
                steps += [st for st in ahead if st[0] > last_known_s]  # history wins
            except ProviderError:
                if not steps:
                    raise
                _log.debug("%s forecast unavailable; holding the last value", self.label)
        return steps

    def _http_get(
        self, path: str, deadline_s: float, *, as_json: bool = True, **options: Any
    ) -> Any:
        """GET ``base_url + path`` (``options``: ``headers``, ``params``, ``auth`` as for
        :func:`carbonsdk.http.request`) by ``deadline_s``: the body parsed as JSON, or its
        text when not ``as_json``. Raises :class:`HttpError`, reworded (see the class)."""
        try:
            resp = request(
                "GET",
                f"{self.base_url}{path}",
                timeout_s=self.timeout_s,
                retries=self.retries,
                max_wait_s=self.budget_s,
                deadline_s=deadline_s,
                sleep=self._sleep,
                **options,
            )
            return resp.json() if as_json else resp.text
        except HttpError as exc:
            hint = self.hints.get(exc.status, "") if exc.status is not None else ""
            raise HttpError(
                f"{self.label}: {exc}{hint}",
                exc.status,
                timed_out=exc.timed_out,
                location=exc.location,
                service_message=exc.service_message,
            ) from None
