"""Mapbox Vector Tiles (MVT) of a collection, in the Web Mercator tile grid (z/x/y, XYZ scheme).

Input geometries are WGS84; each tile holds the lines and polygons whose bounds meet the tile (plus a small
buffer, so strokes and fills join seamlessly), clipped and projected to tile coordinates (extent 4096).

A point belongs to exactly one tile, the one its position lies in (`owner_tiles`; a tile covers
[west, east) × (south, north]), and only that tile carries it: a point, or a cluster holding it, is never
counted in two tiles, so the counts of all the tiles covering the data add up to the number of points. Point
layers with more than ``max_points`` (1,000) points in a tile are aggregated server-side into grid clusters
(one feature per occupied cell of a 32×32 grid over the tile, with ``count``, ``n_red``…``n_blue`` and the
worst ``risk_level``), so no tile carries more than a few thousand features whatever is behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely

from geo.catalogue import LEVELS
from geo.scoring.regions import SITE_COUNT_COLUMNS, UNIT_COUNT_COLUMNS
from geo.values import plain as _clean

EXTENT = 4096
MAX_ZOOM = 16  # the deepest zoom tilesets advertise (about 2.4 m per pixel); clients overzoom beyond
#: the properties a tile carries, those of them a layer's table has (declared once: tiles and their metadata)
TILE_PROPS: tuple[str, ...] = (
    "id",
    "adcode",
    "name",
    "domain",
    "type",
    "risk_level",
    "risk_index",
    "risk_score",
    *UNIT_COUNT_COLUMNS,  # a region's enterprises per level
    "n_units",
    *SITE_COUNT_COLUMNS,  # a region's open hazard sites per level
    "n_hazards",
    "kind",  # an emergency resource's kind (collection resources)
    "min_from",  # a rescue-circle band (collection coverage)
    "min_to",
)
#: the fields of a cluster feature (see `_clusters`) with their TileJSON types
CLUSTER_FIELDS: dict[str, str] = {
    "cluster": "Boolean",
    "count": "Number",
    "risk_level": "String",
    **{f"n_{lv}": "Number" for lv in LEVELS},
}
BUFFER = 64  # tile units kept around the tile so lines and polygons join seamlessly
R = 6378137.0


@dataclass(frozen=True)
class TileBounds:
    z: int
    x: int
    y: int
    minx: float  # web mercator metres
    miny: float
    maxx: float
    maxy: float

    @classmethod
    def of(cls, z: int, x: int, y: int) -> TileBounds:
        if not (0 <= z <= 24) or not (0 <= x < 2**z) or not (0 <= y < 2**z):
            raise ValueError(f"tile {z}/{x}/{y} is outside the grid (0 <= x, y < 2^z, z <= 24)")
        size = 2 * math.pi * R / 2**z
        minx = -math.pi * R + x * size
        maxy = math.pi * R - y * size
        return cls(z, x, y, minx, maxy - size, minx + size, maxy)

    def lonlat(self, pad: float = 0.0) -> tuple[float, float, float, float]:
        """The tile's WGS84 bounds, padded by a fraction of its size."""
        w = (self.maxx - self.minx) * pad
        lon0, lat0 = _to_lonlat(self.minx - w, self.miny - w)
        lon1, lat1 = _to_lonlat(self.maxx + w, self.maxy + w)
        return lon0, lat0, lon1, lat1


def _to_lonlat(mx: float, my: float) -> tuple[float, float]:
    return math.degrees(mx / R), math.degrees(2 * math.atan(math.exp(my / R)) - math.pi / 2)


