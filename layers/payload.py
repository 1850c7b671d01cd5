"""The data a map page carries: one compact JSON document read by `layers/static/riskmap.js`.

Compact because the saved Zhejiang county page must stay under 1.5 MB: geometries are delta-encoded
integers in units of the web precision (:func:`layers.webgeom.encode_geometry`), region statistics are
arrays, and the names of top contributors and the texts of rules are stored once in tables and referred
to by index. Every string in it is data: the page inserts it with ``textContent``, never as HTML.

Layout (keys of the document):

* ``meta``: title, as-of date, language, mode, layer (regions | enterprises | hazards: what the page is about),
  initial view, precision, crs of the overlays.
* ``text``, ``styles``, ``domains``, ``levels`` (admin levels, coarsest first).
* ``regions``: ``{a: adcode, n: name, l: admin level, p: parent, g: geometry, c: [label x, y],
  s: {domain: [level rank (0 red … 3 blue, -1 none), index, n_red_units, n_orange_units, n_yellow_units,
  n_blue_units, n_units, n_hazards, [rule ids], [[unit id, contribution], ...], [n_red_sites … n_blue_sites]]}}``
  (enterprises per level sum to n_units, open hazard sites per level to n_hazards).
* ``strings`` (rule texts) and ``units`` (``[name, domain, level rank, score, id]``) tables.
* ``hazards``: ``{i, n, t, r, s, pop, c (county), k (P|L|A), g}``; ``hazard_domains``: type → domain
  (from the scoring model in the snapshot's meta), so the domain switch filters hazard sites too.
* ``enterprises``: served → ``{mode: 'served', url}``; inline → ``{mode: 'inline', complete, total,
  points: [[x, y, rank, domain index, score, name, id, industry, override]], zooms, clusters:
  {domain: {zoom: [[x, y, n_red, n_orange, n_yellow, n_blue]]}}}``.
* ``response`` (or null): resources, the rescue-circle bands and the regions' coverage shares
  (:mod:`layers.responsemap`).
* ``basemap`` (or null) and ``links`` (URL templates: ``map`` for the served drill-down, ``region`` for the
  region page a served popup links to, null in a saved page).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.catalogue import LEVELS
from geo.crs import geometry_from_wgs84, wgs84_to_gcj02
from geo.scoring.regions import SITE_COUNT_COLUMNS, UNIT_COUNT_COLUMNS
from geo.snapshot import Snapshot
from layers.clusters import PointIndex, cell_degrees, grid_cells
from layers.features import descendants, rules_of, top_units
from layers.responsemap import response_payload
from layers.styles import Basemap, Styles
from layers.view import MapView
from layers.webgeom import encode_geometry, encode_line, web_boundaries

__all__ = ["build_payload", "hazard_domains", "read_units"]

_RANK = {code: i for i, code in enumerate(LEVELS)}
UNIT_COLUMNS = [
    "id",
    "name",
    "domain",
    "industry",
    "lon",
    "lat",
    "risk_score",
    "risk_level",
    "override",
    "province_adcode",
    "city_adcode",
    "county_adcode",
]


def read_units(snapshot: Snapshot, columns: list[str] | None = None) -> pd.DataFrame:
    """The snapshot's units, only the columns that exist among ``columns`` (cheap on a million rows)."""
    if not snapshot.has_units():
        return pd.DataFrame(columns=columns or [])
    names = snapshot.unit_columns()
    wanted = [c for c in (columns or names) if c in names]
    if "lon" not in wanted and "geometry" in names:
        wanted.append("geometry")
    return snapshot.units(columns=wanted)


def _num(value: Any, digits: int = 1) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return round(v, digits) if math.isfinite(v) else None


def _int(value: Any) -> int:
    v = _num(value, 0)
    return int(v) if v is not None else 0


