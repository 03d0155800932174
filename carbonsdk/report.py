"""The terminal report: the end-of-run panel, the paper-ready statement and the live panel.

:mod:`rich` is imported here (lazily, inside the functions that draw) and in the CLI only, so
that importing this module stays cheap for :mod:`carbonsdk.tracking`. The pure helpers here
(unit formatting, time-weighted resampling of the timeline, sparklines, the statement) are
shared with :mod:`carbonsdk.report_html`.

Output rules: ``NO_COLOR`` is honoured (rich reads it), output that is not a terminal gets plain
text with no escape codes at all, a stream that cannot encode Unicode gets ASCII, and the
panel fits 60-column terminals. :func:`print_report` never raises: a failure to render is
logged. Non-finite numbers (NaN or infinite values read from a ledger) print as ``"n/a"``.

The report is handed its data: the what-if (``whatif=``) comes from the caller, which computes
it with :func:`carbonsdk.schedule.whatif_for_run`; this module never imports the scheduler.
"""

from __future__ import annotations

import logging
import math
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Protocol, TypeVar

from carbonsdk.equivalents import phrases
from carbonsdk.result import JobResult, RunResult

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live

logger = logging.getLogger(__name__)

T = TypeVar("T")

J_PER_KWH = 3.6e6
COMPONENT_ORDER = ("gpu", "cpu", "ram")
#: Widest the end-of-run panel grows on a wide terminal (columns), unless ``width`` is given.
MAX_PANEL_WIDTH = 100
SPARK_CHARS = "▁▂▃▄▅▆▇█"
SPARK_CHARS_ASCII = "_.-:=+*#"
_ASCII_MAP = str.maketrans(
    {
        "→": "->",
        "×": "x",
        "≈": "~",
        "–": "-",
        "—": "-",
        "−": "-",
        "·": "|",
        "…": "...",
        "⚠": "!",
        "“": '"',
        "”": '"',
    }
)


# --------------------------------------------------------------------------- what-if protocol


class WhatIfRegion(Protocol):
    """One row of a what-if: the run's energy profile in another grid ``zone``."""

    @property
    def zone(self) -> str: ...

    @property
    def emissions_g(self) -> float: ...

    @property
    def intensity_g_per_kwh(self) -> float: ...


class WhatIfPlan(Protocol):
    """A schedule's outcome for this run: ``emissions_g`` and ``savings_fraction`` (0..1)."""

    @property
    def emissions_g(self) -> float: ...

    @property
    def savings_fraction(self) -> float: ...


class WhatIf(Protocol):
    """The what-if the caller hands to the report: what :func:`carbonsdk.schedule.whatif_for_run`
    returns (duck-typed here: the report never imports :mod:`carbonsdk.schedule`)."""

    @property
    def regions(self) -> Sequence[WhatIfRegion]: ...

    @property
    def flexible_start(self) -> WhatIfPlan | None: ...

    @property
    def pause_and_resume(self) -> WhatIfPlan | None: ...


# --------------------------------------------------------------------------- formatting


#: What a formatter prints for a value that is not a finite number (NaN or infinite).
NOT_AVAILABLE = "n/a"


