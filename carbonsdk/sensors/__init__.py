"""Sensors: NVML GPUs, RAPL CPU/DRAM, and labelled host models. See :func:`discover`."""

from carbonsdk.sensors.base import COMPONENTS, DeviceInfo, EnergySensor

__all__ = ["COMPONENTS", "DeviceInfo", "EnergySensor"]
