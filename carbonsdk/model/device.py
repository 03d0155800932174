"""The measured-device value and the component vocabulary."""

from __future__ import annotations

import attrs

COMPONENTS: tuple[str, ...] = ("gpu", "cpu", "ram")


@attrs.frozen
class DeviceInfo:
    """Static description of one measured device.

    ``key`` is unique within a process (``"gpu:0"``, ``"cpu:package-0"``, ``"ram:host"``);
    ``method`` says how energy is obtained (``"nvml-energy-counter"``, ``"nvml-power-polling"``,
    ``"rapl"``, ``"model-cpu-utilisation"``, ``"model-ram-size"``); ``estimated`` is True for
    models, False for hardware counters and power readings. ``index`` is the GPU index as the
    process sees it (0..n-1 in ``CUDA_VISIBLE_DEVICES`` order; the NVML index is in ``detail``),
    ``detail`` also documents a model's coefficients and source. ``max_power_w``: the
    plausibility bound of a reading (W), None for the sampler's generic bound.
    """

    component: str
    key: str
    name: str
    method: str
    estimated: bool
    index: int | None = None
    uuid: str | None = None
    detail: str = ""
    #: the most this device can draw, W (e.g. 2 x a GPU's power limit); an energy reading
    #: implying more is a glitch. None: the sampler's generic bound
    max_power_w: float | None = None
