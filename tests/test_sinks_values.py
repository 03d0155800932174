"""What every tracker logs for a run (carbonsdk.integrations.sinks), on runs measured on fake
hardware: one 300 W GPU, a 10 s step per mark, so every figure is exact."""

from __future__ import annotations

import ast
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import carbonsdk
from carbonsdk.integrations import sinks as values
from carbonsdk.model.result import Mark, RunResult, TimelineInterval
from carbonsdk.testing import FakeClock, FakeGPU, fake_environment, fake_sampler

J_PER_KWH = 3.6e6
GPU_W = 300.0
STEP_S = 10.0
STEP_KWH = GPU_W * STEP_S / J_PER_KWH


def measured_result(
    name: str = "train", steps: int = 4, *, intensity: Any = 100, mark: bool = True, **options: Any
) -> RunResult:
    """A run of ``steps`` 10-second steps on one fake 300 W GPU, each marked ``"step"`` with
    its 1-based ``step`` (unless ``mark=False``), measured with the public ``measure()``."""
    clock = FakeClock()
    env = fake_environment(clock, gpus=[FakeGPU.volta(power_w=GPU_W)])
    options.setdefault("region", "DE")
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure(
            name, intensity=intensity, components=["gpu"], report=False, **options
        ) as run,
    ):
        for k in range(1, steps + 1):
            clock.advance(STEP_S)
            sampler.tick()
            if mark:
                run.mark("step", step=k)
    assert run.result is not None
    return run.result


def with_two_intensities(result: RunResult) -> RunResult:
    """``result`` re-priced at 100 g/kWh for its first half and 300 g/kWh (estimated) for its
    second: two timeline intervals."""
    start, end = result.started_at, result.ended_at
    mid = start + (end - start) / 2
    half = result.energy_kwh / 2
    timeline = (
        TimelineInterval(start, mid, half, {"gpu": half}, 100.0, half * 100.0),
        TimelineInterval(mid, end, half, {"gpu": half}, 300.0, half * 300.0, True),
    )
    return attrs.evolve(
        result, timeline=timeline, emissions_g=half * 400.0, intensity_g_per_kwh=200.0
    )


def test_summary_metrics_name_every_figure_with_its_unit() -> None:
    result = measured_result()
    assert values.summary_metrics(result) == {
        "carbon/energy_kwh": pytest.approx(4 * STEP_KWH),
        "carbon/emissions_g": pytest.approx(4 * STEP_KWH * 100),
        "carbon/intensity_g_per_kwh": pytest.approx(100.0),
        "carbon/duration_s": pytest.approx(40.0),
        "carbon/energy_gpu_kwh": pytest.approx(4 * STEP_KWH),
    }
    unknown = attrs.evolve(result, intensity_g_per_kwh=None)
    assert "carbon/intensity_g_per_kwh" not in values.summary_metrics(unknown)


def test_run_tags_say_where_the_intensity_came_from_and_what_was_estimated() -> None:
    result = measured_result(pue=1.2, tags={"team": "nlp"})
    tags = values.run_tags(result)
    assert tags == {
        "carbon.run_id": result.run_id,
        "carbon.name": "train",
        "carbon.status": "completed",
        "carbon.zone": "DE",
        "carbon.region": "DE",
        "carbon.intensity_provider": "constant",
        "carbon.intensity_signal": "average",
        "carbon.intensity_basis": "unknown",
        "carbon.intensity_estimated": "false",
        "carbon.estimated": "false",
        "carbon.estimated_components": "",
        "carbon.flags": "",
        "carbon.pue": "1.2",
    }
    estimated = attrs.evolve(
        with_two_intensities(result), flags=("region-unknown", "x"), estimated_components=("cpu",)
    )
    tags = values.run_tags(estimated)
    assert tags["carbon.intensity_estimated"] == "true"
    assert tags["carbon.estimated"] == "true"
    assert tags["carbon.estimated_components"] == "cpu"
    assert tags["carbon.flags"] == "region-unknown,x"


