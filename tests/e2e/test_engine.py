"""The processing engine on a real server: every trigger kind, the plugin API, errors."""

from __future__ import annotations

import json
import signal
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_for

TRIGGER_URL = "/api/v3/configure/processing_engine_trigger"


class Engine:
    """A server with a plugin directory, and helpers to drive triggers."""

    def __init__(self, server, plugin_dir: Path) -> None:
        self.server = server
        self.plugin_dir = plugin_dir
        self.http = server.client()

    def plugin(self, name: str, source: str) -> str:
        path = self.plugin_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return name

    def create(self, name: str, spec: str, plugin: str, db: str = "test", args=None,
               run_async: bool = False, error_behavior: str = "log",
               disabled: bool = False) -> httpx.Response:
        self.ensure_db(db)
        return self.http.post(TRIGGER_URL, json={
            "db": db, "plugin_filename": plugin, "trigger_name": name,
            "trigger_specification": spec, "trigger_arguments": args, "disabled": disabled,
            "trigger_settings": {"run_async": run_async, "error_behavior": error_behavior}})

    def ensure_db(self, db: str) -> None:
        self.http.post("/api/v3/configure/database", json={"db": db})

    def logs(self, trigger: str, db: str = "test") -> list[str]:
        rows = self.server.rows("SELECT log_level, log_text FROM system.processing_engine_logs "
                                f"WHERE trigger_name = '{trigger}' ORDER BY event_time", db=db)
        return [f"{r['log_level']}: {r['log_text']}" for r in rows]

    def stats(self, trigger: str, db: str = "test") -> dict:
        rows = self.server.rows("SELECT * FROM system.processing_engine_trigger_stats "
                                f"WHERE trigger_name = '{trigger}'", db=db)
        return rows[0] if rows else {}

    def table_rows(self, sql: str, db: str = "test") -> list[dict]:
        response = self.server.query(sql, db=db)
        return response.json() if response.status_code == 200 else []


@pytest.fixture
def engine(make_server, tmp_path) -> Engine:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    server = make_server("--plugin-dir", str(plugin_dir), "--plugin-timeout", "2s")
    return Engine(server, plugin_dir)


RECORDER = """
import json

def process_writes(influxdb3_local, table_batches, args):
    line = LineBuilder("calls")
    line.string_field("batches", json.dumps(table_batches))
    line.string_field("args", json.dumps(args))
    influxdb3_local.write(line)
"""


def recorded_calls(engine: Engine, db: str = "test") -> list[dict]:
    rows = engine.table_rows("SELECT batches, args FROM calls ORDER BY time", db)
    return [{"batches": json.loads(r["batches"]), "args": json.loads(r["args"])} for r in rows]


def test_table_trigger_gets_the_written_rows(engine):
    engine.plugin("rec.py", RECORDER)
    assert engine.create("rec", "table:cpu", "rec.py").status_code == 200
    lines = 'cpu,host=a usage=1.5,n=2i,ok=t,s="x",u=7u 1000\ncpu,host=b usage=2.5 2000\nmem f=1 3'
    assert engine.server.write(lines, precision="ns").status_code == 204
    calls = wait_for(lambda: recorded_calls(engine))
    assert calls[0]["args"] is None
    assert calls[0]["batches"] == [{"table_name": "cpu", "rows": [
        {"host": "a", "usage": 1.5, "n": 2, "ok": True, "s": "x", "u": 7, "time": 1000},
        {"host": "b", "usage": 2.5, "time": 2000}]}]


def test_table_trigger_not_called_for_other_tables(engine):
    engine.plugin("rec.py", RECORDER)
    engine.create("rec", "table:cpu", "rec.py")
    engine.server.write("mem f=1 1")
    engine.server.write("disk f=1 1")
    time.sleep(0.3)
    assert engine.stats("rec").get("runs", 0) == 0


def test_all_tables_trigger_with_arguments(engine):
    engine.plugin("rec.py", RECORDER)
    engine.create("rec", "all_tables", "rec.py", args={"k": "v", "n": "1"})
    engine.server.write("a x=1 1\nb y=2i 2", precision="ns")
    calls = wait_for(lambda: recorded_calls(engine))
    assert calls[0]["args"] == {"k": "v", "n": "1"}
    tables = sorted(b["table_name"] for b in calls[0]["batches"])
    assert tables == ["a", "b"]
    # the plugin's own output table triggers it again, through the normal write path
    wait_for(lambda: any(b["table_name"] == "calls" for c in recorded_calls(engine)
                         for b in c["batches"]))


