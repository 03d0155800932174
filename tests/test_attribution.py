"""measure(attribution="process"): this process tree's share of each device's energy, with fake
NVML per-process samples and a fake process tree (plus one run against the real host)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence

import attrs
import pytest

import carbonsdk
from carbonsdk.attribution import MAX_PENDING_INTERVALS, Attribution, ProcessAttributor
from carbonsdk.model.device import DeviceInfo
from carbonsdk.report import render_text
from carbonsdk.sampler import Sampler, get_sampler, set_sampler
from carbonsdk.sensors import SensorEnvironment, discover
from carbonsdk.sensors import host as host_mod
from carbonsdk.sensors.host import ProcessTreeMeter
from carbonsdk.sensors.nvml import GpuProcessReader
from carbonsdk.testing import (
    GIB,
    FakeClock,
    FakeGPU,
    FakeHost,
    FakeNVML,
    FakeNVMLError,
    fake_environment,
    fake_sampler,
)

OTHER = 424_242  # another user's process, visible in this PID namespace
J_PER_KWH = 3.6e6


@attrs.define
class Rig:
    """A fake host (4 vCPUs, 50 % busy, 16 GiB, 8 GiB in use) and GPUs on one fake clock, with a
    direct attributor over the devices of ``components``."""

    clock: FakeClock
    host: FakeHost
    gpus: list[FakeGPU]
    env: SensorEnvironment
    devices: tuple[DeviceInfo, ...]
    attributor: ProcessAttributor

    def step(self, energy_j: Mapping[str, float], seconds: float = 1.0, n: int = 1) -> None:
        """``n`` sampler ticks of ``seconds``, each delivering ``energy_j`` then refreshing."""
        for _ in range(n):
            start_s = self.clock.time()
            self.clock.advance(seconds)
            self.attributor.add(start_s, self.clock.time(), energy_j)
            self.attributor.refresh(self.clock.time())

    def finish(self) -> Attribution:
        return self.attributor.finish(self.clock.time())


def make_rig(
    components: Sequence[str], gpus: Sequence[FakeGPU] = (), host: FakeHost | None = None
) -> Rig:
    clock = FakeClock()
    host = host if host is not None else FakeHost(cpu_count=4, busy_fraction=0.5, clock=clock)
    host.add_foreign_process(OTHER)
    env = fake_environment(clock, gpus=list(gpus), host=host)
    found = discover(components, env, clock.monotonic())
    devices = tuple(s.info for s in found.sensors)
    sampler = Sampler(clock=clock, environment=env, threaded=False)
    att = ProcessAttributor.start(
        sampler, devices=devices, components=tuple(components), start_s=clock.time()
    )
    return Rig(clock, host, list(gpus), env, devices, att)


@pytest.fixture(autouse=True)
def _no_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Walk the tree and read its memory at every refresh: fake-clock tests must not depend on
    how long a read took on this machine (pacing has its own test)."""
    monkeypatch.setattr(host_mod, "TREE_SCAN_DUTY", 1.0)
    monkeypatch.setattr(host_mod, "MEMORY_READ_DUTY", 1.0)


@pytest.fixture
def no_global_sampler() -> Iterator[None]:
    previous = set_sampler(None)
    yield
    sampler = set_sampler(previous)
    if sampler is not None:
        sampler.close()


# -- GPU ----------------------------------------------------------------------------------------


def test_two_processes_on_one_gpu_75_25_gives_three_quarters() -> None:
    gpu = FakeGPU.volta(300.0)
    rig = make_rig(["gpu"], [gpu])
    gpu.set_processes({rig.host.pid: 75, OTHER: 25})
    rig.step({"gpu:0": 300.0}, n=10)
    out = rig.finish()
    assert out.energy.components == ("gpu",)
    assert out.energy.total_j("gpu") == pytest.approx(0.75 * 3000.0, rel=1e-12)
    assert out.detail["gpu"].startswith(
        "NVML per-process SM utilisation samples (nvmlDeviceGetProcessUtilization)"
    )


