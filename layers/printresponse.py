"""The response layers of the print map (`layers.printmap`): emergency resources as one marker colour per
kind, and the rescue circle as the bands of minutes with each region's headline area share in its label.
WGS84 axes; styles from layers/styles.toml (`[resources.*]`, `[rescue]`)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from geo.catalogue import load_catalogue
from geo.response.config import load_response
from geo.snapshot import Snapshot
from layers.response import coverage_table, resource_table
from layers.styles import Styles
from layers.view import MapView

__all__ = ["draw_coverage", "draw_resources", "headline_shares", "share_labels"]


def draw_resources(ax, snapshot: Snapshot, view: MapView, styles: Styles) -> tuple[str, list]:
    """Resources as dots in their kind's colour (responders larger, drawn last); the legend's title and
    entries (glyph, kind, count) in catalogue order."""
    res = resource_table(snapshot, view=view, styles=styles)
    kinds = load_catalogue().resource_kinds
    for k in sorted(kinds, key=lambda k: k.responder):
        sel = res.loc[res["kind"] == k.code]
        if len(sel):
            color = styles.resource_symbol(k.code).color
            size = 16 if k.responder else 7
            ax.scatter(sel["lon"], sel["lat"], s=size, c=color, edgecolors="#FFFFFF", linewidths=0.3, zorder=7)
    counts = res["kind"].astype(object).value_counts() if len(res) else pd.Series(dtype=int)
    handles = [
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=7,
            markerfacecolor=styles.resource_symbol(k.code).color,
            markeredgecolor="#FFFFFF",
            label=f"{styles.resource_symbol(k.code).glyph} {_name(k, view.lang)}  {int(counts.get(k.code, 0))}",
        )
        for k in kinds
    ]
    return styles.t("resources", view.lang), handles


def _name(kind, lang: str) -> str:
    return kind.en if lang == "en" else kind.zh


def draw_coverage(ax, snapshot: Snapshot, view: MapView, styles: Styles) -> tuple[str, list]:
    """The bands of minutes as outlines in their colours over the regions (which the print map fills by their
    headline coverage share: the choropleth); the legend's title (with the method) and entries (band, km²;
    then the choropleth's classes)."""
    zones = coverage_table(snapshot, styles)
    handles: list = []
    for i in range(len(zones) - 1, -1, -1):
        row = zones.iloc[[i]]
        gpd.GeoDataFrame(row, geometry="geometry", crs="EPSG:4326").boundary.plot(
            ax=ax, color=row["color"].iloc[0], linewidth=1.1, zorder=3
        )
    for r in zones.itertuples(index=False):
        label = f"{r.label}  {float(r.area_km2):,.0f} km²"
        handles.append(Line2D([], [], color=r.color, linewidth=2.0, label=label))
    handles += share_legend(styles, view.lang)
    config = load_response()
    note = styles.t("cover_title", view.lang).replace("{m}", config.label(config.headline))
    handles.append(Line2D([], [], linestyle="none", label=f"87% = {note} · {styles.t('cover_area', view.lang)}"))
    method = (snapshot.meta.get("rescue") or {}).get("method")
    title = styles.t("coverage", view.lang) + (f" · {styles.t('method_' + method, view.lang)}" if method else "")
    return title, handles


def headline_shares(snapshot: Snapshot, adcodes: pd.Series) -> dict[str, float]:
    """adcode → the share of its area within the headline minutes (0–1), for the regions that have one."""
    cov = snapshot.rescue_regions()
    config = load_response()
    col = f"cover{config.label(config.headline)}_area"
    if not len(cov) or col not in cov:
        return {}
    cov = cov.loc[cov["adcode"].isin(set(adcodes))]
    vals = cov[col].to_numpy(float)
    return {a: float(v) for a, v in zip(cov["adcode"], vals, strict=True) if np.isfinite(v)}


def share_labels(snapshot: Snapshot, adcodes: pd.Series) -> dict[str, str]:
    """adcode → its headline area share as a percentage ("87%"), for the region labels of the coverage map."""
    return {a: f"{round(100 * v)}%" for a, v in headline_shares(snapshot, adcodes).items()}


def share_legend(styles: Styles, lang: str) -> list:
    """The choropleth's classes (0–20 % … 80–100 %) under the title of the headline coverage share."""
    colors = styles.rescue.share_colors
    step = 100 / len(colors)
    title = Line2D([], [], linestyle="none", label=styles.t("cover_share", lang))
    return [title] + [
        Patch(facecolor=c, edgecolor="#333333", linewidth=0.5, label=f"{i * step:.0f}–{(i + 1) * step:.0f}%")
        for i, c in enumerate(colors)
    ]
