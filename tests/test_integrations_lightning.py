"""The PyTorch Lightning callback, with the real ``lightning`` on CPU: a linear model on 16
random examples, 4 batches per epoch, logged to a real CSVLogger."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import require_module

import carbonsdk
from carbonsdk.clock import to_datetime
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.testing import FakeClock, FakeGPU, fake_environment, fake_sampler

pytestmark = pytest.mark.framework

J_PER_KWH = 3.6e6
GPU_W = 300.0
STEP_S = 10.0
STEP_KWH = GPU_W * STEP_S / J_PER_KWH  # energy of one training batch on the fake GPU


@pytest.fixture
def pl() -> Any:
    torch = require_module("torch", "pip install torch==2.13.0 (CPU build)")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return require_module("lightning.pytorch", "pip install lightning")


class Rig:
    """Fake hardware driven by the training loop: each batch lasts ``STEP_S`` seconds of a fake
    clock on one fake 300 W GPU, so every energy is exact."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.env = fake_environment(self.clock, gpus=[FakeGPU.volta(power_w=GPU_W)])
        self.sampler: Any = None


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    with fake_sampler(r.env, r.clock) as sampler:
        r.sampler = sampler
        yield r


def make_module(
    pl: Any, *, fail_at_step: int | None = None, exc: type[BaseException] = RuntimeError
) -> Any:
    import torch

    class Tiny(pl.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if fail_at_step is not None and self.global_step == fail_at_step:
                raise exc(f"diverged at step {fail_at_step}")
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Tiny()


def make_loader() -> Any:
    import torch

    g = torch.Generator().manual_seed(0)
    ds = torch.utils.data.TensorDataset(
        torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)
    )
    return torch.utils.data.DataLoader(ds, batch_size=4)


def make_trainer(pl_pkg: Any, tmp_path: Path, callbacks: list[Any], *, max_epochs: int = 2) -> Any:
    loggers = require_module(f"{pl_pkg.__name__}.loggers", "pip install lightning")
    return pl_pkg.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=loggers.CSVLogger(str(tmp_path)),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=2,
        callbacks=callbacks,
    )


def ticker(pl_pkg: Any, rig: Rig) -> Any:
    class Ticker(pl_pkg.Callback):  # type: ignore[misc]
        def on_train_batch_start(
            self, trainer: Any, module: Any, batch: Any, batch_idx: int
        ) -> None:
            rig.clock.advance(STEP_S)
            rig.sampler.tick()

    return Ticker()


