"""The terminal report: golden renders at 80 and 60 columns, plain text off a terminal, NO_COLOR,
ASCII streams, the what-if handed in by the caller (the report never imports the scheduler),
when rescheduling advice is given, short reasons and region wording, non-finite values, never
raising, the statement and the live panel.

Regenerate the golden files after a deliberate change with
``CARBONSDK_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py`` and review the diff.
"""

from __future__ import annotations

import ast
import io
import logging
import math
import os
import re
import subprocess
import sys
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest_report import NO_DRIVER_REASON, VARIANTS, FakePlan, FakeWhatIf, make_run

from carbonsdk.cli.report import whatif_or_none
from carbonsdk.model.result import RunResult
from carbonsdk.report import (
    MIN_SHIFT_DURATION_S,
    LivePanel,
    RunReport,
    bucket_means,
    finish_delay_s,
    format_duration_s,
    format_emissions_g,
    format_energy_kwh,
    format_percent,
    format_power_w,
    format_sig,
    power_profile_w,
    print_report,
    progress_iter,
    region_source_text,
    render_text,
    short_reason,
    sparkline,
    statement,
    whatif_lines,
    worth_rescheduling,
)
from carbonsdk.report import equivalents as eq

GOLDEN = Path(__file__).parent / "golden"
ESC = re.compile(r"\x1b\[")
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-9]|9[0-7]|38;[0-9;]+)m")


class TTYStringIO(io.StringIO):
    """A StringIO that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def _paren_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        deepest = max(deepest, depth)
    return deepest


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CARBONSDK_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run with CARBONSDK_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"render differs from {path}"


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("variant", VARIANTS)
def test_golden_render(variant: str, width: int) -> None:
    result = make_run(variant)
    whatif = FakeWhatIf(result) if variant == "full" else None
    text = render_text(result, width=width, whatif=whatif)
    assert not ESC.search(text)
    assert all(len(line) <= width for line in text.splitlines())
    _golden(f"report_{variant}_{width}.txt", text)


def test_report_content_marks_estimated_and_not_measured() -> None:
    text = render_text(make_run("no_gpu"))
    assert "not measured: no NVIDIA driver (libnvidia-ml not found)" in text
    gpu_line = next(line for line in text.splitlines() if "not measured" in line)
    assert _paren_depth(gpu_line) == 1
    assert re.search(r"cpu\s+130 Wh\s+84%\s+estimated", text)
    assert "gpu" in text and "0 kWh" not in text  # never reported as zero
    full = render_text(make_run("full"))
    assert re.search(r"gpu\s+1\.02 kWh\s+87%\s+measured · 2× NVIDIA A100", full)
    assert "PUE 1.10" in full and "294 g/kWh" in full and "382 g CO2eq" in full
    assert "embedded · average · lifecycle · zone US-NW-PACW" in full
    assert "aws:us-west-2 (US-NW-PACW) · as you gave it" in full
    assert "via" not in full


def test_unknown_region_is_loud_and_fallback_is_explained() -> None:
    text = render_text(make_run("unknown_region"), width=80)
    assert "unknown" in text and "region=" in text and "CARBONSDK_REGION" in text
    assert "region-unknown" in text
    fallback = render_text(make_run("fallback"), width=80)
    assert "fallback from electricitymaps" in fallback and "HTTP 401" in fallback
    assert "estimated" in fallback
    assert "gpu:1 degraded: NVML_ERROR_GPU_IS_LOST" in fallback


def test_whatif_lines() -> None:
    result = make_run("full")
    text = render_text(result, whatif=FakeWhatIf(result))
    assert "cleanest SE: 32.4 g (−92%)" in text
    assert "dirtiest PL: 985 g (+158%)" in text
    assert "flexible start saves 12%" in text and "pause & resume saves 19%" in text
    assert "what-if" not in render_text(result)


def test_print_report_non_tty_is_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "60")
    out = io.StringIO()
    print_report(make_run("full"), file=out)
    text = out.getvalue()
    assert "bert-finetune" in text and "1.18 kWh" in text
    assert not ESC.search(text)
    assert max(len(line) for line in text.splitlines()) == 60


def test_print_report_tty_colours_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    coloured = TTYStringIO()
    print_report(make_run("full"), file=coloured)
    assert COLOUR.search(coloured.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    plain = TTYStringIO()
    print_report(make_run("full"), file=plain)
    assert "bert-finetune" in plain.getvalue()
    assert not COLOUR.search(plain.getvalue())


def test_print_report_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    print_report(make_run("full"))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bert-finetune" in captured.err


def test_print_report_on_ascii_stream() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    result = make_run("full")
    print_report(result, file=stream, whatif=FakeWhatIf(result))
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "1.18 kWh" in text and "what-if" in text
    assert "+--" in text or "|" in text


def test_print_report_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError("disk on fire")

    with caplog.at_level(logging.WARNING, logger="carbonsdk.report"):
        print_report(make_run("full"), file=Broken())
    assert "could not print the run report" in caplog.text

    class Weird:
        """A whatif whose attributes blow up."""

        @property
        def regions(self) -> list[object]:
            raise RuntimeError("boom")

    with caplog.at_level(logging.WARNING, logger="carbonsdk.report"):
        print_report(make_run("full"), file=io.StringIO(), whatif=Weird())  # type: ignore[arg-type]


def test_print_report_does_not_compute_a_whatif() -> None:
    """The report is handed its data: without ``whatif=`` there are no what-if lines."""
    out = io.StringIO()
    print_report(make_run("full"), file=out)
    assert "bert-finetune" in out.getvalue() and "what-if" not in out.getvalue()


_NO_SCHEDULER = """
import io, sys
sys.path.insert(0, "tests")
from conftest_report import FakeWhatIf, make_run
from carbonsdk.report import print_report, render_text
from carbonsdk.report.html import render_html
r = make_run("full")
render_text(r, whatif=FakeWhatIf(r))
render_html(r, whatif=FakeWhatIf(r))
print_report(r, file=io.StringIO())
print(sorted(m for m in sys.modules if m.startswith("carbonsdk.schedule")))
"""


def test_report_modules_never_import_the_scheduler(
    subprocess_env: dict[str, str], repo_root: Path
) -> None:
    """Render both reports in a fresh interpreter: carbonsdk.schedule is never imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _NO_SCHEDULER],
        cwd=repo_root,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


