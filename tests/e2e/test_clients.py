"""The official client libraries write to timewell unchanged (Flight queries: a later issue)."""

from __future__ import annotations

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
