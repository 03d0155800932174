"""Fakes at the hardware boundary, shipped so that users can test code that uses carbonsdk.

Nothing here needs pytest, a GPU, RAPL or root. Time is a :class:`FakeClock` that only moves
when told to, and every fake device integrates its power over that clock *exactly*, so a test
can assert energies to the joule::

    clock = FakeClock()
    gpu = FakeGPU.volta(power_w=300.0)
    env = fake_environment(clock, gpus=[gpu], powercap=None)
    found = carbonsdk.sensors.discover(["gpu", "cpu", "ram"], env, clock.monotonic())
    clock.advance(10.0)
    found.sensors[0].read_energy_j(clock.monotonic())   # 3000.0

* :class:`FakeNVML` is a pynvml-compatible object built from :class:`FakeGPU` s.
* :class:`FakePowercap` writes a real sysfs-like RAPL tree under a directory and serves reads of
  it (with wrap-around, and reads that can be denied even when running as root).
* :class:`FakeHost` implements :class:`carbonsdk.sensors.host.HostProbe` and, with a fake process
  tree (:meth:`FakeHost.set_process`, :meth:`FakeHost.spawn`, :meth:`FakeHost.exit_process`),
  :class:`carbonsdk.sensors.host.ProcessProbe`.
* :meth:`FakeGPU.set_processes` gives a fake GPU per-process SM utilisation samples and running
  processes, so that ``measure(attribution="process")`` can be tested too.
* :func:`fake_environment` wires them into a :class:`carbonsdk.sensors.SensorEnvironment`.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Final

import attrs

from carbonsdk.clock import Clock
from carbonsdk.sampler import Sampler, set_sampler
from carbonsdk.sensors import Discovery, SensorEnvironment, discover
from carbonsdk.sensors.host import ProcessCpu
from carbonsdk.sensors.rapl import read_sysfs_text

__all__ = [
    "FakeClock",
    "FakeGPU",
    "FakeHost",
    "FakeNVML",
    "FakeNVMLError",
    "FakePowercap",
    "FakeProcessInfo",
    "FakeProcessUtilizationSample",
    "discover_fn",
    "fake_environment",
    "fake_sampler",
]

GIB: Final[int] = 2**30

NO_POWERCAP_ROOT: Final[Path] = Path("/dev/null/carbonsdk-no-powercap")
"""A powercap root that can never exist (a path below a device file): no RAPL at all."""


class FakeClock:
    """A :class:`carbonsdk.clock.Clock` that moves only on :meth:`advance`: monotonic seconds
    from ``start_mono_s`` and UTC epoch seconds from ``start_epoch_s``, moving together."""

    def __init__(
        self, start_epoch_s: float = 1_700_000_000.0, start_mono_s: float = 1000.0
    ) -> None:
        self._lock = threading.Lock()
        self._epoch_s = float(start_epoch_s)
        self._mono_s = float(start_mono_s)

    def monotonic(self) -> float:
        """Current monotonic time in seconds."""
        with self._lock:
            return self._mono_s

    def time(self) -> float:
        """Current UTC epoch time in seconds."""
        with self._lock:
            return self._epoch_s

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance({seconds!r}): time cannot go back")
        with self._lock:
            self._mono_s += seconds
            self._epoch_s += seconds


# -- NVML ------------------------------------------------------------------------------------

_NVML_ERROR_CODES: Final[dict[str, int]] = {
    # Values from nvml.h (the same as pynvml's NVML_ERROR_* constants).
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_INVALID_ARGUMENT": 2,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_ALREADY_INITIALIZED": 5,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_INSUFFICIENT_SIZE": 7,
    "NVML_ERROR_INSUFFICIENT_POWER": 8,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_TIMEOUT": 10,
    "NVML_ERROR_IRQ_ISSUE": 11,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_CORRUPTED_INFOROM": 14,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_RESET_REQUIRED": 16,
    "NVML_ERROR_OPERATING_SYSTEM": 17,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": 18,
    "NVML_ERROR_IN_USE": 19,
    "NVML_ERROR_MEMORY": 20,
    "NVML_ERROR_NO_DATA": 21,
    "NVML_ERROR_GPU_NOT_FOUND": 28,
    "NVML_ERROR_UNKNOWN": 999,
}


def _error_code(error: str | int) -> int:
    if isinstance(error, int):
        return error
    name = error if error.startswith("NVML_ERROR_") else f"NVML_ERROR_{error}"
    try:
        return _NVML_ERROR_CODES[name]
    except KeyError:
        raise ValueError(
            f"unknown NVML error {error!r}: use one of {', '.join(_NVML_ERROR_CODES)}"
        ) from None


class FakeNVMLError(Exception):
    """The fake's ``NVMLError``: ``value`` is the NVML error code (as in pynvml)."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        for name, code in _NVML_ERROR_CODES.items():
            if code == self.value:
                return name.removeprefix("NVML_ERROR_").replace("_", " ").capitalize()
        return f"NVML error {self.value}"


@attrs.frozen
class FakeProcessUtilizationSample:
    """The fake of pynvml's ``c_nvmlProcessUtilizationSample_t``: ``pid``, ``timeStamp`` (CPU
    timestamp, microseconds), SM / memory / encoder / decoder utilisation in percent."""

    pid: int
    timeStamp: int
    smUtil: int
    memUtil: int = 0
    encUtil: int = 0
    decUtil: int = 0


