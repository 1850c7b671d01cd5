"""What a vector tileset holds, described for clients: OGC API – Tiles documents, TileJSON 3.0.0 and the
tippecanoe-style ``metadata.json`` that GDAL's MVT driver reads.

Everything is derived at run time from the layer's table (a GeoDataFrame in WGS84): its geometry types, the
columns the tiles carry (``TILE_PROPS`` present in the table, plus the cluster fields of point layers) and its
extent. Nothing here knows a collection by name; the service passes each collection as a :class:`TileLayer`.

Tiles are in the OGC ``WebMercatorQuad`` tile matrix set (the XYZ grid: tileMatrix = z, tileRow = y,
tileCol = x), rendered by :mod:`layers.tiles`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.gisstyles import geometry_groups
from layers.tiles import CLUSTER_FIELDS, EXTENT, MAX_ZOOM, TILE_PROPS, R

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
MVT = "application/vnd.mapbox-vector-tile"
MIN_ZOOM = 0
#: zooms the tile matrix set defines (tiles render up to 24; tilesets advertise MIN_ZOOM..MAX_ZOOM)
TMS_ZOOMS = range(0, 25)
_TILESTATS_GEOMETRY = {"point": "Point", "line": "LineString", "polygon": "Polygon"}
_DIMENSION = {"point": 0, "line": 1, "polygon": 2}
_JSON_TYPE = {"Number": "number", "String": "string", "Boolean": "boolean"}


@dataclass(frozen=True)
class TileLayer:
    """One layer of the tiles: its id (the MVT layer name), title, geometry groups, fields and extent."""

    id: str
    title: str
    description: str
    groups: tuple[str, ...]  # geometry groups present (layers.gisstyles.GROUPS order)
    fields: dict[str, str]  # name -> TileJSON type: Number | String | Boolean
    stats: tuple[dict[str, Any], ...]  # tilestats attributes (GDAL reads integer min/max as integer fields)
    bounds: tuple[float, float, float, float]  # CRS84
    count: int
    admin_level: str | None  # the administrative level of a region layer, None for others

    @property
    def is_region(self) -> bool:
        return self.admin_level is not None

    @property
    def minzoom(self) -> int:
        return MIN_ZOOM

    @property
    def maxzoom(self) -> int:
        return MAX_ZOOM

    @property
    def center(self) -> tuple[float, float, int]:
        x0, y0, x1, y1 = self.bounds
        return (round((x0 + x1) / 2, 6), round((y0 + y1) / 2, 6), overview_zoom(self.bounds))


def tile_layer(cid: str, title: str, description: str, frame: gpd.GeoDataFrame, extent: list[float]) -> TileLayer:
    """Describe the tiles of a collection from its table: what :func:`layers.tiles.render_tile` will put in."""
    groups = geometry_groups(np.asarray(frame.geometry.values, dtype=object))
    cols = [c for c in TILE_PROPS if c in frame.columns]
    fields = {c: _field_type(frame[c]) for c in cols}
    stats = [_stat(c, frame[c], fields[c]) for c in cols]
    if "point" in groups:  # dense point tiles are clustered: the clusters' fields may appear too
        for name, kind in CLUSTER_FIELDS.items():
            if name not in fields:
                fields[name] = kind
                bounds = {"min": 0, "max": max(1, len(frame))} if kind == "Number" else {}  # counts: integers
                stats.append({"attribute": name, "type": _JSON_TYPE[kind], **bounds})
    level = None
    if "admin_level" in frame.columns and len(frame) and frame["admin_level"].nunique() == 1:
        level = str(frame["admin_level"].iloc[0])
    x0, y0, x1, y1 = (float(v) for v in extent)
    return TileLayer(cid, title, description, groups, fields, tuple(stats), (x0, y0, x1, y1), int(len(frame)), level)


def _field_type(col: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(col):
        return "Boolean"
    if pd.api.types.is_numeric_dtype(col):
        return "Number"
    return "String"


def _stat(name: str, col: pd.Series, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"attribute": name, "type": _JSON_TYPE[kind]}
    if kind == "Number" and col.notna().any():
        lo, hi = col.min(), col.max()
        integral = pd.api.types.is_integer_dtype(col) or bool((col.dropna() % 1 == 0).all())
        out["min"], out["max"] = (int(lo), int(hi)) if integral else (float(lo), float(hi))
    return out


# -- the grid ---------------------------------------------------------------------------------------------
def tile_range(bounds: tuple[float, float, float, float], z: int) -> tuple[int, int, int, int]:
    """(minCol, minRow, maxCol, maxRow) of the tiles at zoom z that meet a CRS84 box."""
    n = 2**z
    x0, y0, x1, y1 = bounds

    def col(lon: float) -> int:
        return min(n - 1, max(0, int(math.floor((lon + 180.0) / 360.0 * n))))

    def row(lat: float) -> int:
        lat = max(-85.05112878, min(85.05112878, lat))
        y = (1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2
        return min(n - 1, max(0, int(math.floor(y * n))))

    return col(x0), row(y1), col(x1), row(y0)


def overview_zoom(bounds: tuple[float, float, float, float]) -> int:
    """The largest zoom (up to MAX_ZOOM) at which the box fits in 2×2 tiles: where a client starts."""
    z = MIN_ZOOM
    for zoom in range(MIN_ZOOM, MAX_ZOOM + 1):
        c0, r0, c1, r1 = tile_range(bounds, zoom)
        if c1 - c0 > 1 or r1 - r0 > 1:
            break
        z = zoom
    return z


def tile_matrix_set() -> dict[str, Any]:
    """The OGC 2D Tile Matrix Set 2.0 definition of WebMercatorQuad (JSON encoding)."""
    origin = math.pi * R
    matrices = []
    for z in TMS_ZOOMS:
        cell = 2 * origin / 256 / 2**z
        matrices.append(
            {
                "id": str(z),
                "scaleDenominator": cell / 0.00028,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-origin, origin],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": 2**z,
                "matrixHeight": 2**z,
            }
        )
    return {
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": CRS_3857,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "boundingBox": {
            "lowerLeft": [-origin, -origin],
            "upperRight": [origin, origin],
            "crs": CRS_3857,
            "orderedAxes": ["X", "Y"],
        },
        "tileMatrices": matrices,
    }


def tile_matrix_set_limits(bounds: tuple[float, float, float, float]) -> list[dict[str, Any]]:
    out = []
    for z in range(MIN_ZOOM, MAX_ZOOM + 1):
        c0, r0, c1, r1 = tile_range(bounds, z)
        out.append({"tileMatrix": str(z), "minTileRow": r0, "maxTileRow": r1, "minTileCol": c0, "maxTileCol": c1})
    return out


def union_bounds(layers: list[TileLayer]) -> tuple[float, float, float, float]:
    if not layers:
        return (-180.0, -85.05112878, 180.0, 85.05112878)
    b = np.array([lay.bounds for lay in layers])
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())


# -- documents --------------------------------------------------------------------------------------------
def _properties_schema(lay: TileLayer) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": _JSON_TYPE[v]} for k, v in lay.fields.items()}}


def tileset_doc(title: str, layers: list[TileLayer], links: list[dict[str, Any]]) -> dict[str, Any]:
    """OGC API – Tiles tileset metadata (TMS 2.0 TileSetMetadata) of one or several layers."""
    bounds = union_bounds(layers)
    lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    body: dict[str, Any] = {
        "title": title,
        "dataType": "vector",
        "crs": CRS_3857,
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": tile_matrix_set_limits(bounds),
        "boundingBox": {"lowerLeft": [bounds[0], bounds[1]], "upperRight": [bounds[2], bounds[3]], "crs": CRS84},
        "centerPoint": {"coordinates": [lon, lat], "crs": CRS84, "tileMatrix": str(overview_zoom(bounds))},
        "layers": [],
        "links": links,
    }
    for lay in layers:
        entry: dict[str, Any] = {
            "id": lay.id,
            "title": lay.title,
            "description": lay.description,
            "dataType": "vector",
            "minTileMatrix": str(lay.minzoom),
            "maxTileMatrix": str(lay.maxzoom),
            "boundingBox": {
                "lowerLeft": [lay.bounds[0], lay.bounds[1]],
                "upperRight": [lay.bounds[2], lay.bounds[3]],
                "crs": CRS84,
            },
            "propertiesSchema": _properties_schema(lay),
        }
        if len(lay.groups) == 1:
            entry["geometryDimension"] = _DIMENSION[lay.groups[0]]
        body["layers"].append(entry)
    return body


def vector_layer(lay: TileLayer) -> dict[str, Any]:
    return {
        "id": lay.id,
        "description": lay.description,
        "minzoom": lay.minzoom,
        "maxzoom": lay.maxzoom,
        "fields": {k: v for k, v in lay.fields.items()},
    }


def tilejson(layers: list[TileLayer], tiles_url: str, *, name: str, description: str, version: str) -> dict[str, Any]:
    """TileJSON 3.0.0 of tiles holding ``layers`` at ``tiles_url`` (an XYZ template)."""
    bounds = union_bounds(layers)
    return {
        "tilejson": "3.0.0",
        "name": name,
        "description": description,
        "version": version,
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": min((lay.minzoom for lay in layers), default=MIN_ZOOM),
        "maxzoom": max((lay.maxzoom for lay in layers), default=MAX_ZOOM),
        "bounds": [round(v, 6) for v in bounds],
        "center": [
            round((bounds[0] + bounds[2]) / 2, 6),
            round((bounds[1] + bounds[3]) / 2, 6),
            overview_zoom(bounds),
        ],
        "vector_layers": [vector_layer(lay) for lay in layers],
    }


def gdal_metadata(lay: TileLayer, *, name: str) -> dict[str, Any]:
    """The ``metadata.json`` tippecanoe writes beside ``{z}/{x}/{y}.pbf`` tiles, which GDAL's MVT driver reads
    when it opens ``MVT:<tileset URL>/<z>``: the layer, its field types, geometry type and bounds."""
    stats: dict[str, Any] = {"layer": lay.id, "count": lay.count, "attributeCount": len(lay.stats)}
    if len(lay.groups) == 1:
        stats["geometry"] = _TILESTATS_GEOMETRY[lay.groups[0]]
    stats["attributes"] = list(lay.stats)
    x, y, z = lay.center
    return {
        "name": name,
        "description": lay.description,
        "format": "pbf",
        "type": "overlay",
        "minzoom": str(lay.minzoom),
        "maxzoom": str(lay.maxzoom),
        "bounds": ",".join(f"{v:.6f}" for v in lay.bounds),
        "center": f"{x:.6f},{y:.6f},{z}",
        "extent": EXTENT,
        "json": json.dumps(
            {"vector_layers": [vector_layer(lay)], "tilestats": {"layerCount": 1, "layers": [stats]}},
            ensure_ascii=False,
        ),
    }
