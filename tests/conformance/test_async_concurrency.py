"""Upstream `influxdb3/tests/server/async_concurrency.rs`: `--async-trigger-concurrency-limit`
bounds the concurrent runs of asynchronous request triggers; without it, more than eight run
at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conformance.conftest import cli

LIMIT_MARKER_PLUGIN = '''
import time

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    my_id = query_parameters.get("id")
    peer_id = query_parameters.get("peer")

    line = LineBuilder("limit_markers").tag("request_id", my_id).int64_field("v", 1)
    influxdb3_local.write_sync(line, False)

    for _ in range(20):
        result = influxdb3_local.query(
            f"SELECT * FROM limit_markers WHERE request_id = '{peer_id}'")
        if len(result) > 0:
            return {"status": "ok", "saw_peer": True}
        time.sleep(0.1)

    return {"status": "timeout", "saw_peer": False}
'''

UNLIMITED_PLUGIN = '''
import time

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    my_id = query_parameters.get("id")

    line = LineBuilder("unlimited_markers").tag("request_id", my_id).int64_field("v", 1)
    influxdb3_local.write_sync(line, False)

    for _ in range(50):
        result = influxdb3_local.query("SELECT request_id FROM unlimited_markers")
        if len(result) >= 10:
            return {"status": "ok", "saw_all": True}
        time.sleep(0.2)

    return {"status": "timeout", "saw_all": False}
'''


def _async_trigger(server, db: str, name: str, code: str, path: str) -> None:
    (server.plugin_dir / "plugin.py").write_text(code)
    result = cli(server, "create", "database", db)
    assert result.returncode == 0, result.stderr
    result = cli(server, "create", "trigger", "--database", db, "--path", "plugin.py",
                 "--trigger-spec", f"request:{path}", "--run-asynchronous", name)
    assert result.returncode == 0, result.stderr
    assert f"Trigger {name} created successfully" in result.stdout


def _get_all(server, path: str, params: list[dict]) -> list[dict]:
    def get(p: dict) -> dict:
        response = httpx.get(f"{server.url}/api/v3/engine/{path}", params=p, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(len(params)) as pool:
        return list(pool.map(get, params))


def test_async_concurrency_test_async_trigger_concurrency_limit_serializes_requests(
        make_module_server):
    server = make_module_server("--async-trigger-concurrency-limit", "1")
    _async_trigger(server, "limit_test_db", "limit_trigger", LIMIT_MARKER_PLUGIN, "limited")
    bodies = _get_all(server, "limited", [{"id": "1", "peer": "2"}, {"id": "2", "peer": "1"}])
    assert sum(body["saw_peer"] is True for body in bodies) == 1, bodies


def test_async_concurrency_test_async_trigger_unlimited_exceeds_previous_cap(
        make_module_server):
    server = make_module_server()
    _async_trigger(server, "unlimited_test_db", "unlimited_trigger", UNLIMITED_PLUGIN,
                   "unlimited")
    bodies = _get_all(server, "unlimited", [{"id": str(i)} for i in range(1, 11)])
    assert all(body["saw_all"] is True for body in bodies), bodies
