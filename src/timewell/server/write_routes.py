"""Line-protocol write endpoints: v3 `/api/v3/write_lp`, v2 `/api/v2/write`, v1 `/write`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from timewell.errors import InvalidRequest
from timewell.lineprotocol import LineProtocolError, Precision
from timewell.node import Node
from timewell.server.body import bool_param, read_body, required_param


def routes(node: Node) -> list[Route]:
    limit = node.settings.max_http_request_size

    async def write(request: Request, database: str, precision: Precision,
                    accept_partial: bool, no_sync: bool) -> Response:
        body = await read_body(request, limit)
        await node.writer.write_lp(database, body, precision, accept_partial, no_sync)
        return Response(status_code=204)

    async def write_v3(request: Request) -> Response:
        params = request.query_params
        return await write(
            request,
            required_param(request, "db"),
            _precision(params.get("precision"), Precision.AUTO),
            bool_param(params.get("accept_partial"), "accept_partial", True),
            bool_param(params.get("no_sync"), "no_sync", False),
        )

    async def write_v2(request: Request) -> Response:
        params = request.query_params
        return await write(request, required_param(request, "bucket"),
                           _precision(params.get("precision"), Precision.NANOSECOND),
                           accept_partial=False, no_sync=False)

    async def write_v1(request: Request) -> Response:
        params = request.query_params
        return await write(request, v1_database(required_param(request, "db"), params.get("rp")),
                           _precision(params.get("precision"), Precision.NANOSECOND),
                           accept_partial=False, no_sync=False)

    return [
        Route("/api/v3/write_lp", write_v3, methods=["POST"]),
        Route("/api/v2/write", write_v2, methods=["POST"]),
        Route("/write", write_v1, methods=["POST"]),
    ]


def v1_database(db: str, rp: str | None) -> str:
    """v1 names a database by `db` and retention policy; a real policy becomes `db/rp`."""
    if rp in (None, "", "autogen", "default"):
        return db
    return f"{db}/{rp}"


def _precision(text: str | None, default: Precision) -> Precision:
    if not text:
        return default
    try:
        return Precision.parse(text)
    except LineProtocolError as e:
        raise InvalidRequest(str(e)) from None
