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
from typing import Any

import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2

from geo.catalogue import LEVELS
from geo.pointgrid import DEPTH, PointGrid, R, owner_tiles
from geo.pointgrid import mercator as _mercator
from geo.scoring.regions import SITE_COUNT_COLUMNS, UNIT_COUNT_COLUMNS
from geo.values import plain as _clean

EXTENT = 4096
MAX_ZOOM = DEPTH  # the deepest zoom tilesets advertise (about 2.4 m per pixel); clients overzoom beyond
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


@dataclass(frozen=True)
class PointTiles:
    """A point layer's rows by vector tile (`geo.pointgrid.PointGrid`: the points a tile owns found by two
    binary searches, 0.05 ms at 1M, instead of testing every point's bounds, ~15 ms), and their projected
    positions."""

    grid: PointGrid
    mercator: np.ndarray  # (n, 2) every row's Web Mercator metres (NaN where no position)

    @classmethod
    def of(cls, lon: np.ndarray, lat: np.ndarray) -> PointTiles:
        return cls(PointGrid.of(lon, lat), np.column_stack(_mercator(lon, lat)))

    def rows(self, z: int, x: int, y: int) -> np.ndarray:
        """The rows the tile owns, in row order (z ≤ `MAX_ZOOM`)."""
        return self.grid.tile(z, x, y)

    def to_tile(self, rows: np.ndarray, tb: TileBounds) -> np.ndarray:
        """`rows`' positions in the tile's coordinates (as `_to_tile`, from the projected positions kept)."""
        m = self.mercator[rows]
        return np.column_stack(
            [(m[:, 0] - tb.minx) / (tb.maxx - tb.minx) * EXTENT, (m[:, 1] - tb.miny) / (tb.maxy - tb.miny) * EXTENT]
        )


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


def tile_records(props: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's properties as plain Python values, missing ones left out (what a tile carries), column by column."""
    columns = []
    for name in props.columns:
        columns.append([_clean(v) for v in props[name].to_numpy(dtype=object)])
    return [
        {k: v for k, v in zip(props.columns, vals, strict=True) if v is not None} for vals in zip(*columns, strict=True)
    ]


def encode_points(layer: str, px: np.ndarray, records: list[dict[str, Any]]) -> bytes:
    """A tile of one layer of points, `px` (n × 2) in tile coordinates (y up), each with its properties: the same
    bytes as `mapbox_vector_tile.encode` gives (a test compares them), written straight into the library's protobuf
    message. The generic encoder checks every value's type and geometry per feature (~26 µs a feature, 26 ms for
    a tile of 1,000 clusters); here a feature is ~3 µs."""
    tile = vector_tile_pb2.tile()
    out = tile.layers.add()
    out.name, out.version, out.extent = layer, 2, EXTENT
    keys: dict[str, int] = {}
    values: dict[Any, int] = {}  # as the library: bools apart, other equal values (1 and 1.0) share a slot
    bools: dict[Any, int] = {}
    x = np.rint(px[:, 0]).astype(np.int64)
    y = EXTENT - np.rint(px[:, 1]).astype(np.int64)  # tile rows run down
    zx, zy = (x << 1) ^ (x >> 63), (y << 1) ^ (y >> 63)  # zigzag
    for gx, gy, props in zip(zx.tolist(), zy.tolist(), records, strict=True):
        f = out.features.add()
        tags: list[int] = []
        for k, v in props.items():
            if not isinstance(v, str | bool | int | float):  # the library leaves out what it cannot type
                continue
            if k not in keys:
                keys[k] = len(keys)
                out.keys.append(k)
            seen: dict[Any, int] = bools if isinstance(v, bool) else values
            if v not in seen:
                seen[v] = len(values) + len(bools)
                val = out.values.add()
                if isinstance(v, bool):
                    val.bool_value = v
                elif isinstance(v, str):
                    val.string_value = v
                elif isinstance(v, int):
                    val.int_value = v
                else:
                    val.double_value = v
            tags += (keys[k], seen[v])
        f.tags.extend(tags)
        f.type = vector_tile_pb2.tile.Point
        f.geometry.extend((9, gx, gy))  # MoveTo, 1 point
    return tile.SerializeToString()


def _clusters(px: np.ndarray, codes: np.ndarray, cells: int = 32) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One feature per occupied grid cell: mean position (tile coordinates), count, count per level, worst level.
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
    return np.column_stack([sx, sy]), cluster_records(count[occupied], per)


def cluster_records(count: np.ndarray, per: np.ndarray) -> list[dict[str, Any]]:
    """The properties of cluster features: each one's count, count per level (`per`: n × 4, red … blue) and
    worst level."""
    worst = np.argmax(per > 0, axis=1)
    return [
        {
            "cluster": True,
            "count": total,
            "risk_level": LEVELS[w],
            **{f"n_{lv}": k for lv, k in zip(LEVELS, row, strict=True)},
        }
        for total, w, row in zip(count.tolist(), worst.tolist(), per.tolist(), strict=True)
    ]


def empty_tile(layer: str) -> bytes:
    return mapbox_vector_tile.encode([{"name": layer, "features": []}])


def level_codes(levels) -> np.ndarray:
    """Level names → ranks 0 (red) … 3 (blue), -1 for anything else (the distinct names looked up, not each)."""
    codes, uniques = pd.factorize(levels if isinstance(levels, pd.Series) else pd.Series(levels, dtype=object))
    ranks = {name: i for i, name in enumerate(LEVELS)}
    by_code = np.array([ranks.get(u, -1) for u in uniques] + [-1], dtype=np.int8)  # the last: missing (-1)
    return by_code[codes]


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
    points: PointTiles | None = None,
) -> bytes:
    """Encode one tile of a layer. `bounds` is shapely.bounds of `geoms` and `levels` (optional) the
    ``risk_level`` column as level ranks (`level_codes`), both precomputed by the caller once per layer; for a
    layer of points only, `points` (optional, `PointTiles`) finds a tile's points without testing them all."""
    tb = TileBounds.of(z, x, y)
    lon0, lat0, lon1, lat1 = tb.lonlat(pad=BUFFER / EXTENT)
    if points is not None and z <= MAX_ZOOM:
        hit = points.rows(z, x, y)
        is_point = np.ones(len(hit), dtype=bool)
    else:
        hit = np.flatnonzero(
            (bounds[:, 2] >= lon0) & (bounds[:, 0] <= lon1) & (bounds[:, 3] >= lat0) & (bounds[:, 1] <= lat1)
        )
        is_point = shapely.get_type_id(geoms[hit]) == 0
    if len(hit) == 0:
        return empty_tile(layer)
    if is_point.any() and points is None:  # a point is drawn and counted in its own tile only, not in a neighbour's
        tx, ty = owner_tiles(bounds[hit, 0], bounds[hit, 1], z)
        keep = ~is_point | ((tx == x) & (ty == y))
        hit, is_point = hit[keep], is_point[keep]
    if is_point.all() and np.isfinite(bounds[hit, :2]).all():  # points: positions and properties only
        px = points.to_tile(hit, tb) if points is not None else _to_tile(bounds[hit, :2], tb)
        if len(hit) <= max_points:
            return encode_points(layer, px, tile_records(props.iloc[hit]))
        if levels is not None:
            codes = levels[hit]
        elif "risk_level" in props:
            codes = level_codes(props["risk_level"].to_numpy()[hit])
        else:
            codes = np.full(len(hit), 3, dtype=np.int8)
        return encode_points(layer, *_clusters(px, codes))
    sel = geoms[hit]
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
