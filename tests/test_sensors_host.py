"""Host models (CCF CPU utilisation, RAM size) and the psutil/cgroup host probe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carbonsdk.exceptions import ConfigurationError, SensorError
from carbonsdk.sensors.host import (
    BYTES_PER_GIB,
    CCF_AWS,
    CCF_AZURE,
    CCF_GCP,
    CCF_RAM_W_PER_GIB,
    CpuPowerCoefficients,
    CpuUtilisationModelSensor,
    PsutilHostProbe,
    RamSizeModelSensor,
    attributed_memory_bytes,
    cpu_model_power_w,
    ram_model_power_w,
)
from carbonsdk.testing import FakeClock, FakeHost

GIB = BYTES_PER_GIB


def test_ccf_published_coefficients() -> None:
    # Cloud Carbon Footprint methodology, Appendix I (per vCPU, watts; memory W/GB).
    assert (CCF_AWS.min_w_per_vcpu, CCF_AWS.max_w_per_vcpu) == (0.74, 3.5)
    assert (CCF_GCP.min_w_per_vcpu, CCF_GCP.max_w_per_vcpu) == (0.71, 4.26)
    assert (CCF_AZURE.min_w_per_vcpu, CCF_AZURE.max_w_per_vcpu) == (0.78, 3.76)
    assert CCF_RAM_W_PER_GIB == 0.392
    assert "cloudcarbonfootprint.org" in CCF_AWS.source


@pytest.mark.parametrize(
    ("n_vcpu", "util", "expected_w"),
    [
        (1, 0.0, 0.74),
        (1, 1.0, 3.5),
        (4, 0.5, 4 * (0.74 + 0.5 * (3.5 - 0.74))),
        (8, 0.25, 8 * (0.74 + 0.25 * 2.76)),
        (2, 1.7, 2 * 3.5),  # clamped
        (2, -0.2, 2 * 0.74),  # clamped
    ],
)
def test_cpu_model_formula(n_vcpu: int, util: float, expected_w: float) -> None:
    assert cpu_model_power_w(n_vcpu, util, CCF_AWS) == pytest.approx(expected_w, rel=1e-12)


def test_ram_model_formula() -> None:
    assert ram_model_power_w(16 * GIB) == pytest.approx(0.392 * 16, rel=1e-12)
    assert ram_model_power_w(GIB // 2, w_per_gib=1.0) == 0.5


def test_cpu_model_sensor_integrates_utilisation_over_time() -> None:
    clock = FakeClock()
    host = FakeHost(cpu_count=4, busy_fraction=0.25, clock=clock)
    sensor = CpuUtilisationModelSensor(host, clock.monotonic())
    info = sensor.info
    assert (info.component, info.key, info.method, info.estimated) == (
        "cpu",
        "cpu:host",
        "model-cpu-utilisation",
        True,
    )
    assert (
        "0.74" in info.detail and "3.5" in info.detail and "Cloud Carbon Footprint" in info.detail
    )
    clock.advance(10.0)
    e1 = sensor.read_energy_j(clock.monotonic())
    assert e1 == pytest.approx(4 * (0.74 + 0.25 * 2.76) * 10.0, rel=1e-12)
    assert sensor.last_utilisation == pytest.approx(0.25)
    host.set_busy(1.0)
    clock.advance(5.0)
    e2 = sensor.read_energy_j(clock.monotonic())
    assert e2 - e1 == pytest.approx(4 * 3.5 * 5.0, rel=1e-12)
    # mixed interval: 2 s idle + 2 s busy = mean utilisation 0.5 (the model is linear: exact)
    host.set_busy(0.0)
    clock.advance(2.0)
    host.set_busy(1.0)
    clock.advance(2.0)
    e3 = sensor.read_energy_j(clock.monotonic())
    assert e3 - e2 == pytest.approx(4 * (0.74 + 0.5 * 2.76) * 4.0, rel=1e-12)
    assert sensor.read_energy_j(clock.monotonic()) == e3  # no time, no energy


def test_cpu_model_custom_coefficients() -> None:
    clock = FakeClock()
    host = FakeHost(cpu_count=2, busy_fraction=0.0, clock=clock)
    coeff = CpuPowerCoefficients(1.0, 5.0, "test")
    sensor = CpuUtilisationModelSensor(host, clock.monotonic(), coeff)
    clock.advance(3.0)
    assert sensor.read_energy_j(clock.monotonic()) == pytest.approx(2 * 1.0 * 3.0)


def test_ram_model_bills_memory_in_use_without_a_cgroup_limit() -> None:
    clock = FakeClock()
    host = FakeHost(memory_bytes=16 * GIB, used_memory_bytes=3 * GIB, clock=clock)
    sensor = RamSizeModelSensor(host, clock.monotonic())
    assert sensor.info.key == "ram:host"
    assert sensor.info.method == "model-ram-size"
    assert sensor.info.estimated is True
    assert sensor.basis == "in-use"
    assert "memory in use" in sensor.info.detail and "16.0 GiB of physical" in sensor.info.detail
    assert sensor.memory_bytes == 3 * GIB
    clock.advance(10.0)
    assert sensor.read_energy_j(clock.monotonic()) == pytest.approx(0.392 * 3 * 10.0)
    # re-read at every read: each interval uses the value read at its start
    host.used_memory_bytes = 5 * GIB
    clock.advance(4.0)
    assert sensor.read_energy_j(clock.monotonic()) == pytest.approx(0.392 * (3 * 10 + 3 * 4))
    clock.advance(2.0)
    assert sensor.read_energy_j(clock.monotonic()) == pytest.approx(0.392 * (3 * 14 + 5 * 2))
    assert sensor.power_w == pytest.approx(0.392 * 5)
    # never more than the physical memory
    over = FakeHost(memory_bytes=4 * GIB, used_memory_bytes=6 * GIB, clock=clock)
    assert RamSizeModelSensor(over, clock.monotonic()).memory_bytes == 4 * GIB


def test_ram_model_bills_the_cgroup_limit_when_one_is_set() -> None:
    clock = FakeClock()
    limited = FakeHost(
        memory_bytes=16 * GIB, memory_limit_bytes=4 * GIB, used_memory_bytes=12 * GIB, clock=clock
    )
    assert attributed_memory_bytes(limited) == 4 * GIB
    sensor = RamSizeModelSensor(limited, clock.monotonic())
    assert sensor.basis == "cgroup-limit"
    assert sensor.memory_bytes == 4 * GIB
    assert sensor.power_w == pytest.approx(0.392 * 4)
    assert "cgroup memory limit" in sensor.info.detail
    limited.used_memory_bytes = GIB  # the limit is constant: memory in use is not read
    clock.advance(10.0)
    assert sensor.read_energy_j(clock.monotonic()) == pytest.approx(0.392 * 4 * 10.0)
    # a v1 "unlimited" limit (a huge number) is no limit: memory in use again
    loose = FakeHost(memory_bytes=16 * GIB, memory_limit_bytes=2**62, clock=clock)
    assert attributed_memory_bytes(loose) == 16 * GIB
    assert RamSizeModelSensor(loose, clock.monotonic()).basis == "in-use"


def test_ram_model_physical_basis_and_fallback() -> None:
    clock = FakeClock()
    host = FakeHost(memory_bytes=16 * GIB, used_memory_bytes=2 * GIB, clock=clock)
    physical = RamSizeModelSensor(host, clock.monotonic(), basis="physical")
    assert physical.basis == "physical" and physical.memory_bytes == 16 * GIB
    assert "(physical memory)" in physical.info.detail
    clock.advance(10.0)
    assert physical.read_energy_j(clock.monotonic()) == pytest.approx(0.392 * 16 * 10.0)
    with pytest.raises(ConfigurationError, match="'provisioned'"):
        RamSizeModelSensor(host, clock.monotonic(), basis="provisioned")
    # a probe that cannot tell the memory in use: physical memory (CCF's basis)
    zero = FakeHost(memory_bytes=16 * GIB, used_memory_bytes=0, clock=clock)
    assert RamSizeModelSensor(zero, clock.monotonic()).basis == "physical"


def test_ram_model_keeps_the_last_reading_when_memory_in_use_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    host = FakeHost(memory_bytes=16 * GIB, used_memory_bytes=2 * GIB, clock=clock)
    sensor = RamSizeModelSensor(host, clock.monotonic())
    host.break_probe()
    for _ in range(3):
        clock.advance(1.0)
        sensor.read_energy_j(clock.monotonic())
    assert sensor.read_energy_j(clock.monotonic()) == pytest.approx(0.392 * 2 * 3.0)
    warnings = [r for r in caplog.records if "memory in use cannot be read" in r.getMessage()]
    assert len(warnings) == 1  # logged once


def test_ram_model_with_real_cgroup_files(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc_self_cgroup"
    _write(proc, "0::/job.scope\n")
    _write(root / "job.scope" / "memory.max", f"{GIB // 2}\n")
    probe = PsutilHostProbe(cgroup_root=root, proc_self_cgroup=proc)
    sensor = RamSizeModelSensor(probe, 0.0)
    assert (sensor.basis, sensor.memory_bytes) == ("cgroup-limit", GIB // 2)
    _write(root / "job.scope" / "memory.max", "max\n")
    unlimited = RamSizeModelSensor(probe, 0.0)  # this host's memory in use, from psutil
    assert unlimited.basis == "in-use"
    assert 0 < unlimited.memory_bytes <= probe.memory_total_bytes()


def test_probe_failures_raise_sensor_error() -> None:
    clock = FakeClock()
    host = FakeHost(clock=clock)
    cpu = CpuUtilisationModelSensor(host, clock.monotonic())
    ram = RamSizeModelSensor(host, clock.monotonic())
    host.break_probe()
    with pytest.raises(SensorError, match="cpu:host: cannot read host CPU times"):
        cpu.read_energy_j(clock.monotonic())
    clock.advance(1.0)
    assert ram.read_energy_j(clock.monotonic()) > 0  # a failed read keeps the last size
    with pytest.raises(SensorError, match="cannot read host CPU"):
        CpuUtilisationModelSensor(host, clock.monotonic())
    with pytest.raises(SensorError, match="cannot read host memory"):
        RamSizeModelSensor(host, clock.monotonic())
    zero = FakeHost(cpu_count=0, clock=clock)
    with pytest.raises(SensorError, match="0 CPUs"):
        CpuUtilisationModelSensor(zero, clock.monotonic())


def test_closed_model_sensors_raise() -> None:
    clock = FakeClock()
    host = FakeHost(clock=clock)
    for sensor in (
        CpuUtilisationModelSensor(host, clock.monotonic()),
        RamSizeModelSensor(host, clock.monotonic()),
    ):
        sensor.close()
        with pytest.raises(SensorError, match="closed"):
            sensor.read_energy_j(clock.monotonic())


def test_psutil_probe_reads_this_host() -> None:
    probe = PsutilHostProbe()
    assert probe.cpu_count() >= 1
    busy_s, total_s = probe.cpu_times_s()
    assert 0.0 <= busy_s <= total_s
    assert probe.memory_total_bytes() > 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limits_take_the_tightest_ancestor(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc_self_cgroup"
    _write(proc, "0::/user.slice/job.scope\n")
    _write(root / "user.slice" / "job.scope" / "memory.max", "max\n")
    _write(root / "user.slice" / "memory.max", f"{3 * GIB}\n")
    _write(root / "memory.max", f"{8 * GIB}\n")
    _write(root / "user.slice" / "job.scope" / "cpu.max", "150000 100000\n")
    _write(root / "user.slice" / "cpu.max", "max 100000\n")
    probe = PsutilHostProbe(cgroup_root=root, proc_self_cgroup=proc)
    assert probe.memory_limit_bytes() == 3 * GIB
    assert probe.cgroup_cpu_quota() == pytest.approx(1.5)
    assert probe.cpu_count() == min(2, _affinity_count())


def test_cgroup_v1_limits(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc_self_cgroup"
    _write(proc, "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    _write(root / "memory" / "docker" / "abc" / "memory.limit_in_bytes", f"{GIB}\n")
    _write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    probe = PsutilHostProbe(cgroup_root=root, proc_self_cgroup=proc)
    assert probe.memory_limit_bytes() == GIB
    assert probe.cgroup_cpu_quota() is None  # -1 = unlimited
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "50000\n")
    assert probe.cgroup_cpu_quota() == pytest.approx(0.5)
    assert probe.cpu_count() == 1  # at least one vCPU


def test_no_cgroup_files_means_no_limits(tmp_path: Path) -> None:
    probe = PsutilHostProbe(cgroup_root=tmp_path / "none", proc_self_cgroup=tmp_path / "none2")
    assert probe.memory_limit_bytes() is None
    assert probe.cgroup_cpu_quota() is None
    assert probe.cpu_count() == _affinity_count()


def _affinity_count() -> int:
    return len(os.sched_getaffinity(0))  # Linux, like the cgroup files above
