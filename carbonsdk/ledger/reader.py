"""Reading the ledger: :class:`Ledger` (runs, lookups, nested runs, tables); reading is total
(a line that does not decode is skipped and counted, never raised)."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from carbonsdk.exceptions import LedgerError
from carbonsdk.ledger.decode import SCHEMA, RecordError, Repricing
from carbonsdk.ledger.frame import RECORD_COLUMNS, run_records
from carbonsdk.ledger.rebuild import _Checkpoint, _decode_checkpoint, _rebuild
from carbonsdk.ledger.schema import repricing_from_record, result_from_record
from carbonsdk.ledger.store import _resolve
from carbonsdk.model.result import (
    RunResult,
)

log = logging.getLogger("carbonsdk")


# -- reading ------------------------------------------------------------------------------------


def _lookup(runs: list[RunResult], run_id: str, path: object) -> RunResult:
    """The run of ``runs`` with this id, else the only one it is a prefix of."""
    exact = [r for r in runs if r.run_id == run_id]
    if exact:
        return exact[0]
    matches = [r for r in runs if run_id and r.run_id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LedgerError(f"no run {run_id!r} in {path}")
    raise LedgerError(f"run id prefix {run_id!r} is ambiguous ({len(matches)} runs match)")


#: how close a reprice record's timeline must match its run's: total energy (relative) and the
#: timeline's first start and last end (seconds)
_ENERGY_REL_TOL = 1e-9
_SPAN_TOL_S = 1e-3


def _matches(base: RunResult, repricing: Repricing) -> bool:
    if not base.timeline:
        return False
    old_kwh = math.fsum(iv.energy_kwh for iv in base.timeline)
    new_kwh = math.fsum(iv.energy_kwh for iv in repricing.timeline)
    if not math.isclose(old_kwh, new_kwh, rel_tol=_ENERGY_REL_TOL, abs_tol=1e-15):
        return False
    first = abs((repricing.timeline[0].start - base.timeline[0].start).total_seconds())
    last = abs((repricing.timeline[-1].end - base.timeline[-1].end).total_seconds())
    return first <= _SPAN_TOL_S and last <= _SPAN_TOL_S


def apply_repricing(base: RunResult, repricing: Repricing) -> RunResult | None:
    """``base`` (a run as priced at its end) with the pricing of ``repricing``: its timeline,
    emissions (g CO2eq), mean intensity (g/kWh), attributed emissions, intensity source,
    flags, ``repriced_at`` and ``repriced_from``. None when the record does not match the
    run's stored timeline (other total energy or time span: it was made from checkpoints of a
    run that has finished since, or belongs to another run with the same id); such a record is
    ignored."""
    if not _matches(base, repricing):
        log.debug("carbonsdk: a reprice record of run %s does not match its timeline", base.run_id)
        return None
    return attrs.evolve(
        base,
        timeline=repricing.timeline,
        emissions_g=repricing.emissions_g,
        intensity_g_per_kwh=repricing.intensity_g_per_kwh,
        attributed_emissions_g=repricing.attributed_emissions_g,
        intensity_source=repricing.source,
        flags=repricing.flags,
        repriced_at=repricing.repriced_at,
        repriced_from=repricing.repriced_from,
    )


def newest_pricing(base: RunResult, repricings: Iterable[Repricing]) -> RunResult:
    """``base`` with the last of ``repricings`` (file order) that applies to it, else
    ``base`` itself."""
    for repricing in reversed(list(repricings)):
        priced = apply_repricing(base, repricing)
        if priced is not None:
            return priced
    return base


def top_level(runs: Iterable[RunResult]) -> list[RunResult]:
    """The runs of ``runs`` that are not nested in another of them (no ``parent_run_id``, or a
    parent that is not among ``runs``), order kept: what totals add up without counting a
    nested run's energy twice."""
    runs = list(runs)
    ids = {r.run_id for r in runs}
    return [
        r
        for r in runs
        if r.parent_run_id is None or r.parent_run_id not in ids or r.parent_run_id == r.run_id
    ]


