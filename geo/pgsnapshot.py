"""Snapshots in the PostgreSQL store: built into tables of their own, published by switching one pointer.

A build takes the next number of the sequence ``riskmap.builds`` (`seq`) and holds the advisory lock
(``BUILD_LOCK_NS``, seq) for as long as it runs. It copies the enterprise table into ``b<seq>_records`` (under
the writer lock, so no ingest is half in it), scores those records in memory (`geo.build.score_build`, the
same code as the directory store), and then, in **one transaction** under the writer lock:

* writes ``s<seq>_hazards``, ``s<seq>_regions``, ``s<seq>_prompts`` and the score columns, and makes
  ``s<seq>_units`` (the records and their scores side by side, with GiST indexes on the geometry and on its
  geography for distances, B-trees on ids, adcodes and levels);
* inserts the snapshot's row into ``riskmap.snapshots`` and points ``riskmap.current`` at it;
* drops the tables of the snapshots beyond the newest `KEEP` (their prompt tables stay, for `riskmap alerts`).

Readers therefore see the old snapshot or the new one, never a part; a reader that resolved the pointer keeps
reading its snapshot's tables (they are never changed, only dropped `KEEP` builds later). A build that dies
leaves ``b<seq>_*`` tables behind; whoever takes the writer lock next drops them (`PgStore.sweep`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from geo.errors import StoreEmpty, StoreError
from geo.pgcodec import ORD, Column, quote
from geo.pgstore import BUILD_LOCK_NS, SCHEMA, Entry, PgStore, catalogue, index_table
from geo.pointgrid import R
from geo.snapshot import KEEP, Snapshot
from geo.store import Store, checkpoint

if TYPE_CHECKING:
    from geo.build import Computed

PARTS = ("units", "hazards", "regions", "prompts")


def entry_name(seq: int, part: str) -> str:
    return f"snapshot:{seq}:{part}"


@dataclass(frozen=True)
class PgSnapshot(Snapshot):
    """A published snapshot of a PostgreSQL store; `path` names no directory (nothing is on disk)."""

    seq: int = 0
    entries: dict[str, Entry] | None = field(default=None, compare=False, repr=False)  # see `pinned`

    @property
    def pg(self) -> PgStore:
        return cast(PgStore, self.store)

    def entry(self, part: str) -> Entry:
        found = None if self.entries is None else self.entries.get(part)
        if found is None:
            found = self.pg.entry(entry_name(self.seq, part))
            if found is None:
                raise StoreError(
                    f"store {self.pg.label}: the tables of snapshot {self.id} are gone (pruned after {KEEP} newer "
                    "builds); read the current one"
                )
            if self.entries is not None:
                self.entries[part] = found
        return found

    def pinned(self) -> PgSnapshot:
        """This snapshot, its catalogue entries looked up once (not on every call): for the service, which asks
        for them on every request of the snapshot it serves. A snapshot's tables are never rewritten; once
        pruned, a pinned snapshot's reads fail on the missing table instead of saying so."""
        return dataclasses.replace(self, entries={})

    def units(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.pg.read_entry(self.entry("units"), columns)

    def unit_columns(self) -> list[str]:
        return self.entry("units").names()

    def has_units(self) -> bool:
        return self.pg.entry(entry_name(self.seq, "units")) is not None

    def hazards(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.pg.read_entry(self.entry("hazards"), columns)

    def regions(self) -> pd.DataFrame:
        frame = self.pg.read_entry(self.entry("regions"))
        for col in ("rules", "explanation"):
            if col in frame:
                frame[col] = frame[col].map(json.loads)
        return frame

    def region_levels(self, columns: list[str]) -> pd.DataFrame:
        return self.pg.read_entry(self.entry("regions"), columns)

    def _rescue(self, key: str) -> pd.DataFrame:
        return _rescue_table(self.pg, self.seq, key).copy(deep=False)  # the caller's own frame, the data shared

    def resources(self) -> pd.DataFrame:
        return self._rescue("resources")

    def rescue_regions(self) -> pd.DataFrame:
        return self._rescue("regions")

    def rescue_zones(self) -> pd.DataFrame:
        return self._rescue("zones")

    def raw_prompts(self) -> pd.DataFrame | None:
        return read_prompt_build(self.pg, self.id)

    def _kept(self) -> list[tuple[str, int, date]]:
        return [
            (r[0], r[1], r[2])
            for r in self.pg.query(
                f"SELECT id, seq, as_of FROM {SCHEMA}.snapshots WHERE kept AND id <= %s ORDER BY id", (self.id,)
            )
        ]

    def history(self, adcode: str, domain: str = "all") -> list[dict[str, Any]]:
        out = []
        cols = ["risk_level", "risk_index"]
        for snap_id, seq, as_of in self._kept():
            found = self.pg.entry(entry_name(seq, "regions"))
            if found is None:
                continue  # pruned meanwhile
            regs = self.pg.read_entry(found, cols, "WHERE adcode = %s AND domain = %s", (adcode, domain))
            if len(regs):
                out.append(
                    {
                        "snapshot": snap_id,
                        "as_of": as_of.isoformat(),
                        "risk_level": regs["risk_level"].iloc[0],
                        "risk_index": float(regs["risk_index"].iloc[0]),
                    }
                )
        return out

    def index_history(self) -> pd.DataFrame:
        frames = []
        for i, (_, seq, as_of) in enumerate(self._kept()):
            found = self.pg.entry(entry_name(seq, "regions"))
            if found is not None:
                regs = self.pg.read_entry(found, ["adcode", "domain", "risk_index"])
                frames.append(regs.assign(build=i, as_of=as_of.isoformat()))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@functools.lru_cache(maxsize=6)
def _rescue_table(store: PgStore, seq: int, key: str) -> pd.DataFrame:
    """A snapshot's response table (resources, rescue shares, zones), read once per process: loading a view reads
    the resources for its collection, its index and its map page (208,761 rows at 1M: 0.6 s a read)."""
    found = store.entry(entry_name(seq, f"rescue_{key}"))
    return pd.DataFrame() if found is None else store.read_entry(found)


def forget_reads() -> None:
    """Drop the response tables kept since they were read (`_rescue_table`): once a view is loaded."""
    _rescue_table.cache_clear()


def _snapshot(store: Store, snap_id: str, seq: int, meta: dict[str, Any]) -> PgSnapshot:
    return PgSnapshot(snap_id, store.root / "snapshots" / snap_id, meta, store, seq)


def current_pg(store: Store) -> PgSnapshot:
    pg = cast(PgStore, store)
    rows = pg.query(
        f"SELECT s.id, s.seq, s.meta FROM {SCHEMA}.current c JOIN {SCHEMA}.snapshots s ON s.id = c.snapshot"
    )
    if not rows:
        raise StoreEmpty(f"store {pg.label} has no build yet; run `riskmap build` first")
    snap_id, seq, meta = rows[0]
    return _snapshot(pg, snap_id, seq, meta)


def snapshot_by_id(store: PgStore, snap_id: str) -> PgSnapshot:
    rows = store.query(f"SELECT seq, meta FROM {SCHEMA}.snapshots WHERE id = %s AND kept", (snap_id,))
    if not rows:
        raise StoreEmpty(f"store {store.label} keeps no snapshot {snap_id}")
    return _snapshot(store, snap_id, rows[0][0], rows[0][1])


def kept_ids(store: PgStore) -> list[str]:
    return [r[0] for r in store.query(f"SELECT id FROM {SCHEMA}.snapshots WHERE kept ORDER BY id")]


def prompt_builds(store: Store) -> list[str]:
    pg = cast(PgStore, store)
    rows = pg.query(
        f"SELECT s.id FROM {SCHEMA}.snapshots s JOIN {SCHEMA}.tables t ON t.name = 'snapshot:' || s.seq || ':prompts' "
        "ORDER BY s.id"
    )
    return [r[0] for r in rows]


def read_prompt_build(store: Store, snap_id: str) -> pd.DataFrame | None:
    pg = cast(PgStore, store)
    rows = pg.query(f"SELECT seq FROM {SCHEMA}.snapshots WHERE id = %s", (snap_id,))
    found = pg.entry(entry_name(rows[0][0], "prompts")) if rows else None
    return None if found is None else pg.read_entry(found)


# ---------------------------------------------------------------------------------------------- building
def build_pg(
    store: Store,
    as_of: date,
    model_path: Path | None = None,
    *,
    alerts_path: Path | None = None,
    scorer: Callable[..., pd.DataFrame] | None = None,
) -> tuple[Snapshot, Computed]:
    """`geo.build.build` on a PostgreSQL store (see the module); `scorer` scores the units (`geo.engine`)."""
    from geo.build import rescue_tables, score_build
    from geo.scoring.units import score_enterprises

    pg = cast(PgStore, store)
    with pg.connection() as holder:  # the build's own lock, held until it ends: the sweep leaves its tables
        holder.autocommit = True
        seq = int(holder.execute(f"SELECT nextval('{SCHEMA}.builds')").fetchone()[0])
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (BUILD_LOCK_NS, seq))
        try:
            records = _stage_records(pg, seq)
            checkpoint("build:staged")
            attrs = [c for c in records.names() if c != records.geometry]
            enterprises = pg.read_entry(records, attrs)
            result, meta, scores, prompts = score_build(
                pg, enterprises, as_of, model_path, alerts_path, scorer=scorer or score_enterprises
            )
            rescue = rescue_tables(result)
            with pg.lock():
                snap = publish_pg(
                    pg, seq, meta, scores, result.hazards, result.regions, prompts, records=records, rescue=rescue
                )
        except BaseException:
            _drop_staging(pg, seq)
            raise
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s, %s)", (BUILD_LOCK_NS, seq))
            holder.autocommit = False
    return snap, result


