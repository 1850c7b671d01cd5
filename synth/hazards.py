"""Hazard sites: type mix, where they lie, their shapes (points, lines, polygons), scale and assessed level."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import shapely

from geo.catalogue import Catalogue
from synth.names import hazard_site_names
from synth.places import KM_PER_DEG, Counties, Parks, county_of, uniform_many
from synth.values import masked_object, pick

# Hazard-site mix: type -> (share, {geometry: probability}, size range in m, median threatened population).
_HAZARD_MIX: dict[str, tuple[float, dict[str, float], tuple[float, float], float]] = {
    "ground_collapse": (0.15, {"point": 1.0}, (5.0, 40.0), 30.0),
    "geological": (0.30, {"point": 0.8, "line": 0.2}, (40.0, 200.0), 40.0),
    "tailings_pond": (0.08, {"polygon": 1.0}, (120.0, 450.0), 150.0),
    "accident_blackspot": (0.25, {"point": 0.5, "line": 0.5}, (150.0, 600.0), 200.0),
    "chemical_park": (0.05, {"polygon": 1.0}, (900.0, 2800.0), 5000.0),
    "flood_lowland": (0.17, {"polygon": 1.0}, (150.0, 700.0), 300.0),
}


def _hazard_plan(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Type and geometry of each site; the first sites cover every (type, geometry) pair."""
    pairs = [(t, g) for t, (_, geoms, _, _) in _HAZARD_MIX.items() for g in geoms]
    types = list(_HAZARD_MIX)
    shares = np.array([_HAZARD_MIX[t][0] for t in types])
    kind = np.asarray(types, dtype=object)[rng.choice(len(types), size=n, p=shares / shares.sum())]
    geom = np.empty(n, dtype=object)
    for t in types:
        names, probs = zip(*_HAZARD_MIX[t][1].items(), strict=True)
        sel = kind == t
        geom[sel] = np.asarray(names, dtype=object)[rng.choice(len(names), size=int(sel.sum()), p=probs)]
    k = min(n, len(pairs))
    kind[:k] = [p[0] for p in pairs[:k]]
    geom[:k] = [p[1] for p in pairs[:k]]
    return kind, geom


