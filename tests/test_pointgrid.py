"""The Morton-ordered point grid: tiles own their points exactly, boxes find every point inside them, and the
search around a point built on it gives what testing every unit gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo.pointgrid import PointGrid, owner_tiles


@pytest.fixture
def points(rng):
    n = 20_000
    lon = np.r_[rng.normal(120.15, 0.05, n // 2), rng.uniform(118.0, 123.0, n // 2)]
    lat = np.r_[rng.normal(30.27, 0.05, n // 2), rng.uniform(27.0, 31.5, n // 2)]
    lon[:5], lat[5:8] = np.nan, np.nan  # no position
    lon[8:20] = np.round(lon[8:20], 2)  # a few exactly on round coordinates (tile edges at some zooms)
    return lon, lat


def test_a_box_finds_every_point_inside_it(points, rng):
    lon, lat = points
    grid = PointGrid.of(lon, lat)
    for _ in range(300):
        w = 10 ** rng.uniform(-5, 0.5)
        west, south = rng.uniform(118.0, 122.5), rng.uniform(27.0, 31.0)
        east, north = west + w, south + w * rng.uniform(0.3, 2)
        found = grid.box(west, south, east, north)
        inside = np.flatnonzero((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
        assert set(inside.tolist()) <= set(found.tolist())
        assert (np.diff(found) > 0).all()  # row order, no repeats
        assert np.isfinite(lon[found]).all() and np.isfinite(lat[found]).all()


def test_each_tile_owns_the_points_owner_tiles_puts_in_it(points):
    lon, lat = points
    grid = PointGrid.of(lon, lat)
    ok = np.isfinite(lon) & np.isfinite(lat)
    for z in (3, 9, 14, 16):
        tx, ty = owner_tiles(lon, lat, z)
        for x, y in set(zip(tx[ok].tolist(), ty[ok].tolist(), strict=True)):
            assert grid.tile(z, x, y).tolist() == np.flatnonzero(ok & (tx == x) & (ty == y)).tolist()


def test_near_finds_what_testing_every_unit_finds(rng):
    """`geo.near.near` (candidates from the grid, then geodesic distances) against every unit's distance."""
    import geopandas as gpd

    from geo.near import NearIndex, near

    n = 30_000
    lon, lat = rng.normal(120.15, 0.03, n), rng.normal(30.27, 0.03, n)
    units = gpd.GeoDataFrame(
        {"id": [f"E{i}" for i in range(n)], "risk_level": rng.choice(["red", "blue"], n)},
        geometry=shapely.points(lon, lat),
        crs="EPSG:4326",
    )
    hazards = gpd.GeoDataFrame({"id": pd.Series([], dtype=str)}, geometry=[], crs="EPSG:4326")
    index = NearIndex.build(units, hazards)
    geod = Geod(ellps="WGS84")
    for x, y, r in [(120.15, 30.27, 1000.0), (120.2, 30.3, 50.0), (120.1, 30.2, 5000.0), (121.0, 31.0, 800.0)]:
        got = near(index, x, y, r, limit=100_000)
        _, _, d = geod.inv(np.full(n, x), np.full(n, y), lon, lat)
        want = np.flatnonzero(d <= r)
        assert sorted(e["id"] for e in got["enterprises"]) == sorted(f"E{i}" for i in want), (x, y, r)
        assert got["total"]["enterprises"] == len(want)