#: the components first in the columns of :func:`run_records`, in this order
class Ledger:
    """Reads a ledger (``path`` None = ``CARBONSDK_LEDGER`` or the platformdirs default).

    Reading is total: unreadable lines (garbage, torn writes, unknown schema, nesting too deep,
    records whose fields have the wrong JSON types) are skipped and counted in
    :attr:`skipped_lines`, with one warning per read; only a file that exists but cannot be
    opened raises :class:`LedgerError`. Runs that never finished are rebuilt from their readable
    checkpoints with status ``"interrupted"``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = _resolve(path)
        self.skipped_lines = 0

    def _records(self) -> Iterator[dict[str, Any]]:
        self.skipped_lines = 0
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        except OSError as exc:
            raise LedgerError(f"cannot read ledger {self.path}: {exc.strerror}") from None
        with fh:
            for raw in fh:
                line = raw.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line.decode("utf-8"))
                    schema = rec.get("schema") if isinstance(rec, dict) else None
                    if (
                        not isinstance(schema, int)
                        or isinstance(schema, bool)
                        or not 1 <= schema <= SCHEMA
                        or ("run_id" not in rec and rec.get("type") != "job")
                    ):
                        raise ValueError("not a carbonsdk record")
                except (ValueError, RecursionError):  # RecursionError: nested too deep
                    self.skipped_lines += 1
                    continue
                yield rec

    def _decoded(self, decode: Any, rec: Mapping[str, Any]) -> Any:
        """``decode(rec)``, or None (counted as a skipped line) when it does not decode."""
        try:
            return decode(rec)
        except RecordError as exc:
            log.debug("carbonsdk: skipping a ledger record: %s", exc)
        except Exception:  # a hole in the decoder must not make the reader fatal
            log.debug("carbonsdk: skipping a ledger record", exc_info=True)
        self.skipped_lines += 1
        return None

    def _load(self) -> tuple[dict[str, RunResult], dict[str, list[Repricing]]]:
        """One pass over the file: every run as priced at its end (finished, or rebuilt from
        its checkpoints) and every readable ``"reprice"`` record per run id, in file order."""
        finished: dict[str, RunResult] = {}
        checkpoints: dict[str, list[_Checkpoint]] = {}
        unreadable: dict[str, int] = {}
        reprices: dict[str, list[Repricing]] = {}
        for rec in self._records():
            kind = rec.get("type")
            if kind == "run":
                result = self._decoded(result_from_record, rec)
                if result is not None:
                    finished[result.run_id] = result
            elif kind == "checkpoint":
                run_id = rec.get("run_id")
                checkpoint = self._decoded(_decode_checkpoint, rec)
                if checkpoint is not None and isinstance(run_id, str):
                    checkpoints.setdefault(run_id, []).append(checkpoint)
                elif isinstance(run_id, str):
                    unreadable[run_id] = unreadable.get(run_id, 0) + 1
            elif kind == "reprice":
                repricing = self._decoded(repricing_from_record, rec)
                if repricing is not None:
                    reprices.setdefault(repricing.run_id, []).append(repricing)
        for run_id, cps in checkpoints.items():
            if run_id in finished:
                continue
            try:
                finished[run_id] = _rebuild(cps, unreadable.get(run_id, 0))
            except Exception:  # no full checkpoint readable: nothing to rebuild from
                log.debug("carbonsdk: cannot rebuild run %s", run_id, exc_info=True)
                self.skipped_lines += len(cps)
        if self.skipped_lines:
            log.warning(
                "carbonsdk: skipped %d unreadable line(s) in %s", self.skipped_lines, self.path
            )
        return finished, reprices

    def runs(self) -> list[RunResult]:
        """All runs, nested ones included, oldest first (by start time), each with its newest
        pricing (the last ``"reprice"`` record that matches its timeline, see
        :func:`carbonsdk.reprice`; else the pricing made at the end of the run)."""
        finished, reprices = self._load()
        out = [newest_pricing(r, reprices.get(r.run_id, ())) for r in finished.values()]
        return sorted(out, key=lambda r: (r.started_at, r.run_id))

    def pricing_records(self) -> tuple[dict[str, RunResult], dict[str, list[Repricing]]]:
        """Every run as priced at its end (run id -> result, finished or rebuilt from its
        checkpoints) and every readable ``"reprice"`` record (run id -> decoded records, in
        file order; see :func:`apply_repricing`). What :func:`carbonsdk.reprice` starts from."""
        return self._load()

    def history(self, run_id: str) -> list[RunResult]:
        """Every pricing of the run with this id (or a unique prefix of it), oldest first: the
        pricing made at the end of the run, then one result per ``"reprice"`` record that
        applies to it (``repriced_at``/``repriced_from`` set). The last is what :meth:`get`
        returns. :class:`LedgerError` if no run matches."""
        finished, reprices = self._load()
        base = _lookup(list(finished.values()), run_id, self.path)
        out = [base]
        for repricing in reprices.get(base.run_id, ()):
            priced = apply_repricing(base, repricing)
            if priced is not None:
                out.append(priced)
        return out

    def gathered_runs(self) -> list[RunResult]:
        """The member runs (summaries, without timelines) of the ``"job"`` records written by
        ``measure(gather=True)`` on rank 0; unreadable members are skipped and counted."""
        members: list[RunResult] = []
        for rec in self._records():
            if rec.get("type") != "job":
                continue
            listed = rec.get("members")
            if not isinstance(listed, list):
                self.skipped_lines += listed is not None
                continue
            for member in listed:
                result = self._decoded(result_from_record, member)
                if result is not None:
                    members.append(result)
        return members

    def get(self, run_id: str) -> RunResult:
        """The run with this id (or a unique prefix of it), nested or not, with its newest
        pricing; :class:`LedgerError` if none."""
        return _lookup(self.runs(), run_id, self.path)

    def last(self) -> RunResult | None:
        """The most recently started top-level run (see :func:`top_level`), or None for an
        empty ledger."""
        runs = top_level(self.runs())
        return runs[-1] if runs else None

    def children(self, run_id: str) -> list[RunResult]:
        """The runs started directly inside run ``run_id`` (its exact id), oldest first."""
        return [r for r in self.runs() if r.parent_run_id == run_id and r.run_id != run_id]

    def to_records(self) -> list[dict[str, Any]]:
        """Every run as a flat dict (one table row each, see :func:`run_records`), oldest
        first, nested runs included (``parent_run_id`` says which)."""
        return run_records(self.runs())

    def to_pandas(self) -> Any:
        """The runs as a ``pandas.DataFrame``, one row per run, the columns of
        :meth:`to_records` (``started_at``/``ended_at`` as UTC datetimes, energy in kWh,
        emissions in g CO2eq). Needs pandas: :class:`ImportError` naming
        ``pip install 'carbonsdk[pandas]'`` without it."""
        import importlib

        try:
            pd = importlib.import_module("pandas")
        except ImportError as exc:
            raise ImportError(
                "Ledger.to_pandas() needs pandas: pip install 'carbonsdk[pandas]'"
            ) from exc
        records = self.to_records()
        columns = list(records[0]) if records else list(RECORD_COLUMNS)
        frame = pd.DataFrame.from_records(records, columns=columns)
        for column in ("started_at", "ended_at", "repriced_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"
