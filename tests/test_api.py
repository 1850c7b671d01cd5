"""The service over real HTTP (uvicorn on loopback) and through GDAL's OAPIF driver."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from geo.snapshot import current
from tests import support
from tests.conftest import require_tool

TOKEN = "editor-secret-token"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A store with the default demo (20,000 enterprises), ingested and built as of 2026-11-01."""
    return support.demo_store(tmp_path_factory.mktemp("api"), 20000, seed=7)


@pytest.fixture(scope="module")
def server(demo_store):
    from api.app import create_app
    from api.settings import Settings, hash_token

    settings = Settings(store=demo_store.location, editor_token_hashes=(hash_token(TOKEN),))
    with support.serving(create_app(settings)) as base:
        yield base


def test_landing_conformance_collections(server):
    landing = httpx.get(server + "/").json()
    assert {"self", "conformance", "data", "service-desc"} <= {lk["rel"] for lk in landing["links"]}
    conf = httpx.get(server + "/conformance").json()["conformsTo"]
    assert any(c.endswith("/conf/core") for c in conf) and any(c.endswith("/conf/geojson") for c in conf)
    cols = {c["id"]: c for c in httpx.get(server + "/collections").json()["collections"]}
    others = ("hazards-points", "hazards-lines", "hazards-polygons", "resources", "coverage")
    assert {"regions-province", "regions-city", "regions-county", "enterprises", *others} == set(cols)
    assert "Geometry: MultiLineString" in cols["hazards-lines"]["description"]
    assert cols["regions-county"]["extent"]["spatial"]["bbox"][0][0] > 117


def test_every_collection_holds_one_geometry_type(demo_store):
    import shapely

    from api.state import View
    from geo.snapshot import current

    view = View.open(current(demo_store))
    want = {"enterprises": "Point", "hazards-points": "Point", "hazards-lines": "MultiLineString", "resources": "Point"}
    for cid, c in view.collections.items():
        types = {g.geom_type for g in c.geoms}
        assert types == {c.geometry_type}, (cid, types)
        assert c.geometry_type == want.get(cid, "MultiPolygon"), cid
        assert f"Geometry: {c.geometry_type}" in c.description
    hazards = view.hazards
    parts = [view.collections[f"hazards-{k}"].frame for k in ("points", "lines", "polygons")]
    assert all(len(p) for p in parts) and sum(len(p) for p in parts) == len(hazards) == 400
    assert sorted(i for p in parts for i in p["id"]) == sorted(hazards["id"])
    dims = shapely.get_dimensions(np.asarray(hazards.geometry.values, dtype=object))
    by_id = dict(zip(hazards["id"], dims, strict=True))
    assert all({by_id[i] for i in p["id"]} == {d} for d, p in enumerate(parts))


def test_items_paging_filters_bbox(server, demo_store):
    r = httpx.get(server + "/collections/regions-county/items", params={"limit": 10})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    page = r.json()
    assert page["numberMatched"] == 90 and page["numberReturned"] == 10
    nxt = next(lk["href"] for lk in page["links"] if lk["rel"] == "next")
    page2 = httpx.get(nxt).json()
    assert page2["numberReturned"] == 10 and any(lk["rel"] == "prev" for lk in page2["links"])
    assert not {f["id"] for f in page["features"]} & {f["id"] for f in page2["features"]}
    feat = page["features"][0]
    assert feat["properties"]["risk_level"] in {"red", "orange", "yellow", "blue"}
    assert "risk_level_hazchem" in feat["properties"]
    red = httpx.get(server + "/collections/enterprises/items", params={"risk_level": "red", "limit": 10000}).json()
    units = demo_store.read("enterprises")
    from geo.snapshot import current

    snap_units = current(demo_store).units()
    assert red["numberMatched"] == int((snap_units["risk_level"] == "red").sum()) > 0
    hz = httpx.get(
        server + "/collections/enterprises/items", params={"domain": "hazchem", "county_adcode": "330106"}
    ).json()
    assert all(f["properties"]["domain"] == "hazchem" for f in hz["features"])
    assert hz["numberMatched"] == int(((units["domain"] == "hazchem") & (units["county_adcode"] == "330106")).sum())
    box = httpx.get(
        server + "/collections/enterprises/items", params={"bbox": "120.0,30.1,120.3,30.4", "limit": 10000}
    ).json()
    xs = np.array([f["geometry"]["coordinates"] for f in box["features"]])
    assert len(xs) and (xs[:, 0] >= 120.0).all() and (xs[:, 1] <= 30.4).all()
    one = httpx.get(server + "/collections/regions-county/items/330106").json()
    assert one["id"] == "330106" and one["properties"]["name"] == "西湖区"


