"""`GET /incident`: the incident briefing for a point (JSON, or ?f=html the printable page), from the snapshot
the request resolved once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.state import State
from geo.errors import InputRejected
from geo.response.incident import DEFAULT_RADIUS_M, incident_payload
from layers.incident import incident_html

FORMATS = ("json", "html")


def response_router(state: State, auth, json_response) -> APIRouter:
    read = APIRouter(dependencies=[auth])

    @read.get(
        "/incident",
        summary="Incident briefing: regions, risks within the radius, responders by travel time, shelters, "
        "stocks, experts (f=html: a printable page)",
    )
    async def incident(
        lon: float,
        lat: float,
        radius_m: Annotated[float, Query(gt=0, le=50_000)] = DEFAULT_RADIUS_M,
        crs: str = "wgs84",
        f: str = "json",
        lang: str = "zh",
    ) -> Response:
        if f not in FORMATS:
            raise InputRejected(f"f={f!r}: use f=json or f=html")
        if lang not in ("zh", "en"):
            raise InputRejected(f"lang={lang!r}: use zh or en")
        view = state.view()
        # the first request of a view builds its resource index (and road graph): off the event loop
        doc = await run_in_threadpool(incident_payload, view, lon, lat, radius_m, crs)
        if f == "html":
            return HTMLResponse(incident_html(doc, lang), headers={"Cache-Control": "no-cache"})
        return json_response(doc)

    return read
