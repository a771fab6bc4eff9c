"""Every refusal of the API is a JSON body ``{"error": {"code", "message", "details"}}`` with a 4xx status."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from kudos_service.api.middleware import allowed_methods
from kudos_service.claims.links import redact_links
from kudos_service.errors import (
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidRequestError,
    NotFoundError,
    ServiceError,
)
from kudos_service.schemas import RECIPIENT_TAGS

logger = logging.getLogger(__name__)

#: Errors that mean the database cannot be used right now (disk full, locked for too long, I/O error, server
#: gone, pool exhausted), not that the request is wrong: 503 ``storage_unavailable``, to be retried.
STORAGE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
)

#: How long a client is asked to wait before retrying after a storage failure.
STORAGE_RETRY_AFTER_S = 5

__all__ = ["STORAGE_ERRORS", "ApiError", "first_line", "http_status", "install_error_handlers"]


class ApiError(Exception):
    """A refusal with a machine-readable ``code`` and a sentence for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON body of a refusal."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body" and p not in RECIPIENT_TAGS]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


def validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{"field", "message"}`` items (``awards[3].recipient``)."""
    details = []
    for err in errors:
        item: dict[str, Any] = {"field": _location(tuple(err.get("loc", ()))), "message": str(err.get("msg"))}
        loc = [p for p in err.get("loc", ()) if p != "body"]
        if len(loc) >= 2 and loc[0] == "awards" and isinstance(loc[1], int):
            item["index"] = loc[1]
        details.append(item)
    return details


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


#: The HTTP status of each kind of domain refusal (``kudos_service.errors``).
_DOMAIN_STATUS: tuple[tuple[type[ServiceError], int], ...] = (
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (GoneError, 410),
    (InvalidRequestError, 422),
)


def http_status(exc: ServiceError) -> int:
    """The HTTP status of a domain refusal."""
    return next((status for kind, status in _DOMAIN_STATUS if isinstance(exc, kind)), 422)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the one JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ServiceError)
    async def _refused(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=http_status(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(error_body("invalid_json", "the body is not valid JSON"), status_code=400)
        if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
            return JSONResponse(error_body("missing_body", "this request needs a JSON body"), status_code=422)
        details = validation_details(errors)
        fields = ", ".join(d["field"] for d in details[:5])
        more = f" and {len(details) - 5} more" if len(details) > 5 else ""
        return JSONResponse(
            error_body("invalid_request", f"the request is invalid: {fields}{more}", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers or {})
        if exc.status_code == 400 and message == "There was an error parsing the body":  # FastAPI: not UTF-8 JSON
            code, message = "invalid_json", "the body is not valid JSON (in UTF-8)"
        if exc.status_code == 405:  # every method the path takes, not only those of the first route that matched
            paths = request.app.openapi()["paths"]
            methods = allowed_methods(request.app.router.routes, request.scope, paths) | {"OPTIONS"}
            headers["Allow"] = ", ".join(sorted(methods))
            message = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    async def _storage(request: Request, exc: Exception) -> JSONResponse:
        logger.error("storage failure on %s %s: %s", request.method, redact_links(request.url.path), first_line(exc))
        return JSONResponse(
            error_body(
                "storage_unavailable",
                "the service cannot use its database right now; nothing was changed, try again shortly",
            ),
            status_code=503,
            headers={"Retry-After": str(STORAGE_RETRY_AFTER_S)},
        )

    for storage_error in STORAGE_ERRORS:
        app.add_exception_handler(storage_error, _storage)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback after this answer is sent; the client gets the envelope, never a trace.
        return JSONResponse(
            error_body("internal_error", "the service failed to handle this request; it has been logged"),
            status_code=500,
            headers={"X-Content-Type-Options": "nosniff"},
        )


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"[:300]
