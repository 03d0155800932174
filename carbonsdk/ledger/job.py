"""Adding up a distributed job: the runs of its hosts, from one or several ledgers.

Every run of a torchrun / SLURM / MPI job carries the job id (``result.job.job_id``). A job's
total is the sum over its hosts; each host's emissions were already computed with its own zone's
intensity interval by interval, so the job's emissions are the plain sum. Runs are keyed by
``run_id``, so a ledger given twice, a shared ledger plus per-node copies, or a gathered
``"job"`` record beside the hosts' own records never count anything twice; of two records of
one run the host's own (with its timeline) counts, its end record over a rebuild from the
checkpoints of a copy taken while it ran, with its newest pricing (:func:`carbonsdk.reprice`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from carbonsdk.exceptions import ConfigurationError, LedgerError
from carbonsdk.model.region import Region
from carbonsdk.model.result import JobResult, NodeResult, RunResult

#: roles whose runs hold measured energy (observers record nothing)
COUNTED_ROLES = ("host", "rank")


def _status(statuses: Iterable[str]) -> str:
    seen = set(statuses)
    if "failed" in seen:
        return "failed"
    if "interrupted" in seen:
        return "interrupted"
    return "completed"


def _weighted_mean(runs: Sequence[RunResult]) -> float | None:
    energy = sum(r.energy_kwh for r in runs)
    if energy <= 0:
        return None
    return sum(r.emissions_g / max(r.pue, 1.0) for r in runs) / energy


def _overlap(a: RunResult, b: RunResult) -> bool:
    return a.started_at < b.ended_at and b.started_at < a.ended_at


def _node(node: str, runs: Sequence[RunResult]) -> NodeResult:
    comps: dict[str, float] = {}
    for r in runs:
        for c, v in r.energy_by_component_kwh.items():
            comps[c] = comps.get(c, 0.0) + v
    first = runs[0]  # the node's earliest run: its hostname, node rank and region
    assert first.job is not None
    zones = {r.region.zone for r in runs}
    region = first.region if len(zones) == 1 else Region.unknown()
    ranks = sorted({r.job.rank for r in runs if r.job is not None and r.job.rank is not None})
    return NodeResult(
        node=node,
        hostname=str(first.host.get("hostname", node.split("#")[0])),
        node_rank=first.job.node_rank,
        ranks=tuple(ranks),
        region=region,
        energy_kwh=sum(r.energy_kwh for r in runs),
        energy_by_component_kwh=comps,
        emissions_g=sum(r.emissions_g for r in runs),
        intensity_g_per_kwh=_weighted_mean(runs),
        intensity_estimated=any(r.intensity_source.estimated for r in runs),
        started_at=min(r.started_at for r in runs),
        ended_at=max(r.ended_at for r in runs),
        run_ids=tuple(r.run_id for r in runs),
        status=_status(r.status for r in runs),
        gpu_count=len(
            {d.uuid or f"{node}:{d.key}" for r in runs for d in r.devices if d.component == "gpu"}
        ),
    )


_NEVER = datetime.min.replace(tzinfo=UTC)


def _preference(run: RunResult) -> tuple[bool, bool, datetime]:
    """Which of two records of the same run a job counts: one with its timeline (a host's own
    record) over a gathered summary, then the run's own end record over one rebuilt from the
    checkpoints of an older copy of a ledger (a per-node copy taken while it ran), then the
    newest pricing (``carbonsdk.reprice``)."""
    rebuilt = "rebuilt-from-checkpoints" in run.flags
    return bool(run.timeline), not rebuilt, run.repriced_at or _NEVER


def aggregate(job_id: str, runs: Iterable[RunResult], *, gathered: bool = False) -> JobResult:
    """Add up ``runs`` (any runs; those of other jobs and observer records are ignored, duplicate
    run ids counted once) into the :class:`JobResult` of ``job_id``. Raises
    :class:`LedgerError` when none of them belongs to the job."""
    unique: dict[str, RunResult] = {}
    for r in runs:
        if r.job is None or r.job.job_id != job_id or r.job.role not in COUNTED_ROLES:
            continue
        kept = unique.get(r.run_id)
        if kept is None or _preference(r) > _preference(kept):
            unique[r.run_id] = r  # the full record over a gathered summary, newest pricing
    members = sorted(unique.values(), key=lambda r: (r.started_at, r.run_id))
    if not members:
        raise LedgerError(f"no measured runs of job {job_id!r}")
    by_node: dict[str, list[RunResult]] = {}
    for r in members:
        assert r.job is not None
        by_node.setdefault(r.job.node, []).append(r)
    nodes = tuple(
        _node(n, rs)
        for n, rs in sorted(
            by_node.items(),
            key=lambda kv: (
                kv[1][0].job.node_rank  # type: ignore[union-attr]
                if kv[1][0].job.node_rank is not None  # type: ignore[union-attr]
                else 1 << 30,
                kv[0],
            ),
        )
    )
    flags: list[str] = []
    expected = _expected_nodes(members)
    if expected is not None and len(nodes) < expected:
        flags.append(f"missing-nodes:{expected - len(nodes)}")
    if any(r.job is not None and r.job.job_id_source == "MASTER_ADDR:MASTER_PORT" for r in members):
        flags.append("job-id-not-unique")
    for node, rs in by_node.items():
        hosts = [r for r in rs if r.job is not None and r.job.role == "host"]
        if any(_overlap(a, b) for i, a in enumerate(hosts) for b in hosts[i + 1 :]):
            flags.append(f"overlapping-host-runs:{node}")
    machines: dict[str, list[str]] = {}
    for n in nodes:
        machines.setdefault(n.hostname, []).append(n.node)
    for hostname, names in machines.items():
        if len(names) > 1:
            flags.append(f"nodes-share-machine:{hostname}")
    if any(not n.region.known for n in nodes):
        flags.append("region-unknown")
    if any(n.intensity_estimated for n in nodes):
        flags.append("intensity-estimated")
    if any("rebuilt-from-checkpoints" in r.flags for r in members):
        flags.append("rebuilt-from-checkpoints")
    comps: dict[str, float] = {}
    for n in nodes:
        for c, v in n.energy_by_component_kwh.items():
            comps[c] = comps.get(c, 0.0) + v
    started = min(r.started_at for r in members)
    ended = max(r.ended_at for r in members)
    first_job = members[0].job
    assert first_job is not None
    return JobResult(
        job_id=job_id,
        launcher=first_job.launcher,
        nodes=nodes,
        runs=tuple(members),
        energy_kwh=sum(n.energy_kwh for n in nodes),
        energy_by_component_kwh=comps,
        emissions_g=sum(n.emissions_g for n in nodes),
        intensity_g_per_kwh=_weighted_mean(members),
        started_at=started,
        ended_at=ended,
        duration_s=(ended - started).total_seconds(),
        status=_status(r.status for r in members),
        expected_nodes=expected,
        flags=tuple(flags),
        gathered=gathered,
    )


def _expected_nodes(runs: Sequence[RunResult]) -> int | None:
    counts = set()
    for r in runs:
        job = r.job
        if (
            job
            and job.world_size
            and job.local_world_size
            and job.world_size % job.local_world_size == 0
        ):
            counts.add(job.world_size // job.local_world_size)
    return max(counts) if counts else None


def _ledger_paths(
    ledgers: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
) -> list[str | os.PathLike[str] | None]:
    if ledgers is None:
        return [None]
    if isinstance(ledgers, (str, os.PathLike)):
        return [ledgers]
    paths: list[str | os.PathLike[str] | None] = list(ledgers)
    if not paths:
        raise ConfigurationError(
            "ledgers=[] is not valid: expected None, a path or a list of paths"
        )
    return paths


def job_runs(
    ledgers: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
) -> list[RunResult]:
    """Every run that belongs to a distributed job in ``ledgers`` (None: the default ledger),
    including the members of gathered ``"job"`` records; duplicates are not removed here."""
    from carbonsdk.ledger.reader import Ledger

    found: list[RunResult] = []
    for path in _ledger_paths(ledgers):
        ledger = Ledger(path)
        if path is not None and not ledger.path.exists():
            raise LedgerError(f"no ledger at {ledger.path}")
        found.extend(r for r in ledger.runs() if r.job is not None)
        found.extend(ledger.gathered_runs())
    return found


def job_result(
    job_id: str,
    ledgers: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
) -> JobResult:
    """The :class:`JobResult` of ``job_id`` (or a unique prefix of it) from one or several
    ledgers (e.g. one per node on a shared filesystem; None: the default ledger). Raises
    :class:`LedgerError` naming the job ids that exist when none matches."""
    if not isinstance(job_id, str) or not job_id.strip():
        raise ConfigurationError(
            f"job_id={job_id!r} is not valid: expected a job id string "
            "(see `carbonsdk runs --json`, field job.job_id)"
        )
    job_id = job_id.strip()
    runs = job_runs(ledgers)
    ids = sorted({r.job.job_id for r in runs if r.job is not None and r.job.job_id})
    if job_id not in ids:
        matches = [i for i in ids if i.startswith(job_id)]
        if len(matches) == 1:
            job_id = matches[0]
        elif matches:
            raise LedgerError(f"job id prefix {job_id!r} is ambiguous: {', '.join(matches)}")
        else:
            known = ", ".join(ids[-10:]) if ids else "none"
            raise LedgerError(f"no runs of job {job_id!r} in the ledger(s); jobs found: {known}")
    return aggregate(job_id, runs)


__all__ = ["COUNTED_ROLES", "aggregate", "job_result", "job_runs"]
