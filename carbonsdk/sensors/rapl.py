"""CPU package and DRAM energy from RAPL counters in the Linux powercap sysfs tree.

Layout (``/sys/class/powercap``, see the kernel's ``Documentation/power/powercap/powercap.rst``):
``intel-rapl:N`` is a top-level zone (``name`` = ``package-N``, or ``package-N-die-M`` on
multi-die parts, or ``psys`` for the whole platform on client chips), ``intel-rapl:N:M`` a
subzone of it (``core``, ``uncore``, ``dram``). Each zone has ``energy_uj`` (a counter in
microjoules) and ``max_energy_range_uj`` (where the counter wraps to 0).

AMD Zen (family 17h and later) exposes its RAPL MSRs through the *same* ``intel-rapl`` powercap
control type (kernel patch "powercap: Add AMD Fam17h RAPL support", Victor Ding, Oct 2020; family
1Ah added in 2024), with a ``package-N`` zone and a ``core`` subzone but no ``dram``. The separate
hwmon ``amd_energy`` driver is not a powercap zone and is not read here.

What is counted, so that nothing is counted twice:

* component ``"cpu"``: one sensor per top-level ``package-*`` zone (key ``cpu:package-N``);
  ``core``/``uncore`` subzones are *inside* the package figure and are never added;
* component ``"ram"``: one sensor per ``dram`` zone (key ``ram:package-N`` for the DRAM of
  package N); DRAM is *not* part of the package figure;
* ``psys`` (platform: package + DRAM + more) is skipped, and so are ``intel-rapl-mmio:*`` zones,
  which on client chips repeat the package counter through another interface.

Wrap-around: a counter that reads lower than the previous value wrapped once, and the delta is
``new + (max_energy_range_uj + 1) - old`` (the counter takes the values 0..max). Two or more wraps
between reads cannot be told from one, so reads must come more often than one wrap period
(``max_energy_range_uj / power``; with the common 2**32 counter of 61 uJ units, about 262 kJ,
that is over 20 minutes at 200 W; with 15.3 uJ units about 65 kJ, about 4.5 minutes at 240 W).
:attr:`RaplSensor.min_wrap_period_s` estimates it from the zone's power limits when available; the
sampler's ``interval_s`` (seconds) is far below it.

Permissions: since Linux 5.10 ``energy_uj`` is readable by root only (kernel commit 949dd0104c49
"powercap: restrict energy meter to root access", the PLATYPUS side channel, CVE-2020-8694).
An unreadable counter is reported as a warning and the caller falls back to the host model.
Tests run as root, so all file reads go through an injectable ``read_text`` callable.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

import attrs

from carbonsdk.exceptions import SensorError
from carbonsdk.model.device import DeviceInfo

ReadText = Callable[[Path], str]
"""Reads one sysfs file and returns its text; raises :class:`OSError` (``PermissionError``...)."""

DEFAULT_POWERCAP_ROOT: Final[Path] = Path("/sys/class/powercap")

_ZONE_RE: Final[re.Pattern[str]] = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


def read_sysfs_text(path: Path) -> str:
    """The default :data:`ReadText`: the file's text (ASCII)."""
    return path.read_text(encoding="ascii")


@attrs.frozen
class RaplZone:
    """One powercap RAPL zone: ``zone_id`` (``"intel-rapl:0:2"``), its ``name`` (``"dram"``),
    the ``package`` name of its top-level zone, and its wrap range in microjoules."""

    path: Path
    zone_id: str
    name: str
    package: str
    top_level: bool
    max_energy_range_uj: int | None
    max_power_uw: int | None


@attrs.frozen
class RaplScan:
    """Result of :func:`scan_rapl`: sensors per component, and for a component without RAPL the
    reason (``cpu_reason`` / ``ram_reason``, None when measured); ``warnings`` are for the user."""

    cpu_sensors: tuple[RaplSensor, ...] = ()
    ram_sensors: tuple[RaplSensor, ...] = ()
    cpu_reason: str | None = None
    ram_reason: str | None = None
    warnings: tuple[str, ...] = ()


