"""The HTTP service. `create_app(settings)` builds it; nothing is built at import time."""

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import logging
import re
import shutil
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api import ogc, queryables, tilesapi
from api.alerts import alerts_router
from api.crs import content_crs
from api.jobs import JobRunner, run_build, run_ingest
from api.mappage import map_bytes
from api.problems import Forbidden, NotAuthenticated, add_exception_handlers, problem
from api.protocol import ProtocolMiddleware, content_security_policy, script_hash, tile_origin
from api.response import response_router
from api.settings import Settings, hash_token
from api.state import State, View, system_allocator
from api.uploads import REQUEST_BODY, check_length, receive_file
from geo import __version__
from geo.errors import InputRejected, StoreEmpty, UnitNotFound
from geo.query import near_payload
from geo.readers import SUFFIXES
from geo.store import Store

TITLE = "riskmap"
#: what an upload may be: every file the readers take, but a lone .shp (its .shx and .dbf cannot come along)
UPLOAD_SUFFIXES = frozenset(SUFFIXES) - {".shp"}


class ORJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=str)


def _wants_html(request: Request, f: str | None) -> bool:
    if f is not None:
        if f not in ("json", "html"):
            raise InputRejected(f"f={f!r}: use f=json or f=html")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept.split(",")[0]


def _respond(
    request: Request, body: dict[str, Any], media: str, etag_key: str, html_fn=None, extra: dict[str, str] | None = None
) -> Response:
    kind = "html" if html_fn is not None else "json"  # one URL serves both: the ETag must tell them apart
    etag = 'W/"' + hashlib.sha1(f"{etag_key}|{kind}|{request.url.query}".encode()).hexdigest()[:20] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept, Accept-Encoding", **(extra or {})}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if html_fn is not None:
        return HTMLResponse(html_fn(body), headers=headers)
    return ORJSON(body, media_type=media, headers=headers)


