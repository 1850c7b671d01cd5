"""The service over a PostgreSQL store with no enterprise, resource or hazard site in memory: the database answers.

`SqlView` is the `api.state.View` of a snapshot of a PostgreSQL store. It loads what is one row per region
(boundaries, region levels, the rescue-circle bands); it leaves the enterprises, the emergency resources and
the hazard sites in the snapshot's tables, with their GiST and B-tree indexes. Its `enterprises` and `resources`
collections are `SqlCollection`s and its hazard collections `SqlSites` (one per kind of geometry): every
question about them is a query, answered with the same bytes as from memory:

* /items: the bbox (``geometry && box``), the CQL2 filter and the ``name=value`` parameters (`api.sqlfilter`),
  ``sortby`` (ties in the stored order), the page (LIMIT/OFFSET) and its ``numberMatched`` (count); a
  resource's kind labels and marker are columns worked out by SQL (`resource_labels`); a hazard site's
  geometry is made its layer's declared type as it is read (`layers.geomtypes.normalised`);
* one item: by the index on ``id``;
* a vector tile: the points the tile owns (`geo.pointgrid.owner_tiles`, as SQL) when they are few, else the
  database gathers them into the 32 × 32 cells of `layers.tiles` and returns one row per occupied cell (for
  the enterprises up to zoom 10: summed at build time); the tile is encoded by `layers.tiles.encode_points`, so
  it is the same tile as from memory; hazard sites: `layers.tiles.render_tile` over the sites whose box meets
  the tile;
* /clusters: the points in view, or the database's sums per screen cell (`geo.pgquery.grid_sums`), merged into
  coarser cells here until few enough (`layers.clusters`);
* /near and /incident: the units and sites in the search box (`geo.pgquery.near_index`); the nearest resources
  of each kind and expert domain by an index scan in the estimate's plane (`geo.pgquery.DatabaseResources`),
  the listed ones' records by row number (`geo.pgquery.resource_fields`); /explain: one row.

A process serving a million enterprises this way holds no row of them; each request reads only its rows.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api import queryables
from api.sqlfilter import bbox_sql, filter_sql, order_sql
from api.state import (
    HAZARD_PROPS,
    UNIT_PROPS,
    Collection,
    View,
    hazards_about,
    resources_about,
    response_collections,
)
from geo import pgquery
from geo.catalogue import LEVELS
from geo.errors import UnitNotFound
from geo.near import NearIndex
from geo.pgcodec import ORD, Column, literal, quote
from geo.pgquery import RESOURCES
from geo.pgsnapshot import PgSnapshot
from layers.clusters import (
    POINT_COLUMNS,
    Cells,
    PointIndex,
    cluster_points,
    clustered,
    first_cell,
    query_bbox,
    view_meta,
)
from layers.geomtypes import HAZARD_KINDS, GeometryKind, normalised
from layers.response import RESOURCE_PROPS
from layers.tiles import (
    BUFFER,
    EXTENT,
    TILE_PROPS,
    TileBounds,
    cluster_records,
    empty_tile,
    encode_points,
    render_tile,
    tile_records,
)

if TYPE_CHECKING:
    from api.ogc import FeatureQuery

SAMPLE = 5_000  # the rows the property types and vocabularies are read from (types come from the table)
MAX_POINTS = 1000  # a tile with more points carries clusters (`layers.tiles.render_tile`)
CELLS = 32


class SqlCollection(Collection):
    """A collection whose rows stay in a snapshot's table (`part`): `frame` holds none of them (only the columns
    and their types); the queryables are read from a sample of the rows. `derived`: columns worked out from
    the stored ones (SQL expressions by name, text), which the collection serves, filters and sorts like
    stored ones; a column of `props` the table lacks is served empty, as from memory."""

    def __init__(
        self,
        cid: str,
        title: str,
        description: str,
        snapshot: PgSnapshot,
        props: list[str],
        part: str = "units",
        derived: dict[str, str] | None = None,
        rows: str = "",
        geometry_type: str = "Point",
    ):
        self.snapshot = snapshot
        self.part = part
        stored = snapshot.entry(part)
        have = stored.names()
        derived = dict(derived or {})
        derived |= {c: "NULL::text" for c in props if c not in have and c not in derived}
        self.columns = [c for c in props if c in have or c in derived]
        self.entry = dataclasses.replace(stored, columns=[*stored.columns, *(Column(c, "object") for c in derived)])
        table = f"{pgquery.SCHEMA}.{stored.physical}"
        extra = "".join(f", {expr} AS {quote(name)}" for name, expr in derived.items())
        restrict = f" WHERE {rows}" if rows else ""
        self.source = f"(SELECT *{extra} FROM {table}{restrict}) AS {quote(part)}" if derived or rows else table
        #: how many rows the collection has (the table's catalogued count, unless `rows` selects some)
        self.total = int(snapshot.pg.query(f"SELECT count(*) FROM {self.source}")[0][0]) if rows else stored.rows
        geometry = self.entry.geometry or "geometry"
        sample = self._frame(self._read_rows([*self.columns, geometry], tail=f"LIMIT {SAMPLE}"))
        typed = Collection(cid, title, description, sample, "id", geometry_type)
        super().__init__(cid, title, description, sample.iloc[:0], "id", geometry_type)
        self.memo["properties"] = queryables.properties(typed)
        self.memo["geometry-format"] = queryables.geometry_format(typed)

    def _read_rows(self, columns: list[str], where: str = "", params: Any = (), **kw: Any) -> pd.DataFrame:
        return self.snapshot.pg.read_entry(self.entry, columns, where, params, source=self.source, **kw)

    @cached_property
    def extent(self) -> list[float]:
        box = self.snapshot.pg.query(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geometry) e FROM "
            f"{self.source}) t"
        )[0]
        return [-180.0, -90.0, 180.0, 90.0] if box[0] is None else [float(v) for v in box]

    @cached_property
    def levels(self) -> np.ndarray | None:
        return None

    @cached_property
    def point_tiles(self) -> None:
        return None

    @cached_property
    def id_index(self) -> dict[str, int]:
        return {}

    # -- /items -----------------------------------------------------------------------------------------------
    def where(self, q: FeatureQuery) -> tuple[str, list[Any]]:
        conditions, params = [], []
        if q.bbox is not None:
            text, values = bbox_sql(q.bbox, self.entry.geometry or "geometry")
            conditions.append(text)
            params += values
        if q.filter is not None:
            text, values = filter_sql(self.id, queryables.properties(self), q.filter, q.filter_crs)
            conditions.append(text)
            params += values
        return ("WHERE " + " AND ".join(conditions) if conditions else ""), params

    def page(self, q: FeatureQuery, limit: int, offset: int) -> tuple[gpd.GeoDataFrame, int]:
        """The rows of one page of /items and how many rows match in all."""
        where, params = self.where(q)
        matched = pgquery.count(self.snapshot, self.part, where, params, source=self.source) if where else self.total
        order = order_sql(q.sortby, queryables.properties(self), ORD)
        tail = f"LIMIT {int(limit)} OFFSET {int(offset)}"
        rows = self._read_rows(self._read(), where, params, order=order, tail=tail, few=limit <= pgquery.FEW)
        return self._frame(rows), matched

    def one(self, feature_id: str) -> gpd.GeoDataFrame:
        rows = self._read_rows(self._read(), "WHERE id = %s", (str(feature_id),), few=True)
        if not len(rows):
            raise UnitNotFound(f"no feature {feature_id!r} in collection {self.id}")
        return self._frame(rows.iloc[:1])

    def _read(self) -> list[str]:
        return [*self.columns, self.entry.geometry or "geometry"]

    def _frame(self, rows: pd.DataFrame) -> gpd.GeoDataFrame:
        geometry = self.entry.geometry or "geometry"
        return gpd.GeoDataFrame(rows[self.columns], geometry=rows[geometry].values, crs="EPSG:4326")

    # -- vector tiles -----------------------------------------------------------------------------------------
    def tile(self, z: int, x: int, y: int) -> bytes:
        """The tile `layers.tiles.render_tile` draws from memory, from the database."""
        tb = TileBounds.of(z, x, y)
        span = tb.maxx - tb.minx
        built = pgquery.built_cells(self.snapshot, z, x, y) if self.part == "units" else None
        n = pgquery.tile_count(self.snapshot, z, x, y, self.part) if built is None else int(built[:, 2].sum())
        if n == 0:
            return empty_tile(self.id)
        if built is not None and n > MAX_POINTS:
            return self._built_clusters(built, tb, x, y)
        if n <= MAX_POINTS:
            names = [k for k in TILE_PROPS if k in self.columns]
            props, merc = pgquery.tile_units(self.snapshot, z, x, y, names, self.part, self.source)
            px = np.column_stack([(merc[:, 0] - tb.minx) / span * EXTENT, (merc[:, 1] - tb.miny) / span * EXTENT])
            return encode_points(self.id, px, tile_records(props))
        cells = pgquery.tile_cells(self.snapshot, z, x, y, tb.minx, tb.miny, span, EXTENT, CELLS, self.part)
        count = cells[:, 1].astype(np.int64)
        red, orange, yellow = (cells[:, i].astype(np.int64) for i in (4, 5, 6))
        per = np.column_stack([red, orange, yellow, count - red - orange - yellow])
        px = np.column_stack([cells[:, 2] / count, cells[:, 3] / count])
        return encode_points(self.id, px, cluster_records(count, per))

    def _built_clusters(self, built: np.ndarray, tb: TileBounds, x: int, y: int) -> bytes:
        """Clusters from the cells summed at build time, in the order `layers.tiles` gives them (by column,
        then row upwards)."""
        span = tb.maxx - tb.minx
        ix = built[:, 0].astype(np.int64) - x * CELLS
        iy = CELLS - 1 - (built[:, 1].astype(np.int64) - y * CELLS)  # cell rows run down, tile rows up
        order = np.argsort(ix * CELLS + iy, kind="stable")
        rows = built[order]
        count = rows[:, 2].astype(np.int64)
        red, orange, yellow = (rows[:, i].astype(np.int64) for i in (5, 6, 7))
        per = np.column_stack([red, orange, yellow, count - red - orange - yellow])
        px = np.column_stack(
            [(rows[:, 3] / count - tb.minx) / span * EXTENT, (rows[:, 4] / count - tb.miny) / span * EXTENT]
        )
        return encode_points(self.id, px, cluster_records(count, per))


class SqlSites(SqlCollection):
    """The hazard sites of one kind of geometry (`layers.geomtypes.HAZARD_KINDS`) left in the snapshot's table:
    the rows of that dimension, their geometry made the layer's declared type as they are read (as
    `layers.geomtypes.split_by_kind` makes it in memory). A tile is drawn by `layers.tiles.render_tile` from the
    sites whose box meets it, so it is the tile drawn from memory."""

    def __init__(self, snapshot: PgSnapshot, props: list[str], kind: GeometryKind, as_of: date):
        self.kind = kind
        rows = f"geometry IS NOT NULL AND NOT ST_IsEmpty(geometry) AND ST_Dimension(geometry) = {kind.dimension}"
        self.declared = kind.geometry_type
        if kind.dimension == 0:  # a site of several points makes the whole layer MultiPoint
            several = snapshot.pg.query(
                f"SELECT bool_or(ST_NumGeometries(geometry) > 1) FROM {pgquery.SCHEMA}."
                f"{snapshot.entry('hazards').physical} WHERE {rows}"
            )[0][0]
            self.declared = "MultiPoint" if several else kind.geometry_type
        cid, title, description = hazards_about(kind.name, self.declared, as_of)
        super().__init__(cid, title, description, snapshot, props, "hazards", rows=rows, geometry_type=self.declared)

    def _frame(self, rows: pd.DataFrame) -> gpd.GeoDataFrame:
        geometry = self.entry.geometry or "geometry"
        geoms = normalised(self.kind, np.asarray(rows[geometry].values, dtype=object), self.declared)
        props = rows[[c for c in self.columns if c in rows]]
        return gpd.GeoDataFrame(props, geometry=list(geoms), crs="EPSG:4326")

    def tile(self, z: int, x: int, y: int) -> bytes:
        tb = TileBounds.of(z, x, y)
        lon0, lat0, lon1, lat1 = tb.lonlat(pad=BUFFER / EXTENT)
        names = [k for k in TILE_PROPS if k in self.columns]
        where = "WHERE geometry && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"  # (boxes rounded outwards: a few more)
        rows = self._frame(self._read_rows([*names, "geometry"], where, (lon0, lat0, lon1, lat1)))
        geoms = np.asarray(rows.geometry.values, dtype=object)
        return render_tile(self.id, geoms, shapely.bounds(geoms), pd.DataFrame(rows[names]), z, x, y)


class SqlView(pgquery.DatabaseResources, View):
    """A PostgreSQL snapshot as published, the enterprises and resources left in the database (see the module)."""

    queries_database = True

    def __init__(self, snapshot: PgSnapshot, boundaries: gpd.GeoDataFrame):
        snapshot = snapshot.pinned()  # its tables looked up once, not on each request
        self.pg_snapshot = snapshot
        units, hazards = (snapshot.pg.read_entry(snapshot.entry(p), tail="LIMIT 0") for p in ("units", "hazards"))
        super().__init__(snapshot, snapshot.as_of, boundaries, snapshot.regions(), units, hazards)

    @classmethod
    def open(cls, snapshot, as_of: date | None = None, boundaries: gpd.GeoDataFrame | None = None):
        if as_of is not None and as_of != snapshot.as_of:  # another date is a recomputation: in memory
            return View.open(snapshot, as_of, boundaries)
        return cls(snapshot, snapshot.store.read("boundaries") if boundaries is None else boundaries)

    def _collections(self, geoms: np.ndarray) -> dict[str, Collection]:
        out = super()._collections(geoms)
        old = out["enterprises"]
        out["enterprises"] = SqlCollection(old.id, old.title, old.description, self.pg_snapshot, UNIT_PROPS)
        for kind in HAZARD_KINDS:
            out[f"hazards-{kind.name}"] = SqlSites(self.pg_snapshot, HAZARD_PROPS, kind, self.as_of)
        return out

    def _response_collections(self) -> dict[str, Collection]:
        """The resources left in the database like the enterprises, their labels and markers worked out by it
        (`resource_labels`); the rescue-circle bands (a few polygons) in memory."""
        if not self._has_resources:
            return super()._response_collections()
        out = response_collections(self.snapshot, self.as_of, resources=False)
        out["resources"] = SqlCollection(
            *resources_about(self.as_of), self.pg_snapshot, RESOURCE_PROPS, RESOURCES, resource_labels()
        )
        return out

    def warm(self) -> View:
        from api.queryables import properties

        for c in self.collections.values():
            if not isinstance(c, SqlCollection):  # its extent is a scan of its table: on first use, not on the switch
                _ = c.extent, c.levels, c.id_index, c.point_tiles
            properties(c)
        _ = self.resource_index
        return self

    def index_near(self, lon: float, lat: float, radius_m: float) -> NearIndex:
        """The units and hazard sites in the search box, from the database."""
        return pgquery.near_index(self.pg_snapshot, lon, lat, radius_m)

    def unit_detail(self, ids: list[str], columns: tuple[str, ...]) -> tuple[list[str], dict[str, dict[str, Any]]]:
        names = [c for c in columns if c in self.pg_snapshot.entry("units").names()]
        rows = pgquery.units_by_id(self.pg_snapshot, ids, ["id", *names])
        return names, {
            str(i): {c: v for c, v in zip(names, vals, strict=True)}
            for i, *vals in rows[["id", *names]].itertuples(index=False)
        }

    def explain(self, target: str) -> dict[str, Any]:
        from geo.explain import explain_in

        snap = self.pg_snapshot
        tables = _Tables(self.regions, pgquery.units_by_id(snap, [target]), pgquery.hazards_by_id(snap, [target]))
        return explain_in(tables, self.snapshot, self.snapshot.model, self.as_of, target)

    def clusters(
        self, bbox: tuple[float, float, float, float], zoom: float, limit: int, *, domain: str, parent: str | None, crs
    ) -> dict[str, Any]:
        """`layers.clusters.cluster_points` over the units in the database."""
        names = self.pg_snapshot.entry("units").names()
        w, s, e, n = query_bbox(bbox, crs)
        conditions = ["geometry && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"]
        params: list[Any] = [w, s, e, n]
        if domain not in (None, "", "all"):
            conditions.append("domain = %s")
            params.append(domain)
        areas = [c for c in ("province_adcode", "city_adcode", "county_adcode") if c in names]
        if parent:
            conditions.append("(" + " OR ".join(f"{a} = %s" for a in areas) + ")" if areas else "FALSE")
            params += [parent] * len(areas)
        where = "WHERE " + " AND ".join(conditions)
        columns = [c for c in POINT_COLUMNS if c in names] + (["geometry"] if "lon" not in names else [])
        total = pgquery.count(self.pg_snapshot, "units", where, params)
        if total <= limit:
            rows = self.pg_snapshot.pg.read_entry(
                self.pg_snapshot.entry("units"), columns, where, params, few=total <= pgquery.FEW
            )
            return cluster_points(PointIndex.from_units(rows), bbox, zoom, limit, domain=domain, parent=parent, crs=crs)
        cell = first_cell(zoom)
        sums = pgquery.grid_sums(self.pg_snapshot, where, params, cell, LEVELS)
        while len(sums) > limit:
            sums = _coarser(sums)
            cell *= 2.0
        cells = _cells(sums)
        single = cells.total == 1
        ords = np.sort(cells.member[single])
        points = PointIndex.from_units(pgquery.units_by_ord(self.pg_snapshot, ords, columns))
        singles = np.searchsorted(ords, cells.member[single])  # the cells' points in cell order
        return clustered(cells, points, singles, view_meta(total, zoom, domain, parent), cell, crs)


def resource_labels() -> dict[str, str]:
    """`layers.response.resource_table`'s kind labels and marker of a resource, as SQL over its ``kind``."""
    from geo.catalogue import load_catalogue
    from layers.styles import load_styles

    kinds, st = load_catalogue().resource_kinds, load_styles()

    def case(values: dict[str, str], default: str) -> str:
        whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in values.items())
        return f"CASE WHEN kind IS NULL THEN NULL ELSE CASE kind {whens} ELSE {default} END END"

    return {
        "kind_zh": case({k.code: k.zh for k in kinds}, "kind"),
        "kind_en": case({k.code: k.en for k in kinds}, "kind"),
        "glyph": case({k.code: st.resource_symbol(k.code).glyph for k in kinds}, literal(st.resource_style.glyph)),
        "color": case({k.code: st.resource_symbol(k.code).color for k in kinds}, literal(st.resource_style.color)),
    }


