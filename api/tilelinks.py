"""Where the service's tiles and styles live: URL templates, link relations and conformance classes.

Framework-free, so `api.ogc` (landing page, collection documents) and `api.tilesapi` (the routes) share them.
"""

from __future__ import annotations

from typing import Any

from layers.gisstyles import QML_TYPE, SLD_TYPE
from layers.mapstyle import STYLE_TYPE
from layers.tilesets import TMS_ID, overview_zoom

OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
REL_TILESETS = OGC_REL + "tilesets-vector"
REL_TILING_SCHEMES = OGC_REL + "tiling-schemes"
REL_TILING_SCHEME = OGC_REL + "tiling-scheme"
REL_STYLES = OGC_REL + "styles"
TILEJSON_TYPE = "application/vnd.mapbox.tile+json"
#: the style of a collection (`/collections/{id}/styles/{STYLE_ID}`): rule-based on risk_level
COLLECTION_STYLE_ID = "risk-level"
STYLE_FORMATS = {"mapbox": STYLE_TYPE, "qml": QML_TYPE, "sld": SLD_TYPE}

TILES_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/dataset-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/tilesetmetadata",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilesetmetadata",
]


def xyz_root(base: str, cid: str) -> str:
    """The XYZ tileset of a collection: `{root}/{z}/{x}/{y}.mvt|.pbf`, `{root}/tilejson.json`,
    `{root}/metadata.json` (GDAL: `ogrinfo MVT:{root}/{z}`)."""
    return f"{base}/tiles/{cid}"


def xyz_template(base: str, cid: str, ext: str = "pbf") -> str:
    return f"{xyz_root(base, cid)}/{{z}}/{{x}}/{{y}}.{ext}"


def ogc_template(base: str, cid: str | None) -> str:
    head = f"{base}/collections/{cid}" if cid else base
    return f"{head}/tiles/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"


def landing_links(base: str) -> list[dict[str, Any]]:
    return [
        {"href": f"{base}/tiles", "rel": REL_TILESETS, "type": "application/json", "title": "vector tilesets"},
        {
            "href": f"{base}/tileMatrixSets",
            "rel": REL_TILING_SCHEMES,
            "type": "application/json",
            "title": "tile matrix sets",
        },
        {"href": f"{base}/styles", "rel": REL_STYLES, "type": "application/json", "title": "map styles"},
    ]


def gdal_link(base: str, cid: str, bounds) -> dict[str, Any]:
    """The URL GDAL's MVT driver opens (`ogrinfo MVT:<href>`): the tileset root and a zoom level, here the
    largest at which the collection fits in 2×2 tiles (GDAL reads every tile of that zoom within the bounds
    of `metadata.json`)."""
    return {
        "href": f"{xyz_root(base, cid)}/{overview_zoom(tuple(bounds))}",
        "rel": "alternate",
        "type": "application/vnd.mapbox-vector-tile",
        "title": f"{cid} for GDAL: ogrinfo MVT:<this URL>",
    }


def collection_links(base: str, cid: str, bounds) -> list[dict[str, Any]]:
    url = f"{base}/collections/{cid}"
    return [
        {"href": f"{url}/tiles", "rel": REL_TILESETS, "type": "application/json", "title": f"{cid} vector tilesets"},
        {"href": f"{url}/styles", "rel": REL_STYLES, "type": "application/json", "title": f"{cid} styles"},
        {
            "href": f"{xyz_root(base, cid)}/tilejson.json",
            "rel": "describedby",
            "type": TILEJSON_TYPE,
            "title": f"{cid} TileJSON",
        },
        gdal_link(base, cid, bounds),
    ]
