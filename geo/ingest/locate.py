"""Locate a batch's records: geometries to WGS84, joined to the administrative hierarchy; rows outside the
boundaries are rejected (with the reason), near misses and contradicted declared counties warned of."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import CrsSpec, parse_crs, to_wgs84
from geo.errors import InputRejected
from geo.ingest.batch import Batch
from geo.ingest.geometry import (
    check_geometry_types,
    geometries,
    out_of_range,
    outside_reasons,
    point_coordinates,
    repair,
    to_wgs84_geoms,
)
from geo.join import assign_geometries, assign_points
from geo.readers import RawTable

#: Columns ingest and scoring compute: never taken from a file (a re-ingested export holds them).
DERIVED_COLUMNS = frozenset(
    """source_file source_line ingested_at industry_code_src risk_score risk_level override inherent control_factor
    dynamic_factor method computed_level veto open_dangers overdue_dangers accidents_window alarms_window basis
    risk_level_zh rescue_minutes rescue_id rescue_min""".split()
)


@dataclass
class Points:
    """Accepted point records with their WGS84 coordinates (no point objects: see `locate`)."""

    frame: pd.DataFrame
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


Located: TypeAlias = gpd.GeoDataFrame | Points


def source_crs(raw: RawTable, crs: str | None) -> CrsSpec:
    """The CRS named by the user, else the file's own, else WGS84."""
    if crs:
        return parse_crs(crs)
    if raw.crs is not None:
        epsg = raw.crs.to_epsg()
        if epsg is None:
            raise InputRejected(f"{raw.path}: its CRS has no EPSG code ({raw.crs.name}); pass --crs EPSG:<n>")
        return parse_crs(f"EPSG:{epsg}")
    return parse_crs("wgs84")


def locate(batch: Batch) -> Located | pd.DataFrame:
    """The accepted records, located as their kind says (`KindHandler.geometry`); a kind without a location
    gets its accepted rows as they are.

    Records located by one point each, given as points (lon/lat columns, or a file of points), go through
    coordinate arrays only: a million point objects would cost more than everything else done with them."""
    values = batch.values
    if batch.handler.geometry == "none":
        return values.loc[~batch.report.rejected].reset_index(drop=True)
    has_wkt = "wkt" in values and values["wkt"].notna().any()
    one_point = batch.handler.geometry == "point"
    if batch.options.point_arrays and one_point and batch.raw.geometry is None and not has_wkt:
        return _locate_points(batch)
    return _locate_geometries(batch)


def _locate_points(batch: Batch) -> Points:
    spec, hierarchy = batch.crs_and_boundaries
    x, y = point_coordinates(batch)
    live = np.flatnonzero(~batch.report.rejected)
    sx, sy = x[live], y[live]
    wx, wy = to_wgs84(sx, sy, spec) if len(live) else (sx, sy)
    wx, wy = np.asarray(wx, dtype=np.float64), np.asarray(wy, dtype=np.float64)
    bad_range = ~((wx >= -180) & (wx <= 180) & (wy >= -90) & (wy <= 90))
    joined = assign_points(wx, wy, hierarchy, batch.options.tolerance_m)

    def source(mask: np.ndarray) -> np.ndarray:
        return shapely.points(sx[mask], sy[mask])

    frame, keep_local = _judge(batch, live, joined, bad_range, source)
    frame["lon"] = np.round(wx[keep_local], 7)
    frame["lat"] = np.round(wy[keep_local], 7)
    return Points(frame, wx[keep_local], wy[keep_local])


