"""What the service reads: the published snapshot, loaded once per snapshot id and indexed for queries.

The service never writes half a state: it resolves the store's manifest on each request (a cheap stat) and
swaps to a new `View` when a build has published a new snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import StoreEmpty
from geo.query import SnapshotReader
from geo.snapshot import current
from geo.store import Store
from layers.features import REGION_FIELDS, PointIndex
from layers.geomtypes import as_multipolygons, geometry_type_of, split_by_kind
from layers.tiles import PointTiles

log = logging.getLogger(__name__)
DOMAIN_COLS = ("risk_level", "risk_index")
#: what a region collection serves: the regional fields of every region output (one row per region, so no domain)
REGION_PROPS = [c for c in REGION_FIELDS if c != "domain"]
UNIT_PROPS = [
    "id",
    "name",
    "domain",
    "industry",
    "address",
    "workers",
    "county_adcode",
    "city_adcode",
    "province_adcode",
    "risk_score",
    "risk_level",
    "override",
    "method",
    "lon",
    "lat",
]
HAZARD_PROPS = [
    "id",
    "name",
    "type",
    "level",
    "population",
    "scale",
    "status",
    "county_adcode",
    "county_adcodes",
    "city_adcode",
    "province_adcode",
    "risk_score",
    "risk_level",
]


@dataclass
class Collection:
    id: str
    title: str
    description: str
    frame: gpd.GeoDataFrame  # properties + geometry (WGS84), one row per feature
    id_field: str
    geometry_type: str  # the one type of every feature (Point, MultiLineString, MultiPolygon, …)
    bounds: np.ndarray = field(init=False)  # (n, 4)
    #: what is worked out once from the frame (the typed properties, `api.queryables.properties`)
    memo: dict[str, Any] = field(init=False, repr=False, compare=False, default_factory=dict)
    geoms: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.frame = _contiguous(self.frame.reset_index(drop=True))
        self.geoms = np.asarray(self.frame.geometry.values, dtype=object)
        self.bounds = shapely.bounds(self.geoms)

    @cached_property
    def extent(self) -> list[float]:
        if not len(self.frame):
            return [-180.0, -90.0, 180.0, 90.0]
        b = self.bounds
        return [
            float(np.nanmin(b[:, 0])),
            float(np.nanmin(b[:, 1])),
            float(np.nanmax(b[:, 2])),
            float(np.nanmax(b[:, 3])),
        ]

    @cached_property
    def levels(self) -> np.ndarray | None:
        """``risk_level`` as level ranks 0 (red) … 3 (blue), for tile clustering."""
        from layers.tiles import level_codes

        return level_codes(self.frame["risk_level"]) if "risk_level" in self.frame else None

    @cached_property
    def point_tiles(self) -> PointTiles | None:
        """For a collection of points, its rows by vector tile (`layers.tiles.PointTiles`); None otherwise."""
        if self.geometry_type != "Point":
            return None
        return PointTiles.of(self.bounds[:, 0], self.bounds[:, 1])

    @cached_property
    def id_index(self) -> dict[str, int]:
        ids = self.frame[self.id_field].astype(str).tolist()  # the column as Python strings at once (not one by one)
        index: dict[str, int] = {}
        for start in range(0, len(ids), 100_000):  # in steps: a reload in the background lets requests run between
            index.update(zip(ids[start : start + 100_000], range(start, start + 100_000), strict=False))
        return index


def _contiguous(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """`frame` with each Arrow-backed column in one chunk: a page's rows are then taken in ~1.6 ms instead of
    ~43 ms at 1M (a `take` over the several chunks a Parquet file is read as walks every chunk)."""
    for name in frame.columns:
        arrow = getattr(frame[name].array, "_pa_array", None)
        if arrow is not None and arrow.num_chunks > 1:
            frame[name] = pd.Series(
                pd.array(arrow.combine_chunks(), dtype=frame[name].dtype), index=frame.index, name=name
            )
    return frame


def web_geometry(boundaries: gpd.GeoDataFrame) -> np.ndarray:
    """Boundaries as the maps draw them (coverage-simplified so neighbours keep their shared border, ~1 m
    precision; `layers.webgeom`), in the order of `boundaries`."""
    from layers.webgeom import web_boundaries

    web = web_boundaries(boundaries)
    by_code = dict(zip(web["adcode"], web.geometry.values, strict=True))
    return np.asarray([by_code[a] for a in boundaries["adcode"]], dtype=object)


class View(SnapshotReader):
    """One snapshot (or a dated view of it), loaded, indexed and laid out as OGC API collections."""

    #: whether answering a question may wait on the database (`api.sqlview`): not on the event loop then
    queries_database = False

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.collections = self._collections(web_geometry(self.boundaries))

    def warm(self) -> View:
        """Build now every index a request may need (collection extents, levels and ids, typed properties,
        the cluster and resource indexes), so no reader pays for it: run before the view is served."""
        from api.queryables import properties

        for c in self.collections.values():
            _ = c.extent, c.levels, c.id_index, c.point_tiles
            properties(c)
        _ = self.point_index, self.resource_index
        return self

    def clusters(
        self, bbox: tuple[float, float, float, float], zoom: float, limit: int, *, domain: str, parent: str | None, crs
    ) -> dict[str, Any]:
        """The enterprises in view, as points or clusters (`layers.clusters.cluster_points`)."""
        from layers.clusters import cluster_points

        return cluster_points(self.point_index, bbox, zoom, limit, domain=domain, parent=parent, crs=crs)

    @cached_property
    def point_index(self) -> PointIndex:
        """Enterprise points as arrays for server-side clustering (built on first use)."""
        return PointIndex.from_units(self.units)

    def _region_frame(self, level: str, geoms: np.ndarray) -> gpd.GeoDataFrame:
        regs = self.regions.loc[self.regions["admin_level"] == level]
        base = regs.loc[regs["domain"] == "all", [c for c in REGION_PROPS if c in regs]].set_index("adcode")
        wide = regs.loc[regs["domain"] != "all"].pivot(index="adcode", columns="domain", values=list(DOMAIN_COLS))
        wide.columns = [f"{col}_{dom}" for col, dom in wide.columns]
        frame = base.join(wide).reset_index()
        top = regs.loc[regs["domain"] == "all"].set_index("adcode")["rules"]
        frame["rules"] = frame["adcode"].map(lambda a: "; ".join(top.get(a, []) or []))
        frame = self._with_cover(frame)
        geom_by_code = dict(zip(self.boundaries["adcode"], geoms, strict=True))
        multi = as_multipolygons(np.asarray([geom_by_code[a] for a in frame["adcode"]], dtype=object))
        return gpd.GeoDataFrame(frame, geometry=list(multi), crs="EPSG:4326")

    def _with_cover(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rescue-circle shares the regions export carries (`layers/fields.toml`: cover15_area, …), empty
        without a rescue circle, so a collection's schema does not depend on the build."""
        from layers.export import export_fields
        from layers.response import with_coverage

        cover = [f.name for f in export_fields()["regions"] if f.name.startswith("cover")]
        frame = with_coverage(frame, self.snapshot)
        for col in cover:
            if col not in frame:
                frame[col] = np.nan
        return frame.drop(
            columns=[c for c in frame if c.startswith("cover") and c not in cover] + ["unreached_red"], errors="ignore"
        )

    def _collections(self, geoms: np.ndarray) -> dict[str, Collection]:
        out: dict[str, Collection] = {}
        levels = self.boundaries.sort_values("level_rank")["admin_level"].unique()
        for level in levels:
            cid = f"regions-{level}"
            frame = self._region_frame(level, geoms)
            description = (
                f"Four-colour risk level of every {level}, all domains and each domain (risk_level_<domain>), "
                f"as of {self.as_of}. Geometry: MultiPolygon."
            )
            out[cid] = Collection(cid, f"{level} risk levels", description, frame, "adcode", "MultiPolygon")
        out["enterprises"] = Collection(
            "enterprises",
            "enterprises",
            f"Census enterprises with their risk score and level as of {self.as_of}. Geometry: Point.",
            _frame(self.units, UNIT_PROPS),
            "id",
            "Point",
        )
        out.update(self._response_collections())
        for kind, frame in split_by_kind(_frame(self.hazards, HAZARD_PROPS)):
            gtype = geometry_type_of(kind, np.asarray(frame.geometry.values, dtype=object))
            cid, title, description = hazards_about(kind.name, gtype, self.as_of)
            out[cid] = Collection(cid, title, description, frame, "id", gtype)
        return out

    def _response_collections(self) -> dict[str, Collection]:
        return response_collections(self.snapshot, self.as_of)


