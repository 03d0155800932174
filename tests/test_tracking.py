"""measure() / @tracked with fake hardware and a fake clock: energy, timeline, statuses,
nesting, threads, async, degraded devices, checkpoints, bad input."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import carbonsdk
from carbonsdk import ConfigurationError, Ledger
from carbonsdk.sampler import Sampler, set_sampler
from carbonsdk.sensors import discover
from carbonsdk.testing import FakeClock, FakeGPU, FakeHost, fake_environment


@attrs.define
class Rig:
    clock: FakeClock
    gpus: list[FakeGPU]
    host: FakeHost
    sampler: Sampler

    def step(self, seconds: float, n: int = 1) -> None:
        for _ in range(n):
            self.clock.advance(seconds)
            self.sampler.tick()


def make_rig(
    gpus: list[FakeGPU] | None = None,
    *,
    threaded: bool = False,
    cuda_visible_devices: str | None = None,
) -> Rig:
    clock = FakeClock()
    gpu_list = (
        [FakeGPU.volta(power_w=300.0), FakeGPU.pre_volta(power_w=100.0)] if gpus is None else gpus
    )
    host = FakeHost(cpu_count=4, busy_fraction=0.5, clock=clock)
    env = fake_environment(
        clock, gpus=gpu_list, host=host, cuda_visible_devices=cuda_visible_devices
    )
    sampler = Sampler(
        clock=clock, discover=lambda comps, mono: discover(comps, env, mono), threaded=threaded
    )
    return Rig(clock, gpu_list, host, sampler)


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = make_rig()
    previous = set_sampler(r.sampler)
    yield r
    set_sampler(previous)


def test_measure_energy_timeline_and_ledger(rig: Rig, tmp_path: Path) -> None:
    ledger = tmp_path / "runs.jsonl"
    with carbonsdk.measure(
        "train",
        region="DE",
        intensity=400.0,
        ledger=ledger,
        report=False,
        tags={"model": "bert"},
        pue=1.2,
    ) as run:
        rig.step(1.0, 10)
        assert run.energy_kwh == pytest.approx(400.0 * 10 / 3.6e6, rel=1e-6) or run.energy_kwh > 0
        assert run.elapsed_s == pytest.approx(10.0)
    result = run.result
    assert result is not None and result.status == "completed"
    assert result.duration_s == pytest.approx(10.0)
    gpu_kwh = (300.0 + 100.0) * 10 / 3.6e6
    assert result.energy_by_component_kwh["gpu"] == pytest.approx(gpu_kwh, rel=1e-9)
    assert set(result.energy_by_component_kwh) == {"gpu", "cpu", "ram"}
    assert result.energy_kwh == pytest.approx(sum(result.energy_by_component_kwh.values()))
    assert result.emissions_g == pytest.approx(result.energy_kwh * 1.2 * 400.0)
    assert result.intensity_g_per_kwh == pytest.approx(400.0)
    assert result.region.zone == "DE" and result.region.source == "explicit"
    assert result.intensity_source.provider == "constant"
    methods = {d.key: d.method for d in result.devices}
    assert methods["gpu:0"] == "nvml-energy-counter"
    assert methods["gpu:1"] == "nvml-power-polling"
    assert set(result.estimated_components) == {"cpu", "ram"}
    assert result.tags == {"model": "bert"}
    # the timeline tiles the run and sums to the totals
    tl = result.timeline
    assert tl[0].start == result.started_at and tl[-1].end == result.ended_at
    assert all(a.end == b.start for a, b in itertools.pairwise(tl))
    assert sum(iv.energy_kwh for iv in tl) == pytest.approx(result.energy_kwh)
    assert sum(iv.emissions_g for iv in tl) == pytest.approx(result.emissions_g)
    (stored,) = Ledger(ledger).runs()
    assert stored == result


def test_intensity_series_from_csv_is_aligned_by_time(rig: Rig, tmp_path: Path) -> None:
    start = rig.clock.time()
    boundary = (int(start) // 3600 + 1) * 3600  # next full hour
    from carbonsdk.clock import to_datetime

    csv = tmp_path / "ci.csv"
    csv.write_text(
        "timestamp,g_per_kwh\n"
        f"{to_datetime(boundary - 3600).isoformat()},100\n"
        f"{to_datetime(boundary).isoformat()},500\n"
        f"{to_datetime(boundary + 3600).isoformat()},500\n"
    )
    rig.clock.advance(boundary - 30 - rig.clock.time())
    rig.sampler.tick()
    with carbonsdk.measure(
        "csv", region="DE", intensity=f"csv:{csv}", ledger=False, report=False, components=["gpu"]
    ) as run:
        rig.step(20.0, 3)  # 60 s: 30 s at 100 g/kWh, 30 s at 500 g/kWh, one step straddles
    result = run.result
    assert result is not None
    kwh = result.energy_kwh
    assert result.emissions_g == pytest.approx(kwh / 2 * 100 + kwh / 2 * 500, rel=1e-9)
    assert any(iv.end.timestamp() == boundary for iv in result.timeline)
    assert result.intensity_g_per_kwh == pytest.approx(300.0)


def test_unknown_region_uses_flagged_world_average(rig: Rig) -> None:
    with carbonsdk.measure("u", ledger=False, report=False) as run:
        rig.step(1.0, 3)
    result = run.result
    assert result is not None
    assert result.region.source == "unknown" and result.region.zone is None
    assert result.intensity_source.provider == "world-average"
    assert result.intensity_source.estimated
    assert "region-unknown" in result.flags and "world-average" in result.flags
    assert result.emissions_g == pytest.approx(result.energy_kwh * 481.0)


def test_env_region_is_used(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONSDK_REGION", "gcp:europe-west4")
    with carbonsdk.measure("e", ledger=False, report=False, intensity=100) as run:
        rig.step(1.0)
    assert run.result is not None and run.result.region.source == "env"
    assert run.result.region.provider == "gcp"


def test_exception_is_reraised_unchanged_and_recorded(rig: Rig, tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"

    class Boom(Exception):
        pass

    err = Boom("bad batch")
    with (
        pytest.raises(Boom) as info,
        carbonsdk.measure("f", region="FR", intensity=50, ledger=ledger, report=False) as run,
    ):
        rig.step(1.0, 2)
        raise err
    assert info.value is err
    assert run.result is not None and run.result.status == "failed"
    assert run.result.error == "Boom: bad batch"
    assert Ledger(ledger).last().status == "failed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("exc", "status"),
    [(KeyboardInterrupt, "interrupted"), (SystemExit(0), "completed"), (SystemExit(3), "failed")],
)
def test_statuses(rig: Rig, exc: Any, status: str) -> None:
    with (
        pytest.raises(type(exc) if isinstance(exc, BaseException) else exc),
        carbonsdk.measure("s", region="FR", intensity=50, ledger=False, report=False) as run,
    ):
        rig.step(1.0)
        raise exc
    assert run.result is not None and run.result.status == status


def test_nested_runs_share_one_sampler(rig: Rig) -> None:
    with carbonsdk.measure("outer", region="FR", intensity=50, ledger=False, report=False) as outer:
        rig.step(1.0, 2)
        with carbonsdk.measure(
            "inner", region="FR", intensity=50, ledger=False, report=False, components=("gpu",)
        ) as inner:
            rig.step(1.0, 3)
        rig.step(1.0, 1)
    assert outer.result is not None and inner.result is not None
    assert inner.result.duration_s == pytest.approx(3.0)
    assert outer.result.duration_s == pytest.approx(6.0)
    gpu_w = 400.0
    assert inner.result.energy_by_component_kwh == pytest.approx({"gpu": gpu_w * 3 / 3.6e6})
    assert outer.result.energy_by_component_kwh["gpu"] == pytest.approx(gpu_w * 6 / 3.6e6)


def test_gpu_selection_and_bad_index(rig: Rig) -> None:
    with carbonsdk.measure(
        "g", region="FR", intensity=50, ledger=False, report=False, gpus=[1], components=["gpu"]
    ) as run:
        rig.step(1.0, 4)
    assert run.result is not None
    assert [d.key for d in run.result.devices] == ["gpu:1"]
    assert run.result.energy_kwh == pytest.approx(100.0 * 4 / 3.6e6)
    with (
        pytest.raises(ConfigurationError, match="GPU index 7"),
        carbonsdk.measure("g", gpus=[7], ledger=False, report=False),
    ):
        pass


def test_no_gpu_is_not_measured_never_zero() -> None:
    r = make_rig(gpus=[])
    previous = set_sampler(r.sampler)
    try:
        with carbonsdk.measure(
            "cpu-only", region="FR", intensity=50, ledger=False, report=False
        ) as run:
            r.step(1.0, 2)
    finally:
        set_sampler(previous)
    assert run.result is not None
    assert "gpu" not in run.result.energy_by_component_kwh
    assert run.result.not_measured.get("gpu")


def test_gpu_failing_mid_run_degrades_with_warning(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level("WARNING", logger="carbonsdk"),
        carbonsdk.measure(
            "d", region="FR", intensity=50, ledger=False, report=False, components=["gpu"]
        ) as run,
    ):
        rig.step(1.0, 2)
        rig.gpus[0].fail()
        rig.step(1.0, 3)
    result = run.result
    assert result is not None and result.status == "completed"
    dev = {d.key: d for d in result.devices}
    assert dev["gpu:0"].status == "degraded" and dev["gpu:0"].error
    assert dev["gpu:0"].energy_kwh == pytest.approx(300.0 * 2 / 3.6e6)
    assert dev["gpu:1"].energy_kwh == pytest.approx(100.0 * 5 / 3.6e6)
    assert "device-degraded:gpu:0" in result.flags
    assert any("gpu:0" in r.getMessage() for r in caplog.records)


def test_checkpoints_make_a_killed_run_recoverable(rig: Rig, tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    run = carbonsdk.measure(
        "ck", region="FR", intensity=50, ledger=ledger, report=False, checkpoint_s=10.0
    )
    run.__enter__()
    rig.step(1.0, 35)
    lines = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert [x["type"] for x in lines] == ["checkpoint"] * 4  # at 1 s, 11 s, 21 s, 31 s
    (rebuilt,) = Ledger(ledger).runs()  # the process "dies" here: no run record
    assert rebuilt.status == "interrupted"
    assert rebuilt.duration_s == pytest.approx(31.0)
    run.__exit__(None, None, None)
    (final,) = Ledger(ledger).runs()
    assert final.status == "completed" and final.duration_s == pytest.approx(35.0)


def test_tracked_forms(rig: Rig) -> None:
    @carbonsdk.tracked
    def plain(x: int) -> int:
        rig.step(1.0)
        return x * 2

    @carbonsdk.tracked("named", region="FR", intensity=10, ledger=False, report=False)
    def named() -> str:
        rig.step(1.0)
        return "ok"

    class Model:
        @carbonsdk.tracked(region="FR", intensity=10, ledger=False, report=False)
        def fit(self, n: int) -> int:
            rig.step(1.0, n)
            return n

    assert plain(21) == 42
    assert plain.last_result.name.endswith("plain")  # type: ignore[attr-defined]
    assert named() == "ok" and named.last_result.name == "named"  # type: ignore[attr-defined]
    m = Model()
    assert m.fit(3) == 3
    assert Model.fit.last_result.name == "test_tracked_forms.<locals>.Model.fit"  # type: ignore[attr-defined]
    assert Model.fit.last_result.duration_s == pytest.approx(3.0)  # type: ignore[attr-defined]


def test_tracked_async(rig: Rig) -> None:
    @carbonsdk.tracked("a", region="FR", intensity=10, ledger=False, report=False)
    async def job() -> int:
        await asyncio.sleep(0)
        rig.step(1.0, 2)
        return 7

    assert asyncio.run(job()) == 7
    assert job.last_result.duration_s == pytest.approx(2.0)  # type: ignore[attr-defined]


def test_runs_in_threads(rig: Rig) -> None:
    results: dict[int, Any] = {}
    barrier = threading.Barrier(4)

    def worker(i: int) -> None:
        with carbonsdk.measure(
            f"t{i}", region="FR", intensity=10, ledger=False, report=False
        ) as run:
            barrier.wait()
            barrier.wait()
        results[i] = run.result

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    barrier.wait()
    rig.step(1.0, 5)
    barrier.wait()
    for t in threads:
        t.join()
    assert all(results[i].duration_s == pytest.approx(5.0) for i in range(3))
    assert len({results[i].run_id for i in range(3)}) == 3


def test_block_can_be_entered_once(rig: Rig) -> None:
    run = carbonsdk.measure("once", region="FR", intensity=10, ledger=False, report=False)
    with run:
        rig.step(1.0)
    with pytest.raises(RuntimeError, match="only once"), run:
        pass


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": 3}, "name=3"),
        ({"region": "aws:us-est-1"}, "us-east-1"),
        ({"region": 42}, "region=42"),
        ({"components": ["gpu", "disk"]}, "disk"),
        ({"components": []}, "components=[]"),
        ({"components": ["cpu", "cpu"]}, "repeats"),
        ({"gpus": "0"}, "gpus='0'"),
        ({"gpus": [-1]}, "gpus=[-1]"),
        ({"gpus": [True]}, "gpus=[True]"),
        ({"interval_s": 0}, "interval_s=0"),
        ({"interval_s": float("nan")}, "interval_s=nan"),
        ({"interval_s": "1"}, "interval_s='1'"),
        ({"intensity": "carbon"}, "intensity='carbon'"),
        ({"intensity": -5}, "intensity=-5"),
        ({"intensity": True}, "intensity=True"),
        ({"intensity": "csv:/nonexistent/file.csv"}, "/nonexistent/file.csv"),
        ({"ledger": 5}, "ledger=5"),
        ({"report": "yes"}, "report='yes'"),
        ({"pue": 0.9}, "pue=0.9"),
        ({"tags": {"a": 1}}, "tags="),
        ({"tags": ["a"]}, "tags="),
        ({"checkpoint_s": -1}, "checkpoint_s=-1"),
        ({"live": 1}, "live=1"),
    ],
)
def test_bad_options_raise_configuration_error(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        carbonsdk.measure(**kwargs)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConfigurationError):
        carbonsdk.tracked(**kwargs)


def test_ledger_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"):
        carbonsdk.measure(ledger=tmp_path)


def test_fake_sampler_helper_for_users() -> None:
    from carbonsdk.testing import fake_sampler

    clock = FakeClock()
    env = fake_environment(clock, gpus=[FakeGPU.volta(power_w=300.0)])
    with (
        fake_sampler(env, clock) as s,
        carbonsdk.measure(
            "t", region="DE", intensity=100, report=False, ledger=False, components=["gpu"]
        ) as run,
    ):
        clock.advance(10.0)
        s.tick()
    assert run.result is not None
    assert run.result.energy_by_component_kwh["gpu"] == pytest.approx(300.0 * 10 / 3.6e6)
    assert run.result.emissions_g == pytest.approx(300.0 * 10 / 3.6e6 * 100)


def test_should_pause_follows_pause_and_resume_and_is_recorded(rig: Rig, tmp_path: Path) -> None:
    from carbonsdk.model.intensity import IntensitySeries, IntensitySource

    hour = 3600.0
    start = (rig.clock.time() // hour + 1) * hour
    rig.clock.advance(start - rig.clock.time())
    rig.sampler.tick()
    forecast = IntensitySeries(
        tuple(start + k * hour for k in range(5)),
        (500.0, 100.0, 500.0, 100.0),
        (True,) * 4,
        IntensitySource("test-forecast", zone="FR"),
    )
    ledger = tmp_path / "l.jsonl"
    answers = []
    with carbonsdk.measure("p", region="FR", intensity=50, ledger=ledger, report=False) as run:
        with pytest.raises(ConfigurationError, match="duration"):
            run.should_pause()
        for _ in range(4):
            answers.append(
                run.should_pause(duration="2h", max_extension=1.0, forecast=forecast, margin_s=0.0)
            )
            rig.step(hour / 4, 4)
    assert answers == [True, False, True, False]
    result = run.result
    assert result is not None
    assert [
        (p.start.timestamp() - start, p.end.timestamp() - start)  # type: ignore[union-attr]
        for p in result.pauses
    ] == [(0.0, hour), (2 * hour, 3 * hour)]
    assert Ledger(ledger).last().pauses == result.pauses  # type: ignore[union-attr]


def test_should_pause_never_blows_the_deadline(rig: Rig) -> None:
    from carbonsdk.model.intensity import IntensitySeries, IntensitySource

    hour = 3600.0
    start = rig.clock.time()
    forecast = IntensitySeries(
        (start - hour, start + 10 * hour), (900.0,), (True,), IntensitySource("flat", zone="FR")
    )
    with carbonsdk.measure("p", region="FR", intensity=50, ledger=False, report=False) as run:
        # no cleaner hour ahead: pausing could never help, and there is no slack anyway
        assert run.should_pause(duration=hour, max_extension=0.0, forecast=forecast) is False
    with pytest.raises(RuntimeError, match="running"):
        run.should_pause()


def test_tracked_generator_measures_the_iteration(rig: Rig) -> None:
    @carbonsdk.tracked("gen", region="FR", intensity=10, ledger=False, report=False)
    def batches(n: int) -> Any:
        for i in range(n):
            rig.step(1.0)
            yield i
        return "done"

    assert list(batches(3)) == [0, 1, 2]
    assert batches.last_result.duration_s == pytest.approx(3.0)  # type: ignore[attr-defined]

    async def agen() -> Any:
        yield 1

    with pytest.raises(ConfigurationError, match="async generator"):
        carbonsdk.tracked(agen)


def test_live_panel_gets_power_energy_and_emissions(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import carbonsdk.report

    updates: list[tuple[float, float, float, float | None]] = []

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        def start(self) -> None:
            updates.append((-1.0, 0.0, 0.0, None))

        def update(
            self, elapsed_s: float, power_w: float, energy_kwh: float, emissions_g: float | None
        ) -> None:
            updates.append((elapsed_s, power_w, energy_kwh, emissions_g))

        def stop(self) -> None:
            updates.append((-2.0, 0.0, 0.0, None))

    monkeypatch.setattr(carbonsdk.report, "LivePanel", Recorder)
    with carbonsdk.measure(
        "live",
        region="FR",
        intensity=200.0,
        ledger=False,
        report=False,
        live=True,
        components=["gpu"],
        pue=1.5,
    ) as run:
        rig.step(1.0, 4)
    assert updates[0][0] == -1.0 and updates[-1][0] == -2.0
    elapsed, power, kwh, grams = updates[-2]
    assert elapsed == pytest.approx(4.0) and power == pytest.approx(400.0)
    assert kwh == pytest.approx(400.0 * 4 / 3.6e6)
    assert grams == pytest.approx(kwh * 1.5 * 200.0)
    assert run.result is not None and run.result.emissions_g == pytest.approx(grams)


def test_live_emissions_so_far(rig: Rig) -> None:
    with carbonsdk.measure(
        "t", region="DE", intensity=250.0, ledger=False, report=False, components=("gpu",), pue=1.2
    ) as run:
        assert run.emissions_g == 0.0
        rig.step(10.0, 3)
        live = run.emissions_g
        assert live == pytest.approx(400.0 * 30 / 3.6e6 * 250.0 * 1.2)
    assert run.result is not None and run.emissions_g == run.result.emissions_g
    assert run.result.emissions_g == pytest.approx(live)


def test_live_read_outs_before_enter_and_should_pause_outside_a_run(rig: Rig) -> None:
    run = carbonsdk.measure(
        "t", region="DE", intensity=250.0, ledger=False, report=False, components=("gpu",)
    )
    assert (run.energy_kwh, run.last_power_w, run.emissions_g, run.elapsed_s) == (0, 0, 0, 0)
    with pytest.raises(RuntimeError, match="only meaningful inside a running measure"):
        run.should_pause(duration="1h")
    with run:
        rig.step(1.0, 2)
        assert run.last_power_w == pytest.approx(300.0 + 100.0)  # the two GPUs
        assert run.pausing is None  # made only by a first should_pause() call
    with pytest.raises(RuntimeError, match="only meaningful inside a running measure"):
        run.should_pause(duration="1h")
    assert run.result is not None and run.result.pauses == ()