def _locate_geometries(batch: Batch) -> gpd.GeoDataFrame:
    spec, hierarchy = batch.crs_and_boundaries
    raw_geoms = batch.raw.geometries()
    if raw_geoms is not None and batch.raw.geometry is None:
        batch = dataclasses.replace(batch, raw=dataclasses.replace(batch.raw, geometry=raw_geoms))
    rep = batch.report
    geoms = repair(geometries(batch), rep)
    geoms = check_geometry_types(geoms, rep, batch.handler.geometry_types, batch.kind)
    live = np.flatnonzero(~rep.rejected)
    src = geoms[live]
    one_point = batch.handler.geometry == "point"
    if one_point:
        not_point = shapely.get_type_id(src) != 0
        if not_point.any():
            rep.warn(
                np.isin(np.arange(len(geoms)), live[not_point]),
                "geometry",
                f"{_singular(batch.kind)} geometry is not a point; its representative point is used",
            )
            src = np.where(not_point, shapely.point_on_surface(src), src)
    wgs = to_wgs84_geoms(src, spec)
    bad_range = out_of_range(wgs)
    tolerance_m = batch.options.tolerance_m
    if one_point:
        joined = assign_points(shapely.get_x(wgs), shapely.get_y(wgs), hierarchy, tolerance_m, points=wgs)
    else:
        joined = assign_geometries(wgs, hierarchy, tolerance_m)
    frame, keep_local = _judge(batch, live, joined, bad_range, lambda mask: src[mask])
    geometry = wgs[keep_local]
    if one_point:
        frame["lon"] = np.round(shapely.get_x(geometry), 7)
        frame["lat"] = np.round(shapely.get_y(geometry), 7)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def _judge(
    batch: Batch,
    live: np.ndarray,
    joined: pd.DataFrame,
    bad_range: np.ndarray,
    source: Callable[[np.ndarray], np.ndarray],
) -> tuple[pd.DataFrame, np.ndarray]:
    """Reject what lies outside (with the reason), warn of near misses and of a declared county the location
    contradicts; return the accepted rows' records with their codes, and which live rows they are.

    `live` are the rows not rejected before the join, `joined` their codes, `source(mask)` the source geometries
    of the live rows in `mask`."""
    outside = (joined["join_status"] == "outside").to_numpy() | bad_range
    if outside.any():
        _reject_outside(batch, live, outside, joined, source)
    near = (joined["join_status"] == "nearest").to_numpy() & ~outside
    if near.any():
        _warn_near(batch, live, near, joined)
    declared = batch.handler.declared_county
    if declared is not None and declared in batch.values:
        _warn_declared_county(batch, declared, live, outside, joined)
    keep_local = ~outside
    return _records(batch, live[keep_local], joined.loc[keep_local]), keep_local


def _singular(kind: str) -> str:
    """How the report names one record of a kind: enterprises → enterprise."""
    return kind.removesuffix("s")


def _on_rows(n: int, rows: np.ndarray, texts) -> tuple[np.ndarray, np.ndarray]:
    """A mask of `rows` among `n` and the texts placed on them (report arguments for a subset of rows)."""
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    placed = np.empty(n, dtype=object)
    placed[rows] = texts
    return mask, placed


def _reject_outside(batch: Batch, live: np.ndarray, outside: np.ndarray, joined: pd.DataFrame, source) -> None:
    spec, hierarchy = batch.crs_and_boundaries
    dist = joined["join_distance_m"].to_numpy()[outside]
    reasons = outside_reasons(source(outside), spec, hierarchy, batch.options.tolerance_m, dist)
    mask, texts = _on_rows(len(batch.values), live[outside], reasons)
    field_name = "lon/lat" if batch.handler.geometry == "point" or batch.raw.geometry is None else "geometry"
    batch.report.reject(mask, field_name, texts)


def _warn_near(batch: Batch, live: np.ndarray, near: np.ndarray, joined: pd.DataFrame) -> None:
    tolerance_m = batch.options.tolerance_m
    distances = joined["join_distance_m"].to_numpy()[near]
    counties = joined["county_adcode"].to_numpy()[near]
    msg = [
        f"outside every boundary by {d:.0f} m; assigned to the nearest region {c} (tolerance {tolerance_m:.0f} m)"
        for d, c in zip(distances, counties, strict=True)
    ]
    mask, texts = _on_rows(len(batch.values), live[near], msg)
    batch.report.warn(mask, "lon/lat", texts)


def _warn_declared_county(
    batch: Batch, column: str, live: np.ndarray, outside: np.ndarray, joined: pd.DataFrame
) -> None:
    declared = batch.values[column]
    if len(live) != len(declared):  # all rows live (the usual case): no copy
        declared = declared.iloc[live]
    declared = declared.reset_index(drop=True)
    found = joined["county_adcode"].reset_index(drop=True)
    differ = declared.ne(found).to_numpy(dtype=bool, na_value=True)  # text columns: one Arrow comparison
    disagree = declared.notna().to_numpy() & (differ | found.isna().to_numpy()) & ~outside
    msg = [
        f"declared county {d} but the location is in {f}; the location's county is used"
        for d, f in zip(declared[disagree], found[disagree].where(found[disagree].notna(), None), strict=True)
    ]
    mask, texts = _on_rows(len(batch.values), live[disagree], msg)
    batch.report.warn(mask, column, texts)


def _records(batch: Batch, rows: np.ndarray, codes: pd.DataFrame) -> pd.DataFrame:
    """The accepted rows' values with their region codes and where they came from."""
    frame = batch.values.iloc[rows].reset_index(drop=True)
    frame = frame.drop(columns=[c for c in ("wkt",) if c in frame.columns])
    codes = codes.reset_index(drop=True)
    # columns the join (and scoring) compute are recomputed, never taken from the file (e.g. a re-ingested export)
    derived = set(codes.columns) | DERIVED_COLUMNS
    frame = frame.drop(columns=[c for c in frame.columns if c in derived])
    frame = pd.concat([frame, codes], axis=1)
    frame["source_file"] = batch.raw.path.name
    frame["source_line"] = batch.raw.positions[rows]
    frame["ingested_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame
