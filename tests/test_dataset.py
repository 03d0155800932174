"""The embedded dataset (``carbonsdk/data/``).

Two groups of tests:

* **Integrity of the packaged files** (always run, need nothing outside the repository): the
  blob checksum and chunk layout, every series' flags and means against its decoded values,
  spot values against raw source rows committed in ``tests/fixtures/dataset_raw_rows.csv``,
  one series per zone, year and basis, region coverage, licence notices, size.
* **Rebuild from the sources** (need the reference data in ``../shared/data`` and pyarrow):
  a fresh build equals the committed files, every source file is accounted for, whole files
  round-trip, and the fixture rows are the sources' rows. Skipped with a reason where the
  sources are absent; they FAIL instead when the environment variable ``CI`` is set (CI has the
  sources beside its checkout, see ``.ci/run``).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import sys
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from carbonsdk.intensity import embedded
from carbonsdk.region import parse_region
from carbonsdk.region import table as region_table

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DATA_DIR = REPO / "carbonsdk" / "data"
FIXTURE = REPO / "tests" / "fixtures" / "dataset_raw_rows.csv"
BASES = ("lifecycle", "direct")


def _index_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA_DIR / "intensity.json").read_text(encoding="utf-8"))
    return doc


def _regions_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA_DIR / "regions.json").read_text(encoding="utf-8"))
    return doc


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def _fixture_rows() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------------------------
# integrity of the packaged dataset (no sources needed)


def test_blob_checksum_and_chunk_layout() -> None:
    doc = _index_doc()
    blob = (DATA_DIR / "hourly.bin").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == doc["blob_sha256"]
    position = 0
    for e in doc["series"]:
        assert e["offset"] == position, (e["zone"], e["year"])
        position += e["length"]
        payload = zlib.decompress(blob[e["offset"] : e["offset"] + e["length"]])
        n = e["hours"]
        assert len(payload) == 4 * n * len(e["bases"]) + (n + 7) // 8
    assert position == len(blob)


def test_every_series_flags_and_means_match_its_decoded_values() -> None:
    doc = _index_doc()
    assert len(doc["series"]) == len(embedded._index().entries)
    for i, e in enumerate(doc["series"]):
        decoded = embedded._decode(i)
        assert sum(decoded.estimated) == e["estimated_hours"], (e["zone"], e["year"])
        assert e["filled_hours"] <= e["estimated_hours"]
        if not e["flags"]:  # no flags published: only filled gaps may be flagged
            assert e["estimated_hours"] == e["filled_hours"]
        for basis in e["bases"]:
            values = decoded.values[basis]
            assert len(values) == e["hours"]
            assert min(values) >= 0
            mean = sum(values) / len(values)
            assert mean == pytest.approx(e["mean_g_per_kwh"][basis], abs=1e-4)
        # whole UTC hours, and the series lies in its year (hour-start stamps)
        assert e["start_s"] % 3600 == 0
        first = datetime.fromtimestamp(e["start_s"], tz=UTC)
        last = datetime.fromtimestamp(e["start_s"] + (e["hours"] - 1) * 3600, tz=UTC)
        assert first.year == last.year == e["year"]


def test_one_series_per_zone_year_and_basis_and_superseded_files_are_recorded() -> None:
    doc = _index_doc()
    seen: dict[tuple[str, int, str], str] = {}
    for e in doc["series"]:
        for basis in e["bases"]:
            key = (e["zone"], e["year"], basis)
            assert key not in seen, f"two series for {key}: {seen[key]} and {e['source']}"
            seen[key] = e["source"]
    assert doc["superseded"], "the build records what it left out"
    for s in doc["superseded"]:
        assert seen[(s["zone"], s["year"], s["basis"])] == s["by"] != s["source"]
    # every series' data set is described, and only used data sets are listed
    assert {e["dataset"] for e in doc["series"]} == set(doc["datasets"])


def _entry_at(zone: str, basis: str, t: int) -> embedded._Entry:
    for entry in embedded._index().by_zone[zone]:
        if basis in entry.bases and entry.start_s <= t < entry.end_s:
            return entry
    raise AssertionError(f"no {basis} series of {zone} holds {t}")


def test_spot_values_equal_the_committed_raw_source_rows() -> None:
    rows = _fixture_rows()
    doc = _index_doc()
    superseded = {
        (s["zone"], s["year"], s["basis"], s["source"]): s["by"] for s in doc["superseded"]
    }
    checked = 0
    for row in rows:
        t = _epoch(row["datetime_utc"])
        year = int(row["datetime_utc"][:4])
        for basis in BASES:
            if row["source"].endswith(".parquet") and basis == "direct":
                continue  # OpenDC's files hold the LCA column only
            entry = _entry_at(row["zone"], basis, t)
            source = doc["series"][entry.index]["source"]
            if source != row["source"]:  # a newer release won this zone-year-basis
                assert superseded[(row["zone"], year, basis, row["source"])] == source
                continue
            decoded = embedded._decode(entry.index)
            k = (t - entry.start_s) // 3600
            if row[basis]:
                assert decoded.values[basis][k] == pytest.approx(float(row[basis]), abs=1e-9)
                if row["estimated"]:
                    assert bool(decoded.estimated[k]) == (row["estimated"] == "true")
                else:
                    assert not decoded.estimated[k]  # no flags published
            else:  # an empty source hour: filled by interpolation, flagged estimated
                assert decoded.estimated[k]
                before = next(j for j in range(k, -1, -1) if not decoded.estimated[j])
                after = next(j for j in range(k, entry.hours) if not decoded.estimated[j])
                lo, hi = sorted((decoded.values[basis][before], decoded.values[basis][after]))
                assert lo <= decoded.values[basis][k] <= hi
            checked += 1
    assert checked >= 25


def test_newer_release_wins_and_older_files_keep_their_direct_values() -> None:
    doc = _index_doc()
    by_key = {(e["zone"], e["year"], b): e for e in doc["series"] for b in e["bases"]}
    # NL 2022: LCA from the 2025 release (OpenDC), direct only in the 2023 eco4cast copy
    assert by_key[("NL", 2022, "lifecycle")]["dataset"] == "em-opendc"
    assert by_key[("NL", 2022, "direct")]["dataset"] == "em-eco4cast"
    # BPAT 2023: the two releases disagree by 16 % (README 5.5): the newer LCA is kept
    assert by_key[("US-NW-BPAT", 2023, "lifecycle")]["dataset"] == "em-opendc"
    assert by_key[("US-NW-BPAT", 2023, "lifecycle")]["mean_g_per_kwh"]["lifecycle"] == (
        pytest.approx(145.7, abs=0.05)
    )
    assert by_key[("US-NW-BPAT", 2023, "direct")]["dataset"] == "em-gridcarbon"
    # production-based dc-rl never replaces a consumption-based series
    assert not any(e["dataset"] == "dcrl-eia930" for e in doc["series"])
    # the 2025 green-dcc files (with flags and direct values) stay where they exist
    assert by_key[("DE", 2021, "lifecycle")]["dataset"] == "em-green-dcc"


def test_cloud_region_coverage_and_zone_sources() -> None:
    regions = _regions_doc()
    table = regions["cloud_regions"]
    assert len(table) == 146
    assert sum(r["provider"] == "aws" for r in table) == 38
    assert sum(r["provider"] == "gcp" for r in table) == 45
    assert sum(r["provider"] == "azure" for r in table) == 63
    zones = set(regions["zones"])
    assert {r["zone"] for r in table} <= zones
    assert set(embedded.zones()) <= zones
    assert all(r["source"] and r["zone_source"] for r in table)
    with_hourly = [r for r in table if embedded.has_hourly(r["zone"], "lifecycle")]
    assert len(with_hourly) == 119  # 58 before the OpenDC and gridcarbon series
    reviewed = {r["provider"] + ":" + r["code"]: r for r in table if "reviewed" in r["zone_source"]}
    assert {k: r["zone"] for k, r in reviewed.items()} == {
        "aws:us-west-2": "US-NW-BPAT",
        "gcp:us-west1": "US-NW-BPAT",
        "gcp:us-central1": "US-MIDW-MISO",
    }
    row = region_table.cloud_region("aws", "us-west-2")
    assert row is not None and "Umatilla Electric" in row.zone_source


@pytest.mark.parametrize(
    ("region", "zone"),
    [
        ("aws:us-west-2", "US-NW-BPAT"),
        ("gcp:us-central1", "US-MIDW-MISO"),
        ("aws:eu-west-1", "IE"),
        ("aws:eu-north-1", "SE-SE3"),
        ("gcp:us-east1", "US-CAR-SCEG"),
        ("azure:norwayeast", "NO-NO1"),
        ("gcp:us-west3", "US-NW-PACE"),
        ("gcp:us-west4", "US-NW-NEVP"),
        ("azure:austriaeast", "AT"),
        ("gcp:asia-east1", "TW"),
        ("aws:ap-northeast-3", "JP-KN"),
    ],
)
def test_large_cloud_regions_get_hourly_lifecycle_series_2021_to_2024(
    region: str, zone: str
) -> None:
    parsed = parse_region(region)
    assert parsed.zone == zone
    assert embedded.hourly_years(zone) == (2021, 2022, 2023, 2024)
    series = embedded.EmbeddedProvider().series(
        parsed, datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC)
    )
    assert len(series) == 24 and len(set(series.values_g_per_kwh)) > 1  # hourly, not flat
    assert "Electricity Maps hourly" in series.source.dataset


def test_annual_and_gcp_tables() -> None:
    index = _index_doc()
    assert sum(len(c["years"]) for c in index["annual"].values()) == 1093
    assert index["annual"]["DE"]["iso3"] == "DEU"
    assert index["annual"]["XK"]["iso3"] == "XKX"
    assert len(index["gcp"]) == 44  # 2024 file: 44 regions (2023 adds none new)
    assert index["gcp"]["us-east4"]["2024"]["grid_g_per_kwh"] == 323.05
    assert index["gcp"]["europe-west1"]["2024"]["cfe_fraction"] == 0.84


def test_package_data_is_small() -> None:
    total = sum(p.stat().st_size for p in DATA_DIR.rglob("*") if p.is_file())
    assert total < 8_000_000, f"carbonsdk/data is {total:,} bytes"


def test_licence_notices_ship_with_the_data() -> None:
    notice = (DATA_DIR / "NOTICE.md").read_text(encoding="utf-8")
    licences = (REPO / "DATA_LICENSES.md").read_text(encoding="utf-8")
    for needle in ("Open Database License", "CC BY 4.0", "Apache", "Ember"):
        assert needle in notice
    for meta in _index_doc()["datasets"].values():  # every embedded data set is attributed
        assert meta["host"] in notice, meta["host"]
        assert meta["host"] in licences, meta["host"]
        assert meta["commit"][:8] in notice, meta["host"]
    assert "2025-01-27" in notice and "2024-01-17" in notice  # releases named
    assert "Apache License" in (DATA_DIR / "LICENSE-Apache-2.0.txt").read_text(encoding="utf-8")


def test_build_reports_a_missing_source_folder(tmp_path: Path) -> None:
    builder = _load_builder()
    assert builder.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1


# --------------------------------------------------------------------------------------------
# rebuild from the sources (../shared/data; skipped without it, required in CI)


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dataset", REPO / "tools/build_dataset.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_dataset"] = module
    spec.loader.exec_module(module)
    return module


def _skip_or_fail(reason: str) -> None:
    # CI has the sources beside its checkout and pyarrow installed: never skip there
    if os.environ.get("CI"):
        pytest.fail(reason + " (required in CI)")
    pytest.skip(reason + " (required in CI)")


@pytest.fixture(scope="module")
def shared_data() -> Path:
    if not (SHARED_DATA / "README.md").is_file():
        _skip_or_fail(
            f"reference data not found at {SHARED_DATA}: rebuilding the dataset needs the "
            "shared/ folder beside the repository checkout"
        )
    return SHARED_DATA


@pytest.fixture(scope="module")
def pyarrow_parquet(shared_data: Path) -> ModuleType:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        _skip_or_fail("pyarrow is not installed: the build reads parquet sources with it")
    return pq


@pytest.fixture(scope="module")
def fresh_build(
    shared_data: Path, pyarrow_parquet: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("build")
    _load_builder().build(shared_data, out)
    return out


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


def test_committed_dataset_equals_a_fresh_build(fresh_build: Path) -> None:
    # the committed files were built in another process: equality is reproducibility too
    assert sorted(p.name for p in fresh_build.iterdir()) == [
        "hourly.bin",
        "intensity.json",
        "regions.json",
    ]
    committed_index = _index_doc()
    assert (fresh_build / "regions.json").read_bytes() == (DATA_DIR / "regions.json").read_bytes()
    if committed_index["zlib_version"] == zlib.ZLIB_VERSION:
        for name in ("hourly.bin", "intensity.json"):
            assert (fresh_build / name).read_bytes() == (DATA_DIR / name).read_bytes(), (
                f"carbonsdk/data/{name} is stale: run python tools/build_dataset.py"
            )
    else:  # another zlib compresses differently: compare the decoded content
        fresh_index = json.loads((fresh_build / "intensity.json").read_text(encoding="utf-8"))
        assert _strip_layout(fresh_index) == _strip_layout(committed_index)
        assert _decoded_chunks(fresh_build) == _decoded_chunks(DATA_DIR)


def _manifest(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_source_file_is_embedded_or_recorded_as_superseded(shared_data: Path) -> None:
    index = _index_doc()
    series_by_source: dict[str, list[dict[str, Any]]] = {}
    for e in index["series"]:
        series_by_source.setdefault(e["source"], []).append(e)
    superseded = {s["source"] for s in index["superseded"]}
    main = _manifest(shared_data / "electricitymaps_hourly_manifest.csv")
    extra = _manifest(shared_data / "extra_hourly" / "manifest.csv")
    for m in main:
        rel = f"electricitymaps_hourly/{m['file']}"
        (e,) = series_by_source[rel]  # the 2025 release with flags: always kept whole
        assert e["bases"] == ["lifecycle", "direct"]
        assert e["zone"] == m["zone_id_in_file"] and e["year"] == int(m["year"])
        assert e["estimated_hours"] == int(m["estimated_rows"])
        assert e["source_sha256"] == m["sha256"]
        assert e["mean_g_per_kwh"]["lifecycle"] == pytest.approx(float(m["ci_lca_mean"]), abs=0.01)
        assert e["mean_g_per_kwh"]["direct"] == pytest.approx(float(m["ci_direct_mean"]), abs=0.01)
    for m in extra:
        rel = f"extra_hourly/{m['source_dir']}/{m['file']}"
        kept = series_by_source.get(rel, [])
        assert kept or rel in superseded, rel
        for e in kept:
            assert e["source_sha256"] == m["sha256"] and e["zone"] == m["zone_id"]
            if m["source_dir"] == "electricitymaps_opendc":
                assert e["bases"] == ["lifecycle"] and not e["flags"]
            elif not m["source_dir"].startswith("hpe_dcrl"):
                # flagged rows plus empty rows (filled, flagged); the same on every kept basis
                expected = int(m["estimated_rows"] or 0) + int(m["empty_values"] or 0)
                assert e["estimated_hours"] == expected, rel
                if "direct" in e["bases"]:
                    mean = e["mean_g_per_kwh"]["direct"]
                    if not int(m["empty_values"] or 0):
                        assert mean == pytest.approx(float(m["mean"]), abs=0.01), rel
        if m["source_dir"] == "electricitymaps_opendc":
            years = sorted(e["year"] for e in kept)
            assert years == [2021, 2022, 2023, 2024] and int(m["rows"]) == sum(
                e["hours"] for e in kept
            )


def _source_rows(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        yield from reader


@pytest.mark.parametrize(
    ("rel", "zone", "year", "bases"),
    [
        ("electricitymaps_hourly/DE-LU_2021.csv", "DE", 2021, ("direct", "lifecycle")),
        ("electricitymaps_hourly/BR-SP_2024.csv", "BR-CS", 2024, ("direct", "lifecycle")),
        ("electricitymaps_hourly/SG_2021.csv", "SG", 2021, ("direct", "lifecycle")),
        ("extra_hourly/electricitymaps_eco4cast/NL_2022_hourly.csv", "NL", 2022, ("direct",)),
    ],
)
def test_electricity_maps_csv_files_round_trip(
    shared_data: Path, rel: str, zone: str, year: int, bases: tuple[str, ...]
) -> None:
    rows = list(_source_rows(shared_data / rel))
    entry = next(
        e
        for e in embedded._index().entries
        if e.zone == zone and e.year == year and bases[0] in e.bases
    )
    assert entry.bases == tuple(b for b in BASES if b in bases)
    decoded = embedded._decode(entry.index)
    assert entry.start_s == _epoch(rows[0][0])  # hour-start stamps kept as is
    assert entry.hours == len(rows)
    assert {r[3] for r in rows} == {zone}  # the Zone Id column, not the file name
    column = {"direct": 4, "lifecycle": 5}
    for i, row in enumerate(rows):
        for basis in bases:
            assert decoded.values[basis][i] == pytest.approx(float(row[column[basis]]), abs=1e-9)
        assert decoded.estimated[i] == (row[9] == "true")


def test_opendc_parquet_file_round_trips_split_by_year(
    shared_data: Path, pyarrow_parquet: ModuleType
) -> None:
    table = pyarrow_parquet.read_table(
        shared_data / "extra_hourly/electricitymaps_opendc/US-NW-PACW_2021-2024.parquet"
    )
    stamps = [ms // 1000 for ms in table.column("timestamp").cast("int64").to_pylist()]
    values = table.column("carbon_intensity").to_pylist()
    entries = [e for e in embedded._index().by_zone["US-NW-PACW"] if "lifecycle" in e.bases]
    assert [e.year for e in entries] == [2021, 2022, 2023, 2024]
    assert sum(e.hours for e in entries) == len(values) == 35064
    k = 0
    for entry in entries:
        assert entry.start_s == stamps[k]
        decoded = embedded._decode(entry.index)
        for i in range(entry.hours):
            # stored in 0.01 g/kWh: a few hundred hours here have more decimals
            assert decoded.values["lifecycle"][i] == pytest.approx(values[k + i], abs=0.005)
        assert not any(decoded.estimated)
        k += entry.hours


def test_fixture_rows_are_the_sources_rows(shared_data: Path, pyarrow_parquet: ModuleType) -> None:
    for row in _fixture_rows():
        path = shared_data / row["source"]
        i = int(row["row"])
        if path.suffix == ".parquet":
            table = pyarrow_parquet.read_table(path).slice(i, 1).to_pylist()[0]
            stamp = table["timestamp"].strftime("%Y-%m-%d %H:%M:%S")
            assert (stamp, table["carbon_intensity"]) == (
                row["datetime_utc"],
                float(row["lifecycle"]),
            )
            assert path.name.startswith(row["zone"] + "_")
        else:
            source = next(r for j, r in enumerate(_source_rows(path)) if j == i)
            header = next(csv.reader(path.open(encoding="utf-8", newline="")))
            col = {name: header.index(name) for name in ("Datetime (UTC)", "Zone Id")}
            direct = next(j for j, h in enumerate(header) if "(direct)" in h)
            lca = next(j for j, h in enumerate(header) if "(LCA)" in h)
            est = header.index("Data Estimated")
            assert [
                source[col["Datetime (UTC)"]],
                source[col["Zone Id"]],
                source[lca],
                source[direct],
                source[est],
            ] == [
                row["datetime_utc"],
                row["zone"],
                row["lifecycle"],
                row["direct"],
                row["estimated"],
            ]
