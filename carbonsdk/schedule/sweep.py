"""Flexible Start and Pause and Resume at scale: many jobs × zones × start times × windows,
vectorised with numpy (imported lazily), in chunks of start times so that memory stays bounded
whatever the length of the series (5-minute data for years works).

For a zone with a regular series of step ``h`` and values ``x[0..n)``, a job of ``d`` seconds
(``δ = d / h`` steps, possibly fractional) starting at step ``i``:

- **baseline**: ``(C(i + δ) - C(i)) / δ`` with ``C`` the running integral of ``x`` (prefix sums;
  a fractional end uses the partial step exactly);
- **Flexible Start** with delay ``w``: ``min over k = 0..⌊w/h⌋ of baseline(i + k)``, a sliding
  minimum computed with a sparse table (``O(n log K)``);
- **Pause and Resume** with extension ``e``: the window ``[i, i + (d + e)/h)`` is ``W`` whole
  steps plus a partial step of ``f`` steps; the optimum is the sum of the smallest ``δ`` units
  of intensity in it (a fractional knapsack), i.e. ``min`` over how much of the partial step is
  used (0, all of it, or the fractional part of ``δ``) of ``a·x[i+W] + G(δ - a)``, where
  ``G(y)`` is the sum of the ``⌊y⌋`` smallest whole steps plus ``y - ⌊y⌋`` of the next one.
  ``G`` comes from a sliding k-smallest selection: a wavelet matrix over the ranks of the
  values answers "sum of the m smallest in ``[l, r)``" and "m-th smallest" for all starts at
  once in ``O(log n)`` vectorised steps.

Every figure is a job's energy-weighted mean intensity in g/kWh (constant power, as in Dodge et
al. 2022); savings are ``1 - optimised / baseline`` per start. :func:`reference_point` is the
plain brute force the tests and ``benchmarks/sweep.py`` check this against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from numbers import Real
from typing import TYPE_CHECKING, Any

import attrs

from carbonsdk.clock import to_datetime, to_epoch_s
from carbonsdk.exceptions import ConfigurationError, DataRangeError
from carbonsdk.model.intensity import IntensitySeries
from carbonsdk.schedule.durations import duration_s, format_duration, parse_duration

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

SWEEP_STRATEGIES = ("flexible_start", "pause_and_resume")
#: default number of start times processed at once (bounds memory)
DEFAULT_CHUNK_STARTS = 16384
_TOL = 1e-9


@attrs.frozen
class SweepJob:
    """A job of the sweep: a name, its running time in seconds, and optionally its energy in
    kWh (only used to turn per-kWh figures into grams)."""

    name: str
    duration_s: float
    energy_kwh: float | None = None


@attrs.frozen
class SweepWindow:
    """A scheduling window: absolute (``seconds``) or a fraction of each job's duration
    (``fraction``); used as the max delay for Flexible Start and the max extension for Pause
    and Resume. ``label`` is how it is printed (``"24h"``, ``"50%"``)."""

    label: str
    seconds: float | None = None
    fraction: float | None = None

    def for_job(self, job_duration_s: float) -> float:
        """The window in seconds for a job of ``job_duration_s`` seconds."""
        if self.seconds is not None:
            return self.seconds
        assert self.fraction is not None
        return self.fraction * job_duration_s

    @classmethod
    def parse(cls, value: object) -> SweepWindow:
        """From a timedelta or ``"24h"`` (absolute), or a number / ``"50%"`` (fraction)."""
        if isinstance(value, SweepWindow):
            return value
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
            if seconds < 0:
                raise ConfigurationError(f"sweep window {value!r} is negative")
            return cls(format_duration(seconds).replace(" ", ""), seconds=seconds)
        if isinstance(value, Real) and not isinstance(value, bool):
            frac = float(value)
            if not (0 <= frac < math.inf):
                raise ConfigurationError(f"sweep window {value!r}: a fraction must be >= 0")
            return cls(f"{frac * 100:g}%", fraction=frac)
        if isinstance(value, str):
            text = value.strip()
            if text.endswith("%"):
                try:
                    frac = float(text[:-1]) / 100.0
                except ValueError:
                    frac = -1.0
                if not (0 <= frac < math.inf):
                    raise ConfigurationError(
                        f"sweep window {value!r} is not valid: expected e.g. '50%'"
                    )
                return cls(text, fraction=frac)
            return cls(text, seconds=parse_duration(text).total_seconds())
        raise ConfigurationError(
            f"sweep window {value!r} is not valid: expected a timedelta, '24h', a fraction "
            "such as 0.5, or '50%'"
        )


def _job(value: object) -> SweepJob:
    if isinstance(value, SweepJob):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3):
        name = str(value[0])
        energy = float(value[2]) if len(value) == 3 and value[2] is not None else None
        return SweepJob(name, duration_s(value[1], name=f"duration of job {name!r}"), energy)
    seconds = duration_s(value, name="sweep job duration")
    return SweepJob(format_duration(seconds), seconds)


@attrs.frozen(eq=False)
class ZoneSweep:
    """The sweep of one zone. ``start_s``: epoch seconds of each start (shape ``(S,)``);
    ``baseline_g_per_kwh``: shape ``(jobs, S)``; ``optimised_g_per_kwh[strategy]``: shape
    ``(jobs, windows, S)``; all energy-weighted mean intensities in g/kWh. ``estimated_share``:
    share of the swept steps whose intensity was estimated."""

    zone: str
    step_s: float
    start_s: NDArray[np.float64]
    baseline_g_per_kwh: NDArray[np.float64]
    optimised_g_per_kwh: Mapping[str, NDArray[np.float64]]
    estimated_share: float = 0.0

    def savings(self, strategy: str) -> NDArray[np.float64]:
        """Per-start savings fraction ``1 - optimised / baseline``, shape ``(jobs, windows,
        S)`` (0 where the baseline is 0)."""
        import numpy as np

        opt = self.optimised_g_per_kwh[strategy]
        base = self.baseline_g_per_kwh[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(base > 0, 1.0 - opt / np.where(base > 0, base, 1.0), 0.0)
        return out


@attrs.frozen(eq=False)
class SweepResult:
    """Everything a sweep computed: the jobs, windows and strategies swept and one
    :class:`ZoneSweep` per zone (in the order given)."""

    jobs: tuple[SweepJob, ...]
    windows: tuple[SweepWindow, ...]
    strategies: tuple[str, ...]
    zones: tuple[ZoneSweep, ...]

    def zone(self, name: str) -> ZoneSweep:
        """The sweep of one zone (KeyError when absent)."""
        for z in self.zones:
            if z.zone == name:
                return z
        raise KeyError(name)

    def zone_mean_savings(self, strategy: str) -> NDArray[np.float64]:
        """Mean savings fraction over start times, shape ``(zones, jobs, windows)``."""
        import numpy as np

        return np.stack([z.savings(strategy).mean(axis=2) for z in self.zones])

    def mean_savings(self, strategy: str) -> NDArray[np.float64]:
        """Mean savings fraction over zones and start times (each zone weighted equally),
        shape ``(jobs, windows)``."""
        out: NDArray[np.float64] = self.zone_mean_savings(strategy).mean(axis=0)
        return out


# --------------------------------------------------------------------------- primitives


class WaveletMatrix:
    """Range k-smallest queries on a fixed array of floats (built over the ranks of the
    values, ties broken by position, so every rank is distinct): for arrays of ranges
    ``[l, r)`` and counts ``m`` (1 <= m <= r - l), :meth:`smallest` returns the sum of the
    ``m`` smallest values and the ``m``-th smallest, vectorised over all queries."""

    def __init__(self, values: NDArray[np.float64]) -> None:
        import numpy as np

        n = len(values)
        order = np.argsort(values, kind="stable")
        ranks = np.empty(n, dtype=np.int64)
        ranks[order] = np.arange(n, dtype=np.int64)
        self.sorted_values = values[order]
        self.bits = max(1, int(n - 1).bit_length())
        self.zeros: list[NDArray[np.int64]] = []
        self.sum0: list[NDArray[np.float64]] = []
        self.nzeros: list[int] = []
        cur = ranks
        for level in range(self.bits - 1, -1, -1):
            bit = (cur >> level) & 1
            is0 = bit == 0
            z = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(is0, out=z[1:])
            s0 = np.zeros(n + 1, dtype=np.float64)
            np.cumsum(np.where(is0, self.sorted_values[cur], 0.0), out=s0[1:])
            self.zeros.append(z)
            self.sum0.append(s0)
            self.nzeros.append(int(z[-1]))
            cur = np.concatenate((cur[is0], cur[~is0]))

    def smallest(
        self, lo: NDArray[np.int64], hi: NDArray[np.int64], m: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(sum of the m smallest, m-th smallest)`` in each ``values[lo:hi]``."""
        import numpy as np

        total = np.zeros(len(lo))
        rank = np.zeros(len(lo), dtype=np.int64)
        k = np.full(len(lo), m, dtype=np.int64)
        lo = lo.astype(np.int64, copy=True)
        hi = hi.astype(np.int64, copy=True)
        for li, level in enumerate(range(self.bits - 1, -1, -1)):
            z = self.zeros[li]
            s0 = self.sum0[li]
            l0 = z[lo]
            r0 = z[hi]
            cnt = r0 - l0
            go0 = k <= cnt
            go1 = ~go0
            total += np.where(go1, s0[hi] - s0[lo], 0.0)
            k = np.where(go0, k, k - cnt)
            nz = self.nzeros[li]
            lo = np.where(go0, l0, nz + lo - l0)
            hi = np.where(go0, r0, nz + hi - r0)
            rank |= go1.astype(np.int64) << level
        kth = self.sorted_values[rank]
        return total + k * kth, kth


