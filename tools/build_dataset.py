#!/usr/bin/env python3
"""Build carbonsdk's embedded carbon-intensity dataset (``carbonsdk/data/``) from the reference
data folder (``shared/data``, described by its README).

Usage::

    python -m pip install pyarrow   # build-time only: reads the OpenDC parquet files
    python tools/build_dataset.py [SOURCE_DIR] [--out carbonsdk/data]

``pyarrow`` is needed by this script only (for ``extra_hourly/electricitymaps_opendc/*.parquet``);
the installed package reads its data with the standard library and never needs it.

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
* OpenDC parquet files (``electricitymaps_opendc``): Electricity Maps' LCA column only
  (``carbon_intensity``) -> ``lifecycle``; naive ``timestamp[ms]`` values are UTC hour starts
  (README 5.5); no estimation flags are published, so none are set and the index records
  ``"flags": false`` for those series. Each 2021-2024 file is split into calendar years (UTC).
  Values are rounded to 0.01 g/kWh: most have two decimals, but 1,367 hours of US-CAR-SCEG,
  US-NW-NEVP, US-NW-PACW and US-SW-AZPS have more.
* A missing hour or empty value is filled by linear interpolation between its neighbours and
  flagged estimated; exact duplicate rows are dropped; conflicting duplicates stop the build.

One series per zone, year and basis (README 5.1 and 5.5: releases of the same zone-year differ
by up to about 15 %, so they are never averaged or spliced): where several files cover a
zone-year, each basis is taken from the file with the highest ``precedence`` in
:data:`DATASETS`, i.e. consumption-based Electricity Maps before production-based dc-rl, and a
newer Electricity Maps release before an older one. A file keeps only the bases it wins (the
older Data Portal files keep their ``direct`` values, which the newer parquet release lacks);
a file that wins none is left out. The choices are listed under ``superseded`` in
``intensity.json``. Two files of equal precedence for one zone-year-basis stop the build.

Cloud regions: ``cloud_regions.csv`` gives each region a grid zone; :data:`ZONE_REVIEW`
overrides a few after a review against the embedded hourly data and public sources, and every
region carries a ``zone_source`` note saying where its zone comes from.
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
#: (sections 1, 5.1, 5.3, 5.5 and 5.6) and extra_hourly/manifest.csv. ``precedence`` (higher
#: wins, per zone, year and basis) orders the Electricity Maps releases by vintage, newest
#: first: green-dcc and OpenDC are the 2025-01-27 Data Portal release (README 5.5: OpenDC's LCA
#: values equal green-dcc's exactly); green-dcc ranks first because its files also carry the
#: direct values and the estimation flags. dc-rl is production-based and ranks below every
#: consumption-based Electricity Maps series.
DATASETS: dict[str, dict[str, Any]] = {
    "electricitymaps_hourly": {
        "id": "em-green-dcc",
        "publisher": "Electricity Maps",
        "licence": "ODbL-1.0",
        "host": "HewlettPackard/green-dcc",
        "commit": "3f6ea95cb835b89ba50b0ef76d66d14b8037643e",
        "vintage": "2025-01-27 release",
        "precedence": 60,
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
        "precedence": 10,
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
        "precedence": 40,
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
        "precedence": 40,
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
        "precedence": 20,
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
        "precedence": 0,
        "accounting": "production-based (balancing-authority generation only, no imports), "
        "IPCC AR5 median life-cycle factors",
        "timestamps": "hour ending, UTC, in the source; stored shifted back 1 h to hour start",
    },
    "electricitymaps_opendc": {
        "id": "em-opendc",
        "publisher": "Electricity Maps (parquet conversion by AtLarge Research, OpenDC)",
        "licence": "ODbL-1.0",
        "host": "atlarge-research/opendc-traces",
        "commit": "d46b15c4e2b9a99a950074f6fcbe976e5041f44f",
        "vintage": "2025-01-27 release",
        "precedence": 50,
        "accounting": "consumption-based (flow-traced)",
        "timestamps": "hour start, UTC",
        "flags": "none published (no hour is flagged estimated)",
    },
    "electricitymaps_gridcarbon": {
        "id": "em-gridcarbon",
        "publisher": "Electricity Maps",
        "licence": "ODbL-1.0",
        "host": "jasonm-jones/grid-carbon-intensity",
        "commit": "6b7720193e93dc2b060536ad6481ec16f6c35346",
        "vintage": "2024-01-17 release",
        "precedence": 40,
        "accounting": "consumption-based (flow-traced)",
        "timestamps": "hour start, UTC",
    },
}

#: Zone assignments of cloud_regions.csv changed after review (shared/data README 4 lists them
#: as "assignments that may surprise"). Key: (provider, region); value: (zone in
#: cloud_regions.csv, which must still match, the zone used, the reason and its sources).
#: Google's published grid intensity per region (gcp_region_carbon/2023.csv, which Google
#: computes from Electricity Maps hourly data) is compared with the Electricity Maps 2023 direct
#: means of the candidate zones (electricitymaps_gridcarbon, README 5.6).
ZONE_REVIEW: dict[tuple[str, str], tuple[str, str, str]] = {
    ("aws", "us-west-2"): (
        "US-NW-PACW",
        "US-NW-BPAT",
        "reviewed: US-NW-BPAT, not US-NW-PACW (Electricity Maps data_centers.json and Cloud "
        "Carbon Footprint). AWS's Oregon data centres near Boardman and Hermiston (Morrow and "
        "Umatilla counties) are supplied by Umatilla Electric Cooperative (La Grande Observer "
        "and The Oregonian, April 2023; Hermiston Herald), a Bonneville Power Administration "
        "customer whose 230 kV lines connect at BPA's Longhorn and Morrow Flat substations "
        "(BPA categorical exclusion CX-030834, May 2024), hence BPA's balancing authority "
        "(BPAT), as for GCP us-west1 (The Dalles) on the Columbia",
    ),
    ("gcp", "us-west1"): (
        "US-NW-PACW",
        "US-NW-BPAT",
        "reviewed: US-NW-BPAT, not US-NW-PACW (Electricity Maps data_centers.json). Google's "
        "own 2023 grid intensity for us-west1 (The Dalles), 94 g/kWh (region-carbon-info "
        "2023), matches Electricity Maps' 2023 direct mean for US-NW-BPAT (93.8) and not "
        "US-NW-PACW's (160.9); 2024: 79.23",
    ),
    ("gcp", "us-central1"): (
        "US-CENT-SWPP",
        "US-MIDW-MISO",
        "reviewed: US-MIDW-MISO, not US-CENT-SWPP (Electricity Maps data_centers.json); "
        "Cloud Carbon Footprint also has MISO. Council Bluffs, Iowa is served by MidAmerican "
        "Energy, a MISO member; Google's own 2023 grid intensity for us-central1, 430 g/kWh "
        "(region-carbon-info 2023), matches Electricity Maps' 2023 direct mean for "
        "US-MIDW-MISO (428.1) and not US-CENT-SWPP's (386.3)",
    ),
}

#: The csv's ``zone:`` provenance tokens, spelled out for ``zone_source``.
ZONE_TOKENS = {
    "em_data_centers": "Electricity Maps data_centers.json (electricitymaps-contrib b354f28a)",
    "ccf": "Cloud Carbon Footprint region table",
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
        flags: bool = True,
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
        #: False when the source publishes no estimation flags (only filled hours are flagged)
        self.flags = flags

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
        vals: dict[str, int | None] = {
            "lifecycle": _centi(row[c_lca], where) if row[c_lca].strip() else None,
            "direct": _centi(row[c_direct], where) if row[c_direct].strip() else None,
        }
        # an hour without values may have no flag either (README 5.6: US-NW-PACW 2023)
        if flag not in ("true", "false") and not (flag == "" and None in vals.values()):
            raise BuildError(f"{where}: Data Estimated is {row[c_est]!r}")
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


def _read_parquet_file(path: Path, folder: str, rel: str, zone: str) -> list[Series]:
    """An OpenDC parquet file (README 5.5): ``timestamp`` (naive ``timestamp[ms]``, UTC hour
    start) and ``carbon_intensity`` (Electricity Maps LCA, g/kWh), split into UTC calendar
    years. Needs pyarrow (build time only)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise BuildError(
            f"{path}: reading parquet needs pyarrow (python -m pip install pyarrow); "
            "only this build script needs it"
        ) from None
    table = pq.read_table(path)
    names = table.column_names
    if names != ["timestamp", "carbon_intensity"]:
        raise BuildError(f"{path}: unexpected columns {names!r}")
    if str(table.schema.field("timestamp").type) != "timestamp[ms]":
        raise BuildError(f"{path}: timestamp column is {table.schema.field('timestamp').type}")
    stamps_ms = table.column("timestamp").cast("int64").to_pylist()
    values = table.column("carbon_intensity").to_pylist()
    by_year: dict[int, dict[int, tuple[dict[str, int | None], bool]]] = {}
    for i, (ms, value) in enumerate(zip(stamps_ms, values, strict=True)):
        where = f"{path}: row {i}"
        if ms is None or ms % (HOUR_S * 1000):
            raise BuildError(f"{where}: time stamp {ms!r} not on the hour")
        t = ms // 1000
        vals: dict[str, int | None] = {
            "lifecycle": None if value is None else _centi_float(value, where)
        }
        year = datetime.fromtimestamp(t, tz=UTC).year
        rows = by_year.setdefault(year, {})
        if t in rows:
            if rows[t] != (vals, vals["lifecycle"] is None):
                raise BuildError(f"{where}: conflicting duplicate hour")
            continue
        rows[t] = (vals, vals["lifecycle"] is None)
    sha = _sha256(path)
    out = []
    for year, rows in sorted(by_year.items()):
        start_s, vals_by_basis, estimated, filled = _contiguous(rows, ("lifecycle",), str(path))
        out.append(
            Series(zone, year, folder, rel, sha, start_s, vals_by_basis, estimated, filled, False)
        )
    return out


