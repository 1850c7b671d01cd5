"""The response layers on the maps: the page's document, the layer toggle and markers in chromium, the print
map and html exports of resources and coverage, the MapLibre style and the region collections' shares. On the
small store of tests/test_response.py (one fire station and one shelter in 西湖区, built by the estimate)."""

from __future__ import annotations

import io
import json
import re
from datetime import date

import numpy as np
import pytest

from layers.maps import render_map
from layers.styles import load_styles
from layers.view import MapView
from tests.test_maps import Browser, pw  # noqa: F401 - the chromium fixture
from tests.test_response import LAT0, LON0, response_store  # noqa: F401 - the fixture


@pytest.fixture()
def built(response_store):  # noqa: F811
    from geo.build import build

    snap, _ = build(response_store, date(2026, 11, 1))
    return response_store, snap


def _config(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="riskmap-config">(.*?)</script>', html, re.S)
    assert m
    return json.loads(m.group(1))


def test_the_page_carries_resources_bands_and_shares(built):
    store, snap = built
    cfg = _config(render_map(snap, store.read("boundaries"), view=MapView(level="county")))
    r = cfg["response"]
    kinds = [k["code"] for k in r["kinds"]]
    rows = {row[3]: row for row in r["resources"]}
    assert r["total"] == 2 and set(rows) == {"西湖消防站", "避灾点"}
    fire = rows["西湖消防站"]
    assert kinds[fire[2]] == "fire_station" and fire[4:6] == [30, 6]  # staff, vehicles
    assert abs(fire[0] * cfg["meta"]["precision"] - LON0) < 1e-5 and abs(fire[1] * 1e-5 - LAT0) < 1e-5
    assert rows["避灾点"][6] == 800  # capacity
    glyphs = {k["code"]: k["glyph"] for k in r["kinds"]}
    assert glyphs["fire_station"] == "消" and glyphs["shelter"] == "避"
    assert r["zones"]["url"].startswith("data:image/png;base64,") and r["method"] == "estimate"
    (s, w), (n, e) = r["zones"]["bounds"]
    assert s < LAT0 < n and w < LON0 < e
    cov = snap.rescue_regions().set_index("adcode")
    assert r["headline"] == "15" and r["shares"]["330106"][1] == 1.0  # its enterprises: all reached
    assert r["shares"]["330106"][0] == pytest.approx(cov.loc["330106", "cover15_area"], abs=1e-3)
    assert r["shares"]["330000"][5] == 1  # one red unit outside the circle (C)


def test_the_bands_image_is_drawn_where_the_circle_is(built):
    from PIL import Image

    from layers.response import coverage_table
    from layers.responsemap import zones_image

    store, snap = built
    st = load_styles()
    zones = coverage_table(snap, st)
    doc = zones_image(zones, st)
    import base64

    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(doc["url"].split(",", 1)[1]))).convert("RGBA"))
    (s, w), (n, e) = doc["bounds"]
    h, wd = img.shape[:2]
    col = int((LON0 - w) / (e - w) * wd)
    merc = lambda lat: np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))  # noqa: E731
    row = int((merc(n) - merc(LAT0)) / (merc(n) - merc(s)) * h)
    fast = np.array([int(st.band_color(0)[i : i + 2], 16) for i in (1, 3, 5)])
    assert img[row, col, 3] == 255 and np.abs(img[row, col, :3] - fast).sum() <= 6  # the station: 0–5 minutes
    assert img[0, 0, 3] == 0  # a corner of the bounds: outside every band (a circle's bounding box)


