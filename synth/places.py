"""Where things are: the counties as sampled, industrial parks, and random points inside counties."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from geo.errors import CRSUnknown
from synth.names import park_names, short_name

KM_PER_DEG = 111.32


@dataclass(frozen=True)
class Counties:
    """The demo counties as arrays, one entry per county."""

    codes: np.ndarray  # str adcodes
    names: np.ndarray  # full names (object)
    short: np.ndarray  # names without 区/县/市 (object)
    city: np.ndarray  # parent adcode (object)
    geoms: np.ndarray  # prepared shapely geometries
    bounds: np.ndarray  # (n, 4)
    seat_x: np.ndarray
    seat_y: np.ndarray
    area_km2: np.ndarray
    size: np.ndarray  # random "economic size", sums to 1

    def __len__(self) -> int:
        return len(self.codes)


def prepare_counties(
    counties: gpd.GeoDataFrame, rng: np.random.Generator, province_weights: dict[str, float] | None = None
) -> Counties:
    """The counties (EPSG:4326; adcode, name, optional parent_adcode) as arrays, with a random economic size.
    With `province_weights` (province adcode → weight), each province's counties together get its share of the
    weights present (a province without a weight gets none), the random sizes dividing it among them."""
    crs = counties.crs
    if crs is None or crs.to_epsg() not in (4326, 4490):
        raise CRSUnknown(
            f"demo counties must be in EPSG:4326 (WGS84), got {crs!r}; reproject them with "
            "counties.to_crs(4326) (or set_crs(4326) if the coordinates already are WGS84)"
        )
    missing = {"adcode", "name", "geometry"} - set(counties.columns)
    if missing or len(counties) == 0:
        raise ValueError(f"demo counties need columns adcode, name, geometry and at least one row; missing {missing}")
    codes = counties["adcode"].astype(str).to_numpy()
    names = counties["name"].fillna("").astype(str).to_numpy(dtype=object)
    if "parent_adcode" in counties.columns:
        city = counties["parent_adcode"].fillna("").astype(str).to_numpy(dtype=object)
    else:
        city = np.array([c[:4] + "00" for c in codes], dtype=object)
    geoms = shapely.make_valid(np.asarray(counties.geometry.values, dtype=object))
    shapely.prepare(geoms)
    seats = shapely.get_coordinates(shapely.point_on_surface(geoms))
    lat_cos = np.cos(np.radians(seats[:, 1]))
    area_km2 = shapely.area(geoms) * KM_PER_DEG**2 * lat_cos
    size = rng.lognormal(0.0, 0.8, len(codes)) * np.sqrt(np.maximum(area_km2, 1.0))
    if province_weights is not None:
        size = _weighted(size, codes, province_weights)
    return Counties(
        codes=codes,
        names=names,
        short=np.array([short_name(n) for n in names], dtype=object),
        city=city,
        geoms=geoms,
        bounds=shapely.bounds(geoms),
        seat_x=seats[:, 0],
        seat_y=seats[:, 1],
        area_km2=area_km2,
        size=size / size.sum(),
    )


def _weighted(size: np.ndarray, codes: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    province = np.array([str(c)[:2] + "0000" for c in codes])
    provinces, idx = np.unique(province, return_inverse=True)
    w = np.array([max(0.0, float(weights.get(p, 0.0))) for p in provinces])
    if w.sum() <= 0:
        raise ValueError(f"no province of the demo's counties ({', '.join(provinces)}) has a weight above 0")
    per_province = np.bincount(idx, weights=size, minlength=len(provinces))
    return size / per_province[idx] * (w / w.sum())[idx]


def _group(idx: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Positions of `idx` grouped by value 0..n_groups-1 (one argsort, no per-group scan)."""
    order = np.argsort(idx, kind="stable")
    cuts = np.cumsum(np.bincount(idx, minlength=n_groups))[:-1]
    return np.split(order, cuts)


def _uniform_in(rng: np.random.Generator, c: Counties, county: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k points uniformly inside one county (vectorised rejection sampling in its bounding box)."""
    minx, miny, maxx, maxy = c.bounds[county]
    geom = c.geoms[county]
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    got = 0
    for _ in range(200):
        if got >= k:
            break
        m = max(64, 3 * (k - got))
        x = np.round(rng.uniform(minx, maxx, m), 6)  # test what will be written (6 decimals)
        y = np.round(rng.uniform(miny, maxy, m), 6)
        inside = shapely.contains_xy(geom, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        got += int(inside.sum())
    if got < k:  # a sliver county: fall back to its seat
        xs.append(np.full(k, c.seat_x[county]))
        ys.append(np.full(k, c.seat_y[county]))
    return np.concatenate(xs)[:k], np.concatenate(ys)[:k]


def uniform_many(rng: np.random.Generator, c: Counties, county_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One uniform point inside county county_idx[i] for every i."""
    x = np.empty(len(county_idx))
    y = np.empty(len(county_idx))
    for county, pos in enumerate(_group(county_idx, len(c))):
        if len(pos):
            x[pos], y[pos] = _uniform_in(rng, c, county, len(pos))
    return x, y


def scatter(
    rng: np.random.Generator,
    c: Counties,
    county_idx: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    sigma_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian scatter around (cx, cy), resampling points that fall outside their county."""
    x = np.empty(len(cx))
    y = np.empty(len(cy))
    for county, pos in enumerate(_group(county_idx, len(c))):
        todo = pos
        for _ in range(30):
            if len(todo) == 0:
                break
            sig_y = sigma_km[todo] / KM_PER_DEG
            sig_x = sig_y / np.cos(np.radians(cy[todo]))
            px = np.round(cx[todo] + rng.normal(0.0, 1.0, len(todo)) * sig_x, 6)
            py = np.round(cy[todo] + rng.normal(0.0, 1.0, len(todo)) * sig_y, 6)
            inside = shapely.contains_xy(c.geoms[county], px, py)
            x[todo[inside]], y[todo[inside]] = px[inside], py[inside]
            todo = todo[~inside]
        if len(todo):
            x[todo], y[todo] = _uniform_in(rng, c, county, len(todo))
    return x, y


@dataclass(frozen=True)
class Parks:
    """Industrial parks, one entry per park."""

    county: np.ndarray  # county index of each park
    x: np.ndarray
    y: np.ndarray
    name: np.ndarray  # object


def make_parks(rng: np.random.Generator, c: Counties) -> Parks:
    """A few industrial parks per city, each at a random point inside one of the city's counties."""
    county_of_park: list[int] = []
    for city in sorted(set(c.city)):
        members = np.flatnonzero(c.city == city)
        k = int(rng.integers(2, 5))
        if c.size[members].sum() <= 0:
            continue  # a city of a province weighted 0 gets no units, so no parks
        p = c.size[members] / c.size[members].sum()
        county_of_park.extend(rng.choice(members, size=k, p=p).tolist())
    county = np.asarray(county_of_park, dtype=np.int64)
    x, y = uniform_many(rng, c, county)
    return Parks(county=county, x=x, y=y, name=park_names(rng, c.short[county]))


def county_of(c: Counties, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of a county each point touches (the last one found where several do; 0 where none)."""
    county = np.zeros(len(x), dtype=np.int64)
    tree = shapely.STRtree(c.geoms)
    hits = tree.query(shapely.points(x, y), predicate="intersects")
    county[hits[0]] = hits[1]
    return county
