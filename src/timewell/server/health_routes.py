"""Liveness endpoints: `/health` and `/ping`."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from timewell import __version__

_VERSION_HEADERS = {"X-Influxdb-Version": __version__, "X-Influxdb-Build": "timewell"}


def routes() -> list[Route]:
    async def health(request: Request) -> Response:
        return PlainTextResponse("OK", headers=_VERSION_HEADERS)

    async def ping(request: Request) -> Response:
        body = {"version": __version__, "revision": "timewell", "process_id": str(os.getpid())}
        return JSONResponse(body, headers=_VERSION_HEADERS)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/ping", ping, methods=["GET", "POST"]),
    ]
