"""A road network as a directed graph of segments, points snapped onto it, and travel times over it.

Every road line is cut into its segments (consecutive vertices); vertices shared by two roads (the same WGS84
coordinates to 1e-7°, about 1 cm) are one node. A segment's weight is its length over its speed, in minutes;
a two-way segment is an edge each way, a one-way segment (OSM ``oneway=yes``; ``-1`` is reversed at build)
one edge. Lengths and snapping are planar in a transverse Mercator projection centred on the network
(`LocalProjection`: scale error under 0.1% within 250 km of the centre).

A point joins the network at the nearest point of the nearest segment (`snap`); the leg between the point and
the road is travelled at the declared off-road speed. Times from many sources (responders) to every target are
one multi-source Dijkstra over the whole graph (`scipy.sparse.csgraph.dijkstra` with ``min_only``), each
source a virtual node joined to the two ends of its segment (`forward`); times from every resource to one
point are one Dijkstra on the reversed graph from the point's segment ends (`backward`). A source and a target
on the same segment are also joined directly along it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyproj
import shapely

from geo.response.snapping import Pieces, build_pieces, nearest_segments

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

#: Weight added to every edge from a virtual node, so that a zero-length leg is still an edge for csgraph.
_EPS = 1e-9


@dataclass(frozen=True)
class LocalProjection:
    """WGS84 ↔ metres in a transverse Mercator centred at (lon0, lat0)."""

    lon0: float
    lat0: float

    @classmethod
    def around(cls, lon: np.ndarray, lat: np.ndarray) -> LocalProjection:
        finite = np.isfinite(lon) & np.isfinite(lat)
        if not finite.any():
            return cls(120.0, 30.0)
        return cls(
            round(float((lon[finite].min() + lon[finite].max()) / 2), 4),
            round(float((lat[finite].min() + lat[finite].max()) / 2), 4),
        )

    @property
    def proj4(self) -> str:
        """The projection as a PROJ string (for PostGIS's ``ST_Transform(geometry, text)`` too)."""
        return f"+proj=tmerc +lat_0={self.lat0} +lon_0={self.lon0} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"

    @cached_property
    def _fwd(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs("EPSG:4326", self.proj4, always_xy=True)

    def to_m(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return np.asarray(x), np.asarray(y)

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._fwd.transform(np.asarray(x), np.asarray(y), direction=pyproj.enums.TransformDirection.INVERSE)
        return np.asarray(lon), np.asarray(lat)


@dataclass(frozen=True)
class Snapped:
    """Points joined to the network: the segment each lies nearest (-1: no network), where along it (0 at its
    start node, 1 at its end node) and the off-road leg in minutes."""

    segment: np.ndarray
    t: np.ndarray
    offroad_min: np.ndarray
    offroad_m: np.ndarray


@dataclass(frozen=True)
class Network:
    """Road segments in metres, their nodes, minutes and directions, and the graph over them."""

    proj: LocalProjection
    xy: np.ndarray  # (E, 4): x0, y0, x1, y1 of each segment, metres
    a: np.ndarray  # start node of each segment
    b: np.ndarray  # end node
    minutes: np.ndarray  # travel time along each segment
    oneway: np.ndarray  # bool: only a → b
    road: np.ndarray  # the row of the roads table each segment comes from
    n_nodes: int
    offroad_kmh: float
    max_offroad_m: float = np.inf

    @classmethod
    def from_roads(
        cls,
        geoms: np.ndarray,
        speed_kmh: np.ndarray,
        oneway: np.ndarray,
        offroad_kmh: float,
        max_offroad_m: float = np.inf,
    ) -> Network:
        """A network from WGS84 (Multi)LineStrings, a speed (km/h) and a direction (1 forward only, -1
        backward only, 0 both) per road. Zero-length segments are left out."""
        geoms = np.asarray(geoms, dtype=object)
        parts, part_of = shapely.get_parts(geoms, return_index=True)
        coords, line = shapely.get_coordinates(parts, return_index=True)
        same = line[1:] == line[:-1]
        start = np.flatnonzero(same)
        road = part_of[line[start]]
        lon0, lat0, lon1, lat1 = coords[start, 0], coords[start, 1], coords[start + 1, 0], coords[start + 1, 1]
        way = np.asarray(oneway, dtype=np.int8)[road]
        back = way < 0  # drawn against the direction of travel: turn it round
        lon0, lon1 = np.where(back, lon1, lon0), np.where(back, lon0, lon1)
        lat0, lat1 = np.where(back, lat1, lat0), np.where(back, lat0, lat1)
        proj = LocalProjection.around(np.r_[lon0, lon1], np.r_[lat0, lat1])
        x0, y0 = proj.to_m(lon0, lat0)
        x1, y1 = proj.to_m(lon1, lat1)
        length = np.hypot(x1 - x0, y1 - y0)
        keys = np.round(np.r_[lon0, lon1] * 1e7).astype(np.int64) * 4_000_000_000 + np.round(
            np.r_[lat0, lat1] * 1e7
        ).astype(np.int64)
        uniq, node = np.unique(keys, return_inverse=True)
        a, b = node[: len(lon0)], node[len(lon0) :]
        keep = (length > 0) & (a != b)
        speed = np.asarray(speed_kmh, dtype=np.float64)[road]
        minutes = length / (speed * 1000.0 / 60.0)
        return cls(
            proj,
            np.column_stack([x0, y0, x1, y1])[keep],
            a[keep],
            b[keep],
            minutes[keep],
            (way != 0)[keep],
            road[keep],
            len(uniq),
            offroad_kmh,
            max_offroad_m,
        )

    # -- the graph ---------------------------------------------------------------------------------------
    def _edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        two = ~self.oneway
        rows = np.r_[self.a, self.b[two]]
        cols = np.r_[self.b, self.a[two]]
        w = np.r_[self.minutes, self.minutes[two]]
        return rows, cols, w

    @cached_property
    def graph(self) -> csr_matrix:
        """Nodes × nodes, the fastest of parallel segments kept (csgraph would add duplicates up)."""
        rows, cols, w = self._edges()
        return _min_csr(rows, cols, w, self.n_nodes)

    @cached_property
    def reversed_graph(self) -> csr_matrix:
        return self.graph.transpose().tocsr()

    @cached_property
    def components(self) -> np.ndarray:
        """The weakly connected piece of each node (0 the largest)."""
        from scipy.sparse.csgraph import connected_components

        _, labels = connected_components(self.graph, directed=True, connection="weak")
        sizes = np.bincount(labels)
        rank = np.empty_like(sizes)
        rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
        return rank[labels]

    @cached_property
    def _tree(self) -> shapely.STRtree:
        return shapely.STRtree(self._lines)

    @cached_property
    def _pieces(self) -> Pieces:
        return build_pieces(self.xy)

    @cached_property
    def _lines(self) -> np.ndarray:
        return shapely.linestrings(self.xy.reshape(-1, 2, 2))

    # -- snapping ----------------------------------------------------------------------------------------
    def snap(self, lon: np.ndarray, lat: np.ndarray) -> Snapped:
        """The nearest point of the nearest segment for each WGS84 point (segment -1: NaN coordinates, or farther
        than `max_offroad_m` from every road; its `offroad_m` is then inf, or its distance if measured)."""
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        n = len(lon)
        seg = np.full(n, -1, dtype=np.int64)
        t = np.zeros(n)
        dist = np.full(n, np.inf)
        ok = np.isfinite(lon) & np.isfinite(lat)
        if ok.any() and len(self.minutes):
            x, y = self.proj.to_m(lon[ok], lat[ok])
            found, d = nearest_segments(self._pieces, lambda: self._tree, x, y, far=self.max_offroad_m)
            seg[ok], dist[ok] = found, d
            x0, y0, x1, y1 = self.xy[np.maximum(found, 0)].T
            dx, dy = x1 - x0, y1 - y0
            t[ok] = np.where(found >= 0, np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0), 0.0)
            seg[dist > self.max_offroad_m] = -1  # too far from every road: not reached by road (distance inf)
        offroad = dist / (self.offroad_kmh * 1000.0 / 60.0)
        return Snapped(seg, t, offroad, dist)

    # -- travel times ------------------------------------------------------------------------------------
    def forward(self, sources: Snapped, targets: Snapped) -> tuple[np.ndarray, np.ndarray]:
        """Minutes from the nearest source to every target, and which source (-1: none reaches it)."""
        src = np.flatnonzero(sources.segment >= 0)
        n_targets = len(targets.segment)
        best = np.full(n_targets, np.inf)
        who = np.full(n_targets, -1, dtype=np.int64)
        if not len(src) or not len(self.minutes):
            return best, who
        s_seg = sources.segment[src]
        m = self.minutes[s_seg]
        virtual = self.n_nodes + np.arange(len(src))
        to_end = (1 - sources.t[src]) * m + sources.offroad_min[src] + _EPS
        to_start = sources.t[src] * m + sources.offroad_min[src] + _EPS
        two = ~self.oneway[s_seg]
        rows, cols, w = self._edges()
        rows = np.r_[rows, virtual, virtual[two]]
        cols = np.r_[cols, self.b[s_seg], self.a[s_seg][two]]
        w = np.r_[w, to_end, to_start[two]]
        graph = _min_csr(rows, cols, w, self.n_nodes + len(src))
        from scipy.sparse.csgraph import dijkstra

        dist, _, origin = dijkstra(graph, directed=True, indices=virtual, min_only=True, return_predecessors=True)
        origin = np.where(origin >= self.n_nodes, origin - self.n_nodes, -1)
        tgt = np.flatnonzero(targets.segment >= 0)
        seg, t = targets.segment[tgt], targets.t[tgt]
        tm = self.minutes[seg]
        via_a = dist[self.a[seg]] + t * tm
        via_b = np.where(self.oneway[seg], np.inf, dist[self.b[seg]] + (1 - t) * tm)
        arrive = np.minimum(via_a, via_b) + targets.offroad_min[tgt]
        came = np.where(via_a <= via_b, origin[self.a[seg]], origin[self.b[seg]])
        best[tgt], who[tgt] = arrive, np.where(np.isfinite(arrive), src[np.maximum(came, 0)], -1)
        direct, by = _same_segment(self, sources, src, targets, tgt)
        better = direct < best[tgt]
        best[tgt[better]], who[tgt[better]] = direct[better], by[better]
        return best, who

    def backward(self, point: Snapped, sources: Snapped, limit: float = np.inf) -> np.ndarray:
        """Minutes from every source to the one snapped `point` (inf: not within `limit` minutes)."""
        out = np.full(len(sources.segment), np.inf)
        seg = int(point.segment[0])
        if seg < 0:
            return out
        a, b, m, t = int(self.a[seg]), int(self.b[seg]), float(self.minutes[seg]), float(point.t[0])
        ends = [a] if self.oneway[seg] else [a, b]
        from scipy.sparse.csgraph import dijkstra

        d = dijkstra(self.reversed_graph, directed=True, indices=ends, limit=limit)
        to_p = d[0] + t * m  # time from each node to the point, through the segment's start
        if len(ends) == 2:
            to_p = np.minimum(to_p, d[1] + (1 - t) * m)
        ok = np.flatnonzero(sources.segment >= 0)
        s_seg = sources.segment[ok]
        sm, st = self.minutes[s_seg], sources.t[ok]
        leave_b = (1 - st) * sm + to_p[self.b[s_seg]]
        leave_a = np.where(self.oneway[s_seg], np.inf, st * sm + to_p[self.a[s_seg]])
        out[ok] = np.minimum(leave_a, leave_b) + sources.offroad_min[ok] + float(point.offroad_min[0])
        on = ok[s_seg == seg]
        if len(on):
            along = np.abs(point.t[0] - sources.t[on]) * m
            allowed = ~self.oneway[seg] | (sources.t[on] <= point.t[0])
            legs = sources.offroad_min[on] + float(point.offroad_min[0]) + np.where(allowed, along, np.inf)
            out[on] = np.minimum(out[on], legs)
        out[out > limit] = np.inf
        return out


def _min_csr(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int) -> csr_matrix:
    from scipy.sparse import csr_matrix

    order = np.lexsort((w, cols, rows))
    rows, cols, w = rows[order], cols[order], w[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    return csr_matrix((w[first], (rows[first], cols[first])), shape=(n, n))


def _same_segment(
    net: Network, sources: Snapped, src: np.ndarray, targets: Snapped, tgt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each target in `tgt`: the fastest straight run along its segment from a source on the same one
    (inf where none), and that source."""
    best = np.full(len(tgt), np.inf)
    by = np.full(len(tgt), -1, dtype=np.int64)
    s = pd.DataFrame({"seg": sources.segment[src], "src": src})
    t = pd.DataFrame({"seg": targets.segment[tgt], "i": np.arange(len(tgt))})
    pairs = t.merge(s, on="seg")
    if not len(pairs):
        return best, by
    i, sidx, seg = pairs["i"].to_numpy(), pairs["src"].to_numpy(), pairs["seg"].to_numpy()
    tt, ts = targets.t[tgt[i]], sources.t[sidx]
    allowed = ~net.oneway[seg] | (ts <= tt)
    cost = np.where(
        allowed, np.abs(tt - ts) * net.minutes[seg] + sources.offroad_min[sidx] + targets.offroad_min[tgt[i]], np.inf
    )
    order = np.lexsort((cost, i))
    first = np.r_[True, i[order][1:] != i[order][:-1]]
    pick = order[first]
    best[i[pick]], by[i[pick]] = cost[pick], sidx[pick]
    return best, by
