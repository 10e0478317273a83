"""Upstream `influxdb3/tests/cli/mod.rs`: the `influxdb3` CLI against a server, here the
`timewell` CLI (same commands and flags)."""

from __future__ import annotations

import json
import textwrap

import httpx
import pytest

from tests.conformance.conftest import cli, query_sql, write_lp
from tests.conftest import ServerProcess
from tests.helpers import wait_for

WRITE_REPORTS = '''
def process_writes(influxdb3_local, table_batches, args=None):
    for table_batch in table_batches:
        if table_batch["table_name"] == "write_reports":
            continue
        row_count = len(table_batch["rows"])
        if (args and "double_count_table" in args
                and table_batch["table_name"] == args["double_count_table"]):
            row_count *= 2
        line = LineBuilder("write_reports")\\
            .tag("table_name", table_batch["table_name"])\\
            .int64_field("row_count", row_count)
        influxdb3_local.write(line)
'''
DONE = '''
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("done")
'''
LP = 'cpu,t1=a,t2=b,t3=c f1=true,f2="hello",f3=4i,f4=4u,f5=5 1000'


def ok(server, *args: str, input: str | None = None) -> str:
    """Run the CLI, assert success, and return its output trimmed (as upstream's `run`)."""
    result = cli(server, *args, input=input)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout.strip()


def fails(server, *args: str, input: str | None = None) -> str:
    result = cli(server, *args, input=input)
    assert result.returncode != 0, (args, result.stdout)
    return result.stdout + result.stderr


def plugin(server, name: str, code: str) -> str:
    (server.plugin_dir / name).write_text(textwrap.dedent(code))
    return name


@pytest.fixture(scope="module")
def s(module_server):
    return module_server


# -- databases and tables

@pytest.mark.differs("upstream lists its `_internal` database, which timewell does not have, "
                     "and shows a deleted database renamed `<name>-<time>`; timewell keeps the "
                     "name and marks it deleted")
def test_cli_test_show_databases(make_module_server):
    server = make_module_server()
    ok(server, "create", "database", "foo")
    ok(server, "create", "database", "bar")
    assert ok(server, "show", "databases") == "\n".join([
        "+---------------+", "| iox::database |", "+---------------+", "| bar           |",
        "| foo           |", "+---------------+"])
    assert ok(server, "show", "databases", "--format", "json") == (
        '[{"iox::database":"bar"},{"iox::database":"foo"}]')
    assert ok(server, "show", "databases", "--format", "csv") == "iox::database\nbar\nfoo"
    assert ok(server, "show", "databases", "--format", "jsonl") == (
        '{"iox::database":"bar"}\n{"iox::database":"foo"}')
    ok(server, "delete", "database", "foo", input="yes\n")
    assert ok(server, "show", "databases") == "\n".join([
        "+---------------+", "| iox::database |", "+---------------+", "| bar           |",
        "+---------------+"])
    shown = ok(server, "show", "databases", "--show-deleted", "--format", "json")
    assert {"iox::database": "foo", "deleted": True} in json.loads(shown)


def test_cli_test_create_database(s):
    assert 'Database "cdb_foo" created successfully' in ok(s, "create", "database", "cdb_foo")


@pytest.mark.differs("upstream Core refuses a 6th database ('Adding a new database would exceed "
                     "limit of 5 databases'); timewell has no such cap (contract section 1)")
def test_cli_test_create_database_limit(s):
    for i in range(6):
        assert f'Database "cdl_{i}" created successfully' in ok(
            s, "create", "database", f"cdl_{i}")


def test_cli_test_delete_database(s):
    write_lp(s, "ddb_foo", LP)
    assert 'Database "ddb_foo" deleted successfully' in ok(
        s, "delete", "database", "ddb_foo", input="yes\n")


def test_cli_test_delete_missing_database(s):
    assert "404" in fails(s, "delete", "database", "dmd_foo", input="yes\n")


def test_cli_test_create_table(s):
    ok(s, "create", "database", "ct_foo")
    out = ok(s, "create", "table", "--database", "ct_foo", "bar", "--tags", "one,two,three",
             "--fields", "four:utf8,five:uint64,six:float64,seven:int64,eight:bool")
    assert 'Table "ct_foo"."bar" created successfully' in out
    assert json.loads(ok(s, "query", "--database", "ct_foo", "--format", "json",
                         "SELECT * FROM bar")) == []
    write_lp(s, "ct_foo", 'bar,one=1,two=2,three=3 four="4",five=5u,six=6,seven=7i,eight=true '
                          "2998574937")
    assert json.loads(ok(s, "query", "--database", "ct_foo", "--format", "json",
                         "SELECT * FROM bar")) == [{
        "one": "1", "two": "2", "three": "3", "four": "4", "five": 5, "six": 6.0, "seven": 7,
        "eight": True, "time": "2065-01-07T17:28:57"}]


@pytest.mark.differs("upstream prints 'Create command failed: server responded with error "
                     "[409 Conflict]: attempted to create a resource that already exists'; "
                     "timewell prints 'Error: server answered 409: table ... already exists in "
                     "database ...' (the same status, a message naming the table)")
def test_cli_test_create_table_fail_existing(s):
    ok(s, "create", "database", "ctfe_foo")
    args = ("create", "table", "--database", "ctfe_foo", "bar", "--tags", "one",
            "--fields", "four:utf8")
    assert 'Table "ctfe_foo"."bar" created successfully' in ok(s, *args)
    error = fails(s, *args)
    assert "409" in error and "already exists" in error


def test_cli_test_create_table_tags_not_required(s):
    ok(s, "create", "database", "ctnr_foo")
    assert 'Table "ctnr_foo"."bar" created successfully' in ok(
        s, "create", "table", "--database", "ctnr_foo", "bar")


@pytest.mark.differs("argument errors come from timewell's parser (click): upstream (clap) says "
                     "\"error: a value is required for '--tags <TAGS>...' but none was "
                     "supplied\", timewell \"Error: Option '--tags' requires an argument.\"")
def test_cli_test_create_table_fail_empty_tags(s):
    ok(s, "create", "database", "ctfet_foo")
    error = fails(s, "create", "table", "--database", "ctfet_foo", "bar", "--tags")
    assert "Option '--tags' requires an argument." in error


