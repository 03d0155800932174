#!/usr/bin/env python3
"""Build carbonsdk's embedded carbon-intensity dataset (``carbonsdk/data/``) from the reference
data folder (``shared/data``, described by its README).

Usage::

    python tools/build_dataset.py [SOURCE_DIR] [--out carbonsdk/data]

``SOURCE_DIR`` defaults to ``../shared/data`` relative to the repository root. The output is
reproducible byte for byte: no timestamps, every list sorted, JSON with sorted keys, fixed zlib
level. Three files are written (the licence/notice files beside them are maintained by hand):

``hourly.bin``
    One zlib stream (level 9) per zone-year, concatenated. Each stream holds, for a series of
    ``n`` hours and each basis listed in the index (``lifecycle`` first, then ``direct`` where
    the data has it): ``n`` little-endian int32 values that are the hour-to-hour differences of
    the intensity in centi-gCO2eq/kWh (the first is the value itself), byte-shuffled (all first
    bytes, then all second bytes, ...); then an ``estimated`` bitmap of ``ceil(n/8)`` bytes, bit
    ``i % 8`` of byte ``i // 8`` set when hour ``i`` is estimated.

``intensity.json``
    The index of ``hourly.bin`` (zone, year, dataset, first hour as UTC epoch seconds, hours,
    bases, byte offset and length, estimated hours, mean per basis, source file and its sha256),
    the data sets' provenance, Ember's annual country intensities (all years) and Google Cloud's
    per-region figures.

``regions.json``
    The cloud region table (AWS, GCP, Azure region -> city, country, grid zone, sources), the
    known grid zone ids and the ISO 3166 country codes that have data.

Conversions (all recorded in DATA_LICENSES.md):

* Electricity Maps files: zone from the ``Zone Id`` column, not the file name (``DE-LU_*`` holds
  ``DE``, ``BR-SP_*`` holds ``BR-CS``, ``CL-SIC_*`` holds ``CL-SEN``); ``(LCA)`` column ->
  ``lifecycle``, ``(direct)`` -> ``direct``; ``Data Estimated`` -> the estimated flag; time
  stamps are hour start, UTC. Values kept exactly (they have two decimals).
* HPE dc-rl EIA-930 files: ``avg_CI`` is production-based life-cycle intensity -> ``lifecycle``
  only, labelled as its own data set (never spliced with Electricity Maps series); time stamps
  are hour ending, so each is moved back one hour to an hour-start stamp; values rounded to
  0.01 g/kWh.
* A missing hour or empty value is filled by linear interpolation between its neighbours and
  flagged estimated; exact duplicate rows are dropped; conflicting duplicates stop the build.
"""

from __future__ import annotations

import argparse
import array
import csv
import hashlib
import io
import itertools
import json
import math
import sys
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
#: stored integers are intensity in g/kWh times SCALE
SCALE = 100
ZLIB_LEVEL = 9
BASES = ("lifecycle", "direct")
HOUR_S = 3600

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "carbonsdk" / "data"
GENERATED_FILES = ("hourly.bin", "intensity.json", "regions.json")

