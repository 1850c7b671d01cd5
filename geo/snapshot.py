"""Versioned build snapshots, published atomically.

A build writes ``STORE/snapshots/<id>/`` (``units.parquet``, ``hazards.parquet``, ``regions.parquet``,
``meta.json`` with the as-of date, the model and counts) into a temporary directory first, renames it into
place (atomic on one filesystem), and only then points the manifest's ``snapshot`` at it (an atomic file
replace). A reader that resolves the manifest therefore sees the old snapshot or the new one, never a
half-written one. The newest ``KEEP`` snapshots are kept; older ones are removed after publishing.

A build from the store (`geo.build.build`) does not copy the million unit records: ``records.parquet`` is a
hard link to the store's enterprise file of that moment (store files are only ever replaced, never changed,
so the link keeps that version), and ``units.parquet`` then holds only the score columns, row for row.
`Snapshot.units` puts the two side by side; either way a reader sees one table.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from geo.catalogue import Catalogue, load_catalogue
from geo.errors import StoreEmpty, StoreError
from geo.scoring.model import ScoringModel, load_model
from geo.store import Store, checkpoint, release_staging, split_point_table, write_parquet

if TYPE_CHECKING:
    from geo.build import Computed

KEEP = 10
#: the rescue circle's tables in a snapshot (written by `geo.build`; absent when the store had no responders)
RESCUE_FILES = {"resources": "resources.parquet", "regions": "rescue_regions.parquet", "zones": "rescue_zones.parquet"}


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot: the one source of truth for every reader (explain, API, maps, exports, CLI).

    It carries the validated scoring model it was built with (`model`), the catalogue and its as-of date,
    and offers every read a consumer needs: `units`, `hazards`, `regions`, `explain`, `history` (the
    region's level in the kept snapshots up to this one) and `dated` (the same model applied to another
    date). Nothing reads a snapshot's files or re-scores with the default model behind its back.
    """

    id: str
    path: Path
    meta: dict[str, Any]
    store: Store

    @property
    def as_of(self) -> date:
        return date.fromisoformat(self.meta["as_of"])

    @cached_property
    def model(self) -> ScoringModel:
        """The model the build scored with (stored in `meta.json`; the default for snapshots without one)."""
        stored = self.meta.get("model")
        return load_model() if stored is None else ScoringModel.model_validate(stored)

    @property
    def catalogue(self) -> Catalogue:
        return load_catalogue()

    def explain(self, target: str, *, as_of: date | None = None, model_path: Path | None = None) -> dict[str, Any]:
        """Why a region (by adcode) or a unit or hazard site (by id) has its level; see `geo.explain`."""
        from geo.explain import explain

        return explain(self, target, as_of=as_of, model_path=model_path)

    def dated(self, as_of: date, model: ScoringModel | None = None) -> Computed:
        """Every unit, site and region scored as of another date with this snapshot's model (or `model`)."""
        from geo.build import compute

        return compute(self.store, as_of, model=model or self.model)

    def history(self, adcode: str, domain: str = "all") -> list[dict[str, Any]]:
        """The region's level and index in each kept snapshot up to and including this one (oldest first)."""
        out = []
        for snap_dir in sorted(p for p in self.path.parent.iterdir() if _published(p) and p.name <= self.id):
            try:
                meta = json.loads((snap_dir / "meta.json").read_text(encoding="utf-8"))
                regs = pd.read_parquet(
                    snap_dir / "regions.parquet",
                    columns=["adcode", "domain", "risk_level", "risk_index"],
                    filters=[("adcode", "==", adcode), ("domain", "==", domain)],
                )
            except (OSError, ValueError):
                continue  # a snapshot pruned while we read: skip it
            if len(regs):
                out.append(
                    {
                        "snapshot": meta.get("id"),
                        "as_of": meta.get("as_of"),
                        "risk_level": regs["risk_level"].iloc[0],
                        "risk_index": float(regs["risk_index"].iloc[0]),
                    }
                )
        return out

    def prompts(self) -> pd.DataFrame:
        """The dynamic risk prompts of this build: open ones and those it closed (see `geo.prompts.ledger`)."""
        from geo.prompts.ledger import read_prompts

        return read_prompts(self)

    def raw_prompts(self) -> pd.DataFrame | None:
        """The prompt table as the build stored it (None: a build from before prompts existed)."""
        from geo.prompts.ledger import ARCHIVE, FILE

        for path in (self.path / FILE, self.store.root / ARCHIVE / f"{self.id}.parquet"):
            if path.exists():
                return pd.read_parquet(path)
        return None

    def has_units(self) -> bool:
        return (self.path / "units.parquet").exists()

    def region_levels(self, columns: list[str]) -> pd.DataFrame:
        """Some columns of the regions table, as stored (no JSON decoding): cheap."""
        return pd.read_parquet(self.path / "regions.parquet", columns=columns)

    def index_history(self) -> pd.DataFrame:
        """Each kept snapshot's region indices up to this one: ``adcode, domain, risk_index, build`` (0 the
        oldest) and ``as_of``."""
        frames = []
        root = self.path.parent
        dirs = sorted(p for p in root.iterdir() if _published(p) and p.name <= self.id)
        for i, d in enumerate(dirs):
            try:
                meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
                regs = pd.read_parquet(d / "regions.parquet", columns=["adcode", "domain", "risk_index"])
            except (OSError, ValueError):
                continue  # pruned while we read
            frames.append(regs.assign(build=i, as_of=str(meta.get("as_of"))))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def units(self, columns: list[str] | None = None) -> pd.DataFrame:
        records = self.path / "records.parquet"
        if not records.exists():
            return _read(self.path / "units.parquet", columns)
        scores = self.path / "units.parquet"
        score_names = pq.read_schema(scores).names
        names = [c for c in pq.read_schema(records).names if c not in score_names] + score_names
        wanted = names if columns is None else [c for c in columns if c in names]
        left = _read(records, [c for c in wanted if c not in score_names]) if set(wanted) - set(score_names) else None
        right = pd.read_parquet(scores, columns=[c for c in wanted if c in score_names])
        if left is None:
            return right[wanted]
        if len(left) != len(right):
            raise StoreError(f"{self.path}: records and scores differ in length; rebuild with `riskmap build`")
        out = pd.concat([left.reset_index(drop=True), right.reset_index(drop=True)], axis=1)[wanted]
        if isinstance(left, gpd.GeoDataFrame):
            out = gpd.GeoDataFrame(out, geometry=left.geometry.name, crs=left.crs)
        return out

    def unit_columns(self) -> list[str]:
        """The columns `units()` returns."""
        names: list[str] = []
        for name in ("records.parquet", "units.parquet"):
            if (self.path / name).exists():
                names += [c for c in pq.read_schema(self.path / name).names if c not in names]
        return names

    def hazards(self, columns: list[str] | None = None) -> pd.DataFrame:
        return _read(self.path / "hazards.parquet", columns)

    def resources(self) -> pd.DataFrame:
        """The emergency resources as of this build (an empty frame when there were none)."""
        return _read(self.path / RESCUE_FILES["resources"], None)

    def rescue_regions(self) -> pd.DataFrame:
        """Per region: rescue-circle shares per threshold and the unreached red units (see
        `geo.response.coverage.region_shares`); empty when the build had no responders."""
        path = self.path / RESCUE_FILES["regions"]
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()

    def rescue_zones(self) -> pd.DataFrame:
        """The area reached within each threshold band (MultiPolygons, WGS84); empty without responders."""
        return _read(self.path / RESCUE_FILES["zones"], None)

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
    split = split_point_table(pq.read_table(path, columns=columns))
    if split is None:  # lines and polygons (hazard sites), or points with gaps
        return gpd.read_parquet(path, columns=columns)
    frame, x, y = split
    return gpd.GeoDataFrame(frame, geometry=points_in_steps(x, y), crs="EPSG:4326")