#: What the report package may import of the SDK: the values, its own modules, the version.
_REPORT_MAY_IMPORT = ("carbonsdk.model", "carbonsdk.report", "carbonsdk._version")
#: Network modules a view never imports (it is handed its data).
_NETWORK_MODULES = {"requests", "urllib", "urllib3", "http", "httpx", "socket"}


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved to the
    report package), at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "carbonsdk.report" if node.level else ""
            module = node.module or ""
            names.add(".".join(p for p in (base, module) if p))
    return names


def test_report_package_is_a_view_that_imports_only_values() -> None:
    """The report is layer 4: it imports the values (carbonsdk.model), its own modules and the
    version, never the scheduler, run code, sampler, ledger, CLI, providers or the network."""
    import carbonsdk.report

    package = Path(carbonsdk.report.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert {m.stem for m in modules} >= {"format", "terminal", "html", "equivalents"}
    seen: set[str] = set()
    for path in modules:
        for name in _imported_modules(path):
            seen.add(name)
            if name == "carbonsdk" or name.startswith("carbonsdk."):
                assert name.startswith(_REPORT_MAY_IMPORT), f"{path.name} imports {name}"
            assert name.split(".")[0] not in _NETWORK_MODULES, f"{path.name} imports {name}"
    assert "carbonsdk.model.result" in seen and "carbonsdk.report.format" in seen


def test_whatif_or_none_hands_the_real_whatif_to_the_report() -> None:
    """The CLI's helper computes the what-if with carbonsdk.schedule (embedded data); the
    report renders it; nothing to replay gives None."""
    result = make_run("full")
    whatif = whatif_or_none(result)
    assert whatif is not None
    out = io.StringIO()
    print_report(result, file=out, whatif=whatif)
    text = out.getvalue()
    assert "what-if" in text and "cleanest" in text and "dirtiest" in text
    assert whatif_or_none(make_run("empty")) is None  # no timeline
    assert whatif_or_none(attrs.evolve(result, energy_kwh=math.nan)) is None


def test_rich_renderable_respects_console_and_width() -> None:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None, legacy_windows=False)
    console.print(RunReport(make_run("full"), width=70))
    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) == 70
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(RunReport(make_run("full")))
    assert max(len(line) for line in buffer.getvalue().splitlines()) == 100


