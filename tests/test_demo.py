"""The synthetic census generator: deterministic, inside its counties, real encodings and CRSs, bad rows."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from geo.catalogue import load_catalogue
from geo.errors import CRSUnknown
from synth import BAD_ENTERPRISE_ROWS, ENTERPRISE_COLUMNS, EVENT_COLUMNS, GBK_COLUMNS, generate_demo

N = 1500
SEED = 7
N_BAD = len(BAD_ENTERPRISE_ROWS)


def make_counties() -> gpd.GeoDataFrame:
    """Four 0.2° square counties near Hangzhou in two cities (built in code; WGS84)."""
    specs = [
        ("330101", "西湖区", "330100", 120.0, 30.0),
        ("330102", "桐庐县", "330100", 120.2, 30.0),
        ("330201", "江北区", "330200", 120.0, 30.2),
        ("330202", "余姚市", "330200", 120.2, 30.2),
    ]
    return gpd.GeoDataFrame(
        {
            "adcode": [s[0] for s in specs],
            "name": [s[1] for s in specs],
            "admin_level": "county",
            "parent_adcode": [s[2] for s in specs],
        },
        geometry=[box(x, y, x + 0.2, y + 0.2) for *_, x, y in specs],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return make_counties()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, counties: gpd.GeoDataFrame) -> dict[str, list[Path]]:
    return generate_demo(tmp_path_factory.mktemp("demo"), counties, n_enterprises=N, seed=SEED)


@pytest.fixture(scope="module")
def utf(demo: dict[str, list[Path]]) -> pd.DataFrame:
    return pd.read_csv(demo["enterprises"][0], dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module")
def good(utf: pd.DataFrame) -> pd.DataFrame:
    return utf.iloc[:-N_BAD]


@pytest.fixture(scope="module")
def bad(utf: pd.DataFrame) -> dict[str, pd.Series]:
    rows = utf.iloc[-N_BAD:]
    return {kind: rows.iloc[i] for i, kind in enumerate(BAD_ENTERPRISE_ROWS)}


@pytest.fixture(scope="module")
def gbk(demo: dict[str, list[Path]]) -> pd.DataFrame:
    return pd.read_csv(demo["enterprises"][1], dtype=str, keep_default_na=False, encoding="gb18030")


@pytest.fixture(scope="module")
def events(demo: dict[str, list[Path]]) -> pd.DataFrame:
    return pd.read_csv(demo["events"][0], dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module")
def hazards(demo: dict[str, list[Path]]) -> gpd.GeoDataFrame:
    return gpd.read_file(demo["hazards"][0])


def _digest(paths: dict[str, list[Path]]) -> dict[str, str]:
    files = [p for group in paths.values() for p in group] + [paths["events"][0].parent / "README.txt"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


# --- outputs ---------------------------------------------------------------------------------------------
def test_returns_files_in_ingest_order(demo: dict[str, list[Path]]) -> None:
    assert list(demo) == ["enterprises", "hazards", "events", "resources"]
    assert [p.name for p in demo["enterprises"]] == ["enterprises.csv", "enterprises_gcj02_gbk.csv"]
    assert [p.name for p in demo["hazards"]] == ["hazards.geojson"]
    assert [p.name for p in demo["events"]] == ["events.csv"]
    assert all(p.is_file() for group in demo.values() for p in group)


def test_deterministic_for_a_seed(demo: dict[str, list[Path]], counties: gpd.GeoDataFrame, tmp_path: Path) -> None:
    again = generate_demo(tmp_path / "again", counties, n_enterprises=N, seed=SEED)
    other = generate_demo(tmp_path / "other", counties, n_enterprises=N, seed=SEED + 1)
    assert _digest(again) == _digest(demo)
    assert _digest(other)["enterprises.csv"] != _digest(demo)["enterprises.csv"]


def test_readme_describes_bad_rows(demo: dict[str, list[Path]]) -> None:
    text = (demo["events"][0].parent / "README.txt").read_text(encoding="utf-8")
    for kind in BAD_ENTERPRISE_ROWS:
        assert kind in text
    assert "GCJ-02" in text and "GB18030" in text


def test_rejects_counties_without_crs(counties: gpd.GeoDataFrame, tmp_path: Path) -> None:
    with pytest.raises(CRSUnknown, match="EPSG:4326"):
        generate_demo(tmp_path, counties.set_crs(None, allow_override=True), n_enterprises=10)
    with pytest.raises(CRSUnknown):
        generate_demo(tmp_path, counties.to_crs(3857), n_enterprises=10)


# --- enterprises ----------------------------------------------------------------------------------------
def test_enterprise_split_and_columns(utf: pd.DataFrame, good: pd.DataFrame, gbk: pd.DataFrame) -> None:
    assert list(utf.columns) == list(ENTERPRISE_COLUMNS)
    assert list(gbk.columns) == list(GBK_COLUMNS.values())
    assert len(good) + len(gbk) == N
    assert 0.6 < len(good) / N < 0.8


def test_ids_unique_and_uscc_like(good: pd.DataFrame, gbk: pd.DataFrame) -> None:
    ids = pd.concat([good["id"], gbk["统一社会信用代码"]])
    assert ids.is_unique
    assert ids.str.fullmatch(r"91\d{6}[0-9A-HJ-NPQRTUWXY]{10}").all()
    assert (ids.str[2:8] == pd.concat([good["county_code"], gbk["区县代码"]])).all()


def test_good_points_inside_their_county(good: pd.DataFrame, counties: gpd.GeoDataFrame) -> None:
    geoms = dict(zip(counties["adcode"], counties.geometry, strict=True))
    assert set(good["county_code"]) == set(geoms)
    for code, rows in good.groupby("county_code"):
        x, y = rows["lon"].astype(float).to_numpy(), rows["lat"].astype(float).to_numpy()
        assert shapely.contains_xy(geoms[code], x, y).all(), code
    assert good["lon"].str.fullmatch(r"\d+(\.\d{1,6})?").all()


def test_values_follow_the_catalogue(good: pd.DataFrame, gbk: pd.DataFrame) -> None:
    cat = load_catalogue()
    assert set(good["domain"]) <= {d.code for d in cat.domains}
    assert all(cat.industry(name) is not None for name in set(good["industry"]) | set(gbk["行业"]))
    assert all(cat.domain_code(name) is not None for name in set(gbk["领域"]))
    for name in set(good["industry"]):
        domain = good.loc[good["industry"] == name, "domain"]
        assert (domain == cat.industry(name).domain).all()
    assert set(good["declared_level"]) <= {"", "red", "orange", "yellow", "blue"}
    assert set(gbk["自评等级"]) <= {"", "重大", "较大", "一般", "低"}
    assert {cat.level_code(v) for v in set(gbk["自评等级"]) - {""}} <= {"red", "orange", "yellow", "blue"}
    for col in ("dust_explosion", "confined_space", "ammonia_refrigeration"):
        assert set(good[col]) <= {"0", "1"}
    assert set(good["major_hazard_level"]) <= {"", "1", "2", "3", "4"}
    assert set(good["standardization_grade"]) <= {"", "1", "2", "3"}
    assert (good["workers"].astype(int) >= 1).all()
    assert good["name"].str.len().ge(4).all() and good["address"].str.endswith("号").all()


def test_assessments_present_but_sparse(good: pd.DataFrame) -> None:
    lec = good["lec_l"] != ""
    ls = good["ls_l"] != ""
    assert 0.02 < lec.mean() < 0.09 and 0.02 < ls.mean() < 0.09
    assert not (lec & ls).any()
    assert (good.loc[lec, ["lec_e", "lec_c"]] != "").all().all()
    assert good.loc[ls, ["ls_l", "ls_s"]].astype(int).isin(range(1, 6)).all().all()
    assert 0.0 < (good["declared_level"] != "").mean() < 0.2
    assert (good["major_hazard_level"] == "").mean() > 0.8


def test_indicators_rise_with_base_weight(counties: gpd.GeoDataFrame, tmp_path: Path) -> None:
    paths = generate_demo(tmp_path, counties, n_enterprises=6000, seed=3)
    frame = pd.read_csv(paths["enterprises"][0], dtype=str, keep_default_na=False).iloc[:-N_BAD]
    cat = load_catalogue()
    weight = frame["industry"].map(lambda name: cat.industry(name).base_weight)
    hazard = (
        (frame["major_hazard_level"] != "").astype(float) * 3
        + frame["hazardous_processes"].astype(float)
        + frame[["dust_explosion", "confined_space", "ammonia_refrigeration"]].astype(float).sum(axis=1)
        + np.log(frame["workers"].astype(float)) / 3
    )
    per_industry = pd.DataFrame({"w": weight, "h": hazard}).groupby(weight).mean()
    assert per_industry["w"].corr(per_industry["h"], method="spearman") > 0.5
    hazchem = frame["domain"] == "hazchem"
    mh = frame["major_hazard_level"] != ""
    assert mh[hazchem].mean() > 5 * mh[~hazchem].mean()


# --- the GB18030 / GCJ-02 file --------------------------------------------------------------------------
def test_gbk_file_is_gb18030_not_utf8(demo: dict[str, list[Path]]) -> None:
    raw = demo["enterprises"][1].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert text.startswith("统一社会信用代码,企业名称,领域,行业,经度,纬度")
    assert not text.startswith("\ufeff")
    frame = pd.read_csv(io.StringIO(text), dtype=str)
    assert set(frame["领域"]) <= {d.zh for d in load_catalogue().domains}


def _haversine_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * np.arcsin(np.sqrt(a))


def test_gbk_coordinates_are_gcj02(gbk: pd.DataFrame, counties: gpd.GeoDataFrame) -> None:
    from geo.crs import gcj02_to_wgs84

    glon, glat = gbk["经度"].astype(float).to_numpy(), gbk["纬度"].astype(float).to_numpy()
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    offset = _haversine_m(glon, glat, wlon, wlat)
    assert ((offset > 100) & (offset < 700)).all(), (offset.min(), offset.max())
    buffered = shapely.buffer(counties.geometry.to_numpy(), 1e-5)  # ~1 m of slack for 6-decimal rounding
    geoms = dict(zip(counties["adcode"], buffered, strict=True))
    codes = gbk["区县代码"].to_numpy()
    for code, geom in geoms.items():
        sel = codes == code
        assert shapely.contains_xy(geom, wlon[sel], wlat[sel]).all(), code


# --- deliberately bad rows ------------------------------------------------------------------------------
def test_bad_rows(bad: dict[str, pd.Series], good: pd.DataFrame, counties: gpd.GeoDataFrame) -> None:
    assert bad["missing_coordinates"]["lon"] == "" and bad["missing_coordinates"]["lat"] == ""
    assert bad["non_numeric_latitude"]["lat"] == "30,2x"
    swapped = bad["swapped_coordinates"]
    assert float(swapped["lat"]) > 90 and 20 < float(swapped["lon"]) < 40
    outside = bad["outside_province"]
    assert (float(outside["lon"]), float(outside["lat"])) == pytest.approx((116.4, 39.9), abs=0.05)
    assert bad["unknown_domain"]["domain"] == "mining"
    assert bad["duplicate_id"]["id"] == good["id"].iloc[0]
    assert bad["empty_id"]["id"] == ""
    assert load_catalogue().industry(bad["unknown_industry"]["industry"]) is None
    assert load_catalogue().domain_code(bad["unknown_industry"]["domain"]) is not None
    mismatch = bad["county_code_mismatch"]
    point = shapely.Point(float(mismatch["lon"]), float(mismatch["lat"]))
    holder = counties.loc[counties.contains(point), "adcode"].tolist()
    assert len(holder) == 1 and holder[0] != mismatch["county_code"]
    assert mismatch["county_code"] in set(counties["adcode"])
    others = [r for kind, r in bad.items() if kind not in ("duplicate_id", "empty_id")]
    assert not {r["id"] for r in others} & set(good["id"]), "other bad rows carry fresh ids"


# --- events ---------------------------------------------------------------------------------------------
def test_event_ids_refer_to_enterprises(events: pd.DataFrame, good: pd.DataFrame, gbk: pd.DataFrame) -> None:
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events["事件编号"].is_unique
    assert 0.55 * N < len(events) < 0.65 * N
    known = set(good["id"]) | set(gbk["统一社会信用代码"])
    unknown = events.loc[~events["企业编号"].isin(known)]
    assert len(unknown) == 1 and unknown.index[0] == len(events) - 1


def test_event_lifecycle(events: pd.DataFrame) -> None:
    assert set(events["类型"]) == {"隐患", "事故", "报警"}
    danger = events["类型"] == "隐患"
    assert set(events.loc[danger, "隐患等级"]) == {"一般", "重大"}
    assert (events.loc[~danger, ["隐患等级", "整改期限", "销号日期"]] == "").all().all()
    assert events["发现日期"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert events["发现日期"].between("2023-11-01", "2026-11-01").all()
    d = events.loc[danger]
    assert (d["整改期限"] > d["发现日期"]).all()
    closed = d["销号日期"] != ""
    assert (d.loc[closed, "销号日期"] >= d.loc[closed, "发现日期"]).all()
    assert (d.loc[closed, "销号日期"] <= "2026-11-01").all()
    assert (d.loc[closed, "销号日期"] > d.loc[closed, "整改期限"]).any(), "some closed late"
    assert 0.6 < (d.loc[closed, "销号日期"] <= d.loc[closed, "整改期限"]).mean() < 0.95
    open_overdue = ~closed & (d["整改期限"] < "2026-11-01")
    assert open_overdue.any() and (~closed & ~open_overdue).any()
    accident = events["类型"] == "事故"
    assert (events.loc[~accident, ["死亡人数", "受伤人数"]] == "").all().all()
    assert events.loc[accident, ["死亡人数", "受伤人数"]].astype(int).ge(0).all().all()


# --- hazards --------------------------------------------------------------------------------------------
def test_hazard_types_and_geometries(hazards: gpd.GeoDataFrame) -> None:
    assert hazards.crs.to_epsg() == 4326
    assert len(hazards) >= 60 and hazards["id"].is_unique
    assert hazards["id"].str.fullmatch(r"HZ\d{6}").all()
    assert set(hazards["type"]) == {h.code for h in load_catalogue().hazard_types}
    pairs = set(zip(hazards["type"], hazards.geom_type, strict=True))
    assert pairs == {
        ("ground_collapse", "Point"),
        ("geological", "Point"),
        ("geological", "LineString"),
        ("accident_blackspot", "Point"),
        ("accident_blackspot", "LineString"),
        ("tailings_pond", "Polygon"),
        ("chemical_park", "Polygon"),
        ("flood_lowland", "Polygon"),
    }
    assert hazards.is_valid.all()
    assert set(hazards["level"].dropna()) <= {"red", "orange", "yellow", "blue"}
    assert 0.3 < hazards["level"].isna().mean() < 0.7
    assert set(hazards["status"]) <= {"active", "monitoring", "closed"}
    assert (hazards["population"] >= 0).all() and (hazards["scale"] > 0).all()
    assert pd.to_datetime(hazards["found_date"], format="%Y-%m-%d").notna().all()


def test_some_polygons_cross_county_borders(hazards: gpd.GeoDataFrame, counties: gpd.GeoDataFrame) -> None:
    polygons = hazards[hazards.geom_type == "Polygon"]
    hits = gpd.sjoin(polygons, counties[["adcode", "geometry"]], predicate="intersects")
    assert (hits.groupby(level=0).size() > 1).any()


def test_hazards_file_is_rfc7946(demo: dict[str, list[Path]]) -> None:
    import json

    doc = json.loads(demo["hazards"][0].read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc


def two_provinces(counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Zhejiang's counties and a copy of them moved north as a made-up province 340000."""
    other = counties.copy()
    other["adcode"] = "34" + other["adcode"].astype(str).str[2:]
    other["parent_adcode"] = "34" + other["parent_adcode"].astype(str).str[2:]
    other["geometry"] = other.geometry.translate(xoff=-1.5, yoff=3.0)
    return gpd.GeoDataFrame(pd.concat([counties, other], ignore_index=True), crs=counties.crs)


