"""A Hugging Face Trainer under torchrun (CPU, gloo DDP) with carbonsdk's CarbonCallback and
``gather=True``: launched by tests/test_distributed.py. Fake 200 W GPUs stand in for hardware;
the Trainer, DDP over gloo and the gather are real. Each rank writes a JSON summary to --out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import torch
import transformers

from carbonsdk.clock import SYSTEM_CLOCK
from carbonsdk.integrations.huggingface import CarbonCallback
from carbonsdk.testing import FakeGPU, FakeHost, fake_environment, fake_sampler


class Tiny(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, 50, (16, 8), generator=g)
        self.y = torch.randint(0, 2, (16,), generator=g)

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "input_ids": self.x[i],
            "attention_mask": torch.ones(8, dtype=torch.long),
            "labels": self.y[i],
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    model = transformers.BertForSequenceClassification(config)
    targs = transformers.TrainingArguments(
        output_dir=os.path.join(args.out, "trainer"),
        num_train_epochs=2,
        per_device_train_batch_size=4,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        ddp_backend="gloo",
    )
    carbon = CarbonCallback("hf-ddp", region="DE", interval_s=0.1, gather=True)
    env = fake_environment(
        SYSTEM_CLOCK,
        gpus=[FakeGPU.volta(200.0), FakeGPU.volta(200.0)],
        host=FakeHost(cpu_count=4, busy_fraction=0.5),
    )
    with fake_sampler(env, SYSTEM_CLOCK, threaded=True):
        trainer = transformers.Trainer(
            model=model, args=targs, train_dataset=Tiny(), callbacks=[carbon]
        )
        trainer.train()
    run = carbon.run
    result = carbon.result
    assert run is not None and result is not None
    rank = torch.distributed.get_rank()
    summary = {
        "rank": rank,
        "role": run.role,
        "world_size": torch.distributed.get_world_size(),
        "run_id": result.run_id,
        "job_id": result.job.job_id if result.job else None,
        "energy_kwh": result.energy_kwh,
        "marks": [m.label for m in result.marks],
        "carbon_logged": [e for e in trainer.state.log_history if "carbon/energy_kwh" in e],
        "job_energy_kwh": None if run.job_result is None else run.job_result.energy_kwh,
        "job_runs": None if run.job_result is None else len(run.job_result.runs),
    }
    with open(os.path.join(args.out, f"rank{rank}.json"), "w") as fh:
        json.dump(summary, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
