"""The terminal report: the end-of-run panel of a run (:class:`RunReport`) or of a
distributed job (:class:`JobReport`), the console they print to, and :func:`print_report`.

:mod:`rich` is imported lazily, inside the functions that draw, so that importing the report
stays cheap for the run code. Output rules: ``NO_COLOR`` is honoured (rich reads it), output
that is not a terminal gets plain text with no escape codes at all, a stream that cannot
encode Unicode gets ASCII, and the panel fits 60-column terminals. :func:`print_report` never
raises: a failure to render is logged.
"""

from __future__ import annotations

import io
import logging
import math
import sys
from typing import IO, TYPE_CHECKING

from carbonsdk.model.result import JobResult, RunResult
from carbonsdk.model.units import J_PER_KWH
from carbonsdk.report.content import (
    COMPONENT_ORDER,
    components_in,
    device_summary,
    equivalents_line,
    is_estimated,
    job_flag_text,
    pue_text,
    region_text,
    short_reason,
    source_lines,
    world_average_used,
)
from carbonsdk.report.format import (
    ascii_text,
    format_duration_s,
    format_emissions_g,
    format_energy_kwh,
    format_percent,
    format_power_w,
    format_sig,
    format_time,
    is_finite,
)
from carbonsdk.report.profiles import (
    intensity_profile_g_per_kwh,
    power_profile_w,
    run_span_s,
    sparkline,
)
from carbonsdk.report.whatif import WhatIf, whatif_lines

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.table import Table
    from rich.text import Text

logger = logging.getLogger("carbonsdk.report")

#: Widest the end-of-run panel grows on a wide terminal (columns), unless ``width`` is given.
MAX_PANEL_WIDTH = 100
#: Width of the label column of the run panel (columns).
LABEL_WIDTH = 10
_STATUS_STYLE = {"completed": "green", "failed": "bold red", "interrupted": "yellow"}
_SOURCE_STYLE = {"warn": "yellow", "dim": "dim"}


class _Texts:
    """Makes rich ``Text`` in a style, in ASCII when the console cannot encode Unicode."""

    def __init__(self, ascii_only: bool) -> None:
        self.ascii_only = ascii_only

    def __call__(self, value: str, style: str = "") -> Text:
        from rich.text import Text

        return Text(ascii_text(value) if self.ascii_only else value, style=style)


class _Rows:
    """The run panel's two-column grid: a bold label, then a value of styled parts."""

    def __init__(self, grid: Table, txt: _Texts) -> None:
        self.grid = grid
        self.txt = txt

    def add(self, label: str, *parts: tuple[str, str]) -> None:
        """One row: ``label``, then each (text, style) part appended."""
        from rich.text import Text

        value = Text()
        for text, style in parts:
            value.append_text(self.txt(text, style))
        self.grid.add_row(self.txt(label), value)


# --------------------------------------------------------------------------- run panel rows


def _duration_row(rows: _Rows, r: RunResult) -> None:
    start_txt, end_txt = format_time(r.started_at), format_time(r.ended_at)
    if end_txt[:10] == start_txt[:10]:
        end_txt = end_txt[11:]
    rows.add(
        "duration",
        (format_duration_s(r.duration_s), ""),
        (f"  {start_txt} → {end_txt} UTC", "dim"),
    )


def _component_rows(rows: _Rows, r: RunResult, comp: str) -> None:
    if comp in r.not_measured:
        reason = r.not_measured[comp]
        rows.add(f"  {comp}", (f"not measured: {short_reason(reason)}", "magenta"))
        return
    kwh = r.energy_by_component_kwh.get(comp, 0.0)
    pct = format_percent(kwh, r.energy_kwh)
    how = ("estimated", "yellow") if is_estimated(r, comp) else ("measured", "green")
    devices = device_summary(r, comp)
    rows.add(
        f"  {comp}",
        (f"{format_energy_kwh(kwh):>9} {pct:>4}  ", ""),
        how,
        (f" · {devices}" if devices else "", "dim"),
    )
    for d in r.devices:
        if d.component == comp and d.status != "ok":
            rows.add("", (f"⚠ {d.key} {d.status}: {d.error or 'no reason given'}", "yellow"))


