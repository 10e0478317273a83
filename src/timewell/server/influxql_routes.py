"""InfluxQL endpoints: InfluxDB 1.x's `/query` and InfluxDB 3's `/api/v3/query_influxql`."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qsl

import pyarrow as pa
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from timewell.catalog import DatabaseNotFound
from timewell.errors import InvalidRequest
from timewell.lineprotocol import Precision
from timewell.node import Node
from timewell.query.formats import render
from timewell.query.influxql import InfluxQLEngine, InfluxQLSyntaxError, StatementResult
from timewell.query.influxql.results import v1_csv, v1_json, v1_json_chunks, v3_table
from timewell.server.body import read_body
from timewell.server.diagnostics import NodeDiagnostics
from timewell.server.query_routes import (
    check_params,
    json_params,
    read_v3_query,
    request_timeout,
    run_query,
)

_CSV_TYPES = ("application/csv", "text/csv")
_SHOW_DATABASES = re.compile(r"\s*SHOW\s+DATABASES\s*;?\s*", re.IGNORECASE)
_SHOW_RETENTION_POLICIES = re.compile(
    r"\s*SHOW\s+RETENTION\s+POLICIES(?:\s+ON\s+(\"?)([A-Za-z0-9][\w-]*)\1)?\s*;?\s*",
    re.IGNORECASE)


class NodeManagement:
    """v1 management statements (`CREATE DATABASE`, `DROP MEASUREMENT`, ...) as the node's
    own operations; they run in a query's worker thread, the node's coroutines on its loop."""

    def __init__(self, node: Node, diagnostics: NodeDiagnostics) -> None:
        self._node = node
        self.loop: asyncio.AbstractEventLoop | None = None  # set by each request
        self.diagnostics = diagnostics.diagnostics
        self.stats = diagnostics.stats

    def create_database(self, name: str, retention_ns: int | None) -> None:
        self._node.catalog.create_database(name, retention_ns)

    def drop_database(self, name: str) -> None:
        self._run(self._node.delete_database(name))

    def drop_table(self, database: str, table: str) -> None:
        self._run(self._node.delete_table(database, table))

    def write(self, database: str, lines: str) -> None:
        self._run(self._node.writer.write_lp(database, lines.encode(), Precision.NANOSECOND,
                                             accept_partial=False, no_sync=False))

    def _run(self, coroutine) -> None:
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


def routes(node: Node, diagnostics: NodeDiagnostics) -> list[Route]:
    limit = node.settings.max_http_request_size
    manage = NodeManagement(node, diagnostics)
    influxql = InfluxQLEngine(node.catalog, node.query, manage)

    async def query_v1(request: Request) -> Response:
        manage.loop = asyncio.get_running_loop()
        args = dict(request.query_params)
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("application/x-www-form-urlencoded"):
                body = await read_body(request, limit)
                args.update(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
        text = args.get("q", "")
        if not text.strip():
            return JSONResponse({"error": 'missing required parameter "q"'}, 400)
        params = check_params(json_params(args["params"])) if args.get("params") else None
        epoch = args.get("epoch") or None
        csv = any(t in request.headers.get("accept", "") for t in _CSV_TYPES)
        chunked = not csv and args.get("chunked", "").lower() == "true"

        control = node.query.control(request_timeout(args.get("timeout")))

        def answer() -> tuple[list[StatementResult], bytes | None]:
            # Run and render in one worker thread: large answers never encode on the loop.
            results = influxql.execute(text, args.get("db") or None, params,
                                       args.get("rp") or None, control)
            if chunked:
                return results, None
            return results, v1_csv(results, epoch) if csv else v1_json(results, epoch)

        try:
            results, body = await run_query(request, control, answer)
        except InfluxQLSyntaxError as e:
            return JSONResponse({"error": str(e)}, 400)
        if chunked:
            size = int(args["chunk_size"]) if args.get("chunk_size", "").isdigit() else 0
            chunks = v1_json_chunks(results, epoch, size)
            return StreamingResponse(iterate_in_threadpool(chunks),
                                     media_type="application/json")
        return Response(body, media_type="text/csv" if csv else "application/json")

    async def query_v3(request: Request) -> Response:
        manage.loop = asyncio.get_running_loop()
        # as upstream, `db` may be left out when the statement names it (or needs none)
        database, text, fmt, params, timeout = await read_v3_query(request, limit, "InfluxQL",
                                                                    db_required=False)
        control = node.query.control(timeout)

        def answer() -> bytes:
            shown = _v3_show(text, database, node)
            if shown is not None:
                return render(shown, fmt)
            results = influxql.execute(text, database, params, None, control)
            _raise_first_error(results, database or "")
            return render(v3_table([s for r in results for s in r.series]), fmt)

        try:
            body = await run_query(request, control, answer)
        except InfluxQLSyntaxError as e:
            raise InvalidRequest(str(e)) from None
        return Response(body, media_type=fmt.media_type)

    return [
        Route("/query", query_v1, methods=["GET", "POST"]),
        Route("/api/v3/query_influxql", query_v3, methods=["GET", "POST"]),
    ]


def _v3_show(text: str, database: str | None, node: Node) -> pa.Table | None:
    """SHOW DATABASES and SHOW RETENTION POLICIES as upstream's v3 endpoint answers them: one
    row per database (`iox::database`), not InfluxDB 1.x's series; None for other statements.
    A `db/rp` database is retention policy `rp` of `db`, as on the v1 endpoint."""
    if _SHOW_DATABASES.fullmatch(text):
        names = sorted(db.name for db in node.catalog.live_databases() if "/" not in db.name)
        return pa.table({"iox::database": pa.array(names, pa.string()),
                         "deleted": pa.array([False] * len(names), pa.bool_())})
    match = _SHOW_RETENTION_POLICIES.fullmatch(text)
    if match is None:
        return None
    on = match.group(2) or database
    if on:
        node.catalog.database(on)  # DatabaseNotFound: 404
    rows = sorted((*db.name.partition("/")[::2], db.retention_period_ns)
                  for db in node.catalog.live_databases()
                  if on is None or db.name.partition("/")[0] == on)
    return pa.table({
        "iox::database": pa.array([db for db, _, _ in rows], pa.string()),
        "name": pa.array([rp or "autogen" for _, rp, _ in rows], pa.string()),
        "duration": pa.array([_duration(ns) for _, _, ns in rows], pa.string()),
    })


def _duration(ns: int | None) -> str | None:
    if ns is None:
        return None
    seconds = ns // 1_000_000_000
    return f"{seconds // 3600}h{seconds % 3600 // 60}m{seconds % 60}s"


def _raise_first_error(results: list[StatementResult], database: str) -> None:
    failed = next((r for r in results if r.error is not None), None)
    if failed is None:
        return
    if failed.error.startswith("database not found"):
        raise DatabaseNotFound(database)
    raise InvalidRequest(failed.error)
