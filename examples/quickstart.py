"""A minimal tour: measure a block, track a function, read the ledger, pause when the grid is
dirty. Runs on any machine (no GPU needed); pass a region for location-aware numbers:

    python examples/quickstart.py --region DE
"""

from __future__ import annotations

import argparse
import time

import carbonsdk


def work(n: int) -> float:
    """Some CPU work (pure Python)."""
    total = 0.0
    for i in range(n):
        total += (i % 97) ** 0.5
    return total


@carbonsdk.tracked("tracked-work", report=False)
def tracked_work(n: int) -> float:
    """The same work, measured (and recorded in the ledger) on every call: decorate coarse
    functions such as ``train()``, not a per-batch step."""
    return work(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--region", default=None, help="e.g. aws:us-east-1, gcp:europe-west4, DE")
    args = ap.parse_args()

    # 1. a block; the report goes to stderr at the end
    with carbonsdk.measure(
        "quickstart-block", region=args.region, interval_s=0.2, tags={"example": "quickstart"}
    ) as run:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            work(50_000)
        print(
            f"inside the block: {run.energy_kwh * 1000:.4f} Wh so far after {run.elapsed_s:.1f} s"
        )
    result = run.require_result()  # the frozen RunResult (typed: never None after the block)
    print(
        f"{result.name}: {result.energy_kwh * 1000:.4f} Wh, {result.emissions_g:.4f} g CO2eq "
        f"at {result.intensity_g_per_kwh:.0f} g/kWh ({result.intensity_source.provider}, "
        f"estimated={result.intensity_source.estimated}), region {result.region.label}"
    )

    # 2. the decorated function keeps its return value; its last run is on .last_result
    tracked_work(200_000)
    print("last tracked call:", tracked_work.last_result.duration_s, "s")  # type: ignore[attr-defined]

    # 3. the ledger holds every run, crash-safe
    ledger = carbonsdk.Ledger()
    print(f"{len(ledger.runs())} runs in {ledger.path}")

    # 4. carbon-aware pausing inside a training loop (needs a region)
    if args.region:
        with carbonsdk.measure("quickstart-loop", region=args.region, report=False) as loop:
            for _step in range(3):
                if loop.should_pause(duration="6h", max_extension=0.5):
                    print(
                        "the grid is dirtier now than later in the allowed window: a real job "
                        "would sleep here (should_pause(block=True) does it for you)"
                    )
                    break
                work(10_000)


if __name__ == "__main__":
    main()
