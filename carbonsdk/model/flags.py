"""The flags vocabulary: every machine-readable warning a result, a plan or a job can carry,
one name per idea. A flag is either one of :data:`FLAGS` or ``PREFIX:detail`` with a prefix of
:data:`PARAMETRISED` (``device-degraded:gpu:0``, ``non-finite:energy_kwh``)."""

from __future__ import annotations

#: flags without a parameter, and what each means
FLAGS: dict[str, str] = {
    "region-unknown": "no region could be determined; the world average was used",
    "world-average": "the world-average intensity was used (the zone has no data)",
    "intensity-estimated": "some intensity used was an estimate (typical year, filled gap, "
    "forecast, annual average), not a measurement for that time",
    "intensity-fallback": "the chosen intensity provider failed; a fallback series was used",
    "intensity-production-based": "the intensity was derived from the zone's own generation "
    "mix (imports ignored)",
    "intensity-no-live-source": "intensity='auto' found no configured live source covering the "
    "zone; embedded data was used",
    "typical-fill": "a plan's series was completed with the embedded typical year",
    "per-kwh": "a plan was computed per kWh (no energy profile)",
    "rebuilt-from-checkpoints": "the run never finished; it was rebuilt from its checkpoints",
    "ledger-write-failed": "the run's record could not be written to the ledger",
    "ledger-pending": "the run's record is kept in memory and retried (next write, exit)",
    "ledger-lock-timeout": "the ledger lock was busy past the bounded wait",
    "observer-rank": "another rank of this host measured it; this rank recorded nothing",
    "job-id-not-unique": "the launcher's job id may be shared by other jobs",
    "attribution-failed": "the process-tree attribution could not be computed",
    "sinks-failed": "the tracker sinks could not be called",
    "estimated-components": "some component's energy comes from a model",
    "repriced": "the run was priced again later (carbonsdk.reprice) from its stored energy",
    "attributed-emissions-rescaled": "a repricing rescaled the process-attributed emissions by "
    "the run's new emissions ratio",
}

#: flag prefixes that take a parameter after ``:``
PARAMETRISED: dict[str, str] = {
    "device-degraded": "the device (its key) stopped reporting; its energy ends there",
    "device-glitch": "an implausible reading of the device was dropped from its interval",
    "non-finite": "a non-finite number (the field) was read or written as null",
    "marks-dropped": "marks beyond the cap (their count) were not kept",
    "checkpoints-unreadable": "that many checkpoints of a rebuilt run could not be decoded",
    "signal": "the run was interrupted by that signal (the program's own handler ran)",
    "sink-failed": "that tracker sink failed",
    "missing-nodes": "that many nodes of a job have no record",
    "overlapping-host-runs": "runs of that node overlap in time (possible double count)",
    "nodes-share-machine": "several nodes ran on that machine",
}


def is_known(flag: str) -> bool:
    """True when ``flag`` belongs to the vocabulary."""
    if flag in FLAGS:
        return True
    prefix, sep, detail = flag.partition(":")
    return bool(sep and detail) and prefix in PARAMETRISED


def describe(flag: str) -> str:
    """What ``flag`` means, in words (the flag itself when it is not in the vocabulary)."""
    if flag in FLAGS:
        return FLAGS[flag]
    prefix, _, detail = flag.partition(":")
    if prefix in PARAMETRISED:
        return f"{PARAMETRISED[prefix]} ({detail})"
    return flag
