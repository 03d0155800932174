"""A run's timeline resampled for drawing: time-weighted bucket means of power (W) and grid
intensity (g/kWh), and the one-line sparkline the terminal report draws from them."""

from __future__ import annotations

from collections.abc import Sequence

from carbonsdk.model.result import RunResult
from carbonsdk.model.units import J_PER_KWH
from carbonsdk.report.format import is_finite

SPARK_CHARS = "▁▂▃▄▅▆▇█"
SPARK_CHARS_ASCII = "_.-:=+*#"


def bucket_means(
    starts_s: Sequence[float],
    ends_s: Sequence[float],
    rates: Sequence[float],
    n_buckets: int,
    t0_s: float,
    t1_s: float,
) -> list[float | None]:
    """Time-weighted mean of a piecewise-constant rate over ``n_buckets`` equal buckets of
    ``[t0_s, t1_s)`` (epoch seconds). Interval ``i`` holds ``rates[i]`` over
    ``[starts_s[i], ends_s[i])``; a bucket no interval covers is None, and an interval whose
    rate is not finite covers nothing. O(intervals + buckets). Used for power (W: the mean is
    energy / covered time) and intensity (g/kWh)."""
    span = t1_s - t0_s
    if n_buckets <= 0 or span <= 0:
        return []
    width = span / n_buckets
    acc = [0.0] * n_buckets
    cov = [0.0] * n_buckets
    for start, end, rate in zip(starts_s, ends_s, rates, strict=True):
        s, e = max(start, t0_s), min(end, t1_s)
        if e <= s or not is_finite(rate):
            continue
        i = min(n_buckets - 1, max(0, int((s - t0_s) // width)))
        while i < n_buckets:
            b0 = t0_s + i * width
            b1 = t1_s if i == n_buckets - 1 else b0 + width
            overlap = min(e, b1) - max(s, b0)
            if overlap > 0:
                acc[i] += rate * overlap
                cov[i] += overlap
            if b1 >= e:
                break
            i += 1
    return [acc[i] / cov[i] if cov[i] > 0 else None for i in range(n_buckets)]


def timeline_span_s(result: RunResult) -> tuple[float, float]:
    """The epoch seconds the run's timeline covers (first start, last end), or its start and
    end times when it has no timeline."""
    if result.timeline:
        return result.timeline[0].start.timestamp(), result.timeline[-1].end.timestamp()
    return result.started_at.timestamp(), result.ended_at.timestamp()


def run_span_s(result: RunResult) -> float:
    """How long the run ran (seconds): its recorded duration, or end minus start when that is
    not a finite number."""
    if is_finite(result.duration_s):
        return float(result.duration_s)
    return (result.ended_at - result.started_at).total_seconds()


def power_profile_w(
    result: RunResult, n_buckets: int, component: str | None = None
) -> list[float | None]:
    """Mean power in W over ``n_buckets`` equal slices of the run, of one component or of all
    measured components (None)."""
    tl = result.timeline
    starts = [iv.start.timestamp() for iv in tl]
    ends = [iv.end.timestamp() for iv in tl]
    rates = []
    for iv, s, e in zip(tl, starts, ends, strict=True):
        kwh = iv.energy_kwh if component is None else iv.energy_by_component_kwh.get(component, 0.0)
        rates.append(kwh * J_PER_KWH / (e - s) if e > s else 0.0)
    t0, t1 = timeline_span_s(result)
    return bucket_means(starts, ends, rates, n_buckets, t0, t1)


def intensity_profile_g_per_kwh(result: RunResult, n_buckets: int) -> list[float | None]:
    """Time-weighted mean grid intensity in g/kWh over ``n_buckets`` equal slices of the run."""
    tl = result.timeline
    t0, t1 = timeline_span_s(result)
    return bucket_means(
        [iv.start.timestamp() for iv in tl],
        [iv.end.timestamp() for iv in tl],
        [iv.intensity_g_per_kwh for iv in tl],
        n_buckets,
        t0,
        t1,
    )


def sparkline(
    values: Sequence[float | None],
    *,
    lo: float | None = None,
    hi: float | None = None,
    ascii_only: bool = False,
) -> str:
    """One character per value on an 8-level scale from ``lo`` (default: the minimum) to
    ``hi`` (default: the maximum); a missing value is a space, a flat series sits mid-height
    (at the bottom when it is all zero); a value that is not finite is missing too."""
    chars = SPARK_CHARS_ASCII if ascii_only else SPARK_CHARS
    values = [v if v is not None and is_finite(v) else None for v in values]
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    low = min(present) if lo is None or not is_finite(lo) else lo
    high = max(present) if hi is None or not is_finite(hi) else hi
    span = high - low
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif span <= 1e-12 * max(1.0, abs(high)):
            out.append(chars[0] if high == 0 else chars[len(chars) // 2 - 1])
        else:
            level = round((min(max(v, low), high) - low) / span * (len(chars) - 1))
            out.append(chars[level])
    return "".join(out)


__all__ = [
    "SPARK_CHARS",
    "SPARK_CHARS_ASCII",
    "bucket_means",
    "intensity_profile_g_per_kwh",
    "power_profile_w",
    "run_span_s",
    "sparkline",
    "timeline_span_s",
]