def test_statement_is_paper_ready() -> None:
    text = statement(make_run("full"))
    assert text.startswith(
        "“bert-finetune” consumed 1.18 kWh of electricity over 2.0 hours "
        "on 2 NVIDIA A100-SXM4-80GB GPUs in aws:us-west-2 (US-NW-PACW), "
        "emitting 0.382 kg CO2eq at an average grid carbon intensity of "
        "294 g CO2eq/kWh (embedded data for grid zone US-NW-PACW; average "
        "emissions, lifecycle basis)."
    )
    assert "estimated with power models: CPU 0.130 kWh, RAM 0.0240 kWh" in text
    assert "PUE of 1.10" in text and "2024-03-05 14:00:00 UTC" in text
    assert "\n" not in text
    unknown = statement(make_run("unknown_region"))
    assert "in an unknown region" in unknown and "world-average" in unknown
    no_gpu = statement(make_run("no_gpu"))
    assert "not measured: GPU" in no_gpu and "on AMD EPYC 7763" in no_gpu
    fallback = statement(make_run("fallback"))
    assert "fallback after electricitymaps failed" in fallback and "partly estimated" in fallback


def test_formatting() -> None:
    assert format_energy_kwh(1.1804) == "1.18 kWh"
    assert format_energy_kwh(0.1304) == "130 Wh"
    assert format_energy_kwh(0.0000421) == "0.0421 Wh"
    assert format_energy_kwh(2345.0) == "2.35 MWh"
    assert format_energy_kwh(0) == "0 kWh"
    assert format_emissions_g(382.04) == "382 g"
    assert format_emissions_g(1234.5) == "1.23 kg"
    assert format_emissions_g(4.56e6) == "4.56 t"
    assert format_emissions_g(0.999) == "0.999 g"
    assert format_power_w(589.2) == "589 W"
    assert format_power_w(12345) == "12.3 kW"
    assert format_duration_s(45.24) == "45.2 s"
    assert format_duration_s(725) == "12m 05s"
    assert format_duration_s(3 * 3600 + 4 * 60) == "3h 04m"
    assert format_duration_s(2 * 86400 + 3 * 3600) == "2d 03h"
    assert format_sig(99.96) == "100" and format_sig(0.0012345) == "0.00123"
    assert format_sig(123456) == "123,456"


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], lo=0, hi=7) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▄▄▄"
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([1, None, 3]) == "▁ █"
    assert sparkline([None, None]) == "  "
    assert sparkline([0, 7], ascii_only=True) == "_#"


def test_bucket_means_is_time_weighted_and_conserves_energy() -> None:
    # 10 W for 3 s then 40 W for 1 s, in 2 buckets of 2 s
    assert bucket_means([0, 3], [3, 4], [10, 40], 2, 0, 4) == [10, 25]
    # gaps are None, not zero
    assert bucket_means([0], [1], [5], 4, 0, 4) == [5, None, None, None]
    result = make_run("full")
    for n in (1, 7, 48, 1000):
        profile = power_profile_w(result, n)
        energy_j = sum(v or 0.0 for v in profile) * result.duration_s / n
        assert energy_j == pytest.approx(result.energy_kwh * 3.6e6, rel=1e-9)