def test_units_spread_over_provinces_by_declared_weight(counties: gpd.GeoDataFrame, tmp_path: Path) -> None:
    """With province weights 1 : 3, a province's share of the units is a quarter (the rest of the spread,
    county by county, stays random); the shipped weights name all 31 mainland provinces."""
    from synth.generate import load_province_weights

    both = two_provinces(counties)
    files = generate_demo(tmp_path, both, n_enterprises=8000, seed=3, province_weights={"330000": 1, "340000": 3})
    frame = pd.read_csv(files["enterprises"][0], dtype=str)
    share = (frame["county_code"].str[:2] == "34").mean()
    assert 0.72 < share < 0.78, share
    # a province weighted 0 (as Taiwan, Hong Kong and Macau are in the shipped file) gets no units and no parks
    files = generate_demo(tmp_path / "z", both, n_enterprises=2000, seed=3, province_weights={"330000": 1})
    assert (pd.read_csv(files["enterprises"][0], dtype=str)["county_code"].str[:2] == "33").all()
    shipped = load_province_weights()
    assert len(shipped) == 31 and shipped["440000"] > shipped["330000"] > shipped["540000"] > 0


def test_province_weights_file_errors_name_the_entry(tmp_path: Path) -> None:
    from geo.errors import ModelInvalid
    from synth.generate import load_province_weights

    bad = tmp_path / "w.toml"
    bad.write_text('[weights]\n"330000" = 2\n"3301" = 1\n"340000" = -1\n', encoding="utf-8")
    with pytest.raises(ModelInvalid, match=r"province weights file .*w\.toml is invalid.*3301") as info:
        load_province_weights(bad)
    assert "340000" in str(info.value)


def test_demo_data_province_option(store, tmp_path: Path) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "cli.main", "--store", str(store.root), "demo-data", "--out", str(tmp_path / "o")]
    ok = subprocess.run([*cmd, "--enterprises", "500", "--province", "330000"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*cmd, "--province", "330000,110000"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--province 110000: no counties of that province" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
