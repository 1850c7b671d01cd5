"""HTTP protocol hygiene as one ASGI middleware: HEAD wherever GET works, security headers on every response,
and the snapshot each response was answered from.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware): it only rewrites the request method and adds
headers to the response start message, so streaming and gzip pass through untouched.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from api.state import SERVED

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: names the snapshot (a dated view: `<id>@<date>`) every part of the response came from
SNAPSHOT_HEADER = b"x-riskmap-snapshot"
#: sent with every response
COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
#: sent with HTML responses besides the content security policy
HTML_HEADERS = ((b"x-frame-options", b"SAMEORIGIN"),)


def content_security_policy(image_origins: tuple[str, ...] = (), script_hashes: tuple[str, ...] = ()) -> str:
    """The policy the service's pages satisfy: scripts and data from the service only.

    Inline `<style>` is allowed (the map's theme variables and the OGC pages' table style are inline; styles
    cannot run code); inline scripts are not, except those named by hash (the Swagger UI's start-up script).
    `image_origins` adds the configured basemap's tile server.
    """
    scripts = " ".join(["'self'", *(f"'{h}'" for h in script_hashes)])
    images = " ".join(["'self'", "data:", "blob:", *image_origins])
    return (
        "default-src 'self'; "
        f"script-src {scripts}; "
        "style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; "
        "font-src 'self' data:; "
        "connect-src 'self'; "
        "object-src 'none'; "
        "base-uri 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'self'"
    )


def tile_origin(template: str | None) -> tuple[str, ...]:
    """The CSP source of a basemap URL template (`http://{s}.tiles.lan/{z}/{x}/{y}.png` -> `http://*.tiles.lan`)."""
    if not template:
        return ()
    text = template.split(":", 1)[1] if template.startswith("gcj02:") else template
    text = re.sub(r"\{s\}\.", "*.", text)
    parts = urlsplit(text.replace("{", "").replace("}", ""))
    if not parts.scheme or not parts.netloc:
        return ()  # a relative template is served by the service itself: 'self' covers it
    host = urlsplit(text).netloc
    return (f"{parts.scheme}://{host}",)


def script_hash(source: str) -> str:
    """The CSP hash source of an inline script's text."""
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")


class ProtocolMiddleware:
    """HEAD answered as GET without a body; security headers added to every HTTP response."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.csp = csp.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served: list[str] = []  # the snapshot keys this request is answered from (api.state records them)
        token = SERVED.set(served)
        head = scope["method"] == "HEAD"
        if head:
            scope = dict(scope, method="GET")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in COMMON_HEADERS if h[0] not in names)
                if served:
                    headers.append((SNAPSHOT_HEADER, ", ".join(served).encode("latin-1")))
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html"):
                    headers.extend(h for h in HTML_HEADERS if h[0] not in names)
                    if b"content-security-policy" not in names:
                        headers.append((b"content-security-policy", self.csp))
                message = dict(message, headers=headers)
            elif head and message["type"] == "http.response.body":
                message = dict(message, body=b"")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            SERVED.reset(token)
