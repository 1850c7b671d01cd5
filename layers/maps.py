"""Interactive four-colour map pages (Leaflet 1.9.4 from an installed wheel; no CDN, no basemap by default).

:func:`render_map` returns one HTML page for a snapshot:

* ``mode='inline'`` — a saved file: Leaflet, the map script, the styles and *all* the data (every region
  down to the counties, hazard sites, enterprise clusters precomputed at a few zooms plus the gravest few
  thousand enterprises) are inlined, so the file opens offline on any PC and drills down client-side.
* ``mode='served'`` — a page of the service: assets are linked under ``asset_base``; the page carries the
  regions of its view; enterprises are fetched per view from ``cluster_url`` (server-side clustering);
  drilling down navigates to ``map_url``.

The page is a small application (`layers/static/riskmap.js`) over one JSON document
(`layers.payload`). It does not use folium's page model: folium's defaults pull a dozen CDN assets
(Leaflet, jQuery, Bootstrap, Font Awesome…) and write each layer as separate generated JavaScript, which
makes client-side domain switching and drill-down over shared geometry awkward; one template and one
script keep the page small (the Zhejiang county page is well under 1.5 MB) and auditable.

Every string from the data is inserted with ``textContent`` (never as HTML), the JSON document is escaped
so it cannot close its ``<script>`` element, and a Content-Security-Policy forbids loading anything from
elsewhere (in a saved file: from anywhere at all except a configured basemap).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import jinja2
from markupsafe import Markup

from geo.errors import BoundaryNotFound, MapRejected
from geo.snapshot import Snapshot
from layers.alerts import panel as alerts_panel
from layers.assets import inline_css, inline_js
from layers.payload import build_payload
from layers.styles import Basemap, Styles, load_styles
from layers.view import DEFAULT_VIEW, MapView

__all__ = [
    "DEFAULT_CLUSTER_URL",
    "DEFAULT_MAP_URL",
    "DEFAULT_REGION_URL",
    "MAP_LAYERS",
    "MapRejected",
    "json_for_script",
    "render_map",
]

#: URL templates of the served page (placeholders filled by the page's script).
DEFAULT_CLUSTER_URL = "{base}/clusters/enterprises?bbox={bbox}&zoom={zoom}&domain={domain}&parent={parent}&crs={crs}"
DEFAULT_MAP_URL = "{base}/map?level={level}&parent={parent}&domain={domain}&lang={lang}"
#: the region page a served map's popups and info panel link to (a saved page has no service to ask)
DEFAULT_REGION_URL = "{base}/regions/{adcode}?f=html&lang={lang}"
MODES = ("inline", "served")
#: what a page is about: the regions (the four-colour map), or the enterprises or hazard sites over faded regions
MAP_LAYERS = ("regions", "enterprises", "hazards", "resources", "coverage")


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("layers", "templates"),
        autoescape=True,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    return env.get_template("map.html")


_JS_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_for_script(data: Any) -> str:
    """JSON safe to place inside a ``<script>`` element: ``<``, ``>``, ``&`` and U+2028/9 are escaped, so
    no string in the data can end the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return re.sub("[<>&\u2028\u2029]", lambda m: _JS_ESCAPES[m.group(0)], text)


def _css_value(text: str) -> Markup:
    """A theme value for the page's CSS variables; characters that could leave the declaration are dropped."""
    return Markup(re.sub(r"[<>{};\\]", "", text))


