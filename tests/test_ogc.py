"""OGC API – Features Parts 2 and 3 and the OpenAPI 3.0 document, over real HTTP and through real clients:
GDAL's OAPIF driver (the installed ogrinfo/ogr2ogr, and the newer GDAL bundled with pyogrio) and OWSLib.

The server records every request it answers (path, query, status, Content-Crs), so the tests can see what a
client asked for: how many requests a copy took, and whether a filter went to the server.
"""

from __future__ import annotations

import subprocess
from datetime import date
from urllib.parse import parse_qs

import httpx
import numpy as np
import pytest
from pyproj import Transformer

from tests import support
from tests.conftest import require_tool

N_ENTERPRISES = 20000
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"


@pytest.fixture(scope="module")
def zj_store(tmp_path_factory, boundaries):
    """Zhejiang's counties with the demo's 20,000 enterprises, built as of 2026-11-01."""
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    root = tmp_path_factory.mktemp("ogc")
    store = Store.open(root / "store")
    store.write("boundaries", boundaries)
    counties = boundaries.loc[boundaries["admin_level"] == "county"]
    files = generate_demo(root / "in", counties, n_enterprises=N_ENTERPRISES, seed=7)
    for kind, paths in files.items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    build(store, date(2026, 11, 1))
    return store


class RequestLog:
    """ASGI wrapper that records what the server answered."""

    def __init__(self, app):
        self.app = app
        self.entries: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        entry = {"path": scope["path"], "query": scope["query_string"].decode()}

        async def record(message):
            if message["type"] == "http.response.start":
                headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
                entry.update(status=message["status"], content_crs=headers.get("content-crs"))
                self.entries.append(entry)
            await send(message)

        await self.app(scope, receive, record)

    def since(self, mark: int) -> list[dict]:
        return self.entries[mark:]


@pytest.fixture(scope="module")
def served(zj_store):
    from api.app import create_app
    from api.settings import Settings

    log = RequestLog(create_app(Settings(store=zj_store.root)))
    with support.serving(log) as base:
        yield base, log


@pytest.fixture(scope="module")
def units(zj_store):
    from geo.snapshot import current

    return current(zj_store).units()


def get(base: str, path: str, **params) -> httpx.Response:
    return httpx.get(base + path, params=params, timeout=60)


# -- the API document ------------------------------------------------------------------------------------
def test_openapi_is_valid_30_with_each_collections_items_path(served):
    from openapi_spec_validator import validate

    base, _ = served
    r = get(base, "/openapi.json")
    assert r.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = r.json()
    validate(doc)
    assert doc["openapi"].startswith("3.0.")
    assert "/near" in doc["paths"]
    params = doc["components"]["parameters"]
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}
    assert set(params["filter-lang"]["schema"]["enum"]) >= {"cql2-text", "cql-text"}
    for cid in ("regions-county", "enterprises", "hazards-points", "hazards-polygons"):
        listed = doc["paths"][f"/collections/{cid}/items"]["get"]["parameters"]
        assert {"$ref": "#/components/parameters/limit"} in listed
        names = {p.get("name") for p in listed}
        assert "risk_level" in names
    enterprise = {p.get("name"): p for p in doc["paths"]["/collections/enterprises/items"]["get"]["parameters"]}
    assert (
        enterprise["domain"]["schema"]["enum"][0] == "hazchem" and enterprise["workers"]["schema"]["type"] == "integer"
    )


def test_conformance_and_collection_crs(served):
    base, _ = served
    conf = get(base, "/conformance").json()["conformsTo"]
    for tail in ("ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter", "cql2/1.0/conf/cql2-text"):
        assert any(c.endswith(tail) for c in conf), tail
    col = get(base, "/collections/enterprises").json()
    assert CGCS2000 in col["crs"] and col["storageCrs"].endswith("/CRS84")
    rels = {lk["rel"]: lk for lk in col["links"]}
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/queryables"]["type"] == "application/schema+json"