def is_finite(value: object) -> bool:
    """True when ``value`` is a real, finite number (not None, NaN or infinite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def format_sig(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, fixed-point, thousands separated;
    ``"n/a"`` when it is not a finite number."""
    if not is_finite(value):
        return NOT_AVAILABLE
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    rounded = round(value, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > magnitude:
        decimals = max(0, decimals - 1)
    return f"{value:,.{decimals}f}"


def format_energy_kwh(energy_kwh: float) -> str:
    """Energy for people: ``"1.23 kWh"``, ``"45.6 Wh"``, ``"2.35 MWh"`` (3 significant
    digits; input in kWh); ``"n/a"`` when not finite."""
    if not is_finite(energy_kwh):
        return NOT_AVAILABLE
    if energy_kwh >= 1000:
        return f"{format_sig(energy_kwh / 1000)} MWh"
    if energy_kwh >= 1 or energy_kwh == 0:
        return f"{format_sig(energy_kwh)} kWh"
    return f"{format_sig(energy_kwh * 1000)} Wh"


def format_emissions_g(emissions_g: float) -> str:
    """Emissions for people: ``"412 g"``, ``"1.23 kg"``, ``"4.56 t"`` (input in g CO2eq);
    ``"n/a"`` when not finite."""
    if not is_finite(emissions_g):
        return NOT_AVAILABLE
    if emissions_g >= 1e6:
        return f"{format_sig(emissions_g / 1e6)} t"
    if emissions_g >= 1000:
        return f"{format_sig(emissions_g / 1000)} kg"
    return f"{format_sig(emissions_g)} g"


def format_power_w(power_w: float) -> str:
    """Power for people: ``"412 W"``, ``"1.23 kW"`` (input in W); ``"n/a"`` when not
    finite."""
    if not is_finite(power_w):
        return NOT_AVAILABLE
    if power_w >= 1000:
        return f"{format_sig(power_w / 1000)} kW"
    return f"{format_sig(power_w)} W"


def format_duration_s(duration_s: float) -> str:
    """Duration for people: ``"45.2 s"``, ``"12m 05s"``, ``"3h 04m"``, ``"2d 03h"`` (input in
    seconds); ``"n/a"`` when not finite."""
    if not is_finite(duration_s):
        return NOT_AVAILABLE
    if duration_s < 60:
        return f"{duration_s:.1f} s"
    total = round(duration_s)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s"


def format_percent(part: float, whole: float) -> str:
    """``part`` as a whole-number percentage of ``whole`` (``"87%"``); ``"–"`` when ``whole``
    is not positive, ``"n/a"`` when either is not finite."""
    if not (is_finite(part) and is_finite(whole)):
        return NOT_AVAILABLE
    if whole <= 0:
        return "–"
    return f"{part / whole * 100:.0f}%"


def format_time(when: datetime) -> str:
    """``"2024-03-05 14:00:00"`` in UTC (the caller adds "UTC")."""
    from datetime import UTC

    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- timeline profiles


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


def _span_s(result: RunResult) -> tuple[float, float]:
    if result.timeline:
        return result.timeline[0].start.timestamp(), result.timeline[-1].end.timestamp()
    return result.started_at.timestamp(), result.ended_at.timestamp()


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
    t0, t1 = _span_s(result)
    return bucket_means(starts, ends, rates, n_buckets, t0, t1)


def intensity_profile_g_per_kwh(result: RunResult, n_buckets: int) -> list[float | None]:
    """Time-weighted mean grid intensity in g/kWh over ``n_buckets`` equal slices of the run."""
    tl = result.timeline
    t0, t1 = _span_s(result)
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


# --------------------------------------------------------------------------- content


def components_in(result: RunResult) -> list[str]:
    """Components of ``result`` in display order: gpu, cpu, ram, then others; measured and
    not measured."""
    names = set(result.energy_by_component_kwh) | set(result.not_measured)
    ordered = [c for c in COMPONENT_ORDER if c in names]
    return ordered + sorted(names - set(COMPONENT_ORDER))


def is_estimated(result: RunResult, component: str) -> bool:
    """True when ``component``'s energy comes from a model."""
    if component in result.estimated_components:
        return True
    return any(d.estimated for d in result.devices if d.component == component)


def device_summary(result: RunResult, component: str) -> str:
    """``"2× NVIDIA A100"``, a single device's name, ``"3 devices"``, or ``""``."""
    devices = [d for d in result.devices if d.component == component]
    if not devices:
        return ""
    names = sorted({d.name for d in devices})
    if len(names) == 1:
        return f"{len(devices)}× {names[0]}" if len(devices) > 1 else names[0]
    return f"{len(devices)} devices"


#: Known causes of an unmeasured component, as (substring of the recorded reason, the short
#: phrase the report shows). The first match wins; the full reason stays in the result.
_REASON_PHRASES: tuple[tuple[str, str], ...] = (
    ("NVML_ERROR_LIBRARY_NOT_FOUND", "no NVIDIA driver (libnvidia-ml not found)"),
    ("libnvidia-ml.so.1 was not found", "no NVIDIA driver (libnvidia-ml not found)"),
    ("NVML_ERROR_DRIVER_NOT_LOADED", "the NVIDIA driver is not loaded"),
    ("NVML_ERROR_LIB_RM_VERSION_MISMATCH", "NVIDIA driver and library differ (reboot?)"),
    ("NVML_ERROR_NO_PERMISSION", "no permission to read the GPU"),
    ("nvidia-ml-py is not installed", "nvidia-ml-py is not installed"),
    ("NVML reports 0 GPUs", "no NVIDIA GPU found"),
    ("CUDA_VISIBLE_DEVICES", "no GPU visible to this process (CUDA_VISIBLE_DEVICES)"),
)
#: The longest short reason the terminal report shows (characters); the rest is cut with "…".
MAX_REASON_CHARS = 72


def _outer_parentheses_only(text: str) -> str:
    """``text`` with every parenthesised part nested inside another one removed."""
    out: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
            if depth == 1:
                out.append(ch)
        elif ch == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                out.append(ch)
        elif depth <= 1:
            out.append(ch)
    return " ".join("".join(out).replace("( ", "(").replace(" )", ")").split())


def short_reason(reason: str | None) -> str:
    """Why a component was not measured, in a few words for the terminal report: a known
    cause in plain words (``"no NVIDIA driver (libnvidia-ml not found)"``), else the recorded
    reason without nested parentheses, cut at :data:`MAX_REASON_CHARS` characters. The full
    reason stays in ``RunResult.not_measured`` (JSON, HTML report)."""
    text = " ".join(str(reason or "").split())
    if not text:
        return "no reason recorded"
    for needle, phrase in _REASON_PHRASES:
        if needle in text:
            return phrase
    text = _outer_parentheses_only(text)
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 1].rstrip() + "…"
    return text