def response_collections(snapshot: Any, as_of: date, *, resources: bool = True) -> dict[str, Collection]:
    """`resources` (Point; not read without `resources`) and `coverage` (the area reached within each band of
    rescue minutes, MultiPolygon)."""
    from layers.response import coverage_table, resource_table

    zones = coverage_table(snapshot)
    method = (snapshot.meta.get("rescue") or {}).get("method")
    out = {}
    if resources:
        out["resources"] = Collection(*resources_about(as_of), resource_table(snapshot), "id", "Point")
    return out | {
        "coverage": Collection(
            "coverage",
            "rescue circle coverage",
            f"The area reached from the nearest responder within each band of minutes (method: {method}) as of "
            f"{as_of}. Geometry: MultiPolygon.",
            gpd.GeoDataFrame(
                zones.assign(band=[str(i) for i in range(len(zones))]), geometry="geometry", crs="EPSG:4326"
            ),
            "band",
            "MultiPolygon",
        ),
    }


def hazards_about(kind: str, geometry_type: str, as_of: date) -> tuple[str, str, str]:
    """The id, title and description of the collection of hazard sites of one geometry kind (points, …)."""
    return (
        f"hazards-{kind}",
        f"hazard sites ({kind})",
        f"Hazard sites drawn as {kind} with their risk level as of {as_of}. Geometry: {geometry_type} "
        "(the other hazard sites are in the collections hazards-points, hazards-lines and hazards-polygons).",
    )