#: Data sets, keyed by the folder the files sit in. Provenance from shared/data/README.md
#: (sections 1, 5.1 and 5.3) and extra_hourly/manifest.csv.
DATASETS: dict[str, dict[str, str]] = {
    "electricitymaps_hourly": {
        "id": "em-green-dcc",
        "publisher": "Electricity Maps",
        "licence": "ODbL-1.0",
        "host": "HewlettPackard/green-dcc",
        "commit": "3f6ea95cb835b89ba50b0ef76d66d14b8037643e",
        "vintage": "about 2025",
        "accounting": "consumption-based (flow-traced)",
        "timestamps": "hour start, UTC",
    },
    "electricitymaps_eco4cast": {
        "id": "em-eco4cast",
        "publisher": "Electricity Maps",
        "licence": "ODbL-1.0",
        "host": "AIRI-Institute/eco4cast",
        "commit": "6bd35ce797fec9a36eaba5358aeb0d0f8724c25a",
        "vintage": "first half of 2023",
        "accounting": "consumption-based (flow-traced)",
        "timestamps": "hour start, UTC",
    },
    "electricitymaps_decarbonization_potential": {
        "id": "em-decarbonization-potential",
        "publisher": "Electricity Maps",
        "licence": "ODbL-1.0",
        "host": "umassos/decarbonization-potential",
        "commit": "3493a63016bd2aaa71cae1f33809576786b331d4",
        "vintage": "early 2024",
        "accounting": "consumption-based (flow-traced)",
        "timestamps": "hour start, UTC",
    },
    "electricitymaps_ichnos": {
        "id": "em-ichnos",
        "publisher": "Electricity Maps",
        "licence": "ODbL-1.0",
        "host": "westkath/ichnos",
        "commit": "f6630dd52130e979dbde242dd40fc3e8b274fee5",
        "vintage": "early 2024",
        "accounting": "consumption-based (flow-traced)",
        "timestamps": "hour start, UTC",
    },
    "electricitymaps_p1projekt": {
        "id": "em-p1projekt",
        "publisher": "Electricity Maps",
        "licence": "ODbL-1.0",
        "host": "Head9x/P1-projekt",
        "commit": "d7961dba74ac34bda6e0b5836644bc8623c37349",
        "vintage": "2023",
        "accounting": "consumption-based (flow-traced)",
        "timestamps": "hour start, UTC",
    },
    "hpe_dcrl_eia930_2022": {
        "id": "dcrl-eia930",
        "publisher": "Hewlett Packard Enterprise (HewlettPackard/dc-rl), "
        "from U.S. EIA Form EIA-930",
        "licence": "MIT",
        "host": "HewlettPackard/dc-rl",
        "commit": "a92b4755aca560e34a98d14028dda629eb968482",
        "vintage": "2024-04-25",
        "accounting": "production-based (balancing-authority generation only, no imports), "
        "IPCC AR5 median life-cycle factors",
        "timestamps": "hour ending, UTC, in the source; stored shifted back 1 h to hour start",
    },
}

#: Electricity Maps zone keys (identifiers only), from electricitymaps/electricitymaps-contrib
#: ``config/zone_names.json`` at commit 0cf497ffc8a9fc39a493464ead592de322c1b85c. The build adds
#: every zone id that appears in the data and in cloud_regions.csv.
EM_ZONE_KEYS = """
AD AE AF AG AL AM AO AR AT AU AU-LH AU-NSW AU-NT AU-QLD AU-SA AU-TAS AU-TAS-CBI AU-TAS-KI
AU-TAS-FI AU-VIC AU-WA AU-WA-RI AW AX AZ BA BB BD BE BF BG BH BI BJ BM BN BO BR BR-CS BR-N BR-NE
BR-S BS BT BW BY BZ CA CA-AB CA-BC CA-MB CA-NB CA-NL CA-NS CA-NT CA-NU CA-ON CA-PE CA-QC CA-SK
CA-YT CD CF CG CH CI CL-CHP CL-SEA CL-SEM CL-SEN CM CN CO CR CU CV CW CY CZ DE DJ DK DK-DK1
DK-DK2 DK-BHM DM DO DZ EC EE EG EH ER ES ES-CE ES-IB-FO ES-IB-IZ ES-IB-MA ES-IB-ME ES-CN-FVLZ
ES-CN-FV ES-CN-LZ ES-CN-GC ES-CN-HI ES-CN-IG ES-CN-LP ES-CN-TE ES-ML ET FI FJ FK FM FO FO-MI
FO-SI FR FR-COR GA GB GB-NIR GB-ORK GB-ZET GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK
HM HN HR HT HU ID IE IL IM IN IN-EA IN-NE IN-NO IN-SO IN-WE IN-AN IN-HP IN-UP IN-UT IO IQ
IQ-KUR IR IS IT IT-CNO IT-CSO IT-NO IT-SAR IT-SIC IT-SO JE JM JO JP JP-CB JP-CG JP-HKD JP-HR
JP-KN JP-KY JP-ON JP-SK JP-TH JP-TK KE KG KH KM KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MG MK ML MM MN MO MQ MR MS MT MU MV MW MX MX-BC MX-BCS MX-CE MX-NE MX-NO MX-NW MX-OC
MX-OR MX-PN MY MY-EM MY-WM MZ NA NC NE NG NI NL NO NO-NO1 NO-NO2 NO-NO3 NO-NO4 NO-NO5 NP NZ
NZ-NZA NZ-NZC NZ-NZST OM PA PE PF PG PH PH-LU PH-MI PH-VI PK PL PM PR PS PT PT-AC PT-MA PW PY
QA RE RO RS RU RU-1 RU-2 RU-AS RU-EU RU-FE RU-KGD RW SA SB SC SD SE SE-SE1 SE-SE2 SE-SE3 SE-SE4
SG SI SJ SK SL SN SO SR SS ST SV SY SZ TD TF TG TH TJ TL TM TN TO TR TT TW TZ UA UA-CR UG US
US-AK US-AK-SEAPA US-HI US-HI-HA US-HI-KA US-HI-KH US-HI-LA US-HI-MA US-HI-MO US-HI-NI US-HI-OA
US-CAL-BANC US-CAL-CISO US-CAL-IID US-CAL-LDWP US-CAL-TIDC US-CAR-CPLE US-CAR-CPLW US-CAR-DUK
US-CAR-SC US-CAR-SCEG US-CAR-YAD US-CENT-SPA US-CENT-SWPP US-FLA-FMPP US-FLA-FPC US-FLA-FPL
US-FLA-GVL US-FLA-HST US-FLA-JEA US-FLA-SEC US-FLA-TAL US-FLA-TEC US-MIDA-PJM US-MIDW-AECI
US-MIDW-LGEE US-MIDW-MISO US-NE-ISNE US-NW-AVA US-NW-BPAT US-NW-CHPD US-NW-DOPD US-NW-GCPD
US-NW-GRID US-NW-IPCO US-NW-NEVP US-NW-NWMT US-NW-PACE US-NW-PACW US-NW-PGE US-NW-PSCO
US-NW-PSEI US-NW-SCL US-NW-TPWR US-NW-WACM US-NW-WAUW US-NY-NYIS US-SE-SEPA US-SE-SOCO
US-SW-AZPS US-SW-EPE US-SW-PNM US-SW-SRP US-SW-TEPC US-SW-WALC US-TEN-TVA US-TEX-ERCO UY UZ VC
VE VI VN VU WS XK XX YE YT ZA ZM ZW
""".split()  # noqa: SIM905 - a word list reads better than 350 quoted strings