def points_in_steps(x: np.ndarray, y: np.ndarray, step: int = 100_000) -> gpd.array.GeometryArray:
    """Point geometries made `step` at a time. shapely holds Python's GIL while it makes them (0.4 s for a
    million at once): a service loading a new snapshot in the background thus lets its requests run between
    steps (~40 ms each) instead of stalling them all for the whole column."""
    out = np.empty(len(x), dtype=object)
    for start in range(0, len(x), step):
        out[start : start + step] = shapely.points(x[start : start + step], y[start : start + step])
    return gpd.array.from_shapely(out, crs="EPSG:4326")


def _write(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    write_parquet(frame, path, covering_bbox=True)


def publish(
    store: Store,
    units: pd.DataFrame | pa.Table,
    hazards: pd.DataFrame,
    regions: pd.DataFrame,
    meta: dict[str, Any],
    staging: Path | None = None,
    *,
    snap_id: str | None = None,
    make_current: bool = True,
) -> Snapshot:
    """Write a new snapshot and make it current atomically (unless not `make_current`). `staging` is a
    directory from `stage_records` (then `units` holds the score columns only, aligned with the staged
    records). `snap_id` keeps an id and `meta["created"]` (a copied store); else both are new."""
    created = datetime.now(UTC)
    snap_id = snap_id or f"{created:%Y%m%dT%H%M%S%fZ}-asof-{meta['as_of']}"
    root = store.root / "snapshots"
    root.mkdir(parents=True, exist_ok=True)
    tmp = staging or store.make_staging()
    try:
        regions = regions.copy()
        for col in ("rules", "explanation"):
            if col in regions:
                regions[col] = regions[col].map(lambda v: json.dumps(v, ensure_ascii=False, default=str))
        _write(units, tmp / "units.parquet")
        _write(hazards, tmp / "hazards.parquet")
        _write(regions, tmp / "regions.parquet")
        stamp = meta["created"] if "created" in meta and snap_id == meta.get("id") else None
        meta = {**meta, "id": snap_id, "created": stamp or created.strftime("%Y-%m-%dT%H:%M:%SZ")}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        checkpoint("build:written")
        release_staging(tmp)  # under the store's lock: no sweep sees it unowned before the rename
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        final = root / snap_id
        os.rename(tmp, final)
    except BaseException:
        discard(tmp)
        raise
    if make_current:
        store.update_manifest(snapshot=snap_id)
    _prune(root, keep=KEEP, current=snap_id)
    return Snapshot(snap_id, final, meta, store)


def stage_records(store: Store, table: str = "enterprises") -> Path:
    """A new staging directory holding ``records.parquet``: a hard link to the store's current `table` file
    (a copy where links are impossible). Read the records from there, then `publish(..., staging=...)`;
    `discard` it on failure."""
    staging = store.make_staging()
    try:
        try:
            os.link(store.table_path(table), staging / "records.parquet")
        except OSError:
            shutil.copyfile(store.table_path(table), staging / "records.parquet")
    except BaseException:
        discard(staging)
        raise
    return staging


def discard(staging: Path) -> None:
    release_staging(staging)
    shutil.rmtree(staging, ignore_errors=True)


def _published(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")


def _prune(root: Path, keep: int, current: str) -> None:
    done = sorted(p for p in root.iterdir() if _published(p))
    for old in done[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def kept(store: Store) -> list[Snapshot]:
    """Every kept snapshot of the store, oldest first."""
    if store.backend == "postgis":
        from geo.pgsnapshot import kept_ids, snapshot_by_id

        return [snapshot_by_id(store, i) for i in kept_ids(store)]  # type: ignore[arg-type]
    root = store.root / "snapshots"
    out = []
    for path in sorted(p for p in root.iterdir() if _published(p)) if root.is_dir() else ():
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        out.append(Snapshot(path.name, path, meta, store))
    return out


def current(store: Store) -> Snapshot:
    """The published snapshot. Raises StoreEmpty if nothing has been built yet."""
    if store.backend == "postgis":
        from geo.pgsnapshot import current_pg

        return current_pg(store)
    snap_id = store.manifest().get("snapshot")
    if not snap_id:
        raise StoreEmpty(f"store {store.root} has no build yet; run `riskmap build` first")
    path = store.root / "snapshots" / snap_id
    if not path.is_dir():
        raise StoreError(f"store {store.root}: snapshot {snap_id} is missing; run `riskmap build` again")
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    return Snapshot(snap_id, path, meta, store)
