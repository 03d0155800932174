"""Honest hold-out of carbonsdk's forecasters and live scheduling policy on the embedded data,
and the calibration table the product ships (``carbonsdk/data/backtest.json``).

For every embedded zone with at least two hourly years, the last year is the *test* year and the
forecaster (profile and coefficients) learns from the earlier years only; the test series starts
7 days before the test year so the first decisions have history (those days are earlier, i.e.
legitimately observed, data). Sections:

1. per zone, a 6 h job with a 24 h max delay (Flexible Start) and +100 % (Pause and Resume):
   oracle, realised and worse share for the typical year, seasonal-naive and the day-ahead blend;
2. MAPE per horizon of the three forecasters over the test years;
3. the calibration table (default forecaster, job classes 1 h / 6 h / 24 h x two windows per
   strategy), written with ``--write``;
4. is the calibration honest? the table built on the year before the test year (learning from the
   years before that) against what is realised in the test year, and the product's decision rule
   (follow the forecaster only when that table says it realises >= 3 %);
5. with ``--extra DIR`` (``shared/data/extra_hourly``): the same method on Electricity Maps
   files carbonsdk does not ship (the 2024-01 release of 2023 for 8 U.S. zones), learning from
   the embedded years before 2023.

    PYTHONPATH=. python benchmarks/backtest_holdout.py --n-starts 200 \\
        --write carbonsdk/data/backtest.json --extra ../shared/data/extra_hourly
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from carbonsdk.intensity import embedded
from carbonsdk.intensity.embedded import EmbeddedProvider
from carbonsdk.model.intensity import IntensitySeries, IntensitySource
from carbonsdk.model.region import Region
from carbonsdk.schedule import forecasters as fcs

bt = importlib.import_module("carbonsdk.schedule.backtest")  # the module, not the function

TARGET = {"flexible_start": "24h", "pause_and_resume": 1.0}
CLASSES = {
    "flexible_start": [(1, "6h"), (1, "24h"), (6, "6h"), (6, "24h"), (24, "6h"), (24, "24h")],
    "pause_and_resume": [(1, 0.5), (1, 1.0), (6, 0.5), (6, 1.0), (24, 0.5), (24, 1.0)],
}
FORECASTERS = ("typical", "seasonal-naive", "default")
MARGIN = 0.03
HORIZONS = (0, 2, 5, 11, 23)
#: --k FS,PR: decision-gate k per strategy instead of fcs.UNCERTAINTY_K (validation sweeps)
K_OVERRIDE: dict[str, float] = {}


def test_series(zone: str, year: int) -> IntensitySeries:
    """The embedded series from 7 days before ``year`` to its end."""
    region = Region(None, zone, zone, "explicit")
    return EmbeddedProvider().series(
        region, datetime(year - 1, 12, 25, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    )


def run(
    zone: str,
    series: IntensitySeries,
    years: Sequence[int],
    strategy: str,
    hours: int,
    window: Any,
    forecaster: Any,
    n: int,
    profile: Any = None,
) -> bt.Backtest:
    k = K_OVERRIDE.get(strategy)
    return bt.backtest(
        series,
        zone=zone,
        duration=f"{hours}h",
        window=window,
        strategy=strategy,
        forecaster=forecaster,
        n_starts=n,
        seed=2024,
        profile_years=None if profile is not None else years,
        profile=profile,
        uncertainty_k=k,
    )


def mape_rows(
    zone: str, series: IntensitySeries, years: Sequence[int], fc: Any, profile: Any = None
) -> list[float]:
    """MAPE (fraction) per horizon in HORIZONS over forecasts issued every 3rd hour of the test
    year."""
    h0, a = bt.hourly_values(series)
    prof = profile if profile is not None else fcs.zone_profile(zone, tuple(years))
    hist = fcs.History(h0, a, np.asarray(prof), zone)
    issue = np.arange(168, len(a) - 25, 3, dtype=np.int64)
    f = fc.predict(hist, issue, 24)
    y = a[issue[:, None] + np.arange(24)[None, :]]
    ok = y > 0
    err = np.where(ok, np.abs(f - y) / np.where(ok, y, 1.0), np.nan)
    m = np.nanmean(err, axis=0)
    return [float(m[h]) for h in HORIZONS]


def pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def holdout_zones(validate: bool = False) -> list[tuple[str, int, tuple[int, ...]]]:
    """(zone, test year, learning years) for every zone with at least two hourly years: the
    last year is the test year; with ``validate``, the year before it (learning from the years
    before that; zones with two years only are left out) -- where the knobs are chosen."""
    out = []
    for zone in embedded.zones():
        years = embedded.hourly_years(zone)
        if validate:
            years = years[:-1]
        if len(years) >= 2:
            out.append((zone, years[-1], tuple(years[:-1])))
    return out


def section1(zones: list[tuple[str, int, tuple[int, ...]]], n: int) -> dict[str, Any]:
    print("## 1. Hold-out per zone: 6 h job, Flexible Start 24 h / Pause and Resume +100 %\n")
    print(
        f"{n} starts per zone and strategy (seed 2024); savings in % of starting at once; "
        "'worse' = % of starts where the policy emitted more than starting at once; "
        "'shown' = the forecast's own promise (default forecaster); 'capture' = realised / "
        "oracle.\n"
    )
    print(
        "| zone | test | learn | strategy | oracle | typical | naive | default | worse typ "
        "| worse naive | worse def | shown | capture |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results: dict[str, Any] = {}
    for zone, test, learn in zones:
        s = test_series(zone, test)
        for strategy, window in TARGET.items():
            r = {f: run(zone, s, learn, strategy, 6, window, f, n) for f in FORECASTERS}
            d = r["default"]
            results[(zone, strategy)] = r
            print(
                f"| {zone} | {test} | {learn[0]}-{learn[-1]} | {strategy[:5]} | "
                f"{pct(d.oracle_savings_fraction)} | "
                + " | ".join(pct(r[f].realised_savings_fraction) for f in FORECASTERS)
                + " | "
                + " | ".join(pct(r[f].worse_fraction) for f in FORECASTERS)
                + f" | {pct(d.expected_savings_fraction)} | {d.capture_fraction:.2f} |"
            )
    print()
    for strategy in TARGET:
        rows = [v for (z, st), v in results.items() if st == strategy]
        print(
            f"- {strategy}: mean over {len(rows)} zones: oracle "
            f"{pct(np.mean([r['default'].oracle_savings_fraction for r in rows]))} %, "
            + ", ".join(
                f"{f} realised "
                f"{pct(np.mean([r[f].realised_savings_fraction for r in rows]))}"
                f" % (worse {pct(np.mean([r[f].worse_fraction for r in rows]))} %, "
                f"capture {np.mean([r[f].capture_fraction for r in rows]):.2f})"
                for f in FORECASTERS
            )
            + "; default shown "
            + f"{pct(np.mean([r['default'].expected_savings_fraction for r in rows]))} %"
        )
    caps = [v["default"].capture_fraction for v in results.values()]
    print(
        f"- both strategies: default forecaster captures {np.mean(caps):.2f} of the oracle "
        "saving on average over zones\n"
    )
    return results


def section2(zones: list[tuple[str, int, tuple[int, ...]]]) -> None:
    print("## 2. Forecast error (MAPE, %) per horizon over the test years\n")
    print(
        "Forecasts issued every 3rd hour of each zone's test year; horizon h = the hour "
        "starting h hours after the decision.\n"
    )
    print("| zone | forecaster | " + " | ".join(f"h={h}" for h in HORIZONS) + " |")
    print("|---|---|" + "---|" * len(HORIZONS))
    tot: dict[str, list[list[float]]] = {f: [] for f in FORECASTERS}
    for zone, test, learn in zones:
        s = test_series(zone, test)
        for f in FORECASTERS:
            fc = fcs.make_forecaster(f, zone, learn)
            m = mape_rows(zone, s, learn, fc)
            tot[f].append(m)
            print(f"| {zone} | {f} | " + " | ".join(pct(x) for x in m) + " |")
    for f in FORECASTERS:
        m = np.mean(np.asarray(tot[f]), axis=0)
        print(f"| **mean** | {f} | " + " | ".join(pct(x) for x in m) + " |")
    print()


def calibration_rows(
    zones: list[tuple[str, int, tuple[int, ...]]], n: int, classes: dict[str, list[tuple[int, Any]]]
) -> list[dict[str, Any]]:
    rows = []
    for zone, test, learn in zones:
        s = test_series(zone, test)
        for strategy, items in classes.items():
            for hours, window in items:
                b = run(zone, s, learn, strategy, hours, window, "default", n)
                rows.append(
                    {
                        "zone": zone,
                        "strategy": strategy,
                        "duration_s": b.duration_s,
                        "window_s": b.window_s,
                        "year": test,
                        "learned_from": list(learn),
                        "n_starts": b.n_starts,
                        "oracle_savings_fraction": round(b.oracle_savings_fraction, 4),
                        "realised_savings_fraction": round(b.realised_savings_fraction, 4),
                        "expected_savings_fraction": round(b.expected_savings_fraction, 4),
                        "worse_fraction": round(b.worse_fraction, 4),
                    }
                )
    return rows


def write_table(path: Path, doc: dict[str, Any]) -> None:
    """The table as compact JSON: one row per line, without repeated learning years."""
    rows = [{k: v for k, v in r.items() if k != "learned_from"} for r in doc["rows"]]
    head = {k: v for k, v in doc.items() if k != "rows"}
    head["learned_from"] = {r["zone"]: r["learned_from"] for r in doc["rows"]}
    text = json.dumps(head, separators=(",", ":"))[:-1] + ',"rows":[\n'
    text += ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows) + "\n]}\n"
    path.write_text(text, encoding="utf-8")


def section3(
    zones: list[tuple[str, int, tuple[int, ...]]], n: int, write: str | None
) -> list[dict[str, Any]]:
    print("## 3. Calibration table (default forecaster)\n")
    rows = calibration_rows(zones, n, CLASSES)
    print("Realised saving % (worse %) per zone and job class, test year.\n")
    head = [
        f"{s[:5]} {h}h/{w if isinstance(w, str) else f'+{w:.0%}'}"
        for s, items in CLASSES.items()
        for h, w in items
    ]
    print("| zone | " + " | ".join(head) + " |")
    print("|---|" + "---|" * len(head))
    for zone, _, _ in zones:
        zr = [r for r in rows if r["zone"] == zone]
        print(
            f"| {zone} | "
            + " | ".join(
                f"{pct(r['realised_savings_fraction'])} ({100 * r['worse_fraction']:.0f})"
                for r in zr
            )
            + " |"
        )
    print()
    if write:
        doc = {
            "format": 1,
            "generated_by": "benchmarks/backtest_holdout.py",
            "forecaster": "day-ahead",
            "min_forecast_saving": bt.MIN_FORECAST_SAVING,
            "uncertainty_k": dict(fcs.UNCERTAINTY_K),
            "note": (
                "Backtest of carbonsdk's default day-ahead forecaster and live policy on "
                "each zone's last embedded year, learning from the earlier years only "
                "(Electricity Maps Data Portal hourly data, ODbL 1.0: produced work)."
            ),
            "rows": rows,
        }
        write_table(Path(write), doc)
        print(f"(written to {write}: {len(rows)} rows)\n")
    return rows


def section4(
    zones: list[tuple[str, int, tuple[int, ...]]], n: int, results: dict[Any, Any]
) -> None:
    print(
        "## 4. Is the shown saving honest? Calibrate on the year before, check on the test year\n"
    )
    print(
        "Table built on year Y-1 (learning from the years before it), compared with what the "
        f"default policy realises in year Y (6 h job). Product rule: follow the forecaster "
        f"only when the Y-1 table says it realises >= {100 * MARGIN:.0f} %, else start at "
        "once.\n"
    )
    print(
        "| zone | strategy | shown (Y-1 table) | realised Y | oracle Y | product realised "
        "| product worse | product capture |"
    )
    print("|---|---|---|---|---|---|---|---|")
    diffs: dict[str, list[float]] = {s: [] for s in TARGET}
    prod: dict[str, list[tuple[float, float, float]]] = {s: [] for s in TARGET}
    for zone, _test, learn in zones:
        if len(learn) < 2:
            continue
        prev, prev_learn = learn[-1], learn[:-1]
        s_prev = test_series(zone, prev)
        for strategy, window in TARGET.items():
            shown = run(zone, s_prev, prev_learn, strategy, 6, window, "default", n)
            now = results[(zone, strategy)]["default"]
            go = shown.realised_savings_fraction >= MARGIN
            p_real = now.realised_savings_fraction if go else 0.0
            p_worse = now.worse_fraction if go else 0.0
            p_cap = p_real / now.oracle_savings_fraction if now.oracle_savings_fraction else 0.0
            diffs[strategy].append(shown.realised_savings_fraction - now.realised_savings_fraction)
            prod[strategy].append((p_real, p_worse, p_cap))
            print(
                f"| {zone} | {strategy[:5]} | {pct(shown.realised_savings_fraction)} | "
                f"{pct(now.realised_savings_fraction)} | {pct(now.oracle_savings_fraction)} | "
                f"{pct(p_real)} | {pct(p_worse)} | {p_cap:.2f} |"
            )
    print()
    for strategy in TARGET:
        d = np.asarray(diffs[strategy])
        p = np.asarray(prod[strategy])
        if not len(d):
            continue
        print(
            f"- {strategy}: shown - realised: mean {100 * d.mean():+.2f} pp, mean |.| "
            f"{100 * np.abs(d).mean():.2f} pp over {len(d)} zones; product rule: realised "
            f"{pct(p[:, 0].mean())} %, worse {pct(p[:, 1].mean())} %, capture "
            f"{p[:, 2].mean():.2f}"
        )
    allp = np.asarray([x for v in prod.values() for x in v])
    alld = np.asarray([x for v in diffs.values() for x in v])
    if len(allp):
        print(
            f"- both: |shown - realised| {100 * np.abs(alld).mean():.2f} pp, signed "
            f"{100 * alld.mean():+.2f} pp; product capture {allp[:, 2].mean():.2f}, worse "
            f"{pct(allp[:, 1].mean())} %\n"
        )


def read_portal_csv(path: Path) -> tuple[list[float], list[float]]:
    """(hour-start epoch seconds, LCA g/kWh) of an Electricity Maps Data Portal CSV; empty
    cells are filled by linear interpolation."""
    import csv

    times, values = [], []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            when = datetime.fromisoformat(row["Datetime (UTC)"]).replace(tzinfo=UTC)
            cell = row["Carbon Intensity gCO\u2082eq/kWh (LCA)"].strip()
            times.append(when.timestamp())
            values.append(float(cell) if cell else float("nan"))
    v = np.asarray(values)
    bad = ~np.isfinite(v)
    if bad.any():
        k = np.arange(len(v))
        v[bad] = np.interp(k[bad], k[~bad], v[~bad])
    return times, [float(x) for x in v]


def section5(extra: Path, n: int) -> None:
    print(
        "## 5. Data carbonsdk does not ship: Electricity Maps Data Portal 2023 originals "
        "(release 2024-01-17) of 8 U.S. zones (shared/data/extra_hourly/"
        "electricitymaps_gridcarbon)\n"
    )
    print(
        "An older vintage than the embedded 2023 values. The forecaster learns from the "
        "embedded 2021-2022 only and is tested on these files (6 h job).\n"
    )
    print(
        "| zone | strategy | oracle | typical | naive | default | worse def | shown def | capture |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    caps, worse, gap = [], [], []
    for path in sorted((extra / "electricitymaps_gridcarbon").glob("*_2023_hourly.csv")):
        zone = path.name.split("_")[0]
        if not embedded.has_hourly(zone):
            continue
        learn = tuple(y for y in embedded.hourly_years(zone) if y < 2023)
        if not learn:
            continue
        times, values = read_portal_csv(path)
        src = IntensitySource(provider="csv", basis="lifecycle", zone=zone)
        series = IntensitySeries(
            tuple([*times, times[-1] + 3600.0]), tuple(values), (False,) * len(values), src
        )
        for strategy, window in TARGET.items():
            r = {f: run(zone, series, learn, strategy, 6, window, f, n) for f in FORECASTERS}
            d = r["default"]
            caps.append(d.capture_fraction)
            worse.append(d.worse_fraction)
            gap.append(d.expected_savings_fraction - d.realised_savings_fraction)
            print(
                f"| {zone} | {strategy[:5]} | {pct(d.oracle_savings_fraction)} | "
                + " | ".join(pct(r[f].realised_savings_fraction) for f in FORECASTERS)
                + f" | {pct(d.worse_fraction)} | {pct(d.expected_savings_fraction)} | "
                f"{d.capture_fraction:.2f} |"
            )
    if caps:
        print(
            f"\n- mean over {len(caps) // 2} zones x 2 strategies: capture "
            f"{np.mean(caps):.2f}, worse {pct(float(np.mean(worse)))} %, forecast promise - "
            f"realised {100 * float(np.mean(gap)):+.2f} pp\n"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n-starts", type=int, default=200)
    ap.add_argument("--zones", default=None, help="comma-separated zones (default: all)")
    ap.add_argument("--write", default=None, help="write the calibration table here")
    ap.add_argument("--extra", default=None, help="shared/data/extra_hourly folder")
    ap.add_argument("--sections", default="1,2,3,4,5")
    ap.add_argument(
        "--validate",
        action="store_true",
        help="test on the year before each zone's last (the validation year, where the knobs "
        "are chosen) instead of the last",
    )
    ap.add_argument("--k", default=None, help="decision-gate k 'FS,PR' (default: the shipped)")
    args = ap.parse_args(argv)
    if args.k:
        fs_k, pr_k = (float(x) for x in args.k.split(","))
        K_OVERRIDE.update({"flexible_start": fs_k, "pause_and_resume": pr_k})
    zones = holdout_zones(args.validate)
    if args.zones:
        keep = set(args.zones.split(","))
        zones = [z for z in zones if z[0] in keep]
    sections = {int(x) for x in args.sections.split(",")}
    t0 = time.perf_counter()
    ks = {**fcs.UNCERTAINTY_K, **K_OVERRIDE}
    print(
        f"# carbonsdk forecast {'validation' if args.validate else 'hold-out'} ({len(zones)} "
        f"zones, min_forecast_saving {bt.MIN_FORECAST_SAVING:g}, uncertainty k: Flexible Start "
        f"{ks['flexible_start']:g}, Pause and Resume {ks['pause_and_resume']:g})\n"
    )
    results = section1(zones, args.n_starts) if 1 in sections or 4 in sections else {}
    if 2 in sections:
        section2(zones)
    if 3 in sections:
        section3(zones, args.n_starts, args.write)
    if 4 in sections:
        section4(zones, args.n_starts, results)
    if 5 in sections and args.extra:
        section5(Path(args.extra), args.n_starts)
    print(f"(ran in {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
