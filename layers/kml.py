"""KML 2.2 writer for the four-colour layers: one shared ``<Style>`` per level (fill, line and icon in the
level's colour), one typed ``<Schema>`` per layer (a ``<SimpleField type="int|double|bool|string">`` per
attribute, from the column's dtype), one ``<Folder>`` per layer, a ``<Placemark>`` per feature with its
attributes as ``<ExtendedData><SchemaData schemaUrl="#…"><SimpleData>``: GDAL's LIBKML and KML drivers (and
so QGIS) read numbers back as Integer/Real fields, not as text. An empty value writes no ``<SimpleData>``
(read back as null).

Text is escaped by ElementTree; the balloon ``<description>`` is HTML in KML viewers, so its values are
HTML-escaped *before* that (a name like ``<img src=x onerror=…>`` shows as text in Google Earth too). No
icon URL is written: viewers use their built-in icon, tinted in the level colour, and nothing is fetched.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.catalogue import LEVELS
from layers.features import clean
from layers.styles import Styles

__all__ = ["kml_color", "kml_document", "kml_field_types"]

NS = "http://www.opengis.net/kml/2.2"
_FILL_ALPHA = {"regions": 0xB3, "hazards": 0x80, "enterprises": 0xFF}  # hazards-*: as hazards


def kml_color(hex_rgb: str, alpha: int = 0xFF) -> str:
    """'#RRGGBB' → KML's 'aabbggrr'."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha:02x}{b}{g}{r}".lower()


def _coords(coords: np.ndarray) -> str:
    return " ".join(f"{x:.7f},{y:.7f}" for x, y in coords[:, :2])


def _geometry(parent: ET.Element, geom: shapely.Geometry) -> None:
    kind = shapely.get_type_id(geom)
    if kind in (4, 5, 6, 7):  # multi-part: a MultiGeometry of the parts
        multi = ET.SubElement(parent, "MultiGeometry")
        for part in shapely.get_parts(geom):
            _geometry(multi, part)
        return
    if kind == 0:
        ET.SubElement(ET.SubElement(parent, "Point"), "coordinates").text = _coords(shapely.get_coordinates(geom))
    elif kind in (1, 2):
        line = ET.SubElement(parent, "LineString")
        ET.SubElement(line, "tessellate").text = "1"
        ET.SubElement(line, "coordinates").text = _coords(shapely.get_coordinates(geom))
    elif kind == 3:
        poly = ET.SubElement(parent, "Polygon")
        geom = shapely.orient_polygons(geom, exterior_cw=False)
        outer = ET.SubElement(ET.SubElement(poly, "outerBoundaryIs"), "LinearRing")
        ET.SubElement(outer, "coordinates").text = _coords(shapely.get_coordinates(geom.exterior))
        for ring in geom.interiors:
            inner = ET.SubElement(ET.SubElement(poly, "innerBoundaryIs"), "LinearRing")
            ET.SubElement(inner, "coordinates").text = _coords(shapely.get_coordinates(ring))


def _styles(doc: ET.Element, what: str, styles: Styles, lang: str) -> None:
    alpha = _FILL_ALPHA.get(what.split("-")[0], 0xB3)
    for code in [*LEVELS, "none"]:
        color = styles.level_color(code) if code in LEVELS else styles.regions.no_data_color
        style = ET.SubElement(doc, "Style", id=f"level-{code}")
        icon = ET.SubElement(style, "IconStyle")
        ET.SubElement(icon, "color").text = kml_color(color)
        ET.SubElement(icon, "scale").text = "0.8"
        line = ET.SubElement(style, "LineStyle")
        ET.SubElement(line, "color").text = kml_color(color if what != "regions" else "#333333")
        ET.SubElement(line, "width").text = "3" if what.startswith("hazards") else "1"
        poly = ET.SubElement(style, "PolyStyle")
        ET.SubElement(poly, "color").text = kml_color(color, alpha)
        ET.SubElement(style, "BalloonStyle")


def _text(value: Any) -> str:
    value = clean(value)
    return "" if value is None else str(value)


def kml_field_types(frame: gpd.GeoDataFrame) -> dict[str, str]:
    """Column → KML ``SimpleField`` type (``int``, ``double``, ``bool`` or ``string``), from the dtypes."""
    types = {}
    for col in frame.columns:
        if col == frame.geometry.name:
            continue
        dtype = frame[col].dtype
        if pd.api.types.is_bool_dtype(dtype):
            types[col] = "bool"
        elif pd.api.types.is_integer_dtype(dtype):
            types[col] = "int"
        elif pd.api.types.is_float_dtype(dtype):
            types[col] = "double"
        else:
            types[col] = "string"
    return types


def _simple_value(value: Any, kind: str) -> str | None:
    value = clean(value)  # NaN/NA → None
    if value is None:
        return None
    if kind == "bool":
        return "1" if value else "0"
    if kind == "int":
        return str(int(value))
    if kind == "double":
        return repr(float(value))
    return str(value)


def _schema(doc: ET.Element, what: str, types: dict[str, str]) -> str:
    schema = ET.SubElement(doc, "Schema", name=what, id=f"{what}-fields")
    for name, kind in types.items():
        ET.SubElement(schema, "SimpleField", type=kind, name=name)
    return f"#{what}-fields"


def kml_document(
    layers: gpd.GeoDataFrame | Sequence[tuple[str, gpd.GeoDataFrame]], what: str, *, styles: Styles, lang: str = "zh"
) -> bytes:
    """A KML document (UTF-8 bytes), one ``<Folder>`` per layer (GDAL reads each folder as a layer), features
    styled by their ``risk_level``. ``layers``: (name, frame) pairs, or one frame (a folder named ``what``);
    lon/lat coordinates."""
    root = ET.Element("kml", xmlns=NS)
    doc = ET.SubElement(root, "Document")
    ET.SubElement(doc, "name").text = what
    _styles(doc, what, styles, lang)
    for name, frame in [(what, layers)] if isinstance(layers, gpd.GeoDataFrame) else layers:
        schema_url = _schema(doc, name, kml_field_types(frame))
        folder = ET.SubElement(doc, "Folder")
        ET.SubElement(folder, "name").text = name
        _placemarks(folder, frame, schema_url, kml_field_types(frame))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _placemarks(folder: ET.Element, frame: gpd.GeoDataFrame, schema_url: str, types: dict[str, str]) -> None:
    fields = [c for c in frame.columns if c != frame.geometry.name]
    for rec, geom in zip(frame[fields].to_dict(orient="records"), frame.geometry.values, strict=True):
        if geom is None or geom.is_empty:
            continue
        pm = ET.SubElement(folder, "Placemark")
        if rec.get("id") is not None:  # GDAL's LIBKML driver reads the `id` field from this attribute
            pm.set("id", _text(rec["id"]))
        ET.SubElement(pm, "name").text = _text(rec.get("name"))
        level = rec.get("risk_level")
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_text(v))}</td></tr>" for k, v in rec.items())
        ET.SubElement(pm, "description").text = f"<table>{rows}</table>"
        ET.SubElement(pm, "styleUrl").text = f"#level-{level if level in LEVELS else 'none'}"
        data = ET.SubElement(ET.SubElement(pm, "ExtendedData"), "SchemaData", schemaUrl=schema_url)
        for key, value in rec.items():
            text = _simple_value(value, types[key])
            if text is not None:
                ET.SubElement(data, "SimpleData", name=key).text = text
        _geometry(pm, geom)
