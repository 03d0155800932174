"""The Hugging Face Trainer callback, with the real ``transformers`` on CPU: a one-layer BERT
built from a config (no downloads) on an in-memory dataset of 8 examples, 2 steps per epoch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import require_module

import carbonsdk
from carbonsdk.clock import to_datetime
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.testing import FakeClock, FakeGPU, fake_environment, fake_sampler

pytestmark = pytest.mark.framework

J_PER_KWH = 3.6e6
GPU_W = 300.0
STEP_S = 10.0
STEP_KWH = GPU_W * STEP_S / J_PER_KWH  # energy of one training step on the fake GPU


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def tf() -> Any:
    transformers = require_module("transformers", "pip install transformers accelerate")
    torch = require_module("torch", "pip install torch==2.13.0 (CPU build)")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return transformers


class Rig:
    """Fake hardware driven by the training loop: each optimizer step lasts ``STEP_S`` seconds
    of a fake clock on one fake 300 W GPU, so every energy is exact."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.env = fake_environment(self.clock, gpus=[FakeGPU.volta(power_w=GPU_W)])


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    with fake_sampler(r.env, r.clock) as sampler:
        r.sampler = sampler  # type: ignore[attr-defined]
        yield r


def make_trainer(
    tf: Any,
    tmp_path: Path,
    callbacks: list[Any],
    *,
    fail_at_step: int | None = None,
    epochs: int = 2,
) -> Any:
    import torch

    class Tiny(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __init__(self) -> None:
            g = torch.Generator().manual_seed(0)
            self.x = torch.randint(0, 50, (8, 8), generator=g)
            self.y = torch.randint(0, 2, (8,), generator=g)

        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {
                "input_ids": self.x[i],
                "attention_mask": torch.ones(8, dtype=torch.long),
                "labels": self.y[i],
            }

    config = tf.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    model = tf.BertForSequenceClassification(config)
    args = tf.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=epochs,
        per_device_train_batch_size=4,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
    )
    all_callbacks = list(callbacks)
    if fail_at_step is not None:
        all_callbacks.append(_failer(tf, fail_at_step))
    return tf.Trainer(model=model, args=args, train_dataset=Tiny(), callbacks=all_callbacks)