def _hazard_centres(
    rng: np.random.Generator, c: Counties, parks: Parks, kind: np.ndarray, geom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Centres: chemical parks at industrial parks, other sites anywhere; some polygons on county borders."""
    n = len(kind)
    weight = np.sqrt(np.maximum(c.area_km2, 1e-6)) * c.size
    county = rng.choice(len(c), size=n, p=weight / weight.sum())
    x, y = uniform_many(rng, c, county)
    chem = np.flatnonzero(kind == "chemical_park")
    if len(chem) and len(parks.x):
        at = np.arange(len(chem)) % len(parks.x)
        x[chem], y[chem] = parks.x[at], parks.y[at]
    border = np.flatnonzero((geom == "polygon") & (rng.random(n) < 0.2))
    if len(border):  # deliberately straddle a county border
        edges = shapely.boundary(c.geoms[county[border]])
        pts = shapely.line_interpolate_point(edges, rng.random(len(border)), normalized=True)
        xy = shapely.get_coordinates(pts)
        x[border], y[border] = xy[:, 0], xy[:, 1]
    return x, y


def _offsets_deg(dx_m: np.ndarray, dy_m: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m_per_deg = KM_PER_DEG * 1000.0
    return dx_m / (m_per_deg * np.cos(np.radians(lat))), dy_m / m_per_deg


def _shapes(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size_m: np.ndarray, geom: np.ndarray) -> np.ndarray:
    """Points, star-shaped polygons (12 jittered vertices) and wandering lines (6 vertices), vectorised."""
    out = shapely.points(x, y)
    poly = np.flatnonzero(geom == "polygon")
    if len(poly):
        k = 12
        angles = (np.arange(k) + rng.uniform(-0.3, 0.3, (len(poly), k))) * (2 * np.pi / k)
        radius = size_m[poly, None] * rng.uniform(0.6, 1.0, (len(poly), k))
        dx, dy = _offsets_deg(radius * np.cos(angles), radius * np.sin(angles), y[poly, None])
        ring = np.stack([x[poly, None] + dx, y[poly, None] + dy], axis=-1)
        ring = np.concatenate([ring, ring[:, :1]], axis=1)
        out[poly] = shapely.polygons(ring)
    line = np.flatnonzero(geom == "line")
    if len(line):
        k = 6
        heading = rng.uniform(0, 2 * np.pi, (len(line), 1)) + np.cumsum(rng.normal(0, 0.35, (len(line), k)), 1)
        step = size_m[line, None] / (k - 1) * rng.uniform(0.6, 1.4, (len(line), k))
        step[:, 0] = 0.0
        dx, dy = _offsets_deg(np.cumsum(step * np.cos(heading), 1), np.cumsum(step * np.sin(heading), 1), y[line, None])
        out[line] = shapely.linestrings(np.stack([x[line, None] + dx, y[line, None] + dy], axis=-1))
    return out


def _hazard_scale(geoms: np.ndarray, kind: np.ndarray, size_m: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Area m² for polygons and ground collapses, length m for lines and black spots, m³ for geological."""
    cos = np.cos(np.radians(lat))
    m_per_deg = KM_PER_DEG * 1000.0
    area = shapely.area(geoms) * m_per_deg**2 * cos
    length = shapely.length(geoms) * m_per_deg * np.sqrt(cos)  # rough, direction-averaged
    gtype = shapely.get_type_id(geoms)
    scale = np.where(gtype == 3, area, np.where(gtype == 1, length, size_m))
    scale = np.where((gtype == 0) & (kind == "ground_collapse"), np.pi * size_m**2, scale)
    scale = np.where((gtype == 0) & (kind == "geological"), size_m**3 / 40.0, scale)
    return np.round(scale, 1)


def hazard_sites(
    rng: np.random.Generator, cat: Catalogue, c: Counties, parks: Parks, n: int, end: date
) -> gpd.GeoDataFrame:
    """n hazard sites (EPSG:4326) of every type, found in the ten years before `end`; level on about half."""
    kind, geom = _hazard_plan(rng, n)
    x, y = _hazard_centres(rng, c, parks, kind, geom)
    lo = np.array([_HAZARD_MIX[k][2][0] for k in kind])
    hi = np.array([_HAZARD_MIX[k][2][1] for k in kind])
    size_m = rng.uniform(lo, hi)
    shapes = _shapes(rng, x, y, size_m, geom)
    base = {h.code: h.base_weight for h in cat.hazard_types}
    weight = np.array([base.get(k, 0.5) for k in kind])
    noisy = weight + rng.normal(0.0, 0.2, n)
    level = np.select([noisy > 0.95, noisy > 0.75, noisy > 0.5], ["red", "orange", "yellow"], "blue").astype(object)
    median_pop = np.array([_HAZARD_MIX[k][3] for k in kind])
    found = np.datetime64(end, "D") - rng.integers(0, 3650, n).astype("timedelta64[D]")
    return gpd.GeoDataFrame(
        {
            "id": [f"HZ{i:06d}" for i in range(1, n + 1)],
            "name": hazard_site_names(rng, c.short[county_of(c, x, y)], kind),
            "type": kind,
            "level": masked_object(level, rng.random(n) < 0.5),
            "population": np.rint(rng.lognormal(np.log(median_pop), 1.0)).astype(np.int64),
            "scale": _hazard_scale(shapes, kind, size_m, y),
            "status": pick(rng, ("active",) * 11 + ("monitoring",) * 6 + ("closed",) * 3, n),
            "found_date": np.datetime_as_string(found, unit="D"),
        },
        geometry=shapes,
        crs="EPSG:4326",
    )