def test_every_schedule_fires_with_whole_second_call_times(engine):
    engine.plugin("tick.py", """
        def process_scheduled_call(influxdb3_local, call_time, args):
            assert call_time.tzinfo is None and call_time.microsecond == 0
            line = LineBuilder("ticks")
            line.string_field("at", call_time.isoformat())
            line.string_field("args", repr(args))
            influxdb3_local.write(line)
    """)
    assert engine.create("tick", "every:1s", "tick.py", args={"a": "b"}).status_code == 200
    rows = wait_for(lambda: len(engine.table_rows("SELECT at FROM ticks")) >= 2
                    and engine.table_rows("SELECT at, args FROM ticks ORDER BY at"))
    assert rows[0]["args"] == "{'a': 'b'}"
    stamps = [r["at"] for r in rows]
    assert all(len(s) == 19 for s in stamps)  # YYYY-MM-DDTHH:MM:SS, whole seconds


def test_cron_schedule_with_seconds(engine):
    engine.plugin("cron.py", """
        def process_scheduled_call(influxdb3_local, call_time, args):
            influxdb3_local.info("fired", call_time.isoformat())
    """)
    assert engine.create("c", "cron:*/1 * * * * *", "cron.py").status_code == 200
    wait_for(lambda: sum("fired" in line for line in engine.logs("c")) >= 2)


def test_bad_trigger_requests(engine):
    engine.plugin("rec.py", RECORDER)
    engine.plugin("sched.py", "def process_scheduled_call(a, b, c):\n    pass\n")
    assert engine.create("x", "every:0s", "sched.py").status_code == 400
    assert engine.create("x", "every:500us", "sched.py").status_code == 400
    assert engine.create("x", "cron:not a cron", "sched.py").status_code == 400
    assert engine.create("x", "table:", "rec.py").status_code == 400
    assert engine.create("x", "sometimes", "rec.py").status_code == 400
    assert engine.create("x", "table:cpu", "missing.py").status_code == 400
    assert engine.create("x", "table:cpu", "sched.py").status_code == 400  # no process_writes
    assert engine.create("x", "table:cpu", "../outside.py").status_code == 400
    assert engine.create("x", "table:cpu", "/etc/passwd").status_code == 400
    (engine.plugin_dir / "link.py").symlink_to("/etc/hostname")
    assert engine.create("x", "table:cpu", "link.py").status_code == 400
    assert engine.create("x", "table:cpu", "rec.py", error_behavior="explode").status_code == 400
    response = engine.http.post(TRIGGER_URL, json={
        "db": "nodb", "plugin_filename": "rec.py", "trigger_name": "x",
        "trigger_specification": "table:cpu"})
    assert response.status_code == 404
    assert engine.create("dup", "table:cpu", "rec.py").status_code == 200
    duplicate = engine.create("dup", "table:cpu", "rec.py")
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["error"]


def test_request_trigger_arguments_and_responses(engine):
    engine.plugin("req.py", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            kind = query_parameters.get("kind")
            if kind == "text":
                return "<b>hi</b>"
            if kind == "tuple":
                return {"created": True}, 201, {"X-Extra": "yes"}
            if kind == "iter":
                return (part for part in ["a", b"b", "c"])
            if kind == "boom":
                raise RuntimeError("kaboom")
            if kind == "weird":
                return 42
            return {"query": query_parameters, "headers": request_headers,
                    "body": request_body.decode(), "body_type": type(request_body).__name__,
                    "args": args}
    """)
    assert engine.create("req", "request:echo", "req.py", args={"x": "1"}).status_code == 200
    url = "/api/v3/engine/echo"
    reply = engine.http.post(url, params={"a": "1"}, content=b"payload",
                             headers={"Authorization": "Bearer secret", "X-Custom": "v"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["query"] == {"a": "1"} and body["body"] == "payload"
    assert body["body_type"] == "bytes" and body["args"] == {"x": "1"}
    assert body["headers"]["x-custom"] == "v" and "authorization" not in body["headers"]
    empty = engine.http.get(url).json()
    assert empty["body"] == ""
    text = engine.http.get(url, params={"kind": "text"})
    assert text.text == "<b>hi</b>" and text.headers["content-type"].startswith("text/html")
    created = engine.http.get(url, params={"kind": "tuple"})
    assert created.status_code == 201 and created.headers["x-extra"] == "yes"
    assert engine.http.get(url, params={"kind": "iter"}).text == "abc"
    boom = engine.http.get(url, params={"kind": "boom"})
    assert boom.status_code == 500 and "kaboom" in boom.json()["error"]
    weird = engine.http.get(url, params={"kind": "weird"})
    assert weird.status_code == 500 and "unsupported return type" in weird.json()["error"]
    assert engine.http.get("/api/v3/engine/nothing").status_code == 404
    assert engine.http.post(f"{TRIGGER_URL}/disable",
                            params={"db": "test", "trigger_name": "req"}).status_code == 200
    assert engine.http.get(url).status_code == 404


def test_request_plugin_calls_its_own_server(engine):
    port = engine.server.port
    engine.plugin("inner.py", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            return {"inner": True}
    """)
    engine.plugin("outer.py", f"""
        import urllib.request, json

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            with urllib.request.urlopen("http://127.0.0.1:{port}/api/v3/engine/inner") as r:
                return {{"outer": json.loads(r.read())}}
    """)
    engine.create("inner", "request:inner", "inner.py")
    engine.create("outer", "request:outer", "outer.py")
    assert engine.http.get("/api/v3/engine/outer").json() == {"outer": {"inner": True}}