#: ISO 3166-1 alpha-3 -> alpha-2 for every code in Ember's file, from ISO 3166-1 as published in
#: Debian's iso-codes 4.15.0 (``iso_3166-1.json``). ``XKX`` -> ``XK`` is the user-assigned code
#: for Kosovo that Ember and Electricity Maps use (not an ISO assignment).
ALPHA3_TO_ALPHA2: dict[str, str] = {
    "ABW": "AW", "AFG": "AF", "AGO": "AO", "ALB": "AL", "ARE": "AE", "ARG": "AR", "ARM": "AM",
    "ASM": "AS", "ATG": "AG", "AUS": "AU", "AUT": "AT", "AZE": "AZ", "BDI": "BI", "BEL": "BE",
    "BEN": "BJ", "BFA": "BF", "BGD": "BD", "BGR": "BG", "BHR": "BH", "BHS": "BS", "BIH": "BA",
    "BLR": "BY", "BLZ": "BZ", "BOL": "BO", "BRA": "BR", "BRB": "BB", "BRN": "BN", "BTN": "BT",
    "BWA": "BW", "CAF": "CF", "CAN": "CA", "CHE": "CH", "CHL": "CL", "CHN": "CN", "CIV": "CI",
    "CMR": "CM", "COD": "CD", "COG": "CG", "COK": "CK", "COL": "CO", "COM": "KM", "CPV": "CV",
    "CRI": "CR", "CUB": "CU", "CYM": "KY", "CYP": "CY", "CZE": "CZ", "DEU": "DE", "DJI": "DJ",
    "DMA": "DM", "DNK": "DK", "DOM": "DO", "DZA": "DZ", "ECU": "EC", "EGY": "EG", "ERI": "ER",
    "ESP": "ES", "EST": "EE", "ETH": "ET", "FIN": "FI", "FJI": "FJ", "FLK": "FK", "FRA": "FR",
    "FRO": "FO", "GAB": "GA", "GBR": "GB", "GEO": "GE", "GHA": "GH", "GIN": "GN", "GLP": "GP",
    "GMB": "GM", "GNB": "GW", "GNQ": "GQ", "GRC": "GR", "GRD": "GD", "GRL": "GL", "GTM": "GT",
    "GUF": "GF", "GUM": "GU", "GUY": "GY", "HKG": "HK", "HND": "HN", "HRV": "HR", "HTI": "HT",
    "HUN": "HU", "IDN": "ID", "IND": "IN", "IRL": "IE", "IRN": "IR", "IRQ": "IQ", "ISL": "IS",
    "ISR": "IL", "ITA": "IT", "JAM": "JM", "JOR": "JO", "JPN": "JP", "KAZ": "KZ", "KEN": "KE",
    "KGZ": "KG", "KHM": "KH", "KIR": "KI", "KNA": "KN", "KOR": "KR", "KWT": "KW", "LAO": "LA",
    "LBN": "LB", "LBR": "LR", "LBY": "LY", "LCA": "LC", "LKA": "LK", "LSO": "LS", "LTU": "LT",
    "LUX": "LU", "LVA": "LV", "MAC": "MO", "MAR": "MA", "MDA": "MD", "MDG": "MG", "MDV": "MV",
    "MEX": "MX", "MKD": "MK", "MLI": "ML", "MLT": "MT", "MMR": "MM", "MNE": "ME", "MNG": "MN",
    "MOZ": "MZ", "MRT": "MR", "MSR": "MS", "MTQ": "MQ", "MUS": "MU", "MWI": "MW", "MYS": "MY",
    "NAM": "NA", "NCL": "NC", "NER": "NE", "NGA": "NG", "NIC": "NI", "NLD": "NL", "NOR": "NO",
    "NPL": "NP", "NRU": "NR", "NZL": "NZ", "OMN": "OM", "PAK": "PK", "PAN": "PA", "PER": "PE",
    "PHL": "PH", "PNG": "PG", "POL": "PL", "PRI": "PR", "PRK": "KP", "PRT": "PT", "PRY": "PY",
    "PSE": "PS", "PYF": "PF", "QAT": "QA", "REU": "RE", "ROU": "RO", "RUS": "RU", "RWA": "RW",
    "SAU": "SA", "SDN": "SD", "SEN": "SN", "SGP": "SG", "SLB": "SB", "SLE": "SL", "SLV": "SV",
    "SOM": "SO", "SPM": "PM", "SRB": "RS", "SSD": "SS", "STP": "ST", "SUR": "SR", "SVK": "SK",
    "SVN": "SI", "SWE": "SE", "SWZ": "SZ", "SYC": "SC", "SYR": "SY", "TCA": "TC", "TCD": "TD",
    "TGO": "TG", "THA": "TH", "TJK": "TJ", "TKM": "TM", "TON": "TO", "TTO": "TT", "TUN": "TN",
    "TUR": "TR", "TWN": "TW", "TZA": "TZ", "UGA": "UG", "UKR": "UA", "URY": "UY", "USA": "US",
    "UZB": "UZ", "VCT": "VC", "VEN": "VE", "VGB": "VG", "VIR": "VI", "VNM": "VN", "VUT": "VU",
    "WSM": "WS", "XKX": "XK", "YEM": "YE", "ZAF": "ZA", "ZMB": "ZM", "ZWE": "ZW",
}  # fmt: skip

