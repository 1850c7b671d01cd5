"""The 15-minute rescue circle (15分钟应急救援圈), computed at build: minutes from the nearest responder to every
enterprise, hazard site and grid cell, and per region and threshold the share of area, of enterprises, of red
and orange units and of open hazard sites reached within it, with the red units left out.

By road when the store holds a road network (`geo.response.network`: one multi-source Dijkstra for every
target at once), else by the estimate (`geo.response.estimate`); `method` says which. Area is measured on a
grid of `[area] cell_m` cells in a local projection: a cell is reached when its centre is; a region smaller
than a cell takes the time at its representative point. WGS84 in, minutes out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.boundaries import roll_up
from geo.catalogue import Catalogue
from geo.response.config import ResponseConfig
from geo.response.estimate import Estimator, urban_counties
from geo.response.network import LocalProjection, Network
from geo.store import write_parquet
from geo.values import plain, take

#: per-unit and per-site columns the build adds (the prompt rule `red_unit_outside_rescue_circle` reads
#: `rescue_minutes`; NaN: no responder reaches it)
UNIT_COLUMNS: tuple[str, ...] = ("rescue_minutes", "rescue_id")
METHODS = ("road", "estimate")


class Router(Protocol):
    method: str

    def times(self, lon: np.ndarray, lat: np.ndarray, county: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class RoadRouter:
    network: Network
    responders: tuple[np.ndarray, np.ndarray]
    method: str = "road"

    def times(self, lon: np.ndarray, lat: np.ndarray, county: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        src = self.network.snap(*self.responders)
        return self.network.forward(src, self.network.snap(lon, lat))


@dataclass
class EstimateRouter:
    estimator: Estimator
    method: str = "estimate"

    def times(self, lon: np.ndarray, lat: np.ndarray, county: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.estimator.nearest(lon, lat, county)


@dataclass
class Rescue:
    """What a build stores of the rescue circle."""

    method: str
    units: pd.DataFrame  # rescue_minutes, rescue_id; row for row with the units
    sites: pd.DataFrame  # the same for the hazard sites
    regions: pd.DataFrame  # one row per boundary unit: shares per threshold, unreached red units
    zones: gpd.GeoDataFrame  # the area reached within each threshold band (WGS84)
    meta: dict[str, Any] = field(default_factory=dict)


def responders(resources: pd.DataFrame | None, catalogue: Catalogue) -> pd.DataFrame:
    """The resources of the responder kinds (catalogue `responder = true`) with coordinates."""
    if resources is None or not len(resources):
        return pd.DataFrame({"id": [], "kind": [], "lon": [], "lat": []})
    kinds = catalogue.responder_kinds()
    sel = resources.loc[resources["kind"].isin(kinds)]
    return sel.loc[sel["lon"].notna() & sel["lat"].notna()].reset_index(drop=True)


def make_router(
    resp: pd.DataFrame,
    roads: gpd.GeoDataFrame | None,
    boundaries: pd.DataFrame,
    config: ResponseConfig,
) -> Router:
    lon, lat = resp["lon"].to_numpy(float), resp["lat"].to_numpy(float)
    if roads is not None and len(roads):
        net = network_of(roads, config)
        return RoadRouter(net, (lon, lat))
    b = boundaries
    xmin, ymin, xmax, ymax = b.total_bounds if len(b) else (lon.min(), lat.min(), lon.max(), lat.max())
    proj = LocalProjection.around(np.array([xmin, xmax]), np.array([ymin, ymax]))
    return EstimateRouter(Estimator.build(lon, lat, config, urban_counties(boundaries, config), proj))


def network_of(roads: gpd.GeoDataFrame, config: ResponseConfig) -> Network:
    return Network.from_roads(
        np.asarray(roads.geometry.values, dtype=object),
        roads["speed_kmh"].to_numpy(dtype=np.float64),
        roads["oneway"].to_numpy(dtype=np.int8) if "oneway" in roads else np.zeros(len(roads), dtype=np.int8),
        config.road.offroad_kmh,
        config.road.max_offroad_m,
    )


def rescue_router(
    resources: pd.DataFrame | None,
    roads: gpd.GeoDataFrame | None,
    boundaries: pd.DataFrame,
    config: ResponseConfig,
    catalogue: Catalogue,
) -> Router | None:
    """What times the rescue circle (`make_router` over the responders); None when there is no responder."""
    resp = responders(resources, catalogue)
    return make_router(resp, roads, boundaries, config) if len(resp) else None


def rounded(minutes: np.ndarray) -> np.ndarray:
    """Minutes as stored: to 0.1, NaN where unreachable."""
    return np.where(np.isfinite(minutes), np.round(minutes, 1), np.nan)


def rescue_coverage(
    units: pd.DataFrame,
    hazards: gpd.GeoDataFrame,
    resources: pd.DataFrame | None,
    roads: gpd.GeoDataFrame | None,
    boundaries: gpd.GeoDataFrame,
    config: ResponseConfig,
    catalogue: Catalogue,
    closed_sites: np.ndarray,
    *,
    router: Router | None = None,
    unit_times: tuple[np.ndarray, np.ndarray] | None = None,
    cache: Path | None = None,
) -> Rescue | None:
    """Minutes for every unit, site, cell and region; None when the store holds no responder. `router`: the
    `rescue_router` when already made; `unit_times`: the units' (minutes, responder position) from it, when
    already timed (by the Dask engine's workers, partition by partition); `cache`: a directory keeping the
    area grid between builds (the store's `cache_dir`)."""
    resp = responders(resources, catalogue)
    if not len(resp):
        return None
    t0 = time.perf_counter()
    router = router or make_router(resp, roads, boundaries, config)
    grid, proj, cell_m = _grid(boundaries, config, cache)
    reps = shapely.point_on_surface(np.asarray(boundaries.geometry.values, dtype=object))
    site_pts = (
        shapely.point_on_surface(np.asarray(hazards.geometry.values, dtype=object))
        if len(hazards)
        else np.zeros(0, dtype=object)
    )
    parts = [
        (units["lon"].to_numpy(float), units["lat"].to_numpy(float), _county(units)),
        (shapely.get_x(site_pts), shapely.get_y(site_pts), _county(hazards)),
        (grid["lon"].to_numpy(), grid["lat"].to_numpy(), grid["county_adcode"].to_numpy(dtype=object)),
        (shapely.get_x(reps), shapely.get_y(reps), _rep_county(boundaries)),
    ]
    timed = parts if unit_times is None else parts[1:]  # the units' times given: time the rest
    lon = np.concatenate([p[0] for p in timed])
    lat = np.concatenate([p[1] for p in timed])
    county = np.concatenate([p[2] for p in timed])
    t1 = time.perf_counter()
    minutes, who = router.times(lon, lat, county)
    if unit_times is not None:
        minutes, who = np.concatenate([unit_times[0], minutes]), np.concatenate([unit_times[1], who])
    t2 = time.perf_counter()
    minutes = rounded(minutes)
    ids = resp["id"].to_numpy(dtype=object)
    rid = ids[np.maximum(who, 0)] if len(ids) else np.full(len(who), None, dtype=object)
    rid[(who < 0) | np.isnan(minutes)] = None
    cut = np.cumsum([len(p[0]) for p in parts])
    unit_t, site_t, cell_t, rep_t = np.split(minutes, cut[:-1])
    unit_r, site_r = rid[: cut[0]], rid[cut[0] : cut[1]]
    grid["minutes"] = cell_t
    regions = region_shares(units, unit_t, hazards, site_t, closed_sites, grid, boundaries, rep_t, config)
    zones = zone_polygons(grid, config, proj, cell_m)
    meta = {
        "method": router.method,
        "responders": int(len(resp)),
        "responder_kinds": list(catalogue.responder_kinds()),
        "thresholds": list(config.thresholds),
        "cells": int(len(grid)),
        "cell_m": cell_m,
        "seconds": {
            "prepare": round(t1 - t0, 3),
            "travel": round(t2 - t1, 3),
            "shares": round(time.perf_counter() - t2, 3),
        },
    }
    if isinstance(router, RoadRouter):
        net = router.network
        comps = net.components
        meta["network"] = {
            "segments": int(len(net.minutes)),
            "nodes": int(net.n_nodes),
            "pieces": int(comps.max() + 1) if len(comps) else 0,
            "nodes_off_main_piece": int((comps > 0).sum()),
        }
    return Rescue(
        router.method,
        pd.DataFrame({"rescue_minutes": unit_t, "rescue_id": unit_r}),
        pd.DataFrame({"rescue_minutes": site_t, "rescue_id": site_r}),
        regions,
        zones,
        meta,
    )


def _county(frame: pd.DataFrame) -> np.ndarray:
    if "county_adcode" in frame:
        return frame["county_adcode"].to_numpy(dtype=object)
    return np.full(len(frame), None, dtype=object)


def _rep_county(boundaries: pd.DataFrame) -> np.ndarray:
    """The county each region's representative point is taken to be in, for the estimate's setting: the
    region itself at county level, else none (rural)."""
    out = boundaries["adcode"].to_numpy(dtype=object).copy()
    out[boundaries["admin_level"].to_numpy() != "county"] = None
    return out


def _grid(
    boundaries: gpd.GeoDataFrame, config: ResponseConfig, cache: Path | None = None
) -> tuple[pd.DataFrame, LocalProjection, float]:
    """Cell centres inside the boundaries, with the region of every admin level each lies in, and the local
    projection of their x, y (not kept in the frame's `attrs`: pandas deep-copies those at every operation,
    the projection's transformer included: 0.23 s a build), and the cell side used: `[area] cell_m`, or larger
    where the boundaries' bounding box would hold more than `[area] max_cells` cells (all of China at 1 km holds
    ~10 million inside: a 414 s, 16.7 GB build; the side then grows to keep the count near the cap).

    The cells depend on nothing else, so a `cache` directory keeps them, named by a hash of the boundaries
    and the two settings: a build on the same boundaries reads them (all of China: 5.5–7.5 s to place)."""
    from geo.join import Hierarchy, assign_points

    xmin, ymin, xmax, ymax = boundaries.total_bounds
    proj = LocalProjection.around(np.array([xmin, xmax]), np.array([ymin, ymax]))
    bx, by = proj.to_m(np.array([xmin, xmax, xmin, xmax]), np.array([ymin, ymin, ymax, ymax]))
    size = config.area.cell_m
    bbox_cells = (bx.max() - bx.min()) * (by.max() - by.min()) / size**2
    if bbox_cells > config.area.max_cells:
        size = math.ceil(size * math.sqrt(bbox_cells / config.area.max_cells) / 100.0) * 100.0
    xs = np.arange(np.floor(bx.min() / size) * size + size / 2, bx.max(), size)
    ys = np.arange(np.floor(by.min() / size) * size + size / 2, by.max(), size)
    path = cache / f"area-v{AREA_GRID_VERSION}-{_grid_key(boundaries, size, xs, ys)}.parquet" if cache else None
    if path is not None and path.is_file():
        with contextlib.suppress(Exception):  # a cache file: whatever is wrong with it, the grid is made again
            kept = pd.read_parquet(path)
            codes = {f"{lvl}_adcode" for lvl in boundaries["admin_level"].unique()} | {"lon", "lat", "x", "y"}
            if codes <= set(kept.columns):
                return kept, proj, size
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = proj.to_lonlat(gx.ravel(), gy.ravel())
    codes = assign_points(lon, lat, Hierarchy.from_boundaries(boundaries, cache=cache), tolerance_m=0.0)
    inside = (codes["join_status"] == "inside").to_numpy()
    out = codes.loc[inside].drop(columns=["join_status", "join_distance_m"]).reset_index(drop=True)
    out["lon"], out["lat"] = lon[inside], lat[inside]
    out["x"], out["y"] = gx.ravel()[inside], gy.ravel()[inside]
    if path is not None:
        from geo.cache import write

        write(path, lambda tmp: write_parquet(out, tmp), "area-*.parquet", AREA_GRIDS_KEPT)
    return out, proj, size


#: How many area grids a cache directory keeps (one per set of boundaries and cell settings).
AREA_GRIDS_KEPT = 4
#: In the cache files' names: a change to how the area grid is made increments it.
AREA_GRID_VERSION = 1


def _grid_key(boundaries: gpd.GeoDataFrame, size: float, xs: np.ndarray, ys: np.ndarray) -> str:
    """What the area grid depends on, hashed: the units (code, level, parent, outline) and the cell centres."""
    digest = hashlib.sha1()
    for col in ("adcode", "admin_level", "parent_adcode"):
        digest.update("\x1f".join(map(str, boundaries[col].tolist())).encode())
    digest.update(b"".join(shapely.to_wkb(np.asarray(boundaries.geometry.values, dtype=object))))
    digest.update(np.array([size, len(xs), len(ys), *xs[:1], *ys[:1]], dtype=np.float64).tobytes())
    return digest.hexdigest()


def _shares(codes: np.ndarray, reached: np.ndarray, of: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per region code (0..n-1): how many of `of` there are and the share of them `reached`."""
    ok = codes >= 0
    total = np.bincount(codes[ok & of], minlength=n).astype(float)
    hit = np.bincount(codes[ok & of & reached], minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total, np.where(total > 0, np.round(hit / total, 4), np.nan)


def region_shares(
    units: pd.DataFrame,
    unit_t: np.ndarray,
    hazards: pd.DataFrame,
    site_t: np.ndarray,
    closed_sites: np.ndarray,
    grid: pd.DataFrame,
    boundaries: pd.DataFrame,
    rep_t: np.ndarray,
    config: ResponseConfig,
) -> pd.DataFrame:
    """One row per boundary unit: counts, and per threshold T the shares cover<T>_area, _units, _red,
    _orange, _sites; `unreached_red` lists the red units beyond the headline threshold (JSON)."""
    b = boundaries.reset_index(drop=True)
    adcodes = b["adcode"].astype(str).to_numpy()
    pos = pd.Index(adcodes)
    n = len(b)
    out = pd.DataFrame({"adcode": adcodes, "name": b["name"].to_numpy(), "admin_level": b["admin_level"].to_numpy()})
    levels = [lv for lv in b["admin_level"].unique()]
    level_u = units["risk_level"].to_numpy(dtype=object) if "risk_level" in units else np.full(len(units), None)
    open_site = ~np.asarray(closed_sites, dtype=bool)
    counts = {"n_cells": np.zeros(n), "n_units": np.zeros(n), "n_red": np.zeros(n), "n_orange": np.zeros(n)}
    counts["n_sites"] = np.zeros(n)
    shares: dict[str, np.ndarray] = {}
    for T in config.thresholds:
        for what in ("area", "units", "red", "orange", "sites"):
            shares[f"cover{config.label(T)}_{what}"] = np.full(n, np.nan)
    is_red, is_orange = level_u == "red", level_u == "orange"
    unit_codes = _level_codes(units, levels, b, pos)
    site_codes = _level_codes(hazards, levels, b, pos)
    grid_codes = _level_codes(grid, levels, b, pos)
    for level in levels:
        rows = (b["admin_level"] == level).to_numpy()
        ucode, scode, gcode = unit_codes[level], site_codes[level], grid_codes[level]
        every_u, every_s, every_g = np.ones(len(units), bool), open_site, np.ones(len(grid), bool)
        for T in config.thresholds:
            lab = config.label(T)
            ureach, sreach = unit_t <= T, site_t <= T
            greach = grid["minutes"].to_numpy() <= T if len(grid) else np.zeros(0, bool)
            sets = {
                "units": (ucode, ureach, every_u),
                "red": (ucode, ureach, is_red),
                "orange": (ucode, ureach, is_orange),
                "sites": (scode, sreach, every_s),
                "area": (gcode, greach, every_g),
            }
            for what, (codes, reached, of) in sets.items():
                total, share = _shares(codes, reached, of, n)
                key = f"cover{lab}_{what}"
                shares[key][rows] = share[rows]
                name = {"units": "n_units", "red": "n_red", "orange": "n_orange", "sites": "n_sites", "area": "n_cells"}
                counts[name[what]][rows] = total[rows]
    # a region without a cell centre inside takes the time at its representative point
    no_cells = counts["n_cells"] == 0
    for T in config.thresholds:
        key = f"cover{config.label(T)}_area"
        shares[key][no_cells] = np.where(np.isnan(rep_t[no_cells]), 0.0, (rep_t[no_cells] <= T).astype(float))
    for k, v in counts.items():
        out[k] = v.astype(np.int64)
    for k, v in shares.items():
        out[k] = v
    out["unreached_red"] = _unreached(units, unit_t, is_red, config.headline, unit_codes, n)
    return out


def _level_codes(frame: pd.DataFrame, levels: list[str], b: pd.DataFrame, pos: pd.Index) -> dict[str, np.ndarray]:
    """Each row's region (position in `pos`) at every admin level of `levels`: from its `<level>_adcode`, or,
    for a level above every level it has a code column for (the country above the provinces), from the next
    finer level's region's parent (finest first, so a chain of such levels is filled too), as
    `geo.scoring.regions` places units in regions."""
    out = {level: _codes(frame, f"{level}_adcode", pos) for level in levels}
    if not pos.is_unique or not len(frame):
        return out
    admin = b["admin_level"].to_numpy()
    parent = pos.get_indexer(pd.Index(b["parent_adcode"].to_numpy(dtype=object)).astype(str))
    order = sorted(levels, key=lambda lv: float(b.loc[admin == lv, "level_rank"].iloc[0]) if "level_rank" in b else 0)
    placed = {level: out[level] for level in levels if f"{level}_adcode" in frame}
    roll_up(placed, order, admin, parent)
    return {**out, **placed}


def _codes(frame: pd.DataFrame, col: str, pos: pd.Index) -> np.ndarray:
    """Each row's position in `pos` by its `col` code (-1: none, or not a boundary): the distinct codes are
    looked up, not a million strings (1.5 s a build at 1M)."""
    if col not in frame or not len(frame):
        return np.full(len(frame), -1, dtype=np.int64)
    codes, uniques = pd.factorize(frame[col])
    found = pos.get_indexer(pd.Index(np.asarray(uniques, dtype=object)).astype(str))
    return np.where(codes >= 0, found[np.maximum(codes, 0)], -1) if len(found) else np.full(len(frame), -1)


def _unreached(
    units: pd.DataFrame, unit_t: np.ndarray, is_red: np.ndarray, headline: float, codes_of: dict, n: int
) -> list[str]:
    """Per region, the red units not reached within `headline` minutes (slowest first): JSON text."""
    lists: list[list[dict]] = [[] for _ in range(n)]
    miss = np.flatnonzero(is_red & ~(unit_t <= headline))
    if len(miss):
        order = miss[np.argsort(-np.nan_to_num(unit_t[miss], nan=np.inf), kind="stable")]
        # the missed units' ids and names only (not a million of each as Python strings)
        ids = take(units["id"], order).tolist()
        names = take(units["name"], order).tolist() if "name" in units else [None] * len(order)
        minutes = [None if np.isnan(m) else float(m) for m in unit_t[order].tolist()]
        entries = [{"id": i, "name": plain(n), "minutes": m} for i, n, m in zip(ids, names, minutes, strict=True)]
        for codes in codes_of.values():
            for j, code in enumerate(codes[order].tolist()):
                if code >= 0:
                    lists[code].append(entries[j])
    return [json.dumps(item, ensure_ascii=False) for item in lists]


def zone_polygons(
    grid: pd.DataFrame, config: ResponseConfig, proj: LocalProjection | None, cell_m: float
) -> gpd.GeoDataFrame:
    """The cells reached within each band of thresholds (0–5, 5–10, …), merged: one MultiPolygon per band."""
    bands, lows, highs = [], [], []
    minutes = grid["minutes"].to_numpy() if len(grid) else np.zeros(0)
    low = 0.0
    half = cell_m / 2
    for T in config.thresholds:
        sel = (minutes > low) & (minutes <= T) if low > 0 else minutes <= T
        geom = None
        if sel.any() and proj is not None:
            x, y = grid["x"].to_numpy()[sel], grid["y"].to_numpy()[sel]
            merged = shapely.coverage_union_all(shapely.box(x - half, y - half, x + half, y + half))
            geom = shapely.transform(merged, lambda c: np.column_stack(proj.to_lonlat(c[:, 0], c[:, 1])))
            if geom.geom_type == "Polygon":
                geom = shapely.multipolygons([geom])
        bands.append(geom)
        lows.append(low)
        highs.append(T)
        low = T
    frame = pd.DataFrame({"min_from": lows, "min_to": highs})
    frame["label"] = [f"{lo:g}–{hi:g} min" for lo, hi in zip(lows, highs, strict=True)]
    frame["cells"] = [
        int(((minutes > lo) & (minutes <= hi)).sum() if lo > 0 else (minutes <= hi).sum())
        for lo, hi in zip(lows, highs, strict=True)
    ]
    frame["area_km2"] = frame["cells"] * (cell_m / 1000) ** 2
    return gpd.GeoDataFrame(frame, geometry=bands, crs="EPSG:4326")
