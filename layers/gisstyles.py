"""Four-colour styles for GIS clients: QGIS (QML), SLD 1.1 / Symbology Encoding, and the sidecars written
beside exports (``.qml``/``.sld`` beside GeoJSON and inside the Shapefile zip, a ``layer_styles`` table in a
GeoPackage, which QGIS loads as the layer's default style).

One rule per risk level, filtering on the level code; colours, labels and widths come from
:class:`layers.styles.Styles` (declared once in ``styles.toml`` and the catalogue), never from here.
"""

from __future__ import annotations

import sqlite3
import struct
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from layers.styles import Styles

QML_TYPE = "application/vnd.qgis.qml"
SLD_TYPE = "application/vnd.ogc.sld+xml;version=1.1"
GROUPS = ("polygon", "line", "point")  # drawing order: areas under lines under points
_TYPE_ID_GROUP = {0: "point", 4: "point", 1: "line", 2: "line", 5: "line", 3: "polygon", 6: "polygon"}
_SHP_GROUP = {1: "point", 11: "point", 21: "point", 8: "point", 3: "line", 13: "line", 23: "line", 5: "polygon"}
_SHP_GROUP.update({15: "polygon", 25: "polygon", 18: "point", 28: "point"})
_QGIS_GEOM = {"point": "Point", "line": "Line", "polygon": "Polygon"}


@dataclass(frozen=True)
class Symbol:
    """How one level draws in one geometry group (sizes in screen pixels)."""

    group: str
    color: str  # #RRGGBB
    opacity: float  # fill opacity (areas) or 1
    stroke: str
    stroke_width: float
    size: float  # point diameter or line width


def symbol(styles: Styles, level: str, group: str, admin_level: str | None = None) -> Symbol:
    """The symbol of a level: a region's fill with its admin outline, a site's polygon, line or point."""
    color = styles.level_color(level)
    if group == "polygon" and admin_level is not None:
        adm = styles.admin_style(admin_level)
        return Symbol(group, color, styles.regions.fill_opacity, adm.color, adm.width, 0.0)
    hz = styles.hazard_style
    if group == "polygon":
        return Symbol(group, color, hz.polygon_fill_opacity, hz.stroke, hz.polygon_width, 0.0)
    if group == "line":
        return Symbol(group, color, 1.0, color, hz.line_width, hz.line_width)
    ent = styles.enterprises
    return Symbol(group, color, 1.0, ent.stroke, ent.stroke_width, 2 * ent.radius)


def geometry_groups(geoms: Iterable) -> tuple[str, ...]:
    arr = np.asarray(list(geoms) if not isinstance(geoms, np.ndarray) else geoms, dtype=object)
    arr = arr[~shapely.is_missing(arr)]
    present = {_TYPE_ID_GROUP.get(int(t)) for t in np.unique(shapely.get_type_id(arr))}
    return tuple(g for g in GROUPS if g in present) or ("point",)


# -- QML --------------------------------------------------------------------------------------------------
def _rgba(hex_color: str, alpha: float = 1.0) -> str:
    h = hex_color.lstrip("#")
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{round(alpha * 255)}"


def _props(layer: ET.Element, props: dict[str, str]) -> None:
    for k, v in props.items():
        ET.SubElement(layer, "prop", k=k, v=v)


