"""NVIDIA GPU energy through NVML: the only module that imports :mod:`pynvml` (nvidia-ml-py),
lazily, inside :func:`load_nvml`.

Two sensors, both measurements (``estimated=False``):

* ``"nvml-energy-counter"``: deltas of ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since
  the driver was loaded; Volta and newer). Exact up to the counter's own resolution; a counter that
  goes back (driver reload, GPU reset) is taken to have restarted from 0.
* ``"nvml-power-polling"``: ``nvmlDeviceGetPowerUsage`` (milliwatts) at each read, integrated by the
  trapezoid rule between reads. Used where the counter is not supported. Its accuracy depends on
  the read interval: NVML's power figure is itself an average over a recent window on many boards.

GPUs are those visible to the process: ``CUDA_VISIBLE_DEVICES`` is resolved the way CUDA does it
(:func:`resolve_visible_gpus`), and ``DeviceInfo.index`` is the process-visible ordinal (what
``torch.device("cuda", i)`` means), with the NVML index in ``detail``.

``nvmlInit`` runs once per process per NVML library object (:func:`ensure_initialised`); after a
``fork`` the child must initialise again, which happens by itself (the pid is checked) and
:func:`reset_after_fork` also resets the lock (registered with :func:`os.register_at_fork`, and
callable by the sampler). Sensors opened in the parent must not be used in the child: discover
again there.

Every NVML failure is translated in one table (:data:`NVML_ERROR_TEXT`) into a
:class:`~carbonsdk.exceptions.SensorError` with a readable reason.

Per-process use of a GPU (for ``measure(attribution="process")``, :class:`GpuProcessReader`):
``nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp)`` returns utilisation samples
(pid, CPU timestamp in microseconds, SM utilisation in percent of the sample period) newer than
``lastSeenTimeStamp``, one per process that had non-zero utilisation in a sample period, and
NVML_ERROR_NOT_FOUND when there is none (NVML API reference, nvmlDeviceGetProcessUtilization);
``nvmlDeviceGetComputeRunningProcesses`` lists the processes holding a compute context with their
used GPU memory in bytes (None where the driver cannot tell, e.g. Windows WDDM). The process ids
are those of the host's PID namespace: the driver does not translate them into a container's
(https://github.com/NVIDIA/nvidia-docker/issues/1483).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from carbonsdk.exceptions import SensorError
from carbonsdk.model.device import DeviceInfo
from carbonsdk.sensors.base import EnergySensor

NVML_ERROR_TEXT: Final[Mapping[str, str]] = {
    "NVML_ERROR_UNINITIALIZED": "NVML is not initialised",
    "NVML_ERROR_INVALID_ARGUMENT": "invalid argument (stale device handle?)",
    "NVML_ERROR_NOT_SUPPORTED": "not supported by this GPU",
    "NVML_ERROR_NO_PERMISSION": "permission denied",
    "NVML_ERROR_ALREADY_INITIALIZED": "NVML already initialised",
    "NVML_ERROR_NOT_FOUND": "not found",
    "NVML_ERROR_INSUFFICIENT_SIZE": "buffer too small",
    "NVML_ERROR_INSUFFICIENT_POWER": "GPU lacks external power (check its power cables)",
    "NVML_ERROR_DRIVER_NOT_LOADED": "the NVIDIA driver is not loaded",
    "NVML_ERROR_TIMEOUT": "the GPU did not answer in time",
    "NVML_ERROR_IRQ_ISSUE": "interrupt problem talking to the GPU",
    "NVML_ERROR_LIBRARY_NOT_FOUND": (
        "the NVML library libnvidia-ml.so.1 was not found (no NVIDIA driver installed)"
    ),
    "NVML_ERROR_FUNCTION_NOT_FOUND": "this NVIDIA driver's NVML lacks the function (old driver)",
    "NVML_ERROR_CORRUPTED_INFOROM": "the GPU's infoROM is corrupted",
    "NVML_ERROR_GPU_IS_LOST": "the GPU is lost (fell off the bus or stopped responding)",
    "NVML_ERROR_RESET_REQUIRED": "the GPU needs a reset",
    "NVML_ERROR_OPERATING_SYSTEM": "the operating system blocked the request",
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": (
        "NVML library and kernel driver versions differ (driver updated without a reboot?)"
    ),
    "NVML_ERROR_IN_USE": "the GPU is in use",
    "NVML_ERROR_MEMORY": "NVML ran out of memory",
    "NVML_ERROR_NO_DATA": "no data available",
    "NVML_ERROR_GPU_NOT_FOUND": "GPU not found",
    "NVML_ERROR_UNKNOWN": "unknown NVML error",
}
"""The one table turning an NVML error code (by its pynvml constant name) into a reason."""

_UNSUPPORTED_ERRORS: Final[frozenset[str]] = frozenset(
    {"NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND"}
)

METHOD_COUNTER: Final[str] = "nvml-energy-counter"
METHOD_POLLING: Final[str] = "nvml-power-polling"

GpuMethod = Literal["auto", "counter", "polling"]


class NvmlUnsupportedError(SensorError):
    """The GPU does not offer this reading (NOT_SUPPORTED, or a function the driver lacks)."""


# -- NVML library, init once per process ------------------------------------------------------

_state_lock = threading.Lock()
_initialised: dict[int, tuple[Any, int]] = {}  # id(lib) -> (lib, pid that ran nvmlInit)


def load_nvml() -> Any:
    """The :mod:`pynvml` module (raises :class:`ImportError` when nvidia-ml-py is missing)."""
    import pynvml

    return pynvml


def ensure_initialised(lib: Any) -> None:
    """Run ``lib.nvmlInit()`` unless this process already did (thread-safe). Raises whatever
    ``nvmlInit`` raises (``lib.NVMLError``)."""
    pid = os.getpid()
    with _state_lock:
        entry = _initialised.get(id(lib))
        if entry is not None and entry[0] is lib and entry[1] == pid:
            return
        lib.nvmlInit()
        _initialised[id(lib)] = (lib, pid)


def reset_after_fork() -> None:
    """Forget NVML initialisation (and replace the lock, which a parent thread may have held at
    fork time) so that the next use in a forked child runs ``nvmlInit`` again."""
    global _state_lock
    _state_lock = threading.Lock()
    _initialised.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset_after_fork)


def nvml_error_name(lib: Any, exc: BaseException) -> str | None:
    """The pynvml constant name (``"NVML_ERROR_GPU_IS_LOST"``) of an NVML error, or None."""
    value = getattr(exc, "value", None)
    if value is None:
        return None
    for name in NVML_ERROR_TEXT:
        if getattr(lib, name, None) == value:
            return name
    return None


def describe_nvml_error(lib: Any, exc: BaseException) -> str:
    """A readable reason for an exception raised by NVML (or by its Python binding)."""
    name = nvml_error_name(lib, exc)
    if name is not None:
        return f"{NVML_ERROR_TEXT[name]} ({name})"
    if isinstance(exc, AttributeError):
        return f"the installed nvidia-ml-py lacks a function ({exc})"
    value = getattr(exc, "value", None)
    if value is not None:
        return f"NVML error {value}: {exc}"
    return f"{type(exc).__name__}: {exc}"


#: what a call into the NVML binding raises besides its own ``NVMLError``: a function the
#: installed nvidia-ml-py lacks (AttributeError), a ctypes/loader failure (OSError), a value
#: it cannot decode (ValueError, TypeError, UnicodeDecodeError)
_BINDING_ERRORS: tuple[type[BaseException], ...] = (
    AttributeError,
    OSError,
    ValueError,
    TypeError,
    UnicodeDecodeError,
)


def vendor_errors(lib: Any) -> tuple[type[BaseException], ...]:
    """The exceptions an NVML call through ``lib`` raises when the driver or device fails: the
    binding's ``NVMLError`` plus :data:`_BINDING_ERRORS`. Anything else is a bug and is left to
    the caller (the sampler degrades the device, never the user's program)."""
    err = getattr(lib, "NVMLError", None)
    if isinstance(err, type) and issubclass(err, BaseException):
        return (err, *_BINDING_ERRORS)
    return _BINDING_ERRORS


def _is_unsupported(lib: Any, exc: BaseException) -> bool:
    return isinstance(exc, AttributeError) or nvml_error_name(lib, exc) in _UNSUPPORTED_ERRORS


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# -- CUDA_VISIBLE_DEVICES ----------------------------------------------------------------------

_LEADING_UINT: Final[re.Pattern[str]] = re.compile(r"^\+?(\d+)")


@attrs.frozen
class VisibleGpus:
    """NVML indices of the GPUs the process sees, in CUDA's order (position = CUDA ordinal),
    and warnings about entries CUDA would ignore."""

    nvml_indices: tuple[int, ...]
    warnings: tuple[str, ...] = ()


def resolve_visible_gpus(value: str | None, uuids: Sequence[str | None]) -> VisibleGpus:
    """Resolve a ``CUDA_VISIBLE_DEVICES`` value against the NVML GPUs (their UUIDs, by NVML
    index), following CUDA's rules:

    * unset (None): every GPU, in NVML order; empty: none;
    * a comma list of indices (parsed like C ``strtoul``: ``"1gpu"`` is 1) or ``GPU-`` UUIDs,
      where a UUID may be abbreviated to any prefix that matches exactly one GPU;
    * the first invalid entry (not a number, an index out of range, an unknown or ambiguous UUID,
      a negative number) ends the list: it and every later entry are ignored;
    * a GPU listed twice makes CUDA see no GPU at all;
    * ``MIG-`` entries end the list too: NVML energy is per whole GPU, so a MIG instance cannot
      be measured without counting its neighbours.
    """
    count = len(uuids)
    if value is None:
        return VisibleGpus(tuple(range(count)))
    if value.strip() == "":
        return VisibleGpus(())
    chosen: list[int] = []
    warnings: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        index: int | None = None
        problem = ""
        if entry.startswith("GPU-"):
            matches = [i for i, u in enumerate(uuids) if u is not None and u.startswith(entry)]
            if len(matches) == 1:
                index = matches[0]
            elif not matches:
                problem = "matches no GPU's UUID"
            else:
                problem = f"is ambiguous (the UUIDs of {len(matches)} GPUs start with it)"
        elif entry.startswith("MIG-"):
            problem = (
                "is a MIG instance (NVML reports energy for whole GPUs only, so MIG instances "
                "are not measured)"
            )
        else:
            m = _LEADING_UINT.match(entry)
            if m is None:
                problem = "is neither a GPU index nor a GPU- UUID"
            elif int(m.group(1)) >= count:
                problem = f"is not a GPU index (NVML sees {count} GPU(s))"
            else:
                index = int(m.group(1))
        if index is None:
            warnings.append(
                f"CUDA_VISIBLE_DEVICES={value!r}: entry {entry!r} {problem}; like CUDA, it and "
                "every later entry are ignored"
            )
            break
        if index in chosen:
            warnings.append(
                f"CUDA_VISIBLE_DEVICES={value!r} lists GPU {index} twice; CUDA then sees no GPU"
            )
            return VisibleGpus((), tuple(warnings))
        chosen.append(index)
    return VisibleGpus(tuple(chosen), tuple(warnings))


# -- sensors -------------------------------------------------------------------------------------


class _NvmlSensor:
    """Shared plumbing: one GPU handle, NVML calls translated into SensorError."""

    def __init__(self, lib: Any, handle: Any, info: DeviceInfo, nvml_index: int) -> None:
        self._lib = lib
        self._handle = handle
        self._info = info
        self._nvml_index = nvml_index
        self._closed = False

    @property
    def info(self) -> DeviceInfo:
        """Static description of the GPU."""
        return self._info

    @property
    def nvml_index(self) -> int:
        """The GPU's NVML index (may differ from ``info.index`` under CUDA_VISIBLE_DEVICES)."""
        return self._nvml_index

    def _call(self, function: str, what: str) -> int:
        if self._closed:
            raise SensorError(f"{self._info.key}: sensor is closed")
        try:
            return int(getattr(self._lib, function)(self._handle))
        except vendor_errors(self._lib) as exc:
            reason = (
                f"{self._info.key} ({self._info.name}, NVML index {self._nvml_index}): "
                f"{what} failed: {describe_nvml_error(self._lib, exc)}"
            )
            if _is_unsupported(self._lib, exc):
                raise NvmlUnsupportedError(reason) from exc
            raise SensorError(reason) from exc

    def close(self) -> None:
        """Release the sensor (idempotent); NVML stays initialised for the process."""
        self._closed = True
        self._handle = None


class NvmlEnergyCounterSensor(_NvmlSensor):
    """Energy from the GPU's total-energy counter (millijoules), method ``"nvml-energy-counter"``.
    The baseline is read at construction (raises :class:`NvmlUnsupportedError` before Volta)."""

    def __init__(self, lib: Any, handle: Any, info: DeviceInfo, nvml_index: int) -> None:
        super().__init__(lib, handle, info, nvml_index)
        self._last_mj = self._call("nvmlDeviceGetTotalEnergyConsumption", "energy counter read")
        self._total_mj = 0

    def read_energy_j(self, mono_s: float) -> float:
        """Joules since the sensor was opened (counter deltas; ``mono_s`` is not needed)."""
        now_mj = self._call("nvmlDeviceGetTotalEnergyConsumption", "energy counter read")
        if now_mj >= self._last_mj:
            self._total_mj += now_mj - self._last_mj
        else:  # the counter restarted (driver reload or GPU reset): it counts up from 0 again
            self._total_mj += now_mj
        self._last_mj = now_mj
        return self._total_mj / 1000.0


class NvmlPowerPollingSensor(_NvmlSensor):
    """Energy from power readings (milliwatts) integrated by the trapezoid rule between reads,
    method ``"nvml-power-polling"``. The first reading is taken at construction, at ``mono_s``."""

    def __init__(
        self, lib: Any, handle: Any, info: DeviceInfo, nvml_index: int, mono_s: float
    ) -> None:
        super().__init__(lib, handle, info, nvml_index)
        self._last_mw = self._call("nvmlDeviceGetPowerUsage", "power read")
        self._last_mono_s = mono_s
        self._energy_j = 0.0

    @property
    def last_power_w(self) -> float:
        """The last power reading, in watts."""
        return self._last_mw / 1000.0

    def read_energy_j(self, mono_s: float) -> float:
        """Joules since the sensor was opened, integrating power up to ``mono_s`` (seconds)."""
        now_mw = self._call("nvmlDeviceGetPowerUsage", "power read")
        elapsed_s = mono_s - self._last_mono_s
        if elapsed_s > 0:
            self._energy_j += (self._last_mw + now_mw) / 2.0 / 1000.0 * elapsed_s
            self._last_mono_s = mono_s
        if elapsed_s >= 0:
            self._last_mw = now_mw
        return self._energy_j


def _gpu_info(
    lib: Any, handle: Any, nvml_index: int, ordinal: int, method: str, uuid: str | None
) -> DeviceInfo:
    try:
        name = _text(lib.nvmlDeviceGetName(handle))
    except vendor_errors(lib) as exc:
        name = f"NVIDIA GPU (name unavailable: {describe_nvml_error(lib, exc)})"
    if uuid is None:
        try:
            uuid = _text(lib.nvmlDeviceGetUUID(handle))
        except vendor_errors(lib):
            uuid = None
    max_power_w: float | None = None
    try:  # transients exceed the limit briefly, never 2x over a whole sampling interval
        limit_mw = lib.nvmlDeviceGetPowerManagementLimit(handle)
        if isinstance(limit_mw, (int, float)) and limit_mw > 0:
            max_power_w = 2.0 * float(limit_mw) / 1000.0
    except vendor_errors(lib):
        max_power_w = None
    how = (
        "total-energy counter deltas (mJ)"
        if method == METHOD_COUNTER
        else "power readings (mW) integrated by the trapezoid rule between reads"
    )
    return DeviceInfo(
        component="gpu",
        key=f"gpu:{ordinal}",
        name=name,
        method=method,
        estimated=False,
        index=ordinal,
        uuid=uuid,
        detail=f"NVML index {nvml_index}; {how}",
        max_power_w=max_power_w,
    )


def open_gpu_sensor(
    lib: Any,
    nvml_index: int,
    ordinal: int,
    mono_s: float,
    *,
    method: GpuMethod = "auto",
    uuid: str | None = None,
) -> EnergySensor:
    """Open one GPU (NVML already initialised): ``method="auto"`` prefers the energy counter and
    falls back to power polling; ``"counter"``/``"polling"`` force one. Raises
    :class:`~carbonsdk.exceptions.SensorError` (:class:`NvmlUnsupportedError` when the GPU offers
    neither reading)."""
    try:
        handle = lib.nvmlDeviceGetHandleByIndex(nvml_index)
    except vendor_errors(lib) as exc:
        raise SensorError(
            f"gpu:{ordinal} (NVML index {nvml_index}): cannot get a handle: "
            f"{describe_nvml_error(lib, exc)}"
        ) from exc
    if method in ("auto", "counter"):
        info = _gpu_info(lib, handle, nvml_index, ordinal, METHOD_COUNTER, uuid)
        try:
            return NvmlEnergyCounterSensor(lib, handle, info, nvml_index)
        except NvmlUnsupportedError:
            if method == "counter":
                raise
    info = _gpu_info(lib, handle, nvml_index, ordinal, METHOD_POLLING, uuid)
    try:
        return NvmlPowerPollingSensor(lib, handle, info, nvml_index, mono_s)
    except NvmlUnsupportedError as exc:
        raise NvmlUnsupportedError(
            f"{info.key} ({info.name}, NVML index {nvml_index}) offers neither an energy counter "
            f"nor power readings ({exc})"
        ) from exc


@attrs.frozen
class GpuScan:
    """Result of :func:`open_gpu_sensors`: the sensors, or the reason no GPU is measured, and
    warnings for the user."""

    sensors: tuple[EnergySensor, ...] = ()
    reason: str | None = None
    warnings: tuple[str, ...] = ()


def open_gpu_sensors(
    nvml: Any | None,
    cuda_visible_devices: str | None,
    mono_s: float,
    *,
    gpus: Sequence[int] | None = None,
) -> GpuScan:
    """Open a sensor for every GPU visible to the process (``gpus``: only these process-visible
    ordinals). ``nvml`` is a pynvml-compatible object, or None to import :mod:`pynvml`.
    Never raises: a missing library, a failed ``nvmlInit`` or no visible GPU gives ``reason``."""
    if nvml is None:
        try:
            lib = load_nvml()
        except ImportError as exc:
            return GpuScan(reason=f"no NVIDIA GPU visible (nvidia-ml-py is not installed: {exc})")
        except Exception as exc:  # noqa: BLE001 - a vendor import raises anything
            return GpuScan(reason=f"no NVIDIA GPU visible (importing pynvml failed: {exc!r})")
    else:
        lib = nvml
    try:
        ensure_initialised(lib)
    except vendor_errors(lib) as exc:
        return GpuScan(reason=f"no NVIDIA GPU visible (NVML: {describe_nvml_error(lib, exc)})")
    try:
        count = int(lib.nvmlDeviceGetCount())
    except vendor_errors(lib) as exc:
        return GpuScan(
            reason=f"no NVIDIA GPU visible (NVML device count: {describe_nvml_error(lib, exc)})"
        )
    if count <= 0:
        return GpuScan(reason="no NVIDIA GPU visible (NVML reports 0 GPUs)")
    warnings: list[str] = []
    uuids: list[str | None] = []
    for i in range(count):
        try:
            uuids.append(_text(lib.nvmlDeviceGetUUID(lib.nvmlDeviceGetHandleByIndex(i))))
        except vendor_errors(lib) as exc:
            uuids.append(None)
            warnings.append(f"NVML GPU {i}: cannot read its UUID: {describe_nvml_error(lib, exc)}")
    visible = resolve_visible_gpus(cuda_visible_devices, uuids)
    warnings.extend(visible.warnings)
    if not visible.nvml_indices:
        if cuda_visible_devices is not None and cuda_visible_devices.strip() == "":
            why = "CUDA_VISIBLE_DEVICES is set to an empty string"
        else:
            why = f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} selects none of them"
        return GpuScan(
            reason=f"no GPU visible to this process ({count} NVIDIA GPU(s) present, but {why})",
            warnings=tuple(warnings),
        )
    ordinals = list(enumerate(visible.nvml_indices))
    if gpus is not None:
        wanted = list(dict.fromkeys(int(g) for g in gpus))
        missing = [g for g in wanted if not 0 <= g < len(ordinals)]
        if missing:
            warnings.append(
                f"gpus={list(gpus)!r}: {missing} not visible to this process (it sees "
                f"{len(ordinals)} GPU(s), indices 0..{len(ordinals) - 1}); ignored"
            )
        ordinals = [ordinals[g] for g in wanted if 0 <= g < len(ordinals)]
        if not ordinals:
            return GpuScan(
                reason=f"none of the requested gpus={list(gpus)!r} is visible to this process",
                warnings=tuple(warnings),
            )
    sensors: list[EnergySensor] = []
    failures: list[str] = []
    for ordinal, nvml_index in ordinals:
        try:
            sensors.append(
                open_gpu_sensor(lib, nvml_index, ordinal, mono_s, uuid=uuids[nvml_index])
            )
        except SensorError as exc:
            failures.append(str(exc))
    if not sensors:
        return GpuScan(
            reason="no NVIDIA GPU could be read: " + "; ".join(failures),
            warnings=tuple(warnings),
        )
    warnings.extend(f"GPU not measured: {f}" for f in failures)
    return GpuScan(sensors=tuple(sensors), warnings=tuple(warnings))