#: How a region was found (``Region.source``), in words.
_REGION_SOURCE_TEXT = {
    "explicit": "as you gave it",
    "env": "from CARBONSDK_REGION",
    "aws-imds": "detected from AWS instance metadata",
    "gcp-metadata": "detected from GCP instance metadata",
    "azure-imds": "detected from Azure instance metadata",
}


def region_source_text(source: str) -> str:
    """How the region was found, in words: ``"as you gave it"`` (``region=`` or
    ``--region``), ``"from CARBONSDK_REGION"``, ``"detected from AWS instance metadata"``..."""
    return _REGION_SOURCE_TEXT.get(source, f"found by {source}")


def _equivalents_line(emissions_g: float) -> str:
    return " · ".join(phrases(emissions_g))


def _relative(value_g: float, baseline_g: float) -> str:
    if not (is_finite(value_g) and is_finite(baseline_g)) or baseline_g <= 0:
        return NOT_AVAILABLE
    change = (value_g - baseline_g) / baseline_g * 100
    return f"{change:+.0f}%".replace("-", "−")


def whatif_baseline_g(result: RunResult, whatif: WhatIf | None) -> float:
    """What the what-if rows compare against (g CO2eq): the run replayed in its own zone with
    the what-if's data (``whatif.own``) when there is one, so that rows compare like with like;
    else the recorded emissions."""
    own = getattr(whatif, "own", None)
    value = getattr(own, "emissions_g", None)
    return float(value) if value is not None else result.emissions_g


#: Rescheduling advice is given only for a job that ran at least this long (seconds): hourly
#: intensity data cannot tell a shorter job's start times apart, and moving a short job by
#: hours is not advice anyone takes. A design choice, not a data figure.
MIN_SHIFT_DURATION_S = 3600.0
#: ... or that used at least this much energy (kWh), however short it was.
MIN_SHIFT_ENERGY_KWH = 1.0
#: A schedule is suggested only when it saves at least this share of the emissions (0..1).
MIN_SAVING_FRACTION = 0.05


def _run_span_s(result: RunResult) -> float:
    if is_finite(result.duration_s):
        return float(result.duration_s)
    return (result.ended_at - result.started_at).total_seconds()


def worth_rescheduling(result: RunResult) -> bool:
    """True when rescheduling advice makes sense for ``result``: it ran at least
    :data:`MIN_SHIFT_DURATION_S` seconds or used at least :data:`MIN_SHIFT_ENERGY_KWH` kWh."""
    energy_kwh = result.energy_kwh
    if is_finite(energy_kwh) and energy_kwh >= MIN_SHIFT_ENERGY_KWH:
        return True
    span_s = _run_span_s(result)
    return is_finite(span_s) and span_s >= MIN_SHIFT_DURATION_S


def _saves(plan: WhatIfPlan | None) -> bool:
    if plan is None:
        return False
    fraction = plan.savings_fraction
    return is_finite(fraction) and fraction >= MIN_SAVING_FRACTION


def _saved_g(result: RunResult, plan: WhatIfPlan) -> float:
    base = getattr(plan, "baseline_emissions_g", None)
    saved_g = (base if base is not None else result.emissions_g) - plan.emissions_g
    return max(0.0, saved_g) if is_finite(saved_g) else saved_g


def finish_delay_s(plan: object) -> float | None:
    """How much later than running now a plan finishes (seconds): its last end minus (its
    earliest start + the job's running time), i.e. the start delay plus every pause. None
    when ``plan`` lacks ``end``, ``earliest_start`` or ``duration_s`` (or they are not
    finite)."""
    end = getattr(plan, "end", None)
    earliest = getattr(plan, "earliest_start", None)
    duration_s = getattr(plan, "duration_s", None)
    if not isinstance(end, datetime) or not isinstance(earliest, datetime):
        return None
    if duration_s is None or not is_finite(duration_s):
        return None
    return max(0.0, (end - earliest).total_seconds() - float(duration_s))


