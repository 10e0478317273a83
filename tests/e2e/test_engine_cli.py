"""The processing-engine CLI against a real server: `create|enable|disable|delete trigger`,
`show triggers`, `test wal_plugin|schedule_plugin`, and its errors."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from tests.conftest import ServerProcess
from tests.e2e.test_cli import timewell
from tests.e2e.test_engine import TRIGGER_URL, wait_for

COUNTER = """
def process_writes(influxdb3_local, table_batches, args):
    rows = sum(len(batch["rows"]) for batch in table_batches)
    influxdb3_local.info("saw", rows, "row(s) with", args)
"""

DRY = """
def process_writes(influxdb3_local, table_batches, args):
    for batch in table_batches:
        for row in batch["rows"]:
            line = LineBuilder("seen").tag("table", batch["table_name"])
            line.float64_field("v", row["v"] * float((args or {}).get("factor", "1")))
            influxdb3_local.write(line.time_ns(row["time"]))
    influxdb3_local.info("tables", ",".join(b["table_name"] for b in table_batches))


def process_scheduled_call(influxdb3_local, call_time, args):
    influxdb3_local.info("called at", call_time.isoformat())
    influxdb3_local.write_sync(LineBuilder("beat").string_field("at", call_time.isoformat()))
    if (args or {}).get("fail"):
        raise RuntimeError("asked to fail")
