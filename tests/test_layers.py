"""Styles, web geometry, GeoJSON features and server-side clustering (no browser, no files)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.catalogue import LEVELS
from geo.crs import wgs84_to_gcj02
from layers.clusters import PointIndex, cluster_points
from layers.features import descendants, hazard_features, region_features, top_units
from layers.sample import sample_tables
from layers.styles import StylesInvalid, load_styles, parse_styles
from layers.view import MapView
from layers.webgeom import content_hash, decode_line, encode_geometry, encode_line, web_boundaries


# -- styles -----------------------------------------------------------------------------------------------
def test_styles_default_to_the_catalogue():
    st = load_styles()
    assert [lv.code for lv in st.resolved_levels] == list(LEVELS)
    assert [st.level_color(lv) for lv in LEVELS] == ["#FF0000", "#FF8C00", "#FFFF00", "#0070FF"]
    assert st.level_label("red") == "重大风险" and st.level_label("blue", "en") == "low"
    assert st.hazard_label("tailings_pond") == "尾矿库" and st.domain_label("hazchem", "en") == "hazardous chemicals"
    assert st.admin_style("county").width < st.admin_style("city").width < st.admin_style("province").width


def test_styles_override_a_colour_from_a_partial_file(tmp_path):
    path = tmp_path / "print.toml"
    path.write_text('[levels.yellow]\ncolor = "#FFD700"\n', encoding="utf-8")
    st = load_styles(path)
    assert st.level_color("yellow") == "#FFD700" and st.level_color("red") == "#FF0000"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"levels": {"purple": {"color": "#800080"}}}, "unknown level"),
        ({"levels": {"red": {"color": "red"}}}, "levels.red.color"),
        ({"hazards": {"volcano": {"symbol": "circle", "size": 10, "dash": ""}}}, "unknown hazard type"),
        (
            {"admin": {"county": {"width": -1, "color": "#000000", "label_size": 12, "label_min_zoom": 7}}},
            "admin.county.width",
        ),
    ],
)
def test_styles_are_validated(patch, message):
    import tomllib

    from layers.styles import DEFAULT_PATH, _merge

    raw = _merge(tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8")), patch)
    with pytest.raises(StylesInvalid, match=message):
        parse_styles(raw)


def test_basemaps():
    st = load_styles()
    assert st.basemap("amap").crs == "gcj02" and st.basemap("tianditu", key="K").tile_url().endswith("tk=K")
    assert st.basemap("https://tiles.intranet/{z}/{x}/{y}.png").crs == "wgs84"
    assert st.basemap("gcj02:https://tiles.intranet/{z}/{x}/{y}.png").crs == "gcj02"
    with pytest.raises(StylesInvalid, match="preset"):
        st.basemap("google")


# -- web geometry ---------------------------------------------------------------------------------------
def test_coverage_simplification_keeps_shared_borders(boundaries):
    web = web_boundaries(boundaries)
    counties = web.loc[web["admin_level"] == "county"]
    geoms = counties.geometry.values
    assert (
        shapely.get_num_coordinates(geoms).sum()
        < 0.5 * shapely.get_num_coordinates(boundaries.loc[boundaries["admin_level"] == "county"].geometry.values).sum()
    )
    # neighbours share their border exactly: the shared part is a line, their overlap has no area
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="touches")
    pairs = left < right
    assert pairs.sum() > 150
    shared = shapely.intersection(geoms[left[pairs]], geoms[right[pairs]])
    assert (shapely.area(shared) < 1e-9).all()
    assert (shapely.length(shared) > 0).mean() > 0.95
    overlap = shapely.area(shapely.intersection(geoms[left], geoms[right])).sum()
    assert overlap < 1e-8


def test_cities_are_the_union_of_their_simplified_counties(boundaries):
    web = web_boundaries(boundaries)
    city = web.loc[web["adcode"] == "330100"].geometry.iloc[0]
    counties = web.loc[web["parent_adcode"] == "330100"].geometry.values
    assert shapely.equals_exact(shapely.normalize(city), shapely.normalize(shapely.coverage_union_all(counties)), 1e-9)


def test_coordinates_are_rounded_to_a_metre(boundaries):
    web = web_boundaries(boundaries)
    coords = shapely.get_coordinates(web.geometry.values)
    assert np.allclose(coords, np.round(coords, 5), atol=1e-12, rtol=0)


def test_gcj02_shift_and_cache(boundaries):
    a = web_boundaries(boundaries)
    assert web_boundaries(boundaries) is a  # cached by content
    b = web_boundaries(boundaries, crs="gcj02")
    ca, cb = shapely.get_coordinates(a.geometry.values[1]), shapely.get_coordinates(b.geometry.values[1])
    gx, gy = wgs84_to_gcj02(ca[:, 0], ca[:, 1])
    assert np.allclose(cb[:, 0], gx, atol=2e-5) and np.allclose(cb[:, 1], gy, atol=2e-5)
    changed = boundaries.copy()
    changed.loc[0, "name"] = "x"
    assert content_hash(changed) != content_hash(boundaries)


def test_encoded_polylines_round_trip():
    coords = np.array([[120.12345, 30.5], [120.12, 30.49999], [119.9, 30.7], [-70.5, -33.25]])
    assert np.allclose(decode_line(encode_line(coords)), coords, atol=1e-9)
    square = shapely.box(120, 30, 120.01, 30.01)
    ring = decode_line(encode_geometry(square)[0][0])
    assert len(ring) == 4  # the closing point is implied


# -- features -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tables(boundaries):
    return sample_tables(boundaries, n_units=500, seed=4, hostile_name="<b>x</b>")


def test_region_features_are_rfc7946(tables, boundaries):
    units, hazards, regions = tables
    fc = region_features(regions, boundaries, view=MapView(level="county", domain="fire", parent="330100", lang="en"))
    props = [f["properties"] for f in fc["features"]]
    assert {p["adcode"] for p in props} == set(
        regions.loc[(regions["admin_level"] == "county") & regions["adcode"].str.startswith("3301"), "adcode"]
    )
    assert all(
        p["domain"] == "fire" and p["risk_level_label"] in ("major", "considerable", "general", "low") for p in props
    )
    for f in fc["features"]:
        for poly in shapely.get_parts(shapely.geometry.shape(f["geometry"])):
            assert poly.exterior.is_ccw
    assert "crs" not in fc


def test_hazard_features_keep_every_geometry_type(tables):
    _, hazards, _ = tables
    fc = hazard_features(hazards, lang="zh")
    kinds = {f["geometry"]["type"] for f in fc["features"]}
    assert kinds == {"Point", "LineString", "Polygon"}
    assert {f["properties"]["type_label"] for f in fc["features"]} >= {"尾矿库", "地面塌陷"}


def test_top_units_accepts_both_explanation_shapes():
    engine = {"top": [{"id": "1", "name": "甲", "level": "red", "score": 99.0, "contribution": 10.0}]}
    brief = {"top_units": [{"id": "1", "name": "甲", "risk_level": "red", "risk_score": 99.0, "contribution": 10.0}]}
    assert (
        top_units(engine)
        == top_units(brief)
        == [{"id": "1", "name": "甲", "domain": None, "risk_level": "red", "risk_score": 99.0, "contribution": 10.0}]
    )


def test_descendants(boundaries):
    below = descendants(boundaries, "330100")
    assert below and all(code.startswith("3301") for code in below)


# -- clusters ---------------------------------------------------------------------------------------------
def _units(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(n)],
            "name": [f"企业{i}" for i in range(n)],
            "domain": rng.choice(["hazchem", "fire"], n),
            "lon": rng.uniform(119.0, 121.0, n),
            "lat": rng.uniform(29.0, 30.5, n),
            "risk_level": rng.choice(LEVELS, n, p=[0.05, 0.15, 0.3, 0.5]),
            "risk_score": rng.uniform(0, 100, n),
            "city_adcode": rng.choice(["330100", "330200"], n),
        }
    )


def test_few_points_come_back_as_points():
    units = _units(50)
    fc = cluster_points(units, (118, 28, 122, 31), zoom=8, max_features=100)
    assert len(fc["features"]) == 50 and not fc["properties"]["clustered"]
    assert all(not f["properties"]["cluster"] for f in fc["features"])
    assert {f["properties"]["name"] for f in fc["features"]} == set(units["name"])


def test_many_points_are_clustered_with_counts_and_worst_level():
    units = _units(20_000)
    fc = cluster_points(units, (118, 28, 122, 31), zoom=9, max_features=500)
    feats = fc["features"]
    assert fc["properties"]["clustered"] and 0 < len(feats) <= 500
    clusters = [f["properties"] for f in feats if f["properties"]["cluster"]]
    singles = [f for f in feats if not f["properties"]["cluster"]]
    assert sum(c["count"] for c in clusters) + len(singles) == 20_000
    for c in clusters:
        assert c["count"] == c["n_red"] + c["n_orange"] + c["n_yellow"] + c["n_blue"]
        worst = next(lv for lv in LEVELS if c[f"n_{lv}"])
        assert c["risk_level"] == worst


def test_bbox_domain_and_parent_filters():
    units = _units(5000)
    index = PointIndex.from_units(units)
    bbox = (119.5, 29.5, 120.0, 30.0)
    inside = units["lon"].between(119.5, 120.0) & units["lat"].between(29.5, 30.0)
    fc = cluster_points(index, bbox, zoom=12, max_features=5000, domain="fire", parent="330200")
    want = inside & (units["domain"] == "fire") & (units["city_adcode"] == "330200")
    # the query box is padded by 1 % on each side
    assert abs(fc["properties"]["total"] - int(want.sum())) <= 0.05 * want.sum() + 5


def test_gcj02_clusters_are_shifted():
    units = _units(30)
    a = cluster_points(units, (118, 28, 122, 31), zoom=8)
    b = cluster_points(units, (118, 28, 122, 31), zoom=8, crs="gcj02")
    pa = np.array([f["geometry"]["coordinates"] for f in a["features"]])
    pb = np.array([f["geometry"]["coordinates"] for f in b["features"]])
    gx, gy = wgs84_to_gcj02(pa[:, 0], pa[:, 1])
    assert np.allclose(pb[:, 0], gx, atol=1e-5) and np.allclose(pb[:, 1], gy, atol=1e-5)


def test_a_million_enterprises_cluster_fast():
    n = 1_000_000
    rng = np.random.default_rng(1)
    units = pd.DataFrame(
        {
            "lon": rng.uniform(118, 123, n),
            "lat": rng.uniform(27, 31, n),
            "domain": "fire",
            "risk_level": rng.choice(LEVELS, n),
            "id": np.arange(n).astype(str),
            "name": "x",
        }
    )
    index = PointIndex.from_units(units)
    t0 = time.perf_counter()
    for zoom, bbox in [(7, (117, 26, 124, 32)), (10, (119.5, 29.5, 120.5, 30.2)), (15, (120.1, 30.2, 120.13, 30.22))]:
        fc = cluster_points(index, bbox, zoom)
        assert len(fc["features"]) <= 2000
    assert time.perf_counter() - t0 < 3.0
