"""The embedded store: a directory of open files (GeoParquet tables plus a JSON manifest).

Layout::

    STORE/
      manifest.json            what is here: tables, their row counts, the current snapshot
      boundaries.parquet       administrative units of every level (WGS84)
      enterprises.parquet      census records, joined to regions (WGS84 points, GeoArrow point encoding)
      hazards.parquet          hazard sites (WGS84 points, lines, polygons)
      events.parquet           hidden dangers, accidents, alarms
      model.toml               the calibrated scoring model, if `riskmap calibrate` wrote one (builds use it)
      snapshots/<id>/          builds (see geo.snapshot): records.parquet (a hard link to the enterprises
                               file it was built from), units.parquet (their scores), hazards, regions, meta

Every file is written to a temporary name in the same directory and moved into place with
``os.replace``, so a reader sees the old file or the new one, never half of one. Writers take an
exclusive lock on ``STORE/.lock``. The store's CRS is always WGS84 (EPSG:4326).

A writer killed mid-way (kill -9, a power cut) leaves a temporary file (``.<file>.<pid>-…``) or a build's
staging directory (``snapshots/.building-<pid>-…``) behind, never a torn table. Whoever takes the lock next
removes them (`Store.sweep`): a temporary file whose writer is gone, a staging directory whose owner lock
(``.owner``, held by the building process for as long as it builds) is free. `geo.store_check` checks a
whole store (``riskmap store check [--repair]``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyproj
import shapely

from geo.errors import StoreEmpty, StoreError
from geo.pointer import MANIFEST, is_url, manifest_snapshot

STORE_CRS = "EPSG:4326"
TABLES = ("boundaries", "enterprises", "hazards", "events", "resources", "roads")
#: the store's calibrated scoring model (`riskmap calibrate`): builds use it when no model is given
MODEL_FILE = "model.toml"
FORMAT_VERSION = 1
#: How a build's staging directory in ``snapshots/`` starts (then the builder's pid and a random part).
STAGING_PREFIX = ".building-"
#: The file in a staging directory its builder holds an exclusive flock on while it builds.
OWNER_FILE = ".owner"
#: Test hook: a process whose $RISKMAP_PAUSE_AT names a `checkpoint` stops there (to be killed by the test).
PAUSE_ENV = "RISKMAP_PAUSE_AT"
_OWNED: dict[Path, Any] = {}  # staging directory -> the open, flocked owner file of this process


def checkpoint(name: str) -> None:
    """A named point in a write; a process with $RISKMAP_PAUSE_AT = `name` says so on stderr and waits there,
    so that a test can kill it at exactly that point (the crash tests). Does nothing otherwise."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    import sys
    import time

    print(f"paused at {name}", file=sys.stderr, flush=True)
    time.sleep(3600)


def _temp_prefix(path: Path) -> str:
    """Temporary files beside `path` are named ``.<name>.<pid>-<random>``: the sweep tells a dead writer's."""
    return f".{path.name}.{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_file_owner(name: str, targets: list[str]) -> int | None:
    """The pid in a temporary file's name beside one of `targets` (0: a temporary file without one), or None
    when `name` is not such a file."""
    for target in targets:
        prefix = f".{target}."
        if name.startswith(prefix):
            head = name[len(prefix) :].split("-", 1)[0]
            return int(head) if head.isdigit() else 0
    return None


