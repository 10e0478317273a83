"""Upstream `influxdb3/tests/cli/system_tables.rs`: the processing engine's system tables
(`system.plugin_files` in `_internal`, `processing_engine_triggers`,
`processing_engine_trigger_arguments`) and `update trigger`, through the `timewell` CLI and the
SQL API, as upstream drives `influxdb3`."""

from __future__ import annotations

import textwrap

import pytest

from tests.conformance.conftest import api, cli, query_sql
from tests.helpers import wait_for

# Upstream's multi-file plugins in these tests are directories with the entry point in
# `__main__.py`, importing their siblings by plain name (`from helper import ...`); timewell
# runs those as upstream does (and packages, `__init__.py`, too).


def ok(server, *args: str) -> str:
    result = cli(server, *args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout.strip()


def sql(server, db: str, q: str) -> list[dict]:
    """Upstream's `server.query_sql(db).with_sql(q).run()`: the JSON rows."""
    response = query_sql(server, db, q)
    assert response.status_code == 200, response.text
    return response.json()


def plugin_file(server, relative: str, code: str) -> None:
    path = server.plugin_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))


def create_db_and_cpu(server, db: str) -> None:
    ok(server, "create", "database", db)
    ok(server, "create", "table", "--database", db, "cpu", "--fields", "usage:float64")


def create_trigger(server, db: str, name: str, plugin: str, spec: str, *args: str) -> None:
    ok(server, "create", "trigger", "--database", db, "--path", plugin, "--trigger-spec", spec,
       *args, name)


def logged(server, db: str, trigger: str, text: str) -> bool:
    rows = sql(server, db, "SELECT log_text FROM system.processing_engine_logs "
                           f"WHERE trigger_name = '{trigger}'")
    return any(text in row["log_text"] for row in rows)


@pytest.fixture(scope="module")
def s(module_server):
    return module_server


PROCESSING_WRITES = '''
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("Processing writes")
'''


def test_cli_system_tables_test_show_system_plugin_tables(make_module_server):
    server = make_module_server()  # its own: system.plugin_files lists the whole server's
    plugin_file(server, "test_plugin.py", PROCESSING_WRITES)
    create_db_and_cpu(server, "test_db")
    create_trigger(server, "test_db", "test_trigger", "test_plugin.py", "table:cpu",
                   "--trigger-arguments", "arg1=val1,arg2=val2")
    assert len(sql(server, "test_db", "SELECT * FROM system.processing_engine_triggers")) == 1

    files = sql(server, "_internal", "SELECT * FROM system.plugin_files")
    assert len(files) == 1
    assert files[0]["plugin_name"] == "test_trigger"
    assert files[0]["file_name"] == "test_plugin.py"

    triggers = sql(server, "test_db", "SELECT * FROM system.processing_engine_triggers")
    assert len(triggers) == 1
    assert triggers[0]["trigger_name"] == "test_trigger"
    assert triggers[0]["plugin_filename"] == "test_plugin.py"
    assert triggers[0]["disabled"] is False

    arguments = sql(server, "test_db",
                    "SELECT * FROM system.processing_engine_trigger_arguments")
    assert len(arguments) == 2
    assert {(a["argument_key"], a["argument_value"]) for a in arguments} == {
        ("arg1", "val1"), ("arg2", "val2")}


SYSTEM_TABLE_NAMES = ("SELECT table_name FROM information_schema.columns "
                      "WHERE table_schema = 'system' GROUP BY table_name")


def test_cli_system_tables_test_show_system_table_list_includes_plugin_tables(s):
    ok(s, "create", "database", "tl_db")
    names = {row["table_name"] for row in sql(s, "tl_db", SYSTEM_TABLE_NAMES)}
    assert {"processing_engine_triggers", "processing_engine_trigger_arguments"} <= names
    internal = {row["table_name"] for row in sql(s, "_internal", SYSTEM_TABLE_NAMES)}
    assert "plugin_files" in internal


def test_cli_system_tables_test_show_system_plugin_tables_with_limits(s):
    for i in range(5):
        plugin_file(s, f"lim_plugin_{i}.py", f'''
            def process_writes(influxdb3_local, table_batches, args=None):
                influxdb3_local.info("Plugin {i}")
            ''')
    create_db_and_cpu(s, "lim_db")
    for i in range(5):
        create_trigger(s, "lim_db", f"trigger_{i}", f"lim_plugin_{i}.py", "all_tables")
    limited = sql(s, "lim_db", "SELECT * FROM system.processing_engine_triggers LIMIT 3")
    assert len(limited) == 3
    ordered = sql(s, "lim_db",
                  "SELECT * FROM system.processing_engine_triggers ORDER BY trigger_name")
    names = [row["trigger_name"] for row in ordered]
    assert names == sorted(names) and len(names) == 5


def test_cli_system_tables_test_show_system_plugin_tables_empty(make_module_server):
    server = make_module_server()  # its own: no trigger anywhere on the server
    ok(server, "create", "database", "test_db")
    assert sql(server, "_internal", "SELECT * FROM system.plugin_files") == []
    assert sql(server, "test_db", "SELECT * FROM system.processing_engine_triggers") == []
    assert sql(server, "test_db",
               "SELECT * FROM system.processing_engine_trigger_arguments") == []