def test_plugin_api_writes_queries_and_line_builder(engine):
    engine.plugin("api.py", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            line = LineBuilder("out").tag("k", "v").int64_field("n", 1).time_ns(5)
            influxdb3_local.write_sync(line)
            influxdb3_local.write_sync_to_db("other", LineBuilder("o").float64_field("f", 2.0))
            influxdb3_local.write_to_db("later_db", LineBuilder("l").bool_field("b", True))
            rows = influxdb3_local.query("SELECT k, n, time, missing FROM out WHERE n = $n",
                                         {"n": 1})
            table = influxdb3_local.query_arrow("SELECT count(*) AS c FROM o",
                                                database="other")
            try:
                influxdb3_local.write_to_db("_internal", LineBuilder("x").int64_field("y", 1))
                refused = None
            except Exception as e:
                refused = str(e)
            try:
                influxdb3_local.query("SELECT nope FROM out")
                failed = None
            except Exception as e:
                failed = type(e).__name__
            influxdb3_local.warn("warned", 1, None)
            return {"rows": rows, "arrow_rows": table.num_rows, "refused": refused,
                    "failed": failed}
    """)
    engine.server.write("out,k=v n=0i,missing=1 1", precision="ns")  # makes column `missing`
    engine.create("api", "request:api", "api.py")
    body = engine.http.get("/api/v3/engine/api").json()
    assert body["rows"] == [{"k": "v", "n": 1, "time": 5, "missing": None}]
    assert body["arrow_rows"] == 1
    assert "_internal" in body["refused"]
    assert body["failed"] == "QueryError"
    assert any(line == "WARN: warned 1 None" for line in engine.logs("api"))
    wait_for(lambda: engine.table_rows("SELECT b FROM l", db="later_db") == [{"b": True}])


def test_cache_keeps_state_between_runs_and_restarts(engine):
    engine.plugin("count.py", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            cache = influxdb3_local.cache
            n = cache.get("n", default=0) + 1
            cache.put("n", n)
            shared = cache.get("shared", default=0, use_global=True) + 1
            cache.put("shared", shared, use_global=True)
            cache.put("short", "x", ttl=0.2)
            cache.put("unpicklable", lambda: None)
            return {"n": n, "shared": shared}
    """)
    engine.create("count", "request:count", "count.py")
    assert engine.http.get("/api/v3/engine/count").json() == {"n": 1, "shared": 1}
    assert engine.http.get("/api/v3/engine/count").json() == {"n": 2, "shared": 2}
    assert engine.server.stop(signal.SIGTERM) == 0
    engine.server.start()
    engine.http = engine.server.client()
    assert engine.http.get("/api/v3/engine/count").json() == {"n": 3, "shared": 3}
    assert "cannot be pickled" in engine.server.log()


def test_error_behavior_log_keeps_going(engine):
    engine.plugin("bad.py", """
        def process_writes(influxdb3_local, table_batches, args):
            raise ValueError("bad data " + table_batches[0]["table_name"])
    """)
    engine.create("bad", "table:cpu", "bad.py")
    engine.server.write("cpu v=1 1")
    engine.server.write("cpu v=2 2")
    stats = wait_for(lambda: engine.stats("bad").get("errors", 0) >= 2 and engine.stats("bad"))
    assert "ValueError: bad data cpu" in stats["last_error"]
    assert any("ERROR: ValueError: bad data cpu" in line for line in engine.logs("bad"))
    assert engine.server.rows("SELECT count(*) AS n FROM cpu") == [{"n": 2}]  # writes kept


