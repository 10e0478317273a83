"""Malformed requests get a 4xx with a message, never a 5xx, and change nothing."""

from __future__ import annotations

import gzip

import httpx
import pytest


@pytest.mark.parametrize("params, body, status, needle", [
    ({}, b"m v=1", 400, "'db' is missing"),
    ({"db": "test"}, b"", 400, "no lines"),
    ({"db": "test"}, b"\n# only a comment\n", 400, "no lines"),
    ({"db": "test", "precision": "hours"}, b"m v=1", 400, "invalid precision"),
    ({"db": "test", "accept_partial": "maybe"}, b"m v=1", 400, "accept_partial"),
    ({"db": "bad name!"}, b"m v=1", 400, "invalid database name"),
    ({"db": "_hidden"}, b"m v=1", 400, "invalid database name"),
    ({"db": "test"}, b"m v=1\xff\xfe", 400, "UTF-8"),
])
def test_bad_write_requests(server, params, body, status, needle):
    response = httpx.post(f"{server.url}/api/v3/write_lp", params=params, content=body)
    assert response.status_code == status, response.text
    assert needle in response.text


def test_bad_gzip(server):
    response = httpx.post(f"{server.url}/api/v3/write_lp", params={"db": "test"},
                          content=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]


def test_unsupported_encoding(server):
    response = httpx.post(f"{server.url}/api/v3/write_lp", params={"db": "test"},
                          content=b"m v=1", headers={"Content-Encoding": "br"})
    assert response.status_code == 400


def test_oversize_body_and_gzip_bomb(make_server):
    server = make_server("--max-http-request-size", "1000")
    big = b"m v=1 1\n" * 200
    response = server.write(big)
    assert response.status_code == 413
    assert "max-http-request-size" in response.json()["error"]
    bomb = gzip.compress(b"m v=1 1\n" * 1_000_000)  # 8 MB inflated, ~30 KB sent
    response = httpx.post(f"{server.url}/api/v3/write_lp", params={"db": "test"}, content=bomb,
                          headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert server.write(b"m v=1 1").status_code == 204


def test_unknown_database_query_is_404(server):
    response = server.query("SELECT 1", db="nope")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


def test_bad_sql_is_400_with_datafusion_message(server):
    server.write("m v=1 1")
    response = server.query("SELEC nonsense")
    assert response.status_code == 400
    assert "SQL error" in response.json()["error"] or "Expected" in response.json()["error"]
    response = server.query("SELECT missing_column FROM m")
    assert response.status_code == 400
    assert "missing_column" in response.json()["error"]


@pytest.mark.parametrize("body", [b"{", b"[]", b"\"q\"", b"", b"{\"db\": 1, \"q\": \"x\"}",
                                  b"{\"db\": \"test\"}", b"{\"db\":\"test\",\"q\":\"SELECT 1\","
                                  b"\"format\":\"xml\"}",
                                  b"{\"db\":\"test\",\"q\":\"SELECT $a\",\"params\":[1]}"])
def test_bad_query_bodies(server, body):
    server.write("m v=1 1")
    response = httpx.post(f"{server.url}/api/v3/query_sql", content=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]


def test_bad_configure_bodies(server):
    url = f"{server.url}/api/v3/configure"
    assert httpx.post(f"{url}/database", content=b"nope").status_code == 400
    assert httpx.post(f"{url}/database", json={"db": "a b"}).status_code == 400
    assert httpx.post(f"{url}/database", json={"db": "ok", "retention_period": "soon"}
                      ).status_code == 400
    # as upstream: creating a table creates its database
    assert httpx.post(f"{url}/table", json={"db": "missing", "table": "t"}).status_code == 200
    httpx.post(f"{url}/database", json={"db": "ok2"})
    response = httpx.post(f"{url}/table", json={"db": "ok2", "table": "t",
                                                "fields": [{"name": "f", "type": "complex"}]})
    assert response.status_code == 400 and "complex" in response.text
    assert httpx.delete(f"{url}/database").status_code == 400
    assert httpx.delete(f"{url}/database", params={"db": "never"}).status_code == 404


def test_unknown_route_is_json_404(server):
    response = httpx.get(f"{server.url}/api/v3/nothing_here")
    assert response.status_code == 404
