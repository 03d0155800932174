"""Realistic RunResults for the report, HTML and CLI tests (a plain helper module, imported by
``tests/test_report*.py``, ``tests/test_html*.py`` and ``tests/test_cli_*.py``).

``make_run(variant)`` builds a deterministic run: a 2-hour timeline of 5-minute intervals with
GPU power ramping up, a dip, and a tail; CPU and RAM estimated by models; intensity stepping
every hour; PUE 1.1. Variants: ``"full"`` (3 components measured, 2 GPUs), ``"no_gpu"`` (gpu
not measured), ``"unknown_region"`` (world-average intensity, region unknown), ``"fallback"``
(electricitymaps failed, embedded used, estimated values, a degraded device), ``"failed"``
(a short failed run), ``"empty"`` (no timeline at all).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import DeviceResult, RunResult, TimelineInterval

START = datetime(2024, 3, 5, 14, 0, 0, tzinfo=UTC)
J_PER_KWH = 3.6e6
VARIANTS = ("full", "no_gpu", "unknown_region", "fallback", "failed", "empty")
#: What carbonsdk.sensors.nvml records on a machine without an NVIDIA driver (verbatim).
NO_DRIVER_REASON = (
    "no NVIDIA GPU visible (NVML: the NVML library libnvidia-ml.so.1 was not found (no NVIDIA "
    "driver installed) (NVML_ERROR_LIBRARY_NOT_FOUND))"
)


def gpu_power_w(t_s: float) -> float:
    """A training-like power trace for two GPUs (W): warm-up ramp, plateau, an evaluation dip
    at 50-60 min, plateau, then a cool-down tail."""
    minutes = t_s / 60.0
    if minutes < 10:
        return 100.0 + 50.0 * minutes
    if 50 <= minutes < 60:
        return 250.0
    if minutes >= 110:
        return 150.0
    return 600.0 + 20.0 * math.sin(minutes / 7.0)


def make_run(
    variant: str = "full",
    *,
    name: str = "bert-finetune",
    run_id: str = "3f2a9c1e5b7d4e21a0c3b5d7e9f1a2b4",
    start: datetime = START,
    step_s: float = 300.0,
    n_steps: int = 24,
) -> RunResult:
    """A realistic, deterministic :class:`RunResult` (see module docstring for variants)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    status, error = "completed", None
    if variant == "failed":
        n_steps, status, error = 3, "failed", "RuntimeError: CUDA out of memory"
    if variant == "empty":
        n_steps, status, error = 0, "failed", "ValueError: bad config"
    measure_gpu = variant != "no_gpu"
    unknown = variant == "unknown_region"
    pue = 1.1
    # hourly intensity steps (g/kWh): 320 then 270 then 410
    hourly = [320.0, 270.0, 410.0]
    if unknown:
        hourly = [481.0]
    timeline = []
    totals = {"gpu": 0.0, "cpu": 0.0, "ram": 0.0}
    emissions = 0.0
    for i in range(n_steps):
        s = start + timedelta(seconds=i * step_s)
        e = s + timedelta(seconds=step_s)
        t_mid = (i + 0.5) * step_s
        comp = {
            "cpu": 65.0 * step_s / J_PER_KWH,
            "ram": 12.0 * step_s / J_PER_KWH,
        }
        if measure_gpu:
            comp["gpu"] = gpu_power_w(t_mid) * step_s / J_PER_KWH
        energy = sum(comp.values())
        intensity = hourly[min(len(hourly) - 1, int(i * step_s // 3600))]
        em = energy * pue * intensity
        for k, v in comp.items():
            totals[k] += v
        emissions += em
        timeline.append(
            TimelineInterval(
                start=s,
                end=e,
                energy_kwh=energy,
                energy_by_component_kwh=comp,
                intensity_g_per_kwh=intensity,
                emissions_g=em,
                intensity_estimated=variant == "fallback",
            )
        )
    if not measure_gpu:
        del totals["gpu"]
    energy_kwh = sum(totals.values())
    duration_s = n_steps * step_s if n_steps else 0.4
    devices = [
        DeviceResult(
            "cpu", "cpu:host", "AMD EPYC 7763", "model-cpu-utilisation", True, totals["cpu"]
        ),
        DeviceResult("ram", "ram:host", "512 GiB DDR4", "model-ram-size", True, totals["ram"]),
    ]
    if measure_gpu:
        half = totals["gpu"] / 2
        for idx in range(2):
            devices.insert(
                idx,
                DeviceResult(
                    "gpu",
                    f"gpu:{idx}",
                    "NVIDIA A100-SXM4-80GB",
                    "nvml-energy-counter",
                    False,
                    half,
                    index=idx,
                    status="degraded" if (variant == "fallback" and idx == 1) else "ok",
                    error="NVML_ERROR_GPU_IS_LOST"
                    if (variant == "fallback" and idx == 1)
                    else None,
                ),
            )
    if unknown:
        region = Region.unknown()
        source = IntensitySource(
            provider="world-average",
            signal="average",
            basis="lifecycle",
            zone=None,
            estimated=True,
            dataset="Ember 2023 world average",
        )
        flags: tuple[str, ...] = ("region-unknown",)
    elif variant == "fallback":
        region = Region(provider="gcp", code="europe-west3", zone="DE", source="env", country="DE")
        source = IntensitySource(
            provider="embedded",
            signal="average",
            basis="lifecycle",
            zone="DE",
            estimated=True,
            fallback_from="electricitymaps",
            note="HTTP 401 from api.electricitymap.org",
            dataset="Electricity Maps 2023 hourly (ODbL)",
        )
        flags = ("intensity-fallback", "device-degraded")
    else:
        region = Region(
            provider="aws", code="us-west-2", zone="US-NW-PACW", source="explicit", country="US"
        )
        source = IntensitySource(
            provider="embedded",
            signal="average",
            basis="lifecycle",
            zone="US-NW-PACW",
            estimated=False,
            dataset="Electricity Maps 2023 hourly (ODbL)",
        )
        flags = ()
    not_measured = {} if measure_gpu else {"gpu": NO_DRIVER_REASON}
    return RunResult(
        run_id=run_id,
        name=name,
        status=status,
        started_at=start,
        ended_at=start + timedelta(seconds=duration_s),
        duration_s=duration_s,
        energy_kwh=energy_kwh,
        energy_by_component_kwh=totals,
        emissions_g=emissions,
        intensity_g_per_kwh=(emissions / pue / energy_kwh) if energy_kwh > 0 else None,
        pue=pue,
        region=region,
        intensity_source=source,
        timeline=tuple(timeline),
        devices=tuple(devices),
        tags={"team": "nlp", "git": "abc1234"},
        not_measured=not_measured,
        estimated_components=("cpu", "ram"),
        flags=flags,
        interval_s=1.0,
        host={"hostname": "trainer-01", "python": "3.11.9"},
        error=error,
    )


class FakeRegionRow:
    """A what-if region row (the shape of carbonsdk.schedule's rows)."""

    def __init__(self, zone: str, emissions_g: float, intensity_g_per_kwh: float) -> None:
        self.zone = zone
        self.emissions_g = emissions_g
        self.intensity_g_per_kwh = intensity_g_per_kwh


class FakePlan:
    """A what-if plan (savings_fraction, emissions_g)."""

    def __init__(self, emissions_g: float, savings_fraction: float) -> None:
        self.emissions_g = emissions_g
        self.savings_fraction = savings_fraction


class FakeWhatIf:
    """A what-if with regions and both plans, consistent with ``result``."""

    def __init__(self, result: RunResult) -> None:
        e = result.energy_kwh * result.pue
        self.regions = [
            FakeRegionRow("SE", e * 25.0, 25.0),
            FakeRegionRow("FR", e * 56.0, 56.0),
            FakeRegionRow("US-NW-PACW", result.emissions_g, result.intensity_g_per_kwh or 0.0),
            FakeRegionRow("PL", e * 760.0, 760.0),
        ]
        self.flexible_start = FakePlan(result.emissions_g * 0.88, 0.12)
        self.pause_and_resume = FakePlan(result.emissions_g * 0.81, 0.19)
