"""Host models for CPU and RAM energy where no hardware counter can be read, and the host probe.

This is the only module that imports :mod:`psutil` (lazily, inside :class:`PsutilHostProbe`).

Both models are *estimates* (``DeviceInfo.estimated=True``) taken from the Cloud Carbon Footprint
(CCF) methodology, https://www.cloudcarbonfootprint.org/docs/methodology/ (source text:
``microsite/docs/Methodology.md`` in github.com/cloud-carbon-footprint/cloud-carbon-footprint,
sections "Compute", "Memory" and "Appendix I: Energy Coefficients"):

* CPU, method ``"model-cpu-utilisation"``: CCF's compute formula, per vCPU,
  ``Average Watts = Min Watts + Avg vCPU Utilization * (Max Watts - Min Watts)``, so for the
  host ``power_w = n_vcpu * (min_w + util * (max_w - min_w))``. CCF derives min/max watts per vCPU
  from the SPECpower_ssj2008 results for the micro-architectures each cloud uses; when the
  micro-architecture is unknown it uses per-provider figures: AWS average 0.74 / 3.5 W, GCP median
  0.71 / 4.26 W, Azure average 0.78 / 3.76 W. We cannot know the micro-architecture, so the default
  is the AWS average (:data:`CCF_AWS`); the others are available for callers that know the cloud.
* RAM, method ``"model-ram-size"``: CCF's memory coefficient 0.392 W/GB (0.000392 kWh per GB-hour),
  the mean of Crucial's rule of thumb (3 W per 8 GB of DDR3/DDR4, about 0.375 W/GB) and Micron's
  DDR4 power model (about 0.4083 W/GB). DIMM "GB" are binary (an "8 GB" DIMM holds 8 GiB), so the
  coefficient is applied per GiB (2**30 bytes).

Choices documented here:

* ``util`` is the *system-wide* busy fraction between two reads, from cumulative CPU times:
  busy = user + nice + system + irq + softirq (guest time is already inside user/nice); idle,
  iowait and steal (time the hypervisor gave to another VM) are not busy. In a VM this is the
  VM's utilisation, which is what the model wants; in a container on a shared host it includes
  other tenants' load (a known limitation, flagged by ``estimated=True``).
* ``n_vcpu`` is the number of CPUs this process may run on (its affinity mask), further capped by
  a cgroup CPU quota when one is set (``cpu.max`` / ``cpu.cfs_quota_us``, rounded up): a container
  limited to 2 CPUs on a 64-CPU host is billed for 2 vCPUs, not 64.
* The RAM size the model multiplies (:data:`RAM_BASES`, said in the device's ``detail``):

  1. ``"cgroup-limit"``: the tightest cgroup memory limit (v2 ``memory.max``, v1
     ``memory.limit_in_bytes``) when one is set below physical memory: a container's
     allocation, the most its processes can hold, constant over the run.
  2. ``"in-use"`` (no such limit): the host's memory in use (total - available, bytes),
     re-read at every energy read (each interval uses the value read at its start). Free memory
     holds nobody's data, so billing the whole capacity charges a run for memory no process
     holds (a 23.5 GiB host with 1-4 GiB in use: 9.2 W instead of 0.4-1.6 W, 57-86 % of a
     CPU-only run's modelled energy). Like the CPU model's system-wide utilisation, this is the
     whole host's figure (other processes' memory included); ``measure(attribution="process")``
     narrows it to this process tree (share = the tree's PSS / memory in use), so the
     attributed RAM energy is the coefficient times the tree's PSS.
  3. ``"physical"``: the physical memory (CCF's basis: it bills a VM's provisioned memory from
     billing data), when the memory in use cannot be read, or when asked for
     (``RamSizeModelSensor(basis="physical")``, e.g. a VM dedicated to one job).

  Other tools: CCF multiplies provisioned GB by 0.392 W/GB. CodeCarbon (before 3.0) used
  3 W per 8 GB (0.375 W/GB) of the machine's total memory, or of the process's memory with
  ``tracking_mode="process"``; CodeCarbon 3.0 (mlco2/codecarbon#804, 2025) estimates about 5 W
  per DIMM from the total size instead (Crucial's updated advice), because DRAM power follows the
  modules, not the bytes used. No size model is a measurement: RAPL's DRAM domain, where
  present, is used instead (:mod:`carbonsdk.sensors.rapl`).

Process tree (for ``measure(attribution="process")``, see :mod:`carbonsdk.attribution`):
:class:`ProcessProbe` says what the host knows about single processes, :class:`ProcessTreeMeter`
turns it into the CPU seconds and memory of *this process and its descendants*:

* CPU seconds of the tree (cumulative, seconds of CPU time summed over CPUs): for every live
  process of the tree, ``user + system`` of its own threads plus ``children_user +
  children_system`` (the CPU time of its exited descendants that it has waited for, which Linux
  adds to the parent when it reaps a child). So a DataLoader worker that exits and is joined does
  not lose its CPU time: it moves from the worker into its parent's reaped time, and the meter
  subtracts what it had already counted for the worker (a "debt" paid from the parent's reaped
  time, kept at most :data:`REAPED_DEBT_TTL_S` seconds). Lost: a descendant that is re-parented
  out of the tree (its parent exited first) or never waited for stops counting once it leaves
  the tree; a descendant whose readings are denied counts as exited.
* Walking the tree (``Process.children(recursive=True)`` reads every process of the host) costs
  ~20 us per host process, so it is repeated at most at :data:`TREE_SCAN_DUTY` of wall time
  (0.5 %: a 2 ms walk every 0.4 s, a 20 ms walk every 4 s); between walks only the known
  processes are read. A child born between walks is counted in full when found (or, if it
  exited before, through its parent's reaped time): its CPU time lands in a later interval,
  never lost.
* Memory of the tree: the sum of PSS (proportional set size: shared pages split between the
  processes sharing them, so forked workers' copy-on-write pages are not counted once per
  worker), from ``/proc/<pid>/smaps_rollup`` via ``psutil.Process.memory_full_info()``; where
  PSS cannot be read (permissions, non-Linux) the RSS, which counts shared pages in every process
  that maps them (an over-estimate; the meter says which it used). Read at most at
  :data:`MEMORY_READ_DUTY` of wall time (0.1 %: 16 workers' PSS, ~5 ms, every ~5 s), held in
  between.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import attrs

from carbonsdk.exceptions import ConfigurationError, SensorError
from carbonsdk.model.device import DeviceInfo

_log = logging.getLogger(__name__)

BYTES_PER_GIB: Final[int] = 2**30

CCF_METHODOLOGY_URL: Final[str] = "https://www.cloudcarbonfootprint.org/docs/methodology/"


@attrs.frozen
class CpuPowerCoefficients:
    """Per-vCPU power of the CPU utilisation model, in watts: ``min_w_per_vcpu`` at 0 %
    utilisation, ``max_w_per_vcpu`` at 100 %; ``source`` names where the numbers come from."""

    min_w_per_vcpu: float
    max_w_per_vcpu: float
    source: str


CCF_AWS: Final[CpuPowerCoefficients] = CpuPowerCoefficients(
    0.74,
    3.5,
    f"Cloud Carbon Footprint, AWS average of SPECpower micro-architectures, {CCF_METHODOLOGY_URL}",
)
"""CCF Appendix I, AWS: average minimum 0.74 W, average maximum 3.5 W per vCPU (the default)."""

CCF_GCP: Final[CpuPowerCoefficients] = CpuPowerCoefficients(
    0.71,
    4.26,
    f"Cloud Carbon Footprint, GCP median of SPECpower micro-architectures, {CCF_METHODOLOGY_URL}",
)
"""CCF Appendix I, GCP: median minimum 0.71 W, median maximum 4.26 W per vCPU."""

CCF_AZURE: Final[CpuPowerCoefficients] = CpuPowerCoefficients(
    0.78,
    3.76,
    f"Cloud Carbon Footprint, Azure average of SPECpower micro-architectures, "
    f"{CCF_METHODOLOGY_URL}",
)
"""CCF Appendix I, Azure: average minimum 0.78 W, average maximum 3.76 W per vCPU."""

CCF_RAM_W_PER_GIB: Final[float] = 0.392
"""CCF memory coefficient: 0.392 W per GB of memory (0.000392 kWh per GB-hour), applied per GiB."""

RAM_BASES: Final[tuple[str, ...]] = ("auto", "physical")
"""Accepted ``basis`` values of :class:`RamSizeModelSensor`: ``"auto"`` (cgroup limit, else memory
in use, else physical memory; see the module docstring) or ``"physical"`` (CCF's basis)."""


class HostProbe(Protocol):
    """What the host models need to know about the machine (tests use
    :class:`carbonsdk.testing.FakeHost`). Methods may raise any exception when the host cannot be
    read; the models turn that into :class:`~carbonsdk.exceptions.SensorError`."""

    def cpu_count(self) -> int:
        """Number of vCPUs available to this process (affinity, cgroup quota), >= 1."""
        ...

    def cpu_times_s(self) -> tuple[float, float]:
        """System-wide cumulative CPU seconds ``(busy_s, total_s)`` summed over all CPUs."""
        ...

    def memory_total_bytes(self) -> int:
        """Physical memory of the host (or VM), in bytes."""
        ...

    def memory_limit_bytes(self) -> int | None:
        """The cgroup memory limit of this process in bytes, or None when there is none."""
        ...


TREE_SCAN_DUTY: Final[float] = 0.005
"""Largest fraction of wall time spent walking the process tree (0.5 %)."""

MEMORY_READ_DUTY: Final[float] = 0.001
"""Largest fraction of wall time spent reading the tree's memory (0.1 %: PSS costs ~0.3 ms per
process, and memory changes slowly)."""

REAPED_DEBT_TTL_S: Final[float] = 30.0
"""Seconds a vanished descendant's counted CPU time waits to show up in an ancestor's reaped
time before the meter stops expecting it (a descendant lost from the tree never shows up)."""


@attrs.frozen
class ProcessCpu:
    """CPU time of one process: ``own_cpu_s`` (user + system seconds of its threads) and
    ``reaped_cpu_s`` (children_user + children_system: seconds of its exited descendants that it
    waited for), its parent ``ppid`` and ``create_time_s`` (UTC epoch seconds; with ``pid``, the
    process's identity, since ids are reused)."""

    pid: int
    ppid: int
    create_time_s: float
    own_cpu_s: float
    reaped_cpu_s: float


class ProcessProbe(Protocol):
    """What :class:`ProcessTreeMeter` needs to know about single processes (tests use
    :class:`carbonsdk.testing.FakeHost`, the real one is :class:`PsutilHostProbe`). Methods may
    raise any exception when the host cannot be read."""

    def self_pid(self) -> int:
        """This process's id."""
        ...

    def descendant_pids(self, pid: int) -> Sequence[int]:
        """Ids of every descendant (children, grandchildren, ...) of ``pid``."""
        ...

    def process_cpu(self, pid: int) -> ProcessCpu | None:
        """CPU time of ``pid``, None when it no longer exists."""
        ...

    def process_memory_bytes(self, pid: int) -> tuple[int, str] | None:
        """Memory of ``pid`` in bytes with its kind (``"pss"``, or ``"rss"`` where PSS cannot be
        read), None when it no longer exists."""
        ...

    def memory_used_bytes(self) -> int:
        """Memory in use on the host, bytes (total - available)."""
        ...

    def pid_exists(self, pid: int) -> bool:
        """True when process ``pid`` exists in this process's PID namespace."""
        ...

    def cpu_times_s(self) -> tuple[float, float]:
        """System-wide cumulative CPU seconds ``(busy_s, total_s)`` summed over all CPUs."""
        ...


_PROCESS_PROBE_METHODS: Final[tuple[str, ...]] = (
    "self_pid",
    "descendant_pids",
    "process_cpu",
    "process_memory_bytes",
    "memory_used_bytes",
    "pid_exists",
    "cpu_times_s",
)


def is_process_probe(probe: object) -> bool:
    """True when ``probe`` offers every :class:`ProcessProbe` method (a plain :class:`HostProbe`
    need not)."""
    return all(callable(getattr(probe, name, None)) for name in _PROCESS_PROBE_METHODS)


@attrs.frozen
class TreeMemory:
    """Memory of the process tree at one read: ``tree_bytes`` (sum over its processes),
    ``kind`` (``"pss"``, ``"rss"``, or ``"pss+rss"`` when only some processes' PSS could be read),
    ``used_bytes`` (host memory in use) and ``read_at_s`` (the refresh time, UTC epoch s)."""

    tree_bytes: int
    kind: str
    used_bytes: int
    read_at_s: float


@attrs.define
class _Debt:
    ancestor: int
    cpu_s: float
    since_s: float


class ProcessTreeMeter:
    """CPU seconds and memory of this process and its descendants (see the module docstring:
    exited children, walk cadence, PSS; ``duty`` / ``memory_duty``: the largest fraction of
    wall time spent walking the tree / reading its memory; None: :data:`TREE_SCAN_DUTY` /
    :data:`MEMORY_READ_DUTY`). Not thread-safe: one caller at a
    time. Every failure to
    read this process itself raises :class:`~carbonsdk.exceptions.SensorError`; a descendant that
    cannot be read is treated as exited.

    ``now_s`` arguments are the caller's time (UTC epoch seconds): they pace the walks; the cost
    of a walk is measured with :func:`time.perf_counter`.
    """

    def __init__(
        self,
        probe: ProcessProbe,
        now_s: float,
        *,
        duty: float | None = None,
        memory_duty: float | None = None,
    ) -> None:
        try:
            self._root = int(probe.self_pid())
        except Exception as exc:
            raise SensorError(f"cannot read this process's id: {exc!r}") from exc
        self._probe = probe
        self._duty = TREE_SCAN_DUTY if duty is None else duty
        self._memory_duty = MEMORY_READ_DUTY if memory_duty is None else memory_duty
        self._last: dict[int, ProcessCpu] = {}
        self._debts: list[_Debt] = []
        self._cpu_s = 0.0
        self._next_walk_s = -math.inf
        self._memory: TreeMemory | None = None
        self._next_memory_s = -math.inf
        self._read(now_s, baseline=True)

    @property
    def root_pid(self) -> int:
        """The process the tree starts at (the one that opened the meter)."""
        return self._root

    @property
    def pids(self) -> frozenset[int]:
        """Ids of the processes of the tree at the last read."""
        return frozenset(self._last)

    @property
    def cpu_s(self) -> float:
        """CPU seconds the tree used since the meter was opened, as of the last read."""
        return self._cpu_s

    def read_cpu_s(self, now_s: float) -> float:
        """Read the tree now (walking it when due) and return its CPU seconds since the meter
        was opened (cumulative, non-decreasing)."""
        self._read(now_s, baseline=False)
        return self._cpu_s

    def read_memory(self, now_s: float) -> TreeMemory:
        """Memory of the tree's processes (as of the last CPU read) and of the host; re-read at
        most at the duty cycle, else the previous reading."""
        if self._memory is not None and now_s < self._next_memory_s:
            return self._memory
        t0 = time.perf_counter()
        total = 0
        kinds: set[str] = set()
        for pid in list(self._last):
            try:
                found = self._probe.process_memory_bytes(pid)
            except Exception as exc:
                if pid == self._root:
                    raise SensorError(f"cannot read this process's memory: {exc!r}") from exc
                continue
            if found is None:
                if pid == self._root:
                    raise SensorError("this process's memory cannot be read (no such process)")
                continue
            total += int(found[0])
            kinds.add(found[1])
        try:
            used = int(self._probe.memory_used_bytes())
        except Exception as exc:
            raise SensorError(f"cannot read the host's memory in use: {exc!r}") from exc
        kind = "pss" if kinds == {"pss"} else ("pss+rss" if "pss" in kinds else "rss")
        self._memory = TreeMemory(tree_bytes=total, kind=kind, used_bytes=used, read_at_s=now_s)
        self._next_memory_s = now_s + (time.perf_counter() - t0) / self._memory_duty
        return self._memory

    def _read(self, now_s: float, *, baseline: bool) -> None:
        t0 = time.perf_counter()
        probe, root = self._probe, self._root
        walk = now_s >= self._next_walk_s
        if walk:
            try:
                pids = [root, *(int(p) for p in probe.descendant_pids(root) if int(p) != root)]
            except Exception as exc:
                raise SensorError(f"cannot list this process's descendants: {exc!r}") from exc
        else:
            pids = list(self._last)
        previous = self._last
        readings: dict[int, ProcessCpu] = {}
        for pid in pids:
            reading: ProcessCpu | None
            try:
                reading = probe.process_cpu(pid)
            except Exception as exc:
                if pid == root:
                    raise SensorError(f"cannot read this process's CPU times: {exc!r}") from exc
                reading = None  # unreadable descendant: treated as exited
            if reading is None:
                continue
            before = previous.get(pid)
            if not walk and before is not None and before.create_time_s != reading.create_time_s:
                continue  # the id now names an unrelated process
            readings[pid] = reading
        if root not in readings:
            raise SensorError("this process's CPU times cannot be read (no such process)")
        if not baseline:
            self._cpu_s += self._delta_s(previous, readings, now_s)
        self._last = readings
        if walk:
            self._next_walk_s = now_s + (time.perf_counter() - t0) / self._duty

    def _delta_s(
        self, previous: dict[int, ProcessCpu], readings: dict[int, ProcessCpu], now_s: float
    ) -> float:
        """CPU seconds of the tree between two reads: live processes' growth, newcomers in full,
        minus what was already counted for processes that vanished and were reaped by a live
        ancestor (see the module docstring)."""

        def same(a: ProcessCpu, b: ProcessCpu) -> bool:
            return a.create_time_s == b.create_time_s

        delta = 0.0
        budget: dict[int, float] = {}
        for pid, now in readings.items():
            before = previous.get(pid)
            if before is None or not same(before, now):
                delta += now.own_cpu_s + now.reaped_cpu_s
                continue
            reaped = max(0.0, now.reaped_cpu_s - before.reaped_cpu_s)
            delta += max(0.0, now.own_cpu_s - before.own_cpu_s) + reaped
            budget[pid] = reaped

        def alive_ancestor(pid: int) -> int | None:
            seen: set[int] = set()
            while pid not in seen:
                seen.add(pid)
                if pid in readings and pid in previous and same(previous[pid], readings[pid]):
                    return pid
                earlier = previous.get(pid)
                if earlier is None:
                    return None
                pid = earlier.ppid
            return None

        for pid, gone in previous.items():
            still = readings.get(pid)
            if still is not None and same(gone, still):
                continue
            ancestor = alive_ancestor(gone.ppid)
            if ancestor is not None:
                self._debts.append(_Debt(ancestor, gone.own_cpu_s + gone.reaped_cpu_s, now_s))
        kept: list[_Debt] = []
        for debt in self._debts:
            ancestor = alive_ancestor(debt.ancestor)
            if ancestor is None or now_s - debt.since_s > REAPED_DEBT_TTL_S:
                continue
            debt.ancestor = ancestor
            pay = min(debt.cpu_s, budget.get(ancestor, 0.0))
            if pay > 0:
                budget[ancestor] -= pay
                debt.cpu_s -= pay
                delta -= pay
            if debt.cpu_s > 1e-9:
                kept.append(debt)
        self._debts = kept[-1024:]
        return max(0.0, delta)


def cpu_model_power_w(n_vcpu: int, util: float, coefficients: CpuPowerCoefficients) -> float:
    """CCF CPU model power in watts: ``n_vcpu * (min_w + util * (max_w - min_w))``, with
    ``util`` (0..1, clamped) the busy fraction."""
    util = min(1.0, max(0.0, util))
    per_vcpu_w = coefficients.min_w_per_vcpu + util * (
        coefficients.max_w_per_vcpu - coefficients.min_w_per_vcpu
    )
    return n_vcpu * per_vcpu_w


def ram_model_power_w(memory_bytes: int, w_per_gib: float = CCF_RAM_W_PER_GIB) -> float:
    """CCF RAM model power in watts: ``w_per_gib`` times the memory size in GiB."""
    return w_per_gib * memory_bytes / BYTES_PER_GIB


def attributed_memory_bytes(probe: HostProbe) -> int:
    """The memory size the RAM model bills, in bytes: physical memory, or the cgroup limit when
    it is set and smaller (see the module docstring for why)."""
    total = int(probe.memory_total_bytes())
    limit = probe.memory_limit_bytes()
    if limit is not None and 0 < limit < total:
        return int(limit)
    return total


class CpuUtilisationModelSensor:
    """CPU energy from the CCF utilisation model (``"model-cpu-utilisation"``, estimated).

    Between two reads the energy is ``power_w(mean utilisation) * elapsed_s``; the model is linear
    in utilisation, so using the interval's mean utilisation is exact for the model.
    """

    def __init__(
        self,
        probe: HostProbe,
        mono_s: float,
        coefficients: CpuPowerCoefficients = CCF_AWS,
    ) -> None:
        try:
            self._n_vcpu = int(probe.cpu_count())
            busy_s, total_s = probe.cpu_times_s()
        except Exception as exc:
            raise SensorError(f"cannot read host CPU count/times: {exc!r}") from exc
        if self._n_vcpu < 1:
            raise SensorError(f"host probe reports {self._n_vcpu} CPUs available (need >= 1)")
        self._probe = probe
        self._coefficients = coefficients
        # cpu_model_power_w's terms, computed once (the per-read arithmetic is the same)
        self._min_w = coefficients.min_w_per_vcpu
        self._span_w = coefficients.max_w_per_vcpu - coefficients.min_w_per_vcpu
        self._last_busy_s = float(busy_s)
        self._last_total_s = float(total_s)
        self._last_mono_s = mono_s
        self._last_util = 0.0
        self._energy_j = 0.0
        self._closed = False
        c = coefficients
        self._info = DeviceInfo(
            component="cpu",
            key="cpu:host",
            name=f"{self._n_vcpu} vCPU (utilisation model)",
            method="model-cpu-utilisation",
            estimated=True,
            detail=(
                f"power_w = {self._n_vcpu} vCPU x ({c.min_w_per_vcpu} + util x "
                f"({c.max_w_per_vcpu} - {c.min_w_per_vcpu})) W, util = system-wide busy "
                f"fraction; {c.source}"
            ),
        )

    @property
    def info(self) -> DeviceInfo:
        """Static description of the modelled CPU."""
        return self._info

    @property
    def last_utilisation(self) -> float:
        """Busy fraction (0..1) of the last interval read."""
        return self._last_util

    def read_energy_j(self, mono_s: float) -> float:
        """Joules since the sensor was opened, integrating the model up to ``mono_s``."""
        if self._closed:
            raise SensorError(f"{self._info.key}: sensor is closed")
        try:
            busy_s, total_s = self._probe.cpu_times_s()
        except Exception as exc:
            raise SensorError(f"{self._info.key}: cannot read host CPU times: {exc!r}") from exc
        busy = float(busy_s)
        total = float(total_s)
        d_total = total - self._last_total_s
        if d_total > 0:
            # min(1.0, max(0.0, util)), without the calls (read once per sample)
            util = (busy - self._last_busy_s) / d_total
            util = util if util > 0.0 else 0.0
            self._last_util = util if util < 1.0 else 1.0
        # else: no CPU time elapsed (reads too close together): keep the last utilisation.
        elapsed_s = mono_s - self._last_mono_s
        if elapsed_s > 0:
            # cpu_model_power_w(n_vcpu, util, coefficients), inlined: util is already in 0..1
            power_w = self._n_vcpu * (self._min_w + self._last_util * self._span_w)
            self._energy_j += power_w * elapsed_s
            self._last_mono_s = mono_s
        self._last_busy_s = busy
        self._last_total_s = total
        return self._energy_j

    def close(self) -> None:
        """Release the sensor (idempotent)."""
        self._closed = True


class RamSizeModelSensor:
    """RAM energy from the CCF size model (``"model-ram-size"``, estimated): power
    ``w_per_gib * GiB`` integrated over time, where the GiB are the cgroup memory limit, else the
    host's memory in use (re-read at each energy read), else the physical memory (``basis``:
    ``"auto"``, the default, or ``"physical"``; see the module docstring for why)."""

    def __init__(
        self,
        probe: HostProbe,
        mono_s: float,
        w_per_gib: float = CCF_RAM_W_PER_GIB,
        *,
        basis: str = "auto",
    ) -> None:
        if basis not in RAM_BASES:
            raise ConfigurationError(
                f"RAM model basis {basis!r} is invalid: expected one of {', '.join(RAM_BASES)}"
            )
        try:
            total = int(probe.memory_total_bytes())
            memory_bytes = attributed_memory_bytes(probe) if basis == "auto" else total
        except Exception as exc:
            raise SensorError(f"cannot read host memory size: {exc!r}") from exc
        if memory_bytes <= 0 or total <= 0:
            raise SensorError(f"host probe reports {min(memory_bytes, total)} bytes of memory")
        self._probe = probe
        self._w_per_gib = w_per_gib
        self._in_use: Any = None  # the probe's memory_used_bytes, when the basis is "in-use"
        if basis == "auto" and memory_bytes >= total:
            reader = getattr(probe, "memory_used_bytes", None)
            used = _try_used_bytes(reader, total)
            if used is not None:
                self._in_use = reader
                memory_bytes = used
        self._basis = (
            "in-use"
            if self._in_use is not None
            else ("cgroup-limit" if memory_bytes < total else "physical")
        )
        self._memory_bytes = memory_bytes
        self._power_w = ram_model_power_w(memory_bytes, w_per_gib)
        self._last_mono_s = mono_s
        self._energy_j = 0.0
        self._closed = False
        self._read_failed = False
        gib = memory_bytes / BYTES_PER_GIB
        total_gib = total / BYTES_PER_GIB
        source = f"Cloud Carbon Footprint memory coefficient, {CCF_METHODOLOGY_URL}"
        if self._basis == "in-use":
            detail = (
                f"power_w = {w_per_gib} W/GiB x memory in use on the host (total - available, "
                f"re-read every sample; {gib:.3f} GiB at start = {self._power_w:.3f} W; no "
                f"cgroup memory limit; the {total_gib:.1f} GiB of physical memory are not "
                f"billed); {source}"
            )
        else:
            what = "cgroup memory limit" if self._basis == "cgroup-limit" else "physical memory"
            detail = (
                f"power_w = {w_per_gib} W/GiB x {gib:.3f} GiB ({what}) = "
                f"{self._power_w:.3f} W; {source}"
            )
        self._info = DeviceInfo(
            component="ram",
            key="ram:host",
            name=_ram_name(self._basis, gib, total_gib),
            method="model-ram-size",
            estimated=True,
            detail=detail,
        )

    @property
    def info(self) -> DeviceInfo:
        """Static description of the modelled memory (``detail`` names the basis)."""
        return self._info

    @property
    def basis(self) -> str:
        """What the model bills: ``"cgroup-limit"``, ``"in-use"`` or ``"physical"``."""
        return self._basis

    @property
    def power_w(self) -> float:
        """The modelled power as of the last read, in watts."""
        return self._power_w

    @property
    def memory_bytes(self) -> int:
        """The memory size the model bills as of the last read, in bytes."""
        return self._memory_bytes

    def read_energy_j(self, mono_s: float) -> float:
        """Joules since the sensor was opened: each interval's power (from the memory size at
        its start) times its length in seconds. With the ``"in-use"`` basis the memory in use
        is re-read here; if that read fails, the last value is kept (logged once)."""
        if self._closed:
            raise SensorError(f"{self._info.key}: sensor is closed")
        if mono_s > self._last_mono_s:
            self._energy_j += self._power_w * (mono_s - self._last_mono_s)
            self._last_mono_s = mono_s
        reader = self._in_use
        if reader is not None:
            # _try_used_bytes(reader, None) and ram_model_power_w(used, w_per_gib), inlined
            # (the same steps: this runs at every sample)
            used: int | None
            try:
                used = int(reader()) if callable(reader) else None
            except Exception:  # noqa: BLE001 - a probe raises anything: degrade
                used = None
            if used is None or used <= 0:
                if not self._read_failed:
                    self._read_failed = True
                    _log.warning(
                        "ram:host: the memory in use cannot be read; keeping %.3f GiB",
                        self._memory_bytes / BYTES_PER_GIB,
                    )
            else:
                self._memory_bytes = used
                self._power_w = self._w_per_gib * used / BYTES_PER_GIB
        return self._energy_j

    def close(self) -> None:
        """Release the sensor (idempotent)."""
        self._closed = True


def _try_used_bytes(reader: Any, cap_bytes: int | None) -> int | None:
    """Memory in use from ``reader()`` (bytes), None when it cannot be read or is not positive;
    capped at ``cap_bytes`` when given."""
    if not callable(reader):
        return None
    try:
        used = int(reader())
    except Exception:  # noqa: BLE001 - a probe raises anything: degrade
        return None
    if used <= 0:
        return None
    return min(used, cap_bytes) if cap_bytes is not None else used


def _read_first_line(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip().splitlines()[0].strip()
    except (OSError, UnicodeDecodeError, IndexError):
        return None


class PsutilHostProbe:
    """The real :class:`HostProbe`: :mod:`psutil` for CPU times, affinity and memory, plus the
    cgroup (v2, else v1) files of this process for its CPU quota and memory limit."""

    def __init__(
        self,
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        proc_self_cgroup: Path = Path("/proc/self/cgroup"),
    ) -> None:
        import psutil

        self._psutil: Any = psutil
        self._cgroup_root = cgroup_root
        self._proc_self_cgroup = proc_self_cgroup
        # the per-sample reads: /proc files kept open and re-read with one pread each (what
        # psutil reads too, without its per-call open, parse-all and namedtuple); psutil where
        # they are missing (not Linux) or unparsable
        self._stat = _ProcFile.open("/proc/stat")
        self._meminfo = _ProcFile.open("/proc/meminfo")
        self._clock_ticks_per_s = (
            float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        )

    # -- cgroup helpers -------------------------------------------------------------------------
    def _cgroup_dirs(self, v1_controller: str) -> list[Path]:
        """Directories whose cgroup files limit this process: its own cgroup and every ancestor
        up to the mount root (limits are hierarchical: the tightest one applies)."""
        leaves: list[Path] = []
        try:
            text = self._proc_self_cgroup.read_text(encoding="utf-8")
        except OSError:
            text = ""
        for line in text.splitlines():
            parts = line.strip().split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, rel = parts
            rel = rel.strip().lstrip("/")
            if controllers == "":  # cgroup v2 unified hierarchy: "0::/path"
                leaves.append(self._cgroup_root / rel)
            elif v1_controller in controllers.split(","):
                leaves.append(self._cgroup_root / controllers / rel)
                leaves.append(self._cgroup_root / v1_controller / rel)
        # Inside a container the namespace root is the container's own cgroup.
        leaves.append(self._cgroup_root)
        leaves.append(self._cgroup_root / v1_controller)
        dirs: list[Path] = []
        for leaf in leaves:
            d = leaf
            while True:
                if d not in dirs:
                    dirs.append(d)
                if d == self._cgroup_root or d.parent == d:
                    break
                d = d.parent
        return dirs

    def cgroup_cpu_quota(self) -> float | None:
        """CPUs allowed by the tightest cgroup CPU quota (quota / period: v2 ``cpu.max``, v1
        ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), or None when unlimited or unreadable."""
        quotas: list[float] = []
        for d in self._cgroup_dirs("cpu"):
            v2 = _read_first_line(d / "cpu.max")
            if v2 is not None:
                fields = v2.split()
                if len(fields) == 2 and fields[0] != "max":
                    q, p = _parse_float(fields[0]), _parse_float(fields[1])
                    if q is not None and p is not None and q > 0 and p > 0:
                        quotas.append(q / p)
                continue
            q = _parse_float(_read_first_line(d / "cpu.cfs_quota_us"))
            p = _parse_float(_read_first_line(d / "cpu.cfs_period_us"))
            if q is not None and p is not None and q > 0 and p > 0:  # v1: -1 = unlimited
                quotas.append(q / p)
        return min(quotas) if quotas else None

    def memory_limit_bytes(self) -> int | None:
        """The tightest cgroup memory limit in bytes (v2 ``memory.max``, v1
        ``memory.limit_in_bytes``), or None when unlimited or unreadable. v1 reports "unlimited"
        as a huge number; the model ignores any limit not below physical memory."""
        limits: list[int] = []
        for d in self._cgroup_dirs("memory"):
            text = _read_first_line(d / "memory.max")
            if text is None:
                text = _read_first_line(d / "memory.limit_in_bytes")
            value = _parse_int(text) if text not in (None, "max") else None
            if value is not None and value > 0:
                limits.append(value)
        return min(limits) if limits else None

    # -- HostProbe --------------------------------------------------------------------------------
    def cpu_count(self) -> int:
        """CPUs in this process's affinity mask, capped by a cgroup CPU quota (rounded up)."""
        psutil = self._psutil
        count: int | None = None
        try:
            count = len(psutil.Process().cpu_affinity())
        except (AttributeError, OSError, psutil.Error):
            count = None  # no affinity API on this OS (macOS)
        if not count:
            count = psutil.cpu_count(logical=True) or os.cpu_count() or 1
        quota = self.cgroup_cpu_quota()
        if quota is not None and quota > 0:
            count = min(count, max(1, math.ceil(quota)))
        return int(count)

    def cpu_times_s(self) -> tuple[float, float]:
        """System-wide ``(busy_s, total_s)``: total excludes guest time (already in user/nice);
        busy excludes idle, iowait and steal."""
        fields = self._stat.first_line_fields() if self._stat is not None else None
        if fields is not None and len(fields) >= 8 and fields[0] == b"cpu":
            try:
                # user nice system idle iowait irq softirq steal [guest guest_nice], in ticks
                ticks = list(map(int, fields[1:11]))
            except ValueError:
                ticks = []
            if len(ticks) >= 7:
                if len(ticks) < 10:
                    ticks += [0] * (10 - len(ticks))
                # guest time is already in user / nice
                total_t = (
                    ticks[0] + ticks[1] + ticks[2] + ticks[3] + ticks[4] + ticks[5] + ticks[6]
                ) + ticks[7]
                not_busy_t = ticks[3] + ticks[4] + ticks[7]
                hz = self._clock_ticks_per_s
                return (total_t - not_busy_t) / hz, total_t / hz
        t = self._psutil.cpu_times()
        total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        not_busy = t.idle + getattr(t, "iowait", 0.0) + getattr(t, "steal", 0.0)
        return float(total - not_busy), float(total)

    def memory_total_bytes(self) -> int:
        """Physical memory in bytes (``psutil.virtual_memory().total``)."""
        return int(self._psutil.virtual_memory().total)

    # -- ProcessProbe -----------------------------------------------------------------------------
    def self_pid(self) -> int:
        """This process's id (read at each call: right after a fork too)."""
        return os.getpid()

    def descendant_pids(self, pid: int) -> Sequence[int]:
        """Ids of every descendant of ``pid`` (``psutil.Process.children(recursive=True)``)."""
        children = self._psutil.Process(pid).children(recursive=True)
        return [int(c.pid) for c in children]

    def process_cpu(self, pid: int) -> ProcessCpu | None:
        """CPU seconds of process ``pid`` (one read of ``/proc/<pid>/stat`` on Linux), None when
        it no longer exists."""
        psutil = self._psutil
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                t = proc.cpu_times()
                ppid = proc.ppid()
                created_s = proc.create_time()
        except psutil.NoSuchProcess:
            return None
        return ProcessCpu(
            pid=pid,
            ppid=int(ppid),
            create_time_s=float(created_s),
            own_cpu_s=float(t.user + t.system),
            reaped_cpu_s=float(
                getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
            ),
        )

    def process_memory_bytes(self, pid: int) -> tuple[int, str] | None:
        """``(bytes, "pss")`` from ``memory_full_info()``, or ``(bytes, "rss")`` where PSS cannot
        be read; None when the process no longer exists."""
        psutil = self._psutil
        try:
            proc = psutil.Process(pid)
            try:
                pss = getattr(proc.memory_full_info(), "pss", None)
            except psutil.AccessDenied:
                pss = None
            if pss is not None:
                return int(pss), "pss"
            return int(proc.memory_info().rss), "rss"
        except psutil.NoSuchProcess:
            return None

    def memory_used_bytes(self) -> int:
        """Memory in use on the host (or VM), bytes: ``total - available`` (``MemTotal`` and
        ``MemAvailable`` of ``/proc/meminfo``, as psutil reads them; psutil elsewhere)."""
        if self._meminfo is not None:
            fields = self._meminfo.kib_fields((b"MemTotal:", b"MemAvailable:"))
            if fields is not None:
                total_kib, available_kib = fields
                return (total_kib - available_kib) * 1024
        vm = self._psutil.virtual_memory()
        return int(vm.total - vm.available)

    def pid_exists(self, pid: int) -> bool:
        """True when a process ``pid`` exists in this process's PID namespace."""
        return bool(self._psutil.pid_exists(pid))


def _ram_name(basis: str, gib: float, total_gib: float) -> str:
    """The modelled memory's name, saying what is billed (the report shows it)."""
    if basis == "in-use":
        return f"RAM in use, {gib:.1f} of {total_gib:.1f} GiB at start (size model)"
    if basis == "cgroup-limit":
        return f"{gib:.1f} GiB cgroup memory limit (size model)"
    return f"{total_gib:.1f} GiB RAM (size model)"


class _ProcFile:
    """A ``/proc`` file kept open and re-read from offset 0 with one ``pread`` per call (a
    fresh snapshot every time; safe after fork)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def open(cls, path: str) -> _ProcFile | None:
        """The file opened read-only, or None when it cannot be (not Linux, no /proc)."""
        if not hasattr(os, "pread"):
            return None
        try:
            return cls(os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)))
        except OSError:
            return None

    def _read(self, size: int) -> bytes | None:
        try:
            return os.pread(self._fd, size, 0)
        except OSError:
            return None

    def first_line_fields(self) -> list[bytes] | None:
        """The whitespace-separated fields of the first line (None if unreadable)."""
        try:  # self._read(512), inlined: one call less per sample
            data = os.pread(self._fd, 512, 0)
        except OSError:
            return None
        if not data:
            return None
        end = data.find(b"\n")  # (not split: that would copy the rest of the file)
        return (data if end < 0 else data[:end]).split()

    def kib_fields(self, keys: tuple[bytes, ...]) -> list[int] | None:
        """The values (kB) of ``keys`` (``b"MemTotal:"``...) in a meminfo-style file, in order;
        None when one is missing or unparsable."""
        try:  # self._read(512), inlined: one call less per sample
            data: bytes | None = os.pread(self._fd, 512, 0)  # MemTotal, MemAvailable: lines 1, 3
        except OSError:
            data = None
        if data:
            for k in keys:
                if data.find(k) < 0:  # (``k in data`` raises and clears a TypeError inside)
                    data = self._read(16384)
                    break
        if not data:
            return None
        found: dict[bytes, int] = {}
        for line in data.split(b"\n"):
            name, _, rest = line.partition(b" ")
            if name in keys:
                try:
                    found[name] = int(rest.split()[0])
                except (ValueError, IndexError):
                    return None
                if len(found) == len(keys):
                    break
        if len(found) != len(keys):
            return None
        return list(map(found.__getitem__, keys))

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _parse_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def default_host_probe() -> HostProbe:
    """The psutil-backed probe (imports psutil)."""
    return PsutilHostProbe()
