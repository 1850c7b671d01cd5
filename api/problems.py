"""Errors as RFC 7807 problem+json; the one place where library exceptions become HTTP codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo import errors


class Problem(Exception):
    """A refusal that only exists at the HTTP layer (authentication, authorisation, body size): raise a
    subclass; its status comes from `STATUS` like every library error's."""


class NotAuthenticated(Problem):
    """No (valid) bearer token."""


class Forbidden(Problem):
    """A valid token without the role the route needs."""


class PayloadTooLarge(Problem):
    """A request body over the configured limit."""


class ServiceBusy(Problem):
    """Too many jobs queued: try again when one has finished."""


STATUS: dict[type[Exception], int] = {
    NotAuthenticated: 401,
    Forbidden: 403,
    PayloadTooLarge: 413,
    ServiceBusy: 503,
    errors.InputRejected: 400,
    errors.CRSUnknown: 400,
    errors.ModelInvalid: 400,
    errors.BoundaryNotFound: 404,
    errors.UnitNotFound: 404,
    errors.StoreEmpty: 503,
    errors.StoreError: 500,
    errors.BoundaryCheckFailed: 422,
    errors.MapRejected: 400,
    errors.ExportRejected: 400,
    errors.FontMissing: 500,
    errors.AssetMissing: 500,
}
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Payload too large",
    422: "Unprocessable",
    500: "Server error",
    503: "Service unavailable",
}


def problem(status: int, detail: str, **extra) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def status_for(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def add_exception_handlers(app: FastAPI) -> None:
    async def known_error(request: Request, exc: Exception) -> Response:
        return problem(status_for(exc), str(exc), instance=str(request.url.path))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
            parts.append(f"{loc}: {err.get('msg')}")
        return problem(400, "invalid parameter — " + "; ".join(parts), instance=str(request.url.path))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, str(exc.detail), instance=str(request.url.path))

    async def unexpected(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger("riskmap").exception("unexpected error on %s", request.url.path)
        detail = f"internal error ({type(exc).__name__}); the server log has the details"
        return problem(500, detail, instance=str(request.url.path))

    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(errors.RiskmapError, known_error)
    app.add_exception_handler(Problem, known_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
