"""The served map page (`/map`): rendered once per snapshot and parameters, kept in the response cache, and
rendered in advance for the wall screens right after a new service process takes over (`api.handover`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.settings import Settings
from api.state import State, release_memory

if TYPE_CHECKING:
    from fastapi import FastAPI


def map_bytes(
    state: State,
    settings: Settings,
    *,
    level: str | None = None,
    domain: str = "all",
    parent: str | None = None,
    lang: str | None = None,
) -> bytes:
    """The served map page of the current snapshot (rendered once per snapshot and parameters, then cached)."""
    from layers.maps import render_map
    from layers.view import MapView, opening_level

    view = state.view()
    map_view = MapView(
        level=level or opening_level(view.boundaries),  # the counties; the provinces of a national store
        domain=domain,
        parent=parent or None,
        lang=lang or settings.lang,
    )
    key = f"map|{view.key}|{map_view}"
    cached = state.responses.get(key)
    if cached is not None:
        return cached[0]
    with state.rendering:  # one page rendered at a time: a request for the page being rendered gets that render
        cached = state.responses.get(key)
        if cached is not None:
            return cached[0]
        html_text = render_map(
            view.snapshot,
            view.boundaries,
            view=map_view,
            basemap=_basemap(settings),
            mode="served",
            asset_base="/static",
            api_base="",
        )
        cached = (html_text.encode("utf-8"), None)
        state.responses.put(key, cached)
    return cached[0]


def prerender(app: FastAPI) -> None:
    """Render the page a wall screen opens (`/map`, no parameters) for the loaded snapshot, so that its first
    request after a build is answered from the cache (`riskmap serve`'s new service process does this right
    after it takes over; a national store's map takes seconds to render)."""
    map_bytes(app.state.riskmap, app.state.settings)
    release_memory()


def _basemap(settings: Settings):
    if not settings.basemap_url:
        return None
    prefix = "gcj02:" if settings.basemap_crs == "gcj02" else ""
    return prefix + settings.basemap_url