@attrs.frozen
class FakeProcessInfo:
    """The fake of one entry of ``nvmlDeviceGetComputeRunningProcesses``: ``pid`` and
    ``usedGpuMemory`` (bytes, None when not available)."""

    pid: int
    usedGpuMemory: int | None
    gpuInstanceId: int = 0xFFFFFFFF
    computeInstanceId: int = 0xFFFFFFFF


class FakeGPU:
    """One fake NVIDIA GPU whose power (watts) is piecewise constant over a clock; its energy
    counter (millijoules, rounded) is the exact integral of that power.

    ``energy_counter=False`` makes ``nvmlDeviceGetTotalEnergyConsumption`` raise NOT_SUPPORTED
    (pre-Volta); ``power_readings=False`` does the same for ``nvmlDeviceGetPowerUsage``.
    From ``fail_at_mono_s`` on (or after :meth:`fail`) every call on the GPU raises
    ``fail_with`` (default ``"NVML_ERROR_GPU_IS_LOST"``). The clock is bound by
    :class:`FakeNVML` unless given here.

    Processes (:meth:`set_processes`): per-process SM utilisation, piecewise constant over the
    clock, sampled every ``sample_period_s`` seconds at UTC epoch multiples of it (a sample at
    ``t`` reports the utilisation in force just before ``t``); NVML keeps the last
    ``sample_buffer`` sample times. ``process_utilisation=False`` makes
    ``nvmlDeviceGetProcessUtilization`` raise NOT_SUPPORTED.
    """

    def __init__(
        self,
        *,
        name: str = "NVIDIA Fake GPU",
        uuid: str | None = None,
        power_w: float = 100.0,
        energy_counter: bool = True,
        power_readings: bool = True,
        initial_energy_j: float = 0.0,
        power_limit_w: float = 300.0,
        fail_at_mono_s: float | None = None,
        fail_with: str | int = "NVML_ERROR_GPU_IS_LOST",
        clock: Clock | None = None,
        process_utilisation: bool = True,
        sample_period_s: float = 1.0,
        sample_buffer: int = 100,
    ) -> None:
        if sample_period_s <= 0:
            raise ValueError(f"sample_period_s must be > 0, got {sample_period_s!r}")
        self.name = name
        self.process_utilisation = process_utilisation
        self.sample_period_s = float(sample_period_s)
        self.sample_buffer = int(sample_buffer)
        # (since UTC epoch s, {pid: SM %}, {pid: bytes or None}); the first entry: no process
        self._processes: list[tuple[float, dict[int, float], dict[int, int | None]]] = [
            (-math.inf, {}, {})
        ]
        self.uuid = uuid
        self.energy_counter = energy_counter
        self.power_readings = power_readings
        self.power_limit_w = power_limit_w
        self.fail_at_mono_s = fail_at_mono_s
        self.fail_with = _error_code(fail_with)
        self._failing: int | None = None
        self._hang = threading.Event()
        self._hang.set()
        self._hang_s: float | None = None
        self._counter_offset_mj = 0
        self._lock = threading.Lock()
        self._power_w = float(power_w)
        self._energy_j = float(initial_energy_j)
        self._clock: Clock | None = None
        self._since_mono_s = 0.0
        if clock is not None:
            self.bind(clock)

    @classmethod
    def volta(
        cls, power_w: float = 250.0, *, name: str = "Tesla V100-SXM2-16GB", **kwargs: Any
    ) -> FakeGPU:
        """A GPU with the total-energy counter (Volta and newer)."""
        return cls(power_w=power_w, name=name, energy_counter=True, **kwargs)

    @classmethod
    def pre_volta(
        cls, power_w: float = 150.0, *, name: str = "Tesla P100-PCIE-16GB", **kwargs: Any
    ) -> FakeGPU:
        """A GPU with power readings only: the energy counter raises NOT_SUPPORTED."""
        return cls(power_w=power_w, name=name, energy_counter=False, **kwargs)

    def bind(self, clock: Clock) -> None:
        """Attach the clock the GPU's energy is integrated over (done by :class:`FakeNVML`)."""
        with self._lock:
            if self._clock is None:
                self._clock = clock
                self._since_mono_s = clock.monotonic()

    def _now(self) -> float:
        if self._clock is None:
            raise RuntimeError("FakeGPU has no clock: put it in a FakeNVML or pass clock=")
        return self._clock.monotonic()

    def energy_j(self) -> float:
        """Exact energy in joules consumed up to the clock's current time."""
        with self._lock:
            return self._energy_j + self._power_w * (self._now() - self._since_mono_s)

    @property
    def power_w(self) -> float:
        """The current power in watts."""
        return self._power_w

    def set_power_w(self, power_w: float) -> None:
        """Change the power (watts) from the clock's current time on."""
        if power_w < 0:
            raise ValueError(f"power_w must be >= 0, got {power_w!r}")
        with self._lock:
            if self._clock is not None:
                now = self._now()
                self._energy_j += self._power_w * (now - self._since_mono_s)
                self._since_mono_s = now
            self._power_w = float(power_w)

    def set_processes(
        self,
        sm_util_percent: Mapping[int, float],
        memory: Mapping[int, int | None] | None = None,
    ) -> None:
        """From the clock's current time on, processes ``pid -> SM utilisation`` (percent,
        0..100) run on the GPU, and ``memory`` (``pid -> used GPU memory in bytes``, None for
        "not available") hold a compute context. ``memory`` None: the utilisation's pids hold
        a context, their memory not available. Pids at 0 % produce no samples (as in NVML)."""
        utils = {int(p): float(u) for p, u in sm_util_percent.items()}
        if any(not 0.0 <= u <= 100.0 for u in utils.values()):
            raise ValueError(f"SM utilisation must be in 0..100 percent, got {utils!r}")
        held: dict[int, int | None] = (
            dict.fromkeys(utils)
            if memory is None
            else {int(p): (None if b is None else int(b)) for p, b in memory.items()}
        )
        now = self._epoch_now()
        with self._lock:
            while self._processes and self._processes[-1][0] >= now:
                self._processes.pop()  # replaced at the same instant
            self._processes.append((now, utils, held))
            # keep what the sample buffer can still report
            horizon = now - self.sample_period_s * (self.sample_buffer + 1)
            while len(self._processes) > 1 and self._processes[1][0] <= horizon:
                self._processes.pop(0)

    def _epoch_now(self) -> float:
        if self._clock is None:
            raise RuntimeError("FakeGPU has no clock: put it in a FakeNVML or pass clock=")
        return self._clock.time()

    def utilisation_samples(self, last_seen_us: int) -> list[FakeProcessUtilizationSample]:
        """The samples ``nvmlDeviceGetProcessUtilization`` returns: one per pid with non-zero
        SM utilisation per sample time newer than ``last_seen_us`` (microseconds), up to now."""
        now = self._epoch_now()
        period = self.sample_period_s
        last_k = math.floor(now / period + 1e-9)
        first_k = max(
            math.floor(last_seen_us / 1e6 / period + 1e-9) + 1, last_k - self.sample_buffer + 1
        )
        out: list[FakeProcessUtilizationSample] = []
        with self._lock:
            starts = [entry[0] for entry in self._processes]
            for k in range(first_k, last_k + 1):
                t = k * period
                stamp = round(t * 1e6)
                if stamp <= last_seen_us:
                    continue
                _, utils, _ = self._processes[max(0, bisect.bisect_left(starts, t) - 1)]
                for pid, util in utils.items():
                    if util > 0:
                        out.append(FakeProcessUtilizationSample(pid, stamp, round(util)))
        return out

    def running_processes(self) -> list[FakeProcessInfo]:
        """The processes holding a compute context now, with their used memory (bytes)."""
        with self._lock:
            _, _, held = self._processes[-1]
            return [FakeProcessInfo(pid, used) for pid, used in held.items()]

    def reset_energy_counter(self) -> None:
        """Restart the energy counter from 0 now, as a driver reload or GPU reset does."""
        with self._lock:
            if self._clock is not None:
                self._since_mono_s = self._now()
            self._energy_j = 0.0

    def fail(self, error: str | int = "NVML_ERROR_GPU_IS_LOST") -> None:
        """Make every call on this GPU raise ``error`` from now on."""
        self._failing = _error_code(error)

    def recover(self) -> None:
        """Undo :meth:`fail`, :meth:`hang` and ``fail_at_mono_s``."""
        self._failing = None
        self.fail_at_mono_s = None
        self._hang_s = None
        self._hang.set()

    def hang(self, seconds: float | None = None) -> None:
        """Make every following call on this GPU block (real wall-clock time), as NVML calls do
        when a GPU falls off the bus: ``seconds`` per call, or until :meth:`recover` (None)."""
        self._hang_s = seconds
        self._hang.clear()

    def glitch_counter(self, jump_mj: int = 2**63) -> None:
        """Add ``jump_mj`` millijoules to the energy counter from now on (a misread counter)."""
        self._counter_offset_mj += int(jump_mj)

    def _block(self) -> None:
        if not self._hang.is_set():
            self._hang.wait(self._hang_s)

    def _check(self) -> None:
        self._block()
        if self._failing is not None:
            raise FakeNVMLError(self._failing)
        if self.fail_at_mono_s is not None and self._now() >= self.fail_at_mono_s:
            raise FakeNVMLError(self.fail_with)


