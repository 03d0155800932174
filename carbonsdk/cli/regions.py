"""``carbonsdk regions``: every packaged cloud region with its grid zone, whether the embedded
dataset has hourly data for it, its mean intensity (life-cycle, g/kWh) and the data years."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from carbonsdk.intensity import embedded
from carbonsdk.region.table import CLOUD_PROVIDERS, cloud_regions

BASIS = "lifecycle"


def add_parser(subparsers: Any) -> None:
    """Register the ``regions`` command on the CLI's sub-parsers."""
    parser = subparsers.add_parser(
        "regions",
        help="list cloud regions, their grid zones and embedded carbon intensity",
        description=(
            "List every packaged AWS, GCP and Azure region with its grid zone, whether "
            "hourly data is embedded, the mean life-cycle intensity (g/kWh) and the data years."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--provider", choices=CLOUD_PROVIDERS, help="only the regions of this cloud provider"
    )
    parser.set_defaults(func=run)


def rows(provider: str | None = None) -> list[dict[str, Any]]:
    """One dict per cloud region (optionally of one ``provider``): ``provider``, ``code``,
    ``display_name``, ``city``, ``country``, ``zone``, ``hourly`` (bool), ``data_years``,
    ``mean_intensity_g_per_kwh`` (life-cycle; the hourly mean, else the country's latest
    annual average), ``intensity_kind`` (``"hourly"``, ``"annual"`` or None), ``basis``,
    ``dataset``."""
    out: list[dict[str, Any]] = []
    for region in cloud_regions():
        if provider is not None and region.provider != provider:
            continue
        hourly = embedded.has_hourly(region.zone, BASIS)
        mean: float | None
        years: list[int]
        if hourly:
            mean = embedded.mean_g_per_kwh(region.zone, BASIS)
            years = list(embedded.hourly_years(region.zone, BASIS))
            kind: str | None = "hourly"
            dataset = embedded.dataset_label(region.zone, BASIS)
        else:
            annual = embedded.annual_g_per_kwh(region.country)
            mean, years = (None, []) if annual is None else (annual[0], [annual[1]])
            kind = None if annual is None else "annual"
            dataset = "" if annual is None else "Ember annual country average, CC BY 4.0"
        out.append(
            {
                "provider": region.provider,
                "code": region.code,
                "display_name": region.display_name,
                "city": region.city,
                "country": region.country,
                "zone": region.zone,
                "hourly": hourly,
                "data_years": years,
                "mean_intensity_g_per_kwh": None if mean is None else round(mean, 1),
                "intensity_kind": kind,
                "basis": BASIS,
                "dataset": dataset,
            }
        )
    return out


def _years_text(row: dict[str, Any]) -> str:
    years = row["data_years"]
    if not years:
        return "-"
    span = str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"
    if not row["hourly"]:
        return f"{span} (annual)"
    return f"{span} (EIA-930)" if "EIA-930" in row["dataset"] else span


def _cells(row: dict[str, Any]) -> list[str]:
    place = row["city"] or row["display_name"]
    mean = row["mean_intensity_g_per_kwh"]
    return [
        row["provider"],
        row["code"],
        f"{place}, {row['country']}",
        row["zone"],
        "yes" if row["hourly"] else "no",
        "-" if mean is None else f"{mean:.0f}",
        _years_text(row),
    ]


HEADERS = ["provider", "region", "location", "zone", "hourly", "g/kWh (LCA)", "data years"]


def _plain(table: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in [HEADERS, *table]) for i in range(len(HEADERS))]
    right = {5}
    for r in [HEADERS, *table]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("  ".join(cells).rstrip(), file=out)


def _rich(table_rows: list[list[str]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="right" if i == 5 else "left")
    for r in table_rows:
        table.add_row(*r)
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    """Print the region list (table or ``--json``); returns the exit code."""
    data = rows(getattr(args, "provider", None))
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    table = [_cells(r) for r in data]
    hourly = sum(1 for r in data if r["hourly"])
    title = (
        f"{len(data)} cloud regions, {hourly} with embedded hourly data "
        "(mean life-cycle intensity; annual = Ember country average)"
    )
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        _rich(table, title)
    else:
        print(title)
        _plain(table, sys.stdout)
    return 0
