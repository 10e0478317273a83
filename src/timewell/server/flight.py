"""Arrow Flight: queries over gRPC, as the influxdb3 client libraries send them.

`DoGet` takes the JSON ticket `{"database", "sql_query", "query_type": "sql"|"influxql",
"params"?}` with the token in the `authorization` metadata, and streams the result as Arrow
record batches. Flight SQL clients send `GetFlightInfo` with a `CommandStatementQuery` and
name the database in the `database` header (or `bucket`, `bucket-name`,
`iox-namespace-name`, as upstream accepts); the ticket they get back carries the statement.

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

T = TypeVar("T")

log = logging.getLogger(__name__)

Authorize = Callable[[str | None], bool]
"""Decides whether a call may run, given its `authorization` header value (None if absent)."""

_DATABASE_HEADERS = ("database", "bucket", "bucket-name", "iox-namespace-name")
_STATEMENT_QUERY = "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
_TICKET_STATEMENT = "type.googleapis.com/arrow.flight.protocol.sql.TicketStatementQuery"
_PREPARED_RESULTS_TTL_S = 60.0


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
        self._prepared: dict[str, tuple[float, pa.Table]] = {}
        self._lock = threading.Lock()

    # -- Flight

    def do_get(self, context, ticket: flight.Ticket):
        data = ticket.ticket
        if data[:1] == b"{":
            request = parse_ticket(data)
            if request.query_type == "sql":
                schema, batches = self._guarded(lambda: self._node.query.stream(
                    request.database, request.query, request.params), request)
                # A reader, not a GeneratorStream: that one sends no dictionaries (tags).
                return flight.RecordBatchStream(pa.RecordBatchReader.from_batches(
                    schema, self._batches(schema, batches, request)))
            return flight.RecordBatchStream(self._run(request))
        type_url, value = unpack_any(data)
        if type_url != _TICKET_STATEMENT:
            raise flight.FlightServerError(f"unsupported ticket type {type_url or '(none)'}")
        handle = _proto_field(value, 1)
        return flight.RecordBatchStream(self._take_prepared(handle))

    def get_flight_info(self, context, descriptor: flight.FlightDescriptor):
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise flight.FlightServerError("only Flight SQL commands are supported")
        type_url, value = unpack_any(descriptor.command)
        if type_url != _STATEMENT_QUERY:
            raise flight.FlightServerError(
                f"unsupported Flight SQL command {type_url.rsplit('.', 1)[-1] or '(none)'}: "
                "timewell answers CommandStatementQuery")
        headers = _headers(context)
        database = next((headers[h] for h in _DATABASE_HEADERS if headers.get(h)), None)
        if not database:
            raise flight.FlightServerError("name the database in the 'database' header")
        query = _proto_field(value, 1).decode()
        # logged as upstream logs Flight SQL statements in system.queries
        table = self._run(QueryRequest(database, query), log_as="flightsql",
                          log_text=f"CommandStatementQuery{query}")
        handle = uuid.uuid4().hex
        with self._lock:
            self._expire_prepared()
            self._prepared[handle] = (time.monotonic() + _PREPARED_RESULTS_TTL_S, table)
        ticket = pack_any(_TICKET_STATEMENT, _proto_bytes(1, handle.encode()))
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(table.schema, descriptor, [endpoint], table.num_rows,
                                 table.nbytes)

    def list_flights(self, context, criteria):
        return iter(())

    # -- queries

    def _run(self, request: QueryRequest, log_as: str = "sql",
             log_text: str | None = None) -> pa.Table:
        """The whole answer (GetFlightInfo, InfluxQL)."""
        def answer() -> pa.Table:
            if request.query_type == "influxql":
                results = self._influxql.execute(request.query, request.database,
                                                 request.params)
                failed = next((r for r in results if r.error is not None), None)
                if failed is not None:
                    raise flight.FlightServerError(failed.error)
                return v3_table([s for r in results for s in r.series])
            return self._node.query.sql(request.database, request.query, request.params,
                                        log_as=log_as, log_text=log_text)

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
        except flight.FlightError:
            raise
        except Exception as e:
            log.exception("Flight query failed: %s", request.query if request else "")
            raise flight.FlightInternalError(f"internal error: {type(e).__name__}: {e}") from None

    def _take_prepared(self, handle: bytes) -> pa.Table:
        with self._lock:
            self._expire_prepared()
            entry = self._prepared.pop(handle.decode(errors="replace"), None)
        if entry is None:
            raise flight.FlightServerError("unknown or expired statement handle: call "
                                           "GetFlightInfo again")
        return entry[1]

    def _expire_prepared(self) -> None:
        now = time.monotonic()
        for handle in [h for h, (deadline, _) in self._prepared.items() if deadline < now]:
            del self._prepared[handle]


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


# -- the little protobuf Flight SQL needs (google.protobuf.Any and one-field messages)


def pack_any(type_url: str, value: bytes) -> bytes:
    return _proto_bytes(1, type_url.encode()) + _proto_bytes(2, value)


def unpack_any(data: bytes) -> tuple[str, bytes]:
    try:
        fields = _proto_fields(data)
    except ValueError:
        return "", b""
    return fields.get(1, b"").decode(errors="replace"), fields.get(2, b"")


def _proto_field(data: bytes, number: int) -> bytes:
    try:
        return _proto_fields(data).get(number, b"")
    except ValueError as e:
        raise flight.FlightServerError(f"malformed protobuf message: {e}") from None


def _proto_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _proto_fields(data: bytes) -> dict[int, bytes]:
    """Length-delimited fields by number (varint fields skipped)."""
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _read_varint(data, pos)
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            fields[number] = data[pos:pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return fields


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


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
