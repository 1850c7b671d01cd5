"""Vector tiles and styles over HTTP: OGC API – Tiles (WebMercatorQuad), XYZ tiles with TileJSON 3.0.0 and the
``metadata.json`` GDAL's MVT driver reads, MapLibre styles and per-collection QML/SLD.

Every document is derived from the current `View`'s collections (ids, fields, geometry types, extents);
URLs and link relations are in `api.tilelinks`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import tilelinks as tl
from api.sqlview import SqlCollection
from api.state import Collection, State, View
from geo import __version__
from geo.errors import InputRejected, UnitNotFound
from layers.styles import LANGS, load_styles
from layers.tiles import TILE_PROPS
from layers.tilesets import MVT, TMS_ID, TileLayer, tile_layer

_TMS_TITLE = "Google Maps Compatible for the World"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(request: Request, view_key: str, body: Any, media: str = "application/json") -> Response:
    etag = 'W/"' + hashlib.sha1(f"{view_key}|{request.url}".encode()).hexdigest()[:20] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type=media, headers=headers)


def _collection(view: View, cid: str) -> Collection:
    c = view.collections.get(cid)
    if c is None:
        raise UnitNotFound(f"no collection {cid!r}; collections are {', '.join(view.collections)}")
    return c


def _check_tms(tms: str) -> None:
    if tms != TMS_ID:
        raise UnitNotFound(f"no tile matrix set {tms!r}; the service tiles in {TMS_ID}")


class Tiles:
    """Tile layers and tiles of the current view, described once per snapshot."""

    def __init__(self, state: State):
        self.state = state
        self._layers: dict[str, dict[str, TileLayer]] = {}

    def layers(self, view: View) -> dict[str, TileLayer]:
        got = self._layers.get(view.key)
        if got is None:
            got = {
                cid: tile_layer(cid, c.title, c.description, c.frame, c.extent) for cid, c in view.collections.items()
            }
            self._layers = {view.key: got}  # only the current snapshot's
        return got

    def tile(self, view: View, cid: str, z: int, x: int, y: int) -> bytes:
        from layers.tiles import render_tile

        c = _collection(view, cid)
        key = f"tile|{view.key}|{cid}|{z}|{x}|{y}"
        cached = self.state.responses.get(key)
        if cached is None and isinstance(c, SqlCollection):
            try:
                cached = (c.tile(z, x, y), None)
            except ValueError as exc:
                raise InputRejected(str(exc)) from exc
            self.state.responses.put(key, cached)
        if cached is None:
            props = c.memo.get("tile-props")
            if props is None:  # the columns a tile carries, selected once (a selection of 1M rows is not free)
                props = c.memo["tile-props"] = c.frame[[k for k in TILE_PROPS if k in c.frame.columns]]
            try:
                data = render_tile(cid, c.geoms, c.bounds, props, z, x, y, levels=c.levels, points=c.point_tiles)
            except ValueError as exc:
                raise InputRejected(str(exc)) from exc
            cached = (data, None)
            self.state.responses.put(key, cached)
        return cached[0]

    def response(self, request: Request, cids: list[str], z: int, x: int, y: int) -> Response:
        """One tile holding the layers ``cids`` (an MVT tile is a sequence of layers: per-layer tiles concatenate)."""
        view = self.state.view()
        etag = 'W/"' + hashlib.sha1(f"{view.key}|{','.join(cids)}|{z}|{x}|{y}".encode()).hexdigest()[:20] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        data = b"".join(self.tile(view, cid, z, x, y) for cid in cids)
        return Response(data, media_type=MVT, headers={"ETag": etag})


def _tileset_links(base: str, cid: str | None, lay: TileLayer | None = None) -> list[dict[str, Any]]:
    head = f"{base}/collections/{cid}" if cid else base
    links: list[dict[str, Any]] = [
        {"href": f"{head}/tiles/{TMS_ID}", "rel": "self", "type": "application/json", "title": "this tileset"},
        {
            "href": f"{base}/tileMatrixSets/{TMS_ID}",
            "rel": tl.REL_TILING_SCHEME,
            "type": "application/json",
            "title": _TMS_TITLE,
        },
        {"href": tl.ogc_template(base, cid), "rel": "item", "type": MVT, "templated": True, "title": "tiles"},
    ]
    if cid:
        links += [
            {"href": tl.xyz_template(base, cid), "rel": "item", "type": MVT, "templated": True, "title": "XYZ tiles"},
            {
                "href": f"{tl.xyz_root(base, cid)}/tilejson.json",
                "rel": "describedby",
                "type": tl.TILEJSON_TYPE,
                "title": "TileJSON 3.0.0",
            },
            {
                "href": f"{tl.xyz_root(base, cid)}/metadata.json",
                "rel": "describedby",
                "type": "application/json",
                "title": "GDAL/tippecanoe metadata.json (ogrinfo MVT:<tileset>/<z>)",
            },
            {"href": f"{base}/collections/{cid}", "rel": "collection", "type": "application/json", "title": cid},
        ]
    if cid and lay is not None:
        links.append(tl.gdal_link(base, cid, lay.bounds))
    return links


def _tilesets_list(base: str, cid: str | None, title: str) -> dict[str, Any]:
    from layers.tilesets import CRS_3857, TMS_URI

    return {
        "tilesets": [
            {
                "title": title,
                "dataType": "vector",
                "crs": CRS_3857,
                "tileMatrixSetURI": TMS_URI,
                "links": _tileset_links(base, cid)[:3],
            }
        ],
        "links": [
            {
                "href": f"{base}/collections/{cid}/tiles" if cid else f"{base}/tiles",
                "rel": "self",
                "type": "application/json",
                "title": "tilesets",
            }
        ],
    }


def router(state: State, default_lang: str, auth) -> APIRouter:
    """The tile and style routes (reading needs what ``auth`` checks)."""
    read = APIRouter(dependencies=[auth])
    tiles = Tiles(state)
    _grid_routes(read)
    _dataset_routes(read, state, tiles)
    _collection_routes(read, state, tiles)
    _style_routes(read, state, tiles, default_lang)
    return read


def _grid_routes(read: APIRouter) -> None:
    from layers.tilesets import tile_matrix_set

    @read.get("/tileMatrixSets", summary="Tile matrix sets (OGC API – Tiles)")
    def tile_matrix_sets(request: Request):
        base = _base(request)
        href = f"{base}/tileMatrixSets/{TMS_ID}"
        link = {"href": href, "rel": tl.REL_TILING_SCHEME, "type": "application/json", "title": _TMS_TITLE}
        body = {
            "tileMatrixSets": [{"id": TMS_ID, "title": _TMS_TITLE, "uri": tile_matrix_set()["uri"], "links": [link]}],
            "links": [{"href": f"{base}/tileMatrixSets", "rel": "self", "type": "application/json"}],
        }
        return _json(request, "tms", body)

    @read.get("/tileMatrixSets/{tms}", summary="A tile matrix set definition (OGC 2D TMS 2.0, JSON)")
    def tile_matrix_set_doc(request: Request, tms: str):
        _check_tms(tms)
        return _json(request, "tms", tile_matrix_set())


def _dataset_routes(read: APIRouter, state: State, tiles: Tiles) -> None:
    from layers.tilesets import tileset_doc

    @read.get("/tiles", summary="Vector tilesets of the whole dataset (every collection a layer)")
    def dataset_tilesets(request: Request):
        return _json(request, "tiles", _tilesets_list(_base(request), None, "riskmap: every collection"))

    @read.get(f"/tiles/{TMS_ID}", summary="The dataset tileset: every collection a layer")
    def dataset_tileset(request: Request):
        view = state.view()
        layers = list(tiles.layers(view).values())
        return _json(request, view.key, tileset_doc("riskmap", layers, _tileset_links(_base(request), None)))

    @read.get(f"/tiles/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", summary="A dataset tile (all layers)")
    def dataset_tile(request: Request, tileMatrix: int, tileRow: int, tileCol: int):
        return tiles.response(request, list(state.view().collections), tileMatrix, tileCol, tileRow)


def _collection_routes(read: APIRouter, state: State, tiles: Tiles) -> None:
    from layers.tilesets import gdal_metadata, tilejson, tileset_doc

    @read.get("/collections/{cid}/tiles", summary="Vector tilesets of a collection")
    def collection_tilesets(request: Request, cid: str):
        view = state.view()
        c = _collection(view, cid)
        return _json(request, view.key, _tilesets_list(_base(request), cid, c.title))

    @read.get("/collections/{cid}/tiles/{tms}", summary="A collection's tileset: zooms, limits, layer and fields")
    def collection_tileset(request: Request, cid: str, tms: str):
        _check_tms(tms)
        view = state.view()
        lay = tiles.layers(view).get(_collection(view, cid).id)
        assert lay is not None
        return _json(request, view.key, tileset_doc(lay.title, [lay], _tileset_links(_base(request), cid, lay)))

    @read.get("/collections/{cid}/tiles/{tms}/{tileMatrix}/{tileRow}/{tileCol}", summary="A collection's tile")
    def collection_tile(request: Request, cid: str, tms: str, tileMatrix: int, tileRow: int, tileCol: int):
        _check_tms(tms)
        return tiles.response(request, [cid], tileMatrix, tileCol, tileRow)

    @read.get("/tiles/{cid}/tilejson.json", summary="TileJSON 3.0.0 of a collection's tiles")
    def collection_tilejson(request: Request, cid: str):
        view = state.view()
        lay = tiles.layers(view).get(_collection(view, cid).id)
        assert lay is not None
        body = tilejson(
            [lay], tl.xyz_template(_base(request), cid), name=cid, description=lay.description, version=__version__
        )
        return _json(request, view.key, body)

    @read.get("/tiles/{cid}/metadata.json", summary="GDAL/tippecanoe metadata: `ogrinfo MVT:<tileset>/<z>`")
    def collection_gdal_metadata(request: Request, cid: str):
        view = state.view()
        lay = tiles.layers(view).get(_collection(view, cid).id)
        assert lay is not None
        return _json(request, view.key, gdal_metadata(lay, name=cid))

    @read.get("/tiles/{cid}/{z}/{x}/{y}.mvt", summary="Mapbox Vector Tile of a collection (clustered when dense)")
    def tile_mvt(request: Request, cid: str, z: int, x: int, y: int):
        return tiles.response(request, [cid], z, x, y)

    @read.get("/tiles/{cid}/{z}/{x}/{y}.pbf", summary="The same tile with the extension GDAL and tippecanoe use")
    def tile_pbf(request: Request, cid: str, z: int, x: int, y: int):
        return tiles.response(request, [cid], z, x, y)


def _style_entry(sid: str, title: str, head: str, formats: tuple[str, ...]) -> dict[str, Any]:
    return {
        "id": sid,
        "title": title,
        "links": [
            {"href": f"{head}/{sid}?f={f}", "rel": "stylesheet", "type": tl.STYLE_FORMATS[f], "title": f}
            for f in formats
        ],
    }


def _lang_of(lang: str | None, default: str) -> str:
    lang = lang or default
    if lang not in LANGS:
        raise InputRejected(f"lang={lang!r}: use one of {', '.join(LANGS)}")
    return lang


def _style_routes(read: APIRouter, state: State, tiles: Tiles, default_lang: str) -> None:
    from layers.gisstyles import qml, sld
    from layers.mapstyle import map_style, map_style_ids

    @read.get("/styles", summary="Map styles (MapLibre): a four-colour choropleth per region level")
    def styles_list(request: Request):
        view = state.view()
        base = _base(request)
        ids = map_style_ids(list(tiles.layers(view).values()))
        body = {
            "default": ids[0],
            "styles": [_style_entry(sid, f"four-colour map: {sid}", f"{base}/styles", ("mapbox",)) for sid in ids],
            "links": [{"href": f"{base}/styles", "rel": "self", "type": "application/json", "title": "styles"}],
        }
        return _json(request, view.key, body)

    @read.get("/styles/{sid}", summary="A map style (`f=mapbox`: MapLibre style JSON, version 8)")
    def style_doc(request: Request, sid: str, f: str = "mapbox", lang: str | None = None):
        view = state.view()
        layers = list(tiles.layers(view).values())
        if sid not in map_style_ids(layers):
            raise UnitNotFound(f"no style {sid!r}; styles are {', '.join(map_style_ids(layers))}")
        if f != "mapbox":
            raise InputRejected(f"f={f!r}: a map style is served as f=mapbox (MapLibre style JSON)")
        base = _base(request)
        lg = _lang_of(lang, default_lang)
        body = map_style(layers, lambda cid: tl.xyz_template(base, cid), style_id=sid, styles=load_styles(), lang=lg)
        return _json(request, view.key, body, tl.STYLE_TYPE)

    @read.get("/collections/{cid}/styles", summary="Styles of a collection (MapLibre, QGIS QML, SLD 1.1)")
    def collection_styles(request: Request, cid: str):
        view = state.view()
        _collection(view, cid)
        base = _base(request)
        head = f"{base}/collections/{cid}/styles"
        body = {
            "default": tl.COLLECTION_STYLE_ID,
            "styles": [_style_entry(tl.COLLECTION_STYLE_ID, f"{cid} by risk level", head, tuple(tl.STYLE_FORMATS))],
            "links": [{"href": head, "rel": "self", "type": "application/json", "title": "styles"}],
        }
        return _json(request, view.key, body)

    @read.get("/collections/{cid}/styles/{sid}", summary="A collection's style: f=mapbox, qml or sld")
    def collection_style(request: Request, cid: str, sid: str, f: str = "mapbox", lang: str | None = None):
        view = state.view()
        lay = tiles.layers(view).get(_collection(view, cid).id)
        assert lay is not None
        if sid != tl.COLLECTION_STYLE_ID:
            raise UnitNotFound(f"no style {sid!r} for {cid}; use {tl.COLLECTION_STYLE_ID}")
        if f not in tl.STYLE_FORMATS:
            raise InputRejected(f"f={f!r}: use one of {', '.join(tl.STYLE_FORMATS)}")
        st, lg, base = load_styles(), _lang_of(lang, default_lang), _base(request)
        if f == "mapbox":
            body = map_style([lay], lambda c: tl.xyz_template(base, c), style_id=cid, styles=st, lang=lg)
            return _json(request, view.key, body, tl.STYLE_TYPE)
        text = (
            qml(st, lay.groups, lang=lg, admin_level=lay.admin_level)
            if f == "qml"
            else sld(st, cid, lay.groups, lang=lg, admin_level=lay.admin_level)
        )
        return Response(text.encode("utf-8"), media_type=tl.STYLE_FORMATS[f] + "; charset=utf-8")