class _SlidingMin:
    """Sliding minima of one array for windows of any length (sparse table)."""

    def __init__(self, values: NDArray[np.float64], max_len: int) -> None:
        import numpy as np

        self.levels = [values]
        length = 1
        while 2 * length <= max_len:
            prev = self.levels[-1]
            nxt = np.minimum(prev[:-length], prev[length:]) if len(prev) > length else prev[:0]
            self.levels.append(nxt)
            length *= 2

    def query(self, starts: NDArray[np.int64], length: int) -> NDArray[np.float64]:
        """``min(values[i : i + length])`` for each ``i`` in ``starts`` (length >= 1)."""
        import numpy as np

        p = length.bit_length() - 1
        table = self.levels[p]
        out: NDArray[np.float64] = np.minimum(table[starts], table[starts + length - (1 << p)])
        return out


def _cum(
    prefix: NDArray[np.float64], values: NDArray[np.float64], x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Running integral at fractional step positions ``x`` (0 <= x <= n)."""
    import numpy as np

    i = np.minimum(np.floor(x).astype(np.int64), len(values) - 1)
    out: NDArray[np.float64] = prefix[i] + (x - i) * values[i]
    return out


def _steps(seconds: float, step_s: float) -> tuple[int, float]:
    """Whole steps and the fractional remainder (0 when within rounding)."""
    q = seconds / step_s
    whole = math.floor(q + _TOL)
    frac = q - whole
    return whole, (frac if frac > _TOL else 0.0)


def span_steps(
    job_s: float, windows_s: Sequence[float], step_s: float, strategies: Sequence[str]
) -> int:
    """How many steps from a start the sweep reads (the longest window plus the job)."""
    need = math.ceil(job_s / step_s - _TOL)
    for w in windows_s:
        if "flexible_start" in strategies:
            k, _ = _steps(w, step_s)
            need = max(need, k + math.ceil(job_s / step_s - _TOL))
        if "pause_and_resume" in strategies:
            whole, frac = _steps(job_s + w, step_s)
            need = max(need, whole + (1 if frac > 0 else 0))
    return max(need, 1)


def sweep_values(
    values: NDArray[np.float64],
    step_s: float,
    jobs_s: Sequence[float],
    windows: Sequence[SweepWindow],
    *,
    strategies: Sequence[str] = SWEEP_STRATEGIES,
    first: int = 0,
    count: int | None = None,
    chunk_starts: int = DEFAULT_CHUNK_STARTS,
) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
    """Sweep a regular array of intensities (g/kWh, step ``step_s`` seconds) for starts
    ``first .. first + count - 1`` (step indices; default: every start whose windows fit).

    Returns ``(baseline, optimised)``: baseline shape ``(jobs, S)``, ``optimised[strategy]``
    shape ``(jobs, windows, S)``, energy-weighted mean intensities in g/kWh for constant
    power. Raises :class:`DataRangeError` when the windows of the last start run past the data.
    """
    import numpy as np

    x = np.ascontiguousarray(values, dtype=np.float64)
    n = len(x)
    spans = [span_steps(j, [w.for_job(j) for w in windows], step_s, strategies) for j in jobs_s]
    span = max(spans) if spans else 1
    if count is None:
        count = n - span - first + 1
    if count <= 0 or first < 0 or first + count - 1 + span > n:
        raise DataRangeError(
            f"the series has {n} steps of {format_duration(step_s)}; starts {first}.."
            f"{first + max(count, 1) - 1} need {span} steps after each start"
        )
    base_out = np.empty((len(jobs_s), count))
    opt_out = {s: np.empty((len(jobs_s), len(windows), count)) for s in strategies}
    for c0 in range(0, count, max(1, chunk_starts)):
        c1 = min(count, c0 + max(1, chunk_starts))
        lo = first + c0
        seg = x[lo : first + c1 - 1 + span]
        _sweep_chunk(
            seg,
            step_s,
            jobs_s,
            windows,
            strategies,
            c1 - c0,
            base_out[:, c0:c1],
            {s: a[:, :, c0:c1] for s, a in opt_out.items()},
        )
    return base_out, opt_out


def _sweep_chunk(
    seg: NDArray[np.float64],
    step_s: float,
    jobs_s: Sequence[float],
    windows: Sequence[SweepWindow],
    strategies: Sequence[str],
    count: int,
    base_out: NDArray[np.float64],
    opt_out: Mapping[str, NDArray[np.float64]],
) -> None:
    import numpy as np

    n = len(seg)
    prefix = np.zeros(n + 1)
    np.cumsum(seg, out=prefix[1:])
    starts = np.arange(count, dtype=np.int64)
    wavelet: WaveletMatrix | None = None
    for j, job_s in enumerate(jobs_s):
        delta = job_s / step_s
        n_e = n - math.ceil(delta - _TOL) + 1
        pos = np.arange(n_e, dtype=np.float64)
        each = (_cum(prefix, seg, pos + delta) - prefix[:n_e]) / delta
        base_out[j] = each[:count]
        ks = [_steps(w.for_job(job_s), step_s)[0] for w in windows]
        if "flexible_start" in strategies:
            smin = _SlidingMin(each, max(ks) + 1)
            for w, k in enumerate(ks):
                opt_out["flexible_start"][j, w] = smin.query(starts, k + 1)
        if "pause_and_resume" in strategies:
            if wavelet is None:
                wavelet = WaveletMatrix(seg)
            for w, win in enumerate(windows):
                whole, frac = _steps(job_s + win.for_job(job_s), step_s)
                best = _pr_chunk(wavelet, seg, prefix, starts, whole, frac, delta) / delta
                # running without pauses is always feasible: never report worse (rounding)
                opt_out["pause_and_resume"][j, w] = np.minimum(best, base_out[j])


def _pr_chunk(
    wm: WaveletMatrix,
    seg: NDArray[np.float64],
    prefix: NDArray[np.float64],
    starts: NDArray[np.int64],
    whole: int,
    frac: float,
    delta: float,
) -> NDArray[np.float64]:
    """Sum of the smallest ``delta`` step-units of intensity in ``[i, i + whole + frac)``."""
    import numpy as np

    def g(y: float) -> NDArray[np.float64]:
        # sum of the y smallest units among the whole steps [i, i + whole)
        if y <= _TOL:
            return np.zeros(len(starts))
        if y >= whole - _TOL:
            out: NDArray[np.float64] = prefix[starts + whole] - prefix[starts]
            return out
        m = min(math.floor(y) + 1, whole)
        total, kth = wm.smallest(starts, starts + whole, m)
        res: NDArray[np.float64] = total - (m - y) * kth
        return res

    if frac <= 0.0:
        return g(delta)
    partial = seg[starts + whole]
    a_max = min(frac, delta)
    best = a_max * partial + g(delta - a_max)
    if delta <= whole + _TOL:
        best = np.minimum(best, g(delta))
    fl = math.floor(delta + _TOL)
    a = delta - fl
    if fl <= whole and a <= a_max + _TOL and a > _TOL:
        best = np.minimum(best, a * partial + g(fl))
    return best


# ----------------------------------------------------------------------------- public API


def _regular(series: IntensitySeries, label: str) -> float:
    b = series.boundaries_s
    step = b[1] - b[0]
    for i in range(1, len(b) - 1):
        if abs((b[i + 1] - b[i]) - step) > 1e-6:
            raise ConfigurationError(
                f"sweep needs a regular series, but {label} has a "
                f"{format_duration(b[i + 1] - b[i])} step at {to_datetime(b[i]).isoformat()} "
                f"after {format_duration(step)} steps"
            )
    return step


def sweep(
    series: Mapping[str, IntensitySeries] | IntensitySeries,
    jobs: Sequence[SweepJob | tuple[Any, ...] | timedelta | str | float],
    windows: Sequence[SweepWindow | timedelta | str | float],
    *,
    strategies: Sequence[str] = SWEEP_STRATEGIES,
    starts: tuple[datetime, datetime] | None = None,
    chunk_starts: int = DEFAULT_CHUNK_STARTS,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> SweepResult:
    """Flexible Start and Pause and Resume for every job × zone × window × start time.

    ``series``: zone label → regular :class:`IntensitySeries` (or one series). ``jobs``:
    :class:`SweepJob`, ``(name, duration[, energy_kwh])`` or a duration. ``windows``:
    timedelta / ``"24h"`` (absolute) or number / ``"50%"`` (fraction of each job's duration);
    each is the max delay of Flexible Start and the max extension of Pause and Resume.
    ``starts``: ``(first, end)`` aware datetimes: every step start in ``[first, end)``;
    default every step start whose windows fit in the data. ``chunk_starts``: start times
    processed at once (bounds memory to ``O((chunk + window) log)`` per zone). ``progress``:
    wraps the per-zone iteration (e.g. :func:`carbonsdk.report.progress_iter` for a progress bar
    on a terminal); None iterates silently.
    """
    import numpy as np

    bad = [s for s in strategies if s not in SWEEP_STRATEGIES]
    if bad or not strategies:
        raise ConfigurationError(
            f"strategies={tuple(strategies)!r} is not valid: expected some of {SWEEP_STRATEGIES}"
        )
    if isinstance(chunk_starts, bool) or not isinstance(chunk_starts, int) or chunk_starts < 1:
        raise ConfigurationError(
            f"chunk_starts={chunk_starts!r} is not valid: expected an int >= 1"
        )
    job_list = tuple(_job(j) for j in jobs)
    win_list = tuple(SweepWindow.parse(w) for w in windows)
    if not job_list or not win_list:
        raise ConfigurationError("sweep needs at least one job and one window")
    if isinstance(series, IntensitySeries):
        series_map: Mapping[str, IntensitySeries] = {series.source.zone or "series": series}
    else:
        series_map = series
    zones = []
    items: Iterable[Any] = series_map.items()
    for label, s in progress(items) if progress is not None else items:
        step = _regular(s, label)
        b0 = s.boundaries_s[0]
        first, count = 0, None
        if starts is not None:
            a, e = (to_epoch_s(starts[0]), to_epoch_s(starts[1]))
            first = math.ceil((a - b0) / step - _TOL)
            last = math.ceil((e - b0) / step - _TOL) - 1
            count = last - first + 1
            if first < 0:
                raise DataRangeError(
                    f"{label}: the data starts at {to_datetime(b0).isoformat()}, after the "
                    f"first start {starts[0].isoformat()}"
                )
        values = np.asarray(s.values_g_per_kwh, dtype=np.float64)
        try:
            base, opt = sweep_values(
                values,
                step,
                [j.duration_s for j in job_list],
                win_list,
                strategies=strategies,
                first=first,
                count=count,
                chunk_starts=chunk_starts,
            )
        except DataRangeError as exc:
            raise DataRangeError(
                f"{label}: data covers {to_datetime(b0).isoformat()} to "
                f"{to_datetime(s.boundaries_s[-1]).isoformat()}; {exc}"
            ) from None
        n_starts = base.shape[1]
        start_s = b0 + step * (first + np.arange(n_starts, dtype=np.float64))
        est = np.asarray(s.estimated, dtype=bool)
        zones.append(
            ZoneSweep(label, step, start_s, base, opt, float(est.mean()) if len(est) else 0.0)
        )
    return SweepResult(job_list, win_list, tuple(strategies), tuple(zones))


def reference_point(
    values: Sequence[float], step_s: float, start: int, job_s: float, window_s: float, strategy: str
) -> tuple[float, float]:
    """Plain brute force for one start (no numpy, no prefix sums): ``(baseline, optimised)``
    energy-weighted mean intensities (g/kWh) of a constant-power job of ``job_s`` seconds
    starting at step ``start`` of a regular series."""

    def run_from(t: float) -> float:
        # integral of intensity over [t, t + job_s), t in seconds from step 0
        total = 0.0
        a, e = t, t + job_s
        i = int(a // step_s)
        while a < e - 1e-9:
            nxt = min(e, (i + 1) * step_s)
            total += values[i] * (nxt - a)
            a = nxt
            i += 1
        return total / job_s

    t0 = start * step_s
    base = run_from(t0)
    if strategy == "flexible_start":
        k_max = math.floor(window_s / step_s + _TOL)
        return base, min(run_from(t0 + k * step_s) for k in range(k_max + 1))
    if strategy != "pause_and_resume":
        raise ConfigurationError(f"strategy {strategy!r} is not valid")
    hi = t0 + job_s + window_s
    pieces = []
    i = start
    while i * step_s < hi - 1e-9:
        a, e = i * step_s, min((i + 1) * step_s, hi)
        pieces.append((values[i], e - a))
        i += 1
    pieces.sort(key=lambda p: p[0])
    remaining = job_s
    total = 0.0
    for v, length in pieces:
        take = min(length, remaining)
        total += v * take
        remaining -= take
        if remaining <= 1e-9:
            break
    return base, total / job_s
