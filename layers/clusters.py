"""Server-side clustering of enterprise points on a screen-pixel grid (numpy, no per-point Python loops).

The grid is anchored on Web Mercator, in cells of ``cell_px`` screen pixels at the requested zoom, so a cell
covers the same screen area everywhere and clusters do not jump while the map pans. A view that holds at
most ``max_features`` points gets them individually; otherwise one feature per occupied cell (a cell
holding a single point still gives that point), with the count, the counts per level and the worst level.

Build a :class:`PointIndex` once per snapshot (``PointIndex.from_units``) and query it per request: with a
million enterprises a query takes tens of milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo.catalogue import LEVELS
from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from geo.values import Picker

__all__ = [
    "POINT_COLUMNS",
    "Cells",
    "PointIndex",
    "cluster_points",
    "clustered",
    "first_cell",
    "grid_cells",
    "mercator_y",
    "query_bbox",
    "view_meta",
]

_RANK = {code: i for i, code in enumerate(LEVELS)}  # red 0 … blue 3; 4 = no level
_NO_LEVEL = len(LEVELS)
_DETAIL = ("id", "name", "domain", "industry", "address", "county_adcode", "risk_score", "risk_level", "override")
#: Region code columns a unit carries; `PointIndex.within` matches a parent code against any of them.
AREA_COLUMNS = ("province_adcode", "city_adcode", "county_adcode")
#: every column `PointIndex.from_units` reads (those a table has; the geometry when it has no lon/lat)
POINT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys((*_DETAIL, *AREA_COLUMNS, "domain", "risk_level", "risk_score", "lon", "lat"))
)


def mercator_y(lat: np.ndarray) -> np.ndarray:
    """Web Mercator northing expressed in degrees (so one cell is square on screen)."""
    phi = np.radians(np.clip(lat, -85.05112878, 85.05112878))
    return np.degrees(np.log(np.tan(np.pi / 4 + phi / 2)))


def cell_degrees(zoom: float, cell_px: int) -> float:
    """The width of a ``cell_px`` screen cell at ``zoom``, in degrees of longitude."""
    return cell_px * 360.0 / (256.0 * 2.0 ** math.floor(zoom))


@dataclass(frozen=True, eq=False)
class PointIndex:
    """Enterprise points as arrays (WGS84), ready for clustering. Immutable once built."""

    lon: np.ndarray
    lat: np.ndarray
    my: np.ndarray  # mercator_y(lat)
    rank: np.ndarray  # int8, 0 = red … 3 = blue, 4 = none
    domain: np.ndarray  # int16 index into `domains`
    domains: tuple[str, ...]
    score: np.ndarray  # float64 (NaN when unscored)
    detail: Picker = field(repr=False)  # the text of `_DETAIL`, taken per request for the rows shown
    areas: dict[str, tuple[np.ndarray, tuple[str, ...]]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.lon)

    @classmethod
    def from_units(cls, units: pd.DataFrame) -> PointIndex:
        """From a units table with ``lon``/``lat`` columns (or point geometries), ``risk_level``, ``domain``."""
        n = len(units)
        if "lon" in units.columns and "lat" in units.columns:
            lon = pd.to_numeric(units["lon"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            lat = pd.to_numeric(units["lat"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            geoms = units.geometry.values
            lon, lat = np.asarray(geoms.x, dtype=np.float64), np.asarray(geoms.y, dtype=np.float64)
        levels = units["risk_level"].astype(object) if "risk_level" in units.columns else pd.Series([None] * n)
        rank = levels.map(_RANK).fillna(_NO_LEVEL).to_numpy(dtype=np.int8)
        dom_codes, dom_uniques = pd.factorize(
            units["domain"].astype(object) if "domain" in units.columns else pd.Series(["?"] * n)
        )
        score = (
            pd.to_numeric(units["risk_score"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            if "risk_score" in units.columns
            else np.full(n, np.nan)
        )
        areas = {}
        for col in AREA_COLUMNS:
            if col in units.columns:
                codes, uniques = pd.factorize(units[col].astype(object))
                areas[col] = (codes.astype(np.int32), tuple(str(u) for u in uniques))
        ok = np.isfinite(lon) & np.isfinite(lat)
        keep = None
        if not ok.all():
            keep = np.flatnonzero(ok)
            lon, lat, rank, dom_codes, score = lon[keep], lat[keep], rank[keep], dom_codes[keep], score[keep]
            areas = {k: (c[keep], u) for k, (c, u) in areas.items()}
        detail = Picker(units, _DETAIL, keep)
        return cls(
            lon=lon,
            lat=lat,
            my=mercator_y(lat),
            rank=rank,
            domain=dom_codes.astype(np.int16),
            domains=tuple(str(d) for d in dom_uniques),
            score=score,
            detail=detail,
            areas=areas,
        )

    def domain_mask(self, domain: str | None) -> np.ndarray:
        if domain in (None, "", "all"):
            return np.ones(len(self), dtype=bool)
        if domain not in self.domains:
            return np.zeros(len(self), dtype=bool)
        return self.domain == self.domains.index(domain)

    def within(self, parent: str | None) -> np.ndarray:
        """Points whose province, city or county code is ``parent`` (all points for None or '')."""
        if not parent:
            return np.ones(len(self), dtype=bool)
        mask = np.zeros(len(self), dtype=bool)
        for codes, uniques in self.areas.values():
            if parent in uniques:
                mask |= codes == uniques.index(parent)
        return mask

    def bbox_mask(self, bbox: tuple[float, float, float, float]) -> np.ndarray:
        w, s, e, n = bbox
        return (self.lon >= w) & (self.lon <= e) & (self.lat >= s) & (self.lat <= n)


@dataclass(frozen=True)
class Cells:
    """Occupied grid cells: mean position, counts per level (red … blue, then unlevelled), one member."""

    x: np.ndarray
    y: np.ndarray
    counts: np.ndarray  # (n_cells, 5) int64
    member: np.ndarray  # index (into the points given) of one point per cell
    key: np.ndarray  # int64 cell key, stable across queries

    @property
    def total(self) -> np.ndarray:
        return self.counts.sum(axis=1)


def grid_cells(
    lon: np.ndarray, my: np.ndarray, lat: np.ndarray, rank: np.ndarray, cell_deg: float, group: np.ndarray | None = None
) -> Cells:
    """Group points into square Web-Mercator cells of ``cell_deg`` degrees (vectorised); with ``group``
    (small non-negative ints, e.g. a city index) a cell is further split by group."""
    ix = np.floor((lon + 180.0) / cell_deg).astype(np.int64)
    iy = np.floor((my + 180.0) / cell_deg).astype(np.int64)
    key = ix * 4_000_000 + iy
    if group is not None:
        key = key * 4096 + group.astype(np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    n = len(uniq)
    totals = np.bincount(inverse, minlength=n)
    x = np.bincount(inverse, weights=lon, minlength=n) / totals
    y = np.bincount(inverse, weights=lat, minlength=n) / totals
    counts = np.bincount(inverse * 5 + rank.astype(np.int64), minlength=n * 5).reshape(n, 5)
    member = np.zeros(n, dtype=np.int64)
    member[inverse] = np.arange(len(lon))
    return Cells(x=x, y=y, counts=counts, member=member, key=uniq)


def _shift(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    if crs == "gcj02" and len(x):
        gx, gy = wgs84_to_gcj02(x, y)
        return np.asarray(gx), np.asarray(gy)
    return x, y


def query_bbox(bbox: tuple[float, float, float, float], crs: str) -> tuple[float, float, float, float]:
    """The WGS84 box to select: the view box (given in the display CRS), padded by 1 %."""
    w, s, e, n = (float(v) for v in bbox)
    if not (w <= e and s <= n):
        raise ValueError(f"bbox {bbox}: expected west,south,east,north with west <= east and south <= north")
    if crs == "gcj02":
        (w, e), (s, n) = (np.asarray(v) for v in gcj02_to_wgs84(np.array([w, e]), np.array([s, n])))
    pad_x, pad_y = (e - w) * 0.01, (n - s) * 0.01
    return w - pad_x, s - pad_y, e + pad_x, n + pad_y


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(value) else round(float(value), 2)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _point_features(index: PointIndex, rows: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[dict]:
    feats = []
    ranks = index.rank[rows]
    detail = {k: index.detail.pick(k, rows) for k in _DETAIL}
    for j, i in enumerate(rows.tolist()):
        props = {k: _clean(detail[k][j]) for k in _DETAIL}
        props["risk_score"] = _clean(index.score[i])
        props["risk_level"] = LEVELS[ranks[j]] if ranks[j] < _NO_LEVEL else None
        props["cluster"] = False
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(float(x[j]), 6), round(float(y[j]), 6)]},
                "properties": props,
            }
        )
    return feats


def _cluster_features(cells: Cells, pick: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[dict]:
    feats = []
    counts = cells.counts[pick]
    for j in range(len(pick)):
        c = counts[j]
        worst = int(np.flatnonzero(c)[0])
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(float(x[j]), 5), round(float(y[j]), 5)]},
                "properties": {
                    "cluster": True,
                    "id": f"c{int(cells.key[pick[j]])}",
                    "count": int(c.sum()),
                    "n_red": int(c[0]),
                    "n_orange": int(c[1]),
                    "n_yellow": int(c[2]),
                    "n_blue": int(c[3]),
                    "risk_level": LEVELS[worst] if worst < _NO_LEVEL else None,
                },
            }
        )
    return feats


def cluster_points(
    units: pd.DataFrame | PointIndex,
    bbox: tuple[float, float, float, float],
    zoom: float,
    max_features: int = 2000,
    *,
    domain: str = "all",
    parent: str | None = None,
    crs: str = "wgs84",
    cell_px: int | None = None,
) -> dict[str, Any]:
    """Enterprises in view as a GeoJSON FeatureCollection (RFC 7946): points when few, clusters otherwise.

    ``bbox`` is (west, south, east, north) in the display CRS (``crs``: 'wgs84', or 'gcj02' when the map
    shows a GCJ-02 basemap — the output is then shifted to GCJ-02 too). A feature with
    ``properties.cluster = true`` carries ``count``, ``n_red`` … ``n_blue`` and ``risk_level`` (the worst
    level inside); a point carries the enterprise's ``id``, ``name``, ``risk_level``, ``risk_score`` etc.
    ``parent`` (a province, city or county adcode) keeps only the enterprises inside it (by their region
    codes). ``properties`` of the collection: ``total`` (points in view), ``clustered`` and ``cell_deg``.
    Never more than ``max_features`` features. ``cell_px`` defaults to styles.toml's ``cluster_cell_px``.
    """
    index = units if isinstance(units, PointIndex) else PointIndex.from_units(units)
    crs = crs.lower()
    sel = np.flatnonzero(index.domain_mask(domain) & index.within(parent) & index.bbox_mask(query_bbox(bbox, crs)))
    total = int(len(sel))
    meta = view_meta(total, zoom, domain, parent)
    if total <= max_features:
        x, y = _shift(index.lon[sel], index.lat[sel], crs)
        return {"type": "FeatureCollection", "features": _point_features(index, sel, x, y), "properties": meta}
    cell = first_cell(zoom, cell_px)
    while True:
        cells = grid_cells(index.lon[sel], index.my[sel], index.lat[sel], index.rank[sel], cell)
        if len(cells.key) <= max_features:
            break
        cell *= 2.0
    return clustered(cells, index, sel[cells.member[cells.total == 1]], meta, cell, crs)


def clustered(
    cells: Cells, index: PointIndex, singles: np.ndarray, meta: dict[str, Any], cell: float, crs: str
) -> dict[str, Any]:
    """The answer of `cluster_points` from the occupied `cells` (of `cell` degrees): a cluster per cell of more
    than one point, and the point itself (its row of `index` in `singles`, in cell order) for a cell of one."""
    multi = np.flatnonzero(cells.total != 1)
    px, py = _shift(index.lon[singles], index.lat[singles], crs)
    cx, cy = _shift(cells.x[multi], cells.y[multi], crs)
    feats = _cluster_features(cells, multi, cx, cy) + _point_features(index, singles, px, py)
    meta = {**meta, "clustered": True, "cell_deg": cell}
    return {"type": "FeatureCollection", "features": feats, "properties": meta}


def view_meta(total: int, zoom: float, domain: str, parent: str | None) -> dict[str, Any]:
    """The ``properties`` of a `cluster_points` answer before any clustering."""
    return {
        "total": total,
        "zoom": zoom,
        "domain": domain,
        "parent": parent or None,
        "clustered": False,
        "cell_deg": None,
    }


def first_cell(zoom: float, cell_px: int | None = None) -> float:
    """The cell size clustering starts from (``cell_px`` defaults to styles.toml's ``cluster_cell_px``)."""
    if cell_px is None:
        from layers.styles import load_styles

        cell_px = load_styles().enterprises.cluster_cell_px
    return cell_degrees(zoom, cell_px)
