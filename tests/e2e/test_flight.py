"""Arrow Flight on the HTTP port, through the official client libraries."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client_3 import InfluxDB3ClientQueryError, InfluxDBClient3
from influxdb_client_3 import Point as Point3

from tests.conftest import free_port
from tests.helpers import proto
from timewell.server.flight_sql import decode_message, pack_any, unpack_any

T0 = 1_700_000_000_000_000_000
SQL = "type.googleapis.com/arrow.flight.protocol.sql."


@pytest.fixture(scope="module")
def client(shared_server):
    with InfluxDBClient3(host=shared_server.url, token="unused", database="flight") as client:
        client.write(record=[
            Point3("home").tag("room", "kitchen").field("temp", 21.5).field("hum", 40)
            .time(T0),
            Point3("home").tag("room", "lounge").field("temp", 19.0).field("hum", 45)
            .time(T0 + 60_000_000_000),
        ])
        frame = pd.DataFrame({
            "time": pd.to_datetime([T0, T0 + 1_000_000_000, T0 + 2_000_000_000], unit="ns"),
            "sensor": ["s1", "s1", "s2"],
            "level": [0.5, 0.75, 1.25],
        })
        client.write(record=frame, data_frame_measurement_name="tank",
                     data_frame_tag_columns=["sensor"], data_frame_timestamp_column="time")
        yield client


def test_sql_over_flight_on_the_http_port(client):
    table = client.query("SELECT room, temp, hum, time FROM home ORDER BY time")
    assert isinstance(table, pa.Table)
    assert table.column("room").to_pylist() == ["kitchen", "lounge"]
    assert table.column("temp").to_pylist() == [21.5, 19.0]
    assert table.schema.field("time").type == pa.timestamp("ns")


def test_dataframe_round_trip_with_parameters(client):
    frame = client.query("SELECT sensor, level FROM tank WHERE sensor = $s ORDER BY time",
                         mode="pandas", query_parameters={"s": "s1"})
    assert frame["level"].tolist() == [0.5, 0.75]
    assert set(frame["sensor"]) == {"s1"}


def test_influxql_over_flight(client):
    table = client.query("SELECT mean(level) FROM tank GROUP BY sensor", language="influxql")
    assert table.column_names == ["iox::measurement", "time", "sensor", "mean"]
    assert table.to_pylist()[0]["sensor"] == "s1"
    assert table.column("mean").to_pylist() == [0.625, 1.25]
    table = client.query("SELECT temp FROM home WHERE room = $room", language="influxql",
                         query_parameters={"room": "lounge"})
    assert table.column("temp").to_pylist() == [19.0]
    table = client.query("SHOW FIELD KEYS FROM home", language="influxql")
    assert table.column("fieldKey").to_pylist() == ["hum", "temp"]


def test_flight_errors_reach_the_client(client):
    with pytest.raises(InfluxDB3ClientQueryError, match="database not found"):
        client.query("SELECT 1", database="no_such_db")
    with pytest.raises(InfluxDB3ClientQueryError, match="table 'nope' not found|nope"):
        client.query("SELECT * FROM nope")
    with pytest.raises(InfluxDB3ClientQueryError, match="error parsing query"):
        client.query("SELEC x", language="influxql")


def test_flight_sql_statement_query(shared_server, client):
    location = shared_server.url.replace("http://", "grpc+tcp://")
    with flight.FlightClient(location) as raw:
        command = pack_any("type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery",
                           proto(1, "SELECT room FROM home ORDER BY room"))
        options = flight.FlightCallOptions(headers=[(b"database", b"flight"),
                                                    (b"authorization", b"Bearer x")])
        info = raw.get_flight_info(flight.FlightDescriptor.for_command(command), options)
        assert info.schema.names == ["room"]
        table = raw.do_get(info.endpoints[0].ticket, options).read_all()
        assert table.column("room").to_pylist() == ["kitchen", "lounge"]
        with pytest.raises(flight.FlightError, match="database"):
            raw.get_flight_info(flight.FlightDescriptor.for_command(command))


def _field(number: int, value: bytes | str | bool) -> bytes:
    """One protobuf field (string/bytes, or a bool as a varint) of a number below 16."""
    if isinstance(value, bool):
        return bytes([number << 3, int(value)])
    data = value.encode() if isinstance(value, str) else value
    length, size = bytearray(), len(data)
    while size >= 0x80:
        length.append(size & 0x7F | 0x80)
        size >>= 7
    return bytes([number << 3 | 2, *length, size]) + data


def _sql_command(raw, name: str, body: bytes = b"", database: str | None = "flight"):
    """GetFlightInfo on a Flight SQL command, then DoGet: (FlightInfo, table)."""
    options = flight.FlightCallOptions(
        headers=[(b"database", database.encode())] if database else [])
    descriptor = flight.FlightDescriptor.for_command(pack_any(SQL + name, body))
    info = raw.get_flight_info(descriptor, options)
    return info, raw.do_get(info.endpoints[0].ticket, options).read_all()


@pytest.fixture
def raw(shared_server, client):
    with flight.FlightClient(shared_server.url.replace("http://", "grpc+tcp://")) as raw:
        yield raw


def test_flight_sql_metadata_filters(raw, client):
    _, schemas = _sql_command(raw, "CommandGetDbSchemas", _field(2, "i%"), database=None)
    assert schemas.to_pylist() == [
        {"catalog_name": "public", "db_schema_name": "information_schema"},
        {"catalog_name": "public", "db_schema_name": "iox"}]
    _, schemas = _sql_command(raw, "CommandGetDbSchemas", _field(1, "other"))
    assert schemas.num_rows == 0
    _, tables = _sql_command(raw, "CommandGetTables", _field(2, "iox") + _field(3, "ho_e")
                             + _field(5, True))
    assert tables.schema.names == ["catalog_name", "db_schema_name", "table_name", "table_type",
                                   "table_schema"]
    [row] = tables.to_pylist()
    assert row["table_name"] == "home" and row["table_type"] == "BASE TABLE"
    home = pa.ipc.read_schema(pa.py_buffer(row["table_schema"]))
    assert home == client.query("SELECT * FROM home").schema
    _, views = _sql_command(raw, "CommandGetTables", _field(4, "VIEW"))
    assert {r["db_schema_name"] for r in views.to_pylist()} == {"information_schema"}
    assert {r["table_name"] for r in views.to_pylist()} >= {"tables", "columns"}
    _, literal = _sql_command(raw, "CommandGetTables", _field(3, "h\\_me"))  # `_` escaped
    assert literal.num_rows == 0
    _, types = _sql_command(raw, "CommandGetTableTypes")
    assert types.to_pylist() == [{"table_type": "BASE TABLE"}, {"table_type": "VIEW"}]
    _, everything = _sql_command(raw, "CommandGetSqlInfo")
    info = {r["info_name"]: r["value"] for r in everything.to_pylist()}
    assert info[0] == "InfluxDB IOx" and info[3] is True and info[504] == '"'
    _, some = _sql_command(raw, "CommandGetSqlInfo", b"\x08\x03\x08\x00")  # not packed
    assert some.to_pylist() == [{"info_name": 0, "value": "InfluxDB IOx"},
                                {"info_name": 3, "value": True}]
    for name in ("CommandGetXdbcTypeInfo", "CommandGetPrimaryKeys", "CommandGetExportedKeys",
                 "CommandGetImportedKeys", "CommandGetCrossReference"):
        info, empty = _sql_command(raw, name)
        assert empty.num_rows == 0 and empty.schema == info.schema
        assert len(empty.schema) == {"CommandGetXdbcTypeInfo": 19,
                                     "CommandGetPrimaryKeys": 6}.get(name, 13)


def test_flight_sql_get_schema(raw):
    options = flight.FlightCallOptions(headers=[(b"database", b"flight")])
    statement = pack_any(SQL + "CommandStatementQuery",
                         _field(1, "SELECT room, temp FROM home WHERE temp > $1"))
    schema = raw.get_schema(flight.FlightDescriptor.for_command(statement), options).schema
    assert schema.names == ["room", "temp"]
    assert schema.field("temp").type == pa.float64()
    tables = pack_any(SQL + "CommandGetTables", _field(5, True))
    schema = raw.get_schema(flight.FlightDescriptor.for_command(tables), options).schema
    assert schema.names[-1] == "table_schema"


def _prepare(raw, sql: str, options) -> bytes:
    request = pack_any(SQL + "ActionCreatePreparedStatementRequest", _field(1, sql))
    [result] = raw.do_action(flight.Action("CreatePreparedStatement", request), options)
    _, value = unpack_any(result.body.to_pybytes())
    return decode_message(value)[1][0]


def _bind(raw, handle: bytes, params: pa.RecordBatch, options) -> bytes:
    command = pack_any(SQL + "CommandPreparedStatementQuery", _field(1, handle))
    writer, reader = raw.do_put(flight.FlightDescriptor.for_command(command), params.schema,
                                options)
    writer.write_batch(params)
    writer.done_writing()
    result = reader.read()
    writer.close()
    return decode_message(result.to_pybytes())[1][0]  # DoPutPreparedStatementResult


def test_flight_sql_prepared_statement_binds_parameters(raw):
    options = flight.FlightCallOptions(headers=[(b"database", b"flight")])
    handle = _prepare(raw, "SELECT room, temp FROM home WHERE room = $room AND temp > $2",
                      options)
    params = pa.record_batch({"room": ["lounge"], "min": [10.0]})
    bound = _bind(raw, handle, params, options)
    assert bound != handle  # the handle carries the parameters: the server keeps nothing
    _, table = _sql_command(raw, "CommandPreparedStatementQuery", _field(1, bound))
    assert table.to_pylist() == [{"room": "lounge", "temp": 19.0}]
    rebound = _bind(raw, bound, pa.record_batch({"room": ["kitchen"], "min": [30.0]}), options)
    _, table = _sql_command(raw, "CommandPreparedStatementQuery", _field(1, rebound))
    assert table.num_rows == 0
    with pytest.raises(flight.FlightError, match="one row"):
        _bind(raw, handle, pa.record_batch({"room": ["a", "b"], "min": [1.0, 2.0]}), options)
    with pytest.raises(flight.FlightError, match=r"\$room|placeholder"):  # nothing bound
        _sql_command(raw, "CommandPreparedStatementQuery", _field(1, handle))


def test_flight_sql_refuses_what_it_does_not_serve(raw):
    options = flight.FlightCallOptions(headers=[(b"database", b"flight")])
    assert [(a.type, bool(a.description)) for a in raw.list_actions(options)] == [
        ("CreatePreparedStatement", True), ("ClosePreparedStatement", True)]
    with pytest.raises(NotImplementedError, match="BeginTransaction"):
        list(raw.do_action(flight.Action("BeginTransaction", b""), options))
    update = pack_any(SQL + "CommandStatementUpdate", _field(1, "INSERT INTO home VALUES (1)"))
    writer, _ = raw.do_put(flight.FlightDescriptor.for_command(update),
                           pa.schema([("x", pa.int64())]), options)
    with pytest.raises(NotImplementedError, match="CommandStatementUpdate"):
        writer.close()
    with pytest.raises(NotImplementedError, match="CommandStatementSubstraitPlan"):
        _sql_command(raw, "CommandStatementSubstraitPlan")
    with pytest.raises(flight.FlightServerError, match="'database' header"):
        _sql_command(raw, "CommandGetTables", database=None)
    with pytest.raises(flight.FlightServerError, match="database not found"):
        _sql_command(raw, "CommandGetTables", database="no_such_db")


def test_flight_sql_calls_need_the_token(make_server):
    server = make_server(auth=True)
    created = httpx.post(f"{server.url}/api/v3/configure/token/admin")
    token = created.json()["token"].encode()
    assert httpx.post(f"{server.url}/api/v3/write_lp", params={"db": "auth"}, content=b"m v=1 1",
                      headers={"Authorization": b"Bearer " + token}).status_code == 204
    no_token = flight.FlightCallOptions(headers=[(b"database", b"auth")])
    with_token = flight.FlightCallOptions(headers=[(b"database", b"auth"),
                                                   (b"authorization", b"Bearer " + token)])
    catalogs = flight.FlightDescriptor.for_command(pack_any(SQL + "CommandGetCatalogs", b""))
    prepare = flight.Action("CreatePreparedStatement", pack_any(
        SQL + "ActionCreatePreparedStatementRequest", _field(1, "SELECT v FROM m")))
    with flight.FlightClient(server.url.replace("http://", "grpc+tcp://")) as raw:
        calls = [lambda o: raw.get_flight_info(catalogs, o),
                 lambda o: raw.get_schema(catalogs, o),
                 lambda o: list(raw.list_actions(o)), lambda o: list(raw.do_action(prepare, o))]
        for call in calls:
            # pyarrow's get_schema raises an OSError, the others FlightUnauthenticatedError
            with pytest.raises((flight.FlightUnauthenticatedError, OSError),
                               match="Unauthenticated"):
                call(no_token)
            call(with_token)
        with pytest.raises(flight.FlightUnauthenticatedError):
            _bind(raw, b"SELECT v FROM m", pa.record_batch({"x": [1]}), no_token)
        assert _bind(raw, b"SELECT v FROM m", pa.record_batch({"x": [1]}), with_token)
    dbapi = pytest.importorskip("adbc_driver_flightsql.dbapi")
    options = {"adbc.flight.sql.rpc.call_header.database": "auth",
               "adbc.flight.sql.authorization_header": f"Bearer {token.decode()}"}
    with dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs=options,
                       autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT v FROM m WHERE v > $1", parameters=(0.5,))
        assert cursor.fetchall() == [(1.0,)]


@pytest.fixture
def adbc(shared_server, client):
    dbapi = pytest.importorskip("adbc_driver_flightsql.dbapi")
    with dbapi.connect(f"grpc://127.0.0.1:{shared_server.port}", autocommit=True,
                       db_kwargs={"adbc.flight.sql.rpc.call_header.database": "flight"}) as conn:
        yield conn


def test_adbc_flight_sql_query_and_parameters(adbc):
    with adbc.cursor() as cursor:
        cursor.execute("SELECT room, temp FROM home ORDER BY room")
        assert cursor.fetchall() == [("kitchen", 21.5), ("lounge", 19.0)]
        cursor.execute("SELECT room, temp FROM home WHERE room = $1", parameters=("lounge",))
        assert cursor.fetchall() == [("lounge", 19.0)]
        cursor.execute("SELECT room FROM home WHERE temp > $1 AND hum < $2 ORDER BY room",
                       parameters=(20.0, 50))
        assert cursor.fetchall() == [("kitchen",)]
        with pytest.raises(Exception, match="not found"):
            cursor.execute("SELECT * FROM nope")


def test_adbc_flight_sql_metadata(adbc, client):
    info = adbc.adbc_get_info()
    assert (info["vendor_name"], info["vendor_version"], info["vendor_arrow_version"]) == (
        "InfluxDB IOx", "2", "1.3")
    assert adbc.adbc_get_table_types() == ["BASE TABLE", "VIEW"]
    schema = adbc.adbc_get_table_schema("home", db_schema_filter="iox")
    assert schema == client.query("SELECT * FROM home").schema
    [catalog] = adbc.adbc_get_objects().read_all().to_pylist()
    assert catalog["catalog_name"] == "public"
    schemas = {s["db_schema_name"]: s["db_schema_tables"] for s in catalog["catalog_db_schemas"]}
    assert sorted(schemas) == ["information_schema", "iox", "system"]
    home = next(t for t in schemas["iox"] if t["table_name"] == "home")
    assert home["table_type"] == "BASE TABLE"
    assert [(c["column_name"], c["ordinal_position"]) for c in home["table_columns"]] == [
        ("hum", 1), ("room", 2), ("temp", 3), ("time", 4)]
    assert {t["table_name"] for t in schemas["system"]} >= {"queries", "last_caches"}
    [only] = adbc.adbc_get_objects(depth="tables", table_name_filter="tan%").read_all(
        ).to_pylist()
    tables = [t["table_name"] for s in only["catalog_db_schemas"]
              for t in s["db_schema_tables"] or []]
    assert tables == ["tank"]


def test_http_keeps_working_beside_flight(shared_server, client):
    assert client.query("SELECT count(*) AS n FROM home").column("n").to_pylist() == [2]
    assert shared_server.rows("SELECT count(*) AS n FROM home", db="flight") == [{"n": 2}]


def test_v2_client_writes_through_api_v2_write(shared_server, client):
    with InfluxDBClient(url=shared_server.url, token="unused", org="any") as v2:
        v2.write_api(write_options=SYNCHRONOUS).write(
            bucket="flight", record=Point("weather").tag("city", "oslo").field("temp", 3.5)
            .time(T0))
    table = client.query("SELECT city, temp FROM weather")
    assert table.to_pylist() == [{"city": "oslo", "temp": 3.5}]


def test_flight_on_its_own_port_with_query_port_overwrite(make_server):
    port = free_port()
    server = make_server("--flight-bind", f"127.0.0.1:{port}")
    assert server.write("m,k=a v=1 1", db="own").status_code == 204
    with InfluxDBClient3(host=server.url, token="unused", database="own",
                         query_port_overwrite=port) as own:
        assert own.query("SELECT v FROM m").column("v").to_pylist() == [1.0]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_flight_over_tls_on_the_https_port(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    args = [sys.executable, "-m", "timewell", "serve", "--without-auth",
            "--data-dir", str(tmp_path / "data"), "--http-bind", f"127.0.0.1:{port}",
            "--tls-cert", str(cert), "--tls-key", str(key)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        verify = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", verify=verify).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        # ALPN prefers http/1.1, so HTTP clients that offer h2 still speak HTTP/1.1 ...
        with httpx.Client(verify=verify, http2=False) as http:
            response = http.post(f"{url}/api/v3/write_lp", params={"db": "tls"},
                                 content=b"m v=1 1")
            assert response.status_code == 204
        # ... and gRPC clients, which offer only h2, get Flight on the same port.
        with InfluxDBClient3(host=url, token="unused", database="tls",
                             ssl_ca_cert=str(cert)) as tls:
            assert tls.query("SELECT v FROM m").column("v").to_pylist() == [1.0]
    finally:
        process.terminate()
        process.wait(30)
