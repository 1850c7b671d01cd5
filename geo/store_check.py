"""Check a store, and repair what can be repaired: ``riskmap store check [--repair]``.

What is checked:

* the manifest: readable, and for each table its file present and its row count the file's;
* table files not in the manifest (a writer killed between replacing a table and recording it);
* the current snapshot: present, with its meta, and its records and scores of one length;
* leftovers of dead writers: temporary files and staging directories (`geo.store.Store.leftovers`).

Repairs: the manifest is rewritten from the files (row counts, missing and unrecorded tables); a missing or
broken current snapshot is replaced by the newest sound one (or none); leftovers are removed. An unreadable
table file is reported and left: it needs restoring or re-ingesting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from geo.errors import StoreEmpty, StoreError
from geo.store import FORMAT_VERSION, STORE_CRS, TABLES, Store, _now


@dataclass
class Problem:
    what: str  # manifest, table, snapshot, leftover
    path: Path
    detail: str
    repairable: bool
    repaired: bool = False

    def line(self) -> str:
        state = "repaired" if self.repaired else ("repairable with --repair" if self.repairable else "remains")
        return f"{self.what:9s} {self.path}: {self.detail} [{state}]"


def check_store(store: Store, *, repair: bool = False) -> list[Problem]:
    """The store's problems (repaired, under the store's lock, when `repair`)."""
    if store.backend == "postgis":
        return _check_pg(store, repair=repair)
    if not repair:
        return _problems(store)[0]
    with store.lock(sweep=False):  # the leftovers are reported before they are removed
        problems, manifest = _problems(store)
        _repair(store, problems, manifest)
    return problems


def _problems(store: Store) -> tuple[list[Problem], dict[str, Any]]:
    problems: list[Problem] = []
    try:
        manifest = store.manifest()
    except StoreError as exc:
        problems.append(Problem("manifest", store.manifest_path, str(exc), True))
        manifest = {"format": FORMAT_VERSION, "crs": STORE_CRS, "tables": {}, "snapshot": None}
    tables = manifest.setdefault("tables", {})
    for name in TABLES:
        path = store.table_path(name)
        entry = tables.get(name)
        if not path.exists():
            if entry is not None:
                problems.append(Problem("table", path, "in the manifest but the file is missing", True))
            continue
        try:
            rows = pq.read_metadata(path).num_rows
        except Exception as exc:  # noqa: BLE001 - any failure means an unreadable file
            problems.append(Problem("table", path, f"unreadable ({exc}); restore it or re-ingest", False))
            continue
        if entry is None:
            problems.append(Problem("table", path, f"{rows} rows, not in the manifest", True))
        elif entry.get("rows") != rows:
            problems.append(
                Problem("table", path, f"the manifest says {entry.get('rows')} rows, the file has {rows}", True)
            )
    snap_id = manifest.get("snapshot")
    if snap_id:
        why = _snapshot_fault(store.root / "snapshots" / snap_id)
        if why:
            problems.append(
                Problem("snapshot", store.root / "snapshots" / snap_id, f"the current snapshot {why}", True)
            )
    for path in store.leftovers():
        problems.append(Problem("leftover", path, "left by a writer that is gone", True))
    return problems, manifest


def _snapshot_fault(path: Path) -> str | None:
    if not path.is_dir():
        return "is missing"
    try:
        json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"has no readable meta.json ({exc})"
    for name in ("units.parquet", "hazards.parquet", "regions.parquet"):
        if not (path / name).exists():
            return f"lacks {name}"
    records = path / "records.parquet"
    try:
        if records.exists() and pq.read_metadata(records).num_rows != pq.read_metadata(path / "units.parquet").num_rows:
            return "has records and scores of different lengths"
    except Exception as exc:  # noqa: BLE001 - any failure means an unreadable file
        return f"has an unreadable table ({exc})"
    return None


def _repair(store: Store, problems: list[Problem], manifest: dict[str, Any]) -> None:
    tables = manifest["tables"]
    for p in problems:
        if not p.repairable:
            continue
        if p.what == "leftover":
            store.sweep()
        elif p.what == "table":
            name = p.path.name.removesuffix(".parquet")
            if p.path.exists():
                tables[name] = {"file": p.path.name, "rows": pq.read_metadata(p.path).num_rows, "updated": _now()}
            else:
                tables.pop(name, None)
        elif p.what == "snapshot":
            manifest["snapshot"] = _newest_sound(store)
        p.repaired = True
    if any(p.repaired and p.what != "leftover" for p in problems):
        store._write_manifest(manifest)


def _newest_sound(store: Store) -> str | None:
    root = store.root / "snapshots"
    if not root.is_dir():
        return None
    dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    return next((p.name for p in dirs if _snapshot_fault(p) is None), None)


def _check_pg(store: Store, *, repair: bool) -> list[Problem]:
    """A PostgreSQL store: staging tables of dead builds (dropped on repair), and the current snapshot's
    tables (a missing one remains: rebuild)."""
    from geo.pgsnapshot import PARTS, current_pg

    with store.lock(sweep=False):
        problems = [Problem("leftover", p, "staging table of a build that is gone", True) for p in store.leftovers()]
        try:
            snap = current_pg(store)
        except StoreEmpty:
            snap = None
        for kept, part in [] if snap is None else [(snap, p) for p in PARTS[:3]]:
            try:
                kept.entry(part)
            except StoreError as exc:
                problems.append(Problem("snapshot", Path(f"{kept.id}/{part}"), str(exc), False))
        if repair and any(p.what == "leftover" for p in problems):
            store.sweep()
            for p in problems:
                p.repaired = p.what == "leftover"
    return problems