def test_html_and_etag_and_gzip(server):
    r = httpx.get(server + "/collections/regions-county/items", params={"f": "html", "limit": 5})
    assert r.headers["content-type"].startswith("text/html") and "西湖区" in r.text or "<table>" in r.text
    r1 = httpx.get(server + "/collections/regions-county/items", headers={"accept-encoding": "gzip"})
    assert r1.headers.get("content-encoding") == "gzip" and r1.headers.get("etag")
    r2 = httpx.get(server + "/collections/regions-county/items", headers={"if-none-match": r1.headers["etag"]})
    assert r2.status_code == 304


@pytest.mark.parametrize(
    "path,params",
    [
        ("/collections/regions-county/items", {"limit": "abc"}),
        ("/collections/regions-county/items", {"limit": "0"}),
        ("/collections/regions-county/items", {"bbox": "1,2,3"}),
        ("/collections/regions-county/items", {"datetime": "yesterday"}),
        ("/collections/regions-county/items", {"colour": "red"}),
        ("/near", {"lon": "120.1"}),
        ("/near", {"lon": "120.1", "lat": "30.2", "radius_m": "-5"}),
        ("/near", {"lon": "120.1", "lat": "30.2", "crs": "mars"}),
        ("/near", {"lon": "999", "lat": "30.2"}),
    ],
)
def test_bad_parameters_are_400_problem_json(server, path, params):
    r = httpx.get(server + path, params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 400 and body["detail"]


def test_unknown_things_are_404(server):
    assert httpx.get(server + "/collections/nope").status_code == 404
    assert httpx.get(server + "/collections/enterprises/items/NOPE").status_code == 404
    assert httpx.get(server + "/regions/999999").status_code == 404


def test_near_equals_brute_force(server, demo_store):
    from pyproj import Geod

    from geo.snapshot import current

    units = current(demo_store).units()
    geod = Geod(ellps="WGS84")
    rng = np.random.default_rng(3)
    for i in rng.choice(len(units), 5, replace=False):
        lon, lat = float(units.geometry.x.iloc[i]) + 0.001, float(units.geometry.y.iloc[i])
        body = httpx.get(server + "/near", params={"lon": lon, "lat": lat, "radius_m": 3000, "limit": 10000}).json()
        _, _, d = geod.inv(np.full(len(units), lon), np.full(len(units), lat), units.geometry.x, units.geometry.y)
        expected = units.loc[d <= 3000, "id"].to_numpy()[np.argsort(d[d <= 3000], kind="stable")]
        got = [e["id"] for e in body["enterprises"]]
        assert got == list(expected)
        assert body["total"]["enterprises"] == len(expected)
        dist = [e["distance_m"] for e in body["enterprises"]]
        assert dist == sorted(dist)
        assert np.allclose(dist, np.sort(d[d <= 3000]), atol=0.06)
        assert body["regions"][-1]["admin_level"] == "county"
        assert sum(body["summary"]["counts"].values()) == len(expected) + body["total"]["hazards"]


def test_near_in_gcj02_matches_wgs84(server):
    from geo.crs import wgs84_to_gcj02

    lon, lat = 120.12, 30.26
    glon, glat = wgs84_to_gcj02(lon, lat)
    a = httpx.get(server + "/near", params={"lon": lon, "lat": lat, "radius_m": 5000}).json()
    b = httpx.get(server + "/near", params={"lon": glon, "lat": glat, "radius_m": 5000, "crs": "gcj02"}).json()
    assert [e["id"] for e in a["enterprises"]] == [e["id"] for e in b["enterprises"]]
    assert abs(b["query"]["lon_wgs84"] - lon) < 1e-7


def test_region_page(server):
    body = httpx.get(server + "/regions/330106").json()
    assert body["name"] == "西湖区" and body["risk_level"] in {"red", "orange", "yellow", "blue"}
    assert sum(body["counts"].values()) == body["n_units"] and body["trend"]
    page = httpx.get(server + "/regions/330106", params={"f": "html"})
    assert page.status_code == 200 and "西湖区" in page.text


def test_upload_needs_editor_token(server, tmp_path):
    csv = tmp_path / "e.csv"
    csv.write_text("id,domain,lon,lat\nUP-1,fire,120.13,30.27\nUP-2,mining,120.13,30.27\n", encoding="utf-8")
    files = {"file": ("e.csv", csv.read_bytes(), "text/csv")}
    assert httpx.post(server + "/datasets/enterprises", files=files).status_code == 401
    bad = httpx.post(server + "/datasets/enterprises", files=files, headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 403 and bad.headers["content-type"] == "application/problem+json"
    ok = httpx.post(
        server + "/datasets/enterprises",
        files=files,
        params={"wait": 120},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=130,
    )
    assert ok.status_code == 200, ok.text
    job = ok.json()
    assert job["type"] == "ingest" and job["status"] == "succeeded" and job["file"] == "e.csv"
    body = job["result"]
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["report"][0]["id"] == "UP-2" and "mining" in body["report"][0]["reason"]
    wrong_kind = httpx.post(server + "/datasets/cats", files=files, headers={"Authorization": f"Bearer {TOKEN}"})
    assert wrong_kind.status_code == 400
    assert httpx.post(server + "/builds").status_code == 401
    built = httpx.post(
        server + "/builds",
        params={"as_of": "2026-11-01", "wait": 300},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=310,
    )
    assert built.status_code == 201, built.text
    snapshot = built.json()["result"]["snapshot"]
    assert httpx.get(server + "/regions/330106").headers["x-riskmap-snapshot"] == snapshot  # served at once
    feat = httpx.get(server + "/collections/enterprises/items/UP-1")
    assert feat.status_code == 200 and feat.json()["properties"]["county_adcode"]


def test_gdal_oapif_lists_and_reads_every_collection(server):
    require_tool("ogrinfo")
    listing = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{server}"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    for cid in ("regions-province", "regions-city", "regions-county", "enterprises", "hazards-points"):
        assert cid in listing.stdout
    county = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-oo", "PAGE_SIZE=1000", f"OAPIF:{server}", "regions-county"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert county.returncode == 0, county.stderr
    assert "Feature Count: 90" in county.stdout
    total = 0
    for kind, gtype in (("points", "Point"), ("lines", "MultiLineString"), ("polygons", "MultiPolygon")):
        hz = subprocess.run(
            ["ogrinfo", "-ro", "-al", "-q", "-oo", "PAGE_SIZE=1000", f"OAPIF:{server}", f"hazards-{kind}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert hz.returncode == 0, hz.stderr
        geoms = re.findall(r"^  ([A-Z]+) ", hz.stdout, re.M)  # each feature's geometry, as WKT
        assert geoms and set(geoms) == {gtype.upper()}, (kind, set(geoms))
        total += hz.stdout.count(f"OGRFeature(hazards-{kind})")
    assert total == 400  # every hazard site, each in the layer of its geometry type


def test_region_counts_are_units_and_open_sites_apart(demo_store):
    """Every region's enterprises per level and open hazard sites per level, counted again from the tables."""
    from geo.catalogue import LEVELS
    from geo.snapshot import current

    snap = current(demo_store)
    regions, units, sites = snap.regions(), snap.units(), snap.hazards()
    open_sites = sites.loc[~sites["basis"].eq("closed") & ~sites["status"].isin(snap.model.hazards.closed_statuses)]
    assert 0 < len(open_sites) < len(sites)  # the demo has closed sites: they must not be counted
    unit_cols = [f"n_{lv}_units" for lv in LEVELS]
    site_cols = [f"n_{lv}_sites" for lv in LEVELS]
    assert (regions[unit_cols].sum(axis=1) == regions["n_units"]).all()
    assert (regions[site_cols].sum(axis=1) == regions["n_hazards"]).all()
    for level in ("province", "city", "county"):
        rows = regions.loc[(regions["admin_level"] == level) & (regions["domain"] == "all")].set_index("adcode")
        col = f"{level}_adcode"
        for table, cols in ((units, unit_cols), (open_sites, site_cols)):
            direct = pd.crosstab(table[col], table["risk_level"]).reindex(index=rows.index, columns=LEVELS)
            assert (direct.fillna(0).to_numpy() == rows[cols].to_numpy()).all(), (level, cols)
        hazchem = regions.loc[(regions["admin_level"] == level) & (regions["domain"] == "hazchem")].set_index("adcode")
        mine = units.loc[units["domain"] == "hazchem"]
        direct = pd.crosstab(mine[col], mine["risk_level"]).reindex(index=hazchem.index, columns=LEVELS)
        assert (direct.fillna(0).to_numpy() == hazchem[unit_cols].to_numpy()).all(), level
    province = regions.loc[(regions["admin_level"] == "province") & (regions["domain"] == "all")].iloc[0]
    assert province["n_units"] == len(units) and province["n_hazards"] == len(open_sites)
    body = snap.explain(province["adcode"])
    assert sum(body["counts"].values()) == len(units) and sum(body["site_counts"].values()) == len(open_sites)


def test_notebook_like_python_api(demo_store):
    """The Python API an analyst uses (the notebooks run the same calls)."""
    from geo.query import SnapshotReader, near_payload
    from geo.snapshot import current

    result = near_payload(SnapshotReader.open(current(demo_store)), 120.15, 30.25, 2000, "wgs84", 5)
    assert set(result) >= {"enterprises", "hazards", "total", "regions", "summary"}
    json.dumps(result, default=str)
    assert Path(demo_store.root).exists()


@pytest.mark.parametrize("name", ["near_location.ipynb", "regional_map.ipynb"])
def test_notebooks_execute(server, demo_store, monkeypatch, name):
    import html

    import nbclient
    import nbformat

    from geo.catalogue import LEVELS
    from layers.styles import load_styles

    st = load_styles()
    monkeypatch.setenv("RISKMAP_STORE", demo_store.location)
    monkeypatch.setenv("RISKMAP_URL", server)
    root = Path(__file__).parent.parent
    nb = nbformat.read(root / "notebooks" / name, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    imported = set(re.findall(r"^(?:from|import) (\w+)", code, re.M))
    assert imported <= {"os", "json", "urllib", "pandas", "matplotlib", "folium", "geo", "layers"}, imported
    nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    pages = [o["data"]["text/html"] for o in outputs if "folium" in o.get("data", {}).get("text/plain", "")]
    assert len(pages) == 1  # the interactive map, offline: Leaflet inline, nothing linked from a CDN
    page = html.unescape(pages[0])
    assert "L.map(" in page and "Leaflet" in page
    assert not re.search(r"<(script|link)[^>]*(src|href)=[\"']?(https?:)?//", page), "a CDN asset is linked"
    assert "tile.openstreetmap" not in page and "cdn.jsdelivr" not in page
    tables = [o["data"]["text/html"] for o in outputs if "<table" in o.get("data", {}).get("text/html", "")]
    assert tables and all("<td>" in t for t in tables)
    if name == "regional_map.ipynb":  # the choropleth is shown and the contributors table is not empty
        assert any("image/png" in o.get("data", {}) for o in outputs)
        top = [t for t in tables if "contribution" in t]
        assert len(top) == 1 and top[0].count("<tr>") > 2 and "重大风险" in top[0]
        assert all(st.level_color(lv) in page for lv in LEVELS)  # regions and legend in the level colours
    else:
        assert "incident point" in page and st.level_color("red") in page


def test_vector_tiles(server, demo_store):
    import mapbox_vector_tile

    from layers.tiles import TileBounds

    # the tile holding Hangzhou's West Lake district at zoom 10 and 8
    def tile_of(lon, lat, z):
        n = 2**z
        x = int((lon + 180) / 360 * n)
        y = int((1 - np.log(np.tan(np.radians(lat)) + 1 / np.cos(np.radians(lat))) / np.pi) / 2 * n)
        return x, y

    x, y = tile_of(120.13, 30.25, 10)
    r = httpx.get(f"{server}/tiles/enterprises/10/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(r.content)["enterprises"]
    assert layer["features"] and {f["properties"]["risk_level"] for f in layer["features"]} <= {
        "red",
        "orange",
        "yellow",
        "blue",
    }
    tb = TileBounds.of(10, x, y)
    lon0, lat0, lon1, lat1 = tb.lonlat()
    from geo.snapshot import current

    units = current(demo_store).units()
    inside = (
        (units.geometry.x >= lon0) & (units.geometry.x < lon1) & (units.geometry.y >= lat0) & (units.geometry.y < lat1)
    ).sum()
    counted = sum(f["properties"].get("count", 1) for f in layer["features"])
    assert counted >= inside
    county = mapbox_vector_tile.decode(
        httpx.get(
            f"{server}/tiles/regions-county/8/{tile_of(120.13, 30.25, 8)[0]}/{tile_of(120.13, 30.25, 8)[1]}.mvt"
        ).content
    )
    assert county["regions-county"]["features"]
    assert httpx.get(f"{server}/tiles/enterprises/3/99/0.mvt").status_code == 400


@pytest.mark.browser
def test_served_map_in_chromium_offline(server):
    """The service's own /map in headless chromium with every non-local request blocked: nothing fails,
    nothing external is asked for, and the screenshot holds all four colours."""
    require_tool("chromium")
    from playwright import sync_api

    from layers.styles import load_styles
    from tests.test_maps import Browser, _level_pixels

    styles = load_styles()
    with sync_api.sync_playwright() as pw:
        b = Browser(pw, allow_hosts=("127.0.0.1",))
        try:
            t = time.perf_counter()
            page = b.open(server + "/map?level=county")
            elapsed = time.perf_counter() - t
            page.wait_for_timeout(500)
            png = page.screenshot()
            page.mouse.wheel(0, -600)  # zoom in: enterprise clusters are fetched from the service
            page.wait_for_timeout(1500)
        finally:
            b.close()
    assert b.external == [] and b.failed == [] and b.errors == [] and b.dialogs == []
    pixels = _level_pixels(png, styles, styles.regions.fill_opacity, styles.theme.background)
    assert all(pixels[lv] > 500 for lv in ("red", "orange", "yellow", "blue")), pixels
    assert elapsed < 30
    served = httpx.get(server + "/map?level=county")
    assert len(served.content) < 1_500_000
    assert "script-src 'self';" in served.headers["content-security-policy"]  # the policy the page ran under
    clusters = httpx.get(server + "/clusters/enterprises", params={"bbox": "119,29,121,31", "zoom": 9}).json()
    assert clusters["type"] == "FeatureCollection" and clusters["features"]
    assert httpx.get(server + "/clusters/enterprises", params={"bbox": "x", "zoom": 9}).status_code == 400
    assert httpx.get(server + "/map", params={"level": "planet"}).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conformance?f=html",
        "/collections",
        "/collections/enterprises/items?limit=2",
        "/map?level=province",
        "/regions/330100?f=html",
        "/near?lon=120.2&lat=30.3",
        "/openapi.json",
        "/docs",
        "/static/riskmap/riskmap.js",
        "/collections/nowhere",
    ],
)
def test_head_answers_like_get_with_security_headers(server, path):
    got, head = httpx.get(server + path), httpx.head(server + path)
    assert head.status_code == got.status_code and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert got.headers["x-content-type-options"] == "nosniff"
    if got.headers["content-type"].startswith("text/html"):
        csp = got.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'self'" in csp
        assert got.headers["x-frame-options"] == "SAMEORIGIN"
        assert head.headers["content-security-policy"] == csp


@pytest.mark.browser
def test_swagger_ui_runs_under_the_policy(server):
    """/docs allows its one inline start-up script by hash; the page renders the operations, nothing refused."""
    require_tool("chromium")
    from playwright import sync_api

    from tests.test_maps import Browser

    with sync_api.sync_playwright() as pw:
        b = Browser(pw, allow_hosts=("127.0.0.1",))
        try:
            b.page.goto(server + "/docs")
            b.page.wait_for_selector(".opblock", timeout=30_000)
            operations = b.page.locator(".opblock").count()
        finally:
            b.close()
    assert operations > 10 and b.errors == [] and b.external == [], (operations, b.errors, b.external)


def test_docs_page_loads_nothing_from_outside(server):
    page = httpx.get(server + "/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text) + re.findall(r"url: ?'([^']+)'", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert httpx.get(server + "/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert httpx.get(server + "/openapi.json").json()["paths"]["/near"]


def test_settings_from_file_and_environment(tmp_path, monkeypatch):
    from api.settings import Settings, hash_token

    cfg = tmp_path / "riskmap.toml"
    cfg.write_text(f'store = "{tmp_path / "s"}"\neditor_token_hashes = ["{hash_token("t")}"]\nlang = "en"\n')
    monkeypatch.setenv("RISKMAP_SETTINGS_FILE", str(cfg))
    monkeypatch.setenv("RISKMAP_LANG", "zh")
    s = Settings()
    assert s.store == tmp_path / "s" and s.editor_token_hashes == (hash_token("t"),) and s.lang == "zh"
    monkeypatch.setenv("RISKMAP_LANG", "fr")
    with pytest.raises(ValueError, match="lang is zh or en"):
        Settings()


def test_clusters_bad_parameters_are_400(server):
    for params in (
        {"bbox": "123,27,118,32", "zoom": 7},
        {"bbox": "119,29,121,31", "zoom": 9, "crs": "bd09"},
        {"bbox": "119,29,121,31", "zoom": 9, "domain": "nope"},
        {"bbox": "119,29,121,31", "zoom": 9, "parent": "999999"},
    ):
        r = httpx.get(server + "/clusters/enterprises", params=params)
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", (params, r.text)


def test_json_and_html_etags_differ(server):
    j = httpx.get(server + "/collections/regions-county")
    h = httpx.get(server + "/collections/regions-county", params={"f": "html"})
    assert j.headers["etag"] != h.headers["etag"] and "Accept" in j.headers.get("vary", "")


def test_upload_size_limit(demo_store, tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings, hash_token

    app = create_app(Settings(store=demo_store.location, editor_token_hashes=(hash_token(TOKEN),), max_upload_mb=0.001))
    with TestClient(app) as client:
        body = b"id,domain,lon,lat\n" + b"X,fire,120.1,30.2\n" * 200  # ~3.8 KB > 1 KB
        r = client.post(
            "/datasets/enterprises",
            files={"file": ("big.csv", body, "text/csv")},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert r.status_code == 413 and "0.001 MB limit" in r.json()["detail"]


def _raw_post(server: str, path: str, headers: dict[str, str], send: int) -> tuple[int, float]:
    """POST headers and `send` bytes of a (claimed) body over a raw socket; the status and when it came."""
    host, port = server.removeprefix("http://").split(":")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    t = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n")
        try:
            for _ in range(send // 65536):
                sock.sendall(b"\0" * 65536)
        except OSError:
            pass  # the server answered and closed: what we want
        reply = sock.recv(4096).decode("latin-1")
    return int(reply.split(" ", 2)[1]), time.perf_counter() - t


def test_upload_abuse_is_refused_before_the_body_is_read(server, tmp_path):
    """A 2 GB body without a token gets 401 and one over the limit 413 after a few KB, without the server
    reading (or spooling) the body; a chunked body is cut off at the limit; no upload directory is left."""
    import tempfile

    spool = Path(tempfile.gettempdir())
    before = {p.name for p in spool.glob("riskmap-upload-*")}
    claimed = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(2 * 1024**3)}
    status, took = _raw_post(server, "/datasets/enterprises", claimed, send=4 * 65536)
    assert status == 401 and took < 5
    editor = {**claimed, "Authorization": f"Bearer {TOKEN}"}
    status, took = _raw_post(server, "/datasets/enterprises", editor, send=4 * 65536)
    assert status == 413 and took < 5

    def endless():
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        for _ in range(300):  # 300 MB, over the 200 MB default limit
            yield b"id,domain,lon,lat\n" * 58255

    r = httpx.post(
        server + "/datasets/enterprises",
        content=endless(),
        headers={"Content-Type": "multipart/form-data; boundary=x", "Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    )
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert {p.name for p in spool.glob("riskmap-upload-*")} == before


def test_jobs_report_and_queue_bound(demo_store, tmp_path):
    """Without `wait` an upload answers 202 with the job's address; the job document reports the result;
    a failing file fails its job with the file's name; beyond workers + queue, 503."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings, hash_token

    auth = {"Authorization": f"Bearer {TOKEN}"}
    settings = Settings(store=demo_store.location, editor_token_hashes=(hash_token(TOKEN),), job_queue=0)
    csv = b"id,domain,lon,lat\nJOB-1,fire,120.13,30.27\n"
    with TestClient(create_app(settings)) as client:
        r = client.post("/datasets/enterprises", files={"file": ("j.csv", csv, "text/csv")}, headers=auth)
        assert r.status_code == 202 and r.headers["location"] == f"/jobs/{r.json()['id']}"
        busy = client.post("/builds", params={"as_of": "2026-11-01"}, headers=auth)
        assert busy.status_code == 503 and "queued" in busy.json()["detail"]
        for _ in range(600):
            job = client.get(r.headers["location"], headers=auth).json()
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "succeeded" and job["result"]["accepted"] == 1, job
        assert client.get(r.headers["location"]).status_code == 401
        bad = client.post(
            "/datasets/enterprises",
            files={"file": ("empty.csv", b"", "text/csv")},
            params={"wait": 120},
            headers=auth,
        )
        assert bad.status_code == 400 and "empty.csv" in bad.json()["detail"] and "riskmap-upload" not in bad.text
        assert client.get(f"/jobs/{bad.json()['job']}", headers=auth).json()["status"] == "failed"
        listed = client.get("/jobs", headers=auth).json()["jobs"]
        assert {j["id"] for j in listed} >= {r.json()["id"], bad.json()["job"]}


def test_stopping_the_service_ends_its_job_workers(demo_store):
    """`riskmap serve` stopped (SIGTERM) while a build job runs leaves no worker process behind (each held
    a snapshot's tables: about 1.3 GB at 1M enterprises)."""
    import os
    import signal
    import sys

    from api.settings import hash_token

    port = support.free_port()
    env = {**os.environ, "RISKMAP_EDITOR_TOKEN_HASHES": json.dumps([hash_token(TOKEN)])}
    cmd = [sys.executable, "-m", "cli.main", "--store", str(demo_store.root), "serve", "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        support.wait_until_up(base)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(base + "/builds", params={"as_of": "2026-11-02"}, headers=auth).status_code == 202
        before = _descendants(server.pid)  # the service processes (and multiprocessing's resource trackers)
        workers: list[int] = []
        for _ in range(100):  # the worker process the build runs in, a child of a service process
            workers = sorted(_descendants(server.pid) - before)
            if workers:
                break
            time.sleep(0.1)
        assert workers
        workers += sorted(before)
        server.send_signal(signal.SIGTERM)
        server.wait(30)  # the build (seconds at this size) is still running when the service has stopped
        alive = workers
        for _ in range(50):  # multiprocessing's resource tracker may see its pipe close a moment later
            alive = [p for p in workers if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
            if not alive:
                break
            time.sleep(0.1)
        assert alive == [], [(p, Path(f"/proc/{p}/cmdline").read_bytes()[:200]) for p in alive]
    finally:
        if server.poll() is None:
            server.kill()


def _descendants(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return {int(k) for k in found} | {d for k in found for d in _descendants(int(k))}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except OSError:
        return "gone"


def _niceness(doc_path: str) -> dict:
    import os

    return {"nice": os.nice(0)}


def test_job_workers_run_at_a_lower_priority_than_the_service(tmp_path):
    """Builds and uploads take their CPU after the readers: the worker runs `job_nice` steps nicer than the
    service (on 2 cores, a 1M build holds one for ~30 s)."""
    import os

    from api.jobs import JobRunner

    runner = JobRunner(tmp_path, nice=7)
    try:
        job = runner.submit("probe", _niceness, (), {})
        assert runner.future(job).result(timeout=60)["nice"] == os.nice(0) + 7
    finally:
        runner.shutdown()


def test_serve_with_two_worker_processes_answers_from_both(demo_store):
    """`riskmap serve --workers 2`: two service processes on one port (and two standing by for the next
    build), each with its own view of the store, both answering and both naming the published snapshot."""
    import os
    import sys

    port = support.free_port()
    cmd = [sys.executable, "-m", "cli.main", "--store", str(demo_store.root), "serve", "--port", str(port)]
    server = subprocess.Popen([*cmd, "--workers", "2"], env=dict(os.environ), stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        support.wait_until_up(base)
        kids: list[str] = []
        for _ in range(100):
            kids = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
            if len(kids) >= 4:
                break
            time.sleep(0.1)
        assert len(kids) >= 4, kids
        snapshot = current(demo_store).id
        for _ in range(20):  # fresh connections: the kernel spreads them over the workers
            r = httpx.get(base + "/near", params={"lon": 120.2, "lat": 30.25, "radius_m": 2000}, timeout=60)
            assert r.status_code == 200, r.text
            assert r.headers["x-riskmap-snapshot"] == snapshot
    finally:
        server.terminate()
        server.wait(30)
