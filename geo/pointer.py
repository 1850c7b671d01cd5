"""Which snapshot a store serves, read without the data libraries (only the standard library, and psycopg for a
PostgreSQL store): what `riskmap serve`'s supervisor asks twice a second. The supervisor then stays a small
process; the service processes it starts load the data (`api.handover`).

`geo.store.Store.current_id` and `geo.pgstore.PgStore.current_id` read the same pointer the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

from geo.pgschema import SCHEMA

#: the directory store's manifest (its tables and the published snapshot's id)
MANIFEST = "manifest.json"
#: the published snapshot of a PostgreSQL store
CURRENT_SQL = f"SELECT snapshot FROM {SCHEMA}.current"


def is_url(location: object) -> TypeGuard[str]:
    """Whether a store location is a PostgreSQL URL (else a directory)."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """`url` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def manifest_snapshot(data: dict[str, Any]) -> str | None:
    """The published snapshot's id a directory store's manifest names (None before the first build)."""
    return data.get("snapshot")


class Pointer:
    """The current snapshot id of the store at `location`, read on each call: from the manifest of a directory
    store, or by one query on a connection kept open (made again after the server went away) for a database."""

    def __init__(self, location: str):
        self.location = location
        self._conn: Any = None

    def __call__(self) -> str | None:
        if not is_url(self.location):
            path = Path(self.location) / MANIFEST
            return manifest_snapshot(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.location, autocommit=True, connect_timeout=10)
            row = self._conn.execute(CURRENT_SQL).fetchone()
        except psycopg.OperationalError:
            self.close()
            raise
        return row[0] if row else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
