"""A small, deterministic snapshot built over real boundaries — for map previews and tests before (or
without) a scoring build. It follows the snapshot contract (units, hazards, regions) but its levels are
*made up*: every fourth county is red, orange, yellow, blue in turn, so a map always shows all four colours.

    >>> from geo.boundaries import load_bundled
    >>> units, hazards, regions = sample_tables(load_bundled(), n_units=200)
    >>> sorted(regions["risk_level"].unique())
    ['blue', 'orange', 'red', 'yellow']
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.catalogue import LEVELS, load_catalogue

__all__ = ["sample_tables"]

_WORDS = ("化工", "机械", "建材", "物流", "燃气", "纺织", "冶金", "食品", "船舶", "建设")


def _points_in(geoms: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``counts[i]`` random points inside ``geoms[i]`` (rejection sampling in the bounding box)."""
    out = []
    for geom, k in zip(geoms, counts, strict=True):
        shapely.prepare(geom)
        w, s, e, n = geom.bounds
        got: list = []
        while len(got) < k:
            xs, ys = rng.uniform(w, e, 4 * k + 8), rng.uniform(s, n, 4 * k + 8)
            pts = shapely.points(xs, ys)
            got.extend(pts[shapely.contains(geom, pts)].tolist())
        out.extend(got[:k])
    return np.asarray(out, dtype=object)


