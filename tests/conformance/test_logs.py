"""Upstream `influxdb3/tests/server/logs.rs`: a refused request is logged as
`Error while handling request` with `database=` (the `db` query parameter) and `client_ip=`
(the first `X-Forwarded-For` address, else `X-Real-IP`, else the peer)."""

from __future__ import annotations

import time

import pytest

from tests.conformance.conftest import api

LOGGED = "Error while handling request"


@pytest.fixture(scope="module")
def s(make_module_server):
    return make_module_server()


def _refused(server, query: str, body: str = "invalid line protocol !",
             count: int = 1, **headers: str) -> str:
    """POST `body` to /api/v3/write_lp`query`, `count` times, each refused; the error lines
    the server logged for them (waiting generously for the log to be written)."""
    before = len(server.log())
    for _ in range(count):
        response = api(server, "POST", f"/api/v3/write_lp{query}", content=body.encode(),
                       headers={"content-type": "text/plain", **headers})
        assert response.status_code >= 400, response.text
    deadline = time.monotonic() + 30
    while True:
        lines = [line for line in server.log()[before:].splitlines() if LOGGED in line]
        if len(lines) >= count or time.monotonic() > deadline:
            assert len(lines) == count, server.log()[before:]
            return "\n".join(lines)
        time.sleep(0.1)


def test_logs_test_error_logging_with_database(s):
    logs = _refused(s, "?db=test_db")
    assert "database=test_db" in logs


def test_logs_test_error_logging_with_client_ip(s):
    logs = _refused(s, "?db=test", **{"x-forwarded-for": "192.168.1.100"})
    assert "client_ip=192.168.1.100" in logs


def test_logs_test_error_logging_with_both_fields(s):
    logs = _refused(s, "?db=my_database", **{"x-real-ip": "10.0.0.50"})
    assert "database=my_database" in logs
    assert "client_ip=10.0.0.50" in logs


def test_logs_test_error_logging_without_optional_fields(s):
    logs = _refused(s, "", body="some data")
    assert "client_ip=127.0.0.1" in logs
    assert "database=" not in logs


def test_logs_test_client_ip_extraction_x_forwarded_for_multiple(s):
    logs = _refused(s, "?db=test", **{"x-forwarded-for": "192.168.1.100, 10.0.0.1, 172.16.0.1"})
    assert "client_ip=192.168.1.100" in logs
    assert "client_ip=10.0.0.1" not in logs
    assert "client_ip=172.16.0.1" not in logs


def test_logs_test_error_logging_with_socket_address_fallback(s):
    logs = _refused(s, "?db=test_db")
    assert "database=test_db" in logs
    assert "client_ip=127.0.0.1" in logs or "client_ip=::1" in logs


def test_logs_test_get_logs_with_last_n_lines(s):
    """Upstream checks its harness's log tail; what the server contributes is one error line
    per refused request, in order."""
    before = len(s.log())
    for i in range(10):
        response = api(s, "POST", f"/api/v3/write_lp?db=test_db{i}",
                       content=b"invalid line protocol")
        assert response.status_code >= 400
    deadline = time.monotonic() + 30
    while True:
        lines = [line for line in s.log()[before:].splitlines() if LOGGED in line]
        if len(lines) >= 10 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [f"database=test_db{i} " in line for i, line in enumerate(lines)] == [True] * 10