def _energy_rows(rows: _Rows, r: RunResult) -> None:
    rows.add("energy", (format_energy_kwh(r.energy_kwh), "bold"))
    for comp in components_in(r):
        _component_rows(rows, r, comp)


def _emissions_row(rows: _Rows, r: RunResult) -> None:
    intensity = (
        f" · {format_sig(r.intensity_g_per_kwh)} g/kWh" if r.intensity_g_per_kwh is not None else ""
    )
    rows.add(
        "emissions",
        (f"{format_emissions_g(r.emissions_g)} CO2eq", "bold"),
        (intensity, ""),
        (f" · PUE {pue_text(r.pue)}", "" if r.pue != 1.0 else "dim"),
    )


def _attribution_rows(rows: _Rows, r: RunResult) -> None:
    if not (r.attributed_energy_by_component_kwh or r.attribution):
        return
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
    rows.add("this proc", *parts)
    for comp, method in r.attribution.items():
        att_comp = r.attributed_energy_by_component_kwh.get(comp)
        shown = format_energy_kwh(att_comp) if att_comp is not None else "–"
        rows.add("", (f"{comp} {shown}: {method}", "dim"))


def _where_rows(rows: _Rows, r: RunResult) -> None:
    for i, (text, kind) in enumerate(source_lines(r.intensity_source)):
        rows.add("source" if i == 0 else "", (text, _SOURCE_STYLE.get(kind, "")))
    text, unknown = region_text(r.region, world_average=world_average_used(r))
    rows.add("region", (text, "bold red" if unknown else ""))


def _context_rows(rows: _Rows, r: RunResult) -> None:
    if r.job is not None:
        j = r.job
        rank = f"rank {j.rank}/{j.world_size}" if j.rank is not None else "rank ?"
        rows.add("job", (f"{j.job_id or 'no job id'} · {rank} · node {j.node} · {j.role}", ""))
    if r.marks:
        rows.add(
            "marks",
            (f"{len(r.marks)} (first {r.marks[0].label!r}, last {r.marks[-1].label!r})", "dim"),
        )
    if r.flags:
        rows.add("flags", (", ".join(r.flags), "yellow"))
    if r.error:
        rows.add("error", (r.error, "red"))


def _profile_rows(rows: _Rows, r: RunResult, value_w: int) -> None:
    span_s = run_span_s(r)
    if not (r.timeline and span_s > 0):
        return
    ascii_only = rows.txt.ascii_only
    avg_w = r.energy_kwh * J_PER_KWH / span_s
    spark_w = max(8, min(48, value_w - 27))
    power = power_profile_w(r, spark_w)
    peak = max((v for v in power if v is not None and is_finite(v)), default=math.nan)
    rows.add(
        "power",
        (sparkline(power, lo=0.0, ascii_only=ascii_only), "cyan"),
        (f" avg {format_power_w(avg_w)} · max {format_power_w(peak)}", "dim"),
    )
    inten = intensity_profile_g_per_kwh(r, spark_w)
    present = [v for v in inten if v is not None and is_finite(v)]
    if present:
        lo, hi = min(present), max(present)
        rng = format_sig(lo) if abs(hi - lo) < 0.5 else f"{format_sig(lo)}–{format_sig(hi)}"
        rows.add(
            "intensity",
            (sparkline(inten, ascii_only=ascii_only), "green"),
            (f" {rng} g/kWh", "dim"),
        )