def test_cli_test_delete_table(s):
    write_lp(s, "dt_foo", LP)
    assert 'Table "dt_foo"."cpu" deleted successfully' in ok(
        s, "delete", "table", "cpu", "--database", "dt_foo", input="yes\n")


def test_cli_test_delete_missing_table(s):
    write_lp(s, "dmt_foo", LP.replace("cpu", "mem"))
    assert "404" in fails(s, "delete", "table", "cpu", "--database", "dmt_foo", input="yes\n")


@pytest.mark.differs("repeating an identical `create distinct_cache` is an error upstream "
                     "([409 Conflict], 'attempted to create a resource that already exists'); "
                     "in timewell it succeeds and says the cache already exists with these "
                     "settings (idempotent); deleting a missing cache is a 404 in both")
@pytest.mark.parametrize("upstream_name", ["test_create_delete_distinct_cache",
                                           "distinct_cache_create_and_delete"])
def test_cli_distinct_cache_create_and_delete(s, upstream_name):
    db = f"dc_{upstream_name[:6]}"
    write_lp(s, db, LP)
    args = ("create", "distinct_cache", "--database", db, "--table", "cpu", "--columns",
            "t1,t2", "--max-cardinality", "20000", "--max-age", "200s", "cache_money")
    assert "new cache created" in ok(s, *args)
    assert "already exists with these settings" in ok(s, *args)
    delete = ("delete", "distinct_cache", "--database", db, "--table", "cpu", "cache_money")
    assert "distinct cache deleted successfully" in ok(s, *delete)
    assert "404" in fails(s, *delete)


# -- triggers

def _write_reports(server, db: str) -> list[dict]:
    response = query_sql(server, db, "SELECT table_name, row_count FROM write_reports "
                                     "ORDER BY table_name")
    return response.json() if response.status_code == 200 else []


def test_cli_test_create_trigger_and_run(s):
    name = plugin(s, "write_reports.py", WRITE_REPORTS)
    ok(s, "create", "database", "ctr_foo")
    out = ok(s, "create", "trigger", "--database", "ctr_foo", "--path", name,
             "--trigger-spec", "all_tables", "--trigger-arguments", "double_count_table=cpu",
             "test_trigger")
    assert "Trigger test_trigger created successfully" in out
    write_lp(s, "ctr_foo", "cpu,host=a f1=1.0\ncpu,host=b f1=2.0\nmem,host=a usage=234")
    expected = [{"table_name": "cpu", "row_count": 4}, {"table_name": "mem", "row_count": 1}]
    wait_for(lambda: _write_reports(s, "ctr_foo") == expected, timeout=60)


def test_cli_test_triggers_are_started(make_module_server):
    server = make_module_server()
    name = plugin(server, "write_reports.py", WRITE_REPORTS)
    ok(server, "create", "database", "foo")
    ok(server, "create", "trigger", "--database", "foo", "--path", name, "--trigger-spec",
       "all_tables", "--trigger-arguments", "double_count_table=cpu", "test_trigger")
    server.kill()
    server.start()
    write_lp(server, "foo", "cpu,host=a f1=1.0\ncpu,host=b f1=2.0\nmem,host=a usage=234")
    expected = [{"table_name": "cpu", "row_count": 4}, {"table_name": "mem", "row_count": 1}]
    wait_for(lambda: _write_reports(server, "foo") == expected, timeout=60)


@pytest.mark.differs("upstream also lists its `_internal` database")
def test_cli_test_database_create_persists(make_module_server):
    server = make_module_server()
    assert 'Database "foo" created successfully' in ok(server, "create", "database", "foo")
    server.kill()
    server.start()
    assert ok(server, "show", "databases") == "\n".join([
        "+---------------+", "| iox::database |", "+---------------+", "| foo           |",
        "+---------------+"])


def test_cli_test_trigger_enable(s):
    name = plugin(s, "done.py", DONE)
    ok(s, "create", "database", "te_foo")
    ok(s, "create", "trigger", "--database", "te_foo", "--path", name, "--trigger-spec",
       "all_tables", "test_trigger")
    assert "Trigger test_trigger enabled successfully" in ok(
        s, "enable", "trigger", "--database", "te_foo", "test_trigger")
    assert "Trigger test_trigger disabled successfully" in ok(
        s, "disable", "trigger", "--database", "te_foo", "test_trigger")


@pytest.mark.differs("upstream's refusal reads 'command failed'; timewell's says why: "
                     "'trigger ... is enabled: disable it first or delete with force=true'")
def test_cli_test_delete_enabled_trigger(s):
    name = plugin(s, "done.py", DONE)
    ok(s, "create", "database", "det_foo")
    ok(s, "create", "trigger", "--database", "det_foo", "--path", name, "--trigger-spec",
       "all_tables", "test_trigger")
    assert "is enabled" in fails(s, "delete", "trigger", "--database", "det_foo", "test_trigger")
    assert "Trigger test_trigger deleted successfully" in ok(
        s, "delete", "trigger", "--database", "det_foo", "test_trigger", "--force")


def test_cli_test_table_specific_trigger(s):
    name = plugin(s, "done.py", DONE)
    ok(s, "create", "database", "tst_foo")
    ok(s, "create", "table", "--database", "tst_foo", "bar", "--tags", "tag1",
       "--fields", "field1:float64")
    assert "Trigger test_trigger created successfully" in ok(
        s, "create", "trigger", "--database", "tst_foo", "--path", name, "--trigger-spec",
        "table:bar", "test_trigger")


