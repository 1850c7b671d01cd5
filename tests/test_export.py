"""Exports read back with GDAL (pyogrio, and the `ogrinfo` command): counts, CRS, values, Chinese text."""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.catalogue import LEVELS
from geo.crs import wgs84_to_gcj02
from geo.snapshot import publish
from geo.store import Store
from layers.export import LAYERS, ExportRejected, export_fields, export_layer, zipped
from layers.kml import kml_color
from layers.sample import sample_tables
from layers.styles import load_styles
from layers.view import MapView
from tests.conftest import require_tool

HOSTILE = "<img src=x onerror=alert(1)>"
VECTOR = ("geojson", "gpkg", "shp", "kml", "csv", "parquet")
COUNTS = [*(f"n_{lv}_units" for lv in LEVELS), *(f"n_{lv}_sites" for lv in LEVELS)]
REQUIRED_REGION = ["adcode", "name", "parent_adcode", "domain", "risk_level", "risk_level_zh", "risk_index", *COUNTS]


@pytest.fixture(scope="module")
def snap(tmp_path_factory, boundaries):
    store = Store.open(tmp_path_factory.mktemp("export") / "store")
    store.write("boundaries", boundaries)
    units, hazards, regions = sample_tables(boundaries, n_units=300, seed=2, hostile_name=HOSTILE)
    # a long Chinese text, to check the shapefile cuts it on a character boundary
    row = regions.index[(regions["admin_level"] == "county") & (regions["domain"] == "all")][-1]
    regions.at[row, "rules"] = ["规则" * 200]
    return publish(store, units, hazards, regions, meta={"as_of": "2026-11-01"})


def _expected(snap, what: str, domain: str = "all", level: str = "county") -> int:
    if what == "regions":
        r = snap.regions()
        return int(((r["admin_level"] == level) & (r["domain"] == domain)).sum())
    if what == "enterprises":
        u = snap.units(columns=["domain"])
        return len(u) if domain == "all" else int((u["domain"] == domain).sum())
    return len(snap.hazards())


def _path(tmp_path: Path, what: str, fmt: str) -> Path:
    return tmp_path / (f"{what}.{fmt}" + (".zip" if zipped(what, fmt) else ""))


def _sources(path: Path, fmt: str) -> list[str]:
    """The GDAL datasources of an export: the file, a zipped Shapefile's folder, or each file of a zip."""
    if fmt == "shp":
        return [f"/vsizip/{path}"]
    if zipfile.is_zipfile(path):
        names = zipfile.ZipFile(path).namelist()
        return [f"/vsizip/{path}/{name}" for name in names if name.endswith(f".{fmt}")]
    return [str(path)]


