"""The print map: a static PNG (A4 landscape, 300 dpi by default) with title, legend, scale bar, north
arrow, data date and CRS note, drawn with matplotlib's object API (no pyplot state; safe in a service).

Chinese text needs a CJK font: the first of styles.toml's ``[print] fonts`` that matplotlib finds is used
(Debian: ``apt-get install fonts-wqy-zenhei`` or ``fonts-noto-cjk``); without one a Chinese map is refused
rather than printed with empty boxes.
"""

from __future__ import annotations

import functools
import io
import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib import font_manager, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon

from geo.catalogue import LEVELS
from geo.errors import FontMissing
from geo.snapshot import Snapshot
from layers.features import region_frame
from layers.payload import read_units
from layers.printresponse import draw_coverage, draw_resources, headline_shares, share_labels
from layers.styles import Styles, load_styles
from layers.view import DEFAULT_VIEW, MapView
from layers.webgeom import web_boundaries

__all__ = ["FontMissing", "cjk_font", "render_png"]

_MARKERS = {
    "circle": "o",
    "triangle": "^",
    "triangle_down": "v",
    "square": "s",
    "diamond": "D",
    "hexagon": "h",
    "pentagon": "p",
    "star": "*",
}


def _find(candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        try:
            font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False)
        except ValueError:
            continue
        return name
    return None


@functools.lru_cache(maxsize=4)
def cjk_font(candidates: tuple[str, ...]) -> str | None:
    """The first installed font family among ``candidates`` (None if none is). matplotlib caches its font
    list: when nothing is found the list is rebuilt once, for a font installed after that cache was made."""
    found = _find(candidates)
    if found is None:
        known = {f.fname for f in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = _find(candidates)
    return found


def _nice_length(km: float) -> float:
    """A round scale-bar length not longer than ``km``: 1, 2, 5 × 10^n."""
    exp = 10 ** math.floor(math.log10(km))
    for m in (5, 2, 1):
        if m * exp <= km:
            return m * exp
    return exp


def _scale_bar(ax, bounds: tuple[float, float, float, float], lat: float, label_km: str) -> None:
    w, s, e, n = bounds
    km_per_deg = 111.32 * math.cos(math.radians(lat))
    length_km = _nice_length((e - w) * km_per_deg * 0.22)
    deg = length_km / km_per_deg
    x0, y0 = e - (e - w) * 0.04 - deg, s + (n - s) * 0.045
    h = (n - s) * 0.008
    for i in range(4):
        ax.add_patch(
            Polygon(
                [
                    (x0 + i * deg / 4, y0),
                    (x0 + (i + 1) * deg / 4, y0),
                    (x0 + (i + 1) * deg / 4, y0 + h),
                    (x0 + i * deg / 4, y0 + h),
                ],
                closed=True,
                facecolor="#222222" if i % 2 == 0 else "#FFFFFF",
                edgecolor="#222222",
                linewidth=0.6,
                zorder=20,
            )
        )
    for frac in (0, 0.5, 1):
        ax.text(x0 + deg * frac, y0 + h * 1.8, f"{length_km * frac:g}", ha="center", va="bottom", fontsize=7, zorder=20)
    ax.text(x0 + deg + (e - w) * 0.008, y0 + h / 2, label_km, ha="left", va="center", fontsize=7, zorder=20)


def _north_arrow(ax, bounds: tuple[float, float, float, float], label: str) -> None:
    w, s, e, n = bounds
    cx, top = w + (e - w) * 0.06, n - (n - s) * 0.07
    hgt, wid = (n - s) * 0.07, (e - w) * 0.018
    ax.add_patch(
        Polygon(
            [(cx, top), (cx - wid, top - hgt), (cx, top - hgt * 0.72)],
            closed=True,
            facecolor="#222222",
            edgecolor="#222222",
            linewidth=0.8,
            zorder=20,
        )
    )
    ax.add_patch(
        Polygon(
            [(cx, top), (cx + wid, top - hgt), (cx, top - hgt * 0.72)],
            closed=True,
            facecolor="#FFFFFF",
            edgecolor="#222222",
            linewidth=0.8,
            zorder=20,
        )
    )
    ax.text(cx, top + (n - s) * 0.01, label, ha="center", va="bottom", fontsize=12, fontweight="bold", zorder=20)


def _halo(width: float = 2.5) -> list:
    return [patheffects.withStroke(linewidth=width, foreground="white")]


def _hazard_layer(ax, hazards: pd.DataFrame, styles: Styles, lang: str) -> list:
    handles: list = []
    if hazards is None or len(hazards) == 0:
        return handles
    frame = gpd.GeoDataFrame(hazards, geometry="geometry", crs="EPSG:4326")
    level = frame["risk_level"].astype(object) if "risk_level" in frame else pd.Series([None] * len(frame))
    colors = np.array([styles.level_color(v) if v in LEVELS else styles.regions.no_data_color for v in level])
    kinds = frame.geom_type.to_numpy()
    polys = np.isin(kinds, ["Polygon", "MultiPolygon"])
    lines = np.isin(kinds, ["LineString", "MultiLineString"])
    if polys.any():
        frame[polys].plot(
            ax=ax,
            color=colors[polys],
            alpha=styles.hazard_style.polygon_fill_opacity,
            edgecolor="#111111",
            linewidth=0.5,
            zorder=6,
        )
    if lines.any():
        frame[lines].plot(ax=ax, color=colors[lines], linewidth=1.6, zorder=7)
    pts = ~(polys | lines)
    for code, sym in styles.hazards.items():
        sel = pts & (frame["type"].astype(object).to_numpy() == code)
        if sel.any():
            g = frame.geometry.values[sel]
            ax.scatter(
                g.x,
                g.y,
                s=sym.size * 2.2,
                marker=_MARKERS[sym.symbol],
                c=list(colors[sel]),
                edgecolors="#111111",
                linewidths=0.5,
                zorder=8,
            )
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=_MARKERS[sym.symbol],
                markersize=6,
                markerfacecolor="#DDDDDD",
                markeredgecolor="#111111",
                label=styles.hazard_label(code, lang),
            )
        )
    return handles


