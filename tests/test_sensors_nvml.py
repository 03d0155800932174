"""NVML GPU sensors against carbonsdk.testing.FakeNVML (no GPU needed)."""

from __future__ import annotations

import os
import sys

import pynvml
import pytest

from carbonsdk.exceptions import SensorError
from carbonsdk.sensors import SensorEnvironment, discover
from carbonsdk.sensors import nvml as nvml_mod
from carbonsdk.sensors.nvml import (
    METHOD_COUNTER,
    METHOD_POLLING,
    NvmlUnsupportedError,
    describe_nvml_error,
    open_gpu_sensor,
    open_gpu_sensors,
    reset_after_fork,
    resolve_visible_gpus,
)
from carbonsdk.testing import FakeClock, FakeGPU, FakeNVML, fake_environment

UUIDS = [
    "GPU-aaaa1111-0000-0000-0000-000000000000",
    "GPU-aaaa2222-0000-0000-0000-000000000000",
    "GPU-bbbb3333-0000-0000-0000-000000000000",
]


def _gpus_env(clock: FakeClock, gpus: list[FakeGPU], cvd: str | None = None) -> SensorEnvironment:
    return fake_environment(clock, gpus=gpus, cuda_visible_devices=cvd)


# -- integration exactness ------------------------------------------------------------------


def test_energy_counter_is_exact_integral_of_power() -> None:
    clock = FakeClock()
    gpu = FakeGPU.volta(power_w=250.0)
    found = discover(["gpu"], _gpus_env(clock, [gpu]), clock.monotonic())
    (sensor,) = found.sensors
    assert sensor.info.method == METHOD_COUNTER
    assert sensor.info.estimated is False
    clock.advance(2.0)
    assert sensor.read_energy_j(clock.monotonic()) == 500.0
    gpu.set_power_w(100.0)
    clock.advance(3.0)
    assert sensor.read_energy_j(clock.monotonic()) == 800.0
    gpu.set_power_w(0.0)
    clock.advance(7.0)
    assert sensor.read_energy_j(clock.monotonic()) == 800.0


def test_counter_baseline_excludes_energy_before_open() -> None:
    clock = FakeClock()
    gpu = FakeGPU.volta(power_w=200.0, initial_energy_j=123_456.0)
    (sensor,) = discover(["gpu"], _gpus_env(clock, [gpu]), clock.monotonic()).sensors
    clock.advance(1.5)
    assert sensor.read_energy_j(clock.monotonic()) == 300.0


def test_power_polling_trapezoid_exact_for_constant_power() -> None:
    clock = FakeClock()
    gpu = FakeGPU.pre_volta(power_w=150.0)
    (sensor,) = discover(["gpu"], _gpus_env(clock, [gpu]), clock.monotonic()).sensors
    assert sensor.info.method == METHOD_POLLING
    assert sensor.info.estimated is False
    for _ in range(10):
        clock.advance(1.0)
        sensor.read_energy_j(clock.monotonic())
    assert sensor.read_energy_j(clock.monotonic()) == 1500.0
    assert gpu.energy_j() == 1500.0


def test_power_polling_vs_counter_on_a_power_step() -> None:
    """A step from 300 W to 100 W between reads: the counter is exact, the trapezoid rule is off
    by exactly (300 - 100) / 2 W over the one interval that straddles the step."""
    clock = FakeClock()
    gpu = FakeGPU.volta(power_w=300.0)
    nvml = FakeNVML([gpu], clock)
    nvml.nvmlInit()
    t0 = clock.monotonic()
    counter = open_gpu_sensor(nvml, 0, 0, t0, method="counter")
    polling = open_gpu_sensor(nvml, 0, 0, t0, method="polling")
    assert counter.info.method == METHOD_COUNTER
    assert polling.info.method == METHOD_POLLING
    clock.advance(1.0)
    for s in (counter, polling):
        s.read_energy_j(clock.monotonic())
    clock.advance(0.25)
    gpu.set_power_w(100.0)  # at t = 1.25 s, between the reads at 1 s and 2 s
    clock.advance(0.75)
    for s in (counter, polling):
        s.read_energy_j(clock.monotonic())
    clock.advance(2.0)
    now = clock.monotonic()
    # exact: 300 W for 1.25 s + 100 W for 2.75 s
    assert counter.read_energy_j(now) == 375.0 + 275.0
    # trapezoid: 300 (0..1 s) + (300+100)/2 * 1 (1..2 s) + 100 * 2 (2..4 s)
    assert polling.read_energy_j(now) == 300.0 + 200.0 + 200.0
    assert gpu.energy_j() == 650.0


