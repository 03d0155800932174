"""Who a run is: its default name, its place in a distributed job (and the launch's warnings),
and the identity its result is built with (:class:`~carbonsdk.run.result_builder.Identity`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carbonsdk.distributed import Launch
    from carbonsdk.model.result import JobInfo
    from carbonsdk.run.result_builder import Identity
    from carbonsdk.run.run import Run


def script_name() -> str:
    """A run's default name: the script's file name, ``"python"`` for ``-c`` or a REPL."""
    import sys
    from pathlib import Path

    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return "python" if argv0 in ("", "-c", "-") else Path(argv0).name


def job_info(launch: Launch, role: str) -> JobInfo | None:
    """The run's place in the job ``launch`` (None when not launched distributed)."""
    if not launch.distributed:
        return None
    from carbonsdk.model.result import JobInfo

    return JobInfo(
        launcher=launch.launcher,
        job_id=launch.job_id,
        job_id_source=launch.job_id_source,
        rank=launch.rank,
        local_rank=launch.local_rank,
        world_size=launch.world_size,
        local_world_size=launch.local_world_size,
        node_rank=launch.node_rank,
        node=launch.node,
        role=role,
        restart_count=launch.restart_count,
    )


def warn_launch(launch: Launch, warned: set[str]) -> None:
    """Log each of ``launch``'s warnings that is not in ``warned`` yet (and add it): once per
    process, not once per ``@tracked`` call."""
    import logging

    for warning in launch.warnings:
        if warning not in warned:
            warned.add(warning)
            logging.getLogger("carbonsdk").warning("carbonsdk: %s", warning)


def identity_of(run: Run) -> Identity:
    """What of ``run`` goes into its result besides the measurement: id, name, start (UTC
    epoch s), PUE, interval (s), tags, devices, job, parent, and its own flags (``run.flags``,
    ``marks-dropped:N``, ``job-id-not-unique``)."""
    from carbonsdk.run.result_builder import Identity

    flags = list(run.flags)
    if run.marks_dropped:
        flags.append(f"marks-dropped:{run.marks_dropped}")
    if run.launch.distributed and not run.launch.job_id_unique:
        flags.append("job-id-not-unique")
    return Identity(
        run_id=run.run_id,
        name=run.name,
        start_s=run.start_s,
        pue=run.options.pue,
        interval_s=run.options.interval_s,
        tags=run.options.tags,
        devices=run.devices,
        job=job_info(run.launch, run.role),
        parent_run_id=run.parent.run_id if run.parent is not None else None,
        flags=tuple(flags),
    )
