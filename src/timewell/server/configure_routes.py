"""Catalog administration: databases and tables under `/api/v3/configure/`."""

from __future__ import annotations

import datetime as dt
import time

import pyarrow as pa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from timewell.catalog import ColumnType
from timewell.duration import parse_duration_ns
from timewell.errors import InvalidRequest
from timewell.node import Node
from timewell.query.formats import ResultFormat, render
from timewell.server.body import read_json_object, required_param, str_field

_FIELD_TYPES = {"utf8": ColumnType.STRING, "string": ColumnType.STRING,
                "int64": ColumnType.INTEGER, "uint64": ColumnType.UINTEGER,
                "float64": ColumnType.FLOAT, "bool": ColumnType.BOOLEAN,
                "boolean": ColumnType.BOOLEAN}


def routes(node: Node) -> list[Route]:
    limit = node.settings.max_http_request_size
    catalog = node.catalog

    async def list_databases(request: Request) -> Response:
        fmt = ResultFormat.parse(request.query_params.get("format") or "json")
        if request.query_params.get("show_deleted", "").lower() == "true":
            with catalog.lock:
                found = sorted((db.name, db.deleted) for db in catalog.databases.values())
            table = pa.table({"iox::database": pa.array([n for n, _ in found], pa.string()),
                              "deleted": pa.array([d for _, d in found], pa.bool_())})
        else:
            names = sorted(db.name for db in catalog.live_databases())
            table = pa.table({"iox::database": pa.array(names, pa.string())})
        return Response(render(table, fmt), media_type=fmt.media_type)

    async def create_database(request: Request) -> Response:
        data = await read_json_object(request, limit)
        name = str_field(data, "db")
        retention = str_field(data, "retention_period", required=False)
        retention_ns = parse_duration_ns(retention) if retention else None
        schema_mode = str_field(data, "schema_mode", required=False)
        if schema_mode not in (None, "implicit"):
            raise InvalidRequest(f"schema_mode '{schema_mode}' is not supported: a database "
                                 "takes its schema from writes and declared tables (implicit)")
        await run_in_threadpool(catalog.create_database, name, retention_ns)
        return Response(status_code=200)

    async def delete_database(request: Request) -> Response:
        name = required_param(request, "db")
        await node.delete_database(name, _hard_delete_at(request))
        return Response(status_code=200)

    async def update_database(request: Request) -> Response:
        """Change a database's retention period (`"retention_period": null` removes it)."""
        data = await read_json_object(request, limit)
        name = str_field(data, "db")
        if "retention_period" not in data:
            raise InvalidRequest("nothing to change: send {\"db\", \"retention_period\"}")
        retention = str_field(data, "retention_period", required=False)
        retention_ns = parse_duration_ns(retention) if retention and retention != "none" else None
        await run_in_threadpool(catalog.set_retention, name, retention_ns)
        return Response(status_code=200)

    def declare_columns(change):
        """POST (a new table) and PATCH (more columns, add-only, as upstream's) of
        `{"db", "table", "tags", "fields"}`."""
        async def declare(request: Request) -> Response:
            data = await read_json_object(request, limit)
            database, table = str_field(data, "db"), str_field(data, "table")
            tags, fields = _columns(data)
            await run_in_threadpool(change, database, table, tags, fields,
                                    node.settings.max_columns_per_table)
            return Response(status_code=200)
        return declare

    create_table = declare_columns(catalog.create_table)
    add_columns = declare_columns(catalog.add_columns)

    async def delete_table(request: Request) -> Response:
        database, table = required_param(request, "db"), required_param(request, "table")
        await node.delete_table(database, table, _hard_delete_at(request))
        return Response(status_code=200)

    return [
        Route("/api/v3/configure/database", list_databases, methods=["GET"]),
        Route("/api/v3/configure/database", create_database, methods=["POST"]),
        Route("/api/v3/configure/database", delete_database, methods=["DELETE"]),
        Route("/api/v3/configure/database", update_database, methods=["PUT"]),
        Route("/api/v3/configure/table", create_table, methods=["POST"]),
        Route("/api/v3/configure/table", delete_table, methods=["DELETE"]),
        Route("/api/v3/configure/table", add_columns, methods=["PATCH"]),
    ]


_NEVER_NS = 2**63 - 1


def _hard_delete_at(request: Request) -> int | None:
    """`hard_delete_at=now`, `never`, `default` or an RFC 3339 time (as upstream); None for the
    server's default delay."""
    text = request.query_params.get("hard_delete_at")
    if not text or text.lower() == "default":
        return None
    if text.lower() == "now":
        return time.time_ns()
    if text.lower() == "never":
        return _NEVER_NS
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"hard_delete_at '{text}' is not 'now', 'never', 'default' or an "
                             "RFC 3339 time such as 2030-01-01T00:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000_000)


def _columns(data: dict) -> tuple[list[str], list[tuple[str, ColumnType]]]:
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidRequest("'tags' must be a list of tag names")
    return tags, [_field(f) for f in _list(data.get("fields") or [], "fields")]


def _list(value, name: str) -> list:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{name}' must be a list")
    return value


def _field(spec) -> tuple[str, ColumnType]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise InvalidRequest('each field must be an object {"name": ..., "type": ...}')
    kind = spec.get("type")
    if kind not in _FIELD_TYPES:
        raise InvalidRequest(f"field '{spec['name']}' has type {kind!r}: "
                             "use utf8, int64, uint64, float64 or bool")
    return spec["name"], _FIELD_TYPES[kind]
