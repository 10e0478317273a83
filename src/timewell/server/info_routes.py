"""`GET /api/v3/server` (timewell): what this server is and where it keeps things, for the
console's Settings page and for scripts. `/ping` stays as upstream answers it."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from timewell import __version__
from timewell.node import Node


def routes(node: Node) -> list[Route]:
    async def server_info(request: Request) -> Response:
        settings = node.settings
        started = dt.datetime.fromtimestamp(node.started_at_ns / 1e9, dt.UTC)
        root = node.engine.plugins.root
        return JSONResponse({
            "version": __version__,
            "revision": "timewell",
            "node_id": settings.node_id,
            "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "uptime_s": round(node.uptime_s, 3),
            "object_store": {"kind": settings.object_store,
                             "location": node.store.description},
            "data_dir": str(settings.data_dir) if settings.object_store == "file" else None,
            "plugin_dir": str(root) if root is not None else None,
            "package_manager": node.engine.environment.manager,
            "auth": not settings.without_auth,
        })

    return [Route("/api/v3/server", server_info, methods=["GET"])]
