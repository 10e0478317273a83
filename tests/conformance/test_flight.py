"""Upstream `influxdb3/tests/server/flight.rs`: Arrow Flight SQL and JSON-ticket DoGet."""

from __future__ import annotations

import json

import pyarrow.flight as flight
import pytest

from tests.conformance.conftest import flight_sql, write_lp

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


@pytest.mark.xfail(strict=True, reason="not yet implemented: Flight SQL prepared statements "
                   "(CreatePreparedStatement action), GetSqlInfo (server name 'InfluxDB IOx'), "
                   "GetTables and GetCatalogs; timewell's Flight SQL serves "
                   "CommandStatementQuery only")
def test_flight_flight_metadata_commands(server):
    """The prepared query, SQL info, tables and catalogs steps of upstream's `flight`."""
    location = server.url.replace("http://", "grpc+tcp://")
    with flight.FlightClient(location) as client:
        actions = [a.type for a in client.list_actions()]
    assert "CreatePreparedStatement" in actions


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
