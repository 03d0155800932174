"""What the reports say, as plain text, shared by the terminal and HTML reports: components
in display order, device summaries, short reasons for an unmeasured component, how a region
was found, the intensity source, everyday equivalents, the paper-ready statement and the
sentences for a distributed job's flags. No rendering library here: strings in, strings out."""

from __future__ import annotations

from carbonsdk._version import __version__
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import RunResult
from carbonsdk.report.equivalents import phrases
from carbonsdk.report.format import NOT_AVAILABLE, format_sig, format_time, is_finite

COMPONENT_ORDER = ("gpu", "cpu", "ram")


# --------------------------------------------------------------------------- components


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


# --------------------------------------------------------------------------- short reasons


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


# --------------------------------------------------------------------------- region and source


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


def world_average_used(result: RunResult) -> bool:
    """True when the run's intensity is the world average (what an unknown region gets)."""
    return result.intensity_source.provider == "world-average"


def region_text(region: Region, *, world_average: bool) -> tuple[str, bool]:
    """The terminal report's region line and whether it is a warning (the region is unknown):
    ``"US-OR · detected from AWS instance metadata"``, or how to give the region when it is
    not known (``world_average``: the world-average intensity stood in for it)."""
    if not region.known:
        used = " — world-average intensity" if world_average else ""
        return (
            f"unknown{used}; pass region= to measure() or set CARBONSDK_REGION",
            True,
        )
    return f"{region.label} · {region_source_text(region.source)}", False


def source_lines(source: IntensitySource) -> list[tuple[str, str]]:
    """The intensity source as (line, kind) pairs: provider · signal · basis · zone (and
    "estimated"), then the fallback (kind ``"warn"``) or the provider's note (``"dim"``)."""
    parts = [source.provider, source.signal, source.basis]
    if source.zone:
        parts.append(f"zone {source.zone}")
    lines = [(" · ".join(parts), "")]
    if source.estimated:
        lines[0] = (lines[0][0] + " · estimated", "")
    if source.fallback_from:
        note = f": {source.note}" if source.note else ""
        lines.append((f"fallback from {source.fallback_from}{note}", "warn"))
    elif source.note:
        lines.append((source.note, "dim"))
    return lines


def pue_text(pue: float) -> str:
    """The PUE with two decimals (``"1.10"``); ``"n/a"`` when not finite."""
    return f"{pue:.2f}" if is_finite(pue) else NOT_AVAILABLE


def equivalents_line(emissions_g: float) -> str:
    """The everyday equivalents of ``emissions_g`` grams of CO2 on one line, joined by
    ``" · "``; ``""`` when there is none worth showing."""
    return " · ".join(phrases(emissions_g))


# --------------------------------------------------------------------------- statement


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


def _intensity_clause(result: RunResult) -> str:
    """`` at an average grid carbon intensity of ... (source)``, or ``""`` without one."""
    if result.intensity_g_per_kwh is None:
        return ""
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
    return (
        f" at an average grid carbon intensity of {format_sig(result.intensity_g_per_kwh)} "
        f"g CO2eq/kWh ({'; '.join(src_bits)})"
    )


def _energy_sentence(result: RunResult) -> str | None:
    """``"Energy measured: ...; estimated with power models: ...; not measured: ...."``"""
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
    return "Energy " + "; ".join(detail) + "." if detail else None


def statement(result: RunResult) -> str:
    """A paper-ready paragraph: energy (kWh), hardware, region, emissions (CO2eq), mean
    intensity (g/kWh) and its source, what was measured and what estimated, PUE and the date,
    all from ``result``."""
    name = result.name or "the run"
    hardware = _hardware_phrase(result)
    where = f"in {result.region.label}" if result.region.known else "in an unknown region"
    lead = (
        f"“{name}” consumed {format_sig(result.energy_kwh)} kWh of electricity over "
        f"{_paper_duration(result.duration_s)}"
        + (f" {hardware}" if hardware else "")
        + f" {where}, emitting {_paper_emissions(result.emissions_g)}{_intensity_clause(result)}."
    )
    sentences = [lead]
    energy = _energy_sentence(result)
    if energy:
        sentences.append(energy)
    if result.pue != 1.0:
        sentences.append(f"Emissions include a data-centre PUE of {pue_text(result.pue)}.")
    if not result.region.known and world_average_used(result):
        sentences.append("The region was not known, so a world-average intensity was used.")
    elif not result.region.known:
        sentences.append("The region was not known.")
    sentences.append(
        f"The run started at {format_time(result.started_at)} UTC and was measured with "
        f"carbonsdk {__version__}."
    )
    return " ".join(sentences)


# --------------------------------------------------------------------------- job flags


_JOB_FLAG_TEXT = {
    "job-id-not-unique": "job id derived from the master address: may mix jobs (use --rdzv-id)",
    "region-unknown": "a host's region is unknown: world-average intensity, flagged",
    "intensity-estimated": "some intensity values are estimates",
    "rebuilt-from-checkpoints": "a host's run was killed and rebuilt from checkpoints",
}


def job_flag_text(flag: str) -> str:
    """A human sentence for a :class:`~carbonsdk.model.result.JobResult` flag."""
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


__all__ = [
    "COMPONENT_ORDER",
    "MAX_REASON_CHARS",
    "components_in",
    "device_summary",
    "equivalents_line",
    "is_estimated",
    "job_flag_text",
    "pue_text",
    "region_source_text",
    "region_text",
    "short_reason",
    "source_lines",
    "statement",
    "world_average_used",
]
