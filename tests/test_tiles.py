"""Vector tiles: dense point layers are clustered server-side, counts preserved."""

from __future__ import annotations

import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely

from layers.tiles import TileBounds, render_tile


def test_dense_points_are_clustered_with_counts_preserved(rng):
    tb = TileBounds.of(8, 213, 107)
    lon0, lat0, lon1, lat1 = tb.lonlat()
    n = 20_000
    lon = rng.uniform(lon0 + 1e-6, lon1 - 1e-6, n)
    lat = rng.uniform(lat0 + 1e-6, lat1 - 1e-6, n)
    geoms = shapely.points(lon, lat)
    levels = rng.choice(["red", "orange", "yellow", "blue"], n, p=[0.02, 0.08, 0.3, 0.6])
    props = pd.DataFrame({"id": [f"E{i}" for i in range(n)], "risk_level": levels})
    data = render_tile("enterprises", geoms, shapely.bounds(geoms), props, 8, 213, 107, max_points=3000)
    feats = mapbox_vector_tile.decode(data)["enterprises"]["features"]
    assert len(feats) <= 32 * 32
    assert sum(f["properties"]["count"] for f in feats) == n
    assert sum(f["properties"]["n_red"] for f in feats) == int((levels == "red").sum())
    worst = {f["properties"]["risk_level"] for f in feats if f["properties"]["n_red"]}
    assert worst == {"red"}


def test_sparse_points_stay_individual(rng):
    tb = TileBounds.of(12, 3414, 1715)
    lon0, lat0, lon1, lat1 = tb.lonlat()
    geoms = shapely.points(rng.uniform(lon0, lon1, 50), rng.uniform(lat0, lat1, 50))
    props = pd.DataFrame({"id": [f"E{i}" for i in range(50)], "risk_level": ["red"] * 50})
    feats = mapbox_vector_tile.decode(render_tile("e", geoms, shapely.bounds(geoms), props, 12, 3414, 1715))["e"][
        "features"
    ]
    assert sorted(f["properties"]["id"] for f in feats) == sorted(props["id"])


def test_tile_outside_grid():
    with pytest.raises(ValueError, match="outside the grid"):
        TileBounds.of(3, 8, 0)
    assert np.isclose(TileBounds.of(0, 0, 0).maxx, 20037508.342789244)
