"""Point queries answered by the database: what `geo.query.SnapshotReader` answers from memory, without
loading the snapshot's units (a PostgreSQL store).

`PgNearReader` fetches, for each question, only the units and hazard sites in the search box around the
point (an index scan on the GiST index of the snapshot's table, ``geometry && box``) and hands them to the
same `geo.near.near` as the in-memory reader: the same geodesic distances (pyproj, WGS84 ellipsoid), the same
order and the same summary. The regions containing the point come from the boundaries and the snapshot's
region levels, which are small (one row per region).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Collection
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.near import NearIndex, _search_box
from geo.pgcodec import ORD, literal, quote
from geo.pgsnapshot import MERCATOR_LN, MERCATOR_X, MERCATOR_Y, PgSnapshot, entry_name
from geo.pgstore import SCHEMA
from geo.pointgrid import PointGrid, R
from geo.query import SnapshotReader
from geo.response.nearest import CANDIDATES_FROM, RESOURCE_FIELDS, ResourceIndex, projection_of
from geo.response.network import LocalProjection
from geo.values import Picker

#: up to this many rows are fetched as rows, more by COPY (`geo.pgstore.PgStore.read_entry`)
FEW = 2000
UNIT_COLUMNS = ["id", "name", "domain", "industry", "risk_level", "risk_score", "county_adcode", "geometry"]
HAZARD_COLUMNS = ["id", "name", "type", "risk_level", "risk_score", "county_adcode", "geometry"]


class DatabaseResources:
    """For a reader of a PostgreSQL snapshot: its emergency resources left in the database. Timed by the
    estimate, the resources a point's lists are drawn from are the nearest of each kind (and expert domain),
    found by an index scan (`resource_candidates`) and timed in a small index (`ResourceIndex.of_rows`); only the
    estimate and the catalogue stay in memory. With a road network (a search over the graph times every
    resource) or few resources, the positions, kinds and domains are loaded, the rest read for the few listed."""

    pg_snapshot: PgSnapshot
    snapshot: Any
    boundaries: gpd.GeoDataFrame

    @functools.cached_property
    def _has_resources(self) -> bool:
        return self.pg_snapshot.pg.entry(entry_name(self.pg_snapshot.seq, RESOURCES)) is not None

    @functools.cached_property
    def _resource_groups(self) -> ResourceGroups | None:
        snap = self.pg_snapshot
        if not self._has_resources or self.snapshot.store.has("roads"):
            return None
        if snap.entry(RESOURCES).rows <= CANDIDATES_FROM:  # timed one by one, as in memory
            return None
        return resource_groups(snap, projection_of(self.boundaries))

    @functools.cached_property
    def resource_index(self) -> ResourceIndex:
        """Without the resources' rows when the database finds a point's candidates; else their positions, kinds
        and domains (what a search reads), the fields of a listed one read from the database."""
        if not self._has_resources:
            return super().resource_index  # type: ignore[misc]
        if self._resource_groups is not None:
            return ResourceIndex.build(pd.DataFrame(), None, self.boundaries)
        store, snap = self.snapshot.store, self.pg_snapshot
        roads = store.read("roads") if store.has("roads") else None
        return ResourceIndex.build(
            resource_search(snap),
            roads,
            self.boundaries,
            fetch=lambda rows: resource_fields(snap, rows, RESOURCE_FIELDS),
        )

    def resources_near(self, lon: float, lat: float, expert_domains: Collection[str] = ()) -> ResourceIndex:
        groups = self._resource_groups
        if groups is None:
            return self.resource_index
        snap, base = self.pg_snapshot, self.resource_index
        found = resource_candidates(snap, groups, lon, lat, base.per_group, expert_domains)
        ords = found[ORD]
        return base.of_rows(found, fetch=lambda rows: resource_fields(snap, ords[rows], RESOURCE_FIELDS))


class PgNearReader(DatabaseResources, SnapshotReader):
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
        return near_index(self.pg_snapshot, lon, lat, radius_m)


def near_index(snap: PgSnapshot, lon: float, lat: float, radius_m: float) -> NearIndex:
    """The units and hazard sites in the search box around the point (index scans), the units read as rows
    straight into what `geo.near.NearIndex` holds (Arrow arrays and coordinates, no frame in between: 4 → 1 ms
    for a few units)."""
    import pyarrow as pa

    where, params = _near_box(lon, lat, radius_m)
    hazards = snap.pg.read_entry(snap.entry("hazards"), HAZARD_COLUMNS, where, params, few=True)
    sites = NearIndex.build(pd.DataFrame(), hazards)
    have = snap.entry("units").names()
    names = [c for c in UNIT_COLUMNS if c in have and c != "geometry"]
    cols = ", ".join([*(quote(c) for c in names), "ST_X(geometry)", "ST_Y(geometry)"])
    rows = snap.pg.query(f"SELECT {cols} FROM {_table(snap, 'units')} {where} ORDER BY {ORD}", params)
    k = len(names)
    x = np.asarray([r[k] for r in rows], dtype=np.float64)
    y = np.asarray([r[k + 1] for r in rows], dtype=np.float64)
    units = Picker.of_arrays({c: pa.array([r[i] for r in rows]) for i, c in enumerate(names)}, len(rows))
    return dataclasses.replace(sites, units=units, unit_x=x, unit_y=y, unit_grid=PointGrid.of(x, y))


def _near_box(lon: float, lat: float, radius_m: float) -> tuple[str, tuple[float, ...]]:
    xmin, ymin, xmax, ymax = _search_box(lon, lat, radius_m).bounds
    return "WHERE geometry && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", (xmin, ymin, xmax, ymax)


# -- what the service asks of a snapshot's unit table (api.sqlview) ---------------------------------------------


def _table(snap: PgSnapshot, part: str) -> str:
    return f"{SCHEMA}.{snap.entry(part).physical}"


def count(snap: PgSnapshot, part: str, where: str = "", params: tuple | list = (), *, source: str | None = None) -> int:
    """How many rows of the snapshot's `part` table (or of `source`, a FROM item over it) `where` selects (the
    catalogued count without a condition)."""
    if not where:
        return int(snap.entry(part).rows)
    return int(snap.pg.query(f"SELECT count(*) FROM {source or _table(snap, part)} {where}", tuple(params))[0][0])


def _owned(z: int, x: int, y: int) -> tuple[str, list[Any]]:
    """The points tile (z, x, y) owns (`geo.pointgrid.owner_tiles`, computed from each point alone), found by
    the GiST index on a box slightly wider than the tile."""
    lon0, lat0, lon1, lat1 = _tile_lonlat(z, x, y)
    size = 2 * math.pi * R / 2**z
    last = 2**z - 1
    tx = f"LEAST(GREATEST(floor(({MERCATOR_X} + {math.pi * R!r}) / {size!r}), 0), {last})"
    ty = f"LEAST(GREATEST(floor(({math.pi * R!r} - {MERCATOR_Y}) / {size!r}), 0), {last})"
    pad = (lon1 - lon0) * 1e-6
    where = f"WHERE geometry && ST_MakeEnvelope(%s, %s, %s, %s, 4326) AND {tx} = %s AND {ty} = %s"
    return where, [lon0 - pad, lat0 - pad, lon1 + pad, lat1 + pad, x, y]


def _tile_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    n = 2.0**z
    lon0, lon1 = x / n * 360.0 - 180.0, (x + 1) / n * 360.0 - 180.0
    lat1 = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    lat0 = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / n))))
    return lon0, max(lat0, -85.06), lon1, min(lat1, 85.06)


def tile_count(snap: PgSnapshot, z: int, x: int, y: int, part: str = "units") -> int:
    """The number of points of `part` tile (z, x, y) owns."""
    return count(snap, part, *_owned(z, x, y))


def tile_units(
    snap: PgSnapshot, z: int, x: int, y: int, columns: list[str], part: str = "units", source: str | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The points of `part` (or of `source` over it, which has every one of `columns`) tile (z, x, y) owns, in the
    stored order: `columns` and their Web Mercator metres (n × 2)."""
    where, params = _owned(z, x, y)
    names = columns if source else [c for c in columns if c in snap.entry(part).names()]
    cols = ", ".join([MERCATOR_X, MERCATOR_Y, *(quote(c) for c in names)])
    sql = f"SELECT {cols} FROM {source or _table(snap, part)} {where} ORDER BY {ORD}"
    rows = snap.pg.query(sql, tuple(params))
    merc = np.asarray([r[:2] for r in rows], dtype=np.float64).reshape(-1, 2)
    frame = pd.DataFrame([r[2:] for r in rows], columns=names)
    return frame, merc


