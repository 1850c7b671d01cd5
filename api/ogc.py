"""OGC API – Features, Part 1 (Core, GeoJSON, HTML) over the published snapshot.

Framework-free helpers: each function takes a `View` and plain parameters and returns a dict (JSON) that
`api.app` serves as JSON or renders as HTML.
"""

from __future__ import annotations

import html
import math
from datetime import date
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely

from api import tilelinks
from api.state import Collection, View
from geo.errors import InputRejected, UnitNotFound

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    *tilelinks.TILES_CONFORMANCE,
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
RESERVED = {"bbox", "limit", "offset", "datetime", "f", "bbox-crs", "crs", "properties", "sortby"}


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
        "crs": [CRS84],
        "extent": {
            "spatial": {"bbox": [c.extent], "crs": CRS84},
            "temporal": {"interval": [[str(view.as_of) + "T00:00:00Z", str(view.as_of) + "T00:00:00Z"]]},
        },
        "queryables": list(c.queryables),
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


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError as exc:
        raise InputRejected(f"bbox={text!r}: four numbers minLon,minLat,maxLon,maxLat expected") from exc
    if len(parts) == 6:
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise InputRejected(f"bbox={text!r}: four numbers minLon,minLat,maxLon,maxLat expected")
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


def select(c: Collection, bbox, filters: dict[str, str]) -> np.ndarray:
    """Row positions matching the bbox and property filters, in id order (stable paging)."""
    mask = np.ones(len(c.frame), dtype=bool)
    if bbox is not None:
        x0, y0, x1, y1 = bbox
        b = c.bounds
        if x0 <= x1:
            mask &= (b[:, 2] >= x0) & (b[:, 0] <= x1)
        else:  # crosses the antimeridian
            mask &= (b[:, 2] >= x0) | (b[:, 0] <= x1)
        mask &= (b[:, 3] >= y0) & (b[:, 1] <= y1)
    for key, value in filters.items():
        if key not in c.queryables:
            raise InputRejected(
                f"unknown parameter {key!r} for collection {c.id}; filter on one of {', '.join(c.queryables)}"
            )
        column = c.frame[key].astype(object)
        mask &= (column.astype(str) == value).to_numpy() & column.notna().to_numpy()
    return np.flatnonzero(mask)


def _props(frame: pd.DataFrame, rows: np.ndarray) -> list[dict[str, Any]]:
    sub = frame.iloc[rows].drop(columns=frame.geometry.name)
    sub = sub.astype(object).where(sub.notna(), None)
    return sub.to_dict(orient="records")


def features(c: Collection, rows: np.ndarray) -> list[dict[str, Any]]:
    geoms = shapely.to_geojson(np.asarray(c.frame.geometry.values, dtype=object)[rows])
    out = []
    for props, g in zip(_props(c.frame, rows), geoms, strict=True):
        out.append(
            {
                "type": "Feature",
                "id": str(props[c.id_field]),
                "geometry": orjson.loads(g),
                "properties": props,
            }
        )
    return out


def items(
    base: str, c: Collection, view: View, *, bbox, limit: int, offset: int, filters: dict[str, str], query: str
) -> dict[str, Any]:
    rows = select(c, bbox, filters)
    page = rows[offset : offset + limit]
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
    if offset + limit < len(rows):
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
        "features": features(c, page),
        "numberMatched": int(len(rows)),
        "numberReturned": int(len(page)),
        "timeStamp": f"{view.as_of}T00:00:00Z",
        "links": links,
    }


def item(base: str, c: Collection, feature_id: str) -> dict[str, Any]:
    pos = c.id_index.get(feature_id)
    if pos is None:
        raise UnitNotFound(f"no feature {feature_id!r} in collection {c.id}")
    feat = features(c, np.array([pos]))[0]
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