def test_gpu_share_follows_each_interval() -> None:
    """The share changes mid-run: each interval gets the share sampled over it."""
    gpu = FakeGPU.volta(300.0)
    rig = make_rig(["gpu"], [gpu])
    gpu.set_processes({rig.host.pid: 50, OTHER: 50})
    rig.step({"gpu:0": 100.0}, n=4)
    gpu.set_processes({rig.host.pid: 90, OTHER: 10})
    rig.step({"gpu:0": 100.0}, n=6)
    gpu.set_processes({OTHER: 100})
    rig.step({"gpu:0": 100.0}, n=2)
    out = rig.finish()
    assert out.energy.energy_j["gpu"] == pytest.approx((50.0,) * 4 + (90.0,) * 6 + (0.0,) * 2)


def test_samples_from_descendants_count_for_the_tree() -> None:
    gpu = FakeGPU.volta(300.0)
    rig = make_rig(["gpu"], [gpu])
    rig.host.spawn(5001)  # a DataLoader worker that also runs kernels
    gpu.set_processes({rig.host.pid: 40, 5001: 20, OTHER: 40})
    rig.step({"gpu:0": 100.0}, n=5)
    assert rig.finish().energy.total_j("gpu") == pytest.approx(0.6 * 500.0)


def test_idle_gpu_split_evenly_between_context_holders() -> None:
    gpu = FakeGPU.volta(60.0)
    rig = make_rig(["gpu"], [gpu])
    gpu.set_processes({}, memory={rig.host.pid: 2 * GIB})  # only us: all of the idle power
    rig.step({"gpu:0": 60.0}, n=3)
    gpu.set_processes({}, memory={rig.host.pid: 2 * GIB, OTHER: 10 * GIB})  # evenly, not by size
    rig.step({"gpu:0": 60.0}, n=3)
    gpu.set_processes({}, memory={})  # nobody holds a context: not ours
    rig.step({"gpu:0": 60.0}, n=3)
    gpu.set_processes({rig.host.pid: 0, OTHER: 0})  # 0 % produces no sample either
    rig.step({"gpu:0": 60.0}, n=3)
    out = rig.finish()
    assert out.energy.energy_j["gpu"] == pytest.approx(
        (60.0,) * 3 + (30.0,) * 3 + (0.0,) * 3 + (30.0,) * 3
    )
    assert "split evenly" in out.detail["gpu"]


