"""The ASGI application: routes of every API area over one Node."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from timewell.errors import TimewellError
from timewell.node import Node
from timewell.server import (
    cache_routes,
    configure_routes,
    engine_routes,
    health_routes,
    influxql_routes,
    info_routes,
    plugin_routes,
    query_routes,
    token_routes,
    ui_routes,
    write_routes,
)
from timewell.server.auth import OPENABLE_PATHS, AuthMiddleware
from timewell.server.diagnostics import NodeDiagnostics
from timewell.server.errors import handle_http_exception, handle_timewell_error, handle_unexpected
from timewell.server.metrics import HttpMetricsMiddleware, NodeMetrics
from timewell.server.metrics import routes as metrics_routes


def build_app(node: Node) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    metrics = NodeMetrics(node)
    routes = [
        *write_routes.routes(node),
        *query_routes.routes(node),
        *influxql_routes.routes(node, NodeDiagnostics(node, metrics)),
        *configure_routes.routes(node),
        *cache_routes.routes(node),
        *engine_routes.routes(node),
        *plugin_routes.routes(node),
        *health_routes.routes(),
        *info_routes.routes(node),
        *token_routes.routes(node),
        *metrics_routes(metrics),
    ]
    if not node.settings.disable_ui:
        routes += ui_routes.routes(auth_required=not node.settings.without_auth)
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(HttpMetricsMiddleware, metrics=metrics, routes=routes),
            Middleware(
                AuthMiddleware, tokens=None if node.settings.without_auth else node.tokens,
                is_public_request=node.engine.is_public_request,
                open_paths=frozenset(OPENABLE_PATHS[n] for n in node.settings.disable_authz),
                is_console_request=None if node.settings.disable_ui
                else ui_routes.is_console_request,
            ),
        ],
        exception_handlers={
            TimewellError: handle_timewell_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