def _layers(path: Path, fmt: str) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of the export by name (all hazard sites: one layer per geometry type)."""
    out = {}
    for src in _sources(path, fmt):
        if fmt == "parquet" and src.startswith("/vsizip/"):
            name = src.rsplit("/", 1)[1]
            out[Path(name).stem] = gpd.read_parquet(io.BytesIO(zipfile.ZipFile(path).read(name)))
            continue
        if fmt == "parquet":
            out[path.stem] = gpd.read_parquet(src)
            continue
        for name, _ in pyogrio.list_layers(src):
            if name != "layer_styles":  # the GIS styles table QGIS reads, not data
                out[str(name)] = pyogrio.read_dataframe(src, layer=name)
    return out


def _read_all(path: Path, fmt: str) -> gpd.GeoDataFrame:
    frames = list(_layers(path, fmt).values())
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _ogrinfo(path: Path, fmt: str) -> tuple[int, str]:
    text = ""
    for src in _sources(path, fmt):
        out = subprocess.run(["ogrinfo", "-so", "-al", src], capture_output=True, text=True, check=True)
        text += out.stdout
    layers = [part for part in text.split("Layer name: ")[1:] if not part.startswith("layer_styles\n")]
    counts = [int(n) for part in layers for n in re.findall(r"^Feature Count: (\d+)", part, re.M)]
    return sum(counts), text


# -- every layer × every vector format ----------------------------------------------------------------------
@pytest.mark.parametrize("what", ["regions", "enterprises", "hazards"])
@pytest.mark.parametrize("fmt", VECTOR)
def test_export_reads_back(snap, boundaries, tmp_path, what, fmt):
    path = _path(tmp_path, what, fmt)
    n = export_layer(snap, boundaries, what, fmt, path)
    assert n == _expected(snap, what) > 0
    frame = _read_all(path, fmt)
    assert len(frame) == n
    assert all(
        f.name in frame.columns or f.shp in frame.columns or f.name.capitalize() in frame.columns
        for f in export_fields()[what]
    ), frame.columns
    names = frame["name"] if "name" in frame else frame["Name"]
    if what != "regions":
        assert HOSTILE in set(names)  # untrusted text kept verbatim (and never interpreted)
    assert any(re.search("[\u4e00-\u9fff]", str(v)) for v in names)  # Chinese intact
    if fmt not in ("csv",):
        src = _sources(path, fmt)[0]
        crs = frame.crs.to_string() if fmt == "parquet" else pyogrio.read_info(src, layer=0)["crs"]
        assert crs == "EPSG:4326", crs


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml", "csv"])
def test_ogrinfo_counts_and_crs(snap, boundaries, tmp_path, fmt):
    require_tool("ogrinfo")
    for what in ("regions", "enterprises", "hazards"):
        path = _path(tmp_path, what, fmt)
        n = export_layer(snap, boundaries, what, fmt, path)
        count, text = _ogrinfo(path, fmt)
        assert count == n, (what, fmt, text[:500])
        if fmt != "csv":
            assert 'ID["EPSG",4326]' in text, text[:800]


def test_region_values_match_the_snapshot(snap, boundaries, tmp_path):
    path = tmp_path / "regions.gpkg"
    export_layer(snap, boundaries, "regions", "gpkg", path, view=MapView(domain="hazchem", level="city"))
    got = pyogrio.read_dataframe(path).set_index("adcode")
    want = snap.regions()
    want = want.loc[(want["admin_level"] == "city") & (want["domain"] == "hazchem")].set_index("adcode")
    assert sorted(got.index) == sorted(want.index)
    for col in ["name", "risk_level", "risk_level_zh", *COUNTS, "n_units", "n_hazards"]:
        assert (got.loc[want.index, col].astype(str) == want[col].astype(str)).all(), col
    assert np.allclose(got.loc[want.index, "risk_index"], want["risk_index"])
    assert set(got["domain"]) == {"hazchem"}


def test_enterprise_fields(snap, boundaries, tmp_path):
    path = tmp_path / "e.csv"
    export_layer(snap, boundaries, "enterprises", "csv", path, view=MapView(domain="fire"))
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    table = pd.read_csv(path, encoding="utf-8-sig", dtype={"id": str, "county_adcode": str})
    for col in ["id", "name", "domain", "lon", "lat", "risk_score", "risk_level", "risk_level_zh", "override"]:
        assert col in table.columns
    assert set(table["domain"]) == {"fire"} and set(table["risk_level"]) <= set(LEVELS)
    units = snap.units(columns=["id", "risk_score", "override"]).set_index("id")
    assert np.allclose(table.set_index("id")["risk_score"], units.loc[table["id"], "risk_score"])


def test_region_csv_has_the_required_columns(snap, boundaries, tmp_path):
    path = tmp_path / "r.csv"
    export_layer(snap, boundaries, "regions", "csv", path)
    table = pd.read_csv(path, encoding="utf-8-sig", dtype={"adcode": str, "parent_adcode": str})
    assert list(table.columns[: len(REQUIRED_REGION)]) != []  # order is the declared one
    assert all(c in table.columns for c in REQUIRED_REGION)
    assert table["adcode"].str.fullmatch(r"\d{6}").all() and table["risk_level_zh"].str.contains("风险").all()


# -- coordinate systems ---------------------------------------------------------------------------------
def test_cgcs2000_is_labelled_4490_with_the_same_coordinates(snap, boundaries, tmp_path):
    for fmt in ("gpkg", "shp"):
        path = _path(tmp_path, "enterprises", fmt)
        export_layer(snap, boundaries, "enterprises", fmt, path, crs="cgcs2000")
        info = pyogrio.read_info(_sources(path, fmt)[0])
        assert info["crs"] == "EPSG:4490", (fmt, info["crs"])
        frame = pyogrio.read_dataframe(_sources(path, fmt)[0])
        assert np.allclose(frame.geometry.x, frame["lon"]) and frame["lon"].between(118, 123).all()
    require_tool("ogrinfo")
    _, text = _ogrinfo(_path(tmp_path, "enterprises", "gpkg"), "gpkg")
    assert 'ID["EPSG",4490]' in text


def test_gcj02_is_shifted_and_labelled_wgs84(snap, boundaries, tmp_path):
    plain, shifted = tmp_path / "w.gpkg", tmp_path / "g.gpkg"
    export_layer(snap, boundaries, "enterprises", "gpkg", plain)
    export_layer(snap, boundaries, "enterprises", "gpkg", shifted, crs="gcj02")
    a, b = pyogrio.read_dataframe(plain), pyogrio.read_dataframe(shifted)
    assert pyogrio.read_info(shifted)["crs"] == "EPSG:4326"  # no EPSG code exists for GCJ-02
    gx, gy = wgs84_to_gcj02(a.geometry.x.to_numpy(), a.geometry.y.to_numpy())
    assert np.allclose(b.geometry.x, gx, atol=1e-7) and np.allclose(b.geometry.y, gy, atol=1e-7)
    assert (np.abs(b.geometry.x - a.geometry.x) > 0.002).all()


def test_projected_epsg(snap, boundaries, tmp_path):
    path = tmp_path / "r.gpkg"
    export_layer(snap, boundaries, "regions", "gpkg", path, crs="EPSG:3857")
    frame = pyogrio.read_dataframe(path)
    assert pyogrio.read_info(path)["crs"] == "EPSG:3857"
    assert frame.total_bounds[0] > 1e7  # metres
    with pytest.raises(ExportRejected, match="RFC 7946"):
        export_layer(snap, boundaries, "regions", "geojson", tmp_path / "r.geojson", crs="EPSG:3857")


# -- format specifics -----------------------------------------------------------------------------------
def test_geojson_is_rfc7946(snap, boundaries, tmp_path):
    path = tmp_path / "r.geojson"
    export_layer(snap, boundaries, "regions", "geojson", path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    geoms = [shapely.geometry.shape(f["geometry"]) for f in doc["features"]]
    for g in geoms:
        for poly in shapely.get_parts(g):
            assert poly.exterior.is_ccw  # right-hand rule: exterior rings counter-clockwise
    xs = np.concatenate([shapely.get_coordinates(g)[:, 0] for g in geoms])
    assert (xs > 118).all() and (xs < 123.5).all()  # longitude first


def test_shapefile_zip_utf8_and_field_mapping(snap, boundaries, tmp_path):
    path = tmp_path / "regions.zip"
    export_layer(snap, boundaries, "regions", "shp", path)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert {"regions.shp", "regions.shx", "regions.dbf", "regions.prj", "regions.cpg", "FIELDS.csv"} <= names
        assert zf.read("regions.cpg").decode().strip().upper() in ("UTF-8", "UTF8")
        mapping = pd.read_csv(io.BytesIO(zf.read("FIELDS.csv")), encoding="utf-8-sig")
    assert dict(zip(mapping["field"], mapping["shapefile_field"], strict=True))["parent_adcode"] == "parent_cd"
    frame = pyogrio.read_dataframe(f"/vsizip/{path}")
    assert all(len(c) <= 10 for c in frame.columns)
    assert set(mapping["shapefile_field"]) <= set(frame.columns) | {"geometry"}
    long_text = [v for v in frame["rules"] if isinstance(v, str) and v.startswith("规则")]
    assert long_text and all(len(v.encode("utf-8")) <= 254 and v == "规则" * (len(v) // 2) for v in long_text)


KIND_TYPES = {"points": {"Point"}, "lines": {"MultiLineString"}, "polygons": {"MultiPolygon"}}
#: what GDAL declares per layer (a Shapefile does not tell a line from a multi-line; KML declares nothing)
OGR_TYPES = {
    "gpkg": {"points": "Point", "lines": "Multi Line String", "polygons": "Multi Polygon"},
    "geojson": {"points": "Point", "lines": "Multi Line String", "polygons": "Multi Polygon"},
    "shp": {"points": "Point", "lines": "Line String", "polygons": "Polygon"},
    "kml": {"points": "Unknown (any)", "lines": "Unknown (any)", "polygons": "Unknown (any)"},
}


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson", "kml", "parquet"])
def test_hazards_export_one_layer_per_geometry_type(snap, boundaries, tmp_path, fmt):
    path = _path(tmp_path, "hazards", fmt)
    n = export_layer(snap, boundaries, "hazards", fmt, path)
    layers = _layers(path, fmt)
    assert set(layers) == {"hazards_points", "hazards_lines", "hazards_polygons"}
    hazards = snap.hazards()
    dims = shapely.get_dimensions(np.asarray(hazards.geometry.values, dtype=object))
    for kind, dim in (("points", 0), ("lines", 1), ("polygons", 2)):
        frame = layers[f"hazards_{kind}"]
        types = set(frame.geom_type)
        if fmt == "shp" and kind != "points":  # read back as single parts where a feature has one
            types = {t if t.startswith("Multi") else f"Multi{t}" for t in types}
        assert types == KIND_TYPES[kind], (kind, types)
        assert sorted(frame["id"]) == sorted(hazards.loc[dims == dim, "id"])
    assert sum(len(f) for f in layers.values()) == n == len(hazards)


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson", "kml"])
def test_ogrinfo_declares_one_geometry_type_per_layer(snap, boundaries, tmp_path, fmt):
    require_tool("ogrinfo")
    path = _path(tmp_path, "hazards", fmt)
    export_layer(snap, boundaries, "hazards", fmt, path)
    _, text = _ogrinfo(path, fmt)
    declared = dict(re.findall(r"^Layer name: hazards_(\w+)$.*?^Geometry: (.+?)$", text, re.M | re.S))
    assert declared == OGR_TYPES[fmt], text[:1500]
    for what, want in (("regions", "Multi Polygon"), ("enterprises", "Point")):
        if fmt == "kml":
            continue
        path = _path(tmp_path, what, fmt)
        export_layer(snap, boundaries, what, fmt, path)
        text = "".join(p for p in _ogrinfo(path, fmt)[1].split("Layer name: ") if not p.startswith("layer_styles\n"))
        got = re.findall(r"^Geometry: (.+)$", text, re.M)
        assert got == [want if fmt != "shp" else want.removeprefix("Multi ")], (what, got)


def test_regions_export_as_multipolygons_only(snap, boundaries, tmp_path):
    mixed = boundaries.copy()  # boundaries added from a file often hold single Polygons
    one_part = shapely.get_num_geometries(np.asarray(mixed.geometry.values, dtype=object)) == 1
    mixed.loc[one_part, "geometry"] = [shapely.get_geometry(g, 0) for g in mixed.geometry[one_part]]
    assert {"Polygon", "MultiPolygon"} <= set(mixed.loc[mixed["admin_level"] == "county"].geom_type)
    for fmt in ("gpkg", "geojson", "kml", "parquet"):
        path = _path(tmp_path, "regions", fmt)
        assert export_layer(snap, mixed, "regions", fmt, path) == 90
        assert set(_read_all(path, fmt).geom_type) == {"MultiPolygon"}, fmt


@pytest.mark.parametrize("kind", ["points", "lines", "polygons"])
def test_one_kind_of_hazard_site(snap, boundaries, tmp_path, kind):
    assert f"hazards-{kind}" in LAYERS
    frames = {}
    for fmt in ("geojson", "gpkg", "csv"):
        path = tmp_path / f"h.{fmt}"
        frames[fmt] = n = export_layer(snap, boundaries, f"hazards-{kind}", fmt, path)
        if fmt != "csv":
            assert set(_read_all(path, fmt).geom_type) == KIND_TYPES[kind]
    assert len(set(frames.values())) == 1 and n > 0
    with pytest.raises(ExportRejected, match="draws every hazard site"):
        export_layer(snap, boundaries, f"hazards-{kind}", "png", tmp_path / "h.png")


def test_kml_is_styled_in_the_four_colours(snap, boundaries, tmp_path):
    path = tmp_path / "r.kml"
    n = export_layer(snap, boundaries, "regions", "kml", path)
    text = path.read_text(encoding="utf-8")
    st = load_styles()
    for lv in LEVELS:
        assert f'<Style id="level-{lv}">' in text
        assert kml_color(st.level_color(lv), 0xB3) in text
    assert kml_color("#FF0000") == "ff0000ff" and kml_color("#0070FF") == "ffff7000"
    assert text.count("<Placemark>") == n and "#level-red" in text
    assert "<img" not in text  # untrusted text is escaped twice in balloons (KML descriptions are HTML)
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == n and all(re.search("[\u4e00-\u9fff]", v) for v in frame["Name"])


def test_png_print_map(snap, boundaries, tmp_path):
    from PIL import Image

    path = tmp_path / "r.png"
    n = export_layer(snap, boundaries, "regions", "png", path)
    assert n == _expected(snap, "regions")
    img = Image.open(path)
    st = load_styles()
    assert img.size == (round(st.print.width_in * st.print.dpi), round(st.print.height_in * st.print.dpi))
    px = np.asarray(img.convert("RGB"), dtype=np.int32)
    for lv in LEVELS:
        rgb = np.array([int(st.level_color(lv)[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(px - rgb).sum(axis=2) <= 12).sum() > 5000, lv


def test_html_export_is_one_self_contained_file(snap, boundaries, tmp_path):
    path = tmp_path / "map.html"
    n = export_layer(snap, boundaries, "regions", "html", path, view=MapView(level="city"))
    html = path.read_text(encoding="utf-8")
    assert n == _expected(snap, "regions", level="city")
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["'](?!data:)""", html) and "leaflet" in html.lower()


def test_rejections(snap, boundaries, tmp_path):
    with pytest.raises(ExportRejected, match="choose one of"):
        export_layer(snap, boundaries, "regions", "xlsx", tmp_path / "x.xlsx")
    with pytest.raises(ExportRejected, match="cannot export"):
        export_layer(snap, boundaries, "towns", "csv", tmp_path / "x.csv")
    with pytest.raises(ExportRejected, match="KML"):
        export_layer(snap, boundaries, "regions", "kml", tmp_path / "x.kml", crs="EPSG:3857")
    assert not list(tmp_path.glob("x.*")) and not list(tmp_path.glob(".*"))  # nothing half-written left