class _Tables:
    def __init__(self, regions: pd.DataFrame, units: pd.DataFrame, hazards: pd.DataFrame):
        self.regions, self.units, self.hazards = regions, units, hazards


def _coarser(sums: pd.DataFrame) -> pd.DataFrame:
    """Cells of twice the size: floor(a / 2c) = floor(floor(a / c) / 2)."""
    grouped = sums.assign(ix=sums["ix"] // 2, iy=sums["iy"] // 2).groupby(["ix", "iy"], sort=True)
    agg = {c: ("max" if c == "member" else "sum") for c in sums.columns if c not in ("ix", "iy")}
    return grouped.agg(agg).reset_index()


def _cells(sums: pd.DataFrame) -> Cells:
    counts = sums[[f"n{i}" for i in range(len(LEVELS) + 1)]].to_numpy(dtype=np.int64)
    total = counts.sum(axis=1)
    return Cells(
        x=sums["sum_x"].to_numpy(dtype=np.float64) / total,
        y=sums["sum_y"].to_numpy(dtype=np.float64) / total,
        counts=counts,
        member=sums["member"].to_numpy(dtype=np.int64),
        key=sums["ix"].to_numpy(dtype=np.int64) * 4_000_000 + sums["iy"].to_numpy(dtype=np.int64),
    )