def whatif_lines(result: RunResult, whatif: WhatIf | None) -> list[str]:
    """The what-if as short lines: the cleanest and dirtiest region relative to this run, and
    what Flexible Start and Pause and Resume would have saved, but only for a job
    :func:`worth_rescheduling` and a schedule saving at least :data:`MIN_SAVING_FRACTION`
    (a long job that no schedule helps gets one line saying so). Empty when there is nothing
    meaningful to say."""
    energy_kwh = result.energy_kwh
    if whatif is None or not is_finite(energy_kwh) or energy_kwh <= 0:
        return []
    baseline_g = whatif_baseline_g(result, whatif)
    lines: list[str] = []
    regions = [r for r in (whatif.regions or ()) if r is not None and is_finite(r.emissions_g)]
    if len(regions) > 1 and is_finite(baseline_g) and baseline_g > 0:
        clean = min(regions, key=lambda r: r.emissions_g)
        dirty = max(regions, key=lambda r: r.emissions_g)
        lines.append(
            f"cleanest {clean.zone}: {format_emissions_g(clean.emissions_g)} "
            f"({_relative(clean.emissions_g, baseline_g)}) · "
            f"dirtiest {dirty.zone}: {format_emissions_g(dirty.emissions_g)} "
            f"({_relative(dirty.emissions_g, baseline_g)})"
        )
    fs, pr = whatif.flexible_start, whatif.pause_and_resume
    if not worth_rescheduling(result) or (fs is None and pr is None):
        return lines
    plans = []
    if fs is not None and _saves(fs):
        delay_s = getattr(fs, "delay_s", None)
        later = f", start {format_duration_s(delay_s)} later" if delay_s else ""
        plans.append(
            f"flexible start saves {fs.savings_fraction * 100:.0f}% "
            f"({format_emissions_g(_saved_g(result, fs))}{later})"
        )
    if pr is not None and _saves(pr):
        pauses = getattr(pr, "pauses", None)
        paused = f", {pauses} pause{'s' if pauses != 1 else ''}" if pauses else ""
        plans.append(
            f"pause & resume saves {pr.savings_fraction * 100:.0f}% "
            f"({format_emissions_g(_saved_g(result, pr))}{paused})"
        )
    if not plans:
        plans.append(f"starting later or pausing would save under {MIN_SAVING_FRACTION * 100:.0f}%")
    lines.append(" · ".join(plans))
    return lines


def world_average_used(result: RunResult) -> bool:
    """True when the run's intensity is the world average (what an unknown region gets)."""
    return result.intensity_source.provider == "world-average"


def _pue_text(pue: float) -> str:
    return f"{pue:.2f}" if is_finite(pue) else NOT_AVAILABLE


def _region_text(result: RunResult) -> tuple[str, bool]:
    region = result.region
    if not region.known:
        used = " — world-average intensity" if world_average_used(result) else ""
        return (
            f"unknown{used}; pass region= to measure() or set CARBONSDK_REGION",
            True,
        )
    return f"{region.label} · {region_source_text(region.source)}", False


def _source_text(result: RunResult) -> list[tuple[str, str]]:
    src = result.intensity_source
    parts = [src.provider, src.signal, src.basis]
    if src.zone:
        parts.append(f"zone {src.zone}")
    lines = [(" · ".join(parts), "")]
    if src.estimated:
        lines[0] = (lines[0][0] + " · estimated", "")
    if src.fallback_from:
        note = f": {src.note}" if src.note else ""
        lines.append((f"fallback from {src.fallback_from}{note}", "warn"))
    elif src.note:
        lines.append((src.note, "dim"))
    return lines


def _hardware_phrase(result: RunResult) -> str:
    gpus = [d for d in result.devices if d.component == "gpu"]
    if gpus:
        names = sorted({d.name for d in gpus})
        noun = "GPU" if len(gpus) == 1 else "GPUs"
        if len(names) == 1:
            return f"on {len(gpus)} {names[0]} {noun}"
        return f"on {len(gpus)} {noun} ({', '.join(names)})"
    cpus = [d for d in result.devices if d.component == "cpu"]
    if cpus:
        names = sorted({d.name for d in cpus})
        return f"on {names[0]}" if len(names) == 1 else f"on {len(cpus)} CPUs"
    return ""


def _paper_duration(duration_s: float) -> str:
    if not is_finite(duration_s):
        return NOT_AVAILABLE
    if duration_s >= 3600:
        return f"{duration_s / 3600:.1f} hours"
    if duration_s >= 60:
        return f"{duration_s / 60:.1f} minutes"
    return f"{duration_s:.1f} seconds"


def _paper_emissions(emissions_g: float) -> str:
    if not is_finite(emissions_g):
        return f"{NOT_AVAILABLE} CO2eq"
    if emissions_g >= 1e6:
        return f"{format_sig(emissions_g / 1e6)} t CO2eq"
    if emissions_g >= 100:
        return f"{format_sig(emissions_g / 1000)} kg CO2eq"
    return f"{format_sig(emissions_g)} g CO2eq"