def _counts(values: pd.Series) -> dict[str, int]:
    counts = values.astype(object).value_counts()
    return {lv: int(counts.get(lv, 0)) for lv in LEVELS}


def render_png(
    snapshot: Snapshot,
    boundaries: gpd.GeoDataFrame,
    *,
    what: str = "regions",
    view: MapView = DEFAULT_VIEW,
    styles: Styles | None = None,
    dpi: int | None = None,
) -> bytes:
    """A print-ready PNG of the regional four-colour map (``what='regions'``) or of enterprises / hazard
    sites over the region outlines, for ``view``. Returns the PNG bytes."""
    st = styles or load_styles()
    quiet = logging.getLogger("matplotlib.font_manager")
    level_before = quiet.level
    quiet.setLevel(logging.ERROR)  # "weight normal not found, using 500" for fonts with a medium face only
    try:
        return _render(snapshot, boundaries, what=what, view=view, styles=st, dpi=dpi)
    finally:
        quiet.setLevel(level_before)


def _render(
    snapshot: Snapshot,
    boundaries: gpd.GeoDataFrame,
    *,
    what: str,
    view: MapView,
    styles: Styles,
    dpi: int | None,
) -> bytes:
    st, pr = styles, styles.print
    font = cjk_font(tuple(pr.fonts))
    if font is None and view.lang == "zh":
        raise FontMissing(
            "no font for Chinese text is installed (tried " + ", ".join(pr.fonts) + "); "
            "install one, e.g. `apt-get install fonts-wqy-zenhei` (Debian/Ubuntu), or export with --lang en"
        )
    web = web_boundaries(boundaries, tolerance_deg=st.web.tolerance_deg / 2, precision_deg=st.web.precision_deg)
    regions = region_frame(snapshot.regions(), web, view=view, styles=st)
    fig = Figure(figsize=(pr.width_in, pr.height_in), dpi=dpi or pr.dpi, facecolor=pr.background)
    FigureCanvasAgg(fig)
    import matplotlib

    with matplotlib.rc_context({"font.family": [font] if font else ["DejaVu Sans"], "axes.unicode_minus": False}):
        _draw(fig, snapshot, web, regions, what=what, view=view, styles=st)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi or pr.dpi, facecolor=pr.background, metadata={"Software": "riskmap"})
    return buf.getvalue()