def _pretty_rows(text: str) -> list[list[str]]:
    """The cells of a pretty table's lines (header first), rules left out."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]


# upstream's system tables and their columns (its table-list snapshot), where timewell's agree
UPSTREAM_SYSTEM_COLUMNS = {
    "distinct_caches": "[table, name, column_ids, column_names, max_cardinality, "
                       "max_age_seconds]",
    "parquet_files": "[table_name, path, size_bytes, row_count, min_time, max_time]",
    "processing_engine_logs": "[event_time, trigger_name, log_level, log_text]",
    "processing_engine_trigger_arguments": "[trigger_name, argument_key, argument_value]",
}


@pytest.mark.differs("upstream's Core has fewer system tables (timewell adds databases, "
                     "plugin_files, processing_engine_trigger_stats, tables and tokens, and "
                     "differs in some columns: see system_tables.rs) and prints an empty result "
                     "that has no batch as `++` where timewell prints the header; its failures "
                     "are worded by clap and prefixed `Show command failed: `, timewell's by "
                     "click, `Error: ` (the CLI is built with click)")
def test_cli_test_show_system(make_module_server):
    server = make_module_server()  # its own: system tables show the whole server
    write_lp(server, "foo", LP)
    listed = json.loads(ok(server, "show", "system", "--database", "foo", "table-list",
                           "--format", "json"))
    names = [row["table_name"] for row in listed]
    assert names == sorted(names)
    assert {"distinct_caches", "last_caches", "parquet_files", "processing_engine_logs",
            "processing_engine_trigger_arguments", "processing_engine_triggers",
            "queries"} <= set(names)
    # upstream's alias `show s`
    assert json.loads(ok(server, "show", "s", "--database", "foo", "table-list",
                         "--format", "json")) == listed

    # 1. summary: each system table's first rows, under `<table> summary:`
    summary = ok(server, "show", "system", "--database", "foo", "summary")
    assert [line for line in summary.splitlines() if line.endswith(" summary:")] == [
        f"{name} summary:" for name in names]
    sections = dict(zip(names, summary.split(" summary:\n")[1:], strict=True))
    assert _pretty_rows(sections["distinct_caches"]) == [
        ["table", "name", "column_ids", "column_names", "max_cardinality", "max_age_seconds"]]
    assert _pretty_rows(sections["parquet_files"]) == [
        ["table_name", "path", "size_bytes", "row_count", "min_time", "max_time"]]
    assert len(_pretty_rows(sections["queries"])) == 1  # the header: no rows

    # 2. table NAME: system.queries without the queries of system tables or
    # information_schema (here: all of them)
    queries = _pretty_rows(ok(server, "show", "system", "--database", "foo", "table",
                              "queries"))
    assert len(queries) == 1 and queries[0][:5] == [
        "id", "phase", "issue_time", "query_type", "query_text"]

    # 3. table-list: the system tables and their columns, lists printed as Arrow prints them
    table_list = dict(_pretty_rows(ok(server, "show", "system", "--database", "foo",
                                      "table-list"))[1:])
    assert list(table_list) == names
    for name, columns in UPSTREAM_SYSTEM_COLUMNS.items():
        assert table_list[name] == columns
    assert table_list["processing_engine_triggers"].startswith(
        "[trigger_name, plugin_filename, trigger_specification, disabled")

    # failures: no database; a table that is not a system table, or a user table
    out = fails(server, "show", "system", "table-list")
    assert "Error: Missing option '-d' / '--database'." in out
    assert "show system [OPTIONS] COMMAND [ARGS]..." in out
    for table in ("meow", "cpu"):
        out = fails(server, "show", "system", "--database", "foo", "table", table)
        assert out == (f"Error: system table '{table}' not found: please use a valid system "
                       f"table name: {json.dumps(names)}\n")


# -- plugin dry runs (`test wal_plugin` / `test schedule_plugin`)

LINEBUILDER_PLUGIN = r'''
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.write(LineBuilder("metrics").tag("host", "server01").tag("region", "us-west")
        .int64_field("cpu", 42).uint64_field("memory_bytes", 8589934592)
        .float64_field("load", 86.5).string_field("status", "online")
        .bool_field("healthy", True).time_ns(1609459200000000000))
    influxdb3_local.write(LineBuilder("system_metrics").tag("server", "app server 1")
        .tag("datacenter", "us west").int64_field("count", 1))
    influxdb3_local.write(LineBuilder("network").tag("servers", "web,app,db")
        .tag("location", "floor1,rack3").int64_field("connections", 256))
    influxdb3_local.write(LineBuilder("formulas").tag("equation", "y=mx+b")
        .tag("result", "a=b=c").float64_field("value", 3.14159))
    influxdb3_local.write(LineBuilder("paths").tag("windows_path", "C:\\Program Files\\App")
        .tag("regex", "\\d+\\w+").string_field("description", "Windows\\Unix paths")
        .int64_field("count", 42))
    influxdb3_local.write(LineBuilder("messages").tag("type", "notification")
        .string_field("content", "User said \"Hello World\"")
        .string_field("json", "{\"key\": \"value\"}").int64_field("priority", 1))
    influxdb3_local.write(LineBuilder("complex,measurement").tag("location", "New York, USA")
        .tag("details", "floor=5, room=3").tag("path", "C:\\Users\\Admin\\Documents")
        .string_field("message", "Error in line: \"x = y + z\"")
        .string_field("query", "SELECT * FROM table WHERE id=\"abc\"")
        .float64_field("value", 123.456).time_ns(1609459200000000000))
    influxdb3_local.write_to_db("metrics_db", LineBuilder("memory_stats").tag("host", "server1")
        .int64_field("usage", 75))
    influxdb3_local.write(LineBuilder("sensor_data").tag("device", "thermostat")
        .tag("room", "living room").tag("floor", "1").float64_field("temperature", 72.5)
        .int64_field("humidity", 45).string_field("mode", "auto"))
    influxdb3_local.info("All LineBuilder tests completed")
'''


def _dry_run(server, kind: str, db: str, name: str, *args: str) -> dict:
    return json.loads(ok(server, "test", kind, "--database", db, name, *args))


def test_cli_test_linebuilder_escaping(s):
    name = plugin(s, "linebuilder.py", LINEBUILDER_PLUGIN)
    result = _dry_run(s, "wal_plugin", "test_db", name, "--lp",
                      "test_input,tag1=tag1_value field1=1i 500", "--input-arguments", "arg1=test")
    assert result == {
        "log_lines": ["INFO: All LineBuilder tests completed"],
        "database_writes": {
            "test_db": [
                'metrics,host=server01,region=us-west cpu=42i,memory_bytes=8589934592u,'
                'load=86.5,status="online",healthy=t 1609459200000000000',
                "system_metrics,server=app\\ server\\ 1,datacenter=us\\ west count=1i",
                "network,servers=web\\,app\\,db,location=floor1\\,rack3 connections=256i",
                "formulas,equation=y\\=mx+b,result=a\\=b\\=c value=3.14159",
                'paths,windows_path=C:\\\\Program\\ Files\\\\App,regex=\\\\d+\\\\w+ '
                'description="Windows\\\\Unix paths",count=42i',
                'messages,type=notification content="User said \\"Hello World\\"",'
                'json="{\\"key\\": \\"value\\"}",priority=1i',
                'complex\\,measurement,location=New\\ York\\,\\ USA,details=floor\\=5\\,\\ '
                'room\\=3,path=C:\\\\Users\\\\Admin\\\\Documents message="Error in line: '
                '\\"x = y + z\\"",query="SELECT * FROM table WHERE id=\\"abc\\"",value=123.456 '
                "1609459200000000000",
                'sensor_data,device=thermostat,room=living\\ room,floor=1 temperature=72.5,'
                'humidity=45i,mode="auto"'],
            "metrics_db": ["memory_stats,host=server1 usage=75i"]},
        "errors": []}


WAL_TEST_PLUGIN = '''
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("arg1: " + args["arg1"])
    query_params = {"host": args["host"]}
    query_result = influxdb3_local.query(
        "SELECT host, region, usage FROM cpu where host = $host", query_params)
    influxdb3_local.info("query result: " + str(query_result))
    influxdb3_local.info("i", query_result, args["host"])
    influxdb3_local.warn("w:", query_result)
    influxdb3_local.error("err", query_result)
    for table_batch in table_batches:
        influxdb3_local.info("table: " + table_batch["table_name"])
        for row in table_batch["rows"]:
            influxdb3_local.info("row: " + str(row))
    line = LineBuilder("some_table").tag("tag1", "tag1_value").tag("tag2", "tag2_value")\\
        .int64_field("field1", 1).float64_field("field2", 2.0)\\
        .string_field("field3", "number three")
    influxdb3_local.write(line)
    other_line = LineBuilder("other_table")
    other_line.int64_field("other_field", 1)
    other_line.float64_field("other_field2", 3.14)
    other_line.time_ns(1302)
    influxdb3_local.write_to_db("mytestdb", other_line)
    influxdb3_local.info("done")
'''
CPU3 = ("cpu,host=s1,region=us-east usage=0.9\ncpu,host=s2,region=us-east usage=0.89\n"
        "cpu,host=s1,region=us-east usage=0.85")


def test_cli_test_wal_plugin_test(s):
    write_lp(s, "wpt_foo", CPU3, precision="nanosecond")
    name = plugin(s, "wal_test.py", WAL_TEST_PLUGIN)
    result = _dry_run(s, "wal_plugin", "wpt_foo", name, "--lp",
                      "test_input,tag1=tag1_value,tag2=tag2_value field1=1i 500",
                      "--input-arguments", "arg1=arg1_value,host=s2")
    row = "[{'host': 's2', 'region': 'us-east', 'usage': 0.89}]"
    assert result == {
        "log_lines": [
            "INFO: arg1: arg1_value", f"INFO: query result: {row}", f"INFO: i {row} s2",
            f"WARN: w: {row}", f"ERROR: err {row}", "INFO: table: test_input",
            "INFO: row: {'tag1': 'tag1_value', 'tag2': 'tag2_value', 'field1': 1, 'time': 500}",
            "INFO: done"],
        "database_writes": {
            "mytestdb": ["other_table other_field=1i,other_field2=3.14 1302"],
            "wpt_foo": ['some_table,tag1=tag1_value,tag2=tag2_value field1=1i,field2=2.0,'
                        'field3="number three"']},
        "errors": []}


SCHEDULE_PLUGIN = '''
def process_scheduled_call(influxdb3_local, schedule_time, args=None):
    influxdb3_local.info(f"args are {args}")
    influxdb3_local.info("Successfully called")
'''


def test_cli_test_schedule_plugin_test(s):
    name = plugin(s, "schedule.py", SCHEDULE_PLUGIN)
    result = _dry_run(s, "schedule_plugin", "spt_foo", name, "--schedule", "*/5 * * * * *",
                      "--input-arguments", "region=us-east")
    assert "T" in result["trigger_time"]
    assert result["log_lines"] == ["INFO: args are {'region': 'us-east'}",
                                   "INFO: Successfully called"]
    assert result["database_writes"] == {}
    assert result["errors"] == []


def test_cli_test_tag_query_behavior(s):
    write_lp(s, "tqb_foo", "foo,tag1=bar,tag2=blep val1=5,val2=99\n"
                           "foo,tag1=bar,tag2=blep val1=10,val2=99\n"
                           "foo,tag1=bar,tag2=blep val1=10,val2=199\n"
                           "foo,tag1=bar,tag2=mlem val1=10,val2=199\n"
                           "foo,tag1=bar,tag2=mloem val1=5,val2=199")
    name = plugin(s, "tag_query.py", '''
def process_scheduled_call(influxdb3_local, time, args=None):
    influxdb3_local.query("SELECT val1,val2,tag1 FROM foo")
    influxdb3_local.info("successfully queried")
''')
    result = _dry_run(s, "schedule_plugin", "tqb_foo", name, "--schedule", "*/5 * * * * *",
                      "--input-arguments", "region=us-east")
    assert result["errors"] == []
    assert result["log_lines"] == ["INFO: successfully queried"]


def test_cli_test_schedule_plugin_test_with_strftime(s):
    name = plugin(s, "strftime.py", '''
import datetime
def process_scheduled_call(influxdb3_local, schedule_time, args=None):
    timestamp = datetime.datetime.now().strftime('%Y%m%d%H%M%S')
    influxdb3_local.info(f"Current timestamp: {timestamp}")
    influxdb3_local.info(f"args are {args}")
    influxdb3_local.info("Successfully called")
''')
    result = _dry_run(s, "schedule_plugin", "sptws_foo", name, "--schedule", "*/5 * * * * *",
                      "--input-arguments", "region=us-east")
    assert "T" in result["trigger_time"]
    lines = result["log_lines"]
    assert len(lines) == 3 and lines[0].startswith("INFO: Current timestamp:")
    assert lines[1:] == ["INFO: args are {'region': 'us-east'}", "INFO: Successfully called"]
    assert result["database_writes"] == {} and result["errors"] == []


WAL_ERRORS = [
    ("invalid_python", "\n        lkjasdf9823\n        jjjjj / sss",
     "error executing plugin: IndentationError: unexpected indent (<string>, line 2)"),
    ("no_process_writes", '''
def not_process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("done")''',
     "error executing plugin: the process_writes function is not present in the plugin. "
     "Should be defined as: process_writes(influxdb3_local, table_batches, args=None)"),
    ("no_args", '''
def process_writes(influxdb3_local, table_batches):
    influxdb3_local.info("done")
''', "error executing plugin: TypeError: process_writes() takes 2 positional arguments but 3 "
     "were given"),
    ("no_table_batches", '''
def process_writes(influxdb3_local, args=None):
    influxdb3_local.info("done")
''', "error executing plugin: TypeError: process_writes() takes from 1 to 2 positional "
     "arguments but 3 were given"),
    ("no_influxdb3_local", '''
def process_writes(table_batches, args=None):
    influxdb3_local.info("done")
''', "error executing plugin: TypeError: process_writes() takes from 1 to 2 positional "
     "arguments but 3 were given"),
    ("line_builder_no_field", '''
def process_writes(influxdb3_local, table_batches, args=None):
    line = LineBuilder("some_table")
    influxdb3_local.write(line)
''', "error executing plugin: InvalidLineError: At least one field is required: some_table"),
    ("query_no_table", '''
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.query("SELECT foo FROM not_here")
''', "error executing plugin: QueryError: error: error while planning query: Error during "
     "planning: table 'public.iox.not_here' not found executing query: SELECT foo FROM not_here"),
]


OWN_WORDING = {
    "invalid_python": "error executing plugin: plugin 'err_invalid_python.py' cannot be loaded: "
                      "IndentationError: unexpected indent (err_invalid_python.py, line 2)",
    "no_process_writes": "error executing plugin: plugin 'err_no_process_writes.py' has no "
                         "function process_writes(influxdb3_local, table_batches, args)",
    "query_no_table": "error executing plugin: QueryError: Error during planning: table "
                      "'public.iox.not_here' not found (database: wpe_foo)",
}


@pytest.mark.differs("`test wal_plugin` exits 1 when the dry run reports errors (upstream exits "
                     "0), so scripts can tell; three messages are worded by timewell and name "
                     "the plugin file: a plugin that cannot be loaded, a missing process_writes, "
                     "and a failed query (upstream adds 'error while planning query' and the "
                     "query text)")
@pytest.mark.parametrize("case, code, expected", WAL_ERRORS, ids=[c[0] for c in WAL_ERRORS])
def test_cli_test_wal_plugin_errors(s, case, code, expected):
    write_lp(s, "wpe_foo", CPU3, precision="nanosecond")
    (s.plugin_dir / f"err_{case}.py").write_text(code + "\n")
    result = cli(s, "test", "wal_plugin", "--database", "wpe_foo", f"err_{case}.py", "--lp",
                 "test_input,tag1=tag1_value,tag2=tag2_value field1=1i 500",
                 "--input-arguments", "arg1=arg1_value,host=s2")
    assert result.returncode == 1
    error = json.loads(result.stdout)["errors"][0]
    assert error == OWN_WORDING.get(case, expected)


# -- request triggers

REQUEST_PLUGIN = '''
import json

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    for k, v in query_parameters.items():
        influxdb3_local.info(f"query_parameters: {k}={v}")
    for k, v in request_headers.items():
        influxdb3_local.info(f"request_headers: {k}={v}")
    request_data = json.loads(request_body)
    influxdb3_local.info("parsed JSON request body:", request_data)
    line = LineBuilder("request_data").tag("tag1", "tag1_value").int64_field("field1", 1)
    line_str = line.build()
    influxdb3_local.write(line)
    return {"status": "ok", "line": line_str}
'''


def test_cli_test_request_plugin_and_trigger(s):
    name = plugin(s, "request_plugin.py", REQUEST_PLUGIN)
    ok(s, "create", "database", "rpt_foo")
    assert "Trigger foo created successfully" in ok(
        s, "create", "trigger", "--database", "rpt_foo", "--path", name, "--trigger-spec",
        "request:bar", "--trigger-arguments", "test_arg=hello", "foo")
    url = f"{s.url}/api/v3/engine/bar"

    def post():
        return httpx.post(url, params={"q1": "whatevs"}, content=b'{"hello": "world"}',
                          headers={"Content-Type": "application/json"}, timeout=30)

    response = post()
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "line": "request_data,tag1=tag1_value field1=1i"}
    wait_for(lambda: query_sql(s, "rpt_foo", "SELECT tag1, field1 FROM request_data").json()
             == [{"tag1": "tag1_value", "field1": 1}], timeout=60)
    plugin(s, name, '''
import json

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"status": "updated"}
''')
    assert post().json() == {"status": "updated"}


FLASK_CASES = [
    ("test_flask_string_response", 'return "Hello, World!"', 200, "text/html", {},
     "Hello, World!"),
    ("test_flask_dict_json_response",
     'return {"message": "Hello, World!", "status": "success"}', 200, "application/json", {},
     {"message": "Hello, World!", "status": "success"}),
    ("test_flask_tuple_response_with_status", 'return "Created successfully", 201', 201,
     "text/html", {}, "Created successfully"),
    ("test_flask_tuple_response_with_headers",
     'return "Custom Content-Type", {"Content-Type": "text/plain", "X-Custom-Header": '
     '"test-value"}', 200, "text/plain", {"x-custom-header": "test-value"},
     "Custom Content-Type"),
    ("test_flask_tuple_response_with_status_and_headers",
     'return "Not Found", 404, {"Content-Type": "text/plain", "X-Error-Code": "NOT_FOUND"}',
     404, "text/plain", {"x-error-code": "NOT_FOUND"}, "Not Found"),
    ("test_flask_list_json_response", 'return ["item1", "item2", "item3"]', 200,
     "application/json", {}, ["item1", "item2", "item3"]),
    ("test_flask_iterator_response",
     'return (line for line in ["Line 1\\n", "Line 2\\n", "Line 3\\n"])', 200, "text/html", {},
     "Line 1\nLine 2\nLine 3\n"),
    ("test_flask_response_object", '''
    class FlaskResponse:
        def __init__(self, response, status=200, headers=None):
            self.response = response
            self.status_code = status
            self.headers = headers or {}
        def get_data(self):
            return self.response
        def __flask_response__(self):
            return True
    return FlaskResponse("Custom Flask Response", status=202,
                         headers={"Content-Type": "text/custom", "X-Generated-By": "FlaskResponse"})
''', 202, "text/custom", {"x-generated-by": "FlaskResponse"}, "Custom Flask Response"),
    ("test_flask_json_dict_with_status_in_tuple",
     'return {"error": "Not Found", "code": 404}, 404', 404, "application/json", {},
     {"error": "Not Found", "code": 404}),
]


@pytest.mark.parametrize("case, body, status, content_type, headers, expected", FLASK_CASES,
                         ids=[c[0] for c in FLASK_CASES])
def test_cli_flask_responses(s, case, body, status, content_type, headers, expected):
    """Upstream's `test_flask_*` tests: what a request plugin's return value becomes."""
    code = ("def process_request(influxdb3_local, query_parameters, request_headers, "
            "request_body, args=None):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    "))
    name = plugin(s, f"{case}.py", code + "\n")
    db, route = f"fl_{[c[0] for c in FLASK_CASES].index(case)}", f"route_{case}"
    ok(s, "create", "database", db)
    ok(s, "create", "trigger", "--database", db, "--path", name, "--trigger-spec",
       f"request:{route}", f"t_{case}")
    response = httpx.get(f"{s.url}/api/v3/engine/{route}", timeout=30)
    assert response.status_code == status
    assert response.headers["content-type"].split(";")[0] == content_type
    for key, value in headers.items():
        assert response.headers[key] == value
    got = response.json() if content_type == "application/json" else response.text
    assert got == expected


# -- the plugin cache (`--cache-name` dry runs)

CACHE_CASES = {
    "test_basic_cache_functionality": ('''
    influxdb3_local.cache.put("test_key", "test_value")
    value = influxdb3_local.cache.get("test_key")
    influxdb3_local.info(f"Retrieved value: {value}")
    assert value == "test_value", f"Expected 'test_value', got {value}"
    influxdb3_local.info("Cache test passed")''',
        ["INFO: Retrieved value: test_value", "INFO: Cache test passed"]),
    "test_cache_ttl": ('''
    import time
    influxdb3_local.cache.put("ttl_key", "expires_soon", ttl=1.0)
    value = influxdb3_local.cache.get("ttl_key")
    influxdb3_local.info(f"Immediate retrieval: {value}")
    influxdb3_local.info("Waiting for TTL to expire...")
    time.sleep(1.5)
    expired_value = influxdb3_local.cache.get("ttl_key")
    influxdb3_local.info(f"After expiration: {expired_value}")
    assert expired_value is None, f"Expected None after TTL expiration, got {expired_value}"
    influxdb3_local.info("TTL test passed")''',
        ["INFO: Immediate retrieval: expires_soon", "INFO: Waiting for TTL to expire...",
         "INFO: After expiration: None", "INFO: TTL test passed"]),
    "test_cache_namespaces": ('''
    influxdb3_local.cache.put("namespace_key", "trigger_value", use_global=False)
    influxdb3_local.cache.put("namespace_key", "global_value", use_global=True)
    trigger_value = influxdb3_local.cache.get("namespace_key", use_global=False)
    global_value = influxdb3_local.cache.get("namespace_key", use_global=True)
    influxdb3_local.info(f"Trigger cache value: {trigger_value}")
    influxdb3_local.info(f"Global cache value: {global_value}")
    assert trigger_value == "trigger_value"
    assert global_value == "global_value"
    influxdb3_local.info("Cache namespace test passed")''',
        ["INFO: Trigger cache value: trigger_value", "INFO: Global cache value: global_value",
         "INFO: Cache namespace test passed"]),
    "test_cache_deletion": ('''
    influxdb3_local.cache.put("delete_key", "delete me")
    before_delete = influxdb3_local.cache.get("delete_key")
    influxdb3_local.info(f"Before deletion: {before_delete}")
    deleted = influxdb3_local.cache.delete("delete_key")
    influxdb3_local.info(f"Deletion result: {deleted}")
    after_delete = influxdb3_local.cache.get("delete_key")
    influxdb3_local.info(f"After deletion: {after_delete}")
    assert deleted is True
    assert after_delete is None
    non_existent = influxdb3_local.cache.delete("non_existent_key")
    influxdb3_local.info(f"Deleting non-existent key: {non_existent}")
    assert non_existent is False
    influxdb3_local.info("Cache deletion test passed")''',
        ["INFO: Before deletion: delete me", "INFO: Deletion result: True",
         "INFO: After deletion: None", "INFO: Deleting non-existent key: False",
         "INFO: Cache deletion test passed"]),
    "test_complex_object_caching": ('''
    complex_obj = {"string_key": "value", "int_key": 42, "float_key": 3.14, "bool_key": True,
                   "list_key": [1, 2, 3, "four", 5.0],
                   "nested_dict": {"inner_key": "inner_value", "inner_list": [{"a": 1}, {"b": 2}]}}
    influxdb3_local.cache.put("complex_obj", complex_obj)
    influxdb3_local.info("Stored complex object in cache")
    retrieved_obj = influxdb3_local.cache.get("complex_obj")
    influxdb3_local.info(f"Retrieved object type: {type(retrieved_obj).__name__}")
    nested = retrieved_obj['nested_dict']
    influxdb3_local.info(f"Retrieved nested_dict type: {type(nested).__name__}")
    influxdb3_local.info(f"Retrieved list_key type: {type(retrieved_obj['list_key']).__name__}")
    assert retrieved_obj["nested_dict"]["inner_list"][1]["b"] == 2
    influxdb3_local.info("Complex object verification passed")''',
        ["INFO: Stored complex object in cache", "INFO: Retrieved object type: dict",
         "INFO: Retrieved nested_dict type: dict", "INFO: Retrieved list_key type: list",
         "INFO: Complex object verification passed"]),
}


def _check_logs(result: dict, expected: list[str]) -> None:
    assert result["errors"] == [], result
    assert result["log_lines"] == expected


@pytest.mark.parametrize("case", list(CACHE_CASES))
def test_cli_cache(s, case):
    body, expected = CACHE_CASES[case]
    code = ("def process_scheduled_call(influxdb3_local, schedule_time, args=None):\n"
            + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n")
    name = plugin(s, f"{case}.py", code)
    ok(s, "create", "database", f"c_{case[-12:]}") if False else None
    result = _dry_run(s, "schedule_plugin", "cache_foo", name, "--schedule", "* * * * * *",
                      "--cache-name", case)
    _check_logs(result, expected)


def test_cli_test_cache_persistence_across_runs(s):
    first = plugin(s, "persist_first.py", '''
def process_scheduled_call(influxdb3_local, schedule_time, args=None):
    influxdb3_local.cache.put("persistent_key", "I should persist")
    influxdb3_local.info("Stored value in shared test cache")
''')
    second = plugin(s, "persist_second.py", '''
def process_scheduled_call(influxdb3_local, schedule_time, args=None):
    value = influxdb3_local.cache.get("persistent_key")
    influxdb3_local.info(f"Retrieved value from previous run: {value}")
    assert value == "I should persist", f"Expected 'I should persist', got {value}"
    influxdb3_local.info("Cache persistence test passed")
''')
    _check_logs(_dry_run(s, "schedule_plugin", "cp_foo", first, "--schedule", "* * * * * *",
                         "--cache-name", "shared_test_cache"),
                ["INFO: Stored value in shared test cache"])
    _check_logs(_dry_run(s, "schedule_plugin", "cp_foo", second, "--schedule", "*/5 * * * * *",
                         "--cache-name", "shared_test_cache"),
                ["INFO: Retrieved value from previous run: I should persist",
                 "INFO: Cache persistence test passed"])


def test_cli_test_cache_with_wal_plugin(s):
    name = plugin(s, "cache_wal.py", '''
def process_writes(influxdb3_local, table_batches, args=None):
    record_count = sum(len(batch['rows']) for batch in table_batches)
    previous_count = influxdb3_local.cache.get("processed_records") or 0
    if previous_count == 0:
        influxdb3_local.info("First run, initializing count")
    else:
        influxdb3_local.info(f"Previous count: {previous_count}")
    new_count = previous_count + record_count
    influxdb3_local.cache.put("processed_records", new_count)
    influxdb3_local.info(f"Updated count: {new_count}")
    return table_batches
''')
    ok(s, "create", "database", "cwp_foo")
    first = _dry_run(s, "wal_plugin", "cwp_foo", name, "--lp",
                     "cpu,host=host1 usage=0.75\ncpu,host=host2 usage=0.82\n"
                     "cpu,host=host3 usage=0.91", "--cache-name", "test_cache")
    _check_logs(first, ["INFO: First run, initializing count", "INFO: Updated count: 3"])
    second = _dry_run(s, "wal_plugin", "cwp_foo", name, "--lp",
                      "cpu,host=host4 usage=0.65\ncpu,host=host5 usage=0.72",
                      "--cache-name", "test_cache")
    _check_logs(second, ["INFO: Previous count: 3", "INFO: Updated count: 5"])


@pytest.mark.differs("upstream clears a trigger's cache when the trigger is disabled, so the "
                     "re-enabled trigger writes a second row; timewell keeps the cache across "
                     "disable/enable as it does across restarts (contract 7.4: better), so the "
                     "count stays 1")
def test_cli_test_trigger_cache_cleanup(s):
    name = plugin(s, "cache_cleanup.py", '''
def process_scheduled_call(influxdb3_local, schedule_time, args=None):
    run_count = influxdb3_local.cache.get("run_counter")
    influxdb3_local.info(f"run count {run_count}")
    if run_count is None:
        line = LineBuilder("cache_test").tag("test", "cleanup").int64_field("count", 1)
        influxdb3_local.write(line)
        influxdb3_local.cache.put("run_counter", 1)
    else:
        influxdb3_local.cache.put("run_counter", run_count + 1)
''')
    ok(s, "create", "database", "tcc_foo")
    ok(s, "create", "trigger", "--database", "tcc_foo", "--path", name, "--trigger-spec",
       "cron:* * * * * *", "cache_cleanup_trigger")

    def count():
        response = query_sql(s, "tcc_foo", "SELECT count(*) FROM cache_test")
        return response.json() if response.status_code == 200 else None

    wait_for(lambda: count() == [{"count(*)": 1}], timeout=60)
    ok(s, "disable", "trigger", "--database", "tcc_foo", "cache_cleanup_trigger")
    ok(s, "enable", "trigger", "--database", "tcc_foo", "cache_cleanup_trigger")
    runs = ("SELECT count(*) AS n FROM system.processing_engine_logs "
            "WHERE log_text LIKE 'run count%'")
    before = query_sql(s, "tcc_foo", runs).json()[0]["n"]
    wait_for(lambda: query_sql(s, "tcc_foo", runs).json()[0]["n"] >= before + 1, timeout=60)
    assert count() == [{"count(*)": 1}]  # upstream: 2


# -- write and query

ROW = [{"field1": 1.0, "field2": 2.0, "tag1": "1", "tag2": "2", "time": "1970-01-01T00:00:00"}]


@pytest.mark.parametrize("via", ["stdin", "file", "string"])
def test_cli_write_and_query_via(s, tmp_path, via):
    """Upstream's `write_and_query_via_stdin`, `_via_file` and `_via_string`."""
    db, lp = f"wq_{via}", "bar,tag1=1,tag2=2 field1=1,field2=2 0"
    if via == "stdin":
        out = ok(s, "write", "--database", db, input=lp)
    elif via == "file":
        (tmp_path / "file.lp").write_text(lp + "\n")
        out = ok(s, "write", "--database", db, "--file", str(tmp_path / "file.lp"))
    else:
        out = ok(s, "write", "--database", db, lp)
    assert (out or "success") == "success"
    args = ["query", "--database", db, "--format", "json"]
    if via == "file":
        (tmp_path / "file.sql").write_text("SELECT * FROM bar\n")
        args += ["--file", str(tmp_path / "file.sql")]
    else:
        args.append("SELECT * FROM bar")
    assert json.loads(ok(s, *args)) == ROW


