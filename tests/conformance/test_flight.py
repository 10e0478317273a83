"""Upstream `influxdb3/tests/server/flight.rs`: Arrow Flight SQL and JSON-ticket DoGet."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from tests.conformance.conftest import (
    flight_location,
    flight_options,
    flight_sql,
    flight_sql_command,
    proto,
    query_sql,
    write_lp,
)
from timewell.server.flight_sql import decode_message, pack_any, unpack_any

SQL = "type.googleapis.com/arrow.flight.protocol.sql."

CPU = ("cpu,host=s1,region=us-east usage=0.9 1\ncpu,host=s1,region=us-east usage=0.89 2\n"
       "cpu,host=s1,region=us-east usage=0.85 3")
EXPECTED = [("s1", "us-east", 1, 0.9), ("s1", "us-east", 2, 0.89), ("s1", "us-east", 3, 0.85)]


@pytest.fixture(scope="module")
def server(module_server):
    write_lp(module_server, "foo", CPU, precision="nanosecond")
    return module_server


def _values(table) -> list[tuple]:
    rows = table.to_pylist()
    return sorted((r["host"], r["region"], r["time"].value, r["usage"]) for r in rows)


def test_flight_flight(server):
    """The ad-hoc query and ad-hoc error steps of upstream's `flight`."""
    table = flight_sql(server, "foo", "SELECT host, region, time, usage FROM cpu")
    assert table.column_names == ["host", "region", "time", "usage"]
    assert _values(table) == EXPECTED
    with pytest.raises(flight.FlightError, match="table 'public.iox.invalid_table' not found"):
        flight_sql(server, "foo", "SELECT * FROM invalid_table")


def test_flight_flight_prepared_query(server):
    """Upstream's "Prepared query" step: the CreatePreparedStatement action, then
    CommandPreparedStatementQuery with its handle (GetFlightInfo, DoGet)."""
    sql = "SELECT host, region, time, usage FROM cpu"
    options = flight_options("foo")
    with flight.FlightClient(flight_location(server)) as client:
        request = pack_any(SQL + "ActionCreatePreparedStatementRequest", proto(1, sql))
        [result] = client.do_action(flight.Action("CreatePreparedStatement", request), options)
        type_url, value = unpack_any(result.body.to_pybytes())
        assert type_url == SQL + "ActionCreatePreparedStatementResult"
        prepared = decode_message(value)
        [handle], [dataset_schema] = prepared[1], prepared[2]
        command = pack_any(SQL + "CommandPreparedStatementQuery", proto(1, handle))
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
        table = client.do_get(info.endpoints[0].ticket, options).read_all()
        closing = pack_any(SQL + "ActionClosePreparedStatementRequest", proto(1, handle))
        assert list(client.do_action(flight.Action("ClosePreparedStatement", closing),
                                     options)) == []
    assert _values(table) == EXPECTED
    assert pa.ipc.read_schema(pa.py_buffer(dataset_schema)) == table.schema == info.schema
    assert table.column_names == ["host", "region", "time", "usage"]


def test_flight_flight_sql_info(server):
    """Upstream's "Get SQL Infos" step: `FlightSqlServerName` is `InfluxDB IOx`."""
    info, table = flight_sql_command(server, "foo", "CommandGetSqlInfo",
                                     proto(1, bytes([0])))  # packed `repeated uint32 info`
    assert table.to_pylist() == [{"info_name": 0, "value": "InfluxDB IOx"}]
    assert table.schema == info.schema
    assert table.schema.names == ["info_name", "value"]
    assert table.schema.field("info_name").type == pa.uint32()
    value = table.schema.field("value").type
    assert value.mode == "dense"
    assert [(value.field(i).name, value.field(i).type) for i in range(value.num_fields)] == [
        ("string_value", pa.string()), ("bool_value", pa.bool_()),
        ("bigint_value", pa.int64()), ("int32_bitmask", pa.int32()),
        ("string_list", pa.list_(pa.string())),
        ("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32())))]


UPSTREAM_TABLES = (
    [("public", "information_schema", name, "VIEW") for name in (
        "columns", "df_settings", "parameters", "routines", "schemata", "tables", "views")]
    + [("public", "iox", "cpu", "BASE TABLE")]
    + [("public", "system", name, "BASE TABLE") for name in (
        "distinct_caches", "last_caches", "parquet_files", "processing_engine_logs",
        "processing_engine_trigger_arguments", "processing_engine_triggers", "queries")])
WITHOUT = {("public", "information_schema", name, "VIEW")
           for name in ("df_settings", "parameters", "routines")}
EXTRA = {("public", "system", name, "BASE TABLE") for name in (
    "databases", "plugin_files", "processing_engine_trigger_stats", "tables", "tokens")}


@pytest.mark.differs("timewell has more system tables than upstream (databases, tables, "
                     "processing_engine_trigger_stats, plugin_files, tokens: contract section 4) "
                     "and no information_schema.df_settings, parameters or routines; GetTables "
                     "lists what SHOW TABLES lists")
def test_flight_flight_get_tables(server):
    """Upstream's "Get Tables" step: no filters, without the tables' schemas."""
    info, table = flight_sql_command(server, "foo", "CommandGetTables", proto(5, False))
    assert table.schema == info.schema == pa.schema([
        pa.field("catalog_name", pa.string()), pa.field("db_schema_name", pa.string()),
        pa.field("table_name", pa.string(), False), pa.field("table_type", pa.string(), False)])
    rows = [tuple(row.values()) for row in table.to_pylist()]
    assert rows == sorted(rows)
    assert set(rows) == (set(UPSTREAM_TABLES) - WITHOUT) | EXTRA
    shown = query_sql(server, "foo", "SHOW TABLES").json()
    assert set(rows) == {tuple(r.values()) for r in shown}


def test_flight_flight_get_catalogs(server):
    """Upstream's "Get Catalogs" step."""
    info, table = flight_sql_command(server, "foo", "CommandGetCatalogs")
    assert table.to_pylist() == [{"catalog_name": "public"}]
    assert table.schema == info.schema == pa.schema([pa.field("catalog_name", pa.string(),
                                                              False)])


def _do_get(server, ticket: dict):
    location = server.url.replace("http://", "grpc+tcp://")
    with flight.FlightClient(location) as client:
        return client.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()


@pytest.mark.differs("upstream refuses, over Flight only, InfluxQL's qualified `db.rp.measurement` "
                     "and SHOW DATABASES ('This feature is not implemented'); timewell answers "
                     "both over Flight as its HTTP API does (upstream's HTTP API accepts both too)")
def test_flight_flight_influxql(server):
    ticket = {"database": "foo", "query_type": "influxql"}
    qualified = _do_get(server, {**ticket, "sql_query":
                                 "SELECT time, host, region, usage FROM foo.autogen.cpu"})
    assert _values(qualified) == EXPECTED  # upstream: "database prefix in qualified ..." error
    shown = _do_get(server, {**ticket, "sql_query": "SHOW MEASUREMENTS"})
    assert shown.to_pylist() == [{"iox::measurement": "measurements", "name": "cpu"}]
    databases = _do_get(server, {**ticket, "sql_query": "SHOW DATABASES"})
    assert {"iox::measurement": "databases", "name": "foo"} in databases.to_pylist()
