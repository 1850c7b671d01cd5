"""Spatial join of records to the administrative hierarchy. Everything here is in WGS84 (EPSG:4326).

Rules (documented in docs/data-contract.md):

* A point is assigned to the county whose polygon *covers* it (interior or boundary). A point exactly on
  a border shared by several counties goes to the one with the **lowest adcode**: deterministic, and
  independent of row order.
* A point outside every county but within ``tolerance_m`` (default 1 km, geodesic) of one — islands and
  reclaimed land that the boundary data misses, coastal piers — goes to the nearest county and is flagged
  ``join_status = "nearest"`` with ``join_distance_m``.
* A line or polygon goes to the county of largest overlap (length for lines, area for polygons; ties go
  to the lowest adcode) and lists every county it touches in ``county_adcodes``.
* City and province come from the county's parents; finer units (townships, grid cells) are joined the
  same way against their own polygons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import Geod

from geo.values import text_of_words

STANDARD_LEVELS = ("province", "city", "county")
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Hierarchy:
    """Boundaries indexed for joining: one STRtree per level that units are joined to."""

    units: gpd.GeoDataFrame  # adcode, name, admin_level, parent_adcode, level_rank, geometry
    base_level: str  # the level every record is joined to first (county, or the finest standard one)
    fine_levels: tuple[str, ...]  # levels below the base, each joined separately
    cache: Path | None = None  # a directory keeping each level's cell grid between processes (`CellIndex`)

    @classmethod
    def from_boundaries(cls, units: gpd.GeoDataFrame, cache: Path | None = None) -> Hierarchy:
        levels = set(units["admin_level"])
        base = next((lv for lv in reversed(STANDARD_LEVELS) if lv in levels), None)
        if base is None:
            raise ValueError("boundaries hold no province, city or county units")
        ranks = units.drop_duplicates("admin_level").set_index("admin_level")["level_rank"]
        fine = tuple(sorted((lv for lv in levels if ranks[lv] > ranks[base]), key=lambda lv: ranks[lv]))
        return cls(units.reset_index(drop=True), base, fine, cache)

    def level_units(self, level: str) -> gpd.GeoDataFrame:
        return self.units.loc[self.units["admin_level"] == level].reset_index(drop=True)

    def ancestors(self) -> pd.DataFrame:
        """For each base-level unit, its adcode at every coarser standard level (columns `<level>_adcode`)."""
        parent = dict(zip(self.units["adcode"], self.units["parent_adcode"], strict=True))
        level_of = dict(zip(self.units["adcode"], self.units["admin_level"], strict=True))
        rows = []
        for code in self.level_units(self.base_level)["adcode"]:
            row = {f"{self.base_level}_adcode": code}
            up = parent.get(code)
            while up and up in level_of:
                row[f"{level_of[up]}_adcode"] = up
                up = parent.get(up)
            rows.append(row)
        frame = pd.DataFrame(rows)
        for level in STANDARD_LEVELS:
            if f"{level}_adcode" not in frame:
                frame[f"{level}_adcode"] = None
        return frame.set_index(f"{self.base_level}_adcode", drop=False)


#: A join's outcomes (`join_status`), in the order of their codes.
JOIN_STATUSES = ("inside", "nearest", "outside")


def _metres_per_degree(lat: np.ndarray) -> np.ndarray:
    return 111_320.0 * np.maximum(np.cos(np.radians(lat)), 0.05)


@dataclass(frozen=True)
class CellIndex:
    """A regular grid over the polygons' extent; each cell records the one polygon whose interior holds the
    whole cell (grown by `EPS`), or -1 where the cell meets a border, a gap or several polygons.

    A point in a "simple" cell is inside that polygon's interior — on no border, in no other polygon — so it
    needs no geometric test at all; only points in border cells go through the STRtree. With 1 km cells over a
    province, over 90% of census points are settled by an array lookup.
    """

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    owner: np.ndarray  # int64, nx * ny

    EPS = 1e-9

    @classmethod
    def build(cls, geoms: np.ndarray, cells: int = 1024) -> CellIndex:
        """Mark every cell that any border segment's bounding box reaches (a conservative superset of the
        cells a border crosses); every other cell lies wholly in one polygon's interior or wholly outside,
        which its centre tells."""
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        d = (max(xmax - xmin, ymax - ymin) or 1.0) / cells
        nx, ny = int(np.ceil((xmax - xmin) / d)) + 1, int(np.ceil((ymax - ymin) / d)) + 1
        border = np.zeros((nx, ny), dtype=bool)
        rings = shapely.get_rings(shapely.get_parts(geoms))
        coords, ring_of = shapely.get_coordinates(rings, return_index=True)
        same = ring_of[1:] == ring_of[:-1]
        a, b = coords[:-1][same], coords[1:][same]
        ix0 = np.floor((np.minimum(a[:, 0], b[:, 0]) - cls.EPS - xmin) / d).astype(np.int64)
        ix1 = np.floor((np.maximum(a[:, 0], b[:, 0]) + cls.EPS - xmin) / d).astype(np.int64)
        iy0 = np.floor((np.minimum(a[:, 1], b[:, 1]) - cls.EPS - ymin) / d).astype(np.int64)
        iy1 = np.floor((np.maximum(a[:, 1], b[:, 1]) + cls.EPS - ymin) / d).astype(np.int64)
        for ox in range(int((ix1 - ix0).max()) + 1):
            for oy in range(int((iy1 - iy0).max()) + 1):
                m = (ix0 + ox <= ix1) & (iy0 + oy <= iy1)
                border[np.clip(ix0[m] + ox, 0, nx - 1), np.clip(iy0[m] + oy, 0, ny - 1)] = True
        # free cells joined edge to edge never cross a border: one centre test per connected component
        from scipy import ndimage

        labels, n = ndimage.label(~border)
        first = np.full(n + 1, -1, dtype=np.int64)
        flat = labels.ravel()
        order = np.flatnonzero(flat)[::-1]
        first[flat[order]] = order  # any one cell of each component
        reps = first[1:]
        cx = xmin + (reps // ny + 0.5) * d
        cy = ymin + (reps % ny + 0.5) * d
        pt_i, poly_i = shapely.STRtree(geoms).query(shapely.points(cx, cy), predicate="intersects")
        hits = np.bincount(pt_i, minlength=n)
        comp_owner = np.full(n + 1, -1, dtype=np.int64)
        one = hits[pt_i] == 1
        comp_owner[pt_i[one] + 1] = poly_i[one]
        owner = np.where(flat > 0, comp_owner[flat], -1)
        return cls(float(xmin), float(ymin), float(d), float(d), nx, ny, owner)

    def save(self, path: Path) -> None:
        """Keep the grid in the cache file `path` (`geo.cache.write`: never raises; the oldest grids beyond
        `CELL_FILES_KEPT` go)."""
        from geo import cache

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, origin=np.array([self.x0, self.y0, self.dx, self.dy]), owner=self.owner_grid())

        cache.write(path, write, "cells-*.npz", CELL_FILES_KEPT)

    @classmethod
    def load(cls, path: Path, polygons: int) -> CellIndex | None:
        """The grid `save` wrote to `path`, for `polygons` polygons; None when there is none or it cannot be
        read or does not fit (it is then built again)."""
        try:
            with np.load(path) as data:
                x0, y0, dx, dy = (float(v) for v in data["origin"])
                owner = data["owner"]
            nx, ny = owner.shape
        except Exception:  # noqa: BLE001 - a cache file: whatever is wrong with it, the grid is built again
            return None
        in_range = not owner.size or -1 <= owner.min() <= owner.max() < polygons
        if not (np.issubdtype(owner.dtype, np.integer) and in_range):
            return None
        return cls(x0, y0, dx, dy, nx, ny, owner.astype(np.int64).ravel())

    def owner_grid(self) -> np.ndarray:
        """`owner` as an nx × ny grid of the smallest integer type holding it."""
        dtype = np.int16 if len(self.owner) == 0 or self.owner.max() < 2**15 else np.int32
        return self.owner.astype(dtype).reshape(self.nx, self.ny)

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The owning polygon of each point's cell, -1 where a geometric test is needed."""
        ix = np.floor((x - self.x0) / self.dx)
        iy = np.floor((y - self.y0) / self.dy)
        ok = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        out = np.full(len(x), -1, dtype=np.int64)
        out[ok] = self.owner[ix[ok].astype(np.int64) * self.ny + iy[ok].astype(np.int64)]
        return out


