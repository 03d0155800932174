"""Distributed launches: who this process is in a torchrun / SLURM / MPI job, and who measures.

:func:`detect_launch` reads only the environment the launchers set (nothing is imported, no
network): ranks, the node, and a job id shared by every rank of the job so that their records
group. :func:`role_for` decides what this process measures so that nothing is counted twice:

* host mode (the default): local rank 0 measures the whole host (its GPUs, CPU and RAM) and the
  other ranks of the host are observers that record nothing. Where the launcher binds a
  different GPU set to each task (SLURM ``--gpus-per-task``: a task sees fewer GPUs than the
  step has on the node), host mode switches to per-rank GPUs, since no single process could see
  them all;
* per-rank mode (``measure(per_rank=True)``): every rank measures its own GPU; local rank 0 also
  measures the host's CPU and RAM.

:func:`gather_records` is the optional end-of-run gather over ``torch.distributed`` (imported
only when the program already imported torch).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import attrs

log = logging.getLogger("carbonsdk")

#: ``CARBONSDK_JOB_ID`` overrides the job id derived from the launcher
JOB_ID_ENV = "CARBONSDK_JOB_ID"


@attrs.frozen
class Launch:
    """This process's place in a launch, from the launcher's environment variables.

    ``launcher``: ``"torchrun"``, ``"slurm"``, ``"mpi"`` or ``"none"`` (plain process; also a
    single-task SLURM batch script). ``job_id``: shared by every rank of the job, None when the
    launcher gives nothing to derive it from (``job_id_source`` says where it came from;
    ``job_id_unique`` is False when it may repeat across jobs). ``gpu_binding``: ``"per-task"``
    when the launcher gave each task its own GPUs (so host mode measures per rank), else
    ``"shared"``. ``warnings``: what the user should know (non-unique id, unknown local rank).
    """

    launcher: str
    job_id: str | None
    job_id_source: str
    job_id_unique: bool
    rank: int | None
    local_rank: int | None
    world_size: int | None
    local_world_size: int | None
    node_rank: int | None
    hostname: str
    restart_count: int = 0
    gpu_binding: str = "shared"
    warnings: tuple[str, ...] = ()

    @property
    def distributed(self) -> bool:
        """True inside a launch with more than one process (or any launcher's job id)."""
        return self.launcher != "none" or (self.world_size or 1) > 1

    @property
    def node(self) -> str:
        """The host's name within the job: ``hostname``, with ``#<node rank>`` when known (two
        nodes of one job may share a machine, as in a localhost test)."""
        if self.node_rank is None:
            return self.hostname
        return f"{self.hostname}#{self.node_rank}"


def _int(environ: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        raw = environ.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            return int(raw.strip())
        except ValueError:
            continue
    return None


def _slurm_tasks_on_node(environ: Mapping[str, str]) -> int | None:
    """Tasks on this node from ``SLURM_NTASKS_PER_NODE`` / ``SLURM_TASKS_PER_NODE`` (formats
    ``"4"``, ``"4(x2)"``, ``"2(x2),1"``: the entry for ``SLURM_NODEID``)."""
    direct = _int(environ, "SLURM_NTASKS_PER_NODE")
    if direct is not None:
        return direct
    spec = environ.get("SLURM_STEP_TASKS_PER_NODE") or environ.get("SLURM_TASKS_PER_NODE")
    if not spec:
        return None
    node_id = _int(environ, "SLURM_NODEID") or 0
    counts: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if not m:
            return None
        counts.extend([int(m.group(1))] * int(m.group(2) or 1))
    return counts[node_id] if node_id < len(counts) else None


def _count_gpus(value: str | None) -> int | None:
    if value is None:
        return None
    items = [v for v in value.split(",") if v.strip()]
    if not items or items == ["NoDevFiles"]:
        return 0
    return len(items)


def detect_launch(
    environ: Mapping[str, str] | None = None, *, hostname: str | None = None
) -> Launch:
    """This process's launch from ``environ`` (default: ``os.environ``).

    Ranks come from torchrun/torchelastic (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
    ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``) first, then MPI (``OMPI_COMM_WORLD_*``, ``PMI_RANK``,
    ``MPI_LOCALRANKID``), then SLURM (``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NTASKS``,
    ``SLURM_NODEID``); torchrun started by srun keeps its own ranks and takes SLURM's job id.
    The job id: ``CARBONSDK_JOB_ID``, else ``slurm-<SLURM_JOB_ID>``, else
    ``torchelastic-<TORCHELASTIC_RUN_ID>``, else the MPI job's namespace; never guessed.
    """
    env = os.environ if environ is None else environ
    host = hostname or socket.gethostname()
    warnings: list[str] = []
    is_torchrun = "TORCHELASTIC_RUN_ID" in env or (
        "LOCAL_RANK" in env and "RANK" in env and "WORLD_SIZE" in env
    )
    is_ompi = "OMPI_COMM_WORLD_RANK" in env
    is_pmi = "PMI_RANK" in env
    is_slurm = "SLURM_JOB_ID" in env and "SLURM_PROCID" in env

    rank = local_rank = world = local_world = node_rank = None
    launcher = "none"
    if is_torchrun:
        launcher = "torchrun"
        rank = _int(env, "RANK")
        local_rank = _int(env, "LOCAL_RANK")
        world = _int(env, "WORLD_SIZE")
        local_world = _int(env, "LOCAL_WORLD_SIZE")
        node_rank = _int(env, "GROUP_RANK")
    elif is_ompi or is_pmi:
        launcher = "mpi"
        rank = _int(env, "OMPI_COMM_WORLD_RANK", "PMI_RANK")
        local_rank = _int(env, "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK")
        world = _int(env, "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
        local_world = _int(env, "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE")
        node_rank = _int(env, "OMPI_COMM_WORLD_NODE_RANK")
        if local_rank is None and is_slurm:
            local_rank = _int(env, "SLURM_LOCALID")
        if node_rank is None and is_slurm:
            node_rank = _int(env, "SLURM_NODEID")
    elif is_slurm:
        rank = _int(env, "SLURM_PROCID")
        local_rank = _int(env, "SLURM_LOCALID")
        world = _int(env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")
        local_world = _slurm_tasks_on_node(env)
        node_rank = _int(env, "SLURM_NODEID")
        launcher = "slurm"
    if launcher == "none" and "SLURM_JOB_ID" in env:
        launcher = "slurm"  # a batch script without srun: one process of a SLURM job
        rank, local_rank, world, local_world = 0, 0, 1, 1
        node_rank = _int(env, "SLURM_NODEID")

    job_id: str | None = None
    source = "none"
    unique = True
    override = env.get(JOB_ID_ENV, "").strip()
    run_id = env.get("TORCHELASTIC_RUN_ID", "").strip()
    if override:
        job_id, source = override, JOB_ID_ENV
    elif env.get("SLURM_JOB_ID", "").strip():
        job_id, source = f"slurm-{env['SLURM_JOB_ID'].strip()}", "SLURM_JOB_ID"
    elif run_id and run_id != "none":
        job_id, source = f"torchelastic-{run_id}", "TORCHELASTIC_RUN_ID"
    elif launcher == "torchrun" and env.get("MASTER_ADDR") and env.get("MASTER_PORT"):
        job_id = f"torchrun-{env['MASTER_ADDR']}-{env['MASTER_PORT']}"
        source, unique = "MASTER_ADDR:MASTER_PORT", False
        warnings.append(
            f"torchrun gave no rendezvous id, so the job id {job_id!r} is derived from the "
            "master address and may repeat across jobs: pass `torchrun --rdzv-id=<id>` or set "
            f"{JOB_ID_ENV}"
        )
    elif launcher == "mpi":
        ns = env.get("PMIX_NAMESPACE") or env.get("OMPI_MCA_ess_base_jobid")
        if ns:
            job_id, source = (
                f"mpi-{ns}",
                "PMIX_NAMESPACE" if "PMIX_NAMESPACE" in env else "OMPI_MCA_ess_base_jobid",
            )
    if job_id is None and launcher != "none":
        source = "unknown"
        warnings.append(
            f"the {launcher} launch gives no job id, so this job's records cannot be grouped: "
            f"set {JOB_ID_ENV} to the same value on every rank"
        )
    if launcher != "none" and local_rank is None and job_id is None:
        warnings.append(
            f"the {launcher} launch says neither which rank is local rank 0 nor a job id, so "
            "every process measures its own host and a host running several ranks is counted "
            f"more than once: set {JOB_ID_ENV} (the processes of a job then elect one measurer "
            "per machine) or LOCAL_RANK"
        )

    binding = "shared"
    if "SLURM_JOB_ID" in env and (local_world or 1) > 1:
        node_gpus = _count_gpus(env.get("SLURM_STEP_GPUS") or env.get("SLURM_JOB_GPUS"))
        mine = _count_gpus(env.get("CUDA_VISIBLE_DEVICES"))
        if node_gpus is not None and mine is not None and 0 < mine < node_gpus:
            binding = "per-task"
    return Launch(
        launcher=launcher,
        job_id=job_id,
        job_id_source=source,
        job_id_unique=unique,
        rank=rank,
        local_rank=local_rank,
        world_size=world,
        local_world_size=local_world,
        node_rank=node_rank,
        hostname=host,
        restart_count=_int(env, "TORCHELASTIC_RESTART_COUNT") or 0,
        gpu_binding=binding,
        warnings=tuple(warnings),
    )


_elected: dict[str, Any] = {}


def elect_host_measurer(job_id: str, lock_dir: str | None = None) -> bool:
    """For launches that do not say which rank is local rank 0: the first process of job
    ``job_id`` on this machine to take an exclusive ``flock`` on
    ``<tmp>/carbonsdk-<uid>/<job id>.host.lock`` measures the host; it keeps the lock (and the
    role) until it exits. True when this process holds it. Any failure to lock returns True
    (measure rather than drop), with a warning."""
    if job_id in _elected:
        return _elected[job_id] is not None
    try:
        import fcntl
        import tempfile

        base = lock_dir or os.path.join(tempfile.gettempdir(), f"carbonsdk-{os.getuid()}")
        os.makedirs(base, mode=0o700, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", job_id)[:200]
        fd = os.open(os.path.join(base, f"{safe}.host.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            _elected[job_id] = None
            return False
        _elected[job_id] = fd  # held (and inherited by nothing: O_CLOEXEC is the default)
        return True
    except Exception as exc:  # noqa: BLE001 - no fcntl (Windows), unwritable tmp: measure, and say so
        log.warning(
            "carbonsdk: could not elect this host's measuring process (%s); this "
            "process measures the host",
            exc,
        )
        _elected[job_id] = -1
        return True


def role_for(launch: Launch, *, per_rank: bool) -> str:
    """What this process measures: ``"host"`` (all of the host), ``"rank"`` (its own GPU, plus
    CPU and RAM on local rank 0) or ``"observer"`` (nothing: another rank of the host measures).
    A plain process is ``"host"``; per-task GPU binding turns host mode into ``"rank"``. When
    the launcher does not give the local rank, the processes of one job on a machine elect the
    measurer with a lock file (:func:`elect_host_measurer`)."""
    if not launch.distributed:
        return "host"
    if launch.local_rank is None:
        if launch.job_id is None or per_rank:
            return "host"
        return "host" if elect_host_measurer(launch.job_id) else "observer"
    if per_rank or launch.gpu_binding == "per-task":
        return "rank"
    return "host" if launch.local_rank == 0 else "observer"


def own_gpu_indices(launch: Launch, visible: Sequence[int]) -> tuple[int, ...]:
    """The process-visible GPU indices a ``"rank"`` process measures: all of them when it sees
    one or was bound its own (per-task binding), else the one at ``LOCAL_RANK`` (torch's
    ``cuda:LOCAL_RANK`` convention; modulo the number visible)."""
    ordered = sorted(visible)
    if not ordered:
        return ()
    if len(ordered) == 1 or launch.gpu_binding == "per-task" or launch.local_rank is None:
        return tuple(ordered)
    return (ordered[launch.local_rank % len(ordered)],)


# -- gathering over torch.distributed -----------------------------------------------------------


def torch_distributed_ready() -> bool:
    """True when the program imported torch and initialised ``torch.distributed`` (torch is never
    imported here: a program that did not import it has no process group)."""
    if "torch" not in sys.modules:
        return False
    try:
        import torch.distributed as dist

        return bool(dist.is_available() and dist.is_initialized())
    except Exception:  # noqa: BLE001 - the launcher environment raises anything: degrade
        return False


def gather_records(
    record: Mapping[str, Any] | None, *, timeout_s: float
) -> list[Mapping[str, Any]] | None:
    """All ranks call this with their run's summary record (None for an observer); global rank 0
    gets every rank's record, in rank order, the others get None. Uses ``torch.distributed``'s
    ``gather_object`` on a dedicated gloo group created with a ``timeout_s`` deadline (so it works
    beside NCCL and a missing rank costs at most ``timeout_s``). Raises whatever torch raises;
    the caller degrades."""
    import torch.distributed as dist

    group = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
    try:
        rank = dist.get_rank()
        world = dist.get_world_size()
        out: list[Any] | None = [None] * world if rank == 0 else None
        dist.gather_object(dict(record) if record is not None else None, out, dst=0, group=group)
        if out is None:
            return None
        return [r for r in out if r is not None]
    finally:
        try:
            dist.destroy_process_group(group)
        except Exception:
            log.debug("carbonsdk: could not destroy the gather group", exc_info=True)


__all__ = [
    "JOB_ID_ENV",
    "Launch",
    "detect_launch",
    "elect_host_measurer",
    "gather_records",
    "own_gpu_indices",
    "role_for",
    "torch_distributed_ready",
]