class _Tables:
    """String and unit tables that deduplicate what many regions repeat."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.units: list[list[Any]] = []
        self._s: dict[str, int] = {}
        self._u: dict[tuple, int] = {}

    def string(self, text: str) -> int:
        if text not in self._s:
            self._s[text] = len(self.strings)
            self.strings.append(text)
        return self._s[text]

    def unit(self, item: dict[str, Any]) -> int:
        rank = _RANK.get(item.get("risk_level") or "", -1)
        row = [
            item.get("name") or "",
            item.get("domain") or "",
            rank,
            _num(item.get("risk_score")),
            item.get("id") or "",
        ]
        key = tuple(row)
        if key not in self._u:
            self._u[key] = len(self.units)
            self.units.append(row)
        return self._u[key]


def _stats(rows: pd.DataFrame, tables: _Tables, top_n: int) -> dict[str, list]:
    out: dict[str, list] = {}
    for rec in rows.to_dict(orient="records"):
        rules = [tables.string(r) for r in rules_of(rec.get("rules"))]
        top = [[tables.unit(t), _num(t.get("contribution"), 2)] for t in top_units(rec.get("explanation"), top_n)]
        out[str(rec["domain"])] = [
            _RANK.get(rec.get("risk_level"), -1),
            _num(rec.get("risk_index")),
            *(_int(rec.get(col)) for col in UNIT_COUNT_COLUMNS),
            _int(rec.get("n_units")),
            _int(rec.get("n_hazards")),
            rules,
            top,
            [_int(rec.get(col)) for col in SITE_COUNT_COLUMNS],
        ]
    return out


def _area_km2(geom: shapely.Geometry, lat: float) -> int:
    """Approximate area (km²), used only to rank labels (larger regions keep theirs when labels collide)."""
    if geom is None or not math.isfinite(lat):
        return 0
    return int(round(shapely.area(geom) * 111.32**2 * math.cos(math.radians(lat))))


def _region_codes(boundaries: pd.DataFrame, level_rank: int, parent: str | None, mode: str) -> set[str]:
    """Which units a page carries. Inline: every unit down to the view level (or county, whichever is
    finer), for client-side drill-down. Served: the parent's ancestors and siblings, and its descendants
    down to the view level."""
    ranks = dict(zip(boundaries["adcode"], boundaries["level_rank"], strict=True))
    limit = max(level_rank, 2) if mode == "inline" else level_rank
    if mode == "inline" or parent is None:
        return {a for a, r in ranks.items() if r <= limit}
    parents = dict(zip(boundaries["adcode"], boundaries["parent_adcode"], strict=True))
    keep = {a for a in descendants(boundaries, parent) if ranks[a] <= limit} | {parent}
    up = parents.get(parent)
    keep |= {a for a, p in parents.items() if p == up}  # siblings, shown for context
    while isinstance(up, str):
        keep.add(up)
        up = parents.get(up)
    return keep


def _regions(web: gpd.GeoDataFrame, regions: pd.DataFrame, codes: set[str], tables: _Tables, top_n: int) -> list[dict]:
    sel = web.loc[web["adcode"].isin(codes)].sort_values(["level_rank", "adcode"])
    by_code = {code: grp for code, grp in regions.loc[regions["adcode"].isin(codes)].groupby("adcode", sort=False)}
    out = []
    for row in sel.itertuples(index=False):
        parent = row.parent_adcode if isinstance(row.parent_adcode, str) else None
        rows = by_code.get(row.adcode)
        out.append(
            {
                "a": row.adcode,
                "n": row.name,
                "l": row.admin_level,
                "p": parent,
                "g": row.encoded,
                "c": [row.label_x, row.label_y],
                "ar": _area_km2(row.geometry, row.label_y),
                "s": _stats(rows, tables, top_n) if rows is not None else {},
            }
        )
    return out


def _hazard_geometry(geom: shapely.Geometry, precision: float) -> tuple[str, Any]:
    kind = shapely.get_type_id(geom)
    if kind in (0, 4):  # (multi)point: its first point
        p = shapely.get_point(geom, 0) if kind == 4 else geom
        return "P", [round(p.x / precision), round(p.y / precision)]
    if kind in (1, 5):  # (multi)line: one encoded polyline per part
        return "L", [encode_line(shapely.get_coordinates(part), precision) for part in shapely.get_parts(geom)]
    return "A", encode_geometry(geom, precision)


HAZARD_PAGE_LIMIT = 3000  # hazard sites drawn on one page: the gravest first (a province may list 20,000)


def _hazards(hazards: pd.DataFrame, codes: set[str] | None, precision: float, crs: str) -> list[dict]:
    if hazards is None or len(hazards) == 0 or "geometry" not in hazards:
        return []
    frame = hazards
    if codes is not None and "county_adcode" in frame:
        frame = frame.loc[frame["county_adcode"].isin(codes)]
    if len(frame) > HAZARD_PAGE_LIMIT:
        lv = frame["risk_level"] if "risk_level" in frame else pd.Series("blue", index=frame.index)
        rank = lv.map(_RANK).fillna(9).to_numpy()
        score = pd.to_numeric(frame.get("risk_score", pd.Series(0, index=frame.index)), errors="coerce").fillna(0)
        order = np.lexsort((-score.to_numpy(), rank))[:HAZARD_PAGE_LIMIT]
        frame = frame.iloc[np.sort(order)]
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if crs != "wgs84":
        geoms = np.asarray(geometry_from_wgs84(geoms, crs), dtype=object)
    level = frame["risk_level"] if "risk_level" in frame else frame.get("level", pd.Series([None] * len(frame)))
    out = []
    for rec, geom, lv in zip(frame.to_dict(orient="records"), geoms, level.tolist(), strict=True):
        if geom is None or geom.is_empty:
            continue
        kind, enc = _hazard_geometry(geom, precision)
        out.append(
            {
                "i": str(rec.get("id") or ""),
                "n": str(rec.get("name") or ""),
                "t": str(rec.get("type") or ""),
                "r": _RANK.get(lv, -1),
                "s": _num(rec.get("risk_score")),
                "pop": _num(rec.get("population"), 0),
                "c": str(rec.get("county_adcode") or ""),
                "k": kind,
                "g": enc,
            }
        )
    return out


def _shift_xy(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    if crs == "gcj02" and len(x):
        gx, gy = wgs84_to_gcj02(x, y)
        return np.asarray(gx), np.asarray(gy)
    return x, y


def _inline_points(index: PointIndex, rows: np.ndarray, precision: float, crs: str, tables: _Tables) -> list[list]:
    x, y = _shift_xy(index.lon[rows], index.lat[rows], crs)
    qx, qy = np.round(x / precision).astype(np.int64), np.round(y / precision).astype(np.int64)
    det = {k: index.detail.pick(k, rows) for k in ("name", "id", "industry", "override")}
    city = _city_codes(index)
    out = []
    for j, i in enumerate(rows.tolist()):
        score = index.score[i]
        out.append(
            [
                int(qx[j]),
                int(qy[j]),
                int(index.rank[i]) if index.rank[i] < len(LEVELS) else -1,
                int(index.domain[i]),
                None if not math.isfinite(score) else round(float(score), 1),
                det["name"][j] or "",
                det["id"][j] or "",
                tables.string(str(det["industry"][j])) if det["industry"][j] else -1,
                tables.string(str(det["override"][j])) if det["override"][j] else -1,
                int(city[i]),
            ]
        )
    return out


def _city_codes(index: PointIndex) -> np.ndarray:
    """Each point's index into ``cities`` (``index.areas['city_adcode']``), -1 when unknown."""
    if "city_adcode" not in index.areas:
        return np.full(len(index), -1, dtype=np.int32)
    return index.areas["city_adcode"][0]


