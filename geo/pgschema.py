"""The PostgreSQL store's schema and its migrations (`riskmap store init`, `riskmap store upgrade`).

Each migration is SQL applied in one transaction with the version it brings; ``riskmap.schema_version``
records the versions applied. Opening a store on an empty database applies them all (as the directory store
creates its directory); a database at an older version is refused until `upgrade` runs, and one at a newer
version (written by a newer riskmap) is refused outright.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geo.errors import StoreError

if TYPE_CHECKING:
    from geo.pgstore import PgStore

SCHEMA = "riskmap"
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "catalogue, snapshots and the current pointer",
        f"""
        CREATE EXTENSION IF NOT EXISTS postgis;
        CREATE SCHEMA IF NOT EXISTS {SCHEMA};
        CREATE TABLE {SCHEMA}.schema_version (
            version integer PRIMARY KEY, description text NOT NULL, applied timestamptz NOT NULL DEFAULT now());
        CREATE TABLE {SCHEMA}.tables (
            name text PRIMARY KEY, physical text NOT NULL, columns jsonb NOT NULL, geometry text,
            rows bigint NOT NULL, updated timestamptz NOT NULL DEFAULT now());
        CREATE SEQUENCE {SCHEMA}.builds;
        CREATE TABLE {SCHEMA}.snapshots (
            id text PRIMARY KEY, seq bigint NOT NULL UNIQUE, as_of date NOT NULL,
            created timestamptz NOT NULL DEFAULT now(),
            meta json NOT NULL,  -- json, not jsonb: keeps the model's key order
            kept boolean NOT NULL DEFAULT true);
        CREATE TABLE {SCHEMA}.current (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            snapshot text NOT NULL REFERENCES {SCHEMA}.snapshots (id),
            switched timestamptz NOT NULL DEFAULT now());
        """,
    ),
    (
        2,
        "kept snapshots by as-of date (trend, history)",
        f"CREATE INDEX snapshots_kept_as_of ON {SCHEMA}.snapshots (as_of) WHERE kept;",
    ),
    (
        3,
        "job documents shared by every service instance (uploads and builds through the API)",
        f"""CREATE TABLE {SCHEMA}.jobs (
            id text PRIMARY KEY, doc jsonb NOT NULL, updated timestamptz NOT NULL DEFAULT now());""",
    ),
    (
        4,
        "the calibrated scoring model (riskmap calibrate), which builds on any machine use",
        f"""CREATE TABLE {SCHEMA}.models (
            name text PRIMARY KEY, text text NOT NULL, updated timestamptz NOT NULL DEFAULT now());""",
    ),
    (
        5,
        "btree_gist: the nearest resources of one kind by an index scan (a snapshot's rescue_resources)",
        "CREATE EXTENSION IF NOT EXISTS btree_gist;",
    ),
)
LATEST = MIGRATIONS[-1][0]


def version(conn) -> int:
    """The schema version of the database (0: no riskmap schema)."""
    exists = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'schema_version'", (SCHEMA,)
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute(f"SELECT max(version) FROM {SCHEMA}.schema_version").fetchone()
    return int(row[0] or 0)


def upgrade(store: PgStore) -> list[int]:
    """Apply the migrations the database lacks, each in its own transaction, under a lock that makes
    concurrent upgrades wait; the versions applied."""
    applied = []
    with store.connection() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x52534348,))
        have = version(conn)
        if have > LATEST:
            raise StoreError(_newer(store, have))
        for number, description, sql in MIGRATIONS:
            if number <= have:
                continue
            with conn.transaction():
                conn.execute(sql)
                conn.execute(
                    f"INSERT INTO {SCHEMA}.schema_version (version, description) VALUES (%s, %s)",
                    (number, description),
                )
            applied.append(number)
    return applied


def ensure_schema(store: PgStore, *, create: bool) -> None:
    """Check the schema version on opening; create the schema on an empty database when `create`."""
    with store.connection() as conn:
        have = version(conn)
    if have == LATEST:
        return
    if have == 0 and create:
        upgrade(store)
        return
    if have == 0:
        raise StoreError(f"store {store.label} has no riskmap schema; run `riskmap store init --store URL` first")
    if have > LATEST:
        raise StoreError(_newer(store, have))
    raise StoreError(
        f"store {store.label} has schema version {have}, this riskmap needs {LATEST}; "
        "run `riskmap store upgrade --store URL` (back the database up first)"
    )


def _newer(store: PgStore, have: int) -> str:
    return f"store {store.label} has schema version {have}, newer than this riskmap knows ({LATEST}); upgrade riskmap"
