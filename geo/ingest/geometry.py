"""Source geometries of a batch: from the file, a WKT column or lon/lat columns; repaired, converted to WGS84,
and, for what lies outside the boundaries, the reason in words."""

from __future__ import annotations

import numpy as np
import shapely

from geo.crs import CrsSpec, geometry_to_wgs84
from geo.errors import InputRejected
from geo.ingest.batch import Batch
from geo.ingest.report import Report
from geo.join import Hierarchy, assign_geometries


def geometries(batch: Batch) -> np.ndarray:
    """Geometries in the source CRS: from the file, else a WKT column, else lon/lat points."""
    raw, values, rep = batch.raw, batch.values, batch.report
    geoms = np.full(len(values), None, dtype=object)
    if raw.geometry is not None:
        geoms = np.asarray(raw.geometry, dtype=object).copy()
    has_wkt_column = "wkt" in values  # the contract's wkt field, or a column of that name
    if has_wkt_column:
        wkt = values["wkt"].astype(object).where(values["wkt"].notna(), None).to_numpy(dtype=object)
        has = np.array([w is not None and w.strip() != "" for w in wkt], dtype=bool)
        parsed = np.full(len(wkt), None, dtype=object)
        if has.any():
            parsed[has] = shapely.from_wkt(wkt[has], on_invalid="ignore")
        bad = has & shapely.is_missing(parsed)
        if bad.any():
            reasons = np.empty(len(wkt), dtype=object)
            reasons[bad] = [f"'{w.strip()[:40]}' is not valid WKT (e.g. POINT (120.1 30.2))" for w in wkt[bad]]
            rep.reject(bad, "wkt", reasons)
        geoms = np.where(has, parsed, geoms)
    need = shapely.is_missing(geoms) & ~rep.rejected
    if need.any() and (got := _lonlat(batch, need, raw.geometry is not None or has_wkt_column)) is not None:
        lon, lat, ok = got
        geoms[ok] = shapely.points(lon[ok], lat[ok])
    field = "wkt" if has_wkt_column and raw.geometry is None else "geometry"
    rep.reject(shapely.is_missing(geoms), field, _no_geometry_reason(batch, has_wkt_column))
    return geoms


def _no_geometry_reason(batch: Batch, has_wkt_column: bool) -> str:
    where = [f"the {batch.mapping.get('wkt', 'wkt')} cell is empty"] if has_wkt_column else []
    if batch.raw.geometry is not None:
        where.insert(0, "the feature has no geometry")
    if "lon" in batch.values and "lat" in batch.values:
        where.append("no lon/lat (经度/纬度)")
    return "no geometry: " + ", ".join(where or ["no coordinates"])


#: Geometry type names by shapely type id.
_TYPE_NAMES = (
    "Point",
    "LineString",
    "LinearRing",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)


def check_geometry_types(geoms: np.ndarray, rep: Report, allowed: frozenset[str], kind: str) -> np.ndarray:
    """Rows whose geometry type `allowed` does not list: a collection whose parts share one dimension becomes
    the matching Multi* type (warned of); any other type is rejected, with the types accepted."""
    if not allowed:
        return geoms
    types = shapely.get_type_id(geoms)
    names = np.array(_TYPE_NAMES, dtype=object)
    present = types >= 0
    wrong = present & ~np.isin(names[np.maximum(types, 0)], sorted(allowed))
    if not wrong.any():
        return geoms
    geoms = geoms.copy()
    collected = np.flatnonzero(wrong & (types == 7))
    for i in collected:
        parts = shapely.get_parts(geoms[i])
        dims = set(shapely.get_dimensions(parts).tolist())
        multi = {0: shapely.multipoints, 1: shapely.multilinestrings, 2: shapely.multipolygons}
        if len(dims) == 1 and len(parts) and (made := multi[dims.pop()](parts)).geom_type in allowed:
            geoms[i] = made
            wrong[i] = False
            rep.warn(_one(len(geoms), int(i)), "geometry", f"GeometryCollection of one kind stored as {made.geom_type}")
    reasons = np.empty(len(geoms), dtype=object)
    reasons[wrong] = [
        f"a {names[t]} is not accepted for {kind} (accepted: {', '.join(sorted(allowed))}); split it by type"
        for t in types[wrong]
    ]
    rep.reject(wrong, "geometry", reasons)
    return geoms