def _centi_float(value: float, where: str) -> int:
    """A float intensity (g/kWh) -> integer centi-g/kWh (see :func:`_centi`)."""
    if not math.isfinite(value) or value < 0:
        raise BuildError(f"{where}: invalid intensity {value!r}")
    return round(value * SCALE)


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
            out.append(_read_dcrl_file(path, folder, rel, entry["zone_id"]))
        elif path.suffix == ".parquet":
            # no zone column in these files: the zone is the file name's (README 5.5)
            if not entry["file"].startswith(entry["zone_id"] + "_"):
                raise BuildError(f"{path}: file name does not start with {entry['zone_id']}")
            out.extend(_read_parquet_file(path, folder, rel, entry["zone_id"]))
        else:
            series = _read_em_file(path, folder, rel)
            if series.zone != entry["zone_id"]:
                raise BuildError(f"{path}: zone {series.zone} != manifest {entry['zone_id']}")
            out.append(series)
    out.sort(key=lambda s: (s.zone, s.year, s.folder))
    return out


def select_series(series: Sequence[Series]) -> tuple[list[Series], list[dict[str, Any]]]:
    """One series per zone, year and basis: the highest ``precedence`` wins (see the module
    docstring). Returns the kept series (each reduced to the bases it won) and the list of
    superseded (zone, year, basis, source, replacement) records."""
    winners: dict[tuple[str, int, str], Series] = {}
    for s in series:
        rank = DATASETS[s.folder]["precedence"]
        for basis in s.bases:
            key = (s.zone, s.year, basis)
            best = winners.get(key)
            if best is None or rank > DATASETS[best.folder]["precedence"]:
                winners[key] = s
            elif rank == DATASETS[best.folder]["precedence"]:
                raise BuildError(
                    f"two series of equal precedence for {s.zone} {s.year} {basis}: "
                    f"{best.source} and {s.source}"
                )
    kept: list[Series] = []
    superseded: list[dict[str, Any]] = []
    for s in series:
        won = [b for b in s.bases if winners[(s.zone, s.year, b)] is s]
        for basis in s.bases:
            if basis not in won:
                superseded.append(
                    {
                        "zone": s.zone,
                        "year": s.year,
                        "basis": basis,
                        "source": s.source,
                        "by": winners[(s.zone, s.year, basis)].source,
                    }
                )
        if won:
            s.values = {b: s.values[b] for b in won}
            kept.append(s)
    superseded.sort(key=lambda r: (r["zone"], r["year"], r["basis"], r["source"]))
    return kept, superseded


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
        zone = row["grid_zone"].strip()
        source_tokens = row["source"].strip()
        review = ZONE_REVIEW.get((provider, code))
        if review is not None:
            if review[0] != zone:
                raise BuildError(
                    f"{path}:{lineno}: {provider}:{code} zone is {zone}, the review expects "
                    f"{review[0]}: check ZONE_REVIEW"
                )
            zone, zone_source = review[1], review[2]
        else:
            zone_source = _zone_source(source_tokens, f"{path}:{lineno}")
        out.append(
            {
                "provider": provider,
                "code": code,
                "display_name": row["display_name"].strip(),
                "city": row["city"].strip(),
                "country": row["country_iso2"].strip(),
                "zone": zone,
                "zone_source": zone_source,
                "source": source_tokens,
            }
        )
    unused = set(ZONE_REVIEW) - seen
    if unused:
        raise BuildError(f"{path}: ZONE_REVIEW names regions not in the table: {sorted(unused)}")
    out.sort(key=lambda r: (PROVIDER_ORDER[r["provider"]], r["code"]))
    return out


