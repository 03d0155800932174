"""Host models and the psutil/cgroup probe (found by mutation testing, see docs/testing.md): the
CPU model's utilisation clamps, sub-second reads and first interval, the RAM model's size checks,
bases and names, cgroup CPU quotas and memory limits at their boundaries (nested, malformed,
zero, v1 and v2), the CPU count's fallbacks, and the probe's per-process readings against
psutil's own (counters only grow, so each reading lies between two of psutil's)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil
import pytest

from carbonsdk.exceptions import SensorError
from carbonsdk.sensors.host import (
    BYTES_PER_GIB,
    CCF_AWS,
    CpuUtilisationModelSensor,
    PsutilHostProbe,
    RamSizeModelSensor,
    attributed_memory_bytes,
)

GIB = BYTES_PER_GIB
MIN_W, MAX_W = CCF_AWS.min_w_per_vcpu, CCF_AWS.max_w_per_vcpu


class Probe:
    """A scripted host: ``times`` are the (busy_s, total_s) readings in turn (the last repeats)."""

    def __init__(
        self,
        *,
        cpus: int = 2,
        times: Sequence[tuple[float, float]] = ((0.0, 0.0),),
        total: int = 16 * GIB,
        limit: int | None = None,
        used: int | None = None,
    ) -> None:
        self.cpus = cpus
        self.times = list(times)
        self.reads = 0
        self.total = total
        self.limit = limit
        self.used = used

    def cpu_count(self) -> int:
        return self.cpus

    def cpu_times_s(self) -> tuple[float, float]:
        value = self.times[min(self.reads, len(self.times) - 1)]
        self.reads += 1
        return value

    def memory_total_bytes(self) -> int:
        return self.total

    def memory_limit_bytes(self) -> int | None:
        return self.limit

    def memory_used_bytes(self) -> int:
        if self.used is None:
            raise OSError("no /proc/meminfo")
        return self.used


# -- CPU utilisation model ------------------------------------------------------------------------


def test_cpu_model_needs_at_least_one_vcpu() -> None:
    with pytest.raises(SensorError, match="0 CPUs"):
        CpuUtilisationModelSensor(Probe(cpus=0), 0.0)
    one = CpuUtilisationModelSensor(Probe(cpus=1), 0.0)
    assert one.info.name.startswith("1 vCPU")


def test_cpu_model_first_interval_without_cpu_time_is_idle_power() -> None:
    sensor = CpuUtilisationModelSensor(Probe(cpus=2, times=[(5.0, 10.0)]), 0.0)
    assert sensor.last_utilisation == 0.0
    assert sensor.read_energy_j(10.0) == pytest.approx(2 * MIN_W * 10.0)


def test_cpu_model_clamps_utilisation_and_reads_sub_second_intervals() -> None:
    times = [(0.0, 0.0), (0.25, 0.5), (1.0, 1.0), (0.5, 1.5)]
    sensor = CpuUtilisationModelSensor(Probe(cpus=1, times=times), 0.0)
    assert sensor.read_energy_j(0.5) == pytest.approx((MIN_W + 0.5 * (MAX_W - MIN_W)) * 0.5)
    assert sensor.last_utilisation == 0.5  # 0.25 s busy of 0.5 s of CPU time
    e1 = sensor.read_energy_j(1.0)
    assert sensor.last_utilisation == 1.0  # 0.75 s busy in 0.5 s: clamped to 1
    assert e1 == pytest.approx((MIN_W + 0.5 * (MAX_W - MIN_W)) * 0.5 + MAX_W * 0.5)
    sensor.read_energy_j(1.5)
    assert sensor.last_utilisation == 0.0  # busy went back: clamped to 0


# -- RAM size model -------------------------------------------------------------------------------


def test_ram_model_sizes_must_be_positive() -> None:
    with pytest.raises(SensorError, match="reports 0 bytes"):
        RamSizeModelSensor(Probe(total=0), 0.0)
    tiny = RamSizeModelSensor(Probe(total=1), 0.0, basis="physical")
    assert tiny.memory_bytes == 1
    one_byte_used = RamSizeModelSensor(Probe(total=GIB, used=1), 0.0)
    assert one_byte_used.basis == "in-use" and one_byte_used.memory_bytes == 1


def test_ram_model_zero_limit_or_zero_use_bills_physical_memory() -> None:
    assert attributed_memory_bytes(Probe(total=8 * GIB, limit=0)) == 8 * GIB
    assert attributed_memory_bytes(Probe(total=8 * GIB, limit=1)) == 1
    sensor = RamSizeModelSensor(Probe(total=8 * GIB, used=0), 0.0)
    assert sensor.basis == "physical" and sensor.memory_bytes == 8 * GIB


def test_ram_model_physical_basis_ignores_the_cgroup_limit() -> None:
    sensor = RamSizeModelSensor(
        Probe(total=8 * GIB, limit=2 * GIB, used=GIB), 0.0, basis="physical"
    )
    assert sensor.basis == "physical" and sensor.memory_bytes == 8 * GIB
    assert sensor.info.name == "8.0 GiB RAM (size model)"
    assert "8.000 GiB (physical memory)" in sensor.info.detail


def test_ram_model_names_say_what_is_billed() -> None:
    limited = RamSizeModelSensor(Probe(total=8 * GIB, limit=2 * GIB), 0.0)
    assert limited.info.name == "2.0 GiB cgroup memory limit (size model)"
    assert "2.000 GiB (cgroup memory limit)" in limited.info.detail
    in_use = RamSizeModelSensor(Probe(total=8 * GIB, used=3 * GIB), 0.0)
    assert in_use.info.name == "RAM in use, 3.0 of 8.0 GiB at start (size model)"


def test_ram_model_in_use_is_re_read_and_each_interval_uses_its_start() -> None:
    probe = Probe(total=8 * GIB, used=2 * GIB)
    sensor = RamSizeModelSensor(probe, 0.0, w_per_gib=1.0)
    probe.used = 4 * GIB
    assert sensor.read_energy_j(10.0) == pytest.approx(2.0 * 10.0)  # 2 GiB held over 0..10 s
    assert sensor.memory_bytes == 4 * GIB and sensor.power_w == pytest.approx(4.0)
    assert sensor.read_energy_j(10.0) == pytest.approx(20.0)  # no time: nothing added
    probe.used = 1
    assert sensor.read_energy_j(15.0) == pytest.approx(20.0 + 4.0 * 5.0)
    assert sensor.memory_bytes == 1  # one byte in use is a reading


# -- cgroup quotas and limits ---------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _probe(tmp_path: Path, cgroup_file: str) -> tuple[PsutilHostProbe, Path]:
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc_self_cgroup"
    _write(proc, cgroup_file)
    root.mkdir(parents=True, exist_ok=True)
    return PsutilHostProbe(cgroup_root=root, proc_self_cgroup=proc), root


@pytest.mark.parametrize(
    ("leaf", "parent", "quota"),
    [
        ("150000 100000", "100000 100000", 1.0),  # the tighter parent wins
        ("0 100000", "200000 100000", 2.0),  # a zero quota is no quota
        ("garbage", "50000 100000", 0.5),  # a malformed file is skipped
        ("100000 0", "max 100000", None),  # a zero period is no quota
        ("1 100000", "max 100000", 1e-5),  # any positive quota counts
        ("2 1", "max 100000", 2.0),  # any positive period counts
    ],
)
def test_cgroup_v2_cpu_quota(tmp_path: Path, leaf: str, parent: str, quota: float | None) -> None:
    probe, root = _probe(tmp_path, "0::/job.slice/run.scope\n")
    _write(root / "job.slice" / "run.scope" / "cpu.max", leaf + "\n")
    _write(root / "job.slice" / "cpu.max", parent + "\n")
    assert probe.cgroup_cpu_quota() == (None if quota is None else pytest.approx(quota))


@pytest.mark.parametrize(
    ("quota_us", "period_us", "quota"),
    [("0", "100000", None), ("1", "100000", 1e-5), ("2", "1", 2.0), ("50000", "0", None)],
)
def test_cgroup_v1_cpu_quota_boundaries(
    tmp_path: Path, quota_us: str, period_us: str, quota: float | None
) -> None:
    probe, root = _probe(tmp_path, "4:cpu,cpuacct:/docker/abc\n")
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", quota_us + "\n")
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", period_us + "\n")
    assert probe.cgroup_cpu_quota() == (None if quota is None else pytest.approx(quota))


def test_cgroup_memory_limit_boundaries(tmp_path: Path) -> None:
    probe, root = _probe(tmp_path, "0::/job\n")
    _write(root / "job" / "memory.max", "0\n")
    assert probe.memory_limit_bytes() is None
    _write(root / "job" / "memory.max", "1\n")
    assert probe.memory_limit_bytes() == 1


def test_cgroup_file_lines_that_do_not_parse_are_skipped(tmp_path: Path) -> None:
    """/proc/self/cgroup may carry odd lines before the unified one, and a cgroup path may
    contain a colon."""
    probe, root = _probe(tmp_path, "garbage\n0::/pod:a/run\n")
    _write(root / "pod:a" / "run" / "memory.max", f"{GIB}\n")
    _write(root / "pod:a" / "run" / "cpu.max", "50000 100000\n")
    assert probe.memory_limit_bytes() == GIB
    assert probe.cgroup_cpu_quota() == pytest.approx(0.5)


# -- CPU count -------------------------------------------------------------------------------------


def test_cpu_count_follows_the_affinity_mask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe, _ = _probe(tmp_path, "")
    monkeypatch.setattr(psutil.Process, "cpu_affinity", lambda self: [0])
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 8 if logical else 4)
    assert probe.cpu_count() == 1


@pytest.mark.parametrize(
    ("logical", "os_count", "expected"),
    [(8, 3, 8), (None, 3, 3), (None, None, 1)],
)
def test_cpu_count_without_an_affinity_api(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    logical: int | None,
    os_count: int | None,
    expected: int,
) -> None:
    probe, _ = _probe(tmp_path, "")

    def no_affinity(self: object) -> list[int]:
        raise AttributeError("cpu_affinity")  # macOS

    monkeypatch.setattr(psutil.Process, "cpu_affinity", no_affinity)
    monkeypatch.setattr(
        psutil,
        "cpu_count",
        lambda logical=True, _n=logical: _n if logical else (None if _n is None else _n // 2),
    )
    monkeypatch.setattr(os, "cpu_count", lambda: os_count)
    assert probe.cpu_count() == expected


# -- per-process readings --------------------------------------------------------------------------


def test_process_cpu_lies_between_two_psutil_readings() -> None:
    subprocess.run(
        [sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True
    )  # reaped: its CPU time is in our children_* times
    me = psutil.Process()
    before = me.cpu_times()
    reading = PsutilHostProbe().process_cpu(os.getpid())
    after = me.cpu_times()
    assert reading is not None
    assert before.user + before.system <= reading.own_cpu_s <= after.user + after.system
    reaped_before = before.children_user + before.children_system
    assert reaped_before > 0
    assert reaped_before <= reading.reaped_cpu_s <= after.children_user + after.children_system
    assert reading.ppid == os.getppid()


def test_process_memory_is_pss_on_linux() -> None:
    found = PsutilHostProbe().process_memory_bytes(os.getpid())
    assert found is not None
    size, kind = found
    assert kind == "pss" and size > 0


def test_descendants_include_grandchildren() -> None:
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        pids = set(PsutilHostProbe().descendant_pids(os.getpid()))
        assert {child.pid, grandchild} <= pids
    finally:
        for proc in psutil.Process(child.pid).children(recursive=True):
            proc.kill()
        child.kill()
        child.wait()


# -- /proc/stat and /proc/meminfo ------------------------------------------------------------------


def _probe_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stat: str, meminfo: str
) -> PsutilHostProbe:
    """A probe whose /proc/stat and /proc/meminfo are the given texts (the files are opened
    when the probe is made)."""
    files = {"/proc/stat": tmp_path / "stat", "/proc/meminfo": tmp_path / "meminfo"}
    files["/proc/stat"].write_text(stat)
    files["/proc/meminfo"].write_text(meminfo)
    real_open = os.open

    def fake_open(path: str, *args: int) -> int:
        if path in files and not files[path].read_text():
            raise FileNotFoundError(path)  # an empty text: the file does not exist
        return real_open(str(files.get(path, path)), *args)

    with monkeypatch.context() as m:
        m.setattr(os, "open", fake_open)
        return PsutilHostProbe(cgroup_root=tmp_path / "none", proc_self_cgroup=tmp_path / "none")


MEMINFO = "MemTotal:        1000 kB\nMemFree:          100 kB\nMemAvailable:     300 kB\n"
HZ = float(os.sysconf("SC_CLK_TCK"))


@pytest.mark.parametrize(
    ("line", "busy_ticks", "total_ticks"),
    [
        # user nice system idle iowait irq softirq steal guest guest_nice
        ("cpu  1 2 4 8 16 32 64 128 256 512", 1 + 2 + 4 + 32 + 64, 255),
        ("cpu 1 2 4 8 16 32 64 128", 103, 255),  # no guest fields (old kernels)
        ("cpu 1 2 4 8 16 32 64", 1 + 2 + 4 + 32 + 64, 127),  # no steal either
    ],
)
def test_cpu_times_from_proc_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, busy_ticks: int, total_ticks: int
) -> None:
    """busy = user + nice + system + irq + softirq; total adds idle, iowait and steal (guest
    time is inside user/nice); seconds at USER_HZ."""
    for text in (line + "\ncpu0 9 9 9 9 9 9 9 9 9 9\n", line):  # with and without a newline
        probe = _probe_on(tmp_path, monkeypatch, text, MEMINFO)
        busy, total = probe.cpu_times_s()
        assert busy == pytest.approx(busy_ticks / HZ)
        assert total == pytest.approx(total_ticks / HZ)


class _Times:
    user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice = (
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        64.0,
        128.0,
        256.0,
        512.0,
    )

    def __iter__(self) -> Iterator[float]:
        return iter(
            (
                self.user,
                self.nice,
                self.system,
                self.idle,
                self.iowait,
                self.irq,
                self.softirq,
                self.steal,
                self.guest,
                self.guest_nice,
            )
        )


@pytest.mark.parametrize(
    "stat",
    ["cpu 1 2 3 4 5 6\n", "cpu a b c d e f g h\n", "intr 1 2 4 8 16 32 64 128\n", ""],
)
def test_unreadable_proc_stat_falls_back_to_psutil(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stat: str
) -> None:
    probe = _probe_on(tmp_path, monkeypatch, stat, MEMINFO)
    monkeypatch.setattr(psutil, "cpu_times", lambda: _Times())
    busy, total = probe.cpu_times_s()
    assert total == 255.0  # guest and guest_nice left out
    assert busy == 255.0 - (8.0 + 16.0 + 128.0)


class _FewTimes:
    """psutil's cpu_times() where the OS has no iowait, steal or guest fields (macOS)."""

    user, nice, system, idle = 1.0, 2.0, 4.0, 8.0

    def __iter__(self) -> Iterator[float]:
        return iter((self.user, self.nice, self.system, self.idle))


