"""Measure a Hugging Face ``Trainer`` run with ``CarbonCallback``: a tiny BERT built from a config
(no download), trained on random tokens on the CPU for a few seconds.

    pip install transformers accelerate
    python examples/hf_trainer.py --region DE
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing to download: the model is built here

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from carbonsdk.integrations.huggingface import CarbonCallback


class RandomTokens(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """``n`` random sequences of ``length`` tokens with random binary labels."""

    def __init__(self, n: int = 256, length: int = 32, vocab: int = 100) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, vocab, (n, length), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones_like(self.ids[i]),
            "labels": self.labels[i],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--region", default="DE", help="'aws:us-west-2', 'DE', 'FR', ...")
    parser.add_argument("--epochs", type=int, default=3)
    opts = parser.parse_args()

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
    )
    model = BertForSequenceClassification(config)
    carbon = CarbonCallback("tiny-bert", region=opts.region, report=False, interval_s=0.1)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            num_train_epochs=opts.epochs,
            per_device_train_batch_size=8,
            logging_steps=16,
            report_to=[],
            use_cpu=True,
            save_strategy="no",
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=RandomTokens(), callbacks=[carbon])
        trainer.train()

    result = carbon.result
    assert result is not None
    print(
        f"{result.name}: {result.status}, {result.duration_s:.1f} s, "
        f"{result.energy_kwh * 1000:.4f} Wh, {result.emissions_g:.4f} g CO2eq "
        f"(region {result.region.zone}, {result.intensity_g_per_kwh or 0:.0f} g/kWh)"
    )
    starts = {m.data["epoch"]: m.energy_kwh for m in result.marks if m.label == "epoch_start"}
    for m in result.marks:
        if m.label == "epoch_end":
            epoch = m.data["epoch"]
            print(f"  epoch {epoch}: {(m.energy_kwh - starts[epoch]) * 1000:.4f} Wh")
    logged = [e for e in trainer.state.log_history if "loss" in e]
    print(
        f"  logged at step {logged[-1]['step']}: carbon/energy_kwh = "
        f"{logged[-1]['carbon/energy_kwh']:.3g}, carbon/emissions_g = "
        f"{logged[-1]['carbon/emissions_g']:.3g}"
    )


if __name__ == "__main__":
    main()