def _inline_clusters(index: PointIndex, styles: Styles, crs: str) -> tuple[list[int], dict[str, dict[str, list]]]:
    """Clusters per domain and zoom, each cell split by city (the page shows a drilled-down city's own).

    Layers are taken greedily within ``inline_cluster_budget`` rows, coarsest zoom first and, at each zoom,
    ``all`` before the single domains; a layer that does not fit is skipped (a finer one cannot fit either).
    """
    est = styles.enterprises
    keys = ["all", *index.domains]
    city = _city_codes(index)
    sel_of = {k: np.flatnonzero(index.domain_mask(k)) for k in keys}
    clusters: dict[str, dict[str, list]] = {k: {} for k in keys}
    full: set[str] = set()
    used = 0
    zooms: list[int] = []
    for zoom in sorted(est.inline_cluster_zooms):
        cell = cell_degrees(zoom, est.cluster_cell_px)
        for key in keys:
            sel = sel_of[key]
            if key in full or not len(sel):
                continue
            group = city[sel] + 1
            cells = grid_cells(index.lon[sel], index.my[sel], index.lat[sel], index.rank[sel], cell, group)
            if used + len(cells.key) > est.inline_cluster_budget and clusters[key]:
                full.add(key)
                continue
            x, y = _shift_xy(cells.x, cells.y, crs)
            qx, qy = np.round(x * 1e4).astype(np.int64), np.round(y * 1e4).astype(np.int64)
            c = cells.counts
            cell_city = group[cells.member] - 1
            clusters[key][str(zoom)] = np.column_stack(
                [qx, qy, c[:, 0], c[:, 1], c[:, 2], c[:, 3] + c[:, 4], cell_city]
            ).tolist()
            used += len(cells.key)
            if zoom not in zooms:
                zooms.append(zoom)
    return zooms, clusters


def _enterprises_inline(
    units: pd.DataFrame, styles: Styles, precision: float, crs: str, tables: _Tables
) -> dict[str, Any]:
    index = PointIndex.from_units(units)
    est = styles.enterprises
    n = len(index)
    cities = list(index.areas["city_adcode"][1]) if "city_adcode" in index.areas else []
    base = {"mode": "inline", "total": n, "domains": list(index.domains), "cities": cities}
    if n <= est.inline_points:
        order = np.lexsort((-np.nan_to_num(index.score, nan=-1.0), index.rank))
        return {
            **base,
            "complete": True,
            "points": _inline_points(index, order, precision, crs, tables),
            "zooms": [],
            "clusters": {},
        }
    grave = np.flatnonzero(index.rank <= 1)
    order = grave[np.lexsort((-np.nan_to_num(index.score[grave], nan=-1.0), index.rank[grave]))][: est.inline_points]
    zooms, clusters = _inline_clusters(index, styles, crs)
    return {
        **base,
        "complete": False,
        "points": _inline_points(index, order, precision, crs, tables),
        "zooms": zooms,
        "clusters": clusters,
    }


