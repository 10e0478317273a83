"""Token endpoints under `/api/v3/configure/token` (who may call them: `server/auth.py`)."""

from __future__ import annotations

import datetime as dt

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from timewell.auth import IssuedToken
from timewell.errors import InvalidRequest
from timewell.node import Node
from timewell.server.body import read_body, read_json_object, str_field


def routes(node: Node) -> list[Route]:
    limit = node.settings.max_http_request_size
    tokens = node.tokens

    async def create_admin(request: Request) -> Response:
        return issued_response(await run_in_threadpool(tokens.create_admin))

    async def regenerate_admin(request: Request) -> Response:
        return issued_response(await run_in_threadpool(tokens.regenerate_admin))

    async def create_named_admin(request: Request) -> Response:
        data = await read_json_object(request, limit)
        name = str_field(data, "token_name")
        expiry_secs = data.get("expiry_secs")
        return issued_response(await run_in_threadpool(tokens.create_named_admin, name,
                                                       expiry_secs))

    async def delete_token(request: Request) -> Response:
        name = request.query_params.get("token_name")
        if not name:
            body = await read_body(request, limit)
            try:
                data = orjson.loads(body) if body.strip() else {}
            except orjson.JSONDecodeError as e:
                raise InvalidRequest(f"the request body is not valid JSON: {e}") from None
            name = str_field(data if isinstance(data, dict) else {}, "token_name", False)
        if not name:
            raise InvalidRequest("name the token to delete with token_name=<name>")
        await run_in_threadpool(tokens.delete, name)
        return Response(status_code=200)

    return [
        Route("/api/v3/configure/token/admin", create_admin, methods=["POST"]),
        Route("/api/v3/configure/token/admin/regenerate", regenerate_admin, methods=["POST"]),
        Route("/api/v3/configure/token/named_admin", create_named_admin, methods=["POST"]),
        Route("/api/v3/configure/token", delete_token, methods=["DELETE"]),
    ]


def issued_response(issued: IssuedToken) -> Response:
    """Upstream's answer to a new token; the only time its text is sent."""
    token = issued.definition
    return JSONResponse({
        "id": token.id,
        "name": token.name,
        "token": issued.text,
        "hash": token.hash,
        "created_at": _timestamp(token.created_at_ms),
        "expiry": _timestamp(token.expiry_ms) if token.expiry_ms is not None else None,
    }, status_code=201)


def _timestamp(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