def test_error_behavior_retry_is_bounded(engine):
    engine.plugin("flaky.py", """
        def process_writes(influxdb3_local, table_batches, args):
            n = influxdb3_local.cache.get("n", default=0) + 1
            influxdb3_local.cache.put("n", n)
            if n < 3:
                raise RuntimeError(f"attempt {n} fails")
            influxdb3_local.info(f"succeeded on attempt {n}")
    """)
    engine.create("flaky", "table:cpu", "flaky.py", error_behavior="retry")
    engine.server.write("cpu v=1 1")
    wait_for(lambda: any("succeeded on attempt 3" in line for line in engine.logs("flaky")))
    assert engine.stats("flaky")["retries"] == 2


def test_error_behavior_disable_persists(engine):
    engine.plugin("fatal.py", """
        def process_writes(influxdb3_local, table_batches, args):
            raise RuntimeError("fatal")
    """)
    engine.create("fatal", "table:cpu", "fatal.py", error_behavior="disable")
    engine.server.write("cpu v=1 1")
    query = "SELECT disabled FROM system.processing_engine_triggers WHERE trigger_name = 'fatal'"
    wait_for(lambda: engine.server.rows(query) == [{"disabled": True}])
    engine.server.write("cpu v=2 2")
    time.sleep(0.3)
    assert engine.stats("fatal")["runs"] == 1
    engine.server.kill()
    engine.server.start()
    assert engine.server.rows(query) == [{"disabled": True}]


def test_broken_plugins_never_hurt_the_server(engine):
    engine.plugin("loop.py", """
        def process_writes(influxdb3_local, table_batches, args):
            while True:
                pass
    """)
    engine.plugin("fine.py", "def process_writes(influxdb3_local, table_batches, args):\n"
                             "    pass\n")
    engine.create("loop", "table:cpu", "loop.py")
    engine.create("fine", "table:cpu", "fine.py")
    engine.server.write("cpu v=1 1")
    stats = wait_for(lambda: engine.stats("loop").get("errors") and engine.stats("loop"))
    assert "time limit" in stats["last_error"]
    # the plugin file breaks after the trigger was created: logged per run
    (engine.plugin_dir / "fine.py").write_text("import nonexistent_module_xyz\n")
    engine.server.write("cpu v=2 2")
    wait_for(lambda: engine.stats("fine").get("errors"))
    assert "nonexistent_module_xyz" in engine.stats("fine")["last_error"]
    assert engine.server.write("cpu v=3 3").status_code == 204
    assert engine.server.rows("SELECT count(*) AS n FROM cpu") == [{"n": 3}]


def test_edits_are_picked_up_without_restart(engine):
    engine.plugin("v.py", "def process_request(a, q, h, b, args):\n    return {'v': 1}\n")
    engine.create("v", "request:v", "v.py")
    assert engine.http.get("/api/v3/engine/v").json() == {"v": 1}
    time.sleep(0.01)
    engine.plugin("v.py", "def process_request(a, q, h, b, args):\n    return {'v': 2, 'x': 0}\n")
    assert engine.http.get("/api/v3/engine/v").json() == {"v": 2, "x": 0}


def test_package_plugin_with_sibling_module(engine):
    engine.plugin("pkg/__init__.py", """
        from .helpers import double

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            return {"double": double(int(query_parameters["n"]))}
    """)
    engine.plugin("pkg/helpers.py", "def double(n):\n    return 2 * n\n")
    assert engine.create("pkg", "request:pkg", "pkg").status_code == 200
    assert engine.http.get("/api/v3/engine/pkg", params={"n": "21"}).json() == {"double": 42}
    time.sleep(0.01)
    engine.plugin("pkg/helpers.py", "def double(n):\n    return 3 * n\n")
    assert engine.http.get("/api/v3/engine/pkg", params={"n": "2"}).json() == {"double": 6}


def test_enable_disable_delete(engine):
    engine.plugin("rec.py", RECORDER)
    engine.create("t", "table:cpu", "rec.py", disabled=True)
    target = {"db": "test", "trigger_name": "t"}
    engine.server.write("cpu v=1 1")
    time.sleep(0.2)
    assert engine.stats("t").get("runs", 0) == 0
    assert engine.http.post(f"{TRIGGER_URL}/enable", params=target).status_code == 200
    engine.server.write("cpu v=2 2")
    wait_for(lambda: engine.stats("t").get("runs"))
    refused = engine.http.delete(TRIGGER_URL, params=target)
    assert refused.status_code == 400 and "force" in refused.json()["error"]
    assert engine.http.delete(TRIGGER_URL, params={**target, "force": "true"}).status_code == 200
    assert engine.server.rows("SELECT * FROM system.processing_engine_triggers") == []
    assert engine.http.post(f"{TRIGGER_URL}/enable", params=target).status_code == 404