_CELL_CACHE: dict[bytes, CellIndex] = {}
#: How many cell grids a cache directory keeps (one per set of boundaries joined to; the oldest go first).
CELL_FILES_KEPT = 8
CACHE_VERSION = 1  # in the cache files' names: a change to `CellIndex.build` increments it


def _indexes(polys: gpd.GeoDataFrame, cache: Path | None = None) -> CellIndex:
    """The cell index of a set of polygons, cached by content (boundaries rarely change): in this process,
    and in the directory `cache` when given (a file per set of polygons, so that every ingest into a store
    does not build it again: a third of a second for a province, with the import of scipy's labelling)."""
    import hashlib

    geoms = np.asarray(polys.geometry.values, dtype=object)
    key = hashlib.sha1(b"".join(shapely.to_wkb(geoms, hex=False))).digest()
    path = cache / f"cells-v{CACHE_VERSION}-{key.hex()}.npz" if cache is not None else None
    cells = _CELL_CACHE.get(key)
    if cells is None:
        if len(_CELL_CACHE) > 8:
            _CELL_CACHE.clear()
        cells = CellIndex.load(path, len(geoms)) if path is not None else None
        if cells is None:
            cells = CellIndex.build(geoms)
            if path is not None:
                cells.save(path)
        _CELL_CACHE[key] = cells
    elif path is not None and not path.exists():  # made in this process before the directory had it
        cells.save(path)
    return cells


