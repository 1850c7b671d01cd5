"""Points indexed by the Web Mercator tile they lie in: sorted by the Morton code of their zoom-`DEPTH` tile, so
the points of any tile of zoom ≤ `DEPTH`, or of a few tiles covering a box, are contiguous runs found by binary
search. Building it is a sort of integer codes (no geometry objects, no tree of a million nodes); it serves the
vector tiles (which points a tile owns) and the search around a point (which points can be within the radius).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

R = 6378137.0  # the Web Mercator sphere
DEPTH = 16  # the finest tiles indexed (about 2.4 m per pixel, 600 m a tile at 30°N)


def mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees → Web Mercator metres (latitudes clipped to the square world)."""
    lat = np.clip(lat, -85.05112878, 85.05112878)
    return R * np.radians(lon), R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def owner_tiles(lon: np.ndarray, lat: np.ndarray, z: int) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) of the zoom-``z`` tile each point lies in. Computed from the point alone (never relative to
    the tile being drawn), so two neighbouring tiles can never both claim a point on their shared edge."""
    mx, my = mercator(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    size = 2 * math.pi * R / 2**z
    last = 2**z - 1
    x = np.clip(np.floor((mx + math.pi * R) / size), 0, last).astype(np.int64)
    y = np.clip(np.floor((math.pi * R - my) / size), 0, last).astype(np.int64)
    return x, y


def morton(x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
    """Tile (x, y) → their bits interleaved (x in the even bits, y in the odd): the Morton code, or quadkey as an
    integer. The zoom-Z tiles inside a zoom-z tile (x, y) are exactly the codes in
    [morton(x, y) << 2(Z − z), (morton(x, y) + 1) << 2(Z − z)).
    """
    out = np.zeros(np.shape(x), dtype=np.uint64)
    xs, ys = np.asarray(x, dtype=np.uint64), np.asarray(y, dtype=np.uint64)
    for bit in range(DEPTH):
        b = np.uint64(bit)
        out |= ((xs >> b) & np.uint64(1)) << np.uint64(2 * bit)
        out |= ((ys >> b) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return out


@dataclass(frozen=True)
class PointGrid:
    """Rows of points ordered by the Morton code of the zoom-`DEPTH` tile each lies in (`owner_tiles`). Points
    with no position are in no tile."""

    order: np.ndarray  # row positions, by code
    codes: np.ndarray  # the sorted codes

    @classmethod
    def of(cls, lon: np.ndarray, lat: np.ndarray) -> PointGrid:
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        rows = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
        x, y = owner_tiles(lon[rows], lat[rows], DEPTH)
        codes = morton(x, y)
        by = np.argsort(codes, kind="stable")
        return cls(rows[by], codes[by])

    def _run(self, z: int, x: int, y: int) -> np.ndarray:
        shift = np.uint64(2 * (DEPTH - z))
        first = morton(x, y)
        lo, hi = np.searchsorted(self.codes, [first << shift, (first + np.uint64(1)) << shift])
        return self.order[lo:hi]

    def tile(self, z: int, x: int, y: int) -> np.ndarray:
        """The rows the zoom-`z` tile (x, y) owns, in row order (z ≤ `DEPTH`)."""
        return np.sort(self._run(z, x, y))

    def box(self, west: float, south: float, east: float, north: float) -> np.ndarray:
        """The rows of every point in the tiles covering the box (a superset of the points in it), in row order:
        tiles at the deepest zoom (≤ `DEPTH`) at which the box spans at most two tiles across."""
        width = max(east - west, 1e-12)
        z = int(min(DEPTH, max(0, math.floor(math.log2(360.0 / width)))))
        (x0, x1), (y1, y0) = (v.tolist() for v in owner_tiles(np.array([west, east]), np.array([south, north]), z))
        runs = [self._run(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        return np.sort(np.concatenate(runs)) if runs else np.zeros(0, dtype=np.int64)