def statement(result: RunResult) -> str:
    """A paper-ready paragraph: energy (kWh), hardware, region, emissions (CO2eq), mean
    intensity (g/kWh) and its source, what was measured and what estimated, PUE and the date,
    all from ``result``."""
    from carbonsdk import __version__

    name = result.name or "the run"
    hardware = _hardware_phrase(result)
    where = f"in {result.region.label}" if result.region.known else "in an unknown region"
    src = result.intensity_source
    data = f"{src.provider} data" + (f" for grid zone {src.zone}" if src.zone else "")
    basis = f"{src.signal} emissions" + (
        f", {src.basis} basis" if src.basis and src.basis != "unknown" else ""
    )
    src_bits = [data, basis]
    if src.estimated:
        src_bits.append("partly estimated")
    if src.fallback_from:
        src_bits.append(f"fallback after {src.fallback_from} failed")
    at = ""
    if result.intensity_g_per_kwh is not None:
        at = (
            f" at an average grid carbon intensity of {format_sig(result.intensity_g_per_kwh)} "
            f"g CO2eq/kWh ({'; '.join(src_bits)})"
        )
    lead = (
        f"“{name}” consumed {format_sig(result.energy_kwh)} kWh of electricity over "
        f"{_paper_duration(result.duration_s)}"
        + (f" {hardware}" if hardware else "")
        + f" {where}, emitting {_paper_emissions(result.emissions_g)}{at}."
    )
    measured: list[str] = []
    estimated: list[str] = []
    for comp in components_in(result):
        if comp in result.not_measured:
            continue
        kwh = result.energy_by_component_kwh.get(comp, 0.0)
        item = f"{comp.upper()} {format_sig(kwh)} kWh"
        (estimated if is_estimated(result, comp) else measured).append(item)
    detail = []
    if measured:
        detail.append("measured: " + ", ".join(measured))
    if estimated:
        detail.append("estimated with power models: " + ", ".join(estimated))
    if result.not_measured:
        detail.append("not measured: " + ", ".join(c.upper() for c in result.not_measured))
    sentences = [lead]
    if detail:
        sentences.append("Energy " + "; ".join(detail) + ".")
    if result.pue != 1.0:
        sentences.append(f"Emissions include a data-centre PUE of {_pue_text(result.pue)}.")
    if not result.region.known and world_average_used(result):
        sentences.append("The region was not known, so a world-average intensity was used.")
    elif not result.region.known:
        sentences.append("The region was not known.")
    sentences.append(
        f"The run started at {format_time(result.started_at)} UTC and was measured with "
        f"carbonsdk {__version__}."
    )
    return " ".join(sentences)


# --------------------------------------------------------------------------- rich rendering


