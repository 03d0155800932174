"""The run ledger: append-only JSON Lines, crash-safe, shared by concurrent processes.

Every record is one line ``{"schema": 1, "type": ..., ...}`` written with a single ``write()``
under an exclusive advisory lock (``flock``), after making sure the file ends with a newline, so
a torn last line (power loss) is skipped by readers and never corrupts the next record. The file
is created with mode 0600. A finished run is one ``"run"`` record; a running run appends
``"checkpoint"`` records holding the aligned intervals and the marks since its previous
checkpoint plus (now and then) its metadata, so a killed process loses at most one checkpoint
period.

- :mod:`~carbonsdk.ledger.schema` (with :mod:`~carbonsdk.ledger.decode`): all serialisation,
  and the one typed boundary where lines become values;
- :mod:`~carbonsdk.ledger.store`: writing, with a bounded lock wait and pending records;
- :mod:`~carbonsdk.ledger.reader`: :class:`Ledger`, reading (total: a bad line is skipped and
  counted, never raised);
- :mod:`~carbonsdk.ledger.rebuild`: a killed run rebuilt from its checkpoints;
- :mod:`~carbonsdk.ledger.frame`: runs as table rows (CSV, pandas);
- :mod:`~carbonsdk.ledger.job`: distributed jobs added up over hosts and ledgers.
"""

from carbonsdk.ledger.decode import SCHEMA, RecordError
from carbonsdk.ledger.frame import RECORD_COLUMNS, run_records
from carbonsdk.ledger.reader import Ledger, top_level
from carbonsdk.ledger.rebuild import rebuild_from_checkpoints
from carbonsdk.ledger.schema import (
    checkpoint_record,
    encode_record,
    job_record,
    job_result_to_dict,
    result_from_record,
    result_to_record,
    source_to_dict,
    summary_record,
)
from carbonsdk.ledger.store import (
    LOCK_BUDGET_S,
    LedgerLockTimeout,
    LedgerWriter,
    append_records,
    append_run,
    flush_pending,
)

__all__ = [
    "LOCK_BUDGET_S",
    "RECORD_COLUMNS",
    "SCHEMA",
    "Ledger",
    "LedgerLockTimeout",
    "LedgerWriter",
    "RecordError",
    "append_records",
    "append_run",
    "checkpoint_record",
    "encode_record",
    "flush_pending",
    "job_record",
    "job_result_to_dict",
    "rebuild_from_checkpoints",
    "result_from_record",
    "result_to_record",
    "run_records",
    "source_to_dict",
    "summary_record",
    "top_level",
]
