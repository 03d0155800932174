"""What measuring a torchrun job costs: the end of a run with and without ``gather=True``, and
the size of what the gather moves.

    python benchmarks/distributed.py [--nproc 2] [--repeats 5]

Run without a launcher, it starts ``torchrun --standalone --nproc-per-node N`` on itself (CPU,
gloo, fake 200 W GPUs so no hardware is needed). Every rank runs ``--repeats`` measured blocks
of a few DDP steps, alternating gather on and off, and times ``__exit__`` (the run's end:
intensity, ledger write, and the gather). Rank 0 prints the medians and their ratio. Needs
torch (``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _worker(args: argparse.Namespace) -> int:
    import torch
    import torch.distributed as dist

    import carbonsdk
    from carbonsdk.clock import SYSTEM_CLOCK
    from carbonsdk.ledger import summary_record
    from carbonsdk.testing import FakeGPU, FakeHost, fake_environment, fake_sampler

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    env = fake_environment(
        SYSTEM_CLOCK,
        gpus=[FakeGPU.volta(200.0), FakeGPU.volta(200.0)],
        host=FakeHost(cpu_count=4, busy_fraction=0.5),
    )
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(64, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    exit_ms: dict[bool, list[float]] = {True: [], False: []}
    summary_bytes = 0
    with fake_sampler(env, SYSTEM_CLOCK, threaded=True):
        for i in range(2 * args.repeats):
            gather = i % 2 == 0
            run = carbonsdk.measure(
                "bench", region="DE", interval_s=0.1, gather=gather, report=False
            )
            run.__enter__()
            for _ in range(20):
                loss = model(torch.randn(32, 64)).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            dist.barrier()
            t0 = time.perf_counter()
            run.__exit__(None, None, None)
            exit_ms[gather].append((time.perf_counter() - t0) * 1000)
            if run.result is not None and run.role != "observer":
                summary_bytes = len(json.dumps(summary_record(run.result)))
    if dist.get_rank() == 0:
        on, off = statistics.median(exit_ms[True]), statistics.median(exit_ms[False])
        print(
            json.dumps(
                {
                    "world_size": dist.get_world_size(),
                    "repeats": args.repeats,
                    "exit_ms_with_gather_median": round(on, 2),
                    "exit_ms_without_gather_median": round(off, 2),
                    "ratio": round(on / off, 2) if off > 0 else None,
                    "summary_record_bytes_per_host": summary_bytes,
                }
            )
        )
    dist.destroy_process_group()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if "LOCAL_RANK" in os.environ:
        return _worker(args)
    with tempfile.TemporaryDirectory(prefix="carbonsdk-bench-") as tmp:
        env = {
            **os.environ,
            "CARBONSDK_OFFLINE": "1",
            "NO_COLOR": "1",
            "CARBONSDK_LEDGER": str(Path(tmp) / "ledger.jsonl"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1])
            + os.pathsep
            + os.environ.get("PYTHONPATH", ""),
        }
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(args.nproc),
            __file__,
            "--repeats",
            str(args.repeats),
        ]
        return subprocess.run(cmd, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