def tile_cells(
    snap: PgSnapshot,
    z: int,
    x: int,
    y: int,
    minx: float,
    miny: float,
    span: float,
    extent: int,
    cells: int,
    part: str = "units",
) -> np.ndarray:
    """The points of `part` tile (z, x, y) owns, gathered into a ``cells`` × ``cells`` grid over it by the
    database, one row per occupied cell in cell order: cell, count, sum of x, sum of y (tile units, y up), then
    the count per level (red, orange, yellow; everything else, and everything of a table without levels, is
    blue). `minx`, `miny`, `span`: the tile in Web Mercator metres."""
    where, params = _owned(z, x, y)
    level = "risk_level" if "risk_level" in snap.entry(part).names() else "NULL::text"
    px = f"(({MERCATOR_X} - {minx!r}) / {span!r} * {extent})"
    py = f"(({MERCATOR_Y} - {miny!r}) / {span!r} * {extent})"
    step = extent / cells
    ix = f"LEAST(GREATEST(floor(px / {step!r}), 0), {cells - 1})"
    iy = f"LEAST(GREATEST(floor(py / {step!r}), 0), {cells - 1})"
    sql = (
        f"SELECT ({ix} * {cells} + {iy})::bigint AS cell, count(*), sum(px), sum(py), "
        "count(*) FILTER (WHERE risk_level = 'red'), count(*) FILTER (WHERE risk_level = 'orange'), "
        "count(*) FILTER (WHERE risk_level = 'yellow') "
        f"FROM (SELECT {px} AS px, {py} AS py, {level} AS risk_level FROM {_table(snap, part)} {where}) p "
        "GROUP BY 1 ORDER BY 1"
    )
    return np.asarray(snap.pg.query(sql, tuple(params)), dtype=np.float64).reshape(-1, 7)