def test_polling_read_at_same_time_adds_nothing_and_is_non_decreasing() -> None:
    clock = FakeClock()
    gpu = FakeGPU.pre_volta(power_w=80.0)
    (sensor,) = discover(["gpu"], _gpus_env(clock, [gpu]), clock.monotonic()).sensors
    clock.advance(1.0)
    first = sensor.read_energy_j(clock.monotonic())
    assert sensor.read_energy_j(clock.monotonic()) == first == 80.0
    assert sensor.read_energy_j(clock.monotonic() - 0.5) == first  # out-of-order read: no change


def test_counter_restart_after_gpu_reset_keeps_energy_non_decreasing() -> None:
    clock = FakeClock()
    gpu = FakeGPU.volta(power_w=100.0, initial_energy_j=5000.0)
    (sensor,) = discover(["gpu"], _gpus_env(clock, [gpu]), clock.monotonic()).sensors
    clock.advance(2.0)
    assert sensor.read_energy_j(clock.monotonic()) == 200.0
    gpu.reset_energy_counter()
    clock.advance(1.0)
    assert sensor.read_energy_j(clock.monotonic()) == 300.0


# -- CUDA_VISIBLE_DEVICES ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "warns"),
    [
        (None, (0, 1, 2), False),
        ("", (), False),
        ("  ", (), False),
        ("2,0", (2, 0), False),
        (" 1 , 0 ", (1, 0), False),
        ("1gpu2,2ampere", (1, 2), False),  # strtoul-like, as CUDA parses
        ("+1", (1,), False),
        ("0,5,1", (0,), True),  # index out of range ends the list
        ("0,2,-1,1", (0, 2), True),  # CUDA's documented example
        ("-1", (), True),
        ("abc,0", (), True),
        ("0,0", (), True),  # a duplicate hides every GPU
        (UUIDS[2], (2,), False),  # full UUID
        ("GPU-bbbb", (2,), False),  # unique prefix
        ("GPU-aaaa2,GPU-aaaa1", (1, 0), False),
        ("GPU-aaaa,0", (), True),  # ambiguous prefix ends the list
        ("GPU-cccc", (), True),
        ("GPU-bbbb,1", (2, 1), False),  # mixed forms
        ("1,MIG-4d5e6f,0", (1,), True),
    ],
)
def test_resolve_visible_gpus(value: str | None, expected: tuple[int, ...], warns: bool) -> None:
    visible = resolve_visible_gpus(value, UUIDS)
    assert visible.nvml_indices == expected
    assert bool(visible.warnings) is warns
    for w in visible.warnings:
        assert "CUDA_VISIBLE_DEVICES" in w


def test_visible_ordinals_keys_uuid_and_nvml_index_in_detail() -> None:
    clock = FakeClock()
    gpus = [FakeGPU.volta(power_w=100.0 + i, uuid=u) for i, u in enumerate(UUIDS)]
    env = _gpus_env(clock, gpus, cvd="2,GPU-aaaa1")
    found = discover(["gpu"], env, clock.monotonic())
    assert [s.info.key for s in found.sensors] == ["gpu:0", "gpu:1"]
    assert [s.info.index for s in found.sensors] == [0, 1]
    assert [s.info.uuid for s in found.sensors] == [UUIDS[2], UUIDS[0]]
    assert "NVML index 2" in found.sensors[0].info.detail
    assert "NVML index 0" in found.sensors[1].info.detail
    clock.advance(1.0)
    assert found.sensors[0].read_energy_j(clock.monotonic()) == 102.0
    assert found.sensors[1].read_energy_j(clock.monotonic()) == 100.0
    assert found.warnings == ()


def test_empty_cuda_visible_devices_means_gpu_not_measured() -> None:
    clock = FakeClock()
    found = discover(["gpu"], _gpus_env(clock, [FakeGPU.volta()], cvd=""), clock.monotonic())
    assert found.sensors == ()
    assert "empty string" in found.not_measured["gpu"]


def test_invalid_cuda_visible_devices_entry_warns_and_stops() -> None:
    clock = FakeClock()
    gpus = [FakeGPU.volta(), FakeGPU.volta()]
    found = discover(["gpu"], _gpus_env(clock, gpus, cvd="1,7,0"), clock.monotonic())
    assert [s.info.detail.split(";")[0] for s in found.sensors] == ["NVML index 1"]
    assert any("'7'" in w and "ignored" in w for w in found.warnings)
    hidden = discover(["gpu"], _gpus_env(clock, gpus, cvd="-1"), clock.monotonic())
    assert "selects none" in hidden.not_measured["gpu"]


