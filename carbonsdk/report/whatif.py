"""How the reports word a what-if: the protocols of the what-if the caller hands in, when
rescheduling advice is worth giving, and the what-if as short lines.

The report is handed its what-if: the caller computes it (with
:func:`carbonsdk.schedule.whatif_for_run`); nothing here imports the scheduler, the
protocols below only describe the shape the report reads (duck-typed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from carbonsdk.model.result import RunResult
from carbonsdk.report.format import (
    NOT_AVAILABLE,
    format_duration_s,
    format_emissions_g,
    is_finite,
)
from carbonsdk.report.profiles import run_span_s


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


#: Rescheduling advice is given only for a job that ran at least this long (seconds): hourly
#: intensity data cannot tell a shorter job's start times apart, and moving a short job by
#: hours is not advice anyone takes. A design choice, not a data figure.
MIN_SHIFT_DURATION_S = 3600.0
#: ... or that used at least this much energy (kWh), however short it was.
MIN_SHIFT_ENERGY_KWH = 1.0
#: A schedule is suggested only when it saves at least this share of the emissions (0..1).
MIN_SAVING_FRACTION = 0.05


def whatif_baseline_g(result: RunResult, whatif: WhatIf | None) -> float:
    """What the what-if rows compare against (g CO2eq): the run replayed in its own zone with
    the what-if's data (``whatif.own``) when there is one, so that rows compare like with like;
    else the recorded emissions."""
    own = getattr(whatif, "own", None)
    value = getattr(own, "emissions_g", None)
    return float(value) if value is not None else result.emissions_g


def worth_rescheduling(result: RunResult) -> bool:
    """True when rescheduling advice makes sense for ``result``: it ran at least
    :data:`MIN_SHIFT_DURATION_S` seconds or used at least :data:`MIN_SHIFT_ENERGY_KWH` kWh."""
    energy_kwh = result.energy_kwh
    if is_finite(energy_kwh) and energy_kwh >= MIN_SHIFT_ENERGY_KWH:
        return True
    span_s = run_span_s(result)
    return is_finite(span_s) and span_s >= MIN_SHIFT_DURATION_S


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


def _relative(value_g: float, baseline_g: float) -> str:
    if not (is_finite(value_g) and is_finite(baseline_g)) or baseline_g <= 0:
        return NOT_AVAILABLE
    change = (value_g - baseline_g) / baseline_g * 100
    return f"{change:+.0f}%".replace("-", "−")


def _saves(plan: WhatIfPlan | None) -> bool:
    if plan is None:
        return False
    fraction = plan.savings_fraction
    return is_finite(fraction) and fraction >= MIN_SAVING_FRACTION


def _saved_g(result: RunResult, plan: WhatIfPlan) -> float:
    base = getattr(plan, "baseline_emissions_g", None)
    saved_g = (base if base is not None else result.emissions_g) - plan.emissions_g
    return max(0.0, saved_g) if is_finite(saved_g) else saved_g


def _regions_line(whatif: WhatIf, baseline_g: float) -> str | None:
    """``"cleanest SE: 29.6 g (−90%) · dirtiest PL: 1.11 kg (+295%)"``, or None with fewer
    than two finite rows or no positive baseline."""
    regions = [r for r in (whatif.regions or ()) if r is not None and is_finite(r.emissions_g)]
    if len(regions) <= 1 or not is_finite(baseline_g) or baseline_g <= 0:
        return None
    clean = min(regions, key=lambda r: r.emissions_g)
    dirty = max(regions, key=lambda r: r.emissions_g)
    return (
        f"cleanest {clean.zone}: {format_emissions_g(clean.emissions_g)} "
        f"({_relative(clean.emissions_g, baseline_g)}) · "
        f"dirtiest {dirty.zone}: {format_emissions_g(dirty.emissions_g)} "
        f"({_relative(dirty.emissions_g, baseline_g)})"
    )


def _flexible_start_text(result: RunResult, plan: WhatIfPlan) -> str:
    delay_s = getattr(plan, "delay_s", None)
    later = f", start {format_duration_s(delay_s)} later" if delay_s else ""
    return (
        f"flexible start saves {plan.savings_fraction * 100:.0f}% "
        f"({format_emissions_g(_saved_g(result, plan))}{later})"
    )


def _pause_and_resume_text(result: RunResult, plan: WhatIfPlan) -> str:
    pauses = getattr(plan, "pauses", None)
    paused = f", {pauses} pause{'s' if pauses != 1 else ''}" if pauses else ""
    return (
        f"pause & resume saves {plan.savings_fraction * 100:.0f}% "
        f"({format_emissions_g(_saved_g(result, plan))}{paused})"
    )


def _plans_line(result: RunResult, whatif: WhatIf) -> str | None:
    """What Flexible Start and Pause and Resume would save (or that neither saves enough);
    None for a job not :func:`worth_rescheduling` or a what-if without schedules."""
    fs, pr = whatif.flexible_start, whatif.pause_and_resume
    if not worth_rescheduling(result) or (fs is None and pr is None):
        return None
    plans = []
    if fs is not None and _saves(fs):
        plans.append(_flexible_start_text(result, fs))
    if pr is not None and _saves(pr):
        plans.append(_pause_and_resume_text(result, pr))
    if not plans:
        plans.append(f"starting later or pausing would save under {MIN_SAVING_FRACTION * 100:.0f}%")
    return " · ".join(plans)


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
    lines = [_regions_line(whatif, baseline_g), _plans_line(result, whatif)]
    return [line for line in lines if line is not None]


__all__ = [
    "MIN_SAVING_FRACTION",
    "MIN_SHIFT_DURATION_S",
    "MIN_SHIFT_ENERGY_KWH",
    "WhatIf",
    "WhatIfPlan",
    "WhatIfRegion",
    "finish_delay_s",
    "whatif_baseline_g",
    "whatif_lines",
    "worth_rescheduling",
]
