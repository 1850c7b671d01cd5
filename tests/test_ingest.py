"""Ingest: every format, every rejection reason, warnings, coordinate systems, upserts."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import geodesic_distance_m, wgs84_to_bd09, wgs84_to_gcj02
from geo.errors import InputRejected
from geo.ingest import IngestOptions, ingest_file
from tests.conftest import inside_point

XIHU, BINJIANG, YINZHOU = "330106", "330108", "330212"


def _enterprises(counties, n=6) -> pd.DataFrame:
    codes = [XIHU, BINJIANG, YINZHOU, "330302", "330522", "331102"][:n]
    rows = []
    for i, code in enumerate(codes):
        lon, lat = inside_point(counties, code)
        rows.append(
            {
                "id": f"91330000MA{i:08d}",
                "name": f"测试企业{i}有限公司",
                "domain": ["hazchem", "fire", "industry", "road", "urban", "tourism"][i % 6],
                "industry": ["危险化学品生产", "人员密集场所", "机械", "客运", "燃气", "景区"][i % 6],
                "lon": round(lon, 7),
                "lat": round(lat, 7),
                "address": f"地址{i}",
                "county_code": code,
                "workers": 10 * (i + 1),
                "major_hazard_level": 2 if i == 0 else None,
            }
        )
    return pd.DataFrame(rows)


def _report(result) -> pd.DataFrame:
    return result.report


def test_csv_utf8_accepts_and_joins(store, counties, tmp_path):
    df = _enterprises(counties)
    path = tmp_path / "e.csv"
    df.to_csv(path, index=False)
    result = ingest_file(store, path, "enterprises")
    assert (result.rows, result.accepted, result.rejected) == (6, 6, 0)
    stored = store.read("enterprises").set_index("id")
    assert list(stored.loc[df["id"], "county_adcode"]) == list(df["county_code"])
    assert stored.loc[df["id"][0], "city_adcode"] == "330100"
    assert stored.loc[df["id"][0], "province_adcode"] == "330000"
    assert stored.loc[df["id"][0], "major_hazard_level"] == 2
    assert stored.crs.to_epsg() == 4326


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "gbk"])
def test_csv_encodings_and_chinese_headers(store, counties, tmp_path, encoding):
    zh = "统一社会信用代码 企业名称 领域 行业 经度 纬度 地址 区县代码 从业人员数(人) 重大危险源等级".split()
    en = "id name domain industry lon lat address county_code workers major_hazard_level".split()
    df = _enterprises(counties).rename(columns=dict(zip(en, zh, strict=True)))
    df["领域"] = ["危险化学品", "消防", "工矿", "道路交通", "城市运行", "商贸旅游"]
    path = tmp_path / "e.csv"
    path.write_bytes(df.to_csv(index=False).encode(encoding))
    result = ingest_file(store, path, "enterprises")
    assert result.accepted == 6, result.report
    stored = store.read("enterprises").sort_values("id")
    assert stored["name"].iloc[0] == "测试企业0有限公司"
    assert list(stored["domain"]) == ["hazchem", "fire", "industry", "road", "urban", "tourism"]
    assert stored["workers"].tolist() == [10, 20, 30, 40, 50, 60]


def test_gcj02_and_bd09_coordinates_converted_exactly(store, counties, tmp_path):
    df = _enterprises(counties)
    for crs, forward in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        shifted = df.copy()
        shifted["lon"], shifted["lat"] = forward(df["lon"].to_numpy(), df["lat"].to_numpy())
        path = tmp_path / f"{crs}.csv"
        shifted.to_csv(path, index=False, float_format="%.10f")
        result = ingest_file(store, path, "enterprises", IngestOptions(crs=crs))
        assert result.accepted == 6
        stored = store.read("enterprises").set_index("id").loc[df["id"]]
        err = geodesic_distance_m(stored["lon"].to_numpy(), stored["lat"].to_numpy(), df["lon"], df["lat"])
        assert np.max(err) < 0.05  # stored coordinates are rounded to 1e-7 degrees (~1 cm)


def test_xlsx_with_sheet(store, counties, tmp_path):
    df = _enterprises(counties)
    path = tmp_path / "e.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"说明": ["cover"]}).to_excel(xw, sheet_name="说明", index=False)
        df.to_excel(xw, sheet_name="企业", index=False)
    result = ingest_file(store, path, "enterprises", IngestOptions(sheet="企业"))
    assert result.accepted == 6
    with pytest.raises(InputRejected, match="no sheet named 'nope'; sheets are 说明, 企业"):
        ingest_file(store, path, "enterprises", IngestOptions(sheet="nope"))


def _gdf(df: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        df.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326"
    )


@pytest.mark.parametrize("suffix,driver", [(".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".parquet", None)])
def test_vector_formats(store, counties, tmp_path, suffix, driver):
    gdf = _gdf(_enterprises(counties))
    path = tmp_path / f"e{suffix}"
    if driver:
        gdf.to_file(path, driver=driver)
    else:
        gdf.to_parquet(path)
    result = ingest_file(store, path, "enterprises")
    assert result.accepted == 6
    stored = store.read("enterprises").set_index("id")
    assert stored.loc[gdf["id"][1], "county_adcode"] == BINJIANG
    assert stored.loc[gdf["id"][1], "name"] == "测试企业1有限公司"


def test_vector_file_in_cgcs2000_gauss_kruger(store, counties, tmp_path):
    gdf = _gdf(_enterprises(counties)).to_crs("EPSG:4549")  # CGCS2000 3-degree GK, CM 120E
    path = tmp_path / "e.gpkg"
    gdf.to_file(path, driver="GPKG")
    result = ingest_file(store, path, "enterprises")
    assert result.accepted == 6
    assert "EPSG:4549" in " ".join(result.notes)


@pytest.mark.parametrize("with_cpg", [True, False])
@pytest.mark.parametrize("zipped", [True, False])
def test_shapefile_gbk(store, counties, tmp_path, with_cpg, zipped):
    gdf = _gdf(_enterprises(counties)).rename(columns={"industry": "行业", "name": "企业名称"})
    gdf = gdf[["id", "企业名称", "domain", "行业", "geometry"]]
    shp = tmp_path / "shp" / "ent.shp"
    shp.parent.mkdir()
    gdf.to_file(shp, driver="ESRI Shapefile", encoding="GB18030")
    cpg = shp.with_suffix(".cpg")
    if with_cpg:
        cpg.write_text("GBK")
    elif cpg.exists():
        cpg.unlink()
    dbf = shp.with_suffix(".dbf").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        dbf.decode("utf-8")  # really GBK on disk
    path = shp
    if zipped:
        path = tmp_path / "ent.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for f in shp.parent.iterdir():
                zf.write(f, f.name)
    result = ingest_file(store, path, "enterprises")
    assert result.accepted == 6, result.report
    assert sorted(store.read("enterprises")["name"])[0] == "测试企业0有限公司"


def test_every_rejection_reason(store, counties, tmp_path):
    good = _enterprises(counties, 2)
    lon, lat = inside_point(counties, XIHU)
    bad = pd.DataFrame(
        [
            {"id": "B-MISSING-COORDS", "domain": "fire", "lon": "", "lat": ""},
            {"id": "B-TEXT-LAT", "domain": "fire", "lon": str(lon), "lat": "30,2x"},
            {"id": "B-SWAPPED", "domain": "fire", "lon": str(lat), "lat": str(lon)},
            {"id": "B-BEIJING", "domain": "fire", "lon": "116.40", "lat": "39.90"},
            {"id": "B-DOMAIN", "domain": "mining", "lon": str(lon), "lat": str(lat)},
            {"id": good["id"][0], "domain": "fire", "lon": str(lon), "lat": str(lat)},
            {"id": "", "domain": "fire", "lon": str(lon), "lat": str(lat)},
            {"id": "W-INDUSTRY", "domain": "fire", "industry": "量子计算", "lon": str(lon), "lat": str(lat)},
            {"id": "W-COUNTY", "domain": "fire", "lon": str(lon), "lat": str(lat), "county_code": "330212"},
        ]
    )
    df = pd.concat([good.astype(str), bad], ignore_index=True).fillna("")
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    result = ingest_file(store, path, "enterprises")
    rep = result.report
    assert result.rows == 11 and result.accepted == 4 and result.rejected == 7
    rejected = rep.loc[rep["severity"] == "rejected"].set_index("line")
    by_line = {int(k): v for k, v in rejected["reason"].items()}
    assert by_line[4] == "missing coordinates (经度/纬度)"
    assert "'30,2x' is not a number" in by_line[5]
    assert "appear swapped" in by_line[6] and "swap" in by_line[6]
    assert "outside the loaded boundaries" in by_line[7]
    assert "unknown value 'mining'" in by_line[8] and "hazchem (危险化学品)" in by_line[8]
    assert by_line[9] == "duplicate id; first seen at line 2"
    assert by_line[10].startswith("missing id")
    warnings = rep.loc[rep["severity"] == "warning"]
    assert set(warnings["id"]) >= {"W-INDUSTRY", "W-COUNTY"}
    assert "not in the catalogue" in warnings.loc[warnings["id"] == "W-INDUSTRY", "reason"].iloc[0]
    assert any("declared county 330212" in r for r in warnings.loc[warnings["id"] == "W-COUNTY", "reason"])
    # nothing is lost: every input line is accepted or in the report as rejected
    stored_lines = set(store.read("enterprises")["source_line"])
    assert stored_lines | set(by_line) == set(range(2, 13))
    assert not stored_lines & set(by_line)


def test_report_lines_with_multiline_quoted_field(store, counties, tmp_path):
    df = _enterprises(counties, 3)
    df.loc[0, "address"] = "第一行\n第二行"
    df.loc[2, "domain"] = "mining"
    path = tmp_path / "m.csv"
    df.to_csv(path, index=False)
    result = ingest_file(store, path, "enterprises")
    assert result.report.loc[result.report["severity"] == "rejected", "line"].tolist() == [5]
    assert store.read("enterprises").set_index("id").loc[df["id"][0], "address"] == "第一行\n第二行"


def test_upsert_replaces_and_never_duplicates(store, counties, tmp_path):
    df = _enterprises(counties)
    path = tmp_path / "e.csv"
    df.to_csv(path, index=False)
    first = ingest_file(store, path, "enterprises")
    assert (first.inserted, first.updated) == (6, 0)
    df.loc[0, "name"] = "改名后的企业"
    df.loc[0, "workers"] = 999
    df.to_csv(path, index=False)
    second = ingest_file(store, path, "enterprises")
    assert (second.inserted, second.updated) == (0, 6)
    stored = store.read("enterprises").set_index("id")
    assert len(stored) == 6 and stored.index.is_unique
    assert stored.loc[df["id"][0], "name"] == "改名后的企业"
    assert stored.loc[df["id"][0], "workers"] == 999


def test_missing_required_column_is_a_file_error(store, tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"id": ["a"], "lon": [120.1], "lat": [30.2]}).to_csv(path, index=False)
    with pytest.raises(InputRejected, match=r"x.csv: no column for required field\(s\) domain .*领域"):
        ingest_file(store, path, "enterprises")


def test_unknown_format_and_missing_file(store, tmp_path):
    (tmp_path / "x.doc").write_text("hi")
    with pytest.raises(InputRejected, match="cannot tell the format"):
        ingest_file(store, tmp_path / "x.doc", "enterprises")
    with pytest.raises(InputRejected, match="no such file"):
        ingest_file(store, tmp_path / "nope.csv", "enterprises")


# -- hazards --------------------------------------------------------------------------------------------
def _hazards(counties) -> gpd.GeoDataFrame:
    lon, lat = inside_point(counties, XIHU)
    blon, blat = inside_point(counties, BINJIANG)
    line_across = shapely.LineString([(lon, lat), (blon, blat)])
    square = shapely.box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    bowtie = shapely.Polygon([(lon, lat), (lon + 0.01, lat + 0.01), (lon + 0.01, lat), (lon, lat + 0.01), (lon, lat)])
    flat = shapely.Polygon([(lon, lat), (lon + 0.01, lat), (lon + 0.02, lat), (lon, lat)])  # zero area
    return gpd.GeoDataFrame(
        {
            "id": ["H1", "H2", "H3", "H4", "H5", "H6"],
            "name": ["塌陷点", "事故多发路段", "尾矿库", "自相交多边形", "退化多边形", "未知类型"],
            "type": ["地面塌陷", "accident_blackspot", "尾矿库", "flood_lowland", "chemical_park", "volcano"],
            "level": ["", "较大", "red", "", "", ""],
            "population": [120, 0, 3000, 10, 0, 0],
        },
        geometry=[shapely.Point(lon, lat), line_across, square, bowtie, flat, shapely.Point(lon, lat)],
        crs="EPSG:4326",
    )


def test_hazards_lines_polygons_repair_and_regions(store, counties, tmp_path):
    path = tmp_path / "h.geojson"
    _hazards(counties).to_file(path, driver="GeoJSON")
    result = ingest_file(store, path, "hazards")
    rep = result.report
    assert result.accepted == 4 and result.rejected == 2
    reasons = dict(zip(rep["id"], rep["reason"], strict=True))
    assert reasons["H5"] == "invalid geometry that cannot be repaired"
    assert "unknown value 'volcano'" in reasons["H6"]
    assert "repaired" in reasons["H4"]
    stored = store.read("hazards").set_index("id")
    assert stored.loc["H1", "type"] == "ground_collapse" and stored.loc["H2", "level"] == "orange"
    touched = stored.loc["H2", "county_adcodes"].split(",")
    assert {XIHU, BINJIANG} <= set(touched)
    assert stored.loc["H2", "county_adcode"] in touched
    assert stored.loc["H3", "county_adcode"] == XIHU
    assert stored.loc["H4", "geometry"].is_valid


def test_hazards_from_csv_with_wkt_and_points(store, counties, tmp_path):
    lon, lat = inside_point(counties, YINZHOU)
    df = pd.DataFrame(
        {
            "编号": ["C1", "C2", "C3"],
            "类型": ["地质灾害", "低洼易涝", "事故多发点段"],
            "经度": [lon, "", ""],
            "纬度": [lat, "", ""],
            "WKT": ["", shapely.box(lon, lat, lon + 0.01, lat + 0.01).wkt, "LINESTRING (oops"],
        }
    )
    path = tmp_path / "h.csv"
    df.to_csv(path, index=False)
    result = ingest_file(store, path, "hazards")
    assert result.accepted == 2
    assert "not valid WKT" in result.report["reason"].iloc[0]
    assert set(store.read("hazards")["county_adcode"]) == {YINZHOU}


# -- events ---------------------------------------------------------------------------------------------
def test_events_need_known_enterprises(store, counties, tmp_path):
    ent = _enterprises(counties, 2)
    ep = tmp_path / "e.csv"
    ent.to_csv(ep, index=False)
    ingest_file(store, ep, "enterprises")
    ev = pd.DataFrame(
        {
            "企业编号": [ent["id"][0], ent["id"][1], "NO-SUCH-ENTERPRISE", ent["id"][0], ent["id"][0]],
            "类型": ["隐患", "事故", "隐患", "报警", "隐患"],
            "隐患等级": ["重大", "", "一般", "", ""],
            "发现日期": ["2025-03-01", "2025/04/02", "2025-01-01", "20250505", "2025-06-01"],
            "整改期限": ["2025-04-01", "", "", "", ""],
            "销号日期": ["", "", "", "", "2025-05-01"],
            "死亡人数": ["", "1", "", "", ""],
            "受伤人数": ["", "2", "", "", ""],
        }
    )
    path = tmp_path / "ev.csv"
    ev.to_csv(path, index=False, encoding="gb18030")
    result = ingest_file(store, path, "events")
    assert (result.accepted, result.rejected) == (3, 2)
    rep = result.report
    reasons = rep.loc[rep["severity"] == "rejected"].set_index("line")["reason"]
    assert "no enterprise with id 'NO-SUCH-ENTERPRISE'" in reasons[4]
    assert "closed (销号) before it was found" in reasons[6]
    stored = store.read("events").sort_values("found_date")
    assert stored["type"].tolist() == ["hidden_danger", "accident", "alarm"]
    assert stored["severity"].tolist()[0] == "major"
    assert stored["deaths"].tolist() == [0, 1, 0] and stored["injuries"].tolist() == [0, 2, 0]
    # derived ids are stable: ingesting again replaces, never duplicates
    again = ingest_file(store, path, "events")
    assert again.updated == 3 and len(store.read("events")) == 3


def test_ragged_rows_are_listed_not_fatal(store, counties, tmp_path):
    lon, lat = inside_point(counties, XIHU)
    path = tmp_path / "ragged.csv"
    path.write_text(
        "id,domain,lon,lat\n"
        f"R1,fire,{lon},{lat}\n"
        f"R2,fire,{lon},{lat},surplus\n"
        f'R3,fire,"{lon}",{lat}\n'
        "R4,fire\n"
        "\n"
        f"R5,fire,{lon},{lat}\n",
        encoding="utf-8",
    )
    result = ingest_file(store, path, "enterprises")
    assert (result.rows, result.accepted, result.rejected) == (5, 3, 2)
    rep = result.report.set_index("line")
    assert rep.loc[3, "id"] == "R2" and "5 fields where the header has 4" in rep.loc[3, "reason"]
    assert rep.loc[5, "id"] == "R4"
    assert sorted(store.read("enterprises")["source_line"]) == [2, 4, 7]


@pytest.mark.parametrize("fmt", ["csv", "geoparquet"])
def test_point_arrays_equal_the_geometry_path(boundaries, counties, tmp_path, fmt):
    """Enterprises ingested through coordinate arrays store exactly what the point-geometry path stores, and
    report the same rows (the demo's bad rows: missing, swapped, outside, duplicate, mismatched county...)."""
    from geo.store import Store
    from synth import generate_demo

    files = generate_demo(tmp_path / "in", counties, n_enterprises=600, seed=3)["enterprises"]
    if fmt == "geoparquet":  # one file of points (its bad coordinates dropped: a point needs numbers)
        frame = pd.read_csv(files[0], dtype=str, keep_default_na=False)
        lon, lat = pd.to_numeric(frame.pop("lon"), errors="coerce"), pd.to_numeric(frame.pop("lat"), errors="coerce")
        ok = lon.notna() & lat.notna()
        path = tmp_path / "in" / "points.parquet"
        gpd.GeoDataFrame(frame[ok], geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs=4326).to_parquet(path)
        files = [path]
    stores, reports = [], []
    for fast in (True, False):
        store = Store.open(tmp_path / f"store-{fast}")
        store.write("boundaries", boundaries)
        crs = [None, "gcj02"]
        options = [IngestOptions(crs=crs[i], point_arrays=fast) for i in range(len(files))]
        results = [ingest_file(store, f, "enterprises", o) for f, o in zip(files, options, strict=True)]
        reports.append(pd.concat([r.report for r in results], ignore_index=True))
        stores.append(store.read("enterprises").sort_values("id").reset_index(drop=True))
    fast, slow = stores
    assert len(fast) > 400 and len(reports[0]) > 5
    pd.testing.assert_frame_equal(reports[0], reports[1])
    pd.testing.assert_frame_equal(fast.drop(columns=["ingested_at"]), slow[fast.columns].drop(columns=["ingested_at"]))
    assert shapely.equals_exact(fast.geometry.values, slow.geometry.values, tolerance=0).all()


def test_geoparquet_bbox_covering_is_not_an_attribute(store, counties, tmp_path):
    df = _enterprises(counties)
    gdf = gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
    path = tmp_path / "covered.parquet"
    gdf.to_parquet(path, write_covering_bbox=True)
    result = ingest_file(store, path, "enterprises")
    assert result.accepted == 6
    stored = store.read("enterprises")
    assert "bbox" not in stored.columns
    assert np.allclose(stored.sort_values("id")["lon"].to_numpy(), df.sort_values("id")["lon"].to_numpy())


def test_every_kind_has_one_handler_matching_its_contract():
    from geo.fields import load_contract
    from geo.ingest import HANDLERS, KINDS
    from geo.store import TABLES

    assert KINDS == tuple(HANDLERS) == ("enterprises", "hazards", "events", "resources", "roads")
    for kind, handler in HANDLERS.items():
        contract = load_contract(kind)
        names = {f.name for f in contract.fields}
        assert handler.kind == kind and kind in TABLES and handler.key == contract.key
        assert handler.critical <= names, kind
        assert {handler.report_id, handler.declared_county} - {None} <= names, kind


def test_unknown_kind_names_the_kinds(store, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id\nR1\n", encoding="utf-8")
    with pytest.raises(InputRejected, match="unknown kind 'ships'; use one of enterprises, hazards, events, resources"):
        ingest_file(store, path, "ships")


def test_bundled_boundaries_are_written_under_the_store_lock(counties, tmp_path, monkeypatch):
    """A store without boundaries gets the bundled ones under the lock, and the lock is never taken twice over
    (it is not re-entrant: a nested lock would wait for ever)."""
    import contextlib

    from geo.store import Store

    held: list[bool] = []
    writes: list[tuple[str, bool]] = []
    real_lock, real_write = Store.lock, Store.write

    @contextlib.contextmanager
    def lock(self):
        assert not held, "nested Store.lock()"
        with real_lock(self):
            held.append(True)
            try:
                yield
            finally:
                held.pop()

    def write(self, name, frame):
        writes.append((name, bool(held)))
        real_write(self, name, frame)

    monkeypatch.setattr(Store, "lock", lock)
    monkeypatch.setattr(Store, "write", write)
    store = Store.open(tmp_path / "fresh")
    path = tmp_path / "e.csv"
    _enterprises(counties).to_csv(path, index=False)
    assert ingest_file(store, path, "enterprises").accepted == 6
    assert writes == [("boundaries", True), ("enterprises", True)]
    assert ingest_file(store, path, "enterprises").updated == 6
    assert writes[2:] == [("enterprises", True)]


def test_event_words_are_stored_as_the_codes_scoring_counts(store, counties, tmp_path):
    """Ingest turns every accepted spelling of an event type and a danger grade into its code, once; scoring
    compares codes only."""
    from datetime import date

    from geo.catalogue import load_catalogue
    from geo.scoring import load_model, score_enterprises

    df = _enterprises(counties, n=1)
    ent = tmp_path / "e.csv"
    df.to_csv(ent, index=False)
    ingest_file(store, ent, "enterprises")
    words = [
        ("隐患", "重大事故隐患"),
        ("HAZARD", "Major"),
        ("danger", "一般隐患"),
        ("隐患", ""),
        ("事故隐患", "一般"),
        ("事故", ""),
        ("Accident", "重大"),
        ("预警", ""),
        ("监测报警", ""),
        ("alarm", ""),
    ]
    ev = tmp_path / "ev.csv"
    lines = "".join(f"{df['id'][0]},{kind},{grade},2026-03-01\n" for kind, grade in words)
    ev.write_text("企业编号,类型,隐患等级,发现日期\n" + lines, encoding="utf-8")
    assert ingest_file(store, ev, "events").accepted == len(words)
    events = store.read("events")
    assert events["type"].tolist() == ["hidden_danger"] * 5 + ["accident"] * 2 + ["alarm"] * 3
    assert events["severity"].tolist()[:5] == ["major", "major", "general", "general", "general"]
    assert events["severity"].iloc[5:].isna().all()
    scores = score_enterprises(store.read("enterprises"), events, date(2026, 3, 2), load_model(), load_catalogue())
    row = scores.iloc[0]
    assert (row["open_dangers"], row["accidents_window"], row["alarms_window"], row["veto"]) == (5, 2, 3, True)