def _closing_rows(rows: _Rows, r: RunResult, whatif: WhatIf | None) -> None:
    same_as = equivalents_line(r.emissions_g)
    if same_as:
        rows.add("same as", (same_as, ""))
    for i, line in enumerate(whatif_lines(r, whatif)):
        rows.add("what-if" if i == 0 else "", (line, ""))


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

        limit = self.width if self.width is not None else MAX_PANEL_WIDTH
        width = max(30, min(options.max_width, limit))
        value_w = max(16, width - 4 - LABEL_WIDTH - 2)
        r = self.result
        txt = _Texts(options.ascii_only)

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True, width=LABEL_WIDTH)
        grid.add_column(overflow="fold")
        rows = _Rows(grid, txt)
        _duration_row(rows, r)
        _energy_rows(rows, r)
        _emissions_row(rows, r)
        _attribution_rows(rows, r)
        _where_rows(rows, r)
        _context_rows(rows, r)
        _profile_rows(rows, r, value_w)
        _closing_rows(rows, r, self.whatif)

        subtitle = Text.assemble(
            txt(f"{r.run_id[:8]} · ", "dim"), txt(r.status, _STATUS_STYLE.get(r.status, ""))
        )
        yield Panel(
            grid,
            title=txt(f"carbonsdk · {r.name or 'run'}", "bold"),
            title_align="left",
            subtitle=subtitle,
            subtitle_align="right",
            box=box.ROUNDED,
            width=width,
            padding=(0, 1),
        )


# --------------------------------------------------------------------------- job panel


def _job_head(j: JobResult, txt: _Texts) -> Table:
    """The job panel's totals: job, duration, energy by component, emissions, equivalents."""
    from rich.table import Table
    from rich.text import Text

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True, width=10)
    head.add_column(overflow="fold")
    expected = f" of {j.expected_nodes}" if j.expected_nodes is not None else ""
    head.add_row(
        txt("job"),
        txt(f"{j.job_id} · {j.launcher} · {len(j.nodes)}{expected} node(s) · {len(j.runs)} run(s)"),
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
    same_as = equivalents_line(j.emissions_g)
    if same_as:
        head.add_row(txt("same as"), txt(same_as))
    return head


def _job_nodes_table(j: JobResult, txt: _Texts) -> Table:
    """One row per host: node, ranks, zone (``*``: intensity estimated), energy, CO2eq, g/kWh."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, safe_box=txt.ascii_only)
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
    return table


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

        limit = self.width if self.width is not None else MAX_PANEL_WIDTH
        width = max(40, min(options.max_width, limit))
        j = self.job
        txt = _Texts(options.ascii_only)

        parts: list[object] = [_job_head(j, txt), _job_nodes_table(j, txt)]
        if any(n.intensity_estimated for n in j.nodes):
            parts.append(txt("* intensity estimated for some intervals", "dim"))
        for flag in j.flags:
            if flag == "intensity-estimated":
                continue
            parts.append(txt(f"⚠ {job_flag_text(flag)}", "yellow"))
        yield Panel(
            Group(*parts),  # type: ignore[arg-type]
            title=txt("carbonsdk · job", "bold"),
            title_align="left",
            subtitle=txt(j.status, _STATUS_STYLE.get(j.status, "")),
            subtitle_align="right",
            box=box.ROUNDED,
            width=width,
            padding=(0, 1),
        )


# --------------------------------------------------------------------------- consoles


def is_terminal(stream: IO[str]) -> bool:
    """True when ``stream`` is an interactive terminal (False when it cannot tell)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A rich console for ``file`` (default stderr): colour only on a terminal (and never with
    ``NO_COLOR``), plain text with no escape codes otherwise, no highlighting or emoji.
    ``width`` in columns (default: the terminal's)."""
    from rich.console import Console

    out = file if file is not None else sys.stderr
    tty = is_terminal(out)
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


__all__ = [
    "MAX_PANEL_WIDTH",
    "JobReport",
    "RunReport",
    "is_terminal",
    "make_console",
    "print_report",
    "render_text",
]
