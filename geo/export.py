"""Export the stored records, as ingested, as a plain table — for a store that has no build yet.

Once a build is published, `riskmap export` goes through `layers.export` (every format, scored records,
regional levels). Here: ``id``, ``lon``, ``lat`` (WGS84; for lines and polygons a point on the surface), the
region codes, then every stored field; hazards add ``wkt`` with the full geometry. CSV is UTF-8 with a BOM so
that Excel shows Chinese text, and text that would start a formula is escaped (`geo.csvsafe`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geo.csvsafe import write_csv
from geo.errors import InputRejected
from geo.store import Store

FIRST = ["id", "lon", "lat", "province_adcode", "city_adcode", "county_adcode"]


def records_table(store: Store, what: str) -> pd.DataFrame:
    """The stored records as a flat table."""
    if what not in ("enterprises", "hazards", "resources"):
        raise InputRejected(f"cannot export {what!r} before a build; choose enterprises, hazards or resources")
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


def export_records(store: Store, what: str, fmt: str, out: Path) -> int:
    if fmt != "csv":
        raise InputRejected(f"--format {fmt}: before a build, records export as csv; run `riskmap build` first")
    table = records_table(store, what)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(table, out, date_format="%Y-%m-%d")  # formulas neutralised (geo.csvsafe)
    return len(table)
