"""The admin token recovery endpoint (`serve --admin-token-recovery-http-bind`): a second
listener that regenerates the operator token without any token, for an operator who lost it.

It answers one request, `POST /api/v3/configure/token/admin/regenerate`, and every other path
with `404`; it cannot create the first operator token nor touch anything else. After the first
successful regeneration it stops listening (the main server keeps running), so the new token
is the only one it ever hands out. Anyone who can reach it can take over the server while it
listens: bind it to a loopback address, and only while you need it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from timewell.errors import TimewellError
from timewell.node import Node
from timewell.server.auth import REGENERATE_PATH
from timewell.server.errors import handle_timewell_error, handle_unexpected
from timewell.server.token_routes import issued_response

log = logging.getLogger(__name__)

SHUTDOWN_MESSAGE = "Admin token recovery endpoint shutting down after token regeneration"


def recovery_app(node: Node, stop: Callable[[], None]) -> Starlette:
    """The recovery endpoint's application; `stop()` is called once it has regenerated the
    operator token (it stops the listener)."""
    regenerated = False

    async def regenerate(request: Request) -> Response:
        nonlocal regenerated
        if regenerated:  # a request already in flight when the listener started stopping
            return _not_here(request)
        issued = await run_in_threadpool(node.tokens.regenerate_admin)
        regenerated = True
        log.warning("operator token regenerated through the admin token recovery endpoint "
                    "(client %s)", request.client.host if request.client else "unknown")
        log.info(SHUTDOWN_MESSAGE)
        stop()
        return issued_response(issued)

    async def not_found(request: Request, error: HTTPException) -> Response:
        return _not_here(request) if error.status_code in (404, 405) else JSONResponse(
            {"error": str(error.detail)}, status_code=error.status_code)

    return Starlette(
        routes=[Route(REGENERATE_PATH, regenerate, methods=["POST"])],
        exception_handlers={TimewellError: handle_timewell_error, HTTPException: not_found,
                            Exception: handle_unexpected},
    )


def _not_here(request: Request) -> Response:
    return JSONResponse({"error": f"the admin token recovery endpoint only regenerates the "
                                  f"operator token (POST {REGENERATE_PATH}); "
                                  f"{request.method} {request.url.path} is served on the main "
                                  "HTTP address"}, status_code=404)
