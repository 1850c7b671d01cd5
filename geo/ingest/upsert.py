"""Upsert accepted records into the store by id, under the store's lock."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.ingest.locate import Points
from geo.store import Store, point_table, split_point_table
from geo.values import arrow_text


def upsert(store: Store, table: str, key: str, accepted: pd.DataFrame | Points) -> tuple[int, int]:
    """Replace the stored records whose `key` an accepted record has, add the others; (inserted, updated)."""
    with store.lock():
        existing = _existing(store, table, accepted)
        records = accepted.frame if isinstance(accepted, Points) else accepted
        if existing is not None:
            old = existing.frame if isinstance(existing, Points) else existing
            replaced = isin_text(old[key], records[key])
            updated = int(replaced.sum())
            combined = pd.concat([old.loc[~replaced], records], ignore_index=True)
        else:
            updated, replaced, combined = 0, None, records
        if isinstance(accepted, Points):
            keep = slice(None) if replaced is None else ~replaced
            x = accepted.x if existing is None else np.r_[existing.x[keep], accepted.x]
            y = accepted.y if existing is None else np.r_[existing.y[keep], accepted.y]
            store.write(table, point_table(_stable_types(combined), x, y))
        else:
            if isinstance(accepted, gpd.GeoDataFrame):
                combined = gpd.GeoDataFrame(combined, geometry="geometry", crs="EPSG:4326")
            store.write(table, _stable_types(combined))
    return len(records) - updated, updated


def _existing(store: Store, table: str, accepted: pd.DataFrame | Points) -> pd.DataFrame | Points | None:
    """The stored table in the shape of `accepted`: coordinates for points (no point objects when the store
    holds GeoArrow points), else a (Geo)DataFrame."""
    if not store.has(table):
        return None
    if isinstance(accepted, Points):
        split = split_point_table(store.read_arrow(table))
        if split is not None:
            return Points(*split)
        return Points(*_frame_and_xy(store.read(table)))
    return store.read(table)


def _frame_and_xy(gdf: gpd.GeoDataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    pts = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    return pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), shapely.get_x(pts), shapely.get_y(pts)


def isin_text(series: pd.Series, values: pd.Series) -> np.ndarray:
    """`series.isin(values)` for text columns, as one Arrow hash lookup (pandas builds a Python list of
    `values` first, which costs seconds for a million ids)."""
    import pyarrow.compute as pc

    probe, value_set = arrow_text(series), arrow_text(values)
    if probe is None or value_set is None:  # not text (ids from elsewhere): pandas semantics
        return series.isin(values).to_numpy(dtype=bool)
    if len(values) <= 2 * len(series):
        return pc.is_in(probe, value_set=value_set).to_numpy(zero_copy_only=False)
    # far more values than probes (events against a million enterprise ids): hash the probes' distinct ids
    # and look each value up in them, instead of hashing every value
    codes, uniques = pd.factorize(series)
    if not len(uniques):
        return np.zeros(len(series), dtype=bool)
    pos = pc.index_in(value_set, value_set=arrow_text(uniques)).drop_null().to_numpy()
    present = np.zeros(len(uniques) + 1, dtype=bool)  # the last slot answers for missing probes (code -1)
    present[pos] = True
    return present[codes]


def _stable_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns become text columns (missing stays missing) so Parquet keeps one type per column."""
    for col in frame.columns:
        if frame[col].dtype == object and col != "geometry":
            frame[col] = frame[col].astype("str")
    return frame