def _stage_records(store: PgStore, seq: int) -> Entry:
    """The enterprise table as it is now, copied to ``b<seq>_records`` (under the writer lock: whole)."""
    physical = f"b{seq}_records"
    with store.lock(sweep=True):
        found = store.entry("enterprises")
        if found is None:
            raise StoreEmpty(f"store {store.label} has no enterprises; run `riskmap ingest FILE --kind enterprises`")
        with store.connection() as conn:
            conn.execute(
                f"CREATE TABLE {SCHEMA}.{physical} AS SELECT * FROM {SCHEMA}.{quote(found.physical)} ORDER BY {ORD}"
            )
    return Entry(f"build:{seq}:records", physical, found.columns, found.geometry, found.rows)


def _drop_staging(store: PgStore, seq: int) -> None:
    with store.connection() as conn:
        for name in ("records", "scores"):
            conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.b{seq}_{name}")


def _json_columns(regions: pd.DataFrame) -> pd.DataFrame:
    regions = regions.copy()
    for col in ("rules", "explanation"):
        if col in regions:
            regions[col] = regions[col].map(lambda v: json.dumps(v, ensure_ascii=False, default=str))
    return regions


def publish_pg(
    store: PgStore,
    seq: int,
    meta: dict[str, Any],
    units: pd.DataFrame,
    hazards: pd.DataFrame,
    regions: pd.DataFrame,
    prompts: pd.DataFrame | None,
    *,
    records: Entry | None = None,
    rescue: dict[str, pd.DataFrame] | None = None,
    snap_id: str | None = None,
    make_current: bool = True,
) -> PgSnapshot:
    """Write a snapshot's tables and (`make_current`) point the store at it, all in one transaction; take
    the writer lock first. `units` is the score columns of `records` row for row, or (no `records`) the whole
    unit table. `snap_id` keeps an id (a copied store); else a new one is made."""
    from psycopg.types.json import Json

    created = datetime.now(UTC)
    snap_id = snap_id or f"{created:%Y%m%dT%H%M%S%fZ}-asof-{meta['as_of']}"
    meta = {**meta, "id": snap_id, "created": meta.get("created") or created.strftime("%Y-%m-%dT%H:%M:%SZ")}
    meta = json.loads(json.dumps(meta, ensure_ascii=False, default=str))
    with store.connection() as conn:
        store.write_table(entry_name(seq, "hazards"), f"s{seq}_hazards", hazards, conn=conn)
        store.write_table(entry_name(seq, "regions"), f"s{seq}_regions", _json_columns(regions), conn=conn)
        if prompts is not None:
            store.write_table(entry_name(seq, "prompts"), f"s{seq}_prompts", prompts, conn=conn)
        for key, frame in (rescue or {}).items():  # the response side: resources, rescue shares and zones
            store.write_table(entry_name(seq, f"rescue_{key}"), f"s{seq}_rescue_{key}", frame, conn=conn)
        if rescue and "resources" in rescue:
            _resource_plane(store, conn, seq, rescue["resources"])
        if records is None:
            store.write_table(entry_name(seq, "units"), f"s{seq}_units", units, conn=conn)
        else:
            _join_units(store, conn, seq, records, units)
        _tile_cells(conn, seq)
        checkpoint("build:written")
        conn.execute(
            f"INSERT INTO {SCHEMA}.snapshots (id, seq, as_of, created, meta) VALUES (%s, %s, %s, %s, %s)",
            (snap_id, seq, meta["as_of"], meta["created"], Json(meta)),
        )
        if make_current:
            conn.execute(
                f"INSERT INTO {SCHEMA}.current (one, snapshot, switched) VALUES (true, %s, clock_timestamp()) "
                "ON CONFLICT (one) DO UPDATE SET snapshot = EXCLUDED.snapshot, switched = clock_timestamp()",
                # the switch's own time (now() is the transaction's start: tens of seconds earlier at 1M)
                (snap_id,),
            )
            conn.execute("NOTIFY riskmap_snapshot")
        _prune(conn, keep=KEEP)
    _vacuum(store, seq)
    return _snapshot(store, snap_id, seq, meta)


