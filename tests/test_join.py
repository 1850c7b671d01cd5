"""Spatial join: inside, shared borders, coast and islands, lines and polygons, permutation."""

from __future__ import annotations

import numpy as np
import shapely

from geo.join import Hierarchy, assign_geometries, assign_points
from tests.conftest import inside_point, shared_vertex


def test_points_inside_get_every_level(boundaries, counties):
    h = Hierarchy.from_boundaries(boundaries)
    codes = counties["adcode"].tolist()
    pts = np.array([inside_point(counties, c) for c in codes])
    out = assign_points(pts[:, 0], pts[:, 1], h)
    assert out["county_adcode"].tolist() == codes
    parent = dict(zip(counties["adcode"], counties["parent_adcode"], strict=True))
    assert out["city_adcode"].tolist() == [parent[c] for c in codes]
    assert set(out["province_adcode"]) == {"330000"}
    assert set(out["join_status"]) == {"inside"}


def test_point_on_shared_border_goes_to_lowest_adcode(boundaries, counties):
    h = Hierarchy.from_boundaries(boundaries)
    lon, lat = shared_vertex(counties, "330106", "330108")  # 西湖区 / 滨江区 across the Qiantang
    geom_a = counties.set_index("adcode").geometry["330106"]
    geom_b = counties.set_index("adcode").geometry["330108"]
    p = shapely.Point(lon, lat)
    assert geom_a.covers(p) and geom_b.covers(p)
    out = assign_points(np.array([lon]), np.array([lat]), h)
    assert out["county_adcode"].iloc[0] == "330106"
    # row order does not matter
    many = assign_points(np.array([lon, 120.0, lon]), np.array([lat, 29.0, lat]), h)
    assert many["county_adcode"].iloc[0] == many["county_adcode"].iloc[2] == "330106"


def _easternmost_vertex(geom):
    coords = shapely.get_coordinates(geom)
    return coords[np.argmax(coords[:, 0])]


def test_just_off_the_coast_goes_to_nearest_and_is_flagged(boundaries, counties):
    h = Hierarchy.from_boundaries(boundaries)
    province = boundaries.set_index("adcode").geometry["330000"]
    x, y = _easternmost_vertex(province)
    near = (x + 0.003, y)  # ~290 m east of the easternmost point of the province
    far = (x + 0.05, y)  # ~4.8 km
    out = assign_points(np.array([near[0], far[0]]), np.array([near[1], far[1]]), h, tolerance_m=1000)
    expected = counties.loc[counties.geometry.covers(shapely.Point(x, y)), "adcode"].min()
    assert out["join_status"].tolist() == ["nearest", "outside"]
    assert out["county_adcode"].iloc[0] == expected
    assert 200 < out["join_distance_m"].iloc[0] < 400
    assert out["county_adcode"].isna().iloc[1]
    assert out["join_distance_m"].iloc[1] > 1000


def test_small_island_in_its_county(boundaries, counties):
    h = Hierarchy.from_boundaries(boundaries)
    daishan = counties.set_index("adcode").geometry["330921"]  # 岱山县: hundreds of islands
    parts = shapely.get_parts(daishan)
    small = parts[np.argmin(shapely.area(parts))]
    p = shapely.point_on_surface(small)
    out = assign_points(np.array([p.x]), np.array([p.y]), h)
    assert out["county_adcode"].iloc[0] == "330921" and out["join_status"].iloc[0] == "inside"


def test_lines_and_polygons_largest_overlap_and_all_touched(boundaries, counties):
    h = Hierarchy.from_boundaries(boundaries)
    a = inside_point(counties, "330106")
    b = inside_point(counties, "330108")
    line = shapely.LineString([a, b])
    poly_mostly_a = shapely.buffer(shapely.Point(a), 0.02)
    out = assign_geometries(np.array([line, poly_mostly_a], dtype=object), h)
    touched = out["county_adcodes"].iloc[0].split(",")
    assert {"330106", "330108"} <= set(touched)
    assert out["county_adcode"].iloc[1] == "330106"
    # the largest overlap by measured length is the one chosen
    geoms = counties.set_index("adcode").geometry
    lengths = {c: shapely.length(shapely.intersection(line, geoms[c])) for c in touched}
    assert out["county_adcode"].iloc[0] == max(lengths, key=lengths.get)


def test_permutation_invariance(boundaries, counties, rng):
    h = Hierarchy.from_boundaries(boundaries)
    xmin, ymin, xmax, ymax = counties.total_bounds
    lon = rng.uniform(xmin, xmax, 2000)
    lat = rng.uniform(ymin, ymax, 2000)
    a = assign_points(lon, lat, h)
    perm = rng.permutation(2000)
    b = assign_points(lon[perm], lat[perm], h)
    assert a["county_adcode"].to_numpy()[perm].tolist() == b["county_adcode"].tolist()


def test_matches_geopandas_sjoin(boundaries, counties, rng):
    import geopandas as gpd

    h = Hierarchy.from_boundaries(boundaries)
    xmin, ymin, xmax, ymax = counties.total_bounds
    lon = rng.uniform(xmin, xmax, 5000)
    lat = rng.uniform(ymin, ymax, 5000)
    ours = assign_points(lon, lat, h, tolerance_m=0)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    ref = gpd.sjoin(pts, counties[["adcode", "geometry"]], predicate="within", how="left")
    ref = ref.groupby(level=0)["adcode"].min().reindex(range(5000))
    assert ours["county_adcode"].fillna("-").tolist() == ref.fillna("-").tolist()


