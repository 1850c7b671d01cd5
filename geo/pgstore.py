"""The PostgreSQL + PostGIS store: the same interface as the directory store (`geo.store.Store`), its tables
in a database that several service instances share.

Chosen by a URL wherever a store is named (``--store postgresql://user@host:5432/db``, ``RISKMAP_STORE``,
the service's ``store`` setting). Everything lives in the schema ``riskmap`` (see `geo.pgschema` for the
tables and their migrations):

* ``riskmap.tables`` is the catalogue (the manifest of the directory store): each stored table's physical
  name, its columns with their pandas types (`geo.pgcodec`), its geometry column and row count;
* the store's tables are ``riskmap.t_<name>`` (``t_boundaries``, ``t_enterprises``, …) with a GiST index on
  the geometry and B-tree indexes on ids and adcodes; a write replaces one in one transaction;
* builds are in ``riskmap.s<seq>_units`` / ``_hazards`` / ``_regions`` / ``_prompts`` (see
  `geo.pgsnapshot`), ``riskmap.snapshots`` lists them and ``riskmap.current`` points at the published one.

The writer lock is a PostgreSQL advisory lock (`lock`), so writers on any machine exclude each other. Reports,
demo input and job documents — files the commands write beside a store — go to a local working directory
(`root`: ``$RISKMAP_WORKDIR``, else a directory in the system's temporary directory named after the
database). The password of a URL is never printed (`redact`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geo.errors import StoreEmpty, StoreError
from geo.pgcodec import ORD, Column, columns_of, copy_text, create_sql, quote, read_copy, read_rows, select_sql
from geo.pgschema import SCHEMA
from geo.pointer import CURRENT_SQL, redact
from geo.store import FORMAT_VERSION, STORE_CRS, TABLES, Store, atomic_write_bytes, point_table, split_point_table

#: advisory lock keys: the store's writer lock, and (namespace, build sequence) held by a running build
WRITER_LOCK = 0x5249534B
BUILD_LOCK_NS = 0x52494C44
#: rows per block of a table's COPY text: the text of a whole 10,000,000-row table at once outgrew 24 GB
COPY_BLOCK = 200_000
#: indexed columns when a table has them (B-tree), besides the GiST index on its geometry
INDEXED = ("id", "adcode", "enterprise_id", "county_adcode", "city_adcode", "parent_adcode", "risk_level")
_POOLS: dict[str, Any] = {}
_POOLS_LOCK = threading.Lock()


_INHERITED: list[Any] = []  # pools a forked child got from its parent: kept unused, never closed


def _forget_pools_in_child() -> None:
    """A forked child must not use (nor close: that would end them for the parent) its parent's connections."""
    _INHERITED.extend(_POOLS.values())
    _POOLS.clear()


os.register_at_fork(after_in_child=_forget_pools_in_child)


def _psycopg():
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise StoreError(
            "a PostgreSQL store needs psycopg and psycopg_pool; install them with `pip install 'riskmap[postgis]'`"
        ) from exc
    return psycopg, psycopg_pool