def test_equivalents_figures_and_scale() -> None:
    assert eq.SMARTPHONE_CHARGE_T == 8.22e-6
    assert eq.MILE_DRIVEN_T == 3.98e-4
    assert eq.HOME_YEAR_T == 8.30
    km_t = eq.KM_DRIVEN_T
    assert abs(km_t - 2.473e-4) < 1e-7
    one_tonne = {e.key: e.quantity for e in eq.equivalents(1e6)}
    assert one_tonne["smartphone_charges"] == pytest.approx(121_655, rel=1e-4)
    assert one_tonne["miles_driven"] == pytest.approx(2512.6, rel=1e-4)
    assert one_tonne["km_driven"] == pytest.approx(2512.6 * 1.609344, rel=1e-4)
    assert one_tonne["home_days"] == pytest.approx(365.25 / 8.30, rel=1e-6)
    big = {e.key for e in eq.equivalents(20e6)}
    assert "home_years" in big and "home_days" not in big
    assert all(e.quantity == 0 for e in eq.equivalents(-5))


def test_live_panel_is_a_noop_off_a_terminal() -> None:
    out = io.StringIO()
    panel = LivePanel("train", file=out)
    panel.start()
    assert not panel.active
    panel.update(12.0, 350.0, 0.001, 0.4)
    panel.stop()
    assert out.getvalue() == ""
    assert "12.0 s · 350 W" in panel.render_line()


def test_live_panel_on_a_terminal() -> None:
    out = TTYStringIO()
    panel = LivePanel("train", file=out, refresh_per_second=20)
    panel.start()
    assert panel.active
    for i in range(50):
        panel.update(float(i), 100.0 + i, i / 1000, None if i < 2 else i * 0.3)
    panel.stop()
    assert not panel.active
    panel.stop()  # idempotent
    line = panel.render_line()
    assert line.startswith("49.0 s · 149 W") and "14.7 g CO2eq" in line
    assert "train" in out.getvalue()


def test_progress_iter_passes_items_through() -> None:
    assert list(progress_iter(range(5), description="x", file=io.StringIO())) == [0, 1, 2, 3, 4]
    out = TTYStringIO()
    assert list(progress_iter(range(3), description="sweep", total=3, file=out)) == [0, 1, 2]


def test_zero_duration_run_does_not_crash() -> None:
    result = attrs.evolve(make_run("empty"), duration_s=0.0, ended_at=make_run("empty").started_at)
    text = render_text(result, width=60)
    assert "0.0 s" in text and "power" not in text


def test_whatif_compares_with_the_own_zone_replay_and_reports_no_saving() -> None:
    result = make_run("full")
    whatif = FakeWhatIf(result)
    whatif.own = types.SimpleNamespace(emissions_g=500.0)  # type: ignore[attr-defined]
    whatif.flexible_start = types.SimpleNamespace(  # type: ignore[assignment]
        emissions_g=400.0, baseline_emissions_g=500.0, savings_fraction=0.2, delay_s=10800.0
    )
    whatif.pause_and_resume = types.SimpleNamespace(  # type: ignore[assignment]
        emissions_g=500.0, baseline_emissions_g=500.0, savings_fraction=0.0, pauses=0
    )
    text = render_text(result, width=100, whatif=whatif)
    assert "cleanest SE: 32.4 g (−94%)" in text  # vs 500 g, not the recorded 382 g
    assert "flexible start saves 20% (100 g, start 3h 00m later)" in text
    assert "pause & resume" not in text  # no saving: not suggested


def test_unknown_region_with_a_user_intensity_does_not_claim_world_average() -> None:
    from carbonsdk.model.intensity import IntensitySource

    result = attrs.evolve(
        make_run("unknown_region"), intensity_source=IntensitySource(provider="constant")
    )
    text = render_text(result, width=100)
    assert "unknown; pass region= to measure() or set CARBONSDK_REGION" in text
    assert "world-average" not in text
    assert "world-average" not in statement(result)


def test_equivalent_phrases_pick_readable_units() -> None:
    assert eq.phrases(382.0) == (
        "46 smartphone charges",
        "1.5 km by car (0.96 mi)",
        "24 minutes of a U.S. home's energy use",
    )
    # 0.0214 g: 0.0026 smartphone charges and 0.081 s of a home are too small to picture
    assert eq.phrases(0.0214) == ("8.7 cm by car",)
    assert eq.phrases(1.0) == (
        "0.12 smartphone charges",
        "4.0 m by car",
        "3.8 seconds of a U.S. home's energy use",
    )
    assert eq.phrases(45.0)[1] == "182 m by car"
    # 20 t: 2.4 million smartphone charges is no picture either; the scalable units stay
    assert eq.phrases(2e7) == (
        "80,872 km by car (50,251 mi)",
        "2.4 years of a U.S. home's energy use",
    )
    assert eq.phrases(1e5) == ("404 km by car (251 mi)", "4.4 days of a U.S. home's energy use")
    for grams in (0.0, -3.0, 1e-9, math.nan, math.inf):
        assert eq.phrases(grams) == ()