def hazard_domains(snapshot: Snapshot) -> dict[str, str]:
    """Hazard type → the domain it counts in, from the scoring model recorded in the snapshot's meta."""
    model = snapshot.meta.get("model") or {}
    mapping = (model.get("hazards") or {}).get("domains") or {}
    return {str(k): str(v) for k, v in mapping.items()}


def _top_unit(boundaries: pd.DataFrame) -> str | None:
    top = boundaries.loc[boundaries["level_rank"] == boundaries["level_rank"].min(), "adcode"]
    return str(top.iloc[0]) if len(top) == 1 else None


def build_payload(
    snapshot: Snapshot,
    boundaries: gpd.GeoDataFrame,
    *,
    styles: Styles,
    view: MapView,
    basemap: Basemap | None,
    mode: str,
    cluster_url: str,
    map_url: str,
    title: str | None = None,
    layer: str = "regions",
    region_url: str | None = None,
) -> dict[str, Any]:
    """The page document (see the module docstring). ``boundaries`` is the store's (WGS84)."""
    crs = basemap.crs if basemap is not None else "wgs84"
    precision = styles.web.precision_deg
    web = web_boundaries(boundaries, tolerance_deg=styles.web.tolerance_deg, precision_deg=precision, crs=crs)
    ranks = dict(zip(boundaries["adcode"], boundaries["level_rank"], strict=True))
    level_rank = int(boundaries.loc[boundaries["admin_level"] == view.level, "level_rank"].min())
    top = _top_unit(boundaries)
    parent = view.parent
    if parent is None and top is not None and level_rank > ranks[top]:
        parent = top
    codes = _region_codes(boundaries, level_rank, parent, mode)
    regions_tbl = snapshot.regions()
    tables = _Tables()
    top_n = styles.regions.top_units_inline if mode == "inline" else styles.regions.top_units
    region_list = _regions(web, regions_tbl, codes, tables, top_n)
    hazard_codes = None if mode == "inline" or parent is None else descendants(boundaries, parent) | {parent}
    if mode == "inline":
        enterprises = _enterprises_inline(read_units(snapshot, UNIT_COLUMNS), styles, precision, crs, tables)
    else:  # the service clusters them per view (/clusters): the page needs their number only, not a million rows
        total = int(snapshot.meta.get("units", 0)) if "units" in snapshot.meta else len(read_units(snapshot, ["id"]))
        enterprises = {"mode": "served", "url": cluster_url, "total": total}
    admin_levels = (
        boundaries[["admin_level", "level_rank"]].drop_duplicates().sort_values("level_rank")["admin_level"].tolist()
    )
    present = set(regions_tbl["domain"].unique()) if len(regions_tbl) else set()
    domains = [{"code": "all", "label": styles.domain_label("all", view.lang)}] + [
        {"code": code, "label": styles.domain_label(code, view.lang)}
        for code in styles.domain_labels
        if code in present
    ]
    return {
        "meta": {
            "title": title,
            "as_of": str(snapshot.meta.get("as_of", "")),
            "snapshot": str(snapshot.meta.get("id", snapshot.id)),
            "lang": view.lang,
            "mode": mode,
            "layer": layer,
            "view": {"level": view.level, "parent": parent, "domain": view.domain},
            "top": top,
            "precision": precision,
            "crs": crs,
        },
        "text": styles.text[view.lang],
        "styles": styles.to_client(view.lang),
        "domains": domains,
        "levels": admin_levels,
        "regions": region_list,
        "strings": tables.strings,
        "units": tables.units,
        "hazards": _hazards(snapshot.hazards(), hazard_codes, precision, crs),
        "hazard_domains": hazard_domains(snapshot),
        "enterprises": enterprises,
        "response": response_payload(
            snapshot,
            codes,
            view=dataclasses.replace(view, parent=None if mode == "inline" else parent),
            styles=styles,
            precision=precision,
            crs=crs,
            mode=mode,
        ),
        "basemap": None
        if basemap is None
        else {
            "url": basemap.tile_url(),
            "subdomains": basemap.subdomains,
            "attribution": basemap.attribution,
            "max_zoom": basemap.max_zoom,
            "crs": basemap.crs,
        },
        "links": {"map": map_url, "region": region_url},
    }
