"""Adding up a distributed job: aggregation rules, ledgers, the job report and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import carbonsdk
from carbonsdk.ledger import append_records, job_record, result_to_record, summary_record
from carbonsdk.ledger.job import aggregate, job_result
from carbonsdk.model.intensity import IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.model.result import DeviceResult, JobInfo, RunResult, TimelineInterval
from carbonsdk.report import render_text

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def make_run(
    run_id: str,
    *,
    node_rank: int,
    rank: int,
    hostname: str = "",
    role: str = "host",
    gpu_kwh: float = 1.0,
    cpu_kwh: float = 0.1,
    zone: str = "DE",
    intensity: float = 400.0,
    start_min: float = 0.0,
    minutes: float = 60.0,
    status: str = "completed",
    job_id: str = "slurm-1",
    world: int = 8,
    local_world: int = 4,
) -> RunResult:
    host = hostname or f"node{node_rank}"
    start = T0 + timedelta(minutes=start_min)
    end = start + timedelta(minutes=minutes)
    energy = gpu_kwh + cpu_kwh
    return RunResult(
        run_id=run_id,
        name="train",
        status=status,
        started_at=start,
        ended_at=end,
        duration_s=minutes * 60,
        energy_kwh=energy,
        energy_by_component_kwh={"gpu": gpu_kwh, "cpu": cpu_kwh},
        emissions_g=energy * intensity,
        intensity_g_per_kwh=intensity,
        pue=1.0,
        region=Region(provider=None, code=None, zone=zone, source="explicit", country=None),
        intensity_source=IntensitySource(
            provider="embedded", signal="average", basis="lifecycle", zone=zone
        ),
        timeline=(
            TimelineInterval(
                start=start,
                end=end,
                energy_kwh=energy,
                energy_by_component_kwh={"gpu": gpu_kwh, "cpu": cpu_kwh},
                intensity_g_per_kwh=intensity,
                emissions_g=energy * intensity,
            ),
        ),
        devices=(
            DeviceResult(
                component="gpu",
                key=f"gpu:{rank}",
                name="H100",
                method="counter",
                estimated=False,
                energy_kwh=gpu_kwh,
                uuid=f"GPU-{host}-{rank}",
            ),
        ),
        tags={},
        host={"hostname": host},
        job=JobInfo(
            launcher="slurm",
            job_id=job_id,
            job_id_source="SLURM_JOB_ID",
            rank=rank,
            local_rank=rank % local_world,
            world_size=world,
            local_world_size=local_world,
            node_rank=node_rank,
            node=f"{host}#{node_rank}",
            role=role,
        ),
    )


def test_aggregate_sums_hosts_each_with_its_own_zone() -> None:
    runs = [
        make_run("a", node_rank=0, rank=0, zone="FR", intensity=50.0),
        make_run("b", node_rank=1, rank=4, zone="PL", intensity=700.0, gpu_kwh=2.0),
    ]
    job = aggregate("slurm-1", runs)
    assert [n.node for n in job.nodes] == ["node0#0", "node1#1"]
    assert [n.region.zone for n in job.nodes] == ["FR", "PL"]
    assert job.energy_kwh == pytest.approx(1.1 + 2.1)
    assert job.energy_by_component_kwh == {"gpu": pytest.approx(3.0), "cpu": pytest.approx(0.2)}
    assert job.emissions_g == pytest.approx(1.1 * 50 + 2.1 * 700)
    assert job.intensity_g_per_kwh == pytest.approx(job.emissions_g / job.energy_kwh)
    assert job.expected_nodes == 2 and job.flags == ()
    assert job.status == "completed" and job.duration_s == 3600


def test_duplicates_other_jobs_and_observers_are_not_counted() -> None:
    a = make_run("a", node_rank=0, rank=0)
    summary_of_a = carbonsdk.ledger.result_from_record(summary_record(a))
    runs = [
        a,
        summary_of_a,
        a,
        make_run("x", node_rank=0, rank=0, job_id="slurm-2"),
        make_run("o", node_rank=0, rank=1, role="observer", gpu_kwh=5.0),
        make_run("b", node_rank=1, rank=4),
    ]
    job = aggregate("slurm-1", runs)
    assert sorted(r.run_id for r in job.runs) == ["a", "b"]
    assert job.energy_kwh == pytest.approx(2.2)
    assert next(r for r in job.runs if r.run_id == "a").timeline  # the full record was kept


def test_missing_nodes_failed_status_and_double_counting_warnings() -> None:
    runs = [
        make_run("a", node_rank=0, rank=0, status="failed"),
        make_run("a2", node_rank=0, rank=0, start_min=30),
    ]  # overlapping host runs
    job = aggregate("slurm-1", runs)
    assert job.status == "failed"
    assert "missing-nodes:1" in job.flags
    assert "overlapping-host-runs:node0#0" in job.flags
    same = aggregate(
        "slurm-1",
        [
            make_run("a", node_rank=0, rank=0, hostname="box"),
            make_run("b", node_rank=1, rank=4, hostname="box"),
        ],
    )
    assert "nodes-share-machine:box" in same.flags


def test_restarts_on_one_node_add_up_sequentially() -> None:
    runs = [
        make_run("a", node_rank=0, rank=0, minutes=30),
        make_run("a-restart", node_rank=0, rank=0, start_min=31, minutes=30, status="completed"),
        make_run("b", node_rank=1, rank=4, minutes=61),
    ]
    job = aggregate("slurm-1", runs)
    node0 = job.nodes[0]
    assert node0.run_ids == ("a", "a-restart") and node0.energy_kwh == pytest.approx(2.2)
    assert not any(f.startswith("overlapping") for f in job.flags)


def test_per_rank_runs_of_one_node_overlap_legitimately() -> None:
    runs = [
        make_run(f"r{i}", node_rank=0, rank=i, role="rank", cpu_kwh=0.1 if i == 0 else 0.0)
        for i in range(4)
    ]
    job = aggregate("slurm-1", runs, gathered=True)
    assert len(job.nodes) == 1 and job.nodes[0].ranks == (0, 1, 2, 3)
    assert job.nodes[0].gpu_count == 4 and job.gathered
    assert not any(f.startswith("overlapping") for f in job.flags)


def test_unknown_job_raises_naming_the_jobs_found(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    append_records(ledger, [result_to_record(make_run("a", node_rank=0, rank=0))])
    with pytest.raises(carbonsdk.LedgerError, match="jobs found: slurm-1"):
        job_result("slurm-9", ledger)
    assert job_result("slurm", ledger).job_id == "slurm-1"  # unique prefix
    with pytest.raises(carbonsdk.LedgerError, match="no ledger"):
        job_result("slurm-1", [ledger, tmp_path / "missing.jsonl"])
    with pytest.raises(carbonsdk.ConfigurationError, match="job_id="):
        job_result("  ", ledger)
    with pytest.raises(carbonsdk.ConfigurationError, match="ledgers="):
        job_result("slurm-1", [])


def test_job_result_from_several_ledgers_and_a_gathered_record(tmp_path: Path) -> None:
    a, b = make_run("a", node_rank=0, rank=0), make_run("b", node_rank=1, rank=4)
    l0, l1 = tmp_path / "n0.jsonl", tmp_path / "n1.jsonl"
    append_records(l0, [result_to_record(a)])
    append_records(l1, [result_to_record(b)])
    gathered = aggregate("slurm-1", [a, b], gathered=True)
    append_records(l0, [job_record(gathered, [summary_record(a), summary_record(b)])])
    # the Ledger's runs() ignores job records; gathered_runs() reads their members
    assert [r.run_id for r in carbonsdk.Ledger(l0).runs()] == ["a"]
    assert sorted(r.run_id for r in carbonsdk.Ledger(l0).gathered_runs()) == ["a", "b"]
    for ledgers in ([l0], [l0, l1], [l1, l0, l1]):
        job = job_result("slurm-1", ledgers)
        assert [n.node for n in job.nodes] == ["node0#0", "node1#1"]
        assert job.energy_kwh == pytest.approx(2.2)
    only_b = job_result("slurm-1", [l1])
    assert len(only_b.nodes) == 1 and "missing-nodes:1" in only_b.flags


def test_job_report_renders_totals_hosts_and_warnings() -> None:
    runs = [
        make_run("a", node_rank=0, rank=0, zone="FR", intensity=50.0),
        make_run("b", node_rank=1, rank=4, zone="PL", intensity=700.0, status="failed"),
    ]
    overlapping = make_run("c", node_rank=1, rank=4, start_min=10, zone="PL", intensity=700.0)
    job = aggregate("slurm-1", [*runs, overlapping])
    text = render_text(job, width=80)
    assert "carbonsdk · job" in text and "slurm-1" in text and "2 of 2 node(s)" in text
    assert "node0#0" in text and "FR" in text and "PL" in text
    assert "failed" in text
    assert "overlapping host-mode runs" in text
    narrow = render_text(job, width=60)
    assert max(len(line) for line in narrow.splitlines()) <= 60


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonsdk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_report_job_and_its_errors(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    l0, l1 = tmp_path / "n0.jsonl", tmp_path / "n1.jsonl"
    append_records(l0, [result_to_record(make_run("a", node_rank=0, rank=0))])
    append_records(l1, [result_to_record(make_run("b", node_rank=1, rank=4))])
    env = subprocess_env
    ok = _cli(env, "report", "--job", "slurm-1", "--ledger", str(l0), "--ledger", str(l1))
    assert ok.returncode == 0, ok.stderr
    assert "node0#0" in ok.stdout and "node1#1" in ok.stdout and "2.20 kWh" in ok.stdout
    js = _cli(env, "report", "--job", "slurm-1", "--ledger", str(l0), "--ledger", str(l1), "--json")
    data = json.loads(js.stdout)
    assert data["energy_kwh"] == pytest.approx(2.2) and len(data["nodes"]) == 2
    unknown = _cli(env, "report", "--job", "nope", "--ledger", str(l0))
    assert unknown.returncode == 1 and "no runs of job 'nope'" in unknown.stderr
    missing = _cli(env, "report", "--job", "slurm-1", "--ledger", str(tmp_path / "x.jsonl"))
    assert missing.returncode == 1 and "x.jsonl" in missing.stderr
    clash = _cli(
        env, "report", "--job", "slurm-1", "--html", str(tmp_path / "r.html"), "--ledger", str(l0)
    )
    assert clash.returncode == 2 and "--html" in clash.stderr
    two = _cli(env, "report", "--ledger", str(l0), "--ledger", str(l1))
    assert two.returncode == 2 and "--job" in two.stderr


def test_cli_runs_lists_and_filters_job_runs(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    ledger = tmp_path / "l.jsonl"
    append_records(
        ledger,
        [
            result_to_record(make_run("a", node_rank=0, rank=0)),
            result_to_record(make_run("x", node_rank=0, rank=0, job_id="slurm-2")),
        ],
    )
    out = _cli(subprocess_env, "runs", "--ledger", str(ledger), "--job", "slurm-2", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["run_id"] for r in rows] == ["x"]
    assert rows[0]["job"] == {"job_id": "slurm-2", "rank": 0, "node": "node0#0", "role": "host"}
