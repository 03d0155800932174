"""A run's report as one self-contained HTML file: inline CSS, inline SVG charts, no scripts, no
network. Charts: power per component over time (stacked), grid carbon intensity over time,
cumulative emissions; then the what-if table and the run's metadata.

Why our own few hundred lines of SVG rather than a charting library: the libraries that draw
good interactive charts (Plotly, Vega-Lite, Chart.js, Bokeh) render them in the browser with a
JavaScript bundle of hundreds of kilobytes to megabytes that would have to be inlined in every
report (or fetched from a CDN, which breaks offline use and tells a third party that a report
was opened), and the report must run no scripts; matplotlib can emit SVG but is a heavy
dependency for an SDK that is imported inside training jobs. Our charts are step
functions and one line on a time axis: a linear scale, "nice" tick values and a path each.
The SVG is generated on the server side, so the file opens in any browser, prints, and can be
attached to a paper's supplementary material as is.

Everything user-provided (names, tags, errors) is HTML-escaped. The only URLs are attribution
links (``<a href>``) to the sources of the equivalents and the intensity data.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from carbonsdk._version import __version__
from carbonsdk.model.result import Mark, RunResult
from carbonsdk.model.units import J_PER_KWH
from carbonsdk.report.content import (
    components_in,
    device_summary,
    is_estimated,
    region_source_text,
    short_reason,
    statement,
    world_average_used,
)
from carbonsdk.report.equivalents import EPA_SOURCE_LABEL, EPA_SOURCE_URL, phrases
from carbonsdk.report.format import (
    format_duration_s,
    format_emissions_g,
    format_energy_kwh,
    format_percent,
    format_sig,
    format_time,
    is_finite,
)
from carbonsdk.report.profiles import bucket_means
from carbonsdk.report.whatif import (
    WhatIf,
    WhatIfPlan,
    WhatIfRegion,
    finish_delay_s,
    whatif_baseline_g,
    worth_rescheduling,
)

#: Most points per series in a chart; longer timelines are resampled (time-weighted means).
MAX_POINTS = 400
CHART_W = 800
CHART_H = 260
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 64, 20, 28, 40
COLORS = {"gpu": "#4c72b0", "cpu": "#dd8452", "ram": "#55a868"}
OTHER_COLORS = ("#8172b3", "#937860", "#da8bc3", "#8c8c8c")
INTENSITY_COLOR = "#2a9d8f"
EMISSIONS_COLOR = "#c44e52"

_e = html.escape


# --------------------------------------------------------------------------- scales


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """About ``target`` round tick values (1, 2, 2.5, 5 × 10^k) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)
    first = math.floor(lo / step) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


_TIME_STEPS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 172800, 604800,
)  # fmt: skip


def time_ticks(t0_s: float, t1_s: float, target: int = 6) -> list[float]:
    """Round UTC times (epoch seconds) between ``t0_s`` and ``t1_s``: about ``target`` ticks at
    a step of 1 s .. 1 week."""
    span = max(t1_s - t0_s, 1e-9)
    step: float = next((s for s in _TIME_STEPS_S if span / s <= target), 604800)
    first = math.ceil(t0_s / step) * step
    out = []
    t = first
    while t <= t1_s + 1e-9:
        out.append(t)
        t += step
    return out


def _time_label(epoch_s: float, span_s: float) -> str:
    when = datetime.fromtimestamp(epoch_s, tz=UTC)
    if span_s > 86400:
        return when.strftime("%m-%d %H:%M")
    if span_s < 300:
        return when.strftime("%H:%M:%S")
    return when.strftime("%H:%M")