def test_system_tables(engine):
    engine.plugin("rec.py", RECORDER)
    engine.create("sys", "table:cpu", "rec.py", args={"a": "1", "b": "2"}, run_async=True,
                  error_behavior="retry")
    triggers = engine.server.rows("SELECT trigger_name, plugin_filename, trigger_specification,"
                                  " disabled, error_behavior, run_async "
                                  "FROM system.processing_engine_triggers")
    assert triggers == [{"trigger_name": "sys", "plugin_filename": "rec.py",
                         "trigger_specification": "table:cpu", "disabled": False,
                         "error_behavior": "retry", "run_async": True}]
    arguments = engine.server.rows("SELECT argument_key, argument_value FROM "
                                   "system.processing_engine_trigger_arguments ORDER BY 1")
    assert arguments == [{"argument_key": "a", "argument_value": "1"},
                         {"argument_key": "b", "argument_value": "2"}]
    engine.server.write("cpu v=1 1")
    wait_for(lambda: engine.stats("sys").get("runs"))
    logs = engine.logs("sys")
    assert logs[0] == "INFO: starting execution of wal plugin"
    assert logs[1].startswith("INFO: finished execution in ")
    stats = engine.stats("sys")
    assert stats["errors"] == 0 and stats["mean_duration_ms"] > 0
    engine.ensure_db("elsewhere")
    assert engine.server.rows("SELECT * FROM system.processing_engine_logs",
                              db="elsewhere") == []


def test_dry_runs_write_nothing(engine):
    engine.plugin("rec.py", RECORDER)
    engine.plugin("sched.py", """
        def process_scheduled_call(influxdb3_local, call_time, args):
            influxdb3_local.info("at", call_time.isoformat(), args)
            influxdb3_local.write(LineBuilder("s").int64_field("n", 1))
            influxdb3_local.write_sync(LineBuilder("s").int64_field("n", 2))
            influxdb3_local.write(LineBuilder("bad measurement").int64_field("n", 3)) \\
                if False else None
    """)
    engine.ensure_db("test")
    wal = engine.http.post("/api/v3/plugin_test/wal", json={
        "filename": "rec.py", "database": "test", "input_lp": "cpu,h=a v=1 1\ncpu v=oops 2",
        "input_arguments": {"k": "v"}})
    assert wal.status_code == 200
    result = wal.json()
    assert list(result["database_writes"]) == ["test"]
    assert result["database_writes"]["test"][0].startswith("calls ")
    assert any("line 2" in e for e in result["errors"])
    schedule = engine.http.post("/api/v3/plugin_test/schedule", json={
        "filename": "sched.py", "database": "test", "schedule": "*/5 * * * * *"})
    body = schedule.json()
    assert schedule.status_code == 200, body
    assert body["database_writes"] == {"test": ["s n=1i", "s n=2i"]}
    assert body["errors"] == [] and body["trigger_time"].endswith(("0", "5"))
    assert any(line.startswith("INFO: at ") for line in body["log_lines"])
    failing = engine.http.post("/api/v3/plugin_test/wal", json={
        "filename": "sched.py", "database": "test", "input_lp": "cpu v=1 1"})
    assert failing.status_code == 200 and "process_writes" in failing.json()["errors"][0]
    assert engine.server.query("SELECT * FROM calls").status_code == 400
    assert engine.server.query("SELECT * FROM s").status_code == 400


def test_deleting_a_database_stops_its_triggers(engine):
    engine.plugin("hi.py", "def process_request(a, q, h, b, args):\n    return {'hi': 1}\n")
    engine.create("hi", "request:hi", "hi.py", db="gone")
    assert engine.http.get("/api/v3/engine/hi").status_code == 200
    deleted = engine.http.delete("/api/v3/configure/database", params={"db": "gone"})
    assert deleted.status_code == 200
    assert engine.http.get("/api/v3/engine/hi").status_code == 404


def test_dry_run_input_is_nanoseconds(engine):
    engine.plugin("rec.py", RECORDER)
    engine.ensure_db("test")
    result = engine.http.post("/api/v3/plugin_test/wal", json={
        "filename": "rec.py", "database": "test", "input_lp": "cpu v=1 7"}).json()
    line = result["database_writes"]["test"][0]
    assert '\\"time\\": 7' in line or '"time": 7' in line.replace('\\"', '"')