def test_step_points_follow_the_marks_with_emissions_consistent_with_their_energy() -> None:
    result = with_two_intensities(measured_result())
    points = values.step_points(result)
    assert [p.step for p in points] == [1, 2, 3, 4]
    assert [p.energy_kwh for p in points] == pytest.approx([k * STEP_KWH for k in (1, 2, 3, 4)])
    # first half at 100 g/kWh, second at 300 g/kWh
    assert [p.emissions_g for p in points] == pytest.approx(
        [
            STEP_KWH * 100,
            2 * STEP_KWH * 100,
            2 * STEP_KWH * 100 + STEP_KWH * 300,
            2 * STEP_KWH * 100 + 2 * STEP_KWH * 300,
        ]
    )
    assert [p.intensity_g_per_kwh for p in points] == [100.0, 100.0, 300.0, 300.0]
    assert [p.at for p in points] == [m.at for m in result.marks]
    assert points[-1].emissions_g == pytest.approx(result.emissions_g)
    assert values.last_step(result) == 4
    assert [p.step for p in values.history_points(result)] == [1, 2, 3]
    assert values.step_metrics(points[0]) == {
        "carbon/energy_kwh": points[0].energy_kwh,
        "carbon/emissions_g": points[0].emissions_g,
        "carbon/intensity_g_per_kwh": 100.0,
    }


def test_step_points_keep_the_last_mark_of_a_step_and_number_unstepped_marks() -> None:
    result = measured_result()
    at = result.marks[0].at
    marks = (
        Mark(at, "epoch_start", 0.0, {"step": 0}),
        Mark(at, "phase", 0.0, {}),
        *result.marks[:2],
        Mark(
            result.marks[1].at + timedelta(seconds=1),
            "epoch_end",
            2 * STEP_KWH,
            {"step": 2, "epoch": 0},
        ),
    )
    points = values.step_points(attrs.evolve(result, marks=marks))
    assert [(p.step, p.at) for p in points] == [
        (0, at),
        (1, result.marks[0].at),
        (2, result.marks[1].at + timedelta(seconds=1)),
    ]
    unstepped = tuple(attrs.evolve(m, data={"phase": m.label}) for m in result.marks[:3])
    assert [p.step for p in values.step_points(attrs.evolve(result, marks=unstepped))] == [1, 2, 3]
    assert values.step_points(measured_result(mark=False)) == ()
    assert values.last_step(measured_result(mark=False)) == 0


def test_observer_records_and_nested_runs_are_not_logged_unless_asked() -> None:
    result = measured_result()
    assert values.should_log(result, nested=False)
    nested = attrs.evolve(result, parent_run_id="0" * 32)
    assert not values.should_log(nested, nested=False)
    assert values.should_log(nested, nested=True)
    observer = attrs.evolve(result, flags=("observer-rank",))
    assert not values.should_log(observer, nested=True)


def test_report_html_is_the_runs_report() -> None:
    result = measured_result("bert-tiny")
    html = values.report_html(result)
    assert html.startswith("<!DOCTYPE html>") and "bert-tiny" in html
    assert result.run_id in html
    assert values.report_name(result) == f"report_{result.run_id}.html"


def test_sent_once_remembers_pairs_and_forgets_failures() -> None:
    sent = values.SentOnce(capacity=2)
    assert sent.first("mlflow:a", "r1") and not sent.first("mlflow:a", "r1")
    assert sent.first("mlflow:b", "r1")
    sent.forget("mlflow:b", "r1")
    assert sent.first("mlflow:b", "r1")
    assert sent.first("mlflow:c", "r1")  # capacity 2: the oldest pair is dropped
    assert sent.first("mlflow:a", "r1")


def test_bounded_returns_raises_or_gives_up_after_the_limit() -> None:
    import threading

    assert values.bounded(lambda: 42, 5.0, "x") == 42
    assert values.bounded(lambda: 43, None, "x") == 43

    def boom() -> None:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError, match="refused"):
        values.bounded(boom, 5.0, "x")
    release = threading.Event()
    try:
        with pytest.raises(TimeoutError, match=r"MLflow logging did not finish within 0\.05 s"):
            values.bounded(release.wait, 0.05, "MLflow logging")
    finally:
        release.set()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "30", True])
def test_bad_timeouts_are_refused(bad: Any) -> None:
    with pytest.raises(carbonsdk.ConfigurationError, match="timeout_s="):
        values.validate_timeout_s(bad)


def test_the_values_module_imports_no_tracker() -> None:
    source = Path(values.__file__).read_text(encoding="utf-8")
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - set(sys.stdlib_module_names) == {"attrs", "carbonsdk"}