class RunReport:
    """The end-of-run panel as a rich renderable: duration, energy by component (estimated /
    not measured marked), emissions, intensity source, region (loudly when unknown), PUE,
    flags, sparklines of power and intensity, everyday equivalents and the what-if. ``width``
    caps the panel's width in columns (default: the console's, at most 100)."""

    def __init__(
        self, result: RunResult, *, whatif: WhatIf | None = None, width: int | None = None
    ) -> None:
        self.result = result
        self.whatif = whatif
        self.width = width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich import box
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        ascii_only = options.ascii_only
        limit = self.width if self.width is not None else MAX_PANEL_WIDTH
        width = max(30, min(options.max_width, limit))
        label_w = 10
        value_w = max(16, width - 4 - label_w - 2)
        r = self.result

        def txt(value: str, style: str = "") -> Text:
            if ascii_only:
                value = value.translate(_ASCII_MAP)
            return Text(value, style=style)

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True, width=label_w)
        grid.add_column(overflow="fold")

        def row(label: str, *parts: tuple[str, str]) -> None:
            value = Text()
            for text, style in parts:
                value.append_text(txt(text, style))
            grid.add_row(txt(label), value)

        start_txt, end_txt = format_time(r.started_at), format_time(r.ended_at)
        if end_txt[:10] == start_txt[:10]:
            end_txt = end_txt[11:]
        row(
            "duration",
            (format_duration_s(r.duration_s), ""),
            (f"  {start_txt} → {end_txt} UTC", "dim"),
        )
        row("energy", (format_energy_kwh(r.energy_kwh), "bold"))
        total = r.energy_kwh
        for comp in components_in(r):
            if comp in r.not_measured:
                reason = r.not_measured[comp]
                row(f"  {comp}", (f"not measured: {short_reason(reason)}", "magenta"))
                continue
            kwh = r.energy_by_component_kwh.get(comp, 0.0)
            pct = format_percent(kwh, total)
            how = ("estimated", "yellow") if is_estimated(r, comp) else ("measured", "green")
            devices = device_summary(r, comp)
            row(
                f"  {comp}",
                (f"{format_energy_kwh(kwh):>9} {pct:>4}  ", ""),
                how,
                (f" · {devices}" if devices else "", "dim"),
            )
            for d in r.devices:
                if d.component == comp and d.status != "ok":
                    row("", (f"⚠ {d.key} {d.status}: {d.error or 'no reason given'}", "yellow"))
        intensity = (
            f" · {format_sig(r.intensity_g_per_kwh)} g/kWh"
            if r.intensity_g_per_kwh is not None
            else ""
        )
        row(
            "emissions",
            (f"{format_emissions_g(r.emissions_g)} CO2eq", "bold"),
            (intensity, ""),
            (f" · PUE {_pue_text(r.pue)}", "" if r.pue != 1.0 else "dim"),
        )
        if r.attributed_energy_by_component_kwh or r.attribution:
            att_kwh = r.attributed_energy_kwh or 0.0
            known = [c for c in r.attribution if c in r.attributed_energy_by_component_kwh]
            base = sum(r.energy_by_component_kwh.get(c, 0.0) for c in known)
            over = " " + "+".join(known) if len(known) < len(r.attribution) else ""
            share = (
                f" ({format_percent(att_kwh, base)} of measured{over})"
                if is_finite(base) and base > 0
                else ""
            )
            parts = [(f"{format_energy_kwh(att_kwh)}{share}", "")]
            if r.attributed_emissions_g is not None:
                parts.append((f" · {format_emissions_g(r.attributed_emissions_g)} CO2eq", ""))
            row("this proc", *parts)
            for comp, method in r.attribution.items():
                att_comp = r.attributed_energy_by_component_kwh.get(comp)
                shown = format_energy_kwh(att_comp) if att_comp is not None else "–"
                row("", (f"{comp} {shown}: {method}", "dim"))
        source_lines = _source_text(r)
        for i, (text, kind) in enumerate(source_lines):
            style = {"warn": "yellow", "dim": "dim"}.get(kind, "")
            row("source" if i == 0 else "", (text, style))
        region_text, unknown = _region_text(r)
        row("region", (region_text, "bold red" if unknown else ""))
        if r.job is not None:
            j = r.job
            rank = f"rank {j.rank}/{j.world_size}" if j.rank is not None else "rank ?"
            row("job", (f"{j.job_id or 'no job id'} · {rank} · node {j.node} · {j.role}", ""))
        if r.marks:
            row(
                "marks",
                (f"{len(r.marks)} (first {r.marks[0].label!r}, last {r.marks[-1].label!r})", "dim"),
            )
        if r.flags:
            row("flags", (", ".join(r.flags), "yellow"))
        if r.error:
            row("error", (r.error, "red"))
        span_s = _run_span_s(r)
        if r.timeline and span_s > 0:
            avg_w = r.energy_kwh * J_PER_KWH / span_s
            spark_w = max(8, min(48, value_w - 27))
            power = power_profile_w(r, spark_w)
            peak = max((v for v in power if v is not None and is_finite(v)), default=math.nan)
            row(
                "power",
                (sparkline(power, lo=0.0, ascii_only=ascii_only), "cyan"),
                (f" avg {format_power_w(avg_w)} · max {format_power_w(peak)}", "dim"),
            )
            inten = intensity_profile_g_per_kwh(r, spark_w)
            present = [v for v in inten if v is not None and is_finite(v)]
            if present:
                lo, hi = min(present), max(present)
                rng = format_sig(lo) if abs(hi - lo) < 0.5 else f"{format_sig(lo)}–{format_sig(hi)}"
                row(
                    "intensity",
                    (sparkline(inten, ascii_only=ascii_only), "green"),
                    (f" {rng} g/kWh", "dim"),
                )
        same_as = _equivalents_line(r.emissions_g)
        if same_as:
            row("same as", (same_as, ""))
        for i, line in enumerate(whatif_lines(r, self.whatif)):
            row("what-if" if i == 0 else "", (line, ""))

        status_style = {"completed": "green", "failed": "bold red", "interrupted": "yellow"}
        title = txt(f"carbonsdk · {r.name or 'run'}", "bold")
        subtitle = Text.assemble(
            txt(f"{r.run_id[:8]} · ", "dim"), txt(r.status, status_style.get(r.status, ""))
        )
        yield Panel(
            grid,
            title=title,
            title_align="left",
            subtitle=subtitle,
            subtitle_align="right",
            box=box.ROUNDED,
            width=width,
            padding=(0, 1),
        )


_JOB_FLAG_TEXT = {
    "job-id-not-unique": "job id derived from the master address: may mix jobs (use --rdzv-id)",
    "region-unknown": "a host's region is unknown: world-average intensity, flagged",
    "intensity-estimated": "some intensity values are estimates",
    "rebuilt-from-checkpoints": "a host's run was killed and rebuilt from checkpoints",
}


def job_flag_text(flag: str) -> str:
    """A human sentence for a :class:`JobResult` flag."""
    name, _, arg = flag.partition(":")
    if name == "missing-nodes":
        return f"{arg} node(s) of the job have no record here: totals are incomplete"
    if name == "overlapping-host-runs":
        return f"node {arg} has overlapping host-mode runs: energy may be counted twice"
    if name == "nodes-share-machine":
        return (
            f"several nodes ran on machine {arg}: if they measured the same devices, "
            "energy is counted twice"
        )
    return _JOB_FLAG_TEXT.get(flag, flag)


