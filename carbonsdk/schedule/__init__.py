"""Carbon-aware scheduling: Flexible Start and Pause and Resume (Dodge et al., FAccT 2022),
retrospective (on recorded data), prospective (on a forecast) and live.

- :func:`flexible_start`, :func:`pause_and_resume` (and :func:`run_now`, the baseline) plan one
  job on one intensity series and return a :class:`Plan`;
- :func:`sweep` runs both for many jobs × zones × start times × windows, vectorised;
- :func:`wait_for_low_carbon` blocks until a low-carbon start; :class:`PausePolicy` is the
  online policy behind ``run.should_pause()``;
- :func:`whatif_for_run` replays a recorded run in every zone and with scheduling;
- :func:`backtest` simulates the live policy on a real series with a forecaster that sees only
  the past (:mod:`carbonsdk.schedule.forecasters`: the day-ahead blend, seasonal-naive, the
  typical year), next to the oracle; :func:`calibration` reads the shipped per-zone table.

numpy is imported only inside the functions that need it. See ``docs/scheduling.md``.
"""

from __future__ import annotations

from carbonsdk.schedule.backtest import Backtest, BacktestRow, Calibration, backtest, calibration
from carbonsdk.schedule.durations import format_duration, parse_duration
from carbonsdk.schedule.forecast import ForwardSeries, forward_series
from carbonsdk.schedule.live import PauseDecision, PausePolicy, WaitDecision, wait_for_low_carbon
from carbonsdk.schedule.plans import (
    Plan,
    PlanInterval,
    flexible_start,
    pause_and_resume,
    run_now,
)
from carbonsdk.schedule.sweep import (
    SweepJob,
    SweepResult,
    SweepWindow,
    ZoneSweep,
    reference_point,
    sweep,
)
from carbonsdk.schedule.whatif import WhatIf, WhatIfRow, whatif_for_run

__all__ = [
    "Backtest",
    "BacktestRow",
    "Calibration",
    "ForwardSeries",
    "PauseDecision",
    "PausePolicy",
    "Plan",
    "PlanInterval",
    "SweepJob",
    "SweepResult",
    "SweepWindow",
    "WaitDecision",
    "WhatIf",
    "WhatIfRow",
    "ZoneSweep",
    "backtest",
    "calibration",
    "flexible_start",
    "format_duration",
    "forward_series",
    "parse_duration",
    "pause_and_resume",
    "reference_point",
    "run_now",
    "sweep",
    "wait_for_low_carbon",
    "whatif_for_run",
]