def test_pids_of_another_namespace_make_gpu_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    gpu = FakeGPU.volta(300.0)
    rig = make_rig(["gpu", "cpu"], [gpu])
    gpu.set_processes({987_001: 70, 987_002: 30})  # host pids: none exists in "our" namespace
    with caplog.at_level(logging.WARNING, logger="carbonsdk"):
        rig.step({"gpu:0": 300.0, "cpu:host": 10.0}, n=5)
    out = rig.finish()
    assert out.energy.components == ("cpu",)  # gpu left out, never reported as 0
    assert out.detail["gpu"].startswith(
        "unavailable: NVML reports no process ids of this PID namespace (container?)"
    )
    assert "987001" in out.detail["gpu"]
    warnings = [r for r in caplog.records if "attribution of gpu unavailable" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not once per refresh


def test_unsupported_process_utilisation_falls_back_to_memory_share() -> None:
    gpu = FakeGPU.volta(200.0, process_utilisation=False)
    rig = make_rig(["gpu"], [gpu])
    gpu.set_processes({rig.host.pid: 99, OTHER: 1}, memory={rig.host.pid: 3 * GIB, OTHER: 1 * GIB})
    rig.step({"gpu:0": 200.0}, n=4)
    out = rig.finish()
    assert out.energy.total_j("gpu") == pytest.approx(0.75 * 800.0)
    assert out.detail["gpu"].startswith("share of used GPU memory")
    assert "not supported by this GPU (NVML_ERROR_NOT_SUPPORTED)" in out.detail["gpu"]


def test_memory_fallback_without_byte_counts_splits_evenly() -> None:
    gpu = FakeGPU.volta(200.0, process_utilisation=False)
    rig = make_rig(["gpu"], [gpu])
    gpu.set_processes({}, memory={rig.host.pid: None, OTHER: None, OTHER + 1: None})
    rig.host.add_foreign_process(OTHER + 1)
    rig.step({"gpu:0": 300.0}, n=2)
    assert rig.finish().energy.total_j("gpu") == pytest.approx(600.0 / 3)


def test_two_gpus_detail_says_which_method_each_used() -> None:
    fast = FakeGPU.volta(300.0)
    old = FakeGPU.volta(100.0, process_utilisation=False)
    rig = make_rig(["gpu"], [fast, old])
    fast.set_processes({rig.host.pid: 100})
    old.set_processes({}, memory={rig.host.pid: GIB, OTHER: 3 * GIB})
    rig.step({"gpu:0": 300.0, "gpu:1": 100.0}, n=2)
    out = rig.finish()
    assert out.energy.total_j("gpu") == pytest.approx(2 * (300.0 + 25.0))
    assert out.detail["gpu"].startswith("gpu:0: NVML per-process SM utilisation")
    assert "; gpu:1: share of used GPU memory" in out.detail["gpu"]


def test_nvml_failure_mid_run_makes_gpu_unavailable_without_raising() -> None:
    gpu = FakeGPU.volta(300.0)
    rig = make_rig(["gpu", "ram"], [gpu])
    gpu.set_processes({rig.host.pid: 100})
    rig.step({"gpu:0": 300.0, "ram:host": 5.0}, n=2)
    gpu.fail("NVML_ERROR_GPU_IS_LOST")
    rig.step({"gpu:0": 300.0, "ram:host": 5.0}, n=2)  # must not raise
    out = rig.finish()
    assert "gpu" not in out.energy.components and "ram" in out.energy.components
    assert out.detail["gpu"].startswith("unavailable: gpu:0")
    assert "GPU is lost" in out.detail["gpu"]


def test_fake_nvml_honours_last_seen_timestamp() -> None:
    clock = FakeClock()
    gpu = FakeGPU.volta(100.0, sample_period_s=0.5)
    nvml = FakeNVML([gpu], clock)
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByUUID(str(gpu.uuid))
    with pytest.raises(FakeNVMLError) as err:
        nvml.nvmlDeviceGetProcessUtilization(handle, 0)
    assert err.value.value == nvml.NVML_ERROR_NOT_FOUND
    gpu.set_processes({7: 60, 8: 0})
    clock.advance(2.0)
    samples = nvml.nvmlDeviceGetProcessUtilization(handle, 0)
    assert [(s.pid, s.smUtil) for s in samples] == [(7, 60)] * 4  # 0 % gives no sample
    last = max(s.timeStamp for s in samples)
    assert last == round(clock.time() * 1e6)
    with pytest.raises(FakeNVMLError):
        nvml.nvmlDeviceGetProcessUtilization(handle, last)  # nothing newer
    clock.advance(0.5)
    assert len(nvml.nvmlDeviceGetProcessUtilization(handle, last)) == 1
    assert [
        (p.pid, p.usedGpuMemory) for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)
    ] == [(7, None), (8, None)]


def test_gpu_process_reader_sums_samples_per_pid() -> None:
    clock = FakeClock()
    gpu = FakeGPU.volta(100.0, sample_period_s=0.25)
    env = fake_environment(clock, gpus=[gpu])
    (sensor,) = discover(["gpu"], env, clock.monotonic()).sensors
    reader = GpuProcessReader.open(env.nvml, sensor.info)
    assert reader.utilisation_since(0).samples == 0
    gpu.set_processes({1: 30, 2: 10})
    clock.advance(1.0)
    util = reader.utilisation_since(0)
    assert util.sm_util_percent == {1: 120.0, 2: 40.0} and util.samples == 8
    assert reader.utilisation_since(util.last_seen_us).sm_util_percent == {}


# -- CPU ----------------------------------------------------------------------------------------


