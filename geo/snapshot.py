"""Versioned build snapshots, published atomically.

A build writes ``STORE/snapshots/<id>/`` (``units.parquet``, ``hazards.parquet``, ``regions.parquet``,
``meta.json`` with the as-of date, the model and counts) into a temporary directory first, renames it into
place (atomic on one filesystem), and only then points the manifest's ``snapshot`` at it (an atomic file
replace). A reader that resolves the manifest therefore sees the old snapshot or the new one, never a
half-written one. The newest ``KEEP`` snapshots are kept; older ones are removed after publishing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa

from geo.errors import StoreEmpty, StoreError
from geo.store import Store, write_parquet

KEEP = 10


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot: read-only tables plus metadata."""

    id: str
    path: Path
    meta: dict[str, Any]

    @property
    def as_of(self) -> date:
        return date.fromisoformat(self.meta["as_of"])

    def units(self, columns: list[str] | None = None) -> pd.DataFrame:
        return _read(self.path / "units.parquet", columns)

    def hazards(self, columns: list[str] | None = None) -> pd.DataFrame:
        return _read(self.path / "hazards.parquet", columns)

    def regions(self) -> pd.DataFrame:
        frame = pd.read_parquet(self.path / "regions.parquet")
        for col in ("rules", "explanation"):
            if col in frame:
                frame[col] = frame[col].map(json.loads)
        return frame


def _read(path: Path, columns: list[str] | None) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    if columns is not None and "geometry" not in columns:
        return pd.read_parquet(path, columns=columns)
    return gpd.read_parquet(path, columns=columns)


def _write(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    write_parquet(frame, path, covering_bbox=True)


def publish(
    store: Store,
    units: pd.DataFrame | pa.Table,
    hazards: pd.DataFrame,
    regions: pd.DataFrame,
    meta: dict[str, Any],
) -> Snapshot:
    """Write a new snapshot and make it current atomically."""
    created = datetime.now(UTC)
    snap_id = f"{created:%Y%m%dT%H%M%S%fZ}-asof-{meta['as_of']}"
    root = store.root / "snapshots"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        regions = regions.copy()
        for col in ("rules", "explanation"):
            if col in regions:
                regions[col] = regions[col].map(lambda v: json.dumps(v, ensure_ascii=False, default=str))
        _write(units, tmp / "units.parquet")
        _write(hazards, tmp / "hazards.parquet")
        _write(regions, tmp / "regions.parquet")
        meta = {**meta, "id": snap_id, "created": created.strftime("%Y-%m-%dT%H:%M:%SZ")}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        final = root / snap_id
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.update_manifest(snapshot=snap_id)
    _prune(root, keep=KEEP, current=snap_id)
    return Snapshot(snap_id, final, meta)


def _prune(root: Path, keep: int, current: str) -> None:
    done = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in done[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def current(store: Store) -> Snapshot:
    """The published snapshot. Raises StoreEmpty if nothing has been built yet."""
    snap_id = store.manifest().get("snapshot")
    if not snap_id:
        raise StoreEmpty(f"store {store.root} has no build yet; run `riskmap build` first")
    path = store.root / "snapshots" / snap_id
    if not path.is_dir():
        raise StoreError(f"store {store.root}: snapshot {snap_id} is missing; run `riskmap build` again")
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    return Snapshot(snap_id, path, meta)