def test_queryables_and_schema(served):
    base, _ = served
    r = get(base, "/collections/enterprises/queryables")
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    props = r.json()["properties"]
    assert props["geometry"]["format"] == "geometry-point"
    assert props["risk_level"]["enum"] == ["red", "orange", "yellow", "blue"]
    assert props["risk_score"]["type"] == "number"
    schema = get(base, "/collections/regions-county/schema").json()
    feature_props = schema["properties"]["properties"]["properties"]
    assert feature_props["adcode"]["x-ogc-role"] == "id" and feature_props["n_red_units"]["type"] == "integer"
    assert schema["properties"]["geometry"]["format"] in ("geometry-polygon", "geometry-multipolygon", "geometry-any")


# -- Part 2: CRS -----------------------------------------------------------------------------------------
def test_crs_4490_gives_lat_lon_through_pyproj_with_content_crs(served, units):
    base, _ = served
    plain = get(base, "/collections/enterprises/items", limit=50)
    assert plain.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    r = get(base, "/collections/enterprises/items", limit=50, crs=CGCS2000)
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{CGCS2000}>"
    lonlat = np.array([f["geometry"]["coordinates"] for f in plain.json()["features"]])
    latlon = np.array([f["geometry"]["coordinates"] for f in r.json()["features"]])
    lat, lon = Transformer.from_crs("OGC:CRS84", "EPSG:4490").transform(lonlat[:, 0], lonlat[:, 1])
    assert np.allclose(latlon[:, 0], lat, atol=1e-9) and np.allclose(latlon[:, 1], lon, atol=1e-9)
    assert np.allclose(latlon[:, ::-1], lonlat, atol=1e-6)  # CGCS2000 ≈ WGS84 at this accuracy
    merc = get(base, "/collections/enterprises/items", limit=50, crs="http://www.opengis.net/def/crs/EPSG/0/3857")
    xy = np.array([f["geometry"]["coordinates"] for f in merc.json()["features"]])
    assert np.allclose(xy[:, 0], lonlat[:, 0] * 20037508.342789244 / 180, rtol=1e-9)
    fid = plain.json()["features"][0]["id"]
    one = get(base, f"/collections/enterprises/items/{fid}", crs="EPSG:4326")
    assert one.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4326>"
    assert one.json()["geometry"]["coordinates"] == pytest.approx(lonlat[0][::-1])


def test_bbox_crs_in_lat_lon_order_selects_the_same(served):
    base, _ = served
    crs84 = get(base, "/collections/enterprises/items", bbox="120.0,30.1,120.3,30.4", limit=10000).json()
    latlon = get(
        base,
        "/collections/enterprises/items",
        bbox="30.1,120.0,30.4,120.3",
        **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"},
        limit=10000,
    ).json()
    assert crs84["numberMatched"] > 0
    assert [f["id"] for f in latlon["features"]] == [f["id"] for f in crs84["features"]]


# -- Part 3: filters, sorting, properties ----------------------------------------------------------------
def test_filter_sortby_properties_skip_geometry(served, units):
    base, _ = served
    body = get(
        base,
        "/collections/enterprises/items",
        filter="risk_level IN ('red','orange') AND domain = 'hazchem' AND workers > 20",
        sortby="-risk_score,id",
        properties="id,risk_score,risk_level",
        skipGeometry="true",
        limit=10000,
    ).json()
    expected = units.loc[
        units["risk_level"].isin(["red", "orange"]) & (units["domain"] == "hazchem") & (units["workers"] > 20)
    ].sort_values(["risk_score", "id"], ascending=[False, True], kind="stable")
    assert body["numberMatched"] == len(expected) > 0
    assert [f["id"] for f in body["features"]] == list(expected["id"])
    assert all(
        f["geometry"] is None and set(f["properties"]) == {"id", "risk_score", "risk_level"} for f in body["features"]
    )
    spatial = get(
        base,
        "/collections/enterprises/items",
        filter="S_INTERSECTS(geometry, POLYGON((120 30, 120.5 30, 120.5 30.5, 120 30.5, 120 30)))",
        limit=10000,
    ).json()
    x, y = units.geometry.x, units.geometry.y
    assert spatial["numberMatched"] == int(((x >= 120) & (x <= 120.5) & (y >= 30) & (y <= 30.5)).sum())


