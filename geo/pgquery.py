"""Point queries answered by the database: what `geo.query.SnapshotReader` answers from memory, without
loading the snapshot's units (a PostgreSQL store).

`PgNearReader` fetches, for each question, only the units and hazard sites in the search box around the
point (an index scan on the GiST index of the snapshot's table, ``geometry && box``) and hands them to the
same `geo.near.near` as the in-memory reader: the same geodesic distances (pyproj, WGS84 ellipsoid), the same
order and the same summary. The regions containing the point come from the boundaries and the snapshot's
region levels, which are small (one row per region).
"""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pandas as pd

from geo.near import NearIndex, _search_box
from geo.pgsnapshot import PgSnapshot
from geo.query import SnapshotReader

UNIT_COLUMNS = ["id", "name", "domain", "industry", "risk_level", "risk_score", "county_adcode", "geometry"]
HAZARD_COLUMNS = ["id", "name", "type", "risk_level", "risk_score", "county_adcode", "geometry"]


class PgNearReader(SnapshotReader):
    """A published PostgreSQL snapshot for `geo.query.near_payload`; nothing but the boundaries and the
    region levels in memory."""

    def __init__(self, snapshot: PgSnapshot, boundaries: gpd.GeoDataFrame):
        regions = snapshot.region_levels(["adcode", "domain", "risk_level", "risk_index"])
        empty = pd.DataFrame()
        super().__init__(snapshot, snapshot.as_of, boundaries, regions, empty, empty)
        self.pg_snapshot = snapshot

    @classmethod
    def open(cls, snapshot, as_of: date | None = None, boundaries: gpd.GeoDataFrame | None = None):
        if as_of is not None and as_of != snapshot.as_of:  # another date is a recomputation: in memory
            return SnapshotReader.open(snapshot, as_of, boundaries)
        return cls(snapshot, snapshot.store.read("boundaries") if boundaries is None else boundaries)

    def index_near(self, lon: float, lat: float, radius_m: float) -> NearIndex:
        xmin, ymin, xmax, ymax = _search_box(lon, lat, radius_m).bounds
        where = "WHERE geometry && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"
        params = (xmin, ymin, xmax, ymax)
        snap = self.pg_snapshot
        units = snap.pg.read_entry(snap.entry("units"), UNIT_COLUMNS, where, params)
        hazards = snap.pg.read_entry(snap.entry("hazards"), HAZARD_COLUMNS, where, params)
        return NearIndex.build(units, hazards)