def test_cpu_share_is_tree_cpu_time_over_busy_time() -> None:
    """4 vCPUs 50 % busy = 2 busy CPUs; the tree keeps 1 busy (0.5 + a 0.5 worker): share 1/2."""
    rig = make_rig(["cpu"])
    rig.host.set_process(cpu_rate=0.5)
    rig.host.spawn(6001, cpu_rate=0.5)
    rig.step({"cpu:host": 100.0}, n=5)
    rig.host.exit_process(6001)  # joined by its parent: its CPU time moves to our reaped time
    rig.step({"cpu:host": 100.0}, n=5)
    out = rig.finish()
    assert out.energy.energy_j["cpu"] == pytest.approx((50.0,) * 5 + (25.0,) * 5)
    assert out.detail["cpu"].startswith("this process tree's CPU time")


def test_child_exiting_between_reads_keeps_its_last_cpu_time() -> None:
    rig = make_rig(["cpu"])
    rig.host.set_process(cpu_rate=0.5)
    rig.host.spawn(6001, cpu_rate=0.5)
    rig.step({"cpu:host": 100.0}, n=2)
    rig.clock.advance(0.5)
    rig.host.exit_process(6001)  # half a second of work since the last read
    start_s = rig.clock.time() - 0.5
    rig.clock.advance(0.5)
    rig.attributor.add(start_s, rig.clock.time(), {"cpu:host": 100.0})
    rig.attributor.refresh(rig.clock.time())
    out = rig.finish()
    # last interval: tree = 0.5 s (us) + 0.25 s (the worker's last half second) of 2 busy s
    assert out.energy.energy_j["cpu"] == pytest.approx((50.0, 50.0, 37.5))


def test_grandchildren_and_unreaped_orphans() -> None:
    rig = make_rig(["cpu"])
    rig.host.spawn(7001, cpu_rate=0.0)
    rig.host.spawn(7002, ppid=7001, cpu_rate=1.0)  # a grandchild doing the work
    rig.step({"cpu:host": 100.0}, n=2)
    rig.host.exit_process(7002)  # reaped by 7001: still the tree's
    rig.step({"cpu:host": 100.0})
    rig.host.spawn(7003, ppid=7001, cpu_rate=1.0)
    rig.step({"cpu:host": 100.0})
    rig.host.exit_process(7001)  # 7003 is orphaned (re-parented out of the tree): lost from now
    rig.step({"cpu:host": 100.0}, n=2)
    out = rig.finish()
    assert out.energy.energy_j["cpu"] == pytest.approx((50.0, 50.0, 0.0, 50.0, 0.0, 0.0))


def test_children_born_between_tree_walks_are_not_lost() -> None:
    """With walks far apart, a child that lives and exits between two walks is counted through
    its parent's reaped time; one still alive is counted in full at the next walk."""
    clock = FakeClock()
    host = FakeHost(clock=clock)
    meter = ProcessTreeMeter(host, clock.time(), duty=1e-12)  # the next walk: in ages
    host.set_process(cpu_rate=1.0)
    host.spawn(8001, cpu_rate=2.0)
    clock.advance(1.0)
    host.exit_process(8001)
    assert meter.read_cpu_s(clock.time()) == pytest.approx(3.0)
    assert meter.pids == {host.pid}
    host.spawn(8002, cpu_rate=1.0)
    clock.advance(1.0)
    assert meter.read_cpu_s(clock.time()) == pytest.approx(4.0)  # 8002 not seen yet
    fresh = ProcessTreeMeter(host, clock.time())  # walks every read
    clock.advance(1.0)
    assert fresh.read_cpu_s(clock.time()) == pytest.approx(2.0)
    assert fresh.pids == {host.pid, 8002}


def test_idle_host_gives_cpu_share_zero() -> None:
    clock = FakeClock()
    rig = make_rig(["cpu"], host=FakeHost(busy_fraction=0.0, clock=clock))
    rig.step({"cpu:host": 3.0}, n=3)
    assert rig.finish().energy.total_j("cpu") == 0.0


# -- RAM ----------------------------------------------------------------------------------------