@pytest.mark.parametrize(
    "path,params,needle",
    [
        ("/collections/enterprises/items", {"crs": "EPSG:2000"}, "EPSG/0/4490"),
        ("/collections/enterprises/items", {"bbox-crs": "mars", "bbox": "1,2,3,4"}, "bbox-crs"),
        ("/collections/enterprises/items", {"filter-crs": "EPSG:9999", "filter": "domain = 'fire'"}, "filter-crs"),
        ("/collections/enterprises/items", {"filter": "colour = 'red'"}, "colour"),
        ("/collections/enterprises/items", {"filter": "domain = "}, "not valid cql2-text"),
        ("/collections/enterprises/items", {"filter": "domain = 'fire'", "filter-lang": "sql"}, "filter-lang"),
        ("/collections/enterprises/items", {"filter-lang": "cql2-text"}, "go with a filter"),
        ("/collections/enterprises/items", {"sortby": "-colour"}, "sortby"),
        ("/collections/enterprises/items", {"properties": "id,colour"}, "colour"),
        ("/collections/enterprises/items", {"skipGeometry": "yes"}, "skipGeometry"),
        ("/collections/enterprises/items", {"workers": "many"}, "number"),
        ("/collections/enterprises/items", {"colour": "red"}, "unknown parameter 'colour'"),
        ("/collections/enterprises/items", {"bbox": "30.1,120.0,30.4", "bbox-crs": "EPSG:4326"}, "axis order"),
        ("/collections/hazards-points/items", {"filter": "T_AFTER(name, TIMESTAMP('2020-01-01T00:00:00Z'))"}, "filter"),
        ("/collections/regions-county/items/330106", {"limit": "5"}, "unknown parameter 'limit'"),
        ("/collections/regions-county/items/330106", {"crs": "EPSG:2000"}, "crs"),
    ],
)
def test_every_unsupported_parameter_is_a_400(served, path, params, needle):
    base, _ = served
    r = httpx.get(base + path, params=params)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", r.text
    assert needle in r.json()["detail"]


# -- real clients ----------------------------------------------------------------------------------------
def _items_requests(entries: list[dict], cid: str) -> list[dict]:
    return [e for e in entries if e["path"] == f"/collections/{cid}/items"]


