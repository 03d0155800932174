"""Faults at the end of a run, with real processes, signals, servers and threads where the fault
is real: absurd options, hostile exceptions, the program's own SIGTERM handler, a signal during
the provider wait, hung and glitching sensors, nested runs, marks at their own time."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import carbonsdk
from carbonsdk import ConfigurationError, Ledger
from carbonsdk.clock import SYSTEM_CLOCK
from carbonsdk.testing import FakeClock, FakeGPU, FakeHost, fake_environment, fake_sampler

REPO = Path(__file__).resolve().parents[1]


# -- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"pue": 1e300}, "pue=1e+300"),
        ({"intensity": 1e300}, "intensity=1e+300"),
        ({"intensity": -5.0}, "intensity=-5.0"),
        ({"interval_s": 10**400}, "interval_s=<an integer of about 10**400>"),
        ({"interval_s": 1e9}, "interval_s=1000000000.0"),
        ({"checkpoint_s": float("inf")}, "checkpoint_s=inf"),
        ({"report": "yes"}, "report='yes'"),
    ],
)
def test_absurd_options_are_configuration_errors(options: dict[str, object], shown: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        carbonsdk.measure(**options)  # type: ignore[arg-type]
    assert shown in str(info.value)
    assert "expected" in str(info.value)


# -- the user's exception -------------------------------------------------------------------------


class StrRaises(Exception):
    def __str__(self) -> str:
        raise RuntimeError("boom in __str__")


class StrNotStr(Exception):
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]


@pytest.fixture
def gpu_rig() -> Iterator[tuple[FakeClock, FakeGPU, object]]:
    clock = FakeClock()
    gpu = FakeGPU.volta(power_w=200.0)
    env = fake_environment(clock, gpus=[gpu], host=FakeHost(clock=clock))
    with fake_sampler(env, clock) as sampler:
        yield clock, gpu, sampler


@pytest.mark.parametrize("exc_type", [StrRaises, StrNotStr])
def test_hostile_exception_comes_back_and_is_recorded(
    gpu_rig: tuple[FakeClock, FakeGPU, object], tmp_path: Path, exc_type: type[Exception]
) -> None:
    clock, _, sampler = gpu_rig
    ledger = tmp_path / "l.jsonl"
    original = exc_type()
    with (
        pytest.raises(exc_type) as info,
        carbonsdk.measure("x", region="DE", intensity=300.0, ledger=ledger, report=False) as run,
    ):
        clock.advance(2.0)
        sampler.tick()  # type: ignore[attr-defined]
        raise original
    assert info.value is original
    result = run.require_result()
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith(exc_type.__name__ + ": <")
    assert Ledger(ledger).get(result.run_id).status == "failed"


def test_require_result_before_exit_raises(gpu_rig: tuple[FakeClock, FakeGPU, object]) -> None:
    with carbonsdk.measure("x", region="DE", intensity=300.0, ledger=False, report=False) as run:
        inside = pytest.raises(RuntimeError, match="after the measure")
        with inside:
            run.require_result()
    assert run.require_result().status == "completed"


# -- signals ------------------------------------------------------------------------------------

_CHILD_PRELUDE = """
import signal, sys, time
import carbonsdk
from carbonsdk.clock import SYSTEM_CLOCK
from carbonsdk.testing import FakeGPU, FakeHost, fake_environment, fake_sampler
env = fake_environment(SYSTEM_CLOCK, gpus=[FakeGPU.volta(power_w=200.0)],
                       host=FakeHost(clock=SYSTEM_CLOCK))
"""


def _child(code: str, tmp_path: Path, *, offline: bool = True) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(_CHILD_PRELUDE + textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CARBONSDK_OFFLINE", None)
    if offline:
        env["CARBONSDK_OFFLINE"] = "1"
    env.pop("CARBONSDK_REGION", None)
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == expected, (line, proc.stderr.read() if proc.stderr else "")


def test_program_sigterm_handler_exiting_0_is_recorded_interrupted(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    proc = _child(
        f"""
        def handler(signum, frame):
            print("handler ran", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, handler)
        with fake_sampler(env, SYSTEM_CLOCK, threaded=True):
            with carbonsdk.measure("job", region="DE", intensity=300.0, interval_s=0.05,
                                   ledger={str(ledger)!r}, report=False):
                print("ready", flush=True)
                time.sleep(30)
    """,
        tmp_path,
    )
    _wait_for_line(proc, "ready")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err  # the program's handler stayed in charge
    assert "handler ran" in out
    run = Ledger(ledger).last()
    assert run is not None
    assert run.status == "interrupted"
    assert "signal:SIGTERM" in run.flags
    assert "rebuilt-from-checkpoints" not in run.flags


class _SilentServer:
    """A local HTTP server that accepts connections and never answers (a hung provider)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for c in self.conns:
            c.close()