def test_ram_share_is_tree_pss_over_used_memory() -> None:
    rig = make_rig(["ram"])
    rig.host.set_process(pss_bytes=2 * GIB)
    rig.step({"ram:host": 10.0}, n=2)  # 2 of 8 GiB in use
    rig.host.spawn(9001, pss_bytes=GIB)
    rig.step({"ram:host": 10.0}, n=2)
    out = rig.finish()
    assert out.energy.energy_j["ram"] == pytest.approx((2.5, 2.5, 3.75, 3.75))
    assert out.detail["ram"].startswith("this process tree's PSS (proportional set size)")


def test_ram_falls_back_to_rss_and_says_so() -> None:
    rig = make_rig(["ram"])
    rig.host.set_process(pss_readable=False, rss_bytes=4 * GIB)
    rig.step({"ram:host": 10.0}, n=2)
    out = rig.finish()
    assert out.energy.total_j("ram") == pytest.approx(10.0)
    assert "RSS (PSS unreadable" in out.detail["ram"]


def test_broken_host_probe_makes_cpu_and_ram_unavailable() -> None:
    rig = make_rig(["cpu", "ram"])
    rig.host.set_process(pss_bytes=GIB, cpu_rate=1.0)
    rig.step({"cpu:host": 10.0, "ram:host": 10.0})
    rig.host.break_probe()
    rig.step({"cpu:host": 10.0, "ram:host": 10.0})
    out = rig.finish()
    assert out.energy.components == ()
    assert out.detail["cpu"].startswith("unavailable: the process tree cannot be read")
    assert out.detail["ram"].startswith("unavailable:")


def test_host_probe_without_process_support() -> None:
    class PlainProbe:
        def cpu_count(self) -> int:
            return 2

        def cpu_times_s(self) -> tuple[float, float]:
            return 1.0, 2.0

        def memory_total_bytes(self) -> int:
            return GIB

        def memory_limit_bytes(self) -> int | None:
            return None

    clock = FakeClock()
    env = SensorEnvironment(host=PlainProbe(), nvml=FakeNVML([], clock))
    sampler = Sampler(clock=clock, environment=env, threaded=False)
    devices = tuple(s.info for s in discover(["cpu"], env, clock.monotonic()).sensors)
    att = ProcessAttributor.start(
        sampler, devices=devices, components=("cpu",), start_s=clock.time()
    )
    att.add(clock.time(), clock.time() + 1, {"cpu:host": 5.0})
    out = att.finish(clock.time() + 1)
    assert out.energy.components == ()
    assert "does not read processes" in out.detail["cpu"]


# -- the timeline -------------------------------------------------------------------------------


def test_pending_intervals_stay_bounded_and_exact_without_refreshes() -> None:
    rig = make_rig(["cpu"])
    rig.host.set_process(cpu_rate=1.0)  # half of the 2 busy CPUs
    t0 = rig.clock.time()
    for i in range(3 * MAX_PENDING_INTERVALS):
        rig.attributor.add(t0 + i, t0 + i + 1, {"cpu:host": 2.0, "gpu:9": 1e9})  # unknown key
    assert len(rig.attributor._pending) <= MAX_PENDING_INTERVALS
    rig.clock.advance(3 * MAX_PENDING_INTERVALS)
    out = rig.attributor.finish(rig.clock.time())
    assert out.energy.total_j("cpu") == pytest.approx(0.5 * 2.0 * 3 * MAX_PENDING_INTERVALS)
    assert out.energy.starts_s[0] == t0 and out.energy.ends_s[-1] == t0 + 768


def test_long_run_timeline_is_bounded() -> None:
    gpu = FakeGPU.volta(100.0)
    rig = make_rig(["gpu"], [gpu])
    gpu.set_processes({rig.host.pid: 100})
    rig.step({"gpu:0": 100.0}, seconds=10.0, n=20_000)  # 2.3 days at 10 s
    out = rig.finish()
    assert len(out.energy) <= 4096
    assert out.energy.total_j("gpu") == pytest.approx(100.0 * 20_000)
    assert rig.finish() is out  # idempotent


# -- end to end: measure() ------------------------------------------------------------------------


