"""The embedded dataset: reproducible build, committed files equal to a fresh build, and the
packaged values equal to the source CSV files."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from carbonsdk.intensity import embedded

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_DIR = REPO / "carbonsdk" / "data"


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dataset", REPO / "tools/build_dataset.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_dataset"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shared_data() -> Path:
    if not (SHARED_DATA / "README.md").is_file():
        pytest.fail(
            f"reference data not found at {SHARED_DATA}: the dataset tests need the shared/ "
            "folder beside the repository checkout (../shared/data)"
        )
    return SHARED_DATA


@pytest.fixture(scope="module")
def builds(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    builder = _load_builder()
    first = tmp_path_factory.mktemp("build1")
    second = tmp_path_factory.mktemp("build2")
    builder.build(shared_data, first)
    builder.build(shared_data, second)
    return first, second


def _decoded_chunks(folder: Path) -> list[bytes]:
    index = json.loads((folder / "intensity.json").read_text(encoding="utf-8"))
    blob = (folder / "hourly.bin").read_bytes()
    return [zlib.decompress(blob[e["offset"] : e["offset"] + e["length"]]) for e in index["series"]]


def _strip_layout(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc.pop("blob_sha256")
    doc.pop("zlib_version")
    doc["series"] = [
        {k: v for k, v in e.items() if k not in ("offset", "length")} for e in doc["series"]
    ]
    return doc


def test_build_is_reproducible_byte_for_byte(builds: tuple[Path, Path]) -> None:
    first, second = builds
    names = sorted(p.name for p in first.iterdir())
    assert names == ["hourly.bin", "intensity.json", "regions.json"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_committed_dataset_equals_a_fresh_build(builds: tuple[Path, Path]) -> None:
    fresh = builds[0]
    committed_index = json.loads((DATA_DIR / "intensity.json").read_text(encoding="utf-8"))
    assert (fresh / "regions.json").read_bytes() == (DATA_DIR / "regions.json").read_bytes()
    if committed_index["zlib_version"] == zlib.ZLIB_VERSION:
        for name in ("hourly.bin", "intensity.json"):
            assert (fresh / name).read_bytes() == (DATA_DIR / name).read_bytes(), (
                f"carbonsdk/data/{name} is stale: run python tools/build_dataset.py"
            )
    else:  # another zlib compresses differently: compare the decoded content
        fresh_index = json.loads((fresh / "intensity.json").read_text(encoding="utf-8"))
        assert _strip_layout(fresh_index) == _strip_layout(committed_index)
        assert _decoded_chunks(fresh) == _decoded_chunks(DATA_DIR)


def test_package_data_is_small() -> None:
    total = sum(p.stat().st_size for p in DATA_DIR.rglob("*") if p.is_file())
    assert total < 5_000_000, f"carbonsdk/data is {total:,} bytes"


def test_licence_notices_ship_with_the_data() -> None:
    notice = (DATA_DIR / "NOTICE.md").read_text(encoding="utf-8")
    for needle in ("Open Database License", "CC BY 4.0", "Apache", "MIT", "Ember", "dc-rl"):
        assert needle in notice
    assert "Apache License" in (DATA_DIR / "LICENSE-Apache-2.0.txt").read_text(encoding="utf-8")
    mit = (DATA_DIR / "LICENSE-MIT-dc-rl.txt").read_text(encoding="utf-8")
    assert "Copyright (c) 2024 Hewlett Packard Enterprise" in mit
    assert (REPO / "DATA_LICENSES.md").is_file()


def _source_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("rel", "zone", "year"),
    [
        ("electricitymaps_hourly/DE-LU_2021.csv", "DE", 2021),
        ("electricitymaps_hourly/BR-SP_2024.csv", "BR-CS", 2024),
        ("electricitymaps_hourly/SG_2021.csv", "SG", 2021),
        ("extra_hourly/electricitymaps_eco4cast/NL_2022_hourly.csv", "NL", 2022),
    ],
)
def test_electricity_maps_values_and_flags_round_trip(
    shared_data: Path, rel: str, zone: str, year: int
) -> None:
    rows = _source_rows(shared_data / rel)
    entry = next(e for e in embedded._index().entries if e.zone == zone and e.year == year)
    decoded = embedded._decode(entry.index)
    assert entry.start_s == _epoch(rows[0][0])  # hour-start stamps kept as is
    assert entry.hours == len(rows)
    assert {r[3] for r in rows} == {zone}  # the Zone Id column, not the file name
    for i, row in enumerate(rows):
        assert decoded.values["direct"][i] == pytest.approx(float(row[4]), abs=1e-9)
        assert decoded.values["lifecycle"][i] == pytest.approx(float(row[5]), abs=1e-9)
        assert decoded.estimated[i] == (row[9] == "true")


def test_dcrl_series_is_lifecycle_only_shifted_to_hour_start_and_gaps_flagged(
    shared_data: Path,
) -> None:
    rows = _source_rows(shared_data / "extra_hourly/hpe_dcrl_eia930_2022/MISO_NG_&_avgCI.csv")
    entry = next(e for e in embedded._index().entries if e.zone == "US-MIDW-MISO")
    assert entry.bases == ("lifecycle",)
    assert entry.dataset == "dcrl-eia930"
    first = int(datetime.fromisoformat(rows[0][0]).timestamp())
    assert entry.start_s == first - 3600  # hour-ending stamp -> hour start
    decoded = embedded._decode(entry.index)
    empty = [i for i, r in enumerate(rows) if not r[-1].strip()]
    assert len(empty) == 3
    for i, row in enumerate(rows):
        if i in empty:
            assert decoded.estimated[i]
            lo, hi = decoded.values["lifecycle"][i - 1], decoded.values["lifecycle"][i + 1]
            assert min(lo, hi) <= decoded.values["lifecycle"][i] <= max(lo, hi)
        else:
            assert not decoded.estimated[i]
            assert decoded.values["lifecycle"][i] == pytest.approx(float(row[-1]), abs=0.005)


def test_every_manifest_file_is_embedded_with_its_estimated_count(shared_data: Path) -> None:
    with (shared_data / "electricitymaps_hourly_manifest.csv").open(encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh))
    with (shared_data / "extra_hourly" / "manifest.csv").open(encoding="utf-8") as fh:
        extra = list(csv.DictReader(fh))
    index = json.loads((DATA_DIR / "intensity.json").read_text(encoding="utf-8"))
    by_key = {(e["zone"], e["year"]): e for e in index["series"]}
    assert len(by_key) == len(manifest) + len(extra) == 92
    for m in manifest:
        e = by_key[(m["zone_id_in_file"], int(m["year"]))]
        assert e["estimated_hours"] == int(m["estimated_rows"])
        assert e["source_sha256"] == m["sha256"]
        assert e["mean_g_per_kwh"]["lifecycle"] == pytest.approx(float(m["ci_lca_mean"]), abs=0.01)
        assert e["mean_g_per_kwh"]["direct"] == pytest.approx(float(m["ci_direct_mean"]), abs=0.01)
    for m in extra:
        e = by_key[(m["zone_id"], int(m["year"]))]
        assert e["source_sha256"] == m["sha256"]
        expected = int(m["estimated_rows"] or 0) + int(m["empty_values"] or 0)
        assert e["estimated_hours"] == expected


def test_annual_gcp_and_region_tables_are_complete(shared_data: Path) -> None:
    with (shared_data / "annual_country_intensity_all_years.csv").open(encoding="utf-8") as fh:
        annual_rows = list(csv.DictReader(fh))
    index = json.loads((DATA_DIR / "intensity.json").read_text(encoding="utf-8"))
    assert sum(len(c["years"]) for c in index["annual"].values()) == len(annual_rows) == 1093
    assert index["annual"]["DE"]["iso3"] == "DEU"
    assert index["annual"]["XK"]["iso3"] == "XKX"
    assert len(index["gcp"]) == 44  # 2024 file: 44 regions (2023 adds none new)
    assert index["gcp"]["us-east4"]["2024"]["grid_g_per_kwh"] == 323.05
    assert index["gcp"]["europe-west1"]["2024"]["cfe_fraction"] == 0.84
    regions = json.loads((DATA_DIR / "regions.json").read_text(encoding="utf-8"))
    table = regions["cloud_regions"]
    assert len(table) == 146
    assert sum(r["provider"] == "aws" for r in table) == 38
    assert sum(r["provider"] == "gcp" for r in table) == 45
    assert sum(r["provider"] == "azure" for r in table) == 63
    zones = set(regions["zones"])
    assert {r["zone"] for r in table} <= zones
    assert {e["zone"] for e in index["series"]} <= zones
    assert all(r["source"] for r in table)


def test_build_reports_a_missing_source_folder(tmp_path: Path) -> None:
    builder = _load_builder()
    assert builder.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
