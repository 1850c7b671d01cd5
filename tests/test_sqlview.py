"""The service over a PostgreSQL store answers from the database (`api.sqlview`), with the same answers as the
service over a directory store holding the same census: every /items query (bbox, filters, CQL2, sorting, paging,
CRS), one item, the queryables, vector tiles (points and clusters, byte for byte), /clusters, /near, /incident
and /explain, for the enterprises and for the emergency resources, and the resources a map page carries. And a
PostgreSQL service holds no enterprise and no resource's record in memory."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests import support

N = 20000
SEED = 11


@pytest.fixture(scope="module")
def clients(tmp_path_factory, pg_cluster):
    from api.app import create_app
    from api.settings import Settings

    root = tmp_path_factory.mktemp("sqlview")
    files = support.demo_store(root / "files", N, seed=SEED)
    pg = support.demo_store(root / "pg", N, seed=SEED, location=pg_cluster.new_database())
    with (
        TestClient(create_app(Settings(store=files.location))) as a,
        TestClient(create_app(Settings(store=pg.location))) as b,
    ):
        yield a, b


def _plain(doc: Any) -> Any:
    """The document without what names the snapshot or the ingest (they differ between the stores)."""
    if isinstance(doc, dict):
        return {k: _plain(v) for k, v in doc.items() if k not in ("snapshot", "timeStamp", "ingested_at")}
    if isinstance(doc, list):
        return [_plain(v) for v in doc]
    return doc


def _same(clients, path: str, params: dict[str, Any] | None = None) -> Any:
    a, b = clients
    ra, rb = a.get(path, params=params), b.get(path, params=params)
    assert ra.status_code == rb.status_code, (path, params, ra.text[:300], rb.text[:300])
    if ra.headers["content-type"].startswith("application/vnd.mapbox-vector-tile"):
        assert ra.content == rb.content, (path, params)
        return ra.content
    assert _plain(ra.json()) == _plain(rb.json()), (path, params)
    return ra.json()


def test_the_postgresql_service_holds_no_enterprise(clients):
    from api.sqlview import SqlCollection, SqlView

    _, b = clients
    view = b.app.state.riskmap.view()
    assert isinstance(view, SqlView) and len(view.units) == 0
    assert isinstance(view.collections["enterprises"], SqlCollection)
    assert len(view.collections["enterprises"].frame) == 0
    assert isinstance(view.collections["resources"], SqlCollection)
    assert len(view.collections["resources"].frame) == 0
    assert len(view.resource_index.lon) == 0  # no resource: the estimate and the catalogue
    files = clients[0].app.state.riskmap.view()
    assert len(files.resource_index.lon) == view.pg_snapshot.entry("rescue_resources").rows  # (in memory there)
    # the response cache: 16 MB by default over PostgreSQL (an instance behind a proxy's tile cache), 256 over files
    assert b.app.state.riskmap.responses._max == 16 * 1024**2
    assert clients[0].app.state.riskmap.responses._max == 256 * 1024**2
    total = view.pg_snapshot.entry("rescue_resources").rows
    near = view.resources_near(120.16, 30.27)  # the nearest of each kind and expert domain, from the database
    kinds, domains = view._resource_groups.kinds, view._resource_groups.expert_domains
    assert total > 2000 and 8 <= len(near.lon) <= near.per_group * (len(kinds) + len(domains)) < total
    assert near.fetch is not None and set(near.columns) == {"kind", "domain"}
    assert set(near.kind_rows) == set(kinds)  # every kind has its nearest


POLYGON = "POLYGON((120 30, 120.4 30, 120.4 30.4, 120 30.4, 120 30))"
ITEMS = [
    {"limit": 50},
    {"limit": 100, "offset": 20, "county_adcode": "330106"},
    {"bbox": "120,30,120.3,30.4", "limit": 200},
    {"bbox": "30,120,30.4,120.3", "bbox-crs": "EPSG:4326", "limit": 20},
    {"filter": "risk_level IN ('red','orange') AND risk_score > 50", "limit": 300},
    {"filter": "NOT (domain = 'fire') OR risk_score BETWEEN 10 AND 20", "limit": 30, "offset": 100},
    {"filter": f"S_INTERSECTS(geometry, {POLYGON})", "limit": 500},
    {"filter": f"S_WITHIN(geometry, {POLYGON}) AND workers >= 100", "limit": 500},
    {"filter": "industry IS NULL OR address LIKE '%路%'", "limit": 40},
    {"filter": "name > '杭' AND name < '温' AND name <> '杭州'", "limit": 20},
    {"filter": "county_adcode NOT IN ('330106', '330102')", "limit": 10, "offset": 5000},
    {"sortby": "-risk_score,name", "limit": 30},
    {"sortby": "name", "limit": 30, "offset": 10},
    {"sortby": "+workers", "domain": "hazchem", "limit": 30},
    {"properties": "id,risk_level", "skipGeometry": "true", "limit": 10},
    {"crs": "EPSG:3857", "limit": 5, "county_adcode": "330108"},
    {"filter": '{"op": "=", "args": [{"property": "risk_level"}, "red"]}', "filter-lang": "cql2-json", "limit": 9},
    {"filter": "S_INTERSECTS(geometry, BBOX(3350000, 13350000, 3380000, 13400000))", "filter-crs": "EPSG:3857"},
    # refused the same way: an unknown property, kinds that do not compare, a function
    {"filter": "nope = 1"},
    {"filter": "risk_score = 'high'"},
    {"filter": "upper(name) = 'X'"},
    {"sortby": "nope"},
]


@pytest.mark.parametrize("params", ITEMS, ids=[str(i) for i in range(len(ITEMS))])
def test_items_answer_alike(clients, params):
    body = _same(clients, "/collections/enterprises/items", params)
    if "features" in body and "offset" not in params and "filter-crs" not in params:
        assert body["numberReturned"] > 0, params  # the cases select something


def test_one_item_queryables_schema_and_collection_alike(clients):
    page = _same(clients, "/collections/enterprises/items", {"limit": 3})
    for feat in page["features"]:
        _same(clients, f"/collections/enterprises/items/{feat['id']}")
        _same(clients, f"/collections/enterprises/items/{feat['id']}", {"crs": "EPSG:4490"})
    _same(clients, "/collections/enterprises/items/NO-SUCH-ID")
    queryables = _same(clients, "/collections/enterprises/queryables")
    assert queryables["properties"]["risk_level"]["enum"] == ["red", "orange", "yellow", "blue"]
    assert queryables["properties"]["geometry"]["format"] == "geometry-point"
    _same(clients, "/collections/enterprises/schema")
    _same(clients, "/collections/enterprises")


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def test_vector_tiles_are_the_same_bytes(clients):
    import mapbox_vector_tile

    clustered = points = 0
    for z in range(5, 14):
        for lon, lat in ((120.16, 30.27), (121.55, 29.87), (120.7, 28.0)):
            x, y = _tile(lon, lat, z)
            for dx, dy in ((0, 0), (1, 0), (0, 1)):
                data = _same(clients, f"/tiles/enterprises/{z}/{x + dx}/{y + dy}.mvt")
                feats = mapbox_vector_tile.decode(data).get("enterprises", {}).get("features", [])
                clustered += any(f["properties"].get("cluster") for f in feats)
                points += any(not f["properties"].get("cluster") for f in feats)
    assert clustered and points  # both kinds of tile were compared


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "118,27,123,31.5", "zoom": 6},
        {"bbox": "119.5,29.8,120.8,30.6", "zoom": 9},
        {"bbox": "119.5,29.8,120.8,30.6", "zoom": 9, "domain": "hazchem"},
        {"bbox": "118,27,123,31.5", "zoom": 7, "parent": "330100", "limit": 300},
        {"bbox": "120.1,30.2,120.2,30.3", "zoom": 13},
        {"bbox": "120.1,30.2,120.2,30.3", "zoom": 12, "crs": "gcj02"},
        {"bbox": "118,27,123,31.5", "zoom": 3, "limit": 5},
    ],
)
def test_clusters_alike(clients, params):
    body = _same(clients, "/clusters/enterprises", params)
    assert body["properties"]["total"] > 0


def test_near_incident_explain_alike(clients):
    for lon, lat in ((120.16, 30.27), (121.55, 29.87), (120.7, 28.0)):
        near = _same(clients, "/near", {"lon": lon, "lat": lat, "radius_m": 3000})
        assert near["enterprises"]
        _same(clients, "/near", {"lon": lon, "lat": lat, "radius_m": 800, "crs": "gcj02", "limit": 5})
        _same(clients, "/incident", {"lon": lon, "lat": lat})
        at = _same(clients, f"/collections/enterprises/items/{near['enterprises'][0]['id']}")["geometry"]
        brief = _same(clients, "/incident", {"lon": at["coordinates"][0], "lat": at["coordinates"][1]})
        assert brief["summary"]["enterprises"] >= 1 and brief["enterprises"], brief["summary"]
        _same(clients, f"/explain/{near['enterprises'][0]['id']}")
    _same(clients, "/explain/330106")
    for kind in ("points", "lines", "polygons"):
        site = _same(clients, f"/collections/hazards-{kind}/items", {"limit": 1})["features"][0]
        _same(clients, f"/explain/{site['id']}")  # a hazard site, read by its id
    _same(clients, "/explain/NO-SUCH-UNIT")


def test_the_nearest_resources_alike_anywhere(clients):
    """The resources listed around a point, found by the database's index scan of each kind, are those the k-d
    trees in memory find: at points spread over the province and beyond its edge."""
    rng = np.random.default_rng(5)
    points = [*zip(rng.uniform(118.0, 123.0, 24), rng.uniform(27.0, 31.2, 24), strict=True), (125.0, 33.0)]
    for lon, lat in points:
        near = _same(clients, "/near", {"lon": round(lon, 5), "lat": round(lat, 5), "radius_m": 100})
        assert sum(len(v) for v in near["resources"]["by_kind"].values()) >= 8, (lon, lat)
    brief = _same(clients, "/incident", {"lon": 119.5, "lat": 29.0})
    assert brief["responders"] and brief["shelters"]["nearest"] and brief["hospitals"]


def test_a_snapshot_without_the_plane_is_searched_in_memory(clients, monkeypatch):
    """A snapshot published before the resources' plane column existed: the positions, kinds and domains are
    loaded and searched in memory, with the same lists."""
    import geo.pgsnapshot
    from api.sqlview import SqlView

    view = clients[1].app.state.riskmap.view()
    points = ((120.16, 30.27), (121.1, 28.6))
    expected = [view.resources_near(lon, lat).nearest_by_kind(lon, lat, None) for lon, lat in points]
    monkeypatch.setattr(geo.pgsnapshot, "PLANE", "_no_such_column")  # as a snapshot published before it
    old = SqlView(view.pg_snapshot, view.boundaries)
    assert old._resource_groups is None
    index = old.resources_near(120.16, 30.27)
    assert len(index.lon) == view.pg_snapshot.entry("rescue_resources").rows and index.fetch is not None
    for (lon, lat), listed in zip(points, expected, strict=True):
        assert index.nearest_by_kind(lon, lat, None) == listed
        assert sum(len(v) for v in listed["by_kind"].values()) >= 8


RESOURCE_ITEMS = [
    {"limit": 50},
    {"kind": "shelter", "limit": 100, "offset": 3},
    {"filter": "kind_zh = '避灾场所' OR kind_en LIKE 'fire%'", "limit": 200},
    {"filter": "glyph IS NOT NULL AND capacity > 500", "sortby": "-capacity,id", "limit": 40},
    {"filter": "color <> '#000000' AND county_adcode IN ('330106', '330102')", "limit": 60},
    {"sortby": "kind_en,-staff", "limit": 25, "offset": 40},
    {"bbox": "120,30,120.3,30.4", "limit": 300},
    {"filter": "stock IS NULL AND domain IS NULL", "limit": 10},
    {"filter": "nope = 1"},
]


@pytest.mark.parametrize("params", RESOURCE_ITEMS, ids=[str(i) for i in range(len(RESOURCE_ITEMS))])
def test_resource_items_answer_alike(clients, params):
    body = _same(clients, "/collections/resources/items", params)
    if "features" in body and params.get("filter") != "stock IS NULL AND domain IS NULL":
        assert body["numberReturned"] > 0, params


def test_resource_item_queryables_and_tiles_alike(clients):
    import mapbox_vector_tile

    page = _same(clients, "/collections/resources/items", {"limit": 3})
    for feat in page["features"]:
        _same(clients, f"/collections/resources/items/{feat['id']}")
    queryables = _same(clients, "/collections/resources/queryables")
    assert {"kind_zh", "glyph", "color", "capacity"} <= set(queryables["properties"])
    _same(clients, "/collections/resources/schema")
    _same(clients, "/collections/resources")
    clustered = points = 0
    for z in range(4, 14, 2):
        for lon, lat in ((120.16, 30.27), (121.55, 29.87)):
            x, y = _tile(lon, lat, z)
            data = _same(clients, f"/tiles/resources/{z}/{x}/{y}.mvt")
            feats = mapbox_vector_tile.decode(data).get("resources", {}).get("features", [])
            clustered += any(f["properties"].get("cluster") for f in feats)
            points += any(not f["properties"].get("cluster") for f in feats)
    assert clustered and points


HAZARD_ITEMS = [
    {"limit": 40},
    {"limit": 30, "offset": 25, "sortby": "-risk_score,id"},
    {"bbox": "120,29.5,121,30.5", "limit": 200},
    {"filter": "risk_level = 'red' OR type LIKE '%tailings%'", "limit": 100},
    {"filter": "S_INTERSECTS(geometry, POLYGON((120 29, 122 29, 122 31, 120 31, 120 29)))", "limit": 50},
]


@pytest.mark.parametrize("kind", ["points", "lines", "polygons"])
def test_hazard_sites_answer_alike(clients, kind):
    """The sites of each geometry kind, left in the database: the same collection (extent, type), items
    (made the layer's declared type), queryables and tiles (lines and polygons clipped and simplified) as
    from memory."""
    import mapbox_vector_tile

    cid = f"hazards-{kind}"
    about = _same(clients, f"/collections/{cid}")
    assert kind in about["description"]
    _same(clients, f"/collections/{cid}/queryables")
    for params in HAZARD_ITEMS:
        body = _same(clients, f"/collections/{cid}/items", params)
        assert body["numberReturned"] > 0, (cid, params)
    whole = _same(clients, f"/collections/{cid}/items", {"limit": 5})
    assert whole["numberMatched"] > 20
    for feat in whole["features"]:
        _same(clients, f"/collections/{cid}/items/{feat['id']}")
    drawn = 0
    for z in (5, 7, 9, 11, 14):
        for lon, lat in ((120.16, 30.27), (121.55, 29.87), (119.6, 29.1)):
            x, y = _tile(lon, lat, z)
            data = _same(clients, f"/tiles/{cid}/{z}/{x}/{y}.mvt")
            drawn += len(mapbox_vector_tile.decode(data).get(cid, {}).get("features", []))
    assert drawn > 10


@pytest.mark.parametrize("parent", [None, "330100", "330106"])
def test_a_map_page_carries_the_same_resources(clients, parent):
    from layers.responsemap import response_payload
    from layers.styles import load_styles
    from layers.view import MapView

    styles = load_styles()
    styles = styles.model_copy(update={"resource_style": styles.resource_style.model_copy(update={"page_limit": 120})})
    got = []
    for client in clients:
        view = client.app.state.riskmap.view()
        got.append(
            response_payload(
                view.snapshot,
                set(),
                view=MapView(parent=parent),
                styles=styles,
                precision=1e-6,
                crs="wgs84",
                mode="page",
            )
        )
    assert got[0]["resources"] == got[1]["resources"] and got[0]["total"] == got[1]["total"], parent
    assert 0 < len(got[0]["resources"]) <= 120
