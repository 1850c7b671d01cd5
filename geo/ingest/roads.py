"""What is particular to emergency resources and road networks at ingest (their `KindHandler`s in
`geo.ingest.kinds`): resource columns present; a road's speed (`speed_kmh`, else a numeric OSM `maxspeed`,
else its class through geo/data/response.toml), its direction, ids for roads without one; after location,
roads off the main connected piece warned of."""

from __future__ import annotations

import dataclasses
import re

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.ingest.batch import Batch, reject_duplicates
from geo.response.config import load_response
from geo.response.network import Network
from geo.store import Store

#: OSM `oneway` and the words census files use, to 1 (along the line), -1 (against it) or 0 (both ways)
_ONEWAY = {
    "yes": 1,
    "true": 1,
    "1": 1,
    "是": 1,
    "单向": 1,
    "单行": 1,
    "-1": -1,
    "reverse": -1,
    "反向": -1,
    "no": 0,
    "false": 0,
    "0": 0,
    "否": 0,
    "双向": 0,
}
_MPH = 1.609344


def check_resources(batch: Batch, store: Store) -> Batch:
    """Columns the maps, exports and briefings read, present (empty) when the file has none."""
    values = batch.values.copy(deep=False)
    for col in ("name", "capacity", "staff", "vehicles", "phone", "address", "domain", "stock"):
        if col not in values:
            values[col] = None
    expert = (values["kind"] == "expert").to_numpy() & values["domain"].isna().to_numpy()
    batch.report.warn(expert, "domain", "expert without a domain (专业领域); not matched to incidents by domain")
    return dataclasses.replace(batch, values=values)


def check_roads(batch: Batch, store: Store) -> Batch:
    """Speed and direction of every road, ids where the file gives none; footways and the like rejected."""
    values, rep = batch.values.copy(deep=False), batch.report
    config = load_response().road
    for col in ("id", "name", "road_class", "speed_kmh", "maxspeed", "oneway"):
        if col not in values:
            values[col] = None
    classes = values["road_class"].astype(object)
    rep.reject(
        config.not_vehicle(classes),
        "road_class",
        ("'" + classes.astype(str) + "' is not a road for vehicles; left out of the network").to_numpy(),
    )
    if batch.raw.format == "osm":
        rep.reject(classes.isna().to_numpy(), "road_class", "not a road: the OSM way has no highway tag")
    speed = values["speed_kmh"].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    bad_speed = ~np.isnan(speed) & (speed <= 0)
    rep.warn(bad_speed, "speed_kmh", "speed must be greater than 0; the class speed is used")
    speed[bad_speed] = np.nan
    source = np.full(len(speed), None, dtype=object)
    source[~np.isnan(speed)] = "speed_kmh"
    maxspeed = _maxspeed(values["maxspeed"])
    use = np.isnan(speed) & ~np.isnan(maxspeed)
    speed[use], source[use] = maxspeed[use], "maxspeed"
    by_class = config.class_speed(classes)
    use = np.isnan(speed) & ~np.isnan(by_class)
    speed[use], source[use] = by_class[use], "class"
    default = np.isnan(speed)
    reasons = (
        "road class '" + classes.astype(str) + f"' has no speed in geo/data/response.toml; {config.default_kmh:g} km/h"
    ).to_numpy()
    rep.warn(default & ~rep.rejected, "road_class", reasons)
    speed[default], source[default] = config.default_kmh, "default"
    values["speed_kmh"], values["speed_source"] = speed, source
    values["oneway"] = _oneway(values["oneway"], rep)
    derived = values["id"].isna().to_numpy()
    if derived.any():
        values.loc[derived, "id"] = [f"{batch.path.stem}:{p}" for p in batch.raw.positions[derived]]
    reject_duplicates(values, rep, "id")
    return dataclasses.replace(batch, values=values)


def _maxspeed(text: pd.Series) -> np.ndarray:
    """OSM `maxspeed` in km/h ("60", "60 km/h", "30 mph"); NaN for anything else ("signals", "none", empty)."""

    def one(v: object) -> float:
        if not isinstance(v, str):
            return np.nan
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph)?\s*", v.lower())
        if not m or float(m.group(1)) <= 0:
            return np.nan
        return float(m.group(1)) * (_MPH if m.group(2) == "mph" else 1.0)

    uniques = pd.unique(text.dropna())
    return text.map({u: one(u) for u in uniques}).to_numpy(dtype=np.float64, na_value=np.nan)


def _oneway(text: pd.Series, rep) -> np.ndarray:
    key = text.astype(object).map(lambda v: v.strip().lower() if isinstance(v, str) else None)
    out = key.map(_ONEWAY)
    unknown = key.notna().to_numpy() & out.isna().to_numpy()
    reasons = ("oneway '" + text.astype(str) + "' is not yes/no/-1 (是/否); taken as two-way").to_numpy()
    rep.warn(unknown, "oneway", reasons)
    return out.fillna(0).to_numpy(dtype=np.int8)


def after_roads_located(batch: Batch, located: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Roads off the largest connected piece of this file's network warned of (zero-length lines are invalid
    geometries, rejected before: `geo.ingest.geometry.repair`)."""
    rep = batch.report
    geoms = np.asarray(located.geometry.values, dtype=object)
    lines = located["source_line"].to_numpy()
    if not len(located):
        return located
    net = Network.from_roads(
        geoms,
        located["speed_kmh"].to_numpy(float),
        located["oneway"].to_numpy(np.int8),
        load_response().road.offroad_kmh,
    )
    piece = np.full(len(located), -1)
    piece[net.road] = net.components[net.a]
    sizes = pd.Series(piece[piece > 0]).value_counts()
    off = piece > 0
    if off.any():
        texts = np.empty(len(batch.raw.positions), dtype=object)
        at = pd.Index(batch.raw.positions).get_indexer(lines[off])
        texts[at] = [
            f"not connected to the main network (a separate piece of {sizes[p]} roads); "
            "it is reached only from responders on the same piece"
            for p in piece[off]
        ]
        mask = np.zeros(len(batch.raw.positions), dtype=bool)
        mask[at] = True
        rep.warn(mask, "geometry", texts)
    return located