def grid_sums(
    snap: PgSnapshot, where: str, params: list[Any], cell_deg: float, levels: tuple[str, ...]
) -> pd.DataFrame:
    """The units `where` selects, gathered into square Web Mercator cells of `cell_deg` degrees
    (`layers.clusters.grid_cells`) by the database: per cell its column `ix`, row `iy`, the sums of longitude and
    latitude, the count per level of `levels` and of none of them, and the last row (``member``)."""
    y_deg = f"degrees({MERCATOR_LN})"  # `layers.clusters.mercator_y`
    per_level = ", ".join(f"count(*) FILTER (WHERE risk_level = '{lv}')" for lv in levels)
    known = ", ".join(f"'{lv}'" for lv in levels)
    sql = (
        f"SELECT floor((ST_X(geometry) + 180.0) / {cell_deg!r})::bigint AS ix, "
        f"floor(({y_deg} + 180.0) / {cell_deg!r})::bigint AS iy, sum(ST_X(geometry)), sum(ST_Y(geometry)), "
        f"{per_level}, count(*) FILTER (WHERE risk_level IS NULL OR risk_level NOT IN ({known})), max({ORD}) "
        f"FROM {_table(snap, 'units')} {where} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    rows = snap.pg.query(sql, tuple(params))
    names = ["ix", "iy", "sum_x", "sum_y", *(f"n{i}" for i in range(len(levels) + 1)), "member"]
    return pd.DataFrame(rows, columns=names)


def units_by_ord(snap: PgSnapshot, ords: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """The units at these stored positions (`ords` ascending), in that order."""
    return snap.pg.read_entry(
        snap.entry("units"), columns, f"WHERE {ORD} = ANY(%s)", ([int(o) for o in ords],), few=len(ords) <= FEW
    )


def units_by_id(snap: PgSnapshot, ids: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """The units with these ids (by the B-tree index on ``id``), in the stored order."""
    return snap.pg.read_entry(
        snap.entry("units"), columns, "WHERE id = ANY(%s)", ([str(i) for i in ids],), few=len(ids) <= FEW
    )


def hazards_by_id(snap: PgSnapshot, ids: list[str]) -> pd.DataFrame:
    """The hazard sites with these ids (by the B-tree index on ``id``), in the stored order."""
    return snap.pg.read_entry(snap.entry("hazards"), None, "WHERE id = ANY(%s)", ([str(i) for i in ids],), few=True)


def built_cells(snap: PgSnapshot, z: int, x: int, y: int) -> np.ndarray | None:
    """The cells of tile (z, x, y) summed at build time (`geo.pgsnapshot._tile_cells`): rows of cx, cy (cells of
    zoom z + 5), count, sums of the Web Mercator x and y, counts of red, orange and yellow. None when the
    snapshot has no such table (a store copied from files, a zoom deeper than it holds)."""
    from geo.pgsnapshot import CELL_ZOOM

    if z > CELL_ZOOM or not _has_cells(snap.pg, snap.seq):
        return None
    rows = snap.pg.query(
        f"SELECT cx, cy, n, sx, sy, n_red, n_orange, n_yellow FROM {SCHEMA}.s{snap.seq}_cells "
        "WHERE z = %s AND cx BETWEEN %s AND %s AND cy BETWEEN %s AND %s",
        (z, x * 32, x * 32 + 31, y * 32, y * 32 + 31),
    )
    return np.asarray(rows, dtype=np.float64).reshape(-1, 8)


@functools.lru_cache(maxsize=64)
def _has_cells(store, seq: int) -> bool:
    return bool(store.query("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.s{seq}_cells",))[0][0])


# -- a snapshot's emergency resources (api.sqlview) -------------------------------------------------------------
RESOURCES = "rescue_resources"  # the snapshot's resources table (`geo.pgsnapshot.PgSnapshot.resources`)


@dataclasses.dataclass(frozen=True)
class ResourceGroups:
    """What the nearest resources of a point are searched by in the database: the kinds present, the
    domains of the experts, and the plane of the estimate (`geo.pgsnapshot.PLANE`)."""

    kinds: list[str]
    expert_domains: list[str]
    plane: LocalProjection


def resource_groups(snap: PgSnapshot, plane: LocalProjection) -> ResourceGroups | None:
    """The groups of the snapshot's resources searched by an index scan, or None when its table has no plane
    column (a snapshot published before it existed: searched in memory)."""
    from geo.pgsnapshot import PLANE

    table = snap.entry(RESOURCES).physical
    found = snap.pg.query(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (SCHEMA, table, PLANE),
    )
    if not found:
        return None
    rows = snap.pg.query(
        f"SELECT DISTINCT kind, CASE WHEN kind = 'expert' THEN domain END FROM {SCHEMA}.{table} "
        f"WHERE {PLANE} IS NOT NULL AND kind IS NOT NULL"
    )
    kinds = sorted({k for k, _ in rows})
    domains = sorted({d for k, d in rows if k == "expert" and d is not None})
    return ResourceGroups(kinds, domains, plane)


def resource_candidates(
    snap: PgSnapshot, groups: ResourceGroups, lon: float, lat: float, k: int, domains: Collection[str] = ()
) -> dict[str, np.ndarray]:
    """The `k` nearest resources to the point of each kind and of the experts of each of `domains` (in the plane of
    the estimate, by the GiST indexes of `geo.pgsnapshot._resource_plane`): their stored position ``_ord``, lon,
    lat, kind and domain as arrays, in the stored order. What `geo.response.nearest.ResourceIndex` picks from its
    k-d trees, read by one query."""
    from geo.pgsnapshot import PLANE

    table = _table(snap, RESOURCES)
    x, y = groups.plane.to_m(np.array([lon]), np.array([lat]))  # (by pyproj: PostGIS would build the projection)
    nearest = f"ORDER BY {PLANE} <-> ST_MakePoint(%(x)s, %(y)s) LIMIT %(k)s"
    columns = f"{ORD}, lon, lat, kind, domain"
    sql = (
        f"SELECT c.* FROM unnest(%(kinds)s::text[]) AS g(kind) CROSS JOIN LATERAL (SELECT {columns} FROM {table} r "
        f"WHERE r.kind = g.kind AND {PLANE} IS NOT NULL {nearest}) c "
        f"UNION ALL SELECT c.* FROM unnest(%(domains)s::text[]) AS g(domain) CROSS JOIN LATERAL (SELECT {columns} "
        f"FROM {table} r WHERE r.kind = 'expert' AND r.domain = g.domain AND {PLANE} IS NOT NULL {nearest}) c"
    )
    params = {
        "x": float(x[0]),
        "y": float(y[0]),
        "k": k,
        "kinds": groups.kinds,
        "domains": [d for d in groups.expert_domains if d in domains],
    }
    rows = snap.pg.query(sql, params)
    ords = np.asarray([r[0] for r in rows], dtype=np.int64)
    _, first = np.unique(ords, return_index=True)  # an expert can be among the nearest of its kind and its domain
    picked = [rows[i] for i in first]  # in the stored order
    return {
        ORD: ords[first],
        "lon": np.asarray([r[1] for r in picked], dtype=np.float64),
        "lat": np.asarray([r[2] for r in picked], dtype=np.float64),
        "kind": np.asarray([r[3] for r in picked], dtype=object),
        "domain": np.asarray([r[4] for r in picked], dtype=object),
    }


def resource_search(snap: PgSnapshot) -> pd.DataFrame:
    """What `geo.response.nearest.ResourceIndex` searches by: every resource's lon, lat, kind and domain in the
    stored order (fetched as rows: COPY's row-by-row reading is slower for a few narrow columns, 0.35 against
    0.21 s at 208,761)."""
    have = snap.entry(RESOURCES).names()
    names = [c for c in ("lon", "lat", "kind", "domain") if c in have]
    rows = snap.pg.query(f"SELECT {', '.join(quote(c) for c in names)} FROM {_table(snap, RESOURCES)} ORDER BY {ORD}")
    columns = {c: [r[i] for r in rows] for i, c in enumerate(names)}  # (not zip(*rows): 0.35 s for 208,761 rows)
    return pd.DataFrame(
        {
            c: np.asarray(v, dtype=np.float64) if c in ("lon", "lat") else pd.Series(v, dtype=object)
            for c, v in columns.items()
        }
    )


def resource_fields(snap: PgSnapshot, rows: np.ndarray, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """`columns` (those the table has, in that order) of the resources at stored positions `rows` (any order,
    repeats allowed), in the order of `rows`."""
    entry = snap.entry(RESOURCES)
    names = [c for c in columns if c in entry.names() and c != entry.geometry]
    wanted = np.unique(np.asarray(rows, dtype=np.int64))
    cols = ", ".join(quote(c) for c in names)
    sql = f"SELECT {cols} FROM {_table(snap, RESOURCES)} WHERE {ORD} = ANY(%s) ORDER BY {ORD}"
    found = snap.pg.query(sql, ([int(r) for r in wanted],)) if names and len(wanted) else []  # a few rows: tuples
    table = np.empty((len(found), len(names)), dtype=object)
    for i, row in enumerate(found):
        table[i] = row
    pos = np.searchsorted(wanted, rows)
    return {c: table[pos, j] for j, c in enumerate(names)}


def ranked_resources(
    snap: PgSnapshot, parent: str | None, kinds: list[str], responders: set[str], limit: int, columns: list[str]
) -> tuple[pd.DataFrame, int]:
    """The first `limit` resources (inside `parent` when given) in the order of a map page
    (`layers.responsemap._order`: responders first, then every kind in turn, each kind's largest capacity
    first, then the catalogue's order of kinds), returned in the stored order; and how many there are in all."""
    entry = snap.entry(RESOURCES)
    names = entry.names()
    where, params = "", []
    if parent:
        codes = [c for c in ("province_adcode", "city_adcode", "county_adcode") if c in names]
        where = "WHERE " + ("(" + " OR ".join(f"{quote(c)} = %s" for c in codes) + ")" if codes else "FALSE")
        params = [parent] * len(codes)
    total = count(snap, RESOURCES, where, params)
    numeric = next((c.dtype for c in entry.columns if c.name == "capacity"), "str")[:3].lower() in ("int", "flo")
    cap = "COALESCE(capacity, 0)" if numeric else "0"
    whens = " ".join(f"WHEN {literal(k)} THEN {i}" for i, k in enumerate(kinds))
    rank = f"CASE kind {whens} ELSE {len(kinds)} END"
    first = "CASE WHEN kind = ANY(%s) THEN 0 ELSE 1 END"
    ranked = (
        f"(SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY kind ORDER BY {cap} DESC, {ORD}) AS within_ "
        f"FROM {_table(snap, RESOURCES)} {where}) r ORDER BY {first}, within_, {rank}, {ORD} LIMIT {int(limit)}) p"
    )
    frame = snap.pg.read_entry(entry, columns, "", [*params, sorted(responders)], source=ranked)
    return frame, total
