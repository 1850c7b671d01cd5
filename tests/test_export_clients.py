"""Exports as the GIS clients on an intranet read them: GDAL 3.6 / QGIS 3.22 (`ogrinfo` here is GDAL 3.6),
Google Earth-like viewers, a browser with no internet."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess

import pyogrio
import pytest

from geo.snapshot import publish
from geo.store import Store
from layers.export import export_layer
from layers.sample import sample_tables
from tests.conftest import require_tool

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"


@pytest.fixture(scope="module")
def snap(tmp_path_factory, boundaries):
    store = Store.open(tmp_path_factory.mktemp("clients") / "store")
    store.write("boundaries", boundaries)
    units, hazards, regions = sample_tables(boundaries, n_units=300, seed=3)
    return publish(store, units, hazards, regions, meta={"as_of": "2026-11-01"})


@pytest.mark.parametrize("what", ["regions", "enterprises", "hazards"])
def test_geopackage_is_version_1_2_and_opens_without_warnings(snap, boundaries, tmp_path, what):
    path = tmp_path / f"{what}.gpkg"
    n = export_layer(snap, boundaries, what, "gpkg", path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == GPKG_APPLICATION_ID
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200  # GeoPackage 1.2.0
    require_tool("ogrinfo")
    out = subprocess.run(["ogrinfo", "-so", "-al", str(path)], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "", out.stderr  # no "may only be partially supported" from GDAL 3.6
    data = "".join(p for p in out.stdout.split("Layer name: ") if not p.startswith("layer_styles\n"))
    counts = re.findall(r"^Feature Count: (\d+)", data, re.M)  # one per data layer (hazards: three)
    assert sum(map(int, counts)) == n


# GDAL's own field types for each exported number (LIBKML reads `<Schema>`, so QGIS gets numbers, not text)
KML_NUMBERS = {
    "regions": {"risk_index": "Real", "n_red_units": "Integer", "n_blue_sites": "Integer", "n_units": "Integer"},
    "enterprises": {"risk_score": "Real", "lon": "Real", "lat": "Real"},
    "hazards": {"risk_score": "Real", "population": "Integer"},
}


@pytest.mark.parametrize("what", sorted(KML_NUMBERS))
def test_kml_schema_types_numbers(snap, boundaries, tmp_path, what):
    path = tmp_path / f"{what}.kml"
    n = export_layer(snap, boundaries, what, "kml", path)
    text = path.read_text(encoding="utf-8")
    layer = "hazards_points" if what == "hazards" else what  # hazards: a folder and schema per geometry type
    assert f'<Schema name="{layer}" id="{layer}-fields">' in text
    assert text.count("<SchemaData schemaUrl=") == n and "<Data " not in text
    assert '<SimpleField type="string" name="adcode"' in text or what != "regions"  # codes keep leading zeros
    got = pyogrio.read_info(path, layer=layer)
    types = dict(zip(got["fields"], got["dtypes"], strict=True))
    for field, kind in KML_NUMBERS[what].items():
        assert types[field] == ("float64" if kind == "Real" else "int32"), (field, types[field])
    require_tool("ogrinfo")
    out = subprocess.run(["ogrinfo", "-so", str(path), layer], capture_output=True, text=True, check=True)
    fields = dict(re.findall(r"^(\w+): (\w+) \(", out.stdout, re.M))
    for field, kind in KML_NUMBERS[what].items():
        assert fields.get(field) == kind, (field, out.stdout[-1500:])
    assert fields.get("risk_level") == "String" and out.stderr.strip() == ""
    values = pyogrio.read_dataframe(path, layer=layer)
    assert values["risk_score" if what != "regions" else "risk_index"].notna().all()
    if what != "regions":
        assert values["id"].notna().all()  # LIBKML reads `id` from the placemark's id attribute
    if what == "regions":
        assert values["adcode"].str.fullmatch(r"\d{6}").all()


def _embedded(html: str) -> dict:
    """The JSON document a saved map page carries."""
    m = re.search(r'<script type="application/json" id="riskmap-config">(.*?)</script>', html, re.S)
    assert m, "no embedded data"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def html_pages(snap, boundaries, tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    pages = {}
    for what in ("regions", "enterprises", "hazards"):
        path = out / f"{what}.html"
        pages[what] = (path, export_layer(snap, boundaries, what, "html", path))
    return pages


def test_html_export_of_each_layer_is_its_own_map(snap, html_pages):
    texts = {what: path.read_text(encoding="utf-8") for what, (path, _) in html_pages.items()}
    assert len(set(texts.values())) == 3  # not the regions page three times
    docs = {what: _embedded(text) for what, text in texts.items()}
    assert {what: d["meta"]["layer"] for what, d in docs.items()} == {w: w for w in docs}
    n_units, n_hazards = html_pages["enterprises"][1], html_pages["hazards"][1]
    assert n_units == len(snap.units(columns=["id"])) and n_hazards == len(snap.hazards())
    units = docs["enterprises"]["enterprises"]
    assert units["complete"] and len(units["points"]) == n_units  # every enterprise, as a point
    assert {p[6] for p in units["points"]} == set(snap.units(columns=["id"])["id"])
    assert len(docs["hazards"]["hazards"]) == n_hazards


COUNT_UNITS_SHOWN = "() => { var n = 0; window.riskmap.map.eachLayer(function (l) { if (l.unit) n++; }); return n; }"


@pytest.mark.browser
def test_enterprise_page_shows_the_points_at_province_scale(html_pages):
    require_tool("chromium")
    from playwright import sync_api

    from tests.test_maps import Browser

    shown = {}
    with sync_api.sync_playwright() as pw:
        for what in ("regions", "enterprises"):
            b = Browser(pw)
            try:
                page = b.open(html_pages[what][0].as_uri())
                shown[what] = page.evaluate(COUNT_UNITS_SHOWN)
                subtitle = page.inner_text(".rm-subtitle")
            finally:
                b.close()
            assert b.external == [] and b.errors == [], (b.external, b.errors)
    assert shown["regions"] == 0  # the four-colour map keeps enterprises for a city or closer
    assert shown["enterprises"] == html_pages["enterprises"][1] and subtitle.startswith("企业 · ")


def test_folium_map_is_offline_and_in_the_level_colours(snap, boundaries):
    from layers.foliummap import offline_map, risk_map
    from layers.styles import load_styles

    assert not re.search(r"<(script|link)[^>]*(src|href)=", offline_map().get_root().render())
    m = risk_map(snap, boundaries, max_units=50)
    page = m.get_root().render()
    assert not re.search(r"<(script|link)[^>]*(src|href)=", page)  # Leaflet inline, no CDN, no basemap
    assert "L.map(" in page and "tile.openstreetmap" not in page
    st = load_styles()
    assert all(st.level_color(lv) in page for lv in ("red", "orange", "yellow", "blue"))
    assert page.count('"risk_score"') >= 50  # the 50 gravest enterprises as points
