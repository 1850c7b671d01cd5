"""Pure functions from snapshot tables to GeoJSON dicts (RFC 7946: WGS84 lon,lat; exterior rings
counter-clockwise; no ``crs`` member) and to flat attribute tables for the exports.

Nothing here reads files or renders HTML: the map page (`layers.maps`), the exports (`layers.export`)
and the service (`api/`) all call these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.catalogue import LEVELS
from geo.errors import BoundaryNotFound
from geo.scoring.regions import OUTPUT_COLUMNS as REGION_COLUMNS
from layers.clusters import PointIndex, cluster_points
from layers.styles import Styles, load_styles
from layers.view import DEFAULT_VIEW, MapView

__all__ = [
    "PointIndex",
    "REGION_FIELDS",
    "cluster_points",
    "descendants",
    "enterprise_features",
    "enterprise_table",
    "hazard_features",
    "hazard_table",
    "region_features",
    "region_frame",
    "select_regions",
    "top_units",
]

#: Region attributes every region output carries, in order.
REGION_FIELDS: tuple[str, ...] = tuple(c for c in REGION_COLUMNS if c not in ("rules", "explanation"))
ENTERPRISE_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "domain",
    "industry",
    "address",
    "province_adcode",
    "city_adcode",
    "county_adcode",
    "lon",
    "lat",
    "risk_score",
    "risk_level",
    "risk_level_zh",
    "override",
)
HAZARD_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "type",
    "type_zh",
    "risk_level",
    "risk_level_zh",
    "risk_score",
    "population",
    "status",
    "county_adcode",
)


# -- values ---------------------------------------------------------------------------------------------
def clean(value: Any) -> Any:
    """A JSON-safe scalar: NaN/NA → None, numpy scalars → Python, everything else unchanged."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def _text_or_none(value: Any) -> str | None:
    value = clean(value)
    return None if value is None or value == "" else str(value)


def top_units(explanation: Any, n: int = 5) -> list[dict[str, Any]]:
    """The top contributors of a region's explanation, normalised to
    ``{id, name, domain, risk_level, risk_score, contribution}`` (accepts ``top_units`` or ``top``, and
    ``level``/``score`` for ``risk_level``/``risk_score``)."""
    if not isinstance(explanation, dict):
        return []
    items = explanation.get("top_units") or explanation.get("top") or []
    out = []
    for item in list(items)[:n]:
        if not isinstance(item, dict):
            continue
        out.append(
            {
                "id": _text_or_none(item.get("id")),
                "name": _text_or_none(item.get("name")) or "",
                "domain": _text_or_none(item.get("domain")),
                "risk_level": _text_or_none(item.get("risk_level", item.get("level"))),
                "risk_score": clean(item.get("risk_score", item.get("score"))),
                "contribution": clean(item.get("contribution")),
            }
        )
    return out


def rules_of(value: Any) -> list[str]:
    """The rules that fired, as a list of strings (None, NaN or an empty value give [])."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [value] if value else []
    try:
        return [str(r if not isinstance(r, dict) else r.get("text", r.get("id", ""))) for r in value]
    except TypeError:
        return [str(value)]


# -- selections -----------------------------------------------------------------------------------------
def descendants(boundaries: pd.DataFrame, parent: str) -> set[str]:
    """All adcodes below ``parent`` in the administrative tree (not including it)."""
    codes = set(boundaries["adcode"])
    if parent not in codes:
        raise BoundaryNotFound(f"no region {parent!r} in the boundaries; list them with `riskmap boundaries list`")
    kids: dict[str, list[str]] = {}
    for code, par in zip(boundaries["adcode"], boundaries["parent_adcode"], strict=True):
        if isinstance(par, str):
            kids.setdefault(par, []).append(code)
    out: set[str] = set()
    todo = [parent]
    while todo:
        for child in kids.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def select_regions(
    regions: pd.DataFrame,
    boundaries: pd.DataFrame | None = None,
    *,
    view: MapView = DEFAULT_VIEW,
) -> pd.DataFrame:
    """Region rows at the view's level for its domain, below its parent when it has one."""
    sel = regions.loc[(regions["admin_level"] == view.level) & (regions["domain"] == view.domain)]
    if view.parent:
        if boundaries is None:
            raise ValueError("select_regions: pass boundaries to filter by parent")
        sel = sel.loc[sel["adcode"].isin(descendants(boundaries, view.parent))]
    return sel.reset_index(drop=True)


