"""Arrow Flight: queries over gRPC, as the influxdb3 client libraries and Flight SQL clients
send them.

`DoGet` takes the JSON ticket `{"database", "sql_query", "query_type": "sql"|"influxql",
"params"?}` with the token in the `authorization` metadata, and streams the result as Arrow
record batches. Flight SQL clients (`server/flight_sql.py` answers their commands) name the
database in the `database` header (or `bucket`, `bucket-name`, `iox-namespace-name`, as
upstream accepts). For a statement (`CommandStatementQuery`, a prepared statement)
`GetFlightInfo` only plans the query (its schema, its errors) and hands out a ticket that
carries the database and the command, so the server keeps nothing; `DoGet` runs it and streams
the batches as DataFusion computes them, as for JSON tickets. A metadata command's small answer
is computed at `GetFlightInfo` and held for its ticket (one fetch, within a minute).

The gRPC server listens on a private Unix socket; `server/portshare.py` hands it the HTTP/2
connections that arrive on the HTTP port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import orjson
import pyarrow as pa
import pyarrow.flight as flight

from timewell.errors import TimedOut, TimewellError
from timewell.node import Node
from timewell.query.influxql import InfluxQLEngine, InfluxQLSyntaxError
from timewell.query.influxql.results import v3_table
from timewell.server import flight_sql

T = TypeVar("T")

log = logging.getLogger(__name__)

Authorize = Callable[[str | None], bool]
"""Decides whether a call may run, given its `authorization` header value (None if absent)."""

_DATABASE_HEADERS = ("database", "bucket", "bucket-name", "iox-namespace-name")
_HELD_ANSWERS_TTL_S = 60.0


@dataclass(frozen=True)
class QueryRequest:
    database: str
    query: str
    query_type: str = "sql"  # sql | influxql
    params: dict | None = None


class FlightQueryServer(flight.FlightServerBase):
    def __init__(self, node: Node, location: str | flight.Location,
                 authorize: Authorize | None = None) -> None:
        super().__init__(location, middleware={"call": _CallHeadersFactory(authorize)})
        self._node = node
        self._influxql = InfluxQLEngine(node.catalog, node.query)
        self._sql = flight_sql.FlightSql(node.query)
        # metadata answers, by ticket handle, until fetched or expired
        self._held: dict[str, tuple[float, pa.Table]] = {}
        self._lock = threading.Lock()

    # -- Flight

    def do_get(self, context, ticket: flight.Ticket):
        data = ticket.ticket
        if data[:1] == b"{":
            request = parse_ticket(data)
            if request.query_type == "sql":
                return self._stream(request)
            return flight.RecordBatchStream(self._influxql_answer(request))
        handle = flight_sql.ticket_handle(data)
        statement_ticket = flight_sql.parse_statement_ticket(handle)
        if statement_ticket is not None:  # a Flight SQL statement: run now, streamed
            database, command = statement_ticket
            statement = self._guarded(lambda: self._sql.statement(command, database))
            return self._stream(QueryRequest(statement.database, statement.query,
                                             params=statement.params),
                                log_as="flightsql", log_text=statement.log_text)
        return flight.RecordBatchStream(self._take_held(handle))

    def get_flight_info(self, context, descriptor: flight.FlightDescriptor):
        command = _command(descriptor)
        database = _database(context)
        statement = self._guarded(lambda: self._sql.statement(command, database))
        if statement is not None:
            # Planned here (errors such as an unknown table surface now), run at DoGet.
            schema = self._guarded(lambda: self._node.query.plan_schema(
                statement.database, statement.query, statement.params))
            ticket = flight_sql.statement_ticket(statement.database, descriptor.command)
            return flight.FlightInfo(schema, descriptor, [flight.FlightEndpoint(ticket, [])],
                                     -1, -1)
        table = self._guarded(lambda: self._sql.answer(command, database))
        handle = uuid.uuid4().hex
        with self._lock:
            self._expire_held()
            self._held[handle] = (time.monotonic() + _HELD_ANSWERS_TTL_S, table)
        endpoint = flight.FlightEndpoint(flight_sql.ticket_statement(handle.encode()), [])
        return flight.FlightInfo(table.schema, descriptor, [endpoint], table.num_rows,
                                 table.nbytes)

    def get_schema(self, context, descriptor: flight.FlightDescriptor):
        command = _command(descriptor)
        return flight.SchemaResult(
            self._guarded(lambda: self._sql.schema(command, _database(context))))

    def do_action(self, context, action: flight.Action):
        body = action.body.to_pybytes() if action.body is not None else b""
        return iter(self._guarded(
            lambda: self._sql.action(action.type, body, _database(context))))

    def list_actions(self, context):
        return flight_sql.ACTIONS

    def do_put(self, context, descriptor: flight.FlightDescriptor, reader, writer):
        command = _command(descriptor)
        result = self._guarded(lambda: self._sql.bind(command, reader.read_all()))
        writer.write(pa.py_buffer(result))

    def list_flights(self, context, criteria):
        return iter(())

    # -- queries

    def _stream(self, request: QueryRequest, **log) -> flight.RecordBatchStream:
        """A SQL answer streamed batch by batch (`log`: how system.queries names it)."""
        schema, batches = self._guarded(lambda: self._node.query.stream(
            request.database, request.query, request.params, **log), request)
        # A reader, not a GeneratorStream: that one sends no dictionaries (tags).
        return flight.RecordBatchStream(pa.RecordBatchReader.from_batches(
            schema, self._batches(schema, batches, request)))

    def _influxql_answer(self, request: QueryRequest) -> pa.Table:
        def answer() -> pa.Table:
            results = self._influxql.execute(request.query, request.database, request.params)
            failed = next((r for r in results if r.error is not None), None)
            if failed is not None:
                raise flight.FlightServerError(failed.error)
            return v3_table([s for r in results for s in r.series])

        return self._guarded(answer, request)

    def _batches(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                 request: QueryRequest) -> Iterator[pa.RecordBatch]:
        """A SQL answer batch by batch as DataFusion computes it, so a large one needs no
        memory of its size; a client that goes away stops pulling, which ends the query."""
        sent = False
        with contextlib.closing(batches):
            while True:
                batch = self._guarded(lambda: next(batches, None), request)
                if batch is None:
                    break
                sent = True
                yield batch
        if not sent:  # readers expect a stream's dictionaries, even an empty one's
            yield pa.RecordBatch.from_pylist([], schema=schema)

    def _guarded(self, work: Callable[[], T], request: QueryRequest | None = None) -> T:
        """`work()`, its errors as Flight's."""
        try:
            return work()
        except TimedOut as e:
            raise flight.FlightTimedOutError(str(e)) from None  # gRPC DEADLINE_EXCEEDED
        except (TimewellError, InfluxQLSyntaxError) as e:
            raise flight.FlightServerError(str(e)) from None
        except (flight.FlightError, NotImplementedError):
            raise
        except Exception as e:
            log.exception("Flight query failed: %s", request.query if request else "")
            raise flight.FlightInternalError(f"internal error: {type(e).__name__}: {e}") from None

    def _take_held(self, handle: bytes) -> pa.Table:
        with self._lock:
            self._expire_held()
            entry = self._held.pop(handle.decode(errors="replace"), None)
        if entry is None:
            raise flight.FlightServerError("unknown or expired statement handle: call "
                                           "GetFlightInfo again")
        return entry[1]

    def _expire_held(self) -> None:
        now = time.monotonic()
        for handle in [h for h, (deadline, _) in self._held.items() if deadline < now]:
            del self._held[handle]


