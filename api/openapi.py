"""The API definition served at /openapi.json: OpenAPI 3.0 (what the conformance class `oas30` declares).

FastAPI writes OpenAPI 3.1; `to_openapi30` rewrites the few 3.1 constructs it emits (`anyOf [..., null]`,
type lists, `examples` in schemas, `const`, numeric `exclusiveMinimum`, `contentMediaType`) into their 3.0
forms. `document` then lists the items path of every collection explicitly, each with its queryables as
parameters and `limit` (by `$ref`, with its `default` and `maximum`): GDAL's OAPIF driver reads the page size
from the `limit` parameter `$ref`'d on the collection's own items path, and the filterable attributes from
that path's parameters.
"""

from __future__ import annotations

import copy
from typing import Any

from api import cql, ogc, queryables
from api.crs import STORAGE, URIS
from api.state import Collection

MEDIA = "application/vnd.oai.openapi+json;version=3.0"
_PARAMS = "#/components/parameters/"


def _nullable(schema: dict[str, Any], key: str) -> None:
    options = schema[key]
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) == len(options):
        return
    del schema[key]
    schema["nullable"] = True
    if len(rest) == 1 and "$ref" in rest[0]:
        schema["allOf"] = rest
    elif len(rest) == 1:
        schema.update(rest[0])
    else:
        schema[key] = rest


def _schema30(schema: dict[str, Any]) -> None:
    """One schema object, in place (its children are walked by `_walk`)."""
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            _nullable(schema, key)
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        if len(types) < len(schema["type"]):
            schema["nullable"] = True
        schema["type"] = types[0] if len(types) == 1 else "string"
    if isinstance(schema.get("examples"), list):
        examples = schema.pop("examples")
        if examples:
            schema["example"] = examples[0]
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), int | float) and not isinstance(schema.get(bound), bool):
            schema[limit] = schema[bound]
            schema[bound] = True
    if "contentMediaType" in schema:
        schema.pop("contentMediaType")
        schema["format"] = "binary"
    schema.pop("contentEncoding", None)
    schema.pop("$schema", None)
    schema.pop("$id", None)


def _walk(node: Any) -> None:
    if isinstance(node, dict):
        if "type" in node or "anyOf" in node or "oneOf" in node or "const" in node:
            _schema30(node)
        for value in node.values():
            _walk(value)
    elif isinstance(node, list):
        for value in node:
            _walk(value)


def to_openapi30(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["openapi"] = "3.0.3"
    out.pop("jsonSchemaDialect", None)
    out.pop("webhooks", None)
    for path in out.get("paths", {}).values():
        _walk(path)
    _walk(out.get("components", {}))
    return out


def _query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema, **extra}


def common_parameters(limit_default: int, limit_max: int) -> dict[str, dict[str, Any]]:
    """The parameters every items path shares, as `components.parameters` entries."""
    crs = {"type": "string", "format": "uri", "enum": list(URIS), "default": STORAGE.uri}
    return {
        "limit": _query(
            "limit",
            "features per page",
            {"type": "integer", "minimum": 1, "maximum": limit_max, "default": limit_default},
        ),
        "offset": _query("offset", "features to skip (the `next` link sets it)", {"type": "integer", "minimum": 0}),
        "bbox": _query(
            "bbox",
            "minLon,minLat,maxLon,maxLat in CRS84, or the two corners in bbox-crs's axis order",
            {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 6},
            style="form",
            explode=False,
        ),
        "bbox-crs": _query("bbox-crs", "the CRS of bbox", crs),
        "crs": _query("crs", "the CRS of the response geometries (named in the Content-Crs header)", crs),
        "datetime": _query("datetime", "the as-of date (YYYY-MM-DD)", {"type": "string"}),
        "filter": _query("filter", "a CQL2 filter on the queryables", {"type": "string"}),
        "filter-lang": _query(
            "filter-lang",
            "the filter's encoding (`cql-text` is read as cql2-text)",
            {"type": "string", "enum": list(cql.LANGS), "default": "cql2-text"},
        ),
        "filter-crs": _query("filter-crs", "the CRS of the filter's geometry literals", crs),
        "sortby": _query(
            "sortby",
            "properties to sort by, `-` for descending: `-risk_score,name`",
            {"type": "array", "items": {"type": "string"}},
            style="form",
            explode=False,
        ),
        "properties": _query(
            "properties",
            "the properties to return",
            {"type": "array", "items": {"type": "string"}},
            style="form",
            explode=False,
        ),
        "skipGeometry": _query("skipGeometry", "leave the geometries out", {"type": "boolean", "default": False}),
        "f": _query("f", "json (default) or html", {"type": "string", "enum": ["json", "html"]}),
    }


def _collection_params(c: Collection, common: dict[str, Any]) -> list[dict[str, Any]]:
    refs = [{"$ref": _PARAMS + name} for name in common]
    props = [
        _query(
            name,
            f"features whose {name} equals this value",
            {"type": p.kind, **({"enum": list(p.enum)} if p.enum else {})},
        )
        for name, p in queryables.properties(c).items()
        if name not in common
    ]
    return refs + props


def _items_operation(c: Collection, common: dict[str, Any]) -> dict[str, Any]:
    return {
        "tags": ["OGC API – Features"],
        "summary": f"{c.title}: features",
        "operationId": f"items-{c.id}",
        "parameters": _collection_params(c, common),
        "responses": {
            "200": {
                "description": "a page of features (GeoJSON FeatureCollection)",
                "headers": {"Content-Crs": {"description": "the CRS of the geometries", "schema": {"type": "string"}}},
                "content": {ogc.GEOJSON: {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}},
            },
            "400": {"description": "a parameter that is not understood (problem+json)"},
            "404": {"description": "no such collection"},
        },
    }