@pytest.mark.parametrize("grams", [1e-6, 1e-3, 0.0214, 0.3, 1.0, 7.0, 45.0, 382.0, 1e4, 1e5, 3e6])
def test_every_equivalent_number_is_between_a_tenth_and_a_thousand(grams: float) -> None:
    """Each phrase's number is in [0.1, 1000], except in the largest unit (km, years), which
    has no bigger unit to move to."""
    for phrase in eq.phrases(grams):
        number = float(phrase.split()[0].replace(",", ""))
        largest_unit = " km by car" in phrase or " years of" in phrase
        assert number >= 0.1, phrase
        assert largest_unit or number <= 1000, phrase


def _scaled(result: RunResult, duration_s: float, scale: float) -> RunResult:
    return attrs.evolve(
        result,
        duration_s=duration_s,
        ended_at=result.started_at + timedelta(seconds=duration_s),
        energy_kwh=result.energy_kwh * scale,
        energy_by_component_kwh={k: v * scale for k, v in result.energy_by_component_kwh.items()},
        emissions_g=result.emissions_g * scale,
    )


def test_tiny_run_has_no_same_as_line_and_no_rescheduling_advice() -> None:
    """A 5-second job: no equivalents too small to mean anything, no "start 14h later"."""
    tiny = _scaled(make_run("full"), 5.0, 1e-7)
    whatif = FakeWhatIf(tiny)
    whatif.flexible_start = types.SimpleNamespace(  # type: ignore[assignment]
        emissions_g=tiny.emissions_g * 0.5,
        baseline_emissions_g=tiny.emissions_g,
        savings_fraction=0.5,
        delay_s=14 * 3600.0,
    )
    assert not worth_rescheduling(tiny)
    text = render_text(tiny, width=80, whatif=whatif)
    assert "later" not in text and "flexible start" not in text and "pause" not in text
    assert "cleanest SE" in text  # the region comparison is still shown
    assert "same as" not in text  # 0.000038 g: nothing a reader can picture


def test_rescheduling_advice_needs_a_long_or_large_job_and_a_material_saving() -> None:
    result = make_run("full")  # 2 h, 1.18 kWh
    assert worth_rescheduling(result)
    short_but_big = _scaled(result, 60.0, 1.0)
    assert worth_rescheduling(short_but_big)  # 1.18 kWh in a minute: still material
    short_small = _scaled(result, 60.0, 0.2)
    assert not worth_rescheduling(short_small)
    assert worth_rescheduling(_scaled(result, MIN_SHIFT_DURATION_S, 0.2))
    whatif = FakeWhatIf(result)
    whatif.flexible_start = FakePlan(result.emissions_g * 0.98, 0.02)
    whatif.pause_and_resume = FakePlan(result.emissions_g * 0.97, 0.03)
    assert whatif_lines(result, whatif)[-1] == "starting later or pausing would save under 5%"
    whatif.pause_and_resume = FakePlan(result.emissions_g * 0.8, 0.2)
    assert whatif_lines(result, whatif)[-1] == "pause & resume saves 20% (76.3 g)"