def test_gdal_ogrinfo_cgcs2000_and_a_filter_evaluated_on_the_server(served, units):
    """The installed GDAL (3.6: no CRS open option) asks for CGCS2000 through query parameters on the URL, and
    pushes an attribute filter as CQL text because the API document lists filter-lang and the queryables."""
    require_tool("ogrinfo")
    base, log = served
    mark = len(log.entries)
    r = subprocess.run(
        [
            "ogrinfo",
            "-ro",
            "-al",
            "-q",
            "-oo",
            "PAGE_SIZE=1000",
            f"OAPIF:{base}/collections/hazards-points?crs={CGCS2000}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    items = _items_requests(log.since(mark), "hazards-points")
    assert items and all(e["content_crs"] == f"<{CGCS2000}>" and e["status"] == 200 for e in items)
    assert "POINT (" in r.stdout  # GDAL 3.6 takes the coordinates as they come: latitude first
    first = r.stdout.split("POINT (")[1].split(")")[0].split()
    assert 27 < float(first[0]) < 32 and 118 < float(first[1]) < 123, first

    mark = len(log.entries)
    where = "risk_level = 'red' AND domain = 'hazchem'"
    r = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", "-oo", "PAGE_SIZE=1000", "-where", where, f"OAPIF:{base}", "enterprises"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    expected = int(((units["risk_level"] == "red") & (units["domain"] == "hazchem")).sum())
    assert f"Feature Count: {expected}" in r.stdout
    pushed = [parse_qs(e["query"]) for e in _items_requests(log.since(mark), "enterprises") if "filter=" in e["query"]]
    assert pushed, "GDAL evaluated the filter on the client"
    assert pushed[0]["filter-lang"] == ["cql-text"] and "risk_level" in pushed[0]["filter"][0]


def test_ogr2ogr_copies_enterprises_in_few_requests(served, units, tmp_path):
    """The installed ogr2ogr (GDAL 3.6 pages 10 features at a time unless told: PAGE_SIZE) and the GDAL bundled
    with pyogrio (≥ 3.8 reads the page size from the limit parameter of the collection's items path)."""
    require_tool("ogr2ogr")
    base, log = served
    mark = len(log.entries)
    out = tmp_path / "e.gpkg"
    r = subprocess.run(
        ["ogr2ogr", "-oo", "PAGE_SIZE=1000", str(out), f"OAPIF:{base}", "enterprises"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert len(log.since(mark)) <= 25, [e["path"] for e in log.since(mark)]
    import pyogrio

    assert pyogrio.read_info(out)["features"] == len(units)

    mark = len(log.entries)
    read = _pyogrio(f"import pyogrio; print(len(pyogrio.read_dataframe('OAPIF:{base}', layer='enterprises')))")
    requests = log.since(mark)
    assert int(read) == len(units) and len(requests) <= 25, [(e["path"], e["query"]) for e in requests]
    assert any("limit=1000" in e["query"] for e in _items_requests(requests, "enterprises"))


def _pyogrio(code: str) -> str:
    """Run GDAL (pyogrio's) in another process: in this one it would hold the GIL the test server needs."""
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_newer_gdal_asks_for_cgcs2000_and_gets_the_same_points(served, units):
    """GDAL ≥ 3.7 (bundled with pyogrio) sends crs=, checks Content-Crs and swaps EPSG:4490's lat, lon back."""
    base, log = served
    ref = get(base, "/collections/hazards-points/items", limit=10000).json()["features"]
    first = next(f for f in ref if f["geometry"]["type"] == "Point")
    mark = len(log.entries)
    code = (
        "import pyogrio; f = pyogrio.read_dataframe("
        f"'OAPIF:{base}', layer='hazards-points', CRS='EPSG:4490'); "
        f"g = f.loc[f['id'] == '{first['id']}'].geometry.iloc[0]; print(f.crs.to_epsg(), len(f), repr(g.x), repr(g.y))"
    )
    epsg, n, x, y = _pyogrio(code).split()
    asked = [
        e for e in log.since(mark) if e["path"].startswith("/collections/hazards-points/items") and "crs=" in e["query"]
    ]
    assert asked and all(e["content_crs"] == f"<{CGCS2000}>" for e in asked)
    assert (epsg, n) == ("4490", str(len(ref)))
    assert (float(x), float(y)) == pytest.approx(tuple(first["geometry"]["coordinates"]), abs=1e-9)


def test_owslib_queryables_and_filtered_items(served, units):
    from owslib.ogcapi.features import Features

    base, _ = served
    api = Features(base)
    q = api.collection_queryables("enterprises")
    assert q["properties"]["risk_level"]["enum"] == ["red", "orange", "yellow", "blue"]
    body = api.collection_items(
        "enterprises", filter="domain = 'fire' AND risk_score > 30", sortby=("risk_score", "desc"), limit=10000
    )
    expected = units.loc[(units["domain"] == "fire") & (units["risk_score"] > 30)]
    assert body["numberMatched"] == len(expected) > 0
    scores = [f["properties"]["risk_score"] for f in body["features"]]
    assert scores == sorted(scores, reverse=True)
