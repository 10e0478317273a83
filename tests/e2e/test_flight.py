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
from timewell.server.flight_sql import pack_any

T0 = 1_700_000_000_000_000_000


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
                           b"\x0a" + bytes([len(q := b"SELECT room FROM home ORDER BY room")]) + q)
        options = flight.FlightCallOptions(headers=[(b"database", b"flight"),
                                                    (b"authorization", b"Bearer x")])
        info = raw.get_flight_info(flight.FlightDescriptor.for_command(command), options)
        assert info.schema.names == ["room"]
        table = raw.do_get(info.endpoints[0].ticket, options).read_all()
        assert table.column("room").to_pylist() == ["kitchen", "lounge"]
        with pytest.raises(flight.FlightError, match="database"):
            raw.get_flight_info(flight.FlightDescriptor.for_command(command))


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
