"""The reports: a run's (or a distributed job's) outcome for people, in the terminal
(:mod:`~carbonsdk.report.terminal`, :mod:`~carbonsdk.report.live`) and as one self-contained
HTML file (:mod:`carbonsdk.report.html`).

The report is a view: it is handed its data (a :class:`~carbonsdk.model.result.RunResult` or
:class:`~carbonsdk.model.result.JobResult`, and the what-if the caller computed with
:func:`carbonsdk.schedule.whatif_for_run`) and never fetches any: nothing here imports the
scheduler, the run code, the sampler, the ledger, the CLI, an intensity provider or the
network. One concern per module:

- :mod:`~carbonsdk.report.format`: unit formatters (``"1.23 kWh"``, ``"n/a"`` for non-finite);
- :mod:`~carbonsdk.report.profiles`: the timeline resampled (power, intensity), sparklines;
- :mod:`~carbonsdk.report.content`: the texts (devices, reasons, region, source, statement);
- :mod:`~carbonsdk.report.whatif`: the what-if protocols and lines, when advice is worth it;
- :mod:`~carbonsdk.report.terminal`: the rich panels, consoles and :func:`print_report`;
- :mod:`~carbonsdk.report.live`: the live panel and the progress bar;
- :mod:`~carbonsdk.report.html`: the HTML report with inline SVG charts;
- :mod:`~carbonsdk.report.equivalents`: everyday equivalents of an amount of CO2 (EPA).

:mod:`rich` is imported lazily, inside the functions that draw, so importing this package
stays cheap for the run code. Non-finite numbers print as ``"n/a"``.
"""

from carbonsdk.report.content import (
    components_in,
    device_summary,
    is_estimated,
    job_flag_text,
    region_source_text,
    short_reason,
    statement,
    world_average_used,
)
from carbonsdk.report.format import (
    NOT_AVAILABLE,
    format_duration_s,
    format_emissions_g,
    format_energy_kwh,
    format_percent,
    format_power_w,
    format_sig,
    format_time,
    is_finite,
)
from carbonsdk.report.live import LivePanel, progress_iter
from carbonsdk.report.profiles import (
    bucket_means,
    intensity_profile_g_per_kwh,
    power_profile_w,
    sparkline,
)
from carbonsdk.report.terminal import (
    JobReport,
    RunReport,
    make_console,
    print_report,
    render_text,
)
from carbonsdk.report.whatif import (
    MIN_SAVING_FRACTION,
    MIN_SHIFT_DURATION_S,
    MIN_SHIFT_ENERGY_KWH,
    WhatIf,
    WhatIfPlan,
    WhatIfRegion,
    finish_delay_s,
    whatif_baseline_g,
    whatif_lines,
    worth_rescheduling,
)

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
    "job_flag_text",
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
