"""Process attribution: the share of each measured device's energy that belongs to *this process
tree* (the process that runs ``measure(..., attribution="process")`` and its descendants, e.g.
DataLoader workers), reported next to the whole-device figures, never instead of them.

The sampler hands every interval's energy (joules per device) to :meth:`ProcessAttributor.add`;
after each periodic read it calls :meth:`ProcessAttributor.refresh`, which measures the tree's
share of each device over the span since the previous refresh and applies it to the intervals
delivered since then, so each interval is attributed with the share measured over (about) the
same span. Attributed energy in an interval = share (0..1) x the device's energy in it (J); the
per-component sums go into a bounded :class:`~carbonsdk.timeline.TimelineBuilder` (old intervals
coarsened), so an 8-day run stays small. Attributed energy never exceeds the device's.

Shares, per component:

* ``"gpu"``, per GPU: SM utilisation samples since the previous refresh
  (``nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp)``, percent of each of the
  driver's sample periods, one sample per process with non-zero utilisation): share = sum of the
  tree's samples / sum of every process's samples (percent-sample sums, so a process busy twice
  as long or twice as hard counts twice). When the GPU does not offer per-process utilisation
  (NOT_SUPPORTED, old driver), the share of used GPU memory of the processes holding a compute
  context (``nvmlDeviceGetComputeRunningProcesses``, bytes) instead, and the detail says so.
  A span with no sample (NVML_ERROR_NOT_FOUND, or all at 0 %) is an *idle* span: its energy
  (the idle power) is split evenly between the processes holding a compute context, so the tree
  gets ``n_tree_holders / n_holders`` (1 when it is the only holder, 0 when it holds nothing;
  nobody holding a context: 0). Even, because an idle context costs no more for holding more
  memory. NVML reports process ids of the host's PID namespace
  (https://github.com/NVIDIA/nvidia-docker/issues/1483): when NVML reports processes on a GPU and
  none of them is in the tree nor exists in this PID namespace, the share cannot be known (a
  container without ``--pid=host``), so ``"gpu"`` is *unavailable*, never 0. Caveat: a host pid
  that happens to exist in the container too makes the span read as "other processes only" (0).
* ``"cpu"``: share = the tree's CPU seconds (user + system of it and its descendants, children
  that exited and were waited for included, see :mod:`carbonsdk.sensors.host`) / the host's
  busy CPU seconds (all CPUs, not idle / iowait / steal), both over the span, clamped to
  [0, 1]; a span in which the host did no busy work has share 0 (its idle energy is nobody's
  work; with RAPL it is still in the whole-device figure). The CPU energy of a span (idle power
  included) is thus split in proportion to busy time.
* ``"ram"``: share = the tree's PSS (proportional set size, bytes; the RSS where PSS cannot be
  read, and the detail says so) / the host's memory in use (total - available, bytes), clamped to
  [0, 1], read at a refresh (at most at a 0.1 % duty cycle, held in between) and applied to the
  span ending there.

If a component's share cannot be measured (NVML or psutil failure, foreign PID namespace, no
process probe) at any point of the run, that component is left out of the attributed energy
(:attr:`Attribution.energy`) and its :attr:`Attribution.detail` says ``"unavailable: <reason>"``:
a figure covering only part of the run would read as a measurement of all of it. Such a failure
is logged once and never reaches the run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from carbonsdk.exceptions import SensorError
from carbonsdk.model.device import DeviceInfo
from carbonsdk.timeline import EnergySeries, TimelineBuilder

if TYPE_CHECKING:
    from carbonsdk.sampler import Sampler
    from carbonsdk.sensors.host import ProcessProbe, ProcessTreeMeter
    from carbonsdk.sensors.nvml import GpuProcessReader

log = logging.getLogger("carbonsdk")

#: intervals waiting for a share; beyond it the two oldest are merged (memory stays bounded even
#: when no refresh comes)
MAX_PENDING_INTERVALS: Final[int] = 256

GPU_UTILISATION_DETAIL: Final[str] = (
    "NVML per-process SM utilisation samples (nvmlDeviceGetProcessUtilization): the tree's "
    "share of the sum of all processes' samples per interval; intervals without samples split "
    "evenly between the processes holding a compute context (nvmlDeviceGetComputeRunningProcesses)"
)
GPU_MEMORY_DETAIL: Final[str] = (
    "share of used GPU memory of the processes holding a compute context "
    "(nvmlDeviceGetComputeRunningProcesses), per interval"
)
CPU_DETAIL: Final[str] = (
    "this process tree's CPU time (user + system of it and its descendants, psutil) / the "
    "host's busy CPU time (all CPUs), per interval"
)


@attrs.frozen(eq=False)
class Attribution:
    """What :meth:`ProcessAttributor.finish` returns: ``energy``, the attributed energy in joules
    per interval per component (components whose share was available throughout; the intervals
    of the run's timeline, coarsened alike), and ``detail``, per component asked for, how the
    share was computed or ``"unavailable: <reason>"``."""

    energy: EnergySeries
    detail: Mapping[str, str]


class _Unavailable(Exception):
    """A share that cannot be known (reason in the message)."""


@attrs.define
class _Gpu:
    device: DeviceInfo
    reader: GpuProcessReader
    method: str = "utilisation"  # or "memory"
    last_seen_us: int = 0
    fallback: str | None = None


class ProcessAttributor:
    """Attributes measured energy to this process tree (see the module docstring). Built by
    :meth:`start`; :meth:`add` (cheap, no I/O) and :meth:`refresh` (reads the shares) are called
    from the sampler thread, :meth:`finish` once from the run's thread. Never raises from
    :meth:`add` / :meth:`refresh`."""

    def __init__(
        self,
        *,
        devices: Sequence[DeviceInfo],
        components: Sequence[str],
        start_s: float,
        probe: ProcessProbe | None,
        probe_error: str | None = None,
        nvml: Any | None = None,
    ) -> None:
        self._components = tuple(components)
        self._keys = {d.key: d.component for d in devices if d.component in self._components}
        self._lock = threading.Lock()  # pending intervals and the timeline
        self._measure_lock = threading.Lock()  # one measurement at a time
        self._pending: list[tuple[float, float, dict[str, float]]] = []
        self._timeline = TimelineBuilder(self._components)
        self._unavailable: dict[str, str] = {}
        self._finished: Attribution | None = None
        self._probe = probe
        self._meter: ProcessTreeMeter | None = None
        self._last_tree_cpu_s = 0.0
        self._last_busy_s = 0.0
        self._ram_kind = "pss"
        self._gpus: dict[str, _Gpu] = {}
        for comp in self._components:
            if comp not in self._keys.values():
                self._fail(comp, f"no measured {comp} device")
        host_comps = [c for c in ("cpu", "ram", "gpu") if c in self._components]
        if probe is None:
            for comp in host_comps:
                self._fail(comp, f"the process tree cannot be read ({probe_error})")
        else:
            self._open_meter(probe, start_s)
        if "gpu" in self._components and "gpu" not in self._unavailable:
            self._open_gpus([d for d in devices if d.component == "gpu"], nvml)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        sampler: Sampler,
        *,
        devices: Sequence[DeviceInfo],
        components: Sequence[str],
        start_s: float,
    ) -> ProcessAttributor:
        """Start attributing the energy of ``devices`` (of ``components``) from ``start_s`` (UTC
        epoch seconds), reading processes through the sampler's sensor environment (its host
        probe and NVML library; the real ones by default)."""
        from carbonsdk.sensors.host import default_host_probe, is_process_probe

        env = sampler.environment
        probe: Any = env.host
        error: str | None = None
        if probe is None:
            try:
                probe = default_host_probe()
            except Exception as exc:  # noqa: BLE001 - psutil missing or broken
                probe, error = None, f"host probe unavailable: {exc!r}"
        if probe is not None and not is_process_probe(probe):
            probe, error = None, f"the host probe {type(probe).__name__} does not read processes"
        return cls(
            devices=devices,
            components=components,
            start_s=start_s,
            probe=probe,
            probe_error=error,
            nvml=env.nvml,
        )

    def _open_meter(self, probe: ProcessProbe, start_s: float) -> None:
        from carbonsdk.sensors.host import ProcessTreeMeter

        try:
            self._meter = ProcessTreeMeter(probe, start_s)
            self._last_tree_cpu_s = self._meter.cpu_s
            if "cpu" in self._components:
                self._last_busy_s = float(probe.cpu_times_s()[0])
        except Exception as exc:  # noqa: BLE001 - a process probe raises anything: degrade
            for comp in ("cpu", "ram", "gpu"):
                if comp in self._components:
                    self._fail(comp, f"the process tree cannot be read: {exc}")

    def _open_gpus(self, devices: Sequence[DeviceInfo], nvml: Any | None) -> None:
        from carbonsdk.sensors.nvml import GpuProcessReader, NvmlUnsupportedError

        for device in devices:
            try:
                gpu = _Gpu(device, GpuProcessReader.open(nvml, device))
                try:
                    gpu.last_seen_us = gpu.reader.utilisation_since(0).last_seen_us
                except NvmlUnsupportedError as exc:
                    gpu.method, gpu.fallback = "memory", str(exc)
            except Exception as exc:  # noqa: BLE001 - a process probe raises anything: degrade
                self._fail("gpu", str(exc))
                return
            self._gpus[device.key] = gpu

    # -- sampler side ------------------------------------------------------------------------

    def add(self, start_s: float, end_s: float, energy_j: Mapping[str, float]) -> None:
        """Energy per device key (J) over ``[start_s, end_s)`` (UTC epoch s), for every device
        of the sampler (keys not attributed are ignored); held until the next refresh."""
        if self._finished is not None or end_s <= start_s:
            return
        joules = {k: float(v) for k, v in energy_j.items() if k in self._keys}
        with self._lock:
            pending = self._pending
            pending.append((start_s, end_s, joules))
            if len(pending) > MAX_PENDING_INTERVALS:
                (s0, _, j0), (_, e1, j1) = pending[0], pending[1]
                merged = dict(j0)
                for k, v in j1.items():
                    merged[k] = merged.get(k, 0.0) + v
                pending[0:2] = [(s0, e1, merged)]

    def refresh(self, now_s: float) -> None:
        """Measure the shares over the span since the previous refresh (NVML per-process
        samples, psutil) and attribute the intervals delivered since then. ``now_s``: UTC epoch
        seconds. A host that cannot be read degrades the attribution (see :meth:`finish`); any
        other exception is a bug and reaches the caller (the run's attribution extension, whose
        guard logs it and goes on)."""
        if self._finished is not None or not self._measure_lock.acquire(blocking=False):
            return
        try:
            if self._finished is None:
                self._apply(self._measure(now_s))
        finally:
            self._measure_lock.release()

    def finish(self, end_s: float) -> Attribution:
        """Measure the last span, attribute what is pending and return the attributed energy
        (J per interval per available component) and the per-component detail. Idempotent."""
        with self._measure_lock:
            if self._finished is None:
                with self._lock:
                    pending = bool(self._pending)
                if pending:
                    try:
                        self._apply(self._measure(end_s))
                    except Exception as exc:  # a bug, not the host: say so, drop nothing
                        log.warning(
                            "carbonsdk: process attribution failed at the end", exc_info=True
                        )
                        for comp in self._components:
                            self._fail(comp, f"internal error: {exc!r}")
                self._finished = self._build()
            return self._finished

    # -- internals ---------------------------------------------------------------------------

    def _fail(self, component: str, reason: str) -> None:
        if component in self._unavailable:
            return
        self._unavailable[component] = reason
        log.warning("carbonsdk: process attribution of %s unavailable: %s", component, reason)

    def _active(self, component: str) -> bool:
        return component in self._components and component not in self._unavailable

    def _keys_of(self, component: str) -> list[str]:
        return [k for k, c in self._keys.items() if c == component]

    def _measure(self, now_s: float) -> dict[str, float]:
        """Share (0..1) per device key over the span since the previous measurement."""
        shares: dict[str, float] = {}
        meter, probe = self._meter, self._probe
        if meter is None or probe is None:
            return shares
        if self._active("cpu") or self._active("ram") or self._active("gpu"):
            shares.update(self._cpu_shares(meter, probe, now_s))  # reads the tree: first
        if self._active("ram"):
            shares.update(self._ram_shares(meter, now_s))
        if self._active("gpu"):
            shares.update(self._gpu_shares(meter.pids))
        return shares

    def _cpu_shares(self, meter: ProcessTreeMeter, probe: Any, now_s: float) -> dict[str, float]:
        """Read the process tree (its CPU time, and its pids for the GPU shares); the CPU share
        when CPU is attributed: the tree's CPU time over the host's busy time since last."""
        try:
            tree_cpu_s = meter.read_cpu_s(now_s)
        except Exception as exc:  # noqa: BLE001 - a process probe raises anything: degrade
            for comp in ("cpu", "ram"):
                if comp in self._components:
                    self._fail(comp, f"the process tree cannot be read: {exc}")
            return {}
        if not self._active("cpu"):
            return {}
        try:
            busy_s = float(probe.cpu_times_s()[0])
        except Exception as exc:  # noqa: BLE001 - a process probe raises anything: degrade
            self._fail("cpu", f"the host's CPU times cannot be read: {exc!r}")
            return {}
        d_tree = tree_cpu_s - self._last_tree_cpu_s
        d_busy = busy_s - self._last_busy_s
        self._last_tree_cpu_s, self._last_busy_s = tree_cpu_s, busy_s
        share = _clamp(d_tree / d_busy) if d_busy > 0 else 0.0
        return dict.fromkeys(self._keys_of("cpu"), share)

    def _ram_shares(self, meter: ProcessTreeMeter, now_s: float) -> dict[str, float]:
        """The RAM share: the tree's resident memory over the host's memory in use."""
        try:
            memory = meter.read_memory(now_s)
            if memory.used_bytes <= 0:
                raise SensorError(f"the host reports {memory.used_bytes} bytes in use")
        except Exception as exc:  # noqa: BLE001 - a process probe raises anything: degrade
            self._fail("ram", f"memory cannot be read: {exc}")
            return {}
        self._ram_kind = memory.kind
        share = _clamp(memory.tree_bytes / memory.used_bytes)
        return dict.fromkeys(self._keys_of("ram"), share)

    def _gpu_shares(self, tree: frozenset[int]) -> dict[str, float]:
        """Each GPU's share for the process ids of ``tree``; none when one GPU fails (the GPU
        attribution then degrades as a whole)."""
        gpu_shares: dict[str, float] = {}
        for key, gpu in self._gpus.items():
            try:
                gpu_shares[key] = self._gpu_share(gpu, tree)
            except (SensorError, _Unavailable) as exc:
                self._fail("gpu", str(exc))
                return {}
            except Exception as exc:  # noqa: BLE001 - a process probe raises anything: degrade
                self._fail("gpu", f"{key}: {exc!r}")
                return {}
        return gpu_shares

    def _gpu_share(self, gpu: _Gpu, tree: frozenset[int]) -> float:
        from carbonsdk.sensors.nvml import NvmlUnsupportedError

        reader = gpu.reader
        if gpu.method == "utilisation":
            try:
                util = reader.utilisation_since(gpu.last_seen_us)
            except NvmlUnsupportedError as exc:
                gpu.method, gpu.fallback = "memory", str(exc)
            else:
                gpu.last_seen_us = util.last_seen_us
                busy = util.sm_util_percent
                total = sum(busy.values())
                if total > 0:
                    self._check_namespace(gpu.device, busy, tree)
                    return _clamp(sum(v for p, v in busy.items() if p in tree) / total)
                return self._even_split(gpu.device, reader.memory_by_pid(), tree)
        holders = reader.memory_by_pid()
        known = [b for b in holders.values() if b is not None]
        if holders and len(known) == len(holders) and sum(known) > 0:
            self._check_namespace(gpu.device, holders, tree)
            ours = sum(b or 0 for p, b in holders.items() if p in tree)
            return _clamp(ours / sum(known))
        return self._even_split(gpu.device, holders, tree)

    def _even_split(
        self, device: DeviceInfo, holders: Iterable[int], tree: frozenset[int]
    ) -> float:
        pids = set(holders)
        if not pids:
            return 0.0
        self._check_namespace(device, pids, tree)
        return len(pids & tree) / len(pids)

    def _check_namespace(
        self, device: DeviceInfo, pids: Iterable[int], tree: frozenset[int]
    ) -> None:
        listed = sorted(set(pids))
        if not listed or any(p in tree for p in listed):
            return
        assert self._probe is not None
        try:
            visible = any(self._probe.pid_exists(p) for p in listed)
        except Exception as exc:
            raise _Unavailable(f"cannot check the process ids NVML reports: {exc!r}") from exc
        if not visible:
            shown = ", ".join(str(p) for p in listed[:5]) + (", ..." if len(listed) > 5 else "")
            raise _Unavailable(
                f"NVML reports no process ids of this PID namespace (container?): on "
                f"{device.key} it lists pid(s) {shown}, none of which exists here; NVML gives "
                "host pids, so the share needs the host's PID namespace (e.g. docker --pid=host)"
            )

    def _apply(self, shares: Mapping[str, float]) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            for start_s, end_s, joules in pending:
                per_comp: dict[str, float] = {}
                for key, j in joules.items():
                    comp = self._keys[key]
                    if comp in self._unavailable:
                        continue
                    per_comp[comp] = per_comp.get(comp, 0.0) + shares.get(key, 0.0) * j
                self._timeline.add(start_s, end_s, per_comp)

    def _build(self) -> Attribution:
        with self._lock:
            snap = self._timeline.snapshot()
        comps = tuple(c for c in self._components if c not in self._unavailable)
        energy = EnergySeries(
            comps, snap.starts_s, snap.ends_s, {c: snap.energy_j[c] for c in comps}
        )
        detail = {
            c: (
                f"unavailable: {self._unavailable[c]}"
                if c in self._unavailable
                else self._detail(c)
            )
            for c in self._components
        }
        return Attribution(energy=energy, detail=detail)

    def _detail(self, component: str) -> str:
        if component == "cpu":
            return CPU_DETAIL
        if component == "ram":
            what = {
                "pss": "PSS (proportional set size)",
                "rss": "RSS (PSS unreadable; RSS counts shared pages in every process mapping "
                "them, an over-estimate)",
            }.get(self._ram_kind, "PSS, RSS where PSS was unreadable")
            return (
                f"this process tree's {what} / the host's memory in use (total - "
                "available), psutil, sampled at refreshes"
            )
        groups: dict[str, list[str]] = {}
        for key, gpu in self._gpus.items():
            text = (
                GPU_UTILISATION_DETAIL
                if gpu.method == "utilisation"
                else (f"{GPU_MEMORY_DETAIL}: per-process utilisation unavailable ({gpu.fallback})")
            )
            groups.setdefault(text, []).append(key)
        if len(groups) == 1:
            return next(iter(groups))
        return "; ".join(f"{', '.join(keys)}: {text}" for text, keys in groups.items())


def _clamp(share: float) -> float:
    return min(1.0, max(0.0, share))
