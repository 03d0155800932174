"""Launcher detection (torchrun, SLURM, MPI) and who measures: pure functions over an
environment mapping, plus measure() under a simulated launch with fake hardware."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import carbonsdk
from carbonsdk.distributed import detect_launch, own_gpu_indices, role_for
from carbonsdk.sampler import Sampler, set_sampler
from carbonsdk.sensors import discover
from carbonsdk.testing import FakeClock, FakeGPU, FakeHost, fake_environment

TORCHRUN = {
    "RANK": "3",
    "LOCAL_RANK": "1",
    "WORLD_SIZE": "8",
    "LOCAL_WORLD_SIZE": "4",
    "GROUP_RANK": "0",
    "TORCHELASTIC_RUN_ID": "abc123",
    "MASTER_ADDR": "n0",
    "MASTER_PORT": "29500",
    "TORCHELASTIC_RESTART_COUNT": "2",
}


def test_plain_process_is_not_distributed() -> None:
    launch = detect_launch({}, hostname="box")
    assert launch.launcher == "none" and not launch.distributed
    assert launch.job_id is None and launch.warnings == ()
    assert role_for(launch, per_rank=False) == "host"
    assert role_for(launch, per_rank=True) == "host"


def test_torchrun_ranks_job_id_and_roles() -> None:
    launch = detect_launch(TORCHRUN, hostname="gpu-a")
    assert launch.launcher == "torchrun"
    assert (
        launch.rank,
        launch.local_rank,
        launch.world_size,
        launch.local_world_size,
        launch.node_rank,
    ) == (3, 1, 8, 4, 0)
    assert launch.job_id == "torchelastic-abc123" and launch.job_id_unique
    assert launch.restart_count == 2
    assert launch.node == "gpu-a#0"
    assert role_for(launch, per_rank=False) == "observer"
    assert role_for(launch, per_rank=True) == "rank"
    zero = detect_launch({**TORCHRUN, "LOCAL_RANK": "0", "RANK": "0"}, hostname="gpu-a")
    assert role_for(zero, per_rank=False) == "host"


def test_torchrun_without_rendezvous_id_warns_and_derives_from_master() -> None:
    launch = detect_launch({**TORCHRUN, "TORCHELASTIC_RUN_ID": "none"}, hostname="h")
    assert launch.job_id == "torchrun-n0-29500"
    assert not launch.job_id_unique
    assert any("--rdzv-id" in w for w in launch.warnings)


def test_job_id_precedence_override_then_slurm() -> None:
    env = {**TORCHRUN, "SLURM_JOB_ID": "4242", "SLURM_PROCID": "0"}
    launch = detect_launch(env, hostname="h")
    # torchrun started by srun: torchrun's ranks, SLURM's job id
    assert launch.launcher == "torchrun" and launch.rank == 3
    assert launch.job_id == "slurm-4242" and launch.job_id_source == "SLURM_JOB_ID"
    forced = detect_launch({**env, "CARBONSDK_JOB_ID": "exp-7"}, hostname="h")
    assert forced.job_id == "exp-7" and forced.job_id_source == "CARBONSDK_JOB_ID"


def test_slurm_srun_tasks_per_node_formats() -> None:
    env = {
        "SLURM_JOB_ID": "77",
        "SLURM_PROCID": "5",
        "SLURM_LOCALID": "1",
        "SLURM_NTASKS": "6",
        "SLURM_NODEID": "1",
        "SLURM_TASKS_PER_NODE": "4,2",
    }
    launch = detect_launch(env, hostname="c1")
    assert launch.launcher == "slurm"
    assert (launch.rank, launch.local_rank, launch.world_size, launch.node_rank) == (5, 1, 6, 1)
    assert launch.local_world_size == 2  # node 1's entry of "4,2"
    assert detect_launch({**env, "SLURM_TASKS_PER_NODE": "3(x2)"}).local_world_size == 3
    assert detect_launch({**env, "SLURM_NTASKS_PER_NODE": "8"}).local_world_size == 8
    assert launch.job_id == "slurm-77"


def test_slurm_batch_script_without_srun_is_one_process() -> None:
    launch = detect_launch({"SLURM_JOB_ID": "9"}, hostname="c1")
    assert launch.launcher == "slurm" and launch.world_size == 1 and launch.local_rank == 0
    assert role_for(launch, per_rank=False) == "host"


def test_slurm_per_task_gpu_binding_measures_per_rank() -> None:
    env = {
        "SLURM_JOB_ID": "1",
        "SLURM_PROCID": "1",
        "SLURM_LOCALID": "1",
        "SLURM_NTASKS": "4",
        "SLURM_NODEID": "0",
        "SLURM_NTASKS_PER_NODE": "4",
        "SLURM_STEP_GPUS": "0,1,2,3",
        "CUDA_VISIBLE_DEVICES": "1",
    }
    launch = detect_launch(env, hostname="c1")
    assert launch.gpu_binding == "per-task"
    # no single task sees all GPUs, so host mode would drop three of them: every rank measures
    assert role_for(launch, per_rank=False) == "rank"
    assert own_gpu_indices(launch, [0]) == (0,)
    shared = detect_launch({**env, "CUDA_VISIBLE_DEVICES": "0,1,2,3"}, hostname="c1")
    assert shared.gpu_binding == "shared" and role_for(shared, per_rank=False) == "observer"


def test_openmpi_and_mpich_variables() -> None:
    ompi = detect_launch(
        {
            "OMPI_COMM_WORLD_RANK": "2",
            "OMPI_COMM_WORLD_SIZE": "4",
            "OMPI_COMM_WORLD_LOCAL_RANK": "0",
            "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
            "OMPI_COMM_WORLD_NODE_RANK": "1",
            "PMIX_NAMESPACE": "prterun-x-1@1",
        },
        hostname="m1",
    )
    assert ompi.launcher == "mpi" and (ompi.rank, ompi.local_rank, ompi.node_rank) == (2, 0, 1)
    assert ompi.job_id == "mpi-prterun-x-1@1"
    assert role_for(ompi, per_rank=False) == "host"
    mpich = detect_launch({"PMI_RANK": "1", "PMI_SIZE": "2"}, hostname="m1")
    assert mpich.launcher == "mpi" and mpich.local_rank is None and mpich.job_id is None
    # unknown local rank and job id: said loudly, every process measures its own host
    assert any("CARBONSDK_JOB_ID" in w for w in mpich.warnings)
    assert any("local rank 0" in w for w in mpich.warnings)
    assert role_for(mpich, per_rank=False) == "host"


def test_own_gpu_follows_local_rank() -> None:
    launch = detect_launch(TORCHRUN, hostname="h")  # local rank 1
    assert own_gpu_indices(launch, [0, 1, 2, 3]) == (1,)
    assert own_gpu_indices(launch, [0, 1, 2, 3, 4, 5, 6, 7][:1]) == (0,)
    assert own_gpu_indices(launch, []) == ()
    five = detect_launch({**TORCHRUN, "LOCAL_RANK": "5"}, hostname="h")
    assert own_gpu_indices(five, [0, 1, 2, 3]) == (1,)  # cuda:LOCAL_RANK modulo visible


# -- measure() under a simulated launch --------------------------------------------------------


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeClock, Sampler]]:
    clock = FakeClock()
    env = fake_environment(
        clock,
        gpus=[FakeGPU.volta(300.0), FakeGPU.volta(100.0)],
        host=FakeHost(cpu_count=4, busy_fraction=0.5, clock=clock),
    )
    sampler = Sampler(clock=clock, discover=lambda c, m: discover(c, env, m), threaded=False)
    previous = set_sampler(sampler)
    yield clock, sampler
    set_sampler(previous)


def _launch_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in {**TORCHRUN, **values}.items():
        monkeypatch.setenv(key, value)


def test_observer_rank_records_nothing(
    rig: tuple[FakeClock, Sampler], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, sampler = rig
    _launch_env(monkeypatch)
    ledger = tmp_path / "l.jsonl"
    with carbonsdk.measure("t", region="DE", ledger=ledger, report=False) as run:
        clock.advance(10.0)
        sampler.tick()
        run.mark("epoch", epoch=0)
    result = run.result
    assert run.role == "observer" and result is not None
    assert result.energy_kwh == 0.0 and result.devices == () and result.timeline == ()
    assert set(result.not_measured) == {"gpu", "cpu", "ram"}
    assert "local rank 0" in result.not_measured["gpu"]
    assert result.job is not None and result.job.role == "observer"
    assert result.job.job_id == "torchelastic-abc123" and result.job.rank == 3
    assert not ledger.exists()  # nothing that could be counted twice
    assert sampler.ticks == 1  # the observer never subscribed: only the explicit tick


def test_host_rank_measures_everything_and_records_the_job(
    rig: tuple[FakeClock, Sampler], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, sampler = rig
    _launch_env(monkeypatch, LOCAL_RANK="0", RANK="0")
    ledger = tmp_path / "l.jsonl"
    with carbonsdk.measure("t", region="DE", ledger=ledger, report=False, intensity=100.0) as run:
        clock.advance(10.0)
        sampler.tick()
    result = run.result
    assert run.role == "host" and result is not None
    assert result.energy_by_component_kwh["gpu"] == pytest.approx(400.0 * 10 / 3.6e6)
    assert {d.index for d in result.devices if d.component == "gpu"} == {0, 1}
    back = carbonsdk.Ledger(ledger).last()
    assert back is not None and back.job == result.job
    assert back.job is not None and back.job.role == "host" and back.job.restart_count == 2


def test_per_rank_mode_own_gpu_and_cpu_on_local_rank0_only(
    rig: tuple[FakeClock, Sampler], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, sampler = rig
    _launch_env(monkeypatch)  # local rank 1
    with carbonsdk.measure("t", region="DE", ledger=False, report=False, per_rank=True) as run:
        clock.advance(10.0)
        sampler.tick()
    result = run.result
    assert result is not None and run.role == "rank"
    assert [d.index for d in result.devices] == [1]  # cuda:1, the 100 W GPU
    assert result.energy_by_component_kwh == {"gpu": pytest.approx(100.0 * 10 / 3.6e6)}
    assert "per-rank mode" in result.not_measured["cpu"]
    assert "per-rank mode" in result.not_measured["ram"]


def test_explicit_gpus_win_over_the_local_rank(
    rig: tuple[FakeClock, Sampler], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, sampler = rig
    _launch_env(monkeypatch)
    with carbonsdk.measure(
        "t", region="DE", ledger=False, report=False, per_rank=True, gpus=[0]
    ) as run:
        clock.advance(5.0)
        sampler.tick()
    assert run.result is not None
    assert [d.index for d in run.result.devices] == [0]


def test_gather_without_a_process_group_degrades_to_the_local_report(
    rig: tuple[FakeClock, Sampler],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, sampler = rig
    _launch_env(monkeypatch, LOCAL_RANK="0", RANK="0")
    with carbonsdk.measure("solo", region="DE", ledger=False, gather=True) as run:
        clock.advance(5.0)
        sampler.tick()
    assert run.result is not None and run.job_result is None
    assert "torch.distributed is not initialised" in caplog.text
    assert "carbonsdk · solo" in capsys.readouterr().err  # its own report instead


def test_marks_record_energy_so_far_and_validate(
    rig: tuple[FakeClock, Sampler], tmp_path: Path
) -> None:
    clock, sampler = rig
    ledger = tmp_path / "l.jsonl"
    with carbonsdk.measure(
        "t", region="DE", ledger=ledger, report=False, components=("gpu",)
    ) as run:
        for epoch in range(3):
            clock.advance(10.0)
            sampler.tick()
            run.mark("epoch_end", epoch=epoch, loss=1.0 / (epoch + 1))
        with pytest.raises(carbonsdk.ConfigurationError, match="mark data x="):
            run.mark("bad", x=[1, 2])
        with pytest.raises(carbonsdk.ConfigurationError, match="mark label"):
            run.mark("")
        with pytest.raises(carbonsdk.ConfigurationError, match="finite"):
            run.mark("nan", loss=float("nan"))
    result = run.result
    assert result is not None and result.job is None
    assert [m.data["epoch"] for m in result.marks] == [0, 1, 2]
    per_epoch = [400.0 * 10 / 3.6e6 * (i + 1) for i in range(3)]
    assert [m.energy_kwh for m in result.marks] == pytest.approx(per_epoch)
    assert result.marks[1].at > result.marks[0].at
    back = carbonsdk.Ledger(ledger).last()
    assert back is not None and back.marks == result.marks
    record = json.loads(ledger.read_text().splitlines()[-1])
    assert record["marks"][2] == {
        "at": record["marks"][2]["at"],
        "label": "epoch_end",
        "energy_kwh": pytest.approx(per_epoch[2]),
        "data": {"epoch": 2, "loss": pytest.approx(1 / 3)},
    }
    with pytest.raises(RuntimeError, match="inside a running"):
        run.mark("late")


def test_marks_are_capped(rig: tuple[FakeClock, Sampler], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("carbonsdk.run.run.MAX_MARKS", 5)
    with carbonsdk.measure("t", region="DE", ledger=False, report=False) as run:
        kept = [run.mark("step", step=i) for i in range(8)]
    assert run.result is not None
    assert len(run.result.marks) == 5 and kept[5:] == [None, None, None]
    assert "marks-dropped:3" in run.result.flags


@pytest.mark.parametrize(
    ("option", "value"),
    [("per_rank", "yes"), ("gather", 1), ("attribution", "thread"), ("attribution", True)],
)
def test_new_options_are_validated(option: str, value: object) -> None:
    with pytest.raises(carbonsdk.ConfigurationError, match=f"{option}="):
        carbonsdk.measure("t", **{option: value})  # type: ignore[arg-type]


def test_machine_election_when_the_local_rank_is_unknown(
    tmp_path: Path, subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from carbonsdk import distributed

    monkeypatch.setattr(distributed, "_elected", {})
    assert distributed.elect_host_measurer("mpi-job/7", str(tmp_path)) is True
    assert distributed.elect_host_measurer("mpi-job/7", str(tmp_path)) is True  # kept
    code = (
        "import sys; from carbonsdk.distributed import elect_host_measurer as e; "
        f"print(e('mpi-job/7', {str(tmp_path)!r}), e('other', {str(tmp_path)!r}))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # another process of the same job on this machine observes; another job measures its own
    assert other.stdout.split() == ["False", "True"]
    launch = detect_launch(
        {"PMI_RANK": "1", "PMI_SIZE": "2", "CARBONSDK_JOB_ID": "mpi-job/7"}, hostname="m"
    )
    assert launch.warnings == ()
    assert role_for(launch, per_rank=False) == "host"  # this process holds the lock


def test_launch_warnings_are_logged_once_per_process(
    rig: tuple[FakeClock, Sampler],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("carbonsdk.run.run._launch_warned", set())
    _launch_env(monkeypatch, TORCHELASTIC_RUN_ID="none", LOCAL_RANK="0", RANK="0")

    @carbonsdk.tracked(region="DE", ledger=False, report=False)
    def step() -> None:
        pass

    for _ in range(3):
        step()
    assert caplog.text.count("--rdzv-id") == 1
    assert step.last_result.flags.count("job-id-not-unique") == 1  # type: ignore[attr-defined]