def _zone_source(tokens: str, where: str) -> str:
    """The ``zone`` provenance of a cloud_regions.csv ``source`` field, spelled out."""
    for token in tokens.split(";"):
        token = token.strip()
        if token.startswith("zone:"):
            names = [ZONE_TOKENS.get(t, t) for t in token[len("zone:") :].split("+")]
            return "cloud_regions.csv: " + " and ".join(names)
        if token.startswith(("zone_from_location", "zone_inferred_from_country")):
            return f"cloud_regions.csv: {token}"
    raise BuildError(f"{where}: no zone provenance token in {tokens!r}")


# --------------------------------------------------------------------------------------------
# build


def build(source: Path, out: Path) -> dict[str, int]:
    """Build the dataset from ``source`` into ``out``; returns the size in bytes of each file
    written. Raises :class:`BuildError` when the source data is not as expected."""
    if not (source / "README.md").is_file():
        raise BuildError(f"{source}: not the shared reference data folder (no README.md)")
    series, superseded = select_series(read_series(source))
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
                "flags": s.flags,
                "mean_g_per_kwh": {
                    b: round(sum(s.values[b]) / s.hours / SCALE, 4) for b in s.bases
                },
                "source": s.source,
                "source_sha256": s.source_sha256,
            }
        )
    blob_bytes = blob.getvalue()
    used_folders = {s.folder for s in series}

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
            d["id"]: {k: v for k, v in d.items() if k not in ("id", "precedence")}
            | {"folder": folder}
            for folder, d in DATASETS.items()
            if folder in used_folders
        },
        "series": index,
        "superseded": superseded,
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