def _describe_os_error(path: Path, exc: BaseException) -> str:
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) in (
        errno.EACCES,
        errno.EPERM,
    ):
        return (
            f"permission denied reading {path} (since Linux 5.10 RAPL energy_uj is readable by "
            "root only, CVE-2020-8694)"
        )
    if isinstance(exc, ValueError):
        return f"unexpected content in {path}: {exc}"
    return f"cannot read {path}: {exc}"


class RaplSensor:
    """Energy of one RAPL zone from ``energy_uj`` deltas, with wrap-around (method ``"rapl"``).

    Raises :class:`~carbonsdk.exceptions.SensorError` when the counter cannot be read (at open:
    the baseline read, at ``mono_s``)."""

    def __init__(
        self,
        zone: RaplZone,
        component: str,
        key: str,
        mono_s: float,
        read_text: ReadText = read_sysfs_text,
    ) -> None:
        self._zone = zone
        self._read_text = read_text
        self._energy_file = zone.path / "energy_uj"
        label = "DRAM" if component == "ram" else "CPU"
        wraps = (
            f"wraps after {zone.max_energy_range_uj} uJ"
            if zone.max_energy_range_uj
            else "wrap range unknown"
        )
        self._info = DeviceInfo(
            component=component,
            key=key,
            name=f"{label} RAPL {zone.package}",
            method="rapl",
            estimated=False,
            detail=f"powercap {zone.zone_id} ({zone.path}/energy_uj deltas; {wraps})",
        )
        self._closed = False
        self._last_uj = self._read_uj()
        self._total_uj = 0
        self._last_mono_s = mono_s

    @property
    def info(self) -> DeviceInfo:
        """Static description of the zone."""
        return self._info

    @property
    def zone(self) -> RaplZone:
        """The powercap zone read by this sensor."""
        return self._zone

    @property
    def min_wrap_period_s(self) -> float | None:
        """Seconds the counter takes to wrap at the zone's highest power limit, or None when the
        range or the limits are unknown. Reads must come more often than this."""
        if not self._zone.max_energy_range_uj or not self._zone.max_power_uw:
            return None
        return self._zone.max_energy_range_uj / self._zone.max_power_uw

    def _read_uj(self) -> int:
        try:
            return int(self._read_text(self._energy_file).strip())
        except (OSError, ValueError) as exc:
            raise SensorError(
                f"{self._info.key}: {_describe_os_error(self._energy_file, exc)}"
            ) from exc
        except Exception as exc:  # a read hook may fail in any way: never let it escape
            raise SensorError(
                f"{self._info.key}: cannot read {self._energy_file}: {exc!r}"
            ) from exc

    def read_energy_j(self, mono_s: float) -> float:
        """Joules since the sensor was opened (non-decreasing), from counter deltas."""
        if self._closed:
            raise SensorError(f"{self._info.key}: sensor is closed")
        now_uj = self._read_uj()
        if now_uj >= self._last_uj:
            delta_uj = now_uj - self._last_uj
        elif self._zone.max_energy_range_uj:
            delta_uj = now_uj + (self._zone.max_energy_range_uj + 1) - self._last_uj
        else:
            raise SensorError(
                f"{self._info.key}: energy_uj went back from {self._last_uj} to {now_uj} and "
                f"max_energy_range_uj of {self._zone.path} is unknown: cannot undo the wrap"
            )
        self._total_uj += delta_uj
        self._last_uj = now_uj
        self._last_mono_s = max(self._last_mono_s, mono_s)
        return self._total_uj / 1e6

    def close(self) -> None:
        """Release the sensor (idempotent)."""
        self._closed = True


def _read_int(read_text: ReadText, path: Path) -> int | None:
    try:
        return int(read_text(path).strip())
    except Exception:  # noqa: BLE001 - a sysfs read raises anything: degrade
        return None


