"""folium maps for notebooks, offline: Leaflet inlined from the packaged wheel (`layers.assets`), no CDN.

folium's defaults link a dozen assets from CDNs (Leaflet, jQuery, Bootstrap, Font Awesome, …) and an
OpenStreetMap basemap: on an intranet the cell shows an empty box. :func:`offline_map` returns a
``folium.Map`` that links nothing — Leaflet's JS and CSS (its images as data: URIs) sit inline in the page,
and there is no basemap unless one is added — and :func:`risk_map` draws a snapshot on it: the regions in
their level colours with tooltips, the gravest enterprises as points with popups, and a legend, labelled in
the view's language from `layers/styles.toml`.

folium is an optional dependency (``pip install riskmap[notebooks]``); the service and the map pages never
import this module.

    >>> m = offline_map(location=[30.0, 120.0], zoom_start=7)   # doctest: +SKIP
    >>> "cdn" in m.get_root().render()                          # doctest: +SKIP
    False
"""

from __future__ import annotations

import functools
import html
from typing import Any

import geopandas as gpd
import numpy as np

from geo.catalogue import LEVELS
from geo.snapshot import Snapshot
from layers.assets import leaflet_inline_css, leaflet_inline_js
from layers.features import enterprise_features, region_features
from layers.payload import read_units
from layers.styles import Styles, load_styles
from layers.view import DEFAULT_VIEW, MapView
from layers.webgeom import web_boundaries

__all__ = ["offline_map", "risk_map"]

_UNIT_COLUMNS = ["id", "name", "domain", "industry", "lon", "lat", "risk_score", "risk_level", "override"]


@functools.cache
def _offline_class() -> type:
    import folium

    class OfflineMap(folium.Map):
        """A folium.Map that links none of folium's CDN assets (Leaflet is added inline by `offline_map`)."""

        default_js: list[tuple[str, str]] = []
        default_css: list[tuple[str, str]] = []

    return OfflineMap


def offline_map(location: Any = None, zoom_start: float | None = None, **kwargs: Any):
    """A ``folium.Map`` with Leaflet inlined from the packaged assets and no basemap (``tiles=None``);
    other keyword arguments go to ``folium.Map``. Nothing in its HTML is loaded from elsewhere."""
    import folium

    kwargs.setdefault("tiles", None)
    kwargs.setdefault("control_scale", True)
    m = _offline_class()(location=location, zoom_start=zoom_start, **kwargs)
    header = m.get_root().header
    header.add_child(folium.Element(f"<style>{leaflet_inline_css()}</style>"), name="leaflet_css_inline")
    header.add_child(folium.Element(f"<script>{leaflet_inline_js()}</script>"), name="leaflet_js_inline")
    return m


def _legend(styles: Styles, lang: str, counts: dict[str, int]) -> str:
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:-2px;'
        f'background:{styles.level_color(lv)}"></span>{html.escape(styles.level_label(lv, lang))}'
        f" <b>{counts.get(lv, 0)}</b></div>"
        for lv in LEVELS
    )
    title = html.escape(styles.t("legend", lang))
    return (
        '<div style="position:absolute;bottom:28px;right:12px;z-index:1000;background:rgba(255,255,255,0.92);'
        f'padding:8px 12px;border-radius:6px;font:13px sans-serif;line-height:1.6"><b>{title}</b>{rows}</div>'
    )


def risk_map(
    snapshot: Snapshot,
    boundaries: gpd.GeoDataFrame,
    *,
    view: MapView = DEFAULT_VIEW,
    styles: Styles | None = None,
    max_units: int = 1000,
):
    """The view's regions in their level colours (tooltip: name, level, index; popup: counts and top
    contributors) and its gravest ``max_units`` enterprises as points in their level colours (popup: name,
    level, score, domain, industry), on an :func:`offline_map` fitted to the regions, with a legend.

    ``boundaries`` are the store's (WGS84); they are drawn web-simplified (`layers.webgeom`)."""
    import folium

    st = styles or load_styles()
    lang = view.lang
    web = web_boundaries(boundaries, tolerance_deg=st.web.tolerance_deg, precision_deg=st.web.precision_deg)
    regions = region_features(snapshot.regions(), web, view=view, styles=st, precision=st.web.precision_deg)
    m = offline_map()
    t = st.text[lang]
    folium.GeoJson(
        regions,
        name=t["regions"],
        style_function=lambda f: {
            "fillColor": f["properties"]["color"],
            "fillOpacity": 0.8,
            "color": "#333333",
            "weight": 0.7,
        },
        highlight_function=lambda f: {"weight": 2.5, "color": "#FFFFFF"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "risk_level_label", "risk_index"], aliases=["", t["risk_level"], t["risk_index"]]
        ),
        popup=folium.GeoJsonPopup(
            fields=["name", "risk_level_label", "risk_index", "n_units", "n_hazards"],
            aliases=["", t["risk_level"], t["risk_index"], t["units"], t["sites"]],
        ),
    ).add_to(m)
    units = read_units(snapshot, _UNIT_COLUMNS)
    points = enterprise_features(units, domain=view.domain, lang=lang, styles=st)
    feats = points["features"]
    if feats:
        rank = {lv: i for i, lv in enumerate(LEVELS)}
        keys = [(rank.get(f["properties"]["risk_level"], 9), -(f["properties"]["risk_score"] or 0.0)) for f in feats]
        order = sorted(range(len(feats)), key=keys.__getitem__)[:max_units]
        points = {"type": "FeatureCollection", "features": [feats[i] for i in reversed(order)]}  # gravest on top
        folium.GeoJson(
            points,
            name=t["enterprises"],
            marker=folium.CircleMarker(
                radius=st.enterprises.radius,
                weight=st.enterprises.stroke_width,
                color=st.enterprises.stroke,
                fill=True,
                fill_opacity=1,
            ),
            style_function=lambda f: {"fillColor": f["properties"]["color"]},
            tooltip=folium.GeoJsonTooltip(fields=["name", "risk_level_label", "risk_score"], aliases=["", "", ""]),
            popup=folium.GeoJsonPopup(
                fields=["name", "id", "risk_level_label", "risk_score", "domain", "industry", "override"],
                aliases=["", "ID", t["risk_level"], t["score"], t["domain"], t["industry"], t["override"]],
            ),
        ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    levels = [f["properties"]["risk_level"] for f in regions["features"]]
    m.get_root().html.add_child(folium.Element(_legend(st, lang, {lv: levels.count(lv) for lv in LEVELS})))
    if regions["features"]:
        sel = web.loc[web["adcode"].isin([f["properties"]["adcode"] for f in regions["features"]])]
        w, s, e, n = (float(v) for v in np.asarray(sel.total_bounds))
        m.fit_bounds([[s, w], [n, e]])
    return m