def test_cell_index_never_disagrees_with_geometry(boundaries, counties, rng):
    """Points on shared vertices, just either side of borders and across the grid all get what a plain
    covers-test gives (the cell index only short-cuts cells wholly inside one county)."""
    from geo.join import _covering_unit, _covering_unit_tree

    verts = shapely.get_coordinates(counties.geometry.values)
    pick = verts[rng.choice(len(verts), 3000, replace=False)]
    jitter = pick + rng.normal(0, 2e-4, pick.shape)
    grid_x, grid_y = np.meshgrid(np.linspace(118, 123, 80), np.linspace(27, 31.2, 80))
    pts = shapely.points(np.concatenate([pick, jitter, np.column_stack([grid_x.ravel(), grid_y.ravel()])]))
    fast = _covering_unit(pts, counties)
    slow = _covering_unit_tree(pts, counties)
    assert (fast == slow).all()


def test_cell_shortcut_for_lines_and_polygons_changes_nothing(boundaries, counties, rng, monkeypatch):
    """Sites settled by the cell grid get what the overlap rule gives them without it."""
    import geo.join as join

    xmin, ymin, xmax, ymax = counties.total_bounds
    cx, cy = rng.uniform(xmin, xmax, 3000), rng.uniform(ymin, ymax, 3000)
    size = rng.choice([0.001, 0.005, 0.03], size=3000)
    polys = shapely.box(cx - size, cy - size, cx + size, cy + size)
    lines = shapely.linestrings(np.stack([np.c_[cx - size, cy], np.c_[cx + size, cy + size]], axis=1))
    geoms = np.concatenate([polys, lines])
    hierarchy = Hierarchy.from_boundaries(boundaries)
    fast = assign_geometries(geoms, hierarchy)
    assert (join._inside_one_unit(geoms, join._indexes(hierarchy.level_units("county"))) >= 0).sum() > 500
    monkeypatch.setattr(join, "_inside_one_unit", lambda g, cells: np.full(len(g), -1))
    slow = assign_geometries(geoms, hierarchy)
    assert fast.equals(slow)


def test_the_cell_grid_kept_in_a_cache_directory_is_the_one_built(boundaries, counties, rng, tmp_path, monkeypatch):
    """A grid written to the cache is read back equal (a later process builds nothing), a damaged file is
    built again, and the directory keeps only the newest grids."""
    import geo.join as join

    monkeypatch.setattr(join, "_CELL_CACHE", {})
    hierarchy = Hierarchy.from_boundaries(boundaries, cache=tmp_path)
    xmin, ymin, xmax, ymax = counties.total_bounds
    lon, lat = rng.uniform(xmin, xmax, 2000), rng.uniform(ymin, ymax, 2000)
    first = assign_points(lon, lat, hierarchy)
    (saved,) = tmp_path.glob("cells-*.npz")
    built = join._indexes(hierarchy.level_units("county"))
    loaded = join.CellIndex.load(saved, len(counties))
    assert loaded is not None and (loaded.owner == built.owner).all()
    assert join.CellIndex.load(saved, 3) is None  # owners beyond the polygons given: not this grid
    assert (loaded.x0, loaded.y0, loaded.dx, loaded.nx, loaded.ny) == (built.x0, built.y0, built.dx, built.nx, built.ny)

    monkeypatch.setattr(join, "_CELL_CACHE", {})  # a new process: the grid comes from the file, not a build
    monkeypatch.setattr(join.CellIndex, "build", classmethod(lambda cls, geoms, cells=1024: 1 / 0))
    assert assign_points(lon, lat, hierarchy).equals(first)

    monkeypatch.undo()
    monkeypatch.setattr(join, "_CELL_CACHE", {})
    good = saved.read_bytes()
    for damaged in (b"not a grid", good[: len(good) // 2], b""):  # not a zip, truncated, empty
        saved.write_bytes(damaged)
        monkeypatch.setattr(join, "_CELL_CACHE", {})
        assert join.CellIndex.load(saved, len(counties)) is None
        assert assign_points(lon, lat, hierarchy).equals(first)  # built again, and written again
        assert join.CellIndex.load(saved, len(counties)) is not None

    for i in range(join.CELL_FILES_KEPT + 3):
        built.save(tmp_path / f"cells-{i:040x}.npz")
    assert len(list(tmp_path.glob("cells-*.npz"))) == join.CELL_FILES_KEPT
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_cache_directory_others_may_write_into_is_not_used(tmp_path):
    """Cell grids planted by another user would put records in the wrong counties: a cache directory that is
    group- or world-writable is not used (and not an error)."""
    from geo.cache import usable

    mine = tmp_path / "cache"
    assert usable(mine) == mine and (mine.stat().st_mode & 0o777) == 0o700
    mine.chmod(0o777)
    assert usable(mine) is None
    (tmp_path / "file").write_text("x")
    assert usable(tmp_path / "file") is None
