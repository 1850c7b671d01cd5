"""`GET /alerts`: the dynamic risk prompts of the published build (or of a kept one) as JSON, an Atom feed,
a JSON Feed or the daily summary page."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.state import State
from geo.errors import InputRejected
from geo.prompts.listing import listing
from layers.alerts import atom_feed, json_feed, summary_html

FORMATS = ("json", "atom", "feed", "html")


def alerts_router(state: State, auth) -> APIRouter:
    read = APIRouter(dependencies=[auth])

    @read.get(
        "/alerts", summary="Dynamic risk prompts (动态风险研判提示): JSON, Atom (f=atom), JSON Feed (f=feed), A4 page"
    )
    def alerts(
        request: Request,
        since: date | None = None,
        region: str | None = None,
        severity: str | None = None,
        status: str = "all",
        build: str | None = None,
        lang: str = "zh",
        f: str = "json",
    ) -> Response:
        if f not in FORMATS:
            raise InputRejected(f"f={f!r}: use one of {', '.join(FORMATS)}")
        if lang not in ("zh", "en"):
            raise InputRejected(f"lang={lang!r}: use zh or en")
        view = state.view()
        doc = listing(
            state.store,
            snapshot=view.snapshot,
            build=build,
            since=since,
            region=region,
            severity=severity,
            status=status,
        )
        base = str(request.base_url).rstrip("/")
        headers = {"Cache-Control": "no-cache"}
        if f == "atom":
            return Response(atom_feed(doc, base, lang), media_type="application/atom+xml", headers=headers)
        if f == "feed":
            return JSONResponse(json_feed(doc, base, lang), media_type="application/feed+json", headers=headers)
        if f == "html":
            return HTMLResponse(summary_html(doc, lang), headers=headers)
        return JSONResponse(doc, headers=headers)

    return read