@pytest.mark.differs("an invalid --precision is refused by the server (400, 'invalid precision "
                     "'fake': use one of auto, s, ms, us, ns'); upstream's CLI refuses it before "
                     "sending ('error: invalid value 'fake' for '--precision <PRECISION>'')")
def test_cli_write_with_precision_arg(s):
    cases = [(None, "1970-01-01T00:00:01"), ("s", "1970-01-01T00:00:01"),
             ("ms", "1970-01-01T00:00:00.001"), ("us", "1970-01-01T00:00:00.000001"),
             ("ns", "1970-01-01T00:00:00.000000001")]
    for precision, expected in cases:
        tag = f"p_{precision}"
        args = ["write", "--database", "wpa_foo", f"bar,name={tag} theanswer=42 1"]
        if precision:
            args += ["--precision", precision]
        ok(s, *args)
        rows = json.loads(ok(s, "query", "--database", "wpa_foo", "--format", "json",
                             f"SELECT * FROM bar WHERE name='{tag}'"))
        assert rows == [{"name": tag, "theanswer": 42.0, "time": expected}], precision
    error = fails(s, "write", "--database", "wpa_foo", "--precision", "fake",
                  "bar,name=invalid_precision theanswer=42 1")
    assert "invalid precision 'fake'" in error


