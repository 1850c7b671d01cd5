"""The response layers over a snapshot: emergency resources (a marker per kind), the rescue-circle coverage
(the area reached within each band of minutes) and the per-region coverage shares, as tables and GeoJSON for
the maps, the exports and the OGC API collections. WGS84."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.catalogue import load_catalogue
from geo.response.config import load_response
from geo.snapshot import Snapshot, points_in_steps
from layers.styles import Styles, load_styles
from layers.view import DEFAULT_VIEW, MapView

#: the columns of a resource on the map, the API and the exports
RESOURCE_PROPS = [
    "id",
    "name",
    "kind",
    "kind_zh",
    "kind_en",
    "lon",
    "lat",
    "county_adcode",
    "city_adcode",
    "province_adcode",
    "capacity",
    "staff",
    "vehicles",
    "domain",
    "stock",
    "phone",
    "address",
    "glyph",
    "color",
]
#: the region properties the coverage choropleth reads (headline threshold); the export names them cover15_*
COVERAGE_PROPS = ("area", "units", "red", "orange", "sites")


def resource_table(
    snapshot: Snapshot, *, view: MapView = DEFAULT_VIEW, styles: Styles | None = None
) -> gpd.GeoDataFrame:
    """The build's resources with kind labels and marker, inside `view.parent` when given (WGS84 points)."""
    st = styles or load_styles()
    res = snapshot.resources()
    if not len(res):
        return gpd.GeoDataFrame({c: [] for c in RESOURCE_PROPS}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    if view.parent:
        codes = [c for c in ("province_adcode", "city_adcode", "county_adcode") if c in res.columns]
        res = res.loc[np.logical_or.reduce([res[c] == view.parent for c in codes])] if codes else res.iloc[0:0]
    frame = pd.DataFrame(res.drop(columns="geometry", errors="ignore")).reset_index(drop=True)
    cat = load_catalogue()
    kinds = {k.code: k for k in cat.resource_kinds}
    kind = frame["kind"].astype(object)
    present = [k for k in kind.unique() if isinstance(k, str)]  # a dozen kinds: looked up once each, then mapped
    frame["kind_zh"] = kind.map({k: kinds[k].zh if k in kinds else k for k in present})
    frame["kind_en"] = kind.map({k: kinds[k].en if k in kinds else k for k in present})
    frame["glyph"] = kind.map({k: st.resource_symbol(k).glyph for k in present})
    frame["color"] = kind.map({k: st.resource_symbol(k).color for k in present})
    for col in RESOURCE_PROPS:
        if col not in frame:
            frame[col] = None
    geoms = points_in_steps(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    return gpd.GeoDataFrame(frame[RESOURCE_PROPS], geometry=geoms, crs="EPSG:4326")


def coverage_table(snapshot: Snapshot, styles: Styles | None = None) -> gpd.GeoDataFrame:
    """The area reached within each band of minutes (one MultiPolygon per band; empty bands left out)."""
    st = styles or load_styles()
    zones = snapshot.rescue_zones()
    if not len(zones):
        cols = ["min_from", "min_to", "label", "area_km2", "method", "color"]
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    zones = zones.reset_index(drop=True)
    zones["color"] = [st.band_color(i) for i in range(len(zones))]
    zones["method"] = (snapshot.meta.get("rescue") or {}).get("method")
    zones = zones.loc[zones.geometry.notna() & ~zones.geometry.is_empty]
    return gpd.GeoDataFrame(zones, geometry="geometry", crs="EPSG:4326").reset_index(drop=True)


def with_coverage(frame: pd.DataFrame, snapshot: Snapshot) -> pd.DataFrame:
    """Regions with the rescue-circle shares of every threshold (empty without a rescue circle)."""
    cov = snapshot.rescue_regions()
    if not len(cov):
        return frame
    keep = [c for c in cov.columns if c.startswith("cover")] + ["unreached_red"]
    merged = frame.merge(cov[["adcode", *keep]], on="adcode", how="left")
    return type(frame)(merged) if isinstance(frame, gpd.GeoDataFrame) else merged


def coverage_summary(snapshot: Snapshot, adcode: str) -> dict[str, Any] | None:
    """One region's rescue circle: shares per threshold and the unreached red units (None: no rescue circle)."""
    import json

    cov = snapshot.rescue_regions()
    if not len(cov):
        return None
    row = cov.loc[cov["adcode"] == adcode]
    if not len(row):
        return None
    r = row.iloc[0]
    config = load_response()
    shares = {}
    for T in config.thresholds:
        lab = config.label(T)
        shares[lab] = {
            w: (None if pd.isna(r[f"cover{lab}_{w}"]) else float(r[f"cover{lab}_{w}"])) for w in COVERAGE_PROPS
        }
    return {
        "method": (snapshot.meta.get("rescue") or {}).get("method"),
        "thresholds": list(config.thresholds),
        "shares": shares,
        "counts": {k: int(r[k]) for k in ("n_cells", "n_units", "n_red", "n_orange", "n_sites")},
        "unreached_red": json.loads(r["unreached_red"]) if isinstance(r["unreached_red"], str) else [],
    }
