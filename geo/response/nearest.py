"""Emergency resources near a point, by travel time: every resource's minutes to the point (by road when the
store holds a road network: one Dijkstra on the reversed graph from the point; else the estimate) and its
geodesic distance. Built once per snapshot view (`ResourceIndex.build`), queried per request. WGS84."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyproj import Geod

from geo.catalogue import Catalogue, load_catalogue
from geo.response.config import ResponseConfig, load_response
from geo.response.estimate import Estimator, urban_counties
from geo.response.network import LocalProjection, Network, Snapped
from geo.values import plain

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

_GEOD = Geod(ellps="WGS84")
#: with more resources than this, a point's resources are timed from candidates (see `_estimate_candidates`)
CANDIDATES_FROM = 2000
#: the nearest of each kind (and expert domain) timed: twice the longest list a briefing shows (responders, 10),
#: so that planar and geodesic distances ordering a few of them differently cannot change the lists
CANDIDATES_PER_GROUP = 24
#: a resource farther than this by road is listed without a travel time (the search stops there)
ROAD_LIMIT_MIN = 120.0
#: the first search by road stops at this many minutes, and is doubled while a list would be short
FIRST_ROAD_LIMIT_MIN = 15.0
#: the longest list of one kind a request shows (the briefing's responders)
LONGEST_LIST = 10
#: what a listed resource carries (those present)
RESOURCE_FIELDS = ("id", "name", "kind", "capacity", "staff", "vehicles", "phone", "address", "domain", "stock")


@dataclass
class ResourceIndex:
    """A snapshot's resources with what it takes to time them to any point."""

    columns: dict[str, np.ndarray]
    lon: np.ndarray
    lat: np.ndarray
    kind: np.ndarray
    network: Network | None
    snapped: Snapped | None
    estimator: Estimator
    config: ResponseConfig
    catalogue: Catalogue
    #: by the estimate, a planar k-d tree per kind (and per expert domain) to find the candidates of a point
    groups: list[tuple[np.ndarray, cKDTree]] = field(default_factory=list)
    #: the rows of each kind
    kind_rows: dict[str, np.ndarray] = field(default_factory=dict)
    #: the rows each list may be drawn from: each kind, and the experts of each domain
    list_groups: list[np.ndarray] = field(default_factory=list)
    #: the `RESOURCE_FIELDS` of some rows (row numbers → column → values in that order), when `columns` holds only
    #: what the search reads (kind, domain) and the rest stays in the store (`api.sqlview`); None: from `columns`
    fetch: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None

    def __post_init__(self) -> None:
        if not self.kind_rows and len(self.kind):
            codes, inverse = np.unique(self.kind.astype(str), return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            bounds = np.searchsorted(inverse[order], np.arange(len(codes) + 1))
            self.kind_rows = {str(c): order[bounds[i] : bounds[i + 1]] for i, c in enumerate(codes)}
        if not self.list_groups:
            self.list_groups = list(self.kind_rows.values())
            experts = self.kind_rows.get("expert")
            domain = self.columns.get("domain")
            if experts is not None and domain is not None:
                by_domain = pd.Series(experts).groupby(pd.Series(domain[experts], dtype=object).astype(str).to_numpy())
                self.list_groups += [rows.to_numpy() for _, rows in by_domain]

    @classmethod
    def build(
        cls,
        resources: pd.DataFrame,
        roads: pd.DataFrame | None,
        boundaries: pd.DataFrame,
        config: ResponseConfig | None = None,
        fetch: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None,
    ) -> ResourceIndex:
        """`resources`: every resource with lon, lat, kind (and domain) and, without `fetch`, what a listed
        resource carries (`RESOURCE_FIELDS`); with `fetch`, a listed resource's fields are read by it."""
        from geo.response.coverage import network_of

        config = config or load_response()
        res = resources.reset_index(drop=True) if len(resources) else pd.DataFrame({"id": [], "kind": []})
        lon = res["lon"].to_numpy(float) if "lon" in res else np.zeros(len(res))
        lat = res["lat"].to_numpy(float) if "lat" in res else np.zeros(len(res))
        network = network_of(roads, config) if roads is not None and len(roads) else None
        snapped = network.snap(lon, lat) if network is not None else None
        proj = projection_of(boundaries)
        estimator = Estimator(proj, None, config, frozenset(urban_counties(boundaries, config)))
        columns = {
            c: (_shared(res[c]) if c in ("kind", "domain") else res[c].to_numpy(dtype=object))
            for c in RESOURCE_FIELDS
            if c in res
        }
        kind = columns["kind"] if "kind" in columns else _shared(res["kind"])
        searched = network is None and len(res) > CANDIDATES_FROM  # (else every resource is timed: no search)
        groups = _groups(kind, columns.get("domain"), lon, lat, proj) if searched else []
        return cls(columns, lon, lat, kind, network, snapped, estimator, config, load_catalogue(), groups, fetch=fetch)

    def of_rows(
        self, resources: dict[str, np.ndarray], fetch: Callable[[np.ndarray], dict[str, np.ndarray]]
    ) -> ResourceIndex:
        """An index of some resources (arrays lon, lat, kind, domain: a point's candidates,
        `geo.pgquery.resource_candidates`) timed as this one times them (by the estimate; `fetch` reads what a listed
        one carries). Holding the nearest of every kind and expert domain, it lists what this index would list for
        that point."""
        columns: dict[str, np.ndarray] = {c: resources[c] for c in ("kind", "domain") if c in resources}
        return ResourceIndex(
            columns,
            resources["lon"],
            resources["lat"],
            columns["kind"],
            None,
            None,
            self.estimator,
            self.config,
            self.catalogue,
            [],
            fetch=fetch,
        )

    @property
    def per_group(self) -> int:
        """How many of the nearest resources of each kind (and expert domain) are timed for a point."""
        return max(CANDIDATES_PER_GROUP, 2 * self.config.near.per_kind, 2 * self.config.near.shelters)

    @property
    def method(self) -> str:
        return "road" if self.network is not None else "estimate"

    def times(
        self, lon: float, lat: float, county: str | None, need: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Minutes from every resource to the point (inf: not reached) and the geodesic metres; `need`: the
        longest list of one kind the caller shows (by road the search widens until each kind has that many).
        Where many resources are far from the point, only those that can head a list are measured (by road the
        reached ones, by the estimate the nearest of each kind); the others have inf for both, and `ranked`
        measures them if a list gets that far."""
        n = len(self.lon)
        if not n:
            return np.zeros(0), np.zeros(0)
        if self.network is None and n > CANDIDATES_FROM:
            return self._estimate_candidates(lon, lat, county)
        if self.network is not None and self.snapped is not None:
            point = self.network.snap(np.array([lon]), np.array([lat]))
            limit = FIRST_ROAD_LIMIT_MIN  # widened until every list a request shows is within it
            while True:
                minutes = self.network.backward(point, self.snapped, limit=limit)
                if limit >= ROAD_LIMIT_MIN or self._lists_within(minutes, need):
                    break
                limit = min(2 * limit, ROAD_LIMIT_MIN)
            dist = np.full(n, np.inf)
            reached = np.flatnonzero(np.isfinite(minutes))  # (all 208,761 of the 1M demo: 95 ms a request)
            dist[reached] = self.metres(lon, lat, reached)
            return minutes, dist
        _, _, dist = _GEOD.inv(np.full(n, lon), np.full(n, lat), self.lon, self.lat)
        return self.estimator.all_to(lon, lat, county, self.lon, self.lat), np.asarray(dist)

    def metres(self, lon: float, lat: float, rows: np.ndarray) -> np.ndarray:
        """Geodesic metres from the point to the resources `rows`."""
        _, _, d = _GEOD.inv(np.full(len(rows), lon), np.full(len(rows), lat), self.lon[rows], self.lat[rows])
        return np.asarray(d)

    def ranked(
        self,
        lon: float,
        lat: float,
        minutes: np.ndarray,
        dist: np.ndarray,
        sel: np.ndarray,
        n: int,
        known: np.ndarray | None = None,
    ) -> np.ndarray:
        """The first `n` rows of `sel` (a mask, or row numbers) in `order`. `known`: those of them already timed
        or measured (worked out here if not given). When fewer are known than listed, the rest are measured now
        (`dist` is filled in place) so that the unreached follow by distance."""
        rows = np.flatnonzero(sel) if sel.dtype == bool else sel
        if known is None:
            known = rows[np.isfinite(minutes[rows]) | np.isfinite(dist[rows])]
        if len(known) < min(n, len(rows)):
            todo = rows[~(np.isfinite(minutes[rows]) | np.isfinite(dist[rows]))]
            dist[todo] = self.metres(lon, lat, todo)
            known = rows
        return self.order(minutes, dist, known)[:n]

    def _lists_within(self, minutes: np.ndarray, need: int | None) -> bool:
        """Whether every kind (and expert domain) has as many reached as the longest list shows (or all it
        has): then the fastest of each are the same as with the full search."""
        want = need or max(LONGEST_LIST, self.config.near.per_kind, self.config.near.shelters)
        for rows in self.list_groups:
            if np.isfinite(minutes[rows]).sum() < min(want, len(rows)):
                return False
        return True

    def _estimate_candidates(self, lon: float, lat: float, county: str | None) -> tuple[np.ndarray, np.ndarray]:
        """By the estimate, minutes grow with the straight-line distance from the point, so the fastest of any
        kind (or expert domain) are among its nearest: those of each group are timed, every other resource
        gets inf (listed after them, never before)."""
        x, y = self.estimator.proj.to_m(np.array([lon]), np.array([lat]))
        picked = []
        wanted = self.per_group
        for rows, tree in self.groups:
            k = min(wanted, len(rows))
            _, i = tree.query([x[0], y[0]], k=k)
            picked.append(rows[np.atleast_1d(i)])
        cand = np.unique(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
        minutes, dist = np.full(len(self.lon), np.inf), np.full(len(self.lon), np.inf)
        if len(cand):
            _, _, d = _GEOD.inv(np.full(len(cand), lon), np.full(len(cand), lat), self.lon[cand], self.lat[cand])
            dist[cand] = d
            minutes[cand] = self.estimator.all_to(lon, lat, county, self.lon[cand], self.lat[cand])
        return minutes, dist

    def records_of(self, lists: list[np.ndarray], minutes: np.ndarray, dist: np.ndarray) -> list[list[dict[str, Any]]]:
        """The records of the resources of several lists (what a listed resource carries, its kind's labels,
        position, distance and minutes), their fields read at once (by `fetch`: one query for every list)."""
        kinds = {k.code: k for k in self.catalogue.resource_kinds}
        every = np.concatenate([np.asarray(r, dtype=np.int64) for r in lists]) if lists else np.zeros(0, np.int64)
        detail = self.fetch(every) if self.fetch is not None else {c: v[every] for c, v in self.columns.items()}
        out, j = [], 0
        for rows in lists:
            recs = []
            for i in np.asarray(rows, dtype=np.int64):
                rec = {c: plain(v[j]) for c, v in detail.items()}
                k = kinds.get(self.kind[i])
                rec["kind_zh"] = k.zh if k else self.kind[i]
                rec["kind_en"] = k.en if k else self.kind[i]
                rec["lon"], rec["lat"] = round(float(self.lon[i]), 7), round(float(self.lat[i]), 7)
                rec["distance_m"] = round(float(dist[i]), 1)
                rec["minutes"] = round(float(minutes[i]), 1) if np.isfinite(minutes[i]) else None
                recs.append(rec)
                j += 1
            out.append(recs)
        return out

    def kind_mask(self, kinds: tuple[str, ...] | list[str]) -> np.ndarray:
        mask = np.zeros(len(self.kind), dtype=bool)
        for k in kinds:
            mask[self.kind_rows.get(k, np.zeros(0, dtype=np.int64))] = True
        return mask

    def order(self, minutes: np.ndarray, dist: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """The rows in `sel` (a mask, or row numbers), fastest first (the unreached last, by distance)."""
        rows = np.flatnonzero(sel) if sel.dtype == bool else sel
        timed = np.isfinite(minutes[rows]) | np.isfinite(dist[rows])
        if not timed.all():  # the rest (inf, inf) stay last in row order, as the sort leaves ties: only sort the timed
            return np.concatenate([self.order(minutes, dist, rows[timed]), rows[~timed]])
        key = np.where(np.isfinite(minutes[rows]), minutes[rows], np.inf)
        return rows[np.lexsort((dist[rows], key))]

    def nearest_by_kind(self, lon: float, lat: float, county: str | None, per_kind: int | None = None) -> dict:
        """The `per_kind` fastest resources of each kind present (catalogue order)."""
        k = per_kind or self.config.near.per_kind
        minutes, dist = self.times(lon, lat, county, need=k)
        firsts: dict[str, np.ndarray] = {}
        timed = np.flatnonzero(np.isfinite(minutes) | np.isfinite(dist))  # what can head a list: order those alone
        kinds = self.kind[timed]
        for kind in self.catalogue.resource_kinds:
            rows = self.kind_rows.get(kind.code)
            if rows is not None and len(rows):
                firsts[kind.code] = self.ranked(lon, lat, minutes, dist, rows, k, known=timed[kinds == kind.code])
        listed = self.records_of(list(firsts.values()), minutes, dist)
        return {"method": self.method, "by_kind": dict(zip(firsts, listed, strict=True))}


def projection_of(boundaries: pd.DataFrame) -> LocalProjection:
    """The plane resources are timed in by the estimate: a transverse Mercator centred on the boundaries."""
    xmin, ymin, xmax, ymax = boundaries.total_bounds
    return LocalProjection.around(np.array([xmin, xmax]), np.array([ymin, ymax]))


def _shared(values: pd.Series) -> np.ndarray:
    """A column of a few distinct values as objects, one string object per value (not one per row: 27 MB for
    the kinds and domains of 208,761 resources)."""
    codes = pd.Categorical(values.astype(object))
    return np.asarray([*codes.categories.astype(object), None], dtype=object)[codes.codes]


def _groups(
    kind: np.ndarray, domain: np.ndarray | None, lon: np.ndarray, lat: np.ndarray, proj: LocalProjection
) -> list[tuple[np.ndarray, cKDTree]]:
    """A planar k-d tree of the resources of each kind, and of the experts of each domain."""
    from scipy.spatial import cKDTree

    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = proj.to_m(np.where(ok, lon, 0.0), np.where(ok, lat, 0.0))
    keys = pd.Series(kind, dtype=object).astype(str)
    if domain is not None:
        keys = keys.where(keys != "expert", "expert:" + pd.Series(domain, dtype=object).astype(str))
    groups = []
    for _, rows in pd.Series(np.arange(len(kind)))[ok].groupby(keys[ok].to_numpy()):
        idx = rows.to_numpy()
        groups.append((idx, cKDTree(np.column_stack([x[idx], y[idx]]))))
    # experts of any domain too (a briefing lists the nearest experts of the domains present, /near the nearest)
    if domain is not None:
        experts = np.flatnonzero(ok & (np.asarray(kind, dtype=object) == "expert"))
        if len(experts):
            groups.append((experts, cKDTree(np.column_stack([x[experts], y[experts]]))))
    return groups