class JobReport:
    """A distributed job's report as a rich renderable: totals (energy by component, emissions,
    mean intensity) and one row per host with its ranks, zone, energy and emissions, then the
    job's warnings (missing nodes, possible double counting). ``width`` caps the columns."""

    def __init__(self, job: JobResult, *, width: int | None = None) -> None:
        self.job = job
        self.width = width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich import box
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        ascii_only = options.ascii_only
        limit = self.width if self.width is not None else MAX_PANEL_WIDTH
        width = max(40, min(options.max_width, limit))
        j = self.job

        def txt(value: str, style: str = "") -> Text:
            if ascii_only:
                value = value.translate(_ASCII_MAP)
            return Text(value, style=style)

        head = Table.grid(padding=(0, 2))
        head.add_column(style="bold", no_wrap=True, width=10)
        head.add_column(overflow="fold")
        expected = f" of {j.expected_nodes}" if j.expected_nodes is not None else ""
        head.add_row(
            txt("job"),
            txt(
                f"{j.job_id} · {j.launcher} · {len(j.nodes)}{expected} "
                f"node(s) · {len(j.runs)} run(s)"
            ),
        )
        head.add_row(
            txt("duration"),
            txt(f"{format_duration_s(j.duration_s)}  {format_time(j.started_at)} UTC"),
        )
        comps = " · ".join(
            f"{c} {format_energy_kwh(j.energy_by_component_kwh[c])}"
            for c in COMPONENT_ORDER
            if c in j.energy_by_component_kwh
        )
        head.add_row(
            txt("energy"),
            Text.assemble(
                txt(format_energy_kwh(j.energy_kwh), "bold"),
                txt(f"  {comps}" if comps else "", "dim"),
            ),
        )
        mean = (
            f" · {format_sig(j.intensity_g_per_kwh)} g/kWh mean"
            if j.intensity_g_per_kwh is not None
            else ""
        )
        head.add_row(
            txt("emissions"),
            Text.assemble(txt(f"{format_emissions_g(j.emissions_g)} CO2eq", "bold"), txt(mean)),
        )
        same_as = _equivalents_line(j.emissions_g)
        if same_as:
            head.add_row(txt("same as"), txt(same_as))

        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, safe_box=ascii_only)
        table.add_column(txt("node"), overflow="fold")
        table.add_column(txt("ranks"), overflow="fold")
        table.add_column(txt("zone"), overflow="fold")
        table.add_column(txt("energy"), justify="right", no_wrap=True)
        table.add_column(txt("CO2eq"), justify="right", no_wrap=True)
        table.add_column(txt("g/kWh"), justify="right", no_wrap=True)
        for n in j.nodes:
            ranks = ",".join(str(r) for r in n.ranks) or "?"
            zone = n.region.zone or "unknown"
            if n.intensity_estimated:
                zone += "*"
            table.add_row(
                txt(n.node),
                txt(ranks),
                txt(zone, "" if n.region.known else "bold red"),
                txt(format_energy_kwh(n.energy_kwh)),
                txt(format_emissions_g(n.emissions_g)),
                txt(format_sig(n.intensity_g_per_kwh) if n.intensity_g_per_kwh else "–"),
                style=None if n.status == "completed" else "yellow",
            )
        parts: list[object] = [head, table]
        if any(n.intensity_estimated for n in j.nodes):
            parts.append(txt("* intensity estimated for some intervals", "dim"))
        for flag in j.flags:
            if flag == "intensity-estimated":
                continue
            parts.append(txt(f"⚠ {job_flag_text(flag)}", "yellow"))
        status_style = {"completed": "green", "failed": "bold red", "interrupted": "yellow"}
        yield Panel(
            Group(*parts),  # type: ignore[arg-type]
            title=txt("carbonsdk · job", "bold"),
            title_align="left",
            subtitle=txt(j.status, status_style.get(j.status, "")),
            subtitle_align="right",
            box=box.ROUNDED,
            width=width,
            padding=(0, 1),
        )


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A rich console for ``file`` (default stderr): colour only on a terminal (and never with
    ``NO_COLOR``), plain text with no escape codes otherwise, no highlighting or emoji."""
    from rich.console import Console

    out = file if file is not None else sys.stderr
    tty = _isatty(out)
    return Console(
        file=out,
        width=width,
        color_system="auto" if tty else None,
        force_terminal=tty,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
        legacy_windows=False,
    )


def render_text(
    result: RunResult | JobResult, *, width: int = 80, whatif: WhatIf | None = None
) -> str:
    """The end-of-run report (or a job's report) as plain text at ``width`` columns (no escape
    codes)."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
    )
    if isinstance(result, JobResult):
        console.print(JobReport(result, width=width))
    else:
        console.print(RunReport(result, whatif=whatif, width=width))
    return buffer.getvalue()


