"""Point queries over one snapshot: the library object that the service and the CLI both wrap.

`SnapshotReader` loads a snapshot's units, sites and regions once (or a dated view of them, scored with the
snapshot's own model) and indexes them for "what is here / what is near" questions, like rio-tiler's
Reader that titiler only serves. Every answer names the snapshot it came from. WGS84 inside; the query
point may arrive in any CRS `geo.crs.parse_crs` knows.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from datetime import date
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import parse_crs, to_wgs84
from geo.explain import explain_in
from geo.near import NearIndex, near
from geo.response.nearest import ResourceIndex
from geo.snapshot import Snapshot
from geo.values import take

__all__ = ["SnapshotReader", "near_payload"]


class SnapshotReader:
    """One snapshot (or a dated view of it), loaded and indexed. `key` is the snapshot id, with
    ``@<date>`` for a dated view."""

    def __init__(
        self,
        snapshot: Snapshot,
        as_of: date,
        boundaries: gpd.GeoDataFrame,
        regions: pd.DataFrame,
        units: gpd.GeoDataFrame,
        hazards: gpd.GeoDataFrame,
    ):
        self.snapshot = snapshot
        self.as_of = as_of
        self.key = snapshot.id if as_of == snapshot.as_of else f"{snapshot.id}@{as_of}"
        self.boundaries = boundaries
        self.regions = regions
        self.units = units
        self.hazards = hazards
        self.near_index = NearIndex.build(units, hazards)
        self._boundary_geoms = np.asarray(boundaries.geometry.values, dtype=object).copy()
        shapely.prepare(self._boundary_geoms)  # point-in-polygon on prepared (indexed) rings
        self._boundary_tree = shapely.STRtree(self._boundary_geoms)
        #: GEOS builds a prepared geometry's index on its first test and is not thread-safe doing so
        #: (libgeos/geos#825: the service's request threads corrupted the heap under load): one test at a time
        self._boundary_lock = threading.Lock()

    @classmethod
    def open(cls, snapshot: Snapshot, as_of: date | None = None, boundaries: gpd.GeoDataFrame | None = None):
        """The snapshot as published, or (another `as_of`) every score recomputed for that date with the
        snapshot's model."""
        bounds = snapshot.store.read("boundaries") if boundaries is None else boundaries
        if as_of is None or as_of == snapshot.as_of:
            return cls(snapshot, snapshot.as_of, bounds, snapshot.regions(), snapshot.units(), snapshot.hazards())
        c = snapshot.dated(as_of)
        return cls(snapshot, as_of, bounds, c.regions, c.units, c.hazards)

    def index_near(self, lon: float, lat: float, radius_m: float) -> NearIndex:
        """The index `near` searches for a point and radius (here: the whole snapshot's, built once)."""
        return self.near_index

    @cached_property
    def resource_index(self) -> ResourceIndex:
        """The snapshot's emergency resources, timed by the store's road network when it has one (built on
        first use)."""
        store = self.snapshot.store
        roads = store.read("roads") if store.has("roads") else None
        return ResourceIndex.build(self.snapshot.resources(), roads, self.boundaries)

    def resources_near(self, lon: float, lat: float, expert_domains: Collection[str] = ()) -> ResourceIndex:
        """The index a search of resources around a point reads, holding at least the resources of every kind
        and the experts of `expert_domains` that can head a list there (here: the whole snapshot's, built once)."""
        return self.resource_index

    @cached_property
    def _unit_ids(self) -> pd.Index:
        return pd.Index(self.units["id"].astype(str)) if "id" in self.units else pd.Index([])

    def unit_rows(self, ids: list[str]) -> np.ndarray:
        """The rows of `units` holding these ids (-1: not there)."""
        return self._unit_ids.get_indexer([str(i) for i in ids])

    def unit_detail(self, ids: list[str], columns: tuple[str, ...]) -> tuple[list[str], dict[str, dict[str, Any]]]:
        """Of `columns`, those the units have, and their values for each of these ids found, by id."""
        rows = np.asarray(self.unit_rows(ids))
        found = rows >= 0
        names = [c for c in columns if c in self.units]
        picked = {c: take(self.units[c], rows[found]).tolist() for c in names}  # column by column, not cell by cell
        kept = [str(i) for i, ok in zip(ids, found.tolist(), strict=True) if ok]
        return names, {i: {c: picked[c][j] for c in names} for j, i in enumerate(kept)}

    def county_at(self, regions: list[dict[str, Any]]) -> str | None:
        return next((r["adcode"] for r in regions if r["admin_level"] == "county"), None)

    def explain(self, target: str) -> dict[str, Any]:
        """Why a region, unit or site has its level, from the tables already loaded (`geo.explain`)."""
        return explain_in(self, self.snapshot, self.snapshot.model, self.as_of, target)

    @cached_property
    def _region_rows(self) -> tuple[dict[str, tuple[str, float]], np.ndarray]:
        """What `regions_at` reads, worked out once: each region's level and index (domain "all"), and the
        boundaries' order coarsest level first (then adcode)."""
        allr = self.regions.loc[self.regions["domain"] == "all"]
        levels = {
            a: (lv, float(ix)) for a, lv, ix in zip(allr["adcode"], allr["risk_level"], allr["risk_index"], strict=True)
        }
        b = self.boundaries
        rank = np.empty(len(b), dtype=np.int64)
        rank[np.lexsort((b["adcode"].to_numpy(dtype=object), b["level_rank"].to_numpy()))] = np.arange(len(b))
        return levels, rank

    def regions_at(self, lon: float, lat: float) -> list[dict[str, Any]]:
        """The regions (one per admin level, coarsest first) containing the WGS84 point, with their levels."""
        point = shapely.Point(lon, lat)
        cand = self._boundary_tree.query(point)
        with self._boundary_lock:
            hits = cand[shapely.intersects(self._boundary_geoms[cand], point)]
        levels, rank = self._region_rows
        b = self.boundaries
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i in hits[np.argsort(rank[hits])]:
            admin_level = b["admin_level"].iat[i]
            if admin_level in seen:
                continue
            seen.add(admin_level)
            adcode = b["adcode"].iat[i]
            reg = levels.get(adcode)
            out.append(
                {
                    "adcode": adcode,
                    "name": b["name"].iat[i],
                    "admin_level": admin_level,
                    "risk_level": None if reg is None else reg[0],
                    "risk_index": None if reg is None else reg[1],
                }
            )
        return out


def near_payload(
    reader: SnapshotReader, lon: float, lat: float, radius_m: float = 1000.0, crs: str = "wgs84", limit: int = 100
) -> dict[str, Any]:
    """Enterprises and hazard sites within `radius_m` of the point (given in `crs`), the regions there, a
    summary (`geo.near.near`) and the nearest resources of each kind by travel time
    (`geo.response.nearest`), answered from one snapshot."""
    spec = parse_crs(crs)
    wlon, wlat = to_wgs84(lon, lat, spec)
    result = near(reader.index_near(float(wlon), float(wlat), radius_m), float(wlon), float(wlat), radius_m, limit)
    result["query"].update(
        {
            "lon": lon,
            "lat": lat,
            "crs": spec.name,
            "lon_wgs84": round(float(wlon), 7),
            "lat_wgs84": round(float(wlat), 7),
            "as_of": str(reader.as_of),
            "snapshot": reader.snapshot.id,
        }
    )
    result["regions"] = reader.regions_at(float(wlon), float(wlat))
    index = reader.resources_near(float(wlon), float(wlat))
    result["resources"] = index.nearest_by_kind(float(wlon), float(wlat), reader.county_at(result["regions"]))
    return result
