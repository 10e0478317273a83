"""SQL query endpoint `/api/v3/query_sql` (GET with query string, POST with a JSON body)."""

from __future__ import annotations

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from timewell.errors import InvalidRequest
from timewell.node import Node
from timewell.query.formats import ResultFormat, render
from timewell.server.body import read_json_object, str_field


def routes(node: Node) -> list[Route]:
    limit = node.settings.max_http_request_size

    async def query_sql(request: Request) -> Response:
        database, query, fmt, params = await read_v3_query(request, limit, "SQL")
        # One hop to a worker thread for the query and its rendering together.
        body = await run_in_threadpool(
            lambda: render(node.query.sql(database, query, params), fmt))
        return Response(body, media_type=fmt.media_type)

    return [Route("/api/v3/query_sql", query_sql, methods=["GET", "POST"])]


async def read_v3_query(request: Request, limit: int,
                        language: str) -> tuple[str, str, ResultFormat, dict | None]:
    """`(db, q, format, params)` of a v3 query request: GET with a query string (`params` as
    URL-encoded JSON) or POST with a JSON body; the format from `format` or `Accept`."""
    if request.method == "GET":
        args = dict(request.query_params)
        if "params" in args:
            args["params"] = json_params(args["params"])
    else:
        args = await read_json_object(request, limit)
    database = str_field(args, "db")
    query = str_field(args, "q")
    if not database:
        raise InvalidRequest("'db' is empty: name the database to query")
    if not query or not query.strip():
        raise InvalidRequest(f"'q' is empty: send the {language} query to run")
    fmt_text = str_field(args, "format", required=False)
    fmt = (ResultFormat.parse(fmt_text) if fmt_text
           else ResultFormat.from_accept(request.headers.get("accept")))
    return database, query, fmt, check_params(args.get("params"))


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
