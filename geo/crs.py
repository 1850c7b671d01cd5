"""Coordinate systems riskmap understands, and vectorised conversions between them.

Four names are accepted (see :func:`parse_crs`):

* ``wgs84`` -- GPS coordinates, EPSG:4326. ``cgcs2000`` (EPSG:4490, official Chinese surveys) is treated as
  the same system: the two frames differ by well under a metre, far below the accuracy of census coordinates,
  so riskmap applies no datum shift between them. The store holds everything in WGS84.
* ``gcj02`` -- the obfuscated system used by Amap/Gaode and Tencent (火星坐标): WGS84 plus a public,
  non-linear offset of about 100-700 m, computed on the Krasovsky ellipsoid.
* ``bd09`` -- Baidu's further transform of GCJ-02.
* ``EPSG:<code>`` -- any horizontal CRS known to PROJ (lower case and bare integers are accepted too).

GCJ-02 only applies inside a rough bounding box of China (lon 72.004-137.8347, lat 0.8293-55.8271): the GCJ-02
functions return points outside it unchanged, as the public formula does. The inside/outside test is made on
the *input* point of each function. The BD-09 step (GCJ-02 <-> BD-09) is a small closed formula applied
everywhere.

Neither inverse has a closed form: :func:`gcj02_to_wgs84` and :func:`bd09_to_gcj02` solve the forward
transform by fixed-point iteration, vectorised over the whole array, until every point reproduces its input to
better than ``INVERSE_TOLERANCE_DEG`` (1e-10 degrees, about 0.01 mm), and raise :class:`TransformNotConverged`
otherwise.

Every function here is pure numpy/pyproj/shapely, takes scalars or arrays, and never loops over points in
Python.
Longitudes come first everywhere (x, y), whatever the official axis order of a CRS.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from geo.errors import CRSUnknown, RiskmapError

__all__ = [
    "ACCEPTED_CRS_NAMES",
    "BD09",
    "CHINA_BBOX",
    "CrsSpec",
    "GCJ02",
    "INVERSE_TOLERANCE_DEG",
    "TransformNotConverged",
    "WGS84",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geodesic_distance_m",
    "geometry_from_wgs84",
    "geometry_to_wgs84",
    "in_china",
    "parse_crs",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

ArrayLike: TypeAlias = npt.ArrayLike
FloatOrArray: TypeAlias = float | npt.NDArray[np.float64]
CrsKind: TypeAlias = Literal["wgs84", "gcj02", "bd09", "epsg"]

# Krasovsky 1940 ellipsoid, as used by the public GCJ-02 formula.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# BD-09 constant: pi * 3000 / 180.
_BD_X_PI = np.pi * 3000.0 / 180.0
_BD_DX = 0.0065
_BD_DY = 0.006

#: (min_lon, min_lat, max_lon, max_lat): the rough box inside which GCJ-02 offsets apply.
CHINA_BBOX: tuple[float, float, float, float] = (72.004, 0.8293, 137.8347, 55.8271)

#: Both inverses iterate until |forward(result) - input| is below this, in degrees, for every point.
INVERSE_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 30


class TransformNotConverged(RiskmapError):
    """An iterative inverse (GCJ-02 -> WGS84 or BD-09 -> GCJ-02) did not reach its tolerance."""


# ---------------------------------------------------------------------------------------------------------
# Array plumbing
# ---------------------------------------------------------------------------------------------------------


def _as_xy(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    """Broadcast two coordinate inputs to float64 arrays; also report whether both were scalars."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x, y, scalar


def _result(x: np.ndarray, y: np.ndarray, scalar: bool) -> tuple[FloatOrArray, FloatOrArray]:
    """Return floats for scalar input, arrays otherwise."""
    if scalar:
        return float(x), float(y)
    return x, y


