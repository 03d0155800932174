"""A Lightning fit under torchrun (CPU, DDP over gloo) with carbonsdk's CarbonCallback and
``gather=True``: launched by tests/test_distributed.py. Fake 200 W GPUs stand in for hardware;
the Trainer, DDP and the gather are real. Each rank writes a JSON summary to --out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import lightning.pytorch as pl
import torch

from carbonsdk.clock import SYSTEM_CLOCK
from carbonsdk.integrations.lightning import CarbonCallback
from carbonsdk.testing import FakeGPU, FakeHost, fake_environment, fake_sampler


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(32, 8), torch.randn(32, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    carbon = CarbonCallback("pl-ddp", region="DE", interval_s=0.1, gather=True)
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        callbacks=[carbon],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    env = fake_environment(
        SYSTEM_CLOCK,
        gpus=[FakeGPU.volta(200.0), FakeGPU.volta(200.0)],
        host=FakeHost(cpu_count=4, busy_fraction=0.5),
    )
    with fake_sampler(env, SYSTEM_CLOCK, threaded=True):
        trainer.fit(Model(), loader)
    run, result = carbon.run, carbon.result
    assert run is not None and result is not None
    summary = {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "role": run.role,
        "run_id": result.run_id,
        "status": result.status,
        "energy_kwh": result.energy_kwh,
        "marks": sorted({m.label for m in result.marks}),
        "epoch_ends": [m.data.get("epoch") for m in result.marks if m.label == "epoch_end"],
        "job_runs": None if run.job_result is None else len(run.job_result.runs),
        "job_energy_kwh": None if run.job_result is None else run.job_result.energy_kwh,
    }
    with open(os.path.join(args.out, f"rank{trainer.global_rank}.json"), "w") as fh:
        json.dump(summary, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