def _vacuum(store: PgStore, seq: int) -> None:
    """Mark the new unit table's pages all-visible (VACUUM runs outside a transaction), so counting a county's
    units is an index-only scan from the first request on, not after autovacuum comes by."""
    import psycopg

    found = store.entry(entry_name(seq, "units"))
    if found is not None:
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute(f"VACUUM {SCHEMA}.{quote(found.physical)}")


def _join_units(store: PgStore, conn: Any, seq: int, records: Entry, scores: pd.DataFrame) -> None:
    """``s<seq>_units``: the staged records (less any stale score columns) and their scores, joined on the row."""
    scored = store.write_table(f"build:{seq}:scores", f"b{seq}_scores", scores, conn=conn)
    conn.execute(f"DELETE FROM {SCHEMA}.tables WHERE name = %s", (scored.name,))
    score_names = set(scored.names())
    kept = [c for c in records.columns if c.name not in score_names]
    select = ", ".join(
        [f"r.{ORD}", *(f"r.{quote(c.name)}" for c in kept), *(f"s.{quote(c.name)}" for c in scored.columns)]
    )
    physical = f"s{seq}_units"
    # rows laid out by place (geohash: a Z-order curve), not in input order: the units of a box, a tile or a
    # county then share a few pages (a city view's 25,412 units: 1,587 pages read instead of 20,999, and a count
    # 140 → 15 ms); readers still get the stored order (`_ord`)
    order = f"ST_GeoHash(r.{quote(records.geometry)}, 12), r.{ORD}" if records.geometry else f"r.{ORD}"
    conn.execute(
        f"CREATE TABLE {SCHEMA}.{physical} AS SELECT {select} FROM {SCHEMA}.{records.physical} r "
        f"JOIN {SCHEMA}.b{seq}_scores s USING ({ORD}) ORDER BY {order}"
    )
    conn.execute(f"DROP TABLE {SCHEMA}.b{seq}_scores")
    conn.execute(f"DROP TABLE {SCHEMA}.{records.physical}")
    columns: list[Column] = [*kept, *scored.columns]
    names = [c.name for c in columns]
    index_table(conn, physical, names, records.geometry, geography=records.geometry is not None)
    catalogue(conn, Entry(entry_name(seq, "units"), physical, columns, records.geometry, len(scores)))


