"""The response part of a map page's document (`cfg.response`, read by `layers/static/response.js`).

* ``kinds``: the resource kinds of the catalogue with their marker (glyph, colour) and label.
* ``resources``: ``[[x, y, kind index, name, staff, vehicles, capacity, phone]]`` (x, y in units of the web
  precision, display CRS; trailing empty fields left out), responders first, then every kind in turn; at
  most ``resource_style.inline_limit`` (a saved page) or ``page_limit`` (a served page, its view's) of
  ``total``.
* ``zones``: the area reached within each band of minutes as **one image** (a PNG data: URI over the bands'
  bounds, rows spaced evenly in Web Mercator so Leaflet's image overlay lines up exactly). The bands are
  unions of 1 km cells: as polygons they take 0.2–0.3 MB even simplified, as an image some tens of kB.
* ``shares``: per region of the page, the headline threshold's shares ``[area, units, red, orange, sites,
  n unreached red]`` (null: none of that kind).

None when the build has neither resources nor a rescue circle.
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geo.catalogue import load_catalogue
from geo.crs import geometry_from_wgs84
from geo.response.config import load_response
from geo.snapshot import Snapshot
from layers.response import COVERAGE_PROPS, coverage_table, resource_table
from layers.styles import Styles
from layers.view import MapView

__all__ = ["response_payload", "zones_image"]

_R = 6378137.0


def _merc_y(lat: np.ndarray | float) -> Any:
    return _R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def _merc_lat(y: np.ndarray | float) -> Any:
    return np.degrees(2 * np.arctan(np.exp(np.asarray(y) / _R)) - np.pi / 2)


def _num(v: Any, digits: int = 3) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return round(f, digits) if math.isfinite(f) else None


def zones_image(zones: pd.DataFrame, styles: Styles, crs: str = "wgs84") -> dict[str, Any] | None:
    """The bands of ``coverage_table`` drawn into one palette PNG: ``{url, bounds: [[s, w], [n, e]]}``.

    Pixels are ``rescue.raster_m`` metres (at the bands' middle latitude); each band keeps its own colour
    (opaque: the page sets the layer's opacity), outside every band is transparent. ``crs`` = the page's
    display CRS (gcj02: shifted first). Drawn with Pillow (no matplotlib in a service's memory): a band's
    polygons into a mask of its own, outer rings first and holes cleared after each, then the band's colour
    through its mask (the bands do not overlap)."""
    from PIL import Image, ImageDraw

    geoms = np.asarray(zones.geometry.values, dtype=object) if len(zones) else np.array([], dtype=object)
    if not len(geoms):
        return None
    if crs != "wgs84":
        geoms = np.asarray(geometry_from_wgs84(geoms, crs), dtype=object)
    w, s, e, n = shapely.total_bounds(geoms)
    mid = math.radians((s + n) / 2)
    step_deg = styles.rescue.raster_m / (111_320 * math.cos(mid))
    width = max(2, min(4096, math.ceil((e - w) / step_deg)))
    y0, y1 = float(_merc_y(s)), float(_merc_y(n))
    height = max(2, min(4096, math.ceil((y1 - y0) / (_R * math.radians(step_deg)))))

    def pixels(ring: shapely.Geometry) -> list[tuple[float, float]]:
        xy = shapely.get_coordinates(ring)
        px = (xy[:, 0] - w) / (e - w) * width
        py = (y1 - _merc_y(xy[:, 1])) / (y1 - y0) * height
        return list(zip(px.tolist(), py.tolist(), strict=True))

    canvas = Image.new("P", (width, height), 0)
    palette = [0, 0, 0]
    for i, (geom, color) in enumerate(zip(geoms, zones["color"], strict=True)):
        mask = Image.new("1", (width, height), 0)
        draw = ImageDraw.Draw(mask)
        parts = [p for p in shapely.get_parts(geom) if not p.is_empty]
        # a part inside another's hole lies within that part's outer ring: the larger outer rings first
        parts.sort(key=lambda p: -shapely.area(shapely.Polygon(p.exterior)))
        for poly in parts:
            draw.polygon(pixels(poly.exterior), fill=1)
            for hole in poly.interiors:
                draw.polygon(pixels(hole), fill=0)
        canvas.paste(i + 1, mask=mask)
        palette += [int(color[j : j + 2], 16) for j in (1, 3, 5)]
    canvas.putpalette(palette)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True, transparency=0)
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return {"url": url, "bounds": [[round(float(s), 6), round(float(w), 6)], [round(float(n), 6), round(float(e), 6)]]}


#: what a map page carries of each resource, besides its position
PAGE_COLUMNS = ("kind", "name", "staff", "vehicles", "capacity", "phone")


def _order(res: pd.DataFrame, kinds: list[str], responders: set[str]) -> np.ndarray:
    """Row positions in page order: responders first, then the other kinds in turn (each kind's largest
    first), so a page that cannot carry every resource still shows every kind (the same order in SQL:
    `geo.pgquery.ranked_resources`)."""
    kind = res["kind"].astype(object)
    cap = pd.to_numeric(res["capacity"], errors="coerce").fillna(0).to_numpy()
    frame = pd.DataFrame({"kind": kind.to_numpy(), "cap": -cap})
    within = frame.sort_values("cap", kind="stable").groupby("kind", sort=False).cumcount().sort_index().to_numpy()
    kind_rank = kind.map({k: i for i, k in enumerate(kinds)}).fillna(len(kinds)).to_numpy()
    return np.lexsort((kind_rank, within, ~kind.isin(list(responders)).to_numpy()))


def _resources(
    snapshot: Snapshot, view: MapView, styles: Styles, precision: float, crs: str, limit: int
) -> tuple[list[list], int]:
    cat = load_catalogue()
    kinds = [k.code for k in cat.resource_kinds]
    responders = {k.code for k in cat.resource_kinds if k.responder}
    if snapshot.store.backend == "postgis":  # the page's resources chosen by the database, not all read
        from geo.pgquery import ranked_resources

        columns = [*PAGE_COLUMNS, "lon", "lat"]
        res, total = ranked_resources(snapshot, view.parent, kinds, responders, limit, columns)  # type: ignore[arg-type]
        for col in PAGE_COLUMNS:
            if col not in res:
                res[col] = None
    else:
        res = resource_table(snapshot, view=view, styles=styles)
        total = len(res)
        res = res.iloc[np.sort(_order(res, kinds, responders)[:limit])]
    if not total:
        return [], 0
    x, y = res["lon"].to_numpy(float), res["lat"].to_numpy(float)
    if crs != "wgs84":
        pts = np.asarray(geometry_from_wgs84(shapely.points(x, y), crs), dtype=object)
        x, y = shapely.get_x(pts), shapely.get_y(pts)
    qx, qy = np.round(x / precision).astype(np.int64), np.round(y / precision).astype(np.int64)
    index = {k: i for i, k in enumerate(kinds)}
    rows = []
    for j, rec in enumerate(res[list(PAGE_COLUMNS)].itertuples(False)):
        row = [
            int(qx[j]),
            int(qy[j]),
            index.get(rec.kind, -1),
            "" if pd.isna(rec.name) else str(rec.name),
            _num(rec.staff, 0),
            _num(rec.vehicles, 0),
            _num(rec.capacity, 0),
            "" if pd.isna(rec.phone) else str(rec.phone),
        ]
        while row[-1] in (None, ""):  # trailing empty fields left out (the page reads them as empty)
            row.pop()
        rows.append(row)
    return rows, total


def _shares(snapshot: Snapshot, codes: set[str], headline: str) -> dict[str, list]:
    cov = snapshot.rescue_regions()
    if not len(cov) or f"cover{headline}_area" not in cov:
        return {}
    cov = cov.loc[cov["adcode"].isin(codes)]
    out = {}
    for rec in cov.to_dict(orient="records"):
        unreached = rec.get("unreached_red")
        n_unreached = len(json.loads(unreached)) if isinstance(unreached, str) and unreached else 0
        out[str(rec["adcode"])] = [_num(rec[f"cover{headline}_{w}"]) for w in COVERAGE_PROPS] + [n_unreached]
    return out


def response_payload(
    snapshot: Snapshot, codes: set[str], *, view: MapView, styles: Styles, precision: float, crs: str, mode: str
) -> dict[str, Any] | None:
    """The document's ``response`` (see the module docstring), or None without resources and rescue circle."""
    cat = load_catalogue()
    config = load_response()
    limit = styles.resource_style.inline_limit if mode == "inline" else styles.resource_style.page_limit
    resources, total = _resources(snapshot, view, styles, precision, crs, limit)
    zones = coverage_table(snapshot, styles)
    headline = config.label(config.headline)
    shares = _shares(snapshot, codes, headline)
    if not total and not len(zones) and not shares:
        return None
    en = view.lang == "en"
    rs, rescue = styles.resource_style, styles.rescue
    return {
        "kinds": [
            {
                "code": k.code,
                "label": k.en if en else k.zh,
                "glyph": styles.resource_symbol(k.code).glyph,
                "color": styles.resource_symbol(k.code).color,
                "responder": k.responder,
            }
            for k in cat.resource_kinds
        ],
        "marker": {"size": rs.size, "stroke": rs.stroke, "min_zoom": rs.min_zoom},
        "resources": resources,
        "total": total,
        "zones": zones_image(zones, styles, crs),
        "bands": [
            {"label": str(r.label), "color": str(r.color), "area_km2": _num(r.area_km2, 0)}
            for r in zones.itertuples(index=False)
        ],
        "method": (snapshot.meta.get("rescue") or {}).get("method"),
        "headline": headline,
        "shares": shares,
        "share_colors": list(rescue.share_colors),
        "fill_opacity": rescue.fill_opacity,
    }
