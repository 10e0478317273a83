"""The `timewell` CLI against a real server, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pyarrow.parquet as pq


def timewell(env, *args, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timewell", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=60)


def test_write_argument_then_query_pretty(server, cli_env):
    result = timewell(cli_env, "write", "-d", "clidb", "cpu,host=a usage=1.5 1700000000")
    assert result.returncode == 0, result.stderr
    result = timewell(cli_env, "query", "-d", "clidb", "SELECT host, usage FROM cpu")
    assert result.returncode == 0, result.stderr
    assert "| host | usage |" in result.stdout and "| a    | 1.5   |" in result.stdout


def test_write_from_file_and_stdin(server, cli_env, tmp_path):
    lp = tmp_path / "data.lp"
    lp.write_text("m v=1 1\nm v=2 2\n")
    assert timewell(cli_env, "write", "-d", "clidb", "-f", str(lp)).returncode == 0
    assert timewell(cli_env, "write", "-d", "clidb", input="m v=3 3\n").returncode == 0
    result = timewell(cli_env, "query", "-d", "clidb", "--format", "json",
                      "SELECT count(*) AS n FROM m")
    assert result.stdout.strip() == '[{"n":3}]'


def test_write_precision_and_no_sync(server, cli_env):
    result = timewell(cli_env, "write", "-d", "clidb", "--precision", "s", "--no-sync",
                      "p v=1 2")
    assert result.returncode == 0, result.stderr
    for _ in range(50):
        out = timewell(cli_env, "query", "-d", "clidb", "--format", "csv", "SELECT time FROM p")
        if out.returncode == 0:
            break
    assert out.stdout == "time\n1970-01-01T00:00:02\n"


def test_write_errors_are_readable(server, cli_env):
    result = timewell(cli_env, "write", "-d", "clidb", "m v=1 1\nm v=bad 2")
    assert result.returncode != 0
    assert "partial write" in result.stderr and "line 2" in result.stderr


def test_write_no_accept_partial(server, cli_env):
    result = timewell(cli_env, "write", "-d", "clidb", "--no-accept-partial", "n v=1 1\nn v=x 2")
    assert result.returncode != 0 and "line 2" in result.stderr
    assert "not found" in timewell(cli_env, "query", "-d", "clidb", "SELECT * FROM n").stderr


def test_query_formats_and_output_file(server, cli_env, tmp_path):
    timewell(cli_env, "write", "-d", "clidb", "q,h=a v=1 1\nq,h=b v=2 2")
    jsonl = timewell(cli_env, "query", "-d", "clidb", "--format", "jsonl",
                     "SELECT h FROM q ORDER BY h")
    assert jsonl.stdout == '{"h":"a"}\n{"h":"b"}\n'
    out = tmp_path / "result.parquet"
    result = timewell(cli_env, "query", "-d", "clidb", "--format", "parquet", "-o", str(out),
                      "SELECT h, v FROM q ORDER BY h")
    assert result.returncode == 0, result.stderr
    assert pq.read_table(out).column("v").to_pylist() == [1.0, 2.0]


def test_query_error_exits_nonzero(server, cli_env):
    result = timewell(cli_env, "query", "-d", "nodb", "SELECT 1")
    assert result.returncode == 1
    assert "database not found" in result.stderr


def test_database_commands(server, cli_env):
    created = timewell(cli_env, "create", "database", "made")
    assert created.returncode == 0 and "made" in created.stdout
    assert timewell(cli_env, "create", "database", "made").returncode != 0
    shown = timewell(cli_env, "show", "databases")
    assert "made" in shown.stdout and "iox::database" in shown.stdout
    as_json = timewell(cli_env, "show", "databases", "--format", "json")
    assert '{"iox::database":"made"}' in as_json.stdout
    refused = timewell(cli_env, "delete", "database", "made", input="no\n")
    assert refused.returncode != 0
    deleted = timewell(cli_env, "delete", "database", "made", input="yes\n")
    assert deleted.returncode == 0, deleted.stderr
    assert "made" not in timewell(cli_env, "show", "databases").stdout


def test_create_table_command(server, cli_env):
    timewell(cli_env, "create", "database", "tbl")
    result = timewell(cli_env, "create", "table", "-d", "tbl", "--tags", "room,floor",
                      "--fields", "temp:float64,on:bool", "sensors")
    assert result.returncode == 0, result.stderr
    cols = timewell(cli_env, "query", "-d", "tbl", "--format", "csv",
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'sensors' ORDER BY column_name")
    assert cols.stdout.splitlines() == [
        "column_name,data_type", "floor,\"Dictionary(Int32, Utf8)\"", "on,Boolean",
        "room,\"Dictionary(Int32, Utf8)\"", "temp,Float64", "time,\"Timestamp(Nanosecond, None)\""]
    bad = timewell(cli_env, "create", "table", "-d", "tbl", "--fields", "x:complex", "t2")
    assert bad.returncode != 0 and "complex" in bad.stderr


def test_host_from_alias_env_and_flag(server, cli_env):
    env = dict(cli_env)
    del env["TIMEWELL_HOST_URL"]
    env["INFLUXDB3_HOST_URL"] = server.url
    assert timewell(env, "show", "databases").returncode == 0
    del env["INFLUXDB3_HOST_URL"]
    assert timewell(env, "show", "databases", "-H", server.url).returncode == 0


def test_unreachable_server_message(cli_env):
    env = dict(cli_env)
    env["TIMEWELL_HOST_URL"] = "http://127.0.0.1:9"
    result = timewell(env, "show", "databases")
    assert result.returncode == 1 and "cannot reach the server" in result.stderr


def test_serve_rejects_bad_flags(tmp_path):
    result = subprocess.run([sys.executable, "-m", "timewell", "serve", "--data-dir",
                             str(tmp_path), "--wal-flush-interval", "1ms"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "at least 10ms" in result.stderr


def test_show_system_table_options(server, cli_env):
    """`show system table`: --select, --order-by, --limit, the options after the subcommand,
    and system.queries without this command's own queries."""
    for lp in ("a v=1 1", "b v=1 1\nb v=2 2", "c v=1 1"):
        assert timewell(cli_env, "write", "-d", "sysdb", lp).returncode == 0
    assert timewell(cli_env, "query", "-d", "sysdb", "SELECT count(*) FROM b").returncode == 0
    result = timewell(cli_env, "show", "system", "table", "tables", "-d", "sysdb", "--format",
                      "json", "--select", "table_name,row_count", "--order-by",
                      "row_count DESC", "-o", "table_name", "--limit", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == '[{"table_name":"b","row_count":2},{"table_name":"a","row_count":1}]\n'
    result = timewell(cli_env, "show", "system", "-d", "sysdb", "table", "queries", "-s",
                      "query_text", "--format", "csv", "--limit", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "query_text\nSELECT count(*) FROM b\n"
    result = timewell(cli_env, "show", "system", "-d", "sysdb", "table", "tables", "-s", "nope")
    assert result.returncode == 1 and "No field named nope" in result.stderr
    result = timewell(cli_env, "show", "system", "-d", "sysdb", "summary", "--format", "parquet")
    assert result.returncode == 1
    assert result.stderr == "Error: parquet format is not supported for this command\n"