"""


class Cli:
    def __init__(self, server: ServerProcess, plugin_dir) -> None:
        self.server = server
        self.plugin_dir = plugin_dir
        self.env = {**os.environ, "TIMEWELL_HOST_URL": server.url}

    def __call__(self, *args: str):
        return timewell(self.env, *args)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fails(self, *args: str) -> str:
        """Run a command that must fail: its readable message (never a traceback)."""
        result = self(*args)
        assert result.returncode != 0, result.stdout
        assert "Traceback" not in result.stderr, result.stderr
        return result.stderr

    def database(self, name: str) -> str:
        """Setup goes over HTTP: each CLI run costs an interpreter start."""
        with self.server.client() as http:
            response = http.post("/api/v3/configure/database", json={"db": name})
        assert response.status_code == 200, response.text
        return name

    def trigger(self, db: str, name: str, spec: str, plugin: str, disabled: bool = False) -> None:
        with self.server.client() as http:
            response = http.post(TRIGGER_URL, json={
                "db": db, "trigger_name": name, "trigger_specification": spec,
                "plugin_filename": plugin, "disabled": disabled})
        assert response.status_code == 200, response.text

    def trigger_row(self, db: str, name: str) -> dict | None:
        rows = self.server.rows(
            "SELECT trigger_name, plugin_filename, trigger_specification, disabled, "
            "error_behavior, run_async FROM system.processing_engine_triggers "
            f"WHERE trigger_name = '{name}'", db=db)
        return rows[0] if rows else None

    def runs(self, db: str, name: str) -> int:
        rows = self.server.rows("SELECT runs FROM system.processing_engine_trigger_stats "
                                f"WHERE trigger_name = '{name}'", db=db)
        return rows[0]["runs"] if rows else 0


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    root = tmp_path_factory.mktemp("engine_cli")
    plugin_dir = root / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "counter.py").write_text(COUNTER)
    (plugin_dir / "dry.py").write_text(DRY)
    server = ServerProcess(root / "data", "--plugin-dir", str(plugin_dir)).start()
    yield Cli(server, plugin_dir)
    if server.process and server.process.poll() is None:
        server.stop(signal.SIGKILL)


def test_create_trigger_with_every_flag(cli):
    db = cli.database("flags")
    out = cli.ok("create", "trigger", "all_flags", "-d", db, "--trigger-spec", "table:cpu",
                 "--plugin-filename", "counter.py", "--trigger-arguments", "a=1, b = two,c=x=y",
                 "--disabled", "--run-asynchronous", "--error-behavior", "retry")
    assert out.strip() == "Trigger all_flags created successfully"
    assert cli.trigger_row(db, "all_flags") == {
        "trigger_name": "all_flags", "plugin_filename": "counter.py",
        "trigger_specification": "table:cpu", "disabled": True, "error_behavior": "retry",
        "run_async": True}
    arguments = cli.server.rows("SELECT argument_key, argument_value FROM "
                                "system.processing_engine_trigger_arguments ORDER BY 1", db=db)
    assert arguments == [{"argument_key": "a", "argument_value": "1"},
                         {"argument_key": "b", "argument_value": "two"},
                         {"argument_key": "c", "argument_value": "x=y"}]
    # the defaults: enabled, synchronous, log; the spec is stored in its canonical form
    cli.ok("create", "trigger", "defaults", "-d", db, "--trigger-spec", "every:90s",
           "--path", "dry.py")
    assert cli.trigger_row(db, "defaults") == {
        "trigger_name": "defaults", "plugin_filename": "dry.py",
        "trigger_specification": "every:1m30s", "disabled": False, "error_behavior": "log",
        "run_async": False}
    assert "already exists" in cli.fails("create", "trigger", "defaults", "-d", db,
                                         "--trigger-spec", "every:1m", "--path", "dry.py")


def test_enable_and_disable(cli):
    db = cli.database("switching")
    cli.ok("create", "trigger", "t", "-d", db, "--trigger-spec", "table:cpu",
           "--path", "counter.py", "--trigger-arguments", "k=v", "--disabled")
    cli.server.write("cpu v=1 1", db=db)
    time.sleep(0.2)
    assert cli.runs(db, "t") == 0
    assert cli.ok("enable", "trigger", "t", "-d", db).strip() == \
        "Trigger t enabled successfully"
    assert cli.trigger_row(db, "t")["disabled"] is False
    cli.server.write("cpu v=2 2\ncpu v=3 3", db=db)
    wait_for(lambda: cli.runs(db, "t") == 1)
    logs = cli.server.rows("SELECT log_text FROM system.processing_engine_logs "
                           "WHERE trigger_name = 't' ORDER BY event_time", db=db)
    assert "saw 2 row(s) with {'k': 'v'}" in [r["log_text"] for r in logs]
    assert cli.ok("disable", "trigger", "t", "-d", db).strip() == \
        "Trigger t disabled successfully"
    assert cli.trigger_row(db, "t")["disabled"] is True
    cli.server.write("cpu v=4 4", db=db)
    time.sleep(0.2)
    assert cli.runs(db, "t") == 1
    assert "trigger 'nope' not found in database 'switching'" in cli.fails(
        "enable", "trigger", "nope", "-d", db)


def test_run_a_schedule_trigger_now(cli):
    db = cli.database("running_now")
    cli.trigger(db, "hourly", "every:1h", "dry.py")
    out = cli.ok("run", "trigger", "hourly", "-d", db)
    assert re.fullmatch(r"Trigger hourly ran at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", out), out
    assert cli.runs(db, "hourly") == 1
    assert len(cli.server.rows("SELECT at FROM beat", db=db)) == 1
    cli.trigger(db, "off", "every:1h", "dry.py", disabled=True)
    assert "is disabled: enable it first" in cli.fails("run", "trigger", "off", "-d", db)


def test_delete_needs_force_while_enabled(cli):
    db = cli.database("deleting")
    cli.trigger(db, "on", "table:cpu", "counter.py")
    cli.trigger(db, "off", "table:cpu", "counter.py", disabled=True)
    refused = cli.fails("delete", "trigger", "on", "-d", db)
    assert "trigger 'on' is enabled" in refused and "force" in refused
    assert cli.trigger_row(db, "on") is not None
    assert cli.ok("delete", "trigger", "on", "-d", db, "--force").strip() == \
        "Trigger on deleted successfully"
    cli.ok("delete", "trigger", "off", "-d", db)  # a disabled trigger needs no --force
    assert cli.server.rows("SELECT * FROM system.processing_engine_triggers", db=db) == []
    assert "trigger 'on' not found" in cli.fails("delete", "trigger", "on", "-d", db,
                                                 "--force")


def test_show_triggers_table_and_json(cli):
    db = cli.database("listing")
    cli.trigger(db, "writes", "table:cpu", "counter.py")
    cli.trigger(db, "paused", "cron:0 0 9 * * MON-FRI", "dry.py", disabled=True)
    cli.server.write("cpu v=1 1", db=db)
    wait_for(lambda: cli.runs(db, "writes") == 1)
    pretty = cli.ok("show", "triggers", "-d", db)
    header = pretty.splitlines()[1]
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "trigger_name", "trigger_specification", "plugin_filename", "disabled",
        "error_behavior", "run_async", "runs", "errors", "last_error"]
    assert re.search(r"\| paused +\| cron:0 0 9 \* \* MON-FRI +\| dry\.py +\| true ", pretty)
    assert re.search(r"\| writes +\| table:cpu +\| counter\.py +\| false ", pretty)
    listed = json.loads(cli.ok("show", "triggers", "-d", db, "--format", "json"))
    assert listed == [
        {"trigger_name": "paused", "trigger_specification": "cron:0 0 9 * * MON-FRI",
         "plugin_filename": "dry.py", "disabled": True, "error_behavior": "log",
         "run_async": False},
        {"trigger_name": "writes", "trigger_specification": "table:cpu",
         "plugin_filename": "counter.py", "disabled": False, "error_behavior": "log",
         "run_async": False, "runs": 1, "errors": 0},
    ]
    assert json.loads(cli.ok("show", "triggers", "-d", cli.database("none"),
                             "--format", "json")) == []
    assert "database not found" in cli.fails("show", "triggers", "-d", "missing_db")


def test_wal_plugin_dry_run(cli, tmp_path):
    db = cli.database("drywal")
    out = cli.ok("test", "wal_plugin", "dry.py", "-d", db, "--lp",
                 "cpu,host=a v=1.5 1700000000000000000\nmem v=2 1700000001000000000",
                 "--input-arguments", "factor=2")
    assert json.loads(out) == {
        "log_lines": ["INFO: tables cpu,mem"],
        "database_writes": {db: ["seen,table=cpu v=3.0 1700000000000000000",
                                 "seen,table=mem v=4.0 1700000001000000000"]},
        "errors": []}
    lp = tmp_path / "input.lp"
    lp.write_text("disk v=1 1700000000000000000\n")
    from_file = json.loads(cli.ok("test", "wal_plugin", "dry.py", "-d", db, "--file", str(lp)))
    assert from_file["database_writes"] == {db: ["seen,table=disk v=1.0 1700000000000000000"]}
    # nothing was written: the captured lines are only returned
    assert cli.server.query("SELECT * FROM seen", db=db).status_code != 200


def test_schedule_plugin_dry_run(cli):
    db = cli.database("drysched")
    result = json.loads(cli.ok("test", "schedule_plugin", "dry.py", "-d", db, "--schedule",
                               "*/5 * * * * *"))
    at = result["trigger_time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d[05]", at)
    assert result["log_lines"] == [f"INFO: called at {at}"]
    assert result["database_writes"] == {db: [f'beat at="{at}"']}  # write_sync captured too
    assert result["errors"] == []
    every = json.loads(cli.ok("test", "schedule_plugin", "dry.py", "-d", db, "--schedule",
                              "every:1h"))
    assert every["trigger_time"].endswith(":00:00")
    now = json.loads(cli.ok("test", "schedule_plugin", "dry.py", "-d", db))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", now["trigger_time"])
    assert cli.server.query("SELECT * FROM beat", db=db).status_code != 200


def test_dry_run_errors_exit_nonzero(cli):
    db = cli.database("dryerrors")
    bad_input = cli("test", "wal_plugin", "dry.py", "-d", db, "--lp", "cpu v=oops 1")
    assert bad_input.returncode == 1
    errors = json.loads(bad_input.stdout)["errors"]
    assert any("input_lp line 1" in e for e in errors), errors
    crashed = cli("test", "wal_plugin", "dry.py", "-d", db, "--lp", "cpu w=1 1")
    assert crashed.returncode == 1
    assert json.loads(crashed.stdout)["errors"] == ["error executing plugin: KeyError: 'v'"]
    failing = cli("test", "schedule_plugin", "dry.py", "-d", db, "--input-arguments", "fail=1")
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["errors"] == [
        "error executing plugin: RuntimeError: asked to fail"]
    assert "not a valid cron" in cli.fails("test", "schedule_plugin", "dry.py", "-d", db,
                                           "--schedule", "61 * * * * *")
    assert "plugin file 'missing.py' not found" in cli.fails(
        "test", "wal_plugin", "missing.py", "-d", db, "--lp", "cpu v=1 1")


def test_create_trigger_errors(cli):
    db = cli.database("errs")
    create = ("create", "trigger", "x", "-d", db)
    assert "invalid trigger specification 'every:0s'" in cli.fails(
        *create, "--trigger-spec", "every:0s", "--path", "dry.py")
    assert "plugin file 'missing.py' not found" in cli.fails(
        *create, "--trigger-spec", "table:cpu", "--path", "missing.py")
    assert "has no function process_request" in cli.fails(
        *create, "--trigger-spec", "request:x", "--path", "counter.py")
    assert "database not found" in cli.fails(
        "create", "trigger", "x", "-d", "nodb", "--trigger-spec", "table:cpu",
        "--path", "counter.py")
    assert cli.server.rows("SELECT * FROM system.processing_engine_triggers", db=db) == []


def test_usage_errors(cli):
    create = ("create", "trigger", "x", "-d", "errs")
    assert "'novalue' is not key=value" in cli.fails(
        *create, "--trigger-spec", "table:cpu", "--path", "counter.py",
        "--trigger-arguments", "novalue")
    assert "'explode' is not one of" in cli.fails(
        *create, "--trigger-spec", "table:cpu", "--path", "counter.py",
        "--error-behavior", "explode")
    assert "--trigger-spec" in cli.fails(*create, "--path", "counter.py")
    assert "--lp or --file" in cli.fails("test", "wal_plugin", "dry.py", "-d", "errs")


def test_create_trigger_with_its_own_timeout(cli):
    db = cli.database("timeouts")
    cli.ok("create", "trigger", "quick", "-d", db, "--trigger-spec", "table:cpu",
           "--path", "counter.py", "--timeout", "1500ms")
    rows = cli.server.rows("SELECT trigger_name, timeout_s FROM "
                           "system.processing_engine_triggers ORDER BY 1", db=db)
    assert rows == [{"trigger_name": "quick", "timeout_s": 1.5}]
    assert "timeout" in cli.fails("create", "trigger", "bad", "-d", db, "--trigger-spec",
                                  "table:cpu", "--path", "counter.py", "--timeout", "soon")
