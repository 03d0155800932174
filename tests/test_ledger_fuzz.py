"""Property tests of the ledger reader (SPEC §3: unreadable lines are skipped and counted, never
fatal): random bytes, random JSON, valid records with one field replaced by another JSON type,
and deep nesting, mixed with good runs. The reader (and the ``runs`` table, JSON and CSV built
on it) never raises and always returns every good run, unchanged."""

from __future__ import annotations

import copy
import io
import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_ledger import T0, make_result

from carbonsdk.cli.runs import render_table, summary, totals_line, write_csv
from carbonsdk.ledger import (
    Ledger,
    RecordError,
    checkpoint_record,
    encode_record,
    rebuild_from_checkpoints,
    result_from_record,
    result_to_record,
    run_records,
)

GOOD = [make_result(f"good-{i}", start=T0 + timedelta(hours=i), n=3) for i in range(3)]
BASE_RUN = result_to_record(make_result("mut", start=T0 + timedelta(days=1), n=3))
BASE_CHECKPOINT = checkpoint_record(make_result("mut-cp", n=3), 0, GOOD[0].timeline)
FUZZ = settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a field (dict key or list index) inside ``value``, up to 3 levels."""
    out: list[tuple[Any, ...]] = []
    if len(prefix) >= 3:
        return out
    items: list[tuple[Any, Any]] = (
        list(value.items())
        if isinstance(value, dict)
        else list(enumerate(value))
        if isinstance(value, list)
        else []
    )
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


RUN_PATHS = [p for p in _paths(BASE_RUN) if p != ("run_id",)]
CHECKPOINT_PATHS = [p for p in _paths(BASE_CHECKPOINT) if p != ("run_id",)]


def _replaced(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(record)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


@st.composite
def mutated_runs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid run record with one field (at any depth) replaced by another JSON value."""
    path = draw(st.sampled_from(RUN_PATHS))
    record = _replaced(BASE_RUN, path, draw(json_values))
    record["run_id"] = f"mut-{draw(st.integers(0, 10**6))}"
    return record


@st.composite
def mutated_checkpoints(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(st.sampled_from(CHECKPOINT_PATHS))
    record = _replaced(BASE_CHECKPOINT, path, draw(json_values))
    record["run_id"] = f"mut-cp-{draw(st.integers(0, 10**6))}"
    return record


def _json_line(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode() + b"\n"


random_bytes = st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ") + b"\n")
random_json = json_values.map(_json_line)
record_like = st.fixed_dictionaries(
    {
        "schema": st.sampled_from([1, 0, 2, True, "1"]),
        "type": st.sampled_from(["run", "checkpoint", "job", "reprice", 3]),
        "run_id": st.text(max_size=6).filter(lambda s: not s.startswith("good")),
    },
    optional={
        "members": json_values,
        "seq": json_values,
        "started_at": json_values,
        "timeline": json_values,
    },
).map(_json_line)
deep = st.tuples(st.integers(1_000, 60_000), st.sampled_from(["[]", "{}"])).map(
    lambda t: (
        (t[1][0] if t[1] == "[]" else '{"a":') * t[0]
        + ("" if t[1] == "[]" else "1")
        + t[1][1] * t[0]
    )
)
deep_lines = deep.map(lambda text: text.encode() + b"\n")
deep_in_record = st.integers(100, 5_000).map(
    lambda n: _json_line(BASE_RUN)[:-2] + (',"host":{"x":' + "[" * n + "]" * n + "}}\n").encode()
)
bad_lines = st.one_of(
    random_bytes,
    random_json,
    record_like,
    deep_lines,
    deep_in_record,
    mutated_runs().map(_json_line),
    mutated_checkpoints().map(_json_line),
)


def _check_reader(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.jsonl"
        good = [encode_record(result_to_record(r)) for r in GOOD]
        # the good runs interleaved with the bad lines (and a torn last line at the end)
        body = [good[0], *lines[: len(lines) // 2], good[1], *lines[len(lines) // 2 :], good[2]]
        path.write_bytes(b"".join(body) + b'{"schema":1,"type":"run","run_id":"torn"')
        ledger = Ledger(path)
        runs = ledger.runs()
        by_id = {r.run_id: r for r in runs}
        for expected in GOOD:
            assert by_id[expected.run_id] == expected
        assert ledger.skipped_lines >= 1  # the torn line at least
        assert ledger.last() is not None
        assert ledger.get("good-1") == GOOD[1]
        ledger.gathered_runs()
        # everything the CLI builds from the runs never raises either
        for width in (80, 60):
            assert "good-0" in render_table(runs, width)
            render_table(runs, width, tree=True)
        totals_line(runs)
        json.dumps([summary(r) for r in runs], allow_nan=False)
        write_csv(runs, io.StringIO())
        run_records(runs)


@FUZZ
@given(st.lists(bad_lines, min_size=1, max_size=6))
def test_reader_never_raises_and_keeps_every_good_run(lines: list[bytes]) -> None:
    _check_reader(lines)


@FUZZ
@given(
    st.lists(
        st.one_of(mutated_runs().map(_json_line), mutated_checkpoints().map(_json_line)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_records_never_break_the_reader(lines: list[bytes]) -> None:
    _check_reader(lines)


@FUZZ
@given(mutated_runs())
def test_run_decoder_raises_only_record_error(record: dict[str, Any]) -> None:
    try:
        result = result_from_record(record)
    except RecordError:
        return
    assert result.run_id == record["run_id"]
    encode_record(result_to_record(result))  # whatever decoded can be written again


@FUZZ
@given(mutated_checkpoints())
def test_checkpoint_decoder_raises_only_record_error(record: dict[str, Any]) -> None:
    try:
        rebuilt = rebuild_from_checkpoints([record])
    except RecordError:
        return
    assert rebuilt.status == "interrupted"


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(BASE_RUN)), json_values, min_size=1, max_size=3))
def test_records_with_several_fields_replaced(fields: dict[str, Any]) -> None:
    record = {**BASE_RUN, **fields, "run_id": "mut-many"}
    assume(record.get("schema") == 1 and record.get("type") == "run")
    _check_reader([_json_line(record)])