def test_measure_attribution_end_to_end_and_ledger(no_global_sampler: None) -> None:
    clock = FakeClock()
    host = FakeHost(cpu_count=4, busy_fraction=0.5, clock=clock)
    host.add_foreign_process(OTHER)
    host.set_process(cpu_rate=1.5, pss_bytes=4 * GIB)  # 3/4 of busy CPU, half of used memory
    gpus = [FakeGPU.volta(300.0), FakeGPU.pre_volta(100.0)]
    env = fake_environment(clock, gpus=gpus, host=host)
    gpus[0].set_processes({host.pid: 60, OTHER: 20})
    gpus[1].set_processes({OTHER: 100})
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure(
            "shared", region="DE", intensity=400, report=False, attribution="process"
        ) as run,
    ):
        for _ in range(30):
            clock.advance(1.0)
            sampler.tick()
    result = run.result
    assert result is not None and result.status == "completed"
    whole = result.energy_by_component_kwh
    attributed = result.attributed_energy_by_component_kwh
    assert set(attributed) == {"gpu", "cpu", "ram"}
    assert attributed["gpu"] == pytest.approx(0.75 * 300.0 * 30 / J_PER_KWH, rel=1e-9)
    assert attributed["cpu"] == pytest.approx(0.75 * whole["cpu"], rel=1e-9)
    assert attributed["ram"] == pytest.approx(0.5 * whole["ram"], rel=1e-9)
    for comp, kwh in attributed.items():
        assert 0 < kwh <= whole[comp]
    assert result.attributed_energy_kwh == pytest.approx(sum(attributed.values()))
    assert result.attributed_emissions_g == pytest.approx(
        result.attributed_energy_kwh * 400.0, rel=1e-9
    )
    assert result.energy_kwh == pytest.approx(sum(whole.values()))  # whole figures untouched
    assert result.attribution["gpu"].startswith("NVML per-process SM utilisation samples")
    assert result.attribution["cpu"].startswith("this process tree's CPU time")
    assert result.attribution["ram"].startswith("this process tree's PSS")
    stored = carbonsdk.Ledger().last()
    assert stored is not None and stored.run_id == result.run_id
    assert stored.attributed_energy_by_component_kwh == pytest.approx(dict(attributed))
    assert stored.attributed_emissions_g == pytest.approx(result.attributed_emissions_g)
    assert dict(stored.attribution) == dict(result.attribution)


def test_measure_attribution_in_a_container_omits_gpu(no_global_sampler: None) -> None:
    clock = FakeClock()
    gpu = FakeGPU.volta(300.0)
    env = fake_environment(clock, gpus=[gpu])
    gpu.set_processes({3_000_001: 100})  # our own work, under its host pid
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure(
            "boxed",
            region="DE",
            intensity=400,
            report=False,
            ledger=False,
            components=("gpu",),
            attribution="process",
        ) as run,
    ):
        for _ in range(3):
            clock.advance(1.0)
            sampler.tick()
    result = run.result
    assert result is not None
    assert result.energy_by_component_kwh["gpu"] > 0
    assert result.attributed_energy_by_component_kwh == {}
    assert result.attributed_energy_kwh is None
    assert result.attributed_emissions_g is None  # nothing attributed, not a measured zero
    assert result.attribution["gpu"].startswith("unavailable: NVML reports no process ids")
    text = render_text(result, width=100)
    assert "this proc" in text and "gpu –: unavailable: NVML reports" in text


def test_report_shows_the_share_over_components_with_a_known_share(no_global_sampler: None) -> None:
    clock = FakeClock()
    host = FakeHost(cpu_count=4, busy_fraction=0.5, clock=clock)
    host.set_process(cpu_rate=1.0, pss_bytes=4 * GIB)  # half of the busy CPU time
    gpu = FakeGPU.volta(300.0)
    env = fake_environment(clock, gpus=[gpu], host=host)
    gpu.set_processes({3_000_001: 100})  # a pid of another namespace: GPU share unknown
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure(
            "mixed",
            region="DE",
            intensity=400,
            report=False,
            ledger=False,
            components=("gpu", "cpu"),
            attribution="process",
        ) as run,
    ):
        for _ in range(10):
            clock.advance(1.0)
            sampler.tick()
    result = run.result
    assert result is not None and set(result.attributed_energy_by_component_kwh) == {"cpu"}
    text = render_text(result, width=100)
    assert "(50% of measured cpu)" in text


