"""OGC API – Features over the published snapshot: Part 1 (Core, GeoJSON, HTML), Part 2 (CRS) and Part 3
(queryables, CQL2 filters), with sorting and property selection.

Framework-free helpers: each function takes a `View` and plain parameters and returns a dict (JSON) that
`api.app` serves as JSON or renders as HTML. The CRSs live in `api.crs`, the filters in `api.cql`, what a
collection holds in `api.queryables`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely
from pygeofilter import ast

from api import cql, queryables, tilelinks
from api.crs import CRS84, STORAGE, URIS, OfferedCRS, bbox_to_storage, from_storage, parse_crs
from api.sqlview import SqlCollection
from api.state import Collection, View
from geo.errors import InputRejected, UnitNotFound

_F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
_F3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
CONFORMANCE = [
    _F1 + "core",
    _F1 + "geojson",
    _F1 + "html",
    _F1 + "oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    _F3 + "queryables",
    _F3 + "queryables-query-parameters",
    _F3 + "filter",
    _F3 + "features-filter",
    _CQL2 + "cql2-text",
    _CQL2 + "cql2-json",
    _CQL2 + "basic-cql2",
    _CQL2 + "advanced-comparison-operators",
    _CQL2 + "property-property",
    _CQL2 + "basic-spatial-functions",
    _CQL2 + "basic-spatial-functions-plus",
    _CQL2 + "spatial-functions",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-features-6/1.0/conf/property-selection",
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sorting",
    *tilelinks.TILES_CONFORMANCE,
]
GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
#: the query parameters of /items besides `name=value` property filters (the route declares the first five)
ITEMS_PARAMS = (
    "bbox",
    "limit",
    "offset",
    "datetime",
    "f",
    "bbox-crs",
    "crs",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
    "skipGeometry",
)
ITEM_PARAMS = ("f", "datetime", "crs", "properties", "skipGeometry")


def landing(base: str, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": "Four-colour safety-risk layers (regions, enterprises, hazard sites) as OGC API – Features",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "this document"},
            {
                "href": f"{base}/?f=html",
                "rel": "alternate",
                "type": "text/html",
                "title": "this document as HTML",
            },
            {
                "href": f"{base}/openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "the API definition",
            },
            {
                "href": f"{base}/docs",
                "rel": "service-doc",
                "type": "text/html",
                "title": "the API documentation",
            },
            {
                "href": f"{base}/conformance",
                "rel": "conformance",
                "type": "application/json",
                "title": "conformance",
            },
            {
                "href": f"{base}/collections",
                "rel": "data",
                "type": "application/json",
                "title": "collections",
            },
            {"href": f"{base}/map", "rel": "alternate", "type": "text/html", "title": "the four-colour map"},
            *tilelinks.landing_links(base),
        ],
    }


def collection_doc(base: str, c: Collection, view: View) -> dict[str, Any]:
    url = f"{base}/collections/{c.id}"
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": list(URIS),
        "storageCrs": STORAGE.uri,
        "extent": {
            "spatial": {"bbox": [c.extent], "crs": CRS84},
            "temporal": {"interval": [[str(view.as_of) + "T00:00:00Z", str(view.as_of) + "T00:00:00Z"]]},
        },
        "queryables": list(queryables.properties(c)),
        "links": [
            {"href": url, "rel": "self", "type": "application/json", "title": c.title},
            {"href": f"{url}?f=html", "rel": "alternate", "type": "text/html", "title": c.title},
            {"href": f"{url}/items", "rel": "items", "type": GEOJSON, "title": f"{c.title} (GeoJSON)"},
            {
                "href": f"{url}/items?f=html",
                "rel": "items",
                "type": "text/html",
                "title": f"{c.title} (HTML)",
            },
            *tilelinks.collection_links(base, c.id, c.extent),
            {
                "href": f"{url}/queryables",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": SCHEMA_JSON,
                "title": "what filter may name",
            },
            {
                "href": f"{url}/schema",
                # not also `describedby`: GDAL's OAPIF driver would fetch it on every open, one more request
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/schema",
                "type": SCHEMA_JSON,
                "title": "the features' schema",
            },
        ],
    }


def collections_doc(base: str, view: View) -> dict[str, Any]:
    return {
        "links": [
            {
                "href": f"{base}/collections",
                "rel": "self",
                "type": "application/json",
                "title": "collections",
            },
            {
                "href": f"{base}/collections?f=html",
                "rel": "alternate",
                "type": "text/html",
                "title": "collections",
            },
        ],
        "collections": [collection_doc(base, c, view) for c in view.collections.values()],
    }


def parse_bbox(text: str | None, crs: OfferedCRS = STORAGE) -> tuple[float, float, float, float] | None:
    """`bbox` as CRS84 minLon, minLat, maxLon, maxLat; given in `crs` (`bbox-crs`), corners in its axis order."""
    if not text:
        return None
    order = "minLon,minLat,maxLon,maxLat" if crs is STORAGE else f"the two corners in the axis order of {crs.uri}"
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError as exc:
        raise InputRejected(f"bbox={text!r}: four numbers {order} expected") from exc
    if len(parts) == 6:
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise InputRejected(f"bbox={text!r}: four numbers {order} expected")
    if crs is not STORAGE:
        return bbox_to_storage(parts, crs)
    x0, y0, x1, y1 = parts
    if y0 > y1 or not (-90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise InputRejected(f"bbox={text!r}: latitudes must be -90..90 with minLat <= maxLat")
    return x0, y0, x1, y1


def parse_datetime(text: str | None) -> date | None:
    if not text:
        return None
    head = text.split("/")[0].split("T")[0]
    if "/" in text and text.split("/")[-1].split("T")[0] not in ("", "..", head):
        raise InputRejected(f"datetime={text!r}: an instant (the as-of date) is expected, not an interval")
    try:
        return date.fromisoformat(head)
    except ValueError as exc:
        raise InputRejected(f"datetime={text!r}: a date YYYY-MM-DD (or RFC 3339 instant) is expected") from exc


@dataclass(frozen=True)
class FeatureQuery:
    """What an /items (or one item) request asks for, parsed and checked against the collection."""

    bbox: tuple[float, float, float, float] | None = None
    crs: OfferedCRS = STORAGE
    filter: ast.Node | None = None
    filter_crs: OfferedCRS = STORAGE
    sortby: tuple[tuple[str, bool], ...] = ()  # (property, ascending)
    properties: tuple[str, ...] | None = None
    skip_geometry: bool = False


def _listed(text: str, parameter: str, known: Mapping[str, Any], cid: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [n.lstrip("+-") for n in names if n.lstrip("+-") not in known]
    if unknown:
        raise InputRejected(
            f"{parameter}={text!r}: {', '.join(map(repr, unknown))} not a property of {cid}; "
            f"properties are {', '.join(known)}"
        )
    return names


def _flag(text: str | None, parameter: str) -> bool:
    if text in (None, "false"):
        return False
    if text == "true":
        return True
    raise InputRejected(f"{parameter}={text!r}: true or false is expected")


def feature_query(c: Collection, params: Mapping[str, str], *, single: bool = False) -> FeatureQuery:
    """Parse the query parameters of /items (or, `single`, of one item); anything not understood is a 400."""
    allowed = ITEM_PARAMS if single else ITEMS_PARAMS
    props = queryables.properties(c)
    if single:
        extra = sorted(set(params) - set(allowed))
        if extra:
            raise InputRejected(f"unknown parameter {extra[0]!r} for one feature; use {', '.join(allowed)}")
    conditions = [cql.equals(k, v, props, c.id) for k, v in params.items() if k not in allowed]
    filter_crs = parse_crs(params.get("filter-crs"), "filter-crs")
    if params.get("filter"):
        conditions.append(cql.parse(params["filter"], params.get("filter-lang")))
    elif "filter-lang" in params or "filter-crs" in params:
        raise InputRejected("filter-lang and filter-crs go with a filter parameter")
    node = None
    for condition in conditions:
        node = condition if node is None else ast.And(node, condition)
    sortby = tuple(
        (name.lstrip("+-"), not name.startswith("-"))
        for name in _listed(params.get("sortby", ""), "sortby", props, c.id)
    )
    selected = params.get("properties")
    return FeatureQuery(
        bbox=None if single else parse_bbox(params.get("bbox"), parse_crs(params.get("bbox-crs"), "bbox-crs")),
        crs=parse_crs(params.get("crs"), "crs"),
        filter=node,
        filter_crs=filter_crs,
        sortby=sortby,
        properties=None if selected is None else tuple(_listed(selected, "properties", props, c.id)),
        skip_geometry=_flag(params.get("skipGeometry"), "skipGeometry"),
    )


def select(c: Collection, q: FeatureQuery) -> np.ndarray:
    """Row positions matching the bbox and the filter, in the `sortby` order (else the snapshot's: stable paging)."""
    mask = np.ones(len(c.frame), dtype=bool)
    if q.bbox is not None:
        x0, y0, x1, y1 = q.bbox
        b = c.bounds
        if x0 <= x1:
            mask &= (b[:, 2] >= x0) & (b[:, 0] <= x1)
        else:  # crosses the antimeridian
            mask &= (b[:, 2] >= x0) | (b[:, 0] <= x1)
        mask &= (b[:, 3] >= y0) & (b[:, 1] <= y1)
    if q.filter is not None:
        mask &= cql.evaluate(c, queryables.properties(c), q.filter, q.filter_crs)
    rows = np.flatnonzero(mask)
    if q.sortby and len(rows):
        names = [name for name, _ in q.sortby]
        sub = c.frame.iloc[rows][names]
        order = sub.sort_values(names, ascending=[asc for _, asc in q.sortby], kind="stable", na_position="last")
        rows = rows[sub.index.get_indexer(order.index)]
    return rows


def _props(frame: pd.DataFrame, rows: np.ndarray, names: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """The properties of `rows` as plain Python values (nulls as None), column by column (a page of 100 at 1M:
    ~1 ms, against ~10 ms for the frame-wide `astype(object).where(...)`)."""
    cols = [n for n in (names if names is not None else frame.columns) if n != frame.geometry.name]
    sub = frame.iloc[rows]
    columns = []
    for name in cols:
        values = sub[name].to_numpy(dtype=object, copy=True)  # an object column may come back as a read-only view
        null = pd.isna(values)
        if null.any():
            values[null] = None
        columns.append(values.tolist())
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*columns, strict=True)] if cols else [{} for _ in rows]