def test_cli_system_tables_test_update_trigger_single_file(s):
    plugin_file(s, "upd_plugin.py", '''
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info("Initial version")
        ''')
    create_db_and_cpu(s, "upd_db")
    create_trigger(s, "upd_db", "test_trigger", "upd_plugin.py", "all_tables")
    plugin_file(s, "updated_plugin.py", '''
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info("Updated version")
        ''')
    out = ok(s, "update", "trigger", "--database", "upd_db", "--trigger-name", "test_trigger",
             "--path", str(s.plugin_dir / "updated_plugin.py"))
    assert "Plugin 'test_trigger' updated successfully" in out
    # the plugin still works, and is the new one (upstream only writes)
    ok(s, "write", "--database", "upd_db", "cpu,host=server1 usage=0.5")
    wait_for(lambda: logged(s, "upd_db", "test_trigger", "Updated version"))


def test_cli_system_tables_test_update_trigger_multi_file(s):
    plugin_file(s, "multi_plugin/__main__.py", '''
        from helper import process_data

        def process_writes(influxdb3_local, table_batches, args=None):
            process_data(influxdb3_local, "v1")
        ''')
    plugin_file(s, "multi_plugin/helper.py", '''
        def process_data(influxdb3_local, version):
            influxdb3_local.info(f"Processing with {version}")
        ''')
    create_db_and_cpu(s, "multi_db")
    create_trigger(s, "multi_db", "multi_trigger", "multi_plugin", "all_tables")
    # only the helper, from a file outside the plugin's directory
    plugin_file(s, "helper.py", '''
        def process_data(influxdb3_local, version):
            influxdb3_local.info(f"Updated processing with {version}")
        ''')
    out = ok(s, "update", "trigger", "--database", "multi_db", "--trigger-name",
             "multi_trigger", "--path", str(s.plugin_dir / "helper.py"))
    assert "Plugin 'multi_trigger' updated successfully" in out
    ok(s, "write", "--database", "multi_db", "cpu,host=server1 usage=0.5")
    wait_for(lambda: logged(s, "multi_db", "multi_trigger", "Updated processing with v1"))


@pytest.mark.differs("timewell swaps the trigger's directory for the given one whole "
                     "(upstream writes its files over the old ones, leaving "
                     "the others, and prints a line per file)")
def test_cli_system_tables_test_update_trigger_entire_directory(s):
    plugin_file(s, "initial_plugin/__main__.py", '''
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info("Initial version")
        ''')
    create_db_and_cpu(s, "dir_db")
    create_trigger(s, "dir_db", "dir_trigger", "initial_plugin", "all_tables")
    plugin_file(s, "update_plugin/__main__.py", '''
        from utilities import log_info

        def process_writes(influxdb3_local, table_batches, args=None):
            log_info(influxdb3_local, "Updated version")
        ''')
    plugin_file(s, "update_plugin/utilities.py", '''
        def log_info(influxdb3_local, msg):
            influxdb3_local.info(f"LOG: {msg}")
        ''')
    out = ok(s, "update", "trigger", "--database", "dir_db", "--trigger-name", "dir_trigger",
             "--path", str(s.plugin_dir / "update_plugin"))
    assert "Plugin 'dir_trigger' updated successfully" in out
    ok(s, "write", "--database", "dir_db", "cpu,host=server1 usage=0.5")
    wait_for(lambda: logged(s, "dir_db", "dir_trigger", "LOG: Updated version"))


@pytest.mark.differs("upstream calls its Rust client's plugin methods "
                     "(`api_v3_list_all_plugins`, `api_v3_get_plugin_files`, "
                     "`api_v3_get_plugin_file_content`), which timewell has no counterpart of: "
                     "the same facts are read from `system.plugin_files` and "
                     "`GET /api/v3/plugins/files?plugin_name=<path in the plugin directory>`")
def test_cli_system_tables_test_client_plugin_api_methods(make_module_server):
    server = make_module_server()  # its own: "all plugins" is the whole server's
    plugin_file(server, "test_plugin/__main__.py", '''
        from helper import process_data

        def process_writes(influxdb3_local, table_batches, args=None):
            process_data(influxdb3_local, "test")
        ''')
    plugin_file(server, "test_plugin/helper.py", '''
        def process_data(influxdb3_local, version):
            influxdb3_local.info(f"Processing data with {version}")
        ''')
    create_db_and_cpu(server, "test_db")
    create_trigger(server, "test_db", "test_trigger", "test_plugin", "all_tables")

    # all plugins: one, of two files
    files = sql(server, "_internal", "SELECT plugin_name, file_name, file_path, database_name "
                                     "FROM system.plugin_files")
    assert {row["plugin_name"] for row in files} == {"test_trigger"}
    assert len(files) == 2
    # the files of test_db's test_trigger
    mine = [row for row in files if row["database_name"] == "test_db"]
    assert sorted(row["file_name"] for row in mine) == ["__main__.py", "helper.py"]
    # a file's content
    contents = {}
    for row in mine:
        relative = f"test_plugin/{row['file_name']}"
        assert row["file_path"] == str(server.plugin_dir.resolve() / relative)
        response = api(server, "GET", "/api/v3/plugins/files", params={"plugin_name": relative})
        assert response.status_code == 200, response.text
        contents[row["file_name"]] = response.json()["content"]
    assert "from helper import process_data" in contents["__main__.py"]
    assert "def process_writes" in contents["__main__.py"]
    assert "def process_data" in contents["helper.py"]
    assert "Processing data with" in contents["helper.py"]
