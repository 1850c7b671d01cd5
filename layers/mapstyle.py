"""MapLibre (Mapbox GL) style documents, version 8, over the service's own vector tiles.

A style is built from :class:`layers.tilesets.TileLayer` descriptions, so it follows whatever collections a
build serves: one region layer as the choropleth (a fill per level, its outline), the coarser region layers
as outlines, and every other layer by geometry type (areas, lines, circles), one style layer per level; the
rescue-circle bands (one fill per band of minutes) over the regions and the emergency resources (one circle
per kind, from a zoom level on) on top.
Filters use the level codes; colours, opacities, widths and labels come from :class:`layers.styles.Styles`.

Nothing in a style needs the internet: no glyphs, no sprite, no text symbols; sources are the service's tiles.
Filters use the v8 filter syntax (``["==", "$type", "Polygon"]``), which MapLibre, Mapbox GL and QGIS's
style converter all read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from geo.catalogue import load_catalogue
from geo.response.config import load_response
from layers.gisstyles import GROUPS, symbol
from layers.styles import Styles
from layers.tilesets import TileLayer, overview_zoom, union_bounds

STYLE_TYPE = "application/vnd.mapbox.style+json"
#: the rescue-circle collections (docs/resources.md): in every style, over the regions (bands) and on top (resources)
RESPONSE_IDS = ("coverage", "resources")
_MVT_TYPE = {"point": "Point", "line": "LineString", "polygon": "Polygon"}


def region_layers(layers: list[TileLayer]) -> list[TileLayer]:
    return [lay for lay in layers if lay.is_region]


def map_style_ids(layers: list[TileLayer]) -> list[str]:
    """One map style per region layer (its choropleth), the finest first: ``map_style_ids(...)[0]`` is the
    default."""
    regions = region_layers(layers)
    return [lay.id for lay in reversed(regions)] or ["overlays"]


def _filter(level: str, group: str, mixed: bool) -> list[Any]:
    by_level = ["==", "risk_level", level]
    return ["all", ["==", "$type", _MVT_TYPE[group]], by_level] if mixed else by_level


def _layer_entries(lay: TileLayer, styles: Styles, lang: str, groups: tuple[str, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    mixed = len(lay.groups) > 1
    for group in (g for g in lay.groups if g in groups):
        for lv in reversed(styles.resolved_levels):  # the gravest drawn last, on top
            sym = symbol(styles, lv.code, group, lay.admin_level)
            entry: dict[str, Any] = {
                "id": f"{lay.id}-{group}-{lv.code}",
                "source": lay.id,
                "source-layer": lay.id,
                "filter": _filter(lv.code, group, mixed),
                "metadata": {"riskmap:level": lv.code, "riskmap:label": styles.level_label(lv.code, lang)},
            }
            if group == "polygon":
                entry.update(
                    type="fill",
                    paint={"fill-color": sym.color, "fill-opacity": sym.opacity, "fill-outline-color": sym.stroke},
                )
            elif group == "line":
                entry.update(
                    type="line",
                    layout={"line-cap": "round", "line-join": "round"},
                    paint={"line-color": sym.color, "line-width": sym.size},
                )
            else:
                entry.update(
                    type="circle",
                    paint={
                        "circle-color": sym.color,
                        "circle-radius": sym.size / 2,
                        "circle-stroke-color": sym.stroke,
                        "circle-stroke-width": sym.stroke_width,
                    },
                )
            out.append(entry)
        if group == "polygon" and lay.is_region:
            out.append(_outline(lay, styles))
    return out


def _outline(lay: TileLayer, styles: Styles) -> dict[str, Any]:
    adm = styles.admin_style(lay.admin_level or "finer")
    return {
        "id": f"{lay.id}-outline",
        "type": "line",
        "source": lay.id,
        "source-layer": lay.id,
        "filter": ["==", "$type", "Polygon"],
        "layout": {"line-join": "round"},
        "paint": {"line-color": adm.color, "line-width": adm.width},
    }


def _response_entries(lay: TileLayer, styles: Styles, lang: str) -> list[dict[str, Any]]:
    """The rescue-circle bands (a fill per band of minutes, by ``min_from``) or the resources (a circle per
    kind, from ``resource_style.min_zoom``): the two response layers carry no risk level."""
    base = {"source": lay.id, "source-layer": lay.id}
    if lay.id == "coverage":
        config = load_response()
        starts = (0.0, *config.thresholds[:-1])
        return [
            {
                **base,
                "id": f"coverage-{config.label(t0)}",
                "type": "fill",
                "filter": ["==", "min_from", t0],
                "metadata": {"riskmap:label": f"{config.label(t0)}–{config.label(t1)} min"},
                "paint": {"fill-color": styles.band_color(i), "fill-opacity": styles.rescue.fill_opacity},
            }
            for i, (t0, t1) in enumerate(zip(starts, config.thresholds, strict=True))
        ]
    rs = styles.resource_style
    return [
        {
            **base,
            "id": f"resources-{k.code}",
            "type": "circle",
            "minzoom": rs.min_zoom,
            "filter": ["==", "kind", k.code],
            "metadata": {
                "riskmap:label": k.en if lang == "en" else k.zh,
                "riskmap:glyph": styles.resource_symbol(k.code).glyph,
            },
            "paint": {
                "circle-color": styles.resource_symbol(k.code).color,
                "circle-radius": rs.size / 2,
                "circle-stroke-color": rs.stroke,
                "circle-stroke-width": 1.5,
            },
        }
        for k in load_catalogue().resource_kinds
    ]


def _source(lay: TileLayer, url: str) -> dict[str, Any]:
    return {
        "type": "vector",
        "tiles": [url],
        "minzoom": lay.minzoom,
        "maxzoom": lay.maxzoom,
        "bounds": [round(v, 6) for v in lay.bounds],
    }


def map_style(
    layers: list[TileLayer],
    tiles_url: Callable[[str], str],
    *,
    style_id: str,
    styles: Styles,
    lang: str = "zh",
    name: str = "",
) -> dict[str, Any]:
    """The MapLibre style ``style_id``: a region layer's choropleth (or, for a collection id that is not a
    region layer, that layer alone), with the other layers on top. ``tiles_url(layer_id)`` gives the XYZ
    template of a layer's tiles."""
    response = [lay for lay in layers if lay.id in RESPONSE_IDS]  # drawn by band and by kind, not by level
    layers = [lay for lay in layers if "risk_level" in lay.fields]
    if style_id in RESPONSE_IDS:  # that layer alone
        response, layers = [lay for lay in response if lay.id == style_id], []
    regions = region_layers(layers)
    by_id = {lay.id: lay for lay in layers}
    if style_id in by_id and not by_id[style_id].is_region:
        shown = [by_id[style_id]]
        outlines: list[TileLayer] = []
    else:
        choropleth = by_id.get(style_id)
        coarser = regions[: regions.index(choropleth)] if choropleth in regions else []
        outlines = coarser
        shown = ([choropleth] if choropleth is not None else []) + [lay for lay in layers if not lay.is_region]
    used = outlines + shown + response
    bounds = union_bounds(used)
    style_layers: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": styles.theme.background}}
    ]
    for lay in (lay for lay in shown if lay.is_region):
        style_layers += _layer_entries(lay, styles, lang, GROUPS)
        style_layers += [_outline(c, styles) for c in reversed(outlines)]  # over the choropleth, under the rest
    bands = [lay for lay in response if lay.id == "coverage"]
    style_layers += [e for lay in bands for e in _response_entries(lay, styles, lang)]  # over the regions
    for group in GROUPS:  # areas, then lines, then points of every other layer
        for lay in (lay for lay in shown if not lay.is_region):
            style_layers += _layer_entries(lay, styles, lang, (group,))
    style_layers += [e for lay in response if lay.id == "resources" for e in _response_entries(lay, styles, lang)]
    return {
        "version": 8,
        "name": name or style_id,
        "metadata": {"riskmap:style": style_id, "riskmap:lang": lang},
        "center": [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6)],
        "zoom": overview_zoom(bounds),
        "sources": {lay.id: _source(lay, tiles_url(lay.id)) for lay in used},
        "layers": style_layers,
    }
