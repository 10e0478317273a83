"""timewell's own endpoints made for the web console (and scripts): `GET /api/v3/server`, and
running a schedule trigger once, now, for real."""

from __future__ import annotations

import concurrent.futures
import datetime as dt

import pytest

from tests.e2e.test_engine import TRIGGER_URL, Engine

RUN_URL = f"{TRIGGER_URL}/run"

COUNTER = """
def process_scheduled_call(influxdb3_local, call_time, args):
    count = influxdb3_local.cache.get("count", default=0) + 1
    influxdb3_local.cache.put("count", count)
    influxdb3_local.info("run", count, "with", args["who"])
    influxdb3_local.write(LineBuilder("runs").tag("who", args["who"]).int64_field("n", count))
"""


@pytest.fixture
def engine(make_server, tmp_path) -> Engine:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    return Engine(make_server("--plugin-dir", str(plugin_dir)), plugin_dir)


def test_server_info(make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    server = make_server("--plugin-dir", str(plugin_dir), "--node-id", "node7",
                         "--package-manager", "pip")
    response = server.client().get("/api/v3/server")
    assert response.status_code == 200, response.text
    info = response.json()
    started = dt.datetime.fromisoformat(info.pop("started_at").replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - started).total_seconds()) < 120
    assert 0 <= info.pop("uptime_s") < 120
    assert info.pop("version") == server.client().get("/ping").json()["version"]
    assert info == {
        "revision": "timewell", "node_id": "node7",
        "object_store": {"kind": "file", "location": f"file:{server.data_dir}"},
        "data_dir": str(server.data_dir), "plugin_dir": str(plugin_dir.resolve()),
        "package_manager": "pip", "auth": False}


def test_run_a_schedule_trigger_now_counts_in_its_stats_and_uses_its_cache(engine: Engine):
    engine.plugin("counter.py", COUNTER)
    assert engine.create("hourly", "every:1h", "counter.py", args={"who": "me"}).status_code == 200
    for expected in (1, 2):
        response = engine.http.post(RUN_URL, params={"db": "test", "trigger_name": "hourly"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["trigger_name"] == "hourly" and body["error"] is None
        assert body["call_time"].endswith("Z")
        assert engine.table_rows("SELECT max(n) AS n FROM runs")[0]["n"] == expected
    assert engine.stats("hourly")["runs"] == 2
    assert any("run 2 with me" in line for line in engine.logs("hourly"))
    # the body names the trigger as well as the query string does
    assert engine.http.post(RUN_URL, json={"db": "test", "trigger_name": "hourly"}).json()[
        "error"] is None


def test_run_now_reports_a_failing_run(engine: Engine):
    engine.plugin("bad.py", """
def process_scheduled_call(influxdb3_local, call_time, args):
    raise RuntimeError("boom")
""")
    engine.create("bad", "every:1h", "bad.py")
    response = engine.http.post(RUN_URL, params={"db": "test", "trigger_name": "bad"})
    assert response.status_code == 200, response.text
    assert "boom" in response.json()["error"]
    assert engine.stats("bad")["errors"] == 1


def test_run_now_refusals_say_what_to_do(engine: Engine):
    engine.plugin("counter.py", COUNTER)
    engine.create("off", "every:1h", "counter.py", args={"who": "x"}, disabled=True)
    engine.plugin("req.py", """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    return {}
""")
    engine.create("req", "request:req", "req.py")
    cases = [
        ({"db": "test", "trigger_name": "off"}, 400, "is disabled: enable it first"),
        ({"db": "test", "trigger_name": "req"}, 400, "only schedule triggers"),
        ({"db": "test", "trigger_name": "nope"}, 404, "nope"),
        ({"db": "nodb", "trigger_name": "off"}, 404, "nodb"),
        ({"db": "test"}, 400, "trigger_name=<name>"),
    ]
    for params, status, words in cases:
        response = engine.http.post(RUN_URL, params=params)
        assert response.status_code == status, (params, response.text)
        assert words in response.json()["error"], (params, response.text)
    assert engine.stats("off").get("runs", 0) == 0


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_run_now_waits_for_the_run_in_progress_without_run_async(make_server, tmp_path,
                                                                 isolation):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    engine = Engine(make_server("--plugin-dir", str(plugin_dir), "--plugin-isolation",
                                isolation), plugin_dir)
    engine.plugin("slow.py", """
import time

def process_scheduled_call(influxdb3_local, call_time, args):
    influxdb3_local.info("begin")
    time.sleep(0.5)
    influxdb3_local.info("end")
""")
    engine.create("slow", "every:1h", "slow.py")
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: engine.http.post(
            RUN_URL, params={"db": "test", "trigger_name": "slow"}), range(3)))
    assert all(a.status_code == 200 and a.json()["error"] is None for a in answers)
    lines = [line for line in engine.logs("slow") if line.endswith(("begin", "end"))]
    assert lines == ["INFO: begin", "INFO: end"] * 3, lines
