"""Vector tiles: dense point layers are clustered server-side, counts preserved."""

from __future__ import annotations

import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely

from layers.tiles import EXTENT, PointTiles, R, TileBounds, encode_points, owner_tiles, render_tile


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


def _demo_like_points(rng, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Points as the census spreads them over Zhejiang: dense around a few cities, thin elsewhere, and some
    right beside (and a few exactly on) the edges of the tiles at the zooms tested."""
    cities = np.array([[120.15, 30.28], [121.55, 29.87], [120.70, 28.00], [120.58, 30.00], [119.65, 29.08]])
    k = int(n * 0.7)
    which = rng.integers(0, len(cities), k)
    lon = [cities[which, 0] + rng.normal(0, 0.25, k)]
    lat = [cities[which, 1] + rng.normal(0, 0.2, k)]
    m = n - k - 600
    lon.append(rng.uniform(118.1, 122.9, m))
    lat.append(rng.uniform(27.1, 31.1, m))
    for z in (6, 7, 8, 9):  # 150 points per zoom beside a tile edge (within its 64-unit buffer), 10 on it
        edges = [TileBounds.of(z, 2**z * 3 // 8 + i, 2**z * 13 // 64).lonlat() for i in range(3)]
        west = np.array([e[0] for e in edges])[rng.integers(0, 3, 150)]
        width = edges[0][2] - edges[0][0]
        lon.append(west + rng.choice([-1, 1], 150) * rng.uniform(1e-7, width * 0.01, 150))
        lat.append(rng.uniform(28.5, 30.5, 150))
        lon[-1][:10] = west[:10]
    return np.concatenate(lon), np.concatenate(lat)


@pytest.mark.parametrize("indexed", [False, True], ids=["bounds", "point-index"])
@pytest.mark.parametrize("z", [6, 7, 8, 9])
def test_each_point_is_counted_in_exactly_one_tile(rng, z, indexed):
    lon, lat = _demo_like_points(rng)
    index = PointTiles.of(lon, lat) if indexed else None
    geoms = shapely.points(lon, lat)
    bounds = shapely.bounds(geoms)
    props = pd.DataFrame({"id": [f"E{i}" for i in range(len(lon))], "risk_level": "blue"})
    size = 2 * np.pi * R / 2**z
    mx = R * np.radians(lon)
    my = R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
    xs = range(int((mx.min() + np.pi * R) // size) - 1, int((mx.max() + np.pi * R) // size) + 2)
    ys = range(int((np.pi * R - my.max()) // size) - 1, int((np.pi * R - my.min()) // size) + 2)
    total, clustered = 0, 0
    for x in xs:
        for y in ys:
            tile = render_tile("e", geoms, bounds, props, z, x, y, points=index)
            feats = mapbox_vector_tile.decode(tile)["e"]["features"]
            counted = sum(f["properties"].get("count", 1) for f in feats)
            clustered += any(f["properties"].get("cluster") for f in feats)
            total += counted
            tb = TileBounds.of(z, x, y)  # the tile's own extent: [minx, maxx) × (miny, maxy] in metres
            inside = (mx >= tb.minx) & (mx < tb.maxx) & (my > tb.miny) & (my <= tb.maxy)
            on_edge = np.isclose(mx, tb.minx, rtol=0, atol=1e-6) | np.isclose(mx, tb.maxx, rtol=0, atol=1e-6)
            exact = int((on_edge & (my > tb.miny) & (my <= tb.maxy)).sum())  # either side, to a rounding
            assert abs(counted - int(inside.sum())) <= exact, (z, x, y, counted, int(inside.sum()))
            assert all(0 <= c <= EXTENT for f in feats for c in f["geometry"]["coordinates"])  # owned: inside it
    assert total == len(lon)  # every point once: none counted twice at a seam, none lost
    assert clustered  # the dense tiles were clustered (the case that double-counted)


def test_the_point_index_finds_the_points_each_tile_owns(rng):
    """`PointTiles.rows` (two binary searches over Morton codes) gives each tile the points `owner_tiles` puts
    there, at every zoom; points with no position are in no tile."""
    lon, lat = _demo_like_points(rng, 5_000)
    lon[:3], lat[3:5] = np.nan, np.nan
    index = PointTiles.of(lon, lat)
    for z in (0, 5, 9, 12, 16):
        tx, ty = owner_tiles(lon, lat, z)
        ok = np.isfinite(lon) & np.isfinite(lat)
        tiles = set(zip(tx[ok].tolist(), ty[ok].tolist(), strict=True))
        found = 0
        for x, y in tiles:
            rows = index.rows(z, x, y)
            assert rows.tolist() == np.flatnonzero(ok & (tx == x) & (ty == y)).tolist(), (z, x, y)
            found += len(rows)
        assert found == int(ok.sum())


def test_point_tiles_are_the_bytes_the_generic_encoder_writes(rng):
    """The direct encoder for points and clusters writes what `mapbox_vector_tile.encode` writes for the same
    features: same keys, values (bools apart, 1 and 1.0 shared), tags and zigzagged positions."""
    n = 300
    px = np.column_stack([rng.uniform(0, EXTENT, n), rng.uniform(0, EXTENT, n)])
    px[:5] = [[0, 0], [EXTENT, EXTENT], [0.5, 1.5], [2.5, 4095.5], [17, 0]]
    records = [
        {
            "id": f"E{i}",
            "cluster": bool(i % 3 == 0),
            "count": int(i % 7),
            "score": float(i % 5) / 2,
            "one": 1 if i % 2 else 1.0,
            "risk_level": ["red", "orange", "yellow", "blue"][i % 4],
        }
        for i in range(n)
    ]
    records[7].pop("score")
    ours = encode_points("layer", px, records)
    feats = [{"geometry": shapely.Point(x, y), "properties": r} for (x, y), r in zip(px, records, strict=True)]
    theirs = mapbox_vector_tile.encode(
        [{"name": "layer", "features": feats}], default_options={"extents": EXTENT, "quantize_bounds": None}
    )
    assert ours == theirs