def _one(n: int, i: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[i] = True
    return mask


def point_coordinates(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """`geometries` for a file of points or lon/lat columns, as coordinates in the source CRS (NaN: none)."""
    raw, rep = batch.raw, batch.report
    n = len(batch.values)
    if raw.points is not None:
        x, y = raw.points[0].copy(), raw.points[1].copy()
    else:
        x, y = np.full(n, np.nan), np.full(n, np.nan)
    need = np.isnan(x)
    if need.any() and (got := _lonlat(batch, need, raw.points is not None)) is not None:
        lon, lat, ok = got
        x[ok], y[ok] = lon[ok], lat[ok]
    rep.reject(np.isnan(x) | np.isnan(y), "geometry", "no geometry and no coordinates")
    return x, y


def _lonlat(batch: Batch, need: np.ndarray, has_geometry: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The lon/lat columns and which rows needing coordinates have them (the others are rejected); None when
    the file has no lon/lat columns but geometries of its own."""
    values = batch.values
    if "lon" not in values or "lat" not in values:
        if not has_geometry:
            raise InputRejected(
                f"{batch.path}: no lon/lat (经度/纬度) columns, no geometry column (wkt, 几何) and no geometry; "
                "add coordinates"
            )
        return None
    lon, lat = values["lon"].to_numpy(dtype="float64"), values["lat"].to_numpy(dtype="float64")
    missing = need & (np.isnan(lon) | np.isnan(lat))
    batch.report.reject(missing, "lon/lat", "missing coordinates (经度/纬度)")
    return lon, lat, need & ~missing


def repair(geoms: np.ndarray, rep: Report) -> np.ndarray:
    """Invalid geometries made valid when that keeps their dimension (warned), else rejected; empty ones
    rejected."""
    present = ~shapely.is_missing(geoms)
    valid = np.ones(len(geoms), dtype=bool)
    valid[present] = shapely.is_valid(geoms[present])
    broken = present & ~valid
    if broken.any():
        fixed = shapely.make_valid(geoms[broken])
        dims_before = shapely.get_dimensions(geoms[broken])
        parts_ok = np.array(
            [
                (not shapely.is_empty(f)) and max(shapely.get_dimensions(shapely.get_parts(f)), default=-1) == d
                for f, d in zip(fixed, dims_before, strict=True)
            ]
        )
        idx = np.flatnonzero(broken)
        every = np.arange(len(geoms))
        lost = idx[~parts_ok]
        reasons = np.full(len(geoms), "invalid geometry that cannot be repaired", dtype=object)
        zero = (shapely.get_dimensions(geoms[lost]) == 1) & (shapely.length(geoms[lost]) == 0)
        reasons[lost[zero]] = "zero-length line (all its points coincide)"
        rep.reject(np.isin(every, lost), "geometry", reasons)
        rep.warn(np.isin(every, idx[parts_ok]), "geometry", "invalid geometry repaired (make_valid)")
        keep = idx[parts_ok]
        geoms = geoms.copy()
        for i, f, d in zip(keep, fixed[parts_ok], dims_before[parts_ok], strict=True):
            parts = [p for p in shapely.get_parts(f) if shapely.get_dimensions(p) == d]
            geoms[i] = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    empty = present & shapely.is_empty(geoms)
    rep.reject(empty, "geometry", "empty geometry")
    return geoms


def to_wgs84_geoms(geoms: np.ndarray, spec: CrsSpec) -> np.ndarray:
    if len(geoms) == 0:
        return geoms
    return np.asarray(geometry_to_wgs84(geoms, spec), dtype=object)


def out_of_range(geoms: np.ndarray) -> np.ndarray:
    if len(geoms) == 0:
        return np.zeros(0, dtype=bool)
    xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
    return ~((xmin >= -180) & (xmax <= 180) & (ymin >= -90) & (ymax <= 90))


def outside_reasons(
    src: np.ndarray, spec: CrsSpec, hierarchy: Hierarchy, tolerance_m: float, dist: np.ndarray
) -> list[str]:
    """Why each point is outside: swapped lat/lon (if swapping lands inside), else how far off it is."""
    swapped_ok = _swapping_lands_inside(src, spec, hierarchy, tolerance_m)
    x, y = shapely.get_x(shapely.point_on_surface(src)), shapely.get_y(shapely.point_on_surface(src))
    out = []
    xmin, ymin, xmax, ymax = hierarchy.units.total_bounds
    for sw, d, lon, lat in zip(swapped_ok, dist, x, y, strict=True):
        if sw:
            out.append(
                f"latitude and longitude appear swapped (经度={lon:g}, 纬度={lat:g}); "
                "swap the lon/lat (经度/纬度) values or columns"
            )
        elif not (-180 <= lon <= 180 and -90 <= lat <= 90):
            out.append(
                f"coordinates out of range (经度={lon:g}, 纬度={lat:g}); longitude is -180..180, latitude -90..90"
            )
        elif np.isfinite(d):
            out.append(f"outside the loaded boundaries by {d:.0f} m (tolerance {tolerance_m:.0f} m)")
        else:
            out.append(
                f"outside the loaded boundaries (经度={lon:g}, 纬度={lat:g}; boundaries cover "
                f"{xmin:.2f}..{xmax:.2f} E, {ymin:.2f}..{ymax:.2f} N); check the coordinates and --crs"
            )
    return out


def _swapping_lands_inside(src: np.ndarray, spec: CrsSpec, hierarchy: Hierarchy, tolerance_m: float) -> np.ndarray:
    swapped_src = shapely.transform(src, lambda xy: xy[:, ::-1])
    swapped_ok = np.zeros(len(src), dtype=bool)
    in_range = ~out_of_range(swapped_src)
    if in_range.any():
        try:
            wgs = to_wgs84_geoms(swapped_src[in_range], spec)
            status = assign_geometries(wgs, hierarchy, tolerance_m)["join_status"].to_numpy()
            swapped_ok[np.flatnonzero(in_range)[status != "outside"]] = True
        except Exception:  # noqa: BLE001 - a failed swap test only means "not swapped"
            pass
    return swapped_ok
