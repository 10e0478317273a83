"""Upstream `influxdb3/tests/cli/plugins.rs`: plugins made of several files, a directory whose
`__main__.py` holds the trigger's function and whose other `.py` files share its namespace;
`influxdb3_local.read_plugin_file`; and the triggers and files `show plugins` lists. Over
HTTPS with `--tls-ca`, as upstream's harness; one server for the module, each test with its
own database and plugin directory (upstream starts one server per test)."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conformance import multi_file_plugins as mfp
from tests.conformance.conftest import cli, cli_fails, cli_ok

MAIN = "__main__.py"


@pytest.fixture(scope="module")
def s(make_module_server):
    return make_module_server(tls="good")


def _query_json(server, ca, db: str, sql: str) -> list[dict]:
    return json.loads(cli_ok(server, "query", "-d", db, "--format", "json", *ca, sql) or "[]")


@pytest.mark.differs("upstream creates these triggers on plugins holding only `def "
                     "handle_wal(wal_data): pass` (the function a trigger calls is looked for "
                     "at its first run); timewell loads the plugin at creation and refuses a "
                     "trigger whose plugin lacks its function (contract: a trigger that can "
                     "never run is not created), so the plugins here define them. Upstream's "
                     "`show plugins` lists one row per trigger (database_name, trigger_name, "
                     "plugin_filename, trigger_type, status, node_id, files); timewell's lists "
                     "one row per plugin file (plugin_name, file_name, file_path, ..., source, "
                     "version, triggers), the per-trigger view being "
                     "system.processing_engine_triggers, checked as upstream's newest version "
                     "does")
def test_cli_plugins_test_show_plugins_command(s, ca):
    handle_wal_only = "def handle_wal(wal_data): pass\n"
    mfp.build(s.plugin_dir, "directory_plugin", {
        MAIN: handle_wal_only, "handler.py": "# Helper functions\n",
        "utils.py": "# Utility functions\n"}, MAIN)
    (s.plugin_dir / "single_plugin.py").write_text(handle_wal_only)
    cli_ok(s, "create", "database", "show_db", *ca)
    cli_ok(s, "create", "database", "show_db2", *ca)
    refused = cli_fails(s, "create", "trigger", "dir_trigger", "--database", "show_db",
                        "--plugin-filename", "directory_plugin", "--trigger-spec", "all_tables",
                        *ca)
    assert "has no function process_writes" in refused

    (s.plugin_dir / "directory_plugin" / MAIN).write_text(textwrap.dedent('''
        def process_writes(influxdb3_local, table_batches, args=None):
            pass
    '''))
    (s.plugin_dir / "single_plugin.py").write_text(textwrap.dedent('''
        def process_writes(influxdb3_local, table_batches, args=None):
            pass

        def process_scheduled_call(influxdb3_local, call_time, args=None):
            pass
    '''))
    for db, name, plugin, spec in [
            ("show_db", "dir_trigger", "directory_plugin", "all_tables"),
            ("show_db", "single_trigger", "single_plugin.py", "every:5s"),
            ("show_db2", "another_trigger", "single_plugin.py", "table:measurements")]:
        cli_ok(s, "create", "trigger", name, "--database", db, "--plugin-filename", plugin,
               "--trigger-spec", spec, *ca)

    triggers = _query_json(s, ca, "show_db", "SELECT * FROM system.processing_engine_triggers")
    triggers2 = _query_json(s, ca, "show_db2", "SELECT * FROM system.processing_engine_triggers")
    assert len(triggers) == 2 and len(triggers2) == 1
    by_name = {t["trigger_name"]: t for t in triggers + triggers2}
    assert by_name["dir_trigger"]["plugin_filename"] == "directory_plugin"
    assert by_name["single_trigger"]["plugin_filename"] == "single_plugin.py"
    assert by_name["another_trigger"]["plugin_filename"] == "single_plugin.py"
    assert not any(t["disabled"] for t in by_name.values())

    shown = json.loads(cli_ok(s, "show", "plugins", "--format", "json", *ca))
    files = {}
    for row in shown:
        files.setdefault(row["plugin_name"], set()).add(row["file_name"])
    # directory plugins list their files, single-file plugins their file
    assert files["dir_trigger"] == {"__main__.py", "handler.py", "utils.py"}
    assert files["single_trigger"] == files["another_trigger"] == {"single_plugin.py"}
    users = {row["triggers"] for row in shown if row["file_name"] == "single_plugin.py"}
    assert users == {"show_db.single_trigger,show_db2.another_trigger"}


def test_cli_plugins_test_multi_file_wal_plugin(s, ca):
    mfp.build(s.plugin_dir, "test_plugin", mfp.WAL_PLUGIN, MAIN)
    cli_ok(s, "create", "database", "wal_db", *ca)
    cli_ok(s, "create", "table", "--database", "wal_db", "sensor_data", *ca,
           "--fields", "temperature:float64")
    cli_ok(s, "create", "trigger", "multi_file_trigger", "--database", "wal_db",
           "--plugin-filename", "test_plugin", "--trigger-spec", "table:sensor_data", *ca)
    cli_ok(s, "write", "--database", "wal_db", *ca, "sensor_data temperature=25.5")
    rows = mfp.rows_eventually(s, ca, "wal_db", "SELECT * FROM sensor_data_processed")
    assert "51" in json.dumps(rows)  # 25.5 * 2


def test_cli_plugins_test_multi_file_scheduled_plugin(s, ca):
    mfp.build(s.plugin_dir, "scheduled_plugin", mfp.SCHEDULED_PLUGIN, MAIN)
    cli_ok(s, "create", "database", "metrics_db", *ca)
    result = json.loads(cli_ok(s, "test", "schedule_plugin", "--database", "metrics_db",
                               "--schedule", "* * * * * *", *ca, "scheduled_plugin"))
    mfp.check_scheduled(result)


@pytest.mark.differs("upstream's `test wal_plugin` exits 0 whatever the plugin did; timewell's "
                     "exits 1 when the dry run reports errors (the same JSON is printed)")
def test_cli_plugins_test_multi_file_plugin_with_import_error(s, ca):
    mfp.build(s.plugin_dir, "broken_plugin", mfp.BROKEN_PLUGIN, MAIN)
    cli_ok(s, "create", "database", "broken_db", *ca)
    mfp.check_import_error(cli(s, "test", "wal_plugin", "--database", "broken_db", "--lp",
                            "test foo=1", "broken_plugin", *ca))


def test_cli_plugins_test_multi_file_plugin_missing_entrypoint(s, ca):
    mfp.build(s.plugin_dir, "missing_entrypoint", mfp.NO_ENTRY_PLUGIN, MAIN)
    cli_ok(s, "create", "database", "missing_db", *ca)
    error = cli_fails(s, "create", "trigger", "bad_trigger", "--database", "missing_db",
                      "--plugin-filename", "missing_entrypoint", "--trigger-spec", "all_tables",
                      *ca)
    assert ("plugin directory 'missing_entrypoint' has neither __init__.py (a package) nor "
            "__main__.py") in error


READ_FILES_MAIN = '''
import json

def process_writes(influxdb3_local, table_batches, args=None):
    """Plugin that reads non-Python files from the plugin directory"""

    # Read JSON configuration file
    config_content = influxdb3_local.read_plugin_file("config.json")
    config = json.loads(config_content)

    influxdb3_local.info(f"Config message: {config['message']}")
    multiplier = config['multiplier']

    # Read CSV data file
    csv_content = influxdb3_local.read_plugin_file("data.csv")
    influxdb3_local.info(f"CSV data loaded: {len(csv_content)} bytes")

    # Read markdown documentation
    readme_content = influxdb3_local.read_plugin_file("README.md")
    influxdb3_local.info(f"README contains: {'Test Plugin' in readme_content}")

    # Process the actual data
    for batch in table_batches:
        table_name = batch['table_name']
        rows = batch['rows']

        for row in rows:
            if 'value' in row:
                original_value = row['value']
                processed_value = original_value * multiplier

                # Write processed data
                line = LineBuilder(f"{table_name}_processed")
                line.float64_field("original", original_value)
                line.float64_field("processed", processed_value)
                influxdb3_local.write(line)

                influxdb3_local.info(
                    f"Processed {original_value} -> {processed_value} (multiplier: {multiplier})")
'''


def test_cli_plugins_test_plugin_read_non_python_files(s, ca):
    mfp.build(s.plugin_dir, "plugin_with_data", {
        "config.json": '\n{\n    "multiplier": 3,\n    "message": "Config loaded '
                       'successfully"\n}\n',
        "README.md": "\n# Test Plugin\nThis plugin reads configuration from JSON and data from "
                     "CSV files.\n",
        "data.csv": "name,value\nsensor1,10.5\nsensor2,20.3\nsensor3,15.7",
        MAIN: READ_FILES_MAIN}, MAIN)
    cli_ok(s, "create", "database", "data_db", *ca)
    cli_ok(s, "create", "table", "--database", "data_db", "measurements", *ca,
           "--fields", "value:float64")
    cli_ok(s, "create", "trigger", "data_processor", "--database", "data_db",
           "--plugin-filename", "plugin_with_data", "--trigger-spec", "table:measurements", *ca)
    cli_ok(s, "write", "--database", "data_db", *ca, "measurements value=5.0")
    rows = mfp.rows_eventually(s, ca, "data_db", "SELECT * FROM measurements_processed")
    text = json.dumps(rows)
    assert "5" in text and "15" in text  # original, and times the configured multiplier
    logs = _query_json(s, ca, "data_db", "SELECT log_text FROM "
                                         "system.processing_engine_logs ORDER BY event_time")
    texts = [row["log_text"] for row in logs]
    assert "Config message: Config loaded successfully" in texts
    assert "README contains: True" in texts


def test_cli_plugins_read_plugin_file_stays_in_the_plugin_directory(s, ca):
    """(timewell) `read_plugin_file` reads the plugin's own directory only."""
    mfp.build(s.plugin_dir, "nosy_plugin", {MAIN: '''
def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.read_plugin_file("../outside.txt")
'''}, MAIN)
    (s.plugin_dir / "outside.txt").write_text("not the nosy plugin's\n")
    cli_ok(s, "create", "database", "nosy_db", *ca)
    result = cli(s, "test", "schedule_plugin", "--database", "nosy_db", "--schedule",
                 "* * * * * *", *ca, "nosy_plugin")
    assert result.returncode == 1
    [error] = json.loads(result.stdout)["errors"]
    assert "read_plugin_file: '../outside.txt' is not a file inside the plugin's " \
           "directory" in error