def test_short_reason_flattens_nested_parentheses() -> None:
    from carbonsdk.sensors.nvml import open_gpu_sensors
    from carbonsdk.testing import FakeNVML

    # the reason the real sensor code records on a machine without an NVIDIA driver
    scan = open_gpu_sensors(FakeNVML(init_error="NVML_ERROR_LIBRARY_NOT_FOUND"), None, 0.0)
    assert scan.reason is not None and _paren_depth(scan.reason) >= 2
    assert short_reason(scan.reason) == "no NVIDIA driver (libnvidia-ml not found)"
    assert short_reason(NO_DRIVER_REASON) == "no NVIDIA driver (libnvidia-ml not found)"
    loaded = open_gpu_sensors(FakeNVML(init_error="NVML_ERROR_DRIVER_NOT_LOADED"), None, 0.0)
    assert short_reason(loaded.reason) == "the NVIDIA driver is not loaded"
    odd = "no RAPL counters (permission denied (EACCES) on /sys/x (y)) and model failed (z)"
    flat = "no RAPL counters (permission denied on /sys/x) and model failed (z)"
    assert short_reason(odd) == flat
    assert short_reason("x" * 200).endswith("…") and len(short_reason("x" * 200)) == 72
    assert short_reason("") == "no reason recorded"


def test_region_source_in_words() -> None:
    assert region_source_text("explicit") == "as you gave it"
    assert region_source_text("env") == "from CARBONSDK_REGION"
    assert region_source_text("aws-imds") == "detected from AWS instance metadata"
    assert region_source_text("gcp-metadata") == "detected from GCP instance metadata"
    assert region_source_text("azure-imds") == "detected from Azure instance metadata"
    fallback = render_text(make_run("fallback"), width=80)
    assert "gcp:europe-west3 (DE) · from CARBONSDK_REGION" in fallback


NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    "changes",
    [
        {"duration_s": NAN},
        {"duration_s": INF},
        {"energy_kwh": NAN, "emissions_g": NAN},
        {"energy_kwh": INF, "emissions_g": INF, "intensity_g_per_kwh": NAN},
        {"pue": NAN, "emissions_g": -INF},
        {"energy_by_component_kwh": {"gpu": NAN, "cpu": INF, "ram": 0.01}},
    ],
)
@pytest.mark.parametrize("width", [80, 60])
def test_non_finite_values_print_na_and_never_crash(changes: dict[str, Any], width: int) -> None:
    result = attrs.evolve(make_run("full"), **changes)
    text = render_text(result, width=width, whatif=FakeWhatIf(result))
    assert "n/a" in text
    assert not re.search(r"\b(nan|inf)\b", text, re.IGNORECASE)
    assert all(len(line) <= width for line in text.splitlines())
    sentence = statement(result)
    assert not re.search(r"\b(nan|inf)\b", sentence, re.IGNORECASE)
    out = io.StringIO()
    print_report(result, file=out)
    assert "n/a" in out.getvalue()


def test_non_finite_timeline_values_leave_gaps_in_the_sparklines() -> None:
    result = make_run("full")
    broken = list(result.timeline)
    broken[3] = attrs.evolve(broken[3], energy_kwh=NAN, intensity_g_per_kwh=INF)
    text = render_text(attrs.evolve(result, timeline=tuple(broken)), width=80)
    assert "power" in text and "intensity" in text
    assert not re.search(r"\b(nan|inf)\b", text, re.IGNORECASE)
    assert sparkline([1.0, NAN, 3.0, INF]) == "▁ █ "


def test_formatters_print_na_for_non_finite_values() -> None:
    for value in (NAN, INF, -INF):
        assert format_sig(value) == "n/a"
        assert format_energy_kwh(value) == "n/a"
        assert format_emissions_g(value) == "n/a"
        assert format_power_w(value) == "n/a"
        assert format_duration_s(value) == "n/a"
        assert format_percent(value, 1.0) == "n/a" and format_percent(1.0, value) == "n/a"
    assert format_percent(1.0, 0.0) == "–" and format_percent(1.0, 4.0) == "25%"
    assert bucket_means([0, 1], [1, 2], [NAN, 4.0], 2, 0, 2) == [None, 4.0]


def test_finish_delay_counts_the_start_delay_and_the_pauses() -> None:
    start = make_run("full").started_at
    plan = types.SimpleNamespace(
        earliest_start=start, end=start + timedelta(hours=8), duration_s=3 * 3600.0
    )
    assert finish_delay_s(plan) == 5 * 3600.0
    assert finish_delay_s(types.SimpleNamespace(savings_fraction=0.1)) is None