def test_gpus_selection_by_visible_index() -> None:
    clock = FakeClock()
    gpus = [FakeGPU.volta(power_w=10.0), FakeGPU.volta(power_w=20.0)]
    env = _gpus_env(clock, gpus)
    found = discover(["gpu"], env, clock.monotonic(), gpus=[1, 5])
    assert [s.info.key for s in found.sensors] == ["gpu:1"]
    assert any("[5]" in w for w in found.warnings)
    none = discover(["gpu"], env, clock.monotonic(), gpus=[9])
    assert none.sensors == ()
    assert "gpus=[9]" in none.not_measured["gpu"]


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [FakeGPU.volta, FakeGPU.pre_volta])
def test_gpu_lost_mid_run_raises_sensor_error(factory: type[FakeGPU]) -> None:
    clock = FakeClock()
    gpu = factory(power_w=100.0, fail_at_mono_s=clock.monotonic() + 5.0)  # type: ignore[misc]
    (sensor,) = discover(["gpu"], _gpus_env(clock, [gpu]), clock.monotonic()).sensors
    clock.advance(4.0)
    assert sensor.read_energy_j(clock.monotonic()) == 400.0
    clock.advance(1.0)
    with pytest.raises(SensorError) as info:
        sensor.read_energy_j(clock.monotonic())
    message = str(info.value)
    assert "gpu:0" in message
    assert "GPU is lost" in message
    assert "NVML_ERROR_GPU_IS_LOST" in message
    assert not isinstance(info.value, NvmlUnsupportedError)


def test_other_nvml_errors_mid_run_are_sensor_errors() -> None:
    clock = FakeClock()
    gpu = FakeGPU.volta()
    (sensor,) = discover(["gpu"], _gpus_env(clock, [gpu]), clock.monotonic()).sensors
    gpu.fail("NVML_ERROR_TIMEOUT")
    with pytest.raises(SensorError, match="did not answer in time"):
        sensor.read_energy_j(clock.monotonic())
    gpu.recover()
    clock.advance(1.0)
    assert sensor.read_energy_j(clock.monotonic()) == 250.0


def test_gpu_failing_at_open_is_a_warning_and_the_others_are_measured() -> None:
    clock = FakeClock()
    bad = FakeGPU.volta()
    bad.fail("NVML_ERROR_GPU_IS_LOST")
    found = discover(["gpu"], _gpus_env(clock, [bad, FakeGPU.volta()]), clock.monotonic())
    # UUID of GPU 0 unreadable: CUDA_VISIBLE_DEVICES unset still lists it by index, opening fails
    assert [s.info.key for s in found.sensors] == ["gpu:1"]
    assert any("gpu:0" in w and "GPU is lost" in w for w in found.warnings)
    only_bad = discover(["gpu"], _gpus_env(clock, [bad]), clock.monotonic())
    assert only_bad.sensors == ()
    assert only_bad.not_measured["gpu"].startswith("no NVIDIA GPU could be read: gpu:0")


def test_gpu_without_counter_nor_power_is_not_measured() -> None:
    clock = FakeClock()
    gpu = FakeGPU(energy_counter=False, power_readings=False)
    found = discover(["gpu"], _gpus_env(clock, [gpu]), clock.monotonic())
    assert found.sensors == ()
    assert "neither an energy counter nor power readings" in found.not_measured["gpu"]


def test_forcing_counter_on_pre_volta_raises_unsupported() -> None:
    clock = FakeClock()
    nvml = FakeNVML([FakeGPU.pre_volta()], clock)
    nvml.nvmlInit()
    with pytest.raises(NvmlUnsupportedError, match="NVML_ERROR_NOT_SUPPORTED"):
        open_gpu_sensor(nvml, 0, 0, clock.monotonic(), method="counter")


def test_nvml_not_installed_gives_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    scan = open_gpu_sensors(None, None, 0.0)
    assert scan.sensors == ()
    assert scan.reason is not None
    assert "nvidia-ml-py is not installed" in scan.reason
    env = SensorEnvironment(nvml=None, cuda_visible_devices=None)
    found = discover(["gpu"], env, 0.0)
    assert "nvidia-ml-py is not installed" in found.not_measured["gpu"]