def resources_about(as_of: date) -> tuple[str, str, str]:
    """The id, title and description of the collection of emergency resources."""
    return (
        "resources",
        "emergency resources",
        f"Emergency resources (应急资源: shelters, warehouses, depots, stations, teams, experts, hospitals) of the "
        f"build as of {as_of}. Geometry: Point.",
    )


def _frame(frame: gpd.GeoDataFrame, props: list[str]) -> gpd.GeoDataFrame:
    cols = [c for c in props if c in frame]
    return gpd.GeoDataFrame(frame[cols], geometry=frame.geometry.values, crs="EPSG:4326")


#: the snapshot keys the current request was answered from (set per request by `api.protocol`)
SERVED: ContextVar[list[str] | None] = ContextVar("riskmap_served", default=None)


def _served(view: View) -> View:
    box = SERVED.get()
    if box is not None and view.key not in box:
        box.append(view.key)
    return view


def system_allocator() -> None:
    """Have Arrow allocate with the system's malloc, not its own mimalloc pool: what a load reads through Arrow
    (every table of a PostgreSQL snapshot) is then handed back by `release_memory` instead of being kept by the
    pool (loading a 1M snapshot from the database: 540 → 420 MB held afterwards)."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def release_memory() -> None:
    """After a load: forget the tables read once for it (`geo.pgsnapshot`), and hand the memory freed back to the
    system (glibc keeps freed heap pages otherwise: ~60 MB after loading a PostgreSQL snapshot at 1M)."""
    import ctypes
    import gc

    from geo.pgsnapshot import forget_reads

    forget_reads()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to hand back this way
        pass


def view_class(store: Store) -> type[View]:
    """How a store's snapshot is served: loaded into memory (a directory store), or with the enterprises left
    in the database (a PostgreSQL store, `api.sqlview`)."""
    if store.backend == "postgis":
        from api.sqlview import SqlView

        return SqlView
    return View


class ResponseCache:
    """A small LRU of serialised responses (bytes), bounded by total size."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024):
        self._items: OrderedDict[str, tuple[bytes, bytes | None]] = OrderedDict()
        self._size = 0
        self._max = max_bytes
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bytes, bytes | None] | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
            return entry

    def put(self, key: str, entry: tuple[bytes, bytes | None]) -> None:
        size = len(entry[0]) + len(entry[1] or b"")
        if size > self._max // 4:
            return
        with self._lock:
            self._items[key] = entry
            self._size += size
            while self._size > self._max:
                _, old = self._items.popitem(last=False)
                self._size -= len(old[0]) + len(old[1] or b"")