def in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a point lies in :data:`CHINA_BBOX` (where GCJ-02 offsets apply); False for NaN."""
    x, y, _ = _as_xy(lon, lat)
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    return (x >= min_lon) & (x <= max_lon) & (y >= min_lat) & (y <= max_lat)


def _fixed_point_inverse(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    tx: np.ndarray,
    ty: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    what: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x, y) == (tx, ty)`` for 1-D arrays by fixed-point iteration.

    Each step moves every unconverged point by its current residual; the forward transforms here are the
    identity plus a slowly varying offset, so the error shrinks by a factor of 50 or more per step. Only the
    points still above tolerance are recomputed.
    """
    x, y = x0.copy(), y0.copy()
    active = np.arange(x.size)
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x[active], y[active])
        ex, ey = fx - tx[active], fy - ty[active]
        x[active] -= ex
        y[active] -= ey
        done = (np.abs(ex) < INVERSE_TOLERANCE_DEG) & (np.abs(ey) < INVERSE_TOLERANCE_DEG)
        active = active[~done]
        if active.size == 0:
            return x, y
    i = int(active[0])
    raise TransformNotConverged(
        f"{what}: {active.size} point(s) did not converge to {INVERSE_TOLERANCE_DEG:g} degrees in "
        f"{_MAX_ITERATIONS} iterations, e.g. ({tx[i]!r}, {ty[i]!r}). Check that the input is really in this "
        "coordinate system and lies in or near China."
    )


# ---------------------------------------------------------------------------------------------------------
# WGS84 <-> GCJ-02
# ---------------------------------------------------------------------------------------------------------


def _gcj02_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The public GCJ-02 offset (d_lon, d_lat) in degrees at WGS84 (lon, lat), with no China test."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    shared = (20.0 * np.sin(6.0 * pi * x) + 20.0 * np.sin(2.0 * pi * x)) * (2.0 / 3.0)
    sqrt_abs_x = np.sqrt(np.abs(x))

    north_m = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    north_m += shared
    north_m += (20.0 * np.sin(pi * y) + 40.0 * np.sin(pi * y / 3.0)) * (2.0 / 3.0)
    north_m += (160.0 * np.sin(pi * y / 12.0) + 320.0 * np.sin(pi * y / 30.0)) * (2.0 / 3.0)

    east_m = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    east_m += shared
    east_m += (20.0 * np.sin(pi * x) + 40.0 * np.sin(pi * x / 3.0)) * (2.0 / 3.0)
    east_m += (150.0 * np.sin(pi * x / 12.0) + 300.0 * np.sin(pi * x / 30.0)) * (2.0 / 3.0)

    # Metres to degrees on the Krasovsky ellipsoid: meridian and prime-vertical radii of curvature.
    phi = np.radians(lat)
    w2 = 1.0 - _KRASOVSKY_EE * np.sin(phi) ** 2
    w = np.sqrt(w2)
    meridian_radius = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (w2 * w)
    parallel_radius = _KRASOVSKY_A / w * np.cos(phi)
    d_lat = np.degrees(north_m / meridian_radius)
    d_lon = np.degrees(east_m / parallel_radius)
    return d_lon, d_lat