def print_report(
    result: RunResult | JobResult, *, file: IO[str] | None = None, whatif: WhatIf | None = None
) -> None:
    """Print the end-of-run report (or a :class:`JobResult`'s job report) to ``file`` (default
    ``sys.stderr``), with the ``whatif`` the caller computed (none: no what-if lines; this
    function never runs the scheduler). Never raises: a failure is logged."""
    try:
        out = file if file is not None else sys.stderr
        if out is None:  # pythonw and friends
            return
        if isinstance(result, JobResult):
            make_console(out).print(JobReport(result))
            return
        make_console(out).print(RunReport(result, whatif=whatif))
    except Exception:
        logger.warning("carbonsdk: could not print the run report", exc_info=True)


# --------------------------------------------------------------------------- live panel


class LivePanel:
    """A live panel for long runs: elapsed time, power, energy and emissions so far, with a
    short power sparkline. :meth:`update` only stores values (cheap, safe from the sampler
    thread); rich's own refresh thread redraws at ``refresh_per_second``. Shown on a terminal
    only; elsewhere every method is a no-op. Never raises into the caller."""

    def __init__(
        self,
        name: str | None = None,
        *,
        file: IO[str] | None = None,
        refresh_per_second: float = 2.0,
        history: int = 48,
    ) -> None:
        self.name = name
        self._file = file
        self._refresh_per_second = refresh_per_second
        self._state: tuple[float, float, float, float | None] = (0.0, 0.0, 0.0, None)
        self._history: deque[float] = deque(maxlen=history)
        self._live: Live | None = None

    @property
    def active(self) -> bool:
        """True while the panel is shown."""
        return self._live is not None

    def start(self) -> None:
        """Show the panel (on a terminal only)."""
        if self._live is not None:
            return
        try:
            out = self._file if self._file is not None else sys.stderr
            if out is None or not _isatty(out):
                return
            from rich.live import Live

            live = Live(
                self,
                console=make_console(out),
                refresh_per_second=self._refresh_per_second,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            live.start()
            self._live = live
        except Exception:
            logger.debug("carbonsdk: live panel unavailable", exc_info=True)
            self._live = None

    def update(
        self, elapsed_s: float, power_w: float, energy_kwh: float, emissions_g: float | None
    ) -> None:
        """Record the latest values: elapsed seconds, power in W, energy in kWh, emissions in
        g CO2eq (None when not known yet). Stores only; never blocks."""
        self._state = (elapsed_s, power_w, energy_kwh, emissions_g)
        self._history.append(power_w)

    def stop(self) -> None:
        """Remove the panel."""
        live, self._live = self._live, None
        if live is None:
            return
        try:
            live.stop()
        except Exception:
            logger.debug("carbonsdk: live panel did not stop cleanly", exc_info=True)

    def render_line(self, *, ascii_only: bool = False) -> str:
        """The current state as one line of text."""
        elapsed_s, power_w, energy_kwh, emissions_g = self._state
        spark = sparkline(list(self._history), lo=0.0, ascii_only=ascii_only)
        emis = "…" if emissions_g is None else f"{format_emissions_g(emissions_g)} CO2eq"
        line = (
            f"{format_duration_s(elapsed_s)} · {format_power_w(power_w)} {spark} · "
            f"{format_energy_kwh(energy_kwh)} · {emis}"
        )
        return line.translate(_ASCII_MAP) if ascii_only else line

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        label = f"carbonsdk · {self.name}  " if self.name else "carbonsdk  "
        text = Text(label, style="bold")
        text.append(self.render_line(ascii_only=options.ascii_only))
        text.truncate(options.max_width, overflow="ellipsis")
        yield text


# --------------------------------------------------------------------------- progress


def progress_iter(
    items: Iterable[T],
    *,
    description: str,
    total: int | None = None,
    file: IO[str] | None = None,
) -> Iterator[T]:
    """Iterate ``items`` with a rich progress bar on ``file`` (default stderr) when it is a
    terminal; a plain pass-through otherwise. For long CLI operations (sweeps, many runs)."""
    out = file if file is not None else sys.stderr
    if out is None or not _isatty(out):
        yield from items
        return
    from rich.progress import Progress

    with Progress(console=make_console(out), transient=True) as progress:
        yield from progress.track(items, total=total, description=description)


__all__ = [
    "MIN_SAVING_FRACTION",
    "MIN_SHIFT_DURATION_S",
    "MIN_SHIFT_ENERGY_KWH",
    "NOT_AVAILABLE",
    "JobReport",
    "LivePanel",
    "RunReport",
    "WhatIf",
    "WhatIfPlan",
    "WhatIfRegion",
    "bucket_means",
    "components_in",
    "device_summary",
    "finish_delay_s",
    "format_duration_s",
    "format_emissions_g",
    "format_energy_kwh",
    "format_percent",
    "format_power_w",
    "format_sig",
    "format_time",
    "intensity_profile_g_per_kwh",
    "is_estimated",
    "is_finite",
    "make_console",
    "power_profile_w",
    "print_report",
    "progress_iter",
    "region_source_text",
    "render_text",
    "short_reason",
    "sparkline",
    "statement",
    "whatif_baseline_g",
    "whatif_lines",
    "world_average_used",
    "worth_rescheduling",
]
