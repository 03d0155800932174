"""Weights & Biases, the real ``wandb`` in offline mode (WANDB_MODE=offline: no network): the
run's offline ``.wandb`` file is read back record by record (its LevelDB-style log of
``wandb_internal_pb2.Record`` protobufs)."""

from __future__ import annotations

import json
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_module
from test_sinks_values import STEP_KWH, measured_result

import carbonsdk
from carbonsdk import sinks

pytestmark = pytest.mark.framework

#: the .wandb log: a 7-byte file header (":W&B", magic 0xBEE1, version), then 32 KiB blocks of
#: records, each with a 7-byte header (CRC-32, length, type: 1 full, 2 first, 3 middle, 4 last)
_BLOCK = 32768
_HEADER = 7


def read_records(path: Path) -> list[Any]:
    """Every ``Record`` of an offline run file."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pos, chunk = [], _HEADER, b""
    while pos + _HEADER <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _HEADER:
            pos += room
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        pos += _HEADER
        if kind == 0 and length == 0:  # zero padding to the end of the block
            pos += room - _HEADER
            continue
        chunk += data[pos : pos + length]
        pos += length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


class OfflineRun:
    """What the offline run file says: history rows, summary, config and metric definitions."""

    def __init__(self, run_dir: Path) -> None:
        (path,) = run_dir.glob("run-*.wandb")
        self.history: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.metrics: list[Any] = []
        for record in read_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                self.history.append(
                    {
                        "/".join(i.nested_key) or i.key: json.loads(i.value_json)
                        for i in record.history.item
                    }
                )
            elif kind == "summary":
                for u in record.summary.update:
                    self.summary["/".join(u.nested_key) or u.key] = json.loads(u.value_json)
            elif kind == "config":
                for u in record.config.update:
                    self.config[u.key] = json.loads(u.value_json)
            elif kind == "metric":
                self.metrics.append(record.metric)


@pytest.fixture
def wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    module = require_module("wandb", "pip install wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    # wandb keeps its settings (WANDB_DIR among them) in a process-wide singleton: start each
    # test from a fresh one, so its run is written under this test's tmp_path
    teardown = getattr(module, "teardown", None)
    if teardown is not None:
        teardown()
    sinks._reset_for_tests()
    yield module
    if module.run is not None:
        module.run.finish()
    from carbonsdk.integrations import wandb as carbon_wandb

    carbon_wandb.autolog(disable=True)
    sinks._reset_for_tests()
    if teardown is not None:
        teardown()


def finish(wandb: Any, run: Any) -> OfflineRun:
    """Finish ``run`` and read its offline file back, once wandb's writer (a separate service
    process) has stopped appending to it: bounded, at most ~10 s."""
    run_dir = Path(run.dir).parent
    run.finish()
    last_size, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        size = sum(p.stat().st_size for p in run_dir.glob("run-*.wandb"))
        if size != last_size:
            last_size, stable_since = size, time.monotonic()
        elif time.monotonic() - stable_since >= 0.5:
            break
        time.sleep(0.05)
    return OfflineRun(run_dir)


def test_autolog_writes_summary_history_and_config_of_the_active_run(wandb: Any) -> None:
    from carbonsdk.integrations import wandb as carbon_wandb

    result = measured_result("bert-tiny")
    carbon_wandb.autolog()
    run = wandb.init(project="carbon")
    run.log({"loss": 0.5}, step=7)
    assert sinks.emit(result) == ()
    offline = finish(wandb, run)

    rows = [r for r in offline.history if "carbon/step" in r]
    assert [r["carbon/step"] for r in rows] == [1, 2, 3, 4]
    assert [r["carbon/energy_kwh"] for r in rows] == pytest.approx(
        [k * STEP_KWH for k in (1, 2, 3, 4)]
    )
    assert [r["carbon/emissions_g"] for r in rows] == pytest.approx(
        [k * STEP_KWH * 100 for k in (1, 2, 3, 4)]
    )
    assert all(r["carbon/intensity_g_per_kwh"] == 100 for r in rows)
    assert any(
        m.glob_name == "carbon/*" and m.step_metric == "carbon/step" for m in offline.metrics
    )

    assert offline.summary["carbon/energy_kwh"] == pytest.approx(4 * STEP_KWH)
    assert offline.summary["carbon/emissions_g"] == pytest.approx(4 * STEP_KWH * 100)
    assert offline.summary["carbon/intensity_g_per_kwh"] == pytest.approx(100.0)
    assert offline.summary["carbon/energy_gpu_kwh"] == pytest.approx(4 * STEP_KWH)
    assert offline.summary["carbon/duration_s"] == pytest.approx(40.0)
    report = offline.summary["carbon/report"]
    assert report["_type"] == "html-file"
    html = (Path(run.dir) / report["path"]).read_text(encoding="utf-8")
    assert "bert-tiny" in html and result.run_id in html

    assert offline.config["carbon.zone"] == "DE"
    assert offline.config["carbon.intensity_provider"] == "constant"
    assert offline.config["carbon.estimated"] == "false"
    assert offline.config["carbon.flags"] == ""
    assert offline.config["carbon.run_id"] == result.run_id


def test_without_a_wandb_run_nothing_happens_and_a_result_is_logged_once(wandb: Any) -> None:
    from carbonsdk.integrations import wandb as carbon_wandb

    result = measured_result()
    carbon_wandb.autolog(report=False, steps=False)
    assert wandb.run is None
    assert sinks.emit(result) == ()
    run = wandb.init(project="carbon")
    assert carbon_wandb.log_result(result, steps=False, report=False)
    assert not carbon_wandb.log_result(result)
    offline = finish(wandb, run)
    assert not [r for r in offline.history if "carbon/step" in r]
    assert "carbon/report" not in offline.summary
    assert offline.summary["carbon/energy_kwh"] == pytest.approx(4 * STEP_KWH)


def test_a_finished_run_fails_the_sink_with_a_flag_not_an_exception(wandb: Any) -> None:
    from carbonsdk.integrations.sinks import send_to_tracker

    run = wandb.init(project="carbon")
    run.finish()
    assert send_to_tracker("wandb", measured_result(), run) == "sink-failed:wandb"


def test_missing_wandb_raises_an_import_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.wandb", raising=False)
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match="pip install wandb"):
        import carbonsdk.integrations.wandb  # noqa: F401
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.wandb", raising=False)


def test_bad_options_are_refused(wandb: Any) -> None:
    from carbonsdk.integrations import wandb as carbon_wandb

    with pytest.raises(carbonsdk.ConfigurationError, match="steps=1 is not valid"):
        carbon_wandb.autolog(steps=1)  # type: ignore[arg-type]


# -- end to end: the end of every run calls carbonsdk.sinks.emit(result) ------------------------


def test_a_run_measured_inside_a_wandb_run_is_logged_there(wandb: Any) -> None:
    from carbonsdk.integrations import wandb as carbon_wandb

    carbon_wandb.autolog()
    run = wandb.init(project="carbon")
    result = measured_result("e2e")
    offline = finish(wandb, run)
    assert not [f for f in result.flags if f.startswith("sink-failed")]
    assert offline.summary["carbon/energy_kwh"] == pytest.approx(4 * STEP_KWH)
    assert offline.config["carbon.run_id"] == result.run_id
