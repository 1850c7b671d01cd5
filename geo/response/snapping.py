"""The nearest segment of many points, exactly, fast: a k-d tree of segment pieces, in space-filling-curve order.

Segments are cut into pieces of at most `SNAP_PIECE_M`; a k-d tree indexes the pieces' midpoints. For each
point the `SNAP_K` nearest midpoints are looked up and their pieces measured exactly; a piece farther than the
k-th midpoint cannot be nearer than (that distance − the longest half-piece), so a point whose best distance is
within that bound is settled. The unsettled points (a block's middle) get a second, wider look
(`SNAP_K_WIDE`); those still unsettled (rare: a point far from a sparse network) ask an STRtree of whole
segments. Among equally near segments the lowest index wins.

Speed comes from memory order, not from a different answer: pieces are stored in Morton (Z-order) order of
their midpoints, each with its segment's geometry in one row (one cache line per candidate instead of five
scattered reads); the points are visited in Morton order too, exact duplicates (census points repeat:
several units at one address) measured once, and in chunks on threads (the k-d tree and numpy release the
GIL). Planar coordinates in metres throughout (the network's `LocalProjection`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

#: snapping cuts segments into pieces at most this long (metres) for its k-d tree of piece midpoints
SNAP_PIECE_M = 200.0
#: piece midpoints looked at per point before the exactness check
SNAP_K = 8
#: … and for the points that leaves unsettled (a block's middle, a sparse network), before the STRtree
SNAP_K_WIDE = 16
#: points measured per task (a chunk's candidates take SNAP_K × 64 bytes each)
CHUNK = 1 << 16
#: threads that snap chunks at once
THREADS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Pieces:
    """Segments cut into pieces of at most `SNAP_PIECE_M`, in Morton order of their midpoints, indexed by them.

    ``rows`` holds per piece: its segment's x0, y0, dx, dy, the piece's t0 and t1 along it (0..1), and the
    segment index (as a float: exact below 2⁵³)."""

    tree: cKDTree
    rows: np.ndarray  # (P, 7) float64
    half: float  # the longest half-piece (metres)

    @property
    def seg(self) -> np.ndarray:
        return self.rows[:, 6].astype(np.int64)


def _spread(v: np.ndarray) -> np.ndarray:
    """The bits of 32-bit integers spread to the even bits of 64-bit ones."""
    v = v.astype(np.uint64) & np.uint64(0xFFFFFFFF)
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def morton_order(x: np.ndarray, y: np.ndarray, cell: float = 1.0) -> np.ndarray:
    """Positions sorting planar points along a Z-order curve of `cell`-metre cells (nearby points end up near
    each other); equal points are adjacent."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    qx = np.clip((x - x.min()) / cell, 0, 2**31 - 1).astype(np.uint64)
    qy = np.clip((y - y.min()) / cell, 0, 2**31 - 1).astype(np.uint64)
    return np.argsort(_spread(qx) | (_spread(qy) << np.uint64(1)), kind="stable")


def build_pieces(xy: np.ndarray) -> Pieces:
    """The pieces of segments `xy` ((E, 4): x0, y0, x1, y1 in metres)."""
    length = np.hypot(xy[:, 2] - xy[:, 0], xy[:, 3] - xy[:, 1])
    n = np.maximum(1, np.ceil(length / SNAP_PIECE_M)).astype(np.int64)
    seg = np.repeat(np.arange(len(xy)), n)
    j = np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
    t0, t1 = j / n[seg], (j + 1) / n[seg]
    tm = (t0 + t1) / 2
    dx, dy = xy[seg, 2] - xy[seg, 0], xy[seg, 3] - xy[seg, 1]
    mx, my = xy[seg, 0] + tm * dx, xy[seg, 1] + tm * dy
    order = morton_order(mx, my)
    rows = np.column_stack([xy[seg, 0], xy[seg, 1], dx, dy, t0, t1, seg.astype(np.float64)])[order]
    half = float((length / n).max() / 2) if len(xy) else 0.0
    from scipy.spatial import cKDTree

    return Pieces(cKDTree(np.column_stack([mx[order], my[order]])), np.ascontiguousarray(rows), half)