def test_sigterm_during_provider_wait_keeps_the_whole_run(tmp_path: Path) -> None:
    """Everything the run measured is durable before the end-of-run network wait: a SIGTERM
    while the live provider hangs still leaves the whole timeline in the ledger."""
    server = _SilentServer()
    ledger = tmp_path / "l.jsonl"
    try:
        proc = _child(
            f"""
            from carbonsdk.intensity.electricitymaps import ElectricityMapsProvider
            provider = ElectricityMapsProvider("key", base_url="http://127.0.0.1:{server.port}",
                                               cache=False, retries=0)
            with fake_sampler(env, SYSTEM_CLOCK, threaded=True):
                with carbonsdk.measure("job", region="DE", intensity=provider, interval_s=0.05,
                                       ledger={str(ledger)!r}, report=False):
                    time.sleep(3.0)
                print("waiting", flush=True)
        """,
            tmp_path,
            offline=False,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not server.conns:
            time.sleep(0.05)
        assert server.conns, "the provider was never asked"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        server.close()
    run = Ledger(ledger).last()
    assert run is not None
    assert "rebuilt-from-checkpoints" in run.flags
    # 200 W for ~3 s: the whole measurement, not just the first checkpoint's 0.05 s
    assert run.duration_s >= 2.9
    assert run.energy_by_component_kwh["gpu"] >= 200.0 * 2.9 / 3.6e6


# -- sensors --------------------------------------------------------------------------------------


def test_hung_gpu_read_does_not_block_exit_or_the_next_run() -> None:
    gpu = FakeGPU.volta(power_w=200.0)
    env = fake_environment(SYSTEM_CLOCK, gpus=[gpu], host=FakeHost(clock=SYSTEM_CLOCK))
    with fake_sampler(env, SYSTEM_CLOCK, threaded=True) as sampler:
        sampler.read_deadline_s = 0.3
        with carbonsdk.measure(
            "a", region="DE", intensity=300.0, interval_s=0.05, ledger=False, report=False
        ) as run:
            time.sleep(0.3)
            gpu.hang(30.0)
            t0 = time.monotonic()
        exit_s = time.monotonic() - t0
        result = run.require_result()
        assert "device-degraded:gpu:0" in result.flags
        gpu_dev = next(d for d in result.devices if d.key == "gpu:0")
        assert gpu_dev.status == "degraded" and "did not return" in (gpu_dev.error or "")
        assert result.energy_by_component_kwh["cpu"] > 0
        # bounded by a few read deadlines, far from the 30 s hang
        assert exit_s < 5.0
        t1 = time.monotonic()
        with carbonsdk.measure(
            "b", region="DE", intensity=300.0, interval_s=0.05, ledger=False, report=False
        ) as run2:
            time.sleep(0.2)
        assert time.monotonic() - t1 < 5.0
        assert run2.require_result().energy_by_component_kwh["cpu"] > 0
        gpu.recover()


def test_counter_glitch_is_dropped_and_flagged(gpu_rig: tuple[FakeClock, FakeGPU, object]) -> None:
    clock, gpu, sampler = gpu_rig
    with carbonsdk.measure("g", region="DE", intensity=300.0, ledger=False, report=False) as run:
        clock.advance(10.0)
        sampler.tick()  # type: ignore[attr-defined]
        gpu.glitch_counter(2**63)
        clock.advance(10.0)
        sampler.tick()  # type: ignore[attr-defined]
        clock.advance(10.0)
        sampler.tick()  # type: ignore[attr-defined]
    result = run.require_result()
    assert "device-glitch:gpu:0" in result.flags
    # 200 W over the two good intervals (20 s); the glitched one is dropped, not 2.56e9 kWh
    assert result.energy_by_component_kwh["gpu"] == pytest.approx(200.0 * 20.0 / 3.6e6)


# -- nesting --------------------------------------------------------------------------------------


def test_nested_run_inherits_and_links(
    gpu_rig: tuple[FakeClock, FakeGPU, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock, _, sampler = gpu_rig
    ledger = tmp_path / "l.jsonl"

    @carbonsdk.tracked(ledger=ledger)
    def step() -> None:
        clock.advance(5.0)
        sampler.tick()  # type: ignore[attr-defined]

    with carbonsdk.measure(
        "outer", region="FR", intensity=50.0, pue=1.2, ledger=ledger, report=True
    ) as outer:
        step()
    capsys.readouterr()
    inner = step.last_result  # type: ignore[attr-defined]
    outer_result = outer.require_result()
    assert inner.region.zone == "FR"
    assert inner.pue == 1.2
    assert inner.intensity_g_per_kwh == pytest.approx(50.0)
    assert inner.parent_run_id == outer_result.run_id
    assert outer_result.parent_run_id is None
    # explicit options win over the parent's
    with (
        carbonsdk.measure("outer2", region="FR", intensity=50.0, ledger=False, report=False),
        carbonsdk.measure(
            "inner2", region="DE", intensity=400.0, ledger=False, report=False
        ) as inner2,
    ):
        clock.advance(1.0)
    assert inner2.require_result().region.zone == "DE"
    assert inner2.require_result().intensity_g_per_kwh == pytest.approx(400.0)


def test_nested_run_prints_no_report_unless_asked(
    gpu_rig: tuple[FakeClock, FakeGPU, object], capsys: pytest.CaptureFixture[str]
) -> None:
    clock, _, _ = gpu_rig
    with carbonsdk.measure("outer", region="FR", intensity=50.0, ledger=False):
        with carbonsdk.measure("quiet-inner", ledger=False):
            clock.advance(1.0)
        with carbonsdk.measure("loud-inner", ledger=False, report=True):
            clock.advance(1.0)
    err = capsys.readouterr().err
    assert "quiet-inner" not in err
    assert "loud-inner" in err
    assert "outer" in err


def test_mark_reads_energy_at_its_own_time() -> None:
    gpu = FakeGPU.volta(power_w=360.0)
    env = fake_environment(SYSTEM_CLOCK, gpus=[gpu], host=FakeHost(clock=SYSTEM_CLOCK))
    # a 60 s sampling interval: without a read at the mark, the epoch would show 0 kWh
    with (
        fake_sampler(env, SYSTEM_CLOCK, threaded=True),
        carbonsdk.measure(
            "m",
            region="DE",
            intensity=300.0,
            interval_s=60.0,
            components=["gpu"],
            ledger=False,
            report=False,
        ) as run,
    ):
        time.sleep(0.5)
        mark = run.mark("epoch", epoch=1)
    assert mark is not None
    assert mark.energy_kwh >= 360.0 * 0.45 / 3.6e6


def test_estimates_are_logged_once_per_process(
    gpu_rig: tuple[FakeClock, FakeGPU, object], caplog: pytest.LogCaptureFixture
) -> None:
    from carbonsdk.run import estimates

    estimates.reset()
    caplog.set_level(logging.WARNING, logger="carbonsdk")
    for _ in range(3):
        with carbonsdk.measure("u", ledger=False, report=False):
            pass
    unknown = [r for r in caplog.records if "region is unknown" in r.getMessage()]
    assert len(unknown) == 1


def test_ledger_records_parent_for_nested_runs(
    gpu_rig: tuple[FakeClock, FakeGPU, object], tmp_path: Path
) -> None:
    clock, _, _ = gpu_rig
    ledger = tmp_path / "l.jsonl"
    with (
        carbonsdk.measure(
            "outer", region="FR", intensity=50.0, ledger=ledger, report=False
        ) as outer,
        carbonsdk.measure("inner", ledger=ledger) as inner,
    ):
        clock.advance(1.0)
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    by_id = {r.get("run_id"): r for r in records if r.get("type") == "run"}
    assert (
        by_id[inner.require_result().run_id].get("parent_run_id") == outer.require_result().run_id
    )
