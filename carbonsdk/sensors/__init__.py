"""Sensors: NVML GPUs, RAPL CPU/DRAM, and labelled host models. See :func:`discover`.

Which sensor measures a component, best first:

* ``"gpu"``: NVML energy counter, else NVML power polling, per GPU visible to the process;
  none -> ``not_measured["gpu"]`` with the reason (never a 0 J sensor).
* ``"cpu"``: RAPL package counters, else the CCF utilisation model (estimated).
* ``"ram"``: RAPL DRAM counters, else the CCF memory-size model (estimated).

Importing this package imports neither :mod:`pynvml` nor :mod:`psutil`; :func:`discover` does,
when it needs them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from carbonsdk.exceptions import ConfigurationError, SensorError
from carbonsdk.model.device import COMPONENTS, DeviceInfo
from carbonsdk.sensors.base import EnergySensor
from carbonsdk.sensors.host import (
    CCF_AWS,
    CCF_RAM_W_PER_GIB,
    CpuPowerCoefficients,
    CpuUtilisationModelSensor,
    HostProbe,
    ProcessProbe,
    RamSizeModelSensor,
    default_host_probe,
)
from carbonsdk.sensors.nvml import open_gpu_sensors, reset_after_fork
from carbonsdk.sensors.rapl import DEFAULT_POWERCAP_ROOT, ReadText, read_sysfs_text, scan_rapl

__all__ = [
    "COMPONENTS",
    "CpuPowerCoefficients",
    "DeviceInfo",
    "Discovery",
    "EnergySensor",
    "HostProbe",
    "ProcessProbe",
    "SensorEnvironment",
    "discover",
    "reset_after_fork",
]


def _env_cuda_visible_devices() -> str | None:
    return os.environ.get("CUDA_VISIBLE_DEVICES")


@attrs.define
class SensorEnvironment:
    """Where sensors come from; every hardware boundary is injectable for tests
    (:func:`carbonsdk.testing.fake_environment`).

    ``nvml``: a pynvml-compatible object, or None to import :mod:`pynvml` when GPUs are asked for.
    ``powercap_root``: the powercap sysfs directory. ``read_text``: reads one sysfs file (the
    hook tests use to deny reads, since they run as root). ``host``: the host probe, None for the
    psutil one; ``measure(attribution="process")`` also reads processes through it when it is a
    :class:`~carbonsdk.sensors.host.ProcessProbe` too (as the psutil one and
    :class:`carbonsdk.testing.FakeHost` are), and shares ``nvml`` for per-process GPU use.
    ``cuda_visible_devices``: the ``CUDA_VISIBLE_DEVICES`` value (read from the
    environment when the object is built). ``cpu_coefficients`` / ``ram_w_per_gib``: the host
    models' coefficients (watts per vCPU, watts per GiB).
    """

    nvml: Any | None = None
    powercap_root: Path = DEFAULT_POWERCAP_ROOT
    host: HostProbe | None = None
    cuda_visible_devices: str | None = attrs.field(factory=_env_cuda_visible_devices)
    read_text: ReadText = read_sysfs_text
    cpu_coefficients: CpuPowerCoefficients = CCF_AWS
    ram_w_per_gib: float = CCF_RAM_W_PER_GIB


@attrs.frozen
class Discovery:
    """The sensors found for the requested components (GPU, then CPU, then RAM), the components
    that have no sensor at all with the reason (``not_measured``), and warnings for the user."""

    sensors: tuple[EnergySensor, ...]
    not_measured: Mapping[str, str]
    warnings: tuple[str, ...]

    def close(self) -> None:
        """Close every sensor (idempotent)."""
        for sensor in self.sensors:
            sensor.close()


def _validate_components(components: Sequence[str]) -> tuple[str, ...]:
    if isinstance(components, str):
        components = (components,)
    wanted: list[str] = []
    for component in components:
        if component not in COMPONENTS:
            raise ConfigurationError(
                f"unknown component {component!r}: accepted are "
                + ", ".join(repr(c) for c in COMPONENTS)
            )
        if component not in wanted:
            wanted.append(component)
    return tuple(wanted)


def discover(
    components: Sequence[str],
    env: SensorEnvironment,
    mono_s: float,
    *,
    gpus: Sequence[int] | None = None,
) -> Discovery:
    """Open sensors for ``components`` (any of ``"gpu"``, ``"cpu"``, ``"ram"``) at monotonic time
    ``mono_s`` (seconds; every sensor's baseline is read now). ``gpus``: only these
    process-visible GPU indices (None: all). Raises
    :class:`~carbonsdk.exceptions.ConfigurationError` for an unknown component; hardware trouble
    never raises, it ends up in ``not_measured`` or ``warnings``."""
    wanted = _validate_components(components)
    gpu_sensors: list[EnergySensor] = []
    cpu_sensors: list[EnergySensor] = []
    ram_sensors: list[EnergySensor] = []
    not_measured: dict[str, str] = {}
    warnings: list[str] = []

    if "gpu" in wanted:
        scan = open_gpu_sensors(env.nvml, env.cuda_visible_devices, mono_s, gpus=gpus)
        gpu_sensors.extend(scan.sensors)
        warnings.extend(scan.warnings)
        if scan.reason is not None:
            not_measured["gpu"] = scan.reason

    want_cpu, want_ram = "cpu" in wanted, "ram" in wanted
    if want_cpu or want_ram:
        rapl = scan_rapl(
            env.powercap_root,
            mono_s,
            want_cpu=want_cpu,
            want_ram=want_ram,
            read_text=env.read_text,
        )
        warnings.extend(rapl.warnings)
        cpu_sensors.extend(rapl.cpu_sensors)
        ram_sensors.extend(rapl.ram_sensors)
        need_cpu_model = want_cpu and not rapl.cpu_sensors
        need_ram_model = want_ram and not rapl.ram_sensors
        if need_cpu_model or need_ram_model:
            probe: HostProbe | None = env.host
            probe_error: str | None = None
            if probe is None:
                try:
                    probe = default_host_probe()
                except Exception as exc:  # noqa: BLE001 - psutil missing or broken
                    probe_error = f"host probe unavailable: {exc!r}"
            if need_cpu_model:
                if probe is None:
                    not_measured["cpu"] = f"no RAPL counters ({rapl.cpu_reason}) and {probe_error}"
                else:
                    try:
                        cpu_sensors.append(
                            CpuUtilisationModelSensor(probe, mono_s, env.cpu_coefficients)
                        )
                    except SensorError as exc:
                        not_measured["cpu"] = f"no RAPL counters ({rapl.cpu_reason}) and {exc}"
            if need_ram_model:
                if probe is None:
                    not_measured["ram"] = f"no RAPL DRAM ({rapl.ram_reason}) and {probe_error}"
                else:
                    try:
                        ram_sensors.append(RamSizeModelSensor(probe, mono_s, env.ram_w_per_gib))
                    except SensorError as exc:
                        not_measured["ram"] = f"no RAPL DRAM ({rapl.ram_reason}) and {exc}"

    return Discovery(
        sensors=(*gpu_sensors, *cpu_sensors, *ram_sensors),
        not_measured=not_measured,
        warnings=tuple(warnings),
    )