class FakeNVML:
    """A pynvml-compatible object over fake GPUs (NVML index = position in ``gpus``).

    ``init_error`` (a name such as ``"NVML_ERROR_DRIVER_NOT_LOADED"`` or a code) makes
    ``nvmlInit`` fail. Device calls before ``nvmlInit`` raise UNINITIALIZED, as NVML does.
    ``init_calls`` counts ``nvmlInit`` calls.
    """

    NVMLError: ClassVar[type[FakeNVMLError]] = FakeNVMLError
    NVML_ERROR_UNINITIALIZED: ClassVar[int] = 1
    NVML_ERROR_INVALID_ARGUMENT: ClassVar[int] = 2
    NVML_ERROR_NOT_SUPPORTED: ClassVar[int] = 3
    NVML_ERROR_NO_PERMISSION: ClassVar[int] = 4
    NVML_ERROR_ALREADY_INITIALIZED: ClassVar[int] = 5
    NVML_ERROR_NOT_FOUND: ClassVar[int] = 6
    NVML_ERROR_INSUFFICIENT_SIZE: ClassVar[int] = 7
    NVML_ERROR_INSUFFICIENT_POWER: ClassVar[int] = 8
    NVML_ERROR_DRIVER_NOT_LOADED: ClassVar[int] = 9
    NVML_ERROR_TIMEOUT: ClassVar[int] = 10
    NVML_ERROR_IRQ_ISSUE: ClassVar[int] = 11
    NVML_ERROR_LIBRARY_NOT_FOUND: ClassVar[int] = 12
    NVML_ERROR_FUNCTION_NOT_FOUND: ClassVar[int] = 13
    NVML_ERROR_CORRUPTED_INFOROM: ClassVar[int] = 14
    NVML_ERROR_GPU_IS_LOST: ClassVar[int] = 15
    NVML_ERROR_RESET_REQUIRED: ClassVar[int] = 16
    NVML_ERROR_OPERATING_SYSTEM: ClassVar[int] = 17
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: ClassVar[int] = 18
    NVML_ERROR_IN_USE: ClassVar[int] = 19
    NVML_ERROR_MEMORY: ClassVar[int] = 20
    NVML_ERROR_NO_DATA: ClassVar[int] = 21
    NVML_ERROR_GPU_NOT_FOUND: ClassVar[int] = 28
    NVML_ERROR_UNKNOWN: ClassVar[int] = 999

    def __init__(
        self,
        gpus: Sequence[FakeGPU] = (),
        clock: Clock | None = None,
        *,
        init_error: str | int | None = None,
        driver_version: str = "550.54.15",
        nvml_version: str = "12.550.54.15",
    ) -> None:
        self.gpus: list[FakeGPU] = list(gpus)
        self.clock = clock if clock is not None else FakeClock()
        for i, gpu in enumerate(self.gpus):
            gpu.bind(self.clock)
            if gpu.uuid is None:
                gpu.uuid = f"GPU-{0x5EED0000 + i:08x}-fa4e-4c0d-8e0f-{i:012x}"
        self.init_error = None if init_error is None else _error_code(init_error)
        self.driver_version = driver_version
        self.nvml_version = nvml_version
        self.init_calls = 0
        self.shutdown_calls = 0
        self._refcount = 0

    # -- library -------------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        """Initialise (reference counted, like NVML)."""
        self.init_calls += 1
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)
        self._refcount += 1

    def nvmlShutdown(self) -> None:
        """Undo one :meth:`nvmlInit`."""
        self._check_init()
        self.shutdown_calls += 1
        self._refcount -= 1

    @property
    def initialised(self) -> bool:
        """True between nvmlInit and the matching nvmlShutdown."""
        return self._refcount > 0

    def _check_init(self) -> None:
        if self._refcount <= 0:
            raise FakeNVMLError(self.NVML_ERROR_UNINITIALIZED)

    def nvmlSystemGetDriverVersion(self) -> str:
        """The fake driver version string."""
        self._check_init()
        return self.driver_version

    def nvmlSystemGetNVMLVersion(self) -> str:
        """The fake NVML version string."""
        self._check_init()
        return self.nvml_version

    # -- devices -------------------------------------------------------------------------------
    def nvmlDeviceGetCount(self) -> int:
        """Number of fake GPUs."""
        self._check_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGPU:
        """The GPU at an NVML index (the handle is the FakeGPU itself)."""
        self._check_init()
        if not 0 <= index < len(self.gpus):
            raise FakeNVMLError(self.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[index]
        gpu._check()
        return gpu

    def _gpu(self, handle: Any) -> FakeGPU:
        self._check_init()
        if not isinstance(handle, FakeGPU) or handle not in self.gpus:
            raise FakeNVMLError(self.NVML_ERROR_INVALID_ARGUMENT)
        handle._check()
        return handle

    def nvmlDeviceGetName(self, handle: Any) -> str:
        """Product name."""
        return self._gpu(handle).name

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        """``GPU-...`` UUID."""
        return str(self._gpu(handle).uuid)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        """Energy since the (fake) driver loaded, in millijoules."""
        gpu = self._gpu(handle)
        if not gpu.energy_counter:
            raise FakeNVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return round(gpu.energy_j() * 1000.0) + gpu._counter_offset_mj

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        """Current power in milliwatts."""
        gpu = self._gpu(handle)
        if not gpu.power_readings:
            raise FakeNVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return round(gpu.power_w * 1000.0)

    def nvmlDeviceGetPowerManagementLimit(self, handle: Any) -> int:
        """Power limit in milliwatts."""
        return round(self._gpu(handle).power_limit_w * 1000.0)

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> FakeGPU:
        """The GPU with this UUID (NOT_FOUND when none has it)."""
        self._check_init()
        wanted = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
        for gpu in self.gpus:
            if gpu.uuid == wanted:
                gpu._check()
                return gpu
        raise FakeNVMLError(self.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetProcessUtilization(
        self, handle: Any, timeStamp: int
    ) -> list[FakeProcessUtilizationSample]:
        """Per-process utilisation samples newer than ``timeStamp`` (microseconds); NOT_FOUND
        when there is none, NOT_SUPPORTED when the GPU has ``process_utilisation=False``."""
        gpu = self._gpu(handle)
        if not gpu.process_utilisation:
            raise FakeNVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        samples = gpu.utilisation_samples(int(timeStamp))
        if not samples:
            raise FakeNVMLError(self.NVML_ERROR_NOT_FOUND)
        return samples

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[FakeProcessInfo]:
        """Processes holding a compute context, with used GPU memory in bytes (or None)."""
        return self._gpu(handle).running_processes()


# -- RAPL powercap -----------------------------------------------------------------------------

TYPICAL_MAX_ENERGY_RANGE_UJ: Final[int] = 262_143_328_850
"""A ``max_energy_range_uj`` seen on Intel servers: (2**32 - 1) counts of 61.035 uJ."""


class _Zone:
    def __init__(
        self,
        path: Path,
        name: str,
        power_w: float,
        start_uj: float,
        max_range_uj: int,
        mono_s: float,
    ) -> None:
        self.path = path
        self.name = name
        self.power_w = power_w
        self.total_uj = start_uj
        self.since_mono_s = mono_s
        self.max_range_uj = max_range_uj


class FakePowercap:
    """A sysfs-like RAPL powercap tree written under ``root`` and driven by ``clock``.

    Zones: ``intel-rapl:N`` named ``package-N`` for each package, with subzones ``core`` and
    (``dram=True``) ``dram``; optionally a top-level ``psys`` zone. Power is piecewise constant
    (watts, :meth:`set_power_w`); ``energy_uj`` is the exact integral, wrapping to 0 after
    ``max_energy_range_uj`` (it takes the values 0..max). :meth:`read_text` (the hook a
    :class:`~carbonsdk.sensors.SensorEnvironment` uses) serves ``energy_uj`` for the clock's
    current time and every other file from disk; :meth:`sync` writes the current ``energy_uj``
    values to disk for plain readers. :meth:`deny_reads` makes reads fail even for root.
    """

    def __init__(
        self,
        root: Path,
        clock: Clock,
        *,
        packages: int = 1,
        package_power_w: float = 50.0,
        dram: bool = True,
        dram_power_w: float = 5.0,
        core: bool = True,
        psys: bool = False,
        psys_power_w: float = 80.0,
        max_energy_range_uj: int = TYPICAL_MAX_ENERGY_RANGE_UJ,
        start_energy_uj: int = 0,
        power_limit_w: float = 150.0,
    ) -> None:
        self.root = Path(root)
        self.clock = clock
        self._lock = threading.Lock()
        self._zones: dict[str, _Zone] = {}
        self._denied: dict[tuple[str | None, str], OSError | None] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        control = self.root / "intel-rapl"
        control.mkdir(exist_ok=True)
        (control / "enabled").write_text("1\n")
        now = clock.monotonic()
        for p in range(packages):
            self._add_zone(
                f"intel-rapl:{p}",
                f"package-{p}",
                package_power_w,
                start_energy_uj,
                max_energy_range_uj,
                now,
                power_limit_w,
            )
            sub = 0
            if core:
                self._add_zone(
                    f"intel-rapl:{p}:{sub}",
                    "core",
                    package_power_w * 0.6,
                    start_energy_uj,
                    max_energy_range_uj,
                    now,
                    None,
                )
                sub += 1
            if dram:
                self._add_zone(
                    f"intel-rapl:{p}:{sub}",
                    "dram",
                    dram_power_w,
                    start_energy_uj,
                    max_energy_range_uj,
                    now,
                    None,
                )
        if psys:
            self._add_zone(
                f"intel-rapl:{packages}",
                "psys",
                psys_power_w,
                start_energy_uj,
                max_energy_range_uj,
                now,
                None,
            )
        self.sync()

    @classmethod
    def amd(
        cls,
        root: Path,
        clock: Clock,
        *,
        packages: int = 1,
        package_power_w: float = 90.0,
        **kwargs: Any,
    ) -> FakePowercap:
        """An AMD Zen layout: ``package-N`` with a ``core`` subzone, no DRAM zone."""
        return cls(
            root,
            clock,
            packages=packages,
            package_power_w=package_power_w,
            dram=False,
            core=True,
            **kwargs,
        )

    def _add_zone(
        self,
        zone_id: str,
        name: str,
        power_w: float,
        start_uj: int,
        max_uj: int,
        now: float,
        limit_w: float | None,
    ) -> None:
        path = self.root / zone_id
        path.mkdir(exist_ok=True)
        (path / "name").write_text(f"{name}\n")
        (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
        (path / "enabled").write_text("1\n")
        if limit_w is not None:
            (path / "constraint_0_name").write_text("long_term\n")
            (path / "constraint_0_power_limit_uw").write_text(f"{round(limit_w * 1e6)}\n")
        self._zones[zone_id] = _Zone(path, name, power_w, float(start_uj), max_uj, now)

    @property
    def zone_ids(self) -> tuple[str, ...]:
        """All zone ids (``"intel-rapl:0"``, ``"intel-rapl:0:1"``, ...)."""
        return tuple(self._zones)

    def zone_id(self, name: str, package: int = 0) -> str:
        """The zone id of ``name`` (``"package-0"``, ``"dram"``, ``"core"``, ``"psys"``) in
        ``package``."""
        for zone_id, zone in self._zones.items():
            if zone.name == name and (name in ("psys",) or zone_id.split(":")[1] == str(package)):
                return zone_id
        raise KeyError(f"no zone {name!r} in package {package}")

    def _advance(self, zone: _Zone) -> None:
        now = self.clock.monotonic()
        zone.total_uj += zone.power_w * 1e6 * (now - zone.since_mono_s)
        zone.since_mono_s = now

    def set_power_w(self, zone_id: str, power_w: float) -> None:
        """Change a zone's power (watts) from the clock's current time on."""
        with self._lock:
            zone = self._zones[zone_id]
            self._advance(zone)
            zone.power_w = float(power_w)

    def set_energy_uj(self, zone_id: str, total_uj: int) -> None:
        """Set a zone's cumulative energy now (the counter shows it modulo the wrap range)."""
        with self._lock:
            zone = self._zones[zone_id]
            self._advance(zone)
            zone.total_uj = float(total_uj)
            self._write(zone)

    def total_energy_j(self, zone_id: str) -> float:
        """Exact cumulative (unwrapped) energy of a zone in joules, now."""
        with self._lock:
            zone = self._zones[zone_id]
            self._advance(zone)
            return zone.total_uj / 1e6

    def counter_uj(self, zone_id: str) -> int:
        """What ``energy_uj`` of the zone reads now."""
        with self._lock:
            zone = self._zones[zone_id]
            self._advance(zone)
            return self._counter(zone)

    @staticmethod
    def _counter(zone: _Zone) -> int:
        return math.floor(zone.total_uj + 1e-6) % (zone.max_range_uj + 1)

    def _write(self, zone: _Zone) -> None:
        (zone.path / "energy_uj").write_text(f"{self._counter(zone)}\n")

    def sync(self) -> None:
        """Rewrite every ``energy_uj`` file for the clock's current time."""
        with self._lock:
            for zone in self._zones.values():
                self._advance(zone)
                self._write(zone)

    def deny_reads(
        self, file_name: str = "energy_uj", zone_id: str | None = None, error: OSError | None = None
    ) -> None:
        """Make reads of ``file_name`` (in ``zone_id``, or in every zone) fail with ``error``
        (default: :class:`PermissionError`, as for non-root users since Linux 5.10)."""
        self._denied[(zone_id, file_name)] = error

    def allow_reads(self) -> None:
        """Undo every :meth:`deny_reads`."""
        self._denied.clear()

    def read_text(self, path: Path) -> str:
        """The :data:`carbonsdk.sensors.rapl.ReadText` hook: applies denied reads, then returns
        ``energy_uj`` for the clock's current time, or the real file's text."""
        path = Path(path)
        zone_id = path.parent.name
        for key in ((zone_id, path.name), (None, path.name)):
            if key in self._denied:
                error = self._denied[key]
                raise (
                    error
                    if error is not None
                    else PermissionError(errno.EACCES, "Permission denied", str(path))
                )
        if (
            path.name == "energy_uj"
            and zone_id in self._zones
            and path.parent == self.root / zone_id
        ):
            with self._lock:  # served from memory (fast); sync() puts the same value on disk
                zone = self._zones[zone_id]
                self._advance(zone)
                return f"{self._counter(zone)}\n"
        return read_sysfs_text(path)


# -- host ----------------------------------------------------------------------------------------


@attrs.define
class _FakeProcess:
    pid: int
    ppid: int
    create_time_s: float
    cpu_rate: float
    pss_bytes: int
    rss_bytes: int
    pss_readable: bool = True
    own_cpu_s: float = 0.0
    reaped_cpu_s: float = 0.0


class FakeHost:
    """A :class:`carbonsdk.sensors.host.HostProbe` with ``cpu_count`` vCPUs busy at
    ``busy_fraction`` (piecewise constant over the clock, :meth:`set_busy`) and
    ``memory_bytes`` of memory (``memory_limit_bytes``: a cgroup limit). :meth:`break_probe`
    makes every method raise :class:`OSError`.

    It is also a :class:`carbonsdk.sensors.host.ProcessProbe` with a fake process tree: this
    process is ``pid`` (default: the real ``os.getpid()``), using ``cpu_rate`` CPUs (CPU seconds
    per second: 1.0 = one vCPU fully busy) and ``pss_bytes`` of memory (:meth:`set_process`);
    descendants come and go with :meth:`spawn` and :meth:`exit_process`. CPU time accrues
    exactly over the clock. The system-wide busy time stays ``busy_fraction`` of all vCPUs: it
    includes the tree, so keep the tree's CPUs at most ``cpu_count * busy_fraction`` (the rest is
    other tenants' load). ``used_memory_bytes``: the host's memory in use (default: half of
    ``memory_bytes``). :meth:`add_foreign_process` makes a pid exist outside the tree (another
    user's process in this PID namespace).
    """

    def __init__(
        self,
        cpu_count: int = 4,
        busy_fraction: float = 0.5,
        memory_bytes: int = 16 * GIB,
        *,
        memory_limit_bytes: int | None = None,
        clock: Clock | None = None,
        pid: int | None = None,
        used_memory_bytes: int | None = None,
    ) -> None:
        self._cpu_count = cpu_count
        self._busy_fraction = float(busy_fraction)
        self.memory_bytes = memory_bytes
        self.limit_bytes = memory_limit_bytes
        self.used_memory_bytes = (
            memory_bytes // 2 if used_memory_bytes is None else int(used_memory_bytes)
        )
        self.pid = os.getpid() if pid is None else int(pid)
        self._procs: dict[int, _FakeProcess] = {
            self.pid: _FakeProcess(self.pid, 1, 1_600_000_000.0, 0.0, 0, 0)
        }
        self._foreign: set[int] = set()
        self._broken: OSError | None = None
        self._lock = threading.Lock()
        self._busy_s = 0.0
        self._total_s = 0.0
        self._clock: Clock | None = None
        self._since_mono_s = 0.0
        if clock is not None:
            self.bind(clock)

    def bind(self, clock: Clock) -> None:
        """Attach the clock CPU time accrues over (done by :func:`fake_environment`)."""
        with self._lock:
            if self._clock is None:
                self._clock = clock
                self._since_mono_s = clock.monotonic()

    def _advance(self) -> None:
        if self._clock is None:
            raise RuntimeError("FakeHost has no clock: pass clock= or use fake_environment()")
        now = self._clock.monotonic()
        elapsed = now - self._since_mono_s
        self._total_s += self._cpu_count * elapsed
        self._busy_s += self._cpu_count * elapsed * self._busy_fraction
        for proc in self._procs.values():
            proc.own_cpu_s += proc.cpu_rate * elapsed
        self._since_mono_s = now

    def set_busy(self, busy_fraction: float) -> None:
        """Change the busy fraction (0..1) from the clock's current time on."""
        with self._lock:
            self._advance()
            self._busy_fraction = float(busy_fraction)

    def break_probe(self, error: OSError | None = None) -> None:
        """Make every probe method raise ``error`` (default: an EIO :class:`OSError`)."""
        self._broken = error if error is not None else OSError(errno.EIO, "fake host probe broken")

    def _check(self) -> None:
        if self._broken is not None:
            raise self._broken

    def cpu_count(self) -> int:
        """vCPUs available to the process."""
        self._check()
        return self._cpu_count

    def cpu_times_s(self) -> tuple[float, float]:
        """Cumulative ``(busy_s, total_s)``."""
        self._check()
        with self._lock:
            self._advance()
            return self._busy_s, self._total_s

    def memory_total_bytes(self) -> int:
        """Physical memory in bytes."""
        self._check()
        return self.memory_bytes

    def memory_limit_bytes(self) -> int | None:
        """The fake cgroup memory limit, or None."""
        self._check()
        return self.limit_bytes

    # -- the fake process tree ----------------------------------------------------------------

    def set_process(
        self,
        pid: int | None = None,
        *,
        cpu_rate: float | None = None,
        pss_bytes: int | None = None,
        rss_bytes: int | None = None,
        pss_readable: bool | None = None,
    ) -> None:
        """Change a process of the tree (default: this one) from the clock's current time on:
        ``cpu_rate`` (CPUs it keeps busy), ``pss_bytes``, ``rss_bytes`` (memory in bytes),
        ``pss_readable`` (False: PSS cannot be read, the probe reports RSS). Arguments left out
        (None) keep their value."""
        with self._lock:
            self._advance()
            proc = self._procs[self.pid if pid is None else pid]
            if cpu_rate is not None:
                proc.cpu_rate = float(cpu_rate)
            if pss_bytes is not None:
                proc.pss_bytes = int(pss_bytes)
            if rss_bytes is not None:
                proc.rss_bytes = int(rss_bytes)
            if pss_readable is not None:
                proc.pss_readable = pss_readable

    def spawn(
        self,
        pid: int,
        *,
        ppid: int | None = None,
        cpu_rate: float = 0.0,
        pss_bytes: int = 0,
        rss_bytes: int = 0,
        pss_readable: bool = True,
    ) -> None:
        """Start process ``pid`` as a child of ``ppid`` (default: this process) now, keeping
        ``cpu_rate`` CPUs busy, with ``pss_bytes`` / ``rss_bytes`` of memory."""
        with self._lock:
            self._advance()
            parent = self.pid if ppid is None else int(ppid)
            if parent not in self._procs:
                raise ValueError(f"no fake process {parent} to be the parent of {pid}")
            if pid in self._procs:
                raise ValueError(f"fake process {pid} already exists")
            now = self._clock.time() if self._clock is not None else 1_600_000_000.0
            self._procs[int(pid)] = _FakeProcess(
                int(pid), parent, now, float(cpu_rate), int(pss_bytes), int(rss_bytes), pss_readable
            )

    def exit_process(self, pid: int, *, reaped: bool = True) -> None:
        """End process ``pid`` now. ``reaped`` (its parent waited for it): its CPU time, own and
        reaped, is added to the parent's reaped time, as Linux does; else it is lost. Its
        children are re-parented to pid 1 (out of the tree)."""
        with self._lock:
            self._advance()
            if pid == self.pid:
                raise ValueError("the fake host's own process cannot exit")
            proc = self._procs.pop(pid)
            parent = self._procs.get(proc.ppid)
            if reaped and parent is not None:
                parent.reaped_cpu_s += proc.own_cpu_s + proc.reaped_cpu_s
            for other in self._procs.values():
                if other.ppid == pid:
                    other.ppid = 1

    def add_foreign_process(self, pid: int) -> None:
        """Make ``pid`` exist in this PID namespace, outside the tree (another user's process)."""
        self._foreign.add(int(pid))

    def process_cpu_s(self, pid: int | None = None) -> float:
        """Exact CPU seconds (own + reaped) of a process of the tree (default: this one) now."""
        with self._lock:
            self._advance()
            proc = self._procs[self.pid if pid is None else pid]
            return proc.own_cpu_s + proc.reaped_cpu_s

    # -- ProcessProbe ---------------------------------------------------------------------------

    def self_pid(self) -> int:
        """This (fake) process's id."""
        self._check()
        return self.pid

    def descendant_pids(self, pid: int) -> list[int]:
        """Every descendant of ``pid`` in the fake tree."""
        self._check()
        with self._lock:
            out: list[int] = []
            frontier = [pid]
            while frontier:
                parent = frontier.pop()
                kids = [p.pid for p in self._procs.values() if p.ppid == parent]
                out.extend(kids)
                frontier.extend(kids)
            return out

    def process_cpu(self, pid: int) -> ProcessCpu | None:
        """CPU time of a process of the fake tree, None when it does not exist."""
        self._check()
        with self._lock:
            self._advance()
            proc = self._procs.get(pid)
            if proc is None:
                return None
            return ProcessCpu(
                pid=proc.pid,
                ppid=proc.ppid,
                create_time_s=proc.create_time_s,
                own_cpu_s=proc.own_cpu_s,
                reaped_cpu_s=proc.reaped_cpu_s,
            )

    def process_memory_bytes(self, pid: int) -> tuple[int, str] | None:
        """``(pss_bytes, "pss")``, or ``(rss_bytes, "rss")`` when PSS is set unreadable."""
        self._check()
        with self._lock:
            proc = self._procs.get(pid)
            if proc is None:
                return None
            if not proc.pss_readable:
                return proc.rss_bytes, "rss"
            return proc.pss_bytes, "pss"

    def memory_used_bytes(self) -> int:
        """The host's memory in use (``used_memory_bytes``)."""
        self._check()
        return self.used_memory_bytes

    def pid_exists(self, pid: int) -> bool:
        """True for the tree's processes and foreign ones (:meth:`add_foreign_process`)."""
        self._check()
        return pid in self._procs or pid in self._foreign


# -- environment -------------------------------------------------------------------------------


def fake_environment(
    clock: Clock,
    *,
    gpus: Sequence[FakeGPU] = (),
    nvml: FakeNVML | None = None,
    powercap: FakePowercap | None = None,
    host: FakeHost | None = None,
    cuda_visible_devices: str | None = None,
) -> SensorEnvironment:
    """A :class:`~carbonsdk.sensors.SensorEnvironment` made only of fakes: ``nvml`` (default: a
    :class:`FakeNVML` of ``gpus``, none meaning a host without GPUs), ``powercap`` (None: no
    RAPL at all), ``host`` (default: ``FakeHost()``, 4 vCPUs at 50 %, 16 GiB), all bound to
    ``clock``. ``cuda_visible_devices`` None means unset (the real environment is not read)."""
    if nvml is not None and gpus:
        raise ValueError("pass either gpus= or nvml=, not both")
    if nvml is None:
        nvml = FakeNVML(gpus, clock)
    if host is None:
        host = FakeHost()
    host.bind(clock)
    return SensorEnvironment(
        nvml=nvml,
        powercap_root=powercap.root if powercap is not None else NO_POWERCAP_ROOT,
        host=host,
        cuda_visible_devices=cuda_visible_devices,
        read_text=powercap.read_text if powercap is not None else read_sysfs_text,
    )


def discover_fn(env: SensorEnvironment) -> Callable[[Sequence[str], float], Discovery]:
    """A ``discover(components, mono_s)`` callable over ``env``: the shape a sampler takes to find
    its sensors (e.g. ``carbonsdk.sampler.Sampler(clock=clock, discover=discover_fn(env))``)."""

    def _discover(components: Sequence[str], mono_s: float) -> Discovery:
        return discover(components, env, mono_s)

    return _discover


@contextlib.contextmanager
def fake_sampler(
    env: SensorEnvironment, clock: Clock, *, threaded: bool = False
) -> Iterator[Sampler]:
    """Install a process-wide sampler over ``env`` and ``clock`` for the duration of the block,
    so that ``carbonsdk.measure()`` in the code under test reads fake hardware. With
    ``threaded=False`` (the default) nothing samples on its own: advance the clock and call
    ``sampler.tick()`` to deliver an interval (seconds of ``clock``)::

        clock = FakeClock()
        with fake_sampler(fake_environment(clock, gpus=[FakeGPU.volta(300.0)]), clock) as s:
            with carbonsdk.measure("t", region="DE", report=False) as run:
                clock.advance(10.0)
                s.tick()
        assert run.result.energy_by_component_kwh["gpu"] == 300.0 * 10 / 3.6e6
    """
    sampler = Sampler(clock=clock, discover=discover_fn(env), threaded=threaded, environment=env)
    previous = set_sampler(sampler)
    try:
        yield sampler
    finally:
        set_sampler(previous)
        sampler.close()
