"""Tests for geo.crs: known answers from published test vectors, round trips, registry, geometries."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from geo import crs
from geo.crs import (
    CrsSpec,
    TransformNotConverged,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geodesic_distance_m,
    geometry_from_wgs84,
    geometry_to_wgs84,
    parse_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import CRSUnknown, RiskmapError

TIGHT_DEG = 1e-6  # tolerance against published reference values (~0.1 m)
ROUND_TRIP_M = 0.01  # required round-trip accuracy of the iterated inverses

# ---------------------------------------------------------------------------------------------------------
# Published reference pairs. All written here as (lon, lat).
# ---------------------------------------------------------------------------------------------------------

# googollee/eviltransform, python/test.py and go/transform_test.go (TESTS, given there as lat, lng):
# https://github.com/googollee/eviltransform
EVILTRANSFORM_WGS_GCJ = {
    "shanghai": ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    "shenzhen": ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    "beijing": ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
}

# Glatzel/pyxis, python/tests/test_crypto.py: one point in Jiaxing (Pinghu), Zhejiang, in all three systems.
# https://github.com/Glatzel/pyxis
PYXIS_JIAXING = {
    "wgs84": (121.0917077, 30.6107779),
    "gcj02": (121.09626935575027, 30.608604331756705),
    "bd09": (121.10271732371203, 30.61484572185035),
}

# wandergis/coordtransform, README.md "result" block for input (116.404, 39.915), Beijing:
# https://github.com/wandergis/coordtransform
WANDERGIS_BEIJING_IN = (116.404, 39.915)
WANDERGIS_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
WANDERGIS_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
# Produced by the closed-form BD-09 -> GCJ-02 approximation, which is good to about 1e-6 degrees.
WANDERGIS_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)

# hujiulong/gcoord, test/fixtures/china-cities.json (rounded to 7 decimals): Zhejiang cities as (WGS84,
# GCJ02, BD09). https://github.com/hujiulong/gcoord . Their GCJ02/BD09 columns agree with the formula to
# ~1e-7; their WGS84 column comes from another source and sits a systematic ~0.66 m off the public formula,
# so WGS84 <-> GCJ02 is only checked to 1 m for these.
GCOORD_ZHEJIANG = {
    "jinhua": ((119.6427465, 29.0820414), (119.6474509, 29.0790641), (119.6538875, 29.0854003)),
    "huzhou": ((120.0819509, 30.8963939), (120.0868281, 30.8943522), (120.093349, 30.9002941)),
    "shaoxing": ((120.5761439, 30.032385), (120.580236, 30.0297572), (120.5867094, 30.0359468)),
    "wenzhou": ((120.6953127, 27.9971173), (120.6993688, 27.9938322), (120.7058483, 28.0000072)),
}


def assert_close_deg(actual: tuple[float, float], expected: tuple[float, float], tol: float = TIGHT_DEG):
    assert abs(actual[0] - expected[0]) < tol, (actual, expected)
    assert abs(actual[1] - expected[1]) < tol, (actual, expected)


@pytest.mark.parametrize("city", sorted(EVILTRANSFORM_WGS_GCJ))
def test_eviltransform_wgs84_gcj02_pairs(city: str) -> None:
    wgs, gcj = EVILTRANSFORM_WGS_GCJ[city]
    assert_close_deg(wgs84_to_gcj02(*wgs), gcj)
    assert_close_deg(gcj02_to_wgs84(*gcj), wgs)


@pytest.mark.parametrize(
    ("func", "src", "dst"),
    [
        (wgs84_to_gcj02, "wgs84", "gcj02"),
        (gcj02_to_wgs84, "gcj02", "wgs84"),
        (gcj02_to_bd09, "gcj02", "bd09"),
        (bd09_to_gcj02, "bd09", "gcj02"),
        (wgs84_to_bd09, "wgs84", "bd09"),
        (bd09_to_wgs84, "bd09", "wgs84"),
    ],
)
def test_pyxis_zhejiang_triple(func, src: str, dst: str) -> None:
    assert_close_deg(func(*PYXIS_JIAXING[src]), PYXIS_JIAXING[dst])


def test_wandergis_beijing() -> None:
    assert_close_deg(wgs84_to_gcj02(*WANDERGIS_BEIJING_IN), WANDERGIS_WGS84_TO_GCJ02)
    assert_close_deg(gcj02_to_bd09(*WANDERGIS_BEIJING_IN), WANDERGIS_GCJ02_TO_BD09)
    assert_close_deg(bd09_to_gcj02(*WANDERGIS_BEIJING_IN), WANDERGIS_BD09_TO_GCJ02)
    # The inverses are exact against the published forward values.
    assert_close_deg(gcj02_to_wgs84(*WANDERGIS_WGS84_TO_GCJ02), WANDERGIS_BEIJING_IN, 1e-9)
    assert_close_deg(bd09_to_gcj02(*WANDERGIS_GCJ02_TO_BD09), WANDERGIS_BEIJING_IN, 1e-9)


def test_bd09_inverse_is_exact_where_closed_form_is_not() -> None:
    """Iterated BD-09 -> GCJ-02 reproduces its input through the forward formula; the closed form does not."""
    bd = WANDERGIS_BEIJING_IN
    exact = bd09_to_gcj02(*bd)
    assert_close_deg(gcj02_to_bd09(*exact), bd, 1e-10)
    closed_form_error = np.subtract(gcj02_to_bd09(*WANDERGIS_BD09_TO_GCJ02), bd)
    assert np.abs(closed_form_error).max() > 1e-7


@pytest.mark.parametrize("city", sorted(GCOORD_ZHEJIANG))
def test_gcoord_zhejiang_cities(city: str) -> None:
    wgs, gcj, bd = GCOORD_ZHEJIANG[city]
    assert_close_deg(gcj02_to_bd09(*gcj), bd)
    assert_close_deg(bd09_to_gcj02(*bd), gcj)
    assert geodesic_distance_m(*wgs84_to_gcj02(*wgs), *gcj) < 1.0
    assert geodesic_distance_m(*bd09_to_wgs84(*bd), *wgs) < 1.0


# ---------------------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------------------

# Inside the GCJ-02 box with a margin, so the offset point stays inside it too.
china_lon = st.floats(min_value=73.5, max_value=135.0, allow_nan=False)
china_lat = st.floats(min_value=18.0, max_value=53.5, allow_nan=False)


@settings(deadline=None, max_examples=200)
@given(
    hnp.arrays(np.float64, st.integers(1, 64), elements=china_lon),
    hnp.arrays(np.float64, st.integers(1, 64), elements=china_lat),
)
def test_round_trips_across_china(lons: np.ndarray, lats: np.ndarray) -> None:
    n = min(lons.size, lats.size)
    lon, lat = lons[:n], lats[:n]
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(geodesic_distance_m(lon, lat, *back)) < ROUND_TRIP_M
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.max(geodesic_distance_m(lon, lat, *back)) < ROUND_TRIP_M
    # And from the other side: GCJ-02/BD-09 input, inverse then forward.
    fwd = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert np.max(geodesic_distance_m(lon, lat, *fwd)) < ROUND_TRIP_M
    fwd = wgs84_to_bd09(*bd09_to_wgs84(lon, lat))
    assert np.max(geodesic_distance_m(lon, lat, *fwd)) < ROUND_TRIP_M


@settings(deadline=None)
@given(china_lon, china_lat)
def test_scalar_round_trip(lon: float, lat: float) -> None:
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert isinstance(glon, float) and isinstance(glat, float)
    assert geodesic_distance_m(lon, lat, *gcj02_to_wgs84(glon, glat)) < ROUND_TRIP_M


@pytest.fixture(scope="module")
def zhejiang_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(118.0, 123.0, 100), np.linspace(27.0, 31.5, 100))
    return lon, lat  # 10,000 points, shape (100, 100)


def test_zhejiang_grid_round_trips(zhejiang_grid: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = zhejiang_grid
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon.shape == lon.shape == (100, 100)
    back = gcj02_to_wgs84(glon, glat)
    assert back[0].shape == (100, 100)
    assert np.max(geodesic_distance_m(lon, lat, *back)) < ROUND_TRIP_M
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.max(geodesic_distance_m(lon, lat, *back)) < ROUND_TRIP_M


def test_zhejiang_offset_magnitude(zhejiang_grid: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = zhejiang_grid
    offset = geodesic_distance_m(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert offset.min() > 100.0
    assert offset.max() < 700.0


# ---------------------------------------------------------------------------------------------------------
# Outside China, shapes, NaN, non-convergence
# ---------------------------------------------------------------------------------------------------------

OUTSIDE = [(0.0, 0.0), (-122.4, 37.8), (12.3, 46.6), (139.69, 35.69), (100.0, 60.0), (71.9, 40.0)]


@pytest.mark.parametrize("point", OUTSIDE)
@pytest.mark.parametrize("func", [wgs84_to_gcj02, gcj02_to_wgs84])
def test_outside_china_unchanged(func, point: tuple[float, float]) -> None:
    assert func(*point) == point


def test_mixed_array_changes_only_points_in_china() -> None:
    lon = np.array([120.15, 0.0, 116.4, -122.4])
    lat = np.array([30.28, 0.0, 39.9, 37.8])
    for func in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        moved = (out_lon != lon) | (out_lat != lat)
        assert moved.tolist() == [True, False, True, False]


def test_inputs_not_mutated_and_lists_accepted() -> None:
    lon = np.array([120.15, 121.5])
    lat = np.array([30.28, 29.9])
    lon0, lat0 = lon.copy(), lat.copy()
    for func in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84):
        out = func(lon, lat)
        assert isinstance(out[0], np.ndarray) and out[0].dtype == np.float64
        np.testing.assert_array_equal(lon, lon0)
        np.testing.assert_array_equal(lat, lat0)
    from_lists = wgs84_to_gcj02([120.15, 121.5], [30.28, 29.9])
    np.testing.assert_array_equal(from_lists[0], wgs84_to_gcj02(lon, lat)[0])


def test_nan_passes_through() -> None:
    lon = np.array([np.nan, 120.15, 120.2])
    lat = np.array([30.0, np.nan, 30.3])
    for func in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        assert np.isnan(out_lon[0]) or np.isnan(out_lat[0])
        assert np.isnan(out_lon[1]) or np.isnan(out_lat[1])
        assert np.isfinite(out_lon[2]) and np.isfinite(out_lat[2])


def test_non_convergence_raises_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crs, "_MAX_ITERATIONS", 1)
    with pytest.raises(TransformNotConverged, match="GCJ-02 -> WGS84.*did not converge") as info:
        gcj02_to_wgs84(np.array([120.15, 121.0]), np.array([30.28, 30.0]))
    assert isinstance(info.value, RiskmapError)
    with pytest.raises(TransformNotConverged, match="BD-09 -> GCJ-02"):
        bd09_to_gcj02(120.15, 30.28)


# ---------------------------------------------------------------------------------------------------------
# CRS registry
# ---------------------------------------------------------------------------------------------------------

WGS84_SPEC = CrsSpec("wgs84", "wgs84", 4326)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wgs84", WGS84_SPEC),
        ("WGS84", WGS84_SPEC),
        (" cgcs2000 ", WGS84_SPEC),
        ("CGCS2000", WGS84_SPEC),
        ("EPSG:4326", WGS84_SPEC),
        ("epsg:4326", WGS84_SPEC),
        ("EPSG:4490", WGS84_SPEC),
        (4326, WGS84_SPEC),
        (4490, WGS84_SPEC),
        ("gcj02", CrsSpec("gcj02", "gcj02", None)),
        ("GCJ02", CrsSpec("gcj02", "gcj02", None)),
        ("bd09", CrsSpec("bd09", "bd09", None)),
        ("EPSG:3857", CrsSpec("EPSG:3857", "epsg", 3857)),
        ("epsg:3857", CrsSpec("EPSG:3857", "epsg", 3857)),
        (3857, CrsSpec("EPSG:3857", "epsg", 3857)),
        ("3857", CrsSpec("EPSG:3857", "epsg", 3857)),
        (np.int64(4549), CrsSpec("EPSG:4549", "epsg", 4549)),
        (CrsSpec("bd09", "bd09", None), CrsSpec("bd09", "bd09", None)),
    ],
)
def test_parse_crs_accepts(name, expected: CrsSpec) -> None:
    assert parse_crs(name) == expected


@pytest.mark.parametrize(
    "name", ["foo", "", "gcj-03", "EPSG:", "EPSG:abc", "EPSG:999999", 999999, "EPSG:5773", True, None, 4326.0]
)
def test_parse_crs_rejects(name) -> None:
    with pytest.raises(CRSUnknown) as info:
        parse_crs(name)
    message = str(info.value)
    for accepted in ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:<code>"):
        assert accepted in message


def test_crs_spec_is_frozen() -> None:
    spec = parse_crs("gcj02")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "bd09"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------
# to_wgs84 / from_wgs84 through pyproj
# ---------------------------------------------------------------------------------------------------------


def test_epsg4490_axis_order_handled() -> None:
    lon, lat = 120.15, 30.28
    # Registry path: EPSG:4490 is treated as WGS84, coordinates untouched.
    assert to_wgs84(lon, lat, "EPSG:4490") == (lon, lat)
    # pyproj path, forced: EPSG:4490's official axis order is lat, lon; always_xy keeps lon first.
    spec = CrsSpec("EPSG:4490", "epsg", 4490)
    out = to_wgs84(lon, lat, spec)
    assert geodesic_distance_m(lon, lat, *out) < 1.0
    back = from_wgs84(*out, spec)
    assert geodesic_distance_m(lon, lat, *back) < 1.0


def test_epsg3857_known_value_and_round_trip(zhejiang_grid: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = from_wgs84(120.15, 30.28, "EPSG:3857")
    radius = 6378137.0
    assert x == pytest.approx(radius * np.radians(120.15), abs=1e-3)
    assert y == pytest.approx(radius * np.log(np.tan(np.pi / 4 + np.radians(30.28) / 2)), abs=1e-3)
    lon, lat = zhejiang_grid
    mx, my = from_wgs84(lon, lat, "EPSG:3857")
    assert mx.shape == lon.shape
    back_lon, back_lat = to_wgs84(mx, my, "epsg:3857")
    np.testing.assert_allclose(back_lon, lon, atol=1e-9)
    np.testing.assert_allclose(back_lat, lat, atol=1e-9)


def test_projected_cgcs2000_gauss_kruger_round_trip() -> None:
    # EPSG:4549, CGCS2000 / 3-degree Gauss-Kruger CM 120E: what Zhejiang survey data often comes in.
    x, y = from_wgs84(120.0, 30.0, 4549)
    assert x == pytest.approx(500000.0, abs=1.0)  # on the central meridian
    assert 3.3e6 < y < 3.4e6
    assert geodesic_distance_m(120.0, 30.0, *to_wgs84(x, y, 4549)) < 1e-6


@pytest.mark.parametrize("name", ["wgs84", "gcj02", "bd09"])
def test_to_from_wgs84_named(name: str, zhejiang_grid: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = zhejiang_grid
    back = to_wgs84(*from_wgs84(lon, lat, name), name)
    assert np.max(geodesic_distance_m(lon, lat, *back)) < ROUND_TRIP_M
    expected = {"wgs84": (lon, lat), "gcj02": wgs84_to_gcj02(lon, lat), "bd09": wgs84_to_bd09(lon, lat)}[name]
    np.testing.assert_array_equal(from_wgs84(lon, lat, name)[0], expected[0])


def test_transformers_are_cached() -> None:
    from_wgs84(120.0, 30.0, "EPSG:3857")
    assert crs._transformer(4326, 3857) is crs._transformer(4326, 3857)


# ---------------------------------------------------------------------------------------------------------
# Geometries
# ---------------------------------------------------------------------------------------------------------


def _coords(geom: shapely.Geometry) -> np.ndarray:
    return shapely.get_coordinates(geom)


def test_geometry_to_wgs84_polygon_and_linestring() -> None:
    polygon = shapely.Polygon(
        [(120.10, 30.20), (120.25, 30.20), (120.25, 30.35), (120.10, 30.35)],
        holes=[[(120.15, 30.25), (120.20, 30.25), (120.20, 30.30)]],
    )
    line = shapely.LineString([(120.0, 30.0), (121.0, 29.5), (122.0, 30.5)])
    geoms = np.array([polygon, None, line, shapely.Polygon(), shapely.Point(120.15, 30.28)], dtype=object)

    out = geometry_to_wgs84(geoms, "gcj02")
    assert isinstance(out, np.ndarray) and out.shape == geoms.shape
    assert out[1] is None
    assert out[3].is_empty
    for src, dst in ((polygon, out[0]), (line, out[2]), (geoms[4], out[4])):
        assert dst.geom_type == src.geom_type
        expected = np.column_stack(gcj02_to_wgs84(*_coords(src).T))
        np.testing.assert_allclose(_coords(dst), expected, rtol=0, atol=1e-12)
    assert len(out[0].interiors) == 1

    back = geometry_from_wgs84(out, "gcj02")
    for src, dst in ((polygon, back[0]), (line, back[2])):
        np.testing.assert_allclose(_coords(dst), _coords(src), rtol=0, atol=1e-9)


def test_geometry_bd09_and_epsg_and_single_geometry() -> None:
    line = shapely.LineString([(120.0, 30.0), (121.0, 29.5)])
    out = geometry_to_wgs84(line, "bd09")
    assert isinstance(out, shapely.LineString)
    np.testing.assert_allclose(_coords(out), np.column_stack(bd09_to_wgs84(*_coords(line).T)), atol=1e-12)

    merc = geometry_from_wgs84([line], "EPSG:3857")
    np.testing.assert_allclose(_coords(merc[0])[:, 0], 6378137.0 * np.radians(_coords(line)[:, 0]), rtol=0, atol=1e-3)
    np.testing.assert_allclose(_coords(geometry_to_wgs84(merc, 3857)[0]), _coords(line), atol=1e-9)

    same = geometry_to_wgs84([line], "cgcs2000")
    assert same[0].equals_exact(line, 0.0)


def test_geometry_keeps_z_and_accepts_geoseries() -> None:
    geopandas = pytest.importorskip("geopandas")
    line3d = shapely.LineString([(120.0, 30.0, 15.0), (120.5, 30.5, 25.0)])
    series = geopandas.GeoSeries([line3d, None], crs="EPSG:4326")
    out = geometry_from_wgs84(series, "gcj02")
    assert out.shape == (2,)
    assert out[1] is None
    coords = shapely.get_coordinates(out[0], include_z=True)
    np.testing.assert_array_equal(coords[:, 2], [15.0, 25.0])
    np.testing.assert_allclose(coords[:, :2], np.column_stack(wgs84_to_gcj02([120.0, 120.5], [30.0, 30.5])))


def test_geometry_with_many_vertices() -> None:
    # A boundary-sized ring (200,000 vertices) converts through one vectorised call; no timing asserted.
    t = np.linspace(0.0, 2 * np.pi, 200_000)
    ring = np.column_stack([120.5 + 0.8 * np.cos(t), 29.5 + 0.6 * np.sin(t)])
    ring[-1] = ring[0]
    polygon = shapely.Polygon(ring)
    out = geometry_to_wgs84([polygon], "gcj02")[0]
    got = _coords(out)
    assert got.shape == ring.shape
    idx = np.arange(0, len(ring), 9_973)
    expected = np.column_stack(gcj02_to_wgs84(ring[idx, 0], ring[idx, 1]))
    np.testing.assert_allclose(got[idx], expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------------------


def test_geodesic_distance() -> None:
    d = geodesic_distance_m(0.0, 0.0, 1.0, 0.0)
    assert isinstance(d, float)
    assert d == pytest.approx(111319.49, abs=0.01)  # one degree of longitude on the WGS84 equator
    many = geodesic_distance_m(np.array([[120.0, 121.0]]), 30.0, np.array([[120.0, 121.0]]), 30.0)
    assert many.shape == (1, 2)
    np.testing.assert_array_equal(many, 0.0)
    assert geodesic_distance_m(116.404, 39.915, 116.404, 39.915 + 1e-9) < ROUND_TRIP_M