def prepare(hierarchy: Hierarchy) -> None:
    """Build the cell grid of every level points are joined to, and keep it in `hierarchy.cache`: done when
    boundaries are stored, so that no ingest builds it."""
    for level in (hierarchy.base_level, *hierarchy.fine_levels):
        _indexes(hierarchy.level_units(level), hierarchy.cache)


def _covering_unit(points: np.ndarray, polys: gpd.GeoDataFrame, cache: Path | None = None) -> np.ndarray:
    """Index into `polys` of the lowest-adcode polygon covering each point, -1 where none does."""
    return _covering_unit_xy(shapely.get_x(points), shapely.get_y(points), polys, points, cache)


def _covering_unit_xy(
    x: np.ndarray,
    y: np.ndarray,
    polys: gpd.GeoDataFrame,
    points: np.ndarray | None = None,
    cache: Path | None = None,
) -> np.ndarray:
    """`_covering_unit` from coordinates: point geometries are made only for the few points the cell grid
    cannot settle (unless given)."""
    cells = _indexes(polys, cache)
    result = cells.lookup(x, y)
    rest = np.flatnonzero(result < 0)
    if len(rest):
        pts = points[rest] if points is not None else shapely.points(x[rest], y[rest])
        result[rest] = _covering_unit_tree(pts, polys)
    return result


def _covering_unit_tree(points: np.ndarray, polys: gpd.GeoDataFrame) -> np.ndarray:
    # query with the polygons against a tree of the points: GEOS prepares each (complex) polygon once,
    # instead of testing every point against an unprepared polygon
    poly_idx, pt_idx = shapely.STRtree(points).query(polys.geometry.values, predicate="intersects")
    result = np.full(len(points), -1, dtype=np.int64)
    if len(pt_idx):
        codes = polys["adcode"].to_numpy()[poly_idx]
        order = np.lexsort((codes, pt_idx))  # by point, then adcode ascending
        pt_sorted, poly_sorted = pt_idx[order], poly_idx[order]
        first = np.r_[True, pt_sorted[1:] != pt_sorted[:-1]]
        result[pt_sorted[first]] = poly_sorted[first]
    return result


