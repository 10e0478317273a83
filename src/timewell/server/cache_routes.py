"""Cache administration: `/api/v3/configure/last_cache` and `/api/v3/configure/distinct_cache`."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from timewell.caches import definitions
from timewell.errors import InvalidRequest
from timewell.node import Node
from timewell.server.body import read_json_object, str_field


def routes(node: Node) -> list[Route]:
    limit = node.settings.max_http_request_size
    caches = node.caches

    async def create_last_cache(request: Request) -> Response:
        data = await read_json_object(request, limit)
        database, table = str_field(data, "db"), str_field(data, "table")
        definition, created = await caches.create_last_cache(
            database, table, name=str_field(data, "name", required=False),
            key_columns=_names(data, "key_columns"), value_columns=_names(data, "value_columns"),
            count=data.get("count"), ttl_s=data.get("ttl"))
        with node.catalog.lock:
            table_def = node.catalog.table(database, table)
            body = definitions.describe_last(database, definition, table_def)
        return JSONResponse(body, status_code=201 if created else 200)

    async def create_distinct_cache(request: Request) -> Response:
        data = await read_json_object(request, limit)
        database, table = str_field(data, "db"), str_field(data, "table")
        definition, created = await caches.create_distinct_cache(
            database, table, name=str_field(data, "name", required=False),
            columns=_names(data, "columns"), max_cardinality=data.get("max_cardinality"),
            max_age_s=data.get("max_age"))
        return JSONResponse(definitions.describe_distinct(database, definition),
                            status_code=201 if created else 200)

    def delete(kind: str):
        async def handler(request: Request) -> Response:
            args = dict(request.query_params)
            if not args and request.headers.get("content-length", "0") != "0":
                args = await read_json_object(request, limit)
            database, table, name = (_required(args, field) for field in ("db", "table", "name"))
            await run_in_threadpool(caches.delete_cache, kind, database, table, name)
            return Response(status_code=200)

        return handler

    return [
        Route("/api/v3/configure/last_cache", create_last_cache, methods=["POST"]),
        Route("/api/v3/configure/last_cache", delete("last_cache"), methods=["DELETE"]),
        Route("/api/v3/configure/distinct_cache", create_distinct_cache, methods=["POST"]),
        Route("/api/v3/configure/distinct_cache", delete("distinct_cache"), methods=["DELETE"]),
    ]


def _names(data: dict, field: str) -> list[str] | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"'{field}' must be a list of column names")
    return value


def _required(args: dict, field: str) -> str:
    value = str_field(args, field, required=False)
    if not value:
        raise InvalidRequest(f"'{field}' is missing: pass it as a query parameter or in a "
                             "JSON body")
    return value