def _origin_pattern(url: str) -> str | None:
    """A CSP source for a URL template's host: ``https://webrd0{s}.x.com/...`` → ``https://*.x.com``."""
    parts = urlsplit(url.replace("{s}", "a"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = urlsplit(url).netloc
    labels = host.split(".")
    if any("{" in label for label in labels):
        labels = ["*"] + [lb for lb in labels[1:] if "{" not in lb]
    return f"{parts.scheme}://{'.'.join(labels)}"


def _csp(inline: bool, basemap: Basemap | None, cluster_url: str, map_url: str) -> str:
    tiles = _origin_pattern(basemap.url) if basemap is not None else None
    img = ["data:"] + ([tiles] if tiles else [])
    if inline:
        return (
            f"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src {' '.join(img)}; "
            "font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
        )
    connect = ["'self'"] + [o for o in (_origin_pattern(cluster_url),) if o]
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' {' '.join(img)}; "
        f"font-src 'self' data:; connect-src {' '.join(connect)}; base-uri 'self'; form-action 'self'"
    )


def _title(boundaries: gpd.GeoDataFrame, parent: str | None, styles: Styles, lang: str) -> str:
    code = parent
    if code is None:
        top = boundaries.loc[boundaries["level_rank"] == boundaries["level_rank"].min(), "name"]
        name = str(top.iloc[0]) if len(top) == 1 else ""
    else:
        name = str(boundaries.loc[boundaries["adcode"] == code, "name"].iloc[0])
    sep = "" if lang == "zh" else " — "
    return f"{name}{sep}{styles.t('title', lang)}" if name else styles.t("title", lang)


def _check(boundaries: gpd.GeoDataFrame, view: MapView, mode: str, styles: Styles, layer: str) -> None:
    if mode not in MODES:
        raise MapRejected(f"map mode {mode!r}: use inline (a saved file) or served (a page of the service)")
    if layer not in MAP_LAYERS:
        raise MapRejected(f"map layer {layer!r}: use one of {', '.join(MAP_LAYERS)}")
    if view.lang not in styles.text:
        raise MapRejected(f"language {view.lang!r}: use zh or en")
    levels = list(dict.fromkeys(boundaries.sort_values("level_rank")["admin_level"]))
    if view.level not in levels:
        raise MapRejected(f"--level {view.level}: the boundaries have {', '.join(levels)}")
    if view.parent is not None and view.parent not in set(boundaries["adcode"]):
        raise BoundaryNotFound(f"--parent {view.parent}: no such region; list them with `riskmap boundaries list`")
    view.check_domain(styles, MapRejected)


def render_map(
    snapshot: Snapshot,
    boundaries: gpd.GeoDataFrame,
    *,
    view: MapView = DEFAULT_VIEW,
    basemap: str | Basemap | dict[str, Any] | None = None,
    basemap_key: str = "",
    mode: str = "inline",
    asset_base: str = "/static",
    api_base: str = "",
    cluster_url: str | None = None,
    map_url: str | None = None,
    styles: Styles | None = None,
    title: str | None = None,
    layer: str = "regions",
) -> str:
    """One HTML page: the regional four-colour map of the view (its level's regions, below its parent, for its
    domain, labelled in its lang).

    ``boundaries`` are the store's (WGS84). ``basemap``: None (default: none, nothing loaded), a preset
    name from styles.toml (``tianditu`` with ``basemap_key``, ``amap``, ``tencent``), an XYZ URL (prefix
    ``gcj02:`` for a GCJ-02 tile server) or a :class:`Basemap`; with a GCJ-02 basemap every overlay is
    shifted to GCJ-02. ``mode``/``asset_base``/``api_base``/``cluster_url``/``map_url``: see the module
    docstring; the URL templates take ``{base}`` (= ``api_base``) and the placeholders the page fills in.
    ``layer``: ``regions`` (the four-colour map), or ``enterprises`` / ``hazards``: that layer shown at every
    zoom, by level, over regions filled faintly (``regions.fill_opacity_points``), the other point layer off.
    """
    st = styles or load_styles()
    _check(boundaries, view, mode, st, layer)
    bm = st.basemap(basemap, basemap_key) if basemap is not None else None
    clusters = (cluster_url or DEFAULT_CLUSTER_URL).replace("{base}", api_base.rstrip("/"))
    links = (map_url or DEFAULT_MAP_URL).replace("{base}", api_base.rstrip("/"))
    page_title = title or _title(boundaries, view.parent, st, view.lang)
    payload = build_payload(
        snapshot,
        boundaries,
        styles=st,
        view=view,
        basemap=bm,
        mode=mode,
        cluster_url=clusters,
        map_url=links,
        title=title,
        layer=layer,
        region_url=None if mode == "inline" else DEFAULT_REGION_URL.replace("{base}", api_base.rstrip("/")),
    )
    payload["alerts"] = alerts_panel(snapshot, view.lang)
    inline = mode == "inline"
    theme = st.theme.model_dump()
    return _template().render(
        html_lang="zh-CN" if view.lang == "zh" else "en",
        title=page_title,
        csp=_csp(inline, bm, clusters, links),
        inline=inline,
        css=Markup(inline_css()) if inline else "",
        js=Markup(inline_js()) if inline else "",
        asset_base=asset_base.rstrip("/"),
        theme={k: _css_value(str(v)) for k, v in theme.items()},
        config=Markup(json_for_script(payload)),
    )