def sample_tables(
    boundaries: gpd.GeoDataFrame,
    *,
    n_units: int = 400,
    seed: int = 0,
    hostile_name: str | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """(units, hazards, regions) for ``boundaries`` (WGS84, with province, city and county rows).

    ``hostile_name``, when given, becomes the name of the gravest enterprise (so it is a top contributor
    of its county, city and province), of the first hazard site and the text of one rule.
    """
    rng = np.random.default_rng(seed)
    cat = load_catalogue()
    domains = [d.code for d in cat.domains]
    counties = boundaries.loc[boundaries["admin_level"] == "county"].sort_values("adcode").reset_index(drop=True)
    parent = dict(zip(boundaries["adcode"], boundaries["parent_adcode"], strict=True))
    per = np.full(len(counties), n_units // len(counties))
    per[: n_units % len(counties)] += 1
    geoms = _points_in(counties.geometry.values, per, rng)
    county = np.repeat(counties["adcode"].to_numpy(), per)
    n = len(geoms)
    level_idx = rng.choice(4, size=n, p=[0.06, 0.14, 0.3, 0.5])
    score = np.round(np.array([80, 60, 40, 15])[level_idx] + rng.uniform(0, 15, n), 1)
    short = {a: str(nm)[:2] for a, nm in zip(counties["adcode"], counties["name"], strict=True)}
    names = np.array([f"{short[c]}{_WORDS[i % len(_WORDS)]}有限公司{i}" for i, c in enumerate(county)], dtype=object)
    if hostile_name is not None and n:
        names[int(np.argmax(score))] = hostile_name
    units = gpd.GeoDataFrame(
        {
            "id": [f"9133{i:014d}" for i in range(n)],
            "name": names,
            "domain": np.array(domains, dtype=object)[rng.integers(0, len(domains), n)],
            "industry": "化工",
            "address": [f"{c}号路{i}号" for i, c in enumerate(county)],
            "county_adcode": county,
            "city_adcode": [parent[c] for c in county],
            "province_adcode": [parent[parent[c]] for c in county],
            "lon": shapely.get_x(geoms),
            "lat": shapely.get_y(geoms),
            "risk_score": score,
            "risk_level": np.array(LEVELS, dtype=object)[level_idx],
            "override": np.array([None, "major_hidden_danger"], dtype=object)[(level_idx == 0).astype(int)],
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    hazards = _hazards(counties, rng, hostile_name)
    regions = _regions(boundaries, units, hazards, domains, hostile_name)
    return units, hazards, regions


def _hazards(counties: gpd.GeoDataFrame, rng: np.random.Generator, hostile_name: str | None) -> gpd.GeoDataFrame:
    cat = load_catalogue()
    rows = []
    for i, ht in enumerate(cat.hazard_types):
        for j in range(3):
            c = counties.iloc[(i * 7 + j * 13) % len(counties)]
            p = shapely.point_on_surface(c.geometry)
            if ht.geometry == "point":
                geom = p
            elif ht.geometry == "line":
                geom = shapely.LineString([(p.x - 0.03, p.y - 0.01), (p.x, p.y), (p.x + 0.03, p.y + 0.01)])
            else:
                geom = shapely.box(p.x - 0.02, p.y - 0.015, p.x + 0.02, p.y + 0.015)
            level = LEVELS[(i + j) % 4]
            rows.append(
                {
                    "id": f"HZ{i}{j}",
                    "name": f"{c['name']}{ht.zh}{j}",
                    "type": ht.code,
                    "risk_level": level,
                    "level": level,
                    "risk_score": 30.0 + 10 * ((i + j) % 4),
                    "population": int(rng.integers(0, 500)),
                    "status": "active",
                    "county_adcode": c["adcode"],
                    "geometry": geom,
                }
            )
    if hostile_name is not None:
        rows[0]["name"] = hostile_name
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def _top(units: pd.DataFrame) -> list[dict[str, Any]]:
    top = units.sort_values("risk_score", ascending=False).head(5)
    return [
        {
            "id": r.id,
            "name": r.name,
            "domain": r.domain,
            "risk_level": r.risk_level,
            "risk_score": float(r.risk_score),
            "contribution": round(float(r.risk_score) / 10, 2),
        }
        for r in top.itertuples()
    ]


def _regions(
    boundaries: gpd.GeoDataFrame, units: pd.DataFrame, hazards: pd.DataFrame, domains: list[str], hostile: str | None
) -> pd.DataFrame:
    rows = []
    ordered = boundaries.sort_values(["level_rank", "adcode"]).reset_index(drop=True)
    by_col = {col: dict(tuple(units.groupby(col))) for col in ("province_adcode", "city_adcode", "county_adcode")}
    empty = units.iloc[0:0]
    for i, b in ordered.iterrows():
        col = {"province": "province_adcode", "city": "city_adcode"}.get(b["admin_level"], "county_adcode")
        inside_all = by_col[col].get(b["adcode"], empty)
        hz_inside = hazards.loc[hazards["county_adcode"].isin(set(inside_all["county_adcode"]))]
        n_hz = len(hz_inside)
        site_counts = hz_inside["risk_level"].value_counts()
        by_domain = dict(tuple(inside_all.groupby("domain")))
        for d_i, domain in enumerate(["all", *domains]):
            inside = inside_all if domain == "all" else by_domain.get(domain, empty)
            level = LEVELS[(i + d_i) % 4]
            counts = inside["risk_level"].value_counts()
            rules = [f"{int(counts.get('red', 0))} red units → at least orange"] if counts.get("red", 0) else []
            if hostile and i == 0 and domain == "all":
                rules.append(hostile)
            rows.append(
                {
                    "adcode": b["adcode"],
                    "name": b["name"],
                    "admin_level": b["admin_level"],
                    "parent_adcode": b["parent_adcode"],
                    "domain": domain,
                    "risk_index": float(85 - 20 * LEVELS.index(level)),
                    "risk_level": level,
                    "risk_level_zh": load_catalogue().level(level).zh,
                    **{f"n_{lv}_units": int(counts.get(lv, 0)) for lv in LEVELS},
                    "n_units": len(inside),
                    **{f"n_{lv}_sites": int(site_counts.get(lv, 0)) for lv in LEVELS},
                    "n_hazards": n_hz,
                    "rules": rules,
                    "explanation": {"domain": domain, "top_units": _top(inside)},
                }
            )
    return pd.DataFrame(rows)