def default_store_path() -> Path:
    """`$RISKMAP_STORE`, else `./riskmap-data`."""
    return Path(os.environ.get("RISKMAP_STORE") or "riskmap-data")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_parquet(frame: pd.DataFrame | pa.Table, path: Path | str, *, covering_bbox: bool = False) -> None:
    """Write a (Geo)DataFrame, or an Arrow table as it is, as zstd (Geo)Parquet. A layer of points only is
    stored in the GeoArrow point encoding (GeoParquet 1.1: x and y columns, no WKB to build or parse, about
    twice as fast both ways); any other geometry as WKB, with a bbox covering column when asked."""
    if isinstance(frame, pa.Table):
        pq.write_table(frame, path, compression="zstd", use_dictionary=dictionary_columns(frame))
        return
    if not isinstance(frame, gpd.GeoDataFrame):
        frame.to_parquet(path, index=False, compression="zstd", use_dictionary=dictionary_columns(frame))
        return
    geoms = frame.geometry.array
    if len(frame) and (shapely.get_type_id(geoms) == 0).all() and not shapely.has_z(geoms).any():
        frame.to_parquet(path, index=False, compression="zstd", geometry_encoding="geoarrow")
    else:
        frame.to_parquet(path, index=False, compression="zstd", write_covering_bbox=covering_bbox)


def dictionary_columns(table: pd.DataFrame | pa.Table, sample: int = 64) -> list[str] | bool:
    """The columns of a long table worth Parquet's dictionary encoding: those repeating their values (codes,
    levels, flags) in rows spread over the table. Ids, names, addresses and coordinates are written plain: a
    dictionary of a million distinct values is hashed and then dropped by the writer (a quarter of the
    write time of a census, for the same file size). Every column for a table under 100,000 rows."""
    n = len(table)
    if n < 100_000:
        return True
    starts = np.linspace(0, n - sample, 64).astype(np.int64)
    if isinstance(table, pa.Table):
        rows = pa.concat_tables([table.slice(int(s), sample) for s in starts])
    else:
        try:
            rows = pa.Table.from_pandas(
                table.iloc[np.concatenate([np.arange(s, s + sample) for s in starts])], preserve_index=False
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return True
    distinct = {}
    for f in rows.schema:  # plain values only: not nested, null (all missing in the sample) or categorical types
        if pa.types.is_primitive(f.type) or pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            with contextlib.suppress(pa.ArrowException):
                distinct[f.name] = pc.count_distinct(rows.column(f.name)).as_py()
    names = list(distinct)
    return [name for name in names if distinct[name] <= len(starts) * sample // 2]


def point_table(frame: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> pa.Table:
    """`frame` plus WGS84 points (x, y) as a GeoParquet 1.1 table with a GeoArrow point `geometry` column,
    built from the coordinates directly (no point objects)."""
    crs = pyproj.CRS.from_epsg(4326).to_json_dict()
    table = pa.Table.from_pandas(frame.drop(columns=["geometry"], errors="ignore"), preserve_index=False)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    points = pa.StructArray.from_arrays(
        [pa.array(x), pa.array(y)], fields=[pa.field("x", pa.float64(), False), pa.field("y", pa.float64(), False)]
    )
    ext = {b"ARROW:extension:name": b"geoarrow.point", b"ARROW:extension:metadata": json.dumps({"crs": crs}).encode()}
    table = table.append_column(pa.field("geometry", points.type, metadata=ext), points)
    finite = np.isfinite(x) & np.isfinite(y)
    bbox = (
        [float(x[finite].min()), float(y[finite].min()), float(x[finite].max()), float(y[finite].max())]
        if finite.any()
        else []
    )
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "point", "crs": crs, "geometry_types": ["Point"], "bbox": bbox}},
    }
    return table.replace_schema_metadata({**(table.schema.metadata or {}), b"geo": json.dumps(geo).encode()})