def _mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = np.clip(lat, -85.05112878, 85.05112878)
    return R * np.radians(lon), R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def owner_tiles(lon: np.ndarray, lat: np.ndarray, z: int) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) of the zoom-``z`` tile each point lies in. Computed from the point alone (never relative to
    the tile being drawn), so two neighbouring tiles can never both claim a point on their shared edge."""
    mx, my = _mercator(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    size = 2 * math.pi * R / 2**z
    last = 2**z - 1
    x = np.clip(np.floor((mx + math.pi * R) / size), 0, last).astype(np.int64)
    y = np.clip(np.floor((math.pi * R - my) / size), 0, last).astype(np.int64)
    return x, y


def _to_tile(coords: np.ndarray, tb: TileBounds) -> np.ndarray:
    mx, my = _mercator(coords[:, 0], coords[:, 1])
    px = (mx - tb.minx) / (tb.maxx - tb.minx) * EXTENT
    py = (my - tb.miny) / (tb.maxy - tb.miny) * EXTENT  # y up; the encoder flips it
    return np.column_stack([px, py])


def _features(geoms: np.ndarray, props: pd.DataFrame) -> list[dict]:
    records = props.astype(object).where(props.notna(), None).to_dict(orient="records")
    out = []
    for g, p in zip(geoms, records, strict=True):
        if g is None or shapely.is_empty(g):
            continue
        out.append({"geometry": g, "properties": {k: _clean(v) for k, v in p.items() if _clean(v) is not None}})
    return out


def _clusters(px: np.ndarray, codes: np.ndarray, cells: int = 32) -> list[dict]:
    """One feature per occupied grid cell: mean position, count, count per level, worst level.
    `codes` are level ranks (0 red … 3 blue; anything else counts as blue)."""
    step = EXTENT / cells
    ix = np.clip((px[:, 0] // step).astype(np.int64), 0, cells - 1)
    iy = np.clip((px[:, 1] // step).astype(np.int64), 0, cells - 1)
    cell = ix * cells + iy
    n = cells * cells
    count = np.bincount(cell, minlength=n)
    occupied = np.flatnonzero(count)
    sx = np.bincount(cell, weights=px[:, 0], minlength=n)[occupied] / count[occupied]
    sy = np.bincount(cell, weights=px[:, 1], minlength=n)[occupied] / count[occupied]
    codes = np.where((codes >= 0) & (codes < 4), codes, 3).astype(np.int64)
    per = np.bincount(cell * 4 + codes, minlength=n * 4).reshape(n, 4)[occupied]
    worst = np.argmax(per > 0, axis=1)
    pts = shapely.points(sx, sy)
    out = []
    for i in range(len(occupied)):
        props = {"cluster": True, "count": int(count[occupied[i]]), "risk_level": LEVELS[worst[i]]}
        props.update({f"n_{lv}": int(per[i, k]) for k, lv in enumerate(LEVELS)})
        out.append({"geometry": pts[i], "properties": props})
    return out


def level_codes(levels) -> np.ndarray:
    """Level names → ranks 0 (red) … 3 (blue), -1 for anything else."""
    lv = pd.Series(levels, dtype=object)
    return lv.map({name: i for i, name in enumerate(LEVELS)}).fillna(-1).to_numpy(dtype=np.int8)


def render_tile(
    layer: str,
    geoms: np.ndarray,
    bounds: np.ndarray,
    props: pd.DataFrame,
    z: int,
    x: int,
    y: int,
    *,
    max_points: int = 1000,
    levels: np.ndarray | None = None,
) -> bytes:
    """Encode one tile of a layer. `bounds` is shapely.bounds of `geoms` and `levels` (optional) the
    ``risk_level`` column as level ranks (`level_codes`), both precomputed by the caller once per layer."""
    tb = TileBounds.of(z, x, y)
    lon0, lat0, lon1, lat1 = tb.lonlat(pad=BUFFER / EXTENT)
    hit = np.flatnonzero(
        (bounds[:, 2] >= lon0) & (bounds[:, 0] <= lon1) & (bounds[:, 3] >= lat0) & (bounds[:, 1] <= lat1)
    )
    if len(hit) == 0:
        return mapbox_vector_tile.encode([{"name": layer, "features": []}])
    is_point = shapely.get_type_id(geoms[hit]) == 0
    if is_point.any():  # a point is drawn and counted in its own tile only, never in a neighbour's buffer
        tx, ty = owner_tiles(bounds[hit, 0], bounds[hit, 1], z)
        keep = ~is_point | ((tx == x) & (ty == y))
        hit, is_point = hit[keep], is_point[keep]
    sel = geoms[hit]
    if len(hit) and is_point.all() and len(hit) > max_points:
        px = _to_tile(bounds[hit, :2], tb)  # a point's bounds are its coordinates
        if levels is not None:
            codes = levels[hit]
        elif "risk_level" in props:
            codes = level_codes(props["risk_level"].to_numpy()[hit])
        else:
            codes = np.full(len(hit), 3, dtype=np.int8)
        feats = _clusters(px, codes)
    else:
        clip_box = shapely.box(lon0, lat0, lon1, lat1)
        clipped = np.where(is_point, sel, shapely.intersection(sel, clip_box))
        tiled = shapely.transform(clipped, lambda c: _to_tile(c, tb))
        tolerance = 0.0 if tb.z >= 14 else 1.0
        if tolerance:
            tiled = np.where(is_point, tiled, shapely.simplify(tiled, tolerance, preserve_topology=True))
        feats = _features(tiled, props.iloc[hit].reset_index(drop=True))
    return mapbox_vector_tile.encode(
        [{"name": layer, "features": feats}], default_options={"extents": EXTENT, "quantize_bounds": None}
    )