def _gcj02_forward_unmasked(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d_lon, d_lat = _gcj02_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def _wgs84_to_gcj02_arr(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_x, out_y = x.copy(), y.copy()
    inside = in_china(x, y)
    out_x[inside], out_y[inside] = _gcj02_forward_unmasked(x[inside], y[inside])
    return out_x, out_y


def _gcj02_to_wgs84_arr(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_x, out_y = x.copy(), y.copy()
    inside = in_china(x, y)
    if inside.any():
        gx, gy = x[inside], y[inside]
        d_lon, d_lat = _gcj02_offset(gx, gy)
        out_x[inside], out_y[inside] = _fixed_point_inverse(
            _gcj02_forward_unmasked, gx, gy, gx - d_lon, gy - d_lat, "GCJ-02 -> WGS84"
        )
    return out_x, out_y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """WGS84 -> GCJ-02 with the public formula. Points outside :data:`CHINA_BBOX` (and NaN) are unchanged.

    Takes scalars or arrays (broadcast together); returns floats for scalars, float64 arrays otherwise.
    """
    x, y, scalar = _as_xy(lon, lat)
    return _result(*_wgs84_to_gcj02_arr(x, y), scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """GCJ-02 -> WGS84, iterated to exactness. Points outside :data:`CHINA_BBOX` (and NaN) are unchanged.

    The result reproduces the input through the forward formula to within ``INVERSE_TOLERANCE_DEG``.
    Raises :class:`TransformNotConverged` if any point does not converge.
    """
    x, y, scalar = _as_xy(lon, lat)
    return _result(*_gcj02_to_wgs84_arr(x, y), scalar)


# ---------------------------------------------------------------------------------------------------------
# GCJ-02 <-> BD-09
# ---------------------------------------------------------------------------------------------------------


def _bd09_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    radius = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return radius * np.cos(theta) + _BD_DX, radius * np.sin(theta) + _BD_DY


def _bd09_approx_inverse(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The usual closed-form BD-09 -> GCJ-02 approximation (good to about 1e-6 degrees)."""
    x = lon - _BD_DX
    y = lat - _BD_DY
    radius = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return radius * np.cos(theta), radius * np.sin(theta)


def _bd09_to_gcj02_arr(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_x, out_y = x.copy(), y.copy()
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.any():
        bx, by = x[finite], y[finite]
        x0, y0 = _bd09_approx_inverse(bx, by)
        out_x[finite], out_y[finite] = _fixed_point_inverse(_bd09_forward, bx, by, x0, y0, "BD-09 -> GCJ-02")
    return out_x, out_y


def _wgs84_to_bd09_arr(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _bd09_forward(*_wgs84_to_gcj02_arr(x, y))


def _bd09_to_wgs84_arr(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _gcj02_to_wgs84_arr(*_bd09_to_gcj02_arr(x, y))


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """GCJ-02 -> BD-09 (Baidu's closed formula, applied everywhere; NaN stays NaN)."""
    x, y, scalar = _as_xy(lon, lat)
    return _result(*_bd09_forward(x, y), scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """BD-09 -> GCJ-02: the closed-form approximation refined by iteration against :func:`gcj02_to_bd09`.

    Raises :class:`TransformNotConverged` if any point does not converge. Non-finite input stays as it is.
    """
    x, y, scalar = _as_xy(lon, lat)
    return _result(*_bd09_to_gcj02_arr(x, y), scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """WGS84 -> BD-09 (via GCJ-02; the GCJ-02 step leaves points outside China unchanged)."""
    x, y, scalar = _as_xy(lon, lat)
    return _result(*_wgs84_to_bd09_arr(x, y), scalar)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """BD-09 -> WGS84 (both inverse steps iterated to exactness)."""
    x, y, scalar = _as_xy(lon, lat)
    return _result(*_bd09_to_wgs84_arr(x, y), scalar)


# ---------------------------------------------------------------------------------------------------------
# CRS registry
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrsSpec:
    """A parsed coordinate reference system.

    ``name`` is normalised ('wgs84', 'gcj02', 'bd09' or 'EPSG:<code>'); ``kind`` says how to convert;
    ``epsg`` is the EPSG code where one exists (4326 for the WGS84/CGCS2000 family, None for GCJ-02/BD-09).
    """

    name: str
    kind: CrsKind
    epsg: int | None = None


WGS84 = CrsSpec("wgs84", "wgs84", 4326)
GCJ02 = CrsSpec("gcj02", "gcj02", None)
BD09 = CrsSpec("bd09", "bd09", None)

_NAMED: dict[str, CrsSpec] = {"wgs84": WGS84, "cgcs2000": WGS84, "gcj02": GCJ02, "bd09": BD09}
#: The names accepted by :func:`parse_crs` (any case), for CLI help.
ACCEPTED_CRS_NAMES: tuple[str, ...] = (*_NAMED, "EPSG:<code>")
# EPSG codes that are the WGS84/CGCS2000 family: no transformation at all (sub-metre difference ignored).
_WGS84_FAMILY_EPSG = frozenset({4326, 4490})
_EPSG_RE = re.compile(r"^epsg\s*:\s*(\d+)$")
_ACCEPTED_HELP = (
    "accepted: wgs84, cgcs2000 (EPSG:4490, treated as wgs84), gcj02 (Amap/Gaode, Tencent), bd09 (Baidu), "
    "or EPSG:<code> for any horizontal CRS known to PROJ (e.g. EPSG:4326, EPSG:3857, EPSG:4549; "
    "'epsg:4326' and a bare 4326 also work)"
)


def _unknown(name: object, why: str = "") -> CRSUnknown:
    detail = f" ({why})" if why else ""
    return CRSUnknown(f"Unknown coordinate system {name!r}{detail}; {_ACCEPTED_HELP}.")


def _epsg_spec(code: int, original: object) -> CrsSpec:
    if code in _WGS84_FAMILY_EPSG:
        return WGS84
    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError as exc:
        raise _unknown(original, f"PROJ does not know EPSG:{code}") from exc
    if not (crs.is_geographic or crs.is_projected):
        raise _unknown(original, f"EPSG:{code} is {crs.type_name!r}, not a horizontal 2D CRS")
    return CrsSpec(f"EPSG:{code}", "epsg", code)


def parse_crs(name: str | int | CrsSpec) -> CrsSpec:
    """Parse a CRS name as the CLI and API accept it.

    Accepts 'wgs84', 'cgcs2000', 'gcj02', 'bd09' (any case), 'EPSG:<code>' / 'epsg:<code>', a bare integer
    code (int or digit string), or an existing :class:`CrsSpec`. EPSG:4326 and EPSG:4490 (CGCS2000) both
    give the 'wgs84' spec. Raises :class:`geo.errors.CRSUnknown`, listing the accepted names, otherwise.
    """
    if isinstance(name, CrsSpec):
        return name
    if isinstance(name, bool):
        raise _unknown(name)
    if isinstance(name, int | np.integer):
        return _epsg_spec(int(name), name)
    if not isinstance(name, str):
        raise _unknown(name, f"expected a string or an integer, got {type(name).__name__}")
    key = name.strip().lower()
    if key in _NAMED:
        return _NAMED[key]
    match = _EPSG_RE.match(key)
    if match:
        return _epsg_spec(int(match.group(1)), name)
    if key.isdigit():
        return _epsg_spec(int(key), name)
    raise _unknown(name)


@functools.lru_cache(maxsize=64)
def _transformer(src_epsg: int, dst_epsg: int) -> pyproj.Transformer:
    """A cached, thread-safe (pyproj >= 3.1) transformer with lon/lat (x/y) axis order on both sides."""
    return pyproj.Transformer.from_crs(pyproj.CRS.from_epsg(src_epsg), pyproj.CRS.from_epsg(dst_epsg), always_xy=True)


def _epsg_transform(src: int, dst: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tx, ty = _transformer(src, dst).transform(x.ravel(), y.ravel())
    shape = x.shape
    return np.asarray(tx, dtype=np.float64).reshape(shape), np.asarray(ty, dtype=np.float64).reshape(shape)


def _epsg_of(spec: CrsSpec) -> int:
    if spec.epsg is None:
        raise _unknown(spec.name, f"kind {spec.kind!r} has no EPSG code")
    return spec.epsg


_ArrayConvert: TypeAlias = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
_TO_WGS84: dict[str, _ArrayConvert] = {"gcj02": _gcj02_to_wgs84_arr, "bd09": _bd09_to_wgs84_arr}
_FROM_WGS84: dict[str, _ArrayConvert] = {"gcj02": _wgs84_to_gcj02_arr, "bd09": _wgs84_to_bd09_arr}


def _to_wgs84_arrays(x: np.ndarray, y: np.ndarray, spec: CrsSpec) -> tuple[np.ndarray, np.ndarray]:
    if spec.kind == "wgs84":
        return x.copy(), y.copy()
    if spec.kind == "epsg":
        return _epsg_transform(_epsg_of(spec), 4326, x, y)
    return _TO_WGS84[spec.kind](x, y)


def _from_wgs84_arrays(x: np.ndarray, y: np.ndarray, spec: CrsSpec) -> tuple[np.ndarray, np.ndarray]:
    if spec.kind == "wgs84":
        return x.copy(), y.copy()
    if spec.kind == "epsg":
        return _epsg_transform(4326, _epsg_of(spec), x, y)
    return _FROM_WGS84[spec.kind](x, y)


def to_wgs84(x: ArrayLike, y: ArrayLike, spec: CrsSpec | str | int) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert coordinates in ``spec`` to WGS84 (lon, lat). Input and output are x/lon first.

    For EPSG systems pyproj is used with ``always_xy=True``, so an official lat,lon axis order (EPSG:4490)
    never leaks.
    """
    spec = parse_crs(spec)
    ax, ay, scalar = _as_xy(x, y)
    return _result(*_to_wgs84_arrays(ax, ay, spec), scalar)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, spec: CrsSpec | str | int) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert WGS84 (lon, lat) to coordinates (x, y) in ``spec`` (for geographic systems x is lon)."""
    spec = parse_crs(spec)
    ax, ay, scalar = _as_xy(lon, lat)
    return _result(*_from_wgs84_arrays(ax, ay, spec), scalar)


# ---------------------------------------------------------------------------------------------------------
# Geometries
# ---------------------------------------------------------------------------------------------------------


_SpecConvert: TypeAlias = Callable[[np.ndarray, np.ndarray, CrsSpec], tuple[np.ndarray, np.ndarray]]
#: Geometry input: a shapely geometry, None, or an array-like of them (ndarray, list, GeoSeries).
GeometryLike: TypeAlias = "shapely.Geometry | None | npt.ArrayLike"
#: Geometry output: an object ndarray of the input's shape, or a single geometry (or None) for a single one.
GeometryResult: TypeAlias = "npt.NDArray[np.object_] | shapely.Geometry | None"


def _coords_func(convert: _SpecConvert, spec: CrsSpec) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap an array converter as a shapely.transform callback on an (N, 2) or (N, 3) coordinate array."""

    def func(coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=np.float64, copy=True)
        out[:, 0], out[:, 1] = convert(out[:, 0], out[:, 1], spec)
        return out

    return func


def _transform_geoms(geoms: GeometryLike, spec: CrsSpec, convert: _SpecConvert) -> GeometryResult:
    if geoms is None or isinstance(geoms, shapely.Geometry):
        if spec.kind == "wgs84" or geoms is None:
            return geoms
        arr: np.ndarray | shapely.Geometry = geoms
    else:
        arr = np.asarray(geoms, dtype=object)
        if spec.kind == "wgs84":
            return arr.copy()
    # Every vertex of every geometry goes through `convert` in one array call (two when 2D and 3D geometries
    # are mixed: include_z=None keeps each geometry's dimensionality, z passing through untouched).
    return shapely.transform(arr, _coords_func(convert, spec), include_z=None)


def geometry_to_wgs84(geoms: GeometryLike, spec: CrsSpec | str | int) -> GeometryResult:
    """Convert shapely geometries (ndarray, GeoSeries, list, or a single geometry) from ``spec`` to WGS84.

    All vertices are converted in one vectorised call, so boundaries with millions of vertices are fast.
    None and empty geometries pass through; z values are kept. Returns an object ndarray of the input's
    shape (wrap it in a GeoSeries with ``crs="EPSG:4326"`` if needed), or a single geometry for a single one.
    """
    return _transform_geoms(geoms, parse_crs(spec), _to_wgs84_arrays)


def geometry_from_wgs84(geoms: GeometryLike, spec: CrsSpec | str | int) -> GeometryResult:
    """Convert shapely geometries from WGS84 to ``spec``; see :func:`geometry_to_wgs84`."""
    return _transform_geoms(geoms, parse_crs(spec), _from_wgs84_arrays)


# ---------------------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------------------

_GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_distance_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> FloatOrArray:
    """Geodesic distance in metres on the WGS84 ellipsoid between WGS84 points (inputs broadcast together)."""
    scalar = all(np.ndim(v) == 0 for v in (lon1, lat1, lon2, lat2))
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2)))
    shape = arrays[0].shape
    lo1, la1, lo2, la2 = (np.ascontiguousarray(a).ravel() for a in arrays)
    _, _, dist = _GEOD.inv(lo1, la1, lo2, la2)
    dist = np.asarray(dist, dtype=np.float64).reshape(shape)
    return float(dist) if scalar else dist
