"""Web geometry: boundaries simplified as a coverage, rounded to about a metre, optionally shifted to GCJ-02.

Takes and returns WGS84 (EPSG:4326) unless ``crs='gcj02'`` is asked for, in which case the returned
coordinates are GCJ-02 (for overlays on an Amap/Tencent basemap) and the frame is still *labelled*
EPSG:4326 — there is no EPSG code for GCJ-02.

How: the leaves of the administrative tree (units with no loaded children — the counties, or townships
where those were added) are simplified together with :func:`shapely.coverage_simplify`, so two neighbours
keep exactly the same shared border. Every coarser unit is then the :func:`shapely.coverage_union_all` of
its simplified children, so a city outline lies exactly on its counties' borders (the drill-down view
draws both). Coordinates are rounded last (1e-5° by default).

Results are cached in-process, keyed by a hash of the boundaries' content (codes, names, levels and
geometry WKB), the tolerance, the precision and the CRS: a service re-rendering pages reuses them.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import polylabel

from geo.crs import geometry_from_wgs84

__all__ = ["content_hash", "decode_line", "encode_geometry", "encode_line", "quantize", "web_boundaries"]

_CACHE: OrderedDict[tuple, gpd.GeoDataFrame] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()
_COMPLETE = 0.98  # children must cover this share of a parent's area for their union to stand in for it


def content_hash(boundaries: gpd.GeoDataFrame) -> str:
    """A stable hash of a boundaries frame's content (codes, names, levels, parents and geometry)."""
    h = hashlib.sha256()
    for col in ("adcode", "name", "admin_level", "parent_adcode"):
        h.update("\x1f".join(str(v) for v in boundaries[col].tolist()).encode("utf-8") + b"\x1e")
    for wkb in shapely.to_wkb(np.asarray(boundaries.geometry.values, dtype=object)):
        h.update(wkb or b"")
    return h.hexdigest()


def _decimals(precision: float) -> int | None:
    exp = -math.log10(precision)
    return round(exp) if abs(exp - round(exp)) < 1e-9 else None


def quantize(geoms: np.ndarray, precision: float) -> np.ndarray:
    """Round every coordinate to a multiple of ``precision`` degrees (vectorised)."""
    decimals = _decimals(precision)
    if decimals is not None:
        return shapely.transform(geoms, lambda c: np.round(c, decimals))
    return shapely.transform(geoms, lambda c: np.round(c / precision) * precision)


def _children(frame: pd.DataFrame) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    codes = set(frame["adcode"])
    for i, parent in enumerate(frame["parent_adcode"].tolist()):
        if isinstance(parent, str) and parent in codes:
            out.setdefault(parent, []).append(i)
    return out


def _simplify(frame: gpd.GeoDataFrame, tolerance: float) -> np.ndarray:
    geoms = np.asarray(frame.geometry.values, dtype=object).copy()
    if tolerance <= 0:
        return geoms
    children = _children(frame)
    codes = frame["adcode"].tolist()
    leaves = np.array([code not in children for code in codes])
    geoms[leaves] = shapely.coverage_simplify(geoms[leaves], tolerance)
    original_area = shapely.area(np.asarray(frame.geometry.values, dtype=object))
    ranks = frame["level_rank"].to_numpy()
    for i in np.argsort(-ranks, kind="stable"):
        kids = children.get(codes[i])
        if not kids:
            continue
        union = shapely.coverage_union_all(geoms[kids])
        if shapely.area(union) >= _COMPLETE * original_area[i]:
            geoms[i] = union
        else:  # children do not cover it (a partial finer level): simplify the unit on its own
            geoms[i] = shapely.simplify(frame.geometry.values[i], tolerance, preserve_topology=True)
    return geoms


