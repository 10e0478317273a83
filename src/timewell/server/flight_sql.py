"""Arrow Flight SQL (the protocol of `FlightSql.proto`): the commands, actions and DoPut that
timewell serves, each answered as an Arrow table with the protocol's schema. `server/flight.py`
is the Flight server that receives them; this module holds all the protobuf they need
(hand-encoded: Flight SQL messages are a few flat fields inside a `google.protobuf.Any`).

- Statements: `CommandStatementQuery`. Prepared statements: the `CreatePreparedStatement`
  action (its result carries the answer's schema), `CommandPreparedStatementQuery`, DoPut of
  `CommandPreparedStatementQuery` to bind parameters (one row: column i is `$<i+1>`, a column
  named `name` is also `$name`) and the `ClosePreparedStatement` action. As upstream does, the
  handle carries the statement and its bound parameters (upstream's own encoding), so the server
  keeps nothing and DoPut answers a new handle (`DoPutPreparedStatementResult`).
- Metadata: `CommandGetSqlInfo`, `CommandGetCatalogs` (`public`), `CommandGetDbSchemas`
  (`information_schema`, `iox`, `system`), `CommandGetTables` (the database's tables, the system
  tables and the `information_schema` views, with `include_schema`), `CommandGetTableTypes`
  (`BASE TABLE`, `VIEW`). `CommandGetXdbcTypeInfo`, `CommandGetPrimaryKeys`,
  `CommandGetExportedKeys`, `CommandGetImportedKeys` and `CommandGetCrossReference` answer no
  rows (there are no keys).

Everything else (updates, ingest, transactions, Substrait) is refused as unimplemented: data
is written through the HTTP API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.flight as flight

from timewell.query import schema_info
from timewell.query.engine import QueryEngine

SQL_TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
TICKET_STATEMENT = SQL_TYPE_PREFIX + "TicketStatementQuery"
# upstream's handle, so that a handle from either server means the same to the other
_HANDLE = "type.googleapis.com/influxdata.iox.querier.v1.FlightSqlPreparedStatementHandle"

ACTIONS = [
    ("CreatePreparedStatement", "Creates a reusable prepared statement resource on the server."),
    ("ClosePreparedStatement", "Closes a reusable prepared statement resource on the server."),
]


class Unsupported(NotImplementedError):
    """A Flight SQL request timewell does not serve: gRPC status UNIMPLEMENTED."""


@dataclass(frozen=True)
class Message:
    """A Flight SQL message: its name (`CommandGetTables`) and its fields by number."""

    name: str
    fields: dict[int, list[int | bytes]]

    def data(self, number: int) -> bytes | None:
        values = self.fields.get(number)
        return values[-1] if values and isinstance(values[-1], bytes) else None

    def text(self, number: int) -> str | None:
        value = self.data(number)
        return None if value is None else value.decode(errors="replace")

    def texts(self, number: int) -> list[str]:
        return [v.decode(errors="replace") for v in self.fields.get(number, [])
                if isinstance(v, bytes)]

    def flag(self, number: int) -> bool:
        values = self.fields.get(number)
        return bool(values and values[-1])

    def numbers(self, number: int) -> list[int]:
        """A repeated integer field, packed or not."""
        out: list[int] = []
        for value in self.fields.get(number, []):
            if isinstance(value, int):
                out.append(value)
                continue
            pos = 0
            while pos < len(value):
                item, pos = _read_varint(value, pos)
                out.append(item)
        return out


def parse_command(data: bytes) -> Message:
    """A FlightDescriptor's command or an action's body: an `Any` holding a Flight SQL
    message."""
    type_url, value = unpack_any(data)
    if not type_url.startswith(SQL_TYPE_PREFIX):
        raise Unsupported(f"not a Flight SQL command: {type_url or '(none)'}")
    name = type_url[len(SQL_TYPE_PREFIX):]
    try:
        return Message(name, decode_message(value))
    except ValueError as e:
        raise flight.FlightServerError(f"malformed {name}: {e}") from None


@dataclass(frozen=True)
class Statement:
    """A Flight SQL statement to run: where, what, its bound parameters, and how
    `system.queries` names it (upstream's `CommandStatementQuery<sql>`)."""

    database: str
    query: str
    params: dict[str, pa.Scalar] | None
    log_text: str


# A statement's ticket carries the call's database and the command itself, so the server
# keeps nothing between GetFlightInfo and DoGet (and any server of the same data answers it).
_STATEMENT_TICKET = b"timewell-statement:"


def statement_ticket(database: str, command: bytes) -> bytes:
    return ticket_statement(_STATEMENT_TICKET + _field(1, database.encode()) + _field(2, command))


def parse_statement_ticket(handle: bytes) -> tuple[str, Message] | None:
    """The database and command of a `statement_ticket`; None for another handle."""
    if not handle.startswith(_STATEMENT_TICKET):
        return None
    try:
        fields = decode_message(handle[len(_STATEMENT_TICKET):])
        database, command = fields[1][-1], fields[2][-1]
        return database.decode(), parse_command(command)
    except (KeyError, ValueError, UnicodeDecodeError, AttributeError) as e:
        raise flight.FlightServerError(f"malformed statement ticket: {e}") from None


class FlightSql:
    """Answers Flight SQL requests from the query engine. Blocking: call from a worker thread
    (gRPC's). `database` is the call's `database` header (None if absent)."""

    def __init__(self, query: QueryEngine) -> None:
        self._query = query
        self._metadata: dict[str, Callable[[Message, str | None], pa.Table]] = {
            "CommandGetSqlInfo": lambda c, _db: sql_info_table(c.numbers(1)),
            "CommandGetCatalogs": self._catalogs,
            "CommandGetDbSchemas": self._db_schemas,
            "CommandGetTables": self._tables,
            "CommandGetTableTypes": lambda _c, _db: _table(
                TABLE_TYPES_SCHEMA, [("BASE TABLE",), ("VIEW",)]),
            **{name: (lambda _c, _db, s=schema: s.empty_table())
               for name, schema in _EMPTY_ANSWERS.items()},
        }

    def statement(self, command: Message, database: str | None) -> Statement | None:
        """The query a statement command runs (None for the other commands): DoGet streams
        it, GetFlightInfo only plans it for its schema."""
        if command.name == "CommandStatementQuery":
            query = command.text(1) or ""
            return Statement(_required(database), query, None,
                             f"CommandStatementQuery{query}")
        if command.name == "CommandPreparedStatementQuery":
            query, params = decode_handle(command.data(1) or b"")
            return Statement(_required(database), query, parameter_values(params),
                             f"CommandPreparedStatementQuery{query}")
        return None

    def answer(self, command: Message, database: str | None) -> pa.Table:
        """What GetFlightInfo on a metadata command returns (small: held for DoGet)."""
        answer = self._metadata.get(command.name)
        if answer is None:
            raise Unsupported(f"unsupported Flight SQL command {command.name}")
        return answer(command, database)

    def schema(self, command: Message, database: str | None) -> pa.Schema:
        """GetSchema: the schema `answer` would have, without running a statement."""
        if command.name == "CommandStatementQuery":
            return self._query.plan_schema(_required(database), command.text(1) or "")
        if command.name == "CommandPreparedStatementQuery":
            query, _ = decode_handle(command.data(1) or b"")
            return self._query.plan_schema(_required(database), query)
        if command.name == "CommandGetTables":
            return tables_schema(command.flag(5))
        if command.name == "CommandGetSqlInfo":
            return sql_info_table([]).schema
        schema = {"CommandGetCatalogs": CATALOGS_SCHEMA, "CommandGetDbSchemas": DB_SCHEMAS_SCHEMA,
                  "CommandGetTableTypes": TABLE_TYPES_SCHEMA, **_EMPTY_ANSWERS}.get(command.name)
        if schema is None:
            raise Unsupported(f"unsupported Flight SQL command {command.name}")
        return schema

    def action(self, action_type: str, body: bytes, database: str | None) -> list[bytes]:
        """DoAction: the results' bodies."""
        if action_type == "CreatePreparedStatement":
            request = _expect(parse_command(body), "ActionCreatePreparedStatementRequest")
            query = request.text(1) or ""
            schema = self._query.plan_schema(_required(database), query)
            result = (_field(1, encode_handle(query, None))
                      + _field(2, schema.serialize().to_pybytes()))
            # no parameter_schema: DataFusion's Python API does not tell placeholders' types
            return [pack_any(SQL_TYPE_PREFIX + "ActionCreatePreparedStatementResult", result)]
        if action_type == "ClosePreparedStatement":
            request = _expect(parse_command(body), "ActionClosePreparedStatementRequest")
            decode_handle(request.data(1) or b"")  # nothing is kept: only check it is one
            return []
        raise Unsupported(f"unsupported action {action_type!r}: timewell serves "
                          + ", ".join(name for name, _ in ACTIONS))

    def bind(self, command: Message, params: pa.Table) -> bytes:
        """DoPut of a prepared statement's parameters: the `DoPutPreparedStatementResult`
        (the new handle, which carries them)."""
        if command.name != "CommandPreparedStatementQuery":
            raise Unsupported(f"DoPut of {command.name} is not supported: timewell's Flight SQL "
                              "only queries (write with the HTTP API)")
        query, _ = decode_handle(command.data(1) or b"")
        batches = params.combine_chunks().to_batches()
        batch = batches[0] if batches else None
        parameter_values(batch)  # refuse what could not be bound now, not when executed
        return _field(1, encode_handle(query, batch))

    # -- metadata

    def _catalogs(self, command: Message, database: str | None) -> pa.Table:
        return _table(CATALOGS_SCHEMA, [(CATALOG,)])

    def _db_schemas(self, command: Message, database: str | None) -> pa.Table:
        catalog, pattern = command.text(1), _like(command.text(2))
        rows = [(CATALOG, name) for name in sorted(QueryEngine.SCHEMAS)
                if catalog in (None, CATALOG) and pattern(name)]
        return _table(DB_SCHEMAS_SCHEMA, rows)

    def _tables(self, command: Message, database: str | None) -> pa.Table:
        catalog = command.text(1)
        schema_ok, table_ok = _like(command.text(2)), _like(command.text(3))
        types = set(command.texts(4))
        include_schema = command.flag(5)
        rows = []
        if catalog in (None, CATALOG):
            for schema_name, tables in self._query.table_schemas(_required(database)).items():
                table_type = schema_info.table_type(schema_name)
                if not schema_ok(schema_name) or (types and table_type not in types):
                    continue
                for name, schema in tables.items():
                    if table_ok(name):
                        row = (CATALOG, schema_name, name, table_type)
                        rows.append(row + ((schema.serialize().to_pybytes(),)
                                           if include_schema else ()))
        return _table(tables_schema(include_schema), sorted(rows))


CATALOG = "public"

_TEXT = pa.string()
CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", _TEXT, False)])
DB_SCHEMAS_SCHEMA = pa.schema([pa.field("catalog_name", _TEXT),
                               pa.field("db_schema_name", _TEXT, False)])
TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", _TEXT, False)])


def tables_schema(include_schema: bool) -> pa.Schema:
    fields = [pa.field("catalog_name", _TEXT), pa.field("db_schema_name", _TEXT),
              pa.field("table_name", _TEXT, False), pa.field("table_type", _TEXT, False)]
    if include_schema:
        fields.append(pa.field("table_schema", pa.binary(), False))
    return pa.schema(fields)


def _keys_schema() -> pa.Schema:
    names = ["pk_catalog_name", "pk_db_schema_name", "pk_table_name", "pk_column_name",
             "fk_catalog_name", "fk_db_schema_name", "fk_table_name", "fk_column_name"]
    return pa.schema([pa.field(n, _TEXT, n.endswith(("catalog_name", "schema_name")))
                      for n in names]
                     + [pa.field("key_sequence", pa.int32(), False),
                        pa.field("fk_key_name", _TEXT), pa.field("pk_key_name", _TEXT),
                        pa.field("update_rule", pa.uint8(), False),
                        pa.field("delete_rule", pa.uint8(), False)])


def _xdbc_type_info_schema() -> pa.Schema:
    i32, text, flag = pa.int32(), _TEXT, pa.bool_()
    return pa.schema([
        pa.field("type_name", text, False), pa.field("data_type", i32, False),
        pa.field("column_size", i32), pa.field("literal_prefix", text),
        pa.field("literal_suffix", text),
        pa.field("create_params", pa.list_(pa.field("item", text, False))),
        pa.field("nullable", i32, False), pa.field("case_sensitive", flag, False),
        pa.field("searchable", i32, False), pa.field("unsigned_attribute", flag),
        pa.field("fixed_prec_scale", flag, False), pa.field("auto_increment", flag),
        pa.field("local_type_name", text), pa.field("minimum_scale", i32),
        pa.field("maximum_scale", i32), pa.field("sql_data_type", i32, False),
        pa.field("datetime_subcode", i32), pa.field("num_prec_radix", i32),
        pa.field("interval_precision", i32)])


_EMPTY_ANSWERS = {
    "CommandGetXdbcTypeInfo": _xdbc_type_info_schema(),
    "CommandGetPrimaryKeys": pa.schema([
        pa.field("catalog_name", _TEXT), pa.field("db_schema_name", _TEXT),
        pa.field("table_name", _TEXT, False), pa.field("column_name", _TEXT, False),
        pa.field("key_name", _TEXT), pa.field("key_sequence", pa.int32(), False)]),
    "CommandGetExportedKeys": _keys_schema(),
    "CommandGetImportedKeys": _keys_schema(),
    "CommandGetCrossReference": _keys_schema(),
}


def _table(schema: pa.Schema, rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.Table.from_arrays(
        [pa.array(list(values), type=f.type) for values, f in zip(columns, schema, strict=True)],
        schema=schema)


def _required(database: str | None) -> str:
    if not database:
        raise flight.FlightServerError("name the database in the 'database' header")
    return database


def _expect(command: Message, name: str) -> Message:
    if command.name != name:
        raise flight.FlightServerError(f"expected {name}, got {command.name}")
    return command


def _like(pattern: str | None) -> Callable[[str], bool]:
    """A Flight SQL filter pattern (`%` any run, `_` any character, `\\` escapes) as a test;
    None matches everything."""
    if pattern is None:
        return lambda _name: True
    parts, escaped = [], False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


# -- GetSqlInfo

_STRING, _BOOL, _BIGINT, _BITMASK = range(4)  # the value union's type codes
_MAX = 2**31 - 1  # the lengths and counts that have no limit of their own

_SQL_INFO: list[tuple[int, int, object]] = [
    # the server (as upstream reports itself, for clients that look for it)
    (0, _STRING, "InfluxDB IOx"), (1, _STRING, "2"), (2, _STRING, "1.3"),
    (3, _BOOL, True),  # read only
    (4, _BOOL, True), (5, _BOOL, False),  # SQL, not Substrait
    (8, _BITMASK, 0), (9, _BOOL, False),  # no transactions, no CancelQuery
    (100, _BITMASK, 0), (101, _BITMASK, 0),  # no statement or transaction timeouts
    # SQL syntax (DataFusion's)
    (500, _BOOL, False), (501, _BOOL, False), (502, _BOOL, False),  # no DDL
    (503, _BITMASK, 3),  # unquoted identifiers: lowercase
    (504, _STRING, '"'),
    (505, _BITMASK, 1),  # quoted identifiers: case-insensitive
    (506, _BOOL, True),
    (507, _BITMASK, 0),  # nulls sorted high
    (513, _STRING, "\\"), (514, _STRING, ""),
    (515, _BOOL, True), (516, _BOOL, True),
    (518, _BOOL, False), (519, _BOOL, False), (520, _BOOL, True), (521, _BOOL, True),
    (522, _BITMASK, 3), (523, _BOOL, True), (524, _BOOL, True),
    (525, _BITMASK, 1),  # core grammar
    (526, _BITMASK, 7),  # ANSI-92 entry, intermediate, full
    (527, _BOOL, False),
    (528, _BITMASK, 2),  # full outer joins
    (529, _STRING, "schema"), (530, _STRING, "procedure"),
    (532, _BOOL, False), (533, _BITMASK, 0), (534, _BITMASK, 0), (535, _BITMASK, 0),
    (536, _BOOL, False), (537, _BOOL, False),
    (538, _BITMASK, 15),  # subqueries in comparisons, EXISTS, IN and quantifieds
    (539, _BOOL, True),
    (540, _BITMASK, 3),  # UNION and UNION ALL
    *((code, _BIGINT, _MAX) for code in range(541, 556)),
    (556, _BOOL, True),
    *((code, _BIGINT, _MAX) for code in range(557, 562)),
    (562, _BIGINT, 0), (563, _BOOL, False), (564, _BITMASK, 0),
    (565, _BOOL, False), (566, _BOOL, True),
    *((code, _BITMASK, 0) for code in range(567, 572)),
    *((code, _BOOL, False) for code in range(572, 577)),
]

_UNION_CHILDREN = [
    ("string_value", pa.string()), ("bool_value", pa.bool_()), ("bigint_value", pa.int64()),
    ("int32_bitmask", pa.int32()), ("string_list", pa.list_(pa.string())),
    ("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32()))),
]


def sql_info_table(codes: list[int]) -> pa.Table:
    """GetSqlInfo's answer for `codes` (all that timewell knows when empty): `info_name
    uint32, value dense_union<string_value, bool_value, bigint_value, int32_bitmask,
    string_list, int32_to_int32_list_map>`. Codes timewell does not know are left out."""
    wanted = set(codes)
    rows = [row for row in _SQL_INFO if not wanted or row[0] in wanted]
    values: list[list] = [[] for _ in _UNION_CHILDREN]
    kinds, offsets = [], []
    for _, kind, value in rows:
        kinds.append(kind)
        offsets.append(len(values[kind]))
        values[kind].append(value)
    union = pa.UnionArray.from_dense(
        pa.array(kinds, pa.int8()), pa.array(offsets, pa.int32()),
        [pa.array(v, type=t) for v, (_, t) in zip(values, _UNION_CHILDREN, strict=True)],
        [name for name, _ in _UNION_CHILDREN], list(range(len(_UNION_CHILDREN))))
    schema = pa.schema([pa.field("info_name", pa.uint32(), False),
                        pa.field("value", union.type, False)])
    return pa.Table.from_arrays([pa.array([r[0] for r in rows], pa.uint32()), union],
                                schema=schema)


# -- prepared statement handles


def encode_handle(query: str, params: pa.RecordBatch | None) -> bytes:
    """Upstream's handle: `Any(FlightSqlPreparedStatementHandle {query = 1, params = 2})`,
    the parameters as an Arrow IPC stream of one batch."""
    message = _field(1, query.encode())
    if params is not None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, params.schema) as writer:
            writer.write_batch(params)
        message += _field(2, sink.getvalue().to_pybytes())
    return pack_any(_HANDLE, message)


def decode_handle(handle: bytes) -> tuple[str, pa.RecordBatch | None]:
    type_url, value = unpack_any(handle)
    if type_url != _HANDLE:
        try:  # upstream's first handles were the statement's text
            return handle.decode(), None
        except UnicodeDecodeError:
            raise flight.FlightServerError("not a prepared statement handle") from None
    try:
        fields = Message("", decode_message(value))
        params = fields.data(2)
        batch = (pa.ipc.open_stream(params).read_next_batch() if params else None)
    except (ValueError, pa.ArrowException, StopIteration) as e:
        raise flight.FlightServerError(f"malformed prepared statement handle: {e}") from None
    return fields.text(1) or "", batch


def parameter_values(params: pa.RecordBatch | None) -> dict[str, pa.Scalar] | None:
    """Bound parameters as DataFusion's placeholder values: column i is `$<i+1>` (clients bind
    by position), and a column named `name` that is not a number is also `$name`."""
    if params is None or params.num_columns == 0:
        return None
    if params.num_rows != 1:
        raise flight.FlightServerError(
            f"bind one row of parameters to a query, not {params.num_rows}")
    values: dict[str, pa.Scalar] = {}
    for position, (field, column) in enumerate(zip(params.schema, params.columns, strict=True)):
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        values[str(position + 1)] = column[0]
        name = field.name.removeprefix("$")
        if name and not name.isdigit():
            values[name] = column[0]
    return values


# -- protobuf: google.protobuf.Any and flat messages


def pack_any(type_url: str, value: bytes) -> bytes:
    return _field(1, type_url.encode()) + _field(2, value)


def unpack_any(data: bytes) -> tuple[str, bytes]:
    """(type URL, value); ("", b"") when `data` is no `Any`."""
    try:
        any_ = Message("", decode_message(data))
    except ValueError:
        return "", b""
    return any_.text(1) or "", any_.data(2) or b""


def ticket_statement(handle: bytes) -> bytes:
    return pack_any(TICKET_STATEMENT, _field(1, handle))


def ticket_handle(ticket: bytes) -> bytes:
    """The handle in a `TicketStatementQuery` ticket."""
    type_url, value = unpack_any(ticket)
    if type_url != TICKET_STATEMENT:
        raise flight.FlightServerError(f"unsupported ticket type {type_url or '(none)'}")
    try:
        return Message("", decode_message(value)).data(1) or b""
    except ValueError as e:
        raise flight.FlightServerError(f"malformed ticket: {e}") from None


def _field(number: int, value: bytes) -> bytes:
    """A length-delimited field (string, bytes, message)."""
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


def decode_message(data: bytes) -> dict[int, list[int | bytes]]:
    """A message's fields by number, in order: varints as ints, length-delimited fields as
    bytes (fixed-width fields, which Flight SQL does not use, are skipped)."""
    fields: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            fields.setdefault(number, []).append(value)
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            fields.setdefault(number, []).append(data[pos:pos + length])
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(data):
                raise ValueError("truncated field")
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
        if shift > 63:
            raise ValueError("varint too long")
