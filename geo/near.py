"""Risk near a location: enterprises and hazard sites within a radius, the regions containing the point, and a
distance-weighted exposure figure. WGS84 in, geodesic metres out.

Exposure (documented in docs/api.md): ``Σ weight(level) × (1 − d / radius)`` over every enterprise and hazard
site within the radius, with weights red 8, orange 4, yellow 2, blue 1 (each level counts double the next), so a
red unit at the point counts 8 and one at the edge of the radius counts 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod

from geo.catalogue import LEVELS
from geo.errors import InputRejected
from geo.pointgrid import PointGrid
from geo.values import Picker
from geo.values import plain as _plain

EXPOSURE_WEIGHTS = {"red": 8.0, "orange": 4.0, "yellow": 2.0, "blue": 1.0}
MAX_RADIUS_M = 50_000.0
_GEOD = Geod(ellps="WGS84")


@dataclass
class NearIndex:
    """Prebuilt indexes over a snapshot's units and hazard sites (build once, query many times)."""

    units: Picker  # id, name, domain, industry, risk_level, risk_score, county_adcode
    unit_x: np.ndarray
    unit_y: np.ndarray
    unit_grid: PointGrid  # the units by Web Mercator tile: no tree of a million point objects to build
    hazards: Picker
    hazard_geoms: np.ndarray
    hazard_tree: shapely.STRtree

    @classmethod
    def build(cls, units, hazards) -> NearIndex:
        ux = units.geometry.x.to_numpy() if len(units) else np.zeros(0)
        uy = units.geometry.y.to_numpy() if len(units) else np.zeros(0)
        unit_cols = [
            c for c in ("id", "name", "domain", "industry", "risk_level", "risk_score", "county_adcode") if c in units
        ]
        hz_cols = [c for c in ("id", "name", "type", "risk_level", "risk_score", "county_adcode") if c in hazards]
        hgeoms = np.asarray(hazards.geometry.values, dtype=object) if len(hazards) else np.zeros(0, dtype=object)
        return cls(
            Picker(units, unit_cols),
            ux,
            uy,
            PointGrid.of(ux, uy),
            Picker(hazards, hz_cols),
            hgeoms,
            shapely.STRtree(hgeoms),
        )


def _search_box(lon: float, lat: float, radius_m: float) -> shapely.Geometry:
    dlat = radius_m / 110_574.0 * 1.01
    dlon = radius_m / (111_320.0 * max(np.cos(np.radians(lat)), 0.01)) * 1.01
    return shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def _records(columns: Picker, rows: np.ndarray, dist: np.ndarray, limit: int) -> list[dict[str, Any]]:
    order = np.argsort(dist, kind="stable")[:limit]
    picked = rows[order]
    cols = {c: columns.pick(c, picked) for c in columns.names}
    out = []
    for i, d in enumerate(np.round(dist[order], 1)):
        rec = {c: _plain(values[i]) for c, values in cols.items()}
        rec["distance_m"] = float(d)
        out.append(rec)
    return out


def near(index: NearIndex, lon: float, lat: float, radius_m: float = 1000.0, limit: int = 100) -> dict[str, Any]:
    """Enterprises and hazard sites within `radius_m` of (lon, lat) (WGS84), nearest first."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputRejected(f"lon={lon}, lat={lat}: longitude must be -180..180 and latitude -90..90")
    if not (0 < radius_m <= MAX_RADIUS_M):
        raise InputRejected(f"radius_m={radius_m}: must be greater than 0 and at most {MAX_RADIUS_M:.0f}")
    if limit < 0:
        raise InputRejected(f"limit={limit}: must be 0 or more")
    box = _search_box(lon, lat, radius_m)
    west, south, east, north = shapely.bounds(box)
    cand = index.unit_grid.box(west, south, east, north)
    ux, uy = index.unit_x[cand], index.unit_y[cand]
    cand = cand[(ux >= west) & (ux <= east) & (uy >= south) & (uy <= north)]
    _, _, d = _GEOD.inv(np.full(len(cand), lon), np.full(len(cand), lat), index.unit_x[cand], index.unit_y[cand])
    keep = d <= radius_m
    urows, udist = cand[keep], d[keep]
    hcand = index.hazard_tree.query(box)
    point = shapely.Point(lon, lat)
    hgeoms = index.hazard_geoms[hcand]
    nearest = shapely.get_point(shapely.shortest_line(point, hgeoms), 1) if len(hcand) else np.zeros(0, dtype=object)
    _, _, hd = _GEOD.inv(
        np.full(len(hcand), lon), np.full(len(hcand), lat), shapely.get_x(nearest), shapely.get_y(nearest)
    )
    hd = np.where(shapely.intersects(hgeoms, point), 0.0, hd) if len(hcand) else hd
    hkeep = hd <= radius_m
    hrows, hdist = hcand[hkeep], hd[hkeep]

    def level_of(columns: Picker, rows: np.ndarray) -> np.ndarray:
        return np.asarray(columns.pick("risk_level", rows), dtype=object)

    levels = np.concatenate([level_of(index.units, urows), level_of(index.hazards, hrows)])
    counts = {lv: int((levels == lv).sum()) for lv in LEVELS}
    highest = next((lv for lv in LEVELS if counts[lv]), None)
    all_d = np.concatenate([udist, hdist])
    weights = np.array([EXPOSURE_WEIGHTS.get(lv, 0.0) for lv in levels], dtype=float)
    exposure = float(np.sum(weights * np.clip(1 - all_d / radius_m, 0, 1))) if len(all_d) else 0.0
    return {
        "query": {"lon": lon, "lat": lat, "radius_m": radius_m, "limit": limit},
        "total": {"enterprises": int(len(urows)), "hazards": int(len(hrows))},
        "enterprises": _records(index.units, urows, udist, limit),
        "hazards": _records(index.hazards, hrows, hdist, limit),
        "summary": {
            "counts": counts,
            "highest_level": highest,
            "exposure": round(exposure, 2),
            "exposure_formula": "sum over units and sites of weight(level) * (1 - distance / radius); "
            "weights red 8, orange 4, yellow 2, blue 1",
        },
    }