# -- per-process use -----------------------------------------------------------------------------

_NVML_INDEX: Final[re.Pattern[str]] = re.compile(r"NVML index (\d+)")


@attrs.frozen
class GpuUtilisation:
    """Per-process SM utilisation of one GPU over the samples read: ``sm_util_percent`` maps a
    pid to the sum of its samples' SM utilisation (percent of each sample period), ``samples``
    counts them, ``last_seen_us`` is the newest sample's CPU timestamp (microseconds; pass it to
    the next read)."""

    sm_util_percent: Mapping[int, float]
    samples: int
    last_seen_us: int


class GpuProcessReader:
    """Per-process use of one measured GPU (see the module docstring). NVML errors raise
    :class:`~carbonsdk.exceptions.SensorError` (:class:`NvmlUnsupportedError` when the GPU or
    driver does not offer the reading), worded by :data:`NVML_ERROR_TEXT`."""

    def __init__(self, lib: Any, handle: Any, device: DeviceInfo) -> None:
        self._lib = lib
        self._handle = handle
        self._device = device

    @classmethod
    def open(cls, nvml: Any | None, device: DeviceInfo) -> GpuProcessReader:
        """A reader for ``device`` (a GPU found by :func:`open_gpu_sensors`): the handle by the
        GPU's UUID, else by the NVML index in ``device.detail``. ``nvml``: a pynvml-compatible
        object, or None to import :mod:`pynvml`. Raises
        :class:`~carbonsdk.exceptions.SensorError`."""
        if nvml is None:
            try:
                lib = load_nvml()
            except Exception as exc:
                raise SensorError(f"{device.key}: cannot load NVML: {exc!r}") from exc
        else:
            lib = nvml
        try:
            ensure_initialised(lib)
            if device.uuid:
                handle = lib.nvmlDeviceGetHandleByUUID(device.uuid)
            else:
                m = _NVML_INDEX.search(device.detail)
                if m is None:
                    raise SensorError(f"{device.key}: neither a UUID nor an NVML index is known")
                handle = lib.nvmlDeviceGetHandleByIndex(int(m.group(1)))
        except SensorError:
            raise
        except vendor_errors(lib) as exc:
            raise SensorError(
                f"{device.key} ({device.name}): cannot get an NVML handle: "
                f"{describe_nvml_error(lib, exc)}"
            ) from exc
        return cls(lib, handle, device)

    @property
    def device(self) -> DeviceInfo:
        """The GPU read."""
        return self._device

    def _fail(self, what: str, exc: BaseException) -> SensorError:
        reason = (
            f"{self._device.key} ({self._device.name}): {what} failed: "
            f"{describe_nvml_error(self._lib, exc)}"
        )
        if _is_unsupported(self._lib, exc):
            return NvmlUnsupportedError(reason)
        return SensorError(reason)

    def utilisation_since(self, last_seen_us: int) -> GpuUtilisation:
        """SM utilisation samples newer than ``last_seen_us`` (CPU timestamp, microseconds; 0:
        every sample NVML still holds), summed per pid; no samples (NVML_ERROR_NOT_FOUND) gives
        an empty mapping and ``last_seen_us`` unchanged."""
        try:
            samples = self._lib.nvmlDeviceGetProcessUtilization(self._handle, int(last_seen_us))
        except vendor_errors(self._lib) as exc:
            name = nvml_error_name(self._lib, exc)
            if name == "NVML_ERROR_NOT_FOUND" or getattr(exc, "value", None) == 0:
                # NOT_FOUND: no sample since last_seen_us (pynvml raises NVMLError(0) when the
                # first call of the pair already reports 0 samples)
                return GpuUtilisation({}, 0, int(last_seen_us))
            raise self._fail("per-process utilisation read", exc) from exc
        per_pid: dict[int, float] = {}
        newest = int(last_seen_us)
        count = 0
        for sample in samples:
            stamp = int(sample.timeStamp)
            if stamp <= last_seen_us:
                continue
            count += 1
            newest = max(newest, stamp)
            pid = int(sample.pid)
            per_pid[pid] = per_pid.get(pid, 0.0) + float(sample.smUtil)
        return GpuUtilisation(per_pid, count, newest)

    def memory_by_pid(self) -> dict[int, int | None]:
        """Processes holding a compute context on the GPU: pid -> used GPU memory in bytes (None
        where NVML cannot tell)."""
        try:
            procs = self._lib.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except vendor_errors(self._lib) as exc:
            raise self._fail("running-process list", exc) from exc
        out: dict[int, int | None] = {}
        for proc in procs:
            used = getattr(proc, "usedGpuMemory", None)
            pid = int(proc.pid)
            if used is None:
                out.setdefault(pid, None)
            else:
                out[pid] = (out.get(pid) or 0) + int(used)
        return out