def _draw(
    fig: Figure,
    snapshot: Snapshot,
    web: gpd.GeoDataFrame,
    regions: gpd.GeoDataFrame,
    *,
    what: str,
    view: MapView,
    styles: Styles,
) -> None:
    st, pr = styles, styles.print
    lang = view.lang
    ax = fig.add_axes((0.03, 0.05, 0.70, 0.80))
    ax.set_facecolor(pr.sea)
    ax.set_xticks([]), ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#555555")
        spine.set_linewidth(0.8)
    w, s, e, n = regions.total_bounds if len(regions) else web.total_bounds
    pad_x, pad_y = (e - w) * 0.06, (n - s) * 0.06
    bounds = (w - pad_x, s - pad_y, e + pad_x, n + pad_y)
    mid_lat = (s + n) / 2
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect(1 / math.cos(math.radians(mid_lat)))

    land = web.loc[web["level_rank"] == web["level_rank"].min()]
    land.plot(ax=ax, color="#F4F1EA", edgecolor="none", zorder=1)
    colors = regions["color"].tolist()
    if what == "regions":
        regions.plot(ax=ax, color=colors, edgecolor=st.admin_style(view.level).color, linewidth=0.4, zorder=2)
    elif what == "coverage":  # the choropleth of the headline coverage share, the bands drawn over it
        shares = headline_shares(snapshot, regions["adcode"])
        fills = [st.share_color(shares.get(a)) for a in regions["adcode"]]
        regions.plot(ax=ax, color=fills, edgecolor="#9AA5B1", linewidth=0.4, zorder=2)
    else:
        regions.plot(ax=ax, color="#F7F7F2", edgecolor="#9AA5B1", linewidth=0.4, zorder=2)
    rank = int(web.loc[web["admin_level"] == view.level, "level_rank"].min())
    for lv_name in ("city", "province"):
        sel = web.loc[(web["admin_level"] == lv_name) & (web["level_rank"] < rank)]
        if len(sel):
            sel.boundary.plot(ax=ax, color=pr.outline, linewidth=st.admin_style(lv_name).width * 0.45, zorder=4)

    title_what, counts, handles, legend, labels = _layer(ax, snapshot, regions, what=what, view=view, styles=st)
    for row in regions.itertuples():
        lab = web.loc[web["adcode"] == row.adcode]
        if len(lab):
            ax.text(
                lab["label_x"].iloc[0],
                lab["label_y"].iloc[0],
                f"{row.name}\n{labels[row.adcode]}" if row.adcode in labels else row.name,
                ha="center",
                va="center",
                fontsize=6.5 if view.level == "county" else 9,
                color="#111111",
                path_effects=_halo(1.8),
                zorder=9,
            )

    ax.set_xlabel("")
    ax.set_ylabel("")
    _north_arrow(ax, bounds, "北" if lang == "zh" else "N")
    _scale_bar(ax, bounds, mid_lat, "公里" if lang == "zh" else "km")
    code = view.parent or str(web.loc[web["level_rank"] == web["level_rank"].min(), "adcode"].iloc[0])
    area = str(web.loc[web["adcode"] == code, "name"].iloc[0])
    _side_panel(
        fig,
        snapshot,
        area,
        counts,
        handles,
        what=what,
        title_what=title_what,
        view=view,
        styles=st,
        legend=legend,
    )