def _num(value: float) -> str:
    """A tick label: no trailing zeros, thousands separated."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text


class _Frame:
    """Maps data (epoch seconds, value) to SVG pixels inside the plotting area."""

    def __init__(self, t0_s: float, t1_s: float, y_lo: float, y_hi: float) -> None:
        self.t0, self.t1 = t0_s, t1_s if t1_s > t0_s else t0_s + 1.0
        self.y_lo, self.y_hi = y_lo, y_hi if y_hi > y_lo else y_lo + 1.0
        self.left, self.right = MARGIN_L, CHART_W - MARGIN_R
        self.top, self.bottom = MARGIN_T, CHART_H - MARGIN_B

    def x(self, t_s: float) -> float:
        return self.left + (t_s - self.t0) / (self.t1 - self.t0) * (self.right - self.left)

    def y(self, v: float) -> float:
        return self.bottom - (v - self.y_lo) / (self.y_hi - self.y_lo) * (self.bottom - self.top)


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _axes(frame: _Frame, y_ticks: Sequence[float], y_unit: str) -> list[str]:
    parts = ['<g class="axes">']
    for v in y_ticks:
        y = _fmt(frame.y(v))
        parts.append(
            f'<line class="grid" x1="{frame.left}" x2="{frame.right}" y1="{y}" y2="{y}"/>'
            f'<text class="tick" x="{frame.left - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{_e(_num(v))}</text>'
        )
    span = frame.t1 - frame.t0
    for t in time_ticks(frame.t0, frame.t1):
        x = _fmt(frame.x(t))
        parts.append(
            f'<line class="tickmark" x1="{x}" x2="{x}" y1="{frame.bottom}" '
            f'y2="{frame.bottom + 4}"/>'
            f'<text class="tick" x="{x}" y="{frame.bottom + 16}" '
            f'text-anchor="middle">{_e(_time_label(t, span))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{frame.left}" x2="{frame.right}" y1="{frame.bottom}" '
        f'y2="{frame.bottom}"/>'
        f'<line class="axis" x1="{frame.left}" x2="{frame.left}" y1="{frame.top}" '
        f'y2="{frame.bottom}"/>'
        f'<text class="unit" x="8" y="{frame.top - 12}" '
        f'text-anchor="start">{_e(y_unit)}</text>'
        f'<text class="unit" x="{frame.right}" y="{CHART_H - 6}" text-anchor="end">UTC</text>'
        "</g>"
    )
    return parts


def _svg(chart_id: str, title: str, desc: str, body: Sequence[str]) -> str:
    return (
        f'<svg class="chart" id="{_e(chart_id)}" viewBox="0 0 {CHART_W} {CHART_H}" '
        f'width="{CHART_W}" height="{CHART_H}" role="img" aria-labelledby="{chart_id}-t">'
        f'<title id="{chart_id}-t">{_e(title)}</title><desc>{_e(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _empty_chart(chart_id: str, title: str) -> str:
    return _svg(
        chart_id,
        title,
        "no data",
        [
            f'<text class="nodata" x="{CHART_W / 2}" y="{CHART_H / 2}" '
            'text-anchor="middle">no data recorded for this run</text>'
        ],
    )


# --------------------------------------------------------------------------- series


def _steps(result: RunResult) -> tuple[list[float], list[float]]:
    """Interval starts and ends (epoch s), or equal buckets when the timeline is long."""
    tl = result.timeline
    if len(tl) <= MAX_POINTS:
        return [iv.start.timestamp() for iv in tl], [iv.end.timestamp() for iv in tl]
    t0, t1 = tl[0].start.timestamp(), tl[-1].end.timestamp()
    w = (t1 - t0) / MAX_POINTS
    return [t0 + i * w for i in range(MAX_POINTS)], [t0 + (i + 1) * w for i in range(MAX_POINTS)]


def _resampled(result: RunResult, rates: Sequence[float]) -> list[float | None]:
    """``rates`` per interval, resampled to :data:`MAX_POINTS` buckets when the timeline is
    longer; a value that is not finite is missing (None)."""
    tl = result.timeline
    if len(tl) <= MAX_POINTS:
        return [v if is_finite(v) else None for v in rates]
    return bucket_means(
        [iv.start.timestamp() for iv in tl],
        [iv.end.timestamp() for iv in tl],
        rates,
        MAX_POINTS,
        tl[0].start.timestamp(),
        tl[-1].end.timestamp(),
    )


def _step_path(
    frame: _Frame, starts: Sequence[float], ends: Sequence[float], values: Sequence[float | None]
) -> str:
    """An SVG path ``d`` for a step function (a new sub-path after each missing value)."""
    out: list[str] = []
    pen_down = False
    last_end: float | None = None
    for s, e, v in zip(starts, ends, values, strict=True):
        if v is None:
            pen_down = False
            continue
        y = _fmt(frame.y(v))
        if not pen_down or last_end != s:
            out.append(f"M{_fmt(frame.x(s))} {y}")
        else:
            out.append(f"V{y}")
        out.append(f"H{_fmt(frame.x(e))}")
        pen_down, last_end = True, e
    return "".join(out)


def _area_path(
    frame: _Frame,
    starts: Sequence[float],
    ends: Sequence[float],
    top: Sequence[float],
    bottom: Sequence[float],
) -> str:
    """A closed SVG path between two step functions (``top`` >= ``bottom``)."""
    if not starts:
        return ""
    fwd = [f"M{_fmt(frame.x(starts[0]))} {_fmt(frame.y(top[0]))}"]
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if i:
            fwd.append(f"L{_fmt(frame.x(s))} {_fmt(frame.y(top[i]))}")
        fwd.append(f"L{_fmt(frame.x(e))} {_fmt(frame.y(top[i]))}")
    for i in range(len(starts) - 1, -1, -1):
        fwd.append(f"L{_fmt(frame.x(ends[i]))} {_fmt(frame.y(bottom[i]))}")
        fwd.append(f"L{_fmt(frame.x(starts[i]))} {_fmt(frame.y(bottom[i]))}")
    fwd.append("Z")
    return "".join(fwd)


def _color(component: str, index: int) -> str:
    return COLORS.get(component, OTHER_COLORS[index % len(OTHER_COLORS)])


def power_chart(result: RunResult) -> str:
    """Stacked power per measured component (W or kW) over the run, paused spans shaded."""
    title = "Power by component"
    comps = [c for c in components_in(result) if c not in result.not_measured]
    if not result.timeline or not comps:
        return _empty_chart("chart-power", title)
    starts, ends = _steps(result)
    per: dict[str, list[float]] = {}
    for comp in comps:
        rates = [
            iv.energy_by_component_kwh.get(comp, 0.0) * J_PER_KWH / iv.duration_s
            if iv.duration_s > 0
            else 0.0
            for iv in result.timeline
        ]
        per[comp] = [v or 0.0 for v in _resampled(result, rates)]
    cum = [0.0] * len(starts)
    layers = []
    for comp in comps:
        bottom = cum
        cum = [b + v for b, v in zip(bottom, per[comp], strict=True)]
        layers.append((comp, bottom, cum))
    peak = max(cum) if cum else 0.0
    scale, unit = (1000.0, "kW") if peak >= 10000 else (1.0, "W")
    ticks = nice_ticks(0.0, peak / scale if peak > 0 else 1.0)
    frame = _Frame(starts[0], ends[-1], 0.0, ticks[-1] * scale)
    body = []
    for p in result.pauses:
        p0 = max(p.start.timestamp(), frame.t0)
        p1 = min((p.end or result.ended_at).timestamp(), frame.t1)
        if p1 > p0:
            body.append(
                f'<rect class="paused" x="{_fmt(frame.x(p0))}" y="{frame.top}" '
                f'width="{_fmt(frame.x(p1) - frame.x(p0))}" height="{frame.bottom - frame.top}">'
                "<title>paused</title></rect>"
            )
    tick_frame = _Frame(starts[0], ends[-1], 0.0, ticks[-1])
    body.extend(_axes(tick_frame, ticks, unit))
    for m in shown_marks(result):
        t = m.at.timestamp()
        if frame.t0 <= t <= frame.t1:
            x = _fmt(frame.x(t))
            body.append(
                f'<line class="mark" x1="{x}" x2="{x}" y1="{frame.top}" y2="{frame.bottom}">'
                f"<title>{_e(_mark_text(m))}</title></line>"
            )
    for i, (comp, bottom, top) in enumerate(layers):
        color = _color(comp, i)
        label = comp + (" (estimated)" if is_estimated(result, comp) else "")
        body.append(
            f'<path class="series area" data-series="{_e(comp)}" fill="{color}" '
            f'fill-opacity="0.75" stroke="{color}" stroke-width="1" '
            f'd="{_area_path(frame, starts, ends, top, bottom)}"><title>{_e(label)}</title></path>'
        )
    desc = ", ".join(
        f"{c}: {format_energy_kwh(result.energy_by_component_kwh.get(c, 0.0))}" for c in comps
    )
    return _svg("chart-power", title, f"Stacked power per component; energy {desc}", body)


def intensity_chart(result: RunResult) -> str:
    """Grid carbon intensity (g/kWh) over the run; estimated values dashed, mean dotted."""
    title = "Grid carbon intensity"
    if not result.timeline:
        return _empty_chart("chart-intensity", title)
    starts, ends = _steps(result)
    values = _resampled(result, [iv.intensity_g_per_kwh for iv in result.timeline])
    est = _resampled(result, [1.0 if iv.intensity_estimated else 0.0 for iv in result.timeline])
    present = [v for v in values if v is not None]
    hi = max(present) if present else 1.0
    ticks = nice_ticks(0.0, hi if hi > 0 else 1.0)
    frame = _Frame(starts[0], ends[-1], 0.0, ticks[-1])
    body = _axes(frame, ticks, "g CO2eq/kWh")
    measured = [v if (f or 0.0) < 0.5 else None for v, f in zip(values, est, strict=True)]
    estimated = [v if (f or 0.0) >= 0.5 else None for v, f in zip(values, est, strict=True)]
    if any(v is not None for v in measured):
        body.append(
            f'<path class="series line" data-series="intensity" fill="none" '
            f'stroke="{INTENSITY_COLOR}" stroke-width="2" '
            f'd="{_step_path(frame, starts, ends, measured)}"><title>measured</title></path>'
        )
    if any(v is not None for v in estimated):
        body.append(
            f'<path class="series line estimated" data-series="intensity-estimated" '
            f'fill="none" stroke="{INTENSITY_COLOR}" stroke-width="2" stroke-dasharray="6 4" '
            f'd="{_step_path(frame, starts, ends, estimated)}"><title>estimated</title></path>'
        )
    if result.intensity_g_per_kwh is not None and is_finite(result.intensity_g_per_kwh):
        y = _fmt(frame.y(result.intensity_g_per_kwh))
        body.append(
            f'<line class="mean" x1="{frame.left}" x2="{frame.right}" y1="{y}" y2="{y}" '
            f'stroke="#555" stroke-dasharray="2 3"><title>energy-weighted mean '
            f"{_e(format_sig(result.intensity_g_per_kwh))} g/kWh</title></line>"
        )
    desc = f"{result.intensity_source.provider} {result.intensity_source.signal} intensity"
    return _svg("chart-intensity", title, desc, body)


def emissions_chart(result: RunResult) -> str:
    """Cumulative emissions (g or kg CO2eq, PUE included) over the run."""
    title = "Cumulative emissions"
    tl = result.timeline
    if not tl:
        return _empty_chart("chart-emissions", title)
    xs = [tl[0].start.timestamp()]
    ys = [0.0]
    total = 0.0
    stride = max(1, math.ceil(len(tl) / MAX_POINTS))
    for i, iv in enumerate(tl):
        total += iv.emissions_g if is_finite(iv.emissions_g) else 0.0  # n/a adds nothing
        if (i + 1) % stride == 0 or i == len(tl) - 1:
            xs.append(iv.end.timestamp())
            ys.append(total)
    scale, unit = (1000.0, "kg CO2eq") if total >= 10000 else (1.0, "g CO2eq")
    ticks = nice_ticks(0.0, total / scale if total > 0 else 1.0)
    frame = _Frame(xs[0], xs[-1], 0.0, ticks[-1] * scale)
    body = _axes(_Frame(xs[0], xs[-1], 0.0, ticks[-1]), ticks, unit)
    line = "".join(
        f"{'M' if i == 0 else 'L'}{_fmt(frame.x(x))} {_fmt(frame.y(y))}"
        for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    )
    area = line + f"L{_fmt(frame.x(xs[-1]))} {frame.bottom}L{_fmt(frame.x(xs[0]))} {frame.bottom}Z"
    body.append(
        f'<path class="fill" fill="{EMISSIONS_COLOR}" fill-opacity="0.15" stroke="none" '
        f'd="{area}"/>'
        f'<path class="series line" data-series="emissions" fill="none" '
        f'stroke="{EMISSIONS_COLOR}" stroke-width="2" d="{line}">'
        f"<title>{_e(format_emissions_g(total))} CO2eq</title></path>"
    )
    return _svg("chart-emissions", title, f"total {format_emissions_g(total)} CO2eq", body)


# --------------------------------------------------------------------------- tables


def _legend(result: RunResult) -> str:
    comps = [c for c in components_in(result) if c not in result.not_measured]
    items = []
    for i, comp in enumerate(comps):
        est = " (estimated)" if is_estimated(result, comp) else ""
        items.append(
            f'<span class="key"><span class="swatch" style="background:{_color(comp, i)}">'
            f"</span>{_e(comp)}{est}</span>"
        )
    for comp, reason in result.not_measured.items():
        items.append(
            f'<span class="key muted" title="{_e(reason)}">{_e(comp)}: not measured: '
            f"{_e(short_reason(reason))}</span>"
        )
    return f'<p class="legend">{"".join(items)}</p>'


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _fraction(value: float) -> str:
    return f"{value * 100:.1f}%" if is_finite(value) else "n/a"


def _regions_table(result: RunResult, regions: Sequence[WhatIfRegion], baseline_g: float) -> str:
    """This run's energy profile in each zone, cleanest first, relative to ``baseline_g``."""
    own_zone = result.region.zone
    rows = []
    for r in regions:
        rel = (
            f"{(r.emissions_g - baseline_g) / baseline_g * 100:+.0f}%"
            if is_finite(baseline_g) and baseline_g > 0 and is_finite(r.emissions_g)
            else "–"
        )
        own = bool(getattr(r, "is_own", r.zone == own_zone))
        est = ' <span class="muted">(estimated)</span>' if getattr(r, "estimated", False) else ""
        cls = ' class="own"' if own else ""
        rows.append(
            f"<tr{cls}><td>{_e(r.zone)}{' (this run)' if own else ''}{est}</td>"
            f"<td>{_e(format_sig(r.intensity_g_per_kwh))}</td>"
            f"<td>{_e(format_emissions_g(r.emissions_g))}</td><td>{_e(rel)}</td></tr>"
        )
    return (
        '<table class="whatif"><thead><tr><th>grid zone</th><th>mean g CO2eq/kWh</th>'
        "<th>emissions</th><th>vs own zone</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _plan_detail(plan: WhatIfPlan) -> str:
    """``"start 2h 00m later, 1 pause, done 2h 10m later"`` from what ``plan`` records."""
    detail = []
    delay_s = getattr(plan, "delay_s", None)
    if delay_s is not None:
        detail.append(f"start {format_duration_s(delay_s)} later" if delay_s else "start now")
    pauses = getattr(plan, "pauses", None)
    if pauses is not None:
        detail.append(f"{pauses} pause{'s' if pauses != 1 else ''}")
    done_s = finish_delay_s(plan)
    if done_s is not None:
        detail.append(f"done {format_duration_s(done_s)} later" if done_s else "done on time")
    return ", ".join(detail)


def _plan_rows(whatif: WhatIf) -> list[str]:
    """One table row per schedule the what-if holds (Flexible Start, Pause and Resume)."""
    rows = []
    for label, plan in (
        ("Flexible Start", whatif.flexible_start),
        ("Pause and Resume", whatif.pause_and_resume),
    ):
        if plan is None:
            continue
        base = getattr(plan, "baseline_emissions_g", None)
        rows.append(
            f"<tr><td>{label}</td><td>{_e(format_emissions_g(plan.emissions_g))}</td>"
            f"<td>{_e(format_emissions_g(base)) if base is not None else '–'}</td>"
            f"<td>{_e(_fraction(plan.savings_fraction))}</td>"
            f"<td>{_e(_plan_detail(plan))}</td></tr>"
        )
    return rows


def _whatif_notes(result: RunResult, whatif: WhatIf, has_plans: bool) -> str:
    """The what-if's notes as a list, led by a caveat when the run is too short to move."""
    notes = list(getattr(whatif, "notes", ()) or ())
    if has_plans and not worth_rescheduling(result):
        notes.insert(
            0,
            f"This run is short ({format_duration_s(result.duration_s)}, "
            f"{format_energy_kwh(result.energy_kwh)}): moving or pausing it saves little, "
            "the schedules above show the shape of the grid, not advice.",
        )
    if not notes:
        return ""
    return '<ul class="notes muted">' + "".join(f"<li>{_e(str(n))}</li>" for n in notes) + "</ul>"


def whatif_table(result: RunResult, whatif: WhatIf | None) -> str:
    """The what-if section: this run's energy profile in other zones (relative to the run
    replayed in its own zone with the same data), the schedules, and the what-if's notes."""
    if whatif is None:
        return '<p class="muted">No what-if analysis was given for this run.</p>'

    parts = []
    baseline_g = whatif_baseline_g(result, whatif)
    regions = sorted(whatif.regions or (), key=lambda r: r.emissions_g)
    if regions:
        parts.append(_regions_table(result, regions, baseline_g))
    plan_rows = _plan_rows(whatif)
    if plan_rows:
        parts.append(
            '<table class="plans"><thead><tr><th>schedule</th><th>emissions</th>'
            "<th>baseline</th><th>savings</th><th>plan</th></tr></thead><tbody>"
            + "".join(plan_rows)
            + "</tbody></table>"
        )
    parts.append(_whatif_notes(result, whatif, bool(plan_rows)))
    return "".join(parts) or '<p class="muted">The what-if analysis returned no rows.</p>'


#: the most marks drawn and listed (a per-step marking run can hold thousands)
MAX_SHOWN_MARKS = 200


def shown_marks(result: RunResult) -> list[Mark]:
    """The marks the HTML report shows: every mark that is not a ``"step"`` mark (epochs,
    evaluations, your own), or the steps when there is nothing else; at most
    :data:`MAX_SHOWN_MARKS`, evenly thinned."""
    marks = [m for m in result.marks if m.label != "step"] or list(result.marks)
    if len(marks) <= MAX_SHOWN_MARKS:
        return marks
    stride = len(marks) / MAX_SHOWN_MARKS
    return [marks[int(i * stride)] for i in range(MAX_SHOWN_MARKS)]


def _mark_text(mark: Mark) -> str:
    data = ", ".join(f"{k}={v}" for k, v in mark.data.items())
    return f"{mark.label}" + (f" ({data})" if data else "")


def _marks_table(result: RunResult) -> str:
    marks = shown_marks(result)
    if not marks:
        return ""
    rows = []
    previous_kwh = 0.0
    for m in marks:
        since = m.energy_kwh - previous_kwh
        previous_kwh = m.energy_kwh
        data = ", ".join(f"{k}={v}" for k, v in m.data.items())
        rows.append(
            f"<tr><td>{_e(format_time(m.at))}</td><td>{_e(m.label)}</td><td>{_e(data)}</td>"
            f"<td>{_e(format_energy_kwh(m.energy_kwh))}</td>"
            f"<td>{_e(format_energy_kwh(max(0.0, since)))}</td></tr>"
        )
    note = (
        f'<p class="muted">{len(marks)} of {len(result.marks)} marks shown.</p>'
        if len(marks) < len(result.marks)
        else ""
    )
    return (
        "<section><h2>Marks</h2>"
        '<table class="marks"><thead><tr><th>time (UTC)</th><th>label</th><th>data</th>'
        "<th>energy so far</th><th>since the previous row</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + note
        + "</section>"
    )


def _energy_table(result: RunResult) -> str:
    rows = []
    total = result.energy_kwh
    for comp in components_in(result):
        if comp in result.not_measured:
            reason = result.not_measured[comp]
            rows.append(
                f'<tr><td>{_e(comp)}</td><td colspan="3" class="muted">not measured: '
                f"{_e(short_reason(reason))}"
                f"<br><small>{_e(reason)}</small></td></tr>"
            )
            continue
        kwh = result.energy_by_component_kwh.get(comp, 0.0)
        pct = format_percent(kwh, total)
        how = "estimated" if is_estimated(result, comp) else "measured"
        rows.append(
            f"<tr><td>{_e(comp)}</td><td>{_e(format_energy_kwh(kwh))}</td><td>{pct}</td>"
            f'<td class="{how}">{how} · {_e(device_summary(result, comp))}</td></tr>'
        )
    return (
        '<table class="energy"><thead><tr><th>component</th><th>energy</th><th>share</th>'
        "<th>how</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _devices_table(result: RunResult) -> str:
    if not result.devices:
        return ""
    rows = "".join(
        f"<tr><td>{_e(d.key)}</td><td>{_e(d.name)}</td><td>{_e(d.method)}</td>"
        f"<td>{'yes' if d.estimated else 'no'}</td><td>{_e(format_energy_kwh(d.energy_kwh))}</td>"
        f"<td>{_e(d.status)}{': ' + _e(d.error) if d.error else ''}</td></tr>"
        for d in result.devices
    )
    return (
        '<table class="devices"><thead><tr><th>device</th><th>name</th><th>method</th>'
        "<th>estimated</th><th>energy</th><th>status</th></tr></thead><tbody>"
        + rows
        + "</tbody></table>"
    )


def _region_cell(result: RunResult) -> str:
    region = result.region
    if region.known:
        return f"{_e(region.label)} ({_e(region_source_text(region.source))})"
    used = " — world-average intensity used" if world_average_used(result) else ""
    return (
        f'<strong class="warn">unknown</strong>{used}; pass '
        "<code>region=</code> to <code>measure()</code> or set <code>CARBONSDK_REGION</code>"
    )


def _source_pairs(result: RunResult) -> list[tuple[str, str]]:
    """The intensity source's rows: provider, signal, basis, zone, then fallback or note and
    the dataset."""
    src = result.intensity_source
    source_bits = [
        f"provider {_e(src.provider)}",
        f"signal {_e(src.signal)}",
        f"basis {_e(src.basis)}",
        f"zone {_e(src.zone or 'none')}",
        "estimated values" if src.estimated else "measured values",
    ]
    pairs = [("intensity source", " · ".join(source_bits))]
    if src.fallback_from:
        pairs.append(
            ("fallback", f'<span class="warn">from {_e(src.fallback_from)}: {_e(src.note)}</span>')
        )
    elif src.note:
        pairs.append(("note", _e(src.note)))
    if src.dataset:
        pairs.append(("dataset", _e(src.dataset)))
    return pairs


def _measurement_pairs(result: RunResult) -> list[tuple[str, str]]:
    """PUE, sampling interval, flags, error and pauses."""
    pairs = [("PUE", f"{result.pue:.2f}" if is_finite(result.pue) else "n/a")]
    interval = f"{result.interval_s:g} s" if is_finite(result.interval_s) else "n/a"
    pairs.append(("sampling interval", interval))
    if result.flags:
        pairs.append(("flags", _e(", ".join(result.flags))))
    if result.error:
        pairs.append(("error", f'<span class="warn">{_e(result.error)}</span>'))
    if result.pauses:
        pairs.append(("pauses", str(len(result.pauses))))
    return pairs


def _job_and_attribution_pairs(result: RunResult) -> list[tuple[str, str]]:
    """The distributed job's row and this process tree's share of the energy."""
    pairs: list[tuple[str, str]] = []
    if result.job is not None:
        j = result.job
        pairs.append(
            (
                "job",
                f"<code>{_e(j.job_id or 'no job id')}</code> · {_e(j.launcher)} · "
                f"rank {_e(str(j.rank))}/{_e(str(j.world_size))} · node "
                f"{_e(j.node)} · {_e(j.role)}",
            )
        )
    if result.attribution:
        att = result.attributed_energy_by_component_kwh
        for comp, how in result.attribution.items():
            value = format_energy_kwh(att[comp]) if comp in att else "–"
            pairs.append((f"this process tree: {comp}", f"{_e(value)} · {_e(how)}"))
        if result.attributed_emissions_g is not None:
            pairs.append(
                ("this process tree: CO2eq", _e(format_emissions_g(result.attributed_emissions_g)))
            )
    return pairs


def _metadata(result: RunResult) -> str:
    pairs: list[tuple[str, str]] = [
        ("run id", f"<code>{_e(result.run_id)}</code>"),
        ("name", _e(result.name)),
        ("status", _e(result.status)),
        ("started", f"{_e(format_time(result.started_at))} UTC"),
        ("ended", f"{_e(format_time(result.ended_at))} UTC"),
        ("duration", _e(format_duration_s(result.duration_s))),
        ("region", _region_cell(result)),
    ]
    pairs.extend(_source_pairs(result))
    pairs.extend(_measurement_pairs(result))
    pairs.extend(_job_and_attribution_pairs(result))
    for key, value in sorted(result.tags.items()):
        pairs.append((f"tag {key}", _e(str(value))))
    for key, value in sorted(result.host.items()):
        pairs.append((f"host {key}", _e(str(value))))
    pairs.append(("carbonsdk", _e(__version__)))
    return f'<table class="meta"><tbody>{_rows(pairs)}</tbody></table>'


# --------------------------------------------------------------------------- page

_CSS = """
:root{color-scheme:light;--fg:#1d2330;--muted:#6b7280;--line:#e5e7eb;--warn:#b45309}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:#fff;margin:0 auto;max-width:880px;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.15em;margin:28px 0 8px}
.sub,.muted{color:var(--muted)}.warn{color:var(--warn)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{flex:1 1 180px;border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card .v{font-size:1.5em;font-weight:600}.card .k{color:var(--muted);font-size:.85em}
svg.chart{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:8px}
svg .grid{stroke:#eef0f3}svg .axis,svg .tickmark{stroke:#9ca3af}
svg text{font-size:12px;fill:#4b5563}svg .unit{font-weight:600}
svg .paused{fill:#9ca3af;fill-opacity:.18}svg .nodata{font-size:16px;fill:#9ca3af}
svg .mark{stroke:#6366f1;stroke-dasharray:3 3}
.legend{margin:6px 0 0;font-size:.9em}.key{margin-right:14px;white-space:nowrap}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
table.meta th{width:190px;color:var(--muted);font-weight:500}
tr.own td{font-weight:600}table.plans{margin-top:14px}td.estimated{color:var(--warn)}
.statement{background:#f8fafc;border-left:3px solid #94a3b8;padding:10px 14px}
footer{margin-top:32px;font-size:.85em;color:var(--muted)}
@media print{body{max-width:none}}
"""


def render_html(result: RunResult, *, whatif: WhatIf | None = None) -> str:
    """The self-contained HTML report of ``result`` (UTF-8 text; no scripts, no network)."""
    intensity = (
        f"{format_sig(result.intensity_g_per_kwh)} g/kWh"
        if result.intensity_g_per_kwh is not None
        else "n/a"
    )
    cards = [
        ("duration", format_duration_s(result.duration_s)),
        ("energy", format_energy_kwh(result.energy_kwh)),
        ("emissions", f"{format_emissions_g(result.emissions_g)} CO2eq"),
        ("mean intensity", intensity),
    ]
    card_html = "".join(
        f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>'
        for k, v in cards
    )
    same_as = " · ".join(_e(p) for p in phrases(result.emissions_g))
    same_as_html = f'<p class="equivalents">Same CO2 as {same_as}.</p>' if same_as else ""
    region_note = (
        ""
        if result.region.known
        else '<p class="warn"><strong>Region unknown:</strong> '
        + ("a world-average intensity was used. " if world_average_used(result) else "")
        + "Pass <code>region=</code> to <code>measure()</code> or set "
        "<code>CARBONSDK_REGION</code>.</p>"
    )
    title = f"carbonsdk · {result.name or 'run'} · {result.run_id[:8]}"
    body = f"""<header>
<h1>{_e(result.name or "run")}</h1>
<p class="sub">run <code>{_e(result.run_id)}</code> · {_e(result.status)} ·
started {_e(format_time(result.started_at))} UTC · {_e(result.region.label)}</p>
</header>
{region_note}
<section class="cards">{card_html}</section>
{same_as_html}
<section><h2>Power by component</h2>{power_chart(result)}{_legend(result)}</section>
<section><h2>Grid carbon intensity</h2>{intensity_chart(result)}
<p class="legend muted">Solid: values for the time they held; dashed: estimated values;
dotted: energy-weighted mean.</p></section>
<section><h2>Cumulative emissions</h2>{emissions_chart(result)}</section>
<section><h2>What if</h2>{whatif_table(result, whatif)}</section>
<section><h2>Energy by component</h2>{_energy_table(result)}</section>
{_marks_table(result)}
<section><h2>Statement</h2><p class="statement">{_e(statement(result))}</p></section>
<section><h2>Run metadata</h2>{_metadata(result)}{_devices_table(result)}</section>
<footer class="attribution">Equivalents from the
<a href="{_e(EPA_SOURCE_URL)}">{_e(EPA_SOURCE_LABEL)}</a> (U.S. averages).
Generated by carbonsdk {_e(__version__)}; times in UTC.</footer>"""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="carbonsdk {_e(__version__)}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def write_html(
    result: RunResult, path: str | os.PathLike[str], *, whatif: WhatIf | None = None
) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8) and return the path. Raises
    :class:`OSError` when the file cannot be written."""
    target = Path(path).expanduser()
    target.write_text(render_html(result, whatif=whatif), encoding="utf-8")
    return target


__all__ = [
    "emissions_chart",
    "intensity_chart",
    "nice_ticks",
    "power_chart",
    "render_html",
    "time_ticks",
    "whatif_table",
    "write_html",
]
