"""The ASGI application: routes of every API area over one Node."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from timewell.errors import TimewellError
from timewell.node import Node
from timewell.server import (
    cache_routes,
    configure_routes,
    engine_routes,
    health_routes,
    query_routes,
    write_routes,
)
from timewell.server.errors import handle_http_exception, handle_timewell_error, handle_unexpected


def build_app(node: Node) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    return Starlette(
        routes=[
            *write_routes.routes(node),
            *query_routes.routes(node),
            *configure_routes.routes(node),
            *cache_routes.routes(node),
            *engine_routes.routes(node),
            *health_routes.routes(),
        ],
        exception_handlers={
            TimewellError: handle_timewell_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