def document(base_doc: dict[str, Any], collections: dict[str, Collection], limit_default: int, limit_max: int):
    """`/openapi.json`: FastAPI's document in OpenAPI 3.0, with an explicit items path per collection."""
    doc = to_openapi30(base_doc)
    common = common_parameters(limit_default, limit_max)
    doc.setdefault("components", {}).setdefault("parameters", {}).update(common)
    paths = doc.setdefault("paths", {})
    templated = paths.get("/collections/{cid}/items", {}).get("get")
    if templated is not None:
        cid = {"name": "cid", "in": "path", "required": True, "schema": {"type": "string"}}
        templated["parameters"] = [cid, *({"$ref": _PARAMS + name} for name in common)]
    one = paths.get("/collections/{cid}/items/{fid}", {}).get("get")
    if one is not None:
        ids = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in ("cid", "fid")]
        one["parameters"] = [*ids, *({"$ref": _PARAMS + name} for name in ogc.ITEM_PARAMS)]
    for c in collections.values():
        paths[f"/collections/{c.id}/items"] = {"get": _items_operation(c, common)}
    return doc


# -- what each operation can answer: statuses and media types ----------------------------------------------
JSON, HTML, SCHEMA_JSON = "application/json", "text/html", "application/schema+json"
MVT = "application/vnd.mapbox-vector-tile"
#: the media types of each GET path's success answer (what `f=`/`Accept` choose from); unlisted: JSON
SUCCESS_MEDIA: dict[str, tuple[str, ...]] = {
    "/": (JSON, HTML),
    "/conformance": (JSON, HTML),
    "/collections": (JSON, HTML),
    "/collections/{cid}": (JSON, HTML),
    "/collections/{cid}/queryables": (SCHEMA_JSON,),
    "/collections/{cid}/schema": (SCHEMA_JSON,),
    "/collections/{cid}/items": (ogc.GEOJSON, HTML),
    "/collections/{cid}/items/{fid}": (ogc.GEOJSON, HTML),
    "/map": (HTML,),
    "/clusters/enterprises": (ogc.GEOJSON,),
    "/regions/{adcode}": (JSON, HTML),
    "/incident": (JSON, HTML),
    "/alerts": (JSON, "application/atom+xml", "application/feed+json", HTML),
    "/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}": (MVT,),
    "/collections/{cid}/tiles/{tms}/{tileMatrix}/{tileRow}/{tileCol}": (MVT,),
    "/tiles/{cid}/{z}/{x}/{y}.mvt": (MVT,),
    "/tiles/{cid}/{z}/{x}/{y}.pbf": (MVT,),
    "/styles/{sid}": ("application/vnd.mapbox.style+json",),
    "/collections/{cid}/styles/{sid}": (
        "application/vnd.mapbox.style+json",
        "application/vnd.qgis.qml",
        "application/vnd.ogc.sld+xml;version=1.1",
    ),
}
#: routes that need the editor role (401 without a token, 403 with another)
EDITOR_PATHS = ("/datasets/", "/builds", "/jobs")
#: routes that answer without a build in the store (every other one answers 503 until there is one)
NO_BUILD_NEEDED = ("/", "/conformance", "/tileMatrixSets", "/tileMatrixSets/{tms}", "/jobs", "/jobs/{job_id}")
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
PROBLEM_STATUSES = {
    "400": "a parameter or file that is not understood",
    "401": "no valid `Authorization: Bearer` token",
    "403": "a token without the role this needs",
    "404": "no such collection, feature, region, tile or job",
    "413": "the upload is larger than the limit",
    "503": "no build published yet (or, for a job, too many queued)",
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description + " (RFC 7807 problem)",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def honest_responses(doc: dict[str, Any], readers_need_token: bool) -> dict[str, Any]:
    """Every operation lists the statuses the service answers with and the media types of its answers:
    problem+json for each refusal (400 replaces FastAPI's 422: the service answers bad parameters with
    400), 404 where a path names something, 401/403 where a token is needed, 413 on uploads, 503 until a
    build exists; success in the media types `f=`/`Accept` choose between."""
    doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            statuses = ["400"]
            if "{" in path or method == "get":  # a path or a parameter (`parent`, `region`) naming what is not there
                statuses.append("404")
            editor = path.startswith(EDITOR_PATHS)
            if editor or readers_need_token:
                statuses.append("401")
            if editor:
                statuses.append("403")
            if method == "post" and path.startswith("/datasets/"):
                statuses.append("413")
            if path not in NO_BUILD_NEEDED or method == "post":
                statuses.append("503")
            for status in statuses:
                responses[status] = _problem(PROBLEM_STATUSES[status])
            if method == "post":  # a job: 202 at once, or with `?wait=` the finished job (200; a build 201)
                done = "201" if path == "/builds" else "200"
                responses[done] = {"description": "the job, finished within `wait` seconds", "content": {JSON: {}}}
            media = SUCCESS_MEDIA.get(path)
            if media is None or method != "get":
                continue
            ok = responses.setdefault("200", {"description": "success"})
            schemas = [(ok.get("content") or {}).get(m, {}).get("schema", {}) for m in media]
            ok["content"] = {m: {"schema": s or {}} for m, s in zip(media, schemas, strict=True)}
    return doc
