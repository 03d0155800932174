"""What every sensor is: a cumulative energy reading for one device of one component.

Counter sensors (NVML total-energy counter, RAPL) report counter deltas; power sensors (NVML
power polling) and models (CPU utilisation, RAM size) integrate power over the time between reads.
Either way the sampler sees one number per device: joules since the sensor was opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from carbonsdk.model.device import DeviceInfo

__all__ = ["EnergySensor"]


class EnergySensor(Protocol):
    """One device's energy. ``read_energy_j(mono_s)`` returns joules consumed since the sensor
    was opened, non-decreasing, given the monotonic time of the read in seconds (power-based
    sensors integrate up to it). It raises :class:`carbonsdk.exceptions.SensorError` when the
    device cannot be read; the sampler then degrades that device."""

    @property
    def info(self) -> DeviceInfo: ...

    def read_energy_j(self, mono_s: float) -> float: ...

    def close(self) -> None: ...