def split_point_table(table: pa.Table) -> tuple[pd.DataFrame, np.ndarray, np.ndarray] | None:
    """Attributes and x, y of a table holding GeoArrow points in WGS84 (None for any other geometry)."""
    try:
        geo = json.loads(table.schema.metadata[b"geo"])
        name = geo["primary_column"]
        if geo["columns"][name].get("encoding") != "point":
            return None
    except (KeyError, TypeError, ValueError):
        return None
    column = table.column(name)
    if column.null_count:
        return None
    x = column.combine_chunks().field("x").to_numpy(zero_copy_only=False) if len(column) else np.zeros(0)
    y = column.combine_chunks().field("y").to_numpy(zero_copy_only=False) if len(column) else np.zeros(0)
    return table.drop_columns([name]).to_pandas(), np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def atomic_write_frame(path: Path, frame: pd.DataFrame | pa.Table) -> None:
    """Write a (Geo)DataFrame as (Geo)Parquet atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".parquet", dir=path.parent)
    os.close(fd)
    try:
        write_parquet(frame, tmp)
        checkpoint("store:temp-written")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class Store:
    """A store directory. Cheap to construct; nothing is read until asked."""

    root: Path

    @classmethod
    def open(cls, root: Path | str | None = None, *, create: bool = True) -> Store:
        """The store at `root` (a directory, or a ``postgresql://`` URL: `geo.pgstore.PgStore`); default
        `$RISKMAP_STORE`, else ``./riskmap-data``."""
        location = root if root is not None else os.environ.get("RISKMAP_STORE") or "riskmap-data"
        if is_url(location):
            from geo.pgstore import PgStore

            return PgStore.open_url(location, create=create)
        path = Path(location)
        if path.exists() and not path.is_dir():
            raise StoreError(f"store {path} is a file, not a directory; pass --store DIR")
        if not path.exists():
            if not create:
                raise StoreError(f"store {path} does not exist; run `riskmap ingest` or `riskmap demo` first")
            path.mkdir(parents=True)
        return cls(path.resolve())

    @property
    def label(self) -> str:
        """How messages name the store (a directory, or a database URL without its password)."""
        return str(self.root)

    @property
    def backend(self) -> str:
        return "files"

    @property
    def location(self) -> str:
        """What `Store.open` takes to open this store again (another process: a job, a copy)."""
        return str(self.root)

    def current_id(self) -> str | None:
        """The published snapshot's id (None before the first build)."""
        return manifest_snapshot(self.manifest())

    @property
    def model_path(self) -> Path:
        """Where the store keeps its calibrated scoring model (`riskmap calibrate` writes it)."""
        return self.root / MODEL_FILE

    def calibrated_model(self) -> Path | None:
        """The store's calibrated scoring model file, when it has one: what builds use unless given a model."""
        return self.model_path if self.model_path.is_file() else None

    @property
    def cache_dir(self) -> Path | None:
        """Where this machine keeps what is derived from the store's tables and costly to make again (`geo.cache`:
        the join's cell grids, the rescue circle's area grid); None when that directory cannot be used safely
        (not this user's, or writable by others)."""
        from geo.cache import usable

        return usable(self.root / "cache")

    # -- manifest ---------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"format": FORMAT_VERSION, "crs": STORE_CRS, "tables": {}, "snapshot": None}
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(
                f"{self.manifest_path}: unreadable manifest ({exc}); restore it or start a new store"
            ) from exc
        if data.get("format") != FORMAT_VERSION:
            raise StoreError(
                f"{self.manifest_path}: store format {data.get('format')!r}, this riskmap reads {FORMAT_VERSION}"
            )
        return data

    def _write_manifest(self, data: dict[str, Any]) -> None:
        atomic_write_bytes(self.manifest_path, json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        data = self.manifest()
        data.update(changes)
        self._write_manifest(data)
        return data

    @contextlib.contextmanager
    def lock(self, *, sweep: bool = True) -> Iterator[None]:
        """Exclusive writer lock (readers need none: every file is replaced atomically). On taking it, what
        dead writers left behind is removed (`sweep`), unless `sweep` is False.

        Not re-entrant: each call takes an flock on a file of its own opening, so a `lock()` inside another
        one of the same store, even in the same thread, waits for ever. Take it once around a write."""
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                if sweep:
                    self.sweep()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- leftovers of dead writers ----------------------------------------------------------------
    def leftovers(self) -> list[Path]:
        """Temporary files and staging directories whose writer is gone (see the module)."""
        targets = [MANIFEST, MODEL_FILE, *(f"{t}.parquet" for t in TABLES)]
        out = []
        for entry in self.root.iterdir() if self.root.is_dir() else ():
            pid = temp_file_owner(entry.name, targets)
            if pid is not None and entry.is_file() and pid != os.getpid() and not (pid and pid_alive(pid)):
                out.append(entry)
        snaps = self.root / "snapshots"
        for entry in snaps.iterdir() if snaps.is_dir() else ():
            if entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and not _staging_in_use(entry):
                out.append(entry)
        return sorted(out)

    def sweep(self) -> list[Path]:
        """Remove `leftovers`; take the lock first (`lock` does). Returns what was removed."""
        import shutil

        removed = []
        for path in self.leftovers():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            removed.append(path)
        return removed

    def make_staging(self) -> Path:
        """A new staging directory for a build, ``snapshots/.building-<pid>-…``, owned by this process (an
        flock on its ``.owner``) until `release_staging`."""
        root = self.root / "snapshots"
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=root))
        fh = open(staging / OWNER_FILE, "w")  # noqa: SIM115 - held open for as long as the build runs
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(str(os.getpid()))
        fh.flush()
        _OWNED[staging] = fh
        return staging

    # -- tables -----------------------------------------------------------------------------
    def table_path(self, name: str) -> Path:
        if name not in TABLES:
            raise StoreError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")
        return self.root / f"{name}.parquet"

    def has(self, name: str) -> bool:
        return self.table_path(name).exists()

    def read(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read a table; geometry tables come back as GeoDataFrames in WGS84."""
        path = self.table_path(name)
        if not path.exists():
            hint = "riskmap boundaries import" if name == "boundaries" else f"riskmap ingest FILE --kind {name}"
            raise StoreEmpty(f"store {self.root} has no {name} yet; run `{hint}` first")
        try:
            if name == "events" or (columns is not None and "geometry" not in columns):
                return pd.read_parquet(path, columns=columns)
            return gpd.read_parquet(path, columns=columns)
        except Exception as exc:  # noqa: BLE001 - any parquet failure is a broken store file
            raise StoreError(f"{path}: cannot read ({exc}); re-ingest or restore the file") from exc

    def read_arrow(self, name: str) -> pa.Table:
        """A table as Arrow, geometry left encoded (WKB or GeoArrow) with its GeoParquet metadata."""
        path = self.table_path(name)
        if not path.exists():
            raise StoreEmpty(f"store {self.root} has no {name} yet")
        try:
            return pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - any parquet failure is a broken store file
            raise StoreError(f"{path}: cannot read ({exc}); re-ingest or restore the file") from exc

    def write(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """Replace a table atomically and record it in the manifest."""
        if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None and frame.crs.to_epsg() != 4326:
            raise StoreError(f"refusing to store {name} in {frame.crs}; the store is WGS84 (EPSG:4326)")
        atomic_write_frame(self.table_path(name), frame)
        data = self.manifest()
        data.setdefault("tables", {})[name] = {
            "file": self.table_path(name).name,
            "rows": len(frame),
            "updated": _now(),
        }
        self._write_manifest(data)


def release_staging(staging: Path) -> None:
    """Give up the ownership of a staging directory (`Store.make_staging`): its owner file goes."""
    fh = _OWNED.pop(staging, None)
    with contextlib.suppress(FileNotFoundError):
        (staging / OWNER_FILE).unlink()
    if fh is not None:
        fh.close()


def _staging_in_use(staging: Path) -> bool:
    """Whether a live process owns the staging directory: its owner file is flocked, or (in the moment between
    making the directory and locking the file) the pid in its name is alive."""
    if staging in _OWNED:
        return True
    owner = staging / OWNER_FILE
    try:
        fh = open(owner)  # noqa: SIM115 - closed below, whatever happens
    except FileNotFoundError:
        head = staging.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        return head.isdigit() and pid_alive(int(head)) and int(head) != os.getpid()
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        fh.close()  # closing drops a lock this call got
    return False
