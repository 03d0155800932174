"""RAPL powercap sensors against a real sysfs-like tree written by FakePowercap."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from carbonsdk.exceptions import SensorError
from carbonsdk.sensors import discover
from carbonsdk.sensors.rapl import (
    RaplSensor,
    RaplZone,
    list_rapl_zones,
    read_sysfs_text,
    scan_rapl,
)
from carbonsdk.testing import FakeClock, FakeHost, FakePowercap, fake_environment


def test_tree_is_sysfs_like(tmp_path: Path) -> None:
    clock = FakeClock()
    FakePowercap(tmp_path, clock, packages=1, psys=True)
    assert (tmp_path / "intel-rapl" / "enabled").read_text() == "1\n"
    assert (tmp_path / "intel-rapl:0" / "name").read_text() == "package-0\n"
    assert (tmp_path / "intel-rapl:0:0" / "name").read_text() == "core\n"
    assert (tmp_path / "intel-rapl:0:1" / "name").read_text() == "dram\n"
    assert (tmp_path / "intel-rapl:1" / "name").read_text() == "psys\n"
    assert (tmp_path / "intel-rapl:0" / "energy_uj").read_text() == "0\n"
    assert int((tmp_path / "intel-rapl:0" / "max_energy_range_uj").read_text()) > 0


def test_package_and_dram_exact_without_counting_core_or_psys(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock, package_power_w=50.0, dram_power_w=5.0, psys=True)
    scan = scan_rapl(tmp_path, clock.monotonic(), read_text=read_sysfs_text)
    assert [s.info.key for s in scan.cpu_sensors] == ["cpu:package-0"]
    assert [s.info.key for s in scan.ram_sensors] == ["ram:package-0"]
    assert scan.cpu_reason is None and scan.ram_reason is None and scan.warnings == ()
    for s in (*scan.cpu_sensors, *scan.ram_sensors):
        assert s.info.method == "rapl"
        assert s.info.estimated is False
    clock.advance(10.0)
    pc.sync()  # the plain reader sees the real files: rewrite them for "now" first
    assert scan.cpu_sensors[0].read_energy_j(clock.monotonic()) == 500.0
    assert scan.ram_sensors[0].read_energy_j(clock.monotonic()) == 50.0


def test_energy_through_hook_is_exact(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock, package_power_w=50.0, dram_power_w=5.0)
    scan = scan_rapl(tmp_path, clock.monotonic(), read_text=pc.read_text)
    (cpu,), (ram,) = scan.cpu_sensors, scan.ram_sensors
    clock.advance(10.0)
    assert cpu.read_energy_j(clock.monotonic()) == 500.0
    assert ram.read_energy_j(clock.monotonic()) == 50.0
    pc.set_power_w(pc.zone_id("package-0"), 120.0)
    clock.advance(2.5)
    assert cpu.read_energy_j(clock.monotonic()) == 800.0


def test_plain_reader_after_sync_reads_the_real_files(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock, package_power_w=40.0)
    scan = scan_rapl(tmp_path, clock.monotonic())  # default reader: plain file reads
    clock.advance(3.0)
    pc.sync()
    assert scan.cpu_sensors[0].read_energy_j(clock.monotonic()) == 120.0


def test_multiple_packages(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock, packages=2, package_power_w=60.0, dram_power_w=4.0)
    pc.set_power_w(pc.zone_id("package-1", 1), 90.0)
    pc.set_power_w(pc.zone_id("dram", 1), 6.0)
    found = discover(["cpu", "ram"], fake_environment(clock, powercap=pc), clock.monotonic())
    keys = [s.info.key for s in found.sensors]
    assert keys == ["cpu:package-0", "cpu:package-1", "ram:package-0", "ram:package-1"]
    clock.advance(10.0)
    energies = [s.read_energy_j(clock.monotonic()) for s in found.sensors]
    assert energies == [600.0, 900.0, 40.0, 60.0]
    assert found.not_measured == {}
    assert found.warnings == ()


def test_wrap_around_many_times_with_frequent_reads(tmp_path: Path) -> None:
    clock = FakeClock()
    max_uj = 100_000_000  # 100 J: wraps every 3.33 s at 30 W
    pc = FakePowercap(tmp_path, clock, package_power_w=30.0, max_energy_range_uj=max_uj)
    (cpu,) = scan_rapl(
        tmp_path, clock.monotonic(), want_ram=False, read_text=pc.read_text
    ).cpu_sensors
    values = []
    for _ in range(20):
        clock.advance(1.0)
        values.append(cpu.read_energy_j(clock.monotonic()))
    assert values[-1] == 600.0
    assert values == sorted(values)
    assert pc.counter_uj(pc.zone_id("package-0")) < max_uj  # the counter did wrap
    assert pc.total_energy_j(pc.zone_id("package-0")) == 600.0


def test_wrap_exactly_at_max(tmp_path: Path) -> None:
    clock = FakeClock()
    max_uj = 262_143_328_850
    pc = FakePowercap(
        tmp_path, clock, package_power_w=5.0, dram=False, start_energy_uj=max_uj - 5_000_000
    )
    zone = pc.zone_id("package-0")
    (cpu,) = scan_rapl(tmp_path, clock.monotonic(), read_text=pc.read_text).cpu_sensors
    clock.advance(1.0)
    assert pc.counter_uj(zone) == max_uj  # the counter shows its maximum, not yet wrapped
    assert cpu.read_energy_j(clock.monotonic()) == 5.0
    clock.advance(1.0)
    assert pc.counter_uj(zone) == 5_000_000 - 1  # wrapped: max + 1 reads as 0
    assert cpu.read_energy_j(clock.monotonic()) == 10.0
    clock.advance(1.0)
    assert cpu.read_energy_j(clock.monotonic()) == 15.0


def test_wrap_from_just_below_max_to_zero(tmp_path: Path) -> None:
    clock = FakeClock()
    max_uj = 1_000_000_000
    pc = FakePowercap(
        tmp_path,
        clock,
        package_power_w=1.0,
        dram=False,
        max_energy_range_uj=max_uj,
        start_energy_uj=max_uj,
    )
    zone = pc.zone_id("package-0")
    (cpu,) = scan_rapl(tmp_path, clock.monotonic(), read_text=pc.read_text).cpu_sensors
    pc.set_energy_uj(zone, max_uj + 1)  # exactly one count past max: the counter reads 0
    assert pc.counter_uj(zone) == 0
    assert cpu.read_energy_j(clock.monotonic()) == 1e-6


def test_two_wraps_between_reads_are_undetectable(tmp_path: Path) -> None:
    """Documented limitation: reading less often than one wrap period loses whole ranges.
    ``min_wrap_period_s`` tells the sampler how often it must read."""
    clock = FakeClock()
    max_uj = 100_000_000
    pc = FakePowercap(
        tmp_path,
        clock,
        package_power_w=30.0,
        dram=False,
        max_energy_range_uj=max_uj,
        power_limit_w=150.0,
    )
    (cpu,) = scan_rapl(tmp_path, clock.monotonic(), read_text=pc.read_text).cpu_sensors
    assert cpu.min_wrap_period_s == pytest.approx(100.0 / 150.0)
    clock.advance(7.0)  # 210 J = two wraps (200 J + 2 uJ of counter steps) + about 10 J
    seen = cpu.read_energy_j(clock.monotonic())
    assert seen == pytest.approx(10.0, abs=1e-5)
    assert pc.total_energy_j(pc.zone_id("package-0")) == 210.0


def test_counter_back_without_range_raises(tmp_path: Path) -> None:
    zone_dir = tmp_path / "intel-rapl:0"
    zone_dir.mkdir()
    (zone_dir / "name").write_text("package-0\n")
    (zone_dir / "energy_uj").write_text("5000\n")
    zones, warnings = list_rapl_zones(tmp_path)
    assert warnings == []
    (zone,) = zones
    assert zone.max_energy_range_uj is None
    sensor = RaplSensor(zone, "cpu", "cpu:package-0", 0.0)
    (zone_dir / "energy_uj").write_text("7000\n")
    assert sensor.read_energy_j(1.0) == pytest.approx(0.002)
    (zone_dir / "energy_uj").write_text("10\n")
    with pytest.raises(SensorError, match="max_energy_range_uj"):
        sensor.read_energy_j(2.0)
    assert sensor.min_wrap_period_s is None


def test_permission_denied_falls_back_to_models_with_warning(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock)
    pc.deny_reads("energy_uj")
    env = fake_environment(clock, powercap=pc, host=FakeHost(cpu_count=2))
    found = discover(["cpu", "ram"], env, clock.monotonic())
    methods = {s.info.component: s.info.method for s in found.sensors}
    assert methods == {"cpu": "model-cpu-utilisation", "ram": "model-ram-size"}
    assert all(s.info.estimated for s in found.sensors)
    assert found.not_measured == {}
    assert len(found.warnings) == 2
    cpu_warning, ram_warning = found.warnings
    assert "RAPL CPU counters unusable" in cpu_warning
    assert "permission denied" in cpu_warning
    assert "root only" in cpu_warning and "5.10" in cpu_warning
    assert "utilisation model" in cpu_warning
    assert "RAPL DRAM" in ram_warning and "memory-size model" in ram_warning


def test_one_unreadable_package_means_no_partial_rapl(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock, packages=2)
    pc.deny_reads("energy_uj", zone_id=pc.zone_id("package-1", 1))
    found = discover(["cpu", "ram"], fake_environment(clock, powercap=pc), clock.monotonic())
    assert [s.info.key for s in found.sensors] == ["cpu:host", "ram:package-0", "ram:package-1"]
    assert len(found.warnings) == 1
    assert "intel-rapl:1" in found.warnings[0]


def test_read_errors_mid_run_raise_sensor_error(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock)
    scan = scan_rapl(tmp_path, clock.monotonic(), read_text=pc.read_text)
    (cpu,), (ram,) = scan.cpu_sensors, scan.ram_sensors
    pc.deny_reads("energy_uj", error=OSError(errno.EIO, "Input/output error"))
    with pytest.raises(SensorError, match=r"cpu:package-0: cannot read .*Input/output error"):
        cpu.read_energy_j(clock.monotonic())
    pc.allow_reads()
    pc.deny_reads("energy_uj")
    with pytest.raises(SensorError, match="ram:package-0: permission denied"):
        ram.read_energy_j(clock.monotonic())
    pc.allow_reads()
    clock.advance(1.0)
    assert cpu.read_energy_j(clock.monotonic()) == 50.0


def test_garbage_counter_falls_back_with_warning(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock, dram=False)

    def reader(path: Path) -> str:
        return "not-a-number\n" if path.name == "energy_uj" else pc.read_text(path)

    scan = scan_rapl(tmp_path, clock.monotonic(), read_text=reader)
    assert scan.cpu_sensors == ()
    assert scan.cpu_reason is not None and "unexpected content" in scan.cpu_reason
    assert scan.ram_reason is not None and "no RAPL dram zone" in scan.ram_reason
    assert len(scan.warnings) == 1


def test_amd_layout_measures_packages_and_models_ram(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap.amd(tmp_path, clock, packages=2, package_power_w=90.0)
    env = fake_environment(
        clock, powercap=pc, host=FakeHost(memory_bytes=8 * 2**30, used_memory_bytes=8 * 2**30)
    )
    found = discover(["cpu", "ram"], env, clock.monotonic())
    assert [(s.info.key, s.info.method) for s in found.sensors] == [
        ("cpu:package-0", "rapl"),
        ("cpu:package-1", "rapl"),
        ("ram:host", "model-ram-size"),
    ]
    assert found.warnings == ()  # no DRAM zone on AMD is normal, not a problem
    clock.advance(2.0)
    assert [s.read_energy_j(clock.monotonic()) for s in found.sensors] == [
        180.0,
        180.0,
        pytest.approx(0.392 * 8 * 2.0),
    ]


def test_no_powercap_root(tmp_path: Path) -> None:
    scan = scan_rapl(tmp_path / "absent", 0.0)
    assert scan.cpu_sensors == () and scan.ram_sensors == ()
    assert scan.cpu_reason == f"no RAPL powercap zones under {tmp_path / 'absent'}"
    assert scan.warnings == ()


def _zone(root: Path, zone_id: str, name: str, energy_uj: int = 0) -> None:
    d = root / zone_id
    d.mkdir()
    (d / "name").write_text(f"{name}\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text("262143328850\n")


def test_multi_die_mmio_and_top_level_dram_naming(tmp_path: Path) -> None:
    _zone(tmp_path, "intel-rapl:0", "package-0-die-0")
    _zone(tmp_path, "intel-rapl:1", "package-0-die-1")
    _zone(tmp_path, "intel-rapl:2", "dram")
    _zone(tmp_path, "intel-rapl-mmio:0", "package-0")  # same counter via MMIO: never counted
    scan = scan_rapl(tmp_path, 0.0)
    assert [s.info.key for s in scan.cpu_sensors] == [
        "cpu:package-0-die-0",
        "cpu:package-0-die-1",
    ]
    assert [s.info.key for s in scan.ram_sensors] == ["ram:intel-rapl:2"]


def test_duplicate_package_names_get_unique_keys(tmp_path: Path) -> None:
    _zone(tmp_path, "intel-rapl:0", "package-0")
    _zone(tmp_path, "intel-rapl:1", "package-0")
    scan = scan_rapl(tmp_path, 0.0, want_ram=False)
    assert [s.info.key for s in scan.cpu_sensors] == ["cpu:package-0", "cpu:package-0@intel-rapl:1"]
    assert scan.ram_reason is None  # not asked for


def test_unreadable_zone_name_is_a_warning(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock, packages=1)
    pc.deny_reads("name", zone_id=pc.zone_id("dram"))
    scan = scan_rapl(tmp_path, clock.monotonic(), read_text=pc.read_text)
    assert [s.info.key for s in scan.cpu_sensors] == ["cpu:package-0"]
    assert scan.ram_sensors == ()
    assert any("intel-rapl:0:1" in w and "name" in w for w in scan.warnings)


def test_sensor_close_and_zone(tmp_path: Path) -> None:
    clock = FakeClock()
    pc = FakePowercap(tmp_path, clock)
    (cpu,) = scan_rapl(
        tmp_path, clock.monotonic(), want_ram=False, read_text=pc.read_text
    ).cpu_sensors
    assert isinstance(cpu.zone, RaplZone)
    assert cpu.zone.zone_id == "intel-rapl:0"
    cpu.close()
    with pytest.raises(SensorError, match="closed"):
        cpu.read_energy_j(clock.monotonic())