def test_cli_test_wal_overwritten(tmp_path):
    """Two servers on one data directory with one node id: the second to write a WAL file
    number finds it taken, refuses the write and stops; the other carries on."""
    data = tmp_path / "data"
    p1 = ServerProcess(data, "--node-id", "node-0").start()
    try:
        ok(p1, "write", "--database", "foo", "bar,process=p1 f1=true")
        p2 = ServerProcess(data, "--node-id", "node-0").start()  # same node id, same store
        try:
            ok(p2, "write", "--database", "foo", "bar,process=p2 f1=true")
            error = fails(p1, "write", "--database", "foo", "bar,process=p1 f1=true")
            assert "another process has written to the WAL ahead of this one" in error
            assert p1.process.wait(10) != 0  # p1 stopped itself, with an error status
            assert "another process has written to the WAL" in p1.log()
            assert p2.process.poll() is None  # p2 carries on, with both acknowledged writes
            rows = json.loads(ok(p2, "query", "--database", "foo", "--format", "json",
                                 "SELECT process FROM bar ORDER BY time"))
            assert rows == [{"process": "p1"}, {"process": "p2"}]
        finally:
            p2.stop()
    finally:
        if p1.process.poll() is None:
            p1.kill()


# -- tokens

@pytest.fixture
def auth_server(make_server):
    return make_server(auth=True)


