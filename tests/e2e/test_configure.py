"""Databases and tables under /api/v3/configure, plus /health and /ping."""

from __future__ import annotations

import httpx


def test_database_lifecycle(server):
    client = server.client()
    assert client.post("/api/v3/configure/database", json={"db": "alpha"}).status_code == 200
    assert client.post("/api/v3/configure/database",
                       json={"db": "beta", "retention_period": "30d"}).status_code == 200
    again = client.post("/api/v3/configure/database", json={"db": "alpha"})
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    listed = client.get("/api/v3/configure/database", params={"format": "json"}).json()
    assert {"iox::database": "alpha"} in listed and {"iox::database": "beta"} in listed
    retention = server.rows("SELECT database_name, retention_period_ns FROM system.databases "
                            "WHERE database_name = 'beta'", db="alpha")
    assert retention == [{"database_name": "beta", "retention_period_ns": 30 * 86400 * 10**9}]
    assert client.delete("/api/v3/configure/database", params={"db": "alpha"}).status_code == 200
    listed = client.get("/api/v3/configure/database", params={"format": "json"}).json()
    assert {"iox::database": "alpha"} not in listed
    assert server.query("SELECT 1", db="alpha").status_code == 404
    refused = server.write("m v=1 1", db="alpha")
    assert refused.status_code == 400 and "deleted" in refused.json()["error"]


def test_database_list_formats(server):
    server.write("m v=1 1", db="fmtdb")
    csv = server.client().get("/api/v3/configure/database", params={"format": "csv"}).text
    assert csv.splitlines()[0] == "iox::database" and "fmtdb" in csv


def test_table_lifecycle(server):
    client = server.client()
    client.post("/api/v3/configure/database", json={"db": "tdb"})
    created = client.post("/api/v3/configure/table", json={
        "db": "tdb", "table": "sensors", "tags": ["room", "floor"],
        "fields": [{"name": "temp", "type": "float64"}, {"name": "on", "type": "bool"}]})
    assert created.status_code == 200
    dup = client.post("/api/v3/configure/table", json={"db": "tdb", "table": "sensors"})
    assert dup.status_code == 409
    assert server.write("sensors,room=k,floor=1 temp=20.5,on=t 1", db="tdb").status_code == 204
    assert server.rows("SELECT series_key FROM system.tables", db="tdb") == [
        {"series_key": "room,floor"}]
    assert client.delete("/api/v3/configure/table",
                         params={"db": "tdb", "table": "sensors"}).status_code == 200
    assert server.query("SELECT * FROM sensors", db="tdb").status_code == 400
    assert client.delete("/api/v3/configure/table",
                         params={"db": "tdb", "table": "sensors"}).status_code == 404


def test_tables_declared_through_the_api_keep_the_column_limit(server):
    """As writes are held to it: 500 columns by default, `time` included."""
    client = server.client()
    fields = [{"name": f"f{i}", "type": "int64"} for i in range(499)]
    assert client.post("/api/v3/configure/table", json={
        "db": "wide", "table": "ok", "fields": fields}).status_code == 200
    too_wide = client.post("/api/v3/configure/table", json={
        "db": "wide", "table": "no", "tags": ["t"], "fields": fields})
    assert too_wide.status_code == 400
    assert "501 columns, more than the limit of 500" in too_wide.json()["error"]
    more = client.patch("/api/v3/configure/table", json={
        "db": "wide", "table": "ok", "fields": [{"name": "extra", "type": "int64"}]})
    assert more.status_code == 400 and "limit of 500" in more.json()["error"]
    # columns it has already are no new ones
    same = client.patch("/api/v3/configure/table", json={
        "db": "wide", "table": "ok", "fields": fields[:3]})
    assert same.status_code == 200


def test_health_and_ping(server):
    health = httpx.get(f"{server.url}/health")
    assert health.status_code == 200 and health.text == "OK"
    for method in ("GET", "POST"):
        ping = httpx.request(method, f"{server.url}/ping")
        assert ping.status_code == 200
        assert ping.json()["version"]
