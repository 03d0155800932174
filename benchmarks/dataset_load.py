"""Benchmark: loading the embedded carbon-intensity dataset.

Measures, with the in-process caches cleared before each measurement:

* the index (``intensity.json``) and the region table (``regions.json``);
* every zone-year from ``hourly.bin`` (decompress + decode, both bases), cold: min / median /
  max over all zone-years (220 series since the OpenDC release), against the 50 ms target;
* all zones at once (every zone-year), as a whole;
* one provider call (a day of hourly steps) after the zone-year is cached.

Run: ``PYTHONPATH=. python benchmarks/dataset_load.py [--repeat N]``. Prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from carbonsdk.intensity import embedded
from carbonsdk.region import parse_region
from carbonsdk.region import table as region_table

TARGET_ZONE_YEAR_MS = 50.0
DATA_DIR = Path(embedded.__file__).resolve().parents[1] / "data"


def _clear() -> None:
    embedded._index.cache_clear()
    embedded._decode.cache_clear()
    embedded._profile.cache_clear()
    for fn in (
        region_table._document,
        region_table.cloud_regions,
        region_table._by_key,
        region_table.known_zones,
        region_table._countries,
        region_table._alpha3,
    ):
        fn.cache_clear()


def _ms(fn: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        _clear()
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per measurement")
    args = parser.parse_args()
    repeat = max(1, args.repeat)

    sizes = {p.name: p.stat().st_size for p in sorted(DATA_DIR.iterdir()) if p.is_file()}
    print(f"carbonsdk/data: {sum(sizes.values()):,} bytes in {len(sizes)} files")
    for name, size in sizes.items():
        print(f"  {name:26s} {size:>10,d}")
    print()

    index_ms = _ms(embedded._index, repeat)
    regions_ms = _ms(region_table.cloud_regions, repeat)

    entries = embedded._index().entries
    per_entry: list[tuple[float, str]] = []
    for entry in entries:
        times = []
        for _ in range(repeat):
            embedded._decode.cache_clear()
            embedded._index()  # index loaded: measure the zone-year itself
            start = time.perf_counter()
            embedded._decode(entry.index)
            times.append((time.perf_counter() - start) * 1000)
        per_entry.append((min(times), f"{entry.zone} {entry.year}"))
    per_zone_year = [t for t, _ in per_entry]
    slowest = max(per_entry)

    def load_all() -> None:
        for entry in embedded._index().entries:
            embedded._decode(entry.index)

    saved = embedded._decode.cache_parameters()["maxsize"]
    all_ms = _ms(load_all, repeat)

    provider = embedded.EmbeddedProvider()
    region = parse_region("DE")
    provider.series(region, datetime(2023, 6, 1, tzinfo=UTC), datetime(2023, 6, 2, tzinfo=UTC))
    warm = []
    for _ in range(repeat * 20):
        start = time.perf_counter()
        provider.series(region, datetime(2023, 6, 1, tzinfo=UTC), datetime(2023, 6, 2, tzinfo=UTC))
        warm.append((time.perf_counter() - start) * 1000)

    rows = [
        ("index (intensity.json), cold", statistics.median(index_ms)),
        ("region table (regions.json), cold", statistics.median(regions_ms)),
        ("one zone-year, cold: min", min(per_zone_year)),
        ("one zone-year, cold: median", statistics.median(per_zone_year)),
        (f"one zone-year, cold: max ({slowest[1]})", max(per_zone_year)),
        (f"all {len(entries)} zone-years (index included)", statistics.median(all_ms)),
        ("series() one day, zone-year cached", statistics.median(warm)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':{width}s}  {'ms':>9s}")
    for label, ms in rows:
        print(f"{label:{width}s}  {ms:9.2f}")
    print()
    ratio = max(per_zone_year) / TARGET_ZONE_YEAR_MS
    print(
        f"slowest zone-year / {TARGET_ZONE_YEAR_MS:.0f} ms target = {ratio:.2f} "
        f"({'OK' if ratio < 1 else 'OVER TARGET'}); decode cache holds {saved} zone-years"
    )


if __name__ == "__main__":
    main()