def list_rapl_zones(
    root: Path, read_text: ReadText = read_sysfs_text
) -> tuple[list[RaplZone], list[str]]:
    """The RAPL zones under a powercap root (sorted: packages first, by number), and warnings
    about zones whose ``name`` could not be read. An absent root gives no zones."""
    warnings: list[str] = []
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return [], warnings
    parsed: list[tuple[int, int, str, Path]] = []
    for entry in entries:
        m = _ZONE_RE.match(entry)
        if m is None:
            continue
        top = int(m.group(1))
        sub = -1 if m.group(2) is None else int(m.group(2))
        parsed.append((top, sub, entry, root / entry))
    parsed.sort()
    names: dict[int, str] = {}
    zones: list[RaplZone] = []
    for top, sub, zone_id, path in parsed:
        try:
            name = read_text(path / "name").strip()
        except Exception as exc:  # noqa: BLE001 - a sysfs read raises anything: degrade
            warnings.append(f"RAPL zone {zone_id}: {_describe_os_error(path / 'name', exc)}")
            continue
        if sub < 0:
            names[top] = name
        package = names.get(top, f"intel-rapl:{top}")
        limits = [
            _read_int(read_text, path / f"constraint_{i}_power_limit_uw") for i in range(3)
        ] + [_read_int(read_text, path / f"constraint_{i}_max_power_uw") for i in range(3)]
        positive = [v for v in limits if v is not None and v > 0]
        zones.append(
            RaplZone(
                path=path,
                zone_id=zone_id,
                name=name,
                package=package if sub >= 0 else name,
                top_level=sub < 0,
                max_energy_range_uj=_read_int(read_text, path / "max_energy_range_uj") or None,
                max_power_uw=max(positive) if positive else None,
            )
        )
    return zones, warnings


def _open_all(
    zones: list[tuple[RaplZone, str]],
    component: str,
    mono_s: float,
    read_text: ReadText,
) -> tuple[tuple[RaplSensor, ...], str | None]:
    """Open every zone, or none: a component measured on some packages only would be wrong."""
    opened: list[RaplSensor] = []
    for zone, key in zones:
        try:
            opened.append(RaplSensor(zone, component, key, mono_s, read_text))
        except SensorError as exc:
            for sensor in opened:
                sensor.close()
            return (), str(exc)
    return tuple(opened), None


def scan_rapl(
    root: Path,
    mono_s: float,
    *,
    want_cpu: bool = True,
    want_ram: bool = True,
    read_text: ReadText = read_sysfs_text,
) -> RaplScan:
    """Find and open the RAPL package (cpu) and DRAM (ram) zones under ``root``.

    A component is measured by RAPL only when *every* zone of it can be read; otherwise its
    reason is set (and, when the zones exist but cannot be read, a warning says why and that the
    host model is used instead)."""
    zones, warnings = list_rapl_zones(root, read_text)
    if not zones:
        reason = f"no RAPL powercap zones under {root}"
        return RaplScan(cpu_reason=reason, ram_reason=reason, warnings=tuple(warnings))
    used_keys: set[str] = set()

    def unique(key: str, zone: RaplZone) -> str:
        if key in used_keys:
            key = f"{key}@{zone.zone_id}"
        used_keys.add(key)
        return key

    cpu_zones = [
        (z, unique(f"cpu:{z.name}", z))
        for z in zones
        if z.top_level and z.name.startswith("package")
    ]
    ram_zones = [
        (z, unique(f"ram:{z.package if not z.top_level else z.zone_id}", z))
        for z in zones
        if z.name == "dram"
    ]
    cpu_sensors: tuple[RaplSensor, ...] = ()
    ram_sensors: tuple[RaplSensor, ...] = ()
    cpu_reason: str | None = None
    ram_reason: str | None = None
    if want_cpu:
        if not cpu_zones:
            cpu_reason = f"no RAPL package zone under {root}"
        else:
            cpu_sensors, cpu_reason = _open_all(cpu_zones, "cpu", mono_s, read_text)
            if cpu_reason is not None:
                warnings.append(
                    f"RAPL CPU counters unusable ({cpu_reason}); CPU energy is estimated with the "
                    "utilisation model instead. Run as root or make energy_uj readable to measure "
                    "it."
                )
    if want_ram:
        if not ram_zones:
            ram_reason = f"no RAPL dram zone under {root}"
        else:
            ram_sensors, ram_reason = _open_all(ram_zones, "ram", mono_s, read_text)
            if ram_reason is not None:
                warnings.append(
                    f"RAPL DRAM counters unusable ({ram_reason}); RAM energy is estimated with "
                    "the memory-size model instead. Run as root or make energy_uj readable to "
                    "measure it."
                )
    return RaplScan(
        cpu_sensors=cpu_sensors,
        ram_sensors=ram_sensors,
        cpu_reason=cpu_reason,
        ram_reason=ram_reason,
        warnings=tuple(warnings),
    )
