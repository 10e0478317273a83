"""SQL query endpoint `/api/v3/query_sql` (GET with query string, POST with a JSON body)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import orjson
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from timewell.duration import parse_duration_ns
from timewell.errors import InvalidRequest, NotFound
from timewell.node import Node
from timewell.query.control import QueryControl
from timewell.query.formats import ResultFormat, render, render_stream
from timewell.server.body import read_json_object, str_field

T = TypeVar("T")


def routes(node: Node) -> list[Route]:
    limit = node.settings.max_http_request_size

    async def query_sql(request: Request) -> Response:
        database, query, fmt, params, timeout = await read_v3_query(request, limit, "SQL")
        control = node.query.control(timeout)
        if fmt.streams:  # sent batch by batch: a large answer is never whole in memory
            schema, batches = await run_query(request, control, lambda: node.query.stream(
                database, query, params, control=control))
            return StreamingResponse(iterate_in_threadpool(render_stream(schema, batches, fmt)),
                                     media_type=fmt.media_type)
        # One hop to a worker thread for the query and its rendering together.
        body = await run_query(request, control, lambda: render(
            node.query.sql(database, query, params, control=control), fmt))
        return Response(body, media_type=fmt.media_type)

    async def kill_query(request: Request) -> Response:
        """Stop a running query (its id in `system.queries`); it answers 409."""
        text = request.query_params.get("id", "")
        if not text.isdigit():
            raise InvalidRequest("'id' must be the id of a running query in system.queries")
        if not node.query.log.kill(int(text)):
            raise NotFound(f"no running query with id {text}: see SELECT id, query_text FROM "
                           "system.queries WHERE running")
        return Response(status_code=200)

    return [Route("/api/v3/query_sql", query_sql, methods=["GET", "POST"]),
            Route("/api/v3/query", kill_query, methods=["DELETE"])]


async def run_query(request: Request, control: QueryControl, work: Callable[[], T]) -> T:
    """`work()` (a query) in a worker thread; cancelled when the client goes away."""

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        control.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await run_in_threadpool(work)
    finally:
        watcher.cancel()


def request_timeout(value) -> float | None:
    """The `timeout` a request asks for, in seconds: a number, or a duration such as `30s`
    (None: the server's --query-timeout)."""
    if value is None or value == "":
        return None
    seconds = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parse_duration_ns(value) / 1e9
            except ValueError:
                seconds = None
    if seconds is None or not seconds > 0:
        raise InvalidRequest(f"'timeout' must be a positive number of seconds or a duration "
                             f"such as 30s, not {value!r}")
    return seconds


async def read_v3_query(request: Request, limit: int, language: str,
                        db_required: bool = True
                        ) -> tuple[str | None, str, ResultFormat, dict | None, float | None]:
    """`(db, q, format, params, timeout)` of a v3 query request: GET with a query string
    (`params` as URL-encoded JSON) or POST with a JSON body; the format from `format` or
    `Accept`. `db` may be absent when not `db_required` (InfluxQL names it in the statement)."""
    if request.method == "GET":
        args = dict(request.query_params)
        if "params" in args:
            args["params"] = json_params(args["params"])
    else:
        args = await read_json_object(request, limit)
    database = str_field(args, "db", required=db_required)
    query = str_field(args, "q")
    if db_required and not database:
        raise InvalidRequest("'db' is empty: name the database to query")
    if not query or not query.strip():
        raise InvalidRequest(f"'q' is empty: send the {language} query to run")
    fmt_text = str_field(args, "format", required=False)
    fmt = (ResultFormat.parse(fmt_text) if fmt_text
           else ResultFormat.from_accept(request.headers.get("accept")))
    return (database, query, fmt, check_params(args.get("params")),
            request_timeout(args.get("timeout")))


def json_params(text: str) -> dict:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(f"'params' is not valid JSON: {e}") from None


def check_params(params) -> dict | None:
    if params is None:
        return None
    if not isinstance(params, dict):
        raise InvalidRequest("'params' must be a JSON object of name -> value")
    for name, value in params.items():
        if not isinstance(value, str | int | float | bool) or value is None:
            raise InvalidRequest(
                f"parameter '{name}' must be a string, number or boolean, not {value!r}")
    return params