class State:
    """Thread-safe holder of the current View and of a few dated views.

    `view()` resolves the store's manifest once; a request that calls it once and reads only from the View
    it got answers from one snapshot, whatever builds publish meanwhile. A dated view is computed once per
    (snapshot, date) by the first request that asks, in that request's worker thread; other requests for
    the same date wait for that result, requests for anything else never wait for it.
    """

    def __init__(
        self, store: Store, dated_views: int = 4, background_reload: bool = True, response_cache_mb: float = 256.0
    ):
        self.store = store
        self.background_reload = background_reload
        #: False in a process that `riskmap serve` replaces for each new build (api.handover): once it has a
        #: snapshot it keeps serving that one
        self.follow = True
        self.jobs: Any = None  # the service's JobRunner (api.jobs), set by create_app
        self._loading: str | None = None
        self.responses = ResponseCache(int(response_cache_mb * 1024 * 1024))
        self.rendering = threading.Lock()  # map pages are rendered one at a time (`api.mappage.map_bytes`)
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._view: View | None = None
        self._dated: OrderedDict[tuple[str, str], Future[View]] = OrderedDict()
        self._dated_max = dated_views

    def view(self) -> View:
        return _served(self._current())

    def prepare(self) -> None:
        """Before any snapshot is loaded, what does not depend on one: the modules a load and the map page use,
        and the boundaries as the maps draw them (`web_geometry`, cached by their content), so a standby process
        (`api.handover`) that is then told to load does less (0.5 s at 1M on PostgreSQL)."""
        import layers.export  # noqa: F401
        import layers.maps  # noqa: F401
        import layers.responsemap  # noqa: F401

        if self.store.has("boundaries"):
            web_geometry(self.store.read("boundaries"))

    def _current(self) -> View:
        """The current snapshot's View. Once one is loaded, a reader never waits for the next to load: the
        first request that sees a newer snapshot starts loading it in the background and every request is
        answered from the loaded one until the new one is ready (the response header names which)."""
        view = self._view
        if view is not None and not self.follow:
            return view
        snap_id = self.store.current_id()
        if not snap_id:
            raise StoreEmpty(f"store {self.store.label} has no build yet; run `riskmap build` (or POST /builds)")
        if view is not None and (view.key == snap_id or self.background_reload):
            if view.key != snap_id:
                self._load_later(snap_id)
            return view
        return self.refresh(snap_id)

    def refresh(self, snap_id: str | None = None) -> View:
        """Load the current snapshot now (unless it is the loaded one) and serve it from then on."""
        snap_id = snap_id or self.store.current_id()
        with self._load_lock:  # one load at a time: whoever waited finds it done
            view = self._view
            if view is not None and view.key == snap_id:
                return view
            loaded = view_class(self.store).open(current(self.store)).warm()  # readers keep the loaded one meanwhile
            with self._lock:
                self._view = loaded
            release_memory()
            return loaded

    def _load_later(self, snap_id: str) -> None:
        with self._lock:
            if self._loading == snap_id:
                return
            self._loading = snap_id

        def load() -> None:
            try:
                self.refresh(snap_id)
            except Exception:  # the old view keeps serving; the next request tries again
                log.exception("loading snapshot %s failed", snap_id)
            finally:
                with self._lock:
                    self._loading = None

        threading.Thread(target=load, name=f"load-{snap_id}", daemon=True).start()

    def view_at(self, as_of: date | None) -> View:
        """The published view, or one computed for another as-of date with the snapshot's model (cached)."""
        base = self._current()
        if as_of is None or as_of == base.as_of:
            return _served(base)
        return _served(self._dated_view(base, as_of))

    def _dated_view(self, base: View, as_of: date) -> View:
        key = (base.key, str(as_of))
        with self._lock:
            future = self._dated.get(key)
            owner = future is None
            if future is None:
                future = self._dated[key] = Future()
                while len(self._dated) > self._dated_max:
                    self._dated.popitem(last=False)
        if owner:
            try:
                future.set_result(View.open(base.snapshot, as_of, base.boundaries))
            except BaseException as exc:
                with self._lock:
                    self._dated.pop(key, None)
                future.set_exception(exc)
        return future.result()
