"""TensorBoard: event files written with the real ``tensorboard`` package (and with torch's
SummaryWriter), read back with tensorboard's own EventAccumulator."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_module
from test_sinks_values import STEP_KWH, measured_result

import carbonsdk
from carbonsdk import sinks

pytestmark = pytest.mark.framework


@pytest.fixture
def tb() -> Iterator[Any]:
    require_module("tensorboard", "pip install tensorboard")
    from carbonsdk.integrations import tensorboard as carbon_tb

    sinks._reset_for_tests()
    yield carbon_tb
    carbon_tb.autolog(disable=True)
    sinks._reset_for_tests()


def read_back(log_dir: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return accumulator


def scalars(acc: Any, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def text(acc: Any, tag: str) -> str:
    """The text under ``tag`` (torch's SummaryWriter files it under ``<tag>/text_summary``)."""
    tensors = acc.Tags()["tensors"]
    (event,) = acc.Tensors(tag if tag in tensors else f"{tag}/text_summary")
    return bytes(event.tensor_proto.string_val[0]).decode("utf-8")


def test_autolog_writes_step_and_final_scalars_and_a_text_table(tb: Any, tmp_path: Path) -> None:
    result = measured_result("bert-tiny")
    log_dir = tmp_path / "runs" / "bert"
    handle = tb.autolog(log_dir)
    assert handle is not None and handle.name == "tensorboard"
    assert sinks.emit(result) == ()
    acc = read_back(log_dir)

    assert scalars(acc, "carbon/energy_kwh") == [
        (k, pytest.approx(k * STEP_KWH, rel=1e-6)) for k in (1, 2, 3, 4)
    ]
    assert scalars(acc, "carbon/emissions_g") == [
        (k, pytest.approx(k * STEP_KWH * 100, rel=1e-6)) for k in (1, 2, 3, 4)
    ]
    assert scalars(acc, "carbon/intensity_g_per_kwh") == [(k, 100.0) for k in (1, 2, 3, 4)]
    assert scalars(acc, "carbon/duration_s") == [(4, 40.0)]
    assert scalars(acc, "carbon/energy_gpu_kwh") == [(4, pytest.approx(4 * STEP_KWH, rel=1e-6))]
    walls = [e.wall_time for e in acc.Scalars("carbon/energy_kwh")]
    assert walls == [*(m.at.timestamp() for m in result.marks[:3]), result.ended_at.timestamp()]
    table = text(acc, "carbon/run")
    assert "| carbon.zone | DE |" in table
    assert "| carbon.intensity_basis | unknown |" in table
    assert "| carbon.flags | - |" in table
    assert f"| carbon.run_id | {result.run_id} |" in table


def test_a_summary_writer_of_torch_is_written_to_as_well(tb: Any, tmp_path: Path) -> None:
    require_module("torch", "pip install torch==2.13.0 (CPU build)")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "torch"))
    try:
        writer.add_scalar("loss", 0.5, 1)
        tb.autolog(writer)
        result = measured_result()
        assert sinks.emit(result) == ()
        assert not tb.log_result(result, writer)  # once per log directory
    finally:
        writer.close()
    acc = read_back(tmp_path / "torch")
    assert scalars(acc, "loss") == [(1, 0.5)]
    assert scalars(acc, "carbon/emissions_g")[-1] == (4, pytest.approx(4 * STEP_KWH * 100))
    assert "carbon.zone" in text(acc, "carbon/run")


def test_an_unwritable_log_dir_flags_the_run_and_never_raises(tb: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    tb.autolog(blocker / "runs")  # a directory cannot be made under a file
    assert sinks.emit(measured_result()) == ("sink-failed:tensorboard",)


def test_carbon_writer_writes_scalars_and_text(tb: Any, tmp_path: Path) -> None:
    with tb.CarbonWriter(tmp_path / "w") as writer:
        writer.add_scalar("a", 1.5, global_step=3, walltime=1_700_000_000.0)
        writer.add_text("note", "| k | v |", global_step=3)
    with pytest.raises(ValueError, match="is closed"):
        writer.add_scalar("a", 2.0)
    acc = read_back(tmp_path / "w")
    assert [(e.step, e.value, e.wall_time) for e in acc.Scalars("a")] == [(3, 1.5, 1_700_000_000.0)]
    assert text(acc, "note") == "| k | v |"


@pytest.mark.parametrize(
    ("target", "match"),
    [
        (None, "target=None is not valid"),
        ("", "log_dir='' is not valid"),
        (42, "target=42 is not valid"),
    ],
)
def test_bad_targets_are_refused(tb: Any, target: Any, match: str) -> None:
    with pytest.raises(carbonsdk.ConfigurationError, match=match):
        tb.autolog(target)
    assert sinks.registered() == ()


def test_a_file_is_not_a_log_dir(tb: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(carbonsdk.ConfigurationError, match="is a file"):
        tb.autolog(tmp_path / "f")


def test_missing_tensorboard_raises_an_import_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.tensorboard", raising=False)
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        import carbonsdk.integrations.tensorboard  # noqa: F401
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.tensorboard", raising=False)


# -- end to end: the end of every run calls carbonsdk.sinks.emit(result) ------------------------


def test_a_measured_run_is_written_to_the_log_dir(tb: Any, tmp_path: Path) -> None:
    tb.autolog(tmp_path / "e2e")
    result = measured_result("e2e")
    assert not [f for f in result.flags if f.startswith("sink-failed")]
    acc = read_back(tmp_path / "e2e")
    assert scalars(acc, "carbon/energy_kwh")[-1] == (4, pytest.approx(4 * STEP_KWH, rel=1e-6))
    assert result.run_id in text(acc, "carbon/run")