def _layer(
    ax, snapshot: Snapshot, regions: gpd.GeoDataFrame, *, what: str, view: MapView, styles: Styles
) -> tuple[str, dict[str, int], list, tuple[str, list] | None, dict[str, str]]:
    """Draw the layer over the regions: (subtitle, counts per level, type symbols, a legend in place of the
    levels' (response layers), region label suffixes)."""
    st, lang = styles, view.lang
    if what == "resources":
        return st.t(what, lang), dict.fromkeys(LEVELS, 0), [], draw_resources(ax, snapshot, view, st), {}
    if what == "coverage":
        legend = draw_coverage(ax, snapshot, view, st)
        return st.t(what, lang), dict.fromkeys(LEVELS, 0), [], legend, share_labels(snapshot, regions["adcode"])
    if what == "hazards":
        hazards = snapshot.hazards()
        handles = _hazard_layer(ax, hazards, st, lang)
        counts = _counts(hazards["risk_level"]) if len(hazards) else dict.fromkeys(LEVELS, 0)
        return st.t("hazards", lang), counts, handles, None, {}
    if what == "enterprises":
        return st.t("enterprises", lang), _enterprise_layer(ax, snapshot, view, st), [], None, {}
    return st.t("regions", lang), _counts(regions["risk_level"]), [], None, {}


def _enterprise_layer(ax, snapshot: Snapshot, view: MapView, st: Styles) -> dict[str, int]:
    units = read_units(
        snapshot, ["lon", "lat", "risk_level", "domain", "county_adcode", "city_adcode", "province_adcode"]
    )
    if view.domain != "all":
        units = units.loc[units["domain"] == view.domain]
    if view.parent:
        units = units.loc[
            np.logical_or.reduce(
                [units[c] == view.parent for c in ("province_adcode", "city_adcode", "county_adcode") if c in units]
            )
        ]
    for lv in reversed(LEVELS):  # the gravest drawn last, on top
        sel = units.loc[units["risk_level"] == lv]
        ax.scatter(
            sel["lon"],
            sel["lat"],
            s=4 if lv in ("yellow", "blue") else 9,
            c=st.level_color(lv),
            edgecolors="#222222",
            linewidths=0.15,
            zorder=5 + LEVELS.index(lv) * -0.1 + 1,
        )
    return _counts(units["risk_level"])


def _side_panel(
    fig: Figure,
    snapshot: Snapshot,
    area: str,
    counts: dict[str, int],
    handles: list,
    *,
    what: str,
    title_what: str,
    view: MapView,
    styles: Styles,
    legend: tuple[str, list] | None = None,
) -> None:
    st, lang = styles, view.lang
    head = st.t("title", lang)
    fig.text(
        0.03, 0.935, area + head if lang == "zh" else f"{area} — {head}", fontsize=20, fontweight="bold", va="bottom"
    )
    regions = snapshot.regions()
    provinces = regions.loc[regions["admin_level"] == "province", "adcode"].nunique() if len(regions) else 1
    whole = st.t("by_provinces" if provinces > 1 else "by_province", lang)
    by = {"city": st.t("by_city", lang), "county": st.t("by_county", lang)}.get(view.level, whole)
    fig.text(
        0.03,
        0.895,
        f"{title_what} · {st.domain_label(view.domain, lang)} · {by}",
        fontsize=12,
        color="#333333",
        va="bottom",
    )
    ax = fig.add_axes((0.76, 0.05, 0.22, 0.80))
    ax.axis("off")
    patches = [
        Patch(
            facecolor=st.level_color(lv),
            edgecolor="#333333",
            linewidth=0.5,
            label=f"{st.level_label(lv, lang)}  {counts.get(lv, 0)}",
        )
        for lv in LEVELS
    ]
    unit = {"regions": st.t("legend_regions", lang), "enterprises": st.t("legend_units", lang)}.get(
        what, st.t("hazards", lang)
    )
    title = f"{st.t('legend', lang)} ({unit})"
    if legend is not None:
        title, patches = legend
    leg = ax.legend(
        handles=patches,
        loc="upper left",
        title=title,
        fontsize=11,
        title_fontsize=12,
        frameon=False,
        handlelength=2.2,
        handleheight=1.3,
        labelspacing=0.8,
    )
    leg.set_alignment("left")
    if handles:
        ax.add_artist(leg)
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0, 0.6),
            title=st.t("type", lang),
            fontsize=10,
            title_fontsize=11,
            frameon=False,
        )
    note = [f"{st.t('as_of', lang)} {snapshot.meta.get('as_of', '')}", "WGS84 (EPSG:4326)", "riskmap"]
    ax.text(0, 0.02, "\n".join(note), fontsize=9, color="#444444", va="bottom", transform=ax.transAxes, linespacing=1.6)