def test_cli_test_create_admin_token(auth_server):
    assert "New token created successfully!" in ok(auth_server, "create", "token", "--admin")


def _token(output: str) -> str:
    return next(line.split(": ", 1)[1] for line in output.splitlines()
                if line.startswith("Token: "))


def test_cli_test_create_admin_token_json_format(auth_server):
    token = json.loads(ok(auth_server, "create", "token", "--admin", "--format", "json"))["token"]
    assert "New token created successfully!" in ok(
        auth_server, "create", "token", "--admin", "--regenerate", "--token", token,
        input="yes\n")


@pytest.mark.differs("upstream prints 'Failed to create token, error: ApiError { code: 409, "
                     "message: \"token name already exists, _admin\" }' and exits 0; timewell "
                     "exits non-zero with 'Error: server answered 409: ...'")
def test_cli_test_create_admin_token_allowed_once(auth_server):
    assert "New token created successfully!" in ok(auth_server, "create", "token", "--admin")
    assert "409" in fails(auth_server, "create", "token", "--admin")


@pytest.mark.differs("as test_create_admin_token_allowed_once: a refused create exits non-zero")
def test_cli_test_regenerate_admin_token(auth_server):
    old = _token(ok(auth_server, "create", "token", "--admin"))
    assert "409" in fails(auth_server, "create", "token", "--admin", "--token", old)
    out = ok(auth_server, "create", "token", "--admin", "--regenerate", "--token", old,
             input="yes\n")
    assert "New token created successfully!" in out
    new = _token(out)
    assert new != old
    assert "401" in fails(auth_server, "create", "database", "sample_db", "--token", old)
    assert 'Database "sample_db" created successfully' in ok(
        auth_server, "create", "database", "sample_db", "--token", new)


@pytest.mark.differs("upstream prints the refusal and exits 0; timewell exits non-zero with the "
                     "server's 405 message (upstream's words)")
def test_cli_test_delete_token(auth_server):
    token = _token(ok(auth_server, "create", "token", "--admin"))
    refused = fails(auth_server, "delete", "token", "--token-name", "_admin", "--token", token,
                    input="yes\n")
    assert ('server answered 405: The operator token "_admin" is required and cannot be '
            "deleted. To regenerate an operator token, use: timewell create token --admin "
            "--regenerate --token [TOKEN]") in refused
    assert "409" in fails(auth_server, "create", "token", "--admin")


@pytest.mark.differs("upstream prints 'Failed to create token, error: ApiError { code: 405, "
                     "message: \"endpoint disabled, started without auth\" }' and exits 0; "
                     "timewell exits non-zero with the same status and message")
def test_cli_test_create_admin_token_endpoint_disabled(s):
    expected = "405: endpoint disabled, started without auth"
    assert expected in fails(s, "create", "token", "--admin")
    assert expected in fails(s, "create", "token", "--admin", "--regenerate", input="yes\n")
