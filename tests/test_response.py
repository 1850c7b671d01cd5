"""Emergency resources, road networks, the rescue circle and the incident briefing, on small data built here:
a few resources, a road grid written as a GeoPackage, a tiny OpenStreetMap file."""

from __future__ import annotations

import heapq
import json
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo.ingest import ingest_file
from geo.response.network import Network
from tests.conftest import require_tool

GEOD = Geod(ellps="WGS84")
LON0, LAT0 = 120.10, 30.25  # 西湖区 (330106): an urban county ("…区")


# -- travel times against a straightforward Dijkstra -------------------------------------------------------
def _reference(net: Network, sources: tuple, targets: tuple) -> np.ndarray:
    """Minutes from the nearest source to each target: every snapped point inserted as a node of its segment
    (points on one segment chained in order), an off-road edge to it, one heapq Dijkstra from all sources."""
    sx, sy = net.proj.to_m(*sources)
    tx, ty = net.proj.to_m(*targets)
    px, py = np.r_[sx, tx], np.r_[sy, ty]
    x0, y0, x1, y1 = net.xy.T
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((px[:, None] - x0) * dx + (py[:, None] - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    d = np.hypot(x0 + t * dx - px[:, None], y0 + t * dy - py[:, None])
    seg = d.argmin(axis=1)
    frac, off = t[np.arange(len(px)), seg], d[np.arange(len(px)), seg]
    speed = net.offroad_kmh * 1000 / 60
    graph: dict[object, list[tuple[object, float]]] = {}

    def edge(a: object, b: object, w: float) -> None:
        graph.setdefault(a, []).append((b, w))

    for e in range(len(net.minutes)):
        on = sorted((frac[i], i) for i in np.flatnonzero(seg == e))
        chain = [(0.0, ("n", int(net.a[e])))] + [(f, ("s", i)) for f, i in on] + [(1.0, ("n", int(net.b[e])))]
        for (fa, a), (fb, b) in zip(chain[:-1], chain[1:], strict=True):
            edge(a, b, (fb - fa) * net.minutes[e])
            if not net.oneway[e]:
                edge(b, a, (fb - fa) * net.minutes[e])
    for i in range(len(px)):
        edge(("p", i), ("s", i), off[i] / speed)
        edge(("s", i), ("p", i), off[i] / speed)
    dist: dict[object, float] = {}
    heap = [(0.0, ("p", i)) for i in range(len(sx))]
    while heap:
        dd, node = heapq.heappop(heap)
        if node in dist:
            continue
        dist[node] = dd
        for nxt, w in graph.get(node, []):
            if nxt not in dist:
                heapq.heappush(heap, (dd + w, nxt))
    return np.array([dist.get(("p", len(sx) + j), np.inf) for j in range(len(tx))])


def _grid_roads(n: int = 5, step: float = 0.01) -> tuple[list, list, list]:
    """An n × n street grid around (LON0, LAT0): rows two-way 40 km/h, columns 30 km/h, the middle column
    one-way northwards."""
    lines, speeds, oneway = [], [], []
    for i in range(n):
        lines.append(shapely.LineString([(LON0 + j * step, LAT0 + i * step) for j in range(n)]))
        speeds.append(40.0)
        oneway.append(0)
        lines.append(shapely.LineString([(LON0 + i * step, LAT0 + j * step) for j in range(n)]))
        speeds.append(30.0)
        oneway.append(1 if i == n // 2 else 0)
    return lines, speeds, oneway


def _street_network(rng, west: float, south: float, side: float, n_side: int) -> Network:
    """An n_side × n_side street grid of two-way roads (30 or 60 km/h at random) over `side` degrees from (west,
    south), with a 10 km/h off-road leg reaching 5 km."""
    xs, ys = np.linspace(west, west + side, n_side), np.linspace(south, south + side, n_side)
    lines = np.array(
        [shapely.linestrings(np.column_stack([xs, np.full(n_side, y)])) for y in ys]
        + [shapely.linestrings(np.column_stack([np.full(n_side, x), ys])) for x in xs],
        dtype=object,
    )
    return Network.from_roads(lines, rng.choice([30.0, 60.0], len(lines)), np.zeros(len(lines), np.int8), 10.0, 5000.0)


def test_travel_times_match_a_straightforward_dijkstra(rng):
    lines, speeds, oneway = _grid_roads()
    net = Network.from_roads(np.array(lines, dtype=object), np.array(speeds), np.array(oneway), 10.0)
    src = (LON0 + rng.uniform(0, 0.04, 3), LAT0 + rng.uniform(0, 0.04, 3))
    tgt = (LON0 + rng.uniform(-0.005, 0.045, 40), LAT0 + rng.uniform(-0.005, 0.045, 40))
    got, who = net.forward(net.snap(*src), net.snap(*tgt))
    np.testing.assert_allclose(got, _reference(net, src, tgt), rtol=1e-9, atol=1e-9)
    assert (who >= 0).all()
    # one target, every source: the reversed search gives each source's own time
    for j in range(3):
        one = (tgt[0][j : j + 1], tgt[1][j : j + 1])
        back = net.backward(net.snap(*one), net.snap(*src))
        each = [_reference(net, (src[0][k : k + 1], src[1][k : k + 1]), one)[0] for k in range(3)]
        np.testing.assert_allclose(back, each, rtol=1e-9)


def test_snapping_with_a_reach_agrees_with_brute_force_within_it(rng):
    """With `max_offroad_m`, points farther than it from every road are cut short (segment -1), the others
    snapped exactly as without it: same segments and distances as every point against every segment."""
    lines, speeds, oneway = _grid_roads(n=9, step=0.003)
    roads = (np.array(lines, dtype=object), np.array(speeds), np.array(oneway), 10.0)
    net = Network.from_roads(*roads, 150.0)
    lon = np.r_[LON0 + rng.uniform(-0.03, 0.055, 4000), LON0 + 0.5]
    lat = np.r_[LAT0 + rng.uniform(-0.03, 0.055, 4000), LAT0]
    want, want_d = _nearest_segment(net, lon, lat)
    within = want_d <= 150.0
    assert 0 < within.sum() < len(lon)  # both kinds of point
    got = net.snap(lon, lat)
    np.testing.assert_array_equal(got.segment, np.where(within, want, -1))
    np.testing.assert_allclose(got.offroad_m[within], want_d[within], rtol=0, atol=1e-6)
    assert (got.offroad_m[~within] > 150.0).all()


def _nearest_segment(net: Network, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: every point against every segment; the nearest (lowest index among equally near) and its
    distance in metres."""
    x, y = net.proj.to_m(lon, lat)
    x0, y0, x1, y1 = (net.xy[:, c][None, :] for c in range(4))
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x[:, None] - x0) * dx + (y[:, None] - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    d = np.hypot(x0 + t * dx - x[:, None], y0 + t * dy - y[:, None])
    want_d = d.min(axis=1)
    return np.where(d == want_d[:, None], np.arange(d.shape[1]), 10**9).min(axis=1), want_d


def test_snapping_finds_the_nearest_segment_as_brute_force_does(rng):
    """Every point against every segment: the nearest (the lowest index among equally near ones), its
    distance, for points in the grid, repeated points (measured once), far points and points on vertices."""
    from geo.response import snapping

    lines, speeds, oneway = _grid_roads(n=9, step=0.003)
    net = Network.from_roads(np.array(lines, dtype=object), np.array(speeds), np.array(oneway), 10.0)
    lon = np.r_[LON0 + rng.uniform(-0.01, 0.035, 3000), LON0 + 0.003 * rng.integers(0, 9, 200), LON0 + 0.5]
    lat = np.r_[LAT0 + rng.uniform(-0.01, 0.035, 3000), LAT0 + 0.003 * rng.integers(0, 9, 200), LAT0]
    lon, lat = np.r_[lon, lon[:500]], np.r_[lat, lat[:500]]  # repeats
    want, want_d = _nearest_segment(net, lon, lat)
    for k in (8, 2):  # 2: most points go the wider way or to the STRtree
        old = snapping.SNAP_K
        snapping.SNAP_K = k
        try:
            got = net.snap(lon, lat)
        finally:
            snapping.SNAP_K = old
        np.testing.assert_array_equal(got.segment, want)
        np.testing.assert_allclose(got.offroad_m, want_d, rtol=0, atol=1e-6)
        assert got.segment[-1] == got.segment[499] and got.t[-1] == got.t[499]


def test_a_known_answer_along_one_road():
    # 3 segments of 0.01° of longitude at 30°N (~964.9 m each) at 60 km/h: ~0.965 min each
    line = shapely.LineString([(120.0, 30.0), (120.01, 30.0), (120.02, 30.0), (120.03, 30.0)])
    net = Network.from_roads(np.array([line]), np.array([60.0]), np.array([0]), 10.0)
    seg_m = GEOD.inv(120.0, 30.0, 120.01, 30.0)[2]
    got, _ = net.forward(net.snap(np.array([120.0]), np.array([30.0])), net.snap(np.array([120.03]), np.array([30.0])))
    assert got[0] == pytest.approx(3 * seg_m / 1000, rel=2e-3)  # 60 km/h = 1 km/min
    oneway = Network.from_roads(np.array([line]), np.array([60.0]), np.array([-1]), 10.0)  # drawn westwards only
    got, who = oneway.forward(
        oneway.snap(np.array([120.0]), np.array([30.0])), oneway.snap(np.array([120.03]), np.array([30.0]))
    )
    assert np.isinf(got[0]) and who[0] == -1


# -- ingest -------------------------------------------------------------------------------------------------
def _roads_gpkg(path, extra: list | None = None) -> None:
    lines, speeds, oneway = _grid_roads(3)
    rows = [
        {"id": f"G{i}", "道路等级": "城市主干路", "单行": "是" if w else "否", "geometry": g}
        for i, (g, w) in enumerate(zip(lines, oneway, strict=True))
    ]
    rows += extra or []
    gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_file(path, driver="GPKG")


def test_roads_from_a_geopackage_with_bad_rows_reported(store, tmp_path):
    path = tmp_path / "roads.gpkg"
    island = shapely.LineString([(LON0 + 0.1, LAT0 + 0.1), (LON0 + 0.11, LAT0 + 0.1)])
    extra = [
        {"id": "Z", "道路等级": "县道", "单行": "否", "geometry": shapely.LineString([(LON0, LAT0), (LON0, LAT0)])},
        {
            "id": "F",
            "道路等级": "footway",
            "单行": "否",
            "geometry": shapely.LineString([(LON0, LAT0), (LON0 + 0.001, LAT0)]),
        },
        {"id": "I", "道路等级": "乡道", "单行": "否", "geometry": island},
        {
            "id": "U",
            "道路等级": "机耕路",
            "单行": "否",
            "geometry": shapely.LineString([(LON0, LAT0), (LON0, LAT0 - 0.002)]),
        },
    ]
    _roads_gpkg(path, extra)
    result = ingest_file(store, path, "roads")
    rep = result.report.set_index("id")
    assert result.accepted == 8 and result.rejected == 2
    assert "zero-length" in rep.loc["Z", "reason"] and rep.loc["Z", "severity"] == "rejected"
    assert "not a road for vehicles" in rep.loc["F", "reason"]
    assert "not connected to the main network" in rep.loc["I", "reason"] and rep.loc["I", "severity"] == "warning"
    assert "no speed in geo/data/response.toml; 30 km/h" in rep.loc["U", "reason"]
    roads = store.read("roads").set_index("id")
    assert roads.loc["G0", "speed_kmh"] == 40.0 and roads.loc["G0", "speed_source"] == "class"  # 城市主干路
    assert roads.loc["I", "speed_kmh"] == 30.0  # 乡道
    assert set(roads["oneway"]) == {0, 1}


def test_roads_from_an_osm_file(store, tmp_path):
    require_tool("ogrinfo")  # GDAL with its OSM driver
    osm = tmp_path / "tiny.osm"
    osm.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="30.25" lon="120.10"/><node id="2" lat="30.25" lon="120.11"/>
  <node id="3" lat="30.26" lon="120.11"/><node id="4" lat="30.26" lon="120.10"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/><tag k="maxspeed" v="50"/></way>
  <way id="11"><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
  <way id="12"><nd ref="3"/><nd ref="4"/><tag k="highway" v="secondary"/><tag k="maxspeed" v="30 mph"/></way>
  <way id="13"><nd ref="4"/><nd ref="1"/><tag k="waterway" v="stream"/></way>
</osm>""",
        encoding="utf-8",
    )
    result = ingest_file(store, osm, "roads")
    assert (result.accepted, result.rejected) == (3, 1)
    assert result.report.set_index("id").loc["13", "reason"] == "not a road: the OSM way has no highway tag"
    roads = store.read("roads").set_index("id")
    assert roads.loc["10", "speed_kmh"] == 50.0 and roads.loc["10", "speed_source"] == "maxspeed"
    assert roads.loc["11", "speed_kmh"] == 25.0 and roads.loc["11", "oneway"] == 1  # residential
    assert roads.loc["12", "speed_kmh"] == pytest.approx(30 * 1.609344)


def _resources_csv(path, rows: list[str]) -> None:
    path.write_text("编号,名称,类型,经度,纬度,人员,车辆,容量,专业领域\n" + "\n".join(rows) + "\n", encoding="utf-8")


def test_resources_in_with_chinese_kinds_and_bad_rows_reported(store, tmp_path):
    path = tmp_path / "res.csv"
    _resources_csv(
        path,
        [
            f"F1,西湖消防站,消防救援站,{LON0},{LAT0},30,6,,",
            f"S1,避灾点,避灾安置场所,{LON0 + 0.01},{LAT0},,,800,",
            f"X1,飞艇库,飞艇,{LON0},{LAT0},,,,",
            f"E1,王工,专家,{LON0},{LAT0},,,,危化品",
            "B1,无坐标,消防站,,,,,,",
        ],
    )
    result = ingest_file(store, path, "resources")
    rep = result.report.set_index("id")
    assert (result.accepted, result.rejected) == (3, 2)
    assert rep.loc["X1", "field"] == "kind" and "unknown value '飞艇'" in rep.loc["X1", "reason"]
    assert rep.loc["B1", "severity"] == "rejected"
    res = store.read("resources").set_index("id")
    assert res.loc["F1", "kind"] == "fire_station" and res.loc["F1", "county_adcode"] == "330106"
    assert res.loc["E1", "domain"] == "hazchem" and res.loc["S1", "capacity"] == 800


# -- build, exports, prompt, briefing ----------------------------------------------------------------------
def _enterprises(path, rows: list[str]) -> None:
    path.write_text(
        "id,name,domain,lon,lat,declared_level,major_hazard_level\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )


@pytest.fixture()
def response_store(store, tmp_path):
    """One fire station in 西湖区; a red hazchem plant 3 km east of it, a blue unit beside it, a red unit
    far away in a rural county (the estimate: urban ×1.4 at 30 km/h, rural ×1.3 at 45 km/h)."""
    _resources_csv(
        tmp_path / "res.csv",
        [f"F1,西湖消防站,消防站,{LON0},{LAT0},30,6,,", f"S1,避灾点,避灾场所,{LON0 + 0.005},{LAT0},,,800,"],
    )
    ingest_file(store, tmp_path / "res.csv", "resources")
    east = GEOD.fwd(LON0, LAT0, 90, 3000)
    _enterprises(
        tmp_path / "ent.csv",
        [
            f"A,甲化工,hazchem,{east[0]},{east[1]},red,2",
            f"B,乙,industry,{LON0 + 0.001},{LAT0},,",
            "C,丙,industry,119.3,29.3,red,",
        ],
    )
    ingest_file(store, tmp_path / "ent.csv", "enterprises")
    return store


def test_build_by_the_estimate_gives_known_minutes_and_the_prompt(response_store, tmp_path):
    from geo.build import build

    snap, _ = build(response_store, date(2026, 11, 1))
    assert snap.meta["rescue"]["method"] == "estimate" and snap.meta["rescue"]["responders"] == 1
    units = snap.units().set_index("id")
    assert units.loc["A", "rescue_minutes"] == pytest.approx(3000 * 1.4 / 500, abs=0.1)  # 8.4
    assert units.loc["A", "rescue_id"] == "F1"
    assert units.loc["C", "rescue_minutes"] > 15
    prompts = snap.prompts()
    gap = prompts.loc[prompts["rule"] == "red_unit_outside_rescue_circle"]
    assert list(gap["target_id"]) == ["C"]  # A (red) is within 15 minutes, B is not red
    cov = snap.rescue_regions().set_index("adcode")
    assert cov.loc["330106", "cover15_units"] == 1.0 and cov.loc["330106", "cover15_red"] == 1.0
    assert cov.loc["330000", "cover15_red"] == 0.5
    assert [u["id"] for u in json.loads(cov.loc["330000", "unreached_red"])] == ["C"]
    assert 0 < cov.loc["330106", "cover15_area"] <= 1


def test_exports_carry_the_rescue_columns(response_store, tmp_path):
    from cli.main import main

    store = str(response_store.root)
    assert main(["--store", store, "build", "--as-of", "2026-11-01"]) == 0
    assert main(["--store", store, "export", "enterprises", "--format", "csv", "--out", str(tmp_path / "e.csv")]) == 0
    ent = pd.read_csv(tmp_path / "e.csv", dtype={"id": str}).set_index("id")
    assert ent.loc["A", "rescue_min"] == pytest.approx(8.4, abs=0.1) and ent.loc["A", "rescue_id"] == "F1"
    out = tmp_path / "r.csv"
    assert main(["--store", store, "export", "regions", "--level", "county", "--format", "csv", "--out", str(out)]) == 0
    reg = pd.read_csv(out, dtype={"adcode": str}).set_index("adcode")
    assert {"cover15_area", "cover15_units", "cover15_red"} <= set(reg.columns)
    assert reg.loc["330106", "cover15_units"] == 1.0
    out = tmp_path / "res.csv"
    assert main(["--store", store, "export", "resources", "--format", "csv", "--out", str(out)]) == 0
    res = pd.read_csv(out, dtype={"county_adcode": str})
    assert {"id", "kind", "lon", "lat", "county_adcode"} <= set(res.columns)
    assert sorted(res["kind"]) == ["fire_station", "shelter"] and set(res["county_adcode"]) == {"330106"}
    for fmt in ("gpkg", "geojson"):
        assert main(["--store", store, "export", "coverage", "--format", fmt, "--out", str(tmp_path / f"c.{fmt}")]) == 0


def test_build_by_road(response_store, tmp_path):
    from geo.build import build

    line = shapely.LineString([(LON0, LAT0), GEOD.fwd(LON0, LAT0, 90, 3000)[:2]])
    gpd.GeoDataFrame({"id": ["R1"], "speed_kmh": [60.0]}, geometry=[line], crs="EPSG:4326").to_file(
        tmp_path / "r.gpkg", driver="GPKG"
    )
    assert ingest_file(response_store, tmp_path / "r.gpkg", "roads").accepted == 1
    snap, _ = build(response_store, date(2026, 11, 1))
    assert snap.meta["rescue"]["method"] == "road"
    units = snap.units().set_index("id")
    assert units.loc["A", "rescue_minutes"] == pytest.approx(3.0, abs=0.1)  # 3 km at 60 km/h
    assert np.isnan(units.loc["C", "rescue_minutes"])  # farther than max_offroad_m from every road


def test_incident_briefing_api_and_cli(response_store, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from cli.main import main
    from geo.build import build

    build(response_store, date(2026, 11, 1))
    east = GEOD.fwd(LON0, LAT0, 90, 3000)
    with TestClient(create_app(Settings(store=response_store.root))) as client:
        doc = client.get(f"/incident?lon={east[0]}&lat={east[1]}&radius_m=500").json()
        assert [r["adcode"] for r in doc["regions"]][-1] == "330106"
        assert [u["id"] for u in doc["enterprises"]] == ["A"] and doc["enterprises"][0]["major_hazard_level"] == 2
        assert doc["responders"][0]["id"] == "F1" and doc["responders"][0]["minutes"] == pytest.approx(8.4, abs=0.1)
        assert doc["responders"][0]["staff"] == 30 and doc["shelters"]["capacity"] == 800
        assert doc["travel"]["method"] == "estimate"
        near = client.get(f"/near?lon={LON0}&lat={LAT0}").json()
        assert near["resources"]["by_kind"]["fire_station"][0]["minutes"] == 0.0
        page = client.get(f"/incident?lon={east[0]}&lat={east[1]}&f=html")
        assert page.status_code == 200 and "事故/事件初报研判" in page.text and "西湖消防站" in page.text
        assert "<svg" in page.text and "http" not in page.text.split("<svg", 1)[1].split("</svg>")[0].replace(
            "http://www.w3.org/2000/svg", ""
        )
        assert client.get("/incident?lon=200&lat=30").status_code == 400
    assert main(["--store", str(response_store.root), "incident", "--lon", str(east[0]), "--lat", str(east[1])]) == 0
    assert "西湖消防站" in capsys.readouterr().out
    assert main(["--store", str(response_store.root), "near", "--lon", str(LON0), "--lat", str(LAT0)]) == 0
    printed = capsys.readouterr().out  # the nearest responders by travel time, without --json too
    assert "nearest resources (estimate)" in printed and "fire_station" in printed and "F1" in printed


def test_nearest_from_candidates_equals_timing_every_resource(boundaries, monkeypatch):
    """With many resources the estimate times only the nearest of each kind and expert domain; the lists of
    /near and of the incident briefing are those of timing every resource."""
    import geo.response.nearest as nearest
    from geo.response.incident import briefing_lists

    rng = np.random.default_rng(11)
    n = 6000
    kinds = np.array(["shelter", "warehouse", "equipment_depot", "rescue_station", "fire_station", "rescue_team"])
    kind = np.where(rng.random(n) < 0.1, "expert", rng.choice(kinds, n))
    domains = np.array(["hazchem", "industry", "fire", "road", "construction"])
    res = pd.DataFrame(
        {
            "id": [f"R{i}" for i in range(n)],
            "name": [f"resource {i}" for i in range(n)],
            "kind": kind,
            "lon": rng.uniform(118.5, 122.5, n),
            "lat": rng.uniform(27.5, 31.0, n),
            "capacity": rng.integers(100, 3000, n),
            "domain": np.where(kind == "expert", rng.choice(domains, n), None),
        }
    )
    index = nearest.ResourceIndex.build(res, None, boundaries)
    points = [(120.16, 30.27, "330106"), (119.85, 29.95, "330111"), (121.5, 28.7, None), (118.6, 27.6, None)]
    with_candidates = [
        (index.nearest_by_kind(lon, lat, county), briefing_lists(index, lon, lat, county, {"hazchem", "road"}))
        for lon, lat, county in points
    ]
    monkeypatch.setattr(nearest, "CANDIDATES_FROM", 10**9)  # time every resource
    for (lon, lat, county), got in zip(points, with_candidates, strict=True):
        assert got == (
            index.nearest_by_kind(lon, lat, county),
            briefing_lists(index, lon, lat, county, {"hazchem", "road"}),
        )


def test_road_search_widened_on_demand_gives_the_full_searchs_lists(boundaries, monkeypatch):
    """By road a request first searches 15 minutes around the point and widens only while a list would be
    short; the lists are those of the full 120-minute search."""
    import dataclasses

    import geo.response.nearest as nearest
    from geo.response.incident import briefing_lists

    rng = np.random.default_rng(5)
    net = _street_network(rng, 119.9, 30.0, 0.6, 60)  # a 60 x 60 street grid around Hangzhou
    n = 800
    kind = rng.choice(["shelter", "warehouse", "fire_station", "rescue_team", "hospital", "expert"], n)
    res = pd.DataFrame(
        {
            "id": [f"R{i}" for i in range(n)],
            "name": [f"r{i}" for i in range(n)],
            "kind": kind,
            "lon": rng.uniform(119.9, 120.5, n),
            "lat": rng.uniform(30.0, 30.6, n),
            "domain": np.where(kind == "expert", rng.choice(["hazchem", "road"], n), None),
        }
    )
    base = nearest.ResourceIndex.build(res, None, boundaries)
    index = dataclasses.replace(
        base, network=net, snapped=net.snap(res["lon"].to_numpy(), res["lat"].to_numpy()), groups=[]
    )
    points = [(120.2, 30.3), (119.95, 30.05), (120.45, 30.55)]
    widened = [(index.nearest_by_kind(x, y, None), briefing_lists(index, x, y, None, {"hazchem"})) for x, y in points]
    monkeypatch.setattr(nearest, "FIRST_ROAD_LIMIT_MIN", nearest.ROAD_LIMIT_MIN)  # the full search at once
    assert widened == [
        (index.nearest_by_kind(x, y, None), briefing_lists(index, x, y, None, {"hazchem"})) for x, y in points
    ]
    assert widened[0][0]["method"] == "road"


def test_road_lists_equal_ordering_every_resource_by_time_then_distance(boundaries):
    """By road only the reached resources are measured at first; a list that reaches past them (a kind with
    few reached) measures the rest then. Each kind's list equals ordering all its resources by minutes, the
    unreached after them by geodesic distance, computed here the straightforward way."""
    import dataclasses

    from pyproj import Geod

    import geo.response.nearest as nearest

    rng = np.random.default_rng(8)
    net = _street_network(rng, 120.0, 30.1, 0.4, 40)
    n = 600
    kind = rng.choice(["shelter", "warehouse", "fire_station", "hospital"], n)
    far = (kind == "hospital") | (rng.random(n) < 0.2)  # off the network: never reached
    far[np.flatnonzero(kind == "hospital")[:2]] = False  # two hospitals on it: a list of 3 reaches past them
    lon = np.where(far, rng.uniform(121.0, 121.5, n), rng.uniform(120.0, 120.4, n))
    lat = np.where(far, rng.uniform(28.5, 29.0, n), rng.uniform(30.1, 30.5, n))
    res = pd.DataFrame(
        {"id": [f"R{i}" for i in range(n)], "name": [f"r{i}" for i in range(n)], "kind": kind, "lon": lon, "lat": lat}
    )
    base = nearest.ResourceIndex.build(res, None, boundaries)
    index = dataclasses.replace(base, network=net, snapped=net.snap(lon, lat), groups=[])
    geod = Geod(ellps="WGS84")
    for x, y in [(120.2, 30.3), (120.05, 30.45)]:
        got = index.nearest_by_kind(x, y, None)["by_kind"]
        full = net.backward(net.snap(np.array([x]), np.array([y])), index.snapped, limit=nearest.ROAD_LIMIT_MIN)
        _, _, dist = geod.inv(np.full(n, x), np.full(n, y), lon, lat)
        for k, listed in got.items():
            rows = np.flatnonzero(kind == k)
            key = [(full[i] if np.isfinite(full[i]) else np.inf, dist[i], i) for i in rows]
            expected = [f"R{i}" for *_, i in sorted(key)][: len(listed)]
            assert [r["id"] for r in listed] == expected, (x, y, k)
            assert all(r["distance_m"] == pytest.approx(dist[int(r["id"][1:])], abs=0.1) for r in listed)
        assert sum(np.isfinite(full[kind == "hospital"])) < len(got["hospital"])  # the fallback was exercised


def test_the_area_grid_coarsens_to_stay_near_its_cap(boundaries):
    """`[area] max_cells` bounds the cells of the bounding box: over a large area (all of China at 1 km is ~10
    million cells inside) the side grows instead, and the zones' areas use the side used."""
    from geo.response.config import load_response
    from geo.response.coverage import _grid, zone_polygons

    config = load_response()
    grid, _, side = _grid(boundaries, config)
    assert side == config.area.cell_m == 1000.0  # Zhejiang at 1 km: under the cap, unchanged
    small = config.model_copy(update={"area": config.area.model_copy(update={"max_cells": 20_000})})
    coarse, proj, side = _grid(boundaries, small)
    assert side > 1000.0 and side % 100 == 0
    assert len(coarse) <= 20_000 < len(grid)
    assert len(coarse) == pytest.approx(len(grid) / (side / 1000.0) ** 2, rel=0.1)  # the same area, bigger cells
    coarse["minutes"] = 1.0  # every cell reached within the first band
    zones = zone_polygons(coarse, small, proj, side)
    assert zones["area_km2"].iloc[0] == pytest.approx(len(coarse) * (side / 1000.0) ** 2)


def test_the_area_grid_kept_in_a_cache_is_the_one_made(boundaries, tmp_path, monkeypatch):
    """The area grid written to a cache directory is read back equal, instead of being placed again; other
    settings or other boundaries get a grid of their own; a damaged file is made again."""
    import geo.response.coverage as coverage
    from geo.response.config import load_response

    config = load_response()
    made, _, side = coverage._grid(boundaries, config)
    cached, _, cached_side = coverage._grid(boundaries, config, tmp_path)
    (path,) = tmp_path.glob("area-*.parquet")
    import geo.join

    monkeypatch.setattr(geo.join, "assign_points", lambda *a, **k: 1 / 0)  # not reached: the file answers
    again, _, again_side = coverage._grid(boundaries, config, tmp_path)
    pd.testing.assert_frame_equal(again, made)
    pd.testing.assert_frame_equal(cached, made)
    assert side == cached_side == again_side
    monkeypatch.undo()

    coarse = config.model_copy(update={"area": config.area.model_copy(update={"cell_m": 2000.0})})
    coverage._grid(boundaries, coarse, tmp_path)
    fewer = boundaries.loc[boundaries["adcode"] != "330106"]
    coverage._grid(fewer, config, tmp_path)
    assert len(list(tmp_path.glob("area-*.parquet"))) == 3

    path.write_bytes(b"not parquet")
    redone, _, _ = coverage._grid(boundaries, config, tmp_path)
    pd.testing.assert_frame_equal(redone, made)