def _label_points(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A label point per unit: the pole of inaccessibility of its largest polygon."""
    xs, ys = np.full(len(geoms), np.nan), np.full(len(geoms), np.nan)
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        parts = shapely.get_parts(geom)
        big = parts[int(np.argmax(shapely.area(parts)))]
        try:
            p = polylabel(big, tolerance=max(math.sqrt(big.area) / 50.0, 1e-5))
        except Exception:  # noqa: BLE001 - a degenerate ring: fall back to a point on the surface
            p = shapely.point_on_surface(big)
        xs[i], ys[i] = p.x, p.y
    return xs, ys


def _build(boundaries: gpd.GeoDataFrame, tolerance: float, precision: float, crs: str) -> gpd.GeoDataFrame:
    frame = boundaries.reset_index(drop=True)
    geoms = _simplify(frame, tolerance)
    if crs != "wgs84":
        geoms = np.asarray(geometry_from_wgs84(geoms, crs), dtype=object)
    lx, ly = _label_points(geoms)
    geoms = quantize(geoms, precision)
    decimals = _decimals(precision) or 7
    out = gpd.GeoDataFrame(
        frame.drop(columns=frame.geometry.name).assign(label_x=np.round(lx, decimals), label_y=np.round(ly, decimals)),
        geometry=geoms,
        crs="EPSG:4326",
    )
    out["encoded"] = [encode_geometry(g, precision) for g in geoms]
    out.attrs["crs_name"] = crs
    return out


def web_boundaries(
    boundaries: gpd.GeoDataFrame,
    *,
    tolerance_deg: float = 0.001,
    precision_deg: float = 1e-5,
    crs: str = "wgs84",
) -> gpd.GeoDataFrame:
    """Boundaries of every level, coverage-simplified and rounded, with ``label_x``/``label_y`` columns and
    ``encoded`` (the geometry as :func:`encode_geometry` gives it, for the map page).

    ``boundaries`` is WGS84 (the store's boundaries table). ``crs`` is 'wgs84' or 'gcj02' (coordinates
    shifted, frame still labelled EPSG:4326). Cached by content; do not modify the returned frame.
    """
    crs = crs.lower()
    if crs not in ("wgs84", "gcj02"):
        raise ValueError(f"web geometry crs {crs!r}: use wgs84 or gcj02")
    key = (content_hash(boundaries), float(tolerance_deg), float(precision_deg), crs)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    built = _build(boundaries, tolerance_deg, precision_deg, crs)
    with _LOCK:
        _CACHE[key] = built
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return built


# -- compact encoding for the map page ------------------------------------------------------------------
def _polyline(values: np.ndarray) -> str:
    """Google's encoded-polyline algorithm over a flat int64 array of deltas (zigzag, 5-bit chunks + 63)."""
    zz = np.where(values < 0, ~(values << 1), values << 1).astype(np.int64)
    out = []
    for v in zz.tolist():
        while v >= 0x20:
            out.append(chr((0x20 | (v & 0x1F)) + 63))
            v >>= 5
        out.append(chr(v + 63))
    return "".join(out)


def encode_line(coords: np.ndarray, precision: float = 1e-5, *, closed: bool = False) -> str:
    """Coordinates (N×2, lon/lat) as an encoded polyline string of x/y deltas in units of ``precision``.

    Points repeated after rounding are dropped; for a ring (``closed``) the closing point is implied.
    Note the order is x (lon) then y (lat), unlike Google's lat-first convention.
    """
    q = np.round(np.asarray(coords, dtype=np.float64)[:, :2] / precision).astype(np.int64)
    if len(q) > 1:
        keep = np.ones(len(q), dtype=bool)
        keep[1:] = np.any(q[1:] != q[:-1], axis=1)
        q = q[keep]
        if closed and len(q) > 1 and (q[0] == q[-1]).all():
            q = q[:-1]
    d = q.copy()
    d[1:] -= q[:-1]
    return _polyline(d.ravel())


def encode_geometry(geom: shapely.Geometry | None, precision: float = 1e-5) -> list[list[str]]:
    """A (Multi)Polygon as polygons → rings → encoded polyline strings (see :func:`encode_line`).

    About a fifth of the size of the same coordinates as GeoJSON text; the map page decodes it back.
    """
    if geom is None or geom.is_empty:
        return []
    out = []
    for poly in shapely.get_parts(geom):
        if shapely.get_type_id(poly) != 3:
            continue
        rings = [poly.exterior, *poly.interiors]
        out.append([encode_line(shapely.get_coordinates(r), precision, closed=True) for r in rings])
    return out


def decode_line(text: str, precision: float = 1e-5) -> np.ndarray:
    """The inverse of :func:`encode_line` (for tests and tools): an N×2 array of lon/lat."""
    values, shift, acc = [], 0, 0
    for ch in text:
        b = ord(ch) - 63
        acc |= (b & 0x1F) << shift
        shift += 5
        if b < 0x20:
            values.append(~(acc >> 1) if acc & 1 else acc >> 1)
            shift, acc = 0, 0
    d = np.asarray(values, dtype=np.int64).reshape(-1, 2)
    return np.cumsum(d, axis=0) * precision