def test_psutil_cpu_times_without_linux_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = _probe_on(tmp_path, monkeypatch, "", MEMINFO)  # no /proc/stat
    monkeypatch.setattr(psutil, "cpu_times", lambda: _FewTimes())
    assert probe.cpu_times_s() == (7.0, 15.0)


def test_memory_in_use_from_proc_meminfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _probe_on(tmp_path, monkeypatch, "cpu 1 2 3 4 5 6 7 8\n", MEMINFO)
    assert probe.memory_used_bytes() == (1000 - 300) * 1024
    # MemAvailable far down the file (past the first read)
    padding = "".join(f"Pad{i}:     {i} kB\n" for i in range(60))
    late = "MemTotal:        2000 kB\n" + padding + "MemAvailable:     500 kB\n"
    probe = _probe_on(tmp_path, monkeypatch, "cpu 1 2 3 4 5 6 7 8\n", late)
    assert probe.memory_used_bytes() == (2000 - 500) * 1024


@pytest.mark.parametrize(
    "meminfo",
    ["MemTotal:        1000 kB\nMemFree: 100 kB\n", "MemTotal: x kB\nMemAvailable: 3 kB\n", ""],
)
def test_unreadable_proc_meminfo_falls_back_to_psutil(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meminfo: str
) -> None:
    probe = _probe_on(tmp_path, monkeypatch, "cpu 1 2 3 4 5 6 7 8\n", meminfo)

    class VM:
        total, available = 10 * GIB, 4 * GIB

    monkeypatch.setattr(psutil, "virtual_memory", lambda: VM())
    assert probe.memory_used_bytes() == 6 * GIB
