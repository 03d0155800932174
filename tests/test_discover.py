"""discover(): every combination of components on fake hosts, plus carbonsdk.testing itself."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from carbonsdk.exceptions import ConfigurationError, SensorError
from carbonsdk.sensors import COMPONENTS, Discovery, SensorEnvironment, discover
from carbonsdk.sensors.rapl import DEFAULT_POWERCAP_ROOT
from carbonsdk.testing import (
    NO_POWERCAP_ROOT,
    FakeClock,
    FakeGPU,
    FakeHost,
    FakePowercap,
    discover_fn,
    fake_environment,
)

COMBINATIONS = [
    combo for n in range(1, len(COMPONENTS) + 1) for combo in itertools.combinations(COMPONENTS, n)
]
REPO = Path(__file__).resolve().parents[1]


def _full_env(tmp_path: Path, clock: FakeClock) -> SensorEnvironment:
    pc = FakePowercap(tmp_path / "powercap", clock, package_power_w=50.0, dram_power_w=5.0)
    return fake_environment(clock, gpus=[FakeGPU.volta(power_w=300.0)], powercap=pc)


@pytest.mark.parametrize("components", COMBINATIONS, ids="+".join)
def test_full_hardware_every_combination(tmp_path: Path, components: tuple[str, ...]) -> None:
    clock = FakeClock()
    found = discover(components, _full_env(tmp_path, clock), clock.monotonic())
    expected = {
        "gpu": ("gpu:0", "nvml-energy-counter", 300.0),
        "cpu": ("cpu:package-0", "rapl", 50.0),
        "ram": ("ram:package-0", "rapl", 5.0),
    }
    assert [s.info.component for s in found.sensors] == list(components)  # gpu, cpu, ram order
    assert found.not_measured == {}
    assert found.warnings == ()
    clock.advance(4.0)
    for sensor in found.sensors:
        key, method, power_w = expected[sensor.info.component]
        assert (sensor.info.key, sensor.info.method, sensor.info.estimated) == (key, method, False)
        assert sensor.read_energy_j(clock.monotonic()) == power_w * 4.0
    found.close()


@pytest.mark.parametrize("components", COMBINATIONS, ids="+".join)
def test_bare_host_every_combination(components: tuple[str, ...]) -> None:
    """No GPU, no RAPL: GPU not measured (with a reason), CPU and RAM modelled (estimated)."""
    clock = FakeClock()
    host = FakeHost(
        cpu_count=2, busy_fraction=1.0, memory_bytes=4 * 2**30, used_memory_bytes=4 * 2**30
    )
    found = discover(components, fake_environment(clock, host=host), clock.monotonic())
    assert set(found.not_measured) == ({"gpu"} & set(components))
    if "gpu" in components:
        assert found.not_measured["gpu"] == "no NVIDIA GPU visible (NVML reports 0 GPUs)"
    expected = {"cpu": ("cpu:host", 2 * 3.5), "ram": ("ram:host", 0.392 * 4)}
    assert [s.info.component for s in found.sensors] == [c for c in components if c != "gpu"]
    clock.advance(10.0)
    for sensor in found.sensors:
        key, power_w = expected[sensor.info.component]
        assert sensor.info.key == key
        assert sensor.info.estimated is True
        assert sensor.read_energy_j(clock.monotonic()) == pytest.approx(power_w * 10.0)
    assert found.warnings == ()


@pytest.mark.parametrize("components", COMBINATIONS, ids="+".join)
def test_broken_probe_every_combination(components: tuple[str, ...]) -> None:
    """No hardware and a failing host probe: nothing is measured, each with its reason."""
    clock = FakeClock()
    host = FakeHost()
    host.break_probe()
    found = discover(components, fake_environment(clock, host=host), clock.monotonic())
    assert found.sensors == ()
    assert set(found.not_measured) == set(components)
    for component in set(components) - {"gpu"}:
        reason = found.not_measured[component]
        assert "no RAPL" in reason and "fake host probe broken" in reason


def test_mixed_gpus_and_rapl_denied(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock, packages=2)
    pc.deny_reads()
    env = fake_environment(
        clock,
        gpus=[FakeGPU.volta(power_w=200.0), FakeGPU.pre_volta(power_w=100.0)],
        powercap=pc,
    )
    found = discover(["gpu", "cpu", "ram"], env, clock.monotonic())
    assert [(s.info.key, s.info.method) for s in found.sensors] == [
        ("gpu:0", "nvml-energy-counter"),
        ("gpu:1", "nvml-power-polling"),
        ("cpu:host", "model-cpu-utilisation"),
        ("ram:host", "model-ram-size"),
    ]
    assert len({s.info.key for s in found.sensors}) == len(found.sensors)
    assert len(found.warnings) == 2


def test_unknown_component_is_a_configuration_error() -> None:
    clock = FakeClock()
    with pytest.raises(ConfigurationError, match=r"unknown component 'disk'.*'gpu', 'cpu', 'ram'"):
        discover(["cpu", "disk"], fake_environment(clock), clock.monotonic())
    with pytest.raises(ValueError):
        discover(["GPU"], fake_environment(clock), clock.monotonic())


def test_duplicates_and_empty() -> None:
    clock = FakeClock()
    env = fake_environment(clock)
    assert [s.info.key for s in discover(["cpu", "cpu"], env, 0.0).sensors] == ["cpu:host"]
    assert [s.info.key for s in discover("ram", env, 0.0).sensors] == ["ram:host"]
    empty = discover([], env, 0.0)
    assert empty == Discovery(sensors=(), not_measured={}, warnings=())


def test_discovery_close_closes_sensors(tmp_path: Path) -> None:
    clock = FakeClock()
    found = discover(["gpu", "cpu", "ram"], _full_env(tmp_path, clock), clock.monotonic())
    found.close()
    found.close()
    for sensor in found.sensors:
        with pytest.raises(SensorError, match="closed"):
            sensor.read_energy_j(clock.monotonic())


def test_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    env = SensorEnvironment()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert env.cuda_visible_devices == "1,0"  # read once, at construction
    assert env.nvml is None and env.host is None
    assert env.powercap_root == DEFAULT_POWERCAP_ROOT == Path("/sys/class/powercap")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert SensorEnvironment().cuda_visible_devices is None
    assert fake_environment(FakeClock()).powercap_root == NO_POWERCAP_ROOT


def test_long_run_with_many_reads_stays_exact(tmp_path: Path) -> None:
    """An 8-day run read every 60 s on fake hardware: milliseconds, and exact energies."""
    clock = FakeClock()
    gpu = FakeGPU.volta(power_w=250.0)
    pc = FakePowercap(tmp_path, clock, package_power_w=40.0, dram_power_w=4.0)
    env = fake_environment(clock, gpus=[gpu], powercap=pc)
    found = discover(["gpu", "cpu", "ram"], env, clock.monotonic())
    steps = 8 * 24 * 60
    for _ in range(steps):
        clock.advance(60.0)
        energies = [s.read_energy_j(clock.monotonic()) for s in found.sensors]
    seconds = steps * 60.0
    assert energies == [250.0 * seconds, 40.0 * seconds, 4.0 * seconds]
    # 40 W for 8 days is 27.6 MJ: the 262 kJ RAPL counter wrapped about 105 times
    assert pc.counter_uj(pc.zone_id("package-0")) < 262_143_328_850


def test_discover_fn_has_the_sampler_shape() -> None:
    clock = FakeClock()
    fn = discover_fn(fake_environment(clock))
    found = fn(["cpu"], clock.monotonic())
    assert [s.info.key for s in found.sensors] == ["cpu:host"]


def test_fake_clock() -> None:
    clock = FakeClock(start_epoch_s=1_700_000_000.0, start_mono_s=5.0)
    assert (clock.time(), clock.monotonic()) == (1_700_000_000.0, 5.0)
    clock.advance(2.5)
    assert (clock.time(), clock.monotonic()) == (1_700_000_002.5, 7.5)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1.0)


def test_fake_gpu_errors() -> None:
    with pytest.raises(ValueError, match="unknown NVML error"):
        FakeGPU(fail_with="NVML_ERROR_NOPE")
    with pytest.raises(RuntimeError, match="no clock"):
        FakeGPU().energy_j()
    with pytest.raises(ValueError, match="power_w"):
        FakeGPU().set_power_w(-1.0)
    with pytest.raises(ValueError, match="either gpus= or nvml="):
        from carbonsdk.testing import FakeNVML

        fake_environment(FakeClock(), gpus=[FakeGPU()], nvml=FakeNVML())


def test_imports_stay_light_and_need_no_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import carbonsdk, carbonsdk.sensors, carbonsdk.testing\n"
        "heavy = [m for m in ('pynvml', 'psutil', 'numpy', 'requests', 'rich') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_real_host_discovery_never_raises_and_accounts_for_every_component() -> None:
    """On whatever machine runs the tests (GPU or not, RAPL or not): each requested component
    is either measured or listed as not measured, and readings never go down."""
    import time

    found = discover(["gpu", "cpu", "ram"], SensorEnvironment(), time.monotonic())
    try:
        measured = {s.info.component for s in found.sensors}
        assert measured | set(found.not_measured) == {"gpu", "cpu", "ram"}
        assert not measured & set(found.not_measured)
        assert {"cpu", "ram"} <= measured  # at least the models
        first = [s.read_energy_j(time.monotonic()) for s in found.sensors]
        second = [s.read_energy_j(time.monotonic()) for s in found.sensors]
        assert all(0.0 <= a <= b for a, b in zip(first, second, strict=True))
    finally:
        found.close()