#: a unit's Web Mercator metres in SQL (latitudes clipped to the square world), as `geo.pointgrid.mercator`;
#: `MERCATOR_LN` is the northing over the radius
MERCATOR_LN = "ln(tan(pi() / 4 + radians(LEAST(GREATEST(ST_Y(geometry), -85.05112878), 85.05112878)) / 2))"
MERCATOR_X = f"({R!r} * radians(ST_X(geometry)))"
MERCATOR_Y = f"({R!r} * {MERCATOR_LN})"
#: the deepest tile zoom whose clusters are summed at build time (`_tile_cells`); deeper tiles are summed per request
CELL_ZOOM = 10


def _tile_cells(conn: Any, seq: int) -> None:
    """``s<seq>_cells``: for every tile of zoom 0 … `CELL_ZOOM`, its units summed in the 32 × 32 cells a vector
    tile clusters them in (`layers.tiles`): per occupied cell its count, the sums of the Web Mercator position
    and the count per level. A cell of zoom z is a tile of zoom z + 5, so the finest cells are counted from the
    units once and every coarser zoom from the zoom below (a million units: 1.3 s). A tile of a thousand
    points or more then reads at most 1,024 rows (a z8 tile over Hangzhou held 244,678 units: 0.7 s summed per
    request)."""
    units, cells = f"{SCHEMA}.s{seq}_units", f"{SCHEMA}.s{seq}_cells"
    have = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        (SCHEMA, f"s{seq}_units"),
    ).fetchall()
    if not {"geometry", "risk_level"} <= {r[0] for r in have}:
        return
    size = 2 * math.pi * R / 2 ** (CELL_ZOOM + 5)
    mx, my = MERCATOR_X, MERCATOR_Y
    levels = ", ".join(f"count(*) FILTER (WHERE risk_level = '{lv}') AS n_{lv}" for lv in ("red", "orange", "yellow"))
    conn.execute(f"DROP TABLE IF EXISTS {cells}")
    conn.execute(
        f"CREATE TABLE {cells} AS SELECT {CELL_ZOOM} AS z, cx, cy, count(*) AS n, sum(mx) AS sx, sum(my) AS sy, "
        f"{levels} FROM (SELECT floor(({mx} + {math.pi * R!r}) / {size!r})::bigint AS cx, "
        f"floor(({math.pi * R!r} - {my}) / {size!r})::bigint AS cy, {mx} AS mx, {my} AS my, risk_level "
        f"FROM {units} WHERE geometry IS NOT NULL) p GROUP BY cx, cy"
    )
    for z in range(CELL_ZOOM - 1, -1, -1):
        conn.execute(
            f"INSERT INTO {cells} SELECT {z}, cx >> 1, cy >> 1, sum(n), sum(sx), sum(sy), sum(n_red), sum(n_orange), "
            f"sum(n_yellow) FROM {cells} WHERE z = {z + 1} GROUP BY cx >> 1, cy >> 1"
        )
    conn.execute(f"CREATE INDEX ON {cells} (z, cx, cy)")
    conn.execute(f"ANALYZE {cells}")