# -- regions --------------------------------------------------------------------------------------------
def region_frame(
    regions: pd.DataFrame,
    boundaries: gpd.GeoDataFrame,
    *,
    view: MapView = DEFAULT_VIEW,
    styles: Styles | None = None,
    top_n: int = 5,
) -> gpd.GeoDataFrame:
    """Regions joined to their geometry: REGION_FIELDS plus ``risk_level_en``, ``color``, ``rules`` (list)
    and ``top_units`` (list of dicts). WGS84 (whatever CRS ``boundaries`` carries)."""
    st = styles or load_styles()
    sel = select_regions(regions, boundaries, view=view)
    geo = gpd.GeoDataFrame(
        {"adcode": boundaries["adcode"].to_numpy()}, geometry=np.asarray(boundaries.geometry.values), crs=boundaries.crs
    )
    frame = gpd.GeoDataFrame(geo.merge(sel, on="adcode", how="inner"), geometry="geometry", crs=boundaries.crs)
    lv = frame["risk_level"].astype(object)
    frame["risk_level_zh"] = [st.level_label(v, "zh") if v in LEVELS else None for v in lv]
    frame["risk_level_en"] = [st.level_label(v, "en") if v in LEVELS else None for v in lv]
    frame["color"] = [st.level_color(v) if v in LEVELS else st.regions.no_data_color for v in lv]
    frame["rules"] = [rules_of(v) for v in frame["rules"]] if "rules" in frame else [[] for _ in range(len(frame))]
    expl = frame["explanation"] if "explanation" in frame else [None] * len(frame)
    frame["top_units"] = [top_units(e, top_n) for e in expl]
    cols = [c for c in REGION_FIELDS if c in frame.columns] + ["risk_level_en", "color", "rules", "top_units"]
    return frame[[*cols, "geometry"]].sort_values("adcode").reset_index(drop=True)


def _geojson_geometries(geoms: Iterable, precision: float | None) -> list[dict | None]:
    arr = np.asarray(list(geoms), dtype=object)
    if len(arr) == 0:
        return []
    arr = shapely.orient_polygons(arr, exterior_cw=False)  # RFC 7946 §3.1.6: exterior rings CCW
    if precision:
        decimals = max(0, round(-math.log10(precision)))
        arr = shapely.transform(arr, lambda c: np.round(c, decimals))
    import json

    return [None if g is None or g.is_empty else json.loads(shapely.to_geojson(g)) for g in arr]


