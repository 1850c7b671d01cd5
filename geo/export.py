"""Export records and regional levels as plain tables (the map formats live in `layers.export`).

Records: ``id``, ``lon``, ``lat`` (WGS84; for lines and polygons a point on the surface), the region codes,
then every stored field; with a published build, enterprises and hazards add ``risk_score``, ``risk_level``
and ``override``; hazards add ``wkt`` with the full geometry. Regions: one row per region of a level for one
domain (see REGION_COLUMNS). CSV is UTF-8 with a BOM so that Excel shows Chinese text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geo.errors import InputRejected, StoreEmpty
from geo.store import Store

FIRST = [
    "id",
    "lon",
    "lat",
    "province_adcode",
    "city_adcode",
    "county_adcode",
    "risk_score",
    "risk_level",
    "override",
]
REGION_COLUMNS = [
    "adcode", "name", "parent_adcode", "admin_level", "domain", "risk_level", "risk_level_zh", "risk_index",
    "n_red", "n_orange", "n_yellow", "n_blue", "n_units", "n_hazards", "rules",
]  # fmt: skip


def _published(store: Store):
    from geo.snapshot import current

    try:
        return current(store)
    except StoreEmpty:
        return None


def records_table(store: Store, what: str) -> pd.DataFrame:
    """The stored records (scored, when a build is published) as a flat table."""
    if what not in ("enterprises", "hazards"):
        raise InputRejected(f"cannot export {what!r}; choose enterprises or hazards")
    snap = _published(store)
    if snap is not None:
        frame = snap.units() if what == "enterprises" else snap.hazards()
    else:
        frame = store.read(what)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    reps = shapely.point_on_surface(geoms)
    table["lon"] = np.round(shapely.get_x(reps), 7)
    table["lat"] = np.round(shapely.get_y(reps), 7)
    if what == "hazards":
        table["wkt"] = shapely.to_wkt(geoms, rounding_precision=7)
    ordered = [c for c in FIRST if c in table.columns] + [c for c in table.columns if c not in FIRST]
    return table[ordered]


def regions_table(store: Store, level: str = "county", domain: str = "all") -> pd.DataFrame:
    from geo.snapshot import current

    regions = current(store).regions()
    levels = sorted(set(regions["admin_level"]))
    if level not in levels:
        raise InputRejected(f"--level {level}: the build has levels {', '.join(levels)}")
    domains = sorted(set(regions["domain"]))
    if domain not in domains:
        raise InputRejected(f"--domain {domain}: choose one of {', '.join(domains)}")
    sel = regions.loc[(regions["admin_level"] == level) & (regions["domain"] == domain)].copy()
    sel["rules"] = sel["rules"].map(lambda r: "; ".join(r) if r else "")
    return sel[[c for c in REGION_COLUMNS if c in sel.columns]].sort_values("adcode").reset_index(drop=True)


def export_records(store: Store, what: str, fmt: str, out: Path, *, level: str = "county", domain: str = "all") -> int:
    table = regions_table(store, level, domain) if what == "regions" else records_table(store, what)
    if fmt != "csv":
        raise InputRejected(f"--format {fmt}: this export writes csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, encoding="utf-8-sig", date_format="%Y-%m-%d")
    return len(table)