#: of a snapshot's resources, their position in the plane the estimate times them in (`resource_candidates`)
PLANE = "_plane"


def _resource_plane(store: PgStore, conn: Any, seq: int, resources: pd.DataFrame) -> None:
    """Give ``s<seq>_rescue_resources`` each resource's position in the plane the estimate times resources in
    (`geo.response.nearest.projection_of` the boundaries, by the same pyproj transformation as in memory) and a
    GiST index on (kind, position) and on (domain, position) of the experts: the nearest of a kind to a point
    are then an index scan in the metric of the in-memory k-d trees (`geo.pgquery.resource_candidates`). Not
    catalogued: no reader of the table sees it. (PostGIS's ``ST_Transform(geometry, text)`` builds the
    transformation for every row: minutes for 208,761 resources.)"""
    import numpy as np

    from geo.response.nearest import projection_of

    if not {"kind", "domain", "lon", "lat"} <= set(resources.columns) or not store.has("boundaries"):
        return
    lon = pd.to_numeric(resources["lon"], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(resources["lat"], errors="coerce").to_numpy(dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    x, y = projection_of(store.read("boundaries")).to_m(lon[rows], lat[rows])
    table = f"{SCHEMA}.s{seq}_rescue_resources"
    conn.execute(f"CREATE TEMP TABLE resource_plane ({ORD} bigint, x float8, y float8) ON COMMIT DROP")
    with conn.cursor().copy(f"COPY resource_plane ({ORD}, x, y) FROM STDIN") as cp:
        for i, xi, yi in zip(rows.tolist(), x.tolist(), y.tolist(), strict=True):
            cp.write_row((i, xi, yi))
    conn.execute(f"ALTER TABLE {table} ADD COLUMN {PLANE} geometry")
    conn.execute(f"UPDATE {table} t SET {PLANE} = ST_MakePoint(p.x, p.y) FROM resource_plane p WHERE t.{ORD} = p.{ORD}")
    conn.execute(f"CREATE INDEX ON {table} USING gist (kind, {PLANE})")
    conn.execute(f"CREATE INDEX ON {table} USING gist (domain, {PLANE}) WHERE kind = 'expert'")
    conn.execute(f"ANALYZE {table}")


def _prune(conn: Any, keep: int) -> None:
    """Drop the tables (not the prompts) of kept snapshots beyond the newest `keep`, never the current one."""
    old = conn.execute(
        f"SELECT id, seq FROM {SCHEMA}.snapshots WHERE kept AND id NOT IN (SELECT snapshot FROM {SCHEMA}.current) "
        f"AND id < (SELECT min(id) FROM (SELECT id FROM {SCHEMA}.snapshots WHERE kept ORDER BY id DESC LIMIT %s) k)",
        (keep,),
    ).fetchall()
    for _, seq in old:
        conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.s{seq}_cells")
        for part in ("units", "hazards", "regions"):
            conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.s{seq}_{part}")
            conn.execute(f"DELETE FROM {SCHEMA}.tables WHERE name = %s", (entry_name(seq, part),))
        conn.execute(f"UPDATE {SCHEMA}.snapshots SET kept = false WHERE seq = %s", (seq,))


def next_seq(store: PgStore) -> int:
    return int(store.query(f"SELECT nextval('{SCHEMA}.builds')")[0][0])
