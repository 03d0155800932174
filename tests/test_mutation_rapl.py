"""RAPL zone discovery and counter reading on a hand-written powercap tree (found by mutation
testing, see docs/testing.md): package/sub-zone fields, an unreadable zone among good ones, the
highest power limit, an unchanged counter, and the names users see in reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonsdk.sensors.rapl import RaplSensor, list_rapl_zones, read_sysfs_text

RANGE_UJ = 262_143_328_850  # a typical package max_energy_range_uj


def write_zone(
    root: Path,
    zone_id: str,
    name: str | None,
    *,
    energy_uj: int = 1000,
    limits_uw: tuple[int, ...] = (),
    range_uj: int | None = RANGE_UJ,
) -> Path:
    """One ``intel-rapl:*`` directory as the kernel lays it out."""
    path = root / zone_id
    path.mkdir(parents=True)
    if name is not None:
        (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    if range_uj is not None:
        (path / "max_energy_range_uj").write_text(f"{range_uj}\n")
    for i, limit in enumerate(limits_uw):
        (path / f"constraint_{i}_power_limit_uw").write_text(f"{limit}\n")
    return path


def test_zones_know_their_package_and_level(tmp_path: Path) -> None:
    write_zone(tmp_path, "intel-rapl:0", "package-0")
    write_zone(tmp_path, "intel-rapl:0:0", "core")
    write_zone(tmp_path, "intel-rapl:0:1", "dram")
    zones, warnings = list_rapl_zones(tmp_path)
    assert warnings == []
    by_id = {z.zone_id: z for z in zones}
    assert [z.zone_id for z in zones] == ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1"]
    assert by_id["intel-rapl:0"].top_level and by_id["intel-rapl:0"].package == "package-0"
    for sub in ("intel-rapl:0:0", "intel-rapl:0:1"):
        assert not by_id[sub].top_level
        assert by_id[sub].package == "package-0"


def test_an_unreadable_zone_is_warned_about_and_the_rest_are_listed(tmp_path: Path) -> None:
    write_zone(tmp_path, "intel-rapl:0", None)  # no name file
    write_zone(tmp_path, "intel-rapl:1", "package-1")
    write_zone(tmp_path, "intel-rapl:1:0", "dram")
    zones, warnings = list_rapl_zones(tmp_path)
    assert [z.zone_id for z in zones] == ["intel-rapl:1", "intel-rapl:1:0"]
    assert len(warnings) == 1 and "intel-rapl:0" in warnings[0]


def test_a_permission_error_is_explained(tmp_path: Path) -> None:
    write_zone(tmp_path, "intel-rapl:0", "package-0")

    def denied(path: Path) -> str:
        raise PermissionError("no")  # as a read hook may raise it: without an errno

    zones, warnings = list_rapl_zones(tmp_path, denied)
    assert zones == []
    assert "permission denied" in warnings[0] and "CVE-2020-8694" in warnings[0]


def test_max_power_is_the_highest_positive_limit(tmp_path: Path) -> None:
    write_zone(tmp_path, "intel-rapl:0", "package-0", limits_uw=(15_000_000, 25_000_000, 0))
    write_zone(tmp_path, "intel-rapl:1", "package-1", limits_uw=(0, 0, 0))
    zones, _ = list_rapl_zones(tmp_path)
    assert zones[0].max_power_uw == 25_000_000
    assert zones[1].max_power_uw is None  # all limits 0: unknown, not 0 W


def test_an_unchanged_counter_adds_no_energy(tmp_path: Path) -> None:
    write_zone(tmp_path, "intel-rapl:0", "package-0", energy_uj=5_000_000)
    (zone,), _ = list_rapl_zones(tmp_path)
    sensor = RaplSensor(zone, "cpu", "cpu:package-0", 0.0, read_sysfs_text)
    assert sensor.read_energy_j(1.0) == 0.0
    assert sensor.read_energy_j(2.0) == 0.0
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("7000000\n")
    assert sensor.read_energy_j(3.0) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("component", "name", "range_uj", "label", "wraps"),
    [
        ("cpu", "package-0", RANGE_UJ, "CPU RAPL package-0", f"wraps after {RANGE_UJ} uJ"),
        ("ram", "dram", None, "DRAM RAPL package-0", "wrap range unknown"),
    ],
)
def test_sensor_names_say_what_they_measure(
    tmp_path: Path, component: str, name: str, range_uj: int | None, label: str, wraps: str
) -> None:
    write_zone(tmp_path, "intel-rapl:0", "package-0")
    if name == "dram":
        write_zone(tmp_path, "intel-rapl:0:1", "dram", range_uj=range_uj)
    zones, _ = list_rapl_zones(tmp_path)
    zone = next(z for z in zones if z.name == name)
    sensor = RaplSensor(zone, component, f"{component}:package-0", 0.0, read_sysfs_text)
    assert sensor.info.name == label
    assert wraps in sensor.info.detail