def test_png_and_html_exports_of_resources_and_coverage(built, tmp_path):
    from PIL import Image

    from layers.export import export_layer

    store, snap = built
    b = store.read("boundaries")
    st = load_styles()
    view = MapView(level="county", parent="330100", lang="en")
    assert export_layer(snap, b, "resources", "png", tmp_path / "r.png", view=view) == 2
    px = np.asarray(Image.open(tmp_path / "r.png").convert("RGB"), dtype=np.int32)
    for kind in ("fire_station", "shelter"):
        rgb = np.array([int(st.resource_symbol(kind).color[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(px - rgb).sum(axis=2) <= 12).sum() > 50, kind  # the dot and the legend's
    assert export_layer(snap, b, "coverage", "png", tmp_path / "c.png", view=view) > 0
    from layers.printresponse import headline_shares

    shares = headline_shares(snap, b.loc[b["parent_adcode"] == "330100", "adcode"])
    px = np.asarray(Image.open(tmp_path / "c.png").convert("RGB"), dtype=np.int32)
    assert shares
    for share in set(shares.values()):  # the print map is the choropleth of the 15-minute share, bands over it
        rgb = np.array([int(st.share_color(share)[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(px - rgb).sum(axis=2) <= 12).sum() > 500, share
    assert export_layer(snap, b, "coverage", "html", tmp_path / "c.html") > 0
    cfg = _config((tmp_path / "c.html").read_text(encoding="utf-8"))
    assert cfg["meta"]["layer"] == "coverage" and cfg["response"]["zones"]


def test_maplibre_style_and_region_collections_carry_the_rescue_circle(built):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    store, snap = built
    with TestClient(create_app(Settings(store=store.root))) as client:
        style = client.get("/styles/regions-county").json()
        ids = [lay["id"] for lay in style["layers"]]
        assert "coverage-0" in ids and "resources-fire_station" in ids
        assert ids.index("regions-county-outline") < ids.index("coverage-0") < ids.index("resources-fire_station")
        fire = style["layers"][ids.index("resources-fire_station")]
        assert (
            fire["filter"] == ["==", "kind", "fire_station"]
            and fire["minzoom"] == load_styles().resource_style.min_zoom
        )
        assert {"coverage", "resources"} <= set(style["sources"])
        doc = client.get("/collections/regions-county/items/330106").json()
        assert doc["properties"]["cover15_units"] == 1.0 and 0 < doc["properties"]["cover15_area"] <= 1
        assert "cover5_area" not in doc["properties"]  # the export's columns, no more


@pytest.mark.browser
def test_resource_layer_toggles_and_markers_appear(pw, built, tmp_path):  # noqa: F811
    store, snap = built
    path = tmp_path / "map.html"
    path.write_text(render_map(snap, store.read("boundaries"), view=MapView(level="county")), encoding="utf-8")
    b = Browser(pw)
    try:
        page = b.open(path.as_uri())
        # the card of the region in view (the province) has the rescue circle's part from the start
        assert "15分钟应急救援圈" in page.inner_text(".rm-info")
        assert page.evaluate("window.riskmapResponse.shown()") == 0  # the province: below the layer's zoom
        hint = page.inner_text("label.rm-toggle:has(input[data-layer=resources])")
        assert "放大后显示" in hint
        page.evaluate(f"window.riskmap.map.setView([{LAT0}, {LON0}], 13)")
        page.wait_for_function("window.riskmapResponse.shown() === 2")
        assert page.locator(".rm-res-icon .rm-res").count() == 2
        assert sorted(page.locator(".rm-res-icon .rm-res").all_inner_texts()) == ["消", "避"]
        assert page.evaluate("window.riskmapResponse.openResource('西湖消防站')")
        popup = page.inner_text(".rm-popup")
        assert "西湖消防站" in popup and "消防站" in popup and "30" in popup and "6" in popup
        page.uncheck("input[data-layer=resources]")
        assert page.locator(".rm-res-icon").count() == 0
        page.check("input[data-layer=resources]")
        page.click(".rm-layer-legend .rm-kind[data-kind=shelter]")  # hide one kind from its legend entry
        assert page.locator(".rm-res-icon").count() == 1
        page.check("input[data-layer=coverage]")
        assert page.locator("img.rm-coverage-img").count() == 1
        page.check("input[data-layer=choropleth]")
        page.evaluate("window.riskmap.openRegion('330106')")
        card = page.inner_text(".rm-popup")
        assert "15分钟应急救援圈" in card and "100%" in card
        png = page.screenshot()
        (tmp_path / "map.png").write_bytes(png)
    finally:
        b.close()
    assert b.external == [] and b.failed == [] and b.errors == [], (b.external, b.failed, b.errors)