def read_metrics(trainer: Any) -> list[dict[str, str]]:
    with open(Path(trainer.logger.log_dir) / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("package", ["lightning.pytorch", "pytorch_lightning"])
def test_fit_is_one_run_with_marks_and_carbon_in_the_csv_logger(
    pl: Any, package: str, rig: Rig, tmp_path: Path
) -> None:
    from carbonsdk.integrations.lightning import CarbonCallback

    pkg = require_module(package, "pip install lightning")
    carbon = CarbonCallback(region="DE", intensity=100, components=["gpu"], report=False)
    trainer = make_trainer(pkg, tmp_path, [ticker(pl, rig), carbon])
    trainer.fit(make_module(pkg), make_loader())

    result = carbon.result
    assert result is not None and result.status == "completed"
    assert result.name == "Tiny"
    assert result.tags["framework"] == "lightning"
    assert result.energy_kwh == pytest.approx(8 * STEP_KWH)
    assert result.emissions_g == pytest.approx(8 * STEP_KWH * 100)

    marks = [(m.label, m.data.get("epoch"), m.data.get("step")) for m in result.marks]
    assert marks == [  # steps every log_every_n_steps=2
        ("epoch_start", 0, 0),
        ("step", 0, 2),
        ("step", 0, 4),
        ("epoch_end", 0, 4),
        ("epoch_start", 1, 4),
        ("step", 1, 6),
        ("step", 1, 8),
        ("epoch_end", 1, 8),
    ]
    for m in result.marks:
        assert m.energy_kwh == pytest.approx(m.data["step"] * STEP_KWH)
        if m.label == "step":
            assert isinstance(m.data["loss"], float)
    assert carbonsdk.Ledger().get(result.run_id).marks == result.marks

    rows = read_metrics(trainer)
    on_step = [r for r in rows if r["carbon/energy_kwh"] and r["train_loss"]]
    assert [int(r["step"]) for r in on_step] == [1, 3, 5, 7]  # Lightning's 0-based step
    for r in on_step:
        kwh = (int(r["step"]) + 1) * STEP_KWH
        assert float(r["carbon/energy_kwh"]) == pytest.approx(kwh, rel=1e-6)
        assert float(r["carbon/emissions_g"]) == pytest.approx(kwh * 100, rel=1e-6)
    on_epoch = [r for r in rows if r["epoch"] and not r["train_loss"]]
    assert [float(r["carbon/energy_kwh"]) for r in on_epoch] == pytest.approx(
        [4 * STEP_KWH, 8 * STEP_KWH], rel=1e-6
    )
    final = rows[-1]
    assert float(final["carbon/energy_kwh"]) == pytest.approx(result.energy_kwh, rel=1e-12)
    assert float(final["carbon/emissions_g"]) == pytest.approx(result.emissions_g, rel=1e-12)
    assert float(trainer.callback_metrics["carbon/energy_kwh"]) == pytest.approx(
        8 * STEP_KWH, rel=1e-6
    )


def test_real_sampler_records_the_fit_in_the_ledger(pl: Any, tmp_path: Path) -> None:
    from carbonsdk.integrations.lightning import CarbonCallback

    carbon = CarbonCallback(
        "linear", region="DE", report=False, interval_s=0.05, mark_every_n_steps=3
    )
    make_trainer(pl, tmp_path, [carbon]).fit(make_module(pl), make_loader())

    (run,) = carbonsdk.Ledger().runs()
    assert run.run_id == carbon.result.run_id  # type: ignore[union-attr]
    assert run.name == "linear" and run.status == "completed"
    assert run.energy_kwh > 0 and run.emissions_g > 0
    assert [m.data["step"] for m in run.marks if m.label == "step"] == [3, 6]
    energies = [m.energy_kwh for m in run.marks]
    assert energies == sorted(energies)


def test_exception_closes_the_run_as_failed(pl: Any, rig: Rig, tmp_path: Path) -> None:
    from carbonsdk.integrations.lightning import CarbonCallback

    carbon = CarbonCallback(region="DE", intensity=100, components=["gpu"], report=False)
    trainer = make_trainer(pl, tmp_path, [ticker(pl, rig), carbon])
    with pytest.raises(RuntimeError, match="diverged at step 5"):
        trainer.fit(make_module(pl, fail_at_step=5), make_loader())

    result = carbon.result
    assert result is not None
    assert result.status == "failed"
    assert result.error == "RuntimeError: diverged at step 5"
    assert result.energy_kwh == pytest.approx(6 * STEP_KWH)  # the 6th batch ticked, then failed
    assert [m.label for m in result.marks][-1] == "epoch_start"
    assert carbonsdk.Ledger().get(result.run_id).status == "failed"


def test_ctrl_c_is_recorded_as_interrupted(pl: Any, rig: Rig, tmp_path: Path) -> None:
    from carbonsdk.integrations.lightning import CarbonCallback

    carbon = CarbonCallback(region="DE", intensity=100, components=["gpu"], report=False)
    trainer = make_trainer(pl, tmp_path, [ticker(pl, rig), carbon])
    with pytest.raises(SystemExit):  # Lightning's graceful shutdown exits after on_exception
        trainer.fit(make_module(pl, fail_at_step=2, exc=KeyboardInterrupt), make_loader())
    assert carbon.result is not None and carbon.result.status == "interrupted"


def test_pause_policy_is_reachable_from_the_loop(pl: Any, rig: Rig, tmp_path: Path) -> None:
    from carbonsdk.integrations.lightning import CarbonCallback

    # clean now, dirty from 30 minutes on: the policy runs, so block_on_pause never waits
    now_s = rig.clock.time()
    source = IntensitySource(provider="test", signal="average", basis="lifecycle", zone="DE")
    forecast = IntensitySeries.from_pairs(
        [(to_datetime(now_s - 60.0), 10.0), (to_datetime(now_s + 1800.0), 900.0)],
        source,
        end=to_datetime(now_s + 4 * 3600.0),
    )
    carbon = CarbonCallback(
        region="DE",
        intensity=100,
        components=["gpu"],
        report=False,
        pause_duration=timedelta(minutes=20),
        pause_max_extension="1h",
        pause_forecast=forecast,
        block_on_pause=True,
    )
    decisions: list[bool] = []

    class Asker(pl.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, *args: Any) -> None:
            decisions.append(carbon.should_pause())

    trainer = make_trainer(pl, tmp_path, [ticker(pl, rig), carbon, Asker()], max_epochs=1)
    trainer.fit(make_module(pl), make_loader())
    assert decisions == [False] * 4
    assert carbon.result is not None and carbon.result.pauses == ()


def test_missing_lightning_raises_an_import_error_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.lightning", raising=False)
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="pip install lightning"):
        import carbonsdk.integrations.lightning  # noqa: F401
    monkeypatch.delitem(sys.modules, "carbonsdk.integrations.lightning", raising=False)
