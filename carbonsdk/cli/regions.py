"""``carbonsdk regions``: every packaged cloud region with its grid zone, whether the embedded
dataset has hourly data for it, its mean intensity (life-cycle, g/kWh) and the data years."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from typing import Any

from carbonsdk import intensity
from carbonsdk.region import CLOUD_PROVIDERS, cloud_regions

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
        hourly = intensity.has_hourly(region.zone, BASIS)
        mean: float | None
        years: list[int]
        if hourly:
            mean = intensity.mean_g_per_kwh(region.zone, BASIS)
            years = list(intensity.hourly_years(region.zone, BASIS))
            kind: str | None = "hourly"
            dataset = intensity.dataset_label(region.zone, BASIS)
        else:
            annual = intensity.annual_g_per_kwh(region.country)
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


def _cells(row: dict[str, Any]) -> dict[str, str]:
    """The display cells of one region row, by column key."""
    place = row["city"] or row["display_name"]
    mean = row["mean_intensity_g_per_kwh"]
    return {
        "provider": row["provider"],
        "region": row["code"],
        "where": f"{row['provider']}:{row['code']}",
        "location": f"{place}, {row['country']}",
        "zone": row["zone"],
        "hourly": "yes" if row["hourly"] else "no",
        "intensity": "-" if mean is None else f"{mean:.0f}",
        "years": _years_text(row),
    }


#: column key -> header
HEADER_TEXT = {
    "provider": "provider",
    "region": "region",
    "where": "region",
    "location": "location",
    "zone": "zone",
    "hourly": "hourly",
    "intensity": "g/kWh (LCA)",
    "years": "data years",
}
HEADERS = [
    HEADER_TEXT[k]
    for k in ("provider", "region", "location", "zone", "hourly", "intensity", "years")
]
#: right-aligned columns
RIGHT = frozenset({"intensity"})
#: columns that may wrap onto several lines, and the narrowest they get (characters); a
#: layout that would need them narrower gives way to the next one
FOLDABLE = {"location": 20}
#: the layouts tried in order until one fits the width: the full table, then without the
#: hourly column (data years says "(annual)" instead), with provider and region as one
#: ``aws:us-east-1`` column (the form ``--region`` takes), without data years, without location
LAYOUTS: tuple[tuple[str, ...], ...] = (
    ("provider", "region", "location", "zone", "hourly", "intensity", "years"),
    ("provider", "region", "location", "zone", "intensity", "years"),
    ("where", "location", "zone", "intensity", "years"),
    ("where", "location", "zone", "intensity"),
    ("where", "zone", "intensity"),
)
GAP = 2


def _natural(keys: tuple[str, ...], cells: list[dict[str, str]]) -> dict[str, int]:
    return {k: max(len(HEADER_TEXT[k]), *(len(c[k]) for c in cells)) for k in keys}


def choose_layout(
    cells: list[dict[str, str]], width: int | None
) -> tuple[tuple[str, ...], dict[str, int]]:
    """The first of :data:`LAYOUTS` that fits ``width`` columns (None: no limit), folding a
    :data:`FOLDABLE` column down to its minimum where that is enough, and the width of each
    of its columns. When even the last layout does not fit, its columns fold to share the
    width (never narrower than 4 characters)."""
    if width is None:
        return LAYOUTS[0], _natural(LAYOUTS[0], cells)
    for keys in LAYOUTS:
        widths = _natural(keys, cells)
        total = sum(widths.values()) + GAP * (len(keys) - 1)
        if total <= width:
            return keys, widths
        excess = total - width
        for key in keys:
            if key in FOLDABLE and excess > 0:
                give = min(excess, widths[key] - FOLDABLE[key])
                if give > 0:
                    widths[key] -= give
                    excess -= give
        if excess <= 0:
            return keys, widths
    keys = LAYOUTS[-1]
    widths = _natural(keys, cells)
    room = max(4 * len(keys), width - GAP * (len(keys) - 1))
    while sum(widths.values()) > room:
        widest = max(keys, key=lambda k: widths[k])
        widths[widest] -= 1
    return keys, widths


def _fold(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def format_table(data: list[dict[str, Any]], width: int | None = None) -> list[str]:
    """The region table as lines of plain text no wider than ``width`` columns (None: as wide
    as the content): a header line, then each region (a region may take several lines when a
    column folds). Columns are dropped or folded by priority, see :data:`LAYOUTS`."""
    cells = [_cells(r) for r in data]
    keys, widths = choose_layout(cells, width)
    lines: list[str] = []
    for row in [{k: HEADER_TEXT[k] for k in keys}, *cells]:
        parts = {k: _fold(row[k], widths[k]) for k in keys}
        height = max(len(p) for p in parts.values())
        for i in range(height):
            out = []
            for k in keys:
                text = parts[k][i] if i < len(parts[k]) else ""
                out.append(text.rjust(widths[k]) if k in RIGHT else text.ljust(widths[k]))
            lines.append((" " * GAP).join(out).rstrip())
    return lines


def title_text(data: list[dict[str, Any]]) -> str:
    """The line above the table: how many regions, how many with hourly data."""
    hourly = sum(1 for r in data if r["hourly"])
    return (
        f"{len(data)} cloud regions, {hourly} with embedded hourly data "
        "(mean life-cycle intensity; annual = Ember country average)"
    )


def _wrap_title(title: str, width: int) -> list[str]:
    return textwrap.wrap(title, max(width, 20), break_on_hyphens=False)


def render(data: list[dict[str, Any]], width: int | None = None) -> str:
    """The title (wrapped to ``width``) and :func:`format_table`, as one string."""
    title = title_text(data)
    head = [title] if width is None else _wrap_title(title, width)
    return "\n".join([*head, *format_table(data, width)]) + "\n"


def run(args: argparse.Namespace) -> int:
    """Print the region list (table or ``--json``); returns the exit code. On a terminal the
    table fits its width (``COLUMNS`` or the terminal size); piped output is never cut (use
    ``--json`` in scripts)."""
    data = rows(getattr(args, "provider", None))
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not sys.stdout.isatty():
        sys.stdout.write(render(data))
        return 0
    from rich.console import Console
    from rich.text import Text

    width = shutil.get_terminal_size().columns
    console = Console(
        file=sys.stdout, width=width, highlight=False, markup=False, emoji=False, soft_wrap=True
    )
    text = render(data, width)
    head_lines = len(_wrap_title(title_text(data), width))
    for i, line in enumerate(text.splitlines()):
        style = "bold" if i <= head_lines else ""
        console.print(Text(line, style=style))
    return 0