def features(c: Collection, rows: np.ndarray, q: FeatureQuery = FeatureQuery()) -> list[dict[str, Any]]:
    return _features(c.frame, c.geoms, c.id_field, rows, q)


def _features(
    frame: pd.DataFrame, geoms: np.ndarray, id_field: str, rows: np.ndarray, q: FeatureQuery
) -> list[dict[str, Any]]:
    ids = frame[id_field].iloc[rows].to_numpy()  # the page's ids only (not the whole column)
    if q.skip_geometry:
        shapes: list[Any] = [None] * len(rows)
    else:
        shapes = [orjson.loads(g) for g in shapely.to_geojson(from_storage(geoms[rows], q.crs))]
    return [
        {"type": "Feature", "id": str(fid), "geometry": g, "properties": props}
        for fid, g, props in zip(ids, shapes, _props(frame, rows, q.properties), strict=True)
    ]


def _page(c: Collection, q: FeatureQuery, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The features of one page and how many match in all: from the frame, or from the database."""
    if isinstance(c, SqlCollection):
        frame, matched = c.page(q, limit, offset)
        geoms = np.asarray(frame.geometry.values, dtype=object)
        return _features(frame, geoms, c.id_field, np.arange(len(frame)), q), matched
    rows = select(c, q)
    return features(c, rows[offset : offset + limit], q), len(rows)


def items(
    base: str, c: Collection, view: View, *, q: FeatureQuery, limit: int, offset: int, query: str
) -> dict[str, Any]:
    feats, matched = _page(c, q, limit, offset)
    url = f"{base}/collections/{c.id}/items"
    keep = "&".join(p for p in query.split("&") if p and not p.startswith(("offset=", "f=")))
    sep = "&" if keep else ""
    links = [
        {"href": f"{url}?{keep}{sep}offset={offset}", "rel": "self", "type": GEOJSON, "title": "this page"},
        {
            "href": f"{url}?{keep}{sep}offset={offset}&f=html",
            "rel": "alternate",
            "type": "text/html",
            "title": "HTML",
        },
        {
            "href": f"{base}/collections/{c.id}",
            "rel": "collection",
            "type": "application/json",
            "title": c.title,
        },
    ]
    if offset + limit < matched:
        links.append(
            {
                "href": f"{url}?{keep}{sep}offset={offset + limit}",
                "rel": "next",
                "type": GEOJSON,
                "title": "next page",
            }
        )
    if offset > 0:
        links.append(
            {
                "href": f"{url}?{keep}{sep}offset={max(0, offset - limit)}",
                "rel": "prev",
                "type": GEOJSON,
                "title": "previous page",
            }
        )
    return {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": int(matched),
        "numberReturned": len(feats),
        "timeStamp": f"{view.as_of}T00:00:00Z",
        "links": links,
    }


def item(base: str, c: Collection, feature_id: str, q: FeatureQuery = FeatureQuery()) -> dict[str, Any]:
    if isinstance(c, SqlCollection):
        frame = c.one(feature_id)
        feat = _features(frame, np.asarray(frame.geometry.values, dtype=object), c.id_field, np.array([0]), q)[0]
    else:
        pos = c.id_index.get(feature_id)
        if pos is None:
            raise UnitNotFound(f"no feature {feature_id!r} in collection {c.id}")
        feat = features(c, np.array([pos]), q)[0]
    feat["links"] = [
        {
            "href": f"{base}/collections/{c.id}/items/{feature_id}",
            "rel": "self",
            "type": GEOJSON,
            "title": "this feature",
        },
        {
            "href": f"{base}/collections/{c.id}",
            "rel": "collection",
            "type": "application/json",
            "title": c.title,
        },
    ]
    return feat


# -- HTML -------------------------------------------------------------------------------------------------
def html_page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em;max-width:70em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def links_html(links: list[dict[str, Any]]) -> str:
    return (
        "<ul>"
        + "".join(
            f"<li><a href='{html.escape(link['href'])}'>{html.escape(link.get('title') or link['rel'])}</a> "
            f"({html.escape(link['rel'])})</li>"
            for link in links
        )
        + "</ul>"
    )


def table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No features.</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)

    def cell(v: Any) -> str:
        return f"<td>{html.escape('' if v is None else str(v))}</td>"

    body = "".join("<tr>" + "".join(cell(r[c]) for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
