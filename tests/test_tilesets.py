"""Discoverable tiles and served styles: OGC API – Tiles, TileJSON, GDAL's MVT driver from the advertised URL,
MapLibre styles that reference only what the tiles hold, QML/SLD rules in the declared colours, and the styles
an export carries (sidecars, a GeoPackage's layer_styles)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import textwrap
import xml.etree.ElementTree as ET
import zipfile

import httpx
import mapbox_vector_tile
import pytest

from geo.catalogue import LEVELS
from layers.styles import load_styles
from tests import support
from tests.conftest import require_qgis, require_tool

STYLES = load_styles()
COLOURS = {lv: STYLES.level_color(lv) for lv in LEVELS}
SLD_NS = {"se": "http://www.opengis.net/se", "ogc": "http://www.opengis.net/ogc"}


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """A store with a small demo (3,000 enterprises), built as of 2026-11-01."""
    return support.demo_store(tmp_path_factory.mktemp("tilesets"), 3000, seed=11)


@pytest.fixture(scope="module")
def base(small_store):
    from api.app import create_app
    from api.settings import Settings

    with support.serving(create_app(Settings(store=small_store.root))) as url:
        yield url


def _get(url: str, **params) -> dict:
    r = httpx.get(url, params=params)
    assert r.status_code == 200, (url, r.text)
    return r.json()


#: what the response layers' tiles are told apart by (the others: risk_level)
_SHOWN = {"resources": "kind", "coverage": "min_to"}


def _collections(base: str) -> dict[str, dict]:
    return {c["id"]: c for c in _get(base + "/collections")["collections"]}


def test_discovery_from_landing_page_to_a_tile(base):
    """A client follows links only: landing → tilesets → tileset → tile template → a decodable tile."""
    rels = {lk["rel"]: lk["href"] for lk in _get(base + "/")["links"]}
    tilesets_rel = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
    assert {tilesets_rel, "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"} <= set(rels)
    conf = _get(base + "/conformance")["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conf
    tms = _get(base + "/tileMatrixSets/WebMercatorQuad")
    assert tms["crs"].endswith("/3857") and tms["tileMatrices"][0]["matrixWidth"] == 1
    assert tms["tileMatrices"][10]["scaleDenominator"] == pytest.approx(545978.773465, rel=1e-9)
    assert httpx.get(base + "/tileMatrixSets/WorldCRS84Quad").status_code == 404
    for cid, coll in _collections(base).items():
        link = next(lk["href"] for lk in coll["links"] if lk["rel"] == tilesets_rel)
        tilesets = _get(link)["tilesets"]
        tileset = _get(next(lk["href"] for lk in tilesets[0]["links"] if lk["rel"] == "self"))
        assert tileset["dataType"] == "vector" and [lay["id"] for lay in tileset["layers"]] == [cid]
        assert _SHOWN.get(cid, "risk_level") in tileset["layers"][0]["propertiesSchema"]["properties"]
        template = next(lk["href"] for lk in tileset["links"] if lk["rel"] == "item" and "{tileRow}" in lk["href"])
        z = tileset["centerPoint"]["tileMatrix"]
        lim = next(x for x in tileset["tileMatrixSetLimits"] if x["tileMatrix"] == z)
        url = template.format(tileMatrix=z, tileRow=lim["minTileRow"], tileCol=lim["minTileCol"])
        r = httpx.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        xyz = httpx.get(f"{base}/tiles/{cid}/{z}/{lim['minTileCol']}/{lim['minTileRow']}.pbf")
        assert xyz.content == r.content  # row = y, col = x
        assert list(mapbox_vector_tile.decode(r.content)) == [cid]
    dataset = _get(base + "/tiles/WebMercatorQuad")
    assert [lay["id"] for lay in dataset["layers"]] == list(_collections(base))
    z = dataset["centerPoint"]["tileMatrix"]
    lim = next(x for x in dataset["tileMatrixSetLimits"] if x["tileMatrix"] == z)
    tile = httpx.get(f"{base}/tiles/WebMercatorQuad/{z}/{lim['minTileRow']}/{lim['minTileCol']}")
    assert set(mapbox_vector_tile.decode(tile.content)) == set(_collections(base))


def test_tilejson_describes_what_the_tiles_hold(base):
    for cid, coll in _collections(base).items():
        href = next(lk["href"] for lk in coll["links"] if lk.get("type") == "application/vnd.mapbox.tile+json")
        tj = _get(href)
        assert tj["tilejson"] == "3.0.0" and tj["tiles"][0].endswith(f"/tiles/{cid}/{{z}}/{{x}}/{{y}}.pbf")
        (layer,) = tj["vector_layers"]
        assert layer["id"] == cid and layer["minzoom"] == tj["minzoom"] and layer["maxzoom"] == tj["maxzoom"]
        x0, y0, x1, y1 = tj["bounds"]
        assert x0 < tj["center"][0] < x1 and y0 < tj["center"][1] < y1
        assert coll["extent"]["spatial"]["bbox"][0] == pytest.approx(tj["bounds"], abs=1e-6)
        z = tj["center"][2]
        url = tj["tiles"][0].format(z=z, x=int((tj["center"][0] + 180) / 360 * 2**z), y=_row(tj["center"][1], z))
        props = {k for f in mapbox_vector_tile.decode(httpx.get(url).content)[cid]["features"] for k in f["properties"]}
        assert props and props <= set(layer["fields"]), props - set(layer["fields"])


def _row(lat: float, z: int) -> int:
    import math

    return int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * 2**z)


def test_ogrinfo_opens_the_advertised_url(base):
    """GDAL's MVT driver reads `metadata.json` beside the tiles and `{z}/{x}/{y}.pbf` from the advertised URL."""
    require_tool("ogrinfo")
    kinds = {"point": "Multi Point", "linestring": "Multi Line String", "polygon": "Multi Polygon"}
    for cid, coll in _collections(base).items():
        href = next(lk["href"] for lk in coll["links"] if lk["title"].startswith(f"{cid} for GDAL"))
        run = subprocess.run(
            ["ogrinfo", "-ro", "-so", "-al", f"MVT:{href}"], capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr
        field = {"kind": "kind: String", "min_to": "min_to: Real"}.get(_SHOWN.get(cid, ""), "risk_level: String")
        assert f"Layer name: {cid}" in run.stdout and field in run.stdout
        count = int(run.stdout.split("Feature Count: ")[1].split()[0])
        assert count > 0
        meta = _get(href.rsplit("/", 1)[0] + "/metadata.json")
        stats = json.loads(meta["json"])["tilestats"]["layers"][0]
        if "geometry" in stats:
            assert f"Geometry: {kinds[stats['geometry'].lower()]}" in run.stdout
        else:
            assert "Geometry: Unknown (any)" in run.stdout


def test_maplibre_style_is_consistent_with_the_tiles(base):
    listing = _get(base + "/styles")
    assert listing["default"] in {s["id"] for s in listing["styles"]}
    layer_ids = {
        cid: set(_get(f"{base}/tiles/{cid}/tilejson.json")["vector_layers"][0]["fields"]) for cid in _collections(base)
    }
    for entry in listing["styles"]:
        href = next(lk["href"] for lk in entry["links"] if lk["type"] == "application/vnd.mapbox.style+json")
        r = httpx.get(href)
        assert r.headers["content-type"].startswith("application/vnd.mapbox.style+json")
        style = r.json()
        _check_style(style, layer_ids)
        choropleth = [lay for lay in style["layers"] if lay.get("source") == entry["id"] and lay["type"] == "fill"]
        assert {lay["paint"]["fill-color"] for lay in choropleth} == set(COLOURS.values())
    one = _get(f"{base}/collections/enterprises/styles/risk-level", f="mapbox")
    _check_style(one, layer_ids)
    assert set(one["sources"]) == {"enterprises"}
    assert httpx.get(base + "/styles/nope").status_code == 404
    assert httpx.get(base + "/styles/" + listing["default"], params={"lang": "fr"}).status_code == 400


def _check_style(style: dict, fields_of: dict[str, set[str]]) -> None:
    assert style["version"] == 8 and "glyphs" not in style and "sprite" not in style
    ids = [lay["id"] for lay in style["layers"]]
    assert len(ids) == len(set(ids))
    seen_levels = set()
    for lay in style["layers"]:
        assert lay["type"] in {"background", "fill", "line", "circle"}  # no symbol layer: nothing needs glyphs
        if lay["type"] == "background":
            continue
        assert lay["source"] in style["sources"] and lay["source-layer"] in fields_of
        src = style["sources"][lay["source"]]
        assert src["type"] == "vector" and src["tiles"][0].startswith("http://127.0.0.1")
        conditions = lay["filter"][1:] if lay["filter"][0] == "all" else [lay["filter"]]
        for op, key, value in conditions:
            assert op == "=="
            paint = lay["paint"]
            colour = paint.get("fill-color") or paint.get("line-color") or paint.get("circle-color")
            if key == "$type":
                assert value in {"Point", "LineString", "Polygon"}
            elif key == "kind":  # the emergency resources: a circle per kind in its marker colour
                assert key in fields_of["resources"] and colour == STYLES.resource_symbol(value).color
            elif key == "min_from":  # the rescue-circle bands: a fill per band of minutes
                assert key in fields_of["coverage"] and colour in STYLES.rescue.band_colors
            else:
                assert key in fields_of[lay["source-layer"]] and value in LEVELS
                seen_levels.add(value)
                assert colour == COLOURS[value]
    assert seen_levels == set(LEVELS)


def _sld_rules(text: str) -> dict[str, set[str]]:
    root = ET.fromstring(text.encode("utf-8"))
    out = {}
    for rule in root.iter(f"{{{SLD_NS['se']}}}Rule"):
        code = rule.find("ogc:Filter/ogc:PropertyIsEqualTo/ogc:Literal", SLD_NS).text
        colours = {p.text for p in rule.iter(f"{{{SLD_NS['se']}}}SvgParameter") if p.get("name") in ("fill", "stroke")}
        title = rule.find("se:Description/se:Title", SLD_NS).text
        assert title == STYLES.level_label(code, "zh")
        out[code] = colours
    return out


def _qml_rules(text: str) -> dict[str, set[str]]:
    root = ET.fromstring(text.split("\n", 1)[1])
    symbols = {s.get("name"): s for s in root.iter("symbol")}
    out = {}
    for rule in root.find("renderer-v2/rules"):
        code = rule.get("filter").split("'")[1]
        assert rule.get("label") == STYLES.level_label(code, "zh")
        refs = [rule.get("symbol")] if rule.get("symbol") else [r.get("symbol") for r in rule]
        colours = set()
        for ref in refs:
            for prop in symbols[ref].iter("prop"):
                if prop.get("k") in ("color", "line_color"):
                    r, g, b, _ = (int(v) for v in prop.get("v").split(","))
                    colours.add(f"#{r:02X}{g:02X}{b:02X}")
        out[code] = colours
    return out


def test_collection_qml_and_sld_have_one_rule_per_level(base):
    for cid in _collections(base):
        styles = _get(f"{base}/collections/{cid}/styles")["styles"]
        links = {lk["title"]: lk["href"] for lk in styles[0]["links"]}
        assert set(links) == {"mapbox", "qml", "sld"}
        sld = httpx.get(links["sld"])
        assert sld.headers["content-type"].startswith("application/vnd.ogc.sld+xml")
        for rules in (_sld_rules(sld.text), _qml_rules(httpx.get(links["qml"]).text)):
            assert list(rules) == list(LEVELS) or list(rules) == list(reversed(LEVELS))
            assert all(COLOURS[code] in colours for code, colours in rules.items()), rules


def test_export_sidecars_and_geopackage_layer_styles(small_store, tmp_path):
    from cli.main import main

    store = ["--store", str(small_store.root)]
    for what in ("regions", "enterprises", "hazards"):
        assert main(["export", what, "--format", "gpkg", "--out", str(tmp_path / "all.gpkg"), *store]) == 0
        gpkg = tmp_path / f"{what}.gpkg"
        (tmp_path / "all.gpkg").rename(gpkg)
        with sqlite3.connect(gpkg) as db:
            rows = db.execute(
                "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML, styleSLD FROM layer_styles"
            ).fetchall()
            registered = db.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone()
        assert registered == ("attributes",)
        tables = ["hazards_points", "hazards_lines", "hazards_polygons"] if what == "hazards" else [what]
        assert sorted(r[0] for r in rows) == sorted(tables)  # one default style per data layer
        for _table, geom_col, default, style_qml, style_sld in rows:
            assert (geom_col, default) == ("geom", 1)
            assert set(_qml_rules(style_qml)) == set(_sld_rules(style_sld)) == set(LEVELS)
    main(["export", "enterprises", "--format", "geojson", "--out", str(tmp_path / "e.geojson"), *store])
    assert set(_qml_rules((tmp_path / "e.qml").read_text(encoding="utf-8"))) == set(LEVELS)
    assert set(_sld_rules((tmp_path / "e.sld").read_text(encoding="utf-8"))) == set(LEVELS)
    main(["export", "hazards", "--format", "geojson", "--out", str(tmp_path / "hz.zip"), *store])
    with zipfile.ZipFile(tmp_path / "hz.zip") as zf:  # hazards as GeoJSON: one file per geometry type, each styled
        names = zf.namelist()
        layers = [n[: -len(".geojson")] for n in names if n.endswith(".geojson")]
        assert len(layers) == 3 and all(f"{s}.qml" in names and f"{s}.sld" in names for s in layers)
        assert set(_qml_rules(zf.read(f"{layers[0]}.qml").decode("utf-8"))) == set(LEVELS)
    main(["export", "hazards", "--format", "shp", "--out", str(tmp_path / "hz.zip"), *store])
    with zipfile.ZipFile(tmp_path / "hz.zip") as zf:
        names = zf.namelist()
        shps = [n[:-4] for n in names if n.endswith(".shp")]
        assert shps and all(f"{s}.qml" in names and f"{s}.sld" in names for s in shps)
        qml = zf.read(f"{shps[0]}.qml").decode("utf-8")
    assert "layerGeometryType" in qml and _qml_rules(qml)["red"] == {COLOURS["red"]}


QGIS_CHECK = textwrap.dedent(
    """
    import json, os, sys
    from qgis.core import QgsApplication, QgsVectorLayer, QgsVectorTileLayer
    app = QgsApplication([], False)
    app.initQgis()
    out = {}
    for path in sys.argv[2:]:
        lay = QgsVectorLayer(path, "x", "ogr")
        r = lay.renderer()
        out[path] = {"valid": lay.isValid(), "renderer": r.type(), "rules": [
            (c.label(), sorted({s.color().name().upper() for s in c.symbols()})) for c in r.rootRule().children()
        ] if r.type() == "RuleRenderer" else []}
    tiles = QgsVectorTileLayer("type=xyz&url=" + sys.argv[1] + "&zmin=0&zmax=16", "tiles")
    out["tiles"] = {"valid": tiles.isValid(), "zmax": tiles.sourceMaxZoom()}
    print(json.dumps(out), flush=True)
    os._exit(0)  # QGIS may crash tearing down layers after exitQgis(); the answer is out
    """
)


def test_qgis_loads_the_styles(base, small_store, tmp_path):
    """QGIS 3 opens a GeoPackage export with its rule-based four-colour style, and the advertised tile template."""
    require_qgis()
    from cli.main import main

    store = ["--store", str(small_store.root)]
    main(["export", "regions", "--format", "gpkg", "--out", str(tmp_path / "regions.gpkg"), *store])
    main(["export", "hazards", "--format", "gpkg", "--out", str(tmp_path / "hazards.gpkg"), *store])
    template = _get(f"{base}/tiles/enterprises/tilejson.json")["tiles"][0]
    script = tmp_path / "check.py"
    script.write_text(QGIS_CHECK, encoding="utf-8")
    paths = [str(tmp_path / "regions.gpkg"), f"{tmp_path / 'hazards.gpkg'}|layername=hazards_lines"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    run = subprocess.run(
        ["/usr/bin/python3", str(script), template, *paths], capture_output=True, text=True, timeout=300, env=env
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    for path in paths:
        assert out[path]["valid"] and out[path]["renderer"] == "RuleRenderer"
        rules = dict((label, colours) for label, colours in out[path]["rules"])
        assert rules == {STYLES.level_label(lv, "zh"): [COLOURS[lv]] for lv in LEVELS}
    assert out["tiles"] == {"valid": True, "zmax": 16}