@pytest.mark.parametrize(
    ("error", "text"),
    [
        ("NVML_ERROR_DRIVER_NOT_LOADED", "driver is not loaded"),
        ("NVML_ERROR_LIBRARY_NOT_FOUND", "libnvidia-ml.so.1 was not found"),
        ("NVML_ERROR_LIB_RM_VERSION_MISMATCH", "versions differ"),
        ("NVML_ERROR_NO_PERMISSION", "permission denied"),
    ],
)
def test_nvml_init_failure_gives_not_measured_reason(error: str, text: str) -> None:
    clock = FakeClock()
    nvml = FakeNVML([FakeGPU.volta()], clock, init_error=error)
    found = discover(["gpu"], fake_environment(clock, nvml=nvml), clock.monotonic())
    reason = found.not_measured["gpu"]
    assert reason.startswith("no NVIDIA GPU visible (NVML: ")
    assert text in reason
    assert error in reason
    assert found.sensors == ()


def test_zero_gpus_gives_not_measured() -> None:
    clock = FakeClock()
    found = discover(["gpu"], fake_environment(clock), clock.monotonic())
    assert found.not_measured == {"gpu": "no NVIDIA GPU visible (NVML reports 0 GPUs)"}


def test_closed_sensor_raises_sensor_error() -> None:
    clock = FakeClock()
    (sensor,) = discover(["gpu"], _gpus_env(clock, [FakeGPU.volta()]), 0.0).sensors
    sensor.close()
    sensor.close()
    with pytest.raises(SensorError, match="closed"):
        sensor.read_energy_j(clock.monotonic())


def test_error_table_matches_real_pynvml_constants() -> None:
    lost = pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
    assert describe_nvml_error(pynvml, lost) == (
        "the GPU is lost (fell off the bus or stopped responding) (NVML_ERROR_GPU_IS_LOST)"
    )
    for name in nvml_mod.NVML_ERROR_TEXT:
        assert getattr(pynvml, name) == getattr(FakeNVML, name), name
    odd = pynvml.NVMLError(12345)
    assert "NVML error 12345" in describe_nvml_error(pynvml, odd)
    assert "lacks a function" in describe_nvml_error(pynvml, AttributeError("nvmlFoo"))


def test_bytes_from_old_bindings_are_decoded() -> None:
    class OldBindings(FakeNVML):
        def nvmlDeviceGetName(self, handle: object) -> bytes:  # type: ignore[override]
            return super().nvmlDeviceGetName(handle).encode()

        def nvmlDeviceGetUUID(self, handle: object) -> bytes:  # type: ignore[override]
            return super().nvmlDeviceGetUUID(handle).encode()

    clock = FakeClock()
    nvml = OldBindings([FakeGPU.volta(name="Tesla V100", uuid=UUIDS[0])], clock)
    (sensor,) = discover(["gpu"], fake_environment(clock, nvml=nvml), 0.0).sensors
    assert sensor.info.name == "Tesla V100"
    assert sensor.info.uuid == UUIDS[0]


# -- nvmlInit once per process, and after fork ---------------------------------------------------


def test_nvml_init_once_per_process_and_again_after_reset() -> None:
    clock = FakeClock()
    nvml = FakeNVML([FakeGPU.volta()], clock)
    env = fake_environment(clock, nvml=nvml)
    for _ in range(3):
        assert len(discover(["gpu"], env, clock.monotonic()).sensors) == 1
    assert nvml.init_calls == 1
    reset_after_fork()
    assert len(discover(["gpu"], env, clock.monotonic()).sensors) == 1
    assert nvml.init_calls == 2


def test_forked_child_initialises_nvml_again() -> None:
    clock = FakeClock()
    nvml = FakeNVML([FakeGPU.volta(power_w=50.0)], clock)
    env = fake_environment(clock, nvml=nvml)
    discover(["gpu"], env, clock.monotonic())
    assert nvml.init_calls == 1
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: its copy of the fake counts its own nvmlInit
        code = 1
        try:
            found = discover(["gpu"], env, clock.monotonic())
            clock.advance(2.0)
            energy = found.sensors[0].read_energy_j(clock.monotonic())
            os.write(write_fd, f"{nvml.init_calls} {energy}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    payload = os.read(read_fd, 100).decode()
    os.close(read_fd)
    assert os.WEXITSTATUS(status) == 0
    assert payload == "2 100.0"
    assert nvml.init_calls == 1  # the parent was not touched