def parse_ticket(data: bytes) -> QueryRequest:
    """The influxdb3 clients' JSON ticket."""
    try:
        ticket = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise flight.FlightServerError(f"the ticket is not valid JSON: {e}") from None
    if not isinstance(ticket, dict):
        raise flight.FlightServerError("the ticket must be a JSON object")
    database = ticket.get("database") or ticket.get("namespace_name")
    query = ticket.get("sql_query")
    query_type = str(ticket.get("query_type") or "sql").lower()
    params = ticket.get("params")
    if not isinstance(database, str) or not database:
        raise flight.FlightServerError("the ticket names no 'database'")
    if not isinstance(query, str) or not query.strip():
        raise flight.FlightServerError("the ticket has no 'sql_query'")
    if query_type not in ("sql", "influxql"):
        raise flight.FlightServerError(f"unknown query_type '{query_type}': use sql or influxql")
    if params is not None and not isinstance(params, dict):
        raise flight.FlightServerError("'params' must be a JSON object of name -> value")
    return QueryRequest(database, query, query_type, params or None)


# -- call headers and auth


class _CallHeaders(flight.ServerMiddleware):
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class _CallHeadersFactory(flight.ServerMiddlewareFactory):
    def __init__(self, authorize: Authorize | None) -> None:
        self._authorize = authorize

    def start_call(self, info, headers):
        flat = {k.lower(): v[0] if isinstance(v, list) else v for k, v in headers.items()
                if v}
        if self._authorize is not None:
            value = flat.get("authorization")
            if isinstance(value, bytes):
                value = value.decode(errors="replace")
            if not self._authorize(value):
                raise flight.FlightUnauthenticatedError("unauthorized")
        return _CallHeaders({k: v.decode(errors="replace") if isinstance(v, bytes) else v
                             for k, v in flat.items()})


def _headers(context) -> dict[str, str]:
    middleware = context.get_middleware("call")
    return middleware.headers if middleware is not None else {}


def _database(context) -> str | None:
    headers = _headers(context)
    return next((headers[h] for h in _DATABASE_HEADERS if headers.get(h)), None)


def _command(descriptor: flight.FlightDescriptor) -> flight_sql.Message:
    if descriptor.descriptor_type != flight.DescriptorType.CMD:
        raise flight.FlightServerError("only Flight SQL commands are supported")
    return flight_sql.parse_command(descriptor.command)


# -- lifecycle


class FlightEndpoint:
    """The Flight server: on `bind` (HOST:PORT) if given, else on a private Unix socket (in
    its own temporary directory) that the HTTP port's HTTP/2 connections are spliced to."""

    def __init__(self, node: Node, bind: str | None = None,
                 authorize: Authorize | None = None) -> None:
        self._dir: str | None = None
        self.socket_path: str | None = None
        if bind is not None:
            host, port = bind.rsplit(":", 1)
            location = flight.Location.for_grpc_tcp(host.strip("[]"), int(port))
        else:
            self._dir = tempfile.mkdtemp(prefix="timewell-flight-")
            os.chmod(self._dir, 0o700)
            self.socket_path = os.path.join(self._dir, "flight.sock")
            location = flight.Location.for_grpc_unix(self.socket_path)
        self.server = FlightQueryServer(node, location, authorize)

    def close(self) -> None:
        try:
            self.server.shutdown()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