def pool_for(url: str):
    """The process's connection pool for `url` (made on first use, after a probe connection that turns an
    unreachable server or a bad URL into a StoreError naming the URL)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(url)
        if pool is not None:
            return pool
        psycopg, psycopg_pool = _psycopg()
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except (psycopg.Error, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(
                f"cannot connect to the store {redact(url)}: {reason}; check the URL "
                "(postgresql://user@host:5432/db), that the server runs and that the user may log in"
            ) from exc
        size = int(os.environ.get("RISKMAP_PG_POOL", "8"))
        pool = psycopg_pool.ConnectionPool(url, min_size=1, max_size=max(size, 2), open=True, name="riskmap")
        _POOLS[url] = pool
        return pool


def close_pools() -> None:
    """Close every pool this process opened (tests, the end of a service)."""
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.close()
        _POOLS.clear()


def _workdir(url: str) -> Path:
    if os.environ.get("RISKMAP_WORKDIR"):
        return Path(os.environ["RISKMAP_WORKDIR"])
    parts = urlsplit(url)
    name = f"riskmap-{parts.hostname or 'local'}-{parts.port or 5432}-{parts.path.strip('/') or 'db'}"
    return Path(tempfile.gettempdir()) / name


@dataclass(frozen=True)
class Entry:
    """A stored table as the catalogue knows it."""

    name: str
    physical: str
    columns: list[Column]
    geometry: str | None
    rows: int
    updated: str = ""

    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class PgStore(Store):
    """A store in a PostgreSQL + PostGIS database (see the module). Cheap to construct once the process has
    a pool for the URL."""

    url: str = ""

    @classmethod
    def open_url(cls, url: str, *, create: bool = True) -> PgStore:
        from geo.pgschema import ensure_schema

        store = cls(_workdir(url).resolve(), url)
        ensure_schema(store, create=create)
        store.root.mkdir(parents=True, exist_ok=True)
        return store

    @property
    def label(self) -> str:
        return redact(self.url)

    @property
    def backend(self) -> str:
        return "postgis"

    @property
    def location(self) -> str:
        return self.url

    # -- connections --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection; its transaction commits when the block ends (rolls back on an error)."""
        with pool_for(self.url).connection() as conn:
            yield conn

    def query(self, sql: str, params: tuple | dict | None = None) -> list[tuple]:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    # -- manifest -----------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        rows = self.query(f"SELECT name, rows, updated FROM {SCHEMA}.tables WHERE name = ANY(%s)", (list(TABLES),))
        return {
            "format": FORMAT_VERSION,
            "crs": STORE_CRS,
            "tables": {name: {"rows": n, "updated": str(updated)} for name, n, updated in rows},
            "snapshot": self.current_id(),
        }

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        raise StoreError(f"{self.label}: a PostgreSQL store has no manifest file; its catalogue is in the database")

    def current_id(self) -> str | None:
        rows = self.query(CURRENT_SQL)
        return rows[0][0] if rows else None

    def calibrated_model(self) -> Path | None:
        """The calibrated scoring model kept in the database (``riskmap.models``, written by `riskmap calibrate`),
        as a file in this machine's working directory (rewritten from the database on each call, so every
        machine builds with the model the database holds); None when there is none."""
        rows = self.query(f"SELECT text FROM {SCHEMA}.models WHERE name = 'calibrated'")
        if not rows:
            return None
        path = _workdir(self.url) / "model.toml"
        data = rows[0][0].encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
        return path

    def keep_model(self, text: str | None) -> None:
        """Keep `text` as the store's calibrated scoring model (what builds use unless given one); None: none."""
        with self.connection() as conn:
            if text is None:
                conn.execute(f"DELETE FROM {SCHEMA}.models WHERE name = 'calibrated'")
                return
            conn.execute(
                f"INSERT INTO {SCHEMA}.models (name, text) VALUES ('calibrated', %s) ON CONFLICT (name) DO UPDATE "
                "SET text = EXCLUDED.text, updated = now()",
                (text,),
            )

    # -- the writer lock, and what dead builds left ----------------------------------------------------
    @contextlib.contextmanager
    def lock(self, *, sweep: bool = True) -> Iterator[None]:
        """The store's writer lock: an advisory lock held on a connection of its own for the block, so writers
        in every process on every machine exclude each other. Not re-entrant (like the directory store's)."""
        with self.connection() as conn:
            conn.autocommit = True
            conn.execute("SELECT pg_advisory_lock(%s)", (WRITER_LOCK,))
            try:
                if sweep:
                    self.sweep()
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK,))
                conn.autocommit = False

    def leftovers(self) -> list[Path]:
        """Staging tables of builds whose process is gone (their build lock is free), as ``schema.table``."""
        out = []
        with self.connection() as conn:
            conn.autocommit = True
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename ~ '^b[0-9]+_'", (SCHEMA,)
            ).fetchall()
            for (name,) in tables:
                seq = int(name[1:].split("_", 1)[0])
                free = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (BUILD_LOCK_NS, seq)).fetchone()[0]
                if free:
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (BUILD_LOCK_NS, seq))
                    out.append(Path(f"{SCHEMA}.{name}"))
            conn.autocommit = False
        return sorted(out)

    def sweep(self) -> list[Path]:
        removed = self.leftovers()
        if removed:
            with self.connection() as conn:
                for path in removed:
                    conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{quote(path.name.split('.', 1)[1])}")
        return removed

    def make_staging(self) -> Path:
        raise StoreError(f"{self.label}: builds on a PostgreSQL store stage tables, not directories")

    # -- tables ----------------------------------------------------------------------------------------
    def table_path(self, name: str) -> Path:
        raise StoreError(f"{self.label}: table {name!r} is in the database, not in a file")

    def entry(self, name: str) -> Entry | None:
        rows = self.query(
            f"SELECT physical, columns, geometry, rows, updated FROM {SCHEMA}.tables WHERE name = %s", (name,)
        )
        if not rows:
            return None
        physical, cols, geometry, n, updated = rows[0]
        return Entry(name, physical, [Column(c["name"], c["dtype"]) for c in cols], geometry, n, str(updated))

    def has(self, name: str) -> bool:
        _check_table(name)
        return self.entry(name) is not None

    def read(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        _check_table(name)
        entry = self.entry(name)
        if entry is None:
            hint = "riskmap boundaries import" if name == "boundaries" else f"riskmap ingest FILE --kind {name}"
            raise StoreEmpty(f"store {self.label} has no {name} yet; run `{hint}` first")
        return self.read_entry(entry, columns)

    def read_entry(
        self,
        entry: Entry,
        columns: list[str] | None = None,
        where: str = "",
        params: tuple | list = (),
        *,
        order: str = ORD,
        tail: str = "",
        source: str | None = None,
        few: bool = False,
    ) -> pd.DataFrame:
        """The rows of a catalogued table (in their stored order, or `order`, then `tail`: LIMIT and OFFSET),
        only `columns` when given (in that order; names the table lacks are left out); a GeoDataFrame when
        the geometry is among them. `source`: a FROM item over the table to read instead (a subquery adding
        columns, which `entry` then lists). `few`: the caller expects a few rows (fetched as rows, not COPY)."""
        cols = entry.columns if columns is None else [c for n in columns for c in entry.columns if c.name == n]
        sql = select_sql(source or f"{SCHEMA}.{entry.physical}", cols, where, order, tail)
        if few:
            with self.connection() as conn:
                return read_rows(conn.execute(sql, params or None).fetchall(), cols, entry.geometry)
        buf = bytearray()
        with self.connection() as conn, conn.cursor() as cur:
            with cur.copy(f"COPY ({sql}) TO STDOUT", params or None) as copy:
                for block in copy:
                    buf += block
        return read_copy(bytes(buf), cols, entry.geometry)

    def read_arrow(self, name: str) -> pa.Table:
        """Points as a GeoArrow point table (what `geo.ingest.upsert` reads fastest); other geometry as an
        attribute table without geometry (`split_point_table` then says None)."""
        entry = self.entry(name)
        if entry is None:
            raise StoreEmpty(f"store {self.label} has no {name} yet")
        attrs = [c for c in entry.names() if c != entry.geometry]
        frame = self.read_entry(entry, attrs)
        if entry.geometry is None:
            return pa.Table.from_pandas(frame, preserve_index=False)
        g = quote(entry.geometry)
        with self.connection() as conn:
            kinds = conn.execute(
                f"SELECT count(*) FILTER (WHERE GeometryType({g}) <> 'POINT' OR {g} IS NULL) FROM "
                f"{SCHEMA}.{entry.physical}"
            ).fetchone()[0]
            if kinds:
                return pa.Table.from_pandas(frame, preserve_index=False)
            xy = conn.execute(f"SELECT ST_X({g}), ST_Y({g}) FROM {SCHEMA}.{entry.physical} ORDER BY {ORD}").fetchall()
        arr = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return point_table(frame, arr[:, 0], arr[:, 1])

    def write(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """Replace a table in one transaction (readers see the old rows or the new ones)."""
        _check_table(name)
        self.write_table(name, f"t_{name}", _as_frame(frame, name))

    def write_table(self, name: str, physical: str, frame: pd.DataFrame, *, conn: Any = None) -> Entry:
        """Create (or replace) ``riskmap.<physical>`` holding `frame`, catalogued as `name`, with its indexes;
        in the transaction of `conn` when given, else in one of its own."""
        if conn is None:
            with self.connection() as own:
                return self.write_table(name, physical, frame, conn=own)
        _refuse_other_crs(name, frame)
        columns = columns_of(frame, name)
        geometry = (
            frame.geometry.name if hasattr(frame, "geometry") and "geometry" in [c.dtype for c in columns] else None
        )
        target = f"{SCHEMA}.{quote(physical)}"
        conn.execute(f"DROP TABLE IF EXISTS {target}")
        conn.execute(create_sql(target, columns))
        with conn.cursor().copy(
            f"COPY {target} ({', '.join([ORD, *(quote(c.name) for c in columns)])}) FROM STDIN"
        ) as cp:
            for start in range(0, len(frame), COPY_BLOCK):
                stop = min(start + COPY_BLOCK, len(frame))
                block = frame.iloc[start:stop]
                cp.write(copy_text(block, columns, np.arange(start, stop, dtype=np.int64)))
        index_table(conn, physical, [c.name for c in columns], geometry)
        entry = Entry(name, physical, columns, geometry, len(frame))
        catalogue(conn, entry)
        return entry


def index_table(conn: Any, physical: str, names: list[str], geometry: str | None, *, geography: bool = False) -> None:
    target = f"{SCHEMA}.{quote(physical)}"
    conn.execute(f"CREATE INDEX ON {target} ({ORD})")
    for col in INDEXED:
        if col in names:  # with the row order: a page of one county's rows is read off the index in order
            conn.execute(f"CREATE INDEX ON {target} ({quote(col)}, {ORD})")
    if geometry is not None:
        conn.execute(f"CREATE INDEX ON {target} USING gist ({quote(geometry)})")
        if geography:
            conn.execute(f"CREATE INDEX ON {target} USING gist (({quote(geometry)}::geography))")
    conn.execute(f"ANALYZE {target}")


def catalogue(conn: Any, entry: Entry) -> None:
    from psycopg.types.json import Jsonb

    conn.execute(
        f"INSERT INTO {SCHEMA}.tables (name, physical, columns, geometry, rows, updated) "
        "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (name) DO UPDATE SET physical = EXCLUDED.physical, "
        "columns = EXCLUDED.columns, geometry = EXCLUDED.geometry, rows = EXCLUDED.rows, updated = now()",
        (entry.name, entry.physical, Jsonb([c.to_dict() for c in entry.columns]), entry.geometry, entry.rows),
    )


def _check_table(name: str) -> None:
    if name not in TABLES:
        raise StoreError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")


def _refuse_other_crs(name: str, frame: pd.DataFrame) -> None:
    crs = getattr(frame, "crs", None) if hasattr(frame, "geometry") else None
    if crs is not None and crs.to_epsg() != 4326:
        raise StoreError(f"refusing to store {name} in {crs}; the store is WGS84 (EPSG:4326)")


def _as_frame(frame: pd.DataFrame | pa.Table, name: str) -> pd.DataFrame:
    """A GeoArrow point table (`geo.store.point_table`) as a GeoDataFrame; frames as they are."""
    if not isinstance(frame, pa.Table):
        return frame
    import geopandas as gpd

    split = split_point_table(frame)
    if split is None:
        raise StoreError(f"{name}: an Arrow table without GeoArrow points cannot be stored in PostgreSQL")
    attrs, x, y = split
    return gpd.GeoDataFrame(attrs, geometry=shapely.points(x, y), crs="EPSG:4326")