def test_measure_without_attribution_has_none(no_global_sampler: None) -> None:
    clock = FakeClock()
    env = fake_environment(clock)
    with (
        fake_sampler(env, clock) as sampler,
        carbonsdk.measure("plain", region="DE", intensity=400, report=False, ledger=False) as run,
    ):
        clock.advance(1.0)
        sampler.tick()
    assert run.result is not None
    assert run.result.attribution == {} and run.result.attributed_emissions_g is None


def test_sampler_environment_is_lazy_and_fake_sampler_passes_its_own() -> None:
    clock = FakeClock()
    env = fake_environment(clock)
    with fake_sampler(env, clock) as sampler:
        assert sampler.environment is env
        assert get_sampler() is sampler
    plain = Sampler(threaded=False)
    assert plain._environment is None
    assert isinstance(plain.environment, SensorEnvironment)
    assert plain.environment is plain.environment


# -- the real host --------------------------------------------------------------------------------


def test_real_host_busy_loop_gets_a_cpu_and_ram_share(no_global_sampler: None) -> None:
    """No fakes for the host: psutil reads this process tree while it spins."""
    set_sampler(Sampler())
    with carbonsdk.measure(
        "spin",
        region="DE",
        intensity=400,
        report=False,
        ledger=False,
        components=("cpu", "ram"),
        interval_s=0.05,
        attribution="process",
    ) as run:
        deadline = time.perf_counter() + 0.4
        x = 0
        while time.perf_counter() < deadline:
            x += 1
    result = run.result
    assert result is not None and x > 0
    whole = result.energy_by_component_kwh
    attributed = result.attributed_energy_by_component_kwh
    assert set(attributed) == {"cpu", "ram"}, result.attribution
    cpu_share = attributed["cpu"] / whole["cpu"]
    ram_share = attributed["ram"] / whole["ram"]
    assert 0 < cpu_share <= 1 + 1e-9
    assert 0 < ram_share <= 1 + 1e-9
    assert "RSS" in result.attribution["ram"] or "PSS" in result.attribution["ram"]


def test_real_meter_counts_a_joined_child_process() -> None:
    """A real child (fork + exit + wait) is counted through this process's reaped time."""
    from carbonsdk.sensors.host import PsutilHostProbe

    probe = PsutilHostProbe()
    meter = ProcessTreeMeter(probe, time.time())
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
    assert meter.read_cpu_s(time.time()) >= 0.15


def test_gpu_share_never_raises_on_odd_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGPU.volta(300.0)
    rig = make_rig(["gpu"], [gpu])

    def broken(*args: object) -> object:
        raise RuntimeError("driver said something odd")

    monkeypatch.setattr(FakeNVML, "nvmlDeviceGetProcessUtilization", broken)
    rig.step({"gpu:0": 300.0}, n=2)
    out = rig.finish()
    assert out.detail["gpu"].startswith("unavailable: gpu:0")
    assert "driver said something odd" in out.detail["gpu"]


def test_memory_reads_are_paced_and_held_in_between() -> None:
    clock = FakeClock()
    host = FakeHost(clock=clock)
    meter = ProcessTreeMeter(host, clock.time(), memory_duty=1e-9)
    host.set_process(pss_bytes=GIB)
    first = meter.read_memory(clock.time())
    assert first.tree_bytes == GIB and first.kind == "pss"
    host.set_process(pss_bytes=2 * GIB)
    clock.advance(1.0)
    assert meter.read_memory(clock.time()) is first  # held until the next read is due
    unpaced = ProcessTreeMeter(host, clock.time(), memory_duty=1.0)
    assert unpaced.read_memory(clock.time()).tree_bytes == 2 * GIB
