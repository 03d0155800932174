"""A tiny data-parallel training script launched by torchrun in tests/test_distributed.py.

Every rank trains a small model on CPU with the gloo backend inside ``carbonsdk.measure()``;
the hardware is fake (two 200 W GPUs per "host", a 4-vCPU host model) so the test knows the
true energy, everything else is real: torchrun, torch.distributed, the ledger, the gather.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist

import carbonsdk
from carbonsdk.clock import SYSTEM_CLOCK
from carbonsdk.testing import FakeGPU, FakeHost, fake_environment, fake_sampler

GPU_POWER_W = 200.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="directory for this rank's JSON summary")
    parser.add_argument("--per-rank", action="store_true")
    parser.add_argument("--gather", action="store_true")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument(
        "--init-after",
        action="store_true",
        help="initialise torch.distributed inside the measured block",
    )
    parser.add_argument(
        "--fail-rank",
        type=int,
        default=None,
        help="this rank raises at the end of its measured block",
    )
    parser.add_argument("--gather-timeout", type=float, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.gather_timeout is not None:
        import carbonsdk.run.extensions.gather as gather

        gather.GATHER_TIMEOUT_S = args.gather_timeout
    if not args.init_after:
        dist.init_process_group("gloo")
    env = fake_environment(
        SYSTEM_CLOCK,
        gpus=[FakeGPU.volta(GPU_POWER_W), FakeGPU.volta(GPU_POWER_W)],
        host=FakeHost(cpu_count=4, busy_fraction=0.5),
    )
    run = carbonsdk.measure(
        "ddp-toy",
        region="DE",
        interval_s=0.1,
        per_rank=args.per_rank,
        gather=args.gather,
        report=True,
    )
    with fake_sampler(env, SYSTEM_CLOCK, threaded=True), run:
        if args.init_after:
            dist.init_process_group("gloo")
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(8, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        deadline = time.monotonic() + args.seconds
        step = 0
        while True:
            x = torch.randn(16, 8)
            loss = model(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            # every rank takes the same number of steps: agree on stopping
            stop = torch.tensor([1.0 if time.monotonic() >= deadline else 0.0])
            dist.all_reduce(stop)
            if stop.item() > 0:
                break
        run.mark("end", step=step)
        if args.fail_rank == dist.get_rank():
            _write(args.out, run, failed=True)
            raise RuntimeError("this rank fails on purpose")
    _write(args.out, run)
    dist.destroy_process_group()
    return 0


def _write(out: str, run: carbonsdk.Run, *, failed: bool = False) -> None:
    if failed:
        with open(os.path.join(out, f"failed{dist.get_rank()}"), "w") as fh:
            fh.write("1")
        return
    result = run.result
    assert result is not None
    summary = {
        "rank": dist.get_rank(),
        "role": run.role,
        "run_id": result.run_id,
        "job_id": result.job.job_id if result.job else None,
        "energy_kwh": result.energy_kwh,
        "gpu_kwh": result.energy_by_component_kwh.get("gpu"),
        "duration_s": result.duration_s,
        "gpus": [d.index for d in result.devices if d.component == "gpu"],
        "components": sorted(result.energy_by_component_kwh),
        "job_result": None
        if run.job_result is None
        else {
            "energy_kwh": run.job_result.energy_kwh,
            "emissions_g": run.job_result.emissions_g,
            "nodes": len(run.job_result.nodes),
            "runs": len(run.job_result.runs),
        },
    }
    with open(os.path.join(out, f"rank{dist.get_rank()}.json"), "w") as fh:
        json.dump(summary, fh)


if __name__ == "__main__":
    sys.exit(main())