def _measure(
    pieces: Pieces, x: np.ndarray, y: np.ndarray, k: int, far: float = np.inf
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one chunk: the nearest segment among the k nearest pieces, its distance, and whether that is
    settled (no piece beyond the k-th can be nearer). Pieces whose middle is farther than `far` + half a piece
    are not looked at: a point with none nearer is settled as beyond `far` (segment -1, distance inf)."""
    r, idx = pieces.tree.query(np.column_stack([x, y]), k=k, distance_upper_bound=far + pieces.half)
    r, idx = r.reshape(len(x), k), idx.reshape(len(x), k)
    missing = ~np.isfinite(r)  # fewer than k pieces within reach
    idx = np.where(missing, 0, idx)
    c = pieces.rows[idx]  # (n, k, 7): one gather of each candidate's row
    x0, y0, dx, dy, t0, t1 = (c[..., i] for i in range(6))
    seg = c[..., 6].astype(np.int64)
    t = ((x[:, None] - x0) * dx + (y[:, None] - y0) * dy) / (dx * dx + dy * dy)
    t = np.clip(t, t0, t1)
    d = np.where(missing, np.inf, np.hypot(x0 + t * dx - x[:, None], y0 + t * dy - y[:, None]))
    rows = np.arange(len(x))
    best = d.argmin(axis=1)
    dmin = d[rows, best]
    tied = np.flatnonzero(((d == dmin[:, None]).sum(axis=1) > 1) & np.isfinite(dmin))
    if len(tied):  # equally near segments (a point nearest a shared vertex): the lowest segment index
        key = np.where(d[tied] == dmin[tied, None], seg[tied], np.iinfo(np.int64).max)
        best[tied] = key.argmin(axis=1)
    settled = dmin <= r[:, -1] - pieces.half if k < len(pieces.rows) else np.ones(len(x), dtype=bool)
    found = seg[rows, best]
    beyond = ~np.isfinite(dmin)
    found[beyond] = -1
    return found, dmin, settled | beyond


def nearest_segments(
    pieces: Pieces, tree: Callable[[], shapely.STRtree], x: np.ndarray, y: np.ndarray, far: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest segment of each point (the lowest index among equally near ones) and the distance; a point
    farther than `far` from every segment may get -1 and inf instead (it is not looked at closely: a census
    spread over a province with roads loaded for part of it has most of its points there)."""
    n = len(x)
    found, dist = np.zeros(n, dtype=np.int64), np.zeros(n)
    if not n:
        return found, dist
    order = morton_order(x, y)
    xs, ys = x[order], y[order]
    new = np.r_[True, (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])]  # exact repeats of the previous point
    first = np.flatnonzero(new)
    ux, uy = xs[first], ys[first]
    k = min(SNAP_K, len(pieces.rows))
    starts = range(0, len(ux), CHUNK)

    def task(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _measure(pieces, ux[s : s + CHUNK], uy[s : s + CHUNK], k, far)

    if len(starts) > 1 and THREADS > 1:
        with ThreadPoolExecutor(THREADS) as pool:
            parts = list(pool.map(task, starts))
    else:
        parts = [task(s) for s in starts]
    ufound = np.concatenate([p[0] for p in parts])
    udist = np.concatenate([p[1] for p in parts])
    unsure = np.flatnonzero(~np.concatenate([p[2] for p in parts]))
    wide = min(SNAP_K_WIDE, len(pieces.rows))
    if len(unsure) and wide > k:  # a second look, wider, before the exact but slow STRtree
        f2, d2, ok2 = _measure(pieces, ux[unsure], uy[unsure], wide, far)
        ufound[unsure[ok2]], udist[unsure[ok2]] = f2[ok2], d2[ok2]
        unsure = unsure[~ok2]
    if len(unsure):
        (pt_idx, seg_idx), dd = tree().query_nearest(
            shapely.points(ux[unsure], uy[unsure]), return_distance=True, all_matches=True
        )
        sort = np.lexsort((seg_idx, pt_idx))
        pt_idx, seg_idx, dd = pt_idx[sort], seg_idx[sort], dd[sort]
        head = np.r_[True, pt_idx[1:] != pt_idx[:-1]]
        ufound[unsure[pt_idx[head]]], udist[unsure[pt_idx[head]]] = seg_idx[head], dd[head]
    group = np.cumsum(new) - 1  # each sorted point's distinct point
    found[order], dist[order] = ufound[group], udist[group]
    return found, dist
