"""Emergency resources near a point, by travel time: every resource's minutes to the point (by road when the
store holds a road network: one Dijkstra on the reversed graph from the point; else the estimate) and its
geodesic distance. Built once per snapshot view (`ResourceIndex.build`), queried per request. WGS84."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyproj import Geod

from geo.catalogue import Catalogue, load_catalogue
from geo.response.config import ResponseConfig, load_response
from geo.response.estimate import Estimator, urban_counties
from geo.response.network import LocalProjection, Network, Snapped
from geo.values import plain

_GEOD = Geod(ellps="WGS84")
#: a resource farther than this by road is listed without a travel time (the search stops there)
ROAD_LIMIT_MIN = 120.0
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

    @classmethod
    def build(
        cls,
        resources: pd.DataFrame,
        roads: pd.DataFrame | None,
        boundaries: pd.DataFrame,
        config: ResponseConfig | None = None,
    ) -> ResourceIndex:
        from geo.response.coverage import network_of

        config = config or load_response()
        res = resources.reset_index(drop=True) if len(resources) else pd.DataFrame({"id": [], "kind": []})
        lon = res["lon"].to_numpy(float) if "lon" in res else np.zeros(len(res))
        lat = res["lat"].to_numpy(float) if "lat" in res else np.zeros(len(res))
        network = network_of(roads, config) if roads is not None and len(roads) else None
        snapped = network.snap(lon, lat) if network is not None else None
        xmin, ymin, xmax, ymax = boundaries.total_bounds
        proj = LocalProjection.around(np.array([xmin, xmax]), np.array([ymin, ymax]))
        estimator = Estimator(proj, None, config, frozenset(urban_counties(boundaries, config)))
        columns = {c: res[c].to_numpy(dtype=object) for c in RESOURCE_FIELDS if c in res}
        kind = res["kind"].to_numpy(dtype=object)
        return cls(columns, lon, lat, kind, network, snapped, estimator, config, load_catalogue())

    @property
    def method(self) -> str:
        return "road" if self.network is not None else "estimate"

    def times(self, lon: float, lat: float, county: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Minutes from every resource to the point (inf: not reached) and the geodesic metres."""
        n = len(self.lon)
        if not n:
            return np.zeros(0), np.zeros(0)
        _, _, dist = _GEOD.inv(np.full(n, lon), np.full(n, lat), self.lon, self.lat)
        if self.network is not None and self.snapped is not None:
            point = self.network.snap(np.array([lon]), np.array([lat]))
            minutes = self.network.backward(point, self.snapped, limit=ROAD_LIMIT_MIN)
        else:
            minutes = self.estimator.all_to(lon, lat, county, self.lon, self.lat)
        return minutes, np.asarray(dist)

    def records(self, rows: np.ndarray, minutes: np.ndarray, dist: np.ndarray) -> list[dict[str, Any]]:
        kinds = {k.code: k for k in self.catalogue.resource_kinds}
        out = []
        for i in rows:
            rec = {c: plain(v[i]) for c, v in self.columns.items()}
            k = kinds.get(self.kind[i])
            rec["kind_zh"] = k.zh if k else self.kind[i]
            rec["kind_en"] = k.en if k else self.kind[i]
            rec["lon"], rec["lat"] = round(float(self.lon[i]), 7), round(float(self.lat[i]), 7)
            rec["distance_m"] = round(float(dist[i]), 1)
            rec["minutes"] = round(float(minutes[i]), 1) if np.isfinite(minutes[i]) else None
            out.append(rec)
        return out

    def kind_mask(self, kinds: tuple[str, ...] | list[str]) -> np.ndarray:
        return np.isin(self.kind, list(kinds))

    def order(self, minutes: np.ndarray, dist: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """The rows in `sel`, fastest first (the unreached last, by distance)."""
        rows = np.flatnonzero(sel)
        key = np.where(np.isfinite(minutes[rows]), minutes[rows], np.inf)
        return rows[np.lexsort((dist[rows], key))]

    def nearest_by_kind(self, lon: float, lat: float, county: str | None, per_kind: int | None = None) -> dict:
        """The `per_kind` fastest resources of each kind present (catalogue order)."""
        k = per_kind or self.config.near.per_kind
        minutes, dist = self.times(lon, lat, county)
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for kind in self.catalogue.resource_kinds:
            sel = self.kind == kind.code
            if sel.any():
                by_kind[kind.code] = self.records(self.order(minutes, dist, sel)[:k], minutes, dist)
        return {"method": self.method, "by_kind": by_kind}