def _qml_symbol(parent: ET.Element, name: str, sym: Symbol) -> None:
    kind = {"point": "marker", "line": "line", "polygon": "fill"}[sym.group]
    el = ET.SubElement(parent, "symbol", type=kind, name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    if sym.group == "polygon":
        layer = ET.SubElement(el, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
        _props(
            layer,
            {
                "color": _rgba(sym.color, sym.opacity),
                "style": "solid",
                "outline_color": _rgba(sym.stroke),
                "outline_style": "solid",
                "outline_width": f"{sym.stroke_width:g}",
                "outline_width_unit": "Pixel",
                "joinstyle": "round",
            },
        )
    elif sym.group == "line":
        layer = ET.SubElement(el, "layer", {"class": "SimpleLine", "enabled": "1", "locked": "0", "pass": "0"})
        _props(
            layer,
            {
                "line_color": _rgba(sym.color),
                "line_style": "solid",
                "line_width": f"{sym.size:g}",
                "line_width_unit": "Pixel",
                "capstyle": "round",
                "joinstyle": "round",
            },
        )
    else:
        layer = ET.SubElement(el, "layer", {"class": "SimpleMarker", "enabled": "1", "locked": "0", "pass": "0"})
        _props(
            layer,
            {
                "name": "circle",
                "color": _rgba(sym.color),
                "outline_color": _rgba(sym.stroke),
                "outline_style": "solid",
                "outline_width": f"{sym.stroke_width:g}",
                "outline_width_unit": "Pixel",
                "size": f"{sym.size:g}",
                "size_unit": "Pixel",
            },
        )


def _level_filter(field: str, code: str) -> str:
    return f"\"{field}\" = '{code}'"


def qml(
    styles: Styles,
    groups: tuple[str, ...],
    *,
    field: str = "risk_level",
    lang: str = "zh",
    admin_level: str | None = None,
) -> str:
    """A QGIS layer style: a rule-based renderer with one rule per level (child rules per geometry type when
    the layer mixes points, lines and polygons), the gravest drawn last."""
    root = ET.Element("qgis", version="3.22.0", styleCategories="Symbology")
    renderer = ET.SubElement(
        root, "renderer-v2", type="RuleRenderer", symbollevels="0", enableorderby="1", forceraster="0"
    )
    rules = ET.SubElement(renderer, "rules", key="{root}")
    symbols = ET.Element("symbols")
    for lv in styles.resolved_levels:
        label = styles.level_label(lv.code, lang)
        rule = ET.SubElement(rules, "rule", key=f"{{{lv.code}}}", label=label, filter=_level_filter(field, lv.code))
        if len(groups) == 1:
            rule.set("symbol", str(len(symbols)))
            _qml_symbol(symbols, str(len(symbols)), symbol(styles, lv.code, groups[0], admin_level))
            continue
        for g in groups:
            ET.SubElement(
                rule,
                "rule",
                key=f"{{{lv.code}-{g}}}",
                label=f"{label} ({g})",
                filter=f"geometry_type($geometry) = '{_QGIS_GEOM[g]}'",
                symbol=str(len(symbols)),
            )
            _qml_symbol(symbols, str(len(symbols)), symbol(styles, lv.code, g, admin_level))
    renderer.append(symbols)
    rank = " ".join(f"WHEN {_level_filter(field, lv.code)} THEN {lv.rank}" for lv in styles.resolved_levels)
    orderby = ET.SubElement(renderer, "orderby")
    clause = ET.SubElement(orderby, "orderByClause", asc="0", nullsFirst="1")
    clause.text = f"CASE {rank} END"
    if len(groups) == 1:  # QGIS refuses a style declared for another geometry type; a mixed one declares none
        ET.SubElement(root, "layerGeometryType").text = {"point": "0", "line": "1", "polygon": "2"}[groups[0]]
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


# -- SLD 1.1 / SE ---------------------------------------------------------------------------------------
SLD = "http://www.opengis.net/sld"
SE = "http://www.opengis.net/se"
OGC = "http://www.opengis.net/ogc"


def _se(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{SE}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _svg(parent: ET.Element, name: str, value: str) -> None:
    _se(parent, "SvgParameter", value, name=name)


def _sld_symbolizer(rule: ET.Element, sym: Symbol) -> None:
    if sym.group == "polygon":
        s = _se(rule, "PolygonSymbolizer")
        fill = _se(s, "Fill")
        _svg(fill, "fill", sym.color)
        _svg(fill, "fill-opacity", f"{sym.opacity:g}")
        stroke = _se(s, "Stroke")
        _svg(stroke, "stroke", sym.stroke)
        _svg(stroke, "stroke-width", f"{sym.stroke_width:g}")
    elif sym.group == "line":
        s = _se(rule, "LineSymbolizer")
        stroke = _se(s, "Stroke")
        _svg(stroke, "stroke", sym.color)
        _svg(stroke, "stroke-width", f"{sym.size:g}")
        _svg(stroke, "stroke-linecap", "round")
    else:
        s = _se(rule, "PointSymbolizer")
        graphic = _se(s, "Graphic")
        mark = _se(graphic, "Mark")
        _se(mark, "WellKnownName", "circle")
        fill = _se(mark, "Fill")
        _svg(fill, "fill", sym.color)
        stroke = _se(mark, "Stroke")
        _svg(stroke, "stroke", sym.stroke)
        _svg(stroke, "stroke-width", f"{sym.stroke_width:g}")
        _se(graphic, "Size", f"{sym.size:g}")


def sld(
    styles: Styles,
    name: str,
    groups: tuple[str, ...],
    *,
    field: str = "risk_level",
    lang: str = "zh",
    admin_level: str | None = None,
) -> str:
    """An SLD 1.1 document (Symbology Encoding 1.1): one rule per level with a symbolizer per geometry type."""
    ET.register_namespace("", SLD)
    ET.register_namespace("se", SE)
    ET.register_namespace("ogc", OGC)
    root = ET.Element(f"{{{SLD}}}StyledLayerDescriptor", version="1.1.0")
    layer = ET.SubElement(root, f"{{{SLD}}}NamedLayer")
    _se(layer, "Name", name)
    user = ET.SubElement(layer, f"{{{SLD}}}UserStyle")
    _se(user, "Name", f"{name} {styles.t('risk_level', lang)}")
    fts = _se(user, "FeatureTypeStyle")
    for lv in reversed(styles.resolved_levels):  # SE draws rules in order: the gravest last, on top
        rule = _se(fts, "Rule")
        _se(rule, "Name", lv.code)
        _se(_se(rule, "Description"), "Title", styles.level_label(lv.code, lang))
        flt = ET.SubElement(rule, f"{{{OGC}}}Filter")
        eq = ET.SubElement(flt, f"{{{OGC}}}PropertyIsEqualTo")
        ET.SubElement(eq, f"{{{OGC}}}PropertyName").text = field
        ET.SubElement(eq, f"{{{OGC}}}Literal").text = lv.code
        for g in groups:
            _sld_symbolizer(rule, symbol(styles, lv.code, g, admin_level))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


# -- sidecars beside exports ----------------------------------------------------------------------------
def _admin_level(frame) -> str | None:
    if "admin_level" in frame.columns and len(frame) and frame["admin_level"].nunique() == 1:
        return str(frame["admin_level"].iloc[0])
    return None


def _part_groups(name: str, frame) -> tuple[str, ...]:
    """The geometry group(s) of one exported layer: from its features, or from its name when it is empty."""
    if len(frame):
        return geometry_groups(frame.geometry.values)
    return next(((g,) for g in GROUPS if name.endswith((f"_{g}s", f"-{g}s"))), ("point",))


def write_sidecars(
    fmt: str, out: Path, parts: list[tuple[str, Any]], what: str, styles: Styles, lang: str = "zh"
) -> list[str]:
    """Write the styles of an export beside it where the format allows; return what was written.

    `parts` are the export's layers as (name, frame): one, or one per geometry type (hazards). A GeoPackage
    gets a `layer_styles` row per layer; GeoJSON a `.qml`/`.sld` beside the file, or beside each file inside
    the zip of several; a Shapefile zip one pair per `.shp`.
    """
    if fmt == "gpkg":
        for name, frame in parts:
            groups, admin = _part_groups(name, frame), _admin_level(frame)
            add_layer_styles(out, name, qml(styles, groups, lang=lang, admin_level=admin), sld(styles, name, groups))
        return ["layer_styles"]
    if fmt == "geojson" and len(parts) == 1:
        name, frame = parts[0]
        groups, admin = _part_groups(name, frame), _admin_level(frame)
        out.with_suffix(".qml").write_text(qml(styles, groups, lang=lang, admin_level=admin), encoding="utf-8")
        out.with_suffix(".sld").write_text(sld(styles, what, groups, lang=lang, admin_level=admin), encoding="utf-8")
        return [out.with_suffix(".qml").name, out.with_suffix(".sld").name]
    if fmt == "geojson":  # a zip of one GeoJSON file per part
        written = []
        with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, frame in parts:
                groups, admin = _part_groups(name, frame), _admin_level(frame)
                zf.writestr(f"{name}.qml", qml(styles, groups, lang=lang, admin_level=admin))
                zf.writestr(f"{name}.sld", sld(styles, name, groups, lang=lang, admin_level=admin))
                written += [f"{name}.qml", f"{name}.sld"]
        return written
    if fmt == "shp":
        from layers.export import export_fields

        field = {f.name: f.shp for f in export_fields()[what]}.get("risk_level", "risk_level")
        return _shp_sidecars(out, styles, lang, _admin_level(parts[0][1]), field)
    return []


def _shp_sidecars(out: Path, styles: Styles, lang: str, admin: str | None, field: str) -> list[str]:
    written = []
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in [n for n in zf.namelist() if n.endswith(".shp")]:
            shape_type = struct.unpack("<i", zf.read(name)[32:36])[0]
            groups = (_SHP_GROUP.get(shape_type, "point"),)
            stem = name[: -len(".shp")]
            zf.writestr(f"{stem}.qml", qml(styles, groups, field=field, lang=lang, admin_level=admin))
            zf.writestr(f"{stem}.sld", sld(styles, stem, groups, field=field, lang=lang, admin_level=admin))
            written += [f"{stem}.qml", f"{stem}.sld"]
    return written


LAYER_STYLES_DDL = """CREATE TABLE layer_styles (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
    styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30),
    ui TEXT(30), update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""


def add_layer_styles(gpkg: Path, table: str, style_qml: str, style_sld: str, *, description: str = "") -> None:
    """Add (or replace) the default style of ``table`` in the GeoPackage's ``layer_styles`` table, the one QGIS
    reads: registered in gpkg_contents as an attributes table, as QGIS itself creates it."""
    with sqlite3.connect(gpkg) as db:
        row = db.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (table,)).fetchone()
        geom_col = row[0] if row else "geom"
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='layer_styles'").fetchone()
        if not exists:
            db.execute(LAYER_STYLES_DDL)
            db.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles', "
                "strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
            )
        db.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (table,))
        db.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
            "styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
            "VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, 'riskmap', NULL, ?)",
            (
                table,
                geom_col,
                table,
                style_qml,
                style_sld,
                description or f"{table}: four-colour risk levels",
                datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            ),
        )
