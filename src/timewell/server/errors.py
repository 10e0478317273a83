"""The one place where errors become HTTP responses."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from timewell.errors import (
    AlreadyExists,
    Cancelled,
    Conflict,
    Forbidden,
    InvalidRequest,
    LimitExceeded,
    NotAllowed,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    TimedOut,
    TimewellError,
    Unavailable,
)
from timewell.lineprotocol import LineError
from timewell.write import RejectedLines

log = logging.getLogger(__name__)

_STATUS = [
    (RejectedLines, 400),
    (InvalidRequest, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (NotAllowed, 405),
    (TimedOut, 408),
    (AlreadyExists, 409),
    (Cancelled, 409),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (LimitExceeded, 422),
    (Unavailable, 503),
]
_V2_CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not found",
             405: "method not allowed", 408: "request timeout", 409: "conflict",
             413: "request too large",
             422: "unprocessable entity", 500: "internal error", 503: "unavailable"}
_ORIGINAL_LINE_BYTES = 20
_LOGGED_MESSAGE_CHARS = 300
# upstream's v2 answer to any refused line (parse, schema or limit): the write buffer's error,
# without the line details v2 clients have no field for
_V2_REJECTED = {"code": "invalid",
                "message": "write buffer error: parsing for line protocol failed"}


def status_of(error: TimewellError) -> int:
    if isinstance(error, RejectedLines) and error.limit_hit:
        return 422
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 500)


def client_ip(request: Request) -> str:
    """Who sent the request: the first `X-Forwarded-For` address, else `X-Real-IP`, else the
    peer."""
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    if forwarded:
        return forwarded
    real = request.headers.get("x-real-ip", "").strip()
    if real:
        return real
    return request.client.host if request.client else "unknown"


def _log_refused(request: Request, status: int, message: object) -> None:
    """One line per refused request, as upstream's `Error while handling request`: the
    database (when the query string names one) and the client, so an operator can tell whose
    requests fail."""
    database = request.query_params.get("db")
    fields = (f" database={database}" if database else "") + f" client_ip={client_ip(request)}"
    log.info("Error while handling request: %s %s %s%s: %s", status, request.method,
             request.url.path, fields, str(message)[:_LOGGED_MESSAGE_CHARS])


async def handle_timewell_error(request: Request, error: TimewellError) -> Response:
    status = status_of(error)
    _log_refused(request, status, error)
    # tells clients how long to wait before retrying a write refused for now
    headers = ({"Retry-After": str(error.retry_after_s)} if isinstance(error, Overloaded)
               else None)
    if isinstance(error, RejectedLines) and request.url.path == "/api/v2/write":
        return JSONResponse(_V2_REJECTED, 400)
    if request.url.path.startswith("/api/v2/"):
        return JSONResponse({"code": _V2_CODES.get(status, "invalid"), "message": str(error)},
                            status, headers)
    if isinstance(error, RejectedLines) and request.url.path == "/api/v3/write_lp":
        return JSONResponse(_rejected_lines_body(error), status)
    return JSONResponse({"error": str(error)}, status, headers)


async def handle_http_exception(request: Request, error: HTTPException) -> Response:
    if error.status_code in (204, 304):
        return Response(status_code=error.status_code)
    _log_refused(request, error.status_code, error.detail)
    return JSONResponse({"error": error.detail}, error.status_code, headers=error.headers)


async def handle_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": f"internal error: {type(error).__name__}: {error}"}, 500)


def _rejected_lines_body(error: RejectedLines) -> dict:
    if error.accept_partial:
        return {"error": "partial write of line protocol occurred",
                "data": [_line_error(e) for e in error.errors]}
    return {"error": "line protocol parsing error", "data": _line_error(error.errors[0])}


def _line_error(error: LineError) -> dict:
    original = error.original_line.encode()[:_ORIGINAL_LINE_BYTES].decode(errors="ignore")
    return {"error_message": error.message, "line_number": error.line_number,
            "original_line": original}
