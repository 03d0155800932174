"""NVML GPU sensors and per-process readers against carbonsdk.testing.FakeNVML (found by mutation
testing, see docs/testing.md): the power-limit plausibility bound, the UUID of a GPU opened on its
own, how a device says it is measured, ``gpus=`` boundaries, CUDA_VISIBLE_DEVICES boundaries and
warnings, power polling at close or equal read times, and the per-process readings (samples not
counted twice, per-pid sums, memory per pid, the "no sample" answers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pytest

from carbonsdk.exceptions import SensorError
from carbonsdk.model.device import DeviceInfo
from carbonsdk.sensors import discover
from carbonsdk.sensors.nvml import (
    METHOD_COUNTER,
    METHOD_POLLING,
    GpuProcessReader,
    NvmlUnsupportedError,
    open_gpu_sensor,
    open_gpu_sensors,
    resolve_visible_gpus,
    vendor_errors,
)
from carbonsdk.testing import (
    FakeClock,
    FakeGPU,
    FakeNVML,
    FakeNVMLError,
    FakeProcessInfo,
    FakeProcessUtilizationSample,
    fake_environment,
)

UUIDS = [
    "GPU-aaaa1111-0000-0000-0000-000000000000",
    "GPU-aaaa2222-0000-0000-0000-000000000000",
    "GPU-bbbb3333-0000-0000-0000-000000000000",
]


def _opened(gpu: FakeGPU, method: Any = "auto") -> Any:
    clock = FakeClock()
    nvml = FakeNVML([gpu], clock)
    nvml.nvmlInit()
    return open_gpu_sensor(nvml, 0, 0, clock.monotonic(), method=method)


# -- DeviceInfo of an opened GPU -----------------------------------------------------------------


def test_max_power_is_twice_the_power_limit_in_watts() -> None:
    sensor = _opened(FakeGPU.volta(power_limit_w=300.0))
    assert sensor.info.max_power_w == 600.0
    tiny = _opened(FakeGPU.volta(power_limit_w=0.001))  # any positive limit (1 mW) is used
    assert tiny.info.max_power_w == pytest.approx(0.002)


def test_zero_power_limit_gives_the_samplers_generic_bound() -> None:
    sensor = _opened(FakeGPU.volta(power_limit_w=0.0))
    assert sensor.info.max_power_w is None


def test_gpu_opened_alone_reads_its_uuid() -> None:
    sensor = _opened(FakeGPU.volta(uuid=UUIDS[1]))
    assert sensor.info.uuid == UUIDS[1]


def test_detail_says_how_the_gpu_is_measured() -> None:
    counter = _opened(FakeGPU.volta(), method="counter")
    polling = _opened(FakeGPU.volta(), method="polling")
    assert counter.info.method == METHOD_COUNTER
    assert "energy counter" in counter.info.detail
    assert "trapezoid" not in counter.info.detail
    assert polling.info.method == METHOD_POLLING
    assert "trapezoid" in polling.info.detail
    assert "energy counter" not in polling.info.detail


# -- gpus= and CUDA_VISIBLE_DEVICES boundaries ---------------------------------------------------


def test_gpus_selection_boundaries() -> None:
    clock = FakeClock()
    env = fake_environment(clock, gpus=[FakeGPU.volta(), FakeGPU.volta()])
    first = discover(["gpu"], env, clock.monotonic(), gpus=[0])
    assert [s.info.key for s in first.sensors] == ["gpu:0"]
    assert first.warnings == ()
    both = discover(["gpu"], env, clock.monotonic(), gpus=[1, 0])
    assert [s.info.key for s in both.sensors] == ["gpu:1", "gpu:0"]
    assert both.warnings == ()
    past_end = open_gpu_sensors(env.nvml, None, clock.monotonic(), gpus=[0, 2])
    assert [s.info.key for s in past_end.sensors] == ["gpu:0"]
    (warning,) = past_end.warnings
    assert "[2] not visible" in warning
    assert "indices 0..1" in warning  # the valid range is named


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0,3", (0,)), ("3", ()), ("2", (2,))],  # 3 GPUs: index 3 is the first invalid one
)
def test_index_equal_to_gpu_count_is_invalid(value: str, expected: tuple[int, ...]) -> None:
    visible = resolve_visible_gpus(value, UUIDS)
    assert visible.nvml_indices == expected
    assert bool(visible.warnings) is (expected != (2,))


def test_uuid_warnings_say_unknown_or_ambiguous() -> None:
    (unknown,) = resolve_visible_gpus("GPU-cccc", UUIDS).warnings
    assert "matches no GPU" in unknown
    (ambiguous,) = resolve_visible_gpus("GPU-aaaa", UUIDS).warnings
    assert "ambiguous" in ambiguous and "2 GPUs" in ambiguous


def test_vendor_errors_of_a_binding_without_nvmlerror() -> None:
    class Bare:
        pass

    errors = vendor_errors(Bare())
    assert AttributeError in errors and OSError in errors
    assert all(issubclass(e, BaseException) for e in errors)
    assert FakeNVMLError in vendor_errors(FakeNVML())


# -- power polling --------------------------------------------------------------------------------


def test_polling_reading_at_the_same_time_refreshes_the_power() -> None:
    """A second read at the same instant adds no energy but its power reading is the one the
    next interval starts from (trapezoid between the latest readings)."""
    clock = FakeClock()
    gpu = FakeGPU.pre_volta(power_w=100.0)
    sensor = _opened_on(clock, gpu)
    clock.advance(1.0)
    assert sensor.read_energy_j(clock.monotonic()) == 100.0
    gpu.set_power_w(300.0)
    assert sensor.read_energy_j(clock.monotonic()) == 100.0
    assert sensor.last_power_w == 300.0
    clock.advance(1.0)
    assert sensor.read_energy_j(clock.monotonic()) == 400.0


def test_polling_sub_second_reads_follow_the_power() -> None:
    clock = FakeClock()
    gpu = FakeGPU.pre_volta(power_w=100.0)
    sensor = _opened_on(clock, gpu)
    clock.advance(0.5)
    assert sensor.read_energy_j(clock.monotonic()) == 50.0
    gpu.set_power_w(200.0)
    clock.advance(0.5)
    # trapezoid over the last half second: (100 + 200) / 2 W
    assert sensor.read_energy_j(clock.monotonic()) == 125.0
    assert sensor.last_power_w == 200.0
    clock.advance(0.5)
    assert sensor.read_energy_j(clock.monotonic()) == 225.0


def _opened_on(clock: FakeClock, gpu: FakeGPU) -> Any:
    nvml = FakeNVML([gpu], clock)
    nvml.nvmlInit()
    return open_gpu_sensor(nvml, 0, 0, clock.monotonic())


# -- per-process readers --------------------------------------------------------------------------


class _Samples(FakeNVML):
    """A binding that hands back a fixed sample list (old samples mixed in, unsorted), as a
    driver may: NVML documents only that samples newer than the timestamp are included."""

    def __init__(
        self, gpu: FakeGPU, clock: FakeClock, samples: list[Any], procs: list[Any]
    ) -> None:
        super().__init__([gpu], clock)
        self.samples = samples
        self.procs = procs
        self.error: int | None = None

    def nvmlDeviceGetProcessUtilization(self, handle: Any, timeStamp: int) -> Any:
        self._gpu(handle)
        if self.error is not None:
            raise FakeNVMLError(self.error)
        return list(self.samples)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> Any:
        self._gpu(handle)
        return list(self.procs)


def _reader(
    samples: Sequence[Any] = (), procs: Sequence[Any] = ()
) -> tuple[GpuProcessReader, _Samples]:
    clock = FakeClock()
    gpu = FakeGPU.volta(uuid=UUIDS[0])
    nvml = _Samples(gpu, clock, list(samples), list(procs))
    nvml.nvmlInit()
    sensor = open_gpu_sensor(nvml, 0, 0, clock.monotonic())
    return GpuProcessReader.open(nvml, sensor.info), nvml


def test_utilisation_counts_only_samples_newer_than_last_seen() -> None:
    samples = [
        FakeProcessUtilizationSample(pid=7, timeStamp=3_000, smUtil=50),
        FakeProcessUtilizationSample(pid=7, timeStamp=1_000, smUtil=90),  # older: not counted
        FakeProcessUtilizationSample(pid=8, timeStamp=2_000, smUtil=25),  # == last seen
        FakeProcessUtilizationSample(pid=8, timeStamp=4_000, smUtil=10),
        FakeProcessUtilizationSample(pid=7, timeStamp=5_000, smUtil=20),
    ]
    reader, _ = _reader(samples)
    util = reader.utilisation_since(2_000)
    assert util.sm_util_percent == {7: 70.0, 8: 10.0}
    assert util.samples == 3
    assert util.last_seen_us == 5_000
    again = reader.utilisation_since(util.last_seen_us)
    assert again.sm_util_percent == {} and again.samples == 0
    assert again.last_seen_us == 5_000


def test_utilisation_sums_real_samples_per_pid() -> None:
    clock = FakeClock()
    gpu = FakeGPU.volta(sample_period_s=1.0)
    env = fake_environment(clock, gpus=[gpu])
    (sensor,) = discover(["gpu"], env, clock.monotonic()).sensors
    reader = GpuProcessReader.open(env.nvml, sensor.info)
    start = reader.utilisation_since(0)
    assert start.sm_util_percent == {} and start.samples == 0 and start.last_seen_us == 0
    gpu.set_processes({1: 30})
    clock.advance(3.0)
    util = reader.utilisation_since(0)
    assert util.sm_util_percent == {1: 90.0}
    assert util.samples == 3
    assert util.last_seen_us == round(clock.time() * 1e6)


@pytest.mark.parametrize("code", [0, FakeNVML.NVML_ERROR_NOT_FOUND])
def test_no_sample_answers_give_an_empty_reading(code: int) -> None:
    reader, nvml = _reader()
    nvml.error = code
    util = reader.utilisation_since(1234)
    assert util.sm_util_percent == {} and util.samples == 0 and util.last_seen_us == 1234


def test_utilisation_errors_are_raised() -> None:
    reader, nvml = _reader()
    nvml.error = FakeNVML.NVML_ERROR_NOT_SUPPORTED
    with pytest.raises(NvmlUnsupportedError):
        reader.utilisation_since(0)
    nvml.error = FakeNVML.NVML_ERROR_GPU_IS_LOST
    with pytest.raises(SensorError, match="GPU is lost") as info:
        reader.utilisation_since(0)
    assert not isinstance(info.value, NvmlUnsupportedError)


def test_memory_by_pid_sums_contexts_and_keeps_unknown() -> None:
    procs = [
        FakeProcessInfo(pid=7, usedGpuMemory=1_000),
        FakeProcessInfo(pid=7, usedGpuMemory=500),  # a second context of the same process
        FakeProcessInfo(pid=8, usedGpuMemory=None),
        FakeProcessInfo(pid=9, usedGpuMemory=None),
        FakeProcessInfo(pid=9, usedGpuMemory=2_000),
        FakeProcessInfo(pid=10, usedGpuMemory=3),
    ]
    reader, _ = _reader(procs=procs)
    assert reader.memory_by_pid() == {7: 1_500, 8: None, 9: 2_000, 10: 3}


def test_reader_opens_by_nvml_index_when_the_uuid_is_unknown() -> None:
    clock = FakeClock()
    gpus = [FakeGPU.volta(), FakeGPU.volta()]
    nvml = FakeNVML(gpus, clock)
    gpus[1].set_processes({}, memory={42: 4096})
    device = DeviceInfo(
        component="gpu",
        key="gpu:0",
        name="NVIDIA Fake GPU",
        method=METHOD_COUNTER,
        estimated=False,
        index=0,
        uuid=None,
        detail="NVML index 1; total-energy counter deltas (mJ)",
    )
    reader = GpuProcessReader.open(nvml, device)  # the given binding, initialised by open
    assert reader.memory_by_pid() == {42: 4096}
    assert nvml.init_calls == 1
    nameless = attrs.evolve(device, detail="")
    with pytest.raises(SensorError, match="neither a UUID nor an NVML index"):
        GpuProcessReader.open(nvml, nameless)