def _ticker(tf: Any, rig: Rig) -> Any:
    class Ticker(tf.TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            rig.clock.advance(STEP_S)
            rig.sampler.tick()  # type: ignore[attr-defined]

    return Ticker()


def _failer(tf: Any, step: int) -> Any:
    class Failer(tf.TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == step:
                raise RuntimeError(f"diverged at step {step}")

    return Failer()


def test_training_is_one_run_with_epoch_and_step_marks_and_logged_carbon(
    tf: Any, rig: Rig, tmp_path: Path
) -> None:
    from carbonsdk.integrations.huggingface import CarbonCallback

    carbon = CarbonCallback(region="DE", intensity=100, components=["gpu"], report=False)
    trainer = make_trainer(tf, tmp_path, [_ticker(tf, rig), carbon])
    trainer.train()

    result = carbon.result
    assert result is not None and carbon.run is not None
    assert result.status == "completed"
    assert result.name == "BertForSequenceClassification"
    assert result.tags["framework"] == "transformers"
    assert result.energy_kwh == pytest.approx(4 * STEP_KWH)
    assert result.emissions_g == pytest.approx(4 * STEP_KWH * 100)

    marks = [(m.label, dict(m.data)) for m in result.marks]
    assert [(label, d.get("epoch"), d.get("step")) for label, d in marks] == [
        ("epoch_start", 0, 0),
        ("step", 0.5, 1),
        ("step", 1.0, 2),
        ("epoch_end", 0, 2),
        ("epoch_start", 1, 2),
        ("step", 1.5, 3),
        ("step", 2.0, 4),
        ("epoch_end", 1, 4),
    ]
    assert all(isinstance(d["loss"], float) for label, d in marks if label == "step")
    energies = [m.energy_kwh for m in result.marks]
    assert energies == sorted(energies)
    assert [m.at for m in result.marks] == sorted(m.at for m in result.marks)
    by_label = {(m.label, m.data.get("epoch")): m.energy_kwh for m in result.marks}
    assert by_label[("epoch_end", 0)] == pytest.approx(2 * STEP_KWH)
    assert by_label[("epoch_end", 1)] == pytest.approx(4 * STEP_KWH)

    recorded = carbonsdk.Ledger().get(result.run_id)
    assert recorded.status == "completed"
    assert [(m.label, dict(m.data)) for m in recorded.marks] == marks

    history = trainer.state.log_history
    steps = [e for e in history if "loss" in e]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    for e in steps:
        assert e["carbon/energy_kwh"] == pytest.approx(e["step"] * STEP_KWH)
        assert e["carbon/emissions_g"] == pytest.approx(e["step"] * STEP_KWH * 100)
    summary = history[-1]
    assert "train_runtime" in summary
    assert summary["carbon/energy_kwh"] == result.energy_kwh
    assert summary["carbon/emissions_g"] == result.emissions_g


def test_reporting_callbacks_registered_before_it_see_the_values(
    tf: Any, rig: Rig, tmp_path: Path
) -> None:
    from carbonsdk.integrations.huggingface import CarbonCallback

    class Reporter(tf.TrainerCallback):  # type: ignore[misc]
        """Stands for TensorBoardCallback & co: registered before user callbacks."""

        def __init__(self) -> None:
            self.seen: list[dict[str, Any]] = []

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            self.seen.append(dict(logs))

    reporter = Reporter()
    carbon = CarbonCallback(region="DE", intensity=100, components=["gpu"], report=False)
    trainer = make_trainer(tf, tmp_path, [reporter, _ticker(tf, rig)])
    trainer.add_callback(carbon)  # added after construction: it moves ahead at train begin
    trainer.train()

    assert trainer.callback_handler.callbacks[0] is carbon
    step_logs = [s for s in reporter.seen if "loss" in s]
    assert len(step_logs) == 4
    assert [s["carbon/energy_kwh"] for s in step_logs] == pytest.approx(
        [k * STEP_KWH for k in (1, 2, 3, 4)]
    )


def test_real_sampler_records_the_run_in_the_ledger(tf: Any, tmp_path: Path) -> None:
    from carbonsdk.integrations.huggingface import CarbonCallback

    carbon = CarbonCallback(
        "bert-tiny",
        region="DE",
        report=False,
        interval_s=0.05,
        mark_every_n_steps=3,
        tags={"team": "nlp"},
    )
    make_trainer(tf, tmp_path, [carbon]).train()

    (run,) = carbonsdk.Ledger().runs()
    assert run.run_id == carbon.result.run_id  # type: ignore[union-attr]
    assert run.name == "bert-tiny" and run.status == "completed"
    assert dict(run.tags) == {"team": "nlp", "framework": "transformers"}
    assert run.energy_kwh > 0 and run.emissions_g > 0
    assert run.region.zone == "DE"
    assert [(m.label, m.data.get("step")) for m in run.marks if m.label == "step"] == [("step", 3)]
    assert [m.label for m in run.marks].count("epoch_end") == 2


def test_exception_in_training_closes_the_run_as_failed(tf: Any, rig: Rig, tmp_path: Path) -> None:
    from carbonsdk.integrations.huggingface import CarbonCallback

    carbon = CarbonCallback(region="DE", intensity=100, components=["gpu"], report=False)
    trainer = make_trainer(tf, tmp_path, [_ticker(tf, rig), carbon], fail_at_step=3)
    with pytest.raises(RuntimeError, match="diverged"), carbon:
        trainer.train()

    result = carbon.result
    assert result is not None
    assert result.status == "failed"
    assert result.error == "RuntimeError: diverged at step 3"
    assert result.energy_kwh == pytest.approx(3 * STEP_KWH)
    assert [m.label for m in result.marks] == [  # it failed before step 3 was logged
        "epoch_start",
        "step",
        "step",
        "epoch_end",
        "epoch_start",
    ]
    assert carbonsdk.Ledger().get(result.run_id).status == "failed"


def test_next_training_closes_a_run_left_open_by_an_exception(
    tf: Any, rig: Rig, tmp_path: Path
) -> None:
    from carbonsdk.integrations.huggingface import CarbonCallback

    carbon = CarbonCallback(region="DE", intensity=100, components=["gpu"], report=False)
    failing = make_trainer(tf, tmp_path, [_ticker(tf, rig), carbon], fail_at_step=1)
    with pytest.raises(RuntimeError):
        failing.train()
    first = carbon.run
    assert carbon.result is None  # still open: the Trainer has no exception hook

    make_trainer(tf, tmp_path, [_ticker(tf, rig), carbon], epochs=1).train()
    assert first is not None and first.result is not None
    assert first.result.status == "failed"
    assert "end hook" in (first.result.error or "")
    assert carbon.result is not None and carbon.result.status == "completed"
    assert [r.status for r in carbonsdk.Ledger().runs()] == ["failed", "completed"]


def test_uncaught_exception_is_recorded_as_failed_when_the_process_exits(
    tf: Any, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import torch
        torch.set_num_threads(1)
        from pathlib import Path
        import transformers as tf
        from test_integrations_hf import make_trainer
        from carbonsdk.integrations.huggingface import CarbonCallback

        carbon = CarbonCallback(region="DE", report=False, interval_s=0.05)
        make_trainer(tf, Path({str(tmp_path)!r}), [carbon], fail_at_step=2).train()
        """)
    )
    env = dict(subprocess_env, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert "diverged at step 2" in proc.stderr
    (run,) = carbonsdk.Ledger(os.environ["CARBONSDK_LEDGER"]).runs()
    assert run.status == "failed"
    assert run.error == "RuntimeError: diverged at step 2"
    assert [m.label for m in run.marks][:2] == ["epoch_start", "step"]


def test_should_pause_follows_the_configured_policy(tf: Any, rig: Rig, tmp_path: Path) -> None:
    from carbonsdk.integrations.huggingface import CarbonCallback

    # dirty now, clean from 30 minutes on: a 1-hour training allowed to take 2 hours waits
    now_s = rig.clock.time()
    source = IntensitySource(provider="test", signal="average", basis="lifecycle", zone="DE")
    forecast = IntensitySeries.from_pairs(
        [(to_datetime(now_s - 60.0), 900.0), (to_datetime(now_s + 1800.0), 10.0)],
        source,
        end=to_datetime(now_s + 4 * 3600.0),
    )
    carbon = CarbonCallback(
        region="DE",
        intensity=100,
        components=["gpu"],
        report=False,
        pause_duration=timedelta(hours=1),
        pause_max_extension=1.0,
        pause_forecast=forecast,
    )
    decisions: list[bool] = []

    class Loop(tf.TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            decisions.append(carbon.should_pause())

    with pytest.raises(RuntimeError, match="only meaningful while a training runs"):
        carbon.should_pause()
    make_trainer(tf, tmp_path, [_ticker(tf, rig), carbon, Loop()], epochs=1).train()
    assert decisions == [True, True]
    assert carbon.result is not None
    assert len(carbon.result.pauses) == 1  # still paused when the run ended
    assert carbon.result.pauses[0].end is None

    unconfigured = CarbonCallback(region="DE", report=False)
    with pytest.raises(ConfigurationError, match="pause_duration"):
        unconfigured.should_pause()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"regoin": "DE"}, "regoin='DE' is not a carbonsdk.measure"),
        ({"region": "atlantis"}, "atlantis"),
        ({"mark_every_n_steps": -1}, "mark_every_n_steps=-1"),
        ({"pause_duration": "soon"}, "pause_duration"),
        ({"pause_duration": "1h", "pause_max_extension": -2}, "pause_max_extension"),
        ({"block_on_pause": True}, "block_on_pause=True needs pause_duration"),
    ],
)
def test_bad_options_are_refused_at_construction(
    tf: Any, kwargs: dict[str, Any], match: str
) -> None:
    from carbonsdk.integrations.huggingface import CarbonCallback

    with pytest.raises(ConfigurationError, match=match):
        CarbonCallback(**kwargs)


def test_missing_transformers_raises_an_import_error_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.huggingface", raising=False)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match="pip install transformers"):
        import carbonsdk.integrations.huggingface  # noqa: F401
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.huggingface", raising=False)


def test_importing_the_integrations_imports_no_framework(subprocess_env: dict[str, str]) -> None:
    code = (
        "import sys, carbonsdk, carbonsdk.integrations; "
        "print(sorted(m for m in ('torch', 'transformers', 'lightning', 'pytorch_lightning', "
        "'IPython', 'numpy', 'rich', 'requests') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(("local_rank", "logs_carbon"), [(0, True), (1, False)])
def test_under_torchrun_only_the_measuring_rank_logs(
    tf: Any, monkeypatch: pytest.MonkeyPatch, local_rank: int, logs_carbon: bool
) -> None:
    """Hooks driven by hand (a real Trainer would start torch.distributed from these
    variables): every rank opens a run, observers add nothing to the logs."""
    from carbonsdk.integrations.huggingface import CarbonCallback

    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job42")
    monkeypatch.setenv("RANK", str(2 + local_rank))
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("GROUP_RANK", "1")
    carbon = CarbonCallback(region="DE", report=False, interval_s=0.05)
    args: Any = SimpleNamespace(run_name="ddp")
    state, control = tf.TrainerState(), tf.TrainerControl()
    carbon.on_train_begin(args, state, control)
    assert carbon.run is not None
    assert carbon.run.role == ("host" if local_rank == 0 else "observer")
    state.global_step = 1
    state.log_history.append({"loss": 0.5, "step": 1})
    logs = {"loss": 0.5}
    carbon.on_log(args, state, control, logs=logs)
    assert ("carbon/energy_kwh" in logs) is logs_carbon
    assert ("carbon/energy_kwh" in state.log_history[-1]) is logs_carbon
    carbon.on_train_end(args, state, control)
    assert carbon.result is not None and carbon.result.status == "completed"
    assert carbon.result.job is not None and carbon.result.job.job_id == "torchelastic-job42"
    assert len(carbonsdk.Ledger().runs()) == (1 if logs_carbon else 0)


def test_example_runs(tf: Any, repo_root: Path, subprocess_env: dict[str, str]) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(repo_root / "examples" / "hf_trainer.py"),
            "--region",
            "FR",
            "--epochs",
            "2",
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "tiny-bert: completed" in out.stdout and "region FR" in out.stdout
    assert "epoch 1:" in out.stdout and "carbon/emissions_g" in out.stdout
    (run,) = carbonsdk.Ledger().runs()
    assert run.name == "tiny-bert"
    assert [m.data["epoch"] for m in run.marks if m.label == "epoch_end"] == [0, 1]
