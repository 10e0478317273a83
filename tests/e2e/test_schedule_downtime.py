"""Schedule triggers across a restart: the fire times missed while the server was down are
run in order with their own call_time (missed_fires=catch_up) or skipped and counted (skip)."""

from __future__ import annotations

import time

from tests.e2e.test_engine import TRIGGER_URL, Engine
from tests.helpers import wait_for

FIRES = """
import datetime as dt

def process_scheduled_call(influxdb3_local, call_time, args):
    second = int(call_time.replace(tzinfo=dt.timezone.utc).timestamp())
    line = LineBuilder("fires")
    line.tag("trigger", args["name"])
    line.int64_field("second", second)
    line.time_ns(second * 1_000_000_000)
    influxdb3_local.write(line)
"""


def _seconds(engine: Engine, name: str) -> list[int]:
    rows = engine.table_rows(f"SELECT second FROM fires WHERE trigger = '{name}' "
                             "ORDER BY second")
    return [r["second"] for r in rows]


def _create(engine: Engine, name: str, missed_fires: str | None) -> None:
    settings = {"run_async": False, "error_behavior": "log"}
    if missed_fires is not None:
        settings["missed_fires"] = missed_fires
    response = engine.http.post(TRIGGER_URL, json={
        "db": "test", "plugin_filename": "fires.py", "trigger_name": name,
        "trigger_specification": "every:1s", "trigger_arguments": {"name": name},
        "trigger_settings": settings})
    assert response.status_code == 200, response.text


def test_catch_up_runs_missed_fires_in_order_and_skip_counts_them(make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    server = make_server("--plugin-dir", str(plugin_dir))
    engine = Engine(server, plugin_dir)
    engine.plugin("fires.py", FIRES)
    engine.ensure_db("test")
    _create(engine, "catchup", "catch_up")
    _create(engine, "skipper", None)
    bad = engine.http.post(TRIGGER_URL, json={
        "db": "test", "plugin_filename": "fires.py", "trigger_name": "bad",
        "trigger_specification": "every:1s", "trigger_settings": {"missed_fires": "later"}})
    assert bad.status_code == 400 and "missed_fires" in bad.text
    wait_for(lambda: len(_seconds(engine, "catchup")) >= 2 and len(_seconds(engine, "skipper")))
    server.stop()
    stopped_at = int(time.time())
    time.sleep(5)
    server.start()
    engine.http = server.client()
    restarted_at = int(time.time())
    wait_for(lambda: (s := _seconds(engine, "catchup")) and s[-1] > restarted_at, timeout=20)
    caught_up = _seconds(engine, "catchup")
    # every second from the first fire on, the ones the server was down for included
    assert caught_up == list(range(caught_up[0], caught_up[-1] + 1))
    assert caught_up[0] < stopped_at and restarted_at - stopped_at >= 5
    logs = engine.logs("catchup")
    assert any("missed_fires=catch_up" in line and "skipping 0" in line for line in logs)
    wait_for(lambda: _seconds(engine, "skipper")[-1] > restarted_at, timeout=10)
    skipped = _seconds(engine, "skipper")
    assert len(skipped) < skipped[-1] - skipped[0] + 1  # a gap where the server was down
    assert engine.stats("skipper")["skipped_fires"] >= 4
    assert engine.stats("catchup")["skipped_fires"] == 0