def _collection(frame: pd.DataFrame, geoms: Iterable, fields: Iterable[str], precision: float | None) -> dict:
    fields = [f for f in fields if f in frame.columns]
    records = frame[fields].to_dict(orient="records")
    features = [
        {"type": "Feature", "geometry": g, "properties": {k: _props_value(v) for k, v in rec.items()}}
        for rec, g in zip(records, _geojson_geometries(geoms, precision), strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def _props_value(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_props_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _props_value(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return [_props_value(x) for x in v.tolist()]
    return clean(v)


def region_features(
    regions: pd.DataFrame,
    boundaries: gpd.GeoDataFrame,
    *,
    view: MapView = DEFAULT_VIEW,
    styles: Styles | None = None,
    top_n: int = 5,
    precision: float | None = 1e-6,
) -> dict[str, Any]:
    """The view's regions (its level × domain, below its parent) as a GeoJSON FeatureCollection.

    ``boundaries`` may be the full store boundaries or :func:`layers.webgeom.web_boundaries` output.
    Properties: REGION_FIELDS, ``risk_level_label`` (in the view's lang), ``color``, ``rules``, ``top_units``.
    """
    st = styles or load_styles()
    frame = region_frame(regions, boundaries, view=view, styles=st, top_n=top_n)
    frame["risk_level_label"] = frame["risk_level_en"] if view.lang == "en" else frame["risk_level_zh"]
    fields = [*REGION_FIELDS, "risk_level_label", "color", "rules", "top_units"]
    return _collection(frame, frame.geometry.values, fields, precision)


# -- hazards and enterprises ---------------------------------------------------------------------------
def hazard_table(hazards: pd.DataFrame, *, styles: Styles | None = None) -> pd.DataFrame:
    """Hazard sites with HAZARD_FIELDS present (labels filled in), ``type_en``, ``risk_level_en``, ``color``."""
    st = styles or load_styles()
    frame = hazards.copy()
    if "risk_level" not in frame and "level" in frame:
        frame["risk_level"] = frame["level"]
    lv = frame["risk_level"].astype(object) if "risk_level" in frame else pd.Series([None] * len(frame))
    types = frame["type"].astype(object) if "type" in frame else pd.Series([None] * len(frame))
    frame["type_zh"] = [st.hazard_label(t, "zh") if isinstance(t, str) else None for t in types]
    frame["type_en"] = [st.hazard_label(t, "en") if isinstance(t, str) else None for t in types]
    frame["risk_level_zh"] = [st.level_label(v, "zh") if v in LEVELS else None for v in lv]
    frame["risk_level_en"] = [st.level_label(v, "en") if v in LEVELS else None for v in lv]
    frame["color"] = [st.level_color(v) if v in LEVELS else st.regions.no_data_color for v in lv]
    return frame


def hazard_features(
    hazards: pd.DataFrame, *, lang: str = "zh", styles: Styles | None = None, precision: float | None = 1e-6
) -> dict[str, Any]:
    """Hazard sites (points, lines, polygons) as a GeoJSON FeatureCollection with ``type_label`` and
    ``risk_level_label`` in ``lang`` and the level ``color``."""
    if hazards is None or len(hazards) == 0:
        return {"type": "FeatureCollection", "features": []}
    frame = hazard_table(hazards, styles=styles)
    frame["type_label"] = frame["type_en"] if lang == "en" else frame["type_zh"]
    frame["risk_level_label"] = frame["risk_level_en"] if lang == "en" else frame["risk_level_zh"]
    fields = [*HAZARD_FIELDS, "type_label", "risk_level_label", "color"]
    return _collection(frame, frame.geometry.values, fields, precision)


def enterprise_table(units: pd.DataFrame, *, domain: str = "all", styles: Styles | None = None) -> pd.DataFrame:
    """Enterprises of ``domain`` with ENTERPRISE_FIELDS present, ``risk_level_zh/en`` and ``color``."""
    st = styles or load_styles()
    frame = units if domain in (None, "all") else units.loc[units["domain"] == domain]
    frame = frame.copy()
    if ("lon" not in frame or "lat" not in frame) and isinstance(frame, gpd.GeoDataFrame):
        frame["lon"], frame["lat"] = frame.geometry.x, frame.geometry.y
    lv = frame["risk_level"].astype(object) if "risk_level" in frame else pd.Series([None] * len(frame))
    codes = {code: {"zh": st.level_label(code, "zh"), "en": st.level_label(code, "en")} for code in LEVELS}
    frame["risk_level_zh"] = lv.map(lambda v: codes[v]["zh"] if v in codes else None).to_numpy()
    frame["risk_level_en"] = lv.map(lambda v: codes[v]["en"] if v in codes else None).to_numpy()
    colors = {code: st.level_color(code) for code in LEVELS}
    frame["color"] = lv.map(lambda v: colors.get(v, st.regions.no_data_color)).to_numpy()
    if "override" in frame:
        frame["override"] = frame["override"].astype(object).where(frame["override"].notna(), None)
    return frame.reset_index(drop=True)


def enterprise_features(
    units: pd.DataFrame, *, domain: str = "all", lang: str = "zh", styles: Styles | None = None
) -> dict[str, Any]:
    """Enterprises (all of them: use :func:`cluster_points` for a map view) as a GeoJSON FeatureCollection."""
    frame = enterprise_table(units, domain=domain, styles=styles)
    frame["risk_level_label"] = frame["risk_level_en"] if lang == "en" else frame["risk_level_zh"]
    geoms = shapely.points(frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float))
    fields = [*ENTERPRISE_FIELDS, "risk_level_label", "color"]
    return _collection(frame, geoms, fields, 1e-6)