def _cached_json(
    request: Request, state: State, view_key: str, media: str, make, extra: dict[str, str] | None = None
) -> Response:
    """Serve a JSON body from the response cache (built once per snapshot and URL, stored plain and gzipped)."""
    key = f"{view_key}|{request.url}"
    etag = 'W/"' + hashlib.sha1(key.encode()).hexdigest()[:20] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, **(extra or {})})
    entry = state.responses.get(key)
    if entry is None:
        raw = orjson.dumps(make(), option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=str)
        entry = (raw, gzip.compress(raw, 6) if len(raw) > 1024 else None)
        state.responses.put(key, entry)
    raw, gz = entry
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept, Accept-Encoding", **(extra or {})}
    if gz is not None and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gz, media_type=media, headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type=media, headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    system_allocator()  # a service's memory comes back after each load
    store = Store.open(settings.store)
    state = State(store, response_cache_mb=response_cache_mb(settings, store))
    state.jobs = JobRunner(store, workers=settings.job_workers, queue=settings.job_queue, nice=settings.job_nice)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=_preload, args=(state,), name="preload", daemon=True).start()
        yield
        state.jobs.shutdown()  # the worker processes end with the service

    app = FastAPI(
        lifespan=lifespan,
        title=TITLE,
        description="Four-colour safety-risk maps: OGC API – Features, maps, risk near a point",
        version=__version__,
        default_response_class=ORJSON,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by _add_docs: OpenAPI 3.0 with every collection's items path
    )
    app.state.settings = settings
    app.state.riskmap = state
    add_exception_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    def token_of(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _matches(token: str | None, hashes: tuple[str, ...]) -> bool:
        if not token:
            return False
        h = hash_token(token)
        return any(hmac.compare_digest(h, known) for known in hashes)

    # async: a header and a hash, on the event loop (a sync dependency costs every request a threadpool hop)
    async def reader(request: Request) -> None:
        hashes = settings.reader_token_hashes
        if hashes and not (
            _matches(token_of(request), hashes) or _matches(token_of(request), settings.editor_token_hashes)
        ):
            raise NotAuthenticated("reading needs `Authorization: Bearer <token>`")

    async def editor(request: Request) -> None:
        token = token_of(request)
        if not token:
            raise NotAuthenticated("this needs `Authorization: Bearer <token>` with the editor role")
        if not _matches(token, settings.editor_token_hashes):
            raise Forbidden("the token does not have the editor role")

    from fastapi.staticfiles import StaticFiles

    from layers.assets import static_dirs

    for prefix, directory in static_dirs().items():
        app.mount(f"/static/{prefix}", StaticFiles(directory=directory), name=f"static-{prefix}")
    _add_docs(app, state, settings)
    app.include_router(_map_router(state, settings, Depends(reader)))
    app.include_router(_ogc_router(state, settings, Depends(reader)))
    app.include_router(_service_router(state, store, Depends(reader)))
    app.include_router(tilesapi.router(state, settings.lang, Depends(reader)))
    app.include_router(_write_router(state, store, settings, Depends(editor)))
    app.include_router(alerts_router(state, Depends(reader)))
    app.include_router(response_router(state, Depends(reader), ORJSON))
    app.add_middleware(ProtocolMiddleware, csp=content_security_policy(tile_origin(settings.basemap_url)))
    return app


def _preload(state: State) -> None:
    """Load and index the current snapshot as the service starts, so the first readers need not wait."""
    try:
        state.refresh()
    except StoreEmpty:
        pass  # no build yet: the first request says so
    except Exception:  # the first request loads it again and reports what fails
        logging.getLogger("riskmap").exception("loading the current snapshot at start failed")


def _add_docs(app: FastAPI, state: State, settings: Settings) -> None:
    """/openapi.json (OpenAPI 3.0) and /docs with Swagger UI served from the installed swagger-ui-bundle package
    (FastAPI's default is a CDN)."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    from api import openapi
    from geo.errors import StoreEmpty

    documents: dict[str, bytes] = {}

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json():
        try:
            view = state.view()
            key, collections = view.key, view.collections
        except StoreEmpty:  # the API is still described, without collection paths
            key, collections = "", {}
        if key not in documents:
            doc = openapi.document(app.openapi(), collections, settings.page_limit_default, settings.page_limit_max)
            doc = openapi.honest_responses(doc, readers_need_token=bool(settings.reader_token_hashes))
            documents.clear()
            documents[key] = orjson.dumps(doc)
        return Response(documents[key], media_type=openapi.MEDIA)

    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="static-swagger")

    @app.get("/docs", include_in_schema=False)
    def docs():
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{TITLE} API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )
        # Swagger UI starts from one inline script: allow exactly that script by its hash
        inline = re.findall(r"<script>(.*?)</script>", bytes(page.body).decode("utf-8"), flags=re.S)
        csp = content_security_policy(script_hashes=tuple(script_hash(s) for s in inline))
        page.headers["Content-Security-Policy"] = csp
        return page


def response_cache_mb(settings: Settings, store: Store) -> float:
    """The response cache's bound: as set, else 256 MB over a directory store and 16 MB over PostgreSQL (where an
    instance is one of several behind a reverse proxy that caches the tiles, docs/deploy.md; an instance over a
    1M census then stays under 300 MB resident under load)."""
    if settings.response_cache_mb is not None:
        return settings.response_cache_mb
    return 16.0 if store.backend == "postgis" else 256.0


def _map_router(state: State, settings: Settings, auth) -> APIRouter:
    read = APIRouter(dependencies=[auth])

    @read.get("/map", summary="The four-colour map page (HTML)", response_class=HTMLResponse)
    def map_page(
        level: str | None = None,
        domain: str = "all",
        parent: str | None = None,
        lang: str | None = None,
    ):
        page = map_bytes(state, settings, level=level, domain=domain, parent=parent, lang=lang)
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @read.get("/clusters/enterprises", summary="Enterprises in view: points when few, server-side clusters otherwise")
    def clusters(
        bbox: str,
        zoom: Annotated[float, Query(ge=0, le=24)],
        domain: str = "all",
        parent: str | None = None,
        crs: str = "wgs84",
        limit: Annotated[int, Query(ge=1, le=5000)] = 2000,
    ):
        box = ogc.parse_bbox(bbox)
        if box is None:
            raise InputRejected("bbox is required: minLon,minLat,maxLon,maxLat of the view")
        view = state.view()
        if crs not in ("wgs84", "gcj02"):
            raise InputRejected(f"crs={crs!r}: the map's display CRS is wgs84 or gcj02")
        domains = {"all", *view.regions["domain"].unique()}
        if domain not in domains:
            raise InputRejected(f"domain={domain!r}: use one of {', '.join(sorted(domains))}")
        if parent and parent not in set(view.boundaries["adcode"]):
            raise InputRejected(f"parent={parent!r}: not a region adcode of the build")
        try:
            fc = view.clusters(box, zoom, limit, domain=domain, parent=parent or None, crs=crs)
        except ValueError as exc:
            raise InputRejected(f"bbox={bbox!r}: {exc}") from exc
        return ORJSON(fc, media_type="application/geo+json")

    return read


def _collection(view: View, cid: str):
    c = view.collections.get(cid)
    if c is None:
        raise UnitNotFound(f"no collection {cid!r}; collections are {', '.join(view.collections)}")
    return c


def _schema_response(request: Request, body: dict[str, Any], view_key: str, f: str | None) -> Response:
    html_fn = None
    if _wants_html(request, f):

        def html_fn(b):
            keys = ("type", "format", "enum")
            rows = [{"name": k, **{a: v.get(a) for a in keys}} for k, v in _schema_props(b).items()]
            return ogc.html_page(b["title"], ogc.table_html(rows))

    return _respond(request, body, ogc.SCHEMA_JSON, view_key, html_fn)


def _schema_props(doc: dict[str, Any]) -> dict[str, Any]:
    props = doc["properties"]
    return props["properties"]["properties"] if "properties" in props.get("properties", {}) else props


def _ogc_router(state: State, settings: Settings, auth) -> APIRouter:  # noqa: C901 - one small handler per route
    read = APIRouter(dependencies=[auth])

    @read.get("/", summary="Landing page")
    def landing(request: Request, f: str | None = None):
        body = ogc.landing(_base(request), TITLE)
        html_fn = (lambda b: ogc.html_page(TITLE, ogc.links_html(b["links"]))) if _wants_html(request, f) else None
        return _respond(request, body, "application/json", "landing", html_fn)

    @read.get("/conformance", summary="OGC API conformance classes")
    def conformance(request: Request, f: str | None = None):
        body = {"conformsTo": ogc.CONFORMANCE}
        html_fn = (
            (
                lambda b: ogc.html_page(
                    "conformance", "<ul>" + "".join(f"<li>{c}</li>" for c in b["conformsTo"]) + "</ul>"
                )
            )
            if _wants_html(request, f)
            else None
        )
        return _respond(request, body, "application/json", "conformance", html_fn)

    @read.get("/collections", summary="Feature collections")
    def collections(request: Request, f: str | None = None):
        view = state.view()
        body = ogc.collections_doc(_base(request), view)
        html_fn = None
        if _wants_html(request, f):

            def html_fn(b):
                return ogc.html_page(
                    "collections",
                    ogc.table_html(
                        [
                            {"id": c["id"], "title": c["title"], "description": c["description"]}
                            for c in b["collections"]
                        ]
                    )
                    + ogc.links_html([lk for c in b["collections"] for lk in c["links"] if lk["rel"] == "items"]),
                )

        return _respond(request, body, "application/json", view.key, html_fn)

    @read.get("/collections/{cid}", summary="One collection")
    def collection(request: Request, cid: str, f: str | None = None):
        view = state.view()
        body = ogc.collection_doc(_base(request), _collection(view, cid), view)
        html_fn = None
        if _wants_html(request, f):

            def html_fn(b):
                desc = f"<p>{ogc.html.escape(b['description'])}</p>"
                return ogc.html_page(b["title"], desc + ogc.links_html(b["links"]))

        return _respond(request, body, "application/json", view.key, html_fn)

    @read.get("/collections/{cid}/queryables", summary="What filter and name=value parameters may name (JSON Schema)")
    def collection_queryables(request: Request, cid: str, f: str | None = None):
        view = state.view()
        body = queryables.queryables_doc(_base(request), _collection(view, cid))
        return _schema_response(request, body, view.key, f)

    @read.get("/collections/{cid}/schema", summary="The schema of the collection's features (JSON Schema)")
    def collection_schema(request: Request, cid: str, f: str | None = None):
        view = state.view()
        body = queryables.schema_doc(_base(request), _collection(view, cid))
        return _schema_response(request, body, view.key, f)

    @read.get(
        "/collections/{cid}/items",
        summary="Features, with bbox, paging, as-of date, CRS, CQL2 filter, sorting and property filters",
    )
    def items(
        request: Request,
        cid: str,
        bbox: str | None = None,
        limit: Annotated[int, Query(ge=1, le=settings.page_limit_max)] = settings.page_limit_default,
        offset: Annotated[int, Query(ge=0)] = 0,
        datetime: str | None = None,
        f: str | None = None,
    ):
        view = state.view_at(ogc.parse_datetime(datetime))
        c = _collection(view, cid)
        q = ogc.feature_query(c, dict(request.query_params))
        crs_header = {"Content-Crs": content_crs(q.crs)}

        def make():
            return ogc.items(_base(request), c, view, q=q, limit=limit, offset=offset, query=str(request.url.query))

        if not _wants_html(request, f):
            return _cached_json(request, state, view.key, ogc.GEOJSON, make, crs_header)

        def html_fn(b):
            rows = [feat["properties"] for feat in b["features"]]
            head = f"<p>{b['numberReturned']} of {b['numberMatched']} features</p>"
            return ogc.html_page(c.title, head + ogc.table_html(rows) + ogc.links_html(b["links"]))

        body = make()
        return _respond(request, body, ogc.GEOJSON, view.key, html_fn, crs_header)

    @read.get("/collections/{cid}/items/{fid}", summary="One feature")
    def one_item(request: Request, cid: str, fid: str, datetime: str | None = None, f: str | None = None):
        view = state.view_at(ogc.parse_datetime(datetime))
        c = _collection(view, cid)
        q = ogc.feature_query(c, dict(request.query_params), single=True)
        body = ogc.item(_base(request), c, fid, q)
        html_fn = None
        if _wants_html(request, f):

            def html_fn(b):
                return ogc.html_page(str(b["id"]), ogc.table_html([b["properties"]]) + ogc.links_html(b["links"]))

        return _respond(request, body, ogc.GEOJSON, view.key, html_fn, {"Content-Crs": content_crs(q.crs)})

    return read


def _service_router(state: State, store: Store, auth) -> APIRouter:
    read = APIRouter(dependencies=[auth])

    @read.get("/near", summary="Enterprises and hazard sites near a point, the regions there, and a summary")
    async def near(  # async: ~3 ms of numpy work is cheaper on the event loop than a threadpool hop
        lon: float,
        lat: float,
        radius_m: Annotated[float, Query(gt=0, le=50_000)] = 1000.0,
        crs: str = "wgs84",
        as_of: date | None = None,
        limit: Annotated[int, Query(ge=0, le=10_000)] = 100,
    ):
        view = state.view()
        if as_of is not None and as_of != view.as_of:  # a dated view may take seconds: never on the event loop
            view = await run_in_threadpool(state.view_at, as_of)
        if view.queries_database:  # waits on the database: in a worker thread, the event loop keeps serving
            return ORJSON(await run_in_threadpool(near_payload, view, lon, lat, radius_m, crs, limit))
        return ORJSON(near_payload(view, lon, lat, radius_m, crs, limit))  # no jsonable_encoder pass

    @read.get("/regions/{adcode}", summary="A region's level, index, counts, explanation and trend")
    def region(request: Request, adcode: str, f: str | None = None, lang: str | None = None):
        from layers.regionpage import render_region_page

        view = state.view()  # one snapshot answers every part of the response
        if adcode not in set(view.regions["adcode"]):
            raise UnitNotFound(f"no region {adcode!r} in the build")
        body = view.explain(adcode)
        body["trend"] = view.snapshot.history(adcode)
        page_lang = lang or request.app.state.settings.lang
        map_url = f"/map?level=county&parent={adcode if body.get('admin_level') != 'county' else ''}&lang={page_lang}"
        html_fn = (
            (lambda b: render_region_page(b, lang=page_lang, map_url=map_url)) if _wants_html(request, f) else None
        )
        return _respond(request, body, "application/json", view.key, html_fn)

    @read.get("/explain/{target}", summary="Why a region (adcode), enterprise or hazard site (id) has its level")
    def explain(request: Request, target: str, as_of: date | None = None):
        view = state.view_at(as_of)  # the published view, or a dated one (computed once, cached)
        return _respond(request, view.explain(target), "application/json", view.key)

    return read


def _write_router(state: State, store: Store, settings: Settings, auth) -> APIRouter:
    """Uploads and builds: queued as jobs in a worker process (api.jobs), never run on the event loop."""
    write = APIRouter(dependencies=[auth])
    runner: JobRunner = state.jobs
    Wait = Annotated[float, Query(ge=0, le=600, description="seconds to wait for the job to finish")]

    @write.post(
        "/datasets/{kind}",
        summary="Upload a census file (editor role): a job that validates and ingests it",
        status_code=202,
        openapi_extra={"requestBody": REQUEST_BODY},
    )
    async def upload(request: Request, kind: str, crs: str | None = None, sheet: str | None = None, wait: Wait = 0):
        from geo.ingest import KINDS

        if kind not in KINDS:
            raise InputRejected(f"unknown dataset kind {kind!r}; use one of {', '.join(KINDS)}")
        limit = int(settings.max_upload_mb * 1024 * 1024)
        check_length(request, limit, settings.max_upload_mb)
        tmp = Path(tempfile.mkdtemp(prefix="riskmap-upload-"))
        try:
            name, path = await receive_file(request, tmp, limit, settings.max_upload_mb, UPLOAD_SUFFIXES)
            job = runner.submit(
                "ingest",
                run_ingest,
                (store.location, str(path), kind, crs, sheet),
                {"file": name, "kind": kind},
                cleanup=tmp,
                hide={str(path): name},
            )
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return await _job_response(runner, job, wait, done_status=200)

    @write.post("/builds", summary="Rebuild and publish the snapshot (editor role): a job", status_code=202)
    async def builds(as_of: date | None = None, wait: Wait = 0):
        def published(result: dict) -> None:
            if state.follow:  # (otherwise `riskmap serve` starts processes for it)
                state.refresh()  # serve the new build from now on, in the job's callback thread

        job = runner.submit(
            "build",
            run_build,
            (store.location, str(as_of or date.today())),
            {"as_of": str(as_of or date.today())},
            on_success=published,
        )
        return await _job_response(runner, job, wait, done_status=201)

    @write.get("/jobs", summary="Recent jobs, newest first (editor role)")
    def jobs(limit: Annotated[int, Query(ge=1, le=500)] = 50):
        return ORJSON({"jobs": runner.list(limit)})

    @write.get("/jobs/{job_id}", summary="A job: its status, and its result or error when finished (editor role)")
    def job(job_id: str):
        return ORJSON(runner.get(job_id))

    return write


async def _job_response(runner: JobRunner, job_id: str, wait: float, done_status: int) -> Response:
    """The job's document: 202 while it runs; `done_status` when it finished within `wait` seconds; a
    failed job's error as problem+json with the error's status."""
    future = runner.future(job_id)
    if wait > 0 and future is not None:
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout=wait)
        except TimeoutError:
            pass
        except BaseException:  # noqa: BLE001 - the failure is reported from the job's document below
            pass
        await asyncio.sleep(0)  # let the done-callback write the final document
    doc = runner.get(job_id)
    for _ in range(50):  # the done-callback runs in the pool's thread: wait for its document write
        if future is None or not future.done() or doc["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.02)
        doc = runner.get(job_id)
    headers = {"Location": f"/jobs/{job_id}"}
    if doc["status"] == "failed":
        err = doc["error"]
        return problem(err["status"], err["detail"], instance=f"/jobs/{job_id}", job=job_id)
    status = done_status if doc["status"] == "succeeded" else 202
    return ORJSON(doc, status_code=status, headers=headers)
