"""The official client libraries write to timewell unchanged (Flight queries: a later issue)."""

from __future__ import annotations

import gzip
from urllib.parse import urlparse

import httpx
from influxdb import InfluxDBClient as InfluxDBClient1
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client_3 import InfluxDBClient3
from influxdb_client_3 import Point as Point3


def test_influxdb_client_v2_write_and_ping(shared_server):
    with InfluxDBClient(url=shared_server.url, token="unused", org="any") as client:
        assert client.ping()
        write = client.write_api(write_options=SYNCHRONOUS)
        write.write(bucket="v2client", record=Point("weather").tag("city", "oslo")
                    .field("temp", 3.5).time(1_700_000_000_000_000_000))
        write.write(bucket="v2client", record="weather,city=rome temp=18.25 1700000001000000000")
    rows = shared_server.rows("SELECT city, temp, time FROM weather ORDER BY city", db="v2client")
    assert rows == [
        {"city": "oslo", "temp": 3.5, "time": "2023-11-14T22:13:20"},
        {"city": "rome", "temp": 18.25, "time": "2023-11-14T22:13:21"},
    ]


def test_influxdb3_python_write(shared_server):
    with InfluxDBClient3(host=shared_server.url, token="unused", database="v3client") as client:
        client.write(record=Point3("home").tag("room", "kitchen").field("temp", 21.5)
                     .field("count", 3).time(1_700_000_000_000_000_000))
        client.write(record="home,room=lounge temp=20.0,count=4i 1700000002000000000")
    rows = shared_server.rows("SELECT room, temp, count FROM home ORDER BY room", db="v3client")
    assert rows == [{"room": "kitchen", "temp": 21.5, "count": 3},
                    {"room": "lounge", "temp": 20.0, "count": 4}]


def test_influxdb1_python_client_manages_writes_and_queries(shared_server):
    """The 1.x client's database and retention policy calls are InfluxQL statements."""
    address = urlparse(shared_server.url)
    client = InfluxDBClient1(host=address.hostname, port=address.port, database="v1client")
    client.create_database("v1client")
    client.create_database("v1client")  # as in 1.x: creating what exists is fine
    assert {"name": "v1client"} in client.get_list_database()
    client.create_retention_policy("month", "30d", 1, database="v1client")
    policies = {p["name"]: p["duration"] for p in client.get_list_retention_policies("v1client")}
    assert policies == {"autogen": "0s", "month": "720h0m0s"}
    assert client.write_points([
        {"measurement": "cpu", "tags": {"host": "a"}, "time": 1_700_000_000_000_000_000,
         "fields": {"usage": 1.5}},
        {"measurement": "cpu", "tags": {"host": "a"}, "time": 1_700_000_010_000_000_000,
         "fields": {"usage": 4.5}},
    ], time_precision="n")
    result = client.query("SELECT derivative(usage, 1s) FROM cpu")
    assert list(result.get_points()) == [{"time": "2023-11-14T22:13:30Z", "derivative": 0.3}]
    assert client.get_list_measurements() == [{"name": "cpu"}]
    client.drop_measurement("cpu")
    assert client.get_list_measurements() == []
    client.drop_database("v1client")
    assert {"name": "v1client"} not in client.get_list_database()


def test_telegraf_start_up_sequence(shared_server):
    """What Telegraf's outputs.influxdb sends: CREATE DATABASE as a form-encoded POST, then
    gzipped writes naming the retention policy."""
    headers = {"User-Agent": "Telegraf/1.30.0 Go/1.22.1"}
    created = httpx.post(f"{shared_server.url}/query", headers=headers,
                         data={"q": 'CREATE DATABASE "telegraf"'})
    assert created.status_code == 200
    assert created.json() == {"results": [{"statement_id": 0}]}
    body = gzip.compress(b"mem,host=web1 used_percent=41.5 1700000000000000000\n")
    written = httpx.post(f"{shared_server.url}/write", params={"db": "telegraf", "rp": "autogen"},
                         headers={**headers, "Content-Encoding": "gzip"}, content=body)
    assert written.status_code == 204, written.text
    assert shared_server.rows("SELECT used_percent FROM mem", db="telegraf") == [
        {"used_percent": 41.5}]