def nearest_within(points: np.ndarray, polys: gpd.GeoDataFrame, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest polygon to each point and its geodesic distance in metres (index -1 beyond the tolerance)."""
    n = len(points)
    idx = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    if n == 0 or tolerance_m <= 0:
        return idx, dist
    lat = shapely.get_y(points)
    # a degree bound wide enough for the metric tolerance at the most poleward point
    max_deg = float(np.nanmax(tolerance_m / _metres_per_degree(np.nan_to_num(lat)))) * 1.5
    tree = shapely.STRtree(polys.geometry.values)
    pt_idx, poly_idx = tree.query_nearest(points, max_distance=max_deg, all_matches=False)
    if len(pt_idx):
        nearest_on_poly = shapely.get_point(shapely.shortest_line(points[pt_idx], polys.geometry.values[poly_idx]), 1)
        _, _, d = _GEOD.inv(
            shapely.get_x(points[pt_idx]),
            shapely.get_y(points[pt_idx]),
            shapely.get_x(nearest_on_poly),
            shapely.get_y(nearest_on_poly),
        )
        ok = d <= tolerance_m
        idx[pt_idx[ok]] = poly_idx[ok]
        dist[pt_idx[ok]] = d[ok]
        dist[pt_idx[~ok]] = d[~ok]
    return idx, dist


def assign_points(
    lon: np.ndarray,
    lat: np.ndarray,
    hierarchy: Hierarchy,
    tolerance_m: float = 1000.0,
    points: np.ndarray | None = None,
) -> pd.DataFrame:
    """Region codes of WGS84 points (``points``, if given, are the same points as shapely geometries).

    Returns one row per point with ``<level>_adcode`` for every standard level (and each fine level),
    ``join_status`` (inside | nearest | outside) and ``join_distance_m`` (0 inside; the gap for nearest;
    the distance to the nearest unit, or inf, for outside).
    """
    x, y = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    base = hierarchy.level_units(hierarchy.base_level)
    idx = _covering_unit_xy(x, y, base, points, hierarchy.cache)
    status = np.where(idx >= 0, "inside", "outside")  # fixed-width text: compared at array speed
    distance = np.zeros(len(x))
    missing = np.flatnonzero(idx < 0)
    if len(missing):
        pts = points[missing] if points is not None else shapely.points(x[missing], y[missing])
        near_idx, near_dist = nearest_within(pts, base, tolerance_m)
        idx[missing] = near_idx
        status[missing[near_idx >= 0]] = "nearest"
        distance[missing] = near_dist
    return _codes_frame(idx, status, distance, base, hierarchy, points, (x, y))


def _codes_frame(idx, status, distance, base, hierarchy, points, xy=None) -> pd.DataFrame:
    anc = hierarchy.ancestors().reindex(base["adcode"].to_numpy())  # one row per base unit, in base order
    cols: dict[str, object] = {}
    found = idx >= 0
    where = pa.array(np.where(found, idx, 0), mask=~found)  # missing where no unit was found
    for level in STANDARD_LEVELS:
        per_unit = pa.array(anc[f"{level}_adcode"].to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
        cols[f"{level}_adcode"] = pd.Series(per_unit.take(where).to_pandas().array, dtype="str")  # text, no objects
    out = pd.DataFrame(cols, index=pd.RangeIndex(len(idx)))
    for level in hierarchy.fine_levels:
        units = hierarchy.level_units(level)
        if xy is not None:
            fine_idx = _covering_unit_xy(xy[0], xy[1], units, points, hierarchy.cache)
        elif points is not None:
            fine_idx = _covering_unit(points, units, hierarchy.cache)
        else:
            fine_idx = np.full(len(idx), -1)
        out[f"{level}_adcode"] = np.where(fine_idx >= 0, units["adcode"].to_numpy()[np.maximum(fine_idx, 0)], None)
    out["join_status"] = text_of_words(status, JOIN_STATUSES).array
    out["join_distance_m"] = np.round(distance, 1)
    return out


def _overlap_measure(pieces: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Area (polygons) or length (lines) of each piece, scaled to be comparable at the piece's latitude."""
    k = np.cos(np.radians(lat))
    area = shapely.area(pieces) * k
    length = shapely.length(pieces) * np.sqrt(k)
    return np.where(area > 0, area * 1e6, length)


def _inside_one_unit(geoms: np.ndarray, cells: CellIndex) -> np.ndarray:
    """The unit whose interior holds each geometry's whole bounding box, judged by the cell grid alone when the
    box spans at most 2 × 2 cells (its four corner cells are then all its cells); -1 otherwise."""
    xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
    ix0, ix1 = np.floor((xmin - cells.x0) / cells.dx), np.floor((xmax - cells.x0) / cells.dx)
    iy0, iy1 = np.floor((ymin - cells.y0) / cells.dy), np.floor((ymax - cells.y0) / cells.dy)
    small = (ix1 - ix0 <= 1) & (iy1 - iy0 <= 1)
    corners = [cells.lookup(x, y) for x in (xmin, xmax) for y in (ymin, ymax)]
    same = small & np.logical_and.reduce([c == corners[0] for c in corners[1:]])
    return np.where(same & np.isfinite(xmin), corners[0], -1)


def assign_geometries(geoms: np.ndarray, hierarchy: Hierarchy, tolerance_m: float = 1000.0) -> pd.DataFrame:
    """Region codes of WGS84 points, lines or polygons (largest overlap; every county touched listed)."""
    geoms = np.asarray(geoms, dtype=object)
    base = hierarchy.level_units(hierarchy.base_level)
    is_point = shapely.get_type_id(geoms) == 0
    idx = np.full(len(geoms), -1, dtype=np.int64)
    touched: list[list[str]] = [[] for _ in range(len(geoms))]
    codes = base["adcode"].to_numpy()
    ext = np.flatnonzero(~is_point)
    if len(ext):
        # a geometry whose bounding box lies in cells wholly inside one unit is inside that unit alone
        settled = _inside_one_unit(geoms[ext], _indexes(base, hierarchy.cache))
        for i, owner in zip(ext[settled >= 0], settled[settled >= 0], strict=True):
            idx[i] = owner
            touched[i].append(codes[owner])
        ext = ext[settled < 0]
    if len(ext):
        tree = shapely.STRtree(base.geometry.values)
        g_idx, p_idx = tree.query(geoms[ext], predicate="intersects")
        if len(g_idx):
            # only a geometry touching several units needs its overlaps measured (the costly part)
            measure = np.zeros(len(g_idx))
            shared = np.bincount(g_idx, minlength=len(ext))[g_idx] > 1
            if shared.any():
                pieces = shapely.intersection(geoms[ext][g_idx[shared]], base.geometry.values[p_idx[shared]])
                lat = shapely.get_y(shapely.centroid(geoms[ext][g_idx[shared]]))
                measure[shared] = _overlap_measure(pieces, lat)
            order = np.lexsort((codes[p_idx], -measure, g_idx))
            g_sorted, p_sorted = g_idx[order], p_idx[order]
            first = np.r_[True, g_sorted[1:] != g_sorted[:-1]]
            idx[ext[g_sorted[first]]] = p_sorted[first]
            for g, p in zip(g_sorted, p_sorted, strict=True):
                touched[ext[g]].append(codes[p])
    status = np.where(idx >= 0, "inside", "outside")  # fixed-width text: compared at array speed
    distance = np.zeros(len(geoms))
    # points (and extended geometries touching nothing) go through the point rule on a representative point
    rest = np.flatnonzero(idx < 0)
    reps = shapely.point_on_surface(geoms)
    if len(rest):
        pts = reps[rest]
        cover = _covering_unit(pts, base, hierarchy.cache)
        near_idx, near_dist = nearest_within(pts[cover < 0], base, tolerance_m)
        cover_near = cover.copy()
        cover_near[cover < 0] = near_idx
        idx[rest] = cover_near
        sub_status = np.where(cover >= 0, "inside", np.where(cover_near >= 0, "nearest", "outside"))
        status[rest] = sub_status
        sub_dist = np.zeros(len(rest))
        sub_dist[cover < 0] = near_dist
        distance[rest] = sub_dist
        for r, i in zip(rest, cover_near, strict=True):
            if i >= 0:
                touched[r] = [codes[i]]
    out = _codes_frame(idx, status, distance, base, hierarchy, reps)
    out[f"{hierarchy.base_level}_adcodes"] = [",".join(sorted(set(t))) if t else None for t in touched]
    return out