PROVIDER_ORDER = {"aws": 0, "gcp": 1, "azure": 2}


class BuildError(Exception):
    """The source data is not what the build expects (the message names the file)."""


# --------------------------------------------------------------------------------------------
# small helpers


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _centi(text: str, where: str) -> int:
    """Intensity text (g/kWh) -> integer centi-g/kWh. Python's float parsing and ``round``
    (half-even on the binary value) are exact for the two-decimal sources and deterministic
    (IEEE 754) for the full-precision dc-rl values."""
    try:
        value = float(text)
    except ValueError:
        raise BuildError(f"{where}: not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BuildError(f"{where}: invalid intensity {text!r}")
    return round(value * SCALE)


def _parse_stamp(text: str, where: str, *, aware: bool) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` (naive, UTC) or, with ``aware``, the same with a ``+00:00``
    offset; returns an aware UTC datetime."""
    text = text.strip()
    try:
        if len(text) != (25 if aware else 19) or text[10] != " ":
            raise ValueError(text)
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise BuildError(f"{where}: unexpected time stamp {text!r}") from None
    if aware != (stamp.tzinfo is not None):
        raise BuildError(f"{where}: unexpected time stamp {text!r}")
    return stamp.astimezone(UTC) if aware else stamp.replace(tzinfo=UTC)


def _epoch_s(when: datetime) -> int:
    return int(when.timestamp())


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    # newline="" lets csv handle CRLF and LF alike
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [row for row in reader if row]
    return header, rows


def _norm_header(name: str) -> str:
    return name.replace("\u2082", "2").strip().lower()


def _column(header: Sequence[str], path: Path, *needles: str) -> int:
    normalised = [_norm_header(h) for h in header]
    for i, name in enumerate(normalised):
        if all(n in name for n in needles):
            return i
    raise BuildError(f"{path}: no column containing {needles!r} in header {header!r}")


def _json_bytes(obj: Any) -> bytes:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=1, allow_nan=False)
    return (text + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# hourly series


class Series:
    """One zone-year: contiguous hourly values (centi-g/kWh) per basis and estimated flags."""

    def __init__(
        self,
        zone: str,
        year: int,
        folder: str,
        source: str,
        source_sha256: str,
        start_s: int,
        values: dict[str, list[int]],
        estimated: list[bool],
        filled_hours: int,
    ) -> None:
        self.zone = zone
        self.year = year
        self.folder = folder
        self.source = source
        self.source_sha256 = source_sha256
        self.start_s = start_s
        self.values = values
        self.estimated = estimated
        self.filled_hours = filled_hours

    @property
    def hours(self) -> int:
        return len(self.estimated)

    @property
    def bases(self) -> list[str]:
        return [b for b in BASES if b in self.values]


def _contiguous(
    rows: dict[int, tuple[dict[str, int | None], bool]], bases: Sequence[str], where: str
) -> tuple[int, dict[str, list[int]], list[bool], int]:
    """Hour-start epoch -> (values, estimated) into contiguous lists, filling missing hours and
    empty values by linear interpolation (flagged estimated)."""
    if not rows:
        raise BuildError(f"{where}: no rows")
    first = min(rows)
    last = max(rows)
    n = (last - first) // HOUR_S + 1
    values: dict[str, list[int | None]] = {b: [None] * n for b in bases}
    estimated = [True] * n
    for t, (vals, est) in rows.items():
        i = (t - first) // HOUR_S
        for b in bases:
            values[b][i] = vals[b]
        estimated[i] = est
    filled: set[int] = set()
    out: dict[str, list[int]] = {}
    for b in bases:
        col = values[b]
        known = [i for i, v in enumerate(col) if v is not None]
        if not known:
            raise BuildError(f"{where}: no {b} values")
        filled_col: list[int] = []
        k = 0  # index into known: known[k-1] < i <= known[k]
        for i, v in enumerate(col):
            if v is not None:
                filled_col.append(v)
                continue
            while k < len(known) and known[k] < i:
                k += 1
            lo = known[k - 1] if k > 0 else None
            hi = known[k] if k < len(known) else None
            if lo is None:
                assert hi is not None
                fill = col[hi]
            elif hi is None:
                fill = col[lo]
            else:
                a, c = col[lo], col[hi]
                assert a is not None and c is not None
                # exact rational interpolation, rounded half-even
                fill = round(Fraction(a) + Fraction(c - a, 1) * Fraction(i - lo, hi - lo))
            assert fill is not None
            filled_col.append(fill)
            estimated[i] = True
            filled.add(i)
        out[b] = filled_col
    return first, out, estimated, len(filled)


def _read_em_file(path: Path, folder: str, rel: str) -> Series:
    header, rows = _read_csv(path)
    c_time = _column(header, path, "datetime (utc)")
    c_zone = _column(header, path, "zone id")
    c_direct = _column(header, path, "carbon intensity", "(direct)")
    c_lca = _column(header, path, "carbon intensity", "(lca)")
    c_est = _column(header, path, "data estimated")
    zones = {row[c_zone].strip() for row in rows}
    if len(zones) != 1:
        raise BuildError(f"{path}: expected one Zone Id, found {sorted(zones)}")
    zone = zones.pop()
    parsed: dict[int, tuple[dict[str, int | None], bool]] = {}
    for lineno, row in enumerate(rows, start=2):
        where = f"{path}:{lineno}"
        stamp = _parse_stamp(row[c_time], where, aware=False)
        t = _epoch_s(stamp)  # Electricity Maps stamps each hour at its start
        if t % HOUR_S:
            raise BuildError(f"{where}: time stamp not on the hour")
        flag = row[c_est].strip().lower()
        if flag not in ("true", "false"):
            raise BuildError(f"{where}: Data Estimated is {row[c_est]!r}")
        vals: dict[str, int | None] = {
            "lifecycle": _centi(row[c_lca], where) if row[c_lca].strip() else None,
            "direct": _centi(row[c_direct], where) if row[c_direct].strip() else None,
        }
        est = flag == "true" or None in vals.values()
        if t in parsed:
            if parsed[t] != (vals, est):
                raise BuildError(f"{where}: conflicting duplicate hour {stamp.isoformat()}")
            continue
        parsed[t] = (vals, est)
    start_s, values, estimated, filled = _contiguous(parsed, BASES, str(path))
    year = datetime.fromtimestamp(start_s + (len(estimated) // 2) * HOUR_S, tz=UTC).year
    return Series(zone, year, folder, rel, _sha256(path), start_s, values, estimated, filled)


def _read_dcrl_file(path: Path, folder: str, rel: str, zone: str) -> Series:
    header, rows = _read_csv(path)
    c_time = _column(header, path, "timestamp")
    c_ci = _column(header, path, "avg_ci")
    parsed: dict[int, tuple[dict[str, int | None], bool]] = {}
    for lineno, row in enumerate(rows, start=2):
        where = f"{path}:{lineno}"
        stamp = _parse_stamp(row[c_time], where, aware=True)
        # EIA-930 stamps the hour at its end (shared/data README 5.3): hour start = stamp - 1 h
        t = _epoch_s(stamp - timedelta(hours=1))
        if t % HOUR_S:
            raise BuildError(f"{where}: time stamp not on the hour")
        text = row[c_ci].strip()
        vals: dict[str, int | None] = {"lifecycle": _centi(text, where) if text else None}
        est = vals["lifecycle"] is None
        if t in parsed:
            if parsed[t] != (vals, est):
                raise BuildError(f"{where}: conflicting duplicate hour {stamp.isoformat()}")
            continue
        parsed[t] = (vals, est)
    start_s, values, estimated, filled = _contiguous(parsed, ("lifecycle",), str(path))
    year = datetime.fromtimestamp(start_s + (len(estimated) // 2) * HOUR_S, tz=UTC).year
    return Series(zone, year, folder, rel, _sha256(path), start_s, values, estimated, filled)


def _check_sha(path: Path, expected: str) -> None:
    actual = _sha256(path)
    if actual != expected:
        raise BuildError(f"{path}: sha256 {actual} does not match the manifest ({expected})")


def read_series(source: Path) -> list[Series]:
    """Every hourly series in ``source`` (electricitymaps_hourly/ and extra_hourly/)."""
    out: list[Series] = []
    with (source / "electricitymaps_hourly_manifest.csv").open(encoding="utf-8", newline="") as fh:
        manifest = list(csv.DictReader(fh))
    for entry in sorted(manifest, key=lambda e: e["file"]):
        rel = f"electricitymaps_hourly/{entry['file']}"
        path = source / rel
        _check_sha(path, entry["sha256"])
        series = _read_em_file(path, "electricitymaps_hourly", rel)
        if series.zone != entry["zone_id_in_file"]:
            raise BuildError(f"{path}: zone {series.zone} != manifest {entry['zone_id_in_file']}")
        out.append(series)
    with (source / "extra_hourly" / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        extra = list(csv.DictReader(fh))
    for entry in sorted(extra, key=lambda e: (e["source_dir"], e["file"])):
        folder = entry["source_dir"]
        if folder not in DATASETS:
            raise BuildError(f"extra_hourly/manifest.csv: unknown folder {folder!r}")
        rel = f"extra_hourly/{folder}/{entry['file']}"
        path = source / rel
        _check_sha(path, entry["sha256"])
        if folder.startswith("hpe_dcrl"):
            series = _read_dcrl_file(path, folder, rel, entry["zone_id"])
        else:
            series = _read_em_file(path, folder, rel)
            if series.zone != entry["zone_id"]:
                raise BuildError(f"{path}: zone {series.zone} != manifest {entry['zone_id']}")
        out.append(series)
    out.sort(key=lambda s: (s.zone, s.year, s.folder))
    seen: set[tuple[str, int]] = set()
    for s in out:
        if (s.zone, s.year) in seen:
            raise BuildError(f"two series for {s.zone} {s.year}: the build keeps one per zone-year")
        seen.add((s.zone, s.year))
    return out


def _encode_series(series: Series) -> bytes:
    if array.array("i").itemsize != 4:  # pragma: no cover - exotic platform
        raise BuildError("int32 array typecode 'i' is not 4 bytes here")
    parts: list[bytes] = []
    n = series.hours
    for basis in series.bases:
        vals = series.values[basis]
        deltas = array.array("i", [vals[0]] + [b - a for a, b in itertools.pairwise(vals)])
        if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
            deltas.byteswap()
        raw = deltas.tobytes()
        parts.append(b"".join(raw[i::4] for i in range(4)))
    bitmap = bytearray((n + 7) // 8)
    for i, flag in enumerate(series.estimated):
        if flag:
            bitmap[i >> 3] |= 1 << (i & 7)
    parts.append(bytes(bitmap))
    return zlib.compress(b"".join(parts), ZLIB_LEVEL)


# --------------------------------------------------------------------------------------------
# annual, GCP, regions


def read_annual(source: Path) -> dict[str, Any]:
    """Ember annual intensities, all years, keyed by ISO alpha-2."""
    path = source / "annual_country_intensity_all_years.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, Any] = {}
    for lineno, row in enumerate(rows, start=2):
        iso3 = row["iso_code"].strip()
        if iso3 not in ALPHA3_TO_ALPHA2:
            raise BuildError(f"{path}:{lineno}: no alpha-2 code known for {iso3!r}")
        iso2 = ALPHA3_TO_ALPHA2[iso3]
        entry = out.setdefault(iso2, {"iso3": iso3, "name": row["country"].strip(), "years": {}})
        year = str(int(row["year"]))
        if year in entry["years"]:
            raise BuildError(f"{path}:{lineno}: duplicate {iso3} {year}")
        entry["years"][year] = _centi(row["carbon_intensity_g_per_kwh"], f"{path}:{lineno}") / SCALE
    return out


def read_gcp(source: Path) -> dict[str, Any]:
    """Google Cloud per-region CFE (fraction) and grid intensity (g/kWh), per year."""
    out: dict[str, Any] = {}
    for path in sorted((source / "gcp_region_carbon").glob("*.csv")):
        year = str(int(path.stem))
        header, rows = _read_csv(path)
        c_region = _column(header, path, "google cloud region")
        c_location = _column(header, path, "location")
        c_cfe = _column(header, path, "google cfe")
        c_ci = _column(header, path, "grid carbon intensity")
        for lineno, row in enumerate(rows, start=2):
            region = row[c_region].strip()
            out.setdefault(region, {})[year] = {
                "location": row[c_location].strip(),
                "cfe_fraction": float(row[c_cfe].strip()),
                "grid_g_per_kwh": _centi(row[c_ci], f"{path}:{lineno}") / SCALE,
            }
    return out


def read_cloud_regions(source: Path) -> list[dict[str, str]]:
    """cloud_regions.csv rows, sorted by provider (aws, gcp, azure) then region code."""
    path = source / "cloud_regions.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    seen: set[tuple[str, str]] = set()
    for lineno, row in enumerate(rows, start=2):
        provider = row["provider"].strip()
        code = row["region"].strip()
        if provider not in PROVIDER_ORDER or not code:
            raise BuildError(f"{path}:{lineno}: bad provider/region {provider!r} {code!r}")
        if (provider, code) in seen:
            raise BuildError(f"{path}:{lineno}: duplicate region {provider}:{code}")
        seen.add((provider, code))
        out.append(
            {
                "provider": provider,
                "code": code,
                "display_name": row["display_name"].strip(),
                "city": row["city"].strip(),
                "country": row["country_iso2"].strip(),
                "zone": row["grid_zone"].strip(),
                "source": row["source"].strip(),
            }
        )
    out.sort(key=lambda r: (PROVIDER_ORDER[r["provider"]], r["code"]))
    return out


# --------------------------------------------------------------------------------------------
# build


def build(source: Path, out: Path) -> dict[str, int]:
    """Build the dataset from ``source`` into ``out``; returns the size in bytes of each file
    written. Raises :class:`BuildError` when the source data is not as expected."""
    if not (source / "README.md").is_file():
        raise BuildError(f"{source}: not the shared reference data folder (no README.md)")
    series = read_series(source)
    annual = read_annual(source)
    gcp = read_gcp(source)
    regions = read_cloud_regions(source)

    blob = io.BytesIO()
    index: list[dict[str, Any]] = []
    for s in series:
        chunk = _encode_series(s)
        offset = blob.tell()
        blob.write(chunk)
        index.append(
            {
                "zone": s.zone,
                "year": s.year,
                "dataset": DATASETS[s.folder]["id"],
                "start_s": s.start_s,
                "hours": s.hours,
                "bases": s.bases,
                "offset": offset,
                "length": len(chunk),
                "estimated_hours": sum(s.estimated),
                "filled_hours": s.filled_hours,
                "mean_g_per_kwh": {
                    b: round(sum(s.values[b]) / s.hours / SCALE, 4) for b in s.bases
                },
                "source": s.source,
                "source_sha256": s.source_sha256,
            }
        )
    blob_bytes = blob.getvalue()

    data_zones = {s.zone for s in series}
    table_zones = {r["zone"] for r in regions}
    zones = sorted(set(EM_ZONE_KEYS) | data_zones | table_zones)
    countries: dict[str, Any] = {
        iso2: {"iso3": entry["iso3"], "name": entry["name"]} for iso2, entry in annual.items()
    }
    for r in regions:
        if r["country"] not in countries:
            raise BuildError(f"cloud_regions.csv: country {r['country']} has no annual value")

    intensity = {
        "format": FORMAT_VERSION,
        "scale": SCALE,
        "blob": "hourly.bin",
        "blob_sha256": hashlib.sha256(blob_bytes).hexdigest(),
        "zlib_version": zlib.ZLIB_VERSION,
        "default_basis": "lifecycle",
        "datasets": {
            d["id"]: {k: v for k, v in d.items() if k != "id"} | {"folder": folder}
            for folder, d in DATASETS.items()
        },
        "series": index,
        "annual": annual,
        "annual_dataset": {
            "publisher": "Ember",
            "title": "Yearly Electricity Data (country overview, yearly)",
            "host": "ember-climate/ember-data-api",
            "commit": "02ce82d403b50d2cd2acd792505411088891b34e",
            "licence": "CC-BY-4.0",
            "basis": "lifecycle",
            "accounting": "production-based (domestic generation, imports excluded)",
        },
        "gcp": gcp,
        "gcp_dataset": {
            "publisher": "Google LLC",
            "host": "GoogleCloudPlatform/region-carbon-info",
            "commit": "49f3f26bfd682305e8d9b572fea1f811900421a9",
            "licence": "Apache-2.0",
            "basis": "direct (operational gross emissions, location-based)",
        },
    }
    region_doc = {
        "format": FORMAT_VERSION,
        "cloud_regions": regions,
        "zones": zones,
        "countries": countries,
        "source": "shared/data/cloud_regions.csv (see its README section 4 for provenance)",
    }

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "hourly.bin": blob_bytes,
        "intensity.json": _json_bytes(intensity),
        "regions.json": _json_bytes(region_doc),
    }
    for name, payload in files.items():
        (out / name).write_bytes(payload)
    return {name: len(payload) for name, payload in files.items()}


def main(argv: Iterable[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        sizes = build(args.source, args.out)
    except (BuildError, OSError) as exc:
        print(f"build_dataset: error: {exc}", file=sys.stderr)
        return 1
    for name, size in sizes.items():
        print(f"{name:16s} {size:>10,d} bytes")
    print(f"{'total':16s} {sum(sizes.values()):>10,d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
